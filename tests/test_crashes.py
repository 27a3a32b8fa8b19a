"""Real faults: processes killed with SIGKILL at each point that matters, writes
that fail half way, indexes and logs damaged behind the store's back. After
each, the lock is free, every acknowledged event is there exactly once, and
the index catches up by itself."""

import os
import resource
import signal
import sqlite3
import subprocess
import sys

import pytest

from treeship_store import Store

from support import FAULTY_PYTHON, SESSION, index_contents, make_event

APPEND = ("import sys; from treeship_store import Store\n"
          "Store(sys.argv[1]).append(sys.argv[2], {'type': 'agent.called_tool', 'tool_name': 'Crash',"
          " 'agent_id': 'agent://a', 'agent_instance_id': 'i', 'agent_name': 'a', 'host_id': 'h'})\n")


def append_with_fault(root, fault, session=SESSION, preexec_fn=None):
    return subprocess.run([*FAULTY_PYTHON, "-c", APPEND, str(root), session], capture_output=True, text=True,
                          env={**os.environ, "TREESHIP_STORE_FAULT": fault}, preexec_fn=preexec_fn, timeout=60)


def events_file(root, session=SESSION):
    return root / "sessions" / session / "events.jsonl"


def acknowledged(root, count=3):
    with Store(root) as store:
        return [e["event_id"] for e in store.append_many(SESSION, [make_event(tool_name=f"ok{i}")
                                                                    for i in range(count)])]


def assert_recovered(root, acked, crashed_line_kept):
    """The lock is free, the next append and query work, acked events are there once."""
    with Store(root, lock_timeout=2) as store:
        after = store.append(SESSION, make_event(tool_name="after"))
        ids = [e["event_id"] for e in store.events(SESSION)]
        assert ids[:len(acked)] == acked and ids[-1] == after["event_id"]
        assert len(ids) == len(set(ids)) == len(acked) + crashed_line_kept + 1
        assert [e["sequence_no"] for e in store.read_session(SESSION).events] == \
            [e["sequence_no"] for e in store.events(SESSION)]
        incremental = index_contents(root)
        store.reindex(full=True)
        assert index_contents(root) == incremental


def test_killed_holding_the_lock_before_writing(root):
    acked = acknowledged(root)
    before = events_file(root).read_bytes()
    assert append_with_fault(root, "append-locked").returncode == -signal.SIGKILL
    assert events_file(root).read_bytes() == before
    assert_recovered(root, acked, crashed_line_kept=0)


@pytest.mark.parametrize("fault", ["append-written", "catch-up-transaction"])
def test_killed_between_the_line_and_the_index_commit(root, fault):
    acked = acknowledged(root)
    assert append_with_fault(root, fault).returncode == -signal.SIGKILL
    # The line is in the record; the index has not seen it and catches up by itself.
    conn = sqlite3.connect(root / "index.db")
    assert conn.execute("SELECT indexed_lines FROM sessions").fetchone() == (3,)
    conn.close()
    assert [e["tool_name"] for e in Store(root).events(SESSION, after_seq=2)] == ["Crash"]
    assert_recovered(root, acked, crashed_line_kept=1)


def test_a_batch_killed_mid_write_is_never_seen_and_the_next_append_removes_it(root):
    acked = acknowledged(root)
    before = events_file(root).read_bytes()
    script = APPEND.replace(".append(sys.argv[2], {", ".append_many(sys.argv[2], 50 * [{").replace("})\n", "}])\n")
    result = subprocess.run([*FAULTY_PYTHON, "-c", script, str(root), SESSION], capture_output=True,
                            env={**os.environ, "TREESHIP_STORE_FAULT": "write-torn"}, timeout=60)
    assert result.returncode == -signal.SIGKILL
    left = events_file(root).read_bytes()[len(before):]
    assert left.count(b"\n") >= 20  # complete lines of the batch are in the file...
    with Store(root) as store:  # ...but not in the record: readers honour the batch record
        assert [e["event_id"] for e in store.events(SESSION)] == acked
        assert len(store.read_session(SESSION).events) == 3
        assert store.count_events() == 3 and store.stats()["damaged_lines"] == 0
        assert any("batch" in note for note in store.verify().notes)
    assert_recovered(root, acked, crashed_line_kept=0)
    data = events_file(root).read_bytes()
    assert data.startswith(before) and b"Crash" not in data  # removed by the next append, under the lock
    assert Store(root).verify().ok


