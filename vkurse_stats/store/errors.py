"""Errors every analytic store raises alike, so callers need not know the backend."""

from __future__ import annotations


class StoreUnavailableError(RuntimeError):
    """The store cannot be written (disk full, an I/O error): nothing of the failed write was
    stored. The store is reopened at its next use once it can be."""

    @property
    def disk_full(self) -> bool:
        return "disk is full" in str(self)
