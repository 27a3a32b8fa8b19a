"""What the tests share besides fixtures (those stay in tests/conftest.py):
a session id, the agent fields and a valid event to append, a Python that
honours TREESHIP_STORE_FAULT, polling, and the index's contents. The other
helpers are modules of this package, so that no test module imports another:
agent_checks, hook_fixtures, model_server, oracle, otlp_receiver,
pg_cluster, real_agents, web."""

import sys
import time

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
