"""SPEC §7, one test per guarantee: each fails when the protection is removed."""

from __future__ import annotations

import dataclasses
import re
import secrets
from typing import Any

import pytest

from tests.web.conftest import PASSWORD, TestClient, bearer, csrf_of, login
from vkurse_stats.config import Settings
from vkurse_stats.store import accounts as accounts_module
from vkurse_stats.web.app import create_app

MARCH = {"from": "2026-03-01", "to": "2026-03-31"}
READ_ENDPOINTS = (
    "/api/v1/summary",
    "/api/v1/daily",
    "/api/v1/events",
    "/api/v1/planned",
    "/api/v1/disk",
    "/api/v1/devices",
    "/api/v1/export.csv",
    "/api/v1/export.xlsx",
)


# --- passwords ------------------------------------------------------------------------------
def test_passwords_are_argon2id_hashes(accounts: Any, seeded: Any) -> None:
    stored = accounts.password_hash_of(seeded.meta.engine, "admin@acme.ru")
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored
    # The production parameters (not the cheap ones of the tests) are memory-hard argon2id.
    from argon2 import Type

    assert accounts_module._HASHER.type is Type.ID
    assert accounts_module._HASHER.memory_cost >= 19 * 1024


def test_tokens_and_sessions_are_stored_hashed(accounts: Any, seeded: Any, tokens: dict[str, str], admin: Any) -> None:
    import sqlalchemy as sa

    with seeded.meta.engine.connect() as conn:
        dump = " ".join(
            str(row)
            for table in ("api_tokens", "sessions", "accounts")
            for row in conn.execute(sa.text(f"SELECT * FROM {table}"))
        )
    for plain in tokens.values():
        assert plain not in dump
    assert admin.cookies.get("vks_session") not in dump


# --- throttling -----------------------------------------------------------------------------
def test_login_throttled_per_account_and_address_with_backoff(app: Any, clock: Any) -> None:
    attacker = TestClient(app, client=("203.0.113.7", 40000))
    for _ in range(accounts_module.FAILURES_BEFORE_BACKOFF):
        r = login(attacker, "admin@acme.ru", "wrong password")
        assert r.status_code == 401
        assert "Неверная электронная почта или пароль" in r.text
    # Even the right password is refused from this address while the backoff runs...
    r = login(attacker, "admin@acme.ru")
    assert r.status_code == 429 and "Слишком много неудачных попыток" in r.text
    # ...while the owner, from another address, is not locked out, nor another account here.
    owner = TestClient(app, client=("198.51.100.1", 5000))
    assert login(owner, "admin@acme.ru").status_code == 303
    assert login(TestClient(app, client=("203.0.113.7", 40001)), "admin@globex.ru").status_code == 303
    # The backoff doubles with every further failure: 60 s, then 120 s.
    clock.now += accounts_module.BACKOFF_BASE_S + 1
    assert login(attacker, "admin@acme.ru", "wrong again").status_code == 401
    clock.now += accounts_module.BACKOFF_BASE_S + 1
    assert login(attacker, "admin@acme.ru").status_code == 429
    clock.now += accounts_module.BACKOFF_BASE_S
    assert login(attacker, "admin@acme.ru").status_code == 303


def test_login_throttled_per_address(app: Any, clock: Any) -> None:
    attacker = TestClient(app, client=("203.0.113.7", 40000))
    for i in range(accounts_module.MAX_FAILURES_PER_ADDRESS):
        assert login(attacker, f"user{i}@acme.ru", "guess").status_code == 401
    assert login(attacker, "admin@acme.ru").status_code == 429
    # Someone else's address is not affected.
    neighbour = TestClient(app, client=("198.51.100.1", 40000))
    assert login(neighbour, "admin@acme.ru").status_code == 303
    clock.now += accounts_module.THROTTLE_WINDOW_S + 1
    assert login(attacker, "admin@acme.ru").status_code == 303


def test_a_success_does_not_reset_the_address_count(app: Any) -> None:
    """One good password must not reset a spray across many accounts."""
    sprayer = TestClient(app, client=("203.0.113.8", 40000))
    for i in range(accounts_module.MAX_FAILURES_PER_ADDRESS - 1):
        assert login(sprayer, f"user{i}@acme.ru", "guess").status_code == 401
    assert login(sprayer, "admin@acme.ru").status_code == 303
    sprayer.cookies.clear()
    assert login(sprayer, "someone@acme.ru", "guess").status_code == 401
    assert login(sprayer, "admin@globex.ru").status_code == 429


