"""The central store's QueryBackend (reader.py): the questions a local
Store answers, asked of PostgreSQL with the same checked filters and
answered alike: events as their stored lines, files, sessions, stats. Plus
`host`, which a central store has many of."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta, timezone

import orjson
import psycopg

from ..errors import StoreNotFound, ValidationError
from ..event import Event, format_time
from ..filters import EventFilter
from ..follow import Followed, Position
from ..results import DamagedLine, fold_files
from .columns import from_column, to_column, to_columns
from .connection import connect, masked, translate
from .schema import FAILED

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_TOKENS = 2**40  # as the local counts: larger token numbers are not counted (projector._countable)
_ONE_SESSION = " AND (month, session_id) IN (SELECT month, session_id FROM sessions WHERE session_id = %s)"
FOLLOW_LINES = 10_000  # lines one look of a follower reads at most; it looks again at once for more


class CentralQueries:
    """Read-only questions to a central store (one connection, one thread)."""

    def __init__(self, url: str):
        self.url = url
        self.root = masked(url)  # what messages name
        self.conn = self._connect()

    def _connect(self) -> psycopg.Connection:
        conn = connect(self.url, autocommit=True)
        try:
            # Questions here want their first rows fast: starting parallel workers
            # costs 4-8 ms, more than most answers (a common agent's first match).
            conn.execute("SET max_parallel_workers_per_gather = 0")
            # psycopg prepares a statement run five times, and PostgreSQL then
            # may plan it once for any value: for "agent_id = $1 LIMIT 1" that
            # is a scan of every line when the value is absent (1.5 s at 10M
            # lines, against 3 ms planned for the value). Values here are skewed
            # (one agent has half the lines, another none): plan for each.
            conn.execute("SET plan_cache_mode = force_custom_plan")
        except psycopg.Error as error:
            conn.close()
            raise translate(error, self.url) from None
        return conn

    def close(self) -> None:
        self.conn.close()

    def rows(self, query: str, params: Iterable = ()) -> list[tuple]:
        if self.conn.broken:
            # The server went away since: connect again (or say it is still
            # away), so that a long-lived reader, the web view's, recovers.
            self.conn.close()
            self.conn = self._connect()
        try:
            return self.conn.execute(query, list(params)).fetchall()
        except psycopg.Error as error:
            raise translate(error, self.url) from None

    # -- events ---------------------------------------------------------------

    def select_events(self, chosen: EventFilter) -> Iterator[Event]:
        where, params = self._where(chosen)
        if chosen.sessions is not None and len(chosen.sessions) == 1:
            columns = ("l.sequence_no", "l.line_no")
        else:
            columns = ("l.at", 'l.session_id COLLATE "C"', "l.sequence_no", "l.line_no")
        # The local index's order: SQLite puts a missing time first going up.
        direction = " DESC NULLS LAST" if chosen.newest_first else " NULLS FIRST"
        order = ", ".join(column + direction for column in columns)
        limit = "" if chosen.limit is None else f" LIMIT {int(chosen.limit)}"
        query = f"SELECT l.line, l.line_no FROM lines l WHERE {where} ORDER BY {order}{limit}"
        if chosen.agents and not chosen.types and chosen.sessions is None and limit:
            # "What did agent X do", newest N, as the local index answers it: the
            # agent indexes are (agent, type, time), so the answer is a merge of
            # one ordered range per type, each cut at N, not a sort of every
            # event the agent ever had.
            stored = self.stored_types()
            if not stored:
                return iter(())
            ranges = [f"(SELECT l.line, l.at, l.session_id, l.sequence_no, l.line_no FROM lines l WHERE {where} "
                      f"AND l.type = %s ORDER BY {order}{limit})"] * len(stored)
            query = f"SELECT l.line, l.line_no FROM ({' UNION ALL '.join(ranges)}) l ORDER BY {order}{limit}"
            params = [value for event_type in stored for value in [*params, event_type]]
        return iter([Event(orjson.loads(raw := line.encode()), raw, line_no)
                     for line, line_no in self.rows(query, params)])

    def count_events(self, chosen: EventFilter) -> int:
        where, params = self._where(chosen)
        limit = "" if chosen.limit is None else f" LIMIT {int(chosen.limit)}"
        return self.rows(f"SELECT count(*) FROM (SELECT 1 FROM lines l WHERE {where}{limit}) matching", params)[0][0]

    def file_rows(self, chosen: EventFilter) -> list[dict]:
        event_type, = chosen.types
        where, params = self._where(chosen)
        rows = [(self._whole("file_path", path, " AND l.agent_name = %s AND l.type = %s", [name, event_type]),
                 self._whole("agent_name", name), *rest) for path, name, *rest in self.rows(
            f"SELECT l.file_path, l.agent_name, count(*), min(l.at), max(l.at) FROM lines l WHERE {where} "
            "AND l.file_path IS NOT NULL GROUP BY 1, 2", params)]
        return fold_files(sorted(rows, key=lambda row: row[:2]), _time)

    def _where(self, chosen: EventFilter) -> tuple[str, list]:
        _refuse_search(chosen)
        where, params = ["l.line IS NOT NULL"], []
        if chosen.sessions is not None:
            # With the sessions' months, each session is one primary-key range of one partition.
            where.append("(l.month, l.session_id) IN (SELECT month, session_id FROM sessions "
                         "WHERE session_id = ANY(%s))")
            params.append(list(chosen.sessions))
        if chosen.agents:
            # Only the columns that hold one of these values: usually one, whose
            # (column, type, time) index then gives the newest first in order,
            # where an OR of three would combine bitmaps and sort every match.
            agents = to_columns(chosen.agents)
            columns = self._agent_columns(agents) or ["agent_name"]
            where.append("(" + " OR ".join(one_of(f"l.{column}", agents) for column in columns) + ")")
            params.extend([value_of(agents)] * len(columns))
        if chosen.types:
            where.append(one_of("l.type", chosen.types))
            params.append(value_of(to_columns(chosen.types)))
        for bound, operator in ((chosen.since_us, ">="), (chosen.until_us, "<")):
            if bound is not None:
                where.append(f"l.at {operator} %s")
                params.append(_EPOCH + timedelta(microseconds=bound))
        if chosen.after_seq is not None:
            where.append("l.sequence_no > %s")
            params.append(chosen.after_seq)
        if chosen.failed:
            where.append(FAILED)
        hosts = to_columns(chosen.hosts or ())
        if hosts:
            where.append(one_of("l.host_id", hosts))
            params.append(value_of(hosts))
        return " AND ".join(where), params

    def stored_types(self) -> list[str]:
        """The types present, by skipping through the type index from one to
        the next: a probe per type, not a scan of the lines."""
        return [event_type for event_type, in self.rows(
            "WITH RECURSIVE t(type) AS (SELECT min(type) FROM lines UNION ALL "
            "SELECT (SELECT min(type) FROM lines WHERE type > t.type) FROM t WHERE t.type IS NOT NULL) "
            "SELECT type FROM t WHERE type IS NOT NULL")]

    held = staticmethod(to_column)
    shown = staticmethod(from_column)

    def _agent_columns(self, agents: tuple[str, ...]) -> list[str]:
        """Which of the three agent columns hold one of `agents` (as held). Names are
        looked up in the counts, a few rows a session, where a common name
        is met at once; ids and instances through their indexes."""
        return [column for column, table in (("agent_id", "lines"), ("agent_name", "line_counts"),
                                             ("agent_instance_id", "lines"))
                if self.rows(f"SELECT 1 FROM {table} WHERE {one_of(column, agents)} LIMIT 1", [value_of(agents)])]

    def _whole(self, column: str, held: str, where: str = "", params: Iterable = ()) -> str:
        """The value `column` holds as `held`: for one held by its digest
        (columns.py), read from a line that holds it (`where` narrows the
        search to an index). The digest itself if no line holds it any more
        (its month dropped, its counts kept)."""
        value = from_column(held)
        if value is None:
            found = self.rows(f"SELECT l.line FROM lines l WHERE l.{column} = %s{where} LIMIT 1", [held, *params])
            value = orjson.loads(found[0][0])[column] if found else held
        return value

    # -- summaries ------------------------------------------------------------

    def session_summaries(self) -> list[dict]:
        """Per session, events, damaged lines, agents, first and last time,
        lines: from the counts push keeps."""
        return [{"session_id": row[0], "events": row[1], "damaged_lines": row[2], "agents": row[3],
                 "first": _time(row[4]), "last": _time(row[5]), "indexed_lines": row[1] + row[2]}
                for row in self._summaries("", [], "ORDER BY c.session_id COLLATE \"C\"")]

    def _summaries(self, sessions: str, params: list, order: str) -> list[tuple]:
        """(session, events, damaged lines, agents, first, last, failed, tokens
        in, tokens out, file writes) per session of `sessions` (a subquery of
        session ids, or "" for all), from line_counts."""
        scope = f"WHERE c.session_id IN ({sessions})" if sessions else ""
        rows = self.rows(
            "SELECT c.session_id, coalesce(sum(c.events) FILTER (WHERE c.type IS NOT NULL), 0), "
            "coalesce(sum(c.events) FILTER (WHERE c.type IS NULL), 0), "
            "coalesce(array_agg(DISTINCT c.agent_name COLLATE \"C\" ORDER BY c.agent_name COLLATE \"C\") "
            "FILTER (WHERE c.agent_name IS NOT NULL), '{}'), min(c.first_at), max(c.last_at), sum(c.failed), "
            "coalesce(sum(c.tokens_in) FILTER (WHERE c.type = 'agent.decision'), 0), "
            "coalesce(sum(c.tokens_out) FILTER (WHERE c.type = 'agent.decision'), 0), "
            "coalesce(sum(c.events) FILTER (WHERE c.type = 'agent.wrote_file'), 0) "
            f"FROM line_counts c {scope} GROUP BY c.session_id {order}", params)
        return [(sid, int(events), int(damaged), sorted(self._whole("agent_name", agent) for agent in agents), first,
                 last, int(failed), int(tin), int(tout), int(writes))
                for sid, events, damaged, agents, first, last, failed, tin, tout, writes in rows]

    def session_page(self, chosen: EventFilter, before: str | None, limit: int) -> list[dict]:
        """Newest first (by the first time of each session's first push),
        keyset-paged after `before`, with the sessions page's summary of each."""
        _refuse_search(chosen)
        where, params = [], []
        if before is not None:
            where.append("(s.started_at, s.session_id) < (SELECT started_at, session_id FROM sessions "
                         "WHERE session_id = %s)")
            params.append(before)
        for column, values in (("agent_name", chosen.agents), ("type", chosen.types)):
            if values:
                where.append(f"EXISTS (SELECT 1 FROM line_counts c WHERE c.session_id = s.session_id "
                             f"AND c.{column} = ANY(%s))")
                params.append(list(to_columns(values)))
        for bound, test in ((chosen.since_us, "max(c.last_at) >= %s"), (chosen.until_us, "min(c.first_at) < %s")):
            if bound is not None:
                where.append(f"(SELECT {test} FROM line_counts c WHERE c.session_id = s.session_id)")
                params.append(_EPOCH + timedelta(microseconds=bound))
        chosen_ids = ("SELECT s.session_id FROM sessions s" + (" WHERE " + " AND ".join(where) if where else "") +
                      " ORDER BY s.started_at DESC NULLS LAST, s.session_id DESC LIMIT %s")
        ids = [sid for sid, in self.rows(chosen_ids, [*params, limit])]
        found = {row[0]: row for row in self._summaries("SELECT unnest(%s::text[])", [ids], "")}
        return [{"session_id": sid, "first": _time(first), "last": _time(last),
                 "duration_ms": None if first is None else (last - first) // timedelta(milliseconds=1),
                 "events": events, "agents": agents, "failed_processes": failed, "tokens_in": tokens_in,
                 "tokens_out": tokens_out, "file_writes": writes, "damaged_lines": damaged, "lines": events + damaged}
                for sid, events, damaged, agents, first, last, failed, tokens_in, tokens_out, writes
                in (found[sid] for sid in ids if sid in found)]

    def damaged_lines(self, session_id: str) -> list[DamagedLine]:
        rows = self.rows("SELECT line_no, byte_offset, octet_length(damaged), reason FROM lines l WHERE damaged IS "
                         f"NOT NULL{_ONE_SESSION} ORDER BY line_no", [session_id])
        if not rows and not self.rows("SELECT 1 FROM sessions WHERE session_id = %s", [session_id]):
            raise StoreNotFound(f"no session {session_id} in {self.root}")
        return [DamagedLine(session_id, *row) for row in rows]

    def read_new(self, session_id: str, position: Position) -> Followed:
        """The session's events after position.line, by line_no, as hosts push
        them. A central record only grows (a diverging line is kept as a
        conflict), so a follower here never starts again."""
        if position.line is None:
            last, = self.rows(f"SELECT max(line_no) FROM lines l WHERE true{_ONE_SESSION}", [session_id])[0]
            return Followed([], Position(-1 if last is None else last), None, True)
        rows = self.rows(f"SELECT line_no, line FROM lines l WHERE l.line IS NOT NULL AND l.line_no > %s"
                          f"{_ONE_SESSION} ORDER BY l.line_no LIMIT {FOLLOW_LINES}", [position.line, session_id])
        events = [Event(orjson.loads(line), line.encode(), line_no) for line_no, line in rows]
        return Followed(events, Position(rows[-1][0]) if rows else position, None, len(rows) < FOLLOW_LINES)

    def stats(self, session: str | None, full: bool) -> dict:
        """From line_counts (files written from lines)."""
        scope, params = "", []
        if session is not None:
            scope, params = " AND session_id = %s", [session]
        by_type = _by_count((self._whole("type", name), n) for name, n in self.rows(
            f"SELECT type, sum(events) FROM line_counts WHERE type IS NOT NULL{scope} GROUP BY type", params))
        counts = {
            "events": sum(by_type.values()),
            "damaged_lines": int(self.rows(f"SELECT coalesce(sum(events), 0) FROM line_counts WHERE type IS NULL"
                                            f"{scope}", params)[0][0]),
            "by_type": by_type,
            "by_agent": _by_count((self._whole("agent_name", name), n) for name, n in self.rows(
                f"SELECT agent_name, sum(events) FROM line_counts WHERE type IS NOT NULL{scope} "
                "GROUP BY agent_name", params)),
        }
        if not full:
            return counts
        # Models are not indexed in `lines`: a digest is looked up in the lines of one session that has it.
        in_a_session = (" AND (l.month, l.session_id) IN (SELECT month, session_id FROM line_counts "
                        "WHERE model = %s LIMIT 1)")
        tokens = sorted(((model if model is None else self._whole("model", model, in_a_session, [model]), *sums)
                         for model, *sums in self.rows(
            "SELECT nullif(model, ''), sum(events), sum(tokens_in), sum(tokens_out) FROM line_counts "
            f"WHERE type = 'agent.decision'{scope} GROUP BY model", params)),
                        key=lambda row: (row[0] is not None, row[0] or ""))
        files_scope = _ONE_SESSION if session is not None else ""
        return counts | {
            "tokens_by_model": {model: {"decisions": int(n), "tokens_in": int(tin), "tokens_out": int(tout)}
                                for model, n, tin, tout in tokens},
            "failed_processes": int(self.rows(f"SELECT coalesce(sum(failed), 0) FROM line_counts WHERE true{scope}",
                                               params)[0][0]),
            "files_written": self.rows(f"SELECT count(DISTINCT file_path) FROM lines WHERE type = 'agent.wrote_file'"
                                        f"{files_scope}", params)[0][0],
        }


def _refuse_search(chosen: EventFilter) -> None:
    if chosen.search is not None:
        raise ValidationError("search is not available against a central store (yet): ask the local store")


def _by_count(counts: Iterable[tuple[str, int]]) -> dict[str, int]:
    """Most first, then by name, as the local index orders them (in Python:
    a value held by its digest is not in its order in the column)."""
    return {name: int(n) for name, n in sorted(counts, key=lambda pair: (-pair[1], pair[0]))}


def one_of(column: str, values: tuple) -> str:
    # "= %s" for one value: PostgreSQL reads an index in order for it, not for "= ANY".
    return f"{column} = %s" if len(values) == 1 else f"{column} = ANY(%s)"


def value_of(values: tuple):
    return values[0] if len(values) == 1 else list(values)


def _time(at: datetime | None) -> str | None:
    return None if at is None else format_time((at - _EPOCH) // timedelta(microseconds=1))
