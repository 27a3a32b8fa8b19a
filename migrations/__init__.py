"""The index schema, as sqlite-utils migrations: one small function per change.

Never edit a migration that has shipped; add the next one. The wheel installs
this folder as treeship_store.migrations. index_file.py's SCHEMA_VERSION must equal
the number of migrations (a test checks it): it lets a hook tell from one
PRAGMA that nothing needs doing, without importing sqlite-utils.
"""

from sqlite_utils import Database, Migrations

migrations = Migrations("treeship_store")


@migrations()
def m001_sessions_events_damage(db: Database) -> None:
    # Per session: how far into events.jsonl the index has read, and what the
    # file was (device, inode, last bytes read) so a replaced, truncated or
    # rewritten file is noticed and that session rebuilt.
    db["sessions"].create(
        {"session_key": int, "session_id": str, "indexed_bytes": int, "indexed_lines": int,
         "file_dev": int, "file_ino": int, "tail": bytes},
        pk="session_key",
        not_null=["session_id", "indexed_bytes", "indexed_lines", "tail"],
        defaults={"indexed_bytes": 0, "indexed_lines": 0, "tail": b""},
    )
    db["sessions"].create_index(["session_id"], unique=True)
    # One row per event line, clustered by (session, line) so a session reads in
    # file order. offset/length point at the line's bytes in events.jsonl: the
    # index is an index, the JSONL keeps the event itself.
    db.execute("""
        CREATE TABLE events (
            session_key INTEGER NOT NULL,
            line_no INTEGER NOT NULL,
            sequence_no INTEGER NOT NULL,
            event_id TEXT NOT NULL,
            timestamp_us INTEGER,
            type TEXT NOT NULL,
            agent_id TEXT NOT NULL,
            agent_instance_id TEXT NOT NULL,
            agent_name TEXT NOT NULL,
            host_id TEXT NOT NULL,
            offset INTEGER NOT NULL,
            length INTEGER NOT NULL,
            tool_name TEXT,
            file_path TEXT,
            model TEXT,
            tokens_in INTEGER,
            tokens_out INTEGER,
            duration_ms INTEGER,
            exit_code INTEGER,
            note TEXT,
            PRIMARY KEY (session_key, line_no)
        ) WITHOUT ROWID""")
    db.execute("""
        CREATE TABLE damaged_lines (
            session_key INTEGER NOT NULL,
            line_no INTEGER NOT NULL,
            offset INTEGER NOT NULL,
            length INTEGER NOT NULL,
            reason TEXT NOT NULL,
            PRIMARY KEY (session_key, line_no)
        ) WITHOUT ROWID""")
    events = db["events"]
    events.create_index(["session_key", "sequence_no"], index_name="events_by_session_seq")
    # "What did agent X do": X may be an agent id, name or instance id.
    events.create_index(["agent_id", "type", "timestamp_us"], index_name="events_by_agent_id")
    events.create_index(["agent_name", "type", "timestamp_us"], index_name="events_by_agent_name")
    events.create_index(["agent_instance_id", "type", "timestamp_us"], index_name="events_by_agent_instance")
    events.create_index(["type", "timestamp_us"], index_name="events_by_type")
    events.create_index(["timestamp_us"], index_name="events_by_time")


@migrations()
def m002_counts_and_deferred_indexes(db: Database) -> None:
    # Counts kept as catch-up inserts, so stats and sessions never scan events:
    # per session, type, agent and model ('' when none).
    db.execute("""
        CREATE TABLE event_counts (
            session_key INTEGER NOT NULL,
            type TEXT NOT NULL,
            agent_name TEXT NOT NULL,
            model TEXT NOT NULL,
            events INTEGER NOT NULL,
            tokens_in INTEGER NOT NULL,
            tokens_out INTEGER NOT NULL,
            failed INTEGER NOT NULL,
            PRIMARY KEY (session_key, type, agent_name, model)
        ) WITHOUT ROWID""")
    # The same counts over all sessions (a few hundred rows at most), for
    # store-wide questions that would otherwise sort every session's counts.
    db.execute("""
        CREATE TABLE event_totals (
            type TEXT NOT NULL,
            agent_name TEXT NOT NULL,
            model TEXT NOT NULL,
            events INTEGER NOT NULL,
            tokens_in INTEGER NOT NULL,
            tokens_out INTEGER NOT NULL,
            failed INTEGER NOT NULL,
            PRIMARY KEY (type, agent_name, model)
        ) WITHOUT ROWID""")
    db["sessions"].add_column("first_us", int)
    db["sessions"].add_column("last_us", int)
    # A full reindex drops the secondary indexes and records them here, to
    # build them once at the end (or on the next open, if it was killed).
    db["deferred_indexes"].create({"name": str, "sql": str}, pk="name")
    # Derived data: clear it, and catch-up rebuilds it with the counts.
    db.execute("DELETE FROM events")
    db.execute("DELETE FROM damaged_lines")
    db.execute("UPDATE sessions SET indexed_bytes = 0, indexed_lines = 0, tail = x''")


