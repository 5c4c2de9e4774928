//! `[integrations.jira]`: the table as one struct (`JiraTable`) whose JSON Schema is derived
//! from it, parsing with errors that name the dotted key, and the defaults (docs/jira.md).
//!
//! The original devlog's keys (`baseUrl`, `projectKey`, `apiToken`, `userEmail`) are read as
//! they are: `userEmail` is another name for `email`.

use std::collections::BTreeMap;
use std::fmt;

use devlog_core::entry::{EntryType, Priority, Status};
use devlog_http::{Auth, SecretString};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

/// How devlog authenticates to Jira. `Debug` never shows the secret.
#[derive(Clone)]
pub enum JiraAuth {
    /// Jira Cloud: the account's email and an API token (`Authorization: Basic`).
    Basic {
        email: String,
        api_token: SecretString,
    },
    /// OAuth 2.0 access token or Data Center personal access token (`Authorization: Bearer`).
    Bearer(SecretString),
}

impl JiraAuth {
    pub fn to_http(&self) -> Auth {
        match self {
            Self::Basic { email, api_token } => Auth::Basic {
                username: email.clone(),
                password: api_token.clone(),
            },
            Self::Bearer(t) => Auth::Bearer(t.clone()),
        }
    }
}

impl fmt::Debug for JiraAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Basic { email, .. } => f
                .debug_struct("Basic")
                .field("email", email)
                .field("api_token", &"[redacted]")
                .finish(),
            Self::Bearer(_) => f.write_str("Bearer([redacted])"),
        }
    }
}

/// Entry fields that can be mapped to Jira custom fields (`customFields` keys). The variants
/// carry plain comments: doc comments would make their schema a `oneOf`, not the key set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, JsonSchema)]
pub enum MappedField {
    // `estimatedHours` (a number field, e.g. "Story point estimate").
    #[serde(rename = "estimatedHours")]
    EstimatedHours,
    // `actualHours` (a number field).
    #[serde(rename = "actualHours")]
    ActualHours,
    // `context.acceptanceCriteria` (a paragraph field, written as ADF).
    #[serde(rename = "acceptanceCriteria")]
    AcceptanceCriteria,
    // `dueDate` (a date field; Jira's own `duedate` when mapped to "duedate").
    #[serde(rename = "dueDate")]
    DueDate,
}

impl MappedField {
    pub const ALL: [MappedField; 4] = [
        Self::EstimatedHours,
        Self::ActualHours,
        Self::AcceptanceCriteria,
        Self::DueDate,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::EstimatedHours => "estimatedHours",
            Self::ActualHours => "actualHours",
            Self::AcceptanceCriteria => "acceptanceCriteria",
            Self::DueDate => "dueDate",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == s)
    }

    /// The synced field it carries (the same name).
    pub fn synced(self) -> devlog_core::merge::SyncedField {
        use devlog_core::merge::SyncedField;
        match self {
            Self::EstimatedHours => SyncedField::EstimatedHours,
            Self::ActualHours => SyncedField::ActualHours,
            Self::AcceptanceCriteria => SyncedField::AcceptanceCriteria,
            Self::DueDate => SyncedField::DueDate,
        }
    }

    /// The mapped field that carries a synced one; `None` for the core fields.
    pub fn of(field: devlog_core::merge::SyncedField) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.synced() == field)
    }
}

/// The parsed configuration. `Debug` never shows the token or the webhook secret.
#[derive(Clone)]
pub struct JiraConfig {
    /// The site or server root, without a trailing slash (`https://acme.atlassian.net`).
    pub base_url: String,
    pub project_key: String,
    pub auth: JiraAuth,
    /// Devlog type → Jira issue type name.
    pub issue_types: BTreeMap<EntryType, String>,
    /// Devlog priority → Jira priority name.
    pub priorities: BTreeMap<Priority, String>,
    /// Devlog status → Jira status name. An unmapped status is reached through its status
    /// category ([`status_category`]).
    pub status_mapping: BTreeMap<Status, String>,
    /// Devlog status → the resolution a transition screen asking for one gets.
    pub resolutions: BTreeMap<Status, String>,
    /// Entry field → Jira custom field, by name or id (`customfield_10016`), resolved through
    /// the field metadata.
    pub custom_fields: BTreeMap<MappedField, String>,
    pub board_id: Option<u64>,
    pub webhook_secret: Option<SecretString>,
    /// Without a `webhook_secret`: the token a webhook URL must carry (`?token=`).
    pub webhook_token: Option<SecretString>,
    /// Notes ⇄ comments (default on).
    pub sync_notes: bool,
    /// Worklogs ⇄ Jira worklogs (default on).
    pub sync_worklogs: bool,
}

