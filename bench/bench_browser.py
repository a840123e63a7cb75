"""Speed the user feels, in a real browser (issue 14), not a test: `python bench/bench_browser.py`.

Fills a data directory with the demo company (`vkurse-stats demo`: a year of activity, 2,000
employees, one company) unless it is there already, serves it with `vkurse-stats serve`, signs in
as the demo administrator in headless Chromium (/usr/bin/chromium) and measures, median of 5
(one browser, one reader at a time):

- the dashboard of the last full month and of the whole year: navigation timing from the
  start of the navigation to the first byte, to DOMContentLoaded, and to the charts drawn
  (the ``charts-drawn`` mark dashboard.js sets after the last chart);
- a peak card's day panel (what made the peak and the day's curve), from the click to the
  curve drawn, and the year's page with its breaches list to the last byte;
- the events table of the year: a sort, a search and the next page, from the click to the
  updated rows (fetched from the API and rendered in place).
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CHROMIUM = "/usr/bin/chromium"
RUNS = 5
TARGETS = {"month": 400.0, "year": 600.0, "table": 150.0, "day": 300.0}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def vkurse(data: Path, *args: str) -> list[str]:
    return [str(ROOT / ".venv" / "bin" / "vkurse-stats"), "--data-dir", str(data), *args]


# Click on an element and wait for the table to say it is updated (dashboard.js counts updates).
UPDATE = """([table, action, value]) => new Promise((resolve) => {
  const section = document.getElementById(table);
  const before = Number(section.dataset.updates || 0);
  const observer = new MutationObserver(() => {
    if (Number(section.dataset.updates || 0) > before) {
      observer.disconnect();
      resolve(performance.now() - t0);
    }
  });
  observer.observe(section, { attributes: true });
  const t0 = performance.now();
  if (action === "search") {
    const form = section.querySelector("form.search-form");
    form.querySelector("input[type=search]").value = value;
    form.requestSubmit();
  } else {
    section.querySelector(value).click();
  }
})"""


# Click a peak card's «Из чего сложился пик» and wait for the day panel drawn in place (the
# fragment fetched, what made the peak listed, the day's curve charted).
OPEN_DAY = """(selector) => new Promise((resolve) => {
  const panel = document.getElementById('day-panel');
  const before = panel.getAttribute('data-drawn') || '0';
  const started = performance.now();
  const watch = new MutationObserver(() => {
    if ((panel.getAttribute('data-drawn') || '0') !== before) {
      watch.disconnect();
      resolve(performance.now() - started);
    }
  });
  watch.observe(panel, {attributes: true});
  document.querySelector(selector).click();
})"""


def navigation(page: Any, url: str) -> dict[str, float]:
    page.goto(url)
    page.wait_for_selector("html[data-charts-ready]")
    return dict(
        page.evaluate("""() => {
        const n = performance.getEntriesByType("navigation")[0];
        const drawn = performance.getEntriesByName("charts-drawn")[0];
        return {ttfb: n.responseStart, dcl: n.domContentLoadedEventEnd, charts: drawn.startTime};
    }""")
    )


def median(values: list[float]) -> float:
    return statistics.median(values)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, default=ROOT / "bench" / "out" / "browser-demo")
    ap.add_argument("--runs", type=int, default=RUNS)
    a = ap.parse_args()
    from playwright.sync_api import sync_playwright

    from vkurse_stats.store.accounts import DEMO_PASSWORD

    if not (a.data_dir / "analytics.duckdb").exists():
        subprocess.run(vkurse(a.data_dir, "demo"), check=True, stdout=subprocess.DEVNULL)
    port = free_port()
    server = subprocess.Popen(
        vkurse(a.data_dir, "serve", "--port", str(port)), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("the server did not start")
            time.sleep(0.2)
        yesterday = date.today() - timedelta(days=1)
        month_end = date.today().replace(day=1) - timedelta(days=1)
        month = f"from={month_end.replace(day=1)}&to={month_end}"
        year = f"from={yesterday - timedelta(days=364)}&to={yesterday}"
        pw = sync_playwright().start()
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="ru-RU")
        page = context.new_page()
        page.goto(base + "/login")
        page.fill("input[name=email]", "admin@demo.vkurse.ru")
        page.fill("input[name=password]", DEMO_PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(re.compile(r"/dashboard"))
        loads: dict[str, list[dict[str, float]]] = {"month": [], "year": []}
        tables: dict[str, list[float]] = {"sort": [], "search": [], "page": [], "day": [], "breaches": []}
        for name, query in (("month", month), ("year", year)):
            navigation(page, f"{base}/dashboard?{query}")  # warm-up: caches, JIT
            for _ in range(a.runs):
                loads[name].append(navigation(page, f"{base}/dashboard?{query}"))
        events = page.inner_text("#events .pager .shown")
        for _ in range(a.runs):
            page.goto(f"{base}/dashboard?{year}")
            page.wait_for_selector("html[data-charts-ready]")
            tables["sort"].append(page.evaluate(UPDATE, ["events", "click", 'th a[data-col="title"]']))
            tables["page"].append(page.evaluate(UPDATE, ["events", "click", '.pager a[data-step="1"]']))
            tables["search"].append(page.evaluate(UPDATE, ["events", "search", "план"]))
            tables["day"].append(page.evaluate(OPEN_DAY, '[data-metric="total.speakers"] a.card-open'))
            page.goto(f"{base}/dashboard?{year}#breaches")
            tables["breaches"].append(page.evaluate("() => performance.getEntriesByType('navigation')[0].responseEnd"))
        browser.close()
        pw.stop()
    finally:
        server.terminate()
        server.wait(10)
    cores = os.cpu_count()
    print(
        f"bench_browser: demo company (1 company, a year, 2,000 employees; events of the year: "
        f"{events.rsplit('из', 1)[1].strip()}), headless Chromium 1440x900, one reader, "
        f"median of {a.runs}, {cores} cores"
    )
    print("| what | first byte | DOMContentLoaded | charts drawn / rows updated | target |")
    print("|---|---:|---:|---:|---:|")
    for name, label in (("month", f"dashboard, a month ({month})"), ("year", f"dashboard, a year ({year})")):
        runs = loads[name]
        print(
            f"| {label} | {median([r['ttfb'] for r in runs]):.0f} ms | "
            f"{median([r['dcl'] for r in runs]):.0f} ms | {median([r['charts'] for r in runs]):.0f} ms | "
            f"≤ {TARGETS[name]:.0f} ms |"
        )
    for name, label in (
        ("sort", "events of the year: sort by title"),
        ("page", "events of the year: next page"),
        ("search", "events of the year: search «план»"),
    ):
        print(f"| {label} | | | {median(tables[name]):.0f} ms | ≤ {TARGETS['table']:.0f} ms |")
    print(
        f"| a year's breaches list and sizing (page with them, to the last byte) | | | "
        f"{median(tables['breaches']):.0f} ms | ≤ {TARGETS['year']:.0f} ms |"
    )
    print(
        f"| a day's panel: what made the peak and the day's curve, click to drawn | | | "
        f"{median(tables['day']):.0f} ms | ≤ {TARGETS['day']:.0f} ms |"
    )


if __name__ == "__main__":
    main()
