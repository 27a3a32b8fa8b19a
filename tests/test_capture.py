"""`treeship-store hook claude-code|codex`: recorded payloads through the real
command, in a subprocess, and the events they become."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from treeship_store import Store

from support import agent_checks as checks
from support.hook_fixtures import (APPLY_PATCH, CLAUDE_SESSION, CODEX_SESSION, SECRET, claude, claude_tool, claude_tool_calls,
                                   claude_transcript_lines, codex, codex_transcript_lines, write_lines)

ENV = {**os.environ, "TREESHIP_STORE_ROOT": "", "TREESHIP_HOST_ID": "host_test"}
MAIN_CC = "ai_cc_" + CLAUDE_SESSION.replace("-", "")[:12]
MAIN_CX = "ai_cx_" + CODEX_SESSION.replace("-", "")[:12]


def hook(agent, payload, *args, cwd=None):
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return subprocess.run([sys.executable, "-m", "treeship_store", *args, "hook", agent], input=data,
                          capture_output=True, env=ENV, cwd=cwd, timeout=60)


def recorded(project, session):
    with Store(project / ".treeship") as store:
        return list(store.events(session))


def one_line_failure(result):
    return result.returncode == 1 and result.stderr.startswith(b"Error: ") and result.stderr.count(b"\n") == 1


@pytest.fixture
def project(tmp_path):
    (tmp_path / "project" / "src").mkdir(parents=True)
    return tmp_path / "project"


def test_a_claude_code_session_becomes_its_events(project, tmp_path):
    transcript = tmp_path / "transcript.jsonl"
    write_lines(transcript, claude_transcript_lines())
    sub_transcript = tmp_path / "agent-a1b2.jsonl"
    write_lines(sub_transcript, [claude_transcript_lines()[3]])
    # The store is found from the payload's cwd: a .treeship is created at it.
    assert hook("claude-code", claude("SessionStart", project / "src", source="startup")).returncode == 0
    assert (project / "src" / ".treeship").is_dir()
    project = project / "src"
    calls = claude_tool_calls(project)
    for payload, _, _ in calls:
        result = hook("claude-code", payload)
        assert result.returncode == 0, result.stderr
    steps = [claude("SubagentStart", project, agent_id="a1b2", agent_type="Explore"),
             claude_tool(project, "Read", {"file_path": "/p/deep.py"}, {}, agent="a1b2"),
             claude("SubagentStop", project, agent_id="a1b2", agent_type="Explore", stop_hook_active=False,
                    agent_transcript_path=str(sub_transcript)),
             claude("Stop", project, transcript=str(transcript), stop_hook_active=False),
             claude("SessionStart", project, source="resume"),
             claude("UserPromptSubmit", project, prompt="more"),
             claude("SessionEnd", project, transcript=str(transcript), reason="logout")]
    for payload in steps:
        result = hook("claude-code", payload)
        assert result.returncode == 0, result.stderr
    events = recorded(project, CLAUDE_SESSION)
    types = [e["type"] for e in events]
    assert types[:2] == ["session.started", "agent.started"] and types.count("session.started") == 1
    assert types[-2:] == ["agent.completed", "session.closed"]
    for (_, kind, fields), event in zip(calls, events[2:2 + len(calls)]):
        assert event["type"] == kind and {k: event.get(k) for k in fields} == fields, event
        assert event["agent_instance_id"] == MAIN_CC and event["meta"]["tool_use_id"].startswith("toolu_")
    bash_ok, bash_failed = [e for e in events if e["type"] == "agent.completed_process"]
    # Claude Code reports a success without a code: completed, not interrupted, not a failure is 0.
    assert bash_ok["exit_code"] == 0 and bash_failed["meta"]["failed"] is True
    called = next(e for e in events if e["type"] == "agent.called_tool")
    assert called["tool_input_digest"].startswith("sha256:") and len(called["tool_output_digest"]) == 71
    # The sub-agent: spawned by the main agent, its own events under its own instance.
    sub = "ai_cc_sub_a1b2"
    with Store(project / ".treeship") as store:
        assert [e["type"] for e in store.events(CLAUDE_SESSION, agent=sub)] == \
            ["agent.spawned", "agent.started", "agent.read_file", "agent.decision", "agent.completed"]
        spawned = next(store.events(agent=sub, type="agent.spawned"))
        assert spawned["spawned_by_agent_instance_id"] == MAIN_CC and spawned["agent_role"] == "Explore"
        tokens = store.stats(CLAUDE_SESSION)["tokens_by_model"]
    # Tokens: each response once (the repeated block and the synthetic line are not responses).
    assert tokens == {"claude-opus-4-1": {"decisions": 1, "tokens_in": 115, "tokens_out": 20},
                      "claude-haiku-4-5": {"decisions": 2, "tokens_in": 14, "tokens_out": 6}}
    closed = events[-1]
    assert closed["summary"] == "logout" and isinstance(closed["duration_ms"], int)
    raw = (project / ".treeship" / "sessions" / CLAUDE_SESSION / "events.jsonl").read_bytes()
    assert SECRET.encode() not in raw and b"abc123" not in raw and b"3 passed" not in raw
    assert Store(project / ".treeship").verify().ok


def test_tokens_are_counted_once_across_reads_and_a_lost_cache(project, tmp_path):
    transcript = tmp_path / "t.jsonl"
    lines = claude_transcript_lines()
    write_lines(transcript, lines[:2])  # the first block of msg_1 only
    stop = claude("Stop", project, transcript=str(transcript))
    assert hook("claude-code", stop, "--root", str(project / ".treeship")).returncode == 0
    write_lines(transcript, lines[2:] + [lines[3]], mode="a")  # msg_1's second block, msg_2 twice
    (project / ".treeship" / "sessions" / CLAUDE_SESSION / "events.jsonl.capture").unlink()
    for _ in range(2):
        assert hook("claude-code", stop, "--root", str(project / ".treeship")).returncode == 0
    decisions = [e["model"] for e in recorded(project, CLAUDE_SESSION) if e["type"] == "agent.decision"]
    assert decisions == ["claude-opus-4-1", "claude-haiku-4-5"]


def test_concurrent_stops_count_each_response_once(project, tmp_path):
    transcript = tmp_path / "t.jsonl"
    write_lines(transcript, claude_transcript_lines())
    data = json.dumps(claude("Stop", project, transcript=str(transcript))).encode()
    runs = [subprocess.Popen([sys.executable, "-m", "treeship_store", "hook", "claude-code"], stdin=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=ENV) for _ in range(8)]
    for run in runs:
        run.communicate(data, timeout=60)
    assert [run.returncode for run in runs] == [0] * 8
    assert [e["type"] for e in recorded(project, CLAUDE_SESSION)].count("agent.decision") == 2


def test_a_codex_session_becomes_its_events(project, tmp_path):
    rollout = tmp_path / "rollout.jsonl"
    write_lines(rollout, codex_transcript_lines())
    payloads = [
        codex("SessionStart", project, source="startup"),
        codex("PostToolUse", project, tool_name="Bash", tool_use_id="call_1",
              tool_input={"command": ["bash", "-lc", f"GITHUB_TOKEN={SECRET} cargo test"]},
              tool_response="Exit code: 1\nWall time: 0.5 seconds\nOutput:\nfailures: 2"),
        codex("PostToolUse", project, tool_name="apply_patch", tool_use_id="call_2",
              tool_input={"command": APPLY_PATCH}, tool_response="Success. Updated the following files"),
        codex("PostToolUse", project, tool_name="mcp__linear__get_issue", tool_use_id="call_3",
              tool_input={"id": "ENG-1"}, tool_response={"title": "x"}),
        codex("SubagentStart", project, agent_id="worker-1", agent_type="worker"),
        codex("SubagentStop", project, agent_id="worker-1", agent_type="worker", agent_transcript_path=None,
              last_assistant_message="done", stop_hook_active=False),
        codex("Stop", project, transcript=str(rollout), stop_hook_active=False, last_assistant_message="ok"),
        codex("Stop", project, transcript=str(rollout), stop_hook_active=False, last_assistant_message="ok"),
    ]
    for payload in payloads:
        result = hook("codex", payload)
        assert result.returncode == 0, result.stderr
    events = recorded(project, CODEX_SESSION)
    assert [e["type"] for e in events] == [
        "session.started", "agent.started", "agent.completed_process", "agent.wrote_file", "agent.wrote_file",
        "agent.wrote_file", "agent.called_tool", "agent.spawned", "agent.started", "agent.completed",
        "agent.decision", "agent.decision"]
    process = events[2]
    assert (process["process_name"], process["exit_code"], process["duration_ms"]) == ("bash", 1, 500)
    assert SECRET not in process["command"] and "cargo test" in process["command"]
    assert [(e["file_path"], e["operation"], e["additions"], e["deletions"]) for e in events[3:6]] == [
        ("src/new.rs", "created", 2, 0), ("src/lib.rs", "modified", 2, 1), ("src/gone.rs", "deleted", 0, 0)]
    assert all(e["agent_id"] == "agent://codex" for e in events)
    assert events[9]["agent_instance_id"] == "ai_cx_sub_worker-1"
    with Store(project / ".treeship") as store:
        assert store.stats(CODEX_SESSION)["tokens_by_model"] == \
            {"gpt-5-codex": {"decisions": 2, "tokens_in": 150, "tokens_out": 25}}  # reasoning is part of output


@pytest.mark.parametrize("payload", [
    b"{not json", b"[1, 2]", b"", json.dumps({"hook_event_name": "Stop"}).encode(),
    json.dumps({"session_id": "../../etc", "hook_event_name": "Stop"}).encode()])
def test_a_bad_payload_is_one_line_exit_1_and_writes_nothing(project, payload):
    result = hook("claude-code", payload, cwd=project)
    assert one_line_failure(result), result.stderr
    assert not (project / ".treeship" / "sessions").exists()


def test_usage_errors_of_a_hook_exit_1_never_2(project):
    for args in (["hook", "nobody"], ["hook"], ["hook", "--bogus", "claude-code"]):
        result = subprocess.run([sys.executable, "-m", "treeship_store", *args], input=b"{}", capture_output=True,
                                env=ENV, cwd=project, timeout=60)
        assert one_line_failure(result), (args, result.stderr)


def test_an_unreadable_transcript_fails_the_hook_and_writes_nothing(project, tmp_path):
    assert hook("claude-code", claude("SessionStart", project)).returncode == 0
    before = recorded(project, CLAUDE_SESSION)
    result = hook("claude-code", claude("Stop", project, transcript=str(tmp_path / "missing.jsonl")))
    assert one_line_failure(result) and b"missing.jsonl" in result.stderr
    assert recorded(project, CLAUDE_SESSION) == before


HOLD = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(60)
"""


