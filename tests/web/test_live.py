"""The live view and licence alerts over HTTP, against a real uvicorn server running the writer and
the alert engine (its lifespan), a real local SMTP server and a real webhook receiver.

The seeded companies (tests/web/conftest.py) have their activity in early March; the clock is
fixed at 2026-03-20 12:00 Moscow, and "acme" has a limit of 4 concurrent connections.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from tests.conftest import lines
from tests.mail import HookSink, SmtpSink, free_port
from tests.web.conftest import FAST_HASHER, NOW, PASSWORD, Clock, csrf_of
from vkurse_stats.service import Services
from vkurse_stats.store.accounts import AccountStore
from vkurse_stats.web import create_app


def conn(
    cid: str,
    joined: str,
    left: str | None,
    *,
    event: str = "live1",
    transport: str = "webrtc",
    template: str = "meeting",
    company: str = "acme",
) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "kind": "connection",
        "id": cid,
        "company_id": company,
        "event_id": event,
        "event_template": template,
        "transport": transport,
        "joined_at": f"2026-03-20T{joined}:00+03:00",
    }
    if left:
        rec["left_at"] = f"2026-03-20T{left}:00+03:00"
    return rec


LIVE_EVENT = {
    "kind": "event",
    "id": "live1",
    "company_id": "acme",
    "template": "meeting",
    "title": "Созвон отдела",
    "organizer_id": "u1",
    "created_at": "2026-03-20T09:00:00+03:00",
}


class Stack:
    """The services, the server's address and an ingest and a read token of acme."""

    def __init__(self, svc: Services, app: Any, base: str, ingest: str, read: str) -> None:
        self.svc, self.app, self.base, self.ingest_token, self.read_token = svc, app, base, ingest, read

    def ingest(self, *records: dict[str, Any]) -> dict[str, Any]:
        r = httpx.post(
            self.base + "/api/v1/ingest",
            content=b"\n".join(lines(*records)),
            headers={"Authorization": f"Bearer {self.ingest_token}"},
            timeout=30,
        )
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        assert body["rejected"] == 0, body
        return body

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.base + path, headers={"Authorization": f"Bearer {self.read_token}"}, timeout=30)

    @contextlib.contextmanager
    def session(self, email: str) -> Iterator[httpx.Client]:
        with httpx.Client(base_url=self.base, timeout=30) as c:
            page = c.get("/login")
            r = c.post(
                "/login", data={"csrf": csrf_of(page.text), "email": email, "password": PASSWORD, "next": "/dashboard"}
            )
            assert r.status_code == 303, r.text
            yield c


@pytest.fixture
def stack(
    make_services: Callable[..., Services], seeded_template: Path, tmp_path: Path, smtp: SmtpSink
) -> Iterator[Stack]:
    data_dir = tmp_path / "seeded"
    shutil.copytree(seeded_template, data_dir)
    svc = make_services(
        now=NOW,
        data_dir=data_dir,
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        notify_interval=0.05,
        webhook_allow_private=True,  # the webhook receiver listens on 127.0.0.1
    )
    accounts = AccountStore(svc.meta.engine, clock=Clock(), hasher=FAST_HASHER)
    accounts.create_account("op@vkurse.ru", role="operator", password=PASSWORD)
    accounts.create_account("admin@acme.ru", role="admin", company_id="acme", password=PASSWORD)
    accounts.create_account("admin@globex.ru", role="admin", company_id="globex", password=PASSWORD)
    _, ingest = accounts.create_token("ingest", "acme")
    _, read = accounts.create_token("read", "acme")
    app = create_app(svc, accounts=accounts)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", ws="none", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.02)
    svc.start_notifier()
    yield Stack(svc, app, f"http://127.0.0.1:{port}", ingest, read)
    server.should_exit = True
    thread.join(15)


def _settle(stack: Stack) -> None:
    stack.svc.rollups.settle_for_read("acme")
    assert stack.svc.alerts.wait_idle()


def test_now_is_query_at_now_and_tenancy_holds(stack: Stack) -> None:
    stack.ingest(
        LIVE_EVENT,
        conn("n1", "11:50", None),
        conn("n2", "11:55", None, transport="webrtmp"),
        conn("n3", "10:00", "11:00"),
    )
    _settle(stack)
    data = stack.get("/api/v1/now").json()
    assert data == {**stack.svc.query.at("acme", stack.svc.now_us() - 1), "instant": data["instant"]}
    assert data["instant"] == "2026-03-20T12:00:00+03:00"
    assert data["metrics"]["total.connections"] == {"value": 2, "limit": 4}
    assert data["metrics"]["total.speakers"] == {"value": 1, "limit": 3}
    assert [(p["id"], p["title"], p["organizer_name"], p["connections"], p["speakers"]) for p in data["active"]] == [
        ("live1", "Созвон отдела", "Иван Петров", 2, 1)
    ]
    assert stack.get("/api/v1/now?company=globex").status_code == 404
    with stack.session("admin@globex.ru") as globex:
        assert globex.get("/api/v1/now?company=acme").status_code == 404
        assert globex.get("/api/v1/now").json()["company"] == "globex"


