"""Reading events back from the JSONL, at the locations the index gives.

The index is an index, not a second copy: results are the stored lines
themselves, read with one pread per run of consecutive lines.
"""

from __future__ import annotations

import os
import sqlite3
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import orjson

from ..errors import StoreError
from ..event import Event
from .file import translate
from ..event import check_session_id
from ..record.paths import open_directory, open_regular

OPEN_FILES = 64  # session files kept open while reading one query's results
READ_RUN = 64 << 10  # consecutive result lines read at once, at most (plus one line)


def read_events(sessions_dir: Path, index_path: Path, locations: Iterable[tuple[int, int, int, int, int]],
                session_id_of: Callable[[int], str]) -> Iterator[Event]:
    """The events at (session key, offset, length, sequence_no, line_no)
    locations, as an index cursor yields them. The line was checked when it was indexed;
    reading it back, its length and sequence_no must still match, or the file
    changed under the index."""
    files: OrderedDict[int, int] = OrderedDict()
    sessions: int | None = None  # sessions/, opened once: each file then costs three calls, not five
    try:
        for run in _adjacent_runs(locations):
            key, start = run[0][0], run[0][1]
            fd = files.get(key)
            if fd is None:
                if len(files) >= OPEN_FILES:
                    os.close(files.popitem(last=False)[1])
                if sessions is None:
                    sessions = open_directory(sessions_dir)
                fd = files[key] = _open_events_file(sessions, sessions_dir, session_id_of(key))
            else:
                files.move_to_end(key)
            data = os.pread(fd, run[-1][1] + run[-1][2] - start, start)
            for _, offset, length, sequence_no, line_no in run:
                raw = data if len(run) == 1 else data[offset - start:offset - start + length]
                try:
                    event = orjson.loads(raw)
                    unchanged = event["sequence_no"] == sequence_no and len(raw) == length
                except (orjson.JSONDecodeError, TypeError, KeyError):
                    unchanged = False
                if not unchanged:
                    raise StoreError(f"session {session_id_of(key)}: events.jsonl changed under the index at "
                                     f"byte {offset}; run `treeship-store verify` and "
                                     "`treeship-store reindex --full`")
                yield Event(event, raw, line_no)
    except sqlite3.Error as error:  # from the cursor, which runs as the caller iterates
        raise translate(error, index_path) from None
    except OSError as error:
        raise StoreError(f"reading events.jsonl: {error.strerror or error}") from None
    finally:
        for fd in files.values():
            os.close(fd)
        if sessions is not None:
            os.close(sessions)


def _open_events_file(sessions: int, sessions_dir: Path, session_id: str) -> int:
    """A session's events.jsonl for reading, through descriptors never following a symlink."""
    check_session_id(session_id)
    try:
        directory = open_directory(session_id, dir_fd=sessions, parent=sessions_dir)
        try:
            return open_regular("events.jsonl", os.O_RDONLY, dir_fd=directory,
                                shown=sessions_dir / session_id / "events.jsonl")
        finally:
            os.close(directory)
    except FileNotFoundError:
        raise StoreError(f"session {session_id}: events.jsonl disappeared while reading; run the query again") \
            from None


def _adjacent_runs(locations: Iterable[tuple[int, ...]]) -> Iterator[list[tuple[int, ...]]]:
    """Locations grouped into runs of consecutive lines of one file, each run
    read with one pread (a session read in order is one run per READ_RUN bytes)."""
    run: list[tuple[int, ...]] = []
    run_key = run_start = run_end = -2
    for location in locations:
        key, offset, length = location[:3]
        if key == run_key and offset == run_end + 1 and offset - run_start <= READ_RUN:
            run.append(location)
        else:
            if run:
                yield run
            run = [location]
            run_key, run_start = key, offset
        run_end = offset + length
    if run:
        yield run
