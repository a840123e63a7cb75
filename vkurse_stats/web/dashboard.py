"""What the dashboard shows, computed from the query API: cards, chart data and tables.

Sections, cards and chart series are derived from ``METRICS``/``SECTIONS``: a metric added
there appears on the dashboard without edits here. Charts go to the browser as plain data
(``chart_data``) that ``static/dashboard.js`` turns into ECharts options.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from starlette.requests import Request

from ..metrics.definitions import METRICS, SECTIONS, MetricDef
from ..metrics.model import Day, MetricValue, Page, Summary
from ..metrics.tables import (
    CLIENT_LABELS,
    SIZE_UNITS,
    TABLES,
    TEMPLATE_LABELS,
    Column,
    client_label,
    template_label,
)
from ..store.meta import CompanyInfo
from . import format as fmt
from .i18n import translate
from .licence import anchor_of, times_text
from .params import fetch_table, parse_int, parse_order
from .render import url_with

PEAK_SECTIONS = ("total", "meetings", "webinars", "calls")
SIDE_SECTIONS = ("storage", "users")
WARN_SHARE = 0.9
TABLE_PAGE = 20
DEVICES_TOP = 10  # bars of the devices chart; the rest is one "other" bar, so totals add up
WEEKLY_FROM = 93  # a range of more days is charted by week (each week's greatest daily peak)
# Which metric of a section the chart is about (bars, limit line, average, peak marker).
MAIN_LIMIT = "concurrent_speakers"


def range_presets(today: date) -> dict[str, tuple[date, date]]:
    """The date-range shortcuts: rolling ones ending today (the last 30 days are the default
    view, so the 1st of a month never opens on an empty month), then the calendar ones."""
    year_ago = (
        today.replace(year=today.year - 1) if (today.month, today.day) != (2, 29) else date(today.year - 1, 2, 28)
    )
    return {
        "last_7": (today - timedelta(days=6), today),
        "last_30": (today - timedelta(days=29), today),
        "last_12_months": (year_ago + timedelta(days=1), today),
        **fmt.presets(today),
    }


DEFAULT_PRESET = "last_30"


def previous_range(d1: date, d2: date) -> tuple[date, date]:
    """The period of the same length just before ``d1 .. d2`` (what the cards compare with)."""
    n = (d2 - d1).days + 1
    return d1 - timedelta(days=n), d1 - timedelta(days=1)


def section_title(section: str, lang: str) -> str:
    for sid, ru, en in SECTIONS:
        if sid == section:
            return en if lang == "en" else ru
    return section


def is_bytes(m: MetricDef) -> bool:
    return m.id.endswith("_bytes")


def level_of(share: float | None) -> str:
    """The warning level of a share of the licence limit."""
    if share is None:
        return "none"
    if share > 1.0:
        return "over"
    if share >= WARN_SHARE:
        return "warn"
    return "ok"


@dataclass
class Card:
    id: str
    label: str
    value: str
    raw: int
    at: str | None = None
    limit: str | None = None
    share: str | None = None
    pct: int | None = None  # share of the limit for the usage bar, capped at 100
    level: str = "none"
    delta: Delta | None = None
    breach: list[str] | None = None  # "at the limit N times, H h M min in total", and over it
    breach_anchor: str | None = None
    peak_day: str | None = None  # the day of the peak (ISO), for "what made the peak"


@dataclass(frozen=True)
class Delta:
    """The change of a figure against the previous period of the same length."""

    direction: str  # up, down, same
    text: str  # "↑ 12"
    title: str  # "В предыдущем периоде (…): 145"


def delta(m: MetricDef, now: int, before: int, prev: tuple[date, date], lang: str) -> Delta:
    diff = now - before
    span = f"{fmt.fmt_date(prev[0], lang)} – {fmt.fmt_date(prev[1], lang)}"
    title = translate(lang, "dash.prev_title", span=span, value=_value(m, before, lang))
    if diff == 0:
        return Delta("same", "= " + translate(lang, "dash.prev_same"), title)
    arrow = "↑" if diff > 0 else "↓"
    text = f"{arrow} {_value(m, abs(diff), lang)}"
    if before:
        text += f" ({'+' if diff > 0 else '−'}{fmt.fmt_pct(abs(diff) / before, lang)})"
    return Delta("up" if diff > 0 else "down", text, title)


def breach_texts(mv: MetricValue, lang: str) -> list[str] | None:
    """A limited card's time at and over its limit, or that it was never reached."""
    if mv.breach is None:
        return None
    at_us, over_us, at_n, over_n = mv.breach
    if not at_n:
        return [translate(lang, "dash.breach_none")]
    out = [
        translate(lang, "dash.breach_at", times=times_text(at_n, lang), total=fmt.fmt_duration(at_us / 1_000_000, lang))
    ]
    if over_n:
        out.append(
            translate(
                lang,
                "dash.breach_over",
                times=times_text(over_n, lang),
                total=fmt.fmt_duration(over_us / 1_000_000, lang),
            )
        )
    return out


