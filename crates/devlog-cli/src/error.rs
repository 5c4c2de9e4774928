//! The CLI's error classes, exit codes and hints: library errors are mapped here, once.

use devlog_core::{ErrorKind, StoreError};

use crate::config::ConfigError;

/// Exit codes by error class (documented in the README).
pub mod exit {
    pub const OK: i32 = 0;
    pub const FAILURE: i32 = 1;
    pub const USAGE: i32 = 2;
    pub const NOT_FOUND: i32 = 3;
    pub const CONFLICT: i32 = 4;
    pub const INVALID: i32 = 5;
    pub const CORRUPT: i32 = 6;
    pub const UNAVAILABLE: i32 = 7;
    pub const DENIED: i32 = 8;
}

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Config(ConfigError),
    #[error("no .devlog folder here or in any parent folder")]
    NoWorkspace,
    /// `--dir` / `DEVLOG_DIR` names a folder without a `.devlog` (or that does not exist).
    #[error("no .devlog folder at {} (from --dir or DEVLOG_DIR)", .0.display())]
    NoWorkspaceAt(std::path::PathBuf),
    #[error("{0}")]
    Usage(String),
    /// A remote system (GitHub, ...) refused or failed a request.
    #[error(transparent)]
    Remote(#[from] devlog_core::integration::SyncError),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl From<devlog_sync::EngineError> for CliError {
    fn from(e: devlog_sync::EngineError) -> Self {
        use devlog_sync::EngineError as E;
        match e {
            // The user named it (`--system`, `devlog github ...`): a usage error, exit 2.
            E::UnknownIntegration { .. } => CliError::Usage(e.to_string()),
            E::Store(e) => CliError::Store(e),
            E::Remote(e) => CliError::Remote(e),
        }
    }
}

impl CliError {
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Store(e) => match e.kind() {
                ErrorKind::NotFound => exit::NOT_FOUND,
                ErrorKind::Ambiguous | ErrorKind::Conflict => exit::CONFLICT,
                ErrorKind::Invalid => exit::INVALID,
                ErrorKind::Corrupt => exit::CORRUPT,
                ErrorKind::Unavailable => exit::UNAVAILABLE,
                ErrorKind::Denied => exit::DENIED,
            },
            CliError::Config(_) => exit::INVALID,
            CliError::NoWorkspace | CliError::NoWorkspaceAt(_) => exit::NOT_FOUND,
            CliError::Usage(_) => exit::USAGE,
            CliError::Remote(e) => {
                use devlog_core::integration::SyncErrorKind as K;
                match e.kind {
                    K::NotFound => exit::NOT_FOUND,
                    K::Conflict => exit::CONFLICT,
                    K::Auth | K::Permanent => exit::INVALID,
                    K::RateLimited | K::Transient => exit::UNAVAILABLE,
                }
            }
            CliError::Other(_) => exit::FAILURE,
        }
    }

    /// A kebab-case name of the class, for `--json` error output.
    pub fn class(&self) -> &'static str {
        match self.exit_code() {
            exit::NOT_FOUND => "not-found",
            exit::CONFLICT => "conflict",
            exit::INVALID => "invalid",
            exit::CORRUPT => "corrupt",
            exit::UNAVAILABLE => "unavailable",
            exit::DENIED => "denied",
            exit::USAGE => "usage",
            _ => "failure",
        }
    }

    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            CliError::NoWorkspace => Some(
                "run `devlog init` (or `devlog new <title>`) to start one, or pass --dir / set DEVLOG_DIR".into(),
            ),
            CliError::NoWorkspaceAt(_) => Some(
                "check the path, or run `devlog init` with it to start a devlog there".into(),
            ),
            CliError::Store(StoreError::NotFound { .. }) => {
                Some("`devlog list` shows handles; `devlog search <words>` finds entries by text".into())
            }
            CliError::Store(StoreError::Conflict { .. }) => Some("run the command again".into()),
            CliError::Store(StoreError::TargetNotEmpty { .. }) => Some(
                "with --force every source entry is written into the target (the source's version \
                 wins), the target's other entries stay, and the change feed is copied only if \
                 the target's is empty or the start of the source's; to leave that data alone, \
                 name an empty target (--path, --url)"
                    .into(),
            ),
            CliError::Store(StoreError::Backend { transient: true, .. }) => {
                Some("the storage is busy or unreachable; try again".into())
            }
            CliError::Remote(e) if e.is_retryable() => Some(match e.retry_after_ms {
                Some(ms) => format!("try again in {}s", ms.div_ceil(1000)),
                None => "try again later".into(),
            }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use devlog_sync::EngineError;

    #[test]
    fn engine_errors_keep_their_exit_codes() {
        let unknown = CliError::from(EngineError::UnknownIntegration {
            name: "jira".into(),
            enabled: vec!["github".into()],
        });
        assert_eq!(unknown.exit_code(), exit::USAGE);
        assert!(unknown.to_string().contains("enabled: github"), "{unknown}");
        let store = CliError::from(EngineError::Store(StoreError::invalid("link", "taken")));
        assert_eq!(store.exit_code(), exit::INVALID);
        let remote = CliError::from(EngineError::Remote(
            devlog_core::integration::SyncError::new(
                "github",
                devlog_core::integration::SyncErrorKind::Transient,
                "502",
            ),
        ));
        assert_eq!(remote.exit_code(), exit::UNAVAILABLE);
    }
}
