"""Store: a Treeship root of sessions, each an append-only events.jsonl, plus
one SQLite index derived from them. Its questions are the Reader's
(reader.py), answered by the index (index/queries.py)."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import IndexTooNew, StoreError, StoreNotFound, ValidationError
from .event import Event, check_session_id, decode_line, now_timestamp, prepare
from .index import Index
from .index.freshness import catch_up_session, refresh
from .index.queries import SqliteQueries
from .positions import Position
from .reader import Reader
from .record.directory import SessionDirectory
from .record.lines import count_lines
from .record.log import SessionLog
from .record.paths import make_private_directory, nearest_store, open_regular
from .record.writer import SessionWriter, Writing

if TYPE_CHECKING:
    from datetime import datetime

    from .results import ReindexReport, SessionContents, VerifyReport
    from .retention import PruneReport

logger = logging.getLogger("treeship_store")

FSYNC_ENV = "TREESHIP_STORE_FSYNC"
ROOT_ENV = "TREESHIP_STORE_ROOT"
DEFAULT_MAX_LINE_BYTES = 1 << 20


class Store(Reader):
    """A Treeship root (usually a project's `.treeship/`), created on first write.

    Appends are safe across processes: each holds the session's flock while it
    decides sequence numbers and writes. A Store object itself is meant for one
    thread; give each thread or process its own.
    """

    def __init__(self, root: str | os.PathLike = ".treeship", *, fsync: bool | None = None,
                 lock_timeout: float = 60.0, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
                 allow_unknown: bool = False, read_only: bool = False, search_timeout: float | None = None):
        if not isinstance(root, (str, os.PathLike)) or "\0" in os.fspath(root):
            raise ValidationError(f"store root must be a path without NUL characters, got {root!r}")
        if not isinstance(lock_timeout, (int, float)) or not 0 <= lock_timeout < float("inf"):
            raise ValidationError(f"lock_timeout must be a finite number of seconds >= 0, got {lock_timeout!r}")
        if search_timeout is not None and not (isinstance(search_timeout, (int, float)) and
                                               0 <= search_timeout < float("inf")):
            raise ValidationError(f"search_timeout must be a finite number of seconds >= 0, got {search_timeout!r}")
        if type(max_line_bytes) is not int or max_line_bytes < 1:
            raise ValidationError(f"max_line_bytes must be a positive integer, got {max_line_bytes!r}")
        self.root = Path(root)
        self.sessions_dir = self.root / "sessions"
        self.fsync = os.environ.get(FSYNC_ENV, "").lower() in ("1", "true", "yes") if fsync is None else fsync
        self.lock_timeout = lock_timeout
        self.max_line_bytes = max_line_bytes
        self.allow_unknown = allow_unknown
        # A reader's Store (the web server's): it refuses to append or reindex.
        # Its queries still catch the index up, each in a short transaction.
        self.read_only = read_only
        # A search runs as long as it takes unless bounded: the web view bounds
        # it (its workers serve everyone); a caller of its own waits for its answer.
        self._index = Index(self.root / "index.db", busy_timeout=max(lock_timeout, 5.0))
        self.directory = SessionDirectory(self.root)  # which sessions exist, each one's log
        self.backend = SqliteQueries(self.directory, self._index, search_timeout=search_timeout)

    def _log(self, session_id: str) -> SessionLog:
        return self.directory.log(session_id)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # -- writing --------------------------------------------------------------

    def append(self, session_id: str, event: Mapping, *, allow_unknown: bool | None = None) -> Event:
        """Append one event; return it as stored, with sequence_no and ids filled in."""
        return self.append_many(session_id, [event], allow_unknown=allow_unknown)[0]

    def append_many(self, session_id: str, events: Iterable[Mapping], *,
                    allow_unknown: bool | None = None) -> list[Event]:
        """Append events in order, in one lock hold and one write, all or nothing:
        every event is checked first, and a write that fails part way leaves
        none of them in the record (see SessionLog.write)."""
        prepared = self.prepare_batch(session_id, events, allow_unknown=allow_unknown)  # before taking the lock
        if not prepared:
            return []
        with self.writing(session_id) as session:
            return session.write_prepared(prepared)

    def prepare_batch(self, session_id: str, events: Iterable[Mapping], *,
                      allow_unknown: bool | None = None) -> list[dict]:
        """Every event checked and completed (event.prepare) as this store
        writes them; raises ValidationError naming the first bad one."""
        unknown_ok = self.allow_unknown if allow_unknown is None else allow_unknown
        now = now_timestamp()  # one batch, one moment
        return [prepare(event, session_id, position=i, allow_unknown=unknown_ok, max_line_bytes=self.max_line_bytes,
                        timestamp=now) for i, event in enumerate(events)]

    @contextmanager
    def writing(self, session_id: str) -> Iterator[SessionWriter]:
        """Hold the session's lock for a read-then-append: what the caller reads
        through the writer (the record's lines, files beside it) cannot change
        before its append_many, which writes under the same lock hold. The index
        is caught up with what was written once the lock is released."""
        self._refuse_if_read_only()
        log = self._log(session_id)
        make_private_directory(self.root)
        writing = Writing(log, timeout=self.lock_timeout, fsync=self.fsync,
                          prepare=lambda events, allow_unknown: self.prepare_batch(session_id, events,
                                                                                    allow_unknown=allow_unknown),
                          line_count=lambda fd, directory: self._line_count(log, fd))
        with writing as writer:
            yield writer
        written = writing.written
        if written is None:
            return
        # The lock is free again: indexing our lines need not hold up the next writer.
        try:
            self._index.run(lambda index: index.catch_up(session_id, written))
        except StoreError as error:
            # The lines are written: the JSONL is the record. The next append or
            # query catches the index up.
            logger.warning("session %s: appended, but the index was not updated (%s)", session_id, error)
        finally:
            written.close()

    def _line_count(self, log: SessionLog, fd: int) -> tuple[int, int]:
        """(end of the last complete line, number of lines) of the locked file:
        from the index's watermark and the lines after it; by counting the whole
        file if the index cannot say. A too-new index raises: nothing is written."""
        try:
            return self._index.run(lambda index: index.line_count(log.session_id, fd))
        except IndexTooNew:
            raise
        except StoreError as error:
            logger.warning("session %s: index unavailable (%s); counting lines in %s", log.session_id,
                           error, log.path)
            return count_lines(fd)

    def session_ids(self) -> list[str]:
        """Sessions present on disk (directories under sessions/ with a valid id)."""
        return self.directory.session_ids()

    # -- keeping the index current -------------------------------------------

    def reindex(self, session: str | None = None, *, full: bool = False,
                progress: Callable[[int, int], None] | None = None) -> ReindexReport:
        """Catch the index up with the JSONL (default), or with full=True rebuild
        it from the JSONL. `progress(bytes_done, bytes_total)` is called as it goes."""
        from .results import ReindexReport  # noqa: PLC0415 - not on the append path
        started = time.monotonic()
        self._refuse_if_read_only()
        self._require_root()
        sessions = [check_session_id(session)] if session is not None else self.session_ids()
        if session is not None:
            fd = self._log(session).open_events_file()
            if fd is None:
                raise StoreNotFound(f"no session {session} under {self.root}")
            os.close(fd)
        report = ReindexReport(sessions=len(sessions))

        def catch_up_all(index: Index) -> None:
            known = index.file_states()
            total = sum(max(0, _size(self._log(s).path) - known.get(s, (0, 0))[1]) for s in sessions)

            def advance(done: int) -> None:
                report.bytes_read += done
                if progress:
                    progress(report.bytes_read, max(total, report.bytes_read))
            for session_id in sessions:
                catch_up_session(self.directory, index, session_id, strict=session is not None, patient=True,
                                 progress=advance)
            if session is None:
                refresh(self.directory, index, None, sweep=True)  # forget sessions whose file is gone
            index.flush_search(patient=True)

        def rebuild(index: Index) -> None:
            if not full:
                catch_up_all(index)
                return
            # One transaction: readers see the old index until the new one is whole.
            with index.rebuilding(None if session is None else sessions):
                catch_up_all(index)

        self._index.run(rebuild)
        counts = self.counts(session)
        report.events, report.damaged_lines = counts["events"], counts["damaged_lines"]
        report.seconds = time.monotonic() - started
        return report

    def read_session(self, session_id: str) -> SessionContents:
        """Every line of a session's record straight from its JSONL, without the
        index: the events, and the lines that are damaged."""
        from .results import DamagedLine, SessionContents  # noqa: PLC0415 - not on the append path
        self._require_root()
        log = self._log(session_id).open_for_reading()
        if log is None:
            raise StoreNotFound(f"no session {session_id} under {self.root}")
        contents = SessionContents(session_id, [], [])
        try:
            for line_no, offset, line in log.lines():
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

    def prune(self, older_than: str | datetime, *, dry_run: bool = False,
              archive: str | os.PathLike | None = None) -> PruneReport:
        """Remove whole sessions whose last event is before `older_than` (an
        age such as "90d", or a time), with what the index and the sinks hold
        of them; `archive` (a directory) keeps each first as
        <session>.tar.gz. dry_run: only say which, with their sizes. Safe with
        writers and against a kill: see retention.py."""
        from .filters import time_bound  # noqa: PLC0415 - not on the append path
        from .retention import prune_sessions  # noqa: PLC0415
        from .times import parse_time  # noqa: PLC0415
        self._refuse_if_read_only()
        self._require_root()
        cutoff = time_bound(older_than, "older_than")
        older = [(s["session_id"], s["last"]) for s in self.sessions()
                 if s["last"] is not None and parse_time(s["last"]) < cutoff]
        return prune_sessions(self.directory, self._index, older, cutoff, dry_run=dry_run,
                              archive=None if archive is None else Path(archive))

    def verify(self, session: str | None = None) -> VerifyReport:
        """Check the index against the JSONL, sequence numbers against line
        positions, and report damaged lines. Reads only; changes nothing."""
        from .verify import verify_store  # noqa: PLC0415 - not needed by appends
        return verify_store(self.directory, session)

    def store_id(self) -> str:
        """This store's stable id, a UUID kept in `store.id` beside the sessions
        and made on first use: how a central store tells hosts' copies apart.
        Written whole under another name and linked into place, so that a
        reader never sees half of it and two first users agree."""
        import uuid  # noqa: PLC0415 - only for push
        self._require_root()
        directory = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)  # the root: the user's path
        try:
            while True:
                try:
                    fd = open_regular("store.id", os.O_RDONLY, dir_fd=directory, shown=self.root / "store.id")
                except FileNotFoundError:
                    temporary = f"store.id.{os.getpid()}.{uuid.uuid4().hex}"
                    fd = open_regular(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, dir_fd=directory)
                    try:
                        os.write(fd, f"{uuid.uuid4()}\n".encode())
                        os.fsync(fd)
                    finally:
                        os.close(fd)
                    try:
                        os.link(temporary, "store.id", src_dir_fd=directory, dst_dir_fd=directory,
                                follow_symlinks=False)
                    except FileExistsError:
                        pass  # another process made it first: use theirs
                    finally:
                        os.unlink(temporary, dir_fd=directory)
                    continue
                try:
                    text = os.read(fd, 100).decode("ascii", "replace").strip()
                finally:
                    os.close(fd)
                try:
                    return str(uuid.UUID(text))
                except ValueError:
                    raise StoreError(f"{self.root / 'store.id'} does not hold a store id (a UUID); "
                                     "move it away to make a new one") from None
        finally:
            os.close(directory)

    # -- how far each session is pushed to a central store (central/push.py) --

    def push_positions(self, central_id: str) -> dict[str, Position]:
        """{session_id: Position} of every session pushed to `central_id`."""
        return self._index.run(lambda index: {session_id: Position(*values)
                                            for session_id, *values in index.push_positions(central_id)})

    def save_push_position(self, central_id: str, session_id: str, position: Position) -> None:
        """Record how far a session is pushed: after the central commit, never before."""
        self._index.run(lambda index: index.save_push_position(central_id, session_id, tuple(position)))

    def _refuse_if_read_only(self) -> None:
        if self.read_only:
            raise StoreError(f"the store at {self.root} was opened read-only")

    def _require_root(self) -> None:
        self.directory.require_root()


def find_root(explicit: str | os.PathLike | None = None) -> Path:
    """Where the store is: `explicit`, else $TREESHIP_STORE_ROOT, else the nearest
    `.treeship` directory in the current directory or a parent (as Treeship and
    git look), else `./.treeship` (created by the first append)."""
    if explicit:
        return Path(explicit)
    if os.environ.get(ROOT_ENV):
        return Path(os.environ[ROOT_ENV])
    found = nearest_store(os.getcwd())
    return Path(found) if found else Path(".treeship")


def _size(path: Path) -> int:
    try:
        return os.stat(path, follow_symlinks=False).st_size
    except FileNotFoundError:
        return 0

