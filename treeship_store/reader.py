"""The questions a store answers, asked once for every store.

`Reader` is what the CLI's read commands, the web view and library callers
ask: it checks each question (filters.EventFilter, session ids, limits,
unknown types with "did you mean") and hands it, checked, to a
`QueryBackend`. Two backends answer in their own SQL: the local index
(index/queries.py, caught up with the JSONL first) and the central
PostgreSQL store (central/queries.py). Both answer with the same shapes:
events as Event (the stored line and its fields), files, sessions and
stats as the dicts `--format json` prints. tests/contract/ holds both to
the same answers.

Recording is the other half, and not one interface: the index records
through Index.catch_up (watermark and rows in one transaction), the central
store through central.push.Pusher (a line's position is its key; the local
position advances after the central commit). Both project lines with
projector.py.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from .errors import ValidationError
from .event import Event, check_session_id
from .follow import Followed, Position, follow_events

if TYPE_CHECKING:
    from .filters import EventFilter
    from .results import DamagedLine

MAX_PAGE = 1000  # sessions a page at most


class QueryBackend(Protocol):
    """What a store answers in its own query language. Every argument arrives
    checked; each method translates its driver's errors into StoreError."""

    root: object  # what messages name: a path, or a URL without its password

    def select_events(self, chosen: EventFilter) -> Iterator[Event]:
        """The matching events: one session in sequence order, several in time
        order, then session id, then sequence_no (reversed if newest_first)."""

    def count_events(self, chosen: EventFilter) -> int:
        """How many events select_events would give."""

    def file_rows(self, chosen: EventFilter) -> list[dict]:
        """Per file_path of the matching events, in path order (results.fold_files)."""

    def session_summaries(self) -> list[dict]:
        """Per session, in id order: events, damaged lines, agents, first and last time."""

    def session_page(self, chosen: EventFilter, before: str | None, limit: int) -> list[dict]:
        """Up to `limit` sessions newest first after `before` that have a matching event."""

    def stats(self, session: str | None, full: bool) -> dict:
        """Counts (and with `full`, tokens, failures, files) of one session or all."""

    def stored_types(self) -> Collection[str]:
        """The event types present, as the store holds them (held())."""

    def held(self, event_type: str) -> str:
        """How the store holds a type."""

    def shown(self, held: str) -> str | None:
        """The type a held one is; None where the store cannot say."""

    def damaged_lines(self, session_id: str) -> list[DamagedLine]:
        """A session's damaged lines in file order; StoreNotFound if it has no such session."""

    def read_new(self, session_id: str, position: Position) -> Followed:
        """The session's events after `position`, and where to look next."""

    def close(self) -> None: ...


