//! `devlog-plugin.toml`: what a plugin is, asks for and provides.
//!
//! ```toml
//! name = "webhook-tracker"
//! version = "0.1.0"
//! api = "1.0"                  # the devlog:plugin API version it was built against
//! description = "Syncs entries with a webhook tracker"
//! author = "Jane Doe"
//! license = "MIT"
//! component = "webhook_tracker.wasm"   # beside the manifest
//!
//! [capabilities]
//! http = ["tracker.example.com"]       # hosts (optionally host:port) it may call
//! kv = true
//!
//! [provides]
//! integration = true
//! actions = ["close-stale"]
//!
//! [limits]                     # what it asks for; within the workspace's maxima
//! fuel = 2_000_000_000
//! memory-mb = 64
//! timeout-ms = 10_000
//! host-calls = 200
//! response-kb = 1024
//!
//! [config-schema]              # JSON Schema of its [integrations.<name>] table
//! type = "object"
//! required = ["url"]
//! properties.url = { type = "string" }
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::PluginError;

/// A parsed and checked manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Manifest {
    pub name: String,
    pub version: String,
    /// `major.minor` of the `devlog:plugin` API.
    pub api: String,
    pub description: String,
    #[serde(default)]
    pub author: String,
    #[serde(default)]
    pub license: String,
    /// The component's file name, beside the manifest.
    #[serde(default = "default_component")]
    pub component: String,
    #[serde(default)]
    pub capabilities: Capabilities,
    #[serde(default)]
    pub provides: Provides,
    #[serde(default)]
    pub limits: Limits,
    /// JSON Schema of the `[integrations.<name>]` table (written as TOML).
    #[serde(default = "empty_object_schema")]
    pub config_schema: toml::Table,
}

fn default_component() -> String {
    "plugin.wasm".to_string()
}

fn empty_object_schema() -> toml::Table {
    let mut t = toml::Table::new();
    t.insert("type".into(), toml::Value::String("object".into()));
    t
}

/// What the plugin may use besides computing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Capabilities {
    /// Hosts (`example.com`, `example.com:8443`, `127.0.0.1`) it may send HTTP requests to.
    #[serde(default)]
    pub http: Vec<String>,
    /// A small key-value store of its own.
    #[serde(default)]
    pub kv: bool,
    /// Credentials the host adds to its HTTP requests, read from the
    /// `[integrations.<name>]` table; the plugin never sees them.
    #[serde(default)]
    pub auth: Option<AuthCapability>,
}

/// How a plugin's requests are authenticated (`[capabilities.auth]`). The host takes the
/// secret (and the user name, for `basic`) out of the `[integrations.<name>]` table before
/// the plugin is configured, and adds the `Authorization` header to every request to the
/// plugin's allowed hosts (`hosts`, when given, narrows them). The plugin's own
/// `authorization` headers are dropped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct AuthCapability {
    pub scheme: AuthScheme,
    /// The table key holding the secret (its name must contain `token`, `secret` or
    /// `password`, so devlog redacts it wherever it shows configuration). `<key>File`
    /// reads it from a file, `${VAR}` from the environment, as for built-in integrations.
    pub secret: String,
    /// `basic` only: the table key holding the user name.
    #[serde(default)]
    pub username: Option<String>,
    /// `header` only: the word before the secret (`Authorization: <prefix> <secret>`).
    #[serde(default)]
    pub prefix: Option<String>,
    /// Whether the table must hold the secret (default true). When false and it is absent,
    /// requests go out without credentials.
    #[serde(default = "yes")]
    pub required: bool,
    /// The hosts credentials are sent to (each also in `http`); default: all of `http`.
    #[serde(default)]
    pub hosts: Vec<String>,
}

fn yes() -> bool {
    true
}

/// The `Authorization` scheme of [`AuthCapability`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuthScheme {
    /// `Authorization: Bearer <secret>`.
    Bearer,
    /// `Authorization: Basic base64(<username>:<secret>)`.
    Basic,
    /// `Authorization: <prefix> <secret>` (or just `<secret>` without a prefix).
    Header,
}

