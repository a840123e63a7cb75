"""``vkurse-stats account …`` and ``vkurse-stats token …`` (bootstrapping a fresh install)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import click
from click.testing import CliRunner

from vkurse_stats.admin_cli import account, token
from vkurse_stats.config import Settings
from vkurse_stats.service import open_services
from vkurse_stats.store.accounts import AccountStore


def _group(m: re.Match[str] | None) -> str:
    assert m is not None, "pattern not found"
    return m.group(1)


def _cli() -> click.Group:
    @click.group()
    @click.pass_context
    def cli(ctx: click.Context) -> None:
        pass

    cli.add_command(account)
    cli.add_command(token)
    return cli


def _run(settings: Settings, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(_cli(), list(args), obj=settings)
    return result.exit_code, result.output


def test_bootstrap_operator_and_tokens(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    code, out = _run(settings, "account", "add", "root@vkurse.ru", "--operator")
    assert code == 0, out
    password = _group(re.search(r"one-time password: (\S+)", out))
    code, out = _run(settings, "account", "add", "x@acme.ru", "--company", "acme")
    assert code != 0 and "unknown company 'acme'" in out
    code, out = _run(settings, "account", "add", "root@vkurse.ru", "--operator")
    assert code != 0 and "already exists" in out
    code, out = _run(settings, "account", "add", "y@acme.ru")
    assert code != 0 and "exactly one of" in out

    svc = open_services(settings)
    try:
        svc.meta.put_company("acme", "Acme")
        store = AccountStore(svc.meta.engine)
        acct = store.verify_password("root@vkurse.ru", password)
        assert acct is not None and acct.is_operator and acct.must_change
    finally:
        svc.close()

    code, out = _run(settings, "account", "add", "Admin@Acme.ru", "--company", "acme")
    assert code == 0 and "for company acme" in out
    code, out = _run(settings, "account", "list", "--json")
    rows = json.loads(out)
    assert [(r["email"], r["role"], r["company_id"]) for r in rows] == [
        ("admin@acme.ru", "admin", "acme"),
        ("root@vkurse.ru", "operator", None),
    ]
    code, out = _run(settings, "account", "reset", "admin@acme.ru")
    assert code == 0 and "one-time password for admin@acme.ru" in out
    code, out = _run(settings, "account", "disable", "admin@acme.ru")
    assert code == 0
    code, out = _run(settings, "account", "list")
    assert "disabled" in out

    code, out = _run(settings, "token", "create", "--company", "acme", "--scope", "ingest")
    assert code == 0, out
    plain = _group(re.search(r"^(vks_\S+)$", out, re.M))
    code, out = _run(settings, "token", "create", "--platform", "--scope", "read")
    assert code == 0
    code, out = _run(settings, "token", "create", "--scope", "read")
    assert code != 0
    code, out = _run(settings, "token", "list")
    assert plain not in out and plain[:10] in out
    code, out = _run(settings, "token", "revoke", "1")
    assert code == 0 and "revoked token #1" in out
    code, out = _run(settings, "token", "revoke", "1")
    assert code != 0 and "already revoked" in out

    svc = open_services(settings)
    try:
        store = AccountStore(svc.meta.engine)
        assert store.verify_token(plain) is None
        actions = [e.action for e in store.audit_entries()[0]]
        assert actions.count("account.create") == 2 and "token.revoke" in actions
        assert all(e.actor.startswith("cli") for e in store.audit_entries()[0])
    finally:
        svc.close()
