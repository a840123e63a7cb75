"""Support (operator) pages: companies and licence limits, accounts, API tokens, the audit log.

Only operator accounts reach these pages (403 for anyone else). Every change is written to the
audit log with who did it and from where. One-time passwords and new tokens are shown once, in
the answer to the form that created them, and never stored in plain text.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from ..store.accounts import SCOPES, AccountError, Role
from ..store.meta import LIMIT_NAMES
from ..timeutil import zone
from .auth import (
    HTTPError,
    Principal,
    accounts_of,
    checked_form,
    client_address,
    operator_principal,
    services_of,
)
from .company_list import company_listing
from .i18n import pick_lang, translate
from .render import render

router = APIRouter(prefix="/support", include_in_schema=False)
AUDIT_PAGE = 50
COMMON_TIMEZONES = (
    "Europe/Kaliningrad", "Europe/Moscow", "Europe/Samara", "Asia/Yekaterinburg", "Asia/Omsk",
    "Asia/Novosibirsk", "Asia/Krasnoyarsk", "Asia/Irkutsk", "Asia/Yakutsk", "Asia/Vladivostok",
    "Asia/Magadan", "Asia/Kamchatka", "Europe/Minsk", "Asia/Almaty", "UTC",
)


def _audit(request: Request, principal: Principal, action: str, company_id: str | None,
           **detail: Any) -> None:
    accounts_of(request).audit(principal.actor, action, company_id, client_address(request),
                               **detail)


# Storage limits are typed as "3 TB" / "500 ГБ" rather than counted in bytes (binary multiples,
# as the dashboard shows sizes).
_UNITS = {"": 1, "b": 1, "б": 1, "kb": 1024, "кб": 1024, "mb": 1024**2, "мб": 1024**2,
          "gb": 1024**3, "гб": 1024**3, "tb": 1024**4, "тб": 1024**4}
_SIZE = re.compile(r"^(\d+(?:[.,]\d+)?)\s*([a-zа-я]*)$")


def _parse_limits(form: dict[str, str]) -> dict[str, int | None]:
    limits: dict[str, int | None] = {}
    for name in LIMIT_NAMES:
        raw = form.get(f"limit_{name}", "").strip().replace("\u00a0", " ").lower()
        if raw == "":
            limits[name] = None
            continue
        if name == "storage_bytes":
            m = _SIZE.match(raw.replace(" ", ""))
            if not m or m.group(2) not in _UNITS:
                raise HTTPError(400, f"limit {name}: {raw!r} is not a size (e.g. 500 GB, 3 TB)")
            limits[name] = int(float(m.group(1).replace(",", ".")) * _UNITS[m.group(2)])
            continue
        if not raw.replace(" ", "").isdigit():
            raise HTTPError(400, f"limit {name}: {raw!r} is not a whole number")
        limits[name] = int(raw.replace(" ", ""))
    return limits


# --- companies ------------------------------------------------------------------------------
def _companies_page(request: Request, *, error: str | None = None, notice: str | None = None,
                    status: int = 200) -> Response:
    return render(request, "support_companies.html", {
        "listing": company_listing(request, services_of(request).meta), "limit_names": LIMIT_NAMES,
        "timezones": COMMON_TIMEZONES, "error": error, "notice": notice}, status=status)


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
    name = form.get("name", "").strip() or company_id
    tz = form.get("timezone", "").strip() or "Europe/Moscow"
    meta = services_of(request).meta
    try:
        if not company_id or len(company_id) > 256:
            raise ValueError("the company id must have 1 to 256 characters")
        if meta.company(company_id) is not None:
            raise ValueError(f"a company {company_id!r} already exists")
        zone(tz)
        limits = _parse_limits(form)
        _, after = meta.put_company(company_id, name[:500], tz, limits)
    except (ValueError, HTTPError) as exc:
        msg = exc.message if isinstance(exc, HTTPError) else str(exc)
        return _companies_page(request, error=msg, status=400)
    _audit(request, principal, "company.create", company_id, company=after.as_json())
    return RedirectResponse(f"/support/companies/{company_id}?saved=1", status_code=303)


def _company_or_404(request: Request, company_id: str) -> Any:
    info = services_of(request).meta.company(company_id)
    if info is None:
        raise HTTPError(404, f"unknown company {company_id!r}")
    return info


@router.get("/companies/{company_id}")
def company_page(request: Request, company_id: str) -> Response:
    operator_principal(request)
    info = _company_or_404(request, company_id)
    lang = pick_lang(request)
    return render(request, "support_company.html", {
        "company": info, "limit_names": LIMIT_NAMES, "timezones": COMMON_TIMEZONES,
        "error": None, "accounts": accounts_of(request).accounts(company_id),
        "notice": translate(lang, "support.saved") if request.query_params.get("saved") else None})


@router.post("/companies/{company_id}")
async def update_company(request: Request, company_id: str) -> Response:
    principal = operator_principal(request)
    form = await checked_form(request)
    before = _company_or_404(request, company_id)
    try:
        tz = form.get("timezone", "").strip() or before.timezone
        zone(tz)
        limits = _parse_limits(form)
        name = form.get("name", "").strip()[:500] or before.name
        _, after = services_of(request).meta.put_company(company_id, name, tz, limits,
                                                         replace_limits=True)
    except (ValueError, HTTPError) as exc:
        msg = exc.message if isinstance(exc, HTTPError) else str(exc)
        return render(request, "support_company.html", {
            "company": before, "limit_names": LIMIT_NAMES, "timezones": COMMON_TIMEZONES,
            "error": msg, "notice": None,
            "accounts": accounts_of(request).accounts(company_id)}, status=400)
    _audit(request, principal, "company.update", company_id, before=before.as_json(),
           after=after.as_json())
    return RedirectResponse(f"/support/companies/{company_id}?saved=1", status_code=303)


# --- accounts -------------------------------------------------------------------------------
def _accounts_page(request: Request, *, secret: tuple[str, str] | None = None,
                   error: str | None = None, status: int = 200) -> Response:
    return render(request, "support_accounts.html", {
        "accounts": accounts_of(request).accounts(),
        "companies": services_of(request).meta.companies(),
        "secret": secret, "error": error,
        "preset_company": request.query_params.get("company", "")}, status=status)


@router.get("/accounts")
def accounts_list(request: Request) -> Response:
    operator_principal(request)
    return _accounts_page(request)


@router.post("/accounts")
async def create_account(request: Request) -> Response:
    principal = operator_principal(request)
    form = await checked_form(request)
    email = form.get("email", "").strip()
    role: Role = "operator" if form.get("role") == "operator" else "admin"
    company_id = form.get("company", "").strip() or None
    if role == "admin" and (company_id is None
                            or services_of(request).meta.company(company_id) is None):
        return _accounts_page(request, error=f"unknown company {company_id!r}", status=400)
    try:
        account, password = await run_in_threadpool(
            lambda: accounts_of(request).create_account(email, role=role, company_id=company_id))
    except AccountError as exc:
        return _accounts_page(request, error=str(exc), status=400)
    _audit(request, principal, "account.create", account.company_id, email=account.email,
           role=account.role)
    return _accounts_page(request, secret=(account.email, password))


def _account_or_404(request: Request, account_id: int) -> Any:
    account = accounts_of(request).account(account_id)
    if account is None:
        raise HTTPError(404, f"no account {account_id}")
    return account


@router.post("/accounts/{account_id}/reset")
async def reset_account(request: Request, account_id: int) -> Response:
    principal = operator_principal(request)
    await checked_form(request)
    account = _account_or_404(request, account_id)
    password = await run_in_threadpool(accounts_of(request).reset_password, account_id)
    _audit(request, principal, "account.reset", account.company_id, email=account.email)
    return _accounts_page(request, secret=(account.email, password))


@router.post("/accounts/{account_id}/disable")
async def disable_account(request: Request, account_id: int) -> Response:
    principal = operator_principal(request)
    form = await checked_form(request)
    account = _account_or_404(request, account_id)
    enable = form.get("enable") == "1"
    if not enable and principal.account is not None and principal.account.id == account_id:
        return _accounts_page(request, error="you cannot disable your own account", status=400)
    accounts_of(request).set_disabled(account_id, not enable)
    _audit(request, principal, "account.enable" if enable else "account.disable",
           account.company_id, email=account.email)
    return RedirectResponse("/support/accounts", status_code=303)


# --- tokens ---------------------------------------------------------------------------------
def _tokens_page(request: Request, *, secret: tuple[str, str] | None = None,
                 error: str | None = None, status: int = 200) -> Response:
    return render(request, "support_tokens.html", {
        "tokens": accounts_of(request).tokens(), "companies": services_of(request).meta.companies(),
        "scopes": SCOPES, "secret": secret, "error": error}, status=status)


@router.get("/tokens")
def tokens(request: Request) -> Response:
    operator_principal(request)
    return _tokens_page(request)


@router.post("/tokens")
async def create_token(request: Request) -> Response:
    principal = operator_principal(request)
    form = await checked_form(request)
    scope = form.get("scope", "")
    company_id = form.get("company", "").strip() or None
    label = form.get("label", "").strip()
    if company_id is not None and services_of(request).meta.company(company_id) is None:
        return _tokens_page(request, error=f"unknown company {company_id!r}", status=400)
    try:
        token, plain = accounts_of(request).create_token(scope, company_id, label)
    except AccountError as exc:
        return _tokens_page(request, error=str(exc), status=400)
    _audit(request, principal, "token.create", company_id, token_id=token.id, scope=scope,
           prefix=token.prefix, label=label)
    return _tokens_page(request, secret=(f"{scope} · {company_id or '*'}", plain))


@router.post("/tokens/{token_id}/revoke")
async def revoke_token(request: Request, token_id: int) -> Response:
    principal = operator_principal(request)
    await checked_form(request)
    try:
        token = accounts_of(request).revoke_token(token_id)
    except AccountError as exc:
        return _tokens_page(request, error=str(exc), status=400)
    _audit(request, principal, "token.revoke", token.company_id, token_id=token.id,
           prefix=token.prefix)
    return RedirectResponse("/support/tokens", status_code=303)


# --- audit ----------------------------------------------------------------------------------
@router.get("/audit")
def audit(request: Request) -> Response:
    operator_principal(request)
    try:
        page_no = max(1, int(request.query_params.get("page", "1")))
    except ValueError:
        raise HTTPError(400, "parameter 'page' must be a whole number") from None
    entries, total = accounts_of(request).audit_entries(limit=AUDIT_PAGE,
                                                       offset=(page_no - 1) * AUDIT_PAGE)
    return render(request, "support_audit.html", {
        "entries": entries, "total": total, "page": page_no,
        "has_next": page_no * AUDIT_PAGE < total, "lang": pick_lang(request)})
