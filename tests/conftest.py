import sys
import time

import pytest

from treeship_store import Store

SESSION = "ssn_42e740bd9eb238f6"
# A Python that honours TREESHIP_STORE_FAULT (see treeship_store/faults.py).
FAULTY_PYTHON = [sys.executable, "-X", "treeship_store_faults"]
AGENT = {"agent_id": "agent://claude-code", "agent_instance_id": "ai_cc_1",
         "agent_name": "claude-code", "host_id": "host_macbook"}


def make_event(event_type="agent.called_tool", **fields):
    """A valid event to append: agent fields plus the type's required fields."""
    required = {"agent.called_tool": {"tool_name": "Read"}, "agent.wrote_file": {"file_path": "src/app.py"},
                "agent.read_file": {"file_path": "README.md"},
                "agent.completed_process": {"process_name": "pytest"}}
    return {**AGENT, "type": event_type, **required.get(event_type, {}), **fields}


def wait_until(condition, timeout=30.0):
    """Poll `condition` until it holds (True) or `timeout` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def root(tmp_path):
    return tmp_path / ".treeship"


@pytest.fixture
def store(root):
    with Store(root) as opened:
        yield opened


def search_words(conn, sessions):
    """(session, line, word, position) of every word in the search index under
    a live session key; words under a forgotten key are unreachable garbage."""
    # Words still waiting to go in (Index.flush_search) are part of the index too.
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("INSERT INTO event_text (rowid, text) SELECT rowid, text FROM search_pending")
    conn.execute("DELETE FROM search_pending")
    conn.execute("COMMIT")
    conn.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.words USING fts5vocab(main, event_text, instance)")
    return sorted((sessions[doc >> 32], doc & 0xFFFFFFFF, term, offset)
                  for term, doc, offset in conn.execute("SELECT term, doc, offset FROM temp.words")
                  if doc >> 32 in sessions)


def index_contents(root):
    """Everything the index holds, to compare an index with a fresh rebuild."""
    import sqlite3
    conn = sqlite3.connect(root / "index.db")
    try:
        sessions = dict(conn.execute("SELECT session_key, session_id FROM sessions"))
        return {
            "sessions": sorted(conn.execute("SELECT session_id, indexed_bytes, indexed_lines, tail FROM sessions")),
            # The texts, not their keys: a rebuilt index may hand out keys in another order.
            "events": sorted(conn.execute("SELECT * FROM events_readable")),
            "damaged": sorted((sessions[row[0]],) + row[1:] for row in conn.execute("SELECT * FROM damaged_lines")),
            "search": search_words(conn, sessions),
        }
    finally:
        conn.close()


@pytest.fixture(scope="session")
def pg_cluster():
    """One throwaway PostgreSQL cluster for the whole run (tests/pg_cluster.py)."""
    from pg_cluster import Cluster
    cluster = Cluster()
    yield cluster
    cluster.close()


@pytest.fixture
def central_url(pg_cluster, request):
    """A new, empty database in that cluster for one test."""
    import os
    import re
    name = "t_" + re.sub(r"[^a-z0-9]", "_", request.node.name.lower())[:40] + "_" + os.urandom(4).hex()
    return pg_cluster.create_database(name)
