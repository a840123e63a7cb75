"""The in-memory key index of the DuckDB store: a key it does not hold is never stored, and the
range it gives holds every stored row of the keys asked for."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from vkurse_stats.store.keyindex import DAY_US, UNBOUNDED, KeyIndex, _probe

# Keys differ in their top bits (the index keeps 40), instants span a few years around 2026.
KEY = st.integers(0, 60).map(lambda i: (i * 0x9E3779B97F4A7C15) % 2**64)
INSTANT = st.integers(1_700_000_000_000_000, 1_800_000_000_000_000)
pairs = st.lists(st.tuples(KEY, INSTANT), max_size=40)


def arrays(rows: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    return np.array([k for k, _ in rows], np.uint64), np.array([t for _, t in rows], np.int64)


@settings(max_examples=200, deadline=None)
@given(first=pairs, later=st.lists(pairs, max_size=6), probe=st.lists(KEY, max_size=30))
def test_lookup_finds_every_stored_key_within_its_range(
    first: list[tuple[int, int]], later: list[list[tuple[int, int]]], probe: list[int]
) -> None:
    index = KeyIndex(*arrays(first))
    for run in later:
        index.add(*arrays(run))
    stored = [p for run in (first, *later) for p in run]
    hit, lo, hi = index.lookup(np.array(probe, np.uint64))
    assert hit.tolist() == [any(k == p for k, _ in stored) for p in probe]
    for k, t in stored:
        if k in probe:
            assert lo <= t <= hi and hi - lo < 40_000 * DAY_US
    assert len(index) == len(stored)


def test_instants_outside_the_day_range_make_the_lookup_unbounded() -> None:
    index = KeyIndex(np.array([2**63], np.uint64), np.array([-(2**62)], np.int64))
    hit, lo, hi = index.lookup(np.array([2**63, 5 << 40], np.uint64))
    assert hit.tolist() == [True, False] and (lo, hi) == UNBOUNDED


def test_recent_entries_are_merged_as_they_grow() -> None:
    index = KeyIndex(np.arange(10, dtype=np.uint64) << 40, np.zeros(10, np.int64))
    for i in range(30):
        index.add((np.arange(10_000, dtype=np.uint64) + 10 * i) << 40, np.full(10_000, i * DAY_US, np.int64))
    assert len(index._recent) < 100_000 and len(index) == 300_010
    hit, lo, hi = index.lookup(np.array([5 << 40, 295 << 40, 10**6 << 40], np.uint64))
    assert hit.tolist() == [True, True, False] and (lo, hi) == (0, 30 * DAY_US - 1)


def test_the_bucket_directory_finds_what_a_plain_search_finds() -> None:
    rng = np.random.default_rng(7)
    keys = rng.integers(0, 2**64 - 1, 200_000, dtype=np.uint64, endpoint=True)
    keys[:1000] = keys[1000:2000]  # keys stored twice (other days): ranges of several entries
    keys[-3:] = [0, 2**64 - 1, 2**63]  # the first and last buckets
    instants = rng.integers(1_700_000_000_000_000, 1_800_000_000_000_000, len(keys))
    index = KeyIndex(keys, instants)
    probe = np.concatenate((keys[::7], rng.integers(0, 2**64 - 1, 5_000, dtype=np.uint64, endpoint=True)))
    prefix = probe >> np.uint64(24) << np.uint64(24)
    bucketed = _probe(index._sorted, prefix, index._starts)
    plain = _probe(index._sorted, prefix)
    assert bucketed[0].tolist() == plain[0].tolist() and bucketed[1].tolist() == plain[1].tolist()
    assert bucketed[0][: len(keys[::7])].all()
