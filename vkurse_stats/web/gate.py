"""Admission control for reads: at most a few dashboard and API reads compute at once.

Reads are CPU-bound (DuckDB, Arrow, NumPy, page rendering) and every request thread of one
process shares the interpreter lock, so twenty reads at once on two cores each run ten times
slower and leave ingest requests a sliver of the processor. Reads beyond the limit wait their
turn in the event loop, costing nothing; writes, sign-in, static files and health checks pass.
"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Receive, Scope, Send

UNGATED = ("/static/", "/healthz", "/readyz", "/api/v1/ingest", "/login", "/favicon.ico")


class ReadGate:
    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = max(1, limit)
        self._semaphore: asyncio.Semaphore | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD") or scope["path"].startswith(UNGATED):
            await self.app(scope, receive, send)
            return
        if self._semaphore is None:  # made in the server's event loop
            self._semaphore = asyncio.Semaphore(self.limit)
        async with self._semaphore:
            await self.app(scope, receive, send)
