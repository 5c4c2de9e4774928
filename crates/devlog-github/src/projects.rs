//! GitHub Projects v2 over GraphQL: put an issue on the project board (`projectId`), set its
//! single-select Status/Priority fields, and read board moves back.
//!
//! Why a separate cursor: moving a card changes the project item's `updatedAt`, not the
//! issue's `updated_at`, so the REST `since` poll never sees it. [`GithubIntegration::project_changes`]
//! pages through every item of the project (100 per request) and keeps the newest item
//! `updatedAt` as its cursor; the `projects_v2_item` webhook
//! ([`GithubIntegration::project_move_from_webhook`] + [`GithubIntegration::project_item`]) is
//! the cheap way.
//!
//! Requests (each one `POST` to `{apiUrl}/graphql`, or `/api/graphql` on GitHub Enterprise
//! Server where `apiUrl` ends in `/api/v3`): [`project_fields`](GithubIntegration::project_fields)
//! 1 (then cached per process), [`project_add_issue`](GithubIntegration::project_add_issue) 1,
//! [`project_remove_item`](GithubIntegration::project_remove_item) 1,
//! [`project_set_fields`](GithubIntegration::project_set_fields) 1 (both fields in one
//! document, plus the fields lookup the first time), [`project_changes`](GithubIntegration::project_changes)
//! one per 100 items on the board, [`project_item`](GithubIntegration::project_item) 1.
//!
//! API boundary: like the REST client, errors say what to fix and never carry the token.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use devlog_core::entry::{Priority, Status};
use devlog_core::integration::{SyncError, SyncErrorKind};
use devlog_core::time::Timestamp;
use devlog_http::{HttpError, HttpErrorKind, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{GithubIntegration, NAME};

/// One option of a single-select field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectOption {
    pub id: String,
    pub name: String,
}

/// A single-select field of the project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectField {
    pub id: String,
    pub name: String,
    pub options: Vec<SelectOption>,
}

impl SelectField {
    pub fn option(&self, name: &str) -> Option<&SelectOption> {
        self.options.iter().find(|o| o.name == name)
    }

    fn names(&self) -> String {
        self.options
            .iter()
            .map(|o| format!("`{}`", o.name))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The project's fields devlog writes: `status` is always there (its absence is an error),
/// `priority` is `None` when the project has no such single-select field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectFields {
    pub project_id: String,
    pub status: SelectField,
    pub priority: Option<SelectField>,
}

/// An issue's card on the board, as devlog reads it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectMove {
    /// The project item's node id (`PVTI_…`).
    pub item_id: String,
    pub issue_number: u64,
    /// The issue's node id (`I_…`).
    pub issue_node_id: String,
    /// The status the Status option maps back to (first in `Status::ALL` order whose
    /// `projectStatusMapping` names it); `None` when no status maps to it or the card has none.
    pub status: Option<Status>,
    /// The Status option's name as on the board (compare with the mapping of the entry's
    /// current status: several statuses may share one option).
    pub status_option: Option<String>,
    pub priority: Option<Priority>,
    pub priority_option: Option<String>,
    /// The item's `updatedAt` (a field change bumps it; the issue's `updated_at` does not move).
    pub updated_at: String,
}

/// What a `projects_v2_item` webhook says: which card changed. It does not carry the new
/// option's name, so fetch the card with [`GithubIntegration::project_item`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectItemEvent {
    /// `created`, `edited`, `archived`, `restored`, `converted`, `reordered`, `deleted`, …
    pub action: String,
    /// The project item's node id (`PVTI_…`).
    pub item_id: String,
    /// The issue's node id (`I_…`), when the payload has it.
    pub content_node_id: Option<String>,
    /// `changes.field_value.field_node_id` of an `edited` event: the field that changed.
    pub field_node_id: Option<String>,
    pub updated_at: Option<String>,
}

impl ProjectItemEvent {
    /// Whether the event may have changed the card's field values (so fetching it is worth
    /// a request): an edit of a field, or a card that (re)appeared.
    pub fn may_change_fields(&self) -> bool {
        match self.action.as_str() {
            "edited" => self.field_node_id.is_some(),
            "created" | "converted" | "restored" => true,
            _ => false,
        }
    }
}

