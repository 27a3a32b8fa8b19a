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

import os
import time

from .. import jsoncodec
from ..redact import caseless, redact
from .transcript import TranscriptMark, new_lines

TYPE_CHECKING = False  # this module is on a hook's path: only what a payload needs is imported
if TYPE_CHECKING:
    from collections.abc import Callable

    from .state import CaptureState

FILE_WRITERS = {"Write", "Edit", "MultiEdit", "NotebookEdit"}
MAX_COMMAND = 16 << 10  # characters of a command kept, after redaction
MAX_TEXT = 4000  # characters of a prompt or an answer kept (`--with-text`), after redaction
_ID_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")
_CODE_KEYS = ("exit_code", "exitCode", "returncode", "code")


_NAME_START = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")
_NAME_CHARS = _NAME_START | frozenset("0123456789")


def is_assignment(word: str) -> bool:
    """Whether a shell word is NAME=value (FOO=bar cmd: the process is cmd), as
    [A-Za-z_][A-Za-z0-9_]*= matches it, read without `re`."""
    name, equals, _ = word.partition("=")
    return bool(equals and name and name[0] in _NAME_START and _NAME_CHARS.issuperset(name))


def exit_code_in(text: str) -> int | None:
    """N of the first line "Exit code N" or "Exit code: N" (any case, leading
    blanks) in the first 4,000 characters of `text`: how the agents report a
    command's end in text (Claude Code's failure message, Codex's tool
    output). Read without `re` (a hook's cold start), as the pattern
    (?im)^\\s*exit code:?\\s*(-?\\d{1,4})\\b would."""
    for value in _after_label(text[:4000], "exit code", colon_required=False):
        digits = value[1:] if value.startswith("-") else value
        count = 0
        while count < len(digits) and digits[count].isdecimal():
            count += 1
        after = digits[count:count + 1]
        if 1 <= count and not (after.isalnum() or after == "_") and count <= 4:
            return int(value[:count + (value != digits)])
    return None


def wall_time_in(text: str) -> int | None:
    """Milliseconds of Codex's "Wall time: 0.4 seconds", as the pattern
    (?im)^\\s*wall time:\\s*([0-9.]+)\\s*s would read it."""
    for value in _after_label(text[:4000], "wall time", colon_required=True):
        number = value[:len(value) - len(value.lstrip("0123456789."))]
        if number and value[len(number):].lstrip().startswith("s"):
            try:
                return _ms(float(number))
            except ValueError:
                return None
    return None


def _after_label(text: str, label: str, *, colon_required: bool):
    """For each line starting (after blanks) with `label` in any case: the
    text after it and its colon, blanks (newlines too) skipped. Linear: the
    blank lines one skip crosses are not started from again."""
    start, size = 0, len(text)
    while True:
        at = start
        while at < size and text[at].isspace():
            at += 1
        if caseless(text[at:at + len(label)]) == label:  # as (?i) takes İ and ı for i
            rest = text[at + len(label):]
            if rest.startswith(":"):
                yield rest[1:].lstrip()
            elif not colon_required:
                yield rest.lstrip()
        newline = text.find("\n", at)
        if newline < 0:
            return
        start = newline + 1


class Agent:
    """What differs between the agents whose hooks we take."""

    def __init__(self, name: str, prefix: str, read_transcript: Callable[[list[bytes], TranscriptMark], list[dict]],
                 tool_event: Callable[[Context], list[dict] | None] | None = None,
                 results_in_transcript: bool = False):
        self.name = name  # agent_name, and the `hook` command's argument
        self.prefix = prefix  # of instance ids: ai_cc_..., ai_cx_...
        self.read_transcript = read_transcript
        self.tool_event = tool_event  # agent-specific tools, tried first
        # The transcript holds what a tool's payload lacks (Codex: exit codes),
        # so it is read at each tool call, not only at Stop.
        self.results_in_transcript = results_in_transcript
        self.agent_id = f"agent://{name}"


