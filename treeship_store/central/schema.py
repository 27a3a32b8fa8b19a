"""The central store's schema: migrations applied in order, each recorded in
treeship_migrations, under an advisory lock so that hosts starting at once
apply each exactly once. Never edit one that has shipped; add the next.

Every line a host pushes is one row of `lines`, keyed by (month, session_id,
line_no): the session's month (decided by its first push, fixed thereafter)
is the partition key, so retention is dropping a month's partition and the
key still names one line of one session. An event keeps its stored line as
text beside the columns queries filter on; a damaged line keeps its bytes
and the reason. A different line at a position already taken goes to
`conflicts`, never over what is there.
"""

from __future__ import annotations

from ..projector import FAILED_TYPE

# A failed process (projector.py's rule) on the columns of `lines`.
FAILED = f"type = '{FAILED_TYPE}' AND exit_code <> 0"

MIGRATIONS: list[tuple[str, str]] = [
    ("c001_lines", """
        CREATE TABLE treeship_meta (name text PRIMARY KEY, value text NOT NULL);
        INSERT INTO treeship_meta VALUES ('central_id', gen_random_uuid()::text);
        CREATE TABLE stores (
            store_id uuid PRIMARY KEY,
            host_id text,
            first_push timestamptz NOT NULL DEFAULT now()
        );
        CREATE TABLE sessions (
            session_id text PRIMARY KEY,
            month date NOT NULL,
            store_id uuid NOT NULL REFERENCES stores,
            started_at timestamptz,  -- the first time in its first push: the order of the sessions page
            first_push timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX sessions_by_start ON sessions (started_at DESC NULLS LAST, session_id DESC);
        CREATE TABLE lines (
            month date NOT NULL,
            session_id text NOT NULL,
            line_no bigint NOT NULL,
            store_id uuid NOT NULL,
            sequence_no bigint,
            at timestamptz,
            type text,
            agent_id text,
            agent_name text,
            agent_instance_id text,
            host_id text,
            file_path text,
            exit_code bigint,
            model text,
            tokens_in bigint,
            tokens_out bigint,
            line text,            -- an event: its stored line, unchanged
            damaged bytea,        -- a damaged line: its bytes
            reason text,          -- and why it is not an event
            byte_offset bigint,   -- and where it starts in its events.jsonl
            PRIMARY KEY (month, session_id, line_no),
            CHECK ((line IS NULL) <> (damaged IS NULL))
        ) PARTITION BY RANGE (month);
        -- Times NULLS FIRST, as the local index orders them (SQLite puts NULL
        -- first going up): a backward scan is then "newest first" exactly.
        CREATE INDEX lines_by_agent_name ON lines (agent_name, type, at NULLS FIRST);
        CREATE INDEX lines_by_agent_id ON lines (agent_id, type, at NULLS FIRST);
        CREATE INDEX lines_by_instance ON lines (agent_instance_id, type, at NULLS FIRST);
        CREATE INDEX lines_by_type ON lines (type, at NULLS FIRST);
        CREATE INDEX lines_by_host ON lines (host_id, at NULLS FIRST);
        CREATE INDEX lines_files ON lines (agent_name, type, file_path, at) WHERE file_path IS NOT NULL;
        -- A pushing role needs only SELECT and INSERT (docs/central.md): the
        -- month's partition is made by this function, which runs with its
        -- owner's rights and can do nothing else.
        -- The search path of the migration, so that `lines` is the one above;
        -- keep that schema unwritable by pushing roles.
        CREATE FUNCTION treeship_month_partition(month date) RETURNS void
        LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
        BEGIN
            PERFORM pg_advisory_xact_lock(1416844149);
            EXECUTE format('CREATE TABLE IF NOT EXISTS %I PARTITION OF lines FOR VALUES FROM (%L) TO (%L)',
                           'lines_' || to_char(month, 'YYYY_MM'), date_trunc('month', month)::date,
                           (date_trunc('month', month) + interval '1 month')::date);
        END $$;
        REVOKE EXECUTE ON FUNCTION treeship_month_partition(date) FROM PUBLIC;
        -- Counts of the lines inserted, a row per (batch, type, agent, model),
        -- insert-only and summed on read: stats and sessions never scan
        -- `lines`. Written in the transaction that inserts the lines, from
        -- the lines it did insert, so a batch pushed again adds nothing.
        -- type NULL counts damaged lines.
        CREATE TABLE line_counts (
            month date NOT NULL,
            session_id text NOT NULL,
            type text,
            agent_name text,
            model text NOT NULL,
            events bigint NOT NULL,
            tokens_in numeric NOT NULL,
            tokens_out numeric NOT NULL,
            failed bigint NOT NULL,
            first_at timestamptz,
            last_at timestamptz
        );
        CREATE INDEX line_counts_by_session ON line_counts (session_id);
        CREATE TABLE conflicts (
            session_id text NOT NULL,
            line_no bigint NOT NULL,
            store_id uuid NOT NULL,
            line bytea NOT NULL,
            found_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (session_id, line_no, store_id)
        );
    """),
    ("c002_pruned_sessions", """
        -- Sessions `prune --db` removed (central/retention.py): a host that
        -- still has one pushes nothing of it again, so a prune is never
        -- undone by the next push.
        CREATE TABLE pruned_sessions (
            session_id text PRIMARY KEY,
            pruned_at timestamptz NOT NULL DEFAULT now(),
            last_at timestamptz
        );
    """),
]
