"""Administration commands: ``vkurse-stats account …`` and ``vkurse-stats token …``.

They exist so a fresh install can be bootstrapped without the web UI (``account add
--operator``), and so support can script what the support pages do: both are adapters over
:class:`~vkurse_stats.operations.Operations`, so a change is checked, applied and audited the
same way (the actor is ``cli:<os user>``). Generated passwords and tokens are printed once and
stored only hashed. The main CLI adds both groups and puts a ``Settings`` in ``ctx.obj``.

They open the metadata store only, never the analytic store, so they work while ``vkurse-stats
serve`` runs (it holds an embedded DuckDB store exclusively; SQLite and PostgreSQL take a second
process).
"""

from __future__ import annotations

import getpass
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import click

from .config import Settings
from .operations import Caller, OperationError, Operations
from .store.accounts import SCOPES, AccountStore
from .store.meta import MetaStore


@contextmanager
def _stores(ctx: click.Context) -> Iterator[tuple[MetaStore, AccountStore]]:
    """The metadata store and the accounts in it; a failure to open them is one line."""
    settings = ctx.obj if isinstance(ctx.obj, Settings) else Settings()
    try:
        meta = MetaStore(settings.resolved_database_url)
    except Exception as exc:  # noqa: BLE001 - any failure to open is reported, not traced
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise click.ClickException(f"cannot open the metadata store: {first}") from None
    try:
        yield meta, AccountStore(meta.engine)
    finally:
        meta.close()


@contextmanager
def _operations(ctx: click.Context) -> Iterator[Operations]:
    """The operations of this command line over the metadata store; a refusal is one line."""
    with _stores(ctx) as (meta, store):
        try:
            yield Operations(meta, store, None, cli_caller())
        except OperationError as exc:
            raise click.ClickException(str(exc)) from None


def cli_caller() -> Caller:
    """The audit log's name for a command: ``cli:<os user>``."""
    try:
        return Caller(f"cli:{getpass.getuser()}")
    except Exception:  # no user name in some containers; the audit entry still matters
        return Caller("cli")


def _when(epoch: float | None) -> str:
    if epoch is None:
        return "—"
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%d %H:%M")


def _fail(message: str) -> None:
    raise click.ClickException(message)


@click.group("account")
def account() -> None:
    """Accounts of company administrators and support (operators)."""


@account.command("add")
@click.argument("email")
@click.option("--company", "company_id", help="The company this administrator sees.")
@click.option("--operator", is_flag=True, help="A support account that sees every company.")
@click.pass_context
def account_add(ctx: click.Context, email: str, company_id: str | None, operator: bool) -> None:
    """Create an account and print its one-time password (shown only now)."""
    if operator == bool(company_id):
        _fail("give exactly one of --company ID and --operator")
    with _operations(ctx) as ops:
        acct, password = ops.create_account(email, "operator" if operator else "admin", company_id)
    click.echo(
        f"created {acct.role} account {acct.email}" + (f" for company {acct.company_id}" if acct.company_id else "")
    )
    click.echo(f"one-time password: {password}")
    click.echo("it is shown only now; the account must choose its own password at first sign-in")


@account.command("list")
@click.option("--company", "company_id", help="Only the accounts of this company.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def account_list(ctx: click.Context, company_id: str | None, as_json: bool) -> None:
    """List accounts."""
    with _stores(ctx) as (_, store):
        rows = store.accounts(company_id)
    if as_json:
        click.echo(json.dumps([a.as_json() for a in rows], ensure_ascii=False, indent=2))
        return
    if not rows:
        click.echo("no accounts")
    for a in rows:
        state = "disabled" if a.disabled else "must change password" if a.must_change else "active"
        click.echo(
            f"{a.id:>4}  {a.email:<36} {a.role:<9} {a.company_id or '*':<20} {state:<22}"
            f" last login {_when(a.last_login_at)}"
        )


@account.command("reset")
@click.argument("email")
@click.pass_context
def account_reset(ctx: click.Context, email: str) -> None:
    """Issue a new one-time password (ends the account's sessions)."""
    with _operations(ctx) as ops:
        acct, password = ops.reset_password(ops.account_by_email(email).id)
    click.echo(f"one-time password for {acct.email}: {password}")
    click.echo("it is shown only now")


@account.command("disable")
@click.argument("email")
@click.option("--enable", is_flag=True, help="Enable the account again instead.")
@click.pass_context
def account_disable(ctx: click.Context, email: str, enable: bool) -> None:
    """Disable an account (its sessions end at once), or enable it with --enable."""
    with _operations(ctx) as ops:
        acct = ops.set_disabled(ops.account_by_email(email).id, not enable)
    click.echo(f"{'enabled' if enable else 'disabled'} {acct.email}")


@click.group("token")
def token() -> None:
    """API tokens: ingest tokens for the platform, read tokens for reports."""


@token.command("create")
@click.option("--company", "company_id", help="Limit the token to this company.")
@click.option("--platform", is_flag=True, help="A token for every company.")
@click.option(
    "--scope", type=click.Choice(SCOPES), required=True, help="ingest: POST /api/v1/ingest; read: the GET endpoints."
)
@click.option("--label", default="", help="What the token is for.")
@click.pass_context
def token_create(ctx: click.Context, company_id: str | None, platform: bool, scope: str, label: str) -> None:
    """Create a token and print it (shown only now; stored hashed)."""
    if platform == bool(company_id):
        _fail("give exactly one of --company ID and --platform")
    with _operations(ctx) as ops:
        tok, plain = ops.create_token(scope, company_id, label)
    click.echo(
        f"created {scope} token #{tok.id} for " + (f"company {company_id}" if company_id else "the whole platform")
    )
    click.echo(plain)
    click.echo("it is shown only now; send it as 'Authorization: Bearer <token>'", err=True)


@token.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def token_list(ctx: click.Context, as_json: bool) -> None:
    """List tokens (their first characters only)."""
    with _stores(ctx) as (_, store):
        rows = store.tokens()
    if as_json:
        click.echo(json.dumps([t.as_json() for t in rows], ensure_ascii=False, indent=2))
        return
    if not rows:
        click.echo("no tokens")
    for t in rows:
        state = f"revoked {_when(t.revoked_at)}" if t.revoked_at else "active"
        click.echo(f"{t.id:>4}  {t.prefix}…  {t.scope:<7} {t.company_id or '*':<20} {state:<24} {t.label}")


@token.command("revoke")
@click.argument("token_id", type=int)
@click.pass_context
def token_revoke(ctx: click.Context, token_id: int) -> None:
    """Revoke a token by its number (see `token list`)."""
    with _operations(ctx) as ops:
        tok = ops.revoke_token(token_id)
    click.echo(f"revoked token #{tok.id} ({tok.prefix}…)")
