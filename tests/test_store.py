"""Store: append and query in-process, the index kept current and rebuildable."""

import json
import os
import sqlite3

import orjson
import pytest

from treeship_store import (IndexTooNew, SessionIdError, Store, StoreError, StoreNotFound, ValidationError)
from treeship_store.event import prepare, serialise

from support import AGENT, SESSION, index_contents, make_event


def events_file(root, session=SESSION):
    return root / "sessions" / session / "events.jsonl"


def raw_treeship_line(session, seq, event_type="agent.called_tool", **fields):
    """A line as Treeship's own CLI would append it (not through our Store)."""
    event = prepare(make_event(event_type, **fields), session)
    event["sequence_no"] = seq
    return orjson.dumps(event) + b"\n"


def test_append_assigns_positions_and_returns_the_stored_line(store, root):
    first = store.append(SESSION, make_event(sequence_no=99))  # the caller's sequence_no is ignored
    second, third = store.append_many(SESSION, [make_event(), make_event("agent.wrote_file")])
    assert [first["sequence_no"], second["sequence_no"], third["sequence_no"]] == [0, 1, 2]
    assert events_file(root).read_bytes() == first.raw + b"\n" + second.raw + b"\n" + third.raw + b"\n"
    assert orjson.loads(third.raw) == third


def test_append_many_writes_nothing_if_one_event_is_bad(store, root):
    store.append(SESSION, make_event())
    before = events_file(root).read_bytes()
    with pytest.raises(ValidationError, match="event 2: field 'port'"):
        store.append_many(SESSION, [make_event(), make_event(), {**AGENT, "type": "agent.opened_port", "port": -1}])
    assert events_file(root).read_bytes() == before
    assert [e["sequence_no"] for e in store.events(SESSION)] == [0]


def test_filters_combine_with_and(store):
    store.append_many("ssn_a", [
        make_event("agent.wrote_file", file_path="a.py", timestamp="2026-04-05T08:00:00Z"),
        make_event("agent.read_file", timestamp="2026-04-05T08:01:00Z"),
        make_event("agent.wrote_file", file_path="b.py", agent_name="codex", agent_id="agent://codex",
                   agent_instance_id="ai_cx_1", timestamp="2026-04-05T08:02:00Z"),
    ])
    store.append("ssn_b", make_event("agent.wrote_file", file_path="c.py", timestamp="2026-04-05T09:00:00Z"))

    def paths(**filters):
        return [e.get("file_path") for e in store.events(**filters)]
    assert paths(type="agent.wrote_file") == ["a.py", "b.py", "c.py"]
    assert paths(type="agent.wrote_file", agent="claude-code") == ["a.py", "c.py"]
    assert paths(agent="agent://codex") == ["b.py"]
    assert paths(agent="ai_cx_1") == ["b.py"]
    assert paths(agent=["ai_cx_1", "claude-code"], type="agent.wrote_file", newest_first=True) == \
        ["c.py", "b.py", "a.py"]
    assert paths(type=["agent.read_file", "agent.wrote_file"], session="ssn_a", after_seq=0) == ["README.md", "b.py"]
    assert paths(since="2026-04-05T08:01:00Z", until="2026-04-05T09:00:00Z") == ["README.md", "b.py"]
    assert paths(type="agent.wrote_file", limit=1, newest_first=True) == ["c.py"]
    assert paths(agent="nobody") == []
    assert paths(session="ssn_missing") == []


def test_failed_selects_the_processes_stats_counts_as_failed(store, root):
    store.append_many(SESSION, [make_event("agent.completed_process", exit_code=code)
                                for code in (0, 2, None, -9)] + [make_event("agent.failed", reason="x")])
    store.append("ssn_b", make_event("agent.completed_process", exit_code=1))
    with open(events_file(root), "ab") as file:  # hand-edited lines: not integer exit codes
        for seq, code in ((5, "1"), (6, True), (7, 1.5), (8, 2**70)):
            line = raw_treeship_line(SESSION, seq, "agent.completed_process").rstrip(b"}\n")
            file.write(line + b',"exit_code":' + json.dumps(code).encode() + b"}\n")
    failed = [(e["session_id"], e["exit_code"]) for e in store.events(failed=True)]
    assert sorted(failed) == [(SESSION, -9), (SESSION, 2), ("ssn_b", 1)]
    assert store.stats()["failed_processes"] == 3 and store.stats(SESSION)["failed_processes"] == 2
    assert [e["exit_code"] for e in store.events(SESSION, failed=True, newest_first=True)] == [-9, 2]
    assert list(store.events(type="agent.read_file", failed=True)) == []


