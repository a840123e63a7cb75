"""Support's pages in a real Chromium: a timezone picked by its place name, a company typed with
the server's suggestions, a secret shown once after the redirect, confirmation before disabling
and revoking, and the audit log read and filtered."""

from __future__ import annotations

import re
from typing import Any

from tests.web.test_browser import _sign_in, browser, page, pytestmark, server  # noqa: F401
from vkurse_stats.service import Services


def test_support_changes_in_the_browser(page: Any, server: str, seeded: Services) -> None:  # noqa: F811
    for i in range(30):
        seeded.meta.put_company(f"t{i:03d}", f"Компания №{i}")
    _sign_in(page, server, "op@vkurse.ru")
    page.wait_for_url(re.compile(r"/dashboard"))

    # A company with its timezone picked by place name from the list of every zone.
    page.goto(server + "/support/companies")
    assert page.input_value("#company-tz") == "Москва (UTC+3)"
    assert page.locator('#tz-list option[value="Новосибирск (UTC+7)"]').count() == 1
    page.fill("#company-form input[name=id]", "initech")
    page.fill("#company-form input[name=name]", "Инитех")
    page.fill("#company-tz", "Марс")
    page.fill("#company-form input[name=limit_concurrent_speakers]", "50")
    page.click("#company-form button[type=submit]")
    assert page.inner_text("#form-error") == "Неизвестный часовой пояс «Марс»: выберите его из списка."
    assert page.input_value("#company-form input[name=id]") == "initech"  # what was typed stays
    assert page.problems == [
        "console error: Failed to load resource: the server responded with a status of 400 (Bad Request)"
    ]  # the refused form's own answer
    page.problems.clear()
    page.fill("#company-tz", "Новосибирск (UTC+7)")
    page.click("#company-form button[type=submit]")
    page.wait_for_url(re.compile(r"/support/companies/initech\?done="))
    assert page.inner_text("#notice") == "Компания «Инитех» создана."
    assert page.input_value("#company-tz") == "Новосибирск (UTC+7)"
    page.fill("#company-tz", "Самара (UTC+4)")
    page.click("#company-edit button[type=submit]")
    page.wait_for_url(re.compile(r"done="))
    assert "Самара (UTC+4)" in page.inner_text("#notice") and "пересчитана" in page.inner_text("#notice")
    assert seeded.meta.company("initech").timezone == "Europe/Samara"  # type: ignore[union-attr]

    # An account: the company field suggests companies from the server as one types.
    page.goto(server + "/support/accounts?company=initech")
    assert page.input_value("#account-company") == "initech"
    page.fill("#account-company", "")
    page.type("#account-company", "Инит")
    page.wait_for_selector('#account-company-options option[value="initech"]', state="attached")
    assert page.locator("#account-company-options option").count() == 1
    page.fill("#account-company", "initech")
    page.fill("#account-form input[name=email]", "boss@initech.ru")
    page.click("#account-form button[type=submit]")
    page.wait_for_url(re.compile(r"/support/accounts\?done="))
    assert len(page.inner_text("#secret").strip()) >= 12
    page.reload()
    assert page.locator("#secret").count() == 0 and page.locator("#notice").count() == 0

    # Disable asks first, then says what it did.
    page.click('tr[data-account="boss@initech.ru"] a[data-action="disable"]')
    page.wait_for_url(re.compile(r"/disable$"))
    assert "boss@initech.ru больше не сможет войти" in page.inner_text("#confirm")
    page.click("#confirm-no")
    page.wait_for_url(re.compile(r"/support/accounts$"))
    assert not seeded.accounts.account_by_email("boss@initech.ru").disabled  # type: ignore[union-attr]
    page.click('tr[data-account="boss@initech.ru"] a[data-action="disable"]')
    page.click("#confirm-yes")
    page.wait_for_url(re.compile(r"/support/accounts\?done="))
    assert "отключена" in page.inner_text("#notice")
    assert "Отключена" in page.inner_text('tr[data-account="boss@initech.ru"]')

    # A token, shown once, then revoked after a confirmation.
    page.goto(server + "/support/tokens")
    page.fill("#token-company", "initech")
    page.click("#token-form button[type=submit]")
    page.wait_for_url(re.compile(r"/support/tokens\?done="))
    assert page.inner_text("#secret").startswith("vks_")
    page.click('a[data-action="revoke"]')
    page.click("#confirm-yes")
    page.wait_for_url(re.compile(r"/support/tokens\?done="))
    assert "отозван" in page.inner_text("#notice")

    # The audit log: names, before -> after, a filter by action.
    page.goto(server + "/support/audit")
    page.select_option("#audit-action", "company.update")
    page.click("#audit-filter button[type=submit]")
    page.wait_for_url(re.compile(r"action=company.update"))
    row = page.locator('tr[data-action="company.update"]').first
    assert "Изменение компании" in row.inner_text()
    assert "Новосибирск (UTC+7) → Самара (UTC+4)" in row.inner_text()
    assert page.locator("tbody tr").count() == page.locator('tr[data-action="company.update"]').count()
    assert page.problems == []


def test_support_pages_on_a_phone(browser: Any, server: str) -> None:  # noqa: F811
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="ru-RU")
    p = context.new_page()
    errors: list[str] = []
    p.on("pageerror", lambda exc: errors.append(str(exc)))
    _sign_in(p, server, "op@vkurse.ru")
    p.wait_for_url(re.compile(r"/dashboard"))
    for path in ("/support/companies", "/support/accounts", "/support/tokens", "/support/audit"):
        p.goto(server + path)
        width = p.evaluate("document.documentElement.scrollWidth")
        assert width <= 390 + 1, (path, width)
    context.close()
    assert errors == []
