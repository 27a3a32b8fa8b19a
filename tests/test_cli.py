"""The treeship-store command, as hooks and people run it: real processes for
append, --stdin, events, tail -f and exit codes; click's runner for the rest."""

import json
import os
import signal
import subprocess
import sys

import pytest
from click.testing import CliRunner

from treeship_store import Store, serialise
from treeship_store.event import prepare
from treeship_store.cli import cli

from support import SESSION, make_event

ENV = {**os.environ, "TREESHIP_AGENT_ID": "", "TREESHIP_AGENT_NAME": "", "TREESHIP_AGENT_INSTANCE_ID": "",
       "TREESHIP_HOST_ID": "", "TREESHIP_STORE_ROOT": ""}


def run(*args, root=None, stdin=None, cwd=None, env=None):
    command = [sys.executable, "-m", "treeship_store", *(["--root", str(root)] if root else []), *map(str, args)]
    return subprocess.run(command, input=stdin, capture_output=True, text=True, cwd=cwd, env={**ENV, **(env or {})},
                          timeout=60)


def invoke(root, *args):
    return CliRunner().invoke(cli, ["--root", str(root), *map(str, args)], catch_exceptions=False)


def events_file(root, session=SESSION):
    return root / "sessions" / session / "events.jsonl"


def test_append_from_flags(root):
    result = run("append", SESSION, "--type", "agent.called_tool", "--tool", "Read", "--duration-ms", "42",
                 "--agent-id", "agent://claude-code", "--host-id", "host_macbook", root=root)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"appended {SESSION} #0 agent.called_tool\n"
    result = run("append", SESSION, "--type", "agent.completed_process", "--set", "process_name=cargo",
                 "--exit-code", "-1", "--agent-id", "agent://claude-code", "--json", root=root)
    stored = json.loads(result.stdout)
    assert (stored["sequence_no"], stored["exit_code"], stored["process_name"]) == (1, -1, "cargo")
    first = json.loads(events_file(root).read_text().splitlines()[0])
    assert (first["tool_name"], first["duration_ms"], first["agent_name"], first["agent_instance_id"]) == \
        ("Read", 42, "claude-code", "ai_claude-code")
    assert events_file(root).read_text().splitlines()[1] == result.stdout.strip()


def test_agent_fields_come_from_the_environment(root):
    result = run("append", SESSION, "--type", "session.started", "--json", root=root,
                 env={"TREESHIP_AGENT_ID": "agent://codex", "TREESHIP_AGENT_INSTANCE_ID": "ai_cx_9",
                      "TREESHIP_HOST_ID": "host_ci"})
    stored = json.loads(result.stdout)
    assert (stored["agent_id"], stored["agent_name"], stored["agent_instance_id"], stored["host_id"]) == \
        ("agent://codex", "codex", "ai_cx_9", "host_ci")


def test_set_is_typed_by_the_schema(root):
    result = invoke(root, "append", SESSION, "--type", "agent.handoff", "--set", "from_agent_instance_id=a",
                    "--set", "to_agent_instance_id=b", "--set", "artifacts=x.md", "--set", "artifacts=y.md",
                    "--meta", '{"source":"hook","n":1}', "--json")
    stored = json.loads(result.output)
    assert stored["artifacts"] == ["x.md", "y.md"] and stored["meta"] == {"source": "hook", "n": 1}
    result = invoke(root, "append", SESSION, "--type", "agent.opened_port", "--set", "port=http")
    assert result.exit_code == 1 and result.output == "Error: field 'port': 'http' is not an integer\n"


def test_stdin_batch_json_lines_and_array(root):
    lines = "\n".join(json.dumps(make_event("agent.read_file", file_path=f"f{i}")) for i in range(3)) + "\n\n"
    result = run("append", SESSION, "--stdin", root=root, stdin=lines)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"appended {SESSION} #0..#2 (3 events)\n"
    array = json.dumps([{"type": "session.started"}, {"type": "agent.failed", "reason": "x"}])
    result = run("append", SESSION, "--stdin", "--agent-id", "agent://kimi", root=root, stdin=array)
    assert result.stdout == f"appended {SESSION} #3..#4 (2 events)\n"
    assert [e["agent_name"] for e in Store(root).events(SESSION, after_seq=2)] == ["kimi", "kimi"]


