"""`treeship-store hooks install|uninstall`: merged into the agents' settings,
never clobbering them."""

import json
import os
import subprocess
import sys

import pytest

from treeship_store import Store

from hook_fixtures import CLAUDE_SESSION, claude_tool

ENV = {**os.environ, "TREESHIP_STORE_ROOT": ""}
THEIRS = {
    "model": "opus",
    "permissions": {"allow": ["Bash(npm test)"]},
    "hooks": {
        "PostToolUse": [{"matcher": "Write|Edit", "hooks": [{"type": "command", "command": "npx prettier --write"}]}],
        "Notification": [{"hooks": [{"type": "command", "command": "notify-send done"}]}],
    },
}


def hooks_command(*args, cwd, env=None):
    return subprocess.run([sys.executable, "-m", "treeship_store", "hooks", *args], capture_output=True, text=True,
                          cwd=cwd, env={**ENV, **(env or {})}, timeout=60)


def test_install_merges_twice_changes_nothing_and_uninstall_restores(tmp_path):
    settings = tmp_path / ".claude" / "settings.json"
    settings.parent.mkdir()
    settings.write_text(json.dumps(THEIRS, indent=4))
    result = hooks_command("install", "claude-code", "--project", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 0 and "installed" in result.stdout, result.stderr
    installed = json.loads(settings.read_text())
    assert {k: v for k, v in installed.items() if k != "hooks"} == {"model": "opus",
                                                                    "permissions": THEIRS["permissions"]}
    assert installed["hooks"]["PostToolUse"][0] == THEIRS["hooks"]["PostToolUse"][0]  # theirs first, untouched
    assert installed["hooks"]["Notification"] == THEIRS["hooks"]["Notification"]
    ours = {event: [h["command"] for g in groups for h in g["hooks"] if "hook claude-code" in h["command"]]
            for event, groups in installed["hooks"].items()}
    assert sorted(e for e, commands in ours.items() if commands) == sorted(
        ["SessionStart", "SessionEnd", "PostToolUse", "PostToolUseFailure", "SubagentStart", "SubagentStop", "Stop"])
    before = settings.read_bytes()
    again = hooks_command("install", "claude-code", "--project", str(tmp_path), cwd=tmp_path)
    assert again.returncode == 0 and "nothing to install" in again.stdout
    assert settings.read_bytes() == before
    removed = hooks_command("uninstall", "claude-code", "--project", str(tmp_path), cwd=tmp_path)
    assert removed.returncode == 0 and "removed" in removed.stdout
    assert json.loads(settings.read_text()) == THEIRS


def test_the_installed_command_records_events(tmp_path):
    assert hooks_command("install", "claude-code", cwd=tmp_path).returncode == 0
    settings = json.loads((tmp_path / ".claude" / "settings.json").read_text())
    command = settings["hooks"]["PostToolUse"][0]["hooks"][0]["command"]
    payload = claude_tool(tmp_path, "Read", {"file_path": "/p/a.py"}, {})
    result = subprocess.run(command, shell=True, input=json.dumps(payload).encode(), capture_output=True,
                            cwd="/", env=ENV, timeout=60)
    assert result.returncode == 0, result.stderr
    with Store(tmp_path / ".treeship") as store:
        assert [e["type"] for e in store.events(CLAUDE_SESSION)] == \
            ["session.started", "agent.started", "agent.read_file"]


def test_settings_that_are_not_json_are_refused_and_left_untouched(tmp_path):
    settings = tmp_path / ".claude" / "settings.json"
    settings.parent.mkdir()
    settings.write_text('{\n  "model": "opus",\n  "hooks": {,\n}\n')
    before = settings.read_bytes()
    for action in ("install", "uninstall"):
        result = hooks_command(action, "claude-code", cwd=tmp_path)
        assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
        assert str(settings) in result.stderr and "line 3" in result.stderr
    assert settings.read_bytes() == before


def test_dry_run_prints_and_writes_nothing_and_codex_has_its_own_file(tmp_path):
    result = hooks_command("install", "codex", "--dry-run", cwd=tmp_path)
    assert result.returncode == 0 and "hook codex" in result.stdout
    assert json.loads(result.stdout)["hooks"]["Stop"][0]["hooks"][0]["type"] == "command"
    assert not (tmp_path / ".codex").exists()
    home = tmp_path / "home"
    home.mkdir()
    result = hooks_command("install", "codex", "--user", cwd=tmp_path, env={"HOME": str(home), "CODEX_HOME": ""})
    assert result.returncode == 0, result.stderr
    assert sorted(json.loads((home / ".codex" / "hooks.json").read_text())["hooks"]) == \
        ["PostToolUse", "SessionStart", "Stop", "SubagentStart", "SubagentStop"]
    assert hooks_command("uninstall", "codex", "--user", cwd=tmp_path,
                         env={"HOME": str(home), "CODEX_HOME": ""}).returncode == 0
    assert json.loads((home / ".codex" / "hooks.json").read_text()) == {}


def test_a_symlinked_settings_file_is_changed_where_it_points_and_stays_a_link(tmp_path):
    dotfiles = tmp_path / "dotfiles" / "claude-settings.json"
    dotfiles.parent.mkdir()
    dotfiles.write_text(json.dumps(THEIRS))
    (tmp_path / ".claude").mkdir()
    os.symlink(dotfiles, tmp_path / ".claude" / "settings.json")
    assert hooks_command("install", "claude-code", cwd=tmp_path).returncode == 0
    assert (tmp_path / ".claude" / "settings.json").is_symlink()
    assert "hook claude-code" in dotfiles.read_text()
    assert hooks_command("uninstall", "claude-code", cwd=tmp_path).returncode == 0
    assert json.loads(dotfiles.read_text()) == THEIRS


def test_settings_on_a_read_only_filesystem_are_one_line_and_untouched(tmp_path):
    project = tmp_path / "project"
    (project / ".claude").mkdir(parents=True)
    settings = project / ".claude" / "settings.json"
    settings.write_text(json.dumps(THEIRS))
    mounted = tmp_path / "mounted"
    mounted.mkdir()
    if subprocess.run(["mount", "--bind", "-o", "ro", str(project), str(mounted)], capture_output=True).returncode:
        pytest.skip("cannot make a read-only bind mount here")
    try:
        result = hooks_command("install", "claude-code", "--project", str(mounted), cwd=tmp_path)
        assert result.returncode == 1 and result.stderr.startswith("Error: cannot write") and \
            result.stderr.count("\n") == 1, result.stderr
    finally:
        subprocess.run(["umount", str(mounted)], check=True)
    assert json.loads(settings.read_text()) == THEIRS


def test_a_project_that_does_not_exist_is_refused_and_nothing_is_created(tmp_path):
    result = hooks_command("install", "claude-code", "--project", str(tmp_path / "typo"), cwd=tmp_path)
    assert result.returncode == 2 and "does not exist" in result.stderr
    assert not (tmp_path / "typo").exists()
