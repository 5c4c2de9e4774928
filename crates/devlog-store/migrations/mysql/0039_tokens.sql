-- API tokens (devlog-core `auth`, devlog-store `tokens.rs`), shared by every devlog server on
-- this database: only the SHA-256 of each secret, inside `doc` (the immutable record as
-- JSON). `last_used_at` and `revoked_at` change on their own, so recording a use can never
-- undo a revocation. Rows are never deleted: a revoked token stays listed.
CREATE TABLE devlog_tokens (
    id           VARCHAR(16)  PRIMARY KEY,
    name         VARCHAR(64)  NOT NULL,
    created_at   BIGINT       NOT NULL,
    last_used_at BIGINT,
    revoked_at   BIGINT,
    doc          TEXT         NOT NULL
);
CREATE INDEX devlog_tokens_name ON devlog_tokens (name);
