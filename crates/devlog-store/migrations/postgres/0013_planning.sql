-- Planning (issue 16): the due date and milestone of an entry as columns, so `list --overdue`,
-- `--due-before`, `--milestone` and `--sort due` are one indexed query; and the milestones.
-- Due dates are `YYYY-MM-DD` text (years 1-9999) compared bytewise (COLLATE "C").
ALTER TABLE devlog_entries ADD COLUMN IF NOT EXISTS due_date TEXT COLLATE "C";
ALTER TABLE devlog_entries ADD COLUMN IF NOT EXISTS milestone TEXT;
CREATE INDEX IF NOT EXISTS devlog_entries_due ON devlog_entries (due_date);
CREATE INDEX IF NOT EXISTS devlog_entries_milestone ON devlog_entries (milestone);
UPDATE devlog_entries
   SET due_date = doc::jsonb ->> 'dueDate', milestone = doc::jsonb ->> 'milestone'
 WHERE doc LIKE '%"dueDate"%' OR doc LIKE '%"milestone"%';

CREATE TABLE IF NOT EXISTS devlog_milestones (
    mkey TEXT NOT NULL PRIMARY KEY,
    -- The milestone as JSON (devlog_core::planning::Milestone).
    doc  TEXT NOT NULL
);
