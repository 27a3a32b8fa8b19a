"""treeship-store: keeps AI-agent session events safe (Treeship's append-only
events.jsonl, written under its flock) and fast to query (a SQLite index
derived from them)."""

__version__ = "0.1.0"
__all__ = ["EVENT_TYPES", "DamagedLine", "Event", "IndexTooNew", "IndexUnavailable", "LockTimeout", "LockUnsupported",
           "ReindexReport", "SessionContents", "SessionIdError", "Store", "StoreError", "StoreNotFound",
           "UnsafePath", "ValidationError", "VerifyReport", "WriteError", "find_root", "serialise"]
# Where each public name lives. Loaded on first use: a hook imports
# treeship_store.capture, which runs this file, and must not pay for the
# index, SQLite or the query code it never touches.
_HOMES = {"EVENT_TYPES": "event", "Event": "event", "serialise": "event", "Store": "store", "find_root": "store",
          **{name: "results" for name in ("DamagedLine", "ReindexReport", "SessionContents", "VerifyReport")},
          **{name: "errors" for name in ("IndexTooNew", "IndexUnavailable", "LockTimeout", "LockUnsupported",
                                         "SessionIdError", "StoreError", "StoreNotFound", "UnsafePath",
                                         "ValidationError", "WriteError")}}


def __getattr__(name: str):
    if name in _HOMES:
        import importlib  # noqa: PLC0415
        return getattr(importlib.import_module(f".{_HOMES[name]}", __name__), name)
    raise AttributeError(f"module 'treeship_store' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
