//! devlog's storage backends behind the `devlog_core::Store` port, registered by name.
//!
//! - `json` (default): entry files under `.devlog/entries/`, index and change feed in the
//!   git-ignored `.devlog/.state/index.sqlite`.
//! - `sqlite`: everything in one database file (default `.devlog/devlog.sqlite`).
//! - `postgres` (cargo feature `postgres`): a PostgreSQL database named by a URL.
//! - `mysql` (cargo feature `mysql`): a MySQL or MariaDB database named by a URL.

pub mod audit;
pub mod bulk_journal;
pub mod feed_watch;
pub mod fsmonitor;
mod fsutil;
pub mod history;
pub mod index;
pub mod json;
mod milestones;
#[cfg(feature = "mysql")]
pub mod mysql;
#[cfg(feature = "postgres")]
pub mod postgres;
mod scan;
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub mod server;
mod snippet;
pub mod sqlite;
pub mod sync_state;
mod terms;
pub mod tokens;
pub mod transfer;
pub mod url;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use devlog_core::error::{Result, StoreError};
use devlog_core::store::Store;

pub use bulk_journal::FileJournal;
pub use json::JsonStore;
#[cfg(feature = "mysql")]
pub use mysql::{MysqlStore, MysqlSyncState};
#[cfg(feature = "postgres")]
pub use postgres::{PostgresStore, PostgresSyncState};
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub use server::ServerOptions;
pub use sqlite::SqliteStore;
pub use sync_state::{OpenedSyncState, SqliteSyncState, open_sync_state};
pub use url::{DbUrl, redact_url};

/// The backends devlog knows, by the name used in `devlog.toml` and on the command line.
/// `postgres` and `mysql` need their cargo features; without them, opening one says so.
pub const BACKENDS: &[&str] = &["json", "sqlite", "postgres", "mysql"];

/// Which backend and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreSpec {
    /// A `.devlog` folder.
    Json { root: PathBuf },
    /// A SQLite database file.
    Sqlite { path: PathBuf },
    /// A PostgreSQL database.
    Postgres { url: DbUrl },
    /// A MySQL or MariaDB database.
    Mysql { url: DbUrl },
}

/// Whether backend `name` (as `StoreSpec::resolve` reads it) keeps its entries on a database
/// server — named by a URL, not in the `.devlog` folder.
pub fn is_server_backend(name: &str) -> bool {
    matches!(
        name.trim().to_ascii_lowercase().as_str(),
        "postgres" | "postgresql" | "mysql" | "mariadb"
    )
}

/// The URL schemes each server backend accepts.
const POSTGRES_SCHEMES: &[&str] = &["postgres", "postgresql"];
const MYSQL_SCHEMES: &[&str] = &["mysql", "mariadb"];

impl StoreSpec {
    /// The spec for backend `name` in the `.devlog` folder `root`; `location` overrides the
    /// backend's default place (a database file for `sqlite`). Server backends need a URL:
    /// use [`StoreSpec::resolve`].
    pub fn from_name(name: &str, root: &Path, location: Option<&Path>) -> Result<Self> {
        Self::resolve(name, root, location, None)
    }

    /// Like [`StoreSpec::from_name`], with the database URL that `postgres` and `mysql` need
    /// (ignored by the file backends).
    pub fn resolve(
        name: &str,
        root: &Path,
        location: Option<&Path>,
        url: Option<&str>,
    ) -> Result<Self> {
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
            "postgres" | "postgresql" => Ok(StoreSpec::Postgres {
                url: server_url("postgres", url, POSTGRES_SCHEMES)?,
            }),
            "mysql" | "mariadb" => Ok(StoreSpec::Mysql {
                url: server_url("mysql", url, MYSQL_SCHEMES)?,
            }),
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
            StoreSpec::Postgres { .. } => "postgres",
            StoreSpec::Mysql { .. } => "mysql",
        }
    }

    /// Where the data is: a folder, a file, or a database URL with its password redacted.
    pub fn location(&self) -> &Path {
        match self {
            StoreSpec::Json { root } => root,
            StoreSpec::Sqlite { path } => path,
            StoreSpec::Postgres { url } | StoreSpec::Mysql { url } => Path::new(url.redacted()),
        }
    }

    /// The database URL of a server backend.
    pub fn url(&self) -> Option<&DbUrl> {
        match self {
            StoreSpec::Postgres { url } | StoreSpec::Mysql { url } => Some(url),
            StoreSpec::Json { .. } | StoreSpec::Sqlite { .. } => None,
        }
    }
}

