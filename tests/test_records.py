"""records.py, the edge: one input line or row becomes a typed record or one error naming its
field and reason (SPEC §3)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from vkurse_stats.records import Company, Connection, RecordError, decode_json, from_mapping, to_us

CONN = {
    "kind": "connection",
    "id": "c1",
    "company_id": "acme",
    "event_id": "e1",
    "event_template": "meeting",
    "transport": "webrtc",
    "joined_at": "2026-03-05T10:00:00+03:00",
    "left_at": "2026-03-05T11:00:00+03:00",
}


def error_of(record: dict[str, Any]) -> RecordError:
    with pytest.raises(RecordError) as caught:
        decode_json(json.dumps(record))
    return caught.value


def test_a_valid_connection_is_typed() -> None:
    rec = decode_json(json.dumps(CONN))
    assert isinstance(rec, Connection)
    assert to_us(rec.joined_at) == 1772694000 * 1_000_000
    assert to_us(rec.left_at) - to_us(rec.joined_at) == 3600 * 1_000_000  # type: ignore[operator]


def test_epoch_milliseconds_are_instants_too() -> None:
    rec = decode_json(json.dumps({**CONN, "joined_at": 1772694000000, "left_at": 1772694000000}))
    assert to_us(rec.joined_at) == to_us(rec.left_at) == 1772694000 * 1_000_000  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"joined_at": "2026-03-05T10:00:00"}, "joined_at", "offset"),  # a naive timestamp
        ({"left_at": "2026-03-05T09:00:00+03:00"}, "left_at", "after"),  # joined_at > left_at
        ({"transport": "pigeon"}, "transport", "webrtc"),
        ({"event_template": None}, "event_template", "event_template"),
        ({"call_id": "k1"}, "event_id", "exactly one"),
        ({"joined_at": "1969-12-31T23:59:59Z"}, "joined_at", "1970"),
    ],
)
def test_a_bad_field_is_named_with_its_reason(change: dict[str, Any], field: str, words: str) -> None:
    rec = {k: v for k, v in {**CONN, **change}.items() if v is not None}
    err = error_of(rec)
    assert err.field == field, err
    assert words in str(err), err


def test_a_repeated_field_and_deep_nesting_are_refused() -> None:
    line = json.dumps(CONN)[:-1] + ', "id": "c2"}'
    with pytest.raises(RecordError) as caught:
        decode_json(line)
    assert caught.value.field == "id" and "twice" in str(caught.value)
    with pytest.raises(RecordError) as caught:
        deep: Any = 1
        for _ in range(40):
            deep = [deep]
        decode_json(json.dumps({**CONN, "device": deep}))
    assert "nested" in str(caught.value)


def test_a_byte_that_is_not_utf8_is_named() -> None:
    with pytest.raises(RecordError) as caught:
        decode_json(json.dumps(CONN).encode()[:-1] + b', "device": "\xff"}')
    assert "UTF-8" in str(caught.value)


def test_csv_and_parquet_rows_nest_dotted_columns_and_skip_empty_cells() -> None:
    rec = from_mapping("company", {"id": "acme", "name": "Акме", "timezone": "", "limits.concurrent_speakers": 50})
    assert isinstance(rec, Company)
    assert rec.limits is not None and rec.limits.concurrent_speakers == 50  # type: ignore[union-attr]
    with pytest.raises(RecordError) as caught:
        from_mapping("company", {"id": "acme", "name": "A", "timezone": "Mars/Olympus"})
    assert caught.value.field == "timezone"
