"""`treeship-store hooks install|uninstall`: merged into the agents' settings,
never clobbering them."""

import json
import os
import subprocess
import sys

import pytest

from treeship_store import Store

from support.hook_fixtures import CLAUDE_SESSION, claude_tool

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
    installed = json.loads((home / ".codex" / "hooks.json").read_text())["hooks"]
    assert sorted(installed) == ["PostToolUse", "SessionEnd", "SessionStart", "Stop", "SubagentStart", "SubagentStop"]
    # Codex cuts a SessionEnd hook to 3 s and warns about a longer timeout.
    assert installed["SessionEnd"][0]["hooks"][0]["timeout"] == 3
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


def test_codex_trust_is_written_only_when_asked_and_keeps_the_rest_of_the_config(tmp_path):
    codex_home, project = tmp_path / "codex-home", tmp_path / "project"
    codex_home.mkdir()
    project.mkdir()
    original = '# my settings\nmodel = "o3"  # keep this comment\n\n[projects."/elsewhere"]\ntrust_level = "untrusted"\n'
    (codex_home / "config.toml").write_text(original)
    env = {"CODEX_HOME": str(codex_home)}
    installed = hooks_command("install", "codex", "--project", str(project), cwd=tmp_path, env=env)
    assert installed.returncode == 0 and (codex_home / "config.toml").read_text() == original
    assert "left to do: project trusted" in installed.stdout and "left to do: hooks trusted" in installed.stdout
    status = hooks_command("status", "codex", "--project", str(project), cwd=tmp_path, env=env)
    assert status.returncode == 1 and "will not run" in status.stdout
    trusted = hooks_command("install", "codex", "--project", str(project), "--trust", cwd=tmp_path, env=env)
    assert trusted.returncode == 0, trusted.stderr
    text = (codex_home / "config.toml").read_text()
    assert text.startswith(original.rstrip("\n")) and "# keep this comment" in text
    import tomllib
    config = tomllib.loads(text)
    hooks_path = project.resolve() / ".codex" / "hooks.json"
    assert config["projects"][str(project.resolve())] == {"trust_level": "trusted"}
    assert config["projects"]["/elsewhere"] == {"trust_level": "untrusted"}
    assert sorted(config["hooks"]["state"]) == sorted(
        f"{hooks_path}:{event}:0:0" for event in ("session_start", "session_end", "post_tool_use",
                                                  "subagent_start", "subagent_stop", "stop"))
    assert hooks_command("status", "codex", "--project", str(project), cwd=tmp_path, env=env).returncode == 0
    again = hooks_command("install", "codex", "--project", str(project), "--trust", cwd=tmp_path, env=env)
    assert "already trusted" in again.stdout and (codex_home / "config.toml").read_text() == text
    # A changed command (another installation, an edit) changes the hash: Codex will not run it.
    settings = json.loads(hooks_path.read_text())
    settings["hooks"]["Stop"][0]["hooks"][0]["command"] = "/other/bin/treeship-store hook codex"
    hooks_path.write_text(json.dumps(settings))
    status = hooks_command("status", "codex", "--project", str(project), cwd=tmp_path, env=env)
    assert status.returncode == 1 and "changed or disabled since trusted: Stop" in status.stdout


def test_trust_is_for_codex_and_claude_code_status_reads_its_settings(tmp_path):
    assert hooks_command("install", "claude-code", "--trust", cwd=tmp_path).returncode == 2
    assert not (tmp_path / ".claude").exists()
    assert hooks_command("status", "claude-code", cwd=tmp_path).returncode == 1
    assert hooks_command("install", "claude-code", cwd=tmp_path).returncode == 0
    assert hooks_command("status", "claude-code", cwd=tmp_path).returncode == 0
    settings = json.loads((tmp_path / ".claude" / "settings.json").read_text())
    (tmp_path / ".claude" / "settings.json").write_text(json.dumps({**settings, "disableAllHooks": True}))
    status = hooks_command("status", "claude-code", cwd=tmp_path)
    assert status.returncode == 1 and "disableAllHooks" in status.stdout


def test_a_codex_config_that_is_not_toml_is_one_line_and_left_alone(tmp_path):
    (tmp_path / "codex-home").mkdir()
    (tmp_path / "codex-home" / "config.toml").write_text("model = [unclosed\n")
    env = {"CODEX_HOME": str(tmp_path / "codex-home")}
    result = hooks_command("install", "codex", "--trust", cwd=tmp_path, env=env)
    assert result.returncode == 1 and result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1
    assert (tmp_path / "codex-home" / "config.toml").read_text() == "model = [unclosed\n"


