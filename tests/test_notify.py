"""Notifications against real components: scheduled reports and e-mail through a real local SMTP
server (aiosmtpd), webhooks to a real local HTTP server that checks the signature, the outbox in
the real metadata store across restarts. The notifier's clock is injected; nothing sleeps."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import lines
from tests.mail import HookSink, SmtpSink, attachment_of, cells
from tests.web.conftest import ACME, GLOBEX
from vkurse_stats.config import Settings
from vkurse_stats.export import export_xlsx
from vkurse_stats.notify.notifier import MAX_ATTEMPTS, Notifier, backoff_s
from vkurse_stats.notify.reports import latest_period, parse_report_time
from vkurse_stats.service import Services, open_services
from vkurse_stats.store.accounts import AccountStore

NOW = "2026-03-20T12:00:00+03:00"


def epoch(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


class Clock:
    def __init__(self, at: str) -> None:
        self.now = epoch(at)

    def set(self, at: str) -> None:
        self.now = epoch(at)

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A data directory with acme and globex stored through the real ingest path."""
    d = tmp_path / "data"
    svc = open_services(Settings(data_dir=d, fixed_now=NOW))
    try:
        assert svc.ingest_lines(lines(*ACME, *GLOBEX)).rejected == 0
    finally:
        svc.close()
    return d


@pytest.fixture
def open_at(data_dir: Path) -> Iterator[Callable[..., Services]]:
    """Open the services of ``data_dir`` (again: a restart) with the SMTP relay at ``port``."""
    opened: list[Services] = []

    def make(port: int, **kw: Any) -> Services:
        svc = open_services(
            Settings(
                data_dir=data_dir,
                fixed_now=NOW,
                smtp_host="127.0.0.1",
                smtp_port=port,
                smtp_from="stats@vkurse.test",
                **kw,
            )
        )
        opened.append(svc)
        return svc

    yield make
    for svc in opened:
        svc.close()


def admin(svc: Services, email: str = "admin@acme.ru", company: str = "acme") -> int:
    account, _ = AccountStore(svc.meta.engine).create_account(
        email, role="admin", company_id=company, password="correct-horse-battery"
    )
    return account.id


# --- when reports fall due ------------------------------------------------------------------------
NINE = parse_report_time("09:00")


def test_monthly_period_is_the_previous_month_from_the_first_at_nine_local() -> None:
    before = latest_period("monthly", epoch("2026-04-01T08:59:00+03:00"), "Europe/Moscow", NINE)
    assert (before.first, before.last) == (date(2026, 2, 1), date(2026, 2, 28))
    due = latest_period("monthly", epoch("2026-04-01T09:00:00+03:00"), "Europe/Moscow", NINE)
    assert (due.first, due.last, due.due_at) == (
        date(2026, 3, 1),
        date(2026, 3, 31),
        epoch("2026-04-01T09:00:00+03:00"),
    )
    # 09:00 in Yekaterinburg (UTC+5) is 07:00 in Moscow.
    ekb = latest_period("monthly", epoch("2026-04-01T07:30:00+03:00"), "Asia/Yekaterinburg", NINE)
    assert (ekb.first, ekb.due_at) == (date(2026, 3, 1), epoch("2026-04-01T09:00:00+05:00"))


def test_weekly_period_is_the_previous_monday_to_sunday() -> None:
    # 2026-03-23 is a Monday.
    before = latest_period("weekly", epoch("2026-03-23T08:00:00+03:00"), "Europe/Moscow", NINE)
    assert (before.first, before.last) == (date(2026, 3, 9), date(2026, 3, 15))
    due = latest_period("weekly", epoch("2026-03-25T00:00:00+03:00"), "Europe/Moscow", NINE)
    assert (due.first, due.last, due.due_at) == (
        date(2026, 3, 16),
        date(2026, 3, 22),
        epoch("2026-03-23T09:00:00+03:00"),
    )
    assert due.key(7) == "report:7:weekly:2026-03-16"


def test_bad_report_time_is_refused() -> None:
    with pytest.raises(ValueError, match="VKURSE_STATS_REPORT_TIME"):
        parse_report_time("9 am")


