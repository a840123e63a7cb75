"""Many people at once: real concurrent clients against a real uvicorn server, dashboards and API
reads beside ingest writes, and the health probes.

The loops are bounded in time and count and target 127.0.0.1 only.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

import httpx
import pytest
import uvicorn

from tests.conftest import lines
from tests.web.conftest import PASSWORD, bearer
from vkurse_stats.service import Services
from vkurse_stats.store.accounts import AccountStore

MARCH = {"from": "2026-03-01", "to": "2026-03-31"}


@pytest.fixture
def server(make_app: Callable[..., Any]) -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(
        uvicorn.Config(make_app(), host="127.0.0.1", port=port, log_level="warning", ws="none", lifespan="on")
    )
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    for _ in range(200):
        if srv.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=30)


def _session(accounts: AccountStore, email: str) -> str:
    acct = accounts.account_by_email(email)
    assert acct is not None
    accounts.set_password(acct.id, PASSWORD)  # no forced change at first sign-in
    return accounts.create_session(acct.id)[0]


def _batch(writer: int, n: int, size: int = 50) -> bytes:
    rows = [
        {
            "kind": "connection",
            "id": f"cw{writer}-{n}-{i}",
            "company_id": "acme",
            "call_id": f"wk{writer}-{n}",
            "transport": "webrtc",
            "joined_at": f"2026-03-12T10:{i % 60:02d}:00+03:00",
            "left_at": f"2026-03-12T11:{i % 60:02d}:00+03:00",
            "user_id": f"wu{i}",
        }
        for i in range(size)
    ]
    return "\n".join(json.dumps(r) for r in rows).encode()


def test_dashboards_summaries_and_ingest_at_once_never_fail(
    server: str, accounts: AccountStore, tokens: dict[str, str], seeded: Services
) -> None:
    """Two dashboards and two summaries loop for a few seconds while two writers ingest: every
    answer is 200, on kept-alive connections, and every accepted record is stored."""
    stop = time.monotonic() + 4
    failures: list[str] = []
    counts: dict[str, int] = {}
    accepted: list[int] = []
    lock = threading.Lock()

    def loop(name: str, request: Callable[[httpx.Client], httpx.Response]) -> None:
        n = 0
        with httpx.Client(base_url=server, timeout=60) as c:
            while time.monotonic() < stop and n < 500:
                r = request(c)
                n += 1
                if r.status_code != 200:
                    with lock:
                        failures.append(f"{name}: {r.status_code} {r.text[:200]}")
        with lock:
            counts[name] = n

    def dashboard(email: str) -> Callable[[httpx.Client], httpx.Response]:
        sid = _session(accounts, email)

        def get(c: httpx.Client) -> httpx.Response:
            c.cookies.set("vks_session", sid)
            return c.get("/dashboard", params=MARCH)

        return get

    def summary(token: str) -> Callable[[httpx.Client], httpx.Response]:
        return lambda c: c.get("/api/v1/summary", params=MARCH, headers=bearer(token))

    def writer(w: int) -> Callable[[httpx.Client], httpx.Response]:
        sent = iter(range(10_000))

        def post(c: httpx.Client) -> httpx.Response:
            r = c.post("/api/v1/ingest", content=_batch(w, next(sent)), headers=bearer(tokens["acme_ingest"]))
            if r.status_code == 200:
                with lock:
                    accepted.append(r.json()["accepted"])
            return r

        return post

    jobs = [
        ("dashboard acme", dashboard("admin@acme.ru")),
        ("dashboard globex", dashboard("admin@globex.ru")),
        ("summary acme", summary(tokens["acme_read"])),
        ("summary globex", summary(tokens["globex_read"])),
        ("writer 1", writer(1)),
        ("writer 2", writer(2)),
    ]
    threads = [threading.Thread(target=loop, args=job) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert all(counts[name] >= 1 for name, _ in jobs), counts
    stored = seeded.analytics.rows("SELECT count(*) FROM connections WHERE starts_with(id, 'cw')")[0][0]
    assert stored == sum(accepted) > 0


def test_a_read_sees_what_ingest_answered_as_stored(server: str, tokens: dict[str, str]) -> None:
    """Read-your-writes: once ingest answers, the next summary counts the records (the writer's
    queued rollups of that company are applied before the read)."""
    with httpx.Client(base_url=server, timeout=60) as c:
        before = c.get("/api/v1/summary", params=MARCH, headers=bearer(tokens["acme_read"])).json()
        line = {
            "kind": "connection",
            "id": "ryw-1",
            "company_id": "acme",
            "call_id": "ryw",
            "transport": "webrtc",
            "joined_at": "2026-03-25T10:00:00+03:00",
            "left_at": "2026-03-25T10:30:00+03:00",
        }
        r = c.post("/api/v1/ingest", content=json.dumps(line), headers=bearer(tokens["acme_ingest"]))
        assert r.json()["accepted"] == 1
        after = c.get("/api/v1/summary", params=MARCH, headers=bearer(tokens["acme_read"])).json()
    assert after["metrics"]["calls.held"]["value"] == before["metrics"]["calls.held"]["value"] + 1


def test_health_and_readiness(server: str) -> None:
    with httpx.Client(base_url=server, timeout=30) as c:
        alive = c.get("/healthz")
        ready = c.get("/readyz")
    assert alive.status_code == 200 and alive.json() == {"status": "ok"}
    assert ready.status_code == 200 and ready.json() == {"status": "ok", "checks": {}}
    assert alive.headers["cache-control"] == "no-store"


def test_a_read_never_waits_for_a_write_in_progress(seeded: Services) -> None:
    """While a write holds the store (another company's batch, say), reads of any company go on,
    those whose days depend on the clock included: such days are recomputed for the read and
    agree with what the writer stores later."""
    open_now = {
        "kind": "connection",
        "id": "open-1",
        "company_id": "acme",
        "event_id": "open-e",
        "event_template": "meeting",
        "transport": "webrtc",
        "joined_at": "2026-03-20T11:00:00+03:00",
    }
    assert seeded.ingest_lines(lines(open_now)).accepted == 1
    later = seeded.rollups.clock() + 3_600_000_000
    seeded.rollups.clock = lambda: later  # an hour on: the open connection's day moved
    held, release = threading.Event(), threading.Event()

    def write() -> None:
        with seeded.analytics.locked():
            held.set()
            release.wait(60)

    writer = threading.Thread(target=write)
    writer.start()
    held.wait()
    answers: dict[str, Any] = {}

    def read() -> None:
        for company in ("acme", "globex"):
            answers[company] = seeded.query.report(company, date(2026, 3, 1), date(2026, 3, 31))
        answers["events"] = seeded.query.events("acme", date(2026, 3, 1), date(2026, 3, 31), limit=100).rows

    reader = threading.Thread(target=read)
    reader.start()
    reader.join(timeout=60)
    finished = not reader.is_alive()
    release.set()
    writer.join()
    reader.join()
    assert finished, "a read waited for the write"
    summary, days = answers["acme"]
    day20 = next(d for d in days if d.date == date(2026, 3, 20))
    assert day20.metrics["meetings.held"].value == 1
    (live,) = [row for row in answers["events"] if row["id"] == "open-e"]
    assert live["last_leave"] == later and live["duration_s"] == 2 * 3600  # 11:00 to 13:00
    seeded.rollups.rebuild("acme")  # every figure from the raw records, at the same clock
    assert seeded.query.report("acme", date(2026, 3, 1), date(2026, 3, 31)) == answers["acme"]
    assert seeded.query.events("acme", date(2026, 3, 1), date(2026, 3, 31), limit=100).rows == answers["events"]
