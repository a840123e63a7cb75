"""Files -> records for the ingest pipeline: JSON Lines, CSV and Parquet, optionally gzipped,
read as streams (bounded memory) with a byte count for progress bars.

Each line or row is judged alone (a byte that is not UTF-8 or a cell CSV cannot read rejects its
row); a file that cannot be read on (truncated, corrupt, or a header naming a column twice) ends
with one error in the result, after the records read before it.
"""

from __future__ import annotations

import csv
import gzip
import io
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.compute as pc

from ..ahead import ahead
from ..records import INSTANT_RANGE, RecordError, from_mapping
from . import fastpath
from .pipeline import READ_ERRORS, Ingestor, SourceError, read_error

FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv", ".parquet": "parquet"}


class CountingReader(io.RawIOBase):
    """Wraps a binary stream and counts the bytes read (for progress on compressed files too)."""

    def __init__(self, raw: IO[bytes], on_read: Callable[[int], None] | None) -> None:
        self.raw = raw
        self.on_read = on_read

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        n = self.raw.readinto(b)  # type: ignore[attr-defined]
        if n and self.on_read:
            self.on_read(n)
        return n or 0


def detect_format(name: str) -> tuple[str, bool]:
    """(format, gzipped) from a file name; raises ValueError for an unknown extension."""
    path = Path(name.lower())
    gz = path.suffix == ".gz"
    if gz:
        path = path.with_suffix("")
    fmt = FORMATS.get(path.suffix)
    if fmt is None:
        raise ValueError(f"{name}: unknown file type (expected .jsonl, .ndjson, .csv or .parquet, optionally .gz)")
    return fmt, gz


def read_file(
    ing: Ingestor,
    name: str,
    *,
    kind: str | None = None,
    fmt: str | None = None,
    on_read: Callable[[int], None] | None = None,
) -> None:
    """Feed the records of one file (``-`` = standard input, JSON Lines) to the ingestor; a file
    that cannot be read on is one error of the result (``result.unreadable`` names it)."""
    if name == "-":
        fmt, gz = fmt or "jsonl", False
    else:
        detected, gz = detect_format(name)
        fmt = fmt or detected
    if fmt != "jsonl":
        kind = _require_kind(kind, name)
    ing.source = None if name == "-" else name
    try:
        if fmt == "parquet":
            _read_parquet(ing, name, gz, str(kind), on_read)
        else:
            _read_stream(ing, name, gz, fmt, kind, on_read)
    except SourceError as exc:
        ing.unreadable(exc)


def _read_stream(
    ing: Ingestor, name: str, gz: bool, fmt: str, kind: str | None, on_read: Callable[[int], None] | None
) -> None:
    try:
        raw: IO[bytes] = sys.stdin.buffer if name == "-" else open(name, "rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise read_error(exc) from exc
    try:
        stream: IO[bytes] = io.BufferedReader(CountingReader(raw, on_read), 1 << 20)
        if gz:
            stream = gzip.GzipFile(fileobj=stream)  # type: ignore[assignment]
        if fmt == "jsonl":
            ing.add_stream(stream)
        else:
            _read_csv(ing, stream, str(kind))
    finally:
        if raw is not sys.stdin.buffer:
            raw.close()


def _require_kind(kind: str | None, name: str) -> str:
    if not kind:
        raise ValueError(f"{name}: CSV and Parquet files hold one kind of record: give --kind")
    return kind


def _add_row(ing: Ingestor, line: int, kind: str, row: dict[str, Any]) -> None:
    try:
        rec = from_mapping(kind, row)
    except RecordError as exc:
        ing.reject(line, exc.field, exc.error)
        return
    ing.add(line, rec)


def _read_csv(ing: Ingestor, stream: IO[bytes], kind: str) -> None:
    # Bytes that are not UTF-8 are kept as lone surrogates, so that only their row is rejected.
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="surrogateescape", newline="")
    try:
        sample = text.read(4096)
    except READ_ERRORS as exc:
        raise read_error(exc) from exc
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t") if sample else csv.excel
    except csv.Error:
        dialect = csv.excel
    reader = csv.DictReader(_chain(sample, text), dialect=dialect)
    try:
        header = reader.fieldnames or []
    except csv.Error as exc:
        raise SourceError(f"the header is not valid CSV: {exc}", 1) from None
    except READ_ERRORS as exc:
        raise SourceError(read_error(exc).reason, 1) from exc
    problem = _header_problem(header)
    if problem:
        raise SourceError(problem, 1)
    rows = iter(reader)
    while True:
        line = reader.line_num
        try:
            row = next(rows)
        except StopIteration:
            return
        except csv.Error as exc:  # its row only (a field over the size limit): reading goes on
            ing.reject(line + 1, None, f"not valid CSV: {exc}")
            continue
        except READ_ERRORS as exc:
            raise SourceError(read_error(exc).reason, line + 1) from exc
        refused = _row_problem(row)
        if refused is not None:
            ing.reject(reader.line_num, refused.field, refused.error)
        else:
            _add_row(ing, reader.line_num, kind, row)


def _header_problem(header: Sequence[str]) -> str | None:
    for name in header:
        bad = _not_utf8(name)
        if bad is not None:
            return f"the header is not valid UTF-8: {bad}"
    seen: set[str] = set()
    for name in header:
        if name in seen:
            return f"the header names column {name!r} twice"
        seen.add(name)
    return None


