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

/// Longest term the search index keeps, in characters: longer words are indexed (and looked
/// up) by their first `MAX_TERM_CHARS` characters, which keeps index keys small on both
/// servers (MySQL's `VARCHAR(64)`).
pub(crate) const MAX_TERM_CHARS: usize = 64;

/// Weights of an entry's text fields in a term's weight: a title word counts most, then the
/// description, then notes, then the context (the weights the FULLTEXT ranking used).
const FIELD_WEIGHTS: [f64; 4] = [10.0, 4.0, 2.0, 1.5];

/// `word` as the search index keeps it: lowercased, diacritics removed (`Café` → `cafe`, as
/// SQLite's `unicode61 remove_diacritics 2` tokenizer does), at most `MAX_TERM_CHARS`
/// characters.
pub(crate) fn fold(word: &str) -> String {
    crate::snippet::fold(word)
        .chars()
        .take(MAX_TERM_CHARS)
        .collect()
}

/// Runs of letters and digits: the words of a text, for the index and for queries alike.
fn words_of(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
}

/// The words of a search, folded (see [`fold`]): every run of letters and digits. Everything
/// else (quotes, operators, punctuation) only separates words, so user input is always
/// literal. Each word matches as a prefix of an indexed term.
pub(crate) fn search_words(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for w in words_of(text).map(fold) {
        if !out.contains(&w) {
            out.push(w);
        }
    }
    out
}

/// The rows of the search index (`devlog_terms`) for one entry: each distinct folded word of
/// its text with its weight, the sum over its occurrences of the field's weight
/// (`FIELD_WEIGHTS`), sorted by term. One tokenizer for writes and for the rebuild of
/// existing rows, and the same word rules as queries (`search_words`).
pub(crate) fn index_terms(text: &devlog_core::entry::SearchText) -> Vec<(String, f64)> {
    let mut terms: std::collections::BTreeMap<String, f64> = std::collections::BTreeMap::new();
    let fields = [
        text.title.as_str(),
        text.description.as_str(),
        text.notes.as_str(),
        text.context.as_str(),
    ];
    for (field, weight) in fields.iter().zip(FIELD_WEIGHTS) {
        for w in words_of(field) {
            *terms.entry(fold(w)).or_insert(0.0) += weight;
        }
    }
    terms.into_iter().collect()
}

/// A word's contribution to a hit's score from the weight of the entry's heaviest term it
/// matches (as a prefix): saturating, like bm25's term-frequency part (a second mention adds less than
/// the first), so a title hit (10 → 0.83) outranks one mention in a note (2 → 0.5) and no
/// single word dominates a multi-word search.
pub(crate) fn word_score(weight: f64) -> f64 {
    weight / (weight + 2.0)
}

// Snippets are made the same way for every backend.
pub(crate) use crate::snippet::snippet;

#[cfg(test)]
mod tests {
    use super::*;

    fn w(s: &str) -> Vec<String> {
        search_words(s)
    }

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

    #[test]
    fn search_words_drop_every_operator() {
        assert_eq!(
            w("Kube* \"manif\" -x +y (z) a:b"),
            ["kube", "manif", "x", "y", "z", "a", "b"]
        );
        assert!(w("\" * - ((( ").is_empty());
        assert_eq!(w("Straße ÉTÉ"), ["straße", "ete"]);
    }

    #[test]
    fn words_are_folded_and_cut_like_index_terms() {
        assert_eq!(w("Café CAFE naïve"), ["cafe", "naive"]);
        let long = "x".repeat(100);
        assert_eq!(w(&long), ["x".repeat(MAX_TERM_CHARS)]);
        assert_eq!(fold("ÅNGSTRÖM"), "angstrom");
    }

    #[test]
    fn index_terms_weigh_fields_and_count_repeats() {
        let text = devlog_core::entry::SearchText {
            title: "Kubernetes pods".into(),
            description: "pods, pods and Café".into(),
            notes: "café\n".into(),
            context: "x".into(),
        };
        let terms = index_terms(&text);
        let get = |t: &str| terms.iter().find(|(k, _)| k == t).map(|(_, v)| *v);
        assert_eq!(get("kubernetes"), Some(10.0));
        assert_eq!(get("pods"), Some(10.0 + 4.0 + 4.0));
        assert_eq!(get("cafe"), Some(4.0 + 2.0));
        assert_eq!(get("x"), Some(1.5));
        assert_eq!(get("Café"), None);
        assert!(
            terms.windows(2).all(|p| p[0].0 < p[1].0),
            "sorted, distinct"
        );
        assert!(word_score(10.0) > word_score(2.0));
    }
}
