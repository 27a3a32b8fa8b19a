"""`treeship-store append`: events from flags or standard input, written as a
hook writes them (the record, the writers' cache, a hint for the index).

Other agents' hooks run `append` once per tool call, so a plain call is
parsed here before the command-line framework is imported (__main__.py):
`[--root DIR] append SESSION [options]`, each option as click would take it.
Anything this parser does not recognise goes to the click command in cli.py,
which says what is wrong; both build the events with the functions below
and write them with capture.record_events().
"""

from __future__ import annotations

import os
import sys

from .errors import ValidationError
from .event import check_session_id, field_from_text, field_kind, loads_exact
from .record.paths import nearest_store

# Treeship's flag names for type fields, and the agent fields with their variables.
FIELD_FLAGS = {"tool": "tool_name", "file": "file_path", "destination": "destination",
               "duration_ms": "duration_ms", "exit_code": "exit_code", "model": "model", "provider": "provider",
               "tokens_in": "tokens_in", "tokens_out": "tokens_out"}
INTEGER_FLAGS = ("duration_ms", "exit_code", "tokens_in", "tokens_out")
AGENT_DEFAULTS = (("agent_id", "TREESHIP_AGENT_ID"), ("agent_name", "TREESHIP_AGENT_NAME"),
                  ("agent_instance_id", "TREESHIP_AGENT_INSTANCE_ID"), ("host_id", "TREESHIP_HOST_ID"))
_VALUES = {"--type": "event_type", "--meta": "meta", "--lock-timeout": "lock_timeout", "--agent-role": "agent_role",
           **{f"--{name.replace('_', '-')}": name for name, _ in AGENT_DEFAULTS},
           **{f"--{flag.replace('_', '-')}": flag for flag in FIELD_FLAGS}}
_SWITCHES = {"--stdin": "from_stdin", "--allow-unknown": "allow_unknown", "--json": "as_json"}


def parse(args: list[str]) -> dict | None:
    """The options of `[--root DIR] append SESSION [options]` as the click
    command receives them, or None for anything else (help, --db, a mistake)."""
    options: dict = {"root": None, "session_id": None, "assignments": [], "lock_timeout": 60.0,
                     **{name: None for name in _VALUES.values() if name != "lock_timeout"},
                     **{name: False for name in _SWITCHES.values()}}
    rest = list(args)
    while rest and rest[0] != "append":
        name, value, rest = _option(rest)
        if name != "--root" or value is None:
            return None
        options["root"] = value
    if not rest:
        return None
    rest = rest[1:]
    while rest:
        if not rest[0].startswith("-") or rest[0] == "-":
            if options["session_id"] is not None:
                return None
            options["session_id"], rest = rest[0], rest[1:]
            continue
        if rest[0] in _SWITCHES:
            options[_SWITCHES[rest[0]]], rest = True, rest[1:]
            continue
        name, value, rest = _option(rest)
        if value is None or (name not in _VALUES and name != "--set"):
            return None
        if name == "--set":
            options["assignments"].append(value)
        else:
            options[_VALUES[name]] = value
    try:
        options["lock_timeout"] = float(options["lock_timeout"])
        for flag in INTEGER_FLAGS:
            if options[flag] is not None:
                options[flag] = int(options[flag])
    except ValueError:
        return None
    if options["session_id"] is None or not 0 <= options["lock_timeout"] < float("inf"):
        return None
    given = options["event_type"] or options["assignments"] or options["meta"] is not None or \
        any(options[flag] is not None for flag in FIELD_FLAGS)
    if options["from_stdin"] == bool(given) or (not options["from_stdin"] and not options["event_type"]):
        return None  # a usage mistake: click says which
    return options


def _option(args: list[str]) -> tuple[str, str | None, list[str]]:
    """(name, value, the rest) of `--name value` or `--name=value`."""
    name, equals, value = args[0].partition("=")
    if equals:
        return name, value, args[1:]
    return (name, args[1], args[2:]) if len(args) > 1 else (name, None, [])


