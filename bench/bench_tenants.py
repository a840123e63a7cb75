"""Many companies at once (issue 17), a benchmark, not a test:
`python bench/bench_tenants.py [--n 1000000] [--companies 1,100,1000] [--backends duckdb,chdb]`.

The same N connections of a year (bench_core's formula: events of 8 connections, calls of 2)
spread over 1, 100 or 1,000 companies (an event or call stays in one company; the file mixes
the companies row by row), plus a small company ``idle`` (N/100 connections, the same in every
run) that the live stream never touches. For each backend and number of companies it measures:

1. import: `vkurse-stats import` (a child process) of the one Parquet file with every company;
2. stream: 1,000-record batches POSTed back to back to /api/v1/ingest of a `vkurse-stats serve`
   on 127.0.0.1 with a platform ingest token; a batch holds 125 events of 8 connections, dealt
   to the companies in turn, so it touches min(companies, 125) of them: records/s;
3. reads: the one-year /api/v1/summary of ``idle`` alone (p50 of 20), and right after each of
   10 more batches (p50 and max): a read must not wait for the other companies' work;
4. identical: the year report (summary + days, as `report --format json`) of every company,
   or of a sample when there are more than --compare-all, against the same company's records
   imported alone (one import per company, into another store); and the events and calls held
   of every company against the file.

Every loop is bounded and every request goes to 127.0.0.1. The table is printed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from bench_core import GEN  # noqa: E402
from bench_load import free_port  # noqa: E402

CLI = [sys.executable, "-m", "vkurse_stats.cli"]
NOW = "2026-06-01T12:00:00+03:00"  # the stream's records are of this morning
YEAR = (date(2025, 1, 1), date(2026, 1, 1))  # the generated year (its last events end on Jan 1)
IDLE = "idle"
BATCH = 1000
EVENT_SIZE = 8
TEMPLATES = ["meeting", "conference", "webinar", "lecture", "selector"]
READS_IDLE = 20
ROUNDS = 10


def company_ids(companies: int) -> list[str]:
    width = max(4, len(str(companies - 1)))
    return [f"t{k:0{width}d}" for k in range(companies)]


def generate(n: int, companies: int, work: Path) -> Path:
    """The Parquet file of a run: n connections dealt to the companies by event, then ``idle``."""
    out = work / f"tenants-{n}-{companies}.parquet"
    if out.exists():
        return out
    width = max(4, len(str(companies - 1)))
    assert "'bench' AS company_id" in GEN
    company = f"'t' || lpad(((i // {EVENT_SIZE}) % {companies})::VARCHAR, {width}, '0')"
    mixed = GEN.replace("'bench' AS company_id", f"{company} AS company_id")
    idle = GEN.replace("'bench' AS company_id", f"'{IDLE}' AS company_id")
    n_idle = max(1000, n // 100)
    q = (
        mixed.replace("range($n)", f"range({n})").replace("$n", str(n))
        + " UNION ALL "
        + idle.replace("range($n)", f"range({n_idle})").replace("$n", str(n_idle))
    )
    tmp = out.with_suffix(".tmp")
    con = duckdb.connect()
    # Row order kept: the file mixes the companies as the platform's stream does.
    con.execute("SET preserve_insertion_order = true")
    con.execute(f"COPY ({q}) TO '{tmp}' (FORMAT PARQUET)")
    con.close()
    tmp.rename(out)
    return out


def stream_batch(b: int, companies: list[str]) -> bytes:
    """Batch ``b`` of the live stream: 125 events of 8 connections of this morning, dealt to the
    companies in turn (event k of the stream goes to company k mod companies)."""
    base_ms = int(datetime.fromisoformat("2026-06-01T08:00:00+03:00").timestamp() * 1000)
    rows = []
    for i in range(BATCH):
        ev = b * (BATCH // EVENT_SIZE) + i // EVENT_SIZE
        j = base_ms + ((b * BATCH + i) * 7919) % (3 * 3_600_000)
        rows.append(
            {
                "kind": "connection",
                "id": f"s{b}-{i}",
                "company_id": companies[ev % len(companies)],
                "event_id": f"se{ev}",
                "event_template": TEMPLATES[ev % len(TEMPLATES)],
                "transport": "webrtc" if i % 3 else "webrtmp",
                "joined_at": j,
                "left_at": j + 60_000 + (i % 50) * 30_000,
                "user_id": f"su{i % 300}",
                "client": "web",
            }
        )
    return "\n".join(json.dumps(r) for r in rows).encode()


def store_args(data: Path, backend: str) -> list[str]:
    url = f"chdb:///{data / 'chdb'}" if backend == "chdb" else None
    return ["--data-dir", str(data), *(["--analytics-url", url] if url else [])]


def settings_for(data: Path, backend: str) -> Any:
    from vkurse_stats.config import Settings

    return Settings(data_dir=data, analytics_url=f"chdb:///{data / 'chdb'}" if backend == "chdb" else None)


# --- the child processes of the check (chDB holds one data directory per process) -----------
def reports(svc: Any, ids: list[str]) -> dict[str, Any]:
    """The year report of each company, as `vkurse-stats report --format json` writes it."""
    out = {}
    for cid in ids:
        summary, days = svc.query.report(cid, *YEAR)
        body = summary.as_json()
        body["days"] = [d.as_json(body["timezone"]) for d in days]
        out[cid] = body
    return out


def child_reports(data: Path, backend: str, ids: list[str]) -> dict[str, Any]:
    from vkurse_stats.service import open_services

    svc = open_services(settings_for(data, backend))
    try:
        return reports(svc, ids)
    finally:
        svc.close()


def child_alone(data: Path, backend: str, source: Path, ids: list[str]) -> dict[str, Any]:
    """Import each company's records alone (one import per company) into a fresh store, then
    its reports."""
    from vkurse_stats.ingest.readers import read_file
    from vkurse_stats.service import open_services

    svc = open_services(settings_for(data, backend))
    part = data / "one.parquet"
    try:
        con = duckdb.connect()
        for cid in ids:
            con.execute(
                f"COPY (SELECT * FROM read_parquet('{source}') WHERE company_id = $c) TO '{part}' (FORMAT PARQUET)",
                {"c": cid},
            )
            ing = svc.ingestor()
            read_file(ing, str(part), kind="connection")
            result = ing.finish()
            assert result.rejected == 0, result.as_json()
        con.close()
        return reports(svc, ids)
    finally:
        svc.close()


def run_child(mode: str, data: Path, backend: str, ids: list[str], source: Path | None = None) -> dict[str, Any]:
    ids_file = data.parent / f"{data.name}-ids.json"
    ids_file.write_text(json.dumps(ids))
    args = [
        sys.executable,
        __file__,
        "--child",
        mode,
        "--child-data",
        str(data),
        "--backends",
        backend,
        "--child-ids",
        str(ids_file),
    ]
    if source is not None:
        args += ["--child-source", str(source)]
    out = data.parent / f"{data.name}-{mode}.json"
    args += ["--child-out", str(out)]
    subprocess.run(args, check=True, env={**os.environ, "VKURSE_STATS_NOW": NOW})
    return json.loads(out.read_text())  # type: ignore[no-any-return]


# --- one run ---------------------------------------------------------------------------------
@dataclass
class Run:
    backend: str
    companies: int
    import_s: float = 0.0
    import_rate: float = 0.0
    stream_rate: float = 0.0
    touched: int = 0
    idle_p50: float = 0.0
    next_p50: float = 0.0
    next_max: float = 0.0
    checked: str = ""
    notes: list[str] = field(default_factory=list)


def summary_ms(c: httpx.Client, headers: dict[str, str]) -> float:
    t = time.perf_counter()
    r = c.get(
        "/api/v1/summary",
        params={"from": YEAR[0].isoformat(), "to": YEAR[1].isoformat(), "company": IDLE},
        headers=headers,
    )
    ms = (time.perf_counter() - t) * 1000
    r.raise_for_status()
    return ms


def post(c: httpx.Client, body: bytes, headers: dict[str, str]) -> int:
    r = c.post("/api/v1/ingest", content=body, headers=headers)
    r.raise_for_status()
    result = r.json()
    assert result["rejected"] == 0, result
    return int(result["accepted"])


def run_one(a: argparse.Namespace, backend: str, companies: int, work: Path) -> Run:
    run = Run(backend, companies)
    ids = company_ids(companies)
    source = generate(a.n, companies, a.work)
    total_rows = a.n + max(1000, a.n // 100)
    data = work / f"{backend}-{companies}"
    env = {**os.environ, "VKURSE_STATS_NOW": NOW}
    log(f"[{backend}, {plural(companies, 'company', 'companies')}] import of {total_rows:,} connections")
    t = time.perf_counter()
    proc = subprocess.run(
        [*CLI, *store_args(data, backend), "import", "--json", "--kind", "connection", str(source)],
        capture_output=True,
        text=True,
        env=env,
    )
    run.import_s = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"import failed: {proc.stderr[-2000:]}")
    result = json.loads(proc.stdout)
    assert result["accepted"] == total_rows and result["rejected"] == 0, result
    run.import_rate = total_rows / run.import_s

    from vkurse_stats.store.accounts import AccountStore
    from vkurse_stats.store.meta import MetaStore

    meta = MetaStore(f"sqlite:///{data / 'meta.sqlite3'}")
    accounts = AccountStore(meta.engine)
    ingest = {"Authorization": f"Bearer {accounts.create_token('ingest', None, 'bench')[1]}"}
    read = {"Authorization": f"Bearer {accounts.create_token('read', None, 'bench')[1]}"}
    meta.close()

    port = free_port()
    server_log = open(work / f"{backend}-{companies}-server.log", "w")  # noqa: SIM115
    server = subprocess.Popen(
        [*CLI, *store_args(data, backend), "serve", "--port", str(port)], env=env, stdout=server_log, stderr=server_log
    )
    base = f"http://127.0.0.1:{port}"
    batch_no = 0
    try:
        with httpx.Client(base_url=base, timeout=300) as c:
            for _ in range(1200):
                try:
                    if c.get("/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)
            else:
                raise SystemExit("the server did not start")
            log(f"[{backend}, {plural(companies, 'company', 'companies')}] server up; warm-up, idle reads, stream")
            for _ in range(2):  # warm-up: the first writes load the engine and key indexes
                post(c, stream_batch(batch_no, ids), ingest)
                batch_no += 1
            for _ in range(3):
                summary_ms(c, read)
            time.sleep(1.5)  # the warm-up batches applied
            run.idle_p50 = statistics.median(summary_ms(c, read) for _ in range(READS_IDLE))
            sent = 0
            t = time.perf_counter()
            for _ in range(a.batches):
                sent += post(c, stream_batch(batch_no, ids), ingest)
                batch_no += 1
            run.stream_rate = sent / (time.perf_counter() - t)
            run.touched = min(companies, BATCH // EVENT_SIZE)
            after = []
            for _ in range(ROUNDS):
                post(c, stream_batch(batch_no, ids), ingest)
                batch_no += 1
                after.append(summary_ms(c, read))
            run.next_p50, run.next_max = statistics.median(after), max(after)
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=600)
        finally:
            server_log.close()

    # Identical figures: the year of 2025 holds the bulk records only (the stream is of 2026).
    log(f"[{backend}, {plural(companies, 'company', 'companies')}] checking the figures")
    sample = ids if companies <= a.compare_all else ids[:: max(1, companies // a.sample)][: a.sample]
    mixed = run_child("reports", data, backend, [*ids, IDLE])
    alone = run_child("alone", work / f"{backend}-{companies}-alone", backend, [*sample, IDLE], source)
    differ = [cid for cid in [*sample, IDLE] if mixed[cid] != alone[cid]]
    con = duckdb.connect()
    held = dict(
        con.execute(
            f"SELECT company_id, count(DISTINCT coalesce(event_id, call_id)) FROM read_parquet('{source}') GROUP BY 1"
        ).fetchall()
    )
    con.close()
    wrong_held = [cid for cid in [*ids, IDLE] if mixed[cid]["metrics"]["total.held"]["value"] != held[cid]]
    ok = not differ and not wrong_held
    what = "all" if len(sample) == companies else f"{len(sample)} sampled of {companies:,}"
    run.checked = f"{'yes' if ok else 'NO'} ({what} + idle; held of all)"
    if differ:
        run.notes.append(f"reports differ from alone: {differ[:10]}")
    if wrong_held:
        run.notes.append(f"held differs from the file: {wrong_held[:10]}")
    shutil.rmtree(data, ignore_errors=True)
    shutil.rmtree(work / f"{backend}-{companies}-alone", ignore_errors=True)
    return run


def plural(n: int, one: str, many: str) -> str:
    return f"{n:,} {one if n == 1 else many}"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def table(runs: list[Run], n: int, batches: int) -> str:
    first = {r.backend: r for r in runs if r.companies == min(x.companies for x in runs if x.backend == r.backend)}
    head = (
        f"| backend | companies | import {n:,} (+idle) | vs fewest | stream, {batches} x 1,000 | vs fewest "
        "| idle summary p50 | next summary in the stream p50 / max | vs idle | identical to alone |"
    )
    lines = [head, "|" + "---|" * 10]
    for r in runs:
        f = first[r.backend]
        lines.append(
            f"| {r.backend} | {r.companies:,} | {r.import_s:.1f} s ({r.import_rate:,.0f}/s) | "
            f"{r.import_s / f.import_s:.2f}x | {r.stream_rate:,.0f} records/s "
            f"({plural(r.touched, 'company', 'companies')} a batch) | "
            f"{r.stream_rate / f.stream_rate:.0%} | {r.idle_p50:.0f} ms | {r.next_p50:.0f} / {r.next_max:.0f} ms | "
            f"{r.next_p50 / r.idle_p50:.2f}x | {r.checked} |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000, help="connections of the year, over all companies")
    ap.add_argument("--companies", default="1,100,1000", help="numbers of companies, comma-separated")
    ap.add_argument("--backends", default="duckdb,chdb", help="duckdb and/or chdb, comma-separated")
    # Several seconds: the server applies its queue about once a second, so a stream shorter
    # than a few ticks measures where the ticks fall rather than the rate.
    ap.add_argument("--batches", type=int, default=120, help="1,000-record batches of the timed stream")
    ap.add_argument(
        "--compare-all",
        type=int,
        default=100,
        help="compare every company's report up to this many companies, else a sample",
    )
    ap.add_argument("--sample", type=int, default=20, help="companies compared when there are more")
    ap.add_argument("--work", type=Path, default=ROOT / "bench" / "out")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--child-data", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--child-ids", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--child-source", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--child-out", type=Path, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        ids = json.loads(a.child_ids.read_text())
        if a.child == "reports":
            out = child_reports(a.child_data, a.backends, ids)
        else:
            out = child_alone(a.child_data, a.backends, a.child_source, ids)
        a.child_out.write_text(json.dumps(out))
        return
    counts = [int(x) for x in a.companies.split(",")]
    backends = a.backends.split(",")
    if any(b not in ("duckdb", "chdb") for b in backends) or any(c < 1 for c in counts):
        ap.error("--backends takes duckdb,chdb and --companies positive numbers")
    a.work.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="vktenants-", dir=a.work))
    runs = []
    try:
        for backend in backends:
            for companies in counts:
                runs.append(run_one(a, backend, companies, work))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"vkurse-stats many companies: {a.n:,} connections of a year (+{max(1000, a.n // 100):,} of the idle "
        f"company), {os.cpu_count()} cores; stream batches of 1,000 records, 125 events each"
    )
    print(table(runs, a.n, a.batches))
    for r in runs:
        for note in r.notes:
            print(f"  {r.backend}, {r.companies} companies: {note}")


if __name__ == "__main__":
    main()
