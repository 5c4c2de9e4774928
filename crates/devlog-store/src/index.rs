//! The SQLite tables shared by the SQLite backend (where they are the truth) and the JSON
//! backend (where they are a rebuildable index beside the entry files, plus the change feed).

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use devlog_core::entry::{Entry, EntrySummary, EntryType, Priority, Status};
use devlog_core::error::{Result, StoreError};
use devlog_core::event::Event;
use devlog_core::id::{EntryId, EntryRef, normalize_title};
use devlog_core::store::{
    Filter, ListQuery, NO_TAG, Page, SearchHit, SearchQuery, SortKey, Stats, StatsBuilder,
    TOTAL_CAP, completion_ms, count_cap,
};
use devlog_core::time::Timestamp;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions, SqliteRow, SqliteSynchronous};
use sqlx::{Connection, QueryBuilder, Row, Sqlite, SqliteConnection, SqlitePool};

use crate::snippet::snippet;
use crate::terms::{MAX_EXPANSIONS, index_terms, search_words, term_range, word_score};

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
    /// Whether this process saw `terms_pending` empty (see [`SqlIndex::index_pending`]): then
    /// every entry's word rows exist and a write need not check the queue.
    terms_ready: Arc<AtomicBool>,
    /// Staged rows (`terms_staged`) at which a write folds them into `terms` ([`FOLD_AT`];
    /// tests change it).
    fold_at: usize,
    /// Rows this process has staged (for [`SqlIndex::fold_when_idle`]).
    writes: Arc<std::sync::atomic::AtomicU64>,
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
/// default is 2 MiB per connection; the index pool has up to 4 connections
/// (`index_connections`), the sync state 2, and a long-running `devlog mcp` beside an editor
/// should stay small (issue 15, target 4).
/// The OS page cache keeps the file's hot pages anyway.
pub(crate) const INDEX_CACHE_KIB: i64 = 1024;
/// The same for the sync state, whose tables are small.
pub(crate) const SYNC_STATE_CACHE_KIB: i64 = 256;

