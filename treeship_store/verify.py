"""verify: check a store without changing it.

For every session it reads events.jsonl from the start and checks: each line
is an event or reported as damaged (with its byte offset); each event's
sequence_no is its line position (gaps and duplicates named); known event
types follow the schema; and the index holds exactly what the file holds up
to the index's watermark. Lines past the watermark are only counted: they are
indexed by the next query.
"""

from __future__ import annotations

import os
import sqlite3
from collections import Counter
from typing import TYPE_CHECKING

from .errors import IndexTooNew, StoreError, StoreNotFound, UnsafePath, WriteError
from .event import check_session_id, decode_line, field_problems, unknown_fields_note
from .index import Index
from .index.watermark import file_change
from .index.file import translate
from .record.log import OpenLog, SessionLog

from .results import DamagedLine, VerifyReport

if TYPE_CHECKING:
    from .record.directory import SessionDirectory

DETAILS_PER_SESSION = 20  # listed problems per session before "... and N more"
_CLAIMED, _DAMAGED = 1, 2  # a line position taken by its own event / by a damaged line


def verify_store(directory: SessionDirectory, session: str | None) -> VerifyReport:
    """The report on the store whose sessions `directory` lists (Store.verify)."""
    directory.require_root()
    report = VerifyReport()
    index = _open_index(directory, report)
    try:
        # The index is read before the directories are listed: a session created
        # in between must not look "indexed, but gone".
        indexed = set(index.session_keys()) if index else set()
        sessions = [check_session_id(session)] if session is not None else directory.session_ids()
        report.sessions = len(sessions)
        for session_id in sessions:
            try:
                log = SessionLog(directory.sessions_dir, session_id).open_for_reading()
            except (UnsafePath, WriteError) as error:
                report.problems.append(f"session {session_id}: {error}")
                continue
            if log is None:
                if session is not None and session_id not in indexed:
                    raise StoreNotFound(f"no session {session_id} under {directory.root}")
                if session_id in indexed:
                    report.problems.append(f"session {session_id}: indexed, but its events.jsonl is gone "
                                           "(the next query forgets it)")
                else:
                    report.notes.append(f"session {session_id}: no events.jsonl")
                continue
            try:
                report.problems.extend(_SessionCheck(session_id, report).run(log, index))
            except UnsafePath as error:  # its batch record is a symlink or not a file
                report.problems.append(f"session {session_id}: {error}")
            finally:
                log.close()
        if session is None:
            for session_id in sorted(indexed - set(sessions)):
                report.problems.append(f"session {session_id}: indexed, but its directory is gone "
                                       "(the next query forgets it)")
            for name in _invalid_session_dirs(directory):
                report.notes.append(f"sessions/{name}: not a session directory (invalid id, or a symlink); not indexed")
    except sqlite3.Error as error:
        raise translate(error, directory.root / "index.db") from None
    except OSError as error:  # reading a file failed (EIO): nothing could be verified
        raise StoreError(f"cannot read {error.filename or directory.root}: {error.strerror or error}") from None
    finally:
        if index:
            index.close()
    return report


def _open_index(directory: SessionDirectory, report: VerifyReport) -> Index | None:
    path = directory.root / "index.db"
    if not os.path.lexists(path):
        report.notes.append("no index.db yet: the next query or append builds it from the JSONL")
        return None
    index = Index(path, read_only=True)
    try:
        index.conn  # noqa: B018 - opening is the check
    except (sqlite3.Error, StoreError) as error:
        if isinstance(error, IndexTooNew):
            raise
        report.problems.append(f"index.db cannot be used ({error}); " + (
            "remove it by hand" if isinstance(error, UnsafePath) else "the next query or append rebuilds it"))
        return None
    if index.outdated:
        report.notes.append("index.db has an older schema: the next query or append upgrades it")
        index.close()
        return None
    return index


