"""Helpers of the export tests: a hand-built query result set, and readers of the files.

:class:`FakeQuery` answers the query API's methods from fixed objects, so the rendering tests
know every figure in advance; the figures of a real store are checked in
``test_export_integration.py``.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl
from openpyxl.workbook.workbook import Workbook

from vkurse_stats.metrics.definitions import METRICS
from vkurse_stats.metrics.model import Day, MetricValue, Page, Summary
from vkurse_stats.store.meta import CompanyInfo

TZ = "Asia/Yekaterinburg"  # +05:00, not the default zone: a wrong zone shows up as 2 hours
TZ_RU, TZ_EN = "Екатеринбург (UTC+5)", "Yekaterinburg (UTC+5)"  # how the downloads name it


def us(text: str) -> int:
    """Epoch microseconds of an ISO 8601 instant with an offset."""
    dt = datetime.fromisoformat(text)
    return int(dt.timestamp()) * 1_000_000 + dt.microsecond


def local(us_value: int, tz: str = TZ) -> datetime:
    """What a sheet must show for an instant: naive wall-clock time in ``tz``."""
    base = datetime.fromtimestamp(us_value // 1_000_000, ZoneInfo(tz))
    return base.replace(microsecond=us_value % 1_000_000, tzinfo=None)


@dataclass
class FakeQuery:
    """The query API's signatures over fixed results (rendering tests only)."""

    summary_: Summary
    days_: list[Day]
    events_: list[dict[str, Any]] = field(default_factory=list)
    planned_: list[dict[str, Any]] = field(default_factory=list)
    disk_: list[dict[str, Any]] = field(default_factory=list)
    devices_: list[dict[str, Any]] = field(default_factory=list)
    calls: list[tuple[str, int, int]] = field(default_factory=list)
    breaches_: dict[str, Any] = field(default_factory=lambda: {"metrics": {}})
    history_: dict[str, list[tuple[int, int | None]]] = field(default_factory=dict)

    @property
    def rollups(self) -> FakeQuery:
        return self  # limit_histories below

    def limit_histories(self, company_ids: Any) -> dict[str, Any]:
        return {c: self.history_ for c in company_ids}

    def breaches(
        self, company_id: str, date_from: date, date_to: date, metric: str | None = None, max_episodes: int = 500
    ) -> dict[str, Any]:
        self._check(company_id)
        return self.breaches_

    def _check(self, company_id: str) -> None:
        if company_id != self.summary_.company.id:
            raise KeyError(company_id)

    def summary(self, company_id: str, date_from: date, date_to: date) -> Summary:
        self._check(company_id)
        return replace(self.summary_, date_from=date_from, date_to=date_to)

    def daily(self, company_id: str, date_from: date, date_to: date) -> list[Day]:
        self._check(company_id)
        return list(self.days_)

    def report(self, company_id: str, date_from: date, date_to: date) -> tuple[Summary, list[Day]]:
        return self.summary(company_id, date_from, date_to), self.daily(company_id, date_from, date_to)

    def _page(self, name: str, rows: list[dict[str, Any]], limit: int, offset: int) -> Page:
        self.calls.append((name, limit, offset))
        return Page(rows[offset : offset + limit], len(rows), "x", "desc", limit, offset)

    def events(
        self,
        company_id: str,
        date_from: date,
        date_to: date,
        *,
        sort: str = "first_join",
        order: str = "desc",
        search: str = "",
        limit: int = 50,
        offset: int = 0,
    ) -> Page:
        self._check(company_id)
        return self._page("events", self.events_, limit, offset)

    def planned(
        self,
        company_id: str,
        *,
        sort: str = "planned",
        order: str = "desc",
        search: str = "",
        limit: int = 50,
        offset: int = 0,
    ) -> Page:
        self._check(company_id)
        return self._page("planned", self.planned_, limit, offset)

    def disk(
        self,
        company_id: str,
        *,
        sort: str = "bytes",
        order: str = "desc",
        search: str = "",
        limit: int = 50,
        offset: int = 0,
    ) -> Page:
        self._check(company_id)
        return self._page("disk", self.disk_, limit, offset)

    def devices(
        self,
        company_id: str,
        date_from: date,
        date_to: date,
        *,
        sort: str = "users",
        order: str = "desc",
        search: str = "",
        limit: int = 50,
        offset: int = 0,
    ) -> Page:
        self._check(company_id)
        return self._page("devices", self.devices_, limit, offset)


FROM, TO = date(2026, 3, 1), date(2026, 3, 3)
LIMITS = {
    "concurrent_speakers": 20,
    "concurrent_events": 5,
    "concurrent_connections": None,
    "storage_bytes": 10_000_000_000,
}


