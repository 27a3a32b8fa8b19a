"""The real Claude Code and Codex, driven headless against a scripted model
server, with our hooks installed the way a user installs them: what they
store, field by field, with exact token totals (tests/support/real_agents.py).

The agents run only inside a network namespace with nothing but loopback.
Where they are not installed, these tests are skipped, except in CI, where
a missing agent fails them."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from treeship_store import Store

from support import agent_checks as checks
from support import real_agents

why_not = real_agents.available()
if why_not and os.environ.get("CI"):
    raise RuntimeError(f"CI must run the real agents: {why_not}")
pytestmark = [pytest.mark.slow, pytest.mark.skipif(why_not is not None, reason=why_not or "")]
TOOL = [sys.executable, "-m", "treeship_store"]


def cli(*args, cwd=None, env=None):
    return subprocess.run([*TOOL, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=120)


# -- Claude Code --------------------------------------------------------------

@pytest.fixture(scope="module")
def claude_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("claude")
    home, project = work / "home", work / "project"
    home.mkdir()
    project.mkdir()
    (project / "out.txt").write_text("")
    for command in (["init", "-q"], ["add", "."], ["-c", "user.name=e2e", "-c", "user.email=e2e@example.com",
                                                     "commit", "-qm", "start"]):
        subprocess.run(["git", *command], cwd=project, check=True)  # Claude Code diffs Bash's edits in git
    installed = cli("hooks", "install", "claude-code", "--project", str(project))
    assert installed.returncode == 0, installed.stderr
    result = real_agents.run(work, real_agents.claude_script(project), real_agents.claude_commands(home, project))
    with Store(project / ".treeship") as store:
        events = list(store.events(real_agents.CLAUDE_SESSION))
    transcripts = list((home / ".claude" / "projects").rglob("*.jsonl"))
    return {"work": work, "project": project, "result": result, "events": events, "transcripts": transcripts}


def test_claude_code_exits_0_and_reports_no_hook_error(claude_run):
    runs = claude_run["result"]["runs"]
    assert [run["returncode"] for run in runs] == [0, 0], [run["stderr"][-2000:] for run in runs]
    for transcript in claude_run["transcripts"]:
        text = transcript.read_text()
        assert "hook_non_blocking_error" not in text and '"hookErrors":["' not in text, transcript


def test_claude_code_commands_have_their_exit_codes(claude_run):
    checks.claude_exit_codes(claude_run["events"])


def test_claude_code_files_are_project_relative_and_bash_edits_recorded(claude_run):
    checks.claude_files(claude_run["events"])
    result = cli("files", "--format", "json", cwd=claude_run["project"])
    assert {row["file_path"] for row in json.loads(result.stdout)} == {"out.txt", "new.py"}


def test_claude_code_sub_agents_foreground_and_background(claude_run):
    foreground, _ = checks.claude_sub_agents(claude_run["events"])
    name = next(e["agent_name"] for e in claude_run["events"] if e["agent_instance_id"] == foreground)
    result = cli("events", "--session", real_agents.CLAUDE_SESSION, "--format", "table", cwd=claude_run["project"])
    assert name in result.stdout


def test_claude_code_tokens_equal_what_the_server_sent_and_what_claude_reports(claude_run):
    checks.claude_tokens(claude_run["events"], claude_run["result"]["log"], claude_run["result"]["runs"][-1]["stdout"])


def test_claude_code_session_resumes_and_closes(claude_run):
    assert checks.lifecycle(claude_run["events"]) == checks.TWO_RUNS
    assert cli("verify", cwd=claude_run["project"]).returncode == 0


# -- Codex -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def codex_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("codex")
    home, project = work / "home", work / "project"
    project.mkdir()
    (project / "app.py").write_text("x = 1\ny = 2\n")
    real_agents.codex_config(home / ".codex")
    env = {**os.environ, "CODEX_HOME": str(home / ".codex")}
    before = cli("hooks", "install", "codex", "--project", str(project), env=env)
    untrusted = cli("hooks", "status", "codex", "--project", str(project), env=env)
    trusted = cli("hooks", "install", "codex", "--project", str(project), "--trust", env=env)
    after = cli("hooks", "status", "codex", "--project", str(project), env=env)
    result = real_agents.run(work, real_agents.codex_script(), real_agents.codex_commands(home, project))
    with Store(project / ".treeship") as store:
        sessions = [row["session_id"] for row in store.sessions()]
        events = list(store.events(sessions[0])) if sessions else []
    rollouts = list((home / ".codex" / "sessions").rglob("rollout-*.jsonl"))
    return {"project": project, "result": result, "events": events, "sessions": sessions, "rollouts": rollouts,
            "install": (before, untrusted, trusted, after)}


def test_codex_hooks_run_only_once_trusted_and_status_says_so(codex_run):
    before, untrusted, trusted, after = codex_run["install"]
    assert before.returncode == 0 and "not trusted" in before.stdout and "--trust" in before.stdout
    assert untrusted.returncode == 1 and "will not run" in untrusted.stdout
    assert trusted.returncode == 0 and 'trust_level = "trusted"' in trusted.stdout, trusted.stderr
    assert after.returncode == 0 and "will run" in after.stdout, after.stdout
    runs = codex_run["result"]["runs"]
    assert [run["returncode"] for run in runs] == [0, 0], [run["stderr"][-2000:] for run in runs]
    for run in runs:
        started = [line for line in run["stderr"].splitlines() if line.startswith("hook: ")]
        assert started and not [line for line in started if "Failed" in line]
        assert sum(line.endswith(" Completed") for line in started) * 2 == len(started)
    assert len(codex_run["sessions"]) == 1


def test_codex_commands_take_exit_codes_and_durations_from_the_rollout(codex_run):
    checks.codex_exit_codes(codex_run["events"], codex_run["rollouts"])
    result = cli("events", "--failed", "--format", "json", cwd=codex_run["project"])
    assert [e["command"] for e in json.loads(result.stdout)] == ["sleep 0.2; ls /nonexistent-e2e"]


def test_codex_apply_patch_paths_are_project_relative(codex_run):
    checks.codex_files(codex_run["events"])


def test_codex_tokens_count_reasoning_once_with_the_sessions_provider(codex_run):
    checks.codex_tokens(codex_run["events"], codex_run["result"]["log"], codex_run["rollouts"])


def test_codex_each_exec_ends_the_session_and_a_resume_reopens_it(codex_run):
    assert checks.lifecycle(codex_run["events"]) == checks.TWO_RUNS
    assert [e["summary"] for e in codex_run["events"] if e["type"] == "session.closed"] == ["other", "other"]
    assert cli("verify", cwd=codex_run["project"]).returncode == 0
