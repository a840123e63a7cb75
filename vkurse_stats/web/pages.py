"""Pages of a company administrator: sign-in, password change, sign-out and the dashboard.

Sign-in is throttled per account and per address (``store/accounts.py`` keeps the failures) and
answers the same message for an unknown e-mail and a wrong password. An account that signed in
with a one-time password is sent to the password page until it picks its own.
"""

from __future__ import annotations

from urllib.parse import urlencode, urlparse

from fastapi import APIRouter
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from ..store.accounts import MIN_PASSWORD_LENGTH, AccountError
from . import dashboard as dash
from . import format as fmt
from .auth import (
    ANON_COOKIE,
    SESSION_COOKIE,
    HTTPError,
    accounts_of,
    checked_form,
    client_address,
    current_session,
    page_principal,
    resolve_company,
    services_of,
    set_cookie,
)
from .i18n import pick_lang, translate
from .params import parse_range
from .render import render

router = APIRouter(include_in_schema=False)


def _safe_next(target: str | None) -> str:
    """Only same-site paths, so the login form cannot bounce a user to another site."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/dashboard"
    parsed = urlparse(target)
    return target if not parsed.scheme and not parsed.netloc else "/dashboard"


@router.get("/")
def index(request: Request) -> Response:
    return RedirectResponse("/dashboard" if current_session(request) else "/login",
                            status_code=303)


@router.get("/login")
def login_page(request: Request) -> Response:
    if current_session(request) is not None:
        return RedirectResponse(_safe_next(request.query_params.get("next")), status_code=303)
    return render(request, "login.html", {"next": _safe_next(request.query_params.get("next")),
                                          "email": "", "error": None,
                                          "notice": translate(pick_lang(request),
                                                              "login.logged_out")
                                          if request.query_params.get("bye") else None})


@router.post("/login")
async def login(request: Request) -> Response:
    form = await checked_form(request)
    lang = pick_lang(request)
    email = form.get("email", "").strip()[:320]
    password = form.get("password", "")[:1000]
    target = _safe_next(form.get("next"))
    store = accounts_of(request)
    address = client_address(request)

    def fail(message: str, status: int) -> Response:
        return render(request, "login.html", {"next": target, "email": email, "error": message},
                      status=status)

    wait = store.login_blocked(email, address)
    if wait > 0:
        minutes = max(1, int(wait // 60) + (wait % 60 > 0))
        return fail(translate(lang, "login.throttled", minutes=minutes), 429)
    account = await run_in_threadpool(store.verify_password, email, password)
    if account is None:
        store.record_login_failure(email, address)
        store.audit(email or "?", "login.failed", None, address)
        return fail(translate(lang, "login.bad"), 401)
    store.clear_login_failures(email)
    sid, _ = store.create_session(account.id)
    store.audit(account.email, "login", account.company_id, address)
    response = RedirectResponse("/password" if account.must_change else target, status_code=303)
    set_cookie(request, response, SESSION_COOKIE, sid)
    response.delete_cookie(ANON_COOKIE, path="/")
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    await checked_form(request)
    sid = request.cookies.get(SESSION_COOKIE)
    session = current_session(request)
    if sid:
        accounts_of(request).end_session(sid)
    if session is not None:
        accounts_of(request).audit(session.account.email, "logout", session.account.company_id,
                                   client_address(request))
    response = RedirectResponse("/login?bye=1", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax")
    return response


@router.get("/password")
def password_page(request: Request) -> Response:
    principal = page_principal(request, allow_must_change=True)
    assert principal.account is not None
    return render(request, "password.html", {"forced": principal.account.must_change,
                                             "error": None, "min": MIN_PASSWORD_LENGTH})


@router.post("/password")
async def change_password(request: Request) -> Response:
    principal = page_principal(request, allow_must_change=True)
    form = await checked_form(request)
    account = principal.account
    assert account is not None
    lang = pick_lang(request)
    store = accounts_of(request)
    current, new, repeat = (form.get(k, "")[:1000] for k in ("current", "new", "repeat"))

    def fail(key: str) -> Response:
        return render(request, "password.html", {
            "forced": account.must_change, "min": MIN_PASSWORD_LENGTH,
            "error": translate(lang, key, n=MIN_PASSWORD_LENGTH)}, status=400)

    if await run_in_threadpool(store.verify_password, account.email, current) is None:
        return fail("password.bad_current")
    if new != repeat:
        return fail("password.mismatch")
    if len(new) < MIN_PASSWORD_LENGTH:
        return fail("password.too_short")
    if new == current:
        return fail("password.same")
    try:
        await run_in_threadpool(store.set_password, account.id, new)
    except AccountError:
        return fail("password.too_short")
    store.audit(account.email, "password.changed", account.company_id, client_address(request))
    return RedirectResponse("/dashboard", status_code=303)


@router.get("/dashboard")
def dashboard(request: Request) -> Response:
    principal = page_principal(request)
    lang = pick_lang(request)
    services = services_of(request)
    qp = request.query_params
    try:
        company = resolve_company(request, principal, qp.get("company"), default_first=True)
    except HTTPError as exc:
        if exc.status == 404 and principal.is_operator and not qp.get("company"):
            return RedirectResponse("/support/companies", status_code=303)
        raise
    today = fmt.today_in(company.timezone, services.now_us())
    presets = fmt.presets(today)
    error = None
    if qp.get("from") or qp.get("to"):
        try:
            d1, d2 = parse_range(qp.get("from"), qp.get("to"))
        except HTTPError as exc:
            error = translate(lang, "range.bad", error=exc.message)
            d1, d2 = presets["this_month"]
    else:
        d1, d2 = presets["this_month"]
    summary, days = services.query.report(company.id, d1, d2)
    devices = services.query.devices(company.id, d1, d2, limit=15)
    base = {"company": company.id} if principal.is_operator else {}
    range_q = {**base, "from": d1.isoformat(), "to": d2.isoformat()}
    return render(request, "dashboard.html", {
        "company": company,
        "d1": d1, "d2": d2,
        "range_error": error,
        "presets": [(key, translate(lang, f"range.{key}"), a, b,
                     _query_string({**base, "from": a.isoformat(), "to": b.isoformat()}),
                     (a, b) == (d1, d2))
                    for key, (a, b) in presets.items()],
        "sections": dash.cards(summary, lang),
        "side": dash.side_cards(summary, lang),
        "has_data": any(v.value for v in summary.metrics.values()),
        "charts": dash.chart_data(summary, days, devices, lang),
        "tables": [dash.table(request, name, services.query, company, d1, d2, lang)
                   for name in ("events", "planned", "disk")],
        "export_csv": "/api/v1/export.csv?" + _query_string({**range_q, "lang": lang}),
        "export_xlsx": "/api/v1/export.xlsx?" + _query_string({**range_q, "lang": lang}),
        "operator_company": base.get("company"),
    })


def _query_string(params: dict[str, str]) -> str:
    return urlencode(params)
