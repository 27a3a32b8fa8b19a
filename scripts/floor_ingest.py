"""The floor for a full reindex: the plainest loop that fills a table with the
index's own columns (orjson.loads, texts as keys of a strings table kept in a
dict, one tuple per line, sqlite3.executemany), puts the same words in the
same FTS5 table, and builds the same indexes afterwards. No validation, damage handling, counts, watermarks or crash
safety: what any rebuild must at least cost.

    python scripts/floor_ingest.py STORE_ROOT DB_PATH
"""

import sys
from datetime import datetime, timezone
from pathlib import Path

import orjson
import sqlite3

from treeship_store.projector import search_text

COLUMNS = ("session_key INTEGER NOT NULL, line_no INTEGER NOT NULL, sequence_no INTEGER, timestamp_us INTEGER, "
           "type_key INTEGER, agent_id_key INTEGER, agent_name_key INTEGER, instance_key INTEGER, offset INTEGER, "
           "length INTEGER, path_key INTEGER, exit_code INTEGER, PRIMARY KEY (session_key, line_no)")
INDEXES = ["(session_key, sequence_no)", "(agent_id_key, type_key, timestamp_us)",
           "(agent_name_key, type_key, timestamp_us)", "(instance_key, type_key, timestamp_us)",
           "(type_key, timestamp_us)", "(agent_name_key, type_key, path_key, timestamp_us) WHERE path_key IS NOT NULL"]
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def ingest(root: Path, db_path: Path) -> int:
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(f"CREATE TABLE events ({COLUMNS}) WITHOUT ROWID")
    conn.execute("CREATE TABLE strings (key INTEGER PRIMARY KEY, text TEXT NOT NULL UNIQUE)")
    conn.execute("CREATE VIRTUAL TABLE event_text USING fts5(text, content = '', columnsize = 0, "
                 "tokenize = 'unicode61 remove_diacritics 2')")
    insert = "INSERT INTO events VALUES (" + ", ".join("?" * 12) + ")"
    keys: dict[str, int] = {}

    def key(text):
        if text not in keys:
            keys[text] = conn.execute("INSERT INTO strings (text) VALUES (?)", (text,)).lastrowid
        return keys[text]
    total = 0
    conn.execute("BEGIN")
    for number, path in enumerate(sorted(root.glob("sessions/*/events.jsonl"))):
        rows, texts, offset = [], [], 0
        with open(path, "rb") as file:
            for line_no, line in enumerate(file):
                e = orjson.loads(line)
                g = e.get
                path_text = g("file_path")
                rows.append((number, line_no, e["sequence_no"],
                              (datetime.fromisoformat(e["timestamp"]) - EPOCH) // datetime.resolution,
                              key(e["type"]), key(e["agent_id"]), key(e["agent_name"]), key(e["agent_instance_id"]),
                              offset, len(line) - 1, path_text and key(path_text), g("exit_code")))
                if text := search_text(e):
                    texts.append((number << 32 | line_no, text))
                offset += len(line)
        conn.executemany(insert, rows)
        conn.executemany("INSERT INTO event_text (rowid, text) VALUES (?, ?)", texts)
        total += len(rows)
    conn.execute("COMMIT")
    for number, columns in enumerate(INDEXES):
        conn.execute(f"CREATE INDEX index_{number} ON events {columns}")
    conn.close()
    return total


if __name__ == "__main__":
    print(ingest(Path(sys.argv[1]), Path(sys.argv[2])))
