"""Server-rendered pages: sign-in, forced password change, dashboard figures and tables,
language switch, support pages, empty states and error pages."""

from __future__ import annotations

import re
from typing import Any

from tests.web.conftest import PASSWORD, TestClient, csrf_of, login

MARCH = {"from": "2026-03-01", "to": "2026-03-31"}


def _group(m: re.Match[str] | None) -> str:
    assert m is not None, "pattern not found"
    return m.group(1)


def _value(html: str, metric: str) -> str:
    m = re.search(
        rf'data-metric="{re.escape(metric)}">\s*<div class="card-label">[^<]*</div>\s*'
        r'<div class="card-value" data-value="(\d+)">([^<]*)</div>',
        html,
    )
    assert m, metric
    return m.group(1)


def _level(html: str, metric: str) -> str:
    m = re.search(rf'<div class="card level-(\w+)" data-metric="{re.escape(metric)}">', html)
    assert m, metric
    return m.group(1)


def test_root_redirects_to_login(client: TestClient) -> None:
    r = client.get("/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    r = client.get("/dashboard?from=2026-03-01", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/login?next=%2Fdashboard%3Ffrom%3D2026-03-01"


def test_login_page_russian_by_default(client: TestClient) -> None:
    html = client.get("/login").text
    assert '<html lang="ru">' in html
    assert "Вход в статистику" in html and "support@vkurse.ru" in html


def test_wrong_password_has_a_clear_message(client: TestClient) -> None:
    r = login(client, "admin@acme.ru", "nope")
    assert r.status_code == 401
    assert "Неверная электронная почта или пароль." in r.text
    assert 'value="admin@acme.ru"' in r.text
    r = login(client, "nobody@acme.ru", "nope")
    assert "Неверная электронная почта или пароль." in r.text


def test_login_goes_to_next_but_never_off_site(client: TestClient) -> None:
    page = client.get("/login?next=/dashboard%3Ffrom%3D2026-03-01%26to%3D2026-03-31")
    r = client.post(
        "/login",
        data={
            "csrf": csrf_of(page.text),
            "email": "admin@acme.ru",
            "password": PASSWORD,
            "next": "/dashboard?from=2026-03-01&to=2026-03-31",
        },
        follow_redirects=False,
    )
    assert r.headers["location"] == "/dashboard?from=2026-03-01&to=2026-03-31"
    other = TestClient(client.app)
    page = other.get("/login")
    for evil in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        r = other.post(
            "/login",
            data={"csrf": csrf_of(page.text), "email": "admin@acme.ru", "password": PASSWORD, "next": evil},
            follow_redirects=False,
        )
        assert r.headers["location"] == "/dashboard", evil
        other.cookies.clear()
        page = other.get("/login")


def test_first_login_forces_password_change(client: TestClient, accounts: Any) -> None:
    _, one_time = accounts.create_account("new@acme.ru", role="admin", company_id="acme")
    r = login(client, "new@acme.ru", one_time)
    assert r.status_code == 303 and r.headers["location"] == "/password"
    # Every page and the API wait for the new password.
    assert client.get("/dashboard", follow_redirects=False).headers["location"] == "/password"
    assert client.get("/api/v1/summary", params=MARCH).status_code == 403
    page = client.get("/password")
    assert "временным паролем" in page.text
    csrf = csrf_of(page.text)
    r = client.post("/password", data={"csrf": csrf, "current": one_time, "new": "short", "repeat": "short"})
    assert r.status_code == 400 and "не короче 10" in r.text
    r = client.post(
        "/password", data={"csrf": csrf, "current": one_time, "new": "a-good-new-pass", "repeat": "a-different-one"}
    )
    assert r.status_code == 400 and "не совпадают" in r.text
    r = client.post(
        "/password", data={"csrf": csrf, "current": "wrong", "new": "a-good-new-pass", "repeat": "a-good-new-pass"}
    )
    assert r.status_code == 400 and "неверно" in r.text
    r = client.post(
        "/password",
        data={"csrf": csrf, "current": one_time, "new": "a-good-new-pass", "repeat": "a-good-new-pass"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/dashboard"
    assert client.get("/dashboard").status_code == 200
    assert accounts.verify_password("new@acme.ru", "a-good-new-pass") is not None
    assert accounts.verify_password("new@acme.ru", one_time) is None


def test_dashboard_shows_figures_limits_and_warnings(admin: TestClient) -> None:
    r = admin.get("/dashboard", params=MARCH)
    assert r.status_code == 200
    html = r.text
    assert "ООО Акме" in html
    assert "ВСЕГО (во всех мероприятиях и звонках)" in html
    assert "Мероприятия (тип Совещания/ВКС)" in html and "Мероприятия (тип Вебинар)" in html
    assert "Звонки (в мессенджере)" in html
    assert _value(html, "total.connections") == "5"
    assert _value(html, "total.speakers") == "5"
    assert _value(html, "total.events") == "2"
    assert _value(html, "total.held") == "3"
    assert _value(html, "webinars.participants") == "2"
    assert _value(html, "calls.messages") == "3"
    # 5 of 4 connections and 5 of 3 speakers are over the limit; 2 of 2 events is a warning;
    # 1 of 3 webinar speakers is fine.
    assert _level(html, "total.connections") == "over"
    assert _level(html, "total.speakers") == "over"
    assert _level(html, "total.events") == "warn"
    assert _level(html, "meetings.speakers") == "warn"
    assert _level(html, "webinars.speakers") == "ok"
    assert _level(html, "total.held") == "none"
    assert "достигнуто 05.03.2026 10:10" in html
    assert "125\u202f%" in html and "167\u202f%" in html and "100\u202f%" in html
    # Right side: uploaded in the range, with the total in brackets.
    assert "400,0\u00a0КБ" in html and "500,0\u00a0КБ" in html
    assert re.search(
        r'data-section="users">.*?<div class="side-value">2</div>.*?'
        r"<strong>3</strong>",
        html,
        re.S,
    )
    assert "Скачать статистику" in html
    assert "/api/v1/export.xlsx?from=2026-03-01&amp;to=2026-03-31&amp;lang=ru" in html
    assert "/api/v1/export.csv?from=2026-03-01&amp;to=2026-03-31&amp;lang=ru" in html
    assert 'id="empty-state"' not in html


def test_dashboard_chart_data(admin: TestClient) -> None:
    import json

    html = admin.get("/dashboard", params=MARCH).text
    m = re.search(r'<script type="application/json" id="chart-data">(.*?)</script>', html, re.S)
    assert m
    data = json.loads(m.group(1))
    assert len(data["days"]) == 31
    total = next(c for c in data["charts"] if c["id"] == "total")
    assert total["limit"] == 3
    main = next(s for s in total["series"] if s["main"])
    assert main["id"] == "total.speakers" and main["data"][4] == 5
    overlays = {s["id"] for s in total["series"] if s["overlay"]}
    assert overlays == {"meetings.speakers", "webinars.speakers", "calls.speakers"}
    assert [c["id"] for c in data["charts"]] == ["total", "meetings", "webinars", "calls"]
    assert {d["name"] for d in data["devices"]} == {"Браузер · Windows 10", "iOS · iPhone 14"}
    web = data["clients"]["names"].index("Браузер")
    assert data["clients"]["series"][web][4] == 1
    assert '<script src="/static/vendor/echarts/echarts.min.js"></script>' in html


def test_dashboard_defaults_to_the_last_30_days(admin: TestClient) -> None:
    html = admin.get("/dashboard").text
    assert re.search(r'name="from" id="range-from" value="2026-02-19" max="2026-03-20"', html)
    assert re.search(r'name="to" id="range-to" value="2026-03-20" min="2026-02-19"', html)
    assert re.search(r'data-preset="last_30" aria-current="true">30 дней<', html)
    assert "/dashboard?from=2026-03-14&amp;to=2026-03-20" in html  # the last 7 days
    assert "/dashboard?from=2025-03-21&amp;to=2026-03-20" in html  # the last 12 months
    assert "/dashboard?from=2026-03-01&amp;to=2026-03-31" in html  # this month
    assert 'data-preset="last_month"' in html
    assert "/dashboard?from=2026-02-01&amp;to=2026-02-28" in html
    assert "/dashboard?from=2026-01-01&amp;to=2026-03-31" in html  # this quarter
    assert "/dashboard?from=2026-01-01&amp;to=2026-12-31" in html  # this year


def test_dashboard_bad_range_shows_message(admin: TestClient) -> None:
    r = admin.get("/dashboard", params={"from": "2026-03-31", "to": "2026-03-01"})
    assert r.status_code == 200
    assert "Неверный период" in r.text


def test_dashboard_empty_state(operator: TestClient, accounts: Any) -> None:
    csrf = csrf_of(operator.get("/support/companies").text)
    operator.post(
        "/support/companies", data={"csrf": csrf, "id": "empty", "name": "Пустая", "timezone": "Europe/Moscow"}
    )
    html = operator.get("/dashboard", params={**MARCH, "company": "empty"}).text
    assert 'id="empty-state"' in html and "За выбранный период активности не было" in html
    assert 'data-metric="total.connections"' not in html  # no zero cards
    assert "Нет записей." in html


def test_events_table_sorts_by_any_header(admin: TestClient) -> None:
    html = admin.get("/dashboard", params={**MARCH, "ev_sort": "title", "ev_order": "asc"}).text
    section = html[html.index('id="events"') : html.index('id="planned"')]
    titles = re.findall(r"<tr><td class=\"\">([^<]+)</td>", section)
    assert titles == ["Вебинар о продукте", "Квартальный обзор", "Планёрка"]
    assert 'aria-sort="ascending"' in section
    # The active header flips the order; every header is a link keeping the range.
    link = _group(re.search(r'<a href="([^"]+)" data-col="title">', section))
    assert "ev_order=desc" in link and "from=2026-03-01" in link
    for col in ("template", "organizer_name", "created_at", "first_join", "duration_s", "participants", "peak"):
        assert f'data-col="{col}"' in section, col
    html = admin.get("/dashboard", params={**MARCH, "ev_sort": "title", "ev_order": "desc"}).text
    section = html[html.index('id="events"') : html.index('id="planned"')]
    assert re.findall(r"<tr><td class=\"\">([^<]+)</td>", section)[0] == "Планёрка"


def test_events_table_search_and_bad_sort(admin: TestClient) -> None:
    html = admin.get("/dashboard", params={**MARCH, "ev_q": "планёр"}).text
    section = html[html.index('id="events"') : html.index('id="planned"')]
    assert "Планёрка" in section and "Вебинар о продукте" not in section
    r = admin.get("/dashboard", params={**MARCH, "ev_sort": "nope"})
    assert r.status_code == 400 and "ev_sort" in r.text


def test_planned_and_disk_tables(admin: TestClient) -> None:
    html = admin.get("/dashboard", params=MARCH).text
    planned = html[html.index('id="planned"') : html.index('id="disk"')]
    assert "Иван Петров" in planned and "Квартальный обзор" in planned
    assert "01.04.2026 10:00" in planned
    disk = html[html.index('id="disk"') :]
    assert disk.index("Иван Петров") < disk.index("Мария Смирнова")  # largest first
    assert "300,0\u00a0КБ" in disk and "200,0\u00a0КБ" in disk


def test_language_switch_sticks(admin: TestClient) -> None:
    r = admin.get("/dashboard", params={**MARCH, "lang": "en"})
    assert '<html lang="en">' in r.text
    assert "Concurrent connections" in r.text and "Show statistics" in r.text
    assert "TOTAL (all events and calls)" in r.text
    assert "reached 2026-03-05 10:10" in r.text
    assert "lang=en" in r.text  # export links follow the language
    r = admin.get("/dashboard", params=MARCH)
    assert '<html lang="en">' in r.text
    r = admin.get("/dashboard", params={**MARCH, "lang": "ru"})
    assert "Одновременных подключений" in r.text


def test_operator_switches_companies(operator: TestClient) -> None:
    html = operator.get("/dashboard", params={**MARCH, "company": "globex"}).text
    assert "Globex" in html and 'name="company" value="globex"' in html
    assert 'action="/switch"' in html  # the switcher searches on the server
    switch = operator.get("/switch", params={**MARCH, "company": "globex"}).text
    assert 'href="/dashboard?company=acme&amp;from=2026-03-01&amp;to=2026-03-31"' in switch
    assert "company=globex" in html.split('id="download-csv"')[0].rsplit("href=", 1)[1]


def test_support_pages_flow(operator: TestClient, accounts: Any, app: Any) -> None:
    page = operator.get("/support/companies")
    assert page.status_code == 200 and "ООО Акме" in page.text and "Globex" in page.text
    csrf = csrf_of(page.text)
    r = operator.post(
        "/support/companies",
        data={
            "csrf": csrf,
            "id": "initech",
            "name": "Initech",
            "timezone": "Asia/Novosibirsk",
            "limit_concurrent_speakers": "25",
            "limit_storage_bytes": "1000000000",
        },
        follow_redirects=True,
    )
    assert r.status_code == 200 and "Компания «Initech» создана." in r.text
    assert r.url.path == "/support/companies/initech"
    info = app.state.services.meta.company("initech")
    assert info.limits["storage_bytes"] == 1_000_000_000
    r = operator.post(
        "/support/companies/initech",
        data={"csrf": csrf, "name": "Initech", "timezone": "Новосибирск (UTC+7)", "limit_storage_bytes": "1,5 ТБ"},
        follow_redirects=True,
    )
    assert "Сохранено." in r.text and 'value="1500 GB"' in r.text
    info = app.state.services.meta.company("initech")
    assert info.timezone == "Asia/Novosibirsk"
    assert info.limits == {
        "concurrent_speakers": None,
        "concurrent_events": None,
        "concurrent_connections": None,
        "storage_bytes": 1_500_000_000_000,
    }
    r = operator.post("/support/companies", data={"csrf": csrf, "id": "bad", "name": "Bad", "timezone": "Mars/Olympus"})
    assert r.status_code == 400 and "Неизвестный часовой пояс «Mars/Olympus»" in r.text
    r = operator.post(
        "/support/companies", data={"csrf": csrf, "id": "bad2", "name": "Bad", "limit_concurrent_events": "-3"}
    )
    assert r.status_code == 400 and "не может быть отрицательным" in r.text
    r = operator.post(
        "/support/accounts",
        data={"csrf": csrf, "email": "boss@initech.ru", "role": "admin", "company": "initech"},
        follow_redirects=True,
    )
    assert r.status_code == 200 and r.history[0].status_code == 303
    one_time = _group(re.search(r'<code class="secret" id="secret">([^<]+)</code>', r.text))
    assert "больше это значение показано не будет" in r.text
    assert one_time not in operator.get(str(r.url)).text  # shown once, a reload does not repeat it
    boss = TestClient(app)
    assert login(boss, "boss@initech.ru", one_time).headers["location"] == "/password"
    r = operator.post(
        "/support/tokens",
        data={"csrf": csrf, "scope": "ingest", "company": "initech", "label": "platform"},
        follow_redirects=True,
    )
    plain = _group(re.search(r'<code class="secret" id="secret">([^<]+)</code>', r.text))
    assert plain.startswith("vks_") and accounts.verify_token(plain).company_id == "initech"
    assert plain not in operator.get(str(r.url)).text
    assert operator.get("/support/audit").status_code == 200


def test_operator_cannot_disable_themselves(operator: TestClient, accounts: Any) -> None:
    me = accounts.account_by_email("op@vkurse.ru")
    csrf = csrf_of(operator.get("/support/accounts").text)
    r = operator.post(f"/support/accounts/{me.id}/disable", data={"csrf": csrf})
    assert r.status_code == 400
    assert not accounts.account(me.id).disabled


def test_404_page(admin: TestClient) -> None:
    r = admin.get("/no/such/page")
    assert r.status_code == 404
    assert "Страница не найдена" in r.text and "<html" in r.text
    assert admin.get("/support/companies/nope").status_code == 403


def test_errors_never_show_a_stack_trace(app: Any, seeded: Any, monkeypatch: Any) -> None:
    def boom(*_a: Any, **_k: Any) -> Any:
        raise RuntimeError("secret internals /path/to/file.py")

    c = TestClient(app, raise_server_exceptions=False)
    assert login(c, "admin@acme.ru").status_code == 303
    monkeypatch.setattr(seeded.query, "summary", boom)
    monkeypatch.setattr(seeded.query, "report", boom)
    r = c.get("/api/v1/summary", params=MARCH)
    assert r.status_code == 500 and r.json() == {"error": "internal error", "code": "internal"}
    r = c.get("/dashboard", params=MARCH)
    assert r.status_code == 500
    assert "Traceback" not in r.text and "secret internals" not in r.text
    assert "Внутренняя ошибка" in r.text


def test_peak_moments_in_the_company_timezone(operator: TestClient) -> None:
    """globex lives in Yekaterinburg (+05:00): its 10:00 Moscow peak is 12:00 on its clocks."""
    html = operator.get("/dashboard", params={**MARCH, "company": "globex"}).text
    assert "Екатеринбург (UTC+5)" in html
    assert "достигнуто 05.03.2026 12:00" in html


def test_session_expires(admin: TestClient, clock: Any) -> None:
    from vkurse_stats.store.accounts import SESSION_SECONDS

    assert admin.get("/dashboard", follow_redirects=False).status_code == 200
    clock.now += SESSION_SECONDS + 1
    r = admin.get("/dashboard", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
