"""The session event format, field for field as Treeship writes it.

See docs/format.md. This module knows the event types, checks
events before they are written, generates ids, serialises in Treeship's field
order, and decides whether a stored line is a usable event or damage.
"""

from __future__ import annotations

import math
import operator
import os
import time

try:  # collections.abc, without loading the whole collections package (a hook's cold start)
    from _collections_abc import Mapping
except ImportError:
    from collections.abc import Mapping

from . import jsoncodec
from .errors import SessionIdError, ValidationError

# This module is on the append path of a hook (a process per tool call): it
# checks and writes events without re, datetime or orjson (see jsoncodec).
# Times as integers, and their limits, are times.py's; named here as well.
_FROM_TIMES = ("MIN_TIME", "MAX_TIME", "MIN_MICROS", "MAX_MICROS", "TimeOutOfRange", "parse_time", "format_time")


def __getattr__(name: str):
    if name in _FROM_TIMES:
        from . import times  # noqa: PLC0415
        return getattr(times, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

# Field kinds. Integers are unsigned 64-bit unless "int" (signed 64-bit).
STR, UINT, INT, PORT, FLOAT, STRS, ANY, OPERATION = (
    "string", "unsigned integer", "integer", "port", "number", "list of strings", "any", "operation")
TIMESTAMP, EVENT_ID, HEX32, HEX16 = "timestamp", "event id", "hex32", "hex16"

# (name, kind, required), in Treeship's order. sequence_no sits between the
# head and the tail; the type's own fields follow "type"; the trailer ends the line.
ENVELOPE_HEAD = (("session_id", STR, True), ("event_id", EVENT_ID, True),
                 ("timestamp", TIMESTAMP, True), ("sequence_no", UINT, True))
ENVELOPE_TAIL = (("trace_id", HEX32, True), ("span_id", HEX16, True),
                 ("parent_span_id", HEX16, False), ("agent_id", STR, True),
                 ("agent_instance_id", STR, True), ("agent_name", STR, True),
                 ("agent_role", STR, False), ("host_id", STR, True),
                 ("tool_runtime_id", STR, False), ("type", STR, True))
TRAILER = (("artifact_ref", STR, False), ("meta", ANY, False))

EVENT_TYPES: dict[str, tuple[tuple[str, str, bool], ...]] = {
    "session.started": (),
    "session.closed": (("summary", STR, False), ("duration_ms", UINT, False)),
    "agent.started": (("parent_agent_instance_id", STR, False),),
    "agent.spawned": (("spawned_by_agent_instance_id", STR, True), ("reason", STR, False)),
    "agent.handoff": (("from_agent_instance_id", STR, True), ("to_agent_instance_id", STR, True),
                      ("artifacts", STRS, False)),
    "agent.collaborated": (("collaborator_agent_instance_ids", STRS, False),),
    "agent.returned": (("returned_to_agent_instance_id", STR, True),),
    "agent.completed": (("termination_reason", STR, False),),
    "agent.failed": (("reason", STR, False),),
    "agent.called_tool": (("tool_name", STR, True), ("tool_input_digest", STR, False),
                          ("tool_output_digest", STR, False), ("duration_ms", UINT, False)),
    "agent.read_file": (("file_path", STR, True), ("digest", STR, False)),
    "agent.wrote_file": (("file_path", STR, True), ("digest", STR, False),
                         ("operation", OPERATION, False), ("additions", UINT, False),
                         ("deletions", UINT, False)),
    "agent.opened_port": (("port", PORT, True), ("protocol", STR, False)),
    "agent.connected_network": (("destination", STR, True), ("port", PORT, False)),
    "agent.started_process": (("process_name", STR, True), ("pid", UINT, False),
                              ("command", STR, False)),
    "agent.completed_process": (("process_name", STR, True), ("exit_code", INT, False),
                                ("duration_ms", UINT, False), ("command", STR, False)),
    "agent.decision": (("model", STR, False), ("tokens_in", UINT, False), ("tokens_out", UINT, False),
                       ("provider", STR, False), ("summary", STR, False), ("confidence", FLOAT, False)),
    "agent.note": (),  # Treeship 0.31: its text is meta.text
}

ENVELOPE_NAMES = frozenset(name for name, _, _ in ENVELOPE_HEAD + ENVELOPE_TAIL + TRAILER)
# Which fields a line may carry for each known type; anything else is "unknown".
FIELDS_BY_TYPE = {t: ENVELOPE_NAMES | {name for name, _, _ in fields} for t, fields in EVENT_TYPES.items()}
# What a stored line needs to be an event at all (rather than a damaged line).
REQUIRED_STRINGS = tuple(name for name, kind, required in ENVELOPE_HEAD + ENVELOPE_TAIL
                         if required and kind != UINT)

_ID_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")
_HEX = frozenset("0123456789abcdef")
_DIGITS = frozenset("0123456789")
# An id or hex field: (prefix, number of lowercase hex digits after it).
_FORMATS = {EVENT_ID: ("evt_", 16), HEX32: ("", 32), HEX16: ("", 16)}
_MESSAGES = {EVENT_ID: "must be 'evt_' and 16 lowercase hex digits", HEX32: "must be 32 lowercase hex digits",
             HEX16: "must be 16 lowercase hex digits"}
_RANGES = {UINT: (0, 2**64 - 1), INT: (-(2**63), 2**63 - 1), PORT: (0, 65535)}
_OPERATIONS = ("created", "modified", "deleted")


class Event(dict):
    """One stored event: the JSON object as a dict (field order as stored),
    plus `raw`, the exact bytes of its line without the newline, and
    `line_no`, the line's 0-based position in events.jsonl (its sequence_no
    whenever its writer kept the rule; None where not known)."""

    __slots__ = ("raw", "line_no")

    def __init__(self, fields: dict, raw: bytes, line_no: int | None = None):
        super().__init__(fields)
        self.raw = raw
        self.line_no = line_no


def check_session_id(session_id: object) -> str:
    """Return the id if it is safe as one directory name under sessions/, else raise.

    ASCII letters, digits, '_', '.', '-'; 1 to 128 characters; not starting
    with '.', so '.', '..', paths, NUL and look-alike unicode never reach the disk."""
    if not isinstance(session_id, str) or not 0 < len(session_id) <= 128 or session_id[0] in ".-" \
            or not _ID_CHARS.issuperset(session_id):
        shown = repr(session_id) if not isinstance(session_id, str) or len(session_id) <= 60 \
            else repr(session_id[:60]) + "..."
        raise SessionIdError(
            f"invalid session id {shown}: use 1-128 ASCII letters, digits, '_', '.' or '-', "
            "not starting with '.'")
    return session_id


def new_event_id() -> str:
    return "evt_" + os.urandom(8).hex()


def now_timestamp() -> str:
    """Current UTC time, RFC 3339 with milliseconds: 2026-04-05T08:00:00.123Z."""
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"


def _field_problem(kind: str, value: object, required: bool) -> str | None:
    """Why `value` is not a valid field of `kind`, or None if it is."""
    if kind in (STR, TIMESTAMP, EVENT_ID, HEX32, HEX16):
        if type(value) is not str:
            return "must be a string"
        if required and not value:
            return "must not be empty"
        if kind == TIMESTAMP and not is_rfc3339(value):
            return ("must be an RFC 3339 time such as 2026-04-05T08:00:00Z, between 0001-01-01T00:00:00Z and "
                    "9999-12-31T23:59:59.999999Z")
        if kind in _FORMATS and not _is_hex(value, *_FORMATS[kind]):
            return _MESSAGES[kind]
        return None
    if kind in _RANGES:
        low, high = _RANGES[kind]
        if type(value) is not int:
            return f"must be an integer {low}..{high}" if kind == PORT else f"must be an {kind}"
        if not low <= value <= high:
            return f"must be between {low} and {high}, got {value}"
        return None
    if kind == FLOAT:
        if type(value) not in (int, float) or not math.isfinite(value):
            return "must be a finite number"
        return None
    if kind == STRS:
        if type(value) is not list or not all(type(item) is str for item in value):
            return "must be a list of strings"
        return None
    if kind == OPERATION:
        return None if value in _OPERATIONS else f"must be one of {', '.join(_OPERATIONS)}"
    return _json_problem(value)  # ANY


def is_rfc3339(value: str) -> bool:
    """Whether `value` is YYYY-MM-DDTHH:MM:SS[.fraction of 1-9 digits](Z|+HH:MM|-HH:MM),
    a real date and time, within 0001-01-01T00:00:00Z..9999-12-31T23:59:59.999999Z
    in UTC: exactly the times times.parse_time takes and the index holds,
    checked without datetime."""
    if len(value) < 20 or value[4] != "-" or value[7] != "-" or value[10] != "T" or value[13] != ":" \
            or value[16] != ":":
        return False
    digits = value[0:4] + value[5:7] + value[8:10] + value[11:13] + value[14:16] + value[17:19]
    if not (digits.isascii() and digits.isdigit()):  # ASCII: isdigit alone takes other scripts' digits
        return False
    zone = 19
    if value[19] == ".":
        zone = 20
        while zone < len(value) and value[zone] in _DIGITS:
            zone += 1
        if not 21 <= zone <= 29:
            return False
    tail = value[zone:]
    if tail == "Z":
        offset = 0
    elif len(tail) == 6 and tail[0] in "+-" and tail[3] == ":" and _digits(tail, (1, 2, 4, 5)):
        offset = int(tail[1:3]) * 60 + int(tail[4:6])  # as datetime takes it: any minutes, under a day
        if offset >= 1440:
            return False
        offset = offset if tail[0] == "+" else -offset
    else:
        return False
    year, month, day = int(value[0:4]), int(value[5:7]), int(value[8:10])
    hour, minute, second = int(value[11:13]), int(value[14:16]), int(value[17:19])
    if not (1 <= month <= 12 and 1 <= day <= _days_in(year, month) and hour < 24 and minute < 60 and second < 60
            and year >= 1):
        return False
    if 1 < year < 9999:
        return True
    # At the edges of the range the offset decides: minutes of the time in UTC
    # against those of year 1's first and year 9999's last minute.
    utc = ((_day_number(year, month, day) * 24 + hour) * 60 + minute) - offset
    return _day_number(1, 1, 1) * 1440 <= utc <= _day_number(9999, 12, 31) * 1440 + 1439


def _digits(text: str, places: tuple[int, ...]) -> bool:
    return all(text[place] in _DIGITS for place in places)


def _days_in(year: int, month: int) -> int:
    if month == 2:
        return 29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28
    return 30 if month in (4, 6, 9, 11) else 31


def _day_number(year: int, month: int, day: int) -> int:
    """Days from 0001-01-01 (day 0) in the proleptic Gregorian calendar."""
    before = year - 1
    days = before * 365 + before // 4 - before // 100 + before // 400
    return days + sum(_days_in(year, m) for m in range(1, month)) + day - 1


def _is_hex(value: str, prefix: str, digits: int) -> bool:
    return len(value) == len(prefix) + digits and value.startswith(prefix) and _HEX.issuperset(value[len(prefix):])


def _json_problem(value: object) -> str | None:
    """orjson writes NaN and infinity as null, silently changing the data; refuse them.
    Iterative so that deeply nested input cannot exhaust Python's stack."""
    pending = [value]
    while pending:
        item = pending.pop()
        if type(item) is float and not math.isfinite(item):
            return "must not contain NaN or infinity"
        if isinstance(item, dict):
            pending.extend(item.values())
        elif isinstance(item, (list, tuple)):
            pending.extend(item)
    return None


def prepare(event: object, session_id: str, *, position: int = 0, allow_unknown: bool = False,
            max_line_bytes: int | None = None, timestamp: str | None = None) -> dict:
    """Check an event to be appended to `session_id` and return it complete, in
    Treeship's field order, with ids and timestamp (default: now) filled in when
    absent.

    `sequence_no` is set to 0: the real one is decided under the lock. `position`
    only names the event in error messages. Raises ValidationError naming the
    event and the field; nothing is written by this function.
    """
    def fail(message: str) -> ValidationError:
        return ValidationError(f"event {position}: {message}", position=position, reason=message)

    if not isinstance(event, Mapping):
        raise fail(f"must be a JSON object, got {type(event).__name__}")
    event_type = event.get("type")
    if type(event_type) is not str or not event_type:
        raise fail("field 'type': required, a non-empty string")
    plan = _PLANS.get(event_type)
    if plan is None:
        if not allow_unknown:
            raise fail(f"unknown event type {event_type!r} (known: {', '.join(EVENT_TYPES)})")
        plan = _PLANS[None]
    if event.get("session_id", session_id) not in (session_id, None):
        raise fail(f"field 'session_id': {event['session_id']!r} does not match the target session {session_id!r}")
    ids = None
    if event.get("event_id") is None or event.get("trace_id") is None or event.get("span_id") is None:
        ids = os.urandom(32).hex()
    # Built in Treeship's order as it is checked; None means absent (optional
    # fields are omitted, never written as null).
    ordered = {"session_id": session_id,
               "event_id": event.get("event_id") or "evt_" + ids[:16],
               "timestamp": event.get("timestamp") or timestamp or now_timestamp(),
               "sequence_no": 0}
    for name in ("event_id", "timestamp"):
        if event.get(name) is not None and (problem := _field_problem(_KINDS[name], event[name], True)):
            raise fail(f"field {name!r}: {problem}")
    generated = {"trace_id": ids[16:48], "span_id": ids[48:]} if ids else {}
    for name, kind, required in plan:
        value = event.get(name)
        if value is None:
            value = generated.get(name)
        if value is None or (kind == STRS and value == []):  # Treeship omits empty lists
            if required:
                raise fail(f"field {name!r}: required for {event_type}")
            continue
        if not _LOOKS_VALID[kind](value):
            if problem := _field_problem(kind, value, required):
                raise fail(f"field {name!r}: {problem}")
        ordered[name] = value
    if not event.keys() <= FIELDS_BY_TYPE.get(event_type, ENVELOPE_NAMES):
        unknown = {name: value for name, value in event.items()
                   if name not in FIELDS_BY_TYPE.get(event_type, ENVELOPE_NAMES) and value is not None}
        if unknown and event_type in EVENT_TYPES and not allow_unknown:
            names = ", ".join(map(repr, unknown))
            raise fail(f"unknown field{'s' if len(unknown) > 1 else ''} {names} for {event_type}")
        for name, value in unknown.items():
            if type(name) is not str:
                raise fail(f"field names must be strings, got {name!r}")
            if problem := _json_problem(value):
                raise fail(f"field {name!r}: {problem}")
        ordered = canonical_order({**ordered, **unknown})
    try:
        size = len(jsoncodec.dumps(ordered)) + 21  # room for any sequence_no and the newline
    except (TypeError, ValueError) as error:  # orjson's JSONEncodeError is a TypeError
        raise fail(f"cannot be written as JSON: {error}") from None
    if max_line_bytes is not None and size > max_line_bytes:
        raise fail(f"is {size} bytes as a line, over the {max_line_bytes}-byte line limit")
    return ordered


# Per type, the fields to check in Treeship's order (the store fills the head).
_PLANS = {t: ENVELOPE_TAIL + fields + TRAILER for t, fields in EVENT_TYPES.items()}
_PLANS[None] = ENVELOPE_TAIL + TRAILER  # a type this version does not know (allow_unknown)
_KINDS = {name: kind for name, kind, _ in ENVELOPE_HEAD}
# Cheap tests that pass for almost every valid value; on failure the full
# check gives the reason (or finds the value fine, like an empty optional string).
_LOOKS_VALID = {
    STR: lambda v: type(v) is str and v != "",
    HEX16: lambda v: type(v) is str and len(v) == 16 and _HEX.issuperset(v),
    HEX32: lambda v: type(v) is str and len(v) == 32 and _HEX.issuperset(v),
    UINT: lambda v: type(v) is int and 0 <= v < 2**64,
    INT: lambda v: type(v) is int and -(2**63) <= v < 2**63,
    PORT: lambda v: type(v) is int and 0 <= v <= 65535,
    FLOAT: lambda v: False,
    STRS: lambda v: False,
    OPERATION: lambda v: v in _OPERATIONS,
    ANY: lambda v: False,
}


def field_kind(event_type: str, name: str) -> str | None:
    """The kind of field `name` in an event of `event_type`, None if unknown."""
    for field_name, kind, _ in ENVELOPE_HEAD + ENVELOPE_TAIL + EVENT_TYPES.get(event_type, ()) + TRAILER:
        if field_name == name:
            return kind
    return None


def field_from_text(event_type: str, name: str, text: str) -> object:
    """A field value typed from command-line text by the schema: integers and
    numbers parsed, meta parsed as JSON, everything else a string. List fields
    take one item per call (the caller collects them)."""
    kind = field_kind(event_type, name)
    try:
        if kind in _RANGES:
            return int(text)
        if kind == FLOAT:
            return float(text)
        if kind == ANY:
            return loads_exact(text)
    except ValueError:
        expected = {FLOAT: "a number", ANY: "JSON"}.get(kind, "an integer")
        raise ValidationError(f"field {name!r}: {text!r} is not {expected}") from None
    return text


def loads_exact(text: str) -> object:
    """JSON typed by a person or another program, parsed exactly: orjson turns an
    integer beyond 64 bits into a float, which would change the data unseen;
    here it stays an integer, and prepare() refuses it. NaN and Infinity,
    which are not JSON, are refused. Raises ValueError."""
    return jsoncodec.loads(text)  # CPython's scanner: integers exact, NaN and Infinity refused


def canonical_order(event: Mapping) -> dict:
    """The event's fields in Treeship's order. Fields this version does not know
    (a newer Treeship's) keep their relative order, after the type's own fields."""
    type_fields = EVENT_TYPES.get(event.get("type"), ())
    ordered = {name: event[name] for name, _, _ in ENVELOPE_HEAD + ENVELOPE_TAIL + type_fields
               if name in event}
    trailer_names = tuple(name for name, _, _ in TRAILER)
    for name, value in event.items():
        if name not in ordered and name not in trailer_names:
            ordered[name] = value
    for name in trailer_names:
        if name in event:
            ordered[name] = event[name]
    return ordered


def serialise(event: Mapping) -> bytes:
    """One event as Treeship writes it: compact JSON in its field order, no newline."""
    return jsoncodec.dumps(canonical_order(event))


def decode_line(line: bytes) -> tuple[dict | None, str | None]:
    """Decide what a stored line (without its newline) is.

    Returns (event, None) for an event, including one of a type or with fields this
    version does not know, or (None, reason) for a damaged line: not UTF-8, not
    JSON, not an object, or missing/mistyped envelope fields."""
    try:
        event = _loads(line)
    except ValueError as error:  # orjson.JSONDecodeError
        if not line.strip():
            return None, "empty line"
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as bad:
            return None, f"not UTF-8 (byte {bad.start})"
        return None, f"not JSON: {error}"
    if type(event) is not dict:
        return None, "not a JSON object"
    try:
        strings, sequence_no = _ENVELOPE_STRINGS(event), event["sequence_no"]  # one C call for ten fields
    except KeyError as missing:
        return None, f"envelope field {missing} missing"
    try:
        "".join(strings)  # the cheapest test that all ten are strings, run once per line indexed
    except TypeError:
        name = next(n for n, v in zip(REQUIRED_STRINGS, strings) if type(v) is not str)
        return None, f"envelope field {name!r} not a string"
    if type(sequence_no) is not int or not 0 <= sequence_no < 2**63:
        return None, "envelope field 'sequence_no' not a non-negative integer"
    return event, None


_ENVELOPE_STRINGS = operator.itemgetter(*REQUIRED_STRINGS)


def _loads(line: bytes) -> object:
    """orjson.loads, imported on the first line read: readers and the index
    need it, the append path does not."""
    global _loads
    import orjson  # noqa: PLC0415
    _loads = orjson.loads
    return _loads(line)


def unknown_fields_note(event: dict) -> str | None:
    """'unknown type X' or 'unknown fields a, b' for events from a newer writer; else None."""
    allowed = FIELDS_BY_TYPE.get(event["type"])
    if allowed is None:
        return f"unknown type {event['type']}"
    if event.keys() <= allowed:
        return None
    return "unknown fields " + ", ".join(sorted(event.keys() - allowed))


def field_problems(event: dict) -> list[str]:
    """Every way a stored event breaks the schema for its (known) type: a wrong
    JSON type, a missing required field, an out-of-range value. Used by verify."""
    fields = EVENT_TYPES.get(event["type"])
    if fields is None:
        return []
    problems = []
    for name, kind, required in ENVELOPE_HEAD + ENVELOPE_TAIL + fields + TRAILER:
        if name not in event:
            if required:
                problems.append(f"field {name!r} missing")
        elif problem := _field_problem(kind, event[name], required):
            problems.append(f"field {name!r}: {problem}")
    return problems
