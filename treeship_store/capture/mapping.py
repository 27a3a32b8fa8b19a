"""Hook payload -> events: what each hook of a coding agent stands for.

Claude Code and Codex send the same hook names with mostly the same fields
(session_id, transcript_path, cwd, hook_event_name, tool_name, tool_input,
tool_response, tool_use_id, agent_id/agent_type inside sub-agents). The
mapping is shared; `Agent` holds what differs. Payloads differ between
versions, so every field is optional here: a missing or odd one gives a
less detailed event, never a failed hook.

Nothing from tool_input or tool_response is stored as such: commands, URLs
and messages pass through redact(), and inputs and outputs are kept as
sha256 digests only.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import orjson

from ..event import parse_time
from .redact import redact
from .state import CaptureState
from .transcript import TranscriptMark, new_lines

FILE_WRITERS = {"Write", "Edit", "MultiEdit", "NotebookEdit"}
# How the agents report a command's end in text: Claude Code's failure message
# ("Exit code 2\n..."), Codex's tool output ("Exit code: 1\nWall time: 0.4 seconds").
_EXIT_CODE = re.compile(r"(?im)^\s*exit code:?\s*(-?\d{1,4})\b")
_WALL_TIME = re.compile(r"(?im)^\s*wall time:\s*([0-9.]+)\s*s")
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
MAX_COMMAND = 16 << 10  # characters of a command kept, after redaction
_UNSAFE_ID = re.compile(r"[^A-Za-z0-9_.-]")


class Agent:
    """What differs between the agents whose hooks we take."""

    def __init__(self, name: str, prefix: str, read_transcript: Callable[[list[bytes], TranscriptMark], list[dict]],
                 tool_event: Callable[[dict, Callable], list[dict] | None] | None = None):
        self.name = name  # agent_name, and the `hook` command's argument
        self.prefix = prefix  # of instance ids: ai_cc_..., ai_cx_...
        self.read_transcript = read_transcript
        self.tool_event = tool_event  # agent-specific tools, tried first
        self.agent_id = f"agent://{name}"


class Context:
    """One hook call: its payload, the session's state, who is acting."""

    def __init__(self, agent: Agent, payload: dict, state: CaptureState, host: str):
        self.agent, self.payload, self.state, self.host = agent, payload, state, host
        session = str(payload.get("session_id", ""))
        self.main = f"{agent.prefix}_{session.replace('-', '')[:12]}"
        sub = payload.get("agent_id")
        self.sub = f"{agent.prefix}_sub_{_UNSAFE_ID.sub('_', sub)[:64]}" if isinstance(sub, str) and sub else None
        self.source = f"treeship-store hook {agent.name}"

    def event(self, event_type: str, *, instance: str | None = None, role: str | None = None, meta=None,
              **fields) -> dict:
        """An event by `instance` (default: whoever the hook runs in)."""
        instance = instance or self.sub or self.main
        if role is None and instance == self.sub:
            role = _string(self.payload.get("agent_type"))
        meta = {key: value for key, value in {"source": self.source, **(meta or {})}.items() if value is not None}
        event = {"type": event_type, "agent_id": self.agent.agent_id, "agent_name": self.agent.name,
                 "agent_instance_id": instance, "agent_role": role, "host_id": self.host, **fields, "meta": meta}
        return {key: value for key, value in event.items() if value is not None}

    def decisions(self, path: object, instance: str) -> list[dict]:
        """The responses in a transcript since it was last read, as decisions
        by `instance`; the last carries the new mark. Advances the state's mark
        even when there is none to record."""
        if not isinstance(path, str) or not path:
            return []
        mark = self.state.transcripts.get(path, TranscriptMark())
        lines, offset = new_lines(path, mark.offset)
        found = self.agent.read_transcript(lines, mark)
        mark.offset = offset
        self.state.transcripts[path] = mark
        events = [self.event(d.pop("type"), instance=instance, meta=d.pop("meta", None), **d) for d in found]
        if events:
            events[-1]["meta"]["transcript"] = mark.as_meta(path)
        return events


