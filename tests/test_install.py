"""A plain (non-editable) `pip install .` into a fresh venv ships every package:
the migrations, and the capture package the hooks run."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CHECK = """
import sys, treeship_store, treeship_store.migrations
from treeship_store import Store
assert treeship_store.__file__.startswith(sys.prefix), treeship_store.__file__
assert treeship_store.migrations.__file__.startswith(sys.prefix), treeship_store.migrations.__file__
store = Store(sys.argv[1])
event = store.append("ssn_1", {"type": "session.started", "agent_id": "agent://a", "agent_instance_id": "i",
                               "agent_name": "a", "host_id": "h"})
assert [e["event_id"] for e in store.events()] == [event["event_id"]]
print("ok")
"""


@pytest.mark.slow
def test_pip_install_in_a_fresh_venv_finds_its_migrations(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    python = venv / "bin" / "python"
    subprocess.run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(REPO)],
                   check=True, capture_output=True)
    result = subprocess.run([python, "-c", CHECK, tmp_path / ".treeship"], cwd=tmp_path,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
    payload = {"session_id": "0199aaaa-bbbb-cccc-dddd-eeeeffff0000", "cwd": str(tmp_path),
               "hook_event_name": "PostToolUse", "tool_name": "Read", "tool_input": {"file_path": "a.py"}}
    hook = subprocess.run([venv / "bin" / "treeship-store", "hook", "claude-code"], input=json.dumps(payload),
                          cwd=tmp_path, capture_output=True, text=True)
    assert hook.returncode == 0, hook.stderr
    assert (tmp_path / ".treeship" / "sessions" / payload["session_id"] / "events.jsonl").read_text().count("\n") == 3
    # Every command's module ships too (each loads only when asked for).
    for command in ("events", "sessions", "files", "stats", "verify", "reindex", "tail", "hooks", "push", "serve",
                    "export"):
        shown = subprocess.run([venv / "bin" / "treeship-store", command, "--help"], cwd=tmp_path,
                               capture_output=True, text=True)
        assert shown.returncode == 0 and shown.stdout.startswith("Usage: "), (command, shown.stderr)
