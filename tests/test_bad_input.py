"""Hostile input: each bad line gets one error (line, field, reason) and the good lines beside it
are stored, on the fast (columnar) and the line-by-line path, for JSON Lines, CSV and Parquet,
through the service and through the CLI. Counts are read back from the real DuckDB store."""

from __future__ import annotations

import gzip
import json
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from tests.conftest import NOW, lines
from tests.test_ingest import CONN
from vkurse_stats.cli import cli
from vkurse_stats.ingest import jsonl
from vkurse_stats.ingest.readers import read_file
from vkurse_stats.records import INSTANT_RANGE, MAX_DEPTH, RecordError, decode_json
from vkurse_stats.store.schema import TABLES


@pytest.fixture
def backend() -> str:
    """The rules are the ingest's, the same for every store: checked on the embedded one."""
    return "duckdb"


def conn(i: int | str, **kw: Any) -> dict[str, Any]:
    return {**CONN, "id": f"c{i}", **kw}


def raw(rec: dict[str, Any]) -> bytes:
    return json.dumps(rec, ensure_ascii=False).encode()


def stored(svc: Any, kind: str = "connection") -> int:
    return int(svc.analytics.rows(f"SELECT count(*) FROM {TABLES[kind].table}")[0][0])


GOOD = raw(conn("good"))
DEEP = b"[" * 1200 + b"]" * 1200
BAD_LINES: dict[str, tuple[bytes, str | None, str]] = {
    "size beyond int64": (
        b'{"kind":"file","id":"f9","company_id":"acme","size_bytes":9223372036854775808,"uploaded_at":0}',
        "size_bytes",
        "from 0 to 9007199254740991",
    ),
    "size past 2^53 - 1": (
        b'{"kind":"file","id":"f9","company_id":"acme","size_bytes":9007199254740992,"uploaded_at":0}',
        "size_bytes",
        "from 0 to 9007199254740991",
    ),
    "limit beyond int64": (
        b'{"kind":"company","id":"acme","name":"A","limits":{"concurrent_speakers":18446744073709551616}}',
        "limits.concurrent_speakers",
        "from 0 to 9007199254740991",
    ),
    "instant past 2099 (+14:00)": (raw(conn(9, joined_at="9999-12-31T23:59:59+14:00")), "joined_at", INSTANT_RANGE),
    "instant in the year 1": (raw(conn(9, joined_at="0001-01-01T00:00:00Z")), "joined_at", INSTANT_RANGE),
    "instant in the year 1 (+01:00)": (raw(conn(9, joined_at="0001-01-01T00:00:00+01:00")), "joined_at", INSTANT_RANGE),
    "instant before 1970": (raw(conn(9, joined_at="1969-12-31T23:59:59.999999Z")), "joined_at", INSTANT_RANGE),
    "instant at 2100": (raw(conn(9, left_at="2100-01-01T00:00:00Z")), "left_at", INSTANT_RANGE),
    "epoch ms before 1970": (raw(conn(9, joined_at=-1)), "joined_at", INSTANT_RANGE),
    "epoch ms at 2100": (raw(conn(9, left_at=4_102_444_800_000)), "left_at", INSTANT_RANGE),
    "epoch ms in 9999": (raw(conn(9, joined_at=253_402_300_799_999)), "joined_at", INSTANT_RANGE),
    "epoch ms beyond int64": (raw(conn(9, joined_at=2**64)), "joined_at", INSTANT_RANGE),
    "not UTF-8": (raw(conn(9, device="X")).replace(b'"X"', b'"\xff\xfe"'), None, "not valid UTF-8: byte 0xff"),
    "overlong UTF-8": (raw(conn(9, device="X")).replace(b'"X"', b'"\xc0\xaf"'), None, "not valid UTF-8: byte 0xc0"),
    "not UTF-8 in an ignored field": (raw(conn(9, extra="X")).replace(b'"X"', b'"\xff"'), None, "not valid UTF-8"),
    "nested 1200 deep": (raw(conn(9))[:-1] + b', "extra": ' + DEEP + b"}", None, "nested more than 32 levels"),
    "nested 33 deep": (
        raw(conn(9))[:-1] + b', "extra": ' + b"[" * 32 + b"]" * 32 + b"}",
        None,
        "nested more than 32 levels",
    ),
    "nested 1200 deep alone": (DEEP, None, "nested more than 32 levels"),
    "a field given twice": (raw(conn(9))[:-1] + b', "id": "c10"}', "id", "'id' is given twice"),
    "a field given twice, spaced": (
        raw(conn(9))[:-1] + b', "left_at" : "2026-03-05T10:30:00+03:00"}',
        "left_at",
        "'left_at' is given twice",
    ),
    "the kind given twice": (raw(conn(9))[:-1] + b', "kind": "file"}', "kind", "'kind' is given twice"),
    "a field given twice, escaped": (raw(conn(9))[:-1] + b', "\\u0069d": "c10"}', "id", "given twice"),
    "a limit given twice": (
        b'{"kind":"company","id":"acme","name":"A","limits":{"concurrent_speakers":1,"concurrent_speakers":2}}',
        "limits.concurrent_speakers",
        "given twice",
    ),
    "truncated": (raw(conn(9))[:-7], None, "not valid JSON"),
}


