"""What the agents' decisions cost (issue 25): genai-prices on the recorded
real sessions, against Claude Code's own figures; unknown models, price
overrides, estimates; `usage` per day, week, month, session, model, agent,
host, locally and against the central store."""

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from support import agent_checks as checks, make_event
from treeship_store import Store
from treeship_store.costs import usage_report
from treeship_store.pricing import Pricer

FIXTURES = Path(__file__).parent / "fixtures"


def run(*args, root, env=None):
    return subprocess.run([sys.executable, "-m", "treeship_store", "--root", str(root), *args], capture_output=True,
                          text=True, env={**os.environ, "TREESHIP_STORE_PRICES": "", **(env or {})}, timeout=60)


@pytest.fixture(autouse=True)
def no_override_env(monkeypatch):
    monkeypatch.delenv("TREESHIP_STORE_PRICES", raising=False)
    monkeypatch.setenv("TREESHIP_HOST_ID", "host_test")


def test_a_real_claude_code_session_costs_what_claude_code_says(tmp_path):
    """`claude -p --output-format json` reported total_cost_usd after each
    run (the second, a resume, for the whole session): our cost of the same
    decisions, priced from their tokens, is the same (to Claude Code's float
    rounding: it sums in binary floating point)."""
    events, _, _, runs = checks.replay(FIXTURES / "claude-code-2.1.328", tmp_path, "claude-code")
    decisions = [e for e in events if e["type"] == "agent.decision"]
    said = [Decimal(str(json.loads(r["stdout"])["total_cost_usd"])) for r in runs]
    first_run = [e for e in decisions if "resume" not in e["meta"]["message_id"]]  # the script's ids say the run
    first = usage_report(first_run, Pricer(), None).total
    whole = usage_report(decisions, Pricer(), "agent")
    assert abs(first.cost - said[0]) < Decimal("1e-12") and abs(whole.total.cost - said[1]) < Decimal("1e-12")
    assert said[0] < said[1] and len(first_run) < len(decisions)
    assert whole.total.unknown == whole.total.estimated == 0
    # Sub-agents count under their own instance, and in the session's total.
    assert len(whole.groups) == 3 and sum(u.cost for u in whole.groups.values()) == whole.total.cost
    result = run("usage", "--format", "json", root=tmp_path / "project" / ".treeship")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["total"]["cost_usd"] == pytest.approx(float(said[1]), rel=1e-12)


def test_a_codex_session_is_priced_by_its_model_whatever_its_provider_is_called(tmp_path):
    events, log, _, _ = checks.replay(FIXTURES / "codex-0.169.0", tmp_path, "codex")
    decisions = [e for e in events if e["type"] == "agent.decision"]
    assert {e["provider"] for e in decisions} == {"e2e"}  # the proxy's name, which no price list knows
    report = usage_report(decisions, Pricer(), "model")
    assert report.total.unknown == 0 and report.total.cost > 0 and list(report.groups) == ["gpt-5.5"]
    assert report.total.tokens["reasoning"] == sum(e["meta"]["tokens"].get("reasoning", 0) for e in decisions) > 0


def decision(model, timestamp, **fields):
    return make_event("agent.decision", model=model, provider="anthropic", timestamp=timestamp, **fields)


