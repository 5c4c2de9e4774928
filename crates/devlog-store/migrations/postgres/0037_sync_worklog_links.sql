-- Sync state: worklogs mirrored as remote worklogs (pushed from here or pulled from there).
CREATE TABLE sync_worklog_links (
    integration TEXT   NOT NULL,
    entry_id    TEXT   NOT NULL,
    worklog_id  TEXT   NOT NULL,
    remote_id   TEXT,
    state       TEXT   NOT NULL,    -- 'creating' | 'linked' | 'pulled' | 'deleted'
    hash        TEXT,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (integration, entry_id, worklog_id)
);
CREATE UNIQUE INDEX sync_worklog_links_remote ON sync_worklog_links (integration, remote_id);
