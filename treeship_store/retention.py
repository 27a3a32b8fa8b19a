"""`treeship-store prune`: whole sessions whose last event is older than a
cutoff leave the store (no session is ever cut in part), with what the
index holds of them and the sinks' positions; `--archive` keeps each first.

For each session, as a writer would:
1. Its record as decided on: events.jsonl's size and identity.
2. With --archive: `<session>.tar.gz` in the archive directory holding
   `<session>/events.jsonl` (and Treeship's `.count`), written under a
   temporary name, synced, renamed, the directory synced. Nothing is removed
   whose archive is not complete on disk.
3. Under the session's lock (a hook waits for it): if anything was appended
   since (1), the session stays. Else the index forgets it (rows, counts,
   push positions; one transaction per batch) and its directory is renamed
   to a hidden `.pruned-` name, in one rename: to every reader and writer
   the session is gone at once, and a writer that was waiting finds no
   session and starts it again (SessionLog.lock checks that the directory it
   locked is still the one at the path). Then the renamed tree is deleted.

A prune killed anywhere leaves each session whole (the index catches it up
again: it is named in .treeship/unindexed before it is forgotten) or gone;
a hidden `.pruned-` tree left behind is deleted by the next prune. The
search index keeps no text to delete a row by (migration m005): a pruned
session's words stay unreachable until `reindex --full` reclaims them.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import LockTimeout, StoreError
from .faults import crash_point, error_point
from .positions import drop_export_positions
from .record import unindexed
from .record.log import SessionLog
from .record.paths import make_private_directory
from .settings import open_regular_file, read_toml

if TYPE_CHECKING:
    from .index import Index
    from .record.directory import SessionDirectory

TRASH = ".pruned-"
GONE = "gone"  # a session found without a record under its lock: pruned meanwhile
BATCH = 100  # sessions decided, locked and forgotten together: one index transaction each
BUSY_SECONDS = 2.0  # a session whose lock is held this long is in use: it stays
MAX_RESTORED = 8 << 30  # bytes of one session an archive may restore: a bigger one is not a prune's


@dataclass
class PruneReport:
    older: list[tuple[str, int, str]] = field(default_factory=list)  # (session, bytes, last event) to go
    pruned: list[str] = field(default_factory=list)
    kept: list[tuple[str, str]] = field(default_factory=list)  # (session, why it stayed)
    archived: int = 0
    bytes: int = 0  # of the sessions pruned

    def as_dict(self) -> dict:
        return {"older": [{"session_id": s, "bytes": n, "last": last} for s, n, last in self.older],
                "pruned": self.pruned, "kept": [{"session_id": s, "why": why} for s, why in self.kept],
                "archived": self.archived, "bytes": self.bytes}


def prune_sessions(directory: SessionDirectory, index: Index, older: list[tuple[str, str]], cutoff_us: int, *,
                   archive: Path | None = None, dry_run: bool = False, fsync: bool = True) -> PruneReport:
    """Prune the sessions `older` names ((session id, last event time), as the
    index saw them) whose last event is still before `cutoff_us` when each
    is decided again under its lock; Store.prune lists them."""
    report = PruneReport()
    clear_trash(directory.sessions_dir)
    for session_id, last in older:
        report.older.append((session_id, _size(directory.sessions_dir / session_id / "events.jsonl"), last))
    if dry_run:
        return report
    if archive is not None:
        inside = os.path.realpath(archive)
        if (inside + os.sep).startswith(os.path.realpath(directory.root) + os.sep):
            raise StoreError(f"--archive {archive} is inside the store, where a prune would remove it: "
                             "give a directory outside it")
        make_private_directory(archive)
    for start in range(0, len(report.older), BATCH):
        _prune_batch(directory, index, [s for s, _, _ in report.older[start:start + BATCH]], cutoff_us, archive,
                     fsync, report)
    drop_export_positions(directory.root, set(report.pruned))
    return report


def _prune_batch(directory: SessionDirectory, index: Index, batch: list[str], cutoff_us: int,
                 archive: Path | None, fsync: bool, report: PruneReport) -> None:
    archived = {}  # session -> (size, device, inode) of the events.jsonl its archive holds
    for session_id in batch:
        identity = _identity(directory.sessions_dir / session_id / "events.jsonl")
        if identity is not None and archive is not None:
            write_archive(directory.sessions_dir / session_id, identity[0], archive / f"{session_id}.tar.gz", fsync)
            archived[session_id] = identity
            report.archived += 1
            crash_point("prune-archived")
    held = []  # (log, locked directory's descriptor) of the sessions to go
    try:
        for session_id in batch:
            # A log of its own, not the directory's cache: that closes (and so
            # unlocks) its oldest logs to keep its descriptors few.
            log = SessionLog(directory.sessions_dir, session_id)
            try:
                locked = log.lock(BUSY_SECONDS, fsync)
            except LockTimeout:
                report.kept.append((session_id, "in use: its lock was held"))
                continue
            why = _why_it_stays(index, log, cutoff_us, archived.get(session_id), archive is not None)
            if why == GONE:  # pruned meanwhile (another prune): our lock made an empty directory; it goes too
                os.rename(directory.sessions_dir / session_id, _trash(directory, session_id))
            if why:
                log.unlock(locked)
                log.close()
                if why != GONE:
                    report.kept.append((session_id, why))
                continue
            held.append((log, locked))
        going = [log.session_id for log, _ in held]
        for session_id in going:  # if killed after the index forgets them, the next query indexes them again
            unindexed.note(str(directory.root), session_id)
        index.run(lambda idx: idx.forget(going, patient=True))
        crash_point("prune-forgotten")
        for log, _ in held:
            size = _size(directory.sessions_dir / log.session_id / "events.jsonl")
            os.rename(directory.sessions_dir / log.session_id, _trash(directory, log.session_id))
            report.pruned.append(log.session_id)
            report.bytes += size
            crash_point("prune-renamed")
        if fsync and held:
            _fsync_directory(directory.sessions_dir)
    finally:
        for log, locked in held:
            log.unlock(locked)
            log.close()
    clear_trash(directory.sessions_dir)


def _trash(directory: SessionDirectory, session_id: str) -> Path:
    return _trash_in(directory.sessions_dir, session_id)


def _trash_in(sessions_dir: Path, session_id: str) -> Path:
    """A hidden name for a session's directory on its way out: not a session id
    (it starts with "."), so no listing takes it for one."""
    return sessions_dir / f"{TRASH}{session_id}-{uuid.uuid4().hex[:8]}"


def _why_it_stays(index: Index, log: SessionLog, cutoff_us: int, archived: tuple | None,
                  archiving: bool) -> str | None:
    """Decided again under the session's lock, from its record as it is now
    (the index caught up with every line): why it stays, or None to prune."""
    opened = log.open_for_reading()
    if opened is None:
        return GONE
    try:
        index.run(lambda idx: idx.catch_up(log.session_id, opened, patient=True))
        identity = _identity(Path(opened.path))
    finally:
        opened.close()
    last = index.run(lambda idx: idx.last_event_us(log.session_id))
    if last is None or last >= cutoff_us:
        return "appended to during the prune"
    if archiving and identity != archived:
        return "changed after it was archived"
    return None


def write_archive(session_dir: Path, size: int, destination: Path, fsync: bool) -> None:
    """`destination` (.tar.gz) holding the session's events.jsonl up to `size`
    bytes and Treeship's .count: complete on disk, or not there at all."""
    partial = destination.with_name(destination.name + ".part")
    name = session_dir.name
    try:
        partial.unlink(missing_ok=True)  # a stale one, or a planted symlink: the link itself goes, never its target
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        with open(fd, "wb") as raw:
            with tarfile.open(fileobj=raw, mode="w:gz") as tar:
                with open(session_dir / "events.jsonl", "rb") as events:
                    info = tar.gettarinfo(fileobj=events, arcname=f"{name}/events.jsonl")
                    info.size, info.mode = size, 0o600
                    error_point("archive-enospc")
                    tar.addfile(info, events)
                count = session_dir / "events.jsonl.count"
                if count.is_file() and not count.is_symlink():
                    tar.add(count, arcname=f"{name}/events.jsonl.count")
            raw.flush()
            if fsync:
                os.fsync(raw.fileno())
        os.rename(partial, destination)
        if fsync:
            _fsync_directory(destination.parent)
    except OSError as error:
        partial.unlink(missing_ok=True)
        raise StoreError(f"cannot archive session {name} to {destination}: {error.strerror or error}; "
                         "it was not pruned, nor any after it") from None


