"""Hook payloads and transcripts as Claude Code and Codex send and write them
(shapes from their hook references and JSON schemas), for tests/test_capture.py."""

import json

CLAUDE_SESSION = "7c1f9e2a-4b3d-4e5f-8a6b-1c2d3e4f5a6b"
CODEX_SESSION = "019a9776-0a34-7842-8627-112b63d66e90"
SECRET = "sk-proj-AbCdEfGhIjKlMnOpQrStUvWx0123"


def claude(hook, cwd, transcript="", **fields):
    return {"session_id": CLAUDE_SESSION, "transcript_path": transcript, "cwd": str(cwd),
            "permission_mode": "default", "hook_event_name": hook, **fields}


def claude_tool(cwd, tool, tool_input, response, *, failed=False, agent=None, **fields):
    extra = {"agent_id": agent, "agent_type": "Explore"} if agent else {}
    hook = "PostToolUseFailure" if failed else "PostToolUse"
    body = {"error": response} if failed else {"tool_response": response}
    return claude(hook, cwd, tool_name=tool, tool_input=tool_input, tool_use_id=f"toolu_{tool}",
                  **body, **extra, **fields)


def claude_tool_calls(cwd):
    """(payload, expected type and fields) for each tool the mapping knows."""
    return [
        (claude_tool(cwd, "Read", {"file_path": "/p/README.md", "offset": 1}, {"type": "text"}),
         "agent.read_file", {"file_path": "/p/README.md"}),
        (claude_tool(cwd, "Write", {"file_path": "/p/new.py", "content": "a\nb\nc\n"},
                     {"type": "create", "filePath": "/p/new.py", "content": "a\nb\nc\n", "structuredPatch": []}),
         "agent.wrote_file", {"file_path": "/p/new.py", "operation": "created", "additions": 3, "deletions": 0}),
        (claude_tool(cwd, "Edit", {"file_path": "/p/app.py", "old_string": "x = 1", "new_string": "x = 2\ny = 3"},
                     {"filePath": "/p/app.py", "structuredPatch": [
                         {"oldStart": 1, "oldLines": 1, "newStart": 1, "newLines": 2,
                          "lines": ["-x = 1", "+x = 2", "+y = 3", " z = 4"]}]}),
         "agent.wrote_file", {"file_path": "/p/app.py", "operation": "modified", "additions": 2, "deletions": 1}),
        (claude_tool(cwd, "MultiEdit", {"file_path": "/p/m.py", "edits": [
            {"old_string": "a", "new_string": "b\nc"}, {"old_string": "d\ne", "new_string": "f"}]}, {}),
         "agent.wrote_file", {"file_path": "/p/m.py", "operation": "modified", "additions": 3, "deletions": 3}),
        (claude_tool(cwd, "NotebookEdit", {"notebook_path": "/p/n.ipynb", "new_source": "x", "edit_mode": "insert"},
                     {}), "agent.wrote_file", {"file_path": "/p/n.ipynb", "operation": "modified"}),
        (claude_tool(cwd, "Bash", {"command": f"OPENAI_API_KEY={SECRET} pytest -q", "description": "tests"},
                     {"stdout": "3 passed", "stderr": "", "interrupted": False, "isImage": False}, duration_ms=812),
         "agent.completed_process", {"process_name": "pytest", "duration_ms": 812}),
        (claude_tool(cwd, "Bash", {"command": "cargo build"}, "Exit code 101\nerror[E0425]: cannot find value",
                     failed=True),
         "agent.completed_process", {"process_name": "cargo", "command": "cargo build", "exit_code": 101}),
        (claude_tool(cwd, "WebFetch", {"url": "https://docs.example.com:8443/guide?token=abc123", "prompt": "sum"},
                     {"code": 200}), "agent.connected_network", {"destination": "docs.example.com", "port": 8443}),
        (claude_tool(cwd, "WebSearch", {"query": "sqlite fts5 tokenizer"}, {"results": []}),
         "agent.connected_network", {"destination": "web-search"}),
        (claude_tool(cwd, "mcp__github__create_issue", {"title": "bug"}, {"number": 7}, duration_ms=120),
         "agent.called_tool", {"tool_name": "mcp__github__create_issue", "duration_ms": 120}),
        # Sub-agents by the Task tool (older Claude Code; newer ones also send SubagentStart/Stop).
        (claude_tool(cwd, "Task", {"subagent_type": "Explore", "description": "find the parser",
                                   "prompt": "look for it"}, {"content": [{"type": "text", "text": "found"}]}),
         "agent.called_tool", {"tool_name": "Task"}),
    ]


