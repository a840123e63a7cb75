"""The peak engine: exact daily figures of a window of days from raw connections.

Connections are cut into per-day segments (a day is a calendar day of the company's timezone),
then every segment endpoint becomes one packed int64 key ``day | time-in-day | type | category``
with ends before starts at the same instant, so that the half-open intervals ``[joined, left)``
never overlap at a shared instant. One sort of those keys serves every connection-level peak: a
metric is a mask over the category bits and its level is a running count read only at starts
(reading at ends or across midnight would leak transient levels). Events and calls are active
while any of their connections is: a second sort orders endpoints by (parent, day) block, whose
0->1 and 1->0 transitions become parent-level endpoints, swept the same way.

Cutting, packing and the passes over sorted keys are compiled loops (kernels.py); sorting is
NumPy's. It works on arrays a store fetched, so every backend shares it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from ..records import CALL_TEMPLATE, TEMPLATE_CODE
from ..timeutil import DayGrid
from .definitions import METRICS, MetricDef
from .keys import BLOCK_SHIFT, CAT_BITS, DAY_SHIFT, NO_TIME

I64 = npt.NDArray[np.int64]

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


def _masks(daily: str, *, parent_level: bool) -> tuple[tuple[str, ...], npt.NDArray[np.bool_]]:
    """The ids of the metrics of one daily kind and their category masks, one row each."""
    chosen = [m for m in METRICS if m.daily == daily]
    return tuple(m.id for m in chosen), np.array([_category_mask(m, parent_level=parent_level) for m in chosen])


# The counts whose hourly maxima a day keeps (the weekday x hour view).
HOURLY = ("total.connections", "total.speakers", "total.events")
HOUR_US = 3_600_000_000
CONNECTION_PEAKS = _masks("peak", parent_level=False)
PARENT_PEAKS = _masks("parent_peak", parent_level=True)


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

    def take(self, rows: npt.NDArray[np.bool_], *, parent: I64) -> Connections:
        """The chosen rows, their parents renumbered as ``parent`` says."""
        return Connections(
            parent=parent,
            template=self.template[rows],
            transport=self.transport[rows],
            joined=self.joined[rows],
            left=self.left[rows],
            person=self.person[rows],
            client=self.client[rows],
            client_names=self.client_names,
        )

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
    # Limited metric id -> per day, the figures of insight.BREACH_FIGURES (only with limits,
    # see LimitSteps and kernels.breaches).
    breaches: dict[str, tuple[I64, ...]] = field(default_factory=dict)
    # Metric id of HOURLY -> per day and hour from midnight (25 slots), the highest count.
    hours: dict[str, npt.NDArray[np.int64]] = field(default_factory=dict)


@dataclass
class LimitSteps:
    """The licence limits a window's days are judged against, per limited peak metric: the
    limit in force when each day (of the grid, numbered from 0) begins (-1: none), and the
    changes inside a day as (metric id, day, time in the day, new limit or -1) rows."""

    start: dict[str, I64]
    changes: list[tuple[str, int, int, int]]

    def arrays(self, ids: tuple[str, ...], ndays: int) -> tuple[I64, I64, I64, I64, I64]:
        """:func:`kernels.breaches` inputs for the metrics ``ids`` (one row each)."""
        start = np.full((len(ids), ndays), -1, dtype=np.int64)
        for row, metric_id in enumerate(ids):
            if metric_id in self.start:
                start[row] = self.start[metric_id]
        rows = {metric_id: row for row, metric_id in enumerate(ids)}
        mine = sorted((d, t, rows[m], v) for m, d, t, v in self.changes if m in rows)
        cols = [np.array([r[j] for r in mine], dtype=np.int64) for j in range(4)]
        return start, cols[0], cols[1], cols[2], cols[3]


def warm_up() -> None:
    """Load the compiled passes (about a second, once per process) ahead of the first sweep."""
    from . import kernels

    none = np.zeros(0, dtype=np.int64)
    kernels.peaks(none, CONNECTION_PEAKS[1], np.zeros(2, dtype=np.int64), 1)
    kernels.blocks(none)
    kernels.parent_rows(none, none, none, none, np.zeros(0, dtype=np.bool_), none, 0)
    kernels.parent_peaks(none, none, none, none, 0)
    kernels.cut(none, none, np.zeros(2, dtype=np.int64), none, none, none, none, 1)  # one type signature
    kernels.endpoint_keys(none, DAY_SHIFT, none, none, CAT_BITS + 1, none)
    kernels.first_days(none, none, 1, 1)
    kernels.hourly(none, CONNECTION_PEAKS[1], 1, HOUR_US)
    kernels.breaches(
        none,
        CONNECTION_PEAKS[1],
        np.zeros((len(CONNECTION_PEAKS[0]), 1), dtype=np.int64),
        none,
        none,
        none,
        none,
        np.zeros(1, dtype=np.int64),
    )


def distinct(values: I64) -> I64:
    """Sorted distinct values (a SIMD sort and a diff: faster here than a hash table)."""
    v = np.sort(values)
    if len(v) == 0:
        return v
    keep = np.empty(len(v), dtype=np.bool_)
    keep[0] = True
    np.not_equal(v[1:], v[:-1], out=keep[1:])
    return v[keep]


def _peaks(
    key: I64,
    metrics: tuple[tuple[str, ...], npt.NDArray[np.bool_]],
    starts: I64,
    out: WindowFigures,
    limits: LimitSteps | None = None,
) -> None:
    """Sort packed endpoint keys and put the daily peak of each metric into ``out`` (and, with
    ``limits``, the time at and over each limit)."""
    from . import kernels  # numba loads on the first sweep of a process

    key.sort()
    ids, masks = metrics
    values, at = kernels.peaks(key, masks, starts, len(starts) - 1)
    for i, metric_id in enumerate(ids):
        out.values[metric_id] = values[i]
        out.at[metric_id] = at[i]
    rows = [i for i, metric_id in enumerate(ids) if metric_id in HOURLY]
    if rows:
        hours = kernels.hourly(key, masks[rows], len(starts) - 1, HOUR_US)
        for j, i in enumerate(rows):
            out.hours[ids[i]] = hours[j]
    if limits is not None and any(m in limits.start for m in ids):
        figures = kernels.breaches(key, masks, *limits.arrays(ids, len(starts) - 1), np.diff(starts))
        for i, metric_id in enumerate(ids):
            if metric_id in limits.start:
                out.breaches[metric_id] = tuple(f[i] for f in figures)


def sweep_window(
    conns: Connections,
    grid: DayGrid,
    now: int,
    cap_us: int,
    *,
    days: bool = True,
    limits: LimitSteps | None = None,
) -> WindowFigures:
    """Exact daily figures for the days of ``grid`` from the connections overlapping them, and
    the time at and over the ``limits``. With ``days=False`` only the (parent, day) blocks,
    which is what event stats need."""
    from . import kernels  # numba loads on the first sweep of a process

    starts = grid.starts  # one more than the days
    ndays = len(starts) - 1
    cls = _CLASS_OF_TEMPLATE[conns.template]
    # Clients per day count (day, client, person) triples: packed into one int64 when they fit.
    fits = len(conns.client_names) < 1 << 10 and (len(conns.person) == 0 or int(conns.person.max()) < 1 << 33)
    clients = 0 if not days else 1 if fits else 2
    a_parent, a_day, a_s, a_t, a_cat, present, seg_idx, seg_day = kernels.cut(
        conns.joined,
        conns.effective_end(now, cap_us),
        starts,
        cls * 2 + conns.transport,
        conns.parent,
        conns.client,
        conns.person,
        clients,
    )
    a_cls = a_cat >> 1
    out = WindowFigures({}, {}, {}, *(np.zeros(0, dtype=np.int64),) * 4)
    if days:
        # Connection-level peaks: one sort of every active segment's two endpoints.
        key = kernels.endpoint_keys(a_day, DAY_SHIFT, a_s, a_t, CAT_BITS + 1, a_cat)
        _peaks(key, CONNECTION_PEAKS, starts, out, limits)

    # Parent-level activity: endpoints grouped by (parent, day) block. A block is numbered by
    # the parent and the day relative to the parent's first day here, which keeps the number
    # small enough to pack beside the time, so one sort orders endpoints by block and instant.
    nparents = int(conns.parent.max()) + 1 if len(conns.parent) else 1
    first_day = kernels.first_days(a_parent, a_day, nparents, ndays)
    rel_day = a_day - first_day[a_parent]
    span = int(rel_day.max()) + 1 if len(rel_day) else 1
    block_raw = a_parent * span + rel_day
    numbers = None
    if nparents * span >= 1 << (63 - BLOCK_SHIFT):
        numbers, block_raw = np.unique(block_raw, return_inverse=True)
        block_raw = block_raw.astype(np.int64)
        if len(numbers) >= 1 << (63 - BLOCK_SHIFT):  # would not pack: never a wrong figure
            raise ValueError(f"{len(numbers):,} (event, day) blocks in one window of days: too many to sweep at once")
    pkey = kernels.endpoint_keys(block_raw, BLOCK_SHIFT, a_s, a_t, 3, a_cls)
    pkey.sort()
    number, block_peak, peak_t, block_cls, tr_block, tr_t, tr_rise = kernels.blocks(pkey)
    if numbers is not None:
        number = numbers[number]
    out.block_parent = number // span
    block_day = first_day[out.block_parent] + number % span
    out.block_day = block_day + grid.first
    out.block_peak = block_peak
    out.block_at = np.where(peak_t == NO_TIME, NO_TIME, starts[block_day] + peak_t)
    if not days:
        return out
    # A parent is active from its block's level rising 0 -> 1 until it falls back to 0. Its
    # connections normally share one template; if they disagree, the highest class counts.
    ekey = (
        (block_day[tr_block] << DAY_SHIFT)
        | (tr_t << (CAT_BITS + 1))
        | (tr_rise.astype(np.int64) << CAT_BITS)
        | (block_cls[tr_block] * 2)
    )
    _peaks(ekey, PARENT_PEAKS, starts, out, limits)

    # Clients: distinct people present on a day with a client (zero-length connections included).
    if clients == 1:
        present = distinct(present)
        pd, pc = present >> 43, (present >> 33) & 1023
    else:  # too many distinct values to pack: an exact row-wise unique instead
        rows = np.unique(np.stack((seg_day, conns.client[seg_idx], conns.person[seg_idx])), axis=1)
        pd, pc = rows[0], rows[1]
    pairs, counts = np.unique(pd * len(conns.client_names) + pc, return_counts=True)
    width = max(1, len(conns.client_names))
    for pair, n in zip(pairs.tolist(), counts.tolist(), strict=True):
        out.clients.setdefault(grid.first + pair // width, {})[conns.client_names[pair % width]] = n
    return out