class Context:
    """One hook call: its payload, the session's state, who is acting."""

    def __init__(self, agent: Agent, payload: dict, state: CaptureState | None, host: str,
                 project: str | None = None):
        self.agent, self.payload, self.state, self.host = agent, payload, state, host
        self.project = project  # the directory holding the store: file paths are relative to it
        session = str(payload.get("session_id", ""))
        self.main = f"{agent.prefix}_{session.replace('-', '')[:12]}"
        sub = payload.get("agent_id")
        self.sub = f"{agent.prefix}_sub_{''.join(c if c in _ID_CHARS else '_' for c in sub[:64])}" \
            if isinstance(sub, str) and sub else None
        # Treeship 0.31 names a sub-agent "<agent_type>#<first 8 of its id>".
        self.sub_name = f"{_string(payload.get('agent_type')) or 'agent'}#{sub[:8]}" if self.sub else None
        self.source = f"treeship-store hook {agent.name}"
        self.command_result: list | None = None  # [exit code, duration ms] from the transcript
        self.tool_fields: list[dict] = []  # a tool call's events, worked out before the lock
        # How a transcript's new lines are read from a mark: from the file, or
        # (an import, history.py) from what was read of it before the lock.
        self.read_lines: Callable[[str, TranscriptMark], list[bytes]] = new_lines
        self.with_text = False  # keep prompts and answers (`--with-text`): text_note

    def event(self, event_type: str, *, instance: str | None = None, role: str | None = None, meta=None,
              **fields) -> dict:
        """An event by `instance` (default: whoever the hook runs in)."""
        instance = instance or self.sub or self.main
        name = self.agent.name
        if instance == self.sub:
            name = self.sub_name
            role = role or _string(self.payload.get("agent_type"))
        elif instance != self.main:  # another's (a sub-agent's responses read at the main Stop): as it started
            known, known_role = self.state.instances.get(instance) or (None, None)
            name, role = _string(known) or name, role or _string(known_role)
        meta = {key: value for key, value in {"source": self.source, **(meta or {})}.items() if value is not None}
        event = {"type": event_type, "agent_id": self.agent.agent_id, "agent_name": name,
                 "agent_instance_id": instance, "agent_role": role, "host_id": self.host, **fields, "meta": meta}
        return {key: value for key, value in event.items() if value is not None}

    def decisions(self, path: object, instance: str, take: str | None = None) -> list[dict]:
        """The responses in a transcript since it was last read, as decisions
        by `instance`; the last carries the new mark. Advances the state's mark
        even when there is none to record. `take`: the tool call whose result
        (Codex: exit code, duration) to take into command_result."""
        if not isinstance(path, str) or not path:
            return []
        mark = self.state.transcripts.get(path) or TranscriptMark()
        mark.instance = instance
        found = self.agent.read_transcript(self.read_lines(path, mark), mark)
        self.state.transcripts[path] = mark
        if take is not None:
            self.command_result = mark.commands.pop(take, None)
        events = [self.event(d.pop("type"), instance=instance, meta=d.pop("meta", None), **d) for d in found]
        if events:
            events[-1]["meta"]["transcript"] = mark.as_meta(path)
        return events

    def all_decisions(self) -> list[dict]:
        """The main transcript's new responses, and those its sub-agents'
        transcripts gained since their SubagentStop read them: an agent may
        still be writing its last line while that hook runs."""
        main = self.payload.get("transcript_path")
        events = self.decisions(main, self.main)
        for path, mark in list(self.state.transcripts.items()):
            if path != main and mark.instance and mark.instance != self.main:
                try:
                    events += self.decisions(path, mark.instance)
                except FileNotFoundError:
                    pass  # a sub-agent's transcript removed since: nothing more to count
        return events

    def path(self, value: object) -> str | None:
        """A file path as stored, one rule for every agent: relative to the
        project (the directory holding the store) when inside it, else
        absolute. Codex reports paths relative to its working directory,
        Claude Code absolute ones: the same file is one path either way."""
        path = _string(value)
        if path is None:
            return None
        cwd = self.payload.get("cwd")
        if not os.path.isabs(path) and isinstance(cwd, str) and os.path.isabs(cwd):
            path = os.path.join(cwd, path)
        if not os.path.isabs(path) or self.project is None:
            return path
        path = os.path.normpath(path)
        inside = os.path.relpath(path, self.project) if path.startswith(self.project.rstrip("/") + "/") else None
        return inside if inside and not inside.startswith("..") else path


