-- Cheap whole-store statistics (docs/performance.md, "Statistics from kept counts"), as in the
-- SQLite backend's migration 0014: `Store::stats` reads the counts below instead of reading
-- every entry, and the median completion time from an index of completion spans. Numbered
-- 0024 to stay clear of migrations other branches may add meanwhile.
--
-- `done_ms`: how long a done or closed entry took from creation to completion, in ms
-- (closed_at, or updated_at for imported entries that never recorded it); NULL for open
-- entries and for negative spans (hand-edited dates), which the statistics ignore. Stored,
-- so the triggers below read it like any column.
ALTER TABLE devlog_entries ADD COLUMN done_ms BIGINT AS (
    CASE WHEN status IN ('done', 'closed') AND COALESCE(closed_at, updated_at) >= created_at
         THEN COALESCE(closed_at, updated_at) - created_at END
) STORED, ADD INDEX devlog_entries_done_ms (done_ms);

-- One row per (status, kind, priority, assignee) with entries: how many, how many of them
-- have a completion span, and the spans' sum. `who` is the key's assignee: '' unassigned,
-- else MD5(assignee), which tells apart what the column's collation would not ('Ana' and
-- 'ana', trailing spaces) and fits a key (TEXT does not).
CREATE TABLE devlog_entry_counts (
    status   VARCHAR(16) NOT NULL,
    kind     VARCHAR(16) NOT NULL,
    priority VARCHAR(16) NOT NULL,
    assignee TEXT        NULL,
    who      CHAR(32) CHARACTER SET ascii NOT NULL,
    n        BIGINT      NOT NULL,
    done_n   BIGINT      NOT NULL,
    done_ms  BIGINT      NOT NULL,
    PRIMARY KEY (status, kind, priority, who)
);

-- The triggers run in the transaction of every write. A row that reaches 0 stays (reads skip
-- `n = 0`): deleting it would take a gap lock that concurrent inserts of the same values
-- wait on.
CREATE TRIGGER devlog_entry_counts_insert AFTER INSERT ON devlog_entries FOR EACH ROW
    INSERT INTO devlog_entry_counts (status, kind, priority, assignee, who, n, done_n, done_ms)
    VALUES (NEW.status, NEW.kind, NEW.priority, NEW.assignee, COALESCE(MD5(NEW.assignee), ''),
            1, NEW.done_ms IS NOT NULL, COALESCE(NEW.done_ms, 0))
    ON DUPLICATE KEY UPDATE n = n + 1, done_n = done_n + VALUES(done_n),
                            done_ms = done_ms + VALUES(done_ms);

CREATE TRIGGER devlog_entry_counts_delete AFTER DELETE ON devlog_entries FOR EACH ROW
    UPDATE devlog_entry_counts
       SET n = n - 1, done_n = done_n - (OLD.done_ms IS NOT NULL),
           done_ms = done_ms - COALESCE(OLD.done_ms, 0)
     WHERE status = OLD.status AND kind = OLD.kind AND priority = OLD.priority
       AND who = COALESCE(MD5(OLD.assignee), '');

-- Most updates (a note, a new description) change none of the counted values and touch no
-- count row. One that moves an entry between two rows locks them in key order, so two
-- writers moving entries the opposite ways between the same rows wait instead of
-- deadlocking.
CREATE TRIGGER devlog_entry_counts_update AFTER UPDATE ON devlog_entries FOR EACH ROW
BEGIN
    DECLARE old_who CHAR(32) CHARACTER SET ascii DEFAULT COALESCE(MD5(OLD.assignee), '');
    DECLARE new_who CHAR(32) CHARACTER SET ascii DEFAULT COALESCE(MD5(NEW.assignee), '');
    IF NOT (OLD.status <=> NEW.status AND OLD.kind <=> NEW.kind
            AND OLD.priority <=> NEW.priority AND old_who = new_who
            AND OLD.done_ms <=> NEW.done_ms) THEN
        IF (OLD.status, OLD.kind, OLD.priority, old_who)
           <= (NEW.status, NEW.kind, NEW.priority, new_who) THEN
            UPDATE devlog_entry_counts
               SET n = n - 1, done_n = done_n - (OLD.done_ms IS NOT NULL),
                   done_ms = done_ms - COALESCE(OLD.done_ms, 0)
             WHERE status = OLD.status AND kind = OLD.kind AND priority = OLD.priority
               AND who = old_who;
            INSERT INTO devlog_entry_counts (status, kind, priority, assignee, who, n, done_n, done_ms)
            VALUES (NEW.status, NEW.kind, NEW.priority, NEW.assignee, new_who,
                    1, NEW.done_ms IS NOT NULL, COALESCE(NEW.done_ms, 0))
            ON DUPLICATE KEY UPDATE n = n + 1, done_n = done_n + VALUES(done_n),
                                    done_ms = done_ms + VALUES(done_ms);
        ELSE
            INSERT INTO devlog_entry_counts (status, kind, priority, assignee, who, n, done_n, done_ms)
            VALUES (NEW.status, NEW.kind, NEW.priority, NEW.assignee, new_who,
                    1, NEW.done_ms IS NOT NULL, COALESCE(NEW.done_ms, 0))
            ON DUPLICATE KEY UPDATE n = n + 1, done_n = done_n + VALUES(done_n),
                                    done_ms = done_ms + VALUES(done_ms);
            UPDATE devlog_entry_counts
               SET n = n - 1, done_n = done_n - (OLD.done_ms IS NOT NULL),
                   done_ms = done_ms - COALESCE(OLD.done_ms, 0)
             WHERE status = OLD.status AND kind = OLD.kind AND priority = OLD.priority
               AND who = old_who;
        END IF;
    END IF;
END;

-- The counts of the rows already there, after the triggers exist: a write that commits
-- meanwhile is counted by its trigger and then overwritten by the recount, which reads
-- with locks (INSERT ... SELECT) and so sees it.
INSERT INTO devlog_entry_counts (status, kind, priority, assignee, who, n, done_n, done_ms)
SELECT status, kind, priority, MIN(assignee), COALESCE(MD5(assignee), ''), COUNT(*),
       COUNT(done_ms), COALESCE(SUM(done_ms), 0)
  FROM devlog_entries
 GROUP BY status, kind, priority, COALESCE(MD5(assignee), '')
ON DUPLICATE KEY UPDATE n = VALUES(n), done_n = VALUES(done_n), done_ms = VALUES(done_ms);
