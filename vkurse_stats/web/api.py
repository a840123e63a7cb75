"""The HTTP API (``/api/v1``): ingest, the summary, daily series, the four tables and exports.

GET endpoints accept a browser session or a read token; ingest needs an ingest token. Which
company is read follows :func:`auth.resolve_company`: pinned callers (company administrators,
company tokens) only ever see their own company. Every export download is audited.
"""

from __future__ import annotations

import zlib
from datetime import date
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from ..ingest import Actor
from .auth import (
    HTTPError,
    Principal,
    accounts_of,
    api_principal,
    client_address,
    resolve_company,
    services_of,
)
from .errors import ApiError
from .params import MAX_LIMIT, fetch_table, page_json, parse_int, parse_order, parse_range

router = APIRouter(prefix="/api/v1", tags=["api"])

FromQ = Annotated[str | None, Query(alias="from", description="First day, YYYY-MM-DD (inclusive)")]
ToQ = Annotated[str | None, Query(alias="to", description="Last day, YYYY-MM-DD (inclusive)")]
CompanyQ = Annotated[
    str | None,
    Query(
        description="Company id (support and platform tokens; a company administrator always gets their own company)"
    ),
]
SortQ = Annotated[str | None, Query(description="Column to sort by (see `columns` in the answer)")]
OrderQ = Annotated[str | None, Query(description="asc or desc (default desc)")]
SearchQ = Annotated[str, Query(description="Case-insensitive text filter")]
LimitQ = Annotated[str | None, Query(description=f"Rows per page, 1..{MAX_LIMIT} (default 50)")]
OffsetQ = Annotated[str | None, Query(description="Rows to skip (default 0)")]

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "A bad parameter (the message names it)"},
    401: {"description": "Not signed in / no valid token"},
    403: {"description": "The token has the wrong scope"},
    404: {"description": "Unknown company (or not yours)"},
}


def _reader(request: Request, company: str | None) -> tuple[Principal, Any]:
    principal = api_principal(request, scope="read")
    info = resolve_company(request, principal, company, default_first=False)
    return principal, info


# --- ingest ---------------------------------------------------------------------------------
async def _read_body(request: Request, limit: int) -> bytes:
    """The request body, gunzipped when sent so; a clear 413 past ``limit`` bytes either way."""
    too_big = HTTPError(413, f"request body is larger than {limit} bytes; send smaller batches")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise too_big
    encoding = request.headers.get("content-encoding", "identity").lower().strip()
    if encoding not in ("identity", "gzip", "x-gzip"):
        raise HTTPError(415, f"unsupported Content-Encoding {encoding!r}; use gzip or none")
    inflater = zlib.decompressobj(wbits=31) if encoding != "identity" else None
    parts: list[bytes] = []
    size = raw = 0
    try:
        async for chunk in request.stream():
            raw += len(chunk)
            if raw > limit:
                raise too_big
            if inflater is not None:
                # Bounded output per step, so a small "zip bomb" cannot expand past the limit.
                chunk = inflater.decompress(chunk, limit + 1 - size)
                if inflater.unconsumed_tail:
                    raise too_big
            size += len(chunk)
            if size > limit:
                raise too_big
            parts.append(chunk)
        if inflater is not None:
            parts.append(inflater.flush())
            if not inflater.eof:
                raise HTTPError(400, "the gzip body is truncated")
    except zlib.error as exc:
        raise HTTPError(400, f"the body is not valid gzip: {exc}") from None
    return b"".join(parts)


@router.post(
    "/ingest",
    summary="Push activity records (JSON Lines)",
    description="Body: one JSON record per line (SPEC §3); `Content-Encoding: gzip` accepted. "
    "Needs an ingest token. Good records are stored even when others are rejected.",
    responses={**ERRORS, 413: {"description": "Body too large"}},
    openapi_extra={
        "requestBody": {"content": {"application/x-ndjson": {"schema": {"type": "string"}}}, "required": True}
    },
)
async def ingest(request: Request) -> JSONResponse:
    principal = api_principal(request, scope="ingest")
    body = await _read_body(request, request.app.state.max_ingest_bytes)
    lines = body.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    scope = principal.token.company_id if principal.token else None
    # The company changes of the batch are audited as the token's, from the caller's address.
    actor = Actor(principal.actor, client_address(request), accounts_of(request))
    # Rollups are recomputed by the worker (or the next read), not per request: small batches
    # from a live platform coalesce into one recomputation.
    result = await run_in_threadpool(
        services_of(request).ingest_lines, lines, company_scope=scope, defer_rollups=True, actor=actor
    )
    return JSONResponse(result.as_json())


# --- reads ----------------------------------------------------------------------------------
@router.get("/summary", summary="Figures of a date range", responses=ERRORS)
def summary(request: Request, date_from: FromQ = None, date_to: ToQ = None, company: CompanyQ = None) -> JSONResponse:
    _, info = _reader(request, company)
    d1, d2 = parse_range(date_from, date_to)
    try:
        result = services_of(request).query.summary(info.id, d1, d2)
    except KeyError:
        raise ApiError(404, "unknown_company", company=info.id) from None
    return JSONResponse(result.as_json())


@router.get("/daily", summary="Every metric per day of a date range", responses=ERRORS)
def daily(request: Request, date_from: FromQ = None, date_to: ToQ = None, company: CompanyQ = None) -> JSONResponse:
    _, info = _reader(request, company)
    d1, d2 = parse_range(date_from, date_to)
    try:
        days = services_of(request).query.daily(info.id, d1, d2)
    except KeyError:
        raise ApiError(404, "unknown_company", company=info.id) from None
    return JSONResponse(
        {
            "company": info.id,
            "from": d1.isoformat(),
            "to": d2.isoformat(),
            "timezone": info.timezone,
            "days": [d.as_json(info.timezone) for d in days],
        }
    )


