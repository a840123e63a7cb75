"""The query API (metrics/query.py) on hand-made scenarios, exact figures read back: "the peak on
2026-03-05 is 3 at 10:05:00+03:00"."""

from __future__ import annotations

from datetime import date
from typing import Any

from tests.conftest import lines

MSK = "+03:00"


def c(i: str, start: str, end: str | None, **kw: Any) -> dict[str, Any]:
    rec = {
        "kind": "connection",
        "id": i,
        "company_id": "acme",
        "transport": "webrtc",
        "joined_at": f"2026-03-{start}{MSK}",
        **kw,
    }
    if "call_id" not in kw and "event_id" not in kw:
        rec |= {"event_id": "e1", "event_template": "meeting"}
    if end is not None:
        rec["left_at"] = f"2026-03-{end}{MSK}"
    return rec


def summary(svc: Any, d0: date, d1: date) -> dict[str, Any]:
    return svc.query.summary("acme", d0, d1).as_json()["metrics"]


def test_touching_connections_are_not_concurrent(svc: Any) -> None:
    svc.ingest_lines(
        lines(
            c("a", "05T10:00:00", "05T11:00:00"),
            c("b", "05T11:00:00", "05T12:00:00"),
            c("z", "05T10:30:00", "05T10:30:00"),
        )
    )
    m = summary(svc, date(2026, 3, 5), date(2026, 3, 5))
    assert m["total.connections"] == {"value": 1, "at": "2026-03-05T10:00:00+03:00"}
    assert m["total.events"] == {"value": 1, "at": "2026-03-05T10:00:00+03:00"}


def test_midnight_spanning_connection_counts_on_both_days_without_leaking(svc: Any) -> None:
    # Three end at midnight exactly, one starts at midnight: the 6th is never 4-concurrent.
    recs = [c(f"x{i}", "05T22:00:00", "06T00:00:00") for i in range(3)]
    recs += [c("m", "05T23:00:00", "06T01:00:00"), c("n", "06T00:00:00", "06T00:30:00")]
    svc.ingest_lines(lines(*recs))
    d5, d6 = svc.query.daily("acme", date(2026, 3, 5), date(2026, 3, 6))
    assert (d5.metrics["total.connections"].value, d6.metrics["total.connections"].value) == (4, 2)
    m6 = summary(svc, date(2026, 3, 6), date(2026, 3, 6))
    assert m6["total.connections"] == {"value": 2, "at": "2026-03-06T00:00:00+03:00"}
    assert m6["total.held"] == {"value": 0}  # held on the day of its first connection only
    assert summary(svc, date(2026, 3, 5), date(2026, 3, 6))["total.held"] == {"value": 1}


def test_open_connection_is_capped_and_ends_at_now(make_services: Any) -> None:
    svc = make_services(now="2026-03-05T13:00:00+03:00")
    svc.ingest_lines(lines(c("open", "05T10:00:00", None), c("late", "05T14:00:00", "05T15:00:00")))
    assert summary(svc, date(2026, 3, 5), date(2026, 3, 5))["total.connections"]["value"] == 1
    svc.close()
    later = make_services(now="2026-03-09T00:00:00+03:00")  # the same data, days later: capped at 24 h
    day5, day6 = later.query.daily("acme", date(2026, 3, 5), date(2026, 3, 6))
    assert day5.metrics["total.connections"].value == 2  # open one (capped) + late one at 14:00
    assert day6.metrics["total.connections"].value == 1  # the open one until 10:00 next day


