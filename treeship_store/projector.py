"""The projector: the record's lines, from a position, as rows to record.

A chunk of complete lines becomes one row per event line (its location,
envelope and typed columns), one row per damaged line, and the counts by
(type, agent, model) that stats and sessions read instead of scanning. This
is the piece every derived store shares: the SQLite index records project()'s
rows, the central store (central/push.py line_row) makes its row from the
same typed columns (event_time, int64) and counts by the same rules, which
live here once:

- a failed process is an agent.completed_process (FAILED_TYPE) whose
  exit_code is an integer a 64-bit column holds, other than 0: what stats
  count, `events --failed` selects and an exported span marks as an error;
- tokens count only on events that name a model (decisions), and only plain
  integers from 0 below TOKENS_BELOW, so a sum never overflows 64 bits.
The SQL forms of these rules (index/queries.py, central/queries.py,
central/push.py) are built from these names.
"""

from __future__ import annotations

from .event import decode_line


class Projection:
    """The rows for one chunk of lines of one session. (A plain class: the
    rules below are read by the status line, which starts like a hook and
    does not load dataclasses.)"""
    __slots__ = ("events", "damaged", "counts", "texts", "lines", "first_us", "last_us")

    def __init__(self):
        self.events: list[tuple] = []
        self.damaged: list[tuple] = []
        # (type, agent_name, model or "") -> [events, tokens_in, tokens_out, failed processes]
        self.counts: dict[tuple[str, str, str], list[int]] = {}
        self.texts: list[tuple[int, str]] = []  # (search rowid, words) for event_text
        self.lines = 0  # the line number after the chunk
        self.first_us: int | None = None
        self.last_us: int | None = None


def project(key: int, offset: int, line_no: int, data: bytes) -> Projection:
    """Rows for the complete lines in `data`, which starts at byte `offset`,
    line `line_no`, of the session whose index key is `key`."""
    projection = Projection()
    events, damaged, counts, texts = projection.events, projection.damaged, projection.counts, projection.texts
    for line in data.split(b"\n")[:-1]:
        event, reason = decode_line(line)
        if event is None:
            damaged.append((key, line_no, offset, len(line), reason))
        else:
            row = event_row(key, line_no, offset, len(line), event)
            events.append(row)
            if (text := search_text(event)) and line_no < SEARCH_LINES:
                texts.append((key << 32 | line_no, text))
            model = event.get("model")
            group = (row[TYPE], row[AGENT_NAME], model if type(model) is str else "")
            count = counts.get(group)
            if count is None:
                count = counts[group] = [0, 0, 0, 0]
            count[0] += 1
            if group[2]:  # decisions name a model; only they carry tokens
                count[1] += _countable(event.get("tokens_in"))
                count[2] += _countable(event.get("tokens_out"))
            elif row[EXIT_CODE] and row[TYPE] == FAILED_TYPE:
                count[3] += 1
        offset += len(line) + 1
        line_no += 1
    projection.lines = line_no
    times = [row[TIME] for row in events if row[TIME] is not None]
    projection.first_us, projection.last_us = min(times, default=None), max(times, default=None)
    return projection


# An event row: (session key, line_no, sequence_no, time, type, agent id, agent
# name, instance, offset, length, file path, exit code); the index stores the
# texts as keys of its strings table.
TIME, TYPE, AGENT_NAME, PATH, EXIT_CODE = 3, 4, 6, 10, 11


def event_row(key: int, line_no: int, offset: int, length: int, event: dict) -> tuple:
    """The index row of an event line. A typed column takes a field only when it
    holds a value of the column's type that SQLite can store: a string path,
    an integer exit code within 64 bits. Anything else (a list from another
    tool, a hand-edited "1") stays in the JSONL only, so one line can never
    make an insert fail and stop the catch-up. A time outside what the store
    holds leaves the event without one."""
    path = event.get("file_path")
    return (key, line_no, event["sequence_no"], event_time(event), event["type"], event["agent_id"],
            event["agent_name"], event["agent_instance_id"], offset, length, path if type(path) is str else None,
            int64(event.get("exit_code")))


FAILED_TYPE = "agent.completed_process"
TOKENS_BELOW = 2**40


def event_time(event: dict) -> int | None:
    """The event's time in microseconds, or None when its timestamp is not one
    the store holds (not RFC 3339, or outside years 1 to 9999)."""
    try:
        return _parse_time(event["timestamp"])
    except (ValueError, TypeError):
        return None


def _parse_time(value: object) -> int:
    """times.parse_time, imported on the first time read: the status line
    reads this module's rules and never a time, and datetime costs it 1.3 ms."""
    global _parse_time
    from .times import parse_time as _parse_time  # noqa: PLC0415
    return _parse_time(value)


def int64(value: object) -> int | None:
    """An integer field as a 64-bit column holds it; None for anything else."""
    return value if type(value) is int and -(2**63) <= value < 2**63 else None


def failed(event: dict) -> bool:
    """Whether the event is a failed process (the rule above)."""
    return event.get("type") == FAILED_TYPE and bool(int64(event.get("exit_code")))

# What full-text search finds an event by: the fields people remember
# (commands, paths, tools, what a model or agent said), and meta's strings.
SEARCHED_FIELDS = ("tool_name", "file_path", "process_name", "command", "destination", "model", "provider",
                   "summary", "reason", "termination_reason", "artifact_ref", "artifacts")
SEARCH_LINES = 2**32  # a search rowid holds the line number in its low 32 bits
_MAX_META_STRINGS = 1000  # a huge meta is searchable by its first strings
# The word the search index gets between two texts of an event (two fields,
# two items of a list, two of meta's strings). A phrase is words in a row
# ("make.db" is make then db), so with it between them a phrase never runs
# from the end of one text into the start of the next (process_name=make,
# command="db-migrate"). A private-use character, which unicode61 keeps as a
# word of its own; taken out of every text and every query (plain_words), so
# that nothing but this break is ever that word.
TEXT_BREAK = "\ue000"
_BETWEEN_TEXTS = f"\n{TEXT_BREAK}\n"


def plain_words(text: str) -> str:
    """A text as the search index takes it, or a query: TEXT_BREAK is a space."""
    return text.replace(TEXT_BREAK, " ")


def search_text(event: dict) -> str:
    """The words of an event for the search index, each text apart (TEXT_BREAK)."""
    parts = []
    for name in SEARCHED_FIELDS:
        value = event.get(name)
        if type(value) is str:
            parts.append(value)
        elif type(value) is list:
            parts.extend(item for item in value if type(item) is str)
    meta = event.get("meta")
    if meta is not None:
        pending, found = [meta], 0
        while pending and found < _MAX_META_STRINGS:  # iterative: nesting depth is the writer's choice
            item = pending.pop()
            if type(item) is str:
                parts.append(item)
                found += 1
            elif type(item) is dict:
                pending.extend(item.values())
            elif type(item) is list:
                pending.extend(item)
    text = _BETWEEN_TEXTS.join(parts)
    if text.count(TEXT_BREAK) >= len(parts):  # a text holding the character itself (rare): a space there
        text = _BETWEEN_TEXTS.join(map(plain_words, parts))
    return text


def _countable(value: object) -> int:
    # Only plain integers count: a u64 near 2**63 is not a column value, and
    # a sum of them must not overflow SQLite's 64 bits and stop the catch-up.
    return value if type(value) is int and 0 <= value < TOKENS_BELOW else 0
