-- Durable schedules (README, "Keeping the stores in step"): a cron expression read in an IANA
-- time zone fires a job (often a PIPELINE) once per slot, however many processes tick.
--
-- `after_ms` is the compare-and-set guard of the slots: a process fires slot S only by moving
-- `after_ms` from below S to S in one statement, so exactly one process wins each slot, and a
-- slot at or before `after_ms` (fired, or passed while paused, or before the schedule existed)
-- never fires. Times are unix milliseconds.
CREATE TABLE schedules (
    id         TEXT    PRIMARY KEY,
    cron       TEXT    NOT NULL,
    time_zone  TEXT    NOT NULL,
    job_type   TEXT    NOT NULL,
    input      TEXT    NOT NULL,   -- the job's input, JSON
    paused     BOOLEAN NOT NULL,
    after_ms   BIGINT  NOT NULL,
    created_at BIGINT  NOT NULL,
    updated_at BIGINT  NOT NULL
);

-- Every firing: a slot (`kind` = 'slot', `at_ms` the slot) or a "run now" (`kind` = 'manual',
-- `at_ms` when asked). `job_id` is NULL only between winning a slot and the engine answering the
-- request (idempotency key `schedule:<id>:<slot RFC3339>`): whoever ticks next finishes it.
CREATE TABLE schedule_firings (
    schedule_id TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    at_ms       BIGINT  NOT NULL,
    fired_by    TEXT    NOT NULL,
    fired_at_ms BIGINT  NOT NULL,
    job_id      TEXT,
    PRIMARY KEY (schedule_id, kind, at_ms)
);
CREATE INDEX schedule_firings_open ON schedule_firings (job_id) WHERE job_id IS NULL;

-- Pipeline parents and their durable children (PIPELINE and RECONCILE request child jobs with
-- the idempotency key `pipeline:<parent>:<stage>:<n>` and file them here in the step that
-- checkpoints them).
CREATE TABLE job_children (
    child_job_id  TEXT    PRIMARY KEY,
    parent_job_id TEXT    NOT NULL,
    stage         TEXT    NOT NULL,
    position      BIGINT  NOT NULL
);
CREATE INDEX job_children_parent ON job_children (parent_job_id, position);

-- The defaults an operator changes with `dongbo schedules set|resume` (or the dashboard): an
-- incremental pull → match → sync every 15 minutes and a full pull → match → RECONCILE at 02:00,
-- both in Asia/Ho_Chi_Minh. They start paused: nothing can sync before the upstreams, the
-- location mappings and a first full pull exist, so an operator resumes them once set up.
INSERT INTO schedules (id, cron, time_zone, job_type, input, paused, after_ms, created_at, updated_at) VALUES
    ('incremental', '*/15 * * * *', 'Asia/Ho_Chi_Minh', 'PIPELINE', '{"stages":[{"name":"pull","jobs":[{"type":"PULL_NHANH_PRODUCTS","input":{"mode":"incremental"}},{"type":"PULL_SHOPIFY_PRODUCTS","input":{"incremental":true}},{"type":"PULL_NHANH_CUSTOMERS","input":{"mode":"incremental"}},{"type":"PULL_SHOPIFY_CUSTOMERS","input":{"incremental":true}}]},{"name":"match","jobs":[{"type":"AUTO_MATCH_PRODUCTS","input":{}},{"type":"AUTO_MATCH_CUSTOMERS","input":{"strategy":"sql"}}]},{"name":"sync","jobs":[{"type":"PRODUCT_SYNC","input":{"forceSync":false}},{"type":"CUSTOMER_SYNC","input":{"forceSync":false}}]}]}', TRUE, 0, 0, 0),
    ('nightly-reconcile', '0 2 * * *', 'Asia/Ho_Chi_Minh', 'PIPELINE', '{"stages":[{"name":"pull","jobs":[{"type":"PULL_NHANH_PRODUCTS","input":{}},{"type":"PULL_SHOPIFY_PRODUCTS","input":{}},{"type":"PULL_NHANH_CUSTOMERS","input":{}},{"type":"PULL_SHOPIFY_CUSTOMERS","input":{}}]},{"name":"match","jobs":[{"type":"AUTO_MATCH_PRODUCTS","input":{}},{"type":"AUTO_MATCH_CUSTOMERS","input":{"strategy":"sql"}}]},{"name":"reconcile","jobs":[{"type":"RECONCILE","input":{}}]}]}', TRUE, 0, 0, 0);
