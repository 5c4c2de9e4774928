//! devlog's Azure DevOps integration: entries ⇄ work items of one project over the REST API
//! 7.1, on the shared HTTP plumbing of `devlog-http` (docs/azure-devops.md).
//!
//! Mapping: title ⇄ `System.Title`; description ⇄ `System.Description` (HTML, [`html`])
//! before devlog's details section; status ⇄ `System.State` through the process-aware
//! [`process::StateMap`] of the item's type; type ⇄ `System.WorkItemType`; priority ⇄
//! `Microsoft.VSTS.Common.Priority` (1–4); tags ⇄ `System.Tags`; assignee ⇄
//! `System.AssignedTo`; milestone ⇄ `System.IterationPath` ([`iterations`]). Service hooks:
//! [`hooks`]. Writes are JSON Patch documents; an update starts with a `test` of
//! `/rev`, so an edit made in Azure DevOps meanwhile is a conflict, never overwritten. The
//! marker is the tag `devlog:<entry id>`, set in the create request itself and found by WIQL.
//! Pull: WIQL on `[System.ChangedDate]` with `timePrecision=true` and an overlap, then
//! `workitemsbatch` (200 ids a request), de-duplicated by (id, rev).
//!
//! API boundary: no store access, no terminal, no environment; the token never appears in
//! logs, errors or `Debug`.

pub mod comments;
pub mod config;
pub mod deployments;
pub mod hooks;
pub mod html;
pub mod iterations;
pub mod link;
pub mod pipelines;
mod planning;
pub mod process;
pub mod workitem;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use devlog_core::entry::{Entry, EntryType, Status};
use devlog_core::id::EntryId;
use devlog_core::integration::{
    Capability, Descriptor, Health, Integration, PullPage, RemoteAction, RemoteItem, SyncError,
    SyncErrorKind,
};
use devlog_core::merge::{FieldSet, SyncedField, SyncedFields};
use devlog_http::{ClientOptions, HttpClient, HttpError, HttpErrorKind, RateLimitConfig};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub use config::{AdoAuth, AdoConfig, IterationPath, MappedField};
use process::{Process, State, StateMap};
use workitem::{
    AREA_PATH, ASSIGNED_TO, DESCRIPTION, FIELDS, ITERATION_PATH, PRIORITY, STATE, TAGS, TITLE,
    TYPE, WorkItem, marker_tag, parse_time, priority_number,
};

pub const NAME: &str = "azure-devops";
/// The REST API version of every call but comments.
pub const API_VERSION: &str = "7.1";
/// Work item ids per `workitemsbatch` request (the API's maximum).
pub const BATCH: usize = 200;
/// New or changed items a pull delivers before it says `more`.
pub const ITEMS_PER_PULL: usize = 1000;
/// Seconds a pull reaches back before its cursor: a change committed late (its
/// `ChangedDate` before the newest one seen) is still found; the (id, rev) pairs seen in
/// that window are kept in the cursor so nothing is delivered twice.
pub const OVERLAP_SECONDS: i64 = 120;
/// WIQL answers at most this many ids.
const WIQL_TOP: usize = 20_000;
pub(crate) const PATCH: &str = "application/json-patch+json";
/// What is left of the estimate (a system field; written where the type has it).
pub(crate) const REMAINING_WORK: &str = "Microsoft.VSTS.Scheduling.RemainingWork";

/// The Azure DevOps integration.
#[derive(Debug, Clone)]
pub struct AdoIntegration {
    config: Arc<AdoConfig>,
    client: Arc<HttpClient>,
    /// The Release Management API (`vsrm.dev.azure.com` on the cloud: [`deployments`]).
    release_client: Arc<HttpClient>,
    meta: Arc<tokio::sync::OnceCell<Meta>>,
    /// The team's iterations as last read (`iterations.rs`).
    iterations: Arc<std::sync::Mutex<Option<Vec<iterations::Iteration>>>>,
}

/// What devlog reads about the project once: its process, and its work item types with
/// their fields and states.
#[derive(Debug, Clone)]
pub struct Meta {
    pub process: Process,
    /// The process's name as the project reports it ("Agile", "My Agile").
    pub process_name: String,
    /// `system`, `inherited` or `custom`.
    pub process_type: String,
    /// Work item types by lowercase name.
    pub types: BTreeMap<String, TypeMeta>,
}

#[derive(Debug, Clone)]
pub struct TypeMeta {
    pub name: String,
    pub fields: BTreeSet<String>,
    /// The statuses ⇄ states of the type, or why they cannot be resolved (a configured state
    /// it lacks), reported when an entry of the type is written.
    pub states: Result<StateMap, String>,
}

impl Meta {
    pub fn type_meta(&self, name: &str) -> Option<&TypeMeta> {
        self.types.get(&name.to_lowercase())
    }
}

/// Where a pull stands: the newest `ChangedDate` delivered, and the (id → rev, changed) of
/// the items delivered within [`OVERLAP_SECONDS`] of it.
///
/// devlog's own creates and updates count as seen too ([`Integration::cursor_after_write`]):
/// they move `since` to their `ChangedDate` and are kept in `own` with the revision devlog
/// wrote, while `from` keeps where the last pull stood, so the next pull still asks WIQL for
/// everything changed since then. An own write is never trusted by its place in WIQL's
/// answer (devlog writes A, someone edits A, devlog writes B: WIQL still answers A, B):
/// the pull asks `workitemsbatch` for only `System.Rev` of the own writes WIQL answers (one
/// small request per [`BATCH`] ids) and leaves out those still at the revision devlog wrote;
/// every other item is read in full as always.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct PullCursor {
    since: String,
    #[serde(default)]
    seen: BTreeMap<u64, (u64, String)>,
    /// Where the last pull stood when devlog's own writes moved `since` past it (`""`: it
    /// had no cursor, the next pull reads from the start); cleared by a complete pull.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    from: Option<String>,
    /// devlog's own writes since the last complete pull: id → (rev, changed).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    own: BTreeMap<u64, (u64, String)>,
}

