"""Request parameters shared by pages and API: date ranges, table sorting and paging, and the
query calls behind the four tables (so the dashboard and ``/api/v1/*`` read them identically).

Every bad parameter becomes a 400 whose message names the parameter.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from ..metrics.model import Page
from ..store.meta import CompanyInfo
from ..timeutil import to_iso
from .auth import HTTPError

if TYPE_CHECKING:
    from ..metrics.query import Query

MAX_RANGE_DAYS = 3 * 366 + 1  # a dashboard range beyond three years is a typo, not a question
MAX_LIMIT = 1000
TABLES = ("events", "planned", "disk", "devices")
# Row fields holding instants (epoch microseconds) that the API renders as ISO 8601.
INSTANT_FIELDS = frozenset({"created_at", "scheduled_start", "first_join", "last_leave",
                            "peak_at", "next_start"})
DEFAULT_SORT = {"events": "first_join", "planned": "planned", "disk": "bytes", "devices": "users"}


def parse_date(name: str, value: str | None) -> date:
    if not value:
        raise HTTPError(400, f"parameter {name!r} is required (YYYY-MM-DD)")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise HTTPError(400, f"parameter {name!r}: {value!r} is not a date (YYYY-MM-DD)") from None


def parse_range(date_from: str | None, date_to: str | None) -> tuple[date, date]:
    d1 = parse_date("from", date_from)
    d2 = parse_date("to", date_to)
    if d1 > d2:
        raise HTTPError(400, f"parameter 'from' ({d1}) is after parameter 'to' ({d2})")
    if (d2 - d1) > timedelta(days=MAX_RANGE_DAYS):
        raise HTTPError(400, f"parameter 'to': the range is longer than {MAX_RANGE_DAYS} days")
    return d1, d2


def parse_int(name: str, value: str | None, default: int, lo: int, hi: int) -> int:
    if value is None or value == "":
        return default
    try:
        n = int(value)
    except ValueError:
        raise HTTPError(400, f"parameter {name!r}: {value!r} is not an integer") from None
    if not lo <= n <= hi:
        raise HTTPError(400, f"parameter {name!r} must be between {lo} and {hi}")
    return n


def parse_order(name: str, value: str | None) -> str:
    if value in (None, ""):
        return "desc"
    if value not in ("asc", "desc"):
        raise HTTPError(400, f"parameter {name!r} must be 'asc' or 'desc'")
    return value  # type: ignore[return-value]


def fetch_table(query: Query, table: str, company_id: str, d1: date, d2: date, *,
                sort: str | None, order: str, search: str, limit: int, offset: int,
                sort_param: str = "sort") -> Page:
    """One page of a table; an unknown sort column is a 400 naming ``sort_param``."""
    calls: dict[str, Callable[..., Page]] = {
        "events": lambda **kw: query.events(company_id, d1, d2, **kw),
        "planned": lambda **kw: query.planned(company_id, **kw),
        "disk": lambda **kw: query.disk(company_id, **kw),
        "devices": lambda **kw: query.devices(company_id, d1, d2, **kw),
    }
    try:
        return calls[table](sort=sort or DEFAULT_SORT[table], order=order, search=search[:200],
                            limit=limit, offset=offset)
    except ValueError as exc:
        raise HTTPError(400, f"parameter {sort_param!r}: {exc}") from None
    except KeyError:
        raise HTTPError(404, f"unknown company {company_id!r}") from None


def page_json(page: Page, company: CompanyInfo) -> dict[str, Any]:
    tz = company.timezone
    rows = [{k: (to_iso(v, tz) if k in INSTANT_FIELDS and isinstance(v, int) else v)
             for k, v in row.items()} for row in page.rows]
    return {"company": company.id, "rows": rows, "total": page.total, "sort": page.sort,
            "order": page.order, "limit": page.limit, "offset": page.offset,
            "columns": list(page.columns)}
