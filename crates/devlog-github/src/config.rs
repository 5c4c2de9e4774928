//! `[integrations.github]`: the table as one struct (`GithubTable`) whose JSON Schema is
//! derived from it, parsing with errors that name the dotted key, and the defaults.

use std::collections::BTreeMap;
use std::fmt;

use devlog_core::entry::{EntryType, Priority, Status};
use devlog_http::SecretString;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

pub const DEFAULT_API_URL: &str = "https://api.github.com";

/// Where a devlog status lands on a GitHub issue: open, closed:completed or closed:not_planned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, JsonSchema)]
pub enum StatusTarget {
    #[serde(rename = "open")]
    Open,
    #[serde(rename = "closed:completed")]
    ClosedCompleted,
    #[serde(rename = "closed:not_planned")]
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

    /// Parses a `[integrations.github]` table (usually already validated against
    /// [`schema`]); errors name the dotted key and what to fix.
    pub fn from_table(table: &Value) -> Result<Self, String> {
        let t: GithubTable = serde_path_to_error::deserialize(table).map_err(|e| {
            let path = e.path().to_string();
            if path == "." {
                format!("integrations.github: {}", e.inner())
            } else {
                format!("integrations.github.{path}: {}", e.inner())
            }
        })?;
        t.into_config()
    }
}

/// `[integrations.github]` as written. Its JSON Schema ([`schema`]) is derived from this
/// struct, so a key exists in the schema exactly when it is parsed here; the doc comments are
/// the schema's descriptions. Mapping keys are read as strings and turned into devlog values
/// by [`GithubTable::into_config`], so an error names the key (`statusMapping.finished`); their
/// schemas (`schemars(with)`) list the allowed keys and values.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(
    title = "[integrations.github]",
    description = "devlog's GitHub integration: issues, comments, pull requests and a Projects v2 board (docs/github.md)"
)]
struct GithubTable {
    /// false: configured but not used.
    #[allow(dead_code)] // read by devlog_sync::registry, which skips a disabled table
    enabled: Option<bool>,
    /// The repository whose issues entries sync with, "owner/repo".
    #[schemars(required, regex(pattern = r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$"))]
    repository: Option<String>,
    /// A token with access to the repository's issues (use "${GITHUB_TOKEN}").
    #[schemars(required, length(min = 1))]
    token: Option<String>,
    /// false: an entry without an issue fails with a clear message instead of creating one.
    auto_create_issues: Option<bool>,
    /// Notes ⇄ issue comments (default true).
    sync_notes: Option<bool>,
    /// A Projects v2 board (its node id, `PVT_…`).
    project_id: Option<String>,
    /// The REST API root (GitHub Enterprise Server: "https://ghe.example.com/api/v3").
    #[schemars(regex(pattern = "^https?://"))]
    api_url: Option<String>,
    /// Secret of the repository's webhook; required to accept webhooks.
    webhook_secret: Option<String>,
    /// Prefix of devlog's labels (e.g. "devlog/").
    label_prefix: Option<String>,
    /// Title of the milestone new issues are put in.
    milestone: Option<String>,
    /// Devlog status → issue state; `reopened`: the status of an issue reopened on GitHub.
    status_mapping: Option<StatusMappingTable>,
    /// Devlog priority → label (before labelPrefix).
    #[schemars(with = "Option<BTreeMap<Priority, Label>>")]
    priority_mapping: Option<BTreeMap<String, String>>,
    /// Devlog type → label (before labelPrefix).
    #[schemars(with = "Option<BTreeMap<EntryType, Label>>")]
    type_mapping: Option<BTreeMap<String, String>>,
    /// The board's single-select field for the status.
    #[schemars(length(min = 1))]
    project_status_field: Option<String>,
    /// Devlog status → option of projectStatusField ("": leave the board alone).
    #[schemars(with = "Option<BTreeMap<Status, String>>")]
    project_status_mapping: Option<BTreeMap<String, String>>,
    /// The board's single-select field for the priority.
    #[schemars(length(min = 1))]
    project_priority_field: Option<String>,
    /// Priority → option of projectPriorityField ("": leave the board alone).
    #[schemars(with = "Option<BTreeMap<Priority, String>>")]
    project_priority_mapping: Option<BTreeMap<String, String>>,
    /// Pull-request state → entry status ("": leave the entry alone).
    #[schemars(with = "Option<BTreeMap<PullRequestState, StatusOrNothing>>")]
    pull_request_mapping: Option<BTreeMap<String, String>>,
}

/// `[integrations.github.statusMapping]`: a target per status, and `reopened`.
#[derive(Deserialize, JsonSchema)]
// `flatten` rules out `deny_unknown_fields`: an unknown key is refused by the schema here, and
// by the parser when it is read as a status.
#[schemars(extend("additionalProperties" = false))]
struct StatusMappingTable {
    /// The status of an issue reopened on GitHub (open, no status label).
    #[schemars(with = "Option<Status>")]
    reopened: Option<String>,
    #[serde(flatten)]
    #[schemars(with = "BTreeMap<Status, StatusTarget>")]
    targets: BTreeMap<String, String>,
}