def _row_problem(row: dict[Any, Any]) -> RecordError | None:
    extra = row.get(None)
    if extra is not None:
        return RecordError(None, f"the row has {len(extra)} more cells than the header has columns")
    for name, value in row.items():
        if value and not value.isascii():
            bad = _not_utf8(value)
            if bad is not None:
                return RecordError(name, f"not valid UTF-8: {bad}")
    return None


def _not_utf8(text: str) -> str | None:
    """Which byte of a text decoded with ``surrogateescape`` was not UTF-8, or None."""
    try:
        text.encode()
    except UnicodeEncodeError as exc:
        return f"byte 0x{ord(text[exc.start]) - 0xDC00:02x} at character {exc.start + 1}"
    return None


def _chain(head: str, rest: io.TextIOWrapper) -> Any:
    """Lines of ``head`` followed by the rest of the stream (the sniffer consumed ``head``)."""
    buf = io.StringIO(head)
    tail = ""
    for line in buf:
        if line.endswith("\n"):
            yield line
        else:
            tail = line
    first = True
    for line in rest:
        if first:
            line, first = tail + line, False
        yield line
    if first and tail:
        yield tail


def _read_parquet(ing: Ingestor, name: str, gz: bool, kind: str, on_read: Callable[[int], None] | None) -> None:
    """Parquet needs random access: read it by path (a gzipped one via a temporary copy)."""
    import shutil
    import tempfile

    import pyarrow.parquet as pq

    with tempfile.TemporaryDirectory() as tmp:
        path = name
        try:
            if gz:
                path = str(Path(tmp) / "data.parquet")
                with gzip.open(name, "rb") as src, open(path, "wb") as dst:
                    shutil.copyfileobj(src, dst)
            size = Path(name).stat().st_size
            pf = pq.ParquetFile(path)
        except (*READ_ERRORS, pa.ArrowException) as exc:
            raise read_error(exc) from exc
        names = pf.schema_arrow.names
        if len(set(names)) != len(names):
            raise SourceError(f"column {next(n for n in names if names.count(n) > 1)!r} appears twice")
        total = max(1, pf.metadata.num_rows)
        row = 0

        def batches() -> Iterator[pa.RecordBatch]:
            try:
                yield from pf.iter_batches(batch_size=131_072)
            except (*READ_ERRORS, pa.ArrowException) as exc:
                raise read_error(exc) from exc

        def check(batch: pa.RecordBatch) -> tuple[pa.RecordBatch, pa.Table | None]:
            try:
                return batch, fastpath.validate(kind, batch)[0]  # in a read-ahead thread
            except pa.ArrowException:  # columns Arrow cannot compute on: the row path judges them
                return batch, None

        with closing(ahead(check, batches())) as checked:
            try:
                for batch, table in checked:
                    if table is None or not ing.add_table(kind, table):
                        for rec in _parquet_rows(batch):
                            row += 1
                            if isinstance(rec, RecordError):
                                ing.reject(row, rec.field, rec.error)
                            else:
                                _add_row(ing, row, kind, rec)
                    else:
                        row += batch.num_rows
                    if on_read:
                        on_read(size * batch.num_rows // total)
            except SourceError as exc:
                exc.line = row + 1
                raise


def _parquet_rows(batch: pa.RecordBatch) -> Iterator[dict[str, Any] | RecordError]:
    """The rows of a batch as the row path reads them, column by column; a value Python cannot
    hold (an instant out of range, a date past the year 9999) makes its row a RecordError."""
    bad: dict[int, RecordError] = {}
    columns = [_pylist(name, col, bad) for name, col in zip(batch.schema.names, batch.columns, strict=True)]
    names = batch.schema.names
    for i in range(batch.num_rows):
        yield bad[i] if i in bad else dict(_flatten({n: values[i] for n, values in zip(names, columns, strict=True)}))


def _pylist(name: str, col: pa.Array, bad: dict[int, RecordError]) -> list[Any]:
    if pa.types.is_timestamp(col.type):
        # The instants the columnar path would take, as datetimes; those out of range refused.
        us = fastpath.timestamp_us(col)
        for i in pc.indices_nonzero(pc.and_(col.is_valid(), us.is_null())).to_pylist():
            bad.setdefault(i, RecordError(name, INSTANT_RANGE))
        return us.cast(pa.timestamp("us", tz=col.type.tz)).to_pylist()  # type: ignore[no-any-return]
    try:
        return col.to_pylist()  # type: ignore[no-any-return]
    except (ArithmeticError, ValueError, pa.ArrowException):
        values: list[Any] = []
        for i in range(len(col)):
            try:
                values.append(col[i].as_py())
            except (ArithmeticError, ValueError, pa.ArrowException) as exc:
                values.append(None)
                bad.setdefault(i, RecordError(name, f"value cannot be read: {exc}"))
        return values


def _flatten(rec: dict[str, Any], prefix: str = "") -> Any:
    for k, v in rec.items():
        if isinstance(v, dict):
            yield from _flatten(v, f"{prefix}{k}.")
        else:
            yield f"{prefix}{k}", v