/// Connections of an index pool: 4 in a process whose runtime has several workers (`serve`,
/// `worker`, `mcp --http`: concurrent requests, and sqlx runs each SQLite connection on a
/// thread of its own), 2 on a runtime of one worker or the current thread (stdio `devlog mcp`,
/// which answers one request at a time, and short commands). Each connection is a thread with
/// its own malloc arena, page cache (`INDEX_CACHE_KIB`) and prepared statements: at 100,000
/// entries two fewer took 3.8 MiB off a stdio `devlog mcp` that ran every tool (issue 15,
/// target 4; docs/performance.md "Code in the order it runs").
fn index_connections() -> u32 {
    match tokio::runtime::Handle::try_current() {
        Ok(rt) if rt.metrics().num_workers() > 1 => 4,
        _ => 2,
    }
}

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
            .max_connections(index_connections())
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
            terms_ready: Arc::new(AtomicBool::new(false)),
            fold_at: FOLD_AT,
            writes: Arc::default(),
        };
        index.compress_docs().await?;
        index.index_pending().await?;
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
            // A new database has no entries to index.
            terms_ready: Arc::new(AtomicBool::new(true)),
            fold_at: FOLD_AT,
            writes: Arc::default(),
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

    // ---- milestones (the SQLite backend's; the JSON backend keeps files) ----------------

    /// Every milestone in the `milestones` table.
    pub async fn milestones(&self) -> Result<Vec<devlog_core::planning::Milestone>> {
        let docs: Vec<String> = sqlx::query_scalar("SELECT doc FROM milestones ORDER BY key")
            .fetch_all(&self.pool)
            .await
            .map_err(self.err())?;
        docs.iter()
            .map(|d| {
                serde_json::from_str(d).map_err(|e| StoreError::Corrupt {
                    path: self
                        .path
                        .as_deref()
                        .map_or_else(|| "index".to_string(), |p| p.display().to_string()),
                    message: format!("a stored milestone does not parse: {e}"),
                    hint: "this version cannot read it; upgrade devlog".into(),
                })
            })
            .collect()
    }

    /// Inserts (`create`) or replaces a milestone, in one write transaction.
    pub async fn put_milestone(
        &self,
        m: &devlog_core::planning::Milestone,
        create: bool,
    ) -> Result<()> {
        let doc = serde_json::to_string(m).expect("a milestone always serializes");
        let mut tx = self.begin_write().await?;
        let exists: Option<i64> = sqlx::query_scalar("SELECT 1 FROM milestones WHERE key = ?")
            .bind(&m.key)
            .fetch_optional(&mut *tx)
            .await
            .map_err(self.err())?;
        if exists.is_some() == create {
            return Err(devlog_core::store::milestone_exists(m, create));
        }
        sqlx::query("INSERT OR REPLACE INTO milestones (key, doc) VALUES (?, ?)")
            .bind(&m.key)
            .bind(doc)
            .execute(&mut *tx)
            .await
            .map_err(self.err())?;
        tx.commit().await.map_err(self.err())
    }

    // ---- writes (inside a transaction) ------------------------------------------------

    /// Inserts or replaces the row (and word index rows) of `e`.
    pub async fn upsert(
        &self,
        conn: &mut SqliteConnection,
        e: &Entry,
        stamp: Option<&FileStamp>,
    ) -> Result<()> {
        let doc = self.docs.encode(e);
        let tags = serde_json::to_string(&e.tags).expect("strings serialize");
        let old: Option<(i64, i64, Vec<u8>)> =
            sqlx::query_as("SELECT rid, handle, doc FROM entries WHERE id = ?")
                .bind(e.id.to_string())
                .fetch_optional(&mut *conn)
                .await
                .map_err(self.err())?;
        let doc_value = self.docs.sql("?18");
        let q = if old.is_some() {
            format!(
                "UPDATE entries SET id_hex=?2, handle=?3, key=?4, legacy_id=?5, title=?6,
                   title_norm=?7, type=?8, status=?9, status_rank=?10, priority=?11,
                   priority_rank=?12, assignee=?13, tags=?14, created_at=?15, updated_at=?16,
                   closed_at=?17, doc={doc_value}, file=?19, file_size=?20, file_mtime=?21,
                   due_date=?22, milestone=?23, done_ms=?24
                 WHERE id=?1 RETURNING rid"
            )
        } else {
            format!(
                "INSERT INTO entries (id, id_hex, handle, key, legacy_id, title, title_norm, type,
                   status, status_rank, priority, priority_rank, assignee, tags, created_at,
                   updated_at, closed_at, doc, file, file_size, file_mtime, due_date, milestone,
                   done_ms)
                 VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,{doc_value},
                   ?19,?20,?21,?22,?23,?24)
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
            .bind(e.due_date.map(|d| d.to_string()))
            .bind(e.milestone.as_deref())
            .bind(completion_ms(
                e.status,
                e.created_at,
                e.updated_at,
                e.closed_at,
            ))
            .fetch_one(&mut *conn)
            .await
            .map_err(self.err())?;
        let terms = index_terms(&e.search_text());
        let old = old.map(|(_, handle, doc)| (handle, doc));
        self.stage_terms(conn, rid, Some(e.handle as i64), old, &terms)
            .await
    }

    /// Removes the row of `id` and its word index rows; returns whether there was one.
    pub async fn remove(&self, conn: &mut SqliteConnection, id: EntryId) -> Result<bool> {
        let old: Option<(i64, i64, Vec<u8>)> =
            sqlx::query_as("DELETE FROM entries WHERE id = ? RETURNING rid, handle, doc")
                .bind(id.to_string())
                .fetch_optional(&mut *conn)
                .await
                .map_err(self.err())?;
        let Some((rid, handle, doc)) = old else {
            return Ok(false);
        };
        self.stage_terms(conn, rid, None, Some((handle, doc)), &[])
            .await?;
        Ok(true)
    }

    /// Stages the word index rows of the entry row `rid`: its `terms` (from `index_terms`,
    /// sorted) at `handle` (`None`: the row was removed), in one row of `terms_staged`
    /// instead of one `terms` row per word (migration `0009_terms_staged.sql`). `old` is the
    /// row's handle and document before this write, whose rows `terms` holds unless the row
    /// is staged already (then the staged row keeps what a fold must delete) or still
    /// queued by an upgrade. Folds every staged row when [`FOLD_AT`] are staged.
    async fn stage_terms(
        &self,
        conn: &mut SqliteConnection,
        rid: i64,
        handle: Option<i64>,
        old: Option<(i64, Vec<u8>)>,
        terms: &[(String, f64)],
    ) -> Result<()> {
        let encoded = encode_terms(terms);
        self.writes.fetch_add(1, Ordering::Relaxed);
        let updated = sqlx::query("UPDATE terms_staged SET handle = ?, terms = ? WHERE rid = ?")
            .bind(handle)
            .bind(&encoded)
            .bind(rid)
            .execute(&mut *conn)
            .await
            .map_err(self.err())?;
        if updated.rows_affected() == 0 {
            let stored = match &old {
                Some((old_handle, doc)) => self.stored_terms(conn, rid, *old_handle, doc).await?,
                None => StoredTerms::None,
            };
            let (folded_handle, folded) = match stored {
                StoredTerms::Rows { handle, terms } => (Some(handle), Some(encode_terms(&terms))),
                StoredTerms::None => (None, None),
                StoredTerms::Unknown => {
                    sqlx::query("DELETE FROM terms WHERE rid = ?")
                        .bind(rid)
                        .execute(&mut *conn)
                        .await
                        .map_err(self.err())?;
                    (None, None)
                }
            };
            sqlx::query(
                "INSERT INTO terms_staged (rid, handle, terms, folded_handle, folded)
                 VALUES (?, ?, ?, ?, ?)",
            )
            .bind(rid)
            .bind(handle)
            .bind(&encoded)
            .bind(folded_handle)
            .bind(folded)
            .execute(&mut *conn)
            .await
            .map_err(self.err())?;
        }
        let staged: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM (SELECT 1 FROM terms_staged LIMIT ?)")
                .bind(sql_limit(self.fold_at))
                .fetch_one(&mut *conn)
                .await
                .map_err(self.err())?;
        if staged as usize >= self.fold_at {
            self.fold(conn).await?;
        }
        Ok(())
    }

    /// Folds every staged row into `terms` (inside the caller's write transaction): for
    /// each, only the `terms` rows that differ from what it replaces are deleted and
    /// written ([`Self::write_terms`]). Returns how many rows were folded.
    async fn fold(&self, conn: &mut SqliteConnection) -> Result<usize> {
        let mut folded = 0;
        loop {
            let rows: Vec<StagedRow> = sqlx::query_as(
                "SELECT rid, handle, terms, folded_handle, folded FROM terms_staged
                     ORDER BY rid LIMIT 500",
            )
            .fetch_all(&mut *conn)
            .await
            .map_err(self.err())?;
            let Some(&(last, ..)) = rows.last() else {
                return Ok(folded);
            };
            for (rid, handle, terms, folded_handle, old) in &rows {
                let stored = match (folded_handle, old) {
                    (Some(h), Some(t)) => StoredTerms::Rows {
                        handle: *h,
                        terms: self.decode_terms(t)?,
                    },
                    _ => StoredTerms::None,
                };
                match (handle, stored) {
                    (Some(h), stored) => {
                        let now = self.decode_terms(terms)?;
                        self.write_terms(conn, *rid, *h, stored, &now).await?;
                    }
                    (None, StoredTerms::Rows { handle, terms }) => {
                        self.delete_terms(
                            conn,
                            handle,
                            *rid,
                            terms.iter().map(|(t, _)| t.as_str()),
                        )
                        .await?;
                    }
                    (None, _) => {}
                }
            }
            sqlx::query("DELETE FROM terms_staged WHERE rid <= ?")
                .bind(last)
                .execute(&mut *conn)
                .await
                .map_err(self.err())?;
            folded += rows.len();
        }
    }

    /// Folds every staged row into `terms` in its own write transaction, when there are any
    /// (a long-running devlog calls this when it is idle; writes fold at [`FOLD_AT`]).
    /// Returns how many rows were folded.
    pub async fn fold_staged(&self) -> Result<usize> {
        let any: Option<i64> = sqlx::query_scalar("SELECT rid FROM terms_staged LIMIT 1")
            .fetch_optional(&self.pool)
            .await
            .map_err(self.err())?;
        if any.is_none() {
            return Ok(0);
        }
        let mut tx = self.begin_write().await?;
        let n = self.fold(&mut tx).await?;
        tx.commit().await.map_err(self.err())?;
        Ok(n)
    }

    /// Folds the staged rows whenever this process has written nothing for a while
    /// ([`IDLE_FOLD`]), so a long-running devlog (`serve`, `mcp`, `worker`, `sync --watch`)
    /// leaves few staged rows for searches to read and no fold for a later write to pay. A
    /// failed fold is logged and tried again on the next quiet tick. Needs a tokio runtime;
    /// the task ends with it.
    pub fn fold_when_idle(&self) {
        self.fold_when_idle_for(IDLE_FOLD);
    }

    /// [`Self::fold_when_idle`] after `quiet` without a write.
    fn fold_when_idle_for(&self, quiet: Duration) {
        let index = self.clone();
        tokio::spawn(async move {
            let mut seen = index.writes.load(Ordering::Relaxed);
            let mut tick = tokio::time::interval(quiet);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let now = index.writes.load(Ordering::Relaxed);
                if now != seen {
                    seen = now;
                    continue;
                }
                match index.fold_staged().await {
                    Ok(0) => {}
                    Ok(n) => tracing::debug!("folded {n} staged entries into the word index"),
                    Err(e) => tracing::warn!("cannot fold the staged search index rows: {e}"),
                }
            }
        });
    }

    /// Staged terms as a fold reads them (see [`encode_terms`]).
    fn decode_terms(&self, text: &str) -> Result<Vec<(String, f64)>> {
        staged_terms(text)
            .map(|t| t.map(|(term, w)| (term.to_string(), w)))
            .collect::<std::result::Result<_, _>>()
            .map_err(|line| StoreError::Corrupt {
                path: format!("{} database", self.backend),
                message: format!("a staged search index row does not parse: {line:?}"),
                hint: "rebuild the index with `devlog reindex` (JSON store) or restore the \
                       database from a backup"
                    .into(),
            })
    }

    /// The word index rows an entry's row has now: those of its stored document, unless the
    /// row is still queued for indexing (then it has none).
    async fn stored_terms(
        &self,
        conn: &mut SqliteConnection,
        rid: i64,
        handle: i64,
        doc: &[u8],
    ) -> Result<StoredTerms> {
        if !self.terms_ready.load(Ordering::Acquire) {
            let queued = sqlx::query("DELETE FROM terms_pending WHERE rid = ?")
                .bind(rid)
                .execute(&mut *conn)
                .await
                .map_err(self.err())?;
            if queued.rows_affected() > 0 {
                return Ok(StoredTerms::None);
            }
        }
        match self.decode_doc(doc) {
            Ok(old) => Ok(StoredTerms::Rows {
                handle,
                terms: index_terms(&old.search_text()),
            }),
            Err(e) => {
                // Its rows cannot be named from a damaged document: find them by scanning.
                tracing::warn!("{e}; removing its search index rows by a scan");
                Ok(StoredTerms::Unknown)
            }
        }
    }

    /// Brings the word index rows of the entry row `rid` (now at `handle`) from `stored` to
    /// `terms` (from `index_terms`, sorted by term): only rows that differ are deleted and
    /// written, so a note changes a few weights, not every row of the entry.
    async fn write_terms(
        &self,
        conn: &mut SqliteConnection,
        rid: i64,
        handle: i64,
        stored: StoredTerms,
        terms: &[(String, f64)],
    ) -> Result<()> {
        let (gone, fresh): (Vec<&str>, Vec<(&str, f64)>) = match &stored {
            StoredTerms::Rows {
                handle: old,
                terms: before,
            } if *old == handle => {
                let now: std::collections::HashMap<&str, f64> =
                    terms.iter().map(|(t, w)| (t.as_str(), *w)).collect();
                let was: std::collections::HashMap<&str, f64> =
                    before.iter().map(|(t, w)| (t.as_str(), *w)).collect();
                (
                    before
                        .iter()
                        .filter(|(t, _)| !now.contains_key(t.as_str()))
                        .map(|(t, _)| t.as_str())
                        .collect(),
                    terms
                        .iter()
                        .filter(|(t, w)| was.get(t.as_str()) != Some(w))
                        .map(|(t, w)| (t.as_str(), *w))
                        .collect(),
                )
            }
            StoredTerms::Rows {
                handle: old,
                terms: before,
            } => {
                // Renumbered: every row moves to the new handle.
                self.delete_terms(conn, *old, rid, before.iter().map(|(t, _)| t.as_str()))
                    .await?;
                (
                    Vec::new(),
                    terms.iter().map(|(t, w)| (t.as_str(), *w)).collect(),
                )
            }
            StoredTerms::Unknown => {
                sqlx::query("DELETE FROM terms WHERE rid = ?")
                    .bind(rid)
                    .execute(&mut *conn)
                    .await
                    .map_err(self.err())?;
                (
                    Vec::new(),
                    terms.iter().map(|(t, w)| (t.as_str(), *w)).collect(),
                )
            }
            StoredTerms::None => (
                Vec::new(),
                terms.iter().map(|(t, w)| (t.as_str(), *w)).collect(),
            ),
        };
        self.delete_terms(conn, handle, rid, gone.into_iter())
            .await?;
        for chunk in fresh.chunks(TERM_CHUNK) {
            // REPLACE: a word whose weight changed keeps its key.
            let mut qb = QueryBuilder::<Sqlite>::new(
                "INSERT OR REPLACE INTO terms (term, handle, rid, weight) ",
            );
            qb.push_values(chunk, |mut b, (t, w)| {
                b.push_bind(*t)
                    .push_bind(handle)
                    .push_bind(rid)
                    .push_bind(*w);
            });
            qb.build().execute(&mut *conn).await.map_err(self.err())?;
        }
        Ok(())
    }

    /// Deletes the word index rows `terms` of the entry row `rid` at `handle` (by key).
    async fn delete_terms<'t>(
        &self,
        conn: &mut SqliteConnection,
        handle: i64,
        rid: i64,
        terms: impl Iterator<Item = &'t str>,
    ) -> Result<()> {
        let terms: Vec<&str> = terms.collect();
        for chunk in terms.chunks(TERM_CHUNK) {
            let mut qb = QueryBuilder::<Sqlite>::new("DELETE FROM terms WHERE handle = ");
            qb.push_bind(handle)
                .push(" AND rid = ")
                .push_bind(rid)
                .push(" AND term IN (");
            let mut sep = qb.separated(", ");
            for t in chunk {
                sep.push_bind(*t);
            }
            qb.push(")");
            qb.build().execute(&mut *conn).await.map_err(self.err())?;
        }
        Ok(())
    }

    /// Indexes the entries queued in `terms_pending` (every entry of a database written before
    /// the word index, migration `0008_search_terms.sql`), 1,000 per write transaction, logging
    /// progress; an interrupted run resumes on the next open. Concurrent openers take turns (each
    /// batch holds the write lock). A read-only database is left as it is: searches then miss
    /// the entries not yet indexed.
    async fn index_pending(&self) -> Result<()> {
        let first: Option<i64> = sqlx::query_scalar("SELECT rid FROM terms_pending LIMIT 1")
            .fetch_optional(&self.pool)
            .await
            .map_err(self.err())?;
        if first.is_none() {
            self.terms_ready.store(true, Ordering::Release);
            return Ok(());
        }
        let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM terms_pending")
            .fetch_one(&self.pool)
            .await
            .map_err(self.err())?;
        tracing::info!("indexing {total} entries for search (once, after an upgrade)");
        let mut done = 0usize;
        loop {
            let mut tx = match self.begin_write().await {
                Ok(tx) => tx,
                Err(e @ StoreError::ReadOnly { .. }) => {
                    tracing::warn!(
                        "{e}; searches miss the {} entries not indexed yet",
                        total as usize - done
                    );
                    return Ok(());
                }
                Err(e) => return Err(e),
            };
            let rows: Vec<(i64, Option<i64>, Option<Vec<u8>>)> = sqlx::query_as(
                "SELECT p.rid, e.handle, e.doc FROM terms_pending p LEFT JOIN entries e
                   ON e.rid = p.rid ORDER BY p.rid LIMIT 1000",
            )
            .fetch_all(&mut *tx)
            .await
            .map_err(self.err())?;
            let Some(&(last, _, _)) = rows.last() else {
                break;
            };
            for (rid, handle, doc) in &rows {
                if let (Some(handle), Some(doc)) = (handle, doc) {
                    let terms = index_terms(&self.decode_doc(doc)?.search_text());
                    // Rows left by an earlier, interrupted attempt are replaced.
                    self.write_terms(&mut tx, *rid, *handle, StoredTerms::None, &terms)
                        .await?;
                }
            }
            sqlx::query("DELETE FROM terms_pending WHERE rid <= ?")
                .bind(last)
                .execute(&mut *tx)
                .await
                .map_err(self.err())?;
            tx.commit().await.map_err(self.err())?;
            done += rows.len();
            tracing::info!("indexed {done} of {total} entries for search");
        }
        self.terms_ready.store(true, Ordering::Release);
        Ok(())
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

    /// Ranked search from the word index (`terms`), as on the servers: each query word is
    /// expanded to the indexed terms it starts ([`Self::expand`]); the newest `cap + 1`
    /// matches, with their scores, are read newest first in a widening window of handles
    /// ([`Self::newest_matches`]). Their number is the (capped) total; when there are more
    /// than `cap`, only the newest `cap` are ranked and the total says "at least". A hit's score
    /// is the sum over the query words of `w / (w + 2)` for the weight `w` of the entry's
    /// heaviest term that word matches (`terms::word_score`), ties going to the lower handle;
    /// only the page's rows and documents are read, for summaries and snippets
    /// ([`crate::snippet`]). One read transaction: the page's rows are those that were ranked.
    pub async fn search(&self, q: &SearchQuery) -> Result<Page<SearchHit>> {
        let empty = || Page {
            items: Vec::new(),
            total: 0,
            offset: q.offset,
            limit: q.limit,
            total_is_estimate: false,
        };
        let words = search_words(&q.text);
        if words.is_empty() {
            return Ok(empty());
        }
        let mut tx = self.pool.begin().await.map_err(self.err())?;
        let staged = self.staged_matches(&mut tx, &words, &q.filter).await?;
        let mut terms = Vec::with_capacity(words.len());
        let mut folded_match = true;
        for word in &words {
            let t = self.expand(&mut tx, word).await?;
            if t.as_ref().is_some_and(Vec::is_empty) {
                // A word no folded entry has: none of them matches every word.
                folded_match = false;
            }
            terms.push(WordTerms {
                word: word.clone(),
                terms: t,
            });
        }
        if !folded_match && staged.matches.is_empty() {
            return Ok(empty());
        }
        let sources = Sources {
            words: &terms,
            filter: &q.filter,
            folded: folded_match,
            staged: &staged,
        };
        let cap = count_cap(q.offset, q.limit);
        let mut hits = self
            .newest_matches(&mut tx, &sources, cap.saturating_add(1))
            .await?;
        let estimate = hits.len() > cap;
        let total = hits.len().min(cap) as u64;
        if estimate {
            if cap == TOTAL_CAP {
                hits.truncate(cap);
            } else {
                // Pages past TOTAL_CAP rank every match, so paging through all of them
                // (`devlog search --limit 0`) sees one order; only the best
                // `offset + limit` are kept while the matches stream by.
                hits = self
                    .best_matches(&mut tx, &sources, q.offset.saturating_add(q.limit))
                    .await?;
            }
        }
        hits.sort_by(Match::rank);
        let page: Vec<(i64, f64)> = hits
            .into_iter()
            .skip(q.offset)
            .take(q.limit)
            .map(|m| (m.rid, m.score))
            .collect();
        let items = self.hits(&mut tx, &page, &words).await?;
        tx.commit().await.map_err(self.err())?;
        Ok(Page {
            items,
            total,
            offset: q.offset,
            limit: q.limit,
            total_is_estimate: estimate,
        })
    }

    /// The indexed terms that start with `word` (distinct, in order), read by hopping from
    /// one term to the next on the `terms` key (one index probe per term, not a read of their
    /// postings); `None` when there are more than `MAX_EXPANSIONS` (the word is then matched
    /// by its term range).
    async fn expand(&self, conn: &mut SqliteConnection, word: &str) -> Result<Option<Vec<String>>> {
        let (lo, hi) = term_range(word);
        let terms: Vec<String> = sqlx::query_scalar(
            "WITH RECURSIVE t (term, n) AS (
               SELECT (SELECT term FROM terms WHERE term >= ?1 AND term < ?2
                       ORDER BY term LIMIT 1), 1
               UNION ALL
               SELECT (SELECT x.term FROM terms x WHERE x.term > t.term AND x.term < ?2
                       ORDER BY x.term LIMIT 1), n + 1
               FROM t WHERE t.term IS NOT NULL AND n <= ?3
             ) SELECT term FROM t WHERE term IS NOT NULL",
        )
        .bind(lo)
        .bind(hi)
        .bind(MAX_EXPANSIONS as i64)
        .fetch_all(&mut *conn)
        .await
        .map_err(self.err())?;
        Ok((terms.len() <= MAX_EXPANSIONS).then_some(terms))
    }

    /// The staged entries (`terms_staged`) that match every word of a search and pass
    /// `filter`, scored as a folded entry would be: per word, `word_score` of the weight of
    /// the entry's heaviest term the word starts. `rids` lists every staged row: their rows
    /// in `terms` are stale and searches skip them.
    async fn staged_matches(
        &self,
        conn: &mut SqliteConnection,
        words: &[String],
        filter: &Filter,
    ) -> Result<Staged> {
        let rows: Vec<(i64, Option<i64>, String)> =
            sqlx::query_as("SELECT rid, handle, terms FROM terms_staged")
                .fetch_all(&mut *conn)
                .await
                .map_err(self.err())?;
        let mut out = Staged {
            any: !rows.is_empty(),
            matches: Vec::new(),
        };
        let mut best = vec![0.0f64; words.len()];
        'rows: for (rid, handle, terms) in &rows {
            let Some(handle) = handle else { continue };
            best.iter_mut().for_each(|b| *b = f64::NAN);
            for pair in staged_terms(terms) {
                let (term, weight) = match pair {
                    Ok(p) => p,
                    Err(_) => {
                        self.decode_terms(terms)?;
                        continue 'rows;
                    }
                };
                for (b, w) in best.iter_mut().zip(words) {
                    if term.starts_with(w.as_str()) && (b.is_nan() || weight > *b) {
                        *b = weight;
                    }
                }
            }
            if best.iter().any(|b| b.is_nan()) {
                continue;
            }
            let score = best.iter().map(|w| word_score(*w)).sum();
            out.matches.push(Match {
                handle: *handle,
                rid: *rid,
                score,
            });
        }
        if filter != &Filter::default() && !out.matches.is_empty() {
            let mut keep = std::collections::HashSet::new();
            for chunk in out.matches.chunks(500) {
                let mut qb =
                    QueryBuilder::<Sqlite>::new("SELECT e.rid FROM entries e WHERE e.rid IN (");
                let mut sep = qb.separated(", ");
                for m in chunk {
                    sep.push_bind(m.rid);
                }
                qb.push(")");
                push_filter(&mut qb, filter);
                let rids: Vec<i64> = qb
                    .build_query_scalar()
                    .fetch_all(&mut *conn)
                    .await
                    .map_err(self.err())?;
                keep.extend(rids);
            }
            out.matches.retain(|m| keep.contains(&m.rid));
        }
        // Newest first, as the window query returns folded matches.
        out.matches
            .sort_by(|a, b| b.handle.cmp(&a.handle).then(b.rid.cmp(&a.rid)));
        Ok(out)
    }

    /// The newest `want` matches of a search (by handle), each with its score. A window of
    /// the newest `4 × want` handles is searched first and widened eightfold until it holds
    /// `want` matches or covers every entry: a word in most entries is answered from the first
    /// window, a rare one from a few postings, and neither reads every match. Staged entries
    /// in the window join the folded ones.
    async fn newest_matches(
        &self,
        conn: &mut SqliteConnection,
        src: &Sources<'_>,
        want: usize,
    ) -> Result<Vec<Match>> {
        let top: Option<i64> = sqlx::query_scalar("SELECT MAX(handle) FROM entries")
            .fetch_one(&mut *conn)
            .await
            .map_err(self.err())?;
        let top = top.unwrap_or(0);
        let mut span = sql_limit(want).saturating_mul(4);
        loop {
            let lower = top.saturating_sub(span);
            let mut matches = Vec::new();
            if src.folded {
                let mut qb = QueryBuilder::<Sqlite>::new("");
                push_window_matches(&mut qb, src, (lower > 0).then_some(lower), Some(want));
                let rows = qb.build().fetch_all(&mut *conn).await.map_err(self.err())?;
                matches = rows
                    .iter()
                    .map(|r| match_from_row(r, src.words.len()))
                    .collect::<Result<Vec<_>>>()?;
            }
            if !src.staged.matches.is_empty() {
                matches.extend(
                    src.staged
                        .matches
                        .iter()
                        .filter(|m| lower <= 0 || m.handle > lower),
                );
                matches.sort_by(|a, b| b.handle.cmp(&a.handle).then(b.rid.cmp(&a.rid)));
                matches.truncate(want);
            }
            if matches.len() >= want || lower <= 0 {
                return Ok(matches);
            }
            span = span.saturating_mul(8);
        }
    }

    /// Every match of a search, streamed (never all in memory at once): the best `keep` by
    /// rank.
    async fn best_matches(
        &self,
        conn: &mut SqliteConnection,
        src: &Sources<'_>,
        keep: usize,
    ) -> Result<Vec<Match>> {
        use futures::TryStreamExt;
        // A max-heap in rank order: its top is the worst match kept.
        let mut best = std::collections::BinaryHeap::new();
        let mut offer = |m: Match| {
            if best.len() < keep {
                best.push(m);
            } else if best.peek().is_some_and(|worst: &Match| m < *worst) {
                best.pop();
                best.push(m);
            }
        };
        src.staged.matches.iter().copied().for_each(&mut offer);
        if src.folded {
            let mut qb = QueryBuilder::<Sqlite>::new("");
            push_window_matches(&mut qb, src, None, None);
            let mut rows = qb.build().fetch(&mut *conn);
            while let Some(row) = rows.try_next().await.map_err(self.err())? {
                offer(match_from_row(&row, src.words.len())?);
            }
        }
        Ok(best.into_vec())
    }

    /// The search hits of a page of `(rowid, score)`, in that order, with their snippets.
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
            .filter_map(|(rid, score)| {
                found.remove(rid).map(|(entry, snippet)| SearchHit {
                    entry,
                    score: *score,
                    snippet,
                })
            })
            .collect())
    }

    /// Statistics without reading every entry (docs/performance.md, "Statistics from kept
    /// counts"): the counts of `entry_counts` (migration 0014, kept by triggers in the
    /// transaction of every write) when the filter is about the counted values only, else one
    /// grouped count over the matching entries; then the median completion time as the one
    /// or two middle rows of the `entries_done_ms` index. Both reads see one snapshot.
    pub async fn stats(&self, f: &Filter) -> Result<Stats> {
        let mut tx = self.pool.begin().await.map_err(self.err())?;
        let from_counts = counts_answer(f);
        let mut qb = QueryBuilder::<Sqlite>::new(if from_counts {
            "SELECT e.status, e.type, e.priority, e.assignee, e.n, e.done_n, e.done_ms
             FROM entry_counts e WHERE e.n > 0"
        } else {
            "SELECT e.status, e.type, e.priority, e.assignee, COUNT(*) AS n,
                    COUNT(e.done_ms) AS done_n, IFNULL(SUM(e.done_ms), 0) AS done_ms
             FROM entries e WHERE 1=1"
        });
        push_filter(&mut qb, f);
        if !from_counts {
            qb.push(" GROUP BY e.status, e.type, e.priority, e.assignee");
        }
        let rows = qb.build().fetch_all(&mut *tx).await.map_err(self.err())?;
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
            let int = |c: &str| -> Result<u64> {
                let v: i64 = r.try_get(c).map_err(self.err())?;
                Ok(v.max(0) as u64)
            };
            b.add(status, kind, priority, assignee.as_deref(), int("n")?);
            b.completions(int("done_n")?, r.try_get("done_ms").map_err(self.err())?);
        }
        if let Some((offset, limit)) = median_window(b.completed()) {
            let mut qb = QueryBuilder::<Sqlite>::new(
                "SELECT e.done_ms FROM entries e WHERE e.done_ms IS NOT NULL",
            );
            push_filter(&mut qb, f);
            qb.push(" ORDER BY e.done_ms LIMIT ")
                .push_bind(limit as i64)
                .push(" OFFSET ")
                .push_bind(i64::try_from(offset).unwrap_or(i64::MAX));
            let middle: Vec<i64> = qb
                .build_query_scalar()
                .fetch_all(&mut *tx)
                .await
                .map_err(self.err())?;
            b.median_of(&middle);
        }
        tx.commit().await.map_err(self.err())?;
        Ok(b.finish())
    }

    /// Tag counts (`Store::tag_counts`) grouped in SQL, in one statement: a row per tag of
    /// the matching entries (`json_each` over the `tags` array), then the number without any
    /// (tag NULL). Reads the matching rows' `tags` column, never their documents.
    pub async fn tag_counts(&self, f: &Filter) -> Result<BTreeMap<String, u64>> {
        let mut qb = QueryBuilder::<Sqlite>::new(
            "SELECT t.value AS tag, COUNT(*) AS n FROM entries e, json_each(e.tags) t WHERE 1=1",
        );
        push_filter(&mut qb, f);
        qb.push(
            " GROUP BY t.value UNION ALL \
             SELECT NULL, COUNT(*) FROM entries e WHERE json_array_length(e.tags) = 0",
        );
        push_filter(&mut qb, f);
        let rows: Vec<(Option<String>, i64)> = qb
            .build_query_as()
            .fetch_all(&self.pool)
            .await
            .map_err(self.err())?;
        let mut out = BTreeMap::new();
        for (t, n) in rows {
            if n > 0 {
                *out.entry(t.unwrap_or_else(|| NO_TAG.to_string()))
                    .or_default() += n as u64;
            }
        }
        Ok(out)
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
        SortKey::Due => format!("e.due_date IS NULL, e.due_date {dir}"),
    }
}

