"""Licence insight (SPEC 4a) on hand-made scenarios: how long and how often a limited count was
at or over the limit in force, exact to the second, with limits that change."""

from __future__ import annotations

from datetime import date
from typing import Any

from tests.conftest import lines
from tests.test_query import c, summary
from vkurse_stats.operations import Caller, Operations

DAY = date(2026, 3, 5)


def speakers(svc: Any, d0: date = DAY, d1: date = DAY) -> dict[str, Any]:
    return summary(svc, d0, d1)["total.speakers"]


def breach(m: dict[str, Any]) -> tuple[float, float, int, int]:
    return m["at_limit_seconds"], m["over_limit_seconds"], m["episodes"], m["over_episodes"]


def overlapping() -> list[dict[str, Any]]:
    # Speakers: 1 at 10:00, 2 at 10:30, 3 at 10:45, 2 at 10:50, 1 at 11:00, 0 at 12:00.
    return [
        c("a", "05T10:00:00", "05T11:00:00"),
        c("b", "05T10:30:00", "05T12:00:00"),
        c("z", "05T10:45:00", "05T10:50:00"),
    ]


def test_time_at_and_over_the_limit(svc: Any) -> None:
    company = {"kind": "company", "id": "acme", "name": "A", "limits": {"concurrent_speakers": 2}}
    svc.ingest_lines(lines(company, *overlapping()))
    m = speakers(svc)
    assert (m["value"], m["limit"]) == (3, 2)
    assert breach(m) == (1800.0, 300.0, 1, 1)  # at 2+: 10:30-11:00; over 2: 10:45-10:50
    day = svc.query.daily("acme", DAY, DAY)[0].as_json("Europe/Moscow")["metrics"]["total.speakers"]
    assert breach(day) == (1800.0, 300.0, 1, 1) and day["limit"] == 2


def test_joins_and_leaves_at_one_instant_change_the_count_once(svc: Any) -> None:
    # At 10:30 one leaves and another joins: the count stays 2, one episode, not two.
    company = {"kind": "company", "id": "acme", "name": "A", "limits": {"concurrent_speakers": 2}}
    recs = [
        c("a", "05T10:00:00", "05T11:00:00"),
        c("b", "05T10:00:00", "05T10:30:00"),
        c("d", "05T10:30:00", "05T10:40:00"),
    ]
    svc.ingest_lines(lines(company, *recs))
    assert breach(speakers(svc)) == (2400.0, 0.0, 1, 0)


def test_an_episode_crossing_midnight_counts_on_both_days_and_once_in_the_range(svc: Any) -> None:
    company = {"kind": "company", "id": "acme", "name": "A", "limits": {"concurrent_speakers": 1}}
    svc.ingest_lines(lines(company, c("a", "05T23:00:00", "06T01:00:00")))
    d5, d6 = (
        d.as_json("Europe/Moscow")["metrics"]["total.speakers"] for d in svc.query.daily("acme", DAY, date(2026, 3, 6))
    )
    assert breach(d5) == (3600.0, 0.0, 1, 0) and breach(d6) == (3600.0, 0.0, 1, 0)
    assert breach(speakers(svc, DAY, date(2026, 3, 6))) == (7200.0, 0.0, 1, 0)


def test_a_limit_changed_inside_a_day_judges_each_instant_by_the_limit_then(svc: Any) -> None:
    company = {"kind": "company", "id": "acme", "name": "A", "limits": {"concurrent_speakers": 2}}
    svc.ingest_lines(lines(company, *overlapping()))
    ops = Operations(svc.meta, svc.accounts, svc.rollups, Caller("support@vkurse.ru"))
    changed_at = 1772696400 * 1_000_000  # 2026-03-05 10:40 +03:00
    ops.update_company("acme", limits={"concurrent_speakers": 3}, effective_from=changed_at)
    m = speakers(svc)
    # At 2+ from 10:30 to 10:40, then at 3+ from 10:45 to 10:50: two episodes, none over.
    assert breach(m) == (900.0, 0.0, 2, 0)
    assert m["limit"] == 3  # the limit in force at the peak (10:45)
    # Days before the change keep the old limit; the company's settings show the new one.
    assert svc.meta.company("acme").limits["concurrent_speakers"] == 3
    history = svc.meta.limit_history(["acme"])["acme"]["concurrent_speakers"]
    assert history == [(0, 2), (changed_at, 3)]


def test_rebuild_and_live_batches_agree_on_breaches(svc: Any) -> None:
    company = {"kind": "company", "id": "acme", "name": "A", "limits": {"concurrent_speakers": 2}}
    svc.ingest_lines(lines(company))
    for rec in overlapping():  # one batch each: applied live
        svc.ingest_lines(lines(rec))
    live = speakers(svc)
    svc.rollups.rebuild("acme")
    assert speakers(svc) == live and breach(live) == (1800.0, 300.0, 1, 1)
