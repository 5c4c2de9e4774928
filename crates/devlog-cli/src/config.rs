//! `devlog.toml` (and the original devlog's `devlog.config.json`): reading and validating.
//!
//! Errors name the file, the position and the key, and say what to write instead.
//! The original devlog's file is translated to this version's settings (`legacy.rs`), with
//! every translation and every key that has no meaning here reported.

mod legacy;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use serde::{Deserialize, Serialize};

pub use legacy::{display_name, migration};

pub const TOML_FILE: &str = "devlog.toml";
pub const LEGACY_JSON_FILE: &str = "devlog.config.json";

/// The effective configuration.
#[derive(Debug, Clone, Serialize)]
pub struct Config {
    /// The file it came from, if any.
    pub source: Option<PathBuf>,
    pub storage: Storage,
    /// `[integrations.*]` tables, kept for the integration framework (validated there).
    #[serde(skip_serializing_if = "toml::Table::is_empty")]
    pub integrations: toml::Table,
    /// Where settings came from, by dotted key (`storage.type`, `integrations.github`,
    /// `integrations.github.repository`); see [`Config::origin`].
    #[serde(skip)]
    pub origins: BTreeMap<String, Origin>,
    /// What the original's settings became here: (original key, this version's setting).
    #[serde(skip)]
    pub translated: Vec<(String, String)>,
    /// The original's keys with no meaning in this version: (key, why, what to do instead).
    #[serde(skip)]
    pub unused: Vec<(String, String)>,
    /// `[server]`: settings of `devlog serve`.
    #[serde(skip_serializing_if = "ServerConfig::is_empty")]
    pub server: ServerConfig,
    /// `[sync]`.
    #[serde(skip)]
    pub sync: SyncSettings,
    /// `[retention]`: how long finished entries are kept (`devlog purge --retention`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retention: Option<devlog_core::retention::Retention>,
    /// `[plugins]`: what WebAssembly plugins are granted (devlog-plugin's `Policy`, checked
    /// when a plugin command reads it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plugins: Option<toml::Table>,
    /// `[workflows]`: how many workflow run records are kept (docs/workflows.md).
    #[serde(skip)]
    pub workflows: WorkflowSettings,
}

/// `[workflows]` in devlog.toml.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkflowSettings {
    /// Finished run records kept, newest first (default 1000).
    pub keep_runs: Option<usize>,
    /// Days a finished run record (and a claim) is kept (default 90, at least 1).
    pub keep_days: Option<u32>,
    /// Folders of shared workflow files read besides `.devlog/workflows/` (a team's
    /// templates), relative to the workspace's folder; `~/` is the home folder.
    #[serde(default)]
    pub paths: Vec<String>,
    /// Hosts `notify` steps may POST to (exact names; nothing else is reached).
    #[serde(default)]
    pub notify_hosts: Vec<String>,
    /// Named `notify` targets (`[workflows.notify.<name>] url = "${SLACK_URL}"`): the URL
    /// (a secret for Slack) stays out of workflow files.
    #[serde(default)]
    pub notify: std::collections::BTreeMap<String, NotifyTargetConfig>,
}

/// `[workflows.notify.<name>]`.
#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NotifyTargetConfig {
    /// The webhook URL; `${VAR}` is expanded when a step sends (never shown whole).
    pub url: String,
}

impl std::fmt::Debug for NotifyTargetConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotifyTargetConfig")
            .field("url", &devlog_workflow::host::redact_url(&self.url))
            .finish()
    }
}

impl WorkflowSettings {
    pub fn retention(&self) -> devlog_workflow::runs::RunRetention {
        let d = devlog_workflow::runs::RunRetention::default();
        devlog_workflow::runs::RunRetention {
            keep_runs: self.keep_runs.unwrap_or(d.keep_runs),
            keep_days: self.keep_days.unwrap_or(d.keep_days),
        }
    }
}

/// `[server]` in devlog.toml.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServerConfig {
    /// Host names besides loopback ones the server answers to (a reverse proxy's public name);
    /// `devlog serve --allow-host` adds to them. See docs/security.md.
    #[serde(default)]
    pub allow_hosts: Vec<String>,
    /// When requests need an API token: `auto` (the default: once the store holds any
    /// token) or `required` (always, even before the first). `devlog serve
    /// --insecure-no-auth` turns checks off. See docs/security.md.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<String>,
    /// `[server.oidc]`: single sign-on for the dashboard with OpenID Connect (issuer, client,
    /// redirect URL, role mapping). `${VAR}` in its strings is expanded when the server
    /// starts; secrets are shown redacted. See docs/security.md "Single sign-on".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oidc: Option<devlog_server::oidc::OidcSettings>,
}

impl ServerConfig {
    fn is_empty(&self) -> bool {
        self.allow_hosts.is_empty() && self.auth.is_none() && self.oidc.is_none()
    }

    /// `auth`, checked (`auto` when unset).
    pub fn auth_mode(&self) -> Result<devlog_server::auth::AuthMode, String> {
        self.auth
            .as_deref()
            .map_or(Ok(devlog_server::auth::AuthMode::Auto), str::parse)
            .map_err(|e| format!("server.auth: {e}"))
    }
}

/// `[sync]`: defaults of `devlog sync`, the sync workers and the MCP sync tools.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncSettings {
    /// How true conflicts are settled when `devlog sync` is given no `--strategy` (default
    /// manual).
    pub strategy: Option<devlog_core::merge::Strategy>,
    /// How often background sync pulls (`devlog worker`, `sync --watch`, `serve`): `30s`,
    /// `5m`, ... (defaults: 30 s in a terminal, 60 s in `devlog serve`).
    #[serde(default, deserialize_with = "de_interval")]
    pub interval: Option<std::time::Duration>,
    /// Sync workers `devlog worker` and `devlog serve` run (default 1).
    #[serde(default, deserialize_with = "de_workers")]
    pub workers: Option<usize>,
    /// How long a claimed job stays reserved for its worker (default 60 s): a worker that dies
    /// loses its jobs to the others after this long; it must outlast any stall a worker can
    /// suffer (docs/sync.md, "Why leases must outlast a stall").
    #[serde(default, deserialize_with = "de_lease")]
    pub lease: Option<std::time::Duration>,
    /// Who owns which synced field when an entry is linked to several trackers
    /// (`owners = { status = "jira", title = "devlog" }`): on a true conflict the owner's
    /// value wins; fields without an owner follow `strategy` (docs/sync.md, "One entry in
    /// several trackers"). Owners are `devlog` (or `local`) or configured integrations.
    #[serde(default)]
    pub owners: devlog_core::merge::FieldOwners,
}

