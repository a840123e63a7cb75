"""The analytic store's interface: what ingest, the rollups and the queries ask of a backend.

DuckDB (``store/duckdb.py``) and ClickHouse (``store/clickhouse.py``) both subclass
:class:`AnalyticStore`, so the type checker holds each to every member: a third backend is one
class that implements these. Optional abilities are members with defaults here (a store without
transactions, or without a second connection to read windows on), never probed with ``getattr``.

Instants are epoch microseconds; days are local day numbers of the company's timezone
(``timeutil.day_number``); tables are Arrow tables whose columns the docstrings name. Domain
rules (what replaces what, what a metric counts) live in ``metrics/`` and ``store/schema.py``;
a backend only stores and fetches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import pyarrow as pa


@dataclass(frozen=True)
class TableQuery:
    """A dashboard table's query in each dialect (metrics/table_sql.py): the stores run theirs.
    ``tie``: ClickHouse's tie-break after the sort column (DuckDB orders by the first two)."""

    duckdb: str
    clickhouse: str
    tie: str


# (company, t0, t1, cap_us) -> the connections of that window (see connections_window).
WindowFetch = Callable[[str, int, int, int], pa.Table]


class AnalyticStore(Protocol):
    """Raw records with replace semantics, per company-day rollups and per event/call stats."""

    backend: ClassVar[str]
    read_only: bool
    # Rows a bulk write appends at once (DuckDB's row group): an import keeps a kind's last
    # partial unit for the next batch so both arrive in order.
    APPEND_UNIT: ClassVar[int] = 1
    # Whether reads may run on other threads beside the writer (else they take its lock).
    concurrent_reads: ClassVar[bool] = False
    # Whether many companies' windows are fetched and swept together (else one by one).
    batched_windows: ClassVar[bool] = False

    # --- the installation ------------------------------------------------------------------
    def close(self) -> None: ...

    def probe(self) -> str | None:
        """Why the store cannot be read and written now, or None (a readiness check)."""
        ...

    def meta_get(self, key: str) -> str | None: ...

    def meta_set(self, key: str, value: str) -> None: ...

    def transaction(self) -> AbstractContextManager[None]:
        """One commit for everything inside; a store without transactions runs it as is."""
        return nullcontext()

    def prepare_indexes(self, min_rows: int = 100_000) -> None:
        """Build lookup structures once the tables are large (after a bulk import)."""

    def mark_unapplied(self, companies: Iterable[str]) -> None:
        """Note, in the write's own transaction, companies whose rollups lag their records."""
        ...

    def clear_unapplied(self, companies: Iterable[str]) -> None: ...

    def unapplied(self) -> list[str]:
        """The companies noted by :meth:`mark_unapplied` and not cleared since."""
        ...

    # --- raw records -----------------------------------------------------------------------
    def next_seq(self, n: int) -> int:
        """Reserve ``n`` arrival sequence numbers; returns the first."""
        ...

    def upsert(self, kind: str, batch: pa.Table) -> tuple[pa.Table, pa.Table]:
        """Store a batch of one kind, each record replacing its earlier version by the rule of
        ``store/schema.py``; returns the (old, new) versions whose figures change."""
        ...

    def update_span(self, new: pa.Table, cap_us: int) -> None:
        """Remember the longest connection per company (the lookback of day queries)."""
        ...

    def max_span(self, company_id: str) -> int: ...

    def reset_spans(self, cap_us: int) -> None: ...

    def companies_with_data(self) -> list[str]: ...

    def time_bounds(self, company_id: str) -> tuple[int, int] | None:
        """The earliest and latest instant any record of the company mentions."""
        ...

    def time_bounds_of(self, companies: Sequence[str]) -> dict[str, tuple[int, int]]:
        """:meth:`time_bounds` of many companies (those with records)."""
        ...

    def instants(self, kind: str, company_id: str, column: str, t0: int, t1: int, value: str | None = None) -> pa.Table:
        """``column`` as ``t`` (and ``value`` as ``v``) of a kind's records with it in [t0, t1)."""
        ...

    def instants_scope(self) -> AbstractContextManager[None]:
        """One computation of days, which asks :meth:`instants` of several columns of the same
        records: a store may keep its answers until the scope ends (by default it keeps none)."""
        return nullcontext()

    def instants_in_many(self, windows: pa.Table, sources: Sequence[tuple[str, str, str | None]]) -> list[pa.Table]:
        """For (company_id, t0, t1) windows: (company_id, t[, v]) of each (kind, column, value)
        of ``sources`` whose instant lies in its company's window."""
        ...

    # --- connections of windows and of events/calls ----------------------------------------
    def connections_window(self, company_id: str, t0: int, t1: int, cap_us: int) -> pa.Table:
        """Connections active (or joining) in ``[t0, t1)``, ``parent`` identifying each one's
        event/call within the window."""
        ...

    def window_reader(self) -> AbstractContextManager[WindowFetch | None]:
        """:meth:`connections_window` on a connection of its own (a rebuild reads the next
        window while the current one is computed), or None where there is no such thing."""
        return nullcontext(None)

    def connections_over(self, company_id: str, t0: int, t1: int, cap_us: int) -> pa.Table:
        """Connections active at some instant of [t0, t1) or joining in it, with their ids:
        parent_kind, parent_id, template, transport, joined_at, left_at (-1: open), user_id."""
        ...

    def describe_parents(self, company_id: str, parents: pa.Table) -> pa.Table:
        """For (parent_kind, parent_id) rows: title, organizer_id and organizer_name (a call:
        its type and initiator), null where no record says."""
        ...

    def connections_windows(self, windows: pa.Table, cap_us: int) -> pa.Table:
        """:meth:`connections_window` of many (company_id, t0, t1) windows, with company_id."""
        ...

    def connections_of_parents(
        self, company_id: str, parents: pa.Table, lo: int | None = None, hi: int | None = None
    ) -> pa.Table:
        """Every connection of the (parent_kind, parent_id) rows, ``parent`` its row number
        (all joined in [lo, hi] when the caller knows such bounds)."""
        ...

    def connections_of_parents_of(self, parents: pa.Table) -> pa.Table:
        """:meth:`connections_of_parents` of many companies' :meth:`all_parents_of` rows."""
        ...

    def read_connections_of(self, company_id: str, parents: pa.Table, lo: int) -> pa.Table:
        """:meth:`connections_of_parents` joined at or after ``lo``, for a read (not the writer)."""
        ...

    def all_parents(self, company_id: str, cap_us: int) -> pa.Table:
        """Every event/call with connections (parent_kind, parent_id, lo, hi, end, parent)."""
        ...

    def all_parents_of(self, companies: Sequence[str], cap_us: int) -> pa.Table:
        """:meth:`all_parents` of many companies, with company_id."""
        ...

    def window_codes(self, company_id: str, parents: pa.Table) -> pa.Array | None:
        """What identifies each of ``parents`` in window rows, or None when two share it."""
        ...

    def exact_parents(self, company_id: str) -> bool:
        """Whether the company's windows identify events/calls by ids (two share a hash)."""
        ...

    # --- event/call stats ------------------------------------------------------------------
    def put_parent_stats(self, company_id: str, parents: pa.Table, stats: pa.Table, *, replace: bool = True) -> None:
        """Replace the stats of ``parents`` (parent_kind, parent_id) with ``stats`` rows."""
        ...

    def replace_parent_stats(self, old_rids: pa.Array, stats: pa.Table) -> None:
        """Delete the stats rows ``old_rids`` and add ``stats`` (with company_id)."""
        ...

    def stats_of_parents(self, parents: pa.Table) -> tuple[pa.Table, pa.Array, set[str]]:
        """For (company_id, parent_kind, parent_id) rows: their stored stats rows (rid,
        company_id, parent_kind, parent_id, first_join, last_leave), each one's window code,
        and the companies where two parents share a code."""
        ...

    def parent_first_joins(self, company_id: str, t0: int, t1: int) -> pa.Table:
        """(template, first_join) of the events/calls first joined in [t0, t1)."""
        ...

    def parent_first_joins_of(self, company_id: str, parents: pa.Table) -> pa.Table:
        """The stored (parent_kind, parent_id, first_join, last_leave) of ``parents``."""
        ...

    def parent_first_joins_in(self, windows: pa.Table) -> pa.Table:
        """(company_id, template, first_join) of the parents first joined in each window."""
        ...

    def open_parents(self, company_id: str) -> pa.Table:
        """Events/calls whose stats still change with the clock (a connection is open)."""
        ...

    # --- rollups ---------------------------------------------------------------------------
    def write_days(
        self, company_id: str, days: Sequence[int], rows: pa.Table, computed_at: int, *, replace: bool = True
    ) -> None:
        """Replace the rollups of ``days`` with ``rows`` (day, metric, value, at)."""
        ...

    def write_days_of(self, days: pa.Table, rows: pa.Table, computed_at: int) -> None:
        """Replace the rollups of many (company_id, day) with ``rows`` (with company_id)."""
        ...

    def write_new_days_of(self, days: pa.Table, rows: pa.Table, computed_at: int) -> None:
        """:meth:`write_days_of` of days known to have no rollups (a rebuild cleared them): a
        store may skip looking for rows to replace."""
        self.write_days_of(days, rows, computed_at)

    def read_days(self, company_id: str, d0: int, d1: int) -> pa.Table:
        """The stored (day, metric, value, at) of days d0 .. d1; a missing row reads 0."""
        ...

    def read_range(
        self, company_id: str, d0: int, d1: int, stocks: Sequence[str]
    ) -> tuple[pa.Table, dict[str, int], dict[int, int]]:
        """What a read of days d0 .. d1 needs, in one statement: their rows (as
        :meth:`read_days`), each stock's sum before d0 (as :meth:`sums_before`), and when each
        day up to d1 was computed (as :meth:`computed_days`)."""
        ...

    def computed_days(self, company_id: str, d0: int, d1: int) -> dict[int, int]:
        """When each computed day of d0 .. d1 was computed."""
        ...

    def computed_companies(self, ids: Sequence[str]) -> set[str]:
        """The companies of ``ids`` with any computed day."""
        ...

    def sums_before(self, company_id: str, metrics: Sequence[str], day: int) -> dict[str, int]:
        """Sum of each metric's daily rows before ``day`` (the level a stock starts at)."""
        ...

    def clear_rollups(self, company_id: str | None = None) -> None: ...

    def clear_rollups_of(self, companies: Sequence[str]) -> None: ...

    # --- the dashboard's tables ------------------------------------------------------------
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
        """One page of a dashboard table and how many rows match."""
        ...