def test_count_events_counts_what_events_returns_without_reading_the_jsonl(store, root):
    store.append_many(SESSION, [make_event("agent.completed_process", exit_code=code) for code in (0, 1, 2)]
                      + [make_event("agent.wrote_file", file_path="a.py")])
    store.append("ssn_b", make_event("agent.wrote_file", file_path="b.py"))
    with open(events_file(root), "ab") as file:  # behind the index: counting must catch up first
        file.write(raw_treeship_line(SESSION, 4, "agent.wrote_file", file_path="late.py"))
    for filters in [{}, dict(session=SESSION), dict(type="agent.wrote_file"), dict(failed=True),
                    dict(type="agent.wrote_file", limit=2), dict(session=[SESSION, "ssn_b"], after_seq=2),
                    dict(agent="nobody"), dict(session="ssn_missing"), dict(agent="claude-code", limit=4),
                    dict(agent="claude-code", since="2000-01-01T00:00:00Z")]:
        assert store.count_events(**filters) == len(list(store.events(**filters))), filters
    assert store.count_events(type="agent.wrote_file") == 3
    first, rest = events_file(root).read_bytes().split(b"\n", 1)
    events_file(root).write_bytes(b"x" * len(first) + b"\n" + rest)  # reading it now fails; counting never reads
    with pytest.raises(StoreError, match="changed under the index"):
        list(store.events(SESSION))
    assert store.count_events(SESSION) == 5


def test_files_summarises_the_paths_written_or_read(store, root):
    def wrote(path, when, **agent):
        return make_event("agent.wrote_file", file_path=path, timestamp=when, **agent)
    store.append_many(SESSION, [wrote("a.py", "2026-04-05T08:00:00Z"), wrote("b.py", "2026-04-05T08:01:00Z"),
                                wrote("a.py", "2026-04-05T08:02:00Z", agent_name="codex"),
                                make_event("agent.read_file", file_path="README.md")])
    store.append("ssn_b", wrote("a.py", "2026-04-05T09:00:00Z"))
    line = raw_treeship_line(SESSION, 4, "agent.wrote_file", file_path="c.py").replace(b'"timestamp":"',
                                                                                      b'"timestamp":"not ')
    with open(events_file(root), "ab") as file:  # behind the index, and with a time the index cannot hold
        file.write(line)
    files = store.files()
    assert files == [
        {"file_path": "a.py", "events": 3, "agents": ["claude-code", "codex"], "first": "2026-04-05T08:00:00Z",
         "last": "2026-04-05T09:00:00Z"},
        {"file_path": "b.py", "events": 1, "agents": ["claude-code"], "first": "2026-04-05T08:01:00Z",
         "last": "2026-04-05T08:01:00Z"},
        {"file_path": "c.py", "events": 1, "agents": ["claude-code"], "first": None, "last": None}]
    assert len(files) == store.stats()["files_written"]
    assert [f["file_path"] for f in store.files(agent="codex")] == ["a.py"]
    assert [(f["file_path"], f["events"]) for f in store.files("ssn_b")] == [("a.py", 1)]
    assert [f["file_path"] for f in store.files(since="2026-04-05T08:01:00Z", until="2026-04-05T09:00:00Z")] == \
        ["a.py", "b.py"]
    assert [f["file_path"] for f in store.files(read=True)] == ["README.md"]


