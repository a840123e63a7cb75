"""The services of one installation, opened from :class:`Settings`: the metadata store and the
accounts in it, the analytic store chosen by URL, rollups, the query API and the ingest entry
point."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .config import Settings
from .ingest import Actor, Ingestor, IngestResult
from .metrics.engine import warm_up as warm_engine
from .metrics.query import Query
from .metrics.rollup import Rollups
from .store.accounts import AccountStore
from .store.base import AnalyticStore
from .store.meta import MetaStore
from .writer import Writer

if TYPE_CHECKING:
    from .notify.alerts import AlertEngine
    from .notify.notifier import Notifier

HOUR_US = 3_600_000_000
log = logging.getLogger("vkurse_stats")


def open_analytics(url: str, settings: Settings | None = None) -> AnalyticStore:
    """The analytic store for ``url`` (``duckdb:///path`` or ``clickhouse://...``/``chdb:///dir``)."""
    if url.startswith("duckdb:///"):
        from .store.duckdb import DuckDBStore

        return DuckDBStore(url.removeprefix("duckdb:///"), memory_limit=(settings or Settings()).duckdb_memory)
    if url.startswith(("clickhouse://", "clickhouses://", "chdb://")):
        from .store.clickhouse import ClickHouseStore

        return ClickHouseStore(url)
    raise ValueError(f"unsupported analytics URL {url!r} (expected duckdb:///…, clickhouse://… or chdb:///…)")


@dataclass
class Services:
    settings: Settings
    meta: MetaStore
    analytics: AnalyticStore
    rollups: Rollups
    query: Query
    writer: Writer = field(init=False)
    accounts: AccountStore = field(init=False)  # accounts, sessions, tokens, the audit log

    _notifier: Notifier | None = field(init=False, default=None)
    _alerts: AlertEngine | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.writer = Writer(self.rollups)
        self.accounts = AccountStore(self.meta.engine)

    @property
    def notifier(self) -> Notifier:
        """E-mail, webhooks and scheduled reports (made on first use: commands that send
        nothing do not load it)."""
        if self._notifier is None:
            from .notify.notifier import Notifier

            self._notifier = Notifier(self)
        return self._notifier

    def start_notifier(self) -> None:
        """Start the server's scheduler thread (scheduled reports, deliveries and retries)."""
        self.notifier.start()

    def stop_notifier(self) -> None:
        if self._notifier is not None:
            self._notifier.stop()

    @property
    def alerts(self) -> AlertEngine:
        """Licence alerts: evaluated after the writer's applies, in a thread of their own."""
        if self._alerts is None:
            from .notify.alerts import AlertEngine

            self._alerts = AlertEngine(self)
        return self._alerts

    def start_alerts(self) -> None:
        """Evaluate alerts after every apply of the writer (and resume where they stopped)."""
        engine = self.alerts
        if not engine.running:
            self.writer.listen(engine.note)
            self.rollups.rebuilt_listeners.append(engine.note)
            engine.start()

    def stop_alerts(self) -> None:
        if self._alerts is not None and self._alerts.running:
            self.writer.unlisten(self._alerts.note)
            if self._alerts.note in self.rollups.rebuilt_listeners:
                self.rollups.rebuilt_listeners.remove(self._alerts.note)
            self._alerts.stop()

    def now_us(self) -> int:
        return self.settings.now_us()

    def ingestor(
        self, *, company_scope: str | None = None, batch_size: int = 100_000, actor: Actor | None = None
    ) -> Ingestor:
        """An ingestor for a writer: ``company_scope`` limits what it may write, ``actor`` is who it
        is in the audit log of the company changes it makes (default: ``import``)."""
        return Ingestor(
            self.analytics, self.meta, self.rollups, company_scope=company_scope, batch_size=batch_size, actor=actor
        )

    def ingest_lines(
        self,
        lines: Iterable[bytes | str],
        *,
        company_scope: str | None = None,
        defer_rollups: bool = False,
        actor: Actor | None = None,
    ) -> IngestResult:
        """Validate and store JSON Lines; returns accepted/rejected and the errors.

        With ``defer_rollups`` (many small batches, e.g. over HTTP) the rollups are recomputed by
        the writer or the next read instead of before returning; while the server's writer runs,
        the records are stored by it, in one transaction with those of every other request
        waiting (group commit)."""
        ing = self.ingestor(company_scope=company_scope, actor=actor)
        ing.add_lines(lines)
        if defer_rollups and self.writer.running:
            return self.writer.submit(ing)
        return ing.finish(defer=defer_rollups)

    def start_writer(self, interval: float = 1.0) -> None:
        """Start the server's writer thread (group commit, deferred rollups every ``interval``
        seconds); it first loads the engine and the key indexes, so the first batches of a server
        do not wait for the engine to load, nor read the key columns whole."""

        def warm_up() -> None:
            from .ingest import textscan  # numba: loaded here, not by every command

            warm_engine()
            textscan.warm_up()
            self.analytics.prepare_indexes()

        self.writer.interval = interval
        self.writer.start(warm_up)

    def stop_writer(self) -> None:
        self.writer.stop()
        self.rollups.catch_up()

    def readiness(self) -> dict[str, str]:
        """What keeps the stores from being read and written now (empty when ready)."""
        problems: dict[str, str] = {}
        free = shutil.disk_usage(self.settings.data_dir).free
        if free < self.settings.min_free_mb * 2**20:
            problems["disk"] = (
                f"{free / 2**20:.0f} MiB free in {self.settings.data_dir}, fewer than "
                f"{self.settings.min_free_mb} MiB (VKURSE_STATS_MIN_FREE_MB)"
            )
        analytics = self.analytics.probe()
        if analytics:
            problems["analytics"] = analytics
        meta = self.meta.probe()
        if meta:
            problems["metadata"] = meta
        return problems

    def close(self) -> None:
        self.stop_notifier()
        self.stop_writer()
        self.stop_alerts()
        self.analytics.close()
        self.meta.close()


def open_services(settings: Settings | None = None) -> Services:
    settings = settings or Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    meta = MetaStore(settings.resolved_database_url, clock=settings.now_us)
    analytics = open_analytics(settings.resolved_analytics_url, settings)
    cap_us = settings.max_open_hours * HOUR_US
    stored_cap = analytics.meta_get("max_open_hours")
    if stored_cap is None:
        analytics.meta_set("max_open_hours", str(settings.max_open_hours))
    elif int(stored_cap) != settings.max_open_hours:
        cap_us = int(stored_cap) * HOUR_US  # rollups were built with it; `rebuild --max-open-hours` changes it
    rollups = Rollups(analytics, meta, cap_us, settings.now_us)
    if not analytics.read_only:
        for company_id in rollups.recover():
            log.warning(
                "recomputed the figures of company %r: a process stopped before applying its last records", company_id
            )
    return Services(settings, meta, analytics, rollups, Query(analytics, meta, rollups))
