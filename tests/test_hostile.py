"""Hostile input against the index: values SQLite cannot hold, extreme times,
an index.db that is not ours, files that vanish, ties, driver errors."""

import os
import shutil
import sqlite3
import subprocess
import sys

import orjson
import pytest

from treeship_store import LockTimeout, Store, StoreError, UnsafePath, ValidationError
from treeship_store.event import prepare

from support import SESSION, make_event


def events_file(root, session=SESSION):
    return root / "sessions" / session / "events.jsonl"


def foreign_line(session, seq, event_type="agent.called_tool", **fields):
    """A line another tool wrote: valid envelope, any field values."""
    event = prepare(make_event(event_type), session)
    event.update(fields, sequence_no=seq)
    return orjson.dumps(event) + b"\n"


def test_values_sqlite_cannot_hold_cost_only_their_column(store, root):
    store.append(SESSION, make_event())  # the session exists; the rest is one catch-up
    with open(events_file(root), "ab") as file:
        file.write(foreign_line(SESSION, 1, "agent.decision", model="opus", tokens_in=2**63, tokens_out=2**64 - 1))
        file.write(foreign_line(SESSION, 2, "agent.wrote_file", file_path=["a", "b"]))
        file.write(foreign_line(SESSION, 3, "agent.called_tool", tool_name={"x": 1}, duration_ms=2**64 - 1))
        file.write(foreign_line(SESSION, 4, "agent.decision", model=7, tokens_in=5))
    store.append(SESSION, make_event("agent.decision", model="opus", tokens_in=2**64 - 1))  # the schema's u64
    for attempt in ("as appended", "after a full reindex", "after deleting index.db"):
        events = list(store.events(SESSION))
        assert [e["sequence_no"] for e in events] == [0, 1, 2, 3, 4, 5], attempt
        assert events[1]["tokens_in"] == 2**63 and events[2]["file_path"] == ["a", "b"], attempt
        assert store.count_events(type="agent.decision") == 3
        assert store.stats()["tokens_by_model"]["opus"]["decisions"] == 2
        assert store.files() == []  # a list is no path: nothing to group by
        assert store.verify().problems  # the schema's types are still checked
        if attempt == "as appended":
            store.reindex(full=True)
        elif attempt == "after a full reindex":
            store.close()
            os.unlink(root / "index.db")


@pytest.mark.parametrize("stamp, shown", [
    ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00Z"),
    ("9999-12-31T23:59:59.999999Z", "9999-12-31T23:59:59.999999Z"),
    ("1970-01-01T00:00:00Z", "1970-01-01T00:00:00Z"),
    ("1969-12-31T23:59:59.999999Z", "1969-12-31T23:59:59.999999Z"),
])
def test_times_at_the_ends_of_the_range_come_back_as_times(store, stamp, shown):
    store.append(SESSION, make_event("agent.wrote_file", timestamp=stamp))
    (summary,) = store.sessions()
    assert summary["first"] == summary["last"] == shown
    assert store.files()[0]["first"] == shown
    assert [e["timestamp"] for e in store.events(since=stamp)] == [stamp]
    assert list(store.events(until=stamp)) == []


