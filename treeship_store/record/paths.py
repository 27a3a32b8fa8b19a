"""Opening the store's files and directories without following symlinks.

Every path under the store root is opened relative to a descriptor of its
directory, each opened with O_NOFOLLOW (and O_DIRECTORY), so that a symlink
planted anywhere, or swapped in between two calls, is refused and never
followed. Files are created owner-only and looser modes we own are tightened.
"""

from __future__ import annotations

import errno
import os
import stat
from ..errors import StoreError, UnsafePath, WriteError

TYPE_CHECKING = False  # typing and pathlib cost a hook's cold start 4 and 15 ms: paths here are os paths
if TYPE_CHECKING:
    from pathlib import Path


def open_directory(name: str | os.PathLike, *, dir_fd: int | None = None, create: bool = False,
                   fsync_parent: bool = False, parent: Path | None = None) -> int:
    """A descriptor of directory `name` (relative to `dir_fd`, which is `parent`
    in messages), never through a symlink; created owner-only (0700) if missing
    and `create`, with its new entry fsynced in the parent if `fsync_parent`."""
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        return os.open(name, flags, dir_fd=dir_fd)
    except FileNotFoundError:
        if not create:
            raise
    except OSError as error:
        raise _unsafe_or(error, _shown(name, parent), "directory") from None
    try:
        os.mkdir(name, 0o700, dir_fd=dir_fd)
        created = True
    except FileExistsError:
        created = False  # another writer made it first
    except OSError as error:
        raise WriteError(f"cannot create {_shown(name, parent)}: {error.strerror or error}") from None
    try:
        fd = os.open(name, flags, dir_fd=dir_fd)
    except OSError as error:
        raise _unsafe_or(error, _shown(name, parent), "directory") from None
    if created and fsync_parent:
        if dir_fd is None:
            fsync_directory(os.path.dirname(os.path.abspath(name)))
        else:
            os.fsync(dir_fd)
    return fd


def _shown(name: str | os.PathLike, parent: Path | None) -> str | os.PathLike:
    # Built only for a message: appends open two directories each.
    return name if parent is None else os.path.join(parent, name)


def nearest_store(directory: str | os.PathLike) -> str | None:
    """The nearest `.treeship` directory in `directory` or one of its parents
    (as Treeship and git look), or None."""
    directory = os.path.abspath(directory)
    while True:
        if os.path.isdir(os.path.join(directory, ".treeship")):
            return os.path.join(directory, ".treeship")
        parent = os.path.dirname(directory)
        if parent == directory:
            return None
        directory = parent


def make_private_directory(path: str | os.PathLike) -> None:
    """Create `path` and its missing parents owner-only (0700), whatever the
    umask. `path` itself (the store root) may be a symlink: it is the one path
    the user chose; everything under it is opened without following any."""
    if os.path.isdir(path):
        return
    missing = []
    directory = os.path.abspath(path)
    while not os.path.lexists(directory):
        missing.append(directory)
        if os.path.dirname(directory) == directory:
            break
        directory = os.path.dirname(directory)
    for directory in reversed(missing):
        try:
            os.mkdir(directory, 0o700)
        except FileExistsError:
            pass
        except OSError as error:
            raise WriteError(f"cannot create {directory}: {error.strerror or error}") from None
    if not os.path.isdir(path):
        raise WriteError(f"cannot use {path} as the store root: not a directory")


def tighten_mode(fd: int, info: os.stat_result | None = None) -> None:
    """Make a file we own owner-only (0600). A file another account owns
    (Treeship run as another user) is left as it is: we could not change it."""
    info = info or os.fstat(fd)
    if info.st_uid == os.geteuid() and info.st_mode & 0o077:
        os.fchmod(fd, 0o600)


def fsync_directory(path: str | os.PathLike) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def open_regular(path: str | os.PathLike, flags: int, *, dir_fd: int | None = None,
                 shown: str | os.PathLike | None = None) -> int:
    """Open one of the store's files (created 0600 with O_CREAT), never through a
    symlink (O_NOFOLLOW) and only if it is a regular file. O_NONBLOCK keeps a
    FIFO planted in its place from blocking the open; it changes nothing for a
    regular file. FileNotFoundError and FileExistsError pass through: the
    caller knows what they mean."""
    shown = shown or path
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o600, dir_fd=dir_fd)
    except (FileNotFoundError, FileExistsError):
        raise
    except OSError as error:
        raise _unsafe_or(error, shown, "file") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UnsafePath(f"{shown} is not a regular file; refusing to use it")
    return fd


def _unsafe_or(error: OSError, shown: str | os.PathLike, kind: str) -> StoreError:
    if error.errno == errno.ELOOP:
        return UnsafePath(f"{shown} is a symlink; refusing to follow it")
    if error.errno == errno.ENOTDIR:  # what O_DIRECTORY | O_NOFOLLOW says of a symlink, too
        return UnsafePath(f"{shown} is a symlink or not a {kind}; refusing to use it")
    if error.errno in (errno.EISDIR, errno.ENXIO):
        return UnsafePath(f"{shown} is not a regular file; refusing to use it")
    return WriteError(f"cannot open {shown}: {error.strerror or error}")


def is_same_file(info: os.stat_result, name: str, directory: int) -> bool:
    """Whether `name` in `directory` is the file `info` describes, and still linked."""
    try:
        there = os.stat(name, dir_fd=directory, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return info.st_nlink > 0 and (there.st_dev, there.st_ino) == (info.st_dev, info.st_ino)
