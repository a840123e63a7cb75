"""The dashboard of the demo company in a real headless Chromium, as a Russian administrator
uses it: tables updated in place through the API, the date range inputs, limits on every chart,
numbers and dates in Russian, the devices' "others", weekly charts of long ranges, the phone
layout, empty ranges, keyboard, print, and axe-core's accessibility rules.

One demo company (130 days, 300 employees) is built once for the module and served by uvicorn.
"""

from __future__ import annotations

import csv
import io
import json
import re
import threading
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from tests.web.test_browser import CHROMIUM, SCREENSHOTS, _free_port
from vkurse_stats.config import Settings
from vkurse_stats.demo import DemoOptions, create_demo
from vkurse_stats.service import open_services
from vkurse_stats.store.accounts import DEMO_PASSWORD
from vkurse_stats.web import create_app

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="no Chromium at /usr/bin/chromium (apt-get install chromium)"),
]
AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
NOW = "2026-03-20T12:00:00+03:00"
MONTH = "from=2026-02-01&to=2026-02-28"
LONG = "from=2025-11-10&to=2026-03-19"  # 130 days: charted by week
NBSP = "\u00a0"


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    svc = open_services(Settings(data_dir=tmp_path_factory.mktemp("demo") / "data", fixed_now=NOW))
    list(create_demo(svc, DemoOptions(seed=1, days=130, employees=300, until=date(2026, 3, 19))))
    port = _free_port()
    srv = uvicorn.Server(
        uvicorn.Config(create_app(svc), host="127.0.0.1", port=port, log_level="warning", ws="none", lifespan="off")
    )
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not srv.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)
    svc.close()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    b = pw.chromium.launch(
        executable_path=str(CHROMIUM),
        args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
    )
    yield b
    b.close()
    pw.stop()


@pytest.fixture(scope="module")
def signed_in(chromium: Any, base: str) -> dict[str, Any]:
    """The cookies of a signed-in demo administrator (signing in costs a password hash)."""
    context = chromium.new_context()
    page = context.new_page()
    page.goto(base + "/login")
    page.fill("input[name=email]", "admin@demo.vkurse.ru")
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/dashboard"))
    state: dict[str, Any] = context.storage_state()
    context.close()
    return state


def _open(
    chromium: Any, signed_in: dict[str, Any] | None, *, width: int = 1440, height: int = 900, **kw: Any
) -> tuple[Any, Any]:
    context = chromium.new_context(
        viewport={"width": width, "height": height},
        locale="ru-RU",
        storage_state=signed_in,
        accept_downloads=True,
        **kw,
    )
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on("console", lambda msg: problems.append(f"console: {msg.text}") if msg.type == "error" else None)
    page.problems = problems
    return context, page


@pytest.fixture
def page(chromium: Any, signed_in: dict[str, Any]) -> Iterator[Any]:
    context, p = _open(chromium, signed_in)
    yield p
    assert p.problems == []
    context.close()


def _rows(page: Any, table: str) -> list[list[str]]:
    return page.eval_on_selector_all(
        f"#{table} tbody tr", "rows => rows.map(r => Array.from(r.cells).map(c => c.textContent))"
    )


def _chart_data(page: Any) -> dict[str, Any]:
    return json.loads(page.inner_text("#chart-data"))


def _option(page: Any, chart: str) -> dict[str, Any]:
    """The ECharts option of a chart, without its functions."""
    return json.loads(
        page.evaluate(
            "id => JSON.stringify(echarts.getInstanceByDom(document.getElementById(id)).getOption())", f"chart-{chart}"
        )
    )


