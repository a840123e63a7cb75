"""The account store on every available metadata backend (SQLite; PostgreSQL when
VKURSE_STATS_TEST_DATABASE_URL is set): accounts, sessions, tokens, audit, throttling."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.backends import DATABASE_URLS, database_url
from tests.web.conftest import FAST_HASHER, Clock
from vkurse_stats.store.accounts import (
    BACKOFF_BASE_S,
    FAILURES_BEFORE_BACKOFF,
    SESSION_SECONDS,
    AccountError,
    AccountStore,
    Throttled,
)
from vkurse_stats.store.meta import MetaStore


@pytest.fixture(params=DATABASE_URLS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AccountStore]:
    test_id = re.sub(r"\W+", "_", request.node.name)[-40:]
    url = database_url(str(request.param), tmp_path, test_id) or f"sqlite:///{tmp_path / 'meta.sqlite3'}"
    meta = MetaStore(url)
    meta.put_company("acme", "Acme")
    yield AccountStore(meta.engine, clock=Clock(), hasher=FAST_HASHER)
    meta.close()


def test_accounts_lifecycle(store: AccountStore) -> None:
    acct, one_time = store.create_account(" Admin@Acme.RU ", role="admin", company_id="acme")
    assert acct.email == "admin@acme.ru" and acct.must_change and len(one_time) >= 16
    with pytest.raises(AccountError):
        store.create_account("admin@acme.ru", role="admin", company_id="acme")
    with pytest.raises(AccountError):
        store.create_account("nobody@acme.ru", role="admin")
    with pytest.raises(AccountError):
        store.create_account("not-an-email", role="operator")
    assert store.verify_password("ADMIN@acme.ru", one_time) is not None
    assert store.verify_password("admin@acme.ru", "wrong") is None
    assert store.verify_password("ghost@acme.ru", one_time) is None
    with pytest.raises(AccountError):
        store.set_password(acct.id, "short")
    store.set_password(acct.id, "my-own-password")
    fresh = store.account(acct.id)
    assert fresh is not None and not fresh.must_change and fresh.last_login_at is not None
    new_one_time = store.reset_password(acct.id)
    assert store.verify_password("admin@acme.ru", "my-own-password") is None
    after = store.verify_password("admin@acme.ru", new_one_time)
    assert after is not None and after.must_change
    store.set_disabled(acct.id)
    assert store.verify_password("admin@acme.ru", new_one_time) is None
    store.set_disabled(acct.id, False)
    assert store.verify_password("admin@acme.ru", new_one_time) is not None
    op, _ = store.create_account("op@vkurse.ru", role="operator", company_id="acme")
    assert op.company_id is None and op.is_operator
    assert [a.email for a in store.accounts()] == ["admin@acme.ru", "op@vkurse.ru"]
    assert [a.email for a in store.accounts("acme")] == ["admin@acme.ru"]


def test_sessions(store: AccountStore) -> None:
    acct, _ = store.create_account("a@acme.ru", role="admin", company_id="acme", password="a-long-password")
    sid, session = store.create_session(acct.id)
    got = store.session(sid)
    assert got is not None and got.account.id == acct.id and got.csrf == session.csrf
    assert store.session("forged") is None and store.session("") is None
    store.clock.now += SESSION_SECONDS + 1  # type: ignore[attr-defined]
    assert store.session(sid) is None
    sid2, _ = store.create_session(acct.id)
    store.reset_password(acct.id)  # a reset ends every session
    assert store.session(sid2) is None
    sid3, _ = store.create_session(acct.id)
    store.end_session(sid3)
    assert store.session(sid3) is None


def test_tokens(store: AccountStore) -> None:
    tok, plain = store.create_token("ingest", "acme", "platform push")
    assert plain.startswith("vks_") and tok.prefix == plain[:10]
    got = store.verify_token(plain)
    assert got is not None and (got.scope, got.company_id) == ("ingest", "acme")
    assert store.verify_token(plain + "x") is None and store.verify_token("abc") is None
    with pytest.raises(AccountError):
        store.create_token("admin", None)
    store.revoke_token(tok.id)
    assert store.verify_token(plain) is None
    with pytest.raises(AccountError):
        store.revoke_token(tok.id)
    with pytest.raises(AccountError):
        store.revoke_token(9999)


def test_audit_and_throttle(store: AccountStore) -> None:
    store.audit("op@vkurse.ru", "company.create", "acme", "10.0.0.1", limits={"a": 1}, name="Акме")
    store.audit("op@vkurse.ru", "token.create", None, "10.0.0.1")
    entries, total = store.audit_entries()
    assert total == 2 and [e.action for e in entries] == ["token.create", "company.create"]
    assert entries[1].detail == {"limits": {"a": 1}, "name": "Акме"}
    assert store.audit_entries(company_id="acme")[1] == 1

    store.create_account("a@acme.ru", role="admin", company_id="acme", password="a-long-password")
    for _ in range(FAILURES_BEFORE_BACKOFF - 1):
        assert store.check_password("a@acme.ru", "wrong", "10.0.0.1") is None
    assert store.throttle_wait("a@acme.ru", "10.0.0.1") == 0
    assert store.check_password("A@acme.ru", "wrong", "10.0.0.1") is None
    assert store.throttle_wait("a@acme.ru", "10.0.0.1") == BACKOFF_BASE_S
    with pytest.raises(Throttled):
        store.check_password("a@acme.ru", "a-long-password", "10.0.0.1")
    store.clock.now += 20  # type: ignore[attr-defined]
    assert store.throttle_wait("a@acme.ru", "10.0.0.1") == BACKOFF_BASE_S - 20
    # Not from another address, and a success there forgets nothing here.
    assert store.throttle_wait("a@acme.ru", "10.0.0.2") == 0
    assert store.check_password("a@acme.ru", "a-long-password", "10.0.0.2") is not None
    assert store.throttle_wait("a@acme.ru", "10.0.0.1") == BACKOFF_BASE_S - 20
