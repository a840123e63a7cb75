"""The engine's loops over sorted endpoint keys and per-event aggregates, compiled by numba.

Each is a single pass where NumPy needed a cumulative sum, a scatter-max and a first-per-group
pass per metric. The key layouts are in keys.py. The compiled code is cached beside this file
(or in numba's per-user cache), so only a fresh installation compiles; a process still pays about
a second to import numba and load it, so engine.py imports this module on its first sweep only.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .keys import BLOCK_SHIFT, CAT_BITS, DAY_SHIFT, NO_TIME, TIME_BITS


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


@njit(cache=True, nogil=True)
def parent_rows(
    parent: np.ndarray,
    joined: np.ndarray,
    end: np.ndarray,
    template: np.ndarray,
    is_open: np.ndarray,
    cap_end: np.ndarray,
    n: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per parent (0 .. n-1) of its connections: the first join, the last end, the template of the
    first connection (the lowest code among those joining first), whether one is open, the
    latest ``cap_end`` (NO_TIME if none) and how many there are."""
    first_join = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
    last_leave = np.full(n, np.iinfo(np.int64).min, dtype=np.int64)
    first_template = np.zeros(n, dtype=np.int64)
    any_open = np.zeros(n, dtype=np.bool_)
    open_until = np.full(n, NO_TIME, dtype=np.int64)
    count = np.zeros(n, dtype=np.int64)
    for i in range(parent.shape[0]):
        p = parent[i]
        j = joined[i]
        if j < first_join[p] or (j == first_join[p] and template[i] < first_template[p]):
            first_join[p] = j
            first_template[p] = template[i]
        if end[i] > last_leave[p]:
            last_leave[p] = end[i]
        if is_open[i]:
            any_open[p] = True
        if cap_end[i] > open_until[p]:
            open_until[p] = cap_end[i]
        count[p] += 1
    return first_join, last_leave, first_template, any_open, open_until, count


