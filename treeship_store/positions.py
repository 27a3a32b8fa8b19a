"""How far each session has been pushed to a central store: kept in the
local index (migration m006), advanced only after the central commit."""

from __future__ import annotations

from typing import NamedTuple

from .index import Index


class Position(NamedTuple):
    pushed_bytes: int
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
