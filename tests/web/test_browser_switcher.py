"""Support switches companies in a real Chromium: search from the top bar, open a result, and
the dashboard opens that company on the range that was on screen."""

from __future__ import annotations

import re
from typing import Any

from tests.web.test_browser import _sign_in, browser, page, pytestmark, server  # noqa: F401
from vkurse_stats.service import Services


def test_operator_switches_by_search(page: Any, server: str, seeded: Services) -> None:  # noqa: F811
    for i in range(120):
        seeded.meta.put_company(f"t{i:03d}", f"Компания №{i}")
    seeded.meta.put_company("elka", "ООО «Ёлка»")
    _sign_in(page, server, "op@vkurse.ru")
    page.wait_for_url(re.compile(r"/dashboard"))
    page.goto(server + "/dashboard?company=globex&from=2026-03-01&to=2026-03-31")
    page.fill("#company-switch", "ЕЛКА")
    page.press("#company-switch", "Enter")
    page.wait_for_url(re.compile(r"/switch\?"))
    assert page.locator("#companies tbody tr").count() == 1
    page.click("#companies a:has-text('Ёлка')")
    page.wait_for_url(re.compile(r"/dashboard\?company=elka&from=2026-03-01&to=2026-03-31"))
    assert page.locator("h1").inner_text() == "ООО «Ёлка»"
    assert page.input_value("input[name=from]") == "2026-03-01"
    # An empty search lists every company, a page at a time, from the open one.
    page.click("#switcher button[type=submit]")
    page.wait_for_url(re.compile(r"/switch\?"))
    assert page.locator("#companies tbody tr").count() == 50
    assert page.locator("tr.current").get_attribute("data-company") == "elka"
    page.click("a[rel=next]")
    page.wait_for_url(re.compile(r"page=2"))
    assert page.locator("#companies tbody tr").first.get_attribute("data-company") == "t047"
    assert page.problems == []