// ---- documents (checked against GitHub's schema by the test kit's contract check) ----

const FIELDS_QUERY: &str =
    "query DevlogProjectFields($project: ID!, $status: String!, $priority: String!) {
  node(id: $project) {
    __typename
    ... on ProjectV2 {
      id
      status: field(name: $status) { ...DevlogSelectField }
      priority: field(name: $priority) { ...DevlogSelectField }
    }
  }
}
fragment DevlogSelectField on ProjectV2FieldConfiguration {
  __typename
  ... on ProjectV2SingleSelectField { id name options { id name } }
}";

const ADD_MUTATION: &str = "mutation DevlogProjectAddItem($project: ID!, $content: ID!) {
  addProjectV2ItemById(input: {projectId: $project, contentId: $content}) { item { id } }
}";

const DELETE_MUTATION: &str = "mutation DevlogProjectDeleteItem($project: ID!, $item: ID!) {
  deleteProjectV2Item(input: {projectId: $project, itemId: $item}) { deletedItemId }
}";

const ITEM_FIELDS: &str = "fragment DevlogItem on ProjectV2Item {
  id
  updatedAt
  project { id }
  content {
    __typename
    ... on Issue { id number repository { nameWithOwner } }
  }
  status: fieldValueByName(name: $status) {
    ... on ProjectV2ItemFieldSingleSelectValue { name optionId }
  }
  priority: fieldValueByName(name: $priority) {
    ... on ProjectV2ItemFieldSingleSelectValue { name optionId }
  }
}";

const ITEMS_QUERY: &str = "query DevlogProjectItems($project: ID!, $after: String, $status: String!, $priority: String!) {
  node(id: $project) {
    __typename
    ... on ProjectV2 {
      items(first: 100, after: $after) {
        pageInfo { hasNextPage endCursor }
        nodes { ...DevlogItem }
      }
    }
  }
}";

const ITEM_QUERY: &str =
    "query DevlogProjectItem($item: ID!, $status: String!, $priority: String!) {
  node(id: $item) {
    __typename
    ...DevlogItem
  }
}";

/// The set-fields mutation for the given aliases (`status`, `priority`): one document, one
/// request, one `updateProjectV2ItemFieldValue` per field.
fn set_fields_mutation(aliases: &[&str]) -> String {
    let vars: String = aliases
        .iter()
        .map(|a| format!(", ${a}Field: ID!, ${a}Option: String!"))
        .collect();
    let fields: String = aliases
        .iter()
        .map(|a| {
            format!(
                "  {a}: updateProjectV2ItemFieldValue(input: {{projectId: $project, itemId: $item, fieldId: ${a}Field, value: {{singleSelectOptionId: ${a}Option}}}}) {{ projectV2Item {{ id }} }}\n"
            )
        })
        .collect();
    format!("mutation DevlogProjectSetFields($project: ID!, $item: ID!{vars}) {{\n{fields}}}")
}

// ---- response shapes ----

#[derive(Debug, Deserialize)]
struct RawSelectField {
    #[serde(rename = "__typename", default)]
    typename: Option<String>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    options: Option<Vec<RawOption>>,
}

#[derive(Debug, Deserialize)]
struct RawOption {
    id: String,
    name: String,
}

#[derive(Debug, Deserialize)]
struct RawItem {
    id: String,
    #[serde(rename = "updatedAt")]
    updated_at: String,
    #[serde(default)]
    project: Option<RawId>,
    #[serde(default)]
    content: Option<RawContent>,
    #[serde(default)]
    status: Option<RawValue>,
    #[serde(default)]
    priority: Option<RawValue>,
}

#[derive(Debug, Deserialize)]
struct RawId {
    id: String,
}

#[derive(Debug, Deserialize)]
struct RawContent {
    #[serde(rename = "__typename", default)]
    typename: Option<String>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    number: Option<u64>,
    #[serde(default)]
    repository: Option<RawRepo>,
}

#[derive(Debug, Deserialize)]
struct RawRepo {
    #[serde(rename = "nameWithOwner")]
    name_with_owner: String,
}

