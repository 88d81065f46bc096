"""Schema migrations, applied in order; `PRAGMA user_version` records the last one applied."""

from __future__ import annotations

MIGRATIONS: list[str] = [
    # 1: the core loop
    """
    CREATE TABLE sessions (
        id INTEGER PRIMARY KEY,
        server_id TEXT NOT NULL,
        number INTEGER NOT NULL,
        token TEXT NOT NULL UNIQUE,
        pane_key TEXT NOT NULL,
        pane_id TEXT,
        tmux_socket TEXT,
        tmux_session TEXT,
        claude_session_id TEXT,
        project TEXT,
        last_event TEXT,
        last_prompt TEXT,
        last_reply TEXT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        UNIQUE (server_id, number)
    );
    CREATE INDEX sessions_by_pane ON sessions (server_id, pane_key, expires_at);
    CREATE INDEX sessions_by_expiry ON sessions (expires_at);

    CREATE TABLE hook_events (
        event_id TEXT PRIMARY KEY,
        server_id TEXT NOT NULL,
        session_id INTEGER,
        received_at REAL NOT NULL
    );

    CREATE TABLE telegram_updates (
        update_id INTEGER PRIMARY KEY,
        received_at REAL NOT NULL
    );

    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY,
        chat_id INTEGER NOT NULL,
        text TEXT NOT NULL,
        parse_mode TEXT,
        reply_to INTEGER,
        session_id INTEGER,
        command_id TEXT,
        kind TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending',
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL NOT NULL,
        last_error TEXT,
        message_id INTEGER,
        created_at REAL NOT NULL,
        sent_at REAL
    );
    CREATE INDEX outbox_by_state ON outbox (state, next_attempt_at, id);

    CREATE TABLE messages (
        chat_id INTEGER NOT NULL,
        message_id INTEGER NOT NULL,
        session_id INTEGER NOT NULL,
        PRIMARY KEY (chat_id, message_id)
    );

    CREATE TABLE commands (
        id TEXT PRIMARY KEY,
        session_id INTEGER NOT NULL,
        text TEXT NOT NULL,
        source TEXT NOT NULL,
        chat_id INTEGER,
        reply_to INTEGER,
        state TEXT NOT NULL,
        error_code TEXT,
        error_text TEXT,
        created_at REAL NOT NULL,
        finished_at REAL
    );
    CREATE INDEX commands_by_state ON commands (state, created_at);
    CREATE INDEX commands_by_time ON commands (created_at);
    """,
    # 2: circuit breakers, persisted so a restart does not forget an open one
    """
    CREATE TABLE breakers (
        server_id TEXT PRIMARY KEY,
        state TEXT NOT NULL,
        failures INTEGER NOT NULL DEFAULT 0,
        successes INTEGER NOT NULL DEFAULT 0,
        opened_at REAL,
        next_probe_at REAL,
        last_error TEXT,
        updated_at REAL NOT NULL
    );
    """,
    # 3: dead letters: outbox rows that failed every attempt, worked on a slower schedule
    """
    CREATE TABLE dead_letters (
        id INTEGER PRIMARY KEY,
        outbox_id INTEGER NOT NULL UNIQUE,
        chat_id INTEGER NOT NULL,
        kind TEXT NOT NULL,
        reason TEXT NOT NULL,
        error_type TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        cycles INTEGER NOT NULL DEFAULT 0,
        state TEXT NOT NULL DEFAULT 'queued',
        next_attempt_at REAL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        archived_at REAL,
        alerted_at REAL,
        delivered_at REAL
    );
    CREATE INDEX dead_letters_by_state ON dead_letters (state, next_attempt_at, id);
    """,
    # 4: session health: a lost pane is marked, not forgotten, until it comes back
    """
    ALTER TABLE sessions ADD COLUMN health TEXT NOT NULL DEFAULT 'ok';
    ALTER TABLE sessions ADD COLUMN lost_at REAL;
    ALTER TABLE sessions ADD COLUMN last_used_at REAL;
    """,
    # 5: trace ids: spans kept 24 h; outbox rows and commands remember the trace they belong to
    """
    CREATE TABLE spans (
        id INTEGER PRIMARY KEY,
        trace_id TEXT NOT NULL,
        span_id TEXT NOT NULL,
        parent_id TEXT,
        name TEXT NOT NULL,
        component TEXT NOT NULL,
        server TEXT,
        started_at REAL NOT NULL,
        ended_at REAL NOT NULL,
        status TEXT NOT NULL,
        attributes TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX spans_by_trace ON spans (trace_id, started_at);
    CREATE INDEX spans_by_start ON spans (started_at);
    ALTER TABLE outbox ADD COLUMN trace_parent TEXT;
    ALTER TABLE commands ADD COLUMN trace_id TEXT;
    """,
    # 6: metric snapshots: the time series' figures once a minute, kept 24 h
    """
    CREATE TABLE IF NOT EXISTS metric_snapshots (
        at REAL PRIMARY KEY,
        data TEXT NOT NULL
    );
    """,
    # 7: indices for the hot queries (tests/integration/test_query_plans.py checks each plan)
    """
    CREATE INDEX IF NOT EXISTS sessions_by_tmux_session ON sessions (server_id, tmux_session);
    CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (state, id);
    CREATE INDEX IF NOT EXISTS outbox_by_chat ON outbox (state, chat_id, id);
    """,
    # 8: alerts: one row per firing of a rule (per server where it has one), kept after it resolves
    """
    CREATE TABLE alerts (
        id INTEGER PRIMARY KEY,
        rule TEXT NOT NULL,
        server TEXT NOT NULL DEFAULT '',
        state TEXT NOT NULL,
        message TEXT NOT NULL,
        value REAL,
        fired_at REAL NOT NULL,
        notified_at REAL NOT NULL,
        acknowledged_by TEXT,
        acknowledged_at REAL,
        resolved_at REAL
    );
    CREATE INDEX alerts_by_key ON alerts (rule, server, fired_at);
    CREATE UNIQUE INDEX alerts_one_open ON alerts (rule, server) WHERE state != 'resolved';
    """,
    # 9: command feedback: the lifecycle of each command, its live Telegram message, Claude's
    # reply, full-text search over 30 days, permission prompts, drafts awaiting a yes, topics
    """
    ALTER TABLE commands ADD COLUMN typed_at REAL;
    ALTER TABLE commands ADD COLUMN received_at REAL;
    ALTER TABLE commands ADD COLUMN reply TEXT;
    ALTER TABLE commands ADD COLUMN progress_at REAL;
    ALTER TABLE commands ADD COLUMN card_outbox_id INTEGER;
    ALTER TABLE commands ADD COLUMN alias TEXT;
    ALTER TABLE commands ADD COLUMN retry_of TEXT;
    UPDATE commands SET state = 'executing' WHERE state = 'delivered';
    CREATE INDEX commands_by_session ON commands (session_id, created_at);
    CREATE INDEX commands_by_session_state ON commands (session_id, state, created_at);
    CREATE TABLE command_events (
        command_id TEXT NOT NULL,
        state TEXT NOT NULL,
        at REAL NOT NULL,
        detail TEXT
    );
    CREATE INDEX command_events_by_command ON command_events (command_id, at);
    CREATE VIRTUAL TABLE commands_fts USING fts5(
        text, reply, content='commands', content_rowid='rowid', tokenize='unicode61'
    );
    INSERT INTO commands_fts (rowid, text, reply) SELECT rowid, text, COALESCE(reply, '')
        FROM commands;
    CREATE TRIGGER commands_fts_insert AFTER INSERT ON commands BEGIN
        INSERT INTO commands_fts (rowid, text, reply)
        VALUES (new.rowid, new.text, COALESCE(new.reply, ''));
    END;
    CREATE TRIGGER commands_fts_delete AFTER DELETE ON commands BEGIN
        INSERT INTO commands_fts (commands_fts, rowid, text, reply)
        VALUES ('delete', old.rowid, old.text, COALESCE(old.reply, ''));
    END;
    CREATE TRIGGER commands_fts_update AFTER UPDATE OF text, reply ON commands BEGIN
        INSERT INTO commands_fts (commands_fts, rowid, text, reply)
        VALUES ('delete', old.rowid, old.text, COALESCE(old.reply, ''));
        INSERT INTO commands_fts (rowid, text, reply)
        VALUES (new.rowid, new.text, COALESCE(new.reply, ''));
    END;
    ALTER TABLE outbox ADD COLUMN edit_of INTEGER;
    ALTER TABLE outbox ADD COLUMN thread_id INTEGER;
    CREATE INDEX outbox_by_command ON outbox (command_id, state);
    CREATE TABLE prompts (
        id INTEGER PRIMARY KEY,
        session_id INTEGER NOT NULL,
        kind TEXT NOT NULL,
        question TEXT NOT NULL,
        options TEXT NOT NULL,
        screen TEXT NOT NULL,
        created_at REAL NOT NULL,
        answered_at REAL,
        answer TEXT,
        answered_by TEXT
    );
    CREATE INDEX prompts_by_session ON prompts (session_id, created_at);
    CREATE TABLE drafts (
        id INTEGER PRIMARY KEY,
        chat_id INTEGER NOT NULL,
        session_id INTEGER NOT NULL,
        text TEXT NOT NULL,
        created_at REAL NOT NULL,
        used_at REAL
    );
    CREATE TABLE topics (
        chat_id INTEGER NOT NULL,
        session_id INTEGER NOT NULL,
        thread_id INTEGER NOT NULL,
        name TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'open',
        created_at REAL NOT NULL,
        PRIMARY KEY (chat_id, session_id)
    );
    CREATE UNIQUE INDEX topics_by_thread ON topics (chat_id, thread_id);
    """,
    # 10: the thread (forum topic) a command was typed in; its later messages go back there
    """
    ALTER TABLE commands ADD COLUMN thread_id INTEGER;
    """,
    # 11: what newer Claude Code hooks tell: the turn id (prompt_id) a command was received as,
    # so its Stop or StopFailure is matched by id rather than by text; per server, the failure
    # that needs an admin (logged out, billing) until a later Stop from there clears it; when a
    # session ended (its SessionEnd), so a later event from its pane brings it back
    """
    ALTER TABLE commands ADD COLUMN prompt_id TEXT;
    ALTER TABLE sessions ADD COLUMN ended_at REAL;
    CREATE TABLE claude_failures (
        server_id TEXT PRIMARY KEY,
        error TEXT NOT NULL,
        said TEXT NOT NULL DEFAULT '',
        at REAL NOT NULL
    );
    """,
    # 12: Claude's steps while a command runs (tool calls from its PreToolUse/PostToolUse
    # hooks), shown live on the command's message; the steps go when the command finishes,
    # its one-row summary stays as long as the command does
    """
    CREATE TABLE command_steps (
        command_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        tool_use_id TEXT,
        tool TEXT NOT NULL,
        subject TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL DEFAULT 'running',
        error TEXT,
        started_at REAL NOT NULL,
        ended_at REAL,
        PRIMARY KEY (command_id, seq)
    );
    CREATE INDEX command_steps_by_call ON command_steps (command_id, tool_use_id);
    CREATE TABLE command_activity (
        command_id TEXT PRIMARY KEY,
        steps INTEGER NOT NULL DEFAULT 0,
        failed INTEGER NOT NULL DEFAULT 0,
        counts TEXT NOT NULL DEFAULT '{}',
        updated_at REAL NOT NULL
    );
    CREATE TRIGGER command_steps_pruned AFTER UPDATE OF state ON commands
    WHEN new.state IN ('completed', 'failed', 'timeout', 'cancelled')
    BEGIN
        DELETE FROM command_steps WHERE command_id = new.id;
    END;
    CREATE TRIGGER command_activity_purged AFTER DELETE ON commands
    BEGIN
        DELETE FROM command_steps WHERE command_id = old.id;
        DELETE FROM command_activity WHERE command_id = old.id;
    END;
    """,
    # 13: the audit log: who did what, append-only; `key` makes a redelivered Telegram update
    # or a repeated API request (Idempotency-Key) record its entry once
    """
    CREATE TABLE audit (
        id INTEGER PRIMARY KEY,
        at REAL NOT NULL,
        face TEXT NOT NULL,
        actor TEXT NOT NULL,
        actor_name TEXT NOT NULL DEFAULT '',
        action TEXT NOT NULL,
        what TEXT NOT NULL DEFAULT '',
        server TEXT,
        session TEXT,
        outcome TEXT NOT NULL,
        refused INTEGER NOT NULL DEFAULT 0,
        trace_id TEXT,
        key TEXT UNIQUE
    );
    CREATE INDEX audit_by_time ON audit (at);
    """,
    # 14: when the goodbye was sent, on the hook's own clock: an event its Claude sent before
    # it (delivered late) is told without bringing the ended session back
    """
    ALTER TABLE sessions ADD COLUMN ended_sent_at REAL;
    """,
]
