-- Cheap whole-store statistics (docs/performance.md, "Statistics from kept counts"):
-- `Store::stats` reads the counts below instead of grouping every entry, and the median
-- completion time from an index of completion spans instead of sorting them.
--
-- `done_ms`: how long a done or closed entry took from creation to completion, in ms
-- (closedAt, or updatedAt for imported entries that never recorded closedAt); NULL for open
-- entries and for negative spans (hand-edited dates), which the statistics ignore. A plain
-- column that every write sets (`SqlIndex::upsert`, `devlog_core::store::completion_ms`), not
-- a generated one: SQLite reads a virtual column's value from the row, not from an index on
-- it, so the median's walk along the index would read one row per step.
ALTER TABLE entries ADD COLUMN done_ms INTEGER;
UPDATE entries
   SET done_ms = CASE WHEN status IN ('done', 'closed')
                       AND COALESCE(closed_at, updated_at) >= created_at
                      THEN COALESCE(closed_at, updated_at) - created_at END
 WHERE status IN ('done', 'closed');
CREATE INDEX IF NOT EXISTS entries_done_ms ON entries(done_ms) WHERE done_ms IS NOT NULL;

-- One row per (status, type, priority, assignee) with entries: how many, how many of them
-- have a completion span, and the spans' sum. `who` is the key's assignee ('' unassigned,
-- '=' || assignee otherwise: a NULL would never be equal to itself in the key). Kept by the
-- triggers below in the transaction of every write (create, update, delete, import, the
-- JSON index's re-reads and rebuilds), so it cannot drift from `entries`.
CREATE TABLE entry_counts (
    status   TEXT    NOT NULL,
    type     TEXT    NOT NULL,
    priority TEXT    NOT NULL,
    assignee TEXT,
    who      TEXT    NOT NULL,
    n        INTEGER NOT NULL,
    done_n   INTEGER NOT NULL,
    done_ms  INTEGER NOT NULL,
    PRIMARY KEY (status, type, priority, who)
) WITHOUT ROWID;

INSERT INTO entry_counts (status, type, priority, assignee, who, n, done_n, done_ms)
SELECT status, type, priority, assignee, IFNULL('=' || assignee, ''), COUNT(*), COUNT(done_ms),
       IFNULL(SUM(done_ms), 0)
  FROM entries
 GROUP BY status, type, priority, IFNULL('=' || assignee, '');

CREATE TRIGGER entry_counts_insert AFTER INSERT ON entries BEGIN
    INSERT INTO entry_counts (status, type, priority, assignee, who, n, done_n, done_ms)
    VALUES (NEW.status, NEW.type, NEW.priority, NEW.assignee, IFNULL('=' || NEW.assignee, ''),
            1, NEW.done_ms IS NOT NULL, IFNULL(NEW.done_ms, 0))
    ON CONFLICT (status, type, priority, who) DO UPDATE
       SET n = n + 1, done_n = done_n + excluded.done_n, done_ms = done_ms + excluded.done_ms;
END;

CREATE TRIGGER entry_counts_delete AFTER DELETE ON entries BEGIN
    UPDATE entry_counts
       SET n = n - 1, done_n = done_n - (OLD.done_ms IS NOT NULL),
           done_ms = done_ms - IFNULL(OLD.done_ms, 0)
     WHERE status = OLD.status AND type = OLD.type AND priority = OLD.priority
       AND who = IFNULL('=' || OLD.assignee, '');
    DELETE FROM entry_counts
     WHERE status = OLD.status AND type = OLD.type AND priority = OLD.priority
       AND who = IFNULL('=' || OLD.assignee, '') AND n <= 0;
END;

-- Most updates (a note, a new description) change none of the counted values: they skip it.
CREATE TRIGGER entry_counts_update AFTER UPDATE ON entries
WHEN OLD.status IS NOT NEW.status OR OLD.type IS NOT NEW.type
  OR OLD.priority IS NOT NEW.priority OR OLD.assignee IS NOT NEW.assignee
  OR OLD.done_ms IS NOT NEW.done_ms
BEGIN
    UPDATE entry_counts
       SET n = n - 1, done_n = done_n - (OLD.done_ms IS NOT NULL),
           done_ms = done_ms - IFNULL(OLD.done_ms, 0)
     WHERE status = OLD.status AND type = OLD.type AND priority = OLD.priority
       AND who = IFNULL('=' || OLD.assignee, '');
    DELETE FROM entry_counts
     WHERE status = OLD.status AND type = OLD.type AND priority = OLD.priority
       AND who = IFNULL('=' || OLD.assignee, '') AND n <= 0;
    INSERT INTO entry_counts (status, type, priority, assignee, who, n, done_n, done_ms)
    VALUES (NEW.status, NEW.type, NEW.priority, NEW.assignee, IFNULL('=' || NEW.assignee, ''),
            1, NEW.done_ms IS NOT NULL, IFNULL(NEW.done_ms, 0))
    ON CONFLICT (status, type, priority, who) DO UPDATE
       SET n = n + 1, done_n = done_n + excluded.done_n, done_ms = done_ms + excluded.done_ms;
END;