def test_current_password_check_is_throttled(signed_in: Any, app: Any) -> None:
    c = signed_in("admin@acme.ru")
    csrf = csrf_of(c.get("/password").text)
    change = {"csrf": csrf, "new": "a-new-password-1", "repeat": "a-new-password-1"}
    for _ in range(accounts_module.FAILURES_BEFORE_BACKOFF):
        r = c.post("/password", data={**change, "current": "a guess"})
        assert r.status_code == 400 and "Текущий пароль указан неверно" in r.text
    r = c.post("/password", data={**change, "current": PASSWORD})
    assert r.status_code == 429 and "Слишком много неудачных попыток" in r.text
    # The guesses were made from this address only: the owner signs in from another.
    assert login(TestClient(app, client=("198.51.100.1", 5000)), "admin@acme.ru").status_code == 303


# --- trusted proxies ------------------------------------------------------------------------
def _failed_login_address(c: TestClient, accounts: Any, **headers: str) -> str:
    """The address the audit log gives a failed sign-in (a new e-mail each time, so no
    throttle of an account or pair gets in the way)."""
    page = c.get("/login")
    c.post(
        "/login",
        data={"csrf": csrf_of(page.text), "email": f"{secrets.token_hex(4)}@acme.ru", "password": "guess"},
        headers=headers,
    )
    entries, _ = accounts.audit_entries(limit=1)
    assert entries[0].action == "login.failed"
    return str(entries[0].address)


def test_forwarded_for_only_counts_behind_trusted_proxy(make_app: Any) -> None:
    """Without a trusted proxy an attacker cannot dodge the address limit by inventing
    X-Forwarded-For values."""
    c = TestClient(make_app(trust_proxy=False))
    for i in range(accounts_module.MAX_FAILURES_PER_ADDRESS):
        page = c.get("/login")
        c.post(
            "/login",
            data={"csrf": csrf_of(page.text), "email": f"x{i}@acme.ru", "password": "guess"},
            headers={"X-Forwarded-For": f"10.0.0.{i}"},
        )
    assert login(c, "admin@acme.ru").status_code == 429


def test_client_is_the_rightmost_untrusted_forwarded_entry(make_app: Any, accounts: Any) -> None:
    spoof = {"X-Forwarded-For": "6.6.6.6, 203.0.113.9"}
    # One trusted hop (also what trust_proxy / --proxy-headers mean): the proxy appended the
    # client's address; whatever the client wrote before it does not count.
    for app in (make_app(trusted_proxies="1"), make_app(trust_proxy=True)):
        assert _failed_login_address(TestClient(app), accounts, **spoof) == "203.0.113.9"
    # Two hops: the nearer proxy's entry is skipped.
    two = TestClient(make_app(trusted_proxies="2"))
    assert (
        _failed_login_address(two, accounts, **{"X-Forwarded-For": "6.6.6.6, 203.0.113.9, 10.0.0.2"}) == "203.0.113.9"
    )
    # Networks: the peer must be in them, and so is every entry skipped from the right.
    nets = make_app(trusted_proxies="10.0.0.0/8, 192.168.1.7")
    behind = TestClient(nets, client=("10.0.0.5", 1234))
    assert (
        _failed_login_address(behind, accounts, **{"X-Forwarded-For": "6.6.6.6, 198.51.100.20, 192.168.1.7, 10.1.1.1"})
        == "198.51.100.20"
    )
    direct = TestClient(nets, client=("198.51.100.99", 1234))
    assert _failed_login_address(direct, accounts, **spoof) == "198.51.100.99"
    # No trusted proxy: the peer, whatever the header says.
    plain = TestClient(make_app(trust_proxy=False), client=("198.51.100.98", 1234))
    assert _failed_login_address(plain, accounts, **spoof) == "198.51.100.98"


