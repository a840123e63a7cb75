"""Webhooks: a JSON body POSTed to the company's URL, signed so the receiver can tell it came
from us and was not changed: ``X-VKurse-Signature: sha256=<hex HMAC-SHA256 of the body with the
company's webhook secret>``.

A company administrator chooses the URL and our server sends the requests, so unless the
installation allows private addresses (``VKURSE_STATS_WEBHOOK_ALLOW_PRIVATE``, for receivers
inside an on-premises network) a webhook goes only to public addresses: an IP literal must be
public, and a name must resolve, every address of it public. That is checked when the URL is
saved and again right before each POST (DNS changes after saving), and the POST then connects to
the very address that was checked, the URL's name kept in the Host header and in TLS (SNI and
certificate verification): a name re-resolved to an internal address between the check and the
connection (DNS rebinding) cannot reach it.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import socket
from dataclasses import dataclass
from typing import Any

import httpx

from .mail import DeliveryError
from .texts import MESSAGES

SIGNATURE_HEADER = "X-VKurse-Signature"
WEBHOOK_TIMEOUT_S = 10.0

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# The host's own and private networks: a refusal of one of these says "internal network"; any
# other address that is not public is "special-purpose" (multicast, documentation, reserved...).
_INTERNAL = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "::/128",
        "::1/128",
        "fc00::/7",
        "fe80::/10",
        "fec0::/10",
    )
)
# Not public though ipaddress.is_global says so (Python 3.11): IETF protocol assignments
# (192.0.0.8 and others) and the deprecated IPv6 site-local range.
_NOT_GLOBAL = (ipaddress.ip_network("192.0.0.0/24"), ipaddress.ip_network("fec0::/10"))
# NAT64's well-known prefix: 64:ff9b::a.b.c.d leads to a.b.c.d through the network's NAT64.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class UnsafeDestination(Exception):
    """A webhook URL the server must not send to. ``key`` and ``params`` name the reason in the
    message catalogue (``notify/texts.py``) for the pages; the exception's text is its English."""

    def __init__(self, key: str, **params: str) -> None:
        super().__init__(MESSAGES[key][1].format(**params))
        self.key = key
        self.params = params


@dataclass(frozen=True)
class Destination:
    """A checked webhook URL and the addresses its host stands for (every one of them public)."""

    url: httpx.URL
    addresses: tuple[IPAddress, ...]
    by_name: bool  # the host is a name (resolved), not an IP literal


def body_of(event_type: str, data: dict[str, Any]) -> bytes:
    """The JSON body of a webhook: ``{"type": …, **data}`` in UTF-8."""
    return json.dumps({"type": event_type, **data}, ensure_ascii=False, separators=(",", ":")).encode()


def signature(body: bytes, secret: str) -> str:
    """The value of the signature header for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def valid_url(url: str) -> bool:
    return url.startswith(("https://", "http://")) and len(url) <= 2000 and not any(c.isspace() for c in url)


def carried_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one leads to: IPv4-mapped ``::ffff:a.b.c.d``, NAT64
    ``64:ff9b::a.b.c.d``, 6to4 ``2002:AABB:CCDD::``."""
    if isinstance(ip, ipaddress.IPv4Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFF_FFFF)
    return ip.sixtofour


def is_public(ip: IPAddress) -> bool:
    """Whether ``ip`` is a public unicast address, and so is the IPv4 address it carries."""
    inner = carried_ipv4(ip)
    if inner is not None and not is_public(inner):
        return False
    if isinstance(ip, ipaddress.IPv6Address) and (ip.ipv4_mapped is not None or ip in _NAT64):
        return True  # in ::/8 (reserved) itself: the IPv4 address decides
    return ip.is_global and not ip.is_multicast and not ip.is_reserved and not any(ip in n for n in _NOT_GLOBAL)