def prepare(agent: Agent, payload: dict, host: str, project: str | None = None) -> Context:
    """What a hook call can work out before it takes the session's lock: a
    tool call's fields, redacted and digested (the work that grows with the
    payload), so that the lock is held only to read the state and append."""
    ctx = Context(agent, payload, None, host, project)
    hook = payload.get("hook_event_name")
    if hook in ("PostToolUse", "PostToolUseFailure"):
        ctx.tool_fields = _tool(ctx, failed=hook == "PostToolUseFailure")
    return ctx


def events_for(ctx: Context, state: CaptureState) -> list[dict]:
    """The events one hook call stands for (possibly none), under the
    session's lock. A session whose start was not seen (hooks installed
    mid-session) gets its session.started from the first hook that records
    anything, so every session has one; a session resumed after it closed
    gets its main agent started again."""
    ctx.state = state
    payload = ctx.payload
    hook = payload.get("hook_event_name")
    if hook == "SessionStart":
        return session_start(ctx)
    if hook in ("PostToolUse", "PostToolUseFailure"):
        if _string(payload.get("tool_use_id")) in state.imported_calls:
            return []  # an import running meanwhile stored this call from the transcript
        events = tool_events(ctx)
    elif hook == "SubagentStart":
        events = subagent_started(ctx)
    elif hook == "SubagentStop" and ctx.sub:
        started = [] if ctx.sub in state.instances else subagent_started(ctx)
        events = started + ctx.decisions(payload.get("agent_transcript_path"), ctx.sub) + [
            ctx.event("agent.completed", termination_reason="completed")]
    elif hook == "Stop":
        events = ctx.all_decisions() + text_note(ctx, "answer", payload.get("last_assistant_message"))
    elif hook == "UserPromptSubmit":
        events = text_note(ctx, "prompt", payload.get("prompt"))
    elif hook == "SessionEnd":
        reason = _string(payload.get("reason")) or "ended"
        events = ctx.all_decisions() + [
            ctx.event("agent.completed", instance=ctx.main, termination_reason=reason),
            ctx.event("session.closed", instance=ctx.main, summary=reason, duration_ms=_since(state.first_time))]
    else:
        events = []  # Notification, PreCompact...: nothing to record
    return session_start(ctx) + events if events else []


def text_note(ctx: Context, kind: str, text: object) -> list[dict]:
    """With `--with-text` only: the user's prompt or the agent's last answer of
    a turn, redacted as commands are and cut at MAX_TEXT characters, as an
    agent.note (Treeship 0.31 keeps a note's text in meta.text) with the
    agent's id of the turn. The search finds it like any event's text."""
    text = _string(text)
    if not ctx.with_text or not text or not text.strip():
        return []
    kept = redact(text[:MAX_TEXT * 4])  # redacted before the cut: no secret is kept half
    turn = _string(ctx.payload.get("prompt_id")) or _string(ctx.payload.get("turn_id"))
    return [ctx.event("agent.note", instance=ctx.main,
                      meta={"kind": kind, "text": kept[:MAX_TEXT], "turn": turn, "cut": len(kept) > MAX_TEXT or None})]


def session_start(ctx: Context) -> list[dict]:
    """session.started and the main agent's agent.started, once per session:
    a resumed session goes on, its main agent started again if it had closed."""
    how = _string(ctx.payload.get("source"))
    model = _string(ctx.payload.get("model"))
    if ctx.state.closed:
        return [ctx.event("agent.started", instance=ctx.main, meta={"how": how})]
    if ctx.state.started:
        return []
    return [ctx.event("session.started", instance=ctx.main, meta={"how": how, "model": model}),
            ctx.event("agent.started", instance=ctx.main)]