# --- tables ---------------------------------------------------------------------------------
def test_tables_sort_search_and_page_in_place_with_a_bookmarkable_url(page: Any, base: str) -> None:
    page.goto(f"{base}/dashboard?{LONG}")
    page.wait_for_selector("html[data-charts-ready]")
    page.evaluate("window.notReloaded = true")
    shown = page.inner_text("#events .pager .shown")
    total = int(shown.rsplit("из", 1)[1].replace(NBSP, "").strip())
    assert total > 1000 and re.search(rf"из \d{NBSP}\d{{3}}$", shown), shown  # "из 1 324"

    # A text column sorts А→Я first; the rows are the ones the server renders for the URL.
    page.click('#events th a[data-col="title"]')
    page.wait_for_selector('#events[data-updates="1"]')
    assert "ev_sort=title&ev_order=asc" in page.url
    in_place = _rows(page, "events")
    titles = [r[0] for r in in_place]
    assert titles == sorted(titles)
    page.click('#events .pager a[data-step="1"]')
    page.wait_for_selector('#events[data-updates="2"]')
    assert "ev_page=2" in page.url and page.inner_text("#events .pager .shown").startswith("Показаны 21–40 из")
    second = _rows(page, "events")
    # A figure column starts largest first.
    page.click('#disk th a[data-col="files"]')
    page.wait_for_selector('#disk[data-updates="1"]')
    assert "dk_sort=files&dk_order=desc" in page.url
    assert page.evaluate("window.notReloaded") is True
    page.reload()  # the bookmark: the server renders the same rows
    assert _rows(page, "events") == second
    assert page.inner_text("#events th.sorted").startswith("Название")

    # Search, in place: literal text, ё and е alike.
    page.evaluate("window.notReloaded = true")
    page.fill("#events input[type=search]", "%")
    page.press("#events input[type=search]", "Enter")
    page.wait_for_selector('#events[data-updates="1"]')
    assert _rows(page, "events") == [] and page.is_visible("#events .empty")
    assert page.is_hidden("#events .pager")
    word = in_place[0][0].split()[0].lower()
    page.fill("#events input[type=search]", word.replace("е", "ё"))
    page.press("#events input[type=search]", "Enter")
    page.wait_for_selector('#events[data-updates="2"]')
    found = _rows(page, "events")
    assert found and all(word.replace("ё", "е") in " ".join(r).lower().replace("ё", "е") for r in found)
    assert "ev_q=" in page.url and page.evaluate("window.notReloaded") is True


def test_a_page_past_the_end_shows_the_last_page(page: Any, base: str) -> None:
    page.goto(f"{base}/dashboard?{MONTH}&ev_page=9999#events")
    shown = page.inner_text("#events .pager .shown").replace(NBSP, "")
    first, last, total = map(int, re.findall(r"\d+", shown))
    assert last == total and first == (total - 1) // 20 * 20 + 1 and _rows(page, "events")


def test_rows_read_the_same_in_place_and_from_the_server(page: Any, base: str) -> None:
    """dashboard.js formats API rows (dates, durations, sizes, names) as the server does."""
    for table, col in (("events", "duration_s"), ("disk", "owner_name"), ("planned", "next_start")):
        page.goto(f"{base}/dashboard?{MONTH}")
        page.click(f'#{table} th a[data-col="{col}"]')
        page.wait_for_selector(f'#{table}[data-updates="1"]')
        in_place = _rows(page, table)
        page.reload()
        assert _rows(page, table) == in_place, table
        assert in_place, table


# --- range ----------------------------------------------------------------------------------
def test_a_reversed_range_keeps_what_was_typed_and_says_why(page: Any, base: str) -> None:
    page.goto(f"{base}/dashboard?from=2026-03-10&to=2026-03-01")
    assert page.input_value("#range-from") == "2026-03-10"
    assert page.input_value("#range-to") == "2026-03-01"
    assert "Начало периода (2026-03-10) позже его конца (2026-03-01)" in page.inner_text("#range-error")
    assert page.get_attribute("#range-from", "aria-invalid") == "true"


def test_the_date_inputs_limit_each_other(page: Any, base: str) -> None:
    page.goto(f"{base}/dashboard?{MONTH}")
    assert page.get_attribute("#range-from", "max") == "2026-02-28"
    page.fill("#range-to", "2026-02-10")
    page.dispatch_event("#range-to", "change")
    assert page.get_attribute("#range-from", "max") == "2026-02-10"
    page.fill("#range-from", "2026-02-20")
    assert page.evaluate("document.getElementById('range-from').validity.rangeOverflow")
    page.click("#show")  # the browser refuses it before the server sees it
    assert MONTH in page.url


