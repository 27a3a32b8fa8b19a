"""Treeship 0.25+'s events.jsonl.count stays current under mixed writers, so
neither side ever re-reads the whole file; and Store.writing's bookkeeping."""

import fcntl
import os
import struct

import orjson

from treeship_store.event import prepare

from support import SESSION, make_event


class TreeshipWriter:
    """Treeship's append, as docs/format.md describes it: under the flock,
    trust the counter when its size is the file's, else recount; append;
    write the counter to a temporary file, sync, rename."""

    def __init__(self, root, session):
        self.directory = root / "sessions" / session
        self.session = session
        self.recounts = 0

    def append(self, tool):
        lock = os.open(self.directory / "events.jsonl.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            path = self.directory / "events.jsonl"
            size = path.stat().st_size
            try:
                count, counted_size = struct.unpack("<QQ", (self.directory / "events.jsonl.count").read_bytes())
            except FileNotFoundError:
                count, counted_size = 0, -1
            if counted_size != size:
                self.recounts += 1
                count = path.read_bytes().count(b"\n")
            event = prepare(make_event(tool_name=tool), self.session)
            event["sequence_no"] = count
            with open(path, "ab") as file:
                file.write(orjson.dumps(event) + b"\n")
            temporary = self.directory / "events.jsonl.count.tmp"
            temporary.write_bytes(struct.pack("<QQ", count + 1, path.stat().st_size))
            os.rename(temporary, self.directory / "events.jsonl.count")
        finally:
            os.close(lock)


def test_mixed_writers_keep_the_counter_current_and_treeship_never_recounts(store, root):
    store.append(SESSION, make_event())
    treeship = TreeshipWriter(root, SESSION)
    treeship.append("t0")  # no counter yet: Treeship counts once and creates it
    assert treeship.recounts == 1
    for i in range(5):
        store.append_many(SESSION, [make_event(tool_name=f"s{i}")] * 2)
        treeship.append(f"t{i + 1}")
    assert treeship.recounts == 1  # our appends kept its counter current
    counter = (root / "sessions" / SESSION / "events.jsonl.count").read_bytes()
    data = (root / "sessions" / SESSION / "events.jsonl").read_bytes()
    assert struct.unpack("<QQ", counter) == (data.count(b"\n"), len(data))
    assert [e["sequence_no"] for e in store.events(SESSION)] == list(range(17))
    assert store.verify().ok


def test_the_counter_is_never_created(store, root):
    store.append(SESSION, make_event())
    assert not (root / "sessions" / SESSION / "events.jsonl.count").exists()


def test_two_appends_in_one_hold_after_sealing_a_torn_tail(store, root):
    store.append(SESSION, make_event())
    with open(root / "sessions" / SESSION / "events.jsonl", "ab") as file:
        file.write(b'{"session_id": "half a line')  # a foreign writer died here
    with store.writing(SESSION) as writer:
        first = writer.append_many([make_event()])
        second = writer.append_many([make_event()])
        assert list(writer.lines_from(0))[-1] == second[0].raw
    assert [first[0]["sequence_no"], second[0]["sequence_no"]] == [2, 3]
    report = store.verify()
    assert report.problems == [] and [d.line_no for d in report.damaged] == [1]
