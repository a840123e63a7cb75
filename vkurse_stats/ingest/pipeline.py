"""The ingest pipeline: a named list of steps per record, batched writes, one rollup pass.

Each record goes through :meth:`Ingestor.add`: *validate* (records.py) -> *scope* (a writer scoped
to one company may only write that company, and may not change its timezone or limits) ->
*company* (an unknown company is created when the writer may write any) -> *buffer*. A full buffer
is written as one columnar batch per kind; :meth:`Ingestor.finish` writes the rest and recomputes
the rollups the whole import touched, once. A rejected record never stops the import: the result
counts it and says where and why; a file that cannot be read on ends with one such error. Every
company an import creates or changes is written to the audit log with the writer (its
:class:`Actor`).
"""

from __future__ import annotations

import itertools
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from typing import IO, Any, Protocol

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..ahead import ahead
from ..records import (
    DEFAULT_TIMEZONE,
    Company,
    Limits,
    Record,
    RecordError,
    decode_json,
)
from ..store.base import AnalyticStore
from ..store.meta import CompanyInfo, MetaStore
from .columns import to_table
from .jsonl import chunk_tables, jsonl_tables, split_lines
from .sink import FigureSink

MAX_ERRORS = 1000  # errors listed in a result; the count covers all
# A long import recomputes what it touched every this many written records, so what it holds
# in memory stays bounded (a time-ordered file touches each day in one stretch anyway).
APPLY_EVERY = 2_000_000
JSON_BLOCK = 50_000  # JSON lines parsed as one columnar block
JSON_BLOCK_BYTES = 1 << 23  # a file's JSON lines are read in chunks of about this many bytes
# What reading a file may raise (a truncated or corrupt gzip, an I/O error).
READ_ERRORS = (OSError, EOFError, zlib.error)


class SourceError(Exception):
    """A file that cannot be read on: why, and the first line (or Parquet row) not read."""

    def __init__(self, reason: str, line: int = 0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.line = line


def read_error(exc: BaseException) -> SourceError:
    return SourceError(str(exc).strip() or type(exc).__name__)


class AuditLog(Protocol):
    def audit(
        self, actor: str, action: str, company_id: str | None = None, address: str | None = None, **detail: Any
    ) -> None: ...

    def audit_many(
        self, actor: str, action: str, entries: list[tuple[str | None, dict[str, Any]]], address: str | None = None
    ) -> None: ...


@dataclass(frozen=True)
class Actor:
    """Who writes through an ingestor, for the audit log of the company changes it makes: a token
    (``token:3:vks_ab12``) or ``import`` (the CLI), from which address (``local``: this machine),
    and the log to write to (None: the audit log of the metadata store, opened at the first
    change)."""

    name: str = "import"
    address: str | None = "local"
    log: AuditLog | None = None


@dataclass(frozen=True)
class IngestError:
    line: int
    field: str | None
    error: str
    source: str | None = None  # the file, when an import reads several

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"line": self.line, "field": self.field, "error": self.error}
        if self.source:
            out["file"] = self.source
        return out

    def __str__(self) -> str:
        where = f"{self.source}:" if self.source else "line "
        field = f" [{self.field}]" if self.field else ""
        if not self.line:  # the file as a whole
            return f"{self.source or 'input'}{field}: {self.error}"
        return f"{where}{self.line}{field}: {self.error}"


@dataclass
class IngestResult:
    accepted: int = 0
    rejected: int = 0
    errors: list[IngestError] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)  # files that could not be read to their end

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "accepted": self.accepted,
            "rejected": self.rejected,
            "errors": [e.as_json() for e in self.errors],
        }
        if self.rejected > len(self.errors):
            out["errors_truncated"] = self.rejected - len(self.errors)
        return out


