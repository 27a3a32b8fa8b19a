"""The web view (issue 13): `treeship-store serve` as a real process on
127.0.0.1, asked over HTTP, and its pages driven in Debian's Chromium."""

import fcntl
import subprocess
import sys

import httpx
import orjson
import pytest
from playwright.sync_api import expect

from treeship_store import Store
from treeship_store.demo import write_demo

from support import make_event, wait_until
from support.web import browser, own_ipv4_address, serving, sse_messages

HOSTILE = '<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2">'


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("web") / ".treeship"
    write_demo(root)
    with Store(root) as store:
        store.append("ssn_hostile", make_event("agent.wrote_file", file_path=HOSTILE, timestamp="2026-04-06T08:00:00Z"))
        store.append("ssn_hostile", make_event("agent.started_process", process_name="make",
                                               command="make release-candidate", timestamp="2026-04-06T08:00:01Z"))
        store.append("ssn_said", make_event("agent.note", timestamp="2026-04-06T09:00:00Z", meta={
            "kind": "prompt", "turn": "t-1", "text": "please refactor the tokenizer " + HOSTILE}))
        store.append_many("ssn_cost", [  # priced: two days of a known model, and one a price list cannot know
            make_event("agent.decision", model=model, provider="anthropic", timestamp=at, tokens_in=1200,
                       tokens_out=300, meta={"tokens": {"input": 200, "cache_read": 1000, "output": 300}})
            for model, at in (("claude-sonnet-4-5", "2026-04-07T10:00:00Z"), ("claude-sonnet-4-5",
                              "2026-04-08T10:00:00Z"), (HOSTILE, "2026-04-08T11:00:00Z"))])
    return root


@pytest.fixture(scope="module")
def url(demo):
    with serving(demo) as base:
        yield base


@pytest.fixture(scope="module")
def chromium():
    with browser() as context:
        yield context


def get(url, path, **options):
    return httpx.get(url + path.lstrip("/"), **options)


