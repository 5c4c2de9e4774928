//! devlog's GitHub integration: entries ⇄ issues of one repository over the REST API
//! (`2022-11-28`), on the shared HTTP plumbing of `devlog-http` (rate limits, ETags, `Link`
//! pagination, classified errors).
//!
//! Mapping (see docs/github.md): title ⇄ title; description ⇄ the issue body before the
//! hidden devlog section (context, acceptance criteria and the `<!-- devlog:id=… -->` marker);
//! status ⇄ `state`/`state_reason` plus a `status:<s>` label for open statuses; type and
//! priority ⇄ labels through the configurable mappings; tags ⇄ the other labels carrying
//! `labelPrefix`; assignee ⇄ the first assignee. Pull requests are skipped.
//!
//! API boundary: no store access, no terminal, no environment; the token never appears in
//! logs, errors or `Debug`.

pub mod comments;
pub mod config;
pub mod projects;
pub mod pulls;
pub mod release;
pub mod webhook;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use devlog_core::entry::{Entry, EntryType, Priority, Status};
use devlog_core::id::EntryId;
use devlog_core::integration::{
    Capability, Descriptor, Health, Integration, PullPage, RemoteAction, RemoteItem,
    RemoteMilestone, SyncError, SyncErrorKind, Webhook, WebhookOutcome,
};
use devlog_core::merge::{FieldSet, SyncedField, SyncedFields};
use devlog_core::time::Timestamp;
use devlog_http::{
    ClientOptions, EtagStore, HttpClient, HttpError, HttpErrorKind, LinkHeader, Pages,
    RateLimitConfig,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub use config::{GithubConfig, StatusTarget};

pub const NAME: &str = "github";
const MARKER_START: &str = "<!-- devlog:";
const DETAILS: &str = "<!-- devlog:details -->";
const FORBIDDEN: &str = "the token may not do this";

/// The GitHub integration.
#[derive(Debug, Clone)]
pub struct GithubIntegration {
    config: Arc<GithubConfig>,
    client: Arc<HttpClient>,
    /// The repository's milestones, title → number: listed once per sync run (a pull starts
    /// a run and forgets them; the list is a conditional GET, so an unchanged list costs a
    /// 304), extended by the milestones devlog creates.
    milestones: Arc<tokio::sync::Mutex<Option<std::collections::BTreeMap<String, u64>>>>,
}

/// An issue's milestone as the REST API returns it.
#[derive(Debug, Clone, Deserialize)]
pub struct IssueMilestone {
    pub number: u64,
    #[serde(default, deserialize_with = "null_default")]
    pub title: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub due_on: Option<String>,
}

impl IssueMilestone {
    /// As devlog keeps it: the due date is the date part of `due_on` (GitHub keeps dates, and
    /// answers with a time of day in its own time zone).
    pub fn to_remote(&self) -> RemoteMilestone {
        RemoteMilestone {
            title: self.title.clone(),
            description: self.description.clone().unwrap_or_default(),
            due_date: self
                .due_on
                .as_deref()
                .and_then(|d| d.get(..10))
                .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok()),
            closed: self.state.as_deref() == Some("closed"),
        }
    }
}

/// A due date as GitHub's `due_on`: noon UTC, so the date is the same in every time zone
/// GitHub may store it in.
pub fn due_on(date: chrono::NaiveDate) -> String {
    format!("{}T12:00:00Z", date.format("%Y-%m-%d"))
}

/// An issue as the REST API returns it (only what we read; old payloads may lack fields).
#[derive(Debug, Clone, Deserialize)]
pub struct Issue {
    pub number: u64,
    #[serde(default)]
    pub node_id: Option<String>,
    #[serde(default)]
    pub html_url: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub title: String,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub state: String,
    #[serde(default)]
    pub state_reason: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub labels: Vec<LabelRef>,
    #[serde(default)]
    pub assignees: Option<Vec<UserRef>>,
    #[serde(default)]
    pub assignee: Option<UserRef>,
    pub updated_at: String,
    #[serde(default)]
    pub pull_request: Option<Value>,
    #[serde(default)]
    pub milestone: Option<IssueMilestone>,
}

/// Old payloads send `null` where a value is expected: read it as the default.
fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A label: the API sends objects; tolerate bare names.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum LabelRef {
    Name(String),
    Object {
        #[serde(default)]
        name: Option<String>,
    },
}

