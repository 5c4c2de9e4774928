//! The original devlog's configuration — its `devlog.config.json` and the environment
//! variables it read — taken as it is and translated to this version's settings. Every key
//! with a meaning here is translated and listed in [`Config::translated`]; every other key is
//! listed in [`Config::unused`] with what to do instead. The original's GitHub, Jira and Azure
//! DevOps settings all configure this version's integrations.

use std::path::Path;

use devlog_core::merge::Strategy;
use serde_json::Value;

use super::{Config, Origin, TOML_FILE, is_secret_key};

/// An integration's name as people write it (`azure-devops` and its alias `ado` are Azure
/// DevOps); other names as they are.
pub fn display_name(name: &str) -> &str {
    match name.to_ascii_lowercase().replace(['-', '_'], "").as_str() {
        "jira" => "Jira",
        "ado" | "azuredevops" => "Azure DevOps",
        "github" => "GitHub",
        _ => name,
    }
}

const NEEDS_NODE_ID: &str = "this version addresses the Projects board by its node id: set \
     `projectId` to the board's id (\"PVT_…\", see docs/github.md)";

struct Reader<'a> {
    file: &'a Path,
    cfg: Config,
}

impl Reader<'_> {
    fn file_origin(&self, keys: &[String]) -> Origin {
        Origin::File {
            file: self.file.to_path_buf(),
            key: keys.join(" + "),
        }
    }

    fn translated(&mut self, theirs: impl Into<String>, ours: impl Into<String>) {
        self.cfg.translated.push((theirs.into(), ours.into()));
    }

    fn unused(&mut self, key: impl Into<String>, why: impl Into<String>) {
        self.cfg.unused.push((key.into(), why.into()));
    }

    fn storage(&mut self, val: &Value) -> Result<Option<(Value, String)>, String> {
        let Some(s) = val.as_object() else {
            return Err("storage: expected an object such as {\"type\": \"json\"}".into());
        };
        let text = |key: &str| -> Result<Option<&str>, String> {
            match s.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(t)) => Ok(Some(t.as_str())),
                Some(_) => Err(format!("storage.{key}: expected a string")),
            }
        };
        let ty = text("type")?;
        let strategy = text("strategy")?;
        let (kind, key, raw) = match (ty, strategy) {
            (Some(t), st) => {
                if let Some(st) = st {
                    self.unused(
                        "storage.strategy",
                        format!("`{st}` is overridden by storage.type `{t}`, as in the original"),
                    );
                }
                (legacy_type(t), "storage.type", t)
            }
            (None, Some(st)) => (strategy_backend(st)?, "storage.strategy", st),
            (None, None) => ("json", "", ""),
        };
        let mut github = None;
        if !key.is_empty() {
            self.cfg
                .origins
                .insert("storage.type".into(), self.file_origin(&[key.to_string()]));
            let ours = match (raw, kind) {
                ("github", _) => {
                    github = s
                        .get("github")
                        .map(|g| (g.clone(), "storage.github".to_string()));
                    "[storage] type = \"json\" (entries stay in local JSON files; the GitHub \
                     issues are synced with `devlog sync` through [integrations.github])"
                        .to_string()
                }
                ("git-json" | "hybrid-git", _) => "[storage] type = \"json\" (the JSON files in \
                     .devlog are committed with git; see [integrations.git] autoCommit)"
                    .to_string(),
                (_, k) => format!("[storage] type = \"{k}\""),
            };
            self.translated(format!("{key} \"{raw}\""), ours);
        }
        self.cfg.storage.kind = kind.to_string();
        let server = matches!(kind, "postgres" | "mysql");
        for (k, v) in s {
            let key = format!("storage.{k}");
            match k.as_str() {
                "type" | "strategy" | "github" => {}
                "filePath" | "path" | "connectionString" | "url" => {
                    let Some(t) = v.as_str() else {
                        self.unused(key, "expected a string");
                        continue;
                    };
                    if server && matches!(k.as_str(), "connectionString" | "url") {
                        self.set_url(t, key);
                    } else if kind == "sqlite" && !t.contains("://") {
                        self.set_sqlite_path(t, key);
                    } else {
                        self.unused(
                            key,
                            format!("has no meaning for the {kind} backend of this version"),
                        );
                    }
                }
                "sqlite" if kind == "sqlite" => match v.get("filePath").and_then(Value::as_str) {
                    Some(t) => self.set_sqlite_path(t, format!("{key}.filePath")),
                    None => self.unused(key, "has no `filePath`"),
                },
                "json" | "localJson" if kind == "json" => self.json_settings(v, &key),
                "options" => self.unused(
                    key,
                    "driver options are not configurable; connection settings go in the URL",
                ),
                "git" | "cache" => self.unused(
                    key,
                    "git storage is the JSON backend in a git repository here; see \
                     [integrations.git] in docs/git.md",
                ),
                _ => self.unused(key, format!("not used by the {kind} backend")),
            }
        }
        Ok(github)
    }

    fn set_sqlite_path(&mut self, path: &str, key: String) {
        if path == ":memory:" {
            self.unused(
                key,
                "an in-memory database keeps nothing; the default database file is used",
            );
            return;
        }
        if self.cfg.storage.path.is_some() {
            self.unused(key, "another key already gives the database file");
            return;
        }
        self.cfg.storage.path = Some(path.into());
        self.cfg.origins.insert(
            "storage.path".into(),
            self.file_origin(std::slice::from_ref(&key)),
        );
        self.translated(key, format!("[storage] path = \"{path}\""));
    }

    fn set_url(&mut self, url: &str, key: String) {
        if self.cfg.storage.url.is_some() {
            self.unused(key, "another key already gives the database URL");
            return;
        }
        self.cfg.storage.url = Some(url.to_string());
        self.cfg.origins.insert(
            "storage.url".into(),
            self.file_origin(std::slice::from_ref(&key)),
        );
        self.translated(
            key,
            format!("[storage] url = \"{}\"", devlog_store::redact_url(url)),
        );
    }

    fn json_settings(&mut self, v: &Value, key: &str) {
        let Some(j) = v.as_object() else {
            self.unused(key, "expected an object");
            return;
        };
        for (k, v) in j {
            let key = format!("{key}.{k}");
            match (k.as_str(), v) {
                ("directory", Value::String(d))
                    if matches!(d.trim_end_matches('/'), ".devlog" | "./.devlog") =>
                {
                    self.translated(format!("{key} \"{d}\""), "the project's .devlog folder (default)");
                }
                ("directory", _) => self.unused(
                    key,
                    "entries live in the .devlog folder found from the working directory; point \
                     at another with --dir or DEVLOG_DIR",
                ),
                ("global", Value::Bool(false)) => {
                    self.translated(format!("{key} false"), "the project's .devlog folder (default)");
                }
                ("global", _) => self.unused(
                    key,
                    "the original kept entries in ~/.devlog; this version uses the project's \
                     .devlog: use --dir ~/.devlog (or DEVLOG_DIR) for that one, or copy its entries \
                     with `devlog import ~/.devlog`",
                ),
                ("filePattern" | "minPadding", _) => {
                    self.unused(key, "entry file names are chosen by devlog (NNN-slug.json)");
                }
                _ => self.unused(key, "unknown key"),
            }
        }
    }

    fn integrations(&mut self, val: &Value) {
        let Some(obj) = val.as_object() else {
            self.unused("integrations", "expected an object");
            return;
        };
        for (name, block) in obj {
            let key = format!("integrations.{name}");
            match name.as_str() {
                "github" => self.github(block, &key),
                "jira" => self.as_they_are("jira", devlog_jira::config::schema(), block, &key),
                // Kept under the original's name, `[integrations.ado]` (an alias of
                // `azure-devops`), so messages name the keys as the user wrote them.
                "ado" => self.as_they_are("ado", devlog_ado::config::schema(), block, &key),
                // This version's own table, written in JSON: kept as it is.
                "git" => match to_toml(block) {
                    Some(t) => {
                        self.cfg.integrations.insert(name.clone(), t);
                        self.cfg
                            .origins
                            .insert(key.clone(), self.file_origin(std::slice::from_ref(&key)));
                    }
                    None => self.unused(key, "expected an object"),
                },
                "slack" => self.unused(key, "devlog has no Slack integration"),
                _ => self.unused(key, "unknown integration"),
            }
        }
    }

    /// The original's `integrations.jira` → `[integrations.jira]`, `integrations.ado` →
    /// `[integrations.ado]`: their keys (Jira's `baseUrl`, `projectKey`, `apiToken`,
    /// `userEmail`; Azure DevOps' `organization`, `project`, `personalAccessToken`) are this
    /// version's too, as are the others of the table's `schema` (docs/jira.md,
    /// docs/azure-devops.md); any other key is named as unused.
    fn as_they_are(&mut self, name: &str, schema: Value, block: &Value, key: &str) {
        let Some(b) = block.as_object() else {
            self.unused(key, "expected an object");
            return;
        };
        let doc = if name == "jira" {
            "docs/jira.md"
        } else {
            "docs/azure-devops.md"
        };
        let ours: Vec<&String> = schema["properties"]
            .as_object()
            .map(|p| p.keys().collect())
            .unwrap_or_default();
        let mut t = toml::Table::new();
        for (k, v) in b {
            let theirs = format!("{key}.{k}");
            let known = ours.iter().any(|o| {
                o.as_str() == k
                    || k.strip_suffix("File").or_else(|| k.strip_suffix("_file"))
                        == Some(o.as_str())
            });
            match (known, to_toml(v)) {
                (true, Some(val)) => {
                    let shown = if is_secret_key(k) {
                        "(secret, not shown)".to_string()
                    } else {
                        format!("= {val}")
                    };
                    self.cfg.origins.insert(
                        format!("integrations.{name}.{k}"),
                        self.file_origin(std::slice::from_ref(&theirs)),
                    );
                    self.translated(theirs, format!("[integrations.{name}] {k} {shown}"));
                    t.insert(k.clone(), val);
                }
                (true, None) => self.unused(theirs, "expected a value"),
                (false, _) => self.unused(theirs, format!("unknown key ({doc} lists the keys)")),
            }
        }
        self.cfg.integrations.insert(name.into(), t.into());
        self.cfg
            .origins
            .insert(key.to_string(), self.file_origin(&[key.to_string()]));
    }

    /// The original's GitHub settings (`integrations.github`, or `storage.github` when GitHub
    /// was the storage) → `[integrations.github]`.
    fn github(&mut self, v: &Value, prefix: &str) {
        let Some(g) = v.as_object() else {
            self.unused(prefix, "expected an object");
            return;
        };
        let schema = devlog_github::config::schema();
        let ours: Vec<&String> = schema["properties"]
            .as_object()
            .map(|p| p.keys().collect())
            .unwrap_or_default();
        let mut t = toml::Table::new();
        let key = |k: &str| format!("{prefix}.{k}");
        let owner = g.get("owner").and_then(Value::as_str);
        let repo = g.get("repo").and_then(Value::as_str);
        match (owner, repo) {
            (Some(o), Some(r)) => {
                t.insert("repository".into(), format!("{o}/{r}").into());
                self.cfg.origins.insert(
                    "integrations.github.repository".into(),
                    self.file_origin(&[key("owner"), key("repo")]),
                );
                self.translated(
                    format!("{} + {}", key("owner"), key("repo")),
                    format!("[integrations.github] repository = \"{o}/{r}\""),
                );
            }
            (None, None) => {}
            _ => self.unused(
                format!("{} / {}", key("owner"), key("repo")),
                "both are needed to name the repository (owner/repo)",
            ),
        }
        let put = |r: &mut Self, t: &mut toml::Table, theirs: String, ours: &str, v: &Value| {
            let Some(val) = to_toml(v) else {
                r.unused(theirs, "expected a value");
                return;
            };
            let shown = if is_secret_key(ours) {
                "(secret, not shown)".to_string()
            } else {
                format!("= {val}")
            };
            r.cfg.origins.insert(
                format!("integrations.github.{ours}"),
                r.file_origin(std::slice::from_ref(&theirs)),
            );
            r.translated(theirs, format!("[integrations.github] {ours} {shown}"));
            t.insert(ours.to_string(), val);
        };
        for (k, v) in g {
            match (k.as_str(), v) {
                ("owner" | "repo", _) => {}
                ("token", Value::String(_)) => put(self, &mut t, key(k), "token", v),
                ("projectId", Value::String(_)) => put(self, &mut t, key(k), "projectId", v),
                ("projectId" | "projectNumber", _) => self.unused(key(k), NEEDS_NODE_ID),
                ("apiUrl", Value::String(_)) => put(self, &mut t, key(k), "apiUrl", v),
                // The original's labels were `<prefix>-priority:high`; ours are
                // `<labelPrefix>priority:high`.
                ("labelsPrefix", Value::String(p)) => {
                    let ours = if p.is_empty() {
                        String::new()
                    } else {
                        format!("{p}-")
                    };
                    put(self, &mut t, key(k), "labelPrefix", &Value::String(ours));
                }
                ("mapping", Value::Object(m)) => {
                    for (mk, mv) in m {
                        let mkey = format!("{}.{mk}", key(k));
                        match (mk.as_str(), mv) {
                            (_, Value::Null) => {}
                            ("projectId", Value::String(_)) => {
                                put(self, &mut t, mkey, "projectId", mv);
                            }
                            ("projectId", _) => self.unused(mkey, NEEDS_NODE_ID),
                            ("projectFieldMappings", Value::Object(f)) => {
                                for (fk, fv) in f {
                                    let fkey = format!("{mkey}.{fk}");
                                    match fk.as_str() {
                                        "status" => {
                                            put(self, &mut t, fkey, "projectStatusField", fv);
                                        }
                                        "priority" => {
                                            put(self, &mut t, fkey, "projectPriorityField", fv);
                                        }
                                        _ => self.unused(
                                            fkey,
                                            "only the Status and Priority board fields are set",
                                        ),
                                    }
                                }
                            }
                            ("useNativeType" | "useNativeLabels" | "useStateReason", _) => self
                                .unused(
                                    mkey,
                                    "labels and issue states follow typeMapping, priorityMapping \
                                     and statusMapping (docs/github.md)",
                                ),
                            _ => self.unused(mkey, "unknown key"),
                        }
                    }
                }
                ("rateLimit", _) => self.unused(
                    key(k),
                    "GitHub's rate limits are read from its responses and obeyed",
                ),
                ("cache", _) => self.unused(key(k), "conditional requests (ETags) are always used"),
                ("branch", _) => self.unused(key(k), "issues do not depend on a branch"),
                // This version's own keys (and `<secret>File` forms), written in JSON.
                (k, _)
                    if ours.iter().any(|o| {
                        o.as_str() == k
                            || k.strip_suffix("File").or_else(|| k.strip_suffix("_file"))
                                == Some(o.as_str())
                    }) =>
                {
                    put(self, &mut t, key(k), k, v);
                }
                _ => self.unused(key(k), "unknown key"),
            }
        }
        self.cfg.integrations.insert("github".into(), t.into());
        self.cfg.origins.insert(
            "integrations.github".into(),
            self.file_origin(&[prefix.to_string()]),
        );
    }

    fn sync_strategy(&mut self, val: &Value) {
        let Some(s) = val.as_object() else {
            self.unused("syncStrategy", "expected an object");
            return;
        };
        for (k, v) in s {
            let key = format!("syncStrategy.{k}");
            match (k.as_str(), v.as_str()) {
                ("sourceOfTruth", Some("local")) => {
                    self.translated(
                        format!("{key} \"local\""),
                        "always so here: the local log is the source of truth",
                    );
                }
                ("sourceOfTruth", _) => self.unused(
                    key,
                    "the local log is always the source of truth here; remote changes are merged \
                     field by field, and true conflicts settled by `devlog sync --strategy`",
                ),
                ("conflictResolution", Some(c)) => {
                    let ours = match c {
                        "local-wins" => Some("local-wins"),
                        "external-wins" | "remote-wins" => Some("remote-wins"),
                        "most-recent" | "timestamp-wins" => Some("newest-wins"),
                        "manual" | "interactive" => Some("manual"),
                        _ => None,
                    };
                    let strategy = ours
                        .and_then(|o| Strategy::ALL.iter().find(|(n, _)| *n == o).map(|(_, s)| *s));
                    match (ours, strategy) {
                        (Some(o), Some(s)) => {
                            self.cfg.sync.strategy = Some(s);
                            self.cfg.origins.insert(
                                "sync.strategy".into(),
                                self.file_origin(std::slice::from_ref(&key)),
                            );
                            self.translated(
                                format!("{key} \"{c}\""),
                                format!("[sync] strategy = \"{o}\""),
                            );
                        }
                        _ => self.unused(
                            key,
                            format!(
                                "unknown value `{c}` (the original's are local-wins, \
                                 external-wins, most-recent, manual)"
                            ),
                        ),
                    }
                }
                ("syncInterval" | "autoSync", _) => self.unused(
                    key,
                    "devlog syncs when `devlog sync` runs (schedule it with cron or CI) and on \
                     webhooks received by `devlog serve`",
                ),
                _ => self.unused(key, "unknown key"),
            }
        }
    }
}