@pytest.mark.parametrize("stamp", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-00:01"])
def test_times_outside_the_range_are_refused_by_append(store, root, stamp):
    with pytest.raises(ValidationError, match="between 0001-01-01T00:00:00Z and 9999-12-31"):
        store.append(SESSION, make_event(timestamp=stamp))
    assert not events_file(root).exists()


def test_a_foreign_line_with_a_time_outside_the_range_is_indexed_without_a_time(store, root):
    store.append(SESSION, make_event(timestamp="2026-01-01T00:00:00Z"))
    with open(events_file(root), "ab") as file:
        file.write(foreign_line(SESSION, 1, timestamp="0001-01-01T00:00:00+01:00"))
    assert [e["sequence_no"] for e in store.events(SESSION)] == [0, 1]
    assert store.sessions()[0]["first"] == "2026-01-01T00:00:00Z"
    assert len(list(store.events(since="0001-01-01T00:00:00Z"))) == 1


@pytest.mark.parametrize("user_version", [0, 2, 99])
def test_an_index_db_of_another_schema_is_rebuilt_like_a_corrupt_one(store, root, user_version):
    store.append_many(SESSION, [make_event()] * 3)
    store.close()
    os.unlink(root / "index.db")
    conn = sqlite3.connect(root / "index.db")
    conn.executescript(f"CREATE TABLE sessions (name TEXT); CREATE TABLE events (x); "
                       f"PRAGMA user_version = {user_version};")
    conn.close()
    with Store(root) as fresh:
        assert any("cannot be used" in p or "not a treeship-store" in p for p in fresh.verify().problems)
        assert fresh.count_events() == 3 and len(list(fresh.events(SESSION))) == 3
        assert fresh.verify().ok


def test_an_index_missing_a_table_is_rebuilt(store, root):
    store.append_many(SESSION, [make_event()] * 3)
    conn = sqlite3.connect(root / "index.db")
    conn.execute("DROP TABLE event_totals")
    conn.close()
    assert store.stats()["events"] == 3


def test_a_deleted_events_file_is_forgotten_and_reported(store, root):
    store.append_many("ssn_keep", [make_event()] * 2)
    store.append_many(SESSION, [make_event("agent.wrote_file")] * 3)
    os.unlink(events_file(root))
    report = store.verify()
    assert any("events.jsonl is gone" in p for p in report.problems)
    assert store.count_events() == 2 and store.stats()["events"] == 2
    assert [s["session_id"] for s in store.sessions()] == ["ssn_keep"]
    assert len(list(store.events())) == 2 and list(store.events(SESSION)) == []
    assert store.verify().ok


def test_no_driver_error_reaches_a_caller(store, root):
    store.append(SESSION, make_event())
    store.close()
    os.symlink(root / "elsewhere", root / "index.db-wal")
    with pytest.raises(StoreError, match="index.db-wal is a symlink"):
        Store(root).count_events()
    assert not (root / "elsewhere").exists()
    os.unlink(root / "index.db-wal")
    os.rename(root / "index.db.lock", root / "lock-target")
    os.symlink(root / "lock-target", root / "index.db.lock")
    with Store(root) as fresh:
        assert fresh.append(SESSION, make_event())["sequence_no"] == 1  # the index refused, not the append
        with pytest.raises(UnsafePath, match="index.db.lock is a symlink"):
            fresh.count_events()
    os.unlink(root / "index.db.lock")
    with pytest.raises(ValidationError):
        store.events(after_seq=2**70)
    with pytest.raises(ValidationError):
        store.events(agent=5)
    with pytest.raises(ValidationError):
        Store("a\0b")
    with pytest.raises(ValidationError):
        Store(root, lock_timeout=float("nan"))


def test_equal_times_across_sessions_order_by_session_then_sequence_and_survive_a_rebuild(store, root):
    stamp = "2026-04-05T08:00:00Z"
    for session in ("ssn_c", "ssn_a", "ssn_b"):  # indexed in an order unlike their ids
        store.append_many(session, [make_event(timestamp=stamp)] * 3)
    expected = [(s, q) for s in ("ssn_a", "ssn_b", "ssn_c") for q in range(3)]

    def order(**filters):
        return [(e["session_id"], e["sequence_no"]) for e in store.events(until="2026-04-05T08:30:00Z", **filters)]
    for attempt in range(2):
        assert order() == expected
        assert order(newest_first=True) == expected[::-1]
        assert order(limit=4) == expected[:4]
        assert order(agent="claude-code", limit=4) == expected[:4]
        assert order(session=["ssn_b", "ssn_b"]) == expected[3:6]
        store.close()
        os.unlink(root / "index.db")
        store.append("ssn_0", make_event(timestamp="2026-04-05T09:00:00Z"))  # keys handed out anew


def test_a_symlinked_session_directory_is_never_followed(store, root, tmp_path):
    outside = tmp_path / "outside"
    store.append(SESSION, make_event())
    other = root / "sessions" / "ssn_other"
    store.append("ssn_other", make_event())
    (root / "sessions" / SESSION).rename(tmp_path / "moved")
    os.symlink(outside, root / "sessions" / SESSION)
    outside.mkdir()
    with pytest.raises(UnsafePath, match="symlink"):
        store.append(SESSION, make_event())  # the long-lived Store has SESSION's lock open
    with pytest.raises(UnsafePath):
        list(store.events(SESSION))
    assert list(outside.iterdir()) == []
    assert [e["session_id"] for e in store.events()] == ["ssn_other"]  # left out of store-wide answers
    assert other.is_dir()


def test_a_symlinked_sessions_directory_is_refused(root, tmp_path):
    Store(root).append(SESSION, make_event())
    (root / "sessions").rename(tmp_path / "real")
    os.symlink(tmp_path / "real", root / "sessions")
    with Store(root) as store:
        for call in (store.count_events, store.sessions, lambda: store.append(SESSION, make_event())):
            with pytest.raises(UnsafePath, match="symlink"):
                call()
    assert (tmp_path / "real" / SESSION / "events.jsonl").read_bytes().count(b"\n") == 1


def test_a_session_directory_replaced_by_a_copy_does_not_give_two_writers_the_lock(store, root):
    store.append(SESSION, make_event())  # the Store keeps this session's lock file open
    directory = root / "sessions" / SESSION
    shutil.copytree(directory, root / "sessions" / "copy")
    directory.rename(root / "sessions" / "old")
    (root / "sessions" / "copy").rename(directory)
    with store._log(SESSION).locked(5):
        with pytest.raises(LockTimeout):
            Store(root, lock_timeout=0.2).append(SESSION, make_event())
    assert [e["sequence_no"] for e in store.append_many(SESSION, [make_event()] * 2)] == [1, 2]
    assert Store(root).verify().ok


def run_with_timeout(root, *args):
    return subprocess.run([sys.executable, "-m", "treeship_store", "--root", str(root), *args],
                          capture_output=True, text=True, timeout=30)


def test_a_fifo_in_place_of_a_file_is_refused_without_hanging(store, root):
    store.append("ssn_ok", make_event())
    os.makedirs(root / "sessions" / SESSION)
    os.mkfifo(events_file(root))
    for command in (["events"], ["sessions"], ["stats"]):
        result = run_with_timeout(root, *command)
        assert result.returncode == 0, result.stderr
        assert "not a regular file" in result.stderr
    assert "ssn_ok" in run_with_timeout(root, "sessions").stdout
    result = run_with_timeout(root, "verify")
    assert result.returncode == 1 and "not a regular file" in result.stdout
    result = run_with_timeout(root, "events", "--session", SESSION)
    assert result.returncode == 1 and result.stderr.startswith("Error:") and "not a regular file" in result.stderr
    store.close()
    os.unlink(root / "index.db")
    os.mkfifo(root / "index.db")
    result = run_with_timeout(root, "verify")
    assert result.returncode == 1 and "index.db is not a regular file" in result.stdout


def test_one_unusable_session_is_left_out_and_the_rest_answer(store, root, caplog):
    store.append_many("ssn_ok", [make_event()] * 2)
    store.append(SESSION, make_event())
    os.unlink(events_file(root))
    os.mkdir(events_file(root))  # a directory in place of events.jsonl
    assert store.count_events() == 2 and store.stats()["events"] == 2
    assert [s["session_id"] for s in store.sessions()] == ["ssn_ok"]
    assert "left out" in caplog.text and "not a regular file" in caplog.text
    assert any("not a regular file" in p for p in store.verify().problems)


def test_modes_are_tightened_and_parents_created_private(tmp_path):
    old = os.umask(0)
    try:
        root = tmp_path / "a" / "b" / ".treeship"
        root.mkdir(parents=True, mode=0o777)
        os.chmod(tmp_path / "a", 0o777)
        lock = root / "index.db.lock"
        lock.touch(mode=0o666)
        Store(root).append(SESSION, make_event())
        assert lock.stat().st_mode & 0o777 == 0o600
        assert (root / "index.db").stat().st_mode & 0o777 == 0o600
        deep = tmp_path / "x" / "y" / ".treeship"
        Store(deep).append(SESSION, make_event())
        for directory in (tmp_path / "x", tmp_path / "x" / "y", deep, deep / "sessions"):
            assert directory.stat().st_mode & 0o777 == 0o700, directory
    finally:
        os.umask(old)


def test_verify_changes_nothing_and_never_follows_index_db(store, root, tmp_path):
    store.append(SESSION, make_event())
    store.close()
    before = sorted(os.listdir(root))
    assert Store(root).verify().ok
    assert sorted(os.listdir(root)) == before  # no -wal or -shm left behind
    target = tmp_path / "target.db"
    os.rename(root / "index.db", target)
    os.symlink(target, root / "index.db")
    report = Store(root).verify()
    assert any("symlink" in p for p in report.problems)
    assert sorted(os.listdir(tmp_path)) == sorted(["target.db", ".treeship"])


def test_verify_does_not_report_a_session_created_while_it_lists(store, root, monkeypatch):
    store.append("ssn_a", make_event())
    real = Store.session_ids

    def listing_then_a_new_session(self):
        names = real(self)
        Store(root).append("ssn_new", make_event())  # another process, just after the listing
        return names
    monkeypatch.setattr(Store, "session_ids", listing_then_a_new_session)
    report = store.verify()
    assert report.problems == [], report.problems


def test_index_db_is_opened_only_by_sqlite(store, root, monkeypatch):
    # Closing any descriptor of a file drops every POSIX lock the process holds
    # on it, SQLite's included: a second Store in another thread would lose its.
    opened = []
    real_open = os.open

    def recording_open(path, *args, **kwargs):
        opened.append(os.fspath(path))
        return real_open(path, *args, **kwargs)
    monkeypatch.setattr(os, "open", recording_open)
    store.append(SESSION, make_event())
    with Store(root) as second:
        second.count_events()
        second.verify()
        second.reindex(full=True)
    store.close()
    os.unlink(root / "index.db")
    Store(root).append(SESSION, make_event())  # creates it
    assert any(path.endswith("events.jsonl") for path in opened)
    assert [path for path in opened if path.endswith(("index.db", "index.db-wal", "index.db-shm"))] == []
    assert (root / "index.db").stat().st_mode & 0o777 == 0o600


def test_a_symlink_planted_as_the_batch_record_costs_only_its_session(store, root, tmp_path, caplog):
    store.append("ssn_ok", make_event())
    store.append(SESSION, make_event())
    store.close()
    target = tmp_path / "target"
    target.write_bytes(b"0 999999\n")
    os.unlink(root / "sessions" / SESSION / "events.jsonl.batch")
    os.symlink(target, root / "sessions" / SESSION / "events.jsonl.batch")
    with open(events_file(root), "ab") as file:  # a line behind the index, so the session is caught up
        file.write(foreign_line(SESSION, 1))
    with Store(root) as fresh:
        with pytest.raises(UnsafePath, match="symlink"):
            fresh.append(SESSION, make_event())
        assert [e["session_id"] for e in fresh.events()] == ["ssn_ok"]
        assert "left out" in caplog.text
        assert any("events.jsonl.batch is a symlink" in p for p in fresh.verify().problems)
    assert target.read_bytes() == b"0 999999\n"