/// A label name.
// Never built: only its schema is used.
#[allow(dead_code)]
#[derive(JsonSchema)]
#[schemars(transparent)]
struct Label(#[schemars(length(min = 1))] String);

/// The states of a pull request (the keys of pullRequestMapping).
// Never built: only its schema is used.
#[allow(dead_code)]
#[derive(JsonSchema)]
#[serde(rename_all = "lowercase")]
enum PullRequestState {
    Open,
    Merged,
    Closed,
}

/// A devlog status, or "" for none (only its schema is used).
struct StatusOrNothing;

impl JsonSchema for StatusOrNothing {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> std::borrow::Cow<'static, str> {
        "StatusOrNothing".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let mut allowed = Status::allowed();
        allowed.push("");
        schemars::json_schema!({ "type": "string", "enum": allowed })
    }
}

impl GithubTable {
    fn into_config(self) -> Result<GithubConfig, String> {
        let key = |k: &str| format!("integrations.github.{k}");
        let repository = self
            .repository
            .ok_or("integrations.github.repository: required (\"owner/repo\")")?;
        let token = self
            .token
            .filter(|s| !s.is_empty())
            .ok_or("integrations.github.token: required (use \"${GITHUB_TOKEN}\")")?;
        let mut c = GithubConfig::new(&repository, SecretString::from(token))?;
        if let Some(b) = self.auto_create_issues {
            c.auto_create_issues = b;
        }
        if let Some(b) = self.sync_notes {
            c.sync_notes = b;
        }
        c.project_id = self.project_id;
        if let Some(u) = self.api_url {
            c.api_url = u.trim_end_matches('/').to_string();
        }
        c.webhook_secret = self
            .webhook_secret
            .filter(|s| !s.is_empty())
            .map(SecretString::from);
        if let Some(p) = self.label_prefix {
            c.label_prefix = p;
        }
        if let Some(m) = self.status_mapping {
            if let Some(r) = m.reopened {
                c.reopened_status = r
                    .parse()
                    .map_err(|e| format!("{}: {e}", key("statusMapping.reopened")))?;
            }
            for (k, v) in m.targets {
                let s: Status = k
                    .parse()
                    .map_err(|e| format!("{}: {e}", key(&format!("statusMapping.{k}"))))?;
                let target = StatusTarget::parse(&v).ok_or_else(|| {
                    format!(
                        "{}: `{v}` is not one of open, closed:completed, closed:not_planned",
                        key(&format!("statusMapping.{k}"))
                    )
                })?;
                c.status_mapping.insert(s, target);
            }
        }
        for (k, v) in self.priority_mapping.unwrap_or_default() {
            let p: Priority = k
                .parse()
                .map_err(|e| format!("{}: {e}", key(&format!("priorityMapping.{k}"))))?;
            c.priority_mapping.insert(p, v);
        }
        for (k, v) in self.type_mapping.unwrap_or_default() {
            let ty: EntryType = k
                .parse()
                .map_err(|e| format!("{}: {e}", key(&format!("typeMapping.{k}"))))?;
            c.type_mapping.insert(ty, v);
        }
        if let Some(f) = self.project_status_field.filter(|f| !f.is_empty()) {
            c.project_status_field = f;
        }
        if let Some(f) = self.project_priority_field.filter(|f| !f.is_empty()) {
            c.project_priority_field = f;
        }
        // An empty option name unmaps a value (TOML has no null): it is then left alone.
        for (k, v) in self.project_status_mapping.unwrap_or_default() {
            let s: Status = k
                .parse()
                .map_err(|e| format!("{}: {e}", key(&format!("projectStatusMapping.{k}"))))?;
            match v.as_str() {
                "" => c.project_status_mapping.remove(&s),
                _ => c.project_status_mapping.insert(s, v),
            };
        }
        for (k, v) in self.project_priority_mapping.unwrap_or_default() {
            let p: Priority = k
                .parse()
                .map_err(|e| format!("{}: {e}", key(&format!("projectPriorityMapping.{k}"))))?;
            match v.as_str() {
                "" => c.project_priority_mapping.remove(&p),
                _ => c.project_priority_mapping.insert(p, v),
            };
        }
        c.milestone = self.milestone.filter(|m| !m.is_empty());
        for (k, v) in self.pull_request_mapping.unwrap_or_default() {
            match v.as_str() {
                "" => c.pull_request_mapping.remove(&k),
                _ => {
                    let s: Status = v
                        .parse()
                        .map_err(|e| format!("{}: {e}", key(&format!("pullRequestMapping.{k}"))))?;
                    c.pull_request_mapping.insert(k, s)
                }
            };
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

/// JSON Schema (draft 2020-12) of `[integrations.github]`, derived from the table's struct
/// (`additionalProperties: false` at every level; subschemas inlined, so a key's rules are
/// under `properties.<key>`).
pub fn schema() -> Value {
    let generator = schemars::generate::SchemaSettings::draft2020_12()
        .with(|s| s.inline_subschemas = true)
        .into_generator();
    let schema = generator.into_root_schema_for::<GithubTable>();
    // A `Schema` is a JSON value by construction.
    serde_json::to_value(schema).unwrap_or(Value::Bool(false))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a panic is the failure report
    use serde_json::json;

    use super::*;

    fn table(extra: Value) -> Value {
        let mut t = json!({"repository": "acme/widgets", "token": "t0ken"});
        t.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        t
    }

    #[test]
    fn every_key_of_the_schema_is_parsed_and_no_other() {
        let s = schema();
        assert_eq!(s["additionalProperties"], json!(false));
        assert_eq!(s["required"], json!(["repository", "token"]));
        for (k, sub) in s["properties"].as_object().unwrap() {
            if sub["type"] == json!(["object", "null"]) {
                assert_eq!(sub["additionalProperties"], json!(false), "{k}");
            }
        }
        // The mapping keys are the closed value sets of devlog-core.
        let keys = |k: &str| -> Vec<String> {
            let mut v: Vec<String> = s["properties"][k]["properties"]
                .as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect();
            v.sort();
            v
        };
        fn sorted(mut v: Vec<&'static str>) -> Vec<&'static str> {
            v.sort();
            v
        }
        assert_eq!(keys("typeMapping"), sorted(EntryType::allowed()));
        assert_eq!(keys("priorityMapping"), sorted(Priority::allowed()));
        assert_eq!(keys("projectStatusMapping"), sorted(Status::allowed()));
        let mut with_reopened = Status::allowed();
        with_reopened.push("reopened");
        assert_eq!(keys("statusMapping"), sorted(with_reopened));
        assert_eq!(keys("pullRequestMapping"), ["closed", "merged", "open"]);
    }

    #[test]
    fn unknown_keys_are_refused_with_the_dotted_key() {
        let err = GithubConfig::from_table(&table(json!({"labelprefix": "x/"}))).unwrap_err();
        assert!(
            err.starts_with("integrations.github.labelprefix: unknown field `labelprefix`"),
            "{err}"
        );
        assert!(err.contains("labelPrefix"), "names the known keys: {err}");
        for (extra, key) in [
            (
                json!({"statusMapping": {"finished": "open"}}),
                "integrations.github.statusMapping.finished",
            ),
            (
                json!({"statusMapping": {"done": "finished"}}),
                "integrations.github.statusMapping.done",
            ),
            (
                json!({"projectStatusMapping": {"shipping": "Done"}}),
                "integrations.github.projectStatusMapping.shipping",
            ),
            (
                json!({"pullRequestMapping": {"merged": "shipped"}}),
                "integrations.github.pullRequestMapping.merged",
            ),
            (
                json!({"autoCreateIssues": "yes"}),
                "integrations.github.autoCreateIssues",
            ),
            (
                json!({"typeMapping": {"bugfix": 3}}),
                "integrations.github.typeMapping.bugfix",
            ),
        ] {
            let err = GithubConfig::from_table(&table(extra.clone())).unwrap_err();
            assert!(err.starts_with(key), "{extra}: {err}");
        }
        let err = GithubConfig::from_table(&json!({"token": "t"})).unwrap_err();
        assert!(
            err.starts_with("integrations.github.repository: required"),
            "{err}"
        );
        let err = GithubConfig::from_table(&json!({"repository": "a/b", "token": ""})).unwrap_err();
        assert!(
            err.starts_with("integrations.github.token: required"),
            "{err}"
        );
        let err = GithubConfig::from_table(&json!("github")).unwrap_err();
        assert!(
            err.starts_with("integrations.github: invalid type"),
            "{err}"
        );
    }

    #[test]
    fn the_table_sets_what_it_names_and_defaults_the_rest() {
        let c = GithubConfig::from_table(&table(json!({
            "enabled": true,
            "apiUrl": "https://ghe.example.com/api/v3/",
            "webhookSecret": "hook-s3cr3t",
            "syncNotes": false,
            "statusMapping": {"blocked": "closed:not_planned", "reopened": "new"},
            "pullRequestMapping": {"open": "", "closed": "closed"},
            "milestone": ""
        })))
        .unwrap();
        assert_eq!(c.api_url, "https://ghe.example.com/api/v3");
        assert!(!c.sync_notes);
        assert_eq!(
            c.status_mapping[&Status::Blocked],
            StatusTarget::ClosedNotPlanned
        );
        assert_eq!(
            c.status_mapping[&Status::Done],
            StatusTarget::ClosedCompleted
        );
        assert_eq!(c.reopened_status, Status::New);
        assert!(!c.pull_request_mapping.contains_key("open"));
        assert_eq!(c.pull_request_mapping["merged"], Status::Done);
        assert_eq!(c.pull_request_mapping["closed"], Status::Closed);
        assert_eq!(c.milestone, None);
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("t0ken") && !dbg.contains("s3cr3t"), "{dbg}");
    }
}
