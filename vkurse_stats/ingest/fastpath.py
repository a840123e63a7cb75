"""Columnar validation of Parquet batches: whole columns checked with Arrow compute kernels.

Rows the kernels prove valid go to the store as Arrow arrays without ever becoming Python
objects; any row they cannot prove valid (a null required field, a bad enum, a timestamp not in
the strict RFC 3339 form, a cross-field rule) is handed to the per-row validator of records.py,
which accepts or rejects it with the usual line, field and reason. So both paths agree by
construction: the fast path only ever accepts what the row path accepts.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..records import (
    CALL_TEMPLATE,
    EPOCH_MS_MAX,
    EPOCH_MS_MIN,
    ID_FIELDS,
    INSTANT_MAX_US,
    INSTANT_MIN_US,
    MAX_COUNT,
    TEMPLATE_CODE,
    TEMPLATES,
    TIME_FIELDS,
    TRANSPORT_CODE,
    TRANSPORTS,
)
from ..store.schema import PARENT_CALL, PARENT_EVENT, TABLES

# Microseconds per unit of an Arrow timestamp (nanoseconds are cut to whole microseconds).
_UNIT_US = {"s": 1_000_000, "ms": 1000, "us": 1}
# Required fields per kind (besides company_id and id) and enum fields with their values.
REQUIRED = {
    "user": ("registered_at",),
    "event": ("template", "title", "organizer_id", "created_at"),
    "call": ("started_at",),
    "connection": ("transport", "joined_at"),
    "login": ("user_id", "at"),
    "message": ("sent_at",),
    "file": ("size_bytes", "uploaded_at"),
}
ENUMS = {
    "template": TEMPLATES,
    "event_template": TEMPLATES,
    "transport": TRANSPORTS,
    "role": ("moderator", "speaker", "participant"),
    "type": ("personal", "group"),
}
TEXT_MAX = {"title": 2000, "name": 2000, "email": 2000, "department": 2000, "device": 2000}
ORDERED = {
    "user": ("registered_at", "deleted_at"),
    "event": ("scheduled_start", "scheduled_end"),
    "call": ("started_at", "ended_at"),
    "file": ("uploaded_at", "deleted_at"),
    "connection": ("joined_at", "left_at"),
}


class _Batch:
    def __init__(self, batch: pa.RecordBatch) -> None:
        self.b = batch
        self.n = batch.num_rows
        self.ok = np.ones(self.n, dtype=np.bool_)

    def col(self, name: str) -> pa.Array | None:
        i = self.b.schema.get_field_index(name)
        return None if i < 0 else self.b.column(i)

    def require(self, mask: Any) -> None:
        self.ok &= np.asarray(pc.fill_null(mask, False), dtype=np.bool_)

    def ids(self, name: str, required: bool) -> pa.Array:
        a = self.col(name)
        if a is None:
            if required:
                self.ok[:] = False
            return pa.nulls(self.n, pa.string())
        if pa.types.is_integer(a.type):
            a = a.cast(pa.string())
        elif not pa.types.is_string(a.type) and not pa.types.is_large_string(a.type):
            self.ok[:] = False
            return pa.nulls(self.n, pa.string())
        a = a.cast(pa.string())
        valid = pc.and_kleene(pc.is_valid(a), pc.less_equal(pc.utf8_length(a), 256))
        self.require(
            pc.and_kleene(valid, pc.greater(pc.utf8_length(a), 0))
            if required
            else pc.or_kleene(pc.is_null(a), pc.and_kleene(pc.greater(pc.utf8_length(a), 0), valid))
        )
        return a

    def times(self, name: str, required: bool) -> pa.Array:
        a = self.col(name)
        if a is None:
            if required:
                self.ok[:] = False
            return pa.nulls(self.n, pa.int64())
        # Instants out of range (records.INSTANT_RANGE) are left to the row path, which explains.
        if pa.types.is_timestamp(a.type) and a.type.tz is not None:
            out = timestamp_us(a)
            self.require(pc.or_kleene(pc.is_valid(out), pc.is_null(a)))
        elif pa.types.is_integer(a.type):
            ms, fits = int64(a)
            fits = pc.and_(fits, pc.and_(pc.greater_equal(ms, EPOCH_MS_MIN), pc.less_equal(ms, EPOCH_MS_MAX)))
            self.require(pc.or_kleene(fits, pc.is_null(ms)))
            out = pc.multiply(pc.if_else(pc.fill_null(fits, False), ms, pa.scalar(None, pa.int64())), 1000)
        elif pa.types.is_string(a.type) or pa.types.is_large_string(a.type):
            from . import textscan  # numba loads on the first batch, not with every command

            out, refused = textscan.instants(a, INSTANT_MIN_US, INSTANT_MAX_US)
            self.ok &= ~refused
        else:  # naive timestamps and other types: the row path explains
            self.ok[:] = False
            return pa.nulls(self.n, pa.int64())
        if required:
            self.require(pc.is_valid(a))
        return out

    def enum(self, name: str, required: bool) -> pa.Array:
        a = self.col(name)
        if a is None or not pa.types.is_string(a.type):
            if required or a is not None:
                self.ok[:] = False
            return pa.nulls(self.n, pa.string())
        inside = pc.is_in(a, value_set=pa.array(ENUMS[name]))
        self.require(inside if required else pc.or_kleene(pc.is_null(a), inside))
        return a

    def text(self, name: str, required: bool, *, client: bool = False) -> pa.Array:
        a = self.col(name)
        if a is None:
            if required:
                self.ok[:] = False
            return pa.nulls(self.n, pa.string())
        if not pa.types.is_string(a.type):
            self.ok[:] = False
            return pa.nulls(self.n, pa.string())
        if client:
            from . import textscan

            words = textscan.client_words(a)
            self.ok &= words if required else words | ~a.is_valid().to_numpy(zero_copy_only=False)
            return a
        good = pc.less_equal(pc.utf8_length(a), TEXT_MAX.get(name, 2000))
        self.require(pc.and_kleene(pc.is_valid(a), good) if required else pc.or_kleene(pc.is_null(a), good))
        return a


def validate(kind: str, batch: pa.RecordBatch) -> tuple[pa.Table | None, np.ndarray]:
    """The batch in the store's layout (without seq) when every row is proven valid; else None
    and the mask of the rows that need the row path (which then reads the whole batch, so that
    arrival order stays the file's order)."""
    if kind not in REQUIRED:
        return None, np.ones(batch.num_rows, dtype=np.bool_)
    b = _Batch(batch)
    required = set(REQUIRED[kind]) | {"company_id", "id"}
    cols: dict[str, Any] = {}
    for name, _typ in TABLES[kind].columns:
        if name == "seq" or (kind == "connection" and name in ("parent_kind", "parent_id", "template", "transport")):
            continue
        req = name in required
        if name in ID_FIELDS:
            cols[name] = b.ids(name, req)
        elif name in TIME_FIELDS:
            cols[name] = b.times(name, req)
        elif name in ENUMS:
            cols[name] = b.enum(name, req)
        elif name == "client":
            cols[name] = b.text(name, req, client=True)
        elif name == "size_bytes":
            a = b.col(name)
            if a is None or not pa.types.is_integer(a.type):
                b.ok[:] = False
                cols[name] = pa.nulls(b.n, pa.int64())
            else:
                size, fits = int64(a)
                b.require(pc.and_(fits, pc.and_(pc.greater_equal(size, 0), pc.less_equal(size, MAX_COUNT))))
                cols[name] = size
        else:
            cols[name] = b.text(name, req)
    if kind == "connection":
        event_id, call_id = b.ids("event_id", False), b.ids("call_id", False)
        tpl = b.enum("event_template", False)
        is_event = pc.is_valid(event_id)
        b.require(pc.xor(is_event, pc.is_valid(call_id)))
        b.require(pc.equal(is_event, pc.is_valid(tpl)))
        transport = b.enum("transport", True)
        cols["parent_kind"] = pc.if_else(is_event, PARENT_EVENT, PARENT_CALL).cast(pa.int8())
        cols["parent_id"] = pc.coalesce(event_id, call_id)
        cols["template"] = pc.coalesce(pc.index_in(tpl, value_set=pa.array(TEMPLATES)), pa.scalar(CALL_TEMPLATE)).cast(
            pa.int8()
        )
        cols["transport"] = pc.index_in(transport, value_set=pa.array(TRANSPORTS)).cast(pa.int8())
    if kind == "event":
        cols["template"] = pc.index_in(cols["template"], value_set=pa.array(TEMPLATES)).cast(pa.int8())
    first, second = ORDERED.get(kind, (None, None))
    if first and second:
        b.require(pc.or_kleene(pc.is_null(cols[second]), pc.less_equal(cols[first], cols[second])))
    if not b.ok.all():
        return None, ~b.ok
    schema = pa.schema([f for f in TABLES[kind].arrow_schema if f.name != "seq"])
    return pa.table({f.name: cols[f.name] for f in schema}).cast(schema), ~b.ok


def int64(a: pa.Array) -> tuple[pa.Array, pa.Array]:
    """An integer column as int64 (0 where a value does not fit) and whether each value fits: a
    uint64 beyond the int64 range is refused, not wrapped."""
    if a.type == pa.uint64():
        fits = pc.less_equal(a, pa.scalar(2**63 - 1, pa.uint64()))
        return pc.if_else(fits, a, pa.scalar(0, pa.uint64())).cast(pa.int64()), fits
    return a.cast(pa.int64()), pc.is_valid(a)


def timestamp_us(a: pa.Array) -> pa.Array:
    """A timestamp column (of any unit) as epoch microseconds, null where the instant is null or
    out of range; nanoseconds are cut to whole microseconds. Never overflows."""
    raw = a.cast(pa.int64())  # the count of its own unit
    if a.type.unit == "ns":
        lo, hi = INSTANT_MIN_US * 1000, INSTANT_MAX_US * 1000 + 999
    else:
        per = _UNIT_US[a.type.unit]
        lo, hi = -(-INSTANT_MIN_US // per), INSTANT_MAX_US // per
    fits = pc.and_(pc.greater_equal(raw, lo), pc.less_equal(raw, hi))
    kept = pc.if_else(fits, raw, pa.scalar(None, pa.int64()))
    return pc.divide(kept, 1000) if a.type.unit == "ns" else pc.multiply(kept, _UNIT_US[a.type.unit])


assert set(TEMPLATE_CODE) == set(TEMPLATES) and set(TRANSPORT_CODE) == set(TRANSPORTS)
