"""A realistic demo company: ~2,000 employees and a year of working-hours activity.

Weekly rhythm, Russian public holidays, every event template, webinars with hundreds of viewers,
P2P and group calls, messages, files, registrations and logins from every client type, licence
limits that the busiest days reach. Deterministic for a seed and an end date. The records are
written as a JSON Lines file in the data directory and imported through the ordinary import path.

With ``companies`` > 1 the same generator makes further, smaller companies (``demo-2`` …, 3-15 %
of the first one's staff and activity, limits to match, Russian names, timezones across Russia),
each from its own random stream, so the first company is the same whatever their number. As the
platform sends them, all companies go into one stream, mixed record by record within each day.
"""

from __future__ import annotations

import gzip
import random
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
from argon2 import PasswordHasher

from .service import Services

COMPANY = "demo"
TZ = "Europe/Moscow"
FIRST = [
    "Александр",
    "Мария",
    "Дмитрий",
    "Анна",
    "Сергей",
    "Елена",
    "Андрей",
    "Ольга",
    "Алексей",
    "Наталья",
    "Иван",
    "Татьяна",
    "Михаил",
    "Ирина",
    "Николай",
    "Екатерина",
    "Павел",
    "Юлия",
]
LAST = [
    "Иванов",
    "Смирнов",
    "Кузнецов",
    "Попов",
    "Васильев",
    "Петров",
    "Соколов",
    "Михайлов",
    "Новиков",
    "Фёдоров",
    "Морозов",
    "Волков",
    "Алексеев",
    "Лебедев",
    "Семёнов",
    "Егоров",
]
# First names of women: their surnames take the feminine form (Иванова, not Иванов).
FEMININE = frozenset({"Мария", "Анна", "Елена", "Ольга", "Наталья", "Татьяна", "Ирина", "Екатерина", "Юлия"})


def full_name(first: str, last: str) -> str:
    """«Имя Фамилия» with the surname in the first name's gender (every surname of LAST ends in
    -ов/-ев/-ёв, which takes -а)."""
    return f"{first} {last}а" if first in FEMININE else f"{first} {last}"


DEPARTMENTS = ["Продажи", "Разработка", "Бухгалтерия", "HR", "Маркетинг", "Поддержка", "Юристы", "Логистика"]
TOPICS = [
    "Планёрка",
    "Статус проекта",
    "Ретроспектива",
    "Обучение",
    "Совет директоров",
    "Разбор инцидента",
    "Встреча с клиентом",
    "Квартальные итоги",
    "Онбординг",
    "Демо продукта",
    "Собеседование",
]
WEBINARS = [
    "Вебинар: новые возможности платформы",
    "Всероссийская конференция партнёров",
    "Обучение продавцов",
    "Открытый урок",
    "День открытых дверей",
]
CLIENTS = [
    ("web", ["Windows 11 / Chrome", "Windows 10 / Yandex", "macOS / Safari", "Ubuntu / Firefox"], 45),
    ("desktop", ["Windows 11", "Windows 10", "macOS 14", "Astra Linux"], 30),
    ("ios", ["iPhone 15", "iPhone 13", "iPad Air"], 10),
    ("android", ["Samsung Galaxy S23", "Xiaomi 13", "Honor 90"], 10),
    ("sip", ["Yealink MeetingBar A20"], 2),
    ("h323", ["Polycom RealPresence Group 500", "Cisco SX80"], 2),
    ("phone", ["ТфОП"], 1),
]
HOLIDAYS = {(1, d) for d in range(1, 9)} | {(2, 23), (3, 8), (5, 1), (5, 9), (6, 12), (11, 4), (12, 31)}
LIMITS = {
    "concurrent_speakers": 150,
    "concurrent_events": 30,
    "concurrent_connections": 700,
    "storage_bytes": 3 * 10**12,  # 3 ТБ as sold (decimal, as every size is shown)
}
# Further companies: names from these parts, timezones across Russia.
NAME_FORMS = ["ООО", "АО", "ПАО", "ГК", "ООО", "ООО"]
NAME_STEMS = ["Техно", "Энерго", "Агро", "Строй", "Транс", "Мед", "Фарм", "Газо", "Лесо", "Нефте", "Инвест", "Звёздо"]
NAME_ROOTS = ["сервис", "пром", "торг", "снаб", "ресурс", "холдинг", "системы", "логистика", "проект", "монтаж"]
NAME_REGIONS = ["", "", "", "-Урал", "-Сибирь", "-Поволжье", "-Юг", "-Кубань", "-Приморье", "-Приозёрье", "-Север"]
TIMEZONES = [
    "Europe/Moscow",
    "Europe/Moscow",
    "Europe/Kaliningrad",
    "Europe/Samara",
    "Asia/Yekaterinburg",
    "Asia/Omsk",
    "Asia/Novosibirsk",
    "Asia/Krasnoyarsk",
    "Asia/Irkutsk",
    "Asia/Vladivostok",
]


