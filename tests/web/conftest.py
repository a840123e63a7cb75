"""Fixtures of the web tests: two companies seeded through the real ingest path, accounts of
each kind, and signed-in test clients.

The clock of the services is fixed at 2026-03-20 12:00 (Moscow); the figures of March 2026 that
the tests assert are worked out next to the records in :data:`ACME` below.
"""

from __future__ import annotations

import re
import shutil
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher, Type
from starlette.exceptions import StarletteDeprecationWarning

from tests.backends import DATABASE_URLS, database_url
from tests.conftest import lines
from vkurse_stats.config import Settings
from vkurse_stats.service import Services, open_services
from vkurse_stats.store.accounts import AccountStore
from vkurse_stats.web import create_app

with warnings.catch_warnings():
    # Starlette prefers the httpx2 package, which is not in the lock file; httpx still works.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

NOW = "2026-03-20T12:00:00+03:00"
PASSWORD = "correct-horse-battery"
MSK = "+03:00"


def _t(day: int, hm: str, month: int = 3) -> str:
    return f"2026-{month:02d}-{day:02d}T{hm}:00{MSK}"


def _conn(
    cid: str,
    parent: str,
    joined: str,
    left: str | None,
    *,
    user: str | None = None,
    transport: str = "webrtc",
    template: str | None = "meeting",
    client: str = "web",
    company: str = "acme",
    device: str = "Windows 10",
) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "kind": "connection",
        "id": cid,
        "company_id": company,
        "transport": transport,
        "joined_at": joined,
        "client": client,
        "device": device,
    }
    if template is None:
        rec["call_id"] = parent
    else:
        rec["event_id"] = parent
        rec["event_template"] = template
    if left:
        rec["left_at"] = left
    if user:
        rec["user_id"] = user
    return rec