# --- charts ---------------------------------------------------------------------------------
def test_every_limit_is_drawn_against_its_series_and_every_limited_peak_marked(page: Any, base: str) -> None:
    page.goto(f"{base}/dashboard?{MONTH}")
    page.wait_for_selector("html[data-charts-ready]")
    data = _chart_data(page)
    summary = page.request.get(f"{base}/api/v1/summary?{MONTH}").json()["metrics"]
    for chart in data["charts"]:
        option = _option(page, chart["id"])
        for spec, series in zip(chart["series"], option["series"], strict=True):
            lines = [d["yAxis"] for d in series["markLine"]["data"] if d.get("name") == spec["limit_name"]]
            limit = None if spec["overlay"] else summary[spec["id"]].get("limit")
            assert lines == ([limit] if limit is not None else []), spec["id"]
            peaks = series.get("markPoint", {}).get("data", [])
            if limit is not None:
                assert [p["value"] for p in peaks] == [max(spec["data"])], spec["id"]
    webinars = next(c for c in data["charts"] if c["id"] == "webinars")
    viewers = next(s for s in webinars["series"] if s["id"] == "webinars.participants")
    assert viewers["limit"] is None  # no licence limit on viewers: no line across them
    total = next(c for c in data["charts"] if c["id"] == "total")
    assert {s["id"] for s in total["series"] if s["limit"] is not None} == {
        "total.connections",
        "total.speakers",
        "total.events",
    }


def test_chart_labels_never_overlap_each_other_or_the_bars(page: Any, base: str) -> None:
    page.goto(f"{base}/dashboard?{MONTH}")
    page.wait_for_selector("html[data-charts-ready]")
    for chart in ("total", "meetings", "webinars", "calls"):
        boxes = page.evaluate(
            """id => {
            const root = document.getElementById(id);
            const plot = root.querySelector('svg').getBoundingClientRect();
            return Array.from(root.querySelectorAll('svg text')).map(t => {
                const r = t.getBoundingClientRect();
                return {text: t.textContent, x: r.x, y: r.y, w: r.width, h: r.height};
            });
        }""",
            f"chart-{chart}",
        )
        option = _option(page, chart)
        names = [d["label"]["formatter"] for s in option["series"] for d in s.get("markLine", {}).get("data", [])]
        labels = [b for b in boxes if b["text"] in names]
        assert len(labels) == len(names), (chart, names, [b["text"] for b in boxes])
        for i, a in enumerate(labels):
            for b in labels[i + 1 :]:
                apart = (
                    a["x"] + a["w"] <= b["x"]
                    or b["x"] + b["w"] <= a["x"]
                    or a["y"] + a["h"] <= b["y"] + 0.5
                    or b["y"] + b["h"] <= a["y"] + 0.5
                )
                assert apart, (chart, a, b)
        grid = page.evaluate(
            """id => {
            const c = echarts.getInstanceByDom(document.getElementById(id));
            const r = c.getModel().getComponent('grid').coordinateSystem.getRect();
            const box = document.getElementById(id).getBoundingClientRect();
            return {right: box.x + r.x + r.width};
        }""",
            f"chart-{chart}",
        )
        assert all(b["x"] >= grid["right"] for b in labels), chart  # right of the plot


def test_numbers_and_dates_read_in_russian(page: Any, base: str) -> None:
    page.goto(f"{base}/dashboard?{LONG}")
    page.wait_for_selector("html[data-charts-ready]")
    texts = page.eval_on_selector_all(
        "#chart-total svg text, #chart-devices svg text", "ts => ts.map(t => t.textContent)"
    )
    assert not [t for t in texts if re.search(r"\d,\d{3}", t)], texts  # never "1,500"
    assert [t for t in texts if re.fullmatch(r"\d{2}\.\d{2}\.\d{4}", t)], texts  # year shown
    assert "Москва (UTC+3)" in page.inner_text("#company-tz")
    page.hover("#chart-total", position={"x": 500, "y": 200})
    tip = page.wait_for_selector("#chart-total div:has-text('–')")
    assert re.search(r"\d{2}\.\d{2}\.\d{4} – \d{2}\.\d{2}\.\d{4}", tip.inner_text())


def test_long_ranges_chart_by_week_with_the_exact_peaks(page: Any, base: str) -> None:
    page.goto(f"{base}/dashboard?{LONG}")
    page.wait_for_selector("html[data-charts-ready]")
    data = _chart_data(page)
    assert data["weekly"] and len(data["days"]) == 19 and page.is_visible("#weekly-note")
    summary = page.request.get(f"{base}/api/v1/summary?{LONG}").json()["metrics"]
    for chart in data["charts"]:
        for s in chart["series"]:
            assert max(s["data"]) == summary[s["id"]]["value"], s["id"]


