"""Ingest: every rejection reason with line and field, good records kept beside bad ones,
replace semantics, idempotent and order-independent imports, all file formats."""

from __future__ import annotations

import gzip
import json
import random
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import NOW, lines
from vkurse_stats.config import Settings
from vkurse_stats.ingest.readers import read_file
from vkurse_stats.service import open_services

CONN = {
    "kind": "connection",
    "company_id": "acme",
    "event_id": "e1",
    "event_template": "meeting",
    "transport": "webrtc",
    "joined_at": "2026-03-05T10:00:00+03:00",
    "left_at": "2026-03-05T11:00:00+03:00",
}


def conn(i: int, **kw: Any) -> dict[str, Any]:
    return {**CONN, "id": f"c{i}", **kw}


@pytest.mark.parametrize(
    ("record", "field", "reason"),
    [
        (conn(1, joined_at="2026-03-05T10:00:00"), "joined_at", "no UTC offset"),
        ({"kind": "meeting", "id": "x"}, "kind", "unknown kind 'meeting'"),
        (conn(1, transport="sip"), "transport", "expected one of: webrtc, webrtmp"),
        (conn(1, left_at="2026-03-05T09:00:00+03:00"), "left_at", "joined_at is after left_at"),
        ({"kind": "file", "id": "f", "company_id": "acme", "size_bytes": -5, "uploaded_at": 0}, "size_bytes", "from 0"),
        (
            {"kind": "user", "id": "u", "company_id": "acme"},
            "registered_at",
            "required field 'registered_at' is missing",
        ),
        ({k: v for k, v in conn(1).items() if k != "company_id"}, "company_id", "missing"),
        (conn(1, call_id="k1"), "event_id", "exactly one of event_id and call_id"),
        ({k: v for k, v in conn(1).items() if k != "event_template"}, "event_template", "required with event_id"),
        (conn(1, client="Web Browser"), "client", "matching regex"),
        ({"kind": "company", "id": "x", "name": "X", "timezone": "Mars/Olympus"}, "timezone", "unknown timezone"),
        (conn(1, joined_at=True), "joined_at", "Expected"),
        (conn(1, joined_at=10**17), "joined_at", "instant out of range"),  # epoch ms past the year 2099
    ],
)
def test_each_bad_record_is_rejected_with_line_field_and_reason(
    svc: Any, record: dict[str, Any], field: str, reason: str
) -> None:
    good = conn(2)
    result = svc.ingest_lines(lines(good, record, conn(3)))
    assert (result.accepted, result.rejected) == (2, 1)
    [err] = result.errors
    assert (err.line, err.field) == (2, field)
    assert reason in err.error


def test_a_line_that_is_not_json_is_rejected_and_the_rest_kept(svc: Any) -> None:
    result = svc.ingest_lines([json.dumps(conn(1)), "{not json", "", json.dumps(conn(2))])
    assert result.as_json() == {
        "accepted": 2,
        "rejected": 1,
        "errors": [{"line": 2, "field": None, "error": result.errors[0].error}],
    }
    assert result.errors[0].error.startswith("not valid JSON")
    assert svc.query.summary("acme", date(2026, 3, 5), date(2026, 3, 5)).metrics["total.connections"].value == 2


def test_two_objects_on_one_line_are_rejected_also_beside_a_blank_last_line(svc: Any) -> None:
    """A block whose line count Arrow cannot confirm goes line by line (here the blank last line
    could hide the extra object from a count of rows against lines)."""
    one, two, three = (json.dumps(conn(i)).encode() for i in (1, 2, 3))
    result = svc.ingest_lines([one, two + three, b""])
    assert (result.accepted, result.rejected) == (1, 1)
    assert result.errors[0].line == 2


def test_unknown_company_is_created_with_defaults(svc: Any) -> None:
    svc.ingest_lines(lines(conn(1, company_id="newco")))
    info = svc.meta.company("newco")
    assert (info.name, info.timezone) == ("newco", "Europe/Moscow")


def test_a_scoped_writer_cannot_write_another_company(svc: Any) -> None:
    result = svc.ingest_lines(lines(conn(1), conn(2, company_id="other")), company_scope="acme")
    assert (result.accepted, result.rejected) == (1, 1)
    assert result.errors[0].field == "company_id" and "only write company 'acme'" in result.errors[0].error
    assert svc.meta.company("other") is None


