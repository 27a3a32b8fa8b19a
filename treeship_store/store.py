"""Store: a Treeship root of sessions, each an append-only events.jsonl, plus
one SQLite index derived from them."""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar


from .errors import IndexTooNew, StoreError, StoreNotFound, UnsafePath, ValidationError, WriteError
from .event import EVENT_TYPES, Event, check_session_id, decode_line, now_timestamp, prepare
from .faults import crash_point
from .index import Index
from .index_file import is_corrupt, translate
from .freshness import refresh
from .log import OpenLog, SessionLog, count_lines, iter_lines
from .paths import make_private_directory, open_directory
from .writer import SessionWriter

if TYPE_CHECKING:
    from .filters import EventFilter
    from .results import DamagedLine, ReindexReport, SessionContents, VerifyReport

logger = logging.getLogger("treeship_store")

FSYNC_ENV = "TREESHIP_STORE_FSYNC"
ROOT_ENV = "TREESHIP_STORE_ROOT"
DEFAULT_MAX_LINE_BYTES = 1 << 20
T = TypeVar("T")
OPEN_LOCKS = 32  # sessions whose lock and batch files a Store keeps open: those it wrote to last


class Store:
    """A Treeship root (usually a project's `.treeship/`), created on first write.

    Appends are safe across processes: each holds the session's flock while it
    decides sequence numbers and writes. A Store object itself is meant for one
    thread; give each thread or process its own.
    """

    def __init__(self, root: str | os.PathLike = ".treeship", *, fsync: bool | None = None,
                 lock_timeout: float = 60.0, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
                 allow_unknown: bool = False, read_only: bool = False):
        if not isinstance(root, (str, os.PathLike)) or "\0" in os.fspath(root):
            raise ValidationError(f"store root must be a path without NUL characters, got {root!r}")
        if not isinstance(lock_timeout, (int, float)) or not 0 <= lock_timeout < float("inf"):
            raise ValidationError(f"lock_timeout must be a finite number of seconds >= 0, got {lock_timeout!r}")
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
        self._index = Index(self.root / "index.db", busy_timeout=max(lock_timeout, 5.0))
        self._logs: dict[str, SessionLog] = {}
        self._listing: tuple[int, list[str]] | None = None  # (mtime of sessions/, session ids)

    def _log(self, session_id: str) -> SessionLog:
        """The session's log, kept so that its lock is set up once per Store.
        Only the most recently used OPEN_LOCKS keep their lock file open: a
        process writing to thousands of sessions must not run out of descriptors."""
        log = self._logs.pop(session_id, None)
        if log is None:
            log = SessionLog(self.sessions_dir, session_id)
            if len(self._logs) >= OPEN_LOCKS:
                self._logs.pop(next(iter(self._logs))).close()
        self._logs[session_id] = log  # now the most recently used
        return log

    def close(self) -> None:
        self._index.close()
        for log in self._logs.values():
            log.close()
        self._logs.clear()

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
        with log.locked(self.lock_timeout, fsync=self.fsync) as directory:
            crash_point("append-locked")
            fd = log.open_for_append(directory, fsync=self.fsync)
            try:
                if finished := log.finish_unfinished_batch(fd, directory):
                    logger.warning("session %s: %s", session_id, finished)
                writer = SessionWriter(self, log, fd, directory, *self._line_count(log, fd))
                yield writer
                written = OpenLog(fd, os.dup(directory), log.path) if writer.wrote else None
            except BaseException:
                os.close(fd)
                raise
        if written is None:
            os.close(fd)
            return
        # The lock is free again: indexing our lines need not hold up the next writer.
        try:
            self._indexed(lambda index: index.catch_up(session_id, written))
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
            return self._indexed(lambda index: index.line_count(log.session_id, fd))
        except IndexTooNew:
            raise
        except StoreError as error:
            logger.warning("session %s: index unavailable (%s); counting lines in %s", log.session_id,
                           error, log.path)
            return count_lines(fd)

    def _indexed(self, operation: Callable[[Index], T]) -> T:
        """Run `operation` on the index. If SQLite finds index.db corrupt, or it is
        not ours, delete it (it is derived) and run it once more on a new one.
        Driver and file errors leave here as the store's errors."""
        try:
            try:
                return operation(self._index)
            except sqlite3.DatabaseError as error:
                if not is_corrupt(error):
                    raise
                self._index.discard()
                return operation(self._index)
        except sqlite3.Error as error:
            raise translate(error, self._index.path) from None
        except OSError as error:
            raise StoreError(f"{error.filename or self.root}: {error.strerror or error}") from None

    # -- reading --------------------------------------------------------------

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
        meta's strings) hold every word given; "word*" matches a prefix. A type that neither Treeship's schema
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
            from .readback import read_events  # noqa: PLC0415 - queries only, not the append path
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
        self._require_root()
        sessions = None if chosen.sessions is None else list(chosen.sessions)

        def ask(index: Index) -> T:
            keys = self._refresh(index, sessions)
            if unknown := [t for t in chosen.types or () if t not in EVENT_TYPES]:
                _check_stored_types(unknown, index.stats(None, full=False)["by_type"])
            wanted = None if sessions is None else [keys[s] for s in sessions if s in keys]
            return answer(index, chosen.index_filters(wanted), keys)

        return self._indexed(ask)

    def follow(self, session_id: str, *, after_seq: int | None = None, interval: float = 0.25,
               until: Callable[[], bool] | None = None) -> Iterator[Event]:
        """A session's events as they are appended, by any writer (Treeship's
        own CLI included): those after `after_seq`, or from now on when None.
        Polls every `interval` seconds (each poll checks the session's file, as
        a query naming the session does); runs until the caller stops iterating
        or `until()` says so. `tail -f` and the web view's stream use it."""
        check_session_id(session_id)
        if not (isinstance(interval, (int, float)) and 0 < interval < float("inf")):
            raise ValidationError(f"interval must be a number of seconds > 0, got {interval!r}")
        if after_seq is None:
            newest = next(iter(self.events(session_id, newest_first=True, limit=1)), None)
            after_seq = newest["sequence_no"] if newest else -1
        while True:
            for event in self.events(session_id, after_seq=after_seq):
                after_seq = event["sequence_no"]
                yield event
            if until is not None and until():
                return
            time.sleep(interval)

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
                    contents.events.append(Event(event, line))
        except OSError as error:
            raise StoreError(f"cannot read {log.path}: {error.strerror or error}") from None
        finally:
            log.close()
        return contents

    def session_ids(self) -> list[str]:
        """Sessions present on disk (directories under sessions/ with a valid id).
        The listing is reused while sessions/ keeps its mtime: adding or removing
        a session changes it, appending to one does not."""
        self._require_root()
        try:
            fd = open_directory(self.sessions_dir)
        except FileNotFoundError:
            return []
        try:
            mtime = os.fstat(fd).st_mtime_ns
            if self._listing is not None and self._listing[0] == mtime:
                return self._listing[1]
            with os.scandir(fd) as entries:
                names = sorted(entry.name for entry in entries
                               if entry.is_dir(follow_symlinks=False) and _is_session_id(entry.name))
        except OSError as error:
            raise StoreError(f"cannot read {self.sessions_dir}: {error.strerror or error}") from None
        finally:
            os.close(fd)
        self._listing = (mtime, names)
        return names

    # -- keeping the index current -------------------------------------------

    def _refresh(self, index: Index, sessions: list[str] | None, *, sweep: bool = False) -> dict[str, int]:
        """Catch the index up with other writers' lines, as freshness.refresh says."""
        return refresh(self, index, sessions, sweep=sweep)

    def _catch_up_or_skip(self, index: Index, session_id: str, *, strict: bool, patient: bool = False,
                          progress: Callable[[int], None] | None = None) -> bool:
        """Catch the index up with one session; False if its file is missing or
        cannot be used, which raises instead when `strict`."""
        try:
            log = self._log(session_id).open_for_reading()
            if log is None:
                return False
            try:
                index.catch_up(session_id, log, progress, patient=patient)
            finally:
                log.close()
        except (UnsafePath, WriteError) as error:
            if strict:
                raise
            logger.warning("session %s: left out: %s", session_id, error)
            return False
        return True

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
                self._catch_up_or_skip(index, session_id, strict=session is not None, patient=True, progress=advance)
            if session is None:
                self._refresh(index, None, sweep=True)  # forget sessions whose file is gone

        def rebuild(index: Index) -> None:
            if not full:
                catch_up_all(index)
                return
            # One transaction: readers see the old index until the new one is whole.
            with index.rebuilding(None if session is None else sessions):
                catch_up_all(index)

        self._indexed(rebuild)
        counts = self.counts(session)
        report.events, report.damaged_lines = counts["events"], counts["damaged_lines"]
        report.seconds = time.monotonic() - started
        return report

    def verify(self, session: str | None = None) -> VerifyReport:
        """Check the index against the JSONL, sequence numbers against line
        positions, and report damaged lines. Reads only; changes nothing."""
        from .verify import verify_store  # noqa: PLC0415 - not needed by appends
        return verify_store(self, session)

    def _refuse_if_read_only(self) -> None:
        if self.read_only:
            raise StoreError(f"the store at {self.root} was opened read-only")

    def _require_root(self) -> None:
        try:
            if stat.S_ISDIR(os.stat(self.root).st_mode):
                return
        except FileNotFoundError:
            pass
        except OSError as error:
            raise StoreError(f"cannot use the store root {self.root}: {error.strerror or error}") from None
        raise StoreNotFound(f"no treeship store at {self.root}")