def test_an_agents_newest_events_come_in_time_order_across_types_and_sessions(store):
    def event(i, event_type, agent_name):
        return make_event(event_type, agent_name=agent_name, timestamp=f"2026-04-05T08:{i // 60:02}:{i % 60:02}Z")
    types = ["agent.called_tool", "agent.wrote_file", "agent.read_file", "agent.decision"]
    for session in ("ssn_a", "ssn_b", "ssn_c"):
        store.append_many(session, [event(i, types[(i * 7 + len(session)) % 4], ["kimi", "codex"][i % 3 == 0])
                                    for i in range(ord(session[-1]) % 3, 180, 3)])
    everything = sorted(store.events(agent="kimi"), key=lambda e: e["timestamp"])
    assert len(everything) > 100 and len({e["type"] for e in everything}) == 4
    for limit in (0, 1, 7, 50, 1000):
        newest = [e["event_id"] for e in store.events(agent="kimi", newest_first=True, limit=limit)]
        assert newest == [e["event_id"] for e in reversed(everything)][:limit]
        oldest = [e["event_id"] for e in store.events(agent="kimi", limit=limit)]
        assert oldest == [e["event_id"] for e in everything][:limit]
    window = dict(since="2026-04-05T08:01:00Z", until="2026-04-05T08:02:00Z")
    assert [e["timestamp"] for e in store.events(agent="kimi", limit=5, **window)] == \
        [e["timestamp"] for e in everything if "08:01:" in e["timestamp"]][:5]
    # Equal times: ties break by session, then line, as with a type filter (the plain plan).
    store.append_many("ssn_d", [event(0, t, "kimi") for t in types * 3])
    for newest_first in (False, True):
        ids = [[e["event_id"] for e in store.events(agent="kimi", type=filter_types, newest_first=newest_first,
                                                     limit=20)] for filter_types in (None, types)]
        assert ids[0] == ids[1]


def test_query_filters_are_plain_values_not_sql(store):
    store.append(SESSION, make_event())
    for hostile in ["' OR 1=1 --", "%", "_", "claude%", "\x00", "\n"]:
        assert list(store.events(agent=hostile)) == []
        with pytest.raises(ValidationError, match="unknown event type"):
            store.events(type=hostile)
    store.append(SESSION, make_event("' OR 1=1 --"), allow_unknown=True)  # now the store knows that type
    assert [e["type"] for e in store.events(type="' OR 1=1 --")] == ["' OR 1=1 --"]


def test_bad_query_arguments_are_validation_errors(store):
    store.append(SESSION, make_event())
    for bad in [dict(since="last tuesday"), dict(limit=-1), dict(limit="5"), dict(after_seq=1.5), dict(failed="no"),
                dict(type=[]), dict(type="agent.wrote_files"), dict(session="../x")]:
        with pytest.raises(ValidationError):
            store.events(**bad)


def test_reads_of_a_missing_store_say_so(tmp_path):
    store = Store(tmp_path / "nowhere")
    for read in (store.sessions, store.stats, store.verify, lambda: store.events()):
        with pytest.raises(StoreNotFound, match="no treeship store"):
            read()
    assert not (tmp_path / "nowhere").exists()


def test_reopen_sees_everything_and_continues_numbering(root):
    with Store(root) as store:
        store.append_many(SESSION, [make_event()] * 3)
    with Store(root) as store:
        assert store.append(SESSION, make_event())["sequence_no"] == 3
        assert [e["sequence_no"] for e in store.events(SESSION)] == [0, 1, 2, 3]


def test_line_appended_behind_the_index_is_found_by_the_next_query(store, root):
    store.append(SESSION, make_event())
    with open(events_file(root), "ab") as file:  # Treeship's own CLI, or a crash before our index commit
        file.write(raw_treeship_line(SESSION, 1, "agent.wrote_file", file_path="late.py"))
    assert [e.get("file_path") for e in store.events(type="agent.wrote_file")] == ["late.py"]
    assert store.append(SESSION, make_event())["sequence_no"] == 2


def test_new_session_written_by_treeship_is_indexed_by_the_next_query(store, root):
    store.append(SESSION, make_event())
    directory = root / "sessions" / "ssn_from_treeship"
    directory.mkdir()
    (directory / "events.jsonl").write_bytes(raw_treeship_line("ssn_from_treeship", 0))
    assert {s["session_id"] for s in store.sessions()} == {SESSION, "ssn_from_treeship"}


def test_sessions_and_events_another_store_indexed_are_seen(store, root):
    # The other Store updates index.db itself, so only the index tells this one.
    store.append(SESSION, make_event())
    assert len(list(store.events())) == 1
    with Store(root) as other:
        other.append("ssn_other", make_event())
        other.append(SESSION, make_event())
    assert sorted(e["session_id"] for e in store.events()) == sorted([SESSION, SESSION, "ssn_other"])
    assert store.counts()["events"] == 3


def test_torn_tail_is_sealed_not_truncated(store, root):
    store.append(SESSION, make_event())
    torn = raw_treeship_line(SESSION, 1)[:57]  # a writer died mid-line
    with open(events_file(root), "ab") as file:
        file.write(torn)
    before = events_file(root).read_bytes()
    # A reader never treats the line still being written as damage.
    assert store.stats()["damaged_lines"] == 0
    event = store.append(SESSION, make_event())
    assert event["sequence_no"] == 2  # the sealed line keeps position 1
    assert events_file(root).read_bytes() == before + b"\n" + event.raw + b"\n"
    contents = store.read_session(SESSION)
    assert [d.offset for d in contents.damaged] == [len(before) - len(torn)]
    assert [e["sequence_no"] for e in contents.events] == [0, 2]
    assert store.stats()["damaged_lines"] == 1


