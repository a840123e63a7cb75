"""Rollups of many companies at once: live batches of the platform's stream touch several
companies (different time zones), and every company's figures, events and days equal those of a
rebuild from its raw records, on every backend (DuckDB recomputes the companies of a batch
together, ClickHouse one by one)."""

from __future__ import annotations

import random
from datetime import date
from typing import Any

from tests.conftest import lines

ZONES = {"msk": "Europe/Moscow", "vvo": "Asia/Vladivostok", "kgd": "Europe/Kaliningrad", "utc": "UTC"}
BASE_MS = 1_780_000_000_000  # 2026-05-28


def _batch(rng: random.Random, n: int, step: int) -> list[dict[str, Any]]:
    """``n`` records of every kind over the companies, some re-sent (moved, closed, reopened)."""
    out: list[dict[str, Any]] = []
    for i in range(n):
        company = rng.choice(list(ZONES))
        kind = rng.random()
        joined = BASE_MS + rng.randrange(0, 3 * 86_400_000)  # three days around midnight
        cid = f"c{rng.randrange(0, 60)}"  # few ids: later batches replace earlier versions
        if kind < 0.75:
            rec: dict[str, Any] = {"kind": "connection", "id": cid, "company_id": company,
                                   "transport": rng.choice(["webrtc", "webrtmp"]), "joined_at": joined,
                                   "user_id": f"u{rng.randrange(8)}", "client": rng.choice(["web", "ios"])}
            if rng.random() < 0.7:
                rec |= {"event_id": f"e{rng.randrange(6)}", "event_template": rng.choice(["meeting", "webinar"])}
            else:
                rec["call_id"] = f"k{rng.randrange(4)}"
            if rng.random() < 0.85:
                rec["left_at"] = joined + rng.randrange(0, 5 * 3_600_000)
            out.append(rec)
        elif kind < 0.85:
            out.append({"kind": "message", "id": f"m{step}-{i}", "company_id": company, "sent_at": joined})
        elif kind < 0.93:
            rec = {"kind": "file", "id": f"f{rng.randrange(10)}", "company_id": company,
                   "size_bytes": rng.randrange(1, 10**6), "uploaded_at": joined}
            if rng.random() < 0.3:
                rec["deleted_at"] = joined + rng.randrange(0, 86_400_000)
            out.append(rec)
        else:
            out.append({"kind": "user", "id": f"u{rng.randrange(8)}", "company_id": company,
                        "registered_at": joined})
    return out


def _figures(svc: Any) -> dict[str, Any]:
    d0, d1 = date(2026, 5, 26), date(2026, 6, 2)
    out = {}
    for company in ZONES:
        summary, days = svc.query.report(company, d0, d1)
        events = svc.query.events(company, d0, d1, limit=1000).rows
        out[company] = (summary.as_json(), [d.as_json(ZONES[company]) for d in days], events)
    return out


def test_live_batches_over_many_companies_equal_a_rebuild(make_services: Any) -> None:
    svc = make_services(now="2026-06-01T12:00:00+00:00")
    svc.ingest_lines(lines(*({"kind": "company", "id": c, "name": c, "timezone": tz} for c, tz in ZONES.items())))
    rng = random.Random(7)
    svc.ingest_lines(lines(*_batch(rng, 300, 0)))  # history: every company has rollups
    for step in range(1, 7):
        svc.ingest_lines(lines(*_batch(rng, 60, step)), defer_rollups=step % 2 == 0)
        svc.rollups.catch_up()
    incremental = _figures(svc)
    for company in ZONES:
        svc.rollups.rebuild(company)
    assert _figures(svc) == incremental