fn server_url(backend: &str, url: Option<&str>, schemes: &[&str]) -> Result<DbUrl> {
    let Some(raw) = url.map(str::trim).filter(|u| !u.is_empty()) else {
        return Err(StoreError::invalid(
            "storage.url",
            format!(
                "the {backend} backend needs a database URL: set `url` under [storage] in \
                 devlog.toml (e.g. url = \"${{DATABASE_URL}}\") or the DATABASE_URL environment \
                 variable, e.g. {}://user:password@localhost/devlog",
                schemes[0]
            ),
        ));
    };
    let url = DbUrl::parse(raw)?;
    if !schemes.contains(&url.scheme().as_str()) {
        return Err(StoreError::invalid(
            "storage.url",
            format!(
                "`{url}` is not a {backend} URL: it must start with {}",
                schemes
                    .iter()
                    .map(|s| format!("{s}://"))
                    .collect::<Vec<_>>()
                    .join(" or ")
            ),
        ));
    }
    Ok(url)
}

/// The error for a backend whose cargo feature this build lacks.
#[cfg(not(all(feature = "postgres", feature = "mysql")))]
pub(crate) fn not_compiled(backend: &str) -> StoreError {
    StoreError::invalid(
        "storage.type",
        format!(
            "the {backend} backend is not compiled into this build of devlog; rebuild with the \
             `{backend}` cargo feature (e.g. cargo install devlog-cli --features {backend})"
        ),
    )
}

/// Creates a `.devlog` folder with the `.gitignore` that keeps its machine-local `.state/`
/// out of git, if they are missing. The file backends do this when they open; a workspace on a
/// server backend gets the folder from `devlog init`, so it is found like any other.
pub fn prepare_folder(devlog_dir: &Path) -> Result<()> {
    std::fs::create_dir_all(devlog_dir)
        .map_err(|e| StoreError::io(devlog_dir.display().to_string(), e))?;
    fsutil::ensure_gitignore(devlog_dir, json::GITIGNORE_COMMENT, json::GITIGNORE_LINES)
}

/// Opens the store a spec names for a long-running process (`serve`, `mcp`, `worker`, `sync
/// --watch`): like [`open`], and a JSON store also watches its entries folder (see
/// [`fsmonitor`]), keeping its index current and vouching for it to short-lived devlog
/// commands. Needs a tokio runtime.
/// The file backends' word index also folds its staged rows when the process is idle
/// ([`index::SqlIndex::fold_when_idle`]).
pub async fn open_watched(spec: &StoreSpec) -> Result<Arc<dyn Store>> {
    Ok(match spec {
        StoreSpec::Json { root } => JsonStore::open_watching(root).await?,
        StoreSpec::Sqlite { path } => {
            let store = SqliteStore::open(path).await?;
            store.index().fold_when_idle();
            Arc::new(store)
        }
        other => open(other).await?,
    })
}

/// Opens the store a spec names.
pub async fn open(spec: &StoreSpec) -> Result<Arc<dyn Store>> {
    Ok(match spec {
        StoreSpec::Json { root } => Arc::new(JsonStore::open(root).await?),
        StoreSpec::Sqlite { path } => Arc::new(SqliteStore::open(path).await?),
        #[cfg(feature = "postgres")]
        StoreSpec::Postgres { url } => Arc::new(PostgresStore::open(url).await?),
        #[cfg(not(feature = "postgres"))]
        StoreSpec::Postgres { .. } => return Err(not_compiled("postgres")),
        #[cfg(feature = "mysql")]
        StoreSpec::Mysql { url } => Arc::new(MysqlStore::open(url).await?),
        #[cfg(not(feature = "mysql"))]
        StoreSpec::Mysql { .. } => return Err(not_compiled("mysql")),
    })
}
