"""The one query API: every figure the dashboard, the HTTP API, the exports and the CLI show.

Ranges are read from rollups (O(days)); days whose figures still depend on the clock are
refreshed first. Nothing here knows which backend it runs on.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..records import TEMPLATE_CODE, TEMPLATES
from ..store.meta import MetaStore
from ..timeutil import DayGrid, day_from_number, day_number, day_start_us, local_hour, to_iso
from .activity import PEAKS, Episode, Window, active_at, episodes, minute_maxima, percentile, smallest_covering
from .definitions import CLIENT_PREFIX, METRICS
from .engine import HOUR_US, HOURLY
from .insight import BREACH_FIGURES, LIMITED, History, breach_id, hour_id, limit_at
from .keys import NO_TIME
from .model import Day, MetricValue, Page, Summary
from .rollup import Rollups
from .table_sql import TABLE_QUERIES
from .tables import TABLES, fold, templates_named

TABLE_COLUMNS: dict[str, tuple[str, ...]] = {name: t.keys for name, t in TABLES.items()}
MAX_PAGE = 100_000
STOCKS = [m.id for m in METRICS if m.combine == "last"]  # daily rows are changes of a level
TEMPLATE_NAMES: dict[int, str] = dict(enumerate(TEMPLATES))


def fold_search(text: str | None) -> str:
    """Search text as the tables' SQL compares it: lower case, ё as е (both sides alike)."""
    return fold(text or "")


class _Grid:
    """Rollup rows (day, metric, value, at) of days ``first .. last`` pivoted to metric x day."""

    def __init__(self, table: pa.Table, first: int, last: int) -> None:
        self.first = first
        self.days = last - first + 1
        metric = pc.dictionary_encode(table.column("metric")).combine_chunks()
        self.index = {name: i for i, name in enumerate(metric.dictionary.to_pylist())}
        rows = metric.indices.to_numpy(zero_copy_only=False)
        days = table.column("day").to_numpy().astype(np.int64) - first
        self._values = np.zeros((len(self.index), self.days), dtype=np.int64)
        self._at = np.full((len(self.index), self.days), NO_TIME, dtype=np.int64)
        self._values[rows, days] = table.column("value").to_numpy()
        self._at[rows, days] = pc.fill_null(table.column("at"), NO_TIME).to_numpy()

    def values(self, metric: str) -> np.ndarray:
        i = self.index.get(metric)
        return np.zeros(self.days, dtype=np.int64) if i is None else self._values[i]

    def at(self, metric: str) -> np.ndarray:
        i = self.index.get(metric)
        return np.full(self.days, NO_TIME, dtype=np.int64) if i is None else self._at[i]

    def clients(self) -> dict[int, dict[str, int]]:
        out: dict[int, dict[str, int]] = {}
        for name, i in self.index.items():
            if name.startswith(CLIENT_PREFIX):
                row = self._values[i]
                for d in np.flatnonzero(row).tolist():
                    out.setdefault(self.first + d, {})[name.removeprefix(CLIENT_PREFIX)] = int(row[d])
        return out


MAIN_CURVES = ("total.connections", "total.speakers", "total.events")


def _episode_json(e: Episode, tz: str) -> dict[str, Any]:
    return {
        "metric": e.metric,
        "kind": "over" if e.over else "at",
        "start": to_iso(e.start, tz),
        "end": to_iso(e.end, tz),
        "seconds": (e.end - e.start) / 1_000_000,
        "highest": e.highest,
        "limit": e.limit,
    }


def _figures(value: MetricValue) -> tuple[int, int, int, int]:
    """A limited peak's breach figures (zeros for a day that has none)."""
    return value.breach or (0, 0, 0, 0)


def _breach(grid: _Grid, metric_id: str, history: History, limit: str | None) -> tuple[int, int, int, int] | None:
    """A limited peak's breach figures summed over a range's days (None: never limited)."""
    if not limit or not history.get(limit) or limit == "storage_bytes":
        return None
    at_us, over_us, at_n, over_n = (int(grid.values(breach_id(metric_id, f)).sum()) for f in BREACH_FIGURES[:4])
    # An episode crossing midnight is one episode of the range, counted by both its days.
    for figure, n in (("at_edges", "at_n"), ("over_edges", "over_n")):
        edges = grid.values(breach_id(metric_id, figure))
        crossing = int(np.count_nonzero(((edges[:-1] & 2) > 0) & ((edges[1:] & 1) > 0)))
        if n == "at_n":
            at_n -= crossing
        else:
            over_n -= crossing
    return at_us, over_us, at_n, over_n


