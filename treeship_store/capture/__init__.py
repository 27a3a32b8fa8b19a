"""Capture: coding agents' hook payloads in, events in the store out.

`run_hook` is what `treeship-store hook <agent>` runs, once per hook call:
it parses the payload, finds the store from the payload's cwd, works out a
tool call's events (redacting them) before it takes the session's lock, and
under the lock loads what it needs to know (state.py), reads the
transcripts from their marks (mapping.py) and appends, all or nothing.

A hook costs the agent a process start per tool call, so this path imports
only the standard library's cheapest parts and the record's modules: no
click, SQLite, orjson, logging or pathlib (tests/test_cli.py checks). It
writes the record and leaves the index to the next reader (unindexed.py).
"""

from __future__ import annotations

import os
import time

from .. import jsoncodec
from ..errors import StoreError, ValidationError
from ..event import Event, check_session_id, now_timestamp, prepare as prepare_event
from ..record.log import SessionLog
from ..record.paths import make_private_directory, nearest_store
from ..record import unindexed
from ..record.writer import Writing, warn
from .claude_code import CLAUDE_CODE
from .codex import CODEX
from .mapping import Agent, events_for, prepare
from .state import CaptureState

AGENTS: dict[str, Agent] = {agent.name: agent for agent in (CLAUDE_CODE, CODEX)}
# A peer wedged while holding the session's lock must not stall the agent for
# its whole hook timeout (60 s in Claude Code): give up after this, write nothing.
HOOK_LOCK_TIMEOUT = 5.0
MAX_LINE_BYTES = 1 << 20  # as Store's default


def agent_named(name: str) -> Agent:
    agent = AGENTS.get(name)
    if agent is None:
        raise ValidationError(f"unknown agent {name!r}: use {' or '.join(AGENTS)}")
    return agent


def run_hook(agent_name: str, data: bytes, *, root: str | os.PathLike | None = None,
             lock_timeout: float = HOOK_LOCK_TIMEOUT, with_text: bool = False) -> list[Event]:
    """Append the events one hook payload stands for; return them as stored.
    `with_text`: keep the user's prompts and the agent's answers (mapping.text_note)."""
    agent = agent_named(agent_name)
    try:
        payload = jsoncodec.loads(data)
    except ValueError as error:
        raise ValidationError(f"the hook payload is not JSON: {error}") from None
    if not isinstance(payload, dict):
        raise ValidationError("the hook payload is not a JSON object")
    if b"\\ud" in data or b"\\uD" in data:  # an escape of a UTF-16 half, perhaps of a cut pair
        _replace_lone_surrogates(payload)
    session_id = check_session_id(payload.get("session_id"))
    host = os.environ.get("TREESHIP_HOST_ID") or os.uname().nodename or "unknown-host"
    store_root = os.path.abspath(hook_root(payload.get("cwd"), root))
    ctx = prepare(agent, payload, host, os.path.dirname(store_root))  # before the lock
    ctx.with_text = with_text

    def build(state: CaptureState, _writer) -> list[dict]:
        try:
            return events_for(ctx, state)
        except OSError as error:  # the transcript: nothing is written
            raise StoreError(f"cannot read {error.filename or 'the transcript'}: "
                             f"{error.strerror or error}; nothing was recorded") from None
    return record_events(store_root, session_id, build, lock_timeout=lock_timeout)


def record_events(store_root: str, session_id: str, build, *, lock_timeout: float, allow_unknown: bool = False,
                  max_line_bytes: int = MAX_LINE_BYTES) -> list[Event]:
    """Append what `build(state, writer)` returns to the session, all or
    nothing, under its lock, and leave the index to the next reader: the record, the
    writers' cache (state.py: its position numbers the lines) and the hint
    (unindexed.py). What a process started per call writes with: a hook, and
    `treeship-store append`."""
    if not isinstance(lock_timeout, (int, float)) or not 0 <= lock_timeout < float("inf"):
        raise ValidationError(f"lock_timeout must be a finite number of seconds >= 0, got {lock_timeout!r}")
    fsync = os.environ.get("TREESHIP_STORE_FSYNC", "").lower() in ("1", "true", "yes")
    make_private_directory(store_root)
    log = SessionLog(os.path.join(store_root, "sessions"), session_id)
    state = None

    def line_count(fd: int, directory: int) -> tuple[int, int]:
        nonlocal state
        state = CaptureState.cached(directory, fd)
        return state.line_count(fd)

    def prepare_events(events, unknown_ok):
        now = now_timestamp()
        unknown_ok = allow_unknown if unknown_ok is None else unknown_ok
        return [prepare_event(event, session_id, position=i, max_line_bytes=max_line_bytes, timestamp=now,
                              allow_unknown=unknown_ok) for i, event in enumerate(events)]

    try:
        with Writing(log, timeout=lock_timeout, fsync=fsync, prepare=prepare_events, line_count=line_count) as writer:
            state.load(writer)
            stored = writer.append_many(build(state, writer))
            for event in stored:  # the state is the record's fold, ours included
                state.fold(event.raw)
            # A time ahead of now means the clock went back: name the session now.
            if stored and not 0 <= time.time() - state.hinted < unindexed.HINT_SECONDS:
                _hint(store_root, session_id, state)
            try:
                state.save(writer)
            except (OSError, StoreError) as error:  # a cache: the next writer folds the record instead
                warn("session %s: capture state not cached (%s)", session_id, error)
    finally:
        log.close()
    return stored


def _hint(store_root: str, session_id: str, state: CaptureState) -> None:
    """Name the session for the next reader's index catch-up (unindexed.py)."""
    try:
        unindexed.note(store_root, session_id)
        state.hinted = time.time()
    except (OSError, StoreError) as error:  # a hint: the sweep finds the session anyway
        warn("session %s: not named for the index (%s)", session_id, error)


def _replace_lone_surrogates(payload: dict) -> None:
    """Put U+FFFD in place of each lone surrogate in the payload's strings
    (keys too). A JavaScript agent cuts a string by UTF-16 unit and writes
    a half of a cut pair as an escape: valid JSON, but no line can hold it
    as UTF-8, and one odd character must not cost the hook call."""
    def fixed(text: str) -> str:
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in text)
        return text
    pending: list = [payload]
    while pending:
        item = pending.pop()
        pairs = list(item.items()) if isinstance(item, dict) else enumerate(item)
        if isinstance(item, dict):
            item.clear()
        for key, value in pairs:
            if isinstance(value, str):
                value = fixed(value)
            elif isinstance(value, (dict, list)):
                pending.append(value)
            item[fixed(key) if isinstance(key, str) else key] = value


def hook_root(cwd: object, explicit: str | os.PathLike | None) -> str:
    """The store for a hook: `explicit` (--root or $TREESHIP_STORE_ROOT), else
    the nearest .treeship at or above the payload's cwd, else cwd/.treeship."""
    if explicit:
        return os.fspath(explicit)
    here = cwd if isinstance(cwd, str) and os.path.isabs(cwd) and os.path.isdir(cwd) else os.getcwd()
    return nearest_store(here) or os.path.join(os.path.normpath(here), ".treeship")
