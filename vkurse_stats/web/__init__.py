"""The web service: dashboard pages, support pages and the HTTP API (``create_app``).

``create_app`` is imported on first use, so that the package's formatting and text modules can
be used (by the e-mails of ``notify``) without importing the app and everything it serves."""

from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from .app import create_app

        return create_app
    raise AttributeError(name)
