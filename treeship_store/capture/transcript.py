"""Tokens from an agent's own transcript: one agent.decision per model response.

Both agents append their transcript as JSON lines. A read starts where the
last one stopped (`TranscriptMark`, kept in the record itself: see state.py)
and takes only complete lines, so a line still being written is read next
time. Each response is counted once:

- Claude Code writes one line per content block of a response, each with the
  response's message id and its usage: the first line of an id counts, the
  rest are skipped, across reads too (the last id is kept in the mark).
- Codex writes `token_count` events with the session's running total and the
  last response's usage, sometimes twice in a row: an event counts only when
  the running total moved (the last total is kept in the mark). The model
  comes from the latest `turn_context` line.

tokens_in is every input token the model read (for Claude: input plus cache
reads plus cache creation, as Treeship counts them; Codex's input count
already includes its cached part). tokens_out is output plus reasoning.
"""

from __future__ import annotations

import errno
import os
import stat
import orjson

from ..event import is_rfc3339

MAX_READ = 64 << 20  # one hook reads at most this much transcript; the rest next time


class TranscriptMark:
    """Where a transcript was read up to, and what it takes to go on from there.
    (A plain class: a dataclass costs a hook's cold start a compile per class.)"""
    FIELDS = ("offset", "last_id", "last_total", "model")
    __slots__ = FIELDS

    def __init__(self, offset: int = 0, last_id: str | None = None, last_total: int | None = None,
                 model: str | None = None):
        self.offset = offset
        self.last_id = last_id  # Claude: the last message id counted
        self.last_total = last_total  # Codex: the running total of the last count
        self.model = model  # Codex: the model of the turn in progress

    def as_meta(self, path: str) -> dict:
        return {"path": path, **{name: getattr(self, name) for name in self.FIELDS
                                 if getattr(self, name) is not None}}

    @classmethod
    def from_meta(cls, meta: dict) -> TranscriptMark:
        """A mark from an event's meta (or the cache), keeping only well-typed
        values: a hand-edited line must not jam every later hook."""
        offset, last_id, last_total, model = (meta.get(name) for name in cls.FIELDS)
        return cls(offset if type(offset) is int and offset >= 0 else 0,
                   last_id if isinstance(last_id, str) else None,
                   last_total if type(last_total) is int else None,
                   model if isinstance(model, str) else None)


def new_lines(path: str, offset: int) -> tuple[list[bytes], int]:
    """The complete lines of the file from `offset`, and the offset after them.
    A file that is shorter than `offset` was replaced: read it from the start."""
    # O_NONBLOCK and the check below: a FIFO or a device named as the
    # transcript must fail the hook at once, not hang it with the lock held.
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    with open(fd, "rb") as file:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EINVAL, "not a regular file", path)
        if info.st_size < offset:
            offset = 0
        file.seek(offset)
        data = file.read(MAX_READ)
    end = data.rfind(b"\n") + 1
    return data[:end].split(b"\n")[:-1], offset + end


def claude_decisions(lines: list[bytes], mark: TranscriptMark) -> list[dict]:
    """Decisions for the assistant responses in Claude Code transcript lines."""
    decisions = []
    for line in lines:
        if b'"usage"' not in line:
            continue
        record = _object(line)
        message = record.get("message")
        if record.get("type") != "assistant" or not isinstance(message, dict):
            continue
        usage, model, message_id = message.get("usage"), message.get("model"), message.get("id")
        if not isinstance(usage, dict) or not isinstance(model, str) or model == "<synthetic>":
            continue
        if message_id is not None and message_id == mark.last_id:
            continue  # another content block of a response already counted
        mark.last_id = message_id if isinstance(message_id, str) else None
        tokens_in = sum(_count(usage.get(name)) for name in
                        ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens"))
        decisions.append(_decision(record, model, "anthropic", tokens_in, _count(usage.get("output_tokens")),
                                   message_id))
    return decisions


def codex_decisions(lines: list[bytes], mark: TranscriptMark, provider: str = "openai") -> list[dict]:
    """Decisions for the token counts in Codex transcript (rollout) lines."""
    decisions = []
    for line in lines:
        if b'"turn_context"' not in line and b'"token_count"' not in line:
            continue
        record = _object(line)
        payload = record.get("payload")
        if not isinstance(payload, dict):
            continue
        if record.get("type") == "turn_context":
            if isinstance(payload.get("model"), str):
                mark.model = payload["model"]
            continue
        info = payload.get("info")
        if payload.get("type") != "token_count" or not isinstance(info, dict):
            continue
        total = info.get("total_token_usage")
        last = info.get("last_token_usage")
        running = _count(total.get("total_tokens")) if isinstance(total, dict) else None
        if running is None or running == mark.last_total or not isinstance(last, dict):
            continue  # the same count repeated, or nothing to count
        mark.last_total = running
        tokens_out = _count(last.get("output_tokens")) + _count(last.get("reasoning_output_tokens"))
        decisions.append(_decision(record, mark.model or "unknown", provider, _count(last.get("input_tokens")),
                                   tokens_out, None))
    return decisions


def _decision(record: dict, model: str, provider: str, tokens_in: int, tokens_out: int,
              message_id: str | None) -> dict:
    decision = {"type": "agent.decision", "model": model, "provider": provider, "tokens_in": tokens_in,
                "tokens_out": tokens_out}
    if isinstance(record.get("timestamp"), str) and is_rfc3339(record["timestamp"]):
        decision["timestamp"] = record["timestamp"]  # else the time of the hook
    if message_id:
        decision["meta"] = {"message_id": message_id}
    return decision


def _object(line: bytes) -> dict:
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        return {}
    return record if isinstance(record, dict) else {}


def _count(value: object) -> int:
    """A token count: a non-negative integer below 2**53, else 0."""
    return value if type(value) is int and 0 <= value < 2**53 else 0