impl PullCursor {
    /// Counts devlog's own write of work item `id` at revision `rev`, changed `at`, as seen.
    fn own_write(&mut self, id: u64, rev: u64, at: devlog_core::Timestamp) {
        if self.seen.get(&id).is_some_and(|(r, _)| *r >= rev)
            || self.own.get(&id).is_some_and(|(r, _)| *r >= rev)
        {
            return;
        }
        let at_s = at
            .as_datetime()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        if parse_time(&self.since).ok().is_none_or(|t| at > t) {
            if self.from.is_none() {
                self.from = Some(self.since.clone());
            }
            self.since = at_s.clone();
        }
        self.seen.insert(id, (rev, at_s.clone()));
        self.own.insert(id, (rev, at_s));
    }

    /// The ids of `ids` (a WIQL answer) that are devlog's own writes, with the revision
    /// devlog wrote.
    fn own_in(&self, ids: &[u64]) -> BTreeMap<u64, u64> {
        ids.iter()
            .filter_map(|id| self.own.get(id).map(|(rev, _)| (*id, *rev)))
            .collect()
    }
}

#[derive(Debug, Deserialize)]
struct WiqlResult {
    #[serde(default, rename = "workItems")]
    work_items: Vec<WiqlRef>,
}

#[derive(Debug, Deserialize)]
struct WiqlRef {
    id: u64,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ValueList<T> {
    #[serde(default = "Vec::new")]
    pub(crate) value: Vec<T>,
}

fn wiql_string(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

impl AdoIntegration {
    pub fn new(config: AdoConfig) -> Result<Self, String> {
        Self::with_limits(config, RateLimitConfig::azure_devops())
    }

    /// Like [`new`](Self::new) with explicit client-side pacing (tests use
    /// `RateLimitConfig::unpaced()`).
    pub fn with_limits(config: AdoConfig, limits: RateLimitConfig) -> Result<Self, String> {
        devlog_http::install_crypto_provider();
        let opts = |base: String| {
            ClientOptions::new(NAME, base)
                .auth(config.auth.to_http())
                .header("Accept", "application/json")
                .timeouts(Duration::from_secs(10), Duration::from_secs(30))
                .rate_limits(limits.clone())
        };
        let client =
            HttpClient::new(opts(config.organization_url.clone())).map_err(|e| e.to_string())?;
        let release_client =
            HttpClient::new(opts(deployments::release_url(&config.organization_url)))
                .map_err(|e| e.to_string())?;
        Ok(Self {
            config: Arc::new(config),
            client: Arc::new(client),
            release_client: Arc::new(release_client),
            meta: Arc::default(),
            iterations: Arc::default(),
        })
    }

    /// Builds it from a validated `[integrations.azure-devops]` table.
    pub fn from_table(table: &Value) -> Result<Self, String> {
        Self::new(AdoConfig::from_table(table)?)
    }

    pub fn config(&self) -> &AdoConfig {
        &self.config
    }

    /// The HTTP client (request counters in tests; raw requests).
    pub fn client(&self) -> &HttpClient {
        &self.client
    }

    pub fn descriptor_static() -> Descriptor {
        Descriptor {
            name: NAME.into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Azure DevOps work items of one project, in two-way sync".into(),
            config_schema: config::schema(),
            triggers: vec!["entry.changed".into()],
            capabilities: vec![Capability::Push, Capability::Pull, Capability::Webhook],
        }
    }

    fn table(&self) -> &str {
        self.config.table
    }

    fn project(&self) -> &str {
        &self.config.project
    }

    fn permanent(&self, message: String) -> SyncError {
        SyncError::new(NAME, SyncErrorKind::Permanent, message)
    }

    /// Classifies an HTTP failure with a message that says what to do. `item` is the work
    /// item the request was about, if any (a 404 then means it is gone).
    fn sync_err(&self, e: HttpError, item: Option<&str>) -> SyncError {
        let org = &self.config.organization_url;
        let project = self.project();
        let t = self.table();
        let (kind, message) = match e.kind() {
            HttpErrorKind::RateLimited => (
                SyncErrorKind::RateLimited,
                format!("Azure DevOps is throttling requests; waiting before the next one ({e})"),
            ),
            HttpErrorKind::Transient => (SyncErrorKind::Transient, e.to_string()),
            HttpErrorKind::Auth => (
                SyncErrorKind::Auth,
                format!(
                    "{org} rejected the credentials: check integrations.{t}.pat (or token), and that it has not expired ({e})"
                ),
            ),
            HttpErrorKind::Forbidden => (
                SyncErrorKind::Auth,
                format!(
                    "the credentials may not do this in project {project}: the PAT needs the Work Items (Read & write) scope and the account access to the project ({e})"
                ),
            ),
            HttpErrorKind::NotFound => match item {
                Some(id) => (
                    SyncErrorKind::NotFound,
                    format!(
                        "work item {id} no longer exists in {org}/{project}, or is not visible ({e})"
                    ),
                ),
                None => (
                    SyncErrorKind::Permanent,
                    format!(
                        "project {project} (or team {}) not found in {org}, or not visible to the credentials: check integrations.{t}.organizationUrl, project and team ({e})",
                        self.config.team
                    ),
                ),
            },
            HttpErrorKind::Conflict => (
                SyncErrorKind::Conflict,
                format!(
                    "work item {} changed in Azure DevOps since devlog read it ({e})",
                    item.unwrap_or("?")
                ),
            ),
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
        item: Option<&str>,
    ) -> Result<T, SyncError> {
        resp.json().map_err(|e| self.sync_err(e, item))
    }

    /// `{project}/_apis/…` (the organization is in the base URL).
    fn project_path(&self, rest: &str) -> String {
        format!("{}/_apis/{rest}", self.project())
    }

    /// `{project}/{team}/_apis/…`.
    fn team_path(&self, rest: &str) -> String {
        format!("{}/{}/_apis/{rest}", self.project(), self.config.team)
    }

    /// The project's process and work item types, read once.
    pub async fn meta(&self) -> Result<&Meta, SyncError> {
        self.meta.get_or_try_init(|| self.load_meta()).await
    }

    async fn load_meta(&self) -> Result<Meta, SyncError> {
        #[derive(Deserialize)]
        struct Project {
            #[serde(default)]
            capabilities: BTreeMap<String, BTreeMap<String, String>>,
        }
        #[derive(Deserialize)]
        struct ProcessInfo {
            #[serde(default)]
            name: Option<String>,
            #[serde(default, rename = "type")]
            kind: Option<String>,
        }
        #[derive(Deserialize)]
        struct StateInfo {
            name: String,
            #[serde(default)]
            category: Option<String>,
        }
        #[derive(Deserialize)]
        struct FieldInfo {
            #[serde(rename = "referenceName")]
            reference_name: String,
        }
        #[derive(Deserialize)]
        struct TypeInfo {
            name: String,
            #[serde(default)]
            states: Vec<StateInfo>,
            #[serde(default)]
            fields: Vec<FieldInfo>,
            #[serde(default, rename = "isDisabled")]
            is_disabled: bool,
        }
        let resp = self
            .client
            .get(&format!("_apis/projects/{}", self.project()))
            .query("includeCapabilities", "true")
            .query("api-version", API_VERSION)
            .no_cache()
            .send()
            .await
            .map_err(|e| self.sync_err(e, None))?;
        let project: Project = self.decode(&resp, None)?;
        let template = project.capabilities.get("processTemplate");
        let template_id = template.and_then(|t| t.get("templateTypeId")).cloned();
        let mut process_name = template
            .and_then(|t| t.get("templateName"))
            .cloned()
            .unwrap_or_default();
        let mut process_type = String::from("system");
        if let Some(id) = &template_id {
            let resp = self
                .client
                .get(&format!("_apis/process/processes/{id}"))
                .query("api-version", API_VERSION)
                .no_cache()
                .send()
                .await
                .map_err(|e| self.sync_err(e, None))?;
            let p: ProcessInfo = self.decode(&resp, None)?;
            if let Some(n) = p.name {
                process_name = n;
            }
            if let Some(k) = p.kind {
                process_type = k;
            }
        }
        // A system process by its id; an inherited one by its parent's name, when its name
        // is that (otherwise its states go by category).
        let process = match template_id.as_deref().map(Process::of) {
            Some(p) if p != Process::Other => p,
            _ => Process::of(&process_name),
        };
        let resp = self
            .client
            .get(&self.project_path("wit/workitemtypes"))
            .query("api-version", API_VERSION)
            .no_cache()
            .send()
            .await
            .map_err(|e| self.sync_err(e, None))?;
        let list: ValueList<TypeInfo> = self.decode(&resp, None)?;
        let types = list
            .value
            .into_iter()
            .filter(|t| !t.is_disabled)
            .map(|t| {
                let states: Vec<State> = t
                    .states
                    .iter()
                    .map(|s| State {
                        name: s.name.clone(),
                        category: s.category.as_deref().and_then(process::Category::parse),
                    })
                    .collect();
                let map = StateMap::resolve(
                    process,
                    &t.name,
                    &states,
                    &self.config.state_mapping,
                    self.table(),
                );
                (
                    t.name.to_lowercase(),
                    TypeMeta {
                        name: t.name.clone(),
                        fields: t.fields.into_iter().map(|f| f.reference_name).collect(),
                        states: map,
                    },
                )
            })
            .collect();
        Ok(Meta {
            process,
            process_name,
            process_type,
            types,
        })
    }

    /// The work item type an entry type is written as (configured, else the process's
    /// default).
    fn type_name(&self, meta: &Meta, t: EntryType) -> String {
        self.config
            .work_item_types
            .get(&t)
            .cloned()
            .unwrap_or_else(|| meta.process.default_type(t).to_string())
    }

    /// The type's metadata, or an error naming the `workItemTypes` key to fix.
    fn type_for<'m>(&self, meta: &'m Meta, t: EntryType) -> Result<&'m TypeMeta, SyncError> {
        let name = self.type_name(meta, t);
        meta.type_meta(&name).ok_or_else(|| {
            self.permanent(format!(
                "integrations.{}.workItemTypes.{}: project {} has no work item type `{name}` (it has: {})",
                self.table(),
                t.as_str(),
                self.project(),
                meta.types.values().map(|t| t.name.as_str()).collect::<Vec<_>>().join(", ")
            ))
        })
    }

    fn states<'m>(&self, ty: &'m TypeMeta) -> Result<&'m StateMap, SyncError> {
        ty.states.as_ref().map_err(|e| self.permanent(e.clone()))
    }

    /// Maps a work item to devlog's fields.
    fn to_remote(&self, meta: &Meta, w: &WorkItem) -> Result<RemoteItem, SyncError> {
        let type_name = w.type_name();
        let state = w.str_field(STATE).unwrap_or_default();
        let status = match meta.type_meta(type_name).map(|t| &t.states) {
            Some(Ok(map)) => map.status_of(state),
            // A type devlog cannot map (a configured state it lacks): by the process's names.
            _ => Status::ALL
                .iter()
                .find(|s| {
                    meta.process
                        .default_state(**s)
                        .is_some_and(|n| n.eq_ignore_ascii_case(state))
                })
                .copied()
                .unwrap_or(Status::InProgress),
        };
        let (description, _) = html::split_description(w.str_field(DESCRIPTION).unwrap_or(""));
        let updated_at = w.changed().map_err(|e| self.permanent(e))?;
        // The iteration is the milestone; the project's root iteration is none.
        let milestone = w
            .str_field(ITERATION_PATH)
            .and_then(iterations::milestone_of_path);
        let mut fields = SyncedFields {
            title: w.str_field(TITLE).unwrap_or_default().to_string(),
            description,
            status,
            priority: w.priority(),
            kind: workitem::type_of(|t| self.type_name(meta, t), type_name),
            assignee: w.assignee(),
            tags: w.entry_tags(),
            milestone: milestone.clone(),
            // Carried where the type has the field (planning.rs).
            estimated_hours: None,
            actual_hours: None,
            acceptance_criteria: None,
            due_date: None,
            points: None,
        };
        planning::read(
            &self.config,
            meta.process,
            meta.type_meta(type_name),
            w,
            &mut fields,
        )
        .map_err(|e| self.permanent(e))?;
        Ok(RemoteItem {
            remote_id: w.id.to_string(),
            url: Some(format!(
                "{}/{}/_workitems/edit/{}",
                self.config.organization_url,
                self.project(),
                w.id
            )),
            fields,
            updated_at,
            version: Some(w.rev.to_string()),
            marker: w.marker(),
            milestone: milestone.and_then(|m| self.remote_milestone(&m)),
            sprint: None,
            board: Some(w.board()),
        })
    }

    fn tags_value(&self, tags: &[String], markers: &[String]) -> Result<String, SyncError> {
        if let Some(t) = tags.iter().find(|t| t.contains([';', ','])) {
            return Err(self.permanent(format!(
                "tag `{t}` cannot be an Azure DevOps tag (tags cannot contain `;` or `,`): rename the tag"
            )));
        }
        let mut all: Vec<&str> = tags.iter().map(String::as_str).collect();
        all.extend(markers.iter().map(String::as_str));
        Ok(all.join("; "))
    }

    async fn get_item(&self, id: &str) -> Result<WorkItem, SyncError> {
        let resp = self
            .client
            .get(&self.project_path(&format!("wit/workitems/{id}")))
            .query("api-version", API_VERSION)
            .no_cache()
            .send()
            .await
            .map_err(|e| self.sync_err(e, Some(id)))?;
        self.decode(&resp, Some(id))
    }

    /// Work item ids a WIQL query answers, in its order.
    async fn wiql(&self, query: &str) -> Result<Vec<u64>, SyncError> {
        let resp = self
            .client
            .post(&self.team_path("wit/wiql"))
            // Without it WIQL compares dates only.
            .query("timePrecision", "true")
            .query("$top", &WIQL_TOP.to_string())
            .query("api-version", API_VERSION)
            .json(&json!({ "query": query }))
            .send()
            .await
            .map_err(|e| self.sync_err(e, None))?;
        let r: WiqlResult = self.decode(&resp, None)?;
        Ok(r.work_items.into_iter().map(|w| w.id).collect())
    }

    /// Work items by id (deleted ones left out), in the order asked, 200 per request.
    async fn batch(&self, ids: &[u64]) -> Result<Vec<WorkItem>, SyncError> {
        let mut out = Vec::with_capacity(ids.len());
        let mut fields: Vec<String> = FIELDS.iter().map(|f| f.to_string()).collect();
        fields.extend(planning::read_fields(&self.config));
        for chunk in ids.chunks(BATCH) {
            let resp = self
                .client
                .post(&self.project_path("wit/workitemsbatch"))
                .query("api-version", API_VERSION)
                .json(&json!({"ids": chunk, "fields": fields, "errorPolicy": "omit"}))
                .send()
                .await
                .map_err(|e| self.sync_err(e, None))?;
            let list: ValueList<Option<WorkItem>> = self.decode(&resp, None)?;
            let mut by_id: BTreeMap<u64, WorkItem> = list
                .value
                .into_iter()
                .flatten()
                .map(|w| (w.id, w))
                .collect();
            out.extend(chunk.iter().filter_map(|id| by_id.remove(id)));
        }
        Ok(out)
    }

    /// The current revision of work items by id (deleted ones left out), only `System.Rev`
    /// asked, 200 per request.
    async fn revs(&self, ids: &[u64]) -> Result<BTreeMap<u64, u64>, SyncError> {
        #[derive(Deserialize)]
        struct Rev {
            id: u64,
            rev: u64,
        }
        let mut out = BTreeMap::new();
        for chunk in ids.chunks(BATCH) {
            let resp = self
                .client
                .post(&self.project_path("wit/workitemsbatch"))
                .query("api-version", API_VERSION)
                .json(&json!({"ids": chunk, "fields": [workitem::REV], "errorPolicy": "omit"}))
                .send()
                .await
                .map_err(|e| self.sync_err(e, None))?;
            let list: ValueList<Option<Rev>> = self.decode(&resp, None)?;
            out.extend(list.value.into_iter().flatten().map(|r| (r.id, r.rev)));
        }
        Ok(out)
    }

    /// A work item read back by a pull or a service hook: the item (none for an item devlog
    /// did not create whose fields do not map: not devlog's, and it must not stop a sync) and
    /// its comments as notes (read only when it has some). The team's iterations are read
    /// once (`iterations_read`) when the item is in one devlog has not seen, for the
    /// milestone's dates; failing that, the milestone comes without them.
    pub(crate) async fn read_back(
        &self,
        meta: &Meta,
        w: &WorkItem,
        iterations_read: &mut bool,
    ) -> Result<(Option<RemoteItem>, Vec<RemoteAction>), SyncError> {
        let mut actions = Vec::new();
        let commented = w
            .fields
            .get(workitem::COMMENT_COUNT)
            .and_then(Value::as_u64)
            .is_some_and(|n| n > 0);
        if self.config.sync_notes && commented {
            for c in self.comments(&w.id.to_string()).await? {
                actions.push(self.comment_action(w.id, &c));
            }
        }
        if let Some(m) = w
            .str_field(ITERATION_PATH)
            .and_then(iterations::milestone_of_path)
            && !*iterations_read
            && self.cached_iteration(&m).is_none()
        {
            *iterations_read = true;
            // Only the milestone's dates depend on it: a team that cannot be read here
            // (health says why) does not stop the pull.
            let _ = self.team_iterations().await;
        }
        match self.to_remote(meta, w) {
            Ok(item) => Ok((Some(item), actions)),
            Err(_) if w.marker().is_none() => Ok((None, actions)),
            Err(e) => Err(e),
        }
    }

    /// The team's current iteration path.
    async fn current_iteration(&self) -> Result<String, SyncError> {
        #[derive(Deserialize)]
        struct Iteration {
            #[serde(default)]
            path: Option<String>,
        }
        let resp = self
            .client
            .get(&self.team_path("work/teamsettings/iterations"))
            .query("$timeframe", "current")
            .query("api-version", API_VERSION)
            .no_cache()
            .send()
            .await
            .map_err(|e| self.sync_err(e, None))?;
        let list: ValueList<Iteration> = self.decode(&resp, None)?;
        list.value
            .into_iter()
            .find_map(|i| i.path)
            .ok_or_else(|| {
                self.permanent(format!(
                    "integrations.{}.iterationPath: team {} has no current iteration (set the team's iterations, or name an iteration path)",
                    self.table(),
                    self.config.team
                ))
            })
    }
}

