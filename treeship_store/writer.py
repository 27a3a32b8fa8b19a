"""SessionWriter: one session's record while Store.writing holds its lock."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING

import orjson

from .errors import StoreError
from .event import Event
from .faults import crash_point
from .log import SessionLog, complete_lines

if TYPE_CHECKING:
    from .store import Store

logger = logging.getLogger("treeship_store")


class SessionWriter:
    """What a caller of Store.writing reads and appends through, the lock held."""

    def __init__(self, store: Store, log: SessionLog, fd: int, directory: int, end: int, lines: int):
        self.store, self.log, self.fd, self.directory = store, log, fd, directory
        self.end, self.lines = end, lines  # the record: bytes and lines, torn tail excluded
        self.wrote = False

    def lines_from(self, start: int) -> Iterator[bytes]:
        """The record's lines (without newline) from byte `start` to its end."""
        while start < self.end and (data := complete_lines(self.fd, start)):
            data = data[:self.end - start]
            yield from data.split(b"\n")[:-1]
            start += len(data)

    def append_many(self, events: Iterable[Mapping], *, allow_unknown: bool | None = None) -> list[Event]:
        """As Store.append_many, under the lock already held."""
        return self.write_prepared(self.store.prepare_batch(self.log.session_id, events, allow_unknown=allow_unknown))

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
            stored.append(Event(event, orjson.dumps(event), event["sequence_no"]))
        data = b"\n" * torn + b"".join(e.raw + b"\n" for e in stored)
        self.log.write(self.fd, self.directory, data, fsync=self.store.fsync)
        crash_point("append-written")
        self.wrote = True
        self.end = size + len(data)
        self.lines += torn + len(stored)
        try:
            self.log.update_treeship_count(self.directory, self.lines, self.end)
        except (OSError, StoreError) as error:
            # Treeship's own cache: a stale one only makes its next append recount.
            logger.warning("session %s: events.jsonl.count not updated (%s)", self.log.session_id, error)
        return stored
