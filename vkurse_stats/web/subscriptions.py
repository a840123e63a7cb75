"""Notification pages: the report subscriptions, the webhook and the licence alert thresholds
of the signed-in account's company (``/settings``), and support's list of deliveries
(``/support/deliveries``).

A company administrator subscribes themself to monthly and weekly report e-mails and sets their
company's webhook; support sets any company's webhook (``/settings?company=``) and sees every
queued, delivered and failed message. Every change is audited; "send now" queues the report of
the last complete period at once (for testing), outside the schedule.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from ..export.labels import check_lang, metric_header
from ..metrics.definitions import METRIC_BY_ID
from ..metrics.insight import limit_at
from ..notify.alerts import LIMITED_IDS, parse_percents
from ..notify.reports import period_label
from ..notify.webhook import UnsafeDestination, check_destination, valid_url
from ..store.meta import CompanyInfo
from ..store.notify import DELIVERY_STATES, REPORT_KINDS
from .auth import (
    HTTPError,
    Principal,
    accounts_of,
    checked_form,
    client_address,
    operator_principal,
    page_principal,
    resolve_company,
    services_of,
)
from .i18n import LANGS, pick_lang, translate
from .render import render

router = APIRouter(include_in_schema=False)

DELIVERIES_PAGE = 50
# Notices a redirect may ask the settings page to show (nothing else from the URL is shown).
NOTICES = (
    "settings.saved",
    "settings.sent_now",
    "settings.webhook_saved",
    "settings.webhook_removed",
    "settings.webhook_tested",
    "alerts.saved",
)


def _company(request: Request, principal: Principal, requested: str | None) -> CompanyInfo | None:
    """The company whose webhook the page shows: an administrator's own, or the one support
    asked for (none when support asked for none)."""
    if principal.is_operator and not requested:
        return None
    return resolve_company(request, principal, requested, default_first=False)


def _settings_url(company: CompanyInfo | None, principal: Principal, **params: str) -> str:
    query = {**({"company": company.id} if company and principal.is_operator else {}), **params}
    return "/settings" + ("?" + urlencode(query) if query else "")


def _settings_context(request: Request, principal: Principal, company: CompanyInfo | None) -> dict[str, Any]:
    account = principal.account
    assert account is not None
    lang = pick_lang(request)
    services = services_of(request)
    store = services.notifier.store
    subs = store.subscriptions(account.id)
    notice = None
    done = request.query_params.get("done")
    if done in NOTICES:
        kind = request.query_params.get("kind")
        period = ""
        if kind in REPORT_KINDS and not principal.is_operator and account.company_id:
            period = period_label(services.notifier.report_period(kind, account.company_id), lang)
        notice = translate(lang, done, period=period)
    return {
        "company": company,
        "own_company": None if principal.is_operator else services.meta.company(account.company_id or ""),
        "subscribed": {kind: kind in subs for kind in REPORT_KINDS},
        "kinds": REPORT_KINDS,
        "mail_lang": next(iter(subs.values())).lang if subs else lang,
        "mail_langs": LANGS,
        "report_time": services.settings.report_time,
        "smtp_off": not services.settings.smtp_host,
        "webhook": store.webhook(company.id) if company else None,
        "notice": notice,
        "error": None,
        "operator_company": company.id if company and principal.is_operator else None,
        **(_alert_context(services, company, lang) if company else {}),
    }


def _alert_context(services: Any, company: CompanyInfo, lang: str) -> dict[str, Any]:
    """The thresholds of each limited metric, with the limit in force now."""
    engine = services.alerts
    history = services.rollups.limit_histories([company.id])[company.id]
    now = services.now_us()
    found = engine.store.thresholds(company.id, list(LIMITED_IDS), engine.default)
    rows = [
        {
            "metric": mid,
            "label": metric_header(METRIC_BY_ID[mid], check_lang(lang)),
            "percents": found[mid].percents,
            "limit": limit_at(history, METRIC_BY_ID[mid].limit, now),
        }
        for mid in LIMITED_IDS
    ]
    return {
        "alert_rows": rows,
        "alert_rules": {
            "margin": services.settings.alert_margin_percent,
            "rearm": round(services.settings.alert_rearm_seconds / 60, 1),
        },
    }


@router.get("/settings")
def settings_page(request: Request) -> Response:
    principal = page_principal(request)
    company = _company(request, principal, request.query_params.get("company"))
    return render(request, "settings.html", _settings_context(request, principal, company))


def _admin(request: Request) -> tuple[Principal, str]:
    principal = page_principal(request)
    account = principal.account
    assert account is not None
    if principal.is_operator or not account.company_id:
        raise HTTPError(403, "report e-mails are for company administrators")
    return principal, account.company_id


@router.post("/settings/reports")
async def save_reports(request: Request) -> Response:
    principal, company_id = _admin(request)
    form = await checked_form(request)
    account = principal.account
    assert account is not None
    kinds = {k for k in REPORT_KINDS if form.get(k) == "on"}
    mail_lang = form["lang"] if form.get("lang") in LANGS else pick_lang(request)
    store = services_of(request).notifier.store
    now = services_of(request).notifier.clock()
    added, removed = await run_in_threadpool(store.set_subscriptions, account.id, kinds, mail_lang, now)
    accounts_of(request).audit(
        account.email,
        "report.subscriptions",
        company_id,
        client_address(request),
        kinds=sorted(kinds),
        added=sorted(added),
        removed=sorted(removed),
        lang=mail_lang,
    )
    return RedirectResponse("/settings?done=settings.saved", status_code=303)


@router.post("/settings/reports/send")
async def send_report_now(request: Request) -> Response:
    """Queue the report of the last complete period to the signed-in administrator now."""
    principal, company_id = _admin(request)
    form = await checked_form(request)
    account = principal.account
    assert account is not None
    kind = form.get("kind")
    if kind not in REPORT_KINDS:
        raise HTTPError(400, "kind must be monthly or weekly")
    notifier = services_of(request).notifier
    subs = notifier.store.subscriptions(account.id)
    mail_lang = subs[kind].lang if kind in subs else pick_lang(request)
    period = notifier.report_period(kind, company_id)
    delivery_id = await run_in_threadpool(
        lambda: notifier.queue_report(account.id, account.email, company_id, period, mail_lang, dedup=False)
    )
    accounts_of(request).audit(
        account.email,
        "report.send_now",
        company_id,
        client_address(request),
        kind=kind,
        date_from=period.first.isoformat(),
        date_to=period.last.isoformat(),
        delivery=delivery_id,
    )
    return RedirectResponse("/settings?" + urlencode({"done": "settings.sent_now", "kind": kind}), status_code=303)


def _webhook_company(request: Request, form: dict[str, str]) -> tuple[Principal, CompanyInfo]:
    principal = page_principal(request)
    company = _company(request, principal, form.get("company") or request.query_params.get("company"))
    if company is None:
        raise HTTPError(400, "company_required")
    return principal, company


@router.post("/settings/webhook")
async def save_webhook(request: Request) -> Response:
    form = await checked_form(request)
    principal, company = _webhook_company(request, form)
    url = form.get("url", "").strip()
    store = services_of(request).notifier.store
    if not valid_url(url):
        return _settings_error(request, principal, company, translate(pick_lang(request), "settings.webhook_bad_url"))
    refused = await _refusal(request, url)
    if refused:
        return _settings_error(request, principal, company, refused)
    before = store.webhook(company.id)
    hook = store.set_webhook(
        company.id, url, services_of(request).notifier.clock(), new_secret=form.get("new_secret") == "1"
    )
    accounts_of(request).audit(
        principal.actor,
        "webhook.set",
        company.id,
        client_address(request),
        before={"url": before.url if before else None},
        after={"url": hook.url},
        new_secret=before is None or hook.secret != before.secret,
    )
    return RedirectResponse(_settings_url(company, principal, done="settings.webhook_saved"), status_code=303)


@router.post("/settings/webhook/remove")
async def remove_webhook(request: Request) -> Response:
    form = await checked_form(request)
    principal, company = _webhook_company(request, form)
    store = services_of(request).notifier.store
    before = store.webhook(company.id)
    if store.delete_webhook(company.id):
        accounts_of(request).audit(
            principal.actor,
            "webhook.remove",
            company.id,
            client_address(request),
            before={"url": before.url if before else None},
        )
    return RedirectResponse(_settings_url(company, principal, done="settings.webhook_removed"), status_code=303)


@router.post("/settings/webhook/test")
async def test_webhook(request: Request) -> Response:
    form = await checked_form(request)
    principal, company = _webhook_company(request, form)
    notifier = services_of(request).notifier
    # Said at once rather than only in the outbox (the delivery checks again): the URL may have
    # been saved while private addresses were allowed, or its name resolve elsewhere now.
    hook = notifier.store.webhook(company.id)
    refused = await _refusal(request, hook.url) if hook else None
    if refused:
        return _settings_error(request, principal, company, refused)
    delivery_id = notifier.queue_webhook(company.id, "test", {"message": "vkurse-stats webhook test"})
    if delivery_id is None:
        return _settings_error(request, principal, company, translate(pick_lang(request), "settings.webhook_none"))
    accounts_of(request).audit(
        principal.actor, "webhook.test", company.id, client_address(request), delivery=delivery_id
    )
    return RedirectResponse(_settings_url(company, principal, done="settings.webhook_tested"), status_code=303)


@router.post("/settings/alerts")
async def save_alert_thresholds(request: Request) -> Response:
    """Set the company's alert thresholds (a metric left empty has no alerts); they apply from now."""
    form = await checked_form(request)
    principal, company = _webhook_company(request, form)
    services = services_of(request)
    store = services.alerts.store
    chosen: dict[str, tuple[int, ...]] = {}
    for mid in LIMITED_IDS:
        try:
            chosen[mid] = parse_percents(form.get(mid, ""))
        except ValueError as exc:
            return _settings_error(
                request, principal, company, translate(pick_lang(request), "alerts.bad", error=str(exc))
            )
    before = store.thresholds(company.id, list(LIMITED_IDS), services.alerts.default)
    changed = {mid: p for mid, p in chosen.items() if p != before[mid].percents}
    now_us, now = services.now_us(), services.notifier.clock()
    for mid, percents in changed.items():
        await run_in_threadpool(store.set_thresholds, company.id, mid, percents, now_us, now)
    if changed:
        accounts_of(request).audit(
            principal.actor,
            "alerts.thresholds",
            company.id,
            client_address(request),
            before={m: list(before[m].percents) for m in changed},
            after={m: list(p) for m, p in changed.items()},
        )
    return RedirectResponse(_settings_url(company, principal, done="alerts.saved") + "#alerts", status_code=303)


