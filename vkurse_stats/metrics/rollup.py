"""Rollups: the per company-day figures and per event/call stats the dashboard reads.

An import calls :meth:`Rollups.apply` with the versions it replaced and inserted; only the
company-days and events/calls those versions touch are recomputed, from raw records, by the engine.
A day computed before it ended (today, or a day an open connection may still reach) is
*volatile*: :meth:`Rollups.refresh` recomputes such days when a query reads them, so figures that
depend on "now" stay exact. :meth:`Rollups.rebuild` recomputes everything and must agree with
any sequence of incremental applies.
"""

from __future__ import annotations

import bisect
import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import closing, contextmanager
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..ahead import ahead
from ..store.base import AnalyticStore, WindowFetch
from ..store.meta import MetaStore
from ..store.schema import PARENT_SCHEMA, PARENT_STATS_SCHEMA
from ..timeutil import DayGrid, day_number, local_date
from .definitions import CLIENT_PREFIX, METRICS
from .engine import Connections, WindowFigures, distinct, sweep_window
from .insight import BREACH_FIGURES, History, breach_id, hour_id, limit_steps
from .keys import NO_TIME

log = logging.getLogger("vkurse_stats")

WINDOW_DAYS = 31  # days recomputed per fetch: bounds memory on a full rebuild
DAY_US = 86_400_000_000
TIMELINE_DAYS = 1 << 20  # days of one sweep's timeline (the engine's keys number 2**22)
PARENT_CHUNK = 100_000
# Record kind -> (instant column, value column or None for 1, column that ends a stock or None)
SOURCES = {
    "message": ("sent_at", None, None),
    "file": ("uploaded_at", "size_bytes", "deleted_at"),
    "user": ("registered_at", None, "deleted_at"),
}


