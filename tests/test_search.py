"""Full-text search (issue 13): `events --search`, Store.events(search=...)."""

import os
import sqlite3
import subprocess
import sys

import orjson
import pytest

from treeship_store import Store, ValidationError
from treeship_store.index.file import SCHEMA_VERSION

from support import index_contents, make_event


@pytest.fixture
def filled(store):
    store.append_many("ssn_a", [
        make_event("agent.started_process", process_name="pytest", command="pytest -q tests/test_app.py",
                   timestamp="2026-04-05T08:00:00Z"),
        make_event("agent.wrote_file", file_path="src/app.py", timestamp="2026-04-05T08:00:01Z"),
        make_event("agent.decision", model="claude-opus-4", summary="Refactor the parser first",
                   timestamp="2026-04-05T08:00:02Z"),
        make_event("agent.called_tool", tool_name="WebFetch", meta={"args": {"url": "https://docs.example.org/x"}},
                   timestamp="2026-04-05T08:00:03Z"),
    ])
    store.append_many("ssn_b", [
        make_event("agent.started_process", process_name="cargo", command="cargo test --release",
                   agent_name="codex", agent_id="agent://codex", agent_instance_id="ai_cx_1",
                   timestamp="2026-04-05T08:00:04Z"),
        make_event("agent.wrote_file", file_path="src/app.py", agent_name="codex", agent_id="agent://codex",
                   agent_instance_id="ai_cx_1", timestamp="2026-04-05T08:00:05Z"),
    ])
    return store


def found(store, **filters):
    return [(e["session_id"], e["sequence_no"]) for e in store.events(**filters)]


def test_search_finds_events_by_the_words_of_their_texts(filled):
    assert found(filled, search="pytest") == [("ssn_a", 0)]
    assert found(filled, search="tests/test_app.py") == [("ssn_a", 0)]  # punctuation is not syntax
    assert found(filled, search="parser refactor") == [("ssn_a", 2)]  # every word, any order
    assert found(filled, search="parser cargo") == []
    assert found(filled, search="docs.example.org") == [("ssn_a", 3)]  # a string deep in meta
    assert found(filled, search="claude-opus") == [("ssn_a", 2)]  # a model
    assert found(filled, search="carg*") == [("ssn_b", 0)]  # a prefix
    assert found(filled, search='"OR (') == []  # typed text is never FTS5 syntax


def test_search_combines_with_every_other_filter(filled):
    # Words as the tokenizer splits them: "test_app.py" holds the words "app" "py".
    assert found(filled, search="app.py") == [("ssn_a", 0), ("ssn_a", 1), ("ssn_b", 1)]
    assert found(filled, search="app.py", agent="codex") == [("ssn_b", 1)]
    assert found(filled, search="app.py", type="agent.started_process") == [("ssn_a", 0)]
    assert found(filled, search="app.py", session="ssn_b") == [("ssn_b", 1)]
    assert found(filled, search="app.py", since="2026-04-05T08:00:02Z") == [("ssn_b", 1)]
    assert found(filled, search="app.py", newest_first=True, limit=1) == [("ssn_b", 1)]
    assert filled.count_events(search="app.py") == 3


@pytest.mark.parametrize("bad", ["", "   ", "x\0y", "w" * 1001, 42])
def test_a_search_that_is_not_words_is_refused(filled, bad):
    with pytest.raises(ValidationError, match="search must be"):
        list(filled.events(search=bad))


def test_a_search_of_more_than_32_words_is_refused_and_a_repeated_word_counts_once(filled, root):
    with pytest.raises(ValidationError, match="33 words, more than 32"):
        list(filled.events(search=" ".join(f"w{i}" for i in range(33))))
    with pytest.raises(ValidationError, match="33 words, more than 32"):
        filled.count_events(search=".".join(["src"] * 33))  # one word typed, 33 words of the index
    with pytest.raises(ValidationError, match="33 words, more than 32"):
        filled.session_page(search=" ".join(f"w{i}*" for i in range(33)))
    assert found(filled, search=" ".join(["app.py"] * 100)) == found(filled, search="app.py")  # two words
    result = subprocess.run([sys.executable, "-m", "treeship_store", "--root", str(root), "events", "--search",
                             " ".join(f"w{i}" for i in range(40))], capture_output=True, text=True)
    assert result.returncode == 1 and result.stderr.startswith("Error: search has 40 words")
    assert len(result.stderr.splitlines()) == 1