def test_a_wedged_lock_holder_fails_the_hook_quickly_and_nothing_is_written(project):
    assert hook("claude-code", claude("SessionStart", project)).returncode == 0
    lock = project / ".treeship" / "sessions" / CLAUDE_SESSION / "events.jsonl.lock"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(lock)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        before = recorded(project, CLAUDE_SESSION)
        payload = claude_tool(project, "Read", {"file_path": "/p/x"}, {})
        result = hook("claude-code", payload)  # waits the default bounded time (5 s), not the agent's 60 s
        assert one_line_failure(result) and b"still held" in result.stderr
        result = subprocess.run([sys.executable, "-m", "treeship_store", "hook", "claude-code", "--lock-timeout",
                                 "0.3"], input=json.dumps(payload).encode(), capture_output=True, env=ENV, timeout=30)
        assert one_line_failure(result) and b"still held" in result.stderr
    finally:
        holder.kill()
        holder.wait()
    assert recorded(project, CLAUDE_SESSION) == before


def test_odd_values_in_a_payload_cost_their_field_not_the_call(project):
    payload = claude_tool(project, "Bash", {"command": 42}, {"exit_code": 2**70, "stdout": None}, duration_ms=-5,
                          agent_type=["x"])
    payload["source"] = {"not": "a string"}
    result = hook("claude-code", payload)
    assert result.returncode == 0, result.stderr
    process = recorded(project, CLAUDE_SESSION)[-1]
    assert process["type"] == "agent.completed_process" and process["process_name"] == "shell"
    assert "exit_code" not in process and "duration_ms" not in process


