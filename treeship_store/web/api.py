"""The JSON API: the CLI's questions over HTTP, read-only.

    /api/events                  JSON lines, each the stored line unchanged
    /api/sessions                a page of sessions, newest first
    /api/files, /api/stats       what `files` and `stats` print
    /api/sessions/<id>/damaged   a session's damaged lines
    /api/sessions/<id>/stream    text/event-stream: one `data:` stored line per new event

Filters are the query parameters the CLI's options name (session, agent and
type repeat). Each handler runs its Store calls in one worker thread, with
that thread's own Store: a Store is for one thread.
"""

from __future__ import annotations

import dataclasses

import anyio
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from ..errors import StoreError, ValidationError
from ..event import check_session_id
from ..filters import FLAG, INTEGER, MANY, PARAMETERS
from ..follow import Followed, start_position
from .stores import store

MAX_EVENTS = 100_000  # per request; page on with after_seq (one session) or until
POLL_SECONDS = 0.25  # a live page sees a new event within about this, plus a catch-up
KEEPALIVE_SECONDS = 15.0  # a comment line now and then finds a closed connection
# Live streams open at once. Each holds a connection and looks at its file
# four times a second in a worker thread, for as long as the page stays
# open: unbounded, pages left open (or a script opening streams) would take
# every worker. More is a 503 at once; a person's tabs stay far below it.
MAX_STREAMS = 16


def query_filters(query, names: tuple[str, ...]) -> dict:
    """The filters `names` from a query string, each read as filters.PARAMETERS
    declares it (session, agent and type repeat), as the library takes them."""
    chosen = {}
    for name in names:
        kind = PARAMETERS[name]
        if kind == MANY:
            chosen[name] = query.getlist(name) or None
        elif kind == INTEGER:
            chosen[name] = integer(query.get(name), name)
        elif kind == FLAG:
            chosen[name] = flag(query.get(name), name)
        else:
            chosen[name] = query.get(name) or None
    return chosen


EVENT_FILTERS = ("session", "agent", "type", "since", "until", "after_seq", "failed", "search", "limit")


def event_filters(request: Request) -> dict:
    """Store.events() keyword arguments from the query string."""
    query = request.query_params
    filters = query_filters(query, EVENT_FILTERS)
    limit = filters["limit"]
    if limit is not None and not 0 <= limit <= MAX_EVENTS:
        raise ValidationError(f"limit must be from 0 to {MAX_EVENTS} events a request, got {limit}")
    return filters | dict(limit=MAX_EVENTS if limit is None else limit, newest_first=order(query.get("order"), query))


def integer(text: str | None, name: str) -> int | None:
    if text is None or text == "":
        return None
    try:
        return int(text)
    except ValueError:
        raise ValidationError(f"{name} must be an integer, got {text!r:.40}") from None


def flag(text: str | None, name: str) -> bool:
    if text in (None, "", "0", "false"):
        return False
    if text in ("1", "true"):
        return True
    raise ValidationError(f"{name} must be true or false, got {text!r:.40}")


def order(text: str | None, query) -> bool:
    """Newest first? A search is, unless order=oldest says otherwise."""
    if text in (None, ""):
        return bool(query.get("search"))
    if text not in ("newest", "oldest"):
        raise ValidationError(f"order must be newest or oldest, got {text!r:.40}")
    return text == "newest"


async def events(request: Request) -> Response:
    """The events, as JSON lines. Asked about one session, the answer says
    in Treeship-Last-Line the line (0-based) of its last event line: the
    stream's after_seq that goes on right after it."""
    filters = event_filters(request)

    def read() -> tuple[bytes, int]:
        lines, last_line = [], -1
        for event in store(request).events(**filters):
            lines.append(event.raw + b"\n")
            last_line = max(last_line, event.line_no)
        return b"".join(lines), last_line
    body, last_line = await run_in_threadpool(read)
    one_session = filters["session"] is not None and len(set(filters["session"])) == 1
    return Response(body, media_type="application/x-ndjson",
                    headers={"treeship-last-line": str(last_line)} if one_session else None)


