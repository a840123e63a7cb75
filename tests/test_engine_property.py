"""The engine against the brute-force oracle (tests/oracle.py) over random records: touching and
zero-length connections, midnight- and DST-spanning ones, open ones, replaced versions, any
arrival order and batching, several timezones; then `rebuild` must give the same figures.

Each example holds 2-4 companies in different timezones whose records arrive mixed in the same
batches, as the platform's one stream sends them, with the same record and parent ids in every
company: each company's figures must be those of its own records alone."""

from __future__ import annotations

import itertools
import json
import os
from datetime import date, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.oracle import oracle_at, oracle_breaches, oracle_day, oracle_hours, us
from vkurse_stats.metrics.definitions import METRICS
from vkurse_stats.metrics.engine import HOURLY
from vkurse_stats.metrics.insight import LIMITED, hour_id
from vkurse_stats.timeutil import day_number

ZONES = ["Europe/Moscow", "Asia/Vladivostok", "America/New_York", "Pacific/Auckland", "Australia/Lord_Howe", "UTC"]
BASE = "2026-03-07T00:00:00+00:00"  # around the US DST change of 2026-03-08
FIRST, LAST = date(2026, 3, 6), date(2026, 3, 10)
NOW = "2026-03-09T15:00:00+00:00"
CAP_H = 24
STEP = 45 * 60 * 1000  # 45 minutes in ms: coarse steps make ties and touching intervals common

PARENTS = [
    ("event", "e1", "meeting"),
    ("event", "e2", "webinar"),
    ("event", "e3", "lecture"),
    ("call", "k1", None),
    ("call", "k2", None),
    ("event", "e4", "webinar"),
]


@st.composite
def connection(draw: Any, n: int) -> dict[str, Any]:
    kind, pid, template = draw(st.sampled_from(PARENTS))
    base_ms = us(BASE) // 1000  # type: ignore[operator]
    joined = base_ms + draw(st.integers(-30, 90)) * STEP
    dur = draw(st.one_of(st.none(), st.sampled_from([0, 1, 2, 3, 8, 40]).map(lambda k: k * STEP)))
    rec: dict[str, Any] = {
        "kind": "connection",
        "id": f"c{n}",
        "transport": draw(st.sampled_from(["webrtc", "webrtmp"])),
        "joined_at": joined,
        "client": draw(st.sampled_from(["web", "ios", None])),
        "user_id": draw(st.sampled_from(["u1", "u2", "u3", None])),
    }
    if kind == "call":
        rec["call_id"] = pid
    else:
        rec["event_id"], rec["event_template"] = pid, template
    if dur is not None:
        rec["left_at"] = joined + dur
    return {k: v for k, v in rec.items() if v is not None}


@st.composite
def company_records(draw: Any) -> list[dict[str, Any]]:
    """The records of one company, in the order it sent them (ids repeat across companies)."""
    n = draw(st.integers(1, 12))
    recs = [draw(connection(i)) for i in range(n)]
    # Re-sent versions: the same id again (possibly open again, or with another left_at).
    for i in draw(st.lists(st.integers(0, n - 1), max_size=5)):
        again = dict(draw(connection(i)))
        if draw(st.booleans()):  # same join, new end
            shift = recs[i]["joined_at"] - again["joined_at"]
            again["joined_at"] += shift
            if "left_at" in again:
                again["left_at"] += shift
        recs.append(again)
    base_ms = us(BASE) // 1000  # type: ignore[operator]
    for i in range(draw(st.integers(0, 3))):
        up = base_ms + draw(st.integers(-30, 90)) * STEP
        f = {"kind": "file", "id": f"f{i}", "size_bytes": draw(st.integers(0, 1000)), "uploaded_at": up}
        if draw(st.booleans()):
            f["deleted_at"] = up + draw(st.integers(0, 60)) * STEP
        recs.append(f)
    for i in range(draw(st.integers(0, 3))):
        recs.append({"kind": "message", "id": f"m{i}", "sent_at": base_ms + draw(st.integers(-30, 90)) * STEP})
    for i in range(draw(st.integers(0, 2))):
        recs.append({"kind": "user", "id": f"u{i}", "registered_at": base_ms + draw(st.integers(-30, 90)) * STEP})
    return recs


