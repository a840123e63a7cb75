"""The Excel export: the dashboard of a date range as a workbook of real numbers and dates.

Sheets: the summary (every metric with the moment of its peak, the licence limit and the share
used), the daily table (the CSV's columns, plus the limits the chart draws), the limit breaches
(every episode at or over a limit, then the time at and over the limits per day), clients per day,
the events of the range, planned events, disk usage and devices. Every sheet opens with a title
naming the company, the range and the timezone, then a frozen, filterable header row.

XlsxWriter runs in constant-memory mode, so memory stays flat however many events a range holds;
the price is that each sheet is written strictly top to bottom, so column widths are settled
after the rows (XlsxWriter writes ``<cols>`` at close). Cells are serialized by
:class:`RowStream` (see there why): a cell is a number or an escaped inline string, never a
formula or a link, and text from the data has a quote-prefixed style, so a title like
``=HYPERLINK(...)`` stays text even when someone edits the cell. The workbook options that turn
strings into formulas, links or numbers are off as well.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

import xlsxwriter
from xlsxwriter.format import Format
from xlsxwriter.utility import xl_col_to_name
from xlsxwriter.workbook import Workbook
from xlsxwriter.worksheet import Worksheet

from ..metrics.definitions import METRIC_BY_ID, METRICS, PEAK_IDS, has_activity
from ..metrics.insight import limit_at
from ..metrics.model import Day, Page, Summary
from ..metrics.tables import SIZE_UNITS, TABLES, client_label, size_unit
from ..timeutil import zone
from . import labels as L
from .labels import ExportQuery, Lang

PAGE_SIZE = 50_000  # rows per query call: a call costs a scan of the table; a page ~30 MiB
EXCEL_MAX_ROWS = 1_048_576
TITLE_ROW, HEADER_ROW, FIRST_ROW = 0, 1, 2
MAX_TEXT_WIDTH = 60

Kind = Literal["text", "label", "int", "bytes", "date", "datetime", "duration", "share", "number"]
# Widths (in characters) a column of each kind needs for its values.
KIND_WIDTH: dict[str, int] = {
    "text": 12,
    "label": 12,
    "int": 10,
    "bytes": 11,
    "date": 11,
    "datetime": 19,
    "duration": 10,
    "share": 9,
    "number": 10,
}


def size_format(unit: int, lang: Lang) -> str:
    """The number format of a size shown in unit ``unit`` of SIZE_UNITS: the cell keeps the
    bytes, each trailing comma scales by 1000, so it reads as the page's text (one decimal)."""
    scale, ru, en = SIZE_UNITS[unit]
    name = en if lang == "en" else ru
    if unit == 0:
        return f'#,##0" {name}"'
    return f'#,##0.0{"," * ((len(str(scale)) - 1) // 3)}" {name}"'


DATE_FORMAT = {"ru": "dd.mm.yyyy", "en": "yyyy-mm-dd"}
DATETIME_FORMAT = {"ru": "dd.mm.yyyy hh:mm:ss", "en": "yyyy-mm-dd hh:mm:ss"}
SECONDS_PER_DAY = 86_400


@dataclass(frozen=True)
class Col:
    header: str
    kind: Kind


class Styles:
    """The workbook's cell formats, one per column kind, in the export's language."""

    def __init__(self, wb: Workbook, lang: Lang) -> None:
        self.title = wb.add_format({"bold": True, "font_size": 13})
        self.header = wb.add_format(
            {  # client types from the data name columns: quote-prefixed
                "bold": True,
                "text_wrap": True,
                "valign": "top",
                "bg_color": "#E8EEF7",
                "bottom": 1,
                "quote_prefix": True,
            }
        )
        self.over_limit = wb.add_format({"font_color": "#9C0006", "bg_color": "#FFC7CE"})
        # The page's amber: 90 % of the limit or more.
        self.near_limit = wb.add_format({"font_color": "#7A4B00", "bg_color": "#FFE8B3"})
        # Each size is written with the format of the unit it reads in (see size_format).
        self.sizes = [wb.add_format({"num_format": size_format(i, lang)}) for i in range(len(SIZE_UNITS))]
        self.kind: dict[str, Format] = {
            # quote_prefix: Excel keeps the cell text even when a user edits it and presses Enter.
            "text": wb.add_format({"quote_prefix": True}),
            "label": wb.add_format({}),
            "int": wb.add_format({"num_format": "#,##0"}),
            "bytes": self.sizes[-1],
            "date": wb.add_format({"num_format": DATE_FORMAT[lang], "align": "left"}),
            "datetime": wb.add_format({"num_format": DATETIME_FORMAT[lang], "align": "left"}),
            "duration": wb.add_format({"num_format": "[h]:mm:ss"}),
            "share": wb.add_format({"num_format": "0.0%"}),
            "number": wb.add_format({}),  # seconds with their fraction, as the API gives them
        }


