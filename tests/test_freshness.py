"""Which sessions a query checks for other writers' lines (Store._refresh):
the cost follows the sessions that can still change, and a foreign append
to an idle session is seen within the sweep bound."""

import os
import sqlite3
import time

import orjson
import pytest

from treeship_store import Store
from treeship_store.index import freshness
from treeship_store.event import prepare
from treeship_store.index.file import SCHEMA_VERSION

from support import index_contents, make_event

OLD = time.time() - 30 * 86400  # a month ago


def foreign_append(root, session, seq):
    """What Treeship's own CLI does: a line appended behind the index's back."""
    event = prepare(make_event(tool_name=f"foreign{seq}"), session)
    event["sequence_no"] = seq
    with open(root / "sessions" / session / "events.jsonl", "ab") as file:
        file.write(orjson.dumps(event) + b"\n")


def age_the_store(root, sessions):
    """Make every session a month idle, as the index sees it."""
    for session in sessions:
        os.utime(root / "sessions" / session / "events.jsonl", (OLD, OLD))
    with Store(root) as store:
        store.reindex(full=True)  # records the old mtimes; a sweep, just now


def stats_of_event_files(monkeypatch):
    counted = []
    real = os.stat

    def counting(path, *args, **kwargs):
        if str(path).endswith("/events.jsonl"):
            counted.append(str(path))
        return real(path, *args, **kwargs)
    monkeypatch.setattr(freshness.os, "stat", counting)
    return counted


def move_the_last_sweep_back(root, seconds):
    conn = sqlite3.connect(root / "index.db")
    conn.execute("UPDATE index_meta SET value = value - ? WHERE name = 'swept_ns'", (seconds * 10**9,))
    conn.commit()
    conn.close()


def test_a_foreign_append_to_an_idle_session_is_seen_at_the_next_sweep(root):
    sessions = [f"ssn_{i}" for i in range(20)]
    with Store(root) as store:
        for session in sessions:
            store.append_many(session, [make_event(), make_event("agent.completed"), make_event("session.closed")])
    age_the_store(root, sessions)
    foreign_append(root, "ssn_7", 3)  # an old, closed session
    with Store(root) as store:
        assert store.count_events() == 60  # not checked yet: within the bound
        move_the_last_sweep_back(root, freshness.SWEEP_SECONDS - 5)
        assert store.count_events() == 60
        move_the_last_sweep_back(root, 10)  # now the last sweep is over SWEEP_SECONDS old
        assert store.count_events() == 61
        assert [e["tool_name"] for e in store.events("ssn_7", after_seq=2)] == ["foreign3"]


def test_a_session_a_query_names_is_always_checked(root):
    with Store(root) as store:
        store.append("ssn_old", make_event())
    age_the_store(root, ["ssn_old"])
    foreign_append(root, "ssn_old", 1)
    with Store(root) as store:
        assert store.count_events("ssn_old") == 2


def test_a_new_session_from_another_writer_is_seen_by_the_next_query(root):
    with Store(root) as store:
        store.append("ssn_a", make_event())
    age_the_store(root, ["ssn_a"])
    time.sleep(freshness.RACY_SECONDS + 0.1)  # the listing's mtime is now trusted
    with Store(root) as store:
        assert store.count_events() == 1
        (root / "sessions" / "ssn_new").mkdir(mode=0o700)
        foreign_append(root, "ssn_new", 0)
        assert store.count_events() == 2
        assert [s["session_id"] for s in store.sessions()] == ["ssn_a", "ssn_new"]


def test_a_query_stats_only_the_sessions_that_can_still_change(root, monkeypatch):
    sessions = [f"ssn_{i}" for i in range(50)]
    with Store(root) as store:
        for session in sessions:
            store.append(session, make_event())
    age_the_store(root, sessions)
    with Store(root) as store:
        store.append("ssn_live", make_event())  # one session in use
        time.sleep(freshness.RACY_SECONDS + 0.1)
        store.count_events()  # lists sessions/ once more (ssn_live is new)
        counted = stats_of_event_files(monkeypatch)
        assert store.count_events() == 51
        assert [path.rsplit("/", 2)[1] for path in counted] == ["ssn_live"]
        move_the_last_sweep_back(root, freshness.SWEEP_SECONDS + 1)
        counted.clear()
        assert store.count_events() == 51
        assert len(counted) == 51  # the sweep: every session, once per SWEEP_SECONDS


