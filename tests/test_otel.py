"""OpenTelemetry export (issue 15): sessions as GenAI traces over OTLP/HTTP,
each span once. A real receiver (tests/support/otlp_receiver.py) decodes
what the exporter, a real process, sends."""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest

from treeship_store import Store
from treeship_store.event import decode_line
from treeship_store.spans import session_spans, span_id, trace_id

from support import FAULTY_PYTHON, make_event, wait_until
from support.otlp_receiver import Receiver

CLOSED = "ssn_4f1d2a9b7c3e8d01"  # the demo's session that closes, with two agents


def export(root, receiver_or_url, *args, python=(sys.executable,), env=None, timeout=60, **options):
    url = receiver_or_url if isinstance(receiver_or_url, str) else receiver_or_url.endpoint
    return subprocess.run([*python, "-m", "treeship_store", "--root", str(root), "export", "otlp", "--endpoint", url,
                           *map(str, args)], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, **options)


@pytest.fixture
def receiver():
    opened = Receiver()
    yield opened
    opened.close()


@pytest.fixture
def demo(tmp_path):
    subprocess.run([sys.executable, "-m", "treeship_store", "demo", str(tmp_path / "demo")], check=True,
                   capture_output=True)
    return tmp_path / "demo" / ".treeship"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def events_of(root, session):
    return [event for event in Store(root).events(session=session)]


def test_the_demo_is_one_trace_per_session_with_the_agents_tree(demo, receiver):
    result = export(demo, receiver)
    assert result.returncode == 0, result.stderr
    traces = {}
    for span in receiver.spans:
        traces.setdefault(span.resource["session.id"], []).append(span)
    assert set(traces) <= set(Store(demo).session_ids()) and CLOSED in traces
    for session, spans in traces.items():
        assert {span.trace_id for span in spans} == {trace_id(session).hex()}  # one trace, from the session id
        assert all(span.resource["service.name"] == "treeship-store" and span.resource["host.id"] for span in spans)
    spans = traces[CLOSED]
    by_id = {span.span_id: span for span in spans}
    assert len(by_id) == len(spans)
    events = events_of(demo, CLOSED)
    instances = {e["agent_instance_id"]: e["agent_name"] for e in events}
    expected = Counter({"invoke_workflow": 1} if len(instances) > 1 else {})
    expected.update(f"invoke_agent {name}" for name in instances.values())
    expected.update(f"execute_tool {e['tool_name']}" for e in events if e["type"] == "agent.called_tool")
    expected.update(f"execute_tool {e['process_name']}" for e in events if e["type"] == "agent.completed_process")
    expected.update(f"chat {e['model']}" for e in events if e["type"] == "agent.decision")
    assert Counter(span.name for span in spans) == expected
    root = next(span for span in spans if span.name == "invoke_workflow")
    assert root.parent_id == "" and root.attributes["gen_ai.conversation.id"] == CLOSED
    agents = {span.attributes["treeship.agent_instance_id"]: span for span in spans
              if span.attributes.get("gen_ai.operation.name") == "invoke_agent" and span is not root}
    assert set(agents) == set(instances)
    spawned = {e["agent_instance_id"]: parent for e in events if e["type"] in ("agent.started", "agent.spawned")
               and (parent := e.get("parent_agent_instance_id") or e.get("spawned_by_agent_instance_id"))
               and parent != e["agent_instance_id"]}
    assert spawned == {"ai_cx_1": "ai_cc_1"}  # the demo's sub-agent
    for instance, span in agents.items():
        parent = spawned.get(instance)
        assert span.parent_id == (agents[parent].span_id if parent in agents else root.span_id)
        assert span.attributes["gen_ai.agent.name"] == instances[instance]
        assert root.start <= span.start <= span.end <= root.end
    for span in spans:
        if span.name.startswith(("execute_tool", "chat")):
            assert by_id[span.parent_id].attributes.get("gen_ai.operation.name") == "invoke_agent"
            assert span.start <= span.end
    failed = [e for e in events if e["type"] == "agent.completed_process" and e.get("exit_code")]
    errors = [span for span in spans if span.status == 2]  # STATUS_CODE_ERROR
    assert len(errors) == len(failed) and all(s.attributes["error.type"] == str(f["exit_code"])
                                              for s, f in zip(errors, failed))
    decision = next(e for e in events if e["type"] == "agent.decision")
    chat = next(span for span in spans if span.name == f"chat {decision['model']}")
    assert chat.kind == 3  # SPAN_KIND_CLIENT
    assert (chat.attributes["gen_ai.usage.input_tokens"], chat.attributes["gen_ai.usage.output_tokens"]) == \
        (decision["tokens_in"], decision["tokens_out"])
    tool = next(e for e in events if e["type"] == "agent.called_tool" and e.get("duration_ms"))
    span = next(s for s in spans if s.attributes.get("treeship.event_id") == tool["event_id"])
    assert span.end - span.start == tool["duration_ms"] * 1_000_000
    handoffs = [e for e in events if e["type"] == "agent.handoff"]
    for handoff in handoffs:  # a link from the agent handing off to the one taking over
        assert agents[handoff["to_agent_instance_id"]].span_id in agents[handoff["agent_instance_id"]].links