@dataclass(frozen=True)
class DemoOptions:
    seed: int = 1
    days: int = 365
    employees: int = 2000  # of the first company; further ones have 3-15 % of it (at least 50)
    until: date | None = None  # last day of activity; default yesterday
    companies: int = 1


@dataclass(frozen=True)
class _Company:
    id: str
    name: str
    timezone: str
    employees: int
    scale: float  # activity and limits relative to the first company
    limits: dict[str, int]


def company_ids(n: int) -> list[str]:
    """The ids of ``n`` demo companies: ``demo``, ``demo-2`` … ``demo-<n>``."""
    return [COMPANY, *(f"{COMPANY}-{k}" for k in range(2, n + 1))]


def _companies(opts: DemoOptions) -> list[_Company]:
    first = _Company(COMPANY, "ООО «Демо-Курс»", TZ, opts.employees, 1.0, LIMITS)
    r = random.Random(f"demo-companies:{opts.seed}")
    out, names = [first], {first.name}
    for cid in company_ids(opts.companies)[1:]:
        share = r.uniform(0.03, 0.15)
        name = ""
        for _ in range(20):
            name = f"{r.choice(NAME_FORMS)} «{r.choice(NAME_STEMS)}{r.choice(NAME_ROOTS)}{r.choice(NAME_REGIONS)}»"
            if name not in names:
                break
        else:
            name = f"{name[:-1]} {cid.rsplit('-', 1)[1]}»"
        names.add(name)
        limits = {k: max(5 if k != "storage_bytes" else 10**9, round(v * share)) for k, v in LIMITS.items()}
        out.append(_Company(cid, name, r.choice(TIMEZONES), max(50, round(opts.employees * share)), share, limits))
    return out


