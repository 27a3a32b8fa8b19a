"""treeship-store: keeps AI-agent session events safe (Treeship's append-only
events.jsonl, written under its flock) and fast to query (a SQLite index
derived from them)."""

from .errors import (LockTimeout, LockUnsupported, SessionIdError, StoreError, StoreNotFound, UnsafePath,
                     ValidationError, WriteError, IndexTooNew)
from .event import EVENT_TYPES, Event, serialise
from .results import DamagedLine, ReindexReport, SessionContents, VerifyReport
from .store import Store

__version__ = "0.1.0"
__all__ = ["EVENT_TYPES", "DamagedLine", "Event", "IndexTooNew", "LockTimeout", "LockUnsupported",
           "ReindexReport", "SessionContents", "SessionIdError", "Store", "StoreError", "StoreNotFound",
           "UnsafePath", "ValidationError", "VerifyReport", "WriteError", "serialise"]
