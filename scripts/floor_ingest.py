"""The floor for a full reindex: the plainest loop that fills a table with the
index's own columns (orjson.loads, one tuple per line, sqlite3.executemany)
and builds the same indexes afterwards. No validation, damage handling,
watermarks or crash safety: what any rebuild must at least cost.

    python scripts/floor_ingest.py STORE_ROOT DB_PATH
"""

import sys
from datetime import datetime, timezone
from pathlib import Path

import orjson
import sqlite3

COLUMNS = ("session_key INTEGER, line_no INTEGER, sequence_no INTEGER, event_id TEXT, timestamp_us INTEGER, "
           "type TEXT, agent_id TEXT, agent_instance_id TEXT, agent_name TEXT, host_id TEXT, offset INTEGER, "
           "length INTEGER, tool_name TEXT, file_path TEXT, model TEXT, tokens_in INTEGER, tokens_out INTEGER, "
           "duration_ms INTEGER, exit_code INTEGER, note TEXT")
INDEXES = ["(session_key, sequence_no)", "(agent_id, type, timestamp_us)", "(agent_name, type, timestamp_us)",
           "(agent_instance_id, type, timestamp_us)", "(type, timestamp_us)", "(timestamp_us)"]
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def ingest(root: Path, db_path: Path) -> int:
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(f"CREATE TABLE events ({COLUMNS})")
    insert = "INSERT INTO events VALUES (" + ", ".join("?" * 20) + ")"
    total = 0
    conn.execute("BEGIN")
    for key, path in enumerate(sorted(root.glob("sessions/*/events.jsonl"))):
        rows, offset = [], 0
        with open(path, "rb") as file:
            for line_no, line in enumerate(file):
                e = orjson.loads(line)
                g = e.get
                rows.append((key, line_no, e["sequence_no"], e["event_id"],
                             (datetime.fromisoformat(e["timestamp"]) - EPOCH) // datetime.resolution, e["type"],
                             e["agent_id"], e["agent_instance_id"], e["agent_name"], e["host_id"], offset,
                             len(line) - 1, g("tool_name"), g("file_path"), g("model"), g("tokens_in"),
                             g("tokens_out"), g("duration_ms"), g("exit_code"), None))
                offset += len(line)
        conn.executemany(insert, rows)
        total += len(rows)
    conn.execute("COMMIT")
    for number, columns in enumerate(INDEXES):
        conn.execute(f"CREATE INDEX index_{number} ON events {columns}")
    conn.close()
    return total


if __name__ == "__main__":
    print(ingest(Path(sys.argv[1]), Path(sys.argv[2])))
