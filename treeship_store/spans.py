"""A session's events as trace spans, after the OpenTelemetry GenAI semantic
conventions for agents (development status; the mapping is in docs/otel.md).

A pure function of the session's lines: no I/O, no OpenTelemetry import.
Every id is derived from the session id and a line number or agent instance,
so the same lines always give the same spans, and a span is complete at a
known line (`closes_at`): an exporter that has sent every span closing
before line N sends, next time, exactly those closing at N or later.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field

from .redact import redact
from .event import parse_time
from .projector import failed, int64

INTERNAL, CLIENT = "internal", "client"

# Lines that become span events on their agent's span, and the attributes
# each takes from the line: (attribute, field), registry names where they exist.
SPAN_EVENT_FIELDS = {
    "agent.read_file": (("file.path", "file_path"), ("treeship.digest", "digest")),
    "agent.wrote_file": (("file.path", "file_path"), ("treeship.operation", "operation"),
                         ("treeship.additions", "additions"), ("treeship.deletions", "deletions"),
                         ("treeship.digest", "digest")),
    "agent.connected_network": (("server.address", "destination"), ("server.port", "port")),
    "agent.opened_port": (("server.port", "port"), ("network.transport", "protocol")),
    "agent.started_process": (("process.executable.name", "process_name"), ("process.pid", "pid"),
                              ("process.command_line", "command")),
    "agent.spawned": (("treeship.spawned_by_agent_instance_id", "spawned_by_agent_instance_id"),
                      ("treeship.reason", "reason")),
    "agent.handoff": (("treeship.from_agent_instance_id", "from_agent_instance_id"),
                      ("treeship.to_agent_instance_id", "to_agent_instance_id"), ("treeship.artifacts", "artifacts")),
    "agent.collaborated": (("treeship.collaborator_agent_instance_ids", "collaborator_agent_instance_ids"),),
    "agent.returned": (("treeship.returned_to_agent_instance_id", "returned_to_agent_instance_id"),),
}
# Free text that may carry a secret another writer left in: redacted as capture does.
REDACTED = {"command", "destination", "reason", "summary"}


@dataclass
class Span:
    trace_id: bytes  # 16 bytes
    span_id: bytes  # 8 bytes
    parent_id: bytes | None
    name: str
    kind: str
    start_ns: int
    end_ns: int
    closes_at: int  # the line number at which the span is complete
    attributes: dict = field(default_factory=dict)
    events: list[tuple[str, int, dict]] = field(default_factory=list)  # (name, time, attributes)
    links: list[tuple[bytes, dict]] = field(default_factory=list)  # (span id in this trace, attributes)
    error: str | None = None  # error.type when the span failed; its status is then ERROR
    message: str = ""  # the status description


def trace_id(session_id: str) -> bytes:
    """The session's trace id: Treeship writes a random trace_id on every
    event, so the session id is what groups them."""
    return hashlib.sha256(b"treeship-store trace\0" + session_id.encode()).digest()[:16]


def span_id(session_id: str, key: str) -> bytes:
    return hashlib.sha256(f"treeship-store span\0{session_id}\0{key}".encode()).digest()[:8]


def session_spans(session_id: str, lines: Iterable[tuple[int, dict | None]]) -> list[Span]:
    """Every span of the session that is complete in these lines (numbered
    from 0, None for a damaged line), in the order they complete."""
    return _Builder(session_id).build(lines)


class _Builder:
    def __init__(self, session_id: str):
        self.session_id = session_id
        self.trace = trace_id(session_id)
        self.root_id = span_id(session_id, "session")
        self.agents: dict[str, Span] = {}  # instance -> its span, open or closed
        self.closed: set[str] = set()
        self.parents: dict[str, str] = {}  # instance -> the instance that spawned it
        self.done: list[Span] = []
        self.root_events: list[tuple[str, int, dict]] = []
        self.first_ns = self.last_ns = None

    def build(self, lines: Iterable[tuple[int, dict | None]]) -> list[Span]:
        closed_at = None
        for line_no, event in lines:
            if event is None or type(event.get("type")) is not str:
                continue
            at = _time_ns(event.get("timestamp"))
            if at is None:
                continue  # a line without a usable time has no place on a time axis
            self.first_ns = at if self.first_ns is None else min(self.first_ns, at)
            self.last_ns = at if self.last_ns is None else max(self.last_ns, at)
            if event["type"] == "session.closed":
                closed_at = (line_no, at, event)
                break
            self._add(line_no, at, event)
        if closed_at is not None:
            self._close_session(*closed_at)
        return self.done

    def _add(self, line_no: int, at: int, event: dict) -> None:
        kind, instance = event["type"], _text(event.get("agent_instance_id"))
        if kind == "session.started":
            return
        if kind in ("agent.started", "agent.spawned"):
            parent = _text(event.get("parent_agent_instance_id") or event.get("spawned_by_agent_instance_id"))
            if instance and parent and parent != instance:
                self.parents.setdefault(instance, parent)
        agent = self._agent(instance, event, at) if instance and instance not in self.closed else None
        if kind in ("agent.completed", "agent.failed") and agent is not None:
            agent.end_ns, agent.closes_at = max(at, agent.start_ns), line_no
            if kind == "agent.failed":
                agent.error, agent.message = "agent.failed", redact(_text(event.get("reason")) or "")
            elif reason := _text(event.get("termination_reason")):
                agent.attributes["treeship.termination_reason"] = redact(reason)
            self._finish_agent(instance)
            return
        parent = agent.span_id if agent is not None else self.root_id
        if kind == "agent.called_tool":
            name = _text(event.get("tool_name")) or "tool"
            span = self._timed(line_no, at, event, f"execute_tool {name}", INTERNAL, parent)
            span.attributes.update({"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": name})
            meta = event.get("meta")
            call_id = meta.get("tool_use_id") if isinstance(meta, dict) else None
            if _text(call_id):
                span.attributes["gen_ai.tool.call.id"] = call_id
        elif kind == "agent.completed_process":
            name = _text(event.get("process_name")) or "process"
            span = self._timed(line_no, at, event, f"execute_tool {name}", INTERNAL, parent)
            span.attributes.update({"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": name,
                                    "gen_ai.tool.type": "process"})
            if command := _text(event.get("command")):
                span.attributes["process.command_line"] = redact(command)
            code = int64(event.get("exit_code"))
            if code is not None:
                span.attributes["process.exit.code"] = code
            if failed(event):  # what stats count as a failed process
                span.error, span.message = str(code), f"exit code {code}"
        elif kind == "agent.decision":
            model = _text(event.get("model"))
            span = self._timed(line_no, at, event, f"chat {model}" if model else "chat", CLIENT, parent)
            span.attributes["gen_ai.operation.name"] = "chat"
            for attribute, name in (("gen_ai.request.model", "model"), ("gen_ai.provider.name", "provider"),
                                    ("gen_ai.usage.input_tokens", "tokens_in"),
                                    ("gen_ai.usage.output_tokens", "tokens_out"), ("treeship.summary", "summary")):
                value = _value(event.get(name))
                if name.startswith("tokens") and not (type(value) is int and value >= 0):
                    continue  # a count: a negative one is no count (the store's stats leave it out too)
                if value is not None:
                    span.attributes[attribute] = redact(value) if name in REDACTED and isinstance(value, str) else value
            meta = event.get("meta")
            tokens = meta.get("tokens") if isinstance(meta, dict) and isinstance(meta.get("tokens"), dict) else {}
            for attribute, name in (("gen_ai.usage.cache_read.input_tokens", "cache_read"),
                                    ("gen_ai.usage.cache_creation.input_tokens", "cache_write")):
                if type(tokens.get(name)) is int and tokens[name] >= 0:
                    span.attributes[attribute] = tokens[name]
            provider = span.attributes.get("gen_ai.provider.name")
            if agent is not None and isinstance(provider, str):  # the agent's provider: its model's
                agent.attributes.setdefault("gen_ai.provider.name", provider)
        else:
            attributes = {"treeship.event_id": event.get("event_id"), "treeship.sequence_no": event.get("sequence_no")}
            for attribute, name in SPAN_EVENT_FIELDS.get(kind, ()):
                value = _value(event.get(name))
                if value is not None:
                    attributes[attribute] = redact(value) if name in REDACTED and isinstance(value, str) else value
            attributes = {k: v for k, v in attributes.items() if _value(v) is not None}
            (agent.events if agent is not None else self.root_events).append((kind, at, attributes))
            if kind == "agent.handoff" and agent is not None and (to := _text(event.get("to_agent_instance_id"))):
                agent.links.append((span_id(self.session_id, f"agent\0{to}"), {"treeship.link": "handoff"}))
            return
        span.attributes["gen_ai.conversation.id"] = self.session_id
        if agent is not None:
            agent.start_ns = min(agent.start_ns, span.start_ns)
        self.done.append(span)

    def _agent(self, instance: str, event: dict, at: int) -> Span:
        agent = self.agents.get(instance)
        if agent is None:
            name = _text(event.get("agent_name")) or instance
            agent = self.agents[instance] = Span(
                self.trace, span_id(self.session_id, f"agent\0{instance}"), None, f"invoke_agent {name}", INTERNAL,
                at, at, -1, {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": name,
                             "gen_ai.conversation.id": self.session_id, "treeship.agent_instance_id": instance})
            for attribute, name in (("gen_ai.agent.id", "agent_id"), ("treeship.agent_role", "agent_role")):
                if value := _text(event.get(name)):
                    agent.attributes[attribute] = value
        agent.end_ns = max(agent.end_ns, at)
        return agent

    def _timed(self, line_no: int, at: int, event: dict, name: str, kind: str, parent: bytes) -> Span:
        """A span ending at the event and starting its duration_ms earlier."""
        duration = event.get("duration_ms")
        start = max(at - duration * 1_000_000, 0) if type(duration) is int and 0 <= duration < 2**40 else at
        return Span(self.trace, span_id(self.session_id, f"line\0{line_no}"), parent, name, kind, start, at, line_no,
                    {"treeship.event_id": event.get("event_id")} if _text(event.get("event_id")) else {})

    def _finish_agent(self, instance: str) -> None:
        agent = self.agents[instance]
        parent = self.parents.get(instance)
        agent.parent_id = self.agents[parent].span_id if parent in self.agents else self.root_id
        self.closed.add(instance)
        self.done.append(agent)

    def _close_session(self, line_no: int, at: int, event: dict) -> None:
        """session.closed: what is still open ends here, then the root span."""
        for instance, agent in self.agents.items():
            if instance not in self.closed:
                agent.end_ns, agent.closes_at = max(at, agent.end_ns), line_no
                self._finish_agent(instance)
        several = len(self.agents) > 1
        only = next(iter(self.agents.values()), None)
        name = "invoke_workflow" if several or only is None else only.name
        root = Span(self.trace, self.root_id, None, name, INTERNAL, self.first_ns, max(self.last_ns, at), line_no,
                    {"gen_ai.operation.name": "invoke_workflow" if several or only is None else "invoke_agent",
                     "gen_ai.conversation.id": self.session_id}, self.root_events)
        if not several and only is not None:
            root.attributes["gen_ai.agent.name"] = only.attributes["gen_ai.agent.name"]
            if "gen_ai.provider.name" in only.attributes:  # an invoke_agent span names its provider
                root.attributes["gen_ai.provider.name"] = only.attributes["gen_ai.provider.name"]
        if summary := _text(event.get("summary")):
            root.attributes["treeship.summary"] = redact(summary)
        for span in self.done:
            root.start_ns = min(root.start_ns, span.start_ns)
        self.done.append(root)


def _time_ns(value: object) -> int | None:
    """Nanoseconds since the epoch, or None for a time OTLP cannot carry (an
    unsigned 64-bit count: 1970 to 2554), which a line may hold (9999, year 1)."""
    try:
        at = parse_time(value) * 1000
    except (ValueError, TypeError):
        return None
    return at if 0 <= at < 2**64 else None


def _text(value: object) -> str | None:
    return value if type(value) is str and value else None


def _value(value: object):
    """An attribute value OTLP can carry: a string, a 64-bit integer, a float,
    a bool or a list of strings; anything else is left out."""
    if type(value) in (str, bool, float):
        return value
    if type(value) is int:
        return value if -(2**63) <= value < 2**63 else None
    if type(value) is list and value and all(type(item) is str for item in value):
        return value
    return None
