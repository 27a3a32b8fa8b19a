"""How far a sink has shipped each session: bytes and lines of its file
accepted by the other side, and which file it was. A push to a central store
keeps them in the local index (migration m006's push_positions), advanced
only after the central commit; an OTLP export keeps them in a file of its own
(otel/export.py). Both ask pending() whether a session has anything new."""

from __future__ import annotations

import os
from typing import NamedTuple


class Position(NamedTuple):
    shipped_bytes: int  # of the file, sent and accepted
    shipped_lines: int
    file_dev: int | None
    file_ino: int | None


START = Position(0, 0, None, None)


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
    return info.st_size - position.shipped_bytes if info.st_size >= position.shipped_bytes else 1


OTLP_POSITIONS = "otlp-positions.json"  # an OTLP export's, per collector (otel/export.py)


def drop_export_positions(root, session_ids: set[str]) -> None:
    """Forget pruned sessions in the export's positions file (replaced whole;
    an export running meanwhile may write them back: positions of sessions
    that no longer exist are never read)."""
    import orjson  # noqa: PLC0415 - not on the append path

    from .record.paths import open_regular  # noqa: PLC0415
    path = os.path.join(root, OTLP_POSITIONS)
    if not session_ids:
        return
    try:
        fd = open_regular(path, os.O_RDONLY)
    except FileNotFoundError:
        return
    with os.fdopen(fd, "rb") as file:
        try:
            positions = orjson.loads(file.read())
        except orjson.JSONDecodeError:
            return  # not ours to mend: the export says what is wrong with it
    if not isinstance(positions, dict):
        return
    kept = {target: {s: p for s, p in sessions.items() if s not in session_ids}
            for target, sessions in positions.items() if isinstance(sessions, dict)}
    temporary = f"{path}.{os.getpid()}.prune"
    with open(temporary, "wb") as file:
        os.fchmod(file.fileno(), 0o600)
        file.write(orjson.dumps(kept))
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)
