"""What the agents' own transcripts add to a hook: tokens, and Codex's exit codes.

Both agents append their transcript as JSON lines. A read starts where the
last one stopped (`TranscriptMark`, kept in the record itself: see state.py)
and takes only complete lines, so a line still being written is read next
time. Each model response becomes one agent.decision, counted once:

- Claude Code writes one line per content block of a response, each with the
  response's message id and its usage. The first line of an id counts; the
  ids counted lately are kept in the mark, so blocks of two responses
  written interleaved (A B A B) still count two.
- Codex 0.169 writes a `token_usage_record` per response, with its id; older
  rollouts have only `token_count` events with the running total, sometimes
  twice in a row: one counts only when the total moved, and only in a
  rollout without records. The model comes from the latest `turn_context`,
  the provider from `session_meta`.
- A Codex shell command's exit code and duration are in the rollout's
  `item_completed` line for its call id, written before PostToolUse runs:
  they wait in the mark until the hook for that call takes them.

tokens_in is every input token the model read and tokens_out every output
token, reasoning included (as Treeship and both APIs count them); `meta.tokens`
keeps the breakdown prices need: uncached input, cache reads, cache writes
(5-minute and 1-hour where the agent says), output, and the reasoning part
of output.
"""

from __future__ import annotations

import errno
import os
import stat

from .. import jsoncodec
from ..event import is_rfc3339

MAX_READ = 64 << 20  # one hook reads at most this much transcript; the rest next time
RECENT_IDS = 8  # responses remembered (by a short digest of the id) to skip their later blocks
PENDING_COMMANDS = 64  # Codex command results kept for hooks still to come


class TranscriptMark:
    """Where a transcript was read up to, and what it takes to go on from there.
    (A plain class: a dataclass costs a hook's cold start a compile per class.)"""
    FIELDS = ("offset", "recent", "last_total", "model", "provider", "records", "commands", "skipped", "instance")
    __slots__ = FIELDS

    def __init__(self, offset: int = 0, recent: list[str] | None = None, last_total: int | None = None,
                 model: str | None = None, provider: str | None = None, records: bool = False,
                 commands: dict[str, list] | None = None, skipped: int = 0, instance: str | None = None):
        self.offset = offset
        self.recent = recent or []  # crc32 of the response ids counted last, newest last
        self.last_total = last_total  # Codex token_count: the running total of the last count
        self.model = model  # Codex: the model of the turn in progress
        self.provider = provider  # Codex: the session's model provider
        self.records = records  # Codex: the rollout has token_usage_record lines
        self.commands = commands or {}  # Codex: call id -> [exit code, duration ms], not yet taken
        self.skipped = skipped  # lines too long to read (over MAX_READ), passed over
        self.instance = instance  # the agent instance whose responses the transcript holds

    def as_meta(self, path: str) -> dict:
        meta = {"path": path}
        for name in self.FIELDS:
            value = getattr(self, name)
            if value or (name == "offset"):
                meta[name] = value.copy() if isinstance(value, (list, dict)) else value
        return meta

    @classmethod
    def from_meta(cls, meta: dict) -> TranscriptMark:
        """A mark from an event's meta (or the cache), keeping only well-typed
        values: a hand-edited line must not jam every later hook."""
        offset, recent, last_total, model, provider, records, commands, skipped, instance = (
            meta.get(name) for name in cls.FIELDS)
        if recent is None and isinstance(meta.get("last_id"), str):  # a mark written before `recent`
            recent = [_short(meta["last_id"])]
        return cls(offset if type(offset) is int and offset >= 0 else 0,
                   [i for i in recent if isinstance(i, str)][-RECENT_IDS:] if isinstance(recent, list) else None,
                   last_total if type(last_total) is int else None,
                   model if isinstance(model, str) else None,
                   provider if isinstance(provider, str) else None,
                   records is True,
                   {k: v for k, v in commands.items() if isinstance(v, list) and len(v) == 2}
                   if isinstance(commands, dict) else None,
                   skipped if type(skipped) is int and skipped >= 0 else 0,
                   instance if isinstance(instance, str) else None)

    def counted(self, response_id: str | None) -> bool:
        """Whether the response was counted already; remembers it if not."""
        if response_id is None:
            return False
        key = _short(response_id)  # the mark travels in the record: keep it short
        if key in self.recent:
            return True
        self.recent = (self.recent + [key])[-RECENT_IDS:]
        return False


def new_lines(path: str, mark: TranscriptMark) -> list[bytes]:
    """The complete lines of the file after the mark; moves the mark past them.

    A file now shorter than the mark was replaced by a shorter copy (a restore):
    everything in it was read already, so reading goes on from its new end
    rather than from 0, which would count its responses again. A line longer
    than MAX_READ is passed over (counted in the mark), never waited for."""
    # O_NONBLOCK and the check below: a FIFO or a device named as the
    # transcript must fail the hook at once, not hang it with the lock held.
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    with open(fd, "rb") as file:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EINVAL, "not a regular file", path)
        if info.st_size < mark.offset:
            mark.offset = info.st_size
        file.seek(mark.offset)
        data = file.read(MAX_READ)
        end = data.rfind(b"\n") + 1
        if end == 0 and len(data) == MAX_READ:  # one line longer than a read: pass over it
            after = _after_next_newline(file, mark.offset + len(data))
            if after is not None:
                mark.offset = after
                mark.skipped += 1
            return []
    mark.offset += end
    return data[:end].split(b"\n")[:-1]