class Query:
    def __init__(self, store: Any, meta: MetaStore, rollups: Rollups) -> None:
        self.store = store
        self.meta = meta
        self.rollups = rollups

    def company(self, company_id: str) -> Any:
        """The company's settings (CompanyInfo); KeyError if unknown."""
        return self._company(company_id)

    def _company(self, company_id: str) -> Any:
        info = self.meta.company(company_id)
        if info is None:
            raise KeyError(company_id)
        return info

    def _grid(self, company_id: str, date_from: date, date_to: date) -> tuple[Any, _Grid, dict[str, int]]:
        """The company, its rollups of the range as a metric x day matrix, and the level each
        stock starts the range at. Days whose figures depend on the clock are recomputed for
        this read (see Rollups.fresh_days), without waiting for the writer."""
        if date_to < date_from:
            raise ValueError("'to' is before 'from'")
        info = self._company(company_id)
        a, b = day_number(date_from), day_number(date_to)
        self.rollups.settle_for_read(company_id)
        table, stocks, computed = self.store.read_range(company_id, a, b, STOCKS)
        days, fresh = self.rollups.fresh_days(company_id, b, computed)
        if fresh is not None:
            fresh = fresh.cast(table.schema)
            day = fresh.column("day")
            inside = pc.greater_equal(day, a)
            table = pa.concat_tables(
                [
                    table.filter(pc.invert(pc.is_in(table.column("day"), pa.array(days, pa.int32())))),
                    fresh.filter(inside),
                ]
            )
            before = sorted(d for d in days if d < a)
            if before:  # a stock's level at the range's start moved too
                stored = self.store.read_days(company_id, before[0], a - 1)
                for rows, sign in ((stored, -1), (fresh.filter(pc.invert(inside)), 1)):
                    rows = rows.filter(
                        pc.and_(
                            pc.is_in(rows.column("day"), pa.array(before, pa.int32())),
                            pc.is_in(rows.column("metric"), pa.array(STOCKS)),
                        )
                    )
                    for metric, value in zip(
                        rows.column("metric").to_pylist(), rows.column("value").to_pylist(), strict=True
                    ):
                        stocks[metric] = stocks.get(metric, 0) + sign * int(value)
        return info, _Grid(table, a, b), stocks

    def summary(self, company_id: str, date_from: date, date_to: date) -> Summary:
        info, grid, stocks = self._grid(company_id, date_from, date_to)
        return self._summary(info, grid, stocks, date_from, date_to, self._history(company_id))

    def daily(self, company_id: str, date_from: date, date_to: date) -> list[Day]:
        info, grid, stocks = self._grid(company_id, date_from, date_to)
        return self._daily(info, grid, stocks, self._history(company_id))

    def report(self, company_id: str, date_from: date, date_to: date) -> tuple[Summary, list[Day]]:
        """:meth:`summary` and :meth:`daily` of one range, reading its rollups once."""
        info, grid, stocks = self._grid(company_id, date_from, date_to)
        history = self._history(company_id)
        return self._summary(info, grid, stocks, date_from, date_to, history), self._daily(info, grid, stocks, history)

    def _history(self, company_id: str) -> History:
        return self.rollups.limit_histories([company_id])[company_id]

    def _range_end(self, info: Any, date_to: date) -> int:
        """The last instant of a range, or now if sooner: what a figure without a peak is held to."""
        end = day_start_us(day_from_number(day_number(date_to) + 1), info.timezone) - 1
        return min(end, self.rollups.clock())

    def _summary(
        self, info: Any, grid: _Grid, stocks: dict[str, int], date_from: date, date_to: date, history: History
    ) -> Summary:
        out: dict[str, MetricValue] = {}
        end = self._range_end(info, date_to)
        for m in METRICS:
            limit = limit_at(history, m.limit, end) if m.limit else None
            values = grid.values(m.id)
            if m.combine == "max":
                best = int(values.argmax())  # the first day with the greatest peak
                peak = int(values[best])
                at = int(grid.at(m.id)[best]) if peak > 0 else None
                if m.limit and at is not None:
                    limit = limit_at(history, m.limit, at)  # the limit in force at the peak
                out[m.id] = MetricValue(peak, at, limit, _breach(grid, m.id, history, m.limit))
            elif m.combine == "sum":
                out[m.id] = MetricValue(int(values.sum()), None, limit)
            else:
                out[m.id] = MetricValue(stocks.get(m.id, 0) + int(values.sum()), None, limit)
        return Summary(info, date_from, date_to, out)

    @staticmethod
    def _daily(info: Any, grid: _Grid, stocks: dict[str, int], history: History) -> list[Day]:
        columns: list[tuple[str, list[int], list[int | None], list[int | None], list[Any]]] = []
        starts = DayGrid(info.timezone, grid.first, grid.first + grid.days - 1).starts
        for m in METRICS:
            values = grid.values(m.id)
            if m.combine == "last":
                values = stocks.get(m.id, 0) + np.cumsum(values)
            ats: list[int | None] = [None] * len(values)
            if m.is_peak:
                ats = [t if v > 0 else None for v, t in zip(values.tolist(), grid.at(m.id).tolist(), strict=True)]
            limits: list[int | None] = [None] * len(values)
            breaches: list[Any] = [None] * len(values)
            if m.is_peak and m.limit and history.get(m.limit):
                limits = [
                    limit_at(history, m.limit, t if t is not None else int(s))
                    for t, s in zip(ats, starts[:-1].tolist(), strict=True)
                ]
                figures = [grid.values(breach_id(m.id, f)).tolist() for f in BREACH_FIGURES[:4]]
                breaches = list(zip(*figures, strict=True))
            columns.append((m.id, values.tolist(), ats, limits, breaches))
        clients = grid.clients()
        return [
            Day(
                day_from_number(grid.first + i),
                {mid: MetricValue(vals[i], ats[i], lims[i], brs[i]) for mid, vals, ats, lims, brs in columns},
                clients.get(grid.first + i, {}),
            )
            for i in range(grid.days)
        ]

    # --- licence insight (SPEC 4a) -------------------------------------------------------------
    def at(self, company_id: str, instant: int) -> dict[str, Any]:
        """What was active at ``instant``: each peak metric's count with the limit in force, and
        the events and calls active then, largest first (their figures sum to the counts)."""
        info = self._company(company_id)
        counts, parents = active_at(
            self.store, company_id, instant, self.rollups.clock(), self.rollups.cap_us, self._history(company_id)
        )
        return {
            "company": company_id,
            "instant": to_iso(instant, info.timezone),
            "metrics": {mid: {"value": v, "limit": lim} for mid, (v, lim) in counts.items()},
            "active": [p.as_json() for p in parents],
        }

    def peak_instant(self, company_id: str, metric_id: str, day: date) -> int | None:
        """The first instant of a day's peak of a metric (None: nothing that day)."""
        days = self.daily(company_id, day, day)
        figure = days[0].metrics.get(metric_id)
        if figure is None:
            raise ValueError(f"unknown peak metric {metric_id!r}")
        return figure.at

    def intraday(self, company_id: str, day: date) -> dict[str, Any]:
        """A day's exact step curves of the main counts (instants where each changes and its
        value from then), their per-minute maxima, peaks and the limit steps of the day."""
        info = self._company(company_id)
        grid = DayGrid(info.timezone, day_number(day), day_number(day))
        t0, t1 = grid.start(grid.first), grid.end(grid.first)
        window = Window.fetch(self.store, company_id, t0, t1, self.rollups.clock(), self.rollups.cap_us)
        history = self._history(company_id)
        out: dict[str, Any] = {}
        for m in (x for x in PEAKS if x.id in MAIN_CURVES):
            curve = window.curve(m)
            times, values = curve
            peak = int(values.max()) if len(values) else 0
            at = int(times[int(np.argmax(values))]) if peak else None
            steps = [(t, v) for t, v in history.get(m.limit or "", []) if t0 < t < t1]
            out[m.id] = {
                # Two columns, seconds from the day's start and the value from then: a busy day
                # changes its counts tens of thousands of times.
                "steps": {"seconds": ((times - t0) / 1_000_000).tolist(), "values": values.tolist()},
                "minutes": minute_maxima(curve, t0, t1),
                "peak": peak,
                "at": to_iso(at, info.timezone),
                "limit": limit_at(history, m.limit, t0) if m.limit else None,
                "limit_changes": [[to_iso(t, info.timezone), v] for t, v in steps],
                "episodes": [
                    _episode_json(e, info.timezone)
                    for e in episodes(curve, history.get(m.limit or "", []), m.id, t0, t1)
                ]
                if m.limit
                else [],
            }
        return {
            "company": company_id,
            "day": day.isoformat(),
            "timezone": info.timezone,
            "start": to_iso(t0, info.timezone),
            "end": to_iso(t1, info.timezone),
            "metrics": out,
        }

    def hours(self, company_id: str, date_from: date, date_to: date) -> dict[str, Any]:
        """Per main count: the highest value in every weekday x hour (local wall-clock hours) of
        a range, from the hourly maxima each day keeps (a 7 x 24 matrix, Monday first)."""
        info, grid, _stocks = self._grid(company_id, date_from, date_to)
        bounds = DayGrid(info.timezone, grid.first, grid.first + grid.days - 1).starts
        out: dict[str, list[list[int]]] = {}
        for metric_id in HOURLY:
            matrix = np.zeros((7, 24), dtype=np.int64)
            slots = np.stack([grid.values(hour_id(metric_id, h)) for h in range(25)], axis=1)
            for i in np.flatnonzero(slots.any(axis=1)).tolist():
                weekday = day_from_number(grid.first + i).weekday()
                length = int(bounds[i + 1] - bounds[i]) // HOUR_US
                for elapsed in np.flatnonzero(slots[i]).tolist():
                    # Hours from midnight are wall-clock hours but on the days clocks change.
                    hour = elapsed if length == 24 else local_hour(int(bounds[i]) + elapsed * HOUR_US, info.timezone)
                    matrix[weekday, hour] = max(matrix[weekday, hour], slots[i, elapsed])
            out[metric_id] = matrix.tolist()
        return {
            "company": company_id,
            "from": date_from.isoformat(),
            "to": date_to.isoformat(),
            "timezone": info.timezone,
            "metrics": out,
        }

    def breaches(
        self, company_id: str, date_from: date, date_to: date, metric: str | None = None, max_episodes: int = 100
    ) -> dict[str, Any]:
        """Per limited peak metric of a range: the time at and over the limit in force, the
        episodes (an episode crossing midnight is listed once, its days both count it), the days
        with a breach, and sizing: the median and 95th percentile of the daily peaks over days
        with activity, days at >= 90 % and >= 100 % of the limit, and the smallest limits that
        would have covered 95 % and 100 % of those days.

        Everything but the episode list comes from the rollups (O(days)); the list reads the
        connections of each breach day in order, so ``max_episodes`` bounds it (0: none)."""
        chosen = [m for m in LIMITED if metric is None or m.id == metric]
        if not chosen:
            raise ValueError(f"unknown limited metric {metric!r}; one of: {', '.join(m.id for m in LIMITED)}")
        info, grid, _stocks = self._grid(company_id, date_from, date_to)
        history = self._history(company_id)
        summary = self._summary(info, grid, {}, date_from, date_to, history)
        days = self._daily(info, grid, {}, history)
        bounds = DayGrid(info.timezone, grid.first, grid.first + grid.days - 1).starts
        out: dict[str, Any] = {}
        listed = 0
        for m in chosen:
            figure = summary.metrics[m.id]
            peaks = [d.metrics[m.id].value for d in days if d.metrics[m.id].value > 0]
            shares = [(d.metrics[m.id].value, d.metrics[m.id].limit) for d in days if d.metrics[m.id].value > 0]
            hit_days = [i for i, d in enumerate(days) if (d.metrics[m.id].breach or (0, 0, 0, 0))[0] > 0]
            found: list[Episode] = []
            truncated = False
            for i in hit_days:
                if listed >= max_episodes:
                    truncated = True
                    break
                t0, t1 = int(bounds[i]), int(bounds[i + 1])
                window = Window.fetch(self.store, company_id, t0, t1, self.rollups.clock(), self.rollups.cap_us)
                for e in episodes(window.curve(m), history.get(m.limit or "", []), m.id, t0, t1):
                    last = next((x for x in reversed(found) if x.over == e.over), None)
                    if last is not None and last.end == e.start:  # one episode across midnight
                        joined = Episode(m.id, e.over, last.start, e.end, max(last.highest, e.highest), last.limit)
                        found[found.index(last)] = joined
                    else:
                        found.append(e)
                        listed += 1
            at_us, over_us, at_n, over_n = figure.breach or (0, 0, 0, 0)
            out[m.id] = {
                "limit": figure.limit,
                "at_limit_seconds": at_us / 1_000_000,
                "over_limit_seconds": over_us / 1_000_000,
                "episodes": at_n,
                "over_episodes": over_n,
                "days": [
                    {
                        "date": days[i].date.isoformat(),
                        "peak": days[i].metrics[m.id].value,
                        "limit": days[i].metrics[m.id].limit,
                        "at_limit_seconds": _figures(days[i].metrics[m.id])[0] / 1_000_000,
                        "over_limit_seconds": _figures(days[i].metrics[m.id])[1] / 1_000_000,
                        "episodes": _figures(days[i].metrics[m.id])[2],
                    }
                    for i in hit_days
                ],
                "list": [_episode_json(e, info.timezone) for e in found],
                "truncated": truncated,
                "sizing": {
                    "active_days": len(peaks),
                    "median": percentile(peaks, 50),
                    "p95": percentile(peaks, 95),
                    "days_at_90": sum(1 for v, lim in shares if lim is not None and lim > 0 and v >= 0.9 * lim),
                    "days_at_100": sum(1 for v, lim in shares if lim is not None and v >= lim),
                    "covers_95": smallest_covering(peaks, 0.95),
                    "covers_100": smallest_covering(peaks, 1.0),
                },
            }
        return {
            "company": company_id,
            "from": date_from.isoformat(),
            "to": date_to.isoformat(),
            "timezone": info.timezone,
            "metrics": out,
        }

    # --- tables ------------------------------------------------------------------------------
    def _page(
        self,
        name: str,
        company_id: str,
        params: dict[str, Any],
        sort: str,
        order: str,
        search: str,
        limit: int,
        offset: int,
        fresh_stats: pa.Table | None = None,
    ) -> Page:
        columns = TABLE_COLUMNS[name]
        if sort not in columns:
            raise ValueError(f"cannot sort by {sort!r}; sortable columns: {', '.join(columns)}")
        if order not in ("asc", "desc"):
            raise ValueError("order must be 'asc' or 'desc'")
        if not 1 <= limit <= MAX_PAGE or offset < 0:
            raise ValueError(f"limit must be 1..{MAX_PAGE} and offset >= 0")
        params = {"company": company_id, "search": fold_search(search), **params}
        rows, total = self.store.table_page(TABLE_QUERIES[name], params, sort, order, limit, offset, fresh_stats)
        return Page(rows, total, sort, order, limit, offset, columns)

    def _range_params(self, info: Any, date_from: date, date_to: date) -> dict[str, Any]:
        return {
            "t0": day_start_us(date_from, info.timezone),
            "t1": day_start_us(day_from_number(day_number(date_to) + 1), info.timezone),
        }

    def events(
        self,
        company_id: str,
        date_from: date,
        date_to: date,
        *,
        sort: str = TABLES["events"].sort,
        order: str = TABLES["events"].order,
        search: str = "",
        limit: int = 50,
        offset: int = 0,
    ) -> Page:
        info = self._company(company_id)
        self.rollups.settle_for_read(company_id)
        fresh = None
        if self.store.concurrent_reads:
            fresh = self.rollups.fresh_open_stats(company_id)
        else:
            self.rollups.refresh_open_parents(company_id)
        # An event's type is searched by its name, in either language ("вебинар" finds webinars).
        templates = [TEMPLATE_CODE[t] for t in templates_named(fold_search(search)) if t in TEMPLATE_CODE]
        page = self._page(
            "events",
            company_id,
            {**self._range_params(info, date_from, date_to), "templates": templates},
            sort,
            order,
            search,
            limit,
            offset,
            fresh,
        )
        for row in page.rows:
            row["template"] = TEMPLATE_NAMES.get(row["template"], row["template"])
        return page

    def planned(
        self,
        company_id: str,
        *,
        sort: str = TABLES["planned"].sort,
        order: str = TABLES["planned"].order,
        search: str = "",
        limit: int = 50,
        offset: int = 0,
    ) -> Page:
        self._company(company_id)
        return self._page("planned", company_id, {"now": self.rollups.clock()}, sort, order, search, limit, offset)

    def disk(
        self,
        company_id: str,
        *,
        sort: str = TABLES["disk"].sort,
        order: str = TABLES["disk"].order,
        search: str = "",
        limit: int = 50,
        offset: int = 0,
    ) -> Page:
        self._company(company_id)
        return self._page("disk", company_id, {"now": self.rollups.clock()}, sort, order, search, limit, offset)

    def devices(
        self,
        company_id: str,
        date_from: date,
        date_to: date,
        *,
        sort: str = TABLES["devices"].sort,
        order: str = TABLES["devices"].order,
        search: str = "",
        limit: int = 50,
        offset: int = 0,
    ) -> Page:
        info = self._company(company_id)
        return self._page(
            "devices", company_id, self._range_params(info, date_from, date_to), sort, order, search, limit, offset
        )