@migrations()
def m003_freshness(db: Database) -> None:
    # Which sessions a query checks (see Store._refresh): the file's mtime as
    # the last catch-up saw it ("hot" when recent; NULL: not known yet, so
    # checked), and per index the sessions/ listing and the last full sweep.
    db["sessions"].add_column("file_mtime_ns", int)
    db.execute("CREATE INDEX sessions_by_mtime ON sessions (file_mtime_ns)")
    db.execute("CREATE TABLE index_meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID")


@migrations()
def m004_strings(db: Database) -> None:
    # Keep the index an index (issue 12): every text the queries filter on
    # (agent id, name, instance, type, file path) is stored once, in strings,
    # and events and their indexes hold its integer key. Columns no query reads
    # (event_id, host_id, tool_name, model, tokens, duration_ms, note) are left
    # to the JSONL; stats read the counts catch-up keeps. Converted in place.
    db.execute("CREATE TABLE strings (key INTEGER PRIMARY KEY, text TEXT NOT NULL UNIQUE)")
    db.execute("INSERT OR IGNORE INTO strings (text) SELECT agent_id FROM events UNION SELECT agent_name FROM events "
               "UNION SELECT agent_instance_id FROM events UNION SELECT type FROM events "
               "UNION SELECT file_path FROM events WHERE file_path IS NOT NULL")
    db.execute("""
        CREATE TABLE events_v4 (
            session_key INTEGER NOT NULL,
            line_no INTEGER NOT NULL,
            sequence_no INTEGER NOT NULL,
            timestamp_us INTEGER,
            type_key INTEGER NOT NULL,
            agent_id_key INTEGER NOT NULL,
            agent_name_key INTEGER NOT NULL,
            instance_key INTEGER NOT NULL,
            offset INTEGER NOT NULL,
            length INTEGER NOT NULL,
            path_key INTEGER,
            exit_code INTEGER,
            PRIMARY KEY (session_key, line_no)
        ) WITHOUT ROWID""")
    db.execute("""
        INSERT INTO events_v4 SELECT e.session_key, e.line_no, e.sequence_no, e.timestamp_us,
            (SELECT key FROM strings WHERE text = e.type), (SELECT key FROM strings WHERE text = e.agent_id),
            (SELECT key FROM strings WHERE text = e.agent_name),
            (SELECT key FROM strings WHERE text = e.agent_instance_id), e.offset, e.length,
            (SELECT key FROM strings WHERE text = e.file_path), e.exit_code
        FROM events e""")
    db.execute("DROP TABLE events")
    db.execute("ALTER TABLE events_v4 RENAME TO events")
    db.execute("DROP TABLE IF EXISTS deferred_indexes")
    events = db["events"]
    events.create_index(["session_key", "sequence_no"], index_name="events_by_session_seq")
    # "What did agent X do": X may be an agent id, name or instance id; one
    # ordered range per kind of match, in time order within a type.
    events.create_index(["agent_id_key", "type_key", "timestamp_us"], index_name="events_by_agent_id")
    events.create_index(["agent_name_key", "type_key", "timestamp_us"], index_name="events_by_agent_name")
    events.create_index(["instance_key", "type_key", "timestamp_us"], index_name="events_by_agent_instance")
    # By type and time; a question without a type merges one range per type
    # (queries.py), so no index of time alone is needed.
    events.create_index(["type_key", "timestamp_us"], index_name="events_by_type")
    # For people reading index.db (Datasette, sqlite3): the texts joined back,
    # times as RFC 3339.
    db.execute("""
        CREATE VIEW events_readable AS SELECT s.session_id, e.line_no, e.sequence_no,
            strftime('%Y-%m-%dT%H:%M:%fZ', e.timestamp_us / 1000000.0, 'unixepoch') AS timestamp,
            ty.text AS type, ai.text AS agent_id, an.text AS agent_name, ins.text AS agent_instance_id,
            p.text AS file_path, e.exit_code, e.offset, e.length
        FROM events e JOIN sessions s USING (session_key) JOIN strings ty ON ty.key = e.type_key
            JOIN strings ai ON ai.key = e.agent_id_key JOIN strings an ON an.key = e.agent_name_key
            JOIN strings ins ON ins.key = e.instance_key LEFT JOIN strings p ON p.key = e.path_key""")
    db.execute("""
        CREATE VIEW sessions_readable AS SELECT session_id, indexed_lines AS lines, indexed_bytes AS bytes,
            strftime('%Y-%m-%dT%H:%M:%fZ', first_us / 1000000.0, 'unixepoch') AS first,
            strftime('%Y-%m-%dT%H:%M:%fZ', last_us / 1000000.0, 'unixepoch') AS last
        FROM sessions""")