def write_0_1_index(root):
    """index.db as treeship-store 0.1 left it: schema 2 (its two migrations),
    no application_id, every line indexed in its 20-column rows."""
    from sqlite_utils import Database, Migrations

    from treeship_store.event import parse_time
    from treeship_store.migrations import m001_sessions_events_damage, m002_counts_and_deferred_indexes
    old = Migrations("treeship_store")
    old()(m001_sessions_events_damage)
    old()(m002_counts_and_deferred_indexes)
    conn = sqlite3.connect(root / "index.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    old.apply(Database(conn))
    conn.execute("PRAGMA user_version = 2")
    with Store(root) as store:
        for key, session in enumerate(store.session_ids(), 1):
            path = root / "sessions" / session / "events.jsonl"
            data, info = path.read_bytes(), path.stat()
            conn.execute("INSERT INTO sessions (session_key, session_id, indexed_bytes, indexed_lines, file_dev, "
                         "file_ino, tail) VALUES (?, ?, ?, ?, ?, ?, ?)",
                         (key, session, len(data), data.count(b"\n"), info.st_dev, info.st_ino, data[-32:]))
            offset = 0
            for line_no, line in enumerate(data.split(b"\n")[:-1]):
                e = orjson.loads(line)
                conn.execute("INSERT INTO events VALUES (" + ", ".join("?" * 20) + ")", (
                    key, line_no, e["sequence_no"], e["event_id"], parse_time(e["timestamp"]), e["type"],
                    e["agent_id"], e["agent_instance_id"], e["agent_name"], e["host_id"], offset, len(line),
                    e.get("tool_name"), e.get("file_path"), e.get("model"), None, None, None, None, None))
                conn.execute("INSERT INTO event_counts VALUES (?, ?, ?, '', 1, 0, 0, 0) ON CONFLICT DO UPDATE SET "
                             "events = events + 1", (key, e["type"], e["agent_name"]))
                conn.execute("INSERT INTO event_totals VALUES (?, ?, '', 1, 0, 0, 0) ON CONFLICT DO UPDATE SET "
                             "events = events + 1", (e["type"], e["agent_name"]))
                offset += len(line) + 1
    conn.close()


def test_an_index_of_treeship_store_0_1_is_upgraded_in_place(root):
    with Store(root) as store:
        store.append_many("ssn_a", [make_event(), make_event("agent.wrote_file", file_path="src/x.py")])
        store.append("ssn_b", make_event("agent.read_file"))
    expected = index_contents(root)
    os.unlink(root / "index.db")
    write_0_1_index(root)
    with Store(root) as store:
        assert store.count_events() == 3 and [f["file_path"] for f in store.files()] == ["src/x.py"]
        assert store.verify().ok
    assert index_contents(root) == expected  # converted in place to what a fresh index holds
    conn = sqlite3.connect(root / "index.db")
    assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    assert conn.execute("PRAGMA application_id").fetchone() == (0x54735374,)
    assert conn.execute("SELECT count(*) FROM sessions WHERE file_mtime_ns IS NOT NULL").fetchone() == (2,)
    conn.close()


@pytest.mark.parametrize("sweep_interval", [0])
def test_with_a_sweep_every_query_sees_everything(root, monkeypatch, sweep_interval):
    monkeypatch.setattr(freshness, "SWEEP_SECONDS", sweep_interval)
    with Store(root) as store:
        store.append("ssn_old", make_event())
    age_the_store(root, ["ssn_old"])
    foreign_append(root, "ssn_old", 1)
    with Store(root) as store:
        assert store.count_events() == 2


def test_a_last_sweep_in_the_future_counts_as_due(root):
    with Store(root) as store:
        store.append("ssn_old", make_event())
    age_the_store(root, ["ssn_old"])
    foreign_append(root, "ssn_old", 1)
    move_the_last_sweep_back(root, -86400)  # the clock went back a day since the last sweep
    with Store(root) as store:
        assert store.count_events() == 2


def test_a_hook_or_command_line_append_to_an_idle_session_is_seen_by_the_next_store_wide_query(root):
    """They leave the index to the reader and name the session in
    .treeship/unindexed: a session idle for a month is not left to the sweep."""
    import subprocess
    import sys
    sessions = [f"ssn_{i}" for i in range(5)]
    with Store(root) as store:
        for session in sessions:
            store.append_many(session, [make_event(), make_event("session.closed")])
    age_the_store(root, sessions)
    result = subprocess.run([sys.executable, "-m", "treeship_store", "--root", str(root), "append", "ssn_3",
                             "--type", "agent.called_tool", "--tool", "Late", "--agent-id", "agent://x"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout == "appended ssn_3 #2 agent.called_tool\n", result.stderr
    assert (root / "unindexed").read_text() == "ssn_3\n"
    with Store(root) as store:
        assert store.count_events() == 11  # store-wide, within the sweep bound: the hint made it look
        assert [e["tool_name"] for e in store.events(type="agent.called_tool") if e["session_id"] == "ssn_3"] == \
            ["Read", "Late"]
    assert index_contents(root) == (rebuilt := _rebuilt(root)), rebuilt


def _rebuilt(root):
    with Store(root) as store:
        store.reindex(full=True)
    return index_contents(root)


@pytest.mark.parametrize("kind", ["symlink", "fifo", "directory"])
def test_an_unusable_unindexed_file_costs_only_the_hints(root, tmp_path, kind, caplog):
    """.treeship/unindexed is a hint: a symlink, FIFO or directory planted in
    its place is not followed and costs its hints (the sweep still finds
    every session), never the store-wide queries themselves."""
    with Store(root) as store:
        store.append_many("ssn_1", [make_event(), make_event()])
    path = root / "unindexed"
    if kind == "symlink":
        (tmp_path / "elsewhere").write_text("ssn_1\n")
        os.symlink(tmp_path / "elsewhere", path)
    elif kind == "fifo":
        os.mkfifo(path)
    else:
        path.mkdir()
    foreign_append(root, "ssn_1", 2)
    with Store(root) as store:
        assert store.count_events() == 3
        assert [s["events"] for s in store.sessions()] == [3]
        assert len(list(store.events())) == 3
    assert any("unindexed" in message for message in caplog.messages)
    assert (tmp_path / "elsewhere").read_text() == "ssn_1\n" if kind == "symlink" else True


def test_a_hint_file_naming_more_sessions_than_sqlite_takes_variables_costs_no_query(root):
    """1 MiB of hints (what one query reads) can name 263,000 distinct session
    ids, more than SQLite binds in one statement (250,000 here, 32,766 by
    default, 999 before 3.32). Looking them up must not fail every
    store-wide query for good (the position would never move on)."""
    import itertools
    import string
    with Store(root) as store:
        store.append_many("ssn_1", [make_event(), make_event()])
        assert store.count_events() == 2  # the sweep: the next queries go by the hints
    first = string.ascii_letters + string.digits + "_"
    names = (head + "".join(tail) for size in (1, 2, 3)
             for head in first for tail in itertools.product(first + ".-", repeat=size - 1))
    data = b"".join(name.encode() + b"\n" for name in names)[:freshness.unindexed.ROTATE_BYTES]
    (root / "unindexed").write_bytes(data[:data.rfind(b"\n") + 1] + b"ssn_1\n")
    foreign_append(root, "ssn_1", 2)
    with Store(root) as store:
        assert store.count_events() == 3
        assert store.count_events() == 3


def test_a_megabyte_without_a_newline_in_the_hint_file_does_not_stop_the_hints(root):
    """A query reads at most 1 MiB of hints and takes whole lines: 1 MiB with
    no newline (junk, a hostile write) is passed over, not read again by
    every query while the hints written after it are never reached."""
    sessions = [f"ssn_{i}" for i in range(3)]
    with Store(root) as store:
        for session in sessions:
            store.append_many(session, [make_event(), make_event()])
    age_the_store(root, sessions)
    (root / "unindexed").write_bytes(b"x" * (freshness.unindexed.ROTATE_BYTES + 10))
    with open(root / "unindexed", "ab") as hints:
        hints.write(b"\nssn_2\n")  # what a hook writes after appending
    foreign_append(root, "ssn_2", 2)
    with Store(root) as store:
        counts = [store.count_events() for _ in range(3)]
    assert counts[-1] == 7, counts


def test_sessions_are_listed_whole_while_another_process_indexes_a_new_one(root):
    """Hooks leave new sessions to the readers, so one reader's catch-up can
    commit a session while another lists them: the listing reads its
    sessions, agents and damaged lines from one snapshot (it raised
    KeyError for a session whose counts it saw without its row)."""
    with Store(root) as store:
        store.append("ssn_1", make_event())
    lister, other = Store(root), Store(root)
    assert [s["session_id"] for s in lister.sessions()] == ["ssn_1"]
    index = lister._index
    real = index.conn

    class Between:
        """The listing's connection; another store commits a new session
        right after the listing has read the sessions table."""
        def __getattr__(self, name):
            return getattr(real, name)

        def execute(self, sql, *args):
            result = real.execute(sql, *args)
            if sql.startswith("SELECT session_key, session_id, indexed_lines"):
                rows = result.fetchall()
                other.append("ssn_2", make_event())
                return iter(rows)
            return result
    index._conn = Between()
    try:
        listed = [s["session_id"] for s in lister.sessions()]
    finally:
        index._conn = real
        lister.close()
        other.close()
    assert listed in (["ssn_1"], ["ssn_1", "ssn_2"])
