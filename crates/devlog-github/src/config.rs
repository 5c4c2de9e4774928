//! `[integrations.github]`: parsing, defaults and the JSON Schema of the table.

use std::collections::BTreeMap;
use std::fmt;

use devlog_core::entry::{EntryType, Priority, Status};
use devlog_http::SecretString;
use serde_json::{Value, json};

pub const DEFAULT_API_URL: &str = "https://api.github.com";

/// Where a devlog status lands on a GitHub issue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusTarget {
    Open,
    ClosedCompleted,
    ClosedNotPlanned,
}

impl StatusTarget {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::ClosedCompleted => "closed:completed",
            Self::ClosedNotPlanned => "closed:not_planned",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "open" => Self::Open,
            "closed:completed" => Self::ClosedCompleted,
            "closed:not_planned" => Self::ClosedNotPlanned,
            _ => return None,
        })
    }
}

/// The parsed configuration. `Debug` never shows the token or the webhook secret.
#[derive(Clone)]
pub struct GithubConfig {
    pub owner: String,
    pub repo: String,
    pub token: SecretString,
    pub auto_create_issues: bool,
    pub project_id: Option<String>,
    pub api_url: String,
    pub webhook_secret: Option<SecretString>,
    pub label_prefix: String,
    pub status_mapping: BTreeMap<Status, StatusTarget>,
    /// The status a reopened issue (open, no status label) gets.
    pub reopened_status: Status,
    pub priority_mapping: BTreeMap<Priority, String>,
    pub type_mapping: BTreeMap<EntryType, String>,
    /// The single-select field of the project (`projectId`) that carries the status.
    pub project_status_field: String,
    /// Devlog status → option name of `project_status_field`; unmapped statuses are left alone.
    pub project_status_mapping: BTreeMap<Status, String>,
    /// The single-select field for the priority; a project without it gets no priority.
    pub project_priority_field: String,
    /// Priority → option name of `project_priority_field`; unmapped priorities are left alone.
    pub project_priority_mapping: BTreeMap<Priority, String>,
    /// Pull-request state (`open`, `merged`, `closed`) → the status its entry moves to;
    /// unmapped states leave the entry alone.
    pub pull_request_mapping: BTreeMap<String, Status>,
    /// The title of the milestone new issues are put in (looked up once).
    pub milestone: Option<String>,
    /// Notes ⇄ issue comments (default on).
    pub sync_notes: bool,
}

impl fmt::Debug for GithubConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GithubConfig")
            .field("repository", &format!("{}/{}", self.owner, self.repo))
            .field("token", &"[redacted]")
            .field("auto_create_issues", &self.auto_create_issues)
            .field("project_id", &self.project_id)
            .field("api_url", &self.api_url)
            .field(
                "webhook_secret",
                &self.webhook_secret.as_ref().map(|_| "[redacted]"),
            )
            .field("label_prefix", &self.label_prefix)
            .field("status_mapping", &self.status_mapping)
            .field("reopened_status", &self.reopened_status)
            .field("priority_mapping", &self.priority_mapping)
            .field("type_mapping", &self.type_mapping)
            .field("project_status_field", &self.project_status_field)
            .field("project_status_mapping", &self.project_status_mapping)
            .field("project_priority_field", &self.project_priority_field)
            .field("project_priority_mapping", &self.project_priority_mapping)
            .field("pull_request_mapping", &self.pull_request_mapping)
            .field("milestone", &self.milestone)
            .field("sync_notes", &self.sync_notes)
            .finish()
    }
}

fn default_status(s: Status) -> StatusTarget {
    match s {
        Status::Done => StatusTarget::ClosedCompleted,
        Status::Closed => StatusTarget::ClosedNotPlanned,
        _ => StatusTarget::Open,
    }
}

/// The option of GitHub's default board "Status" field a devlog status lands on.
fn default_project_status(s: Status) -> &'static str {
    match s {
        Status::New => "Todo",
        Status::InProgress | Status::Blocked | Status::InReview | Status::Testing => "In Progress",
        Status::Done | Status::Closed => "Done",
    }
}

fn default_project_priority(p: Priority) -> &'static str {
    match p {
        Priority::Critical => "Critical",
        Priority::High => "High",
        Priority::Medium => "Medium",
        Priority::Low => "Low",
    }
}

fn str_key<'a>(
    t: &'a serde_json::Map<String, Value>,
    key: &str,
) -> Result<Option<&'a str>, String> {
    match t.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(format!("integrations.github.{key}: expected a string")),
    }
}