class _Gen:
    def __init__(self, opts: DemoOptions, company: _Company | None = None, rng: random.Random | None = None) -> None:
        self.o = opts
        self.c = company or _Company(COMPANY, "ООО «Демо-Курс»", TZ, opts.employees, 1.0, LIMITS)
        self.r = rng or random.Random(opts.seed)
        self.z = ZoneInfo(self.c.timezone)
        self.s = self.c.scale
        self.n = 0
        self.until = opts.until or (datetime.now(self.z).date() - timedelta(days=1))
        self.first = self.until - timedelta(days=opts.days - 1)
        self.users = [f"u{i:05d}" for i in range(self.c.employees)]

    def nid(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}{self.n}"

    def at(self, d: date, hours: float) -> datetime:
        return datetime.combine(d, time(0), tzinfo=self.z) + timedelta(hours=hours)

    def ts(self, dt: datetime) -> str:
        return dt.isoformat(timespec="seconds")  # local time with its offset, as the platform sends it

    def client(self) -> tuple[str, str]:
        name, devices, _ = self.r.choices(CLIENTS, weights=[w for *_, w in CLIENTS])[0]
        return name, self.r.choice(devices)

    def records(self) -> Iterator[dict[str, Any]]:
        yield from self.staff()
        for d in self.dates():
            yield from self.day(d)
        yield from self.planned()

    def dates(self) -> Iterator[date]:
        d = self.first
        while d <= self.until:
            yield d
            d += timedelta(days=1)

    def staff(self) -> Iterator[dict[str, Any]]:
        """The company record and its users."""
        r, c = self.r, self.c
        yield {"kind": "company", "id": c.id, "name": c.name, "timezone": c.timezone, "limits": c.limits}
        for i, uid in enumerate(self.users):
            # Most staff predate the year; the rest join during it; a few leave.
            reg = (
                self.at(self.first - timedelta(days=r.randint(1, 900)), 10)
                if i < c.employees * 0.85
                else self.at(self.first + timedelta(days=r.randint(0, self.o.days - 1)), r.uniform(9, 18))
            )
            u = {
                "kind": "user",
                "id": uid,
                "company_id": c.id,
                "registered_at": self.ts(reg),
                "name": full_name(r.choice(FIRST), r.choice(LAST)),
                "email": f"{uid}@{c.id}.example",
                "department": r.choice(DEPARTMENTS),
            }
            if r.random() < 0.04:
                u["deleted_at"] = self.ts(reg + timedelta(days=r.randint(30, 400)))
            yield u

    def planned(self) -> Iterator[dict[str, Any]]:
        """Planned events in the coming weeks (some cancelled)."""
        r = self.r
        for _ in range(round(180 * self.s)):
            start = self.at(self.until + timedelta(days=r.randint(2, 45)), r.choice([10, 11, 14, 15, 16.5]))
            ev = {
                "kind": "event",
                "id": self.nid("p"),
                "company_id": self.c.id,
                "template": r.choice(["meeting", "conference", "webinar", "selector"]),
                "title": r.choice(TOPICS),
                "organizer_id": r.choice(self.users[:300]),
                "created_at": self.ts(self.at(self.until, 12)),
                "scheduled_start": self.ts(start),
                "scheduled_end": self.ts(start + timedelta(hours=1)),
            }
            if r.random() < 0.1:
                ev["cancelled_at"] = self.ts(self.at(self.until, 15))
            yield ev

    def day(self, d: date) -> Iterator[dict[str, Any]]:
        r = self.r
        weekend = d.weekday() >= 5
        holiday = (d.month, d.day) in HOLIDAYS
        load = 0.04 if weekend or holiday else [1.1, 1.15, 1.0, 1.0, 0.8][d.weekday()]
        load *= 0.85 if d.month in (7, 8) else 1.0  # summer holidays
        load *= self.s
        for _ in range(int(r.gauss(55, 8) * load)):
            yield from self.meeting(d)
        if not weekend and not holiday and r.random() < 0.35:
            yield from self.webinar(d)
        for _ in range(int(r.gauss(140, 20) * load)):
            yield from self.call(d)
        for _ in range(int(r.gauss(700, 80) * load)):
            yield {
                "kind": "message",
                "id": self.nid("m"),
                "company_id": self.c.id,
                "sent_at": self.ts(self.at(d, r.uniform(8, 20))),
                "chat_id": f"chat{r.randint(1, max(5, round(400 * self.s)))}",
                "sender_id": r.choice(self.users),
            }
        for _ in range(int(r.gauss(500, 50) * load)):
            client, device = self.client()
            yield {
                "kind": "login",
                "id": self.nid("l"),
                "company_id": self.c.id,
                "user_id": r.choice(self.users),
                "at": self.ts(self.at(d, r.uniform(7.5, 19))),
                "client": client,
                "device": device,
            }
        for _ in range(int(r.gauss(40, 8) * load)):
            up = self.at(d, r.uniform(9, 19))
            f = {
                "kind": "file",
                "id": self.nid("f"),
                "company_id": self.c.id,
                "size_bytes": int(r.lognormvariate(15, 2.2)),
                "uploaded_at": self.ts(up),
                "owner_id": r.choice(self.users),
                "name": f"{r.choice(TOPICS)}.{r.choice(['pdf', 'pptx', 'mp4', 'docx'])}",
            }
            if r.random() < 0.2:
                f["deleted_at"] = self.ts(up + timedelta(days=r.randint(1, 90)))
            yield f

    def _connect(
        self, d: date, parent: dict[str, Any], start: float, end: float, user: str | None, transport: str, role: str
    ) -> Iterator[dict[str, Any]]:
        client, device = self.client()
        c = {
            "kind": "connection",
            "id": self.nid("c"),
            "company_id": self.c.id,
            "transport": transport,
            "joined_at": self.ts(self.at(d, start)),
            "role": role,
            "client": client,
            "device": device,
            **parent,
        }
        if user:
            c["user_id"] = user
        if self.r.random() < 0.05:  # the platform sends the open version first, then the closed one
            yield dict(c)
        c["left_at"] = self.ts(self.at(d, end))
        yield c

    def meeting(self, d: date) -> Iterator[dict[str, Any]]:
        r = self.r
        template = r.choices(["meeting", "conference", "selector", "lecture"], [50, 30, 10, 10])[0]
        start = r.choice([r.gauss(10.5, 0.8), r.gauss(14.5, 1.0), r.uniform(9, 18)])
        length = r.choice([0.5, 0.75, 1, 1, 1.5, 2])
        organizer = r.choice(self.users[:600])
        eid = self.nid("e")
        yield {
            "kind": "event",
            "id": eid,
            "company_id": self.c.id,
            "template": template,
            "title": f"{r.choice(TOPICS)} #{eid[1:]}",
            "organizer_id": organizer,
            "created_at": self.ts(self.at(d - timedelta(days=r.randint(0, 10)), r.uniform(9, 18))),
            "scheduled_start": self.ts(self.at(d, round(start * 4) / 4)),
        }
        parent = {"event_id": eid, "event_template": template}
        size = max(2, int(r.lognormvariate(1.8, 0.6)))
        for user in [organizer, *r.sample(self.users, min(size, 40, len(self.users)))]:
            s = start + r.uniform(-0.05, 0.15)
            yield from self._connect(
                d,
                parent,
                s,
                s + length * r.uniform(0.5, 1.05),
                user,
                "webrtc",
                "moderator" if user == organizer else "participant",
            )

    def webinar(self, d: date) -> Iterator[dict[str, Any]]:
        r = self.r
        start, length = r.choice([11, 15]) + r.uniform(0, 0.5), r.uniform(1, 2)
        eid = self.nid("w")
        organizer = r.choice(self.users[:50])
        yield {
            "kind": "event",
            "id": eid,
            "company_id": self.c.id,
            "template": "webinar",
            "title": r.choice(WEBINARS),
            "organizer_id": organizer,
            "created_at": self.ts(self.at(d - timedelta(days=r.randint(3, 20)), 12)),
            "scheduled_start": self.ts(self.at(d, round(start * 2) / 2)),
        }
        parent = {"event_id": eid, "event_template": "webinar"}
        for user in [organizer, *r.sample(self.users, r.randint(1, 4))]:
            yield from self._connect(d, parent, start - 0.1, start + length, user, "webrtc", "speaker")
        for _ in range(r.randint(max(5, round(120 * self.s)), max(10, round(650 * self.s)))):
            s = start + abs(r.gauss(0, 0.15))
            guest = r.random() < 0.3
            yield from self._connect(
                d,
                parent,
                s,
                min(start + length, s + r.uniform(0.3, length)),
                None if guest else r.choice(self.users),
                "webrtmp",
                "participant",
            )

    def call(self, d: date) -> Iterator[dict[str, Any]]:
        r = self.r
        group = r.random() < 0.2
        start = r.uniform(9, 19)
        length = r.uniform(0.03, 0.5)
        kid = self.nid("k")
        people = r.sample(self.users, r.randint(3, 6) if group else 2)
        yield {
            "kind": "call",
            "id": kid,
            "company_id": self.c.id,
            "type": "group" if group else "personal",
            "initiator_id": people[0],
            "started_at": self.ts(self.at(d, start)),
            "ended_at": self.ts(self.at(d, start + length)),
        }
        for user in people:
            yield from self._connect(
                d, {"call_id": kid}, start + r.uniform(0, 0.01), start + length, user, "webrtc", "participant"
            )


