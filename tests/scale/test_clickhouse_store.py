"""The ClickHouse backend on chDB: replace semantics before any merge, late and out-of-order
data, rebuild against incremental rollups, and figures identical to DuckDB on the same input."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date
from typing import Any

import pyarrow as pa
import pytest

from tests.scale.conftest import needs_chdb
from tests.scale.gen import lines, records
from vkurse_stats.service import Services
from vkurse_stats.store.clickhouse import SCHEMA_VERSION, Layout, parse_url, schema_ddl
from vkurse_stats.store.duckdb import DuckDBStore
from vkurse_stats.store.schema import TABLES

pytestmark = needs_chdb
Open = Callable[..., Services]
MARCH = (date(2026, 3, 1), date(2026, 3, 31))
COMPANY = {"kind": "company", "id": "acme", "name": "Акме", "timezone": "Europe/Moscow"}


def conn(
    cid: str, joined: str, left: str | None = None, *, event: str = "e1", client: str = "web", **kw: Any
) -> dict[str, Any]:
    rec = {
        "kind": "connection",
        "id": cid,
        "company_id": "acme",
        "event_id": event,
        "event_template": "meeting",
        "transport": "webrtc",
        "joined_at": joined,
        "client": client,
        "user_id": cid,
        **kw,
    }
    if left:
        rec["left_at"] = left
    return rec


def t(day: int, hm: str, month: int = 3) -> str:
    return f"2026-{month:02d}-{day:02d}T{hm}:00+03:00"


def ingest(svc: Services, recs: list[dict[str, Any]], batch: int = 10_000) -> None:
    data = lines(recs)
    for i in range(0, len(data), batch):
        res = svc.ingest_lines(data[i : i + batch])
        assert res.rejected == 0, res.errors


def figures(svc: Services, company: str = "acme") -> dict[str, Any]:
    """Everything the dashboard, exports and CLI show for March (and a wide summary)."""
    q = svc.query
    out: dict[str, Any] = {
        "summary": q.summary(company, date(2026, 1, 1), date(2026, 6, 30)),
        "march": q.summary(company, *MARCH),
        "daily": q.daily(company, date(2026, 2, 20), date(2026, 4, 10)),
        "planned": q.planned(company, limit=1000),
        "disk": q.disk(company, limit=1000),
        "planned_asc": q.planned(company, sort="next_start", order="asc", limit=3, offset=1),
        "disk_search": q.disk(company, search="сотрудник 1", limit=1000),
    }
    for sort in (
        "id",
        "title",
        "template",
        "organizer_name",
        "created_at",
        "first_join",
        "duration_s",
        "participants",
        "peak",
        "peak_at",
    ):
        for order in ("asc", "desc"):
            out[f"events_{sort}_{order}"] = q.events(company, *MARCH, sort=sort, order=order, limit=1000)
    out["events_page"] = q.events(company, *MARCH, sort="peak", limit=7, offset=5)
    out["events_search"] = q.events(company, *MARCH, search="ПЛАН", limit=1000)
    for sort in ("users", "logins", "client", "device"):
        page = q.devices(company, *MARCH, sort=sort, limit=1000)
        # DuckDB breaks ties on the first column only, leaving (client, device) ties unordered.
        out[f"devices_{sort}"] = (page.total, sorted(map(str, page.rows)), [(r[sort], r["client"]) for r in page.rows])
    return out


def assert_same(a: dict[str, Any], b: dict[str, Any]) -> None:
    diffs = [k for k in a if a[k] != b[k]]
    assert not diffs, {k: (a[k], b[k]) for k in diffs[:3]}


# --- replace semantics --------------------------------------------------------------------------
def test_resend_replaces_before_any_merge(open_backend: Open) -> None:
    svc = open_backend("chdb")
    ingest(svc, [COMPANY, conn("c1", t(5, "10:00")), conn("c2", t(5, "10:30"), t(5, "10:40"))])
    ingest(svc, [conn("c1", t(5, "10:00"), t(5, "11:00"))])
    store = svc.analytics
    assert store.rows("SELECT count() FROM connections")[0][0] == 3  # both versions still stored
    assert store.rows("SELECT count() FROM connections FINAL")[0][0] == 2
    m = svc.query.summary("acme", date(2026, 3, 5), date(2026, 3, 5)).metrics
    assert (m["total.connections"].value, m["total.held"].value) == (2, 1)
    (row,) = svc.query.events("acme", *MARCH).rows
    assert (row["connections"], row["participants"], row["duration_s"]) == (2, 2, 3600)


def test_stale_open_version_never_replaces_a_closed_one(open_backend: Open) -> None:
    svc = open_backend("chdb")
    ingest(svc, [COMPANY, conn("c1", t(5, "10:00"), t(5, "10:20"))])
    ingest(svc, [conn("c1", t(5, "10:00"))])  # the join message, delivered late
    (row,) = svc.query.events("acme", *MARCH).rows
    assert row["duration_s"] == 20 * 60
    old, new = svc.analytics.upsert("connection", _batch(svc, conn("c1", t(5, "10:00"))))
    assert (old.num_rows, new.num_rows) == (0, 0)


def test_a_version_moved_to_another_month_leaves_no_trace(open_backend: Open) -> None:
    svc = open_backend("chdb")
    ingest(svc, [COMPANY, conn("c1", t(5, "10:00"), t(5, "11:00"))])
    ingest(svc, [conn("c1", t(2, "10:00", 4), t(2, "10:30", 4))])  # corrected: April, another partition
    m = svc.query.summary("acme", *MARCH).metrics
    assert (m["total.connections"].value, m["total.held"].value) == (0, 0)
    a = svc.query.summary("acme", date(2026, 4, 2), date(2026, 4, 2)).metrics
    assert (a["total.connections"].value, a["total.held"].value) == (1, 1)
    assert svc.analytics.rows("SELECT count() FROM connections FINAL")[0][0] == 1


def test_an_event_that_lost_its_connections_disappears(open_backend: Open) -> None:
    svc = open_backend("chdb")
    ingest(svc, [COMPANY, conn("c1", t(5, "10:00"), t(5, "11:00"), event="e1")])
    ingest(svc, [conn("c1", t(5, "10:00"), t(5, "11:00"), event="e2")])
    assert [r["id"] for r in svc.query.events("acme", *MARCH).rows] == ["e2"]
    assert svc.query.summary("acme", *MARCH).metrics["total.held"].value == 1


def test_a_client_type_that_vanished_from_a_day_is_gone(open_backend: Open) -> None:
    svc = open_backend("chdb")
    ingest(svc, [COMPANY, conn("c1", t(5, "10:00"), t(5, "11:00"), client="ios")])
    ingest(svc, [conn("c1", t(5, "10:00"), t(5, "11:00"), client="web")])
    (day,) = svc.query.daily("acme", date(2026, 3, 5), date(2026, 3, 5))
    assert day.clients == {"web": 1}


def _batch(svc: Services, rec: dict[str, Any]) -> pa.Table:
    from vkurse_stats.ingest.columns import to_table
    from vkurse_stats.records import decode_json

    return to_table("connection", [decode_json(lines([rec])[0])], svc.analytics.next_seq(1))


def test_upsert_returns_what_duckdb_returns(open_backend: Open) -> None:
    svc = open_backend("chdb")
    duck = DuckDBStore(":memory:")
    schema = TABLES["connection"].arrow_schema

    def batch(rows: list[tuple[str, int, int | None, int]]) -> pa.Table:
        return pa.Table.from_pylist(
            [
                {
                    "company_id": "acme",
                    "id": i,
                    "parent_kind": 0,
                    "parent_id": "e1",
                    "template": 0,
                    "transport": 0,
                    "joined_at": j,
                    "left_at": lft,
                    "user_id": None,
                    "role": None,
                    "client": "web",
                    "device": None,
                    "seq": seq,
                }
                for i, j, lft, seq in rows
            ],
            schema=schema,
        )

    steps = [
        [("a", 10, None, 1), ("b", 20, 30, 2), ("a", 10, 50, 3), ("c", 5, None, 4)],
        [("a", 10, None, 5), ("b", 25, 40, 6), ("c", 7, None, 7), ("d", 1, 2, 8)],
        [("b", 10**13, 10**13 + 5, 9), ("c", 5, 6, 10), ("c", 5, None, 11)],
    ]
    try:
        for step in steps:
            got = [svc.analytics.upsert("connection", batch(step)), duck.upsert("connection", batch(step))]
            for ch, dk in zip(*got, strict=True):
                assert ch.schema == dk.schema
                assert ch.sort_by("id").to_pylist() == dk.sort_by("id").to_pylist()
    finally:
        duck.close()


# --- late data, rebuild, and the same figures as DuckDB --------------------------------------------
def _reordered(recs: list[dict[str, Any]], seed: int) -> list[dict[str, Any]]:
    """Records in a scrambled time order, keeping each record's own versions in order."""
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for r in recs:
        groups.setdefault((r["kind"], r.get("company_id", ""), r["id"]), []).append(r)
    keys = list(groups)
    company = [k for k in keys if k[0] == "company"]
    rest = [k for k in keys if k[0] != "company"]
    random.Random(seed).shuffle(rest)
    out = [r for k in company for r in groups[k]]
    # Interleave: each group's versions go out in order, spread over the stream.
    pending = {k: list(groups[k]) for k in rest}
    rnd = random.Random(seed + 1)
    while pending:
        k = rnd.choice(list(pending))
        out.append(pending[k].pop(0))
        if not pending[k]:
            del pending[k]
    return out


