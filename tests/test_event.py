"""The event format: Treeship's lines round-trip byte for byte; bad events are refused."""

import orjson
import pytest

from treeship_store import EVENT_TYPES, SessionIdError, ValidationError, serialise
from treeship_store.event import check_session_id, decode_line, prepare

from support import SESSION

# A line as Treeship writes it, envelope first; the type's fields are spliced in.
ENVELOPE = ('"session_id":"ssn_42e740bd9eb238f6","event_id":"evt_5f0c2a9d1b7e3c44",'
            '"timestamp":"2026-04-05T08:00:03Z","sequence_no":0,"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736",'
            '"span_id":"00f067aa0ba902b7","parent_span_id":"00f067aa0ba902b8","agent_id":"agent://claude-code",'
            '"agent_instance_id":"ai_cc_1","agent_name":"claude-code","agent_role":"operator",'
            '"host_id":"host_macbook","tool_runtime_id":"rt_1"')
TYPE_FIELDS = {
    "session.started": "",
    "session.closed": ',"summary":"all done","duration_ms":5000',
    "agent.started": ',"parent_agent_instance_id":"ai_cc_0"',
    "agent.spawned": ',"spawned_by_agent_instance_id":"ai_cc_1","reason":"split the work"',
    "agent.handoff": ',"from_agent_instance_id":"ai_cc_1","to_agent_instance_id":"ai_cx_2","artifacts":["a.md","b.md"]',
    "agent.collaborated": ',"collaborator_agent_instance_ids":["ai_cx_2","ai_km_3"]',
    "agent.returned": ',"returned_to_agent_instance_id":"ai_cc_1"',
    "agent.completed": ',"termination_reason":"finished"',
    "agent.failed": ',"reason":"tool crashed"',
    "agent.called_tool": ',"tool_name":"Read","tool_input_digest":"sha256:aa","tool_output_digest":"sha256:bb",'
                         '"duration_ms":42',
    "agent.read_file": ',"file_path":"src/main.rs","digest":"sha256:cc"',
    "agent.wrote_file": ',"file_path":"src/lib.rs","digest":"sha256:dd","operation":"modified","additions":12,'
                        '"deletions":3',
    "agent.opened_port": ',"port":8080,"protocol":"tcp"',
    "agent.connected_network": ',"destination":"api.example.com","port":443',
    "agent.started_process": ',"process_name":"cargo","pid":4242,"command":"cargo test"',
    "agent.completed_process": ',"process_name":"cargo","exit_code":-1,"duration_ms":1200,"command":"cargo test"',
    "agent.decision": ',"model":"claude-opus","tokens_in":1200,"tokens_out":340,"provider":"anthropic",'
                      '"summary":"edit lib.rs","confidence":0.85',
    "agent.note": "",  # Treeship 0.31's gate: the text is in meta
}
TRAILER = ',"artifact_ref":"art_1","meta":{"source":"session-event-cli","nested":[1,2.5,"\\u0001é"]}'


def treeship_line(event_type):
    return ('{' + ENVELOPE + f',"type":"{event_type}"' + TYPE_FIELDS[event_type] + TRAILER + '}').encode()


def test_every_event_type_has_a_round_trip_case():
    assert set(TYPE_FIELDS) == set(EVENT_TYPES)


@pytest.mark.parametrize("event_type", sorted(TYPE_FIELDS))
def test_treeship_line_serialises_back_to_the_same_bytes(event_type):
    line = treeship_line(event_type)
    event, reason = decode_line(line)
    assert reason is None
    assert serialise(event) == line
    # Field order comes from the schema, not from the order we were given.
    assert serialise(dict(reversed(list(event.items())))) == line


@pytest.mark.parametrize("event_type", sorted(TYPE_FIELDS))
def test_prepared_event_keeps_treeship_order_and_values(event_type):
    event = orjson.loads(treeship_line(event_type))
    assert orjson.dumps(prepare(dict(reversed(list(event.items()))), SESSION)) == treeship_line(event_type)


def test_schema_example_line_round_trips():
    line = (b'{"session_id":"ssn_42e740bd9eb238f6","event_id":"evt_5f0c2a9d1b7e3c44","timestamp":'
            b'"2026-04-05T08:00:03Z","sequence_no":2,"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":'
            b'"00f067aa0ba902b7","agent_id":"agent://claude-code","agent_instance_id":"ai_cc_1","agent_name":'
            b'"claude-code","agent_role":"operator","host_id":"host_macbook","type":"agent.called_tool",'
            b'"tool_name":"Read","duration_ms":42,"meta":{"source":"session-event-cli"}}')
    assert serialise(decode_line(line)[0]) == line


