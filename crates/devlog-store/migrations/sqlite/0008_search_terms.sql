-- Search through devlog's own word index, as on the servers (docs/performance.md, "Search from
-- devlog's own index"). `terms` holds one row per distinct word of an entry, folded by devlog
-- (lowercase, no diacritics, at most 64 characters: `terms::index_terms`, the same tokenizer
-- every backend uses), with its field-weighted count. Keyed (term, handle, rid) WITHOUT ROWID:
-- a word's postings lie together, newest handle last, so a search reads them backwards and
-- stops after a page's worth of matches; a prefix is a range of keys. `rid` keeps two rows apart
-- while two entries share a handle (the JSON index between a merge and its repair). There is no
-- per-entry index: a write computes the entry's old rows from its stored document (`doc`) and
-- changes only those that differ.
-- Existing entries are queued in `terms_pending`; `SqlIndex::open` indexes them in batches
-- (in Rust, with the write path's tokenizer) and empties the queue. FTS5 is dropped: snippets
-- come from the documents (`crate::snippet`), nothing else read it.
CREATE TABLE terms (
    term   TEXT    NOT NULL,
    handle INTEGER NOT NULL,
    rid    INTEGER NOT NULL,
    weight REAL    NOT NULL,
    PRIMARY KEY (term, handle, rid)
) WITHOUT ROWID;
CREATE TABLE terms_pending (
    rid INTEGER PRIMARY KEY
);
INSERT INTO terms_pending (rid) SELECT rid FROM entries;
DROP TABLE entries_fts;
