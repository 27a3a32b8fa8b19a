"""What a Claude Code or Codex session of tests/support/real_agents.py's
script must become in the store, field by field: checked against a live run
(test_real_agents.py) and against the recorded payloads replayed
(test_capture.py)."""

import json
from collections import Counter
from pathlib import Path


def decisions_by(events, key):
    totals = {}
    for event in events:
        if event["type"] == "agent.decision":
            entry = totals.setdefault(key(event), [0, 0, 0])
            entry[0] += 1
            entry[1] += event["tokens_in"]
            entry[2] += event["tokens_out"]
    return totals


def served_by(log, key, tokens_in, tokens_out):
    totals = {}
    for answer in log:
        entry = totals.setdefault(key(answer), [0, 0, 0])
        entry[0] += 1
        entry[1] += tokens_in(answer["usage"])
        entry[2] += tokens_out(answer["usage"])
    return totals


def lifecycle(events):
    """The main agent's starts and ends, in order."""
    main = events[0]["agent_instance_id"]
    return [e["type"] for e in events if e["agent_instance_id"] == main and e["type"] in (
        "session.started", "agent.started", "agent.completed", "session.closed")]


TWO_RUNS = ["session.started", "agent.started", "agent.completed", "session.closed",
            "agent.started", "agent.completed", "session.closed"]


def claude_exit_codes(events):
    processes = [e for e in events if e["type"] == "agent.completed_process"]
    by_command = {e["command"]: e for e in processes}
    assert by_command["echo hello > out.txt"]["exit_code"] == 0
    assert by_command["ls /nonexistent-e2e"]["exit_code"] == 2
    assert by_command["ls /nonexistent-e2e"]["meta"]["failed"] is True
    # grep -c exits 1, but Claude Code reports a success it read its own way: no code is told.
    grep = by_command["grep -c nomatch out.txt"]
    assert "exit_code" not in grep and grep["meta"]["exit_code_reading"] == "No matches found"
    assert by_command["echo sub"]["exit_code"] == 0 and by_command["true"]["exit_code"] == 0
    assert all(isinstance(e["duration_ms"], int) for e in processes)
    assert all(e["meta"]["tool_use_id"].startswith("toolu_") for e in processes)


def claude_files(events):
    files = [(e["type"], e["file_path"], e.get("operation"), e.get("additions"), e.get("deletions"))
             for e in events if e["type"] in ("agent.wrote_file", "agent.read_file")]
    assert files == [
        ("agent.wrote_file", "out.txt", "modified", 1, 0),  # echo hello > out.txt, from bashEditDiff
        ("agent.wrote_file", "new.py", "created", 2, 0), ("agent.read_file", "new.py", None, None, None),
        ("agent.wrote_file", "new.py", "modified", 2, 1),
        ("agent.read_file", "out.txt", None, None, None)]  # by the background sub-agent


def claude_sub_agents(events):
    main = events[0]["agent_instance_id"]
    spawned = [e for e in events if e["type"] == "agent.spawned"]
    calls = [e for e in events if e["type"] == "agent.called_tool" and e["tool_name"] == "Agent"]
    assert [c["meta"]["status"] for c in calls] == ["completed", "async_launched"]
    assert len(spawned) == 2 and all(s["spawned_by_agent_instance_id"] == main for s in spawned)
    for spawn, call in zip(spawned, calls):
        agent_id = call["meta"]["agent_id"]
        instance = spawn["agent_instance_id"]
        assert instance == f"ai_cc_sub_{agent_id}" and spawn["agent_name"] == f"general-purpose#{agent_id[:8]}"
        mine = [e for e in events if e["agent_instance_id"] == instance]
        assert [e["type"] for e in mine][:2] == ["agent.spawned", "agent.started"]
        # Its last response may be read after it completed (written while SubagentStop ran).
        assert [e for e in mine if e["type"] != "agent.decision"][-1]["type"] == "agent.completed"
        assert all(e["agent_role"] == "general-purpose" for e in mine)
    foreground = [e["type"] for e in events if e["agent_instance_id"] == spawned[0]["agent_instance_id"]]
    assert "agent.completed_process" in foreground
    return [spawn["agent_instance_id"] for spawn in spawned]


def claude_tokens(events, log, last_run_stdout):
    def tokens_in(usage):
        return usage["input_tokens"] + usage["cache_read_input_tokens"] + usage["cache_creation_input_tokens"]
    assert decisions_by(events, lambda e: e["model"]) == served_by(
        log, lambda a: a["model"], tokens_in, lambda u: u["output_tokens"])
    # Per agent instance: the sub-agents' conversations under their own instances.
    foreground, background = claude_sub_agents(events)
    owner = {"[e2e-claude-fg]": foreground, "[e2e-claude-bg]": background}
    main = events[0]["agent_instance_id"]
    assert decisions_by(events, lambda e: e["agent_instance_id"]) == served_by(
        log, lambda a: owner.get(a["conversation"], main), tokens_in, lambda u: u["output_tokens"])
    # The breakdown prices need equals Claude Code's own count of the session
    # (the resumed run reports the whole session's usage).
    reported = Counter()
    for usage in json.loads(last_run_stdout.strip().splitlines()[-1])["modelUsage"].values():
        reported.update({"input": usage["inputTokens"], "cache_read": usage["cacheReadInputTokens"],
                         "cache_write": usage["cacheCreationInputTokens"], "output": usage["outputTokens"]})
    stored = Counter()
    for event in events:
        if event["type"] == "agent.decision":
            stored.update({key: event["meta"]["tokens"].get(key, 0) for key in reported})
    assert stored == reported
    writes = [e["meta"]["tokens"] for e in events if e["type"] == "agent.decision"
              and e["meta"]["tokens"].get("cache_write_1h")]
    assert writes == [{"input": 101, "cache_read": 1000, "cache_write": 50, "cache_write_5m": 40,
                       "cache_write_1h": 10, "output": 11}]
    # And what they cost, priced by us, is what Claude Code says the session cost.
    from decimal import Decimal

    from treeship_store.costs import usage_report
    from treeship_store.pricing import Pricer
    said = Decimal(str(json.loads(last_run_stdout.strip().splitlines()[-1])["total_cost_usd"]))
    ours = usage_report([e for e in events if e["type"] == "agent.decision"], Pricer(), None).total
    assert ours.unknown == 0 and abs(ours.cost - said) < Decimal("1e-9"), (ours.cost, said)