@pytest.mark.parametrize("stdin, message", [
    ('{"type":"session.started"}\n{"type": oops}\n', "Error: line 2: not JSON"),
    ('{"type":"session.started"}\n\n{"type":"agent.called_tool"}\n',
     "Error: line 3: field 'tool_name': required for agent.called_tool; nothing was appended"),
    ('[{"type":"session.started"}, 3]', "Error: line 1: must be a JSON object, got int"),
])
def test_stdin_with_a_bad_line_appends_nothing(root, stdin, message):
    run("append", SESSION, "--type", "session.started", root=root)
    before = events_file(root).read_bytes()
    result = run("append", SESSION, "--stdin", root=root, stdin=stdin)
    assert result.returncode == 1
    assert result.stderr.startswith(message) and result.stderr.count("\n") == 1
    assert events_file(root).read_bytes() == before


@pytest.mark.parametrize("args, message", [
    (["append", SESSION, "--type", "agent.teleported"], "Error: event 0: unknown event type 'agent.teleported'"),
    (["append", SESSION, "--type", "agent.read_file"], "Error: event 0: field 'file_path': required"),
    (["append", "../escape", "--type", "session.started"], "Error: invalid session id '../escape'"),
    (["append", SESSION, "--type", "session.started", "--meta", "{bad"], "Error: field 'meta': '{bad' is not JSON"),
    (["events", "--since", "last week"], "Error: since: 'last week' is not a time"),
    (["events", "--session", "a/b"], "Error: invalid session id 'a/b'"),
    (["events", "--type", "agent.wrote_files"], "Error: unknown event type 'agent.wrote_files': not in Treeship's "
                                                "schema or this store (did you mean agent.wrote_file?)"),
    (["tail", "ssn_nobody"], "Error: no session ssn_nobody"),
])
def test_user_mistakes_are_one_line_errors_with_status_1(root, args, message):
    run("append", SESSION, "--type", "session.started", root=root)
    before = events_file(root).read_bytes()
    result = run(*args, root=root)
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith(message) and result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert events_file(root).read_bytes() == before


def test_a_type_only_the_store_knows_can_be_queried(root):
    run("append", SESSION, "--type", "agent.dreamed", "--allow-unknown", root=root)
    result = run("events", "--type", "agent.dreamed", "--type", "agent.read_file", "--count", root=root)
    assert result.returncode == 0 and result.stdout == "1\n", result.stderr


def test_usage_errors_keep_status_2(root):
    assert run("append", SESSION, root=root).returncode == 2
    assert run("events", "--limit", "-3", root=root).returncode == 2
    assert run("frobnicate", root=root).returncode == 2
    assert run("append", SESSION, "--stdin", "--type", "session.started", root=root, stdin="").returncode == 2


def test_read_commands_on_a_missing_store_say_so(tmp_path):
    for command in (["events"], ["sessions"], ["stats"], ["verify"], ["reindex"], ["tail", SESSION]):
        result = run(*command, root=tmp_path / "missing")
        assert result.returncode == 1 and result.stderr.startswith("Error: no treeship store at"), command
    assert not (tmp_path / "missing").exists()


def test_events_output_is_the_stored_data(root):
    store = Store(root)
    stored = store.append_many(SESSION, [make_event("agent.wrote_file", file_path="a.py"), make_event()])
    piped = run("events", root=root)
    assert piped.stdout.encode() == b"".join(e.raw + b"\n" for e in stored)  # JSON lines when piped
    as_json = run("events", "--format", "json", "--type", "agent.wrote_file", root=root)
    assert json.loads(as_json.stdout) == [stored[0]]
    assert run("events", "--count", "--agent", "claude-code", root=root).stdout == "2\n"
    table = run("events", "--format", "table", "--newest-first", root=root).stdout.splitlines()
    assert table[0].split()[:3] == ["TIME", "SESSION", "SEQ"]
    assert "agent.called_tool" in table[1] and "Read" in table[1] and "a.py" in table[2]


def test_root_is_found_like_git_finds_dot_git(tmp_path):
    project = tmp_path / "project"
    (project / "src" / "deep").mkdir(parents=True)
    run("append", SESSION, "--type", "session.started", cwd=project)  # no store anywhere: ./.treeship
    assert events_file(project / ".treeship").exists()
    result = run("append", SESSION, "--type", "session.started", cwd=project / "src" / "deep")
    assert result.stdout == f"appended {SESSION} #1 session.started\n"
    elsewhere = tmp_path / "elsewhere"
    result = run("events", "--count", cwd=tmp_path, env={"TREESHIP_STORE_ROOT": str(project / ".treeship")})
    assert result.stdout == "2\n"
    assert not elsewhere.exists()


