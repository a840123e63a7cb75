"""Where a webhook may go: only public addresses unless the installation allows private ones,
every address of a name checked, and the POST connecting to the very address that was checked
(the name kept in Host, SNI and certificate verification), against a real local HTTP(S) server.

Nothing here reaches the internet: public destinations are checked, not sent to."""

from __future__ import annotations

import ipaddress
import shutil
import socket
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.mail import HookSink
from vkurse_stats.config import Settings
from vkurse_stats.notify.mail import DeliveryError
from vkurse_stats.notify.webhook import (
    Destination,
    UnsafeDestination,
    check_destination,
    is_public,
    post_checked,
    post_webhook,
    signature,
)

INTERNAL = "The URL leads into an internal network ({}): webhooks are only sent to public addresses."
RESERVED = (
    "The URL does not lead to a public address ({}: a special-purpose range): "
    "webhooks are only sent to public addresses."
)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://127.0.0.1:8080/hook", INTERNAL.format("127.0.0.1")),
        ("http://10.0.0.5/", INTERNAL.format("10.0.0.5")),
        ("https://172.16.3.4/", INTERNAL.format("172.16.3.4")),
        ("https://192.168.1.1/", INTERNAL.format("192.168.1.1")),
        ("http://169.254.169.254/latest/meta-data", INTERNAL.format("169.254.169.254")),
        ("http://100.64.0.1/", INTERNAL.format("100.64.0.1")),
        ("http://0.0.0.0/", INTERNAL.format("0.0.0.0")),
        ("http://[::1]/", INTERNAL.format("::1")),
        ("http://[::]/", INTERNAL.format("::")),
        ("http://[fe80::1]/", INTERNAL.format("fe80::1")),
        ("http://[fd00:ec2::254]/", INTERNAL.format("fd00:ec2::254")),
        ("http://[fec0::1]/", INTERNAL.format("fec0::1")),
        ("http://[::ffff:127.0.0.1]/", INTERNAL.format("::ffff:127.0.0.1")),
        ("http://[::ffff:169.254.169.254]/", INTERNAL.format("::ffff:169.254.169.254")),
        ("http://[64:ff9b::a00:5]/", INTERNAL.format("64:ff9b::a00:5")),  # NAT64 of 10.0.0.5
        ("http://[2002:a00:5::1]/", INTERNAL.format("2002:a00:5::1")),  # 6to4 of 10.0.0.5
        ("http://224.0.0.1/", RESERVED.format("224.0.0.1")),
        ("http://[ff02::1]/", RESERVED.format("ff02::1")),
        ("http://240.0.0.1/", RESERVED.format("240.0.0.1")),
        ("http://255.255.255.255/", RESERVED.format("255.255.255.255")),
        ("http://192.0.2.10/", RESERVED.format("192.0.2.10")),  # documentation
        ("http://192.0.0.8/", RESERVED.format("192.0.0.8")),  # is_global says yes: it is not
        ("http://198.18.0.1/", RESERVED.format("198.18.0.1")),
        ("http://[2001:db8::1]/", RESERVED.format("2001:db8::1")),
        # Forms the resolver reads as IPv4 addresses are names: resolved, then checked.
        ("http://127.1/", INTERNAL.format("127.1 → 127.0.0.1")),
        ("http://2130706433/", INTERNAL.format("2130706433 → 127.0.0.1")),
        ("http://0/", INTERNAL.format("0 → 0.0.0.0")),
    ],
)
def test_a_non_public_address_is_refused_with_its_reason(url: str, message: str) -> None:
    with pytest.raises(UnsafeDestination) as refused:
        check_destination(url)
    assert str(refused.value) == message


@pytest.mark.parametrize(
    "url",
    ["https://93.184.216.34/hook", "http://8.8.8.8:8080/", "https://[2606:4700::1111]/", "http://[::ffff:8.8.8.8]/"],
)
def test_a_public_address_passes(url: str) -> None:
    destination = check_destination(url)
    assert destination.by_name is False
    assert [is_public(ip) for ip in destination.addresses] == [True]


def test_localhost_is_internal_whatever_it_resolves_to_first() -> None:
    with pytest.raises(UnsafeDestination) as refused:
        check_destination("http://localhost:8000/")
    assert refused.value.key == "settings.webhook_internal"
    assert refused.value.params["address"] in ("localhost → 127.0.0.1", "localhost → ::1")


def test_a_name_that_does_not_resolve_is_refused() -> None:
    with pytest.raises(UnsafeDestination) as refused:
        check_destination("https://hooks.nonexistent.invalid/x")
    assert str(refused.value) == "The name hooks.nonexistent.invalid does not resolve (DNS): check the webhook URL."


@pytest.mark.parametrize("url", ["ftp://example.org/", "http:///hook", "https://"])
def test_a_url_without_an_http_host_is_refused(url: str) -> None:
    with pytest.raises(UnsafeDestination) as refused:
        check_destination(url)
    assert refused.value.key == "settings.webhook_bad_url"


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """Names the system resolver answers with the addresses set here (others as usual)."""
    answers: dict[str, list[str]] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kw: Any) -> Any:
        if host not in answers:
            return real(host, *args, **kw)
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, 0)) for a in answers[host]
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


