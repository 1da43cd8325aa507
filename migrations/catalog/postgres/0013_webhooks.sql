-- Webhook deliveries from Nhanh and Shopify, recorded before they are answered, and what the
-- dispatcher made of them. Times are unix milliseconds.

-- One row per delivery accepted. `dedup_key` refuses a second copy: Shopify's X-Shopify-Event-Id
-- (kept for good), or for Nhanh, whose deliveries carry no id, a digest of the body (cleared once
-- the delivery is dispatched, so the same content later — stock back to an earlier number — is a
-- new delivery). `touches` is what the delivery is about (JSON, parsed on receipt); `body` is the
-- body as received minus any verify token. state: RECEIVED | WAITING (a pull it needs first is
-- running: `pull_job_id`) | DISPATCHED (`job_id`) | IGNORED | STALE (see `note`).
CREATE TABLE webhook_deliveries (
    id            BIGSERIAL PRIMARY KEY,
    source        TEXT    NOT NULL,
    topic         TEXT    NOT NULL,
    dedup_key     TEXT    UNIQUE,
    content_key   TEXT    NOT NULL,
    received_at   BIGINT NOT NULL,
    triggered_at  BIGINT,
    body          TEXT    NOT NULL,
    touches       TEXT    NOT NULL,
    state         TEXT    NOT NULL,
    claim_token   TEXT,
    claim_until   BIGINT,
    pull_job_id   TEXT,
    job_id        TEXT,
    note          TEXT,
    dispatched_at BIGINT
);
CREATE INDEX webhook_deliveries_state ON webhook_deliveries (state, received_at);
CREATE INDEX webhook_deliveries_job ON webhook_deliveries (job_id);

-- Per item (`product:nhanh:12`, `inventory:shopify:…`), the newest source time of a delivery the
-- dispatcher acted on: an older delivery for the same item never wins.
CREATE TABLE webhook_item_versions (
    item_key   TEXT    PRIMARY KEY,
    applied_at BIGINT NOT NULL
);

-- Conditions webhooks raised that stop work until someone acts (`shopify_app_uninstalled`).
CREATE TABLE webhook_flags (
    name      TEXT    PRIMARY KEY,
    raised_at BIGINT NOT NULL,
    detail    TEXT    NOT NULL
);
