"""The application factory: routers, static files, security headers and error pages.

``create_app(services)`` wires the dashboard, the support pages and the HTTP API onto one
:class:`~vkurse_stats.service.Services`. Errors never leak a stack trace: the API answers
``{"error": "..."}`` with a status code, pages render a short error page.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_oauth2_redirect_html
from fastapi.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
)
from sqlalchemy.exc import OperationalError
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import __doc__ as package_doc
from ..store.accounts import AccountStore
from ..store.errors import StoreUnavailableError
from . import api, insight, live, pages, subscriptions, support
from .auth import HTTPError, LoginRequired, PasswordChangeRequired
from .errors import STATUS_CODES, error_code, error_lang, error_text
from .gate import ReadGate
from .i18n import pick_lang, translate
from .proxy import ProxyHeaders, TrustedProxies
from .render import make_templates, render, url_with

if TYPE_CHECKING:
    from ..service import Services

log = logging.getLogger(__name__)
STATIC_DIR = Path(__file__).parent / "static"

# No inline script or style anywhere: chart data travels as JSON in <script type=application/json>.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = (
    ("content-security-policy", CSP),
    ("x-frame-options", "DENY"),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "same-origin"),
    ("permissions-policy", "camera=(), microphone=(), geolocation=()"),
    ("cross-origin-opener-policy", "same-origin"),
)


class SecurityHeaders:
    """Adds the security headers to every response, static files and errors included: HSTS when
    the request came over TLS (directly or through a trusted proxy, see ``web/proxy.py``), and
    ``Cache-Control: no-store`` on the API, whose answers are one caller's data."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for key, value in SECURITY_HEADERS:
                    if key not in headers:
                        headers.append(key, value)
                if scope["path"].startswith("/api/"):
                    headers["cache-control"] = "no-store"
                if scope.get("scheme") == "https":
                    headers.append("strict-transport-security", "max-age=31536000")
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _error(request: Request, status: int, message: str, code: str | None = None) -> Response:
    if _is_api(request):
        return JSONResponse({"error": message, "code": code or STATUS_CODES.get(status, "error")}, status_code=status)
    lang = pick_lang(request)
    title = {404: "error.404", 403: "error.403", 500: "error.500"}.get(status, "error.generic")
    if message == "CSRF token missing or invalid":
        message = translate(lang, "error.csrf")
    elif status in (503, 507):
        message = translate(lang, "error.unavailable")
    elif status not in (400, 413, 429):
        message = ""  # the title says it all; internals and ids stay out of the page
    return render(
        request, "error.html", {"status": status, "title": translate(lang, title), "message": message}, status=status
    )


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(HTTPError)
    async def on_http_error(request: Request, exc: HTTPError) -> Response:
        return _error(request, exc.status, error_text(exc, error_lang(request)), error_code(exc))

    @app.exception_handler(StarletteHTTPException)
    async def on_starlette_error(request: Request, exc: StarletteHTTPException) -> Response:
        messages = {404: "not found", 405: "method not allowed"}
        response = _error(request, exc.status_code, messages.get(exc.status_code, str(exc.detail)))
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    @app.exception_handler(RequestValidationError)
    async def on_validation_error(request: Request, exc: RequestValidationError) -> Response:
        parts = []
        for err in exc.errors():
            loc = [str(x) for x in err.get("loc", ()) if x not in ("query", "body", "path")]
            name = ".".join(loc) or "request"
            parts.append(f"parameter {name!r}: {err.get('msg', 'invalid')}")
        return _error(request, 400, "; ".join(parts) or "invalid request")

    @app.exception_handler(LoginRequired)
    async def on_login_required(request: Request, exc: LoginRequired) -> Response:
        target = url_with(request)
        return RedirectResponse("/login?" + _next_param(target), status_code=303)

    @app.exception_handler(PasswordChangeRequired)
    async def on_password_change(request: Request, exc: PasswordChangeRequired) -> Response:
        return RedirectResponse("/password", status_code=303)

    @app.exception_handler(StoreUnavailableError)
    async def on_store_unavailable(request: Request, exc: StoreUnavailableError) -> Response:
        # Nothing of the failed write was stored; the store is reopened once it can be.
        log.error("%s %s: %s", request.method, request.url.path, exc)
        status = 507 if exc.disk_full else 503
        response = _error(
            request,
            status,
            f"{exc}; nothing of this request was stored, try again later" if request.method == "POST" else str(exc),
        )
        response.headers["retry-after"] = "30"
        return response

    @app.exception_handler(OperationalError)
    async def on_metadata_unavailable(request: Request, exc: OperationalError) -> Response:
        # SQLite's "database or disk is full", or PostgreSQL gone: the metadata store.
        log.error("%s %s: metadata store: %s", request.method, request.url.path, str(exc).splitlines()[0])
        status = 507 if "full" in str(exc).lower() else 503
        response = _error(request, status, "the metadata store is unavailable; try again later")
        response.headers["retry-after"] = "30"
        return response


