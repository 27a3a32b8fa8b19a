"""`export otlp`: every session's complete spans, sent once each.

A span is complete at a known line (spans.py): where each session's export
stands is the number of its lines whose complete spans the collector has
accepted. It is kept per collector in `otlp-positions.json` beside the
sessions, replaced whole (written, synced, renamed) only after the
collector accepted the request, so a run killed at any point sends, next
time, exactly what was not accepted. Not in index.db: deleting the index
(it is derived) must not send every span again.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import logging
import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import orjson

from ..errors import ExportTooLarge, StoreError, UnsafePath, WriteError
from ..event import decode_line
from ..faults import crash_point
from ..record.log import SessionLog
from ..record.paths import open_regular
from ..positions import OTLP_POSITIONS, START, Position, pending
from ..spans import Span, session_spans
from ..store import Store
from .otlp import MAX_REQUEST_BYTES, Collector, post, request

logger = logging.getLogger("treeship_store")

POSITIONS = OTLP_POSITIONS
BATCH_SPANS = 2000  # spans per request at most (more only if that many complete at one line)


@dataclass
class SessionSpans:
    """A session's file as read this time: the spans the collector has not
    accepted yet, in the order they complete (spans.py), and where the
    export stands once it has accepted some of them."""
    session_id: str
    host: str | None
    spans: list[Span]
    line_starts: list[int]  # byte offset of each line read, and of their end
    file: tuple[int, int]  # (st_dev, st_ino) of the file read
    done: Position  # once every one of these spans is accepted

    def groups(self) -> Iterator[tuple[int, int]]:
        """(start, end) of each run of spans completing at one line: a
        request may end between two lines, never inside one, since the
        position is a number of lines."""
        start = 0
        for _, run in itertools.groupby(self.spans, key=lambda span: span.closes_at):
            end = start + sum(1 for _ in run)
            yield start, end
            start = end

    def position_after(self, end: int) -> Position:
        """Where the export stands once spans[:end] (whole runs) are accepted:
        every line before the one the next span completes at."""
        if end == len(self.spans):
            return self.done
        line = self.spans[end].closes_at
        return Position(self.line_starts[line], line, *self.file)


Part = tuple[SessionSpans, int, int]  # the spans [start:end] of one session, one run or more


@dataclass
class ExportReport:
    sessions: int = 0  # sessions that had spans to send
    spans: int = 0  # spans the collector accepted
    rejected: int = 0  # spans it said it dropped (partial success): not sent again
    seconds: float = 0.0


class Exporter:
    """One store exporting to one collector. Holds `otlp.lock` in the store
    root while open: two exports of one store at once would send twice."""

    def __init__(self, store: Store, target: Collector, service: str = "treeship-store"):
        store.directory.require_root()
        self.store, self.target, self.service = store, target, service
        self.request_limit = MAX_REQUEST_BYTES  # lowered when the collector refuses a request as too large
        self.directory = os.open(store.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            self.lock = open_regular("otlp.lock", os.O_RDWR | os.O_CREAT, dir_fd=self.directory,
                                     shown=store.root / "otlp.lock")
            try:
                fcntl.flock(self.lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(self.lock)
                raise StoreError(f"another export of {store.root} is running; one at a time") from None
        except BaseException:
            os.close(self.directory)
            raise
        self.positions = self._load()

    def close(self) -> None:
        os.close(self.lock)
        os.close(self.directory)

    def __enter__(self) -> Exporter:
        return self

    def __exit__(self, *_) -> None:
        self.close()

    def export(self, sessions: list[str] | None = None, *, stop: Callable[[], bool] = lambda: False,
               retry: Callable[[str, float], bool] = lambda why, seconds: False) -> ExportReport:
        """Send every complete span of these sessions (all when None) that the
        collector has not accepted yet. `retry(why, seconds)` is asked before
        each new attempt at a request the collector did not take."""
        started = time.monotonic()
        report = ExportReport()
        done = self.positions.setdefault(self.target.shown, {})
        base = os.fspath(self.store.sessions_dir)
        batch: list[Part] = []
        in_batch = 0  # spans
        moved = False  # a position changed that no request will save
        for session_id in sessions if sessions is not None else self.store.session_ids():
            if stop():
                break
            position = Position(*done.get(session_id, START))
            if not pending(f"{base}/{session_id}/events.jsonl", position):
                continue  # one stat, not an open: --follow asks this of every session, often
            found = self._new_spans(session_id, position, named=sessions is not None)
            if found is None:
                continue
            if not found.spans:
                done[session_id], moved = found.done, True  # nothing to send: saved with the next save
                continue
            report.sessions += 1
            for start, end in found.groups():
                batch.append((found, start, end))
                in_batch += end - start
                if in_batch >= BATCH_SPANS:
                    self._send(batch, report, retry)
                    batch, in_batch, moved = [], 0, False
                    if stop():
                        break  # the rest of this session next time, from the position just saved
        if batch:
            self._send(batch, report, retry)
        elif moved:
            self._save()
        report.seconds = time.monotonic() - started
        return report

    def _new_spans(self, session_id: str, position: Position, named: bool) -> SessionSpans | None:
        """The session's spans not yet accepted, or None if there is no file,
        or one that cannot be used (left out with a warning, unless named)."""
        try:
            log = SessionLog(self.store.sessions_dir, session_id).open_for_reading()
        except (UnsafePath, WriteError) as error:
            if named:
                raise
            logger.warning("session %s: not exported: %s", session_id, error)
            return None
        if log is None:
            return None
        try:
            info = os.fstat(log.fd)
            lines_done = position.shipped_lines
            if (info.st_dev, info.st_ino) != (position.file_dev, position.file_ino) and position != START:
                lines_done = 0  # another file in its place: every span of it is new
            data, offset = [], 0
            while chunk := log.committed(offset):
                data.append(chunk)
                offset += len(chunk)
        finally:
            log.close()
        lines = b"".join(data).split(b"\n")[:-1]
        decoded = [(number, decode_line(line)[0]) for number, line in enumerate(lines)]
        spans = [span for span in session_spans(session_id, decoded) if span.closes_at >= lines_done]
        host = next((event.get("host_id") for _, event in decoded
                     if event is not None and type(event.get("host_id")) is str), None)
        return SessionSpans(session_id, host, spans, [0, *itertools.accumulate(len(line) + 1 for line in lines)],
                            (info.st_dev, info.st_ino),
                            Position(offset, max(len(lines), lines_done), info.st_dev, info.st_ino))

    def _send(self, batch: list[Part], report: ExportReport, retry) -> None:
        """Post the batch, then save the positions it moves, in the order the
        spans complete. A request over the limit goes as two halves, split
        between two lines; so does one the collector refuses as too large
        (413), and the limit comes down. Spans of one line refused as too
        large even alone are counted rejected and passed, as a partial
        success's are: they would be refused again, and must not stop the
        export of every span after them."""
        by_session: list[tuple[str, str | None, list[Span]]] = []
        for found, start, end in batch:  # a session's parts are next to each other, in order
            if by_session and by_session[-1][0] == found.session_id:
                by_session[-1][2].extend(found.spans[start:end])
            else:
                by_session.append((found.session_id, found.host, found.spans[start:end]))
        body = request(by_session, self.service, self.target.value_limit)
        if len(body) > self.request_limit and len(batch) > 1:
            self._send(batch[:len(batch) // 2], report, retry)
            self._send(batch[len(batch) // 2:], report, retry)
            return
        count = sum(end - start for _, start, end in batch)
        try:
            report.rejected += post(self.target, body, retry=retry)
            report.spans += count
        except ExportTooLarge as refusal:
            if len(batch) > 1:
                self.request_limit = min(self.request_limit, len(body) // 2)
                self._send(batch, report, retry)
                return
            found, start, _ = batch[0]
            logger.warning("session %s: %d span(s) completing at line %d not exported: %s", found.session_id,
                           count, found.spans[start].closes_at, refusal)
            report.rejected += count
        crash_point("export-sent")  # accepted by the collector, the position not yet saved
        done = self.positions[self.target.shown]
        for found, _, end in batch:
            done[found.session_id] = found.position_after(end)
        self._save()

    def _load(self) -> dict[str, dict[str, Position]]:
        """{collector: {session: position}} from the file, checked whole."""
        shown = self.store.root / POSITIONS
        try:
            fd = open_regular(POSITIONS, os.O_RDONLY, dir_fd=self.directory, shown=shown)
        except FileNotFoundError:
            return {}
        with os.fdopen(fd, "rb") as file:
            text = file.read()
        try:
            return {target: {session: Position(*_checked(value)) for session, value in sessions.items()}
                    for target, sessions in orjson.loads(text).items()}
        except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError):
            raise StoreError(f"{shown} is not a positions file; move it away to export every session "
                             "again") from None

    def _save(self) -> None:
        """The positions replaced whole: a reader sees the old file or the new."""
        temporary = f"{POSITIONS}.{os.getpid()}.{uuid.uuid4().hex}"
        fd = open_regular(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, dir_fd=self.directory)
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(orjson.dumps({target: {session: list(position) for session, position in sessions.items()}
                                         for target, sessions in self.positions.items()}))
                file.flush()
                os.fsync(fd)
            os.replace(temporary, POSITIONS, src_dir_fd=self.directory, dst_dir_fd=self.directory)
            os.fsync(self.directory)
        except OSError as error:
            with contextlib.suppress(OSError):
                os.unlink(temporary, dir_fd=self.directory)
            raise WriteError(f"cannot save {self.store.root / POSITIONS}: {error.strerror or error}; the spans "
                             "accepted since the last save will be sent again") from None


def _checked(value: object) -> list:
    if not (type(value) is list and len(value) == 4 and all(type(n) is int and n >= 0 for n in value[:2])
            and all(n is None or type(n) is int for n in value[2:])):
        raise ValueError(value)
    return value
