"""Input records (schema version 1): typed validation at the edge.

Every kind of SPEC section 3 is a msgspec ``Struct`` tagged by ``"kind"``. JSON lines are decoded
straight into them (fast path); CSV and Parquet rows are converted from dicts with the same types.
:func:`check` adds the rules a type cannot express (one of event_id/call_id, ordered timestamps,
instants in range). A line is judged alone: one that is not UTF-8, nested too deeply, not JSON or
that gives a field twice is refused before its fields are looked at. A failure becomes a
:class:`RecordError` naming the field and the reason; the caller adds the line.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

from .timeutil import zone

# Sizes and limits: whole numbers a float64 holds exactly (the metrics weigh sizes as float64;
# JSON promises no more), which also keeps them well inside the store's 64-bit integers.
MAX_COUNT = 2**53 - 1
# Instants from 1970-01-01T00:00:00Z up to (not including) 2100-01-01T00:00:00Z, whatever the
# offset they are written with. A company's days run from its earliest instant to its latest (a
# rebuild walks them all), so one stray instant must not stretch them over millennia; a local
# date of any zone stays a valid date beside them.
INSTANT_MIN_US, INSTANT_MAX_US = 0, 4_102_444_800_000_000 - 1
EPOCH_MS_MIN, EPOCH_MS_MAX = INSTANT_MIN_US // 1000, INSTANT_MAX_US // 1000
INSTANT_RANGE = (
    "instant out of range: must be from 1970-01-01T00:00:00Z to 2099-12-31T23:59:59.999999Z "
    f"(epoch milliseconds {EPOCH_MS_MIN} to {EPOCH_MS_MAX})"
)
MAX_DEPTH = 32  # objects and arrays nested in one line (records need 2: company limits)
Id = Annotated[str, Meta(min_length=1, max_length=256)] | int
Timestamp = Annotated[datetime, Meta(tz=True)] | Annotated[int, Meta(ge=EPOCH_MS_MIN, le=EPOCH_MS_MAX)]
Text = Annotated[str, Meta(max_length=2000)]
Bytes = Annotated[int, Meta(ge=0, le=MAX_COUNT)]
Limit = Annotated[int, Meta(ge=0, le=MAX_COUNT)]
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
    """``timezone`` and ``limits`` are UNSET when the record leaves them out: a platform writer's
    record then sets the defaults (it replaces the company's settings), a scoped writer's leaves
    them as they are (see ingest/pipeline.py)."""

    id: Id
    name: Annotated[str, Meta(min_length=1, max_length=500)]
    timezone: str | UnsetType = UNSET
    limits: Limits | None | UnsetType = UNSET


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
# Fields that hold instants (ISO 8601 with an offset, or epoch milliseconds).
TIME_FIELDS = frozenset(
    {
        "registered_at",
        "deleted_at",
        "created_at",
        "scheduled_start",
        "scheduled_end",
        "cancelled_at",
        "started_at",
        "ended_at",
        "joined_at",
        "left_at",
        "at",
        "sent_at",
        "uploaded_at",
    }
)
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
_FIRST_INSTANT = _EPOCH + INSTANT_MIN_US * _ONE_US
_LAST_INSTANT = _EPOCH + INSTANT_MAX_US * _ONE_US
_JSON_DECODER: msgspec.json.Decoder[Record] = msgspec.json.Decoder(Record)
_AT_PATH = re.compile(r"^(?P<msg>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)
_INT_BOUND = re.compile(r"Expected `int` [<>]=|Integer value out of range")


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
    if field and _INT_BOUND.match(msg):
        if field in TIME_FIELDS:
            return RecordError(field, INSTANT_RANGE)
        if field == "size_bytes" or field.startswith("limits."):
            return RecordError(field, f"must be a whole number from 0 to {MAX_COUNT} (2^53 - 1)")
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
    """Decode and validate one JSON line (its own newline, if any, is not part of it); raises
    :class:`RecordError`."""
    raw = utf8_line(line)
    if raw.endswith(b"\n"):  # a line of a file: judged as the same line of a request
        raw = raw[:-1]
    if too_deep(raw):
        raise RecordError(None, f"nested more than {MAX_DEPTH} levels deep")
    try:
        rec: Record = _JSON_DECODER.decode(raw)
    except msgspec.ValidationError as exc:
        error = _explain(exc)
        if error.field == "kind" and "kind" in _keys(raw).repeated:  # msgspec reads a second tag
            raise _given_twice("kind") from None
        raise error from None
    except msgspec.DecodeError as exc:
        raise RecordError(None, f"not valid JSON: {exc}") from None
    repeated = _repeated_field(raw, rec)
    if repeated is not None:
        raise _given_twice(repeated)
    check(rec)
    return rec


def _given_twice(field: str) -> RecordError:
    return RecordError(field, f"field {field!r} is given twice (each field may appear once)")


def utf8_line(line: bytes | str) -> bytes:
    """The line as UTF-8 bytes; raises :class:`RecordError` naming the first byte that is not
    UTF-8 (the whole line must be, also fields that are ignored)."""
    if isinstance(line, str):
        try:
            return line.encode()
        except UnicodeEncodeError as exc:  # a lone surrogate
            raise RecordError(None, f"not valid UTF-8: a lone surrogate at character {exc.start + 1}") from None
    if not line.isascii():
        try:
            line.decode()
        except UnicodeDecodeError as exc:
            raise RecordError(None, f"not valid UTF-8: byte 0x{line[exc.start]:02x} at byte {exc.start + 1}") from None
    return line


def too_deep(raw: bytes) -> bool:
    """Whether objects and arrays nest more than MAX_DEPTH levels in a line (brackets inside
    strings do not count)."""
    if raw.count(b"{") + raw.count(b"[") <= MAX_DEPTH:
        return False
    # One scan for a line and for a block of them (ingest/textscan.py), so both paths agree;
    # numba loads only for such a line.
    from .ingest.textscan import deeper_than

    return deeper_than(raw, MAX_DEPTH)


# A key's closing quote and its colon: every key of a line ends with one (other matches, inside
# strings, only make the count larger).
_KEY_END = re.compile(rb'"[ \t\r\n]*:')


def _repeated_field(raw: bytes, rec: Record) -> str | None:
    """A field of the record that the line gives twice (msgspec would keep the last one, Arrow
    refuses the line), or None. Keys the record does not have are ignored, repeated or not.

    Cheap for the usual line: at most as many key ends as keys decoded means no key repeats."""
    if b'" ' in raw or b'"\t' in raw or b'"\r' in raw or b'"\n' in raw:
        ends = len(_KEY_END.findall(raw))
    else:
        ends = raw.count(b'":')
    try:
        keys = _count_keys(msgspec.json.decode(raw))
    except (msgspec.DecodeError, RecursionError):
        keys = -1  # a number msgspec only takes for a known type: look at the line itself
    if ends == keys:
        return None
    top = _keys(raw)
    own = type(rec).__struct_fields__
    for key in top.repeated:
        if key in own or key == "kind":
            return key
    limits = top.get("limits")
    if type(rec) is Company and isinstance(limits, _Object) and limits.repeated:
        return f"limits.{limits.repeated[0]}"
    return None


def _keys(raw: bytes) -> _Object:
    """The line's object with the keys it repeats (numbers are not converted: any size passes)."""
    top = json.loads(raw, object_pairs_hook=_Object, parse_int=len, parse_float=len, parse_constant=len)
    return top if isinstance(top, _Object) else _Object([])


def _count_keys(value: Any) -> int:
    if type(value) is dict:
        return len(value) + sum(_count_keys(v) for v in value.values() if type(v) in (dict, list))
    if type(value) is list:
        return sum(_count_keys(v) for v in value if type(v) in (dict, list))
    return 0


class _Object(dict[str, Any]):
    """A JSON object that remembers the keys it was given more than once."""

    def __init__(self, pairs: list[tuple[str, Any]]) -> None:
        super().__init__(pairs)
        self.repeated: tuple[str, ...] = ()
        if len(self) != len(pairs):
            seen: set[str] = set()
            self.repeated = tuple(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]


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
    if rec.timezone is UNSET:
        return
    try:
        zone(rec.timezone)
    except ValueError as exc:
        raise RecordError("timezone", str(exc)) from None


def _check_instants(rec: Record) -> None:
    """Instants in the range the store and the metrics take (epoch milliseconds are bounded by
    their type already)."""
    for name in _TIME_FIELDS_OF[type(rec)]:
        value = getattr(rec, name)
        if type(value) is datetime and not _FIRST_INSTANT <= value <= _LAST_INSTANT:
            raise RecordError(name, INSTANT_RANGE)


_CHECKS: dict[type, Any] = {
    Connection: _check_connection,
    Company: _check_company,
    User: lambda r: _order(r, "registered_at", "deleted_at"),
    Event: lambda r: _order(r, "scheduled_start", "scheduled_end"),
    Call: lambda r: _order(r, "started_at", "ended_at"),
    File: lambda r: _order(r, "uploaded_at", "deleted_at"),
}


_TIME_FIELDS_OF = {cls: tuple(f for f in cls.__struct_fields__ if f in TIME_FIELDS) for cls in KINDS.values()}


def check(rec: Record) -> None:
    """Rules across fields; raises :class:`RecordError`."""
    _check_instants(rec)
    rule = _CHECKS.get(type(rec))
    if rule is not None:
        rule(rec)
