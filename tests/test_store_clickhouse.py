"""The ClickHouse store on chDB: parents named by a hash in day windows, and the schema's
migration of day markers; figures equal DuckDB's on the same records."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from tests.backends import ANALYTICS_BACKENDS, analytics_url
from tests.conftest import NOW, lines
from vkurse_stats.config import Settings
from vkurse_stats.service import Services, open_services
from vkurse_stats.store import clickhouse

pytestmark = pytest.mark.skipif("chdb" not in ANALYTICS_BACKENDS, reason="chdb is not installed")
MARCH5 = date(2026, 3, 5), date(2026, 3, 5)


def conn(i: str, start: str, end: str, event: str, company: str = "acme") -> dict[str, Any]:
    return {
        "kind": "connection",
        "id": i,
        "company_id": company,
        "transport": "webrtc",
        "event_id": event,
        "event_template": "meeting",
        "joined_at": f"2026-03-05T{start}+03:00",
        "left_at": f"2026-03-05T{end}+03:00",
    }


def chdb(tmp_path: Path, name: str) -> Services:
    url = analytics_url("chdb", tmp_path, name)
    return open_services(Settings(data_dir=tmp_path / name, fixed_now=NOW, analytics_url=url))


def figures(svc: Services, company: str = "acme") -> tuple[Any, list[tuple[Any, ...]]]:
    events = svc.query.events(company, date(2026, 3, 1), date(2026, 3, 31)).rows
    summary = svc.query.summary(company, *MARCH5).as_json()["metrics"]
    return summary, sorted((e["id"], e["connections"], e["peak"]) for e in events)


@pytest.mark.parametrize("companies", [["acme"], ["acme", "beta", "gamma"]])
def test_a_shared_parent_hash_never_merges_two_events(tmp_path: Path, monkeypatch: Any, companies: list[str]) -> None:
    """Day windows name events by a 64-bit hash. Where two events of a company share it (here
    every event does: the store runs with a hash of the kind alone) they must still count as
    two: the collision is found when their stats are stored, and from then on the company's days
    group by ids. A batch of one company is applied alone, one of several together."""
    first = [conn(f"a-{c}", "10:00:00", "11:00:00", "e1", c) for c in companies]
    second = [
        r
        for c in companies
        for r in (conn(f"b-{c}", "10:30:00", "11:30:00", "e2", c), conn(f"x-{c}", "10:40:00", "10:50:00", "e2", c))
    ]
    ref = open_services(Settings(data_dir=tmp_path / "ref", fixed_now=NOW))
    ref.ingest_lines(lines(*first, *second))
    monkeypatch.setattr(clickhouse, "PARENT_HASH", "cityHash64({kind})")
    svc = chdb(tmp_path, "weak")
    try:
        svc.ingest_lines(lines(*first))
        assert not any(svc.analytics.exact_parents(c) for c in companies)
        svc.ingest_lines(lines(*second))  # e2's stats meet e1's under the same hash
        assert all(svc.analytics.exact_parents(c) for c in companies)
        assert svc.analytics.meta_get("exact_parents:acme") == "1"
        for _ in range(2):  # as imported, then rebuilt
            for c in companies:
                got = figures(svc, c)
                assert got[0]["meetings.events"] == {"value": 2, "at": "2026-03-05T10:30:00+03:00"}
                assert got[1] == [("e1", 1, 1), ("e2", 2, 2)]
                assert got == figures(ref, c)
            svc.rollups.rebuild_many(companies)
    finally:
        svc.close()
        ref.close()


def test_a_store_of_schema_1_keeps_its_figures(tmp_path: Path) -> None:
    """Schema 1 kept when each day was computed in ``rollup_days`` and each figure in a row of
    ``rollups``; version 2 moves the former into marker rows of ``rollups``, version 3 makes
    each day one row of ``day_rollups``. A store written by version 1 reads the same after both."""
    svc = chdb(tmp_path, "old")
    svc.ingest_lines(lines(conn("a", "10:00:00", "11:00:00", "e1")))
    svc.ingest_lines(lines(conn("b", "10:30:00", "12:00:00", "e2")))  # the day's newer generation
    before = figures(svc), svc.analytics.computed_days("acme", -(2**31), 2**31 - 1)
    store = svc.analytics
    for stmt in clickhouse.schema_ddl(store.target.database, store.layout):
        if "rollup_days" in stmt or "rollups" in stmt:
            store.command(stmt)
    store.command(
        "INSERT INTO rollups SELECT company_id, day, m, v, t, gen FROM day_rollups"
        " ARRAY JOIN metric AS m, value AS v, at AS t"
    )
    store.command("INSERT INTO rollup_days SELECT company_id, day, computed_at, gen FROM day_rollups")
    store.command("DROP TABLE day_rollups")
    store.command("DELETE FROM schema_migrations WHERE version >= 2")
    url = svc.settings.analytics_url
    svc.close()
    again = open_services(Settings(data_dir=tmp_path / "old", fixed_now=NOW, analytics_url=url))
    try:
        assert again.analytics.schema_version() == clickhouse.SCHEMA_VERSION == 4
        assert not again.analytics.rows("EXISTS TABLE rollup_days")[0][0]
        assert not again.analytics.rows("EXISTS TABLE rollups")[0][0]
        assert (figures(again), again.analytics.computed_days("acme", -(2**31), 2**31 - 1)) == before
    finally:
        again.close()


def test_the_raw_tables_find_rows_by_id(tmp_path: Path) -> None:
    """Schema 4 gives each raw table a projection by (company_id, id) that a batch's lookup of
    stored versions uses; a re-sent record still replaces its stored version."""
    svc = chdb(tmp_path, "ids")
    try:
        store = svc.analytics
        names = store.rows(
            "SELECT table FROM system.projections WHERE database = currentDatabase() AND name = {n:String}",
            {"n": clickhouse.ID_INDEX},
        )
        assert sorted(r[0] for r in names) == sorted(t.table for t in clickhouse.TABLES.values())
        svc.ingest_lines(lines({**conn("a", "10:00:00", "11:00:00", "e1"), "left_at": None}))
        svc.ingest_lines(lines(conn("a", "10:00:00", "10:30:00", "e1")))
        got = figures(svc)
        assert got[0]["total.connections"] == {"value": 1, "at": "2026-03-05T10:00:00+03:00"}
        assert got[1] == [("e1", 1, 1)]
    finally:
        svc.close()


def test_instants_are_kept_only_within_one_computation(tmp_path: Path) -> None:
    """A read recomputes days from their records' instants; another process may have stored
    records since this one's last computation, so answers are kept only within one."""
    url = analytics_url("chdb", tmp_path, "shared")
    a = open_services(Settings(data_dir=tmp_path / "a", fixed_now=NOW, analytics_url=url))
    b = open_services(Settings(data_dir=tmp_path / "b", fixed_now=NOW, analytics_url=url))

    def message(i: str) -> list[bytes]:
        return lines({"kind": "message", "id": i, "company_id": "acme", "sent_at": "2026-03-05T10:00:00+03:00"})

    try:
        store = a.analytics
        span = ("message", "acme", "sent_at", 0, 2**62)
        a.ingest_lines(message("m1"))
        assert store.instants(*span).num_rows == 1
        b.ingest_lines(message("m2"))  # another writer
        assert store.instants(*span).num_rows == 2
        with store.instants_scope():
            assert store.instants(*span).num_rows == 2
            b.ingest_lines(message("m3"))
            assert store.instants(*span).num_rows == 2  # one computation reads one moment
        assert store.instants(*span).num_rows == 3
    finally:
        b.close()
        a.close()