def test_spoofed_forwarded_for_cannot_dodge_the_address_limit(make_app: Any) -> None:
    c = TestClient(make_app(trusted_proxies="1"))
    for i in range(accounts_module.MAX_FAILURES_PER_ADDRESS):
        page = c.get("/login")
        r = c.post(
            "/login",
            data={"csrf": csrf_of(page.text), "email": f"x{i}@acme.ru", "password": "guess"},
            headers={"X-Forwarded-For": f"10.0.0.{i}, 203.0.113.9"},
        )
        assert r.status_code == 401
    page = c.get("/login")
    r = c.post(
        "/login",
        data={"csrf": csrf_of(page.text), "email": "admin@acme.ru", "password": PASSWORD},
        headers={"X-Forwarded-For": "10.9.9.9, 203.0.113.9"},
        follow_redirects=False,
    )
    assert r.status_code == 429


def test_trusted_proxies_setting_is_parsed() -> None:
    from vkurse_stats.web.proxy import TrustedProxies

    assert not TrustedProxies.parse("").active and not TrustedProxies.parse("0").active
    assert TrustedProxies.parse("2").hops == 2
    nets = TrustedProxies.parse("10.0.0.0/8 ,192.168.1.7, fd00::/8")
    assert [str(n) for n in nets.networks] == ["10.0.0.0/8", "192.168.1.7/32", "fd00::/8"]
    with pytest.raises(ValueError, match="neither a hop count nor a network"):
        TrustedProxies.parse("proxy.example")


def test_trusted_proxies_from_the_environment(monkeypatch: Any, seeded: Any, accounts: Any) -> None:
    """The variables are read with the installation's settings (config.py), then the app
    trusts what they name."""

    def make_app() -> Any:
        settings = dataclasses.replace(seeded.settings, trusted_proxies=Settings().trusted_proxies)
        return create_app(dataclasses.replace(seeded, settings=settings), accounts=accounts)

    spoof = {"X-Forwarded-For": "6.6.6.6, 203.0.113.9"}
    monkeypatch.setenv("VKURSE_STATS_TRUSTED_PROXIES", "testclient/32, 10.0.0.0/8")
    with pytest.raises(ValueError):
        make_app()
    monkeypatch.setenv("VKURSE_STATS_TRUSTED_PROXIES", "10.0.0.0/8")
    c = TestClient(make_app(), client=("10.0.0.5", 1234))
    assert _failed_login_address(c, accounts, **spoof) == "203.0.113.9"
    monkeypatch.delenv("VKURSE_STATS_TRUSTED_PROXIES")
    monkeypatch.setenv("VKURSE_STATS_TRUST_PROXY", "1")  # the older form: one hop
    assert _failed_login_address(TestClient(make_app()), accounts, **spoof) == "203.0.113.9"


# --- cookies --------------------------------------------------------------------------------
def _session_cookie(response: Any) -> str:
    cookies = [v for k, v in response.headers.multi_items() if k == "set-cookie" and v.startswith("vks_session=")]
    assert cookies, response.headers
    return cookies[0]


def test_session_cookie_flags_over_http(client: TestClient) -> None:
    cookie = _session_cookie(login(client, "admin@acme.ru")).lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    assert "secure" not in cookie


def test_session_cookie_secure_over_https(app: Any) -> None:
    c = TestClient(app, base_url="https://stats.example")
    cookie = _session_cookie(login(c, "admin@acme.ru")).lower()
    assert "secure" in cookie and "httponly" in cookie


def _login_behind_proxy(c: TestClient) -> Any:
    """Sign in over plain HTTP while saying HTTPS: the client would not send back a Secure
    cookie over HTTP, so the anonymous CSRF cookie is passed by hand."""
    page = c.get("/login")
    anon = page.cookies.get("vks_anon")
    return c.post(
        "/login",
        data={"csrf": csrf_of(page.text), "email": "admin@acme.ru", "password": PASSWORD},
        headers={"Cookie": f"vks_anon={anon}"},
        follow_redirects=False,
    )


def test_session_cookie_secure_behind_trusted_proxy(make_app: Any) -> None:
    headers = {"X-Forwarded-Proto": "https"}
    trusted = TestClient(make_app(trust_proxy=True), headers=headers)
    assert "secure" in _session_cookie(_login_behind_proxy(trusted)).lower()
    untrusted = TestClient(make_app(trust_proxy=False), headers=headers)
    assert "secure" not in _session_cookie(_login_behind_proxy(untrusted)).lower()