def test_with_text_adds_the_prompts_hook_and_installing_without_it_takes_it_back(tmp_path):
    """`--with-text` installs every hook with the flag, and the prompt's hook;
    the installed command, run for real, keeps the prompt (redacted) as a
    note; installing again without it turns it off, theirs untouched."""
    settings = tmp_path / ".claude" / "settings.json"
    settings.parent.mkdir()
    settings.write_text(json.dumps(THEIRS))
    assert hooks_command("install", "claude-code", "--with-text", cwd=tmp_path).returncode == 0
    installed = json.loads(settings.read_text())["hooks"]
    ours = {event: h["command"] for event, groups in installed.items() for g in groups for h in g["hooks"]
            if "hook claude-code" in h["command"]}
    assert "UserPromptSubmit" in ours and all(command.endswith(" --with-text") for command in ours.values())
    prompt = {"session_id": CLAUDE_SESSION, "cwd": str(tmp_path), "hook_event_name": "UserPromptSubmit",
              "prompt_id": "p-1", "prompt": "deploy with ANTHROPIC_API_KEY=sk-ant-api03-" + "a" * 40 + " please"}
    result = subprocess.run(ours["UserPromptSubmit"], shell=True, input=json.dumps(prompt).encode(),
                            capture_output=True, cwd=tmp_path, env=ENV, timeout=60)
    assert result.returncode == 0, result.stderr
    with Store(tmp_path / ".treeship") as store:
        notes = list(store.events(type="agent.note"))
        assert [n["meta"]["text"] for n in store.events(search="deploy please")] == [notes[0]["meta"]["text"]]
    assert len(notes) == 1 and notes[0]["meta"]["kind"] == "prompt" and notes[0]["meta"]["turn"] == "p-1"
    assert "sk-ant-api03" not in notes[0].raw.decode() and notes[0]["meta"]["text"].startswith("deploy with")
    assert hooks_command("install", "claude-code", cwd=tmp_path).returncode == 0
    plain = json.loads(settings.read_text())["hooks"]
    ours = {event: h["command"] for event, groups in plain.items() for g in groups for h in g["hooks"]
            if "hook claude-code" in h["command"]}
    assert "UserPromptSubmit" not in ours and not any(c.endswith("--with-text") for c in ours.values())
    assert plain["Notification"] == THEIRS["hooks"]["Notification"]
    assert hooks_command("uninstall", "claude-code", cwd=tmp_path).returncode == 0
    assert json.loads(settings.read_text()) == THEIRS


def test_statusline_is_set_never_over_one_of_theirs_and_taken_back(tmp_path):
    settings = tmp_path / ".claude" / "settings.json"
    settings.parent.mkdir()
    settings.write_text(json.dumps(THEIRS))
    result = hooks_command("install", "claude-code", "--statusline", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    line = json.loads(settings.read_text())["statusLine"]
    assert line["type"] == "command" and line["command"].endswith(" statusline")
    with Store(tmp_path / ".treeship") as store:
        store.append(CLAUDE_SESSION, {"type": "agent.decision", "agent_id": "agent://claude-code",
                                      "agent_instance_id": "ai_cc_1", "agent_name": "claude-code",
                                      "host_id": "h", "model": "m", "tokens_in": 10, "tokens_out": 2})
    shown = subprocess.run(line["command"], shell=True, input=json.dumps({"session_id": CLAUDE_SESSION,
                                                                          "cwd": str(tmp_path)}).encode(),
                           capture_output=True, cwd=tmp_path, env=ENV, timeout=60)
    assert shown.stdout.decode() == "12 tokens · 0 failed\n", shown.stderr
    assert hooks_command("install", "claude-code", cwd=tmp_path).returncode == 0  # without it: taken back
    assert "statusLine" not in json.loads(settings.read_text())
    mine = {**THEIRS, "statusLine": {"type": "command", "command": "~/bin/my-status"}}
    settings.write_text(json.dumps(mine))
    refused = hooks_command("install", "claude-code", "--statusline", cwd=tmp_path)
    assert refused.returncode == 1 and refused.stderr.startswith("Error: ") and "status line of its own" in \
        refused.stderr
    assert json.loads(settings.read_text()) == mine  # nothing changed
    assert hooks_command("install", "codex", "--statusline", cwd=tmp_path).returncode == 2
