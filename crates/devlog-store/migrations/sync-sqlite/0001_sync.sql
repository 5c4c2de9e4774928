-- devlog sync state v1: machine-local, never committed (lives in .devlog/.state/).
CREATE TABLE cursors (
    integration TEXT NOT NULL,
    kind        TEXT NOT NULL,      -- 'feed' (change-feed seq consumed) or 'pull' (remote cursor)
    value       TEXT NOT NULL,
    PRIMARY KEY (integration, kind)
);

CREATE TABLE links (
    integration    TEXT NOT NULL,
    entry_id       TEXT NOT NULL,
    remote_id      TEXT,            -- NULL while a create is in flight
    url            TEXT,
    base           TEXT,            -- JSON SyncedFields both sides last agreed on
    state          TEXT NOT NULL,   -- 'creating' | 'linked'
    since          INTEGER NOT NULL,
    last_synced_at INTEGER,
    PRIMARY KEY (integration, entry_id)
);
CREATE UNIQUE INDEX links_remote ON links(integration, remote_id);

CREATE TABLE jobs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    integration TEXT    NOT NULL,
    entry_id    TEXT    NOT NULL,
    state       TEXT    NOT NULL,   -- 'pending' | 'running' | 'done' | 'dead'
    attempts    INTEGER NOT NULL DEFAULT 0,
    next_at     INTEGER NOT NULL,
    owner       TEXT,
    lease_until INTEGER,
    last_error  TEXT,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE INDEX jobs_state ON jobs(state, next_at);
CREATE UNIQUE INDEX jobs_open ON jobs(integration, entry_id) WHERE state IN ('pending', 'running');

CREATE TABLE conflicts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    integration TEXT    NOT NULL,
    entry_id    TEXT    NOT NULL,
    field       TEXT    NOT NULL,
    base        TEXT    NOT NULL,
    local       TEXT    NOT NULL,
    remote      TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    resolved_at INTEGER,
    resolution  TEXT
);
CREATE UNIQUE INDEX conflicts_open ON conflicts(integration, entry_id, field) WHERE resolved_at IS NULL;

CREATE TABLE deliveries (
    integration TEXT NOT NULL,
    delivery_id TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    PRIMARY KEY (integration, delivery_id)
);

CREATE TABLE pauses (
    integration TEXT PRIMARY KEY,
    until       INTEGER NOT NULL,
    reason      TEXT NOT NULL
);
