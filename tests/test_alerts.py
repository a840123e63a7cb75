"""Licence alerts against real components: records go through the server's writer (the real
ingest path and rollups), alerts are recorded in the real metadata store, e-mail reaches a real
local SMTP server (aiosmtpd) and webhooks a real local HTTP server that checks the signature.

The services' clock is fixed at 2026-03-20 12:00 (Moscow). Company "acme" has a limit of 10
concurrent connections: thresholds 90 % (9) and 100 % (10), margin 5 % (1): a threshold re-arms
once the count stays below 8 (for 90 %) or 9 (for 100 %) for ten minutes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import lines
from tests.mail import HookSink, SmtpSink
from vkurse_stats.config import Settings
from vkurse_stats.notify.alerts import Crossing, Rules, crossings, parse_percents
from vkurse_stats.service import Services, open_services
from vkurse_stats.store.notify import Alert

NOW = "2026-03-20T12:00:00+03:00"
MIN = 60_000_000


def _t(hm: str, day: int = 20) -> str:
    return f"2026-03-{day:02d}T{hm}:00+03:00"


def _us(hm: str, day: int = 20) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(_t(hm, day)).timestamp()) * 1_000_000


def conn(
    cid: str, joined: str, left: str | None = None, *, event: str = "e1", day: int = 20, company: str = "acme"
) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "kind": "connection",
        "id": cid,
        "company_id": company,
        "event_id": event,
        "event_template": "meeting",
        "transport": "webrtc",
        "joined_at": _t(joined, day),
    }
    if left:
        rec["left_at"] = _t(left, day)
    return rec


COMPANY = {
    "kind": "company",
    "id": "acme",
    "name": "ООО Акме",
    "timezone": "Europe/Moscow",
    "limits": {"concurrent_connections": 10},
}
EVENT = {
    "kind": "event",
    "id": "e1",
    "company_id": "acme",
    "template": "meeting",
    "title": "Планёрка",
    "organizer_id": "u1",
    "created_at": _t("08:00", 19),
}


# --- hysteresis, exactly -----------------------------------------------------------------------
def _curve(*points: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    return (np.array([t for t, _ in points], dtype=np.int64), np.array([v for _, v in points], dtype=np.int64))


RULES = Rules(margin_percent=5, rearm_us=10 * MIN)
STEPS = [(0, 10)]


def test_one_alert_while_the_count_hovers_around_the_threshold() -> None:
    curve = _curve((10 * MIN, 9), (12 * MIN, 8), (14 * MIN, 9), (20 * MIN, 7), (25 * MIN, 9))
    # 8 is not below the re-arm level (9 - 1 = 8); 7 is, but for 5 minutes only.
    assert crossings(curve, STEPS, 90, RULES, 0, 60 * MIN) == [Crossing(10 * MIN, 9, 9, 10)]


def test_re_arms_after_staying_below_the_margin_long_enough() -> None:
    curve = _curve((10 * MIN, 9), (20 * MIN, 7), (30 * MIN, 9), (31 * MIN, 3), (40 * MIN, 10))
    assert crossings(curve, STEPS, 90, RULES, 0, 60 * MIN) == [
        Crossing(10 * MIN, 9, 9, 10),
        Crossing(30 * MIN, 9, 9, 10),
    ]
    # 31 -> 40 is only nine minutes below: 40 is still the second episode.
    assert crossings(curve, STEPS, 100, RULES, 0, 60 * MIN) == [Crossing(40 * MIN, 10, 10, 10)]


def test_levels_follow_the_limit_in_force() -> None:
    curve = _curve((10 * MIN, 5), (50 * MIN, 0))
    steps = [(0, 10), (30 * MIN, 5)]  # support lowers the limit at 0:30: 5 of 5 is 100 %
    assert crossings(curve, steps, 100, RULES, 0, 60 * MIN) == [Crossing(30 * MIN, 5, 5, 5)]
    assert crossings(curve, [(0, None)], 100, RULES, 0, 60 * MIN) == []


def test_a_window_that_starts_inside_an_episode_raises_nothing_for_it() -> None:
    curve = _curve((0, 9), (30 * MIN, 0), (45 * MIN, 9))
    assert crossings(curve, STEPS, 90, RULES, 5 * MIN, 60 * MIN) == [Crossing(45 * MIN, 9, 9, 10)]


def test_thresholds_parse() -> None:
    assert parse_percents("100, 90 ,90%") == (90, 100)
    assert parse_percents("") == ()
    for bad in ("abc", "0", "1001", "1,2,3,4,5,6", "-5"):
        with pytest.raises(ValueError):
            parse_percents(bad)


# --- through the writer ------------------------------------------------------------------------
def _settings(data_dir: Path, smtp: SmtpSink | None = None) -> Settings:
    return Settings(
        data_dir=data_dir,
        fixed_now=NOW,
        smtp_host="127.0.0.1" if smtp else None,
        smtp_port=smtp.port if smtp else None,
        notify_interval=0.05,
        webhook_allow_private=True,  # the webhook receiver of these tests listens on 127.0.0.1
    )


def _open(data_dir: Path, smtp: SmtpSink | None = None) -> Services:
    svc = open_services(_settings(data_dir, smtp))
    svc.start_writer(interval=0.05)
    svc.start_alerts()
    return svc


def _send(svc: Services, *records: dict[str, Any]) -> None:
    result = svc.ingest_lines(lines(*records), defer_rollups=True)
    assert result.rejected == 0, result.as_json()
    svc.rollups.settle_for_read("acme")
    assert svc.alerts.wait_idle()


def _alerts(svc: Services) -> list[Alert]:
    return list(reversed(svc.alerts.store.alert_list("acme", limit=100)[0]))


def _seed(svc: Services) -> None:
    _send(svc, COMPANY, EVENT, *[conn(f"a{i}", f"09:{i:02d}", "09:30") for i in range(8)])


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[Services]:
    s = _open(tmp_path / "data")
    _seed(s)
    yield s
    s.close()


def test_an_ingest_reaching_a_threshold_records_one_alert_with_what_was_active(svc: Services) -> None:
    assert _alerts(svc) == []  # 8 of 10 reaches nothing
    _send(svc, conn("a8", "09:10", "09:40", event="e2"))
    [alert] = _alerts(svc)
    assert (alert.metric, alert.percent, alert.kind, alert.value, alert.level, alert.limit) == (
        "total.connections",
        90,
        "raised",
        9,
        9,
        10,
    )
    assert alert.instant_us == _us("09:10")
    assert [(p["id"], p["connections"], p["title"]) for p in alert.active] == [("e1", 8, "Планёрка"), ("e2", 1, None)]
    # The same batch again, and more records elsewhere in the day: nothing new.
    _send(svc, conn("a8", "09:10", "09:40", event="e2"), conn("z1", "11:00", "11:05"))
    assert len(_alerts(svc)) == 1
    audit, _ = svc.accounts.audit_entries(action="alert.")
    assert [(e.action, e.detail["alert"]) for e in audit] == [("alert.raised", alert.id)]


def test_hovering_is_one_episode_and_a_long_dip_re_arms(svc: Services) -> None:
    _send(svc, conn("a8", "09:10", "09:12", event="e2"))  # 9 from 09:10 to 09:12
    _send(svc, conn("a9", "09:15", "09:16", event="e2"))  # back to 9 three minutes later
    assert [(a.percent, a.instant_us) for a in _alerts(svc)] == [(90, _us("09:10"))]
    # At 09:30 every connection leaves; at 09:50 (twenty minutes below 8) the count is 9 again.
    _send(svc, *[conn(f"b{i}", "09:50", "10:00", event="e3") for i in range(9)])
    assert [(a.percent, a.instant_us) for a in _alerts(svc)] == [(90, _us("09:10")), (90, _us("09:50"))]


def test_late_records_correct_and_retract_alerts(svc: Services) -> None:
    _send(svc, conn("a8", "09:20", "09:40", event="e2"))  # 9 at 09:20
    [first] = _alerts(svc)
    assert (first.kind, first.percent, first.instant_us) == ("raised", 90, _us("09:20"))
    # A late record: someone had been there from 09:05. Then 9 was reached at 09:07 (when a7
    # joined) and 10 at 09:20: the 90 % crossing moved, and a 100 % one appeared.
    _send(svc, conn("late", "09:05", "09:25", event="e4"))
    _, moved, full = _alerts(svc)
    assert (moved.kind, moved.percent, moved.instant_us, moved.replaces) == ("corrected", 90, _us("09:07"), first.id)
    assert (full.kind, full.percent, full.instant_us, full.value) == ("corrected", 100, _us("09:20"), 10)
    assert _alerts(svc)[0].superseded_by == moved.id
    # Corrected again: that connection left at 09:06. The crossing is back at 09:20 and 10 was
    # never reached: the 100 % alert is withdrawn, not silently dropped.
    _send(svc, conn("late", "09:05", "09:06", event="e4"))
    back, withdrawn = _alerts(svc)[3:]
    assert (back.kind, back.percent, back.instant_us, back.replaces) == ("corrected", 90, _us("09:20"), moved.id)
    assert (withdrawn.kind, withdrawn.percent, withdrawn.value, withdrawn.replaces) == ("retracted", 100, 9, full.id)
    standing = svc.alerts.store.live_alerts("acme", 0, 2**62)
    assert [(a.kind, a.percent, a.instant_us) for a in standing] == [("corrected", 90, _us("09:20"))]
    _send(svc, conn("late", "09:05", "09:06", event="e4"))  # the same again: nothing new
    assert len(_alerts(svc)) == 5


def test_a_crossing_in_an_earlier_day_is_a_correction(svc: Services) -> None:
    _send(svc, conn("x1", "11:00", "11:30"))  # evaluated up to 11:00 on the 20th
    _send(svc, *[conn(f"y{i}", "15:00", "15:10", event="e9", day=18) for i in range(10)])
    assert [(a.kind, a.percent, a.instant_us) for a in _alerts(svc)] == [
        ("corrected", 90, _us("15:00", 18)),
        ("corrected", 100, _us("15:00", 18)),
    ]


def test_old_days_and_unlimited_companies_raise_nothing(svc: Services) -> None:
    _send(svc, *[conn(f"o{i}", "15:00", "15:10", event="e9", day=1) for i in range(10)])  # 19 days ago
    _send(
        svc,
        {"kind": "company", "id": "free", "name": "Free"},
        *[conn(f"f{i}", "09:00", "09:10", company="free") for i in range(50)],
    )
    assert _alerts(svc) == [] and svc.alerts.store.alert_list("free")[1] == 0


def test_thresholds_set_later_apply_from_then(svc: Services) -> None:
    svc.alerts.store.set_thresholds("acme", "total.connections", (50,), svc.now_us(), 0.0)
    _send(svc, conn("a8", "09:10", "09:40", event="e2"))  # before the new thresholds: not alerted
    assert _alerts(svc) == []
    _send(svc, *[conn(f"n{i}", "12:00", "12:30", event="e5") for i in range(5)])
    [alert] = _alerts(svc)
    assert (alert.percent, alert.value, alert.instant_us) == (50, 5, _us("12:00"))
    assert alert.level == 5


def test_a_lower_limit_set_by_support_alerts_without_waiting_for_an_ingest(svc: Services) -> None:
    from vkurse_stats.operations import Caller, Operations

    assert _alerts(svc) == []  # 8 of 10
    ops = Operations(svc.meta, svc.accounts, svc.rollups, Caller("support@example.com"))
    ops.update_company("acme", limits={"concurrent_connections": 8}, effective_from=_us("08:00"))
    assert svc.alerts.wait_idle()
    assert [(a.percent, a.value, a.level, a.limit, a.instant_us) for a in _alerts(svc)] == [
        (90, 8, 8, 8, _us("09:07")),
        (100, 8, 8, 8, _us("09:07")),
    ]


def test_a_restart_raises_nothing_twice_and_resumes(tmp_path: Path) -> None:
    data = tmp_path / "data"
    svc = _open(data)
    _seed(svc)
    _send(svc, conn("a8", "09:10", "09:40", event="e2"))
    assert len(_alerts(svc)) == 1
    svc.close()
    # Records stored by a process that stopped before evaluating them (no writer, no alerts).
    plain = open_services(_settings(data))
    plain.ingest_lines(lines(*[conn(f"r{i}", "10:00", "10:20", event="e7") for i in range(10)]))
    plain.close()
    svc = _open(data)
    try:
        assert svc.alerts.wait_idle()
        assert [(a.kind, a.percent, a.instant_us) for a in _alerts(svc)] == [
            ("raised", 90, _us("09:10")),
            ("raised", 90, _us("10:00")),
            ("raised", 100, _us("10:00")),
        ]
    finally:
        svc.close()


def test_delivery_reaches_smtp_and_the_signed_webhook_once(tmp_path: Path, smtp: SmtpSink, hook: HookSink) -> None:
    svc = _open(tmp_path / "data", smtp)
    try:
        _seed(svc)
        svc.accounts.create_account("admin@acme.ru", role="admin", company_id="acme", password="x" * 12)
        hook.secret = svc.notifier.store.set_webhook("acme", hook.url, 0.0).secret
        _send(svc, conn("a8", "09:10", "09:40", event="e2"))
        _send(svc, conn("a8", "09:10", "09:40", event="e2"))
        svc.notifier.run_once()
        assert len(smtp.messages) == 1 and smtp.messages[0][1] == ["admin@acme.ru"]
        body = smtp.parsed().get_content()
        assert "Планёрка" in body and "09:10:00" in body
        [(headers, raw, valid)] = hook.requests
        assert valid and headers["X-VKurse-Event"] == "alert"
        data = json.loads(raw)
        assert (data["type"], data["metric"], data["value"], data["instant"]) == (
            "alert",
            "total.connections",
            9,
            "2026-03-20T09:10:00+03:00",
        )
    finally:
        svc.close()