/// `[sync] owners` with every integration owner checked against the configured
/// `[integrations.*]` tables (`ado` read as `azure-devops`, the integration's name): an owner
/// that names no configured integration is an error naming the key.
fn check_owners(cfg: &Config) -> Result<devlog_core::merge::FieldOwners, String> {
    use devlog_core::merge::{FieldOwner, FieldOwners};
    let configured: Vec<&String> = cfg.integrations.keys().collect();
    let is_configured = |n: &str| {
        configured
            .iter()
            .any(|k| k.as_str() == n || (n == "azure-devops" && k.as_str() == "ado"))
    };
    let mut out = FieldOwners::new();
    for (field, owner) in cfg.sync.owners.iter() {
        let owner = match owner {
            FieldOwner::Integration(n) => {
                let n = if n == "ado" {
                    "azure-devops"
                } else {
                    n.as_str()
                };
                if !is_configured(n) {
                    return Err(format!(
                        "sync.owners.{field}: `{n}` is not a configured integration ({}); use \
                         `devlog` or the name of an [integrations.<name>] table",
                        if configured.is_empty() {
                            "none is configured".to_string()
                        } else {
                            format!(
                                "configured: {}",
                                configured
                                    .iter()
                                    .map(|k| k.as_str())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            )
                        }
                    ));
                }
                FieldOwner::Integration(n.to_string())
            }
            FieldOwner::Devlog => FieldOwner::Devlog,
        };
        out = out.with(field, owner);
    }
    Ok(out)
}

/// The shortest lease accepted: a lease is renewed every third of its length.
pub const MIN_LEASE: std::time::Duration = std::time::Duration::from_secs(1);

/// A lease length as written on the command line or in devlog.toml (`--lease`, `lease =`).
pub fn parse_lease(s: &str) -> Result<std::time::Duration, String> {
    let d = crate::commands::worker::parse_interval(s)?;
    if d < MIN_LEASE {
        return Err(format!(
            "`{s}` is too short for a lease: give at least 1s (a lease is renewed every third \
             of its length, and a worker that stalls longer than it loses its job)"
        ));
    }
    Ok(d)
}

fn de_lease<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<std::time::Duration>, D::Error> {
    let s = String::deserialize(d)?;
    parse_lease(&s).map(Some).map_err(serde::de::Error::custom)
}

fn de_interval<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<std::time::Duration>, D::Error> {
    let s = String::deserialize(d)?;
    crate::commands::worker::parse_interval(&s)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

fn de_workers<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    let n = u64::deserialize(d)?;
    if !(1..=64).contains(&n) {
        return Err(serde::de::Error::custom(format!(
            "workers = {n}: give a number from 1 to 64"
        )));
    }
    Ok(usize::try_from(n).ok())
}

/// Where a setting's value came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "from", rename_all = "camelCase")]
pub enum Origin {
    /// Built in.
    Default,
    /// Key(s) of a configuration file, named as written in that file.
    File { file: PathBuf, key: String },
    /// Environment variables.
    Env { variables: Vec<String> },
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str("default"),
            Origin::File { file, key } => write!(f, "{} ({key})", file.display()),
            Origin::Env { variables } => write!(f, "environment ({})", variables.join(", ")),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Storage {
    #[serde(rename = "type", default = "default_kind")]
    pub kind: String,
    /// Database file for `sqlite`, relative to the project root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// Database URL for `postgres` and `mysql`, as written (usually `${DATABASE_URL}`);
    /// `${VAR}` is expanded when the store is opened. Shown with its password redacted.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "serialize_redacted_url"
    )]
    pub url: Option<String>,
    /// `watch = "auto"`: commands on the JSON backend start a background watcher of the
    /// entries folder when none runs (`devlog watch`), so later commands skip their scan.
    #[serde(default, skip_serializing_if = "WatchMode::is_off")]
    pub watch: WatchMode,
}

/// `[storage] watch` in devlog.toml.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WatchMode {
    /// Commands scan the entries folder unless a devlog already watches it (the default).
    #[default]
    Off,
    /// Commands start `devlog watch run` in the background when no devlog watches it.
    Auto,
}

impl WatchMode {
    fn is_off(&self) -> bool {
        *self == WatchMode::Off
    }
}

fn serialize_redacted_url<S: serde::Serializer>(
    url: &Option<String>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match url {
        Some(u) => s.serialize_str(&devlog_store::redact_url(u)),
        None => s.serialize_none(),
    }
}

impl Storage {
    /// `url` with every `${VAR}` replaced by the variable's value from `env`; an unset or
    /// empty variable is an error that names it.
    pub fn expanded_url(
        &self,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<String>, String> {
        self.url
            .as_deref()
            .map(|u| expand_vars(u, env).map_err(|e| format!("storage.url: {e}")))
            .transpose()
    }
}

/// Replaces `${NAME}` with the value of variable `NAME`; `$$` is a literal `$`. Other `$`
/// signs are kept (passwords may contain them).
pub fn expand_vars(text: &str, env: impl Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body) = after.strip_prefix('{') {
            let Some(end) = body.find('}') else {
                // The text may hold a secret, so it is not echoed.
                return Err("`${` without a closing `}`".to_string());
            };
            let name = &body[..end];
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!(
                    "`${{{name}}}` is not a variable reference: use ${{NAME}} with letters, digits and _"
                ));
            }
            match env(name).filter(|v| !v.is_empty()) {
                Some(v) => out.push_str(&v),
                None => {
                    return Err(format!(
                        "environment variable {name} is not set (it is referenced as ${{{name}}}); \
                         export it before running devlog"
                    ));
                }
            }
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn default_kind() -> String {
    "json".into()
}