def test_closed_version_replaces_open_one_and_never_the_reverse(svc: Any) -> None:
    open_ = {k: v for k, v in conn(1).items() if k != "left_at"}
    svc.ingest_lines(lines(conn(1)))
    svc.ingest_lines(lines(open_))  # late, stale "open" version: must not reopen the connection
    day = svc.query.daily("acme", date(2026, 3, 5), date(2026, 3, 5))[0]
    assert day.metrics["total.connections"].value == 1
    events = svc.query.events("acme", date(2026, 3, 5), date(2026, 3, 5)).rows
    assert events[0]["duration_s"] == 3600
    # A corrected closed version replaces the earlier closed one.
    svc.ingest_lines(lines(conn(1, left_at="2026-03-05T10:30:00+03:00")))
    assert svc.query.events("acme", date(2026, 3, 5), date(2026, 3, 5)).rows[0]["duration_s"] == 1800


def _records(n: int) -> list[dict[str, Any]]:
    rng = random.Random(7)
    out: list[dict[str, Any]] = [{"kind": "company", "id": "acme", "name": "ACME", "timezone": "Asia/Vladivostok"}]
    for i in range(n):
        start = 1772690000000 + rng.randrange(0, 3 * 86400) * 1000
        rec = conn(
            i,
            joined_at=start,
            left_at=start + rng.randrange(0, 7200) * 1000,
            event_id=f"e{rng.randrange(30)}",
            client=rng.choice(["web", "ios", "sip"]),
            user_id=rng.choice([None, "u1", "u2", "u3"]),
        )
        if rec["user_id"] is None:
            del rec["user_id"]
        if rng.random() < 0.3:
            out.append({k: v for k, v in rec.items() if k != "left_at"})  # the open version first
        out.append(rec)
    out += [
        {
            "kind": "file",
            "id": f"f{i}",
            "company_id": "acme",
            "size_bytes": 100 * i,
            "uploaded_at": 1772690000000 + i * 3600_000,
        }
        for i in range(20)
    ]
    return out


def _figures(svc: Any) -> Any:
    d0, d1 = date(2026, 3, 4), date(2026, 3, 9)
    return (
        svc.query.summary("acme", d0, d1).as_json(),
        [d.as_json("UTC") for d in svc.query.daily("acme", d0, d1)],
        svc.query.events("acme", d0, d1, limit=1000).rows,
    )


def test_same_figures_in_order_twice_shuffled_and_in_small_batches(make_services: Any, tmp_path: Path) -> None:
    recs = _records(300)
    ordered = make_services(data_dir=tmp_path / "a")
    ordered.ingest_lines(lines(*recs))
    expected = _figures(ordered)

    twice = make_services(data_dir=tmp_path / "b")
    twice.ingest_lines(lines(*recs))
    twice.ingest_lines(lines(*recs))
    assert _figures(twice) == expected

    # Shuffled, in batches of 7: the open version may now arrive after the closed one.
    shuffled = recs[:1] + random.Random(3).sample(recs[1:], len(recs) - 1)
    batched = make_services(data_dir=tmp_path / "c")
    for i in range(0, len(shuffled), 7):
        batched.ingest_lines(lines(*shuffled[i : i + 7]))
    assert _figures(batched) == expected

    for cid in ("acme",):
        batched.rollups.rebuild(cid)
    assert _figures(batched) == expected


