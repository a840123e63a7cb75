"""The metadata store on a real PostgreSQL server: companies, accounts, sessions, tokens, audit
and throttling behave as on SQLite. Needs VKURSE_STATS_TEST_DATABASE_URL (see conftest)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest
from argon2 import PasswordHasher, Type

from tests.scale.conftest import needs_postgres
from vkurse_stats.store.accounts import AccountError, AccountStore
from vkurse_stats.store.meta import MetaStore

pytestmark = needs_postgres
FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1, type=Type.ID)


@pytest.fixture
def meta(pg_url: str) -> Iterator[MetaStore]:
    store = MetaStore(pg_url)
    yield store
    store.close()


def test_runs_on_postgresql_in_its_own_schema(meta: MetaStore) -> None:
    assert meta.engine.dialect.name == "postgresql"
    with meta.engine.connect() as conn:
        assert str(conn.exec_driver_sql("SELECT current_schema()").scalar()).startswith("t")


def test_companies_round_trip_with_unicode_and_limits(meta: MetaStore) -> None:
    before, after = meta.put_company(
        "romashka", "ООО «Ромашка»", "Asia/Yekaterinburg", {"concurrent_speakers": 20, "storage_bytes": 10**15}
    )
    assert before is None
    assert after.limits["storage_bytes"] == 10**15
    meta.put_company("romashka", limits={"concurrent_speakers": None})
    (c,) = meta.companies()
    assert (c.name, c.timezone, c.limits["concurrent_speakers"]) == ("ООО «Ромашка»", "Asia/Yekaterinburg", None)
    with pytest.raises(ValueError, match="timezone"):
        meta.put_company("x", timezone="Mars/Base")


def test_migrate_twice_keeps_data(meta: MetaStore, pg_url: str) -> None:
    meta.put_company("a")
    again = MetaStore(pg_url)
    try:
        assert [c.id for c in again.companies()] == ["a"]
    finally:
        again.close()


def test_accounts_sessions_tokens_audit(meta: MetaStore) -> None:
    now = [1_000_000.0]
    store = AccountStore(meta.engine, clock=lambda: now[0], hasher=FAST)
    admin, password = store.create_account("Admin@Example.ru", role="admin", company_id="a")
    assert store.verify_password("admin@example.ru", password) == admin
    assert store.verify_password("admin@example.ru", "wrong") is None
    with pytest.raises(AccountError, match="already exists"):
        store.create_account("admin@example.ru", role="admin", company_id="a")
    op, _ = store.create_account("op@example.ru", role="operator", password="long-enough-1")
    assert op.id != admin.id and op.company_id is None
    sid, session = store.create_session(admin.id)
    assert store.session(sid).account.id == admin.id  # type: ignore[union-attr]
    store.set_disabled(admin.id)
    assert store.session(sid) is None
    token, plain = store.create_token("ingest", "a", "платформа")
    assert store.verify_token(plain) == token
    store.revoke_token(token.id)
    assert store.verify_token(plain) is None
    store.audit("op@example.ru", "company.create", "a", "127.0.0.1", name="Акме", day=date(2026, 3, 1))
    entries, total = store.audit_entries(company_id="a")
    assert total == 1 and entries[0].detail == {"name": "Акме", "day": "2026-03-01"}
    for _ in range(5):
        assert store.check_password("x@example.ru", "wrong", "10.0.0.1") is None
    assert store.throttle_wait("x@example.ru", "10.0.0.1") > 0
    assert store.throttle_wait("x@example.ru", "10.0.0.2") == 0
