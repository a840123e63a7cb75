"""An in-memory index of a raw table's record keys, so that a small batch finds the versions it
replaces without reading the whole table.

The DuckDB store keeps no primary key (an ART index makes every bulk append several times
slower), so finding the stored versions of a batch's records is a probe of the ``k`` column: a
scan of every row, about 0.2 s at 10M connections, whatever the batch size. This index tells, for
each key, the days its rows are clustered by (``joined_at`` for connections: rows arrive roughly
in time order, so DuckDB's zone maps on it skip nearly every row group). A batch then reads only
the rows of the keys it holds, within those days.

An entry is one sortable integer: the key's top 40 bits, then the day (24 bits). A shared
40-bit prefix only widens a lookup, never narrows it. The index is built from the table at a
process's second small write of a kind (the single writer: DuckDB allows one; bulk batches and
a one-off small import keep the plain probe) and told of every row written after. Entries are
never removed: a stale entry (a replaced version, a rolled-back write) only widens a lookup, and
a key absent from the index is absent from the table, which is what makes the index safe.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]
DAY_US = 86_400_000_000
DAY_BITS = 24
DAY_MASK = np.uint64((1 << DAY_BITS) - 1)
DAY_OFFSET = 1 << (DAY_BITS - 1)  # day 0 (1970-01-01) sits mid-range
UNBOUNDED = (-(2**63), 2**63 - 1)


def _entries(keys: U64, instants: I64) -> U64:
    """Pack keys and the days of their instants; days outside the 24-bit range get a code (the
    first or last) that makes a lookup unbounded."""
    code = np.clip(np.floor_divide(instants, DAY_US) + DAY_OFFSET, 0, int(DAY_MASK)).astype(np.uint64)
    return (keys.astype(np.uint64, copy=False) >> np.uint64(DAY_BITS) << np.uint64(DAY_BITS)) | code


class KeyIndex:
    """Sorted packed entries plus a few unsorted recent runs, merged as they grow."""

    def __init__(self, keys: U64, instants: I64) -> None:
        self._sorted = np.sort(_entries(keys, instants))
        self._recent: list[U64] = []
        self._recent_rows = 0

    def __len__(self) -> int:
        return len(self._sorted) + self._recent_rows

    def add(self, keys: U64, instants: I64) -> None:
        if len(keys) == 0:
            return
        self._recent.append(_entries(keys, instants))
        self._recent_rows += len(keys)
        # Merge when the recent runs outgrow a fraction of the sorted part: amortised O(log n)
        # work per key, and lookups scan few unsorted entries.
        if self._recent_rows > max(100_000, len(self._sorted) // 8):
            self._sorted = np.sort(np.concatenate([self._sorted, *self._recent]))
            self._recent, self._recent_rows = [], 0

    def lookup(self, keys: U64) -> tuple[npt.NDArray[np.bool_], int, int]:
        """Which ``keys`` may be stored, and a range of instants holding every stored row of
        them (meaningful only when any may be)."""
        prefix = keys.astype(np.uint64, copy=False) >> np.uint64(DAY_BITS) << np.uint64(DAY_BITS)
        lo = np.searchsorted(self._sorted, prefix, side="left")
        hi = np.searchsorted(self._sorted, prefix | DAY_MASK, side="right")
        hit = hi > lo
        counts = (hi - lo)[hit]
        starts = np.repeat(lo[hit], counts)
        found = [self._sorted[starts + np.arange(len(starts)) - np.repeat(np.cumsum(counts) - counts, counts)]]
        for run in self._recent:
            in_batch = np.isin(run >> np.uint64(DAY_BITS), prefix >> np.uint64(DAY_BITS))
            if in_batch.any():
                found.append(run[in_batch])
                hit |= np.isin(prefix, run[in_batch] & ~DAY_MASK)
        codes = np.concatenate(found) & DAY_MASK
        if len(codes) == 0:
            return hit, 0, -1
        first, last = int(codes.min()), int(codes.max())
        if first == 0 or last == int(DAY_MASK):
            return hit, *UNBOUNDED
        return hit, (first - DAY_OFFSET) * DAY_US, (last - DAY_OFFSET + 1) * DAY_US - 1
