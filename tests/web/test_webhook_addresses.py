"""The settings page refuses a webhook URL that leads into the server's own network (or does not
resolve), saying why, for administrators and support alike; the test button says so too, and a
delivery of such a URL fails in the outbox without reaching the receiver (a real local HTTP
server). Here the installation keeps the default: webhooks only to public addresses."""

from __future__ import annotations

import html
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.mail import HookSink
from tests.web.conftest import NOW, TestClient, csrf_of
from vkurse_stats.service import Services
from vkurse_stats.store.accounts import AccountStore

INTERNAL_RU = "Адрес ведёт во внутреннюю сеть ({}): вебхуки отправляются только на публичные адреса."


@pytest.fixture
def seeded(make_services: Callable[..., Services], seeded_template: Path, tmp_path: Path) -> Services:
    """The web fixtures' seeded services, webhooks only to public addresses."""
    data_dir = tmp_path / "seeded"
    shutil.copytree(seeded_template, data_dir)
    return make_services(now=NOW, data_dir=data_dir, webhook_allow_private=False)


def save(c: TestClient, url: str, page: str = "/settings", **extra: str) -> tuple[int, str]:
    """POST the webhook form; the status and the error the page shows (or the redirect)."""
    r = c.post(
        "/settings/webhook", data={"csrf": csrf_of(c.get(page).text), "url": url, **extra}, follow_redirects=False
    )
    if r.status_code == 303:
        return 303, r.headers["location"]
    text = r.text.split('id="settings-error">', 1)[1].split("</div>", 1)[0] if "settings-error" in r.text else ""
    return r.status_code, html.unescape(text)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://10.0.0.5/", "10.0.0.5"),
        ("http://169.254.169.254/latest", "169.254.169.254"),
        ("http://[::1]/", "::1"),
        ("https://[::ffff:192.168.0.1]:8443/hook", "::ffff:192.168.0.1"),
    ],
)
def test_a_private_address_is_refused_with_the_reason(
    admin: TestClient, seeded: Services, accounts: AccountStore, url: str, shown: str
) -> None:
    assert save(admin, url) == (400, INTERNAL_RU.format(shown))
    assert seeded.notifier.store.webhook("acme") is None
    assert accounts.audit_entries(action="webhook.")[1] == 0


def test_our_own_receiver_on_loopback_is_refused_and_never_called(
    admin: TestClient, seeded: Services, hook: HookSink
) -> None:
    assert save(admin, hook.url) == (400, INTERNAL_RU.format("127.0.0.1"))
    assert seeded.notifier.store.webhook("acme") is None
    assert hook.requests == []


def test_a_name_is_judged_by_what_it_resolves_to(admin: TestClient, seeded: Services) -> None:
    status, error = save(admin, "http://localhost/")
    assert status == 400
    assert error in (INTERNAL_RU.format("localhost → 127.0.0.1"), INTERNAL_RU.format("localhost → ::1"))
    assert save(admin, "https://hooks.nonexistent.invalid/x") == (
        400,
        "Имя hooks.nonexistent.invalid не найдено в DNS: проверьте адрес вебхука.",
    )
    assert seeded.notifier.store.webhook("acme") is None


def test_the_reason_in_english(admin: TestClient) -> None:
    admin.get("/settings?lang=en")  # the language cookie
    assert save(admin, "http://10.0.0.5/") == (
        400,
        "The URL leads into an internal network (10.0.0.5): webhooks are only sent to public addresses.",
    )
    assert save(admin, "http://224.0.0.1/") == (
        400,
        "The URL does not lead to a public address (224.0.0.1: a special-purpose range): "
        "webhooks are only sent to public addresses.",
    )


def test_support_cannot_set_one_either(operator: TestClient, seeded: Services) -> None:
    status, error = save(operator, "http://169.254.169.254/latest", "/settings?company=acme", company="acme")
    assert (status, error) == (400, INTERNAL_RU.format("169.254.169.254"))
    assert seeded.notifier.store.webhook("acme") is None


def test_a_webhook_saved_while_allowed_is_refused_by_the_test_button_and_at_delivery(
    admin: TestClient, operator: TestClient, seeded: Services, hook: HookSink
) -> None:
    notifier = seeded.notifier
    hook.secret = notifier.store.set_webhook("acme", hook.url, notifier.clock()).secret  # saved while allowed
    r = admin.post("/settings/webhook/test", data={"csrf": csrf_of(admin.get("/settings").text)})
    assert r.status_code == 400
    assert INTERNAL_RU.format("127.0.0.1") in html.unescape(r.text)
    assert notifier.store.deliveries()[1] == 0  # nothing queued
    # An alert queued for it fails at delivery; support sees why.
    assert notifier.queue_webhook("acme", "alert", {}) is not None
    assert notifier.deliver_due() == (0, 1)
    page = html.unescape(operator.get("/support/deliveries?lang=en").text)
    assert f"POST {hook.url}: not sent: The URL leads into an internal network (127.0.0.1)" in page
    assert hook.requests == []