def _refusal(ip: IPAddress, name: str | None) -> UnsafeDestination:
    inner = carried_ipv4(ip)
    internal = any((inner or ip) in n for n in _INTERNAL)
    shown = f"::ffff:{inner}" if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped else str(ip)
    return UnsafeDestination(
        "settings.webhook_internal" if internal else "settings.webhook_reserved",
        address=f"{name} → {shown}" if name else shown,
    )


def check_destination(url: str) -> Destination:
    """Parse ``url`` and resolve its host; raises UnsafeDestination unless it is http(s) and
    every address it stands for is public (:func:`is_public`). Blocking (DNS)."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        raise UnsafeDestination("settings.webhook_bad_url") from None
    if parsed.scheme not in ("http", "https") or not parsed.raw_host:
        raise UnsafeDestination("settings.webhook_bad_url")
    host = parsed.raw_host.decode("ascii")
    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    addresses = (literal,) if literal is not None else _resolve(host, parsed.host)
    for ip in addresses:
        if not is_public(ip):
            raise _refusal(ip, None if literal is not None else parsed.host)
    return Destination(parsed, addresses, by_name=literal is None)


def _resolve(host: str, shown: str) -> tuple[IPAddress, ...]:
    """Every address ``host`` resolves to, in the resolver's order."""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):  # socket.gaierror is an OSError
        raise UnsafeDestination("settings.webhook_unresolved", host=shown) from None
    found = dict.fromkeys(
        ipaddress.ip_address(info[4][0])
        for info in infos
        if info[0] in (socket.AF_INET, socket.AF_INET6) and isinstance(info[4][0], str)
    )
    if not found:
        raise UnsafeDestination("settings.webhook_unresolved", host=shown)
    return tuple(found)


def post_webhook(
    url: str, body: bytes, secret: str, headers: dict[str, str] | None = None, *, allow_private: bool = False
) -> None:
    """POST ``body`` signed with ``secret``; any answer but 2xx raises DeliveryError, and so
    does a URL that is not public (:func:`check_destination`) unless ``allow_private``."""
    sent = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "vkurse-stats",
        SIGNATURE_HEADER: signature(body, secret),
        **(headers or {}),
    }
    try:
        if allow_private:
            # Redirects are not followed: the signed body goes to the URL the company set, nowhere else.
            response = httpx.post(url, content=body, headers=sent, timeout=WEBHOOK_TIMEOUT_S, follow_redirects=False)
        else:
            response = post_checked(check_destination(url), body, sent)
    except UnsafeDestination as exc:
        raise DeliveryError(f"POST {url}: not sent: {exc}") from None
    except httpx.HTTPError as exc:
        raise DeliveryError(f"POST {url}: {type(exc).__name__}: {exc}") from None
    if not 200 <= response.status_code < 300:
        raise DeliveryError(f"POST {url}: HTTP {response.status_code} {response.text[:200]}")


def post_checked(destination: Destination, body: bytes, headers: dict[str, str]) -> httpx.Response:
    """POST to the checked addresses of ``destination``, the next one only when connecting to
    one fails (as a connection to the name would), never following a redirect.

    The transport is given explicitly, so HTTP(S)_PROXY is not used: a proxy would resolve the
    name again itself (and through a tunnel httpcore verifies TLS against the address)."""
    url = destination.url
    extensions: dict[str, Any] = {}
    if destination.by_name:
        headers = {**headers, "Host": url.netloc.decode("ascii")}
        if url.scheme == "https":
            extensions["sni_hostname"] = url.raw_host.decode("ascii")  # also the name the certificate must hold
    with httpx.Client(transport=httpx.HTTPTransport(), timeout=WEBHOOK_TIMEOUT_S, follow_redirects=False) as client:
        for i, address in enumerate(destination.addresses):
            target = url.copy_with(host=str(address)) if destination.by_name else url
            try:
                return client.post(target, content=body, headers=headers, extensions=extensions)
            except httpx.ConnectError:
                if i == len(destination.addresses) - 1:
                    raise
    raise AssertionError("a destination has at least one address")
