"""A scripted model server for driving the real agents offline: the Anthropic
Messages API (Claude Code) and the OpenAI Responses API (Codex), both
streaming, on 127.0.0.1.

A script is a list of conversations, each named by a marker that appears in
the prompt that opens it (the user's prompt, a sub-agent's prompt). A request
belongs to the conversation whose marker is in its latest user message that
has one, and its step is the number of model turns after that message, so a
retried request gets the same answer and a resumed session starts over at
the script's first turn. Each turn is what the model answers: text, tool
calls, and a fixed usage, so that expected token totals are exact. Every
answer is logged (conversation, step, model, usage, message id), which is
what the tests compare the stored decisions with.

Run: python tests/support/model_server.py SCRIPT.json LOG.jsonl PORT_FILE
(PORT_FILE receives the port once the server listens.)
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DEFAULT_TURN = {"text": "Done.", "usage": {"input_tokens": 7, "output_tokens": 3}}


class Script:
    def __init__(self, conversations: dict[str, list[dict]]):
        self.conversations = conversations
        self.log: list[dict] = []
        self.lock = threading.Lock()

    def turn(self, marker: str | None, step: int) -> dict:
        turns = self.conversations.get(marker) or []
        return turns[step] if step < len(turns) else DEFAULT_TURN

    def record(self, entry: dict, log_path: str | None) -> None:
        with self.lock:
            self.log.append(entry)
            if log_path:
                with open(log_path, "a") as log:
                    log.write(json.dumps(entry) + "\n")


def _texts(content) -> str:
    if isinstance(content, str):
        return content
    parts = []
    for block in content or ():
        if isinstance(block, dict):
            for key in ("text", "content"):
                if isinstance(block.get(key), (str, list)):
                    parts.append(_texts(block[key]))
    return "\n".join(parts)


def _position(script: Script, messages: list[dict], is_user, is_turn) -> tuple[str | None, int]:
    """(conversation marker, step) of a request's messages."""
    for index in range(len(messages) - 1, -1, -1):
        if is_user(messages[index]):
            text = _texts(messages[index].get("content"))
            marker = next((m for m in script.conversations if m in text), None)
            if marker:
                return marker, sum(1 for message in messages[index + 1:] if is_turn(message))
    return None, 0


