"""The scale-out analytic store: ClickHouse (a server, a cluster, or chDB in-process).

Same interface and return types as :class:`~vkurse_stats.store.duckdb.DuckDBStore`, so rollups,
queries and ingest run unchanged and the shared NumPy engine computes identical figures.

Replace semantics without updates: raw tables are ``ReplacingMergeTree(ver, is_deleted)``
ordered by ``(company_id, <time>, id)`` and partitioned by month. ``ver`` encodes the rule of
DuckDBStore.upsert: ``(terminal field present) << 62 | seq``, so a version lacking the terminal
field never outranks one that has it, and otherwise the later arrival wins. A new version whose
time (hence sorting key or partition) differs from the version it replaces also writes a
tombstone (``is_deleted = 1``) under the old key. Every read uses ``FINAL`` (or the same rule
spelled with ``LIMIT 1 BY``), so figures are exact before any background merge.

Rollups are written as generations: each ``write_days`` call inserts its rows and then one
``rollup_days`` row per day carrying a fresh ``gen``; readers keep only the rows of each day's
newest generation, so a metric that disappeared from a day (a client type) is gone at once and
a reader never sees half a write. Parent stats are ReplacingMergeTree by parent with tombstones
for parents that lost all their connections. Whole-company clears (``rebuild``) use lightweight
``DELETE``.

Cluster DDL lives only in :class:`Layout` (``?cluster=NAME`` on the URL; ``&sharded=1`` adds
``Distributed`` tables over ``<table>_local`` sharded by company). Every query runs unchanged on a
Distributed table: all rows of a company live on one shard, so IN/JOIN subqueries over our tables
run shard-locally (``distributed_product_mode = 'local'``), and the scratch tables holding a
batch's keys, which exist only on this node, are read with ``GLOBAL IN``.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .base import AnalyticStore
from .schema import (
    NULLABLE_STATS,
    PARENT_SCHEMA,
    PARENT_STATS_SCHEMA,
    TABLES,
    TIME_COLUMN,
    UNAPPLIED,
    KindTable,
    parent_text,
)

TERMINAL_BIT = 1 << 62
OPEN_PARENT_SCHEMA = pa.schema([*PARENT_SCHEMA, pa.field("first_join", pa.int64())])
_LOW_CARDINALITY = {"client", "device", "role", "type"}
_CH_TYPES = {"string": "String", "int64": "Int64", "int8": "Int8", "bool": "Bool"}
SCHEMA_VERSION = 1

_CONN_SCHEMA = pa.schema(
    [
        ("parent", pa.string()),
        ("parent_kind", pa.int8()),
        ("parent_id", pa.string()),
        ("template", pa.int8()),
        ("transport", pa.int8()),
        ("joined_at", pa.int64()),
        ("left_at", pa.int64()),
        ("person", pa.string()),
        ("client", pa.string()),
        ("id", pa.string()),
    ]
)
_DAYS_SCHEMA = pa.schema([("day", pa.int32()), ("metric", pa.string()), ("value", pa.int64()), ("at", pa.int64())])
_PARENT_STATS_COLUMNS = tuple(
    (f.name, f"Nullable({_CH_TYPES[str(f.type)]})" if f.name in NULLABLE_STATS else _CH_TYPES[str(f.type)])
    for f in PARENT_STATS_SCHEMA
)


def _ident(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


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


# Schema version -> the statements that bring the previous version to it.
MIGRATIONS: dict[int, Any] = {1: schema_ddl}


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
    concurrent_reads = False  # one client under one lock: reads store what they recompute
    batched_windows = False  # a live batch's companies are recomputed one by one

    def exact_parents(self, company_id: str) -> bool:
        return False  # parents are always matched on their ids here

    def __init__(self, url: str) -> None:
        import clickhouse_connect

        self.url = url
        self.target = parse_url(url)
        self.layout = self.target.layout
        tg = self.target
        if tg.kind == "chdb":
            self.client = clickhouse_connect.get_client(dsn=f"chdb://{tg.path}", settings=self.layout.settings)
        else:
            self.client = clickhouse_connect.get_client(
                host=tg.host,
                port=tg.port,
                username=tg.user,
                password=tg.password,
                secure=tg.secure,
                settings=self.layout.settings,
            )
        self._lock = threading.RLock()
        self._gen = 0
        self.client.command(f"CREATE DATABASE IF NOT EXISTS {_ident(tg.database)}{self.layout.on_cluster}")
        self.client.database = tg.database
        self._migrate()
        self._marked: set[str] = set(self.unapplied())  # see mark_unapplied

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
        with self._lock:
            return [tuple(r) for r in self.client.query(sql, parameters=params, settings=settings).result_rows]

    def sql(self, sql: str, params: dict[str, Any] | None = None, schema: pa.Schema | None = None) -> pa.Table:
        """A query's result as Arrow, cast to ``schema`` (DuckDB's column types) when given."""
        with self._lock:
            tbl = self.client.query_arrow(sql, parameters=params)
        if schema is None:
            return tbl
        if tbl.num_rows == 0:
            return schema.empty_table()
        return tbl.select(schema.names).cast(schema)

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
        cols = ", ".join(f"{_ident(f.name)} {types[str(f.type)]}" for f in data.schema)
        with self._lock:
            self.client.command(f"CREATE TABLE {name} ({cols}) ENGINE = Memory")
            try:
                self.insert(name, data)
                yield name
            finally:
                self.client.command(f"DROP TABLE IF EXISTS {name}")

    def _migrate(self) -> None:
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
                    self.client.command(stmt)
                self.client.command(f"INSERT INTO schema_migrations (version) VALUES ({version})")

    def schema_version(self) -> int:
        return int(self.rows("SELECT max(version) FROM schema_migrations")[0][0] or 0)

    def meta_get(self, key: str) -> str | None:
        row = self.rows("SELECT value FROM store_meta FINAL WHERE key = {k:String}", {"k": key})
        return row[0][0] if row else None

    def meta_set(self, key: str, value: str) -> None:
        self.insert(
            "store_meta", pa.table({"key": [key], "value": [value], "gen": pa.array([self.next_gen()], pa.uint64())})
        )

    def mark_unapplied(self, companies: Iterable[str]) -> None:
        """Note that these companies have records whose rollups are not applied yet (a process
        killed before it applies them leaves the note behind)."""
        for company_id in sorted(set(companies) - self._marked):
            self.meta_set(UNAPPLIED + company_id, "1")
            self._marked.add(company_id)

    def clear_unapplied(self, companies: Iterable[str]) -> None:
        for company_id in sorted(set(companies) & self._marked):
            self.meta_set(UNAPPLIED + company_id, "")
            self._marked.discard(company_id)

    def unapplied(self) -> list[str]:
        rows = self.rows(
            "SELECT key FROM store_meta FINAL WHERE startsWith(key, {p:String}) AND value = '1' ORDER BY key",
            {"p": UNAPPLIED},
        )
        return [r[0].removeprefix(UNAPPLIED) for r in rows]

    def next_seq(self, n: int) -> int:
        """Reserve ``n`` arrival sequence numbers; returns the first."""
        with self._lock:
            first = int(self.meta_get("seq") or "0")
            self.meta_set("seq", str(first + n))
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
        s = _latest_per_key(batch, _versions(batch, t))
        with self._lock, self.staged(s.select(["company_id", "id"])) as stage:
            companies = pc.unique(s.column("company_id")).to_pylist()
            cols = ", ".join(_ident(c) for c in t.names)
            # FINAL's rule without merging the whole company: newest row per sorting key, minus
            # tombstones, then the newest per record.
            old = self.sql(
                f"""
                SELECT {cols}, ver FROM (
                    SELECT {cols}, ver, is_deleted FROM {t.table}
                    WHERE company_id IN {{companies:Array(String)}}
                      AND (company_id, id) GLOBAL IN (SELECT company_id, id FROM {stage})
                    ORDER BY ver DESC LIMIT 1 BY company_id, {_ident(tc)}, id)
                WHERE is_deleted = 0 ORDER BY ver DESC LIMIT 1 BY company_id, id""",
                {"companies": companies},
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
            if t.terminal:
                keep_old = pc.and_(
                    matched, pc.and_(pc.is_null(j.column(t.terminal)), pc.is_valid(j.column("o_" + t.terminal)))
                )
                keep_old = pc.fill_null(keep_old, False)
            else:
                keep_old = pc.and_(matched, False)
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
            ver = _versions(inserted, t)
            rows = inserted.append_column("ver", pa.array(ver, pa.uint64())).append_column(
                "is_deleted", pa.array(np.zeros(inserted.num_rows, np.uint8))
            )
            if tombstones is not None:
                rows = pa.concat_tables([rows, tombstones])
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
        self.insert(
            "spans",
            pa.table({"company_id": per.column("company_id"), "max_span": per.column("span_max").cast(pa.int64())}),
        )

    def max_span(self, company_id: str) -> int:
        row = self.rows("SELECT max(max_span) FROM spans WHERE company_id = {c:String}", {"c": company_id})
        return int(row[0][0] or 0) if row else 0

    def reset_spans(self, cap_us: int) -> None:
        with self._lock:
            self.client.command(f"TRUNCATE TABLE IF EXISTS {self.layout.local('spans')}{self.layout.on_cluster}")
            self.client.command(f"""INSERT INTO spans SELECT company_id,
                max(coalesce(left_at, joined_at + {int(cap_us)}) - joined_at) FROM connections FINAL
                GROUP BY company_id""")

    _CONN_COLS = """concat(toString(parent_kind), ':', parent_id) AS parent, parent_kind, parent_id, template,
        transport, joined_at, coalesce(left_at, -1) AS left_at, coalesce(user_id, concat(char(0), id)) AS person,
        coalesce(client, 'unknown') AS client, id"""

    def connections_window(self, company_id: str, t0: int, t1: int, cap_us: int) -> pa.Table:
        """Connections active (or joining) in ``[t0, t1)``."""
        lo = t0 - self.max_span(company_id)
        # The filter sits in a subquery: ClickHouse lets select aliases shadow columns in WHERE.
        return self.sql(
            f"""SELECT {self._CONN_COLS} FROM (SELECT * FROM connections FINAL
            WHERE company_id = {{c:String}} AND joined_at >= {{lo:Int64}} AND joined_at < {{t1:Int64}}
              AND (coalesce(left_at, joined_at + {{cap:Int64}}) > {{t0:Int64}} OR joined_at >= {{t0:Int64}}))""",
            {"c": company_id, "lo": lo, "t1": t1, "cap": cap_us, "t0": t0},
            _CONN_SCHEMA,
        )

    def connections_of_parents(
        self, company_id: str, parents: pa.Table, lo: int | None = None, hi: int | None = None
    ) -> pa.Table:
        """Every connection of the given (parent_kind, parent_id) pairs, its ``parent`` being the
        pair's row number in ``parents`` (all of them joined in ``[lo, hi]`` when the caller knows
        such bounds)."""
        window = "" if lo is None or hi is None else "AND joined_at >= {lo:Int64} AND joined_at <= {hi:Int64}"
        keys = parents.select(PARENT_SCHEMA.names).cast(PARENT_SCHEMA)
        with self._lock, self.staged(keys) as stage:
            rows = self.sql(
                f"""SELECT {self._CONN_COLS} FROM (SELECT * FROM connections FINAL
                WHERE company_id = {{c:String}} {window}
                  AND (parent_kind, parent_id) GLOBAL IN (SELECT parent_kind, parent_id FROM {stage}))""",
                {"c": company_id, "lo": lo, "hi": hi},
                _CONN_SCHEMA,
            )
        numbered = keys.append_column("pos", pa.array(np.arange(keys.num_rows, dtype=np.int64)))
        rows = rows.join(numbered, ["parent_kind", "parent_id"])
        return rows.set_column(rows.column_names.index("parent"), "parent", rows.column("pos")).drop_columns(["pos"])

    def instants(self, kind: str, company_id: str, column: str, t0: int, t1: int, value: str | None = None) -> pa.Table:
        """``column`` (and ``value``) of the records of a kind whose ``column`` is in [t0, t1)."""
        t = TABLES[kind]
        schema = pa.schema([("t", pa.int64()), *([("v", pa.int64())] if value else [])])
        cols = f"{_ident(column)} AS t" + (f", {value} AS v" if value else "")
        return self.sql(
            f"""SELECT {cols} FROM {t.table} FINAL WHERE company_id = {{c:String}}
            AND {_ident(column)} >= {{t0:Int64}} AND {_ident(column)} < {{t1:Int64}}""",
            {"c": company_id, "t0": t0, "t1": t1},
            schema,
        )

    def companies_with_data(self) -> list[str]:
        union = " UNION DISTINCT ".join(f"SELECT DISTINCT company_id FROM {t.table} FINAL" for t in TABLES.values())
        return [r[0] for r in self.rows(f"SELECT company_id FROM ({union}) ORDER BY company_id")]

    def time_bounds(self, company_id: str) -> tuple[int, int] | None:
        """The earliest and latest instant any record of the company mentions."""
        parts = []
        for t in TABLES.values():
            times = [c for c, typ in t.columns if str(typ) == "int64" and c not in ("seq", "size_bytes")]
            # minOrNull: plain min() of no rows is 0 in ClickHouse, not NULL.
            parts += [
                f"SELECT minOrNull({_ident(c)}) AS lo, maxOrNull({_ident(c)}) AS hi FROM {t.table} FINAL "
                "WHERE company_id = {c:String}"
                for c in times
            ]
        row = self.rows(f"SELECT min(lo), max(hi) FROM ({' UNION ALL '.join(parts)})", {"c": company_id})
        if not row or row[0][0] is None:
            return None
        return int(row[0][0]), int(row[0][1])

    # --- rollups -----------------------------------------------------------------------------
    def write_days(
        self, company_id: str, days: Sequence[int], rows: pa.Table, computed_at: int, *, replace: bool = True
    ) -> None:
        """Replace the rollups of ``days`` with ``rows`` (day, metric, value, at). Rows are
        versioned, so ``replace=False`` (none stored) changes nothing here."""
        gen = self.next_gen()
        n = rows.num_rows
        # Rows first, then the day markers that make them current: readers switch atomically.
        self.insert(
            "rollups",
            pa.table(
                {
                    "company_id": pa.array([company_id] * n, pa.string()),
                    "day": rows.column("day").cast(pa.int32()),
                    "metric": rows.column("metric").cast(pa.string()),
                    "value": rows.column("value").cast(pa.int64()),
                    "at": rows.column("at").cast(pa.int64()),
                    "gen": pa.array(np.full(n, gen, np.uint64)),
                }
            ),
        )
        self.insert(
            "rollup_days",
            pa.table(
                {
                    "company_id": pa.array([company_id] * len(days), pa.string()),
                    "day": pa.array(list(days), pa.int32()),
                    "computed_at": pa.array(np.full(len(days), computed_at, np.int64)),
                    "gen": pa.array(np.full(len(days), gen, np.uint64)),
                }
            ),
        )

    # Only the rows of each day's newest generation are current.
    _CURRENT = """(day, gen) IN (SELECT day, max(gen) FROM rollup_days
        WHERE company_id = {c:String} AND %s GROUP BY day)"""

    def read_days(self, company_id: str, d0: int, d1: int) -> pa.Table:
        cond = "day BETWEEN {d0:Int32} AND {d1:Int32}"
        return self.sql(
            f"""SELECT day, metric, value, at FROM rollups
            WHERE company_id = {{c:String}} AND {cond} AND {self._CURRENT % cond}""",
            {"c": company_id, "d0": d0, "d1": d1},
            _DAYS_SCHEMA,
        )

    def computed_days(self, company_id: str, d0: int, d1: int) -> dict[int, int]:
        return {
            int(d): int(at)
            for d, at in self.rows(
                """SELECT day, argMax(computed_at, gen) FROM rollup_days
            WHERE company_id = {c:String} AND day BETWEEN {d0:Int32} AND {d1:Int32} GROUP BY day""",
                {"c": company_id, "d0": d0, "d1": d1},
            )
        }

    def computed_companies(self, ids: Sequence[str]) -> set[str]:
        """The companies of ``ids`` with any computed day."""
        return {str(r[0]) for r in self.rows(
            "SELECT DISTINCT company_id FROM rollup_days WHERE company_id IN {ids:Array(String)}", {"ids": list(ids)})}

    def sums_before(self, company_id: str, metrics: Sequence[str], day: int) -> dict[str, int]:
        """Sum of each metric's daily rows before ``day`` (the level a stock starts a range at)."""
        if not metrics:
            return {}
        cond = "day < {day:Int32}"
        return {
            m: int(v)
            for m, v in self.rows(
                f"""SELECT metric, sum(value) FROM rollups
            WHERE company_id = {{c:String}} AND {cond} AND metric IN {{m:Array(String)}}
              AND {self._CURRENT % cond} GROUP BY metric""",
                {"c": company_id, "day": day, "m": list(metrics)},
            )
        }

    def clear_rollups(self, company_id: str | None = None) -> None:
        with self._lock:
            for table in ("rollups", "rollup_days", "parent_stats"):
                local = self.layout.local(table) + self.layout.on_cluster
                if company_id is None:
                    self.client.command(f"TRUNCATE TABLE IF EXISTS {local}")
                else:
                    self.client.command(
                        f"DELETE FROM {local} WHERE company_id = {{c:String}}", parameters={"c": company_id}
                    )

    # --- parent stats ------------------------------------------------------------------------
    def put_parent_stats(self, company_id: str, parents: pa.Table, stats: pa.Table, *, replace: bool = True) -> None:
        """Replace the stats of ``parents`` (parent_kind, parent_id) with ``stats`` rows. Rows are
        versioned, so ``replace=False`` (none stored) changes nothing here."""
        gen = self.next_gen()
        names = [n for n, _ in _PARENT_STATS_COLUMNS]
        keys = pa.table(
            {
                "parent_kind": parents.column("parent_kind").cast(pa.int8()),
                "parent_id": parents.column("parent_id").cast(pa.string()),
            }
        )
        gone = keys.join(
            stats.select(["parent_kind", "parent_id"]), ["parent_kind", "parent_id"], join_type="left anti"
        )
        live = stats.select(names)
        tomb = (
            pa.table(
                {
                    "parent_kind": gone.column("parent_kind"),
                    "parent_id": gone.column("parent_id"),
                    **{
                        n: pa.nulls(gone.num_rows, live.schema.field(n).type).fill_null(0 if n != "is_open" else False)
                        for n in names[2:]
                        if n not in ("peak_at", "open_until")
                    },
                    "peak_at": pa.nulls(gone.num_rows, pa.int64()),
                    "open_until": pa.nulls(gone.num_rows, pa.int64()),
                }
            )
            .select(names)
            .cast(live.schema)
        )
        both = pa.concat_tables([live, tomb])
        flags = np.r_[np.zeros(live.num_rows, np.uint8), np.ones(gone.num_rows, np.uint8)]
        self.insert(
            "parent_stats",
            pa.table(
                {
                    "company_id": pa.array([company_id] * both.num_rows, pa.string()),
                    **{n: both.column(n) for n in names},
                    "gen": pa.array(np.full(both.num_rows, gen, np.uint64)),
                    "is_deleted": pa.array(flags),
                }
            ),
        )

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

    def window_codes(self, company_id: str, parents: pa.Table) -> pa.Array:
        """What identifies each of ``parents`` in :meth:`connections_window` rows (its ids)."""
        return parent_text(parents)

    def all_parents(self, company_id: str, cap_us: int) -> pa.Table:
        """Every event/call with connections, in order of ``lo``: the first and last joined_at of
        its connections (``lo``, ``hi``: chunks of the list are bounded in time), the latest
        instant one may end (``end``), and its ``parent`` as :meth:`connections_window` gives it."""
        return self.sql(
            """SELECT parent_kind, parent_id, min(joined_at) AS lo, max(joined_at) AS hi,
                max(coalesce(left_at, joined_at + {cap:Int64})) AS end,
                concat(toString(parent_kind), ':', parent_id) AS parent
            FROM connections FINAL
            WHERE company_id = {c:String} GROUP BY parent_kind, parent_id ORDER BY lo, parent_kind, parent_id""",
            {"c": company_id, "cap": cap_us},
            pa.schema(
                [*PARENT_SCHEMA, ("lo", pa.int64()), ("hi", pa.int64()), ("end", pa.int64()), ("parent", pa.string())]
            ),
        )

    # --- tables of the dashboard -------------------------------------------------------------
    def table_page(
        self,
        name: str,
        params: dict[str, Any],
        sort: str,
        order: str,
        limit: int,
        offset: int,
        fresh_stats: pa.Table | None = None,
    ) -> tuple[list[dict[str, Any]], int]:
        """One page of a dashboard table (see TABLE_SQL), sorted and searched in SQL. Reads here
        store what they recompute (``concurrent_reads`` is False), so ``fresh_stats`` is unused."""
        if fresh_stats is not None:
            raise ValueError("the ClickHouse store reads stored stats only; refresh them first")
        base, tie = TABLE_SQL[name]
        params = {k: v for k, v in params.items() if "{" + k + ":" in base}
        direction = "DESC" if order == "desc" else "ASC"
        settings = {"join_use_nulls": 1}
        with self._lock:
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