async def sessions(request: Request) -> Response:
    query = request.query_params
    filters = query_filters(query, ("agent", "type", "since", "until", "search", "limit"))
    limit = filters.pop("limit") or 50
    page = await run_in_threadpool(lambda: store(request).session_page(
        **filters, before=query.get("before") or None, limit=limit))
    return JSONResponse({"sessions": page, "next": page[-1]["session_id"] if len(page) == limit else None})


async def files(request: Request) -> Response:
    query = request.query_params
    filters = query_filters(query, ("session", "agent", "since", "until"))
    found = await run_in_threadpool(lambda: store(request).files(**filters, read=flag(query.get("read"), "read")))
    return JSONResponse(found)


async def stats(request: Request) -> Response:
    session = request.query_params.get("session") or None
    return JSONResponse(await run_in_threadpool(lambda: store(request).stats(session)))


async def damaged(request: Request) -> Response:
    session_id = check_session_id(request.path_params["session_id"])
    found = await run_in_threadpool(lambda: store(request).damaged_lines(session_id))
    return JSONResponse([dataclasses.asdict(line) for line in found])


async def stream(request: Request) -> Response:
    """New events of one session as server-sent events: each `id:` its line
    in events.jsonl (0-based; its sequence_no when its writer kept the rule),
    which a reconnecting browser sends back as Last-Event-ID, and `data:` its
    stored line. From after line after_seq (Last-Event-ID first), or from now
    on. When the record is replaced (a restore, a shorter copy), or a resume
    asks for a line it does not have: `event: reset` with `id: -1` and the
    reason, then every event from its first line."""
    session_id = check_session_id(request.path_params["session_id"])
    after = integer(request.headers.get("last-event-id") or request.query_params.get("after_seq"), "after_seq")

    def start() -> Followed:
        reader = store(request)
        reader.damaged_lines(session_id)  # an unknown session: 404, no stream
        # The first look before the response starts: a bad after_seq is a 400
        # here, where once the stream has begun it could only break it.
        return reader.read_new(session_id, start_position(session_id, after))

    # A place among MAX_STREAMS first, so that a refusal costs nothing. Counted
    # in the event loop's thread only (no await in between): no lock needed.
    state = request.app.state
    if state.live_streams >= MAX_STREAMS:
        raise StoreError(f"{MAX_STREAMS} live streams are open, as many as this server keeps; close a page "
                         "or try again later")
    state.live_streams += 1
    try:
        followed = await run_in_threadpool(start)
    except BaseException:
        state.live_streams -= 1
        raise

    async def lines():
        nonlocal followed
        quiet = 0.0
        yield b"retry: 1000\n\n"
        while True:
            if followed.restarted:
                yield b"event: reset\nid: -1\ndata: %s\n\n" % followed.restarted.encode()
            for event in followed.events:
                yield b"id: %d\ndata: %s\n\n" % (event.line_no, event.raw)
            if followed.caught_up:  # else there is more to send at once
                quiet = 0.0 if followed.events else quiet + POLL_SECONDS
                if quiet >= KEEPALIVE_SECONDS:
                    quiet = 0.0
                    yield b": keepalive\n\n"
                await anyio.sleep(POLL_SECONDS)
            # One look at a time, in a worker thread with its own store; the
            # wait between looks is ours, so no worker sleeps while a stream is open.
            position = followed.position
            followed = await run_in_threadpool(lambda: store(request).read_new(session_id, position))

    return LiveStream(lines(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})


class LiveStream(StreamingResponse):
    """A stream that gives its place among MAX_STREAMS back when it ends,
    however it ends: the client gone (Starlette cancels the response), the
    server stopping, an error."""

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            scope["app"].state.live_streams -= 1


ROUTES = [
    Route("/api/events", events),
    Route("/api/sessions", sessions),
    Route("/api/files", files),
    Route("/api/stats", stats),
    Route("/api/sessions/{session_id}/damaged", damaged),
    Route("/api/sessions/{session_id}/stream", stream),
]
