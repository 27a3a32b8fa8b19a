"""How far each session has been pushed to a central store: kept in the
local index (migration m006), advanced only after the central commit. An
OTLP export keeps the same positions in a file of its own (otel/export.py)."""

from __future__ import annotations

import os
from typing import NamedTuple

from .index import Index


class Position(NamedTuple):
    pushed_bytes: int  # of the file, sent and accepted
    pushed_lines: int
    file_dev: int | None
    file_ino: int | None


START = Position(0, 0, None, None)


def load(index: Index, central_id: str) -> dict[str, Position]:
    rows = index.conn.execute("SELECT session_id, pushed_bytes, pushed_lines, file_dev, file_ino FROM push_positions "
                              "WHERE central_id = ?", (central_id,))
    return {row[0]: Position(*row[1:]) for row in rows}


def save(index: Index, central_id: str, session_id: str, position: Position) -> None:
    with index.writing() as conn:
        conn.execute("INSERT OR REPLACE INTO push_positions VALUES (?, ?, ?, ?, ?, ?)",
                     (central_id, session_id, *position))


def pending(path: str, position: Position) -> int:
    """About how many bytes of the file are not shipped yet (pushed, or
    exported): 0 only if it is the file shipped and no longer (1 when unsure:
    the open will tell)."""
    try:
        info = os.stat(path, follow_symlinks=False)
    except OSError:
        return 1  # gone, unreadable, or not a session: the open says which
    if (info.st_dev, info.st_ino) != (position.file_dev, position.file_ino):
        return max(info.st_size, 1)  # another file: all of it
    return info.st_size - position.pushed_bytes if info.st_size >= position.pushed_bytes else 1
