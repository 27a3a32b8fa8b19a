"""The index schema: versions, migrations, and the secondary indexes a full
rebuild drops and builds again."""

import os
import signal
import sqlite3
import subprocess

from treeship_store import Store
from treeship_store.index.file import SCHEMA_VERSION
from treeship_store.migrations import migrations

from support import FAULTY_PYTHON, SESSION, index_contents, make_event


def secondary_indexes(root):
    conn = sqlite3.connect(root / "index.db")
    try:
        return sorted(name for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events' AND sql IS NOT NULL"))
    finally:
        conn.close()


def test_schema_version_counts_the_migrations():
    # A hook checks the schema with one PRAGMA against this number.
    assert SCHEMA_VERSION == len(migrations._migrations)


def test_full_reindex_killed_after_dropping_indexes_leaves_the_old_index_whole(root):
    with Store(root) as store:
        for i in range(3):
            store.append_many(f"ssn_{i}", [make_event()] * 10)
    indexes = secondary_indexes(root)
    before = index_contents(root)
    assert len(indexes) == 6
    result = subprocess.run([*FAULTY_PYTHON, "-m", "treeship_store", "--root", str(root), "reindex", "--full"],
                            env={**os.environ, "TREESHIP_STORE_FAULT": "bulk-rebuild"}, capture_output=True)
    assert result.returncode == -signal.SIGKILL
    assert secondary_indexes(root) == indexes  # dropped inside the transaction, which rolled back
    assert index_contents(root) == before
    with Store(root) as store:
        assert store.append(SESSION, make_event())["sequence_no"] == 0
        assert len(list(store.events())) == 31
    conn = sqlite3.connect(root / "index.db")
    assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    conn.close()


def test_counts_and_totals_agree_with_the_events(store):
    for i in range(3):
        store.append_many(f"ssn_{i}", [make_event("agent.decision", model="opus", tokens_in=10, tokens_out=1),
                                       make_event("agent.completed_process", exit_code=i)] * (i + 1))
    store.reindex(full=True)
    store.reindex("ssn_1", full=True)  # forgetting a session debits the totals, catching up credits them
    totals = store.stats()
    per_session = [store.stats(f"ssn_{i}") for i in range(3)]
    assert totals["events"] == sum(s["events"] for s in per_session) == len(list(store.events())) == 12
    assert totals["tokens_by_model"]["opus"] == {"decisions": 6, "tokens_in": 60, "tokens_out": 6}
    assert totals["failed_processes"] == 2 + 3  # exit codes 1 and 2
    assert store.counts() == {k: totals[k] for k in ("events", "damaged_lines", "by_type", "by_agent")}
