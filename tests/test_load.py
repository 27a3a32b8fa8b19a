"""32 writer processes, library and command line mixed, on one session and on
eight, while other processes query, verify and rebuild the index."""

import subprocess
import sys

import pytest

from treeship_store import Store

from support import index_contents

pytestmark = pytest.mark.slow

LIBRARY_WRITER = """
import sys
from treeship_store import Store
root, sessions, count = sys.argv[1], sys.argv[2].split(","), int(sys.argv[3])
with Store(root) as store:
    for i in range(count):
        event = store.append(sessions[i % len(sessions)], {"type": "agent.called_tool", "tool_name": f"t{i}",
            "agent_id": "agent://lib", "agent_instance_id": "ai_lib", "agent_name": "lib", "host_id": "h"})
        print(event["session_id"], event["event_id"], flush=True)  # acknowledged
"""
CLI_WRITER = """
for i in $(seq 1 "$3"); do
  session=$(echo "$2" | tr ',' '\\n' | sed -n "$(( (i - 1) % $(echo "$2" | tr ',' '\\n' | wc -l) + 1 ))p")
  "$4" -m treeship_store --root "$1" append "$session" --type agent.read_file --file "f$i" \\
      --agent-id agent://cli --json || exit 1
done
"""
READER = """
import os, sys
from treeship_store import Store
root, stop = sys.argv[1], sys.argv[2]
rounds = 0
while not os.path.exists(stop) or rounds < 3:
    rounds += 1
    with Store(root) as store:
        for summary in store.sessions():
            seqs = [e["sequence_no"] for e in store.events(summary["session_id"])]
            assert seqs == sorted(set(seqs)), "sequence numbers out of order or repeated"
            assert seqs == list(range(len(seqs))), "a reader saw a gap"
        assert store.stats()["damaged_lines"] == 0, "a line being written was taken for damage"
        report = store.verify()
        assert report.ok, report.problems + [str(d) for d in report.damaged]
print("rounds", rounds)
"""
REINDEXER = """
import os, sys
from treeship_store import Store
root, stop = sys.argv[1], sys.argv[2]
rounds = 0
while not os.path.exists(stop) or rounds < 2:
    rounds += 1
    with Store(root) as store:
        store.reindex(full=True)
print("rounds", rounds)
"""


def run_load(root, sessions, tmp_path):
    Store(root).append(sessions[0], {"type": "session.started", "agent_id": "agent://lib",
                                     "agent_instance_id": "ai_lib", "agent_name": "lib", "host_id": "h"})
    stop = tmp_path / "stop"
    joined = ",".join(sessions)
    writers = [subprocess.Popen([sys.executable, "-c", LIBRARY_WRITER, str(root), joined, "25"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(24)]
    writers += [subprocess.Popen(["bash", "-c", CLI_WRITER, "cli", str(root), joined, "5", sys.executable],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(8)]
    others = [subprocess.Popen([sys.executable, "-c", script, str(root), str(stop)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True) for script in (READER, READER, REINDEXER)]
    acked = []
    for writer in writers:
        out, err = writer.communicate(timeout=300)
        assert writer.returncode == 0, err
        assert "locked" not in err, err
        for line in out.splitlines():
            acked.append(tuple(line.split()[:2]) if not line.startswith("{") else
                         (line.split('"session_id":"')[1].split('"')[0], line.split('"event_id":"')[1].split('"')[0]))
    stop.touch()
    for other in others:
        out, err = other.communicate(timeout=300)
        assert other.returncode == 0, err
        assert "locked" not in err and out.startswith("rounds"), err
    return acked


def check_final_state(root, sessions, acked):
    assert len(acked) == 24 * 25 + 8 * 5
    with Store(root) as store:
        stored = []
        for session in sessions:
            contents = store.read_session(session)
            assert contents.damaged == []
            assert [e["sequence_no"] for e in contents.events] == list(range(len(contents.events)))
            stored += [(session, e["event_id"]) for e in contents.events]
        assert len(stored) == len(set(stored)) == len(acked) + 1
        assert set(acked) <= set(stored)  # every acknowledged event, exactly once
        incremental = index_contents(root)
        store.reindex(full=True)
        assert index_contents(root) == incremental
        assert store.verify().ok


def test_32_writers_on_one_session_with_readers_and_reindex(root, tmp_path):
    sessions = ["ssn_load"]
    check_final_state(root, sessions, run_load(root, sessions, tmp_path))


def test_32_writers_on_eight_sessions_with_readers_and_reindex(root, tmp_path):
    sessions = [f"ssn_load_{i}" for i in range(8)]
    check_final_state(root, sessions, run_load(root, sessions, tmp_path))