def test_unknown_models_cost_unknown_never_zero_overrides_and_estimates_say_so(root):
    with Store(root) as store:
        store.append_many("ssn_a", [
            decision("claude-opus-4-1", "2026-03-02T10:00:00Z", tokens_in=1000, tokens_out=100,
                     meta={"tokens": {"input": 400, "cache_read": 600, "output": 100}}),
            decision("claude-opus-4-1", "2026-03-03T10:00:00Z", tokens_in=1000, tokens_out=100),  # no breakdown
            decision("acme-coder-7", "2026-03-09T10:00:00Z", tokens_in=50, tokens_out=5)])
    result = run("usage", "--by", "model", "--format", "json", root=root)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    by_model = {group["group"]: group for group in report["groups"]}
    assert by_model["acme-coder-7"]["cost_usd"] is None and report["unknown_models"] == {"acme-coder-7": 1}
    assert by_model["claude-opus-4-1"]["estimated_decisions"] == 1 and by_model["claude-opus-4-1"]["cost_usd"] > 0
    assert report["total"]["cost_usd"] == by_model["claude-opus-4-1"]["cost_usd"]  # the unknown adds nothing
    table = run("usage", "--by", "model", "--format", "table", root=root).stdout
    assert "unknown price: acme-coder-7 (1 decision(s))" in table and "$" in table and "estimated: 2" in table
    # A price of one's own for a model, per million tokens, named as the source.
    (root / "prices.toml").write_text('[models."acme-coder-7"]\ninput = 2.0\noutput = 10.0\n')
    report = json.loads(run("usage", "--by", "model", "--format", "json", root=root).stdout)
    acme = next(group for group in report["groups"] if group["group"] == "acme-coder-7")
    assert acme["cost_usd"] == pytest.approx((50 * 2.0 + 5 * 10.0) / 1e6) and report["unknown_models"] == {}
    assert str(root / "prices.toml") in report["prices"]
    stats = json.loads(run("stats", "--format", "json", root=root).stdout)
    assert stats["cost"]["usd"] == pytest.approx(report["total"]["cost_usd"])
    for bad in ('[models."x"]\ninput = "free"\n', "[models\n", '[models."x"]\ninput = -1\n'):
        (root / "prices.toml").write_text(bad)
        result = run("usage", root=root)
        assert result.returncode == 1 and result.stderr.startswith("Error: ") and "prices.toml" in result.stderr


def test_usage_by_day_week_month_session_and_agent(root):
    with Store(root) as store:
        for session, day in (("ssn_1", "2026-03-01"), ("ssn_1", "2026-03-02"), ("ssn_2", "2026-03-09"),
                             ("ssn_2", "2026-04-01")):
            store.append(session, decision("claude-sonnet-4-5", f"{day}T12:00:00Z", tokens_in=100, tokens_out=10,
                                           meta={"tokens": {"input": 100, "output": 10}}))
        store.append("ssn_2", make_event("agent.decision", model="claude-sonnet-4-5", agent_instance_id="ai_sub_1",
                                         agent_name="Explore#1", timestamp="2026-04-01T13:00:00Z", tokens_in=1,
                                         meta={"tokens": {"input": 1, "output": 0}}))

    def groups(by, *args):
        result = run("usage", "--by", by, "--format", "json", *args, root=root)
        assert result.returncode == 0, result.stderr
        return {g["group"]: g["decisions"] for g in json.loads(result.stdout)["groups"]}
    assert groups("day") == {"2026-03-01": 1, "2026-03-02": 1, "2026-03-09": 1, "2026-04-01": 2}
    assert groups("week") == {"2026-02-23": 1, "2026-03-02": 1, "2026-03-09": 1, "2026-03-30": 2}  # from Monday
    assert groups("month") == {"2026-03": 3, "2026-04": 2}
    assert groups("session") == {"ssn_1": 2, "ssn_2": 3}
    assert groups("agent") == {"ai_cc_1 (claude-code)": 4, "ai_sub_1 (Explore#1)": 1}
    assert groups("day", "--since", "2026-03-05T00:00:00Z", "--session", "ssn_2") == {"2026-03-09": 1,
                                                                                      "2026-04-01": 2}
    sessions = run("sessions", "--format", "json", root=root)
    assert [s["cost_usd"] > 0 for s in json.loads(sessions.stdout)] == [True, True]
    result = run("usage", "--by", "fortnight", root=root)
    assert result.returncode == 2 and "fortnight" in result.stderr


def test_the_central_store_answers_usage_per_host(root, central_url):
    from treeship_store.central import push
    with Store(root) as store:
        for host in ("laptop", "ci"):
            store.append(f"ssn_{host}", decision("claude-sonnet-4-5", "2026-03-01T12:00:00Z", host_id=host,
                                                 tokens_in=100, tokens_out=10,
                                                 meta={"tokens": {"input": 100, "output": 10}}))
        push(store, central_url)
    local = json.loads(run("usage", "--by", "host", "--format", "json", root=root).stdout)
    central = subprocess.run([sys.executable, "-m", "treeship_store", "--db", central_url, "usage", "--by", "host",
                              "--format", "json"], capture_output=True, text=True, timeout=60)
    assert central.returncode == 0, central.stderr
    assert json.loads(central.stdout)["groups"] == local["groups"] and len(local["groups"]) == 2
    project = subprocess.run([sys.executable, "-m", "treeship_store", "--db", central_url, "usage", "--by",
                              "project"], capture_output=True, text=True, timeout=60)
    assert project.returncode == 1 and project.stderr.startswith("Error: --by project needs a local store")


