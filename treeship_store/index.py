"""The SQLite index: derived from the JSONL files, never the record itself.

One database for all sessions. Each session row holds a watermark (how many
bytes and lines of events.jsonl are indexed) and what identifies the file. A
single mechanism, `catch_up`, moves a watermark forward: it parses the file
from the watermark to the last complete line and inserts the rows, all in one
transaction. Append, queries and reindex all go through it.

This module imports sqlite-utils only when the schema has to be created or
upgraded, so a hook's cold append does not pay for it.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

from filelock import Timeout, UnixFileLock

from .errors import IndexTooNew
from .event import FIELDS_BY_TYPE, decode_line, parse_time, unknown_fields_note
from .faults import crash_point, error_point
from .log import READ_CHUNK, complete_lines, open_regular, tighten_mode
from .queries import IndexQueries

logger = logging.getLogger("treeship_store")

SCHEMA_VERSION = 2  # the number of migrations in migrations/
# user_version is -SCHEMA_VERSION while a full reindex has dropped the
# secondary indexes (listed in deferred_indexes) to build them once at the end.
TAIL_BYTES = 32  # the last indexed bytes of a file, kept to notice a rewrite
_SQLITE_CORRUPT, _SQLITE_NOTADB = 11, 26

_INSERT_EVENT = "INSERT INTO events VALUES (" + ", ".join("?" * 20) + ")"
_INSERT_DAMAGED = "INSERT INTO damaged_lines VALUES (?, ?, ?, ?, ?)"
_ADD = ("ON CONFLICT DO UPDATE SET events = events + excluded.events, tokens_in = tokens_in + excluded.tokens_in, "
        "tokens_out = tokens_out + excluded.tokens_out, failed = failed + excluded.failed")
_ADD_COUNTS = "INSERT INTO event_counts VALUES (?, ?, ?, ?, ?, ?, ?, ?) " + _ADD
_ADD_TOTALS = "INSERT INTO event_totals VALUES (?, ?, ?, ?, ?, ?, ?) " + _ADD
# Forgetting a session takes its counts back out of the totals.
_SUBTRACT_TOTALS = ("INSERT INTO event_totals SELECT type, agent_name, model, -events, -tokens_in, -tokens_out, "
                    "-failed FROM event_counts WHERE session_key = ? AND true " + _ADD)
# Typed columns, in table order after the line's location. exit_code (the last)
# is kept only when it is an integer: a hand-edited "1" or true is no exit code.
TEXT_COLUMNS = ("tool_name", "file_path", "model")
INTEGER_COLUMNS = ("tokens_in", "tokens_out", "duration_ms", "exit_code")


# (session key, indexed bytes, device, inode) of a session's file, as indexed.
FileState = tuple[int, int, int | None, int | None]


class Watermark(NamedTuple):
    session_key: int
    indexed_bytes: int
    indexed_lines: int
    tail: bytes


def is_corrupt(error: sqlite3.DatabaseError) -> bool:
    """SQLite says the file is not a database, or a damaged one."""
    code = getattr(error, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in (_SQLITE_CORRUPT, _SQLITE_NOTADB)


def file_change(fd: int, info: os.stat_result, mark: Watermark, dev: int | None, ino: int | None) -> str | None:
    """How events.jsonl differs from the file the index read, or None if it is
    the same file, grown or not. Append-only means the inode stays and the
    bytes already read never change."""
    if ino is not None and (info.st_dev, info.st_ino) != (dev, ino):
        return "events.jsonl was replaced by another file"
    if info.st_size < mark.indexed_bytes:
        return f"events.jsonl shrank from {mark.indexed_bytes} to {info.st_size} bytes"
    if mark.tail and os.pread(fd, len(mark.tail), mark.indexed_bytes - len(mark.tail)) != mark.tail:
        return f"events.jsonl was rewritten: the bytes before offset {mark.indexed_bytes} changed"
    return None


class Index(IndexQueries):
    """index.db under a store root: connection, schema, catch-up (this module)
    and the questions it answers (queries.py). Not shared between threads."""

    def __init__(self, path: Path, *, busy_timeout: float = 60.0, read_only: bool = False):
        self.path = path
        self.busy_timeout = busy_timeout
        # read_only (for verify): never creates, migrates or writes anything;
        # `outdated` then says the schema is older than this version's.
        self.read_only = read_only
        self.outdated = False
        self._conn: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None
        self._inode: int | None = None
        self._file_states: tuple[tuple[int, int], dict] | None = None  # ((data_version, total_changes), states)

    # -- connection and schema ------------------------------------------------

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = self._open()
        return self._conn

    @property
    def reader(self) -> sqlite3.Connection:
        """A second, query-only connection for results a caller iterates at
        leisure. An open cursor holds a read snapshot; on `conn` it would stop
        this process's next write transaction with SQLITE_BUSY as soon as
        another process commits, whatever the busy timeout."""
        if self._reader is None:
            self.conn  # noqa: B018 - the file and schema must exist first
            self._reader = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None,
                                           check_same_thread=False)
            self._reader.execute("PRAGMA query_only = ON")
        return self._reader

    def _open(self) -> sqlite3.Connection:
        if self.read_only:
            conn = sqlite3.connect(self.path.resolve().as_uri() + "?mode=ro", uri=True,
                                   timeout=self.busy_timeout, isolation_level=None, check_same_thread=False)
            try:
                version = schema_version(conn)
                self._refuse_newer(version)
            except BaseException:
                conn.close()
                raise
            self.outdated = abs(version) < SCHEMA_VERSION
            return conn
        # Create it ourselves, owner-only and never through a symlink; SQLite
        # gives its -wal and -shm files the same mode.
        fd = open_regular(self.path, os.O_RDWR | os.O_CREAT)
        try:
            info = os.fstat(fd)
            tighten_mode(fd, info)
            self._inode = info.st_ino
        finally:
            os.close(fd)
        # isolation_level=None: we issue BEGIN IMMEDIATE ourselves, so a writer
        # waits for the write lock up front (busy timeout) instead of failing
        # with SQLITE_BUSY when it upgrades a read transaction.
        conn = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None,
                               check_same_thread=False)
        try:
            # The JSONL is the record: a commit lost to power failure is redone
            # by catch-up, so the index need not fsync every transaction.
            conn.execute("PRAGMA synchronous=NORMAL")
            # Some builds (Debian's among them) zero every freed page. The index
            # holds nothing the owner-only JSONL beside it does not, and zeroing
            # made emptying it for a full reindex of 1M events take 2.2 s, not 0.14 s.
            conn.execute("PRAGMA secure_delete=OFF")
            if schema_version(conn) != SCHEMA_VERSION:
                self._set_up_schema(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _set_up_schema(self, conn: sqlite3.Connection) -> None:
        if schema_version(conn) == -SCHEMA_VERSION:
            # A full reindex holds the setup lock while it rebuilds: use the
            # index as it is. A free lock means that reindex died: finish it.
            with self._setup_lock(timeout=0) as held:
                if held and schema_version(conn) == -SCHEMA_VERSION:
                    self._build_deferred_indexes(conn)
            return
        with self._setup_lock():  # two processes must not both create the tables
            version = schema_version(conn)
            self._refuse_newer(version)
            if version == SCHEMA_VERSION:
                return
            from sqlite_utils import Database  # noqa: PLC0415 - only when the schema changes

            from .migrations import migrations  # noqa: PLC0415
            conn.execute("PRAGMA journal_mode=WAL")  # readers never wait for the writer
            migrations.apply(Database(conn, execute_plugins=False, recursive_triggers=False))
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def _refuse_newer(self, version: int) -> None:
        if abs(version) > SCHEMA_VERSION:
            raise IndexTooNew(
                f"{self.path} has schema version {abs(version)}, newer than this treeship-store knows "
                f"({SCHEMA_VERSION}); upgrade treeship-store, or delete index.db to rebuild it from the JSONL")

    @contextmanager
    def _setup_lock(self, timeout: float | None = None):
        """Serialises schema changes, corrupt-index replacement and full rebuilds.
        With timeout=0, yields False instead of waiting when it is held."""
        lock = UnixFileLock(self.path.with_name(self.path.name + ".lock"),
                            timeout=self.busy_timeout if timeout is None else timeout,
                            mode=0o600, fallback_to_soft=False, preserve_lock_file=True)
        try:
            lock.acquire()
        except Timeout:
            if timeout != 0:
                raise
            yield False
            return
        try:
            yield True
        finally:
            lock.release()

    @contextmanager
    def bulk_rebuild(self):
        """Empty the index for a full rebuild from the JSONL, with its secondary
        indexes dropped while the rows go in and built once at the end: far
        cheaper than keeping six B-trees up to date row by row. Catch-ups
        (by this caller, or by appenders meanwhile) refill it as usual."""
        self.conn  # noqa: B018 - opening may create the schema, which takes the setup lock itself
        with self._setup_lock():
            with self._write() as conn:
                indexes = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
                                       "AND tbl_name = 'events'").fetchall()
                conn.executemany("INSERT OR REPLACE INTO deferred_indexes (name, sql) VALUES (?, ?)", indexes)
                for name, _ in indexes:
                    conn.execute(f'DROP INDEX "{name}"')
                for table in ("events", "damaged_lines", "event_counts", "event_totals"):
                    conn.execute(f"DELETE FROM {table}")
                conn.execute("UPDATE sessions SET indexed_bytes = 0, indexed_lines = 0, tail = x'', first_us = NULL, "
                             "last_us = NULL")
                conn.execute(f"PRAGMA user_version = {-SCHEMA_VERSION}")
            crash_point("bulk-rebuild")
            yield
            self._build_deferred_indexes(self.conn)

    @staticmethod
    def _build_deferred_indexes(conn: sqlite3.Connection) -> None:
        with _transaction(conn):
            for (sql,) in conn.execute("SELECT sql FROM deferred_indexes").fetchall():
                conn.execute(sql)
            conn.execute("DELETE FROM deferred_indexes")
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def discard_corrupt(self) -> None:
        """Delete an index.db that SQLite reports as corrupt: it is derived, and
        catch-up rebuilds it from the JSONL. Another process may have replaced
        it already; only the file this connection found corrupt is removed."""
        inode = self._inode
        self.close()
        with self._setup_lock():
            try:
                if os.lstat(self.path).st_ino != inode:
                    return
            except FileNotFoundError:
                return
            logger.warning("%s is corrupt; deleting it to rebuild it from the JSONL files", self.path)
            for suffix in ("", "-wal", "-shm"):
                try:
                    os.unlink(str(self.path) + suffix)
                except FileNotFoundError:
                    pass

    def close(self) -> None:
        for conn in (self._reader, self._conn):
            if conn is not None:
                conn.close()
        self._conn = self._reader = None
        self._file_states = None  # a new connection starts its counters again

    @contextmanager
    def _write(self):
        with _transaction(self.conn) as conn:
            yield conn

    @contextmanager
    def snapshot(self):
        """A read transaction: every query inside sees the same state."""
        conn = self.conn
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    # -- catch-up: the one way rows get in -----------------------------------

    def catch_up(self, session_id: str, fd: int,
                 progress: Callable[[int], None] | None = None) -> tuple[int, int]:
        """Index every complete line of the session's file (open as `fd`) that the
        index lacks; return (indexed bytes, indexed lines). Each chunk is one
        transaction that re-reads the watermark first, so concurrent catch-ups of
        the same session never index a line twice."""
        error_point("index-error")
        found = self.watermark(session_id)
        if found is not None and _unchanged(fd, *found):
            return found[0].indexed_bytes, found[0].indexed_lines  # nothing new: no write transaction
        while True:
            with self._write() as conn:
                mark, file_size = self._resume_point(conn, session_id, fd)
                data = complete_lines(fd, mark.indexed_bytes, file_size=file_size)
                if not data:
                    return mark.indexed_bytes, mark.indexed_lines
                lines, first_us, last_us = self._insert_lines(conn, mark, data)
                end = mark.indexed_bytes + len(data)
                # min(x, NULL) is NULL, hence the coalesce: a chunk without times keeps the old ones.
                conn.execute("UPDATE sessions SET indexed_bytes = ?, indexed_lines = ?, tail = ?, "
                             "first_us = coalesce(min(first_us, ?), first_us, ?), "
                             "last_us = coalesce(max(last_us, ?), last_us, ?) "
                             "WHERE session_key = ?",
                             (end, lines, (mark.tail + data)[-TAIL_BYTES:], first_us, first_us, last_us, last_us,
                              mark.session_key))
                crash_point("catch-up-transaction")
            crash_point("catch-up-committed")
            if progress:
                progress(len(data))
            if file_size - mark.indexed_bytes <= READ_CHUNK:
                # That read reached the end of the file as it was: what follows
                # `end` is a line still being written. No need for another round.
                return end, lines

    def _resume_point(self, conn: sqlite3.Connection, session_id: str, fd: int) -> tuple[Watermark, int]:
        """The session's watermark (reset to 0 if the file changed behind the
        index), and the file's size now."""
        info = os.fstat(fd)
        row = conn.execute("SELECT session_key, indexed_bytes, indexed_lines, tail, file_dev, file_ino "
                           "FROM sessions WHERE session_id = ?", (session_id,)).fetchone()
        if row is None:
            key = conn.execute("INSERT INTO sessions (session_id, file_dev, file_ino) VALUES (?, ?, ?)",
                               (session_id, info.st_dev, info.st_ino)).lastrowid
            return Watermark(key, 0, 0, b""), info.st_size
        mark = Watermark(*row[:4])
        change = file_change(fd, info, mark, row[4], row[5])
        if change is None:
            return mark, info.st_size
        logger.warning("session %s: %s; re-indexing it from the start", session_id, change)
        self._forget_rows(conn, mark.session_key)
        conn.execute("UPDATE sessions SET indexed_bytes = 0, indexed_lines = 0, tail = x'', file_dev = ?, "
                     "file_ino = ? WHERE session_key = ?", (info.st_dev, info.st_ino, mark.session_key))
        return Watermark(mark.session_key, 0, 0, b""), info.st_size

    @staticmethod
    def _insert_lines(conn: sqlite3.Connection, mark: Watermark, data: bytes) -> tuple[int, int | None, int | None]:
        """Insert rows for the complete lines in `data` (which starts at the
        watermark); return (lines indexed after it, earliest time, latest time)."""
        key, offset, line_no = mark.session_key, mark.indexed_bytes, mark.indexed_lines
        events, damaged, counts = [], [], {}
        for line in data.split(b"\n")[:-1]:
            event, reason = decode_line(line)
            if event is None:
                damaged.append((key, line_no, offset, len(line), reason))
            else:
                row = _event_row(key, line_no, offset, len(line), event)
                events.append(row)
                # (type, agent_name, model) -> [events, tokens_in, tokens_out, failed processes]
                group = (row[5], row[8], row[14] or "")
                count = counts.get(group)
                if count is None:
                    count = counts[group] = [0, 0, 0, 0]
                count[0] += 1
                if group[2]:  # decisions name a model; only they carry tokens
                    count[1] += _countable(row[15])
                    count[2] += _countable(row[16])
                elif row[18] and row[5] == "agent.completed_process":  # as queries.FAILED_PROCESS selects
                    count[3] += 1
            offset += len(line) + 1
            line_no += 1
        conn.executemany(_INSERT_EVENT, events)
        conn.executemany(_INSERT_DAMAGED, damaged)
        conn.executemany(_ADD_COUNTS, [(key, *group, *count) for group, count in counts.items()])
        conn.executemany(_ADD_TOTALS, [(*group, *count) for group, count in counts.items()])
        times = [row[4] for row in events if row[4] is not None]
        return line_no, min(times, default=None), max(times, default=None)

    # -- sessions -------------------------------------------------------------

    def file_states(self, session_ids: Sequence[str] | None = None) -> dict[str, FileState]:
        """{session_id: (session key, indexed bytes, device, inode)} for the given
        sessions (all when None) that the index knows."""
        sql = "SELECT session_id, session_key, indexed_bytes, file_dev, file_ino FROM sessions"
        if session_ids is None:
            # Every store-wide query asks; read the table again only if the index
            # changed. data_version moves when another connection commits,
            # total_changes when this one writes. The dict is shared: read only.
            version = (self.conn.execute("PRAGMA data_version").fetchone()[0], self.conn.total_changes)
            if self._file_states is None or self._file_states[0] != version:
                self._file_states = version, {row[0]: row[1:] for row in self.conn.execute(sql)}
            return self._file_states[1]
        return {row[0]: row[1:] for row in self.conn.execute(
            f"{sql} WHERE session_id IN ({', '.join('?' * len(session_ids))})", list(session_ids))}

    def session_keys(self) -> dict[str, int]:
        return dict(self.conn.execute("SELECT session_id, session_key FROM sessions"))

    def forget(self, session_ids: Iterable[str], *, keep_session: bool = False) -> None:
        """Drop what the index holds for these sessions, in one transaction. With
        keep_session, the watermark goes back to 0 (a full reindex); without, the
        session is gone (its directory was removed)."""
        with self._write() as conn:
            for session_id in session_ids:
                row = conn.execute("SELECT session_key FROM sessions WHERE session_id = ?",
                                   (session_id,)).fetchone()
                if row is None:
                    continue
                self._forget_rows(conn, row[0])
                if keep_session:
                    conn.execute("UPDATE sessions SET indexed_bytes = 0, indexed_lines = 0, tail = x'' "
                                 "WHERE session_key = ?", row)
                else:
                    conn.execute("DELETE FROM sessions WHERE session_key = ?", row)

    @staticmethod
    def _forget_rows(conn: sqlite3.Connection, session_key: int) -> None:
        conn.execute(_SUBTRACT_TOTALS, (session_key,))
        conn.execute("DELETE FROM event_totals WHERE events = 0")
        for table in ("events", "damaged_lines", "event_counts"):
            conn.execute(f"DELETE FROM {table} WHERE session_key = ?", (session_key,))
        conn.execute("UPDATE sessions SET first_us = NULL, last_us = NULL WHERE session_key = ?", (session_key,))

    def watermark(self, session_id: str) -> tuple[Watermark, int | None, int | None] | None:
        row = self.conn.execute("SELECT session_key, indexed_bytes, indexed_lines, tail, file_dev, file_ino "
                                "FROM sessions WHERE session_id = ?", (session_id,)).fetchone()
        return None if row is None else (Watermark(*row[:4]), row[4], row[5])


