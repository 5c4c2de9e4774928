-- Planning (issue 16): the due date and milestone of an entry as columns, so `list --overdue`,
-- `--due-before`, `--milestone` and `--sort due` are one indexed query; and the SQLite
-- backend's milestones (the JSON backend keeps them as files under `.devlog/milestones/`).
-- Due dates are `YYYY-MM-DD` text (years 1-9999), which sorts like the dates.
ALTER TABLE entries ADD COLUMN due_date TEXT;
ALTER TABLE entries ADD COLUMN milestone TEXT;
CREATE INDEX IF NOT EXISTS entries_due ON entries(due_date);
CREATE INDEX IF NOT EXISTS entries_milestone ON entries(milestone);

-- Rows written before this migration: the SQLite backend's documents are JSON text.
UPDATE entries
   SET due_date = json_extract(doc, '$.dueDate'), milestone = json_extract(doc, '$.milestone')
 WHERE typeof(doc) = 'text';
-- The JSON backend's index keeps compressed documents: forget the files' stamps and the
-- folder's fingerprint, so the next read re-reads every file once and fills the columns.
UPDATE entries SET file_size = -1 WHERE typeof(doc) = 'blob';
DELETE FROM meta WHERE key = 'fingerprint';

CREATE TABLE IF NOT EXISTS milestones (
    key TEXT PRIMARY KEY,
    -- The milestone as JSON (devlog_core::planning::Milestone).
    doc TEXT NOT NULL
);