#[derive(Debug, Deserialize)]
struct RawValue {
    #[serde(default)]
    name: Option<String>,
}

/// A failed GraphQL request: the classified error, and whether GitHub said NOT_FOUND (a
/// card deleted since its webhook is not an error for [`GithubIntegration::project_item`]).
#[derive(Debug)]
struct GqlError {
    err: SyncError,
    not_found: bool,
}

impl From<GqlError> for SyncError {
    fn from(e: GqlError) -> Self {
        e.err
    }
}

impl From<SyncError> for GqlError {
    fn from(err: SyncError) -> Self {
        Self {
            err,
            not_found: false,
        }
    }
}

/// The field lookups of this process, by endpoint, project and field names: options change
/// rarely, and devlog restarts pick up renames.
type FieldsKey = (String, String, String, String);

fn fields_cache() -> &'static Mutex<HashMap<FieldsKey, Arc<ProjectFields>>> {
    static CACHE: OnceLock<Mutex<HashMap<FieldsKey, Arc<ProjectFields>>>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// The GraphQL endpoint for a REST `apiUrl`: `https://api.github.com` → `…/graphql`;
/// GitHub Enterprise Server `https://ghe.example/api/v3` → `https://ghe.example/api/graphql`.
pub fn graphql_url(api_url: &str) -> String {
    let api = api_url.trim_end_matches('/');
    match api.strip_suffix("/api/v3") {
        Some(host) => format!("{host}/api/graphql"),
        None => format!("{api}/graphql"),
    }
}

fn later(a: &str, b: &str) -> bool {
    match (a.parse::<Timestamp>(), b.parse::<Timestamp>()) {
        (Ok(x), Ok(y)) => x > y,
        _ => a > b,
    }
}

impl GithubIntegration {
    fn project_id(&self) -> Result<&str, SyncError> {
        self.config()
            .project_id
            .as_deref()
            .filter(|p| !p.is_empty())
            .ok_or_else(|| {
                SyncError::new(
                    NAME,
                    SyncErrorKind::Permanent,
                    "no GitHub project configured: set integrations.github.projectId to the project's node id (`PVT_…`)",
                )
            })
    }

    fn gql_error(&self, kind: SyncErrorKind, message: String) -> SyncError {
        SyncError::new(NAME, kind, message)
    }

