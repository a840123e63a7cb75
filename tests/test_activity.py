"""metrics/activity.py against brute force: a window's step curves (connection- and event-level)
and the episodes at or over a limit, on random intervals with shared and touching instants."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from vkurse_stats.metrics.activity import Window, episodes, minute_maxima, value_at
from vkurse_stats.metrics.definitions import METRICS

T0, T1 = 0, 60 * 60_000_000  # an hour; steps of five minutes make ties common
STEP = 5 * 60_000_000
TOTAL = {m.id: m for m in METRICS}


def window(rows: list[tuple[int, int, int, int]]) -> Window:
    """(parent, template, start step, length in steps) -> a Window of connections, all webrtc."""
    parent = np.array([r[0] for r in rows], dtype=np.int64)
    template = np.array([r[1] for r in rows], dtype=np.int64)
    start = np.array([r[2] * STEP for r in rows], dtype=np.int64)
    end = start + np.array([r[3] * STEP for r in rows], dtype=np.int64)
    keep = start < end
    cls = np.where(template == 4, 1, 0)
    n = int(parent.max()) + 1 if len(parent) else 0
    parents = pa.table({"parent_kind": pa.array([0] * n, pa.int8()), "parent_id": [f"e{i}" for i in range(n)]})
    return Window(
        T0,
        T1,
        parent[keep],
        parents,
        (cls * 2)[keep],
        template[keep],
        np.zeros(int(keep.sum()), dtype=np.int64),
        start[keep],
        end[keep],
    )


def brute(rows: list[tuple[int, int, int, int]], t: int, events: bool) -> int:
    active = [r for r in rows if r[3] > 0 and r[2] * STEP <= t < (r[2] + r[3]) * STEP]
    return len({r[0] for r in active}) if events else len(active)


rows_st = st.lists(
    st.tuples(st.integers(0, 4), st.sampled_from([0, 4]), st.integers(0, 11), st.integers(0, 6)), max_size=25
)


@settings(max_examples=200, deadline=None)
@given(rows_st)
def test_curves_match_brute_force(rows: list[tuple[int, int, int, int]]) -> None:
    w = window(rows)
    for metric, events in (("total.connections", False), ("total.events", True)):
        curve = w.curve(TOTAL[metric])
        for k in range(0, 18):
            t = k * STEP
            assert value_at(curve, t) == brute(rows, t, events), (metric, t)
        _, values = curve
        assert all(values[i] != values[i - 1] for i in range(1, len(values)))  # each step changes it
        minutes = minute_maxima(curve, T0, T1)
        assert max(minutes, default=0) == max((brute(rows, k * STEP, events) for k in range(12)), default=0)


@settings(max_examples=200, deadline=None)
@given(rows_st, st.integers(1, 4))
def test_episodes_match_brute_force(rows: list[tuple[int, int, int, int]], limit: int) -> None:
    curve = window(rows).curve(TOTAL["total.connections"])
    got = episodes(curve, [(0, limit)], "total.connections", T0, T1)
    for over in (False, True):
        mine = [(e.start, e.end, e.highest) for e in got if e.over == over]
        expected: list[tuple[int, int, int]] = []
        for k in range(12):
            n = brute(rows, k * STEP, False)
            hit = n > 0 and (n > limit if over else n >= limit)
            if hit and expected and expected[-1][1] == k * STEP:
                a, _, h = expected[-1]
                expected[-1] = (a, (k + 1) * STEP, max(h, n))
            elif hit:
                expected.append((k * STEP, (k + 1) * STEP, n))
        assert mine == expected, (over, mine, expected)
