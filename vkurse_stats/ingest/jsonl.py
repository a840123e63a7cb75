"""JSON Lines into columns: blocks of lines parsed by Arrow's JSON reader and checked column by
column (``fastpath``), so that a valid block of the platform's stream never becomes one Python
object per line. A block the columnar path cannot prove valid is handed back as lines, and the
ingestor then judges each line alone with the usual errors.
"""

from __future__ import annotations

import functools
import io
import re

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

from ..records import KINDS, MAX_DEPTH, TIME_FIELDS
from . import fastpath

# Every field of every record kind but company, as JSON gives it (the column validator decides).
_JSON_SCHEMA = pa.schema(
    [("kind", pa.string())]
    + [
        (name, pa.int64() if name == "size_bytes" else pa.string())
        for name in sorted({f for k, cls in KINDS.items() if k != "company" for f in cls.__struct_fields__})
    ]
)
# The fields of one kind: parsing fewer columns is faster, and a block is usually of one kind.
_KIND_SCHEMAS = {
    kind: pa.schema([f for f in _JSON_SCHEMA if f.name == "kind" or f.name in cls.__struct_fields__])
    for kind, cls in KINDS.items()
    if kind != "company"
}
_BLANK_LINE = re.compile(rb"\n[ \t\r\x0b\x0c]*(?:\n|$)")  # after the first line


def jsonl_tables(block: list[bytes | str]) -> tuple[list[int], dict[str, pa.Table]] | None:
    """A block of JSON lines as (the positions of its company records, one store-layout table
    per other kind in line order), when Arrow parses it and the column validator proves every
    record valid; None when any line needs the per-line path (which then explains it).

    Accepting only what the per-line path accepts holds by construction: the parser is strict
    about types (a number where text is expected fails the block), and fastpath.validate only
    passes rows the record types accept."""
    data, terminated = _joined(block)
    blank = _has_blank_line(data, block[0], terminated)
    lines = len(block) - (sum(1 for raw in block if not raw.strip()) if blank else 0)
    return _data_tables(data, block[0], lines, len(block))


def _has_blank_line(data: bytes, first: bytes | str, terminated: bool) -> bool:
    """Whether a block's text (``first``: its first line) has a blank line: an empty or
    whitespace line after a newline; the newline that ends the last line read from a file
    (``terminated``) starts none."""
    end = len(data) - 1 if terminated and data.endswith(b"\n") else len(data)
    return not first.strip() or _BLANK_LINE.search(data, 0, end) is not None


def _data_tables(
    data: bytes, first: bytes | str, records: int, lines: int
) -> tuple[list[int], dict[str, pa.Table]] | None:
    """:func:`jsonl_tables` of the block's text ``data`` (``first``: its first line; ``records``:
    its lines that are not blank, of ``lines``).

    Arrow takes text that is not UTF-8 into its columns, any depth of nesting, and fields the
    schema lacks whatever they hold: a block with such a line goes line by line, where it is
    refused alone (records.decode_json)."""
    if not data.isascii() and not _is_utf8(data):
        return None
    table = _read_json(data, _schema_like(first))
    if table is not None and pc.count_distinct(table.column("kind"), mode="all").as_py() > 1:
        table = None  # more than one kind: every kind's fields are needed
    if table is None:
        table = _read_json(data, _JSON_SCHEMA)
    if table is None:
        return None
    if table.num_rows != records:
        return None  # a line Arrow read differently (e.g. two objects on one line)
    if _too_deep(data, records):
        return None
    kinds = table.column("kind")
    companies: list[int] = []
    per_kind: dict[str, pa.Table] = {}
    kinds_seen = pc.unique(kinds).to_pylist()
    for kind in kinds_seen:
        if kind == "company":
            if table.num_rows != lines:
                return None  # blank lines: positions would not be line numbers
            companies = np.flatnonzero(pc.equal(kinds, "company").to_numpy(zero_copy_only=False)).tolist()
            continue
        if kind not in KINDS:
            return None
        rows = (table if len(kinds_seen) == 1 else table.filter(pc.equal(kinds, kind))).combine_chunks()
        try:
            valid, _doubtful = fastpath.validate(kind, rows.to_batches()[0])
        except pa.ArrowException:  # columns Arrow cannot compute on: the line path judges them
            return None
        if valid is None:
            return None
        per_kind[kind] = valid
    return companies, per_kind