pub(crate) fn op(op: &str, field: &str, value: Value) -> Value {
    json!({"op": op, "path": format!("/fields/{field}"), "value": value})
}

#[async_trait]
impl Integration for AdoIntegration {
    fn descriptor(&self) -> Descriptor {
        Self::descriptor_static()
    }

    /// A work item type has fewer states than devlog has statuses (Agile's Active stands for
    /// in-progress and blocked), and several entry types share a work item type: a value that
    /// reads back from what `fields` would send stands for it (the update would send nothing,
    /// as `StateMap::agrees` says). Before the project's types are known, only equal values.
    fn stands_for(&self, field: SyncedField, remote: &SyncedFields, fields: &SyncedFields) -> bool {
        let Some(meta) = self.meta.get() else {
            return !remote.differs(fields, field);
        };
        match field {
            SyncedField::Status => match self.type_for(meta, remote.kind).map(|t| self.states(t)) {
                Ok(Ok(map)) => map.status_of(map.state_of(fields.status)) == remote.status,
                _ => fields.status == remote.status,
            },
            SyncedField::Type => self
                .type_name(meta, fields.kind)
                .eq_ignore_ascii_case(&self.type_name(meta, remote.kind)),
            _ => !remote.differs(fields, field),
        }
    }

    /// Finds the team's iteration named `name`, or creates it (with the local milestone's
    /// dates) and adds it to the team (`iterations.rs`).
    async fn prepare_milestone(
        &self,
        name: &str,
        local: Option<&devlog_core::planning::Milestone>,
    ) -> Result<(), SyncError> {
        self.ensure_iteration(name, local).await.map(|_| ())
    }