def test_damaged_lines_are_counted_and_good_events_stay_queryable(store, root):
    store.append(SESSION, make_event())
    with open(events_file(root), "ab") as file:
        file.write(b"garbage\n" + b'{"a":"\xff\xfe"}\n' + b"[]\n")
        file.write(raw_treeship_line(SESSION, 4, "agent.wrote_file", file_path="ok.py"))
    assert store.append(SESSION, make_event())["sequence_no"] == 5
    assert [e["sequence_no"] for e in store.events(SESSION)] == [0, 4, 5]
    assert store.stats()["damaged_lines"] == 3
    assert [s["damaged_lines"] for s in store.sessions()] == [3]
    report = store.verify()
    assert [(d.line_no, d.reason.split(" ")[0]) for d in report.damaged] == [(1, "not"), (2, "not"), (3, "not")]
    assert not report.ok
    assert len(store.read_session(SESSION).damaged) == 3


def test_unknown_types_and_fields_are_indexed_and_returned(store, root):
    store.append(SESSION, make_event())
    line = raw_treeship_line(SESSION, 1)[:-2] + b',"future_field":1}\n'
    with open(events_file(root), "ab") as file:
        file.write(line + line.replace(b'"agent.called_tool"', b'"agent.dreamed"').replace(b'"sequence_no":1',
                                                                                           b'"sequence_no":2'))
    # A type only the store knows is a filter like any other, once indexed.
    assert [e["type"] for e in store.events(type=["agent.dreamed", "agent.read_file"])] == ["agent.dreamed"]
    assert [e["future_field"] for e in store.events(SESSION, after_seq=0)] == [1, 1]
    assert store.stats()["by_type"]["agent.dreamed"] == 1
    report = store.verify()
    assert report.ok
    assert any("unknown type agent.dreamed" in note for note in report.notes)
    assert any("unknown fields future_field" in note for note in report.notes)


def test_deleting_the_index_loses_nothing(store, root):
    store.append_many(SESSION, [make_event(), make_event("agent.wrote_file")])
    expected = [e.raw for e in store.events()]
    store.close()
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(str(root / "index.db") + suffix):
            os.unlink(str(root / "index.db") + suffix)
    assert [e.raw for e in store.events()] == expected
    assert store.append(SESSION, make_event())["sequence_no"] == 2


@pytest.mark.parametrize("damage", [b"", b"this is not a sqlite database" * 100])
def test_index_overwritten_with_garbage_is_rebuilt(store, root, damage):
    store.append_many(SESSION, [make_event()] * 3)
    store.close()
    (root / "index.db").write_bytes(damage)
    for suffix in ("-wal", "-shm"):
        if os.path.exists(str(root / "index.db") + suffix):
            os.unlink(str(root / "index.db") + suffix)
    assert [e["sequence_no"] for e in store.events(SESSION)] == [0, 1, 2]
    assert store.append(SESSION, make_event())["sequence_no"] == 3


def test_index_from_a_newer_version_is_refused_by_name(store, root):
    store.append(SESSION, make_event())
    store.close()
    conn = sqlite3.connect(root / "index.db")
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    before = events_file(root).read_bytes()
    with pytest.raises(IndexTooNew, match="schema version 99"):
        Store(root).append(SESSION, make_event())
    with pytest.raises(IndexTooNew, match="schema version 99"):
        list(Store(root).events())
    assert events_file(root).read_bytes() == before


def test_replaced_or_truncated_file_is_detected_and_reindexed(store, root):
    store.append_many(SESSION, [make_event()] * 3)
    path = events_file(root)
    replacement = path.with_name("new")
    replacement.write_bytes(raw_treeship_line(SESSION, 0, "agent.wrote_file", file_path="only.py"))
    os.replace(replacement, path)
    assert [e.get("file_path") for e in store.events(SESSION)] == ["only.py"]
    with open(path, "r+b") as file:  # rewritten in place, same inode, longer
        file.write(raw_treeship_line(SESSION, 0, "agent.read_file") + raw_treeship_line(SESSION, 1))
    assert [e["type"] for e in store.events(SESSION)] == ["agent.read_file", "agent.called_tool"]