async def _refusal(request: Request, url: str) -> str | None:
    """Why webhooks must not go to ``url`` (its host is not a public address, or does not
    resolve), in the page's language; None when they may (or the installation allows private
    addresses)."""
    if services_of(request).settings.webhook_allow_private:
        return None
    try:
        await run_in_threadpool(check_destination, url)  # DNS: not on the event loop
    except UnsafeDestination as exc:
        return translate(pick_lang(request), exc.key, **exc.params)
    return None


def _settings_error(request: Request, principal: Principal, company: CompanyInfo, message: str) -> Response:
    """The settings page again with ``message`` (a refused form)."""
    context = _settings_context(request, principal, company)
    context["error"] = message
    return render(request, "settings.html", context, status=400)


# --- support: deliveries ----------------------------------------------------------------------
@router.get("/support/deliveries")
def deliveries_page(request: Request) -> Response:
    """Every message of the outbox, newest first, 50 a page, by company and state."""
    operator_principal(request)
    qp = request.query_params
    state = qp.get("state") or None
    if state is not None and state not in DELIVERY_STATES:
        raise HTTPError(400, f"state must be one of: {', '.join(DELIVERY_STATES)}")
    company = (qp.get("company") or "").strip()[:256] or None
    try:
        page = max(1, int(qp.get("page") or 1))
    except ValueError:
        raise HTTPError(400, "page must be a number") from None
    store = services_of(request).notifier.store
    rows, total = store.deliveries(
        limit=DELIVERIES_PAGE,
        offset=(page - 1) * DELIVERIES_PAGE,
        company_id=company,
        state=state,
    )
    pages = max(1, -(-total // DELIVERIES_PAGE))
    kept = {k: v for k, v in (("company", company), ("state", state)) if v}
    notice = None
    if qp.get("retried", "").isdigit():
        notice = translate(pick_lang(request), "deliveries.retried", id=qp["retried"])
    return render(
        request,
        "support_deliveries.html",
        {
            "rows": rows,
            "total": total,
            "page": page,
            "pages": pages,
            "states": DELIVERY_STATES,
            "filters": {"company": company or "", "state": state or ""},
            "notice": notice,
            "page_url": lambda n: "/support/deliveries?" + urlencode({**kept, "page": n}),
            "back": "/support/deliveries" + ("?" + urlencode(kept) if kept else ""),
        },
    )


@router.post("/support/deliveries/{delivery_id}/retry")
async def retry_delivery(request: Request, delivery_id: int) -> Response:
    principal = operator_principal(request)
    await checked_form(request)
    notifier = services_of(request).notifier
    delivery = notifier.store.retry(delivery_id, notifier.clock())
    if delivery is None:
        raise HTTPError(404, "no such delivery waiting")
    accounts_of(request).audit(
        principal.actor,
        "delivery.retry",
        delivery.company_id,
        client_address(request),
        delivery=delivery.id,
        channel=delivery.channel,
        recipient=delivery.recipient,
    )
    notifier.wake()
    return RedirectResponse(f"/support/deliveries?retried={delivery.id}", status_code=303)
