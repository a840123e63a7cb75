"""The embedded analytic store: DuckDB, one file in the data directory.

Raw records live in one table per kind with no primary key: a DuckDB ART upsert runs at a
fraction of the speed of an append. Instead every row carries ``k = hash(company_id, id)`` and a
batch finds the versions it replaces with one hash join on that integer, confirmed on the full
key (so a hash collision can never merge two records); losers are deleted by rowid. The hash
function is DuckDB's; a canary value records it, and a changed hash rehashes every table.

Alongside the raw tables sit the rollups the dashboard reads: per company-day metric rows
(``rollups``, with ``rollup_days`` saying when each day was computed) and per event/call stats
(``parent_stats``). DuckDB allows one writer: every write goes through one connection under a
lock, while reads run beside it, each thread on a cursor of its own (DuckDB's MVCC gives each
read a committed snapshot). A thread inside a write reads on the writer's connection, so it sees
its own uncommitted rows.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .base import AnalyticStore, TableQuery
from .errors import StoreUnavailableError
from .keyindex import KeyIndex
from .schema import (
    PARENT_CALL,
    PARENT_EVENT,
    PARENT_STATS_SCHEMA,
    TABLES,
    TIME_COLUMN,
    UNAPPLIED,
    KindTable,
    outranked,
    parent_text,
    rank_sql,
)

PARENT_STATS_COLUMNS = ("company_id", *PARENT_STATS_SCHEMA.names)
ROLLUPS_DDL = """
CREATE TABLE IF NOT EXISTS rollups (company_id VARCHAR, day INTEGER, metric VARCHAR, value BIGINT, "at" BIGINT);
CREATE TABLE IF NOT EXISTS rollup_days (company_id VARCHAR, day INTEGER, computed_at BIGINT);
CREATE TABLE IF NOT EXISTS parent_stats (
    company_id VARCHAR, parent_kind TINYINT, parent_id VARCHAR, template TINYINT,
    first_join BIGINT, last_leave BIGINT, is_open BOOLEAN, connections BIGINT,
    participants BIGINT, peak BIGINT, peak_at BIGINT, open_until BIGINT, pk UBIGINT);
ALTER TABLE parent_stats ADD COLUMN IF NOT EXISTS pk UBIGINT;
UPDATE parent_stats SET pk = {parent_hash} WHERE pk IS NULL;
CREATE TABLE IF NOT EXISTS spans (company_id VARCHAR PRIMARY KEY, max_span BIGINT);
CREATE TABLE IF NOT EXISTS store_meta (key VARCHAR PRIMARY KEY, value VARCHAR);
-- Companies whose stored records are not all counted yet (see mark_unapplied). No key: the
-- writer keeps it free of repeats, and an index would cost more than the few rows it holds.
CREATE TABLE IF NOT EXISTS unapplied (company_id VARCHAR);
INSERT INTO unapplied SELECT substr(key, length('{unapplied}') + 1) FROM store_meta
    WHERE starts_with(key, '{unapplied}');
DELETE FROM store_meta WHERE starts_with(key, '{unapplied}');
"""
_DUCK_TYPES = {"string": "VARCHAR", "int64": "BIGINT", "int8": "TINYINT"}
CANARY = "SELECT hash('vkurse', 'canary')::VARCHAR"
# The parent hash ``pk`` of an event/call: (company, kind, id) -> UBIGINT. It identifies the
# parent in day windows; put_parent_stats proves it distinct per company (tests weaken it).
PARENT_HASH = "hash({company}, {kind}, {id})"


def parent_hash(company: str = "company_id", kind: str = "parent_kind", pid: str = "parent_id") -> str:
    return PARENT_HASH.format(company=company, kind=kind, id=pid)


EXACT_PARENTS = "exact_parents:"
SMALL_BATCH_RATIO = 50  # a batch this many times smaller than its table uses the key index
STATS_INDEX = "parent_stats"  # the key index of parent_stats (pk, first_join)


def _ddl(t: KindTable) -> str:
    cols = ", ".join(f'"{name}" {_DUCK_TYPES[str(typ)]}' for name, typ in t.columns)
    extra = "pk UBIGINT, " if t.kind == "connection" else ""
    return f"CREATE TABLE IF NOT EXISTS {t.table} (k UBIGINT, {extra}{cols})"


def _hash_columns(t: KindTable) -> str:
    pk = f", {parent_hash()} AS pk" if t.kind == "connection" else ""
    return f"hash(company_id, id) AS k{pk}"


def _unique_keys(batch: pa.Table, keys: np.ndarray) -> bool:
    """Whether no (company_id, id) occurs twice in the batch (``keys``: their hashes, which
    answer at once when they are distinct)."""
    ordered = np.sort(keys)
    if not (ordered[1:] == ordered[:-1]).any():
        return True
    ids = batch.column("id")
    if pc.count_distinct(batch.column("company_id")).as_py() > 1:
        ids = pc.binary_join_element_wise(batch.column("company_id"), ids, "\x1f")
    return bool(pc.count_distinct(ids).as_py() == batch.num_rows)


def _stored_of(old: pa.Table, tp: pa.Table, company_id: str) -> tuple[pa.Table, bool]:
    """The rows of ``old`` (stats rows whose ``pk`` is one of ``tp``'s) that are the stats of
    ``tp``'s parents in the company, and whether two parents of the company share a hash (two in
    ``tp``, or one in ``tp`` and one stored)."""
    old = old.filter(pc.equal(old.column("company_id"), company_id))
    pks = tp.column("pk").to_numpy()
    order = np.argsort(pks, kind="stable")
    ordered = pks[order]
    if (ordered[1:] == ordered[:-1]).any():
        keys = ["pk", "parent_kind", "parent_id"]
        return old.join(tp.select(keys), keys, join_type="left semi"), True
    if old.num_rows == 0:
        return old, False
    # Each stored row's pk is in tp: its parent there is the one row with that pk.
    twin = tp.take(order[np.searchsorted(ordered, old.column("pk").to_numpy())])
    same = pc.and_(
        pc.equal(old.column("parent_kind"), twin.column("parent_kind")),
        pc.equal(old.column("parent_id"), twin.column("parent_id")),
    )
    return old.filter(same), not pc.all(same).as_py()


def _among(rows: pa.Table, batch: pa.Table) -> pa.Table:
    """The ``rows`` whose (company_id, id) is one of the batch's."""
    if rows.num_rows == 0:
        return rows
    companies = pc.unique(batch.column("company_id"))
    if len(companies) == 1:  # the usual batch: one company, a set lookup of the ids
        mine = pc.and_(
            pc.equal(rows.column("company_id"), companies[0]),
            pc.is_in(rows.column("id"), value_set=batch.column("id")),
        )
        return rows.filter(mine)
    keys = ["company_id", "id"]
    return rows.join(batch.select(keys), keys, join_type="left semi")


