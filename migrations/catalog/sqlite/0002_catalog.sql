-- The local catalog on SQLite: mirrors of both stores, match keys, mappings, conflicts, failures.
-- Upstream timestamps are unix seconds; local bookkeeping times are unix milliseconds.
-- `pulled_by` is the job that last wrote a row; `removed_at` marks a row a full pull no longer saw.

CREATE TABLE nhanh_depots (
    id   INTEGER PRIMARY KEY,
    name TEXT
);

CREATE TABLE nhanh_products (
    id            INTEGER PRIMARY KEY,
    parent_id     INTEGER,
    code          TEXT,             -- the SKU as Nhanh holds it
    barcode       TEXT,
    name          TEXT    NOT NULL,
    status        INTEGER,
    price_retail  INTEGER,
    available     INTEGER NOT NULL DEFAULT 0,  -- total across depots
    updated_at    INTEGER,
    pulled_by     TEXT    NOT NULL,
    pull_seen     TEXT,             -- the full pull that last saw it
    removed_at    INTEGER
);
CREATE INDEX nhanh_products_code ON nhanh_products (code);

CREATE TABLE nhanh_product_depots (
    product_id INTEGER NOT NULL,
    depot_id   INTEGER NOT NULL,
    available  INTEGER NOT NULL,
    PRIMARY KEY (product_id, depot_id)
);

CREATE TABLE shopify_products (
    id         TEXT PRIMARY KEY,    -- gid://shopify/Product/…
    title      TEXT    NOT NULL,
    updated_at TEXT,
    pulled_by  TEXT    NOT NULL,
    pull_seen  TEXT,
    removed_at INTEGER
);

CREATE TABLE shopify_variants (
    id                 TEXT PRIMARY KEY,  -- gid://shopify/ProductVariant/…
    product_id         TEXT    NOT NULL,
    sku                TEXT,
    barcode            TEXT,
    price              TEXT,
    inventory_quantity INTEGER,
    inventory_item_id  TEXT,
    pulled_by          TEXT    NOT NULL,
    pull_seen          TEXT,
    removed_at         INTEGER
);
CREATE INDEX shopify_variants_product ON shopify_variants (product_id);

CREATE TABLE shopify_locations (
    id   TEXT PRIMARY KEY,          -- gid://shopify/Location/…
    name TEXT NOT NULL
);

-- Which Nhanh depots feed which Shopify location (their `available` is summed).
CREATE TABLE location_mappings (
    depot_id    INTEGER PRIMARY KEY,
    location_id TEXT NOT NULL
);

CREATE TABLE nhanh_customers (
    id           INTEGER PRIMARY KEY,
    name         TEXT,
    mobile       TEXT,              -- as Nhanh holds it, any format
    total_amount INTEGER,           -- VND
    updated_at   INTEGER,
    pulled_by    TEXT    NOT NULL,
    pull_seen    TEXT,
    removed_at   INTEGER
);

CREATE TABLE shopify_customers (
    id            TEXT PRIMARY KEY, -- gid://shopify/Customer/…
    display_name  TEXT,
    email         TEXT,
    phone         TEXT,             -- defaultPhoneNumber, E.164
    address_phone TEXT,             -- defaultAddress.phone, any format
    amount_spent  TEXT,
    total_spent   TEXT,             -- metafield custom.total_spent as last seen
    updated_at    TEXT,
    pulled_by     TEXT    NOT NULL,
    pull_seen     TEXT,
    removed_at    INTEGER
);

-- Match keys, written with the mirrored rows: one row per (record, key).
-- product keys are `sku:<normalised>` or `barcode:<normalised>`; customer keys are E.164 phones.
CREATE TABLE nhanh_product_keys (
    product_id INTEGER NOT NULL,
    match_key  TEXT    NOT NULL,
    PRIMARY KEY (product_id, match_key)
);
CREATE INDEX nhanh_product_keys_key ON nhanh_product_keys (match_key);

CREATE TABLE shopify_variant_keys (
    variant_id TEXT NOT NULL,
    match_key  TEXT NOT NULL,
    PRIMARY KEY (variant_id, match_key)
);
CREATE INDEX shopify_variant_keys_key ON shopify_variant_keys (match_key);

CREATE TABLE nhanh_customer_keys (
    customer_id INTEGER NOT NULL,
    phone_key   TEXT    NOT NULL,
    PRIMARY KEY (customer_id, phone_key)
);
CREATE INDEX nhanh_customer_keys_key ON nhanh_customer_keys (phone_key);

CREATE TABLE shopify_customer_keys (
    customer_id TEXT NOT NULL,
    phone_key   TEXT NOT NULL,
    PRIMARY KEY (customer_id, phone_key)
);
CREATE INDEX shopify_customer_keys_key ON shopify_customer_keys (phone_key);

-- Mappings. state: UNMAPPED | PENDING | SYNCED | FAILED; method: sku | barcode | phone | manual.
CREATE TABLE product_mappings (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    nhanh_product_id INTEGER NOT NULL UNIQUE,
    shopify_variant_id TEXT,
    method           TEXT    NOT NULL,
    match_key        TEXT,
    job_id           TEXT,
    state            TEXT    NOT NULL,
    last_error       TEXT,
    synced_value     TEXT,          -- what was last pushed (JSON)
    synced_at        INTEGER,
    updated_at       INTEGER NOT NULL
);
CREATE INDEX product_mappings_state ON product_mappings (state, updated_at);

CREATE TABLE customer_mappings (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    nhanh_customer_id   INTEGER NOT NULL UNIQUE,
    shopify_customer_id TEXT,
    method              TEXT    NOT NULL,
    match_key           TEXT,
    job_id              TEXT,
    state               TEXT    NOT NULL,
    last_error          TEXT,
    synced_value        INTEGER,   -- the total spent last pushed
    synced_at           INTEGER,
    updated_at          INTEGER NOT NULL
);
CREATE INDEX customer_mappings_state ON customer_mappings (state, updated_at);

-- A key shared by several records on either side: never matched, listed for a person.
CREATE TABLE match_conflicts (
    kind        TEXT    NOT NULL,   -- product | customer
    match_key   TEXT    NOT NULL,
    nhanh_ids   TEXT    NOT NULL,   -- JSON array
    shopify_ids TEXT    NOT NULL,   -- JSON array
    job_id      TEXT    NOT NULL,
    detected_at INTEGER NOT NULL,
    PRIMARY KEY (kind, match_key)
);

-- Per-item sync failures, for RETRY_FAILED_SYNC and the dashboard.
CREATE TABLE sync_failures (
    kind        TEXT    NOT NULL,   -- product | customer
    mapping_id  INTEGER NOT NULL,
    reason      TEXT    NOT NULL,
    job_id      TEXT    NOT NULL,
    failed_at   INTEGER NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (kind, mapping_id)
);
CREATE INDEX sync_failures_age ON sync_failures (failed_at);

-- Incremental pulls start from the last completed pull's watermark.
CREATE TABLE pull_watermarks (
    source    TEXT PRIMARY KEY,     -- e.g. nhanh_customers
    watermark INTEGER NOT NULL,     -- unix seconds
    job_id    TEXT    NOT NULL
);
