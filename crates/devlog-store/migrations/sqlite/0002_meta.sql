-- Key/value facts about the store itself (the JSON backend keeps its scan fingerprint here).
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
