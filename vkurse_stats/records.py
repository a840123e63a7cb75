"""Input records (schema version 1): typed validation at the edge.

Every kind of SPEC section 3 is a msgspec ``Struct`` tagged by ``"kind"``. JSON lines are decoded
straight into them (fast path); CSV and Parquet rows are converted from dicts with the same types.
:func:`check` adds the rules a type cannot express (one of event_id/call_id, ordered timestamps).
A failure becomes a :class:`RecordError` naming the field and the reason; the caller adds the line.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta, Struct

from .timeutil import zone

Id = Annotated[str, Meta(min_length=1, max_length=256)] | int
# Epoch milliseconds of the years 1..9999, the range of an ISO 8601 timestamp.
EPOCH_MS_MIN, EPOCH_MS_MAX = -62_135_596_800_000, 253_402_300_799_999
Timestamp = Annotated[datetime, Meta(tz=True)] | Annotated[int, Meta(ge=EPOCH_MS_MIN, le=EPOCH_MS_MAX)]
Text = Annotated[str, Meta(max_length=2000)]
Bytes = Annotated[int, Meta(ge=0)]
Limit = Annotated[int, Meta(ge=0)]
ClientWord = Annotated[str, Meta(pattern=r"^[a-z][a-z0-9_\-]{0,31}$")]

Template = Literal["meeting", "conference", "selector", "lecture", "webinar"]
TEMPLATES: tuple[str, ...] = ("meeting", "conference", "selector", "lecture", "webinar")
MEETING_TEMPLATES = frozenset({"meeting", "conference", "selector", "lecture"})
# Connection "template" codes as stored: the five event templates, then calls.
TEMPLATE_CODE = {name: i for i, name in enumerate(TEMPLATES)}
CALL_TEMPLATE = len(TEMPLATES)
TRANSPORTS: tuple[str, ...] = ("webrtc", "webrtmp")
TRANSPORT_CODE = {name: i for i, name in enumerate(TRANSPORTS)}
DEFAULT_TIMEZONE = "Europe/Moscow"


class Limits(Struct, forbid_unknown_fields=True):
    concurrent_speakers: Limit | None = None
    concurrent_events: Limit | None = None
    concurrent_connections: Limit | None = None
    storage_bytes: Limit | None = None


class Company(Struct, tag_field="kind", tag="company"):
    id: Id
    name: Annotated[str, Meta(min_length=1, max_length=500)]
    timezone: str = DEFAULT_TIMEZONE
    limits: Limits | None = None


class User(Struct, tag_field="kind", tag="user"):
    id: Id
    company_id: Id
    registered_at: Timestamp
    name: Text | None = None
    email: Text | None = None
    department: Text | None = None
    deleted_at: Timestamp | None = None


class Event(Struct, tag_field="kind", tag="event"):
    id: Id
    company_id: Id
    template: Template
    title: Text
    organizer_id: Id
    created_at: Timestamp
    scheduled_start: Timestamp | None = None
    scheduled_end: Timestamp | None = None
    cancelled_at: Timestamp | None = None


class Call(Struct, tag_field="kind", tag="call"):
    id: Id
    company_id: Id
    started_at: Timestamp
    type: Literal["personal", "group"] | None = None
    initiator_id: Id | None = None
    ended_at: Timestamp | None = None


class Connection(Struct, tag_field="kind", tag="connection"):
    id: Id
    company_id: Id
    transport: Literal["webrtc", "webrtmp"]
    joined_at: Timestamp
    event_id: Id | None = None
    call_id: Id | None = None
    event_template: Template | None = None
    left_at: Timestamp | None = None
    user_id: Id | None = None
    role: Literal["moderator", "speaker", "participant"] | None = None
    client: ClientWord | None = None
    device: Text | None = None


class Login(Struct, tag_field="kind", tag="login"):
    id: Id
    company_id: Id
    user_id: Id
    at: Timestamp
    client: ClientWord | None = None
    device: Text | None = None


class Message(Struct, tag_field="kind", tag="message"):
    id: Id
    company_id: Id
    sent_at: Timestamp
    chat_id: Id | None = None
    sender_id: Id | None = None


class File(Struct, tag_field="kind", tag="file"):
    id: Id
    company_id: Id
    size_bytes: Bytes
    uploaded_at: Timestamp
    owner_id: Id | None = None
    name: Text | None = None
    deleted_at: Timestamp | None = None


Record = Company | User | Event | Call | Connection | Login | Message | File
KINDS: dict[str, type[Record]] = {
    "company": Company,
    "user": User,
    "event": Event,
    "call": Call,
    "connection": Connection,
    "login": Login,
    "message": Message,
    "file": File,
}
# Fields that hold identifiers: ints are accepted and stored as their decimal text.
ID_FIELDS = frozenset(
    {
        "id",
        "company_id",
        "event_id",
        "call_id",
        "user_id",
        "organizer_id",
        "owner_id",
        "sender_id",
        "chat_id",
        "initiator_id",
    }
)


class RecordError(Exception):
    """A record that cannot be stored: which field, and why."""

    def __init__(self, field: str | None, error: str) -> None:
        super().__init__(error)
        self.field = field
        self.error = error


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)
_JSON_DECODER = msgspec.json.Decoder(Record)
_AT_PATH = re.compile(r"^(?P<msg>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)


def _explain(exc: msgspec.ValidationError | msgspec.DecodeError) -> RecordError:
    """Turn a msgspec message such as "Expected `int`, got `str` - at `$.size_bytes`" into a
    field and a reason a person can act on."""
    text = str(exc)
    m = _AT_PATH.match(text)
    msg, path = (m.group("msg"), m.group("path")) if m else (text, None)
    field = path.lstrip(".").replace("[", ".").replace("]", "") if path else None
    missing = re.match(r"Object missing required field `([^`]+)`", msg)
    if missing:
        name = missing.group(1)
        full = f"{field}.{name}" if field else name
        return RecordError(full, f"required field {name!r} is missing")
    if "timezone" in msg and "datetime" in msg:
        return RecordError(field, "timestamp has no UTC offset (write e.g. 2026-03-05T10:02:00+03:00 or 'Z')")
    if field == "kind" and msg.startswith("Invalid value"):
        return RecordError(
            "kind", f"unknown kind {msg.removeprefix('Invalid value ')}; expected one of: " + ", ".join(KINDS)
        )
    if msg.startswith("Object contains unknown field"):
        return RecordError(field, msg.replace("Object contains unknown field", "unknown field"))
    enum = re.match(r"Invalid enum value (.*)", msg)
    if enum and field:
        allowed = _ENUM_VALUES.get(field.rsplit(".", 1)[-1])
        if allowed:
            return RecordError(field, f"invalid value {enum.group(1)}; expected one of: {', '.join(allowed)}")
    return RecordError(field, msg)


_ENUM_VALUES = {
    "template": TEMPLATES,
    "event_template": TEMPLATES,
    "transport": TRANSPORTS,
    "role": ("moderator", "speaker", "participant"),
    "type": ("personal", "group"),
}


def decode_json(line: bytes | str) -> Record:
    """Decode and validate one JSON line; raises :class:`RecordError`."""
    try:
        rec = _JSON_DECODER.decode(line)
    except msgspec.ValidationError as exc:
        raise _explain(exc) from None
    except msgspec.DecodeError as exc:
        raise RecordError(None, f"not valid JSON: {exc}") from None
    check(rec)
    return rec


def from_mapping(kind: str, row: dict[str, Any]) -> Record:
    """Validate one CSV/Parquet row (``kind`` given by the file); empty cells count as absent and
    dotted columns (``limits.storage_bytes``) become nested objects."""
    typ = KINDS.get(kind)
    if typ is None:
        raise RecordError("kind", f"unknown kind {kind!r}; expected one of: " + ", ".join(KINDS))
    obj: dict[str, Any] = {}
    for key, value in row.items():
        if value is None or value == "":
            continue
        if key == "kind":
            if value != kind:
                raise RecordError("kind", f"row says kind {value!r} but the file is --kind {kind}")
            continue
        if "." in key:
            outer, inner = key.split(".", 1)
            obj.setdefault(outer, {})[inner] = value
        else:
            obj[key] = value
    try:
        rec = msgspec.convert(obj, typ, strict=False)
    except msgspec.ValidationError as exc:
        raise _explain(exc) from None
    check(rec)
    return rec


def to_us(value: datetime | int | None) -> int | None:
    """A validated timestamp as epoch microseconds (ints are epoch milliseconds)."""
    if value is None:
        return None
    if isinstance(value, int):
        return value * 1000
    return (value - _EPOCH) // _ONE_US


def _after(a: datetime | int, b: datetime | int) -> bool:
    """a > b for two validated timestamps (aware datetimes compare directly, which is fast)."""
    if type(a) is type(b):
        return a > b  # type: ignore[operator]
    return to_us(a) > to_us(b)  # type: ignore[operator]


def _order(rec: Record, first: str, second: str) -> None:
    a, b = getattr(rec, first), getattr(rec, second)
    if a is not None and b is not None and _after(a, b):
        raise RecordError(second, f"{second} is before {first}")


def _check_connection(rec: Connection) -> None:
    if (rec.event_id is None) == (rec.call_id is None):
        raise RecordError("event_id", "exactly one of event_id and call_id is required")
    if rec.event_id is not None and rec.event_template is None:
        raise RecordError("event_template", "event_template is required with event_id")
    if rec.call_id is not None and rec.event_template is not None:
        raise RecordError("event_template", "event_template is only for event connections, not calls")
    if rec.left_at is not None and _after(rec.joined_at, rec.left_at):
        raise RecordError("left_at", "joined_at is after left_at")


def _check_company(rec: Company) -> None:
    try:
        zone(rec.timezone)
    except ValueError as exc:
        raise RecordError("timezone", str(exc)) from None


_CHECKS: dict[type, Any] = {
    Connection: _check_connection,
    Company: _check_company,
    User: lambda r: _order(r, "registered_at", "deleted_at"),
    Event: lambda r: _order(r, "scheduled_start", "scheduled_end"),
    Call: lambda r: _order(r, "started_at", "ended_at"),
    File: lambda r: _order(r, "uploaded_at", "deleted_at"),
}


def check(rec: Record) -> None:
    """Rules across fields; raises :class:`RecordError`."""
    rule = _CHECKS.get(type(rec))
    if rule is not None:
        rule(rec)
