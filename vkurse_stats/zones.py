"""Time zones as people name them: "Москва (UTC+3)" rather than ``Europe/Moscow``.

The support forms offer every IANA zone by such a label (a searchable list) and accept a label
back, in either language, or an IANA id typed as is; the pages show a company's zone the same
way. The offset in a label is the one in force now (zones with summer time change it), so a
label is matched by its place name, not its offset.
"""

from __future__ import annotations

import functools
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, available_timezones

from .records import DEFAULT_TIMEZONE

# Place names of the zones our customers use, Russian first; other zones are named after the
# last part of their id ("America/Argentina/Buenos_Aires" -> "Buenos Aires").
NAMES: dict[str, tuple[str, str]] = {
    "Europe/Kaliningrad": ("Калининград", "Kaliningrad"),
    "Europe/Moscow": ("Москва", "Moscow"),
    "Europe/Simferopol": ("Симферополь", "Simferopol"),
    "Europe/Kirov": ("Киров", "Kirov"),
    "Europe/Volgograd": ("Волгоград", "Volgograd"),
    "Europe/Astrakhan": ("Астрахань", "Astrakhan"),
    "Europe/Saratov": ("Саратов", "Saratov"),
    "Europe/Ulyanovsk": ("Ульяновск", "Ulyanovsk"),
    "Europe/Samara": ("Самара", "Samara"),
    "Asia/Yekaterinburg": ("Екатеринбург", "Yekaterinburg"),
    "Asia/Omsk": ("Омск", "Omsk"),
    "Asia/Novosibirsk": ("Новосибирск", "Novosibirsk"),
    "Asia/Barnaul": ("Барнаул", "Barnaul"),
    "Asia/Tomsk": ("Томск", "Tomsk"),
    "Asia/Novokuznetsk": ("Новокузнецк", "Novokuznetsk"),
    "Asia/Krasnoyarsk": ("Красноярск", "Krasnoyarsk"),
    "Asia/Irkutsk": ("Иркутск", "Irkutsk"),
    "Asia/Chita": ("Чита", "Chita"),
    "Asia/Yakutsk": ("Якутск", "Yakutsk"),
    "Asia/Khandyga": ("Хандыга", "Khandyga"),
    "Asia/Vladivostok": ("Владивосток", "Vladivostok"),
    "Asia/Ust-Nera": ("Усть-Нера", "Ust-Nera"),
    "Asia/Magadan": ("Магадан", "Magadan"),
    "Asia/Sakhalin": ("Южно-Сахалинск", "Yuzhno-Sakhalinsk"),
    "Asia/Srednekolymsk": ("Среднеколымск", "Srednekolymsk"),
    "Asia/Kamchatka": ("Петропавловск-Камчатский", "Petropavlovsk-Kamchatsky"),
    "Asia/Anadyr": ("Анадырь", "Anadyr"),
    "Europe/Minsk": ("Минск", "Minsk"),
    "Europe/Kyiv": ("Киев", "Kyiv"),
    "Europe/Chisinau": ("Кишинёв", "Chisinau"),
    "Europe/Riga": ("Рига", "Riga"),
    "Europe/Vilnius": ("Вильнюс", "Vilnius"),
    "Europe/Tallinn": ("Таллин", "Tallinn"),
    "Asia/Almaty": ("Алматы", "Almaty"),
    "Asia/Qostanay": ("Костанай", "Kostanay"),
    "Asia/Aqtobe": ("Актобе", "Aktobe"),
    "Asia/Aqtau": ("Актау", "Aktau"),
    "Asia/Atyrau": ("Атырау", "Atyrau"),
    "Asia/Oral": ("Уральск", "Oral"),
    "Asia/Qyzylorda": ("Кызылорда", "Kyzylorda"),
    "Asia/Tashkent": ("Ташкент", "Tashkent"),
    "Asia/Samarkand": ("Самарканд", "Samarkand"),
    "Asia/Bishkek": ("Бишкек", "Bishkek"),
    "Asia/Dushanbe": ("Душанбе", "Dushanbe"),
    "Asia/Ashgabat": ("Ашхабад", "Ashgabat"),
    "Asia/Baku": ("Баку", "Baku"),
    "Asia/Yerevan": ("Ереван", "Yerevan"),
    "Asia/Tbilisi": ("Тбилиси", "Tbilisi"),
    "Asia/Ulaanbaatar": ("Улан-Батор", "Ulaanbaatar"),
    "Europe/London": ("Лондон", "London"),
    "Europe/Dublin": ("Дублин", "Dublin"),
    "Europe/Lisbon": ("Лиссабон", "Lisbon"),
    "Europe/Berlin": ("Берлин", "Berlin"),
    "Europe/Paris": ("Париж", "Paris"),
    "Europe/Rome": ("Рим", "Rome"),
    "Europe/Madrid": ("Мадрид", "Madrid"),
    "Europe/Amsterdam": ("Амстердам", "Amsterdam"),
    "Europe/Brussels": ("Брюссель", "Brussels"),
    "Europe/Vienna": ("Вена", "Vienna"),
    "Europe/Zurich": ("Цюрих", "Zurich"),
    "Europe/Prague": ("Прага", "Prague"),
    "Europe/Warsaw": ("Варшава", "Warsaw"),
    "Europe/Budapest": ("Будапешт", "Budapest"),
    "Europe/Belgrade": ("Белград", "Belgrade"),
    "Europe/Sofia": ("София", "Sofia"),
    "Europe/Bucharest": ("Бухарест", "Bucharest"),
    "Europe/Athens": ("Афины", "Athens"),
    "Europe/Helsinki": ("Хельсинки", "Helsinki"),
    "Europe/Stockholm": ("Стокгольм", "Stockholm"),
    "Europe/Oslo": ("Осло", "Oslo"),
    "Europe/Copenhagen": ("Копенгаген", "Copenhagen"),
    "Europe/Istanbul": ("Стамбул", "Istanbul"),
    "Asia/Jerusalem": ("Иерусалим", "Jerusalem"),
    "Asia/Dubai": ("Дубай", "Dubai"),
    "Asia/Tehran": ("Тегеран", "Tehran"),
    "Asia/Karachi": ("Карачи", "Karachi"),
    "Asia/Kolkata": ("Индия (Калькутта)", "India (Kolkata)"),
    "Asia/Kathmandu": ("Катманду", "Kathmandu"),
    "Asia/Dhaka": ("Дакка", "Dhaka"),
    "Asia/Bangkok": ("Бангкок", "Bangkok"),
    "Asia/Ho_Chi_Minh": ("Хошимин", "Ho Chi Minh City"),
    "Asia/Jakarta": ("Джакарта", "Jakarta"),
    "Asia/Singapore": ("Сингапур", "Singapore"),
    "Asia/Shanghai": ("Пекин, Шанхай", "Beijing, Shanghai"),
    "Asia/Hong_Kong": ("Гонконг", "Hong Kong"),
    "Asia/Seoul": ("Сеул", "Seoul"),
    "Asia/Tokyo": ("Токио", "Tokyo"),
    "Africa/Cairo": ("Каир", "Cairo"),
    "Africa/Johannesburg": ("Йоханнесбург", "Johannesburg"),
    "Africa/Lagos": ("Лагос", "Lagos"),
    "Africa/Nairobi": ("Найроби", "Nairobi"),
    "America/New_York": ("Нью-Йорк", "New York"),
    "America/Chicago": ("Чикаго", "Chicago"),
    "America/Denver": ("Денвер", "Denver"),
    "America/Los_Angeles": ("Лос-Анджелес", "Los Angeles"),
    "America/Toronto": ("Торонто", "Toronto"),
    "America/Mexico_City": ("Мехико", "Mexico City"),
    "America/Havana": ("Гавана", "Havana"),
    "America/Sao_Paulo": ("Сан-Паулу", "São Paulo"),
    "America/Argentina/Buenos_Aires": ("Буэнос-Айрес", "Buenos Aires"),
    "Australia/Sydney": ("Сидней", "Sydney"),
    "Pacific/Auckland": ("Окленд", "Auckland"),
    "UTC": ("UTC", "UTC"),
}
# Russia's zones, west to east (NAMES begins with them): first in the list.
RUSSIA = tuple(NAMES)[: tuple(NAMES).index("Asia/Anadyr") + 1]
_AREAS = ("Africa/", "America/", "Antarctica/", "Asia/", "Atlantic/", "Australia/", "Europe/", "Indian/", "Pacific/")
# "Москва (UTC+3)": the trailing offset a label carries, dropped before it is matched.
_OFFSET = re.compile(r"\s*\(\s*(UTC|GMT)\s*[^)]*\)\s*$", re.I)


