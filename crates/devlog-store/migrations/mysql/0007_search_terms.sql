-- devlog schema for MySQL / MariaDB: search through devlog's own inverted index
-- (docs/performance.md, "Search on the servers"), replacing the FULLTEXT indexes, which
-- materialise every match before ranking (seconds for a common word at 100,000 entries).
-- `devlog_terms` holds one row per distinct word of an entry (folded by devlog: lowercased,
-- diacritics removed, at most 64 characters; compared byte-wise, utf8mb4_bin) with its
-- field-weighted count. The postings index (term, handle, weight) is read newest first; the primary
-- key (handle, term) holds the weights, serves the writes (an update rewrites only the words
-- that changed) and the per-entry lookups of a multi-word search.
-- Existing entries are queued in `devlog_terms_pending`; the first devlog that opens the
-- database indexes them (in Rust, with the tokenizer every write uses) and empties the queue.
CREATE TABLE devlog_terms (
    term   VARCHAR(64) NOT NULL,
    handle BIGINT      NOT NULL,
    weight DOUBLE      NOT NULL,
    PRIMARY KEY (handle, term),
    KEY devlog_terms_postings (term, handle, weight)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
CREATE TABLE devlog_terms_pending (
    handle BIGINT NOT NULL,
    PRIMARY KEY (handle)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
INSERT INTO devlog_terms_pending (handle) SELECT handle FROM devlog_entries;
ALTER TABLE devlog_entries
    DROP INDEX devlog_ft_all,
    DROP INDEX devlog_ft_title,
    DROP INDEX devlog_ft_description,
    DROP INDEX devlog_ft_notes,
    DROP INDEX devlog_ft_context;