def test_a_fifo_named_as_the_transcript_fails_the_hook_at_once(project, tmp_path):
    fifo = tmp_path / "transcript.fifo"
    os.mkfifo(fifo)
    result = hook("claude-code", claude("Stop", project, transcript=str(fifo)))  # would block without the check
    assert one_line_failure(result) and b"not a regular file" in result.stderr


def test_a_hand_edited_transcript_mark_does_not_jam_later_hooks(project, tmp_path):
    transcript = tmp_path / "t.jsonl"
    write_lines(transcript, claude_transcript_lines())
    stop = claude("Stop", project, transcript=str(transcript))
    assert hook("claude-code", stop).returncode == 0
    record = project / ".treeship" / "sessions" / CLAUDE_SESSION / "events.jsonl"
    text = record.read_text().replace('"last_id":"msg_2"', '"last_id":{"x":1},"model":[1],"offset":-5')
    record.write_text(text)  # behind the index's back: the next catch-up re-indexes the session
    (project / ".treeship" / "sessions" / CLAUDE_SESSION / "events.jsonl.capture").unlink()
    result = hook("claude-code", stop)
    assert result.returncode == 0, result.stderr


FIXTURES = Path(__file__).parent / "fixtures"


def test_a_recorded_claude_code_session_replays_to_its_events(tmp_path, monkeypatch):
    """Claude Code 2.1.328's own payloads and transcripts (scripts/record_agents.py)."""
    monkeypatch.setenv("TREESHIP_HOST_ID", "host_test")
    events, log, _, runs = checks.replay(FIXTURES / "claude-code-2.1.328", tmp_path, "claude-code")
    checks.claude_exit_codes(events)
    checks.claude_files(events)
    checks.claude_tokens(events, log, runs[-1]["stdout"])
    assert checks.lifecycle(events) == checks.TWO_RUNS