def base(**fields):
    return {"type": "agent.called_tool", "tool_name": "Read", "agent_id": "agent://a", "agent_instance_id": "i",
            "agent_name": "a", "host_id": "h", **fields}


def test_store_fills_ids_timestamp_and_omits_none_and_empty_lists():
    event = prepare(base(agent_role=None, duration_ms=None), SESSION)
    assert event["session_id"] == SESSION
    assert event["event_id"].startswith("evt_") and len(event["event_id"]) == 20
    assert len(event["trace_id"]) == 32 and len(event["span_id"]) == 16
    assert event["timestamp"].endswith("Z")
    assert "agent_role" not in event and "duration_ms" not in event
    handoff = prepare(base(type="agent.handoff", from_agent_instance_id="a", to_agent_instance_id="b",
                           artifacts=[], tool_name=None), SESSION)
    assert "artifacts" not in handoff


@pytest.mark.parametrize("fields, message", [
    ({"type": "agent.teleported"}, "unknown event type 'agent.teleported'"),
    ({"tool_name": None}, "field 'tool_name': required for agent.called_tool"),
    ({"agent_name": 7}, "field 'agent_name': must be a string"),
    ({"duration_ms": -1}, "field 'duration_ms': must be between 0 and"),
    ({"duration_ms": True}, "field 'duration_ms': must be an unsigned integer"),
    ({"duration_ms": 2**64}, "field 'duration_ms': must be between"),
    ({"type": "agent.opened_port", "port": 70000}, "field 'port': must be between 0 and 65535, got 70000"),
    ({"type": "agent.wrote_file", "file_path": "x", "operation": "renamed"}, "field 'operation'"),
    ({"type": "agent.decision", "confidence": float("nan")}, "field 'confidence': must be a finite number"),
    ({"meta": {"a": [1, float("inf")]}}, "field 'meta': must not contain NaN or infinity"),
    ({"meta": {"big": 2**70}}, "cannot be written as JSON"),
    ({"meta": {"text": "\udcff"}}, "cannot be written as JSON"),
    ({"colour": "blue"}, "unknown field 'colour' for agent.called_tool"),
    ({"session_id": "ssn_other"}, "does not match the target session"),
    ({"timestamp": "yesterday"}, "field 'timestamp': must be an RFC 3339 time"),
    ({"event_id": "evt_XYZ"}, "field 'event_id'"),
    ({"trace_id": "abc"}, "field 'trace_id': must be 32 lowercase hex digits"),
])
def test_bad_events_are_refused_naming_the_field(fields, message):
    with pytest.raises(ValidationError, match="^event 3: .*" + message.replace("(", r"\(").replace(")", r"\)")):
        prepare(base(**fields), SESSION, position=3)


def test_deeply_nested_meta_is_refused_without_recursion_error():
    meta = []
    for _ in range(10_000):
        meta = [meta]
    with pytest.raises(ValidationError, match="cannot be written as JSON"):
        prepare(base(meta=meta), SESSION)


def test_line_size_limit():
    prepare(base(meta="x" * 900), SESSION, max_line_bytes=1400)
    with pytest.raises(ValidationError, match="over the 1400-byte line limit"):
        prepare(base(meta="x" * 1500), SESSION, max_line_bytes=1400)


def test_unknown_fields_and_types_need_opt_in():
    event = prepare(base(colour="blue", meta={"m": 1}), SESSION, allow_unknown=True)
    assert list(event)[-3:] == ["tool_name", "colour", "meta"]
    assert prepare(base(type="agent.teleported", tool_name=None, where="mars"), SESSION, allow_unknown=True)


@pytest.mark.parametrize("bad", ["", ".", "..", "../x", "a/b", "/etc", "x\x00y", "ssn_ａ", "ssn_42\u200b",
                                 "x" * 1000, ".hidden", None, 42])
def test_unsafe_session_ids_are_refused(bad):
    with pytest.raises(SessionIdError, match="invalid session id"):
        check_session_id(bad)


