"""Rendering pages: the Jinja2 environment and the context every template receives.

Every page gets the translator ``t``, the language, the signed-in account, the CSRF token for
its forms, whether to show the company switcher (support only) and a ``lang_url`` helper for
the language switch. ``?lang=`` also stores the choice in a cookie so later pages keep it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi.templating import Jinja2Templates
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import Response

from .. import zones
from . import format as fmt
from .auth import csrf_token, current_session, ensure_anon_cookie, set_cookie
from .i18n import LANG_COOKIE, LANGS, Translator, pick_lang

TEMPLATES_DIR = Path(__file__).parent / "templates"


def _json_script(value: Any) -> Markup:
    """JSON safe inside <script type="application/json"> (no "</script>" can close it)."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text)


def make_templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
    env = templates.env
    env.filters["json_script"] = _json_script
    env.globals.update(
        fmt_int=fmt.fmt_int,
        fmt_bytes=fmt.fmt_bytes,
        fmt_dt=fmt.fmt_dt,
        fmt_pct=fmt.fmt_pct,
        fmt_date=fmt.fmt_date,
        fmt_duration=fmt.fmt_duration,
        fmt_epoch=fmt.fmt_epoch,
        exact_size=fmt.exact_size,
        tz_label=zones.label,
    )
    return templates


def url_with(request: Request, **changes: Any) -> str:
    """The current path and query with some parameters changed (None removes one)."""
    params = dict(request.query_params)
    for key, value in changes.items():
        if value is None or value == "":
            params.pop(key, None)
        else:
            params[key] = str(value)
    query = urlencode(params)
    return request.url.path + ("?" + query if query else "")


def render(request: Request, name: str, context: dict[str, Any] | None = None, *, status: int = 200) -> Response:
    lang = pick_lang(request)
    session = current_session(request)
    account = session.account if session else None
    ctx: dict[str, Any] = {
        "t": Translator(lang),
        "lang": lang,
        "langs": LANGS,
        "account": account,
        "csrf": csrf_token(request),
        "lang_url": lambda code: url_with(request, lang=code),
        "url_with": lambda **kw: url_with(request, **kw),
        "path": request.url.path,
        # The switcher is a search box (pages.switch_company): no page lists every company.
        "switcher": account is not None and account.is_operator and not account.must_change,
    }
    ctx.update(context or {})
    templates: Jinja2Templates = request.app.state.templates
    response = templates.TemplateResponse(request, name, ctx, status_code=status)
    if request.query_params.get("lang") in LANGS:
        set_cookie(request, response, LANG_COOKIE, lang, max_age=365 * 24 * 3600)
    ensure_anon_cookie(request, response)
    response.headers["Cache-Control"] = "no-store"
    return response