def events_for(agent: Agent, payload: dict, state: CaptureState, host: str) -> list[dict]:
    """The events one hook call stands for (possibly none). A session whose
    start was not seen (hooks installed mid-session) gets its session.started
    from the first hook that records anything, so every session has one."""
    ctx = Context(agent, payload, state, host)
    hook = payload.get("hook_event_name")
    if hook == "SessionStart":
        return _session_start(ctx)
    if hook in ("PostToolUse", "PostToolUseFailure"):
        events = _tool(ctx, failed=hook == "PostToolUseFailure")
    elif hook == "SubagentStart":
        events = _subagent_started(ctx)
    elif hook == "SubagentStop" and ctx.sub:
        started = [] if ctx.sub in state.instances else _subagent_started(ctx)
        events = started + ctx.decisions(payload.get("agent_transcript_path"), ctx.sub) + [
            ctx.event("agent.completed", termination_reason="completed")]
    elif hook == "Stop":
        events = ctx.decisions(payload.get("transcript_path"), ctx.main)
    elif hook == "SessionEnd":
        reason = _string(payload.get("reason")) or "ended"
        events = ctx.decisions(payload.get("transcript_path"), ctx.main) + [
            ctx.event("agent.completed", instance=ctx.main, termination_reason=reason),
            ctx.event("session.closed", instance=ctx.main, summary=reason, duration_ms=_since(state.first_time))]
    else:
        events = []  # UserPromptSubmit, Notification, PreCompact...: nothing to record
    return _session_start(ctx) + events if events else []


def _session_start(ctx: Context) -> list[dict]:
    """session.started and the main agent's agent.started, once per session:
    a resumed session goes on."""
    how = _string(ctx.payload.get("source"))
    if ctx.state.started:
        return []
    model = _string(ctx.payload.get("model"))
    return [ctx.event("session.started", instance=ctx.main, meta={"how": how, "model": model}),
            ctx.event("agent.started", instance=ctx.main)]


def _subagent_started(ctx: Context) -> list[dict]:
    if not ctx.sub:
        return []
    reason = _string(ctx.payload.get("agent_type"))
    return [ctx.event("agent.spawned", spawned_by_agent_instance_id=ctx.main, reason=reason),
            ctx.event("agent.started", parent_agent_instance_id=ctx.main)]


def _tool(ctx: Context, *, failed: bool) -> list[dict]:
    payload = ctx.payload
    name = _string(payload.get("tool_name")) or "unknown"
    tool_input = payload.get("tool_input") if isinstance(payload.get("tool_input"), dict) else {}
    response = payload.get("tool_response")
    error = _string(payload.get("error")) if failed else None
    meta = {"tool_use_id": _string(payload.get("tool_use_id")), "tool": name}
    if failed:
        meta.update(failed=True, error=redact(error)[:2000] if error else None)
    duration = _within(payload.get("duration_ms"), 0)
    specific = ctx.agent.tool_event(payload, ctx.event) if ctx.agent.tool_event else None
    if specific is None:
        specific = _common_tool(name, tool_input, response, error, failed, duration)
    found = specific if isinstance(specific, list) else [specific]
    return [ctx.event(fields.pop("type"), meta={**meta, **fields.pop("meta", {})}, **fields) for fields in found]


def _common_tool(name: str, tool_input: dict, response: object, error: str | None, failed: bool,
                 duration: int | None) -> dict:
    if name == "Read" and _string(tool_input.get("file_path")):
        return {"type": "agent.read_file", "file_path": tool_input["file_path"]}
    path = _string(tool_input.get("file_path")) or _string(tool_input.get("notebook_path"))
    if name in FILE_WRITERS and path:
        return {"type": "agent.wrote_file", "file_path": path, **file_changes(name, tool_input, response)}
    if name == "Bash":
        return process_event(tool_input.get("command"), response, error, failed, duration)
    if name in ("WebFetch", "WebSearch"):
        return network_event(name, tool_input)
    return {"type": "agent.called_tool", "tool_name": name, "duration_ms": duration,
            "tool_input_digest": digest(tool_input), "tool_output_digest": digest(response)}


