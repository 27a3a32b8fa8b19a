"""The web view: `treeship-store serve` (pip install 'treeship-store[web]').

A read-only Starlette application served by uvicorn: pages for sessions, a
session's timeline, files and stats, and the JSON API they read. Nothing
here is imported by `append` or `hook`.
"""

from .app import create_app

__all__ = ["create_app"]
