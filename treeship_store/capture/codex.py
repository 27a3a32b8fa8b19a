"""Codex's hooks (https://developers.openai.com/codex/hooks).

The payloads follow Claude Code's, with Codex's own tools: `Bash` (its
tool_response is only the output text: the exit code and duration are taken
from the rollout, transcript.py), `apply_patch` (a patch naming the files it
adds, updates and deletes, with paths relative to the session's directory;
its tool_response is "Exit code: N\nWall time: ...") and MCP tools. Tokens
are read from the rollout at each tool call, Stop and SessionEnd (which
Codex 0.169 sends at the end of every `codex exec`).
"""

from __future__ import annotations

from .mapping import Agent, Context, exit_code_in
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


def codex_tool(ctx: Context) -> list[dict] | None:
    """Codex's own tools; None for the ones the shared mapping knows (and for
    a patch that failed: it wrote nothing, and is recorded as a tool call)."""
    payload = ctx.payload
    if payload.get("tool_name") != "apply_patch":
        return None
    tool_input = payload.get("tool_input")
    values = tool_input.values() if isinstance(tool_input, dict) else [tool_input]
    patch = next((v for v in values if isinstance(v, str) and "*** Begin Patch" in v), None)
    response = payload.get("tool_response")
    code = exit_code_in(response) if isinstance(response, str) else None
    if not patch or code not in (None, 0):
        return None
    files = patch_files(patch)
    for file in files:
        file["file_path"] = ctx.path(file["file_path"])
        if "meta" in file:
            file["meta"]["moved_to"] = ctx.path(file["meta"]["moved_to"])
    return files


CODEX = Agent(name="codex", prefix="ai_cx", read_transcript=codex_decisions, tool_event=codex_tool,
              results_in_transcript=True)

HOOKS = ("SessionStart", "SessionEnd", "PostToolUse", "SubagentStart", "SubagentStop", "Stop")
# Codex cuts a SessionEnd hook to 3 s, and warns about any longer timeout.
TIMEOUTS = {"SessionEnd": 3}
