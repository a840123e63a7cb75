"""The key index's search, compiled by numba (keyindex.py imports it when it builds an index).

A binary search of 10k keys in 10M sorted entries misses the cache at each of its last dozen
steps; a directory of bucket starts (by the entries' top bits) leaves a search of a few entries.
"""

from __future__ import annotations

import numpy as np
from numba import njit


def directory(entries: np.ndarray, bits: int) -> np.ndarray:
    """Where each bucket of sorted ``entries`` (by their top ``bits`` bits) starts, and their end."""
    buckets = (entries >> np.uint64(64 - bits)).astype(np.int64)
    return np.concatenate(([0], np.cumsum(np.bincount(buckets, minlength=1 << bits)))).astype(np.int64)


@njit(cache=True, nogil=True)
def ranges(
    entries: np.ndarray, starts: np.ndarray, bits: int, low: np.ndarray, high: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per needle: the range ``[lo, hi)`` of the sorted entries that are ``>= low`` and
    ``<= high`` (a needle's two bounds share their top ``bits`` bits, so its bucket holds them)."""
    n = len(low)
    lo = np.empty(n, dtype=np.int64)
    hi = np.empty(n, dtype=np.int64)
    shift = np.uint64(64 - bits)
    for i in range(n):
        b = np.int64(low[i] >> shift)
        first, end = starts[b], starts[b + 1]
        a, z = first, end
        while a < z:  # first entry >= low
            m = (a + z) >> 1
            if entries[m] < low[i]:
                a = m + 1
            else:
                z = m
        lo[i] = a
        z = end
        while a < z:  # first entry > high
            m = (a + z) >> 1
            if entries[m] <= high[i]:
                a = m + 1
            else:
                z = m
        hi[i] = a
    return lo, hi


def warm_up() -> None:
    """Load the compiled search now (an index being built), not at the first lookup (a write)."""
    none = np.zeros(0, dtype=np.uint64)
    ranges(none, np.zeros(2, dtype=np.int64), 1, none, none)