def test_the_sessions_page_matches_the_words_once_not_once_per_session(store):
    def steps_of_a_search_matching_nothing():
        # SQLite's own count of the work (a callback per step), not a clock.
        steps = [0]
        store._index.reader.set_progress_handler(lambda: steps.__setitem__(0, steps[0] + 1), 1)
        try:
            assert store.session_page(search="nothing* here*") == []
        finally:
            store._index.reader.set_progress_handler(None, 0)
        return steps[0]
    for i in range(30):
        store.append("ssn_%03d" % i, make_event(tool_name=f"Tool{i}"))
    at_30 = steps_of_a_search_matching_nothing()
    for i in range(30, 300):
        store.append("ssn_%03d" % i, make_event(tool_name=f"Tool{i}"))
    assert steps_of_a_search_matching_nothing() < 2 * at_30  # a MATCH per session took ten times as many


def test_a_search_that_runs_past_its_timeout_is_stopped_with_one_clear_error(root):
    with Store(root) as store:
        store.append_many("ssn_t", [make_event(tool_name=f"Tool{i}") for i in range(2000)])
    with Store(root, search_timeout=0) as bounded:  # past its deadline at SQLite's first look
        for ask in (lambda: list(bounded.events(search="tool*")), lambda: bounded.count_events(search="tool*"),
                    lambda: bounded.session_page(search="tool*")):
            with pytest.raises(ValidationError, match="the search ran longer than 0 s and was stopped"):
                ask()
        assert bounded.count_events(type="agent.called_tool") == 2000  # only a search is bounded
        assert len(list(bounded.events("ssn_t"))) == 2000
    with Store(root) as unbounded:
        assert unbounded.count_events(search="tool*") == 2000
    with pytest.raises(ValidationError, match="search_timeout"):
        Store(root, search_timeout=-1)


def test_search_follows_the_record_through_rebuild_and_removal(filled, root):
    before = index_contents(root)
    assert {(session, line) for session, line, _, _ in before["search"]} == {
        ("ssn_a", 0), ("ssn_a", 1), ("ssn_a", 2), ("ssn_a", 3), ("ssn_b", 0), ("ssn_b", 1)}
    filled.reindex(full=True)
    assert index_contents(root) == before
    filled.reindex("ssn_b")
    assert index_contents(root) == before
    os.unlink(root / "sessions" / "ssn_b" / "events.jsonl")
    assert found(filled, search="cargo") == []
    assert {session for session, _, _, _ in index_contents(root)["search"]} == {"ssn_a"}


def test_a_phrase_never_runs_from_one_text_into_the_next(store, root):
    store.append_many("ssn_p", [
        make_event("agent.started_process", process_name="make", command="db-migrate --all"),
        make_event("agent.handoff", from_agent_instance_id="ai_1", to_agent_instance_id="ai_2",
                   artifacts=["notes.md", "plan.md"]),
        make_event(tool_name="Fetch", meta={"a": "alpha", "b": ["beta", "x\ue000y"]}),
    ])
    assert found(store, search="make.db") == []  # one field ends in make, the next starts with db
    assert found(store, search="make db") == [("ssn_p", 0)]  # two words: each anywhere
    assert found(store, search="db-migrate") == found(store, search="make") == [("ssn_p", 0)]
    assert found(store, search="md.plan") == [] and found(store, search="plan.md") == [("ssn_p", 1)]
    assert found(store, search="alpha.beta") == found(store, search="beta.x") == []  # meta's strings too
    # The break is a private-use character; in a text or a query it is a space, never the break.
    assert found(store, search="x\ue000y") == found(store, search="x.y") == [("ssn_p", 2)]
    assert found(store, search="\ue000") == found(store, search="fetch\ue000alpha") == []
    before = index_contents(root)
    store.reindex(full=True)
    assert index_contents(root) == before


def schema_4_names():
    """The tables, indexes and views migrations m001-m004 create."""
    from sqlite_utils import Database, Migrations
    from treeship_store.migrations import m001_sessions_events_damage, m002_counts_and_deferred_indexes, \
        m003_freshness, m004_strings
    old = Migrations("treeship_store")
    for migration in (m001_sessions_events_damage, m002_counts_and_deferred_indexes, m003_freshness, m004_strings):
        old()(migration)
    db = Database(memory=True)
    old.apply(db)
    return {name for name, in db.execute("SELECT name FROM sqlite_master")}