/// A plugin integration's `[integrations.<name>]` table split by
/// [`Manifest::split_credentials`]: what the plugin is configured with, and the credentials
/// only the host holds (per host). `Debug` redacts the secret.
#[derive(Debug, Clone)]
pub struct SplitConfig {
    pub config: serde_json::Value,
    pub auth: Vec<(String, devlog_http::Auth)>,
}

/// What the plugin provides.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Provides {
    #[serde(default)]
    pub integration: bool,
    /// Names of its workflow actions.
    #[serde(default)]
    pub actions: Vec<String>,
}

/// Limits per call. Unset values take the defaults; asked values must stay within the
/// workspace's maxima ([`crate::policy::Policy`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Limits {
    /// Fuel (roughly: WebAssembly instructions) per call.
    pub fuel: u64,
    /// Linear memory per instance, MiB.
    pub memory_mb: u64,
    /// Wall-clock time per call, ms (host calls included).
    pub timeout_ms: u64,
    /// Host calls (HTTP, log, kv, clock) per call.
    pub host_calls: u32,
    /// Size of one HTTP response body, and of one value a plugin returns, KiB.
    pub response_kb: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            fuel: 1_000_000_000,
            memory_mb: 64,
            timeout_ms: 10_000,
            host_calls: 200,
            response_kb: 1024,
        }
    }
}

impl Manifest {
    /// Reads and checks `path` (a `devlog-plugin.toml`).
    pub fn load(path: &Path) -> Result<Self, PluginError> {
        let text = std::fs::read_to_string(path).map_err(|e| PluginError::io(path, &e))?;
        Self::parse(&text, path)
    }

    /// Parses and checks a manifest's text; `file` names it in errors.
    pub fn parse(text: &str, file: &Path) -> Result<Self, PluginError> {
        let de = toml::de::Deserializer::parse(text)
            .map_err(|e| PluginError::manifest(file, "(syntax)", one_line(&e.to_string())))?;
        let manifest: Manifest = serde_path_to_error::deserialize(de).map_err(|e| {
            let key = e.path().to_string();
            let key = if key == "." {
                "(top level)".to_string()
            } else {
                key
            };
            PluginError::manifest(file, key, one_line(&e.inner().to_string()))
        })?;
        manifest.check(file)?;
        Ok(manifest)
    }

    fn check(&self, file: &Path) -> Result<(), PluginError> {
        let err = |key: &str, msg: String| Err(PluginError::manifest(file, key, msg));
        if !valid_name(&self.name) {
            return err(
                "name",
                format!(
                    "{:?} is not a plugin name (lowercase letters, digits and `-`, starting with a letter, at most 64)",
                    self.name
                ),
            );
        }
        if !valid_version(&self.version) {
            return err(
                "version",
                format!("{:?} is not a version (`major.minor.patch`)", self.version),
            );
        }
        let Some((major, minor)) = parse_api(&self.api) else {
            return err(
                "api",
                format!(
                    "{:?} is not an API version (`major.minor`, e.g. \"1.0\")",
                    self.api
                ),
            );
        };
        let (host_major, host_minor) = host_api();
        if major != host_major || minor > host_minor {
            return err(
                "api",
                format!(
                    "API {} is not supported: this devlog implements devlog:plugin@{} (plugins for {}.0 to {}.{})",
                    self.api,
                    crate::API_VERSION,
                    host_major,
                    host_major,
                    host_minor
                ),
            );
        }
        if self.description.trim().is_empty() {
            return err("description", "must not be empty".into());
        }
        if self.component.is_empty()
            || self.component.contains(['/', '\\'])
            || self.component.starts_with('.')
            || !self.component.ends_with(".wasm")
        {
            return err(
                "component",
                format!(
                    "{:?} must be a `.wasm` file name beside the manifest (no folders)",
                    self.component
                ),
            );
        }
        for (i, host) in self.capabilities.http.iter().enumerate() {
            if let Err(m) = check_host(host) {
                return err(&format!("capabilities.http[{i}]"), m);
            }
        }
        if let Some(auth) = &self.capabilities.auth {
            check_auth(auth, &self.capabilities.http).or_else(|(k, m)| err(&k, m))?;
        }
        if !self.provides.integration && self.provides.actions.is_empty() {
            return err(
                "provides",
                "provides nothing: set `integration = true` and/or name `actions`".into(),
            );
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, a) in self.provides.actions.iter().enumerate() {
            if !valid_name(a) {
                return err(
                    &format!("provides.actions[{i}]"),
                    format!("{a:?} is not an action name (lowercase letters, digits and `-`)"),
                );
            }
            if !seen.insert(a) {
                return err(
                    &format!("provides.actions[{i}]"),
                    format!("{a:?} is named twice"),
                );
            }
        }
        let l = &self.limits;
        for (key, zero) in [
            ("limits.fuel", l.fuel == 0),
            ("limits.memory-mb", l.memory_mb == 0),
            ("limits.timeout-ms", l.timeout_ms == 0),
            ("limits.response-kb", l.response_kb == 0),
        ] {
            if zero {
                return err(key, "must be greater than 0".into());
            }
        }
        let schema = self.config_schema_json();
        if let Err(e) = jsonschema::validator_for(&schema) {
            return err(
                "config-schema",
                format!("is not a valid JSON Schema: {}", one_line(&e.to_string())),
            );
        }
        Ok(())
    }

