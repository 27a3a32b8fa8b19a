"""treeship-store: keeps AI-agent session events safe (Treeship's append-only
events.jsonl, written under its flock) and fast to query (a SQLite index
derived from them)."""

from .errors import (IndexTooNew, IndexUnavailable, LockTimeout, LockUnsupported, SessionIdError, StoreError, StoreNotFound,
                     UnsafePath, ValidationError, WriteError)
from .event import EVENT_TYPES, Event, serialise
from .store import Store, find_root

__version__ = "0.1.0"
__all__ = ["EVENT_TYPES", "DamagedLine", "Event", "IndexTooNew", "IndexUnavailable", "LockTimeout", "LockUnsupported",
           "ReindexReport", "SessionContents", "SessionIdError", "Store", "StoreError", "StoreNotFound",
           "UnsafePath", "ValidationError", "VerifyReport", "WriteError", "find_root", "serialise"]
_RESULTS = ("DamagedLine", "ReindexReport", "SessionContents", "VerifyReport")


def __getattr__(name: str):
    # The result types load on first use: a hook's cold append never needs them.
    if name in _RESULTS:
        from . import results  # noqa: PLC0415
        return getattr(results, name)
    raise AttributeError(f"module 'treeship_store' has no attribute {name!r}")