CCUSAGE = Path(__file__).parent / "agents" / "node_modules" / ".bin" / "ccusage"


@pytest.mark.skipif(not CCUSAGE.exists(), reason="installed by .ci/run: npm install --prefix tests/agents ccusage")
@pytest.mark.parametrize("model", ["claude-sonnet-4-5", "claude-opus-4-1"])
def test_ccusage_reads_the_same_tokens_and_cost_from_the_same_transcripts(tmp_path, model):
    """ccusage 20.0.24 (offline, its own price data) on the recorded Claude
    Code session's transcripts, with a model it prices (it does not know the
    recorded claude-opus-5-5): the same tokens of each kind, the same cost
    within 0.5%, as our import of the same files and `usage`."""
    checks.lay_out(FIXTURES / "claude-code-2.1.328", tmp_path, "claude-code")
    for transcript in (tmp_path / "home").rglob("*.jsonl"):
        transcript.write_text(transcript.read_text().replace("claude-opus-5-5", model))
    offline = ["unshare", "-n"] if os.geteuid() == 0 else ["unshare", "-rn"]  # it must not reach the network
    theirs = subprocess.run([*offline, str(CCUSAGE), "session", "--offline", "--json"], capture_output=True,
                            text=True, timeout=120, env={**os.environ, "CLAUDE_CONFIG_DIR": str(tmp_path / "home" /
                                                                                               ".claude")})
    assert theirs.returncode == 0, theirs.stderr
    totals = json.loads(theirs.stdout)["totals"]
    store = tmp_path / "store" / ".treeship"
    assert run("import", "claude-code", "--path", str(tmp_path / "home" / ".claude" / "projects"),
               root=store).returncode == 0
    ours = json.loads(run("usage", "--format", "json", root=store).stdout)["total"]
    assert (ours["tokens"]["input"], ours["tokens"]["cache_read"], ours["tokens"]["cache_write"],
            ours["tokens"]["output"], ours["total_tokens"]) == (
        totals["inputTokens"], totals["cacheReadTokens"], totals["cacheCreationTokens"], totals["outputTokens"],
        totals["totalTokens"])
    assert totals["totalCost"] > 0 and ours["cost_usd"] == pytest.approx(totals["totalCost"], rel=0.005)


def test_odd_price_files_and_odd_breakdowns_never_give_a_traceback_nor_a_negative_cost(root, tmp_path):
    with Store(root) as store:
        store.append("ssn_odd", decision("claude-opus-4-1", "2026-03-02T10:00:00Z",
                                         meta={"tokens": {"input": 0, "cache_write": 0, "cache_write_5m": 1000000,
                                                          "output": 0}}))
    (root / "prices.toml").write_text('[models."claude-opus-4-1"]\ninput = 1\ncache_write = 10\ncache_write_5m = 1\n')
    report = json.loads(run("usage", "--format", "json", root=root).stdout)["total"]
    assert report["cost_usd"] == pytest.approx(1.0) and report["tokens"]["cache_write"] == 1000000
    (root / "prices.toml").unlink()
    assert json.loads(run("usage", "--format", "json", root=root).stdout)["total"]["cost_usd"] > 0
    (root / "prices.toml").write_bytes(b"\xff\n")
    os.mkfifo(tmp_path / "fifo.toml")
    for env in ({}, {"TREESHIP_STORE_PRICES": str(tmp_path / "fifo.toml")},
                {"TREESHIP_STORE_PRICES": str(tmp_path / "missing.toml")}):
        for command in (["usage"], ["stats"], ["sessions"]):
            result = run(*command, root=root, env=env)
            assert result.returncode == 1 and result.stderr.startswith("Error: ") and \
                result.stderr.count("\n") == 1, (command, env, result.stderr)