    async fn initialize(&self) -> Result<(), SyncError> {
        self.meta().await.map(|_| ())
    }

    /// The project, its process and its work item types: every mapped type must exist and
    /// its states must take every devlog status.
    async fn health(&self) -> Result<Health, SyncError> {
        let meta = self.meta().await?;
        let mut types = BTreeSet::new();
        let mut fields = BTreeSet::new();
        for t in EntryType::ALL {
            let ty = self.type_for(meta, *t)?;
            self.states(ty)?;
            types.insert(ty.name.clone());
            fields.extend(ty.fields.iter().cloned());
        }
        // A field configured by hand must exist on one of the types devlog writes.
        for (f, name) in &self.config.fields {
            if !fields.contains(name) {
                return Err(self.permanent(format!(
                    "integrations.{}.fields.{}: none of the work item types {} has the field `{name}`",
                    self.table(),
                    f.as_str(),
                    types.iter().cloned().collect::<Vec<_>>().join(", ")
                )));
            }
        }
        Ok(Health {
            ok: true,
            message: format!(
                "reached project {} on {} ({} process, {}); work item types {}",
                self.project(),
                self.config.organization_url,
                meta.process_name,
                meta.process_type,
                types.into_iter().collect::<Vec<_>>().join(", ")
            ),
        })
    }

