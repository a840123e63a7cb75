"""What ingest hands its writes to: the sink that keeps the figures up to date.

Ingest stores records and says what each write changed; it does not know how figures are
computed. The services of an installation wire a sink in (``metrics.rollup.Rollups``), so
``ingest`` imports nothing of ``metrics``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from typing import Protocol, Self, TypeVar

import pyarrow as pa


class Changes(Protocol):
    """What writes changed (days and events/calls of companies), accumulated."""

    def merge(self, other: Self) -> None: ...

    def companies(self) -> set[str]: ...

    def __bool__(self) -> bool: ...


C = TypeVar("C", bound=Changes)


class FigureSink(Protocol[C]):
    """Keeps an installation's figures up to date with the records ingest stores."""

    cap_us: int  # how long an open connection counts (its span's bound)

    def changes(self) -> C:
        """An empty accumulator of changes."""
        ...

    def touched_by(self, kind: str, versions: pa.Table, skip: set[str] | frozenset[str] = frozenset()) -> C:
        """What a set of record versions (old or new) of a kind changes, outside ``skip``."""
        ...

    def computed_of(self, ids: list[str]) -> set[str]:
        """The companies of ``ids`` whose figures exist (else a rebuild computes them best)."""
        ...

    def computed_any(self, company_id: str) -> bool: ...

    def mark_unapplied(self, companies: set[str]) -> None:
        """Note, in the write's transaction, companies whose figures lag their records."""
        ...

    def transaction(self) -> AbstractContextManager[None]:
        """A write and its figures in one commit."""
        ...

    def apply(self, touched: C, progress: Callable[[int, int], None] | None = None) -> None:
        """Recompute what changed, now."""
        ...

    def defer(self, touched: C, *, durable: bool = True) -> None:
        """Queue what changed for the writer (or the next read of its company)."""
        ...

    def rebuild_many(self, companies: Iterable[str], progress: Callable[[int, int], None] | None = None) -> None:
        """Compute every figure of these companies from their records."""
        ...

    def limits_changed(self, company_id: str) -> None:
        """Recompute a company whose licence limits changed (the time at and over them moved)."""
        ...

    def timezone_changed(self, company_id: str) -> None:
        """Recompute a company whose timezone changed (its days moved)."""
        ...
