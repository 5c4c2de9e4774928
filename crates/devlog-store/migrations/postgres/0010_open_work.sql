-- devlog schema for PostgreSQL: "open work" answered from an index (docs/performance.md).
-- Partial indexes over the entries that are not done or closed, in the orders active context
-- (priority, then most recently updated) and `devlog list --open` (most recently updated)
-- read them: a query filtered on `status NOT IN ('done', 'closed')` (Filter::open_only) reads
-- the first rows of one instead of sorting every open entry. Numbered after 0009, the highest
-- number in use.
CREATE INDEX IF NOT EXISTS devlog_entries_open_priority
    ON devlog_entries (priority_rank, updated_at, handle) WHERE status NOT IN ('done', 'closed');
CREATE INDEX IF NOT EXISTS devlog_entries_open_updated
    ON devlog_entries (updated_at, handle) WHERE status NOT IN ('done', 'closed');
