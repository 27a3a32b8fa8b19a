"""A real OTLP/HTTP receiver for the tests: a server on 127.0.0.1 (a free
port) that decodes each ExportTraceServiceRequest with opentelemetry-proto
and keeps the spans as a backend would see them. `answers` scripts what the
next requests get (a status and headers) before it starts accepting."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)


@dataclass
class Received:
    resource: dict
    trace_id: str
    span_id: str
    parent_id: str
    name: str
    kind: int
    start: int
    end: int
    attributes: dict
    events: list = field(default_factory=list)  # (name, time, attributes)
    links: list = field(default_factory=list)  # span ids
    status: int = 0
    message: str = ""


def _value(any_value):
    kind = any_value.WhichOneof("value")
    if kind == "array_value":
        return [_value(item) for item in any_value.array_value.values]
    return getattr(any_value, kind) if kind else None


def _attributes(pairs) -> dict:
    return {pair.key: _value(pair.value) for pair in pairs}


class Receiver:
    def __init__(self, port: int = 0):
        self.spans: list[Received] = []
        self.requests: list[dict] = []  # headers of every request (GET too), answered or not
        self.answers: list[tuple[int, dict]] = []  # (status, headers) for the next requests, then 200
        self.max_body: int | None = None  # larger requests get 413, as a collector's intake limit answers
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the stdlib's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.lock:
                    receiver.requests.append(dict(self.headers))
                    status, headers = receiver.answers.pop(0) if receiver.answers else (200, {})
                    if status == 200 and receiver.max_body is not None and len(body) > receiver.max_body:
                        status = 413
                    if status == 200:
                        receiver._keep(body, self.path, self.headers.get("Content-Type"))
                payload = ExportTraceServiceResponse().SerializeToString() if status == 200 else b"busy"
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_GET(self):  # noqa: N802 - how many spans were kept, for a receiver in another process
                with receiver.lock:
                    receiver.requests.append(dict(self.headers))
                body = str(len(receiver.spans)).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _keep(self, body: bytes, path: str, content_type: str) -> None:
        assert path == "/v1/traces" and content_type == "application/x-protobuf"
        message = ExportTraceServiceRequest()
        message.ParseFromString(body)
        for resource_spans in message.resource_spans:
            resource = _attributes(resource_spans.resource.attributes)
            for scope in resource_spans.scope_spans:
                for span in scope.spans:
                    self.spans.append(Received(
                        resource, span.trace_id.hex(), span.span_id.hex(), span.parent_span_id.hex(), span.name,
                        span.kind, span.start_time_unix_nano, span.end_time_unix_nano, _attributes(span.attributes),
                        [(e.name, e.time_unix_nano, _attributes(e.attributes)) for e in span.events],
                        [link.span_id.hex() for link in span.links], span.status.code, span.status.message))

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


if __name__ == "__main__":  # a receiver in a process of its own (scripts/bench_otel.py): prints its port
    import sys
    receiver = Receiver()
    print(receiver.port, flush=True)
    sys.stdin.read()  # until the parent closes it
