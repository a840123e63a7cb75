"""Who is asking: browser sessions, bearer tokens, CSRF and the company a caller may see.

A request is made either by a signed-in account (session cookie) or by an API token (bearer).
:class:`Principal` unifies both and answers the one question every endpoint asks: which company
may this caller read or write? A company administrator and a company-scoped token are pinned to
their company — asking for another one is answered exactly like asking for one that does not
exist (404), so ids cannot be probed.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from starlette.requests import Request
from starlette.responses import Response

from ..store.accounts import Account, AccountStore, ApiToken, Session
from ..store.meta import CompanyInfo

if TYPE_CHECKING:
    from ..service import Services

SESSION_COOKIE = "vks_session"
ANON_COOKIE = "vks_anon"  # carries the CSRF secret of the login form before there is a session


class HTTPError(Exception):
    """An error answered as JSON on the API and as a page in the browser."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class LoginRequired(Exception):
    """The page needs a signed-in account: redirect to the login page."""


class PasswordChangeRequired(Exception):
    """The account signed in with a one-time password and must choose its own first."""


@dataclass(frozen=True)
class Principal:
    kind: Literal["session", "token"]
    account: Account | None = None
    session: Session | None = None
    token: ApiToken | None = None

    @property
    def pinned_company(self) -> str | None:
        """The only company this caller may see, or None for support and platform tokens."""
        if self.account is not None:
            return None if self.account.is_operator else self.account.company_id
        assert self.token is not None
        return self.token.company_id

    @property
    def is_operator(self) -> bool:
        return self.account is not None and self.account.is_operator

    @property
    def actor(self) -> str:
        if self.account is not None:
            return self.account.email
        assert self.token is not None
        return f"token:{self.token.id}:{self.token.prefix}"


def services_of(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


def accounts_of(request: Request) -> AccountStore:
    return request.app.state.accounts  # type: ignore[no-any-return]


def client_address(request: Request) -> str:
    """The caller's address: the peer, or behind trusted proxies the client they name
    (``web/proxy.py`` has already put it in the scope)."""
    return request.client.host[:64] if request.client else "unknown"


def is_https(request: Request) -> bool:
    """Whether the request came over TLS, directly or through a trusted proxy that says so."""
    return request.url.scheme == "https"


def set_cookie(request: Request, response: Response, name: str, value: str, max_age: int | None = None) -> None:
    response.set_cookie(name, value, max_age=max_age, httponly=True, samesite="lax", secure=is_https(request), path="/")


def current_session(request: Request) -> Session | None:
    """The session of the request's cookie (looked up once per request)."""
    if not hasattr(request.state, "session"):
        sid = request.cookies.get(SESSION_COOKIE, "")
        request.state.session = accounts_of(request).session(sid) if sid else None
    return request.state.session  # type: ignore[no-any-return]


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def api_principal(request: Request, *, scope: Literal["read", "ingest"]) -> Principal:
    """The caller of an API endpoint; a token must have ``scope``, a session may only read."""
    plain = bearer(request)
    if plain is not None:
        token = accounts_of(request).verify_token(plain)
        if token is None:
            raise HTTPError(401, "invalid or revoked token")
        if token.scope != scope:
            raise HTTPError(403, f"this token has scope {token.scope!r}; this endpoint needs {scope!r}")
        return Principal(kind="token", token=token)
    if scope == "ingest":
        raise HTTPError(401, "an ingest token is required (Authorization: Bearer <token>)")
    session = current_session(request)
    if session is None:
        raise HTTPError(401, "sign in or send a read token (Authorization: Bearer <token>)")
    if session.account.must_change:
        raise HTTPError(403, "change the one-time password before using the API")
    return Principal(kind="session", account=session.account, session=session)


def page_principal(request: Request, *, allow_must_change: bool = False) -> Principal:
    """The signed-in account of a page, or a redirect to the login page."""
    session = current_session(request)
    if session is None:
        raise LoginRequired()
    if session.account.must_change and not allow_must_change:
        raise PasswordChangeRequired()
    return Principal(kind="session", account=session.account, session=session)


def operator_principal(request: Request) -> Principal:
    principal = page_principal(request)
    if not principal.is_operator:
        raise HTTPError(403, "support only")
    return principal


def resolve_company(
    request: Request, principal: Principal, requested: str | None, *, default_first: bool
) -> CompanyInfo:
    """The company a request reads. Pinned callers get 404 for any company but their own."""
    from .errors import ApiError  # errors builds on this module

    meta = services_of(request).meta
    pinned = principal.pinned_company
    if pinned is not None:
        if requested and requested != pinned:
            raise ApiError(404, "unknown_company", company=requested)
        company_id = pinned
    elif requested:
        company_id = requested
    elif default_first:
        all_companies = meta.companies()
        if not all_companies:
            raise HTTPError(404, "there are no companies yet")
        company_id = all_companies[0].id
    else:
        raise ApiError(400, "company_required")
    info = meta.company(company_id)
    if info is None:
        raise ApiError(404, "unknown_company", company=company_id)
    return info


# --- CSRF -----------------------------------------------------------------------------------
def csrf_token(request: Request) -> str:
    """The token forms must send back: the session's, or before sign-in the anonymous cookie's
    (set on the response by :func:`ensure_anon_cookie`)."""
    session = current_session(request)
    if session is not None:
        return session.csrf
    if not hasattr(request.state, "anon"):
        request.state.anon = request.cookies.get(ANON_COOKIE) or secrets.token_urlsafe(32)
    return request.state.anon  # type: ignore[no-any-return]


def ensure_anon_cookie(request: Request, response: Response) -> None:
    anon = getattr(request.state, "anon", None)
    if anon and request.cookies.get(ANON_COOKIE) != anon:
        set_cookie(request, response, ANON_COOKIE, anon)


async def checked_form(request: Request) -> dict[str, str]:
    """The posted form, after its CSRF token is verified (403 otherwise)."""
    form = await request.form()
    sent = form.get("csrf")
    session = current_session(request)
    expected = session.csrf if session is not None else request.cookies.get(ANON_COOKIE)
    if not isinstance(sent, str) or not expected or not hmac.compare_digest(sent, expected):
        raise HTTPError(403, "CSRF token missing or invalid")
    return {k: v for k, v in form.items() if isinstance(v, str)}