impl fmt::Debug for JiraConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JiraConfig")
            .field("base_url", &self.base_url)
            .field("project_key", &self.project_key)
            .field("auth", &self.auth)
            .field("issue_types", &self.issue_types)
            .field("priorities", &self.priorities)
            .field("status_mapping", &self.status_mapping)
            .field("resolutions", &self.resolutions)
            .field("custom_fields", &self.custom_fields)
            .field("board_id", &self.board_id)
            .field(
                "webhook_secret",
                &self.webhook_secret.as_ref().map(|_| "[redacted]"),
            )
            .field(
                "webhook_token",
                &self.webhook_token.as_ref().map(|_| "[redacted]"),
            )
            .field("sync_notes", &self.sync_notes)
            .field("sync_worklogs", &self.sync_worklogs)
            .finish()
    }
}

/// Jira's status categories (`statusCategory.key`): every Jira status is in one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum StatusCategory {
    /// `new` ("To Do").
    ToDo,
    /// `indeterminate` ("In Progress").
    InProgress,
    /// `done`.
    Done,
}

impl StatusCategory {
    pub fn parse(key: &str) -> Option<Self> {
        Some(match key {
            "new" => Self::ToDo,
            "indeterminate" => Self::InProgress,
            "done" => Self::Done,
            _ => return None,
        })
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::ToDo => "new",
            Self::InProgress => "indeterminate",
            Self::Done => "done",
        }
    }
}

/// The category a devlog status falls back to when no Jira status is mapped for it.
pub fn status_category(s: Status) -> StatusCategory {
    match s {
        Status::New => StatusCategory::ToDo,
        Status::InProgress | Status::Blocked | Status::InReview | Status::Testing => {
            StatusCategory::InProgress
        }
        Status::Done | Status::Closed => StatusCategory::Done,
    }
}

fn default_issue_type(t: EntryType) -> &'static str {
    match t {
        EntryType::Feature => "Story",
        EntryType::Bugfix => "Bug",
        EntryType::Task | EntryType::Refactor | EntryType::Docs => "Task",
    }
}

fn default_priority(p: Priority) -> &'static str {
    match p {
        Priority::Critical => "Highest",
        Priority::High => "High",
        Priority::Medium => "Medium",
        Priority::Low => "Low",
    }
}

impl JiraConfig {
    /// A configuration with defaults for everything but the site, the project and the auth.
    pub fn new(base_url: &str, project_key: &str, auth: JiraAuth) -> Result<Self, String> {
        if !(base_url.starts_with("https://") || base_url.starts_with("http://")) {
            return Err(format!(
                "integrations.jira.baseUrl: `{base_url}` is not an http(s) URL (e.g. \"https://acme.atlassian.net\")"
            ));
        }
        if !valid_project_key(project_key) {
            return Err(format!(
                "integrations.jira.projectKey: `{project_key}` is not a Jira project key (capital letters, digits and `_`, starting with a letter, e.g. \"DEV\")"
            ));
        }
        Ok(Self {
            base_url: base_url.trim_end_matches('/').to_string(),
            project_key: project_key.to_string(),
            auth,
            issue_types: EntryType::ALL
                .iter()
                .map(|t| (*t, default_issue_type(*t).to_string()))
                .collect(),
            priorities: Priority::ALL
                .iter()
                .map(|p| (*p, default_priority(*p).to_string()))
                .collect(),
            status_mapping: [
                (Status::New, "To Do"),
                (Status::InProgress, "In Progress"),
                (Status::Done, "Done"),
            ]
            .into_iter()
            .map(|(s, n)| (s, n.to_string()))
            .collect(),
            resolutions: [(Status::Done, "Done"), (Status::Closed, "Won't Do")]
                .into_iter()
                .map(|(s, n)| (s, n.to_string()))
                .collect(),
            custom_fields: BTreeMap::new(),
            board_id: None,
            webhook_secret: None,
            webhook_token: None,
            sync_notes: true,
            sync_worklogs: true,
        })
    }

