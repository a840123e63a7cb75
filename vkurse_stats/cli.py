"""The ``vkurse-stats`` command: serve, import, report, demo, rebuild and administration.

Every command reads its settings from flags or ``VKURSE_STATS_*`` variables; an error is one clear
line on stderr and a non-zero exit status.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

import click

from .config import Settings
from .operations import OperationError, Operations
from .records import DEFAULT_TIMEZONE
from .service import Services, open_services
from .store.meta import LIMIT_NAMES

HOUR_US = 3_600_000_000


@contextmanager
def services(ctx: click.Context) -> Iterator[Services]:
    """Open the stores for one command; store errors become one clear line."""
    try:
        svc = open_services(ctx.obj)
    except Exception as exc:  # noqa: BLE001 - any failure to open is reported, not traced
        raise click.ClickException(str(exc)) from None
    try:
        yield svc
    finally:
        svc.close()


def _date(value: str, name: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"expected a date YYYY-MM-DD, got {value!r}", param_hint=name) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="VKURSE_STATS_DATA_DIR",
    default="data",
    show_default=True,
    help="Where the embedded stores live.",
)
@click.option(
    "--analytics-url",
    envvar="VKURSE_STATS_ANALYTICS_URL",
    help="Analytic store: duckdb:///file (default: in the data dir), clickhouse://… or chdb:///dir.",
)
@click.option(
    "--database-url",
    envvar="VKURSE_STATS_DATABASE_URL",
    help="Metadata store: sqlite:///file (default: in the data dir) or postgresql://….",
)
@click.version_option(package_name="vkurse-stats")
@click.pass_context
def cli(ctx: click.Context, data_dir: Path, analytics_url: str | None, database_url: str | None) -> None:
    """vkurse-stats: licence-usage analytics of the VKurse platform."""
    ctx.obj = replace(Settings(), data_dir=data_dir, analytics_url=analytics_url, database_url=database_url)


# --- serve / demo ---------------------------------------------------------------------------
@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--demo", "with_demo", is_flag=True, help="Fill the data directory with demo data first.")
@click.option(
    "--trusted-proxies",
    envvar="VKURSE_STATS_TRUSTED_PROXIES",
    help="Reverse proxies whose X-Forwarded-For/-Proto count: a hop count (1 = one proxy in front) "
    "or their networks (10.0.0.0/8,192.168.1.7). Default: none.",
)
@click.option(
    "--proxy-headers/--no-proxy-headers",
    default=False,
    help="One trusted reverse proxy in front (the same as --trusted-proxies 1).",
)
@click.pass_context
def serve(
    ctx: click.Context, host: str, port: int, with_demo: bool, proxy_headers: bool, trusted_proxies: str | None
) -> None:
    """Serve the dashboard and the HTTP API."""
    import uvicorn

    from .web.accesslog import log_config
    from .web.app import create_app
    from .web.proxy import TrustedProxies

    try:
        trusted = (
            TrustedProxies.parse(trusted_proxies)
            if trusted_proxies
            else TrustedProxies(hops=1)
            if proxy_headers
            else TrustedProxies.parse(ctx.obj.trusted_proxies)
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--trusted-proxies") from None
    if with_demo:
        ctx.invoke(demo)
    with services(ctx) as svc:
        app = create_app(svc, trusted_proxies=trusted)
        try:
            svc.start_notifier()  # stopped when the services close
        except ValueError as exc:  # a bad VKURSE_STATS_REPORT_TIME
            raise click.ClickException(str(exc)) from None
        click.echo(f"vkurse-stats: serving http://{host}:{port}/ (data: {ctx.obj.data_dir})", err=True)
        # The app reads forwarded headers itself (web/proxy.py); uvicorn must not rewrite them first.
        uvicorn.run(app, host=host, port=port, proxy_headers=False, log_config=log_config(), log_level="info")


@cli.command()
@click.option("--seed", default=1, show_default=True, type=int, help="Random seed (same seed, same data).")
@click.option("--days", default=365, show_default=True, type=int, help="Days of activity, ending yesterday.")
@click.option("--until", "until", default=None, help="Last day of activity (default: yesterday).")
@click.option("--employees", default=2000, show_default=True, type=int, help="Employees of the first company.")
@click.option(
    "--companies",
    default=1,
    show_default=True,
    type=click.IntRange(1, 100_000),
    help="How many companies: 'demo', then 'demo-2' … each with 3-15 % of the first one's staff and activity, "
    "all in one mixed JSON Lines file and one import, and an administrator admin@<id>.vkurse.ru each. "
    "A year of 100 companies is about 5.5M records.",
)
@click.pass_context
def demo(ctx: click.Context, seed: int, days: int, until: str | None, employees: int, companies: int) -> None:
    """Fill the data directory with a realistic demo company (or several) and demo accounts.

    The records go into one JSON Lines file under DATA_DIR/demo and through the ordinary import;
    the sign-ins and their password are printed at the end."""
    from .demo import DemoOptions, create_demo

    opts = DemoOptions(
        seed=seed,
        days=days,
        employees=employees,
        until=_date(until, "--until") if until else None,
        companies=companies,
    )
    with services(ctx) as svc:
        for line in create_demo(svc, opts, progress=_progress_factory()):
            click.echo(line)


# --- import ---------------------------------------------------------------------------------
def _progress_factory() -> Any:
    """A rich progress bar when stderr is a terminal, else None."""
    if not sys.stderr.isatty():
        return None
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

    return lambda: Progress(
        TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TimeRemainingColumn(), transient=True
    )


@cli.command(name="import")
@click.argument("files", nargs=-1, required=True)
@click.option("--kind", help="Record kind of CSV/Parquet files (company, user, event, call, connection, …).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["jsonl", "csv", "parquet"]),
    help="Override the format the file extension gives (stdin is JSON Lines).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as the ingest API's JSON object.")
@click.option(
    "--company",
    "company_scope",
    help="Only accept records of this company, as its own ingest token would (its timezone and limits stay).",
)
@click.option("--batch-size", default=500_000, show_default=True, type=int, help="Records per write batch.")
@click.pass_context
def import_(
    ctx: click.Context,
    files: tuple[str, ...],
    kind: str | None,
    fmt: str | None,
    as_json: bool,
    company_scope: str | None,
    batch_size: int,
) -> None:
    """Import records from JSON Lines, CSV or Parquet files (.gz too; '-' reads stdin)."""
    from .ingest import Actor
    from .ingest.readers import detect_format, read_file
    from .records import KINDS

    if kind and kind not in KINDS:
        raise click.BadParameter(f"unknown kind {kind!r}; expected one of: {', '.join(KINDS)}", param_hint="--kind")
    for name in files:
        if name != "-":
            if not Path(name).is_file():
                raise click.ClickException(f"{name}: no such file")
            try:
                detected = fmt or detect_format(name)[0]
                open(name, "rb").close()
            except ValueError as exc:
                raise click.ClickException(str(exc)) from None
            except OSError as exc:
                raise click.ClickException(f"{name}: cannot be read: {exc.strerror or exc}") from None
            if detected != "jsonl" and not kind:
                raise click.ClickException(f"{name}: CSV and Parquet files hold one kind of record: give --kind")
    make_bar = _progress_factory()
    with services(ctx) as svc:
        # Company changes of the import are audited as "import".
        ing = svc.ingestor(company_scope=company_scope, batch_size=batch_size, actor=Actor("import"))
        try:
            if make_bar:
                with make_bar() as bar:
                    for name in files:
                        size = Path(name).stat().st_size if name != "-" else None
                        task = bar.add_task(Path(name).name, total=size)
                        read_file(ing, name, kind=kind, fmt=fmt, on_read=functools.partial(bar.advance, task))
                    days = bar.add_task("rollups (days)", total=None)

                    def on_days(done: int, total: int) -> None:
                        bar.update(days, completed=done, total=total)

                    result = ing.finish(progress=on_days)
            else:
                for name in files:
                    read_file(ing, name, kind=kind, fmt=fmt)
                result = ing.finish()
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps(result.as_json(), ensure_ascii=False))
    else:
        click.echo(f"accepted: {result.accepted}, rejected: {result.rejected}")
        for err in result.errors:
            click.echo(f"  {err}", err=True)
        if result.rejected > len(result.errors):
            click.echo(f"  … and {result.rejected - len(result.errors)} more errors", err=True)
    if result.unreadable or (result.rejected and not result.accepted):
        ctx.exit(1)


# --- report ---------------------------------------------------------------------------------
@cli.command()
@click.option("--company", required=True, help="Company id.")
@click.option("--from", "date_from", required=True, help="First day, YYYY-MM-DD.")
@click.option("--to", "date_to", required=True, help="Last day (inclusive), YYYY-MM-DD.")
@click.option("--format", "fmt", type=click.Choice(["json", "csv", "xlsx"]), default="json", show_default=True)
@click.option("--lang", type=click.Choice(["ru", "en"]), default="ru", show_default=True)
@click.option("--sep", type=click.Choice([";", ","]), default=";", show_default=True, help="CSV separator.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="File to write (default stdout).")
@click.pass_context
def report(
    ctx: click.Context, company: str, date_from: str, date_to: str, fmt: str, lang: str, sep: str, output: Path | None
) -> None:
    """The figures of the dashboard for a date range, as JSON, CSV or Excel."""
    d0, d1 = _date(date_from, "--from"), _date(date_to, "--to")
    if d1 < d0:
        raise click.BadParameter("--to is before --from", param_hint="--to")
    if fmt == "xlsx" and output is None and sys.stdout.isatty():
        raise click.ClickException("an Excel file is binary: give -o FILE.xlsx")
    with services(ctx) as svc:
        if svc.meta.company(company) is None:
            raise click.ClickException(f"unknown company {company!r} (see 'vkurse-stats company list')")
        if fmt == "json":
            summary, days = svc.query.report(company, d0, d1)
            body = summary.as_json()
            body["days"] = [d.as_json(body["timezone"]) for d in days]
            data = (json.dumps(body, ensure_ascii=False, indent=2) + "\n").encode()
        else:
            from .export import export_csv, export_xlsx

            data = (
                export_csv(svc.query, company, d0, d1, lang=lang, sep=sep)
                if fmt == "csv"
                else export_xlsx(svc.query, company, d0, d1, lang=lang)
            )
    if output:
        output.write_bytes(data)
        click.echo(f"wrote {output} ({len(data)} bytes)", err=True)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()


# --- companies and rollups ------------------------------------------------------------------
@cli.group()
def company() -> None:
    """Create and configure companies."""


def _limit_options(f: Any) -> Any:
    for name in reversed(LIMIT_NAMES):
        f = click.option(
            f"--{name.replace('_', '-')}",
            name,
            metavar="SIZE" if name == "storage_bytes" else "N",
            help="Licence limit: storage, in bytes or as 500GB / 3TB (decimal units)."
            if name == "storage_bytes"
            else f"Licence limit: {name.replace('_', ' ')}.",
        )(f)
    return f


def _limits(limits: dict[str, str | None]) -> dict[str, int | str | None]:
    """The limits given on the command line; a storage size such as 3TB in bytes."""
    from .web.format import parse_size

    values: dict[str, int | str | None] = {k: v for k, v in limits.items() if v is not None}
    storage = values.get("storage_bytes")
    if isinstance(storage, str) and storage.strip() and not storage.strip().startswith("-"):
        size = parse_size(storage)
        values["storage_bytes"] = storage if size is None else size
    return values


@contextmanager
def operations(ctx: click.Context) -> Iterator[tuple[Services, Operations]]:
    """The services and the operations of this command line (audited as ``cli:<os user>``); a
    refused change is one line."""
    from .admin_cli import cli_caller

    with services(ctx) as svc:
        try:
            yield svc, Operations(svc.meta, svc.accounts, svc.rollups, cli_caller())
        except OperationError as exc:
            raise click.ClickException(str(exc)) from None


@company.command("add")
@click.argument("company_id")
@click.option("--name", help="Display name (default: the id).")
@click.option("--timezone", default=DEFAULT_TIMEZONE, show_default=True, help="IANA timezone.")
@_limit_options
@click.pass_context
def company_add(ctx: click.Context, /, company_id: str, name: str | None, timezone: str, **limits: str | None) -> None:
    """Create a company (id: letters, digits, '-', '_', '.')."""
    with operations(ctx) as (_, ops):
        info = ops.create_company(company_id, name, timezone, _limits(limits))
    click.echo(json.dumps(info.as_json(), ensure_ascii=False))


@company.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def company_list(ctx: click.Context, as_json: bool) -> None:
    """List companies."""
    with services(ctx) as svc:
        items = svc.meta.companies()
    if as_json:
        click.echo(json.dumps([c.as_json() for c in items], ensure_ascii=False))
        return
    for c in items:
        limits = ", ".join(f"{k}={v}" for k, v in c.limits.items() if v is not None) or "no limits"
        click.echo(f"{c.id}\t{c.name}\t{c.timezone}\t{limits}")


@company.command("set-limits")
@click.argument("company_id")
@_limit_options
@click.option("--clear", multiple=True, type=click.Choice(LIMIT_NAMES), help="Remove a limit.")
@click.option(
    "--effective",
    "effective",
    default=None,
    metavar="INSTANT",
    help="When the change takes effect (ISO 8601 with offset, e.g. 2026-05-01T00:00:00+03:00; "
    "default now): days before it keep being judged against the old limit.",
)
@click.pass_context
def company_set_limits(
    ctx: click.Context, /, company_id: str, clear: tuple[str, ...], effective: str | None, **limits: str | None
) -> None:
    """Set (or --clear) licence limits."""
    values = _limits(limits)
    values.update({k: None for k in clear})
    if not values:
        raise click.UsageError("give at least one limit, e.g. --concurrent-speakers 50")
    effective_from = None
    if effective is not None:
        try:
            when = datetime.fromisoformat(effective)
        except ValueError:
            raise click.BadParameter(f"{effective!r} is not an ISO 8601 instant", param_hint="--effective") from None
        if when.tzinfo is None:
            raise click.BadParameter("give the instant with its offset, e.g. +03:00", param_hint="--effective")
        effective_from = int(when.timestamp()) * 1_000_000 + when.microsecond
    with operations(ctx) as (_, ops):
        info = ops.update_company(company_id, limits=values, effective_from=effective_from)
    click.echo(json.dumps(info.as_json(), ensure_ascii=False))


@company.command("set-timezone")
@click.argument("company_id")
@click.argument("timezone")
@click.pass_context
def company_set_timezone(ctx: click.Context, company_id: str, timezone: str) -> None:
    """Change a company's timezone and recompute its days."""
    with operations(ctx) as (_, ops):
        ops.update_company(company_id, timezone=timezone)
    click.echo(f"{company_id}: timezone {timezone}; rollups rebuilt")


