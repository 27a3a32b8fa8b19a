"""The seam between what asks and what answers.

`Reader` is what the CLI's read commands and the web view ask of a store.
Two backends answer it: Store (the local SQLite index over the JSONL) and
central.CentralStore (PostgreSQL). Filters are declared once
(filters.EventFilter) and both answer with the same shapes: events as Event
(the stored line and its fields), files, sessions, stats as the dicts the
CLI renders. tests/test_contract.py holds both to the same answers.

Recording is the other half: each backend keeps lines at a position it can
check, so that recording twice changes nothing. The SQLite index records
through Index.catch_up (watermark and lines in one transaction); the central
store through central.push.Pusher (the line's position is its key; local
positions advance after the commit). They share the projector's reading of
lines (event.decode_line) but not one recorder class: the index's position
lives in the same transaction as its rows, the central one in another
database, and forcing one interface over both would hide that difference
rather than remove it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Protocol

from .event import Event
from .follow import Followed, Position
from .results import DamagedLine


class Reader(Protocol):
    root: object  # what messages name: a path, or a masked URL

    def events(self, session: str | Iterable[str] | None = None, **filters) -> Iterator[Event]: ...
    def count_events(self, session: str | Iterable[str] | None = None, **filters) -> int: ...
    def files(self, session: str | Iterable[str] | None = None, **filters) -> list[dict]: ...
    def sessions(self) -> list[dict]: ...
    def session_page(self, **filters) -> list[dict]: ...
    def counts(self, session: str | None = None) -> dict: ...
    def stats(self, session: str | None = None) -> dict: ...
    def damaged_lines(self, session_id: str) -> list[DamagedLine]: ...
    def follow(self, session_id: str, *, after_seq: int | None = None, interval: float = 0.25,
               until: Callable[[], bool] | None = None) -> Iterator[Event]: ...
    def read_new(self, session_id: str, position: Position) -> Followed: ...
    def close(self) -> None: ...
