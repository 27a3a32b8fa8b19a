"""OTLP over HTTP/protobuf: spans into an ExportTraceServiceRequest, posted
to a collector, retried as the OTLP specification says.

Built on opentelemetry-proto (the project's own generated messages) and the
standard library's HTTP client rather than the SDK's exporter: the SDK
assigns random ids, batches in the background and reports success to no
one, while an export that must advance its position only after the
collector accepted a batch needs the answer to each request.
"""

from __future__ import annotations

import base64
import email.utils
import http.client
import os
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, InstrumentationScope, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan
from opentelemetry.proto.trace.v1.trace_pb2 import Status

from .. import __version__
from ..errors import ExportTooLarge, ExportUnavailable, ValidationError
from ..spans import CLIENT, Span

DEFAULT_ENDPOINT = "http://localhost:4318"
# Worth waiting for: the OTLP/HTTP specification's 429/502/503/504, and also
# 408 and any other 5xx (a collector's passing fault), but 501 and 505, which
# say the collector will never take this request. Other 4xx will not change.
RETRYABLE = {408, 429, *range(500, 600)} - {501, 505}
TIMEOUT = 10.0  # seconds a request may take as a whole (the OTLP default), unless OTEL_EXPORTER_OTLP_TIMEOUT says
SLOWEST_UPLOAD = 128 << 10  # bytes a second: a request may take a second more per this much it sends
# An answer is a count of rejected spans and a message: more is not read (a
# collector answering a gigabyte would otherwise take the exporter's memory).
ANSWER_BYTES = 64 << 10
MAX_BACKOFF = 30.0
MAX_REQUEST_BYTES = 4 << 20  # collectors' common intake limit (the gRPC default); larger requests are split
VALUE_LIMIT = 4096  # characters of a string attribute, unless OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT says otherwise
KINDS = {CLIENT: ProtoSpan.SPAN_KIND_CLIENT}


@dataclass(frozen=True)
class Collector:
    url: str  # where traces are posted
    headers: tuple[tuple[str, str], ...]  # never printed: they carry API keys
    value_limit: int = VALUE_LIMIT  # longer string attributes are cut: a collector refuses a huge span
    timeout: float = TIMEOUT  # seconds a small request may take, from connecting to the last byte of the answer

    @property
    def shown(self) -> str:
        """The URL without credentials or query, for messages and as the key of positions."""
        return _shown(self.url)


def _shown(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    return urllib.parse.urlunsplit((parts.scheme, f"{host}:{parts.port}" if parts.port else host, parts.path, "", ""))


def collector(endpoint: str | None, environ=os.environ) -> Collector:
    """The collector from --endpoint or the OTEL_EXPORTER_OTLP_* variables.
    A signal-specific endpoint (and --endpoint with a path) is used as is;
    the general one gets /v1/traces, as the OTLP exporter specification says."""
    if endpoint:
        url = endpoint if urllib.parse.urlsplit(endpoint).path not in ("", "/") else _traces(endpoint)
    elif environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        url = environ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]
    else:
        url = _traces(environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or DEFAULT_ENDPOINT)
    parts = urllib.parse.urlsplit(url)
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or not url.isprintable() \
            or any(c.isspace() for c in url):
        raise ValidationError(f"not an OTLP/HTTP endpoint: {_no_secrets(url)!r} (give http://host:4318 or "
                              "https://...)")
    text = environ.get("OTEL_EXPORTER_OTLP_TRACES_HEADERS") or environ.get("OTEL_EXPORTER_OTLP_HEADERS") or ""
    limit = _number(environ.get("OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT")
                    or environ.get("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT"), "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT",
                    "a number of characters", VALUE_LIMIT)
    milliseconds = _number(environ.get("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT")
                           or environ.get("OTEL_EXPORTER_OTLP_TIMEOUT"), "OTEL_EXPORTER_OTLP_TIMEOUT",
                           "a number of milliseconds", int(TIMEOUT * 1000))
    headers = _headers(text)
    if parts.username is not None or parts.password is not None:
        # http://user:password@host: sent as Basic authentication (urllib would
        # take the user:password@ for part of the host name), never printed.
        credentials = f"{urllib.parse.unquote(parts.username or '')}:{urllib.parse.unquote(parts.password or '')}"
        url = _no_secrets(url) + (f"?{parts.query}" if parts.query else "")
        if not any(name.lower() == "authorization" for name, _ in headers):
            headers += (("Authorization", "Basic " + base64.b64encode(credentials.encode()).decode()),)
    return Collector(url, headers, limit, milliseconds / 1000)


def _number(text: str | None, name: str, what: str, default: int) -> int:
    """A positive whole number from an environment variable (at most 2**30)."""
    if text is None:
        return default
    if not (text.isascii() and text.isdigit() and len(text) <= 10 and 0 < int(text) <= 1 << 30):
        raise ValidationError(f"{name} must be {what}, not {text[:40]!r}")
    return int(text)


def _traces(base: str) -> str:
    return base.rstrip("/") + "/v1/traces"