def subagent_started(ctx: Context) -> list[dict]:
    if not ctx.sub:
        return []
    reason = _string(ctx.payload.get("agent_type"))
    return [ctx.event("agent.spawned", spawned_by_agent_instance_id=ctx.main, reason=reason),
            ctx.event("agent.started", parent_agent_instance_id=ctx.main)]


def _tool(ctx: Context, *, failed: bool) -> list[dict]:
    """The fields of the events a tool call stands for, meta merged in."""
    payload = ctx.payload
    name = _string(payload.get("tool_name")) or "unknown"
    tool_input = payload.get("tool_input") if isinstance(payload.get("tool_input"), dict) else {}
    response = payload.get("tool_response")
    error = _string(payload.get("error")) if failed else None
    tool_use_id = _string(payload.get("tool_use_id"))
    meta = {"tool_use_id": tool_use_id, "tool": name}
    if failed:
        meta.update(failed=True, error=redact(error)[:2000] if error else None)
    duration = _within(payload.get("duration_ms"), 0)
    specific = ctx.agent.tool_event(ctx) if ctx.agent.tool_event else None
    if specific is None:
        specific = _common_tool(ctx, name, tool_input, response, error, failed, duration)
    found = specific if isinstance(specific, list) else [specific]
    return [{**fields, "meta": {**meta, **fields.get("meta", {})}} for fields in found]


def tool_events(ctx: Context) -> list[dict]:
    """A tool call's events, under the lock: for an agent whose transcript
    holds what the payload lacks (Codex), first the responses since the last
    read, and this call's exit code and duration from it."""
    before = []
    if ctx.agent.results_in_transcript:
        tool_use_id = _string(ctx.payload.get("tool_use_id"))
        before = ctx.decisions(ctx.payload.get("transcript_path"), ctx.sub or ctx.main, take=tool_use_id)
    events = []
    for fields in ctx.tool_fields:
        fields = dict(fields)
        if ctx.command_result is not None and fields["type"] == "agent.completed_process":
            code, duration = ctx.command_result  # what the agent itself recorded wins
            fields["exit_code"] = code if code is not None else fields.get("exit_code")
            fields["duration_ms"] = fields.get("duration_ms") if fields.get("duration_ms") is not None else duration
        events.append(ctx.event(fields.pop("type"), meta=fields.pop("meta"), **fields))
    return before + events


def _common_tool(ctx: Context, name: str, tool_input: dict, response: object, error: str | None, failed: bool,
                 duration: int | None) -> dict | list[dict]:
    if name == "Read" and _string(tool_input.get("file_path")):
        return {"type": "agent.read_file", "file_path": ctx.path(tool_input["file_path"])}
    path = ctx.path(tool_input.get("file_path") or tool_input.get("notebook_path"))
    if name in FILE_WRITERS and path:
        return {"type": "agent.wrote_file", "file_path": path, **file_changes(name, tool_input, response)}
    if name == "Bash":
        return [process_event(tool_input.get("command"), response, error, failed, duration),
                *bash_edits(ctx, response)]
    if name in ("WebFetch", "WebSearch"):
        return network_event(name, tool_input)
    called = {"type": "agent.called_tool", "tool_name": name, "duration_ms": duration,
              "tool_input_digest": digest(tool_input), "tool_output_digest": digest(response)}
    if name in ("Agent", "Task") and isinstance(response, dict):  # which sub-agent, run how
        called["meta"] = {"agent_id": _string(response.get("agentId")), "status": _string(response.get("status"))}
    return called