def test_devices_show_the_top_ten_and_the_others_so_totals_add_up(page: Any, base: str) -> None:
    page.goto(f"{base}/dashboard?{LONG}")
    bars = _chart_data(page)["devices"]
    rows = page.request.get(f"{base}/api/v1/devices?{LONG}&limit=1000").json()
    assert rows["total"] > 10 and len(bars) == 11
    assert bars[-1]["name"] == f"Остальные ({rows['total'] - 10})"
    assert sum(b["users"] for b in bars) == sum(r["users"] for r in rows["rows"])
    assert not [b for b in bars if b["name"].split(" · ")[0] in ("web", "desktop", "android")]


def test_client_types_have_names_and_the_api_keeps_ids(page: Any, base: str) -> None:
    page.goto(f"{base}/dashboard?{MONTH}")
    names = _chart_data(page)["clients"]["names"]
    assert "Браузер" in names and "Компьютер (приложение)" in names and "web" not in names
    days = page.request.get(f"{base}/api/v1/daily?{MONTH}").json()["days"]
    assert "web" in {c for d in days for c in d["clients"]}
    with page.expect_download() as dl:
        page.click("#download-csv")
    header = next(csv.reader(io.StringIO(Path(dl.value.path()).read_text("utf-8-sig")), delimiter=";"))
    assert "Клиенты: Браузер" in header and "ВСЕГО: Мероприятий и звонков за день" in header


def test_events_explain_participants_and_peak_connections(page: Any, base: str) -> None:
    page.goto(f"{base}/dashboard?{MONTH}")
    assert "переподключение" in page.inner_text("#events .table-note")
    assert "Разных людей" in page.get_attribute('#events a[data-col="participants"]', "title")
    assert "один момент" in page.get_attribute('#events a[data-col="peak"]', "title")


# --- licence insight ------------------------------------------------------------------------
BREACH_DAY = "2026-02-12"  # the demo's speakers go over their limit of 150 that morning


def _duration(seconds: float) -> str:
    s = int(seconds)
    h, m, sec = s // 3600, s % 3600 // 60, s % 60
    if h:
        return f"{h}{NBSP}ч {m:02d}{NBSP}мин"
    return f"{m}{NBSP}мин {sec:02d}{NBSP}с" if m else f"{sec}{NBSP}с"


def test_limited_cards_breaches_and_sizing_read_as_the_api(page: Any, base: str) -> None:
    page.goto(f"{base}/dashboard?{MONTH}")
    page.wait_for_selector("html[data-charts-ready]")
    api = page.request.get(f"{base}/api/v1/breaches?{MONTH}").json()["metrics"]
    summary = page.request.get(f"{base}/api/v1/summary?{MONTH}").json()["metrics"]
    speakers = summary["total.speakers"]
    assert speakers["episodes"] >= 1 and speakers["over_episodes"] >= 1
    lines = page.locator('[data-metric="total.speakers"] .breach-line').all_inner_texts()
    assert lines[0] == f"На лимите {speakers['episodes']} раз, всего {_duration(speakers['at_limit_seconds'])}"
    assert lines[1].startswith("Сверх лимита") and _duration(speakers["over_limit_seconds"]) in lines[1]
    assert page.inner_text('[data-metric="total.connections"] .card-breach') == "Лимит не достигался"
    # The card links to its list; the list is the API's, episode by episode.
    page.click('[data-metric="total.speakers"] a.breach-link')
    assert page.url.endswith("#breaches-total-speakers")
    for mid, figures in api.items():
        rows = page.eval_on_selector_all(
            f'.breach-list[data-metric="{mid}"] tbody tr',
            "rows => rows.map(r => Array.from(r.cells).slice(0, 6).map(c => c.textContent))",
        )
        assert len(rows) == len(figures["list"]), mid
        for row, e in zip(rows, figures["list"], strict=True):
            start = e["start"]
            assert row[1] == f"{start[8:10]}.{start[5:7]}.{start[:4]} {start[11:16]}", mid
            assert row[3] == _duration(e["seconds"]) and row[4] == str(e["highest"]), mid
            assert row[5] == str(figures["limit"]), mid
    # Sizing: median, p95, days at 90 % and 100 %, the limits covering 95 % and 100 %.
    sizing = page.eval_on_selector_all(
        "#sizing tbody tr",
        "rows => rows.map(r => [r.dataset.metric, Array.from(r.cells).slice(1).map(c => c.textContent)])",
    )
    assert [m for m, _ in sizing] == [m for m, f in api.items() if f["limit"] is not None]
    for mid, cells in sizing:
        sz = api[mid]["sizing"]
        as_text = [
            str(api[mid]["limit"]),
            str(sz["active_days"]),
            f"{sz['median']:.2f}".rstrip("0").rstrip(".").replace(".", ","),
            f"{sz['p95']:.2f}".rstrip("0").rstrip(".").replace(".", ","),
            str(sz["days_at_90"]),
            str(sz["days_at_100"]),
            str(sz["covers_95"]),
            str(sz["covers_100"]),
        ]
        assert [c.replace(NBSP, "") for c in cells] == as_text, mid
    # Days with time at a limit are marked on the chart in the limit's colour.
    data = _chart_data(page)
    total = next(c for c in data["charts"] if c["id"] == "total")
    marked = next(s for s in total["series"] if s["id"] == "total.speakers")
    assert [data["titles"][i] for i in marked["breach"]] == ["12.02.2026"]
    series = _option(page, "total")["series"]
    point = series[[s["id"] for s in total["series"]].index("total.speakers")]["data"][marked["breach"][0]]
    assert point["itemStyle"]["color"] == "#b3261e"
    page.screenshot(path=str(SCREENSHOTS / "dashboard-breaches-ru.png"), full_page=False)


