"""Pruning a year of sessions (issue 26): 1,000 sessions a month for 12
months (10 events each), the oldest 9 months pruned, timed side by side in
one run against what a user would do instead: delete those session
directories by hand, then let the index notice (`reindex`, which forgets a
session whose file is gone). Both on copies of the same store. With
--central, the same year pushed to a throwaway PostgreSQL cluster and pruned
there (9 month partitions dropped), against deleting the same sessions' rows.

    python scripts/bench_prune.py [--per-month 1000] [--central] [--json bench-prune.json]
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from treeship_store import Store  # noqa: E402


def build(root: Path, per_month: int, months: int) -> None:
    start = datetime(2025, 1, 1, tzinfo=timezone.utc)
    with Store(root) as store:
        for month in range(months):
            for n in range(per_month):
                at = start + timedelta(days=30 * month + n % 28, minutes=n)
                store.append_many(f"ssn_{month:02d}_{n:05d}", [
                    {"type": "agent.called_tool", "tool_name": "Read", "agent_id": "agent://claude-code",
                     "agent_instance_id": "ai_cc_1", "agent_name": "claude-code", "host_id": "bench",
                     "timestamp": (at + timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%SZ")} for i in range(10)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-month", type=int, default=1000)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--central", action="store_true", help="also prune a central store (PostgreSQL)")
    parser.add_argument("--json", help="where to write the numbers")
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # the copies' "re-indexing it from the start", once per session
    work = Path(tempfile.mkdtemp(prefix="bench-prune-"))
    try:
        original = work / "original" / ".treeship"
        started = time.perf_counter()
        build(original, args.per_month, args.months)
        built = time.perf_counter() - started
        cutoff = (datetime(2025, 1, 1, tzinfo=timezone.utc) + timedelta(days=30 * (args.months - 3))).strftime(
            "%Y-%m-%dT%H:%M:%SZ")
        numbers = {"sessions": args.per_month * args.months, "build_s": round(built, 1)}
        for name, archive in (("prune", None), ("prune --archive", work / "archive")):
            copy = work / name.replace(" ", "_") / ".treeship"
            shutil.copytree(original, copy)
            with Store(copy) as store:
                store.sessions()  # a copy's files are new inodes: indexed again before the clock starts
                started = time.perf_counter()
                report = store.prune(cutoff, archive=archive)
                numbers[f"{name}_s"] = round(time.perf_counter() - started, 2)
                numbers[f"{name}_sessions"] = len(report.pruned)
                assert store.verify().ok
        by_hand = work / "by_hand" / ".treeship"
        shutil.copytree(original, by_hand)
        with Store(by_hand) as store:
            old = [s["session_id"] for s in store.sessions() if s["last"] < cutoff]  # indexed again, as above
            started = time.perf_counter()
            for session in old:
                shutil.rmtree(by_hand / "sessions" / session)
            store.reindex()
            numbers["rm -rf + reindex_s"] = round(time.perf_counter() - started, 2)
        numbers["ratio"] = round(numbers["prune_s"] / numbers["rm -rf + reindex_s"], 2)
        if args.central:
            numbers.update(central(original, cutoff))
        for key, value in numbers.items():
            print(f"{key:28} {value}")
        if args.json:
            Path(args.json).write_text(json.dumps(numbers, indent=2) + "\n")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def central(original: Path, cutoff: str) -> dict:
    """Push the year twice (two databases), prune one, delete the same
    sessions' rows from the other: partitions dropped against rows deleted."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from support.pg_cluster import Cluster

    from treeship_store.central import push
    from treeship_store.central.connection import connect
    from treeship_store.central.retention import prune_central
    cluster = Cluster()
    try:
        urls = [cluster.create_database(name) for name in ("pruned", "deleted")]
        with Store(original) as store:
            started = time.perf_counter()
            for url in urls:
                push(store, url)
            pushed = (time.perf_counter() - started) / 2
        started = time.perf_counter()
        report = prune_central(urls[0], cutoff)
        pruned = time.perf_counter() - started
        conn = connect(urls[1])
        started = time.perf_counter()
        with conn.transaction():
            old = [sid for sid, in conn.execute("SELECT session_id FROM line_counts GROUP BY session_id "
                                                "HAVING max(last_at) < %s", [cutoff])]
            for table in ("lines", "line_counts", "sessions"):
                conn.execute(f"DELETE FROM {table} WHERE session_id = ANY(%s)", [old])
        deleted = time.perf_counter() - started
        conn.close()
        return {"central push_s": round(pushed, 1), "central prune_s": round(pruned, 2),
                "central partitions dropped": len(report.partitions), "central sessions pruned": len(report.pruned),
                "central DELETE rows_s": round(deleted, 2)}
    finally:
        cluster.close()


if __name__ == "__main__":
    main()
