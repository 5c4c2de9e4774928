-- The change feed's identity: random, created once with the feed. A rebuilt index (the JSON
-- backend's `.state/index.sqlite` deleted) gets a new one, so the sync engine knows its feed
-- cursor no longer points into this feed (docs/sync.md, "When the change feed is rebuilt").
INSERT OR IGNORE INTO meta (key, value) VALUES ('feed_id', lower(hex(randomblob(16))));
