"""Result types of the query API (what dashboard, API, exports and CLI render)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import msgspec

from ..store.meta import CompanyInfo
from ..timeutil import to_iso
from .definitions import METRICS


class MetricValue(msgspec.Struct, frozen=True):
    """A figure: its value, the first instant of a peak, and the licence limit it is held to.
    (A msgspec struct: a year's daily series holds thousands of them, built per request.)"""

    value: int
    at: int | None = None  # first instant of a peak, epoch microseconds
    limit: int | None = None  # the limit in force at the peak (or, without one, at the end)
    # A limited peak's time at or above its limits and over them (microseconds), and how many
    # times each began (SPEC 4a; an episode crossing midnight counts on both days).
    breach: tuple[int, int, int, int] | None = None

    def as_json(self, tz: str, *, with_limit: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {"value": self.value}
        if self.at is not None or self.limit is not None:
            out["at"] = to_iso(self.at, tz)
        if with_limit and self.limit is not None:
            out["limit"] = self.limit
        if self.breach is not None:
            at_us, over_us, at_n, over_n = self.breach
            out["at_limit_seconds"] = at_us / 1_000_000
            out["over_limit_seconds"] = over_us / 1_000_000
            out["episodes"] = at_n
            out["over_episodes"] = over_n
        return out

    @property
    def share(self) -> float | None:
        """The share of the licence limit used (1.0 = the whole limit)."""
        if self.limit is None or self.limit == 0:
            return None
        return self.value / self.limit


@dataclass(frozen=True)
class Summary:
    company: CompanyInfo
    date_from: date
    date_to: date
    metrics: dict[str, MetricValue]

    @property
    def timezone(self) -> str:
        return self.company.timezone

    def as_json(self) -> dict[str, Any]:
        tz = self.timezone
        return {
            "company": self.company.as_json(),
            "from": self.date_from.isoformat(),
            "to": self.date_to.isoformat(),
            "timezone": tz,
            "metrics": {m.id: self.metrics[m.id].as_json(tz) for m in METRICS},
        }


@dataclass(frozen=True)
class Day:
    date: date
    metrics: dict[str, MetricValue]
    clients: dict[str, int] = field(default_factory=dict)

    def as_json(self, tz: str) -> dict[str, Any]:
        return {
            "date": self.date.isoformat(),
            "metrics": {m.id: self.metrics[m.id].as_json(tz) for m in METRICS},
            "clients": dict(sorted(self.clients.items())),
        }


@dataclass(frozen=True)
class Page:
    """One page of a table: rows as dicts (timestamps as epoch microseconds), and the total."""

    rows: list[dict[str, Any]]
    total: int
    sort: str
    order: str
    limit: int
    offset: int
    columns: tuple[str, ...] = ()
