"""Writing one session's record under its lock: what a caller of
Store.writing reads and appends through, and the lock-to-unlock sequence
itself, for the Store (which indexes afterwards) and for a hook (which
leaves the index to the next reader).

On the append path of a hook, a process per tool call: it imports neither
logging, contextlib nor typing, and writes lines with jsoncodec.
"""

from __future__ import annotations

import os

from .. import jsoncodec
from ..errors import StoreError
from ..event import Event
from ..faults import crash_point
from .log import OpenLog, SessionLog
from .lines import complete_lines

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping


# The hook command prints warnings itself, as the CLI's handler would ("warning: ..."),
# rather than load logging for them.
WARNINGS_TO_STDERR = False


def warn(message: str, *args: object) -> None:
    """A warning on the store's logger, which loads only when there is one."""
    if WARNINGS_TO_STDERR:
        import sys  # noqa: PLC0415
        if sys.stderr is not None:  # closed: nowhere, never to stdout
            print("warning: " + message % args, file=sys.stderr)
        return
    import logging  # noqa: PLC0415 - 17 ms of a hook's cold start, for a rare message
    logging.getLogger("treeship_store").warning(message, *args)


class SessionWriter:
    """What a caller of Store.writing reads and appends through, the lock held."""

    def __init__(self, log: SessionLog, fd: int, directory: int, end: int, lines: int, *,
                 prepare: Callable[[Iterable[Mapping], bool | None], list[dict]], fsync: bool):
        self.log, self.fd, self.directory = log, fd, directory
        self.end, self.lines = end, lines  # the record: bytes and lines, torn tail excluded
        self.prepare, self.fsync = prepare, fsync
        self.wrote = False

    def lines_from(self, start: int) -> Iterator[bytes]:
        """The record's lines (without newline) from byte `start` to its end."""
        while start < self.end and (data := complete_lines(self.fd, start)):
            data = data[:self.end - start]
            yield from data.split(b"\n")[:-1]
            start += len(data)

    def append_many(self, events: Iterable[Mapping], *, allow_unknown: bool | None = None) -> list[Event]:
        """As Store.append_many, under the lock already held."""
        return self.write_prepared(self.prepare(events, allow_unknown))

    def write_prepared(self, prepared: list[dict]) -> list[Event]:
        if not prepared:
            return []
        # Bytes after the last newline, while we hold the lock, are a line
        # whose writer (one without our batch record: Treeship's) died
        # mid-write. Seal it with a newline so it stays in the file as
        # one damaged line, never glued to our event.
        size = os.fstat(self.fd).st_size
        torn = size > self.end
        stored = []
        for i, event in enumerate(prepared):
            event["sequence_no"] = self.lines + torn + i
            stored.append(Event(event, jsoncodec.dumps(event), event["sequence_no"]))
        data = b"\n" * torn + b"".join(e.raw + b"\n" for e in stored)
        self.log.write(self.fd, self.directory, data, fsync=self.fsync)
        crash_point("append-written")
        self.wrote = True
        self.end = size + len(data)
        self.lines += torn + len(stored)
        try:
            self.log.update_treeship_count(self.directory, self.lines, self.end)
        except (OSError, StoreError) as error:
            # Treeship's own cache: a stale one only makes its next append recount.
            warn("session %s: events.jsonl.count not updated (%s)", self.log.session_id, error)
        return stored


class Writing:
    """One hold of a session's lock for a read-then-append (a `with` block
    giving a SessionWriter): the file opened for appending, a batch a dead
    writer left resolved, the record's size and line count taken from
    `line_count(fd, directory)` (the index's watermark, or a hook's cache, and the lines
    after it). After the block, `written` is the file open for reading if
    lines were appended (the caller closes it), else None."""

    def __init__(self, log: SessionLog, *, timeout: float, fsync: bool,
                 prepare: Callable[[Iterable[Mapping], bool | None], list[dict]],
                 line_count: Callable[[int, int], tuple[int, int]]):
        self.log, self.timeout, self.fsync, self.prepare, self.line_count = log, timeout, fsync, prepare, line_count
        self.written: OpenLog | None = None

    def __enter__(self) -> SessionWriter:
        log = self.log
        self.directory = log.lock(self.timeout, self.fsync)
        try:
            crash_point("append-locked")
            self.fd = log.open_for_append(self.directory, fsync=self.fsync)
            try:
                if finished := log.finish_unfinished_batch(self.fd, self.directory):
                    warn("session %s: %s", log.session_id, finished)
                self.writer = SessionWriter(log, self.fd, self.directory, *self.line_count(self.fd, self.directory),
                                            prepare=self.prepare, fsync=self.fsync)
            except BaseException:
                os.close(self.fd)
                raise
        except BaseException:
            log.unlock(self.directory)
            raise
        return self.writer

    def __exit__(self, kind, *exc_info) -> None:
        try:
            if kind is None and self.writer.wrote:
                self.written = OpenLog(self.fd, os.dup(self.directory), self.log.path)
            else:
                os.close(self.fd)
        finally:
            self.log.unlock(self.directory)
