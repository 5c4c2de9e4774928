-- devlog schema v4 for PostgreSQL: the sync engine's state, in the same database as the entries,
-- so every machine and server on this store shares links, cursors, bases, the job queue and
-- webhook deliveries (docs/sync.md). Times are milliseconds since the Unix epoch; job leases
-- (`lease_until`) are computed from the database's clock. Column meanings as in the SQLite
-- sync state (migrations/sync-sqlite/).
CREATE TABLE sync_cursors (
    integration TEXT NOT NULL,
    kind        TEXT NOT NULL,      -- 'feed' | 'feed-id' | 'pull'
    value       TEXT NOT NULL,
    PRIMARY KEY (integration, kind)
);

CREATE TABLE sync_links (
    integration    TEXT   NOT NULL,
    entry_id       TEXT   NOT NULL,
    remote_id      TEXT,            -- NULL while a create is in flight
    url            TEXT,
    base           TEXT,            -- JSON SyncedFields both sides last agreed on
    state          TEXT   NOT NULL, -- 'creating' | 'linked' | 'unlinked'
    since          BIGINT NOT NULL,
    last_synced_at BIGINT,
    PRIMARY KEY (integration, entry_id)
);
CREATE UNIQUE INDEX sync_links_remote ON sync_links (integration, remote_id);

CREATE TABLE sync_jobs (
    id          BIGSERIAL PRIMARY KEY,
    integration TEXT   NOT NULL,
    entry_id    TEXT   NOT NULL,
    state       TEXT   NOT NULL,    -- 'pending' | 'running' | 'done' | 'dead'
    attempts    BIGINT NOT NULL DEFAULT 0,
    next_at     BIGINT NOT NULL,
    owner       TEXT,
    lease_until BIGINT,             -- database clock
    last_error  TEXT,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX sync_jobs_due ON sync_jobs (integration, state, next_at);
CREATE UNIQUE INDEX sync_jobs_open ON sync_jobs (integration, entry_id)
    WHERE state IN ('pending', 'running');

CREATE TABLE sync_conflicts (
    id           BIGSERIAL PRIMARY KEY,
    integration  TEXT   NOT NULL,
    entry_id     TEXT   NOT NULL,
    field        TEXT   NOT NULL,
    base_value   TEXT   NOT NULL,
    local_value  TEXT   NOT NULL,
    remote_value TEXT   NOT NULL,
    created_at   BIGINT NOT NULL,
    resolved_at  BIGINT,
    resolution   TEXT
);
CREATE UNIQUE INDEX sync_conflicts_open ON sync_conflicts (integration, entry_id, field)
    WHERE resolved_at IS NULL;

-- One row per webhook delivery ever applied: the unique key makes two servers behind one load
-- balancer apply a redelivery once.
CREATE TABLE sync_deliveries (
    integration TEXT   NOT NULL,
    delivery_id TEXT   NOT NULL,
    received_at BIGINT NOT NULL,
    PRIMARY KEY (integration, delivery_id)
);

CREATE TABLE sync_pauses (
    integration TEXT PRIMARY KEY,
    until_ms    BIGINT NOT NULL,
    reason      TEXT   NOT NULL
);

CREATE TABLE sync_note_links (
    integration TEXT   NOT NULL,
    entry_id    TEXT   NOT NULL,
    note_id     TEXT   NOT NULL,
    remote_id   TEXT,
    state       TEXT   NOT NULL,    -- 'creating' | 'linked'
    hash        TEXT,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (integration, entry_id, note_id)
);
CREATE UNIQUE INDEX sync_note_links_remote ON sync_note_links (integration, remote_id);

CREATE TABLE sync_applied_actions (
    integration TEXT   NOT NULL,
    action_key  TEXT   NOT NULL,
    entry_id    TEXT   NOT NULL,
    applied_at  BIGINT NOT NULL,
    PRIMARY KEY (integration, action_key)
);

CREATE TABLE sync_attachments (
    integration TEXT   NOT NULL,
    kind        TEXT   NOT NULL,    -- 'pull-request'
    remote_id   TEXT   NOT NULL,
    entry_id    TEXT   NOT NULL,
    url         TEXT,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (integration, kind, remote_id)
);
CREATE INDEX sync_attachments_entry ON sync_attachments (integration, entry_id);

CREATE TABLE sync_webhook_inbox (
    integration TEXT   NOT NULL,
    delivery_id TEXT   NOT NULL,
    received_at BIGINT NOT NULL,
    state       TEXT   NOT NULL DEFAULT 'pending', -- 'pending' | 'done' | 'failed'
    payload     TEXT   NOT NULL,
    result      TEXT,
    error       TEXT,
    finished_at BIGINT,
    PRIMARY KEY (integration, delivery_id)
);
CREATE INDEX sync_webhook_inbox_state ON sync_webhook_inbox (state, received_at);

-- `key_hash` is the SHA-256 (hex) of the client identity, a NUL and the URL: one fixed-size key
-- for both servers (MySQL cannot index a long URL).
CREATE TABLE sync_http_cache (
    key_hash       CHAR(64) PRIMARY KEY,
    cache_identity TEXT     NOT NULL,
    url            TEXT     NOT NULL,
    etag           TEXT     NOT NULL,
    body           BYTEA    NOT NULL,
    headers        TEXT     NOT NULL,
    size           BIGINT   NOT NULL,
    used_at        BIGINT   NOT NULL
);
CREATE INDEX sync_http_cache_used ON sync_http_cache (used_at);

-- Machine-local sync.sqlite files imported into this database, by a digest of their content,
-- so an import interrupted after its commit is not applied twice.
CREATE TABLE sync_imports (
    source      CHAR(64) PRIMARY KEY,
    imported_at BIGINT   NOT NULL,
    summary     TEXT     NOT NULL
);
