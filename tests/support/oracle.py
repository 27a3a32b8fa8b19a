"""The oracle the index and the central store are checked against: random
stores (several sessions and agents, many equal timestamps, damaged lines,
unknown types, values SQLite cannot hold, times at both ends of the range),
random filter combinations, and a straightforward Python filter over every
line read back from the files (test_differential.py, contract/)."""

import random

import orjson

from treeship_store import Store
from treeship_store.event import format_time, parse_time, prepare

from support import make_event

SESSIONS = ["ssn_b", "ssn_a", "ssn_c", "ssn_d"]  # created in an order unlike their ids
AGENTS = [("agent://claude-code", "claude-code", "ai_cc_1"), ("agent://claude-code", "claude-code", "ai_cc_2"),
          ("agent://codex", "codex", "ai_cx_1"), ("agent://kimi", "kimi", "claude-code")]
TIMES = ["2026-04-05T08:00:00Z", "2026-04-05T08:00:00.5Z", "2026-04-05T08:00:01Z", "2026-04-05T09:00:00+01:00",
         "1970-01-01T00:00:00Z", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999Z"]
PATHS = ["src/a.py", "src/b.py", "README.md"]


def random_event(rng: random.Random) -> dict:
    agent_id, name, instance = rng.choice(AGENTS)
    event = {"agent_id": agent_id, "agent_name": name, "agent_instance_id": instance, "host_id": "h",
             "timestamp": rng.choice(TIMES)}
    kind = rng.randrange(7)
    if kind == 0:
        return {**event, "type": "agent.wrote_file", "file_path": rng.choice(PATHS)}
    if kind == 1:
        return {**event, "type": "agent.read_file", "file_path": rng.choice(PATHS)}
    if kind == 2:
        return {**event, "type": "agent.completed_process", "process_name": "pytest",
                "exit_code": rng.choice([0, 1, -9, 2**63 - 1, None])}
    if kind == 3:
        return {**event, "type": "agent.decision", "model": rng.choice(["opus", "gpt"]),
                "tokens_in": rng.choice([10, 2**64 - 1])}
    if kind == 4:
        return {**event, "type": "agent.future_thing", "novel": [1, 2]}  # a newer Treeship's type
    return {**event, "type": "agent.called_tool", "tool_name": rng.choice(["Read", "Bash"])}


def foreign_line(rng: random.Random, session: str, seq: int) -> bytes:
    """A line another tool wrote: hand-edited values, a repeated sequence_no, or damage."""
    kind = rng.randrange(4)
    if kind == 0:
        return rng.choice([b"garbage", b"[1, 2]", b'{"type": "x"}', b"\xff\xfe"]) + b"\n"
    event = prepare(make_event("agent.wrote_file", timestamp=rng.choice(TIMES)), session)
    event["sequence_no"] = seq if kind == 1 else max(0, seq - 1)
    if kind == 2:
        event["file_path"] = ["a", "b"]
    if kind == 3:
        event["timestamp"] = rng.choice(["0001-01-01T00:00:00+01:00", "yesterday"])
    return orjson.dumps(event) + b"\n"


def build_store(root, rng: random.Random) -> None:
    with Store(root, allow_unknown=True) as store:
        for _ in range(30):
            session = rng.choice(SESSIONS)
            store.append_many(session, [random_event(rng) for _ in range(rng.randrange(1, 12))])
            if rng.random() < 0.3:  # behind the index's back, indexed by the next catch-up
                path = root / "sessions" / session / "events.jsonl"
                lines = path.read_bytes().count(b"\n")
                with open(path, "ab") as file:
                    file.write(foreign_line(rng, session, lines))


def jsonl_events(root) -> list[dict]:
    """Every event line of the store, straight from the files, with its position."""
    found = []
    with Store(root) as store:
        for session in store.session_ids():
            found.extend(store.read_session(session).events)
    return found


def event_time(event: dict):
    try:
        return parse_time(event["timestamp"])
    except (ValueError, TypeError):
        return None


def plain_filter(events: list[dict], *, session=None, agent=None, type=None, since=None, until=None,
                 after_seq=None, failed=False, limit=None, newest_first=False) -> list[dict]:
    chosen = []
    for event in events:
        moment = event_time(event)
        exit_code = event.get("exit_code")
        if session is not None and event["session_id"] not in session:
            continue
        if agent is not None and not {event["agent_id"], event["agent_name"], event["agent_instance_id"]} & set(agent):
            continue
        if type is not None and event["type"] not in type:
            continue
        if since is not None and (moment is None or moment < parse_time(since)):
            continue
        if until is not None and (moment is None or moment >= parse_time(until)):
            continue
        if after_seq is not None and event["sequence_no"] <= after_seq:
            continue
        if failed and not (event["type"] == "agent.completed_process" and isinstance(exit_code, int)
                           and not isinstance(exit_code, bool) and exit_code != 0):
            continue
        chosen.append(event)
    one_session = session is not None and len(set(session)) == 1
    position = {id(event): i for i, event in enumerate(events)}  # file order within a session
    if one_session:
        chosen.sort(key=lambda e: (e["sequence_no"], position[id(e)]))
    else:  # SQLite puts NULL (no time) first
        chosen.sort(key=lambda e: (event_time(e) is not None, event_time(e) or 0, e["session_id"],
                                   e["sequence_no"], position[id(e)]))
    if newest_first:
        chosen.reverse()
    return chosen if limit is None else chosen[:limit]


def plain_files(events: list[dict], *, read: bool, **filters) -> list[dict]:
    summaries: dict[str, dict] = {}
    for event in plain_filter(events, type=["agent.read_file" if read else "agent.wrote_file"], **filters):
        path = event.get("file_path")
        if not isinstance(path, str):
            continue
        summary = summaries.setdefault(path, {"file_path": path, "events": 0, "agents": set(), "times": []})
        summary["events"] += 1
        summary["agents"].add(event["agent_name"])
        if (moment := event_time(event)) is not None:
            summary["times"].append(moment)
    return [{"file_path": path, "events": s["events"], "agents": sorted(s["agents"]),
             "first": format_time(min(s["times"])) if s["times"] else None,
             "last": format_time(max(s["times"])) if s["times"] else None}
            for path, s in sorted(summaries.items())]


def random_filters(rng: random.Random) -> dict:
    def some(values):
        picked = rng.sample(values, rng.randrange(1, 3))
        return picked[0] if len(picked) == 1 and rng.random() < 0.5 else picked + picked[:rng.randrange(2)]
    filters = {}
    if rng.random() < 0.4:
        filters["session"] = some(SESSIONS)
    if rng.random() < 0.4:
        filters["agent"] = some(["claude-code", "ai_cc_2", "agent://codex", "kimi", "nobody"])
    if rng.random() < 0.4:
        filters["type"] = some(["agent.wrote_file", "agent.decision", "agent.future_thing", "agent.failed"])
    if rng.random() < 0.3:
        filters["since"] = rng.choice(TIMES)
    if rng.random() < 0.3:
        filters["until"] = rng.choice(TIMES)
    if rng.random() < 0.2:
        filters["after_seq"] = rng.randrange(-1, 30)
    if rng.random() < 0.15:
        filters["failed"] = True
    if rng.random() < 0.5:
        filters["limit"] = rng.randrange(0, 40)
    filters["newest_first"] = rng.random() < 0.5
    return filters


def as_list(value):
    return None if value is None else [value] if isinstance(value, str) else value


def check_answers(reader, events: list[dict], rng: random.Random, rounds: int, label: str) -> None:
    """`rounds` random filters: events(), count_events() and files() of
    `reader` (a local or a central store) equal the plain filter's."""
    for _ in range(rounds):
        filters = random_filters(rng)
        plain = {k: as_list(v) if k in ("session", "agent", "type") else v for k, v in filters.items()}
        expected = plain_filter(events, **plain)
        got = list(reader.events(**filters))
        assert [e.raw for e in got] == [orjson.dumps(e) for e in expected] or \
            [dict(e) for e in got] == expected, (label, filters)
        counted = {k: v for k, v in filters.items() if k != "newest_first"}
        assert reader.count_events(**counted) == len(expected), (label, filters)
        for_files = {k: v for k, v in filters.items() if k in ("session", "agent", "since", "until")}
        read = rng.random() < 0.5
        assert reader.files(read=read, **for_files) == \
            plain_files(events, read=read, **{k: plain[k] for k in for_files}), (label, filters)
