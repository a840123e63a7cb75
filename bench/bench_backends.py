"""Core benchmarks on the embedded DuckDB store and on ClickHouse (chDB, in-process) in one run.

For N connections of one company over a year (plus their events and users):
  * import throughput through the real Ingestor (JSON Lines -> validation -> store -> rollups),
  * a full rebuild of the company's rollups,
  * one-year ``query.summary`` latency (p50/p95 over repeated calls).

    .venv/bin/python bench/bench_backends.py [N ...] [--backends duckdb,chdb] [--dir DIR]

Defaults: N = 1_000_000. Each backend gets a fresh directory under --dir (a temporary one by
default). chDB allows one data directory per process, so all chDB runs share one directory and
use a database per N.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vkurse_stats.config import Settings  # noqa: E402
from vkurse_stats.service import open_services  # noqa: E402

YEAR_START = datetime(2025, 1, 1, tzinfo=UTC)
NOW = "2026-01-02T00:00:00+00:00"
TEMPLATES = ("meeting", "conference", "selector", "lecture", "webinar")
CLIENTS = ("web", "desktop", "ios", "android", "sip")


def generate(n: int, seed: int = 1, company: str = "bench") -> Iterator[bytes]:
    """JSON lines: the company, users, events, then N connections (parents of ~8 connections)."""
    rnd = np.random.default_rng(seed)
    users = max(100, n // 200)
    parents = max(1, n // 8)
    yield json.dumps({"kind": "company", "id": company, "name": "Бенчмарк", "timezone": "Europe/Moscow"}).encode()
    for u in range(users):
        yield (
            f'{{"kind":"user","id":"u{u}","company_id":"{company}",'
            f'"registered_at":"2024-12-01T00:00:00Z","name":"Сотрудник {u}"}}'
        ).encode()
    y0 = int(YEAR_START.timestamp())
    start = y0 + rnd.integers(0, 365 * 86400, parents)
    # Working hours in Moscow: shift starts into 06:00-18:00 UTC.
    start = start - start % 86400 + 6 * 3600 + rnd.integers(0, 12 * 3600, parents)
    tpl = rnd.integers(0, len(TEMPLATES), parents)
    for p in range(parents):
        yield (
            f'{{"kind":"event","id":"e{p}","company_id":"{company}","template":"{TEMPLATES[tpl[p]]}",'
            f'"title":"Встреча {p}","organizer_id":"u{p % users}","created_at":{(int(start[p]) - 86400) * 1000},'
            f'"scheduled_start":{int(start[p]) * 1000}}}'
        ).encode()
    parent = rnd.integers(0, parents, n)
    joined = start[parent] + rnd.integers(0, 1800, n)
    left = joined + rnd.integers(60, 3 * 3600, n)
    user = rnd.integers(0, users, n)
    client = rnd.integers(0, len(CLIENTS), n)
    webrtmp = (tpl[parent] == 4) & (rnd.random(n) < 0.7)
    for i in range(n):
        p = int(parent[i])
        yield (
            f'{{"kind":"connection","id":"c{i}","company_id":"{company}","event_id":"e{p}",'
            f'"event_template":"{TEMPLATES[tpl[p]]}","transport":"{"webrtmp" if webrtmp[i] else "webrtc"}",'
            f'"joined_at":{int(joined[i]) * 1000},"left_at":{int(left[i]) * 1000},'
            f'"user_id":"u{user[i]}","client":"{CLIENTS[client[i]]}"}}'
        ).encode()


def run(backend: str, n: int, base: Path, repeats: int) -> dict[str, float]:
    if backend == "duckdb":
        url = None
        data_dir = base / f"duckdb-{n}"
    else:
        url = f"chdb://{base / 'chdb'}?database=bench_{n}"
        data_dir = base / f"chdb-meta-{n}"
    svc = open_services(Settings(data_dir=data_dir, analytics_url=url, fixed_now=NOW))
    try:
        t = time.perf_counter()
        ing = svc.ingestor(batch_size=100_000)
        ing.add_lines(generate(n))  # streamed: 50M lines would not fit in memory as a list
        res = ing.finish()
        import_s = time.perf_counter() - t
        assert res.rejected == 0, res.errors[:3]
        t = time.perf_counter()
        svc.rollups.rebuild("bench")
        rebuild_s = time.perf_counter() - t
        lat = []
        first = svc.query.summary("bench", date(2025, 1, 1), date(2025, 12, 31))
        for _ in range(repeats):
            t = time.perf_counter()
            s = svc.query.summary("bench", date(2025, 1, 1), date(2025, 12, 31))
            lat.append((time.perf_counter() - t) * 1000)
            assert s == first
        lat.sort()
        return {
            "import_s": import_s,
            "records": res.accepted,
            "records_per_s": res.accepted / import_s,
            "rebuild_s": rebuild_s,
            "p50_ms": statistics.median(lat),
            "p95_ms": lat[max(0, int(len(lat) * 0.95) - 1)],
            "peak": first.metrics["total.connections"].value,
            "held": first.metrics["total.held"].value,
        }
    finally:
        svc.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("n", nargs="*", type=int, default=[1_000_000], help="connections (default 1000000)")
    ap.add_argument("--backends", default="duckdb,chdb")
    ap.add_argument("--dir", type=Path, default=None, help="where the stores go (default: a temp dir)")
    ap.add_argument("--repeats", type=int, default=30, help="summary calls for the latency figures")
    args = ap.parse_args()
    base = args.dir or Path(tempfile.mkdtemp(prefix="vkurse-bench-"))
    base.mkdir(parents=True, exist_ok=True)
    print(
        f"{'backend':8} {'N':>11} {'records':>11} {'import s':>9} {'rec/s':>9} {'rebuild s':>9} "
        f"{'p50 ms':>7} {'p95 ms':>7}  figures"
    )
    try:
        for n in args.n:
            t = time.perf_counter()
            for _ in generate(min(n, 100_000)):
                pass
            gen_s = (time.perf_counter() - t) * max(1, n / 100_000)
            results = {}
            for backend in args.backends.split(","):
                r = run(backend, n, base, args.repeats)
                results[backend] = r
                print(
                    f"{backend:8} {n:>11,} {r['records']:>11,.0f} {r['import_s']:>9.1f} {r['records_per_s']:>9,.0f} "
                    f"{r['rebuild_s']:>9.1f} {r['p50_ms']:>7.1f} {r['p95_ms']:>7.1f}  "
                    f"peak {r['peak']} held {r['held']}",
                    flush=True,
                )
            if len(results) > 1:
                base_r = results.get("duckdb")
                for b, r in results.items():
                    if b != "duckdb" and base_r:
                        same = (r["peak"], r["held"]) == (base_r["peak"], base_r["held"])
                        print(
                            f"  {b}/duckdb: import x{r['import_s'] / base_r['import_s']:.2f}, "
                            f"rebuild x{r['rebuild_s'] / base_r['rebuild_s']:.2f}, "
                            f"p50 x{r['p50_ms'] / base_r['p50_ms']:.2f}, p95 x{r['p95_ms'] / base_r['p95_ms']:.2f}; "
                            f"same figures: {same} "
                            f"(generating the lines alone takes ~{gen_s:.0f} s of each import)"
                        )
    finally:
        if args.dir is None:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
