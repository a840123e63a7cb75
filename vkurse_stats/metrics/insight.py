"""Licence insight (SPEC 4a): how long and how often a limited count was at or over its limit.

The sweep that computes a day's peaks also measures, per limited peak metric, the time the count
was at or above the limit in force (and over it) and how many times each began; these are stored
beside the day's other figures as rows named ``<metric>|<figure>`` (:func:`breach_id`), so a
range's totals are sums over its days and need no sweep of their own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from .definitions import METRICS, MetricDef
from .engine import LimitSteps

# Per day, in this order: microseconds at or above the limit, over it, times each began, and
# whether an episode of each begins as the day begins (1) and lasts until it ends (2).
BREACH_FIGURES = ("at_us", "over_us", "at_episodes", "over_episodes", "at_edges", "over_edges")
LIMITED: tuple[MetricDef, ...] = tuple(m for m in METRICS if m.is_peak and m.limit and m.limit != "storage_bytes")

# Per limit name: its (effective_from, value) steps in order; value None = no limit from then on.
History = Mapping[str, Sequence[tuple[int, int | None]]]


def breach_id(metric_id: str, figure: str) -> str:
    """The rollup row name of one breach figure of a limited metric."""
    return f"{metric_id}|{figure}"


def limit_steps(parts: Sequence[tuple[History, np.ndarray, int]], ndays: int) -> LimitSteps | None:
    """The limits a sweep's days are judged against. ``parts``: per company, its limit history,
    the boundaries of its days (one more than its days, epoch microseconds) and the sweep's
    number of its first day. None when no company has a limit."""
    start: dict[str, np.ndarray] = {}
    changes: list[tuple[str, int, int, int]] = []
    for history, bounds, first in parts:
        for m in LIMITED:
            steps = history.get(m.limit or "")
            if not steps:
                continue
            times = np.array([t for t, _ in steps], dtype=np.int64)
            values = np.array([-1 if v is None else v for _, v in steps], dtype=np.int64)
            row = start.setdefault(m.id, np.full(ndays, -1, dtype=np.int64))
            at_start = np.searchsorted(times, bounds[:-1], side="right") - 1
            row[first : first + len(bounds) - 1] = np.where(at_start >= 0, values[np.maximum(at_start, 0)], -1)
            inside = np.searchsorted(bounds, times, side="right") - 1  # the day each change falls in
            within = (inside >= 0) & (inside < len(bounds) - 1) & (times > bounds[np.maximum(inside, 0)])
            for k in np.flatnonzero(within):
                d = int(inside[k])
                changes.append((m.id, first + d, int(times[k] - bounds[d]), int(values[k])))
    if not start:
        return None
    return LimitSteps(start, changes)


def limit_at(history: History, name: str | None, instant: int) -> int | None:
    """The limit ``name`` in force at ``instant`` (None: none was)."""
    steps = history.get(name or "")
    if not steps:
        return None
    value: int | None = None
    for effective_from, v in steps:
        if effective_from > instant:
            break
        value = v
    return value


def hour_id(metric_id: str, hour: int) -> str:
    """The rollup row name of a day's highest count in one hour (from midnight) of a metric."""
    return f"{metric_id}|h{hour:02d}"