def test_the_stream_sends_the_figures_again_after_an_ingest(stack: Stack) -> None:
    events: list[dict[str, Any]] = []
    with httpx.stream(
        "GET", stack.base + "/api/v1/now/stream", timeout=10, headers={"Authorization": f"Bearer {stack.read_token}"}
    ) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        started = 0.0
        for line in r.iter_lines():
            if not line.startswith("data: "):
                continue
            events.append(json.loads(line.removeprefix("data: ")))
            if len(events) == 1:
                assert events[0]["metrics"]["total.connections"]["value"] == 0
                assert stack.app.state.live.watchers("acme") == 1  # only watched companies are recomputed
                started = time.monotonic()
                stack.ingest(LIVE_EVENT, conn("s1", "11:58", None))
            else:
                break
        assert time.monotonic() - started < 2.0
    assert events[1]["metrics"]["total.connections"]["value"] == 1
    assert events[1]["active"][0]["id"] == "live1"


def test_an_ingest_over_a_threshold_mails_and_calls_the_webhook_once(
    stack: Stack, smtp: SmtpSink, hook: HookSink
) -> None:
    with stack.session("admin@acme.ru") as admin:
        page = admin.get("/settings")
        assert 'id="alerts-form"' in page.text
        fields = {
            "csrf": csrf_of(page.text),
            "total.connections": "100",
            "total.speakers": "",
            "total.events": "",
            "meetings.speakers": "",
            "meetings.events": "",
            "webinars.speakers": "",
            "webinars.events": "",
            "calls.speakers": "",
            "calls.calls": "",
        }
        assert admin.post("/settings/alerts", data=fields).status_code == 303
        assert admin.post("/settings/alerts", data={**fields, "csrf": "forged"}).status_code == 403
        r = admin.post("/settings/webhook", data={"csrf": fields["csrf"], "url": hook.url})
        assert r.status_code == 303
    hook.secret = stack.svc.notifier.store.webhook("acme").secret  # type: ignore[union-attr]
    # Three at 12:00, then the fourth: 4 of 4 is the 100 % threshold. Sent twice: one alert.
    batch = [LIVE_EVENT, *[conn(f"t{i}", "12:00", "12:30") for i in range(4)]]
    stack.ingest(*batch[:4])
    stack.ingest(*batch)
    stack.ingest(*batch)
    _settle(stack)
    deadline = time.monotonic() + 10
    while (not smtp.messages or not hook.requests) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # anything sent twice would arrive by now
    assert [m[1] for m in smtp.messages] == [["admin@acme.ru"]]
    message = smtp.parsed()
    assert "100 %" in message["Subject"] and "ООО Акме" in message["Subject"]
    assert "Созвон отдела" in message.get_content()
    [(headers, body, valid)] = hook.requests
    assert valid
    data = json.loads(body)
    assert (data["type"], data["kind"], data["metric"], data["percent"], data["value"], data["limit"]) == (
        "alert",
        "raised",
        "total.connections",
        100,
        4,
        4,
    )
    assert data["active"][0]["connections"] == 4
    alerts = stack.get("/api/v1/alerts").json()
    assert alerts["total"] == 1 and alerts["alerts"][0]["instant"] == "2026-03-20T12:00:00+03:00"
    actions = [e.action for e in stack.svc.accounts.audit_entries(company_id="acme")[0]]
    assert {"alerts.thresholds", "alert.raised", "delivery.sent"} <= set(actions)
    # The badge, then the list that clears it.
    with stack.session("admin@acme.ru") as admin:
        assert 'id="unread-badge"' in admin.get("/dashboard").text
        listing = admin.get("/notifications").text
        assert 'data-alert="' in listing and "Созвон отдела" in listing
        assert 'id="unread-badge"' not in admin.get("/dashboard").text


def test_thresholds_are_checked_and_support_sets_any_company(stack: Stack) -> None:
    with stack.session("admin@acme.ru") as admin:
        page = admin.get("/settings")
        r = admin.post("/settings/alerts", data={"csrf": csrf_of(page.text), "total.connections": "abc"})
        assert r.status_code == 400 and 'id="settings-error"' in r.text
        r = admin.post(
            "/settings/alerts", data={"csrf": csrf_of(page.text), "company": "globex", "total.connections": "50"}
        )
        assert r.status_code == 404
    with stack.session("op@vkurse.ru") as op:
        page = op.get("/settings?company=globex")
        assert 'id="alerts-form"' in page.text
        r = op.post(
            "/settings/alerts", data={"csrf": csrf_of(page.text), "company": "globex", "total.connections": "80, 100"}
        )
        assert r.status_code == 303
    store = stack.svc.alerts.store
    assert store.thresholds("globex", ["total.connections"], (90, 100))["total.connections"].percents == (80, 100)
    assert store.thresholds("acme", ["total.connections"], (90, 100))["total.connections"].custom is False
    [entry] = stack.svc.accounts.audit_entries(action="alerts.thresholds")[0]
    assert (entry.actor, entry.company_id, entry.detail["after"]) == (
        "op@vkurse.ru",
        "globex",
        {
            "total.connections": [80, 100],
            "total.speakers": [],
            "total.events": [],
            "meetings.speakers": [],
            "meetings.events": [],
            "webinars.speakers": [],
            "webinars.events": [],
            "calls.speakers": [],
            "calls.calls": [],
        },
    )


def test_pages_need_a_session_and_show_the_company(stack: Stack) -> None:
    assert httpx.get(stack.base + "/now").status_code in (302, 303)
    with stack.session("admin@acme.ru") as admin:
        page = admin.get("/now")
        assert page.status_code == 200 and 'id="now-config"' in page.text and "ООО Акме" in page.text
        assert admin.get("/now?company=globex").status_code == 404
        assert "Globex" not in admin.get("/notifications").text
