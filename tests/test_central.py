"""The central PostgreSQL store (issue 14): push exactly once, whoever
pushes and whatever dies, and the same commands against it. A real server
(tests/support/pg_cluster.py), real processes, SIGKILL."""

import importlib
import os
import signal
import subprocess
import sys
import time

import psycopg
import pytest

from treeship_store import Store, StoreError
from treeship_store.central import CentralStore, push

push_module = importlib.import_module("treeship_store.central.push")  # the package's `push` is the function

from support import FAULTY_PYTHON, make_event, wait_until
from support.pg_cluster import PASSWORD


def cli(root, *args, python=(sys.executable,), **options):
    return subprocess.run([*python, "-m", "treeship_store", "--root", str(root), *map(str, args)],
                          capture_output=True, text=True, timeout=120, **options)


def local_lines(*roots) -> dict:
    """(session, line number) -> bytes of every line of these stores' records."""
    found = {}
    for root in roots:
        for directory in sorted((root / "sessions").iterdir()):
            for number, line in enumerate((directory / "events.jsonl").read_bytes().split(b"\n")[:-1]):
                found[(directory.name, number)] = line
    return found


def central_lines(url) -> dict:
    with psycopg.connect(url) as conn:
        try:
            rows = conn.execute("SELECT session_id, line_no, coalesce(convert_to(line, 'UTF8'), damaged) "
                                "FROM lines").fetchall()
        except psycopg.errors.UndefinedTable:
            return {}  # no push has created the schema yet
    found = {(session, number): bytes(line) for session, number, line in rows}
    assert len(found) == len(rows)  # one row per position
    return found


def fill(root, sessions=3, events=40, session_prefix="ssn"):
    with Store(root) as store:
        for s in range(sessions):
            store.append_many(f"{session_prefix}_{s}", [make_event(tool_name=f"T{s}_{i}") for i in range(events)])
    # damage, as another writer leaves it: kept, and pushed as damage
    with open(root / "sessions" / f"{session_prefix}_0" / "events.jsonl", "ab") as log:
        log.write(b'{"half a line\n')



def test_pushing_twice_changes_nothing(root, central_url):
    fill(root)
    first = push(Store(root), central_url)
    assert first.new == first.lines == 3 * 40 + 1 and first.conflicts == 0
    second = push(Store(root), central_url)
    assert second.lines == 0  # the local positions say everything is there
    assert central_lines(central_url) == local_lines(root)
    os.unlink(root / "index.db")  # positions gone with the index: everything is sent again, and is a no-op
    third = push(Store(root), central_url)
    assert third.lines == first.lines and third.new == 0 and third.conflicts == 0
    assert central_lines(central_url) == local_lines(root)
    with CentralStore(central_url) as central:  # the counts too: kept from lines inserted, never twice
        assert central.stats() == Store(root).stats() and central.sessions() == Store(root).sessions()


def test_new_lines_follow_and_damage_arrives_as_damage(root, central_url):
    fill(root)
    push(Store(root), central_url)
    Store(root).append("ssn_1", make_event(tool_name="Later"))
    report = push(Store(root), central_url)
    assert (report.lines, report.new, report.sessions) == (1, 1, 1)
    with CentralStore(central_url) as central:
        assert central.stats()["damaged_lines"] == 1
        assert [e["tool_name"] for e in central.events("ssn_1", newest_first=True, limit=1)] == ["Later"]


def test_a_diverging_copy_is_a_conflict_and_never_overwrites(tmp_path, central_url):
    a, b = tmp_path / "a" / ".treeship", tmp_path / "b" / ".treeship"
    Store(a).append_many("ssn_shared", [make_event(tool_name=f"A{i}") for i in range(5)])
    Store(b).append_many("ssn_shared", [make_event(tool_name=f"B{i}") for i in range(3)])
    push(Store(a), central_url)
    report = push(Store(b), central_url)
    assert report.conflicts == 3 and report.new == 0
    assert central_lines(central_url) == local_lines(a)  # what was there stays
    with CentralStore(central_url) as central:
        assert central.stats() == Store(a).stats()  # and so do its counts
    result = cli(b, "--db", central_url, "verify")
    assert result.returncode == 1
    assert result.stdout.count("conflict: session ssn_shared") == 3 and "3 conflict(s)" in result.stdout


def fill_spread(root):
    """Enough to ship that a push spreads it over more than one connection."""
    with Store(root) as store:
        for s in range(3):
            store.append_many(f"ssn_big{s}", [make_event(tool_name=f"T{s}_{i}") for i in range(5000)])
    assert sum(path.stat().st_size for path in root.glob("sessions/*/events.jsonl")) >= push_module.SPREAD_BYTES


