"""The store's settings files (prices.toml, retention.toml) and the other
files a command reads whole (a prune's archives): read only if they are
regular files, since a FIFO or a device in their place would hang the
command, and every failure one StoreError."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from .errors import StoreError


def open_regular_file(path: str | Path):
    """A regular file opened for reading (a FIFO or device would hang or never
    end: refused, as is a symlink's target that is not a regular file)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(errno.EINVAL, "not a regular file", str(path))
    return open(fd, "rb")


def read_toml(path: Path, what: str) -> dict | None:
    """A TOML file of the store's settings; None if there is none. One
    StoreError for anything else: not a regular file (a FIFO would hang the
    reader), not UTF-8, not TOML."""
    import tomllib  # noqa: PLC0415
    try:
        with open_regular_file(path) as file:
            return tomllib.loads(file.read(1 << 20).decode("utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise StoreError(f"{path}: cannot read {what}: {getattr(error, 'strerror', None) or error}") from None
