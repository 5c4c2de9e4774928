-- Integration events are recorded under this row's lock (`record_event` takes it with
-- `SELECT … FOR UPDATE` before its insert, until commit), so their ids, still taken from the
-- table's sequence, commit one at a time in id order: a follower reading `id > cursor`
-- never moves past an id whose event commits later. The value is not used.
INSERT INTO devlog_counters (name, value) VALUES ('integration_events', 0);
