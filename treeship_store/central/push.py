"""`push`: ship every line of the local record that the central store lacks.

Exactly once by construction: the central key is (session, line number); a
line already there with the same bytes is a no-op, a different one is kept
in `conflicts`. The local position advances only after the central commit,
so a push killed anywhere and run again changes nothing twice.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

import psycopg
from psycopg import sql

from .. import positions
from ..errors import CentralUnavailable, UnsafePath, ValidationError, WriteError
from ..event import decode_line
from ..faults import crash_point
from ..record.log import SessionLog
from ..positions import Position
from ..projector import TOKENS_BELOW, event_time, int64
from ..store import Store
from .columns import to_column
from .connection import connect, translate
from .schema import FAILED

logger = logging.getLogger("treeship_store")

BATCH_BYTES = 16 << 20  # lines read and sent per central transaction
JOBS = 2  # connections a push with much to ship uses at most (one per core here; see Pusher)
SPREAD_BYTES = 4 << 20  # less than this to ship goes over the one connection kept
COLUMNS = ("month", "session_id", "line_no", "store_id", "sequence_no", "at", "type", "agent_id", "agent_name",
           "agent_instance_id", "host_id", "file_path", "exit_code", "model", "tokens_in", "tokens_out", "line",
           "damaged", "reason", "byte_offset")
_COPY_STAGING, _COPY_LINES = (sql.SQL("COPY {} ({}) FROM STDIN").format(
    sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, COLUMNS))) for table in ("staging", "lines"))
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
# The counts of lines just inserted (from `source`), by the projector's
# counting rules, as the local index keeps them.
_TOKENS = "coalesce(sum({0}) FILTER (WHERE coalesce(model, '') <> '' AND {0} >= 0 AND {0} < %d), 0)" % TOKENS_BELOW
_COUNT = ("INSERT INTO line_counts SELECT month, session_id, type, agent_name, coalesce(model, ''), count(*), "
          f"{_TOKENS.format('tokens_in')}, {_TOKENS.format('tokens_out')}, "
          f"count(*) FILTER (WHERE {FAILED}), min(at), max(at) "
          "FROM {source} GROUP BY month, session_id, type, agent_name, coalesce(model, '')")


@dataclass
class PushReport:
    sessions: int = 0  # sessions that had lines to ship
    lines: int = 0  # lines sent
    new: int = 0  # lines the central store did not have
    conflicts: int = 0  # lines that differ from the central store's at their position
    pruned: int = 0  # sessions with lines to ship that `prune --db` removed: not pushed again
    seconds: float = 0.0

    def add(self, other: PushReport) -> None:
        self.sessions += other.sessions
        self.lines += other.lines
        self.new += other.new
        self.conflicts += other.conflicts


class Pusher:
    """One host's store pushing to one central store. It keeps one connection
    (what `push --follow` holds between looks); a push with much to ship opens
    up to `jobs - 1` more for its duration and ships sessions on each at once,
    since the server indexes a line in about twice the time Python takes to
    read it, and one connection leaves a core idle."""

    def __init__(self, store: Store, url: str, jobs: int = JOBS):
        if type(jobs) is not int or not 1 <= jobs <= 64:
            raise ValidationError(f"jobs must be a number of connections from 1 to 64, not {jobs!r}")
        self.store, self.url, self.jobs = store, url, jobs
        self.store_id = store.store_id()
        self.partitions: set[date] = set()  # month partitions known to exist
        self.months: dict[str, date] = {}  # session -> its partition month, as the central store says
        self.saving = threading.Lock()  # one position saved at a time into index.db
        self.lane = Lane(self)
        try:
            with self.lane.conn.transaction():
                self.central_id = self.lane.conn.execute(
                    "SELECT value FROM treeship_meta WHERE name = 'central_id'").fetchone()[0]
                self.lane.conn.execute("INSERT INTO stores (store_id, host_id) VALUES (%s, %s) "
                                       "ON CONFLICT (store_id) DO NOTHING", (self.store_id, os.uname().nodename))
        except psycopg.Error as error:
            self.lane.close()
            raise translate(error, url) from None

    def close(self) -> None:
        self.lane.close()

    def push(self, sessions: list[str] | None = None, stop: Callable[[], bool] = lambda: False) -> PushReport:
        """Ship what is new in these sessions (all when None), until `stop()`
        says so between batches."""
        started = time.monotonic()
        done = self.store.push_positions(self.central_id)
        base = os.fspath(self.store.sessions_dir)
        todo, pending = deque(), 0
        for session_id in sessions if sessions is not None else self.store.session_ids():
            position = done.get(session_id, positions.START)
            # One stat, not an open: --follow asks this of every session, often.
            if (size := positions.pending(f"{base}/{session_id}/events.jsonl", position)) > 0:
                todo.append((session_id, position))
                pending += size
        pruned: set[str] = set()
        if todo:  # a session `prune --db` removed is not brought back (central/retention.py)
            try:
                with self.lane.conn.transaction():
                    pruned = {sid for sid, in self.lane.conn.execute(
                        "SELECT session_id FROM pruned_sessions WHERE session_id = ANY(%s)", [[s for s, _ in todo]])}
            except psycopg.Error as error:
                raise translate(error, self.url) from None
            todo = deque(item for item in todo if item[0] not in pruned)
        lanes = [self.lane]
        if len(todo) > 1 and pending >= SPREAD_BYTES:
            lanes += self._more_lanes(min(self.jobs, len(todo)) - 1)
        reports = [PushReport() for _ in lanes]
        failures: list[BaseException] = []
        halt = lambda: bool(failures) or stop()  # noqa: E731

        def work(lane: Lane, report: PushReport) -> None:
            try:
                while not halt():
                    try:
                        session_id, position = todo.popleft()  # atomic: each session to one lane
                    except IndexError:
                        return
                    self._push_session(lane, session_id, position, report, halt, named=sessions is not None)
            except BaseException as error:  # noqa: BLE001 - raised in the caller's thread below
                failures.append(error)

        try:
            if len(lanes) == 1:
                work(self.lane, reports[0])
            else:
                threads = [threading.Thread(target=work, args=pair, name="treeship-push")
                           for pair in zip(lanes, reports)]
                for thread in threads:
                    thread.start()
                try:
                    for thread in threads:
                        thread.join()
                except BaseException as error:  # Ctrl-C: let each lane finish its batch in flight
                    failures.append(error)
                    for thread in threads:
                        thread.join()
        finally:
            for lane in lanes[1:]:
                lane.close()
        if failures:
            raise failures[0]
        report = PushReport(seconds=time.monotonic() - started, pruned=len(pruned))
        for part in reports:
            report.add(part)
        return report

    def _more_lanes(self, count: int) -> list[Lane]:
        lanes = []
        try:
            for _ in range(count):
                lanes.append(Lane(self))
        except CentralUnavailable as error:  # e.g. the server's connection limit: fewer lanes, not no push
            logger.warning("pushing on %d connection(s), not %d: %s", len(lanes) + 1, count + 1, error)
        return lanes

    def _push_session(self, lane: Lane, session_id: str, position: Position, report: PushReport,
                      stop: Callable[[], bool], named: bool) -> None:
        try:
            self._push_log(lane, session_id, position, report, stop)
        except psycopg.Error as error:
            raise translate(error, self.url) from None
        except (UnsafePath, WriteError) as error:
            # A symlink, a FIFO or an unreadable file where events.jsonl should
            # be: left out with a warning, as store-wide queries leave it out,
            # so that one such session does not stop every other's push. A
            # session named with --session fails instead.
            if named:
                raise
            logger.warning("session %s: not pushed: %s", session_id, error)

    def _push_log(self, lane: Lane, session_id: str, position: Position, report: PushReport,
                  stop: Callable[[], bool]) -> None:
        # Not the Store's cache of logs: lanes open sessions from several threads.
        log = SessionLog(self.store.sessions_dir, session_id).open_for_reading()
        if log is None:
            return
        try:
            info = os.fstat(log.fd)
            if (position.file_dev, position.file_ino) not in ((info.st_dev, info.st_ino), (None, None)) \
                    or info.st_size < position.shipped_bytes:
                # Another file now: ship it from the start (what is the same is a no-op).
                position = positions.START
            shipped = False
            while not stop() and (data := self._batch(log, position.shipped_bytes)):
                lines = data.split(b"\n")[:-1]
                lane.send(session_id, position.shipped_lines, position.shipped_bytes, lines, report)
                position = Position(position.shipped_bytes + len(data), position.shipped_lines + len(lines),
                                    info.st_dev, info.st_ino)
                with self.saving:
                    self.store.save_push_position(self.central_id, session_id, position)
                shipped = True
            report.sessions += shipped
        finally:
            log.close()

    @staticmethod
    def _batch(log, start: int) -> bytes:
        """Complete lines of the record from `start`, up to about BATCH_BYTES."""
        chunks, size = [], 0
        while size < BATCH_BYTES and (chunk := log.committed(start + size)):
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks)


class Lane:
    """One connection to the central store, sending one session's batches at
    a time, each in a transaction of its own."""

    def __init__(self, pusher: Pusher):
        self.pusher = pusher
        self.conn = connect(pusher.url)
        try:
            self.conn.execute("CREATE TEMP TABLE staging (LIKE lines INCLUDING DEFAULTS) ON COMMIT DELETE ROWS")
            self.conn.commit()
        except psycopg.Error as error:
            self.conn.close()
            raise translate(error, pusher.url) from None

    def close(self) -> None:
        self.conn.close()

    def send(self, session_id: str, first_line: int, first_byte: int, lines: list[bytes],
             report: PushReport) -> None:
        month = self._month_of(session_id, lines)
        store_id = self.pusher.store_id

        def rows():
            # Made while COPY streams them: the server indexes one row while
            # Python decodes the next, rather than waiting for the whole batch.
            offset = first_byte
            for number, line in enumerate(lines, first_line):
                row = line_row(line)
                yield (month, session_id, number, store_id, *row, None if row[-2] is None else offset)
                offset += len(line) + 1

        try:
            sent = self._send_new(month, session_id, first_line, rows())
        except psycopg.errors.UniqueViolation:
            sent = None  # another host pushed this session meanwhile: compare line by line
        new, conflicts = sent or self._send_compared(rows(), len(lines))
        crash_point("push-committed")  # committed centrally, the local position not yet advanced
        report.lines += len(lines)
        report.new += new
        report.conflicts += conflicts

    def _send_new(self, month: date, session_id: str, first_line: int, rows: Iterable[tuple]) -> tuple[int, int] | None:
        """The common case, a session's lines past anything the central store
        has of it: COPY them straight into `lines`. None if it has some."""
        with self.conn.transaction():
            if self.conn.execute("SELECT EXISTS (SELECT 1 FROM lines WHERE month = %s AND session_id = %s "
                                 "AND line_no >= %s)", (month, session_id, first_line)).fetchone()[0]:
                return None
            sent = self._copy(_COPY_LINES, rows)
            self.conn.execute(_COUNT.format(source="lines WHERE month = %s AND session_id = %s AND line_no >= %s"),
                              (month, session_id, first_line))
        return sent, 0

    def _send_compared(self, rows: Iterable[tuple], count: int) -> tuple[int, int]:
        """Lines the central store may already have: each is inserted unless
        its position is taken, and kept as a conflict if what is there differs."""
        with self.conn.transaction():
            self._copy(_COPY_STAGING, rows)
            new = self.conn.execute(
                "WITH inserted AS (INSERT INTO lines SELECT * FROM staging ON CONFLICT DO NOTHING RETURNING *), "
                f"counted AS ({_COUNT.format(source='inserted')} RETURNING 1) "
                "SELECT count(*) FROM inserted").fetchone()[0]
            if new == count:
                return new, 0
            self.conn.execute("ANALYZE staging")  # a temporary table has no statistics: plan the join on real ones
            conflicts = self.conn.execute(
                "INSERT INTO conflicts (session_id, line_no, store_id, line) "
                "SELECT s.session_id, s.line_no, s.store_id, coalesce(convert_to(s.line, 'UTF8'), s.damaged) "
                "FROM staging s JOIN lines l ON l.month = s.month AND l.session_id = s.session_id "
                "AND l.line_no = s.line_no WHERE l.line IS DISTINCT FROM s.line OR l.damaged IS DISTINCT FROM s.damaged "
                "ON CONFLICT DO NOTHING").rowcount
        return new, conflicts

    def _copy(self, statement, rows: Iterable[tuple]) -> int:
        sent = 0
        with self.conn.cursor() as cursor, cursor.copy(statement) as copy:
            for sent, row in enumerate(rows, 1):
                copy.write_row(row)
        crash_point("push-copied")  # the batch sent, not committed
        return sent

    def _month_of(self, session_id: str, lines: list[bytes]) -> date:
        """The session's partition month: the one its first push chose (from
        the first time in the lines it sent), the same for every host."""
        if session_id not in self.pusher.months:
            started = next((at for line in lines[:100] if (at := line_row(line)[1]) is not None), None)
            proposed = (started or datetime.now(timezone.utc)).date().replace(day=1)
            with self.conn.transaction():
                self.conn.execute("INSERT INTO sessions (session_id, month, store_id, started_at) "
                                  "VALUES (%s, %s, %s, %s) ON CONFLICT (session_id) DO NOTHING",
                                  (session_id, proposed, self.pusher.store_id, started))
                month = self.conn.execute("SELECT month FROM sessions WHERE session_id = %s",
                                          (session_id,)).fetchone()[0]
            if month not in self.pusher.partitions:
                self._partition(month)
            self.pusher.months[session_id] = month
        return self.pusher.months[session_id]

    def _partition(self, month: date) -> None:
        # In its own short transaction: attaching a partition locks `lines`.
        with self.conn.transaction():
            self.conn.execute("SELECT treeship_month_partition(%s)", (month,))
        self.pusher.partitions.add(month)


def line_row(line: bytes) -> tuple:
    """(sequence_no, at, type, agent_id, agent_name, agent_instance_id, host_id,
    file_path, exit_code, model, tokens_in, tokens_out, line, damaged, reason)
    of one line, each column only what PostgreSQL can hold: a string as
    columns.py holds it, an integer within 64 bits. The line itself is kept
    whole."""
    event, reason = decode_line(line)
    if event is None:
        return (None, None, None, None, None, None, None, None, None, None, None, None, None, line, reason)
    micros = event_time(event)
    g = event.get
    return (event["sequence_no"], None if micros is None else _EPOCH + timedelta(microseconds=micros),
            _text(event["type"]), _text(event["agent_id"]), _text(event["agent_name"]),
            _text(event["agent_instance_id"]), _text(event["host_id"]), _text(g("file_path")), int64(g("exit_code")),
            _text(g("model")), int64(g("tokens_in")), int64(g("tokens_out")), line.decode(), None, None)


def _text(value: object) -> str | None:
    return to_column(value) if type(value) is str else None


def push(store: Store, url: str, session: str | None = None, jobs: int = JOBS) -> PushReport:
    """Ship every line of the store (or of one session) not yet in the central store."""
    pusher = Pusher(store, url, jobs)
    try:
        return pusher.push(None if session is None else [session])
    finally:
        pusher.close()
