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

from ..errors import ValidationError
from ..event import check_session_id
from .stores import store

MAX_EVENTS = 100_000  # per request; page on with after_seq (one session) or until
POLL_SECONDS = 0.25  # a live page sees a new event within about this, plus a catch-up
KEEPALIVE_SECONDS = 15.0  # a comment line now and then finds a closed connection


def event_filters(request: Request) -> dict:
    """Store.events() keyword arguments from the query string."""
    query = request.query_params
    limit = integer(query.get("limit"), "limit")
    if limit is not None and not 0 <= limit <= MAX_EVENTS:
        raise ValidationError(f"limit must be from 0 to {MAX_EVENTS} events a request, got {limit}")
    return dict(session=query.getlist("session") or None, agent=query.getlist("agent") or None,
                type=query.getlist("type") or None, since=query.get("since") or None,
                until=query.get("until") or None, after_seq=integer(query.get("after_seq"), "after_seq"),
                failed=flag(query.get("failed"), "failed"), search=query.get("search") or None,
                limit=MAX_EVENTS if limit is None else limit, newest_first=order(query.get("order"), query))


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
    filters = event_filters(request)
    body = await run_in_threadpool(lambda: b"".join(e.raw + b"\n" for e in store(request).events(**filters)))
    return Response(body, media_type="application/x-ndjson")


async def sessions(request: Request) -> Response:
    query = request.query_params
    limit = integer(query.get("limit"), "limit") or 50
    page = await run_in_threadpool(lambda: store(request).session_page(
        agent=query.getlist("agent") or None, type=query.getlist("type") or None,
        since=query.get("since") or None, until=query.get("until") or None, search=query.get("search") or None,
        before=query.get("before") or None, limit=limit))
    return JSONResponse({"sessions": page, "next": page[-1]["session_id"] if len(page) == limit else None})


async def files(request: Request) -> Response:
    query = request.query_params
    found = await run_in_threadpool(lambda: store(request).files(
        query.getlist("session") or None, agent=query.getlist("agent") or None, since=query.get("since") or None,
        until=query.get("until") or None, read=flag(query.get("read"), "read")))
    return JSONResponse(found)


async def stats(request: Request) -> Response:
    session = request.query_params.get("session") or None
    return JSONResponse(await run_in_threadpool(lambda: store(request).stats(session)))


async def damaged(request: Request) -> Response:
    session_id = check_session_id(request.path_params["session_id"])
    found = await run_in_threadpool(lambda: store(request).damaged_lines(session_id))
    return JSONResponse([dataclasses.asdict(line) for line in found])


async def stream(request: Request) -> Response:
    """New events of one session as server-sent events, each `id:` its
    sequence_no (a reconnecting browser sends it back as Last-Event-ID) and
    `data:` its stored line. From after_seq, or from now on."""
    session_id = check_session_id(request.path_params["session_id"])
    after = integer(request.headers.get("last-event-id") or request.query_params.get("after_seq"), "after_seq")

    def poll(after_seq: int | None) -> list:
        # One poll of the library's follow(); the wait between polls is ours,
        # so that no worker thread sleeps while a connection is open.
        return list(store(request).follow(session_id, after_seq=after_seq, until=lambda: True))

    await run_in_threadpool(lambda: store(request).damaged_lines(session_id))  # an unknown session: 404, no stream
    if after is None:
        newest = await run_in_threadpool(lambda: list(store(request).events(session_id, newest_first=True, limit=1)))
        after = newest[0]["sequence_no"] if newest else -1

    # The first poll before the response starts: a bad after_seq is a 400
    # here, where once the stream has begun it could only break it.
    new = await run_in_threadpool(poll, after)

    async def lines():
        nonlocal after, new
        quiet = 0.0
        yield b"retry: 1000\n\n"
        while True:
            for event in new:
                after = event["sequence_no"]
                yield b"id: %d\ndata: %s\n\n" % (after, event.raw)
            quiet = 0.0 if new else quiet + POLL_SECONDS
            if quiet >= KEEPALIVE_SECONDS:
                quiet = 0.0
                yield b": keepalive\n\n"
            await anyio.sleep(POLL_SECONDS)
            new = await run_in_threadpool(poll, after)

    return StreamingResponse(lines(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})


ROUTES = [
    Route("/api/events", events),
    Route("/api/sessions", sessions),
    Route("/api/files", files),
    Route("/api/stats", stats),
    Route("/api/sessions/{session_id}/damaged", damaged),
    Route("/api/sessions/{session_id}/stream", stream),
]
