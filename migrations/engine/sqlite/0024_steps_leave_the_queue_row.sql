-- A step's commit no longer writes the job's queue row unless it must: one page of the four a
-- step wrote (the event, its `(job_id, seq)` key, the queue row, the projection row).
--
-- Until now every step set the queue row's `last_seq`, extended its lease and reset its failure
-- count, and fenced on `last_seq = after_seq`. Now:
-- - The lease is fenced by a read: the row must still be leased to this worker at this attempt.
--   (SQLite runs one write transaction at a time, so nothing can take the lease between this
--   read and the commit.)
-- - The sequence is fenced by the events themselves: `after_seq` must be one of the job's
--   (a lookup in the events' `(job_id, seq)` key, whose page the insert writes next), and the
--   first event is inserted at `after_seq + 1`, which is taken when anyone appended since; the
--   insert then fails as a unique violation, which the driver reads as fenced. Together: the
--   append follows the job's last event, with no gap.
-- - The queue row is written by a continuing step only when its failure count must be reset or
--   less than half of its lease is left (the stored expiry is before the midpoint of the
--   event's time and the new expiry, `at`); the worker's heartbeat renews it too. A step that
--   gives the lease up (retry, wait, finish) writes it as before.
-- So `job_queue.last_seq` is the last sequence number as of the row's last write; the driver
-- reads a job's current one from `events` (`current_seq` in `engine/src/store/sqlite.rs`).
DROP TRIGGER step_commits_append;

CREATE TRIGGER step_commits_append INSTEAD OF INSERT ON step_commits
BEGIN
    SELECT RAISE(ABORT, 'dongbo: fenced')
    WHERE NOT EXISTS (SELECT 1 FROM events WHERE job_id = NEW.job_id AND seq = NEW.after_seq);
    SELECT RAISE(ABORT, 'dongbo: fenced') WHERE NEW.mode = 'continue' AND NOT EXISTS (
        SELECT 1 FROM job_queue WHERE job_id = NEW.job_id AND state = 'leased' AND lease_owner = NEW.worker
            AND attempt = NEW.attempt);
    UPDATE job_queue SET last_seq = NEW.last_seq, lease_expires_at = NEW.at, step_failures = 0
    WHERE job_id = NEW.job_id AND NEW.mode = 'continue'
        AND (step_failures <> 0 OR lease_expires_at < (NEW.recorded_at + NEW.at) / 2);
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
        AND attempt = NEW.attempt;
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
