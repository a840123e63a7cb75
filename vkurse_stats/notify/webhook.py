"""Webhooks: a JSON body POSTed to the company's URL, signed so the receiver can tell it came
from us and was not changed: ``X-VKurse-Signature: sha256=<hex HMAC-SHA256 of the body with the
company's webhook secret>``."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import httpx

from .mail import DeliveryError

SIGNATURE_HEADER = "X-VKurse-Signature"
WEBHOOK_TIMEOUT_S = 10.0


def body_of(event_type: str, data: dict[str, Any]) -> bytes:
    """The JSON body of a webhook: ``{"type": …, **data}`` in UTF-8."""
    return json.dumps({"type": event_type, **data}, ensure_ascii=False, separators=(",", ":")).encode()


def signature(body: bytes, secret: str) -> str:
    """The value of the signature header for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def valid_url(url: str) -> bool:
    return url.startswith(("https://", "http://")) and len(url) <= 2000 and not any(c.isspace() for c in url)


def post_webhook(url: str, body: bytes, secret: str, headers: dict[str, str] | None = None) -> None:
    """POST ``body`` signed with ``secret``; any answer but 2xx raises DeliveryError."""
    sent = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "vkurse-stats",
        SIGNATURE_HEADER: signature(body, secret),
        **(headers or {}),
    }
    try:
        # Redirects are not followed: the signed body goes to the URL the company set, nowhere else.
        response = httpx.post(url, content=body, headers=sent, timeout=WEBHOOK_TIMEOUT_S, follow_redirects=False)
    except httpx.HTTPError as exc:
        raise DeliveryError(f"POST {url}: {type(exc).__name__}: {exc}") from None
    if not 200 <= response.status_code < 300:
        raise DeliveryError(f"POST {url}: HTTP {response.status_code} {response.text[:200]}")
