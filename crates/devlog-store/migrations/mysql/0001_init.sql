-- devlog schema v1 for MySQL 8 / MariaDB 10.6+: the entry documents with the columns that lists
-- filter and sort on, the text that full-text search reads, the change feed, and the counter
-- rows that serialize handle allocation and the order of the feed (see src/server/store_impl.rs).
-- Binary collation by default, so comparisons are exact as in SQLite; the search columns are
-- case- and accent-insensitive for FULLTEXT.
CREATE TABLE devlog_entries (
    id                 VARCHAR(36)  NOT NULL,
    id_hex             VARCHAR(32)  NOT NULL,
    handle             BIGINT       NOT NULL,
    entry_key          TEXT         NOT NULL,
    legacy_id          BIGINT       NULL,
    title              TEXT         NOT NULL,
    title_norm         TEXT         NOT NULL,
    kind               VARCHAR(16)  NOT NULL,
    status             VARCHAR(16)  NOT NULL,
    status_rank        BIGINT       NOT NULL,
    priority           VARCHAR(16)  NOT NULL,
    priority_rank      BIGINT       NOT NULL,
    assignee           TEXT         NULL,
    -- JSON array of strings.
    tags               LONGTEXT     NOT NULL,
    -- Milliseconds since the Unix epoch, as in the SQLite backend.
    created_at         BIGINT       NOT NULL,
    updated_at         BIGINT       NOT NULL,
    closed_at          BIGINT       NULL,
    search_title       LONGTEXT     COLLATE utf8mb4_unicode_ci NOT NULL,
    search_description LONGTEXT     COLLATE utf8mb4_unicode_ci NOT NULL,
    search_notes       LONGTEXT     COLLATE utf8mb4_unicode_ci NOT NULL,
    search_context     LONGTEXT     COLLATE utf8mb4_unicode_ci NOT NULL,
    -- The whole entry as JSON: the truth; the columns above are derived from it.
    doc                LONGTEXT     NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY devlog_entries_handle (handle),
    KEY devlog_entries_key (entry_key(191)),
    KEY devlog_entries_legacy (legacy_id),
    KEY devlog_entries_id_hex (id_hex),
    KEY devlog_entries_updated (updated_at, handle),
    KEY devlog_entries_created (created_at, handle),
    KEY devlog_entries_status (status, priority_rank),
    KEY devlog_entries_title_norm (title_norm(191), kind)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE devlog_events (
    -- Assigned from devlog_counters.feed under its row lock, never by AUTO_INCREMENT.
    seq      BIGINT      NOT NULL,
    entry_id VARCHAR(36) NOT NULL,
    at       BIGINT      NOT NULL,
    kind     VARCHAR(32) NOT NULL,
    payload  LONGTEXT    NOT NULL,
    PRIMARY KEY (seq),
    KEY devlog_events_entry (entry_id, seq)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- `entries`: locked by every create and import (handles, keys, duplicates);
-- `feed`: the last seq of the change feed, locked by every write that adds events.
CREATE TABLE devlog_counters (
    name  VARCHAR(32) NOT NULL,
    value BIGINT      NOT NULL,
    PRIMARY KEY (name)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
INSERT INTO devlog_counters (name, value) VALUES ('entries', 0), ('feed', 0);
