-- devlog sync state v2: notes mirrored as remote comments, applied remote actions, and
-- secondary remote objects (pull requests) attached to entries.
CREATE TABLE note_links (
    integration TEXT NOT NULL,
    entry_id    TEXT NOT NULL,
    note_id     TEXT NOT NULL,
    remote_id   TEXT,               -- NULL while a create is in flight
    state       TEXT NOT NULL,      -- 'creating' | 'linked'
    hash        TEXT,               -- of the text both sides last agreed on
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (integration, entry_id, note_id)
);
CREATE UNIQUE INDEX note_links_remote ON note_links(integration, remote_id);

CREATE TABLE applied_actions (
    integration TEXT NOT NULL,
    key         TEXT NOT NULL,
    entry_id    TEXT NOT NULL,
    applied_at  INTEGER NOT NULL,
    PRIMARY KEY (integration, key)
);

CREATE TABLE attachments (
    integration TEXT NOT NULL,
    kind        TEXT NOT NULL,      -- 'pull-request'
    remote_id   TEXT NOT NULL,
    entry_id    TEXT NOT NULL,
    url         TEXT,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (integration, kind, remote_id)
);
CREATE INDEX attachments_entry ON attachments(integration, entry_id);
