-- The event log without AUTOINCREMENT: a step's commit no longer writes `sqlite_sequence` (one
-- page of the five it wrote, about 7 % of a step's time in `dongbo bench engine`). A position is
-- still never reused: SQLite gives a new row the largest position in the table plus one, and the
-- prune (`prune_batch` in `engine/src/store/sqlite.rs`) never deletes the stream holding the
-- newest event, so the largest position never goes down. (A database whose prune had deleted its
-- newest events before this migration continues from the largest position left, not from the
-- highest ever used; only a store idle for its whole retention gets there.)
--
-- SQLite cannot change a table's key, so the table is rebuilt: a copy with every event, position
-- for position, then the indexes and triggers of 0010 and 0022. The `step_commits` view and its
-- trigger name `events`, so they are dropped first and made again after: the view as in 0022, the
-- trigger as in 0022 but for two lookups fewer per commit. The fence is the queue update's own
-- condition (the update names the lease, the claim and the previous sequence number, and the
-- commit aborts when it changed no row), where 0022 looked the row up first and then updated it;
-- and the projection row is inserted only when the update before it changed none (`changes()`
-- counts the trigger's own last statement), where 0022 looked it up again.
DROP VIEW step_commits;

CREATE TABLE events_rebuilt (
    position    INTEGER PRIMARY KEY,
    job_id      TEXT    NOT NULL,
    seq         INTEGER NOT NULL,
    event_type  TEXT    NOT NULL,
    payload     TEXT    NOT NULL,
    recorded_at INTEGER NOT NULL,
    actor       TEXT    NOT NULL,
    UNIQUE (job_id, seq)
);
INSERT INTO events_rebuilt (position, job_id, seq, event_type, payload, recorded_at, actor)
    SELECT position, job_id, seq, event_type, payload, recorded_at, actor FROM events ORDER BY position;
DROP TABLE events;
ALTER TABLE events_rebuilt RENAME TO events;

CREATE INDEX events_type_position ON events (event_type, position) WHERE event_type <> 'StepCompleted';

CREATE TRIGGER events_refuse_update BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are append-only: an event cannot be changed');
END;

CREATE TRIGGER events_refuse_delete BEFORE DELETE ON events
WHEN NOT EXISTS (SELECT 1 FROM prune_guard)
BEGIN
    SELECT RAISE(ABORT, 'events are append-only: only the prune (dongbo prune) deletes events');
END;

CREATE VIEW step_commits AS SELECT
    NULL AS job_id, NULL AS worker, NULL AS attempt, NULL AS after_seq, NULL AS last_seq, NULL AS mode,
    NULL AS at, NULL AS event_type, NULL AS payload, NULL AS recorded_at, NULL AS actor, NULL AS more_events,
    NULL AS type, NULL AS status, NULL AS total, NULL AS processed, NULL AS successful, NULL AS failed,
    NULL AS metadata, NULL AS error, NULL AS created_at, NULL AS started_at, NULL AS updated_at,
    NULL AS completed_at, NULL AS attempts, NULL AS priority;

CREATE TRIGGER step_commits_append INSTEAD OF INSERT ON step_commits
BEGIN
    UPDATE job_queue SET last_seq = NEW.last_seq, lease_expires_at = NEW.at, step_failures = 0
    WHERE job_id = NEW.job_id AND NEW.mode = 'continue' AND state = 'leased' AND lease_owner = NEW.worker
        AND attempt = NEW.attempt AND last_seq = NEW.after_seq;
    SELECT RAISE(ABORT, 'dongbo: fenced') WHERE NEW.mode = 'continue' AND changes() = 0;
    UPDATE job_queue SET
        last_seq = NEW.last_seq,
        state = CASE NEW.mode WHEN 'retry' THEN 'ready' WHEN 'wait' THEN 'ready' ELSE 'done' END,
        run_at = CASE WHEN NEW.mode IN ('retry', 'wait') THEN NEW.at ELSE run_at END,
        lease_owner = NULL,
        lease_expires_at = NULL,
        step_failures = CASE NEW.mode WHEN 'wait' THEN 0 WHEN 'retry' THEN step_failures + 1
            ELSE step_failures END,
        key_held = CASE NEW.mode WHEN 'finish' THEN NULL ELSE key_held END
    WHERE job_id = NEW.job_id AND NEW.mode <> 'continue' AND state = 'leased' AND lease_owner = NEW.worker
        AND attempt = NEW.attempt AND last_seq = NEW.after_seq;
    SELECT RAISE(ABORT, 'dongbo: fenced') WHERE NEW.mode <> 'continue' AND changes() = 0;
    INSERT INTO events (job_id, seq, event_type, payload, recorded_at, actor)
        VALUES (NEW.job_id, NEW.after_seq + 1, NEW.event_type, NEW.payload, NEW.recorded_at, NEW.actor);
    INSERT INTO events (job_id, seq, event_type, payload, recorded_at, actor)
        SELECT NEW.job_id, e.value ->> 0, e.value ->> 1, e.value ->> 2, e.value ->> 3, e.value ->> 4
        FROM json_each(NEW.more_events) e WHERE NEW.more_events IS NOT NULL ORDER BY e.key;
    UPDATE background_jobs SET total = NEW.total, processed = NEW.processed, successful = NEW.successful,
        failed = NEW.failed, metadata = NEW.metadata, error = NEW.error, created_at = NEW.created_at,
        started_at = NEW.started_at, updated_at = NEW.updated_at, completed_at = NEW.completed_at,
        attempts = NEW.attempts
    WHERE id = NEW.job_id AND type = NEW.type AND status = NEW.status AND priority = NEW.priority;
    INSERT INTO background_jobs (id, type, status, total, processed, successful, failed, metadata, error,
            created_at, started_at, updated_at, completed_at, attempts, priority)
        SELECT NEW.job_id, NEW.type, NEW.status, NEW.total, NEW.processed, NEW.successful, NEW.failed,
            NEW.metadata, NEW.error, NEW.created_at, NEW.started_at, NEW.updated_at, NEW.completed_at,
            NEW.attempts, NEW.priority
        WHERE changes() = 0
        ON CONFLICT (id) DO UPDATE SET type = excluded.type, status = excluded.status, total = excluded.total,
            priority = excluded.priority, processed = excluded.processed, successful = excluded.successful,
            failed = excluded.failed, metadata = excluded.metadata, error = excluded.error,
            created_at = excluded.created_at, started_at = excluded.started_at, updated_at = excluded.updated_at,
            completed_at = excluded.completed_at, attempts = excluded.attempts;
END;