def test_every_card_compares_with_the_previous_period(page: Any, base: str) -> None:
    page.goto(f"{base}/dashboard?{MONTH}")
    now = page.request.get(f"{base}/api/v1/summary?{MONTH}").json()["metrics"]
    before = page.request.get(f"{base}/api/v1/summary?from=2026-01-04&to=2026-01-31").json()["metrics"]
    for mid in ("total.speakers", "total.held", "calls.messages"):
        text = page.inner_text(f'[data-metric="{mid}"] .card-delta')
        diff = now[mid]["value"] - before[mid]["value"]
        arrow = "↑" if diff > 0 else "↓" if diff < 0 else "="
        assert text.startswith(arrow), (mid, text)
        if diff:
            assert text.split(" (")[0].replace(NBSP, "") == f"{arrow} {abs(diff)}", (mid, text)
        assert "04.01.2026 – 31.01.2026" in page.get_attribute(f'[data-metric="{mid}"] .card-delta', "title")


def test_the_default_view_is_the_last_30_days(page: Any, base: str) -> None:
    page.goto(f"{base}/dashboard")
    assert page.input_value("#range-from") == "2026-02-19"
    assert page.input_value("#range-to") == "2026-03-20"
    assert page.get_attribute('a[data-preset="last_30"]', "aria-current") == "true"
    page.click('a[data-preset="last_7"]')
    page.wait_for_url(re.compile(r"from=2026-03-14&to=2026-03-20"))


def _makers(page: Any) -> list[list[str]]:
    return page.eval_on_selector_all(
        "#peak-makers tbody tr", "rows => rows.map(r => Array.from(r.cells).map(c => c.textContent))"
    )


