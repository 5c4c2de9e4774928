-- The audit log (devlog-core `audit`): one hash-chained record per event of every write,
-- appended in the write's transaction after the change feed's events, so under the
-- devlog_counters 'feed' row lock that serializes every write with events: concurrent
-- writers never fork the chain. The code has no UPDATE or DELETE of this table.
CREATE TABLE devlog_audit (
    seq      BIGINT      PRIMARY KEY,
    at       BIGINT      NOT NULL,
    entry_id VARCHAR(36) NOT NULL,
    actor    TEXT,
    -- The whole record as JSON (fields in declared order); the hash covers its content.
    record   TEXT        NOT NULL
);
CREATE INDEX devlog_audit_entry ON devlog_audit (entry_id, seq);
