"""Settings of one installation: where data lives, which stores to use, and the clock.

Every setting comes from a command-line flag or a ``VKURSE_STATS_*`` environment variable; the
defaults keep everything in one data directory on embedded stores (SQLite + DuckDB).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ENV_PREFIX = "VKURSE_STATS_"
DEFAULT_MAX_INGEST_BYTES = 64 * 1024 * 1024


def env(name: str, default: str | None = None) -> str | None:
    """Return the ``VKURSE_STATS_<name>`` environment variable, or ``default``."""
    return os.environ.get(ENV_PREFIX + name, default)


@dataclass(frozen=True)
class Settings:
    """Where an installation keeps its data and which backends it uses."""

    data_dir: Path = field(default_factory=lambda: Path(env("DATA_DIR", "data") or "data"))
    analytics_url: str | None = field(default_factory=lambda: env("ANALYTICS_URL"))
    database_url: str | None = field(default_factory=lambda: env("DATABASE_URL"))
    max_open_hours: int = field(default_factory=lambda: int(env("MAX_OPEN_HOURS", "24") or "24"))
    # DuckDB's buffer cache (it spills to disk past it); DuckDB's own default is 80 % of RAM.
    duckdb_memory: str = field(default_factory=lambda: env("DUCKDB_MEMORY", "2GB") or "2GB")
    # Dashboard and API reads computed at once by a server (more wait their turn): the cores.
    read_concurrency: int = field(default_factory=lambda: int(env("READ_CONCURRENCY") or os.cpu_count() or 2))
    # Below this much free space in the data directory, /readyz reports the server not ready.
    min_free_mb: int = field(default_factory=lambda: int(env("MIN_FREE_MB") or 64))
    # A fixed "now" (ISO 8601 with offset) for reproducible demos and tests; unset = the clock.
    fixed_now: str | None = field(default_factory=lambda: env("NOW"))
    # Proxies whose X-Forwarded-For counts: a hop count or networks (see web/proxy.py).
    trusted_proxies: str = field(default_factory=lambda: _trusted_proxies())
    # The largest ingest body a request may send (after decompression).
    max_ingest_bytes: int = field(default_factory=lambda: int(env("MAX_INGEST_BYTES") or DEFAULT_MAX_INGEST_BYTES))

    # Outgoing e-mail (scheduled reports, alerts) through an SMTP relay; without a host, e-mail
    # stays queued in the outbox (retried, shown to support) until one is set.
    smtp_host: str | None = field(default_factory=lambda: env("SMTP_HOST"))
    smtp_port: int | None = field(default_factory=lambda: int(env("SMTP_PORT") or 0) or None)
    smtp_user: str | None = field(default_factory=lambda: env("SMTP_USER"))
    smtp_password: str | None = field(default_factory=lambda: env("SMTP_PASSWORD"))
    smtp_from: str = field(default_factory=lambda: env("SMTP_FROM") or "vkurse-stats@localhost")
    smtp_starttls: bool = field(default_factory=lambda: _flag("SMTP_STARTTLS"))
    smtp_ssl: bool = field(default_factory=lambda: _flag("SMTP_SSL"))
    # The address users open the service at, for links in e-mails.
    public_url: str = field(default_factory=lambda: (env("PUBLIC_URL") or "https://stats.vkurse.ru").rstrip("/"))
    # Local time (HH:MM, the company's timezone) at which scheduled reports are sent.
    report_time: str = field(default_factory=lambda: env("REPORT_TIME") or "09:00")
    # Seconds between two runs of the server's scheduler (reports due, messages to retry).
    notify_interval: float = field(default_factory=lambda: float(env("NOTIFY_INTERVAL") or 30))
    # Licence alerts (see notify/alerts.py): the default thresholds (percent of the limit in
    # force), the margin below a threshold the count must fall under, and for how long, before
    # the threshold re-arms; crossings older than the lookback are not alerted (a backfill of
    # history shows on the breaches page, not in a mailbox).
    alert_thresholds: str = field(default_factory=lambda: env("ALERT_THRESHOLDS") or "90,100")
    alert_margin_percent: float = field(default_factory=lambda: float(env("ALERT_MARGIN_PERCENT") or 5))
    alert_rearm_seconds: float = field(default_factory=lambda: float(env("ALERT_REARM_SECONDS") or 600))
    alert_lookback_days: int = field(default_factory=lambda: int(env("ALERT_LOOKBACK_DAYS") or 7))
    # Webhooks go only to public addresses unless this is set (an on-premises installation whose
    # receivers are in its own network): otherwise a company administrator could make the server
    # send requests into the network it runs in (see notify/webhook.py).
    webhook_allow_private: bool = field(default_factory=lambda: _flag("WEBHOOK_ALLOW_PRIVATE"))

    @property
    def resolved_analytics_url(self) -> str:
        return self.analytics_url or f"duckdb:///{self.data_dir / 'analytics.duckdb'}"

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'meta.sqlite3'}"

    def now_us(self) -> int:
        """The current instant in epoch microseconds (UTC)."""
        if self.fixed_now:
            return int(datetime.fromisoformat(self.fixed_now).timestamp() * 1_000_000)
        return int(datetime.now(UTC).timestamp() * 1_000_000)


def _trusted_proxies() -> str:
    """``VKURSE_STATS_TRUSTED_PROXIES``, else one hop when ``VKURSE_STATS_TRUST_PROXY`` is set
    (its older form), else none."""
    value = (env("TRUSTED_PROXIES") or "").strip()
    if value:
        return value
    return "1" if (env("TRUST_PROXY") or "").strip().lower() in ("1", "true", "yes") else ""


def _flag(name: str) -> bool:
    return (env(name) or "").strip().lower() in ("1", "true", "yes", "on")
