-- devlog schema v1 for PostgreSQL: the entry documents with the columns that lists filter and
-- sort on, the text that full-text search reads, the change feed, and the counter rows that
-- serialize handle allocation and the order of the feed (see src/server/store_impl.rs).
CREATE TABLE devlog_entries (
    id                 VARCHAR(36) PRIMARY KEY,
    -- The id as 32 hex digits; the "C" collation lets `LIKE 'abc%'` use the index.
    id_hex             VARCHAR(32) COLLATE "C" NOT NULL,
    handle             BIGINT      NOT NULL UNIQUE,
    entry_key          TEXT        NOT NULL,
    legacy_id          BIGINT,
    title              TEXT        NOT NULL,
    title_norm         TEXT        NOT NULL,
    kind               VARCHAR(16) NOT NULL,
    status             VARCHAR(16) NOT NULL,
    status_rank        BIGINT      NOT NULL,
    priority           VARCHAR(16) NOT NULL,
    priority_rank      BIGINT      NOT NULL,
    assignee           TEXT,
    -- JSON array of strings.
    tags               TEXT        NOT NULL,
    -- Milliseconds since the Unix epoch, as in the SQLite backend.
    created_at         BIGINT      NOT NULL,
    updated_at         BIGINT      NOT NULL,
    closed_at          BIGINT,
    search_title       TEXT        NOT NULL,
    search_description TEXT        NOT NULL,
    search_notes       TEXT        NOT NULL,
    search_context     TEXT        NOT NULL,
    -- The whole entry as JSON: the truth; the columns above are derived from it.
    doc                TEXT        NOT NULL
);
CREATE INDEX devlog_entries_key ON devlog_entries (entry_key);
CREATE INDEX devlog_entries_legacy ON devlog_entries (legacy_id);
CREATE INDEX devlog_entries_id_hex ON devlog_entries (id_hex);
CREATE INDEX devlog_entries_updated ON devlog_entries (updated_at, handle);
CREATE INDEX devlog_entries_created ON devlog_entries (created_at, handle);
CREATE INDEX devlog_entries_status ON devlog_entries (status, priority_rank);
CREATE INDEX devlog_entries_title_norm ON devlog_entries (title_norm, kind);

CREATE TABLE devlog_events (
    -- Assigned from devlog_counters.feed under its row lock, never from a sequence.
    seq      BIGINT      PRIMARY KEY,
    entry_id VARCHAR(36) NOT NULL,
    at       BIGINT      NOT NULL,
    kind     VARCHAR(32) NOT NULL,
    payload  TEXT        NOT NULL
);
CREATE INDEX devlog_events_entry ON devlog_events (entry_id, seq);

-- `entries`: locked by every create and import (handles, keys, duplicates);
-- `feed`: the last seq of the change feed, locked by every write that adds events.
CREATE TABLE devlog_counters (
    name  VARCHAR(32) PRIMARY KEY,
    value BIGINT      NOT NULL
);
INSERT INTO devlog_counters (name, value) VALUES ('entries', 0), ('feed', 0);
