//! The SQLite tables shared by the SQLite backend (where they are the truth) and the JSON
//! backend (where they are a rebuildable index beside the entry files, plus the change feed).

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use devlog_core::entry::{Entry, EntrySummary, EntryType, Priority, Status};
use devlog_core::error::{Result, StoreError};
use devlog_core::event::Event;
use devlog_core::id::{EntryId, EntryRef, normalize_title};
use devlog_core::store::{
    Filter, ListQuery, Page, SearchHit, SearchQuery, SortKey, Stats, TOTAL_CAP, count_cap,
};
use devlog_core::time::Timestamp;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions, SqliteRow, SqliteSynchronous};
use sqlx::{Connection, QueryBuilder, Row, Sqlite, SqliteConnection, SqlitePool};

use crate::snippet::{search_words, snippet};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// Where an entry's file stood when it was indexed (JSON backend).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStamp {
    pub file: String,
    pub size: i64,
    pub mtime: i64,
}

/// A pool on one SQLite database with devlog's schema.
#[derive(Debug, Clone)]
pub struct SqlIndex {
    pool: SqlitePool,
    backend: &'static str,
    /// How `entries.doc` holds documents for this backend.
    docs: DocFormat,
    /// The database file, named in errors (none for an in-memory index).
    path: Option<Arc<Path>>,
}

/// How the `doc` column holds an entry. In the SQLite backend the database is the truth and
/// `doc` is its JSON text, readable with any SQLite tool. In the JSON backend's index the entry
/// files are the truth and `get` reads them; the index keeps the last indexed version only to
/// describe a change found in the files (a `git pull`: which fields changed, from what), so it
/// keeps it zlib-compressed (a BLOB), a third of the size or less. Reads accept both forms: a
/// document starts with `{` as JSON text and never does compressed (zlib's first byte is
/// `0x78`), so an index written before compression reads the same while it is converted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DocFormat {
    Json,
    Zlib,
}

impl DocFormat {
    fn for_backend(backend: &str) -> Self {
        if backend == "json" {
            Self::Zlib
        } else {
            Self::Json
        }
    }

    /// The `doc` value of `e`, bound as bytes.
    fn encode(self, e: &Entry) -> Vec<u8> {
        let json = serde_json::to_vec(e).expect("an Entry always serializes");
        match self {
            Self::Json => json,
            Self::Zlib => miniz_oxide::deflate::compress_to_vec_zlib(&json, DOC_LEVEL),
        }
    }

    /// How an `?N` parameter holding [`encode`](Self::encode)'s bytes is stored: as text
    /// (JSON) or as the BLOB it is.
    fn sql(self, param: &str) -> String {
        match self {
            Self::Json => format!("CAST({param} AS TEXT)"),
            Self::Zlib => param.to_string(),
        }
    }
}

/// zlib level for documents: 6 (zlib's default) packs an entry about as well as 9 in a
/// fraction of the time.
const DOC_LEVEL: u8 = 6;

/// The largest document a compressed one may expand to (a guard against a damaged index).
const MAX_DOC: usize = 256 * 1024 * 1024;

/// Free pages below which a database is not worth vacuuming (1 MiB of 4 KiB pages).
const RECLAIM_MIN_PAGES: i64 = 256;

/// The `meta` key recording that every document of a JSON index is compressed.
const DOC_FORMAT_KEY: &str = "doc_format";

/// How long a connection waits for another one's lock before reporting "database is locked".
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// SQLite's page cache per connection, in KiB (`PRAGMA cache_size`, negative = KiB). SQLite's
/// default is 2 MiB per connection; the index pool has up to 4 connections, the sync state 2,
/// and a long-running `devlog mcp` beside an editor should stay small (issue 15, target 4).
/// The OS page cache keeps the file's hot pages anyway.
pub(crate) const INDEX_CACHE_KIB: i64 = 1024;
/// The same for the sync state, whose tables are small.
pub(crate) const SYNC_STATE_CACHE_KIB: i64 = 256;

pub(crate) fn db_err(
    backend: &'static str,
    path: Option<Arc<Path>>,
) -> impl Fn(sqlx::Error) -> StoreError {
    move |e| classify_db_err(backend, path.as_deref(), "", e)
}

/// The SQLite result code of an error (primary code: the low byte of an extended one).
fn sqlite_code(e: &sqlx::Error) -> Option<i32> {
    match e {
        sqlx::Error::Database(d) => d
            .code()
            .and_then(|c| c.parse::<i32>().ok())
            .map(|c| c & 0xff),
        _ => None,
    }
}

/// A SQLite error as a store error: a read-only database or folder (`SQLITE_READONLY`) is
/// [`StoreError::ReadOnly`], permanent; a full disk (`SQLITE_FULL`) says so; `locked`/`busy`
/// and lost I/O are transient. `context` (may be empty) goes before the driver's message.
pub(crate) fn classify_db_err(
    backend: &'static str,
    path: Option<&Path>,
    context: &str,
    e: sqlx::Error,
) -> StoreError {
    let message = if context.is_empty() {
        e.to_string()
    } else {
        format!("{context}: {e}")
    };
    match sqlite_code(&e) {
        Some(8) => {
            return StoreError::ReadOnly {
                path: path.map_or_else(
                    || format!("the {backend} database"),
                    |p| p.display().to_string(),
                ),
                message,
                hint: devlog_core::error::READ_ONLY_HINT.into(),
            };
        }
        Some(13) => {
            return StoreError::Backend {
                backend,
                message: format!(
                    "{message} (the disk is full: free some space and run the command again)"
                ),
                transient: false,
            };
        }
        _ => {}
    }
    let transient = match &e {
        sqlx::Error::Database(d) => {
            let m = d.message();
            m.contains("locked") || m.contains("busy")
        }
        sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => true,
        _ => false,
    };
    StoreError::Backend {
        backend,
        message,
        transient,
    }
}

/// Switches the database to WAL mode (a persistent setting of the file). SQLite cannot wait
/// for the exclusive lock this needs with its busy handler (sqlx#1930), so first openers
/// racing on a fresh file would fail with "database is locked"; this waits the way the busy
/// handler would, up to [`BUSY_TIMEOUT`]. On a database already in WAL mode it is a read.
pub async fn enable_wal(pool: &SqlitePool) -> std::result::Result<(), sqlx::Error> {
    let mut conn = pool.acquire().await?;
    let started = std::time::Instant::now();
    loop {
        match sqlx::query_scalar::<_, String>("PRAGMA journal_mode = WAL")
            .fetch_one(&mut *conn)
            .await
        {
            Ok(mode) => {
                if !mode.eq_ignore_ascii_case("wal") {
                    // A read-only file keeps its mode; reads still work.
                    tracing::debug!(mode, "database stays in its journal mode");
                }
                return Ok(());
            }
            // SQLITE_BUSY: another opener is switching the file right now.
            Err(e) if sqlite_code(&e) == Some(5) && started.elapsed() < BUSY_TIMEOUT => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Applies `migrator`'s pending migrations inside `BEGIN IMMEDIATE`, which holds the
/// database's write lock from the start: processes that open a fresh file together wait
/// for each other (busy timeout) instead of all creating the same tables ("table entries
/// already exists"). sqlx's own migration lock does nothing on SQLite. An up-to-date
/// database is recognised by a read first, so a read-only one still opens.
pub async fn migrate_locked(
    pool: &SqlitePool,
    migrator: &sqlx::migrate::Migrator,
) -> std::result::Result<(), sqlx::migrate::MigrateError> {
    let applied: std::result::Result<Vec<i64>, sqlx::Error> =
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT version FROM {} WHERE success ORDER BY version",
            migrator.table_name
        )))
        .fetch_all(pool)
        .await;
    let wanted: Vec<i64> = migrator
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .map(|m| m.version)
        .collect();
    if applied.is_ok_and(|a| a == wanted) {
        return Ok(());
    }
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    migrator.run_direct(None, &mut *tx, false).await?;
    tx.commit().await?;
    Ok(())
}

