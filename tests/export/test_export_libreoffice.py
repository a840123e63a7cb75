"""Both files opened in a real spreadsheet: LibreOffice (headless) converts them, and what it
read equals what we wrote — numbers as numbers, dates as dates, hostile text as text."""

from __future__ import annotations

import csv
import shutil
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.export.export_support import (
    FROM,
    TO,
    FakeQuery,
    csv_moment,
    make_query,
    ooxml_text,
    read_csv,
    read_xlsx,
    sheet_rows,
)
from vkurse_stats.export import export_csv, export_xlsx

SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")
pytestmark = [
    pytest.mark.libreoffice,
    pytest.mark.skipif(
        SOFFICE is None,
        reason="LibreOffice (soffice) is not installed; on Debian: apt-get install libreoffice-calc-nogui",
    ),
]
HOSTILE = '=HYPERLINK("http://evil.example","click")'
# CSV import filter options: separator, quote ("), UTF-8 (76), from line 1, default columns,
# the locale (1049 ru-RU / 1033 en-US).
CSV_IN = {";": "CSV:59,34,76,1,,1049", ",": "CSV:44,34,76,1,,1033"}
# CSV export of every sheet (token 12 = -1) as shown on screen (token 9), in ru-RU.
CSV_OUT_AS_SHOWN = "csv:Text - txt - csv (StarCalc):59,34,76,1,,1049,false,true,true,false,false,-1"


