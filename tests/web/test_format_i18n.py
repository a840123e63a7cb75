"""Formatting of figures, date-range presets and the completeness of the translations."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from vkurse_stats.metrics.definitions import METRICS
from vkurse_stats.metrics.tables import TABLES, client_label, template_label
from vkurse_stats.records import TEMPLATES
from vkurse_stats.store.accounts import SCOPES
from vkurse_stats.store.meta import LIMIT_NAMES
from vkurse_stats.web import dashboard
from vkurse_stats.web import format as fmt
from vkurse_stats.web.i18n import MESSAGES, translate

TEMPLATES_DIR = Path(fmt.__file__).parent / "templates"


@pytest.mark.parametrize(
    "n,ru,en",
    [
        (0, "0\u00a0Б", "0\u00a0B"),
        (999, "999\u00a0Б", "999\u00a0B"),
        (1500, "1,5\u00a0КБ", "1.5\u00a0KB"),
        (1250, "1,3\u00a0КБ", "1.3\u00a0KB"),  # half up, as Excel rounds
        (400_000, "400,0\u00a0КБ", "400.0\u00a0KB"),
        (291_930_000_000, "291,9\u00a0ГБ", "291.9\u00a0GB"),
        (3 * 10**12, "3,0\u00a0ТБ", "3.0\u00a0TB"),
        (1_234_500_000_000_000, "1\u00a0234,5\u00a0ТБ", "1,234.5\u00a0TB"),
    ],
)
def test_fmt_bytes_in_decimal_units(n: int, ru: str, en: str) -> None:
    assert fmt.fmt_bytes(n, "ru") == ru
    assert fmt.fmt_bytes(n, "en") == en


def test_exact_size_round_trips() -> None:
    for n in (3 * 10**12, 1500 * 10**9, 1_000_000_001, 0, 250 * 10**6):
        assert fmt.parse_size(fmt.exact_size(n)) == n
    assert fmt.exact_size(3 * 10**12) == "3 TB"
    assert fmt.exact_size(1500 * 10**9) == "1500 GB"
    assert fmt.exact_size(1_000_000_001) == "1000000001"
    assert fmt.parse_size("1,5 ТБ") == 1_500_000_000_000
    assert fmt.parse_size("500\u00a0гб") == 500 * 10**9
    assert fmt.parse_size("3 TiB") is None and fmt.parse_size("-5") is None


def test_numbers_durations_and_instants() -> None:
    assert fmt.fmt_int(1284, "ru") == "1\u00a0284" and fmt.fmt_int(1284, "en") == "1,284"
    assert fmt.fmt_duration(3900, "ru") == "1\u00a0ч 05\u00a0мин"
    assert fmt.fmt_duration(75, "en") == "1\u00a0min 15\u00a0s"
    us = 1_772_694_600_000_000  # 2026-03-05T07:10:00Z
    assert fmt.fmt_dt(us, "Europe/Moscow", "ru") == "05.03.2026 10:10"
    assert fmt.fmt_dt(us, "Asia/Yekaterinburg", "en") == "2026-03-05 12:10"
    assert fmt.fmt_pct(1.2549, "ru") == "125\u202f%"


def test_presets_cross_year_boundaries() -> None:
    p = fmt.presets(date(2026, 1, 15))
    assert p["this_month"] == (date(2026, 1, 1), date(2026, 1, 31))
    assert p["last_month"] == (date(2025, 12, 1), date(2025, 12, 31))
    assert p["quarter"] == (date(2026, 1, 1), date(2026, 3, 31))
    assert p["year"] == (date(2026, 1, 1), date(2026, 12, 31))
    p = fmt.presets(date(2026, 12, 31))
    assert p["this_month"] == (date(2026, 12, 1), date(2026, 12, 31))
    assert p["quarter"] == (date(2026, 10, 1), date(2026, 12, 31))
    assert fmt.presets(date(2028, 3, 1))["last_month"] == (date(2028, 2, 1), date(2028, 2, 29))


def test_warning_levels() -> None:
    assert dashboard.level_of(None) == "none"
    assert dashboard.level_of(0.899) == "ok"
    assert dashboard.level_of(0.9) == "warn"
    assert dashboard.level_of(1.0) == "warn"
    assert dashboard.level_of(1.001) == "over"


def test_every_text_used_by_templates_is_translated() -> None:
    used = set()
    for path in TEMPLATES_DIR.glob("*.html"):
        used |= set(re.findall(r"""\bt\(\s*["']([a-z0-9_.]+)["']""", path.read_text()))
    dynamic = (
        {f"support.limit.{n}" for n in LIMIT_NAMES}
        | {f"support.scope.{s}" for s in SCOPES}
        | {f"support.role.{r}" for r in ("admin", "operator")}
        | {f"range.{k}" for k in dashboard.range_presets(date(2026, 1, 1))}
    )
    used = {k for k in used if not k.endswith(".")}  # prefixes of the dynamic keys
    missing = sorted(k for k in used | dynamic if k not in MESSAGES)
    assert missing == []
    for key, (ru, en) in MESSAGES.items():
        assert ru.strip() and en.strip(), key
        assert set(re.findall(r"\{(\w+)\}", ru)) == set(re.findall(r"\{(\w+)\}", en)), key
    assert translate("en", "range.show") == "Show statistics"
    assert translate("ru", "range.show") == "Показать статистику"


def test_every_table_column_and_value_has_both_labels() -> None:
    """Tables, their columns, event and client types are named in metrics/tables.py, once for
    the page and the downloads."""
    for t in TABLES.values():
        assert t.title("ru") and t.title("en") and t.sort in t.keys
        for c in t.columns:
            assert c.label("ru").strip() and c.label("en").strip(), c.key
            assert (c.hint("ru") is None) == (c.hint("en") is None), c.key
            assert c.fallback is None or c.fallback in t.keys
    assert TABLES["events"].column("template").label("ru") == "Шаблон"
    for template in TEMPLATES:
        assert template_label(template, "ru") != template and template_label(template, "en")
    assert client_label("desktop", "ru") == "Компьютер (приложение)"
    assert client_label("h323", "ru") == "H.323" and client_label("web", "en") == "Browser"
    assert client_label("tv", "ru") == "tv"  # a type the platform adds later reads as its id


def test_table_sorts_break_ties_by_the_first_two_columns_of_the_store(admin: Any) -> None:
    """The store orders ties by its first two columns: the definitions name them."""
    for name, params in (
        ("events", "from=2026-03-01&to=2026-03-31"),
        ("planned", ""),
        ("disk", ""),
        ("devices", "from=2026-03-01&to=2026-03-31"),
    ):
        body = admin.get(f"/api/v1/{name}?{params}").json()
        assert body["columns"] == list(TABLES[name].keys)
        assert list(body["rows"][0])[:2] == list(TABLES[name].tie_break), name


def test_every_metric_reaches_the_dashboard(admin: Any) -> None:
    """A metric defined in metrics/definitions.py shows without edits to the web layer."""
    html = admin.get("/dashboard", params={"from": "2026-03-01", "to": "2026-03-31"}).text
    for m in METRICS:
        if m.section in dashboard.PEAK_SECTIONS:
            assert f'data-metric="{m.id}"' in html, m.id
        else:
            assert m.label("ru") in html or m.label("ru").lower() in html, m.id


@pytest.mark.parametrize("tz", ["Europe/Moscow", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "UTC"])
def test_clock_times_of_chart_tooltips_match_the_zone_also_across_clock_changes(tz: str) -> None:
    import random

    rng = random.Random(tz)
    start = 1_600_000_000 * 10**6  # 2020-09-13
    # Every 7.5 minutes of two years (each clock change among them), and random instants of six.
    instants = [start + k * 450 * 10**6 for k in range(2 * 365 * 192)]
    instants += [rng.randrange(start, start + 6 * 365 * 86_400 * 10**6) for _ in range(3000)]
    for us in instants:
        dt = fmt.local_dt(us, tz)
        assert fmt.fmt_hhmm(us, tz) == f"{dt.hour:02d}:{dt.minute:02d}", us