def foreign_append(root, session, event, sequence_no=None):
    """An append the way Treeship's own CLI does it: under the flock, one
    line at the file's line count (or another tool's: at `sequence_no`),
    and nothing else (no index)."""
    path = root / "sessions" / session / "events.jsonl"
    with open(str(path) + ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        line_count = path.read_bytes().count(b"\n")
        line = orjson.dumps({**Store(root).prepare_batch(session, [event])[0],
                             "sequence_no": line_count if sequence_no is None else sequence_no})
        with open(path, "ab") as log:
            log.write(line + b"\n")
    return line


# -- the API ------------------------------------------------------------------

def test_api_events_are_the_stored_lines_unchanged(url, demo):
    session = "ssn_4f1d2a9b7c3e8d01"
    response = get(url, f"/api/events?session={session}")
    assert response.status_code == 200 and response.headers["content-type"] == "application/x-ndjson"
    assert response.content == (demo / "sessions" / session / "events.jsonl").read_bytes()
    lines = get(url, "/api/events?agent=codex&type=agent.wrote_file&order=newest").content.splitlines()
    events = [orjson.loads(line) for line in lines]
    assert events and all(e["agent_name"] == "codex" and e["type"] == "agent.wrote_file" for e in events)
    assert [e["timestamp"] for e in events] == sorted((e["timestamp"] for e in events), reverse=True)
    found = [orjson.loads(line) for line in get(url, "/api/events?search=release-candidate").content.splitlines()]
    assert [(e["session_id"], e["sequence_no"]) for e in found] == [("ssn_hostile", 1)]


@pytest.mark.parametrize("query, message", [
    ("limit=x", "limit must be an integer"), ("limit=100001", "limit must be from 0"),
    ("type=agent.nonsense", "agent.nonsense"), ("since=yesterday", "since"), ("session=../etc", "invalid session id"),
    ("failed=maybe", "failed must be"), ("search=%20", "search must be"), ("order=up", "order must be"),
    ("search=" + "+".join(f"w{i}" for i in range(33)), "more than 32"),
])
def test_api_refuses_bad_filters_with_one_clear_error(url, query, message):
    response = get(url, f"/api/events?{query}")
    assert response.status_code == 400 and message in response.json()["error"]


def test_api_sessions_page_through_every_session_newest_first(url, demo):
    seen, before = [], ""
    while True:
        page = get(url, f"/api/sessions?limit=2{before}").json()
        seen += page["sessions"]
        if page["next"] is None:
            break
        before = f"&before={page['next']}"
    ids = [s["session_id"] for s in seen]
    assert sorted(ids) == sorted(Store(demo).session_ids()) and len(ids) == len(set(ids))
    starts = [s["first"] for s in seen]
    assert starts == sorted(starts, reverse=True)
    assert [s["session_id"] for s in get(url, "/api/sessions?agent=codex").json()["sessions"]] == \
        ["ssn_4f1d2a9b7c3e8d01"]


def test_api_files_stats_and_damaged_lines_say_what_the_library_says(url, demo):
    store = Store(demo)
    assert get(url, "/api/files?agent=codex").json() == store.files(agent="codex")
    assert get(url, "/api/stats").json() == orjson.loads(orjson.dumps(store.stats(), option=orjson.OPT_NON_STR_KEYS))
    damaged = get(url, "/api/sessions/ssn_0c1d2e3f4a5b6c7d/damaged").json()
    assert [(d["line_no"], d["offset"]) for d in damaged] == \
        [(d.line_no, d.offset) for d in store.read_session("ssn_0c1d2e3f4a5b6c7d").damaged]
    assert get(url, "/api/sessions/ssn_nope/damaged").status_code == 404
    assert get(url, "/sessions/ssn_nope").status_code == 404


def test_the_stream_sends_each_new_line_once_whoever_appends_it(url, demo):
    session = "ssn_9a8b7c6d5e4f3a21"
    last = Store(demo).read_session(session).events[-1]["sequence_no"]

    def first_data_lines(response, count):
        found = []
        for line in response.iter_lines():
            if line.startswith("data: "):
                found.append(line[len("data: "):].encode())
            if len(found) == count:
                return found

    with httpx.stream("GET", url + f"api/sessions/{session}/stream", timeout=10) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        written = [foreign_append(demo, session, make_event(tool_name=f"Live{i}")) for i in range(2)]
        assert first_data_lines(response, 2) == written
    with httpx.stream("GET", url + f"api/sessions/{session}/stream?after_seq={last}", timeout=10) as response:
        assert first_data_lines(response, 2) == written


def test_the_stream_goes_by_line_so_a_repeated_sequence_no_is_sent_too(url, demo):
    session = "ssn_4f1d2a9b7c3e8d01"
    lines = (demo / "sessions" / session / "events.jsonl").read_bytes().count(b"\n")
    with httpx.stream("GET", url + f"api/sessions/{session}/stream", timeout=10) as response:
        again = foreign_append(demo, session, make_event(tool_name="SameNumber"), sequence_no=0)  # another tool's
        assert sse_messages(response.iter_lines(), 1) == [{"id": str(lines), "data": again.decode()}]  # id: its line
    resumed = {"last-event-id": str(lines - 1)}  # as a browser reconnects
    with httpx.stream("GET", url + f"api/sessions/{session}/stream", headers=resumed, timeout=10) as response:
        assert sse_messages(response.iter_lines(), 1) == [{"id": str(lines), "data": again.decode()}]
    events = get(url, f"/api/events?session={session}")
    assert events.headers["treeship-last-line"] == str(lines)  # where a page's stream takes over


def test_a_stream_open_while_its_record_is_restored_to_a_shorter_copy_starts_again(tmp_path):
    root = tmp_path / ".treeship"
    with Store(root) as store:
        store.append_many("ssn_r", [make_event(tool_name=f"Before{i}") for i in range(5)])
    path = root / "sessions" / "ssn_r" / "events.jsonl"
    backup = b"".join(path.read_bytes().splitlines(keepends=True)[:3])
    with serving(root) as base, httpx.stream("GET", base + "api/sessions/ssn_r/stream", timeout=10) as response:
        stream = response.iter_lines()
        path.write_bytes(backup)  # a restore, as cp does it: the same file, shorter
        reset, *restored = sse_messages(stream, 4)
        assert reset["event"] == "reset" and reset["id"] == "-1" and "shrank" in reset["data"]
        assert [(int(m["id"]), m["data"].encode()) for m in restored] == list(enumerate(backup.splitlines()))
        after = foreign_append(root, "ssn_r", make_event(tool_name="After"))
        assert sse_messages(stream, 1) == [{"id": "3", "data": after.decode()}]  # and it goes on
        # A client that saw line 4 of the old file resumes in a file of four lines: the same reset.
        with httpx.stream("GET", base + "api/sessions/ssn_r/stream", headers={"last-event-id": "4"},
                          timeout=10) as resumed:
            reset, *everything = sse_messages(resumed.iter_lines(), 5)
            assert reset["event"] == "reset" and "fewer than the position" in reset["data"]
            assert [m["id"] for m in everything] == ["0", "1", "2", "3"]


def test_live_streams_are_bounded_with_a_503_and_a_closed_one_frees_its_place(demo, chromium):
    from contextlib import ExitStack
    from treeship_store.web.api import MAX_STREAMS
    session = "ssn_9a8b7c6d5e4f3a21"
    with serving(demo) as base, httpx.Client(base_url=base, timeout=10) as client, ExitStack() as streams:
        def open_stream():
            return streams.enter_context(client.stream("GET", f"api/sessions/{session}/stream"))
        for _ in range(MAX_STREAMS + 4):  # refused before they start: they keep no place
            assert client.get(f"api/sessions/{session}/stream?after_seq=x").status_code == 400
        held = [open_stream() for _ in range(MAX_STREAMS)]
        assert all(response.status_code == 200 for response in held)
        refused = client.get(f"api/sessions/{session}/stream")
        assert refused.status_code == 503 and "live streams are open" in refused.json()["error"]
        assert client.get("api/stats").status_code == 200  # the rest of the server answers
        page = chromium.new_page()  # a page whose stream is refused says so, not "reconnecting" for ever
        page.goto(f"{base}sessions/{session}")
        expect(page.locator("#live")).to_have_text("not live: reload to try again", timeout=10000)
        page.close()
        held[0].close()  # a page closed: the server notices the connection gone and frees its place

        def a_stream_opens():
            with client.stream("GET", f"api/sessions/{session}/stream") as response:
                return response.status_code == 200
        assert wait_until(a_stream_opens)


@pytest.mark.parametrize("resume", [{"params": {"after_seq": str(2**64)}}, {"headers": {"last-event-id": "x1"}}])
def test_a_stream_asked_to_resume_from_nonsense_is_one_400_not_a_broken_stream(url, resume):
    response = get(url, "/api/sessions/ssn_9a8b7c6d5e4f3a21/stream", timeout=10, **resume)
    assert response.status_code == 400 and "after_seq" in response.json()["error"]


def test_a_search_past_the_servers_timeout_is_one_400_and_other_questions_answer(tmp_path):
    root = tmp_path / ".treeship"
    with Store(root) as store:
        store.append_many("ssn_t", [make_event(tool_name=f"Tool{i}") for i in range(2000)])
    with serving(root, "--search-timeout", "0.000001") as base:  # every search is past it at SQLite's first look
        for path in ("api/events?search=tool*", "?search=tool*"):
            response = httpx.get(base + path, timeout=30)
            assert response.status_code == 400 and "the search ran longer than 1e-06 s" in response.text
        assert httpx.get(base + "api/events?session=ssn_t&limit=5").status_code == 200


# -- what nobody may do ---------------------------------------------------------

def test_nothing_changes_anything_and_other_hosts_are_refused(url):
    assert httpx.post(url + "api/events", content=b"{}").status_code == 405
    assert httpx.delete(url + "api/sessions").status_code == 405
    assert get(url, "/", headers={"host": "attacker.example:80"}).status_code == 421
    page = get(url, "/")
    assert page.status_code == 200
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy and "default-src 'none'" in policy


def test_the_server_answers_at_every_address_it_listens_on_and_no_other_name(demo):
    with serving(demo, "--host", "127.0.0.2") as base:  # loopback, but not 127.0.0.1
        assert base.startswith("http://127.0.0.2:")
        assert httpx.get(base + "api/stats").status_code == 200
        assert get(base, "/", headers={"host": "attacker.example:" + base.rsplit(":", 1)[1].strip("/")}).status_code == 421
    token = "s3cret-token-0123456789"
    with serving(demo, "--host", "0.0.0.0", "--token", token) as base:  # every address of the machine
        port = base.rsplit(":", 1)[1].strip("/")
        auth = {"authorization": f"Bearer {token}"}
        addresses = ["127.0.0.1", "localhost", *filter(None, [own_ipv4_address()])]
        for address in addresses:
            assert httpx.get(f"http://{address}:{port}/api/stats", headers=auth).status_code == 200, address
        for foreign in ("attacker.example", "10.255.255.1", f"127.0.0.1:{int(port) + 1}"):
            host = foreign if ":" in foreign else f"{foreign}:{port}"
            assert httpx.get(f"http://127.0.0.1:{port}/api/stats", headers={**auth, "host": host}).status_code == 421


def test_a_token_is_needed_on_every_request_when_set(demo):
    token, other = "s3cret-token-0123456789", "another-token-0123456789"
    with serving(demo, "--token", token) as base, serving(demo, "--token", other) as second:
        assert httpx.get(base + "api/stats").status_code == 401
        assert httpx.get(base + "api/stats", headers={"authorization": "Bearer wrong-token-0123456789"}).status_code == 401
        for scheme in ("Bearer", "bearer", "BEARER"):  # the scheme is case-insensitive (RFC 9110)
            assert httpx.get(base + "api/stats", headers={"authorization": f"{scheme} {token}"}).status_code == 200
        login = httpx.get(base + f"stats?token={token}")
        assert login.status_code == 303 and "token" not in login.headers["location"]
        assert httpx.get(base + "stats", cookies=dict(login.cookies)).status_code == 200
        # Another site of the host may set a cookie http.cookies cannot parse: ours still counts.
        name, value = next(iter(login.cookies.items()))
        assert httpx.get(base + "stats", headers={"cookie": f'prefs={{"a":1}}; {name}={value}'}).status_code == 200
        # A browser sends a host's cookies to every port: two servers on one host keep their own logins.
        with httpx.Client() as browser_jar:
            assert browser_jar.get(base + f"stats?token={token}").status_code == 303
            assert browser_jar.get(second + f"stats?token={other}").status_code == 303
            assert browser_jar.get(base + "stats").status_code == 200
            assert browser_jar.get(second + "stats").status_code == 200


@pytest.mark.parametrize("args, message", [
    (["--host", "0.0.0.0"], "give --token too"),
    (["--token", "short"], "at least 16 characters"),
    (["--token", "€" * 16], "only letters, digits"),  # HTTP headers cannot carry it: every ?token= was a 500
    (["--token", "ünïcode-in-latin-1"], "only letters, digits"),  # a header sends its UTF-8 bytes: never equal
    (["--token", "a+b&c#d-0123456789"], "only letters, digits"),  # a link makes '+' a space, cuts at '&' and '#'
])
def test_serve_refuses_unsafe_options_in_one_line(demo, args, message):
    result = subprocess.run([sys.executable, "-m", "treeship_store", "--root", str(demo), "serve", "--port", "0",
                             *args], capture_output=True, text=True, timeout=20)
    assert result.returncode == 1 and result.stderr.startswith("Error: ") and message in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_serve_says_when_its_port_is_taken(demo, url):
    port = url.rsplit(":", 1)[1].strip("/")
    result = subprocess.run([sys.executable, "-m", "treeship_store", "--root", str(demo), "serve", "--port", port],
                            capture_output=True, text=True, timeout=20)
    assert result.returncode == 1 and result.stderr.startswith(f"Error: cannot listen on 127.0.0.1:{port}")


# -- in the browser ---------------------------------------------------------------

def test_the_sessions_page_lists_the_demo_sessions(url, demo, chromium):
    page = chromium.new_page()
    page.goto(url)
    listed = page.locator("table.sessions tbody tr td:first-child").all_inner_texts()
    assert sorted(listed) == sorted(Store(demo).session_ids())
    page.close()


def test_a_session_page_has_a_lane_per_agent_and_a_mark_per_event(url, demo, chromium):
    session = "ssn_9a8b7c6d5e4f3a21"
    events = Store(demo).read_session(session).events
    page = chromium.new_page()
    page.goto(f"{url}sessions/{session}")
    page.wait_for_selector("#session[data-ready]")
    lanes = dict(page.locator("#timeline text.lane-label").evaluate_all(
        "labels => labels.map(l => [l.dataset.instance, l.dataset.lane])"))
    assert sorted(lanes) == sorted({e["agent_instance_id"] for e in events})
    for instance, lane in lanes.items():
        marks = page.locator(f'#timeline circle.mark[data-lane="{lane}"]').count()
        assert marks == sum(e["agent_instance_id"] == instance for e in events)
    page.focus("#timeline")  # the keyboard walks the events in time order
    page.keyboard.press("ArrowRight")
    assert page.locator("#details pre").inner_text() == events[0].raw.decode()
    page.keyboard.press("ArrowRight")
    assert page.locator("#details pre").inner_text() == events[1].raw.decode()
    page.locator("#timeline circle.mark").last.click(force=True)  # and so does a click
    assert page.locator("#details pre").inner_text() == events[-1].raw.decode()
    page.close()


def test_lines_that_repeat_a_sequence_number_each_get_a_mark(url, demo, chromium):
    # Another tool's lines may repeat a sequence_no; the page shows every event line.
    session = "ssn_repeats"
    (demo / "sessions" / session).mkdir()
    prepared = Store(demo).prepare_batch(session, [make_event(tool_name=f"Again{i}") for i in range(3)])
    (demo / "sessions" / session / "events.jsonl").write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in prepared))
    page = chromium.new_page()
    page.goto(f"{url}sessions/{session}")
    page.wait_for_selector("#session[data-ready]")
    assert page.locator("#timeline circle.mark").count() == 3  # all three say sequence_no 0
    page.wait_for_selector("#live.on")
    foreign_append(demo, session, make_event(tool_name="Again3"), sequence_no=0)  # live too, and once
    expect(page.locator("#timeline circle.mark")).to_have_count(4, timeout=5000)
    assert "Again3" in page.locator("#events tbody").inner_text()
    page.close()