def _after_next_newline(file, position: int) -> int | None:
    """The offset after the first newline at or after `position`; None if the
    line is not complete yet."""
    file.seek(position)
    while chunk := file.read(1 << 20):
        found = chunk.find(b"\n")
        if found >= 0:
            return position + found + 1
        position += len(chunk)
    return None


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
        if mark.counted(message_id if isinstance(message_id, str) else None):
            continue  # another content block of a response already counted
        cache_write = _count(usage.get("cache_creation_input_tokens"))
        split = usage.get("cache_creation") if isinstance(usage.get("cache_creation"), dict) else {}
        details = usage.get("output_tokens_details") if isinstance(usage.get("output_tokens_details"), dict) else {}
        tokens = {"input": _count(usage.get("input_tokens")), "cache_read": _count(usage.get("cache_read_input_tokens")),
                  "cache_write": cache_write,
                  "cache_write_5m": _count(split.get("ephemeral_5m_input_tokens")),
                  "cache_write_1h": _count(split.get("ephemeral_1h_input_tokens")),
                  "output": _count(usage.get("output_tokens")), "reasoning": _count(details.get("thinking_tokens"))}
        decisions.append(_decision(record, model, "anthropic", tokens, message_id))
    return decisions


def codex_decisions(lines: list[bytes], mark: TranscriptMark) -> list[dict]:
    """Decisions for the responses in Codex rollout lines; command results go
    into the mark for the hooks of their calls."""
    decisions = []
    for line in lines:
        if b'"token_usage_record"' in line:
            record = _object(line)
            payload = record.get("payload")
            usage = payload.get("usage") if isinstance(payload, dict) else None
            response_id = payload.get("response_id") if isinstance(payload, dict) else None
            if record.get("type") != "token_usage_record" or not isinstance(usage, dict):
                continue
            mark.records = True
            if not mark.counted(response_id if isinstance(response_id, str) else None):
                decisions.append(_decision(record, mark.model or "unknown", mark.provider or "openai",
                                           _codex_tokens(usage), response_id))
        elif b'"token_count"' in line and not mark.records:
            record = _object(line)
            payload = record.get("payload")
            info = payload.get("info") if isinstance(payload, dict) else None
            if not isinstance(info, dict) or payload.get("type") != "token_count":
                continue
            total, last = info.get("total_token_usage"), info.get("last_token_usage")
            running = _count(total.get("total_tokens")) if isinstance(total, dict) else None
            if running is None or running == mark.last_total or not isinstance(last, dict):
                continue  # the same count repeated, or nothing to count
            mark.last_total = running
            decisions.append(_decision(record, mark.model or "unknown", mark.provider or "openai",
                                       _codex_tokens(last), None))
        elif b'"CommandExecution"' in line:
            _command_result(_object(line), mark)
        elif b'"turn_context"' in line or b'"session_meta"' in line:
            record = _object(line)
            payload = record.get("payload") if isinstance(record.get("payload"), dict) else {}
            if record.get("type") == "turn_context" and isinstance(payload.get("model"), str):
                mark.model = payload["model"]
            elif record.get("type") == "session_meta" and isinstance(payload.get("model_provider"), str):
                mark.provider = payload["model_provider"]
    return decisions


def _command_result(record: dict, mark: TranscriptMark) -> None:
    payload = record.get("payload")
    item = payload.get("item") if isinstance(payload, dict) else None
    if not isinstance(item, dict) or item.get("type") != "CommandExecution" or not isinstance(item.get("id"), str):
        return
    code = item.get("exit_code")
    duration = item.get("duration")
    ms = None
    if isinstance(duration, dict) and type(duration.get("secs")) is int and type(duration.get("nanos")) is int:
        ms = duration["secs"] * 1000 + duration["nanos"] // 1_000_000
    mark.commands[item["id"]] = [code if type(code) is int and -(2**63) <= code < 2**63 else None,
                                 ms if ms is not None and 0 <= ms < 2**63 else None]
    while len(mark.commands) > PENDING_COMMANDS:
        del mark.commands[next(iter(mark.commands))]


def _codex_tokens(usage: dict) -> dict:
    """The breakdown of an OpenAI usage: input_tokens includes the cached part,
    output_tokens includes reasoning (added again, reasoning would count twice)."""
    total_in = _count(usage.get("input_tokens"))
    cached = min(_count(usage.get("cached_input_tokens")), total_in)
    cache_write = min(_count(usage.get("cache_write_input_tokens")), total_in - cached)
    return {"input": total_in - cached - cache_write, "cache_read": cached, "cache_write": cache_write,
            "output": _count(usage.get("output_tokens")), "reasoning": _count(usage.get("reasoning_output_tokens"))}


def _decision(record: dict, model: str, provider: str, tokens: dict, response_id: object) -> dict:
    decision = {"type": "agent.decision", "model": model, "provider": provider,
                "tokens_in": tokens["input"] + tokens["cache_read"] + tokens["cache_write"],
                "tokens_out": tokens["output"]}
    if isinstance(record.get("timestamp"), str) and is_rfc3339(record["timestamp"]):
        decision["timestamp"] = record["timestamp"]  # else the time of the hook
    meta = {"tokens": {key: value for key, value in tokens.items() if value or key in ("input", "output")}}
    if isinstance(response_id, str) and response_id:
        meta["message_id"] = response_id
    decision["meta"] = meta
    return decision


def _object(line: bytes) -> dict:
    try:
        record = jsoncodec.loads(line)
    except ValueError:
        return {}
    return record if isinstance(record, dict) else {}


def _short(response_id: str) -> str:
    import zlib  # noqa: PLC0415 - only when there are responses to count
    return f"{zlib.crc32(response_id.encode()):08x}"


def _count(value: object) -> int:
    """A token count: a non-negative integer below 2**53, else 0."""
    return value if type(value) is int and 0 <= value < 2**53 else 0