def codex_results(rollouts):
    """call id -> (exit code, duration ms) as the rollouts recorded them."""
    results = {}
    for rollout in rollouts:
        for line in rollout.read_text().splitlines():
            item = json.loads(line).get("payload", {}).get("item") or {}
            if item.get("type") == "CommandExecution":
                duration = item["duration"]
                results[item["id"]] = (item["exit_code"], duration["secs"] * 1000 + duration["nanos"] // 1_000_000)
    return results


def codex_exit_codes(events, rollouts):
    processes = [e for e in events if e["type"] == "agent.completed_process"]
    assert [(e["command"], e["exit_code"]) for e in processes] == [
        ("echo hello > out.txt", 0), ("sleep 0.2; ls /nonexistent-e2e", 2), ("true", 0)]
    assert {e["meta"]["tool_use_id"]: (e["exit_code"], e["duration_ms"]) for e in processes} == \
        codex_results(rollouts)


def codex_files(events):
    files = [(e["file_path"], e["operation"], e["additions"], e["deletions"])
             for e in events if e["type"] == "agent.wrote_file"]
    assert files == [("new.py", "created", 2, 0), ("app.py", "modified", 2, 1)]


def codex_tokens(events, log, rollouts):
    decisions = [e for e in events if e["type"] == "agent.decision"]
    assert {e["provider"] for e in decisions} == {"e2e"} and {e["model"] for e in decisions} == {"gpt-5.5"}
    assert decisions_by(events, lambda e: e["model"]) == served_by(
        log, lambda a: a["model"], lambda u: u["input_tokens"], lambda u: u["output_tokens"])
    assert decisions[0]["meta"]["tokens"] == {"input": 601, "cache_read": 500, "output": 111, "reasoning": 50}
    assert sorted(e["meta"]["message_id"] for e in decisions) == sorted(a["id"] for a in log)
    # Codex's own running total: its output includes reasoning, as ours does.
    last = None
    for rollout in rollouts:
        for line in rollout.read_text().splitlines():
            payload = json.loads(line).get("payload") or {}
            if payload.get("type") == "token_count" and payload.get("info"):
                last = payload["info"]["total_token_usage"]
    assert (last["input_tokens"], last["output_tokens"]) == (
        sum(e["tokens_in"] for e in decisions), sum(e["tokens_out"] for e in decisions))


# -- Replaying what a real agent sent ------------------------------------------

def replay(fixture, work, agent):
    """Feed the recorded payloads of `fixture` (scripts/record_agents.py) to
    our hook in order, each with its transcripts as long as they were at that
    call; returns (the session's events, the model server's answers, the
    transcripts as replayed, the runs' outputs)."""
    from treeship_store import Store
    from treeship_store.capture import run_hook
    from treeship_store.capture.install import HOOK_EVENTS
    (work / "project").mkdir(parents=True, exist_ok=True)
    for record in map(json.loads, (fixture / "payloads.jsonl").read_text().replace("{work}", str(work)).splitlines()):
        lay_out(fixture, work, agent, record["lines"])
        payload = record["payload"]
        if payload["hook_event_name"] in HOOK_EVENTS[agent]:
            run_hook(agent, json.dumps(payload).encode())
    session = payload["session_id"]
    with Store(work / "project" / ".treeship") as store:
        events = list(store.events(session))
        assert store.verify().ok
    log = [json.loads(line) for line in (fixture / "model-log.jsonl").read_text().splitlines()]
    runs = json.loads((fixture / "runs.json").read_text())
    return events, log, sorted(agent_home(work, agent).rglob("*.jsonl")), runs


def agent_home(work, agent):
    """Where `agent` keeps its sessions' files, under the replay's HOME."""
    return work / "home" / (".claude/projects" if agent == "claude-code" else ".codex/sessions")


def lay_out(fixture, work, agent, lines=None):
    """The fixture's transcripts where the agent wrote them: {path: lines}
    of them as long as they were at a hook call, or (None) all of each."""
    base = agent_home(work, agent)
    for source in (fixture / "transcripts").rglob("*.jsonl"):
        path = str(base / source.relative_to(fixture / "transcripts"))
        if lines is not None and path not in lines:
            continue
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        text = source.read_text().replace("{work}", str(work)).splitlines(keepends=True)
        Path(path).write_text("".join(text[:None if lines is None else lines[path]]))
