"""The administrative operations (vkurse_stats/operations.py) and the surfaces over them: every
operation driven through the support pages and through the command line leaves the same state and
the same audit entries; a timezone change moves a company's days whatever the surface (and stays
moved when the services are reopened); the CLI's company commands are audited; refusals carry a
code and a message in either language."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests.conftest import lines
from tests.web.conftest import ACME, FAST_HASHER, NOW, PASSWORD, TestClient, csrf_of, login
from vkurse_stats.cli import cli
from vkurse_stats.config import Settings
from vkurse_stats.operations import Caller, OperationError, Operations, check_company_id, parse_limit
from vkurse_stats.service import Services, open_services
from vkurse_stats.store.accounts import AccountStore
from vkurse_stats.web import create_app

MARCH_4_5 = {"from": "2026-03-04", "to": "2026-03-05"}


@pytest.fixture
def backend() -> str:
    """The operations touch the analytic store only through rollups, whose backends have their
    own suite."""
    return "duckdb"


def _settings(data_dir: Path) -> Settings:
    return Settings(data_dir=data_dir, fixed_now=NOW)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


class Opened:
    """Services opened on a data directory by a test, closed at its end unless closed before."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.open: list[Services] = []

    def __call__(self) -> Services:
        svc = open_services(_settings(self.data_dir))
        self.open.append(svc)
        return svc

    def close(self, svc: Services) -> None:
        self.open.remove(svc)
        svc.close()


@pytest.fixture
def opened(data_dir: Path) -> Iterator[Opened]:
    made = Opened(data_dir)
    yield made
    for svc in list(made.open):
        made.close(svc)


def _web(svc: Services) -> tuple[TestClient, AccountStore]:
    """A signed-in support client of the real app over ``svc``."""
    accounts = AccountStore(svc.meta.engine, hasher=FAST_HASHER)
    if accounts.account_by_email("op@vkurse.ru") is None:
        accounts.create_account("op@vkurse.ru", role="operator", password=PASSWORD)
    client = TestClient(create_app(svc, accounts=accounts))
    assert login(client, "op@vkurse.ru").status_code == 303
    return client, accounts


def _cli(data_dir: Path, *args: str) -> Any:
    result = CliRunner().invoke(cli, ["--data-dir", str(data_dir), *args], env={"VKURSE_STATS_NOW": NOW})
    return result


# --- every operation through each surface ----------------------------------------------------
def _by_web(opened: Opened) -> None:
    svc = opened()
    client, accounts = _web(svc)
    csrf = csrf_of(client.get("/support/companies").text)

    def post(path: str, **form: str) -> Any:
        r = client.post(path, data={"csrf": csrf, **form}, follow_redirects=True)
        assert r.status_code == 200 and r.history and r.history[0].status_code == 303, r.text
        return r

    post(
        "/support/companies",
        id="initech",
        name="Инитех",
        timezone="Новосибирск (UTC+7)",
        limit_concurrent_speakers="25",
        limit_storage_bytes="2 TB",
    )
    post(
        "/support/companies/initech",
        name="Инитех",
        timezone="Новосибирск (UTC+7)",
        limit_concurrent_speakers="25",
        limit_concurrent_events="4",
        limit_storage_bytes="2000 GB",
    )
    post(
        "/support/companies/initech",
        name="Инитех",
        timezone="Самара (UTC+4)",
        limit_concurrent_speakers="25",
        limit_concurrent_events="4",
        limit_storage_bytes="2000 GB",
    )
    post("/support/accounts", email="Boss@Initech.ru", role="admin", company="initech")
    boss = accounts.account_by_email("boss@initech.ru")
    assert boss is not None
    post(f"/support/accounts/{boss.id}/reset")
    post(f"/support/accounts/{boss.id}/disable")
    post(f"/support/accounts/{boss.id}/disable", enable="1")
    post("/support/tokens", scope="ingest", company="initech", label="platform")
    post("/support/tokens/1/revoke")
    opened.close(svc)


