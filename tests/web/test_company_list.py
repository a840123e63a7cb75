"""Many companies on the support pages: the metadata store pages and searches them (SQLite and
PostgreSQL), the support list and the company switcher show one page at a time, bookmarkable,
with the open company in view and the dashboard range kept when switching."""

from __future__ import annotations

import re
from typing import Any

from tests.web.conftest import TestClient
from vkurse_stats.service import Services

MARCH = {"from": "2026-03-01", "to": "2026-03-31"}


def _fill(meta: Any, n: int = 120) -> None:
    """``n`` companies t000… beside acme and globex, plus names that test the search rules."""
    for i in range(n):
        meta.put_company(f"t{i:03d}", f"Компания №{i}", "Asia/Vladivostok" if i % 2 else None)
    meta.put_company("elka", "ООО «Ёлка»")
    meta.put_company("pct", "Скидка 100% и знак_подчёркивания")
    meta.put_company("x_y", "Совсем другая")


def _ids(html: str) -> list[str]:
    return re.findall(r'<tr data-company="([^"]+)"', html)


def test_companies_page_searches_and_pages_in_the_store(seeded: Services) -> None:
    meta = seeded.meta
    _fill(meta)
    rows, total = meta.companies_page("", 50, 0)
    assert total == 125 and len(rows) == 50
    assert [c.id for c in rows[:3]] == ["acme", "elka", "globex"]
    rows, total = meta.companies_page("", 50, 100)
    assert total == 125 and [c.id for c in rows][-1] == "x_y" and len(rows) == 25
    # Case-insensitive in Cyrillic and Latin, ё = е, by id or by name.
    assert [c.id for c in meta.companies_page("ЕЛКА")[0]] == ["elka"]
    assert [c.id for c in meta.companies_page("ёлк")[0]] == ["elka"]
    assert [c.id for c in meta.companies_page("ACME")[0]] == ["acme"]
    assert [c.id for c in meta.companies_page("  ооо акме ")[0]] == ["acme"]
    # % and _ are text, not wildcards.
    assert [c.id for c in meta.companies_page("%")[0]] == ["pct"]
    assert [c.id for c in meta.companies_page("_")[0]] == ["pct", "x_y"]
    assert meta.companies_page("0%")[1] == 1 and meta.companies_page("t_0")[1] == 0
    # An exact id comes first, then the rest by id.
    assert [c.id for c in meta.companies_page("t01", 3, 0)[0]] == ["t010", "t011", "t012"]
    rows, total = meta.companies_page("t011")
    assert total == 1 and rows[0].id == "t011"
    rows, total = meta.companies_page("№1", 5, 0)
    assert total == 31 and [c.id for c in rows] == ["t001", "t010", "t011", "t012", "t013"]
    rows, total = meta.companies_page("№11")
    assert [c.id for c in rows] == [
        "t011",
        "t110",
        "t111",
        "t112",
        "t113",
        "t114",
        "t115",
        "t116",
        "t117",
        "t118",
        "t119",
    ]
    assert meta.company_position("acme") == 0 and meta.company_position("t077") == 81
    assert meta.company_position("nope") is None
    assert meta.first_company() is not None and meta.first_company().id == "acme"  # type: ignore[union-attr]
    assert len(meta.companies()) == 125  # the CLI's full list stays


def test_support_list_pages_and_searches(operator: TestClient, seeded: Services) -> None:
    _fill(seeded.meta)
    html = operator.get("/support/companies").text
    assert "Всего компаний: 125" in html
    assert _ids(html)[:3] == ["acme", "elka", "globex"] and len(_ids(html)) == 50
    assert "Показаны 1–50 из 125" in html
    assert 'href="/support/companies?page=2"' in html and 'rel="prev"' not in html
    html = operator.get("/support/companies", params={"page": "3"}).text
    assert len(_ids(html)) == 25 and 'href="/support/companies?page=2"' in html
    assert 'rel="next"' not in html
    # The search is one GET form: the URL is the bookmark.
    html = operator.get("/support/companies", params={"q": "ёлка"}).text
    assert _ids(html) == ["elka"] and "Найдено компаний: 1" in html
    assert 'name="q" value="ёлка"' in html
    html = operator.get("/support/companies", params={"q": "компания", "page": "3"}).text
    assert _ids(html)[0] == "t100" and "Показаны 101–120 из 120" in html
    assert re.search(r'rel="prev" href="/support/companies\?q=[^"&]+&amp;page=2"', html)
    html = operator.get("/support/companies", params={"q": "нет такой"}).text
    assert _ids(html) == [] and "Ни одна компания не подходит." in html
    assert "Компаний пока нет" not in html
    html = operator.get("/support/companies", params={"q": "%", "lang": "en"}).text
    assert _ids(html) == ["pct"] and "Companies found: 1" in html
    assert operator.get("/support/companies", params={"page": "0"}).status_code == 400
    assert operator.get("/support/companies", params={"page": "x"}).status_code == 400


