"""End-to-end in a real headless Chromium (Playwright driving Debian's /usr/bin/chromium) against
a real uvicorn server: sign in, pick a range, read the figures, sort, switch language, download
both exports, sign out; support creates a company and an account that then signs in.

The dashboard screenshots in docs/screenshots/ are written by these tests.
"""

from __future__ import annotations

import csv
import io
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from tests.web.conftest import PASSWORD

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="no Chromium at /usr/bin/chromium (apt-get install chromium)"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(app: Any) -> Iterator[str]:
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", ws="none", lifespan="off")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not srv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)


@pytest.fixture
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    b = pw.chromium.launch(
        executable_path=str(CHROMIUM),
        args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
    )
    yield b
    b.close()
    pw.stop()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(accept_downloads=True, viewport={"width": 1440, "height": 900}, locale="ru-RU")
    p = context.new_page()
    problems: list[str] = []
    p.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    p.on("console", lambda msg: problems.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None)
    p.problems = problems
    yield p
    context.close()


def _sign_in(page: Any, base: str, email: str, password: str = PASSWORD) -> None:
    page.goto(base + "/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


def _card_value(page: Any, metric: str) -> str:
    return page.locator(f'[data-metric="{metric}"] .card-value').inner_text().strip()


def test_admin_journey(page: Any, server: str) -> None:
    _sign_in(page, server, "admin@acme.ru")
    page.wait_for_url(re.compile(r"/dashboard"))

    page.fill("input[name=from]", "2026-03-01")
    page.fill("input[name=to]", "2026-03-31")
    page.click("#show")
    page.wait_for_url(re.compile(r"from=2026-03-01&to=2026-03-31"))
    assert _card_value(page, "total.connections") == "5"
    assert _card_value(page, "total.speakers") == "5"
    assert _card_value(page, "webinars.participants") == "2"
    assert "level-over" in page.get_attribute('[data-metric="total.connections"]', "class")
    assert "достигнуто 05.03.2026 10:10" in page.inner_text('[data-metric="total.connections"]')
    side = page.inner_text('[data-section="storage"]')
    assert "400,0\u00a0КБ" in side and "500,0\u00a0КБ" in side

    # Charts drew (ECharts renders to SVG) and the CSP let every script run.
    page.wait_for_selector("html[data-charts-ready]")
    assert page.locator("#chart-total svg").count() >= 1
    assert page.locator("#chart-devices svg").count() >= 1
    page.hover("#chart-total", position={"x": 300, "y": 200})
    page.wait_for_selector("#chart-total div:has-text('.03.2026')")  # the day's tooltip

    # Sort the events table by clicking a header: in place, and the sort lands in the URL.
    page.evaluate("window.notReloaded = true")
    page.click('#events th a[data-col="title"]')
    page.wait_for_url(re.compile(r"ev_sort=title&ev_order=asc"))
    page.wait_for_selector('#events[data-updates="1"]')
    first_asc = page.locator("#events tbody tr").first.locator("td").first.inner_text()
    page.click('#events th a[data-col="title"]')
    page.wait_for_url(re.compile(r"ev_order=desc"))
    page.wait_for_selector('#events[data-updates="2"]')
    first = page.locator("#events tbody tr").first.locator("td").first.inner_text()
    assert (first_asc, first) == ("Вебинар о продукте", "Планёрка")  # А→Я first
    assert page.evaluate("window.notReloaded") is True

    # English, and it sticks.
    page.click('a.lang-link[data-lang="en"]')
    page.wait_for_url(re.compile(r"lang=en"))
    assert "Concurrent connections" in page.inner_text('[data-metric="total.connections"]')
    assert page.locator("#show").inner_text().strip() == "Show statistics"
    page.wait_for_selector("html[data-charts-ready]")

    # Both downloads.
    with page.expect_download() as dl:
        page.click("#download-csv")
    download = dl.value
    assert download.suggested_filename == "vkurse-stats_acme_2026-03-01_2026-03-31.csv"
    rows = list(csv.reader(io.StringIO(Path(download.path()).read_text("utf-8-sig")), delimiter=";"))
    assert len(rows) == 32 and rows[5][0] == "2026-03-05"
    with page.expect_download() as dl:
        page.click("#download-xlsx")
    download = dl.value
    assert download.suggested_filename == "vkurse-stats_acme_2026-03-01_2026-03-31.xlsx"
    assert Path(download.path()).read_bytes()[:2] == b"PK"

    page.click("#logout")
    page.wait_for_url(re.compile(r"/login"))
    page.goto(server + "/dashboard")
    assert "/login" in page.url
    assert page.problems == []


def test_operator_creates_company_and_account(browser: Any, page: Any, server: str) -> None:
    _sign_in(page, server, "op@vkurse.ru")
    page.wait_for_url(re.compile(r"/dashboard"))
    page.goto(server + "/support/companies")
    page.fill("#company-form input[name=id]", "initech")
    page.fill("#company-form input[name=name]", "Инитех")
    page.fill("#company-form input[name=timezone]", "Asia/Novosibirsk")
    page.fill("#company-form input[name=limit_concurrent_speakers]", "50")
    page.click("#company-form button[type=submit]")
    page.wait_for_url(re.compile(r"/support/companies/initech"))

    page.goto(server + "/support/accounts")
    page.fill("#account-form input[name=email]", "boss@initech.ru")
    page.fill("#account-form input[name=company]", "initech")
    page.click("#account-form button[type=submit]")
    page.wait_for_url(re.compile(r"/support/accounts\?done="))
    one_time = page.inner_text("#secret").strip()
    assert len(one_time) >= 12

    other = browser.new_context()
    p2 = other.new_page()
    _sign_in(p2, server, "boss@initech.ru", one_time)
    p2.wait_for_url(re.compile(r"/password"))
    p2.fill("input[name=current]", one_time)
    p2.fill("input[name=new]", "boss-own-password")
    p2.fill("input[name=repeat]", "boss-own-password")
    p2.click("form[action='/password'] button[type=submit]")
    p2.wait_for_url(re.compile(r"/dashboard"))
    assert "Инитех" in p2.inner_text("h1")
    assert p2.locator("#empty-state").count() == 1
    assert p2.locator("[data-metric]").count() == 0  # no activity yet: no zero cards
    other.close()
    assert page.problems == []


def test_api_docs_render_under_the_csp(page: Any, server: str) -> None:
    page.goto(server + "/api/docs")
    page.wait_for_selector(".swagger-ui .info .title", timeout=15000)
    assert "vkurse-stats" in page.inner_text(".swagger-ui .info .title")
    assert page.locator(".opblock-summary-path", has_text="/api/v1/summary").count() == 1
    assert page.problems == []


def test_demo_dashboard_matches_api_and_screenshots(make_services: Any, browser: Any) -> None:
    """The demo company (as `vkurse-stats demo` makes it, shortened): every card on the page
    shows what /api/v1/summary says; the README screenshots are taken from it."""
    from datetime import date

    from vkurse_stats.demo import DemoOptions, create_demo
    from vkurse_stats.store.accounts import DEMO_PASSWORD
    from vkurse_stats.web import create_app

    svc = make_services(now="2026-03-20T12:00:00+03:00")
    list(create_demo(svc, DemoOptions(seed=1, days=50, employees=500, until=date(2026, 3, 19))))
    port = _free_port()
    srv = uvicorn.Server(
        uvicorn.Config(create_app(svc), host="127.0.0.1", port=port, log_level="warning", ws="none", lifespan="off")
    )
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    while not srv.started:
        time.sleep(0.02)
    base = f"http://127.0.0.1:{port}"
    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="ru-RU")
    try:
        page = context.new_page()
        _sign_in(page, base, "admin@demo.vkurse.ru", DEMO_PASSWORD)
        page.wait_for_url(re.compile(r"/dashboard"))
        page.click('a[data-preset="last_month"]')
        page.wait_for_url(re.compile(r"from=2026-02-01&to=2026-02-28"))
        page.wait_for_selector("html[data-charts-ready]")
        summary = page.request.get(base + "/api/v1/summary?from=2026-02-01&to=2026-02-28").json()
        for metric, value in summary["metrics"].items():
            cards = page.locator(f'[data-metric="{metric}"] .card-value')
            if cards.count():
                assert cards.get_attribute("data-value") == str(value["value"]), metric
        assert summary["metrics"]["total.connections"]["value"] > 0
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        clip = {"x": 0, "y": 0, "width": 1440, "height": 2150}
        page.hover("#chart-total", position={"x": 700, "y": 220})
        page.screenshot(path=str(SCREENSHOTS / "dashboard-ru.png"), clip=clip, full_page=True)
        page.click('a.lang-link[data-lang="en"]')
        page.wait_for_url(re.compile(r"lang=en"))
        page.wait_for_selector("html[data-charts-ready]")
        page.hover("#chart-total", position={"x": 700, "y": 220})
        page.screenshot(path=str(SCREENSHOTS / "dashboard-en.png"), clip=clip, full_page=True)
    finally:
        context.close()
        srv.should_exit = True
        thread.join(10)
