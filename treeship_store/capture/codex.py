"""Codex's hooks (https://developers.openai.com/codex/hooks).

The payloads follow Claude Code's, with Codex's own tools: `Bash` (its
tool_response may be the text the model saw: "Exit code: 1\nWall time: 0.4
seconds\nOutput: ..."), `apply_patch` (a patch naming the files it adds,
updates and deletes) and MCP tools. Codex has no SessionEnd hook: a session's
tokens are read at each Stop.
"""

from __future__ import annotations

from collections.abc import Callable

from .mapping import Agent
from .transcript import codex_decisions

_FILE_HEADERS = {"*** Add File: ": "created", "*** Update File: ": "modified", "*** Delete File: ": "deleted"}


def patch_files(patch: str) -> list[dict]:
    """agent.wrote_file for each file an apply_patch patch touches, with the
    lines it adds and removes."""
    files: list[dict] = []
    for line in patch.splitlines():
        header = next((h for h in _FILE_HEADERS if line.startswith(h)), None)
        if header:
            files.append({"type": "agent.wrote_file", "file_path": line[len(header):].strip(),
                          "operation": _FILE_HEADERS[header], "additions": 0, "deletions": 0})
        elif line.startswith("*** Move to: ") and files:
            files[-1]["meta"] = {"moved_to": line[len("*** Move to: "):].strip()}
        elif files and line.startswith("+"):
            files[-1]["additions"] += 1
        elif files and line.startswith("-"):
            files[-1]["deletions"] += 1
    return [f for f in files if f["file_path"]]


def codex_tool(payload: dict, event: Callable) -> list[dict] | None:
    """Codex's own tools; None for the ones the shared mapping knows."""
    if payload.get("tool_name") != "apply_patch":
        return None
    tool_input = payload.get("tool_input")
    values = tool_input.values() if isinstance(tool_input, dict) else [tool_input]
    patch = next((v for v in values if isinstance(v, str) and "*** Begin Patch" in v), None)
    return patch_files(patch) if patch else None


CODEX = Agent(name="codex", prefix="ai_cx", read_transcript=codex_decisions, tool_event=codex_tool)

HOOKS = ("SessionStart", "PostToolUse", "SubagentStart", "SubagentStop", "Stop")