class StoreBusyError(RuntimeError):
    """Another process holds the data directory's analytic store."""


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class _WriteLock:
    """A re-entrant lock that knows whether the calling thread holds it (then that thread is
    inside a write and reads on the writer's connection)."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._owner: int | None = None
        self._depth = 0

    def acquire(self, timeout: float = -1) -> bool:
        if not self._lock.acquire(timeout=timeout):
            return False
        self._owner = threading.get_ident()
        self._depth += 1
        return True

    def release(self) -> None:
        self._depth -= 1
        if not self._depth:
            self._owner = None
        self._lock.release()

    def __enter__(self) -> None:
        self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()

    def held(self) -> bool:
        return self._owner == threading.get_ident()


class DuckDBStore(AnalyticStore):
    """Raw records, rollups and parent stats in one DuckDB file."""

    # Rows per row group. A bulk import writes whole ones, each batch from one Arrow chunk (DuckDB
    # appends separate chunks on separate threads, each ending in a partial group): the partial
    # groups of every batch are merged by a later checkpoint, which then rewrites every group
    # after them (at 10M rows, 7-12 s of the first commit after an import).
    APPEND_UNIT = 122_880

    backend = "duckdb"
    # Reads run beside writes on cursors of their own, so a read recomputes what depends on the
    # clock for itself rather than storing it (a write would wait for the writer).
    concurrent_reads = True

    def __init__(self, path: str | Path, *, read_only: bool = False, memory_limit: str = "2GB") -> None:
        self.path = str(path)
        self.read_only = read_only
        # DuckDB caches up to 80 % of RAM by default; a bounded cache keeps an import's memory
        # bounded too (it spills to disk past it).
        self.memory_limit = memory_limit
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self.con = self._connect()
        self._lock = _WriteLock()
        self._seq_lock = threading.Lock()
        self._depth = 0  # nesting of transaction(): only the outermost one commits
        self._local = threading.local()  # each reading thread's cursor (see _reader)
        self._cursors: dict[int, duckdb.DuckDBPyConnection] = {}  # per thread, closed with the store
        self._cursors_lock = threading.Lock()
        self._generation = 0  # bumped when the store is reopened: older cursors are dead
        self.failure: str | None = None  # why the store is unusable, until it is reopened
        if not read_only:
            self._migrate()
        self._load_state()

    def _connect(self) -> duckdb.DuckDBPyConnection:
        try:
            config: dict[str, Any] = {"memory_limit": self.memory_limit}
            return duckdb.connect(self.path, read_only=self.read_only, config=config)
        except duckdb.IOException as exc:
            if "lock" in str(exc).lower():
                raise StoreBusyError(
                    f"the analytic store {self.path} is in use by another vkurse-stats process "
                    "(a running server?); stop it, or send records to its POST /api/v1/ingest"
                ) from None
            raise

    def _load_state(self) -> None:
        """The in-memory state kept beside the file, read from it (at open and after a reopen)."""
        # The arrival counter continues after the newest stored version (one process writes).
        seqs = " UNION ALL ".join(f"SELECT max(seq) AS s FROM {t.table}" for t in TABLES.values())
        self._seq = int(self.rows(f"SELECT coalesce(max(s) + 1, 0) FROM ({seqs})")[0][0])
        self._spans: dict[str, int] = dict(self.rows("SELECT company_id, max_span FROM spans"))
        self._keys: dict[str, KeyIndex] = {}  # per kind (and STATS_INDEX): see _key_index
        self._staged: tuple[str, pa.Table, pa.Table, pa.Table, bool] | None = None  # see _stage_parents
        self._probed: set[str] = set()  # indexes a small lookup has done without
        self._rows: dict[str, int] = {}  # rows per index (counted once, then added to)
        self._marked: set[str] = set(self.unapplied())  # see mark_unapplied
        # Companies where two events/calls share a parent hash: their windows group by the ids.
        self._exact: set[str] = {
            r[0][len(EXACT_PARENTS) :]
            for r in self.rows("SELECT key FROM store_meta WHERE starts_with(key, ?)", [EXACT_PARENTS])
        }

    # --- plumbing ----------------------------------------------------------------------------
    @contextmanager
    def locked(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """The writer's lock, with a connection of the holder's own: a stream of results (a
        migration's) that no statement of the writer's connection can interrupt."""
        with self._lock:
            cursor = self.con.cursor()
            try:
                yield cursor
            finally:
                cursor.close()

    def _reader(self) -> duckdb.DuckDBPyConnection:
        """The connection this thread reads on: the writer's inside a write, else a cursor of the
        thread's own, made once per thread (a cursor is a connection: reads on different ones run
        at once, each on a committed snapshot)."""
        if self._lock.held():
            return self.con
        local = self._local
        if getattr(local, "generation", None) != self._generation:
            with self._cursors_lock:
                # A server's pool ends idle threads: close the cursors of threads gone.
                alive = {t.ident for t in threading.enumerate()}
                for ident in [i for i in self._cursors if i not in alive]:
                    with suppress(duckdb.Error):
                        self._cursors.pop(ident).close()
                local.cursor = self.con.cursor()
                local.generation = self._generation
                self._cursors[threading.get_ident()] = local.cursor
        cursor: duckdb.DuckDBPyConnection = local.cursor
        return cursor

    def sql(self, query: str, params: Sequence[Any] | dict[str, Any] | None = None) -> pa.Table:
        with self._failing():
            if self._lock.held():
                return self.con.sql(query, params=params).to_arrow_table()
            return self._reader().sql(query, params=params).to_arrow_table()

    def rows(self, query: str, params: Sequence[Any] | dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        with self._failing():
            if self._lock.held():
                return self.con.execute(query, params).fetchall()
            return self._reader().execute(query, params).fetchall()

    @contextmanager
    def _failing(self) -> Iterator[None]:
        """Turn the errors of an unusable store (disk full, I/O error, a database DuckDB has
        invalidated after one) into :class:`StoreUnavailableError`, and note it for a reopen."""
        if self.failure is not None and not self._depth:
            self.recover()
        try:
            yield
        except (
            duckdb.IOException,
            duckdb.FatalException,
            duckdb.OutOfMemoryException,
            duckdb.ConnectionException,
        ) as exc:
            raise self._unavailable(exc) from exc
        except duckdb.Error as exc:
            if "invalidated" in str(exc) or "No space left" in str(exc) or "could not write" in str(exc).lower():
                raise self._unavailable(exc) from exc
            raise

    def _unavailable(self, exc: Exception) -> StoreUnavailableError:
        # After a failed write DuckDB only says the database was invalidated: keep the cause.
        if self.failure is None or "invalidated" not in str(exc):
            self.failure = _first_line(exc)
        full = "No space left" in self.failure or "disk is full" in self.failure
        reason = "the disk is full" if full else "a write failed"
        return StoreUnavailableError(f"the analytic store cannot be written ({reason}: {self.failure})")

    def recover(self) -> bool:
        """Reopen the store after a failure (DuckDB refuses every statement of a database it
        invalidated); reads work again at once, and a write tells whether the disk takes it.
        Returns whether the store could be reopened."""
        if self.failure is None:
            return True
        with self._lock:
            if self.failure is None:
                return True
            self._close_cursors()
            with suppress(duckdb.Error):
                self.con.close()
            try:
                self.con = self._connect()
            except duckdb.Error as exc:
                self.failure = _first_line(exc)
                return False
            self.failure = None
            self._depth = 0
            try:
                self._load_state()
            except (duckdb.Error, StoreUnavailableError) as exc:
                self.failure = _first_line(exc)
                return False
            return True

    def probe(self) -> str | None:
        """Why the store cannot be read and written now, or None (a readiness check: a read on
        this thread's cursor, a write when no other write holds the store)."""
        try:
            self.rows("SELECT count(*) FROM store_meta")
            if self.read_only:
                return None
            if self._lock.acquire(timeout=2):  # else a write holds the store, so writes work
                try:
                    with self._failing():
                        self.con.execute("INSERT OR REPLACE INTO store_meta VALUES ('ready', now()::VARCHAR)")
                finally:
                    self._lock.release()
        except (StoreUnavailableError, duckdb.Error) as exc:
            return _first_line(exc)
        return None

    def close(self) -> None:
        with self._lock:
            self._close_cursors()
            self.con.close()

    def _close_cursors(self) -> None:
        """Close every reading thread's cursor; each makes a new one at its next read."""
        with self._cursors_lock:
            for cursor in self._cursors.values():
                with suppress(duckdb.Error):
                    cursor.close()
            self._cursors.clear()
            self._generation += 1

    def _migrate(self) -> None:
        with self._lock:
            for t in TABLES.values():
                self.con.execute(_ddl(t))
            self.con.execute(ROLLUPS_DDL.format(parent_hash=parent_hash(), unapplied=UNAPPLIED))
            canary = self.con.execute(CANARY).fetchone()[0]  # type: ignore[index]
            stored = self.con.execute("SELECT value FROM store_meta WHERE key = 'hash'").fetchone()
            if stored is None:
                self.con.execute("INSERT INTO store_meta VALUES ('hash', ?)", [canary])
            elif stored[0] != canary:
                # DuckDB changed its hash function: recompute every key so joins still find them.
                for t in TABLES.values():
                    self.con.execute(f"UPDATE {t.table} SET k = hash(company_id, id)")
                for table in ("connections", "parent_stats"):
                    self.con.execute(f"UPDATE {table} SET pk = {parent_hash()}")
                self.con.execute("UPDATE store_meta SET value = ? WHERE key = 'hash'", [canary])

    def meta_get(self, key: str) -> str | None:
        row = self.rows("SELECT value FROM store_meta WHERE key = ?", [key])
        return row[0][0] if row else None

    def meta_set(self, key: str, value: str) -> None:
        with self._lock:
            self.con.execute("INSERT OR REPLACE INTO store_meta VALUES (?, ?)", [key, value])

    def mark_unapplied(self, companies: Iterable[str]) -> None:
        """Note, in the write's own transaction, that these companies have records whose rollups
        are not applied yet (a process killed before it applies them leaves the note behind)."""
        new = sorted(set(companies) - self._marked)
        if new:
            with self._lock:
                self.con.execute("INSERT INTO unapplied SELECT unnest(?::VARCHAR[])", [new])
                self._marked.update(new)

    def clear_unapplied(self, companies: Iterable[str]) -> None:
        done = sorted(set(companies) & self._marked)
        if done:
            with self._lock:
                self.con.execute("DELETE FROM unapplied WHERE company_id IN (SELECT unnest(?::VARCHAR[]))", [done])
                self._marked.difference_update(done)

    def unapplied(self) -> list[str]:
        """The companies noted by :meth:`mark_unapplied` and not cleared since."""
        return [r[0] for r in self.rows("SELECT DISTINCT company_id FROM unapplied ORDER BY 1")]

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One commit for everything inside (a commit costs milliseconds; batches are many).
        A write the disk cannot take rolls back whole and raises StoreUnavailableError."""
        with self._lock:
            outer = self._depth == 0
            if outer:
                with self._failing():
                    self.con.execute("BEGIN")
            self._depth += 1
            try:
                with self._failing():
                    yield
            except BaseException:
                self._depth -= 1
                if outer:
                    self._rolled_back()
                raise
            self._depth -= 1
            if outer:
                try:
                    with self._failing():
                        self.con.execute("COMMIT")
                except BaseException:
                    self._rolled_back()
                    raise

    def _rolled_back(self) -> None:
        """Undo a failed transaction and the in-memory state its writes changed."""
        self._staged = None
        # Rows deleted before an index was built come back: build them again.
        self._keys.clear()
        self._rows.clear()
        try:
            self.con.execute("ROLLBACK")
            self._marked = set(self.unapplied())
            self._spans = dict(self.con.execute("SELECT company_id, max_span FROM spans").fetchall())
        except duckdb.Error as exc:  # an invalidated database: reopened at the next use
            if self.failure is None:
                self.failure = _first_line(exc)

    def next_seq(self, n: int) -> int:
        """Reserve ``n`` arrival sequence numbers; returns the first (without waiting for a
        write in progress: requests number their records while the writer stores others)."""
        with self._seq_lock:
            first = self._seq
            self._seq += n
            return first

    # --- raw records -------------------------------------------------------------------------
    def upsert(self, kind: str, batch: pa.Table) -> tuple[pa.Table, pa.Table]:
        """Store a batch of one kind with replace semantics.

        Within the batch and against stored versions, a version replaces another unless it lacks
        the terminal field the other has (then the other stays). Returns (the stored versions
        that were replaced, the versions inserted)."""
        t = TABLES[kind]
        hashes = ["k", "pk"] if kind == "connection" else ["k"]  # the store's own columns
        when = TIME_COLUMN[kind]
        keys_of = ["company_id", "id"]
        if batch.num_rows >= self.APPEND_UNIT and batch.column(0).num_chunks > 1:
            batch = batch.combine_chunks()  # read in order by one thread: whole row groups
        with self._lock:
            con = self.con
            con.register("_batch", batch)
            try:
                # Stored versions of the batch's records: the keys the index may hold, read within
                # their instants (zone maps skip the rest), confirmed on the full key in Arrow.
                # The common bulk case (no duplicate in the batch, nothing stored) then appends
                # straight from Arrow.
                hashed = con.execute(f"SELECT {_hash_columns(t)} FROM _batch").fetchnumpy()
                keys = hashed["k"]
                cand = _among(self._stored_versions(kind, keys), batch)
                unique = _unique_keys(batch, keys)
                if unique and not cand.num_rows:
                    con.execute(f"INSERT INTO {t.table} SELECT {_hash_columns(t)}, * FROM _batch")
                    self._index_written(kind, keys, batch.column(when).to_numpy())
                    return pa.Table.from_batches([], schema=t.arrow_schema), batch
                # The batch in the table's layout, one version per record (the one that wins).
                if unique:
                    own = [pa.array(hashed[h], pa.uint64()) for h in hashes]
                    new = pa.Table.from_arrays([*own, *batch.columns], [*hashes, *batch.column_names])
                else:
                    new = self.sql(
                        f"""SELECT {_hash_columns(t)}, * FROM _batch
                        QUALIFY row_number() OVER (PARTITION BY company_id, id ORDER BY {rank_sql(t)}) = 1"""
                    )
            finally:
                con.unregister("_batch")
            # A stored version that outranks the new one stays (the replace rule, schema.py).
            stays = outranked(cand, new, t)
            if stays.num_rows:
                cand = cand.join(stays, keys_of, join_type="left anti")
                new = new.join(stays, keys_of, join_type="left anti")
            if cand.num_rows:
                con.register("_rids", cand.select(["rid"]))
                try:
                    con.execute(f"DELETE FROM {t.table} WHERE rowid IN (SELECT rid FROM _rids)")
                finally:
                    con.unregister("_rids")
            con.register("_new", new)
            try:
                con.execute(f"INSERT INTO {t.table} SELECT * FROM _new")
            finally:
                con.unregister("_new")
            self._index_written(kind, new.column("k").to_numpy(), new.column(when).to_numpy())
            old = cand.drop_columns(["rid", *hashes]).cast(t.arrow_schema)
            return old, new.drop_columns(hashes).cast(t.arrow_schema)

    def _stored_versions(self, kind: str, keys: np.ndarray) -> pa.Table:
        """The stored rows (with their ``rid``) whose key is among ``keys`` (the batch's hashes).

        A probe of the key column reads every row: fine for a batch that is large beside the
        table (a bulk import). Small batches into a large table go through the key index, built
        at the second such write of a process (a one-off import of one small file keeps the probe)."""
        t = TABLES[kind]
        when = TIME_COLUMN[kind]
        index = self._key_index(kind, len(keys), t.table, "k", when)
        within = ""
        if index is not None:
            hit, lo, hi = index.lookup(keys)
            keys, within = keys[hit], f'"{when}" BETWEEN {lo} AND {hi} AND'
        self.con.register("_hits", pa.table({"k": keys}))
        try:
            # Two steps, as in _stage_parents: a semi-join would read every column of every row
            # it probes (at 10M rows, 0.38 s a bulk batch against 0.14 s for the key column).
            return self.sql(
                f"""SELECT rowid AS rid, * FROM {t.table} WHERE rowid IN
                (SELECT rowid FROM {t.table} WHERE {within} k IN (SELECT k FROM _hits))"""
            )
        finally:
            self.con.unregister("_hits")

    def _key_index(self, name: str, nkeys: int, table: str, key: str, when: str) -> KeyIndex | None:
        """The key index of ``table`` (its ``key`` and ``when`` columns) for a lookup of ``nkeys``
        keys, or None: then probe the key column. An index is built at the second lookup of a
        process that is small beside the table and used from then on."""
        index = self._keys.get(name)
        if name not in self._rows:
            self._rows[name] = int(self.rows(f"SELECT count(*) FROM {table}")[0][0])
        small = nkeys * SMALL_BATCH_RATIO < self._rows[name]
        self._rows[name] += nkeys
        if index is None and small:
            if name not in self._probed:
                self._probed.add(name)
                return None
            index = self._keys[name] = self._read_index(table, key, when)
        return index

    def prepare_indexes(self, min_rows: int = 100_000) -> None:
        """Build the key indexes of the connections and event stats now, when those tables hold
        ``min_rows`` or more (a server at start: its first small writes then find their rows
        without reading the key columns whole)."""
        t = TABLES["connection"]
        with self._lock:
            for name, table, key, when in (
                ("connection", t.table, "k", TIME_COLUMN["connection"]),
                (STATS_INDEX, "parent_stats", "pk", "first_join"),
            ):
                if name not in self._keys and int(self.rows(f"SELECT count(*) FROM {table}")[0][0]) >= min_rows:
                    self._keys[name] = self._read_index(table, key, when)

    def _read_index(self, table: str, key: str, when: str) -> KeyIndex:
        stored = self.sql(f'SELECT {key} AS k, "{when}" AS t FROM {table}')
        return KeyIndex(stored.column("k").to_numpy(), stored.column("t").to_numpy())

    def _index_written(self, kind: str, keys: np.ndarray, instants: np.ndarray) -> None:
        index = self._keys.get(kind)
        if index is not None:
            index.add(keys, instants)

    def update_span(self, new: pa.Table, cap_us: int) -> None:
        """Remember the longest connection per company (the lookback of day queries)."""
        joined = new.column("joined_at")
        span = pc.subtract(pc.coalesce(new.column("left_at"), pc.add(joined, cap_us)), joined)
        longest = pa.table({"c": new.column("company_id"), "s": span}).group_by("c").aggregate([("s", "max")])
        grown = {
            company_id: value
            for company_id, value in zip(
                longest.column("c").to_pylist(), longest.column("s_max").to_pylist(), strict=True
            )
            if value is not None and value > self._spans.get(company_id, -1)
        }
        if grown:
            with self._lock:
                self.con.execute(
                    "INSERT OR REPLACE INTO spans SELECT unnest(?::VARCHAR[]), unnest(?::BIGINT[])",
                    [list(grown), list(grown.values())],
                )
                self._spans.update(grown)

    def max_span(self, company_id: str) -> int:
        return self._spans.get(company_id, 0)

    def reset_spans(self, cap_us: int) -> None:
        with self._lock:
            self._spans.clear()
            self.con.execute("DELETE FROM spans")
            self.con.execute(f"""INSERT INTO spans SELECT company_id,
                max(coalesce(left_at, joined_at + {int(cap_us)}) - joined_at) FROM connections GROUP BY company_id""")
            self._spans = dict(self.rows("SELECT company_id, max_span FROM spans"))

    @staticmethod
    def _conn_cols(a: str, parent: str) -> str:
        """The engine's columns of connections (``a``: the table's alias; ``parent``: what
        identifies a row's event/call). A guest's ``person`` is null: each guest connection is
        one person of its own."""
        return f"""{parent} AS parent, {a}.template, {a}.transport, {a}.joined_at,
            coalesce({a}.left_at, -1) AS left_at, {a}.user_id AS person, coalesce({a}.client, 'unknown') AS client"""

    def _window_parent(self, company_id: str) -> str:
        """What identifies a connection's event/call in day windows: the parent hash, which
        :meth:`put_parent_stats` proves distinct per company (else the ids themselves)."""
        return "parent_kind::VARCHAR || ':' || parent_id" if company_id in self._exact else "pk"

    def connections_window(self, company_id: str, t0: int, t1: int, cap_us: int) -> pa.Table:
        """Connections active (or joining) in ``[t0, t1)``, their ``parent`` as
        :meth:`_window_parent` says."""
        query, params = self._window_query(company_id, t0, t1, cap_us)
        return self.sql(query, params)

    def _window_query(self, company_id: str, t0: int, t1: int, cap_us: int) -> tuple[str, list[Any]]:
        lo = t0 - self.max_span(company_id)
        parent = self._window_parent(company_id)
        return (
            f"""SELECT {self._conn_cols("connections", parent)} FROM connections
            WHERE company_id = ? AND joined_at >= ? AND joined_at < ?
              AND (coalesce(left_at, joined_at + ?) > ? OR joined_at >= ?)""",
            [company_id, lo, t1, cap_us, t0, t0],
        )

    def connections_over(self, company_id: str, t0: int, t1: int, cap_us: int) -> pa.Table:
        """Connections active at some instant of ``[t0, t1)`` or joining in it, with their
        event/call ids (what was active at an instant, a day's curve)."""
        lo = t0 - self.max_span(company_id)
        return self.sql(
            """SELECT parent_kind, parent_id, template, transport, joined_at, coalesce(left_at, -1) AS left_at,
                user_id FROM connections
            WHERE company_id = ? AND joined_at >= ? AND joined_at < ?
              AND (coalesce(left_at, joined_at + ?) > ? OR joined_at >= ?)""",
            [company_id, lo, t1, cap_us, t0, t0],
        )

    def describe_parents(self, company_id: str, parents: pa.Table) -> pa.Table:
        """For (parent_kind, parent_id) rows: the title and organizer of events (a call: its
        type and initiator), with the organizer's name, as their records say (null: no record)."""
        with self._failing():
            con = self.con if self._lock.held() else self._reader()
            numbered = parents.select(["parent_kind", "parent_id"]).append_column(
                "pos", pa.array(np.arange(parents.num_rows, dtype=np.int64))
            )
            con.register("_dp", numbered)
            try:
                return con.sql(
                    f"""SELECT p.parent_kind, p.parent_id,
                        CASE WHEN p.parent_kind = {PARENT_EVENT} THEN e.title ELSE c.type END AS title,
                        CASE WHEN p.parent_kind = {PARENT_EVENT} THEN e.organizer_id ELSE c.initiator_id END
                            AS organizer_id, u.name AS organizer_name
                    FROM _dp p
                    LEFT JOIN events e
                        ON p.parent_kind = {PARENT_EVENT} AND e.company_id = $c AND e.id = p.parent_id
                    LEFT JOIN calls c
                        ON p.parent_kind = {PARENT_CALL} AND c.company_id = $c AND c.id = p.parent_id
                    LEFT JOIN users u ON u.company_id = $c AND u.id = CASE
                        WHEN p.parent_kind = {PARENT_EVENT} THEN e.organizer_id ELSE c.initiator_id END
                    ORDER BY p.pos""",
                    params={"c": company_id},
                ).to_arrow_table()
            finally:
                con.unregister("_dp")

    @contextmanager
    def window_reader(self) -> Iterator[Callable[[str, int, int, int], pa.Table] | None]:
        """:meth:`connections_window` on a connection of its own, which another thread may use
        while this one writes (a rebuild fetches its next window of days so); None inside a
        transaction, whose writes a second connection would not see."""
        with self._lock:
            cursor = None if self._depth else self.con.cursor()
        if cursor is None:
            yield None
            return

        def fetch(company_id: str, t0: int, t1: int, cap_us: int) -> pa.Table:
            query, params = self._window_query(company_id, t0, t1, cap_us)
            return cursor.sql(query, params=params).to_arrow_table()

        try:
            yield fetch
        finally:
            cursor.close()

    def connections_of_parents(
        self, company_id: str, parents: pa.Table, lo: int | None = None, hi: int | None = None
    ) -> pa.Table:
        """Every connection of the given (parent_kind, parent_id) pairs, its ``parent`` being the
        pair's row number in ``parents`` (all of them joined in ``[lo, hi]`` when the caller
        knows such bounds: then zone maps skip the rest). Probed on the parent hash, confirmed
        on the ids."""
        window = "" if lo is None or hi is None else f"AND joined_at BETWEEN {int(lo)} AND {int(hi)}"
        with self._lock:
            self._stage_parents(company_id, parents)
            return self.sql(
                f"""SELECT {self._conn_cols("c", "p.pos")}
                FROM (SELECT * FROM connections WHERE company_id = $company {window}
                      AND pk IN (SELECT pk FROM _tp)) c
                JOIN _tp p ON c.pk = p.pk AND c.parent_kind = p.parent_kind AND c.parent_id = p.parent_id""",
                {"company": company_id},
            )

    def instants(self, kind: str, company_id: str, column: str, t0: int, t1: int, value: str | None = None) -> pa.Table:
        """``column`` (and ``value``) of the records of a kind whose ``column`` is in [t0, t1)."""
        t = TABLES[kind]
        cols = f'"{column}" AS t' + (f", {value} AS v" if value else "")
        return self.sql(
            f'SELECT {cols} FROM {t.table} WHERE company_id = ? AND "{column}" >= ? AND "{column}" < ?',
            [company_id, t0, t1],
        )

    def companies_with_data(self) -> list[str]:
        union = " UNION ".join(f"SELECT DISTINCT company_id FROM {t.table}" for t in TABLES.values())
        return [r[0] for r in self.rows(f"SELECT company_id FROM ({union}) ORDER BY 1")]

    def time_bounds(self, company_id: str) -> tuple[int, int] | None:
        """The earliest and latest instant any record of the company mentions."""
        parts = []
        for t in TABLES.values():
            times = [c for c, typ in t.columns if str(typ) == "int64" and c not in ("seq", "size_bytes")]
            for c in times:
                parts.append(f'SELECT min("{c}") lo, max("{c}") hi FROM {t.table} WHERE company_id = $c')
        row = self.rows(f"SELECT min(lo), max(hi) FROM ({' UNION ALL '.join(parts)})", {"c": company_id})
        if not row or row[0][0] is None:
            return None
        return int(row[0][0]), int(row[0][1])

    # --- rollups -----------------------------------------------------------------------------
    def write_days(
        self, company_id: str, days: Sequence[int], rows: pa.Table, computed_at: int, *, replace: bool = True
    ) -> None:
        """Replace the rollups of ``days`` with ``rows`` (day, metric, value, at); with
        ``replace=False`` the caller knows none of those days is stored (a rebuild)."""
        day_table = pa.table({"day": pa.array(days, pa.int32())})
        with self.transaction():
            con = self.con
            con.register("_days", day_table)
            con.register("_rows", rows)
            try:
                for table in ("rollups", "rollup_days") if replace else ():
                    con.execute(
                        f"DELETE FROM {table} WHERE company_id = ? AND day IN (SELECT day FROM _days)", [company_id]
                    )
                con.execute('INSERT INTO rollups SELECT ?, day, metric, value, "at" FROM _rows', [company_id])
                con.execute("INSERT INTO rollup_days SELECT ?, day, ? FROM _days", [company_id, computed_at])
            finally:
                con.unregister("_days")
                con.unregister("_rows")

    def read_days(self, company_id: str, d0: int, d1: int) -> pa.Table:
        return self.sql(
            """SELECT day, metric, value, "at" FROM rollups
            WHERE company_id = ? AND day BETWEEN ? AND ?""",
            [company_id, d0, d1],
        )

    def read_range(
        self, company_id: str, d0: int, d1: int, stocks: Sequence[str]
    ) -> tuple[pa.Table, dict[str, int], dict[int, int]]:
        """:meth:`read_days`, :meth:`sums_before` and :meth:`computed_days` of a read, in one
        statement (a dashboard makes three reads; each statement costs a round of its own)."""
        tbl = self.sql(
            """SELECT 0 AS part, day, metric, value, "at" FROM rollups
                WHERE company_id = $c AND day BETWEEN $d0 AND $d1
            UNION ALL SELECT 1, NULL, metric, sum(value)::BIGINT, NULL FROM rollups
                WHERE company_id = $c AND day < $d0 AND list_contains($stocks::VARCHAR[], metric) GROUP BY metric
            UNION ALL SELECT 2, day, '', computed_at, NULL FROM rollup_days WHERE company_id = $c AND day <= $d1""",
            {"c": company_id, "d0": d0, "d1": d1, "stocks": list(stocks)},
        )
        part = tbl.column("part")
        rows = tbl.filter(pc.equal(part, 0)).select(["day", "metric", "value", "at"])
        rows = rows.cast(
            pa.schema([("day", pa.int32()), ("metric", pa.string()), ("value", pa.int64()), ("at", pa.int64())])
        )
        sums = tbl.filter(pc.equal(part, 1))
        marks = tbl.filter(pc.equal(part, 2))
        return (
            rows,
            dict(zip(sums.column("metric").to_pylist(), sums.column("value").to_pylist(), strict=True)),
            dict(zip(marks.column("day").to_pylist(), marks.column("value").to_pylist(), strict=True)),
        )

    def computed_days(self, company_id: str, d0: int, d1: int) -> dict[int, int]:
        return dict(
            self.rows(
                """SELECT day, computed_at FROM rollup_days
            WHERE company_id = ? AND day BETWEEN ? AND ?""",
                [company_id, d0, d1],
            )
        )

    def computed_companies(self, ids: Sequence[str]) -> set[str]:
        """The companies of ``ids`` with any computed day."""
        return {
            r[0]
            for r in self.rows(
                "SELECT DISTINCT company_id FROM rollup_days WHERE company_id IN (SELECT unnest(?::VARCHAR[]))",
                [list(ids)],
            )
        }

    def sums_before(self, company_id: str, metrics: Sequence[str], day: int) -> dict[str, int]:
        """Sum of each metric's daily rows before ``day`` (the level a stock starts a range at)."""
        if not metrics:
            return {}
        return {
            m: int(v)
            for m, v in self.rows(
                f"""SELECT metric, sum(value) FROM rollups
            WHERE company_id = ? AND day < ? AND metric IN ({", ".join("?" * len(metrics))})
            GROUP BY metric""",
                [company_id, day, *metrics],
            )
        }

    def clear_rollups(self, company_id: str | None = None) -> None:
        with self._lock:
            self._staged = None
            self._keys.pop(STATS_INDEX, None)  # an index may hold stale entries, not miss rows
            self._rows.pop(STATS_INDEX, None)
            for table in ("rollups", "rollup_days", "parent_stats"):
                if company_id is None:
                    self.con.execute(f"DELETE FROM {table}")
                else:
                    self.con.execute(f"DELETE FROM {table} WHERE company_id = ?", [company_id])

    # --- parent stats ------------------------------------------------------------------------
    def _stage_parents(self, company_id: str, parents: pa.Table) -> None:
        """``parents`` (parent_kind, parent_id) registered as ``_tp``, with their hash and
        row number, and their stored stats rows (found by one scan of ``pk``, confirmed on the
        company and ids in Arrow, see _stored_of). Staged once for the lookups, the fetch and the
        write of one chunk of parents."""
        if self._staged is not None and self._staged[0] == company_id and self._staged[1] is parents:
            return
        numbered = parents.select(["parent_kind", "parent_id"]).append_column(
            "pos", pa.array(np.arange(parents.num_rows, dtype=np.int64))
        )
        # Staged as registered Arrow tables: a temporary table costs a catalog write each time.
        self.con.register("_parents", numbered)
        try:
            pks = self.con.execute(
                f"SELECT {parent_hash('$company')} AS pk FROM _parents", {"company": company_id}
            ).fetchnumpy()["pk"]
        finally:
            self.con.unregister("_parents")
        tp = numbered.append_column("pk", pa.array(pks, pa.uint64()))
        self.con.register("_tp", tp)
        # The stats rows of these hashes lie within the first joins the key index gives them.
        index = self._key_index(STATS_INDEX, len(pks), "parent_stats", "pk", "first_join")
        within = ""
        if index is not None:
            hit, lo, hi = index.lookup(pks)
            within = f"first_join BETWEEN {lo} AND {hi} AND" if hit.any() else "false AND"
        # Two steps: a semi-join reads every projected column, so find rowids on pk alone.
        old = self.sql(
            f"""SELECT rowid AS rid, company_id, pk, parent_kind, parent_id, first_join, last_leave FROM parent_stats
            WHERE rowid IN (SELECT rowid FROM parent_stats WHERE {within} pk IN (SELECT pk FROM _tp))"""
        )
        stored, shared = _stored_of(old, tp, company_id)
        self._staged = (company_id, parents, tp, stored, shared)  # (tp stays referenced while registered)

    def put_parent_stats(self, company_id: str, parents: pa.Table, stats: pa.Table, *, replace: bool = True) -> None:
        """Replace the stats of ``parents`` (parent_kind, parent_id) with ``stats`` rows.

        Every event/call with connections has a row here, so this is also where two parents of a
        company sharing a hash would first meet: the company's day windows then group by ids.
        With ``replace=False`` the caller knows that no stats of these parents are stored and
        that their hashes differ from every other parent's of the company (a rebuild that
        checked its list of all parents): the rows are only added."""
        with self.transaction():
            if replace:
                self._replace_parent_stats(company_id, parents)
            con = self.con
            con.register("_stats", stats)
            try:
                # The key index, when there is one, is told of the rows written.
                indexed = STATS_INDEX in self._keys
                cur = con.execute(
                    f"""INSERT INTO parent_stats ({", ".join(PARENT_STATS_COLUMNS)}, pk)
                    SELECT $company, {", ".join(PARENT_STATS_COLUMNS[1:])}, {parent_hash("$company")}
                    FROM _stats {"RETURNING pk, first_join" if indexed else ""}""",
                    {"company": company_id},
                )
                if indexed:
                    written = cur.fetchnumpy()
                    self._index_written(STATS_INDEX, written["pk"], written["first_join"])
            finally:
                con.unregister("_stats")
            self._staged = None  # parent_stats changed: the staged rows are stale

    def _replace_parent_stats(self, company_id: str, parents: pa.Table) -> None:
        """Delete the stored stats of ``parents``, noting first whether two parents of the
        company share a hash."""
        con = self.con
        self._stage_parents(company_id, parents)
        assert self._staged is not None
        stored, shared = self._staged[3], self._staged[4]
        if shared and company_id not in self._exact:
            con.execute("INSERT OR REPLACE INTO store_meta VALUES (?, '1')", [EXACT_PARENTS + company_id])
            self._exact.add(company_id)
        if stored.num_rows:
            con.register("_rids", stored.select(["rid"]))
            try:
                con.execute("DELETE FROM parent_stats WHERE rowid IN (SELECT rid FROM _rids)")
            finally:
                con.unregister("_rids")
        self._staged = None  # parent_stats changes: the staged rows are stale from here

    def parent_first_joins(self, company_id: str, t0: int, t1: int) -> pa.Table:
        return self.sql(
            """SELECT template, first_join FROM parent_stats
            WHERE company_id = ? AND first_join >= ? AND first_join < ?""",
            [company_id, t0, t1],
        )

    def parent_first_joins_of(self, company_id: str, parents: pa.Table) -> pa.Table:
        with self._lock:
            self._stage_parents(company_id, parents)
            assert self._staged is not None
            return self._staged[3].select(["first_join", "last_leave"])

    def window_codes(self, company_id: str, parents: pa.Table) -> pa.Array | None:
        """What identifies each of ``parents`` in :meth:`connections_window` rows, or None when
        that may not be distinct: two of them, or one of them and a stored parent, share a hash."""
        if company_id in self._exact:
            return parent_text(parents)
        with self._lock:
            self._stage_parents(company_id, parents)
            assert self._staged is not None
            tp, shared = self._staged[2], self._staged[4]
        return None if shared else tp.column("pk").combine_chunks()

    def open_parents(self, company_id: str) -> pa.Table:
        """Parents whose stats still change with the clock (a connection of theirs is open),
        with their first join."""
        return self.sql(
            """SELECT parent_kind, parent_id, first_join FROM parent_stats
            WHERE company_id = ? AND open_until IS NOT NULL""",
            [company_id],
        )

    def read_connections_of(self, company_id: str, parents: pa.Table, lo: int) -> pa.Table:
        """Every connection joined at or after ``lo`` of the given (parent_kind, parent_id) pairs,
        its ``parent`` being the pair's row number: a read on this thread's cursor, beside the
        writer (see connections_of_parents, the writer's)."""
        numbered = parents.select(["parent_kind", "parent_id"]).append_column(
            "pos", pa.array(np.arange(parents.num_rows, dtype=np.int64))
        )
        with self._failing():
            con = self.con if self._lock.held() else self._reader()
            con.register("_rp", numbered)
            try:
                return con.sql(
                    f"""SELECT {self._conn_cols("c", "p.pos")} FROM connections c
                    JOIN _rp p ON c.parent_kind = p.parent_kind AND c.parent_id = p.parent_id
                    WHERE c.company_id = $company AND c.joined_at >= $lo""",
                    params={"company": company_id, "lo": int(lo)},
                ).to_arrow_table()
            finally:
                con.unregister("_rp")

    def all_parents(self, company_id: str, cap_us: int) -> pa.Table:
        """Every event/call with connections, in order of ``lo``: the first and last joined_at of
        its connections (``lo``, ``hi``: chunks of the list are bounded in time), the latest
        instant one may end (``end``), and its ``parent`` as :meth:`connections_window` gives it."""
        parent = self._window_parent(company_id)
        return self.sql(
            f"""SELECT parent_kind, parent_id, min(joined_at) AS lo, max(joined_at) AS hi,
                max(coalesce(left_at, joined_at + ?)) AS "end", any_value({parent}) AS parent
            FROM connections WHERE company_id = ? GROUP BY 1, 2 ORDER BY 3, 1, 2""",
            [cap_us, company_id],
        )

    # --- many companies at once (a live batch of the platform's stream) -----------------------
    # Each statement serves every company of the batch: the fixed cost of a statement (about a
    # millisecond) is paid once per batch, not once per company.
    batched_windows = True

    def stats_of_parents(self, parents: pa.Table) -> tuple[pa.Table, pa.Array, set[str]]:
        """For (company_id, parent_kind, parent_id) rows: the stored stats rows of those parents
        (rid, company_id, parent_kind, parent_id, first_join, last_leave), each parent's hash,
        and the companies where two parents (of the rows, or one of them and a stored one)
        share a hash."""
        with self._lock:
            con = self.con
            con.register("_mp", parents)
            try:
                pks = con.execute(f"SELECT {parent_hash()} AS pk FROM _mp").fetchnumpy()["pk"]
            finally:
                con.unregister("_mp")
            tagged = parents.append_column("pk", pa.array(pks, pa.uint64()))
            index = self._key_index(STATS_INDEX, len(pks), "parent_stats", "pk", "first_join")
            within = ""
            if index is not None:
                hit, lo, hi = index.lookup(pks)
                within = f"first_join BETWEEN {lo} AND {hi} AND" if hit.any() else "false AND"
            con.register("_mpk", tagged.select(["pk"]))
            try:
                stored = self.sql(
                    f"""SELECT rowid AS rid, company_id, pk, parent_kind, parent_id, first_join, last_leave
                    FROM parent_stats WHERE rowid IN
                    (SELECT rowid FROM parent_stats WHERE {within} pk IN (SELECT pk FROM _mpk))"""
                )
            finally:
                con.unregister("_mpk")
        keys = ["company_id", "pk"]
        pairs = stored.join(tagged.rename_columns(["company_id", "kind", "id", "pk"]), keys, join_type="inner")
        same = pc.and_(
            pc.equal(pairs.column("parent_kind"), pairs.column("kind")),
            pc.equal(pairs.column("parent_id"), pairs.column("id")),
        )
        shared = set(pc.unique(pairs.filter(pc.invert(same)).column("company_id")).to_pylist())
        distinct = tagged.group_by(["company_id", "pk"]).aggregate([("parent_id", "count")])
        shared |= set(
            pc.unique(
                distinct.filter(pc.greater(distinct.column("parent_id_count"), 1)).column("company_id")
            ).to_pylist()
        )
        old = pairs.filter(same).select(["rid", "company_id", "parent_kind", "parent_id", "first_join", "last_leave"])
        return old, tagged.column("pk").combine_chunks(), shared

    def connections_windows(self, windows: pa.Table, cap_us: int) -> pa.Table:
        """The connections of :meth:`connections_window` for many (company_id, t0, t1) windows
        at once, with their ``company_id``; ``parent`` is the parent hash (not for the companies
        whose windows group by ids, see _window_parent)."""
        los = [
            t0 - self.max_span(c)
            for c, t0 in zip(windows.column("company_id").to_pylist(), windows.column("t0").to_pylist(), strict=True)
        ]
        w = windows.append_column("lo", pa.array(los, pa.int64()))
        lo, hi = min(los), pc.max(w.column("t1")).as_py()
        with self._lock:
            self.con.register("_w", w)
            try:
                return self.sql(
                    f"""SELECT c.company_id, {self._conn_cols("c", "c.pk")} FROM connections c
                    JOIN _w w ON c.company_id = w.company_id
                    WHERE c.joined_at >= {int(lo)} AND c.joined_at < {int(hi)}
                      AND c.joined_at >= w.lo AND c.joined_at < w.t1
                      AND (coalesce(c.left_at, c.joined_at + {int(cap_us)}) > w.t0 OR c.joined_at >= w.t0)"""
                )
            finally:
                self.con.unregister("_w")

    def connections_of_parents_of(self, parents: pa.Table) -> pa.Table:
        """Every connection of :meth:`all_parents_of` rows (company_id, parent_kind, parent_id,
        lo, hi, and their hash as ``parent``) of many companies, its ``parent`` being the row
        number in ``parents``: one statement, bounded by their joins."""
        numbered = parents.select(["company_id", "parent_kind", "parent_id", "parent"]).append_column(
            "pos", pa.array(np.arange(parents.num_rows, dtype=np.int64))
        )
        lo, hi = pc.min(parents.column("lo")).as_py(), pc.max(parents.column("hi")).as_py()
        with self._lock:
            self.con.register("_cp", numbered)
            try:
                return self.sql(
                    f"""SELECT {self._conn_cols("c", "p.pos")} FROM connections c
                    JOIN _cp p ON c.company_id = p.company_id AND c.pk = p.parent
                      AND c.parent_kind = p.parent_kind AND c.parent_id = p.parent_id
                    WHERE c.joined_at BETWEEN {int(lo)} AND {int(hi)}"""
                )
            finally:
                self.con.unregister("_cp")

    def parent_first_joins_in(self, windows: pa.Table) -> pa.Table:
        """(company_id, template, first_join) of the parents first joined in each window."""
        return self._in_windows(windows, "parent_stats", "first_join", "template, first_join")

    def instants_in(self, windows: pa.Table, kind: str, column: str, value: str | None = None) -> pa.Table:
        """(company_id, t[, v]) of the records of a kind whose ``column`` lies in each window."""
        cols = f'"{column}" AS t' + (f", {value} AS v" if value else "")
        return self._in_windows(windows, TABLES[kind].table, column, cols)

    def instants_in_many(self, windows: pa.Table, sources: Sequence[tuple[str, str, str | None]]) -> list[pa.Table]:
        """:meth:`instants_in` of each (kind, column, value) of ``sources``, in one statement."""
        lo, hi = pc.min(windows.column("t0")).as_py(), pc.max(windows.column("t1")).as_py()
        parts = []
        for i, (kind, column, value) in enumerate(sources):
            parts.append(
                f"""SELECT {i} AS src, x.company_id, x."{column}" AS t, {f"x.{value}" if value else "NULL"}::BIGINT AS v
                FROM {TABLES[kind].table} x JOIN _w w ON x.company_id = w.company_id
                WHERE x."{column}" >= {int(lo)} AND x."{column}" < {int(hi)}
                  AND x."{column}" >= w.t0 AND x."{column}" < w.t1"""
            )
        with self._lock:
            self.con.register("_w", windows)
            try:
                rows = self.sql(" UNION ALL ".join(parts))
            finally:
                self.con.unregister("_w")
        src = rows.column("src")
        out = []
        for i, (_, _, value) in enumerate(sources):
            part = rows.filter(pc.equal(src, i))
            out.append(part.select(["company_id", "t", "v"] if value else ["company_id", "t"]))
        return out

    def _in_windows(self, windows: pa.Table, table: str, column: str, cols: str) -> pa.Table:
        lo, hi = pc.min(windows.column("t0")).as_py(), pc.max(windows.column("t1")).as_py()
        with self._lock:
            self.con.register("_w", windows)
            try:
                return self.sql(
                    f"""SELECT x.company_id, {cols} FROM {table} x JOIN _w w ON x.company_id = w.company_id
                    WHERE x."{column}" >= {int(lo)} AND x."{column}" < {int(hi)}
                      AND x."{column}" >= w.t0 AND x."{column}" < w.t1"""
                )
            finally:
                self.con.unregister("_w")

    def replace_parent_stats(self, old_rids: pa.Array, stats: pa.Table) -> None:
        """Delete the stored stats rows ``old_rids`` and add ``stats`` (with ``company_id``): the
        parents' new stats, in one statement each for every company."""
        with self.transaction():
            con = self.con
            if len(old_rids):
                con.register("_rids", pa.table({"rid": old_rids}))
                try:
                    con.execute("DELETE FROM parent_stats WHERE rowid IN (SELECT rid FROM _rids)")
                finally:
                    con.unregister("_rids")
            if stats.num_rows:
                con.register("_stats", stats)
                try:
                    indexed = STATS_INDEX in self._keys
                    cur = con.execute(
                        f"""INSERT INTO parent_stats ({", ".join(PARENT_STATS_COLUMNS)}, pk)
                        SELECT {", ".join(PARENT_STATS_COLUMNS)}, {parent_hash()}
                        FROM _stats {"RETURNING pk, first_join" if indexed else ""}"""
                    )
                    if indexed:
                        written = cur.fetchnumpy()
                        self._index_written(STATS_INDEX, written["pk"], written["first_join"])
                finally:
                    con.unregister("_stats")
            self._staged = None

    def write_days_of(self, days: pa.Table, rows: pa.Table, computed_at: int) -> None:
        """Replace the rollups of many (company_id, day) with ``rows`` (company_id, day, metric,
        value, at)."""
        self._write_days_of(days, rows, computed_at, replace=True)

    def write_new_days_of(self, days: pa.Table, rows: pa.Table, computed_at: int) -> None:
        self._write_days_of(days, rows, computed_at, replace=False)

    def _write_days_of(self, days: pa.Table, rows: pa.Table, computed_at: int, *, replace: bool) -> None:
        # With ``replace``, only the rows that changed are deleted and written: a live tick
        # recomputes whole days of many companies, and most of their rows come out as they were
        # (fewer rows written, a smaller log, fewer checkpoints).
        unchanged = """NOT EXISTS (SELECT 1 FROM {other} x WHERE x.company_id = {this}.company_id
            AND x.day = {this}.day AND x.metric = {this}.metric AND x.value = {this}.value
            AND x."at" IS NOT DISTINCT FROM {this}."at")"""
        with self.transaction():
            con = self.con
            con.register("_cd", days)
            con.register("_rows", rows)
            try:
                if replace:
                    con.execute(
                        "DELETE FROM rollups USING _cd WHERE rollups.company_id = _cd.company_id "
                        f"AND rollups.day = _cd.day AND {unchanged.format(other='_rows', this='rollups')}"
                    )
                    con.execute(
                        "DELETE FROM rollup_days USING _cd WHERE rollup_days.company_id = _cd.company_id "
                        "AND rollup_days.day = _cd.day"
                    )
                new = f" WHERE {unchanged.format(other='rollups', this='r')}" if replace else ""
                con.execute(f'INSERT INTO rollups SELECT company_id, day, metric, value, "at" FROM _rows r{new}')
                con.execute("INSERT INTO rollup_days SELECT company_id, day, ? FROM _cd", [computed_at])
            finally:
                con.unregister("_cd")
                con.unregister("_rows")

    def clear_rollups_of(self, companies: Sequence[str]) -> None:
        """:meth:`clear_rollups` of many companies, one statement per table."""
        with self._lock:
            self._staged = None
            self._keys.pop(STATS_INDEX, None)
            self._rows.pop(STATS_INDEX, None)
            for table in ("rollups", "rollup_days", "parent_stats"):
                self.con.execute(
                    f"DELETE FROM {table} WHERE company_id IN (SELECT unnest(?::VARCHAR[]))", [list(companies)]
                )

    def time_bounds_of(self, companies: Sequence[str]) -> dict[str, tuple[int, int]]:
        """:meth:`time_bounds` of many companies (those with records), one statement."""
        parts = []
        for t in TABLES.values():
            for c in (c for c, typ in t.columns if str(typ) == "int64" and c not in ("seq", "size_bytes")):
                parts.append(
                    f'SELECT company_id, min("{c}") lo, max("{c}") hi FROM {t.table} '
                    f"WHERE company_id IN (SELECT unnest($c::VARCHAR[])) GROUP BY company_id"
                )
        rows = self.rows(
            f"SELECT company_id, min(lo), max(hi) FROM ({' UNION ALL '.join(parts)}) GROUP BY company_id",
            {"c": list(companies)},
        )
        return {c: (int(lo), int(hi)) for c, lo, hi in rows if lo is not None}

    def all_parents_of(self, companies: Sequence[str], cap_us: int) -> pa.Table:
        """:meth:`all_parents` of many companies (whose windows group by the parent hash), with
        their ``company_id``, one statement."""
        return self.sql(
            """SELECT company_id, parent_kind, parent_id, min(joined_at) AS lo, max(joined_at) AS hi,
                max(coalesce(left_at, joined_at + ?)) AS "end", any_value(pk) AS parent
            FROM connections WHERE company_id IN (SELECT unnest(?::VARCHAR[]))
            GROUP BY 1, 2, 3 ORDER BY 1, 4, 2, 3""",
            [cap_us, list(companies)],
        )

    def exact_parents(self, company_id: str) -> bool:
        """Whether the company's day windows group by ids (two of its parents share a hash)."""
        return company_id in self._exact

    # --- tables of the dashboard -------------------------------------------------------------
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
        """One page of a dashboard table (its DuckDB text, see metrics/table_sql.py), sorted and
        searched in SQL; ``fresh_stats``: stats rows of events recomputed for this read, read
        instead of theirs."""
        base = query.duckdb.replace("{stats}", STORED_STATS if fresh_stats is None else FRESH_STATS)
        params = {k: v for k, v in params.items() if f"${k}" in base}
        direction = "DESC" if order == "desc" else "ASC"
        with self._failing():
            con = self.con if self._lock.held() else self._reader()
            if fresh_stats is not None:
                con.register("_fresh", fresh_stats)
            try:
                # Two queries: a window count beside the page would materialize every row (a year
                # of 225k events: 49 ms), while a top-N sort and a count take 22 + 7 ms.
                page = con.sql(
                    f"SELECT * FROM ({base}) ORDER BY {sort} {direction} NULLS LAST, 1, 2 "
                    f"LIMIT {int(limit)} OFFSET {int(offset)}",
                    params=params,
                ).to_arrow_table()
                total = con.execute(f"SELECT count(*) FROM ({base})", params).fetchall()[0][0]
            finally:
                if fresh_stats is not None:
                    con.unregister("_fresh")
        return page.to_pylist(), int(total)


# The events' stats as stored, or with the rows of ``_fresh`` (recomputed for this read) instead.
_STATS_COLUMNS = "parent_id, template, first_join, last_leave, participants, connections, peak, peak_at"
STORED_STATS = f"SELECT {_STATS_COLUMNS} FROM parent_stats WHERE company_id = $company AND parent_kind = 0"
FRESH_STATS = (
    f"{STORED_STATS} AND parent_id NOT IN (SELECT parent_id FROM _fresh WHERE parent_kind = 0) "
    f"UNION ALL SELECT {_STATS_COLUMNS} FROM _fresh WHERE parent_kind = 0"
)