    fn syncs_notes(&self) -> bool {
        self.config.sync_notes
    }

    async fn create_note(
        &self,
        remote_id: &str,
        _entry: EntryId,
        note: &devlog_core::entry::Note,
    ) -> Result<String, SyncError> {
        if !self.config.sync_notes {
            return Err(self.no_notes());
        }
        self.post_note(remote_id, note).await
    }

    async fn update_note(
        &self,
        remote_id: &str,
        note_remote_id: &str,
        note: &devlog_core::entry::Note,
    ) -> Result<(), SyncError> {
        if !self.config.sync_notes {
            return Err(self.no_notes());
        }
        self.edit_note(remote_id, note_remote_id, note).await
    }

    async fn delete_note(&self, remote_id: &str, note_remote_id: &str) -> Result<(), SyncError> {
        if !self.config.sync_notes {
            return Err(self.no_notes());
        }
        self.remove_note(remote_id, note_remote_id).await
    }

    async fn deleted_notes(
        &self,
        remote_id: &str,
        comments: &[String],
    ) -> Result<Option<Vec<String>>, SyncError> {
        if !self.config.sync_notes {
            return Ok(None);
        }
        self.gone_notes(remote_id, comments).await.map(Some)
    }

    async fn find_note(&self, remote_id: &str, note_id: &str) -> Result<Option<String>, SyncError> {
        if !self.config.sync_notes {
            return Err(self.no_notes());
        }
        self.find_note_comment(remote_id, note_id).await
    }