impl GithubConfig {
    /// A configuration with defaults for everything but the repository and the token.
    pub fn new(repository: &str, token: SecretString) -> Result<Self, String> {
        let (owner, repo) = split_repo(repository)?;
        Ok(Self {
            owner,
            repo,
            token,
            auto_create_issues: true,
            project_id: None,
            api_url: DEFAULT_API_URL.into(),
            webhook_secret: None,
            label_prefix: String::new(),
            status_mapping: Status::ALL
                .iter()
                .map(|s| (*s, default_status(*s)))
                .collect(),
            reopened_status: Status::InProgress,
            priority_mapping: Priority::ALL
                .iter()
                .map(|p| (*p, format!("priority:{}", p.as_str())))
                .collect(),
            type_mapping: EntryType::ALL
                .iter()
                .map(|t| (*t, format!("type:{}", t.as_str())))
                .collect(),
            project_status_field: "Status".into(),
            project_status_mapping: Status::ALL
                .iter()
                .map(|s| (*s, default_project_status(*s).to_string()))
                .collect(),
            project_priority_field: "Priority".into(),
            project_priority_mapping: Priority::ALL
                .iter()
                .map(|p| (*p, default_project_priority(*p).to_string()))
                .collect(),
            pull_request_mapping: [
                ("open".to_string(), Status::InReview),
                ("merged".to_string(), Status::Done),
            ]
            .into_iter()
            .collect(),
            milestone: None,
            sync_notes: true,
        })
    }

    /// Parses a table already validated against [`schema`]; errors name the key.
    pub fn from_table(table: &Value) -> Result<Self, String> {
        let t = table
            .as_object()
            .ok_or("integrations.github: expected a table")?;
        let repository = str_key(t, "repository")?
            .ok_or("integrations.github.repository: required (\"owner/repo\")")?;
        let token = str_key(t, "token")?
            .filter(|s| !s.is_empty())
            .ok_or("integrations.github.token: required (use \"${GITHUB_TOKEN}\")")?;
        let mut c = Self::new(repository, SecretString::from(token.to_string()))?;
        if let Some(b) = t.get("autoCreateIssues").and_then(Value::as_bool) {
            c.auto_create_issues = b;
        }
        if let Some(b) = t.get("syncNotes").and_then(Value::as_bool) {
            c.sync_notes = b;
        }
        c.project_id = str_key(t, "projectId")?.map(str::to_string);
        if let Some(u) = str_key(t, "apiUrl")? {
            c.api_url = u.trim_end_matches('/').to_string();
        }
        c.webhook_secret = str_key(t, "webhookSecret")?
            .filter(|s| !s.is_empty())
            .map(|s| SecretString::from(s.to_string()));
        if let Some(p) = str_key(t, "labelPrefix")? {
            c.label_prefix = p.to_string();
        }
        if let Some(m) = t.get("statusMapping").and_then(Value::as_object) {
            for (k, v) in m {
                let v = v.as_str().unwrap_or_default();
                if k == "reopened" {
                    c.reopened_status = v
                        .parse()
                        .map_err(|e| format!("integrations.github.statusMapping.reopened: {e}"))?;
                    continue;
                }
                let s: Status = k
                    .parse()
                    .map_err(|e| format!("integrations.github.statusMapping.{k}: {e}"))?;
                let target = StatusTarget::parse(v).ok_or_else(|| {
                    format!(
                        "integrations.github.statusMapping.{k}: `{v}` is not one of open, closed:completed, closed:not_planned"
                    )
                })?;
                c.status_mapping.insert(s, target);
            }
        }
        if let Some(m) = t.get("priorityMapping").and_then(Value::as_object) {
            for (k, v) in m {
                let p: Priority = k
                    .parse()
                    .map_err(|e| format!("integrations.github.priorityMapping.{k}: {e}"))?;
                c.priority_mapping
                    .insert(p, v.as_str().unwrap_or_default().to_string());
            }
        }
        if let Some(m) = t.get("typeMapping").and_then(Value::as_object) {
            for (k, v) in m {
                let ty: EntryType = k
                    .parse()
                    .map_err(|e| format!("integrations.github.typeMapping.{k}: {e}"))?;
                c.type_mapping
                    .insert(ty, v.as_str().unwrap_or_default().to_string());
            }
        }
        if let Some(f) = str_key(t, "projectStatusField")?.filter(|f| !f.is_empty()) {
            c.project_status_field = f.to_string();
        }
        if let Some(f) = str_key(t, "projectPriorityField")?.filter(|f| !f.is_empty()) {
            c.project_priority_field = f.to_string();
        }
        // An empty option name unmaps a value (TOML has no null): it is then left alone.
        if let Some(m) = t.get("projectStatusMapping").and_then(Value::as_object) {
            for (k, v) in m {
                let s: Status = k
                    .parse()
                    .map_err(|e| format!("integrations.github.projectStatusMapping.{k}: {e}"))?;
                match v.as_str().unwrap_or_default() {
                    "" => c.project_status_mapping.remove(&s),
                    o => c.project_status_mapping.insert(s, o.to_string()),
                };
            }
        }
        if let Some(m) = t.get("projectPriorityMapping").and_then(Value::as_object) {
            for (k, v) in m {
                let p: Priority = k
                    .parse()
                    .map_err(|e| format!("integrations.github.projectPriorityMapping.{k}: {e}"))?;
                match v.as_str().unwrap_or_default() {
                    "" => c.project_priority_mapping.remove(&p),
                    o => c.project_priority_mapping.insert(p, o.to_string()),
                };
            }
        }
        c.milestone = str_key(t, "milestone")?
            .filter(|m| !m.is_empty())
            .map(str::to_string);
        if let Some(m) = t.get("pullRequestMapping").and_then(Value::as_object) {
            for (k, v) in m {
                match v.as_str().unwrap_or_default() {
                    "" => c.pull_request_mapping.remove(k),
                    v => c.pull_request_mapping.insert(
                        k.clone(),
                        v.parse().map_err(|e| {
                            format!("integrations.github.pullRequestMapping.{k}: {e}")
                        })?,
                    ),
                };
            }
        }
        Ok(c)
    }
}

