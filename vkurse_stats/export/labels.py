"""What the exports show, in both languages: the daily table's columns, sheet and column names.

CSV and XLSX render the same daily table (one row per day: the date, every metric of
:data:`~vkurse_stats.metrics.definitions.METRICS`, the moment of each total peak, then one column
per client type seen), so its column plan is built once here, from the metric definitions: a new
metric appears in both files without an edit in this package. Everything else is wording.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal, Protocol

from ..metrics.definitions import METRICS, PEAK_IDS, SECTIONS, MetricDef
from ..metrics.insight import LIMITED, History
from ..metrics.model import Day, Page, Summary
from ..metrics.tables import TABLES, client_label
from ..metrics.tables import template_label as template_label
from ..timeutil import US, zone
from ..zones import label as zone_label

Lang = Literal["ru", "en"]
LANGS: tuple[str, ...] = ("ru", "en")


class LimitHistories(Protocol):
    def limit_histories(self, company_ids: Sequence[str]) -> Mapping[str, History]: ...


class ExportQuery(Protocol):
    """The part of :class:`vkurse_stats.metrics.query.Query` the exports read (nothing else)."""

    @property
    def rollups(self) -> LimitHistories: ...

    def breaches(
        self, company_id: str, date_from: date, date_to: date, metric: str | None = ..., max_episodes: int = ...
    ) -> dict[str, Any]: ...

    def report(self, company_id: str, date_from: date, date_to: date) -> tuple[Summary, list[Day]]: ...

    def events(
        self,
        company_id: str,
        date_from: date,
        date_to: date,
        *,
        sort: str = ...,
        order: str = ...,
        search: str = ...,
        limit: int = ...,
        offset: int = ...,
    ) -> Page: ...

    def planned(
        self,
        company_id: str,
        *,
        sort: str = ...,
        order: str = ...,
        search: str = ...,
        limit: int = ...,
        offset: int = ...,
    ) -> Page: ...

    def disk(
        self,
        company_id: str,
        *,
        sort: str = ...,
        order: str = ...,
        search: str = ...,
        limit: int = ...,
        offset: int = ...,
    ) -> Page: ...

    def devices(
        self,
        company_id: str,
        date_from: date,
        date_to: date,
        *,
        sort: str = ...,
        order: str = ...,
        search: str = ...,
        limit: int = ...,
        offset: int = ...,
    ) -> Page: ...


def check_lang(lang: str) -> Lang:
    """``lang`` itself when it is a language the exports speak, else ``ValueError``."""
    if lang == "ru":
        return "ru"
    if lang == "en":
        return "en"
    raise ValueError(f"unknown language {lang!r}; expected one of: {', '.join(LANGS)}")


# Section names short enough for a column header ("ВСЕГО: Одновременных подключений"); a section
# missing here falls back to its full name from SECTIONS, so a new section still reads right.
SECTION_SHORT: dict[str, tuple[str, str]] = {
    "total": ("ВСЕГО", "Total"),
    "meetings": ("Совещания/ВКС", "Meetings"),
    "webinars": ("Вебинары", "Webinars"),
    "calls": ("Звонки", "Calls"),
    "storage": ("Хранилище", "Storage"),
    "users": ("Пользователи", "Users"),
}
_SECTION_FULL = {sid: (ru, en) for sid, ru, en in SECTIONS}


def _pick(pair: tuple[str, str], lang: Lang) -> str:
    return pair[1] if lang == "en" else pair[0]


def section_label(section: str, lang: Lang, *, short: bool = True) -> str:
    pair = (SECTION_SHORT if short else _SECTION_FULL).get(section) or _SECTION_FULL.get(section)
    return _pick(pair, lang) if pair else section


def is_bytes(metric: MetricDef) -> bool:
    """Whether the metric is a size in bytes (shown with a size format, and "bytes" in CSV)."""
    return metric.id.endswith("_bytes")


def metric_header(metric: MetricDef, lang: Lang) -> str:
    """An unambiguous header of a day's figure: section, label, and the unit where it is not a
    count."""
    text = f"{section_label(metric.section, lang)}: {metric.day_label(lang)}"
    if is_bytes(metric):
        text += ", bytes" if lang == "en" else ", байт"
    return text


def peak_at_header(metric: MetricDef, lang: Lang, tz: str) -> str:
    what = "peak time" if lang == "en" else "время пика"
    return f"{section_label(metric.section, lang)}: {metric.label(lang)} — {what}, {zone_label(tz, lang)}"


def client_header(client: str, lang: Lang) -> str:
    return f"{'Clients' if lang == 'en' else 'Клиенты'}: {client_label(client, lang)}"


def limit_header(metric: MetricDef, lang: Lang) -> str:
    return f"{'Licence limit' if lang == 'en' else 'Лимит лицензии'}: {metric.label(lang)}"


def iso_us(text: str) -> int:
    """An ISO 8601 instant with an offset (as the API writes them) as epoch microseconds."""
    moment = datetime.fromisoformat(text)
    return int(moment.timestamp()) * US + moment.microsecond


def limited_in(summary: Summary) -> list[MetricDef]:
    """The limited peaks held to a limit in the range: each has its time at and over the limit
    per day (columns of the daily table) and its episodes (the breaches sheet)."""
    return [m for m in LIMITED if summary.metrics[m.id].breach is not None]


# A day's breach figures of a limited peak: (column kind, ru, en). Seconds as the API gives them.
BREACH_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("at_limit", "на лимите за день, с", "at the limit that day, s"),
    ("over_limit", "сверх лимита за день, с", "over the limit that day, s"),
    ("episodes", "эпизодов на лимите за день", "episodes at the limit that day"),
)


def breach_header(metric: MetricDef, kind: str, lang: Lang) -> str:
    words = next(pair for k, *pair in BREACH_COLUMNS if k == kind)
    return f"{section_label(metric.section, lang)}: {metric.label(lang)} — {_pick((words[0], words[1]), lang)}"


def breach_value(day: Day, metric_id: str, kind: str) -> int | float:
    """A day's breach figure of a column: seconds at or over the limit, or episodes begun."""
    at_us, over_us, at_n, _ = day.metrics[metric_id].breach or (0, 0, 0, 0)
    if kind == "at_limit":
        return at_us / 1_000_000
    if kind == "over_limit":
        return over_us / 1_000_000
    return at_n