def _convert(src: Path, to: str, tmp_path: Path, infilter: str | None = None) -> Path:
    """Convert ``src`` with LibreOffice into ``tmp_path/out``, with a profile of this test's own
    (parallel runs must not share one)."""
    out = tmp_path / "out"
    args = [
        SOFFICE or "soffice",
        f"-env:UserInstallation={(tmp_path / 'lo-profile').as_uri()}",
        "--headless",
        "--norestore",
    ]
    if infilter:
        args.append(f"--infilter={infilter}")
    args += ["--convert-to", to, "--outdir", str(out), str(src)]
    done = subprocess.run(args, capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stderr
    return out


def _hostile_query() -> FakeQuery:
    q = make_query(name=HOSTILE)
    q.events_[0]["title"] = HOSTILE
    q.events_[1]["title"] = "+7 999 123-45-67"
    q.disk_[0]["owner_name"] = "-1"
    q.devices_[0]["device"] = "@SUM(A1)"
    q.days_[0].clients["x-1"] = 4
    return q


@pytest.mark.parametrize(("sep", "lang"), [(";", "ru"), (",", "en")])
def test_csv_opens_with_our_values(tmp_path: Path, sep: str, lang: str) -> None:
    q = _hostile_query()
    data = export_csv(q, "romashka", FROM, TO, lang=lang, sep=sep)
    src = tmp_path / "export.csv"
    src.write_bytes(data)
    out = _convert(src, "xlsx", tmp_path, CSV_IN[sep])
    ours = read_csv(data, sep=sep)
    theirs = read_xlsx((out / "export.xlsx").read_bytes()).active
    assert theirs is not None
    assert [c.value for c in theirs[1]] == ours[0]  # the header, BOM gone, UTF-8 intact
    for r, row in enumerate(ours[1:], start=2):
        got = [c.value for c in theirs[r]]
        assert got[0] == datetime.fromisoformat(row[0]), "the date is a date"
        for c, (value, text) in enumerate(zip(got[1:], row[1:], strict=True), start=1):
            if " — " in ours[0][c]:  # a peak's moment: a date-time, to the millisecond
                assert value == csv_moment(text), (r, ours[0][c])
            else:
                assert isinstance(value, int) and value == int(text), (r, ours[0][c])
    assert theirs.max_row == len(ours)


def _same(ours: Any, theirs: Any) -> bool:
    if isinstance(ours, datetime) and isinstance(theirs, datetime):
        return abs((ours - theirs).total_seconds()) < 0.001  # Excel's resolution is 1 ms
    if isinstance(ours, float) and isinstance(theirs, (int, float)):
        return abs(ours - theirs) < 1e-9
    return bool(ooxml_text(ours) == theirs)


# openpyxl cannot parse the chart LibreOffice writes back (a date where it expects a number);
# the chart itself is checked in test_export_xlsx.py.
@pytest.mark.filterwarnings("ignore:Unable to read chart:UserWarning")
def test_xlsx_opens_with_our_values(tmp_path: Path) -> None:
    q = _hostile_query()
    data = export_xlsx(q, "romashka", FROM, TO)
    src = tmp_path / "export.xlsx"
    src.write_bytes(data)
    out = _convert(src, "xlsx:Calc MS Excel 2007 XML", tmp_path / "resaved")
    ours, theirs = read_xlsx(data), read_xlsx((out / "export.xlsx").read_bytes())
    assert theirs.sheetnames == ours.sheetnames
    for name in ours.sheetnames:
        mine, lo = sheet_rows(ours, name), sheet_rows(theirs, name)
        assert len(lo) >= len(mine), name
        for r, row in enumerate(mine):
            got = lo[r][: len(row)]
            for c, (a, b) in enumerate(zip(row, got, strict=True)):
                assert _same(a, b), (name, r + 1, c + 1, a, b)
        for row in theirs[name].iter_rows():
            for cell in row:
                assert cell.data_type != "f", (name, cell.coordinate)
    events = theirs["Мероприятия"]
    assert events["A3"].value == HOSTILE and events["A3"].data_type == "s"


def test_xlsx_shows_readable_formats_and_text_as_text(tmp_path: Path) -> None:
    q = _hostile_query()
    src = tmp_path / "export.xlsx"
    src.write_bytes(export_xlsx(q, "romashka", FROM, TO))
    out = _convert(src, CSV_OUT_AS_SHOWN, tmp_path)

    def shown(sheet: str) -> list[list[str]]:
        with open(out / f"export-{sheet}.csv", encoding="utf-8", newline="") as f:
            return list(csv.reader(f, delimiter=";"))

    days = shown("По дням")
    assert days[2][:3] == ["01.03.2026", "17", "01.03.2026 10:02:00"]
    assert days[2][days[1].index("Хранилище: Всего используется, байт")] == "1.2 ТБ"
    events = shown("Мероприятия")
    # computed, the formula would show "click"; LibreOffice shows the text we wrote
    assert events[2][0] == HOSTILE
    assert events[3][0] == "+7 999 123-45-67"
    assert events[2][7] == "1:31:30"  # the duration
    assert shown("Диск")[2][:2] == ["-1", "5.4 ГБ"]
    assert shown("Устройства")[2][1] == "@SUM(A1)"


SIZES = (
    0,
    999,
    1_000,
    1_250,
    1_949_999,
    400_000,
    5_368_709_120,
    291_930_000_000,
    999_960_000_000,
    1_234_567_890_123,
    3 * 10**12,
    1_234_500_000_000_000,
)


def test_xlsx_sizes_read_as_the_page_shows_them(tmp_path: Path) -> None:
    """The same bytes read the same on the page and in the spreadsheet (decimal units, one
    decimal, rounded half up); LibreOffice's marks are those of the document, the page's ru."""
    from vkurse_stats.web.format import fmt_bytes

    q = make_query()
    q.disk_ = [{"owner_id": f"u{i}", "owner_name": f"n{i}", "bytes": n, "files": 1} for i, n in enumerate(SIZES)]
    src = tmp_path / "export.xlsx"
    src.write_bytes(export_xlsx(q, "romashka", FROM, TO))
    out = _convert(src, CSV_OUT_AS_SHOWN, tmp_path)
    with open(out / "export-Диск.csv", encoding="utf-8", newline="") as f:
        shown = [row[1] for row in list(csv.reader(f, delimiter=";"))[2:]]
    page = [fmt_bytes(n, "ru").replace("\u00a0", " ") for n in SIZES]
    assert [s.replace(",", " ").replace(".", ",") for s in shown] == page


def test_breaches_sheet_reads_as_datetimes_and_durations(tmp_path: Path) -> None:
    """«Превышения лимитов» in LibreOffice: an episode's start and end as date-times, its length
    and a day's time at and over the limit as durations, counts as numbers."""
    from dataclasses import replace as with_

    from vkurse_stats.metrics.model import MetricValue

    q = make_query()
    breach = (829_000_000, 794_000_000, 1, 2)
    day = q.days_[0]
    speakers = day.metrics["total.speakers"]
    q.days_[0] = with_(
        day, metrics={**day.metrics, "total.speakers": MetricValue(speakers.value, speakers.at, 20, breach)}
    )
    s = q.summary_.metrics["total.speakers"]
    q.summary_ = with_(
        q.summary_, metrics={**q.summary_.metrics, "total.speakers": MetricValue(s.value, s.at, 20, breach)}
    )
    q.history_ = {"concurrent_speakers": [(0, 20)]}
    q.breaches_ = {
        "metrics": {
            "total.speakers": {
                "limit": 20,
                "truncated": False,
                "list": [
                    {
                        "metric": "total.speakers",
                        "kind": "at",
                        "start": "2026-03-01T10:49:21+05:00",
                        "end": "2026-03-01T11:03:10+05:00",
                        "seconds": 829.0,
                        "highest": 23,
                    }
                ],
            }
        }
    }
    src = tmp_path / "export.xlsx"
    src.write_bytes(export_xlsx(q, "romashka", FROM, TO))
    out = _convert(src, CSV_OUT_AS_SHOWN, tmp_path)
    with open(out / "export-Превышения лимитов.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f, delimiter=";"))
    assert rows[2][2:8] == ["На лимите", "01.03.2026 10:49:21", "01.03.2026 11:03:10", "0:13:49", "23", "20"]
    day_row = next(r for r in rows[4:] if r and r[0] == "01.03.2026")
    assert day_row[3:8] == ["20", str(speakers.value), "0:13:49", "0:13:14", "1"]