# --- scheduled reports ----------------------------------------------------------------------------
def test_monthly_report_is_sent_once_at_its_time_with_the_download_attached(
    open_at: Callable[..., Services], smtp: SmtpSink
) -> None:
    svc = open_at(smtp.port)
    account_id = admin(svc)
    clock = Clock("2026-03-20T12:00:00+03:00")
    notifier = Notifier(svc, clock=clock)
    notifier.store.set_subscriptions(account_id, {"monthly"}, "ru", clock())

    clock.set("2026-04-01T08:59:00+03:00")
    notifier.run_once()
    assert smtp.messages == []
    clock.set("2026-04-01T09:00:00+03:00")
    notifier.run_once()
    notifier.run_once()
    assert len(smtp.messages) == 1
    sender, rcpt, _ = smtp.messages[0]
    assert (sender, rcpt) == ("stats@vkurse.test", ["admin@acme.ru"])
    message = smtp.parsed()
    assert message["Subject"] == "ВКурсе: отчёт за март 2026 — ООО Акме"
    body = message.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert "Статистика использования лицензии компании «ООО Акме» за март 2026" in text
    assert "— 5 (пик 05.03.2026 10:10; 125\u202f% лимита 4)" in text
    assert "https://stats.vkurse.ru/settings" in text
    filename, xlsx = attachment_of(message)
    assert filename == "vkurse-stats_acme_2026-03-01_2026-03-31.xlsx"
    assert cells(xlsx) == cells(export_xlsx(svc.query, "acme", date(2026, 3, 1), date(2026, 3, 31), lang="ru"))
    entries, _ = svc.accounts.audit_entries(action="delivery.sent")
    assert [(e.actor, e.company_id, e.detail["recipient"]) for e in entries] == [("notifier", "acme", "admin@acme.ru")]


def test_nothing_is_sent_twice_across_a_restart_and_a_missed_run_is_sent_on_return(
    open_at: Callable[..., Services], smtp: SmtpSink
) -> None:
    svc = open_at(smtp.port)
    account_id = admin(svc)
    clock = Clock("2026-03-20T12:00:00+03:00")
    notifier = Notifier(svc, clock=clock)
    notifier.store.set_subscriptions(account_id, {"monthly", "weekly"}, "en", clock())
    # Down from before Monday 03-23 until Wednesday: the week's report is sent on return, once.
    clock.set("2026-03-25T15:00:00+03:00")
    notifier.run_once()
    assert [smtp.parsed(i)["Subject"] for i in range(len(smtp.messages))] == [
        "VKurse: weekly report 2026-03-16 — 2026-03-22 — ООО Акме"
    ]
    svc.close()

    svc = open_at(smtp.port)
    again = Notifier(svc, clock=clock)
    again.run_once()
    assert len(smtp.messages) == 1
    clock.set("2026-04-01T09:00:05+03:00")
    again.run_once()
    again.run_once()
    subjects = sorted(smtp.parsed(i)["Subject"] for i in range(len(smtp.messages)))
    assert subjects == [
        "VKurse: report for March 2026 — ООО Акме",
        "VKurse: weekly report 2026-03-16 — 2026-03-22 — ООО Акме",
        "VKurse: weekly report 2026-03-23 — 2026-03-29 — ООО Акме",
    ]


def test_a_subscription_starts_with_the_next_period(open_at: Callable[..., Services], smtp: SmtpSink) -> None:
    svc = open_at(smtp.port)
    account_id = admin(svc)
    clock = Clock("2026-04-02T10:00:00+03:00")  # March's report fell due yesterday
    notifier = Notifier(svc, clock=clock)
    notifier.store.set_subscriptions(account_id, {"monthly"}, "ru", clock())
    notifier.run_once()
    assert smtp.messages == []
    clock.set("2026-05-01T09:00:00+03:00")
    notifier.run_once()
    assert smtp.parsed()["Subject"] == "ВКурсе: отчёт за апрель 2026 — ООО Акме"


def test_a_disabled_account_gets_no_report(open_at: Callable[..., Services], smtp: SmtpSink) -> None:
    svc = open_at(smtp.port)
    account_id = admin(svc)
    clock = Clock("2026-03-20T12:00:00+03:00")
    notifier = Notifier(svc, clock=clock)
    notifier.store.set_subscriptions(account_id, {"monthly"}, "ru", clock())
    AccountStore(svc.meta.engine).set_disabled(account_id, True)
    clock.set("2026-04-01T09:00:00+03:00")
    notifier.run_once()
    assert smtp.messages == []


