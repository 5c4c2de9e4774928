-- Remembered conditional-request validators (ETags) with the response each one stands for, so
-- a later process (the next `devlog sync` from the CLI) sends `If-None-Match` and an unchanged
-- remote costs a 304. Keyed by the HTTP client's cache identity (a name or a digest of the
-- credentials, never the secret) and the full URL. `headers` is a JSON array of [name, value]
-- pairs; `size` the bytes counted against the bound; `used_at` orders eviction (least recently
-- used first).
CREATE TABLE http_cache (
    identity  TEXT NOT NULL,
    url       TEXT NOT NULL,
    etag      TEXT NOT NULL,
    body      BLOB NOT NULL,
    headers   TEXT NOT NULL,
    size      INTEGER NOT NULL,
    used_at   INTEGER NOT NULL,
    PRIMARY KEY (identity, url)
);
CREATE INDEX http_cache_used ON http_cache(used_at);
