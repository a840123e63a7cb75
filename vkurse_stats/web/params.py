"""Request parameters shared by pages and API: date ranges, table sorting and paging, and the
query calls behind the four tables (so the dashboard and ``/api/v1/*`` read them identically).

Every bad parameter becomes a 400 whose message names the parameter.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from ..metrics.model import Page
from ..metrics.tables import TABLES as TABLE_DEFS
from ..store.meta import CompanyInfo
from ..timeutil import to_iso
from .errors import ApiError

if TYPE_CHECKING:
    from ..metrics.query import Query

MAX_RANGE_DAYS = 3 * 366 + 1  # a dashboard range beyond three years is a typo, not a question
MAX_LIMIT = 1000
TABLES = tuple(TABLE_DEFS)
# Row fields holding instants (epoch microseconds) that the API renders as ISO 8601.
INSTANT_FIELDS = frozenset(c.key for t in TABLE_DEFS.values() for c in t.columns if c.type == "instant")
DEFAULT_SORT = {name: t.sort for name, t in TABLE_DEFS.items()}


def parse_date(name: str, value: str | None) -> date:
    if not value:
        raise ApiError(400, "date_required", name=name)
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ApiError(400, "date_invalid", name=name, value=value) from None


def parse_range(date_from: str | None, date_to: str | None) -> tuple[date, date]:
    d1 = parse_date("from", date_from)
    d2 = parse_date("to", date_to)
    if d1 > d2:
        raise ApiError(400, "range_reversed", d1=d1, d2=d2)
    if (d2 - d1) > timedelta(days=MAX_RANGE_DAYS):
        raise ApiError(400, "range_too_long", days=MAX_RANGE_DAYS)
    return d1, d2


def parse_int(name: str, value: str | None, default: int, lo: int, hi: int) -> int:
    if value is None or value == "":
        return default
    try:
        n = int(value)
    except ValueError:
        raise ApiError(400, "not_integer", name=name, value=value) from None
    if not lo <= n <= hi:
        raise ApiError(400, "out_of_bounds", name=name, lo=lo, hi=hi)
    return n


def parse_order(name: str, value: str | None) -> str | None:
    """``asc``/``desc``, or None (the table's default order) when not given."""
    if value in (None, ""):
        return None
    if value not in ("asc", "desc"):
        raise ApiError(400, "bad_order", name=name)
    return value


def fetch_table(
    query: Query,
    table: str,
    company_id: str,
    d1: date,
    d2: date,
    *,
    sort: str | None,
    order: str | None,
    search: str,
    limit: int,
    offset: int,
    sort_param: str = "sort",
    last_page: bool = False,
) -> Page:
    """One page of a table; an unknown sort column is a 400 naming ``sort_param``.

    With ``last_page``, an offset past the last row reads the last page instead (a bookmarked
    page of a table that has since shrunk)."""
    calls: dict[str, Callable[..., Page]] = {
        "events": lambda **kw: query.events(company_id, d1, d2, **kw),
        "planned": lambda **kw: query.planned(company_id, **kw),
        "disk": lambda **kw: query.disk(company_id, **kw),
        "devices": lambda **kw: query.devices(company_id, d1, d2, **kw),
    }
    spec = TABLE_DEFS[table]
    if sort and sort not in spec.keys:
        raise ApiError(400, "bad_sort", name=sort_param, value=sort, columns=", ".join(spec.keys))
    kw = {"sort": sort or spec.sort, "order": order or spec.order, "search": search[:200], "limit": limit}
    try:
        page = calls[table](offset=offset, **kw)
        if last_page and not page.rows and page.total and offset:
            page = calls[table](offset=(page.total - 1) // limit * limit, **kw)
        return page
    except KeyError:
        raise ApiError(404, "unknown_company", company=company_id) from None


def page_json(page: Page, company: CompanyInfo) -> dict[str, Any]:
    tz = company.timezone
    rows = [
        {k: (to_iso(v, tz) if k in INSTANT_FIELDS and isinstance(v, int) else v) for k, v in row.items()}
        for row in page.rows
    ]
    return {
        "company": company.id,
        "rows": rows,
        "total": page.total,
        "sort": page.sort,
        "order": page.order,
        "limit": page.limit,
        "offset": page.offset,
        "columns": list(page.columns),
    }