    /// Service hooks (`hooks.rs`): the Basic password checked first; what devlog does not
    /// take from an event is logged with the reason.
    async fn handle_webhook(
        &self,
        hook: &devlog_core::integration::Webhook,
    ) -> Result<devlog_core::integration::WebhookOutcome, SyncError> {
        let read = self.service_hook(hook).await?;
        if let Some(why) = &read.ignored {
            tracing::info!(event = %read.event_type, "azure-devops service hook: {why}");
        }
        Ok(read.outcome)
    }

    async fn find_by_marker(&self, entry: EntryId) -> Result<Option<RemoteItem>, SyncError> {
        let meta = self.meta().await?;
        let query = format!(
            "SELECT [System.Id] FROM WorkItems WHERE [System.TeamProject] = @project AND [System.Tags] CONTAINS {}",
            wiql_string(&marker_tag(entry))
        );
        let ids = self.wiql(&query).await?;
        if ids.is_empty() {
            return Ok(None);
        }
        let items = self.batch(&ids).await?;
        // Only an item whose tags really hold the marker counts.
        items
            .iter()
            .find(|w| w.marker() == Some(entry))
            .map(|w| self.to_remote(meta, w))
            .transpose()
    }

    async fn create(&self, entry: &Entry, fields: &SyncedFields) -> Result<RemoteItem, SyncError> {
        let meta = self.meta().await?;
        let ty = self.type_for(meta, fields.kind)?;
        let states = self.states(ty)?;
        let c = &entry.context;
        let criteria_field = self.config.field(MappedField::AcceptanceCriteria);
        // Acceptance criteria go to their own field where the type has it.
        let criteria_apart = ty.fields.contains(criteria_field);
        let description = html::render_description(
            &fields.description,
            &c.business_context,
            &c.technical_context,
            if criteria_apart {
                &[]
            } else {
                &c.acceptance_criteria
            },
        );
        let mut ops = vec![
            op("add", TITLE, json!(fields.title)),
            op("add", DESCRIPTION, json!(description)),
            // The marker is created with the item, so a retried create always finds it.
            op(
                "add",
                TAGS,
                json!(self.tags_value(&fields.tags, &[marker_tag(entry.id)])?),
            ),
            op("add", STATE, json!(states.state_of(fields.status))),
        ];
        if ty.fields.contains(PRIORITY) {
            ops.push(op("add", PRIORITY, json!(priority_number(fields.priority))));
        }
        if let Some(a) = &fields.assignee {
            ops.push(op("add", ASSIGNED_TO, json!(a)));
        }
        if criteria_apart && let Some(list) = planning::criteria_html(&c.acceptance_criteria) {
            ops.push(op("add", criteria_field, json!(list)));
        }
        // Planning fields the type has, from the entry (synced after too: planning.rs).
        let completed = if entry.worklogs.is_empty() {
            entry.actual_hours
        } else {
            Some(devlog_core::planning::hours_of(
                devlog_core::planning::logged_minutes(entry),
            ))
        };
        let remaining = match (entry.estimated_hours, completed) {
            (Some(e), Some(c)) => Some((e - c).max(0.0)),
            (Some(e), None) => Some(e),
            _ => None,
        };
        for (field, value) in [
            (
                self.config.field(MappedField::EstimatedHours),
                entry.estimated_hours,
            ),
            (self.config.field(MappedField::ActualHours), completed),
            (REMAINING_WORK, remaining),
        ] {
            if let Some(v) = value.filter(|v| v.is_finite())
                && ty.fields.contains(field)
            {
                ops.push(op("add", field, json!(v)));
            }
        }
        if let Some(p) = entry.points.filter(|p| p.is_finite())
            && let Some(field) = planning::points_field(&self.config, meta.process, ty)
        {
            ops.push(op("add", field, json!(p)));
        }
        let due_field = self.config.field(MappedField::DueDate);
        if let Some(d) = entry.due_date
            && ty.fields.contains(due_field)
        {
            ops.push(op("add", due_field, json!(format!("{d}T00:00:00Z"))));
        }
        if let Some(area) = &self.config.area_path {
            ops.push(op("add", AREA_PATH, json!(area)));
        }
        // The entry's milestone; without one, the configured iteration (`@current`: the
        // team's current one).
        match (&fields.milestone, &self.config.iteration_path) {
            (Some(m), _) => {
                let p = self.iteration_path_of(Some(m)).await?;
                ops.push(op("add", ITERATION_PATH, json!(p)));
            }
            (None, Some(IterationPath::Path(p))) => ops.push(op("add", ITERATION_PATH, json!(p))),
            (None, Some(IterationPath::Current)) => {
                let p = self.current_iteration().await?;
                ops.push(op("add", ITERATION_PATH, json!(p)));
            }
            (None, None) => {}
        }
        let resp = self
            .client
            .post(&self.project_path(&format!("wit/workitems/${}", ty.name)))
            .query("api-version", API_VERSION)
            .json_as(&ops, PATCH)
            .send()
            .await
            .map_err(|e| self.sync_err(e, None))?;
        let created: WorkItem = self.decode(&resp, None)?;
        self.to_remote(meta, &created)
    }

