//! What the two server backends (`postgres`, `mysql`) share beyond their SQL: connection
//! options, turning driver errors into classified store errors that name the (redacted) URL,
//! search-term handling and snippets.
//!
//! The store itself is one source file, `server/store_impl.rs`, compiled once per backend with
//! that backend's `Db` type and SQL dialect (see `postgres.rs` and `mysql.rs`).

use std::time::Duration;

use devlog_core::error::StoreError;
use sqlx::migrate::MigrateError;

use crate::url::DbUrl;

/// The table in which sqlx records applied schema migrations. Not the default
/// `_sqlx_migrations`, so devlog can share a database with another sqlx application.
pub(crate) const MIGRATIONS_TABLE: &str = "_devlog_migrations";

/// The applied migrations in `MIGRATIONS_TABLE`, read in one query to tell whether an open
/// needs the migrator at all.
pub(crate) const APPLIED_MIGRATIONS: &str =
    "SELECT version, checksum, success FROM _devlog_migrations ORDER BY version";

/// How to connect to a server backend.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// How long to wait for a connection (TCP, TLS and login) before giving up, so a dead or
    /// unreachable server never hangs a command.
    pub connect_timeout: Duration,
    /// Connections kept by one store; a CLI command needs one or two, a server more.
    pub max_connections: u32,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            max_connections: 8,
        }
    }
}

/// Whether `host` (as written in a URL) is this machine: `localhost`, `127.0.0.0/8` or `::1`.
///
/// With the default TLS mode (PostgreSQL `sslmode=prefer`, MySQL `ssl-mode=preferred`: TLS if
/// the server offers it, else plain) devlog does not negotiate TLS with such a host. On
/// loopback the bytes never leave the machine, so TLS protects nothing there, and each
/// handshake costs about 90 ms: sqlx does not set `TCP_NODELAY`, and rustls writes a
/// handshake flight as several small writes, so Nagle's algorithm holds each flight back until
/// the server's delayed ACK (40 ms), twice per handshake. `prefer` never promised TLS (it
/// falls back to plain silently); an explicit `require` or stricter mode is always honoured.
pub(crate) fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// What kind of failure a driver error is, as far as the user and a retry loop care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// Wrong user or password, or no permission on the database.
    Auth,
    /// The database named in the URL does not exist.
    NoDatabase,
    /// A deadlock or serialization failure: the transaction can simply run again.
    Retry,
    /// The server closed the connection (shut down, restarted, connection killed).
    Gone,
    /// The server rejected a value (bad encoding, a string too long for its column): the
    /// input must change, retrying cannot help.
    Invalid,
    /// The write exceeds a size limit of the server (MySQL `max_allowed_packet`, PostgreSQL's
    /// 1 MB `tsvector`).
    TooLarge,
    Other,
}

/// Turns a driver error into a store error that names the redacted URL.
pub(crate) fn store_error(
    backend: &'static str,
    url: &DbUrl,
    class: Class,
    e: &sqlx::Error,
    opts: &ServerOptions,
) -> StoreError {
    // The server's own words, without sqlx's "error returned from database" wrapping.
    let detail = match e.as_database_error() {
        Some(d) => d.message().to_string(),
        None => e.to_string(),
    };
    match class {
        Class::Invalid => {
            return StoreError::invalid(
                "value",
                url.scrub(&format!(
                    "{url} rejected a value: {detail}; change the input"
                )),
            );
        }
        Class::TooLarge => return too_large(url.scrub(&format!("{url}: {detail}"))),
        _ => {}
    }
    let (message, transient) = match (class, e) {
        (Class::Auth, _) => (
            format!(
                "cannot log in to {url}: {detail}; check the user name and password in the URL"
            ),
            false,
        ),
        (Class::NoDatabase, _) => (
            format!(
                "{url}: the database does not exist ({detail}); create it first (CREATE DATABASE {})",
                url.database().unwrap_or("<name>")
            ),
            false,
        ),
        (Class::Retry, _) => (format!("{url}: {detail}"), true),
        (Class::Gone, _) => (format!("lost the connection to {url}: {detail}"), true),
        (_, sqlx::Error::Io(io)) => (format!("connection to {url} failed: {io}"), true),
        (_, sqlx::Error::PoolTimedOut) => (
            format!(
                "no connection to {url} within {} s; is the server running and reachable?",
                opts.connect_timeout.as_secs_f64()
            ),
            true,
        ),
        (_, sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed) => {
            (format!("connection to {url} closed: {detail}"), true)
        }
        (_, sqlx::Error::Protocol(_)) => (format!("connection to {url} broke: {detail}"), true),
        (_, sqlx::Error::Tls(_)) => (format!("TLS with {url} failed: {detail}"), false),
        (_, sqlx::Error::Configuration(_)) => (format!("bad database URL {url}: {detail}"), false),
        _ => (format!("{url}: {detail}"), false),
    };
    StoreError::Backend {
        backend,
        message: url.scrub(&message),
        transient,
    }
}

/// The error for an entry (or its change feed record) beyond what the server accepts.
pub(crate) fn too_large(why: String) -> StoreError {
    StoreError::invalid(
        "entry",
        format!("too large to store: {why}; shorten its description or notes"),
    )
}

