"""The licence-insight endpoints over the real app, on the seeded company (see conftest): the
5 connections of 2026-03-05 10:10 against a connections limit of 4."""

from __future__ import annotations

from typing import Any

MARCH = {"from": "2026-03-01", "to": "2026-03-31"}


def test_breaches_of_a_range(admin: Any) -> None:
    r = admin.get("/api/v1/breaches", params={**MARCH, "metric": "total.connections"})
    assert r.status_code == 200, r.text
    m = r.json()["metrics"]["total.connections"]
    assert (m["limit"], m["at_limit_seconds"], m["over_limit_seconds"], m["episodes"]) == (4, 300.0, 300.0, 1)
    assert [d["date"] for d in m["days"]] == ["2026-03-05"]
    assert m["list"] == [
        {
            "metric": "total.connections",
            "kind": "at",
            "start": "2026-03-05T10:10:00+03:00",
            "end": "2026-03-05T10:15:00+03:00",
            "seconds": 300.0,
            "highest": 5,
            "limit": 4,
        },
        {
            "metric": "total.connections",
            "kind": "over",
            "start": "2026-03-05T10:10:00+03:00",
            "end": "2026-03-05T10:15:00+03:00",
            "seconds": 300.0,
            "highest": 5,
            "limit": 4,
        },
    ]
    assert m["sizing"]["covers_100"] == max(d["peak"] for d in m["days"])
    bad = admin.get("/api/v1/breaches", params={**MARCH, "metric": "total.held"})
    assert bad.status_code == 400 and bad.json()["code"] == "unknown_metric"


def test_what_was_active_at_the_peak_sums_to_it(admin: Any) -> None:
    r = admin.get("/api/v1/at", params={"metric": "total.connections", "day": "2026-03-05"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["instant"] == "2026-03-05T10:10:00+03:00"
    assert body["metrics"]["total.connections"] == {"value": 5, "limit": 4}
    assert sum(p["connections"] for p in body["active"]) == 5
    assert sum(p["speakers"] for p in body["active"]) == body["metrics"]["total.speakers"]["value"]
    assert len(body["active"]) == body["metrics"]["total.events"]["value"]
    # Each row carries its own record's title: the call's type, the events' titles.
    titles = {(p["kind"], p["id"]): p["title"] for p in body["active"]}
    events = {r["id"]: r["title"] for r in admin.get("/api/v1/events", params=MARCH).json()["rows"]}
    for (kind, pid), title in titles.items():
        if kind == "event":
            assert title == events[pid], (pid, title)
    same = admin.get("/api/v1/at", params={"instant": "2026-03-05T10:10:00+03:00"}).json()
    assert same == body
    assert admin.get("/api/v1/at", params={"instant": "2026-03-05T10:10:00"}).json()["code"] == "instant_invalid"


def test_the_day_curve_reaches_the_daily_peak(admin: Any) -> None:
    r = admin.get("/api/v1/intraday", params={"day": "2026-03-05"})
    assert r.status_code == 200, r.text
    day = r.json()
    daily = admin.get("/api/v1/daily", params={"from": "2026-03-05", "to": "2026-03-05"}).json()["days"][0]
    for metric in ("total.connections", "total.speakers", "total.events"):
        curve = day["metrics"][metric]
        assert curve["peak"] == daily["metrics"][metric]["value"]
        assert curve["at"] == daily["metrics"][metric]["at"]
        assert max(curve["minutes"]) == curve["peak"]
        assert len(curve["minutes"]) == 24 * 60
    assert day["metrics"]["total.connections"]["episodes"][0]["start"] == "2026-03-05T10:10:00+03:00"


def test_weekday_hour_maxima(admin: Any) -> None:
    r = admin.get("/api/v1/hours", params=MARCH)
    assert r.status_code == 200, r.text
    matrix = r.json()["metrics"]["total.connections"]
    assert len(matrix) == 7 and all(len(row) == 24 for row in matrix)
    # 2026-03-05 is a Thursday; its peak of 5 at 10:10 is in the 10 o'clock hour.
    assert matrix[3][10] == 5
    peak = admin.get("/api/v1/summary", params=MARCH).json()["metrics"]["total.connections"]["value"]
    assert max(max(row) for row in matrix) == peak
