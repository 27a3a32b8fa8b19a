"""The contract every backend keeps: the local SQLite index and the central
PostgreSQL store give the same answers to the same questions about the same
record (as eventsourcing runs one recorder suite per backend). The answers
are checked against a plain filter over the JSONL (test_differential.py's
oracle), and stats, sessions and damage against the local store's."""

import random

import pytest

from treeship_store import Store
from treeship_store.central import CentralStore, push

from test_differential import build_store, check_answers, jsonl_events


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request, root):
    """Opens the given store root the way the parameter says: the local
    Store, or a central store the root has been pushed to."""
    opened = []

    def open_backend(store_root):
        if request.param == "sqlite":
            reader = Store(store_root)
        else:
            url = request.getfixturevalue("central_url")
            push(Store(store_root), url)
            reader = CentralStore(url)
        opened.append(reader)
        return reader
    yield open_backend
    for reader in opened:
        reader.close()


@pytest.mark.parametrize("seed", [11, 12])
def test_answers_equal_a_plain_filter_over_the_jsonl(backend, root, seed):
    rng = random.Random(seed)
    build_store(root, rng)
    events = jsonl_events(root)
    check_answers(backend(root), events, rng, 300, seed)


def test_stats_sessions_and_damage_are_the_same(backend, root):
    build_store(root, random.Random(5))
    local = Store(root)
    reader = backend(root)
    assert reader.stats() == local.stats()
    assert reader.counts() == local.counts()
    assert reader.sessions() == local.sessions()
    for session in local.session_ids():
        assert reader.stats(session) == local.stats(session)
    damaged = sum(len(local.read_session(s).damaged) for s in local.session_ids())
    assert damaged and reader.stats()["damaged_lines"] == damaged


@pytest.mark.parametrize("bad", [{"type": "agent.wrote_flie"}, {"since": "yesterday"}, {"session": "../x"},
                                 {"limit": -1}, {"after_seq": 2**70}])
def test_bad_filters_are_refused_alike(backend, root, bad):
    build_store(root, random.Random(6))
    reader = backend(root)
    with pytest.raises(ValueError):
        list(reader.events(**bad))


def test_both_backends_answer_every_call_of_the_reader_seam(backend, root):
    from treeship_store.backend import Reader
    build_store(root, random.Random(7))
    reader = backend(root)
    calls = [name for name in vars(Reader) if not name.startswith("_") and callable(getattr(Reader, name))]
    assert {"events", "files", "stats", "session_page", "follow"} <= set(calls)
    assert all(callable(getattr(reader, name, None)) for name in calls)
    local = Store(root)
    # The same summaries. (The order may differ: the central store orders by the first time of a
    # session's first push, the local index by its earliest time; these random sessions have
    # their earliest time anywhere.)
    def summaries(page):
        return sorted((s["session_id"], s["events"], s["damaged_lines"], s["agents"], s["first"], s["last"],
                       s["failed_processes"], s["tokens_in"], s["file_writes"]) for s in page)
    assert summaries(reader.session_page(limit=100)) == summaries(local.session_page(limit=100))
    session = local.session_ids()[0]
    assert [(d.line_no, d.offset) for d in reader.damaged_lines(session)] == \
        [(d.line_no, d.offset) for d in local.damaged_lines(session)]
    last = list(local.events(session))[-1]["sequence_no"]
    assert list(reader.follow(session, after_seq=last - 1, until=lambda: True))[-1]["sequence_no"] == last