def test_speakers_participants_and_calls(svc: Any) -> None:
    web = {"event_id": "w", "event_template": "webinar"}
    svc.ingest_lines(
        lines(
            c("s1", "05T10:00:00", "05T12:00:00", **web),
            c("v1", "05T10:00:00", "05T12:00:00", transport="webrtmp", **web),
            c("v2", "05T10:10:00", "05T11:00:00", transport="webrtmp", **web),
            c("k1", "05T10:20:00", "05T10:30:00", call_id="call1", user_id="u1"),
            c("k2", "05T10:20:00", "05T10:30:00", call_id="call1", user_id="u2"),
            {"kind": "message", "id": "m1", "company_id": "acme", "sent_at": "2026-03-05T10:00:00Z"},
        )
    )
    m = summary(svc, date(2026, 3, 1), date(2026, 3, 31))
    assert m["webinars.speakers"]["value"] == 1 and m["webinars.participants"]["value"] == 2
    assert m["webinars.participants"]["at"] == "2026-03-05T10:10:00+03:00"
    assert m["total.speakers"] == {"value": 3, "at": "2026-03-05T10:20:00+03:00"}
    assert m["total.connections"] == {"value": 5, "at": "2026-03-05T10:20:00+03:00"}
    assert m["calls.speakers"]["value"] == 2 and m["calls.calls"]["value"] == 1
    assert m["total.events"]["value"] == 2 and m["calls.messages"] == {"value": 1}
    assert (m["total.held"], m["webinars.held"], m["calls.held"]) == ({"value": 2}, {"value": 1}, {"value": 1})


def test_days_follow_the_company_timezone_across_dst(svc: Any) -> None:
    svc.ingest_lines(
        lines(
            {"kind": "company", "id": "acme", "name": "A", "timezone": "America/New_York"},
            {
                **c("a", "08T01:00:00", None),
                "joined_at": "2026-03-08T01:30:00-05:00",
                "left_at": "2026-03-08T03:30:00-04:00",
            },
        )
    )
    day = svc.query.daily("acme", date(2026, 3, 8), date(2026, 3, 8))[0]
    assert day.metrics["total.connections"].value == 1
    assert summary(svc, date(2026, 3, 8), date(2026, 3, 8))["total.connections"]["at"] == "2026-03-08T01:30:00-05:00"


def test_limits_and_storage_and_users(svc: Any) -> None:
    svc.ingest_lines(
        lines(
            {"kind": "company", "id": "acme", "name": "A", "limits": {"concurrent_speakers": 2, "storage_bytes": 10}},
            c("a", "05T10:00:00", "05T11:00:00"),
            {"kind": "file", "id": "f1", "company_id": "acme", "size_bytes": 7, "uploaded_at": "2026-02-01T00:00:00Z"},
            {
                "kind": "file",
                "id": "f2",
                "company_id": "acme",
                "size_bytes": 5,
                "uploaded_at": "2026-03-02T00:00:00Z",
                "deleted_at": "2026-03-20T00:00:00Z",
            },
            {"kind": "user", "id": "u1", "company_id": "acme", "registered_at": "2026-03-03T00:00:00Z"},
            {
                "kind": "user",
                "id": "u2",
                "company_id": "acme",
                "registered_at": "2025-01-03T00:00:00Z",
                "deleted_at": "2026-03-10T00:00:00Z",
            },
        )
    )
    m = summary(svc, date(2026, 3, 1), date(2026, 3, 15))
    assert m["total.speakers"] == {
        "value": 1,
        "at": "2026-03-05T10:00:00+03:00",
        "limit": 2,
        "at_limit_seconds": 0.0,
        "over_limit_seconds": 0.0,
        "episodes": 0,
        "over_episodes": 0,
    }
    assert m["storage.uploaded_bytes"] == {"value": 5}
    assert m["storage.total_bytes"] == {"value": 12, "at": None, "limit": 10}
    assert (m["users.registered"], m["users.total"]) == ({"value": 1}, {"value": 1})
    m = summary(svc, date(2026, 3, 1), date(2026, 3, 31))
    assert m["storage.total_bytes"]["value"] == 7


