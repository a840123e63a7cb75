"""Support (operator) pages: companies and licence limits, accounts, API tokens, the audit log.

Only operator accounts reach these pages (403 for anyone else). Each form is an adapter over
:class:`~vkurse_stats.operations.Operations`, which checks, applies and audits the change; a
refusal is shown in the page's language beside what was typed. A change answers POST -> 303 ->
GET, so reloading the page never repeats it: what it did (and a one-time password or token) is
handed to that GET as a flash that is shown once (``AccountStore.put_flash``). Resetting a
password, disabling an account and revoking a token first ask for confirmation on a page of
their own (no script needed).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from .. import zones
from ..operations import Caller, OperationError, Operations
from ..store.accounts import FLASH_SECONDS, SCOPES, AuditEntry
from ..store.meta import LIMIT_NAMES, CompanyInfo
from .auth import (
    SESSION_COOKIE,
    HTTPError,
    Principal,
    accounts_of,
    checked_form,
    client_address,
    operator_principal,
    services_of,
    set_cookie,
)
from .company_list import company_listing
from .format import fmt_bytes, fmt_int, parse_size
from .i18n import pick_lang, translate
from .params import parse_int
from .render import render

router = APIRouter(prefix="/support", include_in_schema=False)
AUDIT_PAGE = 50
MAX_AUDIT_PAGE = 10**6
OPTIONS = 20  # companies a company field suggests at once
FLASH_COOKIE = "vks_flash"


def company_path(company_id: str) -> str:
    """The support page of a company; every character of the id but letters and digits is
    percent-encoded ("/" too), so any id the platform sent stays reachable."""
    return "/support/companies/" + quote(company_id, safe="")


def _ops(request: Request, principal: Principal) -> Operations:
    services = services_of(request)
    return Operations(
        services.meta,
        accounts_of(request),
        services.rollups,
        Caller(principal.actor, client_address(request), principal.account.id if principal.account else None),
    )


def _message(request: Request, exc: OperationError) -> str:
    """A refusal as the page says it (the English texts are the command line's, in lower case)."""
    text = exc.message(pick_lang(request))
    return text[:1].upper() + text[1:]


# --- flashes: what a change did, shown once on the page it redirects to ---------------------
def _done(request: Request, target: str, **value: Any) -> Response:
    """303 to ``target``, which shows ``value`` once (see :func:`_take_done`)."""
    sid = request.cookies.get(SESSION_COOKIE, "")
    flash_id, pad = accounts_of(request).put_flash(sid, value)
    sep = "&" if "?" in target else "?"
    response = RedirectResponse(f"{target}{sep}done={flash_id}", status_code=303)
    set_cookie(request, response, FLASH_COOKIE, pad, max_age=FLASH_SECONDS)
    return response


def _take_done(request: Request) -> dict[str, Any] | None:
    flash_id = request.query_params.get("done")
    pad = request.cookies.get(FLASH_COOKIE)
    if not flash_id or not pad:
        return None
    return accounts_of(request).take_flash(request.cookies.get(SESSION_COOKIE, ""), flash_id, pad)


def _page(request: Request, name: str, context: dict[str, Any], *, status: int = 200) -> Response:
    """A support page; a flash in its URL is shown (and its cookie dropped)."""
    done = _take_done(request) if "done" in request.query_params else None
    lang = pick_lang(request)
    if done is not None:
        context.setdefault("notice", translate(lang, done["notice"], **done.get("params", {})))
        if "secret" in done:
            context["secret"] = (translate(lang, done["secret_title"], **done.get("params", {})), done["secret"])
    response = render(
        request, name, {"notice": None, "secret": None, "error": None, "form": {}, **context}, status=status
    )
    if FLASH_COOKIE in request.cookies:
        response.delete_cookie(FLASH_COOKIE, path="/", httponly=True, samesite="lax")
    return response


# --- fields ---------------------------------------------------------------------------------
def _limit_values(form: dict[str, str]) -> dict[str, int | str | None]:
    """The limits of a form (every one: empty removes it); storage typed as "3 TB" is turned
    into bytes here, the other checks are the operations'."""
    values: dict[str, int | str | None] = {name: form.get(f"limit_{name}", "") for name in LIMIT_NAMES}
    raw = str(values["storage_bytes"] or "").strip()
    if raw and not raw.startswith("-"):
        size = parse_size(raw)
        if size is None:
            raise OperationError("limit_not_size", "limit_storage_bytes", limit="storage_bytes", value=raw)
        values["storage_bytes"] = size
    return values


def _timezone_context(request: Request) -> dict[str, Any]:
    lang = pick_lang(request)
    return {"zones": zones.choices(lang)}


def _company_value(form: dict[str, str]) -> str | None:
    """The company id typed into a company field (its suggestions put the id there)."""
    return form.get("company", "").strip() or None


# --- companies ------------------------------------------------------------------------------
def _companies_page(request: Request, *, status: int = 200, **context: Any) -> Response:
    return _page(
        request,
        "support_companies.html",
        {
            "listing": company_listing(request, services_of(request).meta),
            "limit_names": LIMIT_NAMES,
            "company_path": company_path,
            **_timezone_context(request),
            **context,
        },
        status=status,
    )


@router.get("/companies")
def companies(request: Request) -> Response:
    """The companies, 50 a page, searched by id or name (``q``, ``page``)."""
    operator_principal(request)
    return _companies_page(request)


@router.post("/companies")
async def create_company(request: Request) -> Response:
    principal = operator_principal(request)
    form = await checked_form(request)
    company_id = form.get("id", "").strip()
    try:
        info = _ops(request, principal).create_company(
            company_id,
            form.get("name", "").strip() or None,
            zones.resolve(form.get("timezone", "")),
            _limit_values(form),
        )
    except OperationError as exc:
        return _companies_page(request, error=_message(request, exc), form=form, status=400)
    return _done(request, company_path(info.id), notice="support.done.company_created", params={"company": info.name})


def _company_or_404(request: Request, company_id: str) -> CompanyInfo:
    info = services_of(request).meta.company(company_id)
    if info is None:
        raise HTTPError(404, translate(pick_lang(request), "support.unknown_company", company=company_id))
    return info


def _company_page(request: Request, info: CompanyInfo, *, status: int = 200, **context: Any) -> Response:
    return _page(
        request,
        "support_company.html",
        {
            "company": info,
            "limit_names": LIMIT_NAMES,
            "company_path": company_path,
            "accounts": accounts_of(request).accounts(info.id),
            **_timezone_context(request),
            **context,
        },
        status=status,
    )


@router.get("/company-options")
def company_options(request: Request) -> Response:
    """Companies whose id or name holds ``q`` (the suggestions of a company field)."""
    operator_principal(request)
    rows, total = services_of(request).meta.companies_page(request.query_params.get("q", "")[:200], OPTIONS)
    return JSONResponse(
        {"companies": [{"id": c.id, "name": c.name} for c in rows], "total": total},
        headers={"cache-control": "no-store"},
    )


@router.get("/companies/{company_id:path}")
def company_page(request: Request, company_id: str) -> Response:
    operator_principal(request)
    return _company_page(request, _company_or_404(request, company_id))


@router.post("/companies/{company_id:path}")
async def update_company(request: Request, company_id: str) -> Response:
    principal = operator_principal(request)
    form = await checked_form(request)
    before = _company_or_404(request, company_id)
    ops = _ops(request, principal)
    try:
        limits = _limit_values(form)
        typed_zone = form.get("timezone", "").strip()
        after = await run_in_threadpool(
            lambda: ops.update_company(
                company_id,
                name=form.get("name", "").strip(),
                timezone=zones.resolve(typed_zone) if typed_zone else None,
                limits=limits,
            )
        )
    except OperationError as exc:
        return _company_page(request, before, error=_message(request, exc), form=form, status=400)
    notice = "support.done.company_saved"
    if after.timezone != before.timezone:
        notice = "support.done.company_moved"
    return _done(
        request,
        company_path(company_id),
        notice=notice,
        params={"company": after.name, "timezone": zones.label(after.timezone, pick_lang(request))},
    )


# --- accounts -------------------------------------------------------------------------------
def _accounts_page(request: Request, *, status: int = 200, **context: Any) -> Response:
    return _page(
        request,
        "support_accounts.html",
        {
            "accounts": accounts_of(request).accounts(),
            "preset_company": request.query_params.get("company", "")[:256],
            **context,
        },
        status=status,
    )


@router.get("/accounts")
def accounts_list(request: Request) -> Response:
    operator_principal(request)
    return _accounts_page(request)


@router.post("/accounts")
async def create_account(request: Request) -> Response:
    principal = operator_principal(request)
    form = await checked_form(request)
    ops = _ops(request, principal)
    try:
        account, password = await run_in_threadpool(
            lambda: ops.create_account(
                form.get("email", "").strip(),
                "operator" if form.get("role") == "operator" else "admin",
                _company_value(form),
            )
        )
    except OperationError as exc:
        return _accounts_page(request, error=_message(request, exc), form=form, status=400)
    return _done(
        request,
        "/support/accounts",
        notice="support.done.account_created",
        secret=password,
        secret_title="support.password_for",
        params={"email": account.email},
    )


def _account_or_404(request: Request, account_id: int) -> Any:
    account = accounts_of(request).account(account_id)
    if account is None:
        raise HTTPError(404, translate(pick_lang(request), "support.unknown_account", account=account_id))
    return account


def _confirm(
    request: Request,
    *,
    title: str,
    question: str,
    action: str,
    button: str,
    back: str,
    params: dict[str, Any],
    danger: bool = True,
) -> Response:
    lang = pick_lang(request)
    return _page(
        request,
        "support_confirm.html",
        {
            "title": translate(lang, title, **params),
            "question": translate(lang, question, **params),
            "action": action,
            "button": translate(lang, button),
            "back": back,
            "danger": danger,
        },
    )


@router.get("/accounts/{account_id}/reset")
def confirm_reset(request: Request, account_id: int) -> Response:
    operator_principal(request)
    account = _account_or_404(request, account_id)
    return _confirm(
        request,
        title="support.confirm.reset_title",
        question="support.confirm.reset",
        action=f"/support/accounts/{account.id}/reset",
        button="support.reset",
        back="/support/accounts",
        params={"email": account.email},
    )


@router.post("/accounts/{account_id}/reset")
async def reset_account(request: Request, account_id: int) -> Response:
    principal = operator_principal(request)
    await checked_form(request)
    _account_or_404(request, account_id)
    ops = _ops(request, principal)
    try:
        account, password = await run_in_threadpool(ops.reset_password, account_id)
    except OperationError as exc:
        return _accounts_page(request, error=_message(request, exc), status=400)
    return _done(
        request,
        "/support/accounts",
        notice="support.done.account_reset",
        secret=password,
        secret_title="support.password_for",
        params={"email": account.email},
    )


@router.get("/accounts/{account_id}/disable")
def confirm_disable(request: Request, account_id: int) -> Response:
    operator_principal(request)
    account = _account_or_404(request, account_id)
    return _confirm(
        request,
        title="support.confirm.disable_title",
        question="support.confirm.disable",
        action=f"/support/accounts/{account.id}/disable",
        button="support.disable",
        back="/support/accounts",
        params={"email": account.email},
    )


@router.post("/accounts/{account_id}/disable")
async def disable_account(request: Request, account_id: int) -> Response:
    principal = operator_principal(request)
    form = await checked_form(request)
    _account_or_404(request, account_id)
    enable = form.get("enable") == "1"
    try:
        account = _ops(request, principal).set_disabled(account_id, not enable)
    except OperationError as exc:
        return _accounts_page(request, error=_message(request, exc), status=400)
    return _done(
        request,
        "/support/accounts",
        notice="support.done.account_enabled" if enable else "support.done.account_disabled",
        params={"email": account.email},
    )


# --- tokens ---------------------------------------------------------------------------------
def _tokens_page(request: Request, *, status: int = 200, **context: Any) -> Response:
    return _page(
        request,
        "support_tokens.html",
        {"tokens": accounts_of(request).tokens(), "scopes": SCOPES, **context},
        status=status,
    )


@router.get("/tokens")
def tokens(request: Request) -> Response:
    operator_principal(request)
    return _tokens_page(request)


@router.post("/tokens")
async def create_token(request: Request) -> Response:
    principal = operator_principal(request)
    form = await checked_form(request)
    company_id = _company_value(form)
    try:
        token, plain = _ops(request, principal).create_token(
            form.get("scope", ""), company_id, form.get("label", "").strip()
        )
    except OperationError as exc:
        return _tokens_page(request, error=_message(request, exc), form=form, status=400)
    lang = pick_lang(request)
    scope = translate(lang, f"support.scope.{token.scope}")
    return _done(
        request,
        "/support/tokens",
        notice="support.done.token_created",
        secret=plain,
        secret_title="support.token_for",
        params={"token": token.id, "scope": scope, "company": company_id or translate(lang, "support.platform")},
    )


def _token_or_404(request: Request, token_id: int) -> Any:
    token = accounts_of(request).token(token_id)
    if token is None:
        raise HTTPError(404, translate(pick_lang(request), "support.unknown_token", token=token_id))
    return token


@router.get("/tokens/{token_id}/revoke")
def confirm_revoke(request: Request, token_id: int) -> Response:
    operator_principal(request)
    token = _token_or_404(request, token_id)
    return _confirm(
        request,
        title="support.confirm.revoke_title",
        question="support.confirm.revoke",
        action=f"/support/tokens/{token.id}/revoke",
        button="support.revoke",
        back="/support/tokens",
        params={
            "token": token.id,
            "prefix": token.prefix,
            "company": token.company_id or translate(pick_lang(request), "support.platform"),
        },
    )


@router.post("/tokens/{token_id}/revoke")
async def revoke_token(request: Request, token_id: int) -> Response:
    principal = operator_principal(request)
    await checked_form(request)
    try:
        token = _ops(request, principal).revoke_token(token_id)
    except OperationError as exc:
        return _tokens_page(request, error=_message(request, exc), status=400)
    return _done(
        request,
        "/support/tokens",
        notice="support.done.token_revoked",
        params={"token": token.id, "prefix": token.prefix},
    )


# --- audit ----------------------------------------------------------------------------------
# Fields of an entry's before/after, by the name the pages give them.
FIELD_LABELS = {
    "id": "support.id",
    "name": "support.name",
    "timezone": "support.timezone",
    "role": "support.role",
    "company_id": "support.company",
    "disabled": "support.disabled",
    "must_change": "support.must_change",
    "revoked": "support.revoked",
    "scope": "support.scope",
    "label": "support.label",
    "email": "login.email",
    "token_id": "support.token",
    "prefix": "support.prefix",
    "via": "audit.via",
    "file": "audit.file",
    "line": "audit.line",
    "sessions": "audit.sessions",
    "other_sessions_ended": "audit.sessions",
    **{f"limits.{name}": f"audit.limit.{name}" for name in LIMIT_NAMES},
}


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(value, dict):
        return {}
    out: dict[str, Any] = {}
    for key, item in value.items():
        name = f"{prefix}{key}"
        if isinstance(item, dict):
            out.update(_flat(item, name + "."))
        else:
            out[name] = item
    return out


def _shown(field: str, value: Any, lang: str) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return translate(lang, "audit.yes" if value else "audit.no")
    if field == "timezone" and isinstance(value, str):
        return zones.label(value, lang)
    if field == "limits.storage_bytes" and isinstance(value, int):
        return fmt_bytes(value, lang)
    if field.startswith("limits.") and isinstance(value, int):
        return fmt_int(value, lang)
    if field == "role":
        return translate(lang, f"support.role.{value}")
    if field == "scope":
        return translate(lang, f"support.scope.{value}")
    return str(value)


def audit_view(entry: AuditEntry, lang: str) -> dict[str, Any]:
    """An entry as the audit page shows it: the action's name, the fields that changed (before ->
    after) and the rest of its detail."""
    detail = dict(entry.detail)
    after = detail.pop("after", None)
    if after is None and "company" in detail:  # a company an import created
        after = detail.pop("company")
    before = detail.pop("before", None)
    old, new = _flat(before), _flat(after)
    changes = [
        (translate(lang, FIELD_LABELS.get(f, f)), _shown(f, old.get(f), lang), _shown(f, new.get(f), lang))
        for f in dict.fromkeys([*old, *new])
        if before is None or old.get(f) != new.get(f)
    ]
    context = [(translate(lang, FIELD_LABELS.get(k, k)), _shown(k, v, lang)) for k, v in _flat(detail).items()]
    key = f"audit.action.{entry.action}"
    name = translate(lang, key)
    return {
        "entry": entry,
        "name": entry.action if name == key else name,
        "changes": changes,
        "created": before is None and after is not None,
        "context": context,
    }


def _audit_day(request: Request, name: str) -> date | None:
    raw = request.query_params.get(name, "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise HTTPError(400, translate(pick_lang(request), "audit.bad_date", value=raw[:40])) from None


def _epoch(d: date) -> float:
    return datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp()


@router.get("/audit")
def audit(request: Request) -> Response:
    """The audit log, newest first, 50 a page, filtered by company, action and days (UTC)."""
    operator_principal(request)
    qp = request.query_params
    lang = pick_lang(request)
    store = accounts_of(request)
    company = qp.get("company", "").strip()[:256] or None
    action = qp.get("action", "").strip()[:64] or None
    d1, d2 = _audit_day(request, "from"), _audit_day(request, "to")
    if d1 and d2 and d1 > d2:
        raise HTTPError(400, translate(lang, "audit.reversed"))
    page_no = parse_int("page", qp.get("page"), 1, 1, MAX_AUDIT_PAGE)
    since = _epoch(d1) if d1 else None
    until = _epoch(d2 + timedelta(days=1)) if d2 else None

    def read(n: int) -> tuple[list[AuditEntry], int]:
        return store.audit_entries(
            limit=AUDIT_PAGE, offset=(n - 1) * AUDIT_PAGE, company_id=company, action=action, since=since, until=until
        )

    entries, total = read(page_no)
    pages = max(1, -(-total // AUDIT_PAGE))
    if page_no > pages:  # past the end: the last page
        page_no = pages
        entries, total = read(page_no)
    kept = {
        k: v
        for k, v in {
            "company": company,
            "action": action,
            "from": d1 and d1.isoformat(),
            "to": d2 and d2.isoformat(),
            "lang": qp.get("lang"),
        }.items()
        if v
    }

    def page_url(n: int) -> str:
        return "/support/audit?" + urlencode({**kept, "page": n})

    actions = sorted({*store.audit_actions(), *(k.removeprefix("audit.action.") for k in _ACTION_KEYS)})
    first = (page_no - 1) * AUDIT_PAGE + 1 if entries else 0
    return _page(
        request,
        "support_audit.html",
        {
            "rows": [audit_view(e, lang) for e in entries],
            "total": total,
            "page": page_no,
            "pages": pages,
            "first": first,
            "last": first + len(entries) - 1 if entries else 0,
            "page_url": page_url,
            "filters": {
                "company": company or "",
                "action": action or "",
                "from": d1.isoformat() if d1 else "",
                "to": d2.isoformat() if d2 else "",
            },
            "actions": [(a, _action_name(a, lang)) for a in actions],
            "filtered": bool(kept.keys() - {"lang"}),
        },
    )


def _action_name(action: str, lang: str) -> str:
    key = f"audit.action.{action}"
    name = translate(lang, key)
    return action if name == key else name


_ACTION_KEYS = (
    "audit.action.company.create",
    "audit.action.company.update",
    "audit.action.account.create",
    "audit.action.account.reset",
    "audit.action.account.disable",
    "audit.action.account.enable",
    "audit.action.token.create",
    "audit.action.token.revoke",
)
