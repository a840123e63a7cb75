"""The web service: dashboard pages, support pages and the HTTP API (``create_app``)."""

from .app import create_app

__all__ = ["create_app"]