def test_a_large_push_spreads_over_connections_and_lands_exactly_once(root, central_url, monkeypatch):
    fill(root, sessions=2)
    fill_spread(root)
    lanes, send = {}, push_module.Lane.send

    def counted(self, session_id, *args):
        lanes.setdefault(id(self), set()).add(session_id)
        return send(self, session_id, *args)
    monkeypatch.setattr(push_module.Lane, "send", counted)
    report = push(Store(root), central_url)
    assert len(lanes) == push_module.JOBS == 2  # both connections shipped sessions
    assert not set.intersection(*lanes.values())  # each session over one of them
    assert report.sessions == 5 and report.new == report.lines == len(local_lines(root))
    assert central_lines(central_url) == local_lines(root)
    with CentralStore(central_url) as central:
        assert central.stats() == Store(root).stats() and central.sessions() == Store(root).sessions()
        left = central.backend.conn.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                                    "'treeship-store' AND pid <> pg_backend_pid()").fetchone()[0]
    assert left == 0  # the extra connection is closed with the push
    assert push(Store(root), central_url, jobs=1).lines == 0


def test_jobs_must_be_a_sensible_number(root, central_url):
    fill(root, sessions=1)
    result = cli(root, "push", central_url, "--jobs", "0")
    assert result.returncode != 0 and result.stderr.count("\n") == 1 and "jobs" in result.stderr
    assert central_lines(central_url) == {}


@pytest.mark.parametrize("spread", [False, True])
@pytest.mark.parametrize("fault", ["push-copied", "push-committed"])
def test_push_killed_mid_batch_then_run_again(root, central_url, fault, spread):
    fill(root, sessions=4)
    if spread:
        fill_spread(root)  # killed while both connections are busy
    killed = cli(root, "push", central_url, python=FAULTY_PYTHON, env={**os.environ, "TREESHIP_STORE_FAULT": fault})
    assert killed.returncode == -signal.SIGKILL
    again = cli(root, "push", central_url)
    assert again.returncode == 0, again.stderr
    assert "0 conflicts" in again.stdout
    assert central_lines(central_url) == local_lines(root)
    with CentralStore(central_url) as central:
        assert central.stats() == Store(root).stats() and central.sessions() == Store(root).sessions()


