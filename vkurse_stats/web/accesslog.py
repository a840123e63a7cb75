"""The access log of ``vkurse-stats serve``: uvicorn's, without secrets.

uvicorn logs each request's path with its query string, where a client may have put a token or a
password (``?token=…``); values of query parameters are therefore logged only for the few names
known to be harmless (dates, company, language), every other value is replaced by ``***``.
Headers, ``Authorization`` included, are never part of the access log.
"""

from __future__ import annotations

import copy
import logging
import re
from typing import Any
from urllib.parse import parse_qsl, quote

from uvicorn.config import LOGGING_CONFIG

SHOWN_PARAMETERS = frozenset({"from", "to", "company", "lang"})
REDACTED = "***"
_PLAIN_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,23}")


def redact_target(target: str) -> str:
    """``path?query`` with the values of all but :data:`SHOWN_PARAMETERS` replaced."""
    path, sep, query = target.partition("?")
    if not sep:
        return target
    parts = []
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name in SHOWN_PARAMETERS:
            parts.append(f"{name}={quote(value, safe='-:.')}")
        else:
            # A bare secret (``?vks_…``) arrives as a name: only short plain names are kept.
            parts.append(f"{name if _PLAIN_NAME.fullmatch(name) else REDACTED}={REDACTED}")
    return f"{path}?{'&'.join(parts)}"


class RedactQuery(logging.Filter):
    """Rewrites the target of uvicorn's access records (client, method, target, version,
    status) before any handler formats them."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            record.args = (args[0], args[1], redact_target(args[2]), args[3], args[4])
        return True


def log_config() -> dict[str, Any]:
    """uvicorn's logging configuration with :class:`RedactQuery` on its access logger."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["redact_query"] = {"()": f"{__name__}.RedactQuery"}
    config["loggers"]["uvicorn.access"]["filters"] = ["redact_query"]
    return config
