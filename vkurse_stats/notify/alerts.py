"""Licence alerts (SPEC 4a): a limited count reaching a threshold of the limit in force raises one
alert per crossing episode, delivered in the app, by e-mail to the company's administrators and
by the company's webhook.

**Thresholds** are percents of the limit in force at each instant (default 90 and 100, per company
and limited metric; a threshold's level is ``ceil(percent × limit / 100)``, at least 1).

**Episodes (hysteresis).** A threshold is *armed* until the count reaches its level: that instant
is a crossing, and the threshold is *fired*. It re-arms only after the count has stayed below
``level − margin`` (margin = ``ceil(VKURSE_STATS_ALERT_MARGIN_PERCENT × limit / 100)``, at least
1) for ``VKURSE_STATS_ALERT_REARM_SECONDS`` without interruption; a count hovering around the
level is one episode, one alert.

**Evaluation.** The writer tells :class:`AlertEngine` which companies and local days an apply
recomputed (it only takes note; a thread of its own does the work, so ingest never waits for
it). Per run of touched days the engine reads the connections of those days, the day after
(a change can end or extend an episode past midnight) and the day before (the state the days
start in), computes every crossing exactly (SPEC 4 rules, the same curves as the day's figures)
and compares them with the alerts recorded for those days: a crossing not recorded is recorded
(*raised*, or *corrected* when it lies before what had already been evaluated: late records
created it), a recorded one that no longer exists is *retracted*, and a moved one is *corrected*
with a reference to the alert it replaces. Nothing is changed silently; the comparison makes the
evaluation idempotent, so restarts and repeated batches never raise an alert twice. Days older
than ``VKURSE_STATS_ALERT_LOOKBACK_DAYS`` are not alerted (a backfill of history belongs on the
breaches page, not in a mailbox). On start, each company resumes from the day it was last
evaluated up to (records stored by a process that stopped before evaluating them).

Every alert is audited; e-mails and webhooks go through the outbox (``dedup_key`` per alert and
recipient), whose deliveries are audited by the notifier.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..export.labels import check_lang, local_datetime, metric_header
from ..metrics.activity import Window, value_at
from ..metrics.definitions import METRIC_BY_ID
from ..metrics.insight import LIMITED
from ..store.notify import Alert, NotifyStore
from ..timeutil import DayGrid, day_number, local_date, to_iso
from ..worker import Worker

if TYPE_CHECKING:
    from ..service import Services

log = logging.getLogger("vkurse_stats")

ACTOR = "alerts"
MAX_PERCENTS = 5
ACTIVE_LISTED = 10  # events named in an alert (largest first)
LIMITED_IDS: tuple[str, ...] = tuple(m.id for m in LIMITED)
Curve = tuple[np.ndarray, np.ndarray]


REST = 5  # an evaluation is followed by this many times its length without one


def parse_percents(text: str) -> tuple[int, ...]:
    """Thresholds from ``"90, 100"``: whole percents 1..1000, at most five, ascending; an empty
    text turns the metric's alerts off. ValueError on anything else."""
    parts = [p.strip().rstrip("%").strip() for p in text.replace(";", ",").split(",")]
    values: set[int] = set()
    for p in parts:
        if not p:
            continue
        if not p.isdigit() or not 1 <= int(p) <= 1000:
            raise ValueError(f"{p!r} is not a whole percent from 1 to 1000")
        values.add(int(p))
    if len(values) > MAX_PERCENTS:
        raise ValueError(f"at most {MAX_PERCENTS} thresholds")
    return tuple(sorted(values))


