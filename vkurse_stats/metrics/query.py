"""The one query API: every figure the dashboard, the HTTP API, the exports and the CLI show.

Ranges are read from rollups (O(days)); days whose figures still depend on the clock are
refreshed first. Nothing here knows which backend it runs on.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

from ..records import TEMPLATES
from ..store.meta import MetaStore
from ..timeutil import day_from_number, day_number, day_start_us
from .definitions import CLIENT_PREFIX, METRICS
from .engine import NO_TIME
from .model import Day, MetricValue, Page, Summary
from .rollup import Rollups

TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "events": (
        "id",
        "title",
        "template",
        "organizer_id",
        "organizer_name",
        "created_at",
        "scheduled_start",
        "first_join",
        "last_leave",
        "duration_s",
        "participants",
        "connections",
        "peak",
        "peak_at",
    ),
    "planned": ("organizer_id", "organizer_name", "planned", "next_id", "next_title", "next_start"),
    "disk": ("owner_id", "owner_name", "bytes", "files"),
    "devices": ("client", "device", "users", "logins"),
}
MAX_PAGE = 100_000
TEMPLATE_NAMES: dict[int, str] = dict(enumerate(TEMPLATES))


class Query:
    def __init__(self, store: Any, meta: MetaStore, rollups: Rollups) -> None:
        self.store = store
        self.meta = meta
        self.rollups = rollups

    def _company(self, company_id: str) -> Any:
        info = self.meta.company(company_id)
        if info is None:
            raise KeyError(company_id)
        return info

    def _days(
        self, company_id: str, date_from: date, date_to: date
    ) -> tuple[Any, dict[int, dict[str, tuple[int, int]]]]:
        if date_to < date_from:
            raise ValueError("'to' is before 'from'")
        info = self._company(company_id)
        a, b = day_number(date_from), day_number(date_to)
        self.rollups.refresh(company_id, a, b)
        table = self.store.read_days(company_id, a, b)
        by_day: dict[int, dict[str, tuple[int, int]]] = defaultdict(dict)
        for d, m, v, at in zip(*(table.column(c).to_pylist() for c in ("day", "metric", "value", "at")), strict=True):
            by_day[d][m] = (v, NO_TIME if at is None else at)
        return info, by_day

    def summary(self, company_id: str, date_from: date, date_to: date) -> Summary:
        info, by_day = self._days(company_id, date_from, date_to)
        a, b = day_number(date_from), day_number(date_to)
        stocks = self.store.sums_before(company_id, [m.id for m in METRICS if m.combine == "last"], a)
        out: dict[str, MetricValue] = {}
        for m in METRICS:
            limit = info.limits.get(m.limit) if m.limit else None
            if m.combine == "max":
                best, best_at = 0, None
                for d in range(a, b + 1):
                    v, at = by_day.get(d, {}).get(m.id, (0, NO_TIME))
                    if v > best:
                        best, best_at = v, at
                out[m.id] = MetricValue(best, best_at, limit)
            elif m.combine == "sum":
                out[m.id] = MetricValue(
                    sum(by_day.get(d, {}).get(m.id, (0, 0))[0] for d in range(a, b + 1)), None, limit
                )
            else:
                level = stocks.get(m.id, 0) + sum(by_day.get(d, {}).get(m.id, (0, 0))[0] for d in range(a, b + 1))
                out[m.id] = MetricValue(level, None, limit)
        return Summary(info, date_from, date_to, out)

    def daily(self, company_id: str, date_from: date, date_to: date) -> list[Day]:
        info, by_day = self._days(company_id, date_from, date_to)
        a, b = day_number(date_from), day_number(date_to)
        level = dict(self.store.sums_before(company_id, [m.id for m in METRICS if m.combine == "last"], a))
        days = []
        for d in range(a, b + 1):
            row = by_day.get(d, {})
            metrics: dict[str, MetricValue] = {}
            for m in METRICS:
                v, at = row.get(m.id, (0, NO_TIME))
                if m.combine == "last":
                    level[m.id] = level.get(m.id, 0) + v
                    v = level[m.id]
                metrics[m.id] = MetricValue(v, at if (m.is_peak and v > 0) else None)
            clients = {k.removeprefix(CLIENT_PREFIX): v for k, (v, _) in row.items() if k.startswith(CLIENT_PREFIX)}
            days.append(Day(day_from_number(d), metrics, clients))
        return days

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
    ) -> Page:
        columns = TABLE_COLUMNS[name]
        if sort not in columns:
            raise ValueError(f"cannot sort by {sort!r}; sortable columns: {', '.join(columns)}")
        if order not in ("asc", "desc"):
            raise ValueError("order must be 'asc' or 'desc'")
        if not 1 <= limit <= MAX_PAGE or offset < 0:
            raise ValueError(f"limit must be 1..{MAX_PAGE} and offset >= 0")
        params = {"company": company_id, "search": search or "", **params}
        rows, total = self.store.table_page(name, params, sort, order, limit, offset)
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
        sort: str = "first_join",
        order: str = "desc",
        search: str = "",
        limit: int = 50,
        offset: int = 0,
    ) -> Page:
        info = self._company(company_id)
        self.rollups.refresh(company_id, day_number(date_from), day_number(date_to))
        page = self._page(
            "events", company_id, self._range_params(info, date_from, date_to), sort, order, search, limit, offset
        )
        for row in page.rows:
            row["template"] = TEMPLATE_NAMES.get(row["template"], row["template"])
        return page

    def planned(
        self,
        company_id: str,
        *,
        sort: str = "planned",
        order: str = "desc",
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
        sort: str = "bytes",
        order: str = "desc",
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
        sort: str = "users",
        order: str = "desc",
        search: str = "",
        limit: int = 50,
        offset: int = 0,
    ) -> Page:
        info = self._company(company_id)
        return self._page(
            "devices", company_id, self._range_params(info, date_from, date_to), sort, order, search, limit, offset
        )