    /// The config schema as JSON.
    pub fn config_schema_json(&self) -> serde_json::Value {
        serde_json::to_value(&self.config_schema).unwrap_or(serde_json::Value::Null)
    }

    /// Takes the credentials named by `[capabilities.auth]` out of an `[integrations.<name>]`
    /// table (`${VAR}`s already expanded, `…File` keys already read): the rest is what the
    /// plugin is configured with, the credentials go to the host. Errors name the key and
    /// never the secret.
    pub fn split_credentials(&self, table: serde_json::Value) -> Result<SplitConfig, String> {
        use devlog_http::{Auth, SecretString};
        let Some(cap) = &self.capabilities.auth else {
            return Ok(SplitConfig {
                config: table,
                auth: Vec::new(),
            });
        };
        let mut table = table;
        let Some(map) = table.as_object_mut() else {
            return Err("must be a table".into());
        };
        let mut take = |key: &str| -> Result<Option<String>, String> {
            match map.remove(key) {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(serde_json::Value::String(s)) if !s.trim().is_empty() => Ok(Some(s)),
                Some(_) => Err(format!("`{key}` must be a non-empty string")),
            }
        };
        let secret = take(&cap.secret)?;
        let username = match &cap.username {
            Some(k) => take(k)?,
            None => None,
        };
        let Some(secret) = secret else {
            if cap.required {
                return Err(format!(
                    "`{key}` is missing: the plugin's requests need it (set `{key} = \"${{VAR}}\"` or `{key}File = \"path\"`)",
                    key = cap.secret
                ));
            }
            return Ok(SplitConfig {
                config: table,
                auth: Vec::new(),
            });
        };
        let auth = match cap.scheme {
            AuthScheme::Bearer => Auth::Bearer(SecretString::from(secret)),
            AuthScheme::Basic => {
                let key = cap.username.as_deref().unwrap_or("username");
                let Some(username) = username else {
                    return Err(format!(
                        "`{key}` is missing: the user name for the plugin's basic auth"
                    ));
                };
                Auth::Basic {
                    username,
                    password: SecretString::from(secret),
                }
            }
            AuthScheme::Header => Auth::Header(SecretString::from(match &cap.prefix {
                Some(p) => format!("{p} {secret}"),
                None => secret,
            })),
        };
        let hosts = if cap.hosts.is_empty() {
            &self.capabilities.http
        } else {
            &cap.hosts
        };
        Ok(SplitConfig {
            config: table,
            auth: hosts.iter().map(|h| (h.clone(), auth.clone())).collect(),
        })
    }

    /// Checks an `[integrations.<name>]` table against the config schema; the error lists
    /// each problem with its JSON pointer.
    pub fn check_config(&self, config: &serde_json::Value) -> Result<(), String> {
        check_against(&self.config_schema_json(), config)
    }
}

