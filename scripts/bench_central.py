"""Benchmarks of the central PostgreSQL store (issue 14), in one run:

10. push throughput: one host's store (the benchmark corpus) pushed into a
    local PostgreSQL (a throwaway cluster on a Unix socket, fsync off as in
    the tests), events/s; target at least 50,000. Over one connection and
    over push's default, side by side.
11. the headline questions asked of the central store (--db) beside the
    same asked of the local index, after the push.

    python scripts/bench_central.py [--events 1000000] [--sessions 1000] [--json bench-central.json]

Needs PostgreSQL's server binaries (pg_config --bindir) and the postgres
extra; as root, the server runs as the postgres user.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))
import corpus  # noqa: E402
from support.pg_cluster import Cluster  # noqa: E402

from treeship_store import Store  # noqa: E402
from treeship_store.central import JOBS, CentralStore, push  # noqa: E402

QUESTIONS = {
    "agent + type, newest 50": lambda s: list(s.events(agent="claude-code", type="agent.wrote_file",
                                                       newest_first=True, limit=50)),
    "agent only, newest 50": lambda s: list(s.events(agent="codex", newest_first=True, limit=50)),
    "files written by one agent (files)": lambda s: s.files(agent="codex"),
    "failed processes, newest 20": lambda s: list(s.events(failed=True, newest_first=True, limit=20)),
    "stats": lambda s: s.stats(),
}


def timed(question, store, repeats=7) -> float:
    question(store)
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        question(store)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--sessions", type=int, default=1_000)
    parser.add_argument("--json", default="bench-central.json")
    args = parser.parse_args()
    results: dict = {"events": args.events, "sessions": args.sessions}
    cluster = Cluster()
    try:
        with tempfile.TemporaryDirectory(prefix="treeship-bench-central-") as work:
            root = corpus.generate(Path(work) / "store", args.events, args.sessions)
            local = Store(root)
            local.reindex()
            for jobs, name in ((1, "10. push over one connection (--jobs 1)"), (JOBS, "10. push")):
                url = cluster.create_database(f"bench{jobs}")
                started = time.perf_counter()
                report = push(local, url, jobs=jobs)
                seconds = time.perf_counter() - started
                results[name] = {"jobs": jobs, "lines": report.lines, "seconds": round(seconds, 2),
                                 "events_per_s": round(report.lines / seconds), "target": ">= 50,000/s",
                                 "met": report.lines / seconds >= 50_000}
                if jobs == 1:  # only the second is asked questions: not two copies in the server's memory
                    cluster.drop_database("bench1")
            print(json.dumps(results, indent=2), flush=True)
            with CentralStore(url) as central:  # statistics for the planner, as autovacuum would gather them
                central.backend.conn.execute("ANALYZE")
            again = push(local, url)
            results["10. push again (nothing new)"] = {"lines": again.lines, "seconds": round(again.seconds, 3)}
            with CentralStore(url) as central:
                results["11. questions, ms (local index / central)"] = {
                    name: [round(timed(question, local), 2), round(timed(question, central), 2)]
                    for name, question in QUESTIONS.items()}
    finally:
        cluster.close()
    print(json.dumps(results, indent=2))
    with open(args.json, "w") as out:
        json.dump({"date": time.strftime("%Y-%m-%d"), **results}, out, indent=2)


if __name__ == "__main__":
    main()
