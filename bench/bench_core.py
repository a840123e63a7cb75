"""Core benchmarks (issue 2), not tests: `make bench N=1000000`.

Generates N connections of one company over a year (files made by DuckDB from a seeded
formula, so they are the same every run), then measures, on this machine:
bulk import of Parquet and of JSON Lines (records/s, peak RSS of the importing process), a full
`rebuild`, importing a 10k batch into the loaded store, and the `report` latency (p50/p95) of the
query API for 1 day, 1 month and 1 year.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parent.parent
GEN = """
SELECT 'connection' AS kind, 'c' || i AS id, 'bench' AS company_id,
  CASE WHEN i % 10 < 8 THEN 'e' || (i // 8) END AS event_id,
  CASE WHEN i % 10 < 8 THEN ['meeting','conference','webinar','lecture','selector'][1 + (i // 8) % 5] END
    AS event_template,
  CASE WHEN i % 10 >= 8 THEN 'k' || (i // 2) END AS call_id,
  CASE WHEN (i * 7) % 10 < 7 THEN 'webrtc' ELSE 'webrtmp' END AS transport,
  strftime(TIMESTAMP '2025-01-01 08:00:00' + to_seconds(((i // 8) * 8 * 31536000 // $n) * 1.0)::INTERVAL
           + to_seconds((i % 8) * 37 + (hash(i) % 600)::BIGINT)::INTERVAL, '%Y-%m-%dT%H:%M:%S+03:00') AS joined_at,
  strftime(TIMESTAMP '2025-01-01 08:00:00' + to_seconds(((i // 8) * 8 * 31536000 // $n) * 1.0)::INTERVAL
           + to_seconds((i % 8) * 37 + (hash(i) % 600)::BIGINT + 300 + (hash(i * 3) % 5400)::BIGINT)::INTERVAL,
           '%Y-%m-%dT%H:%M:%S+03:00') AS left_at,
  CASE WHEN i % 13 = 0 THEN NULL ELSE 'u' || (hash(i) % 5000)::BIGINT END AS user_id,
  ['web','desktop','ios','android','sip'][1 + (hash(i * 5) % 5)::BIGINT] AS client
FROM range($n) t(i)
"""


def generate(n: int, out: Path, offset: int = 0, of: int | None = None) -> tuple[Path, Path]:
    """n connections; with ``offset``/``of``, rows offset..offset+n of a data set of ``of`` rows
    (the same ids and instants as there: a re-send)."""
    out.mkdir(parents=True, exist_ok=True)
    pq, js = out / f"conns-v2-{n}-{offset}-{of}.parquet", out / f"conns-v2-{n}-{offset}-{of}.jsonl"
    if not pq.exists():
        con = duckdb.connect()
        q = GEN.replace("range($n)", f"range({offset}, {offset + n})").replace("$n", str(of or n))
        con.execute(f"COPY ({q}) TO '{pq}' (FORMAT PARQUET)")
        con.execute(f"COPY ({q}) TO '{js}' (FORMAT JSON)")
    return pq, js


def run_import(data: Path, files: list[Path], kind: str | None = None) -> tuple[float, int, dict]:
    """Import in a child process; returns (seconds, peak RSS in MiB, result)."""
    args = [sys.executable, "-m", "vkurse_stats.cli", "--data-dir", str(data), "import", "--json", *map(str, files)]
    if kind:
        args += ["--kind", kind]
    t = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-f", "%M", *args], capture_output=True, text=True, check=True)
    secs = time.perf_counter() - t
    rss_kib = int(proc.stderr.strip().splitlines()[-1])
    return secs, rss_kib // 1024, json.loads(proc.stdout)


def calibrate() -> str:
    """A reference to read the figures against: a NumPy sort and a Python loop, best of three."""
    import numpy as np

    data = np.random.default_rng(1).integers(0, 1 << 62, 10_000_000)
    sort_s = loop_s = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        np.sort(data)
        sort_s = min(sort_s, time.perf_counter() - t)
        t = time.perf_counter()
        total = 0
        for i in range(3_000_000):
            total += i
        loop_s = min(loop_s, time.perf_counter() - t)
    return f"sort of 10M int64 {sort_s * 1000:.0f} ms, 3M-step Python loop {loop_s * 1000:.0f} ms"


def latency(fn, repeat: int = 30) -> tuple[float, float]:
    samples = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


def engine_alone(svc) -> tuple[int, float]:
    """The peak engine on its own: every 31-day window of the year fetched first, then timed
    computing all daily figures (the issue's targets for the engine exclude store I/O)."""
    from vkurse_stats.metrics.engine import sweep_window
    from vkurse_stats.metrics.rollup import WINDOW_DAYS, to_connections
    from vkurse_stats.timeutil import DayGrid, day_number

    rollups = svc.rollups
    first, last = day_number(date(2025, 1, 1)), day_number(date(2026, 1, 1))
    windows = []
    for d in range(first, last + 1, WINDOW_DAYS):
        grid = DayGrid(rollups.timezone("bench"), d, min(last, d + WINDOW_DAYS - 1))
        rows = svc.analytics.connections_window("bench", grid.start(grid.first), grid.end(grid.last), rollups.cap_us)
        windows.append((to_connections(rows), grid))
    now = rollups.clock()
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        for conns, grid in windows:
            sweep_window(conns, grid, now, rollups.cap_us)
        best = min(best, time.perf_counter() - t)
    return sum(len(c) for c, _ in windows), best


def store_floor(svc, work: Path) -> tuple[float, int, float, int]:
    """DuckDB on its own: the seconds it takes to store the loaded store's connections (in
    transactions of four whole row groups, as an import writes them) and its event stats (in one
    transaction, as a rebuild writes them) into a fresh file, checkpoint included, with the
    store's memory limit. No import or rebuild can be faster than this on the machine; returns
    (connection seconds, rows, event stats seconds, rows). The combining of chunks is timed too:
    an import does it as well."""
    out = []
    for table, step, one_transaction in (("connections", 491_520, False), ("parent_stats", 180_000, True)):
        rows = svc.analytics.sql(f"SELECT * FROM {table}")
        path = Path(tempfile.mkdtemp(prefix="vkfloor-", dir=work)) / "floor.duckdb"
        con = duckdb.connect(str(path), config={"memory_limit": os.environ.get("VKURSE_STATS_DUCKDB_MEMORY", "2GB")})
        con.execute("CREATE TABLE t AS SELECT * FROM rows LIMIT 0")
        t = time.perf_counter()
        if one_transaction:
            con.execute("BEGIN")
        for i in range(0, rows.num_rows, step):
            part = rows.slice(i, step).combine_chunks()  # noqa: F841 - read by the SQL below
            con.execute("INSERT INTO t SELECT * FROM part")
        if one_transaction:
            con.execute("COMMIT")
        con.execute("CHECKPOINT")
        out += [time.perf_counter() - t, rows.num_rows]
        con.close()
        shutil.rmtree(path.parent, ignore_errors=True)
    return out[0], out[1], out[2], out[3]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=1_000_000, help="connections to generate")
    ap.add_argument("--work", type=Path, default=ROOT / "bench" / "out")
    ap.add_argument("--skip-jsonl", action="store_true")
    a = ap.parse_args()
    os.environ.setdefault("VKURSE_STATS_NOW", "2026-06-01T00:00:00+03:00")
    sys.path.insert(0, str(ROOT))
    from vkurse_stats.config import Settings
    from vkurse_stats.metrics.engine import warm_up
    from vkurse_stats.service import open_services

    print(f"vkurse-stats core benchmark: N={a.n:,} connections, {os.cpu_count()} cores")
    print(f"  machine speed  : {calibrate()} (this VM varies by up to 2x from run to run)")
    t = time.perf_counter()
    pq, js = generate(a.n, a.work)
    print(
        f"  generated files in {time.perf_counter() - t:.1f} s ({pq.stat().st_size >> 20} MiB parquet, "
        f"{js.stat().st_size >> 20} MiB jsonl)"
    )
    tmp = Path(tempfile.mkdtemp(prefix="vkbench-", dir=a.work))
    try:
        secs, rss, res = run_import(tmp / "pq", [pq], "connection")
        print(
            f"  import parquet : {a.n / secs:>12,.0f} records/s  ({secs:.1f} s, peak RSS {rss} MiB, "
            f"accepted {res['accepted']:,})"
        )
        if not a.skip_jsonl:
            secs, rss, res = run_import(tmp / "js", [js])
            print(
                f"  import jsonl   : {a.n / secs:>12,.0f} records/s  ({secs:.1f} s, peak RSS {rss} MiB, "
                f"accepted {res['accepted']:,})"
            )
        svc = open_services(Settings(data_dir=tmp / "pq"))
        t = time.perf_counter()
        warm_up()
        print(f"  engine load    : {time.perf_counter() - t:.2f} s once per process (numba; a server does it at start)")
        t = time.perf_counter()
        svc.rollups.rebuild("bench")
        secs = time.perf_counter() - t
        print(f"  rebuild        : {a.n / secs:>12,.0f} connections/s ({secs:.1f} s)")
        conn_s, conn_n, stats_s, stats_n = store_floor(svc, a.work)
        print(
            f"  DuckDB alone   : stores the {conn_n:,} connection rows in {conn_s:.1f} s (no import can pass "
            f"{conn_n / conn_s:,.0f} records/s here) and the {stats_n:,} event stats rows in {stats_s:.1f} s "
            f"(no rebuild that stores them can pass {a.n / stats_s:,.0f} connections/s)"
        )
        n_conns, secs = engine_alone(svc)
        print(
            f"  engine alone   : {n_conns / secs:>12,.0f} connections/s ({secs:.2f} s for every daily figure of "
            "the year from fetched connections: the rebuild's share that is not store I/O)"
        )
        for label, d0, d1 in (
            ("1 day", date(2025, 6, 3), date(2025, 6, 3)),
            ("1 month", date(2025, 6, 1), date(2025, 6, 30)),
            ("1 year", date(2025, 1, 1), date(2025, 12, 31)),
        ):
            p50, p95 = latency(lambda d0=d0, d1=d1: svc.query.report("bench", d0, d1))
            print(f"  report {label:<8}: p50 {p50:7.1f} ms  p95 {p95:7.1f} ms")
        # A re-send of 10k stored connections (about a working day's worth at 10M a year).
        _, batch_js = generate(10_000, a.work, offset=a.n // 2, of=a.n)
        stored = [json.loads(x) for x in batch_js.read_bytes().splitlines()]

        def resend(shift_s: int) -> list[bytes]:
            """New versions of those connections, each ending ``shift_s`` seconds later."""
            out = []
            for r in stored:
                left = datetime.fromisoformat(r["left_at"]) + timedelta(seconds=shift_s)
                out.append(json.dumps({**r, "left_at": left.isoformat()}).encode())
            return out

        # The first write of a process probes the key column; the second builds the in-memory
        # key index (store/keyindex.py) that every later write of a running server uses.
        samples = []
        for k in range(1, 8):
            lines = resend(k)
            t = time.perf_counter()
            r = svc.ingest_lines(lines)
            samples.append(time.perf_counter() - t)
        later = samples[2:]
        print(
            f"  10k changed versions into {a.n:,}: first {samples[0] * 1000:.0f} ms, second (builds the key index) "
            f"{samples[1] * 1000:.0f} ms, then best {min(later) * 1000:.0f} ms, median "
            f"{statistics.median(later) * 1000:.0f} ms (accepted {r.accepted:,})"
        )
        t = time.perf_counter()
        svc.ingest_lines(lines)
        print(f"  the same 10k re-sent unchanged: {(time.perf_counter() - t) * 1000:.0f} ms")
        svc.close()
        # A server builds the key indexes at start (its rollup worker), so its first write uses them.
        svc = open_services(Settings(data_dir=tmp / "pq"))
        t = time.perf_counter()
        warm_up()  # as a server's rollup worker does: the compiled engine, then the key indexes
        svc.analytics.prepare_indexes()
        prepared = time.perf_counter() - t
        t = time.perf_counter()
        svc.ingest_lines(resend(9))
        print(
            f"  a server's start: engine loaded and key indexes built in {prepared * 1000:.0f} ms, then its first "
            f"10k changed versions in {(time.perf_counter() - t) * 1000:.0f} ms"
        )
        svc.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
