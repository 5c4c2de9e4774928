-- devlog schema v4 for MySQL / MariaDB: facts about the store itself. `feed_id` is the change
-- feed's identity, random and created once with the feed: a sync cursor recorded with another
-- identity (the store migrated or recreated) is not trusted (docs/sync.md).
CREATE TABLE devlog_meta (
    name  VARCHAR(32) NOT NULL,
    value TEXT        NOT NULL,
    PRIMARY KEY (name)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
INSERT INTO devlog_meta (name, value) VALUES ('feed_id', REPLACE(UUID(), '-', ''));