# March 2026 in company "acme" (Europe/Moscow). Limits: speakers 3, events 2, connections 4,
# storage 1 000 000 bytes.
#  - 03-05 10:00-11:00 c1, 10:02-10:30 c2, 10:05-10:20 c3 (guest): meeting e1 «Планёрка»
#  - 03-05 10:10-10:15 call k1 with k1a, k1b
#    => at 10:10: 5 connections, 5 speakers (all webrtc), 2 active parents (e1 + k1)
#    => total.connections 5 (125 % of 4), total.speakers 5 (167 % of 3), total.events 2 (100 %)
#    => meetings.speakers 3 at 10:05 (100 %), calls.speakers 2, calls.calls 1
#  - 03-10 14:00-15:00 w1 speaker (webrtc), 14:10-14:50 w2, 14:15-14:45 w3 viewers (webrtmp):
#    webinar e2 => webinars.speakers 1, webinars.participants 2, webinars.events 1
#  - held: e1, e2, k1 => total.held 3; messages in March 3 (one more in February)
#  - files: f1 300 000 (03-07), f2 200 000 (02-20), f3 100 000 (03-08, deleted 03-09)
#    => uploaded in March 400 000; in use 500 000 (50 %)
#  - users: u1 registered in February, u2 and u3 in March => registered 2, total 3
#  - e3 «Квартальный обзор» created 03-15, scheduled 2026-04-01: planned for u1
ACME: list[dict[str, Any]] = [
    {
        "kind": "company",
        "id": "acme",
        "name": "ООО Акме",
        "timezone": "Europe/Moscow",
        "limits": {
            "concurrent_speakers": 3,
            "concurrent_events": 2,
            "concurrent_connections": 4,
            "storage_bytes": 1_000_000,
        },
    },
    {"kind": "user", "id": "u1", "company_id": "acme", "registered_at": _t(10, "09:00", 2), "name": "Иван Петров"},
    {"kind": "user", "id": "u2", "company_id": "acme", "registered_at": _t(2, "09:00"), "name": "Мария Смирнова"},
    {"kind": "user", "id": "u3", "company_id": "acme", "registered_at": _t(3, "09:00"), "name": "Пётр Сидоров"},
    {
        "kind": "event",
        "id": "e1",
        "company_id": "acme",
        "template": "meeting",
        "title": "Планёрка",
        "organizer_id": "u1",
        "created_at": _t(4, "09:00"),
        "scheduled_start": _t(5, "10:00"),
    },
    {
        "kind": "event",
        "id": "e2",
        "company_id": "acme",
        "template": "webinar",
        "title": "Вебинар о продукте",
        "organizer_id": "u2",
        "created_at": _t(6, "12:00"),
    },
    {
        "kind": "event",
        "id": "e3",
        "company_id": "acme",
        "template": "meeting",
        "title": "Квартальный обзор",
        "organizer_id": "u1",
        "created_at": _t(15, "12:00"),
        "scheduled_start": "2026-04-01T10:00:00+03:00",
    },
    _conn("c1", "e1", _t(5, "10:00"), _t(5, "11:00"), user="u1"),
    _conn("c2", "e1", _t(5, "10:02"), _t(5, "10:30"), user="u2", client="ios", device="iPhone 14"),
    _conn("c3", "e1", _t(5, "10:05"), _t(5, "10:20"), client="desktop", device="macOS"),
    {
        "kind": "call",
        "id": "k1",
        "company_id": "acme",
        "started_at": _t(5, "10:10"),
        "type": "personal",
        "initiator_id": "u3",
    },
    _conn("k1a", "k1", _t(5, "10:10"), _t(5, "10:15"), user="u3", template=None, client="android", device="Pixel 7"),
    _conn("k1b", "k1", _t(5, "10:10"), _t(5, "10:15"), user="u1", template=None),
    _conn("w1", "e2", _t(10, "14:00"), _t(10, "15:00"), user="u2", template="webinar"),
    _conn("w2", "e2", _t(10, "14:10"), _t(10, "14:50"), user="u1", template="webinar", transport="webrtmp"),
    _conn("w3", "e2", _t(10, "14:15"), _t(10, "14:45"), template="webinar", transport="webrtmp"),
    {"kind": "message", "id": "m0", "company_id": "acme", "sent_at": _t(27, "10:00", 2)},
    {"kind": "message", "id": "m1", "company_id": "acme", "sent_at": _t(5, "10:00")},
    {"kind": "message", "id": "m2", "company_id": "acme", "sent_at": _t(6, "10:00")},
    {"kind": "message", "id": "m3", "company_id": "acme", "sent_at": _t(7, "10:00")},
    {
        "kind": "file",
        "id": "f1",
        "company_id": "acme",
        "size_bytes": 300_000,
        "uploaded_at": _t(7, "10:00"),
        "owner_id": "u1",
    },
    {
        "kind": "file",
        "id": "f2",
        "company_id": "acme",
        "size_bytes": 200_000,
        "uploaded_at": _t(20, "10:00", 2),
        "owner_id": "u2",
    },
    {
        "kind": "file",
        "id": "f3",
        "company_id": "acme",
        "size_bytes": 100_000,
        "uploaded_at": _t(8, "10:00"),
        "owner_id": "u1",
        "deleted_at": _t(9, "10:00"),
    },
    {
        "kind": "login",
        "id": "l1",
        "company_id": "acme",
        "user_id": "u1",
        "at": _t(5, "09:55"),
        "client": "web",
        "device": "Windows 10",
    },
    {
        "kind": "login",
        "id": "l2",
        "company_id": "acme",
        "user_id": "u2",
        "at": _t(5, "09:58"),
        "client": "ios",
        "device": "iPhone 14",
    },
    {
        "kind": "login",
        "id": "l3",
        "company_id": "acme",
        "user_id": "u1",
        "at": _t(6, "09:00"),
        "client": "web",
        "device": "Windows 10",
    },
]

# Another tenant whose data must never show up for acme.
GLOBEX: list[dict[str, Any]] = [
    {"kind": "company", "id": "globex", "name": "Globex", "timezone": "Asia/Yekaterinburg"},
    {"kind": "user", "id": "g1", "company_id": "globex", "registered_at": _t(1, "09:00"), "name": "Secret Person"},
    {
        "kind": "event",
        "id": "ge1",
        "company_id": "globex",
        "template": "meeting",
        "title": "Секретное совещание",
        "organizer_id": "g1",
        "created_at": _t(4, "09:00"),
    },
    _conn("gc1", "ge1", _t(5, "10:00"), _t(5, "11:00"), user="g1", company="globex"),
    {
        "kind": "file",
        "id": "gf1",
        "company_id": "globex",
        "size_bytes": 777,
        "uploaded_at": _t(7, "10:00"),
        "owner_id": "g1",
    },
    {
        "kind": "login",
        "id": "gl1",
        "company_id": "globex",
        "user_id": "g1",
        "at": _t(5, "09:00"),
        "client": "web",
        "device": "Secret Device",
    },
]

