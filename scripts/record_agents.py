"""Record what the real agents send, for the replay tests: run the
end-to-end sessions of tests/support/real_agents.py with a recorder beside
our hooks, and keep each agent's hook payloads (with how many lines each
transcript had at that call),
its transcripts and the model server's answers, under tests/fixtures/, with
the temporary directory written as {work}.

    python scripts/record_agents.py        # as root, with the agents installed (npm ci --prefix tests/agents)
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent / "tests"
sys.path.insert(0, str(TESTS))
from support import real_agents  # noqa: E402

TOOL = [sys.executable, "-m", "treeship_store"]
# Long texts of the agents' own (system prompts, tool schemas) that no test reads.
LONG = 300


def main() -> None:
    if why := real_agents.available():
        sys.exit(f"cannot record: {why}")
    for agent in ("claude-code", "codex"):
        with tempfile.TemporaryDirectory() as tmp:
            record(agent, Path(tmp).resolve())


def record(agent: str, work: Path) -> None:
    home, project = work / "home", work / "project"
    home.mkdir()
    project.mkdir()
    recorded = work / "payloads.jsonl"
    if agent == "claude-code":
        (project / "out.txt").write_text("")
        for command in (["init", "-q"], ["add", "."], ["-c", "user.name=e2e", "-c", "user.email=e2e@example.com",
                                                         "commit", "-qm", "start"]):
            subprocess.run(["git", *command], cwd=project, check=True)
        subprocess.run([*TOOL, "hooks", "install", agent, "--project", str(project)], check=True)
        real_agents.add_recorders(agent, project / ".claude" / "settings.json", recorded)
        script, commands = real_agents.claude_script(project), real_agents.claude_commands(home, project)
        version = "2.1.328"
        transcripts = home / ".claude" / "projects"
    else:
        (project / "app.py").write_text("x = 1\ny = 2\n")
        real_agents.codex_config(home / ".codex")
        env = {**os.environ, "CODEX_HOME": str(home / ".codex")}
        subprocess.run([*TOOL, "hooks", "install", agent, "--project", str(project), "--trust"], check=True, env=env)
        real_agents.add_recorders(agent, project / ".codex" / "hooks.json", recorded, home / ".codex")
        script, commands = real_agents.codex_script(), real_agents.codex_commands(home, project)
        version = "0.169.0"
        transcripts = home / ".codex" / "sessions"
    result = real_agents.run(work, script, commands)
    assert [run["returncode"] for run in result["runs"]] == [0, 0], result["runs"]
    dest = TESTS / "fixtures" / f"{agent}-{version}"
    shutil.rmtree(dest, ignore_errors=True)
    (dest / "transcripts").mkdir(parents=True)
    (dest / "payloads.jsonl").write_text(_sanitise(recorded.read_text(), work))
    (dest / "model-log.jsonl").write_text("".join(json.dumps(a) + "\n" for a in result["log"]))
    (dest / "runs.json").write_text(_sanitise(json.dumps([{"returncode": r["returncode"], "stdout": r["stdout"]}
                                                           for r in result["runs"]], indent=1), work))
    for path in sorted(transcripts.rglob("*.jsonl")):
        lines = [_shorten(json.loads(line)) for line in path.read_text().splitlines()]
        text = "".join(json.dumps(line, separators=(",", ":"), ensure_ascii=False) + "\n" for line in lines)
        target = dest / "transcripts" / _sanitise(str(path.relative_to(transcripts)), work)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(_sanitise(text, work))
    print(f"{dest}: {len(recorded.read_text().splitlines())} payloads, {len(result['log'])} answers")


def _shorten(value):
    """The agents' own long texts (instructions, tool schemas) cut, everything
    else as written, line for line."""
    if isinstance(value, str) and len(value) > LONG:
        return value[:LONG] + "…"
    if isinstance(value, dict):
        return {key: _shorten(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_shorten(item) for item in value]
    return value


def _sanitise(text: str, work: Path) -> str:
    """The temporary directory as {work}, also in Claude Code's form of a
    project directory's name ("/" and "." as "-")."""
    munged = re.sub(r"[^A-Za-z0-9]", "-", str(work))
    return text.replace(str(work), "{work}").replace(munged, "-work")


if __name__ == "__main__":
    main()