def append(options: dict, data: bytes | None = None) -> list[str]:
    """Append what the options say; the lines to print. ValidationError (and
    the store's other errors) for a mistake, nothing written. `data`: standard
    input, for --stdin."""
    from .capture import record_events
    flags = {name: options[name] for name in (*FIELD_FLAGS, *(name for name, _ in AGENT_DEFAULTS), "agent_role")}
    agent = agent_fields(flags)
    session_id = options["session_id"]
    if options["from_stdin"]:
        try:
            text = (sys.stdin.buffer.read() if data is None else data).decode()
        except UnicodeDecodeError as error:
            raise ValidationError(f"standard input is not UTF-8 (byte {error.start}); nothing was appended") from None
        events, line_numbers = events_from_stdin(text)
        events = [{**agent, **event} if isinstance(event, dict) else event for event in events]
    else:
        event_type = options["event_type"]
        event = {**agent, "type": event_type, **{field: flags[flag] for flag, field in FIELD_FLAGS.items()}}
        event.update(fields_from_assignments(event_type, options["assignments"]))
        if options["meta"] is not None:
            event["meta"] = field_from_text(event_type, "meta", options["meta"])
        events, line_numbers = [event], None
    root = os.path.abspath(options["root"] or os.environ.get("TREESHIP_STORE_ROOT") or
                           nearest_store(os.getcwd()) or ".treeship")
    try:
        stored = record_events(root, check_session_id(session_id), lambda state, writer: events,
                               lock_timeout=options["lock_timeout"], allow_unknown=options["allow_unknown"])
    except ValidationError as error:
        if line_numbers is None or error.position is None:
            raise
        raise ValidationError(f"line {line_numbers[error.position]}: {error.reason}; nothing was appended") \
            from None
    if options["as_json"]:
        return [event.raw.decode() for event in stored]
    if len(stored) == 1:
        return [f"appended {session_id} #{stored[0]['sequence_no']} {stored[0]['type']}"]
    if stored:
        return [f"appended {session_id} #{stored[0]['sequence_no']}..#{stored[-1]['sequence_no']} "
                f"({len(stored)} events)"]
    return ["appended nothing: no events on standard input"]


def run(options: dict) -> int:
    """`append` started without click: print, and the exit status."""
    from .errors import StoreError, print_error
    from .record import writer
    writer.WARNINGS_TO_STDERR = True
    try:
        lines = append(options)
    except StoreError as error:
        print_error(str(error))
        return 1
    if sys.stdout is None:  # closed (>&-): the event is stored, there is nothing to tell
        return 0
    try:
        sys.stdout.write("".join(line + "\n" for line in lines))
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, as cli.main does.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return 0


def agent_fields(flags: dict) -> dict:
    """Agent fields from flags, then the environment, then defaults: the agent
    name from its id, the instance from the name, the host from this machine."""
    fields = {name: flags.pop(name) or os.environ.get(variable) or None for name, variable in AGENT_DEFAULTS}
    fields["agent_role"] = flags.pop("agent_role")
    if not fields["agent_id"]:
        fields["agent_id"] = f"agent://{fields['agent_name'] or 'treeship-store'}"
    if not fields["agent_name"]:
        fields["agent_name"] = fields["agent_id"].rstrip("/").rsplit("/", 1)[-1] or fields["agent_id"]
    fields["agent_instance_id"] = fields["agent_instance_id"] or f"ai_{fields['agent_name']}"
    fields["host_id"] = fields["host_id"] or os.uname().nodename
    return {name: value for name, value in fields.items() if value is not None}


def fields_from_assignments(event_type: str, assignments: list[str] | tuple[str, ...]) -> dict:
    fields: dict = {}
    for assignment in assignments:
        name, equals, text = assignment.partition("=")
        if not equals or not name:
            raise ValidationError(f"--set {assignment!r}: expected KEY=VALUE")
        if field_kind(event_type, name) == "list of strings":
            fields.setdefault(name, []).append(text)
        elif name in fields:
            raise ValidationError(f"--set {name}: given twice")
        else:
            fields[name] = field_from_text(event_type, name, text)
    return fields


def events_from_stdin(text: str) -> tuple[list, list[int]]:
    """Events from JSON lines (blank lines skipped) or one JSON array, with the
    input line each came from."""
    if text.lstrip().startswith("["):
        try:
            events = loads_exact(text)
        except ValueError as error:
            raise ValidationError(f"standard input: not a JSON array: {error}; nothing was appended") from None
        first_line = text[:len(text) - len(text.lstrip())].count("\n") + 1
        return events, [first_line] * len(events)
    events, line_numbers = [], []
    # Lines end at \n only: U+2028, U+0085 or a form feed (which splitlines()
    # also breaks at) may be raw inside a JSON string. A \r before it is JSON
    # whitespace.
    for number, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            events.append(loads_exact(line))
        except ValueError as error:
            raise ValidationError(f"line {number}: not JSON: {error}; nothing was appended") from None
        line_numbers.append(number)
    return events, line_numbers
