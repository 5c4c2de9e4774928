-- devlog schema v3 for MySQL / MariaDB: a secondary index on the change feed's `seq`.
-- Counting a range of the primary key reads InnoDB's clustered index, which holds the events
-- themselves; `count_events` counts on this index instead (named in FORCE INDEX: the
-- optimizer picks the primary key by itself), several times faster on a deep feed.
CREATE INDEX devlog_events_seq ON devlog_events (seq);