def _table(
    request: Request,
    table: str,
    company: str | None,
    date_from: str | None,
    date_to: str | None,
    sort: str | None,
    order: str | None,
    search: str,
    limit: str | None,
    offset: str | None,
) -> JSONResponse:
    _, info = _reader(request, company)
    # planned/disk are "now" tables: no range (the query API ignores one).
    d1, d2 = parse_range(date_from, date_to) if table in ("events", "devices") else (date.min, date.min)
    page = fetch_table(
        services_of(request).query,
        table,
        info.id,
        d1,
        d2,
        sort=sort,
        order=parse_order("order", order),
        search=search,
        last_page=True,
        limit=parse_int("limit", limit, 50, 1, MAX_LIMIT),
        offset=parse_int("offset", offset, 0, 0, 10**9),
    )
    return JSONResponse(page_json(page, info))


@router.get("/events", summary="Events created or held in a date range", responses=ERRORS)
def events(
    request: Request,
    date_from: FromQ = None,
    date_to: ToQ = None,
    company: CompanyQ = None,
    sort: SortQ = None,
    order: OrderQ = None,
    search: SearchQ = "",
    limit: LimitQ = None,
    offset: OffsetQ = None,
) -> JSONResponse:
    return _table(request, "events", company, date_from, date_to, sort, order, search, limit, offset)


@router.get("/planned", summary="Planned events per organizer", responses=ERRORS)
def planned(
    request: Request,
    company: CompanyQ = None,
    sort: SortQ = None,
    order: OrderQ = None,
    search: SearchQ = "",
    limit: LimitQ = None,
    offset: OffsetQ = None,
) -> JSONResponse:
    return _table(request, "planned", company, None, None, sort, order, search, limit, offset)


@router.get("/disk", summary="Disk usage per owner", responses=ERRORS)
def disk(
    request: Request,
    company: CompanyQ = None,
    sort: SortQ = None,
    order: OrderQ = None,
    search: SearchQ = "",
    limit: LimitQ = None,
    offset: OffsetQ = None,
) -> JSONResponse:
    return _table(request, "disk", company, None, None, sort, order, search, limit, offset)


@router.get("/devices", summary="Users by client type and device (from logins)", responses=ERRORS)
def devices(
    request: Request,
    date_from: FromQ = None,
    date_to: ToQ = None,
    company: CompanyQ = None,
    sort: SortQ = None,
    order: OrderQ = None,
    search: SearchQ = "",
    limit: LimitQ = None,
    offset: OffsetQ = None,
) -> JSONResponse:
    return _table(request, "devices", company, date_from, date_to, sort, order, search, limit, offset)


# --- exports --------------------------------------------------------------------------------
def content_disposition(filename: str) -> str:
    """RFC 6266: an ASCII ``filename`` for old clients and the exact UTF-8 ``filename*``."""
    ascii_name = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in filename)
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"


def _export(
    request: Request,
    ext: str,
    company: str | None,
    date_from: str | None,
    date_to: str | None,
    lang: str | None,
    sep: str | None,
) -> Response:
    principal, info = _reader(request, company)
    d1, d2 = parse_range(date_from, date_to)
    lang = lang or "ru"
    if lang not in ("ru", "en"):
        raise ApiError(400, "bad_lang")
    separators = {None: ";", "": ";", ";": ";", ",": ",", "semicolon": ";", "comma": ","}
    if sep not in separators:
        raise ApiError(400, "bad_sep")
    try:
        from ..export import export_csv, export_filename, export_xlsx
    except ImportError:
        raise HTTPError(503, "exports are not available in this build") from None
    query = services_of(request).query
    try:
        if ext == "csv":
            data = export_csv(query, info.id, d1, d2, lang=lang, sep=separators[sep])
            media = "text/csv; charset=utf-8"
        else:
            data = export_xlsx(query, info.id, d1, d2, lang=lang)
            media = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    except KeyError:
        raise ApiError(404, "unknown_company", company=info.id) from None
    accounts_of(request).audit(
        principal.actor,
        f"export.{ext}",
        info.id,
        client_address(request),
        date_from=d1.isoformat(),
        date_to=d2.isoformat(),
        lang=lang,
    )
    return Response(
        data,
        media_type=media,
        headers={
            "Content-Disposition": content_disposition(export_filename(info.id, d1, d2, ext)),
            "Cache-Control": "no-store",
        },
    )


@router.get("/export.csv", summary="Download the daily figures as CSV", responses=ERRORS, response_class=Response)
def export_csv_endpoint(
    request: Request,
    date_from: FromQ = None,
    date_to: ToQ = None,
    company: CompanyQ = None,
    lang: Annotated[str | None, Query(description="ru or en")] = None,
    sep: Annotated[str | None, Query(description="';' (default) or ','")] = None,
) -> Response:
    return _export(request, "csv", company, date_from, date_to, lang, sep)


@router.get(
    "/export.xlsx", summary="Download the figures as an Excel workbook", responses=ERRORS, response_class=Response
)
def export_xlsx_endpoint(
    request: Request,
    date_from: FromQ = None,
    date_to: ToQ = None,
    company: CompanyQ = None,
    lang: Annotated[str | None, Query(description="ru or en")] = None,
) -> Response:
    return _export(request, "xlsx", company, date_from, date_to, lang, None)