@migrations()
def m005_search(db: Database) -> None:
    # Full-text search (issue 13): the words of each event's texts (commands,
    # paths, tool names, summaries, reasons, destinations, models, meta
    # strings) under rowid = session_key << 32 | line_no. Contentless and
    # without per-row sizes, so the index holds only the words (about 0.025
    # of the JSONL). Such rows cannot be deleted one by one: a session that is
    # forgotten or re-indexed takes a new key (never reused, index_meta's
    # last_session_key), leaving its old words unreachable until a full
    # rebuild empties the table.
    db.execute("CREATE VIRTUAL TABLE event_text USING fts5(text, content = '', columnsize = 0, "
               "tokenize = 'unicode61 remove_diacritics 2')")
    # Each FTS5 transaction costs about 25 µs whatever it inserts (a new
    # segment), more than the rest of a one-line append: a catch-up of a few
    # lines leaves their words here, and they move to event_text in bulk
    # (Index.flush_search) before a search, at a reindex's end, or once
    # SEARCH_BATCH are waiting.
    db.execute("CREATE TABLE search_pending (rowid INTEGER PRIMARY KEY, text TEXT NOT NULL)")
    # "Which files did agent X write": from this index alone, grouped by path
    # as it reads, without a visit to the table per event (issue 12); only
    # file events have a path, so it costs about 0.02 of the JSONL.
    db.execute("CREATE INDEX events_files ON events (agent_name_key, type_key, path_key, timestamp_us) "
               "WHERE path_key IS NOT NULL")
    # Sessions newest first, a page at a time (the web view's sessions page),
    # at any number of sessions; one without any time sorts last.
    db.execute("CREATE INDEX sessions_by_start ON sessions (coalesce(first_us, -9223372036854775808), session_id)")
    db.execute("INSERT INTO index_meta (name, value) SELECT 'last_session_key', coalesce(max(session_key), 0) "
               "FROM sessions")
    # The lines already indexed have no words yet: catch every session up again
    # from the JSONL (the next query sweeps them all).
    for table in ("events", "damaged_lines", "event_counts", "event_totals"):
        db.execute(f"DELETE FROM {table}")
    db.execute("UPDATE sessions SET indexed_bytes = 0, indexed_lines = 0, tail = x'', first_us = NULL, "
               "last_us = NULL")
    db.execute("DELETE FROM index_meta WHERE name = 'swept_ns'")


@migrations()
def m006_push_positions(db: Database) -> None:
    # How far `push` has shipped each session to each central store (issue
    # 14), by the central store's own id: advanced only after the central
    # commit. Derived like the rest: if index.db is deleted, the next push
    # starts again from line 0 and the central store, which keeps a line once
    # by position, ends the same.
    db.execute("""
        CREATE TABLE push_positions (
            central_id TEXT NOT NULL,
            session_id TEXT NOT NULL,
            pushed_bytes INTEGER NOT NULL,
            pushed_lines INTEGER NOT NULL,
            file_dev INTEGER,
            file_ino INTEGER,
            PRIMARY KEY (central_id, session_id)
        ) WITHOUT ROWID""")


@migrations()
def m007_texts_apart_in_search(db: Database) -> None:
    # A phrase must not run from one field into the next (issue 21): the words
    # of an event's texts now have a break between texts (projector.TEXT_BREAK),
    # so "make.db" no longer finds process_name=make with command="db-migrate".
    # The words indexed before have no breaks: empty the search index and
    # catch every session up again from the JSONL, as m005 did (the next
    # query sweeps them all). Session keys stay: event_text is empty now.
    db.execute("INSERT INTO event_text (event_text) VALUES ('delete-all')")
    db.execute("DELETE FROM search_pending")
    for table in ("events", "damaged_lines", "event_counts", "event_totals"):
        db.execute(f"DELETE FROM {table}")
    db.execute("UPDATE sessions SET indexed_bytes = 0, indexed_lines = 0, tail = x'', first_us = NULL, "
               "last_us = NULL")
    db.execute("DELETE FROM index_meta WHERE name = 'swept_ns'")
