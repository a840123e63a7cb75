"""The HTTP API over a real store: exact figures, tables, ingest, errors, exports."""

from __future__ import annotations

import gzip
import json
from typing import Any

import pytest

from tests.web.conftest import ACME, bearer
from vkurse_stats.metrics.definitions import METRICS

MARCH = {"from": "2026-03-01", "to": "2026-03-31"}


def _core(figure: dict[str, Any]) -> dict[str, Any]:
    """A limited peak without its breach figures (checked on their own)."""
    return {k: v for k, v in figure.items() if k in ("value", "at", "limit")}


def test_summary_exact_figures(admin: Any) -> None:
    r = admin.get("/api/v1/summary", params=MARCH)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["company"]["id"] == "acme"
    assert (body["from"], body["to"], body["timezone"]) == ("2026-03-01", "2026-03-31", "Europe/Moscow")
    m = body["metrics"]
    assert set(m) == {x.id for x in METRICS}
    assert _core(m["total.connections"]) == {"value": 5, "at": "2026-03-05T10:10:00+03:00", "limit": 4}
    assert _core(m["total.speakers"]) == {"value": 5, "at": "2026-03-05T10:10:00+03:00", "limit": 3}
    assert _core(m["total.events"]) == {"value": 2, "at": "2026-03-05T10:10:00+03:00", "limit": 2}
    # The time at and over the limit in force: 5 connections against 4 for five minutes.
    assert {k: m["total.connections"][k] for k in ("at_limit_seconds", "over_limit_seconds", "episodes")} == {
        "at_limit_seconds": 300.0,
        "over_limit_seconds": 300.0,
        "episodes": 1,
    }
    assert m["total.held"] == {"value": 3}
    assert _core(m["meetings.speakers"]) == {"value": 3, "at": "2026-03-05T10:05:00+03:00", "limit": 3}
    assert m["meetings.held"] == {"value": 1}
    assert m["webinars.speakers"]["value"] == 1
    assert m["webinars.participants"] == {"value": 2, "at": "2026-03-10T14:15:00+03:00"}
    assert m["webinars.events"]["value"] == 1
    assert m["calls.speakers"]["value"] == 2
    assert m["calls.calls"]["value"] == 1
    assert m["calls.held"] == {"value": 1}
    assert m["calls.messages"] == {"value": 3}
    assert m["storage.uploaded_bytes"] == {"value": 400_000}
    assert m["storage.total_bytes"] == {"value": 500_000, "at": None, "limit": 1_000_000}
    assert m["users.registered"] == {"value": 2}
    assert m["users.total"] == {"value": 3}


def test_summary_same_as_query_api(admin: Any, seeded: Any) -> None:
    """The API serialises exactly what the one query API (and so `report --format json`) says."""
    from datetime import date

    expected = seeded.query.summary("acme", date(2026, 3, 1), date(2026, 3, 31)).as_json()
    assert admin.get("/api/v1/summary", params=MARCH).json() == expected


def test_daily(admin: Any) -> None:
    r = admin.get("/api/v1/daily", params={"from": "2026-03-04", "to": "2026-03-06"})
    assert r.status_code == 200
    days = r.json()["days"]
    assert [d["date"] for d in days] == ["2026-03-04", "2026-03-05", "2026-03-06"]
    # A limited peak carries the day's limit and the time at and over it.
    assert days[0]["metrics"]["total.connections"] == {
        "value": 0,
        "at": None,
        "limit": 4,
        "at_limit_seconds": 0.0,
        "over_limit_seconds": 0.0,
        "episodes": 0,
        "over_episodes": 0,
    }
    assert days[1]["metrics"]["total.connections"] == {
        "value": 5,
        "at": "2026-03-05T10:10:00+03:00",
        "limit": 4,
        "at_limit_seconds": 300.0,
        "over_limit_seconds": 300.0,
        "episodes": 1,
        "over_episodes": 1,
    }
    assert days[1]["metrics"]["total.held"] == {"value": 2}
    assert days[1]["clients"] == {"android": 1, "desktop": 1, "ios": 1, "web": 1}