@dataclass
class SideCard:
    section: str
    title: str
    label: str
    value: str
    total_label: str
    total: str
    limit: str | None = None
    level: str = "none"
    delta: Delta | None = None


def _value(m: MetricDef, v: int, lang: str) -> str:
    return fmt.fmt_bytes(v, lang) if is_bytes(m) else fmt.fmt_int(v, lang)


def cards(summary: Summary, lang: str, previous: Summary | None = None) -> list[tuple[str, str, list[Card]]]:
    """The four peak sections: (section id, title, cards), each card against ``previous``."""
    tz = summary.timezone
    prev = (previous.date_from, previous.date_to) if previous else None
    out = []
    for section in PEAK_SECTIONS:
        items = []
        for m in METRICS:
            if m.section != section:
                continue
            mv = summary.metrics[m.id]
            share = mv.share if m.is_peak else None
            items.append(
                Card(
                    id=m.id,
                    label=m.label(lang),
                    value=_value(m, mv.value, lang),
                    raw=mv.value,
                    at=fmt.fmt_dt(mv.at, tz, lang) if (m.is_peak and mv.at is not None and mv.value) else None,
                    limit=fmt.fmt_int(mv.limit, lang) if (m.is_peak and mv.limit is not None) else None,
                    share=fmt.fmt_pct(share, lang) if share is not None else None,
                    pct=min(100, round(share * 100)) if share is not None else None,
                    level=level_of(share),
                    delta=delta(m, mv.value, previous.metrics[m.id].value, prev, lang) if previous and prev else None,
                    breach=breach_texts(mv, lang) if m.is_peak else None,
                    breach_anchor=anchor_of(m.id) if mv.breach and mv.breach[2] else None,
                    peak_day=fmt.local_dt(mv.at, tz).date().isoformat()
                    if (m.is_peak and mv.at is not None and mv.value)
                    else None,
                )
            )
        out.append((section, section_title(section, lang), items))
    return out


def side_cards(summary: Summary, lang: str, previous: Summary | None = None) -> list[SideCard]:
    """Storage and users: the figure of the range, with the total level in brackets."""
    out = []
    for section in SIDE_SECTIONS:
        flows = [m for m in METRICS if m.section == section and m.combine != "last"]
        stocks = [m for m in METRICS if m.section == section and m.combine == "last"]
        if not flows or not stocks:
            continue
        flow, stock = flows[0], stocks[0]
        total = summary.metrics[stock.id]
        share = total.share
        out.append(
            SideCard(
                section=section,
                title=section_title(section, lang),
                label=flow.label(lang),
                value=_value(flow, summary.metrics[flow.id].value, lang),
                total_label=stock.label(lang),
                total=_value(stock, total.value, lang),
                limit=(_value(stock, total.limit, lang) + " · " + fmt.fmt_pct(share, lang))
                if total.limit is not None
                else None,
                level=level_of(share),
                delta=delta(
                    flow,
                    summary.metrics[flow.id].value,
                    previous.metrics[flow.id].value,
                    (previous.date_from, previous.date_to),
                    lang,
                )
                if previous
                else None,
            )
        )
    return out