# --- delivery: retries ----------------------------------------------------------------------------
def test_email_is_retried_with_backoff_until_the_server_is_back(open_at: Callable[..., Services]) -> None:
    down = SmtpSink()  # its port, nothing listening yet
    svc = open_at(down.port)
    clock = Clock("2026-03-20T12:00:00+03:00")
    notifier = Notifier(svc, clock=clock)
    delivery_id = notifier.queue_email(to="admin@acme.ru", subject="Проверка", body="текст", company_id="acme")
    assert delivery_id is not None
    notifier.run_once()
    first = notifier.store.delivery(delivery_id)
    assert first is not None
    assert (first.state, first.attempts, first.next_attempt_at) == ("pending", 1, clock() + backoff_s(1))
    assert first.last_error is not None and f"127.0.0.1:{down.port}" in first.last_error
    notifier.run_once()  # not due yet: no attempt
    assert notifier.store.delivery(delivery_id).attempts == 1  # type: ignore[union-attr]

    down.start()
    try:
        svc.close()  # a restart while it waits: the outbox keeps it
        svc = open_at(down.port)
        notifier = Notifier(svc, clock=clock)
        clock.now += backoff_s(1)
        notifier.run_once()
        notifier.run_once()
        assert len(down.messages) == 1
        assert down.parsed()["Subject"] == "Проверка"
        done = notifier.store.delivery(delivery_id)
        assert done is not None
        assert (done.state, done.attempts, done.last_error, done.delivered_at, done.payload) == (
            "delivered",
            2,
            None,
            clock(),
            b"",
        )
    finally:
        down.stop()


def test_delivery_is_given_up_after_the_last_attempt_and_support_can_retry(open_at: Callable[..., Services]) -> None:
    down = SmtpSink()
    svc = open_at(down.port)
    clock = Clock("2026-03-20T12:00:00+03:00")
    notifier = Notifier(svc, clock=clock)
    delivery_id = notifier.queue_email(to="admin@acme.ru", subject="Проверка", body="текст", company_id="acme")
    assert delivery_id is not None
    for attempt in range(1, MAX_ATTEMPTS + 1):
        notifier.run_once()
        item = notifier.store.delivery(delivery_id)
        assert item is not None and item.attempts == attempt
        if item.next_attempt_at is not None:
            clock.now = item.next_attempt_at
    assert item.state == "failed" and item.next_attempt_at is None
    entries, _ = svc.accounts.audit_entries(action="delivery.failed")
    assert [e.detail["attempts"] for e in entries] == [MAX_ATTEMPTS]
    clock.now += 3600 * 24 * 30
    notifier.run_once()
    assert notifier.store.delivery(delivery_id).attempts == MAX_ATTEMPTS  # type: ignore[union-attr]

    down.start()
    try:
        assert notifier.store.retry(delivery_id, clock()) is not None
        notifier.run_once()
        assert len(down.messages) == 1
        assert notifier.store.delivery(delivery_id).state == "delivered"  # type: ignore[union-attr]
        assert notifier.store.retry(delivery_id, clock()) is None  # delivered: nothing to retry
    finally:
        down.stop()


def test_two_workers_never_send_one_message_twice(open_at: Callable[..., Services], smtp: SmtpSink) -> None:
    svc = open_at(smtp.port)
    clock = Clock("2026-03-20T12:00:00+03:00")
    first, second = Notifier(svc, clock=clock), Notifier(svc, clock=clock)
    for i in range(5):
        first.queue_email(to=f"user{i}@acme.ru", subject=f"#{i}", body="текст", company_id="acme")
    claimed = first.store.claim_due(clock(), 300.0)
    assert second.store.claim_due(clock(), 300.0) == []
    assert len(claimed) == 5
    clock.now += 301  # the first worker died holding them: the lease runs out
    second.run_once()
    first.run_once()
    assert sorted(rcpt[0] for _, rcpt, _ in smtp.messages) == [f"user{i}@acme.ru" for i in range(5)]


