//! Finding the `.devlog` folder and its configuration, and opening the store they name.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use devlog_core::Store;
use devlog_store::{StoreSpec, is_server_backend};

use crate::config::{Config, ConfigError};
use crate::error::CliError;

/// Where devlog works: the project root, its `.devlog` folder and its configuration.
#[derive(Debug, Clone)]
pub struct Workspace {
    /// The folder holding `.devlog/` (and `devlog.toml`).
    pub root: PathBuf,
    /// The `.devlog` folder.
    pub devlog_dir: PathBuf,
    pub config: Config,
    /// The backend the configuration and environment select.
    pub spec: StoreSpec,
}

/// Options from the command line and environment that affect discovery.
///
/// A workspace is found like git finds its repository. Walking up from the working directory,
/// the first folder that has either of these is the workspace root:
/// - a `.devlog` folder;
/// - a `devlog.toml` (or the original's `devlog.config.json`) that names a server backend
///   (`postgres`, `mysql`), whose entries live in the database, not in `.devlog` (a
///   configuration file that does not parse counts too, so its error is shown).
///
/// Without one, `DEVLOG_STORAGE_TYPE` naming a server backend makes the root of the git
/// repository around the working directory (else the working directory) the workspace. `--dir`
/// / `DEVLOG_DIR` replaces the search.
#[derive(Debug, Clone, Default)]
pub struct Discovery {
    /// `--dir` / `DEVLOG_DIR`: a `.devlog` folder, or a folder containing one.
    pub dir: Option<PathBuf>,
    /// `DEVLOG_STORAGE_TYPE`: overrides the configured backend.
    pub backend: Option<String>,
    pub cwd: PathBuf,
}

impl Discovery {
    /// The `.devlog` folder of the workspace: explicit, or found by walking up from the
    /// working directory (see [`Discovery`]). `None` if there is none yet. The folder need not
    /// exist for a server-backed workspace.
    pub fn find(&self) -> Option<PathBuf> {
        if let Some(d) = &self.dir {
            return Some(normalize_devlog_dir(d));
        }
        let found = self.cwd.ancestors().find_map(|a| {
            let dir = a.join(".devlog");
            (dir.is_dir() || names_server_backend(a)).then_some(dir)
        });
        found.or_else(|| {
            self.backend
                .as_deref()
                .is_some_and(is_server_backend)
                .then(|| self.place_new())
        })
    }

    /// Where a new `.devlog` goes: the explicit folder, else the root of the git repository
    /// around the working directory, else the working directory.
    pub fn place_new(&self) -> PathBuf {
        if let Some(d) = &self.dir {
            return normalize_devlog_dir(d);
        }
        let root = self
            .cwd
            .ancestors()
            .find(|a| a.join(".git").exists())
            .unwrap_or(&self.cwd);
        root.join(".devlog")
    }
}

/// Whether `folder` holds a devlog configuration file naming a server backend (or one that
/// does not parse: it is meant for devlog, and opening the workspace reports what is wrong).
fn names_server_backend(folder: &Path) -> bool {
    let has_file = [crate::config::TOML_FILE, crate::config::LEGACY_JSON_FILE]
        .iter()
        .any(|f| folder.join(f).is_file());
    has_file
        && Config::load(folder)
            .map(|c| is_server_backend(&c.storage.kind))
            .unwrap_or(true)
}

fn normalize_devlog_dir(d: &Path) -> PathBuf {
    if d.file_name().is_some_and(|n| n == ".devlog") || d.join("entries").is_dir() {
        d.to_path_buf()
    } else {
        d.join(".devlog")
    }
}

impl Workspace {
    /// Loads the workspace at `devlog_dir` (which need not exist yet).
    pub fn load(devlog_dir: PathBuf, backend_override: Option<&str>) -> Result<Self, CliError> {
        let root = devlog_dir
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let config = Config::load(&root).map_err(CliError::Config)?;
        let name = match backend_override {
            Some(b) => b.to_string(),
            None => config.storage.kind.clone(),
        };
        let location = config
            .storage_path(backend_override.is_some())
            .map(Path::to_path_buf);
        let location = location.map(|p| if p.is_absolute() { p } else { root.join(p) });
        let url = server_url(&name, backend_override.is_some(), &config)?;
        let spec = StoreSpec::resolve(&name, &devlog_dir, location.as_deref(), url.as_deref())
            .map_err(|e| {
                CliError::Config(ConfigError {
                    file: config.source.clone(),
                    message: e.to_string(),
                })
            })?;
        Ok(Self {
            root,
            devlog_dir,
            config,
            spec,
        })
    }

