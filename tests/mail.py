"""A real local SMTP server (aiosmtpd) and a real local HTTP server that checks webhook
signatures, for the tests of notifications, alerts and the live view (fixtures ``smtp`` and
``hook`` in conftest.py)."""

from __future__ import annotations

import hashlib
import hmac
import io
import socket
import ssl
import threading
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import openpyxl
from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class SmtpSink:
    """A real SMTP server on localhost that keeps every message it accepts."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.received = threading.Event()
        self._controller: Controller | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.original_content)))
        self.received.set()
        return "250 OK"

    def start(self) -> SmtpSink:
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def parsed(self, i: int = -1) -> EmailMessage:
        message = message_from_bytes(self.messages[i][2], policy=policy.default)
        assert isinstance(message, EmailMessage)
        return message


class HookSink:
    """A real HTTP server on localhost that records webhook requests, checks their signature
    with ``secret`` and answers the statuses of ``answers`` in turn (then 204). With ``tls`` it
    speaks HTTPS and records the name each client asked for in SNI (``sni``)."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.secret = ""
        self.answers: list[int] = []
        self.requests: list[tuple[dict[str, str], bytes, bool]] = []
        self.sni: list[str | None] = []
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                expected = "sha256=" + hmac.new(sink.secret.encode(), body, hashlib.sha256).hexdigest()
                valid = hmac.compare_digest(self.headers.get("X-VKurse-Signature", ""), expected)
                sink.requests.append((dict(self.headers.items()), body, valid))
                status = sink.answers.pop(0) if sink.answers else (204 if valid else 401)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        if tls is not None:
            tls.sni_callback = lambda _socket, name, _context: self.sni.append(name)
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
            self.url = "https" + self.url.removeprefix("http")
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join()


def attachment_of(message: EmailMessage) -> tuple[str, bytes]:
    parts = list(message.iter_attachments())
    assert len(parts) == 1
    payload = parts[0].get_payload(decode=True)
    assert isinstance(payload, bytes)
    return str(parts[0].get_filename()), payload


def cells(xlsx: bytes) -> dict[str, list[tuple[Any, ...]]]:
    """Every sheet's cell values (the file's creation time aside, what a reader sees)."""
    wb = openpyxl.load_workbook(io.BytesIO(xlsx))
    return {ws.title: [tuple(row) for row in ws.iter_rows(values_only=True)] for ws in wb.worksheets}
