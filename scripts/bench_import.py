"""`treeship-store import` against just parsing what it reads (issue 24): a
corpus of Claude Code transcripts in the real agent's shapes (the line kinds
and fields of the recorded Claude Code 2.1.328 session in tests/fixtures,
each turn a tool call with its result and usage, sub-agent transcripts, file
contents in results), timed side by side in one run:

- the floor: read every file and orjson.loads every line;
- import into an empty store (every session written);
- import again (everything there: nothing written).

The target: the first import within 3x the floor.

    python scripts/bench_import.py [--mb 1024] [--json bench-import.json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from treeship_store.capture.history import find_files  # noqa: E402
from treeship_store.capture.replay import import_history  # noqa: E402

FIXTURE = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "claude-code-2.1.328" / "transcripts"
TOOLS = ("Bash", "Read", "Edit", "Write", "Grep", "Bash", "Read")


def templates() -> dict[str, dict]:
    """One line of each kind the real transcript holds, to copy the shapes from."""
    found: dict[str, dict] = {}
    for path in FIXTURE.rglob("*.jsonl"):
        for line in path.read_text().splitlines():
            record = json.loads(line)
            found.setdefault(record.get("type"), record)
    return found


def write_session(directory: Path, cwd: str, shapes: dict, rng: random.Random, turns: int, start: float) -> int:
    session = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    lines, at = [], start

    def stamp(record: dict) -> dict:
        nonlocal at
        at += rng.uniform(0.05, 3.0)
        return {**record, "sessionId": session, "cwd": cwd, "uuid": str(uuid.uuid4()),
                "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at)) + f".{int(at % 1 * 1000):03d}Z"}
    lines.append(stamp({**shapes["user"], "message": {"role": "user", "content": "fix the failing tests"}}))
    for kind in ("attachment", "queue-operation", "attachment"):
        lines.append(stamp(shapes[kind]))
    for turn in range(turns):
        name = TOOLS[turn % len(TOOLS)]
        call = f"toolu_{session[:8]}_{turn}"
        path = f"{cwd}/src/module_{rng.randrange(200)}.py"
        content = "".join(f"def f{n}(x):\n    return x * {n}\n" for n in range(rng.randrange(20, 200)))
        tool_input = {"command": f"pytest -q tests/test_{turn}.py"} if name == "Bash" else \
            {"file_path": path, "old_string": "x * 1", "new_string": "x * 2"} if name == "Edit" else \
            {"file_path": path, "content": content} if name == "Write" else {"pattern": "def f", "path": cwd} \
            if name == "Grep" else {"file_path": path}
        result = {"stdout": content[:2000], "stderr": "", "interrupted": False} if name == "Bash" else \
            {"type": "text", "file": {"filePath": path, "content": content, "numLines": content.count("\n")}} \
            if name == "Read" else {"filePath": path, "structuredPatch": [{"lines": ["-x * 1", "+x * 2"]}]}
        lines.append(stamp(shapes["api-request"]))
        lines.append(stamp({**shapes["assistant"], "message": {
            "id": f"msg_{session[:8]}_{turn}", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
            "content": [{"type": "tool_use", "id": call, "name": name, "input": tool_input}],
            "usage": {"input_tokens": rng.randrange(5, 50), "cache_read_input_tokens": rng.randrange(20000),
                      "cache_creation_input_tokens": rng.randrange(2000), "output_tokens": rng.randrange(400)}}}))
        lines.append(stamp({**shapes["user"], "toolUseResult": result, "message": {"role": "user", "content": [
            {"tool_use_id": call, "type": "tool_result", "content": content[:4000], "is_error": False}]}}))
        if turn % 5 == 0:
            lines.append(stamp(shapes["attachment"]))
    file = directory / f"{session}.jsonl"
    file.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    return file.stat().st_size


def make_corpus(home: Path, megabytes: int, project: Path) -> int:
    rng, shapes, total = random.Random(24), templates(), 0
    directory = home / "projects" / str(project).replace("/", "-")
    directory.mkdir(parents=True)
    start = time.time() - 90 * 86400
    while total < megabytes << 20:
        total += write_session(directory, str(project), shapes, rng, rng.randrange(20, 400), start)
        start += 3600
    return total


def floor(files: list[str]) -> float:
    started = time.perf_counter()
    for path in files:
        with open(path, "rb") as file:
            for line in file.read().split(b"\n")[:-1]:
                orjson.loads(line)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=1024, help="corpus size in MB [1024]")
    parser.add_argument("--json", help="where to write the numbers")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-import-"))
    try:
        project = work / "project"
        project.mkdir()
        size = make_corpus(work / "claude", args.mb, project)
        files = find_files("claude-code", str(work / "claude" / "projects"))
        parse = floor(files)
        started = time.perf_counter()
        first = import_history("claude-code", files)
        imported = time.perf_counter() - started
        started = time.perf_counter()
        again = import_history("claude-code", files)
        reimported = time.perf_counter() - started
        parse_again = floor(files)  # the floor once more, after: a machine that slowed is seen
        numbers = {"files": len(files), "mb": round(size / 2**20, 1), "events": first.events,
                   "parse_s": round(min(parse, parse_again), 2), "import_s": round(imported, 2),
                   "reimport_s": round(reimported, 2), "ratio": round(imported / min(parse, parse_again), 2),
                   "reimport_events": again.events, "problems": first.problems + again.problems}
        print(f"{numbers['files']} sessions, {numbers['mb']} MB, {numbers['events']} events")
        print(f"parse every line (orjson):  {numbers['parse_s']:8.2f} s")
        print(f"import into an empty store: {numbers['import_s']:8.2f} s  ({numbers['ratio']}x the parse)")
        print(f"import again (nothing new): {numbers['reimport_s']:8.2f} s  ({numbers['reimport_events']} events)")
        if args.json:
            Path(args.json).write_text(json.dumps(numbers, indent=2) + "\n")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("TREESHIP_HOST_ID", "bench")
    main()
