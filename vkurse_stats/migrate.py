"""``vkurse-stats migrate``: copy an installation to other stores (typically the embedded
SQLite + DuckDB of a data directory to PostgreSQL + ClickHouse), then prove the copy.

Metadata tables are copied generically (every table of :data:`METADATA`, parents before children,
sequences of PostgreSQL moved past the copied ids). Raw records go through the target's own
``upsert`` in large batches, then the target rebuilds every rollup from them, so nothing derived
is trusted from the source. Finally ``query.summary`` is compared for every company over its
whole data range, at one fixed instant on both sides; any difference fails the command.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import click
import pyarrow as pa
import sqlalchemy as sa

from .config import Settings
from .service import HOUR_US, Services, open_services
from .store import accounts as _accounts  # noqa: F401 - registers the account tables in METADATA
from .store.meta import METADATA, schema_info
from .store.schema import TABLES
from .timeutil import local_date


@dataclass
class Mismatch:
    company_id: str
    metric: str
    source: Any
    target: Any


def copy_metadata(source: sa.engine.Engine, target: sa.engine.Engine, chunk: int = 10_000) -> dict[str, int]:
    """Copy every metadata table's rows; returns rows copied per table."""
    counts: dict[str, int] = {}
    with source.connect() as src, target.begin() as dst:
        for table in METADATA.sorted_tables:
            if table is schema_info:
                continue
            n = 0
            result = src.execute(sa.select(table)).mappings()
            while rows := result.fetchmany(chunk):
                dst.execute(table.insert(), [dict(r) for r in rows])
                n += len(rows)
            counts[table.name] = n
            if target.dialect.name == "postgresql":
                for col in table.primary_key.columns:
                    if col.autoincrement is True or (isinstance(col.type, sa.Integer) and col.autoincrement == "auto"):
                        dst.execute(
                            sa.text(
                                f"SELECT setval(pg_get_serial_sequence('{table.name}', '{col.name}'), "
                                f"coalesce((SELECT max({col.name}) FROM {table.name}), 0) + 1, false)"
                            )
                        )
    return counts


def _record_batches(source: Any, kind: str, batch_size: int) -> Iterator[pa.Table]:
    """A source table's rows in the store layout (store/schema.py), in batches."""
    t = TABLES[kind]
    cols = ", ".join(f'"{c}"' for c in t.names)
    with source.locked() as con:
        reader = con.sql(f"SELECT {cols} FROM {t.table} ORDER BY seq").to_arrow_reader(batch_size)
        for rb in reader:
            yield pa.Table.from_batches([rb]).cast(t.arrow_schema)


def copy_records(source: Any, target: Any, batch_size: int, echo: Any = None) -> dict[str, int]:
    """Copy every raw record version through the target's upsert; returns rows per kind."""
    counts: dict[str, int] = {}
    for kind in TABLES:
        n = 0
        for batch in _record_batches(source, kind, batch_size):
            target.upsert(kind, batch)
            n += batch.num_rows
            if echo:
                echo(f"  {kind}: {n} rows")
        counts[kind] = n
    seq = source.meta_get("seq")
    if seq is not None:
        target.meta_set("seq", seq)
    return counts


def verify(src: Services, dst: Services) -> tuple[int, list[Mismatch]]:
    """Compare ``summary`` of every company with data over its full data range."""
    mismatches: list[Mismatch] = []
    companies = src.analytics.companies_with_data()
    for company_id in companies:
        bounds = src.analytics.time_bounds(company_id)
        if bounds is None:
            continue
        tz = src.rollups.timezone(company_id)
        d0 = local_date(bounds[0], tz)
        d1 = local_date(max(bounds[1], bounds[0]) + src.rollups.cap_us, tz)
        a, b = src.query.summary(company_id, d0, d1), dst.query.summary(company_id, d0, d1)
        for metric, value in a.metrics.items():
            if b.metrics.get(metric) != value:
                mismatches.append(Mismatch(company_id, metric, value, b.metrics.get(metric)))
        if a.company != b.company:
            mismatches.append(Mismatch(company_id, "company", a.company, b.company))
    return len(companies), mismatches


def run_migration(
    source_settings: Settings, analytics_url: str, database_url: str, *, batch_size: int = 500_000, echo: Any = print
) -> list[Mismatch]:
    """Copy, rebuild and verify; returns the mismatches (empty = the copy is exact)."""
    # One instant for both sides: figures of still-open connections depend on "now".
    now = source_settings.fixed_now or datetime.now(UTC).isoformat()
    src = open_services(replace(source_settings, fixed_now=now))
    try:
        cap_hours = src.rollups.cap_us // HOUR_US
        dst = open_services(
            replace(
                source_settings,
                analytics_url=analytics_url,
                database_url=database_url,
                fixed_now=now,
                max_open_hours=cap_hours,
            )
        )
        try:
            if dst.meta.companies() or dst.analytics.companies_with_data():
                raise click.ClickException("the target stores are not empty; migrate into empty databases")
            started = time.perf_counter()
            counts = copy_metadata(src.meta.engine, dst.meta.engine)
            echo("metadata: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
            rec = copy_records(src.analytics, dst.analytics, batch_size)
            echo("records: " + ", ".join(f"{k} {v}" for k, v in rec.items()))
            dst.analytics.reset_spans(dst.rollups.cap_us)
            companies = dst.analytics.companies_with_data()
            for company_id in companies:
                dst.rollups.rebuild(company_id)
            echo(f"rebuilt the rollups of {len(companies)} companies ({time.perf_counter() - started:.1f} s so far)")
            n, mismatches = verify(src, dst)
            for m in mismatches:
                echo(f"MISMATCH {m.company_id} {m.metric}: source {m.source} target {m.target}")
            echo(
                f"verified {n} companies: "
                + ("identical summaries" if not mismatches else f"{len(mismatches)} differences")
            )
            return mismatches
        finally:
            dst.close()
    finally:
        src.close()


@click.command("migrate")
@click.option(
    "--analytics-url",
    "analytics_url",
    required=True,
    help="Target analytic store, e.g. clickhouse://user:pass@host:8123/vkurse or chdb:///dir.",
)
@click.option(
    "--database-url",
    "database_url",
    required=True,
    help="Target metadata store, e.g. postgresql://user:pass@host/vkurse.",
)
@click.option(
    "--batch-size", default=500_000, show_default=True, type=click.IntRange(1000), help="Records per write batch."
)
@click.pass_context
def migrate(ctx: click.Context, analytics_url: str, database_url: str, batch_size: int) -> None:
    """Copy this installation (the data directory's stores, or the global --analytics-url /
    --database-url) to other stores, rebuild the rollups there and verify the reports match.

    Stop the server first: the embedded analytic store admits one process."""
    settings = ctx.obj if isinstance(ctx.obj, Settings) else Settings()
    try:
        mismatches = run_migration(settings, analytics_url, database_url, batch_size=batch_size, echo=click.echo)
    except click.ClickException:
        raise
    except Exception as exc:  # noqa: BLE001 - one clear line, not a traceback
        raise click.ClickException(f"migration failed: {exc}") from None
    if mismatches:
        raise click.ClickException(f"the copy differs from the source in {len(mismatches)} figures")