def _unchanged(fd: int, mark: Watermark, dev: int | None, ino: int | None) -> bool:
    """The file is the one indexed and ends exactly at the watermark."""
    info = os.fstat(fd)
    return info.st_size == mark.indexed_bytes and file_change(fd, info, mark, dev, ino) is None


@contextmanager
def _transaction(conn: sqlite3.Connection):
    """BEGIN IMMEDIATE: take the write lock up front, waiting up to the busy
    timeout, rather than fail when a read transaction tries to upgrade."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def schema_version(conn: sqlite3.Connection) -> int:
    return conn.execute("PRAGMA user_version").fetchone()[0]


def _event_row(key: int, line_no: int, offset: int, length: int, event: dict) -> tuple:
    """The index row of an event line. A typed column takes a field only when it
    holds a value of the column's type that SQLite can store: a string, or an
    integer within 64 bits. Anything else (a list from another tool, a u64 token
    count of 2**63 or more, a hand-edited "1") stays in the JSONL only, so one
    line can never make an insert fail and stop the catch-up."""
    allowed = FIELDS_BY_TYPE.get(event["type"])
    note = None if allowed is not None and event.keys() <= allowed else unknown_fields_note(event)
    try:
        micros = parse_time(event["timestamp"])
    except (ValueError, TypeError):
        micros = None
        note = "; ".join(filter(None, (note, "timestamp is not an RFC 3339 time the store can hold")))
    get = event.get
    return (key, line_no, event["sequence_no"], event["event_id"], micros, event["type"], event["agent_id"],
            event["agent_instance_id"], event["agent_name"], event["host_id"], offset, length,
            *(value if type(value) is str else None for value in map(get, TEXT_COLUMNS)),
            *(value if type(value) is int and _INT64_MIN <= value <= _INT64_MAX else None
              for value in map(get, INTEGER_COLUMNS)), note)


_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _countable(value: object) -> int:
    # Only plain integers count: a u64 near 2**63 is not a column value, and
    # a sum of them must not overflow SQLite's 64 bits and stop the catch-up.
    return value if type(value) is int and 0 <= value < 2**40 else 0