def _no_secrets(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.password is not None or parts.username is not None:
        url = url.replace(parts.netloc, parts.netloc.rsplit("@", 1)[-1])
    return url.split("?", 1)[0]


def _headers(text: str) -> tuple[tuple[str, str], ...]:
    """OTEL_EXPORTER_OTLP_HEADERS: key=value pairs, comma separated, values
    URL-encoded. A malformed one is refused by its position, not its text."""
    headers = []
    for number, item in enumerate((item for item in text.split(",") if item.strip()), 1):
        key, sep, value = item.partition("=")
        key, value = key.strip(), urllib.parse.unquote(value.strip())
        if not sep or not key or not all(c.isascii() and (c.isalnum() or c in "-_.") for c in key) or not (
                value.isprintable() and value.encode("latin-1", "replace").decode("latin-1") == value):
            # An HTTP header is a token and Latin-1 text without control characters.
            raise ValidationError(f"OTEL_EXPORTER_OTLP_HEADERS: header {number} is not key=value in what an "
                                  "HTTP header can carry (values are not shown)")
        headers.append((key, value))
    return tuple(headers)


def request(spans_by_session: list[tuple[str, str | None, list[Span]]], service: str,
            value_limit: int = VALUE_LIMIT) -> bytes:
    """One ExportTraceServiceRequest: a ResourceSpans per session (service.name,
    host.id, session.id), its spans in one scope, string attributes cut at
    `value_limit` characters."""
    message = ExportTraceServiceRequest()
    for session_id, host, spans in spans_by_session:
        resource = Resource(attributes=_attributes({"service.name": service, "host.id": host,
                                                    "session.id": session_id}, value_limit))
        scope = ScopeSpans(scope=InstrumentationScope(name="treeship-store", version=__version__),
                           spans=[_span(span, value_limit) for span in spans])
        message.resource_spans.append(ResourceSpans(resource=resource, scope_spans=[scope]))
    return message.SerializeToString()


def _span(span: Span, limit: int) -> ProtoSpan:
    proto = ProtoSpan(trace_id=span.trace_id, span_id=span.span_id, parent_span_id=span.parent_id or b"",
                      name=span.name[:limit], kind=KINDS.get(span.kind, ProtoSpan.SPAN_KIND_INTERNAL),
                      start_time_unix_nano=span.start_ns, end_time_unix_nano=span.end_ns,
                      attributes=_attributes(span.attributes, limit))
    if span.error is not None:
        proto.attributes.extend(_attributes({"error.type": span.error}, limit))
        proto.status.CopyFrom(Status(code=Status.STATUS_CODE_ERROR, message=span.message[:limit]))
    for name, at, attributes in span.events:
        proto.events.add(name=name[:limit], time_unix_nano=at, attributes=_attributes(attributes, limit))
    for linked, attributes in span.links:
        proto.links.add(trace_id=span.trace_id, span_id=linked, attributes=_attributes(attributes, limit))
    return proto


def _attributes(values: dict, limit: int) -> list[KeyValue]:
    return [KeyValue(key=key, value=_any(value, limit)) for key, value in values.items() if value is not None]


def _any(value, limit: int) -> AnyValue:
    if type(value) is bool:
        return AnyValue(bool_value=value)
    if type(value) is int:
        return AnyValue(int_value=value)
    if type(value) is float:
        return AnyValue(double_value=value)
    if type(value) is list:
        return AnyValue(array_value=ArrayValue(values=[_any(item, limit) for item in value]))
    return AnyValue(string_value=str(value)[:limit])


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer, not a place to go: urllib would send a POST
    again as a GET without its body (whose 200 is no acceptance of any
    span), carrying the API key headers to whatever host the collector
    names. Handling none (before urllib parses the Location, which may say
    anything) leaves urllib to raise the 3xx as an HTTPError."""

    def http_error_302(self, *args) -> None:
        return None

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302


class _Deadline:
    """Ends one request when its time is up, whatever it is waiting for. A
    socket's timeout bounds each read alone, so a collector sending a byte
    a second could hold a request for ever; this timer shuts the request's
    TCP connection down instead, which ends any connect, write or read under
    way, through TLS and proxies alike. It shuts down duplicates of the
    sockets, closed only once the timer has stopped: never a descriptor the
    process may have reused for something else since."""

    def __init__(self, seconds: float):
        self.lock = threading.Lock()
        self.sockets: list[socket.socket] = []
        self.passed = False
        self.timer = threading.Timer(seconds, self._pass)
        self.timer.daemon = True
        self.timer.start()

    def watch(self, sock: socket.socket) -> socket.socket:
        with self.lock:
            self.sockets.append(sock.dup())
            if self.passed:
                _shut(self.sockets[-1])
        return sock

    def _pass(self) -> None:
        with self.lock:
            self.passed = True
            for sock in self.sockets:
                _shut(sock)

    def close(self) -> None:
        self.timer.cancel()
        self.timer.join()
        for sock in self.sockets:
            sock.close()


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed by the other end


class _Watched:
    """urllib's HTTP(S) handler whose connections' sockets the deadline
    watches, from the moment they exist (before TLS or a proxy tunnel)."""

    def __init__(self, deadline: _Deadline):
        super().__init__()
        self.deadline = deadline

    def do_open(self, http_class, req, **kwargs):
        def connection(host, **options):
            opened = http_class(host, **options)
            # http.client's own hook for making the socket (its tests use it too).
            opened._create_connection = lambda *args, **kw: self.deadline.watch(socket.create_connection(*args, **kw))
            return opened
        return super().do_open(connection, req, **kwargs)


class _WatchedHTTP(_Watched, urllib.request.HTTPHandler):
    pass


class _WatchedHTTPS(_Watched, urllib.request.HTTPSHandler):
    pass


def post(target: Collector, body: bytes, *, retry: Callable[[str, float], bool]) -> int:
    """Post one request until the collector accepts it; returns the spans it
    says it rejected (partial success). A refusal that waiting will not
    change raises ExportUnavailable at once; a collector that is down, or
    answers 408, 429 or a 5xx but 501/505, is tried again after a backoff (Retry-After
    when it gives one) for as long as `retry(why, seconds)` says."""
    backoff = 1.0
    # The whole request, the answer included; a slow uplink still gets a large body through.
    seconds = target.timeout + len(body) / SLOWEST_UPLOAD
    while True:
        wait, why = backoff, ""
        deadline = _Deadline(seconds)
        try:
            req = urllib.request.Request(target.url, data=body, method="POST", headers={
                "Content-Type": "application/x-protobuf", "User-Agent": f"treeship-store/{__version__}",
                **dict(target.headers)})
            opener = urllib.request.build_opener(_NoRedirects, _WatchedHTTP(deadline), _WatchedHTTPS(deadline))
            with opener.open(req, timeout=seconds) as answer:
                if deadline.passed:  # http.client takes a cut for the end of the headers: no answer
                    raise TimeoutError
                response = ExportTraceServiceResponse()
                try:  # a 2xx has accepted the spans, whatever its body turns out to be
                    data = answer.read(ANSWER_BYTES + 1)
                    if len(data) > ANSWER_BYTES:
                        return 0  # not an OTLP answer: the rest is not read, and what is cannot be parsed
                    response.ParseFromString(data)
                except Exception:  # noqa: BLE001 - empty, not protobuf, or cut short by the deadline
                    return 0
                return response.partial_success.rejected_spans
        except urllib.error.HTTPError as error:
            if 300 <= error.code < 400:
                try:
                    location = _printable(_shown(urllib.parse.urljoin(target.url, error.headers.get("Location", ""))))
                except ValueError:  # the collector may say anything
                    location = "an address that does not parse"
                raise ExportUnavailable(f"{target.shown} answered HTTP {error.code}, a redirect to {location}: "
                                        "redirects are not followed (the headers would go with them); give the "
                                        "endpoint it names, if it is yours") from None
            if error.code not in RETRYABLE:
                refusal = ExportTooLarge if error.code == 413 else ExportUnavailable
                raise refusal(f"{target.shown} refused the spans: HTTP {error.code} {_first_line(error)}") from None
            why = f"{target.shown} answered HTTP {error.code}"
            wait = _retry_after(error.headers.get("Retry-After")) or backoff
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            why = f"{target.shown} is unreachable: {getattr(reason, 'strerror', None) or reason}"
        except http.client.HTTPException as error:  # something answered, not in HTTP (or cut short)
            why = f"{target.shown} did not answer in HTTP: {type(error).__name__}"
        finally:
            deadline.close()
        if deadline.passed:  # whatever the cut connection raised
            why = f"{target.shown} did not answer within {seconds:.0f} s (OTEL_EXPORTER_OTLP_TIMEOUT)"
        if not retry(why, wait):
            raise ExportUnavailable(why)
        backoff = min(backoff * 2, MAX_BACKOFF)


def _retry_after(value: str | None) -> float | None:
    """Retry-After as RFC 9110 has it, whole seconds (digits only) or an HTTP
    date, at most MAX_BACKOFF * 4; None for anything else. Not float(): it
    takes "nan", which no deadline comparison ever stops, and "inf"."""
    value = (value or "").strip()
    if value.isascii() and value.isdigit():
        return min(float(value), MAX_BACKOFF * 4)  # float: int() refuses 5,000 digits; this is inf
    try:
        seconds = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return min(max(seconds, 0.0), MAX_BACKOFF * 4)


def _first_line(error: urllib.error.HTTPError) -> str:
    try:
        text = error.read(300).decode("utf-8", "replace")
    except (OSError, http.client.HTTPException):  # cut short, by the collector or the deadline
        return ""
    return _printable(text.strip().splitlines()[0] if text.strip() else "")


def _printable(text: str) -> str:
    """A collector's text as one short line of a message."""
    return "".join(c if c.isprintable() else "?" for c in text)[:200]
