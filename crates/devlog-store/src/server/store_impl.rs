//! The store on a database server: one implementation for PostgreSQL and MySQL/MariaDB.
//!
//! This file is compiled twice, as `postgres::imp` and `mysql::imp` (through `#[path]`), each
//! time against its parent module's dialect: `Db`, `Conn`, `BACKEND`, `migrator()`,
//! `connect_options()`, `connect()`, `pool_options()`, `lock_migrations()`,
//! `unlock_migrations()`, `classify()`, `TITLE_ORDER`,
//! `EVENTS_TO_COUNT`, `push_tag_filter()` and `SEARCH_MERGES_POSTINGS`.
//!
//! Search reads devlog's own inverted index, `devlog_terms` (one row per distinct folded word
//! of an entry, with its field-weighted count), written in the same transaction as the entry
//! by `write_terms` with the shared tokenizer in `terms.rs` (`index_terms`); see
//! docs/performance.md, "Search on the servers".
//! Everything else — the tables, the locking, the change feed, the queries — is the same SQL
//! on both servers, so both backends keep exactly the SQLite backend's semantics (the
//! conformance suite checks).
//!
//! Concurrency (Architecture Invariant: no lost update, no skipped event):
//! - Every write is one transaction (READ COMMITTED on both servers).
//! - `update`/`delete` lock the entry's row (`SELECT ... FOR UPDATE`) before reading it, so
//!   concurrent writers of one entry run one after the other, each on the other's result.
//! - `create` and `put_raw` first lock the `entries` row of `devlog_counters`: handle
//!   allocation, key uniqueness and the duplicate check then see every committed entry and no
//!   two of them can pick the same handle.
//! - The change feed: a reader polls `seq > cursor`. With a plain sequence (BIGSERIAL,
//!   AUTO_INCREMENT) a transaction can take seq 10, commit after another one took and
//!   committed seq 11, and a reader that already moved its cursor to 11 would never see 10.
//!   So `seq` is assigned from the `feed` row of `devlog_counters`, locked (by the UPDATE
//!   that advances it) until commit: event-writing transactions commit one at a time in seq
//!   order, and every reader sees the feed grow only at its end. The feed lock is always
//!   taken last, just before commit, so it is held briefly and lock order is fixed
//!   (entries counter, then entry rows, then feed): no deadlock among devlog's own writers.
//!   Should the server still report one (or a serialization failure), the whole transaction
//!   runs again, up to `RETRIES` times.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use devlog_core::audit::{AuditLog, AuditRecord, Draft, Head, Source, Stored, chain};
use devlog_core::entry::{Entry, EntrySummary, EntryType};
use devlog_core::error::{InvalidValue, Result, StoreError};
use devlog_core::event::{Event, Origin, WriteMeta};
use devlog_core::id::{EntryId, EntryRef, normalize_title};
use devlog_core::store::{
    Created, Filter, ListQuery, Mutation, NO_TAG, Page, PutOutcome, SearchHit, SearchQuery,
    SortKey, Stats, StatsBuilder, Store, StoreInfo, TOTAL_CAP, count_cap,
};
use devlog_core::time::{Clock, SystemClock, Timestamp};
use sqlx::pool::PoolConnection;
use sqlx::{Pool, QueryBuilder, Row};

use super::{
    BACKEND, Conn, Db, EVENTS_TO_COUNT, NO_TAGS, REJECTS_NUL, SEARCH_MERGES_POSTINGS, SYNC_BIGINT,
    TAG_KEY, TAG_ROWS, TERMS_BY_LOOSE_SCAN, TITLE_ORDER, classify, connect, connect_options,
    listen, lock_migrations, migrator, pool_options, push_tag_filter, refresh_statistics,
    statement_limit, unlock_migrations,
};
use crate::index::{counts_answer, decode_event, median_window, seq_bound, sql_limit, status_rank};
use crate::server::{
    APPLIED_MIGRATIONS, Class, ServerOptions, connect_timed_out, index_terms, migrate_error,
    reject_nul, reject_nul_in, search_words, snippet, store_error, too_large, word_score,
};
use crate::terms::{MAX_EXPANSIONS, term_range};
use crate::url::DbUrl;

type Row_ = <Db as sqlx::Database>::Row;

/// How often a transaction that hit a deadlock or serialization failure runs again.
const RETRIES: u32 = 5;

/// Rows appended to the change feed per INSERT statement (well below both servers' limit of
/// 65,535 bound parameters).
const EVENT_CHUNK: usize = 1000;

/// Search index rows per INSERT or DELETE statement (3 bound values each).
const TERM_CHUNK: usize = 1000;

/// Statements from this size on are checked against the server's limit before they are
/// sent (one extra query, only for such large writes).
const CHECK_SIZE_FROM: usize = 64 * 1024;

/// Room for the SQL text and the protocol's framing around the bound values.
const STATEMENT_OVERHEAD: usize = 4 * 1024;

const SUMMARY_COLS: &str = "e.id, e.handle, e.entry_key, e.legacy_id, e.title, e.kind, e.status, \
                            e.priority, e.assignee, e.tags, e.created_at, e.updated_at, e.closed_at, \
                            e.due_date, e.milestone";

const SEARCH_COLS: &str = "e.search_title, e.search_description, e.search_notes, e.search_context";

/// Entries in a database on a server (see the module docs for the locking rules).
pub struct ServerStore {
    pool: Pool<Db>,
    /// The connection that opened the store (and checked the schema), kept for the calls that
    /// follow it one after the other — a CLI command makes one connection, not one per query
    /// (each costs a server process and, with TLS, a handshake). Used while nobody else holds
    /// it and it was last used less than `STICKY_IDLE` ago; otherwise calls take pooled
    /// connections, which are checked before use.
    sticky: tokio::sync::Mutex<Option<Sticky>>,
    /// Set by any driver error: the sticky connection may be broken, so it is dropped.
    sticky_suspect: AtomicBool,
    url: DbUrl,
    opts: ServerOptions,
    /// When events happen (the system clock unless a test injects one).
    clock: std::sync::Arc<dyn Clock>,
}

/// How long the sticky connection may sit unused before it is dropped for pooled ones: long
/// enough for one command's calls, short enough that a long-running process never relies on
/// an unchecked connection after a quiet spell (a server restart, an idle timeout).
const STICKY_IDLE: Duration = Duration::from_secs(2);

struct Sticky {
    conn: Conn,
    last_used: Instant,
}

/// A connection for one call: the sticky one or one from the pool.
enum Lease<'a> {
    Sticky(tokio::sync::MutexGuard<'a, Option<Sticky>>),
    Pooled(PoolConnection<Db>),
}

impl std::ops::Deref for Lease<'_> {
    type Target = Conn;

    fn deref(&self) -> &Conn {
        match self {
            Lease::Sticky(g) => &g.as_ref().expect("a sticky lease holds a connection").conn,
            Lease::Pooled(c) => c,
        }
    }
}

impl std::ops::DerefMut for Lease<'_> {
    fn deref_mut(&mut self) -> &mut Conn {
        match self {
            Lease::Sticky(g) => &mut g.as_mut().expect("a sticky lease holds a connection").conn,
            Lease::Pooled(c) => c,
        }
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Lease::Sticky(g) = self
            && let Some(s) = g.as_mut()
        {
            s.last_used = Instant::now();
        }
    }
}

impl fmt::Debug for ServerStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL shows itself redacted; the pool's connect options would not.
        f.debug_struct("ServerStore")
            .field("backend", &BACKEND)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// A failure inside a transaction: a driver error (maybe worth a retry) or a store error.
enum TxErr {
    Db(sqlx::Error),
    Store(StoreError),
}

impl From<sqlx::Error> for TxErr {
    fn from(e: sqlx::Error) -> Self {
        TxErr::Db(e)
    }
}

impl From<StoreError> for TxErr {
    fn from(e: StoreError) -> Self {
        TxErr::Store(e)
    }
}

type TxResult<T> = std::result::Result<T, TxErr>;

/// Whether `write_row` compares an entry's word index rows with the stored ones (always
/// right) or inserts them all (only when its handle has none: a bulk load's new entries).
#[derive(Clone, Copy)]
enum StoredTerms {
    Compare,
    None,
}

/// What the database holds of a batch's ids (lowercase) and handles (`known_of`).
#[derive(Default)]
struct Known {
    ids: std::collections::HashSet<String>,
    handles: std::collections::HashSet<u64>,
    indexed: std::collections::HashSet<u64>,
    /// The batch's keys that rows hold (`key_form`).
    keys: std::collections::HashSet<String>,
}

/// A key as the batch compares it with others: without trailing spaces, which MariaDB's
/// collations ignore (`PAD SPACE`), so two keys that may be equal on any server are.
fn key_form(key: &str) -> &str {
    key.trim_end_matches(' ')
}

/// The start of an entry row's INSERT; `push_row` binds the values in this order.
const ROW_INSERT: &str = "INSERT INTO devlog_entries (id_hex, handle, entry_key, legacy_id, \
                          title, title_norm, kind, status, status_rank, priority, \
                          priority_rank, assignee, tags, created_at, updated_at, closed_at, \
                          search_title, search_description, search_notes, search_context, \
                          due_date, milestone, doc, id) VALUES ";

/// New rows of a multi-row INSERT at most (24 bound values each).
const ROW_CHUNK: usize = 200;

/// What a row adds to a multi-row INSERT beyond its values (placeholders, the protocol's
/// framing of 24 values).
const ROW_FRAMING: usize = 256;

/// Bound data of one multi-row INSERT at most, below every server's statement limit that
/// devlog accepts (MySQL's smallest default `max_allowed_packet` is 4 MiB).
const ROW_CHUNK_BYTES: usize = 1024 * 1024;

/// What an entry's row holds beyond its plain fields: its document, tags, search text and
/// words, and the bound data's size.
struct RowText {
    doc: String,
    tags: String,
    text: devlog_core::entry::SearchText,
    terms: Vec<(String, f64)>,
    bytes: usize,
}

impl RowText {
    fn of(e: &Entry) -> TxResult<RowText> {
        if REJECTS_NUL {
            let value = serde_json::to_value(e).expect("an Entry always serializes");
            reject_nul_in(&value, &format!("entry {}", e.id))?;
        }
        let doc = serde_json::to_string(e).expect("an Entry always serializes");
        let tags = serde_json::to_string(&e.tags).expect("strings serialize");
        let text = e.search_text();
        let terms = index_terms(&text);
        let bytes = doc.len()
            + tags.len()
            + 2 * e.title.len()
            + e.key.len()
            + e.assignee.as_ref().map_or(0, String::len)
            + e.milestone.as_ref().map_or(0, String::len)
            + text.title.len()
            + text.description.len()
            + text.notes.len()
            + text.context.len();
        Ok(RowText {
            doc,
            tags,
            text,
            terms,
            bytes,
        })
    }
}