def test_logout_ends_the_session(admin: TestClient) -> None:
    sid = admin.cookies.get("vks_session")
    page = admin.get("/dashboard")
    r = admin.post("/logout", data={"csrf": csrf_of(page.text)}, follow_redirects=False)
    assert r.status_code == 303
    stale = TestClient(admin.app, cookies={"vks_session": sid})
    assert stale.get("/dashboard", follow_redirects=False).status_code == 303
    assert stale.get("/api/v1/summary", params=MARCH).status_code == 401


def _signed_out(c: TestClient) -> bool:
    return (
        c.get("/dashboard", follow_redirects=False).headers.get("location", "").startswith("/login")
        and c.get("/api/v1/summary", params=MARCH).status_code == 401
    )


def test_password_change_ends_the_other_sessions(signed_in: Any, accounts: Any) -> None:
    laptop, phone = signed_in("admin@acme.ru"), signed_in("admin@acme.ru")
    other_account = signed_in("admin@globex.ru")
    csrf = csrf_of(laptop.get("/password").text)
    r = laptop.post(
        "/password",
        data={"csrf": csrf, "current": PASSWORD, "new": "a-new-password-1", "repeat": "a-new-password-1"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert _signed_out(phone)
    assert laptop.get("/dashboard", follow_redirects=False).status_code == 200
    assert not _signed_out(other_account)
    entry = next(e for e in accounts.audit_entries()[0] if e.action == "password.changed")
    assert entry.actor == "admin@acme.ru" and entry.detail == {"other_sessions_ended": 1}


def test_password_reset_ends_the_sessions(signed_in: Any, operator: TestClient, accounts: Any, seeded: Any) -> None:
    from click.testing import CliRunner

    from vkurse_stats.cli import cli

    acct = accounts.account_by_email("admin@acme.ru")
    by_support = signed_in("admin@acme.ru")
    csrf = csrf_of(operator.get("/support/accounts").text)
    assert operator.post(f"/support/accounts/{acct.id}/reset", data={"csrf": csrf}).status_code == 200
    assert _signed_out(by_support)
    assert not _signed_out(operator)

    accounts.set_password(acct.id, PASSWORD)
    by_cli = signed_in("admin@acme.ru")
    stores = ["--data-dir", str(seeded.settings.data_dir)]
    if seeded.settings.database_url:
        stores += ["--database-url", seeded.settings.database_url]
    result = CliRunner().invoke(cli, [*stores, "account", "reset", "admin@acme.ru"])
    assert result.exit_code == 0, result.output
    assert _signed_out(by_cli)


def test_sign_out_everywhere(signed_in: Any, accounts: Any) -> None:
    laptop, phone = signed_in("admin@acme.ru"), signed_in("admin@acme.ru")
    other_account = signed_in("admin@globex.ru")
    page = laptop.get("/password").text
    assert 'action="/logout/everywhere"' in page
    r = laptop.post("/logout/everywhere", data={"csrf": csrf_of(page)}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?bye=1"
    assert _signed_out(laptop) and _signed_out(phone)
    assert not _signed_out(other_account)
    entry = accounts.audit_entries(limit=1)[0][0]
    assert (entry.actor, entry.action, entry.company_id, entry.detail) == (
        "admin@acme.ru",
        "logout.everywhere",
        "acme",
        {"sessions": 2},
    )


# --- CSRF -----------------------------------------------------------------------------------
def test_login_form_needs_csrf(client: TestClient) -> None:
    client.get("/login")
    r = client.post("/login", data={"email": "admin@acme.ru", "password": PASSWORD})
    assert r.status_code == 403
    r = client.post("/login", data={"email": "admin@acme.ru", "password": PASSWORD, "csrf": "forged"})
    assert r.status_code == 403


@pytest.mark.parametrize(
    "path,data",
    [
        ("/support/companies", {"id": "evil", "name": "Evil"}),
        ("/support/accounts", {"email": "evil@evil.ru", "role": "operator"}),
        ("/support/tokens", {"scope": "ingest"}),
        ("/support/accounts/2/reset", {}),
        ("/support/accounts/2/disable", {}),
        ("/support/tokens/1/revoke", {}),
        ("/password", {"current": PASSWORD, "new": "x" * 12, "repeat": "x" * 12}),
        ("/logout", {}),
        ("/logout/everywhere", {}),
    ],
)
def test_every_form_needs_csrf(operator: TestClient, path: str, data: dict[str, str], accounts: Any) -> None:
    assert operator.post(path, data=data, follow_redirects=False).status_code == 403
    assert operator.post(path, data={**data, "csrf": "x" * 43}, follow_redirects=False).status_code == 403
    assert accounts.account_by_email("evil@evil.ru") is None
    assert not accounts.tokens()


def test_rendered_forms_carry_the_csrf_token(operator: TestClient) -> None:
    for path in (
        "/dashboard",
        "/support/companies",
        "/support/accounts",
        "/support/tokens",
        "/support/companies/acme",
        "/password",
    ):
        html = operator.get(path).text
        forms = re.findall(r"<form[^>]*method=\"post\"[^>]*>(.*?)</form>", html, re.S)
        assert forms, path
        for form in forms:
            assert 'name="csrf"' in form, (path, form[:200])


# --- headers --------------------------------------------------------------------------------
def test_security_headers_everywhere(admin: TestClient) -> None:
    for path in (
        "/login",
        "/dashboard",
        "/static/app.css",
        "/api/v1/summary?from=2026-03-01&to=2026-03-02",
        "/no-such-page",
        "/api/docs",
    ):
        r = admin.get(path)
        csp = r.headers.get("content-security-policy", "")
        assert "default-src 'self'" in csp and "script-src 'self'" in csp, path
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert "frame-ancestors 'none'" in csp
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "same-origin"


def test_hsts_only_over_https(app: Any) -> None:
    assert "strict-transport-security" not in TestClient(app).get("/login").headers
    secure = TestClient(app, base_url="https://stats.example").get("/login")
    assert secure.headers["strict-transport-security"] == "max-age=31536000"


def test_hsts_behind_a_trusted_proxy_that_says_https(make_app: Any) -> None:
    https = {"X-Forwarded-Proto": "https"}
    for app in (make_app(trusted_proxies="1"), make_app(trust_proxy=True), make_app(trusted_proxies="10.0.0.0/8")):
        r = TestClient(app, client=("10.0.0.5", 1234)).get("/login", headers=https)
        assert r.headers["strict-transport-security"] == "max-age=31536000"
        assert (
            "strict-transport-security"
            not in TestClient(app, client=("10.0.0.5", 1234))
            .get("/login", headers={"X-Forwarded-Proto": "http"})
            .headers
        )
    # The header of an untrusted peer does not count.
    for app, peer in (
        (make_app(trust_proxy=False), "10.0.0.5"),
        (make_app(trusted_proxies="10.0.0.0/8"), "198.51.100.1"),
    ):
        r = TestClient(app, client=(peer, 1234)).get("/login", headers=https)
        assert "strict-transport-security" not in r.headers


def test_api_answers_are_never_stored(client: TestClient, admin: TestClient, tokens: dict[str, str]) -> None:
    reader = bearer(tokens["acme_read"])
    answers = [client.get(path, params=MARCH, headers=reader) for path in READ_ENDPOINTS]
    answers += [
        admin.get("/api/v1/summary", params=MARCH),
        client.get("/api/v1/summary", params=MARCH),  # 401
        client.get("/api/v1/summary", params=MARCH, headers=bearer("vks_forged")),
        client.get("/api/v1/nope", headers=reader),  # 404
        client.get("/api/v1/daily", params={"from": "bad"}, headers=reader),  # 400
        client.post("/api/v1/ingest", content=_msg("cc", "acme"), headers=bearer(tokens["acme_ingest"])),
        client.get("/api/openapi.json"),
    ]
    for r in answers:
        assert r.headers.get("cache-control") == "no-store", (r.request.url, r.status_code)
    assert {r.status_code for r in answers} >= {200, 400, 401, 404}


def test_pages_have_no_inline_script_or_style(operator: TestClient, admin: TestClient) -> None:
    pages = [admin.get("/dashboard", params=MARCH).text, admin.get("/password").text]
    pages += [
        operator.get(p).text for p in ("/support/companies", "/support/accounts", "/support/tokens", "/support/audit")
    ]
    pages.append(TestClient(admin.app).get("/login").text)
    for html in pages:
        for tag in re.findall(r"<script\b[^>]*>", html):
            assert "src=" in tag or 'type="application/json"' in tag, tag
        assert not re.search(r"\sstyle=", html)
        assert "<style" not in html
        assert not re.search(r"\son[a-z]+=", html)


def test_chart_json_cannot_break_out_of_its_script(seeded: Any, admin: TestClient) -> None:
    from tests.conftest import lines

    seeded.ingest_lines(
        lines(
            {
                "kind": "login",
                "id": "evil",
                "company_id": "acme",
                "user_id": "u1",
                "at": "2026-03-06T10:00:00+03:00",
                "client": "web",
                "device": "</script><script>alert(1)</script>",
            }
        )
    )
    html = admin.get("/dashboard", params=MARCH).text
    assert "</script><script>alert(1)" not in html
    assert "\\u003c/script\\u003e" in html


# --- tenant isolation -----------------------------------------------------------------------
def test_admin_cannot_read_another_company_through_any_endpoint(admin: TestClient) -> None:
    for path in READ_ENDPOINTS:
        r = admin.get(path, params={**MARCH, "company": "globex"})
        assert r.status_code == 404, path
        assert "Globex" not in r.text and "Секрет" not in r.text
        # Their own company, named explicitly, is fine.
        assert admin.get(path, params={**MARCH, "company": "acme"}).status_code == 200, path


def test_each_admin_sees_only_their_company(signed_in: Any) -> None:
    for email, own, other in (("admin@acme.ru", "acme", "globex"), ("admin@globex.ru", "globex", "acme")):
        c = signed_in(email)
        assert c.get("/api/v1/summary", params=MARCH).json()["company"]["id"] == own
        assert c.get("/api/v1/events", params={**MARCH, "company": other}).status_code == 404
        assert c.get("/dashboard", params={**MARCH, "company": other}).status_code == 404


def test_admin_dashboard_ignores_nothing_and_leaks_nothing(admin: TestClient) -> None:
    r = admin.get("/dashboard", params={**MARCH, "company": "globex"})
    assert r.status_code == 404
    assert "Globex" not in r.text and "Секретное" not in r.text
    html = admin.get("/dashboard", params=MARCH).text
    assert "Секретное совещание" not in html and "Secret Device" not in html
    assert "globex" not in html.lower()


def test_admin_cannot_open_support_pages(admin: TestClient) -> None:
    for path in (
        "/support/companies",
        "/support/companies/globex",
        "/support/accounts",
        "/support/tokens",
        "/support/audit",
    ):
        assert admin.get(path).status_code == 403, path
    csrf = csrf_of(admin.get("/dashboard").text)
    for path, data in (
        ("/support/companies", {"id": "x", "name": "x"}),
        ("/support/companies/globex", {"name": "Hacked"}),
        ("/support/accounts", {"email": "me@evil.ru", "role": "operator"}),
        ("/support/tokens", {"scope": "read"}),
        ("/support/accounts/1/reset", {}),
        ("/support/tokens/1/revoke", {}),
    ):
        assert admin.post(path, data={**data, "csrf": csrf}).status_code == 403, path


def test_company_token_is_pinned(client: TestClient, tokens: dict[str, str]) -> None:
    for path in READ_ENDPOINTS:
        r = client.get(path, params={**MARCH, "company": "globex"}, headers=bearer(tokens["acme_read"]))
        assert r.status_code == 404, path
        r = client.get(path, params={**MARCH, "company": "acme"}, headers=bearer(tokens["globex_read"]))
        assert r.status_code == 404, path


# --- token scopes ---------------------------------------------------------------------------
def _msg(msg_id: str, company: str) -> bytes:
    return (
        f'{{"kind": "message", "id": "{msg_id}", "company_id": "{company}", "sent_at": "2026-03-05T10:00:00Z"}}\n'
    ).encode()


def test_ingest_token_cannot_read(client: TestClient, tokens: dict[str, str]) -> None:
    for name in ("acme_ingest", "platform_ingest"):
        for path in READ_ENDPOINTS:
            r = client.get(path, params={**MARCH, "company": "acme"}, headers=bearer(tokens[name]))
            assert r.status_code == 403, (name, path)


def test_read_token_and_session_cannot_ingest(client: TestClient, admin: TestClient, tokens: dict[str, str]) -> None:
    body = _msg("x", "acme")
    for name in ("acme_read", "platform_read"):
        assert client.post("/api/v1/ingest", content=body, headers=bearer(tokens[name])).status_code == 403
    assert admin.post("/api/v1/ingest", content=body).status_code == 401
    assert client.post("/api/v1/ingest", content=body).status_code == 401


def test_company_ingest_token_cannot_write_another_company(client: TestClient, tokens: dict[str, str]) -> None:
    body = _msg("x1", "globex") + b'{"kind": "company", "id": "newco", "name": "New"}\n' + _msg("x2", "acme")
    out = client.post("/api/v1/ingest", content=body, headers=bearer(tokens["acme_ingest"])).json()
    assert out["accepted"] == 1 and out["rejected"] == 2
    assert {e["line"] for e in out["errors"]} == {1, 2}
    r = client.get("/api/v1/summary", params={**MARCH, "company": "globex"}, headers=bearer(tokens["platform_read"]))
    assert r.json()["metrics"]["calls.messages"]["value"] == 0
    r = client.get("/api/v1/summary", params={**MARCH, "company": "newco"}, headers=bearer(tokens["platform_read"]))
    assert r.status_code == 404


def test_revoked_token_is_refused(client: TestClient, tokens: dict[str, str], accounts: Any) -> None:
    token = accounts.verify_token(tokens["acme_read"])
    assert client.get("/api/v1/summary", params=MARCH, headers=bearer(tokens["acme_read"])).status_code == 200
    accounts.revoke_token(token.id)
    assert client.get("/api/v1/summary", params=MARCH, headers=bearer(tokens["acme_read"])).status_code == 401


def test_disabled_account_loses_its_session(admin: TestClient, accounts: Any) -> None:
    acct = accounts.account_by_email("admin@acme.ru")
    accounts.set_disabled(acct.id)
    assert admin.get("/api/v1/summary", params=MARCH).status_code == 401
    assert login(TestClient(admin.app), "admin@acme.ru").status_code == 401


# --- audit ----------------------------------------------------------------------------------
def test_support_actions_and_exports_are_audited(operator: TestClient, admin: TestClient, accounts: Any) -> None:
    csrf = csrf_of(operator.get("/support/companies").text)
    operator.post(
        "/support/companies",
        data={
            "csrf": csrf,
            "id": "initech",
            "name": "Initech",
            "timezone": "Europe/Samara",
            "limit_concurrent_speakers": "10",
        },
    )
    operator.post(
        "/support/companies/initech",
        data={"csrf": csrf, "name": "Initech LLC", "timezone": "Europe/Samara", "limit_concurrent_speakers": "12"},
    )
    operator.post(
        "/support/accounts", data={"csrf": csrf, "email": "boss@initech.ru", "role": "admin", "company": "initech"}
    )
    new = accounts.account_by_email("boss@initech.ru")
    operator.post(f"/support/accounts/{new.id}/reset", data={"csrf": csrf})
    operator.post(f"/support/accounts/{new.id}/disable", data={"csrf": csrf})
    operator.post("/support/tokens", data={"csrf": csrf, "scope": "ingest", "company": "initech"})
    token = accounts.tokens()[-1]
    operator.post(f"/support/tokens/{token.id}/revoke", data={"csrf": csrf})
    operator.get("/api/v1/export.csv", params={**MARCH, "company": "initech"})
    admin.get("/api/v1/export.xlsx", params=MARCH)

    entries, _ = accounts.audit_entries(limit=100)
    seen = [(e.actor, e.action, e.company_id) for e in entries]
    for action in (
        "company.create",
        "company.update",
        "account.create",
        "account.reset",
        "account.disable",
        "token.create",
        "token.revoke",
        "export.csv",
    ):
        assert ("op@vkurse.ru", action, "initech") in seen, action
    assert ("admin@acme.ru", "export.xlsx", "acme") in seen
    update = next(e for e in entries if e.action == "company.update")
    assert update.detail["before"]["limits"]["concurrent_speakers"] == 10
    assert update.detail["after"]["limits"]["concurrent_speakers"] == 12
    assert all(e.address for e in entries)
    page = operator.get("/support/audit").text
    assert "company.create" in page and "export.xlsx" in page
