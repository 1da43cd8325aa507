-- The engine's tables on SQLite. Timestamps are INTEGER milliseconds since the epoch (UTC).

-- The append-only event log. `position` is the global order; (job_id, seq) is the stream order.
CREATE TABLE events (
    position    INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id      TEXT    NOT NULL,
    seq         INTEGER NOT NULL,
    event_type  TEXT    NOT NULL,
    payload     TEXT    NOT NULL,
    recorded_at INTEGER NOT NULL,
    actor       TEXT    NOT NULL,
    UNIQUE (job_id, seq)
);
CREATE INDEX events_type_time ON events (event_type, recorded_at);
CREATE INDEX events_time ON events (recorded_at);

-- Audit index: which events touched which entity (`kind:id`).
CREATE TABLE event_entities (
    position   INTEGER NOT NULL,
    job_id     TEXT    NOT NULL,
    entity_key TEXT    NOT NULL,
    action     TEXT    NOT NULL
);
CREATE INDEX event_entities_key ON event_entities (entity_key, position);
CREATE INDEX event_entities_job ON event_entities (job_id);

-- The projection, in the old tool's shape. Equal to a replay of `events`.
CREATE TABLE background_jobs (
    id           TEXT PRIMARY KEY,
    type         TEXT    NOT NULL,
    status       TEXT    NOT NULL,
    total        INTEGER,
    processed    INTEGER NOT NULL,
    successful   INTEGER NOT NULL,
    failed       INTEGER NOT NULL,
    metadata     TEXT    NOT NULL,
    error        TEXT,
    created_at   INTEGER NOT NULL,
    started_at   INTEGER,
    updated_at   INTEGER NOT NULL,
    completed_at INTEGER,
    attempts     INTEGER NOT NULL
);
CREATE INDEX background_jobs_type_status ON background_jobs (type, status, id);
CREATE INDEX background_jobs_status ON background_jobs (status, id);

-- Lease and queue bookkeeping, apart from the projection.
CREATE TABLE job_queue (
    job_id              TEXT PRIMARY KEY,
    job_type            TEXT    NOT NULL,
    state               TEXT    NOT NULL,  -- ready | leased | done
    run_at              INTEGER NOT NULL,
    lease_owner         TEXT,
    lease_expires_at    INTEGER,
    attempt             INTEGER NOT NULL DEFAULT 0,
    last_seq            INTEGER NOT NULL,
    step_failures       INTEGER NOT NULL DEFAULT 0,
    idempotency_key     TEXT UNIQUE,
    concurrency_key     TEXT,
    cancel_requested_by TEXT
);
CREATE INDEX job_queue_due ON job_queue (state, run_at);
CREATE UNIQUE INDEX job_queue_one_active_per_key ON job_queue (concurrency_key)
    WHERE concurrency_key IS NOT NULL AND state <> 'done';

-- The built-in example workflow's tables (used by the demo and the engine's tests).
CREATE TABLE example_ledger (
    job_id TEXT    NOT NULL,
    item   INTEGER NOT NULL,
    PRIMARY KEY (job_id, item)
);
-- Executions of example steps, written outside the step transaction like an external call.
CREATE TABLE example_executions (
    job_id   TEXT    NOT NULL,
    step_seq INTEGER NOT NULL,
    attempt  INTEGER NOT NULL
);
