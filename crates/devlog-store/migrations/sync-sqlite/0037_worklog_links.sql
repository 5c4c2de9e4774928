-- devlog sync state: worklogs mirrored as remote worklogs (pushed from here or pulled from
-- there), like note_links.
CREATE TABLE worklog_links (
    integration TEXT NOT NULL,
    entry_id    TEXT NOT NULL,
    worklog_id  TEXT NOT NULL,
    remote_id   TEXT,               -- NULL while a create is in flight
    state       TEXT NOT NULL,      -- 'creating' | 'linked' | 'pulled' | 'deleted'
    hash        TEXT,               -- of the day, minutes and note both sides last agreed on
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (integration, entry_id, worklog_id)
);
CREATE UNIQUE INDEX worklog_links_remote ON worklog_links(integration, remote_id);
