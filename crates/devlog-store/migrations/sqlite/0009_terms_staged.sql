-- Writes stage an entry's words in one row instead of one `terms` row per distinct word
-- (docs/performance.md, "Writes stage their words"). Each new word of an entry dirtied one page of
-- `terms` (its postings), about 45 pages per new entry, all written and fsync'd with the WAL;
-- a staged row is one page. `SqlIndex` folds staged rows into `terms` in batches (when
-- `FOLD_AT` are staged, and when a long-running devlog is idle), and every search reads them:
-- results are the same whether a row is staged or folded.
--
-- A row here means: `terms` rows with this `rid` are stale, the entry's current words are
-- `terms`; `handle` is the entry's handle (NULL: the entry was removed). `folded_handle` and
-- `folded` are what `terms` holds for this `rid` (NULL: nothing), so a fold deletes exactly
-- those rows (there is no index on `terms.rid`). Terms are `term TAB weight` lines, sorted by
-- term (terms are runs of letters and digits: never a tab or a newline).
CREATE TABLE terms_staged (
    rid           INTEGER PRIMARY KEY,
    handle        INTEGER,
    terms         TEXT    NOT NULL,
    folded_handle INTEGER,
    folded        TEXT
);
