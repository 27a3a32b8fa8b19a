"""`treeship-store import`: the agents' own records (the recorded fixtures of
Claude Code 2.1.328 and Codex 0.169.0, and hostile files) into the store,
giving the hooks' events, exactly once, whatever the hooks recorded."""

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from support import agent_checks as checks
from treeship_store import Store
from treeship_store.capture.history import find_files
from treeship_store.capture.replay import import_history

FIXTURES = Path(__file__).parent / "fixtures"
FIXTURE = {"claude-code": FIXTURES / "claude-code-2.1.328", "codex": FIXTURES / "codex-0.169.0"}
AGENTS = ("claude-code", "codex")


@pytest.fixture(autouse=True)
def host(monkeypatch):
    monkeypatch.setenv("TREESHIP_HOST_ID", "host_test")


def summary(events):
    """What an event says, without when or by which writer."""
    return Counter((e["type"], e["agent_instance_id"], e.get("file_path"), e.get("exit_code"), e.get("tokens_in"),
                    e.get("tokens_out"), e.get("tool_name"), e.get("meta", {}).get("message_id"),
                    e.get("meta", {}).get("tool_use_id")) for e in events)


def imported(work, agent, **options):
    return import_history(agent, find_files(agent, str(checks.agent_home(work, agent))), **options)


def stored(work):
    with Store(work / "project" / ".treeship") as store:
        assert store.verify().ok
        return sorted(store.events(), key=lambda e: (e["session_id"], e["sequence_no"]))  # record order


# What a transcript does not say that a hook payload does (README's table):
# when the agent ran twice (a resume), the end of the first run; Claude
# Code's sub-agent transcripts keep no result object, so a sub-agent's
# successful command has no exit code.
def only_the_hooks_know(agent, events):
    main = next(e["agent_instance_id"] for e in events if e["type"] == "session.started")
    first_end = [e for e in events if e["agent_instance_id"] == main
                 and e["type"] in ("agent.completed", "session.closed")][:2]
    reopened = [e for e in events if e["type"] == "agent.started" and e["agent_instance_id"] == main][1:]
    sub_commands = [e for e in events if agent == "claude-code" and e["type"] == "agent.completed_process"
                    and "_sub_" in e["agent_instance_id"] and e.get("exit_code") == 0]
    return summary(first_end + reopened + sub_commands)


@pytest.mark.parametrize("agent", AGENTS)
def test_an_import_gives_the_events_the_hooks_gave(tmp_path, agent):
    hooks_work, import_work = tmp_path / "hooks", tmp_path / "import"
    by_hooks, log, _, _ = checks.replay(FIXTURE[agent], hooks_work, agent)
    checks.lay_out(FIXTURE[agent], import_work, agent)
    (import_work / "project").mkdir()
    report = imported(import_work, agent)
    assert (report.files, report.sessions, report.changed, report.problems) == (1, 1, 1, [])
    by_import = stored(import_work)
    assert report.events == len(by_import)
    missing = summary(by_hooks) - summary(by_import)
    assert missing == only_the_hooks_know(agent, by_hooks)
    added = summary(by_import) - summary(by_hooks)
    if agent == "claude-code":  # the same commands, without their code
        assert sorted(added) == sorted((*key[:3], None, *key[4:]) for key in missing.elements()
                                       if key[0] == "agent.completed_process")
    else:
        assert not added
    # With the times the agent wrote down, not the import's, in order.
    transcript_times = {json.loads(line).get("timestamp") for path in checks.agent_home(import_work, agent).rglob(
        "*.jsonl") for line in path.read_text().splitlines()}
    assert {e["timestamp"] for e in by_import} <= transcript_times
    assert [e["timestamp"] for e in by_import if e["type"] != "agent.decision"] == sorted(
        e["timestamp"] for e in by_import if e["type"] != "agent.decision")
    # Tokens exactly as the model server sent them.
    decisions = [e for e in by_import if e["type"] == "agent.decision"]
    assert sum(e["tokens_in"] for e in decisions) == sum(e["tokens_in"] for e in by_hooks
                                                          if e["type"] == "agent.decision")
    assert sorted(e["meta"]["message_id"] for e in decisions) == sorted(
        e["meta"]["message_id"] for e in by_hooks if e["type"] == "agent.decision")


