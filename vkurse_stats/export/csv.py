"""The CSV export: the daily table of a date range, as Russian Excel opens it.

One row per day returned by the query API's ``daily``: the date, every metric's daily figure,
the moment of each total peak (wall-clock time in the company's timezone, named in the header)
one column per client type seen in the range, and per limited peak the seconds at and over its
limit that day and the episodes begun. A range without activity ends with a row saying so.
UTF-8 with a BOM (so Excel detects the encoding), ``;`` between fields by default (Excel's
separator under a Russian locale), plain numbers (a fraction uses the decimal mark that goes with
the separator).
Text cells that a spreadsheet could read as a formula get the OWASP escape.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import date

from ..metrics.definitions import has_activity
from ..metrics.model import Day
from .labels import (
    DayColumn,
    ExportQuery,
    breach_value,
    check_lang,
    clients_seen,
    day_columns,
    limited_in,
    local_datetime,
    no_activity,
)

# Separator -> the decimal mark of the locales that use it (";" is what Russian Excel expects).
SEPARATORS = {";": ",", ",": "."}
BOM = "\ufeff"
# A cell starting with one of these is a formula (or DDE) to Excel/LibreOffice/Sheets; OWASP
# also lists tab and CR. The full-width forms are folded to ASCII by some spreadsheet versions.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n", "＝", "＋", "－", "＠")


def escape_cell(text: str) -> str:
    """``text`` with a leading apostrophe when it could start a formula (OWASP CSV injection).

    Leading spaces are looked through: some spreadsheet versions strip them before parsing."""
    return "'" + text if text.lstrip(" ").startswith(FORMULA_TRIGGERS) else text


def format_at(us: int | None, tz: str, decimal: str = ".") -> str:
    """A peak's moment as local ``YYYY-MM-DD HH:MM:SS`` (empty when there is none).

    A fraction of a second is kept, exactly, after ``decimal``: spreadsheets read a time's
    fraction with the locale's decimal mark (``,`` in Russian Excel and LibreOffice), and text
    they cannot read stays text instead of becoming a date."""
    if us is None:
        return ""
    moment = local_datetime(us, tz)
    text = moment.strftime("%Y-%m-%d %H:%M:%S")
    if moment.microsecond:
        ms, rest = divmod(moment.microsecond, 1000)
        text += decimal + (f"{ms:03d}" if not rest else f"{moment.microsecond:06d}")
    return text


def day_row(day: Day, columns: Sequence[DayColumn], tz: str, decimal: str) -> list[str | int]:
    """The cells of one day, in the order of ``columns`` (numbers stay numbers)."""
    row: list[str | int] = []
    for col in columns:
        if col.kind == "date":
            row.append(day.date.isoformat())
        elif col.kind == "value":
            row.append(day.metrics[col.key].value)
        elif col.kind == "at":
            row.append(format_at(day.metrics[col.key].at, tz, decimal))
        elif col.kind == "client":
            row.append(day.clients.get(col.key, 0))
        else:
            row.append(format_number(breach_value(day, col.key, col.kind), decimal))
    return row


def format_number(value: int | float, decimal: str) -> str | int:
    """A count or a number of seconds: whole as an integer, else with the separator's decimal
    mark (the exact microseconds, as the API's seconds)."""
    if isinstance(value, int) or value.is_integer():
        return int(value)
    return f"{value:.6f}".rstrip("0").replace(".", decimal)


def export_csv(
    query: ExportQuery,
    company_id: str,
    date_from: date,
    date_to: date,
    *,
    lang: str = "ru",
    sep: str = ";",
) -> bytes:
    """The daily table of ``company_id`` for ``date_from .. date_to`` (inclusive) as CSV bytes.

    ``KeyError`` for an unknown company (from the query API); ``ValueError`` for a bad
    language or separator."""
    language = check_lang(lang)
    if sep not in SEPARATORS:
        raise ValueError(f"unknown CSV separator {sep!r}; expected ';' or ','")
    # The summary names the company's timezone; the days are the rows.
    summary, days = query.report(company_id, date_from, date_to)
    tz = summary.timezone
    columns = day_columns(language, tz, clients_seen(days), limited_in(summary))

    out = io.StringIO()
    out.write(BOM)
    writer = csv.writer(out, delimiter=sep, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow([escape_cell(col.header) for col in columns])
    writer.writerows(day_row(day, columns, tz, SEPARATORS[sep]) for day in days)
    if not has_activity(summary.metrics):
        writer.writerow([escape_cell(no_activity(language, date_from, date_to))])
    return out.getvalue().encode("utf-8")