    /// Parses a `[integrations.jira]` table (usually already validated against [`schema`]);
    /// errors name the dotted key and what to fix.
    pub fn from_table(table: &Value) -> Result<Self, String> {
        let t: JiraTable = serde_path_to_error::deserialize(table).map_err(|e| {
            let path = e.path().to_string();
            if path == "." {
                format!("integrations.jira: {}", e.inner())
            } else {
                format!("integrations.jira.{path}: {}", e.inner())
            }
        })?;
        t.into_config()
    }

    /// The Jira status name a devlog status maps to, if one is configured.
    pub fn status_name(&self, s: Status) -> Option<&str> {
        self.status_mapping.get(&s).map(String::as_str)
    }

    /// The devlog status a Jira status stands for: the first devlog status mapped to its name
    /// (in `Status::ALL` order), else its category's (`new` → new, `indeterminate` →
    /// in-progress, `done` → done).
    pub fn status_of(&self, name: &str, category: Option<StatusCategory>) -> Status {
        if let Some(s) = Status::ALL.iter().find(|s| {
            self.status_mapping
                .get(s)
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
        }) {
            return *s;
        }
        match category {
            Some(StatusCategory::ToDo) => Status::New,
            Some(StatusCategory::Done) => Status::Done,
            _ => Status::InProgress,
        }
    }

    /// The devlog type of a Jira issue type: the first devlog type mapped to it, else `task`.
    pub fn type_of(&self, issue_type: &str) -> EntryType {
        EntryType::ALL
            .iter()
            .find(|t| {
                self.issue_types
                    .get(t)
                    .is_some_and(|n| n.eq_ignore_ascii_case(issue_type))
            })
            .copied()
            .unwrap_or(EntryType::Task)
    }

    /// The devlog priority of a Jira priority: the one mapped to it, else `medium`.
    pub fn priority_of(&self, name: &str) -> Priority {
        Priority::ALL
            .iter()
            .find(|p| {
                self.priorities
                    .get(p)
                    .is_some_and(|n| n.eq_ignore_ascii_case(name))
            })
            .copied()
            .unwrap_or(Priority::Medium)
    }
}