def test_a_second_run_sends_nothing(demo, receiver):
    assert export(demo, receiver).returncode == 0
    sent, requests = len(receiver.spans), len(receiver.requests)
    again = export(demo, receiver)
    assert again.returncode == 0 and "exported 0 span(s)" in again.stdout
    assert (len(receiver.spans), len(receiver.requests)) == (sent, requests)


def test_spans_are_sent_as_they_complete_and_once(root, receiver):
    store = Store(root)
    store.append("ssn_live", make_event("session.started"))
    store.append("ssn_live", make_event("agent.started"))
    store.append("ssn_live", make_event(tool_name="Read", duration_ms=5))
    assert export(root, receiver).returncode == 0
    assert [span.name for span in receiver.spans] == ["execute_tool Read"]  # the agent is still running
    store.append("ssn_live", make_event("agent.completed_process", process_name="pytest", exit_code=1))
    store.append("ssn_live", make_event("agent.completed"))
    assert export(root, receiver).returncode == 0
    store.append("ssn_live", make_event("session.closed"))
    assert export(root, receiver).returncode == 0
    assert export(root, receiver).returncode == 0
    names = [span.name for span in receiver.spans]
    assert names == ["execute_tool Read", "execute_tool pytest", "invoke_agent claude-code", "invoke_agent claude-code"]
    ids = [span.span_id for span in receiver.spans]
    assert len(set(ids)) == len(ids)  # never twice
    assert receiver.spans[-1].span_id == span_id("ssn_live", "session").hex()  # the root, at the close


