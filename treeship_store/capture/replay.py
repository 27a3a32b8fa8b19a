"""`treeship-store import`: the hook calls history.py read back, replayed
through the hooks' own mapping into each session's record, exactly once.

Under the session's lock, as a hook: the record says what it holds already,
and only the rest is written, in one append (all of a session or nothing).
A tool call is recognised by the agent's own id (tool_use_id, call id), a
response by its message id, an agent's end by its instance; tokens are read
from each transcript's mark on, as the hooks read them, and the import
leaves the marks where it stopped on its last event (`meta.transcripts`),
so hooks that go on afterwards count nothing twice. Its last event also
says how far each file was imported (`meta.imported`: path, size, SHA-256
of what was read): verify reports a file that changed behind that point,
and a file imported whole before is not read again.
"""

from __future__ import annotations

import functools
import multiprocessing
import os
import time
from dataclasses import dataclass, field

from .. import jsoncodec
from ..errors import StoreError, ValidationError
from ..event import check_session_id, parse_time
from ..record.paths import nearest_store
from . import agent_named, record_events
from .history import Session, Transcript, claude_session, codex_session, imported_from
from .mapping import prepare, session_start, subagent_started, text_note, tool_events
from .state import IMPORTED_CALLS, CaptureState

IDLE_SECONDS = 3600  # a session whose last line is older than this is over: the import closes it
LOCK_TIMEOUT = 60.0
READERS = {"claude-code": claude_session, "codex": codex_session}


