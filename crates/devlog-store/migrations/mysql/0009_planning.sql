-- Planning (issue 16): the due date and milestone of an entry as columns, so `list --overdue`,
-- `--due-before`, `--milestone` and `--sort due` are one indexed query; and the milestones.
-- Due dates are `YYYY-MM-DD` text (years 1-9999), compared bytewise (utf8mb4_bin).
ALTER TABLE devlog_entries
    ADD COLUMN due_date VARCHAR(16) NULL,
    ADD COLUMN milestone TEXT NULL,
    ADD INDEX devlog_entries_due (due_date),
    ADD INDEX devlog_entries_milestone (milestone(191));
UPDATE devlog_entries
   SET due_date = JSON_UNQUOTE(JSON_EXTRACT(doc, '$.dueDate')),
       milestone = JSON_UNQUOTE(JSON_EXTRACT(doc, '$.milestone'))
 WHERE doc LIKE '%"dueDate"%' OR doc LIKE '%"milestone"%';

CREATE TABLE devlog_milestones (
    mkey VARCHAR(191) NOT NULL,
    -- The milestone as JSON (devlog_core::planning::Milestone).
    doc  LONGTEXT     NOT NULL,
    PRIMARY KEY (mkey)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
