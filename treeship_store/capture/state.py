"""What a hook needs to know of its session, derived from the record itself.

Whether session.started was written, when the session began, which agent
instances have started, and how far each transcript has been read (the mark
is stored in the meta of the last agent.decision read from it). All of this
is a fold over the session's events, so it survives anything the record
survives and is never counted twice: a hook holds the session's lock while it
loads the state, appends, and saves.

events.jsonl.capture caches the fold, with the record's size it covers; a
hook folds only the lines after that. A missing or unreadable cache costs a
fold of the whole session, nothing more. The cache may hold transcript marks
beyond the record's (a read that found no response): re-reading those lines
finds none.
"""

from __future__ import annotations

import os
import orjson

from ..paths import open_regular, tighten_mode
from .transcript import TranscriptMark

CACHE_FILE = "events.jsonl.capture"


class CaptureState:
    def __init__(self, *, started: bool = False, first_time: str | None = None, instances: dict[str, list] | None = None,
                 transcripts: dict[str, TranscriptMark] | None = None, end: int = 0, closed: bool = False):
        self.started = started  # session.started is in the record
        self.closed = closed  # the last session.closed has no agent.started after it (a resume reopens)
        self.first_time = first_time  # the first event's timestamp
        self.instances = instances or {}  # agent instances with agent.started: [agent_name, agent_role]
        self.transcripts = transcripts or {}
        self.end = end  # the record's size this state covers

    def fold(self, line: bytes) -> None:
        """Take one line of the record into account (in record order)."""
        if self.first_time is not None and b'"session.started"' not in line and b'"agent.started"' not in line \
                and b'"transcript"' not in line and b'"session.closed"' not in line:
            return  # the usual line: nothing to learn, not even parsed
        try:
            event = orjson.loads(line)
        except orjson.JSONDecodeError:
            return
        if not isinstance(event, dict):
            return
        if self.first_time is None and isinstance(event.get("timestamp"), str):
            self.first_time = event["timestamp"]
        kind = event.get("type")
        if kind == "session.started":
            self.started = True
        elif kind == "session.closed":
            self.closed = True
        elif kind == "agent.started" and isinstance(event.get("agent_instance_id"), str):
            self.instances[event["agent_instance_id"]] = [event.get("agent_name"), event.get("agent_role")]
            self.closed = False
        meta = event.get("meta")
        mark = meta.get("transcript") if isinstance(meta, dict) else None
        if isinstance(mark, dict) and isinstance(mark.get("path"), str) and type(mark.get("offset")) is int:
            self.transcripts[mark["path"]] = TranscriptMark.from_meta(mark)

    @classmethod
    def load(cls, writer) -> CaptureState:
        """The state of the session `writer` (a Store.writing) holds locked."""
        state = cls._cached(writer.directory)
        if state is None or state.end > writer.end:  # no cache, or the file was replaced
            state = cls()
        for line in writer.lines_from(state.end):
            state.fold(line)
        state.end = writer.end
        return state

    def save(self, writer) -> None:
        """Cache the state beside the record, atomically (write, then rename)."""
        self.end = writer.end
        data = orjson.dumps({"end": self.end, "started": self.started, "closed": self.closed,
                             "first_time": self.first_time,
                             "instances": self.instances,
                             "transcripts": {path: mark.as_meta(path) for path, mark in self.transcripts.items()}})
        temporary = CACHE_FILE + ".tmp"
        fd = open_regular(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, dir_fd=writer.directory)
        try:
            tighten_mode(fd)
            os.write(fd, data)
        finally:
            os.close(fd)
        os.rename(temporary, CACHE_FILE, src_dir_fd=writer.directory, dst_dir_fd=writer.directory)

    @classmethod
    def _cached(cls, directory: int) -> CaptureState | None:
        try:
            fd = open_regular(CACHE_FILE, os.O_RDONLY, dir_fd=directory)
        except FileNotFoundError:
            return None
        try:
            cached = orjson.loads(os.read(fd, 1 << 20))
            first_time = cached["first_time"]
            return cls(started=bool(cached["started"]), closed=cached.get("closed") is True,
                       first_time=first_time if isinstance(first_time, str) else None,
                       instances={i: who if isinstance(who, list) and len(who) == 2 else [None, None]
                                  for i, who in dict(cached["instances"]).items()}, end=int(cached["end"]),
                       transcripts={path: TranscriptMark.from_meta(mark)
                                    for path, mark in cached["transcripts"].items()})
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
            return None  # a damaged cache: fold the record instead
        finally:
            os.close(fd)