def process_event(command: object, response: object, error: str | None, failed: bool,
                  duration: int | None) -> dict:
    """agent.completed_process for a shell command and what came back.

    The exit code, in order: one the response names, "Exit code N" in a
    failure's text or an output (1 for a failure without a code), and 0 for a
    command Claude Code reports as completed, not interrupted, with no
    reading of its own of the code (`returnCodeInterpretation`, as for `grep`
    finding nothing: that code is not told, so none is stored). The one a
    transcript recorded (Codex) replaces these, under the lock."""
    text = " ".join(command) if isinstance(command, list) and all(isinstance(c, str) for c in command) \
        else _string(command) or ""
    exit_code = reading = None
    named = isinstance(response, dict) and any(key in response for key in _CODE_KEYS)
    if isinstance(response, dict):
        for key in _CODE_KEYS:
            if exit_code is None and (exit_code := _within(response.get(key), -(2**63))) is not None:
                break
        duration = duration if duration is not None else _ms(response.get("duration_seconds"))
        reading = _string(response.get("returnCodeInterpretation"))
    output = response if isinstance(response, str) else (error or "")
    if exit_code is None and output:
        exit_code = exit_code_in(output)
    if duration is None and isinstance(response, str):
        duration = wall_time_in(response)
    interrupted = isinstance(response, dict) and response.get("interrupted") is True
    if exit_code is None and (failed or interrupted):
        exit_code = 1  # the agent reports a failure without a code
    elif exit_code is None and isinstance(response, dict) and not named and not reading:
        exit_code = 0  # completed, not interrupted, not a failure: Claude Code says no more
    words = [word for word in text.split() if not is_assignment(word)]
    process = words[0].rsplit("/", 1)[-1] if words else "shell"
    command = redact(text)
    if len(command) > MAX_COMMAND:
        command = command[:MAX_COMMAND] + "…"
    event = {"type": "agent.completed_process", "process_name": redact(process)[:200], "command": command,
             "exit_code": exit_code, "duration_ms": duration}
    if reading:
        event["meta"] = {"exit_code_reading": redact(reading)[:200]}
    return event


def bash_edits(ctx: Context, response: object) -> list[dict]:
    """agent.wrote_file for each file a Bash command changed, as Claude Code
    reports them (`bashEditDiff`: the changed paths, and hunks for the first
    ones); empty when it does not."""
    diff = response.get("bashEditDiff") if isinstance(response, dict) else None
    if not isinstance(diff, dict) or not isinstance(diff.get("changedFiles"), list):
        return []
    details = {entry.get("filePath"): entry for entry in diff.get("files") or () if isinstance(entry, dict)}
    edits = []
    for changed in diff["changedFiles"][:1000]:
        path = ctx.path(changed)
        if path is None:
            continue
        entry = details.get(changed) or {}
        operation = "created" if entry.get("created") is True else \
            "deleted" if entry.get("deleted") is True else "modified"
        edit = {"type": "agent.wrote_file", "file_path": path, "operation": operation}
        if isinstance(entry.get("hunks"), list):
            edit.update(_hunk_counts(entry["hunks"]))
        edits.append(edit)
    return edits


def network_event(name: str, tool_input: dict) -> dict:
    url = _string(tool_input.get("url"))
    if name == "WebFetch" and url:
        from urllib.parse import urlsplit  # noqa: PLC0415 - only for a fetch
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
        added, removed = _hunk_counts(patch).values()
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


def _hunk_counts(hunks: list) -> dict:
    lines = [line for hunk in hunks if isinstance(hunk, dict) for line in hunk.get("lines") or ()
             if isinstance(line, str)]
    return {"additions": sum(line.startswith("+") for line in lines),
            "deletions": sum(line.startswith("-") for line in lines)}


def digest(value: object) -> str | None:
    """sha256 of a JSON value (keys sorted), so equal inputs compare equal."""
    if value is None:
        return None
    import hashlib  # noqa: PLC0415 - only for the tools kept as digests
    try:
        data = jsoncodec.dumps(value, sort_keys=True)
    except (TypeError, ValueError):
        data = repr(value).encode()
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _since(first_time: str | None) -> int | None:
    """Milliseconds from `first_time` to now: a session's duration."""
    from ..times import parse_time  # noqa: PLC0415 - only at a session's end
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