# --- the row stream ------------------------------------------------------------------------------
# Cells are serialized here, not through XlsxWriter's write_*() calls, for two reasons:
# - safety: in constant-memory mode XlsxWriter copies a string that looks like rich text
#   ("<r>...</r>") into the sheet XML unescaped, so a title could smuggle in a <f> formula
#   despite strings_to_formulas=False. Here every string is escaped, and a cell can only be a
#   number or an inline string: no code path can write a formula or a link;
# - speed: the per-cell API costs several microseconds a cell; a 100k-event sheet has 1.4M.
# It uses the worksheet's constant-memory row file, dimensions and format indices: internals
# of the XlsxWriter version pinned in requirements.lock, checked in RowStream.__init__ and
# exercised by every test that reads a workbook back (openpyxl and LibreOffice).
# (value, its r="..." attribute or "") -> its <c> element. The cell reference is optional in
# OOXML and only written after an empty cell: a quarter less XML to write and to compress.
Render = Callable[[Any, str], str]
MAX_STRING = 32_767  # Excel's limit on the characters of a cell
_NEEDS_ESCAPE = re.compile(r"[&<>\x00-\x08\x0b-\x1f]|_x[0-9A-Fa-f]{4}_")
_LITERAL_ESCAPE = re.compile(r"(_x[0-9A-Fa-f]{4}_)")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f]")
EXCEL_EPOCH = date(1899, 12, 30).toordinal()  # serial 0 of the 1900 date system (after 1900-03)
UNIX_EPOCH_SERIAL = 25_569  # 1970-01-01
US_PER_DAY = 86_400_000_000
QUARTER_HOUR_US = 900_000_000  # every zone offset and transition is a multiple of 15 minutes


def inline_string(text: str, style: int, at: str) -> str:
    """A ``<c>`` holding ``text`` as an inline string, escaped for XML and OOXML; ``at`` is
    its ``r`` attribute, or empty when the cell follows the previous one of its row."""
    if len(text) > MAX_STRING:
        text = text[:MAX_STRING]
    if _NEEDS_ESCAPE.search(text):
        text = _LITERAL_ESCAPE.sub(r"_x005F\1", text)  # a literal "_x0041_" stays literal
        text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        text = _CONTROL.sub(lambda m: f"_x{ord(m.group()):04X}_", text)
    space = ' xml:space="preserve"' if text[:1].isspace() or text[-1:].isspace() else ""
    return f'<c{at} s="{style}" t="inlineStr"><is><t{space}>{text}</t></is></c>'


def number_cell(style: int) -> Render:
    """Renders a number (anything else fails loudly: nothing but digits may reach the XML
    unescaped); a float is written as its repr, which reads back exactly."""

    def render(v: Any, at: str) -> str:
        if type(v) is not int and type(v) is not float:
            v = float(v)
        return f'<c{at} s="{style}"><v>{v}</v></c>'

    return render