def test_events_table_sort_search_paging(admin: Any) -> None:
    r = admin.get("/api/v1/events", params={**MARCH, "sort": "title", "order": "asc"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total"] == 3
    assert [row["title"] for row in body["rows"]] == ["Вебинар о продукте", "Квартальный обзор", "Планёрка"]
    e1 = next(row for row in body["rows"] if row["id"] == "e1")
    assert e1["first_join"] == "2026-03-05T10:00:00+03:00"
    assert e1["last_leave"] == "2026-03-05T11:00:00+03:00"
    assert e1["participants"] == 3 and e1["peak"] == 3
    r = admin.get("/api/v1/events", params={**MARCH, "search": "вебинар"})
    assert [row["id"] for row in r.json()["rows"]] == ["e2"]
    # An event's type by its name in either language: no title says "встреча" or "meeting".
    for word in ("Встреча", "meeting"):
        r = admin.get("/api/v1/events", params={**MARCH, "search": word, "sort": "id", "order": "asc"})
        assert [row["id"] for row in r.json()["rows"]] == ["e1", "e3"], word
    r = admin.get("/api/v1/events", params={**MARCH, "sort": "title", "order": "asc", "limit": 1, "offset": 1})
    assert r.json()["rows"][0]["title"] == "Квартальный обзор"
    assert r.json()["total"] == 3


def test_planned_disk_devices(admin: Any) -> None:
    planned = admin.get("/api/v1/planned").json()
    assert [(r["organizer_id"], r["planned"], r["next_title"]) for r in planned["rows"]] == [
        ("u1", 1, "Квартальный обзор")
    ]
    assert planned["rows"][0]["next_start"] == "2026-04-01T10:00:00+03:00"
    disk = admin.get("/api/v1/disk").json()
    assert [(r["owner_id"], r["bytes"], r["files"]) for r in disk["rows"]] == [("u1", 300_000, 1), ("u2", 200_000, 1)]
    devices = admin.get("/api/v1/devices", params=MARCH).json()
    assert [(r["client"], r["device"], r["users"], r["logins"]) for r in devices["rows"]] == [
        ("ios", "iPhone 14", 1, 1),
        ("web", "Windows 10", 1, 2),
    ] or sorted((r["client"], r["users"], r["logins"]) for r in devices["rows"]) == [("ios", 1, 1), ("web", 1, 2)]


def test_bad_parameters_are_400_naming_the_parameter(admin: Any) -> None:
    cases = [
        ({"from": "2026-13-01", "to": "2026-03-31"}, "'from'"),
        ({"from": "2026-03-01"}, "'to'"),
        ({"to": "2026-03-01"}, "'from'"),
        ({"from": "2026-03-31", "to": "2026-03-01"}, "'from'"),
        ({**MARCH, "sort": "password"}, "'sort'"),
        ({**MARCH, "order": "sideways"}, "'order'"),
        ({**MARCH, "limit": "many"}, "'limit'"),
        ({**MARCH, "limit": "0"}, "'limit'"),
        ({**MARCH, "offset": "-1"}, "'offset'"),
    ]
    for params, name in cases:
        r = admin.get("/api/v1/events", params=params)
        assert r.status_code == 400, (params, r.text)
        assert name in r.json()["error"], (params, r.json())
    r = admin.get("/api/v1/summary", params={"from": "x", "to": "2026-01-01"})
    assert r.status_code == 400 and "'from'" in r.json()["error"]


def test_unauthenticated_api_is_401_json(client: Any) -> None:
    for path in (
        "/api/v1/summary",
        "/api/v1/daily",
        "/api/v1/events",
        "/api/v1/planned",
        "/api/v1/disk",
        "/api/v1/devices",
        "/api/v1/export.csv",
        "/api/v1/export.xlsx",
    ):
        r = client.get(path, params=MARCH)
        assert r.status_code == 401, path
        assert "error" in r.json()
    r = client.get("/api/v1/summary", params=MARCH, headers=bearer("vks_not-a-token"))
    assert r.status_code == 401


def test_unknown_api_path_is_404_json(client: Any) -> None:
    r = client.get("/api/v1/nothing")
    assert r.status_code == 404 and r.json() == {"error": "not found", "code": "not_found"}


@pytest.mark.parametrize(
    "params,code,ru,en",
    [
        (
            {"from": "2026-03-31", "to": "2026-03-01"},
            "range_reversed",
            "Начало периода (2026-03-31) позже его конца (2026-03-01).",
            "parameter 'from' (2026-03-31) is after parameter 'to' (2026-03-01)",
        ),
        (
            {"from": "2026-13-01", "to": "2026-03-31"},
            "date_invalid",
            "Параметр «from»: «2026-13-01» — не дата (нужно ГГГГ-ММ-ДД).",
            "parameter 'from': '2026-13-01' is not a date (YYYY-MM-DD)",
        ),
        (
            {"to": "2026-03-31"},
            "date_required",
            "Укажите дату в параметре «from» (ГГГГ-ММ-ДД).",
            "parameter 'from' is required (YYYY-MM-DD)",
        ),
        (
            {**MARCH, "sort": "password"},
            "bad_sort",
            "Параметр «sort»: по «password» сортировать "
            "нельзя; можно по: id, title, template, organizer_id, organizer_name, created_at, "
            "scheduled_start, first_join, last_leave, duration_s, participants, connections, peak, "
            "peak_at.",
            None,
        ),
        (
            {**MARCH, "order": "up"},
            "bad_order",
            "Параметр «order» должен быть «asc» или «desc».",
            "parameter 'order' must be 'asc' or 'desc'",
        ),
        (
            {**MARCH, "limit": "many"},
            "not_integer",
            "Параметр «limit»: «many» — не целое число.",
            "parameter 'limit': 'many' is not an integer",
        ),
        ({**MARCH, "offset": "-1"}, "out_of_bounds", "Параметр «offset» должен быть от 0 до 1000000000.", None),
        (
            {**MARCH, "company": "globex"},
            "unknown_company",
            "Компания «globex» не найдена.",
            "unknown company 'globex'",
        ),
    ],
)
def test_errors_have_a_code_and_speak_the_accepted_language(
    admin: Any, params: dict[str, str], code: str, ru: str, en: str | None
) -> None:
    r = admin.get("/api/v1/events", params=params, headers={"Accept-Language": "ru-RU,ru;q=0.9,en;q=0.8"})
    assert r.status_code in (400, 404) and r.json() == {"error": ru, "code": code}
    r = admin.get("/api/v1/events", params=params, headers={"Accept-Language": "de, en;q=0.5"})
    assert r.json()["code"] == code
    if en is not None:
        assert r.json()["error"] == en
    # Without the header the API speaks English, the language of its parameters.
    assert admin.get("/api/v1/events", params=params).json()["error"] == r.json()["error"]


def test_accept_language_ranking() -> None:
    from vkurse_stats.web.errors import accept_language

    assert accept_language("en;q=0.4, ru;q=0.8") == "ru"
    assert accept_language("ru-RU") == "ru"
    assert accept_language("fr, de;q=0.9") is None
    assert accept_language("ru;q=0, en") == "en"
    assert accept_language(None) is None


def test_table_page_past_the_end_is_the_last_page(admin: Any) -> None:
    r = admin.get("/api/v1/events", params={**MARCH, "limit": 2, "offset": 500})
    body = r.json()
    assert r.status_code == 200 and body["offset"] == 2 and len(body["rows"]) == 1
    assert body["total"] == 3


def test_operator_needs_company_parameter(operator: Any) -> None:
    r = operator.get("/api/v1/summary", params=MARCH)
    assert r.status_code == 400 and "'company'" in r.json()["error"]
    r = operator.get("/api/v1/summary", params={**MARCH, "company": "globex"})
    assert r.status_code == 200 and r.json()["company"]["id"] == "globex"
    r = operator.get("/api/v1/summary", params={**MARCH, "company": "nope"})
    assert r.status_code == 404


def test_read_token(client: Any, tokens: dict[str, str]) -> None:
    r = client.get("/api/v1/summary", params=MARCH, headers=bearer(tokens["acme_read"]))
    assert r.status_code == 200
    assert r.json()["metrics"]["total.connections"]["value"] == 5
    r = client.get("/api/v1/summary", params={**MARCH, "company": "globex"}, headers=bearer(tokens["platform_read"]))
    assert r.status_code == 200 and r.json()["company"]["id"] == "globex"


# --- ingest ---------------------------------------------------------------------------------
NEW_MSG = {"kind": "message", "id": "m-new", "company_id": "acme", "sent_at": "2026-03-11T10:00:00+03:00"}


def _jsonl(*records: dict[str, Any]) -> bytes:
    return b"".join(json.dumps(r, ensure_ascii=False).encode() + b"\n" for r in records)


def test_ingest_counts_and_errors(client: Any, tokens: dict[str, str]) -> None:
    body = _jsonl(NEW_MSG) + b'{"kind": "message", "id": "bad", "company_id": "acme"}\n'
    r = client.post(
        "/api/v1/ingest",
        content=body,
        headers={**bearer(tokens["acme_ingest"]), "Content-Type": "application/x-ndjson"},
    )
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["accepted"] == 1 and out["rejected"] == 1
    assert out["errors"][0]["line"] == 2 and out["errors"][0]["field"] == "sent_at"
    r = client.get("/api/v1/summary", params=MARCH, headers=bearer(tokens["acme_read"]))
    assert r.json()["metrics"]["calls.messages"]["value"] == 4


def test_ingest_resend_does_not_double_count(client: Any, tokens: dict[str, str]) -> None:
    for _ in range(2):
        r = client.post("/api/v1/ingest", content=_jsonl(*ACME), headers=bearer(tokens["acme_ingest"]))
        assert r.json()["rejected"] == 0
    r = client.get("/api/v1/summary", params=MARCH, headers=bearer(tokens["acme_read"]))
    assert r.json()["metrics"]["total.connections"]["value"] == 5
    assert r.json()["metrics"]["calls.messages"]["value"] == 3


def test_ingest_gzip(client: Any, tokens: dict[str, str]) -> None:
    r = client.post(
        "/api/v1/ingest",
        content=gzip.compress(_jsonl(NEW_MSG)),
        headers={**bearer(tokens["acme_ingest"]), "Content-Encoding": "gzip"},
    )
    assert r.status_code == 200 and r.json()["accepted"] == 1
    r = client.post(
        "/api/v1/ingest",
        content=b"not gzip at all",
        headers={**bearer(tokens["acme_ingest"]), "Content-Encoding": "gzip"},
    )
    assert r.status_code == 400 and "gzip" in r.json()["error"]


def test_ingest_size_limit_413(make_app: Any, tokens: dict[str, str]) -> None:
    from tests.web.conftest import TestClient

    with TestClient(make_app(max_ingest_bytes=1000)) as c:
        big = _jsonl(*[{**NEW_MSG, "id": f"m{i}"} for i in range(50)])
        assert len(big) > 1000
        r = c.post("/api/v1/ingest", content=big, headers=bearer(tokens["acme_ingest"]))
        assert r.status_code == 413 and "1000 bytes" in r.json()["error"]
        # A small gzip body that inflates past the limit is refused as well.
        r = c.post(
            "/api/v1/ingest",
            content=gzip.compress(big),
            headers={**bearer(tokens["acme_ingest"]), "Content-Encoding": "gzip"},
        )
        assert len(gzip.compress(big)) < 1000
        assert r.status_code == 413
        r = c.post("/api/v1/ingest", content=_jsonl(NEW_MSG), headers=bearer(tokens["acme_ingest"]))
        assert r.status_code == 200


def test_ingest_platform_token_creates_company(client: Any, tokens: dict[str, str], seeded: Any) -> None:
    rec = {**NEW_MSG, "company_id": "initech"}
    r = client.post("/api/v1/ingest", content=_jsonl(rec), headers=bearer(tokens["platform_ingest"]))
    assert r.json() == {"accepted": 1, "rejected": 0, "errors": []}
    assert seeded.meta.company("initech") is not None


# --- exports --------------------------------------------------------------------------------
def test_export_csv_download(admin: Any, accounts: Any) -> None:
    r = admin.get("/api/v1/export.csv", params={**MARCH, "lang": "en", "sep": ","})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    cd = r.headers["content-disposition"]
    assert cd.startswith("attachment; ")
    assert 'filename="vkurse-stats_acme_2026-03-01_2026-03-31.csv"' in cd
    assert "filename*=UTF-8''vkurse-stats_acme_2026-03-01_2026-03-31.csv" in cd
    assert r.content.startswith(b"\xef\xbb\xbf")
    text = r.content.decode("utf-8-sig").splitlines()
    assert len(text) == 1 + 31
    row5 = next(line for line in text if line.startswith("2026-03-05"))
    assert ",5," in row5
    entries, _ = accounts.audit_entries()
    assert any(e.action == "export.csv" and e.actor == "admin@acme.ru" and e.company_id == "acme" for e in entries)


def test_export_xlsx_download(admin: Any, accounts: Any) -> None:
    import io

    import openpyxl

    r = admin.get("/api/v1/export.xlsx", params=MARCH)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    assert "vkurse-stats_acme_2026-03-01_2026-03-31.xlsx" in r.headers["content-disposition"]
    wb = openpyxl.load_workbook(io.BytesIO(r.content))
    assert len(wb.sheetnames) >= 5
    wb.close()
    assert any(e.action == "export.xlsx" for e in accounts.audit_entries()[0])


def test_export_bad_params(admin: Any) -> None:
    assert admin.get("/api/v1/export.csv", params={**MARCH, "lang": "de"}).status_code == 400
    r = admin.get("/api/v1/export.csv", params={**MARCH, "sep": "|"})
    assert r.status_code == 400 and "'sep'" in r.json()["error"]


def test_content_disposition_non_ascii() -> None:
    from vkurse_stats.web.api import content_disposition

    cd = content_disposition("vkurse-stats_Акме_2026-03-01_2026-03-31.csv")
    assert 'filename="vkurse-stats______2026-03-01_2026-03-31.csv"' in cd
    assert "filename*=UTF-8''vkurse-stats_%D0%90%D0%BA%D0%BC%D0%B5_2026" in cd


def test_openapi_and_docs(client: Any) -> None:
    spec = client.get("/api/openapi.json").json()
    for path in (
        "/api/v1/ingest",
        "/api/v1/summary",
        "/api/v1/daily",
        "/api/v1/events",
        "/api/v1/planned",
        "/api/v1/disk",
        "/api/v1/devices",
        "/api/v1/export.csv",
        "/api/v1/export.xlsx",
    ):
        assert path in spec["paths"], path
    params = {p["name"] for p in spec["paths"]["/api/v1/summary"]["get"]["parameters"]}
    assert {"from", "to", "company"} <= params
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert {"bearer": []} in spec["paths"]["/api/v1/ingest"]["post"]["security"]
    docs = client.get("/api/docs")
    assert docs.status_code == 200 and "swagger-ui-bundle.js" in docs.text
    assert client.get("/static/vendor/swagger-ui/swagger-ui-bundle.js").status_code == 200