def test_csv_parquet_gzip_and_jsonl_files_give_the_same_result(svc: Any, tmp_path: Path) -> None:
    rows = [conn(i, joined_at=f"2026-03-05T1{i}:00:00+03:00", left_at=f"2026-03-05T1{i}:30:00+03:00") for i in range(3)]
    jsonl = tmp_path / "c.jsonl.gz"
    with gzip.open(jsonl, "wt") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)
    csv_path = tmp_path / "c.csv"
    cols = ["id", "company_id", "event_id", "event_template", "transport", "joined_at", "left_at", "user_id"]
    csv_path.write_text(
        ";".join(cols)
        + "\n"
        + "\n".join(";".join(str(r.get(c, "")) for c in cols) for r in rows)
        + "\n"
        + "bad;acme;e1;meeting;webrtc;nope;;\n"
    )
    pq.write_table(pa.Table.from_pylist([{c: r.get(c) for c in cols} for r in rows]), tmp_path / "c.parquet")
    ing = svc.ingestor()
    read_file(ing, str(jsonl))
    read_file(ing, str(csv_path), kind="connection")
    read_file(ing, str(tmp_path / "c.parquet"), kind="connection")
    result = ing.finish()
    assert (result.accepted, result.rejected) == (9, 1)
    assert (result.errors[0].line, result.errors[0].field, result.errors[0].source) == (5, "joined_at", str(csv_path))
    assert svc.query.summary("acme", date(2026, 3, 5), date(2026, 3, 5)).metrics["total.connections"].value == 1


def test_csv_company_limits_use_dotted_columns(svc: Any, tmp_path: Path) -> None:
    p = tmp_path / "companies.csv"
    p.write_text("id,name,timezone,limits.concurrent_speakers,limits.storage_bytes\nacme,ACME,UTC,25,\n")
    ing = svc.ingestor()
    read_file(ing, str(p), kind="company")
    assert ing.finish().accepted == 1
    assert svc.meta.company("acme").limits["concurrent_speakers"] == 25
    assert svc.meta.company("acme").limits["storage_bytes"] is None


def _parquet_rows() -> list[dict[str, Any]]:
    rows = [
        conn(
            i,
            joined_at=f"2026-03-05T1{i % 10}:00:00+03:00",
            left_at=f"2026-03-05T1{i % 10}:30:00+03:00",
            user_id=f"u{i % 3}",
            client="web",
        )
        for i in range(40)
    ]
    rows += [
        conn(40 + i, event_id=None, call_id=f"k{i}", event_template=None, joined_at=1772690000000 + i, left_at=None)
        for i in range(5)
    ]
    keys = sorted({k for r in rows for k in r})
    return [{k: r.get(k) for k in keys} for r in rows]  # every column in every row


def test_parquet_fast_path_equals_row_path(make_services: Any, tmp_path: Path) -> None:
    rows = _parquet_rows()
    for r in rows:  # one Parquet column holds one type: epoch ms as text would not fit beside ISO
        r["joined_at"] = r["joined_at"] if isinstance(r["joined_at"], str) else "2026-03-05T08:00:00Z"
    path = tmp_path / "fast.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    fast = make_services(data_dir=tmp_path / "fast")
    ing = fast.ingestor()
    read_file(ing, str(path), kind="connection")
    assert ing.finish().as_json() == {"accepted": 45, "rejected": 0, "errors": []}
    slow = make_services(data_dir=tmp_path / "slow")
    slow.ingest_lines(lines(*({k: v for k, v in r.items() if v is not None} for r in rows)))
    assert _day(fast) == _day(slow)


def test_parquet_batch_with_a_bad_row_reports_it_and_keeps_the_rest(svc: Any, tmp_path: Path) -> None:
    rows = _parquet_rows()[:10]
    rows[3] = {**rows[3], "joined_at": "2026-03-05T10:00:00"}  # naive
    rows[6] = {**rows[6], "transport": "pigeon"}
    path = tmp_path / "mixed.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    ing = svc.ingestor()
    read_file(ing, str(path), kind="connection")
    result = ing.finish()
    assert (result.accepted, result.rejected) == (8, 2)
    assert [(e.line, e.field) for e in result.errors] == [(4, "joined_at"), (7, "transport")]


def _day(svc: Any) -> Any:
    d = date(2026, 3, 5)
    return svc.query.summary("acme", d, d).as_json()["metrics"], svc.query.daily("acme", d, d)[0].clients


def test_parquet_fast_path_accepts_clean_batches_with_nulls(tmp_path: Path) -> None:
    from vkurse_stats.ingest import fastpath

    rows = [
        {**r, "joined_at": str(r["joined_at"]) if isinstance(r["joined_at"], str) else "2026-03-05T08:00:00Z"}
        for r in _parquet_rows()
    ]
    path = tmp_path / "p.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    table, doubtful = fastpath.validate("connection", next(pq.ParquetFile(path).iter_batches()))
    assert table is not None and not doubtful.any()
    assert table.num_rows == 45 and table.column("parent_kind").to_pylist()[-1] == 1


