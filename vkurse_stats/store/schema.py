"""Columns of the analytic store, per record kind, shared by every analytic backend.

Instants are BIGINT epoch microseconds; enums are small integer codes (records.py); every table
starts with ``company_id, id`` and ends with ``seq`` (the arrival order of the version).
"""

from __future__ import annotations

from dataclasses import dataclass

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