# --- webhooks -------------------------------------------------------------------------------------
def test_webhook_is_signed_retried_and_delivered_once(
    open_at: Callable[..., Services], smtp: SmtpSink, hook: HookSink
) -> None:
    svc = open_at(smtp.port, webhook_allow_private=True)  # the receiver listens on 127.0.0.1
    clock = Clock("2026-03-20T12:00:00+03:00")
    notifier = Notifier(svc, clock=clock)
    assert notifier.queue_webhook("acme", "test", {"value": 1}) is None  # no webhook set
    webhook = notifier.store.set_webhook("acme", hook.url, clock())
    hook.secret = webhook.secret
    hook.answers = [500]
    delivery_id = notifier.queue_webhook(
        "acme", "limit.reached", {"metric": "total.speakers", "value": 5}, dedup_key="alert:acme:1"
    )
    assert delivery_id is not None
    assert (
        notifier.queue_webhook(
            "acme", "limit.reached", {"metric": "total.speakers", "value": 5}, dedup_key="alert:acme:1"
        )
        is None
    )
    notifier.run_once()
    item = notifier.store.delivery(delivery_id)
    assert item is not None and item.state == "pending" and item.last_error is not None
    assert "HTTP 500" in item.last_error
    clock.now += backoff_s(1)
    notifier.run_once()
    notifier.run_once()
    assert [valid for _, _, valid in hook.requests] == [True, True]
    headers, body, _ = hook.requests[-1]
    assert body == (
        b'{"type":"limit.reached","delivery":"alert:acme:1","company":"acme","metric":"total.speakers","value":5}'
    )
    assert (
        headers["X-VKurse-Signature"] == "sha256=" + hmac.new(webhook.secret.encode(), body, hashlib.sha256).hexdigest()
    )
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    assert headers["X-VKurse-Event"] == "limit.reached"
    assert notifier.store.delivery(delivery_id).state == "delivered"  # type: ignore[union-attr]


def test_a_rotated_secret_signs_the_retries(open_at: Callable[..., Services], smtp: SmtpSink, hook: HookSink) -> None:
    svc = open_at(smtp.port, webhook_allow_private=True)
    clock = Clock("2026-03-20T12:00:00+03:00")
    notifier = Notifier(svc, clock=clock)
    old = notifier.store.set_webhook("acme", hook.url, clock())
    hook.secret = old.secret
    hook.answers = [503]
    notifier.queue_webhook("acme", "test", {})
    notifier.run_once()
    new = notifier.store.set_webhook("acme", hook.url, clock(), new_secret=True)
    assert new.secret != old.secret
    hook.secret = new.secret
    clock.now += backoff_s(1)
    notifier.run_once()
    assert [valid for _, _, valid in hook.requests] == [True, True]


def test_a_webhook_to_a_private_address_is_refused_at_delivery(
    open_at: Callable[..., Services], smtp: SmtpSink, hook: HookSink
) -> None:
    """Saved while private addresses were allowed, delivered after they no longer are: the
    attempt fails like any other (retried, shown to support) and nothing reaches the receiver."""
    svc = open_at(smtp.port)
    assert svc.settings.webhook_allow_private is False
    clock = Clock("2026-03-20T12:00:00+03:00")
    notifier = Notifier(svc, clock=clock)
    hook.secret = notifier.store.set_webhook("acme", hook.url, clock()).secret
    delivery_id = notifier.queue_webhook("acme", "test", {})
    assert delivery_id is not None
    assert notifier.deliver_due() == (0, 1)
    item = notifier.store.delivery(delivery_id)
    assert item is not None and (item.state, item.attempts) == ("pending", 1)
    assert item.last_error == (
        f"POST {hook.url}: not sent: The URL leads into an internal network (127.0.0.1): "
        "webhooks are only sent to public addresses."
    )
    assert item.next_attempt_at == clock() + backoff_s(1)
    assert hook.requests == []


# --- the server's thread --------------------------------------------------------------------------
def test_the_scheduler_thread_delivers_what_is_queued_and_stops_cleanly(
    open_at: Callable[..., Services], smtp: SmtpSink
) -> None:
    svc = open_at(smtp.port, notify_interval=3600.0)
    svc.start_notifier()
    assert svc.notifier.running
    svc.notifier.queue_email(to="admin@acme.ru", subject="Сразу", body="текст", company_id="acme")
    assert smtp.received.wait(30), "the queued e-mail was not delivered"
    svc.stop_notifier()
    assert not svc.notifier.running
    assert smtp.parsed()["Subject"] == "Сразу"


def test_serve_refuses_a_bad_report_time_in_one_line(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from vkurse_stats.cli import cli

    result = CliRunner().invoke(
        cli, ["--data-dir", str(tmp_path / "data"), "serve", "--port", "0"], env={"VKURSE_STATS_REPORT_TIME": "9 am"}
    )
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == (
        "Error: expected a time HH:MM, got '9 am' (VKURSE_STATS_REPORT_TIME)"
    )
