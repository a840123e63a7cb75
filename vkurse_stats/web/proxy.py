"""Trusted reverse proxies: which ``X-Forwarded-For`` entries and which ``X-Forwarded-Proto`` count.

Every client can send these headers, so they only mean something when a proxy we trust set them.
``VKURSE_STATS_TRUSTED_PROXIES`` (``serve --trusted-proxies``) says which: a hop count (``1``: the
peer that connects to us is a proxy, and so are the nearest ``N - 1`` entries of
X-Forwarded-For) or a list of networks (``10.0.0.0/8, 192.168.1.7``: any peer or entry in them is
a proxy). The client is then the right-most X-Forwarded-For entry that is not a trusted proxy;
entries left of it were written by the client and are ignored. The older
``VKURSE_STATS_TRUST_PROXY=1`` (``serve --proxy-headers``) means one trusted hop.

:class:`ProxyHeaders` applies this once per request, rewriting the ASGI scope's ``client`` and
``scheme`` in place (as uvicorn's own proxy middleware does), so the throttle, the audit log,
secure cookies, HSTS and uvicorn's access log all see the same client and scheme.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
MAX_ADDRESS_LENGTH = 64


def _ip(entry: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address of an X-Forwarded-For entry (``1.2.3.4``, ``1.2.3.4:80``, ``[::1]:80``)."""
    entry = entry.strip()
    if entry.startswith("[") and "]" in entry:
        entry = entry[1 : entry.index("]")]
    elif entry.count(":") == 1:
        entry = entry.split(":", 1)[0]
    try:
        return ipaddress.ip_address(entry)
    except ValueError:
        return None


@dataclass(frozen=True)
class TrustedProxies:
    """Which proxies in front of the app are trusted: ``hops`` of them, or those in ``networks``."""

    hops: int = 0
    networks: tuple[Network, ...] = ()

    @classmethod
    def parse(cls, value: str | None) -> TrustedProxies:
        """``""``/``0`` = none, a number = that many hops, else networks separated by commas or
        spaces (a plain address is a /32 or /128). ValueError names what is wrong."""
        text = (value or "").strip()
        if not text:
            return cls()
        if text.isdigit():
            return cls(hops=int(text))
        networks = []
        for part in text.replace(",", " ").split():
            try:
                networks.append(ipaddress.ip_network(part, strict=False))
            except ValueError:
                raise ValueError(
                    f"trusted proxies: {part!r} is neither a hop count nor a network "
                    "(e.g. 1, or 10.0.0.0/8,192.168.1.7)"
                ) from None
        return cls(networks=tuple(networks))

    @property
    def active(self) -> bool:
        return self.hops > 0 or bool(self.networks)

    def _in_networks(self, entry: str) -> bool:
        ip = _ip(entry)
        return ip is not None and any(ip in net for net in self.networks)

    def trusts_peer(self, peer: str) -> bool:
        """Whether the peer that connected to us is a trusted proxy (its headers count)."""
        return self.hops > 0 or self._in_networks(peer)

    def client(self, peer: str, forwarded_for: list[str]) -> str:
        """The client's address given the peer and the X-Forwarded-For entries, left to right."""
        if not self.trusts_peer(peer) or not forwarded_for:
            return peer
        if self.hops:
            # The peer is hop 1; each further trusted hop appended one entry on the right.
            found = forwarded_for[-self.hops] if len(forwarded_for) >= self.hops else forwarded_for[0]
        else:
            found = next((e for e in reversed(forwarded_for) if not self._in_networks(e)), forwarded_for[0])
        ip = _ip(found)
        return str(ip) if ip is not None else found.strip()[:MAX_ADDRESS_LENGTH]

    def scheme(self, peer: str, forwarded_proto: str | None, scheme: str) -> str:
        """``https`` or ``http``: what a trusted proxy says (its nearest value), else ``scheme``."""
        if not forwarded_proto or not self.trusts_peer(peer):
            return scheme
        said = forwarded_proto.split(",")[-1].strip().lower()
        return said if said in ("http", "https") else scheme


class ProxyHeaders:
    """Sets the scope's client and scheme from the headers of trusted proxies only."""

    def __init__(self, app: ASGIApp, trusted: TrustedProxies) -> None:
        self.app = app
        self.trusted = trusted

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.trusted.active:
            _rewrite(scope, self.trusted)
        await self.app(scope, receive, send)


def _rewrite(scope: Scope, trusted: TrustedProxies) -> None:
    client = scope.get("client")
    peer = client[0] if client else ""
    forwarded_for: list[str] = []
    proto = None
    for name, value in scope.get("headers", ()):
        if name == b"x-forwarded-for":
            forwarded_for += [e for e in value.decode("latin-1").split(",") if e.strip()]
        elif name == b"x-forwarded-proto":
            proto = value.decode("latin-1")
    address = trusted.client(peer, forwarded_for)
    if address != peer:
        scope["client"] = (address, 0)
    scope["scheme"] = trusted.scheme(peer, proto, scope.get("scheme", "http"))
