-- The operator's console (issue 19): who made a hand mapping, and the outbox of outgoing
-- notifications.

-- Who made a hand mapping (`api`, `cli`, `dashboard`, or a name the client gave); NULL for the
-- mappings a match job made (their `job_id` says which).
ALTER TABLE product_mappings ADD COLUMN created_by TEXT;
ALTER TABLE customer_mappings ADD COLUMN created_by TEXT;

-- Outgoing notifications, written before they are sent so a restart loses none. `body` is the
-- exact JSON sent (and signed); `dedup_key` makes enqueueing idempotent across processes.
CREATE TABLE notify_outbox (
    id              BIGSERIAL PRIMARY KEY,
    dedup_key       TEXT    NOT NULL UNIQUE,
    event           TEXT    NOT NULL,   -- job.failed | job.recovered | token.expiring
    body            TEXT    NOT NULL,
    created_at      BIGINT NOT NULL,   -- unix ms
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,   -- unix ms
    claimed_until   BIGINT,            -- a sender holds it until then (unix ms)
    delivered_at    BIGINT,
    gave_up_at      BIGINT,
    last_error      TEXT
);
CREATE INDEX notify_outbox_due ON notify_outbox (next_attempt_at) WHERE delivered_at IS NULL AND gave_up_at IS NULL;

-- How far the notifier has read the event log, per event type: events before `since` (when it
-- was first switched on, unix ms) are history and never notified.
CREATE TABLE notify_cursors (
    name     TEXT    PRIMARY KEY,
    since    BIGINT NOT NULL,
    position BIGINT NOT NULL
);
