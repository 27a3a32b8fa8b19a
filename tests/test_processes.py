"""Many real processes appending at once: positions unique, index exact."""

import multiprocessing
import subprocess
import sys

import pytest

from treeship_store import Store

from support import SESSION, index_contents, make_event

pytestmark = pytest.mark.slow


def append_events(root, session, count, start_barrier):
    start_barrier.wait()
    with Store(root) as store:
        for i in range(count):
            store.append(session, make_event(tool_name=f"tool_{i}"))


def run_processes(root, sessions, per_process):
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(len(sessions))
    processes = [context.Process(target=append_events, args=(root, session, per_process, barrier))
                 for session in sessions]
    for process in processes:
        process.start()
    for process in processes:
        process.join(120)
        assert process.exitcode == 0


def test_sixteen_processes_get_unique_positions(root):
    run_processes(root, [SESSION] * 16, 100)
    store = Store(root)
    contents = store.read_session(SESSION)
    assert contents.damaged == []
    assert sorted(e["sequence_no"] for e in contents.events) == list(range(1600))
    assert [e["sequence_no"] for e in contents.events] == list(range(1600))  # sequence_no is the line position
    assert [e["sequence_no"] for e in store.events(SESSION)] == list(range(1600))
    incremental = index_contents(root)
    store.reindex(full=True)
    assert index_contents(root) == incremental
    assert store.verify().ok


def test_several_sessions_at_once(root):
    sessions = [f"ssn_{i % 4}" for i in range(12)]
    run_processes(root, sessions, 50)
    store = Store(root)
    for i in range(4):
        assert [e["sequence_no"] for e in store.read_session(f"ssn_{i}").events] == list(range(150))
    assert {s["session_id"]: s["events"] for s in store.sessions()} == {f"ssn_{i}": 150 for i in range(4)}
    incremental = index_contents(root)
    store.reindex(full=True)
    assert index_contents(root) == incremental


def test_one_process_writes_to_more_sessions_than_it_may_open_files(root):
    # With every lock file kept open, the 200th session would fail with EMFILE.
    script = f"""
import resource
from treeship_store import Store
resource.setrlimit(resource.RLIMIT_NOFILE, (150, 150))
with Store({str(root)!r}) as store:
    for i in range(400):
        store.append(f"s{{i}}", {make_event()!r})
    print(sum(1 for _ in store.events()))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["400"]
    assert len(Store(root).session_ids()) == 400
