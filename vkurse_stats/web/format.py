"""How figures read on the pages: numbers, sizes, instants, durations, date-range presets.

Russian groups digits with a (no-break) space and uses a decimal comma; English uses a comma and
a point. Instants are shown in the company's timezone, since "the peak was at 10:02" must mean
10:02 on the company's clocks.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from ..metrics.tables import SIZE_UNITS, size_unit
from ..timeutil import US, zone
from .i18n import translate

NBSP = "\u00a0"


def fmt_int(value: int | float | None, lang: str) -> str:
    if value is None:
        return "—"
    text = f"{int(value):,}"
    return text.replace(",", NBSP) if lang != "en" else text


def fmt_pct(share: float | None, lang: str) -> str:
    if share is None:
        return ""
    text = f"{share * 100:.0f}\u202f%" if lang != "en" else f"{share * 100:.0f}%"
    return text


def fmt_bytes(n: int | None, lang: str) -> str:
    """A size in decimal units, one decimal above a byte, rounded half up as Excel rounds
    (1,5 ГБ / 1.5 GB): the same text the XLSX shows for the same bytes."""
    if n is None:
        return "—"
    i = size_unit(n)
    scale, ru, en = SIZE_UNITS[i]
    if i == 0:
        num = f"{n:,}"
    else:
        value = (Decimal(n) / scale).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
        num = f"{value:,.1f}"
    if lang != "en":
        num = num.replace(",", NBSP).replace(".", ",")
    return f"{num}{NBSP}{en if lang == 'en' else ru}"


def exact_size(n: int) -> str:
    """A size in the largest decimal unit that states it exactly (for editing: "1500 GB", never
    a rounded "1.5 TB" that would change the value when the form is saved again)."""
    for unit, name in ((10**12, "TB"), (10**9, "GB"), (10**6, "MB"), (10**3, "KB")):
        if n and n % unit == 0:
            return f"{n // unit} {name}"
    return str(n)


_SIZE = re.compile(r"^(\d+(?:[.,]\d+)?)([a-zа-я]*)$")
_SIZE_NAMES = {
    "": 1,
    "b": 1,
    "б": 1,
    "kb": 10**3,
    "кб": 10**3,
    "mb": 10**6,
    "мб": 10**6,
    "gb": 10**9,
    "гб": 10**9,
    "tb": 10**12,
    "тб": 10**12,
}


def parse_size(text: str) -> int | None:
    """A size typed as "3 TB", "500 ГБ", "1,5 тб" or bytes, in decimal units; None if it is not
    one (the inverse of :func:`exact_size`)."""
    raw = text.strip().replace("\u00a0", "").replace(" ", "").lower()
    m = _SIZE.match(raw)
    if not m or m.group(2) not in _SIZE_NAMES:
        return None
    return int(Decimal(m.group(1).replace(",", ".")) * _SIZE_NAMES[m.group(2)])


def local_dt(us: int, tz: str) -> datetime:
    return datetime.fromtimestamp(us // US, tz=UTC).astimezone(zone(tz))


def fmt_dt(us: int | None, tz: str, lang: str) -> str:
    if us is None:
        return "—"
    dt = local_dt(us, tz)
    return dt.strftime("%d.%m.%Y %H:%M") if lang != "en" else dt.strftime("%Y-%m-%d %H:%M")


HOUR_US = 3600 * US
_HHMM = [f"{m // 60:02d}:{m % 60:02d}" for m in range(1440)]


@functools.lru_cache(maxsize=1 << 16)
def _hour_offset(hour: int, tz: str) -> int | None:
    """The zone's UTC offset (µs) through the whole UTC hour ``hour``, None if it changes within."""
    first, last = local_dt(hour * HOUR_US, tz).utcoffset(), local_dt((hour + 1) * HOUR_US - 1, tz).utcoffset()
    return None if first != last or first is None else first // timedelta(microseconds=1)


def fmt_hhmm(us: int, tz: str) -> str:
    """The local clock time of an instant (charts show thousands: the zone's offset is looked up
    once per hour, the text once per minute of the day)."""
    offset = _hour_offset(us // HOUR_US, tz)
    if offset is None:  # the hour of a clock change
        dt = local_dt(us, tz)
        return _HHMM[dt.hour * 60 + dt.minute]
    return _HHMM[(us + offset) // (60 * US) % 1440]


def fmt_date(d: date, lang: str) -> str:
    return d.strftime("%d.%m.%Y") if lang != "en" else d.isoformat()


def fmt_duration(seconds: int | float | None, lang: str) -> str:
    if seconds is None:
        return "—"
    s = int(seconds)
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    if h:
        return f"{h}{NBSP}{translate(lang, 'unit.h')} {m:02d}{NBSP}{translate(lang, 'unit.min')}"
    if m:
        return f"{m}{NBSP}{translate(lang, 'unit.min')} {sec:02d}{NBSP}{translate(lang, 'unit.s')}"
    return f"{sec}{NBSP}{translate(lang, 'unit.s')}"


def fmt_epoch(seconds: float | None) -> str:
    """A wall-clock instant stored as epoch seconds (accounts, audit), in UTC."""
    if seconds is None:
        return "—"
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def today_in(tz: str, now_us: int) -> date:
    return local_dt(now_us, tz).date()


def _month_end(d: date) -> date:
    nxt = date(d.year + (d.month == 12), d.month % 12 + 1, 1)
    return nxt - timedelta(days=1)


def presets(today: date) -> dict[str, tuple[date, date]]:
    """The date-range shortcuts of the dashboard (whole calendar periods containing today)."""
    month_start = today.replace(day=1)
    last_end = month_start - timedelta(days=1)
    q_first_month = 3 * ((today.month - 1) // 3) + 1
    q_start = date(today.year, q_first_month, 1)
    q_end = _month_end(date(today.year, q_first_month + 2, 1))
    return {
        "this_month": (month_start, _month_end(today)),
        "last_month": (last_end.replace(day=1), last_end),
        "quarter": (q_start, q_end),
        "year": (date(today.year, 1, 1), date(today.year, 12, 31)),
    }