def _by_cli(opened: Opened) -> None:
    for args in (
        [
            "company",
            "add",
            "initech",
            "--name",
            "Инитех",
            "--timezone",
            "Asia/Novosibirsk",
            "--concurrent-speakers",
            "25",
            "--storage-bytes",
            "2TB",
        ],
        ["company", "set-limits", "initech", "--concurrent-events", "4"],
        ["company", "set-timezone", "initech", "Europe/Samara"],
        ["account", "add", "Boss@Initech.ru", "--company", "initech"],
        ["account", "reset", "boss@initech.ru"],
        ["account", "disable", "boss@initech.ru"],
        ["account", "disable", "boss@initech.ru", "--enable"],
        ["token", "create", "--company", "initech", "--scope", "ingest", "--label", "platform"],
        ["token", "revoke", "1"],
    ):
        result = _cli(opened.data_dir, *args)
        assert result.exit_code == 0, (args, result.output)


def _state(opened: Opened) -> tuple[Any, ...]:
    svc = opened()
    accounts = svc.accounts
    companies = [c.as_json() for c in svc.meta.companies()]
    people = [
        (a.email, a.role, a.company_id, a.disabled, a.must_change)
        for a in accounts.accounts()
        if a.email != "op@vkurse.ru"
    ]
    tokens = [(t.id, t.scope, t.company_id, t.label, t.revoked_at is not None) for t in accounts.tokens()]
    entries = list(reversed(accounts.audit_entries(limit=1000)[0]))
    changes = [e for e in entries if not e.action.startswith(("login", "logout"))]
    audit = [(e.action, e.company_id, {k: v for k, v in e.detail.items() if k != "prefix"}) for e in changes]
    who = {(e.actor, e.address) for e in changes}
    opened.close(svc)
    return companies, people, tokens, audit, who


def test_every_operation_gives_the_same_state_and_audit_on_every_surface(tmp_path: Path) -> None:
    results = {}
    for surface, drive in (("web", _by_web), ("cli", _by_cli)):
        opened = Opened(tmp_path / surface)
        drive(opened)
        results[surface] = _state(opened)
    web, by_cli = results["web"], results["cli"]
    assert web[:4] == by_cli[:4]
    companies, people, tokens, audit, _ = web
    assert companies == [
        {
            "id": "initech",
            "name": "Инитех",
            "timezone": "Europe/Samara",
            "limits": {
                "concurrent_speakers": 25,
                "concurrent_events": 4,
                "concurrent_connections": None,
                "storage_bytes": 2_000_000_000_000,
            },
        }
    ]
    assert people == [("boss@initech.ru", "admin", "initech", False, True)]
    assert tokens == [(1, "ingest", "initech", "platform", True)]
    created = {
        "id": "initech",
        "name": "Инитех",
        "timezone": "Asia/Novosibirsk",
        "limits": {
            "concurrent_speakers": 25,
            "concurrent_events": None,
            "concurrent_connections": None,
            "storage_bytes": 2_000_000_000_000,
        },
    }
    limited = {**created, "limits": {**created["limits"], "concurrent_events": 4}}
    assert audit == [
        ("company.create", "initech", {"after": created}),
        ("company.update", "initech", {"before": created, "after": limited}),
        ("company.update", "initech", {"before": limited, "after": {**limited, "timezone": "Europe/Samara"}}),
        (
            "account.create",
            "initech",
            {"email": "boss@initech.ru", "after": {"role": "admin", "company_id": "initech"}},
        ),
        (
            "account.reset",
            "initech",
            {"email": "boss@initech.ru", "before": {"must_change": True}, "after": {"must_change": True}},
        ),
        (
            "account.disable",
            "initech",
            {"email": "boss@initech.ru", "before": {"disabled": False}, "after": {"disabled": True}},
        ),
        (
            "account.enable",
            "initech",
            {"email": "boss@initech.ru", "before": {"disabled": True}, "after": {"disabled": False}},
        ),
        (
            "token.create",
            "initech",
            {"token_id": 1, "after": {"scope": "ingest", "company_id": "initech", "label": "platform"}},
        ),
        ("token.revoke", "initech", {"token_id": 1, "before": {"revoked": False}, "after": {"revoked": True}}),
    ]
    assert web[4] == {("op@vkurse.ru", "testclient")}
    assert len(by_cli[4]) == 1 and next(iter(by_cli[4]))[0].startswith("cli") and next(iter(by_cli[4]))[1] is None


# --- defect: a timezone change on the support page left the days on the old zone ------------
def _day_peaks(client: TestClient) -> dict[str, int]:
    body = client.get("/api/v1/daily", params={**MARCH_4_5, "company": "acme"}).json()
    return {d["date"]: d["metrics"]["total.connections"]["value"] for d in body["days"]}