fn valid_project_key(k: &str) -> bool {
    let mut chars = k.chars();
    chars.next().is_some_and(|c| c.is_ascii_uppercase())
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// `[integrations.jira]` as written. Its JSON Schema ([`schema`]) is derived from this struct,
/// so a key exists in the schema exactly when it is parsed here; the doc comments are the
/// schema's descriptions. Mapping keys are read as strings and turned into devlog values by
/// [`JiraTable::into_config`], so an error names the key (`statusMapping.finished`).
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(
    title = "[integrations.jira]",
    description = "devlog's Jira integration: issues, workflow transitions and comments of one project (docs/jira.md)"
)]
struct JiraTable {
    /// false: configured but not used.
    #[allow(dead_code)] // read by devlog_sync::registry, which skips a disabled table
    enabled: Option<bool>,
    /// The Jira site or server ("https://acme.atlassian.net").
    #[schemars(required, regex(pattern = "^https?://"))]
    base_url: Option<String>,
    /// The project whose issues entries sync with ("DEV").
    #[schemars(required, regex(pattern = "^[A-Z][A-Z0-9_]*$"))]
    project_key: Option<String>,
    /// The account's email, with apiToken (Jira Cloud, Basic auth).
    #[schemars(length(min = 1))]
    email: Option<String>,
    /// The original devlog's name for `email`.
    #[schemars(length(min = 1))]
    user_email: Option<String>,
    /// An API token of that account (use "${JIRA_API_TOKEN}").
    #[schemars(length(min = 1))]
    api_token: Option<String>,
    /// Instead of email + apiToken: an OAuth 2.0 access token or a Data Center personal
    /// access token (Bearer).
    #[schemars(length(min = 1))]
    token: Option<String>,
    /// Devlog type → Jira issue type name (default feature→Story, bugfix→Bug, others→Task).
    #[schemars(with = "Option<BTreeMap<EntryType, Name>>")]
    issue_types: Option<BTreeMap<String, String>>,
    /// Devlog priority → Jira priority name (default critical→Highest, high→High, …).
    #[schemars(with = "Option<BTreeMap<Priority, Name>>")]
    priorities: Option<BTreeMap<String, String>>,
    /// Devlog status → Jira status name ("": reach it by status category instead).
    #[schemars(with = "Option<BTreeMap<Status, String>>")]
    status_mapping: Option<BTreeMap<String, String>>,
    /// Devlog status → the resolution set when a transition screen requires one.
    #[schemars(with = "Option<BTreeMap<Status, Name>>")]
    resolutions: Option<BTreeMap<String, String>>,
    /// Entry field → Jira custom field, by name ("Story point estimate") or id
    /// ("customfield_10016").
    #[schemars(with = "Option<BTreeMap<MappedField, Name>>")]
    custom_fields: Option<BTreeMap<String, String>>,
    /// The Scrum or Kanban board of the project (checked by `devlog integrations check`).
    #[schemars(range(min = 1))]
    board_id: Option<u64>,
    /// The secret of the Jira webhook: deliveries must carry `X-Hub-Signature: sha256=<HMAC>`
    /// of their body (docs/jira.md, "Webhooks").
    webhook_secret: Option<String>,
    /// Without webhookSecret: the token the webhook's URL carries (`/webhooks/jira?token=…`),
    /// for Jira webhooks that cannot be registered with a secret.
    #[schemars(length(min = 16))]
    webhook_token: Option<String>,
    /// Notes ⇄ comments (default true).
    sync_notes: Option<bool>,
    /// Worklogs ⇄ Jira worklogs (default true).
    sync_worklogs: Option<bool>,
}

