-- A lease holder's common step commit (no local writes, no audit entries) as one statement, as
-- PostgreSQL's driver already does it: inserting one row into this view runs the trigger below,
-- which checks the fence (the queue row still leased to this worker and claim, at the sequence
-- number before the first new event), moves the queue row, appends the events and writes the
-- projection row. A statement is its own transaction, so it is all or nothing, and it takes the
-- write lock when it starts, as `BEGIN IMMEDIATE` does. One statement is one trip to the
-- connection's thread where the transaction took five (begin, queue, events, projection,
-- commit). `engine/src/store/sqlite.rs` (`STEP_COMMIT`) binds the columns.
--
-- `events` is a JSON array of `[seq, event_type, payload, recorded_at, actor]`, the payload its
-- JSON text as a string (stored byte for byte as given); `mode` is `continue`, `retry`, `wait`
-- or `finish` and `at` the lease end, retry or wake-up time (ms), exactly as in the queue update
-- of the transaction path (`commit_append` in `engine/src/store/sqlite.rs`): a mode added there
-- must be added here.
CREATE VIEW step_commits AS SELECT
    NULL AS job_id, NULL AS worker, NULL AS attempt, NULL AS after_seq, NULL AS last_seq, NULL AS mode,
    NULL AS at, NULL AS events,
    NULL AS type, NULL AS status, NULL AS total, NULL AS processed, NULL AS successful, NULL AS failed,
    NULL AS metadata, NULL AS error, NULL AS created_at, NULL AS started_at, NULL AS updated_at,
    NULL AS completed_at, NULL AS attempts, NULL AS priority;

CREATE TRIGGER step_commits_append INSTEAD OF INSERT ON step_commits
BEGIN
    SELECT RAISE(ABORT, 'dongbo: fenced') WHERE NOT EXISTS (
        SELECT 1 FROM job_queue WHERE job_id = NEW.job_id AND state = 'leased' AND lease_owner = NEW.worker
            AND attempt = NEW.attempt AND last_seq = NEW.after_seq);
    UPDATE job_queue SET
        last_seq = NEW.last_seq,
        state = CASE NEW.mode WHEN 'continue' THEN state WHEN 'retry' THEN 'ready' WHEN 'wait' THEN 'ready'
            ELSE 'done' END,
        run_at = CASE WHEN NEW.mode IN ('retry', 'wait') THEN NEW.at ELSE run_at END,
        lease_owner = CASE NEW.mode WHEN 'continue' THEN lease_owner ELSE NULL END,
        lease_expires_at = CASE NEW.mode WHEN 'continue' THEN NEW.at ELSE NULL END,
        step_failures = CASE NEW.mode WHEN 'continue' THEN 0 WHEN 'wait' THEN 0 WHEN 'retry' THEN step_failures + 1
            ELSE step_failures END,
        key_held = CASE NEW.mode WHEN 'finish' THEN NULL ELSE key_held END
    WHERE job_id = NEW.job_id;
    INSERT INTO events (job_id, seq, event_type, payload, recorded_at, actor)
        SELECT NEW.job_id, e.value ->> 0, e.value ->> 1, e.value ->> 2, e.value ->> 3, e.value ->> 4
        FROM json_each(NEW.events) e ORDER BY e.key;
    INSERT INTO background_jobs (id, type, status, total, processed, successful, failed, metadata, error,
            created_at, started_at, updated_at, completed_at, attempts, priority)
        VALUES (NEW.job_id, NEW.type, NEW.status, NEW.total, NEW.processed, NEW.successful, NEW.failed,
            NEW.metadata, NEW.error, NEW.created_at, NEW.started_at, NEW.updated_at, NEW.completed_at,
            NEW.attempts, NEW.priority)
        ON CONFLICT (id) DO UPDATE SET type = excluded.type, status = excluded.status, total = excluded.total,
            priority = excluded.priority, processed = excluded.processed, successful = excluded.successful,
            failed = excluded.failed, metadata = excluded.metadata, error = excluded.error,
            created_at = excluded.created_at, started_at = excluded.started_at, updated_at = excluded.updated_at,
            completed_at = excluded.completed_at, attempts = excluded.attempts;
END;
