-- Cheaper appends: one index on time serves the audit queries by type and time range.
DROP INDEX events_type_time;
