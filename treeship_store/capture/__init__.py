"""Capture: coding agents' hook payloads in, events in the store out.

`run_hook` is what `treeship-store hook <agent>` runs, once per hook call:
it parses the payload, finds the store from the payload's cwd, works out a
tool call's events (redacting them) before it takes the session's lock, and
under the lock loads what it needs to know (state.py), reads the
transcripts from their marks (mapping.py) and appends, all or nothing.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import orjson

from ..errors import StoreError, ValidationError
from ..event import Event, check_session_id
from ..store import Store
from .claude_code import CLAUDE_CODE
from .codex import CODEX
from .mapping import Agent, events_for, prepare
from .state import CaptureState

logger = logging.getLogger("treeship_store")

AGENTS: dict[str, Agent] = {agent.name: agent for agent in (CLAUDE_CODE, CODEX)}
# A peer wedged while holding the session's lock must not stall the agent for
# its whole hook timeout (60 s in Claude Code): give up after this, write nothing.
HOOK_LOCK_TIMEOUT = 5.0


def agent_named(name: str) -> Agent:
    agent = AGENTS.get(name)
    if agent is None:
        raise ValidationError(f"unknown agent {name!r}: use {' or '.join(AGENTS)}")
    return agent


def run_hook(agent_name: str, data: bytes, *, root: str | os.PathLike | None = None,
             lock_timeout: float = HOOK_LOCK_TIMEOUT) -> list[Event]:
    """Append the events one hook payload stands for; return them as stored."""
    agent = agent_named(agent_name)
    try:
        payload = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        raise ValidationError(f"the hook payload is not JSON: {error}") from None
    if not isinstance(payload, dict):
        raise ValidationError("the hook payload is not a JSON object")
    session_id = check_session_id(payload.get("session_id"))
    host = os.environ.get("TREESHIP_HOST_ID") or os.uname().nodename or "unknown-host"
    store_root = hook_root(payload.get("cwd"), root)
    ctx = prepare(agent, payload, host, os.path.dirname(os.path.abspath(store_root)))  # before the lock
    with Store(store_root, lock_timeout=lock_timeout) as store:
        with store.writing(session_id) as writer:
            state = CaptureState.load(writer)
            try:
                events = events_for(ctx, state)
            except OSError as error:  # the transcript: nothing is written
                raise StoreError(f"cannot read {error.filename or 'the transcript'}: "
                                 f"{error.strerror or error}; nothing was recorded") from None
            stored = writer.append_many(events)
            for event in stored:  # the state is the record's fold, ours included
                state.fold(event.raw)
            try:
                state.save(writer)
            except (OSError, StoreError) as error:  # a cache: the next hook folds the record instead
                logger.warning("session %s: capture state not cached (%s)", session_id, error)
    return stored


def hook_root(cwd: object, explicit: str | os.PathLike | None) -> Path:
    """The store for a hook: `explicit` (--root or $TREESHIP_STORE_ROOT), else
    the nearest .treeship at or above the payload's cwd, else cwd/.treeship."""
    if explicit:
        return Path(explicit)
    here = Path(cwd) if isinstance(cwd, str) and os.path.isabs(cwd) and os.path.isdir(cwd) else Path.cwd()
    for directory in (here, *here.parents):
        if (directory / ".treeship").is_dir():
            return directory / ".treeship"
    return here / ".treeship"