def test_a_page_open_while_its_record_is_restored_shows_the_restored_copy(url, demo, chromium):
    session = "ssn_restored"
    Store(demo).append_many(session, [make_event(tool_name=f"Before{i}") for i in range(4)])
    path = demo / "sessions" / session / "events.jsonl"
    backup = b"".join(path.read_bytes().splitlines(keepends=True)[:2])
    page = chromium.new_page()
    page.goto(f"{url}sessions/{session}")
    page.wait_for_selector("#live.on")
    assert page.locator("#timeline circle.mark").count() == 4
    path.write_bytes(backup)  # a restore of an older copy, while the page is open
    expect(page.locator("#timeline circle.mark")).to_have_count(2, timeout=10000)  # loaded again
    page.wait_for_selector("#live.on")
    assert "Before3" not in page.locator("#events tbody").inner_text()
    page.close()


def test_an_event_appended_by_another_process_appears_live(url, demo, chromium):
    session = "ssn_0c1d2e3f4a5b6c7d"
    page = chromium.new_page()
    page.goto(f"{url}sessions/{session}")
    page.wait_for_selector("#session[data-ready]")
    page.wait_for_selector("#live.on")
    marks = page.locator("#timeline circle.mark").count()
    foreign_append(demo, session, make_event(tool_name="ArrivedLive", timestamp="2026-04-05T10:06:00Z"))
    expect(page.locator("#timeline circle.mark")).to_have_count(marks + 1, timeout=5000)
    assert "ArrivedLive" in page.locator("#events tbody").inner_text()
    page.close()


