"""One session's events.jsonl: the authoritative, append-only record.

Writers hold an exclusive flock(2) on the sidecar events.jsonl.lock, the same
lock Treeship's own writers take, while they decide the next sequence_no and
write. Nothing here ever truncates, rewrites or deletes the JSONL file or the
lock file.
"""

from __future__ import annotations

import errno
import os
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import lock_descriptor, unlock_descriptor

from .errors import LockTimeout, LockUnsupported, UnsafePath, WriteError
from .event import check_session_id
from .faults import FAULT, crash_point, error_point

# How much of the file one read (and one index transaction) takes at most; a
# single longer line is still read whole.
READ_CHUNK = 4 << 20
# Waiters poll the flock, backing off up to this interval: short, so that a
# busy session hands over quickly.
LOCK_POLL_SECONDS = 0.002


class SessionLog:
    """events.jsonl and events.jsonl.lock of one session under `sessions_dir`."""

    def __init__(self, sessions_dir: Path, session_id: str):
        self.session_id = check_session_id(session_id)
        self.directory = sessions_dir / session_id
        self.path = self.directory / "events.jsonl"
        self.lock_path = self.directory / "events.jsonl.lock"
        self._lock_fd: int | None = None  # kept open: taking the lock is then one flock call

    def close(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def _open_lock_file(self) -> int:
        """events.jsonl.lock, created 0600 (looser modes we own are tightened),
        never through a symlink, never truncated and never deleted: other
        writers may hold it."""
        if self._lock_fd is None:
            make_private_directory(self.directory.parent)
            make_private_directory(self.directory)
            self._lock_fd = open_regular(self.lock_path, os.O_RDWR | os.O_CREAT)
        return self._lock_fd

    @contextmanager
    def locked(self, timeout: float) -> Iterator[None]:
        """Hold the session's exclusive flock, waiting up to `timeout` seconds.

        filelock's lock_descriptor takes the same native flock Treeship's writers
        take on this file. It never falls back to another kind of lock: a lock
        they could not see would let both write at once."""
        deadline = time.monotonic() + timeout
        delay = LOCK_POLL_SECONDS / 8
        while True:
            fd = self._open_lock_file()
            try:
                acquired = lock_descriptor(fd, blocking=False)
            except OSError as error:
                if error.errno == errno.ENOSYS:
                    raise LockUnsupported(f"{self.lock_path}: this filesystem does not support flock; "
                                          "refusing to write without the lock Treeship's writers use") from None
                raise
            if acquired:
                info = os.fstat(fd)
                if info.st_nlink:
                    tighten_mode(fd, info)
                    break
                # Someone unlinked the lock file while we waited: this flock
                # guards a name nobody else can open. Start over on the new file.
                unlock_descriptor(fd)
                self.close()
                continue
            if time.monotonic() >= deadline:
                raise LockTimeout(f"session {self.session_id}: lock {self.lock_path} still held by another "
                                  f"process after {timeout:g}s; nothing was written")
            time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(delay * 2, LOCK_POLL_SECONDS)
        try:
            yield
        finally:
            unlock_descriptor(fd)

    def open_for_append(self, *, fsync: bool) -> int:
        """Open events.jsonl for appending (created 0600), refusing a symlink or a
        non-regular file in its place. The caller holds the lock."""
        try:
            fd = open_regular(self.path, os.O_RDWR | os.O_APPEND)
            created = False
        except FileNotFoundError:
            # Only a new file needs its directory entry fsynced; O_EXCL tells
            # us whether this call created it.
            fd = open_regular(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_EXCL)
            created = True
        try:
            tighten_mode(fd)
            if created and fsync:
                # The new file's name must survive a crash too, not only its data.
                fsync_directory(self.directory)
        except BaseException:
            os.close(fd)
            raise
        return fd

    def open_for_reading(self) -> int | None:
        """A read-only descriptor on events.jsonl, or None if there is no file yet."""
        try:
            return open_regular(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return None

    def write(self, fd: int, data: bytes, *, fsync: bool) -> None:
        """Write `data` (whole lines) at the end of the file. On failure raise
        WriteError: a partial line left behind is sealed by the next appender."""
        view = memoryview(data)
        try:
            if FAULT.startswith("write-"):  # test-only: a write that stops half way
                view = view[os.write(fd, view[:len(view) // 2]):]
                crash_point("write-torn")
                error_point(FAULT)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            if fsync:
                os.fsync(fd)
        except OSError as error:
            raise WriteError(f"session {self.session_id}: could not write {self.path}: "
                             f"{error.strerror or error}; the event was not stored") from None


def make_private_directory(path: Path) -> None:
    """Create `path` owner-only (0700) if missing; refuse a symlink or a file in its place."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError as error:
        raise WriteError(f"cannot create {path}: {error.strerror or error}") from None
    mode = os.lstat(path).st_mode
    if not stat.S_ISDIR(mode):
        kind = "a symlink" if stat.S_ISLNK(mode) else "not a directory"
        raise UnsafePath(f"{path} is {kind}; refusing to use it")


def tighten_mode(fd: int, info: os.stat_result | None = None) -> None:
    """Make a file we own owner-only (0600). A file another account owns
    (Treeship run as another user) is left as it is: we could not change it."""
    info = info or os.fstat(fd)
    if info.st_uid == os.geteuid() and info.st_mode & 0o077:
        os.fchmod(fd, 0o600)


def fsync_directory(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def open_regular(path: Path, flags: int) -> int:
    """Open one of the store's files (created 0600 with O_CREAT), never through a
    symlink (O_NOFOLLOW) and only if it is a regular file. FileNotFoundError and
    FileExistsError pass through: the caller knows what they mean."""
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except (FileNotFoundError, FileExistsError):
        raise
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise UnsafePath(f"{path} is a symlink; refusing to follow it") from None
        raise WriteError(f"cannot open {path}: {error.strerror or error}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UnsafePath(f"{path} is not a regular file; refusing to use it")
    return fd


def complete_lines(fd: int, start: int, limit: int = READ_CHUNK, file_size: int | None = None) -> bytes:
    """The bytes from `start` to the end of the last complete ('\\n'-ended) line
    within `limit` bytes, reading further if a single line is longer; b"" if no
    complete line follows `start`. A line still being written (no newline yet)
    is never returned, so a reader never mistakes it for damage. `file_size`,
    when known, keeps a small read from allocating a whole chunk."""
    size = limit if file_size is None else max(1, min(limit, file_size - start))
    while True:
        data = os.pread(fd, size, start)
        cut = data.rfind(b"\n")
        if cut >= 0:
            return data if cut == len(data) - 1 else data[:cut + 1]
        if len(data) < size:
            return b""
        size *= 2


def iter_lines(fd: int, start: int = 0, line_no: int = 0) -> Iterator[tuple[int, int, bytes]]:
    """(line_no, offset, line without newline) for every complete line from `start`."""
    offset = start
    while data := complete_lines(fd, offset):
        for line in data.split(b"\n")[:-1]:
            yield line_no, offset, line
            offset += len(line) + 1
            line_no += 1


def count_lines(fd: int) -> tuple[int, int]:
    """(end of the last complete line, number of complete lines), by reading the
    whole file. Only for when the index cannot say; O(file size)."""
    end = lines = 0
    while data := complete_lines(fd, end):
        end += len(data)
        lines += data.count(b"\n")
    return end, lines
