"""What Claude Code and Codex already recorded, read back as the hook calls
their hooks would have made (`treeship-store import`; replay.py writes them).

Claude Code keeps a transcript per session (`projects/<dir>/<session>.jsonl`,
its sub-agents' in `<session>/subagents/agent-<id>.jsonl`): a tool call is
an assistant line's tool_use block, its result a later user line's
tool_result block (with the result object the hook gets as tool_response in
`toolUseResult`). Codex keeps a rollout per session
(`sessions/YYYY/MM/DD/rollout-*.jsonl`): a call is a function_call or
custom_tool_call item, its result the *_output item with the same call id.
Each becomes the PostToolUse payload the hook would have had, stamped with
the time of the result's line, so that the same mapping (mapping.py) makes
the same events. Tokens are read from the same lines as the hooks read them
(transcript.py).

A file is read once, whole, up to its last complete line, without following
a symlink; a line that is not a JSON object is counted and passed over.
"""

from __future__ import annotations

import bisect
import errno
import glob
import hashlib
import os
import stat
from dataclasses import dataclass, field

import orjson

from ..event import is_rfc3339, parse_time

CLAUDE_SUBAGENTS = "subagents"


class Transcript:
    """One of an agent's files as read: its complete lines, and where each ends."""

    def __init__(self, path: str, data: bytes):
        self.path, self.size = path, len(data)
        self.sha256 = hashlib.sha256(data).hexdigest()
        self.lines = data.split(b"\n")[:-1]
        self.ends, end = [], 0
        for line in self.lines:
            end += len(line) + 1
            self.ends.append(end)
        self.bad_lines = 0

    def records(self):
        """(line index, the line's JSON object) of every line that holds one."""
        for number, line in enumerate(self.lines):
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError:
                record = None
            if isinstance(record, dict):
                yield number, record
            elif line.strip():
                self.bad_lines += 1

    def lines_after(self, offset: int, through: int) -> tuple[list[bytes], int]:
        """The lines after byte `offset` up to line `through` (included), and
        the offset after them: what a hook would have read from that mark."""
        first = bisect.bisect_right(self.ends, offset)
        if first > through:
            return [], offset
        return self.lines[first:through + 1], self.ends[through]


@dataclass(order=True)
class Step:
    """A hook call as its agent would have made it: when, and which line of
    which transcript the agent had written by then."""
    micros: int
    order: int
    at: str = field(compare=False)
    path: str = field(compare=False)
    line: int = field(compare=False)
    payload: dict = field(compare=False)


@dataclass
class Session:
    """One session's records, read: its transcripts and the hook calls they hold."""
    agent: str
    session_id: str
    cwd: str | None
    transcripts: dict[str, Transcript]
    steps: list[Step]
    first: str | None = None
    last: str | None = None


def read_file(path: str, size: int | None = None) -> Transcript:
    """The file's complete lines (of its first `size` bytes, if given). A
    symlink, a FIFO or anything but a regular file is refused (OSError), as
    is a file that cannot be read."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise OSError(errno.ELOOP, "a symbolic link, not followed", path) from None
        raise
    with open(fd, "rb") as file:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", path)
        data = file.read() if size is None else file.read(size)
    return Transcript(path, data[:data.rfind(b"\n") + 1])


def imported_from(meta: object) -> dict[str, tuple]:
    """{path: (size, sha256)} an import's last event says it read (replay.py)."""
    entries = meta.get("imported") if isinstance(meta, dict) else None
    return {entry["path"]: (entry.get("size"), entry.get("sha256")) for entry in entries
            if isinstance(entry, dict) and isinstance(entry.get("path"), str)} if isinstance(entries, list) else {}


def changed_since_import(path: str, size: object, sha256: object) -> str | None:
    """How a file differs from what an import read of it (its first `size`
    bytes, their SHA-256), or None: it is the same, grown or not, or gone
    (agents delete old sessions; the store keeps what was imported)."""
    try:
        read = read_file(path, size if type(size) is int and size >= 0 else 0)
    except FileNotFoundError:
        return None
    except OSError as error:
        return f"cannot be read ({error.strerror or error})"
    if read.size != size or read.sha256 != sha256:
        return f"changed within the {size} bytes imported"
    return None


class _Steps:
    """Steps in the order the agent made them; time, then the order found."""

    def __init__(self, base: dict):
        self.base, self.steps, self.last = base, [], None

    def add(self, at: object, transcript: Transcript, line: int, hook: str, **fields) -> None:
        if isinstance(at, str) and is_rfc3339(at):
            self.last = at
        if self.last is None:
            return  # no time known yet: a hook call cannot be placed
        self.steps.append(Step(parse_time(self.last), len(self.steps), self.last, transcript.path, line,
                               {**self.base, "hook_event_name": hook, **fields}))


