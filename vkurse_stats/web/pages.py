"""Pages of a company administrator: sign-in, password change, sign-out and the dashboard.

Every password check (sign-in, the current password of a change) is throttled per address and
per (account, address) before the hash (``AccountStore.check_password``), and sign-in answers the
same message for an unknown e-mail and a wrong password. An account that signed in with a
one-time password is sent to the password page until it picks its own. A new password ends the
account's other sessions; "sign out everywhere" ends all of them.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import urlencode, urlparse

from fastapi import APIRouter
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from ..metrics.activity import PEAKS
from ..metrics.definitions import METRIC_BY_ID, has_activity
from ..metrics.query import MAX_PAGE
from ..store.accounts import MIN_PASSWORD_LENGTH, AccountError, HashersBusy, Throttled
from . import dashboard as dash
from . import format as fmt
from . import licence
from .auth import (
    ANON_COOKIE,
    SESSION_COOKIE,
    HTTPError,
    accounts_of,
    checked_form,
    client_address,
    current_session,
    operator_principal,
    page_principal,
    resolve_company,
    services_of,
    set_cookie,
)
from .company_list import company_listing
from .errors import ApiError, error_text
from .i18n import pick_lang, translate
from .params import parse_date, parse_range
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
    return RedirectResponse("/dashboard" if current_session(request) else "/login", status_code=303)


@router.get("/login")
def login_page(request: Request) -> Response:
    if current_session(request) is not None:
        return RedirectResponse(_safe_next(request.query_params.get("next")), status_code=303)
    return render(
        request,
        "login.html",
        {
            "next": _safe_next(request.query_params.get("next")),
            "email": "",
            "error": None,
            "notice": translate(pick_lang(request), "login.logged_out") if request.query_params.get("bye") else None,
        },
    )


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
        return render(request, "login.html", {"next": target, "email": email, "error": message}, status=status)

    try:
        account = await run_in_threadpool(store.check_password, email, password, address)
    except Throttled as exc:
        return fail(_throttled_message(lang, exc), 429)
    if account is None:
        store.audit(email or "?", "login.failed", None, address)
        return fail(translate(lang, "login.bad"), 401)
    sid, _ = store.create_session(account.id)
    store.audit(account.email, "login", account.company_id, address)
    response = RedirectResponse("/password" if account.must_change else target, status_code=303)
    set_cookie(request, response, SESSION_COOKIE, sid)
    response.delete_cookie(ANON_COOKIE, path="/")
    return response


def _throttled_message(lang: str, exc: Throttled) -> str:
    if isinstance(exc, HashersBusy):
        return translate(lang, "login.busy")
    minutes = max(1, int(exc.wait // 60) + (exc.wait % 60 > 0))
    return translate(lang, "login.throttled", minutes=minutes)


def _signed_out(target: str) -> Response:
    response = RedirectResponse(target, status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax")
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    await checked_form(request)
    sid = request.cookies.get(SESSION_COOKIE)
    session = current_session(request)
    if sid:
        accounts_of(request).end_session(sid)
    if session is not None:
        accounts_of(request).audit(session.account.email, "logout", session.account.company_id, client_address(request))
    return _signed_out("/login?bye=1")


@router.post("/logout/everywhere")
async def logout_everywhere(request: Request) -> Response:
    """End every session of the signed-in account, this one included."""
    principal = page_principal(request, allow_must_change=True)
    await checked_form(request)
    account = principal.account
    assert account is not None
    store = accounts_of(request)
    ended = store.end_sessions(account.id)
    store.audit(account.email, "logout.everywhere", account.company_id, client_address(request), sessions=ended)
    return _signed_out("/login?bye=1")


@router.get("/password")
def password_page(request: Request) -> Response:
    principal = page_principal(request, allow_must_change=True)
    assert principal.account is not None
    return render(
        request, "password.html", {"forced": principal.account.must_change, "error": None, "min": MIN_PASSWORD_LENGTH}
    )


@router.post("/password")
async def change_password(request: Request) -> Response:
    principal = page_principal(request, allow_must_change=True)
    form = await checked_form(request)
    account = principal.account
    assert account is not None
    lang = pick_lang(request)
    store = accounts_of(request)
    current, new, repeat = (form.get(k, "")[:1000] for k in ("current", "new", "repeat"))

    address = client_address(request)

    def fail(message: str, status: int = 400) -> Response:
        return render(
            request,
            "password.html",
            {"forced": account.must_change, "min": MIN_PASSWORD_LENGTH, "error": message},
            status=status,
        )

    # The new password is checked first: a typo in it costs no hash and no attempt.
    if new != repeat:
        return fail(translate(lang, "password.mismatch"))
    if len(new) < MIN_PASSWORD_LENGTH:
        return fail(translate(lang, "password.too_short", n=MIN_PASSWORD_LENGTH))
    if new == current:
        return fail(translate(lang, "password.same"))
    try:
        checked = await run_in_threadpool(store.check_password, account.email, current, address)
    except Throttled as exc:
        return fail(_throttled_message(lang, exc), 429)
    if checked is None:
        store.audit(account.email, "password.failed", account.company_id, address)
        return fail(translate(lang, "password.bad_current"))
    try:
        ended = await run_in_threadpool(
            lambda: store.set_password(account.id, new, keep_session=request.cookies.get(SESSION_COOKIE))
        )
    except HashersBusy as exc:
        return fail(_throttled_message(lang, exc), 429)
    except AccountError:
        return fail(translate(lang, "password.too_short", n=MIN_PASSWORD_LENGTH))
    store.audit(account.email, "password.changed", account.company_id, address, other_sessions_ended=ended)
    return RedirectResponse("/dashboard", status_code=303)


@router.get("/dashboard")
def dashboard(request: Request) -> Response:
    principal = page_principal(request)
    lang = pick_lang(request)
    services = services_of(request)
    qp = request.query_params
    requested = qp.get("company")
    if principal.is_operator and not requested:
        # The first company by id, without listing them all.
        first = services.meta.first_company()
        if first is None:
            return RedirectResponse("/support/companies", status_code=303)
        requested = first.id
    company = resolve_company(request, principal, requested, default_first=True)
    today = fmt.today_in(company.timezone, services.now_us())
    presets = dash.range_presets(today)
    error = None
    typed = (qp.get("from") or "", qp.get("to") or "")
    if any(typed):
        try:
            d1, d2 = parse_range(*typed)
        except HTTPError as exc:
            # The inputs keep what was typed; the figures are the default range's, and the
            # page says so.
            error = translate(lang, "range.bad", error=error_text(exc, lang))
            d1, d2 = presets[dash.DEFAULT_PRESET]
    else:
        d1, d2 = presets[dash.DEFAULT_PRESET]
    summary, days = services.query.report(company.id, d1, d2)
    p1, p2 = dash.previous_range(d1, d2)
    previous = services.query.summary(company.id, p1, p2)
    devices = services.query.devices(company.id, d1, d2, limit=MAX_PAGE)
    base = {"company": company.id} if principal.is_operator else {}
    range_q = {**base, "from": d1.isoformat(), "to": d2.isoformat()}
    charts = dash.chart_data(summary, days, devices, lang)
    breaches = services.query.breaches(company.id, d1, d2)
    history = services.rollups.limit_histories([company.id])[company.id]

    def day_url(day: date | str, metric: str) -> str:
        return "/dashboard?" + _query_string({**range_q, "day": str(day), "metric": metric}) + "#day-panel"

    charts["hours"] = dash.heatmaps(services.query.hours(company.id, d1, d2), lang)
    charts["weekdays"] = [pair[1 if lang == "en" else 0] for pair in dash.WEEKDAYS]
    charts["day_url"] = "/dashboard?" + _query_string(range_q)
    charts["day_fragment"] = "/dashboard/day?" + _query_string({**base, "lang": lang})
    day_view = _day_view(request, company, lang) if qp.get("day") else None
    return render(
        request,
        "dashboard.html",
        {
            "company": company,
            "d1": d1,
            "d2": d2,
            "typed_from": typed[0] if error else d1.isoformat(),
            "typed_to": typed[1] if error else d2.isoformat(),
            "range_error": error,
            "presets": [
                (
                    key,
                    translate(lang, f"range.{key}"),
                    a,
                    b,
                    _query_string({**base, "from": a.isoformat(), "to": b.isoformat()}),
                    (a, b) == (d1, d2),
                )
                for key, (a, b) in presets.items()
            ],
            "previous": (p1, p2),
            "sections": dash.cards(summary, lang, previous),
            "side": dash.side_cards(summary, lang, previous),
            "has_data": has_activity(summary.metrics),
            "charts": charts,
            "chart_tables": dash.chart_tables(charts, lang),
            "hour_tables": {h["id"]: dash.heatmap_table(h, lang) for h in charts["hours"]},
            "breach_lists": licence.breach_lists(breaches, history, lang, day_url),
            "breach_header": licence.breach_header(lang),
            "sizing": licence.sizing_rows(breaches, lang),
            "sizing_header": [translate(lang, k) for k in licence.SIZING_HEADER],
            "day_view": day_view,
            "day_url": day_url,
            "times_text": licence.times_text,
            "tables": [dash.table(request, name, services.query, company, d1, d2, lang) for name in dash.TABLE_PREFIX],
            "tables_spec": dash.tables_spec(lang, company, d1, d2, principal.is_operator),
            "export_csv": "/api/v1/export.csv?" + _query_string({**range_q, "lang": lang}),
            "export_xlsx": "/api/v1/export.xlsx?" + _query_string({**range_q, "lang": lang}),
            "operator_company": base.get("company"),
        },
    )


def _day_view(request: Request, company: Any, lang: str) -> dict[str, Any] | None:
    """One day of ``?day=&metric=``: what made the metric's peak that day (the events and calls
    active at its first instant, as ``/api/v1/at?metric=&day=`` answers) and the day's curve
    (``/api/v1/intraday``). None when the parameters name no day or no peak metric."""
    qp = request.query_params
    try:
        day = parse_date("day", qp.get("day"))
    except HTTPError:
        return None
    m = METRIC_BY_ID.get(qp.get("metric") or "total.speakers")
    if m is None or m not in PEAKS:
        return None
    query = services_of(request).query
    instant = query.peak_instant(company.id, m.id, day)
    makers = None
    if instant is not None:
        makers = licence.peak_makers(query.at(company.id, instant), m, day, company.timezone, lang)
    curve = licence.curve_data(query.intraday(company.id, day), lang)
    return {
        "day": day,
        "day_text": fmt.fmt_date(day, lang),
        "metric": m.id,
        "metric_title": licence.metric_title(m, lang),
        "makers": makers,
        "curve": curve,
        "curve_table": licence.hourly_table(curve, lang),
        "api_at": "/api/v1/at?" + _query_string({"company": company.id, "metric": m.id, "day": day.isoformat()}),
        "api_intraday": "/api/v1/intraday?" + _query_string({"company": company.id, "day": day.isoformat()}),
    }


@router.get("/dashboard/day")
def dashboard_day(request: Request) -> Response:
    """The day panel alone (dashboard.js puts it in place when a peak card or a chart's day is
    clicked); the same HTML the dashboard renders for ``?day=&metric=``."""
    principal = page_principal(request)
    company = resolve_company(request, principal, request.query_params.get("company"), default_first=True)
    qp = request.query_params
    parse_date("day", qp.get("day"))  # a missing or bad day is answered as such
    view = _day_view(request, company, pick_lang(request))
    if view is None:
        raise ApiError(400, "unknown_metric", value=qp.get("metric") or "", choices=", ".join(m.id for m in PEAKS))
    return render(request, "_day.html", {"day_view": view, "company": company})


def _query_string(params: dict[str, str]) -> str:
    return urlencode(params)


@router.get("/switch")
def switch_company(request: Request) -> Response:
    """The company switcher of support: companies 50 a page, searched by id or name on the
    server (``q``, ``page``); ``company`` marks the open one and ``from``/``to`` (the range
    on screen) go into every link, so switching keeps the range."""
    operator_principal(request)
    meta = services_of(request).meta
    qp = request.query_params
    current = meta.company(qp["company"]) if qp.get("company") else None
    keep: dict[str, str] = {}
    context: dict[str, object] = {"company": current}
    if qp.get("from") or qp.get("to"):
        try:
            d1, d2 = parse_range(qp.get("from"), qp.get("to"))
        except HTTPError:
            pass  # a range the dashboard would refuse is dropped, not carried along
        else:
            keep = {"from": d1.isoformat(), "to": d2.isoformat()}
            context.update(d1=d1, d2=d2)
    listing = company_listing(request, meta, current=current.id if current else None, keep=("company", *keep))
    links = [(c, "/dashboard?" + _query_string({"company": c.id, **keep})) for c in listing.rows]
    return render(request, "switch.html", {**context, "listing": listing, "links": links})