def _import(svc: Any, tmp_path: Path, body: list[bytes]) -> Any:
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"\n".join(body) + b"\n")
    ing = svc.ingestor()
    read_file(ing, str(path))
    return ing.finish()


@pytest.mark.parametrize("via", ["request", "file"])
@pytest.mark.parametrize("name", list(BAD_LINES))
def test_a_bad_line_gets_one_error_and_the_good_lines_beside_it_are_stored(
    svc: Any, tmp_path: Path, via: str, name: str
) -> None:
    bad, field, reason = BAD_LINES[name]
    body = [raw(conn(1)), bad, raw(conn(2))]
    result = svc.ingest_lines(body) if via == "request" else _import(svc, tmp_path, body)
    assert (result.accepted, result.rejected) == (2, 1), result.as_json()
    [err] = result.errors
    assert (err.line, err.field) == (2, field)
    assert reason in err.error
    assert stored(svc) == 2
    assert stored(svc, "file") == 0
    # Alone (a block of one line) it gets the same error, and nothing breaks.
    alone = svc.ingest_lines([bad])
    assert (alone.accepted, alone.rejected) == (0, 1)
    assert (alone.errors[0].field, alone.errors[0].error) == (err.field, err.error)
    assert stored(svc) == 2


def test_the_columnar_path_takes_only_what_the_line_path_takes_at_the_depth_limit() -> None:
    """A line nested exactly MAX_DEPTH deep in a field the record ignores is taken by both paths;
    one level more, by neither (Arrow alone would take any depth)."""
    at_limit = raw(conn(1))[:-1] + b', "extra": ' + b"[" * (MAX_DEPTH - 1) + b"]" * (MAX_DEPTH - 1) + b"}"
    deeper = raw(conn(2))[:-1] + b', "extra": ' + b"[" * MAX_DEPTH + b"]" * MAX_DEPTH + b"}"
    assert decode_json(at_limit).id == "c1"
    tables = jsonl.jsonl_tables([at_limit, GOOD])
    assert tables is not None and tables[1]["connection"].num_rows == 2
    with pytest.raises(RecordError, match="nested more than"):
        decode_json(deeper)
    assert jsonl.jsonl_tables([deeper, GOOD]) is None
    # Brackets inside strings do not count, on either path.
    title = raw(conn(3, device="[" * 100 + "{" * 100))
    assert decode_json(title).device.startswith("[[")
    assert jsonl.jsonl_tables([title] * 3) is not None


def test_a_field_the_record_does_not_have_may_repeat_on_both_paths(svc: Any) -> None:
    """Keys a record ignores are ignored, repeated or not: Arrow's columns then take the line too."""
    line = raw(conn(1))[:-1] + b', "extra": 1, "extra": {"a": 1, "a": 2}}'
    assert decode_json(line).id == "c1"
    assert jsonl.jsonl_tables([line, GOOD]) is not None
    assert svc.ingest_lines([line, GOOD]).as_json() == {"accepted": 2, "rejected": 0, "errors": []}


