"""Notification state in the metadata store: report subscriptions, company webhooks, the
outbox of deliveries, and licence alerts (thresholds, the alerts recorded, who has read them).

Every message leaves through the outbox: a row is written first (what, to whom, the exact bytes
to send), then a delivery worker claims it, sends it and marks it delivered, or records the error
and when to try again. Because the row holds the bytes, a retry sends exactly what the first
attempt tried to send; because rows survive a restart, nothing queued is lost. ``dedup_key`` is
unique: a scheduled message enqueued twice (two ticks, two processes, a restart) is stored once.

A worker claims a row with a compare-and-swap on ``claimed_until`` (a lease), so two workers,
in one process or several, never send the same row at once; a worker that dies mid-send leaves
a lease that expires, and the row is tried again.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from .accounts import accounts
from .meta import METADATA

ReportKind = Literal["monthly", "weekly"]
REPORT_KINDS: tuple[ReportKind, ...] = ("monthly", "weekly")
Channel = Literal["email", "webhook"]
DeliveryState = Literal["pending", "delivered", "failed"]
DELIVERY_STATES: tuple[DeliveryState, ...] = ("pending", "delivered", "failed")

report_subscriptions = sa.Table(
    "report_subscriptions",
    METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("lang", sa.String(8), nullable=False),
    # A period whose report fell due before this instant is not sent (only "send now" does).
    sa.Column("created_at", sa.Float, nullable=False),
    sa.UniqueConstraint("account_id", "kind", name="uq_report_subscription"),
)

company_webhooks = sa.Table(
    "company_webhooks",
    METADATA,
    sa.Column("company_id", sa.String(256), primary_key=True),
    sa.Column("url", sa.String(2000), nullable=False),
    # The HMAC key the receiver verifies signatures with: kept readable, it is shown to the
    # company so it can check what we send (it grants nothing on our side).
    sa.Column("secret", sa.String(128), nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

outbox = sa.Table(
    "notify_outbox",
    METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("dedup_key", sa.String(400), unique=True),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("company_id", sa.String(256), index=True),
    sa.Column("account_id", sa.Integer),
    sa.Column("recipient", sa.String(2000), nullable=False),
    sa.Column("subject", sa.String(500), nullable=False),
    sa.Column("payload", sa.LargeBinary, nullable=False),
    sa.Column("headers", sa.Text, nullable=False, default="{}"),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("next_attempt_at", sa.Float, index=True),  # None once delivered or given up
    sa.Column("claimed_until", sa.Float),
    sa.Column("last_error", sa.Text),
    sa.Column("delivered_at", sa.Float),
    sa.Column("failed_at", sa.Float),
)

# Per company and limited metric: the alert thresholds (percent of the limit in force) and the
# instant they apply from (a crossing before it is judged by the thresholds it had then: none
# recorded again). No row: the defaults, from the beginning.
alert_thresholds = sa.Table(
    "alert_thresholds",
    METADATA,
    sa.Column("company_id", sa.String(256), primary_key=True),
    sa.Column("metric", sa.String(64), primary_key=True),
    sa.Column("percents", sa.String(200), nullable=False),  # JSON list of ints, ascending
    sa.Column("since_us", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

# One row per crossing recorded, and per correction of one: ``kind`` is raised (found when it
# happened), corrected (found after the fact, or replacing ``replaces``) or retracted (the
# crossing of ``replaces`` no longer exists). ``superseded_by`` marks a row a later one replaced.
alerts = sa.Table(
    "alerts",
    METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("company_id", sa.String(256), nullable=False, index=True),
    sa.Column("metric", sa.String(64), nullable=False),
    sa.Column("percent", sa.Integer, nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("instant_us", sa.BigInteger, nullable=False),
    sa.Column("value", sa.Integer, nullable=False),
    sa.Column("level", sa.Integer, nullable=False),
    sa.Column("limit_value", sa.Integer, nullable=False),
    sa.Column("active", sa.Text, nullable=False, default="[]"),  # JSON: the events active then
    sa.Column("replaces", sa.Integer),
    sa.Column("superseded_by", sa.Integer),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Index("ix_alerts_company_instant", "company_id", "metric", "percent", "instant_us"),
)

alert_reads = sa.Table(
    "alert_reads",
    METADATA,
    sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("last_seen_id", sa.Integer, nullable=False),
)

# Per company: the latest instant its curves were evaluated up to (a crossing found before it
# is a correction), so a restart resumes there.
alert_marks = sa.Table(
    "alert_marks",
    METADATA,
    sa.Column("company_id", sa.String(256), primary_key=True),
    sa.Column("watermark_us", sa.BigInteger, nullable=False),
)

TABLES = [report_subscriptions, company_webhooks, outbox, alert_thresholds, alerts, alert_reads, alert_marks]
AlertKind = Literal["raised", "corrected", "retracted"]


@dataclass(frozen=True)
class Subscription:
    id: int
    account_id: int
    kind: ReportKind
    lang: str
    created_at: float


@dataclass(frozen=True)
class Subscriber:
    """A subscription with what sending it needs: the account's address and company."""

    subscription: Subscription
    email: str
    company_id: str


