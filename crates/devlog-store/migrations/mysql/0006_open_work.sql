-- devlog schema for MySQL 8 / MariaDB: "open work" answered from an index
-- (docs/performance.md). Neither has partial indexes, so the index is in the order active
-- context reads (priority, then most recently updated) with the status last: the server walks
-- it backwards and skips closed entries without reading their rows, stopping after one page.
ALTER TABLE devlog_entries ADD INDEX devlog_entries_open_priority (priority_rank, updated_at, handle, status);
