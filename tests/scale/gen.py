"""A seeded generator of realistic JSON-Lines activity for backend comparisons: events, calls and
their connections over some days (some open, some re-sent closed, some late), users, logins,
messages and files, in one or two companies with different timezones."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

TEMPLATES = ("meeting", "conference", "selector", "lecture", "webinar")
CLIENTS = ("web", "desktop", "ios", "android", "sip", "zoomroom")


def iso(dt: datetime) -> str:
    return dt.isoformat()


def records(
    seed: int = 1,
    *,
    company: str = "acme",
    tz: str = "Europe/Moscow",
    days: int = 20,
    start: datetime = datetime(2026, 3, 1, tzinfo=UTC),
    events_per_day: int = 6,
    users: int = 25,
) -> list[dict[str, Any]]:
    """Every version of every record, in arrival order (re-sends and late records included)."""
    rnd = random.Random(seed)
    out: list[dict[str, Any]] = [
        {
            "kind": "company",
            "id": company,
            "name": f"Компания {company}",
            "timezone": tz,
            "limits": {"concurrent_speakers": 10},
        }
    ]
    uids = [f"u{i}" for i in range(users)]
    for i, u in enumerate(uids):
        registered = start - timedelta(days=rnd.randint(-days, 60))
        rec: dict[str, Any] = {
            "kind": "user",
            "id": u,
            "company_id": company,
            "name": f"Сотрудник {i}",
            "registered_at": iso(registered),
        }
        if rnd.random() < 0.1:
            rec["deleted_at"] = iso(registered + timedelta(days=rnd.uniform(0, days)))
        out.append(rec)
    late: list[dict[str, Any]] = []
    for d in range(days):
        day = start + timedelta(days=d)
        for e in range(events_per_day):
            is_call = rnd.random() < 0.3
            pid = f"{'k' if is_call else 'e'}{d}-{e}"
            t0 = day + timedelta(hours=rnd.uniform(5, 22))
            template = rnd.choice(TEMPLATES)
            if is_call:
                out.append(
                    {
                        "kind": "call",
                        "id": pid,
                        "company_id": company,
                        "started_at": iso(t0),
                        "type": rnd.choice(("personal", "group")),
                    }
                )
            else:
                ev = {
                    "kind": "event",
                    "id": pid,
                    "company_id": company,
                    "template": template,
                    "title": rnd.choice(("Планёрка", "Вебинар для клиентов", "Обзор", "Sync")) + f" {pid}",
                    "organizer_id": rnd.choice(uids),
                    "created_at": iso(t0 - timedelta(days=rnd.randint(0, 3))),
                    "scheduled_start": iso(t0 + timedelta(days=rnd.choice((0, 0, 40)))),
                }
                if rnd.random() < 0.1:
                    ev["cancelled_at"] = iso(t0)
                out.append(ev)
            for c in range(rnd.randint(1, 8)):
                joined = t0 + timedelta(minutes=rnd.uniform(0, 30))
                left = joined + timedelta(minutes=rnd.uniform(0, 240))
                viewer = template == "webinar" and not is_call and rnd.random() < 0.6
                conn: dict[str, Any] = {
                    "kind": "connection",
                    "id": f"{pid}-c{c}",
                    "company_id": company,
                    "transport": "webrtmp" if viewer else "webrtc",
                    "joined_at": iso(joined),
                    "client": rnd.choice(CLIENTS),
                    "device": rnd.choice(("Windows 11", "iPhone", "")),
                }
                if is_call:
                    conn["call_id"] = pid
                else:
                    conn["event_id"], conn["event_template"] = pid, template
                if rnd.random() < 0.8:
                    conn["user_id"] = rnd.choice(uids)
                out.append(dict(conn))  # sent open at join
                if rnd.random() < 0.9:
                    closed = dict(conn, left_at=iso(left))
                    (late if rnd.random() < 0.2 else out).append(closed)
                    if rnd.random() < 0.1:
                        out.append(conn)  # a stale open version after the closed one: ignored
        for m in range(rnd.randint(0, 5)):
            out.append(
                {
                    "kind": "message",
                    "id": f"m{d}-{m}",
                    "company_id": company,
                    "sent_at": iso(day + timedelta(hours=rnd.uniform(0, 24))),
                }
            )
        for f in range(rnd.randint(0, 2)):
            uploaded = day + timedelta(hours=rnd.uniform(0, 24))
            rec = {
                "kind": "file",
                "id": f"f{d}-{f}",
                "company_id": company,
                "size_bytes": rnd.randint(1, 10**8),
                "uploaded_at": iso(uploaded),
                "owner_id": rnd.choice(uids),
            }
            if rnd.random() < 0.2:
                rec["deleted_at"] = iso(uploaded + timedelta(days=rnd.uniform(0, 5)))
            out.append(rec)
        for g in range(rnd.randint(0, 6)):
            out.append(
                {
                    "kind": "login",
                    "id": f"l{d}-{g}",
                    "company_id": company,
                    "user_id": rnd.choice(uids),
                    "at": iso(day + timedelta(hours=rnd.uniform(0, 24))),
                    "client": rnd.choice(CLIENTS),
                    "device": rnd.choice(("Windows 11", "iPhone", "Pixel")),
                }
            )
    return out + late


def lines(recs: list[dict[str, Any]]) -> list[bytes]:
    return [json.dumps(r, ensure_ascii=False).encode() for r in recs]