def clear_trash(sessions_dir: Path) -> None:
    """Delete the trees of sessions already pruned (renamed hidden)."""
    try:
        names = os.listdir(sessions_dir)
    except FileNotFoundError:
        return
    for name in names:
        if name.startswith(TRASH):
            shutil.rmtree(sessions_dir / name, ignore_errors=True)


def _identity(path: Path) -> tuple[int, int, int] | None:
    """(size, device, inode) of a session's record, or None if it has none."""
    try:
        info = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return None
    return info.st_size, info.st_dev, info.st_ino


def _size(path: Path) -> int:
    found = _identity(path)
    return 0 if found is None else found[0]


def _fsync_directory(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def due(root: Path, every_seconds: int = 86400) -> bool:
    """Whether the store's policy (retention.toml) should run now: at most once
    a day, by the time of its last run (retention.last)."""
    stamp = root / "retention.last"
    try:
        return time.time() - os.stat(stamp).st_mtime >= every_seconds
    except FileNotFoundError:
        return True


def restore_archives(paths: list[str], store_root: Path, *, lock_timeout: float = 60.0) -> tuple[int, list[str]]:
    """Bring pruned sessions back from their archives (`import treeship
    --path`): each session's events.jsonl as it was, byte for byte, into a
    store that has no such session (one that has it is left alone, and said).
    Returns (sessions restored, problems)."""
    restored, problems = 0, []
    for path in paths:
        try:
            if _restore(path, store_root, lock_timeout):
                restored += 1
            else:
                problems.append(f"{path}: its events.jsonl holds no complete line; nothing restored")
        except _Refused as refused:
            problems.append(f"{path}: {refused}")
        except (OSError, EOFError, tarfile.TarError, ValueError) as error:
            problems.append(f"{path}: not a session archive ({error})")
    return restored, problems


class _Refused(Exception):
    """An archive that is a session's, not restored: said, and the others go on."""


def _restore(path: str, store_root: Path, lock_timeout: float) -> bool:
    """One archive's session into the store; False if it had no complete line."""
    from .event import check_session_id  # noqa: PLC0415
    with open_regular_file(path) as raw, tarfile.open(fileobj=raw, mode="r:gz") as tar:
        members = {member.name: member for member in tar.getmembers() if member.isfile()}
        events = [name for name in members if name.endswith("/events.jsonl") and name.count("/") == 1]
        if len(events) != 1:
            raise ValueError("no one <session>/events.jsonl in it")
        session_id = check_session_id(events[0].split("/")[0])
        if members[events[0]].size > MAX_RESTORED:
            raise ValueError(f"its events.jsonl would be {members[events[0]].size} bytes, over {MAX_RESTORED}")
        count = members.get(f"{session_id}/events.jsonl.count")
        log = SessionLog(store_root / "sessions", session_id)
        make_private_directory(store_root)
        locked = log.lock(lock_timeout, True)
        try:
            fd = log.open_for_append(locked, fsync=True)
            try:
                if os.fstat(fd).st_size:
                    raise _Refused(f"session {session_id} is in the store already; not restored over it")
                kept = _copy_complete_lines(tar.extractfile(members[events[0]]), fd)
            finally:
                os.close(fd)
            if not kept:  # nothing came back: the directory our lock made goes
                os.rename(store_root / "sessions" / session_id, _trash_in(store_root / "sessions", session_id))
                return False
            if count is not None:
                _write_beside(locked, "events.jsonl.count", tar.extractfile(count).read(64))
        finally:
            log.unlock(locked)
            log.close()
            clear_trash(store_root / "sessions")
    unindexed.note(str(store_root), session_id)
    return True


def _copy_complete_lines(source, fd: int) -> int:
    """Copy `source` to the (new, empty) file `fd` a chunk at a time, keeping
    its complete lines only; returns the bytes kept."""
    written = last_line_end = 0
    while chunk := source.read(1 << 20):
        os.write(fd, chunk)
        if (newline := chunk.rfind(b"\n")) >= 0:
            last_line_end = written + newline + 1
        written += len(chunk)
    os.ftruncate(fd, last_line_end)
    os.fsync(fd)
    return last_line_end


def _write_beside(directory: int, name: str, data: bytes) -> None:
    from .record.paths import open_regular  # noqa: PLC0415
    fd = open_regular(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, dir_fd=directory)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


POLICY = "retention.toml"


def policy(root: Path) -> dict | None:
    """The store's retention policy, from `retention.toml` beside its sessions:

        older_than = "180d"             # required: what prune --older-than takes
        archive = "/srv/treeship-archive"   # optional: prune --archive

    None when there is none."""
    config = read_toml(root / POLICY, "the retention policy")
    if config is None:
        return None
    archive = config.get("archive", None)
    if not isinstance(config.get("older_than"), str) or not set(config) <= {"older_than", "archive"} or not (
            archive is None or isinstance(archive, str) and archive.strip()):
        raise StoreError(f"{root / POLICY}: give older_than (an age such as \"180d\") and, if wanted, archive "
                         "(a directory)")
    if archive is not None:
        config["archive"] = str(root / archive)  # a relative one is the store's, not the runner's directory
    return config


def run_policy(store) -> PruneReport | None:
    """Prune as the store's policy says, at most once a day (push --follow
    and serve call this as they go); None when there is no policy or it ran
    within the day. The day is counted from retention.last, touched first,
    so that two runners at once do not both prune."""
    config = policy(store.root)
    if config is None or not due(store.root):
        return None
    stamp = store.root / "retention.last"
    stamp.touch(mode=0o600)
    os.utime(stamp)
    return store.prune(config["older_than"], archive=config.get("archive"))
