"""The support pages as support uses them: a change answers POST -> 303 -> GET and says what it
did once; a secret comes from a one-time flash; reset, disable and revoke ask first; the audit
log names actions, shows what changed and filters and pages; company fields never list every
company; time zones read "Москва (UTC+3)"; odd company ids stay reachable."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from tests.web.conftest import PASSWORD, TestClient, csrf_of
from vkurse_stats.service import Services
from vkurse_stats.web.support import company_path


def _secret(html: str) -> str | None:
    m = re.search(r'<code class="secret" id="secret">([^<]+)</code>', html)
    return m.group(1) if m else None


def test_a_secret_is_shown_once_and_a_reload_repeats_nothing(operator: TestClient, accounts: Any) -> None:
    csrf = csrf_of(operator.get("/support/accounts").text)
    r = operator.post(
        "/support/accounts",
        data={"csrf": csrf, "email": "boss@acme.ru", "role": "admin", "company": "acme"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"].startswith("/support/accounts?done=")
    assert "vks_flash" in r.headers["set-cookie"] and "HttpOnly" in r.headers["set-cookie"]
    page = operator.get(r.headers["location"])
    password = _secret(page.text)
    assert password and accounts.verify_password("boss@acme.ru", password) is not None
    assert "Учётная запись boss@acme.ru создана." in page.text
    # A reload: no secret, no notice, and no second account or audit entry.
    again = operator.get(r.headers["location"])
    assert _secret(again.text) is None and "создана" not in again.text
    assert [e.action for e in accounts.audit_entries()[0]].count("account.create") == 1


def test_the_flash_is_bound_to_its_session(operator: TestClient, accounts: Any, signed_in: Any) -> None:
    accounts.create_account("op2@vkurse.ru", role="operator", password=PASSWORD)
    csrf = csrf_of(operator.get("/support/tokens").text)
    r = operator.post(
        "/support/tokens", data={"csrf": csrf, "scope": "read", "company": "acme"}, follow_redirects=False
    )
    other = signed_in("op2@vkurse.ru")
    other.cookies.set("vks_flash", operator.cookies.get("vks_flash") or "")
    assert _secret(other.get(r.headers["location"]).text) is None
    # Its own session still sees it, once.
    assert (_secret(operator.get(r.headers["location"]).text) or "").startswith("vks_")
    assert _secret(operator.get(r.headers["location"]).text) is None


def test_reset_disable_and_revoke_ask_first_and_report(operator: TestClient, accounts: Any) -> None:
    boss = accounts.account_by_email("admin@acme.ru")
    listing = operator.get("/support/accounts").text
    # The list's buttons lead to a confirmation page; nothing happens on GET.
    assert f'href="/support/accounts/{boss.id}/reset"' in listing
    assert f'href="/support/accounts/{boss.id}/disable"' in listing
    confirm = operator.get(f"/support/accounts/{boss.id}/disable")
    assert confirm.status_code == 200 and "Отключить учётную запись?" in confirm.text
    assert "admin@acme.ru больше не сможет войти" in confirm.text
    assert f'action="/support/accounts/{boss.id}/disable"' in confirm.text
    assert not accounts.account(boss.id).disabled
    r = operator.post(
        f"/support/accounts/{boss.id}/disable", data={"csrf": csrf_of(confirm.text)}, follow_redirects=True
    )
    assert "Учётная запись admin@acme.ru отключена; её сеансы завершены." in r.text
    assert accounts.account(boss.id).disabled

    confirm = operator.get(f"/support/accounts/{boss.id}/reset?lang=en")
    assert "Issue a new password?" in confirm.text
    r = operator.post(f"/support/accounts/{boss.id}/reset", data={"csrf": csrf_of(confirm.text)}, follow_redirects=True)
    assert "A new one-time password was issued for admin@acme.ru" in r.text and _secret(r.text)

    token, _ = accounts.create_token("ingest", "acme", "platform")
    confirm = operator.get(f"/support/tokens/{token.id}/revoke?lang=ru")
    assert "Отозвать токен?" in confirm.text and token.prefix in confirm.text
    assert accounts.token(token.id).revoked_at is None
    r = operator.post(f"/support/tokens/{token.id}/revoke", data={"csrf": csrf_of(confirm.text)}, follow_redirects=True)
    assert f"Токен №{token.id} ({token.prefix}…) отозван" in r.text
    assert accounts.token(token.id).revoked_at is not None
    r = operator.post(f"/support/tokens/{token.id}/revoke", data={"csrf": csrf_of(confirm.text)})
    assert r.status_code == 400 and f"Токен №{token.id} уже отозван." in r.text
    assert operator.get("/support/tokens/999/revoke").status_code == 404


def test_company_fields_do_not_list_every_company(operator: TestClient, admin: TestClient, seeded: Services) -> None:
    for i in range(60):
        seeded.meta.put_company(f"t{i:03d}", f"Компания №{i}")
    for path in ("/support/accounts", "/support/tokens"):
        html = operator.get(path).text
        assert '<select name="company"' not in html and "Компания №5" not in html
        assert re.search(r'<input type="text" name="company"[^>]*list="[\w-]+-options"', html)
    found = operator.get("/support/company-options", params={"q": "акме"}).json()
    assert found == {"companies": [{"id": "acme", "name": "ООО Акме"}], "total": 1}
    assert len(operator.get("/support/company-options").json()["companies"]) == 20
    assert admin.get("/support/company-options").status_code == 403
    # The typed id is checked on the server.
    csrf = csrf_of(operator.get("/support/accounts").text)
    r = operator.post("/support/accounts", data={"csrf": csrf, "email": "x@t.ru", "role": "admin", "company": "t0"})
    assert r.status_code == 400 and "Компания «t0» не найдена." in r.text and 'value="t0"' in r.text
    r = operator.post(
        "/support/accounts",
        data={"csrf": csrf, "email": "x@t.ru", "role": "admin", "company": " t007 "},
        follow_redirects=True,
    )
    assert r.status_code == 200 and "Учётная запись x@t.ru создана." in r.text
    assert operator.get("/support/accounts?company=t007").text.count('value="t007"') == 1


def test_time_zones_read_as_places(operator: TestClient, seeded: Services) -> None:
    html = operator.get("/support/companies?lang=ru").text
    assert '<td title="Asia/Yekaterinburg">Екатеринбург (UTC+5)</td>' in html
    assert '<option value="Москва (UTC+3)"></option>' in html and 'list="tz-list"' in html
    assert 'value="Москва (UTC+3)"' in html  # the new company's default
    html = operator.get("/support/companies/globex?lang=en").text
    assert 'value="Yekaterinburg (UTC+5)"' in html and '<option value="Moscow (UTC+3)"></option>' in html
    switch = operator.get("/switch", params={"company": "globex", "lang": "ru"}).text
    assert "Екатеринбург (UTC+5)" in switch
    csrf = csrf_of(html)
    for typed, zone in (
        ("Samara (UTC+4)", "Europe/Samara"),
        ("новосибирск", "Asia/Novosibirsk"),
        ("asia/tokyo", "Asia/Tokyo"),
    ):
        r = operator.post(
            "/support/companies/globex",
            data={"csrf": csrf, "name": "Globex", "timezone": typed},
            follow_redirects=False,
        )
        assert r.status_code == 303, typed
        assert seeded.meta.company("globex").timezone == zone  # type: ignore[union-attr]


def test_odd_company_ids_stay_reachable(operator: TestClient, seeded: Services) -> None:
    seeded.ingest_lines(
        [
            b'{"kind": "company", "id": "west/branch 1", "name": "West"}',
            b'{"kind": "company", "id": "50%", "name": "Half"}',
        ]
    )
    listing = operator.get("/support/companies").text
    assert f'href="{company_path("west/branch 1")}"' in listing
    assert company_path("west/branch 1") == "/support/companies/west%2Fbranch%201"
    for company_id in ("west/branch 1", "50%"):
        page = operator.get(company_path(company_id))
        assert page.status_code == 200 and f'action="{company_path(company_id)}"' in page.text
        r = operator.post(
            company_path(company_id),
            data={"csrf": csrf_of(page.text), "name": "Renamed", "timezone": "Europe/Moscow"},
            follow_redirects=True,
        )
        assert r.status_code == 200 and r.url.path == "/support/companies/" + company_id
        assert seeded.meta.company(company_id).name == "Renamed"  # type: ignore[union-attr]
    assert operator.get("/support/companies/" + quote("no such", safe="")).status_code == 404


def test_audit_log_is_readable_filtered_and_paged(operator: TestClient, accounts: Any) -> None:
    csrf = csrf_of(operator.get("/support/companies").text)
    operator.post(
        "/support/companies",
        data={
            "csrf": csrf,
            "id": "initech",
            "name": "Initech",
            "timezone": "Europe/Samara",
            "limit_concurrent_speakers": "10",
        },
    )
    operator.post(
        "/support/companies/initech",
        data={"csrf": csrf, "name": "Initech LLC", "timezone": "Самара (UTC+4)", "limit_concurrent_speakers": "1 200"},
    )
    for i in range(120):
        accounts.audit("op@vkurse.ru", "export.csv", "acme", "10.0.0.1", range=i)
    html = operator.get("/support/audit?lang=ru&action=company.update").text
    row = re.search(r'<tr data-action="company.update">(.*?)</tr>', html, re.S)
    assert row, html
    cells = row.group(1)
    assert "Изменение компании" in cells
    assert "Название:</span> <del>Initech</del> → <ins>Initech LLC</ins>" in cells
    assert "Лимит: одновременных докладчиков:</span> <del>10</del> → <ins>1\u00a0200</ins>" in cells
    assert "Часовой пояс" not in cells  # unchanged fields are not listed
    html = operator.get("/support/audit?lang=en&action=company.create").text
    assert "Company created" in html
    assert re.search(r"Timezone:</span> <ins>Samara \(UTC\+4\)</ins>", html)

    # Filters by company and action; 50 a page, with the total; a page past the end is the last.
    html = operator.get("/support/audit", params={"company": "acme", "action": "export.csv", "lang": "ru"}).text
    assert html.count('<tr data-action="export.csv">') == 50 and "Показаны 1–50 из 120" in html
    assert "Страница 1 из 3" in html and 'rel="next"' in html
    last = operator.get("/support/audit", params={"company": "acme", "action": "export.csv", "page": "9"}).text
    assert last.count('<tr data-action="export.csv">') == 20 and "Страница 3 из 3" in last
    assert "company=acme" in re.search(r'rel="prev" href="([^"]+)"', last).group(1)  # type: ignore[union-attr]
    none = operator.get("/support/audit", params={"company": "initech", "action": "export.csv"}).text
    assert "Нет записей, подходящих под отбор." in none
    # Days (UTC): the test clock is 2026-03-20.
    day = {"from": "2026-03-20", "to": "2026-03-20", "action": "export.csv"}
    assert "Показаны 1–50 из 120" in operator.get("/support/audit", params=day).text
    assert "Нет записей" in operator.get("/support/audit", params={"from": "2026-03-21", "action": "export.csv"}).text
    bad = operator.get("/support/audit", params={"from": "20.03.2026"})
    assert bad.status_code == 400 and "«20.03.2026» — не дата" in bad.text


def test_switcher_marks_the_open_company_and_keeps_the_range(operator: TestClient) -> None:
    html = operator.get("/switch", params={"company": "globex", "from": "2026-03-01", "to": "2026-03-31"}).text
    assert re.search(r'<tr data-company="globex" class="current" aria-current="true">', html)
    assert 'href="/dashboard?company=acme&amp;from=2026-03-01&amp;to=2026-03-31"' in html
