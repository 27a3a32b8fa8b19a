"""One read-only store per worker thread: a Store (and its SQLite
connections), or a CentralStore (its PostgreSQL connection), is for one
thread, and Starlette runs blocking calls on a pool of them. Call store()
inside the worker thread that uses it."""

from __future__ import annotations

import threading

from starlette.requests import Request

from ..reader import Reader
from ..store import Store

_local = threading.local()


def store(request: Request) -> Reader:
    """The local store at the app's root, or the central store at its db."""
    root, db = request.app.state.root, request.app.state.db
    opened = _local.__dict__.setdefault("stores", {})
    if (root, db) not in opened:
        if db is None:
            opened[(root, db)] = Store(root, read_only=True, search_timeout=request.app.state.search_timeout)
        else:
            from ..central import CentralStore  # noqa: PLC0415 - only with --db
            opened[(root, db)] = CentralStore(db)
    return opened[(root, db)]