const SUMMARY_COLS: &str = "e.id, e.handle, e.key, e.legacy_id, e.title, e.type, e.status, e.priority, \
                            e.assignee, e.tags, e.created_at, e.updated_at, e.closed_at, \
                            e.due_date, e.milestone";

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
    if let Some(d) = f.due_before {
        qb.push(" AND e.due_date < ").push_bind(d.to_string());
    }
    if let Some(m) = &f.milestone {
        qb.push(" AND e.milestone = ").push_bind(m.clone());
    }
    if let Some(h) = f.handle_after {
        qb.push(" AND e.handle > ").push_bind(h as i64);
    }
}

/// Word index rows written per statement (4 parameters each).
const TERM_CHUNK: usize = 200;

/// A `terms_staged` row: `rid`, `handle`, `terms`, `folded_handle`, `folded`.
type StagedRow = (i64, Option<i64>, String, Option<i64>, Option<String>);

/// Staged entries (`terms_staged`) at which a write folds them into `terms`. Every search
/// reads every staged row (about 0.5 KB each), and a fold writes each distinct word of the
/// batch once: 128 keeps the first small and makes words shared by many entries cheap.
pub(crate) const FOLD_AT: usize = 128;

/// How long a long-running devlog must have written nothing before it folds the staged rows
/// ([`SqlIndex::fold_when_idle`]).
const IDLE_FOLD: Duration = Duration::from_secs(5);