impl SqlIndex {
    /// Opens (creating if missing) the database at `path` and brings its schema up to date.
    /// `durable` selects `synchronous=FULL` (the database is the truth) over `NORMAL` (it can
    /// be rebuilt from files). Safe when many processes open a fresh file at once: see
    /// [`enable_wal`] and [`migrate_locked`].
    pub async fn open(path: &Path, backend: &'static str, durable: bool) -> Result<Self> {
        let opts = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .synchronous(if durable {
                SqliteSynchronous::Full
            } else {
                SqliteSynchronous::Normal
            })
            .busy_timeout(BUSY_TIMEOUT)
            .pragma("cache_size", format!("-{INDEX_CACHE_KIB}"))
            .foreign_keys(true);
        let context = format!("cannot open {}", path.display());
        let cannot_open = |e: sqlx::Error| classify_db_err(backend, Some(path), &context, e);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .min_connections(1)
            // A COMMIT that fails (full disk) can leave SQLite without a transaction while
            // sqlx still counts one, and the rollback on drop then fails too: such a
            // connection would refuse every later BEGIN, so it is closed, not reused.
            .after_release(|conn, _| {
                Box::pin(async move {
                    conn.ping().await?;
                    Ok(!conn.is_in_transaction())
                })
            })
            .connect_with(opts)
            .await
            .map_err(cannot_open)?;
        enable_wal(&pool).await.map_err(cannot_open)?;
        migrate_locked(&pool, &MIGRATOR)
            .await
            .map_err(|e| match e {
                sqlx::migrate::MigrateError::Execute(e) => classify_db_err(
                    backend,
                    Some(path),
                    &format!("cannot migrate {}", path.display()),
                    e,
                ),
                e => StoreError::Backend {
                    backend,
                    message: format!("cannot migrate {}: {e}", path.display()),
                    transient: false,
                },
            })?;
        let index = Self {
            pool,
            backend,
            docs: DocFormat::for_backend(backend),
            path: Some(Arc::from(path)),
        };
        index.compress_docs().await?;
        index.reclaim_space().await;
        Ok(index)
    }

    /// Compresses the documents of a JSON index written before they were compressed, once
    /// (then `meta` says so, and opening costs one lookup).
    async fn compress_docs(&self) -> Result<()> {
        if self.docs != DocFormat::Zlib {
            return Ok(());
        }
        let done: Option<String> = sqlx::query_scalar("SELECT value FROM meta WHERE key = ?")
            .bind(DOC_FORMAT_KEY)
            .fetch_optional(&self.pool)
            .await
            .map_err(self.err())?;
        if done.is_some() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        let mut after = 0i64;
        loop {
            let rows: Vec<(i64, Vec<u8>)> = sqlx::query_as(
                "SELECT rid, doc FROM entries WHERE rid > ? AND typeof(doc) = 'text'
                 ORDER BY rid LIMIT 1000",
            )
            .bind(after)
            .fetch_all(&mut *tx)
            .await
            .map_err(self.err())?;
            let Some(&(last, _)) = rows.last() else {
                break;
            };
            for (rid, json) in rows {
                let packed = miniz_oxide::deflate::compress_to_vec_zlib(&json, DOC_LEVEL);
                sqlx::query("UPDATE entries SET doc = ? WHERE rid = ?")
                    .bind(packed)
                    .bind(rid)
                    .execute(&mut *tx)
                    .await
                    .map_err(self.err())?;
            }
            after = last;
        }
        sqlx::query("INSERT OR REPLACE INTO meta (key, value) VALUES (?, 'zlib')")
            .bind(DOC_FORMAT_KEY)
            .execute(&mut *tx)
            .await
            .map_err(self.err())?;
        tx.commit().await.map_err(self.err())
    }

