-- devlog schema v2 for MySQL / MariaDB: full-text search. One FULLTEXT index over all search
-- columns finds matches (boolean mode, `+word*`); one per column weighs them (title above
-- description above notes and context). Stop words are switched off for these indexes so
-- that, as in SQLite, every word can be found. InnoDB builds one FULLTEXT index per
-- statement; existing rows are indexed as each index is built.
SET SESSION innodb_ft_enable_stopword = OFF;
ALTER TABLE devlog_entries ADD FULLTEXT INDEX devlog_ft_all (search_title, search_description, search_notes, search_context);
ALTER TABLE devlog_entries ADD FULLTEXT INDEX devlog_ft_title (search_title);
ALTER TABLE devlog_entries ADD FULLTEXT INDEX devlog_ft_description (search_description);
ALTER TABLE devlog_entries ADD FULLTEXT INDEX devlog_ft_notes (search_notes);
ALTER TABLE devlog_entries ADD FULLTEXT INDEX devlog_ft_context (search_context);
SET SESSION innodb_ft_enable_stopword = ON;