def test_tail_follow_prints_appends_from_any_writer_until_ctrl_c(root):
    Store(root).append_many(SESSION, [make_event(tool_name=f"t{i}") for i in range(5)])
    tail = subprocess.Popen([sys.executable, "-m", "treeship_store", "--root", str(root), "tail", SESSION, "-n", "2",
                             "-f", "--interval", "0.05"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=ENV)
    try:
        assert [json.loads(tail.stdout.readline())["tool_name"] for _ in range(2)] == ["t3", "t4"]
        run("append", SESSION, "--type", "agent.called_tool", "--tool", "from-cli", root=root)
        assert json.loads(tail.stdout.readline())["tool_name"] == "from-cli"
        Store(root).append(SESSION, make_event(tool_name="library"))  # #6
        treeship_line = prepare(make_event(tool_name="treeship"), SESSION) | {"sequence_no": 7}
        with open(events_file(root), "ab") as file:  # Treeship's own CLI writes the file directly
            file.write(serialise(treeship_line) + b"\n")
        assert [json.loads(tail.stdout.readline())["tool_name"] for _ in range(2)] == ["library", "treeship"]
    finally:
        tail.send_signal(signal.SIGINT)
        _, stderr = tail.communicate(timeout=10)
    assert tail.returncode == 0 and stderr == ""


def printed_lines(process):
    """The next line `process` prints, waited for 20 s at most (None after
    that): a test of a follower fails when it stays silent, never hangs."""
    import queue
    import threading
    lines = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True).start()

    def next_line():
        try:
            return lines.get(timeout=20)
        except queue.Empty:
            return None
    return next_line


