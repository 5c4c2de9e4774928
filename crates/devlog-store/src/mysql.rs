//! The `mysql` backend: entries in a MariaDB (tested on 10.11) or MySQL 8 database.
//! `mariadb://` URLs are accepted and read as `mysql://`.
//!
//! The store is the shared server implementation (`server/store_impl.rs`); this module is its
//! MySQL dialect: connection options (READ COMMITTED, like PostgreSQL, so a statement after a
//! lock wait sees what the lock holder committed), error classes, and how search reads
//! devlog's own inverted index (`devlog_terms`, migration 0007, which replaced the FULLTEXT
//! indexes: InnoDB materialises every FULLTEXT match before it can rank or stop).

use std::sync::LazyLock;

use sqlx::migrate::Migrator;
use sqlx::mysql::{MySql, MySqlConnectOptions, MySqlConnection, MySqlDatabaseError, MySqlSslMode};
use sqlx::pool::PoolOptions;
use sqlx::{ConnectOptions, Executor, QueryBuilder};

use crate::server::{Class, MIGRATIONS_TABLE, ServerOptions, is_loopback};
use crate::url::DbUrl;

// The shared server store, compiled here against this dialect (and again for the other
// server): deliberate, so `clippy::duplicate_mod` is allowed.
#[allow(clippy::duplicate_mod)]
#[path = "server/store_impl.rs"]
mod imp;

/// Entries in a MySQL or MariaDB database.
pub type MysqlStore = imp::ServerStore;

// The shared server sync state (`sync_state/server_impl.rs`), compiled here against this
// dialect like the store above.
#[allow(clippy::duplicate_mod)]
#[path = "sync_state/server_impl.rs"]
mod sync_imp;

/// The sync state in the `sync_*` tables of the store's database.
pub type MysqlSyncState = sync_imp::ServerSyncState;

/// Whether parameters are numbered (`$1`) rather than `?`.
const SYNC_DOLLAR_PARAMS: bool = false;

/// The database's clock in milliseconds since the Unix epoch, read when the statement runs:
/// job leases are computed from it, so machines whose clocks disagree agree on expiry.
const SYNC_DB_NOW_MS: &str = "CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED)";

/// An INSERT that does nothing when a unique key already holds the row: prefix and suffix.
const SYNC_INSERT_IGNORE: (&str, &str) = ("INSERT IGNORE INTO", "");

/// The integer type a `CAST` turns a sum into.
const SYNC_BIGINT: &str = "SIGNED";

type Db = MySql;
type Conn = MySqlConnection;

const BACKEND: &str = "mysql";

/// MySQL and MariaDB store NUL characters in text like any other.
const REJECTS_NUL: bool = false;

/// Case-insensitive title order, byte-wise like Rust's `str` ordering.
const TITLE_ORDER: &str = "LOWER(e.title) COLLATE utf8mb4_bin";

/// The change feed as `count_events` reads it: on the narrow `seq` index (migration 3), not
/// on the clustered primary key, whose pages hold the events.
const EVENTS_TO_COUNT: &str = "devlog_events FORCE INDEX (devlog_events_seq)";

/// MySQL and MariaDB have no notifications: readers of the feed poll its end.
fn listen(_url: &DbUrl, _opts: &ServerOptions) -> Option<Box<dyn devlog_core::FeedListener>> {
    None
}

fn migrator() -> &'static Migrator {
    static MIGRATOR: LazyLock<Migrator> = LazyLock::new(|| {
        let mut m = sqlx::migrate!("./migrations/mysql");
        m.dangerous_set_table_name(MIGRATIONS_TABLE);
        m
    });
    &MIGRATOR
}

/// The lock concurrent first openers take around the migrator. sqlx's own is
/// `GET_LOCK(id, -1)`, which MariaDB (10.11) answers with NULL at once instead of waiting
/// (MySQL reads a negative timeout as "forever"), so openers of a fresh database raced and
/// failed with "Duplicate entry '1' for key 'PRIMARY'" in `_devlog_migrations`. This one waits
/// up to 5 minutes (a migration of a big table can take that long).
async fn lock_migrations(conn: &mut MySqlConnection) -> Result<(), sqlx::Error> {
    let got: Option<i64> =
        sqlx::query_scalar("SELECT GET_LOCK(CONCAT('devlog-migrate:', DATABASE()), 300)")
            .fetch_one(&mut *conn)
            .await?;
    match got {
        Some(1) => Ok(()),
        _ => Err(sqlx::Error::Protocol(
            "another devlog has been migrating this database for 5 minutes; try again later".into(),
        )),
    }
}