/// Rejects text with a NUL character, which PostgreSQL cannot store in a text column (nor
/// compare with one), before it is sent: `field` names it for the user.
pub(crate) fn reject_nul(field: &str, text: &str) -> Result<(), StoreError> {
    if text.contains('\0') {
        return Err(StoreError::invalid(
            field,
            "contains a NUL character (\\0), which PostgreSQL cannot store; remove it",
        ));
    }
    Ok(())
}

/// Rejects an entry (`whose` names it) with a NUL character in any text, naming the first
/// such field the way the entry's JSON does (`title`, `notes[2].content`, `tags[0]`).
pub(crate) fn reject_nul_in(value: &serde_json::Value, whose: &str) -> Result<(), StoreError> {
    match nul_path(value, String::new()) {
        Some(path) => Err(StoreError::invalid(
            path,
            format!(
                "contains a NUL character (\\0), which PostgreSQL cannot store; remove it \
                 ({whose})"
            ),
        )),
        None => Ok(()),
    }
}

fn nul_path(value: &serde_json::Value, at: String) -> Option<String> {
    use serde_json::Value;
    match value {
        Value::String(s) => s.contains('\0').then_some(at),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| nul_path(v, format!("{at}[{i}]"))),
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            let path = if at.is_empty() {
                k.clone()
            } else {
                format!("{at}.{k}")
            };
            if k.contains('\0') {
                Some(path)
            } else {
                nul_path(v, path)
            }
        }),
        _ => None,
    }
}

/// The error for a connection attempt that did not finish within the timeout.
pub(crate) fn connect_timed_out(
    backend: &'static str,
    url: &DbUrl,
    opts: &ServerOptions,
) -> StoreError {
    StoreError::Backend {
        backend,
        message: format!(
            "cannot connect to {url}: no answer within {} s; is the server running and reachable?",
            opts.connect_timeout.as_secs_f64()
        ),
        transient: true,
    }
}

/// Turns a schema-migration failure into a store error with a way out.
pub(crate) fn migrate_error(
    backend: &'static str,
    url: &DbUrl,
    e: MigrateError,
    classify: impl Fn(&sqlx::Error) -> Class,
    opts: &ServerOptions,
) -> StoreError {
    let message = match e {
        MigrateError::Execute(e) => return store_error(backend, url, classify(&e), &e, opts),
        MigrateError::ExecuteMigration(e, v) => {
            let inner = store_error(backend, url, classify(&e), &e, opts);
            format!("applying schema migration {v} failed: {inner}")
        }
        MigrateError::VersionMissing(v) => format!(
            "{url}: the database schema has migration {v}, which this devlog does not know: \
             it was written by a newer devlog; upgrade devlog"
        ),
        MigrateError::VersionMismatch(v) => format!(
            "{url}: schema migration {v} in the database differs from this devlog's; the schema \
             was changed by another build of devlog"
        ),
        MigrateError::Dirty(v) => format!(
            "{url}: schema migration {v} was interrupted and left the schema half changed; \
             see docs/storage.md (\"Schema migrations\") to repair it"
        ),
        other => format!("{url}: cannot bring the schema up to date: {other}"),
    };
    StoreError::Backend {
        backend,
        message: url.scrub(&message),
        transient: false,
    }
}

// One tokenizer and one score for every backend's word index (`crate::terms`).
pub(crate) use crate::terms::{index_terms, search_words, word_score};

// Snippets are made the same way for every backend.
pub(crate) use crate::snippet::snippet;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_characters_are_found_with_their_path() {
        let v = serde_json::json!({
            "title": "ok",
            "notes": [{"content": "fine"}, {"content": "b\0d"}],
            "tags": ["a"],
        });
        let e = reject_nul_in(&v, "entry 1").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("invalid notes[1].content: contains a NUL"),
            "{e}"
        );
        assert!(e.to_string().ends_with("remove it (entry 1)"), "{e}");
        assert!(reject_nul_in(&serde_json::json!({"title": "ok", "n": 1}), "-").is_ok());
        let e = reject_nul_in(&serde_json::json!({"extra": {"k\0": 1}}), "-").unwrap_err();
        assert!(e.to_string().contains("extra.k"), "{e}");
        assert!(reject_nul("assignee", "ana").is_ok());
        assert!(reject_nul("assignee", "a\0").is_err());
    }

    #[test]
    fn the_schema_check_reads_the_migrations_table() {
        assert!(APPLIED_MIGRATIONS.contains(&format!(" FROM {MIGRATIONS_TABLE} ")));
    }

    #[test]
    fn loopback_hosts_are_recognised() {
        for h in [
            "localhost",
            "LOCALHOST",
            "127.0.0.1",
            "127.1.2.3",
            "::1",
            "[::1]",
        ] {
            assert!(is_loopback(h), "{h}");
        }
        for h in [
            "db.example.com",
            "10.0.0.1",
            "192.168.1.2",
            "::",
            "",
            "localhost.evil",
        ] {
            assert!(!is_loopback(h), "{h}");
        }
    }
}
