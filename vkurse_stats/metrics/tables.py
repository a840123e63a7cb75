"""Every dashboard table (events, planned, disk, devices), defined once, and the names of
event types and client types.

A :class:`TableDef` lists the table's columns in the order the store returns them, each with its
type and its ru/en label, which of them the page shows, and the default sort. The query API
checks sorts against it, the dashboard and the API render its columns, CSV and XLSX take their
headers from it: a column added here appears on every surface, under one name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..records import TEMPLATES

# text: free text from the data (titles, names) - sorts А→Я first; id: an identifier;
# label: a value named by this module (template, client); the rest are figures.
ColumnType = Literal["text", "id", "label", "int", "bytes", "instant", "duration"]
Order = Literal["asc", "desc"]
TEXT_TYPES = frozenset({"text", "id", "label"})


def _pick(pair: tuple[str, str], lang: str) -> str:
    return pair[1] if lang == "en" else pair[0]


@dataclass(frozen=True)
class Column:
    key: str
    type: ColumnType
    label_ru: str
    label_en: str
    page: bool = True  # shown on the dashboard (ids stay in the API and the downloads)
    fallback: str | None = None  # shown instead when empty: a person's name falls back to their id
    hint_ru: str | None = None  # what the figure counts, as a header tooltip
    hint_en: str | None = None

    def label(self, lang: str) -> str:
        return self.label_en if lang == "en" else self.label_ru

    def hint(self, lang: str) -> str | None:
        return self.hint_en if lang == "en" else self.hint_ru

    @property
    def numeric(self) -> bool:
        return self.type not in TEXT_TYPES

    @property
    def first_order(self) -> Order:
        """The order of a first click: text А→Я, figures and instants largest/latest first."""
        return "asc" if self.type in TEXT_TYPES else "desc"


@dataclass(frozen=True)
class TableDef:
    id: str
    title_ru: str
    title_en: str
    columns: tuple[Column, ...]  # in the store's order; its first two break ties of any sort
    sort: str
    order: Order = "desc"
    ranged: bool = True  # read over the date range (planned and disk are "now" tables)

    def title(self, lang: str) -> str:
        return self.title_en if lang == "en" else self.title_ru

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(c.key for c in self.columns)

    @property
    def tie_break(self) -> tuple[str, ...]:
        return self.keys[:2]

    @property
    def page_columns(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if c.page)

    @property
    def export_columns(self) -> tuple[Column, ...]:
        """The downloads' order: every column as defined, the ids last."""
        return tuple(c for c in self.columns if c.type != "id") + tuple(c for c in self.columns if c.type == "id")

    def column(self, key: str) -> Column:
        for c in self.columns:
            if c.key == key:
                return c
        raise KeyError(key)


PARTICIPANTS_HINT = (
    "Разных людей за всё мероприятие: пользователь считается один раз, каждое гостевое подключение — отдельно",
    "Different people over the whole event: a user counts once, each guest connection separately",
)
PEAK_HINT = (
    "Наибольшее число подключений в один момент: переподключение и вход с двух устройств — это "
    "новые подключения, поэтому пик может быть больше числа участников",
    "The most connections at one instant: a reconnect or a second device is another connection, "
    "so the peak can exceed the number of participants",
)

