"""Rollups of many companies at once: live batches of the platform's stream touch several
companies (different time zones), and every company's figures, events and days equal those of a
rebuild from its raw records, on every backend (DuckDB recomputes the companies of a batch
together, ClickHouse one by one)."""

from __future__ import annotations

import random
from datetime import date
from typing import Any

import pytest

from tests.conftest import lines
from vkurse_stats.metrics import rollup

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
            rec: dict[str, Any] = {
                "kind": "connection",
                "id": cid,
                "company_id": company,
                "transport": rng.choice(["webrtc", "webrtmp"]),
                "joined_at": joined,
                "user_id": f"u{rng.randrange(8)}",
                "client": rng.choice(["web", "ios"]),
            }
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
            rec = {
                "kind": "file",
                "id": f"f{rng.randrange(10)}",
                "company_id": company,
                "size_bytes": rng.randrange(1, 10**6),
                "uploaded_at": joined,
            }
            if rng.random() < 0.3:
                rec["deleted_at"] = joined + rng.randrange(0, 86_400_000)
            out.append(rec)
        else:
            out.append({"kind": "user", "id": f"u{rng.randrange(8)}", "company_id": company, "registered_at": joined})
    return out


def _figures(svc: Any) -> dict[str, Any]:
    d0, d1 = date(2026, 5, 26), date(2026, 6, 2)
    out = {}
    for company in ZONES:
        summary, days = svc.query.report(company, d0, d1)
        events = svc.query.events(company, d0, d1, limit=1000).rows
        out[company] = (summary.as_json(), [d.as_json(ZONES[company]) for d in days], events)
    return out


@pytest.mark.parametrize("timeline_days", [None, 4], ids=["one-sweep", "split-sweeps"])
def test_live_batches_over_many_companies_equal_a_rebuild(
    make_services: Any, monkeypatch: pytest.MonkeyPatch, timeline_days: int | None
) -> None:
    if timeline_days:  # the companies' windows then take several sweeps (more days than one can hold)
        monkeypatch.setattr(rollup, "TIMELINE_DAYS", timeline_days)
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


def test_a_bulk_import_of_many_new_companies_equals_rebuilding_each_alone(make_services: Any) -> None:
    """New companies of one import are rebuilt together, in windows of days shared by all of
    them; every figure equals rebuilding each company alone. The history spans four months, so
    windows have edges: events whose connections cross one, zero-length connections at one,
    companies that start and end in different windows."""
    svc = make_services(now="2026-06-01T12:00:00+00:00")
    rng = random.Random(11)
    records: list[dict[str, Any]] = [{"kind": "company", "id": c, "name": c, "timezone": tz} for c, tz in ZONES.items()]
    for i in range(1500):
        company = list(ZONES)[i % len(ZONES)]
        offset = {"msk": 0, "vvo": 20, "kgd": 45, "utc": 70}[company]  # each starts elsewhere
        joined = BASE_MS - (120 - offset) * 86_400_000 + rng.randrange(0, 50 * 86_400_000)
        rec: dict[str, Any] = {
            "kind": "connection",
            "id": f"h{i}",
            "company_id": company,
            "transport": rng.choice(["webrtc", "webrtmp"]),
            "joined_at": joined,
            "user_id": f"u{rng.randrange(20)}",
            "client": "web",
            "event_id": f"e{rng.randrange(40)}",
            "event_template": "meeting",
        }
        if rng.random() < 0.9:
            rec["left_at"] = joined + (0 if rng.random() < 0.05 else rng.randrange(0, 8 * 3_600_000))
        records.append(rec)
        if i % 10 == 0:
            records.append(
                {
                    "kind": "file",
                    "id": f"f{i}",
                    "company_id": company,
                    "size_bytes": 1000 + i,
                    "uploaded_at": joined,
                    **({"deleted_at": joined + 86_400_000} if i % 20 == 0 else {}),
                }
            )
            records.append({"kind": "message", "id": f"m{i}", "company_id": company, "sent_at": joined})
    assert svc.ingest_lines(lines(*records)).rejected == 0
    d0, d1 = date(2026, 1, 1), date(2026, 6, 1)

    def figures() -> dict[str, Any]:
        return {
            c: (
                svc.query.report(c, d0, d1)[0].as_json(),
                [d.as_json(ZONES[c]) for d in svc.query.report(c, d0, d1)[1]],
                svc.query.events(c, d0, d1, limit=1000).rows,
            )
            for c in ZONES
        }

    together = figures()
    for company in ZONES:
        svc.rollups.rebuild(company)
    assert figures() == together
    svc.rollups.rebuild_many(list(ZONES))
    assert figures() == together