def test_a_timezone_change_on_the_support_page_moves_the_days(data_dir: Path, opened: Opened) -> None:
    svc = opened()
    assert svc.ingest_lines(lines(*ACME)).rejected == 0
    client, _ = _web(svc)
    # Moscow: the meeting and the call of 03-05 10:00-11:00 MSK peak at 5 connections on 03-05.
    assert _day_peaks(client) == {"2026-03-04": 0, "2026-03-05": 5}
    page = client.get("/support/companies/acme").text
    form = {
        "csrf": csrf_of(page),
        "name": "ООО Акме",
        "timezone": "Pacific/Honolulu",
        "limit_concurrent_speakers": "3",
        "limit_concurrent_events": "2",
        "limit_concurrent_connections": "4",
        "limit_storage_bytes": "1000000",
    }
    r = client.post("/support/companies/acme", data=form, follow_redirects=True)
    # Honolulu (UTC-10): 10:00 MSK is 21:00 of the day before.
    assert _day_peaks(client) == {"2026-03-04": 5, "2026-03-05": 0}
    assert r.status_code == 200 and "пересчитана по дням этого пояса" in r.text
    dash = client.get("/dashboard", params={"company": "acme", "from": "2026-03-04", "to": "2026-03-04"}).text
    assert re.search(r'data-metric="total.connections">.*?data-value="5"', dash, re.S)
    opened.close(svc)

    again = opened()
    assert again.meta.company("acme").timezone == "Pacific/Honolulu"  # type: ignore[union-attr]
    _, days = again.query.report("acme", date(2026, 3, 4), date(2026, 3, 5))
    assert [(d.date.isoformat(), d.metrics["total.connections"].value) for d in days] == [
        ("2026-03-04", 5),
        ("2026-03-05", 0),
    ]
    client, _ = _web(again)
    assert _day_peaks(client) == {"2026-03-04": 5, "2026-03-05": 0}


def test_a_timezone_change_on_the_command_line_moves_the_days(data_dir: Path, opened: Opened) -> None:
    svc = opened()
    assert svc.ingest_lines(lines(*ACME)).rejected == 0
    opened.close(svc)
    assert _cli(data_dir, "company", "set-timezone", "acme", "Pacific/Honolulu").exit_code == 0
    result = _cli(data_dir, "report", "--company", "acme", "--from", "2026-03-04", "--to", "2026-03-05")
    days = json.loads(result.output)["days"]
    assert [(d["date"], d["metrics"]["total.connections"]["value"]) for d in days] == [
        ("2026-03-04", 5),
        ("2026-03-05", 0),
    ]


# --- defect: the CLI's company commands wrote no audit entry -----------------------------------
def test_company_commands_are_audited(data_dir: Path, opened: Opened) -> None:
    assert _cli(data_dir, "company", "add", "beta", "--name", "Бета", "--concurrent-speakers", "10").exit_code == 0
    assert _cli(data_dir, "company", "set-limits", "beta", "--concurrent-speakers", "12").exit_code == 0
    assert _cli(data_dir, "company", "set-timezone", "beta", "Asia/Tokyo").exit_code == 0
    svc = opened()
    entries = list(reversed(AccountStore(svc.meta.engine).audit_entries()[0]))
    assert [(e.action, e.company_id) for e in entries] == [
        ("company.create", "beta"),
        ("company.update", "beta"),
        ("company.update", "beta"),
    ]
    assert all(e.actor.startswith("cli") for e in entries)
    assert entries[1].detail["before"]["limits"]["concurrent_speakers"] == 10
    assert entries[1].detail["after"]["limits"]["concurrent_speakers"] == 12
    assert (entries[2].detail["before"]["timezone"], entries[2].detail["after"]["timezone"]) == (
        "Europe/Moscow",
        "Asia/Tokyo",
    )


# --- refusals ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "code"),
    [("-5", "limit_negative"), ("2.5", "limit_not_whole"), ("много", "limit_not_whole"), (-1, "limit_negative")],
)
def test_a_bad_limit_says_why(value: Any, code: str) -> None:
    with pytest.raises(OperationError) as err:
        parse_limit("concurrent_speakers", value)
    assert err.value.code == code
    assert parse_limit("concurrent_speakers", " 1 500 ") == 1500 and parse_limit("storage_bytes", "") is None


