-- Cheaper appends: the time-range audit queries scan by position anyway, so a BRIN index on the
-- append-ordered `recorded_at` serves them at a fraction of two B-tree inserts per event.
DROP INDEX events_type_time;
DROP INDEX events_time;
CREATE INDEX events_time_brin ON events USING brin (recorded_at);
