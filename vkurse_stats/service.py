"""The services of one installation, opened from :class:`Settings`: the metadata store, the
analytic store chosen by URL, rollups, the query API and the ingest entry point."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .config import Settings
from .ingest import Ingestor, IngestResult
from .metrics.engine import warm_up
from .metrics.query import Query
from .metrics.rollup import Rollups
from .store.meta import MetaStore

HOUR_US = 3_600_000_000
log = logging.getLogger("vkurse_stats")


def open_analytics(url: str) -> Any:
    """The analytic store for ``url`` (``duckdb:///path`` or ``clickhouse://...``/``chdb:///dir``)."""
    if url.startswith("duckdb:///"):
        from .store.duckdb import DuckDBStore

        return DuckDBStore(url.removeprefix("duckdb:///"))
    if url.startswith(("clickhouse://", "clickhouses://", "chdb://")):
        from .store.clickhouse import ClickHouseStore  # type: ignore[import-not-found]

        return ClickHouseStore(url)
    raise ValueError(f"unsupported analytics URL {url!r} (expected duckdb:///…, clickhouse://… or chdb:///…)")


@dataclass
class Services:
    settings: Settings
    meta: MetaStore
    analytics: Any
    rollups: Rollups
    query: Query
    _worker: tuple[threading.Thread, threading.Event] | None = None

    def now_us(self) -> int:
        return self.settings.now_us()

    def ingestor(self, *, company_scope: str | None = None, batch_size: int = 100_000) -> Ingestor:
        return Ingestor(self.analytics, self.meta, self.rollups, company_scope=company_scope, batch_size=batch_size)

    def ingest_lines(
        self, lines: Iterable[bytes | str], *, company_scope: str | None = None, defer_rollups: bool = False
    ) -> IngestResult:
        """Validate and store JSON Lines; returns accepted/rejected and the errors.

        With ``defer_rollups`` (many small batches, e.g. over HTTP) the rollups are recomputed by
        the background worker or the next read instead of before returning."""
        ing = self.ingestor(company_scope=company_scope)
        ing.add_lines(lines)
        return ing.finish(defer=defer_rollups)

    def start_rollup_worker(self, interval: float = 1.0) -> None:
        """Apply deferred rollups every ``interval`` seconds in a daemon thread."""
        if self._worker is not None:
            return
        stop = threading.Event()

        def run() -> None:
            # The first batches of a server then do not wait for the engine to load, nor read
            # the key columns whole to find the versions they replace.
            try:
                from .ingest import textscan  # numba: loaded here, not by every command

                warm_up()
                textscan.warm_up()
                getattr(self.analytics, "prepare_indexes", lambda: None)()
            except Exception:  # noqa: BLE001 - the first writes do it instead
                log.exception("could not prepare the metric engine and key indexes ahead of time")
            while not stop.wait(interval):
                try:
                    self.rollups.catch_up()
                except Exception:  # noqa: BLE001 - keep the worker alive; the next read retries
                    log.exception("deferred rollups failed; the next read retries them")

        self._worker = (threading.Thread(target=run, name="rollups", daemon=True), stop)
        self._worker[0].start()

    def stop_rollup_worker(self) -> None:
        if self._worker is not None:
            thread, stop = self._worker
            stop.set()
            thread.join()
            self._worker = None
        self.rollups.catch_up()

    def close(self) -> None:
        self.stop_rollup_worker()
        self.analytics.close()
        self.meta.close()


def open_services(settings: Settings | None = None) -> Services:
    settings = settings or Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    meta = MetaStore(settings.resolved_database_url)
    analytics = open_analytics(settings.resolved_analytics_url)
    cap_us = settings.max_open_hours * HOUR_US
    stored_cap = analytics.meta_get("max_open_hours")
    if stored_cap is None:
        analytics.meta_set("max_open_hours", str(settings.max_open_hours))
    elif int(stored_cap) != settings.max_open_hours:
        cap_us = int(stored_cap) * HOUR_US  # rollups were built with it; `rebuild --max-open-hours` changes it
    rollups = Rollups(analytics, meta, cap_us, settings.now_us)
    return Services(settings, meta, analytics, rollups, Query(analytics, meta, rollups))