TABLES: dict[str, TableDef] = {
    t.id: t
    for t in (
        TableDef(
            "events",
            "Статистика по мероприятиям",
            "Events",
            (
                Column("id", "id", "ID мероприятия", "Event id", page=False),
                Column("title", "text", "Название", "Title", fallback="id"),
                Column("template", "label", "Шаблон", "Template"),
                Column("organizer_id", "id", "ID организатора", "Organizer id", page=False),
                Column("organizer_name", "text", "Организатор", "Organizer", fallback="organizer_id"),
                Column("created_at", "instant", "Создано", "Created"),
                Column("scheduled_start", "instant", "Запланировано на", "Scheduled for"),
                Column("first_join", "instant", "Первое подключение", "First join"),
                Column("last_leave", "instant", "Последнее отключение", "Last leave"),
                Column("duration_s", "duration", "Длительность", "Duration"),
                Column(
                    "participants",
                    "int",
                    "Участников",
                    "Participants",
                    hint_ru=PARTICIPANTS_HINT[0],
                    hint_en=PARTICIPANTS_HINT[1],
                ),
                Column("connections", "int", "Подключений", "Connections", page=False),
                Column(
                    "peak",
                    "int",
                    "Пик одновременных подключений",
                    "Peak concurrent connections",
                    hint_ru=PEAK_HINT[0],
                    hint_en=PEAK_HINT[1],
                ),
                Column("peak_at", "instant", "Время пика", "Peak at", page=False),
            ),
            sort="first_join",
        ),
        TableDef(
            "planned",
            "Планируемые мероприятия",
            "Planned events",
            (
                Column("organizer_id", "id", "ID организатора", "Organizer id", page=False),
                Column("organizer_name", "text", "Организатор", "Organizer", fallback="organizer_id"),
                Column("planned", "int", "Запланировано мероприятий", "Planned events"),
                Column("next_id", "id", "ID ближайшего", "Next event id", page=False),
                Column("next_title", "text", "Ближайшее мероприятие", "Next event", fallback="next_id"),
                Column("next_start", "instant", "Начало ближайшего", "Next start"),
            ),
            sort="planned",
            ranged=False,
        ),
        TableDef(
            "disk",
            "Использование диска",
            "Disk usage",
            (
                Column("owner_id", "id", "ID владельца", "Owner id", page=False),
                Column("owner_name", "text", "Владелец", "Owner", fallback="owner_id"),
                Column("bytes", "bytes", "Занято", "Used"),
                Column("files", "int", "Файлов", "Files"),
            ),
            sort="bytes",
            ranged=False,
        ),
        TableDef(
            "devices",
            "Устройства и клиенты",
            "Devices and clients",
            (
                Column("client", "label", "Тип клиента", "Client type"),
                Column("device", "text", "Устройство", "Device"),
                Column("users", "int", "Пользователей", "Users"),
                Column("logins", "int", "Входов", "Logins"),
            ),
            sort="users",
        ),
    )
}

# --- names of the values -------------------------------------------------------------------------
TEMPLATE_LABELS: dict[str, tuple[str, str]] = {
    "meeting": ("Встреча", "Meeting"),
    "conference": ("Конференция", "Conference"),
    "selector": ("Селектор", "Selector"),
    "lecture": ("Лекция", "Lecture"),
    "webinar": ("Вебинар", "Webinar"),
}
CLIENT_LABELS: dict[str, tuple[str, str]] = {
    "web": ("Браузер", "Browser"),
    "desktop": ("Компьютер (приложение)", "Desktop app"),
    "ios": ("iOS", "iOS"),
    "android": ("Android", "Android"),
    "sip": ("SIP", "SIP"),
    "h323": ("H.323", "H.323"),
    "phone": ("Телефон", "Phone"),
    "unknown": ("Не указан", "Not stated"),
}


# Sizes in decimal units, as the licence is sold (1 ГБ = 10⁹ bytes): the page, both downloads and
# the limit inputs use these (an Excel number format can scale by 1000, not by 1024).
SIZE_UNITS: tuple[tuple[int, str, str], ...] = (
    (1, "Б", "B"),
    (10**3, "КБ", "KB"),
    (10**6, "МБ", "MB"),
    (10**9, "ГБ", "GB"),
    (10**12, "ТБ", "TB"),
)


def size_unit(n: int) -> int:
    """The index in :data:`SIZE_UNITS` of the unit a size of ``n`` bytes is shown in."""
    i = 0
    while i + 1 < len(SIZE_UNITS) and abs(n) >= SIZE_UNITS[i + 1][0]:
        i += 1
    return i


def template_label(template: str | int | None, lang: str) -> str:
    """An event type as the UI names it; the store's integer template code is accepted too."""
    if template is None:
        return ""
    if isinstance(template, int):
        if not 0 <= template < len(TEMPLATES):
            return str(template)
        template = TEMPLATES[template]
    pair = TEMPLATE_LABELS.get(template)
    return _pick(pair, lang) if pair else template


def client_label(client: str, lang: str) -> str:
    """A client type's name (the API keeps the id); an id the platform added later reads as is."""
    pair = CLIENT_LABELS.get(client)
    return _pick(pair, lang) if pair else client


def fold(text: str) -> str:
    """Text as table searches compare it: lower case, ё as е."""
    return text.strip().lower().replace("ё", "е")


def templates_named(search: str) -> list[str]:
    """Templates whose name (in either language) or id contains the folded ``search``."""
    if not search:
        return []
    return [t for t, (ru, en) in TEMPLATE_LABELS.items() if search in fold(ru) or search in fold(en) or search in t]
