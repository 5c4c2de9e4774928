//! devlog's Jira integration: entries ⇄ issues of one Jira project over the REST API v3, on
//! the shared HTTP plumbing of `devlog-http` (docs/jira.md).
//!
//! Mapping: title ⇄ summary; description ⇄ the ADF description before devlog's details
//! section (context, acceptance criteria); status ⇄ the workflow status, set through
//! transitions ([`transitions`]); type ⇄ issue type and priority ⇄ priority through the
//! mappings; tags ⇄ labels; assignee ⇄ the assigned account ([`people`]); milestone ⇄ the
//! first fix version ([`versions`]); notes ⇄ comments ([`comments`]); mapped entry fields →
//! custom fields on create ([`fields`]). The marker is the issue property `devlog` =
//! `{"id": …}` (with the assignee name devlog wrote), set in the create request itself and
//! found by JQL. Pull: JQL `updated >= -Nm` (relative, so the site's time zone does not
//! matter) with an overlap, de-duplicated by (key, updated), and the comments of the pulled
//! issues that have any.
//!
//! API boundary: no store access, no terminal, no environment; the API token never appears in
//! logs, errors or `Debug`.

pub mod adf;
pub mod agile;
mod checks;
pub mod comments;
pub mod config;
pub mod fields;
pub mod issue;
pub mod issue_writes;
pub mod link;
pub mod people;
mod permission;
mod plan;
mod sprint_keys;
pub mod transitions;
pub mod versions;
pub mod webhook;
pub mod worklogs;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use devlog_core::entry::Note;
use devlog_core::entry::{Entry, Status};
use devlog_core::id::EntryId;
use devlog_core::integration::{
    Capability, Descriptor, Health, Integration, PullPage, RemoteItem, SyncError, SyncErrorKind,
};
use devlog_core::merge::{FieldSet, SyncedField, SyncedFields};
use devlog_http::{ClientOptions, HttpClient, HttpError, HttpErrorKind, RateLimitConfig};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use config::MappedField;
pub use config::{JiraAuth, JiraConfig};
use issue::{FIELDS, Issue, PROPERTY, Version, parse_time};
use transitions::{Goal, Graph, MAX_HOPS, Transitions};

pub const NAME: &str = "jira";

/// Issues per search page, and search pages per pull.
const PAGE_SIZE: u64 = 100;
const PAGES_PER_PULL: usize = 20;
/// Minutes a pull reaches back before its cursor (clock skew between devlog and Jira, and
/// Jira's minute resolution for relative dates).
pub const OVERLAP_MINUTES: i64 = 5;

/// The Jira integration.
#[derive(Debug, Clone)]
pub struct JiraIntegration {
    config: Arc<JiraConfig>,
    client: Arc<HttpClient>,
    /// Workflow transitions learnt per issue type (for this process).
    graphs: Arc<Mutex<BTreeMap<String, Graph>>>,
    /// Assignee name (lowercase) → account id, looked up once per run.
    accounts: Arc<Mutex<BTreeMap<String, String>>>,
    /// The project's versions, listed once per run (and again after a refused create).
    versions: Arc<tokio::sync::Mutex<Option<Vec<Version>>>>,
    /// The project's numeric id.
    project_id: Arc<tokio::sync::Mutex<Option<u64>>>,
    /// `customFields` resolved through the field metadata, once per run.
    /// The fields `customFields` maps and the Sprint field, resolved once per run.
    fields: Arc<tokio::sync::Mutex<Option<fields::FieldCache>>>,
    /// Writes to one issue spaced (Jira's per-issue write limits; `issue_writes.rs`).
    issue_writes: Arc<issue_writes::IssueWrites>,
}

/// Locks a cache; a poisoned lock still holds a usable cache.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[derive(Debug, Deserialize)]
struct SearchPage {
    #[serde(default)]
    issues: Vec<Issue>,
    #[serde(default, rename = "nextPageToken")]
    next_page_token: Option<String>,
    #[serde(default, rename = "isLast")]
    is_last: Option<bool>,
}

#[derive(Debug, Deserialize)]
struct Created {
    key: String,
}