@pytest.mark.parametrize("agent", AGENTS)
def test_importing_again_or_into_what_the_hooks_recorded_adds_nothing(tmp_path, agent):
    by_hooks, _, _, _ = checks.replay(FIXTURE[agent], tmp_path, agent)
    for _ in range(2):
        report = imported(tmp_path, agent)
        assert (report.sessions, report.changed, report.events, report.problems) == (1, 0, 0, [])
    assert [e.raw for e in stored(tmp_path)] == [e.raw for e in by_hooks]


@pytest.mark.parametrize("agent", AGENTS)
def test_hooks_installed_mid_session_get_only_what_they_missed_from_an_import(tmp_path, agent):
    """The hooks start at the third tool call: the import adds the calls
    before it, and no response twice, neither now nor when the hooks go on."""
    from treeship_store.capture import run_hook
    records = [json.loads(line) for line in (FIXTURE[agent] / "payloads.jsonl").read_text().replace(
        "{work}", str(tmp_path)).splitlines()]
    (tmp_path / "project").mkdir()
    posts = [n for n, r in enumerate(records) if r["payload"]["hook_event_name"] == "PostToolUse"]
    installed, halfway = posts[2], len(records) // 2 + 2
    for number, record in enumerate(records):
        checks.lay_out(FIXTURE[agent], tmp_path, agent, record["lines"])
        if number >= installed:
            run_hook(agent, json.dumps(record["payload"]).encode())
        if number == halfway:  # the import, while the session goes on (now=0: its lines are recent)
            assert imported(tmp_path, agent, now=0.0).problems == []
    checks.lay_out(FIXTURE[agent], tmp_path, agent)
    assert imported(tmp_path, agent).problems == []
    events = stored(tmp_path)
    calls = [e["meta"]["tool_use_id"] for e in events if "tool_use_id" in e.get("meta", {})]
    responses = [e["meta"]["message_id"] for e in events if e["type"] == "agent.decision"]
    log = [json.loads(line) for line in (FIXTURE[agent] / "model-log.jsonl").read_text().splitlines()]
    assert len(set(responses)) == len(responses) == len(log)
    assert set(calls) == {r["payload"]["tool_use_id"] for r in records
                          if r["payload"]["hook_event_name"].startswith("PostToolUse")}
    per_call = Counter((e["type"], e["meta"]["tool_use_id"], e.get("file_path")) for e in events
                       if "tool_use_id" in e.get("meta", {}))  # a patch writes several files in one call
    assert max(per_call.values()) == 1, per_call