# --- charts ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Bucket:
    """The days a chart point stands for: one day, or the days of a week inside the range."""

    first: date
    last: date
    days: list[Day]


def buckets(days: list[Day]) -> list[Bucket]:
    """Days as they are charted: one by one, or by week (Monday to Sunday) on long ranges."""
    if len(days) < WEEKLY_FROM:
        return [Bucket(d.date, d.date, [d]) for d in days]
    out: list[Bucket] = []
    for d in days:
        if out and d.date.isocalendar()[:2] == out[-1].first.isocalendar()[:2]:
            out[-1].days.append(d)
        else:
            out.append(Bucket(d.date, d.date, [d]))
    return [Bucket(b.first, b.days[-1].date, b.days) for b in out]


def bucket_value(m: MetricDef, b: Bucket) -> MetricValue:
    """A metric over a bucket, combined as a range combines days: a peak keeps the exact
    greatest daily peak and its first instant."""
    values = [d.metrics[m.id] for d in b.days]
    if m.combine == "max":
        best = max(values, key=lambda v: v.value)  # the first day with the greatest peak
        return best
    if m.combine == "last":
        return values[-1]
    return MetricValue(sum(v.value for v in values))


def _day_text(d: date, lang: str, *, year: bool) -> str:
    if lang == "en":
        return d.isoformat() if year else d.strftime("%m-%d")
    return d.strftime("%d.%m.%Y") if year else d.strftime("%d.%m")


def chart_data(summary: Summary, days: list[Day], devices: Page, lang: str) -> dict[str, Any]:
    """Everything the charts and their data tables need, as JSON-ready data: values, names,
    limits per series, texts (no presentation decisions in JS beyond layout)."""
    tz = summary.timezone
    groups = buckets(days)
    weekly = len(groups) < len(days)
    long_range = weekly or summary.date_from.year != summary.date_to.year
    axis = [_day_text(b.first, lang, year=long_range) for b in groups]
    titles = [
        fmt.fmt_date(b.first, lang)
        if b.first == b.last
        else f"{fmt.fmt_date(b.first, lang)} – {fmt.fmt_date(b.last, lang)}"
        for b in groups
    ]
    values = {m.id: [bucket_value(m, b) for b in groups] for m in METRICS}

    def at_text(mv: MetricValue) -> str | None:
        if mv.at is None or not mv.value:
            return None
        if weekly:  # which day of the week, and when
            return fmt.fmt_dt(mv.at, tz, lang)
        return fmt.fmt_hhmm(mv.at, tz)

    charts = []
    for section in PEAK_SECTIONS:
        own = [m for m in METRICS if m.section == section]
        peaks = [m for m in own if m.is_peak]
        main = next((m for m in peaks if m.limit == MAIN_LIMIT), peaks[0] if peaks else None)
        if main is None:
            continue

        items = [
            _series(m, main, values[m.id], summary, lang, overlay=False, name=m.label(lang))
            | _breach_marks(m, groups, lang)
            for m in peaks
        ]
        if section == "total":
            # Per-type peaks of the same kind, so one sees how the total relates to each type.
            for m in METRICS:
                if (
                    m.section != section
                    and m.section in PEAK_SECTIONS
                    and m.limit == main.limit
                    and m.daily == main.daily
                ):
                    s = _series(m, main, values[m.id], summary, lang, overlay=True, name=section_title(m.section, lang))
                    s["full"] = f"{m.label(lang)} — {section_title(m.section, lang)}"
                    items.append(s)
        charts.append(
            {
                "id": section,
                "title": section_title(section, lang),
                "limit": summary.metrics[main.id].limit,
                "series": items,
                # The tooltip lists every figure of the section for the hovered day or week.
                "tooltip": [
                    {
                        "name": m.day_label(lang) if not weekly or m.combine != "sum" else m.label(lang),
                        "values": [mv.value for mv in values[m.id]],
                        "at": [at_text(mv) if m.is_peak else None for mv in values[m.id]],
                    }
                    for m in own
                ],
            }
        )
    client_ids = sorted({c for d in days for c in d.clients})
    return {
        "lang": lang,
        "days": axis,
        "titles": titles,
        "weekly": weekly,
        "text": {
            k: translate(lang, f"dash.{k}")
            for k in (
                "average",
                "peak_day",
                "limit_line",
                "limit_short",
                "devices",
                "clients_daily",
                "users",
                "at_limit",
                "open_day",
            )
        },
        "charts": charts,
        "devices": devices_bars(devices, lang),
        "clients": {
            "names": [client_label(c, lang) for c in client_ids],
            "series": [[max((d.clients.get(c, 0) for d in b.days), default=0) for b in groups] for c in client_ids],
        },
    }


