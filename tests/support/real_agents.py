"""Driving the real Claude Code and Codex binaries, offline.

The agents come from the npm registry (`.ci/run` installs them into
tests/agents/node_modules, versions pinned in tests/agents/package.json).
They run only inside a network namespace that holds nothing but loopback
(`unshare -n`), with their telemetry off, against
tests/support/model_server.py in the same namespace: no traffic can leave
the machine, whatever they try.

`python tests/support/real_agents.py SPEC.json` is what runs inside the
namespace: it brings loopback up, refuses to go on if any other interface
exists, starts the model server, runs each command of the spec in turn and
writes what happened (exit codes, stdout, stderr) to the spec's `result`
path. `run()` is the tests' side: it writes the spec and starts that under
`unshare -n`.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent
MODULES = TESTS / "agents" / "node_modules"
CLAUDE = MODULES / "@anthropic-ai" / "claude-code-linux-x64" / "claude"
CODEX = MODULES / "@openai" / "codex-linux-x64" / "vendor" / "x86_64-unknown-linux-musl" / "bin" / "codex"

# The model server's port: any port is free in a namespace of our own, and a
# fixed one can be written into the agents' configuration files beforehand.
PORT = 18431
BASE_URL = f"http://127.0.0.1:{PORT}"

# Everything the agents would otherwise send to their vendors, off.
QUIET = {"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "DISABLE_TELEMETRY": "1", "DISABLE_AUTOUPDATER": "1",
         "DISABLE_ERROR_REPORTING": "1", "DISABLE_BUG_COMMAND": "1", "CLAUDE_CODE_DISABLE_FEEDBACK_SURVEY": "1",
         "OTEL_SDK_DISABLED": "true", "NO_COLOR": "1", "IS_SANDBOX": "1"}


def available() -> str | None:
    """None when the agents can be run here, else why not."""
    if not CLAUDE.exists() or not CODEX.exists():
        return "the agents are not installed (npm ci --prefix tests/agents)"
    if shutil.which("unshare") is None:
        return "unshare (util-linux) is missing"
    probe = subprocess.run(_unshare(["true"]), capture_output=True)
    if probe.returncode != 0:
        return f"cannot make a network namespace: {probe.stderr.decode(errors='replace').strip()}"
    return None


def _unshare(command: list[str]) -> list[str]:
    # As root (CI) a plain network namespace; otherwise one inside a user
    # namespace, where this user is root for the namespace only.
    return ["unshare", "-n", *command] if os.geteuid() == 0 else ["unshare", "-r", "-n", *command]


def run(work: Path, script: dict, commands: list[dict], timeout: float = 300) -> dict:
    """Run `commands` ({argv, cwd, env, stdin?}) one after the other inside a
    loopback-only namespace, with the model server answering from `script`.
    Returns {"runs": [{returncode, stdout, stderr, seconds}], "log": [answers]}."""
    spec = {"script": script, "commands": commands, "result": str(work / "result.json"),
            "log": str(work / "model-log.jsonl")}
    (work / "spec.json").write_text(json.dumps(spec))
    subprocess.run(_unshare([sys.executable, str(Path(__file__)), str(work / "spec.json")]),
                   check=True, timeout=timeout)
    result = json.loads((work / "result.json").read_text())
    result["log"] = [json.loads(line) for line in (work / "model-log.jsonl").read_text().splitlines()] \
        if (work / "model-log.jsonl").exists() else []
    return result


def _loopback_only() -> None:
    """Bring `lo` up; refuse to run anything if this namespace has any other
    interface (it would not be a namespace of our own)."""
    # if_nameindex asks the kernel about this namespace (/sys/class/net may
    # show the host's, as sysfs stays the one mounted outside).
    others = sorted({name for _, name in socket.if_nameindex()} - {"lo"})
    if others:
        raise SystemExit(f"refusing to run the agents: interfaces besides loopback: {others}")
    request = struct.pack("16sh", b"lo", 0)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        flags = struct.unpack("16sh", fcntl.ioctl(sock, 0x8913, request))[1]  # SIOCGIFFLAGS
        fcntl.ioctl(sock, 0x8914, struct.pack("16sh", b"lo", flags | 1))  # SIOCSIFFLAGS, IFF_UP


def _inside(spec_path: str) -> None:
    sys.path.insert(0, str(TESTS))  # for support.model_server
    from support.model_server import Script, serve  # noqa: PLC0415 - this file runs as a script too
    spec = json.loads(Path(spec_path).read_text())
    _loopback_only()
    server = serve(Script(spec["script"]), spec["log"], port=PORT)
    port = PORT
    runs = []
    for command in spec["commands"]:
        env = command["env"]
        started = time.monotonic()
        try:
            done = subprocess.run(command["argv"], cwd=command["cwd"], env=env, capture_output=True,
                                  input=command.get("stdin", "").encode(), timeout=command.get("timeout", 240))
            outcome = {"returncode": done.returncode, "stdout": done.stdout.decode(errors="replace"),
                       "stderr": done.stderr.decode(errors="replace")}
        except subprocess.TimeoutExpired as expired:
            outcome = {"returncode": None, "stdout": (expired.stdout or b"").decode(errors="replace"),
                       "stderr": (expired.stderr or b"").decode(errors="replace") + "\n[timed out]"}
        outcome["seconds"] = time.monotonic() - started
        runs.append(outcome)
    server.shutdown()
    Path(spec["result"]).write_text(json.dumps({"runs": runs, "port": port}))




# -- The scripted sessions the tests (and scripts/bench.py) drive ------------

CLAUDE_SESSION = "5f1c6e8a-2b4d-4c3e-9a7f-0e1d2c3b4a59"


def _claude_usage(i: int, o: int, read: int = 0, write_5m: int = 0, write_1h: int = 0) -> dict:
    turn = {"usage": {"input_tokens": i, "output_tokens": o, "cache_read_input_tokens": read,
                      "cache_creation_input_tokens": write_5m + write_1h}}
    if write_5m or write_1h:
        turn["cache_creation"] = {"ephemeral_5m_input_tokens": write_5m, "ephemeral_1h_input_tokens": write_1h}
    return turn


def claude_script(project: Path) -> dict:
    """Shell commands that succeed, fail, and exit 1 with Claude Code's own
    reading of it; Write, Read, Edit; a foreground and a background
    sub-agent; text with a tool call in one response; a resumed session."""
    def tool(name, **tool_input):
        return {"name": name, "input": tool_input}
    return {
        "[e2e-claude-main]": [
            {"tools": [tool("Bash", command="echo hello > out.txt", description="write")],
             **_claude_usage(101, 11, 1000, 40, 10)},
            {"tools": [tool("Bash", command="ls /nonexistent-e2e", description="fail")], **_claude_usage(102, 12, 1001)},
            {"tools": [tool("Bash", command="grep -c nomatch out.txt", description="count")], **_claude_usage(103, 13)},
            {"text": "Writing the file now.",
             "tools": [tool("Write", file_path=str(project / "new.py"), content="a = 1\nb = 2\n")],
             **_claude_usage(104, 14)},
            {"tools": [tool("Read", file_path=str(project / "new.py"))], **_claude_usage(105, 15)},
            {"tools": [tool("Edit", file_path=str(project / "new.py"), old_string="b = 2", new_string="b = 3\nc = 4")],
             **_claude_usage(106, 16)},
            {"tools": [tool("Agent", description="foreground helper", prompt="[e2e-claude-fg] run echo",
                            subagent_type="general-purpose", run_in_background=False)], **_claude_usage(107, 17)},
            {"tools": [tool("Agent", description="background helper", prompt="[e2e-claude-bg] read out",
                            subagent_type="general-purpose")], **_claude_usage(108, 18)},
            {"text": "All done.", **_claude_usage(109, 19)},
        ],
        "[e2e-claude-fg]": [
            {"tools": [tool("Bash", command="echo sub", description="echo")], **_claude_usage(201, 21)},
            {"text": "sub done", **_claude_usage(202, 22)},
        ],
        "[e2e-claude-bg]": [
            {"tools": [tool("Read", file_path=str(project / "out.txt"))], **_claude_usage(301, 31)},
            {"text": "bg done", **_claude_usage(302, 32)},
        ],
        "[e2e-claude-resume]": [
            {"tools": [tool("Bash", command="true", description="nothing")], **_claude_usage(401, 41, 500)},
            {"text": "Resumed.", **_claude_usage(402, 42)},
        ],
    }


def claude_commands(home: Path, project: Path) -> list[dict]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home),
           "CLAUDE_CONFIG_DIR": str(home / ".claude"), "ANTHROPIC_BASE_URL": BASE_URL,
           "ANTHROPIC_API_KEY": "sk-ant-e2e-dummy", "CLAUDE_CODE_BASH_EDIT_DIFF": "true", **QUIET}
    common = ["--dangerously-skip-permissions", "--output-format", "json"]
    return [{"argv": [str(CLAUDE), "-p", "[e2e-claude-main] do the work", "--session-id", CLAUDE_SESSION, *common],
             "cwd": str(project), "env": env},
            {"argv": [str(CLAUDE), "-p", "[e2e-claude-resume] once more", "--resume", CLAUDE_SESSION, *common],
             "cwd": str(project), "env": env}]


PATCH = ("*** Begin Patch\n*** Add File: new.py\n+a = 1\n+b = 2\n*** Update File: app.py\n@@\n x = 1\n-y = 2\n"
         "+y = 3\n+z = 4\n*** End Patch\n")


def codex_script() -> dict:
    """Shell commands that succeed and fail, apply_patch adding one file and
    changing another, reasoning tokens, a resumed session."""
    def usage(i, o, cached=0, reasoning=0):
        return {"usage": {"input_tokens": i, "output_tokens": o, "cached_input_tokens": cached,
                          "reasoning_output_tokens": reasoning}}
    return {
        "[e2e-codex-main]": [
            {"tools": [{"name": "exec_command", "input": {"cmd": "echo hello > out.txt"}}], **usage(1101, 111, 500, 50)},
            {"tools": [{"name": "exec_command", "input": {"cmd": "sleep 0.2; ls /nonexistent-e2e"}}],
             **usage(1102, 112, 501, 51)},
            {"tools": [{"name": "apply_patch", "custom": True, "input": PATCH}], **usage(1103, 113)},
            {"text": "All done.", **usage(1104, 114, 0, 14)},
        ],
        "[e2e-codex-resume]": [
            {"tools": [{"name": "exec_command", "input": {"cmd": "true"}}], **usage(1201, 121, 600, 21)},
            {"text": "Resumed.", **usage(1202, 122)},
        ],
    }


def codex_config(codex_home: Path) -> None:
    """A provider on the model server, and nothing that would go elsewhere."""
    codex_home.mkdir(parents=True, exist_ok=True)
    (codex_home / "config.toml").write_text(
        '# written by the end-to-end tests\nmodel = "gpt-5.5"\nmodel_provider = "e2e"\n'
        'check_for_update_on_startup = false\n\n'
        f'[model_providers.e2e]\nname = "e2e"\nbase_url = "{BASE_URL}/v1"\nwire_api = "responses"\n'
        'env_key = "E2E_OPENAI_KEY"\n\n[analytics]\nenabled = false\n')


def codex_commands(home: Path, project: Path) -> list[dict]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "CODEX_HOME": str(home / ".codex"),
           "E2E_OPENAI_KEY": "sk-e2e-dummy", **QUIET}
    common = ["exec", "--dangerously-bypass-approvals-and-sandbox", "--skip-git-repo-check"]
    return [{"argv": [str(CODEX), *common, "[e2e-codex-main] do the work"], "cwd": str(project), "env": env},
            {"argv": [str(CODEX), *common, "resume", "--last", "[e2e-codex-resume] once more"],
             "cwd": str(project), "env": env}]


# -- Recording what the agents send, for tests/fixtures -----------------------

def add_recorders(agent: str, settings_path: Path, out: Path, codex_home: Path | None = None) -> None:
    """A recorder beside our hooks for every hook event the agent has: each
    payload, and how many complete lines the transcripts it names had then."""
    from treeship_store.capture.trust import hook_hash, hook_key  # noqa: PLC0415
    events = ["SessionStart", "SessionEnd", "UserPromptSubmit", "PreToolUse", "PostToolUse", "Stop",
              "SubagentStart", "SubagentStop"]
    if agent == "claude-code":
        events += ["PostToolUseFailure"]
    settings = json.loads(settings_path.read_text())
    command = f"{sys.executable} {Path(__file__).resolve()} --record {out}"
    trust = []
    for event in events:
        groups = settings["hooks"].setdefault(event, [])
        group = {"hooks": [{"type": "command", "command": command, "timeout": 3 if event == "SessionEnd" else 10}]}
        groups.append(group)
        trust.append(f'[hooks.state."{hook_key(settings_path, event, len(groups) - 1, 0)}"]\n'
                     f'trusted_hash = "{hook_hash(event, group, group["hooks"][0])}"\n')
    settings_path.write_text(json.dumps(settings, indent=2))
    if codex_home is not None:
        with open(codex_home / "config.toml", "a") as config:
            config.write("\n" + "\n".join(trust))


def _record(out: str) -> None:
    payload = json.loads(sys.stdin.buffer.read())
    lines = {}
    main = payload.get("transcript_path")
    paths = [main, payload.get("agent_transcript_path")]
    if isinstance(main, str) and main.endswith(".jsonl"):  # Claude Code's sub-agents' transcripts beside it
        paths += sorted(str(p) for p in Path(main[:-len(".jsonl")]).glob("subagents/*.jsonl"))
    for path in paths:
        if isinstance(path, str) and os.path.isfile(path):
            with open(path, "rb") as transcript:
                lines[path] = transcript.read().count(b"\n")
    with open(out, "a") as file:
        fcntl.flock(file, fcntl.LOCK_EX)
        file.write(json.dumps({"payload": payload, "lines": lines}) + "\n")


if __name__ == "__main__":
    if sys.argv[1] == "--record":  # as a hook of the agent's
        _record(sys.argv[2])
    else:  # inside the namespace
        _inside(sys.argv[1])
