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
import logging
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import orjson

from ..errors import StoreError, UnsafePath, WriteError
from ..event import decode_line
from ..faults import crash_point
from ..log import SessionLog
from ..paths import open_regular
from ..positions import START, Position, pending
from ..spans import Span, session_spans
from ..store import Store
from .otlp import MAX_REQUEST_BYTES, Collector, post, request

logger = logging.getLogger("treeship_store")

POSITIONS = "otlp-positions.json"
BATCH_SPANS = 2000  # spans per request at most (one session's may be more: it is never split)


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
        store._require_root()
        self.store, self.target, self.service = store, target, service
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
        batch: list[tuple[str, str | None, list[Span]]] = []
        in_batch = 0  # spans
        moved: dict[str, Position] = {}  # session -> its position once the batch is accepted
        for session_id in sessions if sessions is not None else self.store.session_ids():
            if stop():
                break
            position = Position(*done.get(session_id, START))
            if not pending(f"{base}/{session_id}/events.jsonl", position):
                continue  # one stat, not an open: --follow asks this of every session, often
            found = self._new_spans(session_id, position, named=sessions is not None)
            if found is None:
                continue
            host, spans, now = found
            moved[session_id] = now
            if spans:
                batch.append((session_id, host, spans))
                in_batch += len(spans)
                report.sessions += 1
            if in_batch >= BATCH_SPANS:
                self._send(batch, moved, report, retry)
                batch, in_batch, moved = [], 0, {}
        if batch or moved:
            self._send(batch, moved, report, retry)
        report.seconds = time.monotonic() - started
        return report

    def _new_spans(self, session_id: str, position: Position, named: bool):
        """(host, spans not yet accepted, the position after them), or None if
        there is no file, or one that cannot be used (left out with a warning,
        unless named)."""
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
            lines_done = position.pushed_lines
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
        return host, spans, Position(offset, max(len(lines), lines_done), info.st_dev, info.st_ino)

    def _send(self, batch, moved: dict[str, Position], report: ExportReport, retry) -> None:
        """Post the batch, then save the positions it moves. A request over
        MAX_REQUEST_BYTES goes as two, each with its sessions' positions (one
        session's spans stay in one request: its position is one number)."""
        body = request(batch, self.service, self.target.value_limit) if batch else None
        if body is not None and len(body) > MAX_REQUEST_BYTES and len(batch) > 1:
            first = {session_id for session_id, _, _ in batch[:len(batch) // 2]}
            self._send(batch[:len(batch) // 2], {s: p for s, p in moved.items() if s in first}, report, retry)
            self._send(batch[len(batch) // 2:], {s: p for s, p in moved.items() if s not in first}, report, retry)
            return
        if body is not None:
            report.rejected += post(self.target, body, retry=retry)
            report.spans += sum(len(spans) for _, _, spans in batch)
            crash_point("export-sent")  # accepted by the collector, the position not yet saved
        self.positions[self.target.shown].update(moved)
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
