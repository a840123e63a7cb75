"""Company records through ingest, over HTTP on the real stores: a writer scoped to one company
may rename it, not change its timezone or limits (a record that would is refused whole, naming
the field); every company change made through ingest is in the audit log with its writer."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.web.conftest import ACME, bearer


def _post(client: Any, token: str, *records: dict[str, Any] | bytes) -> Any:
    body = b"\n".join(r if isinstance(r, bytes) else json.dumps(r, ensure_ascii=False).encode() for r in records)
    return client.post("/api/v1/ingest", content=body, headers=bearer(token))


def _actor(accounts: Any, plain: str) -> str:
    token = accounts.verify_token(plain)
    return f"token:{token.id}:{token.prefix}"


def _company_entries(accounts: Any) -> list[Any]:
    """Company changes made by tokens (seeding the store made some too, as "import")."""
    entries = accounts.audit_entries(limit=1000)[0]
    return [e for e in entries if e.action.startswith("company.") and e.actor.startswith("token:")]


ACME_NOW = {
    "id": "acme",
    "name": "ООО Акме",
    "timezone": "Europe/Moscow",
    "limits": {
        "concurrent_speakers": 3,
        "concurrent_events": 2,
        "concurrent_connections": 4,
        "storage_bytes": 1_000_000,
    },
}
assert {k: v for k, v in ACME[0].items() if k != "kind"} == ACME_NOW


def test_a_scoped_writer_may_rename_its_company_and_the_change_is_audited(
    client: Any, tokens: dict[str, str], seeded: Any, accounts: Any
) -> None:
    r = _post(client, tokens["acme_ingest"], {"kind": "company", "id": "acme", "name": "Акме 2"})
    assert r.status_code == 200 and r.json() == {"accepted": 1, "rejected": 0, "errors": []}
    info = seeded.meta.company("acme")
    # What the record leaves out stays as it was (a platform record would reset it).
    assert info.as_json() == {**ACME_NOW, "name": "Акме 2"}
    [entry] = _company_entries(accounts)
    assert (entry.actor, entry.action, entry.company_id, entry.address) == (
        _actor(accounts, tokens["acme_ingest"]),
        "company.update",
        "acme",
        "testclient",
    )
    assert entry.detail == {"before": ACME_NOW, "after": {**ACME_NOW, "name": "Акме 2"}, "via": "ingest", "line": 1}


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"timezone": "UTC"}, "timezone", "may not change its timezone (Europe/Moscow -> UTC); support can"),
        (
            {"limits": {**ACME_NOW["limits"], "concurrent_speakers": 300}},
            "limits.concurrent_speakers",
            "may not change its licence limits (concurrent_speakers: 3 -> 300); support can",
        ),
        ({"limits": {}}, "limits.concurrent_speakers", "(concurrent_speakers: 3 -> none)"),
        ({"limits": None}, "limits.concurrent_speakers", "(concurrent_speakers: 3 -> none)"),
    ],
)
def test_a_scoped_writer_cannot_change_its_timezone_or_limits(
    client: Any, tokens: dict[str, str], seeded: Any, accounts: Any, change: dict[str, Any], field: str, reason: str
) -> None:
    good = {"kind": "message", "id": "m9", "company_id": "acme", "sent_at": "2026-03-05T10:00:00+03:00"}
    r = _post(client, tokens["acme_ingest"], good, {"kind": "company", "id": "acme", "name": "Renamed", **change})
    assert r.status_code == 200
    body = r.json()
    assert (body["accepted"], body["rejected"]) == (1, 1)
    assert (body["errors"][0]["line"], body["errors"][0]["field"]) == (2, field)
    assert body["errors"][0]["error"].startswith("a writer scoped to company 'acme' ")
    assert reason in body["errors"][0]["error"]
    assert seeded.meta.company("acme").as_json() == ACME_NOW  # the record is refused whole
    assert _company_entries(accounts) == []


def test_a_scoped_writer_may_repeat_its_company_settings_unchanged(
    client: Any, tokens: dict[str, str], seeded: Any, accounts: Any
) -> None:
    r = _post(client, tokens["acme_ingest"], {"kind": "company", **ACME_NOW})
    assert r.json() == {"accepted": 1, "rejected": 0, "errors": []}
    assert seeded.meta.company("acme").as_json() == ACME_NOW
    assert _company_entries(accounts) == []  # nothing changed: nothing to audit


def test_a_platform_writer_changes_limits_and_timezone_and_creates_companies_audited(
    client: Any, tokens: dict[str, str], seeded: Any, accounts: Any
) -> None:
    new = {**ACME_NOW, "timezone": "Asia/Yekaterinburg", "limits": {"concurrent_speakers": 10}}
    created = {"kind": "message", "id": "m9", "company_id": "initech", "sent_at": "2026-03-05T10:00:00+03:00"}
    r = _post(client, tokens["platform_ingest"], {"kind": "company", **new}, created)
    assert r.json() == {"accepted": 2, "rejected": 0, "errors": []}
    no_limits = dict.fromkeys(ACME_NOW["limits"])
    after = {**new, "limits": {**no_limits, "concurrent_speakers": 10}}
    assert seeded.meta.company("acme").as_json() == after
    actor = _actor(accounts, tokens["platform_ingest"])
    update, create = sorted(_company_entries(accounts), key=lambda e: e.action, reverse=True)
    assert (update.actor, update.action, update.company_id) == (actor, "company.update", "acme")
    assert update.detail == {"before": ACME_NOW, "after": after, "via": "ingest", "line": 1}
    assert (create.actor, create.action, create.company_id) == (actor, "company.create", "initech")
    assert create.detail == {
        "company": {"id": "initech", "name": "initech", "timezone": "Europe/Moscow", "limits": no_limits},
        "via": "ingest",
    }