def claude_transcript_lines():
    """Responses as Claude Code writes them: one line per content block, the
    same message id and usage on each, a synthetic one that is no response."""
    opus = {"input_tokens": 10, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 5, "output_tokens": 20}
    return [
        {"type": "user", "message": {"role": "user", "content": "fix it"}, "timestamp": "2026-11-24T10:00:00.000Z"},
        {"type": "assistant", "requestId": "req_1", "timestamp": "2026-11-24T10:00:01.000Z",
         "message": {"id": "msg_1", "model": "claude-opus-4-1", "usage": opus, "content": [{"type": "text"}]}},
        {"type": "assistant", "requestId": "req_1", "timestamp": "2026-11-24T10:00:01.200Z",
         "message": {"id": "msg_1", "model": "claude-opus-4-1", "usage": opus, "content": [{"type": "tool_use"}]}},
        {"type": "assistant", "requestId": "req_2", "timestamp": "2026-11-24T10:00:03.000Z",
         "message": {"id": "msg_2", "model": "claude-haiku-4-5", "usage": {"input_tokens": 7, "output_tokens": 3}}},
        {"type": "assistant", "timestamp": "2026-11-24T10:00:04.000Z",
         "message": {"id": "msg_3", "model": "<synthetic>", "usage": {"input_tokens": 0, "output_tokens": 0}}},
    ]


def codex_transcript_lines():
    """A Codex rollout: the model from turn_context, running totals in
    token_count events, one of them written twice."""
    def count(total, last):
        return {"timestamp": "2026-11-24T11:00:02.000Z", "type": "event_msg",
                "payload": {"type": "token_count", "info": {"total_token_usage": total, "last_token_usage": last}}}
    first = {"input_tokens": 100, "cached_input_tokens": 40, "output_tokens": 10, "reasoning_output_tokens": 5,
             "total_tokens": 115}
    second = {"input_tokens": 50, "cached_input_tokens": 0, "output_tokens": 15, "reasoning_output_tokens": 0,
              "total_tokens": 65}
    running = {"input_tokens": 150, "cached_input_tokens": 40, "output_tokens": 25, "reasoning_output_tokens": 5,
               "total_tokens": 180}
    return [
        {"timestamp": "2026-11-24T11:00:00.000Z", "type": "session_meta",
         "payload": {"id": CODEX_SESSION, "model_provider": "openai"}},
        {"timestamp": "2026-11-24T11:00:00.100Z", "type": "turn_context", "payload": {"model": "gpt-5-codex"}},
        {"timestamp": "2026-11-24T11:00:01.000Z", "type": "event_msg", "payload": {"type": "token_count",
                                                                                "info": None}},
        count(first, first), count(first, first), count(running, second),
    ]


def write_lines(path, lines, mode="w"):
    with open(path, mode) as file:
        for line in lines:
            file.write(json.dumps(line) + "\n")


def codex(hook, cwd, transcript=None, **fields):
    return {"session_id": CODEX_SESSION, "turn_id": "019d036d-c7fa-72d2-b6fd-78878bfe34e4",
            "transcript_path": transcript, "cwd": str(cwd), "hook_event_name": hook, "model": "gpt-5-codex",
            "permission_mode": "default", **fields}


APPLY_PATCH = """*** Begin Patch
*** Add File: src/new.rs
+fn main() {}
+
*** Update File: src/lib.rs
@@ fn old()
-    old();
+    new();
+    more();
*** Delete File: src/gone.rs
*** End Patch
"""