class _SessionCheck:
    def __init__(self, session_id: str, report: VerifyReport):
        self.session_id = session_id
        self.report = report
        self.problems: list[str] = []
        self.listed = 0
        self.positions = bytearray()  # per line: 0 unclaimed, _CLAIMED, _DAMAGED
        self.misplaced: Counter[int] = Counter()  # sequence_no values found at another position
        self.notes: Counter[str] = Counter()
        self.imported: dict[str, tuple] = {}  # agent's file -> (size, sha256) of what an import read

    def problem(self, message: str) -> None:
        self.listed += 1
        if self.listed <= DETAILS_PER_SESSION:
            self.problems.append(f"session {self.session_id}: {message}")

    def run(self, log: OpenLog, index: Index | None) -> list[str]:
        if index is None:
            self._check_file(log, None, 0)
        else:
            with index.snapshot():
                found = index.watermark(self.session_id)
                mark = found[0] if found else None
                change = mark and file_change(log.fd, os.fstat(log.fd), mark, found[1], found[2])
                if change:
                    self.problem(f"{change} since it was indexed; the next query re-indexes it")
                rows = _indexed_lines(index, mark.session_key) if mark and not change else iter(())
                self._check_file(log, rows, mark.indexed_lines if mark and not change else 0)
        self._note_unfinished_batch(log)
        self._note_changed_imports()
        self._check_sequence()
        for note, count in sorted(self.notes.items()):
            self.report.notes.append(f"session {self.session_id}: {count} event(s) with {note}")
        if self.listed > DETAILS_PER_SESSION:
            self.problems.append(f"session {self.session_id}: ... and {self.listed - DETAILS_PER_SESSION} more")
        return self.problems

    def _check_file(self, log: OpenLog, rows, indexed_lines: int) -> None:
        rows = iter(rows) if rows is not None else None
        lines = 0
        for line_no, offset, line in log.lines():
            lines += 1
            event, reason = decode_line(line)
            if event is None:
                self.report.damaged.append(DamagedLine(self.session_id, line_no, offset, len(line), reason))
                self.positions.append(_DAMAGED)
            else:
                self.report.events += 1
                self._check_event(line_no, offset, event)
                if b'"imported"' in line:
                    from .capture.history import imported_from  # noqa: PLC0415 - only for imported sessions
                    self.imported.update(imported_from(event.get("meta")))
            if rows is not None and line_no < indexed_lines:
                expected = (line_no, offset, len(line), *((event["type"], event["sequence_no"])
                                                         if event else (None, None)))
                row = next(rows, None)
                if row != expected:
                    self.problem(f"line {line_no} (offset {offset}): the index has {_describe(row)}, "
                                 f"the file {_describe(expected)}")
        if rows is not None:
            extra = sum(1 for _ in rows)
            if extra or lines < indexed_lines:
                self.problem(f"the index holds {indexed_lines} lines, the file has {lines}")
        if lines > indexed_lines and rows is not None:
            self.report.notes.append(f"session {self.session_id}: {lines - indexed_lines} line(s) not yet "
                                     "indexed (the next query indexes them)")

    def _note_changed_imports(self) -> None:
        """The agents' files an import read that changed behind that point
        (rewritten, or a shorter copy): what the store holds stands."""
        from .capture.history import changed_since_import  # noqa: PLC0415 - only for imported sessions
        for path, (size, sha256) in sorted(self.imported.items()):
            if change := changed_since_import(path, size, sha256):
                self.report.notes.append(f"session {self.session_id}: {path}, imported, {change}; "
                                         f"`treeship-store import` again adds what is new")

    def _note_unfinished_batch(self, log: OpenLog) -> None:
        if (pending := log.pending_batch()) is not None:
            self.report.notes.append(f"session {self.session_id}: a batch is being written at byte {pending[0]}, "
                                     "or its writer died (the next append removes what it wrote); its lines "
                                     "are not part of the record yet")

    def _check_event(self, line_no: int, offset: int, event: dict) -> None:
        sequence_no = event["sequence_no"]
        if sequence_no == line_no:
            self.positions.append(_CLAIMED)
        else:
            self.positions.append(0)
            self.misplaced[sequence_no] += 1
            self.problem(f"line {line_no} (offset {offset}) has sequence_no {sequence_no}, expected {line_no}")
        if note := unknown_fields_note(event):
            self.notes[note] += 1
        for problem in field_problems(event):
            self.problem(f"line {line_no} (offset {offset}): {problem}")

    def _check_sequence(self) -> None:
        positions = self.positions
        duplicates = sorted(s for s, n in self.misplaced.items()
                            if n + (s < len(positions) and positions[s] == _CLAIMED) > 1)
        if duplicates:
            self.problem(f"duplicate sequence_no {_ranges(duplicates)}")
        gaps, start = [], positions.find(0)
        while start != -1:
            if start not in self.misplaced:
                gaps.append(start)
            start = positions.find(0, start + 1)
        if gaps:
            self.problem(f"missing sequence_no {_ranges(gaps)}")


def _describe(row: tuple | None) -> str:
    if row is None:
        return "nothing"
    _, offset, length, event_type, sequence_no = row
    what = "a damaged line" if event_type is None else f"an event {event_type} (sequence_no {sequence_no})"
    return f"{what} at offset {offset}, {length} bytes"


def _ranges(numbers: list[int], shown: int = 10) -> str:
    text = ", ".join(map(str, numbers[:shown]))
    return text + (f" and {len(numbers) - shown} more" if len(numbers) > shown else "")


def _invalid_session_dirs(directory: SessionDirectory) -> list[str]:
    try:
        names = os.listdir(directory.sessions_dir)
    except FileNotFoundError:
        return []
    valid = set(directory.session_ids())
    return sorted(name for name in names if name not in valid)


def _indexed_lines(index: Index, session_key: int) -> sqlite3.Cursor:
    """(line_no, offset, length, type or None, sequence_no or None) for
    every indexed line of a session, events and damaged lines, in file order."""
    return index.conn.execute(
        "SELECT e.line_no, e.offset, e.length, t.text, e.sequence_no FROM events e "
        "JOIN strings t ON t.key = e.type_key WHERE e.session_key = ? "
        "UNION ALL SELECT line_no, offset, length, NULL, NULL FROM damaged_lines WHERE session_key = ? "
        "ORDER BY 1", (session_key, session_key))
