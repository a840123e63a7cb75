"""The compiled text checks of the columnar path against the row path (records.py): whatever they
accept, the row path accepts with the same value; what real feeds send, they accept."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Annotated

import msgspec
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from vkurse_stats.ingest import textscan
from vkurse_stats.records import to_us

INSTANT = Annotated[datetime, msgspec.Meta(tz=True)]
CLIENT = re.compile(r"[a-z][a-z0-9_\-]{0,31}")


def _row_path(text: str) -> int | None:
    try:
        return to_us(msgspec.json.decode(msgspec.json.encode(text), type=INSTANT))
    except msgspec.ValidationError:
        return None


def _scan(texts: list[str | None], large: bool = False) -> tuple[list[int | None], list[bool]]:
    arr = pa.array(texts, pa.large_string() if large else pa.string())
    us, refused = textscan.instants(arr)
    return us.to_pylist(), refused.tolist()


@st.composite
def rfc3339(draw: st.DrawFn) -> str:
    at = draw(st.datetimes(min_value=datetime(1000, 1, 2), max_value=datetime(9998, 12, 30)))
    digits = draw(st.integers(0, 6))
    frac = f".{at.microsecond:06d}"[: digits + 1] if digits else ""
    minutes = draw(st.integers(-23 * 60 - 59, 23 * 60 + 59))
    zone = (
        "Z" if draw(st.booleans()) else f"{'-' if minutes < 0 else '+'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    )
    return at.strftime("%Y-%m-%dT%H:%M:%S").rjust(19, "0") + frac + zone


@settings(max_examples=400, deadline=None)
@given(st.lists(rfc3339(), min_size=1, max_size=20), st.booleans())
def test_well_formed_instants_are_accepted_with_the_row_paths_value(texts: list[str], large: bool) -> None:
    us, refused = _scan(texts, large)
    assert not any(refused)
    assert us == [_row_path(t) for t in texts]


# Texts near the format: every character drawn from those a timestamp is made of, and mutations.
NEAR = st.text(alphabet="0123456789-:T.Z+ tz", min_size=18, max_size=34)


@settings(max_examples=600, deadline=None)
@given(st.lists(st.one_of(NEAR, rfc3339().flatmap(lambda s: st.sampled_from(_mutations(s)))), max_size=20))
def test_what_the_scan_accepts_the_row_path_accepts_alike(texts: list[str]) -> None:
    us, refused = _scan(texts)
    for text, value, bad in zip(texts, us, refused, strict=True):
        if bad:
            assert value is None
        else:
            assert value is not None and value == _row_path(text), text


def _mutations(s: str) -> list[str]:
    return [
        s,
        s.replace("T", " "),
        s.replace("T", "t"),
        s[:-1] + "z" if s.endswith("Z") else s,
        s[:17] + "60" + s[19:],
        s[:11] + "24" + s[13:],
        s[:5] + "02-30" + s[10:],
        s[:19] + ".1234567" + s[19:],
        s[:19] + "." + s[19:],
        s + " ",
        s[:-3] + "60" if s[-3] == ":" else s,
        "0000" + s[4:],
    ]


def test_edges_of_the_calendar_and_nulls() -> None:
    texts = [
        "2024-02-29T23:59:59.999999+00:00",
        "2025-02-29T00:00:00Z",
        "2000-02-29T00:00:00Z",
        "1900-02-29T00:00:00Z",
        "2026-03-29T02:30:00-23:59",
        None,
        "",
        "2026-03-05T08:00:00+03:00",
    ]
    us, refused = _scan(texts)
    assert refused == [False, True, False, True, False, False, True, False]
    assert us[0] == to_us(datetime(2024, 2, 29, 23, 59, 59, 999999, UTC))
    assert us[4] == to_us(datetime(2026, 3, 29, 2, 30, tzinfo=timezone(-timedelta(hours=23, minutes=59))))
    assert us[5] is None and us[6] is None
    assert us[7] == to_us(datetime(2026, 3, 5, 5, 0, tzinfo=UTC))


def test_a_sliced_column_is_read_from_its_own_offset() -> None:
    arr = pa.array(["x", "2026-03-05T08:00:00Z", None, "2026-03-05T09:00:00Z"]).slice(1)
    us, refused = textscan.instants(arr)
    assert us.to_pylist() == [
        to_us(datetime(2026, 3, 5, 8, tzinfo=UTC)),
        None,
        to_us(datetime(2026, 3, 5, 9, tzinfo=UTC)),
    ]
    assert not refused.any()
    assert textscan.client_words(pa.array(["Web", "web", None, "ios"]).slice(1)).tolist() == [True, False, True]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(alphabet="abcxyz019_-Z. é", max_size=34)), max_size=20))
def test_client_words_match_the_row_paths_pattern(texts: list[str | None]) -> None:
    got = textscan.client_words(pa.array(texts, pa.string())).tolist()
    assert got == [t is not None and CLIENT.fullmatch(t) is not None for t in texts]


def _depth(value: object) -> int:
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


# JSON values whose strings are full of what a scan could mistake for structure.
TRICKY = st.text(alphabet='[]{}"\\:, a\u00e9', max_size=8)
JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.integers(), TRICKY),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TRICKY, inner, max_size=3),
    max_leaves=40,
)


@settings(max_examples=300, deadline=None)
@given(st.lists(JSON_VALUES, min_size=1, max_size=4), st.integers(0, 6), st.booleans())
def test_the_depth_scan_counts_nesting_outside_strings_per_line(
    values: list[object], limit: int, ascii_only: bool
) -> None:
    text = "\n".join(json.dumps(v, ensure_ascii=ascii_only) for v in values).encode()
    assert textscan.deeper_than(text, limit) == any(_depth(v) > limit for v in values)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(rfc3339(), min_size=1, max_size=20),
    st.integers(-31 * 10**15, 253 * 10**15),  # within the years the scan reads
    st.integers(0, 10**17),
)
def test_instants_out_of_the_given_range_are_refused(texts: list[str], first: int, width: int) -> None:
    last = first + width
    us, refused = textscan.instants(pa.array(texts), first, last)
    for text, value, bad in zip(texts, us.to_pylist(), refused.tolist(), strict=True):
        expected = _row_path(text)
        assert expected is not None
        assert bad == (not first <= expected <= last)
        assert value == (None if bad else expected)