# --- the daily table -----------------------------------------------------------------------------
ColumnKind = Literal["date", "value", "at", "client", "at_limit", "over_limit", "episodes"]


@dataclass(frozen=True)
class DayColumn:
    """One column of the daily table: what it holds and its header."""

    kind: ColumnKind
    key: str  # metric id for value/at, client name for client, "date" for the date
    header: str
    metric: MetricDef | None = None


def clients_seen(days: Iterable[Day]) -> list[str]:
    """Client types with a figure on any day of the range, sorted by name."""
    seen: set[str] = set()
    for day in days:
        seen.update(day.clients)
    return sorted(seen)


def day_columns(lang: Lang, tz: str, clients: Sequence[str], limited: Sequence[MetricDef] = ()) -> list[DayColumn]:
    """The columns of the daily table, in order (shared by the CSV and the «По дням» sheet):
    the date, every metric, the moment of each total peak, the clients, then per limited peak
    its time at and over the limit and its episodes that day."""
    cols = [DayColumn("date", "date", "Date" if lang == "en" else "Дата")]
    for m in METRICS:
        cols.append(DayColumn("value", m.id, metric_header(m, lang), m))
        if m.id in PEAK_IDS:
            cols.append(DayColumn("at", m.id, peak_at_header(m, lang, tz), m))
    cols.extend(DayColumn("client", c, client_header(c, lang)) for c in clients)
    for m in limited:
        for kind, *_ in BREACH_COLUMNS:
            cols.append(DayColumn(kind, m.id, breach_header(m, kind, lang), m))  # type: ignore[arg-type]
    return cols


