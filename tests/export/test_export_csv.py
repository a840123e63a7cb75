"""The CSV export over hand-built query results: layout, encoding, headers, figures."""

from __future__ import annotations

from datetime import date

import pytest

from tests.export.export_support import FROM, TO, TZ_EN, TZ_RU, FakeQuery, csv_moment, local, read_csv, us
from vkurse_stats.export import export_csv
from vkurse_stats.metrics.definitions import METRICS, PEAK_IDS
from vkurse_stats.metrics.model import MetricValue
from vkurse_stats.metrics.tables import client_label


def test_bom_separator_and_line_ends(query: FakeQuery) -> None:
    data = export_csv(query, "romashka", FROM, TO)
    assert data.startswith(b"\xef\xbb\xbf\xd0\x94\xd0\xb0\xd1\x82\xd0\xb0;")  # BOM, "Дата;"
    assert data.count(b"\r\n") == 4 and data.endswith(b"\r\n")  # header + 3 days, CRLF
    assert b"1234567890123;" in data  # plain numbers: no thousands separators


def test_header_in_russian_names_every_metric_once(query: FakeQuery) -> None:
    header = read_csv(export_csv(query, "romashka", FROM, TO))[0]
    assert header[:4] == [
        "Дата",
        "ВСЕГО: Одновременных подключений",
        f"ВСЕГО: Одновременных подключений — время пика, {TZ_RU}",
        "ВСЕГО: Одновременных докладчиков",
    ]
    assert "Совещания/ВКС: Одновременных докладчиков" in header
    assert "Хранилище: Всего используется, байт" in header
    # Client types by their names, ordered by id (desktop, ios, web) as the API keys them.
    assert header[-3:] == ["Клиенты: Компьютер (приложение)", "Клиенты: iOS", "Клиенты: Браузер"]
    assert len(header) == 1 + len(METRICS) + len(PEAK_IDS) + 3
    assert len(set(header)) == len(header), "every header is unambiguous"


def test_header_in_english(query: FakeQuery) -> None:
    header = read_csv(export_csv(query, "romashka", FROM, TO, lang="en"))[0]
    assert header[:3] == [
        "Date",
        "Total: Concurrent connections",
        f"Total: Concurrent connections — peak time, {TZ_EN}",
    ]
    assert "Webinars: Concurrent participants (viewers)" in header
    assert header[-1] == "Clients: Browser"
    assert len(set(header)) == len(header)


def test_comma_separator_on_request(query: FakeQuery) -> None:
    data = export_csv(query, "romashka", FROM, TO, lang="en", sep=",")
    rows = read_csv(data, sep=",")
    semicolon = read_csv(export_csv(query, "romashka", FROM, TO, lang="en"), sep=";")
    assert rows[0] == semicolon[0]
    # the same cells; only a fraction of a second takes the other decimal mark
    assert rows[1:] == [[c.replace(",", ".") for c in r] for r in semicolon[1:]]
    assert b'"Storage: Uploaded that day, bytes"' in data  # a comma inside: quoted
    assert b'"Webinars: Concurrent participants (viewers)"' not in data


def test_every_figure_is_the_days_figure(query: FakeQuery) -> None:
    rows = read_csv(export_csv(query, "romashka", FROM, TO))
    header, body = rows[0], rows[1:]
    assert [r[0] for r in body] == ["2026-03-01", "2026-03-02", "2026-03-03"]
    for row, day in zip(body, query.days_, strict=True):
        col = 1
        for m in METRICS:
            mv = day.metrics[m.id]
            assert row[col] == str(mv.value), (day.date, m.id)
            col += 1
            if m.id in PEAK_IDS:
                expected = None if mv.at is None else local(mv.at)
                assert csv_moment(row[col]) == expected, (day.date, m.id)
                col += 1
        assert dict(zip(header[col:], row[col:], strict=True)) == {
            f"Клиенты: {client_label(c, 'ru')}": str(day.clients.get(c, 0)) for c in ("desktop", "ios", "web")
        }


def test_peak_moments_are_local_time_of_the_company(query: FakeQuery) -> None:
    header, *body = read_csv(export_csv(query, "romashka", FROM, TO))
    assert body[0][2] == "2026-03-01 10:02:00,250"  # 05:02:00.25Z in Yekaterinburg; ru decimal
    assert body[0][4] == "2026-03-01 10:01:07"
    events_at = header.index(f"ВСЕГО: Одновременных мероприятий — время пика, {TZ_RU}")
    assert body[1][events_at] == ""  # no concurrent events that day: no moment
    total_bytes = header.index("Хранилище: Всего используется, байт")
    assert body[0][total_bytes] == "1234567890123"  # bytes in full


def test_fractions_of_a_second_follow_the_separator(query: FakeQuery) -> None:
    body = read_csv(export_csv(query, "romashka", FROM, TO, sep=","), sep=",")[1:]
    assert body[0][2] == "2026-03-01 10:02:00.250"
    day = query.days_[0]
    day.metrics["total.connections"] = MetricValue(1, us("2026-03-01T10:02:00.000007+05:00"))
    body = read_csv(export_csv(query, "romashka", FROM, TO))[1:]
    assert body[0][2] == "2026-03-01 10:02:00,000007"  # exact, to the microsecond


def test_per_day_counts_say_per_day(query: FakeQuery) -> None:
    header = read_csv(export_csv(query, "romashka", FROM, TO))[0]
    assert "ВСЕГО: Мероприятий и звонков за день" in header
    assert "Звонки: Сообщений за день" in header
    assert not [h for h in header if "за период" in h]
    header = read_csv(export_csv(query, "romashka", FROM, TO, lang="en"))[0]
    assert "Total: Events and calls held that day" in header
    assert not [h for h in header if "in the range" in h]


def test_a_range_without_activity_says_so(query: FakeQuery) -> None:
    for day in query.days_:
        day.metrics.update({k: MetricValue(0) for k in day.metrics})
        day.clients.clear()
    query.summary_.metrics.update({m.id: MetricValue(0) for m in METRICS if m.combine != "last"})
    rows = read_csv(export_csv(query, "romashka", FROM, TO))
    assert len(rows) == 1 + 3 + 1
    assert rows[-1] == ["За период 01.03.2026 – 03.03.2026 активности не было."]
    rows = read_csv(export_csv(query, "romashka", FROM, TO, lang="en"))
    assert rows[-1] == ["No activity from 2026-03-01 to 2026-03-03."]


def test_rows_follow_daily_even_when_empty(query: FakeQuery) -> None:
    query.days_ = []
    rows = read_csv(export_csv(query, "romashka", FROM, TO))
    assert len(rows) == 1 and rows[0][-1] == "Пользователи: Всего пользователей"


def test_bad_arguments() -> None:
    from tests.export.export_support import make_query

    q = make_query()
    with pytest.raises(ValueError, match="language"):
        export_csv(q, "romashka", FROM, TO, lang="de")
    with pytest.raises(ValueError, match="separator"):
        export_csv(q, "romashka", FROM, TO, sep="|")
    with pytest.raises(KeyError):
        export_csv(q, "nobody", date(2026, 1, 1), date(2026, 1, 2))
