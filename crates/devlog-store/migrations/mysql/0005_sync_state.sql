-- devlog schema v5 for MySQL / MariaDB: the sync engine's state, in the same database as the
-- entries, so every machine and server on this store shares links, cursors, bases, the job queue
-- and webhook deliveries (docs/sync.md). Times are milliseconds since the Unix epoch; job leases
-- (`lease_until`) are computed from the database's clock. Column meanings as in the SQLite sync
-- state (migrations/sync-sqlite/). MySQL has no partial unique index: `open_key` is 1 for an
-- open row and NULL otherwise, and NULLs never collide in a unique key.
CREATE TABLE sync_cursors (
    integration VARCHAR(64) NOT NULL,
    kind        VARCHAR(32) NOT NULL,
    value       MEDIUMTEXT  NOT NULL,
    PRIMARY KEY (integration, kind)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE sync_links (
    integration    VARCHAR(64)  NOT NULL,
    entry_id       VARCHAR(36)  NOT NULL,
    remote_id      VARCHAR(255) NULL,
    url            TEXT         NULL,
    base           MEDIUMTEXT   NULL,
    state          VARCHAR(16)  NOT NULL,
    since          BIGINT       NOT NULL,
    last_synced_at BIGINT       NULL,
    PRIMARY KEY (integration, entry_id),
    UNIQUE KEY sync_links_remote (integration, remote_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE sync_jobs (
    id          BIGINT       NOT NULL AUTO_INCREMENT,
    integration VARCHAR(64)  NOT NULL,
    entry_id    VARCHAR(36)  NOT NULL,
    state       VARCHAR(16)  NOT NULL,
    attempts    BIGINT       NOT NULL DEFAULT 0,
    next_at     BIGINT       NOT NULL,
    owner       VARCHAR(64)  NULL,
    lease_until BIGINT       NULL,
    last_error  TEXT         NULL,
    created_at  BIGINT       NOT NULL,
    updated_at  BIGINT       NOT NULL,
    open_key    TINYINT AS (CASE WHEN state IN ('pending', 'running') THEN 1 ELSE NULL END) STORED,
    PRIMARY KEY (id),
    KEY sync_jobs_due (integration, state, next_at),
    UNIQUE KEY sync_jobs_open (integration, entry_id, open_key)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE sync_conflicts (
    id           BIGINT      NOT NULL AUTO_INCREMENT,
    integration  VARCHAR(64) NOT NULL,
    entry_id     VARCHAR(36) NOT NULL,
    field        VARCHAR(64) NOT NULL,
    base_value   LONGTEXT    NOT NULL,
    local_value  LONGTEXT    NOT NULL,
    remote_value LONGTEXT    NOT NULL,
    created_at   BIGINT      NOT NULL,
    resolved_at  BIGINT      NULL,
    resolution   TEXT        NULL,
    open_key     TINYINT AS (CASE WHEN resolved_at IS NULL THEN 1 ELSE NULL END) STORED,
    PRIMARY KEY (id),
    UNIQUE KEY sync_conflicts_open (integration, entry_id, field, open_key)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE sync_deliveries (
    integration VARCHAR(64)  NOT NULL,
    delivery_id VARCHAR(255) NOT NULL,
    received_at BIGINT       NOT NULL,
    PRIMARY KEY (integration, delivery_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE sync_pauses (
    integration VARCHAR(64) NOT NULL,
    until_ms    BIGINT      NOT NULL,
    reason      TEXT        NOT NULL,
    PRIMARY KEY (integration)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE sync_note_links (
    integration VARCHAR(64)  NOT NULL,
    entry_id    VARCHAR(36)  NOT NULL,
    note_id     VARCHAR(255) NOT NULL,
    remote_id   VARCHAR(255) NULL,
    state       VARCHAR(16)  NOT NULL,
    hash        VARCHAR(128) NULL,
    updated_at  BIGINT       NOT NULL,
    PRIMARY KEY (integration, entry_id, note_id),
    UNIQUE KEY sync_note_links_remote (integration, remote_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE sync_applied_actions (
    integration VARCHAR(64)  NOT NULL,
    action_key  VARCHAR(512) NOT NULL,
    entry_id    VARCHAR(36)  NOT NULL,
    applied_at  BIGINT       NOT NULL,
    PRIMARY KEY (integration, action_key)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE sync_attachments (
    integration VARCHAR(64)  NOT NULL,
    kind        VARCHAR(32)  NOT NULL,
    remote_id   VARCHAR(255) NOT NULL,
    entry_id    VARCHAR(36)  NOT NULL,
    url         TEXT         NULL,
    created_at  BIGINT       NOT NULL,
    PRIMARY KEY (integration, kind, remote_id),
    KEY sync_attachments_entry (integration, entry_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE sync_webhook_inbox (
    integration VARCHAR(64)  NOT NULL,
    delivery_id VARCHAR(255) NOT NULL,
    received_at BIGINT       NOT NULL,
    state       VARCHAR(16)  NOT NULL DEFAULT 'pending',
    payload     LONGTEXT     NOT NULL,
    result      TEXT         NULL,
    error       TEXT         NULL,
    finished_at BIGINT       NULL,
    PRIMARY KEY (integration, delivery_id),
    KEY sync_webhook_inbox_state (state, received_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE sync_http_cache (
    key_hash       CHAR(64)   NOT NULL,
    cache_identity TEXT       NOT NULL,
    url            TEXT       NOT NULL,
    etag           TEXT       NOT NULL,
    body           LONGBLOB   NOT NULL,
    headers        MEDIUMTEXT NOT NULL,
    size           BIGINT     NOT NULL,
    used_at        BIGINT     NOT NULL,
    PRIMARY KEY (key_hash),
    KEY sync_http_cache_used (used_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE sync_imports (
    source      CHAR(64)   NOT NULL,
    imported_at BIGINT     NOT NULL,
    summary     TEXT       NOT NULL,
    PRIMARY KEY (source)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
