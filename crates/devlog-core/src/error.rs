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
    /// The storage refuses this user: a read-only folder, file system or database, or a
    /// missing permission. Permanent: retrying does not help until the permissions change.
    Denied,
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
    /// A write refused because the folder, file system or database is read-only for this
    /// user. Reads of the same storage may still work.
    #[error("{path} is read-only: {message}; {hint}")]
    ReadOnly {
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
            StoreError::ReadOnly { .. } => ErrorKind::Denied,
            StoreError::Io { source, .. } if is_denied(source) => ErrorKind::Denied,
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

    /// An I/O error of a write: permission denied or a read-only file system becomes
    /// [`StoreError::ReadOnly`] (with [`READ_ONLY_HINT`]), anything else [`StoreError::Io`].
    pub fn write_io(path: impl Into<String>, source: std::io::Error) -> Self {
        if is_denied(&source) {
            StoreError::ReadOnly {
                path: path.into(),
                message: format!("cannot write there ({source})"),
                hint: READ_ONLY_HINT.into(),
            }
        } else {
            Self::io(path, source)
        }
    }
}

/// What to do about a read-only store, shown with [`StoreError::ReadOnly`].
pub const READ_ONLY_HINT: &str = "devlog can read this checkout but not change it: make the \
     `.devlog` folder writable for this user (e.g. `chmod -R u+w .devlog`) or work in a \
     writable clone";

/// Permission denied, or a read-only file system: permanent until someone changes them.
fn is_denied(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem
    )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permission_denied_and_read_only_storage_are_denied_not_unavailable() {
        use std::io::{Error, ErrorKind as Io};
        for source in [Io::PermissionDenied, Io::ReadOnlyFilesystem] {
            let e = StoreError::io("/repo/.devlog/.state/write.lock", Error::from(source));
            assert_eq!(e.kind(), ErrorKind::Denied, "{e}");
            let e = StoreError::write_io("/repo/.devlog/.state/write.lock", Error::from(source));
            assert_eq!(e.kind(), ErrorKind::Denied);
            let shown = e.to_string();
            assert!(
                shown.contains("is read-only") && shown.contains("writable"),
                "{shown}"
            );
        }
        let full = StoreError::write_io("/repo/.devlog/entries", Error::from(Io::StorageFull));
        assert_eq!(
            full.kind(),
            ErrorKind::Unavailable,
            "a full disk can be freed"
        );
    }
}