def test_a_peak_card_opens_what_made_the_peak_in_place(page: Any, base: str) -> None:
    page.goto(f"{base}/dashboard?{MONTH}")
    page.wait_for_selector("html[data-charts-ready]")
    page.evaluate("window.notReloaded = true")
    assert page.is_hidden("#day-panel")
    page.click('[data-metric="total.speakers"] a.card-open')
    page.wait_for_selector(f'#day-panel[data-opened="{BREACH_DAY} total.speakers"]')
    assert page.evaluate("window.notReloaded") is True
    assert f"day={BREACH_DAY}&metric=total.speakers" in page.url
    at = page.request.get(f"{base}/api/v1/at?metric=total.speakers&day={BREACH_DAY}").json()
    peak = at["metrics"]["total.speakers"]["value"]
    rows = _makers(page)
    shares = [int(r[3].replace(NBSP, "")) for r in rows]
    assert sum(shares) == peak == int(page.inner_text("#makers-total"))
    assert shares == sorted(shares, reverse=True)
    expected = sorted((p["speakers"] for p in at["active"] if p["speakers"]), reverse=True)
    assert shares == expected
    assert page.evaluate("document.activeElement.id") == "day-title"
    # The same panel from the server, for the bookmark.
    page.reload()
    assert _makers(page) == rows

    # The day's curve: the API's per-minute maxima, the limit line, the episodes shaded.
    page.wait_for_selector("#day-panel[data-drawn]")
    curve = page.request.get(f"{base}/api/v1/intraday?day={BREACH_DAY}").json()["metrics"]
    option = _option(page, "day")
    lines = {s["name"]: s for s in option["series"]}
    speakers = lines["Одновременных докладчиков"]
    assert speakers["data"] == curve["total.speakers"]["minutes"]
    assert max(speakers["data"]) == curve["total.speakers"]["peak"]
    assert speakers["markPoint"]["data"][0]["value"] == curve["total.speakers"]["peak"]
    assert len(speakers["markArea"]["data"]) == len(curve["total.speakers"]["episodes"]) > 0
    assert set(lines["Лимит: Одновременных докладчиков"]["data"]) == {150}
    # The README's picture: the top of the list of what made the peak, and the day's curve.
    page.set_viewport_size({"width": 1440, "height": 1400})
    page.evaluate("document.querySelectorAll('#peak-makers tbody tr:nth-child(n+6)').forEach(r => r.hidden = true)")
    top, bottom, left, width = page.evaluate("""() => {
        const p = document.getElementById('day-panel').getBoundingClientRect();
        const c = document.getElementById('chart-day').getBoundingClientRect();
        return [p.top + scrollY, c.bottom + scrollY + 8, p.left, p.width];
    }""")
    page.screenshot(
        path=str(SCREENSHOTS / "dashboard-day-ru.png"),
        full_page=True,
        clip={"x": left, "y": top, "width": width, "height": bottom - top},
    )


def test_a_click_on_a_chart_day_and_an_episode_open_that_day(page: Any, base: str) -> None:
    page.goto(f"{base}/dashboard?{MONTH}")
    page.wait_for_selector("html[data-charts-ready]")
    data = _chart_data(page)
    total = next(c for c in data["charts"] if c["id"] == "total")
    main = next(s for s in total["series"] if s["main"])
    i = data["titles"].index("12.02.2026")
    x, y = page.evaluate(
        """([i, v]) => {
        const c = echarts.getInstanceByDom(document.getElementById('chart-total'));
        return c.convertToPixel({seriesIndex: 0}, [i, v / 2]);
    }""",
        [i, main["data"][i]],
    )
    page.locator("#chart-total").scroll_into_view_if_needed()
    box = page.locator("#chart-total").bounding_box()
    page.mouse.click(box["x"] + x, box["y"] + y)
    page.wait_for_selector(f'#day-panel[data-opened="{BREACH_DAY} {main["id"]}"]')
    page.click('.breach-list[data-metric="total.events"] tbody a[data-day]')
    page.wait_for_selector('#day-panel[data-opened$=" total.events"]')
    day = page.get_attribute("#day-panel", "data-opened").split()[0]
    at = page.request.get(f"{base}/api/v1/at?metric=total.events&day={day}").json()
    assert len(_makers(page)) == at["metrics"]["total.events"]["value"]


def test_the_weekday_hour_heatmaps_are_the_hours_api(page: Any, base: str) -> None:
    page.goto(f"{base}/dashboard?{MONTH}&lang=en")
    page.wait_for_selector("html[data-charts-ready]")
    hours = page.request.get(f"{base}/api/v1/hours?{MONTH}").json()["metrics"]
    data = _chart_data(page)
    assert [h["metric"] for h in data["hours"]] == list(hours)
    for h in data["hours"]:
        cells = _option(page, h["id"])["series"][0]["data"]
        assert {(x, y): v for x, y, v in cells} == {
            (hour, d): v for d, row in enumerate(hours[h["metric"]]) for hour, v in enumerate(row)
        }
    assert data["weekdays"][0] == "Mon"


# --- empty ranges ---------------------------------------------------------------------------
def test_a_range_without_activity_says_so_on_the_page_and_in_the_downloads(page: Any, base: str) -> None:
    page.goto(f"{base}/dashboard?from=2027-01-01&to=2027-01-31")
    assert "активности не было" in page.inner_text("#empty-state")
    assert page.locator("[data-metric]").count() == 0 and page.locator(".chart").count() == 0
    with page.expect_download() as dl:
        page.click("#download-csv")
    rows = list(csv.reader(io.StringIO(Path(dl.value.path()).read_text("utf-8-sig")), delimiter=";"))
    assert rows[-1] == ["За период 01.01.2027 – 31.01.2027 активности не было."]


