-- devlog schema for MySQL 8 / MariaDB: a status-filtered list in its default order (most
-- recently updated first) read from an index (docs/performance.md, "The status-filtered
-- list"), walked backwards from the end of one status's range and stopped after one page.
ALTER TABLE devlog_entries ADD INDEX devlog_entries_status_updated (status, updated_at, handle);
