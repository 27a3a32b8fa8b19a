"""`treeship-store prune` (issue 26): whole sessions out, locally and
centrally; safe with writers appending meanwhile and against SIGKILL at each
step; archives that restore byte for byte."""

import json
import os
import shutil
import subprocess
import sys
import tarfile

import pytest

from support import FAULTY_PYTHON, index_contents, make_event
from treeship_store import Store

OLD = [f"ssn_old{n}" for n in range(6)]


def fill(root, old=OLD, new=("ssn_new",)):
    """Sessions last active in 2025 (old), and one active now."""
    with Store(root) as store:
        for n, session in enumerate(old):
            store.append_many(session, [make_event("agent.wrote_file", file_path=f"f{n}.py",
                                                   timestamp=f"2025-0{1 + n % 6}-0{1 + i}T10:00:00Z")
                                        for i in range(3)])
        for session in new:
            store.append(session, make_event())


def run(*args, root, python=(sys.executable,), env=None):
    return subprocess.run([*python, "-m", "treeship_store", "--root", str(root), *args], capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, timeout=120)


def records(root):
    """{session: its events.jsonl} of the sessions the store has (a hidden
    .pruned- tree left by a killed prune is not one)."""
    return {path.parent.name: path.read_bytes() for path in (root / "sessions").glob("*/events.jsonl")
            if not path.parent.name.startswith(".")}


def rebuilt(root, tmp_path):
    """The index a full rebuild of a copy of the store gives."""
    copy = tmp_path / "rebuilt" / ".treeship"
    shutil.copytree(root / "sessions", copy / "sessions")
    with Store(copy) as store:
        store.reindex(full=True)
    return index_contents(copy)


def test_prune_removes_whole_old_sessions_and_what_the_index_and_sinks_hold_of_them(root, tmp_path):
    fill(root)
    with Store(root) as store:
        store.save_push_position("central-1", "ssn_old0", __import__("treeship_store.positions").positions.Position(
            10, 1, 1, 1))
    (root / "otlp-positions.json").write_text(json.dumps({"collector": {"ssn_old1": [1, 1, 1, 1],
                                                                        "ssn_new": [2, 2, 2, 2]}}))
    before = records(root)
    dry = run("prune", "--older-than", "30d", "--dry-run", "--format", "json", root=root)
    assert dry.returncode == 0 and sorted(s["session_id"] for s in json.loads(dry.stdout)["older"]) == OLD
    assert records(root) == before  # a dry run changes nothing
    result = run("prune", "--older-than", "30d", "--archive", str(tmp_path / "archive"), root=root)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"pruned {len(OLD)} session(s)")
    assert records(root) == {"ssn_new": before["ssn_new"]}
    assert not [name for name in os.listdir(root / "sessions") if name.startswith(".")]  # no leftovers
    with Store(root) as store:
        assert [s["session_id"] for s in store.sessions()] == ["ssn_new"] and store.verify().ok
        assert store.push_positions("central-1") == {}
        assert store.count_events(type="agent.wrote_file") == 0
    assert json.loads((root / "otlp-positions.json").read_text()) == {"collector": {"ssn_new": [2, 2, 2, 2]}}
    assert index_contents(root)["events"] == rebuilt(root, tmp_path)["events"]
    # The archives: read by standard tools, and `import treeship` brings them back byte for byte.
    with tarfile.open(tmp_path / "archive" / "ssn_old0.tar.gz") as tar:
        assert tar.extractfile("ssn_old0/events.jsonl").read() == before["ssn_old0"]
    assert oct((tmp_path / "archive" / "ssn_old0.tar.gz").stat().st_mode & 0o777) == "0o600"
    back = run("import", "treeship", "--path", str(tmp_path / "archive"), root=root)
    assert back.returncode == 0 and back.stdout.startswith(f"restored {len(OLD)} session(s)"), back.stderr
    assert records(root) == before
    with Store(root) as store:
        assert store.count_events(type="agent.wrote_file") == 3 * len(OLD) and store.verify().ok


WRITER = """
import sys, time
from treeship_store import Store
root, sessions, log = sys.argv[1], sys.argv[2].split(","), open(sys.argv[3], "a")
with Store(root) as store:
    for n in range(60):
        for session in sessions:
            event = store.append(session, {"type": "agent.called_tool", "tool_name": "Read",
                                           "agent_id": "agent://w", "agent_instance_id": "w1",
                                           "agent_name": "w", "host_id": "h"})
            log.write(event["event_id"] + "\\n")
            log.flush()
"""


