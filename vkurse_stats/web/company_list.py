"""Companies page by page, for the support list and the company switcher.

The platform may hold thousands of companies, so neither page loads them all: the search (id or
name, see ``MetaStore.companies_page``) and the paging run in the metadata store, and every
state of a list is a bookmarkable URL (``q``, ``page`` and the parameters a page keeps).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from starlette.requests import Request

from ..store.meta import CompanyInfo, MetaStore
from .params import parse_int
from .render import url_with

PAGE_SIZE = 50
MAX_SEARCH = 200
MAX_PAGE = 10**6


@dataclass
class CompanyListing:
    rows: list[CompanyInfo]
    total: int
    search: str
    page: int
    first: int
    last: int
    prev_url: str | None
    next_url: str | None
    # Parameters the search form sends again, so a search keeps the page's other state.
    hidden: list[tuple[str, str]] = field(default_factory=list)


def company_listing(
    request: Request, meta: MetaStore, *, current: str | None = None, keep: tuple[str, ...] = ()
) -> CompanyListing:
    """The page of companies that ``q`` and ``page`` ask for. Without either, the page that
    holds ``current`` (so the open company is in view)."""
    qp = request.query_params
    search = (qp.get("q") or "").strip()[:MAX_SEARCH]
    raw_page = qp.get("page")
    if not raw_page and not search and current:
        position = meta.company_position(current)
        page_no = position // PAGE_SIZE + 1 if position is not None else 1
    else:
        page_no = parse_int("page", raw_page, 1, 1, MAX_PAGE)
    offset = (page_no - 1) * PAGE_SIZE
    rows, total = meta.companies_page(search, PAGE_SIZE, offset)
    last = offset + len(rows)
    last_page = max(1, -(-total // PAGE_SIZE))
    return CompanyListing(
        rows=rows,
        total=total,
        search=search,
        page=page_no,
        first=offset + 1 if rows else 0,
        last=last,
        # "page" stays explicit even for page 1: without it the list reopens at ``current``.
        prev_url=url_with(request, page=min(page_no - 1, last_page)) if page_no > 1 else None,
        next_url=url_with(request, page=page_no + 1) if last < total else None,
        hidden=[(k, v) for k in keep if (v := qp.get(k) or "")],
    )
