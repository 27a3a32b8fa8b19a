"""The store's exceptions: one base class, a subclass for each thing a caller
would handle differently. Every message is meant to be shown to a user as is."""

# Event content is untrusted, and messages quote it: a terminal must never
# receive its control characters (ESC, BEL, CR...) raw. They are shown
# escaped, as \x1b.
_CONTROL = {code: f"\\x{code:02x}" for code in (*range(0x20), *range(0x7f, 0xa0))}


def printable(text: str) -> str:
    """`text` with every control character escaped, for human-readable output."""
    return text.translate(_CONTROL)


def print_error(message: str) -> None:
    """`Error: message` on one line of stderr, for the commands started without
    click (a hook, a plain append). A closed stderr (2>&-) gets nothing, and
    never stdout, which an agent reads as the hook's answer."""
    import sys  # noqa: PLC0415
    if sys.stderr is not None:
        print(f"Error: {printable(message)}", file=sys.stderr)


class StoreError(Exception):
    """Base class of every error treeship-store raises on purpose."""


class ValidationError(StoreError, ValueError):
    """An event, session id or query argument is not acceptable; nothing was written.

    For an event, `position` is its index in the batch and `reason` the message
    without the "event N: " prefix, so a caller can point at its own input line."""

    def __init__(self, message: str, *, position: int | None = None, reason: str | None = None):
        super().__init__(message)
        self.position = position
        self.reason = reason or message


class SessionIdError(ValidationError):
    """A session id that is empty, too long, or could escape the store root."""


class StoreNotFound(StoreError):
    """A read was asked of a store root that does not exist."""


class LockTimeout(StoreError):
    """The session's lock was held by someone else for longer than the timeout."""


class LockUnsupported(StoreError):
    """The filesystem does not support flock(2); we refuse rather than write unlocked."""


class UnsafePath(StoreError):
    """A symlink (or other non-regular file) sits where the store expects its own file."""


class WriteError(StoreError):
    """The JSONL line could not be written (disk full, I/O error); the event was not stored."""


class IndexTooNew(StoreError):
    """index.db was written by a newer treeship-store whose schema this one does not know."""


class IndexUnavailable(StoreError):
    """index.db could not be used (disk full, I/O error, permissions, busy).
    The JSONL files, the record, are not affected; the message says what to do."""


class CentralUnavailable(StoreError):
    """The central PostgreSQL store could not be reached or used (refused,
    down, wrong password, missing rights). Nothing local was changed."""


class CentralRefused(CentralUnavailable):
    """The central store refused what was asked, and will until someone
    changes something (missing rights, a schema this version cannot use, a
    value it will not take): trying again does not help, as it may when the
    store is down."""


class ExportUnavailable(StoreError):
    """An OpenTelemetry collector could not be reached, or refused the spans.
    Nothing was marked exported; the next export sends them again."""


class ExportTooLarge(ExportUnavailable):
    """The collector refused a request as too large (HTTP 413): the exporter
    sends its spans in smaller requests instead."""