def test_support_list_is_for_support_only(admin: TestClient) -> None:
    assert admin.get("/support/companies", params={"q": "globex"}).status_code == 403
    assert admin.get("/switch", params={"q": "globex"}).status_code == 403


def test_switcher_searches_on_the_server(operator: TestClient, seeded: Services) -> None:
    _fill(seeded.meta)
    dash = operator.get("/dashboard", params={**MARCH, "company": "globex"}).text
    form = dash[dash.index('<form class="switcher"') :]
    form = form[: form.index("</form>")]
    assert 'action="/switch"' in form and 'name="q"' in form
    assert 'name="company" value="globex"' in form
    assert 'name="from" value="2026-03-01"' in form and 'name="to" value="2026-03-31"' in form
    assert "<option" not in dash  # no page lists every company
    # The switcher page: the open company preselected, its range in every link.
    html = operator.get("/switch", params={**MARCH, "company": "globex"}).text
    assert "Выбор компании" in html and "01.03.2026 — 31.03.2026" in html
    assert re.search(r'<tr data-company="globex" class="current" aria-current="true">', html)
    assert 'href="/dashboard?company=acme&amp;from=2026-03-01&amp;to=2026-03-31"' in html
    html = operator.get("/switch", params={**MARCH, "company": "globex", "q": "компания №7"}).text
    assert _ids(html)[:3] == ["t007", "t070", "t071"] and "Найдено компаний: 11" in html
    assert 'href="/dashboard?company=t070&amp;from=2026-03-01&amp;to=2026-03-31"' in html
    # The search form sends the open company and the range again.
    assert 'type="hidden" name="company" value="globex"' in html
    assert 'type="hidden" name="from" value="2026-03-01"' in html
    # Following a link opens that company on the same range.
    r = operator.get("/dashboard?company=t070&from=2026-03-01&to=2026-03-31")
    assert r.status_code == 200 and "Компания №70" in r.text and 'value="2026-03-31"' in r.text


def test_switcher_opens_at_the_page_of_the_open_company(operator: TestClient, seeded: Services) -> None:
    _fill(seeded.meta)
    html = operator.get("/switch", params={"company": "t077"}).text  # 82nd by id: page 2
    assert "Показаны 51–100 из 125" in html and "t077" in _ids(html)
    assert 'class="current"' in html
    # The pager names its pages, so page 1 stays page 1 and does not jump back.
    assert 'href="/switch?company=t077&amp;page=1"' in html
    html = operator.get("/switch", params={"company": "t077", "page": "1"}).text
    assert _ids(html)[0] == "acme" and 'class="current"' not in html
    # Without a company (or an unknown one), or with a bad range, the list still opens.
    assert _ids(operator.get("/switch").text)[0] == "acme"
    html = operator.get("/switch", params={"company": "nope", "from": "2026-13-01", "to": "2026-03-31"}).text
    assert _ids(html)[0] == "acme" and 'id="switch-range"' not in html
    assert 'href="/dashboard?company=acme"' in html
    html = operator.get("/switch", params={"lang": "en", "company": "acme"}).text
    assert "Choose a company" in html and "Open now" in html


def test_operator_dashboard_defaults_to_the_first_company(operator: TestClient, seeded: Services) -> None:
    _fill(seeded.meta)
    html = operator.get("/dashboard", params=MARCH).text
    assert re.search(r"<h1[^>]*>ООО Акме</h1>", html)