    async fn update(
        &self,
        remote_id: &str,
        fields: &SyncedFields,
        changed: &FieldSet,
    ) -> Result<RemoteItem, SyncError> {
        if remote_id.parse::<u64>().is_err() {
            return Err(SyncError::new(
                NAME,
                SyncErrorKind::NotFound,
                format!("`{remote_id}` is not a work item id"),
            ));
        }
        let meta = self.meta().await?;
        let current = self.get_item(remote_id).await?;
        // Optimistic concurrency: the patch applies only to the revision read.
        let mut ops = vec![json!({"op": "test", "path": "/rev", "value": current.rev})];
        let current_type = current.type_name().to_string();
        let mut target_type = meta.type_meta(&current_type);
        if changed.contains(SyncedField::Type) {
            let ty = self.type_for(meta, fields.kind)?;
            if !ty.name.eq_ignore_ascii_case(&current_type) {
                ops.push(op("replace", TYPE, json!(ty.name)));
                // The new type's states may differ: its state for the status goes with it.
                ops.push(op(
                    "replace",
                    STATE,
                    json!(self.states(ty)?.state_of(fields.status)),
                ));
            }
            target_type = Some(ty);
        }
        let has_field = |f: &str| target_type.is_some_and(|t| t.fields.contains(f));
        for c in changed.iter() {
            match c {
                SyncedField::Title => ops.push(op("replace", TITLE, json!(fields.title))),
                SyncedField::Description => {
                    // devlog's details section stays as it is.
                    let (_, details) =
                        html::split_description(current.str_field(DESCRIPTION).unwrap_or(""));
                    let html = format!("{}{details}", html::from_text(&fields.description));
                    ops.push(op("replace", DESCRIPTION, json!(html)));
                }
                SyncedField::Status => {
                    let Some(ty) = target_type else {
                        return Err(self.permanent(format!(
                            "work item {remote_id} is a `{current_type}`, a type project {} does not list",
                            self.project()
                        )));
                    };
                    let map = self.states(ty)?;
                    let state = current.str_field(STATE).unwrap_or_default();
                    if !map.agrees(state, fields.status)
                        && !ops.iter().any(|o| o["path"] == format!("/fields/{STATE}"))
                    {
                        ops.push(op("replace", STATE, json!(map.state_of(fields.status))));
                    }
                }
                SyncedField::Priority => {
                    if has_field(PRIORITY) {
                        ops.push(op(
                            "replace",
                            PRIORITY,
                            json!(priority_number(fields.priority)),
                        ));
                    }
                }
                SyncedField::Tags => {
                    let markers: Vec<String> = current
                        .tags()
                        .into_iter()
                        .filter(|t| {
                            t.get(..workitem::MARKER_PREFIX.len())
                                .is_some_and(|p| p.eq_ignore_ascii_case(workitem::MARKER_PREFIX))
                        })
                        .collect();
                    ops.push(op(
                        "replace",
                        TAGS,
                        json!(self.tags_value(&fields.tags, &markers)?),
                    ));
                }
                SyncedField::Assignee => match &fields.assignee {
                    Some(a) => ops.push(op("replace", ASSIGNED_TO, json!(a))),
                    None if current.fields.contains_key(ASSIGNED_TO) => {
                        ops.push(json!({"op": "remove", "path": format!("/fields/{ASSIGNED_TO}")}))
                    }
                    None => {}
                },
                SyncedField::Milestone => {
                    let path = self.iteration_path_of(fields.milestone.as_deref()).await?;
                    if !current
                        .str_field(ITERATION_PATH)
                        .is_some_and(|p| p.eq_ignore_ascii_case(&path))
                    {
                        ops.push(op("replace", ITERATION_PATH, json!(path)));
                    }
                }
                // Type: above.
                SyncedField::Type => {}
                // Below, where the type has the field (planning.rs).
                SyncedField::EstimatedHours
                | SyncedField::ActualHours
                | SyncedField::AcceptanceCriteria
                | SyncedField::DueDate
                | SyncedField::Points => {}
            }
        }
        if let Some(ty) = target_type {
            ops.extend(planning::ops(
                &self.config,
                meta.process,
                ty,
                &current,
                fields,
                changed,
            ));
        }
        if ops.len() == 1 {
            return self.to_remote(meta, &current);
        }
        let resp = self
            .client
            .patch(&self.project_path(&format!("wit/workitems/{remote_id}")))
            .query("api-version", API_VERSION)
            .json_as(&ops, PATCH)
            .send()
            .await
            .map_err(|e| self.sync_err(e, Some(remote_id)))?;
        let updated: WorkItem = self.decode(&resp, Some(remote_id))?;
        self.to_remote(meta, &updated)
    }

