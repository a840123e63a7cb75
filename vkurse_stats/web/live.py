"""The live view «Сейчас» and the in-app alerts.

``GET /api/v1/now`` is :meth:`Query.at` at the installation's now (see :func:`now_of`): every peak count against the
limit in force, and the events and calls active now with their organizer, connections and
speakers, largest first. ``GET /api/v1/now/stream`` sends the same object as server-sent events:
once at once, then after every apply of the writer that touched the company (the writer tells
:class:`LiveHub`, which only takes note). A company's figures are computed once per change however
many watch it, and only while someone watches: an update costs one instant's connections of the
companies that changed. The page (``/now``) listens to the stream and polls ``/api/v1/now`` every
two seconds when the stream is not available.

``/notifications`` lists the company's alerts (the unread count is the badge of the menu);
``GET /api/v1/alerts`` gives them as JSON.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from ..export.labels import check_lang, local_datetime, metric_header
from ..metrics.activity import PEAKS
from ..metrics.definitions import METRIC_BY_ID
from ..notify.alerts import metric_label
from ..store.meta import CompanyInfo
from ..timeutil import to_iso
from .api import ERRORS, CompanyQ, _reader
from .auth import page_principal, resolve_company, services_of
from .i18n import pick_lang
from .params import parse_int
from .render import render

if TYPE_CHECKING:
    from ..service import Services

router = APIRouter()

KEEPALIVE_S = 15.0  # a comment line this often keeps proxies from closing an idle stream
POLL_MS = 2000


@dataclass
class _Watched:
    """One company's watchers and its latest figures (computed once per change)."""

    version: int = 0
    watchers: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = field(default_factory=set)
    computed: tuple[int, dict[str, Any]] | None = None
    lock: asyncio.Lock | None = None


class LiveHub:
    """Who watches which company's live view, and the wake-ups the writer's applies send them."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self._lock = threading.Lock()
        self._companies: dict[str, _Watched] = {}

    def note(self, applied: Mapping[str, frozenset[int] | None]) -> None:
        """The writer applied these companies: wake their watchers (nobody watching: nothing)."""
        with self._lock:
            for company_id in applied:
                watched = self._companies.get(company_id)
                if watched is None:
                    continue
                watched.version += 1
                for loop, event in watched.watchers:
                    loop.call_soon_threadsafe(event.set)

    def watch(self, company_id: str) -> asyncio.Event:
        event = asyncio.Event()
        with self._lock:
            watched = self._companies.setdefault(company_id, _Watched())
            watched.watchers.add((asyncio.get_running_loop(), event))
        return event

    def unwatch(self, company_id: str, event: asyncio.Event) -> None:
        with self._lock:
            watched = self._companies.get(company_id)
            if watched is None:
                return
            watched.watchers = {w for w in watched.watchers if w[1] is not event}
            if not watched.watchers:
                del self._companies[company_id]

    async def figures(self, company_id: str) -> dict[str, Any]:
        """The company's live figures, computed once per change for all its watchers."""
        with self._lock:
            watched = self._companies.get(company_id)
        if watched is None:
            return await run_in_threadpool(now_of, self.services, company_id)
        if watched.lock is None:
            watched.lock = asyncio.Lock()
        async with watched.lock:
            version = watched.version
            if watched.computed is None or watched.computed[0] != version:
                watched.computed = (version, await run_in_threadpool(now_of, self.services, company_id))
            return watched.computed[1]

    def watchers(self, company_id: str) -> int:
        with self._lock:
            watched = self._companies.get(company_id)
            return len(watched.watchers) if watched else 0


def now_of(services: Services, company_id: str) -> dict[str, Any]:
    """What is active now in the company: ``Query.at`` at the last instant before now (an open
    connection is active on [joined, now): at ``now`` itself it would not count), with ``instant``
    now."""
    now = services.now_us()
    data = services.query.at(company_id, now - 1)
    return {**data, "instant": to_iso(now, services.meta.company(company_id).timezone)}  # type: ignore[union-attr]


def hub_of(request: Request) -> LiveHub:
    hub: LiveHub = request.app.state.live
    return hub