@njit(cache=True, nogil=True)
def parent_peaks(
    block_parent: np.ndarray, block_day: np.ndarray, block_peak: np.ndarray, block_at: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per parent (0 .. n-1): the greatest peak of its (parent, day) blocks and the first instant
    of it (that of its earliest best block; NO_TIME when it never had a connection active)."""
    peak = np.zeros(n, dtype=np.int64)
    peak_day = np.zeros(n, dtype=np.int64)
    peak_at = np.full(n, NO_TIME, dtype=np.int64)
    for i in range(block_parent.shape[0]):
        p = block_parent[i]
        v = block_peak[i]
        if v > 0 and (v > peak[p] or (v == peak[p] and block_day[i] < peak_day[p])):
            peak[p] = v
            peak_day[p] = block_day[i]
            peak_at[p] = block_at[i]
    return peak, peak_at


@njit(cache=True, nogil=True)
def cut(
    joined: np.ndarray,
    end: np.ndarray,
    starts: np.ndarray,
    cat: np.ndarray,
    parent: np.ndarray,
    client: np.ndarray,
    person: np.ndarray,
    clients: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Connections ``[joined, end)`` cut into segments per day of ``starts`` (the day boundaries).

    Returns the segments with time in them, as (parent, day, start and end in the day, category);
    and, by ``clients``, every segment's (day, client, person), zero-length ones included: none (0),
    packed ``day << 43 | client << 33 | person`` (1), or as (connection index, day) (2)."""
    n = joined.shape[0]
    ndays = starts.shape[0] - 1
    first = np.empty(n, dtype=np.int64)
    count = np.empty(n, dtype=np.int64)
    total = 0
    for i in range(n):
        d0 = np.searchsorted(starts, joined[i], side="right") - 1
        d1 = np.searchsorted(starts, end[i] - 1, side="right") - 1 if end[i] > joined[i] else d0
        lo, hi = max(d0, 0), min(d1, ndays - 1)
        first[i] = lo
        count[i] = hi - lo + 1 if hi >= lo else 0
        total += count[i]
    # Sized for every segment, cut to those with time in them.
    a_parent = np.empty(total, dtype=np.int64)
    a_day = np.empty(total, dtype=np.int64)
    a_s = np.empty(total, dtype=np.int64)
    a_t = np.empty(total, dtype=np.int64)
    a_cat = np.empty(total, dtype=np.int64)
    present = np.empty(total if clients == 1 else 0, dtype=np.int64)
    seg_idx = np.empty(total if clients == 2 else 0, dtype=np.int64)
    seg_day = np.empty(total if clients == 2 else 0, dtype=np.int64)
    k = 0
    a = 0
    for i in range(n):
        for d in range(first[i], first[i] + count[i]):
            ds = starts[d]
            s = max(joined[i], ds)
            t = min(end[i], starts[d + 1])
            if t > s:
                a_parent[a] = parent[i]
                a_day[a] = d
                a_s[a] = s - ds
                a_t[a] = t - ds
                a_cat[a] = cat[i]
                a += 1
            if clients == 1:
                present[k] = (d << 43) | (client[i] << 33) | person[i]
            elif clients == 2:
                seg_idx[k] = i
                seg_day[k] = d
            k += 1
    return a_parent[:a], a_day[:a], a_s[:a], a_t[:a], a_cat[:a], present, seg_idx, seg_day


@njit(cache=True, nogil=True)
def endpoint_keys(
    group: np.ndarray, group_shift: int, a_s: np.ndarray, a_t: np.ndarray, time_shift: int, low: np.ndarray
) -> np.ndarray:
    """Each segment's start and end key ``group | time-in-day | is_start | low`` (unsorted; the
    start bit is the one below ``time_shift``)."""
    n = group.shape[0]
    key = np.empty(2 * n, dtype=np.int64)
    start = 1 << (time_shift - 1)
    for i in range(n):
        high = group[i] << group_shift
        key[i] = high | (a_s[i] << time_shift) | start | low[i]
        key[n + i] = high | (a_t[i] << time_shift) | low[i]
    return key


@njit(cache=True, nogil=True)
def first_days(a_parent: np.ndarray, a_day: np.ndarray, nparents: int, ndays: int) -> np.ndarray:
    """Per parent, the first day of its segments (``ndays`` if it has none)."""
    first = np.full(nparents, ndays, dtype=np.int64)
    for i in range(a_parent.shape[0]):
        if a_day[i] < first[a_parent[i]]:
            first[a_parent[i]] = a_day[i]
    return first


@njit(cache=True, nogil=True)
def breaches(
    key: np.ndarray,
    masks: np.ndarray,
    limit_start: np.ndarray,
    ch_day: np.ndarray,
    ch_t: np.ndarray,
    ch_metric: np.ndarray,
    ch_value: np.ndarray,
    day_len: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per metric (a row of ``masks``) and day: the time the level was at or above its limit
    and over it, and how many times each began, from the sorted keys of :func:`peaks`.

    ``limit_start[m, day]`` is the limit in force when the day begins (-1: none); changes inside
    a day are ``(ch_day, ch_t, ch_metric, ch_value)`` rows sorted by day and time. Every key and
    change of one instant is applied before the level is judged, so joins and leaves at one
    instant change it once. "At" needs a level above zero (a limit of 0 is not reached by no
    activity). A day ends with every segment closed, so an episode crossing midnight counts on
    both days; ``at_edges``/``over_edges`` say so per day (1: one begins as the day begins,
    2: one lasts until the day ends), which lets a range count it once."""
    nm = masks.shape[0]
    ndays = limit_start.shape[1]
    at_us = np.zeros((nm, ndays), dtype=np.int64)
    over_us = np.zeros((nm, ndays), dtype=np.int64)
    at_n = np.zeros((nm, ndays), dtype=np.int64)
    over_n = np.zeros((nm, ndays), dtype=np.int64)
    at_edges = np.zeros((nm, ndays), dtype=np.int64)
    over_edges = np.zeros((nm, ndays), dtype=np.int64)
    level = np.zeros(nm, dtype=np.int64)
    lim = np.full(nm, -1, dtype=np.int64)
    tmask = (1 << TIME_BITS) - 1
    n = key.shape[0]
    nch = ch_day.shape[0]
    i = 0
    c = 0
    day = -1
    prev = 0
    while i < n:
        kday = key[i] >> DAY_SHIFT
        if kday != day:
            day = kday
            prev = 0
            for m in range(nm):
                level[m] = 0
                lim[m] = limit_start[m, day]
            while c < nch and ch_day[c] < day:
                c += 1
        t = (key[i] >> (CAT_BITS + 1)) & tmask
        if c < nch and ch_day[c] == day and ch_t[c] < t:
            t = ch_t[c]
        for m in range(nm):
            if lim[m] >= 0 and level[m] > 0:
                if level[m] >= lim[m]:
                    at_us[m, day] += t - prev
                if level[m] > lim[m]:
                    over_us[m, day] += t - prev
        was_at = np.zeros(nm, dtype=np.bool_)
        was_over = np.zeros(nm, dtype=np.bool_)
        for m in range(nm):
            was_at[m] = lim[m] >= 0 and level[m] > 0 and level[m] >= lim[m]
            was_over[m] = lim[m] >= 0 and level[m] > lim[m]
        while c < nch and ch_day[c] == day and ch_t[c] == t:
            lim[ch_metric[c]] = ch_value[c]
            c += 1
        while i < n and (key[i] >> DAY_SHIFT) == day and ((key[i] >> (CAT_BITS + 1)) & tmask) == t:
            k = key[i]
            cat = k & ((1 << CAT_BITS) - 1)
            step = 1 if (k >> CAT_BITS) & 1 else -1
            for m in range(nm):
                if masks[m, cat]:
                    level[m] += step
            i += 1
        for m in range(nm):
            if t == day_len[day]:  # the day's end: what held until now lasts into the next day
                if was_at[m]:
                    at_edges[m, day] |= 2
                if was_over[m]:
                    over_edges[m, day] |= 2
            if lim[m] >= 0 and level[m] > 0 and level[m] >= lim[m] and not was_at[m]:
                at_n[m, day] += 1
                if t == 0:
                    at_edges[m, day] |= 1
            if lim[m] >= 0 and level[m] > lim[m] and not was_over[m]:
                over_n[m, day] += 1
                if t == 0:
                    over_edges[m, day] |= 1
        prev = t
    return at_us, over_us, at_n, over_n, at_edges, over_edges


@njit(cache=True, nogil=True)
def hourly(key: np.ndarray, masks: np.ndarray, ndays: int, hour_us: int) -> np.ndarray:
    """Per metric (a row of ``masks``), day and hour of the day (hours from midnight; a day of
    25 hours has 25): the highest level at any instant of that hour, from the sorted keys of
    :func:`peaks`. Every key of one instant is applied before the level is read, and a level
    carried into an hour counts only if it holds at some instant of it."""
    nm = masks.shape[0]
    out = np.zeros((nm, ndays, 25), dtype=np.int64)
    level = np.zeros(nm, dtype=np.int64)
    tmask = (1 << TIME_BITS) - 1
    n = key.shape[0]
    i = 0
    day = -1
    hour = 0  # the last hour whose carried level is accounted for
    while i < n:
        kday = key[i] >> DAY_SHIFT
        if kday != day:
            day = kday
            hour = 0
            for m in range(nm):
                level[m] = 0
        t = (key[i] >> (CAT_BITS + 1)) & tmask
        h = min(t // hour_us, 24)
        # Hours passed without an instant hold the level carried through them.
        while hour < h:
            hour += 1
            if hour < h or t > hour * hour_us:
                for m in range(nm):
                    if level[m] > out[m, day, hour]:
                        out[m, day, hour] = level[m]
        while i < n and (key[i] >> DAY_SHIFT) == day and ((key[i] >> (CAT_BITS + 1)) & tmask) == t:
            k = key[i]
            cat = k & ((1 << CAT_BITS) - 1)
            step = 1 if (k >> CAT_BITS) & 1 else -1
            for m in range(nm):
                if masks[m, cat]:
                    level[m] += step
            i += 1
        for m in range(nm):
            if level[m] > out[m, day, h]:
                out[m, day, h] = level[m]
    return out
