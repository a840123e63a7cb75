"""Columns of the analytic store, per record kind, shared by every analytic backend.

Instants are BIGINT epoch microseconds; enums are small integer codes (records.py); every table
starts with ``company_id, id`` and ends with ``seq`` (the arrival order of the version).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

STR, I64, I8 = pa.string(), pa.int64(), pa.int8()


@dataclass(frozen=True)
class KindTable:
    kind: str
    table: str
    columns: tuple[tuple[str, pa.DataType], ...]
    # The column whose presence marks a record's final state: a version that has it is never
    # replaced by one that lacks it (a connection re-sent "open" after its "left" version stays closed).
    terminal: str | None

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c for c, _ in self.columns)

    @property
    def arrow_schema(self) -> pa.Schema:
        return pa.schema(list(self.columns))


# --- the replace rule (SPEC §3), once for every backend -----------------------------------------
# A version replaces an earlier one of its record unless it lacks the terminal field the earlier
# one has. As one number per version: the terminal field's presence, then the arrival order; of
# two versions the higher rank is the record. ``RANK_SQL`` orders a query's rows the same way.
TERMINAL_BIT = 1 << 62


def version_rank(table: pa.Table, t: KindTable) -> np.ndarray:
    """Each version's rank (see above): ``(terminal present) << 62 | seq``."""
    seq = table.column("seq").to_numpy().astype(np.uint64)
    if t.terminal is None:
        return np.asarray(seq, dtype=np.uint64)
    term = pc.is_valid(table.column(t.terminal)).to_numpy(zero_copy_only=False).astype(np.uint64)
    return np.asarray(term * np.uint64(TERMINAL_BIT) + seq, dtype=np.uint64)


def rank_sql(t: KindTable) -> str:
    """An ORDER BY of :func:`version_rank`, highest first, in SQL both dialects read."""
    return f"({t.terminal} IS NOT NULL) DESC, seq DESC" if t.terminal else "seq DESC"


def latest_per_key(batch: pa.Table, t: KindTable) -> pa.Table:
    """The record of each (company_id, id) in a batch (its highest-ranked version), with its
    rank as a ``ver`` column."""
    b = batch.append_column("ver", pa.array(version_rank(batch, t), pa.uint64()))
    b = b.take(pc.sort_indices(b, [("company_id", "ascending"), ("id", "ascending"), ("ver", "descending")]))
    n = b.num_rows
    if n <= 1:
        return b
    cid, rid = b.column("company_id"), b.column("id")
    same = pc.and_(pc.equal(cid.slice(1), cid.slice(0, n - 1)), pc.equal(rid.slice(1), rid.slice(0, n - 1)))
    return b.filter(pa.array(np.r_[True, ~same.to_numpy(zero_copy_only=False)]))


def outranked(stored: pa.Table, new: pa.Table, t: KindTable) -> pa.Table:
    """The (company_id, id) whose stored version outranks the new one, and so stays."""
    keys = ["company_id", "id"]
    if t.terminal is None or stored.num_rows == 0 or new.column(t.terminal).null_count == 0:
        # (a new version with the terminal field, arriving later, outranks every stored one)
        return pa.table({k: pa.array([], pa.string()) for k in keys})
    old = stored.select([*keys, "seq", t.terminal])
    mine = new.select([*keys, "seq", t.terminal])
    pairs = (
        old.select(keys)
        .append_column("r_old", pa.array(version_rank(old, t), pa.uint64()))
        .join(
            mine.select(keys).append_column("r_new", pa.array(version_rank(mine, t), pa.uint64())),
            keys,
            join_type="inner",
        )
    )
    return pairs.filter(pc.greater(pairs.column("r_old"), pairs.column("r_new"))).select(keys)


def _t(kind: str, table: str, cols: list[tuple[str, pa.DataType]], terminal: str | None) -> KindTable:
    return KindTable(kind, table, (("company_id", STR), ("id", STR), *cols, ("seq", I64)), terminal)


TABLES: dict[str, KindTable] = {
    t.kind: t
    for t in (
        _t(
            "connection",
            "connections",
            [
                ("parent_kind", I8),
                ("parent_id", STR),
                ("template", I8),
                ("transport", I8),
                ("joined_at", I64),
                ("left_at", I64),
                ("user_id", STR),
                ("role", STR),
                ("client", STR),
                ("device", STR),
            ],
            "left_at",
        ),
        _t(
            "event",
            "events",
            [
                ("template", I8),
                ("title", STR),
                ("organizer_id", STR),
                ("created_at", I64),
                ("scheduled_start", I64),
                ("scheduled_end", I64),
                ("cancelled_at", I64),
            ],
            "cancelled_at",
        ),
        _t("call", "calls", [("started_at", I64), ("type", STR), ("initiator_id", STR), ("ended_at", I64)], "ended_at"),
        _t(
            "user",
            "users",
            [("registered_at", I64), ("name", STR), ("email", STR), ("department", STR), ("deleted_at", I64)],
            "deleted_at",
        ),
        _t("login", "logins", [("user_id", STR), ("at", I64), ("client", STR), ("device", STR)], None),
        _t("message", "messages", [("sent_at", I64), ("chat_id", STR), ("sender_id", STR)], None),
        _t(
            "file",
            "files",
            [("size_bytes", I64), ("uploaded_at", I64), ("owner_id", STR), ("name", STR), ("deleted_at", I64)],
            "deleted_at",
        ),
    )
}
PARENT_EVENT, PARENT_CALL = 0, 1
# The required instant of each kind: rows arrive roughly in its order, so stores order, partition
# and bound key lookups by it.
TIME_COLUMN = {
    "connection": "joined_at",
    "event": "created_at",
    "call": "started_at",
    "user": "registered_at",
    "login": "at",
    "message": "sent_at",
    "file": "uploaded_at",
}


# An event or call (parent_kind: PARENT_EVENT or PARENT_CALL) and the stats stored per one of them.
PARENT_SCHEMA = pa.schema([("parent_kind", I8), ("parent_id", STR)])
PARENT_STATS_SCHEMA = pa.schema(
    [
        *PARENT_SCHEMA,
        ("template", I8),
        ("first_join", I64),
        ("last_leave", I64),
        ("is_open", pa.bool_()),
        ("connections", I64),
        ("participants", I64),
        ("peak", I64),
        ("peak_at", I64),
        ("open_until", I64),
    ]
)
NULLABLE_STATS = frozenset({"peak_at", "open_until"})  # the stats columns that may be null


def parent_text(parents: pa.Table) -> pa.Array:
    """``kind:id`` of each (parent_kind, parent_id): how day windows name a parent by its ids."""
    kind = pc.cast(parents.column("parent_kind"), pa.string())
    return pc.binary_join_element_wise(kind, parents.column("parent_id"), ":").combine_chunks()


# store_meta keys of companies whose rollups lag their records (see mark_unapplied)
UNAPPLIED = "unapplied:"
