"""Downloads of a company's statistics for a date range: CSV (the daily table) and XLSX.

Both read the one query API the dashboard reads (never SQL of their own), so a file always
agrees with the dashboard for the same range. The web layer and the CLI call
:func:`export_csv` / :func:`export_xlsx` and name the file with :func:`export_filename`.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date

from .csv import export_csv
from .labels import ExportQuery
from .xlsx import export_xlsx

__all__ = ["ExportQuery", "export_csv", "export_filename", "export_xlsx"]

# Anything but letters and digits of any script, '.', '_' and '-' becomes '_': no path
# separators, quotes, spaces or control characters can reach a file name or a header.
_UNSAFE = re.compile(r"[^\w.\-]+")
_MAX_COMPANY_CHARS = 80


def export_filename(company_id: str, date_from: date, date_to: date, ext: str) -> str:
    """``vkurse-stats_<company>_<from>_<to>.<ext>``, safe as a file name on any system.

    Letters of any script are kept (NFC): the web layer sends the name as RFC 6266
    ``filename*``; nothing else (quotes, separators, control characters) gets through."""
    if not re.fullmatch(r"[a-z0-9]{1,10}", ext):
        raise ValueError(f"bad file extension {ext!r}")
    company = _UNSAFE.sub("_", unicodedata.normalize("NFC", company_id))
    company = re.sub(r"\.{2,}", "_", company).strip("._")
    company = company[:_MAX_COMPANY_CHARS] or "company"
    return f"vkurse-stats_{company}_{date_from.isoformat()}_{date_to.isoformat()}.{ext}"
