"""What the store hands back besides events: damaged lines and reports."""

from __future__ import annotations

from dataclasses import dataclass, field

from .event import Event


@dataclass(frozen=True)
class DamagedLine:
    """A line of events.jsonl that is not an event. It stays in the file."""
    session_id: str
    line_no: int  # 0-based position in the file: the sequence_no it occupies
    offset: int  # byte offset of the line in events.jsonl
    length: int  # bytes, without the newline
    reason: str


@dataclass
class SessionContents:
    """A session read straight from its JSONL, without the index."""
    session_id: str
    events: list[Event]
    damaged: list[DamagedLine]


@dataclass
class ReindexReport:
    sessions: int = 0
    events: int = 0
    damaged_lines: int = 0
    seconds: float = 0.0
    bytes_read: int = 0


@dataclass
class VerifyReport:
    """What verify found. `problems` (and damaged lines) make it fail; `notes`
    are facts worth knowing that are not wrong (a newer writer's event types,
    lines not yet indexed)."""
    sessions: int = 0
    events: int = 0
    damaged: list[DamagedLine] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and not self.damaged


def fold_files(rows, as_text) -> list[dict]:
    """File summaries from (path, agent name, events, first, last) rows in
    path order, one row per path and agent: the local index's and the central
    store's answer alike. `as_text` turns a first/last time into RFC 3339."""
    files: dict[object, dict] = {}
    for path, agent, events, first, last in rows:
        summary = files.setdefault(path, {"file_path": path, "events": 0, "agents": [], "first": first,
                                          "last": last})
        summary["events"] += events
        summary["agents"].append(agent)
        # A line whose timestamp is not RFC 3339 has no time.
        summary["first"] = min((t for t in (summary["first"], first) if t is not None), default=None)
        summary["last"] = max((t for t in (summary["last"], last) if t is not None), default=None)
    for summary in files.values():
        summary["first"], summary["last"] = as_text(summary["first"]), as_text(summary["last"])
    return list(files.values())
