-- The Nhanh access token dongbo got through Nhanh's OAuth (`dongbo nhanh authorize`, or the
-- dashboard's button), and what Nhanh last said about the token in use. Times are unix seconds.

-- The stored token: one row, since authorising again replaces the token (Nhanh stops the old
-- one soon after). `sealed_token` is the token encrypted with DONGBO_SECRET_KEY
-- (XChaCha20-Poly1305: a random 24-byte nonce, then the ciphertext and its tag); the plain
-- token is never written anywhere. `expires_at` is what app/getaccesstoken said.
CREATE TABLE nhanh_token (
    id           SMALLINT PRIMARY KEY CHECK (id = 1),
    sealed_token BYTEA   NOT NULL,
    business_id  TEXT    NOT NULL,
    granted_at   BIGINT  NOT NULL,
    expires_at   BIGINT
);

-- The last app/checkaccesstoken of the token in use (the environment's or the stored one):
-- its expiry and when it was asked.
CREATE TABLE nhanh_token_check (
    id         SMALLINT PRIMARY KEY CHECK (id = 1),
    expires_at BIGINT  NOT NULL,
    checked_at BIGINT  NOT NULL
);

-- The depots that check said the token covers: a depot not listed has its stock absent from
-- Nhanh's replies, never zero.
CREATE TABLE nhanh_token_depots (
    depot_id BIGINT PRIMARY KEY
);

-- One-time `state` values of authorisations begun and not yet returned: a return without one
-- dongbo issued (or with one already used, or older than Nhanh's 10-minute accessCode) stores
-- nothing.
CREATE TABLE nhanh_oauth_states (
    state      TEXT    PRIMARY KEY,
    created_at BIGINT  NOT NULL
);