def test_a_server_without_the_id_projection_still_migrates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Schema 4's projection only speeds the lookup of stored versions up: a server that refuses
    its statements (an older ClickHouse) opens the store at version 4 with a warning, and the
    figures are exact."""
    svc = chdb(tmp_path, "old-server")
    svc.ingest_lines(lines(conn("a", "10:00:00", "11:00:00", "e1")))
    before = figures(svc)
    svc.analytics.command("DELETE FROM schema_migrations WHERE version = 4")
    url = svc.settings.analytics_url
    svc.close()
    refused = clickhouse.IfSupported("ALTER TABLE connections ADD PROJECTION p (SELECT no_such_feature)")
    monkeypatch.setitem(clickhouse.MIGRATIONS, 4, lambda database, layout: [refused])
    with caplog.at_level("WARNING", logger="vkurse_stats"):
        again = open_services(Settings(data_dir=tmp_path / "old-server", fixed_now=NOW, analytics_url=url))
    try:
        assert again.analytics.schema_version() == 4
        assert any("ClickHouse refused" in r.getMessage() for r in caplog.records)
        again.ingest_lines(lines(conn("a", "10:00:00", "10:30:00", "e1")))  # a re-sent record replaces
        assert figures(again)[0]["total.connections"] == before[0]["total.connections"]
    finally:
        again.close()