    /// An HTTP failure of a GraphQL request, with what to fix.
    fn gql_http_err(&self, e: HttpError) -> SyncError {
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
            HttpErrorKind::Forbidden => (SyncErrorKind::Auth, format!("{} ({e})", scope_hint())),
            HttpErrorKind::NotFound => (
                SyncErrorKind::Permanent,
                format!(
                    "no GraphQL endpoint at {}: check integrations.github.apiUrl ({e})",
                    graphql_url(&self.config().api_url)
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

    /// Sends one GraphQL document and returns its `data`, or classifies its `errors`.
    /// `subject` names what a NOT_FOUND is about (for the message).
    async fn graphql(
        &self,
        query: &str,
        variables: Value,
        subject: &str,
    ) -> Result<Value, GqlError> {
        let url = graphql_url(&self.config().api_url);
        let resp = self
            .client()
            .post(&url)
            .json(&json!({"query": query, "variables": variables}))
            .send()
            .await
            .map_err(|e| self.gql_http_err(e))?;
        let body: Value = resp.json().map_err(|e| self.gql_http_err(e))?;
        if let Some(errors) = body.get("errors").and_then(Value::as_array)
            && !errors.is_empty()
        {
            let not_found = errors
                .iter()
                .any(|e| e.get("type").and_then(Value::as_str) == Some("NOT_FOUND"));
            return Err(GqlError {
                err: self.classify_gql_errors(errors, subject, &resp),
                not_found,
            });
        }
        Ok(body.get("data").cloned().unwrap_or(Value::Null))
    }

    /// GraphQL errors come as HTTP 200 with `errors: [{type, message}]`.
    fn classify_gql_errors(&self, errors: &[Value], subject: &str, resp: &Response) -> SyncError {
        let text = |e: &Value| {
            e.get("message")
                .and_then(Value::as_str)
                .unwrap_or("(no message)")
                .to_string()
        };
        let all: Vec<String> = errors.iter().map(text).collect();
        let all = all.join("; ");
        let ty = |t: &str| {
            errors
                .iter()
                .any(|e| e.get("type").and_then(Value::as_str) == Some(t))
        };
        if ty("RATE_LIMITED") {
            let retry = resp
                .header("retry-after")
                .and_then(|s| s.trim().parse::<u64>().ok())
                .map(|s| s * 1000)
                .or_else(|| {
                    let reset = resp
                        .header("x-ratelimit-reset")?
                        .trim()
                        .parse::<u64>()
                        .ok()?;
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .ok()?
                        .as_secs();
                    Some(reset.saturating_sub(now).max(1) * 1000)
                })
                .unwrap_or(60_000);
            let mut e = self.gql_error(
                SyncErrorKind::RateLimited,
                format!(
                    "GitHub GraphQL rate limit reached; waiting before the next request ({all})"
                ),
            );
            e.retry_after_ms = Some(retry);
            return e;
        }
        if ty("FORBIDDEN") || ty("INSUFFICIENT_SCOPES") {
            return self.gql_error(SyncErrorKind::Auth, format!("{} ({all})", scope_hint()));
        }
        if ty("NOT_FOUND") {
            return self.gql_error(
                SyncErrorKind::Permanent,
                format!(
                    "{subject} not found, or not visible to the token: check integrations.github.projectId and that the token can read the project ({all})"
                ),
            );
        }
        self.gql_error(
            SyncErrorKind::Permanent,
            format!("GitHub GraphQL request failed: {all}"),
        )
    }

    fn vars_with_fields(&self, mut v: serde_json::Map<String, Value>) -> Value {
        v.insert("status".into(), json!(self.config().project_status_field));
        v.insert(
            "priority".into(),
            json!(self.config().project_priority_field),
        );
        Value::Object(v)
    }

    /// The project's Status and Priority single-select fields with their options, checked
    /// against `projectStatusMapping` / `projectPriorityMapping`. One request, then cached
    /// for the process (per endpoint, project and field names).
    pub async fn project_fields(&self) -> Result<ProjectFields, SyncError> {
        self.project_fields_shared().await.map(|f| (*f).clone())
    }

    async fn project_fields_shared(&self) -> Result<Arc<ProjectFields>, SyncError> {
        let project = self.project_id()?.to_string();
        let c = self.config();
        let key = (
            c.api_url.clone(),
            project.clone(),
            c.project_status_field.clone(),
            c.project_priority_field.clone(),
        );
        let cached = fields_cache()
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            .cloned();
        let fields = match cached {
            Some(f) => f,
            None => {
                let f = Arc::new(self.load_project_fields(&project).await?);
                fields_cache()
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(key, f.clone());
                f
            }
        };
        self.check_mappings(&fields)?;
        Ok(fields)
    }

    /// Forgets the cached fields of the configured project (after options were renamed).
    pub fn forget_project_fields(&self) {
        let project = self.config().project_id.clone().unwrap_or_default();
        let api = self.config().api_url.clone();
        fields_cache()
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|k, _| !(k.0 == api && k.1 == project));
    }

    async fn load_project_fields(&self, project: &str) -> Result<ProjectFields, SyncError> {
        let subject = format!("project {project} (integrations.github.projectId)");
        let vars = self.vars_with_fields(serde_json::Map::from_iter([(
            "project".to_string(),
            json!(project),
        )]));
        let data = self.graphql(FIELDS_QUERY, vars, &subject).await?;
        let node = data.get("node").filter(|n| !n.is_null()).ok_or_else(|| {
            self.gql_error(
                SyncErrorKind::Permanent,
                format!("{subject} not found, or not visible to the token: check integrations.github.projectId"),
            )
        })?;
        let typename = node
            .get("__typename")
            .and_then(Value::as_str)
            .unwrap_or("?");
        if typename != "ProjectV2" {
            return Err(self.gql_error(
                SyncErrorKind::Permanent,
                format!(
                    "integrations.github.projectId `{project}` names a {typename}, not a project (v2): use the project's node id (`PVT_…`)"
                ),
            ));
        }
        let c = self.config();
        let select = |alias: &str,
                      field: &str,
                      key: &str|
         -> Result<Option<SelectField>, SyncError> {
            let raw = match node.get(alias) {
                None | Some(Value::Null) => return Ok(None),
                Some(v) => RawSelectField::deserialize(v).map_err(|e| {
                    self.gql_error(
                        SyncErrorKind::Permanent,
                        format!("unexpected GraphQL answer for field `{field}`: {e}"),
                    )
                })?,
            };
            match (raw.id, raw.options) {
                (Some(id), Some(options)) => Ok(Some(SelectField {
                    id,
                    name: raw.name.unwrap_or_else(|| field.to_string()),
                    options: options
                        .into_iter()
                        .map(|o| SelectOption { id: o.id, name: o.name })
                        .collect(),
                })),
                _ => Err(self.gql_error(
                    SyncErrorKind::Permanent,
                    format!(
                        "field `{field}` of project {project} is a {}, not a single-select field: set integrations.github.{key} to a single-select field",
                        raw.typename.as_deref().unwrap_or("field of another type")
                    ),
                )),
            }
        };
        let status = select("status", &c.project_status_field, "projectStatusField")?
            .ok_or_else(|| {
                self.gql_error(
                    SyncErrorKind::Permanent,
                    format!(
                        "project {project} has no field `{}`: add a single-select field with that name, or set integrations.github.projectStatusField",
                        c.project_status_field
                    ),
                )
            })?;
        let priority = select(
            "priority",
            &c.project_priority_field,
            "projectPriorityField",
        )?;
        Ok(ProjectFields {
            project_id: project.to_string(),
            status,
            priority,
        })
    }

    fn check_mappings(&self, f: &ProjectFields) -> Result<(), SyncError> {
        let c = self.config();
        let missing = |key: String, option: &str, field: &SelectField| {
            self.gql_error(
                SyncErrorKind::Permanent,
                format!(
                    "integrations.github.{key}: option `{option}` is not an option of field `{}` of project {} (its options: {}); rename the option on the board or change the mapping",
                    field.name,
                    f.project_id,
                    field.names()
                ),
            )
        };
        for (s, o) in &c.project_status_mapping {
            if f.status.option(o).is_none() {
                return Err(missing(format!("projectStatusMapping.{s}"), o, &f.status));
            }
        }
        if let Some(field) = &f.priority {
            for (p, o) in &c.project_priority_mapping {
                if field.option(o).is_none() {
                    return Err(missing(format!("projectPriorityMapping.{p}"), o, field));
                }
            }
        }
        Ok(())
    }

    /// Adds an issue (by node id, `I_…`) to the project and returns the item id (`PVTI_…`).
    /// GitHub returns the existing item when the issue is already on the board.
    pub async fn project_add_issue(&self, issue_node_id: &str) -> Result<String, SyncError> {
        let project = self.project_id()?;
        let data = self
            .graphql(
                ADD_MUTATION,
                json!({"project": project, "content": issue_node_id}),
                &format!("project {project} or issue {issue_node_id}"),
            )
            .await?;
        data.pointer("/addProjectV2ItemById/item/id")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| {
                self.gql_error(
                    SyncErrorKind::Permanent,
                    format!("GitHub returned no project item for issue {issue_node_id}"),
                )
            })
    }

    /// Removes a card from the project (the issue stays). Removing a card that is already
    /// gone is not an error.
    pub async fn project_remove_item(&self, item_id: &str) -> Result<(), SyncError> {
        let project = self.project_id()?;
        match self
            .graphql(
                DELETE_MUTATION,
                json!({"project": project, "item": item_id}),
                &format!("project {project} or its item {item_id}"),
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.not_found => Ok(()),
            Err(e) => Err(e.err),
        }
    }

    /// Sets the card's Status and Priority options through the mappings, in one request;
    /// unmapped values (and priority when the project has no priority field) are left alone.
    pub async fn project_set_fields(
        &self,
        item_id: &str,
        status: Option<Status>,
        priority: Option<Priority>,
    ) -> Result<(), SyncError> {
        let c = self.config();
        let want_status = status.and_then(|s| c.project_status_mapping.get(&s));
        let want_priority = priority.and_then(|p| c.project_priority_mapping.get(&p));
        if want_status.is_none() && want_priority.is_none() {
            return Ok(());
        }
        let fields = self.project_fields_shared().await?;
        let mut aliases = Vec::new();
        let mut vars = serde_json::Map::new();
        vars.insert("project".into(), json!(fields.project_id));
        vars.insert("item".into(), json!(item_id));
        let mut add = |alias: &'static str, field: &SelectField, option: &str| {
            // check_mappings already verified every mapped option exists.
            if let Some(o) = field.option(option) {
                aliases.push(alias);
                vars.insert(format!("{alias}Field"), json!(field.id));
                vars.insert(format!("{alias}Option"), json!(o.id));
            }
        };
        if let Some(o) = want_status {
            add("status", &fields.status, o);
        }
        if let (Some(o), Some(field)) = (want_priority, &fields.priority) {
            add("priority", field, o);
        }
        if aliases.is_empty() {
            return Ok(());
        }
        self.graphql(
            &set_fields_mutation(&aliases),
            Value::Object(vars),
            &format!("project item {item_id} of project {}", fields.project_id),
        )
        .await?;
        Ok(())
    }