@pytest.mark.slow
def test_eight_stores_push_at_once_while_their_writers_append(tmp_path, central_url):
    roots = [tmp_path / f"host{n}" / ".treeship" for n in range(8)]
    for n, root in enumerate(roots):
        fill(root, sessions=2, events=10, session_prefix=f"ssn_h{n}")
    writer = ("import sys; from treeship_store import Store\n"
              "store = Store(sys.argv[1])\n"
              "for i in range(60):\n"
              "    store.append_many(f'{sys.argv[2]}_{i % 3}', [{'type': 'agent.called_tool', 'tool_name': f'W{i}', "
              "'agent_id': 'agent://w', 'agent_instance_id': 'w1', 'agent_name': 'w', 'host_id': sys.argv[2]}] * 3)\n")
    followers = [subprocess.Popen([sys.executable, "-m", "treeship_store", "--root", str(root), "push", "--follow"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  env={**os.environ, "TREESHIP_STORE_DB": central_url})
                 for root in roots]
    writers = [subprocess.Popen([sys.executable, "-c", writer, str(root), f"ssn_h{n}"]) for n, root in enumerate(roots)]
    try:
        assert all(w.wait(120) == 0 for w in writers)
        assert wait_until(lambda: central_lines(central_url) == local_lines(*roots), timeout=60)
    finally:
        for follower in followers:
            follower.send_signal(signal.SIGTERM)
        outputs = [f.communicate(timeout=30) for f in followers]
    assert all(f.returncode == 0 for f in followers), outputs
    assert all("stopped:" in err for _, err in outputs)
    assert central_lines(central_url) == local_lines(*roots)


@pytest.mark.slow
def test_follow_survives_the_server_going_away(root, central_url, pg_cluster):
    fill(root, sessions=1, events=5)
    follower = subprocess.Popen([sys.executable, "-m", "treeship_store", "--root", str(root), "push", "--follow"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env={**os.environ, "TREESHIP_STORE_DB": central_url})
    try:
        assert wait_until(lambda: central_lines(central_url) == local_lines(root))
        pg_cluster.stop()
        try:
            Store(root).append_many("ssn_0", [make_event(tool_name=f"WhileDown{i}") for i in range(5)])
            time.sleep(1.5)  # the follower finds the server gone and backs off
        finally:
            pg_cluster.start()
        Store(root).append("ssn_0", make_event(tool_name="AfterRestart"))
        assert wait_until(lambda: central_lines(central_url) == local_lines(root), timeout=60)
    finally:
        follower.send_signal(signal.SIGTERM)
        out, err = follower.communicate(timeout=30)
    assert follower.returncode == 0, err
    assert "trying again" in err, err
    assert PASSWORD not in out + err


def test_the_same_commands_answer_from_the_central_store(root, central_url):
    fill(root)
    push(Store(root), central_url)
    for args in (["events", "--format", "jsonl"], ["events", "--agent", "claude-code", "--newest-first", "--limit", "7",
                                                   "--format", "jsonl"],
                 ["sessions", "--format", "json"], ["files", "--format", "json"], ["stats", "--format", "json"],
                 ["events", "--count"]):
        local, central = cli(root, *args), cli(root, "--db", central_url, *args)
        assert central.returncode == 0, central.stderr
        assert central.stdout == local.stdout, args  # JSON output is the stored line, byte for byte
    by_host = cli(root, "--db", central_url, "events", "--host", "host_macbook", "--count")
    assert by_host.stdout.strip() == str(3 * 40)
    assert cli(root, "--db", central_url, "events", "--host", "elsewhere", "--count").stdout.strip() == "0"


@pytest.mark.parametrize("make_url, message", [
    (lambda c: c.url(password="wr0ng-pw"), "password authentication failed"),
    (lambda c: "postgresql://postgres:wr0ng-pw@/postgres?host=/nonexistent/socket", "No such file"),
    (lambda c: "postgresql://postgres:wr0ng-pw@[bad", "not a PostgreSQL connection string"),
])
def test_bad_urls_and_refused_logins_are_one_line_with_the_password_masked(root, pg_cluster, make_url, message):
    fill(root, sessions=1, events=1)
    url = make_url(pg_cluster)
    for args in (["push", url], ["--db", url, "events"], ["--db", url, "verify"]):
        result = cli(root, *args)
        assert result.returncode == 1 and result.stderr.startswith("Error: "), (args, result.stderr)
        assert len(result.stderr.splitlines()) == 1 and message in result.stderr, result.stderr
        assert "wr0ng-pw" not in result.stderr + result.stdout


def test_db_is_refused_where_it_means_nothing(root, central_url):
    fill(root, sessions=1, events=1)
    for args in (["append", "ssn_0", "--type", "session.started"], ["reindex"]):
        result = cli(root, "--db", central_url, *args)
        assert result.returncode == 1 and "--db works with" in result.stderr
    result = cli(root, "events", "--host", "h")
    assert result.returncode == 1 and "--host needs a central store" in result.stderr


def test_a_role_with_only_select_and_insert_can_push_and_change_nothing_else(root, central_url):
    fill(root)
    CentralStore(central_url).close()  # the owner creates the schema
    role = "pusher_" + os.urandom(4).hex()  # roles are the cluster's, not the database's
    with psycopg.connect(central_url, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'pusher-pw-123'")
        conn.execute(f"GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA public TO {role}")
        conn.execute(f"GRANT EXECUTE ON FUNCTION treeship_month_partition(date) TO {role}")
    pusher_url = central_url.replace(f"postgres:{PASSWORD}@", f"{role}:pusher-pw-123@")
    report = push(Store(root), pusher_url)
    assert report.new == report.lines > 0
    assert central_lines(central_url) == local_lines(root)
    with psycopg.connect(pusher_url) as conn:
        for statement in ("UPDATE lines SET line = NULL", "DELETE FROM lines", "DROP TABLE conflicts"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
            conn.rollback()


def test_serve_db_shows_the_central_store(tmp_path, central_url):
    from treeship_store.demo import write_demo
    from support.web import browser, serving
    import httpx
    root = tmp_path / ".treeship"
    write_demo(root)
    push(Store(root), central_url)
    local = Store(root)
    with serving(root, db=central_url) as url:
        sessions = httpx.get(url + "api/sessions").json()["sessions"]
        assert [s["session_id"] for s in sessions] == [s["session_id"] for s in local.session_page()]
        assert [s["events"] for s in sessions] == [s["events"] for s in local.session_page()]
        damaged = httpx.get(url + "api/sessions/ssn_0c1d2e3f4a5b6c7d/damaged").json()
        assert [(d["line_no"], d["offset"], d["length"]) for d in damaged] == \
            [(d.line_no, d.offset, d.length) for d in local.damaged_lines("ssn_0c1d2e3f4a5b6c7d")]
        session = "ssn_4f1d2a9b7c3e8d01"
        assert httpx.get(url + f"api/events?session={session}").content == \
            (root / "sessions" / session / "events.jsonl").read_bytes()
        with browser() as chromium:
            page = chromium.new_page()
            page.goto(f"{url}sessions/{session}")
            page.wait_for_selector("#session[data-ready]")
            assert page.locator("#timeline circle.mark").count() == len(local.read_session(session).events)


def test_a_batch_meeting_lines_another_host_just_committed_is_compared_not_lost(tmp_path, central_url,
                                                                               monkeypatch):
    a, b = tmp_path / "a" / ".treeship", tmp_path / "b" / ".treeship"
    Store(a).append_many("ssn_race", [make_event(tool_name=f"A{i}") for i in range(4)])
    Store(b).append_many("ssn_race", [make_event(tool_name=f"B{i}") for i in range(6)])
    push(Store(a), central_url)

    def after_the_check(self, month, session_id, first_line, rows):  # as if A committed between B's check and COPY
        with self.conn.transaction():
            return self._copy(push_module._COPY_LINES, rows), 0
    monkeypatch.setattr(push_module.Lane, "_send_new", after_the_check)
    report = push(Store(b), central_url)
    assert (report.lines, report.new, report.conflicts) == (6, 2, 4)  # lines 4-5 were free; 0-3 differ
    expected = {**local_lines(b), **local_lines(a)}  # A's lines where both have one
    assert central_lines(central_url) == expected
    with CentralStore(central_url) as central:
        assert central.count_events() == 6 and central.verify().conflicts[0]["store_id"] == Store(b).store_id()


def test_a_session_that_is_not_a_regular_file_is_left_out_not_the_whole_push(root, central_url):
    fill(root, sessions=2, events=3)
    for name, make in (("ssm_link", lambda path: path.symlink_to("/etc/passwd")), ("ssm_fifo", os.mkfifo)):
        (root / "sessions" / name).mkdir()
        make(root / "sessions" / name / "events.jsonl")
    result = cli(root, "push", central_url)
    assert result.returncode == 0, result.stderr
    assert "session ssm_link: not pushed" in result.stderr and "session ssm_fifo: not pushed" in result.stderr
    pushed = {session for session, _ in central_lines(central_url)}
    assert pushed == {"ssn_0", "ssn_1"}  # the sessions listed after the bad ones too
    named = cli(root, "push", central_url, "--session", "ssm_link")
    assert named.returncode == 1 and named.stderr.startswith("Error: ") and "symlink" in named.stderr


@pytest.mark.slow
def test_a_reader_answers_again_once_the_server_is_back(root, central_url, pg_cluster):
    fill(root, sessions=1, events=3)
    push(Store(root), central_url)
    with CentralStore(central_url) as central:
        assert central.count_events() == 3
        pg_cluster.stop()
        try:
            with pytest.raises(StoreError, match="central store postgresql://postgres:\\*\\*\\*@"):
                central.count_events()  # one translated error while it is away
        finally:
            pg_cluster.start()
        assert central.count_events() == 3  # and answers again, on a new connection


def test_readers_plan_each_question_for_its_values(root, central_url):
    """Agents' values are skewed (one has half the lines, an id none): a plan
    made once for any value (what PostgreSQL may use for a statement psycopg
    prepared after five runs) scans every line for an absent one."""
    fill(root, sessions=1, events=3)
    push(Store(root), central_url)
    with CentralStore(central_url) as central:
        for _ in range(8):  # past psycopg's prepare threshold
            assert list(central.events(agent="nobody", limit=1)) == []
        assert central.backend.conn.execute("SHOW plan_cache_mode").fetchone()[0] == "force_custom_plan"


@pytest.mark.parametrize("zone", ["America/New_York", "Pacific/Kiritimati"])
def test_times_of_every_year_answer_whatever_the_servers_time_zone(root, central_url, zone):
    """Year 1 is year 0 west of UTC, 9999-12-31 is year 10000 east of it:
    neither is a Python datetime, so a reader in the server's zone failed
    for the whole store. Times are asked in UTC."""
    with Store(root) as store:
        store.append_many("ssn_old", [make_event("agent.wrote_file", timestamp="0001-01-01T00:00:00Z"),
                                      make_event(timestamp="2026-04-05T08:00:00Z")])
        store.append_many("ssn_far", [make_event("agent.wrote_file", file_path="far.py",
                                                 timestamp="9999-12-31T23:59:59.999999Z")])
    with psycopg.connect(central_url, autocommit=True) as conn:
        conn.execute(f"ALTER DATABASE {psycopg.sql.Identifier(conn.info.dbname).as_string(conn)} "
                     f"SET TimeZone = '{zone}'")
    push(Store(root), central_url)
    for args in (["sessions", "--format", "json"], ["files", "--format", "json"], ["stats", "--format", "json"],
                 ["events", "--since", "0001-01-01T00:00:00Z", "--format", "jsonl"]):
        local, central = cli(root, *args), cli(root, "--db", central_url, *args)
        assert central.returncode == 0, central.stderr
        assert central.stdout == local.stdout, args
    with CentralStore(central_url) as central:
        assert central.session_page() == Store(root).session_page()


@pytest.mark.parametrize("credentials", ["team:Sup3r@Secr3t-t4il", "team:Sup3r/Secr3t@t4il",
                                         "team:Sup3r?x@Secr3t@t4il"])
def test_a_password_with_a_raw_at_or_slash_is_never_shown_in_part(root, credentials):
    """libpq reads a URL's user name and password up to its first '@' or
    '/': the rest of such a password became the host, port or database, and
    messages showed it ("team:***@Secr3t-t4il@"), push --follow in every
    warning. It is refused before anything is sent, and shown as ***."""
    fill(root, sessions=1, events=1)
    url = f"postgresql://{credentials}@127.0.0.1:1/treeship"
    runs = [cli(root, "push", url), cli(root, "--db", url, "events")]
    follower = subprocess.Popen([sys.executable, "-m", "treeship_store", "--root", str(root), "push", "--follow"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env={**os.environ, "TREESHIP_STORE_DB": url})
    try:
        follower.wait(30)
    except subprocess.TimeoutExpired:
        follower.kill()  # still retrying: what it printed meanwhile is checked below
    runs.append(subprocess.CompletedProcess(follower.args, follower.wait(), *follower.communicate()))
    for result in runs:
        assert result.returncode == 1 and result.stderr.startswith("Error: "), result.stderr
        assert len(result.stderr.splitlines()) == 1 and "percent-encode" in result.stderr, result.stderr
        assert not any(piece in result.stdout + result.stderr for piece in ("Sup3r", "Secr3t", "t4il"))


def test_follow_refuses_a_password_on_the_command_line(root, central_url):
    """push --follow runs for days, and its command line is readable by every
    user of the machine (ps): the password goes in $TREESHIP_STORE_DB, a
    passfile or $PGPASSWORD instead."""
    fill(root, sessions=1, events=2)
    for args in (["push", central_url, "--follow"], ["--db", central_url, "push", "--follow"]):
        follower = subprocess.Popen([sys.executable, "-m", "treeship_store", "--root", str(root), *args],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            out, err = follower.communicate(timeout=30)
        finally:
            follower.kill()
        assert follower.returncode == 1 and err.startswith("Error: ") and len(err.splitlines()) == 1, err
        assert "TREESHIP_STORE_DB" in err and PASSWORD not in out + err
    assert central_lines(central_url) == {}  # nothing was pushed
    follower = subprocess.Popen([sys.executable, "-m", "treeship_store", "--root", str(root), "push", "--follow"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env={**os.environ, "TREESHIP_STORE_DB": central_url})
    try:
        assert wait_until(lambda: central_lines(central_url) == local_lines(root))
    finally:
        follower.send_signal(signal.SIGTERM)
        out, err = follower.communicate(timeout=30)
    assert follower.returncode == 0 and PASSWORD not in out + err, err


def test_follow_stops_at_a_refusal_that_waiting_will_not_change(root, central_url):
    """A read-only role: its permission error will be the same next time, so
    push --follow says so in one line and exits, where it retried it for ever."""
    fill(root, sessions=1, events=2)
    CentralStore(central_url).close()  # the owner creates the schema
    role = "reader_" + os.urandom(4).hex()
    with psycopg.connect(central_url, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'reader-pw-123'")
        conn.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
    reader_url = central_url.replace(f"postgres:{PASSWORD}@", f"{role}:reader-pw-123@")
    follower = subprocess.Popen([sys.executable, "-m", "treeship_store", "--root", str(root), "push", "--follow"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env={**os.environ, "TREESHIP_STORE_DB": reader_url})
    try:
        out, err = follower.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        follower.kill()
        out, err = follower.communicate()
    assert follower.returncode == 1, err
    assert err.startswith("Error: ") and len(err.splitlines()) == 1 and "permission denied" in err, err
    assert "reader-pw-123" not in out + err and central_lines(central_url) == {}