/// The original's `storage.type` as this version's backend name.
fn legacy_type(t: &str) -> &str {
    match t {
        "local-json" | "github" => "json",
        other => other,
    }
}

/// The original's `storage.strategy` as this version's backend name.
fn strategy_backend(s: &str) -> Result<&'static str, String> {
    Ok(match s {
        "local-json" | "json" | "git-json" | "hybrid-git" | "github" => "json",
        "local-sqlite" | "sqlite" => "sqlite",
        "postgres" | "postgresql" => "postgres",
        "mysql" | "mariadb" => "mysql",
        other => {
            return Err(format!(
                "storage.strategy: unknown strategy `{other}`; the original's strategies are \
                 local-json, local-sqlite, git-json, hybrid-git (or write storage.type: json, \
                 sqlite, postgres, mysql)"
            ));
        }
    })
}

fn to_toml(v: &Value) -> Option<toml::Value> {
    match v {
        Value::Null => None,
        Value::Object(m) => {
            let mut t = toml::Table::new();
            for (k, v) in m {
                if let Some(v) = to_toml(v) {
                    t.insert(k.clone(), v);
                }
            }
            Some(t.into())
        }
        Value::Array(a) => Some(a.iter().filter_map(to_toml).collect::<Vec<_>>().into()),
        other => toml::Value::try_from(other).ok(),
    }
}

