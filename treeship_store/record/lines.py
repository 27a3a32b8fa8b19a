"""Reading complete lines of a session's events.jsonl: the one rule every
reader keeps (a line still being written, without its newline, is never
taken, so no reader mistakes it for damage)."""

from __future__ import annotations

import os

# How much of the file one read (and one index transaction) takes at most; a
# single longer line is still read whole.
READ_CHUNK = 4 << 20


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


def count_lines(fd: int, start: int = 0, lines: int = 0) -> tuple[int, int]:
    """(end of the last complete line, number of complete lines) of a file whose
    first `lines` lines end at `start`, by reading the rest. O(bytes read)."""
    end = start
    while data := complete_lines(fd, end):
        end += len(data)
        lines += data.count(b"\n")
    return end, lines
