"""A realistic sample store: three sessions of agents at work, every event
type, a sub-agent spawned and handed work, a failed process, one damaged line. `treeship-store demo DIR` writes it.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from .store import Store

CLAUDE = {"agent_id": "agent://claude-code", "agent_instance_id": "ai_cc_1", "agent_name": "claude-code",
          "agent_role": "operator", "host_id": "host_macbook"}
CODEX = {"agent_id": "agent://codex", "agent_instance_id": "ai_cx_1", "agent_name": "codex",
         "agent_role": "worker", "host_id": "host_macbook"}
KIMI = {"agent_id": "agent://kimi", "agent_instance_id": "ai_km_1", "agent_name": "kimi", "host_id": "host_ci"}
SDK = {"agent_id": "agent://sdk-reviewer", "agent_instance_id": "ai_sdk_1", "agent_name": "sdk-reviewer",
       "host_id": "host_ci"}

REFACTOR = [  # claude-code refactors a module, hands the tests to a codex sub-agent
    (CLAUDE, "session.started", {}),
    (CLAUDE, "agent.started", {}),
    (CLAUDE, "agent.decision", {"model": "claude-opus-4", "provider": "anthropic", "tokens_in": 5200,
                                "tokens_out": 830, "summary": "split storage.rs into log and index",
                                "confidence": 0.82}),
    (CLAUDE, "agent.read_file", {"file_path": "src/storage.rs", "digest": "sha256:9f2c"}),
    (CLAUDE, "agent.note", {"meta": {"text": "Grep is outside the declared capabilities (observe mode)"}}),
    (CLAUDE, "agent.called_tool", {"tool_name": "Grep", "duration_ms": 31}),
    (CLAUDE, "agent.wrote_file", {"file_path": "src/log.rs", "operation": "created", "additions": 148}),
    (CLAUDE, "agent.wrote_file", {"file_path": "src/storage.rs", "operation": "modified", "additions": 12,
                                  "deletions": 160}),
    (CLAUDE, "agent.spawned", {"spawned_by_agent_instance_id": "ai_cc_1", "reason": "write the tests"}),
    (CODEX, "agent.started", {"parent_agent_instance_id": "ai_cc_1"}),
    (CLAUDE, "agent.handoff", {"from_agent_instance_id": "ai_cc_1", "to_agent_instance_id": "ai_cx_1",
                               "artifacts": ["src/log.rs"]}),
    (CODEX, "agent.decision", {"model": "gpt-5-codex", "provider": "openai", "tokens_in": 3100,
                               "tokens_out": 540}),
    (CODEX, "agent.wrote_file", {"file_path": "tests/log_test.rs", "operation": "created", "additions": 90}),
    (CODEX, "agent.started_process", {"process_name": "cargo", "pid": 48213, "command": "cargo test"}),
    (CODEX, "agent.completed_process", {"process_name": "cargo", "exit_code": 101, "duration_ms": 8400,
                                        "command": "cargo test"}),
    (CODEX, "agent.wrote_file", {"file_path": "src/log.rs", "operation": "modified", "additions": 3,
                                 "deletions": 1}),
    (CODEX, "agent.completed_process", {"process_name": "cargo", "exit_code": 0, "duration_ms": 7900,
                                        "command": "cargo test"}),
    (CODEX, "agent.returned", {"returned_to_agent_instance_id": "ai_cc_1"}),
    (CODEX, "agent.completed", {"termination_reason": "tests pass"}),
    (CLAUDE, "agent.completed", {"termination_reason": "done"}),
    (CLAUDE, "session.closed", {"summary": "storage split into log and index", "duration_ms": 1260000}),
]
RESEARCH = [  # kimi fetches docs and serves a preview, with an SDK reviewer
    (KIMI, "session.started", {}),
    (KIMI, "agent.started", {}),
    (KIMI, "agent.connected_network", {"destination": "docs.rs", "port": 443}),
    (KIMI, "agent.called_tool", {"tool_name": "WebFetch", "duration_ms": 640}),
    (KIMI, "agent.decision", {"model": "kimi-k2", "provider": "moonshot", "tokens_in": 8800, "tokens_out": 1200}),
    (KIMI, "agent.opened_port", {"port": 8000, "protocol": "tcp"}),
    (SDK, "agent.started", {}),
    (KIMI, "agent.collaborated", {"collaborator_agent_instance_ids": ["ai_sdk_1"]}),
    (SDK, "agent.read_file", {"file_path": "docs/preview.md"}),
    (SDK, "agent.failed", {"reason": "rate limited by the model provider"}),
    (KIMI, "agent.completed", {}),
]
HOTFIX = [  # a short session where a crashed writer (Treeship's own) left a torn line
    (CLAUDE, "session.started", {}),
    (CLAUDE, "agent.called_tool", {"tool_name": "Bash", "duration_ms": 1200}),
]
SESSIONS = {"ssn_4f1d2a9b7c3e8d01": REFACTOR, "ssn_9a8b7c6d5e4f3a21": RESEARCH, "ssn_0c1d2e3f4a5b6c7d": HOTFIX}
DAMAGED_SESSION = "ssn_0c1d2e3f4a5b6c7d"
START = datetime(2026, 4, 5, 8, 0, tzinfo=timezone.utc)


def write_demo(root: str | Path) -> Store:
    """Write the sample sessions under `root` (a new directory) and return the store."""
    root = Path(root)
    if (root / "sessions").exists() and any((root / "sessions").iterdir()):
        from .errors import ValidationError  # noqa: PLC0415
        raise ValidationError(f"{root} already holds sessions; give the demo a new directory")
    store = Store(root)
    for number, (session_id, steps) in enumerate(SESSIONS.items()):
        started = START + timedelta(hours=number)
        store.append_many(session_id, [
            {**agent, "type": event_type, **fields,
             "timestamp": (started + timedelta(seconds=37 * i)).strftime("%Y-%m-%dT%H:%M:%SZ")}
            for i, (agent, event_type, fields) in enumerate(steps)])
    # A writer without our batch record (Treeship's own) killed mid-write leaves
    # half a line; the next append seals it, and it stays as one damaged line.
    with open(store.sessions_dir / DAMAGED_SESSION / "events.jsonl", "ab") as log:
        log.write(b'{"session_id":"ssn_0c1d2e3f4a5b6c7d","event_id":"evt_')
    store.append(DAMAGED_SESSION, {**CLAUDE, "type": "agent.wrote_file", "file_path": "src/hotfix.rs",
                                   "timestamp": (START + timedelta(hours=2, minutes=5)).strftime(
                                       "%Y-%m-%dT%H:%M:%SZ")})
    return store
