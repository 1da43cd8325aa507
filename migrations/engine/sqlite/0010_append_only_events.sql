-- The event log is append-only, enforced by the database: no statement may change an event, and
-- only the prune path (`dongbo prune`) may delete one. The prune transaction inserts the single
-- row of `prune_guard` before its deletes and removes it before it commits, so the row is never
-- visible outside that transaction (SQLite serialises writers).
CREATE TABLE prune_guard (
    one INTEGER PRIMARY KEY CHECK (one = 1)
);

CREATE TRIGGER events_refuse_update BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are append-only: an event cannot be changed');
END;

CREATE TRIGGER events_refuse_delete BEFORE DELETE ON events
WHEN NOT EXISTS (SELECT 1 FROM prune_guard)
BEGIN
    SELECT RAISE(ABORT, 'events are append-only: only the prune (dongbo prune) deletes events');
END;