def test_a_recorded_codex_session_replays_to_its_events(tmp_path, monkeypatch):
    """Codex 0.169.0's own payloads and rollout (scripts/record_agents.py)."""
    monkeypatch.setenv("TREESHIP_HOST_ID", "host_test")
    events, log, rollouts, _ = checks.replay(FIXTURES / "codex-0.169.0", tmp_path, "codex")
    checks.codex_exit_codes(events, rollouts)
    checks.codex_files(events)
    checks.codex_tokens(events, log, rollouts)
    assert checks.lifecycle(events) == checks.TWO_RUNS


def _claude_response(message_id, block, model="claude-opus-4-1", output=5):
    return {"type": "assistant", "timestamp": "2026-11-24T10:00:01.000Z",
            "message": {"id": message_id, "model": model, "content": [{"type": block}],
                        "usage": {"input_tokens": 10, "output_tokens": output}}}


def test_interleaved_blocks_of_two_responses_count_two(project, tmp_path):
    transcript = tmp_path / "t.jsonl"
    write_lines(transcript, [_claude_response(m, "text") for m in ("msg_A", "msg_B", "msg_A", "msg_B", "msg_A")])
    assert hook("claude-code", claude("Stop", project, transcript=str(transcript))).returncode == 0
    decisions = [e for e in recorded(project, CLAUDE_SESSION) if e["type"] == "agent.decision"]
    assert [e["meta"]["message_id"] for e in decisions] == ["msg_A", "msg_B"]


