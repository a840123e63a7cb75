"""The peak engine: exact daily figures of a window of days from raw connections.

Connections are cut into per-day segments (a day is a calendar day of the company's timezone),
then every segment endpoint becomes one packed int64 key ``day | time-in-day | type | category``
with ends before starts at the same instant, so that the half-open intervals ``[joined, left)``
never overlap at a shared instant. One sort of those keys serves every connection-level peak: a
metric is a mask over the category bits and its level is a cumulative sum read only at starts
(reading at ends or across midnight would leak transient levels). Events and calls are active
while any of their connections is: a second pass sorts endpoints by (parent, day) block, turns the
0->1 and 1->0 transitions of each block into parent-level endpoints, and sweeps those the same way.

Everything here is pure NumPy over arrays a store fetched; every backend shares it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ..records import CALL_TEMPLATE, TEMPLATE_CODE
from ..timeutil import DayGrid
from .definitions import METRICS, MetricDef

I64 = npt.NDArray[np.int64]
TIME_BITS = 37  # microseconds within a (25-hour at most) day
CAT_BITS = 3
DAY_SHIFT = TIME_BITS + 1 + CAT_BITS
NO_TIME = -1

# Category of a connection: class (0 meetings-type, 1 webinar, 2 call) * 2 + transport.
_CLASS_OF_TEMPLATE = np.zeros(CALL_TEMPLATE + 1, dtype=np.int64)
_CLASS_OF_TEMPLATE[TEMPLATE_CODE["webinar"]] = 1
_CLASS_OF_TEMPLATE[CALL_TEMPLATE] = 2


def _category_mask(m: MetricDef, *, parent_level: bool) -> npt.NDArray[np.bool_]:
    """Which of the 8 category codes a metric counts."""
    mask = np.zeros(1 << CAT_BITS, dtype=np.bool_)
    for template in m.scope:
        cls = int(_CLASS_OF_TEMPLATE[template])
        for transport in (0, 1):
            if parent_level or m.transport is None or m.transport == transport:
                mask[cls * 2 + transport] = True
    return mask


CONNECTION_PEAKS = tuple((m.id, _category_mask(m, parent_level=False)) for m in METRICS if m.daily == "peak")
PARENT_PEAKS = tuple((m.id, _category_mask(m, parent_level=True)) for m in METRICS if m.daily == "parent_peak")


@dataclass
class Connections:
    """Columns of the connections a store fetched (one company)."""

    parent: I64  # dense index of (parent kind, parent id)
    template: I64  # template code; CALL_TEMPLATE for calls
    transport: I64
    joined: I64
    left: I64  # left_at, or NO_TIME while open
    person: I64  # dense index of the user (or of the connection, for a guest)
    client: I64  # index into client_names
    client_names: list[str]
    conn_id: I64 | None = None  # optional dense id, for counting connections once

    def __len__(self) -> int:
        return len(self.joined)

    def effective_end(self, now: int, cap_us: int) -> I64:
        """``left_at``, or for an open connection ``min(now, joined + cap)``; never before joined."""
        is_open = self.left == NO_TIME
        end = np.where(is_open, np.minimum(self.joined + cap_us, now), self.left)
        return np.maximum(end, self.joined)


@dataclass
class WindowFigures:
    """Figures of the days ``grid.first .. grid.last``."""

    values: dict[str, I64]  # metric id -> value per day
    at: dict[str, I64]  # metric id -> first instant of the peak per day (NO_TIME if none)
    clients: dict[int, dict[str, int]]  # day -> client -> distinct people
    # Per (parent, day) block: parent index, day, peak concurrent connections and its first instant.
    block_parent: I64
    block_day: I64
    block_peak: I64
    block_at: I64


def distinct(values: I64) -> I64:
    """Sorted distinct values (a SIMD sort and a diff: faster here than a hash table)."""
    v = np.sort(values)
    if len(v) == 0:
        return v
    keep = np.empty(len(v), dtype=np.bool_)
    keep[0] = True
    np.not_equal(v[1:], v[:-1], out=keep[1:])
    return v[keep]


def _first_per_group(positions: I64, group_of_pos: I64) -> tuple[I64, I64]:
    """For sorted candidate positions, the first one of each group: (groups, positions)."""
    if len(positions) == 0:
        return positions, positions
    g = group_of_pos[positions]
    first = np.empty(len(g), dtype=np.bool_)
    first[0] = True
    np.not_equal(g[1:], g[:-1], out=first[1:])
    return g[first], positions[first]


def _sweep(
    key: I64,
    masks: tuple[tuple[str, npt.NDArray[np.bool_]], ...],
    ndays: int,
    day_starts: I64,
    out_values: dict[str, I64],
    out_at: dict[str, I64],
) -> None:
    """Peaks per day of sorted packed endpoint keys, one result per mask."""
    cat = key & ((1 << CAT_BITS) - 1)
    is_start = ((key >> CAT_BITS) & 1).astype(np.bool_)
    day = key >> DAY_SHIFT
    t_rel = (key >> (CAT_BITS + 1)) & ((1 << TIME_BITS) - 1)
    delta = np.where(is_start, 1, -1).astype(np.int32)
    for metric_id, mask in masks:
        in_scope = mask[cat]
        level = np.cumsum(np.where(in_scope, delta, 0), dtype=np.int64)
        values = np.zeros(ndays, dtype=np.int64)
        at = np.full(ndays, NO_TIME, dtype=np.int64)
        readable = in_scope & is_start
        if readable.any():
            pos = np.flatnonzero(readable)
            lv = level[pos]
            dd = day[pos]
            np.maximum.at(values, dd, lv)
            best = pos[lv == values[dd]]
            d_first, p_first = _first_per_group(best, day)
            at[d_first] = day_starts[d_first] + t_rel[p_first]
        out_values[metric_id] = values
        out_at[metric_id] = at


def sweep_window(conns: Connections, grid: DayGrid, now: int, cap_us: int) -> WindowFigures:
    """Exact daily figures for the days of ``grid`` from the connections overlapping them."""
    ndays = grid.last - grid.first + 1
    starts = grid.starts  # ndays + 1 boundaries
    j = conns.joined
    e = conns.effective_end(now, cap_us)
    # Day of the first and of the last instant of each connection, clipped to the window.
    d0 = np.searchsorted(starts, j, side="right") - 1
    d1 = np.where(e > j, np.searchsorted(starts, e - 1, side="right") - 1, d0)
    lo = np.maximum(d0, 0)
    hi = np.minimum(d1, ndays - 1)
    nseg = np.where(hi >= lo, hi - lo + 1, 0)
    idx = np.repeat(np.arange(len(j)), nseg)
    offsets = np.cumsum(nseg) - nseg
    day = lo[idx] + (np.arange(len(idx)) - offsets[idx])
    ds = starts[day]
    s = np.maximum(j[idx], ds)
    t = np.minimum(e[idx], starts[day + 1])
    active = t > s

    cat = _CLASS_OF_TEMPLATE[conns.template[idx]] * 2 + conns.transport[idx]
    values: dict[str, I64] = {}
    at: dict[str, I64] = {}

    # Connection-level peaks: one sort of every active segment's two endpoints.
    a_day, a_s, a_t, a_cat = day[active], s[active] - ds[active], t[active] - ds[active], cat[active]
    base = a_day << DAY_SHIFT
    key = np.concatenate(
        (
            base | (a_s << (CAT_BITS + 1)) | (1 << CAT_BITS) | a_cat,
            base | (a_t << (CAT_BITS + 1)) | a_cat,
        )
    )
    key.sort()
    _sweep(key, CONNECTION_PEAKS, ndays, starts, values, at)

    # Parent-level activity: endpoints grouped by (parent, day) block. A block is keyed by the
    # parent and the day relative to the parent's first day here, which keeps the key small
    # enough to pack beside the time, so one sort orders endpoints by block and instant.
    a_parent = conns.parent[idx][active]
    nparents = int(conns.parent.max()) + 1 if len(conns.parent) else 1
    first_day = np.full(nparents, ndays, dtype=np.int64)
    np.minimum.at(first_day, a_parent, a_day)
    rel_day = a_day - first_day[a_parent]
    span = int(rel_day.max()) + 1 if len(rel_day) else 1
    block_raw = a_parent * span + rel_day
    if nparents * span >= 1 << (62 - TIME_BITS - 1):
        block_raw = np.unique(block_raw, return_inverse=True)[1].astype(np.int64)
    pkey = np.concatenate(
        (
            (block_raw << (TIME_BITS + 1)) | (a_s << 1) | 1,
            (block_raw << (TIME_BITS + 1)) | (a_t << 1),
        )
    )
    porder = np.argsort(pkey)
    pkey = pkey[porder]
    seg_of = np.concatenate((np.arange(len(a_s)), np.arange(len(a_s))))[porder]
    raw_block = pkey >> (TIME_BITS + 1)
    new_block = np.empty(len(pkey), dtype=np.bool_)
    if len(pkey):
        new_block[0] = True
        np.not_equal(raw_block[1:], raw_block[:-1], out=new_block[1:])
    p_block = np.cumsum(new_block) - 1
    heads = np.flatnonzero(new_block)
    block_parent = a_parent[seg_of[heads]]
    block_day = a_day[seg_of[heads]]
    nblocks = len(heads)
    p_t = (pkey >> 1) & ((1 << TIME_BITS) - 1)
    p_start = (pkey & 1).astype(np.bool_)
    p_level = np.cumsum(np.where(p_start, 1, -1), dtype=np.int64)
    # Peak concurrent connections of each (parent, day) block, with its first instant.
    block_peak = np.zeros(nblocks, dtype=np.int64)
    block_at = np.full(nblocks, NO_TIME, dtype=np.int64)
    if len(pkey):
        spos = np.flatnonzero(p_start)
        np.maximum.at(block_peak, p_block[spos], p_level[spos])
        best = spos[p_level[spos] == block_peak[p_block[spos]]]
        b_first, pos_first = _first_per_group(best, p_block)
        block_at[b_first] = starts[block_day[b_first]] + p_t[pos_first]
    # Transitions: a block's level rising 0 -> 1 starts the parent, falling to 0 ends it.
    rises = p_start & (p_level == 1)
    falls = ~p_start & (p_level == 0)
    # A parent's connections normally share one template; if they disagree, take the highest
    # class so the result never depends on row order.
    block_cat = np.zeros(nblocks, dtype=np.int64)
    np.maximum.at(block_cat, p_block, _CLASS_OF_TEMPLATE[conns.template[idx][active]][seg_of] * 2)
    tr = np.flatnonzero(rises | falls)
    tb = p_block[tr]
    ekey = (
        (block_day[tb] << DAY_SHIFT)
        | (p_t[tr] << (CAT_BITS + 1))
        | (p_start[tr].astype(np.int64) << CAT_BITS)
        | block_cat[tb]
    )
    ekey.sort()
    _sweep(ekey, PARENT_PEAKS, ndays, starts, values, at)

    # Clients: distinct people present on a day with a client (zero-length connections included).
    c_day, c_client, c_person = day, conns.client[idx], conns.person[idx]
    if len(conns.client_names) < 1 << 10 and (len(c_person) == 0 or int(c_person.max()) < 1 << 33):
        present = distinct((c_day << 43) | (c_client << 33) | c_person)
        pd, pc = present >> 43, (present >> 33) & 1023
    else:  # too many distinct values to pack: an exact row-wise unique instead
        rows = np.unique(np.stack((c_day, c_client, c_person)), axis=1)
        pd, pc = rows[0], rows[1]
    pairs, counts = np.unique(pd * len(conns.client_names) + pc, return_counts=True)
    clients: dict[int, dict[str, int]] = {}
    width = max(1, len(conns.client_names))
    for pair, n in zip(pairs.tolist(), counts.tolist(), strict=True):
        clients.setdefault(grid.first + pair // width, {})[conns.client_names[pair % width]] = n

    return WindowFigures(
        values=values,
        at=at,
        clients=clients,
        block_parent=block_parent,
        block_day=block_day + grid.first,
        block_peak=block_peak,
        block_at=block_at,
    )
