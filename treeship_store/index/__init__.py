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
from typing import TypeVar

from ..errors import StoreError
from ..faults import crash_point, error_point
from .file import BRIEF_WAIT, IndexFile, is_busy, is_corrupt, translate
from ..record.log import OpenLog
from ..record.lines import READ_CHUNK, count_lines
from ..projector import project
from .watermark import TAIL_BYTES, Watermark, file_change, unchanged

logger = logging.getLogger("treeship_store")


SEARCH_BATCH = 1000  # words of this many lines go to event_text at once (migration m005 says why)
_INSERT_EVENT = "INSERT INTO events VALUES (" + ", ".join("?" * 12) + ")"
_INSERT_DAMAGED = "INSERT INTO damaged_lines VALUES (?, ?, ?, ?, ?)"
_ADD = ("ON CONFLICT DO UPDATE SET events = events + excluded.events, tokens_in = tokens_in + excluded.tokens_in, "
        "tokens_out = tokens_out + excluded.tokens_out, failed = failed + excluded.failed")
_ADD_COUNTS = "INSERT INTO event_counts VALUES (?, ?, ?, ?, ?, ?, ?, ?) " + _ADD
_ADD_TOTALS = "INSERT INTO event_totals VALUES (?, ?, ?, ?, ?, ?, ?) " + _ADD
# Forgetting a session takes its counts back out of the totals.
_SUBTRACT_TOTALS = ("INSERT INTO event_totals SELECT type, agent_name, model, -events, -tokens_in, -tokens_out, "
                    "-failed FROM event_counts WHERE session_key = ? AND true " + _ADD)


HOT_CACHE_NS = 60 * 10**9  # how long file_states may reuse the hot sessions it found
IN_SLICE = 900  # values bound in one statement: under the 999 of SQLite before 3.32
# (session key, indexed bytes, device, inode, mtime) of a session's file, as indexed.
FileState = tuple[int, int, int | None, int | None, int | None]


T = TypeVar("T")