/// Where a pull stands: the newest `updated` seen, and the keys updated at exactly that time
/// (already delivered; the next pull's overlap brings them again).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct PullCursor {
    since: String,
    #[serde(default)]
    keys: BTreeSet<String>,
    /// The fields resolved through `GET /field`, so an idle pull need not list them again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fields: Option<fields::FieldCache>,
}

impl JiraIntegration {
    pub fn new(config: JiraConfig) -> Result<Self, String> {
        Self::with_limits(config, RateLimitConfig::jira())
    }

    /// Like [`new`](Self::new) with explicit client-side pacing (tests use
    /// `RateLimitConfig::unpaced()`). Paced clients also space writes to one issue
    /// ([`issue_writes::ISSUE_WRITE_GAP`]); an unpaced one does not.
    pub fn with_limits(config: JiraConfig, limits: RateLimitConfig) -> Result<Self, String> {
        let gap = if limits.requests_per_second.is_some() {
            issue_writes::ISSUE_WRITE_GAP
        } else {
            Duration::ZERO
        };
        devlog_http::install_crypto_provider();
        let opts = ClientOptions::new(NAME, config.base_url.clone())
            .auth(config.auth.to_http())
            .header("Accept", "application/json")
            .timeouts(Duration::from_secs(10), Duration::from_secs(30))
            .rate_limits(limits);
        let client = HttpClient::new(opts).map_err(|e| e.to_string())?;
        Ok(Self {
            config: Arc::new(config),
            client: Arc::new(client),
            graphs: Arc::default(),
            accounts: Arc::default(),
            versions: Arc::default(),
            project_id: Arc::default(),
            fields: Arc::default(),
            issue_writes: Arc::new(issue_writes::IssueWrites::new(gap)),
        })
    }

    /// Builds it from a validated `[integrations.jira]` table.
    pub fn from_table(table: &Value) -> Result<Self, String> {
        Self::new(JiraConfig::from_table(table)?)
    }