def test_event_content_is_shown_as_text_and_never_runs(url, chromium):
    page = chromium.new_page()
    for path in ("sessions/ssn_hostile", "files"):
        page.goto(url + path)
        if path.startswith("sessions"):
            page.wait_for_selector("#session[data-ready]")
            page.focus("#timeline")
            page.keyboard.press("ArrowRight")
        assert HOSTILE in page.locator("main").inner_text()
        assert page.evaluate("window.pwned") is None
        assert page.locator("main script, main img").count() == 0
    page.close()


def test_the_search_box_finds_a_command(url, chromium):
    page = chromium.new_page()
    page.goto(url)
    page.fill("header input[name=search]", "release-candidate")
    page.press("header input[name=search]", "Enter")
    page.wait_for_url("**/?search=release-candidate")
    assert page.locator("table.sessions tbody tr td:first-child").all_inner_texts() == ["ssn_hostile"]
    page.close()


def test_a_kept_prompt_is_found_by_the_search_box_and_shown_as_text_on_its_session_page(url, chromium):
    """--with-text keeps prompts as notes: the search finds their session, the
    timeline shows the prompt (as text: it is the user's, never markup)."""
    page = chromium.new_page()
    page.goto(url)
    page.fill("header input[name=search]", "tokenizer")
    page.press("header input[name=search]", "Enter")
    page.wait_for_url("**/?search=tokenizer")
    assert page.locator("table.sessions tbody tr td:first-child").all_inner_texts() == ["ssn_said"]
    page.goto(url + "sessions/ssn_said")
    page.wait_for_selector("#session[data-ready]")
    assert "prompt: please refactor the tokenizer " + HOSTILE in page.locator("#events tbody").inner_text()
    assert page.evaluate("window.pwned") is None and page.locator("main script, main img").count() == 0
    page.close()