def test_instants_at_the_edges_of_the_range_are_stored_and_counted_on_both_paths(
    make_services: Any, tmp_path: Path
) -> None:
    """The first and last instants of the range, written with offsets and as epoch milliseconds,
    in companies whose days lie before 1970 (UTC-3) and after 2099 (UTC+14) locally."""
    early = [
        {"kind": "company", "id": "early", "name": "Early", "timezone": "America/Sao_Paulo"},
        conn("e1", company_id="early", joined_at="1969-12-31T21:00:00-03:00", left_at="1970-01-01T00:30:00Z"),
        conn("e2", company_id="early", joined_at=0, left_at=1_800_000),
    ]
    late = [
        {"kind": "company", "id": "late", "name": "Late", "timezone": "Pacific/Kiritimati"},
        conn("l1", company_id="late", joined_at="2099-12-31T23:00:00Z", left_at="2100-01-01T13:59:59.999999+14:00"),
        conn("l2", company_id="late", joined_at=4_102_441_200_000, left_at=4_102_444_799_999),
    ]
    figures = []
    for how in ("columnar", "line by line"):
        svc = make_services(data_dir=tmp_path / how.replace(" ", "-"))
        # A bad line sends its whole block line by line.
        extra = [b"{not json"] if how == "line by line" else []
        result = svc.ingest_lines(lines(*early) + lines(*late) + extra)
        assert (result.accepted, result.rejected) == (6, len(extra)), result.as_json()
        assert stored(svc) == 4
        instants = svc.analytics.rows("SELECT id, joined_at, left_at FROM connections ORDER BY id")
        first = svc.query.summary("early", date(1969, 12, 31), date(1969, 12, 31)).as_json()["metrics"]
        last = svc.query.summary("late", date(2100, 1, 1), date(2100, 1, 1)).as_json()["metrics"]
        figures.append((instants, first["total.connections"], last["total.connections"]))
    assert figures[0] == figures[1]
    instants, first, last = figures[0]
    assert [row[1:] for row in instants] == [
        (0, 1_800_000_000),
        (0, 1_800_000_000),
        (4_102_441_200_000_000, 4_102_444_799_999_999),
        (4_102_441_200_000_000, 4_102_444_799_999_000),
    ]
    assert first == {"value": 2, "at": "1969-12-31T21:00:00-03:00"}
    assert last == {"value": 2, "at": "2100-01-01T13:00:00+14:00"}


# --- CSV ------------------------------------------------------------------------------------
CSV_HEAD = "id,company_id,size_bytes,uploaded_at,name\n"


def _csv(svc: Any, tmp_path: Path, data: bytes, kind: str = "file") -> Any:
    path = tmp_path / "in.csv"
    path.write_bytes(data)
    ing = svc.ingestor()
    read_file(ing, str(path), kind=kind)
    return ing.finish()


@pytest.mark.parametrize(
    ("row", "field", "reason"),
    [
        (b"f2,acme,9223372036854775808,2026-03-05T10:00:00Z,big", "size_bytes", "from 0 to 9007199254740991"),
        (b"f2,acme,5,9999-12-31T23:59:59+14:00,late", "uploaded_at", "instant out of range"),
        (b"f2,acme,5,4102444800000,late", "uploaded_at", "instant out of range"),
        (b"f2,acme,5,2026-03-05T10:00:00Z,caf\xe9", "name", "not valid UTF-8: byte 0xe9"),
        (b"f2,acme,5,2026-03-05T10:00:00Z,x,one too many", None, "1 more cells than the header"),
        (b'f2,acme,5,2026-03-05T10:00:00Z,"' + b"x" * 140_000 + b'"', None, "field larger than field limit"),
    ],
)
def test_a_bad_csv_row_gets_one_error_and_the_rest_is_stored(
    svc: Any, tmp_path: Path, row: bytes, field: str | None, reason: str
) -> None:
    data = CSV_HEAD.encode() + b"f1,acme,1,2026-03-05T10:00:00Z,a\n" + row + b"\nf3,acme,3,1772690000000,c\n"
    result = _csv(svc, tmp_path, data)
    assert (result.accepted, result.rejected) == (2, 1), result.as_json()
    assert (result.errors[0].line, result.errors[0].field) == (3, field)
    assert reason in result.errors[0].error
    assert stored(svc, "file") == 2


