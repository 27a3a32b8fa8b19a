"""How far the index has read a session's events.jsonl (a watermark), and
whether the file there now is still the one it read: what the index's
catch-up, verify and a follower (follow.py) check before going on from it."""

from __future__ import annotations

import os
from typing import NamedTuple

TAIL_BYTES = 32  # the last indexed bytes of a file, kept to notice a rewrite


class Watermark(NamedTuple):
    session_key: int
    indexed_bytes: int
    indexed_lines: int
    tail: bytes


def file_change(fd: int, info: os.stat_result, mark: Watermark, dev: int | None, ino: int | None) -> str | None:
    """How events.jsonl differs from the file the index read, or None if it is
    the same file, grown or not. Append-only means the inode stays and the
    bytes already read never change."""
    if ino is not None and (info.st_dev, info.st_ino) != (dev, ino):
        return "events.jsonl was replaced by another file"
    if info.st_size < mark.indexed_bytes:
        return f"events.jsonl shrank from {mark.indexed_bytes} to {info.st_size} bytes"
    if mark.tail and os.pread(fd, len(mark.tail), mark.indexed_bytes - len(mark.tail)) != mark.tail:
        return f"events.jsonl was rewritten: the bytes before offset {mark.indexed_bytes} changed"
    return None


def unchanged(fd: int, mark: Watermark, dev: int | None, ino: int | None) -> bool:
    """The file is the one indexed and ends exactly at the watermark."""
    info = os.fstat(fd)
    return info.st_size == mark.indexed_bytes and file_change(fd, info, mark, dev, ino) is None