def process_event(command: object, response: object, error: str | None, failed: bool,
                  duration: int | None) -> dict:
    """agent.completed_process for a shell command and what came back."""
    text = " ".join(command) if isinstance(command, list) and all(isinstance(c, str) for c in command) \
        else _string(command) or ""
    exit_code = None
    if isinstance(response, dict):
        for key in ("exit_code", "exitCode", "returncode", "code"):
            if (exit_code := _within(response.get(key), -(2**63))) is not None:
                break
        duration = duration if duration is not None else _ms(response.get("duration_seconds"))
    output = response if isinstance(response, str) else (error or "")
    if exit_code is None and (found := _EXIT_CODE.search(output[:4000])):
        exit_code = int(found.group(1))
    if duration is None and isinstance(response, str) and (wall := _WALL_TIME.search(response[:4000])):
        duration = _ms(float(wall.group(1)))
    if exit_code is None and (failed or (isinstance(response, dict) and response.get("interrupted") is True)):
        exit_code = 1  # the agent reports a failure without a code
    words = [word for word in text.split() if not _ASSIGNMENT.match(word)]  # FOO=bar cmd: the process is cmd
    process = words[0].rsplit("/", 1)[-1] if words else "shell"
    command = redact(text)
    if len(command) > MAX_COMMAND:
        command = command[:MAX_COMMAND] + "…"
    return {"type": "agent.completed_process", "process_name": redact(process)[:200], "command": command,
            "exit_code": exit_code, "duration_ms": duration}


def network_event(name: str, tool_input: dict) -> dict:
    url = _string(tool_input.get("url"))
    if name == "WebFetch" and url:
        try:
            parts = urlsplit(url)
            port = parts.port or {"https": 443, "http": 80}.get(parts.scheme)
        except ValueError:
            parts, port = None, None
        if parts and parts.hostname:
            return {"type": "agent.connected_network", "destination": parts.hostname, "port": port,
                    "meta": {"url": redact(url)}}
    query = _string(tool_input.get("query"))
    return {"type": "agent.connected_network", "destination": "web-search",
            "meta": {"query": redact(query) if query else None, "url": redact(url) if url else None}}


def file_changes(name: str, tool_input: dict, response: object) -> dict:
    """operation, additions and deletions of a file edit: from the patch the
    agent reports when there is one, else from the edit's own text."""
    response = response if isinstance(response, dict) else {}
    patch = response.get("structuredPatch")
    added = removed = None
    if isinstance(patch, list) and patch:
        lines = [line for hunk in patch if isinstance(hunk, dict) for line in hunk.get("lines") or ()
                 if isinstance(line, str)]
        added = sum(line.startswith("+") for line in lines)
        removed = sum(line.startswith("-") for line in lines)
    elif name == "Write" and isinstance(tool_input.get("content"), str):
        added, removed = _line_count(tool_input["content"]), _line_count(response.get("originalFile"))
    elif name in ("Edit", "MultiEdit"):
        edits = tool_input.get("edits") if name == "MultiEdit" else [tool_input]
        pairs = [(e.get("old_string"), e.get("new_string")) for e in edits or () if isinstance(e, dict)]
        added = sum(_line_count(new) for _, new in pairs)
        removed = sum(_line_count(old) for old, _ in pairs)
    if name == "Write":
        operation = "created" if response.get("type") == "create" else "modified"
    elif name == "NotebookEdit" and tool_input.get("edit_mode") == "delete":
        operation = "modified"  # a cell deleted; the notebook stays
    else:
        operation = "modified"
    return {"operation": operation, "additions": added, "deletions": removed}


def digest(value: object) -> str | None:
    """sha256 of a JSON value (keys sorted), so equal inputs compare equal."""
    if value is None:
        return None
    try:
        data = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except (TypeError, orjson.JSONEncodeError):
        data = repr(value).encode()
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _since(first_time: str | None) -> int | None:
    """Milliseconds from `first_time` to now: a session's duration."""
    try:
        return max(0, time.time_ns() // 1_000_000 - parse_time(first_time) // 1000) if first_time else None
    except ValueError:
        return None


def _within(value: object, low: int) -> int | None:
    """An integer the schema holds (from `low` to 2**63 - 1), else None: an
    odd value in a payload costs its field, never the hook call."""
    return value if type(value) is int and low <= value < 2**63 else None


def _ms(seconds: object) -> int | None:
    if type(seconds) in (int, float) and 0 <= seconds < 10**9:
        return int(seconds * 1000)
    return None


def _line_count(text: object) -> int:
    if not isinstance(text, str) or not text:
        return 0
    return text.count("\n") + (not text.endswith("\n"))


def _string(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