def test_refusals_are_the_same_on_the_page_and_the_command_line(data_dir: Path, opened: Opened) -> None:
    negative = _cli(data_dir, "company", "add", "beta", "--concurrent-speakers", "-5")
    assert negative.exit_code != 0
    assert "the limit of concurrent speakers must not be negative: '-5'" in negative.output
    assert "is not a whole number" not in negative.output
    for bad in ("a b", "a/b", "..", "ёлка?"):
        result = _cli(data_dir, "company", "add", bad)
        assert result.exit_code != 0 and "is not valid: use letters, digits" in result.output, bad
    assert _cli(data_dir, "company", "add", "Ёлка-2.0_x").exit_code == 0
    assert (
        "unknown timezone 'Mars/Olympus'" in _cli(data_dir, "company", "add", "m", "--timezone", "Mars/Olympus").output
    )
    svc = opened()
    client, _ = _web(svc)
    csrf = csrf_of(client.get("/support/companies").text)
    cases = [
        (
            {"id": "beta", "limit_concurrent_speakers": "-5"},
            "Лимит «одновременных докладчиков» не может быть отрицательным: «-5».",
            "The limit of concurrent speakers must not be negative: '-5'",
        ),
        ({"id": "a b"}, "Идентификатор компании «a b» не подходит", "The company id 'a b' is not valid"),
        ({"id": "Ёлка-2.0_x"}, "Компания «Ёлка-2.0_x» уже существует.", "A company 'Ёлка-2.0_x' already exists"),
        (
            {"id": "m", "timezone": "Mars/Olympus"},
            "Неизвестный часовой пояс «Mars/Olympus»",
            "Unknown timezone 'Mars/Olympus'",
        ),
        (
            {"id": "s", "limit_storage_bytes": "три терабайта"},
            "«три терабайта» — не объём",
            "'три терабайта' is not a size",
        ),
    ]
    for form, ru, en in cases:
        r = client.post("/support/companies?lang=ru", data={"csrf": csrf, "name": "X", **form})
        assert r.status_code == 400 and ru in r.text, form
        assert f'value="{form["id"]}"' in r.text  # what was typed stays
        r = client.post("/support/companies?lang=en", data={"csrf": csrf, "name": "X", **form})
        assert r.status_code == 400 and en in r.text.replace("&#39;", "'"), form
    r = client.post(
        "/support/accounts?lang=ru", data={"csrf": csrf, "email": "nobody", "role": "admin", "company": "Ёлка-2.0_x"}
    )
    assert r.status_code == 400 and "«nobody» — не адрес электронной почты." in r.text
    r = client.post(
        "/support/accounts?lang=ru", data={"csrf": csrf, "email": "x@y.ru", "role": "admin", "company": "nope"}
    )
    assert r.status_code == 400 and "Компания «nope» не найдена." in r.text
    r = client.post("/support/accounts?lang=ru", data={"csrf": csrf, "email": "x@y.ru", "role": "admin"})
    assert r.status_code == 400 and "Администратору компании нужна компания" in r.text
    r = client.post("/support/tokens?lang=ru", data={"csrf": csrf, "scope": "ingest", "company": "None"})
    assert r.status_code == 400 and "Компания «None» не найдена." in r.text
    assert svc.accounts.account_by_email("x@y.ru") is None and svc.accounts.tokens() == []


def test_operations_need_no_surface(data_dir: Path, opened: Opened) -> None:
    svc = opened()
    ops = Operations(svc.meta, svc.accounts, svc.rollups, Caller("script", "10.0.0.1", account_id=7))
    ops.create_company("gamma")
    with pytest.raises(OperationError) as err:
        ops.update_company("nope", name="X")
    assert (err.value.code, err.value.field) == ("company_unknown", "company")
    assert err.value.message("ru") == "Компания «nope» не найдена."
    acct, _ = ops.create_account("g@gamma.ru", "admin", "gamma")
    with pytest.raises(OperationError) as err:
        Operations(svc.meta, svc.accounts, svc.rollups, Caller("x", account_id=acct.id)).set_disabled(acct.id, True)
    assert err.value.code == "account_self"
    token, _ = ops.create_token("read")
    ops.revoke_token(token.id)
    with pytest.raises(OperationError) as err:
        ops.revoke_token(token.id)
    assert err.value.code == "token_revoked"
    entry = svc.accounts.audit_entries(limit=1)[0][0]
    assert (entry.actor, entry.address, entry.action) == ("script", "10.0.0.1", "token.revoke")
    assert check_company_id("acme.west_1-2") == "acme.west_1-2"
