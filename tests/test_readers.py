"""Readers under concurrent writers, with real processes: an answer is always
a whole index's answer, and several Stores in one process stay correct."""

import subprocess
import sys
import threading
import time

import pytest

from treeship_store import Store

from support import make_event

REINDEX_LOOP = """
import sys, time
from treeship_store import Store
store = Store(sys.argv[1])
rounds = 0
deadline = time.monotonic() + float(sys.argv[2])
while time.monotonic() < deadline or rounds < 3:
    store.reindex(full=True)
    rounds += 1
print(rounds)
"""

APPEND_LOOP = """
import sys
from treeship_store import Store
store = Store(sys.argv[1])
for i in range(int(sys.argv[3])):
    store.append(sys.argv[2], {"type": "agent.called_tool", "tool_name": f"t{i}", "agent_id": "agent://a",
                               "agent_instance_id": "i", "agent_name": "a", "host_id": "h"})
"""

SESSIONS = [f"ssn_{i}" for i in range(6)]
PER_SESSION = 500


@pytest.mark.slow
def test_readers_never_see_a_partial_index_while_another_process_rebuilds_it(root):
    with Store(root) as store:
        for session in SESSIONS:
            store.append_many(session, [make_event(tool_name=f"x{i}") for i in range(PER_SESSION)])
    rebuilder = subprocess.Popen([sys.executable, "-c", REINDEX_LOOP, str(root), "3"], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
    answers = 0
    with Store(root) as store:
        while rebuilder.poll() is None:
            session = SESSIONS[answers % len(SESSIONS)]
            assert store.count_events(session) == PER_SESSION
            assert store.count_events() == PER_SESSION * len(SESSIONS)
            assert [s["events"] for s in store.sessions()] == [PER_SESSION] * len(SESSIONS)
            assert len(list(store.events(session, after_seq=PER_SESSION - 11))) == 10
            answers += 1
    out, err = rebuilder.communicate()
    assert rebuilder.returncode == 0, err
    assert int(out) >= 3 and answers > 20


@pytest.mark.slow
def test_two_stores_in_threads_beside_an_appending_process(root):
    with Store(root) as store:
        store.append("ssn_w", make_event())
    failures = []
    stop = threading.Event()

    def query_loop():
        try:
            while not stop.is_set():
                with Store(root) as mine:  # one per request, as a web server opens them
                    counted = mine.count_events("ssn_w")
                    read = [e["sequence_no"] for e in mine.events("ssn_w")]
                    assert len(read) >= counted and read == list(range(len(read)))
                    mine.sessions()
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            failures.append(repr(error))
    threads = [threading.Thread(target=query_loop) for _ in range(2)]
    for thread in threads:
        thread.start()
    writer = subprocess.run([sys.executable, "-c", APPEND_LOOP, str(root), "ssn_w", "400"], capture_output=True,
                            text=True, timeout=120)
    time.sleep(0.2)
    stop.set()
    for thread in threads:
        thread.join()
    assert writer.returncode == 0, writer.stderr
    assert failures == []
    with Store(root) as store:
        assert store.count_events("ssn_w") == 401
        assert store.verify().ok
