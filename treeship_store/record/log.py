"""One session's events.jsonl: the authoritative, append-only record.

Writers hold an exclusive flock(2) on the sidecar events.jsonl.lock, the same
lock Treeship's own writers take, while they decide the next sequence_no and
write. Nothing here ever rewrites or deletes the JSONL file or the lock file.
The one truncation is of a batch's own bytes that were never part of the
record: see SessionLog.write.
"""

from __future__ import annotations

import errno
import fcntl
import os
import struct
import time

from ..errors import LockTimeout, LockUnsupported, WriteError
from ..event import check_session_id
from ..faults import FAULT, crash_point, error_point
from .lines import complete_lines
from .paths import is_same_file, open_directory, open_regular, tighten_mode

# Waiters poll the flock, backing off up to this interval: short, so that a
# busy session hands over quickly.
LOCK_POLL_SECONDS = 0.002


class SessionLog:
    """events.jsonl and its sidecars for one session under `sessions_dir`.

    Every file is opened relative to a descriptor of its directory, itself
    opened with O_NOFOLLOW from the one above: a symlink planted anywhere under
    the root (sessions/, the session directory, a file) is refused, never
    followed, whatever is swapped between two calls."""

    def __init__(self, sessions_dir: str | os.PathLike, session_id: str):
        self.session_id = check_session_id(session_id)
        self.sessions_dir = sessions_dir
        self.path = os.path.join(sessions_dir, session_id, "events.jsonl")  # for messages
        # Kept open between appends: taking the lock is then one flock call.
        # Checked against the path each time the lock is taken (see locked()).
        self._lock_fd: int | None = None
        self._batch_fd: int | None = None

    def close(self) -> None:
        for fd in (self._lock_fd, self._batch_fd):
            if fd is not None:
                os.close(fd)
        self._lock_fd = self._batch_fd = None

    def open_directory(self, *, create: bool = False, fsync: bool = False) -> int | None:
        """A descriptor of the session directory, or None if it (or sessions/)
        does not exist and `create` is false."""
        try:
            sessions = open_directory(self.sessions_dir, create=create, fsync_parent=fsync)
        except FileNotFoundError:
            return None
        try:
            return open_directory(self.session_id, dir_fd=sessions, create=create, fsync_parent=fsync,
                                  parent=self.sessions_dir)
        except FileNotFoundError:
            return None
        finally:
            os.close(sessions)

    def locked(self, timeout: float, *, fsync: bool = False) -> Locked:
        """Hold the session's exclusive flock (a context manager), waiting up to
        `timeout` seconds; gives a descriptor of the session directory, checked
        while locked."""
        return Locked(self, timeout, fsync)

    def lock(self, timeout: float, fsync: bool) -> int:
        """Take the session's exclusive flock; a descriptor of the session
        directory, checked while locked. Released by unlock().

        flock(2) itself, the native lock Treeship's writers take on this file
        (filelock's lock_descriptor is this call, and costs a hook 10 ms to
        import). It never falls back to another kind of lock: a lock they
        could not see would let both write at once."""
        deadline = time.monotonic() + timeout
        delay = LOCK_POLL_SECONDS / 8
        while True:
            directory = self.open_directory(create=True, fsync=fsync)
            try:
                if self._lock_fd is None:
                    self._lock_fd = open_regular("events.jsonl.lock", os.O_RDWR | os.O_CREAT, dir_fd=directory,
                                                 shown=self.path + ".lock")
                fd = self._lock_fd
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    acquired = True
                except BlockingIOError:
                    acquired = False
                except OSError as error:
                    if error.errno == errno.ENOSYS:
                        raise LockUnsupported(f"{self.path}.lock: this filesystem does not support flock; refusing "
                                              "to write without the lock Treeship's writers use") from None
                    raise WriteError(f"cannot lock {self.path}.lock: {error.strerror or error}; "
                                     "nothing was written") from None
                if acquired:
                    info = os.fstat(fd)
                    if is_same_file(info, "events.jsonl.lock", directory) and self._at_its_path(directory):
                        tighten_mode(fd, info)
                        break
                    # The lock file we hold is not the one at the path now: it
                    # was unlinked, or the session directory was replaced (a
                    # restore's `cp -a` and `mv`) or moved away (a prune's
                    # rename, between our open of it and our lock). Writers
                    # that open the path lock another file, so this flock
                    # excludes nobody. Start over on what is there now.
                    fcntl.flock(fd, fcntl.LOCK_UN)
                    self.close()
                    os.close(directory)
                    continue
            except BaseException:
                os.close(directory)
                raise
            os.close(directory)
            if time.monotonic() >= deadline:
                raise LockTimeout(f"session {self.session_id}: lock {self.path}.lock still held by another "
                                  f"process after {timeout:g}s; nothing was written")
            time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(delay * 2, LOCK_POLL_SECONDS)
        return directory

    def _at_its_path(self, directory: int) -> bool:
        """Whether the directory we opened is still sessions/<id>."""
        try:
            there = os.stat(os.path.join(self.sessions_dir, self.session_id), follow_symlinks=False)
        except FileNotFoundError:
            return False
        here = os.fstat(directory)
        return (there.st_dev, there.st_ino) == (here.st_dev, here.st_ino)

    def unlock(self, directory: int) -> None:
        fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
        os.close(directory)

    def open_for_append(self, directory: int, *, fsync: bool) -> int:
        """Open events.jsonl for appending (created 0600). The caller holds the
        lock and passes the session directory `locked` yielded."""
        self._batch_file(directory)  # created first: the directory fsync below covers its entry too
        try:
            fd = open_regular("events.jsonl", os.O_RDWR | os.O_APPEND, dir_fd=directory, shown=self.path)
            created = False
        except FileNotFoundError:
            # Only a new file needs its directory entry fsynced; O_EXCL tells
            # us whether this call created it.
            fd = open_regular("events.jsonl", os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_EXCL, dir_fd=directory,
                              shown=self.path)
            created = True
        try:
            tighten_mode(fd)
            if created and fsync:
                os.fsync(directory)  # the new file's name must survive a crash too, not only its data
        except BaseException:
            os.close(fd)
            raise
        return fd

    def open_for_reading(self) -> OpenLog | None:
        """events.jsonl opened for reading, or None if there is no file yet."""
        directory = self.open_directory()
        if directory is None:
            return None
        try:
            fd = open_regular("events.jsonl", os.O_RDONLY, dir_fd=directory, shown=self.path)
        except FileNotFoundError:
            os.close(directory)
            return None
        except BaseException:
            os.close(directory)
            raise
        return OpenLog(fd, directory, self.path)

    def open_events_file(self) -> int | None:
        """A read-only descriptor of events.jsonl, or None if there is none."""
        log = self.open_for_reading()
        if log is None:
            return None
        os.close(log.directory)
        return log.fd

    # -- batches: all or nothing ----------------------------------------------

    def write(self, fd: int, directory: int, data: bytes, *, fsync: bool) -> None:
        """Append `data` (whole lines) as one batch, all or nothing. The caller
        holds the lock and has called finish_unfinished_batch.

        The batch's byte range is recorded in events.jsonl.batch before the
        first byte is written and cleared after the last. Until it is cleared,
        readers index nothing from its start (OpenLog.committed), and a writer
        that fails removes its own bytes before it reports the failure. A writer
        killed mid-batch leaves the record behind, and the next appender removes
        what it wrote (finish_unfinished_batch). These bytes were never
        acknowledged nor visible: the record is otherwise never rewritten."""
        start = os.fstat(fd).st_size
        batch = self._batch_file(directory)
        try:
            os.pwrite(batch, b"%d %d\n" % (start, start + len(data)), 0)
            if fsync:
                os.fsync(batch)  # the intent must be on disk before any byte it covers
        except OSError as error:
            raise self._write_error(error) from None
        view = memoryview(data)
        try:
            if FAULT.startswith("write-"):  # test-only: a write that stops half way
                view = view[os.write(fd, view[:len(view) // 2]):]
                crash_point("write-torn")
                error_point(FAULT)
            while view:
                view = view[os.write(fd, view):]
            if fsync:
                os.fsync(fd)
        except OSError as error:
            try:
                os.ftruncate(fd, start)  # our own bytes, never acknowledged nor read
                os.ftruncate(batch, 0)
            except OSError:
                pass  # the record stays; the next appender removes the bytes
            raise self._write_error(error) from None
        crash_point("batch-written")
        try:
            os.ftruncate(batch, 0)
        except OSError:
            # Every byte is written: the batch is in the record. A record left
            # set is kept by the next appender (the file holds its whole range).
            pass

    def finish_unfinished_batch(self, fd: int, directory: int) -> str | None:
        """Resolve a batch whose writer died (the caller holds the lock): its
        bytes are removed if the file ends before the batch does, and kept if
        every byte was written. Returns what was done, for the log, or None."""
        batch = self._batch_file(directory)
        try:
            pending = read_batch(batch)
            if pending is None:
                return None
            start, end = pending
            size = os.fstat(fd).st_size
            if pending == UNREADABLE_BATCH:
                done = "cleared a batch record whose writer died while writing it, before any event"
            elif start <= size < end:
                os.ftruncate(fd, start)  # before the record is cleared: readers must never see these bytes
                done = f"removed {size - start} bytes of a batch whose writer died (bytes {start}..{end})"
            else:
                done = f"kept a batch whose writer died after writing it whole (bytes {start}..{end})"
            os.ftruncate(batch, 0)
        except OSError as error:
            raise self._write_error(error) from None
        return done

    def update_treeship_count(self, directory: int, lines: int, size: int) -> None:
        """Keep Treeship 0.25+'s events.jsonl.count current, as Treeship writes
        it: the line count and the file's size, two little-endian u64, in a
        temporary file that is synced and renamed over it. Treeship recounts the
        whole file whenever the size it finds there is not the file's, so a
        stale one would cost its next append O(N). Never created: a store
        without it is one Treeship 0.25+ has not written to. Under the lock."""
        try:
            os.stat(COUNT_FILE, dir_fd=directory, follow_symlinks=False)
        except FileNotFoundError:
            return
        temporary = COUNT_FILE + ".treeship-store.tmp"
        fd = open_regular(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, dir_fd=directory,
                          shown=_beside(self.path, temporary))
        try:
            os.write(fd, struct.pack("<QQ", lines, size))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(temporary, COUNT_FILE, src_dir_fd=directory, dst_dir_fd=directory)

    def _batch_file(self, directory: int) -> int:
        # Opened once with the lock file; locked() drops both when the session
        # directory changes, so it always lies beside the lock we hold.
        if self._batch_fd is None:
            self._batch_fd = open_regular(BATCH_FILE, os.O_RDWR | os.O_CREAT, dir_fd=directory,
                                          shown=_beside(self.path, BATCH_FILE))
            tighten_mode(self._batch_fd)
        return self._batch_fd

    def _write_error(self, error: OSError) -> WriteError:
        return WriteError(f"session {self.session_id}: could not write {self.path}: "
                          f"{error.strerror or error}; the event was not stored")


class Locked:
    """A session's lock held for a `with` block (SessionLog.locked)."""

    def __init__(self, log: SessionLog, timeout: float, fsync: bool):
        self.log, self.timeout, self.fsync = log, timeout, fsync

    def __enter__(self) -> int:
        self.directory = self.log.lock(self.timeout, self.fsync)
        return self.directory

    def __exit__(self, *exc_info) -> None:
        self.log.unlock(self.directory)


class OpenLog:
    """A session's events.jsonl open for reading, with its directory."""
    __slots__ = ("fd", "directory", "path")

    def __init__(self, fd: int, directory: int, path: str):
        self.fd, self.directory, self.path = fd, directory, path  # path: for messages

    def committed(self, start: int, file_size: int | None = None) -> bytes:
        """The complete lines from `start` (see complete_lines) that belong to
        the record: lines of a batch still being written, or left unfinished by
        a writer that died, are not yet part of it.

        The batch record is read after the lines: a batch whose record we find
        cleared was written whole before we looked, and one whose record we
        find set is cut, whether or not its bytes were in what we read."""
        data = complete_lines(self.fd, start, file_size=file_size)
        if data:
            pending = self.pending_batch()
            if pending == UNREADABLE_BATCH:
                return b""  # a record being written: look again next time
            if pending is not None and start + len(data) < pending[1]:
                data = data[:max(0, pending[0] - start)]
                data = data[:data.rfind(b"\n") + 1]
        return data

    def lines(self, start: int = 0, line_no: int = 0):
        """(line_no, offset, line without newline) for every line of the record from `start`."""
        offset = start
        while data := self.committed(offset):
            for line in data.split(b"\n")[:-1]:
                yield line_no, offset, line
                offset += len(line) + 1
                line_no += 1

    def pending_batch(self) -> tuple[int, int] | None:
        """The batch recorded in events.jsonl.batch, or None. A record that is
        not a regular file (a planted symlink) is refused: UnsafePath."""
        try:
            if os.stat(BATCH_FILE, dir_fd=self.directory, follow_symlinks=False).st_size == 0:
                return None  # the usual case: no batch recorded, one syscall
            batch = open_regular(BATCH_FILE, os.O_RDONLY, dir_fd=self.directory,
                                 shown=_beside(self.path, BATCH_FILE))
        except FileNotFoundError:
            return None
        try:
            return read_batch(batch)
        finally:
            os.close(batch)

    def close(self) -> None:
        os.close(self.fd)
        os.close(self.directory)


def _beside(path: str, name: str) -> str:
    return os.path.join(os.path.dirname(path), name)


BATCH_FILE = "events.jsonl.batch"
COUNT_FILE = "events.jsonl.count"  # Treeship's own line counter (docs/format.md)
UNREADABLE_BATCH = (-1, -1)


def read_batch(fd: int) -> tuple[int, int] | None:
    """(start, end) of the batch recorded in an events.jsonl.batch, None if none."""
    record = os.pread(fd, 64, 0)
    if not record:
        return None
    try:
        start, end = map(int, record.split(b"\n", 1)[0].split())
    except ValueError:
        return UNREADABLE_BATCH
    if not record.endswith(b"\n"):
        return UNREADABLE_BATCH
    return start, end
