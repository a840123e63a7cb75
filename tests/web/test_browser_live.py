"""The live view in a real headless Chromium against a real uvicorn server running the writer:
the page shows what is active now and updates by itself after an ingest (server-sent events),
and falls back to polling when the stream is not there."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.web.conftest import PASSWORD
from tests.web.test_live import LIVE_EVENT, Stack, conn, stack  # noqa: F401 - fixtures

CHROMIUM = Path("/usr/bin/chromium")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="no Chromium at /usr/bin/chromium (apt-get install chromium)"),
]


@pytest.fixture
def page() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    browser = pw.chromium.launch(
        executable_path=str(CHROMIUM),
        args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
    )
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="ru-RU")
    p = context.new_page()
    problems: list[str] = []
    p.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    p.on("console", lambda msg: problems.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None)
    p.problems = problems
    yield p
    context.close()
    browser.close()
    pw.stop()


def _open_now(page: Any, base: str) -> None:
    page.goto(base + "/login")
    page.fill("input[name=email]", "admin@acme.ru")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/dashboard**")
    page.click("#nav-now")
    page.wait_for_url("**/now")


def _value(page: Any, metric: str) -> str:
    return str(page.locator(f'[data-metric="{metric}"] .card-value').inner_text()).strip()


def test_the_live_page_updates_after_an_ingest(page: Any, stack: Stack) -> None:  # noqa: F811 - the fixture
    _open_now(page, stack.base)
    page.wait_for_selector('#now-mode[data-mode="live"]', timeout=5000)
    assert _value(page, "total.connections") == "0"
    assert page.locator("#now-empty").is_visible()
    stack.ingest(
        LIVE_EVENT, conn("b1", "11:50", None), conn("b2", "11:55", None), conn("b3", "11:56", None, transport="webrtmp")
    )
    # Within about 2 s of the ingest (the page's CSP forbids evaluated strings: a locator waits).
    expect(page.locator('[data-metric="total.connections"] .card-value')).to_have_text("3", timeout=2500)
    assert _value(page, "total.speakers") == "2"
    assert "из лимита 4" in page.locator('[data-metric="total.connections"] .card-limit').inner_text()
    row = page.locator('#now-active tbody tr[data-id="event:live1"]')
    assert row.locator("td").all_inner_texts() == ["Созвон отдела", "meeting", "Иван Петров", "3", "2", "0"]
    assert not page.locator("#now-empty").is_visible()
    assert page.problems == []


def test_without_the_stream_the_page_polls(page: Any, stack: Stack) -> None:  # noqa: F811 - the fixture
    page.route("**/api/v1/now/stream*", lambda route: route.abort())
    _open_now(page, stack.base)
    page.wait_for_selector('#now-mode[data-mode="polling"]', timeout=10000)
    stack.ingest(LIVE_EVENT, conn("p1", "11:50", None))
    expect(page.locator('[data-metric="total.connections"] .card-value')).to_have_text("1", timeout=5000)
    assert [p for p in page.problems if "now/stream" not in p and "ERR_FAILED" not in p] == []