def make_days(date_from: date = FROM, n: int = 3) -> list[Day]:
    """``n`` days with a distinct figure in every metric (day i, metric j -> 1000*i + j + 1)."""
    days = []
    for i in range(n):
        d = date_from + timedelta(days=i)
        metrics = {}
        for j, m in enumerate(METRICS):
            value = 1000 * i + j + 1
            at = us(f"{d.isoformat()}T10:{j:02d}:07+05:00") if m.is_peak else None
            metrics[m.id] = MetricValue(value, at)
        if i == 1:  # a day without any peak: no moment to show
            metrics["total.events"] = MetricValue(0, None)
        clients = {"web": 10 + i, "ios": 3} if i != 2 else {"desktop": 7}
        days.append(Day(d, metrics, clients))
    days[0].metrics["storage.total_bytes"] = MetricValue(1_234_567_890_123)
    days[0].metrics["total.connections"] = MetricValue(17, us("2026-03-01T10:02:00.250000+05:00"))
    return days


def make_summary(company: CompanyInfo, days: Sequence[Day]) -> Summary:
    """The range figures the query API would give for ``days`` (peaks: greatest, counts: sums)."""
    out = {}
    for m in METRICS:
        limit = company.limits.get(m.limit) if m.limit else None
        values = [d.metrics[m.id] for d in days]
        if m.combine == "max":
            best = max(values, key=lambda v: v.value)
            out[m.id] = MetricValue(best.value, best.at, limit)
        elif m.combine == "sum":
            out[m.id] = MetricValue(sum(v.value for v in values), None, limit)
        else:
            out[m.id] = MetricValue(values[-1].value, None, limit)
    return Summary(company, days[0].date, days[-1].date, out)


def make_query(name: str = "ООО «Ромашка»", company_id: str = "romashka", n_events: int = 3) -> FakeQuery:
    company = CompanyInfo(company_id, name, TZ, dict(LIMITS))
    days = make_days()
    events = [
        {
            "id": f"ev{i}",
            "title": f"Планёрка {i}",
            "template": "meeting" if i % 2 else "webinar",
            "organizer_id": f"u{i}",
            "organizer_name": f"Иванов {i}",
            "created_at": us("2026-02-27T09:00:00+05:00") + i * 1_000_000,
            "scheduled_start": None if i == 0 else us("2026-03-01T10:00:00+05:00"),
            "first_join": us("2026-03-01T10:01:00+05:00"),
            "last_leave": us("2026-03-01T11:31:30+05:00"),
            "duration_s": 5490,
            "participants": 12 + i,
            "connections": 15 + i,
            "peak": 9,
            "peak_at": us("2026-03-01T10:05:00+05:00"),
        }
        for i in range(n_events)
    ]
    planned: list[dict[str, Any]] = [
        {
            "organizer_id": "u1",
            "organizer_name": "Иванов 1",
            "planned": 4,
            "next_id": "ev9",
            "next_title": "Ретро",
            "next_start": us("2026-04-01T09:00:00+05:00"),
        }
    ]
    disk: list[dict[str, Any]] = [
        {"owner_id": "u1", "owner_name": "Иванов 1", "bytes": 5_368_709_120, "files": 42},
        {"owner_id": "u2", "owner_name": None, "bytes": 512, "files": 1},
    ]
    devices: list[dict[str, Any]] = [
        {"client": "web", "device": "Windows 11", "users": 8, "logins": 30},
        {"client": "ios", "device": "iPhone 15", "users": 2, "logins": 5},
    ]
    return FakeQuery(make_summary(company, days), days, events, planned, disk, devices)


# --- readers -------------------------------------------------------------------------------------
def read_csv(data: bytes, sep: str = ";") -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf"), "UTF-8 BOM"
    return list(csv.reader(io.StringIO(data[3:].decode("utf-8"), newline=""), delimiter=sep))


def csv_moment(text: str) -> datetime | None:
    """A CSV peak time (either decimal mark) as a naive datetime; ``None`` for an empty cell."""
    return datetime.fromisoformat(text.replace(",", ".")) if text else None


def read_xlsx(data: bytes) -> Workbook:
    return openpyxl.load_workbook(io.BytesIO(data))


def sheet_rows(wb: Workbook, name: str) -> list[tuple[Any, ...]]:
    return [tuple(c.value for c in row) for row in wb[name].iter_rows()]


def ooxml_text(value: Any) -> Any:
    """A cell's text with OOXML ``_xHHHH_`` escapes decoded: the export writes control characters
    such as CR that way; Excel and LibreOffice decode them, openpyxl leaves inline strings as is."""
    if not isinstance(value, str):
        return value
    return re.sub(r"_x([0-9A-Fa-f]{4})_", lambda m: chr(int(m.group(1), 16)), value)


def xlsx_parts(data: bytes) -> dict[str, str]:
    """The XML parts of a workbook, by name (to look at what openpyxl does not load: charts)."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {n: z.read(n).decode("utf-8") for n in z.namelist() if n.endswith((".xml", ".rels"))}