Scenario = tuple[list[str], list[tuple[int, dict[str, Any]]], list[int], list[dict[str, int]]]


@st.composite
def scenario(draw: Any) -> Scenario:
    """Timezones of 2-4 companies, all their records as (company index, record) in one arrival
    order, and where that stream is cut into batches."""
    zones = draw(st.lists(st.sampled_from(ZONES), min_size=2, max_size=4, unique=True))
    tagged = [(i, r) for i in range(len(zones)) for r in draw(company_records())]
    order = draw(st.permutations(range(len(tagged))))
    cuts = sorted(draw(st.lists(st.integers(1, max(1, len(tagged) - 1)), max_size=3)))
    # Small licence limits, so the counts often sit at them, cross them and exceed them.
    limits = [
        draw(
            st.fixed_dictionaries(
                {
                    "concurrent_speakers": st.integers(0, 3),
                    "concurrent_events": st.integers(1, 2),
                    "concurrent_connections": st.integers(1, 4),
                }
            )
        )
        for _ in zones
    ]
    return zones, [tagged[i] for i in order], cuts, limits


_counter = itertools.count()


def test_engine_matches_oracle(make_services: Any, backend: str) -> None:
    # The engine is shared by every backend and checked in depth on DuckDB; on the other
    # backends a smaller sample checks their storage (replace semantics, windows) against it.
    # An example holds 2-4 companies, so 60 of them check more companies than 120 single ones.
    examples = int(os.environ.get("VKURSE_STATS_PROPERTY_EXAMPLES", "60"))

    @settings(
        max_examples=examples if backend == "duckdb" else max(1, examples // 6),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(scenario())
    def check(case: Scenario) -> None:
        zones, tagged, cuts, limits = case
        svc = _shared(make_services)
        example = next(_counter)
        companies = [f"co{example}-{i}" for i in range(len(zones))]
        arrived = [{**r, "company_id": companies[i]} for i, r in tagged]
        # The company records open the first batch; every batch may hold any of the companies.
        batches = [arrived[a:b] for a, b in itertools.pairwise([0, *cuts, len(arrived)])]
        batches[0] = [
            {"kind": "company", "id": c, "name": c, "timezone": tz, "limits": lim}
            for c, tz, lim in zip(companies, zones, limits, strict=True)
        ] + batches[0]
        for batch in batches:
            result = svc.ingest_lines([json.dumps(r) for r in batch])
            assert result.rejected == 0, result.errors
            assert result.accepted == len(batch)
        own = {c: [r for r in arrived if r["company_id"] == c] for c in companies}
        for c, tz, lim in zip(companies, zones, limits, strict=True):
            _compare(svc, c, tz, own[c], lim)
        for c in companies:
            svc.rollups.rebuild(c)
        for c, tz, lim in zip(companies, zones, limits, strict=True):
            _compare(svc, c, tz, own[c], lim)

    check()


_SHARED: dict[int, Any] = {}


def _shared(make_services: Any) -> Any:
    """One store for all examples of a run (each example is its own company): opening a store
    per example would dominate the run time."""
    key = id(make_services)
    if key not in _SHARED:
        _SHARED.clear()
        _SHARED[key] = make_services(now=NOW, max_open_hours=CAP_H)
    return _SHARED[key]


def _compare(svc: Any, company: str, tz: str, arrived: list[dict[str, Any]], limits: dict[str, int]) -> None:
    now = us(NOW)
    cap = CAP_H * 3600 * 1_000_000
    days = svc.query.daily(company, FIRST, LAST)
    by_metric = {m.id: limits[m.limit] for m in LIMITED if m.limit in limits}
    for day in days:
        want = oracle_day(arrived, day.date, tz, now, cap)  # type: ignore[arg-type]
        breaches = oracle_breaches(arrived, day.date, tz, now, cap, by_metric)  # type: ignore[arg-type]
        hours = oracle_hours(arrived, day.date, tz, now, cap, HOURLY)  # type: ignore[arg-type]
        n = day_number(day.date)
        rows = svc.analytics.read_days(company, n, n)
        stored = dict(zip(rows.column("metric").to_pylist(), rows.column("value").to_pylist(), strict=True))
        for metric_id, slots in hours.items():
            got_slots = [stored.get(hour_id(metric_id, h), 0) for h in range(25)]
            assert got_slots == slots, (day.date, metric_id, got_slots, slots)
        for metric_id, expected in breaches.items():
            got = day.metrics[metric_id]
            assert got.breach == expected, (day.date, metric_id, got, expected)
            assert got.limit == by_metric[metric_id]
        peak_at = day.metrics["total.connections"].at
        if peak_at is not None:  # what was active at the day's peak: the counts, and their parts
            active = svc.query.at(company, peak_at)
            counts = {k: v["value"] for k, v in active["metrics"].items()}
            assert counts == oracle_at(arrived, peak_at, now, cap), (day.date, counts)  # type: ignore[arg-type]
            assert sum(p["connections"] for p in active["active"]) == counts["total.connections"]
            assert sum(p["speakers"] for p in active["active"]) == counts["total.speakers"]
            assert len(active["active"]) == counts["total.events"]
        for m in METRICS:
            got = day.metrics[m.id]
            exp_value, exp_at = want[m.id]
            assert got.value == exp_value, (day.date, m.id, got, want[m.id])
            if m.is_peak:
                assert got.at == exp_at, (day.date, m.id, got, want[m.id])
        assert day.clients == want["clients"], (day.date, day.clients, want["clients"])
    summary = svc.query.summary(company, FIRST, LAST)
    for m in METRICS:
        if m.is_peak:
            best = max(days, key=lambda d: d.metrics[m.id].value)
            first = next(d for d in days if d.metrics[m.id].value == best.metrics[m.id].value)
            assert summary.metrics[m.id].value == first.metrics[m.id].value
            assert summary.metrics[m.id].at == (first.metrics[m.id].at if first.metrics[m.id].value else None)
        elif m.combine == "sum":
            assert summary.metrics[m.id].value == sum(d.metrics[m.id].value for d in days)
        else:
            assert summary.metrics[m.id].value == days[-1].metrics[m.id].value
    assert FIRST + timedelta(days=len(days) - 1) == LAST


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 5), st.integers(-30, 200), st.integers(0, 60), st.integers(0, 3)), max_size=40)
)
def test_clients_too_wide_to_pack_count_alike(rows: list[tuple[int, int, int, int]]) -> None:
    """People numbered beyond 2**33 go through the row-wise unique: the same figures."""
    import numpy as np

    from vkurse_stats.metrics.engine import Connections, sweep_window
    from vkurse_stats.timeutil import DayGrid

    grid = DayGrid("America/New_York", 20_500, 20_502)
    hour = 3_600_000_000
    joined = np.array([grid.start(20_500) + h * hour // 2 for _, h, _, _ in rows], dtype=np.int64)

    def conns(offset: int) -> Connections:
        return Connections(
            parent=np.array([p for p, _, _, _ in rows], dtype=np.int64),
            template=np.array([p % 6 for p, _, _, _ in rows], dtype=np.int64),
            transport=np.array([p % 2 for p, _, _, _ in rows], dtype=np.int64),
            joined=joined,
            left=joined + np.array([m * hour // 4 for _, _, m, _ in rows], dtype=np.int64),
            person=np.array([offset + q for _, _, _, q in rows], dtype=np.int64),
            client=np.array([(p + q) % 3 for p, _, _, q in rows], dtype=np.int64),
            client_names=["web", "ios", "sip"],
        )

    packed, wide = (sweep_window(conns(o), grid, joined.max(initial=0) + hour, 24 * hour) for o in (0, 1 << 34))
    assert packed.clients == wide.clients
    assert {k: v.tolist() for k, v in packed.values.items()} == {k: v.tolist() for k, v in wide.values.items()}