def test_tables(svc: Any) -> None:
    svc.ingest_lines(
        lines(
            {"kind": "user", "id": "u1", "company_id": "acme", "registered_at": 0, "name": "Анна"},
            {
                "kind": "event",
                "id": "e1",
                "company_id": "acme",
                "template": "meeting",
                "title": "Планёрка",
                "organizer_id": "u1",
                "created_at": "2026-03-01T09:00:00+03:00",
            },
            {
                "kind": "event",
                "id": "p1",
                "company_id": "acme",
                "template": "webinar",
                "title": "Будущий",
                "organizer_id": "u1",
                "created_at": "2026-03-01T09:00:00+03:00",
                "scheduled_start": "2026-07-01T09:00:00+03:00",
            },
            c("a", "05T10:00:00", "05T11:00:00", user_id="u1"),
            c("b", "05T10:15:00", "05T10:45:00"),
            {"kind": "file", "id": "f1", "company_id": "acme", "size_bytes": 700, "uploaded_at": 0, "owner_id": "u1"},
            {
                "kind": "login",
                "id": "l1",
                "company_id": "acme",
                "user_id": "u1",
                "at": "2026-03-05T09:00:00Z",
                "client": "ios",
                "device": "iPhone 15",
            },
        )
    )
    ev = svc.query.events("acme", date(2026, 3, 1), date(2026, 3, 31), search="план").rows
    assert [(r["id"], r["organizer_name"], r["participants"], r["peak"], r["duration_s"]) for r in ev] == [
        ("e1", "Анна", 2, 2, 3600)
    ]
    planned = svc.query.planned("acme").rows
    assert [(r["organizer_id"], r["planned"], r["next_title"]) for r in planned] == [("u1", 1, "Будущий")]
    assert svc.query.disk("acme").rows == [{"owner_id": "u1", "owner_name": "Анна", "bytes": 700, "files": 1}]
    assert svc.query.devices("acme", date(2026, 3, 1), date(2026, 3, 31)).rows == [
        {"client": "ios", "device": "iPhone 15", "users": 1, "logins": 1}
    ]


def test_a_shared_parent_hash_never_merges_two_events(tmp_path: Any, monkeypatch: Any) -> None:
    """DuckDB groups a day's connections by a 64-bit hash of their event/call. Where two events
    share it (here every event does: the store runs with a hash of the company alone) they must
    still count as two: the collision is found when their stats are stored, and from then on the
    company's days group by ids. Figures equal those of a store with the real hash."""
    from tests.conftest import NOW
    from vkurse_stats.config import Settings
    from vkurse_stats.service import open_services
    from vkurse_stats.store import duckdb as duckdb_store

    recs = lines(
        c("a", "05T10:00:00", "05T11:00:00"),
        c("b", "05T10:30:00", "05T11:30:00", event_id="e2", event_template="meeting"),
        c("x", "05T10:40:00", "05T10:50:00", event_id="e2", event_template="meeting"),
    )
    ref = open_services(Settings(data_dir=tmp_path / "ref", fixed_now=NOW))
    ref.ingest_lines(recs)
    monkeypatch.setattr(duckdb_store, "PARENT_HASH", "hash({company})")
    svc = open_services(Settings(data_dir=tmp_path / "data", fixed_now=NOW))
    try:
        svc.ingest_lines(recs[:1])
        assert "acme" not in svc.analytics._exact
        svc.ingest_lines(recs[1:])  # e2's stats meet e1's under the same hash
        assert "acme" in svc.analytics._exact and svc.analytics.meta_get("exact_parents:acme") == "1"
        march5 = date(2026, 3, 5), date(2026, 3, 5)
        for _ in range(2):  # as imported, then rebuilt
            got = summary(svc, *march5)
            assert got["meetings.events"] == {"value": 2, "at": "2026-03-05T10:30:00+03:00"}
            assert got == summary(ref, *march5)
            events = svc.query.events("acme", date(2026, 3, 1), date(2026, 3, 31)).rows
            assert sorted((e["id"], e["connections"], e["peak"]) for e in events) == [("e1", 1, 1), ("e2", 2, 2)]
            svc.rollups.rebuild("acme")
    finally:
        svc.close()
        ref.close()


def test_a_shared_parent_hash_in_a_bulk_import_of_many_companies(tmp_path: Any, monkeypatch: Any) -> None:
    """The many-company rebuild of a bulk import sweeps companies' windows together, keyed by
    the parent hash; a company where two events share it is rebuilt alone, by ids, so both
    companies' figures equal those of a store with the real hash."""
    from tests.conftest import NOW
    from vkurse_stats.config import Settings
    from vkurse_stats.service import open_services
    from vkurse_stats.store import duckdb as duckdb_store

    base = [
        c("a", "05T10:00:00", "05T11:00:00"),
        c("b", "05T10:30:00", "05T11:30:00", event_id="e2", event_template="meeting"),
        c("x", "05T10:40:00", "05T10:50:00", event_id="e2", event_template="meeting"),
    ]
    recs = lines(*base, *({**r, "company_id": "beta"} for r in base))
    ref = open_services(Settings(data_dir=tmp_path / "ref", fixed_now=NOW))
    ref.ingest_lines(recs)
    monkeypatch.setattr(duckdb_store, "PARENT_HASH", "hash({company})")
    svc = open_services(Settings(data_dir=tmp_path / "data", fixed_now=NOW))
    try:
        svc.ingest_lines(recs)  # both companies new: rebuilt together
        march5 = date(2026, 3, 5), date(2026, 3, 5)
        for company in ("acme", "beta"):
            got = svc.query.summary(company, *march5).as_json()["metrics"]
            assert got["meetings.events"] == {"value": 2, "at": "2026-03-05T10:30:00+03:00"}
            assert got == ref.query.summary(company, *march5).as_json()["metrics"]
    finally:
        svc.close()
        ref.close()