def _versions(batch: pa.Table, t: KindTable) -> np.ndarray:
    """``ver`` of each row: terminal field present ranks above absent, then arrival order."""
    seq = batch.column("seq").to_numpy().astype(np.uint64)
    if t.terminal is None:
        return seq
    term = pc.is_valid(batch.column(t.terminal)).to_numpy(zero_copy_only=False).astype(np.uint64)
    return term * np.uint64(TERMINAL_BIT) + seq


def _latest_per_key(batch: pa.Table, ver: np.ndarray) -> pa.Table:
    """The highest-``ver`` row of each (company_id, id) in a batch, with a ``ver`` column."""
    b = batch.append_column("ver", pa.array(ver, pa.uint64()))
    b = b.take(pc.sort_indices(b, [("company_id", "ascending"), ("id", "ascending"), ("ver", "descending")]))
    n = b.num_rows
    if n <= 1:
        return b
    cid, rid = b.column("company_id"), b.column("id")
    same = pc.and_(pc.equal(cid.slice(1), cid.slice(0, n - 1)), pc.equal(rid.slice(1), rid.slice(0, n - 1)))
    first = np.r_[True, ~same.to_numpy(zero_copy_only=False)]
    return b.filter(pa.array(first))


def _search(*cols: str) -> str:
    # Literal (``%`` and ``_`` are text); the search comes lower-cased with ё folded to е.
    like = " OR ".join(
        f"positionUTF8(replaceAll(lowerUTF8(coalesce({c}, '')), 'ё', 'е'), {{search:String}}) > 0" for c in cols
    )
    return f"({{search:String}} = '' OR {like})"


