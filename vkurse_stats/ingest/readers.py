"""Files -> records for the ingest pipeline: JSON Lines, CSV and Parquet, optionally gzipped,
read as streams (bounded memory) with a byte count for progress bars."""

from __future__ import annotations

import csv
import gzip
import io
import sys
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import IO, Any

from ..ahead import ahead
from ..records import RecordError, from_mapping
from . import fastpath
from .pipeline import Ingestor

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
    """Feed the records of one file (``-`` = standard input, JSON Lines) to the ingestor."""
    if name == "-":
        fmt, gz = fmt or "jsonl", False
        raw: IO[bytes] = sys.stdin.buffer
    else:
        detected, gz = detect_format(name)
        fmt = fmt or detected
        raw = open(name, "rb")  # noqa: SIM115 - closed below
    ing.source = None if name == "-" else name
    if fmt == "parquet":
        raw.close()
        _read_parquet(ing, name, gz, _require_kind(kind, name), on_read)
        return
    try:
        stream: IO[bytes] = io.BufferedReader(CountingReader(raw, on_read), 1 << 20)
        if gz:
            stream = gzip.GzipFile(fileobj=stream)  # type: ignore[assignment]
        if fmt == "jsonl":
            ing.add_stream(stream)
        else:
            _read_csv(ing, stream, _require_kind(kind, name))
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
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    sample = text.read(4096)
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t") if sample else csv.excel
    except csv.Error:
        dialect = csv.excel
    reader = csv.DictReader(_chain(sample, text), dialect=dialect)
    for row in reader:
        _add_row(ing, reader.line_num, kind, row)


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
        if gz:
            path = str(Path(tmp) / "data.parquet")
            with gzip.open(name, "rb") as src, open(path, "wb") as dst:
                shutil.copyfileobj(src, dst)
        size = Path(name).stat().st_size
        pf = pq.ParquetFile(path)
        total = max(1, pf.metadata.num_rows)
        row = 0
        def check(batch: Any) -> tuple[Any, Any]:
            return batch, fastpath.validate(kind, batch)[0]  # in a read-ahead thread

        with closing(ahead(check, pf.iter_batches(batch_size=131_072))) as checked:
            for batch, table in checked:
                if table is None or not ing.add_table(kind, table):
                    for rec in batch.to_pylist():
                        row += 1
                        _add_row(ing, row, kind, dict(_flatten(rec)))
                else:
                    row += batch.num_rows
                if on_read:
                    on_read(size * batch.num_rows // total)


def _flatten(rec: dict[str, Any], prefix: str = "") -> Any:
    for k, v in rec.items():
        if isinstance(v, dict):
            yield from _flatten(v, f"{prefix}{k}.")
        else:
            yield f"{prefix}{k}", v
