"""Export benchmark: time and peak memory of the CSV and XLSX exports of a one-year range.

Two modes:

    python bench/bench_export.py --data-dir DIR --company ID [--from D --to D]
        exports a company of an existing data directory (e.g. a large demo store);
    python bench/bench_export.py --events 100000 [--data-dir DIR]
        builds a company with that many events (each with connections), ingested through
        ``ingest_lines`` into a temporary (or the given, empty) data directory, then exports it.

Targets (issue 4): CSV <= 100 ms, XLSX <= 1.5 s for a one-year range; memory bounded by
XlsxWriter's constant-memory mode. Each export runs once cold (rollups may refresh) and then
``--repeat`` times; the best warm time is compared with the target. Memory: the process's peak
RSS before and after each format (``resource.getrusage``), and the peak of Python allocations
during one export (``tracemalloc``, in a separate run because tracing slows it down).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vkurse_stats.config import Settings  # noqa: E402
from vkurse_stats.export import export_csv, export_xlsx  # noqa: E402
from vkurse_stats.service import Services, open_services  # noqa: E402

TARGET_S = {"csv": 0.100, "xlsx": 1.5}
MB = 1024 * 1024


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far (Linux reports KiB)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 1024 if sys.platform != "darwin" else rss / MB


def seed_events(svc: Services, company: str, n_events: int, first_day: date, per_event: int = 2) -> None:
    """``n_events`` events over the year from ``first_day``, each with ``per_event`` connections,
    through the real write path."""
    t0 = datetime.combine(first_day, datetime.min.time(), tzinfo=UTC)
    templates = ("meeting", "conference", "selector", "lecture", "webinar")

    def lines() -> Iterator[bytes]:
        yield json.dumps(
            {
                "kind": "company",
                "id": company,
                "name": "Бенчмарк",
                "timezone": "Europe/Moscow",
                "limits": {"concurrent_speakers": 50, "concurrent_events": 20},
            }
        ).encode()
        for u in range(500):
            yield json.dumps(
                {
                    "kind": "user",
                    "id": f"u{u}",
                    "company_id": company,
                    "name": f"Сотрудник {u}",
                    "registered_at": (t0 - timedelta(days=30)).isoformat(),
                }
            ).encode()
        step = 365 * 86_400 / n_events
        for i in range(n_events):
            start = t0 + timedelta(seconds=i * step)
            template = templates[i % len(templates)]
            yield json.dumps(
                {
                    "kind": "event",
                    "id": f"e{i}",
                    "company_id": company,
                    "template": template,
                    "title": f"Мероприятие №{i}",
                    "organizer_id": f"u{i % 500}",
                    "created_at": (start - timedelta(hours=2)).isoformat(),
                    "scheduled_start": start.isoformat(),
                }
            ).encode()
            for k in range(per_event):
                yield json.dumps(
                    {
                        "kind": "connection",
                        "id": f"c{i}-{k}",
                        "company_id": company,
                        "event_id": f"e{i}",
                        "event_template": template,
                        "transport": "webrtmp" if template == "webinar" and k else "webrtc",
                        "joined_at": (start + timedelta(minutes=k)).isoformat(),
                        "left_at": (start + timedelta(minutes=45 + k)).isoformat(),
                        "user_id": f"u{(i + k) % 500}",
                        "client": ("web", "desktop", "ios")[k % 3],
                    }
                ).encode()

    began = time.perf_counter()
    result = svc.ingest_lines(lines())
    print(
        f"seeded {n_events:,} events, {n_events * per_event:,} connections: "
        f"accepted {result.accepted:,}, rejected {result.rejected} "
        f"in {time.perf_counter() - began:.1f} s"
    )


def measure(name: str, run: Callable[[], bytes], repeat: int) -> dict[str, float]:
    """Cold run, ``repeat`` warm runs (wall and CPU time), then one traced run for memory.

    CPU time is printed next to wall time: on a shared machine wall time measures the load."""
    rss_before = peak_rss_mb()
    began, cpu = time.perf_counter(), time.process_time()
    size = len(run())
    cold, cold_cpu = time.perf_counter() - began, time.process_time() - cpu
    warm, warm_cpu = [], []
    for _ in range(repeat):
        began, cpu = time.perf_counter(), time.process_time()
        run()
        warm.append(time.perf_counter() - began)
        warm_cpu.append(time.process_time() - cpu)
    rss_after = peak_rss_mb()
    tracemalloc.start()
    run()
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    best = min(warm) if warm else cold
    best_cpu = min(warm_cpu) if warm_cpu else cold_cpu
    verdict = "ok" if best <= TARGET_S[name] else "OVER TARGET"
    print(
        f"{name:>4}: cold {cold * 1000:8.1f} ms (cpu {cold_cpu * 1000:.1f}) | "
        f"best warm {best * 1000:8.1f} ms (cpu {best_cpu * 1000:.1f}; "
        f"target {TARGET_S[name] * 1000:.0f} ms: {verdict}) | {size / 1024:,.0f} KiB | "
        f"peak RSS {rss_before:,.0f} -> {rss_after:,.0f} MiB | "
        f"python peak {traced_peak / MB:,.1f} MiB"
    )
    return {"cold_s": cold, "best_s": best, "best_cpu_s": best_cpu, "bytes": size, "traced_peak_mb": traced_peak / MB}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", type=Path, help="data directory (existing store, or empty)")
    p.add_argument("--company", help="company id to export (with an existing store)")
    p.add_argument("--from", dest="date_from", type=date.fromisoformat)
    p.add_argument("--to", dest="date_to", type=date.fromisoformat)
    p.add_argument("--events", type=int, help="build a store with this many events first")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--only", choices=("csv", "xlsx"))
    args = p.parse_args(argv)
    if args.events is None and (args.data_dir is None or args.company is None):
        p.error("give --data-dir and --company, or --events N")

    with tempfile.TemporaryDirectory(prefix="vkurse-bench-") as tmp:
        data_dir = args.data_dir or Path(tmp)
        first_day = args.date_from or date(2025, 1, 1)
        svc = open_services(
            Settings(
                data_dir=data_dir,
                fixed_now=f"{first_day + timedelta(days=400)}T00:00:00+00:00" if args.events else None,
            )
        )
        try:
            company = args.company or "bench"
            if args.events:
                seed_events(svc, company, args.events, first_day)
            d_to = args.date_to or first_day + timedelta(days=364)
            d_from = args.date_from or d_to - timedelta(days=364)
            events = svc.query.events(company, d_from, d_to, limit=1).total
            print(
                f"company {company!r}, {d_from} .. {d_to} "
                f"({(d_to - d_from).days + 1} days, {events:,} events in the range)"
            )
            if args.only != "xlsx":
                measure("csv", lambda: export_csv(svc.query, company, d_from, d_to), args.repeat)
            if args.only != "csv":
                measure("xlsx", lambda: export_xlsx(svc.query, company, d_from, d_to), args.repeat)
        finally:
            svc.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