def test_every_address_of_a_name_must_be_public(dns: dict[str, list[str]]) -> None:
    dns["hooks.example.test"] = ["93.184.216.34", "2606:2800:220:1::1"]
    destination = check_destination("https://hooks.example.test/x")
    assert destination.by_name is True
    assert destination.addresses == (ipaddress.ip_address("93.184.216.34"), ipaddress.ip_address("2606:2800:220:1::1"))
    dns["hooks.example.test"] = ["93.184.216.34", "10.0.0.5"]
    with pytest.raises(UnsafeDestination) as refused:
        check_destination("https://hooks.example.test/x")
    assert str(refused.value) == INTERNAL.format("hooks.example.test → 10.0.0.5")


def test_delivery_refuses_what_is_not_public_and_nothing_is_sent(hook: HookSink, dns: dict[str, list[str]]) -> None:
    with pytest.raises(DeliveryError) as refused:
        post_webhook(hook.url, b"{}", "secret")
    assert str(refused.value) == f"POST {hook.url}: not sent: " + INTERNAL.format("127.0.0.1")
    # A name saved while it resolved to a public address, resolving to us now (DNS rebinding).
    dns["hooks.example.test"] = ["127.0.0.1"]
    url = hook.url.replace("127.0.0.1", "hooks.example.test")
    with pytest.raises(DeliveryError, match="not sent: The URL leads into an internal network"):
        post_webhook(url, b"{}", "secret")
    assert hook.requests == []
    # Where private addresses are allowed, the same webhook goes out.
    hook.secret = "secret"
    post_webhook(hook.url, b"{}", "secret", allow_private=True)
    assert [valid for _, _, valid in hook.requests] == [True]


def test_the_post_goes_to_the_checked_address_under_the_urls_name(hook: HookSink) -> None:
    """The name is not resolved again: ``hooks.example.test`` has no address in DNS, yet the
    request reaches the address that was checked, with the name in Host."""
    hook.secret = "secret"
    port = httpx.URL(hook.url).port
    destination = Destination(
        httpx.URL(f"http://hooks.example.test:{port}/hook"), (ipaddress.ip_address("127.0.0.1"),), by_name=True
    )
    response = post_checked(destination, b'{"type":"test"}', {"X-VKurse-Signature": _signed(b'{"type":"test"}')})
    assert response.status_code == 204
    [(headers, body, valid)] = hook.requests
    assert valid and body == b'{"type":"test"}'
    assert headers["Host"] == f"hooks.example.test:{port}"


def test_the_next_checked_address_is_tried_when_one_refuses_connections(hook: HookSink) -> None:
    hook.secret = "secret"
    port = httpx.URL(hook.url).port
    # The receiver listens on 127.0.0.1 only: ::1 refuses the connection (or has no IPv6 at all).
    destination = Destination(
        httpx.URL(f"http://hooks.example.test:{port}/hook"),
        (ipaddress.ip_address("::1"), ipaddress.ip_address("127.0.0.1")),
        by_name=True,
    )
    assert post_checked(destination, b"{}", {"X-VKurse-Signature": _signed(b"{}")}).status_code == 204
    assert len(hook.requests) == 1


@pytest.fixture
def tls_hook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HookSink]:
    """An HTTPS receiver on 127.0.0.1 with a certificate for ``hooks.example.test`` only, which
    the client trusts (SSL_CERT_FILE)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-keyout", str(key)]
        + ["-out", str(cert), "-subj", "/CN=hooks.example.test", "-addext", "subjectAltName=DNS:hooks.example.test"],
        check=True,
        capture_output=True,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    sink = HookSink(tls=context)
    yield sink
    sink.close()


def test_tls_names_and_verifies_the_urls_host_on_the_checked_address(tls_hook: HookSink) -> None:
    tls_hook.secret = "secret"
    port = httpx.URL(tls_hook.url).port
    loopback = (ipaddress.ip_address("127.0.0.1"),)
    destination = Destination(httpx.URL(f"https://hooks.example.test:{port}/hook"), loopback, by_name=True)
    assert post_checked(destination, b"{}", {"X-VKurse-Signature": _signed(b"{}")}).status_code == 204
    assert tls_hook.sni == ["hooks.example.test"]
    assert tls_hook.requests[0][0]["Host"] == f"hooks.example.test:{port}"
    # The certificate is checked against the URL's name, not the address connected to.
    other = Destination(httpx.URL(f"https://other.example.test:{port}/hook"), loopback, by_name=True)
    with pytest.raises(httpx.ConnectError, match="certificate is not valid for 'other.example.test'"):
        post_checked(other, b"{}", {})
    assert len(tls_hook.requests) == 1


def test_private_addresses_are_allowed_by_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VKURSE_STATS_WEBHOOK_ALLOW_PRIVATE", raising=False)
    assert Settings().webhook_allow_private is False
    monkeypatch.setenv("VKURSE_STATS_WEBHOOK_ALLOW_PRIVATE", "1")
    assert Settings().webhook_allow_private is True


def _signed(body: bytes) -> str:
    return signature(body, "secret")
