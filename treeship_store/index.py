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
import stat
import time
import urllib.parse
from collections.abc import Callable, Iterable, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

from filelock import lock_descriptor, unlock_descriptor

from .errors import IndexTooNew, IndexUnavailable, UnsafePath
from .event import FIELDS_BY_TYPE, decode_line, parse_time, unknown_fields_note
from .faults import crash_point, error_point
from .log import READ_CHUNK, OpenLog, count_lines
from .paths import open_regular, tighten_mode
from .queries import IndexQueries

logger = logging.getLogger("treeship_store")

SCHEMA_VERSION = 2  # the number of migrations in migrations/
# PRAGMA application_id of our index.db ("TsSt"): a valid SQLite file without
# it is not ours, whatever tables or user_version it has, and is rebuilt.
APPLICATION_ID = 0x54735374
TAIL_BYTES = 32  # the last indexed bytes of a file, kept to notice a rewrite
# How long a write waits for SQLite's write lock unless told to be patient: an
# append's catch-up after its line is written, a query's before it answers.
# The next reader can do either, and a full rebuild holds the lock for seconds.
BRIEF_WAIT = 1.0
SQLITE_BUSY, SQLITE_READONLY, SQLITE_IOERR, SQLITE_CORRUPT, SQLITE_FULL, SQLITE_CANTOPEN, SQLITE_NOTADB = \
    5, 8, 10, 11, 13, 14, 26

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


class ForeignIndex(sqlite3.DatabaseError):
    """index.db is a valid SQLite file, but not one of ours: treated as corrupt."""


def is_corrupt(error: sqlite3.Error) -> bool:
    """SQLite says the file is not a database or a damaged one, or it is not our
    index (another schema: tables or columns missing)."""
    if isinstance(error, ForeignIndex):
        return True
    code = getattr(error, "sqlite_errorcode", None)
    if code is not None and code & 0xFF in (SQLITE_CORRUPT, SQLITE_NOTADB):
        return True
    return isinstance(error, sqlite3.OperationalError) and str(error).startswith(("no such table", "no such column"))


def is_busy(error: sqlite3.Error) -> bool:
    return getattr(error, "sqlite_errorcode", None) == SQLITE_BUSY


_ADVICE = {
    SQLITE_BUSY: "another process holds it; try again",
    SQLITE_FULL: "the disk is full; free some space and try again",
    SQLITE_READONLY: "it cannot be written here (read-only filesystem or permissions)",
    SQLITE_CANTOPEN: "check the permissions of the store root",
    SQLITE_IOERR: "check the disk; deleting index.db makes the next query rebuild it",
}


def translate(error: sqlite3.Error, path: Path) -> IndexUnavailable:
    """The store's error for a driver error, with what to do about it."""
    code = getattr(error, "sqlite_errorcode", None)
    advice = _ADVICE.get(code if code is None else code & 0xFF,
                         "run `treeship-store reindex --full`, or delete index.db to rebuild it")
    return IndexUnavailable(f"{path}: {error}; {advice}. The events themselves are safe in the JSONL files")


def identity(conn: sqlite3.Connection) -> tuple[int, int]:
    """(application_id, user_version) of an open index.db."""
    return (conn.execute("PRAGMA application_id").fetchone()[0],
            conn.execute("PRAGMA user_version").fetchone()[0])


def check_index_files(path: Path) -> None:
    """index.db and its -wal and -shm must each be a regular file or absent:
    never a symlink (SQLite would follow it out of the root) nor a FIFO (an
    open would hang). Checked by lstat, so nothing is opened."""
    for name in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        try:
            mode = os.lstat(name).st_mode
        except FileNotFoundError:
            continue
        except OSError as error:
            raise IndexUnavailable(f"cannot use {name}: {error.strerror or error}") from None
        if stat.S_ISLNK(mode):
            raise UnsafePath(f"{name} is a symlink; refusing to follow it (delete it: the index is rebuilt "
                             "from the JSONL)")
        if not stat.S_ISREG(mode):
            raise UnsafePath(f"{name} is not a regular file; refusing to use it")


