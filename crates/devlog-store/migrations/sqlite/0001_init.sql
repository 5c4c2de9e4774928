-- devlog schema v1 for SQLite: the SQLite backend's tables and the JSON backend's index.
CREATE TABLE entries (
    rid          INTEGER PRIMARY KEY,
    id           TEXT    NOT NULL UNIQUE,
    id_hex       TEXT    NOT NULL,
    handle       INTEGER NOT NULL,
    key          TEXT    NOT NULL,
    legacy_id    INTEGER,
    title        TEXT    NOT NULL,
    title_norm   TEXT    NOT NULL,
    type         TEXT    NOT NULL,
    status       TEXT    NOT NULL,
    status_rank  INTEGER NOT NULL,
    priority     TEXT    NOT NULL,
    priority_rank INTEGER NOT NULL,
    assignee     TEXT,
    tags         TEXT    NOT NULL DEFAULT '[]',
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    closed_at    INTEGER,
    doc          TEXT    NOT NULL,
    -- JSON backend only: the entry file and its size and mtime when last indexed.
    file         TEXT,
    file_size    INTEGER,
    file_mtime   INTEGER
);
CREATE INDEX entries_handle ON entries(handle);
CREATE INDEX entries_key ON entries(key);
CREATE INDEX entries_legacy ON entries(legacy_id);
CREATE INDEX entries_id_hex ON entries(id_hex);
CREATE INDEX entries_updated ON entries(updated_at);
CREATE INDEX entries_created ON entries(created_at);
CREATE INDEX entries_status ON entries(status, priority_rank);
CREATE INDEX entries_title_norm ON entries(title_norm, type);
CREATE UNIQUE INDEX entries_file ON entries(file);

CREATE VIRTUAL TABLE entries_fts USING fts5(
    title, description, notes, context,
    tokenize = 'unicode61 remove_diacritics 2'
);

CREATE TABLE events (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    entry_id  TEXT    NOT NULL,
    at        INTEGER NOT NULL,
    kind      TEXT    NOT NULL,
    payload   TEXT    NOT NULL
);
CREATE INDEX events_entry ON events(entry_id, seq);

-- JSON backend only: entry files that could not be read, with the reason.
CREATE TABLE broken_files (
    file       TEXT PRIMARY KEY,
    file_size  INTEGER NOT NULL,
    file_mtime INTEGER NOT NULL,
    message    TEXT NOT NULL
);
