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
    return np.asarray((keys.astype(np.uint64, copy=False) >> np.uint64(DAY_BITS) << np.uint64(DAY_BITS)) | code)


def _insert_sorted(into: U64, entries: U64) -> U64:
    """``into`` with ``entries`` added, both sorted (a memory move, not a sort of ``into``)."""
    entries = np.sort(entries)
    return np.insert(into, np.searchsorted(into, entries), entries)


def _probe(entries: U64, prefix: U64, starts: I64 | None = None) -> tuple[npt.NDArray[np.bool_], U64]:
    """For sorted entries: which key prefixes occur, and the entries that carry them (``starts``:
    the entries' bucket directory, keyprobe.py, when they have one)."""
    order = np.argsort(prefix)  # sorted needles: each search starts where the last one ended
    needles = prefix[order]
    if starts is None:
        lo = np.searchsorted(entries, needles, side="left")
        hi = np.searchsorted(entries, needles | DAY_MASK, side="right")
    else:
        from . import keyprobe

        lo, hi = keyprobe.ranges(entries, starts, _bucket_bits(len(entries)), needles, needles | DAY_MASK)
    found = hi > lo
    hit = np.empty(len(prefix), dtype=np.bool_)
    hit[order] = found
    counts = (hi - lo)[found]
    starts = np.repeat(lo[found], counts)
    return hit, entries[starts + np.arange(len(starts)) - np.repeat(np.cumsum(counts) - counts, counts)]


def _bucket_bits(n: int) -> int:
    """Top bits of the large part's bucket directory: about eight entries a bucket (a needle's
    two bounds differ only in its day, the low 24 bits, so they share a bucket)."""
    return min(max(n.bit_length() - 3, 1), 24)


class KeyIndex:
    """Sorted packed entries: a large part (with a bucket directory), and a small part that takes
    each write and is merged into the large one as it grows."""

    def __init__(self, keys: U64, instants: I64) -> None:
        from . import keyprobe

        keyprobe.warm_up()
        self._set_sorted(np.sort(_entries(keys, instants)))
        self._recent: U64 = np.zeros(0, dtype=np.uint64)

    def _set_sorted(self, entries: U64) -> None:
        from . import keyprobe

        self._sorted = entries
        self._starts = keyprobe.directory(entries, _bucket_bits(len(entries)))

    def __len__(self) -> int:
        return len(self._sorted) + len(self._recent)

    def add(self, keys: U64, instants: I64) -> None:
        if len(keys) == 0:
            return
        self._recent = _insert_sorted(self._recent, _entries(keys, instants))
        # Merge when the small part outgrows a fraction of the large one: each write moves the
        # small part in memory, each merge the large one.
        if len(self._recent) > max(100_000, len(self._sorted) // 8):
            self._set_sorted(_insert_sorted(self._sorted, self._recent))
            self._recent = np.zeros(0, dtype=np.uint64)

    def lookup(self, keys: U64) -> tuple[npt.NDArray[np.bool_], int, int]:
        """Which ``keys`` may be stored, and a range of instants holding every stored row of
        them (meaningful only when any may be)."""
        prefix = keys.astype(np.uint64, copy=False) >> np.uint64(DAY_BITS) << np.uint64(DAY_BITS)
        hit, found = _probe(self._sorted, prefix, self._starts)
        recent_hit, recent_found = _probe(self._recent, prefix)
        hit |= recent_hit
        codes = np.concatenate((found, recent_found)) & DAY_MASK
        if len(codes) == 0:
            return hit, 0, -1
        first, last = int(codes.min()), int(codes.max())
        if first == 0 or last == int(DAY_MASK):
            return hit, *UNBOUNDED
        return hit, (first - DAY_OFFSET) * DAY_US, (last - DAY_OFFSET + 1) * DAY_US - 1