@dataclass(frozen=True)
class Zone:
    id: str
    name: str
    label: str
    offset_minutes: int


def _fold(text: str) -> str:
    return " ".join(text.replace("ё", "е").replace("Ё", "Е").casefold().split())


@functools.cache
def zone_ids() -> tuple[str, ...]:
    """The zones offered: every IANA zone of a continent or ocean, and UTC."""
    ids = {z for z in available_timezones() if z.startswith(_AREAS)} | {"UTC"}
    return tuple(sorted(ids))


def _plain_name(zone_id: str) -> str:
    return zone_id.split("/", 1)[-1].split("/")[-1].replace("_", " ")


@functools.cache
def _names(lang: str) -> dict[str, str]:
    """Each zone's place name in ``lang``; names two zones share get the zone's id added."""
    i = 1 if lang == "en" else 0
    names = {z: NAMES[z][i] if z in NAMES else _plain_name(z) for z in zone_ids()}
    seen: dict[str, int] = {}
    for name in names.values():
        seen[_fold(name)] = seen.get(_fold(name), 0) + 1
    return {z: name if seen[_fold(name)] == 1 or z in NAMES else f"{name} · {z}" for z, name in names.items()}


def _offset_text(minutes: int) -> str:
    sign = "+" if minutes >= 0 else "\u2212"
    h, m = divmod(abs(minutes), 60)
    return f"UTC{sign}{h}" + (f":{m:02d}" if m else "")