def chunk_tables(data: bytes) -> tuple[bytes | list[bytes | str], int, tuple[list[int], dict[str, pa.Table]] | None]:
    """A chunk of whole lines of a file, parsed as :func:`jsonl_tables` parses a block, straight
    from its text when it has no blank line (cutting it into lines and joining them again for
    the parser cost a tenth of an import): as (the text, its number of lines, tables) when the
    tables hold all its records and none is a company; else as (its lines, as iterating the
    file gives them, their number, tables), each parse done once."""
    first = data[: data.find(b"\n") + 1] or data
    if _has_blank_line(data, first, terminated=True):
        block = split_lines(data)
        return block, len(block), jsonl_tables(block)
    lines = data.count(b"\n") + (not data.endswith(b"\n"))
    tables = _data_tables(data, first, lines, lines)
    if tables is None or tables[0]:  # the line path, or company records read by their lines
        return split_lines(data), lines, tables
    return data, lines, tables


def _is_utf8(data: bytes) -> bool:
    """Whether a text is UTF-8, checked by Arrow without copying it."""
    offsets = pa.py_buffer(np.array([0, len(data)], dtype=np.int64))
    text = pa.Array.from_buffers(pa.large_string(), 1, [None, offsets, pa.py_buffer(data)])
    try:
        text.validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True


def _too_deep(data: bytes, records: int) -> bool:
    """Whether a line of a block Arrow read (``records`` lines, each an object: one '{' at least)
    nests deeper than records.MAX_DEPTH; the brackets of all the other lines bound any one's."""
    if data.count(b"{") + data.count(b"[") - (records - 1) <= MAX_DEPTH:
        return False
    from . import textscan

    return textscan.deeper_than(data, MAX_DEPTH)


def split_lines(data: bytes) -> list[bytes | str]:
    """The lines of a file's text as iterating the file gives them (each with its newline)."""
    return list(io.BytesIO(data).readlines())


def _joined(block: list[bytes | str]) -> tuple[bytes, bool]:
    """The lines of a block as one text, one line per line, and whether each line ends with its
    own newline (lines read from a file keep theirs: then they are joined as they were)."""
    try:
        if block[0][-1:] == b"\n":
            data = b"".join(block)  # type: ignore[arg-type]
            if len(block) - 1 <= data.count(b"\n") <= len(block):
                return data, True
        return b"\n".join(block), False  # type: ignore[arg-type]
    except TypeError:
        # (a lone surrogate is kept as bytes that are not UTF-8: the line path explains it)
        return b"\n".join(raw if isinstance(raw, bytes) else raw.encode(errors="surrogatepass") for raw in block), False


def _schema_like(line: bytes | str) -> pa.Schema | None:
    """The fields of the first line's kind, its instants typed as that line gives them (text or
    epoch milliseconds); a block that does not fit it is read again with every kind's fields."""
    try:
        first = msgspec.json.decode(line)
    except (msgspec.DecodeError, RecursionError, UnicodeError):
        return None
    if not isinstance(first, dict) or not isinstance(first.get("kind"), str) or first["kind"] not in _KIND_SCHEMAS:
        return None
    fields = KINDS[first["kind"]].__struct_fields__  # (others are ignored, whatever they hold)
    epoch_ms = frozenset(k for k, v in first.items() if k in TIME_FIELDS and k in fields and type(v) is int)
    return _kind_schema(first["kind"], epoch_ms)


@functools.cache
def _kind_schema(kind: str, epoch_ms: frozenset[str]) -> pa.Schema:
    schema = _KIND_SCHEMAS[kind]
    for name in epoch_ms:
        schema = schema.set(schema.get_field_index(name), pa.field(name, pa.int64()))
    return schema


def _read_json(data: bytes, schema: pa.Schema | None) -> pa.Table | None:
    """JSON lines as a table of ``schema``'s fields (others ignored); None when Arrow cannot
    read them so (then the per-line path explains why)."""
    if schema is None:
        return None
    try:
        return pajson.read_json(
            io.BytesIO(data),
            read_options=pajson.ReadOptions(block_size=1 << 20),
            parse_options=pajson.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore"),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
