"""CentralStore: the central PostgreSQL store asked the Reader's questions
(answered by queries.py), plus `host`, which a central store has many of,
and `verify`, which reports conflicts."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from ..event import Event, check_session_id
from ..reader import Reader
from .queries import CentralQueries


@dataclass
class CentralVerifyReport:
    sessions: int = 0
    lines: int = 0
    damaged_lines: int = 0
    conflicts: list[dict] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.conflicts and not self.damaged_lines


class CentralStore(Reader):
    """Read-only questions to a central store (one connection, one thread)."""

    def __init__(self, url: str):
        self.backend = CentralQueries(url)
        self.root = self.backend.root  # what messages name: the URL without its password

    def __enter__(self) -> CentralStore:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def events(self, session: str | Iterable[str] | None = None, *, host: str | Iterable[str] | None = None,
               **filters) -> Iterator[Event]:
        """As Store.events; `host` keeps events whose host_id is one of these."""
        return self.backend.select_events(self._checked(session, host=host, **filters))

    def count_events(self, session: str | Iterable[str] | None = None, *, host: str | Iterable[str] | None = None,
                     **filters) -> int:
        return self.backend.count_events(self._checked(session, host=host, **filters))

    def files(self, session: str | Iterable[str] | None = None, *, agent: str | Iterable[str] | None = None,
              since=None, until=None, read: bool = False, host: str | Iterable[str] | None = None) -> list[dict]:
        return self.backend.file_rows(self._checked(session, host=host,
                                                    **self._files_filters(agent, since, until, read)))

    def verify(self, session: str | None = None) -> CentralVerifyReport:
        """What the central store holds, and every conflict: a line a host
        pushed that differs from the one already at its position."""
        scope, params = "", []
        if session is not None:
            scope, params = " WHERE session_id = %s", [check_session_id(session)]
        sessions, lines, damaged = self.backend.rows(
            f"SELECT count(DISTINCT session_id), count(*), count(damaged) FROM lines{scope}", params)[0]
        conflicts = [{"session_id": sid, "line_no": line_no, "store_id": str(store), "line": bytes(line)}
                     for sid, line_no, store, line in self.backend.rows(
                         f"SELECT session_id, line_no, store_id, line FROM conflicts{scope} "
                         "ORDER BY session_id COLLATE \"C\", line_no, store_id", params)]
        return CentralVerifyReport(sessions, lines, damaged, conflicts)
