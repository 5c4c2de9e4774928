-- devlog schema v2 for PostgreSQL: full-text search. A stored, generated tsvector weights the
-- title A, the description B, notes and context C; the `simple` configuration lowercases
-- words without stemming or stop words (like SQLite's FTS5 unicode61 tokenizer). Existing rows
-- get their vector when the column is added.
ALTER TABLE devlog_entries ADD COLUMN search tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('simple', search_title), 'A') ||
    setweight(to_tsvector('simple', search_description), 'B') ||
    setweight(to_tsvector('simple', search_notes), 'C') ||
    setweight(to_tsvector('simple', search_context), 'C')
) STORED;
CREATE INDEX devlog_entries_search ON devlog_entries USING GIN (search);