def test_rebuild_windows_agree_with_incremental_for_events_crossing_their_edges(make_services: Any) -> None:
    """A rebuild takes the stats of events lying within one 31-day window from that window's
    sweep, and fetches the others by event: an event across a window's edge (by a connection
    spanning it, by an open connection's cap, by a zero-length connection joined at the edge, or
    a meeting room used for months) must get the
    same stats and days as when imported piece by piece (company "beta": its first batch is
    rebuilt, the others are applied incrementally)."""

    def conn(i: str, event: str, start: str, end: str | None, **kw: Any) -> dict[str, Any]:
        rec = {
            "kind": "connection",
            "id": i,
            "company_id": "acme",
            "transport": "webrtc",
            "event_id": event,
            "event_template": "meeting",
            "joined_at": f"2026-{start}{MSK}",
            **kw,
        }
        return rec | ({"left_at": f"2026-{end}{MSK}"} if end else {})

    # The first record is on Jan 1, so a rebuild's windows start Jan 1, Feb 1, Mar 4 and Apr 4.
    recs = [
        conn("a1", "edge", "01-31T23:00:00", "02-01T01:00:00"),
        conn("a2", "edge", "02-01T00:30:00", "02-01T00:45:00", transport="webrtmp"),
        conn("r1", "room", "01-01T10:00:00", "01-01T11:00:00"),
        conn("r2", "room", "03-10T10:00:00", "03-10T12:00:00", user_id="u1"),
        conn("r3", "room", "04-20T10:00:00", "04-20T10:30:00", user_id="u1"),
        conn("o1", "open", "03-03T23:30:00", None),
        conn("z1", "zero", "01-31T10:00:00", "01-31T11:00:00", user_id="u1"),
        conn("z2", "zero", "02-01T00:00:00", "02-01T00:00:00", user_id="u2"),  # joined at the edge
        conn("k1", "", "02-01T00:10:00", "02-01T00:20:00", call_id="k", event_id=None, event_template=None),
        *(
            conn(f"w{i}", f"w{i % 4}", f"0{1 + i % 4}-1{i % 9}T09:00:00", f"0{1 + i % 4}-1{i % 9}T10:00:00")
            for i in range(24)
        ),
    ]
    recs = [{k: v for k, v in r.items() if v is not None} for r in recs]
    svc = make_services(now="2026-05-01T00:00:00+03:00")
    svc.ingest_lines(lines(*recs))
    beta = [r | {"company_id": "beta"} for r in recs[::-1]]
    for i in range(0, len(beta), 3):
        svc.ingest_lines(lines(*beta[i : i + 3]))
    year = date(2026, 1, 1), date(2026, 4, 30)

    def figures(company: str) -> tuple[Any, ...]:
        events = sorted(svc.query.events(company, *year).rows, key=lambda e: e["id"])
        return (
            svc.query.summary(company, *year).as_json()["metrics"],
            [d.as_json("UTC") for d in svc.query.daily(company, *year)],
            events,
        )

    expected = figures("beta")
    by_id = {e["id"]: e for e in expected[2]}
    assert (by_id["room"]["connections"], by_id["room"]["participants"]) == (3, 2)
    assert (by_id["edge"]["connections"], by_id["edge"]["peak"]) == (2, 2)
    assert (by_id["zero"]["connections"], by_id["zero"]["participants"]) == (2, 2)
    assert figures("acme") == expected
    svc.rollups.rebuild("beta")
    assert figures("beta") == expected