impl Default for Storage {
    fn default() -> Self {
        Self {
            kind: default_kind(),
            path: None,
            url: None,
            watch: WatchMode::Off,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlFile {
    #[serde(default)]
    storage: Storage,
    #[serde(default)]
    integrations: toml::Table,
    #[serde(default)]
    server: ServerConfig,
    #[serde(default)]
    sync: SyncSettings,
    #[serde(default)]
    retention: Option<devlog_core::retention::Retention>,
    /// What plugins are granted (devlog-plugin `Policy`, read where plugins are loaded).
    #[serde(default)]
    plugins: Option<toml::Table>,
    #[serde(default)]
    workflows: WorkflowSettings,
}

/// A configuration problem, with the file it is in.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}{message}", file.as_ref().map(|f| format!("{}: ", f.display())).unwrap_or_default())]
pub struct ConfigError {
    pub file: Option<PathBuf>,
    pub message: String,
}

impl Config {
    /// Reads `devlog.toml`, else `devlog.config.json`, in `root`; defaults when neither exists.
    /// Without a `devlog.toml`, the original devlog's integration variables (`GITHUB_OWNER`,
    /// `JIRA_BASE_URL`, `ADO_ORGANIZATION`, ...) configure the integrations the original file
    /// does not. What was translated or left unused is printed on stderr, once per process.
    pub fn load(root: &Path) -> Result<Self, ConfigError> {
        let cfg = Self::load_with_env(root, &|k: &str| {
            std::env::var(k).ok().filter(|v| !v.trim().is_empty())
        })?;
        let mut warnings = cfg.warnings();
        warnings.extend(misplaced(root));
        announce(&warnings);
        Ok(cfg)
    }

    /// [`Config::load`] with the environment given, printing nothing.
    pub fn load_with_env(
        root: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let toml_path = root.join(TOML_FILE);
        if toml_path.is_file() {
            let text = std::fs::read_to_string(&toml_path).map_err(|e| ConfigError {
                file: Some(toml_path.clone()),
                message: format!("cannot read: {e}"),
            })?;
            let mut cfg = Self::from_toml(&text, Some(toml_path))?;
            legacy::apply_storage_env(&mut cfg, env, Some(TOML_FILE));
            legacy::note_unused_env(&mut cfg, env);
            return Ok(cfg);
        }
        Self::load_original(root, env)
    }

    /// The original devlog's settings in `root`, whether or not a `devlog.toml` is there:
    /// its `devlog.config.json` (if any) and its environment variables, translated.
    pub fn load_original(
        root: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let json_path = root.join(LEGACY_JSON_FILE);
        let mut storage_given = false;
        let mut cfg = if json_path.is_file() {
            let text = std::fs::read_to_string(&json_path).map_err(|e| ConfigError {
                file: Some(json_path.clone()),
                message: format!("cannot read: {e}"),
            })?;
            storage_given = serde_json::from_str::<serde_json::Value>(&text)
                .is_ok_and(|v| v.get("storage").is_some());
            Self::from_legacy_json(&text, Some(json_path))?
        } else {
            Self::defaults()
        };
        legacy::apply_storage_env(&mut cfg, env, storage_given.then_some(LEGACY_JSON_FILE));
        legacy::note_unused_env(&mut cfg, env);
        legacy::apply_env(&mut cfg, env);
        Ok(cfg)
    }

    fn defaults() -> Self {
        Self {
            source: None,
            storage: Storage::default(),
            integrations: toml::Table::new(),
            origins: BTreeMap::new(),
            translated: Vec::new(),
            unused: Vec::new(),
            server: ServerConfig::default(),
            sync: SyncSettings::default(),
            retention: None,
            plugins: None,
            workflows: WorkflowSettings::default(),
        }
    }

    /// Where the setting `key` (dotted, e.g. `storage.type` or
    /// `integrations.github.token`) came from: its own record, else its table's (a key of a
    /// table read from a file is named as itself), else the default.
    pub fn origin(&self, key: &str) -> Origin {
        if let Some(o) = self.origins.get(key) {
            return o.clone();
        }
        let mut prefix = key;
        while let Some((head, _)) = prefix.rsplit_once('.') {
            prefix = head;
            match self.origins.get(prefix) {
                Some(Origin::File { file, key: k }) if k == prefix => {
                    return Origin::File {
                        file: file.clone(),
                        key: key.to_string(),
                    };
                }
                Some(o) => return o.clone(),
                None => {}
            }
        }
        Origin::Default
    }

    /// The database file or folder the configuration gives for the backend in use: the
    /// configured one, or with `DEVLOG_STORAGE_TYPE` overriding the backend, only one that
    /// came from the environment too (`DEVLOG_SQLITE_PATH`).
    pub fn storage_path(&self, backend_override: bool) -> Option<&Path> {
        let from_env = matches!(self.origin("storage.path"), Origin::Env { .. });
        self.storage
            .path
            .as_deref()
            .filter(|_| !backend_override || from_env)
    }

    /// Whether the settings come from the original devlog (its file or its variables).
    pub fn is_translated(&self) -> bool {
        !self.translated.is_empty() || !self.unused.is_empty()
    }

    /// What the user should know about how the configuration was read: the original's
    /// settings and what they became, keys not used.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        let from = match &self.source {
            Some(p) => p.display().to_string(),
            None => "the environment".to_string(),
        };
        if !self.translated.is_empty() {
            let mut w = format!("the original devlog's settings in {from} are read as:");
            for (k, v) in &self.translated {
                w.push_str(&format!("\n  {k} → {v}"));
            }
            w.push_str(&format!(
                "\n  run `devlog config migrate` to write the equivalent {TOML_FILE} (--dry-run prints it)"
            ));
            out.push(w);
        }
        let (vars, keys): (Vec<_>, Vec<_>) = self
            .unused
            .iter()
            .partition(|(k, _)| k.starts_with("environment "));
        if !keys.is_empty() {
            let mut w = format!("{from}: keys with no meaning in this version, not used:");
            for (k, why) in keys {
                w.push_str(&format!("\n  {k}: {why}"));
            }
            out.push(w);
        }
        if !vars.is_empty() {
            let mut w = "the original devlog's environment variables, not used:".to_string();
            for (k, why) in vars {
                let k = k.trim_start_matches("environment ");
                w.push_str(&format!("\n  {k}: {why}"));
            }
            out.push(w);
        }
        out
    }

    pub fn from_toml(text: &str, source: Option<PathBuf>) -> Result<Self, ConfigError> {
        let file: TomlFile = toml::from_str(text).map_err(|e| ConfigError {
            file: source.clone(),
            message: format!(
                "{}\nhint: see docs/configuration.md for the keys devlog.toml accepts",
                e.to_string().trim_end()
            ),
        })?;
        let mut cfg = Self {
            storage: file.storage,
            integrations: file.integrations,
            server: file.server,
            sync: file.sync,
            retention: file.retention,
            plugins: file.plugins,
            workflows: file.workflows,
            ..Self::defaults()
        };
        if let Some(path) = &source {
            let raw: toml::Table = toml::from_str(text).unwrap_or_default();
            for (key, set) in [
                ("sync.strategy", cfg.sync.strategy.is_some()),
                ("sync.interval", cfg.sync.interval.is_some()),
                ("sync.workers", cfg.sync.workers.is_some()),
                ("sync.lease", cfg.sync.lease.is_some()),
            ] {
                if set {
                    cfg.origins.insert(
                        key.into(),
                        Origin::File {
                            file: path.clone(),
                            key: key.into(),
                        },
                    );
                }
            }
            if raw
                .get("server")
                .and_then(toml::Value::as_table)
                .is_some_and(|s| s.contains_key("allowHosts"))
            {
                cfg.origins.insert(
                    "server.allowHosts".into(),
                    Origin::File {
                        file: path.clone(),
                        key: "server.allowHosts".into(),
                    },
                );
            }
            let storage = raw.get("storage").and_then(toml::Value::as_table);
            for key in ["type", "path", "url"] {
                if storage.is_some_and(|s| s.contains_key(key)) {
                    let key = format!("storage.{key}");
                    cfg.origins.insert(
                        key.clone(),
                        Origin::File {
                            file: path.clone(),
                            key,
                        },
                    );
                }
            }
            for name in cfg.integrations.keys() {
                let key = format!("integrations.{name}");
                cfg.origins.insert(
                    key.clone(),
                    Origin::File {
                        file: path.clone(),
                        key,
                    },
                );
            }
        }
        cfg.sync.owners = check_owners(&cfg).map_err(|message| ConfigError {
            file: source.clone(),
            message,
        })?;
        cfg.server.auth_mode().map_err(|message| ConfigError {
            file: source.clone(),
            message,
        })?;
        for h in &cfg.server.allow_hosts {
            devlog_server::guard::parse_allowed_host(h).map_err(|e| ConfigError {
                file: source.clone(),
                message: format!("server.allowHosts: {e}"),
            })?;
        }
        if let Some(r) = &cfg.retention {
            r.validate().map_err(|e| ConfigError {
                file: source.clone(),
                message: e.to_string(),
            })?;
        }
        cfg.workflows
            .retention()
            .validate()
            .map_err(|message| ConfigError {
                file: source.clone(),
                message,
            })?;
        cfg.source = source;
        cfg.validate()?;
        Ok(cfg)
    }

    /// The original devlog's `devlog.config.json`, translated: `storage` (`type` or
    /// `strategy`, paths, connection strings), `integrations.github` (`owner`/`repo`/`token`/
    /// `projectId` → our keys), `jira` and `ado` (their keys are ours), `syncStrategy`;
    /// every other key is listed in [`Config::unused`].
    pub fn from_legacy_json(text: &str, source: Option<PathBuf>) -> Result<Self, ConfigError> {
        let v: serde_json::Value = serde_json::from_str(text).map_err(|e| ConfigError {
            file: source.clone(),
            message: format!("not valid JSON: {e}"),
        })?;
        let file = source
            .clone()
            .unwrap_or_else(|| PathBuf::from(LEGACY_JSON_FILE));
        let mut cfg = legacy::translate(&v, &file).map_err(|message| ConfigError {
            file: source.clone(),
            message,
        })?;
        cfg.source = source;
        cfg.validate()?;
        Ok(cfg)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let known = [
            "json",
            "local-json",
            "sqlite",
            "postgres",
            "postgresql",
            "mysql",
            "mariadb",
        ];
        if !known.contains(&self.storage.kind.to_ascii_lowercase().as_str()) {
            return Err(ConfigError {
                file: self.source.clone(),
                message: format!(
                    "storage.type: unknown backend `{}`; use one of: {}",
                    self.storage.kind,
                    devlog_store::BACKENDS.join(", ")
                ),
            });
        }
        Ok(())
    }

    /// The configuration as JSON with every secret-looking value replaced by `***`.
    #[allow(dead_code)] // `devlog config show` prints the effective settings instead
    pub fn redacted(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).expect("config serializes");
        redact(&mut v);
        v
    }
}