def test_a_transcript_replaced_by_a_shorter_copy_counts_nothing_again(project, tmp_path):
    transcript = tmp_path / "t.jsonl"
    lines = [_claude_response(f"msg_{n}", "text") for n in range(6)]
    write_lines(transcript, lines)
    stop = claude("Stop", project, transcript=str(transcript))
    assert hook("claude-code", stop).returncode == 0
    write_lines(transcript, lines[:3])  # restored from an older copy
    assert hook("claude-code", stop).returncode == 0
    write_lines(transcript, [_claude_response("msg_new", "text")], mode="a")  # and the agent goes on
    assert hook("claude-code", stop).returncode == 0
    decisions = [e["meta"]["message_id"] for e in recorded(project, CLAUDE_SESSION) if e["type"] == "agent.decision"]
    assert decisions == [f"msg_{n}" for n in range(6)] + ["msg_new"]


def test_a_line_longer_than_one_read_is_passed_over_and_counting_goes_on(project, tmp_path, monkeypatch):
    from treeship_store.capture import run_hook, transcript as reader
    monkeypatch.setattr(reader, "MAX_READ", 4096)
    transcript = tmp_path / "t.jsonl"
    huge = _claude_response("msg_huge", "text")
    huge["message"]["content"][0]["text"] = "x" * 20_000
    write_lines(transcript, [_claude_response("msg_1", "text"), huge, _claude_response("msg_2", "text")])
    stop = json.dumps(claude("Stop", project, transcript=str(transcript))).encode()
    for _ in range(3):  # the first read stops before the long line, the next passes it, the last finds msg_2
        run_hook("claude-code", stop)
    decisions = [e for e in recorded(project, CLAUDE_SESSION) if e["type"] == "agent.decision"]
    assert [e["meta"]["message_id"] for e in decisions] == ["msg_1", "msg_2"]
    assert decisions[-1]["meta"]["transcript"]["skipped"] == 1


def test_a_sub_agents_last_response_written_after_its_stop_is_counted_at_the_next_stop(project, tmp_path):
    main, sub = tmp_path / "main.jsonl", tmp_path / "agent-a1b2.jsonl"
    write_lines(main, [])
    write_lines(sub, [_claude_response("msg_s1", "tool_use")])
    assert hook("claude-code", claude("SubagentStart", project, agent_id="a1b2", agent_type="Explore")).returncode == 0
    assert hook("claude-code", claude("SubagentStop", project, agent_id="a1b2", agent_type="Explore",
                                      agent_transcript_path=str(sub))).returncode == 0
    write_lines(sub, [_claude_response("msg_s2", "text")], mode="a")  # still being written while the hook ran
    assert hook("claude-code", claude("Stop", project, transcript=str(main))).returncode == 0
    decisions = [e for e in recorded(project, CLAUDE_SESSION) if e["type"] == "agent.decision"]
    assert [(e["meta"]["message_id"], e["agent_instance_id"], e["agent_name"]) for e in decisions] == [
        ("msg_s1", "ai_cc_sub_a1b2", "Explore#a1b2"), ("msg_s2", "ai_cc_sub_a1b2", "Explore#a1b2")]


def test_file_paths_are_relative_to_the_project_inside_it_and_absolute_outside(project):
    (project / ".treeship").mkdir()
    for tool_input in ({"file_path": str(project / "src" / "a.py")}, {"file_path": "/etc/hosts"}):
        assert hook("claude-code", claude_tool(project / "src", "Read", tool_input, {})).returncode == 0
    # Codex names apply_patch's files relative to its working directory, here a subdirectory.
    patch = "*** Begin Patch\n*** Add File: b.py\n+x\n*** End Patch\n"
    assert hook("codex", codex("PostToolUse", project / "src", tool_name="apply_patch", tool_use_id="c1",
                               tool_input={"command": patch}, tool_response="Exit code: 0\n")).returncode == 0
    with Store(project / ".treeship") as store:
        paths = [e["file_path"] for e in store.events(type=["agent.read_file", "agent.wrote_file"])]
    assert sorted(paths) == ["/etc/hosts", "src/a.py", "src/b.py"]


