//! Errors of the store port and the use cases, classified so frontends map them once.

use crate::entry::EntrySummary;
use crate::id::EntryId;

/// A value outside a closed set (status, type, priority, ...).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {field} `{value}`: use one of {}", allowed.join(", "))]
pub struct InvalidValue {
    pub field: &'static str,
    pub value: String,
    pub allowed: Vec<&'static str>,
}

/// What class of failure an error is; frontends turn this into an exit code, an HTTP status
/// or an MCP error, and the sync engine into retry-or-not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The entry (or other thing) does not exist.
    NotFound,
    /// The reference matches several entries.
    Ambiguous,
    /// Someone else changed the data first, or the operation clashes with current state.
    Conflict,
    /// The caller's input is wrong; fix it and retry.
    Invalid,
    /// Stored data is damaged (a hand-broken file, a bad row); nothing was changed.
    Corrupt,
    /// The storage could not be reached or written (I/O, database down); may work later.
    Unavailable,
}

/// Errors of the [`Store`](crate::store::Store) port and the use cases on top of it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no entry matches `{reference}`{}", suggest(suggestions))]
    NotFound {
        reference: String,
        suggestions: Vec<EntrySummary>,
    },
    #[error("`{reference}` matches {} entries: {}; use the handle or a longer id", candidates.len(), list(candidates))]
    Ambiguous {
        reference: String,
        candidates: Vec<EntrySummary>,
    },
    #[error("entry {id} was changed concurrently: {message}")]
    Conflict { id: EntryId, message: String },
    /// A migration's target already holds data the source does not have; nothing was copied.
    #[error(
        "the target {target} already holds other data: {} the source does not have and {differing} \
         that differ from the source's; pass --force to merge into it",
        entries(*foreign)
    )]
    TargetNotEmpty {
        /// The target store, as `backend (location)`.
        target: String,
        /// Entries only in the target.
        foreign: u64,
        /// Entries in both whose content differs.
        differing: u64,
    },
    #[error("invalid {field}: {message}")]
    Invalid { field: String, message: String },
    #[error("{path}: {message}; {hint}")]
    Corrupt {
        path: String,
        message: String,
        hint: String,
    },
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{backend} storage error: {message}")]
    Backend {
        backend: &'static str,
        message: String,
        /// True when retrying later may succeed (lost connection, busy database).
        transient: bool,
    },
}

fn entries(n: u64) -> String {
    format!("{n} {}", if n == 1 { "entry" } else { "entries" })
}

fn suggest(s: &[EntrySummary]) -> String {
    if s.is_empty() {
        String::new()
    } else {
        format!("; did you mean {}?", list(s))
    }
}

fn list(s: &[EntrySummary]) -> String {
    s.iter()
        .map(|e| format!("#{} {:?}", e.handle, e.title))
        .collect::<Vec<_>>()
        .join(", ")
}

impl StoreError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            StoreError::NotFound { .. } => ErrorKind::NotFound,
            StoreError::Ambiguous { .. } => ErrorKind::Ambiguous,
            StoreError::Conflict { .. } | StoreError::TargetNotEmpty { .. } => ErrorKind::Conflict,
            StoreError::Invalid { .. } => ErrorKind::Invalid,
            StoreError::Corrupt { .. } => ErrorKind::Corrupt,
            StoreError::Io { .. } | StoreError::Backend { .. } => ErrorKind::Unavailable,
        }
    }

    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        StoreError::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn not_found(reference: impl Into<String>) -> Self {
        StoreError::NotFound {
            reference: reference.into(),
            suggestions: Vec::new(),
        }
    }

    pub fn io(path: impl Into<String>, source: std::io::Error) -> Self {
        StoreError::Io {
            path: path.into(),
            source,
        }
    }
}

impl From<InvalidValue> for StoreError {
    fn from(e: InvalidValue) -> Self {
        StoreError::Invalid {
            field: e.field.to_string(),
            message: e.to_string(),
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
