"""The demo company: deterministic for a seed, imported through the real import path with no
rejection, and rich enough to exercise every part of the dashboard."""

from __future__ import annotations

import gzip
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from vkurse_stats.demo import DemoOptions, create_demo, write_demo_file
from vkurse_stats.metrics.definitions import METRICS

OPTS = DemoOptions(seed=5, days=21, employees=150, until=date(2026, 3, 20))


def test_same_seed_same_records(tmp_path: Path) -> None:
    a, b = tmp_path / "a.jsonl.gz", tmp_path / "b.jsonl.gz"
    assert write_demo_file(OPTS, a) == write_demo_file(OPTS, b)
    assert gzip.decompress(a.read_bytes()) == gzip.decompress(b.read_bytes())


def test_demo_imports_cleanly_and_fills_every_section(make_services: Any) -> None:
    svc = make_services(now="2026-03-21T12:00:00+03:00")  # the day after the demo's last day
    out = list(create_demo(svc, OPTS))
    assert any("rejected 0" in line for line in out), out
    d0, d1 = OPTS.until - timedelta(days=OPTS.days - 1), OPTS.until
    summary = svc.query.summary("demo", d0, d1)
    for m in METRICS:
        if m.id not in ("users.registered",):
            assert summary.metrics[m.id].value > 0, m.id
    clients = set().union(*(d.clients for d in svc.query.daily("demo", d0, d1)))
    assert {"web", "desktop", "ios", "android"} <= clients
    templates = {r["template"] for r in svc.query.events("demo", d0, d1, limit=5000).rows}
    assert templates == {"meeting", "conference", "selector", "lecture", "webinar"}
    assert svc.query.planned("demo").total > 0 and svc.query.disk("demo").total > 0
    assert summary.metrics["webinars.participants"].value >= 100  # webinars with hundreds of viewers
