"""Hostile input against the index: values SQLite cannot hold, extreme times,
an index.db that is not ours, files that vanish, ties, driver errors."""

import os
import sqlite3

import orjson
import pytest

from treeship_store import Store, StoreError, ValidationError
from treeship_store.event import prepare

from conftest import SESSION, index_contents, make_event


def events_file(root, session=SESSION):
    return root / "sessions" / session / "events.jsonl"


def foreign_line(session, seq, event_type="agent.called_tool", **fields):
    """A line another tool wrote: valid envelope, any field values."""
    event = prepare(make_event(event_type), session)
    event.update(fields, sequence_no=seq)
    return orjson.dumps(event) + b"\n"


def test_values_sqlite_cannot_hold_cost_only_their_column(store, root):
    store.append(SESSION, make_event())  # the session exists; the rest is one catch-up
    with open(events_file(root), "ab") as file:
        file.write(foreign_line(SESSION, 1, "agent.decision", model="opus", tokens_in=2**63, tokens_out=2**64 - 1))
        file.write(foreign_line(SESSION, 2, "agent.wrote_file", file_path=["a", "b"]))
        file.write(foreign_line(SESSION, 3, "agent.called_tool", tool_name={"x": 1}, duration_ms=2**64 - 1))
        file.write(foreign_line(SESSION, 4, "agent.decision", model=7, tokens_in=5))
    store.append(SESSION, make_event("agent.decision", model="opus", tokens_in=2**64 - 1))  # the schema's u64
    for attempt in ("as appended", "after a full reindex", "after deleting index.db"):
        events = list(store.events(SESSION))
        assert [e["sequence_no"] for e in events] == [0, 1, 2, 3, 4, 5], attempt
        assert events[1]["tokens_in"] == 2**63 and events[2]["file_path"] == ["a", "b"], attempt
        assert store.count_events(type="agent.decision") == 3
        assert store.stats()["tokens_by_model"]["opus"]["decisions"] == 2
        assert store.files() == []  # a list is no path: nothing to group by
        assert store.verify().problems  # the schema's types are still checked
        if attempt == "as appended":
            store.reindex(full=True)
        elif attempt == "after a full reindex":
            store.close()
            os.unlink(root / "index.db")


@pytest.mark.parametrize("stamp, shown", [
    ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00Z"),
    ("9999-12-31T23:59:59.999999Z", "9999-12-31T23:59:59.999999Z"),
    ("1970-01-01T00:00:00Z", "1970-01-01T00:00:00Z"),
    ("1969-12-31T23:59:59.999999Z", "1969-12-31T23:59:59.999999Z"),
])
def test_times_at_the_ends_of_the_range_come_back_as_times(store, stamp, shown):
    store.append(SESSION, make_event("agent.wrote_file", timestamp=stamp))
    (summary,) = store.sessions()
    assert summary["first"] == summary["last"] == shown
    assert store.files()[0]["first"] == shown
    assert [e["timestamp"] for e in store.events(since=stamp)] == [stamp]
    assert list(store.events(until=stamp)) == []


@pytest.mark.parametrize("stamp", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-00:01"])
def test_times_outside_the_range_are_refused_by_append(store, root, stamp):
    with pytest.raises(ValidationError, match="between 0001-01-01T00:00:00Z and 9999-12-31"):
        store.append(SESSION, make_event(timestamp=stamp))
    assert not events_file(root).exists()


def test_a_foreign_line_with_a_time_outside_the_range_is_indexed_without_a_time(store, root):
    store.append(SESSION, make_event(timestamp="2026-01-01T00:00:00Z"))
    with open(events_file(root), "ab") as file:
        file.write(foreign_line(SESSION, 1, timestamp="0001-01-01T00:00:00+01:00"))
    assert [e["sequence_no"] for e in store.events(SESSION)] == [0, 1]
    assert store.sessions()[0]["first"] == "2026-01-01T00:00:00Z"
    assert len(list(store.events(since="0001-01-01T00:00:00Z"))) == 1