/// Checks `value` against the JSON Schema `schema` (a plugin's config schema, an action's
/// input schema): every problem with its place (`/title: …`), joined by `; `.
pub fn check_against(schema: &serde_json::Value, value: &serde_json::Value) -> Result<(), String> {
    let validator = jsonschema::validator_for(schema).map_err(|e| e.to_string())?;
    let problems: Vec<String> = validator
        .iter_errors(value)
        .map(|e| {
            let at = e.instance_path().to_string();
            let at = if at.is_empty() { "/".to_string() } else { at };
            format!("{at}: {e}")
        })
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

/// The limits of a manifest, keyed for display.
impl Limits {
    pub fn describe(&self) -> BTreeMap<&'static str, String> {
        BTreeMap::from([
            ("fuel", self.fuel.to_string()),
            ("memory-mb", self.memory_mb.to_string()),
            ("timeout-ms", self.timeout_ms.to_string()),
            ("host-calls", self.host_calls.to_string()),
            ("response-kb", self.response_kb.to_string()),
        ])
    }
}

/// A plugin on disk: its folder and manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct Located {
    pub dir: PathBuf,
    pub manifest: Manifest,
}

impl Located {
    pub fn manifest_path(&self) -> PathBuf {
        self.dir.join(crate::MANIFEST_FILE)
    }

    pub fn component_path(&self) -> PathBuf {
        self.dir.join(&self.manifest.component)
    }
}

pub(crate) fn host_api() -> (u32, u32) {
    let mut parts = crate::API_VERSION
        .split('.')
        .map(|p| p.parse().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

fn parse_api(s: &str) -> Option<(u32, u32)> {
    let (a, b) = s.split_once('.')?;
    let b = b.split('.').next()?; // a "1.0.0" is read as 1.0
    Some((a.parse().ok()?, b.parse().ok()?))
}

pub(crate) fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.ends_with('-')
}

fn valid_version(s: &str) -> bool {
    let core = s.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

/// `host` or `host:port`: no scheme, path, user or wildcard.
pub(crate) fn check_host(host: &str) -> Result<(), String> {
    let bad = || {
        Err(format!(
            "{host:?} is not a host name (`example.com` or `example.com:8443`; no scheme, path or wildcard)"
        ))
    };
    if host.is_empty() || host.contains(['/', '@', '*', ' ', '?', '#']) {
        return bad();
    }
    let (name, port) = match host.rsplit_once(':') {
        Some((n, p)) => (n, Some(p)),
        None => (host, None),
    };
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
    {
        return bad();
    }
    if let Some(p) = port
        && p.parse::<u16>().is_err()
    {
        return bad();
    }
    Ok(())
}

/// `[capabilities.auth]`: a secret-looking key, the keys its scheme needs, hosts within
/// `http`. Errors are (key, message).
fn check_auth(auth: &AuthCapability, http: &[String]) -> Result<(), (String, String)> {
    let e = |k: &str, m: String| Err((format!("capabilities.auth.{k}"), m));
    let secret = auth.secret.to_ascii_lowercase();
    if !["token", "secret", "password"]
        .iter()
        .any(|w| secret.contains(w))
    {
        return e(
            "secret",
            format!(
                "{:?} must contain `token`, `secret` or `password`, so devlog treats its value as a secret wherever it shows configuration",
                auth.secret
            ),
        );
    }
    if auth.secret.is_empty() || auth.secret.ends_with("File") || auth.secret.ends_with("_file") {
        return e(
            "secret",
            format!("{:?} is not a usable key name", auth.secret),
        );
    }
    match (auth.scheme, &auth.username, &auth.prefix) {
        (AuthScheme::Basic, None, _) => {
            return e(
                "username",
                "the `basic` scheme needs `username` (the table key holding the user name)".into(),
            );
        }
        (AuthScheme::Bearer | AuthScheme::Header, Some(_), _) => {
            return e(
                "username",
                "only the `basic` scheme takes a user name".into(),
            );
        }
        (AuthScheme::Bearer | AuthScheme::Basic, _, Some(_)) => {
            return e("prefix", "only the `header` scheme takes a prefix".into());
        }
        _ => {}
    }
    if let Some(p) = &auth.prefix
        && (p.is_empty() || !p.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
    {
        return e("prefix", format!("{p:?} is not a scheme word"));
    }
    if http.is_empty() {
        return e(
            "scheme",
            "credentials need hosts to go to: list them in `capabilities.http`".into(),
        );
    }
    for (i, h) in auth.hosts.iter().enumerate() {
        if !http.contains(h) {
            return e(
                &format!("hosts[{i}]"),
                format!("{h:?} is not one of `capabilities.http`"),
            );
        }
    }
    Ok(())
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
