"""What the dashboard shows, computed from the query API: cards, chart data and tables.

Sections, cards and chart series are derived from ``METRICS``/``SECTIONS``: a metric added
there appears on the dashboard without edits here. Charts go to the browser as plain data
(``chart_data``) that ``static/dashboard.js`` turns into ECharts options.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from starlette.requests import Request

from ..metrics.definitions import METRICS, SECTIONS, MetricDef
from ..metrics.model import Day, Page, Summary
from ..store.meta import CompanyInfo
from . import format as fmt
from .i18n import translate
from .params import fetch_table, parse_int, parse_order
from .render import url_with

PEAK_SECTIONS = ("total", "meetings", "webinars", "calls")
SIDE_SECTIONS = ("storage", "users")
WARN_SHARE = 0.9
TABLE_PAGE = 20
# Which metric of a section the chart is about (bars, limit line, average, peak marker).
MAIN_LIMIT = "concurrent_speakers"


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


def _value(m: MetricDef, v: int, lang: str) -> str:
    return fmt.fmt_bytes(v, lang) if is_bytes(m) else fmt.fmt_int(v, lang)


def cards(summary: Summary, lang: str) -> list[tuple[str, str, list[Card]]]:
    """The four peak sections: (section id, title, cards)."""
    tz = summary.timezone
    out = []
    for section in PEAK_SECTIONS:
        items = []
        for m in METRICS:
            if m.section != section:
                continue
            mv = summary.metrics[m.id]
            share = mv.share if m.is_peak else None
            items.append(Card(
                id=m.id, label=m.label(lang), value=_value(m, mv.value, lang), raw=mv.value,
                at=fmt.fmt_dt(mv.at, tz, lang) if (m.is_peak and mv.at is not None and mv.value)
                else None,
                limit=fmt.fmt_int(mv.limit, lang) if (m.is_peak and mv.limit is not None) else None,
                share=fmt.fmt_pct(share, lang) if share is not None else None,
                pct=min(100, round(share * 100)) if share is not None else None,
                level=level_of(share)))
        out.append((section, section_title(section, lang), items))
    return out


def side_cards(summary: Summary, lang: str) -> list[SideCard]:
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
        out.append(SideCard(
            section=section, title=section_title(section, lang), label=flow.label(lang),
            value=_value(flow, summary.metrics[flow.id].value, lang),
            total_label=stock.label(lang), total=_value(stock, total.value, lang),
            limit=(_value(stock, total.limit, lang) + " · " + fmt.fmt_pct(share, lang))
            if total.limit is not None else None,
            level=level_of(share)))
    return out


def chart_data(summary: Summary, days: list[Day], devices: Page, lang: str) -> dict[str, Any]:
    """Everything the charts need, as JSON-ready data (no presentation decisions in JS)."""
    tz = summary.timezone
    labels = [d.date.isoformat() for d in days]
    charts = []
    for section in PEAK_SECTIONS:
        own = [m for m in METRICS if m.section == section]
        peaks = [m for m in own if m.is_peak]
        main = next((m for m in peaks if m.limit == MAIN_LIMIT), peaks[0] if peaks else None)
        if main is None:
            continue
        series = [{"id": m.id, "name": m.label(lang), "main": m is main, "overlay": False,
                   "data": [d.metrics[m.id].value for d in days]} for m in peaks]
        if section == "total":
            # Per-type peaks of the same kind, so one sees how the total relates to each type.
            for m in METRICS:
                if m.section != section and m.section in PEAK_SECTIONS and \
                        m.limit == main.limit and m.daily == main.daily:
                    series.append({"id": m.id, "overlay": True, "main": False,
                                   "name": section_title(m.section, lang),
                                   "full": f"{m.label(lang)} — {section_title(m.section, lang)}",
                                   "data": [d.metrics[m.id].value for d in days]})
        limit = summary.metrics[main.id].limit
        charts.append({
            "id": section, "title": section_title(section, lang), "limit": limit,
            "series": series,
            # The tooltip lists every figure of the section for the hovered day.
            "tooltip": [{"name": m.label(lang),
                         "values": [d.metrics[m.id].value for d in days],
                         "at": [fmt.fmt_hhmm(at, tz) if m.is_peak and (at := d.metrics[m.id].at) else None
                                for d in days]}
                        for m in own],
        })
    client_names = sorted({c for d in days for c in d.clients})
    return {
        "lang": lang,
        "days": labels,
        "text": {k: translate(lang, f"dash.{k}") for k in
                 ("average", "peak_day", "limit_line", "devices", "clients_daily")},
        "charts": charts,
        "devices": [{"name": f"{r.get('client') or '—'} · {r.get('device') or '—'}",
                     "users": r.get("users", 0), "logins": r.get("logins", 0)}
                    for r in devices.rows],
        "clients": {"names": client_names,
                    "series": {c: [d.clients.get(c, 0) for d in days] for c in client_names}},
    }


# --- tables ---------------------------------------------------------------------------------
TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "events": ("title", "template", "organizer_name", "created_at", "scheduled_start",
               "first_join", "last_leave", "duration_s", "participants", "peak"),
    "planned": ("organizer_name", "planned", "next_title", "next_start"),
    "disk": ("owner_name", "bytes", "files"),
}
TABLE_PREFIX = {"events": "ev", "planned": "pl", "disk": "dk"}
NUMERIC = frozenset({"duration_s", "participants", "connections", "peak", "planned", "bytes",
                     "files", "users", "logins"})
INSTANTS = frozenset({"created_at", "scheduled_start", "first_join", "last_leave", "peak_at",
                      "next_start"})
# A person's name falls back to their id when the platform never sent a user record.
FALLBACK = {"organizer_name": "organizer_id", "owner_name": "owner_id", "next_title": "next_id"}


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
    hidden: list[tuple[str, str]] = field(default_factory=list)


def _cell(key: str, row: dict[str, Any], tz: str, lang: str) -> dict[str, Any]:
    value = row.get(key)
    if value in (None, "") and key in FALLBACK:
        value = row.get(FALLBACK[key])
    if key in INSTANTS:
        text = fmt.fmt_dt(value, tz, lang) if isinstance(value, int) else "—"
    elif key == "duration_s":
        text = fmt.fmt_duration(value, lang)
    elif key == "bytes":
        text = fmt.fmt_bytes(value, lang)
    elif key == "template" and value:
        text = translate(lang, f"tpl.{value}")
    elif key in NUMERIC:
        text = fmt.fmt_int(value, lang)
    else:
        text = "—" if value in (None, "") else str(value)
    return {"text": text, "numeric": key in NUMERIC}


def table(request: Request, name: str, query: Any, company: CompanyInfo, d1: date, d2: date,
          lang: str) -> Table:
    """One dashboard table; its sort, order, search and page live in ``<prefix>_*`` params."""
    p = TABLE_PREFIX[name]
    qp = request.query_params
    sort = qp.get(f"{p}_sort") or None
    order = parse_order(f"{p}_order", qp.get(f"{p}_order"))
    search = (qp.get(f"{p}_q") or "").strip()
    page_no = parse_int(f"{p}_page", qp.get(f"{p}_page"), 1, 1, 10**6)
    page = fetch_table(query, name, company.id, d1, d2, sort=sort, order=order, search=search,
                       limit=TABLE_PAGE, offset=(page_no - 1) * TABLE_PAGE,
                       sort_param=f"{p}_sort")
    anchor = f"#{name}"
    columns = []
    for key in TABLE_COLUMNS[name]:
        sortable = key in page.columns
        active = sortable and page.sort == key
        # Clicking the active column flips the order; a new column starts largest/latest first.
        new_order = ("asc" if page.order == "desc" else "desc") if active else "desc"
        columns.append({
            "key": key, "label": translate(lang, f"col.{key}"), "numeric": key in NUMERIC,
            "active": active, "order": page.order if active else None,
            "url": url_with(request, **{f"{p}_sort": key, f"{p}_order": new_order,
                                        f"{p}_page": None}) + anchor if sortable else None,
        })
    rows = [[_cell(k, r, company.timezone, lang) for k in TABLE_COLUMNS[name]] for r in page.rows]
    first = page.offset + 1 if page.rows else 0
    last = page.offset + len(page.rows)
    hidden = [(k, v) for k, v in qp.items() if k not in (f"{p}_q", f"{p}_page")]
    return Table(
        id=name, title=translate(lang, f"table.{name}"), prefix=p, columns=columns, rows=rows,
        total=page.total, first=first, last=last, search=search, hidden=hidden,
        prev_url=url_with(request, **{f"{p}_page": page_no - 1 if page_no > 2 else None}) + anchor
        if page_no > 1 else None,
        next_url=url_with(request, **{f"{p}_page": page_no + 1}) + anchor
        if last < page.total else None,
    )