def test_a_batch_killed_after_its_last_byte_is_whole_and_kept(root):
    acked = acknowledged(root)
    script = APPEND.replace(".append(sys.argv[2], {", ".append_many(sys.argv[2], 5 * [{").replace("})\n", "}])\n")
    result = subprocess.run([*FAULTY_PYTHON, "-c", script, str(root), SESSION], capture_output=True,
                            env={**os.environ, "TREESHIP_STORE_FAULT": "batch-written"}, timeout=60)
    assert result.returncode == -signal.SIGKILL
    assert (root / "sessions" / SESSION / "events.jsonl.batch").read_bytes()  # the record was left set
    assert Store(root).count_events(SESSION) == 8  # every byte was written: the batch is whole
    assert_recovered(root, acked, crashed_line_kept=5)
    assert (root / "sessions" / SESSION / "events.jsonl.batch").read_bytes() == b""


def test_a_foreign_writers_torn_tail_is_sealed_not_truncated(root):
    acked = acknowledged(root)
    before = events_file(root).read_bytes()
    torn = before.splitlines(keepends=True)[0][:50]  # Treeship's writer killed mid-line: no batch record
    with open(events_file(root), "ab") as file:
        file.write(torn)
    assert Store(root).stats()["damaged_lines"] == 0  # still looks like a line being written
    assert_recovered(root, acked, crashed_line_kept=0)
    data = events_file(root).read_bytes()
    assert data.startswith(before + torn + b"\n")  # sealed, never truncated or glued
    report = Store(root).verify()
    assert [(d.line_no, d.offset, d.length) for d in report.damaged] == [(3, len(before), len(torn))]


def test_killed_in_the_middle_of_a_reindex(root):
    with Store(root) as store:
        for i in range(5):
            store.append_many(f"ssn_{i}", [make_event()] * 20)
        list(store.events())
        expected = index_contents(root)
    result = subprocess.run([*FAULTY_PYTHON, "-m", "treeship_store", "--root", str(root), "reindex", "--full"],
                            env={**os.environ, "TREESHIP_STORE_FAULT": "catch-up-committed"}, capture_output=True)
    assert result.returncode == -signal.SIGKILL
    assert index_contents(root) == expected  # one transaction: rolled back whole, readers saw no gap
    with Store(root) as store:
        assert len(list(store.events())) == 100
        assert index_contents(root) == expected
        assert store.append("ssn_0", make_event())["sequence_no"] == 20


@pytest.mark.parametrize("fault, message", [("write-enospc", "No space left on device"),
                                            ("write-eio", "Input/output error")])
