"""The session lock, durability and hostile input."""

import errno
import fcntl
import os
import subprocess
import sys
import threading
import time

import pytest

from treeship_store import LockTimeout, LockUnsupported, SessionIdError, Store, ValidationError
from treeship_store.store import FSYNC_ENV

from support import SESSION, make_event

HOLD = ("import fcntl, sys, time\n"
        "fd = open(sys.argv[1], 'a')\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\n"  # as Treeship's own writer does
        "print('held', flush=True)\n"
        "time.sleep(120)\n")


def hold_lock(root, session=SESSION):
    lock = root / "sessions" / session / "events.jsonl.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(lock)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline() == "held\n"
    return holder


def test_a_hanging_lock_holder_times_out_the_writer_and_nothing_is_written(root):
    Store(root).append(SESSION, make_event())
    before = (root / "sessions" / SESSION / "events.jsonl").read_bytes()
    holder = hold_lock(root)
    try:
        started = time.monotonic()
        with pytest.raises(LockTimeout, match="still held by another process after 0.5s; nothing was written"):
            Store(root, lock_timeout=0.5).append(SESSION, make_event())
        assert time.monotonic() - started >= 0.5
        result = subprocess.run([sys.executable, "-m", "treeship_store", "--root", str(root), "append", SESSION,
                                 "--type", "session.started", "--lock-timeout", "0.3"], capture_output=True, text=True)
        assert result.returncode == 1 and result.stderr.startswith("Error: session") and "still held" in result.stderr
    finally:
        holder.kill()
        holder.wait()
    assert (root / "sessions" / SESSION / "events.jsonl").read_bytes() == before


def test_a_killed_holder_frees_the_lock_for_the_next_writer(root):
    holder = hold_lock(root)
    done = {}

    def append():
        done["event"] = Store(root, lock_timeout=30).append(SESSION, make_event())
    writer = threading.Thread(target=append)
    writer.start()
    time.sleep(0.3)
    assert writer.is_alive()  # waiting for the lock
    holder.kill()  # SIGKILL: the kernel releases the flock
    holder.wait()
    writer.join(10)
    assert done["event"]["sequence_no"] == 0


def test_filesystem_without_flock_is_refused_not_soft_locked(root, monkeypatch):
    def no_flock(fd, operation):
        raise OSError(errno.ENOSYS, "Function not implemented")
    monkeypatch.setattr(fcntl, "flock", no_flock)
    with pytest.raises(LockUnsupported, match="does not support flock"):
        Store(root).append(SESSION, make_event())
    session_dir = root / "sessions" / SESSION
    assert sorted(p.name for p in session_dir.iterdir()) == ["events.jsonl.lock"]  # no data, no soft-lock marker


def test_fsync_makes_line_and_new_directory_entry_durable(root, monkeypatch):
    synced = []
    real_fsync = os.fsync

    def counting_fsync(fd):
        synced.append(os.path.basename(os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)
    monkeypatch.setattr(os, "fsync", counting_fsync)
    Store(root).append(SESSION, make_event())
    assert synced == []  # default: written and flushed to the OS, not fsynced
    store = Store(root, fsync=True)
    store.append("ssn_new", make_event())
    # The new session's entry in sessions/, the new files' entries in it, the
    # batch record before the line it covers, then the line.
    assert synced == ["sessions", "ssn_new", "events.jsonl.batch", "events.jsonl"]
    synced.clear()
    store.append("ssn_new", make_event())
    assert synced == ["events.jsonl.batch", "events.jsonl"]
    monkeypatch.setenv(FSYNC_ENV, "1")
    assert Store(root).fsync is True


@pytest.mark.parametrize("bad", ["..", "../x", "/abs/path", "a/b", "x\x00y", "ssn_ａｂ", "ssn_\u0430", "x" * 1000, ""])
def test_hostile_session_ids_are_refused_before_touching_the_disk(tmp_path, bad):
    root = tmp_path / "root"
    with pytest.raises(SessionIdError):
        Store(root).append(bad, make_event())
    assert not root.exists()


@pytest.mark.parametrize("fields, message", [
    ({"meta": "x" * 10_000_000}, "over the 1048576-byte line limit"),
    ({"meta": {"text": "bad \udcff"}}, "not valid UTF-8"),
    ({"meta": {"v": float("nan")}}, "NaN or infinity"),
    ({"duration_ms": float("inf")}, "must be an unsigned integer"),
    ({"meta": {"n": 2**64}}, "64-bit"),
    ({"duration_ms": 2**64}, "must be between 0 and 18446744073709551615"),
])
def test_hostile_events_are_refused_and_nothing_is_written(root, fields, message):
    Store(root).append(SESSION, make_event())
    before = (root / "sessions" / SESSION / "events.jsonl").read_bytes()
    with pytest.raises(ValidationError, match=message):
        Store(root).append(SESSION, make_event(**fields))
    assert (root / "sessions" / SESSION / "events.jsonl").read_bytes() == before


def test_ten_thousand_levels_of_meta_are_refused(root):
    meta = {}
    for _ in range(10_000):
        meta = {"m": meta}
    with pytest.raises(ValidationError, match="cannot be written as JSON"):
        Store(root).append(SESSION, make_event(meta=meta))
    assert not (root / "sessions" / SESSION / "events.jsonl").exists()


def test_line_limit_is_configurable(root):
    big = make_event(meta="x" * 2_000_000)
    with pytest.raises(ValidationError):
        Store(root).append(SESSION, big)
    assert len(Store(root, max_line_bytes=4 << 20).append(SESSION, big).raw) > 2_000_000
