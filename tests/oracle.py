"""A brute-force oracle of SPEC section 4, written as directly from the definitions as possible:
for every candidate instant, count what is active. Slow and obviously right."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from vkurse_stats.metrics.definitions import METRICS

MEETINGS = {"meeting", "conference", "selector", "lecture"}
US = 1_000_000


def us(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, int):
        return value * 1000
    dt = datetime.fromisoformat(value)
    return (dt - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def day_bounds(d: date, tz: str) -> tuple[int, int]:
    z = ZoneInfo(tz)
    a = datetime.combine(d, time(0), tzinfo=z)
    b = datetime.combine(d + timedelta(days=1), time(0), tzinfo=z)
    return int(a.timestamp()) * US, int(b.timestamp()) * US


def local_day(t: int, tz: str) -> date:
    return datetime.fromtimestamp(t / US, tz=UTC).astimezone(ZoneInfo(tz)).date()


def final_versions(records: list[dict[str, Any]]) -> dict[tuple[str, str, str], dict[str, Any]]:
    """Apply the replace rule in arrival order: a later version replaces an earlier one, unless it
    lacks the terminal field the earlier one has."""
    terminal = {
        "connection": "left_at",
        "file": "deleted_at",
        "user": "deleted_at",
        "event": "cancelled_at",
        "call": "ended_at",
    }
    out: dict[tuple[str, str, str], dict[str, Any]] = {}
    for r in records:
        key = (r["company_id"], r["kind"], str(r["id"]))
        old = out.get(key)
        term = terminal.get(r["kind"])
        if old is not None and term and old.get(term) is not None and r.get(term) is None:
            continue
        out[key] = r
    return out


def classify(c: dict[str, Any]) -> str:
    if c.get("call_id") is not None:
        return "call"
    return "webinar" if c["event_template"] == "webinar" else "meeting"


def in_scope(metric_id: str, cls: str, transport: str | None) -> bool:
    m = next(m for m in METRICS if m.id == metric_id)
    if m.section == "meetings" and cls != "meeting":
        return False
    if m.section == "webinars" and cls != "webinar":
        return False
    if m.section == "calls" and cls != "call":
        return False
    if transport is not None and m.transport is not None:
        return ("webrtc", "webrtmp")[m.transport] == transport
    return True


def intervals(
    records: list[dict[str, Any]], now: int, cap: int
) -> list[tuple[int, int, str, str, tuple[str, str], dict[str, Any]]]:
    """Each final connection's active interval [joined, end) (an open one ends at now, at most
    ``cap`` after it joined), its class, transport, parent and record."""
    out = []
    for k, c in final_versions(records).items():
        if k[1] != "connection":
            continue
        j = us(c["joined_at"])
        assert j is not None
        left = us(c.get("left_at"))
        e = max(left if left is not None else min(j + cap, now), j)
        parent = ("call", str(c["call_id"])) if c.get("call_id") is not None else ("event", str(c["event_id"]))
        out.append((j, e, classify(c), c["transport"], parent, c))
    return out


def oracle_day(records: list[dict[str, Any]], d: date, tz: str, now: int, cap: int) -> dict[str, Any]:
    """Every daily figure of day ``d``: {metric: (value, at)} and {client: n}."""
    final = final_versions(records)
    ds, de = day_bounds(d, tz)
    ivals = intervals(records, now, cap)
    out: dict[str, Any] = {}
    candidates = sorted({max(j, ds) for j, e, *_ in ivals if max(j, ds) < min(e, de)})
    for m in METRICS:
        if m.daily not in ("peak", "parent_peak"):
            continue
        best, best_at = 0, None
        for t in candidates:
            if m.daily == "peak":
                n = sum(1 for j, e, cls, tr, p, _ in ivals if j <= t < e and in_scope(m.id, cls, tr))
            else:
                n = len({p for j, e, cls, tr, p, _ in ivals if j <= t < e and in_scope(m.id, cls, None)})
            if n > best:
                best, best_at = n, t
        out[m.id] = (best, best_at)
    # held: parents whose first connection (any) is on this day, by the class of that connection
    first: dict[Any, tuple[int, str]] = {}
    for j, _e, cls, _tr, p, _c in ivals:
        if p not in first or j < first[p][0]:
            first[p] = (j, cls)
    for m in METRICS:
        if m.daily == "held":
            out[m.id] = (sum(1 for j, cls in first.values() if ds <= j < de and in_scope(m.id, cls, None)), None)
    clients: dict[str, set[Any]] = {}
    for j, e, _cls, _tr, _p, c in ivals:
        present = (j < de and e > ds) if e > j else (ds <= j < de)
        if present:
            person = ("u", c["user_id"]) if c.get("user_id") is not None else ("g", c["id"])
            clients.setdefault(c.get("client") or "unknown", set()).add(person)
    out["clients"] = {k: len(v) for k, v in clients.items()}
    files = [r for k, r in final.items() if k[1] == "file"]
    users = [r for k, r in final.items() if k[1] == "user"]
    msgs = [r for k, r in final.items() if k[1] == "message"]
    out["calls.messages"] = (sum(1 for m in msgs if ds <= us(m["sent_at"]) < de), None)  # type: ignore[operator]
    out["storage.uploaded_bytes"] = (sum(f["size_bytes"] for f in files if ds <= us(f["uploaded_at"]) < de), None)  # type: ignore[operator]
    out["users.registered"] = (sum(1 for u in users if ds <= us(u["registered_at"]) < de), None)  # type: ignore[operator]
    cut = min(de, now + 1)

    def alive(start: int, end: int | None) -> bool:
        return start < cut and (end is None or end >= cut)

    out["storage.total_bytes"] = (
        sum(f["size_bytes"] for f in files if alive(us(f["uploaded_at"]), us(f.get("deleted_at")))),
        None,
    )
    out["users.total"] = (sum(1 for u in users if alive(us(u["registered_at"]), us(u.get("deleted_at")))), None)  # type: ignore[arg-type]
    return out


def oracle_breaches(
    records: list[dict[str, Any]], d: date, tz: str, now: int, cap: int, limits: dict[str, int]
) -> dict[str, tuple[int, int, int, int]]:
    """Per limited peak metric of day ``d`` (``limits``: metric id -> its limit all day): the
    microseconds the count was at or above the limit (and above zero) and over it, and how many
    maximal stretches of each the day holds; the count between two consecutive instants where
    anything changes is constant, so each such stretch is judged at its start."""
    ds, de = day_bounds(d, tz)
    ivals = intervals(records, now, cap)
    cuts = sorted({ds, de} | {t for j, e, *_ in ivals for t in (j, e) if ds < t < de})
    out: dict[str, tuple[int, int, int, int]] = {}
    for m in METRICS:
        if m.id not in limits:
            continue
        limit = limits[m.id]
        at_us = over_us = at_n = over_n = 0
        was_at = was_over = False
        for a, b in itertools.pairwise(cuts):
            if m.daily == "peak":
                n = sum(1 for j, e, cls, tr, _p, _c in ivals if j <= a < e and in_scope(m.id, cls, tr))
            else:
                n = len({p for j, e, cls, _tr, p, _c in ivals if j <= a < e and in_scope(m.id, cls, None)})
            is_at, is_over = n > 0 and n >= limit, n > limit
            at_us += (b - a) if is_at else 0
            over_us += (b - a) if is_over else 0
            at_n += is_at and not was_at
            over_n += is_over and not was_over
            was_at, was_over = is_at, is_over
        out[m.id] = (at_us, over_us, at_n, over_n)
    return out


def oracle_hours(
    records: list[dict[str, Any]], d: date, tz: str, now: int, cap: int, metrics: tuple[str, ...]
) -> dict[str, list[int]]:
    """Per metric, the highest count at any instant of each hour from midnight of day ``d``
    (25 slots): the count at an hour's start and after each change inside it."""
    ds, de = day_bounds(d, tz)
    ivals = intervals(records, now, cap)
    hour = 3600 * US
    out: dict[str, list[int]] = {}
    for metric_id in metrics:
        m = next(x for x in METRICS if x.id == metric_id)
        slots = [0] * 25
        for h in range(25):
            a, b = ds + h * hour, min(ds + (h + 1) * hour, de)
            if a >= de:
                break
            instants = {a} | {t for j, e, *_ in ivals for t in (j, e) if a < t < b}
            for t in instants:
                if m.daily == "peak":
                    n = sum(1 for j, e, cls, tr, _p, _c in ivals if j <= t < e and in_scope(m.id, cls, tr))
                else:
                    n = len({p for j, e, cls, _tr, p, _c in ivals if j <= t < e and in_scope(m.id, cls, None)})
                slots[h] = max(slots[h], n)
        out[metric_id] = slots
    return out


def oracle_at(records: list[dict[str, Any]], t: int, now: int, cap: int) -> dict[str, int]:
    """Every peak metric's count at the instant ``t``: what is active then."""
    ivals = intervals(records, now, cap)
    out: dict[str, int] = {}
    for m in METRICS:
        if m.daily == "peak":
            out[m.id] = sum(1 for j, e, cls, tr, _p, _c in ivals if j <= t < e and in_scope(m.id, cls, tr))
        elif m.daily == "parent_peak":
            out[m.id] = len({p for j, e, cls, _tr, p, _c in ivals if j <= t < e and in_scope(m.id, cls, None)})
    return out