def test_a_tool_calls_redaction_happens_before_the_session_lock_is_taken(project, monkeypatch):
    """The work that grows with a payload (redacting a long command) is done
    before the lock, so a hook beside it never waits for it."""
    import fcntl
    from treeship_store.capture import mapping, run_hook
    assert hook("claude-code", claude("SessionStart", project)).returncode == 0
    lock = project / ".treeship" / "sessions" / CLAUDE_SESSION / "events.jsonl.lock"
    seen = []

    def redact_and_check(text):
        with open(lock, "rb") as probe:
            try:
                fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
                seen.append("free")
            except BlockingIOError:
                seen.append("held")
        return text.replace(SECRET, "[REDACTED]")
    monkeypatch.setattr(mapping, "redact", redact_and_check)
    payload = claude_tool(project, "Bash", {"command": f"TOKEN={SECRET} " + "x" * 100_000}, "Exit code 3", failed=True)
    run_hook("claude-code", json.dumps(payload).encode())
    assert seen and set(seen) == {"free"}
    assert recorded(project, CLAUDE_SESSION)[-1]["exit_code"] == 3


def test_exit_codes_and_wall_times_are_read_as_the_patterns_read_them():
    """exit_code_in and wall_time_in read the agents' texts without `re` (a
    hook's cold start); they must read them exactly as these patterns do."""
    import re
    from hypothesis import given, settings, strategies as st
    from treeship_store.capture.mapping import _ms, exit_code_in, wall_time_in
    exit_code = re.compile(r"(?im)^\s*exit code:?\s*(-?\d{1,4})\b")
    wall_time = re.compile(r"(?im)^\s*wall time:\s*([0-9.]+)\s*s")
    letters = "Exit codeEXITCODE:wall timeWALL TIME -0123456789.sx_\n\r\t é١٢\u0130\u0131"
    texts = st.text(st.sampled_from(list(letters)), max_size=60)
    # (?i) takes the dotted capital I and the dotless i for an i, as it does in redact().
    assert exit_code_in("EX\u0130T CODE 2") == 2 and exit_code_in("ex\u0131t code: 3") == 3
    assert wall_time_in("Wall t\u0131me: 1.5s") == 1500

    @settings(max_examples=3000, deadline=None)
    @given(st.one_of(texts, st.text(max_size=40)))
    def check(text):
        found = exit_code.search(text)
        assert exit_code_in(text) == (int(found.group(1)) if found else None)
        found = wall_time.search(text)
        if found and found.group(1).count(".") <= 1 and found.group(1) != ".":
            assert wall_time_in(text) == _ms(float(found.group(1)))
        elif not found:
            assert wall_time_in(text) is None
    check()


def test_shell_assignments_are_read_as_the_pattern_reads_them():
    """`FOO=bar cmd` names the process cmd; is_assignment reads the words
    without `re`, exactly as [A-Za-z_][A-Za-z0-9_]*= matches them."""
    import re
    from hypothesis import given, settings, strategies as st
    from treeship_store.capture.mapping import is_assignment
    assignment = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")

    @settings(max_examples=3000, deadline=None)
    @given(st.one_of(st.text(st.sampled_from(list("aZ_9=xé٣ -")), max_size=12), st.text(max_size=12)))
    def check(word):
        assert is_assignment(word) == bool(assignment.match(word))
    check()
    from treeship_store.capture.mapping import process_event
    named = process_event("FOO=x _B2=y /usr/bin/pytest -q", {}, None, False, None)["process_name"]
    assert named == "pytest"  # the assignments before it are not the process
    assert process_event("2FA=y make", {}, None, False, None)["process_name"] == "2FA=y"  # not a name: the word


