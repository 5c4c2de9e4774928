-- devlog sync state: integration events (a webhook delivery's pull request merged, issue
-- transitioned, deployment completed; a conflict recorded; a job dead-lettered), appended by
-- the sync engine and followed by the workflow engine with a cursor on `id`.
CREATE TABLE integration_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    integration TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    event_key   TEXT    NOT NULL,
    entry_id    TEXT,
    data        TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE UNIQUE INDEX integration_events_key ON integration_events(integration, event_key);