@dataclass
class ImportReport:
    files: int = 0
    bytes: int = 0
    sessions: int = 0  # sessions read
    changed: int = 0  # sessions that gained events
    events: int = 0  # events written
    bad_lines: int = 0  # lines that were not JSON objects, passed over
    problems: list[str] = field(default_factory=list)  # files or sessions left out, and why

    def add(self, other: ImportReport) -> None:
        for name in ("files", "bytes", "sessions", "changed", "events", "bad_lines"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.problems += other.problems


def import_history(agent: str, files: list[str], *, since_us: int | None = None, root: str | None = None,
                   progress=None, now: float | None = None, jobs: int | None = None,
                   with_text: bool = False) -> ImportReport:
    """Import the sessions in `files` (history.find_files), or only those
    active since `since_us`; `progress(bytes, what)` after each file. Files
    are read and their sessions written by `jobs` processes (default: one
    per core): each session is its own, under its own lock. `with_text`:
    keep each turn's prompt and answer too (mapping.text_note)."""
    agent_named(agent)  # the one-line error for an unknown agent
    host = os.environ.get("TREESHIP_HOST_ID") or os.uname().nodename or "unknown-host"
    one = functools.partial(import_file, agent, since_us=since_us, root=root, host=host, now=now,
                            with_text=with_text)
    jobs = min(jobs or os.cpu_count() or 1, len(files))
    report = ImportReport()
    pool = multiprocessing.get_context("fork").Pool(jobs) if jobs > 1 and os.name == "posix" else None
    try:
        for file, part in zip(files, pool.imap(one, files) if pool else map(one, files)):
            report.add(part)
            if progress:
                progress(_size(file), f"{report.files} files, {report.bytes / 1e6:.0f} MB, {report.sessions} sessions")
    finally:
        if pool:
            pool.terminate()
    return report


def import_file(agent: str, file: str, *, since_us: int | None, root: str | None, host: str,
                now: float | None, with_text: bool = False) -> ImportReport:
    """One session's file (with its sub-agents'), read and imported."""
    report = ImportReport(files=1)
    try:
        session = READERS[agent](file)
    except OSError as error:
        report.problems.append(f"{file}: {error.strerror or error}")
        return report
    report.bytes = sum(t.size for t in session.transcripts.values())
    report.bad_lines = sum(t.bad_lines for t in session.transcripts.values())
    if not session.steps or (since_us is not None and parse_time(session.last) < since_us):
        return report
    try:
        added = import_session(session, root=root, host=host, now=now, with_text=with_text)
    except StoreError as error:
        report.problems.append(f"session {session.session_id} ({file}): {error}")
        return report
    except Exception as error:  # noqa: BLE001 - a file the agent wrote oddly costs only itself
        report.problems.append(f"session {session.session_id} ({file}): {type(error).__name__}: {error}")
        return report
    report.sessions, report.changed, report.events = 1, int(bool(added)), added
    return report


def import_session(session: Session, *, root: str | None, host: str, now: float | None = None,
                   with_text: bool = False) -> int:
    """Write what the session's records hold and its record lacks; return how
    many events that was. `now`: the time it is (for a test: what is recent)."""
    agent = agent_named(session.agent)
    store_root = os.path.abspath(store_for(session.cwd, root))
    project = os.path.dirname(store_root)
    recent = int(((time.time() if now is None else now) - IDLE_SECONDS) * 1e6)  # microseconds

    def build(state: CaptureState, writer) -> list[dict]:
        seen = Seen(writer)
        if all(seen.imported.get(path) == (t.size, t.sha256) for path, t in session.transcripts.items()):
            return []  # imported whole before, and unchanged since
        return Replay(agent, session, state, seen, host, project, with_text).events(recent)
    return len(record_events(store_root, check_session_id(session.session_id), build, lock_timeout=LOCK_TIMEOUT))


def store_for(cwd: str | None, root: str | None) -> str:
    """The store the hooks would use: `root` if given, else the nearest
    .treeship at or above the session's directory (or above where it was, if
    gone), else one made in that directory."""
    if root:
        return root
    if not isinstance(cwd, str) or not os.path.isabs(cwd):
        raise ValidationError("the session does not say its directory: give --root")
    here = cwd
    while not os.path.isdir(here):
        here = os.path.dirname(here)
    found = nearest_store(here)
    if found:
        return found
    if here != os.path.normpath(cwd):
        raise ValidationError(f"the session's directory {cwd} is gone and no store is above it: give --root")
    return os.path.join(here, ".treeship")


class Seen:
    """What the session's record holds already, by the agents' own ids."""

    def __init__(self, writer):
        self.tools: set[str] = set()
        self.messages: set[str] = set()
        self.completed: set[str] = set()
        self.notes: set[tuple] = set()  # (kind, turn) of the prompts and answers kept (--with-text)
        self.imported: dict[str, tuple] = {}
        for line in writer.lines_from(0):
            if b'"tool_use_id"' in line or b'"message_id"' in line or b'"agent.completed"' in line \
                    or b'"imported"' in line or b'"agent.note"' in line:
                self._take(line)

    def _take(self, line: bytes) -> None:
        try:
            event = jsoncodec.loads(line)
        except ValueError:
            return
        meta = event.get("meta") if isinstance(event, dict) else None
        if not isinstance(meta, dict):
            return
        for name, ids in (("tool_use_id", self.tools), ("message_id", self.messages)):
            if isinstance(meta.get(name), str):
                ids.add(meta[name])
        if event.get("type") == "agent.completed" and isinstance(event.get("agent_instance_id"), str):
            self.completed.add(event["agent_instance_id"])
        if event.get("type") == "agent.note" and isinstance(meta.get("turn"), str):
            self.notes.add((meta.get("kind"), meta["turn"]))
        self.imported.update(imported_from(meta))


class Replay:
    """The session's hook calls, in order, through the hooks' mapping."""

    def __init__(self, agent, session: Session, state: CaptureState, seen: Seen, host: str, project: str,
                 with_text: bool = False):
        self.agent, self.session, self.state, self.seen = agent, session, state, seen
        self.with_text = with_text
        self.host, self.project = host, project
        self.through: dict[str, int] = {}  # the last line of each transcript the agent had written by now

    def read(self, path: str, mark) -> list[bytes]:
        """A transcript's lines after the mark, up to where the agent was."""
        transcript: Transcript | None = self.session.transcripts.get(path)
        if transcript is None or path not in self.through:
            return []  # a file this import did not read (a hook's, under another path)
        mark.offset = min(mark.offset, transcript.size)  # a shorter copy: what it holds was read
        lines, mark.offset = transcript.lines_after(mark.offset, self.through[path])
        return lines

    def events(self, recent: int) -> list[dict]:
        """The events to write. A session whose last line is older than
        `recent` (microseconds) is over, and closed if it is not."""
        ended = self.session.last is not None and parse_time(self.session.last) < recent
        written: list[dict] = []
        for step in self.session.steps:
            self.through[step.path] = step.line
            self._add(written, self._step(step.payload, step.path), step.at)
        for path, transcript in self.session.transcripts.items():
            self.through[path] = len(transcript.lines) - 1
        first = self.session.steps[0].payload
        ctx = self._context({name: first[name] for name in ("session_id", "transcript_path", "cwd")}
                            | {"hook_event_name": "Stop"})
        ending = ctx.all_decisions()
        if ended and not self.state.closed:
            started = min(parse_time(t) for t in (self.state.first_time, self.session.first) if t)
            ending += [ctx.event("agent.completed", instance=ctx.main, termination_reason="ended"),
                       ctx.event("session.closed", instance=ctx.main, summary="ended",
                                 duration_ms=max(0, parse_time(self.session.last) - started) // 1000)]
        self._add(written, ending, self.session.last)
        if written:
            meta = written[-1]["meta"]
            if not ended:  # hooks may still come for these calls: they are to record nothing
                calls = [e["meta"]["tool_use_id"] for e in written
                         if isinstance(e["meta"].get("tool_use_id"), str) and parse_time(e["timestamp"]) >= recent]
                meta["imported_calls"] = calls[-IMPORTED_CALLS:]
            meta["transcripts"] = [mark.as_meta(path) for path, mark in self.state.transcripts.items()
                                   if path in self.session.transcripts]
            meta["imported"] = [{"path": path, "size": t.size, "sha256": t.sha256}
                                for path, t in self.session.transcripts.items()]
        return written

    def _context(self, payload: dict):
        ctx = prepare(self.agent, payload, self.host, self.project)
        ctx.state, ctx.read_lines = self.state, self.read
        ctx.source = f"treeship-store import {self.agent.name}"
        ctx.with_text = self.with_text
        return ctx

    def _step(self, payload: dict, path: str) -> list[dict]:
        ctx = self._context(payload)
        hook, state = payload["hook_event_name"], self.state
        if hook == "SessionStart":
            return [] if state.started else session_start(ctx)
        if hook in ("UserPromptSubmit", "Stop"):
            said = payload.get("prompt") if hook == "UserPromptSubmit" else payload.get("last_assistant_message")
            kind = "prompt" if hook == "UserPromptSubmit" else "answer"
            turn = payload.get("prompt_id") or payload.get("turn_id")
            known = isinstance(turn, str) and (kind, turn) in self.seen.notes
            note = [] if known else text_note(ctx, kind, said)
            return (ctx.decisions(path, ctx.main) if hook == "Stop" else []) + note
        if hook == "SubagentStart":
            return [] if ctx.sub in state.instances else subagent_started(ctx)
        if hook == "SubagentStop":
            events = ([] if ctx.sub in state.instances else subagent_started(ctx)) + ctx.decisions(path, ctx.sub)
            if ctx.sub not in self.seen.completed:
                events.append(ctx.event("agent.completed", termination_reason="completed"))
            return events
        tool_use_id = payload.get("tool_use_id")
        if tool_use_id in self.seen.tools:  # recorded already (by a hook): its result is not taken again
            return ctx.decisions(path, ctx.sub or ctx.main, take=tool_use_id)
        return ctx.decisions(path, ctx.sub or ctx.main) + tool_events(ctx)

    def _add(self, written: list[dict], events: list[dict], at: str | None) -> None:
        for event in events:
            if event.get("meta", {}).get("message_id") in self.seen.messages:
                continue  # a response recorded already
            if at is not None:
                event.setdefault("timestamp", at)
            # The marks as they stand go on the import's last event; one on
            # every read would cost each response a copy of its mark.
            event["meta"].pop("transcript", None)
            self.state.fold(jsoncodec.dumps(event))
            written.append(event)


def _size(path: str) -> int:
    try:
        return os.lstat(path).st_size
    except OSError:
        return 0