def test_an_unchanged_resend_touches_nothing_and_a_changed_one_recomputes(svc: Any) -> None:
    from vkurse_stats.ingest.pipeline import _drop_unchanged

    svc.ingest_lines(lines(conn(1), conn(2)))
    ing = svc.ingestor()
    ing.add_lines(lines(conn(1), conn(2, left_at="2026-03-05T10:15:00+03:00")))
    ing.flush()
    # conn 1 is identical: only conn 2 counts as touched
    assert ing.touched.parent_table("acme").num_rows == 1
    ing.finish()
    events = svc.query.events("acme", date(2026, 3, 5), date(2026, 3, 5)).rows
    assert events[0]["duration_s"] == 3600 and events[0]["peak"] == 2
    from vkurse_stats.ingest.columns import to_table
    from vkurse_stats.records import decode_json

    stored = to_table("connection", [decode_json(x) for x in lines(conn(1), conn(2))], 0)
    again = to_table("connection", [decode_json(x) for x in lines(conn(1), conn(2, client="ios"))], 10)
    old, new = _drop_unchanged(stored, again)
    assert new.column("id").to_pylist() == ["c2"] and old.column("id").to_pylist() == ["c2"]


def _mixed_iso_records() -> list[dict[str, Any]]:
    """Valid records of every kind with ISO timestamps (what the columnar JSON path takes)."""
    rng = random.Random(11)
    day = "2026-03-05T{:02d}:{:02d}:00+03:00"
    out: list[dict[str, Any]] = [{"kind": "company", "id": "acme", "name": "ACME", "timezone": "Asia/Yekaterinburg"}]
    out += [
        {"kind": "user", "id": f"u{i}", "company_id": "acme", "registered_at": day.format(1, i), "name": f"User {i}"}
        for i in range(5)
    ]
    out += [
        {
            "kind": "event",
            "id": f"e{i}",
            "company_id": "acme",
            "template": "webinar" if i % 2 else "meeting",
            "title": f"=cmd() {i}",
            "organizer_id": "u1",
            "created_at": day.format(2, i),
            "scheduled_start": f"2026-07-0{i + 1}T10:00:00Z",
        }
        for i in range(4)
    ]
    out.append({"kind": "call", "id": "k1", "company_id": "acme", "started_at": day.format(9, 0), "type": "group"})
    for i in range(200):
        h, m = 8 + rng.randrange(10), rng.randrange(60)
        rec = conn(
            i,
            joined_at=day.format(h, m),
            left_at=day.format(h + 1, m),
            event_id=f"e{rng.randrange(4)}",
            event_template="meeting",
            transport=rng.choice(["webrtc", "webrtmp"]),
            client=rng.choice(["web", "ios"]),
        )
        if i % 10 == 0:
            rec = {k: v for k, v in rec.items() if k not in ("event_id", "event_template")} | {"call_id": "k1"}
        if i % 3:
            rec["user_id"] = f"u{rng.randrange(5)}"
        if i % 4 == 0:
            out.append({k: v for k, v in rec.items() if k != "left_at"})  # open first, closed later
        out.append(rec)
    out += [
        {
            "kind": "login",
            "id": f"l{i}",
            "company_id": "acme",
            "user_id": "u2",
            "at": day.format(7, i),
            "client": "desktop",
            "device": "Windows 11",
        }
        for i in range(3)
    ]
    out += [{"kind": "message", "id": f"m{i}", "company_id": "acme", "sent_at": day.format(12, i)} for i in range(7)]
    out += [
        {
            "kind": "file",
            "id": f"f{i}",
            "company_id": "acme",
            "size_bytes": 1000 * i,
            "owner_id": "u3",
            "uploaded_at": day.format(13, i),
        }
        for i in range(6)
    ]
    return out


