"""The notification pages: report subscriptions and "send now" (the e-mail reaches a real local
SMTP server with the very workbook the download gives), the company webhook (signed requests
reach a real local HTTP server), support's deliveries page, CSRF, who may do what, the audit."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.mail import HookSink, SmtpSink, attachment_of, cells
from tests.web.conftest import NOW, TestClient, bearer, csrf_of
from vkurse_stats.service import Services
from vkurse_stats.store.accounts import AccountStore


@pytest.fixture
def seeded(make_services: Callable[..., Services], seeded_template: Path, tmp_path: Path, smtp: SmtpSink) -> Services:
    """The web fixtures' seeded services, sending through the local SMTP server; webhooks may go
    to private addresses (the receiver listens on 127.0.0.1, as an on-premises one would)."""
    data_dir = tmp_path / "seeded"
    shutil.copytree(seeded_template, data_dir)
    return make_services(
        now=NOW,
        data_dir=data_dir,
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        smtp_from="stats@vkurse.test",
        webhook_allow_private=True,
    )


def post(c: TestClient, path: str, data: dict[str, str], page: str = "/settings") -> object:
    return c.post(path, data={"csrf": csrf_of(c.get(page).text), **data}, follow_redirects=False)


def test_an_administrator_subscribes_and_it_is_audited(
    admin: TestClient, seeded: Services, accounts: AccountStore
) -> None:
    page = admin.get("/settings?lang=en")
    assert page.status_code == 200
    assert 'id="sub-monthly"' in page.text and "checked" not in page.text.split('id="sub-monthly"')[1][:20]
    r = post(admin, "/settings/reports", {"monthly": "on", "weekly": "on", "lang": "en"})
    assert r.status_code == 303 and r.headers["location"] == "/settings?done=settings.saved"  # type: ignore[attr-defined]
    subs = seeded.notifier.store.subscriptions(accounts.account_by_email("admin@acme.ru").id)  # type: ignore[union-attr]
    assert {k: s.lang for k, s in subs.items()} == {"monthly": "en", "weekly": "en"}
    shown = admin.get("/settings?done=settings.saved&lang=en").text
    assert "Settings saved." in shown
    assert 'id="sub-weekly" checked' in shown
    post(admin, "/settings/reports", {"weekly": "on", "lang": "ru"})
    subs = seeded.notifier.store.subscriptions(accounts.account_by_email("admin@acme.ru").id)  # type: ignore[union-attr]
    assert {k: s.lang for k, s in subs.items()} == {"weekly": "ru"}
    entries, _ = accounts.audit_entries(action="report.subscriptions")
    assert [(e.actor, e.company_id, e.detail["kinds"], e.detail["removed"]) for e in entries] == [
        ("admin@acme.ru", "acme", ["weekly"], ["monthly"]),
        ("admin@acme.ru", "acme", ["monthly", "weekly"], []),
    ]


def test_send_now_mails_the_last_week_with_the_download_attached(
    admin: TestClient, seeded: Services, smtp: SmtpSink, accounts: AccountStore, tokens: dict[str, str]
) -> None:
    post(admin, "/settings/reports", {"weekly": "on", "lang": "en"})
    r = post(admin, "/settings/reports/send", {"kind": "weekly"})
    assert r.status_code == 303  # type: ignore[attr-defined]
    notice = admin.get(r.headers["location"] + "&lang=en").text  # type: ignore[attr-defined]
    assert "The report is queued for sending: 2026-03-09 — 2026-03-15." in notice
    assert seeded.notifier.deliver_due() == (1, 0)
    message = smtp.parsed()
    # The fixed clock is Friday 2026-03-20: the last complete week is 03-09 .. 03-15.
    assert message["Subject"] == "VKurse: weekly report 2026-03-09 — 2026-03-15 — ООО Акме"
    assert message["To"] == "admin@acme.ru"
    filename, xlsx = attachment_of(message)
    assert filename == "vkurse-stats_acme_2026-03-09_2026-03-15.xlsx"
    download = admin.get(
        "/api/v1/export.xlsx?from=2026-03-09&to=2026-03-15&lang=en", headers=bearer(tokens["acme_read"])
    )
    assert download.status_code == 200
    assert cells(xlsx) == cells(download.content)
    # "Send now" is outside the schedule: a second press sends a second e-mail.
    post(admin, "/settings/reports/send", {"kind": "weekly"})
    assert seeded.notifier.deliver_due() == (1, 0)
    entries, _ = accounts.audit_entries(action="report.send_now")
    assert [(e.detail["date_from"], e.detail["date_to"]) for e in entries] == [("2026-03-09", "2026-03-15")] * 2


def test_forms_need_the_csrf_token(admin: TestClient) -> None:
    for path in ("/settings/reports", "/settings/reports/send", "/settings/webhook"):
        r = admin.post(path, data={"kind": "weekly", "url": "https://example.org/"}, follow_redirects=False)
        assert r.status_code == 403, path


def test_reports_are_for_company_administrators(operator: TestClient) -> None:
    assert "E-mail reports are for company administrators." in operator.get("/settings?lang=en").text
    assert post(operator, "/settings/reports", {"monthly": "on"}).status_code == 403  # type: ignore[attr-defined]
    assert post(operator, "/settings/reports/send", {"kind": "monthly"}).status_code == 403  # type: ignore[attr-defined]


def test_the_company_webhook_is_set_tested_and_signed(
    admin: TestClient, seeded: Services, hook: HookSink, accounts: AccountStore
) -> None:
    r = post(admin, "/settings/webhook", {"url": "ftp://example.org/"})
    assert r.status_code == 400  # type: ignore[attr-defined]
    r = post(admin, "/settings/webhook", {"url": hook.url})
    assert r.status_code == 303  # type: ignore[attr-defined]
    webhook = seeded.notifier.store.webhook("acme")
    assert webhook is not None and webhook.url == hook.url
    assert webhook.secret in admin.get("/settings").text
    hook.secret = webhook.secret
    assert post(admin, "/settings/webhook/test", {}).status_code == 303  # type: ignore[attr-defined]
    assert seeded.notifier.deliver_due() == (1, 0)
    [(headers, body, valid)] = hook.requests
    assert valid and headers["X-VKurse-Event"] == "test"
    assert b'"company":"acme"' in body
    assert seeded.notifier.store.webhook("globex") is None
    assert [e.action for e in accounts.audit_entries(company_id="acme", action="webhook.")[0]] == [
        "webhook.test",
        "webhook.set",
    ]


def test_an_administrator_cannot_touch_another_companys_webhook(
    signed_in: Callable[[str], TestClient], seeded: Services, hook: HookSink
) -> None:
    globex = signed_in("admin@globex.ru")
    r = post(globex, "/settings/webhook", {"url": hook.url, "company": "acme"})
    assert r.status_code == 404  # type: ignore[attr-defined]
    assert globex.get("/settings?company=acme").status_code == 404
    assert seeded.notifier.store.webhook("acme") is None


def test_support_reaches_a_companys_notification_settings_from_its_page(operator: TestClient) -> None:
    page = operator.get("/support/companies/acme")
    assert page.status_code == 200
    assert 'href="/settings?company=acme" id="company-settings"' in page.text
    assert "Вебхук" in operator.get("/settings?company=acme").text


def test_support_sets_a_company_webhook_and_sees_every_delivery(
    operator: TestClient, admin: TestClient, seeded: Services, accounts: AccountStore, hook: HookSink
) -> None:
    r = post(operator, "/settings/webhook", {"url": hook.url, "company": "acme"}, page="/settings?company=acme")
    assert r.status_code == 303 and r.headers["location"] == (  # type: ignore[attr-defined]
        "/settings?company=acme&done=settings.webhook_saved"
    )
    hook.answers = [500] * 20
    seeded.notifier.queue_webhook("acme", "test", {})
    seeded.notifier.queue_email(to="nobody@acme.ru", subject="Проверка", body="текст", company_id="acme")
    seeded.notifier.deliver_due()
    page = operator.get("/support/deliveries?lang=en")
    assert page.status_code == 200
    assert page.text.count('data-state="delivered"') == 1
    assert page.text.count('data-state="pending"') == 1
    assert "HTTP 500" in page.text
    assert operator.get("/support/deliveries?state=delivered").text.count("data-state=") == 1
    assert operator.get("/support/deliveries?company=globex").text.count("data-state=") == 0
    pending = seeded.notifier.store.deliveries(state="pending")[0][0]
    r = post(operator, f"/support/deliveries/{pending.id}/retry", {}, page="/support/deliveries")
    assert r.status_code == 303  # type: ignore[attr-defined]
    entries, _ = accounts.audit_entries(action="delivery.retry")
    assert [(e.actor, e.detail["delivery"]) for e in entries] == [("op@vkurse.ru", pending.id)]
    assert admin.get("/support/deliveries").status_code == 403
    assert operator.get("/support/deliveries?state=lost").status_code == 400