/// An entry's word index rows as one `terms_staged` value: `term TAB weight` lines (weights
/// printed so they parse back exactly). Terms are runs of letters and digits (`terms`), never
/// a tab or a newline.
fn encode_terms(terms: &[(String, f64)]) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(terms.len() * 12);
    for (t, w) in terms {
        let _ = writeln!(out, "{t}\t{w}");
    }
    out
}

/// The `(term, weight)` pairs of a `terms_staged` value (see [`encode_terms`]); a line that
/// does not parse is the error.
fn staged_terms(text: &str) -> impl Iterator<Item = std::result::Result<(&str, f64), &str>> {
    text.lines().map(|line| {
        line.split_once('\t')
            .and_then(|(t, w)| Some((t, w.parse::<f64>().ok()?)))
            .ok_or(line)
    })
}

/// The word index rows an entry row has before a write.
enum StoredTerms {
    /// None (a new row, or one still queued in `terms_pending`).
    None,
    /// Those of its stored document, at its stored handle.
    Rows {
        handle: i64,
        terms: Vec<(String, f64)>,
    },
    /// Not known (the stored document does not decode): found by a scan.
    Unknown,
}

/// What a search reads its matches from: the folded word index (`terms`, unless a word has
/// no folded term) and the staged entries.
struct Sources<'a> {
    words: &'a [WordTerms],
    filter: &'a Filter,
    /// Whether every word has a folded term (else no folded entry can match).
    folded: bool,
    staged: &'a Staged,
}