@cli.command()
@click.option("--company", "company_id", help="Only this company (default: all).")
@click.option("--max-open-hours", type=click.IntRange(min=1), help="Change how long an open connection counts.")
@click.pass_context
def rebuild(ctx: click.Context, company_id: str | None, max_open_hours: int | None) -> None:
    """Recompute every rollup from the raw records."""
    import time

    with services(ctx) as svc:
        if max_open_hours is not None:
            svc.analytics.meta_set("max_open_hours", str(max_open_hours))
            svc.rollups.cap_us = max_open_hours * HOUR_US
            svc.analytics.reset_spans(svc.rollups.cap_us)
            if company_id:
                raise click.UsageError("--max-open-hours applies to every company: omit --company")
        ids = [company_id] if company_id else svc.analytics.companies_with_data()
        if company_id and svc.meta.company(company_id) is None:
            raise click.ClickException(f"unknown company {company_id!r}")
        started = time.perf_counter()
        svc.rollups.rebuild_many(ids)
        click.echo(f"rebuilt {len(ids)} companies in {time.perf_counter() - started:.2f} s")


def _register_optional() -> None:
    """Commands from modules of the service and scale-out layers."""
    try:
        from .admin_cli import account, token

        cli.add_command(account)
        cli.add_command(token)
    except ImportError:
        pass
    try:
        from .migrate import migrate

        cli.add_command(migrate)
    except ImportError:
        pass


_register_optional()


def main() -> None:
    from .store.errors import StoreUnavailableError

    try:
        cli(prog_name="vkurse-stats")
    except StoreUnavailableError as exc:  # disk full, I/O error: one line, as every CLI error
        click.echo(
            f"Error: {exc}; the write that failed stored nothing (run the command again once the "
            "store can be written: re-sent records replace themselves)",
            err=True,
        )
        sys.exit(1)


if __name__ == "__main__":
    main()
