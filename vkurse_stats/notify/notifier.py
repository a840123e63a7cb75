"""The notifier: queues messages in the outbox, sends the reports that fall due, and delivers
what is queued with retries, in a thread of the server (never in a request).

One run (:meth:`Notifier.run_once`) first enqueues every scheduled report whose period fell due
(the outbox key of a period makes that once per account and period, across ticks, restarts and
processes; a report missed while the server was down is enqueued when it comes back), then
delivers every due message: e-mail through the SMTP relay, webhooks signed with the company's
current secret. A failed attempt is tried again after a backoff that doubles from one minute to
six hours; after :data:`MAX_ATTEMPTS` the message is given up. Support sees every message and
its state, and may retry one. Deliveries and give-ups are audited.

A message is marked delivered right after the relay or the receiver accepted it: if the process
dies between the two, that one message is sent again after a restart (the window is one SMTP or
HTTP exchange); nothing else is ever sent twice.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..export.labels import check_lang
from ..store.accounts import AccountStore
from ..store.notify import Delivery, NotifyStore, ReportKind
from ..worker import Worker
from .mail import Attachment, DeliveryError, build_message, send_email
from .reports import Period, latest_period, parse_report_time, report_message
from .webhook import body_of, post_webhook

if TYPE_CHECKING:
    from ..service import Services

log = logging.getLogger("vkurse_stats")

ACTOR = "notifier"
MAX_ATTEMPTS = 12
BACKOFF_BASE_S = 60.0
BACKOFF_MAX_S = 6 * 3600.0
LEASE_S = 300.0  # longer than one SMTP or HTTP exchange with its timeouts
BATCH = 20


def backoff_s(attempts: int) -> float:
    """Seconds to wait after the ``attempts``-th failed attempt."""
    return min(BACKOFF_BASE_S * 2.0 ** min(attempts - 1, 30), BACKOFF_MAX_S)


class Notifier(Worker):
    """Queueing, report scheduling and delivery over the services of one installation; its
    thread runs every ``notify_interval`` seconds, and at once when something is queued, and
    :meth:`stop` ends it after its current send (bounded by the SMTP and HTTP timeouts)."""

    thread_name = "notifier"

    def __init__(self, services: Services, *, clock: Callable[[], float] | None = None) -> None:
        super().__init__()
        self.services = services
        self.settings = services.settings
        self.store = NotifyStore(services.meta.engine)
        self.accounts = AccountStore(services.meta.engine, clock=clock or self._now)
        self.clock = clock or self._now
        self.report_time = parse_report_time(self.settings.report_time)
        self._woken = False

    def _now(self) -> float:
        return self.settings.now_us() / 1_000_000

    # --- queueing ------------------------------------------------------------------------------
    def queue_email(
        self,
        *,
        to: str,
        subject: str,
        body: str,
        company_id: str | None = None,
        account_id: int | None = None,
        attachments: list[Attachment] | None = None,
        dedup_key: str | None = None,
    ) -> int | None:
        """Queue an e-mail; returns its outbox id (None: ``dedup_key`` was queued before)."""
        message = build_message(
            sender=self.settings.smtp_from,
            to=to,
            subject=subject,
            body=body,
            sent_at=datetime.fromtimestamp(self.clock(), UTC),
            attachments=attachments or [],
        )
        return self._queued(
            self.store.enqueue(
                channel="email",
                recipient=to,
                subject=subject,
                payload=message,
                now=self.clock(),
                company_id=company_id,
                account_id=account_id,
                dedup_key=dedup_key,
            )
        )

    def queue_webhook(
        self, company_id: str, event_type: str, data: dict[str, Any], *, dedup_key: str | None = None
    ) -> int | None:
        """Queue ``{"type": event_type, **data}`` for the company's webhook; None when the
        company has none (or ``dedup_key`` was queued before)."""
        hook = self.store.webhook(company_id)
        if hook is None:
            return None
        delivery = dedup_key or str(uuid.uuid4())
        body = body_of(event_type, {"delivery": delivery, "company": company_id, **data})
        return self._queued(
            self.store.enqueue(
                channel="webhook",
                recipient=hook.url,
                subject=event_type,
                payload=body,
                now=self.clock(),
                company_id=company_id,
                headers={"X-VKurse-Event": event_type, "X-VKurse-Delivery": delivery},
                dedup_key=dedup_key,
            )
        )

    def _queued(self, delivery_id: int | None) -> int | None:
        if delivery_id is not None:
            self.wake()
        return delivery_id

    # --- reports -------------------------------------------------------------------------------
    def queue_report(
        self, account_id: int, email: str, company_id: str, period: Period, lang: str, *, dedup: bool = True
    ) -> int | None:
        """Write the report e-mail of ``period`` and queue it (once per account and period
        with ``dedup``; "send now" queues another)."""
        key = period.key(account_id) if dedup else None
        if key is not None and self.store.has_key(key):
            return None
        subject, message = report_message(
            self.services.query,
            company_id,
            period,
            check_lang(lang),
            sender=self.settings.smtp_from,
            to=email,
            sent_at=datetime.fromtimestamp(self.clock(), UTC),
            settings_url=f"{self.settings.public_url}/settings",
        )
        return self._queued(
            self.store.enqueue(
                channel="email",
                recipient=email,
                subject=subject,
                payload=message,
                now=self.clock(),
                company_id=company_id,
                account_id=account_id,
                dedup_key=key,
            )
        )

    def report_period(self, kind: ReportKind, company_id: str) -> Period:
        """The last complete period of ``kind`` of the company (what its report covers now)."""
        info = self.services.meta.company(company_id)
        if info is None:
            raise KeyError(company_id)
        return latest_period(kind, self.clock(), info.timezone, self.report_time)

    def schedule_reports(self) -> int:
        """Queue every report that fell due since its subscription began; returns how many."""
        now = self.clock()
        queued = 0
        timezones: dict[str, str | None] = {}
        for sub in self.store.subscribers():
            if sub.company_id not in timezones:
                info = self.services.meta.company(sub.company_id)
                timezones[sub.company_id] = info.timezone if info else None
            tz = timezones[sub.company_id]
            if tz is None:
                continue
            period = latest_period(sub.subscription.kind, now, tz, self.report_time)
            if period.due_at < sub.subscription.created_at:
                continue  # due before the subscription began: only "send now" sends that one
            try:
                if (
                    self.queue_report(
                        sub.subscription.account_id, sub.email, sub.company_id, period, sub.subscription.lang
                    )
                    is not None
                ):
                    queued += 1
            except Exception:  # noqa: BLE001 - one report's failure must not stop the others
                log.exception(
                    "could not write the %s report of account %s", sub.subscription.kind, sub.subscription.account_id
                )
        return queued

    # --- delivery ------------------------------------------------------------------------------
    def deliver_due(self) -> tuple[int, int]:
        """Attempt every message due now; returns (delivered, failed attempts)."""
        delivered = failed = 0
        while not self._stopping:
            batch = self.store.claim_due(self.clock(), LEASE_S, BATCH)
            if not batch:
                break
            for item in batch:
                if self._attempt(item):
                    delivered += 1
                else:
                    failed += 1
            if len(batch) < BATCH:
                break
        return delivered, failed

    def _attempt(self, item: Delivery) -> bool:
        try:
            self._send(item)
        except DeliveryError as exc:
            error = str(exc)
        except Exception as exc:  # noqa: BLE001 - recorded on the message, retried like any failure
            log.exception("delivery %s failed unexpectedly", item.id)
            error = f"{type(exc).__name__}: {exc}"
        else:
            now = self.clock()
            self.store.mark_delivered(item.id, now)
            self.accounts.audit(
                ACTOR,
                "delivery.sent",
                item.company_id,
                delivery=item.id,
                channel=item.channel,
                recipient=item.recipient,
                subject=item.subject,
                attempts=item.attempts + 1,
            )
            return True
        attempts = item.attempts + 1
        now = self.clock()
        give_up = attempts >= MAX_ATTEMPTS
        self.store.mark_attempt_failed(item.id, now, error, None if give_up else now + backoff_s(attempts))
        if give_up:
            self.accounts.audit(
                ACTOR,
                "delivery.failed",
                item.company_id,
                delivery=item.id,
                channel=item.channel,
                recipient=item.recipient,
                subject=item.subject,
                attempts=attempts,
                error=error,
            )
        log.warning(
            "delivery %s (%s to %s) failed, attempt %d: %s", item.id, item.channel, item.recipient, attempts, error
        )
        return False

    def _send(self, item: Delivery) -> None:
        if item.channel == "email":
            send_email(self.settings, item.recipient, item.payload)
            return
        hook = self.store.webhook(item.company_id or "")
        if hook is None:
            raise DeliveryError("the company has no webhook any more")
        # Signed now, with the secret in force: a rotated secret applies to retries as well. The
        # address is checked now too (DNS may have changed since the URL was saved).
        post_webhook(
            item.recipient, item.payload, hook.secret, item.headers, allow_private=self.settings.webhook_allow_private
        )

    def run_once(self) -> None:
        """Queue the reports due, then deliver what is due (one tick of the thread)."""
        self.schedule_reports()
        self.deliver_due()

    # --- the thread ----------------------------------------------------------------------------
    def wake(self) -> None:
        with self._cv:
            self._woken = True
            self._cv.notify_all()

    def _run(self) -> None:
        interval = max(0.05, self.settings.notify_interval)
        while True:
            with self._cv:
                if self._stopping:
                    return
                self._woken = False
            try:
                self.run_once()
            except Exception:  # noqa: BLE001 - a store hiccup: the next tick tries again
                log.exception("the notifier's run failed; it runs again in %s s", interval)
            deadline = time.monotonic() + interval
            with self._cv:
                self._cv.wait_for(lambda: self._stopping or self._woken, timeout=max(0.0, deadline - time.monotonic()))
