"""What was active when (SPEC 4a): the events and calls active at an instant, the exact step
curve of a day, and the episodes at or over a limit.

These read the connections of one instant or one day (``AnalyticStore.connections_over``), never
a range's history: a range's totals come from the rollups (``metrics/insight.py``). The rules are
those of the peak engine: a connection is active on ``[joined, left)`` (an open one until now, at
most ``cap`` after it joined), an event or call while any of its connections is, and every join
and leave of one instant changes a count once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..records import CALL_TEMPLATE, TEMPLATES
from ..store.base import AnalyticStore
from ..store.schema import PARENT_CALL
from .definitions import METRICS, MetricDef
from .engine import _CLASS_OF_TEMPLATE, _category_mask
from .insight import History, limit_at

I64 = np.ndarray
PEAKS: tuple[MetricDef, ...] = tuple(m for m in METRICS if m.is_peak and m.daily in ("peak", "parent_peak"))
TEMPLATE_NAMES = {**dict(enumerate(TEMPLATES)), CALL_TEMPLATE: "call"}


@dataclass(frozen=True)
class Window:
    """The connections of ``[t0, t1)`` as arrays, each clipped to it (zero-length ones dropped)."""

    t0: int
    t1: int
    parent: I64  # dense number of (parent_kind, parent_id)
    parents: pa.Table  # parent_kind, parent_id of each number
    category: I64  # class * 2 + transport, as the engine's masks read it
    template: I64
    transport: I64
    start: I64
    end: I64

    @classmethod
    def fetch(cls, store: AnalyticStore, company_id: str, t0: int, t1: int, now: int, cap_us: int) -> Window:
        rows = store.connections_over(company_id, t0, t1, cap_us)
        joined = rows.column("joined_at").to_numpy().astype(np.int64)
        left = rows.column("left_at").to_numpy().astype(np.int64)
        end = np.maximum(np.where(left < 0, np.minimum(joined + cap_us, now), left), joined)
        start, end = np.maximum(joined, t0), np.minimum(end, t1)
        keep = start < end
        kept = rows.filter(pa.array(keep))
        # One number per (kind, id): a call and an event may share an id.
        kind = pc.cast(kept.column("parent_kind"), pa.string())
        key = pc.binary_join_element_wise(kind, kept.column("parent_id"), ":")
        encoded = pc.dictionary_encode(key).combine_chunks()
        parent = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        first = np.full(len(encoded.dictionary), -1, dtype=np.int64)
        first[parent[::-1]] = np.arange(len(parent) - 1, -1, -1)  # a row of each parent
        parents = kept.select(["parent_kind", "parent_id"]).take(pa.array(first))
        template = kept.column("template").to_numpy().astype(np.int64)
        transport = kept.column("transport").to_numpy().astype(np.int64)
        return cls(
            t0,
            t1,
            parent,
            parents,
            _CLASS_OF_TEMPLATE[template] * 2 + transport,
            template,
            transport,
            start[keep],
            end[keep],
        )

    def curve(self, metric: MetricDef) -> tuple[I64, I64]:
        """The metric's exact step curve: the instants where it changes and its value from each
        on (before the first: 0)."""
        mask = _category_mask(metric, parent_level=metric.daily == "parent_peak")
        mine = mask[self.category]
        if metric.daily == "peak":
            a, b = self.start[mine], self.end[mine]
        else:
            a, b = _union(self.parent[mine], self.start[mine], self.end[mine])
        times = np.concatenate((a, b))
        deltas = np.concatenate((np.ones(len(a), dtype=np.int64), -np.ones(len(b), dtype=np.int64)))
        if len(times) == 0:
            return times, deltas
        order = np.argsort(times, kind="stable")
        times, deltas = times[order], deltas[order]
        instants, first = np.unique(times, return_index=True)
        values = np.cumsum(np.add.reduceat(deltas, first))
        changed = np.concatenate(([True], values[1:] != values[:-1]))  # a join and a leave at one instant
        return instants[changed], values[changed]


def _union(parent: I64, start: I64, end: I64) -> tuple[I64, I64]:
    """Per parent, the union of its intervals as disjoint [a, b) pieces (a parent is active while
    any of its connections is; touching intervals join)."""
    if len(parent) == 0:
        return start, end
    order = np.lexsort((start, parent))
    p, s, e = parent[order], start[order], end[order]
    base = int(min(s.min(), e.min()))
    # A running maximum of the ends within each parent: the parent's number, shifted above any
    # time of the window, keeps one parent's ends from reaching the next's.
    shift = np.int64(int(e.max()) - base + 1)
    reach = np.maximum.accumulate(p * shift + (e - base))
    new_piece = np.ones(len(p), dtype=np.bool_)
    new_piece[1:] = (p[1:] != p[:-1]) | (p[1:] * shift + (s[1:] - base) > reach[:-1])
    starts = np.flatnonzero(new_piece)
    ends = np.maximum.reduceat(e, starts)
    return s[starts], ends


def value_at(curve: tuple[I64, I64], instant: int) -> int:
    times, values = curve
    i = int(np.searchsorted(times, instant, side="right")) - 1
    return int(values[i]) if i >= 0 else 0


@dataclass(frozen=True)
class ActiveParent:
    kind: str  # "event" or "call"
    id: str
    template: str
    title: str | None
    organizer_id: str | None
    organizer_name: str | None
    connections: int
    speakers: int
    viewers: int

    def as_json(self) -> dict[str, object]:
        return dict(self.__dict__)


def active_at(
    store: AnalyticStore, company_id: str, instant: int, now: int, cap_us: int, history: History
) -> tuple[dict[str, tuple[int, int | None]], list[ActiveParent]]:
    """What was active at ``instant``: each peak metric's count and the limit in force then, and
    the events and calls active then (largest first), whose figures sum to those counts."""
    w = Window.fetch(store, company_id, instant, instant + 1, now, cap_us)
    counts = {
        m.id: (value_at(w.curve(m), instant), limit_at(history, m.limit, instant) if m.limit else None) for m in PEAKS
    }
    n = w.parents.num_rows
    connections = np.bincount(w.parent, minlength=n)
    speakers = np.bincount(w.parent, weights=(w.transport == 0), minlength=n).astype(np.int64)
    webinar = _CLASS_OF_TEMPLATE[w.template] == 1
    viewers = np.bincount(w.parent, weights=(w.transport == 1) & webinar, minlength=n).astype(np.int64)
    template = np.zeros(n, dtype=np.int64)
    np.maximum.at(template, w.parent, w.template)  # the parent's template (calls: CALL_TEMPLATE)
    described = store.describe_parents(company_id, w.parents) if n else None
    out = []
    for i in range(n):
        kind = "call" if w.parents.column("parent_kind")[i].as_py() == PARENT_CALL else "event"
        out.append(
            ActiveParent(
                kind,
                w.parents.column("parent_id")[i].as_py(),
                TEMPLATE_NAMES.get(int(template[i]), "meeting"),
                described.column("title")[i].as_py() if described is not None else None,
                described.column("organizer_id")[i].as_py() if described is not None else None,
                described.column("organizer_name")[i].as_py() if described is not None else None,
                int(connections[i]),
                int(speakers[i]),
                int(viewers[i]),
            )
        )
    out.sort(key=lambda p: (-p.connections, -p.speakers, p.kind, p.id))
    return counts, out


@dataclass(frozen=True)
class Episode:
    """A maximal stretch at or above (``over``: above) a limit: its bounds and highest count."""

    metric: str
    over: bool
    start: int
    end: int
    highest: int
    limit: int  # the limit in force when it began


def episodes(
    curve: tuple[I64, I64], limit_steps: Sequence[tuple[int, int | None]], metric: str, t0: int, t1: int
) -> list[Episode]:
    """The episodes of a day's ``curve`` within [t0, t1) against the limit's ``limit_steps``
    (effective_from, value), at-or-above and over, in order of start; one that lasts until t1
    ends there (the next day's continues it)."""
    times, values = curve
    changes = np.array([t for t, _ in limit_steps if t0 < t < t1], dtype=np.int64)
    cuts = np.unique(np.concatenate((np.array([t0, t1], dtype=np.int64), times[(times > t0) & (times < t1)], changes)))
    a, b = cuts[:-1], cuts[1:]
    at = np.searchsorted(times, a, side="right") - 1
    level = np.where(at >= 0, values[np.maximum(at, 0)], 0) if len(times) else np.zeros(len(a), dtype=np.int64)
    step_times = np.array([t for t, _ in limit_steps], dtype=np.int64)
    step_values = np.array([-1 if v is None else v for _, v in limit_steps], dtype=np.int64)
    k = np.searchsorted(step_times, a, side="right") - 1
    limit = np.where(k >= 0, step_values[np.maximum(k, 0)], -1) if len(step_times) else np.full(len(a), -1)
    out: list[Episode] = []
    for over in (False, True):
        hit = (limit >= 0) & (level > 0) & ((level > limit) if over else (level >= limit))
        if not hit.any():
            continue
        # Runs of consecutive hit stretches (consecutive cuts touch, so a run is one episode).
        begins = np.flatnonzero(hit & ~np.concatenate(([False], hit[:-1])))
        ends = np.flatnonzero(hit & ~np.concatenate((hit[1:], [False])))
        highest = np.maximum.reduceat(np.where(hit, level, 0), begins)
        for i, j, h in zip(begins.tolist(), ends.tolist(), highest.tolist(), strict=True):
            out.append(Episode(metric, over, int(a[i]), int(b[j]), int(h), int(limit[i])))
    return sorted(out, key=lambda e: (e.start, e.over))


def minute_maxima(curve: tuple[I64, I64], t0: int, t1: int) -> list[int]:
    """The highest value of the curve in each minute from t0 (the last may be shorter)."""
    edges = np.arange(t0, t1, 60_000_000, dtype=np.int64)
    times, values = curve
    if len(times) == 0:
        return [0] * len(edges)
    # The value as each minute begins, then every change inside it.
    at = np.searchsorted(times, edges, side="right") - 1
    best = np.where(at >= 0, values[np.maximum(at, 0)], 0)
    inside = (times >= t0) & (times < t1)
    np.maximum.at(best, (times[inside] - t0) // 60_000_000, values[inside])
    return [int(v) for v in best]


def percentile(values: Sequence[int], q: float) -> float | None:
    """The q-th percentile (0..100, linear between the nearest ranks), None of nothing."""
    if not values:
        return None
    return float(np.percentile(np.array(values, dtype=np.float64), q))


def smallest_covering(values: Sequence[int], share: float) -> int | None:
    """The smallest limit that at least ``share`` of the days' peaks stay within."""
    if not values:
        return None
    ordered = sorted(values)
    k = max(1, int(np.ceil(share * len(ordered))))
    return int(ordered[k - 1])
