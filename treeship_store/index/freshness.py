"""Which sessions a query checks for lines other writers appended.

The Store's appends index their lines in the same call, so a query only has
to look for other writers (Treeship's own CLI, our hooks, which leave the
index to the reader, a process that crashed between the JSONL write and the
index commit), and the cost of looking follows the sessions that can still
change, not every session ever written.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from ..record import unindexed
from ..errors import SessionIdError, StoreError, UnsafePath, WriteError
from ..event import check_session_id
from ..record.paths import open_directory

if TYPE_CHECKING:
    from . import Index
    from ..record.directory import SessionDirectory

HOT_SECONDS = 3600  # a session whose file changed this recently is checked by every query
SWEEP_SECONDS = 600  # every session is checked by one query this often
RACY_SECONDS = 2  # an mtime this close to now may still change without moving
logger = logging.getLogger("treeship_store")


def refresh(store: SessionDirectory, index: Index, sessions: list[str] | None, *, sweep: bool = False) -> dict[str, int]:
    """Catch the index up with sessions whose file changed behind its back (a
    crash between the two writes, Treeship's own CLI appending, a new
    session), and forget sessions whose events.jsonl is gone or cannot be
    used. Returns {session_id: key} for the named `sessions`.

    Our own appends update the index themselves, so this only looks for
    other writers, and its cost follows the sessions that can still change:
    - sessions a query names are checked (one stat each);
    - a store-wide query checks the hot sessions: those whose file changed
      in the last HOT_SECONDS as the index saw it, new ones (noticed by the
      mtime of sessions/), and those hooks named in .treeship/unindexed
      since the last query read it (unindexed.py);
    - every SWEEP_SECONDS, one query checks them all (sweep=True forces it).
    So a line another writer appends to a session idle for an hour is seen
    by the first query at least SWEEP_SECONDS after the last sweep; to any
    other session, by the next query. A session that cannot be read (a
    symlink, a directory or an unreadable file in place of events.jsonl) is
    logged and left out of store-wide answers, like a damaged line; a query
    that names it raises."""
    if sessions is not None:
        for session_id in sessions:
            # The stat below follows a symlinked directory; a session the
            # caller names is checked first, as the listing checks the rest.
            directory = store.log(session_id).open_directory()
            if directory is not None:
                os.close(directory)
        known = index.file_states(sessions)
        _check(store, index, sessions, known, strict=True)
        return {session_id: state[0] for session_id, state in index.file_states(sessions).items()}
    now = time.time_ns()
    meta = index.meta()
    listing = _listing_mtime(store)
    # A last sweep in the future means the clock went back: sweep now, or the
    # bound would wait for the clock to catch up.
    since_sweep = now - meta.get("swept_ns", 0)
    sweep = sweep or not 0 <= since_sweep < SWEEP_SECONDS * 10**9
    new: list[str] = []
    gone: list[str] = []
    # What the index knows is read before the directory is listed: a session
    # created in between must not look "gone" and be forgotten.
    everything = index.file_states() if sweep or listing != meta.get("listing_mtime_ns") else None
    if everything is not None:
        on_disk = store.session_ids()
        new = [session_id for session_id in on_disk if session_id not in everything]
        gone = list(everything.keys() - set(on_disk))
    checked = everything if sweep else index.file_states(changed_since_ns=now - HOT_SECONDS * 10**9)
    position = (meta.get("unindexed_ino", 0), meta.get("unindexed_offset", 0))
    try:
        hinted, position = unindexed.read(store.root, position)
    except (OSError, StoreError) as error:
        # A hint file we cannot use (a symlink, FIFO or directory planted in
        # its place, unreadable) costs its hints, never the query: the sweep
        # still finds every session.
        logger.warning("hints in %s not read: %s", unindexed.FILE, error)
        hinted = []
    if hinted and not sweep:
        named = [session_id for session_id in hinted if session_id not in checked and _valid(session_id)]
        checked = {**checked, **index.file_states(named)}
        new += [session_id for session_id in named if session_id not in checked and session_id not in new]
    mtimes = _check(store, index, [*checked, *new], checked, strict=False, gone=gone)
    update = {"swept_ns": now} if sweep else {}
    if position != (meta.get("unindexed_ino", 0), meta.get("unindexed_offset", 0)):
        update["unindexed_ino"], update["unindexed_offset"] = position
    # An mtime within a tick of now may still change without moving (a
    # session created right after we listed): trust only an older one.
    if everything is not None and listing is not None and now - listing >= RACY_SECONDS * 10**9:
        update["listing_mtime_ns"] = listing
    if update or mtimes:
        index.note_refresh(update, mtimes)
    return {}


def _check(store: SessionDirectory, index: Index, session_ids: Iterable[str], known: dict, *, strict: bool,
           gone: list[str] | None = None) -> list[tuple[int, int]]:
    """Stat each session's file: catch up those that changed, forget those
    gone (with `gone` already known). Returns (mtime, key) of unchanged
    files whose mtime the index had not recorded."""
    base = os.fspath(store.sessions_dir)
    gone = gone if gone is not None else []
    mtimes = []
    for session_id in session_ids:
        state = known.get(session_id)
        try:
            info = os.stat(f"{base}/{session_id}/events.jsonl", follow_symlinks=False)
        except FileNotFoundError:
            info = None
        except OSError:
            info = False  # unreadable: the catch-up below says why
        if info is None:
            if state is not None:
                gone.append(session_id)
        elif not info or state is None or state[1:4] != (info.st_size, info.st_dev, info.st_ino):
            if not catch_up_session(store, index, session_id, strict=strict) and state is not None:
                gone.append(session_id)
        elif state[4] != info.st_mtime_ns:
            mtimes.append((info.st_mtime_ns, state[0]))
    if gone:
        index.forget(gone)
    return mtimes


def catch_up_session(store: SessionDirectory, index: Index, session_id: str, *, strict: bool,
                     patient: bool = False, progress: Callable[[int], None] | None = None) -> bool:
    """Catch the index up with one session; False if its file is missing or
    cannot be used, which raises instead when `strict`."""
    try:
        log = store.log(session_id).open_for_reading()
        if log is None:
            return False
        try:
            index.catch_up(session_id, log, progress, patient=patient)
        finally:
            log.close()
    except (UnsafePath, WriteError) as error:
        if strict:
            raise
        logger.warning("session %s: left out: %s", session_id, error)
        return False
    return True


def _valid(session_id: str) -> bool:
    """Whether a name from the hint file is a session id (anyone who can
    write the store can write that file: nothing in it is trusted)."""
    try:
        check_session_id(session_id)
    except SessionIdError:
        return False
    return True


def _listing_mtime(store: SessionDirectory) -> int | None:
    """The mtime of sessions/ (it moves when a session is added or removed)."""
    try:
        fd = open_directory(store.sessions_dir)
    except FileNotFoundError:
        return None
    try:
        return os.fstat(fd).st_mtime_ns
    finally:
        os.close(fd)
