-- Cheap whole-store statistics (docs/performance.md, "Statistics from kept counts"), as in the
-- SQLite backend's migration 0014: `Store::stats` reads the counts below instead of reading
-- every entry, and the median completion time from an index of completion spans. Numbered
-- 0024 to stay clear of migrations other branches may add meanwhile.
--
-- `done_ms`: how long a done or closed entry took from creation to completion, in ms
-- (closed_at, or updated_at for imported entries that never recorded it); NULL for open
-- entries and for negative spans (hand-edited dates), which the statistics ignore.
ALTER TABLE devlog_entries ADD COLUMN done_ms BIGINT GENERATED ALWAYS AS (
    CASE WHEN status IN ('done', 'closed') AND COALESCE(closed_at, updated_at) >= created_at
         THEN COALESCE(closed_at, updated_at) - created_at END
) STORED;
CREATE INDEX devlog_entries_done_ms ON devlog_entries (done_ms) WHERE done_ms IS NOT NULL;

-- One row per (status, kind, priority, assignee) with entries: how many, how many of them
-- have a completion span, and the spans' sum. `who` is the key's assignee: '' unassigned,
-- else md5(assignee) (a NULL is never equal to itself in a key; MySQL hashes the same way).
CREATE TABLE devlog_entry_counts (
    status   VARCHAR(16) NOT NULL,
    kind     VARCHAR(16) NOT NULL,
    priority VARCHAR(16) NOT NULL,
    assignee TEXT,
    who      VARCHAR(32) NOT NULL,
    n        BIGINT      NOT NULL,
    done_n   BIGINT      NOT NULL,
    done_ms  BIGINT      NOT NULL,
    PRIMARY KEY (status, kind, priority, who)
);

-- Adds `d` (1 or -1) entries with these values to the counts; a row that reaches 0 goes.
CREATE FUNCTION devlog_count_entry(s TEXT, k TEXT, p TEXT, a TEXT, ms BIGINT, d BIGINT)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO devlog_entry_counts AS c (status, kind, priority, assignee, who, n, done_n, done_ms)
    VALUES (s, k, p, a, COALESCE(md5(a), ''), d, CASE WHEN ms IS NULL THEN 0 ELSE d END,
            COALESCE(ms, 0) * d)
    ON CONFLICT (status, kind, priority, who) DO UPDATE
       SET n = c.n + EXCLUDED.n, done_n = c.done_n + EXCLUDED.done_n,
           done_ms = c.done_ms + EXCLUDED.done_ms;
    IF d < 0 THEN
        DELETE FROM devlog_entry_counts
         WHERE status = s AND kind = k AND priority = p AND who = COALESCE(md5(a), '')
           AND n <= 0;
    END IF;
END $$;

-- Runs in the transaction of every write. An update that moves an entry between two count
-- rows locks them in key order, so two writers moving entries the opposite ways between the
-- same rows wait for each other instead of deadlocking; most updates (a note, a new
-- description) change none of the counted values and touch no count row at all.
CREATE FUNCTION devlog_entry_counts_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM devlog_count_entry(NEW.status, NEW.kind, NEW.priority, NEW.assignee, NEW.done_ms, 1);
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM devlog_count_entry(OLD.status, OLD.kind, OLD.priority, OLD.assignee, OLD.done_ms, -1);
    ELSIF (OLD.status, OLD.kind, OLD.priority, OLD.assignee, OLD.done_ms)
          IS DISTINCT FROM (NEW.status, NEW.kind, NEW.priority, NEW.assignee, NEW.done_ms) THEN
        IF (OLD.status, OLD.kind, OLD.priority, COALESCE(md5(OLD.assignee), ''))
           <= (NEW.status, NEW.kind, NEW.priority, COALESCE(md5(NEW.assignee), '')) THEN
            PERFORM devlog_count_entry(OLD.status, OLD.kind, OLD.priority, OLD.assignee, OLD.done_ms, -1);
            PERFORM devlog_count_entry(NEW.status, NEW.kind, NEW.priority, NEW.assignee, NEW.done_ms, 1);
        ELSE
            PERFORM devlog_count_entry(NEW.status, NEW.kind, NEW.priority, NEW.assignee, NEW.done_ms, 1);
            PERFORM devlog_count_entry(OLD.status, OLD.kind, OLD.priority, OLD.assignee, OLD.done_ms, -1);
        END IF;
    END IF;
    RETURN NULL;
END $$;

-- The trigger first, then the counts of the rows already there: CREATE TRIGGER locks the
-- table against writes until this migration's transaction commits, so no write is counted
-- twice or missed.
CREATE TRIGGER devlog_entry_counts AFTER INSERT OR UPDATE OR DELETE ON devlog_entries
    FOR EACH ROW EXECUTE FUNCTION devlog_entry_counts_trigger();

INSERT INTO devlog_entry_counts (status, kind, priority, assignee, who, n, done_n, done_ms)
SELECT status, kind, priority, MIN(assignee), COALESCE(md5(assignee), ''), COUNT(*),
       COUNT(done_ms), COALESCE(SUM(done_ms), 0)
  FROM devlog_entries
 GROUP BY status, kind, priority, COALESCE(md5(assignee), '');