# --- phone, keyboard, print, accessibility ---------------------------------------------------
def test_phone_layout_keeps_legends_off_the_plot(chromium: Any, signed_in: dict[str, Any], base: str) -> None:
    context, page = _open(
        chromium, signed_in, width=390, height=844, is_mobile=True, has_touch=True, device_scale_factor=2
    )
    try:
        page.goto(f"{base}/dashboard?{MONTH}")
        page.wait_for_selector("html[data-charts-ready]")
        legend = _option(page, "total")["legend"][0]
        assert legend["type"] == "scroll" and legend["bottom"] == 0
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "dashboard-phone-ru.png"), full_page=False)
        assert page.problems == []
    finally:
        context.close()


def test_keyboard_skip_link_focus_and_chart_tables(page: Any, base: str) -> None:
    page.goto(f"{base}/dashboard?{MONTH}")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"
    assert page.evaluate("document.activeElement.getBoundingClientRect().top") >= 0
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    page.focus('#events a[data-col="title"]')
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Tab")
    style = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert style not in ("", "none")
    levels = page.eval_on_selector_all("main h1, main h2, main h3", "hs => hs.map(h => Number(h.tagName[1]))")
    assert levels[0] == 1 and all(b - a <= 1 for a, b in zip(levels, levels[1:], strict=False))
    data = _chart_data(page)
    tables = page.locator(".chart-panel details.chart-table")
    assert tables.count() == len(data["charts"]) + 2 + len(data["hours"])
    page.click(".chart-panel details.chart-table summary")
    first = page.locator(".chart-panel details.chart-table").first
    assert first.locator("tbody tr").count() == len(data["days"])


def test_print_shows_cards_and_charts_without_navigation(page: Any, base: str) -> None:
    page.goto(f"{base}/dashboard?{MONTH}")
    page.wait_for_selector("html[data-charts-ready]")
    page.emulate_media(media="print")
    assert page.is_hidden(".topbar") and page.is_hidden(".downloads")
    assert page.is_hidden("#events .search-form")
    assert page.is_visible("#chart-total") and page.is_visible('[data-metric="total.speakers"]')
    width = page.evaluate("document.getElementById('chart-total').getBoundingClientRect().width")
    assert 600 < width < 720  # 180 mm


def _axe(page: Any) -> list[dict[str, Any]]:
    page.evaluate(AXE.read_text("utf-8"))
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]]}
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


@pytest.mark.parametrize(
    "path,signed",
    [
        ("/login", False),
        (f"/dashboard?{MONTH}", True),
        (f"/dashboard?{LONG}&lang=en", True),
        (f"/dashboard?{MONTH}&day={BREACH_DAY}&metric=total.speakers", True),
        ("/dashboard?from=2027-01-01&to=2027-01-31", True),
    ],
)
def test_axe_finds_no_serious_or_critical_violation(
    chromium: Any, signed_in: dict[str, Any], base: str, path: str, signed: bool
) -> None:
    # axe-core is injected by the test, past the page's CSP (it is not part of the app).
    context, page = _open(chromium, signed_in if signed else None, bypass_csp=True)
    try:
        page.goto(base + path)
        if signed:
            page.wait_for_selector("html[data-charts-ready]")
        assert _axe(page) == []
    finally:
        context.close()


@pytest.fixture(scope="module")
def support_signed_in(chromium: Any, base: str) -> dict[str, Any]:
    context = chromium.new_context()
    page = context.new_page()
    page.goto(base + "/login")
    page.fill("input[name=email]", "support@demo.vkurse.ru")
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/dashboard"))
    state: dict[str, Any] = context.storage_state()
    context.close()
    return state


@pytest.mark.parametrize(
    "path",
    [
        "/support/companies",
        "/support/companies/demo",
        "/support/accounts",
        "/support/tokens",
        "/support/audit",
    ],
)
def test_axe_finds_no_serious_or_critical_violation_on_support_pages(
    chromium: Any, support_signed_in: dict[str, Any], base: str, path: str
) -> None:
    context, page = _open(chromium, support_signed_in, bypass_csp=True)
    try:
        page.goto(base + path)
        assert _axe(page) == []
    finally:
        context.close()