    fn to_move(&self, raw: RawItem) -> Option<ProjectMove> {
        let content = raw.content?;
        if content.typename.as_deref() != Some("Issue") {
            return None;
        }
        let repo = content.repository?.name_with_owner;
        let c = self.config();
        if !repo.eq_ignore_ascii_case(&format!("{}/{}", c.owner, c.repo)) {
            return None;
        }
        let status_option = raw.status.and_then(|v| v.name);
        let priority_option = raw.priority.and_then(|v| v.name);
        let status = status_option.as_deref().and_then(|o| {
            Status::ALL
                .iter()
                .copied()
                .find(|s| c.project_status_mapping.get(s).is_some_and(|m| m == o))
        });
        let priority = priority_option.as_deref().and_then(|o| {
            Priority::ALL
                .iter()
                .copied()
                .find(|p| c.project_priority_mapping.get(p).is_some_and(|m| m == o))
        });
        Some(ProjectMove {
            item_id: raw.id,
            issue_number: content.number?,
            issue_node_id: content.id?,
            status,
            status_option,
            priority,
            priority_option,
            updated_at: raw.updated_at,
        })
    }

    /// Cards of this repository's issues changed since `cursor` (an item `updatedAt`; `None`:
    /// all), and the new cursor (the newest `updatedAt` seen, or the old cursor). Costs one
    /// request per 100 items on the board: GraphQL cannot filter items by `updatedAt`.
    pub async fn project_changes(
        &self,
        cursor: Option<&str>,
    ) -> Result<(Vec<ProjectMove>, Option<String>), SyncError> {
        let project = self.project_id()?.to_string();
        let subject = format!("project {project} (integrations.github.projectId)");
        let query = format!("{ITEMS_QUERY}\n{ITEM_FIELDS}");
        let mut after: Option<String> = None;
        let mut newest = cursor.map(str::to_string);
        let mut moves = Vec::new();
        loop {
            let vars = self.vars_with_fields(serde_json::Map::from_iter([
                ("project".to_string(), json!(project)),
                ("after".to_string(), json!(after)),
            ]));
            let data = self.graphql(&query, vars, &subject).await?;
            let Some(items) = data.pointer("/node/items") else {
                return Err(self.gql_error(
                    SyncErrorKind::Permanent,
                    format!("{subject} not found, or not a project (v2): check integrations.github.projectId"),
                ));
            };
            let nodes: Vec<Option<RawItem>> = items
                .get("nodes")
                .cloned()
                .map(serde_json::from_value)
                .transpose()
                .map_err(|e| {
                    self.gql_error(
                        SyncErrorKind::Permanent,
                        format!("unexpected GraphQL answer for the items of {subject}: {e}"),
                    )
                })?
                .unwrap_or_default();
            for raw in nodes.into_iter().flatten() {
                // Inclusive, like GitHub's `since`: `updatedAt` has one-second resolution, so a
                // card moved in the cursor's second after the last read is still seen. Cards
                // seen again are harmless (their moves are applied once per key).
                if cursor.is_some_and(|c| later(c, &raw.updated_at)) {
                    continue;
                }
                if newest.as_deref().is_none_or(|n| later(&raw.updated_at, n)) {
                    newest = Some(raw.updated_at.clone());
                }
                if let Some(m) = self.to_move(raw) {
                    moves.push(m);
                }
            }
            let next = items
                .pointer("/pageInfo/hasNextPage")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            match items.pointer("/pageInfo/endCursor").and_then(Value::as_str) {
                Some(end) if next => after = Some(end.to_string()),
                _ => break,
            }
        }
        moves.sort_by(|a, b| a.updated_at.cmp(&b.updated_at));
        Ok((moves, newest))
    }