@pytest.fixture(scope="module")
def dataset() -> list[dict[str, Any]]:
    return records(7, days=12) + records(8, company="beta", tz="Asia/Yekaterinburg", days=5)


def test_figures_equal_duckdb_on_the_same_input(open_backend: Open, dataset: list[dict[str, Any]]) -> None:
    duck, ch = open_backend("duckdb"), open_backend("chdb")
    for svc in (duck, ch):
        ingest(svc, dataset, batch=500)
    assert_same(figures(duck), figures(ch))
    assert_same(figures(duck, "beta"), figures(ch, "beta"))


def test_late_and_out_of_order_data_give_in_order_figures(open_backend: Open, dataset: list[dict[str, Any]]) -> None:
    in_order, scrambled = open_backend("duckdb"), open_backend("chdb")
    ingest(in_order, dataset, batch=100_000)
    ingest(scrambled, _reordered(dataset, 3), batch=400)
    assert_same(figures(in_order), figures(scrambled))


def test_rebuild_equals_incremental(open_backend: Open, dataset: list[dict[str, Any]]) -> None:
    svc = open_backend("chdb")
    ingest(svc, _reordered(dataset, 5), batch=600)
    before = figures(svc)
    svc.rollups.rebuild("acme")
    assert_same(before, figures(svc))
    svc.analytics.clear_rollups()
    svc.rollups.rebuild("acme")
    assert_same(before, figures(svc))