# The four dashboard tables in ClickHouse SQL, each with its tie-break: the first column, and for
# devices (whose first column is not unique) the second as well, so pages never overlap.
# Parameters: {company}, {t0}/{t1} (the range's instants), {now}, {search}.
TABLE_SQL: dict[str, tuple[str, str]] = {
    "events": (
        f"""
        SELECT j.id AS id, j.title AS title, j.template AS template, j.organizer_id AS organizer_id,
               u.name AS organizer_name, j.created_at AS created_at, j.scheduled_start AS scheduled_start,
               j.first_join AS first_join, j.last_leave AS last_leave,
               intDiv(j.last_leave - j.first_join, 1000000) AS duration_s,
               coalesce(j.participants, 0) AS participants, coalesce(j.connections, 0) AS connections,
               coalesce(j.peak, 0) AS peak, j.peak_at AS peak_at
        FROM (
            SELECT coalesce(ev.id, ps.parent_id) AS id, ev.title AS title,
                   coalesce(ev.template, ps.template) AS template, ev.organizer_id AS organizer_id,
                   ev.created_at AS created_at, ev.scheduled_start AS scheduled_start,
                   ps.first_join AS first_join, ps.last_leave AS last_leave, ps.participants AS participants,
                   ps.connections AS connections, ps.peak AS peak, ps.peak_at AS peak_at
            FROM (SELECT id, title, template, organizer_id, created_at, scheduled_start
                  FROM events FINAL WHERE company_id = {{company:String}}) AS ev
            FULL OUTER JOIN
                 (SELECT parent_id, template, first_join, last_leave, participants, connections, peak, peak_at
                  FROM parent_stats FINAL WHERE company_id = {{company:String}} AND parent_kind = 0) AS ps
            ON ev.id = ps.parent_id) AS j
        LEFT JOIN (SELECT id, name FROM users FINAL WHERE company_id = {{company:String}}) AS u
            ON u.id = j.organizer_id
        WHERE ((j.created_at >= {{t0:Int64}} AND j.created_at < {{t1:Int64}})
               OR (j.first_join >= {{t0:Int64}} AND j.first_join < {{t1:Int64}}))
          AND {_search("j.title", "j.id", "j.organizer_id", "u.name")}""",
        "id",
    ),
    "planned": (
        f"""
        SELECT e.organizer_id AS organizer_id, any(u.name) AS organizer_name, count() AS planned,
               argMin(e.id, (e.scheduled_start, e.id)) AS next_id,
               argMin(e.title, (e.scheduled_start, e.id)) AS next_title,
               min(e.scheduled_start) AS next_start
        FROM (SELECT id, title, organizer_id, scheduled_start FROM events FINAL
              WHERE company_id = {{company:String}} AND scheduled_start > {{now:Int64}} AND cancelled_at IS NULL) AS e
        LEFT JOIN (SELECT id, name FROM users FINAL WHERE company_id = {{company:String}}) AS u
            ON u.id = e.organizer_id
        WHERE {_search("e.organizer_id", "u.name")}
        GROUP BY e.organizer_id""",
        "organizer_id",
    ),
    "disk": (
        f"""
        SELECT f.owner_id AS owner_id, any(u.name) AS owner_name, toInt64(sum(f.size_bytes)) AS bytes,
               count() AS files
        FROM (SELECT owner_id, size_bytes FROM files FINAL WHERE company_id = {{company:String}}
              AND uploaded_at <= {{now:Int64}} AND (deleted_at IS NULL OR deleted_at > {{now:Int64}})) AS f
        LEFT JOIN (SELECT id, name FROM users FINAL WHERE company_id = {{company:String}}) AS u
            ON u.id = f.owner_id
        WHERE {_search("f.owner_id", "u.name")}
        GROUP BY f.owner_id""",
        "owner_id",
    ),
    "devices": (
        f"""
        SELECT coalesce(l.client, 'unknown') AS client, coalesce(l.device, '') AS device,
               uniqExact(l.user_id) AS users, count() AS logins
        FROM (SELECT client, device, user_id FROM logins FINAL WHERE company_id = {{company:String}}
              AND at >= {{t0:Int64}} AND at < {{t1:Int64}}) AS l
        WHERE {_search("l.client", "l.device")}
        GROUP BY coalesce(l.client, 'unknown'), coalesce(l.device, '')""",
        "client, device",
    ),
}