/// The staged entries a search matched ([`SqlIndex::staged_matches`]).
struct Staged {
    /// Whether any row is staged (their `terms` rows are then skipped).
    any: bool,
    /// Those that match the search and its filter, newest first.
    matches: Vec<Match>,
}

/// One word of a search and the indexed terms it matches.
struct WordTerms {
    word: String,
    /// The terms that start with `word`, or `None` when there are too many to list.
    terms: Option<Vec<String>>,
}

/// A search match: the entry row, its handle and its score.
#[derive(Debug, Clone, Copy)]
struct Match {
    handle: i64,
    rid: i64,
    score: f64,
}

impl Match {
    /// Search order: higher score first, then the lower handle (as on the servers), then the
    /// older row (two rows share a handle only until the JSON backend repairs it).
    fn rank(a: &Self, b: &Self) -> std::cmp::Ordering {
        b.score
            .total_cmp(&a.score)
            .then(a.handle.cmp(&b.handle))
            .then(a.rid.cmp(&b.rid))
    }
}

impl PartialEq for Match {
    fn eq(&self, other: &Self) -> bool {
        Match::rank(self, other).is_eq()
    }
}

impl Eq for Match {}

impl PartialOrd for Match {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// Rank order: a "smaller" match ranks higher.
impl Ord for Match {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        Match::rank(self, other)
    }
}

/// A row of [`push_window_matches`]' query as a match: its score adds up `word_score` of
/// each word's weight (`s{i}`, from the third column on).
fn match_from_row(r: &SqliteRow, words: usize) -> Result<Match> {
    let bad = |e: sqlx::Error| StoreError::Corrupt {
        path: "index".into(),
        message: format!("bad search index row: {e}"),
        hint: "rebuild the index with `devlog reindex`".into(),
    };
    let mut score = 0.0;
    for i in 0..words {
        let w: Option<f64> = r.try_get(i + 2).map_err(bad)?;
        score += word_score(w.unwrap_or(0.0));
    }
    Ok(Match {
        handle: r.try_get(0).map_err(bad)?,
        rid: r.try_get(1).map_err(bad)?,
        score,
    })
}

/// `AND <col> ...` matching the terms of `w`.
fn push_terms(qb: &mut QueryBuilder<Sqlite>, col: &str, w: &WordTerms) {
    match &w.terms {
        Some(terms) if terms.len() == 1 => {
            qb.push(format_args!(" AND {col} = "))
                .push_bind(terms[0].clone());
        }
        Some(terms) => {
            qb.push(format_args!(" AND {col} IN ("));
            let mut sep = qb.separated(", ");
            for t in terms {
                sep.push_bind(t.clone());
            }
            qb.push(")");
        }
        None => {
            let (lo, hi) = term_range(&w.word);
            qb.push(format_args!(" AND {col} >= "))
                .push_bind(lo)
                .push(format_args!(" AND {col} < "))
                .push_bind(hi);
        }
    }
}

/// The query for the newest `want` matches (all of them when `None`) with handles above
/// `lower` (every handle when `None`), newest first: columns `handle`, `rid` and, per word
/// `i`, `s{i}`, the weight of the entry's heaviest term that word matches.
///
/// The postings of one word (the driver: a word with too many terms to list if there is one,
/// else a single-term word if there is one, the longest such, likely the rarest) are read
/// backwards on the key (`term`, `handle`, `rid`), so rows
/// come out newest first without a sort and the `LIMIT` ends the scan; every other word is a
/// key lookup per row (`term = ? AND handle = d.handle AND rid = d.rid`, one per term). A
/// driver with several terms is grouped by entry, which sorts the window's postings (bounded
/// by the window; SQLite's sorter spills to disk beyond its cache).
fn push_window_matches(
    qb: &mut QueryBuilder<Sqlite>,
    src: &Sources<'_>,
    lower: Option<i64>,
    want: Option<usize>,
) {
    let (words, filter) = (src.words, src.filter);
    let single = |w: &WordTerms| w.terms.as_ref().is_some_and(|t| t.len() == 1);
    // A word with too many terms to list drives: as a lookup per row it would read its whole
    // term range for every row.
    let rank = |w: &WordTerms| (w.terms.is_none(), single(w), w.word.chars().count());
    let driver = (0..words.len())
        .rev()
        .max_by_key(|&i| rank(&words[i]))
        .unwrap_or(0);
    let grouped = !single(&words[driver]);
    qb.push("SELECT * FROM (SELECT d.handle, d.rid");
    for (i, w) in words.iter().enumerate() {
        if i == driver {
            if grouped {
                qb.push(format_args!(", MAX(d.weight) AS s{i}"));
            } else {
                qb.push(format_args!(", d.weight AS s{i}"));
            }
        } else {
            qb.push(
                ", (SELECT MAX(t.weight) FROM terms t WHERE t.handle = d.handle \
                 AND t.rid = d.rid",
            );
            push_terms(qb, "t.term", w);
            qb.push(format_args!(") AS s{i}"));
        }
    }
    qb.push(" FROM terms d");
    if filter != &Filter::default() {
        qb.push(" CROSS JOIN entries e ON e.rid = d.rid");
    }
    qb.push(" WHERE 1=1");
    push_terms(qb, "d.term", &words[driver]);
    if let Some(l) = lower {
        qb.push(" AND d.handle > ").push_bind(l);
    }
    if src.staged.any {
        // Their rows in `terms` are stale: staged entries are matched from `terms_staged`.
        qb.push(" AND d.rid NOT IN (SELECT rid FROM terms_staged)");
    }
    push_filter(qb, filter);
    if grouped {
        qb.push(" GROUP BY d.handle, d.rid");
    }
    qb.push(" ORDER BY d.handle DESC, d.rid DESC) WHERE 1=1");
    for i in (0..words.len()).filter(|&i| i != driver) {
        qb.push(format_args!(" AND s{i} IS NOT NULL"));
    }
    if let Some(n) = want {
        qb.push(" LIMIT ").push_bind(sql_limit(n));
    }
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
        due_date: r
            .try_get::<Option<String>, _>("due_date")
            .map_err(|e| bad("due_date", e.to_string()))?
            .map(|d| d.parse())
            .transpose()
            .map_err(|e: chrono::ParseError| bad("due_date", e.to_string()))?,
        milestone: r
            .try_get("milestone")
            .map_err(|e| bad("milestone", e.to_string()))?,
    })
}

/// Whether `Store::stats` can answer `f` from the kept counts (`entry_counts`,
/// `devlog_entry_counts`): a filter on status, type, priority, assignee and open work only.
/// Tags, dates, due dates and milestones are not counted, so such a filter groups the
/// matching entries instead.
pub(crate) fn counts_answer(f: &Filter) -> bool {
    // Every field named, so a new filter field must be decided on here.
    let Filter {
        status: _,
        kind: _,
        priority: _,
        assignee: _,
        open_only: _,
        tag,
        created_after,
        created_before,
        updated_after,
        updated_before,
        due_before,
        milestone,
        handle_after,
    } = f;
    tag.is_none()
        && handle_after.is_none()
        && created_after.is_none()
        && created_before.is_none()
        && updated_after.is_none()
        && updated_before.is_none()
        && due_before.is_none()
        && milestone.is_none()
}

