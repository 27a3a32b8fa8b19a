"""The 10,000,000-event run (issue 12), beside bench.py's 1M: generate the
corpus, time a full reindex as a new process, then the headline questions on
sessions a month idle, and append latency into the longest session.

    python scripts/ten_million.py WORK_DIR     # about 4.4 GB of JSONL, ~5 minutes
"""

import glob
import os
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import corpus  # noqa: E402

from treeship_store import Store  # noqa: E402

EVENT = {"type": "agent.called_tool", "tool_name": "Read", "agent_id": "agent://a", "agent_instance_id": "i",
         "agent_name": "a", "host_id": "h"}


def median_ms(question, repeats=20):
    question()
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        question()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000


def main():
    root = Path(sys.argv[1]) / ".treeship"
    started = time.time()
    corpus.generate(root, 10_000_000, 10_000)
    print(f"generated in {time.time() - started:.0f} s")
    cli = str(Path(sys.executable).with_name("treeship-store"))
    timed = subprocess.run(["/usr/bin/time", "-f", "%e s, peak RSS %M KB", cli, "--root", str(root), "reindex",
                            "--full"], capture_output=True, text=True, check=True)
    print("reindex --full:", timed.stderr.strip().splitlines()[-1])
    jsonl = sum(os.path.getsize(p) for p in glob.glob(f"{root}/sessions/*/events.jsonl"))
    print(f"index.db {os.path.getsize(root / 'index.db') / jsonl:.3f} of the JSONL ({jsonl / 2**30:.1f} GiB)")
    month_ago = time.time() - 30 * 86400
    for path in glob.glob(f"{root}/sessions/*/events.jsonl"):
        os.utime(path, (month_ago, month_ago))
    conn = sqlite3.connect(root / "index.db")
    conn.execute("DELETE FROM index_meta WHERE name = 'swept_ns'")  # the next query sweeps
    conn.commit()
    conn.close()
    store = Store(root)
    started = time.perf_counter()
    store.counts()
    print(f"one sweep of 10,000 sessions: {1000 * (time.perf_counter() - started):.0f} ms")
    session = store.session_ids()[0]
    questions = {
        "agent + type, newest 50": lambda: list(store.events(agent="claude-code", type="agent.wrote_file",
                                                             newest_first=True, limit=50)),
        "agent only, newest 50": lambda: list(store.events(agent="claude-code", newest_first=True, limit=50)),
        "one session, sequence 100..199": lambda: list(store.events(session, after_seq=99, limit=100)),
        "counts": store.counts,
    }
    for name, question in questions.items():
        print(f"{name}: {median_ms(question):.2f} ms")
    longest = max(store.sessions(), key=lambda summary: summary["events"])
    samples = []
    for _ in range(200):
        started = time.perf_counter_ns()
        store.append(longest["session_id"], EVENT)
        samples.append(time.perf_counter_ns() - started)
    print(f"append p50 into a {longest['events']:,}-event session: {statistics.median(samples) / 1000:.0f} us")


if __name__ == "__main__":
    main()
