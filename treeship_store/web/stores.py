"""One read-only Store per worker thread and store root: a Store (and its
SQLite connections) is for one thread, and Starlette runs blocking calls on
a pool of them. Call store() inside the worker thread that uses it."""

from __future__ import annotations

import threading

from starlette.requests import Request

from ..store import Store

_local = threading.local()


def store(request: Request) -> Store:
    root = request.app.state.root
    opened = _local.__dict__.setdefault("stores", {})
    if root not in opened:
        opened[root] = Store(root, read_only=True)
    return opened[root]
