-- API tokens (devlog-core `auth`, devlog-store `tokens.rs`): only the SHA-256 of each secret,
-- inside `doc` (the immutable record as JSON). `last_used_at` and `revoked_at` change on
-- their own, so recording a use can never undo a revocation. Rows are never deleted: a
-- revoked token stays listed (and keeps authentication required on the server).
CREATE TABLE IF NOT EXISTS api_tokens (
    id           TEXT    PRIMARY KEY,
    name         TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER,
    doc          TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS api_tokens_name ON api_tokens (name);
