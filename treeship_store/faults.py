"""Test-only fault points. TREESHIP_STORE_FAULT=<name> makes a process die
(SIGKILL) or fail at one named place, so crash and I/O-error tests are exact
instead of relying on timing. Each point costs one string comparison.

Inert unless the interpreter was started with `-X treeship_store_faults`, as
the tests start their processes: a variable left in someone's environment
must never make a real append write half a line."""

import errno
import os
import sys

FAULT = os.environ.get("TREESHIP_STORE_FAULT", "") if "treeship_store_faults" in sys._xoptions else ""

_ERRORS = {
    "write-enospc": lambda: OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)),
    "archive-enospc": lambda: OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)),
    "write-eio": lambda: OSError(errno.EIO, os.strerror(errno.EIO)),
    "index-error": lambda: __import__("sqlite3").OperationalError("disk I/O error"),
}


def crash_point(name: str) -> None:
    """Die here, as a SIGKILL or power cut would stop the process."""
    if FAULT == name:
        import signal  # noqa: PLC0415 - only when a test asks for the fault
        os.kill(os.getpid(), signal.SIGKILL)


def error_point(name: str) -> None:
    """Fail here with the error the named fault stands for."""
    if FAULT == name:
        raise _ERRORS[name]()
