"""Licence insight on the dashboard (SPEC 4a): the breaches list and sizing of a range, and one
day's view: what made a peak and the day's curve.

Every figure is the query API's own (``Query.breaches``, ``Query.at``, ``Query.intraday``: what
``/api/v1/breaches``, ``/api/v1/at`` and ``/api/v1/intraday`` answer); this module only picks
and formats them. Which of an active event's figures makes up a metric follows the metric's
definition (its scope of templates and its transport), so the rows sum to the peak.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from ..export import labels as L
from ..metrics.definitions import METRIC_BY_ID, WEBRTC, WEBRTMP, MetricDef
from ..metrics.insight import LIMITED, History, limit_at
from ..metrics.tables import template_label
from ..records import CALL_TEMPLATE, TEMPLATE_CODE
from . import format as fmt
from .i18n import translate

# Which section a limited metric's list sits under, in the order of the cards.
MAIN_CURVES = ("total.connections", "total.speakers", "total.events")


iso_us = L.iso_us


def times_text(n: int, lang: str) -> str:
    """ "3 раза" / "3 times": how many episodes."""
    if lang == "en":
        return f"{fmt.fmt_int(n, lang)} {'time' if n == 1 else 'times'}"
    tail = n % 100
    word = "раза" if tail % 10 in (2, 3, 4) and tail // 10 != 1 else "раз"
    return f"{fmt.fmt_int(n, lang)} {word}"


def fmt_figure(value: float | None, lang: str) -> str:
    """A sizing figure: whole numbers as counts, a percentile with up to two decimals."""
    if value is None:
        return "—"
    if float(value).is_integer():
        return fmt.fmt_int(int(value), lang)
    text = f"{value:,.2f}".rstrip("0")
    return text if lang == "en" else text.replace(",", fmt.NBSP).replace(".", ",")


# --- breaches of a range ------------------------------------------------------------------------
@dataclass
class BreachList:
    """One limited metric's breaches on the page."""

    id: str
    anchor: str
    title: str
    limit: str
    at_total: str
    over_total: str
    episodes: int
    over_episodes: int
    days: int
    rows: list[list[str]]
    links: list[tuple[str, str]]  # per episode: its day's view and that day (ISO)
    truncated: bool


def anchor_of(metric_id: str) -> str:
    return "breaches-" + metric_id.replace(".", "-")


def metric_title(m: MetricDef, lang: str) -> str:
    from .dashboard import section_title  # the cards' section names

    return f"{section_title(m.section, lang)}: {m.label(lang)}"


def breach_lists(data: dict[str, Any], history: History, lang: str, day_url: Any) -> list[BreachList]:
    """The episodes of each limited metric that reached its limit in the range, as rows:
    kind, start, end, duration, highest count, the limit in force at the start."""
    tz = data["timezone"]
    out = []
    for m in LIMITED:
        figures = data["metrics"].get(m.id)
        if figures is None or not figures["list"]:
            continue
        rows, links = [], []
        for e in figures["list"]:
            start, end = iso_us(e["start"]), iso_us(e["end"])
            limit = limit_at(history, m.limit, start)
            rows.append(
                [
                    L.episode_kind(e["kind"], L.check_lang(lang)),
                    fmt.fmt_dt(start, tz, lang),
                    fmt.fmt_dt(end, tz, lang),
                    fmt.fmt_duration(e["seconds"], lang),
                    fmt.fmt_int(e["highest"], lang),
                    fmt.fmt_int(limit, lang),
                ]
            )
            day = fmt.local_dt(start, tz).date()
            links.append((day_url(day, m.id), day.isoformat()))
        out.append(
            BreachList(
                id=m.id,
                anchor=anchor_of(m.id),
                title=metric_title(m, lang),
                limit=fmt.fmt_int(figures["limit"], lang),
                at_total=fmt.fmt_duration(figures["at_limit_seconds"], lang),
                over_total=fmt.fmt_duration(figures["over_limit_seconds"], lang),
                episodes=figures["episodes"],
                over_episodes=figures["over_episodes"],
                days=len(figures["days"]),
                rows=rows,
                links=links,
                truncated=figures["truncated"],
            )
        )
    return out


BREACH_HEADER = ("kind", "start", "end", "duration", "highest", "limit")  # named by export.labels


def breach_header(lang: str) -> list[tuple[str, bool]]:
    """The episodes table's headers (as the download names them) and whether each is a figure."""
    return [(L.column(k, L.check_lang(lang)), k in ("duration", "highest", "limit")) for k in BREACH_HEADER]


def sizing_rows(data: dict[str, Any], lang: str) -> list[dict[str, Any]]:
    """Per limited metric with a limit: the limit, median and p95 of the daily peaks over days
    with activity, days at >= 90 % and >= 100 %, and the limits covering 95 % and 100 %."""
    out = []
    for m in LIMITED:
        figures = data["metrics"].get(m.id)
        if figures is None or figures["limit"] is None:
            continue
        s = figures["sizing"]
        out.append(
            {
                "id": m.id,
                "cells": [
                    metric_title(m, lang),
                    fmt.fmt_int(figures["limit"], lang),
                    fmt.fmt_int(s["active_days"], lang),
                    fmt_figure(s["median"], lang),
                    fmt_figure(s["p95"], lang),
                    fmt.fmt_int(s["days_at_90"], lang),
                    fmt.fmt_int(s["days_at_100"], lang),
                    fmt_figure(s["covers_95"], lang),
                    fmt_figure(s["covers_100"], lang),
                ],
            }
        )
    return out