    pub fn config(&self) -> &JiraConfig {
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
            description: "Jira issues of one project, in two-way sync".into(),
            config_schema: config::schema(),
            triggers: vec!["entry.changed".into()],
            capabilities: vec![Capability::Push, Capability::Pull],
        }
    }

    fn project(&self) -> &str {
        &self.config.project_key
    }

    fn permanent(&self, message: String) -> SyncError {
        SyncError::new(NAME, SyncErrorKind::Permanent, message)
    }

    /// Classifies an HTTP failure with a message that says what to do. `issue` is the issue
    /// the request was about, if any (a 404 then means it is gone).
    fn sync_err(&self, e: HttpError, issue: Option<&str>) -> SyncError {
        let site = &self.config.base_url;
        let project = self.project();
        let (kind, message) = match e.kind() {
            HttpErrorKind::RateLimited => (
                SyncErrorKind::RateLimited,
                format!("Jira rate limit reached; waiting before the next request ({e})"),
            ),
            HttpErrorKind::Transient => (SyncErrorKind::Transient, e.to_string()),
            HttpErrorKind::Auth => (
                SyncErrorKind::Auth,
                format!(
                    "{site} rejected the credentials: check integrations.jira.email and apiToken (or token) ({e})"
                ),
            ),
            HttpErrorKind::Forbidden => (SyncErrorKind::Auth, permission::forbidden(project, &e)),
            HttpErrorKind::NotFound => match issue {
                Some(k) => (
                    SyncErrorKind::NotFound,
                    format!("issue {k} no longer exists on {site}, or is not visible ({e})"),
                ),
                None => (
                    SyncErrorKind::Permanent,
                    format!(
                        "project {project} not found on {site}, or not visible to the account: check integrations.jira.projectKey ({e})"
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

    fn decode<T: serde::de::DeserializeOwned>(
        &self,
        resp: &devlog_http::Response,
        issue: Option<&str>,
    ) -> Result<T, SyncError> {
        resp.json().map_err(|e| self.sync_err(e, issue))
    }

    /// The issue as devlog's item, with the mapped custom fields (resolved once per run).
    async fn to_remote(&self, issue: &Issue) -> Result<RemoteItem, SyncError> {
        let mapped = self.mapped_fields().await?;
        let mut item = issue
            .to_remote(&self.config, &mapped)
            .map_err(|e| self.permanent(e))?;
        if let Some(id) = self.sprint_field().await? {
            item.sprint = Some(fields::sprint_of(issue.fields.other.get(&id)));
        }
        Ok(item)
    }

    /// The fields a read asks for: devlog's, and the ids of the mapped custom fields.
    async fn read_fields(&self) -> Result<Vec<String>, SyncError> {
        let mut fields: Vec<String> = FIELDS.iter().map(|f| f.to_string()).collect();
        fields.extend(self.mapped_fields().await?.into_values().map(|m| m.id));
        fields.extend(self.sprint_field().await?);
        Ok(fields)
    }

    async fn get_issue(&self, key: &str) -> Result<Issue, SyncError> {
        let fields = self.read_fields().await?;
        let resp = self
            .client
            .get(&format!("/rest/api/3/issue/{key}"))
            .query("fields", &fields.join(","))
            .query("properties", PROPERTY)
            .no_cache()
            .send()
            .await
            .map_err(|e| self.sync_err(e, Some(key)))?;
        self.decode(&resp, Some(key))
    }

    /// One page of a JQL search (with the fields and the marker property devlog reads).
    async fn search(&self, jql: &str, token: Option<&str>) -> Result<SearchPage, SyncError> {
        let mut fields = self.read_fields().await?;
        if self.syncs_notes() {
            // Says whether an issue has comments at all (their properties need a request).
            fields.push("comment".into());
        }
        if self.syncs_worklogs() {
            // Likewise for worklogs.
            fields.push("worklog".into());
        }
        let mut body = json!({
            "jql": jql,
            "maxResults": PAGE_SIZE,
            "fields": fields,
            "properties": [PROPERTY],
        });
        if let Some(t) = token {
            body["nextPageToken"] = json!(t);
        }
        let resp = self
            .client
            .post("/rest/api/3/search/jql")
            .json(&body)
            .send()
            .await
            .map_err(|e| self.sync_err(e, None))?;
        self.decode(&resp, None)
    }

    fn issue_type(&self, f: &SyncedFields) -> Result<&str, SyncError> {
        self.config
            .issue_types
            .get(&f.kind)
            .map(String::as_str)
            .ok_or_else(|| {
                self.permanent(format!(
                    "integrations.jira.issueTypes.{}: no Jira issue type is mapped for this entry type",
                    f.kind.as_str()
                ))
            })
    }

    fn priority(&self, f: &SyncedFields) -> Result<&str, SyncError> {
        self.config
            .priorities
            .get(&f.priority)
            .map(String::as_str)
            .ok_or_else(|| {
                self.permanent(format!(
                    "integrations.jira.priorities.{}: no Jira priority is mapped for this priority",
                    f.priority.as_str()
                ))
            })
    }

    /// Tags as labels; Jira labels cannot hold spaces.
    fn labels(&self, f: &SyncedFields) -> Result<Vec<String>, SyncError> {
        if let Some(t) = f.tags.iter().find(|t| t.chars().any(char::is_whitespace)) {
            return Err(self.permanent(format!(
                "tag `{t}` cannot be a Jira label (labels cannot contain spaces): rename the tag"
            )));
        }
        Ok(f.tags.clone())
    }

    /// Moves issue `key` to devlog status `target` through the workflow's transitions.
    async fn move_to(&self, issue: &Issue, target: Status) -> Result<(), SyncError> {
        let key = issue.key.as_str();
        let goal = Goal::of(&self.config, target);
        let Some(mut current) = issue.fields.status.clone() else {
            return Err(self.permanent(format!("issue {key} came back without a status")));
        };
        let issue_type = issue
            .fields
            .issuetype
            .as_ref()
            .and_then(|t| t.name.clone())
            .unwrap_or_default();
        let mut visited = BTreeSet::from([current.name.to_lowercase()]);
        for _ in 0..MAX_HOPS {
            if goal.reached(&current) {
                return Ok(());
            }
            let resp = self
                .client
                .get(&format!("/rest/api/3/issue/{key}/transitions"))
                .query("expand", "transitions.fields")
                .no_cache()
                .send()
                .await
                .map_err(|e| self.sync_err(e, Some(key)))?;
            let offered: Transitions = self.decode(&resp, Some(key))?;
            let hop = {
                let mut graphs = lock(&self.graphs);
                let graph = graphs.entry(issue_type.clone()).or_default();
                graph.learn(&current.name, &offered.transitions);
                transitions::next_hop(graph, &current.name, &offered.transitions, &goal, &visited)
                    .cloned()
            };
            let Some(t) = hop else {
                break;
            };
            let fields = transitions::screen_fields(&self.config, target, &t)
                .map_err(|m| self.permanent(format!("issue {key}: {m}")))?;
            let mut body = json!({"transition": {"id": t.id}});
            if !fields.is_empty() {
                body["fields"] = Value::Object(fields);
            }
            self.issue_writes.wait(key).await;
            self.client
                .post(&format!("/rest/api/3/issue/{key}/transitions"))
                .json(&body)
                .send()
                .await
                .map_err(|e| self.sync_err(e, Some(key)))?;
            visited.insert(t.to.name.to_lowercase());
            current = t.to.clone();
        }
        if goal.reached(&current) {
            return Ok(());
        }
        Err(self.permanent(format!(
            "issue {key}: no path of at most {MAX_HOPS} transitions from `{}` to {goal} (devlog status `{}`): check integrations.jira.statusMapping.{} against the project's workflow",
            current.name,
            target.as_str(),
            target.as_str()
        )))
    }
}

#[async_trait]
impl Integration for JiraIntegration {
    fn descriptor(&self) -> Descriptor {
        Self::descriptor_static()
    }

    /// Jira keeps statuses and types less precisely than devlog: an unmapped status is a
    /// status category (`blocked` is whichever "In Progress" status the workflow reached),
    /// several types share an issue type (`refactor` and `docs` are Tasks). A value that
    /// reads back from what `fields` would send stands for it: the update would send nothing.
    fn stands_for(&self, field: SyncedField, remote: &SyncedFields, fields: &SyncedFields) -> bool {
        let c = self.config();
        match field {
            SyncedField::Status => match Goal::of(c, fields.status) {
                Goal::Named(n) => c.status_of(&n, None) == remote.status,
                Goal::Category(cat) => config::status_category(remote.status) == cat,
            },
            SyncedField::Type => match (
                c.issue_types.get(&fields.kind),
                c.issue_types.get(&remote.kind),
            ) {
                (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
                _ => fields.kind == remote.kind,
            },
            _ => !remote.differs(fields, field),
        }
    }

    /// The account (`myself`) and the project, with its issue types holding the mapped ones.
    async fn health(&self) -> Result<Health, SyncError> {
        #[derive(Deserialize)]
        struct Me {
            #[serde(default, rename = "displayName")]
            display_name: Option<String>,
        }
        #[derive(Deserialize)]
        struct Project {
            #[serde(default, rename = "issueTypes")]
            issue_types: Vec<issue::Named>,
        }
        let resp = self
            .client
            .get("/rest/api/3/myself")
            .no_cache()
            .send()
            .await
            .map_err(|e| self.sync_err(e, None))?;
        let me: Me = self.decode(&resp, None)?;
        let resp = self
            .client
            .get(&format!("/rest/api/3/project/{}", self.project()))
            .no_cache()
            .send()
            .await
            .map_err(|e| self.sync_err(e, None))?;
        let project: Project = self.decode(&resp, None)?;
        let names: Vec<&str> = project
            .issue_types
            .iter()
            .filter_map(|t| t.name.as_deref())
            .collect();
        for (t, n) in &self.config.issue_types {
            if !names.iter().any(|k| k.eq_ignore_ascii_case(n)) {
                return Err(self.permanent(format!(
                    "integrations.jira.issueTypes.{}: project {} has no issue type `{n}` (it has: {})",
                    t.as_str(),
                    self.project(),
                    names.join(", ")
                )));
            }
        }
        // Every mapped status and priority exists; every `customFields` value names one field
        // of the right kind.
        self.check_mappings().await?;
        let mapped = self.mapped_fields().await?;
        let board = self.check_board().await?;
        Ok(Health {
            ok: true,
            message: format!(
                "reached project {} on {} as {}{}{}",
                self.project(),
                self.config.base_url,
                me.display_name.as_deref().unwrap_or("an unnamed account"),
                if mapped.is_empty() {
                    String::new()
                } else {
                    let names: Vec<String> = mapped
                        .iter()
                        .map(|(f, m)| format!("{} → {} ({})", f.as_str(), m.name, m.id))
                        .collect();
                    format!("; custom fields: {}", names.join(", "))
                },
                board.map(|b| format!("; {b}")).unwrap_or_default()
            ),
        })
    }

    async fn plan_update(
        &self,
        remote_id: &str,
        fields: &SyncedFields,
        changed: &FieldSet,
    ) -> Result<Vec<String>, SyncError> {
        self.preview_update(remote_id, fields, changed).await
    }

    async fn handle_webhook(
        &self,
        hook: &devlog_core::integration::Webhook,
    ) -> Result<devlog_core::integration::WebhookOutcome, SyncError> {
        self.webhook(hook).await
    }

    async fn find_by_marker(&self, entry: EntryId) -> Result<Option<RemoteItem>, SyncError> {
        let jql = format!(
            "project = {} AND issue.property[{PROPERTY}].id = \"{entry}\"",
            self.project()
        );
        let page = self.search(&jql, None).await?;
        // Only an issue whose property really holds the id counts.
        match page.issues.iter().find(|i| i.marker() == Some(entry)) {
            Some(i) => self.to_remote(i).await.map(Some),
            None => Ok(None),
        }
    }

    async fn create(&self, entry: &Entry, fields: &SyncedFields) -> Result<RemoteItem, SyncError> {
        let c = &entry.context;
        let description = adf::render_description(
            &fields.description,
            &c.business_context,
            &c.technical_context,
            &c.acceptance_criteria,
        );
        let mut set = self.custom_values(entry).await?;
        set.insert("project".into(), json!({"key": self.project()}));
        set.insert("summary".into(), json!(fields.title));
        set.insert("description".into(), description.to_json());
        set.insert(
            "issuetype".into(),
            json!({"name": self.issue_type(fields)?}),
        );
        set.insert("priority".into(), json!({"name": self.priority(fields)?}));
        set.insert("labels".into(), json!(self.labels(fields)?));
        let mut marker = json!({"id": entry.id.to_string()});
        if fields.assignee.is_some() {
            let (assignee, written) = self.assignee_field(fields.assignee.as_deref()).await?;
            set.insert("assignee".into(), assignee);
            if let Some(w) = written {
                marker["assignee"] = w;
            }
        }
        if let Some(m) = &fields.milestone {
            set.insert("fixVersions".into(), versions::fix_versions(Some(m)));
        }
        let body = json!({
            "fields": set,
            // The marker is created with the issue, so a retried create always finds it.
            "properties": [{"key": PROPERTY, "value": marker}],
        });
        let resp = self
            .client
            .post("/rest/api/3/issue")
            .json(&body)
            .send()
            .await
            .map_err(|e| self.sync_err(e, None))?;
        let created: Created = self.decode(&resp, None)?;
        let mut issue = self.get_issue(&created.key).await?;
        if !Goal::of(&self.config, fields.status).reached(issue.fields.status.as_ref().ok_or_else(
            || self.permanent(format!("issue {} came back without a status", issue.key)),
        )?) {
            self.move_to(&issue, fields.status).await?;
            issue = self.get_issue(&created.key).await?;
        }
        self.to_remote(&issue).await
    }

    async fn update(
        &self,
        remote_id: &str,
        fields: &SyncedFields,
        changed: &FieldSet,
    ) -> Result<RemoteItem, SyncError> {
        // The mapped custom fields among the changed ones (the others are not sent).
        let mapped = if changed.iter().any(SyncedField::is_optional) {
            self.mapped_fields().await?
        } else {
            BTreeMap::new()
        };
        let needs_current = changed.contains(SyncedField::Description)
            || changed.contains(SyncedField::Status)
            || changed.contains(SyncedField::Assignee);
        // The `devlog` property's new value, when the assignee changed.
        let mut property: Option<Value> = None;
        let current = if needs_current {
            Some(self.get_issue(remote_id).await?)
        } else {
            None
        };
        let mut edit = Map::new();
        for c in changed.iter() {
            match c {
                SyncedField::Title => {
                    edit.insert("summary".into(), json!(fields.title));
                }
                SyncedField::Description => {
                    // devlog's details section stays as it is.
                    let old = match &current {
                        Some(i) => i.description_doc().map_err(|e| self.permanent(e))?,
                        None => adf::Doc::default(),
                    };
                    let (_, details) = adf::split_description(&old);
                    let mut doc = adf::from_text(&fields.description);
                    doc.content.extend(details);
                    edit.insert("description".into(), doc.to_json());
                }
                SyncedField::Type => {
                    edit.insert(
                        "issuetype".into(),
                        json!({"name": self.issue_type(fields)?}),
                    );
                }
                SyncedField::Priority => {
                    edit.insert("priority".into(), json!({"name": self.priority(fields)?}));
                }
                SyncedField::Tags => {
                    edit.insert("labels".into(), json!(self.labels(fields)?));
                }
                // Through transitions, below.
                SyncedField::Status => {}
                SyncedField::Assignee => {
                    let (assignee, written) =
                        self.assignee_field(fields.assignee.as_deref()).await?;
                    edit.insert("assignee".into(), assignee);
                    // The name devlog wrote, beside the marker (an issue linked rather than
                    // created by devlog gets the property now).
                    let old = current
                        .as_ref()
                        .and_then(|i| i.property().cloned())
                        .filter(Value::is_object)
                        .unwrap_or_else(|| json!({}));
                    let mut p = old.clone();
                    if let Some(o) = p.as_object_mut() {
                        match written {
                            Some(w) => o.insert("assignee".into(), w),
                            None => o.remove("assignee"),
                        };
                    }
                    if p != old {
                        property = Some(p);
                    }
                }
                SyncedField::Milestone => {
                    edit.insert(
                        "fixVersions".into(),
                        versions::fix_versions(fields.milestone.as_deref()),
                    );
                }
                SyncedField::EstimatedHours
                | SyncedField::ActualHours
                | SyncedField::AcceptanceCriteria
                | SyncedField::DueDate
                | SyncedField::Points => {
                    // Only a field `customFields` maps (the engine never asks for another:
                    // an item carries just the mapped ones).
                    if let Some(m) = MappedField::of(c)
                        && let Some(meta) = mapped.get(&m)
                        && let Some(v) = fields::encode(m, meta, fields)
                    {
                        edit.insert(meta.id.clone(), v);
                    }
                }
            }
        }
        if !edit.is_empty() {
            self.issue_writes.wait(remote_id).await;
            self.client
                .put(&format!("/rest/api/3/issue/{remote_id}"))
                .json(&json!({ "fields": edit }))
                .send()
                .await
                .map_err(|e| self.sync_err(e, Some(remote_id)))?;
        }
        if let Some(p) = &property {
            self.issue_writes.wait(remote_id).await;
            self.client
                .put(&format!(
                    "/rest/api/3/issue/{remote_id}/properties/{PROPERTY}"
                ))
                .json(p)
                .send()
                .await
                .map_err(|e| self.sync_err(e, Some(remote_id)))?;
        }
        if changed.contains(SyncedField::Status)
            && let Some(issue) = &current
        {
            self.move_to(issue, fields.status).await?;
        }
        let issue = self.get_issue(remote_id).await?;
        self.to_remote(&issue).await
    }

    fn syncs_notes(&self) -> bool {
        self.config.sync_notes
    }

    /// Finds the fix version by its name, or creates it with the local milestone's
    /// description and due date.
    async fn prepare_milestone(
        &self,
        name: &str,
        local: Option<&devlog_core::planning::Milestone>,
    ) -> Result<(), SyncError> {
        self.prepare_version(name, local).await.map(|_| ())
    }

    async fn create_note(
        &self,
        remote_id: &str,
        entry: EntryId,
        note: &Note,
    ) -> Result<String, SyncError> {
        if !self.syncs_notes() {
            return Err(self.no_notes());
        }
        self.post_note(remote_id, entry, note).await
    }

    async fn update_note(
        &self,
        remote_id: &str,
        note_remote_id: &str,
        note: &Note,
    ) -> Result<(), SyncError> {
        if !self.syncs_notes() {
            return Err(self.no_notes());
        }
        self.edit_note(remote_id, note_remote_id, note).await
    }

    async fn delete_note(&self, remote_id: &str, note_remote_id: &str) -> Result<(), SyncError> {
        if !self.syncs_notes() {
            return Err(self.permanent(
                "notes are not synced with Jira (integrations.jira.syncNotes = false): the comment stays".into(),
            ));
        }
        self.delete_comment(remote_id, note_remote_id).await
    }

    async fn deleted_notes(
        &self,
        remote_id: &str,
        comments: &[String],
    ) -> Result<Option<Vec<String>>, SyncError> {
        if !self.syncs_notes() {
            return Ok(None);
        }
        self.deleted_comments(remote_id, comments).await.map(Some)
    }

    async fn find_note(&self, remote_id: &str, note_id: &str) -> Result<Option<String>, SyncError> {
        if !self.syncs_notes() {
            return Err(self.no_notes());
        }
        self.find_note_comment(remote_id, note_id).await
    }

    fn syncs_worklogs(&self) -> bool {
        self.config.sync_worklogs
    }

    async fn create_worklog(
        &self,
        remote_id: &str,
        entry: EntryId,
        worklog: &devlog_core::planning::Worklog,
    ) -> Result<String, SyncError> {
        if !self.syncs_worklogs() {
            return Err(self.no_worklogs());
        }
        self.post_worklog(remote_id, entry, worklog).await
    }

    async fn find_worklog(
        &self,
        remote_id: &str,
        worklog_id: &str,
    ) -> Result<Option<String>, SyncError> {
        if !self.syncs_worklogs() {
            return Err(self.no_worklogs());
        }
        self.find_marked_worklog(remote_id, worklog_id).await
    }

    async fn update_worklog(
        &self,
        remote_id: &str,
        worklog_remote_id: &str,
        worklog: &devlog_core::planning::Worklog,
    ) -> Result<(), SyncError> {
        if !self.syncs_worklogs() {
            return Err(self.no_worklogs());
        }
        self.put_worklog(remote_id, worklog_remote_id, worklog)
            .await
    }

    async fn delete_worklog(
        &self,
        remote_id: &str,
        worklog_remote_id: &str,
    ) -> Result<(), SyncError> {
        if !self.syncs_worklogs() {
            return Err(self.permanent(
                "worklogs are not synced with Jira (integrations.jira.syncWorklogs = false): \
                 the Jira worklog stays"
                    .into(),
            ));
        }
        self.remove_worklog(remote_id, worklog_remote_id).await
    }

    async fn deleted_worklogs(
        &self,
        remote_id: &str,
        worklogs: &[String],
    ) -> Result<Option<Vec<String>>, SyncError> {
        if !self.syncs_worklogs() {
            return Ok(None);
        }
        self.gone_worklogs(remote_id, worklogs).await.map(Some)
    }

    /// Issues of the project updated since the cursor (all of them without one), oldest
    /// first; an issue already delivered at the cursor's time is left out.
    async fn pull(&self, cursor: Option<&str>) -> Result<PullPage, SyncError> {
        let cursor: Option<PullCursor> = match cursor {
            None => None,
            Some(c) => Some(serde_json::from_str(c).map_err(|e| {
                self.permanent(format!(
                    "the Jira pull cursor `{c}` is unreadable ({e}); `devlog sync --full` starts over"
                ))
            })?),
        };
        self.seed_fields(cursor.as_ref().and_then(|c| c.fields.as_ref()))
            .await;
        let since = match &cursor {
            Some(c) => Some(parse_time(&c.since).map_err(|e| self.permanent(e))?),
            None => None,
        };
        let mut jql = format!("project = {}", self.project());
        if let Some(s) = &since {
            let ago = chrono::Utc::now() - s.as_datetime();
            let minutes = ago.num_minutes().max(0) + 1 + OVERLAP_MINUTES;
            jql.push_str(&format!(" AND updated >= -{minutes}m"));
        }
        jql.push_str(" ORDER BY updated ASC, key ASC");
        let mut page = PullPage::default();
        let mut next = cursor.clone().unwrap_or_default();
        let seen = since.as_ref().zip(cursor.as_ref());
        if let Some((s, _)) = seen {
            // Newest first, one page: the overlap (Jira compares minutes) brings back issues
            // already delivered, so an idle pull would otherwise page through every issue
            // changed in the last minutes. When this page reaches an issue older than the
            // cursor (or is the only one), it holds every change since: one request.
            let desc = jql.replace(
                " ORDER BY updated ASC, key ASC",
                " ORDER BY updated DESC, key DESC",
            );
            let probe = self.search(&desc, None).await?;
            let only = probe.is_last.unwrap_or(probe.next_page_token.is_none())
                || probe.next_page_token.is_none();
            let reached = probe
                .issues
                .iter()
                .any(|i| i.updated().is_ok_and(|u| u < *s));
            if only || reached {
                for issue in probe.issues.iter().rev() {
                    self.take_issue(issue, seen, &mut next, &mut page).await?;
                }
                return self.finish_pull(page, next, cursor).await;
            }
        }
        let mut token: Option<String> = None;
        for n in 0..PAGES_PER_PULL {
            let found = self.search(&jql, token.as_deref()).await?;
            for issue in &found.issues {
                self.take_issue(issue, seen, &mut next, &mut page).await?;
            }
            token = found.next_page_token.clone();
            let last = found.is_last.unwrap_or(token.is_none()) || token.is_none();
            if last {
                break;
            }
            if n + 1 == PAGES_PER_PULL {
                page.more = true;
            }
        }
        self.finish_pull(page, next, cursor).await
    }
}

impl JiraIntegration {
    /// One issue of a pull: left out when the cursor says it was delivered (older, or at the
    /// cursor's time with its key), else mapped with its comments and worklogs, and the next
    /// cursor moved to it.
    async fn take_issue(
        &self,
        issue: &Issue,
        seen: Option<(&devlog_core::time::Timestamp, &PullCursor)>,
        next: &mut PullCursor,
        page: &mut PullPage,
    ) -> Result<(), SyncError> {
        let updated = issue.updated().map_err(|e| self.permanent(e))?;
        if let Some((s, c)) = seen
            && (updated < *s || (updated == *s && c.keys.contains(&issue.key)))
        {
            return Ok(());
        }
        let at = updated.to_string();
        let newest = parse_time(&next.since).ok();
        if newest.is_none_or(|t| updated > t) {
            next.since = at;
            next.keys.clear();
        }
        next.keys.insert(issue.key.clone());
        match self.to_remote(issue).await {
            Ok(item) => {
                // Comments come with the issue whose `updated` they moved; an issue
                // without any costs no request.
                if self.syncs_notes() && issue.comment_total() > 0 {
                    match self.issue_comments(&issue.key).await {
                        Ok(comments) => page
                            .actions
                            .extend(comments.iter().map(|c| self.comment_action(&issue.key, c))),
                        // Deleted since the search: the next pull says what it holds.
                        Err(e) if e.kind == SyncErrorKind::NotFound => {}
                        Err(e) => return Err(e),
                    }
                }
                if self.syncs_worklogs() && issue.worklog_total() > 0 {
                    match self.issue_worklogs(&issue.key).await {
                        Ok(worklogs) => page.actions.extend(
                            worklogs
                                .iter()
                                .filter_map(|w| self.worklog_action(&issue.key, w)),
                        ),
                        Err(e) if e.kind == SyncErrorKind::NotFound => {}
                        Err(e) => return Err(e),
                    }
                }
                page.items.push(item);
            }
            // An issue devlog did not create is not devlog's (the engine skips it):
            // what it holds must not stop the sync.
            Err(_) if issue.marker().is_none() => {}
            Err(e) => return Err(e),
        }
        Ok(())
    }

    /// The page's next cursor (with the resolved fields), or the old one when nothing moved it.
    async fn finish_pull(
        &self,
        mut page: PullPage,
        mut next: PullCursor,
        cursor: Option<PullCursor>,
    ) -> Result<PullPage, SyncError> {
        next.fields = self.field_cache().await?;
        if !next.since.is_empty() {
            page.next_cursor = serde_json::to_string(&next).ok();
        } else if let Some(c) = cursor {
            page.next_cursor = serde_json::to_string(&c).ok();
        }
        Ok(page)
    }
}