def test_a_writer_appending_during_a_prune_loses_nothing(root, tmp_path):
    """Real processes: a writer appends to old sessions while they are pruned.
    Each of its events is in the store afterwards: in a session the prune
    kept (appended before its lock) or in the session started again."""
    old = [f"ssn_old{n}" for n in range(120)]
    fill(root, old)
    written = tmp_path / "written"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(root), ",".join(old[::7]), str(written)])
    pruned = run("prune", "--older-than", "30d", "--format", "json", root=root)
    assert writer.wait(timeout=120) == 0 and pruned.returncode == 0, pruned.stderr
    report = json.loads(pruned.stdout)
    assert report["pruned"] and set(report["pruned"]) | {k["session_id"] for k in report["kept"]} <= set(old)
    with Store(root) as store:
        stored = {e["event_id"] for e in store.events(agent="agent://w")}
        assert store.verify().ok
    assert set(written.read_text().split()) <= stored and len(stored) == 60 * len(old[::7])
    assert index_contents(root)["events"] == rebuilt(root, tmp_path)["events"]


@pytest.mark.parametrize("fault", ["prune-archived", "prune-forgotten", "prune-renamed"])
def test_a_prune_killed_at_each_step_leaves_each_session_whole_or_gone(root, tmp_path, fault):
    fill(root)
    before = records(root)
    killed = run("prune", "--older-than", "30d", "--archive", str(tmp_path / "archive"), root=root,
                 python=FAULTY_PYTHON, env={"TREESHIP_STORE_FAULT": fault})
    assert killed.returncode == -9, killed.stderr
    after = records(root)
    assert all(after[session] == before[session] for session in after) and "ssn_new" in after
    with Store(root) as store:
        listed = {s["session_id"] for s in store.sessions()}  # a query catches the index up
        assert listed == set(after) and store.verify().ok
        assert store.count_events(type="agent.wrote_file") == 3 * len(set(after) & set(OLD))
    assert index_contents(root)["events"] == rebuilt(root, tmp_path)["events"]
    again = run("prune", "--older-than", "30d", "--archive", str(tmp_path / "archive"), root=root)
    assert again.returncode == 0 and records(root) == {"ssn_new": before["ssn_new"]}
    assert sorted(p.name for p in (tmp_path / "archive").iterdir()) == sorted(f"{s}.tar.gz" for s in OLD)


def test_a_full_disk_while_archiving_removes_nothing(root, tmp_path):
    fill(root)
    before = records(root)
    result = run("prune", "--older-than", "30d", "--archive", str(tmp_path / "archive"), root=root,
                 python=FAULTY_PYTHON, env={"TREESHIP_STORE_FAULT": "archive-enospc"})
    assert result.returncode == 1 and result.stderr.startswith("Error: cannot archive session ssn_old0")
    assert "No space left on device" in result.stderr and result.stderr.count("\n") == 1
    assert records(root) == before and list((tmp_path / "archive").iterdir()) == []  # no part left either


def test_bad_ages_and_archives_are_one_line(root, tmp_path):
    fill(root)
    for args, message in ((["--older-than", "soon"], "not a time"), (["--older-than", "-5d"], "not a time")):
        result = run("prune", *args, root=root)
        assert result.returncode == 1 and result.stderr.startswith("Error: ") and message in result.stderr
    (tmp_path / "junk.tar.gz").write_bytes(b"not gzip")
    result = run("import", "treeship", "--path", str(tmp_path / "junk.tar.gz"), root=root)
    assert result.returncode == 1 and "not a session archive" in result.stderr