@dataclass(frozen=True)
class Webhook:
    company_id: str
    url: str
    secret: str
    updated_at: float


@dataclass(frozen=True)
class Delivery:
    id: int
    dedup_key: str | None
    channel: Channel
    company_id: str | None
    account_id: int | None
    recipient: str
    subject: str
    payload: bytes
    headers: dict[str, str]
    created_at: float
    attempts: int
    next_attempt_at: float | None
    last_error: str | None
    delivered_at: float | None
    failed_at: float | None

    @property
    def state(self) -> DeliveryState:
        if self.delivered_at is not None:
            return "delivered"
        return "failed" if self.failed_at is not None else "pending"


@dataclass(frozen=True)
class Thresholds:
    """A limited metric's alert thresholds (percent of the limit) and the instant they apply from."""

    metric: str
    percents: tuple[int, ...]
    since_us: int
    custom: bool  # False: the defaults


@dataclass(frozen=True)
class Alert:
    id: int
    company_id: str
    metric: str
    percent: int
    kind: AlertKind
    instant_us: int
    value: int
    level: int
    limit: int
    active: list[dict[str, Any]]
    replaces: int | None
    superseded_by: int | None
    created_at: float

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "company": self.company_id,
            "metric": self.metric,
            "percent": self.percent,
            "kind": self.kind,
            "value": self.value,
            "level": self.level,
            "limit": self.limit,
            "active": self.active,
            "replaces": self.replaces,
            "superseded_by": self.superseded_by,
        }


def _alert(row: Any) -> Alert:
    m = row._mapping
    return Alert(
        id=m["id"],
        company_id=m["company_id"],
        metric=m["metric"],
        percent=m["percent"],
        kind=m["kind"],
        instant_us=m["instant_us"],
        value=m["value"],
        level=m["level"],
        limit=m["limit_value"],
        active=json.loads(m["active"] or "[]"),
        replaces=m["replaces"],
        superseded_by=m["superseded_by"],
        created_at=m["created_at"],
    )


def _delivery(row: Any) -> Delivery:
    m = row._mapping
    return Delivery(
        id=m["id"],
        dedup_key=m["dedup_key"],
        channel=m["channel"],
        company_id=m["company_id"],
        account_id=m["account_id"],
        recipient=m["recipient"],
        subject=m["subject"],
        payload=bytes(m["payload"]),
        headers=json.loads(m["headers"] or "{}"),
        created_at=m["created_at"],
        attempts=m["attempts"],
        next_attempt_at=m["next_attempt_at"],
        last_error=m["last_error"],
        delivered_at=m["delivered_at"],
        failed_at=m["failed_at"],
    )


def _subscription(row: Any) -> Subscription:
    m = row._mapping
    return Subscription(
        id=m["id"], account_id=m["account_id"], kind=m["kind"], lang=m["lang"], created_at=m["created_at"]
    )


def new_webhook_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


