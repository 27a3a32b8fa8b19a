"""A store root and its sessions/: which sessions exist, each session's log.

The Store composes one; freshness, verify, push and export get it instead of
reaching into the Store.
"""

from __future__ import annotations

import os
import stat

from ..errors import SessionIdError, StoreError, StoreNotFound
from ..event import check_session_id
from .log import SessionLog
from .paths import open_directory

OPEN_LOCKS = 32  # sessions whose lock and batch files are kept open: those written to last


class SessionDirectory:
    def __init__(self, root):
        self.root = root  # a pathlib.Path (the Store's); plain os paths work everywhere here
        self.sessions_dir = root / "sessions"
        self._logs: dict[str, SessionLog] = {}
        self._listing: tuple[int, list[str]] | None = None  # (mtime of sessions/, session ids)

    def log(self, session_id: str) -> SessionLog:
        """The session's log, kept so that its lock is set up once. Only the
        most recently used OPEN_LOCKS keep their lock file open: a process
        writing to thousands of sessions must not run out of descriptors."""
        log = self._logs.pop(session_id, None)
        if log is None:
            log = SessionLog(self.sessions_dir, session_id)
            if len(self._logs) >= OPEN_LOCKS:
                self._logs.pop(next(iter(self._logs))).close()
        self._logs[session_id] = log  # now the most recently used
        return log

    def session_ids(self) -> list[str]:
        """Sessions present on disk (directories under sessions/ with a valid id).
        The listing is reused while sessions/ keeps its mtime: adding or removing
        a session changes it, appending to one does not."""
        self.require_root()
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

    def require_root(self) -> None:
        """StoreNotFound if the root is not there: reads never create it."""
        try:
            if stat.S_ISDIR(os.stat(self.root).st_mode):
                return
        except FileNotFoundError:
            pass
        except OSError as error:
            raise StoreError(f"cannot use the store root {self.root}: {error.strerror or error}") from None
        raise StoreNotFound(f"no treeship store at {self.root}")

    def close(self) -> None:
        for log in self._logs.values():
            log.close()
        self._logs.clear()


def _is_session_id(name: str) -> bool:
    try:
        check_session_id(name)
    except SessionIdError:
        return False
    return True
