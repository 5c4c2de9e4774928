-- devlog schema for PostgreSQL: search through devlog's own inverted index (docs/performance.md,
-- "Search on the servers"). `devlog_terms` holds one row per distinct word of an entry (folded
-- by devlog: lowercased, diacritics removed, at most 64 characters) with its field-weighted
-- count. The postings index (term, handle) INCLUDE (weight) is read newest first and stops
-- after one page's matches, where the GIN index over a tsvector had to build the bitmap of
-- every match of every word; the primary key (handle, term) serves the writes (an update
-- rewrites only the words that changed) and prefix lookups of one entry.
-- Existing entries are queued in `devlog_terms_pending`; the first devlog that opens the
-- database indexes them (in Rust, with the tokenizer every write uses) and empties the queue.
CREATE TABLE devlog_terms (
    term   TEXT COLLATE "C" NOT NULL,
    handle BIGINT           NOT NULL,
    weight DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (handle, term) INCLUDE (weight)
);
CREATE INDEX devlog_terms_postings ON devlog_terms (term, handle) INCLUDE (weight);
CREATE TABLE devlog_terms_pending (
    handle BIGINT PRIMARY KEY
);
INSERT INTO devlog_terms_pending (handle) SELECT handle FROM devlog_entries;
DROP INDEX devlog_entries_search;
ALTER TABLE devlog_entries DROP COLUMN search;