    /// One card by item id (`PVTI_…`), with its issue and current options; `None` when the
    /// item is gone, belongs to another project, or is not an issue of this repository.
    pub async fn project_item(&self, item_id: &str) -> Result<Option<ProjectMove>, SyncError> {
        let project = self.project_id()?.to_string();
        let query = format!("{ITEM_QUERY}\n{ITEM_FIELDS}");
        let vars = self.vars_with_fields(serde_json::Map::from_iter([(
            "item".to_string(),
            json!(item_id),
        )]));
        let data = match self
            .graphql(&query, vars, &format!("project item {item_id}"))
            .await
        {
            Ok(d) => d,
            // The card was deleted since the event: nothing to apply.
            Err(e) if e.not_found => return Ok(None),
            Err(e) => return Err(e.err),
        };
        let Some(node) = data.get("node").filter(|n| !n.is_null()) else {
            return Ok(None);
        };
        if node.get("__typename").and_then(Value::as_str) != Some("ProjectV2Item") {
            return Ok(None);
        }
        let raw = RawItem::deserialize(node).map_err(|e| {
            self.gql_error(
                SyncErrorKind::Permanent,
                format!("unexpected GraphQL answer for project item {item_id}: {e}"),
            )
        })?;
        if raw.project.as_ref().is_some_and(|p| p.id != project) {
            return Ok(None);
        }
        Ok(self.to_move(raw))
    }

