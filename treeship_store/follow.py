"""Following a session as writers append to it, by line position: what
Store.follow(), `tail -f` and the web view's live stream read.

A follower's place is a Position: the last line of the record it has seen.
Not a sequence_no: a line another writer appends may repeat one, and it is
a new line all the same. Each look reads the record's new complete lines
(as the index's catch-up does, batches included) and notices, as the index
does (index/watermark.py), a file that was replaced, truncated or rewritten
since: the follower then starts again from the first line of the file now
there, and says so.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable, Iterator
from typing import NamedTuple

from .errors import StoreError, ValidationError
from .event import Event, decode_line
from .index.watermark import TAIL_BYTES, Watermark, file_change
from .record.log import OpenLog, SessionLog
from .record.lines import READ_CHUNK

logger = logging.getLogger("treeship_store")


class Position(NamedTuple):
    """Where a follower is in one session's record. `line` is the last line
    it has seen, 0-based (-1: none yet; None: the end, wherever it is when
    first read). Once the file has been read, its first line + 1 lines end
    at byte `offset` of the file `file` (device, inode), and `tail` holds
    the bytes before it: what tells that file from a replacement."""
    line: int | None = -1
    offset: int | None = None
    tail: bytes = b""
    file: tuple[int, int] | None = None


class Followed(NamedTuple):
    """What one look found: the new events in file order (each with its
    line_no), where to look next, why the follower started again from the
    first line (or None), and whether it read up to the end of the record
    (else there is more to read at once)."""
    events: list[Event]
    position: Position
    restarted: str | None
    caught_up: bool


def start_position(session_id: str, after_seq: int | None) -> Position:
    """The position after line `after_seq` of a session (None: from now on),
    both checked as events() checks them."""
    from .filters import EventFilter  # noqa: PLC0415 - queries only, not the append path
    EventFilter.build(session_id, after_seq=after_seq)
    return Position(after_seq)


def read_after(log: SessionLog, position: Position) -> Followed:
    """The events of a session's record after `position`: about READ_CHUNK
    bytes of them at most, read from events.jsonl itself (the record, so
    following needs no index)."""
    try:
        opened = log.open_for_reading()
        if opened is None:
            if position.file is None:
                return Followed([], position, None, True)
            return Followed([], Position(), "events.jsonl is gone", True)
        try:
            return _read_from(opened, position)
        finally:
            opened.close()
    except OSError as error:
        raise StoreError(f"cannot read {log.path}: {error.strerror or error}") from None


def _read_from(opened: OpenLog, position: Position) -> Followed:
    info = os.fstat(opened.fd)
    restarted = None
    if position.file is not None:
        seen = Watermark(0, position.offset, position.line + 1, position.tail)
        if restarted := file_change(opened.fd, info, seen, *position.file):
            position = Position()
    after = position.line
    offset, line_no, tail = (0, 0, b"") if position.offset is None else \
        (position.offset, position.line + 1, position.tail)
    events: list[Event] = []
    decoded, caught_up = 0, True
    while offset < info.st_size:
        if decoded >= READ_CHUNK:
            caught_up = False
            break
        data = opened.committed(offset, file_size=info.st_size)
        if not data:
            break
        lines = data.count(b"\n")
        if after is None or line_no + lines - 1 <= after:  # seen already, or before "now": only counted
            line_no += lines
        else:
            for line in data.split(b"\n")[:-1]:
                if line_no > after:
                    event, _ = decode_line(line)  # a damaged line is skipped, as events() skips it
                    if event is not None:
                        events.append(Event(event, line, line_no))
                line_no += 1
            decoded += len(data)
        offset += len(data)
        tail = (tail + data)[-TAIL_BYTES:]
    if after is not None and after >= line_no and caught_up:
        # Asked to go on after a line this file does not have: the position
        # was in a longer file (a restore put back an older, shorter copy).
        return _read_from(opened, Position())._replace(
            restarted=f"events.jsonl has {line_no} lines, fewer than the position asked for (line {after})")
    return Followed(events, Position(line_no - 1, offset, tail, (info.st_dev, info.st_ino)), restarted, caught_up)


def follow_events(reader, session_id: str, *, after_seq: int | None, interval: float,
                  until: Callable[[], bool] | None) -> Iterator[Event]:
    """Reader.follow for either store: reader.read_new, look after look,
    from line `after_seq` on, or from now on (when called, not when first
    iterated). It looks again at once while there is more, else every
    `interval` seconds, and stops, once caught up, when `until()` says so. A
    follower that starts again from the first line says why in the log."""
    if not (isinstance(interval, (int, float)) and 0 < interval < float("inf")):
        raise ValidationError(f"interval must be a number of seconds > 0, got {interval!r}")
    position = start_position(session_id, after_seq)
    if after_seq is None:
        position = reader.read_new(session_id, position).position

    def polled() -> Iterator[Event]:
        nonlocal position
        while True:
            followed = reader.read_new(session_id, position)
            if followed.restarted:
                logger.warning("session %s: %s; following it again from its first line", session_id,
                               followed.restarted)
            position = followed.position
            yield from followed.events
            if followed.caught_up:
                if until is not None and until():
                    return
                time.sleep(interval)
    return polled()


# -- How a follower stops and paces itself (push --follow, export otlp --follow) --

FOLLOW_INTERVAL = 0.25  # seconds between looks for new lines with --follow, at least


class Stop:
    """Ctrl-C or SIGTERM: finish the batch in flight (its transaction and the
    local position after it), then stop."""

    def __init__(self):
        self.asked = False
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._ask)

    def _ask(self, *_) -> None:
        self.asked = True

    def __bool__(self) -> bool:
        return self.asked

    def pause_after(self, spent: float) -> None:
        """Between two looks of a follower: FOLLOW_INTERVAL, or twice what the
        last look took (a stat per session: 0.4 s at 100,000 sessions), so
        that looking never takes more than a third of a core."""
        self.wait(max(FOLLOW_INTERVAL, 2 * spent))

    def wait(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.asked and time.monotonic() < deadline:
            time.sleep(min(0.05, deadline - time.monotonic()))