def _breach_marks(m: MetricDef, groups: list[Bucket], lang: str) -> dict[str, Any]:
    """A limited series' points with time at the limit (marked on the chart, and named in its
    table and tooltip), and per point the day whose peak it shows (what a click opens)."""
    days: list[str] = []
    at_limit: list[str | None] = []
    for b in groups:
        best = max(b.days, key=lambda d: d.metrics[m.id].value)  # the first day with the peak
        days.append(best.date.isoformat())
        seconds = sum((d.metrics[m.id].breach or (0, 0, 0, 0))[0] for d in b.days) / 1_000_000
        at_limit.append(fmt.fmt_duration(seconds, lang) if seconds else None)
    return {"days_iso": days, "breach": [i for i, v in enumerate(at_limit) if v is not None], "at_limit": at_limit}


def _series(
    m: MetricDef, main: MetricDef, values: list[MetricValue], summary: Summary, lang: str, *, overlay: bool, name: str
) -> dict[str, Any]:
    """One chart series with the licence limit of its own metric (an overlay has none)."""
    data = [mv.value for mv in values]
    limit = None if overlay else summary.metrics[m.id].limit
    return {
        "id": m.id,
        "name": name,
        "main": m is main,
        "overlay": overlay,
        "data": data,
        "limit": limit,
        "limit_name": translate(lang, "dash.limit_of", name=name) if limit is not None else None,
        # Every limited series marks its peak (the first point reaching it), as the main one.
        "peak": data.index(max(data)) if data and max(data) > 0 and (m is main or limit is not None) else None,
    }


WEEKDAYS = (("Пн", "Mon"), ("Вт", "Tue"), ("Ср", "Wed"), ("Чт", "Thu"), ("Пт", "Fri"), ("Сб", "Sat"), ("Вс", "Sun"))


def heatmaps(hours: dict[str, Any], lang: str) -> list[dict[str, Any]]:
    """Weekday x hour maxima of the main counts (``/api/v1/hours``), one heatmap each."""
    out = []
    for mid, matrix in hours["metrics"].items():
        m = next(x for x in METRICS if x.id == mid)
        out.append(
            {
                "id": "hours-" + mid.replace(".", "-"),
                "metric": mid,
                "name": m.label(lang),
                "matrix": matrix,
                "max": max((v for row in matrix for v in row), default=0),
            }
        )
    return out


def heatmap_table(h: dict[str, Any], lang: str) -> dict[str, Any]:
    """A heatmap as a table: a row per weekday, a column per hour."""
    return {
        "header": [translate(lang, "dash.weekday")] + [f"{i:02d}" for i in range(24)],
        "rows": [
            [WEEKDAYS[d][1 if lang == "en" else 0]] + [fmt.fmt_int(v, lang) for v in row]
            for d, row in enumerate(h["matrix"])
        ],
    }


