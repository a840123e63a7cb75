"""The XLSX export over hand-built query results: sheets, types, formats, layout, the chart."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.export.export_support import (
    FROM,
    TO,
    TZ,
    TZ_EN,
    TZ_RU,
    FakeQuery,
    csv_moment,
    local,
    make_query,
    read_csv,
    read_xlsx,
    sheet_rows,
    us,
    xlsx_parts,
)
from vkurse_stats.export import export_csv, export_xlsx
from vkurse_stats.export import xlsx as xlsx_module
from vkurse_stats.metrics.definitions import METRICS, PEAK_IDS

SHEETS_RU = ["Сводка", "По дням", "Превышения лимитов", "Клиенты", "Мероприятия", "Планируемые", "Диск", "Устройства"]
SHEETS_EN = ["Summary", "Daily", "Limit breaches", "Clients", "Events", "Planned", "Disk", "Devices"]
DATETIME_RU = "dd.mm.yyyy hh:mm:ss"


def test_sheets_in_both_languages(query: FakeQuery) -> None:
    assert read_xlsx(export_xlsx(query, "romashka", FROM, TO)).sheetnames == SHEETS_RU
    assert read_xlsx(export_xlsx(query, "romashka", FROM, TO, lang="en")).sheetnames == SHEETS_EN
    with pytest.raises(ValueError, match="language"):
        export_xlsx(query, "romashka", FROM, TO, lang="fr")
    with pytest.raises(KeyError):
        export_xlsx(query, "nobody", FROM, TO)


def test_every_sheet_has_title_frozen_header_filter_and_widths(query: FakeQuery) -> None:
    wb = read_xlsx(export_xlsx(query, "romashka", FROM, TO))
    for ws in wb.worksheets:
        title = ws["A1"].value
        assert "ООО «Ромашка» (romashka)" in title, ws.title
        assert "01.03.2026 – 03.03.2026" in title and TZ_RU in title, ws.title
        assert ws.freeze_panes == "A3", ws.title
        # The breaches sheet filters its first table (the episodes; the days follow below it).
        last = (
            ws.max_row
            if ws.title != "Превышения лимитов"
            else next(r for r in range(3, ws.max_row + 2) if ws.cell(r, 1).value is None) - 1
        )
        assert ws.auto_filter.ref == f"A2:{ws.cell(2, ws.max_column).column_letter}{last}"
        for col in range(1, ws.max_column + 1):
            letter = ws.cell(2, col).column_letter
            assert ws.column_dimensions[letter].width >= 9, (ws.title, letter)
            assert isinstance(ws.cell(2, col).value, str) and ws.cell(2, col).font.b


def test_english_title_and_formats(query: FakeQuery) -> None:
    wb = read_xlsx(export_xlsx(query, "romashka", FROM, TO, lang="en"))
    assert wb["Summary"]["A1"].value == (
        f"Licence usage statistics — ООО «Ромашка» (romashka) — 2026-03-01 – 2026-03-03 — {TZ_EN}"
    )
    assert wb["Daily"]["A3"].number_format == "yyyy-mm-dd"
    assert wb["Daily"]["C3"].number_format == "yyyy-mm-dd hh:mm:ss"


def test_summary_is_the_summary(query: FakeQuery) -> None:
    wb = read_xlsx(export_xlsx(query, "romashka", FROM, TO))
    ws = wb["Сводка"]
    rows = sheet_rows(wb, "Сводка")
    assert rows[1] == (
        "Раздел",
        "Показатель",
        "Значение",
        f"Момент пика ({TZ})",
        "Лимит лицензии",
        "Использовано лимита",
        "Код показателя",
    )
    body = rows[2:]
    assert [r[6] for r in body] == [m.id for m in METRICS]
    s = query.summary_
    for i, (row, m) in enumerate(zip(body, METRICS, strict=True)):
        mv = s.metrics[m.id]
        assert row[1] == m.label_ru
        assert row[2] == mv.value and ws.cell(3 + i, 3).data_type == "n"
        assert row[3] == (local(mv.at) if mv.at is not None else None), m.id
        assert row[4] == mv.limit, m.id
        if mv.limit:
            assert row[5] == pytest.approx(mv.value / mv.limit)
            assert ws.cell(3 + i, 6).number_format == "0.0%"
        else:
            assert row[5] is None
        size = m.id.endswith("_bytes")
        assert ("КБ" in ws.cell(3 + i, 3).number_format) == size, m.id
    speakers = body[[m.id for m in METRICS].index("total.speakers")]
    assert speakers[2:6] == (2002, datetime(2026, 3, 3, 10, 1, 7), 20, pytest.approx(100.1))
    assert ws["D3"].number_format == DATETIME_RU and ws["D3"].is_date
    assert ws.conditional_formatting, "over-limit shares are highlighted"


def test_shares_are_amber_from_90_percent_and_red_over_100_as_on_the_page(query: FakeQuery) -> None:
    ws = read_xlsx(export_xlsx(query, "romashka", FROM, TO))["Сводка"]
    rules = [(r.operator, r.formula, r.dxf.font.color.rgb) for cf in ws.conditional_formatting for r in cf.rules]
    assert [(op, formula) for op, formula, _ in rules] == [("greaterThan", ["1"]), ("greaterThanOrEqual", ["0.9"])]
    assert [fill[-6:] for _, _, fill in rules] == ["9C0006", "7A4B00"]


def test_every_sheet_prints_landscape_one_page_wide_with_its_header(query: FakeQuery) -> None:
    wb = read_xlsx(export_xlsx(query, "romashka", FROM, TO))
    for ws in wb.worksheets:
        assert ws.page_setup.orientation == "landscape", ws.title
        assert ws.page_setup.paperSize in (9, "9"), ws.title  # A4
        assert ws.page_setup.fitToWidth in (None, 1, "1")  # 1 is the default, left out
        assert ws.page_setup.fitToHeight in (0, "0")
        assert ws.sheet_properties.pageSetUpPr.fitToPage
        assert ws.print_title_rows == "$2:$2", ws.title


def test_a_range_without_activity_says_so(query: FakeQuery) -> None:
    from vkurse_stats.metrics.model import MetricValue

    query.summary_.metrics.update({m.id: MetricValue(0) for m in METRICS if m.combine != "last"})
    rows = sheet_rows(read_xlsx(export_xlsx(query, "romashka", FROM, TO)), "Сводка")
    assert rows[-1][0] == "За период 01.03.2026 – 03.03.2026 активности не было."


def test_days_sheet_is_the_csv_table_with_real_types(query: FakeQuery) -> None:
    wb = read_xlsx(export_xlsx(query, "romashka", FROM, TO))
    csv_rows = read_csv(export_csv(query, "romashka", FROM, TO))
    rows = sheet_rows(wb, "По дням")
    header = rows[1]
    n = len(csv_rows[0])
    assert list(header[:n]) == csv_rows[0]
    # then the licence limits the chart draws (those set: speakers and events)
    assert header[n:] == ("Лимит лицензии: Одновременных докладчиков", "Лимит лицензии: Одновременных мероприятий")
    ws = wb["По дням"]
    for r, (row, csv_row) in enumerate(zip(rows[2:], csv_rows[1:], strict=True), start=3):
        assert row[0] == datetime.fromisoformat(csv_row[0]) and ws.cell(r, 1).is_date
        assert ws.cell(r, 1).number_format == "dd.mm.yyyy"
        for c, (value, text) in enumerate(zip(row[1:n], csv_row[1:], strict=True), start=2):
            if "время пика" in header[c - 1]:
                assert value == csv_moment(text)
                if text:
                    assert ws.cell(r, c).number_format == DATETIME_RU
            else:
                assert isinstance(value, int) and value == int(text), (r, header[c - 1])
        assert row[n:] == (20, 5)
    total_bytes = header.index("Хранилище: Всего используется, байт") + 1
    assert ws.cell(3, total_bytes).value == 1_234_567_890_123
    assert ws.cell(3, total_bytes).number_format == '#,##0.0,,,," ТБ"'  # 1,2 ТБ as on the page
    assert ws.cell(3, 2).number_format == "#,##0"


def test_clients_sheet(query: FakeQuery) -> None:
    rows = sheet_rows(read_xlsx(export_xlsx(query, "romashka", FROM, TO)), "Клиенты")
    assert rows[1:] == [
        ("Дата", "Компьютер (приложение)", "iOS", "Браузер"),
        (datetime(2026, 3, 1), 0, 3, 10),
        (datetime(2026, 3, 2), 0, 3, 11),
        (datetime(2026, 3, 3), 7, 0, 0),
    ]


def test_events_sheet_has_every_row_with_real_dates(query: FakeQuery, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(xlsx_module, "PAGE_SIZE", 4)
    big = make_query(n_events=11)
    wb = read_xlsx(export_xlsx(big, "romashka", FROM, TO))
    assert [c for c in big.calls if c[0] == "events"] == [("events", 4, 0), ("events", 4, 4), ("events", 4, 8)]
    rows = sheet_rows(wb, "Мероприятия")
    assert rows[1] == (
        "Название",
        "Шаблон",
        "Организатор",
        f"Создано ({TZ})",
        f"Запланировано на ({TZ})",
        f"Первое подключение ({TZ})",
        f"Последнее отключение ({TZ})",
        "Длительность",
        "Участников",
        "Подключений",
        "Пик одновременных подключений",
        f"Время пика ({TZ})",
        "ID мероприятия",
        "ID организатора",
    )
    assert [r[0] for r in rows[2:]] == [f"Планёрка {i}" for i in range(11)]
    assert rows[3] == (
        "Планёрка 1",
        "Встреча",
        "Иванов 1",
        datetime(2026, 2, 27, 9, 0, 1),
        datetime(2026, 3, 1, 10, 0),
        datetime(2026, 3, 1, 10, 1),
        datetime(2026, 3, 1, 11, 31, 30),
        timedelta(seconds=5490),
        13,
        16,
        9,
        datetime(2026, 3, 1, 10, 5),
        "ev1",
        "u1",
    )
    assert rows[2][4] is None  # not scheduled: an empty cell, not a zero date
    ws = wb["Мероприятия"]
    assert ws["H3"].number_format == "[h]:mm:ss"
    assert ws["D3"].number_format == DATETIME_RU
    assert ws.column_dimensions["A"].width >= 11


def test_template_codes_of_the_store_read_as_names() -> None:
    q = make_query()
    for i, row in enumerate(q.events_):
        row["template"] = i  # the store's codes: meeting, conference, selector
    rows = sheet_rows(read_xlsx(export_xlsx(q, "romashka", FROM, TO, lang="en")), "Events")
    assert [r[1] for r in rows[2:]] == ["Meeting", "Conference", "Selector"]


def test_planned_disk_and_devices_sheets(query: FakeQuery) -> None:
    wb = read_xlsx(export_xlsx(query, "romashka", FROM, TO))
    assert sheet_rows(wb, "Планируемые")[2:] == [("Иванов 1", 4, "Ретро", datetime(2026, 4, 1, 9, 0), "u1", "ev9")]
    assert sheet_rows(wb, "Планируемые")[1] == (
        "Организатор",
        "Запланировано мероприятий",
        "Ближайшее мероприятие",
        f"Начало ближайшего ({TZ})",
        "ID организатора",
        "ID ближайшего",
    )
    assert sheet_rows(wb, "Диск")[1:] == [
        ("Владелец", "Занято", "Файлов", "ID владельца"),
        ("Иванов 1", 5_368_709_120, 42, "u1"),
        (None, 512, 1, "u2"),
    ]
    # Each size in the unit the page shows it in: 5,4 ГБ and 512 Б.
    assert wb["Диск"]["B3"].number_format == '#,##0.0,,," ГБ"'
    assert wb["Диск"]["B4"].number_format == '#,##0" Б"'
    assert sheet_rows(wb, "Устройства")[2:] == [("Браузер", "Windows 11", 8, 30), ("iOS", "iPhone 15", 2, 5)]


def test_empty_tables_keep_their_header(query: FakeQuery) -> None:
    query.events_, query.planned_, query.disk_, query.devices_ = [], [], [], []
    wb = read_xlsx(export_xlsx(query, "romashka", FROM, TO))
    for name in ("Мероприятия", "Планируемые", "Диск", "Устройства"):
        assert wb[name].max_row == 2 and wb[name].auto_filter.ref.endswith("2"), name


def test_written_in_constant_memory_mode(query: FakeQuery) -> None:
    parts = xlsx_parts(export_xlsx(query, "romashka", FROM, TO))
    # constant_memory writes strings inline, row by row: no shared-strings table
    assert "xl/sharedStrings.xml" not in parts
    assert 't="inlineStr"' in parts["xl/worksheets/sheet1.xml"]


def test_days_sheet_has_a_line_chart_of_peaks_with_limits(query: FakeQuery) -> None:
    parts = xlsx_parts(export_xlsx(query, "romashka", FROM, TO))
    charts = sorted(n for n in parts if re.fullmatch(r"xl/charts/chart\d+\.xml", n))
    assert len(charts) == 2  # «По дням», and the same chart beside the summary
    days_rels = parts["xl/worksheets/_rels/sheet2.xml.rels"]
    drawing = re.search(r'Target="\.\./drawings/(drawing\d+\.xml)"', days_rels)
    assert drawing
    chart_file = re.search(r'Target="\.\./charts/(chart\d+\.xml)"', parts[f"xl/drawings/_rels/{drawing.group(1)}.rels"])
    assert chart_file
    chart = parts[f"xl/charts/{chart_file.group(1)}"]
    assert "<c:lineChart>" in chart
    refs = re.findall(r"<c:f>(.*?)</c:f>", chart)
    values = [r for r in refs if not r.endswith("$A$3:$A$5")]
    # three peaks + two limits, each over the three days
    assert values == [
        "'По дням'!$B$3:$B$5",
        "'По дням'!$D$3:$D$5",
        "'По дням'!$AA$3:$AA$5",
        "'По дням'!$F$3:$F$5",
        "'По дням'!$AB$3:$AB$5",
    ]
    assert chart.count('<a:prstDash val="dash"/>') == 2
    assert len(PEAK_IDS) == 3


def test_no_chart_without_days(query: FakeQuery) -> None:
    query.days_ = []
    parts = xlsx_parts(export_xlsx(query, "romashka", FROM, TO))
    assert not any(n.startswith("xl/charts/") for n in parts)


ZONES = ["Europe/Moscow", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu", "UTC"]


@settings(max_examples=300, deadline=None)
@given(zone_name=st.sampled_from(ZONES), us=st.integers(min_value=946_684_800_000_000, max_value=2_208_988_800_000_000))
def test_serial_dates_are_the_local_wall_clock(zone_name: str, us: int) -> None:
    """The per-day offset cache gives what a timezone conversion of each instant gives, DST
    days (and half-hour shifts) included."""
    serial = xlsx_module.LocalSerial(zone_name)
    expected = local(us, zone_name) - datetime(1899, 12, 30)
    assert serial(us) == pytest.approx(expected / timedelta(days=1), abs=1e-10)
    # again, from the cache, and an instant around the same day
    assert serial(us) == pytest.approx(expected / timedelta(days=1), abs=1e-10)
    later = us + 3_599_000_000
    assert serial(later) == pytest.approx(
        (local(later, zone_name) - datetime(1899, 12, 30)) / timedelta(days=1), abs=1e-10
    )


def test_serial_dates_around_a_dst_change() -> None:
    serial = xlsx_module.LocalSerial("Europe/Berlin")
    # 2026-03-29 01:00 UTC: 02:00 CET becomes 03:00 CEST
    before, after = us("2026-03-29T00:59:59+00:00"), us("2026-03-29T01:00:00+00:00")
    day = datetime(2026, 3, 29) - datetime(1899, 12, 30)
    assert serial(before) == pytest.approx(
        (day + timedelta(hours=1, minutes=59, seconds=59)) / timedelta(days=1), abs=1e-10
    )
    assert serial(after) == pytest.approx((day + timedelta(hours=3)) / timedelta(days=1), abs=1e-10)


def test_a_table_longer_than_a_sheet_is_cut_with_a_note(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(xlsx_module, "EXCEL_MAX_ROWS", 8)  # title, header, 5 rows, the note
    monkeypatch.setattr(xlsx_module, "PAGE_SIZE", 4)
    q = make_query(n_events=11)
    wb = read_xlsx(export_xlsx(q, "romashka", FROM, TO, lang="en"))
    rows = sheet_rows(wb, "Events")
    assert [r[0] for r in rows[2:7]] == [f"Планёрка {i}" for i in range(5)]
    assert rows[7][0] == ("Showing 5 of 11 rows: a sheet holds no more. Export a shorter range for the rest.")
    assert len(rows) == 8
    assert [c for c in q.calls if c[0] == "events"] == [("events", 4, 0), ("events", 4, 4)]
    ru = read_xlsx(export_xlsx(make_query(n_events=11), "romashka", FROM, TO))
    assert sheet_rows(ru, "Мероприятия")[7][0].startswith("Показаны 5 из 11 строк")