@pytest.mark.parametrize("agent", AGENTS)
def test_a_transcript_that_grew_adds_only_its_new_part_and_a_shorter_copy_nothing(tmp_path, agent):
    records = [json.loads(line) for line in (FIXTURE[agent] / "payloads.jsonl").read_text().replace(
        "{work}", str(tmp_path)).splitlines()]
    (tmp_path / "project").mkdir()
    checks.lay_out(FIXTURE[agent], tmp_path, agent, records[len(records) // 2]["lines"])
    first = imported(tmp_path, agent, now=0.0)  # now=0: the session is still going on
    checks.lay_out(FIXTURE[agent], tmp_path, agent)
    second = imported(tmp_path, agent)
    assert first.events and second.events
    whole = tmp_path / "whole"
    checks.lay_out(FIXTURE[agent], whole, agent)
    (whole / "project").mkdir()
    imported(whole, agent)
    assert summary(stored(tmp_path)) == summary(stored(whole))
    # Restored from an older, shorter copy: nothing again, and verify says so.
    main = max(checks.agent_home(tmp_path, agent).rglob("*.jsonl"), key=lambda p: p.stat().st_size)
    main.write_text("".join(main.read_text().splitlines(keepends=True)[:5]))
    assert imported(tmp_path, agent).events == 0
    with Store(tmp_path / "project" / ".treeship") as store:
        report = store.verify()
    assert report.ok and any(str(main) in note and "changed within" in note for note in report.notes)


def write_transcript(path, records):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(r if isinstance(r, bytes) else json.dumps(r).encode() + b"\n" for r in records))


def claude_lines(session, cwd, calls, start=datetime(2026, 1, 5, 10, tzinfo=timezone.utc)):
    """A Claude Code transcript in its real shape: per call, an assistant line
    with its tool_use and usage, and the user line with its result; a call a
    second from `start` on."""
    def at(seconds):
        return (start + timedelta(seconds=seconds)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    lines = [{"type": "user", "sessionId": session, "cwd": cwd, "timestamp": at(0),
              "message": {"role": "user", "content": "go"}}]
    for n in range(calls):
        lines.append({"type": "assistant", "timestamp": at(n + 0.5), "cwd": cwd, "message": {
            "id": f"msg_{n}", "model": "claude-opus-4-1", "usage": {"input_tokens": 10, "output_tokens": 2},
            "content": [{"type": "tool_use", "id": f"toolu_{n}", "name": "Bash",
                         "input": {"command": f"echo {n}"}}]}})
        lines.append({"type": "user", "timestamp": at(n + 0.9), "cwd": cwd,
                      "toolUseResult": {"stdout": str(n), "stderr": "", "interrupted": False},
                      "message": {"role": "user", "content": [{"type": "tool_result", "tool_use_id": f"toolu_{n}",
                                                               "content": str(n), "is_error": False}]}})
    return lines


def test_bad_files_and_lines_cost_only_themselves(tmp_path):
    """A torn last line, lines that are not JSON, an unknown record type, a
    huge line: counted and passed over. A symlink, a FIFO, a session whose
    events cannot be stored: reported, the other sessions imported whole, and
    nothing of the bad one; a directory named like a session: not looked in."""
    home = tmp_path / "projects" / "-p"
    project = tmp_path / "p"
    project.mkdir()
    good = "11111111-1111-4111-8111-111111111111"
    lines = claude_lines(good, str(project), 3)
    write_transcript(home / f"{good}.jsonl", [lines[0], b"not json\n", b"[1, 2]\n", {"type": "x-new", "a": 1},
                                              b'{"type": "user", "huge": "' + b"x" * (8 << 20) + b'"}\n',
                                              *lines[1:], b'{"type": "assistant", "torn'])
    (home / "22222222-2222-4222-8222-222222222222.jsonl").symlink_to(home / f"{good}.jsonl")
    os.mkfifo(home / "33333333-3333-4333-8333-333333333333.jsonl")
    (home / "44444444-4444-4444-8444-444444444444.jsonl").mkdir()
    bad = "55555555-5555-4555-8555-555555555555"
    too_long = claude_lines(bad, str(project), 2)  # a path no event line can hold (1 MiB)
    too_long[-2]["message"]["content"][0].update(name="Write", input={"file_path": "/p/" + "x" * (2 << 20)})
    write_transcript(home / f"{bad}.jsonl", too_long)
    report = import_history("claude-code", find_files("claude-code", str(tmp_path / "projects")))
    assert report.bad_lines == 2
    problems = "\n".join(report.problems)
    assert "22222222" in problems and "symbolic link" in problems
    assert "33333333" in problems and "not a regular file" in problems
    assert "44444444" not in problems  # a directory named like a session file is not one: passed over
    assert bad in problems and "bytes" in problems
    with Store(project / ".treeship") as store:
        assert store.verify().ok
        assert store.count_events(good, type="agent.completed_process") == 3
        assert store.count_events(good, type="agent.decision") == 3
        assert store.count_events(bad) == 0


def test_the_command_reports_progress_and_problems_in_one_line_each(tmp_path):
    home = tmp_path / "claude"
    project = tmp_path / "p"
    project.mkdir()
    session = "66666666-6666-4666-8666-666666666666"
    write_transcript(home / "projects" / "-p" / f"{session}.jsonl", claude_lines(session, str(project), 4))
    os.mkfifo(home / "projects" / "-p" / "77777777-7777-4777-8777-777777777777.jsonl")
    env = {**os.environ, "CLAUDE_CONFIG_DIR": str(home)}
    run = [sys.executable, "-m", "treeship_store", "import", "claude-code"]
    result = subprocess.run(run, capture_output=True, text=True, env=env, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout.startswith("imported 12 event(s) into 1 of 1 session(s) from 2 file(s)"), result.stdout
    assert [line for line in result.stderr.splitlines() if line.startswith("warning:")] == [
        f"warning: {home / 'projects' / '-p' / '77777777-7777-4777-8777-777777777777.jsonl'}: not a regular file"]
    assert "Traceback" not in result.stderr
    again = subprocess.run([*run, "--since", "7d"], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert again.stdout.startswith("imported 0 event(s) into 0 of 0 session(s)"), again.stdout  # January: too old
    for args, message in ((["--path", str(tmp_path / "nope")], "no such file"), (["--since", "soon"], "not a time")):
        bad = subprocess.run([*run, *args], capture_output=True, text=True, env=env, cwd=tmp_path)
        assert bad.returncode != 0 and bad.stderr.startswith("Error: ") and message in bad.stderr, bad.stderr


def test_hooks_firing_while_an_import_runs_record_nothing_twice(tmp_path):
    """Real processes on one session: an import of a long transcript and
    hooks posting the same calls, at once; each call is stored once."""
    project = tmp_path / "p"
    project.mkdir()
    session = "88888888-8888-4888-8888-888888888888"
    transcript = tmp_path / "claude" / "projects" / "-p" / f"{session}.jsonl"
    # A session going on: its calls of the last minutes, whose hooks may still come.
    lines = claude_lines(session, str(project), 300, start=datetime.now(timezone.utc) - timedelta(minutes=6))
    write_transcript(transcript, lines)
    hooks = [json.dumps({"session_id": session, "transcript_path": str(transcript), "cwd": str(project),
                         "hook_event_name": "PostToolUse", "tool_name": "Bash",
                         "tool_input": line["message"]["content"][0]["input"],
                         "tool_response": {"stdout": "", "stderr": "", "interrupted": False},
                         "tool_use_id": line["message"]["content"][0]["id"]})
             for line in lines if line["type"] == "assistant"][::3]
    env = {**os.environ, "CLAUDE_CONFIG_DIR": str(tmp_path / "claude")}
    importer = subprocess.Popen([sys.executable, "-m", "treeship_store", "import", "claude-code"], env=env,
                                cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    for payload in hooks:
        subprocess.run([sys.executable, "-m", "treeship_store", "hook", "claude-code"], input=payload.encode(),
                       env=env, cwd=project, check=True, capture_output=True)
    assert importer.wait(timeout=120) == 0, importer.stderr.read()
    with Store(project / ".treeship") as store:
        events = list(store.events(session))
        assert store.verify().ok
    calls = Counter(e["meta"]["tool_use_id"] for e in events if e["type"] == "agent.completed_process")
    assert len(calls) == 300 and set(calls.values()) == {1}
    responses = Counter(e["meta"]["message_id"] for e in events if e["type"] == "agent.decision")
    assert len(responses) == 300 and set(responses.values()) == {1}
    shutil.rmtree(tmp_path / "claude")  # the agent deletes its old sessions: the store keeps them
    with Store(project / ".treeship") as store:
        assert store.count_events(session) == len(events) and store.verify().ok


@pytest.mark.parametrize("agent", AGENTS)
def test_what_was_said_is_kept_only_when_asked_and_alike_by_hooks_and_import(tmp_path, monkeypatch, agent):
    """With --with-text, each turn's prompt and last answer become notes with
    the agent's turn id, the same from the hooks and from an import, found
    by the search; without it, none."""
    import functools

    import treeship_store.capture as capture
    from treeship_store.capture import install
    plain = tmp_path / "plain"
    checks.lay_out(FIXTURE[agent], plain, agent)
    (plain / "project").mkdir()
    imported(plain, agent)
    assert not [e for e in stored(plain) if e["type"] == "agent.note"]
    monkeypatch.setattr(capture, "run_hook", functools.partial(capture.run_hook, with_text=True))
    monkeypatch.setattr(install, "HOOK_EVENTS", {name: events + install.TEXT_EVENTS
                                                 for name, events in install.HOOK_EVENTS.items()})
    by_hooks, *_ = checks.replay(FIXTURE[agent], tmp_path / "hooks", agent)
    # (The recorded transcripts have long texts cut (record_agents.LONG): compared up to 200 characters.)
    said = sorted((e["meta"]["kind"], e["meta"]["text"][:200], e["meta"]["turn"]) for e in by_hooks
                  if e["type"] == "agent.note")
    prompts = [json.loads(line)["payload"] for line in (FIXTURE[agent] / "payloads.jsonl").read_text().splitlines()]
    prompts = [p["prompt"] for p in prompts if p["hook_event_name"] == "UserPromptSubmit"]
    assert [text for kind, text, _ in said if kind == "prompt"] == sorted(p[:200] for p in prompts)
    assert len([kind for kind, _, _ in said if kind == "answer"]) == len(prompts)
    checks.lay_out(FIXTURE[agent], tmp_path / "import", agent)
    (tmp_path / "import" / "project").mkdir()
    imported(tmp_path / "import", agent, with_text=True)
    by_import = stored(tmp_path / "import")
    assert sorted((e["meta"]["kind"], e["meta"]["text"][:200], e["meta"]["turn"]) for e in by_import
                  if e["type"] == "agent.note") == said
    assert imported(tmp_path / "hooks", agent, with_text=True).events == 0  # the hooks kept them already
    with Store(tmp_path / "import" / "project" / ".treeship") as store:
        word = prompts[0].split()[-1]
        assert any(e["type"] == "agent.note" and word in e["meta"]["text"] for e in store.events(search=word))


def test_a_kept_prompt_is_redacted_and_cut(tmp_path):
    project = tmp_path / "p"
    project.mkdir()
    session = "99999999-9999-4999-8999-999999999999"
    lines = claude_lines(session, str(project), 1)
    lines[0]["message"]["content"] = "use ghp_" + "A" * 36 + " then " + "word " * 2000
    lines[0]["promptId"] = "turn-1"
    lines.append({"type": "assistant", "timestamp": "2026-01-05T10:00:09.000Z", "promptId": "turn-1",
                  "message": {"id": "msg_end", "content": [{"type": "text", "text": "Done: AKIA" + "B" * 16}]}})
    write_transcript(tmp_path / "projects" / "-p" / f"{session}.jsonl", lines)
    import_history("claude-code", find_files("claude-code", str(tmp_path / "projects")), with_text=True)
    with Store(project / ".treeship") as store:
        notes = {e["meta"]["kind"]: e for e in store.events(type="agent.note")}
    assert notes["prompt"]["meta"]["text"].startswith("use ") and "ghp_" not in notes["prompt"].raw.decode()
    assert len(notes["prompt"]["meta"]["text"]) == 4000 and notes["prompt"]["meta"]["cut"] is True
    assert notes["answer"]["meta"]["text"].startswith("Done: ") and "AKIA" not in notes["answer"].raw.decode()
    assert notes["answer"]["meta"]["turn"] == "turn-1" and "cut" not in notes["answer"]["meta"]


def test_codexs_archived_sessions_are_found_too(tmp_path, monkeypatch):
    """Codex moves a session it archives to archived_sessions/: import finds it there."""
    monkeypatch.setenv("CODEX_HOME", str(tmp_path / "codex"))
    checks.lay_out(FIXTURE["codex"], tmp_path, "codex")
    rollout = next(checks.agent_home(tmp_path, "codex").rglob("rollout-*.jsonl"))
    archived = tmp_path / "codex" / "archived_sessions" / rollout.name
    archived.parent.mkdir(parents=True)
    rollout.rename(archived)
    (tmp_path / "codex" / "sessions" / "2026").mkdir(parents=True)
    (tmp_path / "codex" / "sessions" / "2026" / "notes.jsonl").write_text("{}\n")  # not a rollout: not read
    assert find_files("codex") == [str(archived)]



def test_ids_of_the_wrong_kind_and_renamed_copies_cost_nothing_else(tmp_path):
    """A line whose ids are lists or objects costs only what it says; a copy
    whose name lost .jsonl keeps its session id from its lines."""
    project = tmp_path / "p"
    project.mkdir()
    home = tmp_path / "projects" / "-p"
    good, odd = "12121212-1212-4212-8212-121212121212", "34343434-3434-4434-8434-343434343434"
    write_transcript(home / f"{good}.jsonl", claude_lines(good, str(project), 2))
    lines = claude_lines(odd, str(project), 2)
    lines.append({"type": "user", "promptId": {"p": 1}, "timestamp": "2026-01-05T10:00:09.000Z",
                  "message": {"content": "hello"}})
    lines.append({"type": "user", "timestamp": "2026-01-05T10:00:09.500Z",
                  "message": {"content": [{"type": "tool_result", "tool_use_id": [1]}]}})
    write_transcript(home / f"{odd}.jsonl", lines)
    report = import_history("claude-code", find_files("claude-code", str(tmp_path / "projects")), with_text=True)
    assert report.problems == [] and report.sessions == 2
    copy = tmp_path / "backup.bak"
    copy.write_bytes((home / f"{good}.jsonl").read_bytes())
    assert import_history("claude-code", [str(copy)]).events == 0  # the same session, already there
    with Store(project / ".treeship") as store:
        assert sorted(store.session_ids()) == sorted([good, odd])
