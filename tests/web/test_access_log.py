"""The access log of a real uvicorn server, configured as ``vkurse-stats serve`` configures it:
no token from a query string or an Authorization header ever reaches it, and behind a trusted
proxy it names the client the app sees."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import uvicorn

from tests.web.conftest import bearer
from vkurse_stats.web.accesslog import log_config, redact_target

MARCH = {"from": "2026-03-01", "to": "2026-03-31"}


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def serve(make_app: Callable[..., Any]) -> Iterator[Callable[..., tuple[str, Collect]]]:
    """``serve(**app_options)``: the app on a real uvicorn server with serve's logging; returns
    its base URL and every line any logger wrote while it ran."""
    started: list[tuple[uvicorn.Server, threading.Thread]] = []
    collect = Collect()
    collect.setFormatter(logging.Formatter("%(name)s %(message)s"))
    loggers = [logging.getLogger(name) for name in ("", "uvicorn", "uvicorn.error", "uvicorn.access")]

    def start(**options: Any) -> tuple[str, Collect]:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        config = uvicorn.Config(
            make_app(**options),
            log_config=log_config(),
            log_level="info",
            proxy_headers=False,
            lifespan="off",
            http="h11",
            ws="none",
        )
        for logger in loggers:  # after the config applied serve's logging setup
            logger.addHandler(collect)
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        started.append((server, thread))
        for _ in range(600):
            if server.started:
                break
            thread.join(0.05)
        assert server.started, "uvicorn did not start"
        host, port = sock.getsockname()
        return f"http://{host}:{port}", collect

    yield start
    for server, thread in started:
        server.should_exit = True
        thread.join(30)
    for logger in loggers:
        logger.removeHandler(collect)


def test_the_access_log_keeps_no_token(serve: Any, tokens: dict[str, str]) -> None:
    base, log = serve()
    secret_in_query = tokens["platform_read"]
    with httpx.Client(base_url=base) as http:
        r = http.get(
            "/api/v1/summary",
            params={**MARCH, "company": "acme", "token": secret_in_query},
            headers=bearer(tokens["acme_read"]),
        )
        assert r.status_code == 200
        http.get(f"/api/v1/daily?{secret_in_query}", headers=bearer(tokens["acme_ingest"]))
        http.get("/login", params={"next": "/dashboard", "password": "hunter2-hunter2"})
    access = [line for line in log.lines if line.startswith("uvicorn.access ")]
    assert len(access) == 3, log.lines
    assert ('"GET /api/v1/summary?from=2026-03-01&to=2026-03-31&company=acme&token=*** HTTP/1.1" 200') in access[0]
    assert '"GET /api/v1/daily?***=*** HTTP/1.1" 403' in access[1]
    assert '"GET /login?next=***&password=*** HTTP/1.1" 200' in access[2]
    everything = "\n".join(log.lines)
    for secret in (*tokens.values(), "hunter2"):
        assert secret not in everything


def test_the_access_log_names_the_client_behind_a_trusted_proxy(serve: Any) -> None:
    base, log = serve(trusted_proxies="127.0.0.0/8")
    with httpx.Client(base_url=base) as http:
        http.get("/login", headers={"X-Forwarded-For": "6.6.6.6, 203.0.113.77"})
    (line,) = [line for line in log.lines if line.startswith("uvicorn.access ")]
    assert line.startswith('uvicorn.access 203.0.113.77:0 - "GET /login HTTP/1.1" 200'), line


@pytest.mark.parametrize(
    "target,logged",
    [
        ("/api/v1/summary", "/api/v1/summary"),
        (
            "/x?from=2026-03-01&to=2026-03-31&company=a%20b&lang=en",
            "/x?from=2026-03-01&to=2026-03-31&company=a%20b&lang=en",
        ),
        ("/x?access_token=abc&q=secret+words", "/x?access_token=***&q=***"),
        ("/x?vks_0123456789abcdefghijklmnopqrstuvwxyz", "/x?***=***"),
        ("/x?company=<script>", "/x?company=%3Cscript%3E"),
    ],
)
def test_query_values_are_redacted(target: str, logged: str) -> None:
    assert redact_target(target) == logged
