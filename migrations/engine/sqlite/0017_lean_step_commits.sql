-- The one-statement step commit (0016) writing fewer pages. SQLite rewrites an index entry of
-- every index one of whose columns an UPDATE names, whether or not its value changes: 0016's
-- queue update named `state`, `run_at` and `key_held` (three indexes) and its projection upsert
-- named `type` and `status` (two indexes) on every step, although a step that goes on changes
-- none of them. Here a step that goes on (`continue`) sets only the queue's sequence number,
-- lease end and failure count, and a projection whose type, status and priority stay sets only
-- its other columns; the full forms run only when the job's state changes (retry, wait, finish)
-- or its projection's status does. What is written is the same as 0016's, column for column.
-- A mode added to `commit_append` in `engine/src/store/sqlite.rs` must be added here, as there.
DROP TRIGGER step_commits_append;

CREATE TRIGGER step_commits_append INSTEAD OF INSERT ON step_commits
BEGIN
    SELECT RAISE(ABORT, 'dongbo: fenced') WHERE NOT EXISTS (
        SELECT 1 FROM job_queue WHERE job_id = NEW.job_id AND state = 'leased' AND lease_owner = NEW.worker
            AND attempt = NEW.attempt AND last_seq = NEW.after_seq);
    UPDATE job_queue SET last_seq = NEW.last_seq, lease_expires_at = NEW.at, step_failures = 0
    WHERE job_id = NEW.job_id AND NEW.mode = 'continue';
    UPDATE job_queue SET
        last_seq = NEW.last_seq,
        state = CASE NEW.mode WHEN 'retry' THEN 'ready' WHEN 'wait' THEN 'ready' ELSE 'done' END,
        run_at = CASE WHEN NEW.mode IN ('retry', 'wait') THEN NEW.at ELSE run_at END,
        lease_owner = NULL,
        lease_expires_at = NULL,
        step_failures = CASE NEW.mode WHEN 'wait' THEN 0 WHEN 'retry' THEN step_failures + 1
            ELSE step_failures END,
        key_held = CASE NEW.mode WHEN 'finish' THEN NULL ELSE key_held END
    WHERE job_id = NEW.job_id AND NEW.mode <> 'continue';
    INSERT INTO events (job_id, seq, event_type, payload, recorded_at, actor)
        SELECT NEW.job_id, e.value ->> 0, e.value ->> 1, e.value ->> 2, e.value ->> 3, e.value ->> 4
        FROM json_each(NEW.events) e ORDER BY e.key;
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
        WHERE NOT EXISTS (SELECT 1 FROM background_jobs WHERE id = NEW.job_id AND type = NEW.type
            AND status = NEW.status AND priority = NEW.priority)
        ON CONFLICT (id) DO UPDATE SET type = excluded.type, status = excluded.status, total = excluded.total,
            priority = excluded.priority, processed = excluded.processed, successful = excluded.successful,
            failed = excluded.failed, metadata = excluded.metadata, error = excluded.error,
            created_at = excluded.created_at, started_at = excluded.started_at, updated_at = excluded.updated_at,
            completed_at = excluded.completed_at, attempts = excluded.attempts;
END;