def _sorted_codes(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(key, return_inverse=True)`` by hashing: only the distinct values are sorted
    (a live window holds ~8 connections per parent, so this is several times faster)."""
    encoded = pc.dictionary_encode(pa.array(key, pa.int64()))
    values = encoded.dictionary.to_numpy()
    order = np.argsort(values)
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order), dtype=np.int64)
    return values[order], rank[encoded.indices.to_numpy()]


def _dense(column: pa.ChunkedArray) -> tuple[np.ndarray, pa.Array]:
    """Dense int64 codes of a column (null -> -1) and the distinct values they index."""
    encoded = pc.dictionary_encode(column).combine_chunks()
    indices = pc.fill_null(encoded.indices, -1) if encoded.null_count else encoded.indices
    return indices.to_numpy(zero_copy_only=False).astype(np.int64), encoded.dictionary


def to_connections(table: pa.Table, nparents: int | None = None) -> Connections:
    """Engine columns from a store's connection rows. ``parent`` identifies a row's event/call
    (any type: it is encoded densely), unless ``nparents`` says it already is a row number. A
    null ``person`` is a guest: each such connection is a person of its own."""
    if nparents is None:
        parent, _ = _dense(table.column("parent"))
    else:
        parent = table.column("parent").to_numpy().astype(np.int64, copy=False)
    person, people = _dense(table.column("person"))
    guests = person < 0
    person[guests] = len(people) + np.arange(int(guests.sum()), dtype=np.int64)
    client, client_names = _dense(table.column("client"))
    return Connections(
        parent=parent,
        template=table.column("template").to_numpy().astype(np.int64),
        transport=table.column("transport").to_numpy().astype(np.int64),
        joined=table.column("joined_at").to_numpy().astype(np.int64, copy=False),
        left=table.column("left_at").to_numpy().astype(np.int64, copy=False),
        person=person,
        client=client,
        client_names=client_names.to_pylist(),
    )


@dataclass
class Touched:
    """What a batch of versions touched, per company: local day numbers and parents."""

    days: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))
    # (company_id, parent_kind, parent_id) rows, listed under their company.
    parents: dict[str, list[pa.Table]] = field(default_factory=lambda: defaultdict(list))
    joined: dict[str, tuple[int, int]] = field(default_factory=dict)  # joined_at range of the versions

    def merge(self, other: Touched) -> None:
        for c, d in other.days.items():
            self.days[c] |= d
        for c, (lo, hi) in other.joined.items():
            old = self.joined.get(c, (lo, hi))
            self.joined[c] = (min(lo, old[0]), max(hi, old[1]))
        for c, p in other.parents.items():
            self.parents[c].extend(p)

    def parent_table(self, company_id: str) -> pa.Table:
        """The distinct (parent_kind, parent_id) touched in a company, sorted."""
        tables = self.parents.get(company_id) or [PARENT_SCHEMA.empty_table()]
        return (
            pa.concat_tables(tables)
            .group_by(["parent_kind", "parent_id"])
            .aggregate([])
            .sort_by([("parent_kind", "ascending"), ("parent_id", "ascending")])
        )

    def all_parents(self) -> pa.Table:
        """The distinct (company_id, parent_kind, parent_id) touched in every company, sorted:
        one pass over all of them."""
        keys = ["company_id", "parent_kind", "parent_id"]
        # A live tick gathers thousands of small slices: one contiguous table groups far faster.
        parts = [t for tables in self.parents.values() for t in tables if t.num_rows]
        if not parts:
            return _with_company("", PARENT_SCHEMA.empty_table())
        whole = pa.concat_tables(parts).select(keys).combine_chunks()
        return whole.group_by(keys).aggregate([]).sort_by([(k, "ascending") for k in keys])

    def __bool__(self) -> bool:
        return any(self.days.values()) or any(self.parents.values())

    def companies(self) -> set[str]:
        """The companies with anything to recompute."""
        return {c for c, d in self.days.items() if d} | {c for c, p in self.parents.items() if p}

    def take(self, company_id: str) -> Touched:
        """Remove and return what is noted of one company."""
        out = Touched()
        if company_id in self.days:
            out.days[company_id] = self.days.pop(company_id)
        if company_id in self.parents:
            out.parents[company_id] = self.parents.pop(company_id)
        if company_id in self.joined:
            out.joined[company_id] = self.joined.pop(company_id)
        return out


@dataclass
class Swept:
    """A window of days fetched and swept (Rollups.sweep_days): its grid and figures, and the
    stats of the events and calls it holds whole (a rebuild, a live batch), stored with its rollups."""

    grid: DayGrid
    fig: WindowFigures
    parents: pa.Table | None
    stats: pa.Table | None


class Rollups:
    """Maintains rollups in an analytic store (any backend with the DuckDBStore interface)."""

    def __init__(self, store: AnalyticStore, meta: MetaStore, cap_us: int, clock: Callable[[], int]) -> None:
        self.store = store
        self.meta = meta
        self.cap_us = cap_us
        self.clock = clock
        self._tz: dict[str, str] = {}
        self._limits: dict[str, History] = {}  # each company's limit history (see limit_histories)
        self._computed: set[str] = set()  # companies known to have rollups (computed_any)
        # Deferred work (small HTTP batches): queued here, applied by a worker, or by the next
        # read of its company. ``_applying``: companies whose queued work an apply has taken and
        # not yet committed (a read of one waits for that apply).
        self._pending = Touched()
        self._ended = Touched()  # days a read recomputed after they ended: the writer stores them
        self._applying: set[str] = set()
        self._pending_lock = threading.Lock()
        self._apply_lock = threading.RLock()
        # Set while a server's writer runs: a read hands its company's queued work to it.
        self.settle: Callable[[str], None] | None = None
        # Told {company: None} after a company is recomputed whole because its timezone or
        # limits changed (the alerts re-judge its recent days against the new limit).
        self.rebuilt_listeners: list[Callable[[Mapping[str, frozenset[int] | None]], None]] = []

    def timezone(self, company_id: str) -> str:
        tz = self._tz.get(company_id)
        if tz is None:
            info = self.meta.company(company_id)
            tz = info.timezone if info else "Europe/Moscow"
            self._tz[company_id] = tz
        return tz

    def timezones(self, ids: Iterable[str]) -> dict[str, str]:
        """:meth:`timezone` of many companies, the ones not known yet in one statement."""
        unknown = [c for c in ids if c not in self._tz]
        if unknown:
            found = self.meta.companies_of(unknown)
            for c in unknown:
                self._tz[c] = found[c].timezone if c in found else "Europe/Moscow"
        return {c: self._tz[c] for c in ids}

    def forget_timezone(self, company_id: str) -> None:
        self._tz.pop(company_id, None)

    def timezone_changed(self, company_id: str) -> None:
        """Recompute every rollup of a company whose timezone changed (its days are calendar
        days of the zone), whoever changed it. The company is noted as unapplied first, so if
        this fails the store rebuilds it when it next opens."""
        self.mark_unapplied({company_id})
        self.forget_timezone(company_id)
        self.rebuild(company_id)
        self._tell_rebuilt(company_id)

    def limit_histories(self, ids: Iterable[str]) -> dict[str, History]:
        """Each company's licence limits as history (the days' breach figures judge by it)."""
        wanted = list(ids)
        unknown = [c for c in wanted if c not in self._limits]
        if unknown:
            found = self.meta.limit_history(unknown)
            for c in unknown:
                self._limits[c] = found.get(c, {})
        return {c: self._limits[c] for c in wanted}

    def limits_changed(self, company_id: str) -> None:
        """Recompute a company whose licence limits changed: its days' time at and over the
        limits moves (from the change on; the whole company is recomputed, as for a timezone)."""
        self.mark_unapplied({company_id})
        self._limits.pop(company_id, None)
        self.rebuild(company_id)
        self._tell_rebuilt(company_id)

    def _tell_rebuilt(self, company_id: str) -> None:
        for listener in list(self.rebuilt_listeners):
            try:
                listener({company_id: None})
            except Exception:  # noqa: BLE001 - the change itself is done and must stand
                log.exception("a listener of a company's recompute failed")

    def changes(self) -> Touched:
        """An empty :class:`Touched` (what ingest accumulates its writes' changes in)."""
        return Touched()

    # --- what a batch touched ----------------------------------------------------------------
    def computed_any(self, company_id: str) -> bool:
        """Whether any day of the company has rollups (else a rebuild computes it best). Only the
        choice between rebuilding and applying depends on it (both are exact), so a yes is kept."""
        if company_id not in self._computed:
            if not self.store.computed_days(company_id, -(2**31), 2**31 - 1):
                return False
            self._computed.add(company_id)
        return True

    def computed_of(self, ids: list[str]) -> set[str]:
        """:meth:`computed_any` of many companies: those of ``ids`` that have rollups, in one
        statement for the ones not known yet."""
        unknown = [c for c in ids if c not in self._computed]
        if unknown:
            self._computed.update(self.store.computed_companies(unknown))
        return {c for c in ids if c in self._computed}

    def touched_by(self, kind: str, versions: pa.Table, skip: set[str] | frozenset[str] = frozenset()) -> Touched:
        """Days and parents a set of record versions (old or new) affects (in companies not in
        ``skip``), for all their companies at once."""
        touched = Touched()
        if versions.num_rows == 0 or kind not in ("connection", *SOURCES):
            return touched
        if skip:
            versions = versions.filter(pc.invert(pc.is_in(versions.column("company_id"), pa.array(list(skip)))))
            if versions.num_rows == 0:
                return touched
        codes, dictionary = _dense(versions.column("company_id"))
        names = dictionary.to_pylist()
        tzs = self.timezones(names)
        zones = [tzs[c] for c in names]
        if kind == "connection":
            joined = versions.column("joined_at").to_numpy().astype(np.int64)
            left_col = versions.column("left_at")
            left = (
                pc.if_else(pc.is_null(left_col), pc.add(versions.column("joined_at"), self.cap_us), left_col)
                .to_numpy()
                .astype(np.int64)
            )
            for c, day in _company_days(codes, joined, np.maximum(left, joined), zones):
                touched.days[names[c]].add(day)
            order = np.argsort(codes, kind="stable")
            bounds = np.searchsorted(codes[order], np.arange(len(names) + 1))
            lo = np.minimum.reduceat(joined[order], bounds[:-1])
            hi = np.maximum.reduceat(joined[order], bounds[:-1])
            parents = versions.select(["company_id", "parent_kind", "parent_id"]).take(order)
            for i, company_id in enumerate(names):
                touched.joined[company_id] = (int(lo[i]), int(hi[i]))
                touched.parents[company_id].append(parents.slice(bounds[i], bounds[i + 1] - bounds[i]))
        else:
            start, _, end = SOURCES[kind]
            for col in (start, end):
                if col is None:
                    continue
                present = pc.is_valid(versions.column(col)).to_numpy(zero_copy_only=False)
                vals = versions.column(col).to_numpy(zero_copy_only=False)[present].astype(np.int64)
                for c, day in _company_days(codes[present], vals, vals, zones):
                    touched.days[names[c]].add(day)
        return touched

    def defer(self, touched: Touched, *, durable: bool = True) -> None:
        """Queue recomputation; :meth:`catch_up` (the writer, or a read) applies it. The store
        notes the companies in the write's transaction (see :meth:`recover`)."""
        if durable:
            self.mark_unapplied(touched.companies())
        with self._pending_lock:
            self._pending.merge(touched)

    def mark_unapplied(self, companies: set[str]) -> None:
        """Note in the store, inside the write that stores their records, that these companies'
        rollups lag them until an apply or a rebuild clears the note."""
        if companies:
            self.store.mark_unapplied(companies)

    def _applied(self, companies: set[str]) -> None:
        """Clear the notes of companies with nothing left queued (in the apply's transaction)."""
        with self._pending_lock:
            done = companies - self._pending.companies()
        if done:
            self.store.clear_unapplied(done)

    def recover(self, progress: Callable[[str], None] | None = None) -> list[str]:
        """Rebuild the companies whose records were stored but whose rollups a killed process
        never applied (the notes of :meth:`mark_unapplied`); returns them."""
        companies = self.store.unapplied()
        for company_id in companies:
            if progress:
                progress(company_id)
            self.rebuild(company_id)
        return list(companies)

    def catch_up(self, company_id: str | None = None) -> None:
        """Apply queued recomputation: every company's (the worker), or one company's (a read
        of it calls this first, so it never sees stale days, and never waits for another
        company's queue: with nothing queued for its company it takes no lock at all)."""
        with self._pending_lock:
            waiting = self._pending.companies() | self._applying
            if company_id is None:
                waiting |= self._ended.companies()
            else:
                waiting &= {company_id}
        if not waiting:
            return
        with self.transaction():
            # Taken inside the transaction: no write can queue more of these companies' work
            # before it commits, so the notes apply() clears are only of work it did.
            with self._pending_lock:
                if company_id is None:
                    touched, self._pending = self._pending, Touched()
                    touched.merge(self._ended)
                    self._ended = Touched()
                else:
                    touched = self._pending.take(company_id)
                taken = touched.companies()
                self._applying |= taken
            try:
                if touched:
                    self.apply(touched)
            except BaseException:
                self.defer(touched, durable=False)  # rolled back: queued again, the worker or a read retries it
                raise
            finally:
                with self._pending_lock:
                    self._applying -= taken

    def settle_for_read(self, company_id: str) -> None:
        """Before a read of a company: its queued work applied, by the server's writer when one
        runs (the read waits for that one apply), else here."""
        if self.settle is not None:
            self.settle(company_id)
        else:
            self.catch_up(company_id)

    def queued(self) -> set[str]:
        """The companies with recomputation queued or being applied."""
        with self._pending_lock:
            return self._pending.companies() | self._applying

    def queued_days(self) -> dict[str, frozenset[int]]:
        """What the next apply recomputes: each queued company's days (an empty set: only its
        events and calls)."""
        with self._pending_lock:
            days = {c: frozenset(d) for c, d in self._pending.days.items() if d}
            companies = self._pending.companies() | self._applying
        return {**dict.fromkeys(companies, frozenset()), **days}

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """The apply lock, then one store transaction: every writer of rollups takes them in
        this order (an import's last write and its rollups share one commit)."""
        with self._apply_lock, self.store.transaction():
            yield

    def apply(self, touched: Touched, progress: Callable[[int, int], None] | None = None) -> None:
        """Recompute what ``touched`` names: parents first (their first joins decide 'held')."""
        with self.transaction():
            self._apply(touched, progress)
            self._applied(touched.companies())

    def _apply(self, touched: Touched, progress: Callable[[int, int], None] | None) -> None:
        now = self.clock()
        # Companies whose parents and days one window recomputed: many at once where the store
        # can (a live batch of the platform's stream touches many companies), else one by one.
        done_in_one: set[str] = set()
        if self.store.batched_windows and len(touched.companies()) > 1:
            done_in_one = self._apply_in_windows(touched, now)
        for company_id in list(touched.parents):
            if company_id in done_in_one:
                continue
            parents = touched.parent_table(company_id)
            if not parents.num_rows:
                continue
            if self._apply_in_one_window(company_id, parents, touched, now):
                done_in_one.add(company_id)
            else:
                touched.days[company_id] |= self.recompute_parents(
                    company_id, parents, now, touched.joined.get(company_id)
                )
        todo = {c: d for c, d in touched.days.items() if c not in done_in_one}
        total = sum(len(d) for d in todo.values())
        done = 0
        for company_id, days in todo.items():
            for run in _runs(sorted(days)):
                self.recompute_days(company_id, run[0], run[-1], now)
                done += len(run)
                if progress:
                    progress(done, total)

    def _apply_in_windows(self, touched: Touched, now: int) -> set[str]:
        """:meth:`_apply_in_one_window` for many companies at once: one statement per step for
        all of them (their parents' stored stats, their windows' connections, the new stats,
        the first joins and instants their days read, the rollup rows), one sweep per company.
        Returns the companies done; the others (a bulk write, parents sharing a hash, a window
        too long) go one by one."""
        store = self.store
        cands: dict[str, tuple[bool, set[int], tuple[int, int] | None]] = {}
        touched_parents = touched.all_parents()
        has_parents = set(pc.unique(touched_parents.column("company_id")).to_pylist())
        companies = touched.companies()
        tzs = self.timezones(companies)
        local = _LocalDays()  # a few zones for all the batch's companies
        for company_id in companies:
            days = touched.days.get(company_id)
            if not days or store.exact_parents(company_id):
                continue
            joined = touched.joined.get(company_id)
            with_parents = company_id in has_parents
            if with_parents:
                if joined is None or local.one_window(tzs[company_id], days, *joined) is None:
                    continue
            elif not _few_days(min(days), max(days), days):
                continue
            cands[company_id] = (with_parents, days, joined)
        if not cands:
            return set()
        old = pa.table({"rid": pa.array([], pa.int64()), "company_id": pa.array([], pa.string())})
        shared: set[str] = set()
        bounds: dict[str, tuple[int, int]] = {}
        tagged = None
        if any(p for p, _, _ in cands.values()):
            wanted = pa.array([c for c, (p, _, _) in cands.items() if p], pa.string())
            tagged = touched_parents.filter(pc.is_in(touched_parents.column("company_id"), wanted))
            old, pks, shared = store.stats_of_parents(tagged)
            if old.num_rows:
                span = old.group_by("company_id").aggregate([("first_join", "min"), ("last_leave", "max")])
                bounds = {
                    c: (lo, hi)
                    for c, lo, hi in zip(*(span.column(k).to_pylist() for k in span.column_names), strict=True)
                }
        windows: dict[str, DayGrid] = {}
        for c, (with_parents, days, joined) in cands.items():
            tz = tzs[c]
            if not with_parents:
                windows[c] = local.grid(tz, min(days), max(days))
                continue
            if c in shared:
                continue
            assert joined is not None
            lo, hi = joined
            if c in bounds:
                lo, hi = min(lo, bounds[c][0]), max(hi, bounds[c][1] if bounds[c][1] is not None else hi)
            span = local.one_window(tz, days, lo, hi)
            if span is not None:
                windows[c] = local.grid(tz, *span)
        if not windows:
            return set()
        done = pa.array(list(windows), pa.string())
        done_old = old.filter(pc.is_in(old.column("company_id"), done))
        within = None
        if tagged is not None:
            within = tagged.append_column("code", pks)
            within = within.filter(pc.is_in(within.column("company_id"), done))
        self._sweep_windows(windows, within, done_old.column("rid").combine_chunks(), now)
        return set(windows)

    def _sweep_windows(
        self,
        windows: dict[str, DayGrid],
        within: pa.Table | None,
        old_rids: pa.Array,
        now: int,
        *,
        fresh: bool = False,
    ) -> None:
        """Recompute the days of each company's window (``windows``) and the stats of the
        parents whose connections all lie in it (``within``: company_id, parent_kind, parent_id
        and ``code``, the parent's code in the window's rows), replacing the stored stats rows
        ``old_rids``: one statement per step and one sweep for every company. ``fresh``: the
        days have no rollups (a rebuild cleared them).

        The sweep sees one timeline: each company's window is moved to begin where the previous
        one ends, and each connection is clipped to its company's window (what lies outside a
        window is outside its days anyway), so every day of the timeline is one company's day.
        Parents and people are numbered per company, so nothing of one company meets another's."""
        store = self.store
        names = list(windows)
        grids = [windows[c] for c in names]
        ndays = np.array([g.last - g.first + 1 for g in grids], dtype=np.int64)
        if len(names) > 1 and int(ndays.sum()) > TIMELINE_DAYS:  # more days than a key can number
            half = len(names) // 2
            for i, part in enumerate((names[:half], names[half:])):
                rids = old_rids if i == 0 else pa.array([], pa.int64())  # the first part deletes them all
                mine = None
                if within is not None:
                    mine = within.filter(pc.is_in(within.column("company_id"), pa.array(part, pa.string())))
                self._sweep_windows({c: windows[c] for c in part}, mine, rids, now, fresh=fresh)
            return
        t0 = np.array([g.start(g.first) for g in grids], dtype=np.int64)
        t1 = np.array([g.end(g.last) for g in grids], dtype=np.int64)
        base = np.concatenate(([0], np.cumsum(t1 - t0)))
        shift = base[:-1] - t0  # add to a company's instant: its place on the timeline
        day0 = np.concatenate(([0], np.cumsum(ndays)))  # timeline day of each company's first day
        timeline = DayGrid.of_starts(
            np.concatenate([g.starts[:-1] + shift[i] for i, g in enumerate(grids)] + [base[-1:]]).astype(np.int64)
        )
        company_of_day = np.repeat(np.arange(len(names)), ndays)
        spans = pa.table({"company_id": pa.array(names, pa.string()), "t0": pa.array(t0), "t1": pa.array(t1)})
        rows = store.connections_windows(spans, self.cap_us)
        cidx = pc.index_in(rows.column("company_id"), value_set=spans.column("company_id"))
        cidx_np = cidx.to_numpy(zero_copy_only=False).astype(np.int64)
        # Parents numbered per company: (company, code) pairs, sorted, are the numbers.
        pcode, pdict = _dense(rows.column("parent"))
        width = len(pdict) + 1
        pairs, parent = _sorted_codes(cidx_np * width + pcode)
        rows = rows.drop_columns(["company_id", "parent"]).append_column("parent", pa.array(parent))
        conns = to_connections(rows, len(pairs))
        conns.person = _per_company(conns.person, cidx_np)
        end = conns.effective_end(now, self.cap_us)
        zero = conns.joined == end
        joined = np.maximum(conns.joined, t0[cidx_np])
        moved = Connections(
            parent=conns.parent,
            template=conns.template,
            transport=conns.transport,
            joined=joined + shift[cidx_np],
            left=np.where(zero, joined, np.maximum(joined, np.minimum(end, t1[cidx_np]))) + shift[cidx_np],
            person=conns.person,
            client=conns.client,
            client_names=conns.client_names,
        )
        histories = self.limit_histories(names)
        limits = limit_steps(
            [(histories[c], grids[i].starts, int(day0[i])) for i, c in enumerate(names) if histories[c]], int(day0[-1])
        )
        fig = sweep_window(moved, timeline, now, self.cap_us, limits=limits)
        # Instants back from the timeline to each company's own.
        for metric, moved_at in fig.at.items():
            fig.at[metric] = np.where(moved_at == NO_TIME, NO_TIME, moved_at - shift[company_of_day])
        fig.block_at = np.where(fig.block_at == NO_TIME, NO_TIME, fig.block_at - shift[company_of_day[fig.block_day]])
        # The new stats replace the old ones first: 'held' reads them.
        stats = self._stats_within(names, within, pairs, pdict, width, conns, fig, now)
        store.replace_parent_stats(old_rids, stats)
        held = store.parent_first_joins_in(spans)
        fetched = dict(zip(_SOURCE_COLUMNS, store.instants_in_many(spans, _SOURCE_COLUMNS), strict=True))

        def day_of(table: pa.Table, column: str) -> np.ndarray:
            """The timeline day of each row's instant."""
            c = pc.index_in(table.column("company_id"), value_set=spans.column("company_id"))
            c_np = c.to_numpy(zero_copy_only=False).astype(np.int64)
            return timeline.day_of(table.column(column).to_numpy().astype(np.int64) + shift[c_np])

        total = int(day0[-1])
        held_day = day_of(held, "first_join")
        held_tpl = held.column("template").to_numpy().astype(np.int64)
        memo: dict[tuple[str, str, str | None, bool], np.ndarray] = {}

        def bucket(kind: str, column: str, value: str | None, cut: bool) -> np.ndarray:
            """Per timeline day: records (or their ``value``) with ``column`` that day (and, with
            ``cut``, not after now)."""
            key = (kind, column, value, cut)
            if key not in memo:
                t = fetched[(kind, column, value)]
                if cut:
                    t = t.filter(pc.less_equal(t.column("t"), now))
                weights = t.column("v").to_numpy().astype(np.float64) if value else None
                memo[key] = np.bincount(day_of(t, "t"), weights=weights, minlength=total).astype(np.int64)
            return memo[key]

        local_day = np.concatenate([np.arange(g.first, g.last + 1, dtype=np.int64) for g in grids])
        out_metric: list[np.ndarray] = []  # a metric's number: its place in metric_names
        out_day: list[np.ndarray] = []
        out_value: list[np.ndarray] = []
        out_at: list[np.ndarray] = []
        metric_names = [m.id for m in METRICS]

        def emit(metric: int, day: np.ndarray, values: np.ndarray, at: np.ndarray | None) -> None:
            # Only days with a figure are stored: a missing row reads as 0 (most company-days
            # of a platform with thousands of small companies are empty).
            kept = values != 0
            out_metric.append(np.full(int(kept.sum()), metric, dtype=np.int32))
            out_day.append(day[kept])
            out_value.append(values[kept].astype(np.int64))
            out_at.append(at[kept] if at is not None else np.full(int(kept.sum()), NO_TIME, dtype=np.int64))

        timeline_days = np.arange(total, dtype=np.int64)
        for i, m in enumerate(METRICS):
            at: np.ndarray | None = None
            if m.daily in ("peak", "parent_peak"):
                values, at = fig.values[m.id], fig.at[m.id]
            elif m.daily == "held":
                sel = np.isin(held_tpl, list(m.scope))
                values = np.bincount(held_day[sel], minlength=total)
            else:
                start, value, end_col = SOURCES[m.source]
                stock = m.daily == "stock"
                values = bucket(m.source, start, value, stock)
                if stock and end_col:
                    values = values - bucket(m.source, end_col, value, True)
            emit(i, timeline_days, values, at)
        for metric_id, figures in fig.breaches.items():
            for name, values in zip(BREACH_FIGURES, figures, strict=True):
                metric_names.append(breach_id(metric_id, name))
                emit(len(metric_names) - 1, timeline_days, values, None)
        for metric_id, hours in fig.hours.items():
            for hour, values in _hours_with_figures(hours):
                metric_names.append(hour_id(metric_id, hour))
                emit(len(metric_names) - 1, timeline_days, values, None)
        client_day, client_metric, client_value = [], [], []
        for day, per_client in fig.clients.items():
            for client, n in per_client.items():
                client_day.append(day)
                client_metric.append(CLIENT_PREFIX + client)
                client_value.append(n)
        if client_day:
            client_names = sorted(set(client_metric))
            number = {c: len(metric_names) + i for i, c in enumerate(client_names)}
            metric_names += client_names
            out_metric.append(np.array([number[c] for c in client_metric], dtype=np.int32))
            out_day.append(np.array(client_day, dtype=np.int64))
            out_value.append(np.array(client_value, dtype=np.int64))
            out_at.append(np.full(len(client_day), NO_TIME, dtype=np.int64))
        row_day = np.concatenate(out_day)
        company_col = pa.array(names, pa.string())
        day_rows = pa.table(
            {
                "company_id": company_col.take(pa.array(company_of_day[row_day])),
                "day": pa.array(local_day[row_day], pa.int32()),
                "metric": pa.array(metric_names, pa.string()).take(pa.array(np.concatenate(out_metric))),
                "value": pa.array(np.concatenate(out_value)),
                "at": _nullable(np.concatenate(out_at)),
            }
        )
        days = pa.table(
            {"company_id": company_col.take(pa.array(company_of_day)), "day": pa.array(local_day, pa.int32())}
        )
        (store.write_new_days_of if fresh else store.write_days_of)(days, day_rows, now)

    def _stats_within(
        self,
        names: list[str],
        within: pa.Table | None,
        pairs: np.ndarray,
        pdict: pa.Array,
        width: int,
        conns: Connections,
        fig: WindowFigures,
        now: int,
    ) -> pa.Table:
        """The stats (with ``company_id``) of the parents ``within`` whose connections all lie
        in their company's window, from the timeline's rows and blocks. A row's parent is the
        number of its (company, code) pair in ``pairs`` (company * width + position of the code
        in ``pdict``), so two companies' equal codes never meet."""
        if within is None or within.num_rows == 0:
            return _with_company("", PARENT_STATS_SCHEMA.empty_table())
        owner = pc.index_in(within.column("company_id"), value_set=pa.array(names, pa.string()))
        code = pc.fill_null(pc.index_in(within.column("code"), value_set=pdict), -1)
        key = owner.to_numpy(zero_copy_only=False).astype(np.int64) * width + code.to_numpy(
            zero_copy_only=False
        ).astype(np.int64)
        number = np.minimum(np.searchsorted(pairs, key), len(pairs) - 1)
        number = np.where((pairs[number] == key) & (code.to_numpy(zero_copy_only=False) >= 0), number, -1)
        return self._window_stats(
            within.select(["company_id", "parent_kind", "parent_id"]),
            pa.array(number),
            pa.chunked_array([pa.array(conns.parent)]),
            conns,
            fig,
            now,
        )

    def _apply_in_one_window(self, company_id: str, parents: pa.Table, touched: Touched, now: int) -> bool:
        """Recompute the touched parents and days of a company from one fetch and sweep, as a
        rebuild's window does, when every connection of those parents lies within a few days
        that hold the touched ones (a live batch), which are then all done. False when not.

        The stored connections of a touched parent all joined within its stored [first_join,
        last_leave] or within the joined_at range of the versions written since (see
        :meth:`recompute_parents`), so a window from the first of those days to the last holds
        all of them, and every day whose 'held' count they change."""
        store = self.store
        days, joined = touched.days.get(company_id), touched.joined.get(company_id)
        if not days or joined is None:
            return False
        tz = self.timezone(company_id)
        local = _LocalDays()

        def window(lo: int, hi: int) -> tuple[int, int] | None:
            return local.one_window(tz, days, lo, hi)

        if window(*joined) is None:  # a bulk write: decided before the stored stats are read
            return False
        old = store.parent_first_joins_of(company_id, parents)
        lo, hi = joined
        if old.num_rows:
            lo = min(lo, pc.min(old.column("first_join")).as_py())
            hi = max(hi, pc.max(old.column("last_leave")).as_py())
        span = window(lo, hi)
        if span is None:
            return False
        first, last = span
        codes = store.window_codes(company_id, parents)
        if codes is None:  # two parents may share a code: recompute them alone
            return False
        swept = self.sweep_days(company_id, first, last, now, parents, codes)
        rows = self.compute_days(company_id, first, last, now, swept)
        store.write_days(company_id, list(range(first, last + 1)), rows, now)
        return True

    # --- events and calls --------------------------------------------------------------------
    def recompute_parents(
        self, company_id: str, all_parents: pa.Table, now: int, joined: tuple[int, int] | None = None
    ) -> set[int]:
        """Recompute the stats of these events/calls (parent_kind, parent_id); returns the days
        whose 'held' counts may change.

        ``joined``: the joined_at range of every version written since these stats were last
        right. The stored connections of a parent then all joined within its old
        [first_join, last_leave] or within that range, which bounds the lookup in time. Parents
        listed with ``lo``/``hi`` (the joined_at range of all their connections, in order of
        ``lo``: a rebuild) bound each chunk's lookup by those."""
        store = self.store
        tz = self.timezone(company_id)
        days: set[int] = set()
        bounded = "lo" in all_parents.column_names
        for i in range(0, all_parents.num_rows, PARENT_CHUNK):
            chunk = all_parents.slice(i, PARENT_CHUNK)
            parents = chunk.select(["parent_kind", "parent_id"])
            old = store.parent_first_joins_of(company_id, parents)
            firsts = old.column("first_join").to_numpy().astype(np.int64)
            lo = hi = None
            if bounded:
                lo, hi = pc.min(chunk.column("lo")).as_py(), pc.max(chunk.column("hi")).as_py()
            elif joined is not None:
                lo = min(joined[0], int(firsts.min()) if len(firsts) else joined[0])
                hi = max(joined[1], pc.max(old.column("last_leave")).as_py() or joined[1])
            rows = store.connections_of_parents(company_id, parents, lo, hi)
            stats = self.parent_stats(parents, rows, tz, now)
            firsts = np.concatenate((firsts, stats.column("first_join").to_numpy().astype(np.int64)))
            if len(firsts):
                days |= _days_spanned(tz, firsts, firsts)
            store.put_parent_stats(company_id, parents, stats)
        return days

    def parent_stats(self, parents: pa.Table, rows: pa.Table, tz: str, now: int) -> pa.Table:
        """Per event/call of ``parents`` that has connections (``rows``, whose ``parent`` is a row
        number of ``parents``): template, first join, last leave, open, connections, distinct
        participants, peak concurrent connections and its first instant."""
        if rows.num_rows == 0:
            return PARENT_STATS_SCHEMA.empty_table()
        conns = to_connections(rows, parents.num_rows)
        end = conns.effective_end(now, self.cap_us)
        grid = DayGrid.covering(tz, int(conns.joined.min()), int(end.max()))
        return self._stats_table(parents, conns, sweep_window(conns, grid, now, self.cap_us, days=False), now)

    def _stats_table(self, parents: pa.Table, conns: Connections, fig: WindowFigures, now: int) -> pa.Table:
        """Stats rows of the ``parents`` that have connections: ``conns`` are all of theirs (their
        ``parent`` a row number of ``parents``), ``fig`` their (parent, day) blocks."""
        from . import kernels

        n = parents.num_rows
        peak, peak_at = kernels.parent_peaks(fig.block_parent, fig.block_day, fig.block_peak, fig.block_at, n)
        is_open_conn = conns.left == NO_TIME
        cap_end = np.where(is_open_conn & (conns.joined + self.cap_us > now), conns.joined + self.cap_us, NO_TIME)
        # The template of the first connection (lowest code on ties) classifies the parent.
        first_join, last_leave, template, is_open, open_until, count = kernels.parent_rows(
            conns.parent, conns.joined, conns.effective_end(now, self.cap_us), conns.template, is_open_conn, cap_end, n
        )
        pairs = distinct(conns.parent * (int(conns.person.max()) + 1) + conns.person)
        participants = np.bincount(pairs // (int(conns.person.max()) + 1), minlength=n)
        has = count > 0
        keys = parents.filter(pa.array(has))
        company = {}
        if "company_id" in parents.column_names:
            company = {"company_id": keys.column("company_id").combine_chunks()}
        return pa.table(
            {
                **company,
                "parent_kind": keys.column("parent_kind").combine_chunks(),
                "parent_id": keys.column("parent_id").combine_chunks(),
                "template": pa.array(template[has], pa.int8()),
                "first_join": pa.array(first_join[has]),
                "last_leave": pa.array(last_leave[has]),
                "is_open": pa.array(is_open[has]),
                "connections": pa.array(count[has].astype(np.int64)),
                "participants": pa.array(participants[has].astype(np.int64)),
                "peak": pa.array(peak[has]),
                "peak_at": _nullable(peak_at[has]),
                "open_until": _nullable(open_until[has]),
            }
        )

    # --- company-days ------------------------------------------------------------------------
    def recompute_days(self, company_id: str, first: int, last: int, now: int) -> None:
        """Recompute every metric of the days ``first .. last`` and store them."""
        for lo in range(first, last + 1, WINDOW_DAYS):
            hi = min(last, lo + WINDOW_DAYS - 1)
            rows = self.compute_days(company_id, lo, hi, now)
            self.store.write_days(company_id, list(range(lo, hi + 1)), rows, now)

    def sweep_days(
        self,
        company_id: str,
        first: int,
        last: int,
        now: int,
        parents: pa.Table | None = None,
        codes: pa.Array | pa.ChunkedArray | None = None,
        fetch: WindowFetch | None = None,
    ) -> Swept:
        """Fetch the connections of the days ``first .. last`` (at most WINDOW_DAYS of them) and
        sweep them, with the stats of ``parents`` (events and calls whose connections all lie
        within these days; ``codes``: what identifies each in the window's rows). Nothing is
        written, so a worker thread may do this with a ``fetch`` of its own (the store's
        window_reader)."""
        grid = DayGrid(self.timezone(company_id), first, last)
        fetch = fetch or self.store.connections_window
        rows = fetch(company_id, grid.start(first), grid.end(last), self.cap_us)
        conns = to_connections(rows)
        history = self.limit_histories([company_id])[company_id]
        limits = limit_steps([(history, grid.starts, 0)], last - first + 1)
        fig = sweep_window(conns, grid, now, self.cap_us, limits=limits)
        if parents is None or codes is None or parents.num_rows == 0:
            return Swept(grid, fig, None, None)
        return Swept(grid, fig, parents, self._window_stats(parents, codes, rows.column("parent"), conns, fig, now))

    def compute_days(
        self,
        company_id: str,
        first: int,
        last: int,
        now: int,
        swept: Swept | None = None,
        *,
        replace: bool = True,
        held: pa.Table | None = None,
    ) -> pa.Table:
        """The rollup rows of the days ``first .. last`` (at most WINDOW_DAYS of them: one fetch),
        from their sweep (:meth:`sweep_days`, done here when not given).

        Stats of parents the sweep computed are stored first, since 'held' reads them (unless
        ``held`` is given: the template and first join of every parent first joined in the days);
        ``replace=False`` when none of them is stored yet."""
        store = self.store
        swept = swept or self.sweep_days(company_id, first, last, now)
        grid = swept.grid
        if swept.parents is not None:
            store.put_parent_stats(company_id, swept.parents, swept.stats, replace=replace)
        if held is None:
            held = store.parent_first_joins(company_id, grid.start(first), grid.end(last))

        def instants(kind: str, column: str, value: str | None, t0: int, t1: int) -> pa.Table:
            return store.instants(kind, company_id, column, t0, t1, value)

        with store.instants_scope():
            return self._day_rows(first, last, now, swept, held, instants)

    def _day_rows(
        self,
        first: int,
        last: int,
        now: int,
        swept: Swept,
        held: pa.Table,
        instants: Callable[[str, str, str | None, int, int], pa.Table],
    ) -> pa.Table:
        """The rollup rows of the days ``first .. last`` of one company from their sweep, the
        first joins of the parents held in them (``held``: template, first_join) and its
        records' instants (``instants(kind, column, value, t0, t1)``: t[, v] in [t0, t1))."""
        grid, fig = swept.grid, swept.fig
        ndays = last - first + 1
        out_day: list[np.ndarray] = []
        out_metric: list[str] = []
        out_value: list[np.ndarray] = []
        out_at: list[np.ndarray] = []
        days = np.arange(first, last + 1, dtype=np.int64)

        def emit(metric: str, values: np.ndarray, at: np.ndarray | None = None) -> None:
            out_day.append(days)
            out_metric.extend([metric] * ndays)
            out_value.append(values.astype(np.int64))
            out_at.append(at if at is not None else np.full(ndays, NO_TIME, dtype=np.int64))

        held_day = grid.day_of(held.column("first_join").to_numpy().astype(np.int64)) - first
        held_tpl = held.column("template").to_numpy().astype(np.int64)
        memo: dict[tuple[str, str, str | None, int], np.ndarray] = {}
        for m in METRICS:
            if m.daily in ("peak", "parent_peak"):
                emit(m.id, fig.values[m.id], fig.at[m.id])
            elif m.daily == "held":
                sel = np.isin(held_tpl, list(m.scope))
                emit(m.id, np.bincount(held_day[sel], minlength=ndays))
            else:
                start, value, end = SOURCES[m.source]
                stock = m.daily == "stock"
                emit(
                    m.id,
                    _bucket(instants, m.source, start, value, grid, now if stock else None, memo)
                    - (_bucket(instants, m.source, end, value, grid, now, memo) if stock and end else 0),
                )
        for metric_id, figures in fig.breaches.items():
            for name, values in zip(BREACH_FIGURES, figures, strict=True):
                emit(breach_id(metric_id, name), values)
        for metric_id, hours in fig.hours.items():
            for hour, values in _hours_with_figures(hours):
                emit(hour_id(metric_id, hour), values)
        for day, per_client in fig.clients.items():
            for client, n in per_client.items():
                out_day.append(np.array([day], dtype=np.int64))
                out_metric.append(CLIENT_PREFIX + client)
                out_value.append(np.array([n], dtype=np.int64))
                out_at.append(np.array([NO_TIME], dtype=np.int64))
        at = np.concatenate(out_at)
        all_values = np.concatenate(out_value)
        kept = all_values != 0  # only days with a figure are stored: a missing row reads as 0
        return pa.table(
            {
                "day": pa.array(np.concatenate(out_day)[kept], pa.int32()),
                "metric": pa.array(out_metric, pa.string()).filter(pa.array(kept)),
                "value": pa.array(all_values[kept]),
                "at": _nullable(at[kept]),
            }
        )

    def _window_stats(
        self,
        parents: pa.Table,
        codes: pa.Array | pa.ChunkedArray,
        row_parent: pa.ChunkedArray,
        conns: Connections,
        fig: WindowFigures,
        now: int,
    ) -> pa.Table:
        """The stats of ``parents`` (``codes``: what identifies each) from a window's connections
        (``row_parent``: the code of each one's parent) and blocks; the window holds every
        connection of theirs."""
        pos = pc.fill_null(pc.index_in(row_parent, value_set=codes), -1)
        pos = pos.to_numpy(zero_copy_only=False).astype(np.int64)
        mine = pos >= 0
        if not mine.any():
            return PARENT_STATS_SCHEMA.empty_table()
        # Window parent codes -> rows of ``parents``; blocks of other parents are left out.
        row_of_code = np.full(int(conns.parent.max()) + 1, -1, dtype=np.int64)
        row_of_code[conns.parent[mine]] = pos[mine]
        block_row = row_of_code[fig.block_parent]
        kept = block_row >= 0
        theirs = conns.take(mine, parent=pos[mine])
        blocks = WindowFigures(
            {}, {}, {}, block_row[kept], fig.block_day[kept], fig.block_peak[kept], fig.block_at[kept]
        )
        keys = [c for c in ("company_id", "parent_kind", "parent_id") if c in parents.column_names]
        return self._stats_table(parents.select(keys), theirs, blocks, now)

    # --- volatility and rebuild --------------------------------------------------------------
    def fresh_days(
        self, company_id: str, last: int, computed: dict[int, int] | None = None
    ) -> tuple[list[int], pa.Table | None]:
        """The days up to ``last`` computed before they ended (their figures depend on the clock:
        an open connection, a file deleted later), recomputed now without storing them, so a read
        never waits for the writer: (those days, their rows). Days that have ended since are
        queued for the writer, which stores them at its next tick (see :meth:`catch_up`). Daily
        figures never read event stats that move with the clock ('held' uses first joins)."""
        now = self.clock()
        if computed is None:  # (when each day up to ``last`` was computed: a read may have it)
            computed = self.store.computed_days(company_id, -(2**31), last)
        # A day ends at most 14 hours after its UTC midnight: the zone decides the rest.
        maybe = {d: at for d, at in computed.items() if at < (d + 2) * DAY_US and now > at}
        if not maybe:
            return [], None
        tz = self.timezone(company_id)
        grid = DayGrid(tz, min(maybe), max(maybe))
        stale = sorted(d for d, at in maybe.items() if at < grid.end(d))
        if not stale:
            return [], None
        days: list[int] = []
        rows = []
        for run in _runs(stale):
            for lo in range(run[0], run[-1] + 1, WINDOW_DAYS):
                hi = min(run[-1], lo + WINDOW_DAYS - 1)
                rows.append(self.compute_days(company_id, lo, hi, now))
                days.extend(range(lo, hi + 1))
        grid = DayGrid(tz, days[0], days[-1])
        ended = {d for d in days if grid.end(d) <= now}
        if ended:
            with self._pending_lock:
                self._ended.days[company_id] |= ended
        return days, pa.concat_tables(rows)

    def fresh_open_stats(self, company_id: str) -> pa.Table | None:
        """The stats of the events/calls with an open connection (their last leave, duration and
        peak move with the clock), recomputed now without storing them; None when there are none."""
        open_parents = self.store.open_parents(company_id)
        if not open_parents.num_rows:
            return None
        # Every connection of theirs joined at or after their stored first join (an earlier one
        # would have been queued work, applied before the read).
        lo = pc.min(open_parents.column("first_join")).as_py()
        parents = open_parents.select(["parent_kind", "parent_id"])
        rows = self.store.read_connections_of(company_id, parents, lo)
        return self.parent_stats(parents, rows, self.timezone(company_id), self.clock())

    def refresh_open_parents(self, company_id: str, now: int | None = None) -> None:
        """Recompute the events/calls that still have an open connection (their last leave,
        duration and peak move with the clock)."""
        open_parents = self.store.open_parents(company_id)
        if open_parents.num_rows:
            with self.transaction():
                parents = open_parents.select(["parent_kind", "parent_id"])
                self.recompute_parents(company_id, parents, self.clock() if now is None else now)

    def rebuild(self, company_id: str, progress: Callable[[int, int], None] | None = None) -> None:
        """Recompute every rollup of a company from its raw records. A store with a window
        reader fetches and sweeps the next window of days in a thread while this one writes."""
        with self.store.window_reader() as fetch, self.transaction():
            self._rebuild(company_id, progress, fetch)
            self._applied({company_id})

    def rebuild_many(self, companies: Iterable[str], progress: Callable[[int, int], None] | None = None) -> None:
        """:meth:`rebuild` of many companies (a bulk import of the platform's history, a full
        rebuild): their windows of days are swept together, one statement per step for all of
        them, so a thousand small companies cost about what one large one does."""
        names = sorted(set(companies))
        if len(names) < 2 or not self.store.batched_windows:
            for company_id in names:
                self.rebuild(company_id, progress)
            return
        with self.transaction():
            self._rebuild_many(names, progress)
            self._applied(set(names))

    def _rebuild_many(self, names: list[str], progress: Callable[[int, int], None] | None) -> None:
        store = self.store
        now = self.clock()
        store.clear_rollups_of(names)
        for company_id in [c for c in names if store.exact_parents(c)]:
            self._rebuild(company_id, None, None)
        names = [c for c in names if not store.exact_parents(c)]
        bounds = store.time_bounds_of(names)
        if not bounds:
            return
        tzs = self.timezones(list(bounds))
        names = list(bounds)
        lo_day = np.array([day_number(local_date(bounds[c][0], tzs[c])) for c in names], dtype=np.int64)
        hi_day = np.array(
            [day_number(local_date(max(bounds[c][1], bounds[c][0]) + self.cap_us, tzs[c])) for c in names],
            dtype=np.int64,
        )
        origin = int(lo_day.min())  # windows of WINDOW_DAYS from here, for all
        # One grid per timezone (companies share a few) from the origin to the last day.
        grids: dict[str, DayGrid] = {}
        for tz in sorted(set(tzs.values())):
            grids[tz] = DayGrid(tz, origin, int(hi_day.max()) + 1)
        parents = store.all_parents_of(names, self.cap_us)
        owner = pc.index_in(parents.column("company_id"), value_set=pa.array(names, pa.string()))
        owner_np = owner.to_numpy(zero_copy_only=False).astype(np.int64)
        shared = _sharing_codes(parents, owner_np)
        if shared:
            # Two events or calls of these companies share a code, which the day sweep could not
            # tell apart: they are rebuilt alone (grouped by ids from then on), the rest together.
            for i in sorted(shared):
                self._rebuild(names[i], None, None)
            rest = [c for i, c in enumerate(names) if i not in shared]
            if rest:
                self._rebuild_many(rest, progress)
            return
        window = self._windows_of(parents, owner_np, [tzs[c] for c in names], grids, hi_day, origin)
        crossing = parents.filter(pa.array(window < 0))
        if crossing.num_rows:
            self._recompute_parents_of(crossing, now)
        total = int((hi_day - lo_day + 1).sum())
        done = 0
        last_window = int((hi_day.max() - origin) // WINDOW_DAYS)
        # The parents of each window, in one pass: sorted by window.
        order = np.argsort(window, kind="stable")
        cuts = np.searchsorted(window[order], np.arange(last_window + 2))
        within_all = parents.select(["company_id", "parent_kind", "parent_id", "parent"]).rename_columns(
            ["company_id", "parent_kind", "parent_id", "code"]
        )
        no_rids = pa.array([], pa.int64())
        for k in range(last_window + 1):
            first, last = origin + k * WINDOW_DAYS, origin + (k + 1) * WINDOW_DAYS - 1
            windows: dict[str, DayGrid] = {}
            for i in np.flatnonzero((hi_day >= first) & (lo_day <= last)).tolist():
                c = names[i]
                windows[c] = grids[tzs[c]].part(max(int(lo_day[i]), first), min(int(hi_day[i]), last))
                done += windows[c].last - windows[c].first + 1
            if windows:
                within = within_all.take(pa.array(order[cuts[k] : cuts[k + 1]]))
                self._sweep_windows(windows, within, no_rids, now, fresh=True)
                if progress:
                    progress(done, total)

    def _windows_of(
        self,
        parents: pa.Table,
        owner: np.ndarray,
        tz_of: list[str],
        grids: dict[str, DayGrid],
        hi_day: np.ndarray,
        origin: int,
    ) -> np.ndarray:
        """For :meth:`all_parents_of` rows (their company's number ``owner``): the window of
        WINDOW_DAYS days from ``origin`` that holds every connection of each, or -1 when none
        does (it crosses a window's edge)."""
        window = np.full(parents.num_rows, -1, dtype=np.int64)
        if parents.num_rows == 0:
            return window
        lo = parents.column("lo").to_numpy().astype(np.int64)
        end = parents.column("end").to_numpy().astype(np.int64)
        for tz in grids:
            rows = np.flatnonzero(np.array(tz_of)[owner] == tz)
            if len(rows) == 0:
                continue
            grid = grids[tz]
            w = (grid.day_of(lo[rows]) - origin) // WINDOW_DAYS
            end_day = np.minimum(origin + (w + 1) * WINDOW_DAYS, hi_day[owner[rows]] + 1)
            # A window fetches connections joined before its end: one joined at it (zero-length)
            # belongs to the next, so such an event is fetched alone too.
            window[rows] = np.where(end[rows] >= grid.starts[end_day - grid.first], -1, w)
        return window

    def _recompute_parents_of(self, parents: pa.Table, now: int) -> None:
        """The stats of many companies' events/calls (:meth:`all_parents_of` rows, in order of
        their first join) when none is stored (a rebuild): one fetch and sweep per chunk."""
        store = self.store
        no_rids = pa.array([], pa.int64())
        order = pc.sort_indices(parents, sort_keys=[("lo", "ascending")])
        parents = parents.take(order)
        for i in range(0, parents.num_rows, PARENT_CHUNK):
            chunk = parents.slice(i, PARENT_CHUNK)
            rows = store.connections_of_parents_of(chunk)
            # A parent's stats do not depend on the zone: its day blocks only split the sweep.
            stats = self.parent_stats(chunk.select(["company_id", "parent_kind", "parent_id"]), rows, "UTC", now)
            store.replace_parent_stats(no_rids, stats)

    def _rebuild(self, company_id: str, progress: Callable[[int, int], None] | None, fetch: WindowFetch | None) -> None:
        store = self.store
        now = self.clock()
        store.clear_rollups(company_id)
        bounds = store.time_bounds(company_id)
        if bounds is None:
            return
        tz = self.timezone(company_id)
        lo = day_number(local_date(bounds[0], tz))
        hi = day_number(local_date(max(bounds[1], bounds[0]) + self.cap_us, tz))
        # An event/call whose connections all lie within one window of days gets its stats from
        # that window's fetch and sweep; the others (few: they cross a window's edge) first, alone.
        parents = store.all_parents(company_id, self.cap_us)
        window = np.full(parents.num_rows, -1, dtype=np.int64)
        if parents.num_rows and pc.count_distinct(parents.column("parent")).as_py() == parents.num_rows:
            first = parents.column("lo").to_numpy().astype(np.int64)
            grid = DayGrid(tz, lo, hi + 1)
            window = (grid.day_of(first) - lo) // WINDOW_DAYS
            window_end = grid.starts[np.minimum((window + 1) * WINDOW_DAYS, hi + 1 - lo)]
            # A window fetches connections joined before its end: one joined at it (zero-length)
            # belongs to the next, so such an event is fetched alone too.
            window[parents.column("end").to_numpy().astype(np.int64) >= window_end] = -1
        self.recompute_parents(company_id, parents.filter(pa.array(window < 0)), now)
        # The parents held in a window are its own (the sweep's stats) and those crossing an
        # edge first joined in it: the latter are all that is stored yet, read once.
        crossing = store.parent_first_joins(company_id, -(2**62), 2**62)
        spans = [(d, min(hi, d + WINDOW_DAYS - 1)) for d in range(lo, hi + 1, WINDOW_DAYS)]

        def held_in(swept: Swept, t0: int, t1: int) -> pa.Table:
            parts = [crossing]
            if swept.stats is not None:
                parts.append(swept.stats.select(crossing.column_names).cast(crossing.schema))
            both = pa.concat_tables(parts)
            joined = both.column("first_join")
            return both.filter(pc.and_(pc.greater_equal(joined, t0), pc.less(joined, t1)))

        def sweep(span: tuple[int, int]) -> Swept:
            within = parents.filter(pa.array(window == (span[0] - lo) // WINDOW_DAYS))
            return self.sweep_days(company_id, *span, now, within, within.column("parent"), fetch)

        # The worker's fetch ends before the reader's connection closes, an error here or not.
        with closing(ahead(sweep, spans, workers=1, depth=1) if fetch else (sweep(s) for s in spans)) as sweeps:
            for (d, last), swept in zip(spans, sweeps, strict=True):
                held = held_in(swept, swept.grid.start(d), swept.grid.end(last))
                rows = self.compute_days(company_id, d, last, now, swept, replace=False, held=held)
                store.write_days(company_id, list(range(d, last + 1)), rows, now, replace=False)
                if progress:
                    progress(last - lo + 1, hi - lo + 1)


def _bucket(
    instants: Callable[[str, str, str | None, int, int], pa.Table],
    kind: str,
    column: str,
    value: str | None,
    grid: DayGrid,
    cutoff: int | None,
    memo: dict[tuple[str, str, str | None, int], np.ndarray],
) -> np.ndarray:
    """Per day of the grid: how many records (or how much ``value``) have ``column`` that day
    (and not after ``cutoff``). ``memo`` keeps the answers of one grid: a stock and a flow of
    past days read the same records."""
    t0, t1 = grid.start(grid.first), grid.end(grid.last)
    if cutoff is not None:
        t1 = min(t1, cutoff + 1)
    ndays = grid.last - grid.first + 1
    if t1 <= t0:
        return np.zeros(ndays, dtype=np.int64)
    key = (kind, column, value, t1)
    if key not in memo:
        tbl = instants(kind, column, value, t0, t1)
        times = tbl.column("t").to_numpy().astype(np.int64)
        idx = grid.day_of(times) - grid.first
        weights = tbl.column("v").to_numpy().astype(np.float64) if value else None
        memo[key] = np.bincount(idx, weights=weights, minlength=ndays).astype(np.int64)
    return memo[key]


def _hours_with_figures(hours: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    """Each hour (a column of per-day ``hours``) with a figure on any day, and its days' values;
    the hours are read from a contiguous copy (a column of a long timeline reads slowly)."""
    by_hour = np.ascontiguousarray(hours.T)
    for hour in np.flatnonzero(by_hour.any(axis=1)).tolist():
        yield hour, by_hour[hour]


def _per_company(codes: np.ndarray, company: np.ndarray) -> np.ndarray:
    """Dense codes of (company, code) pairs: equal codes of two companies become two."""
    if len(codes) == 0:
        return codes
    return _sorted_codes(company * (int(codes.max()) + 1) + codes)[1]


class _LocalDays:
    """Local days of many companies' instants and their grids, one grid per timezone that grows
    to what is asked (a batch's thousand companies share a few zones: a grid each would cost a
    day-start computation per day and company)."""

    def __init__(self) -> None:
        self._grids: dict[str, tuple[DayGrid, list[int]]] = {}  # with its day starts as a list

    def _covering(self, tz: str, first: int, last: int) -> tuple[DayGrid, list[int]]:
        got = self._grids.get(tz)
        if got is None or first < got[0].first or last > got[0].last:
            lo, hi = (first, last) if got is None else (min(first, got[0].first), max(last, got[0].last))
            g = DayGrid(tz, lo, hi)
            got = self._grids[tz] = (g, g.starts.tolist())
        return got

    def grid(self, tz: str, first: int, last: int) -> DayGrid:
        """The grid of the days ``first .. last`` of ``tz``."""
        return self._covering(tz, first, last)[0].part(first, last)

    def day(self, tz: str, t: int) -> int:
        """The local day number of the instant ``t``."""
        got = self._grids.get(tz)
        if got is None or not got[1][0] <= t < got[1][-1]:
            d = day_number(local_date(t, tz))
            got = self._covering(tz, d, d)
        return bisect.bisect_right(got[1], t) - 1 + got[0].first

    def one_window(self, tz: str, days: set[int], lo: int, hi: int) -> tuple[int, int] | None:
        """The days from the first to the last of ``days`` and of the instants ``lo .. hi``, when
        they are few (a live batch's): then one fetch and sweep recomputes them all."""
        first, last = min(min(days), self.day(tz, lo)), max(max(days), self.day(tz, hi))
        return (first, last) if _few_days(first, last, days) else None


def _few_days(first: int, last: int, days: set[int]) -> bool:
    """Whether the days ``first .. last`` that hold ``days`` are few enough for one window."""
    return last - first + 1 <= min(WINDOW_DAYS, len(days) + 2)


def _with_company(company_id: str, table: pa.Table) -> pa.Table:
    return table.add_column(0, "company_id", pa.array([company_id] * table.num_rows, pa.string()))


# (kind, column, value) of every instant a day's flows and stocks count (see _day_rows).
_SOURCE_COLUMNS = sorted(
    {
        (m.source, col, SOURCES[m.source][1])
        for m in METRICS
        if m.daily not in ("peak", "parent_peak", "held")
        for col in (SOURCES[m.source][0], SOURCES[m.source][2] if m.daily == "stock" else None)
        if col is not None
    },
    key=str,
)


def _by_company(table: pa.Table) -> Iterator[tuple[str, pa.Table]]:
    """The rows of each company, in one pass over the table (a batch may touch thousands)."""
    codes, names = _dense(table.column("company_id"))
    if len(names) == 1:
        yield names[0].as_py(), table
        return
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(names) + 1))
    grouped = table.take(order)  # one take; each company's rows are a slice of it
    for i, company_id in enumerate(names.to_pylist()):
        yield company_id, grouped.slice(bounds[i], bounds[i + 1] - bounds[i])


def _nullable(values: np.ndarray) -> pa.Array:
    """Instants as an Arrow column, NO_TIME as null."""
    return pa.array(values.astype(np.int64), pa.int64(), mask=values == NO_TIME)


def _sharing_codes(parents: pa.Table, owner: np.ndarray) -> set[int]:
    """The companies (numbers in ``owner``) where two of :meth:`all_parents_of`'s events or
    calls share a window code."""
    if parents.num_rows == 0:
        return set()
    code = parents.column("parent").combine_chunks().cast(pa.uint64()).to_numpy(zero_copy_only=False)
    by = np.lexsort((code, owner))
    same = (owner[by][1:] == owner[by][:-1]) & (code[by][1:] == code[by][:-1])
    return set(owner[by][1:][same].tolist())


def _company_days(company: np.ndarray, start: np.ndarray, end: np.ndarray, zones: list[str]) -> list[tuple[int, int]]:
    """The distinct (company, local day) pairs from each start's day to each end's day
    (inclusive), ``company`` numbering ``zones`` (each company's timezone): one grid per zone."""
    if len(company) == 0:
        return []
    zone_of = np.array(zones, dtype=object)[company]
    keys: list[np.ndarray] = []
    for tz in set(zones):
        rows = np.flatnonzero(zone_of == tz)
        if len(rows) == 0:
            continue
        grid = DayGrid.covering(tz, int(start[rows].min()), int(end[rows].max()))
        d0, d1 = grid.day_of(start[rows]), grid.day_of(end[rows])
        span = d1 - d0
        for k in range(int(span.max()) + 1):
            sel = span >= k
            keys.append(company[rows][sel] * (1 << 32) + (d0[sel] + k + (1 << 31)))
    unique = np.unique(np.concatenate(keys))
    return list(zip((unique >> 32).tolist(), ((unique & 0xFFFFFFFF) - (1 << 31)).tolist(), strict=True))


def _days_spanned(tz: str, start: np.ndarray, end: np.ndarray) -> set[int]:
    """Local day numbers from each start's day to each end's day (inclusive)."""
    return {day for _, day in _company_days(np.zeros(len(start), dtype=np.int64), start, end, [tz])}


def _runs(days: list[int]) -> list[list[int]]:
    """Sorted days grouped into runs of consecutive days (small gaps bridged)."""
    runs: list[list[int]] = []
    for d in days:
        if runs and d - runs[-1][-1] <= 3:
            runs[-1].extend(range(runs[-1][-1] + 1, d + 1))
        else:
            runs.append([d])
    return runs