def _mix(streams: Iterable[Iterator[dict[str, Any]]]) -> Iterator[dict[str, Any]]:
    """One record of each stream in turn; each stream keeps its own order (the open version of
    a connection still comes before its closed one)."""
    live = list(streams)
    while live:
        still = []
        for it in live:
            rec = next(it, None)
            if rec is not None:
                yield rec
                still.append(it)
        live = still


def demo_records(opts: DemoOptions) -> Iterator[dict[str, Any]]:
    """Every record of the demo, all companies in one stream: staff first, then day by day
    (the companies' records of a day mixed), then the planned events."""
    if opts.companies <= 1:
        yield from _Gen(opts).records()
        return
    # One end date for all, in the first company's timezone, so every company has the same days.
    until = opts.until or (datetime.now(ZoneInfo(TZ)).date() - timedelta(days=1))
    common = DemoOptions(seed=opts.seed, days=opts.days, employees=opts.employees, until=until)
    gens = [
        _Gen(common, c, random.Random(opts.seed) if c.id == COMPANY else random.Random(f"demo:{opts.seed}:{c.id}"))
        for c in _companies(opts)
    ]
    yield from _mix(g.staff() for g in gens)
    for d in gens[0].dates():
        yield from _mix(g.day(d) for g in gens)
    yield from _mix(g.planned() for g in gens)