def _offset_minutes(zone_id: str, at: datetime) -> int:
    delta = at.astimezone(ZoneInfo(zone_id)).utcoffset() or timedelta(0)
    return int(delta.total_seconds() // 60)


def label(zone_id: str, lang: str, at: datetime | None = None) -> str:
    """ "Москва (UTC+3)" for ``Europe/Moscow``; an id we do not offer is shown as it is."""
    names = _names(lang)
    if zone_id not in names:
        return zone_id
    if zone_id == "UTC":
        return "UTC"
    return f"{names[zone_id]} ({_offset_text(_offset_minutes(zone_id, at or datetime.now(UTC)))})"


@functools.lru_cache(maxsize=8)
def _choices(lang: str, hour: int) -> tuple[Zone, ...]:
    at = datetime.fromtimestamp(hour * 3600, tz=UTC)
    names = _names(lang)
    russian = [z for z in RUSSIA if z in names]
    rest = [z for z in zone_ids() if z not in RUSSIA]
    zones = [Zone(z, names[z], label(z, lang, at), _offset_minutes(z, at)) for z in (*russian, *rest)]
    head, tail = zones[: len(russian)], zones[len(russian) :]
    tail.sort(key=lambda z: (z.offset_minutes, _fold(z.name)))
    return (*head, *tail)


def choices(lang: str) -> tuple[Zone, ...]:
    """Every offered zone with its label now: Russia's zones west to east, then the others by
    offset."""
    return _choices(lang, int(time.time() // 3600))


@functools.cache
def _by_name() -> dict[str, str]:
    out: dict[str, str] = {}
    for lang in ("en", "ru"):
        for zone_id, name in _names(lang).items():
            out.setdefault(_fold(name), zone_id)
    return out


@functools.cache
def _by_id() -> dict[str, str]:
    return {z.casefold(): z for z in zone_ids()}


def resolve(text: str) -> str:
    """The IANA id a form's value names: a label in either language (with or without its
    offset), or an id. A value naming no zone comes back as given, for validation to refuse."""
    raw = text.strip()
    if not raw:
        return DEFAULT_TIMEZONE
    if raw.casefold() in _by_id():
        return _by_id()[raw.casefold()]
    return _by_name().get(_fold(_OFFSET.sub("", raw)), raw)
