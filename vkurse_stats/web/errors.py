"""Errors of request parameters with a stable machine ``code`` and a message in ru and en.

The API answers ``{"error": message, "code": code}``: programs match the code, people read the
message, in the language ``Accept-Language`` asks for (English when it names neither); pages use
the page's language. Every code's wording is here, once.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from .auth import HTTPError
from .i18n import LANGS, pick_lang

MESSAGES: dict[str, tuple[str, str]] = {
    "date_required": ("Укажите дату в параметре «{name}» (ГГГГ-ММ-ДД).", "parameter {name!r} is required (YYYY-MM-DD)"),
    "date_invalid": (
        "Параметр «{name}»: «{value}» — не дата (нужно ГГГГ-ММ-ДД).",
        "parameter {name!r}: {value!r} is not a date (YYYY-MM-DD)",
    ),
    "range_reversed": (
        "Начало периода ({d1}) позже его конца ({d2}).",
        "parameter 'from' ({d1}) is after parameter 'to' ({d2})",
    ),
    "range_too_long": (
        "Период длиннее {days} дней: выберите период короче.",
        "parameter 'to': the range is longer than {days} days",
    ),
    "not_integer": (
        "Параметр «{name}»: «{value}» — не целое число.",
        "parameter {name!r}: {value!r} is not an integer",
    ),
    "out_of_bounds": (
        "Параметр «{name}» должен быть от {lo} до {hi}.",
        "parameter {name!r} must be between {lo} and {hi}",
    ),
    "bad_order": ("Параметр «{name}» должен быть «asc» или «desc».", "parameter {name!r} must be 'asc' or 'desc'"),
    "bad_sort": (
        "Параметр «{name}»: по «{value}» сортировать нельзя; можно по: {columns}.",
        "parameter {name!r}: cannot sort by {value!r}; sortable columns: {columns}",
    ),
    "unknown_company": ("Компания «{company}» не найдена.", "unknown company {company!r}"),
    "company_required": ("Укажите компанию в параметре «company».", "parameter 'company' is required for this caller"),
    "bad_lang": ("Параметр «lang» должен быть «ru» или «en».", "parameter 'lang' must be 'ru' or 'en'"),
    "bad_sep": ("Параметр «sep» должен быть «;» или «,».", "parameter 'sep' must be ';' or ','"),
    "instant_invalid": (
        "Параметр «instant»: «{value}» — не момент времени (нужно ISO 8601 со смещением, "
        "например 2026-03-05T10:00:00+03:00).",
        "parameter 'instant': {value!r} is not an ISO 8601 instant with an offset (e.g. 2026-03-05T10:00:00+03:00)",
    ),
    "instant_required": (
        "Укажите момент в параметре «instant» или показатель и день в «metric» и «day».",
        "give 'instant', or 'metric' and 'day'",
    ),
    "unknown_metric": (
        "Параметр «metric»: показателя «{value}» нет; можно: {choices}.",
        "parameter 'metric': no metric {value!r}; one of: {choices}",
    ),
}
# The code of an error raised without one, by its status.
STATUS_CODES: dict[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
    429: "throttled",
    500: "internal",
    503: "unavailable",
    507: "unavailable",
}


class ApiError(HTTPError):
    """An :class:`HTTPError` with a code of :data:`MESSAGES`; ``message`` is the English text."""

    def __init__(self, status: int, code: str, **params: Any) -> None:
        self.code = code
        self.params = params
        super().__init__(status, self.text("en"))

    def text(self, lang: str) -> str:
        ru, en = MESSAGES[self.code]
        return (en if lang == "en" else ru).format(**self.params)


def accept_language(header: str | None) -> str | None:
    """The first of our languages in an ``Accept-Language`` header (by q), or None."""
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate((header or "").split(",")):
        tag, _, rest = part.strip().partition(";")
        q = 1.0
        if rest.strip().startswith("q="):
            try:
                q = float(rest.strip()[2:])
            except ValueError:
                q = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary in LANGS and q > 0:
            ranked.append((-q, i, primary))
    return min(ranked)[2] if ranked else None


def error_lang(request: Request) -> str:
    """The language of an error: the API's by ``Accept-Language`` (else English), a page's own."""
    if request.url.path.startswith("/api/"):
        return accept_language(request.headers.get("accept-language")) or "en"
    return pick_lang(request)


def error_code(exc: HTTPError) -> str:
    return exc.code if isinstance(exc, ApiError) else STATUS_CODES.get(exc.status, "error")


def error_text(exc: HTTPError, lang: str) -> str:
    return exc.text(lang) if isinstance(exc, ApiError) else exc.message
