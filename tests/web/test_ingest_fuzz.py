"""Ingest against a hostile writer, through the real HTTP app on a real DuckDB store.

A property test mixes good lines with spoiled ones (flipped bytes, huge numbers, extreme dates,
deep nesting, bytes that are not UTF-8, repeated keys, truncation, wrong types) and checks the
request and the file path against the line-by-line validator judging each line alone: no error
answer, every good record stored, one error per bad line with its line number; and that the
columnar path takes only what the line path takes, with the same values.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.web.conftest import bearer
from vkurse_stats.ingest import jsonl
from vkurse_stats.ingest.columns import to_table
from vkurse_stats.ingest.readers import read_file
from vkurse_stats.records import Record, RecordError, decode_json
from vkurse_stats.store.schema import TABLES

T0 = 1_772_690_000_000  # 2026-03-05, epoch milliseconds
OFFSETS = ["Z", "+03:00", "-05:30", "+14:00", "-12:00"]
EXTREME_INSTANTS: list[Any] = [
    "9999-12-31T23:59:59+14:00",
    "0001-01-01T00:00:00Z",
    "1969-12-31T23:59:59Z",
    "2100-01-01T00:00:00Z",
    "2099-12-31T23:59:59.999999Z",
    "1970-01-01T00:00:00Z",
    "2026-02-30T10:00:00Z",
    "2026-03-05T10:00:00",
    "2026-03-05T24:00:00Z",
    "2026-03-05T10:00:00.1234567+03:00",
    -1,
    0,
    4_102_444_799_999,
    4_102_444_800_000,
    2**63,
    -(2**63) - 1,
    10**30,
]
WRONG_VALUES: list[Any] = [None, True, 1.5, [], {}, "x", "", 10**20, -(10**20), {"a": [1]}, "9" * 300]
BAD_UTF8 = [b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\xe2\x82", b"\x80", b"\xf4\x90\x80\x80"]
UTF8_MARK = "~~utf~~"


def _iso(ms: int, offset: str) -> str:
    from datetime import UTC, datetime, timedelta, timezone

    if offset == "Z":
        return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    sign = -1 if offset[0] == "-" else 1
    tz = timezone(sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[4:])))
    return datetime.fromtimestamp(ms / 1000, tz).isoformat(timespec="milliseconds")


@st.composite
def good_records(draw: st.DrawFn, n: int) -> dict[str, Any]:
    def instant() -> Any:
        ms = T0 + draw(st.integers(0, 5 * 86_400_000))
        return ms if draw(st.booleans()) else _iso(ms, draw(st.sampled_from(OFFSETS)))

    kind = draw(st.sampled_from(["connection", "connection", "file", "message", "login", "user", "event", "call"]))
    base = {"kind": kind, "id": f"@@{n}", "company_id": "acme"}
    text = draw(st.sampled_from(["Windows 11", "Планёрка «Q1»", "[webinar] {x}", 'a "quoted" \\ word']))
    if kind == "connection":
        start = T0 + draw(st.integers(0, 86_400_000))
        parent = {"event_id": "e1", "event_template": "meeting"} if draw(st.booleans()) else {"call_id": "k1"}
        return {
            **base,
            **parent,
            "transport": draw(st.sampled_from(["webrtc", "webrtmp"])),
            "joined_at": start,
            "left_at": _iso(start + draw(st.integers(0, 7_200_000)), draw(st.sampled_from(OFFSETS))),
            "client": draw(st.sampled_from(["web", "ios", "sip"])),
            "device": text,
        }
    if kind == "file":
        return {**base, "size_bytes": draw(st.integers(0, 2**53 - 1)), "uploaded_at": instant(), "name": text}
    if kind == "message":
        return {**base, "sent_at": instant(), "chat_id": "ch1"}
    if kind == "login":
        return {**base, "user_id": "u1", "at": instant(), "client": "web", "device": text}
    if kind == "user":
        return {**base, "registered_at": instant(), "name": text}
    if kind == "event":
        return {**base, "template": "webinar", "title": text, "organizer_id": "u1", "created_at": instant()}
    return {**base, "started_at": instant(), "type": "group"}


@st.composite
def mutated(draw: st.DrawFn, n: int) -> tuple[dict[str, Any], tuple[Any, ...]]:
    """A good record and how its line is spoiled (which may leave it good: the oracle decides)."""
    rec = draw(good_records(n))
    field = draw(st.sampled_from(sorted(rec)))
    how = draw(st.sampled_from(["flip", "truncate", "huge", "instant", "deep", "utf8", "twice", "type"]))
    if how == "flip":
        byte = draw(st.integers(0, 255).filter(lambda b: b != 10))  # a newline would make two lines
        return rec, ("flip", draw(st.floats(0, 1, exclude_max=True)), byte)
    if how == "truncate":
        return rec, ("truncate", draw(st.floats(0, 1, exclude_max=True)))
    if how == "huge":
        big = draw(st.sampled_from([2**53, 2**63, 2**64, 10**40, -(2**63) - 1]))
        return {**rec, draw(st.sampled_from([field, "size_bytes", "joined_at"])): big}, ()
    if how == "instant":
        names = [f for f in rec if f.endswith("_at")] or [field]
        return {**rec, draw(st.sampled_from(names)): draw(st.sampled_from(EXTREME_INSTANTS))}, ()
    if how == "deep":
        depth = draw(st.sampled_from([31, 32, 33, 40, 1000, 3000]))
        return {**rec, "extra": "@deep"}, ("deep", depth, draw(st.booleans()))
    if how == "utf8":
        target = draw(st.sampled_from([field, "device", "extra"]))
        return {**rec, target: f"a{UTF8_MARK}b"}, ("utf8", draw(st.sampled_from(BAD_UTF8)))
    if how == "twice":
        return rec, ("twice", draw(st.sampled_from([field, "extra"])), draw(st.sampled_from(WRONG_VALUES[:7])))
    return {**rec, field: draw(st.sampled_from(WRONG_VALUES))}, ()


def render(rec: dict[str, Any], spoil: tuple[Any, ...], prefix: str) -> bytes:
    line = json.dumps(rec, ensure_ascii=False).replace('"@@', f'"{prefix}').encode()
    if not spoil:
        return line
    how = spoil[0]
    if how == "flip":
        pos = int(spoil[1] * len(line))
        line = line[:pos] + bytes([spoil[2]]) + line[pos + 1 :]
    elif how == "truncate":
        line = line[: int(spoil[1] * len(line))] or b"{"
    elif how == "deep":
        depth, arrays = spoil[1], spoil[2]
        nest = b"[" * depth + b"]" * depth if arrays else b'{"a":' * depth + b"1" + b"}" * depth
        line = line.replace(b'"@deep"', nest)
    elif how == "utf8":
        line = line.replace(UTF8_MARK.encode(), spoil[1])
    elif how == "twice":
        line = line[:-1] + b", " + json.dumps(spoil[1]).encode() + b": " + json.dumps(spoil[2]).encode() + b"}"
    return line if line.strip() else b"{"


def _judge(line: bytes) -> Record | RecordError:
    try:
        return decode_json(line)
    except RecordError as exc:
        return exc


def _keys(svc: Any) -> set[tuple[str, str, str]]:
    return {
        (kind, company, rid)
        for kind, t in TABLES.items()
        for company, rid in svc.analytics.rows(f"SELECT company_id, id FROM {t.table}")
    }


def _expected(judged: list[Record | RecordError]) -> tuple[list[tuple[int, str | None, str]], set[Any]]:
    errors = [(i, j.field, j.error) for i, j in enumerate(judged, 1) if isinstance(j, RecordError)]
    keys = {
        (j.__struct_config__.tag, str(j.company_id), str(j.id))  # type: ignore[union-attr]
        for j in judged
        if not isinstance(j, RecordError)
    }
    return errors, keys


def _same_values(lines: list[bytes], tables: dict[str, pa.Table]) -> None:
    """The columnar tables of lines the line path also takes hold the line path's values."""
    records = [decode_json(line) for line in lines]
    for kind, table in tables.items():
        mine = [r for r in records if r.__struct_config__.tag == kind]
        expected = to_table(kind, mine, 0).drop_columns(["seq"])
        assert table.cast(expected.schema).equals(expected), kind