def devices_bars(devices: Page, lang: str) -> list[dict[str, Any]]:
    """The top :data:`DEVICES_TOP` client/device pairs by users, and one bar for the rest."""
    rows = sorted(devices.rows, key=lambda r: (-int(r.get("users") or 0), -int(r.get("logins") or 0)))
    bars = [
        {
            "name": f"{client_label(r.get('client') or 'unknown', lang)} · {r.get('device') or '—'}",
            "users": int(r.get("users") or 0),
            "logins": int(r.get("logins") or 0),
        }
        for r in rows[:DEVICES_TOP]
    ]
    rest = rows[DEVICES_TOP:]
    if rest:
        bars.append(
            {
                "name": translate(lang, "dash.devices_other", n=fmt.fmt_int(len(rest), lang)),
                "users": sum(int(r.get("users") or 0) for r in rest),
                "logins": sum(int(r.get("logins") or 0) for r in rest),
                "other": True,
            }
        )
    return bars


def chart_tables(charts: dict[str, Any], lang: str) -> dict[str, dict[str, Any]]:
    """Each chart as a table (its accessible alternative): a header and formatted rows."""
    period = translate(lang, "dash.week" if charts["weekly"] else "dash.day")
    out: dict[str, dict[str, Any]] = {}
    for ch in charts["charts"]:
        cols = [s for s in ch["series"]]
        header = [period] + [s.get("full") or s["name"] for s in cols]
        header += [s["limit_name"] for s in cols if s["limit"] is not None]
        limits = [fmt.fmt_int(s["limit"], lang) for s in cols if s["limit"] is not None]
        marked = [s for s in cols if s.get("breach")]
        header += [translate(lang, "dash.at_limit_of", name=s["name"]) for s in marked]
        rows = [
            [title]
            + [fmt.fmt_int(s["data"][i], lang) for s in cols]
            + limits
            + [s["at_limit"][i] or "—" for s in marked]
            for i, title in enumerate(charts["titles"])
        ]
        out[ch["id"]] = {"header": header, "rows": rows}
    out["devices"] = {
        "header": [translate(lang, "col.client_device"), charts["text"]["users"]],
        "rows": [[d["name"], fmt.fmt_int(d["users"], lang)] for d in charts["devices"]],
    }
    clients = charts["clients"]
    out["clients"] = {
        "header": [period, *clients["names"]],
        "rows": [
            [title] + [fmt.fmt_int(s[i], lang) for s in clients["series"]] for i, title in enumerate(charts["titles"])
        ],
    }
    return out


# --- tables ---------------------------------------------------------------------------------
TABLE_PREFIX = {"events": "ev", "planned": "pl", "disk": "dk"}


@dataclass
class Table:
    id: str
    title: str
    prefix: str
    columns: list[dict[str, Any]]
    rows: list[list[dict[str, Any]]]
    total: int
    first: int
    last: int
    search: str
    prev_url: str | None
    next_url: str | None
    shown: str
    note: str | None = None
    hidden: list[tuple[str, str]] = field(default_factory=list)


def cell_text(col: Column, row: dict[str, Any], tz: str, lang: str) -> str:
    """A table cell as the page shows it (static/dashboard.js renders API rows the same way)."""
    value = row.get(col.key)
    if value in (None, "") and col.fallback:
        value = row.get(col.fallback)
    if value in (None, ""):
        return "—"
    if col.type == "instant":
        return fmt.fmt_dt(value, tz, lang) if isinstance(value, int) else "—"
    if col.type == "duration":
        return fmt.fmt_duration(value, lang)
    if col.type == "bytes":
        return fmt.fmt_bytes(value, lang)
    if col.type == "int":
        return fmt.fmt_int(value, lang)
    if col.key == "template":
        return template_label(value, lang)
    if col.key == "client":
        return client_label(value, lang)
    return str(value)


def shown_text(first: int, last: int, total: int, lang: str) -> str:
    return translate(
        lang,
        "table.shown",
        first=fmt.fmt_int(first, lang),
        last=fmt.fmt_int(last, lang),
        total=fmt.fmt_int(total, lang),
    )


