"""`prune --db URL --older-than AGE`: whole sessions whose last line is
older than the cutoff leave the central store. A month whose sessions are
all older goes as its partition (`lines_YYYY_MM` detached and dropped: no
row deleted one by one, no table bloat); an older session in a month that
also holds newer ones goes as rows. Each in one transaction, with its
counts (so stats equal the lines kept) and conflicts, and a tombstone in
`pruned_sessions`: push leaves out a session pruned here, so a host that
still has it does not bring it back. Dropping partitions needs the tables'
owner (the role that ran the migrations), not a pushing role."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import psycopg
from psycopg import sql

from ..filters import time_bound
from .connection import connect, translate

BATCH = 500  # sessions removed as rows per transaction
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@dataclass
class CentralPruneReport:
    older: list[tuple[str, int, str]] = field(default_factory=list)  # (session, lines, last line's time)
    pruned: list[str] = field(default_factory=list)
    partitions: list[str] = field(default_factory=list)  # dropped whole
    kept: list[tuple[str, str]] = field(default_factory=list)
    bytes: int = 0

    def as_dict(self) -> dict:
        return {"older": [{"session_id": s, "bytes": n, "last": last} for s, n, last in self.older],
                "pruned": self.pruned, "partitions": self.partitions,
                "kept": [{"session_id": s, "why": why} for s, why in self.kept], "archived": 0, "bytes": 0}


def prune_central(url: str, older_than: str | datetime, *, dry_run: bool = False) -> CentralPruneReport:
    cutoff = _EPOCH + timedelta(microseconds=time_bound(older_than, "older_than"))
    report = CentralPruneReport()
    conn = connect(url)
    try:
        older = conn.execute(
            "SELECT c.session_id, s.month, sum(c.events), max(c.last_at) FROM line_counts c "
            "JOIN sessions s USING (session_id) GROUP BY c.session_id, s.month "
            "HAVING max(c.last_at) < %s ORDER BY 2, 1", [cutoff]).fetchall()
        newer_months = {month for month, in conn.execute(
            "SELECT DISTINCT s.month FROM sessions s WHERE NOT EXISTS (SELECT 1 FROM line_counts c "
            "WHERE c.session_id = s.session_id GROUP BY c.session_id HAVING max(c.last_at) < %s)", [cutoff])}
        conn.commit()
        report.older = [(sid, int(lines), last.isoformat()) for sid, _, lines, last in older]
        if dry_run:
            return report
        by_month: dict = {}
        for sid, month, _, last in older:
            by_month.setdefault(month, []).append((sid, last))
        for month, sessions in sorted(by_month.items()):
            if month not in newer_months:
                with conn.transaction():
                    _forget(conn, sessions, "WHERE month = %s", [month])
                    partition = sql.Identifier(f"lines_{month:%Y_%m}")
                    conn.execute(sql.SQL("ALTER TABLE lines DETACH PARTITION {}").format(partition))
                    conn.execute(sql.SQL("DROP TABLE {}").format(partition))
                report.partitions.append(f"lines_{month:%Y_%m}")
                report.pruned += [sid for sid, _ in sessions]
                continue
            for start in range(0, len(sessions), BATCH):
                batch = sessions[start:start + BATCH]
                with conn.transaction():
                    ids = [sid for sid, _ in batch]
                    conn.execute("DELETE FROM lines WHERE month = %s AND session_id = ANY(%s)", [month, ids])
                    _forget(conn, batch, "WHERE session_id = ANY(%s)", [ids])
                report.pruned += [sid for sid, _ in batch]
    except psycopg.Error as error:
        raise translate(error, url) from None
    finally:
        conn.close()
    return report


def _forget(conn: psycopg.Connection, sessions: list, where: str, params: list) -> None:
    """The sessions' tombstones first, then their counts, conflicts and rows."""
    with conn.cursor() as cursor:
        cursor.executemany("INSERT INTO pruned_sessions (session_id, last_at) VALUES (%s, %s) "
                           "ON CONFLICT (session_id) DO NOTHING", sessions)
    ids = f"SELECT session_id FROM sessions {where}"
    conn.execute(f"DELETE FROM line_counts WHERE session_id IN ({ids})", params)
    conn.execute(f"DELETE FROM conflicts WHERE session_id IN ({ids})", params)
    conn.execute(f"DELETE FROM sessions {where}", params)
