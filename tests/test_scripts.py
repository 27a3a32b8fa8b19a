"""The benchmark's own pieces stay honest: the corpus is valid Treeship data,
the floor ingests every line, and the original design (Treeship's own append
rule) interleaves with the store without a collision."""

import sqlite3
import sys
from pathlib import Path

from treeship_store import EVENT_TYPES, Store

from support import SESSION, make_event

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
import corpus  # noqa: E402
import floor_ingest  # noqa: E402
import original_design  # noqa: E402


def test_corpus_is_valid_varied_and_deterministic(tmp_path):
    first = corpus.generate(tmp_path / "a", 3000, 10, seed=3)
    second = corpus.generate(tmp_path / "b", 3000, 10, seed=3)
    files = sorted(p.relative_to(first) for p in first.glob("sessions/*/events.jsonl"))
    assert files == sorted(p.relative_to(second) for p in second.glob("sessions/*/events.jsonl"))
    assert all((first / f).read_bytes() == (second / f).read_bytes() for f in files)
    store = Store(first)
    report = store.reindex()
    assert (report.sessions, report.events, report.damaged_lines) == (10, 3000, 0)
    assert store.verify().ok
    assert set(store.counts()["by_type"]) == set(EVENT_TYPES)
    assert len({s["events"] for s in store.sessions()}) > 5  # varied lengths


def test_floor_ingests_every_line(tmp_path):
    root = corpus.generate(tmp_path / "c", 2000, 5)
    assert floor_ingest.ingest(root, tmp_path / "floor.db") == 2000
    conn = sqlite3.connect(tmp_path / "floor.db")
    assert conn.execute("SELECT count(*) FROM events").fetchone() == (2000,)
    conn.close()


def test_original_design_and_store_take_turns_without_collision(root):
    store = Store(root)
    for i in range(6):
        if i % 2:
            original_design.append(store.sessions_dir, SESSION, make_event(tool_name=f"treeship{i}"))
        else:
            store.append(SESSION, make_event(tool_name=f"store{i}"))
    assert [e["sequence_no"] for e in store.read_session(SESSION).events] == list(range(6))
    assert [e["tool_name"] for e in store.events(SESSION)] == ["store0", "treeship1", "store2", "treeship3",
                                                              "store4", "treeship5"]
    assert store.verify().ok
