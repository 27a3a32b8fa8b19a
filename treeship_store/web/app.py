"""The web application: pages, the API (api.py), static files, and the guard
every request passes.

Starlette (with uvicorn) rather than Datasette as the host: the pages are a
timeline and summaries of the store's own questions, not tables of rows, and
Starlette is a small, well-kept ASGI toolkit with templates and streaming
responses, and nothing more. Pages are Jinja2 templates with autoescaping;
the only script is static/session.js, loaded from this server.
"""

from __future__ import annotations

import hmac
import ipaddress
import re
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import URL, Headers, MutableHeaders, QueryParams
from starlette.requests import Request, cookie_parser
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..errors import StoreError, StoreNotFound, ValidationError
from ..event import check_session_id, format_time
from . import api, usage
from .stores import store

HERE = Path(__file__).parent
# No inline script or style, nothing from elsewhere: event content that slips
# past escaping still cannot run.
SECURITY_HEADERS = {
    "content-security-policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
                               "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}


# A Host header that is an IP literal: [IPv6] or IPv4, and an optional port.
IP_LITERAL_HOST = re.compile(r"(?:\[([0-9a-f:.]+)\]|([0-9.]+))(?::([0-9]{1,5}))?")


class Guard:
    """Before anything else: the Host header must name this server, one of
    `hosts` or the address the connection came in on (a page of another
    site, through DNS rebinding, cannot read the store),
    the token must be given when one is set, and only GET and HEAD exist.
    Every response gets SECURITY_HEADERS."""

    def __init__(self, app, *, hosts: frozenset[str], token: str | None):
        self.app, self.hosts, self.token = app, hosts, token

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        refusal = self.refusal(scope)

        async def send_secured(message):
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await (refusal or self.app)(scope, receive, send_secured)

    def refusal(self, scope) -> Response | None:
        headers = Headers(scope=scope)
        host = headers.get("host", "").lower()
        if host not in self.hosts and not names_the_connections_address(host, scope.get("server")):
            return PlainTextResponse("Refused: this server answers only to its own address.", 421)
        if scope["method"] not in ("GET", "HEAD"):
            return PlainTextResponse("Read-only: nothing here changes the store.", 405, headers={"allow": "GET, HEAD"})
        if self.token is None:
            return None
        url = URL(scope=scope)
        given = QueryParams(scope["query_string"]).get("token")
        if given is not None and hmac.compare_digest(given.encode(), self.token.encode()):
            # From a link with ?token=: keep it in a cookie, out of the address bar.
            response = RedirectResponse(str(url.remove_query_params("token").replace(scheme="", netloc="")), 303)
            response.set_cookie(token_cookie(scope), self.token, httponly=True, samesite="strict")
            return response
        if not hmac.compare_digest(offered_token(scope, headers).encode(), self.token.encode()):
            return PlainTextResponse("Unauthorized: open the link with ?token=..., or send "
                                     "'Authorization: Bearer <token>'.", 401)
        return None


def names_the_connections_address(host: str, server: tuple[str, int] | None) -> bool:
    """Whether a Host header is the IP literal and port the connection came
    in on. Every address the server listens on (all of the machine's, for
    0.0.0.0 or ::) then answers to its own literal, and nothing else does. A
    DNS-rebinding page sends its own host name, never one of our IP literals."""
    literal = IP_LITERAL_HOST.fullmatch(host)
    if server is None or literal is None:
        return False
    try:
        address = ipaddress.ip_address(literal[1] or literal[2])
        local = ipaddress.ip_address(server[0].partition("%")[0])
    except ValueError:
        return False
    # A dual-stack socket (::) sees an IPv4 client's address as ::ffff:a.b.c.d.
    return int(literal[3] or 80) == server[1] and address in (local, getattr(local, "ipv4_mapped", None))


def token_cookie(scope) -> str:
    """The cookie that keeps this server's token. Browsers send a host's
    cookies to every port of it, so one name for all would let a second
    `serve` on the same host overwrite the first one's login: the name
    carries the port the server listens on."""
    server = scope.get("server")
    return f"treeship_store_token_{server[1] if server else ''}"


def offered_token(scope, headers: Headers) -> str:
    """The token a request offers: 'Authorization: Bearer' (the scheme in
    any case, as HTTP says), else this server's cookie. Starlette's cookie
    parser, as lenient as browsers: other servers of the host may set
    cookies that http.cookies refuses, which would hide ours."""
    scheme, _, credentials = headers.get("authorization", "").strip().partition(" ")
    if scheme.lower() == "bearer":
        return credentials.strip()
    return cookie_parser(headers.get("cookie", "")).get(token_cookie(scope), "")


def create_app(root: str | Path, *, hosts: frozenset[str], token: str | None = None, db: str | None = None,
               search_timeout: float | None = None) -> Starlette:
    """The application for the store at `root` (or the central store at
    `db`), answering requests whose Host header is one of `hosts`
    ("localhost:8765") or the IP literal and port the request came in on,
    with `token` required if set. A search running longer than
    `search_timeout` seconds, if given, is stopped (400)."""
    environment = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(default=True))
    environment.filters["time"] = lambda micros: "" if micros is None else format_time(micros)
    environment.filters["duration"] = duration

    def render(request: Request, template: str, status: int = 200, **context) -> HTMLResponse:
        page = environment.get_template(template).render(request=request, **context)
        return HTMLResponse(page, status)

    async def sessions_page(request: Request) -> Response:
        query = request.query_params
        chosen = {name: query.get(name) or None for name in ("agent", "type", "since", "until", "search", "before")}

        def fetch():
            page = store(request).session_page(**chosen, limit=50)
            return page, store(request).counts(), usage.list_costs(request, page)
        page, counts, costs = await run_in_threadpool(fetch)
        older = str(request.url.include_query_params(before=page[-1]["session_id"])) if len(page) == 50 else None
        return render(request, "sessions.html", sessions=page, chosen=chosen, counts=counts, older=older,
                      costs=costs)

    async def session_page(request: Request) -> Response:
        session_id = check_session_id(request.path_params["session_id"])

        def fetch() -> tuple[dict, dict | None]:
            store(request).damaged_lines(session_id)  # an unknown session is a 404, not an empty page
            return store(request).stats(session_id), usage.session_costs_by(request, session_id)
        stats, costs = await run_in_threadpool(fetch)
        return render(request, "session.html", session_id=session_id, stats=stats, costs=costs)

    async def files_page(request: Request) -> Response:
        query = request.query_params
        chosen = {name: query.get(name) or None for name in ("session", "agent", "since", "until")}
        read = api.flag(query.get("read"), "read")
        found = await run_in_threadpool(lambda: store(request).files(**chosen, read=read))
        return render(request, "files.html", files=found, chosen=chosen, read=read)

    async def stats_page(request: Request) -> Response:
        query = request.query_params
        session, since, until = (query.get(name) or None for name in ("session", "since", "until"))
        found, pictures = await run_in_threadpool(lambda: (store(request).stats(session), usage.stats_charts(
            request, session, since, until)))
        return render(request, "stats.html", stats=found, session=session, since=since, until=until,
                      charts=pictures)

    async def failed(request: Request, error: Exception) -> Response:
        status = 404 if isinstance(error, StoreNotFound) else 400 if isinstance(error, ValidationError) else 503
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": str(error)}, status)
        return render(request, "error.html", status, message=str(error))

    app = Starlette(routes=[
        Route("/", sessions_page),
        Route("/sessions/{session_id}", session_page),
        Route("/files", files_page),
        Route("/stats", stats_page),
        *api.ROUTES,
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ], exception_handlers={StoreError: failed})
    app.state.root, app.state.db, app.state.search_timeout = Path(root), db, search_timeout
    app.state.live_streams = 0  # api.stream counts them
    return Guard(app, hosts=hosts, token=token)


def duration(milliseconds: int | None) -> str:
    """A duration as a person reads it: 850 ms, 12.4 s, 3 min 5 s, 2 h 10 min."""
    if milliseconds is None:
        return ""
    if milliseconds < 1000:
        return f"{milliseconds} ms"
    seconds = milliseconds / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"
