"""Validated records -> columnar Arrow batches in the analytic store's layout (store/schema.py).

Column by column, with fast paths: a column of aware datetimes converts in one Arrow call, ids
that are already text are not touched; only mixed columns fall back to a per-value conversion.
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import attrgetter
from typing import Any

import numpy as np
import pyarrow as pa

from ..records import CALL_TEMPLATE, ID_FIELDS, TEMPLATE_CODE, TIME_FIELDS, TRANSPORT_CODE, Record, to_us
from ..store.schema import PARENT_CALL, PARENT_EVENT, TABLES

_UTC_US = pa.timestamp("us", tz="UTC")


def _ids(values: list[Any]) -> list[Any]:
    if int in set(map(type, values)):
        return [None if v is None else str(v) for v in values]
    return values


def _times(values: list[Any]) -> pa.Array:
    if int in set(map(type, values)):  # epoch milliseconds among them
        return pa.array([to_us(v) for v in values], pa.int64())
    return pa.array(values, _UTC_US).cast(pa.int64())


def _column(records: Sequence[Record], name: str) -> Any:
    values = list(map(attrgetter(name), records))
    if name in ID_FIELDS:
        return _ids(values)
    if name in TIME_FIELDS:
        return _times(values)
    if name == "template":
        return [TEMPLATE_CODE[v] for v in values]
    return values


def _connection_column(records: Sequence[Record], name: str) -> Any:
    if name == "parent_kind":
        return [PARENT_EVENT if e is not None else PARENT_CALL for e in map(attrgetter("event_id"), records)]
    if name == "parent_id":
        return _ids([e if e is not None else c for e, c in map(attrgetter("event_id", "call_id"), records)])
    if name == "template":
        return [CALL_TEMPLATE if t is None else TEMPLATE_CODE[t] for t in map(attrgetter("event_template"), records)]
    if name == "transport":
        return [TRANSPORT_CODE[t] for t in map(attrgetter("transport"), records)]
    return _column(records, name)


def to_table(kind: str, records: Sequence[Record], first_seq: int) -> pa.Table:
    """One Arrow table of ``records`` (all of ``kind``), with arrival sequence numbers."""
    t = TABLES[kind]
    get = _connection_column if kind == "connection" else _column
    arrays = {name: get(records, name) for name in t.names if name != "seq"}
    arrays["seq"] = pa.array(np.arange(first_seq, first_seq + len(records), dtype=np.int64))
    return pa.Table.from_pydict(arrays, schema=t.arrow_schema)
