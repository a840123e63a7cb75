"""Licence insight (issue 15), a benchmark, not a test:
`python bench/bench_insight.py [--n 10000000]`.

One company with N connections over a year (bench_core's formula), limits set so that the
speakers and connections limits are hit on most working days (the 75th percentile of the daily
peaks). Measures on this machine: the rebuild with the limits (the sweep that also measures the
time at and over them and the hourly maxima), then the p50/p95 of a year's summary (with its
breach figures), the breaches of a year (totals, days, episodes of every breach day, sizing),
what was active at the year's peak instant, the peak day's curve, the weekday x hour maxima of a
year, and the median of a 10k-record live batch (a re-send of stored connections) with all the
new figures maintained.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from bench_core import generate, latency, run_import  # noqa: E402

YEAR = (date(2025, 1, 1), date(2025, 12, 31))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=1_000_000, help="connections to generate")
    ap.add_argument("--work", type=Path, default=ROOT / "bench" / "out")
    a = ap.parse_args()
    os.environ.setdefault("VKURSE_STATS_NOW", "2026-06-01T00:00:00+03:00")
    from vkurse_stats.config import Settings
    from vkurse_stats.metrics.engine import warm_up
    from vkurse_stats.operations import Caller, Operations
    from vkurse_stats.service import open_services

    print(f"vkurse-stats licence-insight benchmark: N={a.n:,} connections, one company, {os.cpu_count()} cores")
    pq, _ = generate(a.n, a.work)
    tmp = Path(tempfile.mkdtemp(prefix="vkinsight-", dir=a.work))
    secs, _, _ = run_import(tmp, [pq], "connection")
    print(f"  import         : {secs:.1f} s")
    svc = open_services(Settings(data_dir=tmp))
    warm_up()
    days = svc.query.daily("bench", *YEAR)
    limits = {}
    for metric, name in (
        ("total.speakers", "concurrent_speakers"),
        ("total.connections", "concurrent_connections"),
        ("total.events", "concurrent_events"),
    ):
        peaks = [d.metrics[metric].value for d in days if d.metrics[metric].value]
        limits[name] = int(np.percentile(peaks, 75))
    ops = Operations(svc.meta, svc.accounts, svc.rollups, Caller("bench"))
    t = time.perf_counter()
    ops.update_company("bench", limits=limits, effective_from=0)  # a limit change recomputes the company
    rebuild = time.perf_counter() - t
    print(f"  limits         : {limits} (the 75th percentile of the daily peaks)")
    print(f"  rebuild        : {rebuild:.1f} s with the limits ({a.n / rebuild:,.0f} connections/s)")
    summary = svc.query.summary("bench", *YEAR)
    peak = summary.metrics["total.connections"]
    peak_day = datetime.fromtimestamp(peak.at / 1e6).date() if peak.at else YEAR[0]  # type: ignore[operator]
    breaches = svc.query.breaches("bench", *YEAR)
    hit = sum(len(m["days"]) for m in breaches["metrics"].values())
    listed = sum(len(m["list"]) for m in breaches["metrics"].values())
    print(f"  breaches       : {hit} metric-days with a breach, {listed} episodes listed")
    rows = [
        ("summary, a year", lambda: svc.query.summary("bench", *YEAR)),
        ("breaches, a year, totals", lambda: svc.query.breaches("bench", *YEAR, max_episodes=0)),
        ("breaches, a year, 100 episodes", lambda: svc.query.breaches("bench", *YEAR)),
        ("breaches, a year, one metric", lambda: svc.query.breaches("bench", *YEAR, "total.speakers", 0)),
        ("active at the peak", lambda: svc.query.at("bench", int(peak.at or 0))),
        ("the peak day's curve", lambda: svc.query.intraday("bench", peak_day)),
        ("weekday x hour, a year", lambda: svc.query.hours("bench", *YEAR)),
    ]
    for label, fn in rows:
        p50, p95 = latency(fn, repeat=15)
        print(f"  {label:<30}: p50 {p50:7.1f} ms  p95 {p95:7.1f} ms")

    _, batch_js = generate(10_000, a.work, offset=a.n // 2, of=a.n)
    stored = [json.loads(x) for x in batch_js.read_bytes().splitlines()]
    samples = []
    for k in range(1, 8):
        lines = []
        for r in stored:
            left = datetime.fromisoformat(r["left_at"]) + timedelta(seconds=k)
            lines.append(json.dumps({**r, "left_at": left.isoformat()}).encode())
        t = time.perf_counter()
        result = svc.ingest_lines(lines)
        samples.append(time.perf_counter() - t)
        assert result.rejected == 0
    print(
        f"  10k live batch : median {statistics.median(samples[1:]) * 1000:.0f} ms "
        f"(of {len(samples) - 1} after the first; new figures maintained)"
    )
    svc.close()


if __name__ == "__main__":
    main()
