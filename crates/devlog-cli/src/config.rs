//! `devlog.toml` (and the original devlog's `devlog.config.json`): reading and validating.
//!
//! Errors name the file, the position and the key, and say what to write instead.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

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
    /// `[server]`: settings of `devlog serve`.
    #[serde(skip_serializing_if = "ServerConfig::is_empty")]
    pub server: ServerConfig,
}

/// `[server]` in devlog.toml.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServerConfig {
    /// Host names besides loopback ones the server answers to (a reverse proxy's public name);
    /// `devlog serve --allow-host` adds to them. See docs/security.md.
    #[serde(default)]
    pub allow_hosts: Vec<String>,
}

impl ServerConfig {
    fn is_empty(&self) -> bool {
        self.allow_hosts.is_empty()
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
    pub fn load(root: &Path) -> Result<Self, ConfigError> {
        let toml_path = root.join(TOML_FILE);
        if toml_path.is_file() {
            let text = std::fs::read_to_string(&toml_path).map_err(|e| ConfigError {
                file: Some(toml_path.clone()),
                message: format!("cannot read: {e}"),
            })?;
            return Self::from_toml(&text, Some(toml_path));
        }
        let json_path = root.join(LEGACY_JSON_FILE);
        if json_path.is_file() {
            let text = std::fs::read_to_string(&json_path).map_err(|e| ConfigError {
                file: Some(json_path.clone()),
                message: format!("cannot read: {e}"),
            })?;
            return Self::from_legacy_json(&text, Some(json_path));
        }
        Ok(Self {
            source: None,
            storage: Storage::default(),
            integrations: toml::Table::new(),
            server: ServerConfig::default(),
        })
    }

    pub fn from_toml(text: &str, source: Option<PathBuf>) -> Result<Self, ConfigError> {
        let file: TomlFile = toml::from_str(text).map_err(|e| ConfigError {
            file: source.clone(),
            message: format!(
                "{}\nhint: see docs/configuration.md for the keys devlog.toml accepts",
                e.to_string().trim_end()
            ),
        })?;
        let cfg = Self {
            source,
            storage: file.storage,
            integrations: file.integrations,
            server: file.server,
        };
        for h in &cfg.server.allow_hosts {
            devlog_server::guard::parse_allowed_host(h).map_err(|e| ConfigError {
                file: cfg.source.clone(),
                message: format!("server.allowHosts: {e}"),
            })?;
        }
        cfg.validate()?;
        Ok(cfg)
    }

    /// The original devlog's `{ "storage": { "type": ... }, "integrations": { ... } }`.
    pub fn from_legacy_json(text: &str, source: Option<PathBuf>) -> Result<Self, ConfigError> {
        let v: serde_json::Value = serde_json::from_str(text).map_err(|e| ConfigError {
            file: source.clone(),
            message: format!("not valid JSON: {e}"),
        })?;
        let kind = v
            .pointer("/storage/type")
            .and_then(|t| t.as_str())
            .unwrap_or("json")
            .to_string();
        let path = v
            .pointer("/storage/filePath")
            .or_else(|| v.pointer("/storage/path"))
            .and_then(|p| p.as_str())
            .map(PathBuf::from);
        // The original devlog's PostgreSQL/MySQL settings carried a connection string.
        let url = v
            .pointer("/storage/connectionString")
            .or_else(|| v.pointer("/storage/url"))
            .and_then(|p| p.as_str())
            .map(str::to_string);
        let integrations = match v.get("integrations") {
            Some(i) => toml::Table::try_from(i).map_err(|e| ConfigError {
                file: source.clone(),
                message: format!("`integrations` cannot be read: {e}"),
            })?,
            None => toml::Table::new(),
        };
        let cfg = Self {
            source,
            storage: Storage { kind, path, url },
            integrations,
            server: ServerConfig::default(),
        };
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
    for (name, table) in &cfg.integrations {
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
        out.insert(name.clone(), v);
    }
    Ok(out)
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

fn redact(v: &mut serde_json::Value) {
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
               "integrations":{"github":{"token":"ghp_secret","owner":"o"}}}"#,
            None,
        )
        .unwrap();
        assert_eq!(cfg.storage.kind, "sqlite");
        let shown = cfg.redacted().to_string();
        assert!(!shown.contains("ghp_secret"), "{shown}");
        assert!(shown.contains("\"owner\":\"o\""), "{shown}");
    }
}