/// Reads the original's `devlog.config.json` document (already parsed).
pub(super) fn translate(v: &Value, file: &Path) -> Result<Config, String> {
    let Some(top) = v.as_object() else {
        return Err("expected a JSON object such as {\"storage\": {\"type\": \"json\"}}".into());
    };
    let mut r = Reader {
        file,
        cfg: Config::defaults(),
    };
    let mut storage_github = None;
    for (k, val) in top {
        match k.as_str() {
            "storage" => storage_github = r.storage(val)?,
            "integrations" => r.integrations(val),
            "syncStrategy" => r.sync_strategy(val),
            "workspaceRoot" => r.unused(
                k.as_str(),
                "the project root is the folder holding .devlog (found like git finds .git); \
                 use --dir or DEVLOG_DIR",
            ),
            "workspaceId" => r.unused(k.as_str(), "each project has its own .devlog here"),
            _ => r.unused(k.as_str(), "unknown key"),
        }
    }
    if let Some((g, prefix)) = storage_github {
        if r.cfg.integrations.contains_key("github") {
            r.unused(prefix, "integrations.github is used instead");
        } else {
            r.github(&g, &prefix);
        }
    }
    Ok(r.cfg)
}

/// The original read its integrations from these variables when its configuration did not
/// give them; so does this version, for each integration the original's file (or the lack of
/// one) leaves out. Values stay `${VAR}` references, expanded when the integration is built.
pub(super) fn apply_env(cfg: &mut Config, env: &dyn Fn(&str) -> Option<String>) {
    let set = |names: &[&str]| names.iter().all(|n| env(n).is_some());
    let refs = |pairs: &[(&str, &str)]| -> toml::Table {
        pairs
            .iter()
            .filter(|(_, var)| env(var).is_some())
            .map(|(k, var)| (k.to_string(), toml::Value::from(format!("${{{var}}}"))))
            .collect()
    };
    let env_origin = |vars: &[&str]| Origin::Env {
        variables: vars.iter().map(|v| v.to_string()).collect(),
    };
    const GH: [&str; 3] = ["GITHUB_OWNER", "GITHUB_REPO", "GITHUB_TOKEN"];
    if !cfg.integrations.contains_key("github") {
        if set(&GH) {
            let mut t = toml::Table::new();
            t.insert(
                "repository".into(),
                "${GITHUB_OWNER}/${GITHUB_REPO}".to_string().into(),
            );
            t.insert("token".into(), "${GITHUB_TOKEN}".to_string().into());
            let mut vars = GH.to_vec();
            cfg.origins.insert(
                "integrations.github.repository".into(),
                env_origin(&GH[..2]),
            );
            cfg.origins
                .insert("integrations.github.token".into(), env_origin(&GH[2..]));
            let mut shown =
                "[integrations.github] repository = \"${GITHUB_OWNER}/${GITHUB_REPO}\", \
                 token = \"${GITHUB_TOKEN}\""
                    .to_string();
            if env("GITHUB_PROJECT_ID").is_some() {
                t.insert(
                    "projectId".into(),
                    "${GITHUB_PROJECT_ID}".to_string().into(),
                );
                cfg.origins.insert(
                    "integrations.github.projectId".into(),
                    env_origin(&["GITHUB_PROJECT_ID"]),
                );
                vars.push("GITHUB_PROJECT_ID");
                shown.push_str(", projectId = \"${GITHUB_PROJECT_ID}\"");
            }
            cfg.integrations.insert("github".into(), t.into());
            cfg.origins
                .insert("integrations.github".into(), env_origin(&vars));
            cfg.translated
                .push((format!("environment {}", vars.join(", ")), shown));
            if env("GITHUB_PROJECT_NUMBER").is_some() {
                cfg.unused.push((
                    "environment GITHUB_PROJECT_NUMBER".into(),
                    NEEDS_NODE_ID.replace("`projectId`", "GITHUB_PROJECT_ID"),
                ));
            }
        } else if env("GITHUB_OWNER").is_some() || env("GITHUB_REPO").is_some() {
            let missing: Vec<&str> = GH.iter().copied().filter(|n| env(n).is_none()).collect();
            cfg.unused.push((
                "environment GITHUB_OWNER / GITHUB_REPO".into(),
                format!(
                    "the GitHub integration needs GITHUB_OWNER, GITHUB_REPO and GITHUB_TOKEN; \
                     {} not set",
                    missing.join(", ")
                ),
            ));
        }
    }
    // Jira: the original's variables configure [integrations.jira] (the project key is
    // required here).
    const JIRA: [(&str, &str); 4] = [
        ("baseUrl", "JIRA_BASE_URL"),
        ("userEmail", "JIRA_EMAIL"),
        ("apiToken", "JIRA_API_TOKEN"),
        ("projectKey", "JIRA_PROJECT_KEY"),
    ];
    if !cfg.integrations.contains_key("jira") && env("JIRA_BASE_URL").is_some() {
        let missing: Vec<&str> = JIRA
            .iter()
            .map(|(_, v)| *v)
            .filter(|v| env(v).is_none())
            .collect();
        if missing.is_empty() {
            let vars: Vec<&str> = JIRA.iter().map(|(_, v)| *v).collect();
            for (k, var) in JIRA {
                cfg.origins
                    .insert(format!("integrations.jira.{k}"), env_origin(&[var]));
            }
            cfg.integrations.insert("jira".into(), refs(&JIRA).into());
            cfg.origins
                .insert("integrations.jira".into(), env_origin(&vars));
            cfg.translated.push((
                format!("environment {}", vars.join(", ")),
                "[integrations.jira] baseUrl = \"${JIRA_BASE_URL}\", userEmail = \"${JIRA_EMAIL}\", \
                 apiToken = \"${JIRA_API_TOKEN}\", projectKey = \"${JIRA_PROJECT_KEY}\""
                    .into(),
            ));
        } else {
            cfg.unused.push((
                "environment JIRA_BASE_URL".into(),
                format!(
                    "the Jira integration needs JIRA_BASE_URL, JIRA_EMAIL, JIRA_API_TOKEN and \
                     JIRA_PROJECT_KEY; {} not set",
                    missing.join(", ")
                ),
            ));
        }
    }
    // Azure DevOps: the original's three variables configure [integrations.ado] (the alias
    // of azure-devops, under the original's name).
    const ADO: [(&str, &str); 3] = [
        ("organization", "ADO_ORGANIZATION"),
        ("project", "ADO_PROJECT"),
        ("personalAccessToken", "ADO_PAT"),
    ];
    let ado_configured =
        cfg.integrations.contains_key("ado") || cfg.integrations.contains_key("azure-devops");
    if !ado_configured && ADO.iter().any(|(_, v)| env(v).is_some()) {
        let vars: Vec<&str> = ADO.iter().map(|(_, v)| *v).collect();
        if set(&vars) {
            for (k, var) in ADO {
                cfg.origins
                    .insert(format!("integrations.ado.{k}"), env_origin(&[var]));
            }
            cfg.integrations.insert("ado".into(), refs(&ADO).into());
            cfg.origins
                .insert("integrations.ado".into(), env_origin(&vars));
            cfg.translated.push((
                format!("environment {}", vars.join(", ")),
                "[integrations.ado] organization = \"${ADO_ORGANIZATION}\", project = \
                 \"${ADO_PROJECT}\", personalAccessToken = \"${ADO_PAT}\""
                    .into(),
            ));
        } else {
            let missing: Vec<&str> = vars.iter().copied().filter(|v| env(v).is_none()).collect();
            cfg.unused.push((
                format!(
                    "environment {}",
                    vars.iter()
                        .copied()
                        .filter(|v| env(v).is_some())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                format!(
                    "the Azure DevOps integration needs ADO_ORGANIZATION, ADO_PROJECT and \
                     ADO_PAT; {} not set",
                    missing.join(", ")
                ),
            ));
        }
    }
}

/// The original devlog's storage variables, read only when no configuration file gives the
/// storage (no `devlog.toml`, and no `storage` in `devlog.config.json`), as the original read
/// them only without its file. The backend is `DEVLOG_STORAGE_TYPE` (this version's override,
/// applied by the workspace), else `DEVLOG_STORAGE_STRATEGY`; the file or URL variables for
/// that backend give its location. Values stay `${VAR}` references where they may hold a
/// password. Set variables with no meaning here are listed in [`Config::unused`].
pub(super) fn apply_storage_env(
    cfg: &mut Config,
    env: &dyn Fn(&str) -> Option<String>,
    given_by: Option<&str>,
) {
    let set: Vec<&str> = STORAGE_VARS
        .iter()
        .copied()
        .filter(|v| env(v).is_some())
        .collect();
    if let Some(file) = given_by {
        for var in set {
            cfg.unused.push((
                format!("environment {var}"),
                format!(
                    "{file} configures the storage here, and the original read this variable \
                     only without a configuration file; write the setting in {file}"
                ),
            ));
        }
        return;
    }
    let env_origin = |var: &str| Origin::Env {
        variables: vec![var.to_string()],
    };
    let unused = |cfg: &mut Config, var: &str, why: String| {
        cfg.unused.push((format!("environment {var}"), why));
    };
    if let Some(st) = env("DEVLOG_STORAGE_STRATEGY") {
        if env("DEVLOG_STORAGE_TYPE").is_some() {
            unused(
                cfg,
                "DEVLOG_STORAGE_STRATEGY",
                "DEVLOG_STORAGE_TYPE is set too, and selects the backend".into(),
            );
        } else {
            match strategy_backend(&st) {
                Ok(kind) => {
                    cfg.storage.kind = kind.to_string();
                    cfg.origins
                        .insert("storage.type".into(), env_origin("DEVLOG_STORAGE_STRATEGY"));
                    cfg.translated.push((
                        format!("environment DEVLOG_STORAGE_STRATEGY \"{st}\""),
                        format!("[storage] type = \"{kind}\""),
                    ));
                }
                Err(e) => unused(
                    cfg,
                    "DEVLOG_STORAGE_STRATEGY",
                    e.replace("storage.strategy: ", "") + "; the default backend is used",
                ),
            }
        }
    }
    let backend = match env("DEVLOG_STORAGE_TYPE") {
        Some(t) => match t.trim().to_ascii_lowercase().as_str() {
            "postgresql" => "postgres".to_string(),
            "mariadb" => "mysql".to_string(),
            "sqlite3" => "sqlite".to_string(),
            "local-json" => "json".to_string(),
            other => other.to_string(),
        },
        None => cfg.storage.kind.clone(),
    };
    // The workspace applies DEVLOG_STORAGE_TYPE; recorded here too, so that `devlog config
    // migrate` writes the backend the other variables go with.
    if env("DEVLOG_STORAGE_TYPE").is_some() && devlog_store::BACKENDS.contains(&backend.as_str()) {
        cfg.storage.kind = backend.clone();
        cfg.origins
            .insert("storage.type".into(), env_origin("DEVLOG_STORAGE_TYPE"));
    }
    let not_for = |wants: &str| {
        format!(
            "the backend is {backend}, and this variable is read for {wants} only (set \
             DEVLOG_STORAGE_TYPE={wants})"
        )
    };
    if let Some(p) = env("DEVLOG_SQLITE_PATH") {
        if backend != "sqlite" {
            unused(cfg, "DEVLOG_SQLITE_PATH", not_for("sqlite"));
        } else if p == ":memory:" {
            unused(
                cfg,
                "DEVLOG_SQLITE_PATH",
                "an in-memory database keeps nothing; the default database file is used".into(),
            );
        } else {
            cfg.storage.path = Some(p.clone().into());
            cfg.origins
                .insert("storage.path".into(), env_origin("DEVLOG_SQLITE_PATH"));
            cfg.translated.push((
                "environment DEVLOG_SQLITE_PATH".into(),
                format!("[storage] path = \"{p}\""),
            ));
        }
    }
    // The URL variables in the order they are preferred for each backend.
    let urls: &[(&str, &str)] = &[
        ("DEVLOG_POSTGRES_URL", "postgres"),
        ("DEVLOG_MYSQL_URL", "mysql"),
        ("DEVLOG_DATABASE_URL", "postgres or mysql"),
    ];
    for (var, wants) in urls {
        if env(var).is_none() {
            continue;
        }
        let fits = wants.split(" or ").any(|w| w == backend);
        if !fits {
            unused(cfg, var, not_for(wants));
        } else if env("DATABASE_URL").is_some() {
            unused(
                cfg,
                var,
                "DATABASE_URL is set too, and gives the database URL (as in the original)".into(),
            );
        } else if cfg.storage.url.is_some() {
            unused(
                cfg,
                var,
                "another variable already gives the database URL".into(),
            );
        } else {
            cfg.storage.url = Some(format!("${{{var}}}"));
            cfg.origins.insert("storage.url".into(), env_origin(var));
            cfg.translated.push((
                format!("environment {var}"),
                format!("[storage] url = \"${{{var}}}\""),
            ));
        }
    }
    if let Some(d) = env("DEVLOG_JSON_DIR") {
        if matches!(d.trim_end_matches('/'), ".devlog" | "./.devlog") {
            cfg.translated.push((
                format!("environment DEVLOG_JSON_DIR \"{d}\""),
                "the project's .devlog folder (default)".into(),
            ));
        } else {
            unused(
                cfg,
                "DEVLOG_JSON_DIR",
                "entries live in the .devlog folder found from the working directory; point at \
                 another with DEVLOG_DIR or --dir"
                    .into(),
            );
        }
    }
}

/// The original devlog's storage variables (see [`apply_storage_env`]).
const STORAGE_VARS: &[&str] = &[
    "DEVLOG_STORAGE_STRATEGY",
    "DEVLOG_SQLITE_PATH",
    "DEVLOG_POSTGRES_URL",
    "DEVLOG_MYSQL_URL",
    "DEVLOG_DATABASE_URL",
    "DEVLOG_JSON_DIR",
];

/// The original's variables with no meaning in this version, and why; reported when set.
const UNUSED_VARS: &[(&str, &str)] = &[
    (
        "DEVLOG_FILE_PATTERN",
        "entry file names are chosen by devlog (NNN-slug.json)",
    ),
    (
        "DEVLOG_GIT_REPO",
        "git storage is the JSON backend in a git repository here; see [integrations.git] in \
         docs/git.md",
    ),
    (
        "DEVLOG_GIT_BRANCH",
        "git storage is the JSON backend in a git repository here; see [integrations.git] in \
         docs/git.md",
    ),
    (
        "DEVLOG_GIT_TOKEN",
        "git storage is the JSON backend in a git repository here; git's own credentials are \
         used",
    ),
    (
        "DEVLOG_CACHE_PATH",
        "the index is kept in .devlog/.state (git-ignored), not configurable",
    ),
];

/// Reports the original's set variables that have no meaning in this version.
pub(super) fn note_unused_env(cfg: &mut Config, env: &dyn Fn(&str) -> Option<String>) {
    for (var, why) in UNUSED_VARS {
        if env(var).is_some() {
            cfg.unused
                .push((format!("environment {var}"), (*why).to_string()));
        }
    }
}

/// The `devlog.toml` equivalent of a configuration read from the original's settings.
#[derive(Debug, Clone)]
pub struct Migration {
    pub toml: String,
    /// What the user must do (secrets left in the environment) — never a secret itself.
    pub notes: Vec<String>,
}

/// The variable a secret goes to: the original's name where it had one.
fn secret_var(integration: &str, key: &str) -> String {
    match (integration, key) {
        ("github", "token") => "GITHUB_TOKEN".into(),
        ("jira", "apiToken") => "JIRA_API_TOKEN".into(),
        ("ado", "personalAccessToken") => "ADO_PAT".into(),
        _ => {
            let mut s = format!("{}_", integration.to_ascii_uppercase());
            for (i, c) in key.chars().enumerate() {
                if c.is_ascii_uppercase() && i > 0 {
                    s.push('_');
                }
                s.push(if c.is_ascii_alphanumeric() {
                    c.to_ascii_uppercase()
                } else {
                    '_'
                });
            }
            s
        }
    }
}

/// Secret values written in the file are not copied: they become `${VAR}` references, and a
/// note says which variable to export.
fn externalize(name: &str, table: &toml::Table, notes: &mut Vec<String>) -> toml::Table {
    let mut out = table.clone();
    for (k, v) in out.iter_mut() {
        if let toml::Value::String(s) = v
            && is_secret_key(k)
            && !s.contains("${")
        {
            let var = secret_var(name, k);
            notes.push(format!(
                "integrations.{name}.{k}: the secret is not copied into {TOML_FILE}; it reads \
                 ${{{var}}}: export {var} with its value (or write {k}File = \"path\" to read it \
                 from a file)"
            ));
            *s = format!("${{{var}}}");
        }
    }
    out
}

fn table_text(path: &[&str], table: toml::Table) -> String {
    let mut doc = table;
    for p in path.iter().rev() {
        let mut outer = toml::Table::new();
        outer.insert((*p).to_string(), doc.into());
        doc = outer;
    }
    toml::to_string(&doc).unwrap_or_default()
}

/// The `devlog.toml` that configures what `cfg` (read from the original's settings) does.
pub fn migration(cfg: &Config) -> Migration {
    let mut notes = Vec::new();
    let from = cfg
        .source
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "the original devlog's environment variables".into());
    let mut out = format!(
        "# Written by `devlog config migrate` from {from}\n# (the original devlog's settings). \
         See docs/configuration.md.\n\n"
    );
    // Written by hand to keep `type` first.
    let quoted = |s: &str| toml::Value::from(s).to_string();
    out.push_str(&format!(
        "[storage]\ntype = {}\n",
        quoted(&cfg.storage.kind)
    ));
    if let Some(p) = &cfg.storage.path {
        out.push_str(&format!("path = {}\n", quoted(&p.display().to_string())));
    }
    if let Some(u) = &cfg.storage.url {
        let url = if devlog_store::redact_url(u) != *u && !u.contains("${") {
            notes.push(format!(
                "storage.url: the URL holds a password, which is not copied into {TOML_FILE}; it \
                 reads ${{DATABASE_URL}}: export DATABASE_URL with the URL"
            ));
            "${DATABASE_URL}".to_string()
        } else {
            u.clone()
        };
        out.push_str(&format!("url = {}\n", quoted(&url)));
    }
    if let Some(s) = cfg.sync.strategy
        && let Some((name, _)) = Strategy::ALL.iter().find(|(_, x)| *x == s)
    {
        out.push_str(&format!("\n[sync]\nstrategy = {}\n", quoted(name)));
    }
    for (name, table) in &cfg.integrations {
        let Some(t) = table.as_table() else { continue };
        out.push('\n');
        out.push_str(&table_text(
            &["integrations", name],
            externalize(name, t, &mut notes),
        ));
    }
    if !cfg.unused.is_empty() {
        out.push_str("\n# Settings of the original with no meaning in this version:\n");
        for (k, why) in &cfg.unused {
            out.push_str(&format!("#   {k}: {why}\n"));
        }
    }
    Migration { toml: out, notes }
}
