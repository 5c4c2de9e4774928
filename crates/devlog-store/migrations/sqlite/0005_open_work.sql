-- "Open work" answered from an index (docs/performance.md): partial indexes over the entries
-- that are not done or closed, in the orders active context (priority, then most recently
-- updated) and `devlog list --open` (most recently updated) read them. A query whose filter
-- says `status NOT IN ('done', 'closed')` (Filter::open_only) reads the first rows of one of
-- them instead of sorting every entry; closed entries do not make them bigger.
CREATE INDEX IF NOT EXISTS entries_open_priority
    ON entries(priority_rank, updated_at, handle) WHERE status NOT IN ('done', 'closed');
CREATE INDEX IF NOT EXISTS entries_open_updated
    ON entries(updated_at, handle) WHERE status NOT IN ('done', 'closed');