def test_an_index_of_schema_4_is_upgraded_and_its_events_become_searchable(filled, root):
    filled.close()
    conn = sqlite3.connect(root / "index.db", isolation_level=None)
    keep = schema_4_names()
    for kind in ("table", "index"):  # what m005 added goes, as if it had never run
        for name, in conn.execute("SELECT name FROM sqlite_master WHERE type = ? AND name NOT LIKE 'sqlite_%'",
                                  (kind,)).fetchall():
            if name not in keep and conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (name,)).fetchone():
                conn.execute(f'DROP {kind.upper()} "{name}"')
    conn.execute("DELETE FROM index_meta WHERE name = 'last_session_key'")
    conn.execute("DELETE FROM _sqlite_migrations WHERE name NOT IN ('m001_sessions_events_damage', "
                 "'m002_counts_and_deferred_indexes', 'm003_freshness', 'm004_strings')")
    conn.execute("PRAGMA user_version = 4")
    conn.close()
    with Store(root) as store:
        assert found(store, search="cargo") == [("ssn_b", 0)]
        assert store.verify().ok
    conn = sqlite3.connect(root / "index.db")
    assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    conn.close()


def test_an_index_of_schema_6_is_upgraded_and_its_phrases_keep_to_one_text(store, root):
    from treeship_store.projector import TEXT_BREAK, search_text
    store.append_many("ssn_p", [make_event("agent.started_process", process_name="make", command="db-migrate"),
                                make_event("agent.wrote_file", file_path="src/db.py")])
    expected = index_contents(root)
    store.close()
    conn = sqlite3.connect(root / "index.db", isolation_level=None)  # the words as schema 6 wrote them
    conn.execute("INSERT INTO event_text (event_text) VALUES ('delete-all')")
    for key, in conn.execute("SELECT session_key FROM sessions").fetchall():
        for line_no, line in enumerate((root / "sessions" / "ssn_p" / "events.jsonl").read_bytes().splitlines()):
            conn.execute("INSERT INTO event_text (rowid, text) VALUES (?, ?)",
                         (key << 32 | line_no, search_text(orjson.loads(line)).replace(f"\n{TEXT_BREAK}\n", "\n")))
    conn.execute("DELETE FROM _sqlite_migrations WHERE name = 'm007_texts_apart_in_search'")
    conn.execute("PRAGMA user_version = 6")
    assert conn.execute("SELECT count(*) FROM event_text WHERE event_text MATCH '\"make db\"'").fetchone() == (1,)
    conn.close()
    with Store(root) as upgraded:
        assert found(upgraded, search="make.db") == [] and found(upgraded, search="db") == [("ssn_p", 0), ("ssn_p", 1)]
        assert upgraded.verify().ok
    assert index_contents(root) == expected
    conn = sqlite3.connect(root / "index.db")
    assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    conn.close()


def test_cli_search_prints_newest_first_and_refuses_bad_input(filled, root):
    def cli(*args):
        return subprocess.run([sys.executable, "-m", "treeship_store", "--root", str(root), "events", *args],
                              capture_output=True, text=True)
    result = cli("--search", "app.py", "--format", "jsonl")
    assert result.returncode == 0, result.stderr
    lines = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert [(e["session_id"], e["sequence_no"]) for e in lines] == [("ssn_b", 1), ("ssn_a", 1), ("ssn_a", 0)]
    assert cli("--search", "app.py", "--count").stdout.strip() == "3"
    result = cli("--search", " ")
    assert result.returncode != 0 and result.stderr.startswith("Error: search must be")
    assert len(result.stderr.splitlines()) == 1


def test_words_of_a_replaced_file_never_match_its_new_lines(filled, root, tmp_path):
    with Store(tmp_path / "other") as other:
        other.append("ssn_b", make_event("agent.started_process", process_name="make", command="make deploy"))
    os.replace(tmp_path / "other" / "sessions" / "ssn_b" / "events.jsonl", root / "sessions" / "ssn_b" / "events.jsonl")
    assert found(filled, search="cargo") == []  # the old line 0 said cargo; the new one does not
    assert found(filled, search="deploy") == [("ssn_b", 0)]
    before = index_contents(root)
    filled.reindex(full=True)
    assert index_contents(root) == before


def test_words_wait_in_small_batches_and_go_in_together(store, root):
    from treeship_store.index import SEARCH_BATCH
    for batch in range(SEARCH_BATCH // 50 + 2):
        store.append_many("ssn_many", [make_event(tool_name=f"Tool{batch}x{i}") for i in range(50)])
    conn = sqlite3.connect(root / "index.db")
    waiting = conn.execute("SELECT count(*) FROM search_pending").fetchone()[0]
    moved = conn.execute("SELECT count(*) FROM event_text WHERE event_text MATCH 'tool*'").fetchone()[0]
    conn.close()
    assert waiting < SEARCH_BATCH and moved >= SEARCH_BATCH  # bounded, and moved in one go
    assert found(store, search="Tool0x7") == [("ssn_many", 7)]  # a search sees what still waited
    assert found(store, search=f"Tool{SEARCH_BATCH // 50 + 1}x49") == [("ssn_many", SEARCH_BATCH + 99)]