def _usage_total(usage: dict) -> int:
    return sum(v for k, v in usage.items() if isinstance(v, int) and k != "total_tokens")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    script: Script
    log_path: str | None = None

    def log_message(self, *args) -> None:
        pass

    def do_GET(self):  # noqa: N802 - the stdlib's name
        self._json(200, {"data": [], "models": []})

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if os.environ.get("MODEL_SERVER_DUMP"):  # every request whole, to study a new agent version
            with open(os.environ["MODEL_SERVER_DUMP"], "ab") as dump:
                dump.write(body + b"\n")
        request = json.loads(body or b"{}")
        path = self.path.split("?")[0]
        if path.endswith("/v1/messages") and request.get("stream"):
            self._anthropic(request)
        elif path.endswith("/responses"):
            self._openai(request)
        elif path.endswith("/count_tokens"):
            self._json(200, {"input_tokens": 100})
        else:
            self._json(404, {"error": {"type": "not_found", "message": path}})

    def _json(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True

    def _event(self, name: str, data: dict) -> None:
        self.wfile.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())

    # -- Anthropic Messages ------------------------------------------------
    def _anthropic(self, request: dict) -> None:
        script = self.script
        marker, step = _position(
            script, request.get("messages") or [],
            lambda m: m.get("role") == "user" and any(
                isinstance(b, dict) and b.get("type") == "text" for b in (m.get("content") or [])
            ) if isinstance(m.get("content"), list) else m.get("role") == "user",
            lambda m: m.get("role") == "assistant")
        turn = script.turn(marker, step)
        model = request.get("model") or "claude-unknown"
        message_id = f"msg_{_slug(marker)}_{step}"
        usage = {"input_tokens": 0, "output_tokens": 0, "cache_read_input_tokens": 0,
                 "cache_creation_input_tokens": 0, **turn["usage"]}
        if "cache_creation" in turn:
            usage["cache_creation"] = turn["cache_creation"]
        script.record({"api": "anthropic", "conversation": marker, "step": step, "model": model,
                       "id": message_id, "usage": usage}, self.log_path)
        self._stream()
        start_usage = {**usage, "output_tokens": 1}
        self._event("message_start", {"type": "message_start", "message": {
            "id": message_id, "type": "message", "role": "assistant", "model": model, "content": [],
            "stop_reason": None, "stop_sequence": None, "usage": start_usage}})
        blocks = turn.get("tools") or []
        index = 0
        if turn.get("text"):
            self._event("content_block_start", {"type": "content_block_start", "index": 0,
                                                "content_block": {"type": "text", "text": ""}})
            self._event("content_block_delta", {"type": "content_block_delta", "index": 0,
                                                "delta": {"type": "text_delta", "text": turn["text"]}})
            self._event("content_block_stop", {"type": "content_block_stop", "index": 0})
            index = 1
        for number, tool in enumerate(blocks):
            self._event("content_block_start", {"type": "content_block_start", "index": index, "content_block": {
                "type": "tool_use", "id": f"toolu_{_slug(marker)}_{step}_{number}", "name": tool["name"],
                "input": {}}})
            self._event("content_block_delta", {"type": "content_block_delta", "index": index, "delta": {
                "type": "input_json_delta", "partial_json": json.dumps(tool["input"])}})
            self._event("content_block_stop", {"type": "content_block_stop", "index": index})
            index += 1
        self._event("message_delta", {"type": "message_delta", "delta": {
            "stop_reason": "tool_use" if blocks else "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": usage["output_tokens"]}})
        self._event("message_stop", {"type": "message_stop"})
        self.wfile.flush()

    # -- OpenAI Responses --------------------------------------------------
    def _openai(self, request: dict) -> None:
        script = self.script
        items = request.get("input") or []
        if isinstance(items, str):
            items = [{"type": "message", "role": "user", "content": items}]
        marker, step = _position(
            script, items, lambda item: item.get("role") == "user",
            lambda item: item.get("type") in ("function_call", "custom_tool_call", "local_shell_call")
            or (item.get("type") == "message" and item.get("role") == "assistant"))
        turn = script.turn(marker, step)
        model = request.get("model") or "gpt-unknown"
        response_id = f"resp_{_slug(marker)}_{step}"
        usage = {"input_tokens": 0, "output_tokens": 0, **turn["usage"]}
        cached = usage.pop("cached_input_tokens", 0)
        reasoning = usage.pop("reasoning_output_tokens", 0)
        wire_usage = {"input_tokens": usage["input_tokens"], "input_tokens_details": {"cached_tokens": cached},
                      "output_tokens": usage["output_tokens"],
                      "output_tokens_details": {"reasoning_tokens": reasoning},
                      "total_tokens": usage["input_tokens"] + usage["output_tokens"]}
        script.record({"api": "openai", "conversation": marker, "step": step, "model": model, "id": response_id,
                       "usage": wire_usage}, self.log_path)
        self._stream()
        response = {"id": response_id, "object": "response", "model": model, "status": "in_progress", "output": []}
        self._event("response.created", {"type": "response.created", "response": response})
        output = []
        if turn.get("text"):
            output.append({"type": "message", "id": f"msg_{response_id}", "role": "assistant", "status": "completed",
                           "content": [{"type": "output_text", "text": turn["text"], "annotations": []}]})
        for number, tool in enumerate(turn.get("tools") or []):
            call_id = f"call_{_slug(marker)}_{step}_{number}"
            if tool.get("custom"):
                output.append({"type": "custom_tool_call", "id": f"ctc_{call_id}", "call_id": call_id,
                               "name": tool["name"], "input": tool["input"], "status": "completed"})
            else:
                output.append({"type": "function_call", "id": f"fc_{call_id}", "call_id": call_id,
                               "name": tool["name"], "arguments": json.dumps(tool["input"]), "status": "completed"})
        for index, item in enumerate(output):
            self._event("response.output_item.added", {"type": "response.output_item.added", "output_index": index,
                                                       "item": item})
            self._event("response.output_item.done", {"type": "response.output_item.done", "output_index": index,
                                                      "item": item})
        self._event("response.completed", {"type": "response.completed", "response": {
            **response, "status": "completed", "output": output, "usage": wire_usage}})
        self.wfile.flush()


def _slug(marker: str | None) -> str:
    return re.sub(r"[^A-Za-z0-9]", "", marker or "none")[:24] or "none"


def serve(script: Script, log_path: str | None = None, port: int = 0) -> ThreadingHTTPServer:
    """A server on 127.0.0.1 answering from `script`, in a daemon thread."""
    handler = type("ScriptedHandler", (Handler,), {"script": script, "log_path": log_path})
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


if __name__ == "__main__":
    script_path, log_path, port_file = sys.argv[1:4]
    with open(script_path) as file:
        server = serve(Script(json.load(file)), log_path)
    with open(port_file, "w") as file:
        file.write(str(server.server_address[1]))
    threading.Event().wait()