def claude_session(path: str) -> Session:
    """A Claude Code session from its transcript and its sub-agents'."""
    main = read_file(path)
    records = list(main.records())
    name = os.path.basename(path)
    named = next((r["sessionId"] for _, r in records if isinstance(r.get("sessionId"), str)), None)
    session_id = name[:-len(".jsonl")] if name.endswith(".jsonl") else named or name  # a copy may be renamed
    cwd = next((r["cwd"] for _, r in records if isinstance(r.get("cwd"), str)), None)
    steps = _Steps({"session_id": session_id, "transcript_path": path, "cwd": cwd})
    transcripts = {path: main}
    if records:
        steps.add(_first_time(records), main, 0, "SessionStart", source="startup")
    agent_types: dict[str, str] = {}
    _claude_tools(main, records, steps, {}, agent_types)
    for sub_path in sorted(glob.glob(os.path.join(glob.escape(path[:-len(".jsonl")]), CLAUDE_SUBAGENTS,
                                                  "agent-*.jsonl"))):
        sub = read_file(sub_path)
        sub_records = list(sub.records())
        if not sub_records:
            continue
        agent_id = os.path.basename(sub_path)[len("agent-"):-len(".jsonl")]
        who = {"agent_id": agent_id, "agent_type": agent_types.get(agent_id) or "agent"}
        transcripts[sub_path] = sub
        steps.add(_first_time(sub_records), sub, 0, "SubagentStart", **who)
        _claude_tools(sub, sub_records, steps, who, agent_types)
        steps.add(_last_time(sub_records), sub, len(sub.lines) - 1, "SubagentStop", agent_transcript_path=sub_path,
                  **who)
    return _session("claude-code", session_id, cwd, transcripts, steps, records)


def _claude_tools(transcript: Transcript, records: list, steps: _Steps, who: dict, agent_types: dict) -> None:
    """The tool calls of one transcript; of the main one also each turn's
    prompt (UserPromptSubmit) and last answer (Stop), which keep text only
    with --with-text."""
    calls: dict[str, tuple] = {}
    answer = turn = None  # (line, text, time, turn) of the turn's latest assistant text; the turn's id
    for number, record in records:
        message = record.get("message")
        content = message.get("content") if isinstance(message, dict) else None
        kind = record.get("type")
        prompt = content if isinstance(content, str) else _text(content) if isinstance(content, list) and not any(
            isinstance(b, dict) and b.get("type") == "tool_result" for b in content) else None
        if not who and kind == "user" and prompt and record.get("isMeta") is not True:
            if answer:
                steps.add(answer[2], transcript, answer[0], "Stop", last_assistant_message=answer[1],
                          prompt_id=answer[3])
            answer, turn = None, _string(record.get("promptId"))
            steps.add(record.get("timestamp"), transcript, number, "UserPromptSubmit", prompt=prompt, prompt_id=turn)
        if not isinstance(content, list):
            continue
        blocks = [block for block in content if isinstance(block, dict)]
        if kind == "assistant":
            for block in blocks:
                if block.get("type") == "tool_use" and isinstance(block.get("id"), str):
                    calls[block["id"]] = (block.get("name"), block.get("input"))
            said = _text([block for block in blocks if block.get("type") == "text"])
            if said and not who:
                answer = (number, said, record.get("timestamp"), turn)
            continue
        results = [block for block in blocks if block.get("type") == "tool_result"]
        for block in results:
            if not isinstance(block.get("tool_use_id"), str):
                continue  # an id no call has
            name, tool_input = calls.pop(block["tool_use_id"], (None, None))
            if name is None:
                continue  # its call is not in this transcript (cut, or compacted away)
            result = record.get("toolUseResult") if len(results) == 1 else None
            fields = dict(who, tool_name=name, tool_input=tool_input, tool_use_id=block["tool_use_id"])
            if block.get("is_error") is True:
                steps.add(record.get("timestamp"), transcript, number, "PostToolUseFailure",
                          error=_text(block.get("content")), **fields)
                continue
            if isinstance(result, dict) and name in ("Agent", "Task") and isinstance(result.get("agentId"), str):
                given = tool_input.get("subagent_type") if isinstance(tool_input, dict) else None
                agent_types[result["agentId"]] = result.get("agentType") or given
            steps.add(record.get("timestamp"), transcript, number, "PostToolUse",
                      tool_response=_text(block.get("content")) if result is None else result, **fields)
    if answer:
        steps.add(answer[2], transcript, answer[0], "Stop", last_assistant_message=answer[1], prompt_id=answer[3])


