"""What a hook needs to know of its session, derived from the record itself.

Whether session.started was written, when the session began, which agent
instances have started, and how far each transcript has been read (the mark
is stored in the meta of the last agent.decision read from it). All of this
is a fold over the session's events, so it survives anything the record
survives and is never counted twice: a hook holds the session's lock while it
loads the state, appends, and saves.

events.jsonl.capture caches the fold, with the position in the record it
covers (size, line count, the file's identity and last bytes); a hook folds
only the lines after that, and numbers its own from that count, without the
index. A missing, unreadable or outdated cache (the file replaced or
rewritten) costs a count and fold of the whole session, nothing more. The
cache may hold transcript marks beyond the record's (a read that found no
response): re-reading those lines finds none.
"""

from __future__ import annotations

import os

from .. import jsoncodec
from ..errors import StoreError
from ..record.lines import count_lines
from ..record.paths import open_regular, tighten_mode
from .transcript import TranscriptMark

CACHE_FILE = "events.jsonl.capture"
IMPORTED_CALLS = 1000  # the ones kept: an import stores the calls of the last hour of a live session


class CaptureState:
    def __init__(self, *, started: bool = False, first_time: str | None = None,
                 instances: dict[str, list] | None = None, transcripts: dict[str, TranscriptMark] | None = None,
                 closed: bool = False, position: list | None = None, hinted: float = 0.0,
                 imported_calls: list[str] | None = None):
        self.started = started  # session.started is in the record
        self.closed = closed  # the last session.closed has no agent.started after it (a resume reopens)
        self.first_time = first_time  # the first event's timestamp
        self.instances = instances or {}  # agent instances with agent.started: [agent_name, agent_role]
        self.transcripts = transcripts or {}
        # The record this state covers: [end, lines, device, inode, the last
        # bytes before end (hex)], which the next hook checks before trusting
        # it, as the index checks its watermark (a file replaced or rewritten
        # is counted and folded again from the start).
        self.position = position or [0, 0, 0, 0, ""]
        self.hinted = hinted  # when the session was last named in .treeship/unindexed
        # Tool calls an import stored while the session was going on: their
        # hooks, still to come, record nothing (replay.py).
        self.imported_calls = imported_calls or []

    @property
    def end(self) -> int:
        return self.position[0]

    def fold(self, line: bytes) -> None:
        """Take one line of the record into account (in record order)."""
        if self.first_time is not None and b'"session.started"' not in line and b'"agent.started"' not in line \
                and b'"transcript' not in line and b'"session.closed"' not in line:
            return  # the usual line: nothing to learn, not even parsed
        try:
            event = jsoncodec.loads(line)
        except ValueError:
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
        if not isinstance(meta, dict):
            return
        # A hook's event holds the mark of the transcript it read; an import's
        # last event the marks of every transcript it read.
        marks = meta.get("transcripts") if isinstance(meta.get("transcripts"), list) else [meta.get("transcript")]
        for mark in marks:
            if isinstance(mark, dict) and isinstance(mark.get("path"), str) and type(mark.get("offset")) is int:
                self.transcripts[mark["path"]] = TranscriptMark.from_meta(mark)
        calls = meta.get("imported_calls")
        if isinstance(calls, list):
            self.imported_calls = (self.imported_calls + [c for c in calls if isinstance(c, str)])[-IMPORTED_CALLS:]

    @classmethod
    def cached(cls, directory: int, fd: int) -> CaptureState:
        """The cached state if it still describes the start of the record open
        as `fd` (the session's lock held), else an empty one."""
        state = cls._cached(directory)
        if state is None or not state._covers(fd):
            return cls()
        return state

    def line_count(self, fd: int) -> tuple[int, int]:
        """(end of the last complete line, number of lines) of the record: the
        cached position and the lines any writer added after it."""
        end, lines = self.position[:2]
        return count_lines(fd, end, lines)

    def load(self, writer) -> CaptureState:
        """This state brought up to the record `writer` holds locked."""
        for line in writer.lines_from(self.end):
            self.fold(line)
        return self  # save() records the position it then covers

    def save(self, writer) -> None:
        """Cache the state beside the record, atomically (write, then rename)."""
        self.position = _position(writer.fd, writer.end, writer.lines)
        data = jsoncodec.dumps({"position": self.position, "started": self.started, "closed": self.closed,
                                "first_time": self.first_time, "instances": self.instances, "hinted": int(self.hinted),
                                "imported_calls": self.imported_calls,
                                "transcripts": {path: mark.as_meta(path) for path, mark in self.transcripts.items()}})
        temporary = CACHE_FILE + ".tmp"
        fd = open_regular(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, dir_fd=writer.directory)
        try:
            tighten_mode(fd)
            os.write(fd, data)
        finally:
            os.close(fd)
        os.rename(temporary, CACHE_FILE, src_dir_fd=writer.directory, dst_dir_fd=writer.directory)

    def _covers(self, fd: int) -> bool:
        end, lines, device, inode, tail = self.position
        info = os.fstat(fd)
        if (info.st_dev, info.st_ino) != (device, inode) or end > info.st_size or lines > end:
            return False
        return os.pread(fd, TAIL_BYTES, max(0, end - TAIL_BYTES)).hex() == tail

    @classmethod
    def _cached(cls, directory: int) -> CaptureState | None:
        try:
            fd = open_regular(CACHE_FILE, os.O_RDONLY, dir_fd=directory)
        except (OSError, StoreError):
            # Missing, or not a regular file (a symlink, FIFO or directory in
            # its place: never followed), or unreadable: fold the record
            # instead. save() renames a new cache over a symlink or FIFO.
            return None
        try:
            cached = jsoncodec.loads(os.read(fd, 1 << 20))
            first_time, position = cached["first_time"], cached["position"]
            if not (type(position) is list and len(position) == 5 and all(type(n) is int and n >= 0
                                                                         for n in position[:4])
                    and isinstance(position[4], str)):
                return None
            return cls(started=bool(cached["started"]), closed=cached.get("closed") is True,
                       first_time=first_time if isinstance(first_time, str) else None,
                       instances={i: who if isinstance(who, list) and len(who) == 2 else [None, None]
                                  for i, who in dict(cached["instances"]).items()}, position=position,
                       hinted=cached.get("hinted") if type(cached.get("hinted")) is int else 0,
                       transcripts={path: TranscriptMark.from_meta(mark)
                                    for path, mark in cached["transcripts"].items()},
                       imported_calls=[c for c in cached.get("imported_calls") or () if isinstance(c, str)])
        except (KeyError, TypeError, ValueError, AttributeError):
            return None  # a damaged cache (or one from before `position`): fold the record instead
        finally:
            os.close(fd)


TAIL_BYTES = 32


def _position(fd: int, end: int, lines: int) -> list:
    info = os.fstat(fd)
    return [end, lines, info.st_dev, info.st_ino, os.pread(fd, TAIL_BYTES, max(0, end - TAIL_BYTES)).hex()]