    /// Reads a `projects_v2_item` webhook payload: `None` unless it is about an issue's card
    /// on the configured project. Old payloads may lack fields or carry `null`s.
    pub fn project_move_from_webhook(&self, payload: &Value) -> Option<ProjectItemEvent> {
        let project = self.config().project_id.as_deref()?;
        let item = payload.get("projects_v2_item")?;
        let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        if let Some(p) = s(item, "project_node_id")
            && p != project
        {
            return None;
        }
        if let Some(t) = s(item, "content_type")
            && t != "Issue"
        {
            return None;
        }
        Some(ProjectItemEvent {
            action: s(payload, "action").unwrap_or_default(),
            item_id: s(item, "node_id")?,
            content_node_id: s(item, "content_node_id"),
            field_node_id: payload
                .pointer("/changes/field_value")
                .and_then(|f| s(f, "field_node_id")),
            updated_at: s(item, "updated_at"),
        })
    }
}

fn scope_hint() -> &'static str {
    "the token may not use GitHub Projects: a classic token needs the `project` scope (`read:project` to read only), a fine-grained token needs \"Projects: Read and write\" on the project's owner"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graphql_endpoint_of_github_and_enterprise() {
        assert_eq!(
            graphql_url("https://api.github.com"),
            "https://api.github.com/graphql"
        );
        assert_eq!(
            graphql_url("https://ghe.example.com/api/v3/"),
            "https://ghe.example.com/api/graphql"
        );
    }

    #[test]
    fn set_fields_mutation_declares_what_it_uses() {
        let m = set_fields_mutation(&["status"]);
        assert!(m.contains("$statusField: ID!") && !m.contains("priority"));
        let m = set_fields_mutation(&["status", "priority"]);
        assert_eq!(m.matches("updateProjectV2ItemFieldValue").count(), 2);
    }
}