/// The `[integrations.*]` tables as JSON, with `${VAR}` references expanded and secrets
/// read from files: a key `tokenFile = "path"` (or `token_file`) becomes `token` holding the
/// file's trimmed content. Errors name the key.
pub fn integration_tables(
    cfg: &Config,
    root: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<std::collections::BTreeMap<String, serde_json::Value>, ConfigError> {
    let mut out = std::collections::BTreeMap::new();
    for name in cfg.integrations.keys() {
        out.insert(name.clone(), integration_table(cfg, name, root, env)?);
    }
    Ok(out)
}

/// One `[integrations.<name>]` table as [`integration_tables`] gives it (`Null` if absent).
pub fn integration_table(
    cfg: &Config,
    name: &str,
    root: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<serde_json::Value, ConfigError> {
    let Some(table) = cfg.integrations.get(name) else {
        return Ok(serde_json::Value::Null);
    };
    let mut v = serde_json::to_value(table).map_err(|e| ConfigError {
        file: cfg.source.clone(),
        message: format!("integrations.{name}: {e}"),
    })?;
    expand_tree(&mut v, &format!("integrations.{name}"), root, env).map_err(|message| {
        ConfigError {
            file: cfg.source.clone(),
            message,
        }
    })?;
    Ok(v)
}

/// Prints each warning on stderr, at most once per process (the configuration may be loaded
/// more than once by one command).
/// A configuration file put inside `.devlog/` instead of beside it is not read: said, so
/// that a backend or an integration configured there is not silently replaced by the
/// defaults.
fn misplaced(root: &Path) -> Vec<String> {
    [TOML_FILE, LEGACY_JSON_FILE]
        .iter()
        .filter_map(|name| {
            let inside = root.join(".devlog").join(name);
            inside.is_file().then(|| {
                format!(
                    "{} is not read: {name} belongs beside the .devlog folder, at {}; move it there",
                    inside.display(),
                    root.join(name).display()
                )
            })
        })
        .collect()
}

fn announce(warnings: &[String]) {
    static SHOWN: OnceLock<Mutex<std::collections::BTreeSet<String>>> = OnceLock::new();
    let shown = SHOWN.get_or_init(Default::default);
    let Ok(mut shown) = shown.lock() else { return };
    for w in warnings {
        if shown.insert(w.clone()) {
            eprintln!("warning: {w}");
        }
    }
}

fn expand_tree(
    v: &mut serde_json::Value,
    key: &str,
    root: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(), String> {
    match v {
        serde_json::Value::String(s) => {
            *s = expand_vars(s, env).map_err(|e| format!("{key}: {e}"))?;
        }
        serde_json::Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                expand_tree(item, &format!("{key}[{i}]"), root, env)?;
            }
        }
        serde_json::Value::Object(map) => {
            let keys: Vec<String> = map.keys().cloned().collect();
            for k in keys {
                let sub = format!("{key}.{k}");
                if let Some(val) = map.get_mut(&k) {
                    expand_tree(val, &sub, root, env)?;
                }
                let target = k.strip_suffix("File").or_else(|| k.strip_suffix("_file"));
                if let (Some(target), Some(serde_json::Value::String(path))) = (target, map.get(&k))
                {
                    let p = root.join(path);
                    let secret = std::fs::read_to_string(&p).map_err(|e| {
                        format!("{sub}: cannot read the secret file {} ({e}); fix the path or set `{target}` instead", p.display())
                    })?;
                    let target = target.to_string();
                    map.remove(&k);
                    map.insert(target, serde_json::Value::String(secret.trim().to_string()));
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// Keys whose values are secrets and never printed.
pub fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    [
        "token",
        "secret",
        "password",
        "passwd",
        "apikey",
        "api_key",
        "privatekey",
        "private_key",
        "pat",
    ]
    .iter()
    .any(|s| {
        k == *s
            || k.ends_with(s)
            || k.contains("token")
            || k.contains("secret")
            || k.contains("password")
    })
}

/// Replaces every secret-looking value (see [`is_secret_key`]) in `v` by `***`.
pub fn redact(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, val) in map.iter_mut() {
                if is_secret_key(k) && !val.is_object() && !val.is_null() {
                    *val = serde_json::Value::String("***".into());
                } else {
                    redact(val);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integration_tables_expand_variables_and_read_secret_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("token.txt"), "s3cret\n").unwrap();
        let cfg = Config::from_toml(
            "[integrations.github]\nrepository = \"${REPO}\"\ntokenFile = \"token.txt\"\n",
            None,
        )
        .unwrap();
        let env = |k: &str| (k == "REPO").then(|| "o/r".to_string());
        let t = integration_tables(&cfg, dir.path(), &env).unwrap();
        assert_eq!(t["github"]["repository"], "o/r");
        assert_eq!(t["github"]["token"], "s3cret");
        assert!(t["github"].get("tokenFile").is_none());
        let err = integration_tables(&cfg, dir.path(), &|_: &str| None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("integrations.github.repository") && err.contains("REPO"),
            "{err}"
        );
        assert!(!cfg.redacted().to_string().contains("s3cret"));
    }

    #[test]
    fn typos_name_the_key_and_position() {
        let err = Config::from_toml("[storage]\ntpye = \"sqlite\"\n", Some("devlog.toml".into()))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("devlog.toml: "), "{err}");
        assert!(err.contains("tpye") && err.contains("line 2"), "{err}");
    }

    #[test]
    fn workflows_keep_runs_and_days() {
        let cfg = Config::from_toml("[workflows]\nkeepRuns = 50\n", None).unwrap();
        let keep = cfg.workflows.retention();
        assert_eq!((keep.keep_runs, keep.keep_days), (50, 90));
        let err = Config::from_toml("[workflows]\nkeepDays = 0\n", None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("workflows.keepDays"), "{err}");
        let err = Config::from_toml("[workflows]\nkeep = 3\n", None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("keepRuns"), "{err}");
    }

    #[test]
    fn sync_owners_name_synced_fields_and_configured_integrations() {
        use devlog_core::merge::{FieldOwner, SyncedField};
        let tables = "[integrations.github]\nrepository = \"acme/widgets\"\n\
                      [integrations.jira]\nbaseUrl = \"https://acme.atlassian.net\"\n";
        let cfg = Config::from_toml(
            &format!("[sync]\nowners = {{ status = \"jira\", title = \"devlog\" }}\n{tables}"),
            None,
        )
        .unwrap();
        let o = &cfg.sync.owners;
        assert_eq!(
            o.owner(SyncedField::Status),
            Some(&FieldOwner::Integration("jira".into()))
        );
        assert_eq!(o.owner(SyncedField::Title), Some(&FieldOwner::Devlog));
        assert_eq!(o.owner(SyncedField::Priority), None);
        // A field that is not synced, an owner that is not a name, an integration not
        // configured: each an error naming the key.
        for (owners, key, hint) in [
            ("{ state = \"jira\" }", "owners.state", "status"),
            ("{ status = \"Jira!\" }", "owners.status", "devlog"),
            (
                "{ status = \"gitlab\" }",
                "sync.owners.status",
                "configured: github, jira",
            ),
        ] {
            let err = Config::from_toml(
                &format!("[sync]\nowners = {owners}\n{tables}"),
                Some("devlog.toml".into()),
            )
            .unwrap_err()
            .to_string();
            assert!(err.contains(key) && err.contains(hint), "{owners}: {err}");
        }
        // Azure DevOps' table may be `ado`; the owner is the integration's name.
        let cfg = Config::from_toml(
            "[sync]\nowners = { status = \"ado\" }\n[integrations.ado]\norganization = \"acme\"\n",
            None,
        )
        .unwrap();
        assert_eq!(
            cfg.sync.owners.owner(SyncedField::Status),
            Some(&FieldOwner::Integration("azure-devops".into()))
        );
    }

    #[test]
    fn server_oidc_is_read_and_its_secrets_are_redacted() {
        let cfg = Config::from_toml(
            "[server.oidc]\nissuer = \"https://sso.example.com/realms/dev\"\nclientId = \"devlog\"\n\
             clientSecret = \"${OIDC_SECRET}\"\nredirectUrl = \"https://devlog.example.com/auth/callback\"\n\
             [server.oidc.roles]\ndefault = \"viewer\"\ngroups = { admins = \"admin\" }\n",
            None,
        )
        .unwrap();
        let o = cfg.server.oidc.as_ref().unwrap();
        assert_eq!(o.client_id, "devlog");
        assert_eq!(o.roles.default, Some(devlog_core::auth::Role::Viewer));
        let shown = toml::to_string(&cfg.server).unwrap();
        assert!(
            shown.contains("<redacted>") && !shown.contains("OIDC_SECRET"),
            "{shown}"
        );
        let err = Config::from_toml("[server.oidc]\nissuer = \"x\"\n", None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("clientId") || err.contains("client"), "{err}");
    }

    #[test]
    fn server_allow_hosts_are_host_names() {
        let cfg =
            Config::from_toml("[server]\nallowHosts = [\"devlog.example.com\"]\n", None).unwrap();
        assert_eq!(cfg.server.allow_hosts, ["devlog.example.com"]);
        let err = Config::from_toml("[server]\nallowHosts = [\"https://x.example/\"]\n", None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("server.allowHosts"), "{err}");
        let err = Config::from_toml("[server]\nallowHost = []\n", None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("allowHost"), "{err}");
    }

    #[test]
    fn unknown_backends_list_the_known_ones() {
        let err = Config::from_toml("[storage]\ntype = \"mongo\"\n", None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("mongo") && err.contains("json, sqlite"),
            "{err}"
        );
    }

    #[test]
    fn server_urls_expand_variables_and_name_the_missing_one() {
        let cfg = Config::from_toml(
            "[storage]\ntype = \"postgres\"\nurl = \"${DATABASE_URL}\"\n",
            None,
        )
        .unwrap();
        let env = |k: &str| (k == "DATABASE_URL").then(|| "postgres://u:pw@h/db".to_string());
        assert_eq!(
            cfg.storage.expanded_url(env).unwrap().as_deref(),
            Some("postgres://u:pw@h/db")
        );
        let err = cfg.storage.expanded_url(|_| None).unwrap_err();
        assert!(
            err.contains("storage.url") && err.contains("DATABASE_URL is not set"),
            "{err}"
        );
        let env = |k: &str| match k {
            "PGUSER" => Some("ann".to_string()),
            "PGPASS" => Some("p$ss".to_string()),
            _ => None,
        };
        assert_eq!(
            expand_vars("postgres://${PGUSER}:${PGPASS}@db/x?a=$$b&c=$d", env).unwrap(),
            "postgres://ann:p$ss@db/x?a=$b&c=$d"
        );
        assert!(expand_vars("${oops", env).is_err());
        assert!(expand_vars("${bad-name}", env).is_err());
    }

    #[test]
    fn shown_configs_never_contain_the_database_password() {
        let cfg = Config::from_toml(
            "[storage]\ntype = \"mysql\"\nurl = \"mysql://root:hunter22@db/devlog\"\n",
            None,
        )
        .unwrap();
        let shown = cfg.redacted().to_string();
        assert!(!shown.contains("hunter22"), "{shown}");
        assert!(shown.contains("mysql://root:***@db/devlog"), "{shown}");
        let legacy = Config::from_legacy_json(
            r#"{"storage":{"type":"postgres","connectionString":"postgres://a:b@c/d"}}"#,
            None,
        )
        .unwrap();
        assert_eq!(legacy.storage.url.as_deref(), Some("postgres://a:b@c/d"));
    }

    #[test]
    fn reads_the_original_config_shape_and_redacts_secrets() {
        let cfg = Config::from_legacy_json(
            r#"{"storage":{"type":"sqlite","filePath":".devlog/x.db"},
               "integrations":{"github":{"token":"ghp_secret","owner":"o","repo":"r"}}}"#,
            None,
        )
        .unwrap();
        assert_eq!(cfg.storage.kind, "sqlite");
        assert_eq!(cfg.storage.path, Some(PathBuf::from(".devlog/x.db")));
        let shown = cfg.redacted().to_string();
        assert!(!shown.contains("ghp_secret"), "{shown}");
        assert!(shown.contains("\"repository\":\"o/r\""), "{shown}");
        assert!(!cfg.warnings().join("\n").contains("ghp_secret"));
        // This version's own keys written in the JSON file are kept.
        let cfg = legacy(
            r#"{"integrations":{"github":{"repository":"o/r","tokenFile":"t.txt","syncNotes":false}}}"#,
        );
        assert_eq!(
            cfg.integrations["github"]["tokenFile"].as_str(),
            Some("t.txt")
        );
        assert_eq!(
            cfg.integrations["github"]["syncNotes"].as_bool(),
            Some(false)
        );
        assert!(cfg.unused.is_empty(), "{:?}", cfg.unused);
    }

    fn legacy(text: &str) -> Config {
        Config::from_legacy_json(text, Some(PathBuf::from("/p/devlog.config.json"))).unwrap()
    }

    #[test]
    fn original_storage_strategies_select_our_backends() {
        for (strategy, kind) in [
            ("local-json", "json"),
            ("local-sqlite", "sqlite"),
            ("git-json", "json"),
            ("hybrid-git", "json"),
        ] {
            let cfg = legacy(&format!(r#"{{"storage":{{"strategy":"{strategy}"}}}}"#));
            assert_eq!(cfg.storage.kind, kind, "{strategy}");
            assert_eq!(
                cfg.origin("storage.type"),
                Origin::File {
                    file: "/p/devlog.config.json".into(),
                    key: "storage.strategy".into()
                }
            );
        }
        // The original's legacy shape: `type` wins over `strategy`, said so.
        let cfg = legacy(
            r#"{"storage":{"type":"postgres","connectionString":"postgres://u:pw@h/db","strategy":"local-sqlite"}}"#,
        );
        assert_eq!(cfg.storage.kind, "postgres");
        assert_eq!(cfg.storage.url.as_deref(), Some("postgres://u:pw@h/db"));
        assert!(cfg.unused.iter().any(|(k, _)| k == "storage.strategy"));
        assert!(
            !cfg.warnings().join("\n").contains("pw@"),
            "{:?}",
            cfg.warnings()
        );
        let err = Config::from_legacy_json(r#"{"storage":{"strategy":"cloud"}}"#, None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("storage.strategy") && err.contains("local-sqlite"),
            "{err}"
        );
    }

    #[test]
    fn jira_and_ado_are_read_and_unknown_keys_are_named() {
        let cfg = legacy(
            r#"{"integrations":{"jira":{"baseUrl":"https://j","apiToken":"s","userEmail":"me@x",
                "projectKey":"DEV","colour":"x"},
                "ado":{"organization":"o","project":"p","personalAccessToken":"t","area":"x"},
                "gitlab":{}},"extra":1}"#,
        );
        let jira = &cfg.integrations["jira"];
        assert_eq!(jira["baseUrl"].as_str(), Some("https://j"));
        assert_eq!(jira["projectKey"].as_str(), Some("DEV"));
        assert_eq!(jira["userEmail"].as_str(), Some("me@x"));
        assert!(jira.get("colour").is_none());
        // Azure DevOps' keys are read as they are, under the original's name (the alias).
        let ado = &cfg.integrations["ado"];
        assert_eq!(ado["organization"].as_str(), Some("o"));
        assert_eq!(ado["project"].as_str(), Some("p"));
        assert_eq!(ado["personalAccessToken"].as_str(), Some("t"));
        assert!(ado.get("area").is_none());
        let unused: Vec<&str> = cfg.unused.iter().map(|(k, _)| k.as_str()).collect();
        for k in [
            "integrations.jira.colour",
            "integrations.ado.area",
            "integrations.gitlab",
            "extra",
        ] {
            assert!(unused.contains(&k), "{k} not in {unused:?}");
        }
        let w = cfg.warnings().join("\n");
        assert!(
            !w.contains("is not available")
                && w.contains(
                    "integrations.ado.personalAccessToken → [integrations.ado] personalAccessToken (secret, not shown)"
                ),
            "{w}"
        );
        // The secret is never shown among the translations.
        assert!(
            w.contains(
                "integrations.jira.apiToken → [integrations.jira] apiToken (secret, not shown)"
            ),
            "{w}"
        );
        assert!(!w.contains("\"s\""), "{w}");
    }

    #[test]
    fn migration_keeps_secrets_out_of_devlog_toml() {
        let cfg = legacy(
            r#"{"storage":{"type":"mysql","connectionString":"mysql://root:hunter22@db/devlog"},
               "integrations":{"github":{"owner":"o","repo":"r","token":"ghp_lit"},
                               "jira":{"baseUrl":"https://j","apiToken":"jira_lit"},
                               "ado":{"organization":"acme","project":"P","personalAccessToken":"ado_lit"}}}"#,
        );
        let m = migration(&cfg);
        for secret in ["hunter22", "ghp_lit", "jira_lit", "ado_lit"] {
            assert!(!m.toml.contains(secret), "{}", m.toml);
            assert!(!m.notes.join("\n").contains(secret));
        }
        let back = Config::from_toml(&m.toml, None).unwrap();
        assert_eq!(back.storage.kind, "mysql");
        assert_eq!(back.storage.url.as_deref(), Some("${DATABASE_URL}"));
        assert_eq!(
            back.integrations["github"]["token"].as_str(),
            Some("${GITHUB_TOKEN}")
        );
        assert_eq!(
            back.integrations["jira"]["apiToken"].as_str(),
            Some("${JIRA_API_TOKEN}")
        );
        assert_eq!(
            back.integrations["ado"]["personalAccessToken"].as_str(),
            Some("${ADO_PAT}")
        );
        assert_eq!(
            back.integrations["ado"]["organization"].as_str(),
            Some("acme")
        );
        let cfg = legacy(r#"{"syncStrategy":{"conflictResolution":"most-recent"}}"#);
        let back = Config::from_toml(&migration(&cfg).toml, None).unwrap();
        assert_eq!(
            back.sync.strategy,
            Some(devlog_core::merge::Strategy::NewestWins)
        );
        assert!(
            m.toml.contains("apiToken = \"${JIRA_API_TOKEN}\""),
            "{}",
            m.toml
        );
        assert!(!m.toml.contains("# apiToken"), "{}", m.toml);
        assert!(m.notes.iter().any(|n| n.contains("export DATABASE_URL")));
    }

    fn vars(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k: &str| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn original_storage_variables_select_the_backend_and_its_location() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = Config::load_with_env(
            dir.path(),
            &vars(&[
                ("DEVLOG_STORAGE_STRATEGY", "local-sqlite"),
                ("DEVLOG_SQLITE_PATH", "data/log.db"),
            ]),
        )
        .unwrap();
        assert_eq!(cfg.storage.kind, "sqlite");
        assert_eq!(cfg.storage.path, Some(PathBuf::from("data/log.db")));
        let env = |v: &str| Origin::Env {
            variables: vec![v.into()],
        };
        assert_eq!(cfg.origin("storage.type"), env("DEVLOG_STORAGE_STRATEGY"));
        assert_eq!(cfg.origin("storage.path"), env("DEVLOG_SQLITE_PATH"));
        // The path goes with a backend from the environment; a file's path does not.
        assert!(cfg.storage_path(true).is_some());
        let w = cfg.warnings().join("\n");
        assert!(
            w.contains("environment DEVLOG_SQLITE_PATH → [storage] path = \"data/log.db\""),
            "{w}"
        );
        // URLs: the backend's own variable, else DEVLOG_DATABASE_URL; kept as references.
        let cfg = Config::load_with_env(
            dir.path(),
            &vars(&[
                ("DEVLOG_STORAGE_TYPE", "postgresql"),
                ("DEVLOG_MYSQL_URL", "mysql://u:pw@h/db"),
                ("DEVLOG_DATABASE_URL", "postgres://u:pw@h/db"),
                ("DEVLOG_SQLITE_PATH", "x.db"),
                ("DEVLOG_STORAGE_STRATEGY", "local-json"),
                ("DEVLOG_GIT_TOKEN", "secret"),
            ]),
        )
        .unwrap();
        assert_eq!(cfg.storage.url.as_deref(), Some("${DEVLOG_DATABASE_URL}"));
        assert_eq!(cfg.origin("storage.url"), env("DEVLOG_DATABASE_URL"));
        assert_eq!(cfg.storage.kind, "postgres");
        let m = migration(&cfg);
        assert!(
            m.toml
                .contains("type = \"postgres\"\nurl = \"${DEVLOG_DATABASE_URL}\""),
            "{}",
            m.toml
        );
        let unused: Vec<&str> = cfg.unused.iter().map(|(k, _)| k.as_str()).collect();
        for k in [
            "environment DEVLOG_MYSQL_URL",
            "environment DEVLOG_SQLITE_PATH",
            "environment DEVLOG_STORAGE_STRATEGY",
            "environment DEVLOG_GIT_TOKEN",
        ] {
            assert!(unused.contains(&k), "{k} not in {unused:?}");
        }
        let w = cfg.warnings().join("\n");
        assert!(!w.contains("pw@") && !w.contains("secret"), "{w}");
        assert!(
            w.contains("the original devlog's environment variables, not used:"),
            "{w}"
        );
        // DATABASE_URL wins over them, as in the original; an unknown strategy is a warning.
        let cfg = Config::load_with_env(
            dir.path(),
            &vars(&[
                ("DEVLOG_STORAGE_TYPE", "mysql"),
                ("DEVLOG_MYSQL_URL", "mysql://u:pw@h/db"),
                ("DATABASE_URL", "mysql://other/db"),
            ]),
        )
        .unwrap();
        assert!(cfg.storage.url.is_none());
        assert!(
            cfg.warnings()
                .join("\n")
                .contains("DATABASE_URL is set too")
        );
        let cfg = Config::load_with_env(dir.path(), &vars(&[("DEVLOG_STORAGE_STRATEGY", "cloud")]))
            .unwrap();
        assert_eq!(cfg.storage.kind, "json");
        assert!(
            cfg.warnings()
                .join("\n")
                .contains("unknown strategy `cloud`")
        );
        // A configuration file that gives the storage: the variables are named, not used.
        std::fs::write(dir.path().join(TOML_FILE), "[storage]\ntype = \"json\"\n").unwrap();
        let cfg =
            Config::load_with_env(dir.path(), &vars(&[("DEVLOG_SQLITE_PATH", "data/log.db")]))
                .unwrap();
        assert!(cfg.storage.path.is_none());
        assert!(
            cfg.warnings()
                .join("\n")
                .contains("DEVLOG_SQLITE_PATH: devlog.toml configures the storage here"),
            "{:?}",
            cfg.warnings()
        );
    }

    #[test]
    fn original_variables_configure_integrations_only_without_devlog_toml() {
        let dir = tempfile::tempdir().unwrap();
        let env = |k: &str| {
            matches!(
                k,
                "GITHUB_OWNER" | "GITHUB_REPO" | "GITHUB_TOKEN" | "ADO_ORGANIZATION"
            )
            .then(|| "x".to_string())
        };
        let cfg = Config::load_with_env(dir.path(), &env).unwrap();
        assert_eq!(
            cfg.integrations["github"]["repository"].as_str(),
            Some("${GITHUB_OWNER}/${GITHUB_REPO}")
        );
        assert_eq!(
            cfg.origin("integrations.github.token"),
            Origin::Env {
                variables: vec!["GITHUB_TOKEN".into()]
            }
        );
        // Azure DevOps needs all three of its variables; the missing ones are named.
        assert!(cfg.integrations.get("ado").is_none());
        assert!(
            cfg.warnings()
                .join("\n")
                .contains("ADO_PROJECT, ADO_PAT not set"),
            "{:?}",
            cfg.warnings()
        );
        let ado = |k: &str| k.starts_with("ADO_").then(|| "x".to_string());
        let cfg = Config::load_with_env(dir.path(), &ado).unwrap();
        assert_eq!(
            cfg.integrations["ado"]["personalAccessToken"].as_str(),
            Some("${ADO_PAT}")
        );
        assert_eq!(
            cfg.integrations["ado"]["organization"].as_str(),
            Some("${ADO_ORGANIZATION}")
        );
        // Jira's four configure [integrations.jira]; without the project key, it is named.
        let jira = |k: &str| {
            matches!(
                k,
                "JIRA_BASE_URL" | "JIRA_EMAIL" | "JIRA_API_TOKEN" | "JIRA_PROJECT_KEY"
            )
            .then(|| "x".to_string())
        };
        let cfg = Config::load_with_env(dir.path(), &jira).unwrap();
        assert_eq!(
            cfg.integrations["jira"]["apiToken"].as_str(),
            Some("${JIRA_API_TOKEN}")
        );
        let partial = |k: &str| (k == "JIRA_BASE_URL").then(|| "x".to_string());
        let cfg = Config::load_with_env(dir.path(), &partial).unwrap();
        assert!(cfg.integrations.get("jira").is_none());
        assert!(
            cfg.warnings()
                .join("\n")
                .contains("JIRA_PROJECT_KEY not set")
                || cfg.warnings().join("\n").contains("JIRA_PROJECT_KEY"),
            "{:?}",
            cfg.warnings()
        );
        std::fs::write(dir.path().join(TOML_FILE), "").unwrap();
        let cfg = Config::load_with_env(dir.path(), &env).unwrap();
        assert!(cfg.integrations.is_empty() && cfg.warnings().is_empty());
    }
}