impl LabelRef {
    fn name(&self) -> Option<&str> {
        match self {
            Self::Name(n) => Some(n),
            Self::Object { name } => name.as_deref(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct UserRef {
    pub login: String,
}

#[derive(Debug, Deserialize)]
struct SearchResult {
    #[serde(default)]
    items: Vec<Issue>,
}

/// The hidden marker stored in an issue body.
pub fn marker(id: EntryId) -> String {
    format!("<!-- devlog:id={id} -->")
}

/// The devlog id in a body, if it carries a marker.
pub fn parse_marker(body: &str) -> Option<EntryId> {
    let start = body.find("<!-- devlog:id=")? + "<!-- devlog:id=".len();
    let rest = &body[start..];
    let end = rest.find(" -->")?;
    rest[..end].trim().parse().ok()
}

/// The description part of a body (what precedes the hidden devlog section).
pub fn description_of(body: &str) -> String {
    let body = body.replace("\r\n", "\n");
    match body.find(MARKER_START) {
        Some(i) => {
            let d = &body[..i];
            d.strip_suffix("\n\n").unwrap_or(d).to_string()
        }
        None => body,
    }
}

/// The hidden section of a body (from the first devlog comment on), if any.
fn tail_of(body: &str) -> Option<String> {
    let body = body.replace("\r\n", "\n");
    body.find(MARKER_START).map(|i| body[i..].to_string())
}

/// Renders an issue body: description, then the devlog section (context, acceptance criteria,
/// marker).
pub fn render_body(entry: &Entry, description: &str) -> String {
    let mut tail = String::new();
    let c = &entry.context;
    let mut details = String::new();
    if !c.business_context.is_empty() || !c.technical_context.is_empty() {
        details.push_str("### Context\n\n");
        for t in [&c.business_context, &c.technical_context] {
            if !t.is_empty() {
                details.push_str(t);
                details.push_str("\n\n");
            }
        }
    }
    if !c.acceptance_criteria.is_empty() {
        details.push_str("### Acceptance criteria\n\n");
        for a in &c.acceptance_criteria {
            details.push_str(&format!("- [ ] {a}\n"));
        }
        details.push('\n');
    }
    if !details.is_empty() {
        tail.push_str(DETAILS);
        tail.push_str("\n\n");
        tail.push_str(&details);
    }
    tail.push_str(&marker(entry.id));
    join_body(description, &tail)
}

fn join_body(description: &str, tail: &str) -> String {
    if description.is_empty() {
        tail.to_string()
    } else {
        format!("{description}\n\n{tail}")
    }
}

fn status_label_name(s: Status) -> String {
    format!("status:{}", s.as_str())
}

impl GithubIntegration {
    pub fn new(config: GithubConfig) -> Result<Self, String> {
        Self::with_limits(config, RateLimitConfig::github())
    }

    /// Like [`new`](Self::new) with explicit client-side pacing (tests use
    /// `RateLimitConfig::unpaced()`).
    pub fn with_limits(config: GithubConfig, limits: RateLimitConfig) -> Result<Self, String> {
        Self::with_options(config, limits, None)
    }

    /// Like [`with_limits`](Self::with_limits), keeping ETags and the responses they stand for
    /// in `etags` (default: in memory, for this process only).
    pub fn with_options(
        config: GithubConfig,
        limits: RateLimitConfig,
        etags: Option<Arc<dyn EtagStore>>,
    ) -> Result<Self, String> {
        devlog_http::install_crypto_provider();
        let mut opts = ClientOptions::new(NAME, config.api_url.clone())
            .bearer(config.token.clone())
            .header("Accept", "application/vnd.github+json")
            .header("X-GitHub-Api-Version", "2022-11-28")
            .timeouts(Duration::from_secs(10), Duration::from_secs(30))
            .rate_limits(limits);
        if let Some(store) = etags {
            opts = opts.etag_store(store);
        }
        let client = HttpClient::new(opts).map_err(|e| e.to_string())?;
        Ok(Self {
            config: Arc::new(config),
            client: Arc::new(client),
            milestones: Arc::default(),
        })
    }

    /// Builds it from a validated `[integrations.github]` table.
    pub fn from_table(table: &Value) -> Result<Self, String> {
        Self::new(GithubConfig::from_table(table)?)
    }

    /// Like [`from_table`](Self::from_table), with ETags kept in `etags` (the CLI persists them
    /// in the sync state, so the next `devlog sync` gets 304s for what did not change).
    pub fn from_table_with_etags(table: &Value, etags: Arc<dyn EtagStore>) -> Result<Self, String> {
        Self::with_options(
            GithubConfig::from_table(table)?,
            RateLimitConfig::github(),
            Some(etags),
        )
    }

    pub fn config(&self) -> &GithubConfig {
        &self.config
    }

    /// The HTTP client (request counters in tests).
    pub fn client(&self) -> &HttpClient {
        &self.client
    }

    pub fn descriptor_static() -> Descriptor {
        Descriptor {
            name: NAME.into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "GitHub issues of one repository, in two-way sync".into(),
            config_schema: config::schema(),
            triggers: vec![
                "entry.changed".into(),
                "issues.opened".into(),
                "issues.edited".into(),
                "issues.closed".into(),
                "issues.reopened".into(),
                "issues.labeled".into(),
                "issues.unlabeled".into(),
            ],
            capabilities: vec![Capability::Push, Capability::Pull, Capability::Webhook],
        }
    }

    fn repo_path(&self) -> String {
        format!("/repos/{}/{}", self.config.owner, self.config.repo)
    }

    fn repository(&self) -> String {
        format!("{}/{}", self.config.owner, self.config.repo)
    }

    /// Classifies an HTTP failure with a message that says what to do.
    /// `issue` is the issue the request was about, if any (a 404 then means it is gone).
    fn sync_err(&self, e: HttpError, issue: Option<&str>) -> SyncError {
        let repo = self.repository();
        let (kind, message) = match e.kind() {
            HttpErrorKind::RateLimited => (
                SyncErrorKind::RateLimited,
                format!("GitHub rate limit reached; waiting before the next request ({e})"),
            ),
            HttpErrorKind::Transient => (SyncErrorKind::Transient, e.to_string()),
            HttpErrorKind::Auth => (
                SyncErrorKind::Auth,
                format!(
                    "GitHub rejected the token (401 Bad credentials): set a valid token in integrations.github.token ({e})"
                ),
            ),
            HttpErrorKind::Forbidden => (
                SyncErrorKind::Auth,
                format!(
                    "{FORBIDDEN} on {repo}: a classic token needs the `repo` scope (`public_repo` for a public repository), a fine-grained token needs \"Issues: Read and write\" on {repo} ({e})"
                ),
            ),
            HttpErrorKind::NotFound => match issue {
                Some(n) => (
                    SyncErrorKind::NotFound,
                    format!("issue #{n} of {repo} no longer exists ({e})"),
                ),
                None => (
                    SyncErrorKind::Permanent,
                    format!(
                        "repository {repo} not found, or not visible to the token: check integrations.github.repository and the token's access ({e})"
                    ),
                ),
            },
            HttpErrorKind::Conflict => (SyncErrorKind::Conflict, e.to_string()),
            _ => (SyncErrorKind::Permanent, e.to_string()),
        };
        SyncError {
            system: NAME.into(),
            kind,
            message,
            retry_after_ms: e.retry_after().map(|d| d.as_millis() as u64),
        }
    }

    /// After a 403: what the token may do, from a cheap read's `X-OAuth-Scopes` /
    /// `X-Accepted-OAuth-Scopes` (classic tokens; fine-grained tokens send neither).
    async fn explain_forbidden(&self, mut err: SyncError) -> SyncError {
        if err.kind != SyncErrorKind::Auth || !err.message.starts_with(FORBIDDEN) {
            return err;
        }
        let probe = self
            .client
            .get(&format!("{}/issues", self.repo_path()))
            .query("per_page", "1")
            .no_cache()
            .send()
            .await;
        if let Ok(resp) = probe
            && let Some(has) = resp.header("x-oauth-scopes")
        {
            let has = if has.trim().is_empty() {
                "none"
            } else {
                has.trim()
            };
            let accepted = resp
                .header("x-accepted-oauth-scopes")
                .filter(|a| !a.trim().is_empty())
                .unwrap_or("repo");
            err.message = format!(
                "{}; the token's scopes are `{has}`, writing issues needs `{accepted}` (`public_repo` suffices for a public repository)",
                err.message
            );
        }
        err
    }

    fn permanent(&self, message: String) -> SyncError {
        SyncError::new(NAME, SyncErrorKind::Permanent, message)
    }

    fn label(&self, name: &str) -> String {
        format!("{}{name}", self.config.label_prefix)
    }

    /// The labels devlog owns for these fields.
    fn labels(&self, f: &SyncedFields) -> Vec<String> {
        let mut l: Vec<String> = f.tags.iter().map(|t| self.label(t)).collect();
        if let Some(t) = self.config.type_mapping.get(&f.kind) {
            l.push(self.label(t));
        }
        if let Some(p) = self.config.priority_mapping.get(&f.priority) {
            l.push(self.label(p));
        }
        if self.target(f.status) == StatusTarget::Open {
            l.push(self.label(&status_label_name(f.status)));
        }
        l
    }

    fn target(&self, s: Status) -> StatusTarget {
        self.config
            .status_mapping
            .get(&s)
            .copied()
            .unwrap_or(StatusTarget::Open)
    }

    /// Whether a label is devlog's (so a push may replace it).
    fn owns_label(&self, label: &str) -> bool {
        self.config.label_prefix.is_empty() || label.starts_with(&self.config.label_prefix)
    }

    fn state_fields(&self, s: Status, body: &mut serde_json::Map<String, Value>) {
        match self.target(s) {
            StatusTarget::Open => {
                body.insert("state".into(), json!("open"));
            }
            StatusTarget::ClosedCompleted => {
                body.insert("state".into(), json!("closed"));
                body.insert("state_reason".into(), json!("completed"));
            }
            StatusTarget::ClosedNotPlanned => {
                body.insert("state".into(), json!("closed"));
                body.insert("state_reason".into(), json!("not_planned"));
            }
        }
    }

    /// Maps an issue to devlog's fields; a label that claims a devlog mapping but names no
    /// known value is an error naming the value and the mapping key.
    pub fn to_remote(&self, issue: &Issue) -> Result<RemoteItem, SyncError> {
        let n = issue.number;
        let prefix = &self.config.label_prefix;
        let mut kind = None;
        let mut priority = None;
        let mut status_label = None;
        let mut tags = Vec::new();
        for l in issue.labels.iter().filter_map(LabelRef::name) {
            let Some(name) = l.strip_prefix(prefix.as_str()) else {
                continue;
            };
            if let Some((t, _)) = self.config.type_mapping.iter().find(|(_, v)| *v == name) {
                kind = Some(*t);
            } else if let Some((p, _)) = self
                .config
                .priority_mapping
                .iter()
                .find(|(_, v)| *v == name)
            {
                priority = Some(*p);
            } else if let Some(v) = name.strip_prefix("type:") {
                return Err(self.permanent(format!(
                    "issue #{n}: label `{l}` names type `{v}`, which is not a value of integrations.github.typeMapping"
                )));
            } else if let Some(v) = name.strip_prefix("priority:") {
                return Err(self.permanent(format!(
                    "issue #{n}: label `{l}` names priority `{v}`, which is not a value of integrations.github.priorityMapping"
                )));
            } else if let Some(v) = name.strip_prefix("status:") {
                let s: Status = v.parse().map_err(|_| {
                    self.permanent(format!(
                        "issue #{n}: label `{l}` names status `{v}`, which is not a key of integrations.github.statusMapping (known: {})",
                        Status::allowed().join(", ")
                    ))
                })?;
                status_label = Some(s);
            } else {
                tags.push(name.to_string());
            }
        }
        tags.sort();
        tags.dedup();
        let status = if issue.state == "closed" {
            let want = if issue.state_reason.as_deref() == Some("not_planned") {
                StatusTarget::ClosedNotPlanned
            } else {
                StatusTarget::ClosedCompleted
            };
            Status::ALL
                .iter()
                .copied()
                .find(|s| self.target(*s) == want)
                .unwrap_or(Status::Done)
        } else if let Some(s) = status_label.filter(|s| self.target(*s) == StatusTarget::Open) {
            s
        } else if issue.state_reason.as_deref() == Some("reopened") {
            self.config.reopened_status
        } else {
            Status::New
        };
        let updated_at: Timestamp = issue.updated_at.parse().map_err(|e| {
            self.permanent(format!(
                "issue #{n}: updated_at `{}`: {e}",
                issue.updated_at
            ))
        })?;
        let body = issue.body.clone().unwrap_or_default();
        let assignee = issue
            .assignees
            .as_ref()
            .and_then(|a| a.first())
            .or(issue.assignee.as_ref())
            .map(|u| u.login.clone());
        Ok(RemoteItem {
            remote_id: n.to_string(),
            url: issue.html_url.clone(),
            fields: SyncedFields {
                title: issue.title.clone(),
                description: description_of(&body),
                status,
                priority: priority.unwrap_or(Priority::Medium),
                kind: kind.unwrap_or(EntryType::Task),
                assignee,
                tags,
                milestone: issue.milestone.as_ref().map(|m| m.title.clone()),
                // GitHub issues have no such fields: not carried, never compared or sent.
                estimated_hours: None,
                actual_hours: None,
                acceptance_criteria: None,
                due_date: None,
                points: None,
            },
            updated_at,
            version: Some(issue.updated_at.clone()),
            marker: parse_marker(&body),
            milestone: issue.milestone.as_ref().map(IssueMilestone::to_remote),
            sprint: None,
            board: None,
        })
    }

    async fn get_issue(&self, number: &str) -> Result<Issue, SyncError> {
        let resp = self
            .client
            .get(&format!("{}/issues/{number}", self.repo_path()))
            .send()
            .await
            .map_err(|e| self.sync_err(e, Some(number)))?;
        resp.json().map_err(|e| self.sync_err(e, Some(number)))
    }
}

#[async_trait]
impl Integration for GithubIntegration {
    fn descriptor(&self) -> Descriptor {
        Self::descriptor_static()
    }

    fn quota(&self) -> Option<devlog_core::reports::Quota> {
        let st = self.client.rate_limit_state();
        if st.remaining.is_none() && st.limit.is_none() {
            return None;
        }
        Some(devlog_core::reports::Quota {
            remaining: st.remaining,
            limit: st.limit,
            resets_at: st.reset_at.and_then(|t| {
                let ms = t.duration_since(std::time::UNIX_EPOCH).ok()?.as_millis();
                devlog_core::time::Timestamp::from_millis(i64::try_from(ms).ok()?)
            }),
            resource: st.resource,
            seen_at: None,
        })
    }

    async fn health(&self) -> Result<Health, SyncError> {
        self.client
            .get(&format!("{}/issues", self.repo_path()))
            .query("per_page", "1")
            .send()
            .await
            .map_err(|e| self.sync_err(e, None))?;
        let mut message = format!("reached {} on {}", self.repository(), self.config.api_url);
        if let Some(p) = &self.config.project_id {
            // The board must be reachable and its fields must hold the mapped options.
            self.forget_project_fields();
            let f = self.project_fields().await?;
            let c = &self.config;
            for (s, o) in &c.project_status_mapping {
                if f.status.option(o).is_none() {
                    return Err(self.permanent(format!(
                        "integrations.github.projectStatusMapping.{s}: the project's `{}` field has no option `{o}`",
                        c.project_status_field
                    )));
                }
            }
            if let Some(pf) = &f.priority {
                for (pr, o) in &c.project_priority_mapping {
                    if pf.option(o).is_none() {
                        return Err(self.permanent(format!(
                            "integrations.github.projectPriorityMapping.{pr}: the project's `{}` field has no option `{o}`",
                            c.project_priority_field
                        )));
                    }
                }
            }
            message.push_str(&format!(
                "; project {p}: `{}` field{}",
                c.project_status_field,
                if f.priority.is_some() {
                    format!(" and `{}` field", c.project_priority_field)
                } else {
                    format!(
                        " (no `{}` field: priorities are not synced to it)",
                        c.project_priority_field
                    )
                }
            ));
        }
        Ok(Health { ok: true, message })
    }

    async fn find_by_marker(&self, entry: EntryId) -> Result<Option<RemoteItem>, SyncError> {
        let m = marker(entry);
        // Search drops the comment's punctuation: look for the id, then check the marker.
        let q = format!("\"{entry}\" repo:{} in:body", self.repository());
        let resp = self
            .client
            .get("/search/issues")
            .query("q", &q)
            .no_cache()
            .send()
            .await
            .map_err(|e| self.sync_err(e, None))?;
        let found: SearchResult = resp.json().map_err(|e| self.sync_err(e, None))?;
        // Search is fuzzy: only an issue whose body really holds the marker counts.
        found
            .items
            .iter()
            .filter(|i| i.pull_request.is_none())
            .find(|i| i.body.as_deref().is_some_and(|b| b.contains(&m)))
            .map(|i| self.to_remote(i))
            .transpose()
    }

    async fn create(&self, entry: &Entry, fields: &SyncedFields) -> Result<RemoteItem, SyncError> {
        if !self.config.auto_create_issues {
            return Err(self.permanent(format!(
                "entry {} has no GitHub issue and integrations.github.autoCreateIssues is false",
                entry.key
            )));
        }
        let mut body = serde_json::Map::new();
        body.insert("title".into(), json!(fields.title));
        body.insert(
            "body".into(),
            json!(render_body(entry, &fields.description)),
        );
        body.insert("labels".into(), json!(self.labels(fields)));
        if let Some(a) = &fields.assignee {
            body.insert("assignees".into(), json!([a]));
        }
        // The entry's milestone; the configured one when it has none.
        let milestone = match &fields.milestone {
            Some(t) => Some(self.milestone_number(t, None).await?),
            None => self.configured_milestone().await?,
        };
        if let Some(m) = milestone {
            body.insert("milestone".into(), json!(m));
        }
        let resp = match self
            .client
            .post(&format!("{}/issues", self.repo_path()))
            .json(&Value::Object(body))
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) => return Err(self.explain_forbidden(self.sync_err(e, None)).await),
        };
        let mut issue: Issue = resp.json().map_err(|e| self.sync_err(e, None))?;
        // Creating an issue cannot close it: a closed status takes a second request.
        if self.target(fields.status) != StatusTarget::Open {
            let mut patch = serde_json::Map::new();
            self.state_fields(fields.status, &mut patch);
            let n = issue.number.to_string();
            let resp = self
                .client
                .patch(&format!("{}/issues/{n}", self.repo_path()))
                .json(&Value::Object(patch))
                .send()
                .await
                .map_err(|e| self.sync_err(e, Some(&n)))?;
            issue = resp.json().map_err(|e| self.sync_err(e, Some(&n)))?;
        }
        self.place_on_project(&issue, fields).await?;
        self.to_remote(&issue)
    }

    async fn update(
        &self,
        remote_id: &str,
        fields: &SyncedFields,
        changed: &FieldSet,
    ) -> Result<RemoteItem, SyncError> {
        let mut body = serde_json::Map::new();
        let needs_current = changed.iter().any(|c| {
            matches!(
                c,
                SyncedField::Description
                    | SyncedField::Tags
                    | SyncedField::Type
                    | SyncedField::Priority
                    | SyncedField::Status
            )
        });
        let current = if needs_current {
            Some(self.get_issue(remote_id).await?)
        } else {
            None
        };
        let mut labels_changed = false;
        for c in changed.iter() {
            match c {
                SyncedField::Title => {
                    body.insert("title".into(), json!(fields.title));
                }
                SyncedField::Description => {
                    let old = current
                        .as_ref()
                        .and_then(|i| i.body.clone())
                        .unwrap_or_default();
                    let new = match tail_of(&old) {
                        Some(tail) => join_body(&fields.description, &tail),
                        None => fields.description.clone(),
                    };
                    body.insert("body".into(), json!(new));
                }
                SyncedField::Status => {
                    self.state_fields(fields.status, &mut body);
                    labels_changed = true;
                }
                SyncedField::Assignee => {
                    let a: Vec<&String> = fields.assignee.iter().collect();
                    body.insert("assignees".into(), json!(a));
                }
                SyncedField::Tags | SyncedField::Type | SyncedField::Priority => {
                    labels_changed = true
                }
                SyncedField::Milestone => {
                    let n = match &fields.milestone {
                        Some(t) => Some(self.milestone_number(t, None).await?),
                        None => None,
                    };
                    body.insert("milestone".into(), json!(n));
                }
                // Not carried by GitHub items (see `to_remote`): never sent.
                SyncedField::EstimatedHours
                | SyncedField::ActualHours
                | SyncedField::AcceptanceCriteria
                | SyncedField::DueDate
                | SyncedField::Points => {}
            }
        }
        if labels_changed {
            // Keep labels devlog does not own (those without `labelPrefix`).
            let mut labels: Vec<String> = current
                .as_ref()
                .map(|i| {
                    i.labels
                        .iter()
                        .filter_map(LabelRef::name)
                        .filter(|l| !self.owns_label(l))
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            labels.extend(self.labels(fields));
            body.insert("labels".into(), json!(labels));
        }
        let resp = match self
            .client
            .patch(&format!("{}/issues/{remote_id}", self.repo_path()))
            .json(&Value::Object(body))
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) => {
                return Err(self
                    .explain_forbidden(self.sync_err(e, Some(remote_id)))
                    .await);
            }
        };
        let issue: Issue = resp.json().map_err(|e| self.sync_err(e, Some(remote_id)))?;
        if changed.contains(SyncedField::Status) || changed.contains(SyncedField::Priority) {
            self.place_on_project(&issue, fields).await?;
        }
        self.to_remote(&issue)
    }

    fn syncs_notes(&self) -> bool {
        self.config.sync_notes
    }

    /// Finds the milestone by its title, or creates it with the local milestone's
    /// description and due date.
    async fn prepare_milestone(
        &self,
        name: &str,
        local: Option<&devlog_core::planning::Milestone>,
    ) -> Result<(), SyncError> {
        self.milestone_number(name, local).await.map(|_| ())
    }

    /// An issue whose create crashed before it was recorded goes on the board now.
    async fn adopted(&self, item: &RemoteItem, fields: &SyncedFields) -> Result<(), SyncError> {
        if self.config.project_id.is_none() {
            return Ok(());
        }
        let issue = self.get_issue(&item.remote_id).await?;
        self.place_on_project(&issue, fields).await
    }

    async fn create_note(
        &self,
        remote_id: &str,
        entry: EntryId,
        note: &devlog_core::entry::Note,
    ) -> Result<String, SyncError> {
        self.post_note(remote_id, entry, note).await
    }

    async fn update_note(
        &self,
        remote_id: &str,
        note_remote_id: &str,
        note: &devlog_core::entry::Note,
    ) -> Result<(), SyncError> {
        self.edit_note(remote_id, note_remote_id, note).await
    }

    async fn delete_note(&self, remote_id: &str, note_remote_id: &str) -> Result<(), SyncError> {
        self.delete_comment(remote_id, note_remote_id).await
    }

    async fn deleted_notes(
        &self,
        remote_id: &str,
        comments: &[String],
    ) -> Result<Option<Vec<String>>, SyncError> {
        self.deleted_comments(remote_id, comments).await.map(Some)
    }

    async fn find_note(&self, remote_id: &str, note_id: &str) -> Result<Option<String>, SyncError> {
        self.find_note_comment(remote_id, note_id).await
    }

    async fn handle_webhook(&self, hook: &Webhook) -> Result<WebhookOutcome, SyncError> {
        self.webhook(hook).await
    }

    /// Issues (and pull-request states) changed since the cursor, then comments, then project
    /// board moves: each stream has its own position in the composite cursor.
    async fn pull(&self, cursor: Option<&str>) -> Result<PullPage, SyncError> {
        // A pull starts a sync run: milestones are listed again when next needed.
        *self.milestones.lock().await = None;
        let mut c = PullCursor::parse(cursor);
        let mut page = PullPage::default();
        let (items, actions, newest) = self.pull_issues(c.issues.as_deref()).await?;
        page.items = items;
        page.actions = actions;
        c.issues = newest;
        if self.config.sync_notes {
            let (comments, newest) = self.pull_comments(c.comments.as_deref()).await?;
            page.actions.extend(comments);
            c.comments = newest;
        }
        if self.config.project_id.is_some() {
            let (moves, newest) = self.pull_project(c.project.as_deref()).await?;
            page.actions.extend(moves);
            c.project = newest;
        }
        page.next_cursor = Some(c.to_string());
        Ok(page)
    }
}

/// Where each of the pull's streams stands. Written as JSON; a bare timestamp (the cursor of
/// earlier versions) is the issues' position.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct PullCursor {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    issues: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    comments: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    project: Option<String>,
}

impl PullCursor {
    fn parse(c: Option<&str>) -> Self {
        match c {
            None => Self::default(),
            Some(c) if c.trim_start().starts_with('{') => {
                serde_json::from_str(c).unwrap_or_default()
            }
            Some(c) => Self {
                issues: Some(c.to_string()),
                ..Self::default()
            },
        }
    }
}

impl std::fmt::Display for PullCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&serde_json::to_string(self).unwrap_or_default())
    }
}

