"""Instants and calendar days.

Instants are int64 epoch microseconds (UTC) everywhere inside the product. A *day* is a calendar
day in a company's timezone; :class:`DayGrid` maps instants to day numbers for a span of days,
so that bucketing millions of timestamps is one ``searchsorted`` instead of a timezone call each.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import numpy.typing as npt

US = 1_000_000
EPOCH_DATE = date(1970, 1, 1)


def day_number(d: date) -> int:
    """Days since 1970-01-01 (the integer we store for a calendar day)."""
    return (d - EPOCH_DATE).days


def day_from_number(n: int) -> date:
    return EPOCH_DATE + timedelta(days=int(n))


@lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``; raises ``ValueError`` with a clear message if unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown timezone {name!r} (expected an IANA name such as Europe/Moscow)") from exc


def day_start_us(d: date, tz: str) -> int:
    """The first instant of calendar day ``d`` in zone ``tz``, as epoch microseconds."""
    local = datetime.combine(d, time(0), tzinfo=zone(tz))
    return int(local.timestamp()) * US


def to_iso(us: int | None, tz: str) -> str | None:
    """Epoch microseconds as ISO 8601 in zone ``tz`` (seconds, or microseconds when present)."""
    if us is None:
        return None
    dt = datetime.fromtimestamp(us // US, tz=UTC).replace(microsecond=us % US)
    return dt.astimezone(zone(tz)).isoformat()


def local_hour(us: int, tz: str) -> int:
    """The wall-clock hour of an instant in ``tz``."""
    return datetime.fromtimestamp(us / 1_000_000, tz=UTC).astimezone(zone(tz)).hour


def local_date(us: int, tz: str) -> date:
    return datetime.fromtimestamp(us / US, tz=UTC).astimezone(zone(tz)).date()


@lru_cache(maxsize=1 << 16)
def _day_start_of_number(n: int, tz: str) -> int:
    """:func:`day_start_us` of day number ``n`` (grids ask for the same days again and again)."""
    return day_start_us(day_from_number(n), tz)


class DayGrid:
    """Day boundaries of ``tz`` for day numbers ``first .. last`` (inclusive)."""

    def __init__(self, tz: str, first: int, last: int) -> None:
        self.tz = tz
        self.first = first
        self.last = last
        self.starts: npt.NDArray[np.int64] = np.array(
            [_day_start_of_number(n, tz) for n in range(first, last + 2)], dtype=np.int64
        )

    @classmethod
    def of_starts(cls, starts: npt.NDArray[np.int64], tz: str = "UTC") -> DayGrid:
        """A grid of the given day boundaries, its days numbered from 0 (many companies' windows
        laid end to end on one timeline: see Rollups._sweep_windows)."""
        grid = cls.__new__(cls)
        grid.tz, grid.first, grid.last, grid.starts = tz, 0, len(starts) - 2, starts
        return grid

    def part(self, first: int, last: int) -> DayGrid:
        """The days ``first .. last`` of this grid, as a grid of their own."""
        grid = DayGrid.__new__(DayGrid)
        grid.tz, grid.first, grid.last = self.tz, first, last
        grid.starts = self.starts[first - self.first : last - self.first + 2]
        return grid

    @classmethod
    def covering(cls, tz: str, lo_us: int, hi_us: int) -> DayGrid:
        """A grid whose days cover the instants ``lo_us .. hi_us``."""
        return cls(tz, day_number(local_date(lo_us, tz)), day_number(local_date(hi_us, tz)))

    def day_of(self, ts: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """Day number of each instant (instants must lie inside the grid)."""
        return np.searchsorted(self.starts, ts, side="right").astype(np.int64) - 1 + self.first

    def start(self, day: int) -> int:
        return int(self.starts[day - self.first])

    def end(self, day: int) -> int:
        return int(self.starts[day - self.first + 1])