    /// The store for a short command. With `[storage] watch = "auto"` on the JSON backend
    /// this first starts a background watcher when none runs (`devlog watch`).
    pub async fn open(&self) -> Result<Arc<dyn Store>, CliError> {
        if self.config.storage.watch == crate::config::WatchMode::Auto {
            crate::commands::watch::ensure_running(self);
        }
        Ok(devlog_store::open(&self.spec).await?)
    }

    /// The store for a long-running command (`serve`, `mcp`, `worker`, `sync --watch`): a
    /// JSON store watches its entries folder, keeps its index current and vouches for it to
    /// short commands (see `devlog_store::fsmonitor`).
    pub async fn open_watched(&self) -> Result<Arc<dyn Store>, CliError> {
        Ok(devlog_store::open_watched(&self.spec).await?)
    }

    /// Whether the entries live on a database server (the `.devlog` folder then holds only
    /// machine-local state and may not exist).
    pub fn is_server(&self) -> bool {
        self.spec.url().is_some()
    }

    /// Creates the `.devlog` folder with its `.gitignore` (which keeps `.state/` out of git)
    /// if it is missing: what `devlog init` leaves behind for every backend, so the workspace
    /// is found like any other. The file backends create it themselves when opened.
    pub fn create_folder(&self) -> Result<(), CliError> {
        devlog_store::prepare_folder(&self.devlog_dir).map_err(CliError::Store)
    }

    /// Where the entries are, for people: the folder or file, or the database URL with its
    /// password redacted, and the backend's name.
    pub fn describe(&self) -> String {
        format!(
            "{} ({} backend)",
            self.spec.location().display(),
            self.spec.name()
        )
    }
}

/// The database URL for a server backend (`None` for the file backends): `storage.url` from
/// the configuration (with `${VAR}` expanded) or the `DATABASE_URL` environment variable,
/// like the original devlog. When the backend itself comes from the environment
/// (`DEVLOG_STORAGE_TYPE`), `DATABASE_URL` wins over the file.
fn server_url(backend: &str, from_env: bool, config: &Config) -> Result<Option<String>, CliError> {
    if !is_server_backend(backend) {
        return Ok(None);
    }
    let env_url = std::env::var("DATABASE_URL")
        .ok()
        .filter(|u| !u.trim().is_empty());
    if from_env && env_url.is_some() {
        return Ok(env_url);
    }
    let configured = config
        .storage
        .expanded_url(|name| std::env::var(name).ok())
        .map_err(|message| {
            CliError::Config(ConfigError {
                file: config.source.clone(),
                message,
            })
        })?;
    Ok(configured.or(env_url))
}

#[cfg(test)]
mod tests {
    use super::Discovery;

    fn discovery(cwd: &std::path::Path, backend: Option<&str>) -> Discovery {
        Discovery {
            dir: None,
            backend: backend.map(str::to_string),
            cwd: cwd.to_path_buf(),
        }
    }

    /// The nearest folder with `.devlog` or a devlog.toml naming a server backend is the root;
    /// DEVLOG_STORAGE_TYPE naming a server makes the git root one when nothing else does.
    #[test]
    fn server_backed_workspaces_are_found_like_git_repositories() {
        let tmp = tempfile::tempdir().unwrap();
        let repo = tmp.path().join("repo");
        let deep = repo.join("app/src");
        std::fs::create_dir_all(&deep).unwrap();
        std::fs::create_dir(repo.join(".git")).unwrap();
        assert_eq!(discovery(&deep, None).find(), None);
        assert_eq!(discovery(&deep, Some("json")).find(), None);
        assert_eq!(
            discovery(&deep, Some("postgres")).find(),
            Some(repo.join(".devlog"))
        );

        std::fs::write(
            repo.join("app/devlog.toml"),
            "[storage]\ntype = \"sqlite\"\n",
        )
        .unwrap();
        assert_eq!(
            discovery(&deep, None).find(),
            None,
            "sqlite keeps its data in .devlog"
        );
        std::fs::write(
            repo.join("app/devlog.toml"),
            "[storage]\ntype = \"mysql\"\nurl = \"${DATABASE_URL}\"\n",
        )
        .unwrap();
        assert_eq!(
            discovery(&deep, None).find(),
            Some(repo.join("app/.devlog"))
        );
        // A file devlog cannot read is meant for it: the root, so its error is shown.
        std::fs::write(repo.join("app/devlog.toml"), "[storage\n").unwrap();
        assert_eq!(
            discovery(&deep, None).find(),
            Some(repo.join("app/.devlog"))
        );

        // A nearer .devlog wins.
        std::fs::create_dir(deep.join(".devlog")).unwrap();
        assert_eq!(discovery(&deep, None).find(), Some(deep.join(".devlog")));
    }
}
