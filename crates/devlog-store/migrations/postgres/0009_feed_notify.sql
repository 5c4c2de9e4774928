-- devlog schema for PostgreSQL: every statement that appends to the change feed notifies
-- channel `devlog_events` with the newest seq it wrote, when its transaction commits, so
-- workers and event streams of every process (and host) wake at once instead of polling
-- (`Store::listen`, docs/sync.md). One notification per statement: an import appending 1,000
-- events sends one. Numbered apart from the schema's other migrations on purpose: it depends
-- on nothing after 0001.
CREATE FUNCTION devlog_notify_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('devlog_events', (SELECT max(seq)::text FROM devlog_new_events));
    RETURN NULL;
END
$$;
CREATE TRIGGER devlog_events_notify
    AFTER INSERT ON devlog_events
    REFERENCING NEW TABLE AS devlog_new_events
    FOR EACH STATEMENT EXECUTE FUNCTION devlog_notify_events();
