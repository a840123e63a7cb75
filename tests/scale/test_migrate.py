"""``vkurse-stats migrate``: an embedded installation copied to ClickHouse (chDB) plus another
metadata database (PostgreSQL when configured, else a second SQLite file), verified by reports."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pytest
from argon2 import PasswordHasher, Type
from click.testing import CliRunner

from tests.backends import POSTGRES_ENV, analytics_url, database_url
from tests.scale.conftest import NOW, needs_chdb
from tests.scale.gen import lines, records
from vkurse_stats.cli import cli
from vkurse_stats.config import Settings
from vkurse_stats.service import open_services
from vkurse_stats.store.accounts import AccountStore

pytestmark = needs_chdb
FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1, type=Type.ID)


def _seed(data_dir: Path) -> str:
    svc = open_services(Settings(data_dir=data_dir, fixed_now=NOW))
    try:
        data = lines(records(3, days=8) + records(4, company="beta", tz="Asia/Vladivostok", days=4))
        assert svc.ingest_lines(data).rejected == 0
        accounts = AccountStore(svc.meta.engine, hasher=FAST)
        accounts.create_account("admin@acme.ru", role="admin", company_id="acme", password="a-long-password")
        accounts.create_token("ingest", None, "platform")
        accounts.audit("support@vkurse.ru", "company.create", "acme")
    finally:
        svc.close()
    return NOW


@pytest.mark.parametrize("meta_kind", ["sqlite", "postgresql"])
def test_migrate_copies_and_verifies(tmp_path: Path, meta_kind: str) -> None:
    if meta_kind == "postgresql" and not os.environ.get(POSTGRES_ENV):
        pytest.skip(f"no PostgreSQL test server ({POSTGRES_ENV} is unset)")
    src = tmp_path / "data"
    _seed(src)
    target_analytics = analytics_url("chdb", tmp_path, f"migrate_{meta_kind}")
    target_db = database_url(meta_kind, tmp_path, f"migrate_{meta_kind}") or f"sqlite:///{tmp_path / 'target.sqlite3'}"
    assert target_analytics
    args = ["--data-dir", str(src), "migrate", "--analytics-url", target_analytics, "--database-url", target_db]
    env = {"VKURSE_STATS_NOW": NOW, "VKURSE_STATS_ANALYTICS_URL": "", "VKURSE_STATS_DATABASE_URL": ""}
    result = CliRunner().invoke(cli, args, env=env)
    assert result.exit_code == 0, result.output
    assert "verified 2 companies: identical summaries" in result.output
    assert "accounts 1" in result.output and "api_tokens 1" in result.output

    dst = open_services(
        Settings(data_dir=tmp_path / "unused", fixed_now=NOW, analytics_url=target_analytics, database_url=target_db)
    )
    try:
        assert [c.id for c in dst.meta.companies()] == ["acme", "beta"]
        accounts = AccountStore(dst.meta.engine, hasher=FAST)
        assert accounts.verify_password("admin@acme.ru", "a-long-password") is not None
        accounts.create_account("new@acme.ru", role="admin", company_id="acme")  # ids continue after copied ones
        assert dst.query.events("acme", date(2026, 3, 1), date(2026, 3, 31)).total > 0
        # Copying into stores that already hold data is refused.
        again = CliRunner().invoke(cli, args, env=env)
        assert again.exit_code != 0 and "not empty" in again.output
    finally:
        dst.close()