def test_a_lone_surrogate_in_a_payload_costs_only_that_character(project):
    """A JavaScript agent cuts strings by UTF-16 unit, and its JSON.stringify
    writes a half of a cut pair as an escape (\\ud83d). Such a payload is
    JSON; a field holding one is recorded with U+FFFD in its place (the
    line must be UTF-8), never a failed hook that loses the tool call."""
    failed = claude_tool(project, "Bash", {"command": "echo 'done \ud83d'"}, "Exit code 3\ncut at \ud83d",
                         failed=True)
    read = claude_tool(project, "Read", {"file_path": str(project / "src" / "a\udc00.py")}, {})
    for payload in (failed, read):
        data = json.dumps(payload).encode()
        assert b"\\ud83d" in data or b"\\udc00" in data
        result = hook("claude-code", data)
        assert result.returncode == 0, result.stderr
    events = recorded(project, CLAUDE_SESSION)
    process = next(e for e in events if e["type"] == "agent.completed_process")
    assert process["command"] == "echo 'done \ufffd'" and process["exit_code"] == 3
    assert process["meta"]["error"] == "Exit code 3\ncut at \ufffd"
    assert next(e for e in events if e["type"] == "agent.read_file")["file_path"] == "src/a\ufffd.py"
    assert Store(project / ".treeship").verify().ok


@pytest.mark.parametrize("kind", ["symlink", "fifo", "directory"])
def test_a_cache_that_is_not_a_regular_file_costs_a_fold_never_the_append(project, tmp_path, kind):
    """events.jsonl.capture is a cache: one that cannot be read (a symlink,
    FIFO or directory in its place) is neither followed nor trusted, and the
    hook and `append` count and fold the record instead. It was a failed
    hook, and since `append` writes as a hook does, a failed append too."""
    root = project / ".treeship"
    assert hook("claude-code", claude("SessionStart", project, source="startup")).returncode == 0
    cache = root / "sessions" / CLAUDE_SESSION / "events.jsonl.capture"
    cache.unlink()
    target = tmp_path / "elsewhere"
    target.write_text("not ours")
    {"symlink": lambda: cache.symlink_to(target), "fifo": lambda: os.mkfifo(cache),
     "directory": cache.mkdir}[kind]()
    result = hook("claude-code", claude_tool(project, "Read", {"file_path": str(project / "a.py")}, {}))
    assert result.returncode == 0, result.stderr
    result = subprocess.run([sys.executable, "-m", "treeship_store", "--root", str(root), "append", CLAUDE_SESSION,
                             "--type", "agent.note", "--meta", "{\"text\": \"x\"}", "--agent-id", "agent://x"],
                            capture_output=True, env=ENV, timeout=60)
    assert result.returncode == 0, result.stderr
    assert [e["sequence_no"] for e in recorded(project, CLAUDE_SESSION)] == [0, 1, 2, 3]
    assert target.read_text() == "not ours"


def test_a_hint_time_from_the_future_does_not_silence_the_hints(project):
    """The cache says when the session was last named in .treeship/unindexed;
    one in the future (the clock set back, a cache from another machine)
    must not keep the session unnamed until the clock gets there."""
    root = project / ".treeship"
    assert hook("claude-code", claude("SessionStart", project, source="startup")).returncode == 0
    assert (root / "unindexed").read_text() == CLAUDE_SESSION + "\n"
    cache = root / "sessions" / CLAUDE_SESSION / "events.jsonl.capture"
    state = json.loads(cache.read_text())
    state["hinted"] += 86400
    cache.write_text(json.dumps(state))
    (root / "unindexed").unlink()
    assert hook("claude-code", claude_tool(project, "Read", {"file_path": str(project / "a.py")}, {})).returncode == 0
    assert (root / "unindexed").read_text() == CLAUDE_SESSION + "\n"