def codex_session(path: str) -> Session:
    """A Codex session from its rollout."""
    rollout = read_file(path)
    records = list(rollout.records())
    meta = next((r["payload"] for _, r in records if r.get("type") == "session_meta"
                 and isinstance(r.get("payload"), dict)), {})
    # rollout-<time>-<session uuid>.jsonl, if session_meta does not say
    session_id = meta.get("id") if isinstance(meta.get("id"), str) else os.path.basename(path)[:-len(".jsonl")][-36:]
    cwd = meta.get("cwd") if isinstance(meta.get("cwd"), str) else None
    model = next((r["payload"].get("model") for _, r in records if r.get("type") == "turn_context"
                  and isinstance(r.get("payload"), dict)), None)
    steps = _Steps({"session_id": session_id, "transcript_path": path, "cwd": cwd})
    if records:
        steps.add(_first_time(records), rollout, 0, "SessionStart", source="startup", model=model)
    calls: dict[str, tuple] = {}
    for number, record in records:
        item = record.get("payload")
        if record.get("type") == "event_msg" and isinstance(item, dict):
            _codex_turn(item, steps, rollout, number, record.get("timestamp"))
        if record.get("type") != "response_item" or not isinstance(item, dict) or not isinstance(
                item.get("call_id"), str):
            continue
        kind = item.get("type")
        if kind in ("function_call", "custom_tool_call"):
            calls[item["call_id"]] = _codex_call(item)
        elif kind in ("function_call_output", "custom_tool_call_output") and item["call_id"] in calls:
            name, tool_input = calls.pop(item["call_id"])
            output = item.get("output")
            output = output if isinstance(output, str) else _text(output)
            if name == "Bash":  # the hook gets the command's output alone
                output = output.partition("\nOutput:\n")[2] if "\nOutput:\n" in output else output
            steps.add(record.get("timestamp"), rollout, number, "PostToolUse", tool_name=name,
                      tool_input=tool_input, tool_response=output, tool_use_id=item["call_id"])
    return _session("codex", session_id, cwd, {path: rollout}, steps, records)


def _codex_turn(item: dict, steps: _Steps, rollout: Transcript, number: int, at: object) -> None:
    """A turn's prompt (the user message item) and its last answer (task_complete)."""
    turn = _string(item.get("turn_id"))
    message = item.get("item") if item.get("type") == "item_completed" else None
    if isinstance(message, dict) and message.get("type") == "UserMessage":
        steps.add(at, rollout, number, "UserPromptSubmit", prompt=_text(message.get("content")), turn_id=turn)
    elif item.get("type") == "task_complete" and isinstance(item.get("last_agent_message"), str):
        steps.add(at, rollout, number, "Stop", last_assistant_message=item["last_agent_message"], turn_id=turn)


def _codex_call(item: dict) -> tuple[str, object]:
    """(tool name, tool input) as Codex's hook names them."""
    name = item.get("name") if isinstance(item.get("name"), str) else "unknown"
    if item.get("type") == "custom_tool_call":
        return name, {"command": item.get("input")} if name == "apply_patch" else item.get("input")
    try:
        arguments = orjson.loads(item["arguments"]) if isinstance(item.get("arguments"), str) else {}
    except orjson.JSONDecodeError:
        arguments = {}
    if name in ("exec_command", "shell", "local_shell") and isinstance(arguments, dict):
        command = arguments.get("cmd", arguments.get("command"))
        return "Bash", {"command": command}
    return name, arguments


def _session(agent: str, session_id: str, cwd: str | None, transcripts: dict, steps: _Steps, records: list) -> Session:
    ordered = sorted(steps.steps)
    return Session(agent, session_id, cwd, transcripts, ordered, _first_time(records), _last_time(records))


def _first_time(records: list) -> str | None:
    return next((r["timestamp"] for _, r in records if _is_time(r.get("timestamp"))), None)


def _last_time(records: list) -> str | None:
    return next((r["timestamp"] for _, r in reversed(records) if _is_time(r.get("timestamp"))), None)


def _string(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _is_time(value: object) -> bool:
    return isinstance(value, str) and is_rfc3339(value)


def _text(content: object) -> str:
    """A tool result's content as text: a string, or its text blocks joined."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(block["text"] for block in content
                         if isinstance(block, dict) and isinstance(block.get("text"), str))
    return ""


def find_files(agent: str, path: str | None = None) -> list[str]:
    """The session files of `agent` under its home ($CLAUDE_CONFIG_DIR or
    ~/.claude: projects/; $CODEX_HOME or ~/.codex: sessions/ and
    archived_sessions/), or under `path` (a copied directory, or one file).
    Sub-agents' transcripts are read with their session's, never as
    sessions of their own."""
    if path is not None and not os.path.isdir(path):
        return [path]
    if path is not None:
        places = [path]
    elif agent == "claude-code":
        places = [os.path.join(os.environ.get("CLAUDE_CONFIG_DIR") or os.path.expanduser("~/.claude"), "projects")]
    else:
        home = os.environ.get("CODEX_HOME") or os.path.expanduser("~/.codex")
        places = [os.path.join(home, "sessions"), os.path.join(home, "archived_sessions")]
    found = []
    for place in places:
        for directory, subdirectories, names in os.walk(place):  # symlinked directories not followed: no loops
            subdirectories[:] = [name for name in subdirectories if name != CLAUDE_SUBAGENTS]
            found += [os.path.join(directory, name) for name in names if name.endswith(".jsonl")
                      and (agent != "codex" or name.startswith("rollout-"))]
    return sorted(found)