class Ingestor:
    """Validates and stores records; call :meth:`finish` once at the end."""

    def __init__(
        self,
        store: AnalyticStore,
        meta: MetaStore,
        rollups: FigureSink[Any],
        *,
        company_scope: str | None = None,
        batch_size: int = 100_000,
        actor: Actor | None = None,
    ) -> None:
        self.store = store
        self.meta = meta
        self.rollups = rollups
        self.scope = company_scope
        self.actor = actor or Actor()
        self._audit_log = self.actor.log
        self.batch_size = batch_size
        self.result = IngestResult()
        self.touched = self.rollups.changes()
        self._buffers: dict[str, list[Record]] = defaultdict(list)
        # Per kind, batches already in the store's layout with their seq, in arrival order.
        self._tables: dict[str, list[pa.Table]] = defaultdict(list)
        self._buffered = 0
        self._known: set[str | int] = set()
        # Companies with no rollups when this import first saw them: rebuilt once at the end (one
        # pass over all their records costs less than tracking and recomputing what was touched).
        self._rebuild: set[str] = set()
        self._written = 0  # records written since the rollups were last applied
        self._defer = False
        self.source: str | None = None

    # --- steps -------------------------------------------------------------------------------
    def reject(self, line: int, field_name: str | None, error: str) -> None:
        self.result.rejected += 1
        if len(self.result.errors) < MAX_ERRORS:
            self.result.errors.append(IngestError(line, field_name, error, self.source))

    def unreadable(self, error: SourceError) -> None:
        """The current file cannot be read on from ``error.line`` (0: not at all): one error, and the
        result says the file was not read to its end."""
        where = "from this line on" if error.line else "at all"
        self.reject(error.line, None, f"the file cannot be read {where}: {error.reason}")
        self.result.unreadable.append(self.source or "-")

    def add_json(self, line: int, raw: bytes | str) -> None:
        try:
            rec = decode_json(raw)
        except RecordError as exc:
            self.reject(line, exc.field, exc.error)
            return
        self.add(line, rec)

    def add(self, line: int, rec: Record) -> None:
        if type(rec) is Company:
            self._add_company(line, rec)
            return
        company_id = rec.company_id  # type: ignore[union-attr]
        if company_id not in self._known and not self._admit(line, company_id):
            return
        self._buffers[rec.__struct_config__.tag].append(rec)  # type: ignore[index]
        self.result.accepted += 1
        self._buffered += 1
        if self._buffered >= self.batch_size:
            self.flush(whole_units=True)

    def _admit(self, line: int, given: str | int) -> bool:
        """Scope and company steps, once per company of an import."""
        company_id = str(given)
        if self.scope is not None and company_id != self.scope:
            self.reject(line, "company_id", f"this token may only write company {self.scope!r}, not {company_id!r}")
            return False
        if not self.meta.exists(company_id):
            before, after = self.meta.put_company(company_id)
            if before is None:  # (by its first record; the columnar path knows no line of it)
                self._audit("company.create", company_id, 0, company=after.as_json())
        self._known.update((company_id, given))
        self._note_fresh(company_id)
        return True

    def _admit_all(self, ids: list[str]) -> None:
        """:meth:`_admit` of the companies of a columnar batch (in scope: checked before), in
        one statement per step however many there are: a year of the platform's history holds
        thousands."""
        if not ids:
            return
        created = self.meta.create_companies(ids)
        if created:
            self._audit_all("company.create", [(c.id, {"company": c.as_json()}) for c in created])
        self._known.update(ids)
        self._rebuild.update(set(ids) - self.rollups.computed_of(ids))

    def _note_fresh(self, company_id: str) -> None:
        if not self.rollups.computed_any(company_id):
            self._rebuild.add(company_id)

    def _add_company(self, line: int, rec: Company) -> None:
        if self.scope is not None and str(rec.id) != self.scope:
            self.reject(line, "id", f"this token may only write company {self.scope!r}, not {str(rec.id)!r}")
            return
        try:
            self._put_company(line, rec)
        except RecordError as exc:
            self.reject(line, exc.field, exc.error)
            return
        self.result.accepted += 1

    def _put_company(self, line: int, rec: Company) -> None:
        company_id = str(rec.id)
        limits = None
        if not isinstance(rec.limits, msgspec.UnsetType):
            limits = {k: None if rec.limits is None else getattr(rec.limits, k) for k in Limits.__struct_fields__}
        if self.scope is None:
            # The platform's record replaces the company's settings: what it leaves out is reset.
            timezone = rec.timezone if isinstance(rec.timezone, str) else DEFAULT_TIMEZONE
            before, after = self.meta.put_company(company_id, rec.name, timezone, limits, replace_limits=True)
        else:
            self._refuse_settings(company_id, rec, limits)
            before, after = self.meta.put_company(company_id, rec.name)
        if before is None:
            self._audit("company.create", company_id, line, company=after.as_json())
        elif before != after:
            self._audit("company.update", company_id, line, before=before.as_json(), after=after.as_json())
        if after.id not in self._known:
            self._known.add(after.id)
            self._note_fresh(after.id)
        if before is not None and before.timezone != after.timezone:
            self.flush()  # the records before it are counted on the new zone's days too
            self.rollups.timezone_changed(after.id)
        elif before is not None and before.limits != after.limits:
            self.flush()
            self.rollups.limits_changed(after.id)

    def _refuse_settings(self, company_id: str, rec: Company, limits: dict[str, int | None] | None) -> None:
        """A scoped writer may name its company, not change its timezone or licence limits
        (support and platform writers can): a record that would is refused whole, naming the
        field. Settings the record repeats unchanged, or leaves out, pass."""
        current = self.meta.company(company_id) or CompanyInfo(company_id, company_id)
        who = f"a writer scoped to company {self.scope!r}"
        if isinstance(rec.timezone, str) and rec.timezone != current.timezone:
            raise RecordError(
                "timezone", f"{who} may not change its timezone ({current.timezone} -> {rec.timezone}); support can"
            )
        for name, value in (limits or {}).items():
            now = current.limits.get(name)
            if value != now:
                raise RecordError(
                    f"limits.{name}",
                    f"{who} may not change its licence limits ({name}: {_shown(now)} -> {_shown(value)}); support can",
                )

    def _audit(self, action: str, company_id: str, line: int, **detail: Any) -> None:
        """One entry of the audit log for a company this import created or changed."""
        self._audit_all(action, [(company_id, detail)], line)

    def _audit_all(self, action: str, entries: list[tuple[str, dict[str, Any]]], line: int = 0) -> None:
        """Entries of the audit log (company, detail) for companies this import created or
        changed, in one transaction."""
        if self._audit_log is None:
            from ..store.accounts import AccountStore  # the audit log lives beside the accounts

            self._audit_log = AccountStore(self.meta.engine)
        where: dict[str, Any] = {"via": "ingest"}
        if self.source:
            where["file"] = self.source
        if line:
            where["line"] = line
        self._audit_log.audit_many(
            self.actor.name, action, [(c, {**detail, **where}) for c, detail in entries], self.actor.address
        )

    def add_table(self, kind: str, table: pa.Table) -> bool:
        """Store a batch that the columnar validator proved valid (ingest/fastpath.py).
        Returns False, storing nothing, when its companies need the per-row steps."""
        if not self._in_scope(table):
            return False
        self._admit_all([c for c in pc.unique(table.column("company_id")).to_pylist() if c not in self._known])
        self._seal(kind)  # earlier rows first: arrival order decides between versions
        first = self.store.next_seq(table.num_rows)
        self._tables[kind].append(
            table.append_column("seq", pa.array(np.arange(first, first + table.num_rows, dtype=np.int64)))
        )
        self.result.accepted += table.num_rows
        self._buffered += table.num_rows
        if self._buffered >= self.batch_size:
            self.flush(whole_units=True)
        return True

    def _seal(self, kind: str) -> None:
        """Turn the buffered records of a kind into a table, numbered in arrival order."""
        records = self._buffers.pop(kind, None)
        if records:
            self._tables[kind].append(to_table(kind, records, self.store.next_seq(len(records))))

    def flush(self, *, whole_units: bool = False) -> None:
        """Write what is buffered as one batch per kind, in one transaction, and note what it
        touched. With ``whole_units`` (a bulk import's batches) the store's append unit is kept:
        a kind's last partial unit stays buffered for the next batch."""
        unit = self.store.APPEND_UNIT if whole_units else 1
        kept: dict[str, list[pa.Table]] = {}
        with self.store.transaction():
            for kind in list(self._buffers):
                self._seal(kind)
            for kind, tables in self._tables.items():
                table = pa.concat_tables(tables) if len(tables) > 1 else tables[0] if tables else None
                if table is None:
                    continue
                if table.num_rows >= unit and table.num_rows % unit:
                    # The tail has the latest arrivals: written with the next batch, replace
                    # semantics see the same order.
                    cut = table.num_rows - table.num_rows % unit
                    table, kept[kind] = table.slice(0, cut), [table.slice(cut)]
                self._write(kind, table)
            # In the write's transaction: a process killed before the rollups are applied
            # leaves the note, and the next start rebuilds these companies.
            self.rollups.mark_unapplied(self.touched.companies() | self._rebuild)
        self._tables = defaultdict(list, kept)
        self._buffered = sum(t.num_rows for tables in kept.values() for t in tables)
        if self._written >= APPLY_EVERY and not self._defer:
            self.rollups.apply(self.touched)
            self.touched = self.rollups.changes()
            self._written = 0

    def _write(self, kind: str, table: pa.Table) -> None:
        self._written += table.num_rows
        old, new = _drop_unchanged(*self.store.upsert(kind, table))
        if kind == "connection":
            self.store.update_span(new, self.rollups.cap_us)
        self.touched.merge(self.rollups.touched_by(kind, old, self._rebuild))
        self.touched.merge(self.rollups.touched_by(kind, new, self._rebuild))

    def finish(self, progress: Callable[[int, int], None] | None = None, *, defer: bool = False) -> IngestResult:
        """Write the rest and recompute what the import touched (or queue it, with ``defer``); a
        company that had no rollups is rebuilt here in either case."""
        self._defer = defer
        if self._rebuild:
            self.flush()  # committed first: a rebuild reads its windows on a connection of its own
            self.rollups.rebuild_many(self._rebuild, progress)
            self._rebuild.clear()
        with self.rollups.transaction():  # the last write and its rollups: one commit
            self.flush()
            if self.touched:
                if defer:
                    self.rollups.defer(self.touched)
                else:
                    self.rollups.apply(self.touched, progress)
                self.touched = self.rollups.changes()
        return self.result

    def absorb(self, other: Ingestor) -> None:
        """Take over what ``other`` validated and has not written, so one write stores both (a
        server's writer stores the batches of many requests as one: a write has a fixed cost).
        Arrival order is kept: every record carries its sequence number."""
        for kind in list(other._buffers):
            other._seal(kind)
        for kind, tables in other._tables.items():
            self._tables[kind].extend(tables)
        self._buffered += other._buffered
        self.touched.merge(other.touched)
        self._rebuild |= other._rebuild
        self._known |= other._known
        other._tables = defaultdict(list)
        other._buffered = 0
        other.touched = other.rollups.changes()
        other._rebuild = set()

    def snapshot(self) -> tuple[Any, ...]:
        """What :meth:`restore` needs to undo a :meth:`finish` whose transaction rolled back
        (a server's writer retries the batch then, or reports the failure)."""
        for kind in list(self._buffers):
            self._seal(kind)
        touched = self.rollups.changes()
        touched.merge(self.touched)
        tables = {kind: list(tables) for kind, tables in self._tables.items()}
        return tables, touched, self._buffered, self._written, set(self._rebuild)

    def restore(self, state: tuple[Any, ...]) -> None:
        tables, touched, self._buffered, self._written, rebuild = state
        self._tables = defaultdict(list, {kind: list(t) for kind, t in tables.items()})
        self.touched = self.rollups.changes()
        self.touched.merge(touched)
        self._rebuild = set(rebuild)

    # --- sources -----------------------------------------------------------------------------
    def add_lines(self, lines: Iterable[bytes | str], first_line: int = 1) -> None:
        """JSON Lines, in blocks: a block is parsed and validated column by column when it can
        be (see :func:`jsonl_tables`), else line by line with the usual errors."""
        it = iter(lines)
        block = list(itertools.islice(it, JSON_BLOCK))
        if len(block) < JSON_BLOCK:  # one block (an HTTP batch): no thread to start
            if block:
                self._add_block(block, first_line, jsonl_tables(block))
            return

        def blocks(part: list[bytes | str], first: int) -> Iterator[tuple[list[bytes | str], int]]:
            while part:
                yield part, first
                first += len(part)
                part = list(itertools.islice(it, JSON_BLOCK))

        def parse(numbered: tuple[list[bytes | str], int]) -> tuple[list[bytes | str], int, Any]:
            return *numbered, jsonl_tables(numbered[0])  # in a read-ahead thread

        with closing(ahead(parse, blocks(block, first_line))) as parsed:
            for part, first, tables in parsed:
                self._add_block(part, first, tables)

    def add_stream(self, stream: IO[bytes]) -> None:
        """JSON Lines of a binary stream (a file), read in chunks of whole lines that the
        read-ahead threads parse (see :func:`chunk_tables`)."""

        def chunks() -> Iterator[bytes]:
            buf = bytearray()
            while True:
                try:
                    piece = stream.read1(JSON_BLOCK_BYTES)  # type: ignore[attr-defined]
                except READ_ERRORS as exc:
                    # The whole lines read before the failure are stored; it is reported after them.
                    if (cut := buf.rfind(b"\n") + 1) > 0:
                        yield bytes(memoryview(buf)[:cut])
                    raise read_error(exc) from exc
                if not piece:
                    if buf:
                        yield bytes(buf)
                    return
                buf += piece
                if len(buf) >= JSON_BLOCK_BYTES and (cut := buf.rfind(b"\n") + 1) > 0:
                    yield bytes(memoryview(buf)[:cut])
                    del buf[:cut]

        it = chunks()
        head: list[bytes] = []
        failure: SourceError | None = None  # reading the first chunks: raised after them
        try:
            for data in itertools.islice(it, 2):
                head.append(data)
        except SourceError as exc:
            failure = exc
        parsed = (
            ahead(chunk_tables, itertools.chain(head, it))
            if len(head) > 1 and failure is None
            else (chunk_tables(d) for d in head)
        )  # one chunk: no thread to start
        first_line = 1
        with closing(parsed):  # work already started ends before an error goes on
            try:
                for raw, lines, tables in parsed:
                    block = raw if not isinstance(raw, bytes) else [] if self._fits_scope(tables) else split_lines(raw)
                    self._add_block(block, first_line, tables)  # (a block parsed from its text has no company)
                    first_line += lines
                if failure is not None:
                    raise failure
            except SourceError as exc:
                exc.line = first_line
                raise

    def _add_block(
        self, block: list[bytes | str], first_line: int, tables: tuple[list[int], dict[str, pa.Table]] | None
    ) -> None:
        if tables is not None and self._fits_scope(tables):
            companies, per_kind = tables
            for i in companies:  # company records first: the rest may name them
                self.add_json(first_line + i, block[i])
            for kind, table in per_kind.items():
                self.add_table(kind, table)
            return
        for n, raw in enumerate(block, start=first_line):
            if raw.strip():
                self.add_json(n, raw)

    def _fits_scope(self, tables: tuple[list[int], dict[str, pa.Table]] | None) -> bool:
        """Whether a parsed block may take the columnar path whole (a scoped writer's company
        records need the per-line scope step)."""
        if tables is None:
            return False
        return self.scope is None or (not tables[0] and all(map(self._in_scope, tables[1].values())))

    def _in_scope(self, table: pa.Table) -> bool:
        """Whether every record of a table is of a company this writer may write."""
        return self.scope is None or bool(pc.all(pc.equal(table.column("company_id"), self.scope)).as_py())