SIZING_HEADER = (
    "sizing.metric",
    "sizing.limit",
    "sizing.active_days",
    "sizing.median",
    "sizing.p95",
    "sizing.days_90",
    "sizing.days_100",
    "sizing.covers_95",
    "sizing.covers_100",
)


# --- one day: what made the peak, and the day's curve ------------------------------------------
def share_of(m: MetricDef, parent: dict[str, Any]) -> int:
    """What an event or call active at an instant adds to metric ``m`` then (by the metric's
    definition: its templates, its transport, and whether it counts events or connections)."""
    code = CALL_TEMPLATE if parent["kind"] == "call" else TEMPLATE_CODE.get(parent["template"], -1)
    if code not in m.scope:
        return 0
    if m.daily == "parent_peak":
        return 1 if parent["connections"] > 0 else 0
    if m.transport == WEBRTC:
        return int(parent["speakers"])
    if m.transport == WEBRTMP:
        return int(parent["viewers"])
    return int(parent["connections"])


@dataclass
class PeakMakers:
    metric: str
    title: str
    day: date
    instant: str | None  # as the page shows it
    value: int
    limit: int | None
    figure_label: str
    rows: list[dict[str, Any]]  # title, template, organizer, share, connections, speakers, viewers
    total: int


def peak_makers(at: dict[str, Any], m: MetricDef, day: date, tz: str, lang: str) -> PeakMakers:
    """The events and calls active at the peak instant that count towards ``m``, largest first;
    their shares sum to the count then."""
    figures = at["metrics"].get(m.id) or {"value": 0, "limit": None}
    rows = []
    for p in at["active"]:
        share = share_of(m, p)
        if share <= 0:
            continue
        rows.append(
            {
                "title": p["title"] or (translate(lang, "day.call") if p["kind"] == "call" else p["id"]),
                "template": translate(lang, "day.call") if p["kind"] == "call" else template_label(p["template"], lang),
                "organizer": p["organizer_name"] or p["organizer_id"] or "—",
                "share": share,
                "connections": p["connections"],
                "speakers": p["speakers"],
                "viewers": p["viewers"],
            }
        )
    rows.sort(key=lambda r: (-r["share"], -r["connections"], r["title"]))
    instant = fmt.fmt_dt(iso_us(at["instant"]), tz, lang) if at.get("instant") else None
    label = translate(
        lang,
        "day.share_events"
        if m.daily == "parent_peak"
        else "day.share_speakers"
        if m.transport == WEBRTC
        else "day.share_viewers"
        if m.transport == WEBRTMP
        else "day.share_connections",
    )
    return PeakMakers(
        metric=m.id,
        title=metric_title(m, lang),
        day=day,
        instant=instant,
        value=int(figures["value"]),
        limit=figures["limit"],
        figure_label=label,
        rows=rows,
        total=sum(r["share"] for r in rows),
    )


def curve_data(intraday: dict[str, Any], lang: str) -> dict[str, Any]:
    """The day's chart as plain data: per-minute maxima of the main counts, each exact peak with
    its instant, the limit in force (and its changes) and the episodes at or over it."""
    tz = intraday["timezone"]
    series = []
    for mid in MAIN_CURVES:
        c = intraday["metrics"].get(mid)
        if c is None:
            continue
        m = METRIC_BY_ID[mid]
        series.append(
            {
                "id": mid,
                "name": m.label(lang),
                "data": c["minutes"],
                "peak": c["peak"],
                "peak_at": fmt.fmt_hhmm(iso_us(c["at"]), tz) if c["at"] else None,
                "peak_minute": _minute(c["at"], intraday["start"]) if c["at"] else None,
                "limit": c["limit"],
                "limit_changes": [[_minute(t, intraday["start"]), v] for t, v in c["limit_changes"]],
                "episodes": [
                    [_minute(e["start"], intraday["start"]), _minute(e["end"], intraday["start"], end=True), e["kind"]]
                    for e in c["episodes"]
                ],
                "limit_name": translate(lang, "dash.limit_of", name=m.label(lang)),
            }
        )
    minutes = len(series[0]["data"]) if series else 0
    start = iso_us(intraday["start"])
    axis = [fmt.fmt_hhmm(start + i * 60_000_000, tz) for i in range(minutes)]
    return {
        "lang": lang,
        "day": intraday["day"],
        "axis": axis,
        "series": series,
        "text": {k: translate(lang, f"day.{k}") for k in ("at_shade", "over_shade", "peak")}
        | {"limit_short": translate(lang, "dash.limit_short")},
    }


def _minute(iso: str, start_iso: str, *, end: bool = False) -> int:
    """The minute of the day an instant falls in (an episode's end: the minute it ends within)."""
    us = iso_us(iso) - iso_us(start_iso)
    if end and us % 60_000_000 == 0:
        us -= 1
    return max(0, us // 60_000_000)


def hourly_table(curve: dict[str, Any], lang: str) -> dict[str, Any]:
    """The day's chart as a table: the highest count of each main metric per hour."""
    header = [translate(lang, "day.hour")] + [s["name"] for s in curve["series"]]
    rows = []
    minutes = len(curve["axis"])
    for h in range(0, minutes, 60):
        rows.append(
            [curve["axis"][h]] + [fmt.fmt_int(max(s["data"][h : h + 60], default=0), lang) for s in curve["series"]]
        )
    return {"header": header, "rows": rows}


def limited_ids() -> tuple[str, ...]:
    return tuple(m.id for m in LIMITED)