fn split_repo(repository: &str) -> Result<(String, String), String> {
    let valid = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    match repository.split_once('/') {
        Some((o, r)) if valid(o) && valid(r) => Ok((o.to_string(), r.to_string())),
        _ => Err(format!(
            "integrations.github.repository: `{repository}` is not \"owner/repo\""
        )),
    }
}

/// JSON Schema (draft 2020-12) of `[integrations.github]`.
pub fn schema() -> Value {
    let statuses: Vec<&str> = Status::allowed();
    let mut status_props = serde_json::Map::new();
    for s in &statuses {
        status_props.insert(
            (*s).to_string(),
            json!({"enum": ["open", "closed:completed", "closed:not_planned"]}),
        );
    }
    status_props.insert(
        "reopened".into(),
        json!({"enum": statuses, "description": "status of an issue reopened on GitHub"}),
    );
    let labels = |keys: Vec<&str>| {
        let props: serde_json::Map<String, Value> = keys
            .into_iter()
            .map(|k| (k.to_string(), json!({"type": "string", "minLength": 1})))
            .collect();
        json!({"type": "object", "properties": props, "additionalProperties": false})
    };
    // Project option names; "" unmaps the value.
    let options = |keys: Vec<&str>| {
        let props: serde_json::Map<String, Value> = keys
            .into_iter()
            .map(|k| (k.to_string(), json!({"type": "string"})))
            .collect();
        json!({"type": "object", "properties": props, "additionalProperties": false})
    };
    let mut pr_targets: Vec<&str> = Status::allowed();
    pr_targets.push("");
    json!({
        "type": "object",
        "properties": {
            "enabled": {"type": "boolean"},
            "repository": {"type": "string", "pattern": "^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$"},
            "token": {"type": "string", "minLength": 1},
            "autoCreateIssues": {"type": "boolean"},
            "syncNotes": {"type": "boolean", "description": "notes ⇄ issue comments (default true)"},
            "projectId": {"type": "string"},
            "apiUrl": {"type": "string", "pattern": "^https?://"},
            "webhookSecret": {"type": "string"},
            "labelPrefix": {"type": "string"},
            "milestone": {"type": "string", "description": "title of the milestone new issues are put in"},
            "statusMapping": {
                "type": "object",
                "properties": status_props,
                "additionalProperties": false
            },
            "priorityMapping": labels(Priority::allowed()),
            "typeMapping": labels(EntryType::allowed()),
            "projectStatusField": {"type": "string", "minLength": 1},
            "projectStatusMapping": options(statuses.clone()),
            "projectPriorityField": {"type": "string", "minLength": 1},
            "projectPriorityMapping": options(Priority::allowed()),
            "pullRequestMapping": {
                "type": "object",
                "description": "pull-request state → entry status (\"\": leave the entry alone)",
                "properties": {
                    "open": {"enum": pr_targets.clone()},
                    "merged": {"enum": pr_targets.clone()},
                    "closed": {"enum": pr_targets}
                },
                "additionalProperties": false
            }
        },
        "required": ["repository", "token"],
        "additionalProperties": false
    })
}
