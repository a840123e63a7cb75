"""Every metric of SPEC section 4, defined once.

A :class:`MetricDef` says what the daily figure is (how the engine computes it per company-day)
and how a date range combines the days: the greatest daily peak, the sum of daily counts, or the
level at the end of the range. Dashboard, API, CSV, XLSX and CLI iterate :data:`METRICS`; adding
a metric here shows it everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ..records import CALL_TEMPLATE, MEETING_TEMPLATES, TEMPLATE_CODE, TRANSPORT_CODE

# How a metric is computed for one company-day.
#   peak        - greatest number of active connections in scope, and its first instant
#   parent_peak - greatest number of active events/calls in scope (active while any connection is)
#   held        - events/calls in scope whose first connection falls on the day
#   count/sum   - records (or their sizes) whose timestamp falls on the day
#   stock       - a level that records raise and lower (files uploaded/deleted); the day stores
#                 its change, a range reads the level at its end (or now, if sooner)
Daily = Literal["peak", "parent_peak", "held", "count", "sum", "stock"]
Combine = Literal["max", "sum", "last"]

ALL = frozenset(range(CALL_TEMPLATE + 1))
MEETINGS = frozenset(TEMPLATE_CODE[t] for t in MEETING_TEMPLATES)
WEBINARS = frozenset({TEMPLATE_CODE["webinar"]})
CALLS = frozenset({CALL_TEMPLATE})
WEBRTC = TRANSPORT_CODE["webrtc"]
WEBRTMP = TRANSPORT_CODE["webrtmp"]


@dataclass(frozen=True)
class MetricDef:
    id: str
    section: str
    daily: Daily
    label_ru: str
    label_en: str
    scope: frozenset[int] = ALL  # connection template codes (events' templates, then calls)
    transport: int | None = None  # only this transport, or any
    source: str = "connection"  # record kind for count/sum/stock metrics
    limit: str | None = None  # company licence limit this figure is shown against

    @property
    def combine(self) -> Combine:
        if self.daily in ("peak", "parent_peak"):
            return "max"
        return "last" if self.daily == "stock" else "sum"

    @property
    def is_peak(self) -> bool:
        return self.combine == "max"

    def label(self, lang: str) -> str:
        return self.label_en if lang == "en" else self.label_ru

    def day_label(self, lang: str) -> str:
        """The label of one day's figure: a count of the range «за период» is «за день» there."""
        if self.combine != "sum":
            return self.label(lang)
        if lang == "en":
            return self.label_en.removesuffix(" in the range") + " that day"
        return self.label_ru.replace("за период", "за день")


METRICS: tuple[MetricDef, ...] = (
    MetricDef(
        "total.connections",
        "total",
        "peak",
        "Одновременных подключений",
        "Concurrent connections",
        limit="concurrent_connections",
    ),
    MetricDef(
        "total.speakers",
        "total",
        "peak",
        "Одновременных докладчиков",
        "Concurrent speakers",
        transport=WEBRTC,
        limit="concurrent_speakers",
    ),
    MetricDef(
        "total.events",
        "total",
        "parent_peak",
        "Одновременных мероприятий",
        "Concurrent events",
        limit="concurrent_events",
    ),
    MetricDef("total.held", "total", "held", "Мероприятий и звонков за период", "Events and calls held"),
    MetricDef(
        "meetings.speakers",
        "meetings",
        "peak",
        "Одновременных докладчиков",
        "Concurrent speakers",
        scope=MEETINGS,
        limit="concurrent_speakers",
    ),
    MetricDef(
        "meetings.events",
        "meetings",
        "parent_peak",
        "Одновременных мероприятий",
        "Concurrent events",
        scope=MEETINGS,
        limit="concurrent_events",
    ),
    MetricDef("meetings.held", "meetings", "held", "Мероприятий за период", "Events held", scope=MEETINGS),
    MetricDef(
        "webinars.speakers",
        "webinars",
        "peak",
        "Одновременных докладчиков",
        "Concurrent speakers",
        scope=WEBINARS,
        transport=WEBRTC,
        limit="concurrent_speakers",
    ),
    MetricDef(
        "webinars.participants",
        "webinars",
        "peak",
        "Одновременных участников",
        "Concurrent participants (viewers)",
        scope=WEBINARS,
        transport=WEBRTMP,
    ),
    MetricDef(
        "webinars.events",
        "webinars",
        "parent_peak",
        "Одновременных вебинаров",
        "Concurrent webinars",
        scope=WEBINARS,
        limit="concurrent_events",
    ),
    MetricDef("webinars.held", "webinars", "held", "Вебинаров за период", "Webinars held", scope=WEBINARS),
    MetricDef(
        "calls.speakers",
        "calls",
        "peak",
        "Одновременных участников звонков",
        "Concurrent call participants",
        scope=CALLS,
        limit="concurrent_speakers",
    ),
    MetricDef(
        "calls.calls",
        "calls",
        "parent_peak",
        "Одновременных звонков",
        "Concurrent calls",
        scope=CALLS,
        limit="concurrent_events",
    ),
    MetricDef("calls.held", "calls", "held", "Звонков за период", "Calls held", scope=CALLS),
    MetricDef("calls.messages", "calls", "count", "Сообщений за период", "Messages sent", source="message"),
    MetricDef(
        "storage.uploaded_bytes", "storage", "sum", "Загружено за период", "Uploaded in the range", source="file"
    ),
    MetricDef(
        "storage.total_bytes",
        "storage",
        "stock",
        "Всего используется",
        "Total in use",
        source="file",
        limit="storage_bytes",
    ),
    MetricDef(
        "users.registered", "users", "count", "Зарегистрировано за период", "Registered in the range", source="user"
    ),
    MetricDef("users.total", "users", "stock", "Всего пользователей", "Total users", source="user"),
)
METRIC_BY_ID = {m.id: m for m in METRICS}
PEAK_IDS = ("total.connections", "total.speakers", "total.events")  # with _at columns in CSV

SECTIONS: tuple[tuple[str, str, str], ...] = (
    ("total", "ВСЕГО (во всех мероприятиях и звонках)", "TOTAL (all events and calls)"),
    ("meetings", "Мероприятия (тип Совещания/ВКС)", "Events (meetings / video conferencing)"),
    ("webinars", "Мероприятия (тип Вебинар)", "Events (webinars)"),
    ("calls", "Звонки (в мессенджере)", "Calls (in the messenger)"),
    ("storage", "Использованное хранилище", "Storage used"),
    ("users", "Пользователи", "Users"),
)
CLIENT_PREFIX = "clients."


def has_activity(values: Mapping[str, Any]) -> bool:
    """Whether a range saw any activity: a figure other than a level (users, storage in use,
    which a range before the company's start or in the future still shows) is not zero."""
    return any(values[m.id].value for m in METRICS if m.combine != "last" and m.id in values)


UNKNOWN_CLIENT = "unknown"