    /// devlog's own write counts as seen (`PullCursor::own_write`): the sync right after one
    /// that created or updated N items costs WIQL and ceil(N / 200) batches of revisions
    /// only, not a read-back of all N.
    fn cursor_after_write(&self, cursor: Option<&str>, item: &RemoteItem) -> Option<String> {
        let mut c: PullCursor = match cursor {
            None => PullCursor::default(),
            Some(c) => serde_json::from_str(c).ok()?,
        };
        let id = item.remote_id.parse().ok()?;
        let rev = item.version.as_deref()?.parse().ok()?;
        c.own_write(id, rev, item.updated_at);
        serde_json::to_string(&c).ok()
    }

    /// Work items of the project changed since the cursor (all of them without one), oldest
    /// first; an item already delivered at the same revision is left out.
    async fn pull(&self, cursor: Option<&str>) -> Result<PullPage, SyncError> {
        let cursor: Option<PullCursor> = match cursor {
            None => None,
            Some(c) => Some(serde_json::from_str(c).map_err(|e| {
                self.permanent(format!(
                    "the Azure DevOps pull cursor `{c}` is unreadable ({e}); `devlog sync --full` starts over"
                ))
            })?),
        };
        // A pull starts a run: the team's iterations are read again when next needed.
        if cursor.is_none() {
            *self
                .iterations
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
        }
        let mut query =
            String::from("SELECT [System.Id] FROM WorkItems WHERE [System.TeamProject] = @project");
        // From where the last pull stood (devlog's own writes since may have moved `since`).
        let start = cursor
            .as_ref()
            .map(|c| c.from.as_deref().unwrap_or(&c.since))
            .filter(|s| !s.is_empty());
        if let Some(start) = start {
            let since = parse_time(start).map_err(|e| self.permanent(e))?;
            let from = since.as_datetime() - chrono::Duration::seconds(OVERLAP_SECONDS);
            query.push_str(&format!(
                " AND [System.ChangedDate] >= {}",
                wiql_string(&from.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
            ));
        }
        query.push_str(" ORDER BY [System.ChangedDate] ASC, [System.Id] ASC");
        let mut ids = self.wiql(&query).await?;
        // devlog's own writes still at the revision devlog wrote are left out (their current
        // revision asked, never their place in the answer); all else is read in full.
        if let Some(c) = &cursor {
            let own = c.own_in(&ids);
            if !own.is_empty() {
                let asked: Vec<u64> = own.keys().copied().collect();
                let current = self.revs(&asked).await?;
                ids.retain(|id| {
                    own.get(id)
                        .is_none_or(|wrote| current.get(id) != Some(wrote))
                });
            }
        }
        let mut next = cursor.clone().unwrap_or_default();
        let mut page = PullPage::default();
        let mut delivered = 0;
        // The newest change this page delivered (where the next page starts when devlog's
        // own writes moved `since` ahead).
        let mut page_newest = next.from.clone().unwrap_or_default();
        let mut iterations_read = false;
        let mut chunks = ids.chunks(BATCH);
        for chunk in chunks.by_ref() {
            for w in self.batch(chunk).await? {
                let changed = w.changed().map_err(|e| self.permanent(e))?;
                if next.seen.get(&w.id).is_some_and(|(rev, _)| *rev == w.rev) {
                    continue;
                }
                let at = w
                    .str_field(workitem::CHANGED_DATE)
                    .unwrap_or_default()
                    .to_string();
                if parse_time(&next.since).ok().is_none_or(|t| changed > t) {
                    next.since = at.clone();
                }
                if parse_time(&page_newest).ok().is_none_or(|t| changed > t) {
                    page_newest = at.clone();
                }
                next.seen.insert(w.id, (w.rev, at));
                delivered += 1;
                // The project's types and states are read only when an item is delivered: an
                // idle pull (a new process each time from the CLI) costs WIQL and one batch.
                let meta = self.meta().await?;
                let (item, actions) = self.read_back(meta, &w, &mut iterations_read).await?;
                page.actions.extend(actions);
                page.items.extend(item);
            }
            if delivered >= ITEMS_PER_PULL {
                break;
            }
        }
        page.more = chunks.next().is_some();
        if page.more {
            // The next page starts from the newest change delivered, devlog's writes after it
            // still trusted.
            if next.from.is_some() {
                next.from = Some(page_newest.clone());
            }
        } else {
            // Complete: the writes are behind the pull now (those in the overlap are `seen`).
            next.from = None;
            next.own.clear();
        }
        // Only what is within the overlap of the newest change is remembered.
        let kept_from = match &next.from {
            Some(f) if !f.is_empty() => f,
            _ => &next.since,
        };
        if let Ok(newest) = parse_time(kept_from) {
            let floor = newest.as_datetime() - chrono::Duration::seconds(OVERLAP_SECONDS);
            next.seen
                .retain(|_, (_, at)| parse_time(at).is_ok_and(|t| t.as_datetime() >= floor));
        }
        if !next.since.is_empty() {
            page.next_cursor = serde_json::to_string(&next).ok();
        }
        Ok(page)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a panic is the failure report
    use super::*;

    #[test]
    fn a_batch_answer_may_report_missing_items_as_null() {
        // `errorPolicy: omit`: some clients see `null` where an item could not be read.
        let list: ValueList<Option<WorkItem>> = serde_json::from_value(json!({
            "count": 2,
            "value": [null, {"id": 4, "rev": 2, "fields": {"System.Title": "T"}}]
        }))
        .unwrap();
        let items: Vec<WorkItem> = list.value.into_iter().flatten().collect();
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].id, 4);
    }

    #[test]
    fn wiql_strings_are_quoted() {
        assert_eq!(wiql_string("it's"), "'it''s'");
    }
}
