"""The engine's two linear passes over sorted endpoint keys, compiled by numba.

Each is a single loop where NumPy needed a cumulative sum, a scatter-max and a first-per-group
pass per metric. The key layouts are engine.py's; the compiled code is cached beside this file
(or in numba's per-user cache), so only a fresh installation pays the compilation once.
"""

from __future__ import annotations

import numpy as np
from numba import njit

TIME_BITS = 37  # microseconds within a (25-hour at most) day
CAT_BITS = 3
DAY_SHIFT = TIME_BITS + 1 + CAT_BITS
NO_TIME = -1


@njit(cache=True, nogil=True)
def peaks(key: np.ndarray, masks: np.ndarray, day_starts: np.ndarray, ndays: int) -> tuple[np.ndarray, np.ndarray]:
    """Per metric (a row of ``masks`` over the category codes) and day: the greatest level
    reached at a start and the first instant of it, from sorted keys
    ``day | time-in-day | is_start | category`` (ends sort before starts at one instant)."""
    nm = masks.shape[0]
    values = np.zeros((nm, ndays), dtype=np.int64)
    at = np.full((nm, ndays), NO_TIME, dtype=np.int64)
    level = np.zeros(nm, dtype=np.int64)
    for i in range(key.shape[0]):
        k = key[i]
        cat = k & ((1 << CAT_BITS) - 1)
        if (k >> CAT_BITS) & 1:
            day = k >> DAY_SHIFT
            for m in range(nm):
                if masks[m, cat]:
                    level[m] += 1
                    if level[m] > values[m, day]:
                        values[m, day] = level[m]
                        at[m, day] = day_starts[day] + ((k >> (CAT_BITS + 1)) & ((1 << TIME_BITS) - 1))
        else:
            for m in range(nm):
                if masks[m, cat]:
                    level[m] -= 1
    return values, at


BLOCK_SHIFT = TIME_BITS + 3  # block keys: block | time | is_start | class (2 bits)


@njit(cache=True, nogil=True)
def blocks(
    pkey: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One pass over sorted keys ``block | time | is_start | class`` (a block: one parent on one
    day; ends sort before starts at one instant).

    Returns per block: its number, its peak level and the time of the first start reaching it,
    its greatest class; and per transition (the level rising 0 -> 1 or falling to 0): its block
    (an index into the former), time and whether it is a rise."""
    n = pkey.shape[0]
    block = np.empty(n, dtype=np.int64)
    peak = np.zeros(n, dtype=np.int64)
    peak_t = np.full(n, NO_TIME, dtype=np.int64)
    cls = np.zeros(n, dtype=np.int64)
    tr_block = np.empty(n, dtype=np.int64)
    tr_t = np.empty(n, dtype=np.int64)
    tr_rise = np.empty(n, dtype=np.bool_)
    nb = -1
    nt = 0
    level = 0
    tmask = (1 << TIME_BITS) - 1
    for i in range(n):
        k = pkey[i]
        raw = k >> BLOCK_SHIFT
        if nb < 0 or raw != block[nb]:
            nb += 1
            block[nb] = raw
            level = 0
        t = (k >> 3) & tmask
        if (k & 3) > cls[nb]:
            cls[nb] = k & 3
        if (k >> 2) & 1:
            level += 1
            if level > peak[nb]:
                peak[nb] = level
                peak_t[nb] = t
            if level == 1:
                tr_block[nt] = nb
                tr_t[nt] = t
                tr_rise[nt] = True
                nt += 1
        else:
            level -= 1
            if level == 0:
                tr_block[nt] = nb
                tr_t[nt] = t
                tr_rise[nt] = False
                nt += 1
    nb += 1
    return block[:nb], peak[:nb], peak_t[:nb], cls[:nb], tr_block[:nt], tr_t[:nt], tr_rise[:nt]