_examples = itertools.count()


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_mutated_lines_among_good_ones_on_the_request_and_the_file_path(
    data: st.DataObject, client: Any, tokens: dict[str, str], seeded: Any, tmp_path: Path
) -> None:
    n_good = data.draw(st.integers(1, 8), label="good lines")
    n_bad = data.draw(st.integers(1, 6), label="spoiled lines")
    specs = [(data.draw(good_records(i)), ()) for i in range(n_good)]
    specs += [data.draw(mutated(n_good + i)) for i in range(n_bad)]
    specs = data.draw(st.permutations(specs), label="order")
    example = next(_examples)

    for path in ("request", "file"):
        lines = [render(rec, spoil, f"{path[0]}{example:04d}-") for rec, spoil in specs]
        judged = [_judge(line) for line in lines]
        errors, keys = _expected(judged)
        before = _keys(seeded)
        if path == "request":
            r = client.post("/api/v1/ingest", content=b"\n".join(lines), headers=bearer(tokens["platform_ingest"]))
            assert r.status_code == 200, r.text
            result = r.json()
        else:
            source = tmp_path / f"{example}.jsonl"
            source.write_bytes(b"\n".join(lines) + b"\n")
            ing = seeded.ingestor()
            read_file(ing, str(source))
            result = seeded.writer.submit(ing).as_json()  # stored as the server stores a request
            for e in result["errors"]:
                assert e.pop("file") == str(source)
        assert (result["accepted"], result["rejected"]) == (len(lines) - len(errors), len(errors))
        assert [(e["line"], e["field"], e["error"]) for e in result["errors"]] == errors
        after = _keys(seeded)
        assert after - before == keys - before and keys <= after

        # The columnar path takes a line only if the line path does, with the same values.
        good = [line for line, j in zip(lines, judged, strict=True) if not isinstance(j, RecordError)]
        for line, j in zip(lines, judged, strict=True):
            tables = jsonl.jsonl_tables([line])
            if tables is not None:
                assert not isinstance(j, RecordError), (line, j)
                _same_values([line], tables[1])
        tables = jsonl.jsonl_tables(good) if good else None
        if tables is not None:
            _same_values(good, tables[1])
