//! The `postgres` backend: entries in a PostgreSQL database (12 or newer, for stored generated
//! columns; tested on 15).
//!
//! The store is the shared server implementation (`server/store_impl.rs`); this module is its
//! PostgreSQL dialect: connection options, error classes, and how search reads devlog's own
//! inverted index (`devlog_terms`, migration 0011, which replaced a `tsvector` with a GIN
//! index: GIN cannot read matches newest first, so a common word cost its whole bitmap).

use std::sync::LazyLock;

use sqlx::migrate::Migrator;
use sqlx::pool::PoolOptions;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgSslMode, Postgres};
use sqlx::{ConnectOptions, QueryBuilder};

use crate::server::{Class, MIGRATIONS_TABLE, ServerOptions, is_loopback};
use crate::url::DbUrl;

// The shared server store, compiled here against this dialect (and again for the other
// server): deliberate, so `clippy::duplicate_mod` is allowed.
#[allow(clippy::duplicate_mod)]
#[path = "server/store_impl.rs"]
mod imp;

/// Entries in a PostgreSQL database.
pub type PostgresStore = imp::ServerStore;

// The shared server sync state (`sync_state/server_impl.rs`), compiled here against this
// dialect like the store above.
#[allow(clippy::duplicate_mod)]
#[path = "sync_state/server_impl.rs"]
mod sync_imp;

/// The sync state in the `sync_*` tables of the store's database.
pub type PostgresSyncState = sync_imp::ServerSyncState;

/// Whether parameters are numbered (`$1`) rather than `?`.
const SYNC_DOLLAR_PARAMS: bool = true;

/// The database's clock in milliseconds since the Unix epoch, read when the statement runs:
/// job leases are computed from it, so machines whose clocks disagree agree on expiry.
const SYNC_DB_NOW_MS: &str = "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT";

/// An INSERT that does nothing when a unique key already holds the row: prefix and suffix.
const SYNC_INSERT_IGNORE: (&str, &str) = ("INSERT INTO", " ON CONFLICT DO NOTHING");

/// The integer type a `CAST` turns a sum into.
const SYNC_BIGINT: &str = "BIGINT";

type Db = Postgres;
type Conn = PgConnection;

const BACKEND: &str = "postgres";

/// PostgreSQL text cannot hold a NUL character: such input is rejected before it is sent.
const REJECTS_NUL: bool = true;

/// Case-insensitive title order, byte-wise like Rust's `str` ordering (not the database
/// locale's, which ignores punctuation and spaces).
const TITLE_ORDER: &str = "lower(e.title) COLLATE \"C\"";

/// The change feed as `count_events` reads it (an index-only scan of the primary key).
const EVENTS_TO_COUNT: &str = "devlog_events";

fn migrator() -> &'static Migrator {
    static MIGRATOR: LazyLock<Migrator> = LazyLock::new(|| {
        let mut m = sqlx::migrate!("./migrations/postgres");
        m.dangerous_set_table_name(MIGRATIONS_TABLE);
        m
    });
    &MIGRATOR
}

/// sqlx's migrator takes a PostgreSQL advisory lock itself: nothing more to do.
async fn lock_migrations(_conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    Ok(())
}

async fn unlock_migrations(_conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    Ok(())
}

fn connect_options(url: &DbUrl) -> Result<PgConnectOptions, sqlx::Error> {
    let mut opts: PgConnectOptions = url.expose().parse()?;
    // See `is_loopback`: `prefer` on loopback means plain TCP.
    if matches!(opts.get_ssl_mode(), PgSslMode::Prefer)
        && opts.get_socket().is_none()
        && is_loopback(opts.get_host())
    {
        opts = opts.ssl_mode(PgSslMode::Disable);
    }
    Ok(opts.application_name("devlog"))
}

async fn connect(opts: &PgConnectOptions) -> Result<PgConnection, sqlx::Error> {
    opts.connect().await
}

fn pool_options(opts: &ServerOptions) -> PoolOptions<Db> {
    PoolOptions::new()
        .max_connections(opts.max_connections)
        .min_connections(0)
        .acquire_timeout(opts.connect_timeout)
}

/// The channel the `devlog_events_notify` trigger (migration 0009) notifies with the newest
/// `seq` of each statement that appends to the change feed.
pub const FEED_CHANNEL: &str = "devlog_events";

/// How long the feed listener waits before connecting again after a failure, at most.
const LISTEN_RETRY_MAX: std::time::Duration = std::time::Duration::from_secs(30);

/// `LISTEN devlog_events` on a connection of its own (a pool of one, so it never takes one of
/// the store's connections), connected on the first `changed` and again after a failure.
#[derive(Debug)]
struct PgFeedListener {
    pool: sqlx::PgPool,
    listener: Option<sqlx::postgres::PgListener>,
    url: DbUrl,
    failures: u32,
}