/// The `(offset, limit)` of the one or two middle spans among `n` sorted ones.
pub(crate) fn median_window(n: u64) -> Option<(u64, u64)> {
    match n {
        0 => None,
        n if n.is_multiple_of(2) => Some((n / 2 - 1, 2)),
        n => Some((n / 2, 1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Index pools follow the runtime: 2 connections on the current thread or one worker
    /// (stdio `devlog mcp`, short commands), 4 with several workers.
    #[test]
    fn index_pools_follow_the_runtime() {
        let size = |rt: tokio::runtime::Runtime| rt.block_on(async { index_connections() });
        let current = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        assert_eq!(size(current), 2);
        let one = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .unwrap();
        assert_eq!(size(one), 2);
        let two = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        assert_eq!(size(two), 4);
        assert_eq!(index_connections(), 2, "outside a runtime");
    }

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

    /// A list of one status in its default order (most recently updated first) walks
    /// `entries_status_updated` instead of sorting every entry of that status
    /// (docs/performance.md, "The status-filtered list").
    #[tokio::test]
    async fn a_status_filtered_list_reads_an_index_without_sorting() {
        let index = SqlIndex::open_in_memory("sqlite").await.unwrap();
        let blocked = Filter {
            status: vec![Status::Blocked],
            ..Filter::default()
        };
        let plan = list_plan(&index, &blocked, SortKey::Updated).await;
        assert!(
            plan.iter().any(|d| d.contains("entries_status_updated")),
            "{plan:?}"
        );
        assert!(!plan.iter().any(|d| d.contains("TEMP B-TREE")), "{plan:?}");
    }

    /// Issue 15: the status-filtered lists are identical with and without
    /// `entries_status_updated` (migration `sqlite/0017`) on a generated store, one status or
    /// two, either order, paged, sorted by update time or priority.
    #[tokio::test]
    async fn status_filtered_lists_are_the_same_without_the_status_index() {
        let entries = generated(600);
        let index = SqlIndex::open_in_memory("sqlite").await.unwrap();
        let mut tx = index.begin_write().await.unwrap();
        for e in &entries {
            index.upsert(&mut tx, e, None).await.unwrap();
        }
        tx.commit().await.unwrap();
        let mut queries = Vec::new();
        for status in Status::ALL
            .iter()
            .map(|s| vec![*s])
            .chain([vec![Status::Blocked, Status::InProgress]])
        {
            for (sort, ascending, offset) in [
                (SortKey::Updated, false, 0),
                (SortKey::Updated, false, 40),
                (SortKey::Updated, true, 5),
                (SortKey::Priority, false, 0),
            ] {
                queries.push(ListQuery {
                    filter: Filter {
                        status: status.clone(),
                        ..Filter::default()
                    },
                    sort,
                    ascending,
                    offset,
                    limit: 25,
                });
            }
        }
        let mut with = Vec::new();
        for q in &queries {
            with.push(index.list(q).await.unwrap());
        }
        sqlx::query("DROP INDEX entries_status_updated")
            .execute(index.pool())
            .await
            .unwrap();
        let plan = list_plan(&index, &queries[0].filter, SortKey::Updated).await;
        assert!(plan.iter().any(|d| d.contains("TEMP B-TREE")), "{plan:?}");
        for (q, with) in queries.iter().zip(with) {
            let without = index.list(q).await.unwrap();
            assert!(!with.items.is_empty(), "{q:?}");
            assert_eq!(with.items, without.items, "{q:?}");
            assert_eq!(with.total, without.total, "{q:?}");
        }
    }

    /// Whole-store statistics read the kept counts and the middle of the completion-span
    /// index: no scan of `entries`, no sort (docs/performance.md, "Statistics from kept
    /// counts").
    #[tokio::test]
    async fn stats_read_counts_and_an_index_without_scanning_entries() {
        let index = SqlIndex::open_in_memory("sqlite").await.unwrap();
        let plan = |sql: &'static str| {
            let pool = index.pool.clone();
            async move {
                let rows = sqlx::query(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}")))
                    .fetch_all(&pool)
                    .await
                    .unwrap();
                rows.iter()
                    .map(|r| r.get::<String, _>("detail"))
                    .collect::<Vec<_>>()
            }
        };
        let counts = plan(
            "SELECT e.status, e.type, e.priority, e.assignee, e.n, e.done_n, e.done_ms
             FROM entry_counts e WHERE e.n > 0",
        )
        .await;
        assert!(counts.iter().all(|d| !d.contains("entries ")), "{counts:?}");
        let median = plan(
            "SELECT e.done_ms FROM entries e WHERE e.done_ms IS NOT NULL
             ORDER BY e.done_ms LIMIT 2 OFFSET 10",
        )
        .await;
        assert!(
            median
                .iter()
                .any(|d| d.contains("COVERING INDEX entries_done_ms")),
            "{median:?}"
        );
        assert!(
            !median.iter().any(|d| d.contains("TEMP B-TREE")),
            "{median:?}"
        );
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

    /// The reference search, computed from the entries alone with the shared tokenizer (no
    /// SQL): an entry matches when every query word starts one of its terms; its score adds
    /// up `word_score` of each word's heaviest such term; the newest `cap + 1` matches (by
    /// handle) give the total, the newest `cap` are ranked (all of them for a page past the
    /// cap). Returns (handle, score) per hit, the total and whether it is a lower bound.
    fn reference_search(entries: &[Indexed], q: &SearchQuery) -> (Vec<(u64, f64)>, u64, bool) {
        let words = search_words(&q.text);
        if words.is_empty() {
            return (Vec::new(), 0, false);
        }
        let mut matches: Vec<(u64, f64)> = entries
            .iter()
            .filter(|(e, _)| q.filter.matches(e))
            .filter_map(|(e, terms)| {
                let mut score = 0.0;
                for w in &words {
                    let best = terms
                        .iter()
                        .filter(|(t, _)| t.starts_with(w.as_str()))
                        .map(|(_, weight)| *weight)
                        .reduce(f64::max)?;
                    score += word_score(best);
                }
                Some((e.handle, score))
            })
            .collect();
        matches.sort_by_key(|m| std::cmp::Reverse(m.0));
        let cap = count_cap(q.offset, q.limit);
        let estimate = matches.len() > cap;
        let total = matches.len().min(cap) as u64;
        if estimate && cap == TOTAL_CAP {
            matches.truncate(cap);
        }
        matches.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let page = matches.into_iter().skip(q.offset).take(q.limit).collect();
        (page, total, estimate)
    }

    /// An entry's summary and its word index rows, for [`reference_search`].
    type Indexed = (EntrySummary, Vec<(String, f64)>);

    fn indexed(entries: &[Entry]) -> Vec<Indexed> {
        entries
            .iter()
            .map(|e| (e.summary(), index_terms(&e.search_text())))
            .collect()
    }

    /// (handle, score) per hit, the total and whether it is a lower bound.
    async fn searched(index: &SqlIndex, q: &SearchQuery) -> (Vec<(u64, f64)>, u64, bool) {
        let page = index.search(q).await.unwrap();
        assert!(
            page.items.iter().all(|h| h.snippet.contains('[')),
            "{q:?}: {:?}",
            page.items.first()
        );
        let hits = page
            .items
            .iter()
            .map(|h| (h.entry.handle, h.score))
            .collect();
        (hits, page.total, page.total_is_estimate)
    }

    fn searches() -> Vec<SearchQuery> {
        let open = Filter {
            open_only: true,
            ..Filter::default()
        };
        let mut out = Vec::new();
        // Words in every entry and in a few; several words; a prefix with a few terms
        // (`t`: the, timeout, token) and one with too many to list (`1`: the titles'
        // numbers, 312 terms), alone and with other words; accents folded.
        for text in [
            "the",
            "kubernetes pod",
            "time",
            "t",
            "cafe",
            "webhook signature expires",
            "ui",
            "1",
            "1 kubernetes",
            "kubernetes 11",
            "Café THE",
            "zzz",
        ] {
            for (offset, limit) in [(0, 20), (20, 20), (990, 20), (0, 0), (0, 1300)] {
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

    /// Writes `e` the way a devlog before the word index did (schema version 5: the row, and
    /// FTS5 with its own copy of the text), documents as JSON text.
    async fn legacy_insert(pool: &SqlitePool, e: &Entry) {
        let rid: i64 = sqlx::query_scalar(
            "INSERT INTO entries (id, id_hex, handle, key, legacy_id, title, title_norm, type,
               status, status_rank, priority, priority_rank, assignee, tags, created_at,
               updated_at, closed_at, doc)
             VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) RETURNING rid",
        )
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
        .bind(serde_json::to_string(&e.tags).unwrap())
        .bind(e.created_at.millis())
        .bind(e.updated_at.millis())
        .bind(e.closed_at.map(|t| t.millis()))
        .bind(serde_json::to_string(e).unwrap())
        .fetch_one(pool)
        .await
        .unwrap();
        let t = e.search_text();
        sqlx::query(
            "INSERT INTO entries_fts (rowid, title, description, notes, context) VALUES (?,?,?,?,?)",
        )
        .bind(rid)
        .bind(t.title)
        .bind(t.description)
        .bind(t.notes)
        .bind(t.context)
        .execute(pool)
        .await
        .unwrap();
    }

    /// Migration 0007 fills the planning columns of rows written before it from their JSON
    /// documents (the SQLite backend), so due-date and milestone filters see old entries.
    #[tokio::test]
    async fn the_planning_migration_fills_its_columns_from_the_documents() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("devlog.sqlite");
        let mut dated = generated(3);
        dated[0].due_date = Some("2026-03-01".parse().unwrap());
        dated[0].milestone = Some("v1".into());
        {
            let opts = SqliteConnectOptions::new()
                .filename(&path)
                .create_if_missing(true);
            let pool = SqlitePoolOptions::new().connect_with(opts).await.unwrap();
            MIGRATOR.run_to(5, &pool).await.unwrap();
            // Rows as a database before migration 0007 holds them.
            for e in &dated {
                legacy_insert(&pool, e).await;
            }
            pool.close().await;
        }
        let index = SqlIndex::open(&path, "sqlite", true).await.unwrap();
        let q = |filter: Filter| ListQuery {
            filter,
            ..ListQuery::default()
        };
        let due = index
            .list(&q(Filter {
                due_before: Some("2026-04-01".parse().unwrap()),
                ..Filter::default()
            }))
            .await
            .unwrap();
        assert_eq!(due.total, 1);
        assert_eq!(due.items[0].due_date, dated[0].due_date);
        let in_v1 = index
            .list(&q(Filter {
                milestone: Some("v1".into()),
                ..Filter::default()
            }))
            .await
            .unwrap();
        assert_eq!(in_v1.items[0].id, dated[0].id);
        assert_eq!(index.milestones().await.unwrap(), Vec::new());
    }

    /// Folds the staged rows, then checks that the word index holds exactly `index_terms` of
    /// each stored document, at its row and handle, and that nothing is left queued.
    async fn check_terms(index: &SqlIndex) {
        index.fold_staged().await.unwrap();
        let staged: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM terms_staged")
            .fetch_one(index.pool())
            .await
            .unwrap();
        assert_eq!(staged, 0);
        let mut want: Vec<(String, i64, i64, f64)> = Vec::new();
        let rows: Vec<(i64, i64, Vec<u8>)> = sqlx::query_as("SELECT rid, handle, doc FROM entries")
            .fetch_all(index.pool())
            .await
            .unwrap();
        for (rid, handle, doc) in rows {
            let e = index.decode_doc(&doc).unwrap();
            assert_eq!(e.handle as i64, handle);
            for (t, w) in index_terms(&e.search_text()) {
                want.push((t, handle, rid, w));
            }
        }
        want.sort_by(|a, b| (&a.0, a.1, a.2).cmp(&(&b.0, b.1, b.2)));
        let got: Vec<(String, i64, i64, f64)> = sqlx::query_as(
            "SELECT term, handle, rid, weight FROM terms ORDER BY term, handle, rid",
        )
        .fetch_all(index.pool())
        .await
        .unwrap();
        assert_eq!(got.len(), want.len());
        assert!(got == want, "the word index differs from the documents");
        let queued: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM terms_pending")
            .fetch_one(index.pool())
            .await
            .unwrap();
        assert_eq!(queued, 0);
    }

    /// Search ranks what the reference computed from the entries ranks, hit for hit and score
    /// for score: below and above the 1,000-match cap, filtered, paged past the cap, prefixes
    /// with one, a few and too many terms to list.
    #[tokio::test]
    async fn search_matches_a_reference_computed_from_the_entries() {
        let entries = generated(1_200);
        let index = SqlIndex::open_in_memory("sqlite").await.unwrap();
        let mut tx = index.begin_write().await.unwrap();
        for e in &entries {
            index.upsert(&mut tx, e, None).await.unwrap();
        }
        tx.commit().await.unwrap();
        check_terms(&index).await;
        let reference = indexed(&entries);
        let mut estimates = 0;
        for q in searches() {
            let want = reference_search(&reference, &q);
            estimates += usize::from(want.2);
            assert_eq!(searched(&index, &q).await, want, "{q:?}");
        }
        assert!(estimates > 0);
    }

    /// Issue 15, target 6: writes stage their words (`terms_staged`) and searches read the
    /// staged rows beside the folded ones. With new, updated (new words, fewer words),
    /// renumbered and deleted entries staged over folded ones, and a removed row's `rid`
    /// reused by a new entry, every search equals the reference computed from the entries,
    /// and stays identical, hit for hit, once everything is folded.
    #[tokio::test]
    async fn search_is_the_same_with_words_staged_or_folded() {
        let mut entries = generated(1_200);
        let mut index = SqlIndex::open_in_memory("sqlite").await.unwrap();
        index.fold_at = usize::MAX;
        let mut tx = index.begin_write().await.unwrap();
        for e in &entries[..700] {
            index.upsert(&mut tx, e, None).await.unwrap();
        }
        tx.commit().await.unwrap();
        assert_eq!(index.fold_staged().await.unwrap(), 700);
        let mut tx = index.begin_write().await.unwrap();
        for (i, e) in entries.iter_mut().enumerate().take(700).step_by(7) {
            if i % 2 == 0 {
                e.notes.push(devlog_core::entry::Note {
                    id: format!("n{i}"),
                    timestamp: e.updated_at,
                    category: devlog_core::entry::NoteCategory::Progress,
                    content: "Zebra kubernetes timeouts quietly".into(),
                    files: Vec::new(),
                    code_changes: None,
                    extra: devlog_core::entry::Extra::new(),
                });
            } else {
                e.description = "Short.".into();
            }
            if i % 3 == 0 {
                e.handle += 10_000;
            }
            index.upsert(&mut tx, e, None).await.unwrap();
        }
        // Updated twice while staged: the stale rows to delete stay those of the fold.
        entries[14].title = "Zebra twice".into();
        index.upsert(&mut tx, &entries[14], None).await.unwrap();
        // Removed, folded rows; the newest (699) gives its rid to the next insert (SQLite
        // reuses the largest rowid once it is gone), whose stale rows must not match.
        let mut removed = Vec::new();
        for i in (3..700).step_by(11).chain([699]) {
            assert!(index.remove(&mut tx, entries[i].id).await.unwrap());
            removed.push(entries[i].id);
        }
        for e in &entries[700..] {
            index.upsert(&mut tx, e, None).await.unwrap();
        }
        // Removed while staged; the newest row's rid again reused.
        for i in [1_199, 1_150] {
            assert!(index.remove(&mut tx, entries[i].id).await.unwrap());
            removed.push(entries[i].id);
        }
        let mut reborn = generated(1_201).pop().unwrap();
        reborn.title = "Zebra reborn".into();
        index.upsert(&mut tx, &reborn, None).await.unwrap();
        tx.commit().await.unwrap();
        entries.retain(|e| !removed.contains(&e.id));
        entries.push(reborn);
        let staged: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM terms_staged")
            .fetch_one(index.pool())
            .await
            .unwrap();
        assert!(staged > 500, "{staged}");
        let reference = indexed(&entries);
        let mut queries = searches();
        for text in ["zebra", "zebra kube", "short", "quiet"] {
            queries.push(SearchQuery {
                text: text.into(),
                limit: 50,
                ..SearchQuery::default()
            });
        }
        let mut staged_answers = Vec::new();
        for q in &queries {
            let got = searched(&index, q).await;
            assert_eq!(got, reference_search(&reference, q), "staged: {q:?}");
            staged_answers.push(got);
        }
        assert!(staged_answers.iter().any(|a| a.1 > 0));
        check_terms(&index).await;
        for (q, staged) in queries.iter().zip(&staged_answers) {
            assert_eq!(&searched(&index, q).await, staged, "folded: {q:?}");
        }
    }

    /// A write folds the staged rows when `fold_at` are staged, in its own transaction: a
    /// store written entry by entry keeps fewer than that staged.
    #[tokio::test]
    async fn writes_fold_the_staged_words_at_the_threshold() {
        let entries = generated(300);
        let mut index = SqlIndex::open_in_memory("sqlite").await.unwrap();
        index.fold_at = 64;
        for e in &entries {
            let mut tx = index.begin_write().await.unwrap();
            index.upsert(&mut tx, e, None).await.unwrap();
            tx.commit().await.unwrap();
            let staged: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM terms_staged")
                .fetch_one(index.pool())
                .await
                .unwrap();
            assert!(staged < 64, "{staged}");
        }
        let folded: i64 = sqlx::query_scalar("SELECT COUNT(DISTINCT rid) FROM terms")
            .fetch_one(index.pool())
            .await
            .unwrap();
        assert_eq!(folded, 256, "four folds of 64");
        check_terms(&index).await;
    }

    /// A long-running process folds the staged rows once it has been quiet for a while.
    #[tokio::test]
    async fn an_idle_process_folds_the_staged_words() {
        let mut index = SqlIndex::open_in_memory("sqlite").await.unwrap();
        index.fold_at = usize::MAX;
        let staged = async |index: &SqlIndex| -> i64 {
            sqlx::query_scalar("SELECT COUNT(*) FROM terms_staged")
                .fetch_one(index.pool())
                .await
                .unwrap()
        };
        let mut tx = index.begin_write().await.unwrap();
        for e in generated(20) {
            index.upsert(&mut tx, &e, None).await.unwrap();
        }
        tx.commit().await.unwrap();
        assert_eq!(staged(&index).await, 20);
        index.fold_when_idle_for(Duration::from_millis(50));
        let started = std::time::Instant::now();
        while staged(&index).await > 0 {
            assert!(started.elapsed() < Duration::from_secs(20), "never folded");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        check_terms(&index).await;
    }

    /// Issue 15 ("How it is shown"): an index made by the old schema (FTS5 with a copy of the
    /// text, documents as JSON text) opens with the new one, which builds the word index from
    /// the documents; every search, total and active context is then identical to those of an
    /// index written entry by entry with the word index (and to the reference), and the JSON
    /// index's documents are compressed.
    #[tokio::test]
    async fn an_old_index_migrates_and_searches_like_a_new_one() {
        let entries = generated(1_200);
        let fresh = SqlIndex::open_in_memory("sqlite").await.unwrap();
        let mut tx = fresh.begin_write().await.unwrap();
        for e in &entries {
            fresh.upsert(&mut tx, e, None).await.unwrap();
        }
        tx.commit().await.unwrap();
        let reference = indexed(&entries);
        let mut expected = Vec::new();
        for q in searches() {
            let want = searched(&fresh, &q).await;
            assert_eq!(reference_search(&reference, &q), want, "{q:?}");
            expected.push(want);
        }
        for backend in ["sqlite", "json"] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("index.sqlite");
            let context_before = {
                let opts = SqliteConnectOptions::new()
                    .filename(&path)
                    .create_if_missing(true);
                let pool = SqlitePoolOptions::new().connect_with(opts).await.unwrap();
                enable_wal(&pool).await.unwrap();
                MIGRATOR.run_to(5, &pool).await.unwrap();
                for e in &entries {
                    legacy_insert(&pool, e).await;
                }
                let old = SqlIndex {
                    pool,
                    backend,
                    docs: DocFormat::Json,
                    path: None,
                    terms_ready: Arc::new(AtomicBool::new(false)),
                    fold_at: FOLD_AT,
                    writes: Arc::default(),
                };
                // Today's reads name the planning columns of migration 0007: they exist
                // while the old index is read, and are dropped again after.
                let planning = ["due_date", "milestone"];
                for c in planning {
                    sqlx::query(sqlx::AssertSqlSafe(format!(
                        "ALTER TABLE entries ADD COLUMN {c} TEXT"
                    )))
                    .execute(&old.pool)
                    .await
                    .unwrap();
                }
                let context = old.list(&active_context()).await.unwrap();
                for c in planning {
                    sqlx::query(sqlx::AssertSqlSafe(format!(
                        "ALTER TABLE entries DROP COLUMN {c}"
                    )))
                    .execute(&old.pool)
                    .await
                    .unwrap();
                }
                old.pool.close().await;
                context
            };
            let index = SqlIndex::open(&path, backend, backend == "sqlite")
                .await
                .unwrap();
            check_terms(&index).await;
            for (q, want) in searches().iter().zip(&expected) {
                assert_eq!(&searched(&index, q).await, want, "{backend}: {q:?}");
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
            let fts: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM sqlite_master WHERE name LIKE 'entries_fts%'",
            )
            .fetch_one(index.pool())
            .await
            .unwrap();
            assert_eq!(fts, 0, "the FTS5 tables are dropped");
            index.pool.close().await;
        }
    }

    /// The word index follows every write: creates, updates (a note, a new title), a
    /// renumbered entry, deletes, and an interrupted upgrade's queue; on the SQLite backend
    /// through the store, on the JSON backend's index through the files and `reindex`.
    #[tokio::test]
    async fn the_word_index_holds_each_entrys_terms_after_every_write() {
        use devlog_core::event::{Origin, WriteMeta};
        use devlog_core::store::Store;
        let meta = WriteMeta::new(Origin::Cli);
        let dir = tempfile::tempdir().unwrap();
        let entries = generated(60);
        let path = dir.path().join("devlog.sqlite");
        let sqlite = crate::SqliteStore::open(&path).await.unwrap();
        let json_root = dir.path().join(".devlog");
        let json = crate::JsonStore::open(&json_root).await.unwrap();
        for store in [&sqlite as &dyn Store, &json as &dyn Store] {
            for e in &entries[..40] {
                store.put_raw(e.clone(), &meta).await.unwrap();
            }
            for e in &entries[40..] {
                store.create(e.clone(), false, &meta).await.unwrap();
            }
            for (i, e) in entries.iter().enumerate().take(30) {
                store
                    .update(e.id, &meta, &mut |x: &mut Entry| {
                        if i % 3 == 0 {
                            x.title = format!("Renamed café {i}");
                        }
                        x.notes.push(devlog_core::entry::Note {
                            id: format!("n{i}"),
                            timestamp: x.updated_at,
                            category: devlog_core::entry::NoteCategory::Progress,
                            content: "Kubernetes brand new words appear zebra".into(),
                            files: Vec::new(),
                            code_changes: None,
                            extra: devlog_core::entry::Extra::new(),
                        });
                        Ok(())
                    })
                    .await
                    .unwrap();
            }
            for e in entries.iter().skip(30).step_by(4) {
                store.delete(e.id, &meta).await.unwrap();
            }
            // Renumbered by an import: its rows move to the new handle.
            let mut moved = store.get(entries[1].id).await.unwrap();
            moved.handle = 5_000;
            store.put_raw(moved, &meta).await.unwrap();
        }
        let sqlite_index = SqlIndex::open(&path, "sqlite", true).await.unwrap();
        check_terms(&sqlite_index).await;
        let json_index = SqlIndex::open(&json_root.join(".state/index.sqlite"), "json", false)
            .await
            .unwrap();
        check_terms(&json_index).await;
        json.reindex().await.unwrap();
        check_terms(&json_index).await;
        // Both stores answer a search alike.
        let q = SearchQuery {
            text: "zebra kube".into(),
            limit: 100,
            ..SearchQuery::default()
        };
        let a = sqlite.search(&q).await.unwrap();
        let b = json.search(&q).await.unwrap();
        let hits = |p: &Page<SearchHit>| -> Vec<(u64, f64)> {
            p.items.iter().map(|h| (h.entry.handle, h.score)).collect()
        };
        assert_eq!(a.total, 30);
        assert_eq!(hits(&a), hits(&b));
        // An upgrade interrupted halfway: queued rows, some already indexed.
        sqlx::query("DELETE FROM terms WHERE rid % 2 = 0 AND rid % 3 <> 1")
            .execute(sqlite_index.pool())
            .await
            .unwrap();
        sqlx::query("INSERT INTO terms_pending (rid) SELECT rid FROM entries WHERE rid % 3 <> 1")
            .execute(sqlite_index.pool())
            .await
            .unwrap();
        drop(sqlite);
        sqlite_index.pool().close().await;
        let sqlite = crate::SqliteStore::open(&path).await.unwrap();
        let sqlite_index = SqlIndex::open(&path, "sqlite", true).await.unwrap();
        check_terms(&sqlite_index).await;
        assert_eq!(hits(&sqlite.search(&q).await.unwrap()), hits(&a));
    }

    /// The plan of the window query for `words` (each with its terms).
    async fn window_plan(
        index: &SqlIndex,
        words: &[(&str, &[&str])],
        filter: &Filter,
        any_staged: bool,
    ) -> Vec<String> {
        let words: Vec<WordTerms> = words
            .iter()
            .map(|(w, t)| WordTerms {
                word: w.to_string(),
                terms: Some(t.iter().map(|s| s.to_string()).collect()),
            })
            .collect();
        let staged = Staged {
            any: any_staged,
            matches: Vec::new(),
        };
        let src = Sources {
            words: &words,
            filter,
            folded: true,
            staged: &staged,
        };
        let mut qb = QueryBuilder::<Sqlite>::new("EXPLAIN QUERY PLAN ");
        push_window_matches(&mut qb, &src, Some(10), Some(1001));
        let rows = qb.build().fetch_all(index.pool()).await.unwrap();
        rows.iter().map(|r| r.get("detail")).collect()
    }

    /// A search reads one word's postings backwards on the key and looks the other words up
    /// per row: no sort, so the `LIMIT` ends the scan after a page's worth of matches.
    #[tokio::test]
    async fn search_walks_the_postings_newest_first_without_sorting() {
        let index = SqlIndex::open_in_memory("sqlite").await.unwrap();
        let mut tx = index.begin_write().await.unwrap();
        for e in generated(30) {
            index.upsert(&mut tx, &e, None).await.unwrap();
        }
        tx.commit().await.unwrap();
        let open = Filter {
            open_only: true,
            ..Filter::default()
        };
        for (filter, any_staged) in [
            (Filter::default(), false),
            (open, false),
            (Filter::default(), true),
        ] {
            for words in [
                &[("the", &["the"][..])][..],
                &[
                    ("kubernetes", &["kubernetes"][..]),
                    ("t", &["the", "timeout", "token"][..]),
                ][..],
            ] {
                let plan = window_plan(&index, words, &filter, any_staged).await;
                assert!(!plan.iter().any(|d| d.contains("TEMP B-TREE")), "{plan:?}");
                assert!(
                    plan.iter()
                        .any(|d| d.starts_with("SEARCH d USING PRIMARY KEY")),
                    "{plan:?}"
                );
                // The staged rows are listed once (a small table), not per posting.
                assert!(
                    !plan
                        .iter()
                        .any(|d| d.starts_with("SCAN") && d != "SCAN terms_staged"),
                    "{plan:?}"
                );
            }
        }
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