def test_verify_reports_what_changed_behind_the_index_and_changes_nothing(store, root):
    store.append_many(SESSION, [make_event()] * 3)
    path = events_file(root)
    data = path.read_bytes()
    path.write_bytes(data.replace(b'"sequence_no":1', b'"sequence_no":2'))  # same length, same inode
    index_before = index_contents(root)
    report = store.verify()
    assert not report.ok
    joined = "\n".join(report.problems)
    assert "duplicate sequence_no 2" in joined and "missing sequence_no 1" in joined
    assert "line 1 (offset 363): the index has an event" in joined
    assert index_contents(root) == index_before and path.read_bytes() == data.replace(b'"sequence_no":1',
                                                                                      b'"sequence_no":2')


@pytest.mark.parametrize("edit", [lambda line: line.replace(b'"sequence_no":0', b'"sequence_no":7'),
                                  lambda line: b"x" * len(line)], ids=["other sequence_no", "not JSON"])
def test_reading_a_line_rewritten_in_place_says_so(store, root, edit):
    # Same size, same inode, same last bytes: the quick check before a query
    # cannot see it; reading the line must, instead of returning it as stored.
    store.append_many(SESSION, [make_event()] * 3)
    path = events_file(root)
    first, rest = path.read_bytes().split(b"\n", 1)
    path.write_bytes(edit(first) + b"\n" + rest)
    with pytest.raises(StoreError, match="changed under the index at byte 0; run `treeship-store verify`"):
        list(store.events(SESSION))
    assert [e["sequence_no"] for e in store.events(SESSION, after_seq=0)] == [1, 2]


def test_reindex_full_equals_the_incremental_index(store, root):
    for i in range(5):
        store.append_many(f"ssn_{i}", [make_event(), make_event("agent.wrote_file")] * (i + 1))
    with open(events_file(root, "ssn_2"), "ab") as file:
        file.write(b"not json\n")
    list(store.events())
    incremental = index_contents(root)
    progress = []
    report = store.reindex(full=True, progress=lambda done, total: progress.append((done, total)))
    assert index_contents(root) == incremental
    assert (report.sessions, report.events, report.damaged_lines) == (5, 30, 1)
    assert progress[-1][0] == progress[-1][1] == sum(events_file(root, f"ssn_{i}").stat().st_size for i in range(5))


def test_full_reindex_builds_a_missing_index(root):
    with Store(root) as store:
        store.append_many(SESSION, [make_event()] * 3)
    os.unlink(root / "index.db")
    with Store(root, lock_timeout=5) as store:
        report = store.reindex(full=True)
        assert (report.events, [e["sequence_no"] for e in store.events(SESSION)]) == (3, [0, 1, 2])


def test_session_ids_that_escape_the_root_are_refused(store, root):
    for bad in ["../x", "a/b", "..", "", "/etc/passwd", "x\x00"]:
        with pytest.raises(SessionIdError):
            store.append(bad, make_event())
    assert not root.exists()


def test_stats_counts_types_agents_tokens_failures_files(store):
    store.append_many(SESSION, [
        make_event("agent.decision", model="opus", tokens_in=100, tokens_out=10),
        make_event("agent.decision", model="opus", tokens_in=50, tokens_out=5),
        make_event("agent.completed_process", exit_code=1),
        make_event("agent.completed_process", exit_code=0),
        make_event("agent.wrote_file", file_path="a"), make_event("agent.wrote_file", file_path="a"),
        make_event("agent.wrote_file", file_path="b"),
    ])
    stats = store.stats(SESSION)
    assert stats["tokens_by_model"] == {"opus": {"decisions": 2, "tokens_in": 150, "tokens_out": 15}}
    assert (stats["failed_processes"], stats["files_written"], stats["events"]) == (1, 2, 7)
    assert stats["by_type"]["agent.wrote_file"] == 3 and stats["by_agent"] == {"claude-code": 7}