def test_a_csv_limit_beyond_int64_rejects_its_company_row_only(svc: Any, tmp_path: Path) -> None:
    data = b"id,name,limits.concurrent_speakers\nacme,A,18446744073709551616\nglobex,G,5\n"
    result = _csv(svc, tmp_path, data, kind="company")
    assert (result.accepted, result.rejected) == (1, 1)
    assert (result.errors[0].line, result.errors[0].field) == (2, "limits.concurrent_speakers")
    assert svc.meta.company("acme") is None and svc.meta.company("globex").limits["concurrent_speakers"] == 5


def test_a_csv_header_that_names_a_column_twice_is_refused_as_a_whole(svc: Any, tmp_path: Path) -> None:
    result = _csv(svc, tmp_path, b"id,company_id,size_bytes,uploaded_at,id\nf1,acme,1,0,f2\n")
    assert (result.accepted, result.rejected, result.unreadable) == (0, 1, [str(tmp_path / "in.csv")])
    assert (result.errors[0].line, result.errors[0].field) == (1, None)
    assert "the header names column 'id' twice" in result.errors[0].error
    assert stored(svc, "file") == 0


# --- Parquet --------------------------------------------------------------------------------
def _parquet(svc: Any, tmp_path: Path, table: pa.Table, kind: str = "connection") -> Any:
    path = tmp_path / "in.parquet"
    pq.write_table(table, path)
    ing = svc.ingestor()
    read_file(ing, str(path), kind=kind)
    return ing.finish()


def _files(sizes: pa.Array) -> pa.Table:
    n = len(sizes)
    return pa.table(
        {
            "id": [f"f{i}" for i in range(n)],
            "company_id": ["acme"] * n,
            "size_bytes": sizes,
            "uploaded_at": ["2026-03-05T10:00:00Z"] * n,
        }
    )


def test_a_parquet_uint64_beyond_int64_rejects_its_row_only(svc: Any, tmp_path: Path) -> None:
    sizes = pa.array([1, 2**64 - 1, 2**53 - 1, 2**63], pa.uint64())
    result = _parquet(svc, tmp_path, _files(sizes), kind="file")
    assert (result.accepted, result.rejected) == (2, 2)
    assert [(e.line, e.field) for e in result.errors] == [(2, "size_bytes"), (4, "size_bytes")]
    assert svc.analytics.rows("SELECT size_bytes FROM files ORDER BY id") == [(1,), (2**53 - 1,)]
    usage = svc.query.summary("acme", date(2026, 3, 5), date(2026, 3, 5)).as_json()["metrics"]
    assert usage["storage.uploaded_bytes"]["value"] == 2**53


def test_a_clean_parquet_uint64_column_takes_the_columnar_path() -> None:
    from vkurse_stats.ingest import fastpath

    batch = _files(pa.array([0, 2**53 - 1], pa.uint64())).to_batches()[0]
    table, doubtful = fastpath.validate("file", batch)
    assert table is not None and table.column("size_bytes").to_pylist() == [0, 2**53 - 1]


def _connections(joined: pa.Array) -> pa.Table:
    n = len(joined)
    return pa.table(
        {
            "id": [f"c{i}" for i in range(n)],
            "company_id": ["acme"] * n,
            "event_id": ["e1"] * n,
            "event_template": ["meeting"] * n,
            "transport": ["webrtc"] * n,
            "joined_at": joined,
        }
    )


T0 = 1_772_694_000  # 2026-03-05T07:00:00Z