#[async_trait::async_trait]
impl devlog_core::FeedListener for PgFeedListener {
    async fn changed(&mut self) {
        loop {
            let Some(listener) = self.listener.as_mut() else {
                let connected = async {
                    let mut l = sqlx::postgres::PgListener::connect_with(&self.pool).await?;
                    // Reconnects are ours (below), so a gap is always reported as a change.
                    l.eager_reconnect(false);
                    l.listen(FEED_CHANNEL).await?;
                    Ok::<_, sqlx::Error>(l)
                };
                match connected.await {
                    Ok(l) => {
                        self.listener = Some(l);
                        self.failures = 0;
                        // What was appended before LISTEN took effect was not announced.
                        return;
                    }
                    Err(e) => {
                        self.failures = self.failures.saturating_add(1);
                        let wait = std::time::Duration::from_millis(
                            250u64.saturating_mul(1 << self.failures.min(7)),
                        )
                        .min(LISTEN_RETRY_MAX);
                        tracing::warn!(
                            store = %self.url,
                            "cannot listen for change-feed notifications ({}); retrying in {} s",
                            self.url.scrub(&e.to_string()),
                            wait.as_secs_f64()
                        );
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                }
            };
            match listener.try_recv().await {
                Ok(Some(_)) => {
                    // Several notifications may be queued; one wake-up reads them all.
                    while listener.next_buffered().is_some() {}
                    return;
                }
                Ok(None) | Err(_) => {
                    // The connection was lost: connect again, then report the gap.
                    self.listener = None;
                }
            }
        }
    }
}

/// The store's feed listener (see [`PgFeedListener`]).
fn listen(url: &DbUrl, opts: &ServerOptions) -> Option<Box<dyn devlog_core::FeedListener>> {
    let options = connect_options(url).ok()?;
    let pool = PoolOptions::<Db>::new()
        .max_connections(1)
        .min_connections(0)
        .acquire_timeout(opts.connect_timeout)
        .connect_lazy_with(options);
    Some(Box::new(PgFeedListener {
        pool,
        listener: None,
        url: url.clone(),
        failures: 0,
    }))
}

/// After a bulk load: `VACUUM (ANALYZE)` of the entries and their word rows when more than a
/// tenth of the rows (and at least `ANALYZE_AFTER` of them) changed since the last `ANALYZE`,
/// as autovacuum would — but autovacuum may be off, or a minute behind a load. Without
/// statistics a just-imported table is planned as if nearly empty (at 1,000,000 entries a
/// report's page of summaries took 456 ms: a bitmap scan and a sort of 71,503 rows); without
/// the visibility map a VACUUM sets, an index-only scan (the capped totals, search's postings)
/// reads the table's pages too (a capped total 2–7 ms instead of 0.2). VACUUM skips the pages
/// it already marked, so the repeated runs of a load read each page about once. Returns
/// whether it ran.
async fn refresh_statistics(conn: &mut PgConnection) -> Result<bool, sqlx::Error> {
    let Some((changed, rows)): Option<(i64, f32)> = sqlx::query_as(
        "SELECT s.n_mod_since_analyze, c.reltuples FROM pg_stat_user_tables s \
         JOIN pg_class c ON c.oid = s.relid WHERE s.relid = 'devlog_entries'::regclass",
    )
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(false);
    };
    if changed < ANALYZE_AFTER || (changed as f64) < 0.1 * f64::from(rows.max(0.0)) {
        return Ok(false);
    }
    // The simple query protocol: VACUUM cannot run inside a transaction block.
    sqlx::raw_sql("VACUUM (ANALYZE) devlog_entries, devlog_terms")
        .execute(&mut *conn)
        .await?;
    Ok(true)
}

/// Changed rows below which `refresh_statistics` leaves the statistics alone.
const ANALYZE_AFTER: i64 = 1000;

/// PostgreSQL takes statements of any practical size (1 GB per value).
async fn statement_limit(_conn: &mut PgConnection) -> Result<Option<u64>, sqlx::Error> {
    Ok(None)
}

/// SQLSTATE classes, see <https://www.postgresql.org/docs/current/errcodes-appendix.html>.
fn classify(e: &sqlx::Error) -> Class {
    let Some(code) = e.as_database_error().and_then(|d| d.code()) else {
        return Class::Other;
    };
    match code.as_ref() {
        "28000" | "28P01" | "42501" => Class::Auth,
        "3D000" => Class::NoDatabase,
        "40001" | "40P01" | "55P03" => Class::Retry,
        "57P01" | "57P02" | "57P03" | "53300" => Class::Gone,
        c if c.starts_with("08") => Class::Gone,
        // program_limit_exceeded: e.g. "string is too long for tsvector".
        "54000" => Class::TooLarge,
        // data_exception: bad encoding, value too long, invalid text representation.
        c if c.starts_with("22") => Class::Invalid,
        _ => Class::Other,
    }
}

/// Tags are a JSON array in a text column.
fn push_tag_filter(qb: &mut QueryBuilder<Db>, tag: &str) {
    qb.push("(e.tags::jsonb ? ")
        .push_bind(tag.to_string())
        .push(")");
}

/// `Store::tag_counts`: each tag of the matching entries as a row `t.tag` (the `tags` column
/// is a JSON array in text), grouped by its text (`TAG_KEY`, byte-exact under a deterministic
/// collation), and the condition of an entry without tags.
const TAG_ROWS: &str = "FROM devlog_entries e \
     CROSS JOIN LATERAL jsonb_array_elements_text(e.tags::jsonb) AS t(tag)";
const TAG_KEY: (&str, &str) = ("t.tag", "t.tag");
const NO_TAGS: &str = "jsonb_array_length(e.tags::jsonb) = 0";

/// Search joins one postings stream per word, which PostgreSQL merge-joins (see
/// `push_window_matches` in `server/store_impl.rs`).
const SEARCH_MERGES_POSTINGS: bool = true;

/// PostgreSQL 15 has no skip scan: a search word's terms are listed by a recursive query.
const TERMS_BY_LOOSE_SCAN: bool = false;
