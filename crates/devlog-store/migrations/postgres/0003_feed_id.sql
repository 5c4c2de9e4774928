-- devlog schema v3 for PostgreSQL: facts about the store itself. `feed_id` is the change
-- feed's identity, random and created once with the feed: a sync cursor recorded with another
-- identity (the store migrated or recreated) is not trusted (docs/sync.md).
CREATE TABLE devlog_meta (
    name  VARCHAR(32) PRIMARY KEY,
    value TEXT        NOT NULL
);
INSERT INTO devlog_meta (name, value) VALUES ('feed_id', md5(random()::text || clock_timestamp()::text));