class NotifyStore:
    """Subscriptions, webhooks and the outbox over the metadata engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # The metadata store may have migrated before this module was imported.
        METADATA.create_all(engine, tables=TABLES)

    # --- subscriptions -------------------------------------------------------------------------
    def subscriptions(self, account_id: int) -> dict[ReportKind, Subscription]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(report_subscriptions).where(report_subscriptions.c.account_id == account_id)
            ).fetchall()
        return {s.kind: s for s in map(_subscription, rows)}

    def set_subscriptions(
        self, account_id: int, kinds: set[ReportKind], lang: str, now: float
    ) -> tuple[set[str], set[str]]:
        """Subscribe the account to exactly ``kinds`` in ``lang``; returns (added, removed)."""
        t = report_subscriptions
        with self.engine.begin() as conn:
            have = {r.kind for r in conn.execute(sa.select(t.c.kind).where(t.c.account_id == account_id))}
            removed = have - set(kinds)
            added = set(kinds) - have
            if removed:
                conn.execute(t.delete().where(t.c.account_id == account_id, t.c.kind.in_(sorted(removed))))
            conn.execute(t.update().where(t.c.account_id == account_id).values(lang=lang))
            for kind in sorted(added):
                conn.execute(t.insert().values(account_id=account_id, kind=kind, lang=lang, created_at=now))
        return set(added), set(removed)

    def subscribers(self) -> list[Subscriber]:
        """Every subscription of an enabled company administrator, by id."""
        t = report_subscriptions
        q = (
            sa.select(t, accounts.c.email, accounts.c.company_id.label("account_company"))
            .join(accounts, accounts.c.id == t.c.account_id)
            .where(accounts.c.disabled.is_(False), accounts.c.company_id.is_not(None))
            .order_by(t.c.id)
        )
        with self.engine.connect() as conn:
            return [Subscriber(_subscription(r), r.email, r.account_company) for r in conn.execute(q)]

    # --- webhooks ------------------------------------------------------------------------------
    def webhook(self, company_id: str) -> Webhook | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(company_webhooks).where(company_webhooks.c.company_id == company_id)).first()
        return Webhook(row.company_id, row.url, row.secret, row.updated_at) if row else None

    def set_webhook(self, company_id: str, url: str, now: float, *, new_secret: bool = False) -> Webhook:
        """Set the company's webhook URL (a secret is made with the first URL, or on request)."""
        t = company_webhooks
        with self.engine.begin() as conn:
            row = conn.execute(sa.select(t).where(t.c.company_id == company_id)).first()
            if row is None:
                conn.execute(
                    t.insert().values(company_id=company_id, url=url, secret=new_webhook_secret(), updated_at=now)
                )
            else:
                values: dict[str, Any] = {"url": url, "updated_at": now}
                if new_secret:
                    values["secret"] = new_webhook_secret()
                conn.execute(t.update().where(t.c.company_id == company_id).values(**values))
        hook = self.webhook(company_id)
        assert hook is not None
        return hook

    def delete_webhook(self, company_id: str) -> bool:
        with self.engine.begin() as conn:
            return bool(
                conn.execute(company_webhooks.delete().where(company_webhooks.c.company_id == company_id)).rowcount
            )

    # --- the outbox ----------------------------------------------------------------------------
    def enqueue(
        self,
        *,
        channel: Channel,
        recipient: str,
        subject: str,
        payload: bytes,
        now: float,
        company_id: str | None = None,
        account_id: int | None = None,
        headers: dict[str, str] | None = None,
        dedup_key: str | None = None,
    ) -> int | None:
        """Queue a message to send at once; returns its id, or None when ``dedup_key`` is
        already queued (or sent)."""
        values = {
            "dedup_key": dedup_key,
            "channel": channel,
            "company_id": company_id,
            "account_id": account_id,
            "recipient": recipient,
            "subject": subject[:500],
            "payload": payload,
            "headers": json.dumps(headers or {}),
            "created_at": now,
            "attempts": 0,
            "next_attempt_at": now,
        }
        try:
            with self.engine.begin() as conn:
                key = conn.execute(outbox.insert().values(**values)).inserted_primary_key
                assert key is not None
                return int(key[0])
        except sa.exc.IntegrityError:
            if dedup_key is not None and self.has_key(dedup_key):
                return None
            raise

    def has_key(self, dedup_key: str) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(outbox.c.id).where(outbox.c.dedup_key == dedup_key)).first() is not None

    def claim_due(self, now: float, lease: float, limit: int = 20) -> list[Delivery]:
        """Claim up to ``limit`` messages due at ``now`` for ``lease`` seconds (oldest first)."""
        t = outbox
        due = (
            sa.select(t.c.id)
            .where(t.c.next_attempt_at <= now, sa.or_(t.c.claimed_until.is_(None), t.c.claimed_until < now))
            .order_by(t.c.next_attempt_at, t.c.id)
            .limit(limit)
        )
        claimed: list[Delivery] = []
        with self.engine.connect() as conn:
            ids = list(conn.execute(due).scalars())
        for delivery_id in ids:
            with self.engine.begin() as conn:
                swapped = conn.execute(
                    t.update()
                    .where(
                        t.c.id == delivery_id,
                        t.c.next_attempt_at <= now,
                        sa.or_(t.c.claimed_until.is_(None), t.c.claimed_until < now),
                    )
                    .values(claimed_until=now + lease)
                ).rowcount
                if swapped:
                    claimed.append(_delivery(conn.execute(sa.select(t).where(t.c.id == delivery_id)).one()))
        return claimed

    def mark_delivered(self, delivery_id: int, now: float) -> None:
        """Record the delivery; the bytes are dropped (a report's workbook need not stay), the
        row stays as the record and as the key that keeps the message from being sent again."""
        with self.engine.begin() as conn:
            conn.execute(
                outbox.update()
                .where(outbox.c.id == delivery_id)
                .values(
                    attempts=outbox.c.attempts + 1,
                    delivered_at=now,
                    next_attempt_at=None,
                    claimed_until=None,
                    last_error=None,
                    payload=b"",
                )
            )

    def mark_attempt_failed(self, delivery_id: int, now: float, error: str, next_attempt_at: float | None) -> None:
        """Record a failed attempt: try again at ``next_attempt_at``, or give up (None)."""
        values: dict[str, Any] = {
            "attempts": outbox.c.attempts + 1,
            "last_error": error[:2000],
            "next_attempt_at": next_attempt_at,
            "claimed_until": None,
        }
        if next_attempt_at is None:
            values["failed_at"] = now
        with self.engine.begin() as conn:
            conn.execute(outbox.update().where(outbox.c.id == delivery_id).values(**values))

    def retry(self, delivery_id: int, now: float) -> Delivery | None:
        """Make a pending or failed message due at once (support's "retry now"); None when it
        does not exist or was delivered."""
        t = outbox
        with self.engine.begin() as conn:
            n = conn.execute(
                t.update()
                .where(t.c.id == delivery_id, t.c.delivered_at.is_(None))
                .values(next_attempt_at=now, failed_at=None, claimed_until=None)
            ).rowcount
        return self.delivery(delivery_id) if n else None

    def delivery(self, delivery_id: int) -> Delivery | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(outbox).where(outbox.c.id == delivery_id)).first()
        return _delivery(row) if row else None

    def deliveries(
        self, *, limit: int = 50, offset: int = 0, company_id: str | None = None, state: DeliveryState | None = None
    ) -> tuple[list[Delivery], int]:
        """Messages newest first, of one company and/or in one state; returns them and how many
        match."""
        t = outbox
        where: list[sa.ColumnElement[bool]] = []
        if company_id:
            where.append(t.c.company_id == company_id)
        if state == "delivered":
            where.append(t.c.delivered_at.is_not(None))
        elif state == "failed":
            where.append(t.c.failed_at.is_not(None))
        elif state == "pending":
            where.extend([t.c.delivered_at.is_(None), t.c.failed_at.is_(None)])
        q = sa.select(t).where(*where).order_by(t.c.id.desc()).limit(limit).offset(offset)
        with self.engine.connect() as conn:
            rows = conn.execute(q).fetchall()
            total = int(conn.execute(sa.select(sa.func.count()).select_from(t).where(*where)).scalar() or 0)
        return [_delivery(r) for r in rows], total

    # --- alerts --------------------------------------------------------------------------------
    def thresholds(self, company_id: str, metrics: list[str], default: tuple[int, ...]) -> dict[str, Thresholds]:
        """Each metric's thresholds for the company (``default`` where none were set)."""
        t = alert_thresholds
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t).where(t.c.company_id == company_id)).fetchall()
        found = {r.metric: Thresholds(r.metric, tuple(json.loads(r.percents)), int(r.since_us), True) for r in rows}
        return {m: found.get(m) or Thresholds(m, default, -(2**62), False) for m in metrics}

    def set_thresholds(
        self, company_id: str, metric: str, percents: tuple[int, ...], since_us: int, now: float
    ) -> None:
        t = alert_thresholds
        with self.engine.begin() as conn:
            n = conn.execute(
                t.update()
                .where(t.c.company_id == company_id, t.c.metric == metric)
                .values(percents=json.dumps(list(percents)), since_us=since_us, updated_at=now)
            ).rowcount
            if not n:
                conn.execute(
                    t.insert().values(
                        company_id=company_id,
                        metric=metric,
                        percents=json.dumps(list(percents)),
                        since_us=since_us,
                        updated_at=now,
                    )
                )

    def live_alerts(self, company_id: str, t0: int, t1: int) -> list[Alert]:
        """The crossings recorded in [t0, t1) that stand (not retracted nor replaced), by instant."""
        t = alerts
        q = (
            sa.select(t)
            .where(
                t.c.company_id == company_id,
                t.c.instant_us >= t0,
                t.c.instant_us < t1,
                t.c.kind != "retracted",
                t.c.superseded_by.is_(None),
            )
            .order_by(t.c.instant_us, t.c.id)
        )
        with self.engine.connect() as conn:
            return [_alert(r) for r in conn.execute(q)]

    def record_alerts(self, rows: list[dict[str, Any]], now: float) -> list[Alert]:
        """Insert alerts (one transaction), marking the rows each replaces; returns them."""
        out: list[Alert] = []
        with self.engine.begin() as conn:
            for values in rows:
                data = {
                    **values,
                    "active": json.dumps(values.get("active") or [], ensure_ascii=False),
                    "created_at": now,
                }
                key = conn.execute(alerts.insert().values(**data)).inserted_primary_key
                assert key is not None
                new_id = int(key[0])
                if values.get("replaces") is not None:
                    conn.execute(alerts.update().where(alerts.c.id == values["replaces"]).values(superseded_by=new_id))
                out.append(_alert(conn.execute(sa.select(alerts).where(alerts.c.id == new_id)).one()))
        return out

    def alert_list(self, company_id: str, *, limit: int = 50, offset: int = 0) -> tuple[list[Alert], int]:
        """A company's alerts newest first, and how many it has."""
        t = alerts
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(t).where(t.c.company_id == company_id).order_by(t.c.id.desc()).limit(limit).offset(offset)
            ).fetchall()
            total = int(
                conn.execute(sa.select(sa.func.count()).select_from(t).where(t.c.company_id == company_id)).scalar()
                or 0
            )
        return [_alert(r) for r in rows], total

    def unread_alerts(self, account_id: int, company_id: str) -> int:
        with self.engine.connect() as conn:
            seen = (
                conn.execute(
                    sa.select(alert_reads.c.last_seen_id).where(alert_reads.c.account_id == account_id)
                ).scalar()
                or 0
            )
            return int(
                conn.execute(
                    sa.select(sa.func.count())
                    .select_from(alerts)
                    .where(alerts.c.company_id == company_id, alerts.c.id > seen)
                ).scalar()
                or 0
            )

    def mark_alerts_read(self, account_id: int, up_to: int) -> None:
        t = alert_reads
        with self.engine.begin() as conn:
            n = conn.execute(
                t.update().where(t.c.account_id == account_id, t.c.last_seen_id < up_to).values(last_seen_id=up_to)
            ).rowcount
            if not n and conn.execute(sa.select(t.c.account_id).where(t.c.account_id == account_id)).first() is None:
                conn.execute(t.insert().values(account_id=account_id, last_seen_id=up_to))

    def watermark(self, company_id: str) -> int | None:
        with self.engine.connect() as conn:
            value = conn.execute(
                sa.select(alert_marks.c.watermark_us).where(alert_marks.c.company_id == company_id)
            ).scalar()
        return None if value is None else int(value)

    def watermarks(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            return {r.company_id: int(r.watermark_us) for r in conn.execute(sa.select(alert_marks))}

    def set_watermark(self, company_id: str, watermark_us: int) -> None:
        t = alert_marks
        with self.engine.begin() as conn:
            n = conn.execute(
                t.update()
                .where(t.c.company_id == company_id, t.c.watermark_us < watermark_us)
                .values(watermark_us=watermark_us)
            ).rowcount
            if not n and conn.execute(sa.select(t.c.company_id).where(t.c.company_id == company_id)).first() is None:
                conn.execute(t.insert().values(company_id=company_id, watermark_us=watermark_us))