def test_follow_sends_what_is_appended_once(root, receiver):
    store = Store(root)
    store.append("ssn_f", make_event(tool_name="First"))
    follower = subprocess.Popen([sys.executable, "-m", "treeship_store", "--root", str(root), "export", "otlp",
                                 "--endpoint", receiver.endpoint, "--follow"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
    try:
        assert wait_until(lambda: len(receiver.spans) == 1)
        for n in range(5):
            store.append("ssn_f", make_event(tool_name=f"Later{n}"))
        assert wait_until(lambda: len(receiver.spans) == 6)
    finally:
        follower.send_signal(signal.SIGTERM)
        out, err = follower.communicate(timeout=30)
    assert follower.returncode == 0 and "stopped: 6 span(s)" in err, err
    assert [s.name for s in receiver.spans] == ["execute_tool First", *(f"execute_tool Later{n}" for n in range(5))]



def test_a_collector_down_then_up_loses_nothing_and_doubles_nothing(demo):
    port = free_port()
    first = export(demo, f"http://127.0.0.1:{port}", "--give-up-after", "0")
    assert first.returncode == 1 and first.stderr.startswith("Error: ") and first.stderr.count("\n") == 1
    assert "unreachable" in first.stderr
    exporter = subprocess.Popen([sys.executable, "-m", "treeship_store", "--root", str(demo), "export", "otlp",
                                 "--endpoint", f"http://127.0.0.1:{port}", "--give-up-after", "60"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.5)  # refused at least once, now backing off
    receiver = Receiver(port)
    try:
        out, err = exporter.communicate(timeout=60)
        assert exporter.returncode == 0, err
        assert "trying again" in err
        expected = [span for session in Store(demo).session_ids() for span in spans_of(demo, session)]
        assert sorted(s.span_id for s in receiver.spans) == sorted(s.span_id.hex() for s in expected)
        assert export(demo, receiver).returncode == 0
        assert len(receiver.spans) == len(expected)
    finally:
        receiver.close()


def spans_of(root, session):
    data = (root / "sessions" / session / "events.jsonl").read_bytes()
    return session_spans(session, [(n, decode_line(line)[0]) for n, line in enumerate(data.split(b"\n")[:-1])])


def test_429_503_and_500_are_retried_after_the_time_they_ask(demo, receiver):
    receiver.answers = [(429, {"Retry-After": "2"}), (503, {}), (500, {})]
    result = export(demo, receiver)
    assert result.returncode == 0, result.stderr
    assert "HTTP 429; trying again in 2 s" in result.stderr
    assert "HTTP 503; trying again in 2 s" in result.stderr and "HTTP 500; trying again in 4 s" in result.stderr  # backoff
    assert len(receiver.requests) == 4 and len({s.span_id for s in receiver.spans}) == len(receiver.spans) > 0


def test_a_refusal_is_one_line_marks_nothing_and_never_shows_the_headers(demo, receiver):
    receiver.answers = [(401, {})]
    secret = {"OTEL_EXPORTER_OTLP_HEADERS": "Authorization=Bearer%20s3cr3t-t0ken,x-team=core"}
    result = export(demo, receiver, env=secret)
    assert result.returncode == 1 and result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1
    assert "HTTP 401" in result.stderr and "s3cr3t" not in result.stdout + result.stderr
    headers = {name.lower(): value for name, value in receiver.requests[0].items()}
    assert headers["authorization"] == "Bearer s3cr3t-t0ken" and headers["x-team"] == "core"
    assert receiver.spans == []
    assert export(demo, receiver, env=secret).returncode == 0 and receiver.spans  # nothing was marked exported


@pytest.mark.parametrize("endpoint, env, message", [
    ("ftp://collector:4318", {}, "not an OTLP/HTTP endpoint"),
    ("http://:4318", {}, "not an OTLP/HTTP endpoint"),
    ("http://collector:99999", {}, "not an OTLP/HTTP endpoint"),
    (None, {"OTEL_EXPORTER_OTLP_HEADERS": "Authorization"}, "header 1 is not key=value"),
    (None, {"OTEL_EXPORTER_OTLP_HEADERS": "a=b,bad key=s3cr3t"}, "header 2 is not key=value"),
    (None, {"OTEL_EXPORTER_OTLP_HEADERS": "x=s3cr3t%E2%82%AC"}, "header 1 is not key=value"),
    (None, {"OTEL_EXPORTER_OTLP_HEADERS": "x=s3cr3t%0Aevil: 1"}, "header 1 is not key=value"),
    ("http://collector:4318/v1/tr aces", {}, "not an OTLP/HTTP endpoint"),
    (None, {"OTEL_EXPORTER_OTLP_TIMEOUT": "soon"}, "OTEL_EXPORTER_OTLP_TIMEOUT must be a number of milliseconds"),
    (None, {"OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT": "9" * 5000}, "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT must be"),
])
def test_bad_endpoints_and_headers_are_one_line(demo, receiver, endpoint, env, message):
    result = export(demo, endpoint or receiver, env=env)
    assert result.returncode == 1 and result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1
    assert message in result.stderr and "s3cr3t" not in result.stderr
    assert receiver.requests == [] and not (demo / "otlp-positions.json").exists()


def test_killed_after_the_collector_accepted_loses_nothing(demo, receiver):
    killed = export(demo, receiver, python=FAULTY_PYTHON, env={"TREESHIP_STORE_FAULT": "export-sent"})
    assert killed.returncode == -signal.SIGKILL
    again = export(demo, receiver)
    assert again.returncode == 0, again.stderr
    expected = {span.span_id.hex() for session in Store(demo).session_ids() for span in spans_of(demo, session)}
    assert {span.span_id for span in receiver.spans} == expected  # the batch in flight sent again, nothing lost
    sent = len(receiver.spans)
    assert export(demo, receiver).returncode == 0 and len(receiver.spans) == sent


def test_commands_and_urls_are_redacted_and_event_text_kept_as_data(root, receiver):
    store = Store(root)
    store.append("ssn_s", make_event("agent.completed_process", process_name="curl", exit_code=0,
                                     command="curl -H 'Authorization: Bearer abcdef123456' https://u:hunter2@h/x"))
    store.append("ssn_s", make_event(tool_name="<script>alert(1)</script>"))
    store.append("ssn_s", make_event("agent.decision", model="m", summary="used API_KEY=sk-live-0123456789abcdef"))
    store.append("ssn_s", make_event("agent.failed", reason="token ghp_" + "a" * 36 + " expired"))
    assert export(root, receiver).returncode == 0
    command = receiver.spans[0].attributes["process.command_line"]
    assert "abcdef123456" not in command and "hunter2" not in command and "[REDACTED:" in command
    assert receiver.spans[1].attributes["gen_ai.tool.name"] == "<script>alert(1)</script>"
    assert "0123456789abcdef" not in receiver.spans[2].attributes["treeship.summary"]
    assert "aaaaaaaa" not in receiver.spans[3].message and "[REDACTED:github-token]" in receiver.spans[3].message


def test_every_prefix_of_a_session_gives_the_same_complete_spans(demo):
    """What makes "once" hold: a span complete at line N is the same whatever
    follows, so sending those closing at or after the last position never
    repeats one and never misses one."""
    for session in Store(demo).session_ids():
        data = (demo / "sessions" / session / "events.jsonl").read_bytes().split(b"\n")[:-1]
        lines = [(n, decode_line(line)[0]) for n, line in enumerate(data)]
        whole = {span.span_id: span for span in session_spans(session, lines)}
        for cut in range(len(lines) + 1):
            for span in session_spans(session, lines[:cut]):
                assert span.closes_at < cut and whole[span.span_id] == span


def test_two_exports_of_one_store_at_once_are_refused(demo, receiver):
    receiver.answers = [(503, {"Retry-After": "3"})]
    first = subprocess.Popen([sys.executable, "-m", "treeship_store", "--root", str(demo), "export", "otlp",
                              "--endpoint", receiver.endpoint], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    try:
        assert wait_until(lambda: receiver.requests)
        second = export(demo, receiver)
        assert second.returncode == 1 and "another export" in second.stderr
    finally:
        first.communicate(timeout=60)
    assert first.returncode == 0
    assert len({s.span_id for s in receiver.spans}) == len(receiver.spans)
    assert json.loads((demo / "otlp-positions.json").read_text())
    assert oct((demo / "otlp-positions.json").stat().st_mode & 0o777) == "0o600"


@pytest.mark.parametrize("content", [b"not json", b'{"x": []}', b'{"x": {"ssn_a": [1, 2]}}', b'{"x": {"s": [-1, 0, 0, 0]}}'])
def test_a_damaged_positions_file_is_one_line_and_sends_nothing(demo, receiver, content):
    (demo / "otlp-positions.json").write_bytes(content)
    result = export(demo, receiver)
    assert result.returncode == 1 and result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1
    assert "otlp-positions.json is not a positions file" in result.stderr
    assert receiver.requests == [] and (demo / "otlp-positions.json").read_bytes() == content


def test_a_replaced_session_file_is_exported_as_new(root, receiver):
    store = Store(root)
    store.append("ssn_r", make_event(tool_name="Old"))
    assert export(root, receiver).returncode == 0
    (root / "sessions" / "ssn_r" / "events.jsonl").rename(root / "kept.jsonl")  # restored from elsewhere, say
    store.append("ssn_r", make_event(tool_name="New"))
    assert export(root, receiver).returncode == 0
    assert [s.name for s in receiver.spans] == ["execute_tool Old", "execute_tool New"]


def big_session(store, session_id, count, command_bytes=6000):
    store.append_many(session_id, [make_event("agent.completed_process", process_name="make", exit_code=0,
                                              command=f"make {session_id} {i} " + "x" * command_bytes)
                                   for i in range(count)])


def test_long_values_are_cut_and_large_batches_split_under_the_intake_limit(root, receiver):
    """One session of 1,200 long commands is 5.3 MB of spans: split between
    its lines, never one request over a collector's 4 MB."""
    from treeship_store.otel.otlp import MAX_REQUEST_BYTES, VALUE_LIMIT
    with Store(root) as store:
        big_session(store, "ssn_big0", 1200)
    result = export(root, receiver)
    assert result.returncode == 0, result.stderr
    sizes = [int(headers["Content-Length"]) for headers in receiver.requests]
    assert len(sizes) == 2 and max(sizes) <= MAX_REQUEST_BYTES
    assert len(receiver.spans) == len({s.span_id for s in receiver.spans}) == 1200
    assert {len(s.attributes["process.command_line"]) for s in receiver.spans} == {VALUE_LIMIT}
    Store(root).append("ssn_big0", make_event("agent.completed_process", process_name="make", command="y" * 500))
    assert export(root, receiver, env={"OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT": "100"}).returncode == 0
    assert len(receiver.spans[-1].attributes["process.command_line"]) == 100
    bad = export(root, receiver, env={"OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT": "lots"})
    assert bad.returncode == 1 and bad.stderr.startswith("Error: ") and "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT" in bad.stderr


def test_credentials_in_the_endpoint_are_basic_authentication_never_printed(demo, receiver):
    import base64
    receiver.answers = [(401, {})]
    url = f"http://team:p%40ss-s3cr3t@127.0.0.1:{receiver.port}"
    refused = export(demo, url)
    assert refused.returncode == 1 and "HTTP 401" in refused.stderr and "s3cr3t" not in refused.stderr
    assert export(demo, url).returncode == 0
    sent = {name.lower(): value for name, value in receiver.requests[-1].items()}["authorization"]
    assert base64.b64decode(sent.removeprefix("Basic ")) == b"team:p@ss-s3cr3t"
    assert receiver.spans and "s3cr3t" not in (demo / "otlp-positions.json").read_text()


def test_lines_another_writer_left_with_extreme_values_never_stop_the_export(root, receiver):
    """Times OTLP cannot carry (before 1970, from 2554), durations reaching
    before the epoch, counts out of range, wrong JSON types: such a line
    loses what cannot be said, never the export of what follows."""
    base = {"session_id": "ssn_x", "trace_id": "0" * 32, "span_id": "0" * 16, "agent_id": "a",
            "agent_instance_id": "i", "agent_name": "n", "host_id": "h"}
    lines = [("9999-12-31T23:59:59Z", {"type": "agent.called_tool", "tool_name": "Far"}),
             ("0001-01-01T00:00:00Z", {"type": "agent.called_tool", "tool_name": "Old"}),
             ("1969-12-31T23:59:59Z", {"type": "agent.called_tool", "tool_name": "Before"}),
             ("1970-01-01T00:00:01Z", {"type": "agent.called_tool", "tool_name": "Long", "duration_ms": 2**39}),
             ("2026-01-01T00:00:01Z", {"type": "agent.decision", "model": "m", "tokens_in": 2**64 - 1,
                                       "tokens_out": -5}),
             ("2026-01-01T00:00:02Z", {"type": "agent.completed_process", "process_name": "p", "exit_code": 2**63}),
             ("2026-01-01T00:00:03Z", {"type": 42}),
             ("2026-01-01T00:00:04Z", {"type": "agent.called_tool", "tool_name": ["x"], "meta": {"tool_use_id": {}}})]
    (root / "sessions" / "ssn_x").mkdir(parents=True)
    (root / "sessions" / "ssn_x" / "events.jsonl").write_text("".join(
        json.dumps({**base, "event_id": f"evt_{n:016x}", "timestamp": at, "sequence_no": n, **fields}) + "\n"
        for n, (at, fields) in enumerate(lines)) + '{"torn\n')
    result = export(root, receiver)
    assert result.returncode == 0, result.stderr
    assert [s.name for s in receiver.spans] == ["execute_tool Long", "chat m", "execute_tool p", "execute_tool tool"]
    assert all(0 <= s.start <= s.end < 2**64 for s in receiver.spans) and receiver.spans[0].start == 0
    chat, process = receiver.spans[1].attributes, receiver.spans[2].attributes
    assert "gen_ai.usage.output_tokens" not in chat and "gen_ai.usage.input_tokens" not in chat
    assert "process.exit.code" not in process and receiver.spans[2].status == 0


def test_an_endpoint_that_does_not_speak_http_is_one_line(demo):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()

        def answer():
            for _ in range(2):
                connection, _ = server.accept()
                with connection:
                    connection.recv(65536)
                    connection.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")
        threading.Thread(target=answer, daemon=True).start()
        result = export(demo, f"http://127.0.0.1:{server.getsockname()[1]}", "--give-up-after", "1")
    assert result.returncode == 1 and result.stderr.splitlines()[-1].startswith("Error: ")
    assert "did not answer in HTTP" in result.stderr and "Traceback" not in result.stderr
    assert not (demo / "otlp-positions.json").exists()


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_not_followed_and_not_taken_for_acceptance(demo, receiver, status):
    """An http->https balancer answers 301: urllib would re-send the POST as
    a bodiless GET, with the API key, to the host it names, and take that
    GET's 200 for the collector's acceptance."""
    elsewhere = Receiver()
    try:
        receiver.answers = [(status, {"Location": f"http://127.0.0.1:{elsewhere.port}/v1/traces?token=l0cation"})]
        result = export(demo, receiver, env={"OTEL_EXPORTER_OTLP_HEADERS": "x-api-key=s3cr3t-key"})
        assert result.returncode == 1 and result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1
        assert f"HTTP {status}" in result.stderr and f"127.0.0.1:{elsewhere.port}/v1/traces" in result.stderr
        assert "s3cr3t" not in result.stderr and "l0cation" not in result.stderr
        assert elsewhere.requests == [] and len(receiver.requests) == 1  # nothing went to the other host
        assert not (demo / "otlp-positions.json").exists()  # and nothing was marked exported
    finally:
        elsewhere.close()


def test_a_redirect_to_an_address_that_does_not_parse_is_one_line(demo, receiver):
    receiver.answers = [(302, {"Location": "http://[::1/v1/traces"})]
    result = export(demo, receiver)
    assert result.returncode == 1 and result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1
    assert "HTTP 302" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("value", ["nan", "inf", "1e308", "-5", "1.5"])
def test_a_retry_after_that_is_not_a_delay_is_the_backoff_and_give_up_after_holds(demo, receiver, value):
    """Retry-After is a number of whole seconds or an HTTP date (RFC 9110);
    anything else (nan once made the exporter retry in a tight loop past
    --give-up-after) is ignored for the exporter's own backoff."""
    receiver.answers = [(503, {"Retry-After": value})] * 50
    result = export(demo, receiver, "--give-up-after", "2")
    assert result.returncode == 1 and result.stderr.splitlines()[-1].startswith("Error: "), result.stderr
    assert "HTTP 503; trying again in 1 s" in result.stderr  # the backoff's first step
    assert len(receiver.requests) <= 3 and receiver.spans == []


def test_a_collector_trickling_its_answer_cannot_hold_a_request_past_its_time(demo):
    """A byte every half second never trips a socket's timeout, which bounds
    each read alone: the whole request is bounded (here 1 s, from the OTLP
    timeout variable), so --give-up-after ends the run."""
    stop = threading.Event()
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()

        def trickle(connection):
            with connection:
                connection.recv(1 << 20)
                try:
                    connection.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
                    while not stop.wait(0.5):
                        connection.sendall(b"z")
                except OSError:
                    pass  # the exporter hung up

        def accept():
            while not stop.is_set():
                try:
                    connection, _ = server.accept()
                except OSError:
                    return
                threading.Thread(target=trickle, args=(connection,), daemon=True).start()
        threading.Thread(target=accept, daemon=True).start()
        try:
            result = export(demo, f"http://127.0.0.1:{server.getsockname()[1]}", "--give-up-after", "2",
                            env={"OTEL_EXPORTER_OTLP_TIMEOUT": "1000"}, timeout=60)
        finally:
            stop.set()
    assert result.returncode == 1 and result.stderr.splitlines()[-1].startswith("Error: "), result.stderr
    assert "did not answer within 1 s" in result.stderr
    assert not (demo / "otlp-positions.json").exists()


def test_an_answer_is_read_only_as_far_as_an_otlp_answer_can_need(demo):
    """A 2xx with a body of 128 MiB (or 1 GiB) accepted the spans; reading it
    whole would take the exporter's memory with it. The collector here counts
    what it could send before the exporter hung up."""
    size, sent = 128 << 20, []
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()

        def answer():
            connection, _ = server.accept()
            with connection:
                connection.recv(1 << 20)
                count = 0
                try:
                    connection.sendall(f"HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n".encode())
                    chunk = b"\0" * (1 << 20)
                    while count < size:
                        connection.sendall(chunk)
                        count += len(chunk)
                except OSError:
                    pass  # the exporter hung up
                sent.append(count)
        thread = threading.Thread(target=answer, daemon=True)
        thread.start()
        result = export(demo, f"http://127.0.0.1:{server.getsockname()[1]}")
        thread.join(60)
    assert result.returncode == 0, result.stderr
    assert "exported 13 span(s)" in result.stdout  # a 2xx accepted them, whatever its body
    assert sent and sent[0] < size // 4  # it stopped reading long before the end


def test_a_session_sent_in_several_requests_has_each_span_once_across_runs(root, receiver):
    """The position of a session split between requests moves with each one
    the collector accepts: refused after the first, the next run sends the
    rest, and no span twice."""
    with Store(root) as store:
        big_session(store, "ssn_big0", 1200)
        store.append("ssn_big0", make_event("session.closed"))  # the agent and the root complete at one line
    receiver.answers = [(200, {}), (401, {})]
    first = export(root, receiver)
    assert first.returncode == 1 and "HTTP 401" in first.stderr
    assert 0 < len(receiver.spans) < 1202
    again = export(root, receiver)
    assert again.returncode == 0, again.stderr
    expected = {span.span_id.hex() for span in spans_of(root, "ssn_big0")}
    assert len(expected) == 1202 and sorted(s.span_id for s in receiver.spans) == sorted(expected)
    assert "exported 0 span(s)" in export(root, receiver).stdout


def test_a_request_refused_as_too_large_is_split_and_never_stops_the_rest(root, receiver):
    """A collector whose intake limit is 1 MB answers 413: requests are split
    smaller; a span over the limit even alone is counted rejected, not sent
    again, and every other span still goes."""
    receiver.max_body = 1 << 20
    with Store(root, max_line_bytes=4 << 20) as store:
        big_session(store, "ssn_a", 2)
        big_session(store, "ssn_b", 1, command_bytes=1_500_000)  # one span of 1.5 MB
        big_session(store, "ssn_c", 700)  # 3 MB
    env = {"OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT": "2000000"}
    result = export(root, receiver, env=env)
    assert result.returncode == 0, result.stderr
    assert "(1 rejected by the collector)" in result.stdout and "ssn_b" in result.stderr and "413" in result.stderr
    expected = {span.span_id.hex() for session in ("ssn_a", "ssn_c") for span in spans_of(root, session)}
    assert sorted(s.span_id for s in receiver.spans) == sorted(expected)
    assert "exported 0 span(s)" in export(root, receiver, env=env).stdout


def test_chat_spans_carry_cache_tokens_and_agent_spans_their_provider(tmp_path, receiver, monkeypatch):
    """The recorded Claude Code session: each chat span has the cache reads
    and writes of its decision (gen_ai.usage.cache_read/cache_creation
    .input_tokens), and each invoke_agent span that called a model names its
    provider, as the GenAI conventions require."""
    from pathlib import Path

    from support import agent_checks as checks
    monkeypatch.setenv("TREESHIP_HOST_ID", "host_test")
    events, *_ = checks.replay(Path(__file__).parent / "fixtures" / "claude-code-2.1.328", tmp_path, "claude-code")
    result = export(tmp_path / "project" / ".treeship", receiver)
    assert result.returncode == 0, result.stderr
    closed = next(n for n, e in enumerate(events) if e["type"] == "session.closed")  # a trace ends at its close
    decisions = {e["event_id"]: e for e in events[:closed] if e["type"] == "agent.decision"}
    chats = [span for span in receiver.spans if span.name.startswith("chat ")]
    assert len(chats) == len(decisions) and any(span.attributes.get("gen_ai.usage.cache_read.input_tokens")
                                                for span in chats)
    for span in chats:
        tokens = decisions[span.attributes["treeship.event_id"]]["meta"]["tokens"]
        assert span.attributes.get("gen_ai.usage.cache_read.input_tokens") == tokens.get("cache_read")
        assert span.attributes.get("gen_ai.usage.cache_creation.input_tokens") == tokens.get("cache_write")
        assert span.attributes["gen_ai.provider.name"] == "anthropic"
    agents = [span for span in receiver.spans if span.attributes.get("gen_ai.operation.name") == "invoke_agent"]
    deciding = {e["agent_instance_id"] for e in decisions.values()}
    assert {span.attributes.get("treeship.agent_instance_id") for span in agents
            if span.attributes.get("gen_ai.provider.name") == "anthropic"} >= deciding