@pytest.mark.parametrize(
    ("joined", "bad_rows"),
    [
        # seconds whose microseconds overflow int64, and one before 1970
        (pa.array([T0, 10**13, -1, T0 + 60], pa.timestamp("s", tz="UTC")), [2, 3]),
        # microseconds far past the year 9999 (Python cannot hold them), naive or not
        (pa.array([T0 * 10**6, 2**62, T0 * 10**6 + 1], pa.timestamp("us", tz="UTC")), [2]),
        (pa.array([T0 * 10**6, 2**62, T0 * 10**6 + 1], pa.timestamp("us")), [1, 2, 3]),
    ],
)
def test_parquet_instants_out_of_range_reject_their_rows_only(
    svc: Any, tmp_path: Path, joined: pa.Array, bad_rows: list[int]
) -> None:
    result = _parquet(svc, tmp_path, _connections(joined))
    assert result.rejected == len(bad_rows) and result.accepted == len(joined) - len(bad_rows)
    assert [e.line for e in result.errors] == bad_rows
    assert {e.field for e in result.errors} == {"joined_at"}
    naive = joined.type.tz is None
    assert all(("no UTC offset" if naive and e.line != 2 else "instant out of range") in e.error for e in result.errors)
    assert stored(svc) == len(joined) - len(bad_rows)


def test_parquet_nanoseconds_are_cut_to_microseconds_alike_on_both_paths(make_services: Any, tmp_path: Path) -> None:
    ns = T0 * 10**9 + 123_456_789
    clean = _connections(pa.array([ns, ns + 1000], pa.timestamp("ns", tz="UTC")))
    mixed = pa.concat_tables(
        [clean, _connections(pa.array([ns], pa.timestamp("ns", tz="UTC"))).set_column(4, "transport", pa.array(["x"]))]
    )
    values = []
    for name, table in (("fast", clean), ("rows", mixed)):
        svc = make_services(data_dir=tmp_path / name)
        result = _parquet(svc, tmp_path, table.slice(0, 2) if name == "fast" else table)
        assert result.accepted == 2
        values.append(svc.analytics.rows("SELECT joined_at FROM connections ORDER BY joined_at"))
    assert values[0] == values[1] == [(T0 * 10**6 + 123_456,), (T0 * 10**6 + 123_457,)]


# --- the command line -----------------------------------------------------------------------
@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("VKURSE_STATS_NOW", NOW)

    def invoke(*args: str) -> Any:
        result = CliRunner().invoke(cli, ["--data-dir", str(tmp_path / "data"), *args])
        assert "Traceback" not in result.output, result.output
        assert result.exception is None or isinstance(result.exception, SystemExit), result.output
        return result

    return invoke


def _stored_by_cli(run: Any) -> Any:
    res = run("report", "--company", "acme", "--from", "2026-03-05", "--to", "2026-03-05")
    return json.loads(res.output)["metrics"]["total.connections"]["value"]


def test_cli_names_the_line_of_a_byte_that_is_not_utf8_and_keeps_the_rest(run: Any, tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"\n".join([raw(conn(1)), raw(conn(2, device="X")).replace(b'"X"', b'"\xff"'), raw(conn(3))]))
    res = run("import", str(path))
    assert res.exit_code == 0
    assert res.output.splitlines() == [
        "accepted: 2, rejected: 1",
        f"  {path}:2: not valid UTF-8: byte 0xff at byte {raw(conn(2, device='X')).index(b'X') + 1}",
    ]
    assert _stored_by_cli(run) == 2


@pytest.mark.parametrize("bad", [name for name in BAD_LINES if "alone" not in name])
def test_cli_reports_each_bad_line_in_one_line(run: Any, tmp_path: Path, bad: str) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"\n".join([raw(conn(1)), BAD_LINES[bad][0], raw(conn(2))]) + b"\n")
    res = run("import", str(path), "--json")
    assert res.exit_code == 0
    body = json.loads(res.output)
    assert (body["accepted"], body["rejected"], body["errors"][0]["line"]) == (2, 1, 2)
    assert body["errors"][0]["field"] == BAD_LINES[bad][1]