async fn unlock_migrations(conn: &mut MySqlConnection) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT RELEASE_LOCK(CONCAT('devlog-migrate:', DATABASE()))")
        .execute(&mut *conn)
        .await
        .map(|_| ())
}

fn connect_options(url: &DbUrl) -> Result<MySqlConnectOptions, sqlx::Error> {
    let url = if url.scheme() == "mariadb" {
        url.with_scheme("mysql")
    } else {
        url.clone()
    };
    let mut opts: MySqlConnectOptions = url.expose().parse()?;
    // See `is_loopback`: `preferred` on loopback means plain TCP.
    if matches!(opts.get_ssl_mode(), MySqlSslMode::Preferred)
        && opts.get_socket().is_none()
        && is_loopback(opts.get_host())
    {
        opts = opts.ssl_mode(MySqlSslMode::Disabled);
    }
    Ok(opts.charset("utf8mb4"))
}

async fn connect(opts: &MySqlConnectOptions) -> Result<MySqlConnection, sqlx::Error> {
    let mut conn = opts.connect().await?;
    read_committed(&mut conn).await?;
    Ok(conn)
}

async fn read_committed(conn: &mut MySqlConnection) -> Result<(), sqlx::Error> {
    conn.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
        .await
        .map(|_| ())
}

fn pool_options(opts: &ServerOptions) -> PoolOptions<Db> {
    PoolOptions::new()
        .max_connections(opts.max_connections)
        .min_connections(0)
        .acquire_timeout(opts.connect_timeout)
        .after_connect(|conn, _meta| Box::pin(read_committed(conn)))
}

/// InnoDB recalculates a table's statistics by itself once a tenth of its rows changed
/// (`innodb_stats_auto_recalc`, on by default), in the background, and needs no VACUUM.
async fn refresh_statistics(_conn: &mut MySqlConnection) -> Result<bool, sqlx::Error> {
    Ok(false)
}

/// The largest statement the server accepts (`max_allowed_packet`): a bigger one is not
/// answered with an error but with a closed connection.
async fn statement_limit(conn: &mut MySqlConnection) -> Result<Option<u64>, sqlx::Error> {
    let limit: u64 = sqlx::query_scalar("SELECT CAST(@@max_allowed_packet AS UNSIGNED)")
        .fetch_one(&mut *conn)
        .await?;
    Ok(Some(limit))
}

/// Server error numbers, see <https://mariadb.com/kb/en/mariadb-error-code-reference/>.
fn classify(e: &sqlx::Error) -> Class {
    let Some(d) = e.as_database_error() else {
        return Class::Other;
    };
    let Some(my) = d.try_downcast_ref::<MySqlDatabaseError>() else {
        return Class::Other;
    };
    match my.number() {
        1044 | 1045 | 1698 => Class::Auth,
        1049 => Class::NoDatabase,
        1205 | 1213 => Class::Retry,
        1040 | 1053 | 1927 | 2006 | 2013 => Class::Gone,
        // Packet too large, result larger than max_allowed_packet.
        1153 | 1301 => Class::TooLarge,
        // Data too long for a column, incorrect string or other value, invalid JSON text.
        1292 | 1366 | 1406 | 3140 => Class::Invalid,
        _ => Class::Other,
    }
}

/// Tags are a JSON array in a text column.
fn push_tag_filter(qb: &mut QueryBuilder<Db>, tag: &str) {
    qb.push("JSON_CONTAINS(e.tags, JSON_QUOTE(")
        .push_bind(tag.to_string())
        .push("))");
}

/// `Store::tag_counts`: each tag of the matching entries as a row `t.tag` (`JSON_TABLE` over
/// the `tags` array), grouped on the tag's hash (`TAG_KEY`: the collation would merge "UI"
/// and "ui", as in `stats`'s assignees), and the condition of an entry without tags.
const TAG_ROWS: &str = "FROM devlog_entries e \
     CROSS JOIN JSON_TABLE(e.tags, '$[*]' COLUMNS (tag TEXT PATH '$')) AS t";
const TAG_KEY: (&str, &str) = ("MIN(t.tag)", "MD5(t.tag)");
const NO_TAGS: &str = "JSON_LENGTH(e.tags) = 0";

/// MySQL and MariaDB have no merge join: search reads one word's postings and looks the others
/// up per entry (see `push_window_matches` in `server/store_impl.rs`).
const SEARCH_MERGES_POSTINGS: bool = false;

/// MariaDB answers `SELECT DISTINCT term` on the postings index by jumping from term to term
/// ("Using index for group-by"); its recursive queries of `MIN(term)` scan instead.
const TERMS_BY_LOOSE_SCAN: bool = true;
