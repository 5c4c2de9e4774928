//! Finding the `.devlog` folder and its configuration, and opening the store they name.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use devlog_core::Store;
use devlog_store::StoreSpec;

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
#[derive(Debug, Clone, Default)]
pub struct Discovery {
    /// `--dir` / `DEVLOG_DIR`: a `.devlog` folder, or a folder containing one.
    pub dir: Option<PathBuf>,
    /// `DEVLOG_STORAGE_TYPE`: overrides the configured backend.
    pub backend: Option<String>,
    pub cwd: PathBuf,
}

impl Discovery {
    /// The `.devlog` folder to use: explicit, or found by walking up from the working
    /// directory like git. `None` if there is none yet.
    pub fn find(&self) -> Option<PathBuf> {
        if let Some(d) = &self.dir {
            return Some(normalize_devlog_dir(d));
        }
        self.cwd
            .ancestors()
            .map(|a| a.join(".devlog"))
            .find(|d| d.is_dir())
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
        let (name, location) = match backend_override {
            Some(b) => (b.to_string(), None),
            None => (config.storage.kind.clone(), config.storage.path.clone()),
        };
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

    pub async fn open(&self) -> Result<Arc<dyn Store>, CliError> {
        Ok(devlog_store::open(&self.spec).await?)
    }
}

/// The database URL for a server backend (`None` for the file backends): `storage.url` from
/// the configuration (with `${VAR}` expanded) or the `DATABASE_URL` environment variable,
/// like the original devlog. When the backend itself comes from the environment
/// (`DEVLOG_STORAGE_TYPE`), `DATABASE_URL` wins over the file.
fn server_url(backend: &str, from_env: bool, config: &Config) -> Result<Option<String>, CliError> {
    let server = matches!(
        backend.trim().to_ascii_lowercase().as_str(),
        "postgres" | "postgresql" | "mysql" | "mariadb"
    );
    if !server {
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