def test_cli_keeps_the_lines_of_a_truncated_gzip_and_exits_non_zero(run: Any, tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl.gz"
    whole = gzip.compress(b"".join(raw(conn(i)) + b"\n" for i in range(2000)))
    path.write_bytes(whole[: len(whole) - 40])
    res = run("import", str(path))
    assert res.exit_code == 1
    [summary, error] = res.output.splitlines()
    accepted = int(summary.split(",")[0].removeprefix("accepted: "))
    assert 1500 < accepted < 2000 and summary.endswith("rejected: 1")
    assert error == f"  {path}:{accepted + 1}: the file cannot be read from this line on: " + (
        "Compressed file ended before the end-of-stream marker was reached"
    )


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("bad.parquet", b"this is not parquet", "the file cannot be read at all: "),
        ("bad.jsonl.gz", b"not gzip", "the file cannot be read from this line on: Not a gzipped file"),
    ],
)
def test_cli_a_file_that_cannot_be_read_is_one_line_and_exit_1(
    run: Any, tmp_path: Path, name: str, data: bytes, message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    res = run("import", str(path), "--kind", "connection")
    assert res.exit_code == 1
    summary, error = res.output.splitlines()
    assert summary == "accepted: 0, rejected: 1"
    assert error.startswith(f"  {path}:") and message in error


def test_cli_csv_without_kind_is_refused_before_anything_is_stored(run: Any, tmp_path: Path) -> None:
    good = tmp_path / "a.jsonl"
    good.write_bytes(raw(conn(1)) + b"\n")
    (tmp_path / "b.csv").write_text(CSV_HEAD)
    res = run("import", str(good), str(tmp_path / "b.csv"))
    assert res.exit_code == 1 and "b.csv: CSV and Parquet files hold one kind of record: give --kind" in res.output


def test_cli_import_audits_company_changes_as_import_and_a_scoped_import_keeps_settings(
    run: Any, tmp_path: Path
) -> None:
    from vkurse_stats.config import Settings
    from vkurse_stats.store.accounts import AccountStore
    from vkurse_stats.store.meta import MetaStore

    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    company = {"kind": "company", "id": "acme", "name": "ACME", "limits": {"concurrent_speakers": 5}}
    first.write_text(json.dumps(company) + "\n" + json.dumps(conn(1, company_id="newco")) + "\n")
    second.write_text(json.dumps({**company, "name": "ACME 2", "timezone": "UTC"}) + "\n")
    assert run("import", str(first)).exit_code == 0
    res = run("import", "--company", "acme", str(second))
    assert res.exit_code == 1 and res.output.splitlines() == [
        "accepted: 0, rejected: 1",
        f"  {second}:1 [timezone]: a writer scoped to company 'acme' may not change its timezone "
        "(Europe/Moscow -> UTC); support can",
    ]
    assert run("import", str(second)).exit_code == 0

    meta = MetaStore(Settings(data_dir=tmp_path / "data").resolved_database_url)
    try:
        entries = AccountStore(meta.engine).audit_entries()[0]
    finally:
        meta.close()
    assert [(e.actor, e.action, e.company_id) for e in entries] == [
        ("import", "company.update", "acme"),
        ("import", "company.create", "newco"),
        ("import", "company.create", "acme"),
    ]
    update = entries[0].detail
    assert (update["file"], update["line"], update["via"]) == (str(second), 1, "ingest")
    assert (update["before"]["name"], update["after"]["name"]) == ("ACME", "ACME 2")
    assert (update["before"]["timezone"], update["after"]["timezone"]) == ("Europe/Moscow", "UTC")
    assert entries[2].detail == {
        "company": {
            "id": "acme",
            "name": "ACME",
            "timezone": "Europe/Moscow",
            "limits": {
                "concurrent_speakers": 5,
                "concurrent_events": None,
                "concurrent_connections": None,
                "storage_bytes": None,
            },
        },
        "via": "ingest",
        "file": str(first),
        "line": 1,
    }