def test_the_central_store_drops_whole_months_and_old_rows_and_a_host_does_not_bring_them_back(
        root, tmp_path, central_url):
    from treeship_store.central import CentralStore, push
    old_month = [f"ssn_jan{n}" for n in range(3)]
    with Store(root) as store:
        for session in old_month:  # January 2025: the whole partition goes
            store.append_many(session, [make_event(timestamp="2025-01-05T10:00:00Z")] * 2)
        store.append("ssn_mar_old", make_event(timestamp="2025-03-02T10:00:00Z"))  # March: a row delete
        store.append("ssn_mar_new", make_event(timestamp="2025-03-03T10:00:00Z"))
        store.append("ssn_mar_new", make_event())  # ... beside a session still active
        push(store, central_url)
    result = subprocess.run([sys.executable, "-m", "treeship_store", "--db", central_url, "prune", "--older-than",
                             "30d", "--format", "json"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert sorted(report["pruned"]) == sorted([*old_month, "ssn_mar_old"]) and report["partitions"] == [
        "lines_2025_01"]
    with CentralStore(central_url) as central:
        assert [s["session_id"] for s in central.sessions()] == ["ssn_mar_new"]
        assert central.count_events() == 2 and central.stats()["events"] == 2  # counts equal the lines kept
        tables = {name for name, in central.backend.conn.execute(
            "SELECT tablename FROM pg_tables WHERE tablename LIKE 'lines_%'")}
        assert "lines_2025_01" not in tables and "lines_2025_03" in tables
    with Store(root) as store:  # the host still has them, and appends to one
        store.append("ssn_jan0", make_event())
        again = push(store, central_url)
    assert again.pruned == 1 and again.lines == 0
    with CentralStore(central_url) as central:
        assert [s["session_id"] for s in central.sessions()] == ["ssn_mar_new"]


def test_a_stores_policy_runs_by_itself_at_most_once_a_day(root, tmp_path):
    """retention.toml: the web server (a real process) prunes by it on its
    own; run again within the day it does nothing, after a day it prunes."""
    from support import wait_until
    from support.web import serving
    from treeship_store.retention import run_policy
    fill(root)
    (root / "retention.toml").write_text(f'older_than = "30d"\narchive = "{tmp_path / "archive"}"\n')
    with serving(root):
        assert wait_until(lambda: set(records(root)) == {"ssn_new"})
    assert sorted(p.name for p in (tmp_path / "archive").iterdir()) == sorted(f"{s}.tar.gz" for s in OLD)
    fill(root, ["ssn_later"], new=())
    with Store(root) as store:
        assert run_policy(store) is None  # ran within the day: not again
        os.utime(root / "retention.last", (0, 0))
        assert run_policy(store).pruned == ["ssn_later"]
    (root / "retention.toml").write_text('older_than = 30\n')
    with Store(root) as store:
        with pytest.raises(Exception, match="retention.toml: give older_than"):
            run_policy(store)


def test_two_prunes_at_once_prune_each_session_once_and_leave_no_empty_session(root):
    fill(root, [f"ssn_old{n}" for n in range(150)])
    prunes = [subprocess.Popen([sys.executable, "-m", "treeship_store", "--root", str(root), "prune", "--older-than",
                                "30d", "--format", "json"], stdout=subprocess.PIPE, text=True) for _ in range(2)]
    pruned = [json.loads(p.communicate(timeout=120)[0])["pruned"] for p in prunes]
    assert sorted(pruned[0] + pruned[1]) == sorted(f"ssn_old{n}" for n in range(150))  # each by one of them
    assert sorted(os.listdir(root / "sessions")) == ["ssn_new"]
    with Store(root) as store:
        assert store.verify().ok and [s["session_id"] for s in store.sessions()] == ["ssn_new"]


def test_an_archive_is_never_written_where_a_prune_removes_it_nor_through_a_planted_link(root, tmp_path):
    fill(root)
    before = records(root)
    inside = run("prune", "--older-than", "1y", "--archive", str(root / "sessions" / "ssn_old0"), root=root)
    assert inside.returncode == 1 and "inside the store" in inside.stderr and records(root) == before
    (tmp_path / "archive").mkdir()
    victim = tmp_path / "victim"
    victim.write_text("precious")
    (tmp_path / "archive" / "ssn_old0.tar.gz.part").symlink_to(victim)
    assert run("prune", "--older-than", "1y", "--archive", str(tmp_path / "archive"), root=root).returncode == 0
    assert victim.read_text() == "precious" and not (tmp_path / "archive" / "ssn_old0.tar.gz").is_symlink()
    with tarfile.open(tmp_path / "archive" / "ssn_old0.tar.gz") as tar:
        assert tar.extractfile("ssn_old0/events.jsonl").read() == before["ssn_old0"]


def test_bad_archives_cost_only_themselves_when_restoring(root, tmp_path):
    fill(root)
    before = records(root)
    assert run("prune", "--older-than", "1y", "--archive", str(tmp_path / "archive"), root=root).returncode == 0
    good = (tmp_path / "archive" / "ssn_old1.tar.gz").read_bytes()
    (tmp_path / "archive" / "a_cut.tar.gz").write_bytes(good[:30])  # a gzip cut short
    os.mkfifo(tmp_path / "archive" / "b_fifo.tar.gz")
    with tarfile.open(tmp_path / "archive" / "c_torn.tar.gz", "w:gz") as tar:  # a record without a newline
        info = tarfile.TarInfo("ssn_torn/events.jsonl")
        info.size = 5
        tar.addfile(info, __import__("io").BytesIO(b'{"a":'))
    result = run("import", "treeship", "--path", str(tmp_path / "archive"), root=root)
    assert result.returncode == 1 and result.stdout.startswith(f"restored {len(OLD)} session(s) from 9 archive")
    assert "a_cut.tar.gz: not a session archive" in result.stderr and "b_fifo.tar.gz: not a session archive" in \
        result.stderr and "c_torn.tar.gz: its events.jsonl holds no complete line" in result.stderr
    assert "Traceback" not in result.stderr and records(root) == before  # no empty ssn_torn either


def test_a_policys_relative_archive_is_the_stores_and_its_file_must_be_readable(root, tmp_path):
    from treeship_store.retention import policy
    fill(root)
    (root / "retention.toml").write_text('older_than = "1y"\narchive = "kept"\n')
    assert policy(root)["archive"] == str(root / "kept")
    for content in (b'older_than = "1y"\narchive = ""\n', b"\xff\xfe\n"):
        (root / "retention.toml").write_bytes(content)
        with pytest.raises(Exception, match="retention.toml"):
            policy(root)
    (root / "retention.toml").unlink()
    os.mkfifo(root / "retention.toml")
    with pytest.raises(Exception, match="not a regular file"):
        policy(root)