class Index:
    """index.db under a store root: connection, schema and catch-up. The
    questions it answers are queries.py's. Not shared between threads.

    index.db is only ever opened by SQLite itself. A descriptor of it that we
    opened and closed would drop every POSIX lock this process holds on the
    file, SQLite's own included, which breaks a second Store in another thread."""

    def __init__(self, path: Path, *, busy_timeout: float = 60.0, read_only: bool = False,
                 search_timeout: float | None = None):
        self.path = path
        self.busy_timeout = busy_timeout
        self.search_timeout = search_timeout
        # read_only (for verify): never creates, migrates or writes anything;
        # `outdated` then says the schema is older than this version's.
        self.read_only = read_only
        self.outdated = False
        self.file = IndexFile(path, busy_timeout)
        self._conn: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None
        # {hot only?: ((data_version, total_changes), since, states)}: see file_states
        self._file_states: dict[bool, tuple[tuple[int, int], int | None, dict]] = {}
        # Keys of the strings table: texts are never removed, so a committed key stays right.
        self._strings: dict[str, int] = {}
        self._new_strings: dict[str, int] = {}  # added by the transaction in progress

    # -- connection and schema ------------------------------------------------

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            if self.read_only:
                self._conn, self.outdated = self.file.open_read_only()
            else:
                self._conn = self.file.open()
        return self._conn

    @property
    def reader(self) -> sqlite3.Connection:
        """A second, query-only connection for results a caller iterates at
        leisure. An open cursor holds a read snapshot; on `conn` it would stop
        this process's next write transaction with SQLITE_BUSY as soon as
        another process commits, whatever the busy timeout."""
        if self._reader is None:
            self.conn  # noqa: B018 - the file and schema must exist first
            self._reader = self.file.connect("mode=rw")
            self._reader.execute("PRAGMA query_only = ON")
        return self._reader

    @contextmanager
    def rebuilding(self, session_ids: Iterable[str] | None = None):
        """One write transaction in which the index (or these sessions) is
        emptied and caught up again by the caller's catch-ups: readers see the
        old index until it commits, then the new one, never a part of either.
        A kill rolls it back. A full rebuild drops the secondary indexes while
        the rows go in and builds them once at the end: far cheaper than keeping
        five B-trees up to date row by row."""
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
            conn.execute("INSERT INTO event_text (event_text) VALUES ('delete-all')")
            conn.execute("DELETE FROM search_pending")
            conn.execute("UPDATE sessions SET indexed_bytes = 0, indexed_lines = 0, tail = x'', first_us = NULL, "
                         "last_us = NULL")
            crash_point("bulk-rebuild")
            yield
            for _, sql in indexes:
                conn.execute(sql)

    def run(self, operation: Callable[[Index], T]) -> T:
        """Run `operation` on the index. If SQLite finds index.db corrupt, or it is
        not ours, delete it (it is derived) and run it once more on a new one.
        Driver and file errors leave here, and only here, as the store's errors."""
        try:
            try:
                return operation(self)
            except sqlite3.DatabaseError as error:
                if not is_corrupt(error):
                    raise
                self.discard()
                return operation(self)
        except sqlite3.Error as error:
            raise translate(error, self.path) from None
        except OSError as error:
            raise StoreError(f"{error.filename or self.path.parent}: {error.strerror or error}") from None

    def discard(self) -> None:
        """Close, and delete index.db if it is still the file found corrupt or
        foreign (see IndexFile.discard): the next use rebuilds it."""
        self.close()
        self.file.discard()

    def close(self) -> None:
        for conn in (self._reader, self._conn):
            if conn is not None:
                conn.close()
        self._conn = self._reader = None
        self._file_states = {}  # a new connection starts its counters again
        self._strings.clear()  # a new file (after discard) has keys of its own

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
            self._strings.update(self._new_strings)  # committed: keys that now exist for everyone
        finally:
            self._new_strings.clear()
            if patient:
                conn.execute(f"PRAGMA busy_timeout = {int(BRIEF_WAIT * 1000)}")

    def writing(self):
        """A write transaction for a caller's own table (push positions),
        waiting up to the busy timeout for SQLite's write lock."""
        return self._write(patient=True)

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
        if found is not None and unchanged(log.fd, *found):
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
                mark, info = self._resume_point(conn, session_id, log.fd)
                file_size = info.st_size
                data = log.committed(mark.indexed_bytes, file_size=file_size)
                if not data:
                    return mark.indexed_bytes, mark.indexed_lines
                lines, first_us, last_us = self._insert_lines(conn, mark, data)
                end = mark.indexed_bytes + len(data)
                # min(x, NULL) is NULL, hence the coalesce: a chunk without times keeps the old ones.
                conn.execute("UPDATE sessions SET indexed_bytes = ?, indexed_lines = ?, tail = ?, "
                             "first_us = coalesce(min(first_us, ?), first_us, ?), "
                             "last_us = coalesce(max(last_us, ?), last_us, ?), file_mtime_ns = ? "
                             "WHERE session_key = ?",
                             (end, lines, (mark.tail + data)[-TAIL_BYTES:], first_us, first_us, last_us, last_us,
                              info.st_mtime_ns, mark.session_key))
                crash_point("catch-up-transaction")
            crash_point("catch-up-committed")
            if progress:
                progress(len(data))
            if file_size - mark.indexed_bytes <= READ_CHUNK:
                # That read reached the end of the file as it was: what follows
                # `end` is a line still being written. No need for another round.
                return end, lines

    def _resume_point(self, conn: sqlite3.Connection, session_id: str, fd: int) -> tuple[Watermark, os.stat_result]:
        """The session's watermark (reset to 0 if the file changed behind the
        index), and the file's state now."""
        info = os.fstat(fd)
        row = conn.execute("SELECT session_key, indexed_bytes, indexed_lines, tail, file_dev, file_ino "
                           "FROM sessions WHERE session_id = ?", (session_id,)).fetchone()
        if row is None:
            key = self._new_session_key(conn)
            conn.execute("INSERT INTO sessions (session_key, session_id, file_dev, file_ino) VALUES (?, ?, ?, ?)",
                         (key, session_id, info.st_dev, info.st_ino))
            return Watermark(key, 0, 0, b""), info
        mark = Watermark(*row[:4])
        change = file_change(fd, info, mark, row[4], row[5])
        if change is None:
            return mark, info
        logger.warning("session %s: %s; re-indexing it from the start", session_id, change)
        key = self._start_again(conn, mark.session_key, file_dev=info.st_dev, file_ino=info.st_ino)
        return Watermark(key, 0, 0, b""), info

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

    def _insert_lines(self, conn: sqlite3.Connection, mark: Watermark, data: bytes) -> tuple[int, int | None, int | None]:
        """Record the rows for the complete lines in `data` (which starts at the
        watermark); return (lines indexed after it, earliest time, latest time)."""
        rows = project(mark.session_key, mark.indexed_bytes, mark.indexed_lines, data)
        key_of = self._string_key
        conn.executemany(_INSERT_EVENT, [
            (*row[:4], key_of(row[4]), key_of(row[5]), key_of(row[6]), key_of(row[7]), row[8], row[9],
             None if row[10] is None else key_of(row[10]), row[11]) for row in rows.events])
        conn.executemany(_INSERT_DAMAGED, rows.damaged)
        if len(rows.texts) >= SEARCH_BATCH:
            conn.executemany("INSERT INTO event_text (rowid, text) VALUES (?, ?)", rows.texts)
        elif rows.texts:
            conn.executemany("INSERT INTO search_pending (rowid, text) VALUES (?, ?)", rows.texts)
            # Counting the waiting lines costs a few µs: done at every 64th line of a session.
            if any(rowid & 63 == 0 for rowid, _ in rows.texts) and conn.execute(
                    f"SELECT count(*) >= {SEARCH_BATCH} FROM search_pending").fetchone()[0]:
                _move_pending_words(conn)
        conn.executemany(_ADD_COUNTS, [(mark.session_key, *group, *count) for group, count in rows.counts.items()])
        conn.executemany(_ADD_TOTALS, [(*group, *count) for group, count in rows.counts.items()])
        return rows.lines, rows.first_us, rows.last_us

    def _string_key(self, text: str) -> int:
        """The key of `text` in the strings table, added if new. Called inside a
        write transaction; a key added there is remembered only once it commits."""
        key = self._strings.get(text) or self._new_strings.get(text)
        if key is None:
            row = self.conn.execute("SELECT key FROM strings WHERE text = ?", (text,)).fetchone()
            if row is None:
                key = self._new_strings[text] = self.conn.execute(
                    "INSERT INTO strings (text) VALUES (?)", (text,)).lastrowid
            else:
                key = self._strings[text] = row[0]
        return key

    # -- sessions -------------------------------------------------------------

    def file_states(self, session_ids: Sequence[str] | None = None, *,
                    changed_since_ns: int | None = None) -> dict[str, FileState]:
        """{session_id: (session key, indexed bytes, device, inode, mtime)} for
        the given sessions (all when None) that the index knows; with
        `changed_since_ns`, only those whose file changed after then (or whose
        mtime is not known yet): one index range, however many sessions."""
        sql = "SELECT session_id, session_key, indexed_bytes, file_dev, file_ino, file_mtime_ns FROM sessions"
        if session_ids is None:
            # Every store-wide query asks; read the table again only if the index
            # changed. data_version moves when another connection commits,
            # total_changes when this one writes. The dicts are shared: read only.
            # The hot ones are kept for up to a minute as the window moves on:
            # the sessions that left it meanwhile cost only a stat each.
            version = (self.conn.execute("PRAGMA data_version").fetchone()[0], self.conn.total_changes)
            cached = self._file_states.get(changed_since_ns is not None)
            if cached is None or cached[0] != version or \
                    (changed_since_ns is not None and changed_since_ns - cached[1] > HOT_CACHE_NS):
                rows = self.conn.execute(f"{sql} WHERE file_mtime_ns > ? OR file_mtime_ns IS NULL",
                                         (changed_since_ns,)) if changed_since_ns is not None else self.conn.execute(sql)
                cached = self._file_states[changed_since_ns is not None] = \
                    version, changed_since_ns, {row[0]: row[1:] for row in rows}
            return cached[2]
        # In slices: SQLite binds a limited number of values per statement
        # (32,766 by default), and one read of the hint file can name 263,000.
        session_ids = list(session_ids)
        states = {}
        for start in range(0, len(session_ids), IN_SLICE):
            chunk = session_ids[start:start + IN_SLICE]
            states.update((row[0], row[1:]) for row in self.conn.execute(
                f"{sql} WHERE session_id IN ({', '.join('?' * len(chunk))})", chunk))
        return states

    def meta(self) -> dict[str, int]:
        """The index's own bookkeeping (listing_mtime_ns, swept_ns)."""
        return dict(self.conn.execute("SELECT name, value FROM index_meta"))

    def note_refresh(self, meta: dict[str, int], mtimes: list[tuple[int, int]]) -> None:
        """Record a refresh: `meta` values, and (mtime, key) of files found
        unchanged but with an mtime the index did not have. Skipped if SQLite's
        write lock is busy: the next refresh does it again."""
        try:
            with self._write() as conn:
                conn.executemany("INSERT OR REPLACE INTO index_meta (name, value) VALUES (?, ?)", meta.items())
                conn.executemany("UPDATE sessions SET file_mtime_ns = ? WHERE session_key = ?", mtimes)
        except sqlite3.OperationalError as error:
            if not is_busy(error):
                raise

    def push_positions(self, central_id: str) -> list[tuple]:
        """(session_id, pushed bytes, pushed lines, file_dev, file_ino) of every
        session pushed to the central store `central_id` (positions.py)."""
        return self.conn.execute("SELECT session_id, pushed_bytes, pushed_lines, file_dev, file_ino "
                                 "FROM push_positions WHERE central_id = ?", (central_id,)).fetchall()

    def save_push_position(self, central_id: str, session_id: str, values: tuple) -> None:
        """Record how far `session_id` is pushed to `central_id`, after the
        central commit, waiting for SQLite's write lock as long as it takes."""
        with self.writing() as conn:
            conn.execute("INSERT OR REPLACE INTO push_positions VALUES (?, ?, ?, ?, ?, ?)",
                         (central_id, session_id, *values))

    def session_id_of(self, key: int) -> str:
        row = self.conn.execute("SELECT session_id FROM sessions WHERE session_key = ?", (key,)).fetchone()
        return row[0] if row else f"(session key {key})"

    def last_event_us(self, session_id: str) -> int | None:
        """The time of the session's latest indexed event (None: none has a time)."""
        row = self.conn.execute("SELECT last_us FROM sessions WHERE session_id = ?", (session_id,)).fetchone()
        return None if row is None else row[0]

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
                    if keep_session:
                        self._start_again(conn, row[0])
                    else:
                        self._forget_rows(conn, row[0])
                        conn.execute("DELETE FROM sessions WHERE session_key = ?", row)
                        # Gone: how far it was pushed goes too (a session made again starts at line 0).
                        conn.execute("DELETE FROM push_positions WHERE session_id = ?", (session_id,))
        except sqlite3.OperationalError as error:
            if patient or not is_busy(error):
                raise

    @staticmethod
    def _forget_rows(conn: sqlite3.Connection, session_key: int) -> None:
        conn.execute(_SUBTRACT_TOTALS, (session_key,))
        conn.execute("DELETE FROM event_totals WHERE events = 0")
        for table in ("events", "damaged_lines", "event_counts"):
            conn.execute(f"DELETE FROM {table} WHERE session_key = ?", (session_key,))
        conn.execute("DELETE FROM search_pending WHERE rowid >= ? AND rowid < ?",
                     (session_key << 32, session_key + 1 << 32))
        conn.execute("UPDATE sessions SET first_us = NULL, last_us = NULL WHERE session_key = ?", (session_key,))

    def flush_search(self, *, patient: bool = False) -> None:
        """Move the words waiting in search_pending into event_text, so that a
        search sees every indexed line. Unless `patient`, skipped if SQLite's
        write lock is not free within BRIEF_WAIT (the search then misses at
        most the last lines caught up, as a query misses a catch-up it skips)."""
        if self.reader.execute("SELECT NOT EXISTS (SELECT 1 FROM search_pending)").fetchone()[0]:
            return
        try:
            with self._write(patient) as conn:
                _move_pending_words(conn)
        except sqlite3.OperationalError as error:
            if patient or not is_busy(error):
                raise
            logger.debug("index busy; search words left pending")

    @staticmethod
    def _new_session_key(conn: sqlite3.Connection) -> int:
        """A session key never used before: event_text may still hold words
        under a forgotten one (see migration m005)."""
        key = conn.execute("SELECT max(coalesce((SELECT value FROM index_meta WHERE name = 'last_session_key'), 0), "
                           "coalesce((SELECT max(session_key) FROM sessions), 0)) + 1").fetchone()[0]
        conn.execute("INSERT OR REPLACE INTO index_meta (name, value) VALUES ('last_session_key', ?)", (key,))
        return key

    def _start_again(self, conn: sqlite3.Connection, session_key: int, **columns) -> int:
        """Forget a session's rows and set its watermark back to 0 under a new
        key; returns the key."""
        self._forget_rows(conn, session_key)
        key = self._new_session_key(conn)
        assignments = "".join(f", {name} = ?" for name in columns)  # names from this module, never input
        conn.execute(f"UPDATE sessions SET session_key = ?, indexed_bytes = 0, indexed_lines = 0, tail = x''"
                     f"{assignments} WHERE session_key = ?", (key, *columns.values(), session_key))
        return key

    def watermark(self, session_id: str) -> tuple[Watermark, int | None, int | None] | None:
        row = self.conn.execute("SELECT session_key, indexed_bytes, indexed_lines, tail, file_dev, file_ino "
                                "FROM sessions WHERE session_id = ?", (session_id,)).fetchone()
        return None if row is None else (Watermark(*row[:4]), row[4], row[5])


def _move_pending_words(conn: sqlite3.Connection) -> None:
    conn.execute("INSERT INTO event_text (rowid, text) SELECT rowid, text FROM search_pending")
    conn.execute("DELETE FROM search_pending")


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


