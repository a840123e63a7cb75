"""The scale-out analytic store: ClickHouse (a server, a cluster, or chDB in-process).

Same interface and return types as :class:`~vkurse_stats.store.duckdb.DuckDBStore`, so rollups,
queries and ingest run unchanged and the shared NumPy engine computes identical figures.

Replace semantics without updates: raw tables are ``ReplacingMergeTree(ver, is_deleted)``
ordered by ``(company_id, <time>, id)`` and partitioned by month. ``ver`` encodes the rule of
DuckDBStore.upsert: ``(terminal field present) << 62 | seq``, so a version lacking the terminal
field never outranks one that has it, and otherwise the later arrival wins. A new version whose
time (hence sorting key or partition) differs from the version it replaces also writes a
tombstone (``is_deleted = 1``) under the old key. Every read uses ``FINAL`` (or the same rule
spelled with ``LIMIT 1 BY``), so figures are exact before any background merge; since every
version of a sorting key lies in one partition, ``FINAL`` merges partitions separately.

Rollups are one row per company-day (``day_rollups``): the day's metrics, values and peak
instants as parallel arrays, and when the day was computed. A write of days inserts a whole new
row for each, with a fresh ``gen``, and readers take each day's newest row (``FINAL``), so a
metric that disappeared from a day (a client type) is gone at once and a reader never sees half a
write; a read of a range is a few hundred rows, not one per metric and day. Parent stats are
ReplacingMergeTree by parent with tombstones for parents that lost all their connections.
Whole-company clears (``rebuild``) use lightweight ``DELETE``.

Day windows name an event/call by a 64-bit hash of its ids (``PARENT_HASH``); a company where two
parents share one is noted (``exact_parents``) and from then on grouped by the ids themselves.

One writer per installation (as on DuckDB): the arrival counter and the longest connection per
company are kept in the writer's memory, read from the tables when the store opens.

Cluster DDL lives only in :class:`Layout` (``?cluster=NAME`` on the URL; ``&sharded=1`` adds
``Distributed`` tables over ``<table>_local`` sharded by company). Every query runs unchanged on a
Distributed table: all rows of a company live on one shard, so IN/JOIN subqueries over our tables
run shard-locally (``distributed_product_mode = 'local'``), and the scratch tables holding a
batch's keys, which exist only on this node, are read with ``GLOBAL IN``.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .base import AnalyticStore, TableQuery
from .schema import (
    NULLABLE_STATS,
    PARENT_CALL,
    PARENT_EVENT,
    PARENT_SCHEMA,
    PARENT_STATS_SCHEMA,
    TABLES,
    TIME_COLUMN,
    UNAPPLIED,
    KindTable,
    latest_per_key,
    parent_text,
    version_rank,
)

OPEN_PARENT_SCHEMA = pa.schema([*PARENT_SCHEMA, pa.field("first_join", pa.int64())])
_LOW_CARDINALITY = {"client", "device", "role", "type"}
_CH_TYPES = {"string": "String", "int64": "Int64", "int8": "Int8", "bool": "Bool"}
SCHEMA_VERSION = 4
# What names an event/call in day windows: unique per company unless noted (see exact_parents).
PARENT_HASH = "cityHash64({kind}, {id})"
INLINE_IDS = 10_000  # a batch with at most this many ids looks them up without a scratch table
log = logging.getLogger("vkurse_stats")
ID_INDEX = "by_id"  # the raw tables' projection that finds rows by id (schema 4)
EXACT_PARENTS = "exact_parents:"  # store_meta keys of companies whose windows group by ids
MARKER = ""  # the metric of a day's marker row in schema 2's rollups (its value: when the day was computed)
# Session settings: every version of a sorting key lies in one partition (see the module
# docstring), so FINAL may merge partitions apart and skip those already merged; results are
# read as Arrow with text as text.
SETTINGS = {"do_not_merge_across_partitions_select_final": 1, "output_format_arrow_string_as_string": 1}

_CONN_SCHEMA = pa.schema(
    [
        ("parent", pa.string()),
        ("template", pa.int8()),
        ("transport", pa.int8()),
        ("joined_at", pa.int64()),
        ("left_at", pa.int64()),
        ("person", pa.string()),
        ("client", pa.string()),
    ]
)
_COMPANY_PARENT_SCHEMA = pa.schema([("company_id", pa.string()), *PARENT_SCHEMA])


def _conn_schema(parent: pa.DataType) -> pa.Schema:
    """The engine's columns of connections (see ClickHouseStore._conn_cols)."""
    return pa.schema([("parent", parent), *_CONN_SCHEMA.remove(0)])


_DAYS_SCHEMA = pa.schema([("day", pa.int32()), ("metric", pa.string()), ("value", pa.int64()), ("at", pa.int64())])
_DAY_KEY = pa.schema([("company_id", pa.string()), ("day", pa.int32())])
_CELL_SCHEMA = pa.schema([*_DAY_KEY, *_DAYS_SCHEMA.remove(0)])
_PARENT_STATS_COLUMNS = tuple(
    (f.name, f"Nullable({_CH_TYPES[str(f.type)]})" if f.name in NULLABLE_STATS else _CH_TYPES[str(f.type)])
    for f in PARENT_STATS_SCHEMA
)


