"""Sessions written without indexing them, for the next reader to catch up.

A hook appends to the record and leaves the index alone (a process per tool
call cannot pay SQLite's import and a transaction). The freshness rule
(freshness.py) finds such lines on its own, but a store-wide query looks
only at the sessions the index saw change in the last hour: a session idle
for longer and then written by hooks alone would wait for the ten-minute
sweep. So a hook names its session in `.treeship/unindexed`, one line
appended at most every HINT_SECONDS per session (its capture cache says when
it last did), and every store-wide query checks the sessions named since it
last read the file. The file is a hint, never the record: one lost (a crash,
a rotation race) costs at most the sweep's delay, never a line.
"""

from __future__ import annotations

import os

from .paths import open_regular

FILE = "unindexed"
HINT_SECONDS = 1800  # under the index's hour: a session kept written stays "hot"
ROTATE_BYTES = 1 << 20  # read whole by a reader, the file starts over


def note(root: str | os.PathLike, session_id: str) -> None:
    """Name `session_id` for the next reader (one O_APPEND write)."""
    fd = open_regular(os.path.join(root, FILE), os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(fd, session_id.encode() + b"\n")
    finally:
        os.close(fd)


def read(root: str | os.PathLike, position: tuple[int, int]) -> tuple[list[str], tuple[int, int]]:
    """The session ids named after `position` (inode, offset), and the new
    position. A file that grew past ROTATE_BYTES and was read whole is renamed
    away: hooks start a new one."""
    path = os.path.join(root, FILE)
    try:
        fd = open_regular(path, os.O_RDONLY)
    except FileNotFoundError:
        return [], (0, 0)
    try:
        info = os.fstat(fd)
        offset = position[1] if position[0] == info.st_ino and position[1] <= info.st_size else 0
        data = os.pread(fd, min(info.st_size - offset, ROTATE_BYTES), offset)  # at most 1 MiB a query
    finally:
        os.close(fd)
    end = data.rfind(b"\n") + 1  # a line still being written is read next time
    if end == 0 and len(data) == ROTATE_BYTES:
        end = len(data)  # a whole read with no line in it is no hint: pass it over, or no query gets past it
    names = sorted({name for name in data[:end].decode("ascii", "replace").split("\n") if name})
    offset += end
    if offset >= ROTATE_BYTES and offset == info.st_size:
        try:
            os.replace(path, path + ".old")  # a hook writing to it now loses one hint: the sweep covers it
        except OSError:
            pass
        return names, (0, 0)
    return names, (info.st_ino, offset)
