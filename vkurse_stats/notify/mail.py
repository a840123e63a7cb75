"""E-mail over SMTP (the standard library's ``smtplib`` and ``email``): building a message and
sending the stored bytes of one through the installation's relay."""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from ..config import Settings

SMTP_TIMEOUT_S = 30.0
_UNFOLDED = policy.SMTP.clone(max_line_length=998)


class DeliveryError(Exception):
    """A message could not be handed over; the text says why (it is shown to support)."""


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes
    maintype: str
    subtype: str


def build_message(
    *, sender: str, to: str, subject: str, body: str, sent_at: datetime, attachments: Sequence[Attachment] = ()
) -> bytes:
    """An RFC 5322 message (UTF-8 text body, attachments as MIME parts), as the bytes to send."""
    msg = EmailMessage(policy=policy.SMTP)
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(sent_at)
    msg["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or "localhost")
    msg.set_content(body, subtype="plain", charset="utf-8", cte="quoted-printable")
    for item in attachments:
        msg.add_attachment(item.content, maintype=item.maintype, subtype=item.subtype, filename=item.filename)
    # CRLF line ends (smtplib leaves those of bytes as they are). Headers are folded only past
    # RFC 5322's hard limit: the standard library's folding of encoded words can drop a space.
    return msg.as_bytes(policy=_UNFOLDED)


def smtp_port(settings: Settings) -> int:
    """The port of the relay: the one set, else 465 for SSL, 587 for STARTTLS, 25 for neither."""
    if settings.smtp_port:
        return settings.smtp_port
    return 465 if settings.smtp_ssl else 587 if settings.smtp_starttls else 25


def send_email(settings: Settings, recipient: str, message: bytes) -> None:
    """Hand ``message`` to the SMTP relay for ``recipient``; raises DeliveryError."""
    if not settings.smtp_host:
        raise DeliveryError("no mail server is set (VKURSE_STATS_SMTP_HOST)")
    context = ssl.create_default_context()
    try:
        smtp: smtplib.SMTP
        if settings.smtp_ssl:
            smtp = smtplib.SMTP_SSL(settings.smtp_host, smtp_port(settings), timeout=SMTP_TIMEOUT_S, context=context)
        else:
            smtp = smtplib.SMTP(settings.smtp_host, smtp_port(settings), timeout=SMTP_TIMEOUT_S)
        with smtp:
            if settings.smtp_starttls and not settings.smtp_ssl:
                smtp.starttls(context=context)
            if settings.smtp_user:
                smtp.login(settings.smtp_user, settings.smtp_password or "")
            refused = smtp.sendmail(settings.smtp_from, [recipient], message)
    except smtplib.SMTPException as exc:
        raise DeliveryError(f"SMTP {settings.smtp_host}:{smtp_port(settings)}: {_smtp_text(exc)}") from None
    except OSError as exc:
        raise DeliveryError(f"SMTP {settings.smtp_host}:{smtp_port(settings)}: {exc}") from None
    if refused:
        raise DeliveryError(f"the mail server refused {recipient}: {refused[recipient]!r}")


def _smtp_text(exc: smtplib.SMTPException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        error = exc.smtp_error
        message = error.decode("utf-8", "replace") if isinstance(error, bytes) else str(error)
        return f"{exc.smtp_code} {message}"
    return str(exc) or type(exc).__name__