def test_json_lines_columnar_path_equals_line_path(make_services: Any, tmp_path: Path) -> None:
    """Clean JSON lines are parsed and validated per column; the figures and tables must be
    exactly those of the line-by-line path."""
    from vkurse_stats.ingest.jsonl import jsonl_tables

    recs = _mixed_iso_records()
    body = lines(*recs)
    tables = jsonl_tables(body)
    assert tables is not None and tables[0] == [0]
    assert sorted(tables[1]) == ["call", "connection", "event", "file", "login", "message", "user"]
    assert jsonl_tables([*body, b'{"kind": "message", "id": "m", "company_id": "acme", "sent_at": 5}']) is None

    fast = make_services(data_dir=tmp_path / "fast")
    assert fast.ingest_lines(body).as_json() == {"accepted": len(recs), "rejected": 0, "errors": []}
    slow = make_services(data_dir=tmp_path / "slow")
    ing = slow.ingestor()
    for n, raw in enumerate(body, start=1):
        ing.add_json(n, raw)  # the per-line path
    assert ing.finish().accepted == len(recs)
    march = date(2026, 3, 1), date(2026, 3, 31)
    assert fast.query.company("acme").timezone == "Asia/Yekaterinburg"
    for q in (fast.query, slow.query):
        assert q.summary("acme", *march).as_json()["metrics"]["total.held"]["value"] == 5
    assert fast.query.summary("acme", *march).as_json() == slow.query.summary("acme", *march).as_json()
    assert [d.as_json("UTC") for d in fast.query.daily("acme", *march)] == [
        d.as_json("UTC") for d in slow.query.daily("acme", *march)
    ]
    for table, args in (("events", march), ("devices", march), ("planned", ()), ("disk", ())):
        rows = getattr(fast.query, table)("acme", *args).rows
        assert rows and rows == getattr(slow.query, table)("acme", *args).rows


