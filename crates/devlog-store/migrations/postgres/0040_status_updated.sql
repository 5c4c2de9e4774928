-- devlog schema for PostgreSQL: a status-filtered list in its default order (most recently
-- updated first) read from an index (docs/performance.md, "The status-filtered list"):
-- `devlog_entries_status` is on (status, priority_rank), so the list read and sorted every
-- entry of that status. With (status, updated_at, handle) one status is read backwards from
-- the index and the read stops after one page.
CREATE INDEX IF NOT EXISTS devlog_entries_status_updated
    ON devlog_entries (status, updated_at, handle);