@pytest.mark.parametrize("line, reason", [
    (b"", "empty line"),
    (b'{"session_id":"s"', "not JSON"),
    (b'{"a":"\xff"}', "not UTF-8"),
    (b"[1,2]", "not a JSON object"),
    (b'{"session_id":"s"}', "envelope field 'event_id' missing"),
    (orjson.dumps({**orjson.loads(b'{' + ENVELOPE.encode() + b',"type":"x"}'), "sequence_no": "3"}),
     "'sequence_no' not a non-negative integer"),
])
def test_damaged_line_reasons(line, reason):
    event, found = decode_line(line)
    assert event is None and reason in found


def test_unknown_type_is_an_event_not_damage():
    event, reason = decode_line(b'{' + ENVELOPE.encode() + b',"type":"agent.dreamed","dream":"sheep"}')
    assert reason is None and event["dream"] == "sheep"


def test_the_hook_codec_writes_what_orjson_writes():
    """A hook writes its lines with CPython's _json accelerator (jsoncodec),
    not orjson: the bytes must be orjson's, for every value a line can hold,
    and what orjson refuses must be refused."""
    from hypothesis import given, settings, strategies as st
    from treeship_store import jsoncodec
    values = st.recursive(
        st.none() | st.booleans() | st.integers(min_value=-(2**64), max_value=2**65) | st.floats() |
        st.text(st.characters(codec="utf-8")) | st.text(),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
        max_leaves=12)

    @settings(max_examples=2000, deadline=None)
    @given(values, st.booleans())
    def check(value, sort_keys):
        options = orjson.OPT_SORT_KEYS if sort_keys else 0
        try:
            expected = orjson.dumps(value, option=options)
        except (TypeError, ValueError):  # orjson.JSONEncodeError is a TypeError
            with pytest.raises((TypeError, ValueError)):
                jsoncodec.lean_dumps(value, sort_keys=sort_keys)
            return
        assert jsoncodec.lean_dumps(value, sort_keys=sort_keys) == expected
        assert jsoncodec.loads(expected) == orjson.loads(expected)
    check()
    for refused in ("\ud800", {"a": ["\udfff"]}, 2**64, -(2**63) - 1):
        with pytest.raises((TypeError, ValueError)):
            orjson.dumps(refused)
        with pytest.raises((TypeError, ValueError)):
            jsoncodec.lean_dumps(refused)
    deep = []
    for _ in range(260):
        deep = [deep]
    with pytest.raises((TypeError, ValueError)):
        jsoncodec.lean_dumps(deep)  # orjson refuses nesting past 254, and so must the hook


_RFC3339 = __import__("re").compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})")


def _reference_rfc3339(text: str) -> bool:
    """RFC 3339 by a regular expression, then the calendar and range by datetime."""
    from treeship_store.times import parse_time
    if not _RFC3339.fullmatch(text):
        return False
    head, dot, rest = text.partition(".")
    if dot:  # datetime reads at most 6 digits of a fraction: the rest cannot make a valid time invalid
        digits = len(rest) - len(rest.lstrip("0123456789"))
        text = head + "." + rest[:min(digits, 6)] + rest[digits:]
    try:
        parse_time(text)
    except ValueError:
        return False
    return True


def test_the_append_paths_time_check_takes_exactly_rfc3339_times_the_store_holds():
    """event.is_rfc3339 (string methods, no datetime on a hook's path) against
    a regular expression and datetime, on valid times with one or two
    characters changed, other scripts' digits and superscripts included."""
    from hypothesis import given, settings, strategies as st

    from treeship_store.event import is_rfc3339
    bases = st.sampled_from(["2026-11-28T23:18:26.113Z", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999Z",
                             "2024-02-29T12:00:00+05:30", "2023-02-28T00:00:00.123456789-23:59",
                             "0001-01-01T00:30:00+00:31", "9999-12-31T23:00:00-01:00"])
    characters = st.sampled_from(list("0123456789-:T.Z+ z\u0663\u00b2\u2070\uff11x"))

    @settings(max_examples=3000, deadline=None)
    @given(bases, st.lists(st.tuples(st.integers(0, 40), characters), max_size=2))
    def check(base, changes):
        text = base
        for place, character in changes:
            place = min(place, len(text))
            text = text[:place] + character + text[place + 1:]
        assert is_rfc3339(text) == _reference_rfc3339(text), text
    check()