def level_of(limit: int, percent: int) -> int:
    """The count at which ``percent`` of ``limit`` is reached."""
    return max(1, -(-percent * limit // 100))


def margin_of(limit: int, margin_percent: float) -> int:
    return max(1, int(-(-margin_percent * limit // 100)))


@dataclass(frozen=True)
class Rules:
    margin_percent: float = 5.0
    rearm_us: int = 600_000_000


@dataclass(frozen=True)
class Crossing:
    start: int  # the instant the count reached the level
    value: int  # the count then
    level: int
    limit: int


def crossings(
    curve: Curve, steps: Sequence[tuple[int, int | None]], percent: int, rules: Rules, t0: int, t1: int
) -> list[Crossing]:
    """The crossings of ``percent`` of the limit (``steps``: its history) by the step ``curve``
    within [t0, t1), with the hysteresis of the module doc. The state at ``t0`` is *fired* when
    the count is then at or above the re-arm level (an episode under way), else *armed*."""
    times, values = curve
    cuts = np.unique(
        np.concatenate(
            (
                np.array([t0], dtype=np.int64),
                times[(times > t0) & (times < t1)],
                np.array([t for t, _ in steps if t0 < t < t1], dtype=np.int64),
            )
        )
    )
    # The count and the limit at every cut, found at once.
    at = np.searchsorted(times, cuts, side="right") - 1
    count = np.where(at >= 0, values[np.maximum(at, 0)], 0) if len(times) else np.zeros(len(cuts), dtype=np.int64)
    step_times = np.array([t for t, _ in steps], dtype=np.int64)
    step_values = np.array([-1 if v is None else v for _, v in steps], dtype=np.int64)
    k = np.searchsorted(step_times, cuts, side="right") - 1
    limits = np.where(k >= 0, step_values[np.maximum(k, 0)], -1) if len(steps) else np.full(len(cuts), -1)
    # Only where the count changes class (no limit / below the re-arm level / between / at the
    # level) or the limit changes can the state change: the other cuts are skipped (a re-arm
    # that falls between two kept cuts only matters at the next, where the count rises).
    # A limit's level and margin, computed once per distinct limit (a few) and spread out.
    distinct, which = np.unique(limits, return_inverse=True)
    lv = np.array([level_of(int(x), percent) if x >= 0 else 0 for x in distinct], dtype=np.int64)[which]
    margin = np.array([margin_of(int(x), rules.margin_percent) if x >= 0 else 0 for x in distinct], dtype=np.int64)[
        which
    ]
    cls = np.where(limits < 0, 0, np.where(count >= lv, 3, np.where(count >= lv - margin, 2, 1)))
    keep = np.ones(len(cuts), dtype=np.bool_)
    keep[1:] = (cls[1:] != cls[:-1]) | (limits[1:] != limits[:-1])
    out: list[Crossing] = []
    fired = False
    below_since: int | None = None
    first = True
    for a, v, limit, lvl, mg in zip(
        cuts[keep].tolist(),
        count[keep].tolist(),
        limits[keep].tolist(),
        lv[keep].tolist(),
        margin[keep].tolist(),
        strict=True,
    ):
        if limit < 0:  # no limit, nothing to cross; an episode under way ends
            fired, below_since, first = False, None, False
            continue
        rearm_level = lvl - mg
        if first:
            fired, first = v >= rearm_level and v > 0, False
            below_since = None
            if fired:
                continue
        if fired and below_since is not None and a - below_since >= rules.rearm_us:
            fired, below_since = False, None
        if not fired:
            if v >= lvl:
                out.append(Crossing(a, v, lvl, limit))
                fired, below_since = True, None
        elif v < rearm_level:
            below_since = a if below_since is None else below_since
        else:
            below_since = None
    return out


def _runs(days: Sequence[int]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for d in days:
        if out and out[-1][1] + 1 >= d:
            out[-1] = (out[-1][0], d)
        else:
            out.append((d, d))
    return out


class AlertEngine(Worker):
    """Evaluates the companies the writer applied, records alerts and queues their delivery,
    in a thread of its own (see the module doc). :meth:`stop` evaluates what is queued first."""

    thread_name = "alerts"

    def __init__(self, services: Services) -> None:
        super().__init__()
        self.services = services
        settings = services.settings
        self.default = parse_percents(settings.alert_thresholds)
        self.rules = Rules(settings.alert_margin_percent, int(settings.alert_rearm_seconds * 1_000_000))
        self.lookback_days = settings.alert_lookback_days
        self.store = NotifyStore(services.meta.engine)
        self._pending: dict[str, frozenset[int] | None] = {}
        self._busy = False

    # --- taking note (the writer's thread) -----------------------------------------------------
    def note(self, applied: Mapping[str, frozenset[int] | None]) -> None:
        """Queue the companies and days an apply recomputed (None: every recent day)."""
        with self._cv:
            for company_id, days in applied.items():
                if company_id in self._pending:
                    old = self._pending[company_id]
                    self._pending[company_id] = None if old is None or days is None else old | days
                else:
                    self._pending[company_id] = days
            self._cv.notify_all()

    # --- the thread ----------------------------------------------------------------------------
    def _starting(self) -> None:
        self._resume()

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait until everything queued is evaluated (tests, benchmarks); False on timeout."""
        with self._cv:
            return self._cv.wait_for(lambda: not self._pending and not self._busy, timeout=timeout)

    def _resume(self) -> None:
        """Queue, per company evaluated before, the days since it was last evaluated up to."""
        try:
            marks = self.store.watermarks()
        except Exception:  # noqa: BLE001 - alerts must not keep a server from starting
            log.exception("could not read where the alerts stopped")
            return
        for company_id, mark in marks.items():
            info = self.services.meta.company(company_id)
            if info is None:
                continue
            first = day_number(local_date(mark, info.timezone))
            today = day_number(local_date(self.services.now_us(), info.timezone))
            self.note({company_id: frozenset(range(first, today + 1))})

    def _run(self) -> None:
        rest_until = 0.0
        while True:
            with self._cv:
                self._cv.wait_for(lambda: bool(self._pending) or self._stopping)
                if not self._pending and self._stopping:
                    return
                # Evaluations take at most a sixth of a core (ingest keeps 90 % of its rate on two
                # cores): after one, the notes of the next applies gather for REST times as long
                # before they are evaluated together.
                self._cv.wait_for(lambda: self._stopping, timeout=max(0.0, rest_until - time.monotonic()))
                work, self._pending = self._pending, {}
                self._busy = True
            started = time.monotonic()
            try:
                # Most companies of a busy stream have no limit: one statement finds them all
                # (a failure here is reported by each company's evaluation below).
                with contextlib.suppress(Exception):
                    self.services.rollups.limit_histories(work)
                for company_id, days in work.items():
                    try:
                        self.evaluate(company_id, days)
                    except Exception:  # noqa: BLE001 - one company's failure must not stop the others
                        log.exception("could not evaluate the alerts of company %r", company_id)
            finally:
                rest_until = time.monotonic() + REST * (time.monotonic() - started)
                with self._cv:
                    self._busy = False
                    self._cv.notify_all()

    # --- evaluation ----------------------------------------------------------------------------
    def evaluate(self, company_id: str, days: frozenset[int] | None) -> list[Alert]:
        """Compare the crossings of ``days`` (None: the recent ones) with the alerts recorded,
        record the differences and queue their delivery; returns the alerts recorded."""
        services = self.services
        history = services.rollups.limit_histories([company_id])[company_id]
        metrics = [m for m in LIMITED if history.get(m.limit or "")]
        if not metrics:
            return []
        info = services.meta.company(company_id)
        if info is None:
            return []
        tz = info.timezone
        now = services.now_us()
        today = day_number(local_date(now, tz))
        horizon = today - self.lookback_days
        wanted = range(horizon, today + 1) if days is None else days
        chosen = sorted(d for d in wanted if horizon <= d <= today)
        if not chosen:
            return []
        thresholds = self.store.thresholds(company_id, [m.id for m in metrics], self.default)
        before = self.store.watermark(company_id)
        mark = before
        rows: list[dict[str, Any]] = []
        for first, last in _runs(chosen):
            last = min(last + 1, today)
            grid = DayGrid(tz, first - 1, last)
            w0, t0, t1 = grid.start(first - 1), grid.start(first), min(grid.end(last), now + 1)
            window = Window.fetch(services.analytics, company_id, w0, t1, now, services.rollups.cap_us)
            if len(window.start):
                latest = int(window.start.max())
                mark = latest if mark is None else max(mark, latest)
            recorded = self.store.live_alerts(company_id, t0, t1)
            for m in metrics:
                curve = window.curve(m)
                steps = history[m.limit or ""]
                th = thresholds[m.id]
                for percent in th.percents:
                    found = [
                        c
                        for c in crossings(curve, steps, percent, self.rules, w0, t1)
                        if c.start >= max(t0, th.since_us)
                    ]
                    old = [
                        a for a in recorded if a.metric == m.id and a.percent == percent and a.instant_us >= th.since_us
                    ]
                    rows.extend(self._differences(company_id, m.id, percent, found, old, curve, before))
        alerts = self.store.record_alerts(rows, self._clock()) if rows else []
        if mark is not None and mark != before:
            self.store.set_watermark(company_id, mark)
        for alert in alerts:
            self._deliver(alert, tz)
        return alerts

    def _differences(
        self,
        company_id: str,
        metric: str,
        percent: int,
        found: list[Crossing],
        old: list[Alert],
        curve: Curve,
        before: int | None,
    ) -> list[dict[str, Any]]:
        have = {(a.instant_us, a.value): a for a in old}
        now = {(c.start, c.value): c for c in found}
        removed = [have[k] for k in sorted(have.keys() - now.keys())]
        added = [now[k] for k in sorted(now.keys() - have.keys())]
        out: list[dict[str, Any]] = []

        def row(kind: str, c: Crossing, replaces: int | None) -> dict[str, Any]:
            return {
                "company_id": company_id,
                "metric": metric,
                "percent": percent,
                "kind": kind,
                "instant_us": c.start,
                "value": c.value,
                "level": c.level,
                "limit_value": c.limit,
                "active": self._active(company_id, c.start),
                "replaces": replaces,
            }

        for gone, new in zip(removed, added, strict=False):  # a crossing that moved
            out.append(row("corrected", new, gone.id))
        for new in added[len(removed) :]:
            late = before is not None and new.start <= before
            out.append(row("corrected" if late else "raised", new, None))
        for gone in removed[len(added) :]:
            out.append(
                {
                    "company_id": company_id,
                    "metric": metric,
                    "percent": percent,
                    "kind": "retracted",
                    "instant_us": gone.instant_us,
                    "value": value_at(curve, gone.instant_us),
                    "level": gone.level,
                    "limit_value": gone.limit,
                    "active": [],
                    "replaces": gone.id,
                }
            )
        return out

    def _active(self, company_id: str, instant: int) -> list[dict[str, Any]]:
        return list(self.services.query.at(company_id, instant)["active"][:ACTIVE_LISTED])

    def _clock(self) -> float:
        return self.services.now_us() / 1_000_000

    # --- delivery ------------------------------------------------------------------------------
    def _deliver(self, alert: Alert, tz: str) -> None:
        services = self.services
        services.accounts.audit(
            ACTOR,
            f"alert.{alert.kind}",
            alert.company_id,
            alert=alert.id,
            metric=alert.metric,
            percent=alert.percent,
            instant=to_iso(alert.instant_us, tz),
            value=alert.value,
            limit=alert.limit,
            replaces=alert.replaces,
        )
        notifier = services.notifier
        data = {**alert.as_json(), "instant": to_iso(alert.instant_us, tz)}
        data.pop("company")
        try:
            notifier.queue_webhook(alert.company_id, "alert", data, dedup_key=f"alert:{alert.id}:webhook")
            info = services.meta.company(alert.company_id)
            name = info.name if info else alert.company_id
            for account in services.accounts.accounts(alert.company_id):
                if account.disabled or account.is_operator:
                    continue
                subs = notifier.store.subscriptions(account.id)
                lang = next(iter(subs.values())).lang if subs else "ru"
                subject, body = alert_email(alert, name, tz, lang, services.settings.public_url)
                notifier.queue_email(
                    to=account.email,
                    subject=subject,
                    body=body,
                    company_id=alert.company_id,
                    account_id=account.id,
                    dedup_key=f"alert:{alert.id}:account:{account.id}",
                )
        except Exception:  # noqa: BLE001 - the alert stands; support sees it, delivery is retried
            log.exception("could not queue the delivery of alert %s", alert.id)


# --- texts -------------------------------------------------------------------------------------
MESSAGES: dict[str, tuple[str, str]] = {
    "alert.kind.raised": ("Порог достигнут", "Threshold reached"),
    "alert.kind.corrected": ("Исправление: порог достигнут", "Correction: threshold reached"),
    "alert.kind.retracted": ("Исправление: порог не был достигнут", "Correction: threshold not reached"),
    "alert.subject": (
        "ВКурсе: {kind} — {metric} {value} из {limit} ({percent} %) — {company}",
        "VKurse: {kind} — {metric} {value} of {limit} ({percent} %) — {company}",
    ),
    "alert.body": (
        "{metric}: {value} при лимите {limit} — порог {percent} % ({level}) достигнут {at}.",
        "{metric}: {value} with a limit of {limit} — the {percent} % threshold ({level}) was reached at {at}.",
    ),
    "alert.body_retracted": (
        "По поздно поступившим данным порог {percent} % ({level}) показателя "
        "{metric} в {at} не был достигнут: предыдущее уведомление отменено.",
        "Records that arrived late show that {metric} did not reach the {percent} % "
        "threshold ({level}) at {at}: the earlier alert is withdrawn.",
    ),
    "alert.body_replaces": ("Это уведомление заменяет уведомление №{id}.", "This alert replaces alert #{id}."),
    "alert.active": ("Активные мероприятия и звонки в этот момент:", "Events and calls active then:"),
    "alert.active_row": (
        "— {title} ({organizer}): подключений {connections}, спикеров {speakers}",
        "— {title} ({organizer}): {connections} connections, {speakers} speakers",
    ),
    # --- pages: the live view, the alerts list, the thresholds ---------------------------------
    "nav.now": ("Сейчас", "Now"),
    "nav.alerts": ("Оповещения", "Alerts"),
    "nav.unread": ("непрочитанных: {n}", "{n} unread"),
    "now.title": ("Сейчас", "Now"),
    "now.connecting": ("подключение…", "connecting…"),
    "now.live": ("обновляется сразу", "live"),
    "now.polling": ("обновляется каждые 2 с", "updates every 2 s"),
    "now.of_limit": ("из лимита {limit}", "of the limit of {limit}"),
    "now.active": ("Активные мероприятия и звонки", "Active events and calls"),
    "now.nothing": ("Сейчас ничего не идёт.", "Nothing is running now."),
    "now.col_title": ("Название", "Title"),
    "now.col_kind": ("Тип", "Type"),
    "now.col_organizer": ("Организатор", "Organizer"),
    "now.col_connections": ("Подключения", "Connections"),
    "now.col_speakers": ("Спикеры", "Speakers"),
    "now.col_viewers": ("Зрители", "Viewers"),
    "alerts.title": ("Оповещения о лимитах", "Licence alerts"),
    "alerts.hint": (
        "Оповещение приходит, когда показатель достигает порога от лимита лицензии; поздние данные дают исправление.",
        "An alert is raised when a count reaches a threshold of the licence limit; late records produce a correction.",
    ),
    "alerts.settings": ("Пороги оповещений", "Alert thresholds"),
    "alerts.settings_hint": (
        "Проценты от лимита через запятую (пусто — без оповещений). Повторное "
        "оповещение — только после того, как показатель пробудет ниже порога "
        "минус {margin} % лимита не меньше {rearm} мин. Письма получают "
        "администраторы компании, вебхук — адрес выше.",
        "Percents of the limit, comma-separated (empty: no alerts). A threshold "
        "alerts again only after the count has stayed below it minus {margin} % "
        "of the limit for {rearm} min. E-mail goes to the company's "
        "administrators, and the webhook above is called.",
    ),
    "alerts.limit_now": ("лимит сейчас {limit}", "limit now {limit}"),
    "alerts.saved": ("Пороги оповещений сохранены.", "Alert thresholds saved."),
    "alerts.bad": ("Пороги не сохранены: {error}", "Thresholds not saved: {error}"),
    "alerts.none": ("Оповещений пока не было.", "No alerts yet."),
    "alerts.replaces": ("заменяет №{id}", "replaces #{id}"),
    "alerts.col_when": ("Когда", "When"),
    "alerts.col_kind": ("Что", "What"),
    "alerts.col_metric": ("Показатель", "Metric"),
    "alerts.col_value": ("Значение / лимит", "Value / limit"),
    "alerts.col_threshold": ("Порог", "Threshold"),
    "alerts.col_active": ("Активные мероприятия", "Active events"),
    "alert.footer": (
        "Пороги уведомлений настраиваются в разделе «Уведомления»: {url}",
        "Alert thresholds are set under Notifications: {url}",
    ),
}


def metric_label(metric_id: str, lang: str) -> str:
    """A limited metric's name with its section, as the exports head it."""
    return metric_header(METRIC_BY_ID[metric_id], check_lang(lang))


def _t(lang: str, key: str, **kw: Any) -> str:
    ru, en = MESSAGES[key]
    return (en if lang == "en" else ru).format(**kw)


def alert_email(alert: Alert, company: str, tz: str, lang: str, public_url: str) -> tuple[str, str]:
    """The subject and body of an alert's e-mail in ``lang``."""
    metric = metric_label(alert.metric, lang)
    at = local_datetime(alert.instant_us, tz).strftime("%Y-%m-%d %H:%M:%S") + f" ({tz})"
    kind = _t(lang, f"alert.kind.{alert.kind}")
    subject = _t(
        lang,
        "alert.subject",
        kind=kind,
        metric=metric,
        value=alert.value,
        limit=alert.limit,
        percent=alert.percent,
        company=company,
    )
    lines = [
        _t(
            lang,
            "alert.body_retracted" if alert.kind == "retracted" else "alert.body",
            metric=metric,
            value=alert.value,
            limit=alert.limit,
            percent=alert.percent,
            level=alert.level,
            at=at,
        )
    ]
    if alert.replaces is not None:
        lines.append(_t(lang, "alert.body_replaces", id=alert.replaces))
    if alert.active:
        lines += ["", _t(lang, "alert.active")]
        for p in alert.active:
            lines.append(
                _t(
                    lang,
                    "alert.active_row",
                    title=p.get("title") or p.get("id"),
                    organizer=p.get("organizer_name") or p.get("organizer_id") or "—",
                    connections=p.get("connections"),
                    speakers=p.get("speakers"),
                )
            )
    lines += ["", _t(lang, "alert.footer", url=f"{public_url}/settings#alerts")]
    return subject, "\n".join(lines)
