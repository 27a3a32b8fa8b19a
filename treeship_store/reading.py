"""The read side of Store: events by filter, files, sessions, stats, a
session's damaged lines and record, and following a session live. Every
answer comes from the index, caught up first (freshness.py); results are read
from the JSONL bytes it points at."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from .errors import StoreError, StoreNotFound, ValidationError
from .event import Event, check_session_id, decode_line
from .follow import Followed, Position, follow_events, read_after
from .record.log import SessionLog
from .record.lines import iter_lines

if TYPE_CHECKING:
    from .filters import EventFilter
    from .index import Index
    from .results import DamagedLine, SessionContents

T = TypeVar("T")


class StoreReading:
    """Query methods of Store; they use its index through `_indexed`."""

    root: Path
    sessions_dir: Path

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
        from .filters import EventFilter  # noqa: PLC0415 - queries only, not the append path
        chosen = EventFilter.build(session, agent=agent, type=type, since=since, until=until, after_seq=after_seq,
                                   failed=failed, search=search, limit=limit, newest_first=newest_first)

        def read(index: Index, filters: dict, keys: dict[str, int]) -> Iterator[Event]:
            cursor = index.select_events(**filters)
            names = {key: session_id for session_id, key in keys.items()}

            def session_id_of(key: int) -> str:
                if key not in names:
                    names[key] = index.session_id_of(key)
                return names[key]
            from .index.readback import read_events  # noqa: PLC0415 - queries only, not the append path
            return read_events(self.sessions_dir, self._index.path, cursor or (), session_id_of)
        return self._matching(chosen, read)

    def count_events(self, session: str | Iterable[str] | None = None, *, agent: str | Iterable[str] | None = None,
                     type: str | Iterable[str] | None = None, since: str | datetime | None = None,
                     until: str | datetime | None = None, after_seq: int | None = None, failed: bool = False,
                     search: str | None = None, limit: int | None = None) -> int:
        """How many events events() would return with these filters, counted in
        the index without reading the JSONL."""
        from .filters import EventFilter  # noqa: PLC0415 - queries only, not the append path
        chosen = EventFilter.build(session, agent=agent, type=type, since=since, until=until, after_seq=after_seq,
                                   failed=failed, search=search, limit=limit)
        return self._matching(chosen, lambda index, filters, _: index.count_events(**filters))

    def files(self, session: str | Iterable[str] | None = None, *, agent: str | Iterable[str] | None = None,
              since: str | datetime | None = None, until: str | datetime | None = None,
              read: bool = False) -> list[dict]:
        """Which files were written (read=True: read), one summary per path, in
        path order: file_path, events, agents (by name), first and last time.
        Filters as for events(); from the index alone."""
        if not isinstance(read, bool):
            raise ValidationError(f"read must be True or False, got {read!r}")
        from .filters import EventFilter  # noqa: PLC0415 - queries only, not the append path
        chosen = EventFilter.build(session, agent=agent, type="agent.read_file" if read else "agent.wrote_file",
                                   since=since, until=until)
        return self._matching(chosen, lambda index, filters, _: index.file_summaries(**filters))

    def _matching(self, chosen: EventFilter, answer: Callable[[Index, dict, dict[str, int]], T]) -> T:
        """Catch the index up, and hand `answer` the index, the filters as the
        index takes them, and {session_id: key}."""
        from .filters import check_types  # noqa: PLC0415 - queries only, not the append path
        self._require_root()
        sessions = None if chosen.sessions is None else list(chosen.sessions)

        def ask(index: Index) -> T:
            keys = self._refresh(index, sessions)
            if chosen.search is not None:
                index.flush_search()
            check_types(chosen.types, lambda: index.stats(None, full=False)["by_type"])
            wanted = None if sessions is None else [keys[s] for s in sessions if s in keys]
            return answer(index, chosen.index_filters(wanted), keys)

        return self._indexed(ask)

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
        (follow.start_position makes the first), read from its events.jsonl,
        and where to look next."""
        self._require_root()
        return read_after(SessionLog(self.sessions_dir, session_id), position)

    def sessions(self) -> list[dict]:
        """One summary per session: events, damaged lines, agents, first and last time."""
        self._require_root()

        def summaries(index: Index) -> list[dict]:
            self._refresh(index, None)
            return index.session_summaries()
        return self._indexed(summaries)

    def session_page(self, *, agent: str | Iterable[str] | None = None, type: str | Iterable[str] | None = None,
                     since: str | datetime | None = None, until: str | datetime | None = None,
                     search: str | None = None, before: str | None = None, limit: int = 50) -> list[dict]:
        """Sessions newest first, `limit` (1-1000) at a time after the session
        `before`: each with start, duration, agents, events, failed processes,
        tokens in and out, file writes and damaged lines. Keeps sessions with an
        event by `agent` (a name), of `type`, within since/until, or matching
        `search` (as events() takes them)."""
        from .filters import EventFilter  # noqa: PLC0415 - queries only, not the append path
        chosen = EventFilter.build(agent=agent, type=type, since=since, until=until, search=search, limit=limit)
        if not 1 <= limit <= 1000:
            raise ValidationError(f"limit must be from 1 to 1000 sessions a page, got {limit!r}")
        if before is not None:
            check_session_id(before)
        self._require_root()

        def page(index: Index) -> list[dict]:
            self._refresh(index, None)
            if chosen.search is not None:
                index.flush_search()
            return index.session_page(agents=chosen.agents, types=chosen.types, since_us=chosen.since_us,
                                      until_us=chosen.until_us, search=chosen.search, before=before, limit=limit)
        return self._indexed(page)

    def counts(self, session: str | None = None) -> dict:
        """Events and damaged lines, events by type and by agent: from counts the
        index keeps, so as cheap over a million events as over ten."""
        return self._report(session, full=False)

    def stats(self, session: str | None = None) -> dict:
        """counts() plus tokens by model, failed processes and files written."""
        return self._report(session, full=True)

    def _report(self, session: str | None, *, full: bool) -> dict:
        self._require_root()
        sessions = None if session is None else [check_session_id(session)]

        def report(index: Index) -> dict:
            keys = self._refresh(index, sessions)
            return index.stats(None if sessions is None else [keys[s] for s in sessions if s in keys], full=full)
        return self._indexed(report)

    def damaged_lines(self, session_id: str) -> list[DamagedLine]:
        """A session's damaged lines (kept in its file), from the index."""
        from .results import DamagedLine  # noqa: PLC0415 - not on the append path
        self._require_root()
        check_session_id(session_id)

        def damaged(index: Index) -> list[DamagedLine]:
            key = self._refresh(index, [session_id]).get(session_id)
            if key is None:
                raise StoreNotFound(f"no session {session_id} under {self.root}")
            return [DamagedLine(session_id, *row) for row in index.damaged_lines(key)]
        return self._indexed(damaged)

    def read_session(self, session_id: str) -> SessionContents:
        """Every line of a session's record straight from its JSONL, without the
        index: the events, and the lines that are damaged."""
        from .results import DamagedLine, SessionContents  # noqa: PLC0415 - not on the append path
        self._require_root()
        log = SessionLog(self.sessions_dir, session_id).open_for_reading()
        if log is None:
            raise StoreNotFound(f"no session {session_id} under {self.root}")
        contents = SessionContents(session_id, [], [])
        try:
            for line_no, offset, line in iter_lines(log):
                event, reason = decode_line(line)
                if event is None:
                    contents.damaged.append(DamagedLine(session_id, line_no, offset, len(line), reason))
                else:
                    contents.events.append(Event(event, line, line_no))
        except OSError as error:
            raise StoreError(f"cannot read {log.path}: {error.strerror or error}") from None
        finally:
            log.close()
        return contents