impl GithubIntegration {
    /// Issues updated since `since` as items; pull requests in the same list (GitHub lists
    /// them as issues, with `pull_request.merged_at`) as state actions.
    async fn pull_issues(
        &self,
        since: Option<&str>,
    ) -> Result<(Vec<RemoteItem>, Vec<RemoteAction>, Option<String>), SyncError> {
        let path = format!("{}/issues", self.repo_path());
        let mut req = self
            .client
            .get(&path)
            .query("state", "all")
            .query("sort", "updated")
            .query("direction", "asc")
            .query("per_page", "100");
        if let Some(c) = since {
            req = req.query("since", c);
        }
        let mut items = Vec::new();
        let mut actions = Vec::new();
        let mut newest = since.map(str::to_string);
        let mut pages = Pages::new(req, LinkHeader);
        while let Some(page) = pages.next_page().await {
            let resp = page.map_err(|e| self.sync_err(e, None))?;
            let page: Vec<Issue> = resp.json().map_err(|e| self.sync_err(e, None))?;
            for issue in &page {
                if newest
                    .as_deref()
                    .is_none_or(|n| issue.updated_at.as_str() > n)
                {
                    newest = Some(issue.updated_at.clone());
                }
                if let Some(pr) = &issue.pull_request {
                    let merged = pr.get("merged_at").is_some_and(|m| !m.is_null());
                    let state = pulls::pr_state(Some(issue.state.as_str()), merged);
                    actions.extend(self.pull_request_action(issue.number, state, &issue.title));
                    continue;
                }
                match self.to_remote(issue) {
                    Ok(item) => items.push(item),
                    // An issue without a devlog marker is not devlog's (the engine skips
                    // it): its labels are its own business and must not stop the sync.
                    Err(_) if issue.body.as_deref().and_then(parse_marker).is_none() => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok((items, actions, newest))
    }

    /// The number of the configured milestone (`milestone` = its title, the default for new
    /// issues): it must exist on GitHub.
    async fn configured_milestone(&self) -> Result<Option<u64>, SyncError> {
        let Some(title) = self.config.milestone.as_deref() else {
            return Ok(None);
        };
        if let Some(n) = self.find_milestone(title).await? {
            return Ok(Some(n));
        }
        let seen: Vec<String> = self
            .milestones
            .lock()
            .await
            .iter()
            .flat_map(|m| m.keys().cloned())
            .collect();
        Err(self.permanent(format!(
            "integrations.github.milestone: {} has no milestone `{title}` (it has: {})",
            self.repository(),
            if seen.is_empty() {
                "none".to_string()
            } else {
                seen.join(", ")
            }
        )))
    }

    /// The number of the milestone titled `title`, from the run's list (listed on first use).
    async fn find_milestone(&self, title: &str) -> Result<Option<u64>, SyncError> {
        let mut cache = self.milestones.lock().await;
        if cache.is_none() {
            *cache = Some(self.list_milestones().await?);
        }
        Ok(cache.as_ref().and_then(|m| m.get(title).copied()))
    }

    /// Every milestone of the repository, open and closed, title → number.
    async fn list_milestones(&self) -> Result<std::collections::BTreeMap<String, u64>, SyncError> {
        #[derive(Deserialize)]
        struct Listed {
            number: u64,
            #[serde(default)]
            title: Option<String>,
        }
        let req = self
            .client
            .get(&format!("{}/milestones", self.repo_path()))
            .query("state", "all")
            .query("per_page", "100");
        let mut all = std::collections::BTreeMap::new();
        let mut pages = Pages::new(req, LinkHeader);
        while let Some(page) = pages.next_page().await {
            let resp = page.map_err(|e| self.sync_err(e, None))?;
            let page: Vec<Listed> = resp.json().map_err(|e| self.sync_err(e, None))?;
            for m in page {
                if let Some(t) = m.title {
                    all.entry(t).or_insert(m.number);
                }
            }
        }
        Ok(all)
    }

    /// The number of milestone `title`: found by its title first (so a retried push never
    /// makes a second one), else created with `local`'s description and due date.
    pub async fn milestone_number(
        &self,
        title: &str,
        local: Option<&devlog_core::planning::Milestone>,
    ) -> Result<u64, SyncError> {
        if let Some(n) = self.find_milestone(title).await? {
            return Ok(n);
        }
        let mut body = serde_json::Map::new();
        body.insert("title".into(), json!(title));
        if let Some(m) = local {
            if !m.description.is_empty() {
                body.insert("description".into(), json!(m.description));
            }
            if let Some(d) = m.due_date {
                body.insert("due_on".into(), json!(due_on(d)));
            }
            if m.state == devlog_core::planning::MilestoneState::Closed {
                body.insert("state".into(), json!("closed"));
            }
        }
        #[derive(Deserialize)]
        struct Created {
            number: u64,
        }
        let created = self
            .client
            .post(&format!("{}/milestones", self.repo_path()))
            .json(&Value::Object(body))
            .send()
            .await;
        let n = match created {
            Ok(resp) => {
                resp.json::<Created>()
                    .map_err(|e| self.sync_err(e, None))?
                    .number
            }
            // Created meanwhile (another clone, a list from before it): GitHub's 422
            // `already_exists`. Listed again, it is there.
            Err(e) if e.kind() == HttpErrorKind::Invalid => {
                *self.milestones.lock().await = None;
                match self.find_milestone(title).await? {
                    Some(n) => return Ok(n),
                    None => {
                        return Err(self.permanent(format!(
                            "cannot create milestone `{title}` on {}: {e}",
                            self.repository()
                        )));
                    }
                }
            }
            Err(e) => return Err(self.explain_forbidden(self.sync_err(e, None)).await),
        };
        if let Some(m) = self.milestones.lock().await.as_mut() {
            m.insert(title.to_string(), n);
        }
        Ok(n)
    }

    /// With a `projectId`: adds the issue to the project (idempotent on GitHub) and sets its
    /// Status and Priority fields.
    async fn place_on_project(
        &self,
        issue: &Issue,
        fields: &SyncedFields,
    ) -> Result<(), SyncError> {
        if self.config.project_id.is_none() {
            return Ok(());
        }
        let Some(node) = issue.node_id.as_deref() else {
            return Err(self.permanent(format!(
                "issue #{} came back without a node_id; cannot add it to the project",
                issue.number
            )));
        };
        let item = self.project_add_issue(node).await?;
        self.project_set_fields(&item, Some(fields.status), Some(fields.priority))
            .await
    }

    /// Board moves since the project cursor, as actions on the linked entries.
    async fn pull_project(
        &self,
        since: Option<&str>,
    ) -> Result<(Vec<RemoteAction>, Option<String>), SyncError> {
        let (moves, newest) = self.project_changes(since).await?;
        Ok((
            moves.iter().map(|m| self.project_action(m)).collect(),
            newest,
        ))
    }

    /// What a card's Status/Priority ask of the linked entry. Several statuses may share a
    /// column: an entry in any of them keeps its status. A move older than the entry's last
    /// change (our own push coming back) changes nothing.
    pub fn project_action(&self, m: &projects::ProjectMove) -> RemoteAction {
        let accept = m
            .status_option
            .as_deref()
            .map(|o| {
                self.config
                    .project_status_mapping
                    .iter()
                    .filter(|(_, v)| v.as_str() == o)
                    .map(|(s, _)| *s)
                    .collect()
            })
            .unwrap_or_default();
        RemoteAction {
            key: format!("project:{}@{}", m.item_id, m.updated_at),
            target: devlog_core::integration::ActionTarget::Linked {
                remote_id: m.issue_number.to_string(),
            },
            action: devlog_core::integration::Action::Set {
                status: m.status,
                accept,
                priority: m.priority,
                reason: String::new(),
                at: m.updated_at.parse().ok(),
            },
        }
    }

    /// Links an existing issue to an entry: reads it and, unless it already carries the
    /// entry's marker, appends the marker to its body (so re-linking and crash recovery find
    /// it). Another entry's marker is refused.
    pub async fn adopt_issue(&self, number: &str, entry: EntryId) -> Result<RemoteItem, SyncError> {
        let issue = self.get_issue(number).await?;
        if issue.pull_request.is_some() {
            return Err(self.permanent(format!(
                "#{number} of {} is a pull request: link it with --pr",
                self.repository()
            )));
        }
        let body = issue.body.clone().unwrap_or_default();
        match parse_marker(&body) {
            Some(m) if m == entry => return self.to_remote(&issue),
            Some(other) => {
                return Err(self.permanent(format!(
                    "issue #{number} is already linked to devlog entry {other}; unlink that entry first"
                )));
            }
            None => {}
        }
        let new_body = join_body(body.trim_end(), &marker(entry));
        let resp = self
            .client
            .patch(&format!("{}/issues/{number}", self.repo_path()))
            .json(&json!({ "body": new_body }))
            .send()
            .await
            .map_err(|e| self.sync_err(e, Some(number)))?;
        let issue: Issue = resp.json().map_err(|e| self.sync_err(e, Some(number)))?;
        self.to_remote(&issue)
    }

    /// Removes the entry's marker from an issue's body (after `devlog github unlink`).
    pub async fn release_issue(&self, number: &str) -> Result<(), SyncError> {
        let issue = self.get_issue(number).await?;
        let body = issue.body.clone().unwrap_or_default();
        let Some(id) = parse_marker(&body) else {
            return Ok(());
        };
        let new_body = body
            .replace(&format!("\n\n{}", marker(id)), "")
            .replace(&marker(id), "");
        self.client
            .patch(&format!("{}/issues/{number}", self.repo_path()))
            .json(&json!({ "body": new_body }))
            .send()
            .await
            .map_err(|e| self.sync_err(e, Some(number)))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a panic is the failure report

    use super::*;

    #[test]
    fn body_round_trips_the_description_and_marker() {
        let id = EntryId::new_random();
        for d in ["", "one line", "two\n\nparagraphs\n"] {
            let tail = marker(id);
            let body = join_body(d, &tail);
            assert_eq!(description_of(&body), d, "{body:?}");
            assert_eq!(parse_marker(&body), Some(id));
            assert_eq!(tail_of(&body).as_deref(), Some(tail.as_str()));
        }
        // Edited in the browser: CRLF line ends.
        let body = format!("a\r\nb\r\n\r\n{}", marker(id));
        assert_eq!(description_of(&body), "a\nb");
        // No marker: the whole body is the description.
        assert_eq!(description_of("just text"), "just text");
        assert_eq!(parse_marker("<!-- devlog:id=not-a-uuid -->"), None);
    }
}
