-- The audit log (devlog-core `audit`): one hash-chained record per event of every write,
-- appended in the write's transaction (under BEGIN IMMEDIATE, so writers never fork the chain).
-- The code has no UPDATE or DELETE of it; the triggers refuse both from anywhere else too
-- (someone able to drop them can still edit rows: `devlog audit verify` catches that).
CREATE TABLE IF NOT EXISTS audit_log (
    seq      INTEGER PRIMARY KEY,
    at       INTEGER NOT NULL,
    entry_id TEXT    NOT NULL,
    actor    TEXT,
    -- The whole record as JSON (fields in declared order); the hash covers its content.
    record   TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_log_entry ON audit_log (entry_id, seq);
CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
