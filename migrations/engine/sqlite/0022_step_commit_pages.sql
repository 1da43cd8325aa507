-- The step commit (0016, 0017) writing fewer pages and parsing no JSON in the common case.
--
-- 1. The time index `events_time` took one more page on every commit, a step's included, while
--    the one query by time (`events_by_type`, the notifier's scan for finished and failed jobs)
--    names an event type and pages by position. `events_type_position` indexes exactly that, and
--    only the events that are not steps: a step, the bulk of the log, writes no index page but
--    the key `(job_id, seq)`. A query for steps, or for every type, by time scans by position.
-- 2. The view takes a commit's first event in columns of its own (`seq` is `after_seq + 1`), and
--    only the events after it as the JSON array `more_events` (`[seq, event_type, payload,
--    recorded_at, actor]`, NULL when there are none): a step that appends one event parses no
--    JSON. The trigger is 0017's otherwise, statement for statement.
-- `commit_in_one_statement` in `engine/src/store/sqlite.rs` binds the columns.
DROP INDEX events_time;
CREATE INDEX events_type_position ON events (event_type, position) WHERE event_type <> 'StepCompleted';

DROP VIEW step_commits;

CREATE VIEW step_commits AS SELECT
    NULL AS job_id, NULL AS worker, NULL AS attempt, NULL AS after_seq, NULL AS last_seq, NULL AS mode,
    NULL AS at, NULL AS event_type, NULL AS payload, NULL AS recorded_at, NULL AS actor, NULL AS more_events,
    NULL AS type, NULL AS status, NULL AS total, NULL AS processed, NULL AS successful, NULL AS failed,
    NULL AS metadata, NULL AS error, NULL AS created_at, NULL AS started_at, NULL AS updated_at,
    NULL AS completed_at, NULL AS attempts, NULL AS priority;

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
        WHERE NOT EXISTS (SELECT 1 FROM background_jobs WHERE id = NEW.job_id AND type = NEW.type
            AND status = NEW.status AND priority = NEW.priority)
        ON CONFLICT (id) DO UPDATE SET type = excluded.type, status = excluded.status, total = excluded.total,
            priority = excluded.priority, processed = excluded.processed, successful = excluded.successful,
            failed = excluded.failed, metadata = excluded.metadata, error = excluded.error,
            created_at = excluded.created_at, started_at = excluded.started_at, updated_at = excluded.updated_at,
            completed_at = excluded.completed_at, attempts = excluded.attempts;
END;