    /// Gives the space of a database that is mostly free pages back to the file system: after
    /// a migration that dropped a copy of the text (`0006_contentless_fts.sql`) or compressed
    /// the documents, SQLite keeps the file at its old size until it is vacuumed. Done once
    /// (a vacuumed file has no free pages); skipped at once, not waited for, when another
    /// connection is busy with the file, and then tried again by the next open.
    async fn reclaim_space(&self) {
        let result: std::result::Result<(), sqlx::Error> = async {
            let mut conn = self.pool.acquire().await?;
            let free: i64 = sqlx::query_scalar("PRAGMA freelist_count")
                .fetch_one(&mut *conn)
                .await?;
            let pages: i64 = sqlx::query_scalar("PRAGMA page_count")
                .fetch_one(&mut *conn)
                .await?;
            if free < RECLAIM_MIN_PAGES || free * 4 < pages {
                return Ok(());
            }
            tracing::info!(
                free,
                pages,
                "vacuuming the database to give free space back"
            );
            sqlx::query("PRAGMA busy_timeout = 0")
                .execute(&mut *conn)
                .await?;
            let vacuumed = sqlx::query("VACUUM").execute(&mut *conn).await;
            if vacuumed.is_ok() {
                sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                    .execute(&mut *conn)
                    .await?;
            }
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "PRAGMA busy_timeout = {}",
                BUSY_TIMEOUT.as_millis()
            )))
            .execute(&mut *conn)
            .await?;
            vacuumed.map(|_| ())
        }
        .await;
        if let Err(e) = result {
            tracing::debug!("database not vacuumed this time: {e}");
        }
    }

    /// A private in-memory database with devlog's schema (one connection, kept for the
    /// pool's life): the JSON backend answers reads from one when its index on disk cannot
    /// be updated (read-only folder, full disk).
    pub async fn open_in_memory(backend: &'static str) -> Result<Self> {
        let err = |e: sqlx::Error| StoreError::Backend {
            backend,
            message: format!("cannot create an in-memory index: {e}"),
            transient: false,
        };
        let opts = SqliteConnectOptions::new()
            .in_memory(true)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(opts)
            .await
            .map_err(err)?;
        MIGRATOR.run(&pool).await.map_err(|e| StoreError::Backend {
            backend,
            message: format!("cannot create an in-memory index: {e}"),
            transient: false,
        })?;
        Ok(Self {
            pool,
            backend,
            docs: DocFormat::for_backend(backend),
            path: None,
        })
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    pub fn err(&self) -> impl Fn(sqlx::Error) -> StoreError + use<> {
        db_err(self.backend, self.path.clone())
    }

    /// Starts a write transaction that holds the database's write lock from the start, so two
    /// writers never both read and then both write.
    pub async fn begin_write(&self) -> Result<sqlx::Transaction<'static, Sqlite>> {
        self.pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(self.err())
    }

    // ---- writes (inside a transaction) ------------------------------------------------

    /// Inserts or replaces the row (and search text) of `e`.
    pub async fn upsert(
        &self,
        conn: &mut SqliteConnection,
        e: &Entry,
        stamp: Option<&FileStamp>,
    ) -> Result<()> {
        let doc = self.docs.encode(e);
        let tags = serde_json::to_string(&e.tags).expect("strings serialize");
        let rid: Option<i64> = sqlx::query_scalar("SELECT rid FROM entries WHERE id = ?")
            .bind(e.id.to_string())
            .fetch_optional(&mut *conn)
            .await
            .map_err(self.err())?;
        let doc_value = self.docs.sql("?18");
        let q = if rid.is_some() {
            format!(
                "UPDATE entries SET id_hex=?2, handle=?3, key=?4, legacy_id=?5, title=?6,
                   title_norm=?7, type=?8, status=?9, status_rank=?10, priority=?11,
                   priority_rank=?12, assignee=?13, tags=?14, created_at=?15, updated_at=?16,
                   closed_at=?17, doc={doc_value}, file=?19, file_size=?20, file_mtime=?21
                 WHERE id=?1 RETURNING rid"
            )
        } else {
            format!(
                "INSERT INTO entries (id, id_hex, handle, key, legacy_id, title, title_norm, type,
                   status, status_rank, priority, priority_rank, assignee, tags, created_at,
                   updated_at, closed_at, doc, file, file_size, file_mtime)
                 VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,{doc_value},
                   ?19,?20,?21)
                 RETURNING rid"
            )
        };
        let rid: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(q))
            .bind(e.id.to_string())
            .bind(e.id.simple())
            .bind(e.handle as i64)
            .bind(&e.key)
            .bind(e.legacy_id.map(|v| v as i64))
            .bind(&e.title)
            .bind(normalize_title(&e.title))
            .bind(e.kind.as_str())
            .bind(e.status.as_str())
            .bind(status_rank(e.status))
            .bind(e.priority.as_str())
            .bind(e.priority.rank() as i64)
            .bind(e.assignee.as_deref())
            .bind(tags)
            .bind(e.created_at.millis())
            .bind(e.updated_at.millis())
            .bind(e.closed_at.map(|t| t.millis()))
            .bind(doc)
            .bind(stamp.map(|s| s.file.clone()))
            .bind(stamp.map(|s| s.size))
            .bind(stamp.map(|s| s.mtime))
            .fetch_one(&mut *conn)
            .await
            .map_err(self.err())?;
        let text = e.search_text();
        sqlx::query("DELETE FROM entries_fts WHERE rowid = ?")
            .bind(rid)
            .execute(&mut *conn)
            .await
            .map_err(self.err())?;
        sqlx::query(
            "INSERT INTO entries_fts (rowid, title, description, notes, context) VALUES (?,?,?,?,?)",
        )
        .bind(rid)
        .bind(text.title)
        .bind(text.description)
        .bind(text.notes)
        .bind(text.context)
        .execute(&mut *conn)
        .await
        .map_err(self.err())?;
        Ok(())
    }

    /// Removes the row of `id`; returns whether there was one.
    pub async fn remove(&self, conn: &mut SqliteConnection, id: EntryId) -> Result<bool> {
        let rid: Option<i64> = sqlx::query_scalar("DELETE FROM entries WHERE id = ? RETURNING rid")
            .bind(id.to_string())
            .fetch_optional(&mut *conn)
            .await
            .map_err(self.err())?;
        if let Some(rid) = rid {
            sqlx::query("DELETE FROM entries_fts WHERE rowid = ?")
                .bind(rid)
                .execute(&mut *conn)
                .await
                .map_err(self.err())?;
        }
        Ok(rid.is_some())
    }

    /// Appends events to the change feed; `seq` is assigned here (the given one is ignored).
    pub async fn insert_events(&self, conn: &mut SqliteConnection, events: &[Event]) -> Result<()> {
        for ev in events {
            let payload = serde_json::to_string(ev).expect("events serialize");
            sqlx::query("INSERT INTO events (entry_id, at, kind, payload) VALUES (?,?,?,?)")
                .bind(ev.entry_id.to_string())
                .bind(ev.at.millis())
                .bind(ev.kind.name())
                .bind(payload)
                .execute(&mut *conn)
                .await
                .map_err(self.err())?;
        }
        Ok(())
    }

    /// The next free handle: one more than the largest in use (or in `floor`).
    pub async fn next_handle(&self, conn: &mut SqliteConnection, floor: u64) -> Result<u64> {
        let max: Option<i64> = sqlx::query_scalar("SELECT MAX(handle) FROM entries")
            .fetch_one(&mut *conn)
            .await
            .map_err(self.err())?;
        Ok(max.unwrap_or(0).max(floor as i64) as u64 + 1)
    }

    /// Whether another entry than `id` holds `handle`.
    pub async fn handle_taken(
        &self,
        conn: &mut SqliteConnection,
        handle: u64,
        id: EntryId,
    ) -> Result<bool> {
        let n: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM entries WHERE handle = ? AND id <> ?")
                .bind(handle as i64)
                .bind(id.to_string())
                .fetch_one(&mut *conn)
                .await
                .map_err(self.err())?;
        Ok(n > 0)
    }

    /// `key`, or `key-2`, `key-3`, ... whichever no other entry uses.
    pub async fn unique_key(
        &self,
        conn: &mut SqliteConnection,
        key: &str,
        id: EntryId,
    ) -> Result<String> {
        let mut candidate = key.to_string();
        for n in 2.. {
            let taken: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM entries WHERE key = ? AND id <> ?")
                    .bind(&candidate)
                    .bind(id.to_string())
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(self.err())?;
            if taken == 0 {
                break;
            }
            candidate = format!("{key}-{n}");
        }
        Ok(candidate)
    }

    /// An open entry with the same normalized title and type.
    pub async fn open_duplicate(
        &self,
        conn: &mut SqliteConnection,
        title: &str,
        kind: EntryType,
    ) -> Result<Option<Entry>> {
        let doc: Option<Vec<u8>> = sqlx::query_scalar(
            "SELECT doc FROM entries WHERE title_norm = ? AND type = ?
               AND status NOT IN ('done', 'closed') ORDER BY handle LIMIT 1",
        )
        .bind(normalize_title(title))
        .bind(kind.as_str())
        .fetch_optional(&mut *conn)
        .await
        .map_err(self.err())?;
        doc.map(|d| self.decode_doc(&d)).transpose()
    }

    /// The stored document of `id`.
    pub async fn doc(&self, conn: &mut SqliteConnection, id: EntryId) -> Result<Option<Entry>> {
        let doc: Option<Vec<u8>> = sqlx::query_scalar("SELECT doc FROM entries WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(&mut *conn)
            .await
            .map_err(self.err())?;
        doc.map(|d| self.decode_doc(&d)).transpose()
    }

    /// A stored document, JSON text or compressed (see [`DocFormat`]).
    pub(crate) fn decode_doc(&self, doc: &[u8]) -> Result<Entry> {
        let corrupt = |message: String| StoreError::Corrupt {
            path: format!("{} database", self.backend),
            message,
            hint: if self.docs == DocFormat::Zlib {
                "rebuild the index with `devlog reindex`".into()
            } else {
                "restore the database from a backup or re-import the entries".into()
            },
        };
        let inflated;
        let json = if doc.first() == Some(&b'{') {
            doc
        } else {
            inflated = miniz_oxide::inflate::decompress_to_vec_zlib_with_limit(doc, MAX_DOC)
                .map_err(|e| corrupt(format!("a stored entry does not decompress: {e}")))?;
            &inflated
        };
        serde_json::from_slice(json)
            .map_err(|e| corrupt(format!("a stored entry does not parse: {e}")))
    }

    // ---- reads ------------------------------------------------------------------------

    /// Exact matches for a reference (see `EntryRef`).
    pub async fn lookup(&self, r: &EntryRef) -> Result<Vec<EntrySummary>> {
        let mut qb =
            QueryBuilder::<Sqlite>::new(format!("SELECT {SUMMARY_COLS} FROM entries e WHERE "));
        match r {
            EntryRef::Number(n) => {
                qb.push("e.handle = ")
                    .push_bind(*n as i64)
                    .push(" OR e.legacy_id = ")
                    .push_bind(*n as i64);
            }
            EntryRef::Id(id) => {
                qb.push("e.id = ").push_bind(id.to_string());
            }
            EntryRef::Prefix(p) => {
                qb.push("e.key = ")
                    .push_bind(p.clone())
                    .push(" OR e.id_hex LIKE ")
                    .push_bind(format!("{p}%"));
            }
            EntryRef::Key(k) => {
                qb.push("e.key = ").push_bind(k.clone());
            }
        }
        qb.push(" ORDER BY e.handle LIMIT 20");
        let rows = qb.build().fetch_all(&self.pool).await.map_err(self.err())?;
        rows.iter().map(summary_from_row).collect()
    }

    pub async fn list(&self, q: &ListQuery) -> Result<Page<EntrySummary>> {
        let mut qb =
            QueryBuilder::<Sqlite>::new(format!("SELECT {SUMMARY_COLS} FROM entries e WHERE 1=1"));
        push_filter(&mut qb, &q.filter);
        let dir = if q.ascending { "ASC" } else { "DESC" };
        let order = list_order(q.sort, dir);
        qb.push(format_args!(" ORDER BY {order}, e.handle {dir} LIMIT "))
            .push_bind(sql_limit(q.limit))
            .push(" OFFSET ")
            .push_bind(sql_limit(q.offset));
        let rows = qb.build().fetch_all(&self.pool).await.map_err(self.err())?;
        let items = rows
            .iter()
            .map(summary_from_row)
            .collect::<Result<Vec<_>>>()?;
        let cap = count_cap(q.offset, q.limit);
        let n = self.count_where(&q.filter, cap).await?;
        Ok(Page {
            items,
            total: n.min(cap) as u64,
            offset: q.offset,
            limit: q.limit,
            total_is_estimate: n > cap,
        })
    }

    /// The entries that pass `f`, counted up to `cap + 1`: a count that stops early costs
    /// the same whatever the store's size.
    async fn count_where(&self, f: &Filter, cap: usize) -> Result<usize> {
        let mut qb =
            QueryBuilder::<Sqlite>::new("SELECT COUNT(*) FROM (SELECT 1 FROM entries e WHERE 1=1");
        push_filter(&mut qb, f);
        qb.push(" LIMIT ")
            .push_bind(sql_limit(cap.saturating_add(1)))
            .push(")");
        let n: i64 = qb
            .build_query_scalar()
            .fetch_one(&self.pool)
            .await
            .map_err(self.err())?;
        Ok(n as usize)
    }

    /// Ranked search in one pass over the full-text index. FTS5 has no top-k (`bm25()` is
    /// computed for every row a query yields) and a prefix query merges the doclists of
    /// every term with that prefix each time it is evaluated. So the query is evaluated
    /// once: the newest `cap + 1` matches with their rank, read newest first (rowid order,
    /// which FTS5 walks without sorting). Their number is the (capped) total; when there are
    /// more than `cap`, only the newest `cap` are ranked and the total says "at least".
    /// They are sorted by rank here, and only the page's rows and documents are read, for
    /// summaries and snippets ([`crate::snippet`]). Scores are bm25's own: it takes its
    /// statistics from the whole table.
    pub async fn search(&self, q: &SearchQuery) -> Result<Page<SearchHit>> {
        let Some(expr) = fts_expression(&q.text) else {
            return Ok(Page {
                items: Vec::new(),
                total: 0,
                offset: q.offset,
                limit: q.limit,
                total_is_estimate: false,
            });
        };
        let cap = count_cap(q.offset, q.limit);
        // One read transaction: the page's rows are those that were ranked.
        let mut tx = self.pool.begin().await.map_err(self.err())?;
        let window = Some(cap.saturating_add(1));
        let mut ranked = self
            .ranked_matches(&mut tx, &expr, &q.filter, window)
            .await?;
        let estimate = ranked.len() > cap;
        if estimate && cap > TOTAL_CAP {
            // Deeper pages (past TOTAL_CAP) rank every match, so paging through all of them
            // (`devlog search --limit 0`) sees one consistent order.
            ranked = self.ranked_matches(&mut tx, &expr, &q.filter, None).await?;
        } else {
            ranked.truncate(cap);
        }
        let total = ranked.len().min(cap) as u64;
        ranked.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
        let page: Vec<(i64, f64)> = ranked.into_iter().skip(q.offset).take(q.limit).collect();
        let items = self.hits(&mut tx, &page, &search_words(&q.text)).await?;
        tx.commit().await.map_err(self.err())?;
        Ok(Page {
            items,
            total,
            offset: q.offset,
            limit: q.limit,
            total_is_estimate: estimate,
        })
    }

    /// The rowids and bm25 ranks (lower is better) of the matches of `expr` that pass
    /// `filter`, newest first, at most `limit` of them.
    async fn ranked_matches(
        &self,
        conn: &mut SqliteConnection,
        expr: &str,
        filter: &Filter,
        limit: Option<usize>,
    ) -> Result<Vec<(i64, f64)>> {
        let join = if *filter != Filter::default() {
            "JOIN entries e ON e.rid = entries_fts.rowid"
        } else {
            ""
        };
        let mut qb = QueryBuilder::<Sqlite>::new(format!(
            "SELECT entries_fts.rowid, bm25(entries_fts, {BM25_WEIGHTS})
             FROM entries_fts {join} WHERE entries_fts MATCH "
        ));
        qb.push_bind(expr.to_string());
        push_filter(&mut qb, filter);
        qb.push(" ORDER BY entries_fts.rowid DESC");
        if let Some(n) = limit {
            qb.push(" LIMIT ").push_bind(sql_limit(n));
        }
        qb.build_query_as::<(i64, f64)>()
            .fetch_all(&mut *conn)
            .await
            .map_err(self.err())
    }

    /// The search hits of a page of `(rowid, rank)`, in that order, with their snippets.
    async fn hits(
        &self,
        conn: &mut SqliteConnection,
        page: &[(i64, f64)],
        words: &[String],
    ) -> Result<Vec<SearchHit>> {
        let mut found = std::collections::HashMap::with_capacity(page.len());
        // In chunks: a page can be longer than SQLite takes parameters.
        for chunk in page.chunks(500) {
            let mut qb = QueryBuilder::<Sqlite>::new(format!(
                "SELECT {SUMMARY_COLS}, e.rid, e.doc FROM entries e WHERE e.rid IN ("
            ));
            let mut sep = qb.separated(", ");
            for (rid, _) in chunk {
                sep.push_bind(*rid);
            }
            qb.push(")");
            let rows = qb.build().fetch_all(&mut *conn).await.map_err(self.err())?;
            for row in &rows {
                let rid: i64 = row.try_get("rid").map_err(self.err())?;
                let doc: Vec<u8> = row.try_get("doc").map_err(self.err())?;
                let text = self.decode_doc(&doc)?.search_text();
                let fields = [
                    text.title.as_str(),
                    text.description.as_str(),
                    text.notes.as_str(),
                    text.context.as_str(),
                ];
                found.insert(rid, (summary_from_row(row)?, snippet(&fields, words)));
            }
        }
        Ok(page
            .iter()
            .filter_map(|(rid, rank)| {
                found.remove(rid).map(|(entry, snippet)| SearchHit {
                    entry,
                    score: -rank,
                    snippet,
                })
            })
            .collect())
    }

    /// Statistics computed in the database: one grouped count and the completion times as
    /// one aggregated string (streaming thousands of rows through the driver is slow).
    pub async fn stats(&self, f: &Filter) -> Result<Stats> {
        let mut qb = QueryBuilder::<Sqlite>::new(
            "SELECT e.status, e.type, e.priority, e.assignee, COUNT(*) AS n FROM entries e WHERE 1=1",
        );
        push_filter(&mut qb, f);
        qb.push(" GROUP BY 1, 2, 3, 4");
        let rows = qb.build().fetch_all(&self.pool).await.map_err(self.err())?;
        let mut b = StatsBuilder::default();
        for r in &rows {
            let parse =
                |c: &str| -> Result<String> { r.try_get::<String, _>(c).map_err(self.err()) };
            let bad = |e: devlog_core::error::InvalidValue| StoreError::Corrupt {
                path: "index".into(),
                message: e.to_string(),
                hint: "rebuild the index with `devlog reindex`".into(),
            };
            let status: Status = parse("status")?.parse().map_err(bad)?;
            let kind: EntryType = parse("type")?.parse().map_err(bad)?;
            let priority: Priority = parse("priority")?.parse().map_err(bad)?;
            let assignee: Option<String> = r.try_get("assignee").map_err(self.err())?;
            let n: i64 = r.try_get("n").map_err(self.err())?;
            b.add(status, kind, priority, assignee.as_deref(), n as u64);
        }
        let mut qb = QueryBuilder::<Sqlite>::new(
            "SELECT group_concat(COALESCE(e.closed_at, e.updated_at) - e.created_at)
             FROM entries e WHERE e.status IN ('done', 'closed')",
        );
        push_filter(&mut qb, f);
        let spans: Option<String> = qb
            .build_query_scalar()
            .fetch_one(&self.pool)
            .await
            .map_err(self.err())?;
        for ms in spans
            .as_deref()
            .unwrap_or("")
            .split(',')
            .filter_map(|v| v.parse::<i64>().ok())
        {
            b.completion_ms(ms);
        }
        Ok(b.finish())
    }

    pub async fn events(&self, after: u64, limit: usize) -> Result<Vec<Event>> {
        let rows =
            sqlx::query("SELECT seq, payload FROM events WHERE seq > ? ORDER BY seq LIMIT ?")
                .bind(after as i64)
                .bind(limit as i64)
                .fetch_all(&self.pool)
                .await
                .map_err(self.err())?;
        self.decode_events(rows)
    }

    /// The newest events before `before`, read backwards on the `seq` key, oldest first.
    pub async fn events_before(&self, before: Option<u64>, limit: usize) -> Result<Vec<Event>> {
        let rows =
            sqlx::query("SELECT seq, payload FROM events WHERE seq < ? ORDER BY seq DESC LIMIT ?")
                .bind(seq_bound(before))
                .bind(i64::try_from(limit).unwrap_or(i64::MAX))
                .fetch_all(&self.pool)
                .await
                .map_err(self.err())?;
        let mut out = self.decode_events(rows)?;
        out.reverse();
        Ok(out)
    }

    /// The newest events of one entry in `after < seq < before`, read backwards on the
    /// `events_entry (entry_id, seq)` index (migration 1), oldest first.
    pub async fn entry_events(
        &self,
        id: EntryId,
        after: u64,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<Event>> {
        let rows = sqlx::query(ENTRY_EVENTS)
            .bind(id.to_string())
            .bind(i64::try_from(after).unwrap_or(i64::MAX))
            .bind(seq_bound(before))
            .bind(sql_limit(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(self.err())?;
        let mut out = self.decode_events(rows)?;
        out.reverse();
        Ok(out)
    }

    /// The change feed's identity, created with the feed (migration `0004_feed_id.sql`).
    pub async fn feed_id(&self) -> Result<String> {
        sqlx::query_scalar("SELECT value FROM meta WHERE key = 'feed_id'")
            .fetch_one(&self.pool)
            .await
            .map_err(self.err())
    }

    /// Events with `after < seq < before`, counted on the `seq` key.
    pub async fn count_events(&self, after: u64, before: Option<u64>) -> Result<u64> {
        let n: i64 = sqlx::query_scalar(COUNT_EVENTS)
            .bind(i64::try_from(after).unwrap_or(i64::MAX))
            .bind(seq_bound(before))
            .fetch_one(&self.pool)
            .await
            .map_err(self.err())?;
        Ok(n as u64)
    }

    fn decode_events(&self, rows: Vec<SqliteRow>) -> Result<Vec<Event>> {
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let seq: i64 = r.try_get("seq").map_err(self.err())?;
            let payload: String = r.try_get("payload").map_err(self.err())?;
            out.push(decode_event(seq, &payload, || {
                format!("{} change feed", self.backend)
            })?);
        }
        Ok(out)
    }

    pub async fn count(&self) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM entries")
            .fetch_one(&self.pool)
            .await
            .map_err(self.err())?;
        Ok(n as u64)
    }

    /// Every stored document, by handle.
    pub async fn all(&self) -> Result<Vec<Entry>> {
        let docs: Vec<Vec<u8>> = sqlx::query_scalar("SELECT doc FROM entries ORDER BY handle, id")
            .fetch_all(&self.pool)
            .await
            .map_err(self.err())?;
        docs.iter().map(|d| self.decode_doc(d)).collect()
    }
}

/// One entry's events, newest first, on the `events_entry` index.
const ENTRY_EVENTS: &str = "SELECT seq, payload FROM events WHERE entry_id = ? AND seq > ? \
                            AND seq < ? ORDER BY seq DESC LIMIT ?";

/// Counts a range of the feed on the `events_seq` index (migration 3), whose pages hold only
/// the seqs, rather than on the table's, which hold the events.
const COUNT_EVENTS: &str = "SELECT COUNT(*) FROM events WHERE seq > ? AND seq < ?";

/// A row count as SQL binds it (saturating: `usize::MAX` means "no limit").
pub(crate) fn sql_limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// An exclusive upper bound on `seq` as SQL binds it: past every seq when there is none.
/// Shared by every SQL backend.
pub(crate) fn seq_bound(before: Option<u64>) -> i64 {
    before.map_or(i64::MAX, |b| i64::try_from(b).unwrap_or(i64::MAX))
}

/// One change-feed row (`seq`, `payload`) as an event; `feed` names the feed in the error
/// (a payload this version cannot read). Shared by every SQL backend.
pub(crate) fn decode_event(
    seq: i64,
    payload: &str,
    feed: impl FnOnce() -> String,
) -> Result<Event> {
    let mut ev: Event = serde_json::from_str(payload).map_err(|e| StoreError::Corrupt {
        path: feed(),
        message: format!("event {seq} does not parse: {e}"),
        hint: "this version cannot read it; upgrade devlog".into(),
    })?;
    ev.seq = seq as u64;
    Ok(ev)
}

/// The ORDER BY of a list sorted by `sort` (before the final `e.handle`). Descending by
/// priority and by update time, open-only lists read migration 0005's partial indexes.
fn list_order(sort: SortKey, dir: &str) -> String {
    match sort {
        SortKey::Updated => format!("e.updated_at {dir}"),
        SortKey::Created => format!("e.created_at {dir}"),
        SortKey::Priority => format!("e.priority_rank {dir}, e.updated_at {dir}"),
        SortKey::Status => format!("e.status_rank {dir}, e.updated_at {dir}"),
        SortKey::Title => format!("e.title COLLATE NOCASE {dir}"),
        SortKey::Handle => format!("e.handle {dir}"),
    }
}

const SUMMARY_COLS: &str = "e.id, e.handle, e.key, e.legacy_id, e.title, e.type, e.status, e.priority, \
                            e.assignee, e.tags, e.created_at, e.updated_at, e.closed_at";

fn push_filter(qb: &mut QueryBuilder<Sqlite>, f: &Filter) {
    fn in_list<T: Copy>(
        qb: &mut QueryBuilder<Sqlite>,
        col: &str,
        vals: &[T],
        s: fn(&T) -> &'static str,
    ) {
        if vals.is_empty() {
            return;
        }
        qb.push(format_args!(" AND e.{col} IN ("));
        let mut sep = qb.separated(", ");
        for v in vals {
            sep.push_bind(s(v));
        }
        qb.push(")");
    }
    in_list(qb, "status", &f.status, Status::as_str);
    in_list(qb, "type", &f.kind, EntryType::as_str);
    in_list(qb, "priority", &f.priority, Priority::as_str);
    if let Some(a) = &f.assignee {
        qb.push(" AND e.assignee = ").push_bind(a.clone());
    }
    if let Some(t) = &f.tag {
        qb.push(" AND EXISTS (SELECT 1 FROM json_each(e.tags) WHERE json_each.value = ")
            .push_bind(t.clone())
            .push(")");
    }
    let times = [
        (" AND e.created_at >= ", f.created_after),
        (" AND e.created_at < ", f.created_before),
        (" AND e.updated_at >= ", f.updated_after),
        (" AND e.updated_at < ", f.updated_before),
    ];
    for (sql, t) in times {
        if let Some(t) = t {
            qb.push(sql).push_bind(t.millis());
        }
    }
    if f.open_only {
        qb.push(" AND e.status NOT IN ('done', 'closed')");
    }
}

/// Column weights of the search rank (title, description, notes, context).
const BM25_WEIGHTS: &str = "10.0, 4.0, 2.0, 1.5";

/// Turns user text into an FTS5 query: every word must match, each as a prefix. Words are
/// quoted, so FTS5 operators in user input are taken literally.
pub fn fts_expression(text: &str) -> Option<String> {
    let terms: Vec<String> = search_words(text)
        .iter()
        .map(|w| format!("\"{w}\"*"))
        .collect();
    (!terms.is_empty()).then(|| terms.join(" AND "))
}

/// Position of a status in the usual workflow, for sorting.
pub fn status_rank(s: Status) -> i64 {
    Status::ALL.iter().position(|x| *x == s).unwrap_or(0) as i64
}

fn summary_from_row(r: &SqliteRow) -> Result<EntrySummary> {
    let bad = |what: &str, e: String| StoreError::Corrupt {
        path: "index".into(),
        message: format!("bad {what} in a stored row: {e}"),
        hint: "rebuild the index with `devlog reindex`".into(),
    };
    let get_s = |c: &str| r.try_get::<String, _>(c).map_err(|e| bad(c, e.to_string()));
    let get_ts = |c: &str| -> Result<Option<Timestamp>> {
        let v: Option<i64> = r.try_get(c).map_err(|e| bad(c, e.to_string()))?;
        Ok(v.and_then(Timestamp::from_millis))
    };
    let id = EntryId::from_str(&get_s("id")?).map_err(|e| bad("id", e.to_string()))?;
    let handle: i64 = r
        .try_get("handle")
        .map_err(|e| bad("handle", e.to_string()))?;
    let legacy: Option<i64> = r
        .try_get("legacy_id")
        .map_err(|e| bad("legacy_id", e.to_string()))?;
    let tags: Vec<String> =
        serde_json::from_str(&get_s("tags")?).map_err(|e| bad("tags", e.to_string()))?;
    Ok(EntrySummary {
        id,
        handle: handle as u64,
        key: get_s("key")?,
        legacy_id: legacy.map(|v| v as u64),
        title: get_s("title")?,
        kind: get_s("type")?
            .parse()
            .map_err(|e: devlog_core::error::InvalidValue| bad("type", e.to_string()))?,
        status: get_s("status")?
            .parse()
            .map_err(|e: devlog_core::error::InvalidValue| bad("status", e.to_string()))?,
        priority: get_s("priority")?
            .parse()
            .map_err(|e: devlog_core::error::InvalidValue| bad("priority", e.to_string()))?,
        assignee: r
            .try_get("assignee")
            .map_err(|e| bad("assignee", e.to_string()))?,
        tags,
        created_at: get_ts("created_at")?.ok_or_else(|| bad("created_at", "missing".into()))?,
        updated_at: get_ts("updated_at")?.ok_or_else(|| bad("updated_at", "missing".into()))?,
        closed_at: get_ts("closed_at")?,
    })
}

/// Statistics over summaries (backends that fetch rows use this; all agree through
/// [`StatsBuilder`]).
pub fn compute_stats(entries: &[EntrySummary]) -> Stats {
    let mut b = StatsBuilder::default();
    for e in entries {
        b.add(e.status, e.kind, e.priority, e.assignee.as_deref(), 1);
        if e.status.is_closed() {
            let end = e.closed_at.unwrap_or(e.updated_at);
            b.completion_ms(end.millis() - e.created_at.millis());
        }
    }
    b.finish()
}

/// Accumulates [`Stats`] from counts and completion times.
#[derive(Debug, Default)]
pub struct StatsBuilder {
    stats: Stats,
    hours: Vec<f64>,
}

impl StatsBuilder {
    /// Counts `n` entries with these values.
    pub fn add(
        &mut self,
        status: Status,
        kind: EntryType,
        priority: Priority,
        assignee: Option<&str>,
        n: u64,
    ) {
        let s = &mut self.stats;
        s.total += n;
        if status.is_closed() {
            s.closed += n;
        } else {
            s.open += n;
        }
        *s.by_status.entry(status.to_string()).or_default() += n;
        *s.by_type.entry(kind.to_string()).or_default() += n;
        *s.by_priority.entry(priority.to_string()).or_default() += n;
        let who = assignee.unwrap_or("(unassigned)").to_string();
        *s.by_assignee.entry(who).or_default() += n;
    }

    /// One completed entry took `ms` from creation to completion (negative spans, from
    /// hand-edited dates, are ignored).
    pub fn completion_ms(&mut self, ms: i64) {
        if ms >= 0 {
            self.hours.push(ms as f64 / 3_600_000.0);
        }
    }

    pub fn finish(mut self) -> Stats {
        let hours = &mut self.hours;
        self.stats.completed_with_time = hours.len() as u64;
        if !hours.is_empty() {
            self.stats.avg_completion_hours = Some(hours.iter().sum::<f64>() / hours.len() as f64);
            hours.sort_by(f64::total_cmp);
            let m = hours.len() / 2;
            self.stats.median_completion_hours = Some(if hours.len().is_multiple_of(2) {
                (hours[m - 1] + hours[m]) / 2.0
            } else {
                hours[m]
            });
        }
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plan of `list` for `filter` sorted by `sort`, descending (the SQL `list` runs).
    async fn list_plan(index: &SqlIndex, filter: &Filter, sort: SortKey) -> Vec<String> {
        let mut qb = QueryBuilder::<Sqlite>::new(format!(
            "EXPLAIN QUERY PLAN SELECT {SUMMARY_COLS} FROM entries e WHERE 1=1"
        ));
        push_filter(&mut qb, filter);
        qb.push(format_args!(
            " ORDER BY {}, e.handle DESC LIMIT 10",
            list_order(sort, "DESC")
        ));
        let rows = qb.build().fetch_all(index.pool()).await.unwrap();
        rows.iter().map(|r| r.get("detail")).collect()
    }

    #[tokio::test]
    async fn open_work_reads_a_partial_index_without_sorting() {
        let index = SqlIndex::open_in_memory("sqlite").await.unwrap();
        let open = Filter {
            open_only: true,
            ..Filter::default()
        };
        for (sort, idx) in [
            (SortKey::Priority, "entries_open_priority"),
            (SortKey::Updated, "entries_open_updated"),
        ] {
            let plan = list_plan(&index, &open, sort).await;
            assert!(plan.iter().any(|d| d.contains(idx)), "{sort:?}: {plan:?}");
            assert!(!plan.iter().any(|d| d.contains("TEMP B-TREE")), "{plan:?}");
        }
    }

    /// A store's worth of generated entries: every description contains "the", other words
    /// hit from a few to most entries, so searches cross the 1,000-match cap and stay below it.
    fn generated(n: usize) -> Vec<Entry> {
        const WORDS: &[&str] = &[
            "the",
            "service",
            "returns",
            "timeout",
            "when",
            "users",
            "request",
            "large",
            "pages",
            "because",
            "index",
            "missing",
            "batch",
            "writes",
            "latency",
            "deploy",
            "memory",
            "grows",
            "history",
            "token",
            "expires",
            "webhook",
            "signature",
            "retries",
            "database",
            "migration",
            "locks",
            "kubernetes",
            "pod",
            "café",
        ];
        // devlog-bench's generator, with a vocabulary of its own (an accented word).
        let mut rng = devlog_core::sample::SampleRng(0x9e37_79b9_7f4a_7c15);
        let mut next = move |k: usize| rng.below(k);
        (0..n)
            .map(|i| {
                let mut sentence = |words: usize| {
                    let mut s: Vec<&str> = (0..words).map(|_| WORDS[next(WORDS.len())]).collect();
                    s[0] = "The";
                    format!("{}.", s.join(" "))
                };
                let description = (0..10).map(|_| sentence(16)).collect::<Vec<_>>().join(" ");
                let note = sentence(12);
                let business = sentence(10);
                let status = Status::ALL[next(Status::ALL.len())];
                let priority = Priority::ALL[next(Priority::ALL.len())];
                let title = format!("{} {i}", WORDS[next(WORDS.len())]);
                devlog_testkit::EntryBuilder::new(&title)
                    .handle(i as u64 + 1)
                    .status(status)
                    .priority(priority)
                    .times(i as i64, i as i64 + next(5000) as i64)
                    .description(&description)
                    .note(devlog_core::entry::NoteCategory::Progress, &note)
                    .business(&business)
                    .tag(["ui", "api", "infra"][next(3)])
                    .build()
            })
            .collect()
    }

    /// Search as it was before migration 6 (FTS5 with its own copy of the text): the newest
    /// `cap + 1` matches, then every match ranked (or the newest `cap` of them, when there are
    /// more), in SQL. Returns (handle, score) per hit, the total and whether it is a lower
    /// bound.
    async fn search_before(index: &SqlIndex, q: &SearchQuery) -> (Vec<(u64, f64)>, u64, bool) {
        let expr = fts_expression(&q.text).unwrap();
        let join = "JOIN entries e ON e.rid = entries_fts.rowid";
        let cap = count_cap(q.offset, q.limit);
        let mut qb = QueryBuilder::<Sqlite>::new(format!(
            "SELECT entries_fts.rowid FROM entries_fts {join} WHERE entries_fts MATCH "
        ));
        qb.push_bind(expr.clone());
        push_filter(&mut qb, &q.filter);
        qb.push(" ORDER BY entries_fts.rowid DESC LIMIT ")
            .push_bind(sql_limit(cap.saturating_add(1)));
        let newest: Vec<i64> = qb
            .build_query_scalar()
            .fetch_all(index.pool())
            .await
            .unwrap();
        let estimate = newest.len() > cap;
        let bound = (estimate && cap == TOTAL_CAP).then(|| newest[cap - 1]);
        let mut qb = QueryBuilder::<Sqlite>::new(format!(
            "SELECT e.handle, bm25(entries_fts, 10.0, 4.0, 2.0, 1.5) AS rank
             FROM entries_fts {join} WHERE entries_fts MATCH "
        ));
        qb.push_bind(expr);
        if let Some(b) = bound {
            qb.push(" AND entries_fts.rowid >= ").push_bind(b);
        }
        push_filter(&mut qb, &q.filter);
        qb.push(" ORDER BY rank, entries_fts.rowid LIMIT ")
            .push_bind(sql_limit(q.limit))
            .push(" OFFSET ")
            .push_bind(sql_limit(q.offset));
        let rows: Vec<(i64, f64)> = qb.build_query_as().fetch_all(index.pool()).await.unwrap();
        let hits = rows.into_iter().map(|(h, r)| (h as u64, -r)).collect();
        (hits, newest.len().min(cap) as u64, estimate)
    }

    fn searches() -> Vec<SearchQuery> {
        let open = Filter {
            open_only: true,
            ..Filter::default()
        };
        let mut out = Vec::new();
        for text in [
            "the",
            "kubernetes pod",
            "time",
            "cafe",
            "webhook signature expires",
            "ui",
        ] {
            for (offset, limit) in [(0, 20), (20, 20), (990, 20), (0, 0)] {
                for filter in [Filter::default(), open.clone()] {
                    out.push(SearchQuery {
                        text: text.into(),
                        filter,
                        offset,
                        limit,
                    });
                }
            }
        }
        out
    }

    fn active_context() -> ListQuery {
        ListQuery {
            filter: Filter {
                open_only: true,
                ..Filter::default()
            },
            sort: SortKey::Priority,
            limit: 10,
            ..ListQuery::default()
        }
    }

    fn file_size(path: &Path) -> u64 {
        ["", "-wal"]
            .iter()
            .map(|s| {
                let mut p = path.as_os_str().to_owned();
                p.push(s);
                std::fs::metadata(p).map_or(0, |m| m.len())
            })
            .sum()
    }

    /// Issue 15: an index made by the old schema (FTS5 with a copy of the text, documents as
    /// JSON text) opens with the new one, answers every search, total and active context as
    /// before, and gets smaller.
    #[tokio::test]
    async fn an_old_index_migrates_searches_the_same_and_shrinks() {
        let entries = generated(1_200);
        for backend in ["sqlite", "json"] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("index.sqlite");
            let (before, context_before, size_before) = {
                let opts = SqliteConnectOptions::new()
                    .filename(&path)
                    .create_if_missing(true);
                let pool = SqlitePoolOptions::new().connect_with(opts).await.unwrap();
                enable_wal(&pool).await.unwrap();
                MIGRATOR.run_to(5, &pool).await.unwrap();
                // The old layout: documents as text, in a table with the text's own copy.
                let old = SqlIndex {
                    pool,
                    backend,
                    docs: DocFormat::Json,
                    path: None,
                };
                let mut tx = old.begin_write().await.unwrap();
                for e in &entries {
                    old.upsert(&mut tx, e, None).await.unwrap();
                }
                tx.commit().await.unwrap();
                let mut before = Vec::new();
                for q in searches() {
                    before.push(search_before(&old, &q).await);
                }
                let context = old.list(&active_context()).await.unwrap();
                old.pool.close().await;
                (before, context, file_size(&path))
            };
            assert!(before.iter().any(|(_, _, estimate)| *estimate));
            assert!(
                before
                    .iter()
                    .any(|(hits, _, estimate)| !estimate && !hits.is_empty())
            );

            let index = SqlIndex::open(&path, backend, backend == "sqlite")
                .await
                .unwrap();
            for (q, (hits, total, estimate)) in searches().iter().zip(&before) {
                let page = index.search(q).await.unwrap();
                let now: Vec<(u64, f64)> = page
                    .items
                    .iter()
                    .map(|h| (h.entry.handle, h.score))
                    .collect();
                assert_eq!(&now, hits, "{backend}: {q:?}");
                assert_eq!(page.total, *total, "{backend}: {q:?}");
                assert_eq!(page.total_is_estimate, *estimate, "{backend}: {q:?}");
                assert!(page.items.iter().all(|h| h.snippet.contains('[')), "{q:?}");
            }
            assert_eq!(index.list(&active_context()).await.unwrap(), context_before);
            // Documents read back whole, compressed or not.
            let all = index.all().await.unwrap();
            assert_eq!(all, entries);
            let packed: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM entries WHERE typeof(doc) = 'blob'")
                    .fetch_one(index.pool())
                    .await
                    .unwrap();
            let expected = if backend == "json" { entries.len() } else { 0 };
            assert_eq!(packed as usize, expected, "{backend}");
            index.pool.close().await;
            let size_after = file_size(&path);
            assert!(
                size_after * 10 < size_before * 8,
                "{backend}: {size_before} -> {size_after} bytes"
            );
        }
    }

    #[tokio::test]
    async fn search_walks_the_matches_newest_first_without_sorting() {
        let index = SqlIndex::open_in_memory("sqlite").await.unwrap();
        let mut tx = index.begin_write().await.unwrap();
        for e in generated(30) {
            index.upsert(&mut tx, &e, None).await.unwrap();
        }
        tx.commit().await.unwrap();
        // The statement search runs, as SQLite plans it: one scan of the FTS table, walked in
        // rowid order (no sort) for the newest matches.
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "EXPLAIN QUERY PLAN SELECT entries_fts.rowid, bm25(entries_fts, {BM25_WEIGHTS})
             FROM entries_fts WHERE entries_fts MATCH ? ORDER BY entries_fts.rowid DESC LIMIT 5"
        )))
        .bind("\"the\"*")
        .fetch_all(index.pool())
        .await
        .unwrap();
        let plan: Vec<String> = rows.iter().map(|r| r.get("detail")).collect();
        assert!(!plan.iter().any(|d| d.contains("TEMP B-TREE")), "{plan:?}");
        let page = index
            .search(&SearchQuery {
                text: "the".into(),
                ..SearchQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(page.total, 30);
        assert!(
            page.items
                .iter()
                .all(|h| h.snippet.to_lowercase().contains("[the]"))
        );
    }

    #[tokio::test]
    async fn feed_counts_read_the_seq_index_not_the_events() {
        let index = SqlIndex::open_in_memory("sqlite").await.unwrap();
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "EXPLAIN QUERY PLAN {COUNT_EVENTS}"
        )))
        .bind(0i64)
        .bind(i64::MAX)
        .fetch_all(index.pool())
        .await
        .unwrap();
        let plan: Vec<String> = rows.iter().map(|r| r.get("detail")).collect();
        assert!(
            plan.iter().any(|d| d.contains("COVERING INDEX events_seq")),
            "{plan:?}"
        );
    }

    #[tokio::test]
    async fn an_entrys_history_reads_the_entry_index_not_the_feed() {
        let index = SqlIndex::open_in_memory("sqlite").await.unwrap();
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "EXPLAIN QUERY PLAN {ENTRY_EVENTS}"
        )))
        .bind("id")
        .bind(0i64)
        .bind(i64::MAX)
        .bind(10i64)
        .fetch_all(index.pool())
        .await
        .unwrap();
        let plan: Vec<String> = rows.iter().map(|r| r.get("detail")).collect();
        assert!(
            plan.iter()
                .any(|d| d.contains("USING INDEX events_entry (entry_id=? AND seq>? AND seq<?)")),
            "{plan:?}"
        );
        assert!(!plan.iter().any(|d| d.contains("TEMP B-TREE")), "{plan:?}");
    }
}
