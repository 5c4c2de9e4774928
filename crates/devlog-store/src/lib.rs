//! devlog's storage backends behind the `devlog_core::Store` port, registered by name.
//!
//! - `json` (default): entry files under `.devlog/entries/`, index and change feed in the
//!   git-ignored `.devlog/.state/index.sqlite`.
//! - `sqlite`: everything in one database file (default `.devlog/devlog.sqlite`).

mod fsutil;
pub mod index;
pub mod json;
pub mod sqlite;
pub mod transfer;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use devlog_core::error::{Result, StoreError};
use devlog_core::store::Store;

pub use json::JsonStore;
pub use sqlite::SqliteStore;

/// The backends this build knows, by the name used in `devlog.toml` and on the command line.
pub const BACKENDS: &[&str] = &["json", "sqlite"];

/// Which backend and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreSpec {
    /// A `.devlog` folder.
    Json { root: PathBuf },
    /// A SQLite database file.
    Sqlite { path: PathBuf },
}

impl StoreSpec {
    /// The spec for backend `name` in the `.devlog` folder `root`; `location` overrides the
    /// backend's default place (a database file for `sqlite`).
    pub fn from_name(name: &str, root: &Path, location: Option<&Path>) -> Result<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "json" | "local-json" | "file" | "files" => Ok(StoreSpec::Json {
                root: location
                    .map(Path::to_path_buf)
                    .unwrap_or_else(|| root.to_path_buf()),
            }),
            "sqlite" | "sqlite3" => Ok(StoreSpec::Sqlite {
                path: location
                    .map(Path::to_path_buf)
                    .unwrap_or_else(|| root.join("devlog.sqlite")),
            }),
            "postgres" | "postgresql" | "mysql" | "mariadb" => Err(StoreError::invalid(
                "storage.type",
                format!(
                    "the `{name}` backend is not available in this build yet; use one of: {}",
                    BACKENDS.join(", ")
                ),
            )),
            other => Err(StoreError::invalid(
                "storage.type",
                format!(
                    "unknown backend `{other}`; use one of: {}",
                    BACKENDS.join(", ")
                ),
            )),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            StoreSpec::Json { .. } => "json",
            StoreSpec::Sqlite { .. } => "sqlite",
        }
    }

    pub fn location(&self) -> &Path {
        match self {
            StoreSpec::Json { root } => root,
            StoreSpec::Sqlite { path } => path,
        }
    }
}

/// Opens the store a spec names.
pub async fn open(spec: &StoreSpec) -> Result<Arc<dyn Store>> {
    Ok(match spec {
        StoreSpec::Json { root } => Arc::new(JsonStore::open(root).await?),
        StoreSpec::Sqlite { path } => Arc::new(SqliteStore::open(path).await?),
    })
}