/// Pushes the column values of `e`'s row in `ROW_INSERT`'s order: bound values separated by
/// commas, or `column = value` pairs when `update` (the `id` is then the WHERE's). Returns
/// the entry's words.
fn push_row(
    qb: &mut QueryBuilder<Db>,
    e: &Entry,
    row: RowText,
    update: bool,
) -> Vec<(String, f64)> {
    let RowText {
        doc,
        tags,
        text,
        terms,
        bytes: _,
    } = row;
    let col = |qb: &mut QueryBuilder<Db>, name: &str, first: bool| {
        if !first {
            qb.push(", ");
        }
        if update {
            qb.push(name).push(" = ");
        }
    };
    col(qb, "id_hex", true);
    qb.push_bind(e.id.simple());
    col(qb, "handle", false);
    qb.push_bind(e.handle as i64);
    col(qb, "entry_key", false);
    qb.push_bind(e.key.clone());
    col(qb, "legacy_id", false);
    qb.push_bind(e.legacy_id.map(|v| v as i64));
    col(qb, "title", false);
    qb.push_bind(e.title.clone());
    col(qb, "title_norm", false);
    qb.push_bind(normalize_title(&e.title));
    col(qb, "kind", false);
    qb.push_bind(e.kind.as_str());
    col(qb, "status", false);
    qb.push_bind(e.status.as_str());
    col(qb, "status_rank", false);
    qb.push_bind(status_rank(e.status));
    col(qb, "priority", false);
    qb.push_bind(e.priority.as_str());
    col(qb, "priority_rank", false);
    qb.push_bind(e.priority.rank() as i64);
    col(qb, "assignee", false);
    qb.push_bind(e.assignee.clone());
    col(qb, "tags", false);
    qb.push_bind(tags);
    col(qb, "created_at", false);
    qb.push_bind(e.created_at.millis());
    col(qb, "updated_at", false);
    qb.push_bind(e.updated_at.millis());
    col(qb, "closed_at", false);
    qb.push_bind(e.closed_at.map(|t| t.millis()));
    col(qb, "search_title", false);
    qb.push_bind(text.title);
    col(qb, "search_description", false);
    qb.push_bind(text.description);
    col(qb, "search_notes", false);
    qb.push_bind(text.notes);
    col(qb, "search_context", false);
    qb.push_bind(text.context);
    col(qb, "due_date", false);
    qb.push_bind(e.due_date.map(|d| d.to_string()));
    col(qb, "milestone", false);
    qb.push_bind(e.milestone.clone());
    col(qb, "doc", false);
    qb.push_bind(doc);
    if !update {
        qb.push(", ").push_bind(e.id.to_string());
    }
    terms
}

/// New entries of a `put_raw` batch whose rows are not written yet (`insert_rows`): written
/// before anything reads the entries table again, and at the batch's end.
#[derive(Default)]
struct Pending {
    rows: Vec<(Entry, RowText)>,
    bytes: usize,
}

/// How a write transaction ends: committed, or rolled back because it changed nothing.
enum Done<T> {
    Write(T),
    Unchanged(T),
}

/// Ends a write transaction explicitly, whatever happened inside it. A transaction that is
/// only dropped queues its ROLLBACK until the connection is used again, and the sticky
/// connection may then sit idle for a long time holding the row locks (`FOR UPDATE`) it
/// took: in a server that applied a webhook changing nothing, every other process's update
/// of that entry waited until that server's next call.
async fn finish<T>(tx: sqlx::Transaction<'_, Db>, done: TxResult<Done<T>>) -> TxResult<T> {
    match done {
        Ok(Done::Write(v)) => {
            tx.commit().await?;
            Ok(v)
        }
        Ok(Done::Unchanged(v)) => {
            tx.rollback().await?;
            Ok(v)
        }
        Err(e) => {
            // The failure is what the caller needs; a rollback that fails too leaves a broken
            // connection, which the driver error has already marked suspect.
            let _ = tx.rollback().await;
            Err(e)
        }
    }
}

/// Whether the database already has exactly this devlog's migrations, all complete: one
/// query, where the migrator takes a lock, creates its table if needed and reads it in
/// several round trips. Anything else (no table yet, a migration missing, interrupted, changed
/// or unknown) is left to the migrator, which applies or reports it under its lock.
async fn schema_is_current(conn: &mut Conn) -> bool {
    // The simple query protocol: one round trip, where a prepared statement takes two.
    let Ok(rows) = sqlx::raw_sql(APPLIED_MIGRATIONS)
        .fetch_all(&mut *conn)
        .await
    else {
        return false;
    };
    let mut applied = Vec::with_capacity(rows.len());
    for r in &rows {
        let (Ok(version), Ok(checksum), Ok(success)) = (
            r.try_get::<i64, _>("version"),
            r.try_get::<Vec<u8>, _>("checksum"),
            r.try_get::<bool, _>("success"),
        ) else {
            return false;
        };
        applied.push((version, checksum, success));
    }
    let wanted: Vec<_> = migrator()
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .collect();
    applied.len() == wanted.len()
        && applied.iter().zip(&wanted).all(|((v, sum, ok), m)| {
            *ok && *v == m.version && sum.as_slice() == m.checksum.as_ref()
        })
}

/// `bytes` in MiB for messages, one decimal.
fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// Rejects filter values the server cannot compare (see `REJECTS_NUL`).
fn check_filter(f: &Filter) -> Result<()> {
    if REJECTS_NUL {
        if let Some(a) = &f.assignee {
            reject_nul("assignee", a)?;
        }
        if let Some(t) = &f.tag {
            reject_nul("tag", t)?;
        }
        if let Some(m) = &f.milestone {
            reject_nul("milestone", m)?;
        }
    }
    Ok(())
}

/// Whether a failed attempt should run again.
fn retryable<T>(r: &TxResult<T>, attempt: u32) -> bool {
    matches!(r, Err(TxErr::Db(e)) if attempt < RETRIES && classify(e) == Class::Retry)
}

impl ServerStore {
    /// Connects (within the default 5 s timeout), applies pending schema migrations and keeps
    /// a connection pool.
    pub async fn open(url: &DbUrl) -> Result<Self> {
        Self::open_with(url, ServerOptions::default()).await
    }

    pub async fn open_with(url: &DbUrl, opts: ServerOptions) -> Result<Self> {
        let options =
            connect_options(url).map_err(|e| store_error(BACKEND, url, classify(&e), &e, &opts))?;
        // One connection first: it reports a refused connection, a failed login or a missing
        // database at once (a pool would retry until its timeout), and it runs migrations.
        let mut conn = match tokio::time::timeout(opts.connect_timeout, connect(&options)).await {
            Err(_) => return Err(connect_timed_out(BACKEND, url, &opts)),
            Ok(Err(e)) => return Err(store_error(BACKEND, url, classify(&e), &e, &opts)),
            Ok(Ok(c)) => c,
        };
        if !schema_is_current(&mut conn).await {
            // `run_direct` is what `run` calls; called directly because `run(&mut conn)` makes
            // this future fail the `Send` check ("implementation of `Acquire` is not general
            // enough", a known sqlx limitation that sqlx's own comment on `run_direct` names).
            lock_migrations(&mut conn)
                .await
                .map_err(|e| store_error(BACKEND, url, classify(&e), &e, &opts))?;
            let migrated = migrator().run_direct(None, &mut conn, false).await;
            let _ = unlock_migrations(&mut conn).await;
            migrated.map_err(|e| migrate_error(BACKEND, url, e, classify, &opts))?;
        }
        let pool = pool_options(&opts).connect_lazy_with(options);
        let store = Self {
            pool,
            sticky: tokio::sync::Mutex::new(Some(Sticky {
                conn,
                last_used: Instant::now(),
            })),
            sticky_suspect: AtomicBool::new(false),
            url: url.clone(),
            opts,
            clock: std::sync::Arc::new(SystemClock),
        };
        store.index_pending().await?;
        Ok(store)
    }

    /// The same store stamping its events with `clock`'s time.
    pub fn with_clock(mut self, clock: std::sync::Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// A connection for one call: the sticky one when it is free, fresh and not suspect,
    /// else one from the pool.
    async fn lease(&self) -> std::result::Result<Lease<'_>, sqlx::Error> {
        if let Ok(mut g) = self.sticky.try_lock() {
            let usable = g.as_ref().is_some_and(|s| {
                s.last_used.elapsed() < STICKY_IDLE && !self.sticky_suspect.load(Ordering::Relaxed)
            });
            if usable {
                return Ok(Lease::Sticky(g));
            }
            if let Some(s) = g.take() {
                // Closing politely is a courtesy; a broken connection is simply dropped.
                if !self.sticky_suspect.load(Ordering::Relaxed) {
                    let _ = sqlx::Connection::close(s.conn).await;
                }
            }
        }
        self.pool.acquire().await.map(Lease::Pooled)
    }

    /// Whether the database has exactly this devlog's schema migrations, all complete: the
    /// one-query check with which opening decides to skip the migrator.
    pub async fn schema_is_current(&self) -> Result<bool> {
        let mut conn = self.lease().await.map_err(self.err())?;
        Ok(schema_is_current(&mut conn).await)
    }

    /// The pool, for tests and tools that inspect the tables.
    pub fn pool(&self) -> &Pool<Db> {
        &self.pool
    }

    /// The (redacted when shown) URL this store talks to.
    pub fn url(&self) -> &DbUrl {
        &self.url
    }