def prepare_lock_file(path: Path, *, keep_open: bool = False) -> int | None:
    """index.db.lock, created 0600 or tightened to it, never through a symlink.
    It serialises schema changes, and SQLite copies its mode for index.db."""
    fd = open_regular(path, os.O_RDWR | os.O_CREAT)
    try:
        tighten_mode(fd)
    except BaseException:
        os.close(fd)
        raise
    if keep_open:
        return fd
    os.close(fd)
    return None


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
    and the questions it answers (queries.py). Not shared between threads.

    index.db is only ever opened by SQLite itself. A descriptor of it that we
    opened and closed would drop every POSIX lock this process holds on the
    file, SQLite's own included, which breaks a second Store in another thread."""

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
            self._reader = self._connect("mode=rw")
            self._reader.execute("PRAGMA query_only = ON")
        return self._reader

    @property
    def lock_path(self) -> Path:
        return self.path.with_name(self.path.name + ".lock")

    def _connect(self, options: str) -> sqlite3.Connection:
        """A connection by URI, so that SQLite never follows a symlink we have
        not checked (check_index_files) and creates the file with the mode of
        index.db.lock (0600) through `modeof`, whatever the umask."""
        quoted = urllib.parse.quote(os.fspath(self.path.absolute()))
        lock = urllib.parse.quote(os.fspath(self.lock_path.absolute()))
        return sqlite3.connect(f"file:{quoted}?{options}&modeof={lock}", uri=True, timeout=BRIEF_WAIT,
                               isolation_level=None, check_same_thread=False)

    def _open(self) -> sqlite3.Connection:
        check_index_files(self.path)
        if self.read_only:
            return self._open_read_only()
        prepare_lock_file(self.lock_path)
        # isolation_level=None: we issue BEGIN IMMEDIATE ourselves, so a writer
        # waits for the write lock up front (busy timeout) instead of failing
        # with SQLITE_BUSY when it upgrades a read transaction.
        conn = self._connect("mode=rwc")
        try:
            self._inode = os.lstat(self.path).st_ino  # which file discard() may delete
            # The JSONL is the record: a commit lost to power failure is redone
            # by catch-up, so the index need not fsync every transaction.
            conn.execute("PRAGMA synchronous=NORMAL")
            # Some builds (Debian's among them) zero every freed page. The index
            # holds nothing the owner-only JSONL beside it does not, and zeroing
            # made emptying it for a full reindex of 1M events take 2.2 s, not 0.14 s.
            conn.execute("PRAGMA secure_delete=OFF")
            if identity(conn) != (APPLICATION_ID, SCHEMA_VERSION):
                self._set_up_schema(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _open_read_only(self) -> sqlite3.Connection:
        """For verify, which promises to change nothing: a read-write connection
        that is query_only, since only such a connection removes -wal and -shm
        when it closes last. On a read-only filesystem, where no one can be
        writing, the file is read as it is (immutable)."""
        try:
            conn = self._connect("mode=rw")
            conn.execute("PRAGMA query_only = ON")
            found = identity(conn)
        except sqlite3.OperationalError as error:
            if error.sqlite_errorcode not in (SQLITE_CANTOPEN, SQLITE_READONLY) or \
                    os.path.lexists(f"{self.path}-wal"):
                raise
            conn = self._connect("mode=ro&immutable=1")
            found = identity(conn)
        try:
            self._check_identity(conn, found)
        except BaseException:
            conn.close()
            raise
        self.outdated = found[1] < SCHEMA_VERSION
        return conn

    def _check_identity(self, conn: sqlite3.Connection, found: tuple[int, int]) -> None:
        """Refuse an index.db that is not ours (ForeignIndex), or ours from a
        newer treeship-store (IndexTooNew). A new, empty file is ours to set up."""
        application_id, version = found
        if application_id != APPLICATION_ID:
            if application_id == 0 and version == 0 and not conn.execute(
                    "SELECT 1 FROM sqlite_master LIMIT 1").fetchone():
                return
            raise ForeignIndex(f"{self.path} is not a treeship-store {SCHEMA_VERSION} index "
                               f"(application_id {application_id}, user_version {version})")
        if version > SCHEMA_VERSION:
            raise IndexTooNew(
                f"{self.path} has schema version {version}, newer than this treeship-store knows "
                f"({SCHEMA_VERSION}); upgrade treeship-store, or delete index.db to rebuild it from the JSONL")

    def _set_up_schema(self, conn: sqlite3.Connection) -> None:
        with self._setup_lock():  # two processes must not both create the tables
            found = identity(conn)
            self._check_identity(conn, found)
            if found[1] == SCHEMA_VERSION:
                return
            from sqlite_utils import Database  # noqa: PLC0415 - only when the schema changes

            from .migrations import migrations  # noqa: PLC0415
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            try:
                conn.execute("PRAGMA journal_mode=WAL")  # readers never wait for the writer
                migrations.apply(Database(conn, execute_plugins=False, recursive_triggers=False))
                conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
                conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
            finally:
                conn.execute(f"PRAGMA busy_timeout = {int(BRIEF_WAIT * 1000)}")

    @contextmanager
    def _setup_lock(self):
        """Serialises schema changes and the replacement of a corrupt index."""
        fd = prepare_lock_file(self.lock_path, keep_open=True)
        try:
            deadline = time.monotonic() + self.busy_timeout
            while not lock_descriptor(fd, blocking=False):
                if time.monotonic() >= deadline:
                    raise sqlite3.OperationalError("database is locked (index.db.lock)")
                time.sleep(0.01)
            try:
                yield
            finally:
                unlock_descriptor(fd)
        finally:
            os.close(fd)

    @contextmanager
    def rebuilding(self, session_ids: Iterable[str] | None = None):
        """One write transaction in which the index (or these sessions) is
        emptied and caught up again by the caller's catch-ups: readers see the
        old index until it commits, then the new one, never a part of either.
        A kill rolls it back. A full rebuild drops the secondary indexes while
        the rows go in and builds them once at the end: far cheaper than keeping
        six B-trees up to date row by row."""
        with self._write(patient=True) as conn:
            if session_ids is not None:
                self.forget(session_ids, keep_session=True)
                yield
                return
            indexes = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
                                   "AND tbl_name = 'events'").fetchall()
            for name, _ in indexes:
                conn.execute(f'DROP INDEX "{name}"')
            for table in ("events", "damaged_lines", "event_counts", "event_totals"):
                conn.execute(f"DELETE FROM {table}")
            conn.execute("UPDATE sessions SET indexed_bytes = 0, indexed_lines = 0, tail = x'', first_us = NULL, "
                         "last_us = NULL")
            crash_point("bulk-rebuild")
            yield
            for _, sql in indexes:
                conn.execute(sql)

    def discard(self) -> None:
        """Delete an index.db that SQLite reports as corrupt, or that is not ours:
        it is derived, and catch-up rebuilds it from the JSONL. Another process
        may have replaced it already; only the file this connection found bad
        is removed."""
        inode = self._inode
        self.close()
        with self._setup_lock():
            try:
                if inode is not None and os.lstat(self.path).st_ino != inode:
                    return
            except FileNotFoundError:
                return
            logger.warning("%s is corrupt or not a treeship-store index; deleting it to rebuild it from the "
                           "JSONL files", self.path)
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
    def _write(self, patient: bool = False):
        """A write transaction, or the one already open (a rebuild's). It waits
        BRIEF_WAIT for SQLite's write lock, or the busy timeout if `patient`:
        most writes are catch-ups that the next reader can do instead, and a
        full rebuild holds the lock for seconds."""
        conn = self.conn
        if conn.in_transaction:
            yield conn
            return
        if patient:
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
        try:
            with _transaction(conn):
                yield conn
        finally:
            if patient:
                conn.execute(f"PRAGMA busy_timeout = {int(BRIEF_WAIT * 1000)}")

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

    def catch_up(self, session_id: str, log: OpenLog, progress: Callable[[int], None] | None = None, *,
                 patient: bool = False) -> tuple[int, int] | None:
        """Index every line of the session's record (open as `log`) that the
        index lacks; return (indexed bytes, indexed lines). Each chunk is one
        transaction that re-reads the watermark first, so concurrent catch-ups of
        the same session never index a line twice. Unless `patient`, give up
        (None) if SQLite's write lock is not free within BRIEF_WAIT."""
        error_point("index-error")
        found = self.watermark(session_id)
        if found is not None and _unchanged(log.fd, *found):
            return found[0].indexed_bytes, found[0].indexed_lines  # nothing new: no write transaction
        try:
            return self._catch_up_chunks(session_id, log, progress, patient)
        except sqlite3.OperationalError as error:
            if patient or not is_busy(error):
                raise
            logger.debug("session %s: index busy; left for the next reader to catch up", session_id)
            return None

    def _catch_up_chunks(self, session_id: str, log: OpenLog, progress: Callable[[int], None] | None,
                         patient: bool) -> tuple[int, int]:
        while True:
            with self._write(patient) as conn:
                mark, file_size = self._resume_point(conn, session_id, log.fd)
                data = log.committed(mark.indexed_bytes, file_size=file_size)
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

    def line_count(self, session_id: str, fd: int) -> tuple[int, int]:
        """(end of the last complete line, number of lines) of the session's file,
        open as `fd` by a writer holding its lock: the committed watermark plus
        the lines after it, counted. Reads the index, never waits for its write
        lock: a long transaction (a full rebuild) must not hold up an append."""
        error_point("index-error")
        found = self.watermark(session_id)
        if found is not None:
            mark, dev, ino = found
            if file_change(fd, os.fstat(fd), mark, dev, ino) is None:
                return count_lines(fd, mark.indexed_bytes, mark.indexed_lines)
        return count_lines(fd)

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

    def forget(self, session_ids: Iterable[str], *, keep_session: bool = False, patient: bool = False) -> None:
        """Drop what the index holds for these sessions, in one transaction. With
        keep_session, the watermark goes back to 0 (a full reindex); without, the
        session is gone (its file was removed). Unless `patient`, give up quietly
        if SQLite's write lock is not free within BRIEF_WAIT."""
        try:
            with self._write(patient) as conn:
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
        except sqlite3.OperationalError as error:
            if patient or not is_busy(error):
                raise

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
