"""The local store's QueryBackend (reader.py): the index caught up with
the record (freshness.py), then asked in SQL; events read back from the
JSONL bytes it points at (readback.py). Also what verify compares with the
file. All SQL is parameterised; column names come from fixed lists, never
from input."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

from ..errors import StoreNotFound, ValidationError
from ..event import format_time
from ..follow import Followed, Position, read_after
from ..projector import FAILED_TYPE
from .file import SQLITE_INTERRUPT
from .freshness import refresh

if TYPE_CHECKING:
    from collections.abc import Iterator

    from ..event import Event
    from ..filters import EventFilter
    from ..results import DamagedLine
    from ..record.directory import SessionDirectory
    from . import Index

AGENT_COLUMNS = ("agent_id_key", "agent_name_key", "instance_key")
# A failed process (projector.py's rule; the index holds exit_code only as
# a 64-bit integer), given the key of FAILED_TYPE.
FAILED_PROCESS = "e.type_key = ? AND e.exit_code != 0"
# A session's place in the sessions page's order, as sessions_by_start indexes it.
START = "coalesce(first_us, -9223372036854775808)"
FILES_FROM = ("FROM events e JOIN strings p ON p.key = e.path_key JOIN strings an ON an.key = e.agent_name_key")
# SQLite asks whether to go on every this many steps of a search (FTS5 reading
# its index included): often enough to stop within a millisecond or so, seldom
# enough to cost the search next to nothing.
SEARCH_CHECK_STEPS = 1000
T = TypeVar("T")


class SqliteQueries:
    """The questions, answered by the index under a store's root. Each one
    first catches the index up with what other writers appended to the
    sessions it is about, in the same Index.run."""

    def __init__(self, directory: SessionDirectory, index: Index, *, search_timeout: float | None = None):
        self.directory, self.index = directory, index
        self.root = directory.root
        self.search_timeout = search_timeout  # seconds a search may run, or None for no bound

    def _ask(self, sessions: Sequence[str] | None, answer: Callable[[dict[str, int]], T], *,
             search: bool = False) -> T:
        """`answer({session_id: key})` once the index holds every line of
        `sessions` (None: of every session), in one Index.run."""
        self.directory.require_root()

        def ask(index: Index) -> T:
            keys = refresh(self.directory, index, None if sessions is None else list(sessions))
            if search:
                index.flush_search()
            return answer(keys)
        return self.index.run(ask)

    def select_events(self, chosen: EventFilter) -> Iterator[Event]:
        def locations(keys: dict[str, int]) -> Iterator[Event]:
            cursor = self._select(chosen, keys)
            names = {key: session_id for session_id, key in keys.items()}

            def session_id_of(key: int) -> str:
                if key not in names:
                    names[key] = self.index.session_id_of(key)
                return names[key]
            from .readback import read_events  # noqa: PLC0415 - queries only: orjson is not for appends
            return read_events(self.directory.sessions_dir, self.index.path, cursor or (), session_id_of)
        return self._ask(chosen.sessions, locations, search=chosen.search is not None)

    def _select(self, chosen: EventFilter, keys: dict[str, int]) -> sqlite3.Cursor | None:
        """A cursor of (session_key, offset, length, sequence_no, line_no) for matching
        events, or None when nothing can match."""
        query = self.events_query(**chosen.index_filters(_wanted(chosen, keys)))
        return None if query is None else self._read(*query, search=chosen.search is not None)

    def count_events(self, chosen: EventFilter) -> int:
        def count(keys: dict[str, int]) -> int:
            query = self.events_query(shape="count", **chosen.index_filters(_wanted(chosen, keys)))
            return 0 if query is None else self._read(*query, search=chosen.search is not None).fetchone()[0]
        return self._ask(chosen.sessions, count, search=chosen.search is not None)

    def file_rows(self, chosen: EventFilter) -> list[dict]:
        """Per file_path: how many events, by which agents (by name), first
        and last time. From the index alone, in path order."""
        def files(keys: dict[str, int]) -> list[dict]:
            query = self.events_query(shape="files", **chosen.index_filters(_wanted(chosen, keys)))
            from ..results import fold_files  # noqa: PLC0415 - queries only, not the append path
            return fold_files(self.index.reader.execute(*query) if query else (), _time)
        return self._ask(chosen.sessions, files)

    def stored_types(self) -> list[str]:
        return self._ask(None, lambda _: [text for text, in self.index.reader.execute(
            "SELECT DISTINCT type FROM event_totals")])

    @staticmethod
    def held(event_type: str) -> str:
        return event_type

    @staticmethod
    def shown(held: str) -> str:
        return held

    def read_new(self, session_id: str, position: Position) -> Followed:
        self.directory.require_root()
        return read_after(self.directory.log(session_id), position)

    def close(self) -> None:
        self.index.close()
        self.directory.close()

    def _read(self, sql: str, params: Sequence, *, search: bool) -> sqlite3.Cursor:
        """reader.execute(sql, params). A search is stopped, with a
        ValidationError, once it has run search_timeout seconds: its cost is
        the asker's to choose (how common its words are, how many prefixes).
        The first step of a search's statement does the full-text match (the
        IN list of matching rows is built when first needed), so the bound
        covers it; the rows read after it are bounded by the limit."""
        if not search or self.search_timeout is None:
            return self.index.reader.execute(sql, params)
        deadline = time.monotonic() + self.search_timeout
        self.index.reader.set_progress_handler(lambda: time.monotonic() > deadline, SEARCH_CHECK_STEPS)
        try:
            return self.index.reader.execute(sql, params)
        except sqlite3.OperationalError as error:
            if getattr(error, "sqlite_errorcode", None) != SQLITE_INTERRUPT:
                raise
            raise ValidationError(f"the search ran longer than {self.search_timeout:g} s and was stopped: use "
                                  "longer words or fewer prefixes (word*), or narrow it (session, agent, type, "
                                  "since)") from None
        finally:
            self.index.reader.set_progress_handler(None, 0)

    def events_query(self, *, session_keys: Sequence[int] | None = None, agents: Sequence[str] | None = None,
                     types: Sequence[str] | None = None, since_us: int | None = None, until_us: int | None = None,
                     after_seq: int | None = None, failed: bool = False, search: str | None = None,
                     limit: int | None = None, newest_first: bool = False,
                     shape: str = "locations") -> tuple[str, list] | None:
        """The SQL and parameters for the matching events, or None if nothing can
        match: their locations (select_events), their number (count_events) or
        their files (file_summaries), as `shape` says."""
        where, params = [], []

        def condition(sql: str, values: Sequence) -> None:
            where.append(sql.replace("??", ", ".join("?" * len(values))))
            params.extend(values)

        if session_keys is not None:
            condition("e.session_key IN (??)", session_keys)
        if agents:
            keys = self._string_keys(agents)
            columns = self._agent_columns(keys) if keys else []
            if not columns:
                return None
            where.append("(" + " OR ".join(f"e.{c} IN ({', '.join('?' * len(keys))})" for c in columns) + ")")
            params.extend(keys * len(columns))
        if types:
            keys = self._string_keys(types)
            if not keys:
                return None
            condition("e.type_key IN (??)", keys)
        if since_us is not None:
            condition("e.timestamp_us >= ?", [since_us])
        if until_us is not None:
            condition("e.timestamp_us < ?", [until_us])
        if after_seq is not None:
            condition("e.sequence_no > ?", [after_seq])
        if failed:
            completed = self._string_keys([FAILED_TYPE])
            if not completed:
                return None
            condition(FAILED_PROCESS, completed)
        if search is not None:  # an FTS5 query from filters.search_query; rowid = session_key << 32 | line_no
            condition("(e.session_key, e.line_no) IN (SELECT rowid >> 32, rowid & 4294967295 FROM event_text "
                      "WHERE event_text MATCH ?)", [search])
        if shape == "files":
            where.append("e.path_key IS NOT NULL")
        matching = "FROM events e" + (" WHERE " + " AND ".join(where) if where else "")
        if shape == "files":  # per path and agent name; file_summaries folds the agents
            return (f"SELECT p.text, an.text, count(*), min(e.timestamp_us), max(e.timestamp_us) "
                    f"{matching.replace('FROM events e', FILES_FROM, 1)} GROUP BY e.path_key, e.agent_name_key "
                    "ORDER BY p.text, an.text", params)
        one_session = session_keys is not None and len(session_keys) == 1
        # A total order taken from the record, never from keys assigned while
        # indexing: a rebuilt index gives every query the same answer. Across
        # sessions the session id breaks ties in time, which needs the sessions
        # table; SQLite then sorts only runs of equal times ("right part").
        if one_session:
            columns = ("sequence_no", "line_no")
        else:
            columns = ("timestamp_us", "session_id", "sequence_no", "line_no")
            matching = matching.replace("FROM events e", "FROM events e JOIN sessions s USING (session_key)", 1)
        direction = " DESC" if newest_first else ""
        order = ", ".join(column + direction for column in columns)
        cut = -1 if limit is None else limit  # LIMIT -1: no limit
        if not types and not failed and search is None and session_keys is None:
            # Store-wide "what did agent X do (since T)", or "what happened
            # since T" (named sessions take their own primary-key ranges): the
            # agent indexes are (agent, type, time) and the type index (type,
            # time), so events in time order are a merge of one ordered range
            # per type, each cut at since/until and at the limit. Sorting their
            # union beats sorting all of an agent's events (about 100 ms at 90k),
            # and spares the index a time-only index of its own. A type first
            # stored after the list below was read is left out, as if the query
            # had run a moment earlier.
            stored_types = self._stored_types()
            if not stored_types:
                return None
            of_type = matching + (" AND " if where else " WHERE ") + "e.type_key = ?"
            if shape == "count":  # the index alone answers each range: no table lookups
                per_type, per_type_params = f"SELECT 1 {of_type}", [[*params, t] for t in stored_types]
            else:
                per_type = (f"SELECT * FROM (SELECT e.session_key, e.offset, e.length, e.sequence_no, e.timestamp_us, "
                            f"s.session_id, e.line_no {of_type} ORDER BY {order} LIMIT ?)")
                per_type_params = [[*params, t, cut] for t in stored_types]
            matching = "FROM (" + " UNION ALL ".join([per_type] * len(stored_types)) + ")"
            params = [value for values in per_type_params for value in values]
        if shape == "count":
            return f"SELECT count(*) FROM (SELECT 1 {matching} LIMIT ?)", [*params, cut]
        return f"SELECT session_key, offset, length, sequence_no, line_no {matching} ORDER BY {order} LIMIT ?", \
            [*params, cut]

    def _stored_types(self) -> list[int]:
        """The keys of the types present in the events table, by skipping
        through its type index: one seek per type, not a scan."""
        return [row[0] for row in self.index.reader.execute(
            "WITH RECURSIVE present(k) AS (SELECT min(type_key) FROM events UNION ALL "
            "SELECT (SELECT min(type_key) FROM events WHERE type_key > present.k) FROM present "
            "WHERE present.k IS NOT NULL) SELECT k FROM present WHERE k IS NOT NULL")]

    def _string_keys(self, texts: Sequence[str]) -> list[int]:
        """The keys of those of `texts` the index holds (agents, types, paths)."""
        return [row[0] for row in self.index.reader.execute(
            f"SELECT key FROM strings WHERE text IN ({', '.join('?' * len(texts))})", list(texts))]

    def _agent_columns(self, keys: Sequence[int]) -> list[str]:
        """Which of agent_id / agent_name / instance hold any of these keys.
        Filtering on those alone keeps the query on one index in the usual case."""
        marks = ", ".join("?" * len(keys))
        return [column for column in AGENT_COLUMNS
                if self.index.reader.execute(f"SELECT 1 FROM events WHERE {column} IN ({marks}) LIMIT 1",
                                       list(keys)).fetchone()]

    def session_summaries(self) -> list[dict]:
        """Per session: events, damaged lines, agents, first and last time, from
        the counts catch-up keeps (no scan of the events table)."""
        return self._ask(None, lambda _: self._summaries())

    def _summaries(self) -> list[dict]:
        # One read snapshot: another process's catch-up may commit a session
        # between the three reads.
        with self.index.snapshot() as conn:
            rows = {key: {"session_id": sid, "events": 0, "damaged_lines": 0, "agents": [],
                          "first": _time(first), "last": _time(last),
                          "indexed_lines": lines}
                    for key, sid, lines, first, last in conn.execute(
                        "SELECT session_key, session_id, indexed_lines, first_us, last_us FROM sessions "
                        "ORDER BY session_id")}
            for key, name, count in conn.execute(
                    "SELECT session_key, agent_name, sum(events) FROM event_counts GROUP BY session_key, agent_name "
                    "ORDER BY session_key, agent_name"):
                rows[key]["agents"].append(name)
                rows[key]["events"] += count
            for key, count in conn.execute("SELECT session_key, count(*) FROM damaged_lines GROUP BY session_key"):
                rows[key]["damaged_lines"] = count
        return list(rows.values())

    def session_page(self, chosen: EventFilter, before: str | None, limit: int) -> list[dict]:
        return self._ask(None, lambda _: self._page(
            agents=chosen.agents, types=chosen.types, since_us=chosen.since_us, until_us=chosen.until_us,
            search=chosen.search, before=before, limit=limit), search=chosen.search is not None)

    def _page(self, *, agents: Sequence[str] | None, types: Sequence[str] | None, since_us: int | None,
              until_us: int | None, search: str | None, before: str | None, limit: int) -> list[dict]:
        """Sessions newest first (by their first event), `limit` at a time,
        after the session `before` in that order: keyset paging on an index,
        so a page costs the same at 100,000 sessions as at 1,000. Filters keep
        sessions with an event by one of `agents` (by name), of one of
        `types`, active within [since, until), or with an event matching
        `search`. Each with what the sessions page shows, from the counts."""
        where, params = [], []
        if before is not None:
            row = self.index.reader.execute(f"SELECT {START}, session_id FROM sessions WHERE session_id = ?",
                                      (before,)).fetchone()
            if row is None:
                return []
            where.append(f"({START}, session_id) < (?, ?)")
            params.extend(row)
        for column, values in (("agent_name", agents), ("type", types)):
            if values:
                where.append(f"EXISTS (SELECT 1 FROM event_counts c WHERE c.session_key = s.session_key "
                             f"AND c.{column} IN ({', '.join('?' * len(values))}))")
                params.extend(values)
        if since_us is not None:
            where.append("s.last_us >= ?")
            params.append(since_us)
        if until_us is not None:
            where.append("s.first_us < ?")
            params.append(until_us)
        if search is not None:
            # The words matched once, then the sessions they are in: a MATCH
            # per session (EXISTS) ran the whole full-text query again for each
            # session looked at, every one of them when few match (2.3 s for
            # "c* a* t*" over 200 sessions; 0.013 s this way).
            where.append("s.session_key IN (SELECT rowid >> 32 FROM event_text WHERE event_text MATCH ?)")
            params.append(search)
        page = self._read(
            "SELECT session_key, session_id, first_us, last_us, indexed_lines FROM sessions s "
            f"{'WHERE ' + ' AND '.join(where) if where else ''} ORDER BY {START} DESC, session_id DESC LIMIT ?",
            [*params, limit], search=search is not None).fetchall()
        rows = {key: {"session_id": sid, "first": _time(first), "last": _time(last),
                      "duration_ms": None if first is None else (last - first) // 1000, "events": 0,
                      "agents": [], "failed_processes": 0, "tokens_in": 0, "tokens_out": 0, "file_writes": 0,
                      "damaged_lines": 0, "lines": lines}
                for key, sid, first, last, lines in page}
        keys = ", ".join("?" * len(rows))
        for key, agent, events, failed, tokens_in, tokens_out, writes in self.index.reader.execute(
                "SELECT session_key, agent_name, sum(events), sum(failed), sum(tokens_in), sum(tokens_out), "
                "sum(CASE WHEN type = 'agent.wrote_file' THEN events ELSE 0 END) FROM event_counts "
                f"WHERE session_key IN ({keys}) GROUP BY session_key, agent_name ORDER BY 1, 2", list(rows)):
            row = rows[key]
            row["agents"].append(agent)
            for name, value in (("events", events), ("failed_processes", failed), ("tokens_in", tokens_in),
                                ("tokens_out", tokens_out), ("file_writes", writes)):
                row[name] += value
        for key, count in self.index.reader.execute(
                f"SELECT session_key, count(*) FROM damaged_lines WHERE session_key IN ({keys}) GROUP BY 1",
                list(rows)):
            rows[key]["damaged_lines"] = count
        return list(rows.values())

    def stats(self, session: str | None, full: bool) -> dict:
        sessions = None if session is None else [session]
        return self._ask(sessions, lambda keys: self._stats(
            None if session is None else [keys[session]] if session in keys else [], full))

    def _stats(self, session_keys: Sequence[int] | None, full: bool) -> dict:
        # Store-wide questions read the totals; per-session ones the per-session counts.
        scope, params, counted = "", [], "event_totals"
        if session_keys is not None:
            scope = f" AND session_key IN ({', '.join('?' * len(session_keys))})"
            params, counted = list(session_keys), "event_counts"

        def rows(sql: str) -> list[tuple]:
            sql = sql.replace("{scope}", scope).replace("{counts}", counted)
            return self.index.conn.execute(sql, params).fetchall()

        by_type = dict(rows("SELECT type, sum(events) FROM {counts} WHERE 1{scope} GROUP BY type "
                            "ORDER BY 2 DESC, 1"))
        counts = {
            "events": sum(by_type.values()),
            "damaged_lines": rows("SELECT count(*) FROM damaged_lines WHERE 1{scope}")[0][0],
            "by_type": by_type,
            "by_agent": dict(rows("SELECT agent_name, sum(events) FROM {counts} WHERE 1{scope} "
                                  "GROUP BY agent_name ORDER BY 2 DESC, 1")),
        }
        if not full:
            return counts
        return counts | {
            "tokens_by_model": {
                model or None: {"decisions": n, "tokens_in": tin, "tokens_out": tout}
                for model, n, tin, tout in rows(
                    "SELECT model, sum(events), sum(tokens_in), sum(tokens_out) FROM {counts} "
                    "WHERE type = 'agent.decision'{scope} GROUP BY model ORDER BY 1")},
            "failed_processes": rows("SELECT coalesce(sum(failed), 0) FROM {counts} WHERE 1{scope}")[0][0],
            "files_written": rows("SELECT count(DISTINCT path_key) FROM events WHERE type_key = "
                                  "(SELECT key FROM strings WHERE text = 'agent.wrote_file'){scope}")[0][0],
        }

    def damaged_lines(self, session_id: str) -> list[DamagedLine]:
        from ..results import DamagedLine  # noqa: PLC0415 - queries only, not the append path

        def damaged(keys: dict[str, int]) -> list[DamagedLine]:
            if session_id not in keys:
                raise StoreNotFound(f"no session {session_id} under {self.root}")
            return [DamagedLine(session_id, *row) for row in self.index.reader.execute(
                "SELECT line_no, offset, length, reason FROM damaged_lines WHERE session_key = ? ORDER BY line_no",
                (keys[session_id],))]
        return self._ask([session_id], damaged)


def _wanted(chosen: EventFilter, keys: dict[str, int]) -> list[int] | None:
    """The keys of the sessions asked for that the index holds (None: any session)."""
    return None if chosen.sessions is None else [keys[s] for s in chosen.sessions if s in keys]


def _time(micros: int | None) -> str | None:
    # 0 is the epoch, a time like any other; None is "no time known".
    return None if micros is None else format_time(micros)
