"""Shared fixtures: real stores in a temporary data directory, seeded through the real ingest
path. The analytic store runs on every available backend (tests/backends.py)."""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.mail import HookSink, SmtpSink
from vkurse_stats.config import Settings
from vkurse_stats.service import Services, open_services

with warnings.catch_warnings():
    # Starlette now prefers the httpx2 package for its test client; httpx (locked) still works.
    # Imported once here, before any test module, so the warning is muted for this import only.
    from starlette.exceptions import StarletteDeprecationWarning

    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    import starlette.testclient  # noqa: F401

try:
    from tests.backends import ANALYTICS_BACKENDS, analytics_url
except ImportError:  # the scale-out backends are optional
    ANALYTICS_BACKENDS = ["duckdb"]

    def analytics_url(backend: str, tmp_path: Path, test_id: str) -> str | None:
        return None


NOW = "2026-06-01T12:00:00+00:00"


def lines(*records: dict[str, Any]) -> list[bytes]:
    return [json.dumps(r, ensure_ascii=False).encode() for r in records]


@pytest.fixture(params=ANALYTICS_BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_services(tmp_path: Path, backend: str, request: pytest.FixtureRequest) -> Iterator[Callable[..., Services]]:
    """Open (and later close) services on a fresh data dir; ``now`` fixes the clock."""
    opened: list[Services] = []
    test_id = re.sub(r"\W+", "_", request.node.name)[-40:]

    def make(now: str | None = NOW, data_dir: Path | None = None, **kw: Any) -> Services:
        d = data_dir or tmp_path / "data"
        settings = Settings(data_dir=d, fixed_now=now, analytics_url=analytics_url(backend, tmp_path, test_id), **kw)
        svc = open_services(settings)
        opened.append(svc)
        return svc

    yield make
    for svc in opened:
        svc.close()


@pytest.fixture
def svc(make_services: Callable[..., Services]) -> Services:
    return make_services()


_REQUIRED = {"browser": "VKURSE_STATS_REQUIRE_BROWSER", "libreoffice": "VKURSE_STATS_REQUIRE_LIBREOFFICE"}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Iterator[None]:
    """In CI (which installs Chromium and LibreOffice) a browser or LibreOffice test that skips
    is a failure: a missing install must not pass silently."""
    import os

    outcome = yield
    report = outcome.get_result()
    if report.skipped:
        for marker, env in _REQUIRED.items():
            if item.get_closest_marker(marker) and os.environ.get(env):
                report.outcome = "failed"
                report.longrepr = f"{marker} test skipped but {env} is set: {report.longrepr}"


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    """A local SMTP server that keeps what it receives."""
    sink = SmtpSink().start()
    yield sink
    sink.stop()


@pytest.fixture
def hook() -> Iterator[HookSink]:
    """A local HTTP server that receives webhooks and checks their signatures."""
    sink = HookSink()
    yield sink
    sink.close()