def find_root(explicit: str | os.PathLike | None = None) -> Path:
    """Where the store is: `explicit`, else $TREESHIP_STORE_ROOT, else the nearest
    `.treeship` directory in the current directory or a parent (as Treeship and
    git look), else `./.treeship` (created by the first append)."""
    if explicit:
        return Path(explicit)
    if os.environ.get(ROOT_ENV):
        return Path(os.environ[ROOT_ENV])
    here = Path.cwd()
    for directory in (here, *here.parents):
        if (directory / ".treeship").is_dir():
            return directory / ".treeship"
    return Path(".treeship")


def _is_session_id(name: str) -> bool:
    try:
        check_session_id(name)
    except ValidationError:
        return False
    return True


def _size(path: Path) -> int:
    try:
        return os.stat(path, follow_symlinks=False).st_size
    except FileNotFoundError:
        return 0


def _check_stored_types(unknown: list[str], stored: dict[str, int]) -> None:
    """Types not in the schema must be in the store (a newer Treeship's): else
    they are typos, and an empty answer would hide that."""
    for event_type in unknown:
        if event_type not in stored:
            import difflib  # noqa: PLC0415 - only for this error
            close = difflib.get_close_matches(event_type, [*EVENT_TYPES, *stored], n=1)
            raise ValidationError(f"unknown event type {event_type!r}: not in Treeship's schema or this store"
                                  + (f" (did you mean {close[0]}?)" if close else ""))
