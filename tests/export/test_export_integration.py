"""The files agree with the dashboard: every figure of both exports equals the query API's
summary and daily answers (what ``/api/v1/summary`` and ``/api/v1/daily`` serve) over a real
store seeded through the real write path."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from tests.export.export_support import csv_moment, ooxml_text, read_csv, read_xlsx, sheet_rows
from vkurse_stats.export import export_csv, export_xlsx
from vkurse_stats.export.labels import section_label
from vkurse_stats.metrics.definitions import METRICS, PEAK_IDS
from vkurse_stats.metrics.insight import LIMITED
from vkurse_stats.metrics.tables import client_label
from vkurse_stats.service import Services
from vkurse_stats.timeutil import zone

TZ = "Europe/Moscow"
TZ_RU, TZ_EN = "Москва (UTC+3)", "Moscow (UTC+3)"  # how the downloads name it
D1, D3 = date(2026, 3, 1), date(2026, 3, 3)
HOSTILE = '=HYPERLINK("http://evil.example","click")'


def _records() -> list[dict[str, Any]]:
    c = "acme"
    ev = {"kind": "event", "company_id": c}
    conn = {"kind": "connection", "company_id": c}
    return [
        {
            "kind": "company",
            "id": c,
            "name": "ООО «Ромашка»",
            "timezone": TZ,
            "limits": {
                "concurrent_speakers": 3,
                "concurrent_events": 2,
                "concurrent_connections": 4,
                "storage_bytes": 1_000_000_000,
            },
        },
        {
            "kind": "user",
            "id": "u1",
            "company_id": c,
            "registered_at": "2026-02-01T10:00:00+03:00",
            "name": "Иванов Иван",
        },
        {
            "kind": "user",
            "id": "u2",
            "company_id": c,
            "registered_at": "2026-03-02T09:00:00+03:00",
            "name": "+7 999 000-00-00",
        },
        {
            "kind": "user",
            "id": "u3",
            "company_id": c,
            "registered_at": "2026-03-01T09:00:00+03:00",
            "deleted_at": "2026-03-03T09:00:00+03:00",
        },
        {
            **ev,
            "id": "e1",
            "template": "meeting",
            "title": "Планёрка",
            "organizer_id": "u1",
            "created_at": "2026-02-28T12:00:00+03:00",
            "scheduled_start": "2026-03-02T10:00:00+03:00",
        },
        {
            **ev,
            "id": "e2",
            "template": "webinar",
            "title": HOSTILE,
            "organizer_id": "u2",
            "created_at": "2026-03-02T12:00:00+03:00",
        },
        {
            **ev,
            "id": "e3",
            "template": "conference",
            "title": "@SUM(A1)",
            "organizer_id": "u2",
            "created_at": "2026-03-03T12:00:00+03:00",
            "scheduled_start": "2026-04-01T10:00:00+03:00",
        },
        {
            **ev,
            "id": "e4",
            "template": "lecture",
            "title": "Отменена",
            "organizer_id": "u2",
            "created_at": "2026-03-03T12:00:00+03:00",
            "scheduled_start": "2026-04-02T10:00:00+03:00",
            "cancelled_at": "2026-03-03T13:00:00+03:00",
        },
        {
            **conn,
            "id": "c1",
            "event_id": "e1",
            "event_template": "meeting",
            "transport": "webrtc",
            "joined_at": "2026-03-02T10:00:00+03:00",
            "left_at": "2026-03-02T11:00:00+03:00",
            "user_id": "u1",
            "client": "web",
            "device": "Windows 11",
        },
        {
            **conn,
            "id": "c2",
            "event_id": "e1",
            "event_template": "meeting",
            "transport": "webrtc",
            "joined_at": "2026-03-02T10:30:00+03:00",
            "left_at": "2026-03-02T12:00:00+03:00",
            "user_id": "u2",
            "client": "desktop",
        },
        {
            **conn,
            "id": "c3",
            "event_id": "e1",
            "event_template": "meeting",
            "transport": "webrtc",
            "joined_at": "2026-03-02T10:45:00+03:00",
            "left_at": "2026-03-02T10:50:00+03:00",
            "client": "ios",
        },
        # a webinar across midnight, one viewer still connected
        {
            **conn,
            "id": "c4",
            "event_id": "e2",
            "event_template": "webinar",
            "transport": "webrtc",
            "joined_at": "2026-03-02T23:30:00+03:00",
            "left_at": "2026-03-03T00:30:00+03:00",
            "user_id": "u2",
            "role": "moderator",
            "client": "web",
        },
        {
            **conn,
            "id": "c5",
            "event_id": "e2",
            "event_template": "webinar",
            "transport": "webrtmp",
            "joined_at": "2026-03-02T23:40:00+03:00",
            "left_at": "2026-03-03T00:10:00+03:00",
            "client": "android",
        },
        {
            **conn,
            "id": "c6",
            "event_id": "e2",
            "event_template": "webinar",
            "transport": "webrtmp",
            "joined_at": "2026-03-02T23:45:00.500+03:00",
            "user_id": "u1",
            "client": "web",
        },
        {
            "kind": "call",
            "id": "k1",
            "company_id": c,
            "started_at": "2026-03-01T15:00:00+03:00",
            "type": "personal",
            "initiator_id": "u1",
        },
        {
            **conn,
            "id": "c7",
            "call_id": "k1",
            "transport": "webrtc",
            "user_id": "u1",
            "joined_at": "2026-03-01T15:00:00+03:00",
            "left_at": "2026-03-01T15:10:00+03:00",
            "client": "desktop",
        },
        {
            **conn,
            "id": "c8",
            "call_id": "k1",
            "transport": "webrtc",
            "user_id": "u2",
            "joined_at": "2026-03-01T15:01:00+03:00",
            "left_at": "2026-03-01T15:09:00+03:00",
            "client": "ios",
        },
        *(
            {
                "kind": "message",
                "id": f"m{i}",
                "company_id": c,
                "sender_id": "u1",
                "sent_at": f"2026-03-0{1 + i % 3}T12:00:00+03:00",
            }
            for i in range(7)
        ),
        {
            "kind": "file",
            "id": "f1",
            "company_id": c,
            "size_bytes": 104_857_600,
            "owner_id": "u1",
            "uploaded_at": "2026-03-01T12:00:00+03:00",
            "name": "-1.pdf",
        },
        {
            "kind": "file",
            "id": "f2",
            "company_id": c,
            "size_bytes": 5_368_709_120,
            "owner_id": "u2",
            "uploaded_at": "2026-03-02T12:00:00+03:00",
            "deleted_at": "2026-03-03T12:00:00+03:00",
        },
        {
            "kind": "file",
            "id": "f3",
            "company_id": c,
            "size_bytes": 777,
            "owner_id": "u2",
            "uploaded_at": "2026-03-02T13:00:00+03:00",
        },
        {
            "kind": "login",
            "id": "l1",
            "company_id": c,
            "user_id": "u1",
            "client": "web",
            "device": "Windows 11",
            "at": "2026-03-01T09:00:00+03:00",
        },
        {
            "kind": "login",
            "id": "l2",
            "company_id": c,
            "user_id": "u2",
            "client": "ios",
            "device": "iPhone 15",
            "at": "2026-03-02T09:00:00+03:00",
        },
        {
            "kind": "login",
            "id": "l3",
            "company_id": c,
            "user_id": "u1",
            "client": "desktop",
            "device": "-1",
            "at": "2026-03-03T09:00:00+03:00",
        },
    ]


@pytest.fixture
def svc(make_services: Callable[..., Services]) -> Services:
    """The seed on a real store (each analytic backend of tests/backends.py)."""
    services = make_services(now="2026-03-10T12:00:00+03:00")
    result = services.ingest_lines([json.dumps(r).encode() for r in _records()])
    assert result.as_json() == {"accepted": len(_records()), "rejected": 0, "errors": []}
    return services


def _iso(moment: datetime | None) -> str | None:
    """A sheet's naive local moment as the API writes it (ISO 8601 with the zone's offset)."""
    return None if moment is None else moment.replace(tzinfo=zone(TZ)).isoformat()


def _csv_iso(text: str) -> str | None:
    return _iso(csv_moment(text))


# Every client type the seed connects with.
CLIENTS = ("android", "desktop", "ios", "web", "sip", "h323", "phone", "unknown")


@pytest.mark.parametrize(("date_from", "date_to"), [(D1, D3), (date(2026, 3, 2), date(2026, 3, 2))])
def test_csv_equals_daily_api(svc: Services, date_from: date, date_to: date) -> None:
    api = [d.as_json(TZ) for d in svc.query.daily("acme", date_from, date_to)]
    header, *body = read_csv(export_csv(svc.query, "acme", date_from, date_to))
    assert len(body) == (date_to - date_from).days + 1 == len(api)
    clients = sorted({c for d in api for c in d["clients"]})
    assert [h for h in header if h.startswith("Клиенты: ")] == [f"Клиенты: {client_label(c, 'ru')}" for c in clients]
    # Every limited peak (the seed limits all three kinds) has its breach figures per day.
    assert header[-3 * len(LIMITED) :] == [
        f"{h}: {m.label('ru')} — {w}"
        for m in LIMITED
        for h in [section_label(m.section, "ru")]
        for w in ("на лимите за день, с", "сверх лимита за день, с", "эпизодов на лимите за день")
    ]
    for row, day in zip(body, api, strict=True):
        assert row[0] == day["date"]
        cells = iter(row[1:])
        for m in METRICS:
            assert int(next(cells)) == day["metrics"][m.id]["value"], (day["date"], m.id)
            if m.id in PEAK_IDS:
                assert _csv_iso(next(cells)) == day["metrics"][m.id].get("at"), (day["date"], m.id)
        assert [int(next(cells)) for _ in clients] == [day["clients"].get(c, 0) for c in clients]
        for m in LIMITED:
            figures = day["metrics"][m.id]
            assert [float(next(cells).replace(",", ".")) for _ in range(3)] == [
                figures["at_limit_seconds"],
                figures["over_limit_seconds"],
                figures["episodes"],
            ]
        assert list(cells) == []


def test_known_figures_of_the_seed(svc: Services) -> None:
    """A few figures by hand, so the comparison above is not between two empty tables."""
    header, *body = read_csv(export_csv(svc.query, "acme", D1, D3, lang="en", sep=","), sep=",")
    day2 = dict(zip(header, body[1], strict=True))
    assert day2["Total: Concurrent connections"] == "3"
    assert day2[f"Total: Concurrent connections — peak time, {TZ_EN}"] == "2026-03-02 10:45:00"
    assert day2["Webinars: Concurrent participants (viewers)"] == "2"
    assert day2[f"Total: Concurrent events — peak time, {TZ_EN}"] == "2026-03-02 10:00:00"
    assert day2["Storage: Uploaded that day, bytes"] == str(5_368_709_120 + 777)
    assert [dict(zip(header, r, strict=True))["Calls: Messages sent that day"] for r in body] == ["3", "2", "2"]


def test_xlsx_equals_summary_and_daily_api(svc: Services) -> None:
    q = svc.query
    summary = q.summary("acme", D1, D3).as_json()
    api_days = [d.as_json(TZ) for d in q.daily("acme", D1, D3)]
    wb = read_xlsx(export_xlsx(q, "acme", D1, D3))

    rows = {r[6]: r for r in sheet_rows(wb, "Сводка")[2:]}
    assert list(rows) == [m.id for m in METRICS]
    for mid, expected in summary["metrics"].items():
        row = rows[mid]
        assert row[2] == expected["value"], mid
        assert _iso(row[3]) == expected.get("at"), mid
        assert row[4] == expected.get("limit"), mid
        limit = expected.get("limit")
        assert row[5] == (pytest.approx(expected["value"] / limit) if limit else None), mid

    days = sheet_rows(wb, "По дням")
    header, body = days[1], days[2:]
    csv_rows = read_csv(export_csv(q, "acme", D1, D3))
    assert list(header[: len(csv_rows[0])]) == csv_rows[0]
    for row, day in zip(body, api_days, strict=True):
        assert row[0].date().isoformat() == day["date"]
        cells = iter(row[1:])
        for m in METRICS:
            assert next(cells) == day["metrics"][m.id]["value"], (day["date"], m.id)
            if m.id in PEAK_IDS:
                assert _iso(next(cells)) == day["metrics"][m.id].get("at"), (day["date"], m.id)
        clients = [c for c in header[1 + len(METRICS) + len(PEAK_IDS) :] if c.startswith("Клиенты")]
        ids = {f"Клиенты: {client_label(c, 'ru')}": c for c in CLIENTS}
        assert [next(cells) for _ in clients] == [day["clients"].get(ids[c], 0) for c in clients]
        for m in LIMITED:  # seconds at and over the limit, episodes: real numbers
            figures = day["metrics"][m.id]
            assert [next(cells) for _ in range(3)] == [
                figures["at_limit_seconds"],
                figures["over_limit_seconds"],
                figures["episodes"],
            ]
        # the licence limits drawn on the chart
        assert list(cells) == [summary["metrics"][p]["limit"] for p in PEAK_IDS]

    client_rows = sheet_rows(wb, "Клиенты")
    ids = {client_label(c, "ru"): c for c in CLIENTS}
    names = [ids[n] for n in client_rows[1][1:]]
    for row, day in zip(client_rows[2:], api_days, strict=True):
        assert list(row[1:]) == [day["clients"].get(n, 0) for n in names]


def test_breaches_sheet_equals_the_breaches_and_daily_api(svc: Services) -> None:
    """«Превышения лимитов»: every episode of /api/v1/breaches with its limit, then per day
    the time at and over each limit of /api/v1/daily."""
    q = svc.query
    api = q.breaches("acme", D1, D3)["metrics"]
    api_days = [d.as_json(TZ) for d in q.daily("acme", D1, D3)]
    wb = read_xlsx(export_xlsx(q, "acme", D1, D3))
    rows = sheet_rows(wb, "Превышения лимитов")
    assert rows[1] == (
        "Раздел",
        "Показатель",
        "Что",
        f"Начало ({TZ})",
        f"Конец ({TZ})",
        "Длительность",
        "Наибольшее значение",
        "Лимит лицензии",
        "Код показателя",
    )
    blank = rows.index(next(r for r in rows[2:] if all(v is None for v in r)))
    episodes, days = rows[2:blank], rows[blank + 3 :]
    expected = [(m.id, e) for m in LIMITED for e in api[m.id]["list"]]
    assert expected, "the seed reaches its speakers limit on 2026-03-02"
    assert len(episodes) == len(expected)
    for row, (mid, e) in zip(episodes, expected, strict=True):
        assert row[8] == mid and row[2] == ("На лимите" if e["kind"] == "at" else "Сверх лимита")
        assert (_iso(row[3]), _iso(row[4])) == (e["start"], e["end"])
        assert row[5] == timedelta(seconds=e["seconds"]) and row[6] == e["highest"]
        assert row[7] == api[mid]["limit"]
    assert rows[blank + 2][0] == "Дата" and rows[blank + 2][5] == "На лимите за день"
    expected_days = [
        (d["date"], m.id, d["metrics"][m.id])
        for d in api_days
        for m in LIMITED
        if d["metrics"][m.id]["at_limit_seconds"] or d["metrics"][m.id]["over_limit_seconds"]
    ]
    assert len(days) == len(expected_days) > 0
    for row, (day, mid, figures) in zip(days, expected_days, strict=True):
        assert (row[0].date().isoformat(), row[8]) == (day, mid)
        assert (row[3], row[4]) == (figures["limit"], figures["value"])
        assert row[5] == timedelta(seconds=figures["at_limit_seconds"])
        assert row[6] == timedelta(seconds=figures["over_limit_seconds"])
        assert row[7] == figures["episodes"]


def test_xlsx_tables_equal_the_table_api(svc: Services) -> None:
    q = svc.query
    wb = read_xlsx(export_xlsx(q, "acme", D1, D3, lang="en"))

    def local(us: int | None) -> datetime | None:
        if us is None:
            return None
        utc = datetime.fromtimestamp(us // 1_000_000, zone(TZ)).replace(microsecond=us % 1_000_000)
        return utc.replace(tzinfo=None)

    events = q.events("acme", D1, D3, limit=1000)
    assert events.total == 4  # e1, e2 held in the range; e2, e3, e4 created in it
    sheet = sheet_rows(wb, "Events")[2:]
    assert len(sheet) == events.total
    for row, ev in zip(sheet, events.rows, strict=True):
        assert ooxml_text(row[0]) == ev["title"]
        assert row[3:7] == tuple(local(ev[k]) for k in ("created_at", "scheduled_start", "first_join", "last_leave"))
        assert row[7] is None if ev["duration_s"] is None else row[7] == timedelta(seconds=ev["duration_s"])
        assert row[8:12] == (ev["participants"], ev["connections"], ev["peak"], local(ev["peak_at"]))
        assert row[12:] == (ev["id"], ev["organizer_id"])
    assert HOSTILE in [r[0] for r in sheet]

    planned = q.planned("acme").rows
    assert [(r[1], r[2], r[4]) for r in sheet_rows(wb, "Planned")[2:]] == [
        (p["planned"], p["next_title"], p["organizer_id"]) for p in planned
    ]
    assert planned and planned[0]["next_title"] == "@SUM(A1)"
    disk = q.disk("acme").rows
    assert [(r[1], r[2], r[3]) for r in sheet_rows(wb, "Disk")[2:]] == [
        (d["bytes"], d["files"], d["owner_id"]) for d in disk
    ]
    devices = q.devices("acme", D1, D3).rows
    assert [r for r in sheet_rows(wb, "Devices")[2:]] == [
        (client_label(d["client"], "en"), d["device"], d["users"], d["logins"]) for d in devices
    ]


def test_a_year_of_days(svc: Services) -> None:
    year_from, year_to = date(2025, 6, 1), date(2026, 5, 31)
    body = read_csv(export_csv(svc.query, "acme", year_from, year_to))[1:]
    assert len(body) == 365 and body[0][0] == "2025-06-01" and body[-1][0] == "2026-05-31"
    wb = read_xlsx(export_xlsx(svc.query, "acme", year_from, year_to))
    assert wb["По дням"].max_row == 2 + 365


def test_unknown_company(svc: Services) -> None:
    with pytest.raises(KeyError):
        export_csv(svc.query, "nobody", D1, D3)
    with pytest.raises(KeyError):
        export_xlsx(svc.query, "nobody", D1, D3)
