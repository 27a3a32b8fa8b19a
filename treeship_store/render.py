"""Output for people and for scripts. JSON output is the data as stored (an
event's exact line); tables are for terminals. Not imported on the append path."""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Iterator

import orjson

from .errors import printable
from .event import Event


# Fixed widths, so that `tail -f` can print rows one at a time that line up.
EVENT_COLUMNS = (("TIME", 24), ("SESSION", 20), ("SEQ", 5), ("AGENT", 24), ("TYPE", 23))


def event_detail(event: dict) -> str:
    """The one detail that matters for the event's type."""
    get = event.get
    kind = event["type"]
    if kind == "agent.called_tool":
        return _join(get("tool_name"), _ms(get("duration_ms")))
    if kind in ("agent.read_file", "agent.wrote_file"):
        changes = f"+{get('additions', 0)} -{get('deletions', 0)}" if "additions" in event or "deletions" in event \
            else None
        return _join(get("file_path"), get("operation"), changes)
    if kind == "agent.started_process":
        return _join(get("command") or get("process_name"), get("pid") is not None and f"pid {get('pid')}")
    if kind == "agent.completed_process":
        code = get("exit_code")
        return _join(get("command") or get("process_name"), code is not None and f"exit {code}",
                     _ms(get("duration_ms")))
    if kind == "agent.connected_network":
        return f"{get('destination')}:{get('port')}" if get("port") is not None else str(get("destination"))
    if kind == "agent.opened_port":
        return _join(str(get("port")), get("protocol"))
    if kind == "agent.decision":
        tokens = f"{get('tokens_in', 0)} in / {get('tokens_out', 0)} out" \
            if "tokens_in" in event or "tokens_out" in event else None
        return _join(get("model"), tokens, get("summary"))
    if kind == "agent.spawned":
        return _join(f"by {get('spawned_by_agent_instance_id')}", get("reason"))
    if kind == "agent.handoff":
        return f"{get('from_agent_instance_id')} -> {get('to_agent_instance_id')}"
    if kind == "agent.returned":
        return f"to {get('returned_to_agent_instance_id')}"
    if kind == "agent.collaborated":
        return ", ".join(get("collaborator_agent_instance_ids") or ())
    if kind == "agent.note":  # Treeship 0.31's PreToolUse gate, or what was said (--with-text): meta.text
        meta = get("meta") if isinstance(get("meta"), dict) else {}
        said = meta.get("kind") in ("prompt", "answer") and isinstance(meta.get("turn"), str)
        return _join(said and f"{meta['kind']} (turn {meta['turn'][:8]})",
                     meta.get("text") if isinstance(meta.get("text"), str) else None)
    if kind == "agent.started":
        return _join(get("parent_agent_instance_id") and f"parent {get('parent_agent_instance_id')}")
    return _join(get("termination_reason") or get("reason") or get("summary"), _ms(get("duration_ms")))


def _join(*parts: object) -> str:
    return "  ".join(str(part) for part in parts if part)


def _ms(value: object) -> str | None:
    return f"{value}ms" if value is not None else None


def event_header() -> str:
    return _fit("  ".join(name.ljust(width) for name, width in EVENT_COLUMNS) + "  DETAIL")


def event_row(event: dict) -> str:
    cells = tuple(map(printable, (event["timestamp"], event["session_id"], str(event["sequence_no"]),
                                  event["agent_name"], event["type"])))
    text = "  ".join(_cell(cell, width) for cell, (_, width) in zip(cells, EVENT_COLUMNS))
    return _fit(text + "  " + event_detail(event))


def _cell(text: str, width: int) -> str:
    return text.ljust(width) if len(text) <= width else text[:width - 1] + "…"


def _fit(line: str) -> str:
    """One terminal line: control characters escaped, cut to the width."""
    line = printable(line)
    width = shutil.get_terminal_size((160, 24)).columns
    return line if len(line) <= width else line[:width - 1] + "…"


def event_lines(events: Iterable[Event], output: str) -> Iterator[str]:
    """Events as table rows (with a header), a JSON array, or JSON lines."""
    if output == "table":
        yield event_header()
        for event in events:
            yield event_row(event)
    elif output == "json":
        first = True
        yield "["
        for event in events:
            yield ("" if first else ",") + event.raw.decode()
            first = False
        yield "]"
    else:
        for event in events:
            yield event.raw.decode()


def table(rows: list[list[object]], header: list[str]) -> Iterator[str]:
    cells = [[printable(str(cell)) for cell in row] for row in [header, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for row in cells:
        yield _fit("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


def json_text(value: object) -> str:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()


def summary_lines(summaries: list[dict], output: str, header: list[str], row) -> Iterator[str]:
    """Summaries (sessions, files) as a JSON array, JSON lines, or a table of
    `row(summary)` under `header`."""
    if output == "json":
        yield json_text(summaries)
    elif output == "jsonl":
        for summary in summaries:
            yield orjson.dumps(summary).decode()
    else:
        yield from table([row(summary) for summary in summaries], header)


def session_lines(sessions: list[dict], output: str) -> Iterator[str]:
    priced = bool(sessions) and "cost_usd" in sessions[0]  # with the prices extra (cli/usage.py)
    return summary_lines(sessions, output, ["SESSION", "EVENTS", "DAMAGED", "AGENTS", "FIRST", "LAST",
                                            *["COST"] * priced],
                         lambda s: [s["session_id"], s["events"], s["damaged_lines"], ",".join(s["agents"]),
                                    s["first"] or "-", s["last"] or "-", *([usd(s["cost_usd"])] if priced else [])])


def usd(cost: float | None) -> str:
    return "unknown" if cost is None else f"${cost:,.4f}"


def file_lines(files: list[dict], output: str) -> Iterator[str]:
    return summary_lines(files, output, ["PATH", "EVENTS", "AGENTS", "FIRST", "LAST"],
                         lambda f: [f["file_path"], f["events"], ",".join(f["agents"]), f["first"] or "-",
                                    f["last"] or "-"])


def stats_lines(stats: dict, output: str) -> Iterator[str]:
    if output in ("json", "jsonl"):
        yield json_text(stats) if output == "json" else orjson.dumps(stats).decode()
        return
    cost = stats.get("cost")  # with the prices extra (cli/usage.py)
    yield _fit(f"events {stats['events']}   damaged lines {stats['damaged_lines']}   "
               f"failed processes {stats['failed_processes']}   files written {stats['files_written']}"
               + (f"   cost {usd(cost['usd'])}" if cost else ""))
    for title, counts in (("TYPE", stats["by_type"]), ("AGENT", stats["by_agent"])):
        yield ""
        yield from table([[name, count] for name, count in counts.items()], [title, "EVENTS"])
    if stats["tokens_by_model"]:
        yield ""
        by_model = cost["by_model"] if cost else {}
        yield from table([[model or "-", t["decisions"], t["tokens_in"], t["tokens_out"],
                           *([usd(by_model.get(model or "-"))] if cost else [])]
                          for model, t in stats["tokens_by_model"].items()],
                         ["MODEL", "DECISIONS", "TOKENS IN", "TOKENS OUT", *["COST"] * bool(cost)])
    if cost:
        for model, count in cost["unknown_models"].items():
            yield f"unknown price: {model} ({count} decision(s))"
        yield "prices: " + "; ".join(cost["prices"])
