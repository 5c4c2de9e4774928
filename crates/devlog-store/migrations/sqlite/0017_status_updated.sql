-- A status-filtered list (`devlog list --status blocked`, MCP `list_devlogs` with a status)
-- in its default order, most recently updated first, read from an index (docs/performance.md,
-- "The status-filtered list"): `entries_status` is on (status, priority_rank), so the list read
-- and sorted every entry of that status. With (status, updated_at, handle) a single status is
-- read backwards from the index and the read stops after one page. Numbered 0017 after 0016,
-- the highest number in use.
CREATE INDEX IF NOT EXISTS entries_status_updated ON entries(status, updated_at, handle);