def _drop_unchanged(old: pa.Table, new: pa.Table) -> tuple[pa.Table, pa.Table]:
    """Leave out versions that only re-send what was stored (a retried batch): they change no
    figure, so they touch no day and no event."""
    if old.num_rows == 0:
        return old, new
    # Each new version's stored one, by a joined key; every column is then compared, the ids
    # too, so a key two id pairs could join to only leaves a version in.
    pos = pc.index_in(_record_key(new), value_set=_record_key(old))
    same = pc.is_valid(pos)
    stored = old.take(pc.fill_null(pos, 0))
    for c in new.column_names:
        if c != "seq":
            a, b = new.column(c), stored.column(c)
            equal = pc.or_(pc.and_(pc.is_null(a), pc.is_null(b)), pc.fill_null(pc.equal(a, b), False))
            same = pc.and_(same, equal)
    if not pc.any(same).as_py():
        return old, new
    kept = np.ones(old.num_rows, dtype=np.bool_)
    kept[pos.filter(same).to_numpy()] = False
    return old.filter(pa.array(kept)), new.filter(pc.invert(same))


def _record_key(table: pa.Table) -> pa.ChunkedArray:
    return pc.binary_join_element_wise(table.column("company_id"), table.column("id"), "\x1f")


def _shown(limit: int | None) -> str:
    return "none" if limit is None else str(limit)
