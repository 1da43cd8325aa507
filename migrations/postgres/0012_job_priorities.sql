-- Job priorities and queueing (engine). A job carries a priority level (0 scheduled, 1 manual,
-- 2 webhook); several unfinished jobs may share a concurrency key, but only one holds it: the one
-- that was claimed and has not finished (`key_held`, unique). The others wait behind it.
ALTER TABLE job_queue ADD COLUMN priority INTEGER NOT NULL DEFAULT 1;
ALTER TABLE job_queue ADD COLUMN key_held TEXT;
UPDATE job_queue SET key_held = concurrency_key
    WHERE concurrency_key IS NOT NULL AND state <> 'done' AND attempt > 0;
DROP INDEX job_queue_one_active_per_key;
CREATE UNIQUE INDEX job_queue_key_holder ON job_queue (key_held) WHERE key_held IS NOT NULL;
CREATE INDEX job_queue_unfinished_key ON job_queue (concurrency_key)
    WHERE concurrency_key IS NOT NULL AND state <> 'done';

-- The projection shows each job's priority.
ALTER TABLE background_jobs ADD COLUMN priority TEXT NOT NULL DEFAULT 'MANUAL';
