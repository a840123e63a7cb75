"""Scheduled reports: when a period's report falls due, and the e-mail that carries it.

A monthly report is due on the 1st at the report time (``VKURSE_STATS_REPORT_TIME``, local time
of the company's timezone) for the previous month; a weekly one on Monday at that time for the
previous Monday-Sunday. The e-mail holds the period's key figures and, attached, the very
workbook ``/api/v1/export.xlsx`` downloads for that range (the same ``export_xlsx`` call).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from ..export import export_filename, export_xlsx
from ..export.labels import ExportQuery, check_lang, section_label
from ..metrics.definitions import METRIC_BY_ID, has_activity
from ..metrics.model import Summary
from ..store.notify import ReportKind
from ..timeutil import zone
from ..web.format import fmt_bytes, fmt_date, fmt_dt, fmt_int, fmt_pct
from ..zones import label as tz_label
from .mail import Attachment, build_message
from .texts import text

# The figures the e-mail body lists; the workbook has every one.
KEY_FIGURES = (
    "total.connections",
    "total.speakers",
    "total.events",
    "total.held",
    "meetings.held",
    "webinars.held",
    "calls.held",
    "calls.messages",
    "users.total",
    "storage.total_bytes",
)
XLSX_TYPE = ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet")


@dataclass(frozen=True)
class Period:
    kind: ReportKind
    first: date
    last: date
    due_at: float  # epoch seconds: when its report is sent

    def key(self, account_id: int) -> str:
        """The outbox key of this period's report to one account: one e-mail per period."""
        return f"report:{account_id}:{self.kind}:{self.first.isoformat()}"


def parse_report_time(value: str) -> time:
    """``HH:MM`` (24 h); ValueError otherwise."""
    try:
        parsed = time.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"expected a time HH:MM, got {value!r} (VKURSE_STATS_REPORT_TIME)") from None
    return parsed.replace(second=0, microsecond=0)


def _start_of(kind: ReportKind, day: date) -> date:
    return day.replace(day=1) if kind == "monthly" else day - timedelta(days=day.weekday())


def _previous_start(kind: ReportKind, start: date) -> date:
    return _start_of(kind, start - timedelta(days=1))


def latest_period(kind: ReportKind, now: float, timezone: str, at: time) -> Period:
    """The period whose report fell due most recently at or before ``now`` (epoch seconds)."""
    tz = zone(timezone)
    local = datetime.fromtimestamp(now, UTC).astimezone(tz)
    start = _start_of(kind, local.date())
    due = datetime.combine(start, at, tz)
    if due > local:
        start = _previous_start(kind, start)
        due = datetime.combine(start, at, tz)
    return Period(kind, _previous_start(kind, start), start - timedelta(days=1), due.timestamp())


def period_label(period: Period, lang: str) -> str:
    if period.kind == "monthly":
        month = text(lang, f"report.month.{period.first.month}")
        return f"{month} {period.first.year}"
    return f"{fmt_date(period.first, lang)} — {fmt_date(period.last, lang)}"


def _figure(summary: Summary, metric_id: str, lang: str) -> str:
    metric = METRIC_BY_ID[metric_id]
    value = summary.metrics[metric_id]
    shown = fmt_bytes(value.value, lang) if metric_id.endswith("_bytes") else fmt_int(value.value, lang)
    line = f"{section_label(metric.section, check_lang(lang))}: {metric.label(lang)} — {shown}"
    extra = []
    if value.at is not None and value.value:
        extra.append(text(lang, "report.peak_at", at=fmt_dt(value.at, summary.timezone, lang)))
    if value.limit:
        limit = fmt_bytes(value.limit, lang) if metric_id.endswith("_bytes") else fmt_int(value.limit, lang)
        extra.append(text(lang, "report.of_limit", pct=fmt_pct(value.value / value.limit, lang), limit=limit))
    return line + (f" ({'; '.join(extra)})" if extra else "")


def report_body(summary: Summary, period: Period, lang: str, settings_url: str) -> str:
    """The text of a report e-mail: greeting, the period, its key figures, the footer."""
    company = summary.company
    lines = [
        text(lang, "report.greeting"),
        "",
        text(
            lang,
            "report.intro",
            company=company.name,
            period=period_label(period, lang),
            timezone=tz_label(summary.timezone, lang),
        ),
        "",
    ]
    if has_activity(summary.metrics):
        lines.append(text(lang, "report.key_figures"))
        lines.extend(f"• {_figure(summary, m, lang)}" for m in KEY_FIGURES if m in summary.metrics)
    else:
        lines.append(text(lang, "report.no_activity"))
    lines += ["", text(lang, "report.attachment"), "", "—", text(lang, "report.footer", url=settings_url)]
    return "\n".join(lines) + "\n"


def report_message(
    query: ExportQuery,
    company_id: str,
    period: Period,
    lang: str,
    *,
    sender: str,
    to: str,
    sent_at: datetime,
    settings_url: str,
) -> tuple[str, bytes]:
    """The subject and the bytes of the report e-mail of ``period``; KeyError for an unknown
    company."""
    summary, _days = query.report(company_id, period.first, period.last)
    workbook = export_xlsx(query, company_id, period.first, period.last, lang=lang)
    subject = text(
        lang, f"report.subject.{period.kind}", period=period_label(period, lang), company=summary.company.name
    )
    attachment = Attachment(export_filename(company_id, period.first, period.last, "xlsx"), workbook, *XLSX_TYPE)
    body = report_body(summary, period, lang, settings_url)
    return subject, build_message(
        sender=sender, to=to, subject=subject, body=body, sent_at=sent_at, attachments=[attachment]
    )