# argon2id still, but cheap: the suite signs in hundreds of times.
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1, type=Type.ID)


class Clock:
    """A wall clock the tests move by hand (throttling windows, session expiry)."""

    def __init__(self, now: float = 1_773_997_200.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def backend() -> str:
    """The web layer only talks to the query API, whose backends have their own suite; one
    embedded backend keeps these tests fast."""
    return "duckdb"


@pytest.fixture(scope="session")
def seeded_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory seeded once through the real ingest path; each test gets a copy."""
    data_dir = tmp_path_factory.mktemp("web-seed") / "data"
    svc = open_services(Settings(data_dir=data_dir, fixed_now=NOW))
    try:
        result = svc.ingest_lines(lines(*ACME, *GLOBEX))
        assert result.rejected == 0, result.as_json()
    finally:
        svc.close()
    return data_dir


@pytest.fixture(params=DATABASE_URLS)
def meta_backend(request: pytest.FixtureRequest) -> str:
    """The metadata store (accounts, sessions, tokens, audit): SQLite, and PostgreSQL when
    VKURSE_STATS_TEST_DATABASE_URL is set."""
    return str(request.param)


@pytest.fixture
def seeded(
    make_services: Callable[..., Services],
    seeded_template: Path,
    tmp_path: Path,
    meta_backend: str,
    request: pytest.FixtureRequest,
) -> Services:
    if meta_backend == "sqlite":
        data_dir = tmp_path / "seeded"
        shutil.copytree(seeded_template, data_dir)
        return make_services(now=NOW, data_dir=data_dir)
    test_id = re.sub(r"\W+", "_", request.node.name)[-40:]
    svc = make_services(now=NOW, database_url=database_url(meta_backend, tmp_path, test_id))
    result = svc.ingest_lines(lines(*ACME, *GLOBEX))
    assert result.rejected == 0, result.as_json()
    return svc


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def accounts(seeded: Services, clock: Clock) -> AccountStore:
    store = AccountStore(seeded.meta.engine, clock=clock, hasher=FAST_HASHER)
    store.create_account("op@vkurse.ru", role="operator", password=PASSWORD)
    store.create_account("admin@acme.ru", role="admin", company_id="acme", password=PASSWORD)
    store.create_account("admin@globex.ru", role="admin", company_id="globex", password=PASSWORD)
    return store


@pytest.fixture
def make_app(seeded: Services, accounts: AccountStore) -> Callable[..., Any]:
    def make(**kw: Any) -> Any:
        return create_app(seeded, accounts=accounts, **kw)

    return make


@pytest.fixture
def app(make_app: Callable[..., Any]) -> Any:
    return make_app()


@pytest.fixture
def client(app: Any) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m, "no CSRF field in the page"
    return m.group(1)


def login(c: TestClient, email: str, password: str = PASSWORD) -> Any:
    page = c.get("/login")
    return c.post(
        "/login",
        data={"csrf": csrf_of(page.text), "email": email, "password": password, "next": "/dashboard"},
        follow_redirects=False,
    )


@pytest.fixture
def signed_in(app: Any) -> Iterator[Callable[[str], TestClient]]:
    """A new client signed in as ``email``."""
    opened: list[TestClient] = []

    def make(email: str) -> TestClient:
        c = TestClient(app)
        opened.append(c)
        r = login(c, email)
        assert r.status_code == 303, r.text
        return c

    yield make
    for c in opened:
        c.close()


@pytest.fixture
def admin(signed_in: Callable[[str], TestClient]) -> TestClient:
    return signed_in("admin@acme.ru")


@pytest.fixture
def operator(signed_in: Callable[[str], TestClient]) -> TestClient:
    return signed_in("op@vkurse.ru")


@pytest.fixture
def tokens(accounts: AccountStore) -> dict[str, str]:
    """Plain tokens of every kind, by name."""
    out = {}
    for name, scope, company in (
        ("acme_read", "read", "acme"),
        ("acme_ingest", "ingest", "acme"),
        ("platform_read", "read", None),
        ("platform_ingest", "ingest", None),
        ("globex_read", "read", "globex"),
    ):
        out[name] = accounts.create_token(scope, company, name)[1]
    return out


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