    fn err(&self) -> impl Fn(sqlx::Error) -> StoreError + '_ {
        move |e| {
            self.sticky_suspect.store(true, Ordering::Relaxed);
            store_error(BACKEND, &self.url, classify(&e), &e, &self.opts)
        }
    }

    fn fail(&self, e: TxErr) -> StoreError {
        match e {
            TxErr::Db(e) => (self.err())(e),
            TxErr::Store(e) => e,
        }
    }

    fn corrupt(&self, what: &str, e: impl fmt::Display) -> StoreError {
        StoreError::Corrupt {
            path: format!("{BACKEND} database {}", self.url),
            message: format!("{what}: {e}"),
            hint: "restore the database from a backup or re-import the entries".into(),
        }
    }

    fn decode_doc(&self, doc: &str) -> Result<Entry> {
        serde_json::from_str(doc).map_err(|e| self.corrupt("a stored entry does not parse", e))
    }

    // ---- pieces of write transactions ---------------------------------------------------

    /// Locks a row of `devlog_counters` until the transaction ends.
    async fn lock_counter(conn: &mut Conn, name: &str) -> TxResult<i64> {
        let mut qb = QueryBuilder::<Db>::new("SELECT value FROM devlog_counters WHERE name = ");
        qb.push_bind(name).push(" FOR UPDATE");
        Ok(qb.build_query_scalar::<i64>().fetch_one(&mut *conn).await?)
    }

    async fn doc_in(&self, conn: &mut Conn, id: EntryId, lock: bool) -> TxResult<Option<Entry>> {
        let mut qb = QueryBuilder::<Db>::new("SELECT doc FROM devlog_entries WHERE id = ");
        qb.push_bind(id.to_string());
        if lock {
            qb.push(" FOR UPDATE");
        }
        let doc: Option<String> = qb.build_query_scalar().fetch_optional(&mut *conn).await?;
        Ok(doc.map(|d| self.decode_doc(&d)).transpose()?)
    }

    async fn next_handle(conn: &mut Conn) -> TxResult<u64> {
        let max: Option<i64> = sqlx::query_scalar("SELECT MAX(handle) FROM devlog_entries")
            .fetch_one(&mut *conn)
            .await?;
        Ok(max.unwrap_or(0).max(0) as u64 + 1)
    }

    async fn handle_taken(conn: &mut Conn, handle: u64, id: EntryId) -> TxResult<bool> {
        let mut qb = QueryBuilder::<Db>::new("SELECT COUNT(*) FROM devlog_entries WHERE handle = ");
        qb.push_bind(handle as i64)
            .push(" AND id <> ")
            .push_bind(id.to_string());
        let n: i64 = qb.build_query_scalar().fetch_one(&mut *conn).await?;
        Ok(n > 0)
    }

    /// `key`, or `key-2`, `key-3`, ... whichever no other entry uses.
    async fn unique_key(conn: &mut Conn, key: &str, id: EntryId) -> TxResult<String> {
        let mut candidate = key.to_string();
        for n in 2.. {
            let mut qb =
                QueryBuilder::<Db>::new("SELECT COUNT(*) FROM devlog_entries WHERE entry_key = ");
            qb.push_bind(candidate.as_str())
                .push(" AND id <> ")
                .push_bind(id.to_string());
            let taken: i64 = qb.build_query_scalar().fetch_one(&mut *conn).await?;
            if taken == 0 {
                break;
            }
            candidate = format!("{key}-{n}");
        }
        Ok(candidate)
    }

    async fn open_duplicate(
        &self,
        conn: &mut Conn,
        title: &str,
        kind: EntryType,
    ) -> TxResult<Option<Entry>> {
        let mut qb = QueryBuilder::<Db>::new("SELECT doc FROM devlog_entries WHERE title_norm = ");
        qb.push_bind(normalize_title(title))
            .push(" AND kind = ")
            .push_bind(kind.as_str())
            .push(" AND status NOT IN ('done', 'closed') ORDER BY handle LIMIT 1");
        let doc: Option<String> = qb.build_query_scalar().fetch_optional(&mut *conn).await?;
        Ok(doc.map(|d| self.decode_doc(&d)).transpose()?)
    }

    /// Fails with a "too large" error, before sending, when a statement of `bytes` bound
    /// data exceeds what the server accepts.
    async fn check_size(conn: &mut Conn, bytes: usize, what: &str) -> TxResult<()> {
        if bytes < CHECK_SIZE_FROM {
            return Ok(());
        }
        if let Some(limit) = statement_limit(conn).await?
            && (bytes + STATEMENT_OVERHEAD) as u64 > limit
        {
            return Err(too_large(format!(
                "{what} needs a {} statement, and the {BACKEND} server accepts at most {} \
                 (max_allowed_packet)",
                mib(bytes as u64),
                mib(limit)
            ))
            .into());
        }
        Ok(())
    }

    /// Writes the row of `e` and its search terms: an UPDATE when the entry exists (then
    /// `old_handle` is the handle its row has now), else an INSERT.
    async fn write_row(
        conn: &mut Conn,
        e: &Entry,
        old_handle: Option<u64>,
        stored: StoredTerms,
    ) -> TxResult<()> {
        let exists = old_handle.is_some();
        let row = RowText::of(e)?;
        Self::check_size(conn, row.bytes, "the entry").await?;
        let mut qb = QueryBuilder::<Db>::new(if exists {
            "UPDATE devlog_entries SET "
        } else {
            ROW_INSERT
        });
        let terms = if exists {
            let terms = push_row(&mut qb, e, row, true);
            qb.push(" WHERE id = ").push_bind(e.id.to_string());
            terms
        } else {
            qb.push("(");
            let terms = push_row(&mut qb, e, row, false);
            qb.push(")");
            terms
        };
        qb.build().execute(&mut *conn).await?;
        match stored {
            StoredTerms::Compare => Self::write_terms(conn, e.handle, old_handle, &terms).await,
            StoredTerms::None => {
                let h = e.handle as i64;
                let rows: Vec<(i64, &str, f64)> =
                    terms.iter().map(|(t, w)| (h, t.as_str(), *w)).collect();
                Self::insert_terms(conn, &rows).await
            }
        }
    }

    /// Inserts the rows of new entries whose handles have no word index rows yet, and their
    /// words, with a few multi-row statements (`Pending`: a bulk load's new entries).
    async fn insert_rows(conn: &mut Conn, pending: &mut Pending) -> TxResult<()> {
        if pending.rows.is_empty() {
            return Ok(());
        }
        let rows = std::mem::take(&mut pending.rows);
        pending.bytes = 0;
        let mut qb = QueryBuilder::<Db>::new(ROW_INSERT);
        let mut terms = Vec::new();
        for (i, (e, row)) in rows.into_iter().enumerate() {
            qb.push(if i == 0 { "(" } else { ", (" });
            let h = e.handle as i64;
            terms.extend(
                push_row(&mut qb, &e, row, false)
                    .into_iter()
                    .map(|(t, w)| (h, t, w)),
            );
            qb.push(")");
        }
        qb.build().execute(&mut *conn).await?;
        let terms: Vec<(i64, &str, f64)> =
            terms.iter().map(|(h, t, w)| (*h, t.as_str(), *w)).collect();
        Self::insert_terms(conn, &terms).await
    }

    /// The most bound data a multi-row INSERT of new rows carries: `ROW_CHUNK_BYTES`, or less
    /// when the server accepts smaller statements.
    async fn row_chunk_bytes(conn: &mut Conn) -> TxResult<usize> {
        Ok(match statement_limit(conn).await? {
            Some(limit) => ROW_CHUNK_BYTES
                .min((limit as usize).saturating_sub(STATEMENT_OVERHEAD))
                .max(1),
            None => ROW_CHUNK_BYTES,
        })
    }

    /// Which of `entries`' ids (lowercase), handles and keys the database holds, and which of
    /// the handles have word index rows: four queries per `TERM_CHUNK` entries.
    async fn known_of(conn: &mut Conn, entries: &[Entry]) -> TxResult<Known> {
        let mut known = Known::default();
        for chunk in entries.chunks(TERM_CHUNK) {
            let mut qb = QueryBuilder::<Db>::new("SELECT id FROM devlog_entries WHERE id IN (");
            let mut sep = qb.separated(", ");
            for e in chunk {
                sep.push_bind(e.id.to_string());
            }
            qb.push(")");
            let ids: Vec<String> = qb.build_query_scalar().fetch_all(&mut *conn).await?;
            known
                .ids
                .extend(ids.into_iter().map(|i| i.to_ascii_lowercase()));
            let mut qb = QueryBuilder::<Db>::new(
                "SELECT entry_key FROM devlog_entries WHERE entry_key IN (",
            );
            let mut sep = qb.separated(", ");
            for e in chunk {
                sep.push_bind(e.key.as_str());
            }
            qb.push(")");
            let keys: Vec<String> = qb.build_query_scalar().fetch_all(&mut *conn).await?;
            known
                .keys
                .extend(keys.iter().map(|k| key_form(k).to_string()));
            for (table, set) in [
                ("devlog_entries", &mut known.handles),
                ("devlog_terms", &mut known.indexed),
            ] {
                let mut qb = QueryBuilder::<Db>::new(format!(
                    "SELECT DISTINCT handle FROM {table} WHERE handle IN ("
                ));
                let mut sep = qb.separated(", ");
                for e in chunk {
                    sep.push_bind(e.handle as i64);
                }
                qb.push(")");
                let handles: Vec<i64> = qb.build_query_scalar().fetch_all(&mut *conn).await?;
                set.extend(handles.into_iter().map(|h| h as u64));
            }
        }
        Ok(known)
    }

    /// Brings the search index rows of the entry with `handle` to `terms` (from
    /// `index_terms`): the rows of its old handle go if it had another one; of the rows under
    /// `handle`, only those that differ are deleted and inserted (an added note changes a few
    /// words' weights, not every row). Compared with what is stored, not with the old entry,
    /// so rows written by any earlier version are corrected too.
    async fn write_terms(
        conn: &mut Conn,
        handle: u64,
        old_handle: Option<u64>,
        terms: &[(String, f64)],
    ) -> TxResult<()> {
        let h = handle as i64;
        if let Some(old) = old_handle
            && old != handle
        {
            Self::delete_terms(conn, &[old as i64]).await?;
        }
        let mut qb =
            QueryBuilder::<Db>::new("SELECT term, weight FROM devlog_terms WHERE handle = ");
        qb.push_bind(h);
        let stored: Vec<(String, f64)> = qb.build_query_as().fetch_all(&mut *conn).await?;
        let stored_map: std::collections::HashMap<&str, f64> =
            stored.iter().map(|(t, w)| (t.as_str(), *w)).collect();
        let new_map: std::collections::HashMap<&str, f64> =
            terms.iter().map(|(t, w)| (t.as_str(), *w)).collect();
        let stale: Vec<&str> = stored
            .iter()
            .filter(|(t, w)| new_map.get(t.as_str()) != Some(w))
            .map(|(t, _)| t.as_str())
            .collect();
        for chunk in stale.chunks(TERM_CHUNK) {
            let mut qb = QueryBuilder::<Db>::new("DELETE FROM devlog_terms WHERE handle = ");
            qb.push_bind(h).push(" AND term IN (");
            let mut sep = qb.separated(", ");
            for t in chunk {
                sep.push_bind(*t);
            }
            qb.push(")");
            qb.build().execute(&mut *conn).await?;
        }
        let fresh: Vec<(i64, &str, f64)> = terms
            .iter()
            .filter(|(t, w)| stored_map.get(t.as_str()) != Some(w))
            .map(|(t, w)| (h, t.as_str(), *w))
            .collect();
        Self::insert_terms(conn, &fresh).await
    }

    /// Inserts search index rows (handle, term, weight).
    async fn insert_terms(conn: &mut Conn, rows: &[(i64, &str, f64)]) -> TxResult<()> {
        for chunk in rows.chunks(TERM_CHUNK) {
            let mut qb =
                QueryBuilder::<Db>::new("INSERT INTO devlog_terms (handle, term, weight) ");
            qb.push_values(chunk, |mut b, (h, t, w)| {
                b.push_bind(*h).push_bind(*t).push_bind(*w);
            });
            qb.build().execute(&mut *conn).await?;
        }
        Ok(())
    }

    /// Deletes every search index row of these handles.
    async fn delete_terms(conn: &mut Conn, handles: &[i64]) -> TxResult<()> {
        for chunk in handles.chunks(TERM_CHUNK) {
            let mut qb = QueryBuilder::<Db>::new("DELETE FROM devlog_terms WHERE handle IN (");
            let mut sep = qb.separated(", ");
            for h in chunk {
                sep.push_bind(*h);
            }
            qb.push(")");
            qb.build().execute(&mut *conn).await?;
        }
        Ok(())
    }

    /// Appends events to the change feed with the next sequence numbers; the feed row stays
    /// locked until the transaction ends (see the module docs for why).
    ///
    /// The write's audit records (`crate::audit`) are appended last, still under the feed's
    /// row lock: every writer with events takes it, so the head read here is the last one
    /// and concurrent writers never fork the chain.
    async fn insert_events(conn: &mut Conn, events: &[Event], source: &Source) -> TxResult<()> {
        if events.is_empty() {
            return Ok(());
        }
        Self::insert_events_only(conn, events).await?;
        Self::append_audit(conn, Draft::of_events(events, source))
            .await
            .map(|_| ())
    }

    /// The last record's head.
    async fn audit_head_in(conn: &mut Conn) -> TxResult<Head> {
        let last: Option<(i64, String)> =
            sqlx::query_as("SELECT seq, record FROM devlog_audit ORDER BY seq DESC LIMIT 1")
                .fetch_optional(&mut *conn)
                .await?;
        Ok(match last {
            Some((seq, text)) => crate::audit::head_of(seq as u64, &text),
            None => Head::default(),
        })
    }

    /// Appends action drafts under the feed's row lock (which every audited write takes),
    /// leaving out remote effects already recorded.
    async fn append_actions_once(&self, drafts: &[Draft]) -> TxResult<Vec<AuditRecord>> {
        let mut lease = self.lease().await?;
        let mut tx = sqlx::Connection::begin(&mut *lease).await?;
        let done = async {
            Self::lock_counter(&mut tx, "feed").await?;
            let mut known = Vec::new();
            for d in drafts {
                let Some(id) = d.effect_id() else { continue };
                let mut qb =
                    QueryBuilder::<Db>::new("SELECT record FROM devlog_audit WHERE entry_id = ");
                qb.push_bind(crate::audit::entry_column(d.entry_id))
                    .push(" AND record LIKE ")
                    .push_bind(crate::audit::EFFECT_LIKE);
                let rows: Vec<String> = qb.build_query_scalar().fetch_all(&mut *tx).await?;
                known.extend(crate::audit::effect_ids_in(&rows, &[id]));
            }
            let fresh = crate::audit::fresh(drafts.to_vec(), known);
            if fresh.is_empty() {
                return Ok(Done::Unchanged(Vec::new()));
            }
            Ok(Done::Write(Self::append_audit(&mut tx, fresh).await?))
        }
        .await;
        finish(tx, done).await
    }

    async fn checkpoint_once(
        &self,
        key: &devlog_core::audit::AuditKey,
        at: Timestamp,
        actor: &Option<String>,
        origin: devlog_core::event::Origin,
    ) -> TxResult<Option<AuditRecord>> {
        let mut lease = self.lease().await?;
        let mut tx = sqlx::Connection::begin(&mut *lease).await?;
        let done = async {
            Self::lock_counter(&mut tx, "feed").await?;
            let last: Option<(i64, String)> =
                sqlx::query_as("SELECT seq, record FROM devlog_audit ORDER BY seq DESC LIMIT 1")
                    .fetch_optional(&mut *tx)
                    .await?;
            let (head, last) = crate::audit::last_of(last);
            match devlog_core::audit::checkpoint_after(
                last.as_ref(),
                &head,
                key,
                at,
                actor.clone(),
                origin,
            ) {
                Some(d) => Ok(Done::Write(
                    Self::append_audit(&mut tx, vec![d]).await?.pop(),
                )),
                None => Ok(Done::Unchanged(None)),
            }
        }
        .await;
        finish(tx, done).await
    }

    /// Appends audit records after the table's last one (the caller holds the feed lock).
    /// There is no UPDATE or DELETE of `devlog_audit` anywhere.
    async fn append_audit(conn: &mut Conn, drafts: Vec<Draft>) -> TxResult<Vec<AuditRecord>> {
        if drafts.is_empty() {
            return Ok(Vec::new());
        }
        let head = Self::audit_head_in(&mut *conn).await?;
        let records = chain(&head, drafts);
        for chunk in records.chunks(EVENT_CHUNK) {
            let lines: Vec<String> = chunk.iter().map(AuditRecord::to_line).collect();
            let bytes = lines.iter().map(|l| l.len() + 128).sum();
            Self::check_size(conn, bytes, "the audit records of the write").await?;
            let mut qb = QueryBuilder::<Db>::new(
                "INSERT INTO devlog_audit (seq, at, entry_id, actor, record) ",
            );
            let mut lines = lines.into_iter();
            qb.push_values(chunk, |mut b, r| {
                b.push_bind(r.seq as i64)
                    .push_bind(r.at.millis())
                    .push_bind(crate::audit::entry_column(r.entry_id))
                    .push_bind(r.actor.clone())
                    .push_bind(lines.next().expect("one line per record"));
            });
            qb.build().execute(&mut *conn).await?;
        }
        Ok(records)
    }

    async fn insert_events_only(conn: &mut Conn, events: &[Event]) -> TxResult<()> {
        let mut qb = QueryBuilder::<Db>::new("UPDATE devlog_counters SET value = value + ");
        qb.push_bind(events.len() as i64)
            .push(" WHERE name = 'feed'");
        qb.build().execute(&mut *conn).await?;
        let end: i64 = sqlx::query_scalar("SELECT value FROM devlog_counters WHERE name = 'feed'")
            .fetch_one(&mut *conn)
            .await?;
        let mut seq = end - events.len() as i64;
        for chunk in events.chunks(EVENT_CHUNK) {
            let payloads: Vec<String> = chunk
                .iter()
                .map(|ev| serde_json::to_string(ev).expect("events serialize"))
                .collect();
            let bytes = payloads.iter().map(|p| p.len() + 64).sum();
            Self::check_size(conn, bytes, "the change feed record of the write").await?;
            let mut qb = QueryBuilder::<Db>::new(
                "INSERT INTO devlog_events (seq, entry_id, at, kind, payload) ",
            );
            let mut payloads = payloads.into_iter();
            qb.push_values(chunk, |mut b, ev| {
                seq += 1;
                let payload = payloads.next().expect("one payload per event");
                b.push_bind(seq)
                    .push_bind(ev.entry_id.to_string())
                    .push_bind(ev.at.millis())
                    .push_bind(ev.kind.name())
                    .push_bind(payload);
            });
            qb.build().execute(&mut *conn).await?;
        }
        Ok(())
    }

    fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// `refresh_statistics` after a batch: the batch is stored whatever this says, so a
    /// failure (a role that may not `ANALYZE`) is a warning, not the write's error.
    async fn refresh_statistics(&self) {
        let refreshed = match self.lease().await {
            Ok(mut conn) => refresh_statistics(&mut conn).await,
            Err(e) => Err(e),
        };
        match refreshed {
            Ok(true) => tracing::debug!("{BACKEND}: vacuumed and analyzed after a bulk load"),
            Ok(false) => {}
            Err(e) => tracing::warn!(
                "{BACKEND}: could not vacuum and analyze the entries after a bulk load \
                 (queries may be slow until the server's autovacuum does): {}",
                self.fail(TxErr::Db(e))
            ),
        }
    }

    // ---- one attempt of each write --------------------------------------------------------

    async fn create_once(
        &self,
        mut entry: Entry,
        dedupe: bool,
        meta: &WriteMeta,
    ) -> TxResult<Created> {
        let mut lease = self.lease().await?;
        let mut tx = sqlx::Connection::begin(&mut *lease).await?;
        let done = async {
            Self::lock_counter(&mut tx, "entries").await?;
            if dedupe
                && let Some(existing) = self
                    .open_duplicate(&mut tx, &entry.title, entry.kind)
                    .await?
            {
                return Ok(Done::Unchanged(Created::Existing(existing)));
            }
            entry.handle = Self::next_handle(&mut tx).await?;
            entry.key = Self::unique_key(&mut tx, &entry.key, entry.id).await?;
            Self::write_row(&mut tx, &entry, None, StoredTerms::Compare).await?;
            let events = Event::for_change(None, Some(&entry), self.now(), meta);
            Self::insert_events(&mut tx, &events, &meta.source).await?;
            Ok(Done::Write(Created::New(entry)))
        }
        .await;
        finish(tx, done).await
    }

    async fn update_once(
        &self,
        id: EntryId,
        meta: &WriteMeta,
        f: &mut Mutation<'_>,
    ) -> TxResult<Entry> {
        let mut lease = self.lease().await?;
        let mut tx = sqlx::Connection::begin(&mut *lease).await?;
        let done = async {
            let old = self
                .doc_in(&mut tx, id, true)
                .await?
                .ok_or_else(|| StoreError::not_found(id.to_string()))?;
            let mut new = old.clone();
            f(&mut new)?;
            if new == old {
                return Ok(Done::Unchanged(old));
            }
            // Identity is not editable through update.
            new.id = old.id;
            new.handle = old.handle;
            Self::write_row(&mut tx, &new, Some(old.handle), StoredTerms::Compare).await?;
            let events = Event::for_change(Some(&old), Some(&new), self.now(), meta);
            Self::insert_events(&mut tx, &events, &meta.source).await?;
            Ok(Done::Write(new))
        }
        .await;
        finish(tx, done).await
    }

    async fn delete_once(&self, id: EntryId, meta: &WriteMeta) -> TxResult<()> {
        let mut lease = self.lease().await?;
        let mut tx = sqlx::Connection::begin(&mut *lease).await?;
        let done = async {
            let old = self
                .doc_in(&mut tx, id, true)
                .await?
                .ok_or_else(|| StoreError::not_found(id.to_string()))?;
            let mut qb = QueryBuilder::<Db>::new("DELETE FROM devlog_entries WHERE id = ");
            qb.push_bind(id.to_string());
            qb.build().execute(&mut *tx).await?;
            Self::delete_terms(&mut tx, &[old.handle as i64]).await?;
            let events = Event::for_change(Some(&old), None, self.now(), meta);
            Self::insert_events(&mut tx, &events, &meta.source).await?;
            Ok(Done::Write(()))
        }
        .await;
        finish(tx, done).await
    }

    async fn put_raw_once(&self, entry: Entry, meta: &WriteMeta) -> TxResult<PutOutcome> {
        let mut outcomes = self.put_raw_batch_once(vec![entry], meta).await?;
        Ok(outcomes.pop().expect("one outcome per entry"))
    }

    /// `put_raw` of every entry in one transaction: the entries counter is locked once, each
    /// entry is written as `put_raw` writes it (seeing the batch's earlier entries), and their
    /// events go to the feed together at the end (the feed lock last, as in every write).
    /// Rolled back, and nothing stored, if any entry fails; rolled back too when nothing
    /// changed.
    async fn put_raw_batch_once(
        &self,
        entries: Vec<Entry>,
        meta: &WriteMeta,
    ) -> TxResult<Vec<PutOutcome>> {
        let mut lease = self.lease().await?;
        let mut tx = sqlx::Connection::begin(&mut *lease).await?;
        let done = async {
            Self::lock_counter(&mut tx, "entries").await?;
            // What the database holds of the batch's ids and handles, read once: an entry
            // whose id and handle are in neither the table nor the batch so far skips the
            // checks that could only find nothing (its old document, whether its handle is
            // taken) and, when its handle has no word index rows, their comparison; any other
            // entry goes the long way.
            let known = Self::known_of(&mut tx, &entries).await?;
            let chunk_bytes = if entries.len() > 1 {
                Self::row_chunk_bytes(&mut tx).await?
            } else {
                ROW_CHUNK_BYTES
            };
            let mut written_ids = std::collections::HashSet::new();
            let mut written_handles = std::collections::HashSet::new();
            let mut written_keys = std::collections::HashSet::new();
            let mut pending = Pending::default();
            let mut outcomes = Vec::with_capacity(entries.len());
            let mut events = Vec::new();
            for mut entry in entries {
                let id = entry.id.to_string();
                let new = entry.handle != 0
                    && !known.ids.contains(&id)
                    && !known.handles.contains(&entry.handle)
                    && !written_ids.contains(&id)
                    && !written_handles.contains(&entry.handle);
                // A new entry whose key no row can hold and whose handle has no word index
                // rows waits in `pending` for a multi-row INSERT; any other entry first
                // writes what waits, since it reads the entries table.
                let key = key_form(&entry.key);
                let batched = new
                    && !known.indexed.contains(&entry.handle)
                    && !known.keys.contains(key)
                    && !written_keys.contains(key);
                if batched {
                    let row = RowText::of(&entry)?;
                    Self::check_size(&mut tx, row.bytes, "the entry").await?;
                    let bytes = row.bytes + ROW_FRAMING;
                    if pending.rows.len() == ROW_CHUNK || pending.bytes + bytes > chunk_bytes {
                        Self::insert_rows(&mut tx, &mut pending).await?;
                    }
                    written_ids.insert(id);
                    written_handles.insert(entry.handle);
                    written_keys.insert(key.to_string());
                    if meta.origin != Origin::Migrate {
                        events.extend(Event::for_change(None, Some(&entry), self.now(), meta));
                    }
                    pending.bytes += bytes;
                    pending.rows.push((entry, row));
                    outcomes.push(PutOutcome::Inserted);
                    continue;
                }
                Self::insert_rows(&mut tx, &mut pending).await?;
                let old = if new {
                    None
                } else {
                    self.doc_in(&mut tx, entry.id, true).await?
                };
                if old.as_ref() == Some(&entry) {
                    outcomes.push(PutOutcome::Unchanged);
                    continue;
                }
                if !new
                    && (entry.handle == 0
                        || Self::handle_taken(&mut tx, entry.handle, entry.id).await?)
                {
                    entry.handle = Self::next_handle(&mut tx).await?;
                }
                entry.key = Self::unique_key(&mut tx, &entry.key, entry.id).await?;
                let stored = if new && !known.indexed.contains(&entry.handle) {
                    StoredTerms::None
                } else {
                    StoredTerms::Compare
                };
                Self::write_row(&mut tx, &entry, old.as_ref().map(|o| o.handle), stored).await?;
                written_ids.insert(id);
                written_handles.insert(entry.handle);
                written_keys.insert(key_form(&entry.key).to_string());
                // Migration copies the source's change feed instead of inventing events.
                if meta.origin != Origin::Migrate {
                    events.extend(Event::for_change(
                        old.as_ref(),
                        Some(&entry),
                        self.now(),
                        meta,
                    ));
                }
                outcomes.push(if old.is_some() {
                    PutOutcome::Replaced
                } else {
                    PutOutcome::Inserted
                });
            }
            Self::insert_rows(&mut tx, &mut pending).await?;
            Self::insert_events(&mut tx, &events, &meta.source).await?;
            Ok(if outcomes.iter().all(|o| *o == PutOutcome::Unchanged) {
                Done::Unchanged(outcomes)
            } else {
                Done::Write(outcomes)
            })
        }
        .await;
        finish(tx, done).await
    }

    async fn append_events_once(&self, events: &[Event]) -> TxResult<()> {
        let mut lease = self.lease().await?;
        let mut tx = sqlx::Connection::begin(&mut *lease).await?;
        let done = async {
            Self::insert_events(&mut tx, events, &Source::default()).await?;
            Ok(Done::Write(()))
        }
        .await;
        finish(tx, done).await
    }

    // ---- reads ------------------------------------------------------------------------------

    /// The entries that pass `f`, counted up to `cap + 1` (a count that stops early costs
    /// the same whatever the table's size).
    async fn count_where(&self, f: &Filter, cap: usize) -> Result<usize> {
        let mut qb = QueryBuilder::<Db>::new(
            "SELECT COUNT(*) FROM (SELECT 1 AS one FROM devlog_entries e WHERE 1=1",
        );
        push_filter(&mut qb, f);
        qb.push(" LIMIT ")
            .push_bind(sql_limit(cap.saturating_add(1)))
            .push(") capped");
        let n: i64 = qb
            .build_query_scalar()
            .fetch_one(&mut *self.lease().await.map_err(self.err())?)
            .await
            .map_err(self.err())?;
        Ok(n as usize)
    }

    /// The indexed terms that start with `word` (distinct, in order), read by jumping from
    /// one term to the next in the postings index (`TERMS_BY_LOOSE_SCAN`: MariaDB does it
    /// for `DISTINCT`; PostgreSQL 15 has no skip scan, so a recursive `MIN(term) > previous`
    /// does, which MariaDB runs as a scan); `None` when there are more than
    /// `MAX_EXPANSIONS` (the word is then matched by a term range, which cannot be read in
    /// handle order).
    async fn expand(&self, word: &str) -> Result<Option<Vec<String>>> {
        let (lo, hi) = term_range(word);
        let mut qb;
        if TERMS_BY_LOOSE_SCAN {
            qb = QueryBuilder::<Db>::new("SELECT DISTINCT term FROM devlog_terms WHERE term >= ");
            qb.push_bind(lo)
                .push(" AND term < ")
                .push_bind(hi)
                .push(" ORDER BY term LIMIT ")
                .push_bind(MAX_EXPANSIONS as i64 + 1);
        } else {
            qb = QueryBuilder::<Db>::new(
                "WITH RECURSIVE t (term, n) AS (SELECT MIN(term), 1 FROM devlog_terms \
                 WHERE term >= ",
            );
            qb.push_bind(lo)
                .push(" AND term < ")
                .push_bind(hi.clone())
                .push(
                    " UNION ALL SELECT (SELECT MIN(x.term) FROM devlog_terms x \
                     WHERE x.term > t.term AND x.term < ",
                )
                .push_bind(hi)
                .push("), n + 1 FROM t WHERE t.term IS NOT NULL AND n <= ")
                .push_bind(MAX_EXPANSIONS as i64)
                .push(") SELECT term FROM t WHERE term IS NOT NULL");
        }
        let terms: Vec<String> = qb
            .build_query_scalar()
            .fetch_all(&mut *self.lease().await.map_err(self.err())?)
            .await
            .map_err(self.err())?;
        Ok((terms.len() <= MAX_EXPANSIONS).then_some(terms))
    }

    /// The newest `want` matches of a search, newest first, each with its score. A window of
    /// the newest handles is searched first and widened eightfold until it holds `want`
    /// matches or covers every entry: a word in most entries is answered from the first
    /// window, a rare one from a few index entries, and neither reads every match.
    async fn newest_matches(
        &self,
        words: &[WordTerms],
        filter: &Filter,
        want: usize,
    ) -> Result<Vec<(i64, f64)>> {
        let top: Option<i64> = sqlx::query_scalar("SELECT MAX(handle) FROM devlog_entries")
            .fetch_one(&mut *self.lease().await.map_err(self.err())?)
            .await
            .map_err(self.err())?;
        let top = top.unwrap_or(0);
        let mut span = sql_limit(want).saturating_mul(4);
        loop {
            let lower = top.saturating_sub(span);
            let mut qb = QueryBuilder::<Db>::new("");
            push_window_matches(&mut qb, words, filter, (lower > 0).then_some(lower), want);
            let rows = qb
                .build()
                .fetch_all(&mut *self.lease().await.map_err(self.err())?)
                .await
                .map_err(self.err())?;
            if rows.len() >= want || lower <= 0 {
                let mut found = Vec::with_capacity(rows.len());
                for r in &rows {
                    let handle: i64 = r.try_get("handle").map_err(self.err())?;
                    let mut score = 0.0;
                    for i in 0..words.len() {
                        let w: Option<f64> =
                            r.try_get(format!("s{i}").as_str()).map_err(self.err())?;
                        score += word_score(w.unwrap_or(0.0));
                    }
                    found.push((handle, score));
                }
                return Ok(found);
            }
            span = span.saturating_mul(8);
        }
    }

    /// Indexes the entries queued in `devlog_terms_pending` (every entry of a database that
    /// had no search index yet, see the migration that created it), 500 per transaction,
    /// logging progress. Concurrent openers take turns on the queue's rows; entry rows are
    /// locked while their terms are written, so a concurrent write is not overwritten.
    async fn index_pending(&self) -> Result<()> {
        let mut lease = self.lease().await.map_err(self.err())?;
        let pending: Option<i64> =
            sqlx::query_scalar("SELECT handle FROM devlog_terms_pending LIMIT 1")
                .fetch_optional(&mut *lease)
                .await
                .map_err(self.err())?;
        if pending.is_none() {
            return Ok(());
        }
        let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM devlog_terms_pending")
            .fetch_one(&mut *lease)
            .await
            .map_err(self.err())?;
        tracing::info!(store = %self.url, "indexing {total} entries for search (once, after an upgrade)");
        let mut done = 0usize;
        let mut attempt = 0;
        loop {
            match self.index_pending_batch(&mut lease).await {
                Ok(0) => break,
                Ok(n) => {
                    done += n;
                    attempt = 0;
                    tracing::info!(store = %self.url, "indexed {done} of {total} entries for search");
                }
                Err(TxErr::Db(e)) if attempt < RETRIES && classify(&e) == Class::Retry => {
                    attempt += 1;
                }
                Err(e) => return Err(self.fail(e)),
            }
        }
        Ok(())
    }

    async fn index_pending_batch(&self, conn: &mut Conn) -> TxResult<usize> {
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        let done = async {
            let handles: Vec<i64> = sqlx::query_scalar(
                "SELECT handle FROM devlog_terms_pending ORDER BY handle LIMIT 500 FOR UPDATE",
            )
            .fetch_all(&mut *tx)
            .await?;
            if handles.is_empty() {
                return Ok(Done::Unchanged(0));
            }
            let mut qb =
                QueryBuilder::<Db>::new("SELECT handle, doc FROM devlog_entries WHERE handle IN (");
            let mut sep = qb.separated(", ");
            for h in &handles {
                sep.push_bind(*h);
            }
            qb.push(") ORDER BY handle FOR UPDATE");
            let docs: Vec<(i64, String)> = qb.build_query_as().fetch_all(&mut *tx).await?;
            let mut terms = Vec::with_capacity(docs.len());
            for (h, doc) in &docs {
                terms.push((*h, index_terms(&self.decode_doc(doc)?.search_text())));
            }
            Self::delete_terms(&mut tx, &handles).await?;
            let rows: Vec<(i64, &str, f64)> = terms
                .iter()
                .flat_map(|(h, ts)| ts.iter().map(move |(t, w)| (*h, t.as_str(), *w)))
                .collect();
            Self::insert_terms(&mut tx, &rows).await?;
            let mut qb =
                QueryBuilder::<Db>::new("DELETE FROM devlog_terms_pending WHERE handle IN (");
            let mut sep = qb.separated(", ");
            for h in &handles {
                sep.push_bind(*h);
            }
            qb.push(")");
            qb.build().execute(&mut *tx).await?;
            Ok(Done::Write(handles.len()))
        }
        .await;
        finish(tx, done).await
    }

    fn summaries(&self, rows: &[Row_]) -> Result<Vec<EntrySummary>> {
        rows.iter()
            .map(|r| summary_from_row(r).map_err(|e| self.corrupt("bad row", e)))
            .collect()
    }

    /// Change-feed rows (`seq`, `payload`) as events.
    fn decode_events(&self, rows: Vec<Row_>) -> Result<Vec<Event>> {
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let seq: i64 = r.try_get("seq").map_err(self.err())?;
            let payload: String = r.try_get("payload").map_err(self.err())?;
            out.push(decode_event(seq, &payload, || {
                format!("{BACKEND} change feed at {}", self.url)
            })?);
        }
        Ok(out)
    }
}