def test_queries_are_answered_from_indexes_not_scans(store):
    store.append_many(SESSION, [make_event()] * 3 + [make_event("agent.wrote_file"), make_event("agent.decision")])
    index = store._index
    keys = list(index.session_keys().values())
    # Selective questions walk an index in result order and stop at the limit;
    # only runs of equal times are sorted, by session id ("RIGHT PART").
    for filters in [dict(agents=["claude-code"], types=["agent.wrote_file"]),
                    dict(agents=["ai_cc_1"], types=["agent.decision"]),
                    dict(session_keys=keys, after_seq=1),
                    dict(types=["agent.called_tool"], since_us=0, until_us=2**60)]:
        sql, params = store.backend.events_query(limit=50, newest_first=True, **filters)
        plan = [row[-1] for row in index.conn.execute("EXPLAIN QUERY PLAN " + sql, params)]
        assert not any(step.startswith("SCAN") or step == "USE TEMP B-TREE FOR ORDER BY" for step in plan), \
            (filters, plan)
    # An agent with no type and a limit: one index range per stored type, each
    # cut at the limit; only their union (types x limit rows at most) is sorted.
    sql, params = store.backend.events_query(agents=["ai_cc_1"], limit=50, newest_first=True)
    plan = [row[-1] for row in index.conn.execute("EXPLAIN QUERY PLAN " + sql, params)]
    touching_events = [step for step in plan if " e " in f" {step} "]
    assert touching_events and all(step == "SEARCH e USING INDEX events_by_agent_instance (instance_key=? AND "
                                          "type_key=?)" for step in touching_events), plan
    # Time alone: the same merge, over the (type, time) index; no index of time alone.
    sql, params = store.backend.events_query(since_us=0, limit=50, newest_first=True)
    plan = [row[-1] for row in index.conn.execute("EXPLAIN QUERY PLAN " + sql, params)]
    touching_events = [step for step in plan if " e " in f" {step} "]
    assert touching_events and all(step == "SEARCH e USING INDEX events_by_type (type_key=? AND timestamp_us>?)"
                                   for step in touching_events), plan


FOLLOWED_WRITER = """
import sys, time
from treeship_store import Store
store = Store(sys.argv[1])
for name in ("one", "two", "three"):
    time.sleep(0.1)
    store.append(sys.argv[2], {"type": "agent.called_tool", "tool_name": name, "agent_id": "agent://a",
                               "agent_instance_id": "i", "agent_name": "a", "host_id": "h"})
"""


def test_follow_yields_what_another_process_appends_and_stops_when_told(store, root):
    import subprocess
    import sys
    import time
    store.append(SESSION, make_event(tool_name="before"))
    writer = subprocess.Popen([sys.executable, "-c", FOLLOWED_WRITER, str(root), SESSION])
    deadline = time.monotonic() + 30
    seen = []
    for event in store.follow(SESSION, interval=0.02, until=lambda: time.monotonic() > deadline):
        seen.append(event["tool_name"])
        if len(seen) == 3:
            break
    writer.wait()
    assert seen == ["one", "two", "three"]  # from now on: "before" was there already
    assert [e["tool_name"] for e in store.follow(SESSION, after_seq=0, interval=0.01, until=lambda: True)] == \
        ["one", "two", "three"]
    with pytest.raises(ValidationError):
        next(store.follow(SESSION, interval=0))


def test_follow_goes_by_line_and_starts_again_from_a_replaced_file(store, root, caplog):
    from treeship_store.follow import start_position
    store.append_many(SESSION, [make_event(tool_name=f"t{i}") for i in range(3)])
    path = root / "sessions" / SESSION / "events.jsonl"
    backup = path.read_bytes()
    following = store.follow(SESSION, interval=0.01, until=lambda: True)  # from now: after line 2
    again = prepare(make_event(tool_name="same-number"), SESSION) | {"sequence_no": 1}  # another tool's line
    with open(path, "ab") as file:
        file.write(serialise(again) + b"\n")
    assert [(e["tool_name"], e["sequence_no"], e.line_no) for e in following] == [("same-number", 1, 3)]
    looked = store.read_new(SESSION, start_position(SESSION, 3))
    assert looked.events == [] and looked.restarted is None and looked.caught_up
    copy = path.with_name("copy")
    copy.write_bytes(backup)
    os.replace(copy, path)  # a restore, as mv does it: another file in its place
    looked = store.read_new(SESSION, looked.position)
    assert looked.restarted == "events.jsonl was replaced by another file"
    assert [(e["tool_name"], e.line_no) for e in looked.events] == [("t0", 0), ("t1", 1), ("t2", 2)]
    with caplog.at_level("WARNING", logger="treeship_store"):
        assert [e.line_no for e in store.follow(SESSION, after_seq=7, until=lambda: True)] == [0, 1, 2]
    assert "has 3 lines, fewer than the position asked for (line 7); following it again" in caplog.text
