"""Alerts and live view benchmark (issue 16), not a test: `python bench/bench_alerts.py`.

1. Ingest rate with alerts off and on: a company with licence limits (connections 300, speakers
   200, events 40) receives live records of one day (1,000-connection batches of meetings whose
   concurrency hovers around the 90 % and 100 % thresholds, so alerts are raised and evaluated
   after every apply) from 4 writer threads through the server's writer (group commit, applies
   every second), on a fresh data directory each time; records/s over all batches, and how long
   the alert thread needed after the last batch. Three rounds per mode, the median is reported.
2. ``--demo``: the live view of the demo company (``vkurse-stats demo`` data): GET /now and
   /api/v1/now in-process, p50/p95 over 50 requests each.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import vkurse_stats.web  # noqa: E402,F401 - first, as a server imports it (notify.reports reads web.format)
from vkurse_stats.config import Settings  # noqa: E402
from vkurse_stats.service import open_services  # noqa: E402

NOW = "2026-03-20T18:00:00+03:00"
WRITERS = 4


def batches(count: int, size: int) -> list[bytes]:
    """``count`` batches of ``size`` connections on 2026-03-20, 08:00-18:00, in order of time."""
    start = datetime.fromisoformat("2026-03-20T08:00:00+03:00")
    out = []
    n = 0
    for b in range(count):
        rows = []
        for _ in range(size):
            joined = start + timedelta(seconds=(n * 36_000) // (count * size))
            left = joined + timedelta(minutes=30 + n % 45)
            event = f"e{n // 40 % 2000}"
            rows.append(
                json.dumps(
                    {
                        "kind": "connection",
                        "id": f"c{n}",
                        "company_id": "bench",
                        "event_id": event,
                        "event_template": "meeting",
                        "transport": "webrtc" if n % 3 else "webrtmp",
                        "joined_at": joined.isoformat(),
                        "left_at": left.isoformat(),
                        "user_id": f"u{n % 500}",
                    }
                )
            )
            n += 1
        out.append("\n".join(rows).encode())
        del b
    return out


def ingest_rate(alerts: bool, count: int, size: int) -> tuple[float, float, int]:
    """(records/s, seconds the alerts needed after the last batch, alerts recorded)."""
    work = Path(tempfile.mkdtemp(prefix="bench-alerts-"))
    try:
        svc = open_services(Settings(data_dir=work, fixed_now=NOW))
        company = json.dumps(
            {
                "kind": "company",
                "id": "bench",
                "name": "Bench",
                "timezone": "Europe/Moscow",
                "limits": {"concurrent_connections": 300, "concurrent_speakers": 200, "concurrent_events": 40},
            }
        )
        svc.ingest_lines(
            [
                company,
                json.dumps(
                    {
                        "kind": "connection",
                        "id": "warm",
                        "company_id": "bench",
                        "event_id": "w",
                        "event_template": "meeting",
                        "transport": "webrtc",
                        "joined_at": "2026-03-19T08:00:00+03:00",
                        "left_at": "2026-03-19T08:01:00+03:00",
                    }
                ),
            ]
        )
        svc.start_writer(interval=1.0)
        if alerts:
            svc.start_alerts()
        svc.rollups.settle_for_read("bench")
        bodies = batches(count, size)
        parts = [bodies[w::WRITERS] for w in range(WRITERS)]

        def writer(mine: list[bytes]) -> None:
            for body in mine:
                result = svc.ingest_lines(body.split(b"\n"), defer_rollups=True)
                assert result.rejected == 0, result.as_json()

        threads = [threading.Thread(target=writer, args=(p,)) for p in parts]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        svc.rollups.settle_for_read("bench")
        elapsed = time.perf_counter() - t0
        t1 = time.perf_counter()
        recorded = 0
        if alerts:
            svc.alerts.wait_idle(600)
            recorded = svc.alerts.store.alert_list("bench")[1]
        lag = time.perf_counter() - t1
        svc.close()
        return count * size / elapsed, lag, recorded
    finally:
        shutil.rmtree(work, ignore_errors=True)


def live_view(data_dir: Path) -> None:
    import warnings

    from vkurse_stats.store.accounts import AccountStore
    from vkurse_stats.web import create_app

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient
    svc = open_services(Settings(data_dir=data_dir))
    accounts = AccountStore(svc.meta.engine)
    company = svc.meta.companies()[0].id
    _, token = accounts.create_token("read", company, label="bench_alerts")
    with TestClient(create_app(svc)) as client:
        for path in ("/api/v1/now",):
            ms = []
            for _ in range(50):
                t = time.perf_counter()
                r = client.get(path, headers={"Authorization": f"Bearer {token}"})
                ms.append((time.perf_counter() - t) * 1000)
                assert r.status_code == 200, r.text
            ms.sort()
            print(
                f"  {path:<14} p50 {statistics.median(ms):6.1f} ms  p95 {ms[int(len(ms) * 0.95)]:6.1f} ms  "
                f"({len(r.json()['active'])} active)"
            )
    svc.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--batches", type=int, default=60)
    ap.add_argument("--size", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--demo", type=Path, help="a data directory made by `vkurse-stats demo`")
    args = ap.parse_args()
    if args.demo:
        print(f"live view of the demo company ({args.demo}):")
        live_view(args.demo)
        return
    print(f"ingest: {args.batches} batches x {args.size} connections, {WRITERS} writers, one company with limits")
    results: dict[bool, list[tuple[float, float, int]]] = {False: [], True: []}
    for _ in range(args.rounds):
        for alerts in (False, True):
            results[alerts].append(ingest_rate(alerts, args.batches, args.size))
    off = statistics.median(r[0] for r in results[False])
    on = statistics.median(r[0] for r in results[True])
    lag = statistics.median(r[1] for r in results[True])
    print(f"| mode | records/s (median of {args.rounds}) | alert thread after the last batch | alerts |")
    print("|---|---:|---:|---:|")
    print(f"| alerts off | {off:,.0f} | — | — |")
    print(f"| alerts on | {on:,.0f} ({(on / off - 1) * 100:+.1f} %) | {lag:.2f} s | {results[True][0][2]} |")


if __name__ == "__main__":
    main()
