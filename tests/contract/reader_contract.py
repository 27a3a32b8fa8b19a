"""The contract every backend keeps: the local SQLite index and the central
PostgreSQL store give the same answers to the same questions about the same
record (as eventsourcing runs one recorder suite per backend). The answers
are checked against a plain filter over the JSONL (test_differential.py's
oracle, tests/support/oracle.py), and stats, sessions and damage against the
local store's.

ReaderContract is that suite, collected only through its subclasses, one per
backend (test_sqlite.py, test_postgres.py), which say how a store root is
opened as a reader."""

import json
import random
from abc import ABC, abstractmethod

import pytest

from treeship_store import Store

from support import make_event
from support.oracle import build_store, check_answers, jsonl_events


class ReaderContract(ABC):
    """Every test of the contract, run against the readers `open_reader` opens."""

    # Whether the backend answers events(host=...): hosts are the central store's alone.
    hosts_answer = False

    @abstractmethod
    def open_reader(self, root):
        """Opens the given store root the way the backend says: the local
        Store, or a central store the root has been pushed to."""

    @pytest.fixture(autouse=True)
    def _close_readers(self):
        """Every reader a test opens is closed after it."""
        self._opened = []
        yield
        for reader in self._opened:
            reader.close()

    def reader_of(self, root):
        reader = self.open_reader(root)
        self._opened.append(reader)
        return reader

    @pytest.mark.parametrize("seed", [11, 12])
    def test_answers_equal_a_plain_filter_over_the_jsonl(self, root, seed):
        rng = random.Random(seed)
        build_store(root, rng)
        events = jsonl_events(root)
        check_answers(self.reader_of(root), events, rng, 300, seed)

    def test_stats_sessions_and_damage_are_the_same(self, root):
        build_store(root, random.Random(5))
        local = Store(root)
        reader = self.reader_of(root)
        assert reader.stats() == local.stats()
        assert reader.counts() == local.counts()
        assert reader.sessions() == local.sessions()
        for session in local.session_ids():
            assert reader.stats(session) == local.stats(session)
        damaged = sum(len(local.read_session(s).damaged) for s in local.session_ids())
        assert damaged and reader.stats()["damaged_lines"] == damaged

    @pytest.mark.parametrize("bad", [{"type": "agent.wrote_flie"}, {"since": "yesterday"}, {"session": "../x"},
                                     {"limit": -1}, {"after_seq": 2**70}])
    def test_bad_filters_are_refused_alike(self, root, bad):
        build_store(root, random.Random(6))
        reader = self.reader_of(root)
        with pytest.raises(ValueError):
            list(reader.events(**bad))

    def test_both_backends_answer_every_call_of_the_reader_seam(self, root):
        from treeship_store.reader import Reader
        build_store(root, random.Random(7))
        reader = self.reader_of(root)
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

    def assert_same_answers(self, reader, local, values) -> None:
        """Every question naming these values, and the summaries holding them,
        answer as the local store does."""
        def same(call, **filters):
            assert [e.raw for e in call(reader)(**filters)] == [e.raw for e in call(local)(**filters)], filters
        for value in values:
            for agent in (f"agent://{value}", value, f"{value}#1"):
                same(lambda store: store.events, agent=agent)
                assert reader.count_events(agent=agent) == local.count_events(agent=agent)
            same(lambda store: store.events, type=f"agent.custom.{value}", newest_first=True, limit=3)
            same(lambda store: store.events, agent=value, type="agent.wrote_file")
            assert reader.session_page(agent=value) == local.session_page(agent=value)
        if self.hosts_answer:  # hosts are the central store's alone
            for value in values:
                expected = [e.raw for e in local.events() if e["host_id"] == value]
                assert [e.raw for e in reader.events(host=value)] == expected
        same(lambda store: store.events, agent=list(values), limit=7)
        same(lambda store: store.events, type=[f"agent.custom.{value}" for value in values])
        assert reader.files() == local.files() and reader.files(read=True) == local.files(read=True)
        assert reader.files(agent=list(values)) == local.files(agent=list(values))
        for session in [None, *local.session_ids()]:
            assert reader.stats(session) == local.stats(session)
        assert json.dumps(reader.stats()) == json.dumps(local.stats())  # in the same order too
        assert reader.sessions() == local.sessions()
        assert sorted(map(str, reader.session_page(limit=100))) == sorted(map(str, local.session_page(limit=100)))

    def test_values_holding_nul_answer_alike(self, root):
        """PostgreSQL text cannot hold NUL, which a JSON string can (\\u0000):
        such a type was counted as damage centrally, such an agent vanished, and
        a filter holding one was a driver error."""
        values = ["a", "a\0", "a\x01", "a\x01\x02", "a\0b", "ab", "\0", "\x01\0"]
        write_hostile_store(root, values)
        self.assert_same_answers(self.reader_of(root), Store(root), values)

    def test_values_too_long_for_an_index_answer_alike(self, root):
        """A B-tree entry holds at most 2,704 bytes: one 3,000-character path,
        agent or type failed the push of its batch, for ever. Such values share
        a long beginning here, so what tells them apart is past any cut."""
        rng = random.Random(3)
        start = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789/") for _ in range(3000))
        values = [start, start + "b", start + "a", "é" * 1500 + "\0", "🦀" * 900, "short"]
        write_hostile_store(root, values)
        self.assert_same_answers(self.reader_of(root), Store(root), values)

    def test_an_unknown_type_gets_the_same_message_with_a_suggestion(self, root):
        """A type neither in the schema nor stored is a typo: both stores say so
        alike, with the closest type they know (a newer Treeship's included)."""
        from treeship_store import ValidationError
        build_store(root, random.Random(8))
        with Store(root) as store:
            store.append("ssn_newer", make_event("agent.dreamed"), allow_unknown=True)
        reader = self.reader_of(root)
        with pytest.raises(ValidationError) as refused:
            reader.count_events(type="agent.wrote_flie")
        assert str(refused.value) == ("unknown event type 'agent.wrote_flie': not in Treeship's schema or this store "
                                      "(did you mean agent.wrote_file?)")
        with pytest.raises(ValidationError, match=r"\(did you mean agent\.dreamed\?\)"):
            list(reader.events(type="agent.dreamd"))
        assert reader.count_events(type="agent.dreamed") == 1  # stored, so not a typo


def write_hostile_store(root, values) -> None:
    """A session per value, holding it as agent id, name and instance, type,
    file path and model: values another writer may leave in a line."""
    with Store(root, allow_unknown=True, max_line_bytes=4 << 20) as store:
        for n, value in enumerate(values):
            agent = {"agent_id": f"agent://{value}", "agent_name": value, "agent_instance_id": f"{value}#1",
                     "host_id": value}
            store.append_many(f"ssn_{n}", [make_event("agent.wrote_file", file_path=value, **agent),
                                           make_event("agent.read_file", file_path=value, **agent),
                                           make_event(f"agent.custom.{value}", **agent),
                                           make_event("agent.decision", model=value, tokens_in=5, **agent),
                                           make_event("agent.completed_process", exit_code=1, **agent)])