def test_many_small_batches_find_the_versions_they_replace(
    make_services: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a bulk import, single records arrive one request at a time (a live platform): re-sent
    versions, versions moved to other days, new records. The DuckDB store then finds stored
    versions and event stats through its key indexes; figures must equal one ordered import of
    the same versions, whether a batch's events were recomputed from its days' window (they lie
    within it) or alone (a version moved them days away)."""
    from vkurse_stats.metrics.rollup import Rollups

    paths: list[bool] = []
    in_one_window = Rollups._apply_in_one_window

    def spy(self: Rollups, *args: Any) -> bool:
        paths.append(in_one_window(self, *args))
        return paths[-1]

    monkeypatch.setattr(Rollups, "_apply_in_one_window", spy)
    rng = random.Random(5)
    base = [
        conn(i, joined_at=f"2026-03-0{1 + i % 5}T{8 + i % 9:02d}:00:00+03:00", left_at=None, event_id=f"e{i % 60}")
        for i in range(200)
    ]
    base = [{k: v for k, v in r.items() if v is not None} for r in base]
    later: list[dict[str, Any]] = []
    for n in range(40):
        r = dict(rng.choice(base))
        day, hour = 1 + rng.randrange(9), 8 + rng.randrange(9)
        if n % 3 == 0:  # the same connection, now on another day
            r["joined_at"] = f"2026-03-0{day}T{hour:02d}:00:00+03:00"
        elif n % 3 == 1:
            r["id"] = f"new{n}"
        r["left_at"] = r["joined_at"].replace(f"T{r['joined_at'][11:13]}", f"T{int(r['joined_at'][11:13]) + 1:02d}")
        later.append(r)
    live = make_services(data_dir=tmp_path / "live")
    live.ingest_lines(lines(*base))
    for r in later:
        assert live.ingest_lines(lines(r)).accepted == 1
    if live.analytics.backend == "duckdb":
        assert {"connection", "parent_stats"} <= live.analytics._keys.keys()  # the index paths were taken
    assert True in paths and False in paths  # both ways of recomputing a batch's events were taken
    ref = make_services(data_dir=tmp_path / "ref")
    ref.ingest_lines(lines(*base, *later))
    march = date(2026, 3, 1), date(2026, 3, 31)
    assert live.query.summary("acme", *march).as_json() == ref.query.summary("acme", *march).as_json()
    assert [d.as_json("UTC") for d in live.query.daily("acme", *march)] == [
        d.as_json("UTC") for d in ref.query.daily("acme", *march)
    ]
    assert live.query.events("acme", *march).rows == ref.query.events("acme", *march).rows


def test_indexes_prepared_at_a_server_start_serve_its_first_writes(tmp_path: Path) -> None:
    """A server builds its key indexes at start; its first small writes use them and find the
    versions and event stats they replace."""
    base = [conn(i, event_id=f"e{i % 9}") for i in range(60)]
    moved = [conn(i, event_id=f"e{i % 9}", left_at="2026-03-05T12:00:00+03:00") for i in range(0, 60, 7)]
    ref = open_services(Settings(data_dir=tmp_path / "ref", fixed_now=NOW))
    ref.ingest_lines(lines(*base, *moved))
    svc = open_services(Settings(data_dir=tmp_path / "live", fixed_now=NOW))
    svc.ingest_lines(lines(*base))
    svc.close()
    svc = open_services(Settings(data_dir=tmp_path / "live", fixed_now=NOW))
    try:
        svc.analytics.prepare_indexes(min_rows=1)
        assert {"connection", "parent_stats"} <= svc.analytics._keys.keys()
        for r in moved:
            svc.ingest_lines(lines(r))
        day = date(2026, 3, 5), date(2026, 3, 5)
        assert svc.query.summary("acme", *day).as_json() == ref.query.summary("acme", *day).as_json()
        assert svc.query.events("acme", *day).rows == ref.query.events("acme", *day).rows
    finally:
        svc.close()
        ref.close()


def test_a_batch_of_two_companies_replaces_only_each_ones_own_versions(svc: Any) -> None:
    beta = {"company_id": "beta"}
    svc.ingest_lines(lines(conn(1), conn(1, **beta)))
    shorter = conn(1, **beta, left_at="2026-03-05T10:30:00+03:00")
    svc.ingest_lines(lines(conn(1), shorter, conn(2, **beta, left_at="2026-03-05T10:20:00+03:00")))
    day = date(2026, 3, 5)
    assert [r["duration_s"] for r in svc.query.events("acme", day, day).rows] == [3600]
    assert [r["duration_s"] for r in svc.query.events("beta", day, day).rows] == [1800]
    assert svc.query.summary("beta", day, day).metrics["total.connections"].value == 2


def test_an_unchanged_version_is_matched_on_its_company_and_id_not_on_a_joined_text() -> None:
    from vkurse_stats.ingest.columns import to_table
    from vkurse_stats.ingest.pipeline import _drop_unchanged
    from vkurse_stats.records import decode_json

    stored = to_table("connection", [decode_json(x) for x in lines(conn(1, id="b\x1fc", company_id="a"))], 0)
    other = to_table("connection", [decode_json(x) for x in lines(conn(1, id="c", company_id="a\x1fb"))], 1)
    old, new = _drop_unchanged(stored, other)
    assert old.num_rows == 1 and new.num_rows == 1
    old, new = _drop_unchanged(stored, stored)
    assert old.num_rows == 0 and new.num_rows == 0


def test_a_file_of_many_blocks_is_read_ahead_with_its_line_numbers(
    make_services: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Blocks after the first are parsed in the read-ahead thread (a file's in chunks of whole
    lines, from their text): errors keep their line numbers and the figures equal those of a
    one-block import."""
    from vkurse_stats.ingest import pipeline

    recs = _mixed_iso_records()
    body = lines(*recs)
    body.insert(9, b"not json")
    body.insert(20, json.dumps(conn(99, transport="sip")).encode())
    single = make_services(data_dir=tmp_path / "one")
    one = single.ingest_lines(body).as_json()
    monkeypatch.setattr(pipeline, "JSON_BLOCK", 4)
    monkeypatch.setattr(pipeline, "JSON_BLOCK_BYTES", 300)  # a file is read in chunks of a few lines
    path = tmp_path / "many.jsonl"
    path.write_bytes(b"\n".join(body) + b"\n")
    many = make_services(data_dir=tmp_path / "many")
    ing = many.ingestor()
    read_file(ing, str(path))
    result = ing.finish().as_json()
    assert [(e["line"], e["field"]) for e in result["errors"]] == [(10, None), (21, "transport")]
    assert [(e["line"], e["field"]) for e in one["errors"]] == [(10, None), (21, "transport")]
    assert result["accepted"] == one["accepted"] == len(recs)
    listed = make_services(data_dir=tmp_path / "listed")  # many blocks of a list of lines
    assert listed.ingest_lines(body).as_json() == one
    march = date(2026, 3, 1), date(2026, 3, 31)
    assert many.query.summary("acme", *march).as_json() == single.query.summary("acme", *march).as_json()
    assert listed.query.summary("acme", *march).as_json() == single.query.summary("acme", *march).as_json()


@pytest.mark.parametrize("chunk", [1, 97, 1 << 23])
def test_a_file_in_chunks_keeps_blank_lines_crlf_and_an_unterminated_last_line(
    svc: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    from vkurse_stats.ingest import pipeline

    body = lines(conn(1), conn(2), conn(3, transport="sip"), conn(4), conn(5), conn(6, transport="x"))
    # Blank lines, CRLF, a whitespace-only line and no newline at the end.
    data = body[0] + b"\r\n\r\n" + body[1] + b"\n  \n" + body[2] + b"\r\n" + b"\n".join(body[3:])
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(data)
    monkeypatch.setattr(pipeline, "JSON_BLOCK_BYTES", chunk)
    ing = svc.ingestor()
    read_file(ing, str(path))
    result = ing.finish().as_json()
    assert result["accepted"] == 4
    assert [(e["line"], e["field"]) for e in result["errors"]] == [(5, "transport"), (8, "transport")]


@pytest.mark.parametrize("chunk", [150, 1 << 23])
def test_a_scoped_writer_reading_a_file_gets_the_per_line_scope_step(
    svc: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    from vkurse_stats.ingest import pipeline

    path = tmp_path / "scoped.jsonl"
    path.write_bytes(b"\n".join(lines(*(conn(i, company_id="other" if i == 3 else "acme") for i in range(6)))))
    monkeypatch.setattr(pipeline, "JSON_BLOCK_BYTES", chunk)
    ing = svc.ingestor(company_scope="acme")
    read_file(ing, str(path))
    result = ing.finish()
    assert (result.accepted, result.rejected) == (5, 1)
    assert (result.errors[0].line, result.errors[0].field) == (4, "company_id")
    assert svc.meta.company("other") is None


def test_deferred_rollups_that_fail_are_queued_again(svc: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A deferred apply that fails is rolled back and queued again: the next read applies it."""
    from vkurse_stats.metrics.rollup import Rollups

    svc.ingest_lines(lines(conn(1)))
    svc.ingest_lines(lines(conn(2, left_at="2026-03-05T12:00:00+03:00")), defer_rollups=True)
    real_apply = Rollups._apply

    def failing(self: Rollups, *args: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(Rollups, "_apply", failing)
    with pytest.raises(OSError, match="disk full"):
        svc.rollups.catch_up()
    monkeypatch.setattr(Rollups, "_apply", real_apply)
    day = date(2026, 3, 5)
    assert svc.query.summary("acme", day, day).metrics["total.connections"].value == 2
    assert [r["duration_s"] for r in svc.query.events("acme", day, day).rows] == [7200]


def test_bulk_batches_write_whole_append_units_and_the_same_figures(
    make_services: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An import's batches keep a kind's last partial unit (a DuckDB row group) for the next one;
    records replaced across that cut, in any order, give the figures of one ordered import."""
    from vkurse_stats.ingest import pipeline

    recs = _records(300)
    ordered = make_services(data_dir=tmp_path / "a")
    ordered.ingest_lines(lines(*recs))
    expected = _figures(ordered)

    shuffled = recs[:1] + random.Random(5).sample(recs[1:], len(recs) - 1)
    cut = make_services(data_dir=tmp_path / "b")
    monkeypatch.setattr(cut.analytics, "APPEND_UNIT", 4, raising=False)
    written: list[int] = []
    write = pipeline.Ingestor._write

    def spy(self: Any, kind: str, table: Any) -> None:
        written.append(table.num_rows)
        write(self, kind, table)

    monkeypatch.setattr(pipeline.Ingestor, "_write", spy)
    ing = cut.ingestor(batch_size=7)
    ing.add_lines(lines(*shuffled))
    batches = len(written)
    ing.finish()
    assert batches > 10 and all(n % 4 == 0 or n < 4 for n in written[:batches])
    assert _figures(cut) == expected
