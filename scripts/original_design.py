"""The baseline for append latency: a faithful Python port of Treeship's
original append. Under the flock it re-reads the whole file to count lines
(O(N) per event), takes that count as sequence_no, and appends one line.
Kept only to be measured against."""

from __future__ import annotations

import fcntl
from pathlib import Path

import orjson

from treeship_store.event import prepare


def append(sessions_dir: Path, session_id: str, event: dict) -> dict:
    directory = sessions_dir / session_id
    directory.mkdir(parents=True, exist_ok=True)
    prepared = prepare(event, session_id)
    with open(directory / "events.jsonl.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            path = directory / "events.jsonl"
            count = 0
            if path.exists():
                with open(path, "rb") as existing:  # the O(N) step the store removes
                    for _ in existing:
                        count += 1
            prepared["sequence_no"] = count
            with open(path, "ab") as log:
                log.write(orjson.dumps(prepared) + b"\n")
                log.flush()
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return prepared