def demo_file_name(opts: DemoOptions) -> str:
    many = f"-companies{opts.companies}" if opts.companies > 1 else ""
    return f"demo-seed{opts.seed}{many}.jsonl.gz"


def write_demo_file(opts: DemoOptions, path: Path) -> int:
    """Write the demo records as gzipped JSON Lines; returns how many."""
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    encode = msgspec.json.Encoder().encode
    with gzip.open(path, "wb", compresslevel=1) as f:
        for rec in demo_records(opts):
            f.write(encode(rec) + b"\n")
            n += 1
    return n


def create_demo(svc: Services, opts: DemoOptions, progress: Callable[[], Any] | None = None) -> Iterator[str]:
    """Generate, import (one import, every company in it) and set up logins; yields lines to print."""
    from .ingest.readers import read_file

    path = svc.settings.data_dir / "demo" / demo_file_name(opts)
    n = write_demo_file(opts, path)
    many = f" of {opts.companies} companies" if opts.companies > 1 else ""
    yield f"generated {n} records{many} -> {path}"
    ing = svc.ingestor()
    read_file(ing, str(path))
    result = ing.finish()
    yield f"imported: accepted {result.accepted}, rejected {result.rejected}"
    yield from _demo_accounts(svc, company_ids(opts.companies))


class _HashOnce(PasswordHasher):
    """Hashes each password once. Every demo administrator has the same published password,
    and one memory-hard hash per company would make ``--companies 1000`` take minutes."""

    def __init__(self) -> None:
        super().__init__()
        self._hashed: dict[str | bytes, str] = {}

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        if salt is not None:
            return super().hash(password, salt=salt)
        if password not in self._hashed:
            self._hashed[password] = super().hash(password)
        return self._hashed[password]


def demo_admin_email(company_id: str) -> str:
    return f"admin@{company_id}.vkurse.ru"


def _demo_accounts(svc: Services, ids: list[str]) -> Iterator[str]:
    """The sign-ins of the first company and support (``ensure_demo_accounts``), and an
    administrator of every further company, with the same password."""
    from .store.accounts import DEMO_PASSWORD, AccountStore, ensure_demo_accounts

    yield from ensure_demo_accounts(svc)
    if len(ids) < 2:
        return
    store = AccountStore(svc.meta.engine, hasher=_HashOnce())
    for company_id in ids[1:]:
        email = demo_admin_email(company_id)
        acct = store.account_by_email(email)
        if acct is None:
            store.create_account(email, role="admin", company_id=company_id, password=DEMO_PASSWORD)
            store.audit("demo", "account.create", company_id, email=email, role="admin")
        else:
            store.set_password(acct.id, DEMO_PASSWORD)
            store.set_disabled(acct.id, False)
    if len(ids) == 2:
        yield f"demo sign-in (admin) of {ids[1]}: {demo_admin_email(ids[1])} / {DEMO_PASSWORD}"
    else:
        yield (
            f"demo sign-ins (admin) of {ids[1]} … {ids[-1]}: {demo_admin_email(ids[1])} … "
            f"{demo_admin_email(ids[-1])} / {DEMO_PASSWORD}"
        )