def local_datetime(us: int, tz: str) -> datetime:
    """Epoch microseconds as a naive wall-clock datetime in zone ``tz`` (what a sheet shows)."""
    utc = datetime.fromtimestamp(us // US, tz=UTC).replace(microsecond=us % US)
    return utc.astimezone(zone(tz)).replace(tzinfo=None)


# --- sheets and tables ---------------------------------------------------------------------------
SHEETS: dict[str, tuple[str, str]] = {
    "summary": ("Сводка", "Summary"),
    "days": ("По дням", "Daily"),
    "clients": ("Клиенты", "Clients"),
    "events": ("Мероприятия", "Events"),
    "planned": ("Планируемые", "Planned"),
    "disk": ("Диск", "Disk"),
    "devices": ("Устройства", "Devices"),
    "breaches": ("Превышения лимитов", "Limit breaches"),
}


def sheet_name(key: str, lang: Lang) -> str:
    return _pick(SHEETS[key], lang)


# Sheet titles: what the sheet is; the company, range and timezone are added by the writer.
TITLES: dict[str, tuple[str, str]] = {
    "summary": ("Статистика использования лицензии", "Licence usage statistics"),
    "days": ("Показатели по дням", "Daily figures"),
    "clients": ("Люди по типам клиентов, по дням", "People by client type, per day"),
    "events": ("Мероприятия периода (созданные или проведённые)", "Events of the range (created or held)"),
    "planned": (
        "Планируемые мероприятия по организаторам (начало позже текущего момента)",
        "Planned events per organizer (starting after now)",
    ),
    "disk": ("Использование диска по владельцам (неудалённые файлы)", "Disk usage per owner (files not deleted)"),
    "devices": (
        "Пользователи по типам клиентов и устройствам (по входам)",
        "Users by client type and device (from logins)",
    ),
    "breaches": (
        "Превышения лимитов лицензии: эпизоды на лимите и сверх него",
        "Licence limit breaches: episodes at and over the limits",
    ),
    "breach_days": ("Время на лимите и сверх него по дням", "Time at and over the limits per day"),
}


def title(key: str, lang: Lang, company_name: str, company_id: str, date_from: date, date_to: date, tz: str) -> str:
    """«What — company — range — timezone», the first row of every sheet."""
    if lang == "en":
        span = f"{date_from.isoformat()} – {date_to.isoformat()}"
        return f"{_pick(TITLES[key], lang)} — {company_name} ({company_id}) — {span} — {zone_label(tz, lang)}"
    span = f"{date_from:%d.%m.%Y} – {date_to:%d.%m.%Y}"
    return f"{_pick(TITLES[key], lang)} — {company_name} ({company_id}) — {span} — {zone_label(tz, lang)}"


# Column headers of the summary sheet; the tables' come from their definitions (metrics/tables.py).
COLUMNS: dict[str, tuple[str, str]] = {
    "section": ("Раздел", "Section"),
    "metric": ("Показатель", "Metric"),
    "value": ("Значение", "Value"),
    "at": ("Момент пика", "Peak at"),
    "limit": ("Лимит лицензии", "Licence limit"),
    "share": ("Использовано лимита", "Share of limit used"),
    "metric_id": ("Код показателя", "Metric id"),
    "kind": ("Что", "What"),
    "start": ("Начало", "Start"),
    "end": ("Конец", "End"),
    "duration": ("Длительность", "Duration"),
    "highest": ("Наибольшее значение", "Highest count"),
    "date": ("Дата", "Date"),
    "day_peak": ("Пик за день", "Peak that day"),
    "at_limit": ("На лимите за день", "At the limit that day"),
    "over_limit": ("Сверх лимита за день", "Over the limit that day"),
    "episodes": ("Эпизодов на лимите за день", "Episodes at the limit that day"),
}

# What an episode is: at or above the limit, or over it.
EPISODE_KINDS: dict[str, tuple[str, str]] = {
    "at": ("На лимите", "At the limit"),
    "over": ("Сверх лимита", "Over the limit"),
}


def episode_kind(kind: str, lang: Lang) -> str:
    return _pick(EPISODE_KINDS[kind], lang)


def no_breaches(lang: Lang) -> str:
    return (
        "No licence limit was reached in this range."
        if lang == "en"
        else "За период ни один лимит лицензии не достигался."
    )


def episodes_left_out(lang: Lang) -> str:
    return (
        "More episodes than a download lists: export a shorter range for the rest."
        if lang == "en"
        else "Эпизодов больше, чем помещается в выгрузку: остальные — за более короткий период."
    )


def column(key: str, lang: Lang) -> str:
    return _pick(COLUMNS[key], lang)


def rows_left_out(shown: int, total: int, lang: Lang) -> str:
    """The last row of a table cut at the size of a sheet."""
    if lang == "en":
        return f"Showing {shown:,} of {total:,} rows: a sheet holds no more. Export a shorter range for the rest."
    shown_ru, total_ru = (f"{n:_}".replace("_", "\u00a0") for n in (shown, total))
    return (
        f"Показаны {shown_ru} из {total_ru} строк: больше на лист не помещается. "
        f"Остальные — в выгрузке за более короткий период."
    )


def table_header(table: str, key: str, lang: Lang) -> str:
    """A table column's header, as the page names it."""
    return TABLES[table].column(key).label(lang)


def no_activity(lang: Lang, date_from: date, date_to: date) -> str:
    """What a download of a range without activity says (the page says the same)."""
    if lang == "en":
        return f"No activity from {date_from.isoformat()} to {date_to.isoformat()}."
    return f"За период {date_from:%d.%m.%Y} – {date_to:%d.%m.%Y} активности не было."