class Reader:
    """The public questions, checked once, over `self.backend`."""

    backend: QueryBackend

    def events(self, session: str | Iterable[str] | None = None, *, agent: str | Iterable[str] | None = None,
               type: str | Iterable[str] | None = None, since: str | datetime | None = None,
               until: str | datetime | None = None, after_seq: int | None = None, failed: bool = False,
               search: str | None = None, limit: int | None = None, newest_first: bool = False) -> Iterator[Event]:
        """Events matching every given filter, read from the JSONL bytes the index
        points at. `agent` matches agent_id, agent_name or agent_instance_id;
        `session`, `agent` and `type` take one value or several. `since` is
        inclusive, `until` exclusive; both take RFC 3339, a relative age such as
        "30m", "2h" or "7d", or a datetime. failed=True keeps only processes that
        exited non-zero (agent.completed_process with an integer exit_code other
        than 0), the ones stats() counts. `search` keeps events whose texts
        (commands, paths, tool names, summaries, reasons, destinations, models,
        meta's strings) hold every word given, each within one text ("app.py"
        is a phrase: app then py); "word*" matches a prefix. A type that neither Treeship's schema
        nor the store knows is a ValidationError: a typo would match nothing.
        One session comes in sequence order; several in order of time, then
        session id, then sequence_no. newest_first reverses it."""
        return self.backend.select_events(self._checked(
            session, agent=agent, type=type, since=since, until=until, after_seq=after_seq, failed=failed,
            search=search, limit=limit, newest_first=newest_first))

    def count_events(self, session: str | Iterable[str] | None = None, *, agent: str | Iterable[str] | None = None,
                     type: str | Iterable[str] | None = None, since: str | datetime | None = None,
                     until: str | datetime | None = None, after_seq: int | None = None, failed: bool = False,
                     search: str | None = None, limit: int | None = None) -> int:
        """How many events events() would return with these filters, counted in
        the index without reading the JSONL."""
        return self.backend.count_events(self._checked(
            session, agent=agent, type=type, since=since, until=until, after_seq=after_seq, failed=failed,
            search=search, limit=limit))

    def files(self, session: str | Iterable[str] | None = None, *, agent: str | Iterable[str] | None = None,
              since: str | datetime | None = None, until: str | datetime | None = None,
              read: bool = False) -> list[dict]:
        """Which files were written (read=True: read), one summary per path, in
        path order: file_path, events, agents (by name), first and last time.
        Filters as for events(); from the index alone."""
        return self.backend.file_rows(self._checked(session, **self._files_filters(agent, since, until, read)))

    def sessions(self) -> list[dict]:
        """One summary per session: events, damaged lines, agents, first and last time."""
        return self.backend.session_summaries()

    def session_page(self, *, agent: str | Iterable[str] | None = None, type: str | Iterable[str] | None = None,
                     since: str | datetime | None = None, until: str | datetime | None = None,
                     search: str | None = None, before: str | None = None, limit: int = 50) -> list[dict]:
        """Sessions newest first, `limit` (1-1000) at a time after the session
        `before`: each with start, duration, agents, events, failed processes,
        tokens in and out, file writes and damaged lines. Keeps sessions with an
        event by `agent` (a name), of `type`, within since/until, or matching
        `search` (as events() takes them)."""
        chosen = self._checked(agent=agent, type=type, since=since, until=until, search=search, limit=limit,
                               known_types=False)
        if not 1 <= limit <= MAX_PAGE:
            raise ValidationError(f"limit must be from 1 to {MAX_PAGE} sessions a page, got {limit!r}")
        return self.backend.session_page(chosen, None if before is None else check_session_id(before), limit)

    def counts(self, session: str | None = None) -> dict:
        """Events and damaged lines, events by type and by agent: from counts the
        index keeps, so as cheap over a million events as over ten."""
        return self.backend.stats(None if session is None else check_session_id(session), False)

    def stats(self, session: str | None = None) -> dict:
        """counts() plus tokens by model, failed processes and files written."""
        return self.backend.stats(None if session is None else check_session_id(session), True)

    def damaged_lines(self, session_id: str) -> list[DamagedLine]:
        """A session's damaged lines (kept in its file), from the index."""
        return self.backend.damaged_lines(check_session_id(session_id))

    def follow(self, session_id: str, *, after_seq: int | None = None, interval: float = 0.25,
               until: Callable[[], bool] | None = None) -> Iterator[Event]:
        """A session's events as they are appended, by any writer (Treeship's
        own CLI included), in file order: those after line `after_seq` (the
        line_no of the last event seen, which is its sequence_no when its
        writer kept the rule), or from now on when None. Each line once, even
        one that repeats another's sequence_no. If events.jsonl is replaced
        (a restore, a shorter copy), it logs a warning and goes on from the
        first line of the new file. Looks every `interval` seconds; runs until
        the caller stops iterating, or until `until()` says so once it has
        caught up. `tail -f` uses it; the web view's stream calls read_new."""
        return follow_events(self, session_id, after_seq=after_seq, interval=interval, until=until)

    def read_new(self, session_id: str, position: Position) -> Followed:
        """One look of follow(): the session's events after `position`
        (follow.start_position makes the first), and where to look next."""
        return self.backend.read_new(check_session_id(session_id), position)

    def close(self) -> None:
        self.backend.close()

    def _checked(self, session: str | Iterable[str] | None = None, *, known_types: bool = True,
                 **filters) -> EventFilter:
        """The filters checked (EventFilter.build); a type neither Treeship's
        schema nor the store holds is refused with the nearest one."""
        from .filters import EventFilter, check_types  # noqa: PLC0415 - queries only, not the append path
        chosen = EventFilter.build(session, **filters)
        if known_types:
            check_types(chosen.types, self.backend.stored_types, held=self.backend.held, shown=self.backend.shown)
        return chosen

    @staticmethod
    def _files_filters(agent, since, until, read: bool) -> dict:
        if not isinstance(read, bool):
            raise ValidationError(f"read must be True or False, got {read!r}")
        return dict(agent=agent, type="agent.read_file" if read else "agent.wrote_file", since=since, until=until)