def _ident(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def parent_hash(kind: str = "parent_kind", pid: str = "parent_id") -> str:
    return PARENT_HASH.format(kind=kind, id=pid)


def _empty_parents() -> dict[str, pa.Array]:
    return {"parent_kind": pa.array([], pa.int8()), "parent_id": pa.array([], pa.string())}


def _with_company(company_id: str, table: pa.Table) -> pa.Table:
    return table.add_column(0, "company_id", pa.array([company_id] * table.num_rows, pa.string()))


# --- layout: the one place that knows about clusters ---------------------------------------------
@dataclass(frozen=True)
class Layout:
    """How tables are created: one server (default), or a cluster.

    ``cluster`` set: DDL runs ``ON CLUSTER`` and engines become ``Replicated*`` (ZooKeeper path
    ``/clickhouse/tables/{shard}/{database}/{table}``, replica ``{replica}`` from the server's
    macros). ``sharded``: data lives in ``<table>_local`` on every shard and the table the code
    queries is ``Distributed(cluster, database, <table>_local, cityHash64(company_id))``, so all
    versions and rollups of a company are on one shard and FINAL stays exact per shard."""

    cluster: str | None = None
    sharded: bool = False

    @property
    def on_cluster(self) -> str:
        return f" ON CLUSTER {_ident(self.cluster)}" if self.cluster else ""

    @property
    def settings(self) -> dict[str, Any]:
        """Session settings of a sharded layout: subqueries over Distributed tables read each
        shard's own part (a company lives on one shard), and an insert returns only once the
        shards have it, so the rollups computed right after a batch see the batch."""
        if not self.sharded:
            return {}
        return {"distributed_product_mode": "local", "distributed_foreground_insert": 1}

    def local(self, table: str) -> str:
        """The table that holds the rows (mutations and TRUNCATE go there)."""
        return f"{table}_local" if self.sharded else table

    def create(
        self,
        database: str,
        table: str,
        columns: str,
        engine: str,
        args: str,
        tail: str,
        shard_key: str = "cityHash64(company_id)",
    ) -> list[str]:
        if self.cluster:
            path = f"'/clickhouse/tables/{{shard}}/{database}/{self.local(table)}', '{{replica}}'"
            engine, args = "Replicated" + engine, path + (f", {args}" if args else "")
        ddl = [
            f"CREATE TABLE IF NOT EXISTS {self.local(table)}{self.on_cluster} ({columns}) "
            f"ENGINE = {engine}({args}) {tail}"
        ]
        if self.sharded:
            ddl.append(
                f"CREATE TABLE IF NOT EXISTS {table}{self.on_cluster} AS {self.local(table)} "
                f"ENGINE = Distributed({_ident(self.cluster or '')}, {_ident(database)}, "
                f"{self.local(table)}, {shard_key})"
            )
        return ddl


def _kind_columns(t: KindTable) -> str:
    key = {"company_id", "id", "seq", TIME_COLUMN[t.kind]}
    cols = []
    for name, typ in t.columns:
        ch = _CH_TYPES[str(typ)]
        if name not in key:
            ch = f"Nullable({ch})"
        if name in _LOW_CARDINALITY:
            ch = f"LowCardinality({ch})"
        cols.append(f"{_ident(name)} {ch}")
    return ", ".join(cols) + ", ver UInt64, is_deleted UInt8"


def schema_ddl(database: str, layout: Layout) -> list[str]:
    """Every CREATE statement of schema version 1."""
    ddl: list[str] = []
    for t in TABLES.values():
        tc = _ident(TIME_COLUMN[t.kind])
        extra = ", INDEX parent_idx parent_id TYPE bloom_filter GRANULARITY 4" if t.kind == "connection" else ""
        ddl += layout.create(
            database,
            t.table,
            _kind_columns(t) + extra,
            "ReplacingMergeTree",
            "ver, is_deleted",
            f"PARTITION BY toYYYYMM(toDateTime(intDiv({tc}, 1000000), 'UTC')) ORDER BY (company_id, {tc}, id)",
        )
    ddl += layout.create(
        database,
        "rollups",
        "company_id String, day Int32, metric LowCardinality(String), value Int64, at Nullable(Int64), gen UInt64",
        "ReplacingMergeTree",
        "gen",
        "ORDER BY (company_id, day, metric)",
    )
    ddl += layout.create(
        database,
        "rollup_days",
        "company_id String, day Int32, computed_at Int64, gen UInt64",
        "ReplacingMergeTree",
        "gen",
        "ORDER BY (company_id, day)",
    )
    ps_cols = ", ".join(f"{n} {typ}" for n, typ in _PARENT_STATS_COLUMNS)
    ddl += layout.create(
        database,
        "parent_stats",
        f"company_id String, {ps_cols}, gen UInt64, is_deleted UInt8",
        "ReplacingMergeTree",
        "gen, is_deleted",
        "ORDER BY (company_id, parent_kind, parent_id)",
    )
    ddl += layout.create(database, "spans", "company_id String, max_span Int64", "MergeTree", "", "ORDER BY company_id")
    ddl += layout.create(
        database,
        "store_meta",
        "key String, value String, gen UInt64",
        "ReplacingMergeTree",
        "gen",
        "ORDER BY key",
        shard_key="cityHash64(key)",
    )
    return ddl


def day_markers_ddl(database: str, layout: Layout) -> list[str]:
    """Version 2: when each day was computed moves from ``rollup_days`` into ``rollups`` (a
    marker row per day), so a write of days is one insert and a read one range of one table."""
    drop = [f"DROP TABLE IF EXISTS rollup_days{layout.on_cluster}"]
    if layout.sharded:
        drop.append(f"DROP TABLE IF EXISTS {layout.local('rollup_days')}{layout.on_cluster}")
    return [
        f"""INSERT INTO rollups (company_id, day, metric, value, at, gen)
        SELECT company_id, day, '{MARKER}', argMax(computed_at, gen), NULL, max(gen) FROM rollup_days
        GROUP BY company_id, day""",
        *drop,
    ]


def day_rows_ddl(database: str, layout: Layout) -> list[str]:
    """Version 3: a day's rollups become one row of ``day_rollups`` (the newest generation of
    each day of ``rollups``, its marker's value as ``computed_at``), and ``rollups`` goes."""
    drop = [f"DROP TABLE IF EXISTS rollups{layout.on_cluster}"]
    if layout.sharded:
        drop.append(f"DROP TABLE IF EXISTS {layout.local('rollups')}{layout.on_cluster}")
    return [
        *day_rollups_ddl(database, layout),
        f"""INSERT INTO day_rollups (company_id, day, computed_at, metric, value, at, gen)
        SELECT company_id, day, computed_at, arrayMap(r -> r.1, rs), arrayMap(r -> r.2, rs), arrayMap(r -> r.3, rs), gen
        FROM (SELECT company_id, day, gen, anyIf(value, metric = '{MARKER}') AS computed_at,
                groupArrayIf((metric, value, at), metric != '{MARKER}') AS rs
            FROM rollups WHERE (company_id, day, gen) IN
                (SELECT company_id, day, max(gen) FROM rollups WHERE metric = '{MARKER}' GROUP BY company_id, day)
            GROUP BY company_id, day, gen)""",
        *drop,
    ]


def day_rollups_ddl(database: str, layout: Layout) -> list[str]:
    """The rollups of schema 3: one row per company-day, the newest ``gen`` of a day wins."""
    return layout.create(
        database,
        "day_rollups",
        "company_id String, day Int32, computed_at Int64, metric Array(LowCardinality(String)), "
        "value Array(Int64), at Array(Nullable(Int64)), gen UInt64",
        "ReplacingMergeTree",
        "gen",
        "ORDER BY (company_id, day)",
    )


class IfSupported(str):
    """A migration statement that only speeds the store up: a server that refuses it (an older
    ClickHouse without the feature) is told in the log, and the migration goes on."""


def id_index_ddl(database: str, layout: Layout) -> list[str]:
    """Version 4: each raw table gets a projection ordered by (company_id, id) that holds only
    row positions (``_part_offset``), so a batch's lookup of stored versions by id skips the
    parts and granules without them instead of reading every stored id of its companies (the
    table is sorted by time). Merges rebuild it (ReplacingMergeTree drops projections
    otherwise); parts written before it get it by a background mutation, and reads are exact
    with or without it: a server without such projections keeps version 4 without them."""
    ddl: list[str] = []
    for t in TABLES.values():
        table = layout.local(t.table) + layout.on_cluster
        ddl += [
            IfSupported(f"ALTER TABLE {table} MODIFY SETTING deduplicate_merge_projection_mode = 'rebuild'"),
            IfSupported(
                f"ALTER TABLE {table} ADD PROJECTION IF NOT EXISTS {ID_INDEX} "
                "(SELECT _part_offset ORDER BY company_id, id)"
            ),
            IfSupported(f"ALTER TABLE {table} MATERIALIZE PROJECTION {ID_INDEX}"),
        ]
    return ddl


# Schema version -> the statements that bring the previous version to it.
MIGRATIONS: dict[int, Any] = {1: schema_ddl, 2: day_markers_ddl, 3: day_rows_ddl, 4: id_index_ddl}


# --- URL -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Target:
    kind: str  # "server" or "chdb"
    database: str
    layout: Layout
    host: str = "localhost"
    port: int = 8123
    user: str = "default"
    password: str = ""
    secure: bool = False
    path: str = ""


def parse_url(url: str) -> Target:
    """``clickhouse[s]://user:pass@host:port/db[?cluster=NAME&sharded=1]`` or
    ``chdb:///data/dir[?database=name]``."""
    parts = urlsplit(url)
    q = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    layout = Layout(cluster=q.get("cluster") or None, sharded=q.get("sharded", "0") in ("1", "true", "yes"))
    if layout.sharded and not layout.cluster:
        raise ValueError("sharded=1 needs cluster=NAME in the analytics URL")
    if parts.scheme == "chdb":
        path = unquote(parts.path)
        if parts.netloc or not path.startswith("/"):
            raise ValueError(f"expected chdb:///absolute/data/dir, got {url!r}")
        return Target("chdb", q.get("database", "vkurse"), layout, path=path)
    if parts.scheme not in ("clickhouse", "clickhouses"):
        raise ValueError(f"not a ClickHouse URL: {url!r}")
    secure = parts.scheme == "clickhouses" or q.get("secure", "0") in ("1", "true")
    return Target(
        "server",
        unquote(parts.path.strip("/")) or q.get("database", "vkurse"),
        layout,
        host=parts.hostname or "localhost",
        port=parts.port or (8443 if secure else 8123),
        user=unquote(parts.username or "default"),
        password=unquote(parts.password or ""),
        secure=secure,
    )


class ClickHouseStore(AnalyticStore):
    """Raw records, rollups and parent stats in ClickHouse."""

    backend = "clickhouse"
    read_only = False
    # Reads recompute what depends on the clock for themselves rather than storing it, so a read
    # waits for at most one statement of the writer, never for a whole write.
    concurrent_reads = True
    # The companies of a live batch or a rebuild are recomputed together, one statement a step.
    batched_windows = True

    def __init__(self, url: str) -> None:
        self.url = url
        self.target = parse_url(url)
        self.layout = self.target.layout
        self.client = self._connect()
        self._lock = threading.RLock()
        self._gen = 0
        self.client.command(f"CREATE DATABASE IF NOT EXISTS {_ident(self.target.database)}{self.layout.on_cluster}")
        self.client.database = self.target.database
        self._migrate()
        self._load_state()

    def _connect(self) -> Any:
        """A client of the store's server or engine (chDB takes any number of them)."""
        import clickhouse_connect

        tg = self.target
        settings = {**SETTINGS, **self.layout.settings}
        if tg.kind == "chdb":
            return clickhouse_connect.get_client(dsn=f"chdb://{tg.path}", settings=settings)
        return clickhouse_connect.get_client(
            host=tg.host, port=tg.port, username=tg.user, password=tg.password, secure=tg.secure, settings=settings
        )

    def _load_state(self) -> None:
        """What the writer keeps in memory, read from the tables."""
        self._marked: set[str] = set(self.unapplied())  # see mark_unapplied
        # The arrival counter continues after the newest stored version.
        seqs = " UNION ALL ".join(f"SELECT max(seq) AS s FROM {t.table}" for t in TABLES.values())
        stored = int(self.rows(f"SELECT max(s) + 1 FROM ({seqs})")[0][0] or 0)
        self._seq = max(stored, int(self.meta_get("seq") or "0"))
        self._spans: dict[str, int] = {
            str(c): int(s) for c, s in self.rows("SELECT company_id, max(max_span) FROM spans GROUP BY company_id")
        }
        self._exact: set[str] = {
            str(r[0]).removeprefix(EXACT_PARENTS)
            for r in self.rows(
                "SELECT key FROM store_meta FINAL WHERE startsWith(key, {p:String}) AND value = '1'",
                {"p": EXACT_PARENTS},
            )
        }
        # Records' instants (see instants): every source asked so far, and each thread's answers
        # of its current instants_scope.
        self._sources: list[tuple[str, str, str | None]] = []
        self._scope = threading.local()
        # Keys (rows of company_id, parent_kind, parent_id) of the stats rows the last
        # stats_of_parents found: its ``rid`` are row numbers here, for replace_parent_stats.
        self._found_stats = pa.table({"company_id": pa.array([], pa.string()), **_empty_parents()})

    # --- plumbing ----------------------------------------------------------------------------
    @contextmanager
    def locked(self) -> Iterator[Any]:
        with self._lock:
            yield self.client

    def command(self, sql: str, params: dict[str, Any] | None = None) -> None:
        with self._lock:
            self.client.command(sql, parameters=params)

    def rows(
        self, sql: str, params: dict[str, Any] | None = None, settings: dict[str, Any] | None = None
    ) -> list[tuple[Any, ...]]:
        tbl = self._arrow(self.client, sql, params, settings)
        return list(zip(*(c.to_pylist() for c in tbl.columns), strict=True))

    def sql(self, sql: str, params: dict[str, Any] | None = None, schema: pa.Schema | None = None) -> pa.Table:
        """A query's result as Arrow, cast to ``schema`` (DuckDB's column types) when given."""
        return _cast(self._arrow(self.client, sql, params), schema)

    def _arrow(
        self, client: Any, sql: str, params: dict[str, Any] | None = None, settings: dict[str, Any] | None = None
    ) -> pa.Table:
        """A query's result read as Arrow bytes: a millisecond less a statement than the
        client's own result objects, which a dashboard's three reads notice."""
        if client is self.client:
            with self._lock:
                data = client.raw_query(sql, parameters=params, settings=settings, fmt="ArrowStream")
        else:
            data = client.raw_query(sql, parameters=params, settings=settings, fmt="ArrowStream")
        return pa.ipc.open_stream(data).read_all() if data else pa.table({})

    def insert(self, table: str, data: pa.Table) -> None:
        if data.num_rows:
            with self._lock:
                self.client.insert_arrow(table, data)

    def close(self) -> None:
        with self._lock:
            self.client.close()

    def prepare_indexes(self, min_rows: int = 100_000) -> None:
        """Nothing to prepare: ClickHouse finds a batch's stored versions by its sorting key."""

    def probe(self) -> str | None:
        """Why the store cannot be read and written now, or None (a readiness check)."""
        try:
            self.meta_set("ready", str(time.time()))
            self.meta_get("ready")
        except Exception as exc:  # noqa: BLE001 - any failure of the server or engine is the answer
            return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return None

    def next_gen(self) -> int:
        """A fresh, increasing version number (nanoseconds, bumped to stay unique)."""
        with self._lock:
            self._gen = max(time.time_ns(), self._gen + 1)
            return self._gen

    @contextmanager
    def staged(self, data: pa.Table) -> Iterator[str]:
        """``data`` in a scratch Memory table on this node (read through GLOBAL IN/JOIN)."""
        name = f"_stage_{uuid.uuid4().hex[:16]}"
        types = {"string": "String", "int8": "Int8", "int64": "Int64"}
        cols = ", ".join(
            f"{_ident(f.name)} "
            + (f"Nullable({types[str(f.type)]})" if data.column(f.name).null_count else types[str(f.type)])
            for f in data.schema
        )
        with self._lock:
            self.client.command(f"CREATE TABLE {name} ({cols}) ENGINE = Memory")
            try:
                self.insert(name, data)
                yield name
            finally:
                self.client.command(f"DROP TABLE IF EXISTS {name}")

    def _migrate(self) -> None:
        from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError

        with self._lock:
            ddl = self.layout.create(
                self.target.database,
                "schema_migrations",
                "version UInt32, applied_at DateTime DEFAULT now()",
                "MergeTree",
                "",
                "ORDER BY version",
                shard_key="version",
            )
            for stmt in ddl:
                self.client.command(stmt)
            have = int(self.client.query("SELECT max(version) FROM schema_migrations").result_rows[0][0] or 0)
            if have > SCHEMA_VERSION:
                raise RuntimeError(f"the analytic store has schema {have}, newer than this program ({SCHEMA_VERSION})")
            for version in range(have + 1, SCHEMA_VERSION + 1):
                for stmt in MIGRATIONS[version](self.target.database, self.layout):
                    try:
                        self.client.command(stmt)
                    except DatabaseError as exc:
                        if not isinstance(stmt, IfSupported) or isinstance(exc, OperationalError):
                            raise
                        log.warning("ClickHouse refused %s (%s): the store works without it, only slower", stmt, exc)
                self.client.command(f"INSERT INTO schema_migrations (version) VALUES ({version})")

    def schema_version(self) -> int:
        return int(self.rows("SELECT max(version) FROM schema_migrations")[0][0] or 0)

    def meta_get(self, key: str) -> str | None:
        row = self.rows("SELECT value FROM store_meta FINAL WHERE key = {k:String}", {"k": key})
        return row[0][0] if row else None

    def meta_set(self, key: str, value: str) -> None:
        self._meta_set_many({key: value})

    def _meta_set_many(self, items: dict[str, str]) -> None:
        gen = self.next_gen()
        self.insert(
            "store_meta",
            pa.table(
                {
                    "key": pa.array(list(items), pa.string()),
                    "value": pa.array(list(items.values()), pa.string()),
                    "gen": pa.array(np.full(len(items), gen, np.uint64)),
                }
            ),
        )

    def mark_unapplied(self, companies: Iterable[str]) -> None:
        """Note that these companies have records whose rollups are not applied yet (a process
        killed before it applies them leaves the note behind)."""
        new = sorted(set(companies) - self._marked)
        if new:
            self._meta_set_many({UNAPPLIED + c: "1" for c in new})
            self._marked.update(new)

    def clear_unapplied(self, companies: Iterable[str]) -> None:
        done = sorted(set(companies) & self._marked)
        if done:
            self._meta_set_many({UNAPPLIED + c: "" for c in done})
            self._marked.difference_update(done)

    def unapplied(self) -> list[str]:
        rows = self.rows(
            "SELECT key FROM store_meta FINAL WHERE startsWith(key, {p:String}) AND value = '1' ORDER BY key",
            {"p": UNAPPLIED},
        )
        return [r[0].removeprefix(UNAPPLIED) for r in rows]

    def next_seq(self, n: int) -> int:
        """Reserve ``n`` arrival sequence numbers; returns the first."""
        with self._lock:
            first = self._seq
            self._seq += n
            return first

    # --- raw records -------------------------------------------------------------------------
    def upsert(self, kind: str, batch: pa.Table) -> tuple[pa.Table, pa.Table]:
        """Store a batch of one kind with replace semantics (see DuckDBStore.upsert).

        Returns (the stored versions that were replaced, the versions inserted)."""
        t = TABLES[kind]
        schema = t.arrow_schema
        tc = TIME_COLUMN[kind]
        batch = batch.select(t.names).cast(schema)
        if batch.num_rows == 0:
            return schema.empty_table(), schema.empty_table()
        with self._lock:  # versions numbered elsewhere (a migration's copy) keep their order
            self._seq = max(self._seq, int(pc.max(batch.column("seq")).as_py()) + 1)
        s = latest_per_key(batch, t)
        ids = pc.unique(s.column("id"))
        # A live batch's ids travel in the statement (a scratch table costs three statements more).
        inline = len(ids) <= INLINE_IDS
        with self._lock, nullcontext(None) if inline else self.staged(s.select(["company_id", "id"])) as stage:
            companies = pc.unique(s.column("company_id")).to_pylist()
            cols = ", ".join(_ident(c) for c in t.names)
            among = "IN {ids:Array(String)}" if stage is None else f"GLOBAL IN (SELECT id FROM {stage})"
            # FINAL's rule without merging the whole company: newest row per sorting key, minus
            # tombstones, then the newest per record. Rows are found by id alone (a set of strings
            # is several times faster to probe than one of pairs, and the id projection skips the
            # parts without them); a same id of another company of the batch is dropped by the
            # join on (company_id, id) below.
            old = self.sql(
                f"""
                SELECT {cols}, ver FROM (
                    SELECT {cols}, ver, is_deleted FROM {t.table}
                    WHERE company_id IN {{companies:Array(String)}} AND id {among}
                    ORDER BY ver DESC LIMIT 1 BY company_id, {_ident(tc)}, id)
                WHERE is_deleted = 0 ORDER BY ver DESC LIMIT 1 BY company_id, id""",
                {"companies": companies, **({"ids": ids.to_pylist()} if inline else {})},
            )
        new = s.drop_columns(["ver"])
        if old.num_rows == 0:
            replaced = schema.empty_table()
            inserted = new
            tombstones = None
        else:
            old = old.cast(pa.schema([*schema, pa.field("ver", pa.uint64())]))
            key = ["company_id", "id"]
            o = old.rename_columns([c if c in key else f"o_{c}" for c in old.column_names])
            j = s.join(o, key, join_type="left outer")
            matched = pc.is_valid(j.column("o_ver"))
            # A stored version that outranks the new one stays (the replace rule, schema.py).
            keep_old = pc.fill_null(pc.and_(matched, pc.greater(j.column("o_ver"), j.column("ver"))), False)
            write = pc.invert(keep_old)
            inserted = j.filter(write).select(t.names)
            rep = j.filter(pc.and_(matched, write))
            replaced = (
                rep.select(["company_id", "id", *(f"o_{c}" for c in t.names[2:])])
                .rename_columns(list(t.names))
                .cast(schema)
            )
            # A replaced version under another sorting key needs a tombstone there.
            moved = rep.filter(pc.not_equal(rep.column(tc), rep.column("o_" + tc)))
            tombstones = None
            if moved.num_rows:
                tombstones = (
                    moved.select(["company_id", "id", *(f"o_{c}" for c in t.names[2:])])
                    .rename_columns(list(t.names))
                    .cast(schema)
                )
                tombstones = tombstones.append_column("ver", moved.column("ver")).append_column(
                    "is_deleted", pa.array(np.ones(moved.num_rows, np.uint8))
                )
            inserted = inserted.cast(schema)
        if inserted.num_rows:
            ver = version_rank(inserted, t)
            rows = inserted.append_column("ver", pa.array(ver, pa.uint64())).append_column(
                "is_deleted", pa.array(np.zeros(inserted.num_rows, np.uint8))
            )
            if tombstones is not None:
                rows = pa.concat_tables([rows, tombstones])
            with self._lock:
                self.insert(t.table, rows)
        return replaced, inserted

    def update_span(self, new: pa.Table, cap_us: int) -> None:
        """Remember the longest connection per company (the lookback of day queries)."""
        if new.num_rows == 0:
            return
        joined = new.column("joined_at")
        end = pc.if_else(pc.is_null(new.column("left_at")), pc.add(joined, int(cap_us)), new.column("left_at"))
        spans = pa.table({"company_id": new.column("company_id"), "span": pc.subtract(end, joined)})
        per = spans.group_by("company_id").aggregate([("span", "max")])
        grown = {
            c: int(v)
            for c, v in zip(per.column("company_id").to_pylist(), per.column("span_max").to_pylist(), strict=True)
            if v is not None and v > self._spans.get(c, -1)
        }
        if grown:
            self.insert(
                "spans",
                pa.table(
                    {
                        "company_id": pa.array(list(grown), pa.string()),
                        "max_span": pa.array(list(grown.values()), pa.int64()),
                    }
                ),
            )
            self._spans.update(grown)

    def max_span(self, company_id: str) -> int:
        return self._spans.get(company_id, 0)

    def reset_spans(self, cap_us: int) -> None:
        with self._lock:
            self.client.command(f"TRUNCATE TABLE IF EXISTS {self.layout.local('spans')}{self.layout.on_cluster}")
            self.client.command(f"""INSERT INTO spans SELECT company_id,
                max(coalesce(left_at, joined_at + {int(cap_us)}) - joined_at) FROM connections FINAL
                GROUP BY company_id""")
            self._spans = {
                str(c): int(v) for c, v in self.rows("SELECT company_id, max(max_span) FROM spans GROUP BY company_id")
            }

    @staticmethod
    def _conn_cols(parent: str) -> str:
        """The engine's columns of connections (``parent``: what names a row's event/call). A
        guest is a person of their own: their connection's id, which no user id can equal."""
        return f"""{parent} AS parent, template, transport, joined_at, coalesce(left_at, -1) AS left_at,
            coalesce(user_id, concat(char(0), id)) AS person, coalesce(client, 'unknown') AS client"""

    def _window_parent(self, company_id: str) -> tuple[str, pa.DataType]:
        """What names a connection's event/call in day windows, and its type: the parent hash,
        unless two parents of the company share one (then the ids, see exact_parents)."""
        if company_id in self._exact:
            return "concat(toString(parent_kind), ':', parent_id)", pa.string()
        return parent_hash(), pa.uint64()

    def exact_parents(self, company_id: str) -> bool:
        """Whether the company's day windows group by ids (two of its parents share a hash)."""
        return company_id in self._exact

    def _note_exact(self, companies: Iterable[str]) -> None:
        new = sorted(set(companies) - self._exact)
        if new:
            self._meta_set_many({EXACT_PARENTS + c: "1" for c in new})
            self._exact.update(new)

    def connections_window(self, company_id: str, t0: int, t1: int, cap_us: int) -> pa.Table:
        """Connections active (or joining) in ``[t0, t1)``, their ``parent`` as
        :meth:`_window_parent` says."""
        return self.sql(*self._window_query(company_id, t0, t1, cap_us))

    def _window_query(self, company_id: str, t0: int, t1: int, cap_us: int) -> tuple[str, dict[str, Any], pa.Schema]:
        lo = t0 - self.max_span(company_id)
        parent, ptype = self._window_parent(company_id)
        # The filter sits in a subquery: ClickHouse lets select aliases shadow columns in WHERE.
        sql = f"""SELECT {self._conn_cols(parent)} FROM (SELECT * FROM connections FINAL
            WHERE company_id = {{c:String}} AND joined_at >= {{lo:Int64}} AND joined_at < {{t1:Int64}}
              AND (coalesce(left_at, joined_at + {{cap:Int64}}) > {{t0:Int64}} OR joined_at >= {{t0:Int64}}))"""
        return sql, {"c": company_id, "lo": lo, "t1": t1, "cap": cap_us, "t0": t0}, _conn_schema(ptype)

    @contextmanager
    def window_reader(self) -> Iterator[Callable[[str, int, int, int], pa.Table]]:
        """:meth:`connections_window` on a client of its own, which another thread may use while
        this one writes (a rebuild fetches its next window of days so). Writes are visible to
        every client as soon as they return."""
        client = self._connect()
        client.database = self.target.database
        try:

            def fetch(company_id: str, t0: int, t1: int, cap_us: int) -> pa.Table:
                sql, params, schema = self._window_query(company_id, t0, t1, cap_us)
                return _cast(self._arrow(client, sql, params), schema)

            yield fetch
        finally:
            client.close()

    def connections_of_parents(
        self, company_id: str, parents: pa.Table, lo: int | None = None, hi: int | None = None
    ) -> pa.Table:
        """Every connection of the given (parent_kind, parent_id) pairs, its ``parent`` being the
        pair's row number in ``parents`` (all of them joined in ``[lo, hi]`` when the caller knows
        such bounds)."""
        return self.connections_of_parents_of(_with_company(company_id, parents), lo, hi)

    def read_connections_of(self, company_id: str, parents: pa.Table, lo: int) -> pa.Table:
        """Every connection joined at or after ``lo`` of the given (parent_kind, parent_id) pairs,
        its ``parent`` being the pair's row number (a read: it stores nothing)."""
        return self.connections_of_parents_of(_with_company(company_id, parents), lo, None)

    def connections_of_parents_of(self, parents: pa.Table, lo: int | None = None, hi: int | None = None) -> pa.Table:
        """Every connection of (company_id, parent_kind, parent_id) rows of many companies, its
        ``parent`` being the row number in ``parents``; joined within ``[lo, hi]`` (by default
        the ``lo`` and ``hi`` columns of the rows when they have them: :meth:`all_parents_of`)."""
        if lo is None and hi is None and "lo" in parents.column_names and parents.num_rows:
            lo, hi = pc.min(parents.column("lo")).as_py(), pc.max(parents.column("hi")).as_py()
        keys = parents.select(["company_id", *PARENT_SCHEMA.names]).cast(_COMPANY_PARENT_SCHEMA)
        if keys.num_rows == 0:
            return _conn_schema(pa.int64()).empty_table()
        bounds = (("lo", ">=", lo), ("hi", "<=", hi))
        window = "".join(f" AND joined_at {op} {{{name}:Int64}}" for name, op, v in bounds if v is not None)
        with self._lock, self.staged(keys) as stage:
            rows = self.sql(
                f"""SELECT company_id, parent_kind, parent_id, {self._conn_cols("0")} FROM (
                SELECT * FROM connections FINAL WHERE company_id IN {{cs:Array(String)}} {window}
                  AND (company_id, parent_kind, parent_id) GLOBAL IN
                      (SELECT company_id, parent_kind, parent_id FROM {stage}))""",
                {"cs": pc.unique(keys.column("company_id")).to_pylist(), "lo": lo, "hi": hi},
                pa.schema([*_COMPANY_PARENT_SCHEMA, *_conn_schema(pa.int64())]),
            )
        numbered = keys.append_column("pos", pa.array(np.arange(keys.num_rows, dtype=np.int64)))
        rows = rows.join(numbered, ["company_id", "parent_kind", "parent_id"])
        return rows.select(_conn_schema(pa.int64()).names[1:]).add_column(0, "parent", rows.column("pos"))

    def instants(self, kind: str, company_id: str, column: str, t0: int, t1: int, value: str | None = None) -> pa.Table:
        """``column`` (and ``value``) of the records of a kind whose ``column`` is in [t0, t1).

        A day's rollups ask this of several columns over the same instants: within an
        :meth:`instants_scope`, the first miss of a range fetches every column asked for so far
        in one statement, and the scope's later asks of that range are answered from it."""
        source = (kind, column, value)
        with self._lock:
            if source not in self._sources:
                self._sources.append(source)
            sources = list(self._sources)
        kept: dict[tuple[str, int, int], dict[tuple[str, str, str | None], pa.Table]] | None = getattr(
            self._scope, "kept", None
        )
        answers = kept.get((company_id, t0, t1), {}) if kept is not None else {}
        if source not in answers:
            if kept is None:
                sources = [source]
            parts = [
                f"""SELECT {i} AS src, {_ident(col)} AS t,
                    {f"toNullable(toInt64({val}))" if val else "CAST(NULL, 'Nullable(Int64)')"} AS v
                FROM {TABLES[k].table} FINAL WHERE company_id = {{c:String}}
                  AND {_ident(col)} >= {{t0:Int64}} AND {_ident(col)} < {{t1:Int64}}"""
                for i, (k, col, val) in enumerate(sources)
            ]
            rows = self.sql(
                " UNION ALL ".join(parts),
                {"c": company_id, "t0": t0, "t1": t1},
                pa.schema([("src", pa.int64()), ("t", pa.int64()), ("v", pa.int64())]),
            )
            src = rows.column("src")
            answers = {
                s: rows.filter(pc.equal(src, i)).select(["t", "v"] if s[2] else ["t"]) for i, s in enumerate(sources)
            }
            if kept is not None:
                kept[(company_id, t0, t1)] = answers
        return answers[source]

    @contextmanager
    def instants_scope(self) -> Iterator[None]:
        """One computation of days: this thread's :meth:`instants` answers are kept until it
        ends, so none outlives the computation it was read for (another process may write)."""
        outer = getattr(self._scope, "kept", None)
        self._scope.kept = outer if outer is not None else {}
        try:
            yield
        finally:
            self._scope.kept = outer

    def companies_with_data(self) -> list[str]:
        union = " UNION DISTINCT ".join(f"SELECT DISTINCT company_id FROM {t.table} FINAL" for t in TABLES.values())
        return [r[0] for r in self.rows(f"SELECT company_id FROM ({union}) ORDER BY company_id")]

    def time_bounds(self, company_id: str) -> tuple[int, int] | None:
        """The earliest and latest instant any record of the company mentions."""
        return self.time_bounds_of([company_id]).get(company_id)

    def time_bounds_of(self, companies: Sequence[str]) -> dict[str, tuple[int, int]]:
        """:meth:`time_bounds` of many companies (those with records), one statement."""
        parts = []
        for t in TABLES.values():
            times = [c for c, typ in t.columns if str(typ) == "int64" and c not in ("seq", "size_bytes")]
            # minOrNull: plain min() of no rows is 0 in ClickHouse, not NULL.
            cols = ", ".join(
                f"minOrNull({_ident(c)}) AS lo_{i}, maxOrNull({_ident(c)}) AS hi_{i}" for i, c in enumerate(times)
            )
            parts.append(
                f"""SELECT company_id, least({", ".join(f"lo_{i}" for i in range(len(times)))}) AS lo,
                    greatest({", ".join(f"hi_{i}" for i in range(len(times)))}) AS hi
                FROM (SELECT company_id, {cols} FROM {t.table} FINAL
                      WHERE company_id IN {{cs:Array(String)}} GROUP BY company_id)"""
            )
        rows = self.rows(
            f"SELECT company_id, min(lo), max(hi) FROM ({' UNION ALL '.join(parts)}) GROUP BY company_id",
            {"cs": list(companies)},
        )
        return {str(c): (int(lo), int(hi)) for c, lo, hi in rows if lo is not None}

    # --- many companies at once (a live batch of the platform's stream, a bulk rebuild) -------
    # Each statement serves every company of the batch: the fixed cost of a statement (a few
    # milliseconds) is paid once per batch, not once per company. Windows (company_id, t0, t1)
    # travel as array parameters: one row per company.
    @staticmethod
    def _windows(windows: pa.Table, lo_of: dict[str, int] | None = None) -> dict[str, Any]:
        """The parameters of windows (``wc``: their companies; ``w0``, ``w1``: their instants,
        ``wlo``: where their rows may start; ``all_lo``, ``all_hi``: the bounds of them all), which
        :func:`_of_window` reads per row: a lookup, where a join would cost tens of milliseconds."""
        names = windows.column("company_id").to_pylist()
        t0 = windows.column("t0").to_pylist()
        los = [lo_of.get(c, t) if lo_of else t for c, t in zip(names, t0, strict=True)]
        return {
            "wc": names,
            "w0": t0,
            "w1": windows.column("t1").to_pylist(),
            "wlo": los,
            "all_lo": min(los),
            "all_hi": pc.max(windows.column("t1")).as_py(),
        }

    def connections_windows(self, windows: pa.Table, cap_us: int) -> pa.Table:
        """The connections of :meth:`connections_window` for many (company_id, t0, t1) windows
        at once, with their ``company_id``; ``parent`` is the parent hash."""
        schema = pa.schema([("company_id", pa.string()), *_conn_schema(pa.uint64())])
        if windows.num_rows == 0:
            return schema.empty_table()
        names = windows.column("company_id").to_pylist()
        t0 = windows.column("t0").to_pylist()
        params = self._windows(windows, {c: t - self.max_span(c) for c, t in zip(names, t0, strict=True)})
        return self.sql(
            f"""SELECT company_id, {self._conn_cols(parent_hash())} FROM (SELECT * FROM connections FINAL
            WHERE company_id IN {{wc:Array(String)}} AND joined_at >= {{all_lo:Int64}} AND joined_at < {{all_hi:Int64}}
              AND joined_at >= {_of_window("wlo")} AND joined_at < {_of_window("w1")}
              AND (coalesce(left_at, joined_at + {{cap:Int64}}) > {_of_window("w0")}
                   OR joined_at >= {_of_window("w0")}))""",
            {**params, "cap": cap_us},
            schema,
        )

    def parent_first_joins_in(self, windows: pa.Table) -> pa.Table:
        """(company_id, template, first_join) of the parents first joined in each window."""
        return self._in_windows(
            windows,
            "parent_stats",
            "first_join",
            "template, first_join",
            pa.schema([("company_id", pa.string()), ("template", pa.int8()), ("first_join", pa.int64())]),
        )

    def instants_in(self, windows: pa.Table, kind: str, column: str, value: str | None = None) -> pa.Table:
        """(company_id, t[, v]) of the records of a kind whose ``column`` lies in each window."""
        cols = f"{_ident(column)} AS t" + (f", {value} AS v" if value else "")
        schema = pa.schema([("company_id", pa.string()), ("t", pa.int64()), *([("v", pa.int64())] if value else [])])
        return self._in_windows(windows, TABLES[kind].table, column, cols, schema)

    def instants_in_many(self, windows: pa.Table, sources: Sequence[tuple[str, str, str | None]]) -> list[pa.Table]:
        """:meth:`instants_in` of each (kind, column, value) of ``sources``, in one statement."""
        schema = pa.schema([("src", pa.int64()), ("company_id", pa.string()), ("t", pa.int64()), ("v", pa.int64())])
        if windows.num_rows == 0 or not sources:
            rows = schema.empty_table()
        else:
            parts = [
                f"""SELECT {i} AS src, company_id, {_ident(column)} AS t,
                    {f"toNullable(toInt64({value}))" if value else "CAST(NULL, 'Nullable(Int64)')"} AS v
                FROM {self._in_windows_sql(TABLES[kind].table, column)}"""
                for i, (kind, column, value) in enumerate(sources)
            ]
            rows = self.sql(" UNION ALL ".join(parts), self._windows(windows), schema)
        src = rows.column("src")
        return [
            rows.filter(pc.equal(src, i)).select(["company_id", "t", "v"] if value else ["company_id", "t"])
            for i, (_, _, value) in enumerate(sources)
        ]

    def _in_windows(self, windows: pa.Table, table: str, column: str, cols: str, schema: pa.Schema) -> pa.Table:
        if windows.num_rows == 0:
            return schema.empty_table()
        return self.sql(
            f"SELECT company_id, {cols} FROM {self._in_windows_sql(table, column)}", self._windows(windows), schema
        )

    @staticmethod
    def _in_windows_sql(table: str, column: str) -> str:
        """The rows of ``table`` whose ``column`` lies in their company's window (a subquery)."""
        col = _ident(column)
        return f"""(SELECT * FROM {table} FINAL WHERE company_id IN {{wc:Array(String)}}
            AND {col} >= {{all_lo:Int64}} AND {col} < {{all_hi:Int64}}
            AND {col} >= {_of_window("w0")} AND {col} < {_of_window("w1")})"""

    def all_parents_of(self, companies: Sequence[str], cap_us: int) -> pa.Table:
        """:meth:`all_parents` of many companies (whose windows group by the parent hash), with
        their ``company_id``, in order of company and ``lo``, one statement."""
        return self._all_parents(list(companies), cap_us, parent_hash(), pa.uint64())

    def all_parents(self, company_id: str, cap_us: int) -> pa.Table:
        """Every event/call with connections, in order of ``lo``: the first and last joined_at of
        its connections (``lo``, ``hi``: chunks of the list are bounded in time), the latest
        instant one may end (``end``), and its ``parent`` as :meth:`connections_window` gives it."""
        parent, ptype = self._window_parent(company_id)
        return self._all_parents([company_id], cap_us, parent, ptype).drop_columns(["company_id"])

    def _all_parents(self, companies: list[str], cap_us: int, parent: str, ptype: pa.DataType) -> pa.Table:
        parents = self.sql(
            f"""SELECT company_id, parent_kind, parent_id, min(joined_at) AS lo, max(joined_at) AS hi,
                max(coalesce(left_at, joined_at + {{cap:Int64}})) AS end, any({parent}) AS parent
            FROM connections FINAL WHERE company_id IN {{cs:Array(String)}}
            GROUP BY company_id, parent_kind, parent_id ORDER BY company_id, lo, parent_kind, parent_id""",
            {"cs": companies, "cap": cap_us},
            pa.schema([*_COMPANY_PARENT_SCHEMA, *((c, pa.int64()) for c in ("lo", "hi", "end")), ("parent", ptype)]),
        )
        if ptype == pa.uint64():  # two parents sharing a hash: the company groups by ids from now on
            per = parents.group_by(["company_id", "parent"]).aggregate([("parent_id", "count")])
            self._note_exact(
                pc.unique(per.filter(pc.greater(per.column("parent_id_count"), 1)).column("company_id")).to_pylist()
            )
        return parents

    # --- rollups -----------------------------------------------------------------------------
    def write_days(
        self, company_id: str, days: Sequence[int], rows: pa.Table, computed_at: int, *, replace: bool = True
    ) -> None:
        """Replace the rollups of ``days`` with ``rows`` (day, metric, value, at). Rows are
        versioned, so ``replace=False`` (none stored) changes nothing here."""
        day_table = pa.table({"day": pa.array(list(days), pa.int32())})
        self.write_days_of(_with_company(company_id, day_table), _with_company(company_id, rows), computed_at)

    def write_days_of(self, days: pa.Table, rows: pa.Table, computed_at: int) -> None:
        """Replace the rollups of many (company_id, day) with ``rows`` (company_id, day, metric,
        value, at): one new row per day holding its metrics, in one insert of a new generation."""
        key = ["company_id", "day"]
        keys = (
            pa.concat_tables([days.select(key).cast(_DAY_KEY), rows.select(key).cast(_DAY_KEY)])
            .group_by(key, use_threads=False)
            .aggregate([])
        )
        k = keys.num_rows
        if k == 0:
            return
        keys = keys.append_column("slot", pa.array(np.arange(k, dtype=np.int64)))
        cells = rows.select(_CELL_SCHEMA.names).cast(_CELL_SCHEMA).join(keys, key, use_threads=False)
        cells = cells.take(pc.sort_indices(cells.column("slot")))
        counts = np.bincount(cells.column("slot").to_numpy(), minlength=k)
        offsets = pa.array(np.r_[0, np.cumsum(counts)].astype(np.int32))

        def per_day(name: str) -> pa.Array:
            return pa.ListArray.from_arrays(offsets, cells.column(name).combine_chunks())

        self.insert(
            "day_rollups",
            pa.table(
                {
                    "company_id": keys.column("company_id"),
                    "day": keys.column("day"),
                    "computed_at": pa.array(np.full(k, computed_at, np.int64)),
                    "metric": per_day("metric"),
                    "value": per_day("value"),
                    "at": per_day("at"),
                    "gen": pa.array(np.full(k, self.next_gen(), np.uint64)),
                }
            ),
        )

    def read_days(self, company_id: str, d0: int, d1: int) -> pa.Table:
        return _day_cells(
            self.sql(
                """SELECT day, metric, value, at FROM day_rollups FINAL
                WHERE company_id = {c:String} AND day BETWEEN {d0:Int32} AND {d1:Int32}""",
                {"c": company_id, "d0": d0, "d1": d1},
            )
        )

    def read_range(
        self, company_id: str, d0: int, d1: int, stocks: Sequence[str]
    ) -> tuple[pa.Table, dict[str, int], dict[int, int]]:
        """:meth:`read_days`, :meth:`sums_before` and :meth:`computed_days` of a read, in one
        statement: every day up to d1, with its cells from d0 on and its stocks' values before
        (each statement costs milliseconds however few rows it reads, and each expression of
        it a tenth of one: no lambdas)."""
        cells = ", ".join(f"if(day >= {{d0:Int32}}, {c}, []) AS {c}_" for c in ("metric", "value", "at"))
        levels = "".join(f", value[indexOf(metric, {{s{i}:String}})] AS s{i}" for i in range(len(stocks)))
        days = self.sql(
            f"""SELECT day, computed_at, {cells}{levels}
            FROM day_rollups FINAL WHERE company_id = {{c:String}} AND day <= {{d1:Int32}}""",
            {"c": company_id, "d0": d0, "d1": d1, **{f"s{i}": m for i, m in enumerate(stocks)}},
        )
        if days.num_rows == 0:
            return _DAYS_SCHEMA.empty_table(), {}, {}
        day = days.column("day").to_numpy()
        before = day < d0
        sums = {m: int(days.column(f"s{i}").to_numpy()[before].sum()) for i, m in enumerate(stocks)}
        computed = dict(zip(day.tolist(), days.column("computed_at").to_pylist(), strict=True))
        cells_of = days.select(["day", "metric_", "value_", "at_"]).rename_columns(["day", "metric", "value", "at"])
        return _day_cells(cells_of), sums, computed

    def computed_days(self, company_id: str, d0: int, d1: int) -> dict[int, int]:
        return {
            int(d): int(at)
            for d, at in self.rows(
                """SELECT day, computed_at FROM day_rollups FINAL
                WHERE company_id = {c:String} AND day BETWEEN {d0:Int32} AND {d1:Int32}""",
                {"c": company_id, "d0": d0, "d1": d1},
            )
        }

    def computed_companies(self, ids: Sequence[str]) -> set[str]:
        """The companies of ``ids`` with any computed day."""
        return {
            str(r[0])
            for r in self.rows(
                "SELECT DISTINCT company_id FROM day_rollups WHERE company_id IN {ids:Array(String)}",
                {"ids": list(ids)},
            )
        }

    def sums_before(self, company_id: str, metrics: Sequence[str], day: int) -> dict[str, int]:
        """Sum of each metric's daily rows before ``day`` (the level a stock starts a range at)."""
        if not metrics:
            return {}
        rows = self.rows(
            """SELECT m, sum(v) FROM (SELECT metric, value FROM day_rollups FINAL
                WHERE company_id = {c:String} AND day < {day:Int32})
            ARRAY JOIN metric AS m, value AS v WHERE has({ms:Array(String)}, m) GROUP BY m""",
            {"c": company_id, "day": day, "ms": list(metrics)},
        )
        return {str(m): int(v) for m, v in rows}

    def clear_rollups(self, company_id: str | None = None) -> None:
        with self._lock:
            for table in ("day_rollups", "parent_stats"):
                local = self.layout.local(table) + self.layout.on_cluster
                if company_id is None:
                    self.client.command(f"TRUNCATE TABLE IF EXISTS {local}")
                else:
                    self.client.command(
                        f"DELETE FROM {local} WHERE company_id = {{c:String}}", parameters={"c": company_id}
                    )

    def clear_rollups_of(self, companies: Sequence[str]) -> None:
        """:meth:`clear_rollups` of many companies, one statement per table."""
        with self._lock:
            for table in ("day_rollups", "parent_stats"):
                self.client.command(
                    f"DELETE FROM {self.layout.local(table)}{self.layout.on_cluster} "
                    "WHERE company_id IN {cs:Array(String)}",
                    parameters={"cs": list(companies)},
                )

    # --- parent stats ------------------------------------------------------------------------
    def put_parent_stats(self, company_id: str, parents: pa.Table, stats: pa.Table, *, replace: bool = True) -> None:
        """Replace the stats of ``parents`` (parent_kind, parent_id) with ``stats`` rows.

        Every event/call with connections has a row here, so this is also where two parents of a
        company sharing a hash would first meet: the company's day windows then group by ids.
        With ``replace=False`` the caller knows that none of these stats is stored and that
        their hashes differ from every other parent's of the company (a rebuild)."""
        keys = _with_company(company_id, parents.select(PARENT_SCHEMA.names)).cast(_COMPANY_PARENT_SCHEMA)
        if replace and company_id not in self._exact:
            self._note_exact(self._lookup_parents(keys)[2])
        self._write_stats(_with_company(company_id, stats.select(PARENT_STATS_SCHEMA.names)), keys)

    def _write_stats(self, stats: pa.Table, parents: pa.Table) -> None:
        """``stats`` (company_id and the stats columns) as the new rows of their parents, and a
        tombstone for each of ``parents`` (company_id, parent_kind, parent_id) without one."""
        key = ["company_id", "parent_kind", "parent_id"]
        names = ["company_id", *(n for n, _ in _PARENT_STATS_COLUMNS)]
        live = stats.select(names).cast(pa.schema([("company_id", pa.string()), *PARENT_STATS_SCHEMA]))
        gone = parents.select(key).cast(_COMPANY_PARENT_SCHEMA)
        if live.num_rows:
            gone = gone.join(live.select(key), key, join_type="left anti")
        tomb = (
            pa.table(
                {
                    **{n: gone.column(n) for n in key},
                    **{
                        f.name: pa.nulls(gone.num_rows, f.type)
                        if f.name in NULLABLE_STATS
                        else pa.array(np.zeros(gone.num_rows, np.int64)).cast(f.type)
                        for f in PARENT_STATS_SCHEMA
                        if f.name not in key
                    },
                }
            )
            .select(names)
            .cast(live.schema)
        )
        both = pa.concat_tables([live, tomb])
        if both.num_rows == 0:
            return
        flags = np.r_[np.zeros(live.num_rows, np.uint8), np.ones(gone.num_rows, np.uint8)]
        self.insert(
            "parent_stats",
            both.append_column("gen", pa.array(np.full(both.num_rows, self.next_gen(), np.uint64))).append_column(
                "is_deleted", pa.array(flags)
            ),
        )

    def _lookup_parents(self, parents: pa.Table) -> tuple[pa.Table, pa.Array, set[str]]:
        """For (company_id, parent_kind, parent_id) rows: their stored stats rows (company_id,
        parent_kind, parent_id, first_join, last_leave), each row's parent hash, and the
        companies where two parents (of the rows, or one of them and a stored one) share a hash."""
        keys = parents.select(_COMPANY_PARENT_SCHEMA.names).cast(_COMPANY_PARENT_SCHEMA)
        numbered = keys.append_column("pos", pa.array(np.arange(keys.num_rows, dtype=np.int64)))
        with self._lock, self.staged(numbered) as stage:
            pks = (
                self.sql(
                    f"SELECT {parent_hash()} AS pk FROM {stage} ORDER BY pos", None, pa.schema([("pk", pa.uint64())])
                )
                .column("pk")
                .combine_chunks()
            )
            stored = self.sql(
                f"""SELECT company_id, parent_kind, parent_id, first_join, last_leave, {parent_hash()} AS pk
                FROM parent_stats FINAL WHERE company_id IN {{cs:Array(String)}}
                  AND {parent_hash()} GLOBAL IN (SELECT {parent_hash()} FROM {stage})""",
                {"cs": pc.unique(keys.column("company_id")).to_pylist()},
                pa.schema(
                    [
                        *_COMPANY_PARENT_SCHEMA,
                        ("first_join", pa.int64()),
                        ("last_leave", pa.int64()),
                        ("pk", pa.uint64()),
                    ]
                ),
            )
        tagged = keys.append_column("pk", pks)
        pairs = stored.join(tagged.rename_columns(["company_id", "kind", "id", "pk"]), ["company_id", "pk"])
        same = pc.and_(
            pc.equal(pairs.column("parent_kind"), pairs.column("kind")),
            pc.equal(pairs.column("parent_id"), pairs.column("id")),
        )
        shared = set(pc.unique(pairs.filter(pc.invert(same)).column("company_id")).to_pylist())
        distinct = tagged.group_by(["company_id", "parent_kind", "parent_id", "pk"]).aggregate([])
        per = distinct.group_by(["company_id", "pk"]).aggregate([("parent_id", "count")])
        shared |= set(
            pc.unique(per.filter(pc.greater(per.column("parent_id_count"), 1)).column("company_id")).to_pylist()
        )
        old = pairs.filter(same).select(["company_id", "parent_kind", "parent_id", "first_join", "last_leave"])
        return old, pks, shared

    def stats_of_parents(self, parents: pa.Table) -> tuple[pa.Table, pa.Array, set[str]]:
        """For (company_id, parent_kind, parent_id) rows: the stored stats rows of those parents
        (rid, company_id, parent_kind, parent_id, first_join, last_leave), each parent's hash,
        and the companies where two parents (of the rows, or one of them and a stored one)
        share a hash. ``rid`` is what :meth:`replace_parent_stats` takes."""
        old, pks, shared = self._lookup_parents(parents)
        with self._lock:
            self._found_stats = old.select(["company_id", "parent_kind", "parent_id"])
        return old.add_column(0, "rid", pa.array(np.arange(old.num_rows, dtype=np.int64))), pks, shared

    def replace_parent_stats(self, old_rids: pa.Array, stats: pa.Table) -> None:
        """Replace the stats rows ``old_rids`` (of the last :meth:`stats_of_parents`) with
        ``stats`` (with ``company_id``): those parents' new stats, in one insert for every company."""
        with self._lock:
            gone = self._found_stats.take(old_rids) if len(old_rids) else self._found_stats.slice(0, 0)
            self._write_stats(stats, gone)

    def parent_first_joins(self, company_id: str, t0: int, t1: int) -> pa.Table:
        return self.sql(
            """SELECT template, first_join FROM parent_stats FINAL
            WHERE company_id = {c:String} AND first_join >= {t0:Int64} AND first_join < {t1:Int64}""",
            {"c": company_id, "t0": t0, "t1": t1},
            pa.schema([("template", pa.int8()), ("first_join", pa.int64())]),
        )

    def parent_first_joins_of(self, company_id: str, parents: pa.Table) -> pa.Table:
        with self._lock, self.staged(parents.select(PARENT_SCHEMA.names).cast(PARENT_SCHEMA)) as stage:
            return self.sql(
                f"""SELECT first_join, last_leave FROM parent_stats FINAL WHERE company_id = {{c:String}}
                AND (parent_kind, parent_id) GLOBAL IN (SELECT parent_kind, parent_id FROM {stage})""",
                {"c": company_id},
                pa.schema([("first_join", pa.int64()), ("last_leave", pa.int64())]),
            )

    def open_parents(self, company_id: str) -> pa.Table:
        """Parents whose stats still change with the clock (a connection of theirs is open)."""
        return self.sql(
            """SELECT parent_kind, parent_id, first_join FROM parent_stats FINAL
            WHERE company_id = {c:String} AND open_until IS NOT NULL""",
            {"c": company_id},
            OPEN_PARENT_SCHEMA,
        )

    def window_codes(self, company_id: str, parents: pa.Table) -> pa.Array | None:
        """What identifies each of ``parents`` in :meth:`connections_window` rows, or None when
        that may not be distinct: two of them, or one of them and a stored parent, share a hash."""
        if company_id in self._exact:
            return parent_text(parents)
        _, pks, shared = self._lookup_parents(_with_company(company_id, parents.select(PARENT_SCHEMA.names)))
        return None if shared else pks

    # --- tables of the dashboard -------------------------------------------------------------
    def connections_over(self, company_id: str, t0: int, t1: int, cap_us: int) -> pa.Table:
        """Connections active at some instant of ``[t0, t1)`` or joining in it, with their
        event/call ids (what was active at an instant, a day's curve)."""
        lo = t0 - self.max_span(company_id)
        sql = """SELECT parent_kind, parent_id, template, transport, joined_at, coalesce(left_at, -1) AS left_at,
                user_id FROM (SELECT * FROM connections FINAL
            WHERE company_id = {c:String} AND joined_at >= {lo:Int64} AND joined_at < {t1:Int64}
              AND (coalesce(left_at, joined_at + {cap:Int64}) > {t0:Int64} OR joined_at >= {t0:Int64}))"""
        schema = pa.schema(
            [
                ("parent_kind", pa.int8()),
                ("parent_id", pa.string()),
                ("template", pa.int8()),
                ("transport", pa.int8()),
                ("joined_at", pa.int64()),
                ("left_at", pa.int64()),
                ("user_id", pa.string()),
            ]
        )
        return self.sql(sql, {"c": company_id, "lo": lo, "t1": t1, "cap": cap_us, "t0": t0}, schema)

    def describe_parents(self, company_id: str, parents: pa.Table) -> pa.Table:
        """For (parent_kind, parent_id) rows: the title and organizer of events (a call: its
        type and initiator), with the organizer's name, as their records say (null: no record)."""
        kinds = parents.column("parent_kind").to_pylist()
        ids = parents.column("parent_id").to_pylist()
        events = {
            r[0]: (r[1], r[2])
            for r in self.rows(
                "SELECT id, title, organizer_id FROM events FINAL"
                " WHERE company_id = {c:String} AND id IN {ids:Array(String)}",
                {"c": company_id, "ids": [i for k, i in zip(kinds, ids, strict=True) if k == PARENT_EVENT]},
            )
        }
        calls = {
            r[0]: (r[1], r[2])
            for r in self.rows(
                "SELECT id, type, initiator_id FROM calls FINAL"
                " WHERE company_id = {c:String} AND id IN {ids:Array(String)}",
                {"c": company_id, "ids": [i for k, i in zip(kinds, ids, strict=True) if k == PARENT_CALL]},
            )
        }
        found = [(events if k == PARENT_EVENT else calls).get(i, (None, None)) for k, i in zip(kinds, ids, strict=True)]
        people = [o for _, o in found if o is not None]
        names = (
            {
                r[0]: r[1]
                for r in self.rows(
                    "SELECT id, name FROM users FINAL WHERE company_id = {c:String} AND id IN {ids:Array(String)}",
                    {"c": company_id, "ids": people},
                )
            }
            if people
            else {}
        )
        return pa.table(
            {
                "parent_kind": pa.array(kinds, pa.int8()),
                "parent_id": pa.array(ids, pa.string()),
                "title": pa.array([t for t, _ in found], pa.string()),
                "organizer_id": pa.array([o for _, o in found], pa.string()),
                "organizer_name": pa.array([names.get(o) if o is not None else None for _, o in found], pa.string()),
            }
        )

    def table_page(
        self,
        query: TableQuery,
        params: dict[str, Any],
        sort: str,
        order: str,
        limit: int,
        offset: int,
        fresh_stats: pa.Table | None = None,
    ) -> tuple[list[dict[str, Any]], int]:
        """One page of a dashboard table (its ClickHouse text, see metrics/table_sql.py), sorted and
        searched in SQL; ``fresh_stats``: stats rows of events recomputed for this read, read
        instead of theirs."""
        base, tie = query.clickhouse, query.tie
        params = {k: v for k, v in params.items() if "{" + k + ":" in base}
        direction = "DESC" if order == "desc" else "ASC"
        settings = {"join_use_nulls": 1}
        fresh = None
        if fresh_stats is not None and "{stats}" in base:
            fresh = fresh_stats.filter(pc.equal(fresh_stats.column("parent_kind"), 0)).select(_FRESH_COLUMNS)
        with self._lock, self.staged(fresh) if fresh is not None else nullcontext(None) as stage:
            stats = _STORED_STATS if stage is None else _FRESH_STATS.replace("{fresh}", stage)
            base = base.replace("{stats}", stats)
            total = self.client.query(
                f"SELECT count() FROM ({base})", parameters=params, settings=settings
            ).result_rows[0][0]
            res = self.client.query(
                f"SELECT * FROM ({base}) ORDER BY {_ident(sort)} {direction} NULLS LAST, {tie} "
                f"LIMIT {int(limit)} OFFSET {int(offset)}",
                parameters=params,
                settings=settings,
            )
            cols = list(res.column_names)
            rows = [dict(zip(cols, r, strict=True)) for r in res.result_rows]
        return rows, int(total)


def _of_window(param: str) -> str:
    """The value of a window's parameter (see ClickHouseStore._windows) for a row's company."""
    return f"transform(company_id, {{wc:Array(String)}}, {{{param}:Array(Int64)}}, toInt64(0))"


def _day_cells(days: pa.Table) -> pa.Table:
    """The (day, metric, value, at) cells of ``day_rollups`` rows (day and the three arrays)."""
    if days.num_rows == 0:
        return _DAYS_SCHEMA.empty_table()
    metric = days.column("metric").combine_chunks()
    n = pc.list_value_length(metric).to_numpy()
    return pa.table(
        {
            "day": pa.array(np.repeat(days.column("day").to_numpy(), n), pa.int32()),
            "metric": metric.flatten(),
            "value": days.column("value").combine_chunks().flatten(),
            "at": days.column("at").combine_chunks().flatten(),
        },
        schema=_DAYS_SCHEMA,
    )


def _cast(tbl: pa.Table, schema: pa.Schema | None) -> pa.Table:
    if schema is None:
        return tbl
    if tbl.num_rows == 0:
        return schema.empty_table()
    return tbl.select(schema.names).cast(schema)


# The events' stats as stored, or with the rows of a scratch table ``{fresh}`` (recomputed for this
# read) instead.
_FRESH_COLUMNS = ["parent_id", "template", "first_join", "last_leave", "participants", "connections", "peak", "peak_at"]
_STORED_STATS = (
    f"SELECT {', '.join(_FRESH_COLUMNS)} FROM parent_stats FINAL "
    "WHERE company_id = {company:String} AND parent_kind = 0"
)
_FRESH_STATS = (
    f"{_STORED_STATS} AND parent_id NOT IN (SELECT parent_id FROM {{fresh}}) "
    f"UNION ALL SELECT {', '.join(_FRESH_COLUMNS)} FROM {{fresh}}"
)