def test_the_stats_page_draws_tokens_and_cost_per_day_by_model_as_text_safe_svg(url, demo, chromium):
    """Charts made on the server as SVG (the CSP allows nothing else): a bar
    per day stacked by model, the cost per agent; a model's name from an
    event is shown as text; the unknown price is said, not taken as 0."""
    page = chromium.new_page()
    page.goto(url + "stats?since=2026-04-07T00:00:00Z")
    charts = page.locator("section.charts svg.chart")
    assert charts.count() == 3
    tokens = charts.nth(0)
    assert [t.strip() for t in tokens.locator("text").all_text_contents() if t.startswith(("04-", "claude", "<"))] == \
        ["04-07", "04-08", HOSTILE, "claude-sonnet-4-5"]  # days, then the legend
    assert tokens.locator("rect title").count() == 3  # 04-07: one model; 04-08: two
    section = page.locator("section.charts").inner_text()
    assert f"Unknown price: {HOSTILE} (1 decisions)" in section and "genai-prices" in section
    assert page.evaluate("window.pwned") is None and page.locator("main script, main img").count() == 0
    page.goto(url + "sessions/ssn_cost")
    page.wait_for_selector("#session[data-ready]")
    by_model = page.locator("#cost-by-model tbody tr").all_inner_texts()
    assert any(row.startswith("claude-sonnet-4-5\t2\t3000\t$0.") for row in by_model), by_model
    assert any(row.startswith(HOSTILE) and row.endswith("unknown") for row in by_model), by_model
    page.goto(url)
    assert page.locator("table.sessions th").last.inner_text() == "Cost"
    page.close()
