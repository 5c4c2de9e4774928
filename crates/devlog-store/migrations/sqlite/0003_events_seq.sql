-- A covering index on the change feed's `seq` (the table's rowid): `count_events` counts a
-- range of it without reading the events' pages (`devlog events` footers on a deep feed).
CREATE INDEX IF NOT EXISTS events_seq ON events(seq);
