-- The cluster-wide Nhanh limiter (workflows' catalog::store::limits): Nhanh counts requests per
-- appId + businessId + URL, so every `dongbo` process sharing one app must draw from one set of
-- slots. A row is one request's slot; it is busy until `busy_until` in the database's clock (the
-- only clock every process agrees on). `in_flight` marks a slot whose request has not reported
-- its completion yet (its `busy_until` is then the in-flight expiry), `holder` fences a late
-- completion against a slot that expired and was taken again.
CREATE TABLE shared_limit_slots (
    limit_key  TEXT        NOT NULL,
    path       TEXT        NOT NULL,
    slot       INTEGER     NOT NULL,
    -- The epoch, not -infinity: the limiter subtracts clock_timestamp() from it.
    busy_until TIMESTAMPTZ NOT NULL DEFAULT '1970-01-01 00:00:00+00',
    in_flight  BOOLEAN     NOT NULL DEFAULT false,
    holder     UUID,
    PRIMARY KEY (limit_key, path, slot)
);

-- A server lock-out of one URL: nobody calls it before `locked_until`, since calling during a
-- lock extends it.
CREATE TABLE shared_limit_locks (
    limit_key    TEXT        NOT NULL,
    path         TEXT        NOT NULL,
    locked_until TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (limit_key, path)
);