class LocalSerial:
    """Epoch microseconds -> Excel serial date-time of the wall clock in ``tz``.

    The zone's offset is looked up once per UTC day (per quarter hour on a day it changes),
    not per instant: a year of events costs a few hundred lookups, not a million."""

    def __init__(self, tz: str) -> None:
        self.zone = zone(tz)
        self.by_day: dict[int, int | None] = {}  # None: the offset changes during that day
        self.by_quarter: dict[int, int] = {}

    def _offset(self, us: int) -> int:
        moment = datetime.fromtimestamp(us // 1_000_000, UTC).astimezone(self.zone)
        return int((moment.utcoffset() or timedelta(0)).total_seconds()) * 1_000_000

    def __call__(self, us: int) -> float:
        day = us // US_PER_DAY
        if day in self.by_day:
            offset = self.by_day[day]
        else:
            start, end = self._offset(day * US_PER_DAY), self._offset((day + 1) * US_PER_DAY)
            offset = self.by_day[day] = start if start == end else None
        if offset is None:
            key = us // QUARTER_HOUR_US
            offset = self.by_quarter.get(key)
            if offset is None:
                offset = self.by_quarter[key] = self._offset(key * QUARTER_HOUR_US)
        return (us + offset) / US_PER_DAY + UNIX_EPOCH_SERIAL


class RowStream:
    """Rows appended, in order, to a constant-memory worksheet's row file."""

    FLUSH_ROWS = 2_000

    def __init__(self, ws: Worksheet) -> None:
        if not (
            ws.constant_memory
            and getattr(ws, "row_data_fh", None) is not None
            and hasattr(ws, "dim_rowmax")
            and hasattr(ws, "previous_row")
        ):
            raise RuntimeError(
                "this XlsxWriter version is not supported by the export "
                "(constant-memory row file not found); pin the locked version"
            )
        self.ws = ws
        self.buffer: list[str] = []
        self.next_row = 0
        self.max_col = -1

    def add(self, row: int, cells: str, max_col: int, height: float | None = None) -> None:
        """Append row ``row`` (0-based, after every row before it) made of ``cells``."""
        assert row >= self.next_row, "rows are written top to bottom"
        attrs = f' ht="{height}" customHeight="1"' if height else ""
        self.buffer.append(f'<row r="{row + 1}"{attrs}>{cells}</row>')
        self.next_row = row + 1
        self.max_col = max(self.max_col, max_col)
        if len(self.buffer) >= self.FLUSH_ROWS:
            self.flush()

    def flush(self) -> None:
        ws = self.ws
        if self.buffer:
            ws.row_data_fh.write("".join(self.buffer))
            self.buffer.clear()
        if self.next_row:
            ws.dim_rowmin = 0 if ws.dim_rowmin is None else ws.dim_rowmin
            ws.dim_rowmax = self.next_row - 1
            ws.dim_colmin = 0 if ws.dim_colmin is None else ws.dim_colmin
            ws.dim_colmax = max(self.max_col, 0)
            ws.previous_row = self.next_row - 1  # XlsxWriter must not write these rows again


class SheetWriter:
    """One worksheet written top to bottom: title, header, then rows of typed cells."""

    def __init__(self, wb: Workbook, styles: Styles, name: str, title: str, cols: Sequence[Col], tz: str) -> None:
        self.ws: Worksheet = wb.add_worksheet(name)
        self.stream = RowStream(self.ws)
        self.name = name
        self.styles = styles
        self.cols = list(cols)
        self.tz = tz
        self.row = FIRST_ROW
        self.widths = [_header_width(c) for c in self.cols]
        self.letters = [xl_col_to_name(i) for i in range(len(self.cols))]
        self.serial = LocalSerial(tz)
        self._render = [self._renderer(c.kind, i) for i, c in enumerate(self.cols)]

        self.stream.add(TITLE_ROW, inline_string(title, self.styles.title._get_xf_index(), ""), 0)
        lines = max((_lines(c.header, w) for c, w in zip(self.cols, self.widths, strict=True)), default=1)
        style = self.styles.header._get_xf_index()
        header = "".join(inline_string(col.header, style, "") for col in self.cols)
        self.stream.add(HEADER_ROW, header, len(self.cols) - 1, height=15 * lines + 3)

    def _renderer(self, kind: Kind, col: int) -> Render:
        style = self.styles.kind[kind]._get_xf_index()
        if kind in ("text", "label"):
            widths = self.widths

            def text(v: Any, at: str) -> str:
                s = str(v)
                if len(s) >= widths[col]:  # constant memory: widths are known only as rows pass
                    widths[col] = min(len(s) + 1, MAX_TEXT_WIDTH)
                return inline_string(s, style, at)

            return text
        if kind == "datetime":
            serial = self.serial
            by_day = serial.by_day

            def moment(v: int, at: str) -> str:  # the inner loop of big tables: LocalSerial inlined
                offset = by_day.get(v // US_PER_DAY)
                x = serial(v) if offset is None else (v + offset) / US_PER_DAY + UNIX_EPOCH_SERIAL
                return f'<c{at} s="{style}"><v>{x}</v></c>'

            return moment
        if kind == "bytes":
            sized = [number_cell(f._get_xf_index()) for f in self.styles.sizes]
            return lambda v, at: sized[size_unit(int(v))](v, at)
        as_number = number_cell(style)
        if kind == "date":
            return lambda v, at: as_number(v.toordinal() - EXCEL_EPOCH, at)
        if kind == "duration":
            return lambda v, at: as_number(v / SECONDS_PER_DAY, at)
        return as_number

    def add(self, values: Sequence[Any], kinds: dict[int, Kind] | None = None) -> None:
        """Write the next row; ``None`` leaves a cell empty; ``kinds`` overrides columns' kinds."""
        render = self._render
        if kinds:
            render = list(render)
            for c, kind in kinds.items():
                render[c] = self._renderer(kind, c)
        n = self.row + 1
        letters = self.letters
        cells = []
        gap = False
        for c, v in enumerate(values):
            if v is None:
                gap = True
            else:
                cells.append(render[c](v, f' r="{letters[c]}{n}"' if gap else ""))
                gap = False
        self.stream.add(self.row, "".join(cells), len(values) - 1)
        self.row += 1

    def section(self, title: str, headers: Sequence[str]) -> None:
        """A second table below the rows so far: a blank row, its title and its header row."""
        self.row += 1
        self.stream.add(self.row, inline_string(title, self.styles.title._get_xf_index(), ""), 0)
        style = self.styles.header._get_xf_index()
        self.stream.add(
            self.row + 1, "".join(inline_string(h, style, "") for h in headers), len(headers) - 1, height=33
        )
        for i, h in enumerate(headers):
            self.widths[i] = max(self.widths[i], min(len(h) // 2 + 3, 24))
        self.row += 2

    @property
    def last_row(self) -> int:
        return max(self.row - 1, HEADER_ROW)

    def column(self, key: int) -> tuple[str, int, int, int, int]:
        """The data cells of column ``key``, as a chart reference."""
        return (self.name, FIRST_ROW, key, self.last_row, key)

    def finish(self, filter_to: int | None = None) -> None:
        """Frozen header, autofilter (down to row ``filter_to``, or the last) and widths
        (after the rows: constant-memory mode)."""
        self.stream.flush()
        ws = self.ws
        ws.freeze_panes(FIRST_ROW, 0)
        if self.cols:
            ws.autofilter(HEADER_ROW, 0, self.last_row if filter_to is None else filter_to, len(self.cols) - 1)
        for i, width in enumerate(self.widths):
            ws.set_column(i, i, width)
        # Printed: A4 landscape, as wide as one page, the header row on every page.
        ws.set_paper(9)
        ws.set_landscape()
        ws.fit_to_pages(1, 0)
        ws.repeat_rows(HEADER_ROW)


def _header_width(col: Col) -> int:
    longest_word = max((len(w) for w in col.header.split()), default=0)
    return max(KIND_WIDTH[col.kind], min(longest_word + 3, 30), min(len(col.header) // 2, 18))


def _lines(text: str, width: int) -> int:
    return max(1, math.ceil(len(text) / max(width - 2, 1)))


def _share(value: int, limit: int | None) -> float | None:
    return None if not limit else value / limit


# --- sheets ---------------------------------------------------------------------------------------
def _summary_sheet(wb: Workbook, st: Styles, lang: Lang, s: Summary, title: str) -> SheetWriter:
    cols = [
        Col(L.column("section", lang), "label"),
        Col(L.column("metric", lang), "label"),
        Col(L.column("value", lang), "int"),
        Col(L.column("at", lang) + f" ({s.timezone})", "datetime"),
        Col(L.column("limit", lang), "int"),
        Col(L.column("share", lang), "share"),
        Col(L.column("metric_id", lang), "label"),
    ]
    sheet = SheetWriter(wb, st, L.sheet_name("summary", lang), title, cols, s.timezone)
    sizes: dict[int, Kind] = {2: "bytes", 4: "bytes"}
    for m in METRICS:
        mv = s.metrics[m.id]
        sheet.add(
            [
                L.section_label(m.section, lang, short=False),
                m.label(lang),
                mv.value,
                mv.at,
                mv.limit,
                _share(mv.value, mv.limit),
                m.id,
            ],
            sizes if L.is_bytes(m) else None,
        )
    # As the page: over the limit red, at 90 % of it or more amber.
    sheet.ws.conditional_format(
        FIRST_ROW,
        5,
        sheet.last_row,
        5,
        {"type": "cell", "criteria": ">", "value": 1, "format": st.over_limit, "stop_if_true": True},
    )
    sheet.ws.conditional_format(
        FIRST_ROW,
        5,
        sheet.last_row,
        5,
        {"type": "cell", "criteria": ">=", "value": WARN_SHARE, "format": st.near_limit},
    )
    if not has_activity(s.metrics):
        sheet.add([L.no_activity(lang, s.date_from, s.date_to)], {0: "label"})
    sheet.widths[0] = max(sheet.widths[0], 20)
    sheet.finish()
    return sheet


def _days_sheet(
    wb: Workbook, st: Styles, lang: Lang, s: Summary, days: Sequence[Day], clients: Sequence[str], title: str
) -> tuple[SheetWriter, dict[str, int]]:
    """The CSV's table, then one column per set licence limit of a total peak (for the chart)."""
    tz = s.timezone
    plan = L.day_columns(lang, tz, clients, L.limited_in(s))
    limits = {pid: s.metrics[pid].limit for pid in PEAK_IDS if s.metrics[pid].limit is not None}
    cols: list[Col] = []
    for dc in plan:
        if dc.kind == "date":
            cols.append(Col(dc.header, "date"))
        elif dc.kind == "at":
            cols.append(Col(dc.header, "datetime"))
        elif dc.kind == "value" and dc.metric is not None and L.is_bytes(dc.metric):
            cols.append(Col(dc.header, "bytes"))
        elif dc.kind in ("at_limit", "over_limit"):
            cols.append(Col(dc.header, "number"))
        else:
            cols.append(Col(dc.header, "int"))
    cols.extend(Col(L.limit_header(METRIC_BY_ID[pid], lang), "int") for pid in limits)
    sheet = SheetWriter(wb, st, L.sheet_name("days", lang), title, cols, tz)
    limit_values = list(limits.values())
    for day in days:
        row: list[Any] = []
        for dc in plan:
            if dc.kind == "date":
                row.append(day.date)
            elif dc.kind == "value":
                row.append(day.metrics[dc.key].value)
            elif dc.kind == "at":
                row.append(day.metrics[dc.key].at)
            elif dc.kind == "client":
                row.append(day.clients.get(dc.key, 0))
            else:
                row.append(L.breach_value(day, dc.key, dc.kind))
        sheet.add(row + limit_values)
    value_col = {dc.key: i for i, dc in enumerate(plan) if dc.kind == "value"}
    limit_col = {pid: len(plan) + i for i, pid in enumerate(limits)}
    sheet.finish()
    return sheet, {**{f"value:{k}": v for k, v in value_col.items()}, **{f"limit:{k}": v for k, v in limit_col.items()}}


# Line colours of the three total peaks; each limit is drawn dashed in its peak's colour.
PEAK_COLOURS = ("#1F77B4", "#D62728", "#2CA02C", "#9467BD", "#FF7F0E")


def _peaks_chart(wb: Workbook, lang: Lang, days: SheetWriter, where: dict[str, int]) -> Any:
    chart = wb.add_chart({"type": "line"})
    dates = days.column(0)
    for pid, colour in zip(PEAK_IDS, PEAK_COLOURS, strict=False):
        m = METRIC_BY_ID[pid]
        chart.add_series(
            {
                "name": m.label(lang),
                "categories": list(dates),
                "values": list(days.column(where[f"value:{pid}"])),
                "line": {"color": colour, "width": 1.75},
            }
        )
        if f"limit:{pid}" in where:
            chart.add_series(
                {
                    "name": L.limit_header(m, lang),
                    "categories": list(dates),
                    "values": list(days.column(where[f"limit:{pid}"])),
                    "line": {"color": colour, "width": 1.25, "dash_type": "dash"},
                }
            )
    chart.set_title({"name": "Daily peaks and licence limits" if lang == "en" else "Пики по дням и лимиты лицензии"})
    chart.set_x_axis(
        {"date_axis": True, "num_format": "dd.mm" if lang == "ru" else "mm-dd", "major_gridlines": {"visible": False}}
    )
    chart.set_y_axis({"min": 0, "major_gridlines": {"visible": True, "line": {"color": "#DDDDDD"}}})
    chart.set_legend({"position": "bottom"})
    chart.set_size({"width": 900, "height": 420})
    return chart


def _clients_sheet(
    wb: Workbook, st: Styles, lang: Lang, tz: str, days: Sequence[Day], clients: Sequence[str], title: str
) -> None:
    cols = [Col("Date" if lang == "en" else "Дата", "date")]
    cols.extend(Col(client_label(client, lang), "int") for client in clients)
    sheet = SheetWriter(wb, st, L.sheet_name("clients", lang), title, cols, tz)
    for day in days:
        sheet.add([day.date, *(day.clients.get(c, 0) for c in clients)])
    sheet.finish()


# A table column's type (metrics/tables.py) -> its cells' kind in a sheet.
# A label of a value the platform added later (a new client type) is the value itself: text from
# the data, kept text like titles.
KIND_OF: dict[str, Kind] = {
    "text": "text",
    "id": "text",
    "label": "text",
    "int": "int",
    "bytes": "bytes",
    "instant": "datetime",
    "duration": "duration",
}
# Values named by the label catalogue rather than shown as stored.
LABELLED: dict[str, Callable[[Any, Lang], str]] = {"template": L.template_label, "client": client_label}
WARN_SHARE = 0.9


def _table_sheet(
    wb: Workbook, st: Styles, lang: Lang, tz: str, key: str, title: str, fetch: Callable[[int, int], Page]
) -> None:
    """Every row of a query API table, up to what a sheet holds (then a row says so); its
    columns are the table's definition, named as on the page."""
    spec = TABLES[key].export_columns
    cols = [Col(c.label(lang) + (f" ({tz})" if c.type == "instant" else ""), KIND_OF[c.type]) for c in spec]
    sheet = SheetWriter(wb, st, L.sheet_name(key, lang), title, cols, tz)
    fields = [c.key for c in spec]
    named = [(i, LABELLED[f]) for i, f in enumerate(fields) if f in LABELLED]
    room = EXCEL_MAX_ROWS - FIRST_ROW - 1  # the last row is kept to say what did not fit
    written = total = 0
    while written < room:
        page = fetch(PAGE_SIZE, written)
        total, rows = page.total, page.rows[: room - written]
        del page  # one page in memory at a time
        for row in rows:
            values = [row.get(f) for f in fields]
            for i, name in named:
                values[i] = name(values[i], lang) or None if values[i] is not None else None
            sheet.add(values)
        written += len(rows)
        if not rows or written >= total:
            break
        del rows
    if total > written:
        sheet.add([L.rows_left_out(written, total, lang)], {0: "label"})
    sheet.finish()


MAX_EPISODES = 10_000  # what the breaches API lists at most


def _breaches_sheet(
    wb: Workbook, st: Styles, lang: Lang, query: ExportQuery, s: Summary, days: Sequence[Day], title: str
) -> None:
    """«Превышения лимитов»: every episode at or over a limit (the list of /api/v1/breaches),
    then per day and limited peak the time at and over its limit (the daily figures)."""
    tz = s.timezone
    limited = L.limited_in(s)
    cols = [
        Col(L.column("section", lang), "label"),
        Col(L.column("metric", lang), "label"),
        Col(L.column("kind", lang), "label"),
        Col(L.column("start", lang) + f" ({tz})", "datetime"),
        Col(L.column("end", lang) + f" ({tz})", "datetime"),
        Col(L.column("duration", lang), "duration"),
        Col(L.column("highest", lang), "int"),
        Col(L.column("limit", lang), "int"),
        Col(L.column("metric_id", lang), "label"),
    ]
    sheet = SheetWriter(wb, st, L.sheet_name("breaches", lang), title, cols, tz)
    data = query.breaches(s.company.id, s.date_from, s.date_to, None, MAX_EPISODES) if limited else {"metrics": {}}
    history = query.rollups.limit_histories([s.company.id])[s.company.id]
    listed = 0
    for m in limited:
        figures = data["metrics"].get(m.id) or {"list": [], "truncated": False}
        for e in figures["list"]:
            start, end = L.iso_us(e["start"]), L.iso_us(e["end"])
            sheet.add(
                [
                    L.section_label(m.section, lang, short=False),
                    m.label(lang),
                    L.episode_kind(e["kind"], lang),
                    start,
                    end,
                    e["seconds"],
                    e["highest"],
                    limit_at(history, m.limit, start),
                    m.id,
                ]
            )
            listed += 1
        if figures["truncated"]:
            sheet.add([L.episodes_left_out(lang)], {0: "label"})
    if not listed:
        sheet.add([L.no_breaches(lang)], {0: "label"})
    episodes_end = sheet.last_row
    # Per day: the same columns hold a date, the metric, the day's limit and figures.
    sheet.section(
        L.title("breach_days", lang, s.company.name, s.company.id, s.date_from, s.date_to, tz),
        [
            L.column("date", lang),
            L.column("section", lang),
            L.column("metric", lang),
            L.column("limit", lang),
            L.column("day_peak", lang),
            L.column("at_limit", lang),
            L.column("over_limit", lang),
            L.column("episodes", lang),
            L.column("metric_id", lang),
        ],
    )
    kinds: dict[int, Kind] = {
        0: "date",
        2: "label",
        3: "int",
        4: "int",
        5: "duration",
        6: "duration",
        7: "int",
        8: "label",
    }
    for day in days:
        for m in limited:
            mv = day.metrics[m.id]
            if not mv.breach or not (mv.breach[0] or mv.breach[1]):
                continue
            sheet.add(
                [
                    day.date,
                    L.section_label(m.section, lang, short=False),
                    m.label(lang),
                    mv.limit,
                    mv.value,
                    L.breach_value(day, m.id, "at_limit"),
                    L.breach_value(day, m.id, "over_limit"),
                    L.breach_value(day, m.id, "episodes"),
                    m.id,
                ],
                kinds,
            )
    sheet.widths[0] = max(sheet.widths[0], 20)
    sheet.finish(filter_to=episodes_end)


def export_xlsx(
    query: ExportQuery,
    company_id: str,
    date_from: date,
    date_to: date,
    *,
    lang: str = "ru",
) -> bytes:
    """The workbook of ``company_id`` for ``date_from .. date_to`` (inclusive) as XLSX bytes.

    ``KeyError`` for an unknown company (from the query API); ``ValueError`` for a bad
    language."""
    language = L.check_lang(lang)
    summary, days = query.report(company_id, date_from, date_to)
    clients = L.clients_seen(days)
    tz = summary.timezone
    company = summary.company

    def title(key: str) -> str:
        return L.title(key, language, company.name, company.id, date_from, date_to, tz)

    out = io.BytesIO()
    wb = xlsxwriter.Workbook(
        out,
        {
            "constant_memory": True,
            # Text stays text: nothing from the data may become a formula, a link or a number.
            "strings_to_formulas": False,
            "strings_to_urls": False,
            "strings_to_numbers": False,
        },
    )
    wb.set_properties({"title": title("summary"), "comments": "vkurse-stats"})
    st = Styles(wb, language)
    summary_sheet = _summary_sheet(wb, st, language, summary, title("summary"))
    days_sheet, where = _days_sheet(wb, st, language, summary, days, clients, title("days"))
    if days:
        anchor = len(days_sheet.cols) + 1
        days_sheet.ws.insert_chart(HEADER_ROW, anchor, _peaks_chart(wb, language, days_sheet, where))
        summary_sheet.ws.insert_chart(
            HEADER_ROW, len(summary_sheet.cols) + 1, _peaks_chart(wb, language, days_sheet, where)
        )
    _breaches_sheet(wb, st, language, query, summary, days, title("breaches"))
    _clients_sheet(wb, st, language, tz, days, clients, title("clients"))
    _table_sheet(
        wb,
        st,
        language,
        tz,
        "events",
        title("events"),
        lambda limit, offset: query.events(company_id, date_from, date_to, limit=limit, offset=offset),
    )
    _table_sheet(
        wb,
        st,
        language,
        tz,
        "planned",
        title("planned"),
        lambda limit, offset: query.planned(company_id, limit=limit, offset=offset),
    )
    _table_sheet(
        wb,
        st,
        language,
        tz,
        "disk",
        title("disk"),
        lambda limit, offset: query.disk(company_id, limit=limit, offset=offset),
    )
    _table_sheet(
        wb,
        st,
        language,
        tz,
        "devices",
        title("devices"),
        lambda limit, offset: query.devices(company_id, date_from, date_to, limit=limit, offset=offset),
    )
    wb.close()
    return out.getvalue()