# --- API -----------------------------------------------------------------------------------------
@router.get("/api/v1/now", tags=["licence insight"], summary="What is active now", responses=ERRORS)
def now(request: Request, company: CompanyQ = None) -> JSONResponse:
    """Every peak count now with the limit in force, and the events and calls active now with
    their organizer, connections, speakers and webinar viewers, largest first (as
    ``/api/v1/at`` at the installation's now)."""
    _, info = _reader(request, company)
    return JSONResponse(now_of(services_of(request), info.id))


@router.get(
    "/api/v1/now/stream",
    tags=["licence insight"],
    summary="What is active now, as server-sent events",
    responses=ERRORS,
)
async def now_stream(request: Request, company: CompanyQ = None) -> StreamingResponse:
    """``text/event-stream``: an ``now`` event with the object of ``/api/v1/now`` at once and
    after every ingest that changed the company's figures (within about a second of it)."""
    _, info = await run_in_threadpool(_reader, request, company)
    hub = hub_of(request)
    event = hub.watch(info.id)

    async def stream() -> AsyncIterator[str]:
        try:
            yield _event(await hub.figures(info.id))
            while True:
                try:
                    await asyncio.wait_for(event.wait(), KEEPALIVE_S)
                except TimeoutError:
                    if await request.is_disconnected():
                        return
                    yield ": keepalive\n\n"
                    continue
                event.clear()
                yield _event(await hub.figures(info.id))
        finally:
            hub.unwatch(info.id, event)

    return StreamingResponse(
        stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    )


def _event(data: dict[str, Any]) -> str:
    return f"event: now\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


@router.get("/api/v1/alerts", tags=["licence insight"], summary="The company's licence alerts", responses=ERRORS)
def alert_list(
    request: Request,
    company: CompanyQ = None,
    limit: Annotated[str | None, Query(description="At most this many (default 50)")] = None,
    offset: Annotated[str | None, Query(description="Skip this many")] = None,
) -> JSONResponse:
    """The company's alerts, newest first: metric, threshold percent, kind (raised, corrected,
    retracted), instant, value, level, limit in force, the events active then, and which alert
    one replaces."""
    _, info = _reader(request, company)
    store = services_of(request).alerts.store
    rows, total = store.alert_list(
        info.id, limit=parse_int("limit", limit, 50, 1, 500), offset=parse_int("offset", offset, 0, 0, 10**9)
    )
    return JSONResponse(
        {
            "company": info.id,
            "total": total,
            "alerts": [{**a.as_json(), "instant": to_iso(a.instant_us, info.timezone)} for a in rows],
        }
    )


# --- pages ---------------------------------------------------------------------------------------
def _page_company(request: Request) -> tuple[Any, CompanyInfo]:
    principal = page_principal(request)
    return principal, resolve_company(request, principal, request.query_params.get("company"), default_first=True)


@router.get("/now", include_in_schema=False)
def now_page(request: Request) -> Response:
    _, info = _page_company(request)
    data = now_of(services_of(request), info.id)
    lang = check_lang(pick_lang(request))
    return render(
        request,
        "now.html",
        {
            "company": info,
            "data": data,
            "labels": {m.id: metric_header(METRIC_BY_ID[m.id], lang) for m in PEAKS},
            "source": "/api/v1/now?" + urlencode({"company": info.id}),
            "poll_ms": POLL_MS,
        },
    )


@router.get("/notifications", include_in_schema=False)
def notifications_page(request: Request) -> Response:
    principal, info = _page_company(request)
    store = services_of(request).alerts.store
    page = parse_int("page", request.query_params.get("page"), 1, 1, 10**6)
    rows, total = store.alert_list(info.id, limit=50, offset=(page - 1) * 50)
    account = principal.account
    if account is not None and rows and page == 1:
        store.mark_alerts_read(account.id, rows[0].id)
    return render(
        request,
        "notifications.html",
        {
            "company": info,
            "rows": rows,
            "total": total,
            "page": page,
            "pages": max(1, -(-total // 50)),
            "when": lambda us: local_datetime(us, info.timezone).strftime("%Y-%m-%d %H:%M:%S"),
            "metric_label": metric_label,
        },
    )
