"""Deterministic corpus of realistic Treeship sessions for the benchmarks.

Writes <root>/sessions/<id>/events.jsonl directly, line by line, as Treeship's
own writers would (sequence_no = line position), so building the corpus does
not depend on the store being measured.

    python scripts/corpus.py ROOT --events 1000000 --sessions 1000 [--seed 7]
"""

from __future__ import annotations

import argparse
import os
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson

from treeship_store.event import canonical_order

AGENT_NAMES = ["claude-code", "codex", "kimi", "gemini-cli", "aider", "cursor-agent", "sdk-planner",
               "sdk-reviewer", "sdk-tester", "devin", "goose", "openhands"]
TOOLS = ["Read", "Edit", "Bash", "Grep", "Glob", "Write", "WebFetch", "TodoWrite", "Task"]
MODELS = [("claude-opus-4", "anthropic"), ("claude-sonnet-4", "anthropic"), ("gpt-5-codex", "openai"),
          ("kimi-k2", "moonshot"), ("gemini-2.5-pro", "google")]
PROCESSES = [("cargo", "cargo test"), ("pytest", "pytest -q"), ("npm", "npm run build"), ("git", "git status"),
             ("make", "make lint")]
# The mix of a working agent's events; lifecycle events are added around it.
MIX = [("agent.called_tool", 34), ("agent.read_file", 20), ("agent.wrote_file", 10), ("agent.decision", 13),
       ("agent.started_process", 6), ("agent.completed_process", 6), ("agent.connected_network", 4),
       ("agent.opened_port", 1), ("agent.spawned", 1), ("agent.handoff", 1), ("agent.collaborated", 1),
       ("agent.returned", 1), ("agent.failed", 1), ("agent.note", 1)]
START = datetime(2026, 3, 1, tzinfo=timezone.utc)


def session_lengths(rng: random.Random, events: int, sessions: int) -> list[int]:
    """Varied lengths (a long tail of big sessions) summing exactly to `events`."""
    weights = [rng.paretovariate(1.3) for _ in range(sessions)]
    scale = (events - 2 * sessions) / sum(weights)
    lengths = [2 + int(w * scale) for w in weights]
    lengths[0] += events - sum(lengths)  # rounding remainder
    return lengths


class SessionWriter:
    def __init__(self, rng: random.Random, session_id: str, index: int):
        self.rng = rng
        self.session_id = session_id
        self.trace_id = rng.randbytes(16).hex()
        self.time = START + timedelta(seconds=rng.randrange(30 * 86400))
        names = rng.sample(AGENT_NAMES, rng.choice([1, 1, 2, 2, 3, 4]))
        host = f"host_{rng.randrange(24):02d}"
        self.agents = [{"agent_id": f"agent://{name}", "agent_instance_id": f"ai_{name}_{index}_{k}",
                        "agent_name": name, "agent_role": "operator" if k == 0 else "worker", "host_id": host}
                       for k, name in enumerate(names)]
        self.sequence_no = 0
        self.lines: list[bytes] = []

    def add(self, agent: dict, event_type: str, **fields) -> None:
        self.time += timedelta(milliseconds=self.rng.randrange(100, 30_000))
        event = {"session_id": self.session_id, "event_id": f"evt_{self.rng.randbytes(8).hex()}",
                 "timestamp": self.time.strftime("%Y-%m-%dT%H:%M:%S.") + f"{self.time.microsecond // 1000:03d}Z",
                 "sequence_no": self.sequence_no, "trace_id": self.trace_id, "span_id": self.rng.randbytes(8).hex(),
                 **agent, "type": event_type, **fields}
        if self.rng.random() < 0.3:
            event["meta"] = {"source": "session-event-cli"}
        self.lines.append(orjson.dumps(canonical_order(event)))
        self.sequence_no += 1

    def work(self, agent: dict, event_type: str) -> None:
        rng = self.rng
        other = rng.choice(self.agents)["agent_instance_id"]
        path = f"src/{rng.choice(['app', 'lib', 'store', 'cli', 'api'])}/{rng.randrange(60)}.rs"
        fields = {
            "agent.called_tool": lambda: {"tool_name": rng.choice(TOOLS), "duration_ms": rng.randrange(5, 4000)},
            "agent.read_file": lambda: {"file_path": path, "digest": f"sha256:{rng.randbytes(8).hex()}"},
            "agent.wrote_file": lambda: {"file_path": path, "operation": rng.choice(["created", "modified",
                                                                                      "modified", "deleted"]),
                                         "additions": rng.randrange(200), "deletions": rng.randrange(80)},
            "agent.decision": lambda: dict(zip(("model", "provider"), rng.choice(MODELS)),
                                           tokens_in=rng.randrange(200, 20000), tokens_out=rng.randrange(20, 3000)),
            "agent.started_process": lambda: dict(zip(("process_name", "command"), rng.choice(PROCESSES)),
                                                  pid=rng.randrange(1000, 99999)),
            "agent.completed_process": lambda: {**dict(zip(("process_name", "command"), rng.choice(PROCESSES))),
                                                "exit_code": rng.choice([0] * 8 + [1, 101]),
                                                "duration_ms": rng.randrange(100, 90000)},
            "agent.connected_network": lambda: {"destination": rng.choice(["api.anthropic.com", "crates.io",
                                                                           "registry.npmjs.org", "docs.rs"]),
                                                "port": 443},
            "agent.opened_port": lambda: {"port": rng.randrange(3000, 9000), "protocol": "tcp"},
            "agent.spawned": lambda: {"spawned_by_agent_instance_id": other, "reason": "parallelise"},
            "agent.handoff": lambda: {"from_agent_instance_id": agent["agent_instance_id"],
                                      "to_agent_instance_id": other, "artifacts": [path]},
            "agent.collaborated": lambda: {"collaborator_agent_instance_ids": [other]},
            "agent.returned": lambda: {"returned_to_agent_instance_id": other},
            "agent.failed": lambda: {"reason": "rate limited"},
            "agent.note": lambda: {"meta": {"text": f"{path} is outside the declared capabilities"}},
        }[event_type]()
        self.add(agent, event_type, **fields)


def generate(root: str | os.PathLike, events: int, sessions: int, seed: int = 7) -> Path:
    """Write `events` events in `sessions` sessions under root/sessions; return root."""
    rng = random.Random(seed)
    root = Path(root)
    types, weights = zip(*MIX)
    for index, length in enumerate(session_lengths(rng, events, sessions)):
        session_id = f"ssn_{rng.randbytes(8).hex()}"
        writer = SessionWriter(rng, session_id, index)
        lead = writer.agents[0]
        writer.add(lead, "session.started")
        body = length - 2
        lifecycle = min(len(writer.agents), body // 2)  # each agent starts, works, completes
        for agent in writer.agents[:lifecycle]:
            writer.add(agent, "agent.started")
        for _ in range(body - 2 * lifecycle):
            writer.work(rng.choice(writer.agents), rng.choices(types, weights)[0])
        for agent in reversed(writer.agents[:lifecycle]):
            writer.add(agent, "agent.completed", termination_reason="done")
        writer.add(lead, "session.closed", summary="done", duration_ms=rng.randrange(10_000, 3_600_000))
        directory = root / "sessions" / session_id
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "events.jsonl").write_bytes(b"\n".join(writer.lines) + b"\n")
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root")
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    generate(args.root, args.events, args.sessions, args.seed)


if __name__ == "__main__":
    main()