def test_tail_follow_goes_by_line_and_starts_again_on_a_restored_copy(root):
    Store(root).append_many(SESSION, [make_event(tool_name=f"t{i}") for i in range(3)])
    backup = events_file(root).read_bytes()
    tail = subprocess.Popen([sys.executable, "-m", "treeship_store", "--root", str(root), "tail", SESSION, "-n", "1",
                             "-f", "--interval", "0.05"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=ENV)
    printed = printed_lines(tail)
    try:
        assert json.loads(printed())["tool_name"] == "t2"
        again = prepare(make_event(tool_name="same-number"), SESSION) | {"sequence_no": 1}  # another tool's
        with open(events_file(root), "ab") as file:
            file.write(serialise(again) + b"\n")
        assert json.loads(printed() or "{}").get("tool_name") == "same-number"
        events_file(root).write_bytes(backup)  # restored to the copy before that line
        assert [json.loads(printed() or "{}").get("tool_name") for _ in range(3)] == ["t0", "t1", "t2"]
    finally:
        tail.send_signal(signal.SIGINT)
        _, stderr = tail.communicate(timeout=10)
    assert tail.returncode == 0
    assert stderr.startswith(f"warning: session {SESSION}: events.jsonl shrank from ") and \
        stderr.rstrip().endswith("following it again from its first line") and len(stderr.splitlines()) == 1


def test_verify_exit_status(root):
    Store(root).append(SESSION, make_event())
    assert run("verify", root=root).returncode == 0
    with open(events_file(root), "ab") as file:
        file.write(b"{torn")
    Store(root).append(SESSION, make_event())
    result = run("verify", root=root)
    assert result.returncode == 1
    assert f"damaged: session {SESSION} line 1 at byte {len(events_file(root).read_bytes().splitlines()[0]) + 1}" \
        in result.stdout


def test_sessions_stats_files_reindex(root):
    store = Store(root)
    store.append_many(SESSION, [make_event("agent.decision", model="opus", tokens_in=7, tokens_out=3),
                                make_event("agent.completed_process", exit_code=2)])
    sessions = invoke(root, "sessions", "--format", "json")
    assert [(s["session_id"], s["events"]) for s in json.loads(sessions.output)] == [(SESSION, 2)]
    stats = json.loads(invoke(root, "stats", "--format", "json").output)
    assert stats["tokens_by_model"]["opus"]["tokens_in"] == 7 and stats["failed_processes"] == 1
    assert "failed processes 1" in invoke(root, "stats").output
    store.append(SESSION, make_event("agent.wrote_file", file_path="src/a.py"))
    assert json.loads(invoke(root, "files", "--format", "json").output) == store.files()
    assert invoke(root, "files", "--format", "table").output.splitlines()[1].split()[:3] == ["src/a.py", "1",
                                                                                              "claude-code"]
    failed = invoke(root, "events", "--failed", "--format", "jsonl").output.splitlines()
    assert [json.loads(line)["exit_code"] for line in failed] == [2]
    assert invoke(root, "events", "--failed", "--count").output == "1\n"
    result = invoke(root, "reindex", "--full")
    assert result.exit_code == 0 and result.output.startswith("reindexed 1 session(s): 3 events, 0 damaged lines")


def test_demo_writes_a_store_that_the_printed_commands_explore(tmp_path):
    result = run("demo", tmp_path / "demo")
    assert result.returncode == 0, result.stderr
    root = tmp_path / "demo" / ".treeship"
    assert "ssn_4f1d2a9b7c3e8d01" in result.stdout and f"--root {root} verify" in result.stdout
    store = Store(root)
    assert {e["type"] for e in store.events()} == set(__import__("treeship_store").EVENT_TYPES)
    assert store.stats()["failed_processes"] == 1
    assert len(store.verify().damaged) == 1
    assert run("demo", tmp_path / "demo").returncode == 1  # never over an existing store


def test_every_command_has_help_with_an_example():
    for name in cli.commands:
        result = CliRunner().invoke(cli, [name, "--help"])
        assert result.exit_code == 0 and "Example" in result.output, name
    assert CliRunner().invoke(cli, ["--version"]).output.startswith("treeship-store ")


# What an append or a hook must never load: the schema tooling, output code
# and the web view's packages.
NOT_ON_THE_HOOK_PATH = ("sqlite_utils", "treeship_store.render", "treeship_store.results", "treeship_store.verify",
                        "treeship_store.web", "treeship_store.cli.web", "starlette", "uvicorn", "jinja2",
                        "treeship_store.spans", "treeship_store.otel", "treeship_store.cli.export", "opentelemetry",
                        "google.protobuf", "psycopg", "treeship_store.central")


def test_append_path_imports_neither_sqlite_utils_nor_rendering(root):
    Store(root).append(SESSION, make_event())  # the schema exists; now a hook's append
    code = ("import sys; from treeship_store.cli import cli\n"
            f"cli.main(['--root', {str(root)!r}, 'append', {SESSION!r}, '--type', 'session.started'],"
            " standalone_mode=False)\n"
            f"print(sorted(m for m in {NOT_ON_THE_HOOK_PATH!r} if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV)
    assert result.stdout.splitlines()[-1] == "[]", result.stderr


def test_hook_path_loads_none_of_them_either(root, tmp_path):
    from support.hook_fixtures import claude_tool
    Store(root).append(SESSION, make_event())
    payload = json.dumps(claude_tool(tmp_path, "Read", {"file_path": "/p/README.md"}, {"type": "text"}))
    code = ("import sys; from treeship_store.cli import cli\n"
            f"cli.main(['--root', {str(root)!r}, 'hook', 'claude-code'], standalone_mode=False)\n"
            f"print(sorted(m for m in {NOT_ON_THE_HOOK_PATH!r} if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], input=payload, capture_output=True, text=True, env=ENV)
    assert result.stdout.splitlines()[-1] == "[]", result.stderr
    assert any(e["type"] == "agent.read_file" for e in Store(root).events())  # the hook did record


@pytest.mark.parametrize("args", [
    ["events", "--since", "99999999999999w"],
    ["events", "--since", "1" * 400 + "w"],
    ["events", "--until", "0001-01-01T00:00:00+01:00"],
    ["events", "--after-seq", str(10**20)],
    ["events", "--limit", str(10**20)],
    ["files", "--since", "99999999999999w"],
    ["tail", SESSION, "-n", str(10**20)],
    ["append", SESSION, "--type", "session.started", "--lock-timeout", "nan"],
    ["append", SESSION, "--type", "session.started", "--meta", '{"n": 18446744073709551616}'],
    ["append", SESSION, "--type", "session.started", "--meta", '{"n": NaN}'],
])
def test_bad_input_gets_one_line_exit_1_and_changes_nothing(root, args):
    Store(root).append(SESSION, make_event())
    before = events_file(root).read_bytes()
    result = run(*args, root=root)
    assert result.returncode == 1 and result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1, \
        result.stderr
    assert events_file(root).read_bytes() == before


def test_stdin_that_is_not_utf8_or_has_huge_integers_is_refused(root):
    Store(root).append(SESSION, make_event())
    before = events_file(root).read_bytes()
    command = [sys.executable, "-m", "treeship_store", "--root", str(root), "append", SESSION, "--stdin"]
    for data in (b'{"type": "session.started"}\n\xff\xfe\n', b'{"type": "session.started", "meta": 1e999}\n',
                 b'{"type": "session.started", "meta": {"n": 99999999999999999999}}\n'):
        result = subprocess.run(command, input=data, capture_output=True, env=ENV, timeout=60)
        assert result.returncode == 1 and result.stderr.startswith(b"Error: ") and \
            result.stderr.count(b"\n") == 1, result.stderr
    assert events_file(root).read_bytes() == before


def test_a_root_name_too_long_is_one_line(tmp_path):
    root = tmp_path / ("x" * 300)
    for args in (["append", SESSION, "--type", "session.started"], ["events"], ["verify"]):
        result = run(*args, root=root)
        assert result.returncode == 1 and result.stderr.startswith("Error: ") and \
            result.stderr.count("\n") == 1, result.stderr


def test_control_characters_in_events_are_escaped_in_tables(root):
    Store(root).append(SESSION, make_event(tool_name="\x1b[2J\x07red\r", agent_name="a\x1b]0;x\x07"))
    for args in (["events", "--format", "table"], ["tail", SESSION, "--format", "table"],
                 ["stats"], ["sessions", "--format", "table"]):
        shown = invoke(root, *args).output
        assert "\x1b" not in shown and "\x07" not in shown and "\r" not in shown, args
    assert "\\x1b[2J\\x07red\\x0d" in invoke(root, "events", "--format", "table").output
    assert json.loads(invoke(root, "events", "--format", "jsonl").output)["tool_name"] == "\x1b[2J\x07red\r"


@pytest.fixture
def read_only_root(tmp_path):
    """A store on a read-only bind mount (needs root and mount; skipped elsewhere)."""
    source = tmp_path / "source"
    Store(source / ".treeship").append_many(SESSION, [make_event()] * 3)
    mounted = tmp_path / "mounted"
    mounted.mkdir()
    if subprocess.run(["mount", "--bind", "-o", "ro", str(source), str(mounted)], capture_output=True).returncode:
        pytest.skip("cannot make a read-only bind mount here")
    yield mounted / ".treeship"
    subprocess.run(["umount", str(mounted)], check=True)


def test_a_read_only_store_is_verified_and_errors_are_one_line(read_only_root):
    result = run("verify", root=read_only_root)
    assert result.returncode == 0 and "3 events: ok" in result.stdout, result.stdout + result.stderr
    for args in (["append", SESSION, "--type", "session.started"], ["events"], ["reindex", "--full"]):
        result = run(*args, root=read_only_root)
        assert result.returncode == 1 and result.stderr.startswith("Error: ") and \
            result.stderr.count("\n") == 1, (args, result.stderr)


def loaded_modules(cwd, *args, payload=b""):
    """The modules `python -X importtime ARGS` loads, less those a bare
    interpreter loads anyway (an editable install's finder...)."""
    def loaded(*args):
        result = subprocess.run([sys.executable, "-X", "importtime", *args], input=payload, capture_output=True,
                                env=ENV, cwd=cwd, timeout=60)
        assert result.returncode == 0, result.stderr
        return {line.rsplit("|", 1)[-1].strip() for line in result.stderr.decode().splitlines()
                if line.startswith("import time:")}
    return loaded(*args) - loaded("-c", "pass")


# What a hook process loads, or its cold start grows (scripts/bench.py measures
# it against a bare interpreter): no command-line framework, no SQLite, no
# orjson (jsoncodec), none of the heavier standard modules; `re` and hashlib
# only for the payloads that need them (a command holding a secret's literal,
# a tool kept as digests).
NOT_IN_A_HOOK_PROCESS = ("click", "sqlite3", "_sqlite3", "orjson", "filelock", "sqlite_utils", "logging", "pathlib",
                         "typing", "dataclasses", "json", "datetime", "contextlib", "urllib", "uuid", "enum",
                         "treeship_store.store", "treeship_store.index", "treeship_store.cli", "treeship_store.reader")


@pytest.mark.parametrize("tool, tool_input, response, allowed", [
    ("Read", {"file_path": "/p/README.md"}, {"type": "text"}, ()),
    ("Write", {"file_path": "/p/a.py", "content": "x\n"}, {"type": "create"}, ()),
    ("Bash", {"command": "pytest -q"}, {"stdout": "ok", "interrupted": False}, ()),  # nothing to redact: no re
    ("Bash", {"command": "API_TOKEN=x make"}, {"stdout": "ok", "interrupted": False}, ("re", "enum")),
    ("Bash", {"command": "make"}, "Exit code 2\nmake: *** [all] Error 2", ()),  # a failure's code, read without re
    ("mcp__github__get_issue", {"n": 1}, {"title": "x"}, ("hashlib",)),
])
def test_a_hook_process_loads_only_what_recording_needs(tmp_path, tool, tool_input, response, allowed):
    from support.hook_fixtures import claude_tool

    payload = json.dumps(claude_tool(tmp_path, tool, tool_input, response)).encode()
    hook = loaded_modules(tmp_path, "-m", "treeship_store", "hook", "claude-code", payload=payload)
    assert "treeship_store.capture" in hook and len(list(Store(tmp_path / ".treeship").events())) == 3  # it recorded
    assert sorted(hook & set(NOT_IN_A_HOOK_PROCESS) - set(allowed)) == []


def test_a_with_text_hook_keeping_a_prompt_loads_only_what_recording_needs(tmp_path):
    """`hook AGENT --with-text` (in any order with --lock-timeout) is parsed
    before click too, and a prompt without a secret's literal needs no re."""
    payload = json.dumps({"session_id": SESSION, "cwd": str(tmp_path), "hook_event_name": "UserPromptSubmit",
                          "prompt_id": "p1", "prompt": "fix the flaky test in test_app.py"}).encode()
    hook = loaded_modules(tmp_path, "-m", "treeship_store", "hook", "claude-code", "--with-text", "--lock-timeout",
                          "3", payload=payload)
    notes = [e for e in Store(tmp_path / ".treeship").events() if e["type"] == "agent.note"]
    assert [n["meta"]["text"] for n in notes] == ["fix the flaky test in test_app.py"]
    assert sorted(hook & set(NOT_IN_A_HOOK_PROCESS)) == [] and "re" not in hook


def test_the_status_line_is_started_like_a_hook_and_says_what_the_record_holds(tmp_path):
    """`statusline` (Claude Code's status line, run at every change) loads no
    framework, no index and no price data, and prints the model, Claude
    Code's cost, the session's tokens and failed commands so far."""
    with Store(tmp_path / ".treeship") as store:
        store.append_many(SESSION, [make_event("agent.decision", model="m", tokens_in=1200, tokens_out=345),
                                    make_event("agent.completed_process", exit_code=2),
                                    make_event("agent.completed_process", exit_code=0)])
    status = json.dumps({"session_id": SESSION, "cwd": str(tmp_path), "model": {"display_name": "Opus"},
                         "cost": {"total_cost_usd": 0.25}}).encode()
    shown = subprocess.run([sys.executable, "-m", "treeship_store", "statusline"], input=status, capture_output=True,
                           env=ENV, cwd=tmp_path, timeout=60)
    assert (shown.returncode, shown.stdout.decode()) == (0, "Opus · $0.2500 · 1.5k tokens · 1 failed\n")
    loaded = loaded_modules(tmp_path, "-m", "treeship_store", "statusline", payload=status)
    assert "treeship_store.capture.statusline" in loaded
    assert sorted(loaded & {*NOT_IN_A_HOOK_PROCESS, "genai_prices", "pydantic", "re"}) == []
    for odd in (b"", b"[]", b'{"session_id": "../x"}', json.dumps({"session_id": "ssn_new", "cwd": "/"}).encode(),
                b'{"model": {"display_name": "\\ud800 Op\\nus"}, "cost": {"total_cost_usd": 1e400}}'):
        result = subprocess.run([sys.executable, "-m", "treeship_store", "statusline"], input=odd,
                                capture_output=True, env=ENV, cwd=tmp_path, timeout=60)
        assert result.returncode == 0 and result.stdout.decode().count("\n") == 1 and not result.stderr


def test_a_command_line_append_process_loads_no_framework_nor_index(tmp_path):
    """Other agents' hooks run `append` per tool call: a plain one is parsed
    before click loads, and writes as a hook does (the index is the reader's)."""
    append = loaded_modules(tmp_path, "-m", "treeship_store", "--root", str(tmp_path / "s"), "append", SESSION,
                            "--type", "agent.called_tool", "--tool", "Read", "--duration-ms", "7", "--set",
                            "tool_input_digest=sha256:aa")
    assert "treeship_store.appending" in append
    assert sorted(append & set(NOT_IN_A_HOOK_PROCESS)) == []
    [event] = Store(tmp_path / "s").events()
    assert (event["tool_name"], event["duration_ms"], event["tool_input_digest"]) == ("Read", 7, "sha256:aa")
    # What the fast path does not take goes to click, which explains it: the same errors as ever.
    result = run("append", SESSION, "--type", "agent.called_tool", "--duration-ms", "soon", root=tmp_path / "s")
    assert result.returncode == 2 and "'soon' is not a valid integer" in result.stderr


@pytest.mark.parametrize("via", ["lean", "click"])
def test_an_append_whose_output_is_closed_or_gone_ends_as_clicks_does(root, via):
    """The fast path prints as click's would: stdout closed (`>&-`) prints
    nothing and exits 0, the event stored; a reader gone (`| head -0`) exits
    1 quietly, no traceback; with stderr closed an error is not written to
    stdout, where an agent reads a hook's answer."""
    entry = ["-m", "treeship_store"] if via == "lean" else ["-c", "from treeship_store.cli import main; main()"]
    command = [sys.executable, *entry, "--root", str(root), "append", SESSION, "--agent-id", "agent://a"]
    good, bad = ["--type", "agent.called_tool", "--tool", "Read", "--json"], ["--type", "agent.nope"]
    closed = subprocess.run([*command, *good], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV,
                            timeout=60, preexec_fn=lambda: os.close(1))
    assert (closed.returncode, closed.stderr) == (0, b"")
    reader, writer = os.pipe()
    os.close(reader)
    try:
        gone = subprocess.run([*command, *good], stdout=writer, stderr=subprocess.PIPE, env=ENV, timeout=60)
    finally:
        os.close(writer)
    assert (gone.returncode, gone.stderr) == (1, b"")
    silent = subprocess.run([*command, *bad], capture_output=True, env=ENV, timeout=60,
                            preexec_fn=lambda: os.close(2))
    assert (silent.returncode, silent.stdout) == (1, b"")
    assert [e["tool_name"] for e in Store(root).events(SESSION)] == ["Read", "Read"]


def test_a_hook_with_stderr_closed_writes_nothing_to_stdout(tmp_path):
    """Claude Code reads a hook's stdout as its answer: a failure's one line
    goes to stderr or nowhere, as click's hook command does."""
    result = subprocess.run([sys.executable, "-m", "treeship_store", "hook", "claude-code"], input=b"{}",
                            capture_output=True, env=ENV, cwd=tmp_path, timeout=60, preexec_fn=lambda: os.close(2))
    assert (result.returncode, result.stdout) == (1, b"")


def test_stdin_json_lines_may_hold_any_unicode_line_separator_inside_a_string(root):
    """JSON lines are separated by \\n only: U+2028, U+0085 or a form feed
    inside a string is text (orjson and every JSON writer leave them raw, and
    `events --format jsonl` prints them so)."""
    texts = ["a\u2028b", "c\u0085d", "e\x0cf", "g\u2029h\x1ci"]
    lines = "".join(json.dumps(make_event("agent.note", meta={"text": t}), ensure_ascii=False) + "\r\n"
                    for t in texts)
    result = run("append", SESSION, "--stdin", root=root, stdin=lines)
    assert result.returncode == 0, result.stderr
    assert [e["meta"]["text"] for e in Store(root).events(SESSION)] == texts
    assert result.stdout == f"appended {SESSION} #0..#3 (4 events)\n"
