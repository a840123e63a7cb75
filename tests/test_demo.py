"""The demo company: deterministic for a seed, imported through the real import path with no
rejection, and rich enough to exercise every part of the dashboard; with ``companies`` > 1 the
same first company plus smaller ones, all in one mixed stream and one import."""

from __future__ import annotations

import gzip
import hashlib
import json
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from vkurse_stats.cli import cli
from vkurse_stats.config import Settings
from vkurse_stats.demo import DemoOptions, create_demo, demo_records, write_demo_file
from vkurse_stats.metrics.definitions import METRICS
from vkurse_stats.service import open_services
from vkurse_stats.store.accounts import DEMO_PASSWORD, AccountStore

OPTS = DemoOptions(seed=5, days=21, employees=150, until=date(2026, 3, 20))


def test_same_seed_same_records(tmp_path: Path) -> None:
    a, b = tmp_path / "a.jsonl.gz", tmp_path / "b.jsonl.gz"
    assert write_demo_file(OPTS, a) == write_demo_file(OPTS, b)
    assert gzip.decompress(a.read_bytes()) == gzip.decompress(b.read_bytes())


def test_demo_imports_cleanly_and_fills_every_section(make_services: Any) -> None:
    svc = make_services(now="2026-03-21T12:00:00+03:00")  # the day after the demo's last day
    out = list(create_demo(svc, OPTS))
    assert any("rejected 0" in line for line in out), out
    d0, d1 = OPTS.until - timedelta(days=OPTS.days - 1), OPTS.until
    summary = svc.query.summary("demo", d0, d1)
    for m in METRICS:
        if m.id not in ("users.registered",):
            assert summary.metrics[m.id].value > 0, m.id
    clients = set().union(*(d.clients for d in svc.query.daily("demo", d0, d1)))
    assert {"web", "desktop", "ios", "android"} <= clients
    templates = {r["template"] for r in svc.query.events("demo", d0, d1, limit=5000).rows}
    assert templates == {"meeting", "conference", "selector", "lecture", "webinar"}
    assert svc.query.planned("demo").total > 0 and svc.query.disk("demo").total > 0
    assert summary.metrics["webinars.participants"].value >= 100  # webinars with hundreds of viewers


def test_one_company_is_the_demo_as_it_was(tmp_path: Path) -> None:
    """--companies 1 (the default) keeps the demo's records, ids and so its figures: a digest
    of the file pins them."""
    path = tmp_path / "one.jsonl.gz"
    assert write_demo_file(replace(OPTS, companies=1), path) == 36959
    digest = hashlib.sha256(gzip.decompress(path.read_bytes())).hexdigest()
    assert digest == "4d710b3f5f5b6b7231d3cd6b7eb7c403d520e39e7845dffe1340ec6701f9f109"


def test_surnames_agree_with_the_first_name() -> None:
    from vkurse_stats.demo import FEMININE, FIRST

    names = [r["name"] for r in demo_records(OPTS) if r["kind"] == "user"]
    assert len(names) == OPTS.employees
    for name in names:
        first, last = name.split()
        assert first in FIRST
        assert last.endswith("а") == (first in FEMININE), name
    assert {n.split()[0] for n in names} & FEMININE, "women among the staff"


def test_more_companies_leave_the_first_one_as_it_is() -> None:
    many = list(demo_records(replace(OPTS, companies=5)))
    owner = [r["id"] if r["kind"] == "company" else r["company_id"] for r in many]
    assert [r for r, c in zip(many, owner, strict=True) if c == "demo"] == list(demo_records(OPTS))
    companies = [r for r in many if r["kind"] == "company"]
    assert [c["id"] for c in companies] == ["demo", "demo-2", "demo-3", "demo-4", "demo-5"]
    for c in companies[1:]:
        assert c["name"] != c["id"] and any("а" <= ch <= "я" for ch in c["name"].lower())
        assert c["limits"]["concurrent_speakers"] < 150
    assert len({c["timezone"] for c in companies}) > 1
    assert len({c["name"] for c in companies}) == 5
    # One stream with the companies mixed: every window of a day's records holds several.
    first_day = next(i for i, r in enumerate(many) if r["kind"] not in ("company", "user"))
    assert len(set(owner[first_day : first_day + 50])) >= 3
    # Each further company is smaller, yet active.
    sizes = {c: owner.count(c) for c in set(owner)}
    assert all(0 < sizes[c["id"]] < sizes["demo"] / 3 for c in companies[1:]), sizes


def test_several_companies_import_at_once(make_services: Any, tmp_path: Path) -> None:
    now = "2026-03-21T12:00:00+03:00"
    short = replace(OPTS, days=7)
    d0, d1 = short.until - timedelta(days=short.days - 1), short.until  # type: ignore[operator]
    # The first company alone, on the embedded store, as the reference of its figures.
    single = open_services(Settings(data_dir=tmp_path / "single", fixed_now=now))
    try:
        list(create_demo(single, short))
        alone = single.query.summary("demo", d0, d1).as_json()
    finally:
        single.close()
    svc = make_services(now=now)
    out = list(create_demo(svc, replace(short, companies=3)))
    imports = [line for line in out if line.startswith("imported:")]
    assert len(imports) == 1 and "rejected 0" in imports[0], out
    assert any("admin@demo-2.vkurse.ru" in line and "admin@demo-3.vkurse.ru" in line for line in out), out
    assert svc.query.summary("demo", d0, d1).as_json() == alone
    for cid in ("demo-2", "demo-3"):
        info = svc.meta.company(cid)
        assert info is not None and info.name != cid
        summary = svc.query.summary(cid, d0, d1)
        assert summary.timezone == info.timezone
        for m in ("total.connections", "total.held", "meetings.held", "calls.held", "calls.messages", "users.total"):
            assert summary.metrics[m].value > 0, (cid, m)
        assert summary.metrics["total.speakers"].limit == info.limits["concurrent_speakers"]
    accounts = AccountStore(svc.meta.engine)
    admin = accounts.verify_password("admin@demo-3.vkurse.ru", DEMO_PASSWORD)
    assert admin is not None and admin.company_id == "demo-3" and admin.role == "admin"
    assert accounts.verify_password("admin@demo.vkurse.ru", DEMO_PASSWORD) is not None
    # Running it again resets the same accounts rather than failing on them.
    assert any("demo-3" in line for line in create_demo(svc, replace(short, companies=3)))
    assert json.dumps(svc.query.summary("demo", d0, d1).as_json()) == json.dumps(alone)


def test_demo_command_makes_several_companies(tmp_path: Path) -> None:
    args = [
        "--data-dir",
        str(tmp_path / "data"),
        "demo",
        "--companies",
        "2",
        "--days",
        "3",
        "--employees",
        "100",
        "--until",
        "2026-03-20",
    ]
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 0, r.output
    assert "of 2 companies" in r.output and "rejected 0" in r.output
    assert "admin@demo-2.vkurse.ru / demo-password" in r.output
    assert (tmp_path / "data" / "demo" / "demo-seed1-companies2.jsonl.gz").is_file()
    assert CliRunner().invoke(cli, ["demo", "--companies", "0"]).exit_code == 2
