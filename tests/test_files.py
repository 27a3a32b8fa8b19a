"""Files on disk: owner-only modes, no symlinks followed, nothing truncated."""

import os
import stat

import pytest

from treeship_store import Store, UnsafePath

from support import SESSION, make_event


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_files_and_directories_are_owner_only(store, root):
    old_umask = os.umask(0)  # even a permissive umask gets owner-only files
    try:
        store.append(SESSION, make_event())
        list(store.events())
    finally:
        os.umask(old_umask)
    session_dir = root / "sessions" / SESSION
    for path in (session_dir / "events.jsonl", session_dir / "events.jsonl.lock", root / "index.db",
                 root / "index.db.lock"):
        assert mode(path) == 0o600, path
    for path in (root, root / "sessions", session_dir):
        assert mode(path) == 0o700, path


def test_loose_lock_and_data_files_we_own_are_tightened(store, root):
    store.append(SESSION, make_event())
    session_dir = root / "sessions" / SESSION
    for name in ("events.jsonl", "events.jsonl.lock"):
        os.chmod(session_dir / name, 0o666)
    store.append(SESSION, make_event())
    assert mode(session_dir / "events.jsonl") == mode(session_dir / "events.jsonl.lock") == 0o600


def test_lock_file_survives_the_writer(store, root):
    store.append(SESSION, make_event())
    lock = root / "sessions" / SESSION / "events.jsonl.lock"
    inode = lock.stat().st_ino
    store.append(SESSION, make_event())
    assert lock.stat().st_ino == inode  # never deleted: other writers may hold it


@pytest.mark.parametrize("name", ["events.jsonl", "events.jsonl.lock"])
def test_planted_symlink_is_refused_and_its_target_untouched(root, tmp_path, name):
    target = tmp_path / "victim"
    target.write_bytes(b"precious\n")
    os.chmod(target, 0o644)
    session_dir = root / "sessions" / SESSION
    session_dir.mkdir(parents=True)
    os.symlink(target, session_dir / name)
    with pytest.raises(UnsafePath, match="symlink"):
        Store(root).append(SESSION, make_event())
    assert target.read_bytes() == b"precious\n" and mode(target) == 0o644


def test_symlinked_session_directory_is_refused(root, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (root / "sessions").mkdir(parents=True)
    os.symlink(elsewhere, root / "sessions" / SESSION)
    with pytest.raises(UnsafePath, match="symlink"):
        Store(root).append(SESSION, make_event())
    assert list(elsewhere.iterdir()) == []


def test_symlinked_index_is_refused(root, tmp_path):
    target = tmp_path / "victim.db"
    target.write_bytes(b"")
    root.mkdir()
    os.symlink(target, root / "index.db")
    store = Store(root)
    assert store.append(SESSION, make_event())["sequence_no"] == 0  # the record needs no index
    assert store.append(SESSION, make_event())["sequence_no"] == 1  # counted from the file
    with pytest.raises(UnsafePath, match="symlink"):
        store.count_events()
    assert target.read_bytes() == b""
    assert not (tmp_path / "victim.db-wal").exists()
