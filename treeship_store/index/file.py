"""index.db as a file: whether it is ours, opening it without following a
symlink, and what SQLite's errors mean for the caller."""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
import time
import urllib.parse
from contextlib import contextmanager
from pathlib import Path

from filelock import lock_descriptor, unlock_descriptor

from ..errors import IndexTooNew, IndexUnavailable, UnsafePath
from ..record.paths import open_regular, tighten_mode

logger = logging.getLogger("treeship_store")

SCHEMA_VERSION = 7  # the number of migrations in migrations/
# How long a write waits for SQLite's write lock unless told to be patient: an
# append's catch-up after its line is written, a query's before it answers.
# The next reader can do either, and a full rebuild holds the lock for seconds.
BRIEF_WAIT = 1.0

# PRAGMA application_id of our index.db ("TsSt"): a valid SQLite file without
# it is not ours, whatever tables or user_version it has, and is rebuilt.
APPLICATION_ID = 0x54735374
SQLITE_BUSY, SQLITE_READONLY, SQLITE_INTERRUPT, SQLITE_IOERR, SQLITE_CORRUPT, SQLITE_FULL, SQLITE_CANTOPEN, \
    SQLITE_NOTADB = 5, 8, 9, 10, 11, 13, 14, 26


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


class IndexFile:
    """index.db on disk: opened only by SQLite itself (a descriptor of it that
    we opened and closed would drop every POSIX lock this process holds on the
    file, SQLite's own included, which breaks a second Store in another
    thread), recognised as ours, its schema set up, deleted when bad."""

    def __init__(self, path: Path, busy_timeout: float):
        self.path = path
        self.busy_timeout = busy_timeout
        self.inode: int | None = None  # of the file open() opened: the one discard() may delete

    @property
    def lock_path(self) -> Path:
        return self.path.with_name(self.path.name + ".lock")

    def connect(self, options: str) -> sqlite3.Connection:
        """A connection by URI, so that SQLite never follows a symlink we have
        not checked (check_index_files) and creates the file with the mode of
        index.db.lock (0600) through `modeof`, whatever the umask."""
        quoted = urllib.parse.quote(os.fspath(self.path.absolute()))
        lock = urllib.parse.quote(os.fspath(self.lock_path.absolute()))
        return sqlite3.connect(f"file:{quoted}?{options}&modeof={lock}", uri=True, timeout=BRIEF_WAIT,
                               isolation_level=None, check_same_thread=False)

    def open(self) -> sqlite3.Connection:
        """A read-write connection, the file created and its schema set up or
        upgraded as needed."""
        check_index_files(self.path)
        prepare_lock_file(self.lock_path)
        # isolation_level=None: we issue BEGIN IMMEDIATE ourselves, so a writer
        # waits for the write lock up front (busy timeout) instead of failing
        # with SQLITE_BUSY when it upgrades a read transaction.
        conn = self.connect("mode=rwc")
        try:
            self.inode = os.lstat(self.path).st_ino  # which file discard() may delete
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

    def open_read_only(self) -> tuple[sqlite3.Connection, bool]:
        """For verify, which promises to change nothing: a read-write connection
        that is query_only, since only such a connection removes -wal and -shm
        when it closes last. On a read-only filesystem, where no one can be
        writing, the file is read as it is (immutable). Also says whether
        the schema is older than this version's."""
        check_index_files(self.path)
        try:
            conn = self.connect("mode=rw")
            conn.execute("PRAGMA query_only = ON")
            found = identity(conn)
        except sqlite3.OperationalError as error:
            if error.sqlite_errorcode not in (SQLITE_CANTOPEN, SQLITE_READONLY) or \
                    os.path.lexists(f"{self.path}-wal"):
                raise
            conn = self.connect("mode=ro&immutable=1")
            found = identity(conn)
        try:
            self._check_identity(conn, found)
        except BaseException:
            conn.close()
            raise
        return conn, found[1] < SCHEMA_VERSION

    def _check_identity(self, conn: sqlite3.Connection, found: tuple[int, int]) -> None:
        """Refuse an index.db that is not ours (ForeignIndex), or ours from a
        newer treeship-store (IndexTooNew). A new, empty file is ours to set up."""
        application_id, version = found
        if application_id != APPLICATION_ID:
            if application_id == 0 and version == 0 and not conn.execute(
                    "SELECT 1 FROM sqlite_master LIMIT 1").fetchone():
                return
            if application_id == 0 and version == 2 and _written_by_0_1(conn):
                return  # treeship-store 0.1 set no application_id; the migrations bring it up to date
            raise ForeignIndex(f"{self.path} is not a treeship-store {SCHEMA_VERSION} index "
                               f"(application_id {application_id}, user_version {version})")
        if version > SCHEMA_VERSION:
            raise IndexTooNew(
                f"{self.path} has schema version {version}, newer than this treeship-store knows "
                f"({SCHEMA_VERSION}); upgrade treeship-store, or delete index.db to rebuild it from the JSONL")

    def _set_up_schema(self, conn: sqlite3.Connection) -> None:
        with self.setup_lock():  # two processes must not both create the tables
            found = identity(conn)
            self._check_identity(conn, found)
            if found[1] == SCHEMA_VERSION:
                return
            from sqlite_utils import Database  # noqa: PLC0415 - only when the schema changes

            from ..migrations import migrations  # noqa: PLC0415
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            try:
                conn.execute("PRAGMA journal_mode=WAL")  # readers never wait for the writer
                migrations.apply(Database(conn, execute_plugins=False, recursive_triggers=False))
                conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
                conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
            finally:
                conn.execute(f"PRAGMA busy_timeout = {int(BRIEF_WAIT * 1000)}")

    @contextmanager
    def setup_lock(self):
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

    def discard(self) -> None:
        """Delete an index.db that SQLite reports as corrupt, or that is not ours:
        it is derived, and catch-up rebuilds it from the JSONL. Another process
        may have replaced it already; only the file this object opened is
        removed. The caller has closed its connections."""
        inode = self.inode
        with self.setup_lock():
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


def _written_by_0_1(conn: sqlite3.Connection) -> bool:
    """An index of treeship-store 0.1: its migration record names our first two."""
    try:
        names = {row[0] for row in conn.execute(
            "SELECT name FROM _sqlite_migrations WHERE migration_set = 'treeship_store'")}
    except sqlite3.OperationalError:
        return False
    return {"m001_sessions_events_damage", "m002_counts_and_deferred_indexes"} <= names