class CatchErrors:
    """Answers an unexpected error with a 500 page or JSON error, keeping the connection alive
    (Starlette's last-resort handler re-raises, and the server then drops the connection)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_watched(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_watched)
        except Exception:
            if started:
                raise
            request = Request(scope)
            log.exception("unhandled error on %s %s", request.method, request.url.path)
            await _error(request, 500, "internal error")(scope, receive, send)


def _next_param(target: str) -> str:
    return urlencode({"next": target})


def _install_docs(app: FastAPI) -> None:
    """Swagger UI from vendored files, so the docs work offline and under the strict CSP."""

    @app.get("/api/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse(
            "<!doctype html><html lang=en><head><meta charset=utf-8>"
            "<title>vkurse-stats API</title><link rel=icon href=/static/favicon.svg>"
            "<link rel=stylesheet href=/static/vendor/swagger-ui/swagger-ui.css></head><body>"
            "<div id=swagger-ui data-openapi-url=/api/openapi.json></div>"
            "<script src=/static/vendor/swagger-ui/swagger-ui-bundle.js></script>"
            "<script src=/static/swagger-init.js></script></body></html>"
        )

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> FileResponse:
        return FileResponse(STATIC_DIR / "favicon.svg", media_type="image/svg+xml")

    @app.get("/api/docs/oauth2-redirect", include_in_schema=False)
    def oauth2_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()


def _install_health(app: FastAPI) -> None:
    """Probes for a load balancer or an orchestrator: no authentication, no data."""

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> JSONResponse:
        return JSONResponse({"status": "ok"}, headers={"cache-control": "no-store"})

    @app.get("/readyz", include_in_schema=False)
    def readyz(request: Request) -> JSONResponse:
        services: Services = request.app.state.services
        problems = services.readiness()
        body = {"status": "ok" if not problems else "unavailable", "checks": problems or {}}
        return JSONResponse(body, status_code=200 if not problems else 503, headers={"cache-control": "no-store"})


def _install_openapi_security(app: FastAPI) -> None:
    """Declare the bearer token in the schema so the docs' "Authorize" button works."""
    plain_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = plain_openapi()
            schema.setdefault("components", {})["securitySchemes"] = {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An ingest token (POST /ingest) or a read token",
                }
            }
            for path, ops in schema.get("paths", {}).items():
                if path.startswith("/api/v1/"):
                    for op in ops.values():
                        op["security"] = [{"bearer": []}, {}]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(
    services: Services,
    *,
    accounts: AccountStore | None = None,
    trust_proxy: bool | None = None,
    trusted_proxies: TrustedProxies | str | None = None,
    max_ingest_bytes: int | None = None,
) -> FastAPI:
    """The web application over ``services``.

    ``trusted_proxies`` (a hop count or networks, see ``web/proxy.py``; default:
    ``VKURSE_STATS_TRUSTED_PROXIES``) says whose X-Forwarded-For/-Proto count; ``trust_proxy``
    is its older form (True = one trusted hop, False = none).
    """

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        services.start_writer()
        services.start_alerts()
        services.writer.listen(hub.note)
        try:
            yield
        finally:
            services.writer.unlisten(hub.note)
            services.stop_writer()
            services.stop_alerts()

    app = FastAPI(
        title="vkurse-stats",
        version="1",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
        openapi_url="/api/openapi.json",
        description=(package_doc or "") + "\n\nAuthenticate with `Authorization: Bearer <token>` "
        "(ingest or read token) or a browser session. Dates are YYYY-MM-DD, inclusive.",
    )
    app.state.services = services
    app.state.accounts = accounts or services.accounts
    if isinstance(trusted_proxies, TrustedProxies):
        trusted = trusted_proxies
    elif trusted_proxies is not None:
        trusted = TrustedProxies.parse(trusted_proxies)
    elif trust_proxy is not None:
        trusted = TrustedProxies(hops=1 if trust_proxy else 0)
    else:
        trusted = TrustedProxies.parse(services.settings.trusted_proxies)
    app.state.trusted_proxies = trusted
    if max_ingest_bytes is None:
        max_ingest_bytes = services.settings.max_ingest_bytes
    app.state.max_ingest_bytes = max_ingest_bytes
    app.state.templates = make_templates()
    hub = live.LiveHub(services)
    app.state.live = hub

    def unread_alerts(account: Any) -> int:
        """The badge of the alerts link: the company's alerts the account has not seen."""
        if account is None or account.is_operator or not account.company_id:
            return 0
        return services.alerts.store.unread_alerts(account.id, account.company_id)

    app.state.templates.env.globals["unread_alerts"] = unread_alerts

    app.add_middleware(CatchErrors)
    app.add_middleware(ReadGate, limit=services.settings.read_concurrency)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(ProxyHeaders, trusted=trusted)  # outermost: every layer sees the client
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    _install_docs(app)
    _install_health(app)
    app.include_router(api.router)
    app.include_router(insight.router)
    app.include_router(live.router)
    app.include_router(pages.router)
    app.include_router(support.router)
    app.include_router(subscriptions.router)
    _install_error_handlers(app)
    _install_openapi_security(app)
    return app
