-- The full-text index without a copy of the text (docs/performance.md, "Index size"). FTS5
-- kept every entry's title, description, notes and context a second time as its content;
-- search now makes snippets in Rust from the document (`crate::snippet`), so the table is
-- contentless. `contentless_delete = 1` keeps rows deletable and replaceable by rowid, as
-- `SqlIndex::upsert` and `remove` do. The index is rebuilt from the old table's content;
-- `SqlIndex::open` vacuums the freed pages away afterwards.
CREATE VIRTUAL TABLE entries_fts_contentless USING fts5(
    title, description, notes, context,
    content = '', contentless_delete = 1,
    tokenize = 'unicode61 remove_diacritics 2'
);
INSERT INTO entries_fts_contentless (rowid, title, description, notes, context)
    SELECT rowid, title, description, notes, context FROM entries_fts;
DROP TABLE entries_fts;
ALTER TABLE entries_fts_contentless RENAME TO entries_fts;
