"""Fixtures of the scale-out tests: services on chDB (the real ClickHouse engine, in-process) and
on the embedded DuckDB, fed the same JSON lines; PostgreSQL when a test server is configured."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.backends import ANALYTICS_BACKENDS, POSTGRES_ENV, analytics_url, database_url
from vkurse_stats.config import Settings
from vkurse_stats.service import Services, open_services

NOW = "2026-03-15T12:00:00+03:00"

needs_chdb = pytest.mark.skipif(
    "chdb" not in ANALYTICS_BACKENDS, reason="chdb (the ClickHouse engine wheel) is not installed"
)
needs_postgres = pytest.mark.skipif(
    not os.environ.get(POSTGRES_ENV),
    reason=f"no PostgreSQL test server: set {POSTGRES_ENV} (scripts/postgres.sh start DIR PORT prints one)",
)


@pytest.fixture
def open_backend(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Callable[..., Services]]:
    """``open_backend("chdb"|"duckdb", now=..., name=...)``: services on a fresh store of that
    backend (a fresh chDB database per call; DuckDB in its own data dir)."""
    opened: list[Services] = []
    base = re.sub(r"\W+", "_", request.node.name)[-30:]

    def make(backend: str, now: str | None = NOW, name: str = "a", **kw: Any) -> Services:
        settings = Settings(
            data_dir=kw.pop("data_dir", tmp_path / f"{backend}-{name}"),
            fixed_now=now,
            analytics_url=kw.pop("analytics_url", None) or analytics_url(backend, tmp_path, f"{base}_{name}"),
            **kw,
        )
        svc = open_services(settings)
        opened.append(svc)
        return svc

    yield make
    for svc in opened:
        svc.close()  # closing twice (a test closed it already) is harmless


@pytest.fixture
def pg_url(tmp_path: Path, request: pytest.FixtureRequest) -> str:
    url = database_url("postgresql", tmp_path, request.node.name)
    assert url is not None
    return url