/// A non-empty name (only its schema is used).
#[allow(dead_code)]
#[derive(JsonSchema)]
#[schemars(transparent)]
struct Name(#[schemars(length(min = 1))] String);

fn mapped<K>(
    map: Option<BTreeMap<String, String>>,
    key: &str,
    parse: impl Fn(&str) -> Result<K, String>,
) -> Result<Vec<(K, String, String)>, String> {
    map.unwrap_or_default()
        .into_iter()
        .map(|(k, v)| {
            let dotted = format!("integrations.jira.{key}.{k}");
            let parsed = parse(&k).map_err(|e| format!("{dotted}: {e}"))?;
            Ok((parsed, v, dotted))
        })
        .collect()
}

impl JiraTable {
    fn into_config(self) -> Result<JiraConfig, String> {
        let base_url = self.base_url.ok_or(
            "integrations.jira.baseUrl: required (the site, e.g. \"https://acme.atlassian.net\")",
        )?;
        let project_key = self
            .project_key
            .ok_or("integrations.jira.projectKey: required (the project's key, e.g. \"DEV\")")?;
        let email = match (self.email, self.user_email) {
            (Some(a), Some(b)) if a != b => {
                return Err(
                    "integrations.jira.userEmail: differs from integrations.jira.email; keep one (userEmail is the original devlog's name for email)"
                        .into(),
                );
            }
            (a, b) => a.or(b),
        };
        let auth = match (email, self.api_token, self.token) {
            (_, Some(_), Some(_)) => {
                return Err(
                    "integrations.jira.token: set either token (Bearer) or email + apiToken (Basic), not both"
                        .into(),
                );
            }
            (Some(email), Some(t), None) => JiraAuth::Basic {
                email,
                api_token: SecretString::from(t),
            },
            (None, Some(_), None) => {
                return Err(
                    "integrations.jira.email: required with apiToken (the Atlassian account's email)"
                        .into(),
                );
            }
            (_, None, Some(t)) => JiraAuth::Bearer(SecretString::from(t)),
            (_, None, None) => {
                return Err(
                    "integrations.jira.apiToken: required (use \"${JIRA_API_TOKEN}\" with email), or set token for Bearer auth"
                        .into(),
                );
            }
        };
        let mut c = JiraConfig::new(&base_url, &project_key, auth)?;
        for (t, v, _) in mapped(self.issue_types, "issueTypes", |k| {
            k.parse::<EntryType>().map_err(|e| e.to_string())
        })? {
            c.issue_types.insert(t, v);
        }
        for (p, v, _) in mapped(self.priorities, "priorities", |k| {
            k.parse::<Priority>().map_err(|e| e.to_string())
        })? {
            c.priorities.insert(p, v);
        }
        for (s, v, _) in mapped(self.status_mapping, "statusMapping", |k| {
            k.parse::<Status>().map_err(|e| e.to_string())
        })? {
            match v.as_str() {
                "" => c.status_mapping.remove(&s),
                _ => c.status_mapping.insert(s, v),
            };
        }
        for (s, v, _) in mapped(self.resolutions, "resolutions", |k| {
            k.parse::<Status>().map_err(|e| e.to_string())
        })? {
            c.resolutions.insert(s, v);
        }
        for (f, v, _) in mapped(self.custom_fields, "customFields", |k| {
            MappedField::parse(k).ok_or_else(|| {
                format!(
                    "unknown entry field `{k}`; one of {}",
                    MappedField::ALL.map(|m| m.as_str()).join(", ")
                )
            })
        })? {
            c.custom_fields.insert(f, v);
        }
        c.board_id = self.board_id;
        c.webhook_secret = self
            .webhook_secret
            .filter(|s| !s.is_empty())
            .map(SecretString::from);
        c.webhook_token = self
            .webhook_token
            .filter(|s| !s.is_empty())
            .map(SecretString::from);
        if let Some(b) = self.sync_notes {
            c.sync_notes = b;
        }
        if let Some(b) = self.sync_worklogs {
            c.sync_worklogs = b;
        }
        Ok(c)
    }
}

/// JSON Schema (draft 2020-12) of `[integrations.jira]`, derived from the table's struct
/// (`additionalProperties: false` at every level; subschemas inlined).
pub fn schema() -> Value {
    let generator = schemars::generate::SchemaSettings::draft2020_12()
        .with(|s| s.inline_subschemas = true)
        .into_generator();
    let schema = generator.into_root_schema_for::<JiraTable>();
    serde_json::to_value(schema).unwrap_or(Value::Bool(false))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a panic is the failure report
    use serde_json::json;

    use super::*;

    fn table(extra: Value) -> Value {
        let mut t = json!({"baseUrl": "https://acme.atlassian.net", "projectKey": "DEV",
                           "email": "dev@example.com", "apiToken": "s3cr3t-t0ken"});
        t.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        t
    }

    fn valid(t: &Value) -> bool {
        jsonschema::validator_for(&schema()).unwrap().is_valid(t)
    }

    #[test]
    fn the_schema_is_derived_and_closed() {
        let s = schema();
        assert_eq!(s["additionalProperties"], json!(false));
        assert_eq!(s["required"], json!(["baseUrl", "projectKey"]));
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
        let mut types = EntryType::allowed();
        types.sort();
        assert_eq!(keys("issueTypes"), types);
        let mut statuses = Status::allowed();
        statuses.sort();
        assert_eq!(keys("statusMapping"), statuses);
        assert_eq!(
            keys("customFields"),
            [
                "acceptanceCriteria",
                "actualHours",
                "dueDate",
                "estimatedHours"
            ]
        );
        assert!(valid(&table(json!({"boardId": 3}))));
        assert!(!valid(&table(json!({"boardid": 3}))));
        assert!(!valid(&table(
            json!({"statusMapping": {"finished": "Done"}})
        )));
        assert!(!valid(&table(json!({"projectKey": "dev"}))));
    }

    #[test]
    fn the_originals_keys_are_read_as_they_are() {
        let c = JiraConfig::from_table(&json!({
            "baseUrl": "https://acme.atlassian.net/", "projectKey": "DEV",
            "userEmail": "dev@example.com", "apiToken": "s3cr3t-t0ken"
        }))
        .unwrap();
        assert_eq!(c.base_url, "https://acme.atlassian.net");
        assert!(matches!(&c.auth, JiraAuth::Basic { email, .. } if email == "dev@example.com"));
        // Defaults of item 1 of the issue.
        assert_eq!(c.issue_types[&EntryType::Feature], "Story");
        assert_eq!(c.issue_types[&EntryType::Bugfix], "Bug");
        assert_eq!(c.issue_types[&EntryType::Refactor], "Task");
        assert_eq!(c.issue_types[&EntryType::Docs], "Task");
        assert!(c.sync_notes);
        assert!(c.sync_worklogs);
    }

    #[test]
    fn errors_name_the_dotted_key() {
        for (extra, key) in [
            (json!({"colour": "x"}), "integrations.jira.colour"),
            (
                json!({"statusMapping": {"finished": "Done"}}),
                "integrations.jira.statusMapping.finished",
            ),
            (
                json!({"issueTypes": {"epic": "Epic"}}),
                "integrations.jira.issueTypes.epic",
            ),
            (
                json!({"customFields": {"team": "Team"}}),
                "integrations.jira.customFields.team",
            ),
            (json!({"boardId": "seven"}), "integrations.jira.boardId"),
            (json!({"token": "bearer-t0ken"}), "integrations.jira.token"),
            (
                json!({"userEmail": "other@example.com"}),
                "integrations.jira.userEmail",
            ),
            (json!({"projectKey": "dev"}), "integrations.jira.projectKey"),
            (
                json!({"baseUrl": "acme.atlassian.net"}),
                "integrations.jira.baseUrl",
            ),
        ] {
            let err = JiraConfig::from_table(&table(extra.clone())).unwrap_err();
            assert!(err.starts_with(key), "{extra}: {err}");
        }
        let err = JiraConfig::from_table(
            &json!({"baseUrl": "https://j.example", "projectKey": "DEV", "apiToken": "t"}),
        )
        .unwrap_err();
        assert!(
            err.starts_with("integrations.jira.email: required"),
            "{err}"
        );
        let err =
            JiraConfig::from_table(&json!({"baseUrl": "https://j.example", "projectKey": "DEV"}))
                .unwrap_err();
        assert!(
            err.starts_with("integrations.jira.apiToken: required"),
            "{err}"
        );
        let err = JiraConfig::from_table(&json!({"projectKey": "DEV"})).unwrap_err();
        assert!(
            err.starts_with("integrations.jira.baseUrl: required"),
            "{err}"
        );
    }

    #[test]
    fn the_table_sets_what_it_names_and_debug_hides_secrets() {
        let c = JiraConfig::from_table(&json!({
            "baseUrl": "https://jira.example.com", "projectKey": "OPS",
            "token": "bearer-s3cr3t", "webhookSecret": "hook-s3cr3t",
            "issueTypes": {"docs": "Documentation"},
            "priorities": {"critical": "Blocker"},
            "statusMapping": {"in-review": "Code Review", "new": ""},
            "resolutions": {"closed": "Duplicate"},
            "customFields": {"estimatedHours": "Story point estimate"},
            "boardId": 12, "syncNotes": false, "syncWorklogs": false
        }))
        .unwrap();
        assert!(matches!(c.auth, JiraAuth::Bearer(_)));
        assert_eq!(c.issue_types[&EntryType::Docs], "Documentation");
        assert_eq!(c.priorities[&Priority::Critical], "Blocker");
        assert_eq!(c.status_name(Status::InReview), Some("Code Review"));
        assert_eq!(c.status_name(Status::New), None);
        assert_eq!(c.resolutions[&Status::Closed], "Duplicate");
        assert_eq!(
            c.custom_fields[&MappedField::EstimatedHours],
            "Story point estimate"
        );
        assert_eq!(c.board_id, Some(12));
        assert!(!c.sync_worklogs);
        assert!(!c.sync_notes);
        // Reverse mapping: by name first, else by category.
        assert_eq!(c.status_of("code review", None), Status::InReview);
        assert_eq!(
            c.status_of("Backlog", Some(StatusCategory::ToDo)),
            Status::New
        );
        assert_eq!(
            c.status_of("Shipped", Some(StatusCategory::Done)),
            Status::Done
        );
        assert_eq!(c.type_of("Documentation"), EntryType::Docs);
        assert_eq!(c.type_of("Epic"), EntryType::Task);
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("s3cr3t"), "{dbg}");
    }
}