def table(request: Request, name: str, query: Any, company: CompanyInfo, d1: date, d2: date, lang: str) -> Table:
    """One dashboard table; its sort, order, search and page live in ``<prefix>_*`` params
    (static/dashboard.js changes them in place through the API and keeps the URL the same)."""
    spec = TABLES[name]
    p = TABLE_PREFIX[name]
    qp = request.query_params
    sort = qp.get(f"{p}_sort") or None
    order = parse_order(f"{p}_order", qp.get(f"{p}_order"))
    search = (qp.get(f"{p}_q") or "").strip()
    page_no = parse_int(f"{p}_page", qp.get(f"{p}_page"), 1, 1, 10**6)
    page = fetch_table(
        query,
        name,
        company.id,
        d1,
        d2,
        sort=sort,
        order=order,
        search=search,
        limit=TABLE_PAGE,
        offset=(page_no - 1) * TABLE_PAGE,
        sort_param=f"{p}_sort",
        last_page=True,
    )
    page_no = page.offset // TABLE_PAGE + 1
    anchor = f"#{name}"
    columns = []
    for col in spec.page_columns:
        active = page.sort == col.key
        # Clicking the active column flips the order; a new one starts А→Я or largest first.
        new_order = ("asc" if page.order == "desc" else "desc") if active else col.first_order
        columns.append(
            {
                "key": col.key,
                "label": col.label(lang),
                "numeric": col.numeric,
                "hint": col.hint(lang),
                "active": active,
                "order": page.order if active else None,
                "url": url_with(request, **{f"{p}_sort": col.key, f"{p}_order": new_order, f"{p}_page": None}) + anchor,
            }
        )
    rows = [
        [{"text": cell_text(c, r, company.timezone, lang), "numeric": c.numeric} for c in spec.page_columns]
        for r in page.rows
    ]
    first = page.offset + 1 if page.rows else 0
    last = page.offset + len(page.rows)
    hidden = [(k, v) for k, v in qp.items() if k not in (f"{p}_q", f"{p}_page")]
    return Table(
        id=name,
        title=spec.title(lang),
        prefix=p,
        columns=columns,
        rows=rows,
        total=page.total,
        first=first,
        last=last,
        search=search,
        hidden=hidden,
        shown=shown_text(first, last, page.total, lang),
        note=translate(lang, "table.events_note") if name == "events" else None,
        prev_url=url_with(request, **{f"{p}_page": page_no - 1 if page_no > 2 else None}) + anchor
        if page_no > 1
        else None,
        next_url=url_with(request, **{f"{p}_page": page_no + 1}) + anchor if last < page.total else None,
    )


def tables_spec(lang: str, company: CompanyInfo, d1: date, d2: date, operator: bool) -> dict[str, Any]:
    """What static/dashboard.js needs to render API rows as the server does: each table's
    columns (from metrics/tables.py), the label catalogue, units and texts."""
    base: dict[str, str] = {"company": company.id} if operator else {}
    return {
        "lang": lang,
        "page": TABLE_PAGE,
        "tables": {
            name: {
                "prefix": p,
                "api": f"/api/v1/{name}",
                "params": {**base, "from": d1.isoformat(), "to": d2.isoformat()} if TABLES[name].ranged else base,
                "sort": TABLES[name].sort,
                "order": TABLES[name].order,
                "columns": [
                    {"key": c.key, "type": c.type, "fallback": c.fallback, "first": c.first_order, "numeric": c.numeric}
                    for c in TABLES[name].page_columns
                ],
            }
            for name, p in TABLE_PREFIX.items()
        },
        "labels": {
            "template": {k: v[1] if lang == "en" else v[0] for k, v in TEMPLATE_LABELS.items()},
            "client": {k: v[1] if lang == "en" else v[0] for k, v in CLIENT_LABELS.items()},
        },
        "sizes": [[scale, en if lang == "en" else ru] for scale, ru, en in SIZE_UNITS],
        "text": {
            k: translate(lang, k) for k in ("table.shown", "table.empty", "unit.h", "unit.min", "unit.s", "table.error")
        },
    }
