"""A stateful property test: random interleavings of appends, crashes (torn
tails, lines the index has not seen), index loss, reindex, verify and queries,
checked against a plain in-memory model of what the JSONL must hold."""

import os
import shutil
import tempfile
from pathlib import Path

import orjson
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from treeship_store import Store
from treeship_store.event import prepare

SESSIONS = ["ssn_a", "ssn_b", "ssn_c"]
TYPES = ["agent.called_tool", "agent.wrote_file", "agent.decision"]
AGENTS = ["claude-code", "codex"]


def event(event_type, agent):
    fields = {"agent.called_tool": {"tool_name": "Read"}, "agent.wrote_file": {"file_path": "x.py"},
              "agent.decision": {"model": "m", "tokens_in": 3}}[event_type]
    return {"type": event_type, "agent_id": f"agent://{agent}", "agent_instance_id": f"ai_{agent}",
            "agent_name": agent, "host_id": "h", **fields}


class StoreModel(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.directory = Path(tempfile.mkdtemp())
        self.root = self.directory / ".treeship"
        self.store = Store(self.root)
        # Per session: [(sequence_no, type, agent)] for events, damaged line count, a torn tail pending?
        self.events = {s: [] for s in SESSIONS}
        self.damaged = {s: 0 for s in SESSIONS}
        self.torn = {s: False for s in SESSIONS}

    def teardown(self):
        self.store.close()
        shutil.rmtree(self.directory)

    def positions(self, session):
        return len(self.events[session]) + self.damaged[session]

    def record_append(self, session, batch):
        if self.torn[session]:  # the appender seals it: one damaged line
            self.damaged[session] += 1
            self.torn[session] = False
        for event_type, agent in batch:
            self.events[session].append((self.positions(session), event_type, agent))

    @rule(session=st.sampled_from(SESSIONS), event_type=st.sampled_from(TYPES), agent=st.sampled_from(AGENTS))
    def append(self, session, event_type, agent):
        stored = self.store.append(session, event(event_type, agent))
        expected_position = self.positions(session) + self.torn[session]
        self.record_append(session, [(event_type, agent)])
        assert stored["sequence_no"] == expected_position

    @rule(session=st.sampled_from(SESSIONS),
          batch=st.lists(st.tuples(st.sampled_from(TYPES), st.sampled_from(AGENTS)), min_size=1, max_size=5))
    def append_many(self, session, batch):
        stored = self.store.append_many(session, [event(t, a) for t, a in batch])
        self.record_append(session, batch)
        assert [e["sequence_no"] for e in stored] == [p for p, _, _ in self.events[session][-len(batch):]]

    @rule(session=st.sampled_from(SESSIONS), cut=st.integers(1, 200))
    def crash_mid_line(self, session, cut):
        """A writer died mid-line: bytes without a newline at the end of the file."""
        path = self.root / "sessions" / session / "events.jsonl"
        if not path.exists() or self.torn[session]:
            return
        line = orjson.dumps(prepare(event("agent.called_tool", "codex"), session))
        with open(path, "ab") as file:
            file.write(line[:min(cut, len(line) - 1)])
        self.torn[session] = True

    @precondition(lambda self: any(not torn for torn in self.torn.values()))
    @rule(data=st.data())
    def line_behind_the_index(self, data):
        """Treeship's own CLI (or a crash before our index commit) adds a line."""
        session = data.draw(st.sampled_from([s for s in SESSIONS if not self.torn[s]]))
        path = self.root / "sessions" / session / "events.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        line = prepare(event("agent.wrote_file", "claude-code"), session) | {"sequence_no": self.positions(session)}
        with open(path, "ab") as file:
            file.write(orjson.dumps(line) + b"\n")
        self.events[session].append((self.positions(session), "agent.wrote_file", "claude-code"))

    @rule()
    def lose_the_index(self):
        self.store.close()
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(f"{self.root}/index.db{suffix}"):
                os.unlink(f"{self.root}/index.db{suffix}")

    @precondition(lambda self: self.root.exists())
    @rule(full=st.booleans())
    def reindex(self, full):
        report = self.store.reindex(full=full)
        assert report.events == sum(len(e) for e in self.events.values())
        assert report.damaged_lines == sum(self.damaged.values())

    @precondition(lambda self: self.root.exists())
    @rule()
    def verify(self):
        report = self.store.verify()
        assert report.problems == []
        assert len(report.damaged) == sum(self.damaged.values())

    @precondition(lambda self: self.root.exists())
    @rule(session=st.sampled_from(SESSIONS), event_type=st.sampled_from(TYPES), agent=st.sampled_from(AGENTS),
          newest_first=st.booleans(), limit=st.none() | st.integers(0, 4))
    def query(self, session, event_type, agent, newest_first, limit):
        expected = [p for p, t, a in self.events[session] if t == event_type and a == agent]
        if newest_first:
            expected.reverse()
        if limit is not None:
            expected = expected[:limit]
        found = self.store.events(session, type=event_type, agent=agent, newest_first=newest_first, limit=limit)
        assert [e["sequence_no"] for e in found] == expected

    @invariant()
    def counts_match(self):
        if not self.root.exists():
            return
        stats = self.store.stats()
        assert stats["events"] == sum(len(e) for e in self.events.values())
        assert stats["damaged_lines"] == sum(self.damaged.values())
        for session in SESSIONS:
            if (self.root / "sessions" / session / "events.jsonl").exists():
                contents = self.store.read_session(session)
                assert [e["sequence_no"] for e in contents.events] == [p for p, _, _ in self.events[session]]


TestStoreModel = StoreModel.TestCase
TestStoreModel.settings = settings(max_examples=40, stateful_step_count=25, deadline=None)
