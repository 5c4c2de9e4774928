-- A change that arrives while its entry's push job is running (the job read the entry before
-- the change) marks the job to run again instead of being dropped by the one-open-job-per-entry
-- rule: finishing a marked job puts it back to pending (docs/sync.md, "The queue").
ALTER TABLE sync_jobs ADD COLUMN rerun BIGINT NOT NULL DEFAULT 0;
