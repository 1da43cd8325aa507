-- The event log is append-only, enforced by the database: no statement may change an event or
-- empty the table, and only the prune path (`dongbo prune`) may delete events. The prune sets the
-- transaction-local setting `dongbo.prune` to `on` (set_config(…, true)), which ends with its
-- transaction.
CREATE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('dongbo.prune', true) = 'on' THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        RAISE EXCEPTION 'events are append-only: an event cannot be changed'
            USING ERRCODE = 'restrict_violation';
    END IF;
    RAISE EXCEPTION 'events are append-only: only the prune (dongbo prune) deletes events'
        USING ERRCODE = 'restrict_violation';
END;
$$;

CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_append_only();
