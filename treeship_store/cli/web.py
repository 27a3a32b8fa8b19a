"""`treeship-store serve`: the web view. Loaded only when it runs, and its
packages (the `web` extra) only then."""

from __future__ import annotations

import ipaddress
import re
import socket
import sys

import click

from .context import open_reader, require_extra
from ..errors import StoreError, ValidationError

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
# A token travels in a link (?token=), a cookie and an Authorization header.
# RFC 3986's unreserved characters pass through all three unchanged; anything
# else is escaped, quoted or re-encoded by one of them (a '+' in a link is a
# space, a non-ASCII header is Latin-1 at best), so the server would never
# see the token it was given.
TOKEN_CHARACTERS = re.compile(r"[A-Za-z0-9._~-]+")
# A search is the one question whose cost the asker chooses (how common its
# words, how many prefixes), and a worker thread serves it: one that runs
# longer is stopped and answered 400, so that searches cannot hold the
# workers every page needs.
SEARCH_SECONDS = 2.0


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Anything but loopback needs --token.")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True,
              help="Port to listen on (0: any free one).")
@click.option("--open", "open_browser", is_flag=True, help="Open the sessions page in a browser.")
@click.option("--token", envvar="TREESHIP_STORE_TOKEN", metavar="SECRET",
              help="Required on every request: ?token= once (kept in a cookie) or 'Authorization: Bearer' "
                   "[$TREESHIP_STORE_TOKEN]. At least 16 letters, digits, '-', '.', '_' or '~'.")
@click.option("--search-timeout", type=click.FloatRange(min=0, min_open=True), default=SEARCH_SECONDS,
              show_default=True, metavar="SECONDS", help="Stop a search that runs longer, with a 400 saying so.")
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, open_browser: bool, token: str | None,
          search_timeout: float) -> None:
    """Serve a read-only web view of the store: sessions, a live timeline of
    each, files and stats, and a JSON API (/api/events, /api/sessions,
    /api/files, /api/stats, /api/sessions/ID/stream).

    \b
    Example:
      treeship-store serve --open
    """
    uvicorn = require_extra("uvicorn", "web", "the web view")
    create_app = require_extra("treeship_store.web", "web", "the web view").create_app
    db = ctx.meta.get("db")
    store = open_reader(ctx)
    store.counts()  # a missing or unusable store is one error line now, not a page later
    shown_store = store.root
    store.close()
    loopback = is_loopback(host)
    if not loopback and not token:
        raise ValidationError(f"--host {host} is reachable from other machines: give --token too")
    if token is not None and len(token) < 16:
        raise ValidationError("--token must be at least 16 characters")
    if token is not None and not TOKEN_CHARACTERS.fullmatch(token):
        raise ValidationError("--token may hold only letters, digits and - . _ ~ (it must pass unchanged through "
                              "a link, a cookie and a header): python3 -c 'import secrets; "
                              "print(secrets.token_urlsafe())' makes one")
    listener = listen(host, port)
    port = listener.getsockname()[1]
    # Names the server answers to; each address it listens on answers to its
    # own IP literal too (the guard compares it with the connection's).
    names = LOOPBACK_NAMES if loopback else (host.lower(), socket.gethostname().lower(), socket.getfqdn().lower(),
                                             *(("localhost",) if is_any_address(host) else ()))
    hosts = frozenset(f"{name}:{port}" for name in names) | (frozenset(names) if port == 80 else frozenset())
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}/"
    if not loopback:
        click.echo(f"warning: serving {shown_store} to the network at {url}; every request needs the token",
                   err=True)
    click.echo(f"Serving {shown_store} at {url}{' (add ?token=...)' if token else ''}  Ctrl-C stops.")
    sys.stdout.flush()
    if open_browser:
        import webbrowser  # noqa: PLC0415
        webbrowser.open(url)
    app = create_app(ctx.obj, hosts=hosts, token=token, db=db, search_timeout=search_timeout)
    if db is None:
        _keep_retention(ctx.obj)
    config = uvicorn.Config(app, log_level="warning",
                            access_log=False, timeout_graceful_shutdown=1, lifespan="off")
    uvicorn.Server(config).run(sockets=[listener])


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def is_any_address(host: str) -> bool:
    """0.0.0.0 or ::, which listen on every address of the machine, loopback included."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_unspecified
    except ValueError:
        return False


def listen(host: str, port: int) -> socket.socket:
    """A listening socket, or one error line (port in use, no such address)."""
    try:
        family = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)[0][0]
        listener = socket.socket(family, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host.strip("[]"), port))
        listener.listen(128)
    except OSError as error:
        raise StoreError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None
    return listener


def _keep_retention(root) -> None:
    """The store's retention policy (retention.toml), looked at hourly and run
    at most once a day, in a thread of its own with a Store of its own: the
    pages' stores are read-only."""
    import threading  # noqa: PLC0415
    import time  # noqa: PLC0415

    from ..retention import run_policy  # noqa: PLC0415
    from ..store import Store  # noqa: PLC0415

    def keep() -> None:
        while True:
            try:
                with Store(root) as store:
                    pruned = run_policy(store)
                if pruned is not None:
                    click.echo(f"retention: pruned {len(pruned.pruned)} session(s)", err=True)
            except Exception as error:  # noqa: BLE001 - the thread must go on looking, and say why once a look
                click.echo(f"warning: retention: {error}", err=True)
            time.sleep(3600)
    threading.Thread(target=keep, name="treeship-retention", daemon=True).start()