/// One word of a search and the indexed terms it matches.
struct WordTerms {
    word: String,
    /// The terms that start with `word`, or `None` when there are too many to list.
    terms: Option<Vec<String>>,
}

/// `AND <col> ...` matching the terms of `w`.
fn push_terms(qb: &mut QueryBuilder<Db>, col: &str, w: &WordTerms) {
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

/// The query for the newest `want` matches with handles above `lower` (every handle when
/// `None`): rows of `handle` and, per word `i`, `s{i}`, the weight of the entry's heaviest
/// term that word matches. Two shapes, by dialect (`SEARCH_MERGES_POSTINGS`):
///
/// - PostgreSQL joins one postings stream per word on `handle`; each stream is read backwards
///   from the postings index (`term`, `handle`), so the planner merge-joins them and stops
///   after `want` rows — words in most entries cost about `want` index entries each.
/// - MySQL/MariaDB have no merge join: the postings of one word are read newest first and
///   every other word is looked up per entry in the primary key (`handle`, `term`) by
///   joins, which stop with the `LIMIT` (per-row subqueries did not: MariaDB evaluated them
///   for the whole window).
fn push_window_matches(
    qb: &mut QueryBuilder<Db>,
    words: &[WordTerms],
    filter: &Filter,
    lower: Option<i64>,
    want: usize,
) {
    let filtered = filter != &Filter::default();
    if SEARCH_MERGES_POSTINGS {
        qb.push("SELECT w0.handle");
        for i in 0..words.len() {
            qb.push(format_args!(", w{i}.s AS s{i}"));
        }
        qb.push(" FROM ");
        for (i, w) in words.iter().enumerate() {
            if i > 0 {
                qb.push(" JOIN ");
            }
            let single = w.terms.as_ref().is_some_and(|t| t.len() == 1);
            if single {
                qb.push("(SELECT handle, weight AS s FROM devlog_terms WHERE 1=1");
            } else {
                qb.push("(SELECT handle, MAX(weight) AS s FROM devlog_terms WHERE 1=1");
            }
            push_terms(qb, "term", w);
            if let Some(l) = lower {
                qb.push(" AND handle > ").push_bind(l);
            }
            if !single {
                qb.push(" GROUP BY handle");
            }
            qb.push(format_args!(") w{i}"));
            if i > 0 {
                qb.push(format_args!(" ON w{i}.handle = w0.handle"));
            }
        }
        if filtered {
            qb.push(" JOIN devlog_entries e ON e.handle = w0.handle");
        }
        qb.push(" WHERE 1=1");
        push_filter(qb, filter);
        qb.push(" ORDER BY w0.handle DESC LIMIT ")
            .push_bind(sql_limit(want));
        return;
    }
    // The driving word, read from the postings index newest first: one with a single term
    // if there is one (its postings come in handle order), the longest such (likely the
    // rarest); ties go to the first word.
    let rank = |w: &WordTerms| match &w.terms {
        Some(t) if t.len() == 1 => (1, w.word.chars().count()),
        _ => (0, w.word.chars().count()),
    };
    let driver = (0..words.len())
        .rev()
        .max_by_key(|&i| rank(&words[i]))
        .unwrap_or(0);
    let single = |w: &WordTerms| w.terms.as_ref().is_some_and(|t| t.len() == 1);
    // Each other word joins the primary key (handle, term) per driving row: one equality
    // lookup per term when it has a few (MariaDB reads a handle's whole key range when a
    // join condition is a list or a range), else the handle's rows in the term range.
    enum Probe<'a> {
        Single(&'a str),
        Few(&'a [String]),
        Range,
    }
    let mut tables = 1;
    let mut probes = Vec::with_capacity(words.len());
    for w in words {
        let probe = match &w.terms {
            Some(t) if t.len() == 1 => Probe::Single(&t[0]),
            Some(t) if t.len() <= MYSQL_FEW_TERMS && tables + t.len() <= MYSQL_JOIN_TABLES => {
                Probe::Few(t)
            }
            _ => Probe::Range,
        };
        tables += match probe {
            Probe::Few(t) => t.len(),
            _ => 1,
        };
        probes.push(probe);
    }
    let grouped = !single(&words[driver])
        || probes
            .iter()
            .enumerate()
            .any(|(i, p)| i != driver && matches!(p, Probe::Range));
    let agg = |e: String| if grouped { format!("MAX({e})") } else { e };
    qb.push("SELECT d.handle");
    for (i, p) in probes.iter().enumerate() {
        let e = if i == driver {
            "d.weight".to_string()
        } else {
            match p {
                Probe::Single(_) | Probe::Range => format!("t{i}.weight"),
                Probe::Few(t) => format!(
                    "GREATEST({})",
                    (0..t.len())
                        .map(|k| format!("COALESCE(t{i}_{k}.weight, 0)"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }
        };
        qb.push(format_args!(", {} AS s{i}", agg(e)));
    }
    qb.push(" FROM devlog_terms d");
    for (i, p) in probes.iter().enumerate() {
        if i == driver {
            continue;
        }
        match p {
            Probe::Single(t) => {
                qb.push(format_args!(
                    " JOIN devlog_terms t{i} ON t{i}.handle = d.handle AND t{i}.term = "
                ))
                .push_bind(t.to_string());
            }
            Probe::Few(t) => {
                for (k, term) in t.iter().enumerate() {
                    qb.push(format_args!(
                        " LEFT JOIN devlog_terms t{i}_{k} ON t{i}_{k}.handle = d.handle \
                         AND t{i}_{k}.term = "
                    ))
                    .push_bind(term.clone());
                }
            }
            Probe::Range => {
                let (lo, hi) = term_range(&words[i].word);
                qb.push(format_args!(
                    " JOIN devlog_terms t{i} ON t{i}.handle = d.handle AND t{i}.term >= "
                ))
                .push_bind(lo)
                .push(format_args!(" AND t{i}.term < "))
                .push_bind(hi);
            }
        }
    }
    if filtered {
        qb.push(" JOIN devlog_entries e ON e.handle = d.handle");
    }
    qb.push(" WHERE 1=1");
    push_terms(qb, "d.term", &words[driver]);
    if let Some(l) = lower {
        qb.push(" AND d.handle > ").push_bind(l);
    }
    for (i, p) in probes.iter().enumerate() {
        if let (Probe::Few(t), false) = (p, i == driver) {
            let any = (0..t.len())
                .map(|k| format!("t{i}_{k}.handle IS NOT NULL"))
                .collect::<Vec<_>>()
                .join(" OR ");
            qb.push(format_args!(" AND ({any})"));
        }
    }
    push_filter(qb, filter);
    if grouped {
        qb.push(" GROUP BY d.handle");
    }
    qb.push(" ORDER BY d.handle DESC LIMIT ")
        .push_bind(sql_limit(want));
}

/// MySQL/MariaDB: a search word with at most this many terms is looked up term by term.
const MYSQL_FEW_TERMS: usize = 8;

/// MySQL/MariaDB join at most 61 tables; the search's joins stay well below.
const MYSQL_JOIN_TABLES: usize = 40;

/// Adds `AND ...` conditions for a filter (the same conditions as the SQLite backend).
fn push_filter(qb: &mut QueryBuilder<Db>, f: &Filter) {
    fn in_list<T>(qb: &mut QueryBuilder<Db>, col: &str, vals: &[T], s: fn(&T) -> &'static str) {
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
    in_list(qb, "status", &f.status, |s| s.as_str());
    in_list(qb, "kind", &f.kind, |k| k.as_str());
    in_list(qb, "priority", &f.priority, |p| p.as_str());
    if let Some(a) = &f.assignee {
        qb.push(" AND e.assignee = ").push_bind(a.clone());
    }
    if let Some(t) = &f.tag {
        qb.push(" AND ");
        push_tag_filter(qb, t);
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

fn summary_from_row(r: &Row_) -> std::result::Result<EntrySummary, String> {
    let s = |c: &str| r.try_get::<String, _>(c).map_err(|e| format!("{c}: {e}"));
    let i = |c: &str| {
        r.try_get::<Option<i64>, _>(c)
            .map_err(|e| format!("{c}: {e}"))
    };
    let ts = |c: &str| -> std::result::Result<Option<Timestamp>, String> {
        Ok(i(c)?.and_then(Timestamp::from_millis))
    };
    let parse = |c: &str, e: InvalidValue| format!("{c}: {e}");
    Ok(EntrySummary {
        id: EntryId::from_str(&s("id")?).map_err(|e| format!("id: {e}"))?,
        handle: i("handle")?.ok_or("handle: missing")? as u64,
        key: s("entry_key")?,
        legacy_id: i("legacy_id")?.map(|v| v as u64),
        title: s("title")?,
        kind: s("kind")?.parse().map_err(|e| parse("kind", e))?,
        status: s("status")?.parse().map_err(|e| parse("status", e))?,
        priority: s("priority")?.parse().map_err(|e| parse("priority", e))?,
        assignee: r
            .try_get::<Option<String>, _>("assignee")
            .map_err(|e| format!("assignee: {e}"))?,
        tags: serde_json::from_str(&s("tags")?).map_err(|e| format!("tags: {e}"))?,
        created_at: ts("created_at")?.ok_or("created_at: missing")?,
        updated_at: ts("updated_at")?.ok_or("updated_at: missing")?,
        closed_at: ts("closed_at")?,
        due_date: r
            .try_get::<Option<String>, _>("due_date")
            .map_err(|e| format!("due_date: {e}"))?
            .map(|d| d.parse().map_err(|e| format!("due_date: {e}")))
            .transpose()?,
        milestone: r
            .try_get::<Option<String>, _>("milestone")
            .map_err(|e| format!("milestone: {e}"))?,
    })
}

#[async_trait]
impl AuditLog for ServerStore {
    async fn audit_page(&self, after: u64, limit: usize) -> Result<Vec<Stored>> {
        let mut qb = QueryBuilder::<Db>::new("SELECT seq, record FROM devlog_audit WHERE seq > ");
        qb.push_bind(i64::try_from(after).unwrap_or(i64::MAX))
            .push(" ORDER BY seq LIMIT ")
            .push_bind(i64::try_from(limit).unwrap_or(i64::MAX));
        let rows: Vec<(i64, String)> = qb
            .build_query_as()
            .fetch_all(&mut *self.lease().await.map_err(self.err())?)
            .await
            .map_err(self.err())?;
        Ok(rows
            .into_iter()
            .map(|(seq, text)| crate::audit::parse_stored(|| format!("row seq {seq}"), &text))
            .collect())
    }

    async fn audit_count(&self) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM devlog_audit")
            .fetch_one(&mut *self.lease().await.map_err(self.err())?)
            .await
            .map_err(self.err())?;
        Ok(n as u64)
    }

    async fn audit_append(&self, drafts: Vec<Draft>) -> Result<Vec<AuditRecord>> {
        if drafts.is_empty() {
            return Ok(Vec::new());
        }
        let mut attempt = 0;
        loop {
            let r = self.append_actions_once(&drafts).await;
            if retryable(&r, attempt) {
                attempt += 1;
                continue;
            }
            return r.map_err(|e| self.fail(e));
        }
    }

    async fn audit_checkpoint(
        &self,
        key: &devlog_core::audit::AuditKey,
        at: Timestamp,
        actor: Option<String>,
        origin: devlog_core::event::Origin,
    ) -> Result<Option<AuditRecord>> {
        let mut attempt = 0;
        loop {
            let r = self.checkpoint_once(key, at, &actor, origin).await;
            if retryable(&r, attempt) {
                attempt += 1;
                continue;
            }
            return r.map_err(|e| self.fail(e));
        }
    }

    async fn audit_head(&self) -> Result<Head> {
        let mut lease = self.lease().await.map_err(self.err())?;
        Self::audit_head_in(&mut lease)
            .await
            .map_err(|e| self.fail(e))
    }

    fn audit_location(&self) -> String {
        format!("table devlog_audit in {}", self.url.redacted())
    }
}

#[async_trait]
impl devlog_core::auth::TokenStore for ServerStore {
    async fn insert_token(&self, token: &devlog_core::auth::Token) -> Result<()> {
        let now = self.now();
        let mut lease = self.lease().await.map_err(self.err())?;
        let mut tx = sqlx::Connection::begin(&mut *lease)
            .await
            .map_err(self.err())?;
        // The entries counter's row lock serialises token creation too (a rare operation), so
        // two concurrent creates cannot both take a name.
        Self::lock_counter(&mut tx, "entries")
            .await
            .map_err(|e| self.fail(e))?;
        let mut qb =
            QueryBuilder::<Db>::new("SELECT revoked_at, doc FROM devlog_tokens WHERE name = ");
        qb.push_bind(token.name.as_str());
        let named: Vec<(Option<i64>, String)> = qb
            .build_query_as()
            .fetch_all(&mut *tx)
            .await
            .map_err(self.err())?;
        for (revoked, doc) in named {
            let t: devlog_core::auth::Token = serde_json::from_str(&doc)
                .map_err(|e| self.corrupt("a stored API token does not parse", e))?;
            if revoked.is_none() && t.is_active(now) {
                return Err(crate::tokens::name_taken(token));
            }
        }
        let mut qb = QueryBuilder::<Db>::new(
            "INSERT INTO devlog_tokens (id, name, created_at, last_used_at, revoked_at, doc) VALUES (",
        );
        qb.push_bind(token.id.as_str())
            .push(", ")
            .push_bind(token.name.as_str())
            .push(", ")
            .push_bind(token.created_at.millis())
            .push(", ")
            .push_bind(token.last_used_at.map(|t| t.millis()))
            .push(", ")
            .push_bind(token.revoked_at.map(|t| t.millis()))
            .push(", ")
            .push_bind(crate::tokens::doc_of(token))
            .push(")");
        qb.build().execute(&mut *tx).await.map_err(self.err())?;
        tx.commit().await.map_err(self.err())
    }

    async fn list_tokens(&self) -> Result<Vec<devlog_core::auth::Token>> {
        let rows: Vec<(String, Option<i64>, Option<i64>)> = sqlx::query_as(
            "SELECT doc, last_used_at, revoked_at FROM devlog_tokens ORDER BY created_at, id",
        )
        .fetch_all(&mut *self.lease().await.map_err(self.err())?)
        .await
        .map_err(self.err())?;
        rows.into_iter().map(|r| self.token_of(r)).collect()
    }

    async fn get_token(
        &self,
        id: &devlog_core::auth::TokenId,
    ) -> Result<Option<devlog_core::auth::Token>> {
        let mut qb = QueryBuilder::<Db>::new(
            "SELECT doc, last_used_at, revoked_at FROM devlog_tokens WHERE id = ",
        );
        qb.push_bind(id.as_str());
        let row: Option<(String, Option<i64>, Option<i64>)> = qb
            .build_query_as()
            .fetch_optional(&mut *self.lease().await.map_err(self.err())?)
            .await
            .map_err(self.err())?;
        row.map(|r| self.token_of(r)).transpose()
    }

    async fn revoke_token(&self, id: &devlog_core::auth::TokenId, at: Timestamp) -> Result<bool> {
        let mut qb = QueryBuilder::<Db>::new("UPDATE devlog_tokens SET revoked_at = ");
        qb.push_bind(at.millis())
            .push(" WHERE id = ")
            .push_bind(id.as_str())
            .push(" AND revoked_at IS NULL");
        let done = qb
            .build()
            .execute(&mut *self.lease().await.map_err(self.err())?)
            .await
            .map_err(self.err())?;
        if done.rows_affected() == 1 {
            return Ok(true);
        }
        match devlog_core::auth::TokenStore::get_token(self, id).await? {
            Some(_) => Ok(false),
            None => Err(StoreError::not_found(format!("token {id}"))),
        }
    }

    async fn touch_token(&self, id: &devlog_core::auth::TokenId, at: Timestamp) -> Result<()> {
        let mut qb = QueryBuilder::<Db>::new("UPDATE devlog_tokens SET last_used_at = ");
        qb.push_bind(at.millis())
            .push(" WHERE id = ")
            .push_bind(id.as_str())
            .push(" AND (last_used_at IS NULL OR last_used_at < ")
            .push_bind(at.millis())
            .push(")");
        qb.build()
            .execute(&mut *self.lease().await.map_err(self.err())?)
            .await
            .map_err(self.err())?;
        Ok(())
    }

    async fn has_tokens(&self) -> Result<bool> {
        let one: Option<i32> = sqlx::query_scalar("SELECT 1 FROM devlog_tokens LIMIT 1")
            .fetch_optional(&mut *self.lease().await.map_err(self.err())?)
            .await
            .map_err(self.err())?;
        Ok(one.is_some())
    }

    fn token_location(&self) -> String {
        format!("table devlog_tokens in {}", self.url.redacted())
    }
}

impl ServerStore {
    fn token_of(
        &self,
        (doc, last_used, revoked): (String, Option<i64>, Option<i64>),
    ) -> Result<devlog_core::auth::Token> {
        let mut t: devlog_core::auth::Token = serde_json::from_str(&doc)
            .map_err(|e| self.corrupt("a stored API token does not parse", e))?;
        t.last_used_at = last_used.and_then(Timestamp::from_millis);
        t.revoked_at = revoked.and_then(Timestamp::from_millis);
        Ok(t)
    }
}

#[async_trait]
impl Store for ServerStore {
    fn audit_log(&self) -> Option<&dyn AuditLog> {
        Some(self)
    }

    fn tokens(&self) -> Option<&dyn devlog_core::auth::TokenStore> {
        Some(self)
    }

    fn describe(&self) -> StoreInfo {
        StoreInfo {
            backend: BACKEND,
            location: self.url.redacted().to_string(),
        }
    }

    fn listen(&self) -> Option<Box<dyn devlog_core::FeedListener>> {
        listen(&self.url, &self.opts)
    }

    async fn create(&self, entry: Entry, dedupe: bool, meta: &WriteMeta) -> Result<Created> {
        let mut attempt = 0;
        loop {
            let r = self.create_once(entry.clone(), dedupe, meta).await;
            if !retryable(&r, attempt) {
                return r.map_err(|e| self.fail(e));
            }
            attempt += 1;
        }
    }

    async fn get(&self, id: EntryId) -> Result<Entry> {
        let mut qb = QueryBuilder::<Db>::new("SELECT doc FROM devlog_entries WHERE id = ");
        qb.push_bind(id.to_string());
        let doc: Option<String> = qb
            .build_query_scalar()
            .fetch_optional(&mut *self.lease().await.map_err(self.err())?)
            .await
            .map_err(self.err())?;
        match doc {
            Some(d) => self.decode_doc(&d),
            None => Err(StoreError::not_found(id.to_string())),
        }
    }

    async fn lookup(&self, reference: &EntryRef) -> Result<Vec<EntrySummary>> {
        if REJECTS_NUL && let EntryRef::Key(k) | EntryRef::Prefix(k) = reference {
            reject_nul("reference", k)?;
        }
        // A reference that may match two columns is asked as two index lookups joined by
        // UNION: with `a = $1 OR b = $2 ORDER BY handle LIMIT 20` PostgreSQL walked the whole
        // handle index and filtered every row (420 ms for `devlog show 5` at 100,000 entries).
        let select = format!("SELECT {SUMMARY_COLS} FROM devlog_entries e WHERE ");
        let mut qb = QueryBuilder::<Db>::new(select.clone());
        match reference {
            EntryRef::Number(n) => {
                let n = i64::try_from(*n).unwrap_or(i64::MAX);
                qb.push("e.handle = ")
                    .push_bind(n)
                    .push(" UNION ")
                    .push(select)
                    .push("e.legacy_id = ")
                    .push_bind(n);
            }
            EntryRef::Id(id) => {
                qb.push("e.id = ").push_bind(id.to_string());
            }
            EntryRef::Prefix(p) => {
                // `p` is hex digits only (see EntryRef::parse), so LIKE sees no wildcard in it.
                qb.push("e.entry_key = ")
                    .push_bind(p.clone())
                    .push(" UNION ")
                    .push(select)
                    .push("e.id_hex LIKE ")
                    .push_bind(format!("{p}%"));
            }
            EntryRef::Key(k) => {
                qb.push("e.entry_key = ").push_bind(k.clone());
            }
        }
        qb.push(" ORDER BY handle LIMIT 20");
        let rows = qb
            .build()
            .fetch_all(&mut *self.lease().await.map_err(self.err())?)
            .await
            .map_err(self.err())?;
        self.summaries(&rows)
    }

    async fn update(&self, id: EntryId, meta: &WriteMeta, f: &mut Mutation<'_>) -> Result<Entry> {
        let mut attempt = 0;
        loop {
            let r = self.update_once(id, meta, f).await;
            if !retryable(&r, attempt) {
                return r.map_err(|e| self.fail(e));
            }
            attempt += 1;
        }
    }

    async fn delete(&self, id: EntryId, meta: &WriteMeta) -> Result<()> {
        let mut attempt = 0;
        loop {
            let r = self.delete_once(id, meta).await;
            if !retryable(&r, attempt) {
                return r.map_err(|e| self.fail(e));
            }
            attempt += 1;
        }
    }

    async fn list(&self, q: &ListQuery) -> Result<Page<EntrySummary>> {
        check_filter(&q.filter)?;
        let mut qb = QueryBuilder::<Db>::new(format!(
            "SELECT {SUMMARY_COLS} FROM devlog_entries e WHERE 1=1"
        ));
        push_filter(&mut qb, &q.filter);
        let dir = if q.ascending { "ASC" } else { "DESC" };
        let order = match q.sort {
            SortKey::Updated => format!("e.updated_at {dir}"),
            SortKey::Created => format!("e.created_at {dir}"),
            SortKey::Priority => format!("e.priority_rank {dir}, e.updated_at {dir}"),
            SortKey::Status => format!("e.status_rank {dir}, e.updated_at {dir}"),
            SortKey::Title => format!("{TITLE_ORDER} {dir}"),
            SortKey::Handle => format!("e.handle {dir}"),
            SortKey::Due => format!("e.due_date IS NULL, e.due_date {dir}"),
        };
        qb.push(format_args!(" ORDER BY {order}, e.handle {dir} LIMIT "))
            .push_bind(sql_limit(q.limit))
            .push(" OFFSET ")
            .push_bind(sql_limit(q.offset));
        let rows = qb
            .build()
            .fetch_all(&mut *self.lease().await.map_err(self.err())?)
            .await
            .map_err(self.err())?;
        let items = self.summaries(&rows)?;
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

    async fn search(&self, q: &SearchQuery) -> Result<Page<SearchHit>> {
        check_filter(&q.filter)?;
        let words = search_words(&q.text);
        let empty = || Page {
            items: Vec::new(),
            total: 0,
            offset: q.offset,
            limit: q.limit,
            total_is_estimate: false,
        };
        if words.is_empty() {
            return Ok(empty());
        }
        let mut terms = Vec::with_capacity(words.len());
        for word in &words {
            let t = self.expand(word).await?;
            if t.as_ref().is_some_and(Vec::is_empty) {
                // A word no entry has: nothing matches every word.
                return Ok(empty());
            }
            terms.push(WordTerms {
                word: word.clone(),
                terms: t,
            });
        }
        // As in the SQLite index (`SqlIndex::search`): the newest `cap + 1` matches give the
        // capped total, and when there are more, only the newest `cap` are ranked.
        let cap = count_cap(q.offset, q.limit);
        let mut hits = self.newest_matches(&terms, &q.filter, cap + 1).await?;
        let estimate = hits.len() > cap;
        let total = hits.len().min(cap) as u64;
        if estimate {
            if cap == TOTAL_CAP {
                hits.truncate(cap);
            } else {
                // Pages past TOTAL_CAP rank every match: paging through all of them sees
                // one order.
                hits = self.newest_matches(&terms, &q.filter, usize::MAX).await?;
            }
        }
        hits.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let page: Vec<(i64, f64)> = hits.into_iter().skip(q.offset).take(q.limit).collect();
        let mut rows = Vec::new();
        if !page.is_empty() {
            let mut qb = QueryBuilder::<Db>::new(format!(
                "SELECT {SUMMARY_COLS}, {SEARCH_COLS} FROM devlog_entries e WHERE e.handle IN ("
            ));
            let mut sep = qb.separated(", ");
            for (h, _) in &page {
                sep.push_bind(*h);
            }
            qb.push(")");
            rows = qb
                .build()
                .fetch_all(&mut *self.lease().await.map_err(self.err())?)
                .await
                .map_err(self.err())?;
        }
        let mut by_handle = std::collections::HashMap::with_capacity(rows.len());
        for row in &rows {
            let h: i64 = row.try_get("handle").map_err(self.err())?;
            by_handle.insert(h, row);
        }
        let mut items = Vec::with_capacity(page.len());
        for (h, score) in page {
            // An entry deleted since its terms were read is left out.
            let Some(row) = by_handle.get(&h) else {
                continue;
            };
            let mut fields = Vec::with_capacity(4);
            for c in [
                "search_title",
                "search_description",
                "search_notes",
                "search_context",
            ] {
                fields.push(row.try_get::<String, _>(c).map_err(self.err())?);
            }
            let fields: Vec<&str> = fields.iter().map(String::as_str).collect();
            items.push(SearchHit {
                entry: summary_from_row(row).map_err(|e| self.corrupt("bad row", e))?,
                score,
                snippet: snippet(&fields, &words),
            });
        }
        Ok(Page {
            items,
            total,
            offset: q.offset,
            limit: q.limit,
            total_is_estimate: estimate,
        })
    }

    /// Statistics without reading every entry (docs/performance.md, "Statistics from kept
    /// counts"): the counts of `devlog_entry_counts` (migration 0024, kept by triggers in the
    /// transaction of every write) when the filter is about the counted values only, else one
    /// grouped count over the matching entries; then the median completion time as the one
    /// or two middle rows of the `devlog_entries_done_ms` index.
    async fn stats(&self, filter: &Filter) -> Result<Stats> {
        check_filter(filter)?;
        let from_counts = counts_answer(filter);
        let mut qb = QueryBuilder::<Db>::new(if from_counts {
            "SELECT e.status, e.kind, e.priority, e.assignee, e.n, e.done_n, e.done_ms \
             FROM devlog_entry_counts e WHERE e.n > 0"
                .to_string()
        } else {
            // Grouped on the assignee's hash: MySQL's collation would merge 'Ana' and 'ana'.
            format!(
                "SELECT e.status, e.kind, e.priority, MIN(e.assignee) AS assignee, \
                 COUNT(*) AS n, COUNT(e.done_ms) AS done_n, \
                 CAST(COALESCE(SUM(e.done_ms), 0) AS {SYNC_BIGINT}) AS done_ms \
                 FROM devlog_entries e WHERE 1=1"
            )
        });
        push_filter(&mut qb, filter);
        if !from_counts {
            qb.push(" GROUP BY e.status, e.kind, e.priority, COALESCE(MD5(e.assignee), '')");
        }
        let mut lease = self.lease().await.map_err(self.err())?;
        let rows = qb
            .build()
            .fetch_all(&mut *lease)
            .await
            .map_err(self.err())?;
        let mut b = StatsBuilder::default();
        for r in &rows {
            let text = |c: &str| r.try_get::<String, _>(c).map_err(|e| format!("{c}: {e}"));
            let int = |c: &str| r.try_get::<i64, _>(c).map_err(|e| format!("{c}: {e}"));
            let row = || -> std::result::Result<_, String> {
                let bad = |c: &str, e: InvalidValue| format!("{c}: {e}");
                Ok((
                    text("status")?.parse().map_err(|e| bad("status", e))?,
                    text("kind")?.parse().map_err(|e| bad("kind", e))?,
                    text("priority")?.parse().map_err(|e| bad("priority", e))?,
                    r.try_get::<Option<String>, _>("assignee")
                        .map_err(|e| format!("assignee: {e}"))?,
                    int("n")?.max(0) as u64,
                    int("done_n")?.max(0) as u64,
                    int("done_ms")?,
                ))
            };
            let (status, kind, priority, assignee, n, done_n, done_ms) =
                row().map_err(|e| self.corrupt("bad count row", e))?;
            b.add(status, kind, priority, assignee.as_deref(), n);
            b.completions(done_n, done_ms);
        }
        if let Some((offset, limit)) = median_window(b.completed()) {
            let mut qb = QueryBuilder::<Db>::new(
                "SELECT e.done_ms FROM devlog_entries e WHERE e.done_ms IS NOT NULL",
            );
            push_filter(&mut qb, filter);
            qb.push(" ORDER BY e.done_ms LIMIT ")
                .push_bind(limit as i64)
                .push(" OFFSET ")
                .push_bind(i64::try_from(offset).unwrap_or(i64::MAX));
            let middle: Vec<i64> = qb
                .build_query_scalar()
                .fetch_all(&mut *lease)
                .await
                .map_err(self.err())?;
            b.median_of(&middle);
        }
        Ok(b.finish())
    }

    /// Tag counts grouped in SQL, in one statement (one snapshot): a row per tag of the
    /// matching entries (`TAG_ROWS`), then the number without any (tag NULL); the documents
    /// are not read.
    async fn tag_counts(&self, filter: &Filter) -> Result<std::collections::BTreeMap<String, u64>> {
        check_filter(filter)?;
        let (tag, key) = TAG_KEY;
        let mut qb = QueryBuilder::<Db>::new(format!(
            "SELECT {tag} AS tag, COUNT(*) AS n {TAG_ROWS} WHERE 1=1"
        ));
        push_filter(&mut qb, filter);
        qb.push(format_args!(
            " GROUP BY {key} UNION ALL SELECT NULL, COUNT(*) FROM devlog_entries e WHERE {NO_TAGS}"
        ));
        push_filter(&mut qb, filter);
        let rows: Vec<(Option<String>, i64)> = qb
            .build_query_as()
            .fetch_all(&mut *self.lease().await.map_err(self.err())?)
            .await
            .map_err(self.err())?;
        let mut out = std::collections::BTreeMap::new();
        for (t, n) in rows {
            if n > 0 {
                *out.entry(t.unwrap_or_else(|| NO_TAG.to_string()))
                    .or_default() += n as u64;
            }
        }
        Ok(out)
    }

    async fn events(&self, after: u64, limit: usize) -> Result<Vec<Event>> {
        let mut qb = QueryBuilder::<Db>::new("SELECT seq, payload FROM devlog_events WHERE seq > ");
        qb.push_bind(i64::try_from(after).unwrap_or(i64::MAX))
            .push(" ORDER BY seq LIMIT ")
            .push_bind(limit as i64);
        let rows = qb
            .build()
            .fetch_all(&mut *self.lease().await.map_err(self.err())?)
            .await
            .map_err(self.err())?;
        self.decode_events(rows)
    }

    async fn events_before(&self, before: Option<u64>, limit: usize) -> Result<Vec<Event>> {
        // Backwards along the primary key on `seq`.
        let mut qb = QueryBuilder::<Db>::new("SELECT seq, payload FROM devlog_events WHERE seq < ");
        qb.push_bind(seq_bound(before))
            .push(" ORDER BY seq DESC LIMIT ")
            .push_bind(i64::try_from(limit).unwrap_or(i64::MAX));
        let rows = qb
            .build()
            .fetch_all(&mut *self.lease().await.map_err(self.err())?)
            .await
            .map_err(self.err())?;
        let mut out = self.decode_events(rows)?;
        out.reverse();
        Ok(out)
    }

    async fn entry_events(
        &self,
        id: EntryId,
        after: u64,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<Event>> {
        // Backwards along `devlog_events_entry (entry_id, seq)` (migration 0001).
        let mut qb =
            QueryBuilder::<Db>::new("SELECT seq, payload FROM devlog_events WHERE entry_id = ");
        qb.push_bind(id.to_string())
            .push(" AND seq > ")
            .push_bind(i64::try_from(after).unwrap_or(i64::MAX))
            .push(" AND seq < ")
            .push_bind(seq_bound(before))
            .push(" ORDER BY seq DESC LIMIT ")
            .push_bind(i64::try_from(limit).unwrap_or(i64::MAX));
        let rows = qb
            .build()
            .fetch_all(&mut *self.lease().await.map_err(self.err())?)
            .await
            .map_err(self.err())?;
        let mut out = self.decode_events(rows)?;
        out.reverse();
        Ok(out)
    }

    async fn count_events(&self, after: u64, before: Option<u64>) -> Result<u64> {
        let mut qb = QueryBuilder::<Db>::new(format!(
            "SELECT COUNT(*) FROM {EVENTS_TO_COUNT} WHERE seq > "
        ));
        qb.push_bind(i64::try_from(after).unwrap_or(i64::MAX))
            .push(" AND seq < ")
            .push_bind(seq_bound(before));
        let n: i64 = qb
            .build_query_scalar()
            .fetch_one(&mut *self.lease().await.map_err(self.err())?)
            .await
            .map_err(self.err())?;
        Ok(n as u64)
    }

    async fn feed_id(&self) -> Result<Option<String>> {
        sqlx::query_scalar("SELECT value FROM devlog_meta WHERE name = 'feed_id'")
            .fetch_one(&mut *self.lease().await.map_err(self.err())?)
            .await
            .map(Some)
            .map_err(self.err())
    }

    async fn put_raw(&self, entry: Entry, meta: &WriteMeta) -> Result<PutOutcome> {
        let mut attempt = 0;
        loop {
            let r = self.put_raw_once(entry.clone(), meta).await;
            if !retryable(&r, attempt) {
                return r.map_err(|e| self.fail(e));
            }
            attempt += 1;
        }
    }

    /// One transaction for the whole batch (see `put_raw_batch_once`): a bulk load takes the
    /// entries counter's lock and commits once per batch instead of once per entry.
    async fn put_raw_batch(
        &self,
        entries: Vec<Entry>,
        meta: &WriteMeta,
    ) -> Result<Vec<PutOutcome>> {
        let mut attempt = 0;
        let outcomes = loop {
            let r = self.put_raw_batch_once(entries.clone(), meta).await;
            if !retryable(&r, attempt) {
                break r.map_err(|e| self.fail(e))?;
            }
            attempt += 1;
        };
        if outcomes.iter().any(|o| *o != PutOutcome::Unchanged) {
            self.refresh_statistics().await;
        }
        Ok(outcomes)
    }

    async fn append_events(&self, events: &[Event]) -> Result<()> {
        let mut attempt = 0;
        loop {
            let r = self.append_events_once(events).await;
            if !retryable(&r, attempt) {
                return r.map_err(|e| self.fail(e));
            }
            attempt += 1;
        }
    }

    async fn milestones(&self) -> Result<Vec<devlog_core::planning::Milestone>> {
        let docs: Vec<String> =
            sqlx::query_scalar("SELECT doc FROM devlog_milestones ORDER BY mkey")
                .fetch_all(&mut *self.lease().await.map_err(self.err())?)
                .await
                .map_err(self.err())?;
        docs.iter()
            .map(|d| {
                serde_json::from_str(d).map_err(|e| StoreError::Corrupt {
                    path: self.url.redacted().to_string(),
                    message: format!("a stored milestone does not parse: {e}"),
                    hint: "this version cannot read it; upgrade devlog".into(),
                })
            })
            .collect()
    }

    async fn put_milestone(
        &self,
        m: &devlog_core::planning::Milestone,
        create: bool,
    ) -> Result<()> {
        let value = serde_json::to_value(m).expect("a milestone always serializes");
        if REJECTS_NUL {
            reject_nul_in(&value, "the milestone")?;
        }
        let doc = value.to_string();
        let mut qb = if create {
            let mut qb =
                QueryBuilder::<Db>::new("INSERT INTO devlog_milestones (mkey, doc) VALUES (");
            qb.push_bind(m.key.as_str())
                .push(", ")
                .push_bind(doc)
                .push(")");
            qb
        } else {
            let mut qb = QueryBuilder::<Db>::new("UPDATE devlog_milestones SET doc = ");
            qb.push_bind(doc)
                .push(" WHERE mkey = ")
                .push_bind(m.key.as_str());
            qb
        };
        let done = qb
            .build()
            .execute(&mut *self.lease().await.map_err(self.err())?)
            .await;
        match done {
            Ok(r) if !create && r.rows_affected() == 0 => {
                Err(devlog_core::store::milestone_exists(m, false))
            }
            Ok(_) => Ok(()),
            Err(e)
                if create
                    && e.as_database_error()
                        .is_some_and(|d| d.is_unique_violation()) =>
            {
                Err(devlog_core::store::milestone_exists(m, true))
            }
            Err(e) => Err(self.err()(e)),
        }
    }

    async fn count(&self) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM devlog_entries")
            .fetch_one(&mut *self.lease().await.map_err(self.err())?)
            .await
            .map_err(self.err())?;
        Ok(n as u64)
    }

    async fn all(&self) -> Result<Vec<Entry>> {
        let docs: Vec<String> =
            sqlx::query_scalar("SELECT doc FROM devlog_entries ORDER BY handle, id")
                .fetch_all(&mut *self.lease().await.map_err(self.err())?)
                .await
                .map_err(self.err())?;
        docs.iter().map(|d| self.decode_doc(d)).collect()
    }

    async fn warnings(&self) -> Result<Vec<String>> {
        Ok(Vec::new())
    }
}
