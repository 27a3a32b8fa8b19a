"""Claude Code's hooks (https://code.claude.com/docs/en/hooks).

Its payloads carry everything the shared mapping reads: tool_response holds a
structuredPatch for edits, Bash's stdout/stderr/interrupted, and a failed
tool comes as PostToolUseFailure with an `error` text ("Exit code 2 ...").
Tokens come from the transcript's assistant lines (transcript.py).
"""

from .mapping import Agent
from .transcript import claude_decisions

CLAUDE_CODE = Agent(name="claude-code", prefix="ai_cc", read_transcript=claude_decisions)

# The hooks `hooks install` adds: every one the mapping records.
HOOKS = ("SessionStart", "SessionEnd", "PostToolUse", "PostToolUseFailure", "SubagentStart", "SubagentStop", "Stop")