def test_open_connections_follow_the_clock(open_backend: Open) -> None:
    recs = [COMPANY, conn("c1", t(5, "10:00")), conn("c2", t(5, "12:00"))]
    results = []
    for backend in ("duckdb", "chdb"):
        early = open_backend(backend, now=t(5, "11:00"), name="x")
        ingest(early, recs)
        results.append(figures(early))
        early.close()
        later = open_backend(
            backend,
            now=t(6, "09:00"),
            name="x",
            analytics_url=early.settings.analytics_url,
            data_dir=early.settings.data_dir,
        )
        results.append(figures(later))
    assert_same(results[0], results[2])
    assert_same(results[1], results[3])
    assert results[0]["march"] != results[1]["march"]


# --- schema, URLs and the cluster layout ---------------------------------------------------------
def test_schema_is_versioned_and_reopening_keeps_data(open_backend: Open) -> None:
    svc = open_backend("chdb", name="s")
    ingest(svc, [COMPANY, conn("c1", t(5, "10:00"), t(5, "11:00"))])
    assert svc.analytics.schema_version() == SCHEMA_VERSION
    again = open_backend(
        "chdb", name="s2", analytics_url=svc.settings.analytics_url, database_url=svc.settings.resolved_database_url
    )
    assert again.analytics.schema_version() == SCHEMA_VERSION
    assert again.analytics.rows("SELECT count() FROM schema_migrations")[0][0] == SCHEMA_VERSION
    assert again.query.summary("acme", *MARCH).metrics["total.held"].value == 1


def test_tables_are_partitioned_by_month_and_ordered_by_company_and_time() -> None:
    ddl = "\n".join(schema_ddl("vk", Layout()))
    assert (
        "PARTITION BY toYYYYMM(toDateTime(intDiv(`joined_at`, 1000000), 'UTC')) "
        "ORDER BY (company_id, `joined_at`, id)" in ddl
    )
    assert "ON CLUSTER" not in ddl and "Replicated" not in ddl and "Distributed" not in ddl


def test_cluster_ddl_is_switched_by_the_url() -> None:
    target = parse_url("clickhouse://u:p%40ss@ch1:9000/vk?cluster=main&sharded=1")
    assert (target.host, target.port, target.user, target.password, target.database) == ("ch1", 9000, "u", "p@ss", "vk")
    ddl = schema_ddl("vk", target.layout)
    conns = [s for s in ddl if "connections" in s]
    assert conns[0].startswith("CREATE TABLE IF NOT EXISTS connections_local ON CLUSTER `main`")
    assert (
        "ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/vk/connections_local', "
        "'{replica}', ver, is_deleted)" in conns[0]
    )
    assert conns[1] == (
        "CREATE TABLE IF NOT EXISTS connections ON CLUSTER `main` AS connections_local "
        "ENGINE = Distributed(`main`, `vk`, connections_local, cityHash64(company_id))"
    )
    assert parse_url("chdb:///srv/ch?database=x").database == "x"
    assert parse_url("clickhouses://h/vk").port == 8443
    with pytest.raises(ValueError, match="cluster"):
        parse_url("clickhouse://h/vk?sharded=1")