def test_disk_full_or_io_error_while_writing_the_line(root, fault, message):
    acked = acknowledged(root)
    result = subprocess.run([*FAULTY_PYTHON, "-m", "treeship_store", "--root", str(root), "append", SESSION,
                             "--type", "session.started"], env={**os.environ, "TREESHIP_STORE_FAULT": fault},
                            capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.startswith("Error: session") and message in result.stderr and "not stored" in result.stderr
    conn = sqlite3.connect(root / "index.db")
    assert conn.execute("SELECT indexed_lines FROM sessions").fetchone() == (3,)  # not advanced
    conn.close()
    assert events_file(root).read_bytes().count(b"\n") == 3  # the writer removed its own half line
    assert_recovered(root, acked, crashed_line_kept=0)
    assert Store(root).verify().ok


def test_file_size_limit_stops_a_real_write_half_way(root):
    acked = acknowledged(root)
    size = events_file(root).stat().st_size

    def limit_file_size():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG instead of being killed
        resource.setrlimit(resource.RLIMIT_FSIZE, (size + 100, size + 100))
    result = append_with_fault(root, "", preexec_fn=limit_file_size)
    assert result.returncode == 1 and "WriteError" in result.stderr and "File too large" in result.stderr
    assert events_file(root).stat().st_size == size  # the 100 bytes written were removed by their writer
    assert_recovered(root, acked, crashed_line_kept=0)


LIBRARY_APPEND = ("import sys; from treeship_store import Store\n"
                  "event = Store(sys.argv[1]).append(sys.argv[2], {'type': 'session.started', 'agent_id': 'agent://x',\n"
                  "    'agent_name': 'x', 'agent_instance_id': 'ai_x', 'host_id': 'h'})\n"
                  "print(event.raw.decode())")


def test_index_failure_after_the_line_still_stores_the_event(root):
    """The library's append indexes in the same call (the command line's and a
    hook's leave it to the next reader, so only the library's can meet this)."""
    acked = acknowledged(root)
    result = subprocess.run([*FAULTY_PYTHON, "-c", LIBRARY_APPEND, str(root), SESSION],
                            env={**os.environ, "TREESHIP_STORE_FAULT": "index-error"}, capture_output=True, text=True)
    assert result.returncode == 0
    assert "index unavailable" in result.stderr and "the index was not updated" in result.stderr
    assert '"sequence_no":3' in result.stdout  # counted from the file while the index failed
    assert [e["type"] for e in Store(root).events(SESSION, after_seq=2)] == ["session.started"]
    assert_recovered(root, acked, crashed_line_kept=1)


def test_file_ending_inside_a_utf8_sequence(root):
    acknowledged(root, 1)
    with open(events_file(root), "ab") as file:
        file.write('{"session_id":"ssn_42e740bd9eb238f6","summary":"caf\u00e9'.encode()[:-1])
    with Store(root) as store:
        assert store.append(SESSION, make_event())["sequence_no"] == 2
        [damaged] = store.read_session(SESSION).damaged
        assert damaged.reason.startswith("not UTF-8") and damaged.line_no == 1


@pytest.mark.parametrize("damage", ["delete", "truncate", "garbage"])
def test_index_deleted_truncated_or_garbage_is_rebuilt_from_the_jsonl(root, damage):
    with Store(root) as store:
        for i in range(20):
            store.append_many(f"ssn_{i}", [make_event(meta={"pad": "x" * 200})] * 30)
        expected = index_contents(root)
        jsonl = {p: p.read_bytes() for p in root.glob("sessions/*/events.jsonl")}
    path = root / "index.db"
    if damage == "delete":
        path.unlink()
    elif damage == "truncate":
        os.truncate(path, path.stat().st_size // 2)
    else:
        path.write_bytes(os.urandom(path.stat().st_size))
    with Store(root) as store:
        assert len(list(store.events())) == 600
        assert index_contents(root) == expected  # rebuilt, equal to what it was
        assert store.append("ssn_0", make_event())["sequence_no"] == 30
        assert store.verify().ok
    assert {p: p.read_bytes() for p in root.glob("sessions/*/events.jsonl")}.keys() == jsonl.keys()
    assert all(p.read_bytes().startswith(data) for p, data in jsonl.items())  # the JSONL is never touched


def test_truncated_jsonl_is_reported_by_verify_then_reindexed(root):
    acknowledged(root)
    path = events_file(root)
    first_line = path.read_bytes().split(b"\n")[0] + b"\n"
    os.truncate(path, len(first_line))
    report = Store(root).verify()
    assert any("shrank from" in p and f"to {len(first_line)} bytes" in p for p in report.problems)
    assert [e["tool_name"] for e in Store(root).events(SESSION)] == ["ok0"]
    assert Store(root).verify().ok


def test_the_fault_hook_is_inert_without_the_test_option(root):
    acked = acknowledged(root)
    result = subprocess.run([sys.executable, "-c", APPEND, str(root), SESSION], capture_output=True, timeout=60,
                            env={**os.environ, "TREESHIP_STORE_FAULT": "write-torn"})
    assert result.returncode == 0
    assert [e["tool_name"] for e in Store(root).events(SESSION)] == ["ok0", "ok1", "ok2", "Crash"]
    assert len(acked) == 3
