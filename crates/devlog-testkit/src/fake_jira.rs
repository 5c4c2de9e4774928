//! A fake Jira Cloud REST API v3 (the subset devlog's Jira integration uses), mounted on the
//! [`FakeRemote`](crate::fake_remote::FakeRemote) harness so it shares its request log,
//! faults, clock and rate-limit headers.
//!
//! Implemented, stateful: `GET /rest/api/3/myself`; the project (`GET …/project/{key}` with
//! its issue types, `…/project/{key}/statuses`, `GET …/priority`); issues (`POST …/issue`
//! with `properties`, `GET …/issue/{key}` with `properties`, `PUT …/issue/{key}`, `GET/PUT …/issue/{key}/properties/{prop}`);
//! `POST …/search/jql` with `nextPageToken` paging for the JQL subset devlog sends
//! (`project = K`, `issue.property[p].id = "…"`, `updated >= -Nm`, joined by `AND`, then
//! `ORDER BY updated ASC, key ASC` or `DESC, key DESC`; anything else is a 400 naming the clause); transitions
//! (`GET/POST …/issue/{key}/transitions`) over a workflow To Do → In Progress → In Review →
//! Done whose transition to Done requires a resolution on its screen; comments
//! (`GET/POST …/issue/{key}/comment`, `PUT/DELETE …/comment/{id}`); worklogs with properties
//! (`GET/POST …/issue/{key}/worklog`, `PUT/DELETE …/worklog/{id}`; `started` in Jira's strict
//! form, at least a minute spent). Basic or Bearer auth is required (401 otherwise).
//!
//! **Contract check**: every request received is validated against Jira's OpenAPI description
//! (`apispecs/jira/platform/jira-platform.trimmed.json`, and for a path it lacks the full
//! `swagger-v3.v3.json` beside it) by [`crate::openapi`]; dropping the last [`FakeJira`] handle
//! whose server received a request the descriptions do not allow panics.

// The handlers' errors are the HTTP answers themselves, returned at once by a test fake: their
// size does not matter here.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::fake_remote::{FakeState, RecordedRequest};
use crate::openapi::{ContractGuard, Spec, has_operation};

/// Where the descriptions live (`DEVLOG_JIRA_OPENAPI_DIR` overrides the folder).
pub fn spec_dir() -> String {
    std::env::var("DEVLOG_JIRA_OPENAPI_DIR").unwrap_or_else(|_| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/apispecs/jira/platform"
        )
        .to_string()
    })
}

fn specs() -> &'static (Spec, Spec) {
    static SPECS: OnceLock<(Spec, Spec)> = OnceLock::new();
    SPECS.get_or_init(|| {
        let dir = spec_dir();
        (
            crate::openapi::load(
                &format!("{dir}/jira-platform.trimmed.json"),
                "the Jira platform API description",
            ),
            crate::openapi::load(
                &format!("{dir}/swagger-v3.v3.json"),
                "the full Jira platform API description",
            ),
        )
    })
}

/// The Agile (Jira Software) descriptions: `apispecs/jira/software/jira-agile.trimmed.json`
/// and the full `software-swagger.v3.json` beside it.
fn agile_specs() -> &'static (Spec, Spec) {
    static SPECS: OnceLock<(Spec, Spec)> = OnceLock::new();
    SPECS.get_or_init(|| {
        let dir = format!("{}/../software", spec_dir());
        (
            crate::openapi::load(
                &format!("{dir}/jira-agile.trimmed.json"),
                "the Jira Software (Agile) API description",
            ),
            crate::openapi::load(
                &format!("{dir}/software-swagger.v3.json"),
                "the full Jira Software (Agile) API description",
            ),
        )
    })
}

/// Checks one request against the trimmed description, or the full one for a path the
/// trimmed one lacks.
pub fn check_request(r: &RecordedRequest) -> Result<(), String> {
    let (trimmed, full) = if r.path.starts_with("/rest/agile/") {
        agile_specs()
    } else {
        specs()
    };
    if has_operation(trimmed, &r.method, &r.path) {
        crate::openapi::check_request(trimmed, r)
    } else {
        crate::openapi::check_request(full, r)
    }
}

/// Violations among `requests`, one line each.
pub fn check_requests(requests: &[RecordedRequest]) -> Vec<String> {
    crate::openapi::violations(requests, check_request)
}

/// The account the fake's credentials belong to (author of what the API creates).
pub const ACCOUNT_ID: &str = "5b10a2844c20165700ede21g";

/// The workflow's statuses: (id, name, category key).
pub const STATUSES: [(&str, &str, &str); 4] = [
    ("10000", "To Do", "new"),
    ("3", "In Progress", "indeterminate"),
    ("10001", "In Review", "indeterminate"),
    ("10002", "Done", "done"),
];

/// The workflow's transitions: (id, name, from, to, requires a resolution).
pub const TRANSITIONS: [(&str, &str, &str, &str, bool); 6] = [
    ("11", "Start", "To Do", "In Progress", false),
    ("21", "Stop", "In Progress", "To Do", false),
    ("31", "Review", "In Progress", "In Review", false),
    ("41", "Rework", "In Review", "In Progress", false),
    ("51", "Finish", "In Review", "Done", true),
    ("61", "Reopen", "Done", "To Do", false),
];

pub const ISSUE_TYPES: [(&str, &str); 3] =
    [("10001", "Story"), ("10002", "Bug"), ("10003", "Task")];
pub const PRIORITIES: [(&str, &str); 5] = [
    ("1", "Highest"),
    ("2", "High"),
    ("3", "Medium"),
    ("4", "Low"),
    ("5", "Lowest"),
];
pub const RESOLUTIONS: [&str; 2] = ["Done", "Won't Do"];

/// An issue of the fake project.
#[derive(Debug, Clone, PartialEq)]
pub struct JiraIssue {
    pub id: u64,
    pub key: String,
    pub summary: String,
    /// ADF, or `Null`.
    pub description: Value,
    pub issue_type: String,
    pub priority: String,
    pub status: String,
    pub resolution: Option<String>,
    pub labels: Vec<String>,
    pub created: DateTime<Utc>,
    pub updated: DateTime<Utc>,
    pub properties: BTreeMap<String, Value>,
    /// The assignee's account id (phase B: users).
    pub assignee: Option<String>,
    /// Names of the issue's fix versions (phase B: versions).
    pub fix_versions: Vec<String>,
    /// Jira's own `duedate` (`YYYY-MM-DD`).
    pub due_date: Option<String>,
    /// Custom field values by id (`customfield_10016`).
    pub custom: BTreeMap<String, Value>,
}

/// A comment.
#[derive(Debug, Clone, PartialEq)]
pub struct JiraComment {
    pub id: u64,
    pub issue: String,
    pub body: Value,
    pub author: String,
    pub created: DateTime<Utc>,
    pub updated: DateTime<Utc>,
    /// Comment properties (set in the create body's `properties`).
    pub properties: BTreeMap<String, Value>,
}

/// A worklog.
#[derive(Debug, Clone, PartialEq)]
pub struct JiraWorklog {
    pub id: u64,
    pub issue: String,
    /// The account that logged it.
    pub author: String,
    /// As sent (`2026-12-06T09:00:00.000+0000`).
    pub started: String,
    pub seconds: u64,
    /// The comment (ADF), if any.
    pub comment: Option<Value>,
    pub created: DateTime<Utc>,
    pub updated: DateTime<Utc>,
    /// Worklog properties (set in the create body's `properties`).
    pub properties: BTreeMap<String, Value>,
}

#[derive(Debug, Default)]
struct Data {
    next_issue: u64,
    next_comment: u64,
    next_worklog: u64,
    worklogs: BTreeMap<u64, JiraWorklog>,
    issues: BTreeMap<String, JiraIssue>,
    comments: BTreeMap<u64, JiraComment>,
    /// Phase B: accounts, project versions.
    users: Vec<JiraUser>,
    next_version: u64,
    versions: Vec<JiraVersion>,
    /// Fields left out of every issue answer (a field configuration hiding them).
    hidden_fields: Vec<String>,
    /// Agile: the board's sprints, in the board's order, and each issue's sprints (oldest
    /// first; the last open one is its sprint).
    sprints: Vec<JiraSprint>,
    sprint_issues: BTreeMap<String, Vec<u64>>,
}

#[derive(Debug)]
struct Shared {
    project: String,
    data: Mutex<Data>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The fake Jira: its data, its routes, the contract check.
#[derive(Debug, Clone)]
pub struct FakeJira {
    shared: Arc<Shared>,
    remote: FakeState,
    _guard: Arc<ContractGuard>,
}

#[derive(Clone)]
struct St {
    jira: Arc<Shared>,
    remote: FakeState,
}

type Res = Result<Response, Response>;

impl FakeJira {
    /// A fake holding project `project` (its key); `remote` is the harness's state.
    pub fn new(remote: FakeState, project: &str) -> Self {
        Self {
            shared: Arc::new(Shared {
                project: project.into(),
                data: Mutex::new(Data {
                    next_issue: 10_001,
                    next_comment: 20_001,
                    next_worklog: 40_001,
                    users: default_users(),
                    next_version: 30_001,
                    ..Data::default()
                }),
            }),
            _guard: Arc::new(ContractGuard::new("Jira", remote.clone(), check_requests)),
            remote,
        }
    }

    /// The routes to mount (use `without_tracker()`; unknown paths get Jira's 404).
    pub fn router(&self) -> Router {
        let st = St {
            jira: self.shared.clone(),
            remote: self.remote.clone(),
        };
        Router::new()
            .route("/rest/api/3/myself", get(myself))
            .route("/rest/api/3/project/{key}", get(project))
            .route("/rest/api/3/project/{key}/statuses", get(statuses))
            .route("/rest/api/3/priority", get(priorities))
            .route("/rest/api/3/issue", post(create_issue))
            .route("/rest/api/3/issue/{key}", get(get_issue).put(edit_issue))
            .route(
                "/rest/api/3/issue/{key}/properties/{prop}",
                get(get_property).put(put_property).delete(delete_property),
            )
            .route("/rest/api/3/search/jql", post(search))
            .route(
                "/rest/api/3/issue/{key}/transitions",
                get(transitions).post(do_transition),
            )
            .route(
                "/rest/api/3/issue/{key}/comment",
                get(list_comments).post(add_comment),
            )
            .route(
                "/rest/api/3/issue/{key}/comment/{id}",
                put(edit_comment).delete(delete_comment),
            )
            .route(
                "/rest/api/3/issue/{key}/worklog",
                get(list_worklogs).post(add_worklog),
            )
            .route(
                "/rest/api/3/issue/{key}/worklog/{id}",
                put(edit_worklog).delete(delete_worklog),
            )
            .route("/rest/api/3/user/assignable/search", get(assignable_users))
            .route("/rest/api/3/project/{key}/versions", get(project_versions))
            .route("/rest/api/3/version", post(create_version))
            .route("/rest/api/3/field", get(fields))
            .route("/rest/agile/1.0/board/{board}", get(board))
            .route("/rest/agile/1.0/board/{board}/sprint", get(board_sprints))
            .route(
                "/rest/agile/1.0/sprint/{sprint}/issue",
                get(sprint_issues).post(move_to_sprint),
            )
            .route("/rest/agile/1.0/issue/{key}", get(agile_issue))
            .route(
                "/{*rest}",
                axum::routing::any(|| async { error(StatusCode::NOT_FOUND, "Not found") }),
            )
            .with_state(st)
    }

    /// Violations of the API description among all requests received so far.
    pub fn check_contract(&self) -> Vec<String> {
        check_requests(&self.remote.requests())
    }

    fn data(&self) -> MutexGuard<'_, Data> {
        lock(&self.shared.data)
    }

    pub fn issues(&self) -> Vec<JiraIssue> {
        self.data().issues.values().cloned().collect()
    }

    pub fn issue(&self, key: &str) -> Option<JiraIssue> {
        self.data().issues.get(key).cloned()
    }

    /// Changes an issue as a person in Jira would (its `updated` moves).
    pub fn edit_issue(&self, key: &str, edit: impl FnOnce(&mut JiraIssue)) -> Option<JiraIssue> {
        let now = self.remote.tick();
        let mut d = self.data();
        let i = d.issues.get_mut(key)?;
        edit(i);
        i.updated = now;
        Some(i.clone())
    }

    /// The issue's comments, oldest first.
    pub fn comments(&self, key: &str) -> Vec<JiraComment> {
        self.data()
            .comments
            .values()
            .filter(|c| c.issue == key)
            .cloned()
            .collect()
    }

    /// A comment by someone else.
    pub fn add_comment(&self, key: &str, author: &str, text: &str) -> Option<JiraComment> {
        let now = self.remote.tick();
        let mut d = self.data();
        d.issues.get(key)?;
        let id = d.next_comment;
        d.next_comment += 1;
        let c = JiraComment {
            id,
            issue: key.into(),
            body: adf_text(text),
            author: author.into(),
            created: now,
            updated: now,
            properties: BTreeMap::new(),
        };
        d.comments.insert(id, c.clone());
        if let Some(i) = d.issues.get_mut(key) {
            i.updated = now;
        }
        Some(c)
    }
}

/// A one-paragraph ADF document.
pub fn adf_text(text: &str) -> Value {
    json!({"type": "doc", "version": 1, "content": [
        {"type": "paragraph", "content": [{"type": "text", "text": text}]}]})
}

/// The plain text of an ADF value (for tests).
pub fn adf_plain(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let own = m.get("text").and_then(Value::as_str).unwrap_or_default();
            let kids: Vec<String> = m
                .get("content")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(adf_plain)
                .collect();
            format!("{own}{}", kids.join("\n"))
        }
        _ => String::new(),
    }
}

fn jira_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string()
}

fn error(status: StatusCode, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"errorMessages": [message], "errors": {}})),
    )
        .into_response()
}

fn field_error(field: &str, message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({"errorMessages": [], "errors": {field: message}})),
    )
        .into_response()
}

fn auth(headers: &HeaderMap) -> Result<(), Response> {
    let ok = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("Basic ") || v.starts_with("Bearer "));
    if ok {
        Ok(())
    } else {
        Err(error(
            StatusCode::UNAUTHORIZED,
            "You are not authenticated. Authentication required to perform this operation.",
        ))
    }
}

fn body_json(body: &Bytes) -> Result<Value, Response> {
    serde_json::from_slice(body).map_err(|_| error(StatusCode::BAD_REQUEST, "Invalid JSON body"))
}

fn status_json(name: &str) -> Value {
    let (id, name, cat) = STATUSES
        .iter()
        .find(|s| s.1 == name)
        .copied()
        .unwrap_or(STATUSES[0]);
    let (cid, cname) = match cat {
        "new" => (2, "To Do"),
        "done" => (3, "Done"),
        _ => (4, "In Progress"),
    };
    json!({"id": id, "name": name, "statusCategory": {"id": cid, "key": cat, "name": cname}})
}

fn user_json(account: &str) -> Value {
    json!({"accountId": account, "displayName": if account == ACCOUNT_ID { "devlog bot" } else { account },
           "active": true, "accountType": "atlassian"})
}

fn issue_json(d: &Data, base: &str, i: &JiraIssue, properties: &[String]) -> Value {
    let ty = ISSUE_TYPES.iter().find(|t| t.1 == i.issue_type);
    let pr = PRIORITIES.iter().find(|p| p.1 == i.priority);
    let mut v = json!({
        "id": i.id.to_string(),
        "key": i.key,
        "self": format!("{base}/rest/api/3/issue/{}", i.id),
        "fields": {
            "summary": i.summary,
            "description": i.description,
            "issuetype": {"id": ty.map(|t| t.0), "name": i.issue_type},
            "priority": {"id": pr.map(|p| p.0), "name": i.priority},
            "status": status_json(&i.status),
            "resolution": i.resolution.as_ref().map(|r| json!({"name": r})),
            "labels": i.labels,
            "created": jira_time(i.created),
            "updated": jira_time(i.updated),
        }
    });
    let props: serde_json::Map<String, Value> = properties
        .iter()
        .filter_map(|p| i.properties.get(p).map(|v| (p.clone(), v.clone())))
        .collect();
    if !properties.is_empty() {
        v["properties"] = Value::Object(props);
    }
    phase_b_issue_fields(d, i, &mut v);
    v
}

fn base(headers: &HeaderMap) -> String {
    headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .map(|h| format!("http://{h}"))
        .unwrap_or_default()
}

async fn myself(headers: HeaderMap) -> Res {
    auth(&headers)?;
    let mut u = user_json(ACCOUNT_ID);
    u["timeZone"] = json!("Europe/Berlin");
    u["emailAddress"] = json!("bot@example.com");
    Ok(axum::Json(u).into_response())
}

fn own_project(st: &St, key: &str) -> Result<(), Response> {
    if key == st.jira.project {
        Ok(())
    } else {
        Err(error(
            StatusCode::NOT_FOUND,
            &format!("No project could be found with key '{key}'."),
        ))
    }
}

async fn project(State(st): State<St>, Path(key): Path<String>, headers: HeaderMap) -> Res {
    auth(&headers)?;
    own_project(&st, &key)?;
    Ok(axum::Json(json!({
        "id": "10000", "key": key, "name": format!("Project {key}"),
        "issueTypes": ISSUE_TYPES.iter().map(|(id, n)| json!({"id": id, "name": n, "subtask": false})).collect::<Vec<_>>(),
    }))
    .into_response())
}

async fn statuses(State(st): State<St>, Path(key): Path<String>, headers: HeaderMap) -> Res {
    auth(&headers)?;
    own_project(&st, &key)?;
    let all: Vec<Value> = STATUSES.iter().map(|s| status_json(s.1)).collect();
    Ok(axum::Json(
        ISSUE_TYPES
            .iter()
            .map(|(id, n)| json!({"id": id, "name": n, "subtask": false, "statuses": all}))
            .collect::<Vec<_>>(),
    )
    .into_response())
}

async fn priorities(headers: HeaderMap) -> Res {
    auth(&headers)?;
    Ok(axum::Json(
        PRIORITIES
            .iter()
            .map(|(id, n)| json!({"id": id, "name": n}))
            .collect::<Vec<_>>(),
    )
    .into_response())
}

/// Reads `fields` of a create or edit into the issue; `Err` is Jira's 400 naming the field.
fn apply_fields(d: &Data, i: &mut JiraIssue, fields: &Value) -> Result<(), Response> {
    let Some(f) = fields.as_object() else {
        return Ok(());
    };
    for (k, v) in f {
        match k.as_str() {
            "summary" => {
                let s = v.as_str().unwrap_or_default();
                if s.trim().is_empty() {
                    return Err(field_error(
                        "summary",
                        "You must specify a summary of the issue.",
                    ));
                }
                i.summary = s.to_string();
            }
            "description" => {
                if !(v.is_null() || v.get("type") == Some(&json!("doc"))) {
                    return Err(field_error(
                        "description",
                        "Operation value must be an Atlassian Document (see the Atlassian Document Format)",
                    ));
                }
                i.description = v.clone();
            }
            "issuetype" => {
                let n = v.get("name").and_then(Value::as_str).unwrap_or_default();
                if !ISSUE_TYPES.iter().any(|t| t.1 == n) {
                    return Err(field_error("issuetype", "Specify a valid issue type"));
                }
                i.issue_type = n.into();
            }
            "priority" => {
                let n = v.get("name").and_then(Value::as_str).unwrap_or_default();
                if !PRIORITIES.iter().any(|p| p.1 == n) {
                    return Err(field_error(
                        "priority",
                        &format!("Priority name '{n}' is not valid"),
                    ));
                }
                i.priority = n.into();
            }
            "labels" => {
                let labels: Vec<String> = v
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect();
                if labels.iter().any(|l| l.contains(' ')) {
                    return Err(field_error("labels", "The label can't contain spaces."));
                }
                i.labels = labels;
            }
            "project" => {}
            "assignee" | "fixVersions" | "duedate" => apply_phase_b_field(d, i, k, v)?,
            other if other.starts_with("customfield_") => apply_phase_b_field(d, i, k, v)?,
            other => {
                return Err(field_error(
                    other,
                    &format!(
                        "Field '{other}' cannot be set. It is not on the appropriate screen, or unknown."
                    ),
                ));
            }
        }
    }
    Ok(())
}

async fn create_issue(State(st): State<St>, headers: HeaderMap, body: Bytes) -> Res {
    auth(&headers)?;
    let v = body_json(&body)?;
    let fields = v.get("fields").cloned().unwrap_or(json!({}));
    let project = fields
        .pointer("/project/key")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if project != st.jira.project {
        return Err(field_error("project", "Specify a valid project ID or key"));
    }
    let now = st.remote.tick();
    let mut d = lock(&st.jira.data);
    let id = d.next_issue;
    let n = d.issues.len() + 1;
    let mut issue = JiraIssue {
        id,
        key: format!("{}-{n}", st.jira.project),
        summary: String::new(),
        description: Value::Null,
        issue_type: "Task".into(),
        priority: "Medium".into(),
        status: "To Do".into(),
        resolution: None,
        labels: Vec::new(),
        created: now,
        updated: now,
        properties: BTreeMap::new(),
        assignee: None,
        fix_versions: Vec::new(),
        due_date: None,
        custom: BTreeMap::new(),
    };
    if fields.get("summary").is_none() {
        return Err(field_error(
            "summary",
            "You must specify a summary of the issue.",
        ));
    }
    apply_fields(&d, &mut issue, &fields)?;
    for p in v
        .get("properties")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let (Some(k), Some(val)) = (p.get("key").and_then(Value::as_str), p.get("value")) {
            issue.properties.insert(k.into(), val.clone());
        }
    }
    d.next_issue += 1;
    let key = issue.key.clone();
    d.issues.insert(key.clone(), issue);
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({"id": id.to_string(), "key": key,
                          "self": format!("{}/rest/api/3/issue/{id}", base(&headers))})),
    )
        .into_response())
}

fn find<'a>(d: &'a Data, key: &str) -> Result<&'a JiraIssue, Response> {
    d.issues
        .get(key)
        .or_else(|| d.issues.values().find(|i| i.id.to_string() == key))
        .ok_or_else(|| {
            error(
                StatusCode::NOT_FOUND,
                "Issue does not exist or you do not have permission to see it.",
            )
        })
}

fn key_of(d: &Data, key: &str) -> Result<String, Response> {
    find(d, key).map(|i| i.key.clone())
}

async fn get_issue(
    State(st): State<St>,
    Path(key): Path<String>,
    Query(q): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Res {
    auth(&headers)?;
    // `properties=a,b`: those issue properties come with the issue.
    let properties: Vec<String> = q
        .get("properties")
        .map(|p| p.split(',').map(|s| s.trim().to_string()).collect())
        .unwrap_or_default();
    let d = lock(&st.jira.data);
    let i = find(&d, &key)?;
    Ok(axum::Json(issue_json(&d, &base(&headers), i, &properties)).into_response())
}

async fn edit_issue(
    State(st): State<St>,
    Path(key): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Res {
    auth(&headers)?;
    let v = body_json(&body)?;
    let now = st.remote.tick();
    let mut d = lock(&st.jira.data);
    let k = key_of(&d, &key)?;
    let mut issue = d.issues[&k].clone();
    apply_fields(&d, &mut issue, v.get("fields").unwrap_or(&Value::Null))?;
    issue.updated = now;
    d.issues.insert(k, issue);
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn get_property(
    State(st): State<St>,
    Path((key, prop)): Path<(String, String)>,
    headers: HeaderMap,
) -> Res {
    auth(&headers)?;
    let d = lock(&st.jira.data);
    let i = find(&d, &key)?;
    match i.properties.get(&prop) {
        Some(v) => Ok(axum::Json(json!({"key": prop, "value": v})).into_response()),
        None => Err(error(
            StatusCode::NOT_FOUND,
            &format!("The property with key '{prop}' does not exist."),
        )),
    }
}

async fn put_property(
    State(st): State<St>,
    Path((key, prop)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Res {
    auth(&headers)?;
    let v = body_json(&body)?;
    let mut d = lock(&st.jira.data);
    let k = key_of(&d, &key)?;
    let created = d
        .issues
        .get_mut(&k)
        .map(|i| i.properties.insert(prop, v).is_none())
        .unwrap_or(false);
    Ok(if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    }
    .into_response())
}

/// One clause of the JQL subset.
enum Clause {
    Project(String),
    Property {
        prop: String,
        path: String,
        value: String,
    },
    UpdatedWithinMinutes(i64),
}

fn unquote(s: &str) -> String {
    s.trim().trim_matches('"').to_string()
}

/// The JQL's clauses, and whether it orders newest first (`ORDER BY updated DESC, key DESC`;
/// else `updated ASC, key ASC`, the default).
fn parse_jql(jql: &str) -> Result<(Vec<Clause>, bool), String> {
    let lower = jql.to_ascii_lowercase();
    let (body, newest_first) = match lower.find(" order by ") {
        Some(at) => {
            let order = lower[at + 10..].trim();
            let desc = match order {
                "updated asc, key asc" => false,
                "updated desc, key desc" => true,
                _ => {
                    return Err(format!(
                        "the fake orders only by `updated ASC, key ASC` or `updated DESC, key \
                         DESC`, not `{order}`"
                    ));
                }
            };
            (&jql[..at], desc)
        }
        None => (jql, false),
    };
    let clauses = body
        .split(" AND ")
        .map(|c| {
            let c = c.trim();
            if let Some(v) = c.strip_prefix("project = ") {
                return Ok(Clause::Project(unquote(v)));
            }
            if let Some(rest) = c.strip_prefix("issue.property[") {
                let (prop, rest) = rest.split_once("].").ok_or(format!("bad clause `{c}`"))?;
                let (path, value) = rest.split_once(" = ").ok_or(format!("bad clause `{c}`"))?;
                return Ok(Clause::Property {
                    prop: prop.into(),
                    path: path.into(),
                    value: unquote(value),
                });
            }
            if let Some(v) = c
                .strip_prefix("updated >= -")
                .and_then(|v| v.strip_suffix('m'))
            {
                return v
                    .parse()
                    .map(Clause::UpdatedWithinMinutes)
                    .map_err(|_| format!("bad clause `{c}`"));
            }
            Err(format!("the fake does not understand the JQL clause `{c}`"))
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok((clauses, newest_first))
}

fn token_of(jql: &str, offset: usize) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in jql.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
    }
    format!("{h:016x}.{offset}")
}

async fn search(State(st): State<St>, headers: HeaderMap, body: Bytes) -> Res {
    auth(&headers)?;
    let v = body_json(&body)?;
    let jql = v.get("jql").and_then(Value::as_str).unwrap_or_default();
    let (clauses, newest_first) = parse_jql(jql).map_err(|e| error(StatusCode::BAD_REQUEST, &e))?;
    let max = v
        .get("maxResults")
        .and_then(Value::as_u64)
        .unwrap_or(50)
        .clamp(1, 5000) as usize;
    let offset = match v.get("nextPageToken").and_then(Value::as_str) {
        None => 0,
        Some(t) => {
            let (h, o) = t.split_once('.').unwrap_or_default();
            match o.parse::<usize>() {
                Ok(o) if token_of(jql, 0).starts_with(h) => o,
                _ => {
                    return Err(error(
                        StatusCode::BAD_REQUEST,
                        "The provided next page token is invalid or expired.",
                    ));
                }
            }
        }
    };
    let properties: Vec<String> = v
        .get("properties")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect();
    let now = st.remote.now();
    let d = lock(&st.jira.data);
    let mut hits: Vec<&JiraIssue> = d
        .issues
        .values()
        .filter(|i| {
            clauses.iter().all(|c| match c {
                Clause::Project(p) => *p == st.jira.project,
                Clause::Property { prop, path, value } => {
                    i.properties
                        .get(prop)
                        .and_then(|p| p.get(path))
                        .and_then(Value::as_str)
                        == Some(value.as_str())
                }
                Clause::UpdatedWithinMinutes(m) => {
                    // Jira compares at minute resolution.
                    let since = now - chrono::Duration::minutes(*m);
                    i.updated.timestamp() / 60 >= since.timestamp() / 60
                }
            })
        })
        .collect();
    hits.sort_by_key(|i| (i.updated, i.id));
    if newest_first {
        hits.reverse();
    }
    let page: Vec<Value> = hits
        .iter()
        .skip(offset)
        .take(max)
        .map(|i| issue_json(&d, &base(&headers), i, &properties))
        .collect();
    let last = offset + max >= hits.len();
    let mut out = json!({"issues": page, "isLast": last});
    if !last {
        out["nextPageToken"] = json!(token_of(jql, offset + max));
    }
    Ok(axum::Json(out).into_response())
}

fn transition_json(t: &(&str, &str, &str, &str, bool)) -> Value {
    let mut fields = serde_json::Map::new();
    if t.4 {
        fields.insert(
            "resolution".into(),
            json!({"required": true, "name": "Resolution", "key": "resolution",
                   "hasDefaultValue": false, "operations": ["set"],
                   "schema": {"type": "resolution", "system": "resolution"},
                   "allowedValues": RESOLUTIONS.iter().map(|r| json!({"name": r})).collect::<Vec<_>>()}),
        );
    }
    json!({"id": t.0, "name": t.1, "to": status_json(t.3), "hasScreen": t.4,
           "isAvailable": true, "fields": fields})
}

async fn transitions(State(st): State<St>, Path(key): Path<String>, headers: HeaderMap) -> Res {
    auth(&headers)?;
    let d = lock(&st.jira.data);
    let i = find(&d, &key)?;
    let list: Vec<Value> = TRANSITIONS
        .iter()
        .filter(|t| t.2 == i.status)
        .map(transition_json)
        .collect();
    Ok(axum::Json(json!({"transitions": list})).into_response())
}

async fn do_transition(
    State(st): State<St>,
    Path(key): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Res {
    auth(&headers)?;
    let v = body_json(&body)?;
    let id = v
        .pointer("/transition/id")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let now = st.remote.tick();
    let mut d = lock(&st.jira.data);
    let k = key_of(&d, &key)?;
    let issue = d
        .issues
        .get_mut(&k)
        .ok_or_else(|| error(StatusCode::NOT_FOUND, "gone"))?;
    let Some(t) = TRANSITIONS
        .iter()
        .find(|t| t.0 == id && t.2 == issue.status)
    else {
        return Err(error(
            StatusCode::BAD_REQUEST,
            &format!("Transition id '{id}' is not valid for this issue."),
        ));
    };
    let resolution = v.pointer("/fields/resolution/name").and_then(Value::as_str);
    if t.4 {
        match resolution {
            Some(r) if RESOLUTIONS.contains(&r) => issue.resolution = Some(r.into()),
            Some(_) => return Err(field_error("resolution", "The resolution is not valid.")),
            None => return Err(field_error("resolution", "Resolution is required.")),
        }
    } else if resolution.is_some() {
        return Err(field_error(
            "resolution",
            "Field 'resolution' cannot be set. It is not on the appropriate screen, or unknown.",
        ));
    } else {
        issue.resolution = None;
    }
    issue.status = t.3.into();
    issue.updated = now;
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn comment_json(d: &Data, base: &str, c: &JiraComment) -> Value {
    json!({"id": c.id.to_string(), "self": format!("{base}/rest/api/3/issue/{}/comment/{}", c.issue, c.id),
           "author": user_value(d, &c.author), "body": c.body,
           "created": jira_time(c.created), "updated": jira_time(c.updated)})
}

async fn list_comments(
    State(st): State<St>,
    Path(key): Path<String>,
    Query(q): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Res {
    auth(&headers)?;
    let d = lock(&st.jira.data);
    let k = key_of(&d, &key)?;
    let start: usize = q.get("startAt").and_then(|s| s.parse().ok()).unwrap_or(0);
    let max: usize = q
        .get("maxResults")
        .and_then(|s| s.parse().ok())
        .unwrap_or(100)
        .clamp(1, 100);
    let all: Vec<&JiraComment> = d.comments.values().filter(|c| c.issue == k).collect();
    let page: Vec<Value> = all
        .iter()
        .skip(start)
        .take(max)
        .map(|c| comment_json_expanded(&d, &base(&headers), c, &q))
        .collect();
    Ok(axum::Json(
        json!({"comments": page, "startAt": start, "maxResults": max, "total": all.len()}),
    )
    .into_response())
}

fn comment_body(v: &Value) -> Result<Value, Response> {
    match v.get("body") {
        Some(b) if b.get("type") == Some(&json!("doc")) => Ok(b.clone()),
        _ => Err(field_error(
            "comment",
            "Comment body must be an Atlassian Document.",
        )),
    }
}

async fn add_comment(
    State(st): State<St>,
    Path(key): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Res {
    auth(&headers)?;
    let v = body_json(&body)?;
    let text = comment_body(&v)?;
    let now = st.remote.tick();
    let mut d = lock(&st.jira.data);
    let k = key_of(&d, &key)?;
    let id = d.next_comment;
    d.next_comment += 1;
    let c = JiraComment {
        id,
        issue: k.clone(),
        body: text,
        author: ACCOUNT_ID.into(),
        created: now,
        updated: now,
        properties: entity_properties(&v),
    };
    d.comments.insert(id, c.clone());
    if let Some(i) = d.issues.get_mut(&k) {
        i.updated = now;
    }
    Ok((
        StatusCode::CREATED,
        axum::Json(comment_json(&d, &base(&headers), &c)),
    )
        .into_response())
}

async fn edit_comment(
    State(st): State<St>,
    Path((key, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Res {
    auth(&headers)?;
    let v = body_json(&body)?;
    let text = comment_body(&v)?;
    let now = st.remote.tick();
    let mut d = lock(&st.jira.data);
    let k = key_of(&d, &key)?;
    let c = id
        .parse::<u64>()
        .ok()
        .and_then(|id| d.comments.get_mut(&id))
        .filter(|c| c.issue == k)
        .ok_or_else(|| error(StatusCode::NOT_FOUND, "Can not find a comment for the id"))?;
    c.body = text;
    c.updated = now;
    let c = c.clone();
    if let Some(i) = d.issues.get_mut(&k) {
        i.updated = now;
    }
    Ok(axum::Json(comment_json(&d, &base(&headers), &c)).into_response())
}

async fn delete_comment(
    State(st): State<St>,
    Path((key, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Res {
    auth(&headers)?;
    let mut d = lock(&st.jira.data);
    let k = key_of(&d, &key)?;
    let id = id.parse::<u64>().unwrap_or(0);
    match d.comments.get(&id) {
        Some(c) if c.issue == k => {
            d.comments.remove(&id);
            let now = st.remote.tick();
            if let Some(i) = d.issues.get_mut(&k) {
                i.updated = now;
            }
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        _ => Err(error(
            StatusCode::NOT_FOUND,
            "Can not find a comment for the id",
        )),
    }
}

// ---------------------------------------------------------------------------------------------
// Phase B: accounts and assignees, project versions (fix versions), field metadata and custom
// fields, comment properties. Kept together here so other additions to the fake merge cleanly.
// ---------------------------------------------------------------------------------------------

/// An account of the fake site. `email: None` is an account whose profile hides its email
/// (Jira then leaves `emailAddress` out of every answer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JiraUser {
    pub account_id: String,
    pub display_name: String,
    pub email: Option<String>,
    /// Whether it may be assigned issues of the project.
    pub assignable: bool,
}

/// A project version (what issues carry as fix versions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JiraVersion {
    pub id: u64,
    pub name: String,
    pub description: String,
    pub release_date: Option<String>,
    pub released: bool,
}

/// The custom fields of the fake site: (id, name, schema type, custom type).
pub const CUSTOM_FIELDS: [(&str, &str, &str, &str); 5] = [
    (
        "customfield_10016",
        "Story point estimate",
        "number",
        "com.pyxis.greenhopper.jira:jsw-story-points",
    ),
    (
        "customfield_10020",
        "Time spent (hours)",
        "number",
        "com.atlassian.jira.plugin.system.customfieldtypes:float",
    ),
    (
        "customfield_10030",
        "Acceptance criteria",
        "string",
        "com.atlassian.jira.plugin.system.customfieldtypes:textarea",
    ),
    (
        "customfield_10040",
        "Target end",
        "date",
        "com.atlassian.jira.plugin.system.customfieldtypes:datepicker",
    ),
    // Two fields of one name: a mapping by that name is ambiguous.
    (
        "customfield_10050",
        "Team",
        "string",
        "com.atlassian.jira.plugin.system.customfieldtypes:textfield",
    ),
];

/// The system fields `GET /field` lists besides the custom ones: (id, name, schema type).
const SYSTEM_FIELDS: [(&str, &str, &str); 8] = [
    ("summary", "Summary", "string"),
    ("description", "Description", "string"),
    ("assignee", "Assignee", "user"),
    ("fixVersions", "Fix versions", "array"),
    ("duedate", "Due date", "date"),
    ("labels", "Labels", "array"),
    ("priority", "Priority", "priority"),
    ("status", "Status", "status"),
];

/// The accounts a new fake holds: devlog's own account, one person whose email is visible and
/// one whose email is hidden, and one who may not be assigned.
fn default_users() -> Vec<JiraUser> {
    let u = |id: &str, name: &str, email: Option<&str>, assignable: bool| JiraUser {
        account_id: id.into(),
        display_name: name.into(),
        email: email.map(str::to_string),
        assignable,
    };
    vec![
        u(ACCOUNT_ID, "devlog bot", Some("bot@example.com"), true),
        u(
            "5b10ac8d82e05b22cc7d4ef5",
            "Alice Example",
            Some("alice@example.com"),
            true,
        ),
        u("5b109f2e9729b51b54dc274d", "Hidden Harry", None, true),
        u(
            "5b10a0effa615349cb016cd8",
            "Visitor Vic",
            Some("vic@example.com"),
            false,
        ),
    ]
}

impl FakeJira {
    /// The site's accounts.
    pub fn users(&self) -> Vec<JiraUser> {
        self.data().users.clone()
    }

    /// Adds an account (a second person of the same display name, ...).
    pub fn add_user(&self, user: JiraUser) {
        self.data().users.push(user);
    }

    /// The project's versions.
    pub fn versions(&self) -> Vec<JiraVersion> {
        self.data().versions.clone()
    }

    /// A version created in Jira by a person.
    pub fn add_version(&self, name: &str, description: &str, release_date: Option<&str>) {
        let mut d = self.data();
        let id = d.next_version;
        d.next_version += 1;
        d.versions.push(JiraVersion {
            id,
            name: name.into(),
            description: description.into(),
            release_date: release_date.map(str::to_string),
            released: false,
        });
    }

    /// Leaves these fields out of every issue answer from now on, as a field configuration
    /// that hides them does (`assignee`: the issue is still assigned, devlog cannot see it).
    pub fn hide_fields(&self, fields: &[&str]) {
        self.data().hidden_fields = fields.iter().map(|f| f.to_string()).collect();
    }

    /// Deletes a comment as a person in Jira would (the issue's `updated` moves).
    pub fn delete_comment(&self, id: u64) -> Option<JiraComment> {
        let now = self.remote.tick();
        let mut d = self.data();
        let c = d.comments.remove(&id)?;
        if let Some(i) = d.issues.get_mut(&c.issue) {
            i.updated = now;
        }
        Some(c)
    }

    /// Edits a comment's text as a person in Jira would.
    pub fn edit_comment(&self, id: u64, text: &str) -> Option<JiraComment> {
        let now = self.remote.tick();
        let mut d = self.data();
        let c = d.comments.get_mut(&id)?;
        c.body = adf_text(text);
        c.updated = now;
        let c = c.clone();
        if let Some(i) = d.issues.get_mut(&c.issue) {
            i.updated = now;
        }
        Some(c)
    }
}

/// An account as Jira answers it (a user the site does not know: the id as its name).
fn user_value(d: &Data, account: &str) -> Value {
    match d.users.iter().find(|u| u.account_id == account) {
        Some(u) => user_of(u),
        None => user_json(account),
    }
}

fn user_of(u: &JiraUser) -> Value {
    let mut v = json!({"accountId": u.account_id, "displayName": u.display_name,
                       "active": true, "accountType": "atlassian"});
    if let Some(e) = &u.email {
        v["emailAddress"] = json!(e);
    }
    v
}

fn version_json(v: &JiraVersion, project_id: &str) -> Value {
    let mut out = json!({"id": v.id.to_string(), "name": v.name, "description": v.description,
                         "archived": false, "released": v.released, "projectId": project_id.parse::<u64>().unwrap_or(0)});
    if let Some(r) = &v.release_date {
        out["releaseDate"] = json!(r);
    }
    out
}

/// The fake project's id (`GET /project/{key}` says the same).
const PROJECT_ID: &str = "10000";

/// The comment properties of a create body's `properties` (`[{key, value}]`).
fn entity_properties(v: &Value) -> BTreeMap<String, Value> {
    v.get("properties")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| Some((p.get("key")?.as_str()?.to_string(), p.get("value")?.clone())))
        .collect()
}

/// A comment, with its properties when the request asked for `expand=properties`.
fn comment_json_expanded(
    d: &Data,
    base: &str,
    c: &JiraComment,
    q: &BTreeMap<String, String>,
) -> Value {
    let mut v = comment_json(d, base, c);
    let expand = q.get("expand").map(String::as_str).unwrap_or_default();
    if expand.split(',').any(|e| e.trim() == "properties") {
        v["properties"] = Value::Array(
            c.properties
                .iter()
                .map(|(k, val)| json!({"key": k, "value": val}))
                .collect(),
        );
    }
    v
}

/// The phase B fields of an issue answer: assignee, fix versions, due date, custom fields.
fn phase_b_issue_fields(d: &Data, i: &JiraIssue, v: &mut Value) {
    let f = &mut v["fields"];
    f["assignee"] = i
        .assignee
        .as_deref()
        .map_or(Value::Null, |a| user_value(d, a));
    f["fixVersions"] = Value::Array(
        i.fix_versions
            .iter()
            .filter_map(|n| d.versions.iter().find(|v| &v.name == n))
            .map(|v| version_json(v, PROJECT_ID))
            .collect(),
    );
    f["duedate"] = i.due_date.as_ref().map_or(Value::Null, |s| json!(s));
    let comments: Vec<Value> = d
        .comments
        .values()
        .filter(|c| c.issue == i.key)
        .map(|c| comment_json(d, "", c))
        .collect();
    f["comment"] = json!({"comments": comments, "total": comments.len(),
                          "maxResults": comments.len(), "startAt": 0});
    let worklogs: Vec<Value> = d
        .worklogs
        .values()
        .filter(|w| w.issue == i.key)
        .map(|w| worklog_json(d, "", w, false))
        .collect();
    f["worklog"] = json!({"worklogs": worklogs, "total": worklogs.len(),
                          "maxResults": worklogs.len(), "startAt": 0});
    for (id, ..) in CUSTOM_FIELDS {
        f[id] = i.custom.get(id).cloned().unwrap_or(Value::Null);
    }
    // Jira Software's Sprint field: every sprint the issue has been in (null: none).
    let sprints: Vec<Value> = d
        .sprint_issues
        .get(&i.key)
        .into_iter()
        .flatten()
        .filter_map(|id| d.sprints.iter().find(|s| s.id == *id))
        .map(|s| sprint_json("", s))
        .collect();
    f[SPRINT_FIELD] = if sprints.is_empty() {
        Value::Null
    } else {
        Value::Array(sprints)
    };
    if let Some(o) = f.as_object_mut() {
        for h in &d.hidden_fields {
            o.remove(h);
        }
    }
}

/// Sets one phase B field of a create or edit; `Err` is Jira's 400 naming the field.
fn apply_phase_b_field(d: &Data, i: &mut JiraIssue, k: &str, v: &Value) -> Result<(), Response> {
    match k {
        "assignee" => {
            if v.is_null() {
                i.assignee = None;
                return Ok(());
            }
            let id = v
                .get("accountId")
                .and_then(Value::as_str)
                .unwrap_or_default();
            match d.users.iter().find(|u| u.account_id == id) {
                Some(u) if u.assignable => i.assignee = Some(id.into()),
                _ => {
                    return Err(field_error(
                        "assignee",
                        &format!("User '{id}' cannot be assigned issues."),
                    ));
                }
            }
        }
        "fixVersions" => {
            let mut names = Vec::new();
            for fv in v.as_array().into_iter().flatten() {
                let found = d.versions.iter().find(|ver| {
                    fv.get("name").and_then(Value::as_str) == Some(ver.name.as_str())
                        || fv.get("id").and_then(Value::as_str) == Some(&ver.id.to_string())
                });
                match found {
                    Some(ver) => names.push(ver.name.clone()),
                    None => {
                        return Err(field_error(
                            "fixVersions",
                            &format!("Version {fv} is not valid"),
                        ));
                    }
                }
            }
            i.fix_versions = names;
        }
        "duedate" => match v {
            Value::Null => i.due_date = None,
            Value::String(s) if chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok() => {
                i.due_date = Some(s.clone());
            }
            _ => return Err(field_error("duedate", "Error parsing date string")),
        },
        id => {
            let Some((_, name, ty, _)) = CUSTOM_FIELDS.iter().find(|f| f.0 == id) else {
                return Err(field_error(
                    id,
                    &format!(
                        "Field '{id}' cannot be set. It is not on the appropriate screen, or unknown."
                    ),
                ));
            };
            let ok = match (*ty, v) {
                (_, Value::Null) => true,
                ("number", Value::Number(_)) => true,
                ("date", Value::String(s)) => {
                    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok()
                }
                // A paragraph (textarea) field takes ADF in API v3.
                ("string", x) if id == "customfield_10030" => x.get("type") == Some(&json!("doc")),
                ("string", Value::String(_)) => true,
                _ => false,
            };
            if !ok {
                return Err(field_error(
                    id,
                    &format!("{name}: the value {v} is not valid for this field"),
                ));
            }
            if v.is_null() {
                i.custom.remove(id);
            } else {
                i.custom.insert(id.into(), v.clone());
            }
        }
    }
    Ok(())
}

/// `GET /user/assignable/search?project=K&query=…`: accounts that may be assigned issues of
/// the project whose display name or email starts with the query (case-insensitive; words of
/// the display name too, as Jira matches).
async fn assignable_users(
    State(st): State<St>,
    Query(q): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Res {
    auth(&headers)?;
    let Some(project) = q.get("project") else {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "One of the following parameters must be provided: issueKey, issueId, project.",
        ));
    };
    own_project(&st, project)?;
    let query = q.get("query").map(|s| s.to_lowercase()).unwrap_or_default();
    let max: usize = q
        .get("maxResults")
        .and_then(|s| s.parse().ok())
        .unwrap_or(50);
    let d = lock(&st.jira.data);
    let hits: Vec<Value> = d
        .users
        .iter()
        .filter(|u| u.assignable)
        .filter(|u| {
            let name = u.display_name.to_lowercase();
            query.is_empty()
                || name.starts_with(&query)
                || name.split_whitespace().any(|w| w.starts_with(&query))
                || u.email
                    .as_deref()
                    .is_some_and(|e| e.to_lowercase().starts_with(&query))
        })
        .take(max)
        .map(user_of)
        .collect();
    Ok(axum::Json(hits).into_response())
}

async fn project_versions(
    State(st): State<St>,
    Path(key): Path<String>,
    headers: HeaderMap,
) -> Res {
    auth(&headers)?;
    own_project(&st, &key)?;
    let d = lock(&st.jira.data);
    Ok(axum::Json(
        d.versions
            .iter()
            .map(|v| version_json(v, PROJECT_ID))
            .collect::<Vec<_>>(),
    )
    .into_response())
}

/// `POST /version`: a name already used in the project is Jira's 400.
async fn create_version(State(st): State<St>, headers: HeaderMap, body: Bytes) -> Res {
    auth(&headers)?;
    let v = body_json(&body)?;
    let project = v
        .get("projectId")
        .map(|p| p.to_string().trim_matches('"').to_string())
        .or_else(|| v.get("project").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_default();
    if project != PROJECT_ID && project != st.jira.project {
        return Err(field_error("project", "Project must be specified."));
    }
    let name = v.get("name").and_then(Value::as_str).unwrap_or_default();
    if name.trim().is_empty() {
        return Err(field_error("name", "You must specify a valid version name"));
    }
    let release_date = v.get("releaseDate").and_then(Value::as_str);
    if let Some(r) = release_date
        && chrono::NaiveDate::parse_from_str(r, "%Y-%m-%d").is_err()
    {
        return Err(field_error("releaseDate", "Invalid date format."));
    }
    let mut d = lock(&st.jira.data);
    if d.versions.iter().any(|x| x.name.eq_ignore_ascii_case(name)) {
        return Err(field_error(
            "name",
            "A version with this name already exists in this project.",
        ));
    }
    let id = d.next_version;
    d.next_version += 1;
    let version = JiraVersion {
        id,
        name: name.into(),
        description: v
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .into(),
        release_date: release_date.map(str::to_string),
        released: v.get("released").and_then(Value::as_bool).unwrap_or(false),
    };
    d.versions.push(version.clone());
    Ok((
        StatusCode::CREATED,
        axum::Json(version_json(&version, PROJECT_ID)),
    )
        .into_response())
}

/// `GET /field`: the system fields devlog may meet and the custom ones.
async fn fields(headers: HeaderMap) -> Res {
    auth(&headers)?;
    let mut out: Vec<Value> = SYSTEM_FIELDS
        .iter()
        .map(|(id, name, ty)| {
            json!({"id": id, "key": id, "name": name, "custom": false, "navigable": true,
                   "orderable": true, "searchable": true, "clauseNames": [id],
                   "schema": {"type": ty, "system": id}})
        })
        .collect();
    for (id, name, ty, custom) in CUSTOM_FIELDS {
        let n: u64 = id
            .trim_start_matches("customfield_")
            .parse()
            .unwrap_or_default();
        out.push(
            json!({"id": id, "key": id, "name": name, "custom": true, "navigable": true,
                        "orderable": true, "searchable": true,
                        "clauseNames": [format!("cf[{n}]"), name],
                        "schema": {"type": ty, "custom": custom, "customId": n}}),
        );
    }
    out.push(json!({"id": SPRINT_FIELD, "key": SPRINT_FIELD, "name": "Sprint",
                    "custom": true, "navigable": true, "orderable": true, "searchable": true,
                    "clauseNames": ["cf[10021]", "Sprint"],
                    "schema": {"type": "array", "items": "json",
                               "custom": "com.pyxis.greenhopper.jira:gh-sprint", "customId": 10021}}));
    // The second "Team" (a name two fields share).
    out.push(json!({"id": "customfield_10051", "key": "customfield_10051", "name": "Team",
                    "custom": true, "navigable": true, "orderable": true, "searchable": true,
                    "clauseNames": ["cf[10051]"],
                    "schema": {"type": "team", "custom": "com.atlassian.jira.plugin.system.customfieldtypes:atlassian-team", "customId": 10051}}));
    Ok(axum::Json(out).into_response())
}

// --- Agile: the board and its sprints ----------------------------------------------------

/// The id of Jira Software's Sprint field on the fake site.
pub const SPRINT_FIELD: &str = "customfield_10021";

/// The id of the project's Scrum board.
pub const BOARD_ID: u64 = 7;

/// A sprint of the board.
#[derive(Debug, Clone, PartialEq)]
pub struct JiraSprint {
    pub id: u64,
    pub name: String,
    /// `closed`, `active` or `future`.
    pub state: String,
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    pub goal: String,
}

fn sprint_json(base: &str, s: &JiraSprint) -> Value {
    let mut v = json!({"id": s.id, "self": format!("{base}/rest/agile/1.0/sprint/{}", s.id),
                       "state": s.state, "name": s.name, "originBoardId": BOARD_ID});
    if let Some(t) = s.start {
        v["startDate"] = json!(jira_time(t));
    }
    if let Some(t) = s.end {
        v["endDate"] = json!(jira_time(t));
    }
    if s.state == "closed" {
        v["completeDate"] = v["endDate"].clone();
    }
    if !s.goal.is_empty() {
        v["goal"] = json!(s.goal);
    }
    v
}

/// `startAt` and `maxResults` of an Agile page request (50 by default, at most 50).
fn agile_page(q: &BTreeMap<String, String>) -> Result<(usize, usize), Response> {
    let num = |k: &str, d: usize| -> Result<usize, Response> {
        q.get(k).map_or(Ok(d), |v| {
            v.parse()
                .map_err(|_| error(StatusCode::BAD_REQUEST, &format!("{k} must be a number")))
        })
    };
    Ok((num("startAt", 0)?, num("maxResults", 50)?.min(50)))
}

async fn board(State(st): State<St>, Path(board): Path<u64>, headers: HeaderMap) -> Res {
    auth(&headers)?;
    if board != BOARD_ID {
        return Err(error(
            StatusCode::NOT_FOUND,
            &format!("Board does not exist or you do not have permission to see it: {board}"),
        ));
    }
    Ok(axum::Json(json!({"id": BOARD_ID, "name": format!("{} board", st.jira.project),
                          "type": "scrum", "self": format!("{}/rest/agile/1.0/board/{BOARD_ID}", base(&headers)),
                          "location": {"projectKey": st.jira.project}}))
    .into_response())
}

async fn board_sprints(
    State(st): State<St>,
    Path(board): Path<u64>,
    Query(q): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Res {
    auth(&headers)?;
    if board != BOARD_ID {
        return Err(error(
            StatusCode::NOT_FOUND,
            &format!("Board does not exist or you do not have permission to see it: {board}"),
        ));
    }
    let (start, max) = agile_page(&q)?;
    let d = lock(&st.jira.data);
    let base = base(&headers);
    let page: Vec<Value> = d
        .sprints
        .iter()
        .skip(start)
        .take(max)
        .map(|s| sprint_json(&base, s))
        .collect();
    let last = start + page.len() >= d.sprints.len();
    Ok(axum::Json(
        json!({"maxResults": max, "startAt": start, "total": d.sprints.len(),
                          "isLast": last, "values": page}),
    )
    .into_response())
}

/// The sprint an issue is in now: its last sprint that is not closed.
fn open_sprint_of(d: &Data, key: &str) -> Option<u64> {
    d.sprint_issues.get(key).and_then(|ids| {
        ids.iter()
            .rev()
            .find(|id| {
                d.sprints
                    .iter()
                    .any(|s| s.id == **id && s.state != "closed")
            })
            .copied()
    })
}

fn find_sprint(d: &Data, id: u64) -> Result<&JiraSprint, Response> {
    d.sprints.iter().find(|s| s.id == id).ok_or_else(|| {
        error(
            StatusCode::NOT_FOUND,
            &format!("Sprint with id {id} does not exist or you do not have permission to see it"),
        )
    })
}

async fn sprint_issues(
    State(st): State<St>,
    Path(sprint): Path<u64>,
    Query(q): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Res {
    auth(&headers)?;
    let (start, max) = agile_page(&q)?;
    let d = lock(&st.jira.data);
    let s = find_sprint(&d, sprint)?;
    let in_it: Vec<&JiraIssue> = d
        .issues
        .values()
        .filter(|i| {
            if s.state == "closed" {
                d.sprint_issues
                    .get(&i.key)
                    .is_some_and(|ids| ids.contains(&sprint))
            } else {
                open_sprint_of(&d, &i.key) == Some(sprint)
            }
        })
        .collect();
    let page: Vec<Value> = in_it
        .iter()
        .skip(start)
        .take(max)
        .map(|i| json!({"id": i.id.to_string(), "key": i.key, "fields": {"status": status_json(&i.status)}}))
        .collect();
    Ok(axum::Json(
        json!({"maxResults": max, "startAt": start, "total": in_it.len(),
                          "issues": page}),
    )
    .into_response())
}

/// `POST /sprint/{id}/issue`: moves issues into an open sprint (out of their open one).
async fn move_to_sprint(
    State(st): State<St>,
    Path(sprint): Path<u64>,
    headers: HeaderMap,
    body: Bytes,
) -> Res {
    auth(&headers)?;
    let v = body_json(&body)?;
    let keys: Vec<String> = v
        .get("issues")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|k| k.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    if keys.is_empty() || keys.len() > 50 {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "issues: between 1 and 50 issues can be moved at once",
        ));
    }
    let now = st.remote.tick();
    let mut d = lock(&st.jira.data);
    if find_sprint(&d, sprint)?.state == "closed" {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "Issues cannot be moved to a closed sprint",
        ));
    }
    for k in &keys {
        find(&d, k)?;
    }
    for k in keys {
        let key = key_of(&d, &k)?;
        let open = open_sprint_of(&d, &key);
        let ids = d.sprint_issues.entry(key.clone()).or_default();
        if let Some(o) = open {
            ids.retain(|id| *id != o);
        }
        if !ids.contains(&sprint) {
            ids.push(sprint);
            // The Sprint field changed: Jira moves the issue's `updated`.
            if let Some(i) = d.issues.get_mut(&key) {
                i.updated = now;
            }
        }
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /rest/agile/1.0/issue/{key}`: the issue with its sprint fields.
async fn agile_issue(State(st): State<St>, Path(key): Path<String>, headers: HeaderMap) -> Res {
    auth(&headers)?;
    let d = lock(&st.jira.data);
    let i = find(&d, &key)?;
    let base = base(&headers);
    let open = open_sprint_of(&d, &i.key);
    let sprint = open
        .and_then(|id| d.sprints.iter().find(|s| s.id == id))
        .map(|s| sprint_json(&base, s));
    let closed: Vec<Value> = d
        .sprint_issues
        .get(&i.key)
        .into_iter()
        .flatten()
        .filter_map(|id| {
            d.sprints
                .iter()
                .find(|s| s.id == *id && s.state == "closed")
        })
        .map(|s| sprint_json(&base, s))
        .collect();
    Ok(axum::Json(json!({"id": i.id.to_string(), "key": i.key,
                          "fields": {"sprint": sprint, "closedSprints": closed,
                                     "status": status_json(&i.status)}}))
    .into_response())
}

impl FakeJira {
    /// Moves an issue into a sprint as a person on the board would (out of its open sprint;
    /// its `updated` moves).
    pub fn move_issue_to_sprint(&self, key: &str, sprint: u64) {
        let now = self.remote.tick();
        let mut d = self.data();
        let open = open_sprint_of(&d, key);
        let ids = d.sprint_issues.entry(key.to_string()).or_default();
        if let Some(o) = open {
            ids.retain(|id| *id != o);
        }
        if !ids.contains(&sprint) {
            ids.push(sprint);
        }
        if let Some(i) = d.issues.get_mut(key) {
            i.updated = now;
        }
    }

    /// Adds a sprint to the board (`closed`, `active` or `future`); returns its id.
    pub fn add_sprint(
        &self,
        name: &str,
        state: &str,
        start: Option<DateTime<Utc>>,
        end: Option<DateTime<Utc>>,
    ) -> u64 {
        let mut d = self.data();
        let id = 40_001 + d.sprints.len() as u64;
        d.sprints.push(JiraSprint {
            id,
            name: name.into(),
            state: state.into(),
            start,
            end,
            goal: String::new(),
        });
        id
    }

    /// Sets a sprint's state (starting or closing it, as a person on the board would).
    pub fn set_sprint_state(&self, id: u64, state: &str) {
        if let Some(s) = self.data().sprints.iter_mut().find(|s| s.id == id) {
            s.state = state.into();
        }
    }

    /// The sprint an issue is in now.
    pub fn sprint_of(&self, key: &str) -> Option<u64> {
        open_sprint_of(&self.data(), key)
    }
}

// ---- What `devlog jira link|unlink` needs: an issue someone created in Jira, and deleting
// an issue property (the marker, on unlink).

impl FakeJira {
    /// An issue created by someone in Jira (no devlog marker): a To Do task.
    pub fn insert_issue(&self, summary: &str) -> JiraIssue {
        let now = self.remote.tick();
        let mut d = self.data();
        let id = d.next_issue;
        d.next_issue += 1;
        let n = d.issues.len() + 1;
        let issue = JiraIssue {
            id,
            key: format!("{}-{n}", self.shared.project),
            summary: summary.into(),
            description: Value::Null,
            issue_type: "Task".into(),
            priority: "Medium".into(),
            status: "To Do".into(),
            resolution: None,
            labels: Vec::new(),
            created: now,
            updated: now,
            properties: BTreeMap::new(),
            assignee: None,
            fix_versions: Vec::new(),
            due_date: None,
            custom: BTreeMap::new(),
        };
        d.issues.insert(issue.key.clone(), issue.clone());
        issue
    }
}

async fn delete_property(
    State(st): State<St>,
    Path((key, prop)): Path<(String, String)>,
    headers: HeaderMap,
) -> Res {
    auth(&headers)?;
    let mut d = lock(&st.jira.data);
    let k = key_of(&d, &key)?;
    match d
        .issues
        .get_mut(&k)
        .and_then(|i| i.properties.remove(&prop))
    {
        Some(_) => Ok(StatusCode::NO_CONTENT.into_response()),
        None => Err(error(
            StatusCode::NOT_FOUND,
            &format!("The property with key '{prop}' does not exist."),
        )),
    }
}

// ---------------------------------------------------------------------------------------------
// Worklogs (time tracking), with worklog properties.
// ---------------------------------------------------------------------------------------------

impl FakeJira {
    /// The issue's worklogs, oldest first.
    pub fn worklogs(&self, key: &str) -> Vec<JiraWorklog> {
        self.data()
            .worklogs
            .values()
            .filter(|w| w.issue == key)
            .cloned()
            .collect()
    }

    /// Time logged in Jira by someone else (the issue's `updated` moves).
    pub fn add_worklog(
        &self,
        key: &str,
        author: &str,
        started: &str,
        seconds: u64,
        text: &str,
    ) -> Option<JiraWorklog> {
        let now = self.remote.tick();
        let mut d = self.data();
        d.issues.get(key)?;
        let id = d.next_worklog;
        d.next_worklog += 1;
        let w = JiraWorklog {
            id,
            issue: key.into(),
            author: author.into(),
            started: started.into(),
            seconds,
            comment: (!text.is_empty()).then(|| adf_text(text)),
            created: now,
            updated: now,
            properties: BTreeMap::new(),
        };
        d.worklogs.insert(id, w.clone());
        if let Some(i) = d.issues.get_mut(key) {
            i.updated = now;
        }
        Some(w)
    }

    /// Changes a worklog as a person in Jira would.
    pub fn edit_worklog(
        &self,
        id: u64,
        edit: impl FnOnce(&mut JiraWorklog),
    ) -> Option<JiraWorklog> {
        let now = self.remote.tick();
        let mut d = self.data();
        let w = d.worklogs.get_mut(&id)?;
        edit(w);
        w.updated = now;
        let w = w.clone();
        if let Some(i) = d.issues.get_mut(&w.issue) {
            i.updated = now;
        }
        Some(w)
    }

    /// Deletes a worklog as a person in Jira would.
    pub fn delete_worklog(&self, id: u64) -> Option<JiraWorklog> {
        let now = self.remote.tick();
        let mut d = self.data();
        let w = d.worklogs.remove(&id)?;
        if let Some(i) = d.issues.get_mut(&w.issue) {
            i.updated = now;
        }
        Some(w)
    }
}

fn worklog_json(d: &Data, base: &str, w: &JiraWorklog, properties: bool) -> Value {
    let mut v = json!({"id": w.id.to_string(), "issueId": w.issue,
        "self": format!("{base}/rest/api/3/issue/{}/worklog/{}", w.issue, w.id),
        "author": user_value(d, &w.author), "updateAuthor": user_value(d, &w.author),
        "started": w.started, "timeSpentSeconds": w.seconds,
        "timeSpent": format!("{}m", w.seconds / 60),
        "created": jira_time(w.created), "updated": jira_time(w.updated)});
    if let Some(c) = &w.comment {
        v["comment"] = c.clone();
    }
    if properties {
        v["properties"] = Value::Array(
            w.properties
                .iter()
                .map(|(k, val)| json!({"key": k, "value": val}))
                .collect(),
        );
    }
    v
}

/// `started`, the seconds spent and the comment of a worklog body (`None`: not given).
type WorklogFields = (Option<String>, Option<u64>, Option<Value>);

/// `started` and the time spent of a create or update body, as Jira checks them: `started` in
/// its strict form (`2026-12-06T09:00:00.000+0000`), at least one minute, `timeSpent` and
/// `timeSpentSeconds` not both.
fn worklog_fields(v: &Value, create: bool) -> Result<WorklogFields, Response> {
    let started = match v.get("started") {
        None if create => return Err(field_error("started", "Started date is required.")),
        None => None,
        Some(s) => {
            let s = s.as_str().unwrap_or_default();
            if DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.3f%z").is_err() || s.len() != 28 {
                return Err(field_error("started", "Invalid date format."));
            }
            Some(s.to_string())
        }
    };
    if v.get("timeSpent").is_some() {
        return Err(field_error(
            "timeLogged",
            "devlog sends timeSpentSeconds; this fake does not parse timeSpent.",
        ));
    }
    let seconds = match v.get("timeSpentSeconds") {
        None if create => return Err(field_error("timeLogged", "Time Spent is required.")),
        None => None,
        Some(s) => match s.as_u64() {
            Some(n) if n >= 60 => Some(n),
            _ => {
                return Err(field_error(
                    "timeLogged",
                    "Worklog must not be less than 1 minute.",
                ));
            }
        },
    };
    let comment = match v.get("comment") {
        None => None,
        Some(c) if c.get("type") == Some(&json!("doc")) => Some(c.clone()),
        Some(_) => {
            return Err(field_error(
                "comment",
                "Comment must be an Atlassian Document.",
            ));
        }
    };
    Ok((started, seconds, comment))
}

async fn list_worklogs(
    State(st): State<St>,
    Path(key): Path<String>,
    Query(q): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Res {
    auth(&headers)?;
    let d = lock(&st.jira.data);
    let k = key_of(&d, &key)?;
    let start: usize = q.get("startAt").and_then(|s| s.parse().ok()).unwrap_or(0);
    let max: usize = q
        .get("maxResults")
        .and_then(|s| s.parse().ok())
        .unwrap_or(5000)
        .clamp(1, 5000);
    let expand = q.get("expand").map(String::as_str).unwrap_or_default();
    let props = expand.split(',').any(|e| e.trim() == "properties");
    let all: Vec<&JiraWorklog> = d.worklogs.values().filter(|w| w.issue == k).collect();
    let page: Vec<Value> = all
        .iter()
        .skip(start)
        .take(max)
        .map(|w| worklog_json(&d, &base(&headers), w, props))
        .collect();
    Ok(axum::Json(
        json!({"worklogs": page, "startAt": start, "maxResults": max, "total": all.len()}),
    )
    .into_response())
}

async fn add_worklog(
    State(st): State<St>,
    Path(key): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Res {
    auth(&headers)?;
    let v = body_json(&body)?;
    let (started, seconds, comment) = worklog_fields(&v, true)?;
    let now = st.remote.tick();
    let mut d = lock(&st.jira.data);
    let k = key_of(&d, &key)?;
    let id = d.next_worklog;
    d.next_worklog += 1;
    let w = JiraWorklog {
        id,
        issue: k.clone(),
        author: ACCOUNT_ID.into(),
        started: started.unwrap_or_default(),
        seconds: seconds.unwrap_or(60),
        comment,
        created: now,
        updated: now,
        properties: entity_properties(&v),
    };
    d.worklogs.insert(id, w.clone());
    if let Some(i) = d.issues.get_mut(&k) {
        i.updated = now;
    }
    Ok((
        StatusCode::CREATED,
        axum::Json(worklog_json(&d, &base(&headers), &w, false)),
    )
        .into_response())
}

async fn edit_worklog(
    State(st): State<St>,
    Path((key, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Res {
    auth(&headers)?;
    let v = body_json(&body)?;
    let (started, seconds, comment) = worklog_fields(&v, false)?;
    let now = st.remote.tick();
    let mut d = lock(&st.jira.data);
    let k = key_of(&d, &key)?;
    let w = id
        .parse::<u64>()
        .ok()
        .and_then(|id| d.worklogs.get_mut(&id))
        .filter(|w| w.issue == k)
        .ok_or_else(|| error(StatusCode::NOT_FOUND, "Cannot find worklog with id."))?;
    if let Some(s) = started {
        w.started = s;
    }
    if let Some(n) = seconds {
        w.seconds = n;
    }
    if v.get("comment").is_some() {
        w.comment = comment;
    }
    w.updated = now;
    let w = w.clone();
    if let Some(i) = d.issues.get_mut(&k) {
        i.updated = now;
    }
    Ok(axum::Json(worklog_json(&d, &base(&headers), &w, false)).into_response())
}

async fn delete_worklog(
    State(st): State<St>,
    Path((key, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Res {
    auth(&headers)?;
    let mut d = lock(&st.jira.data);
    let k = key_of(&d, &key)?;
    let id = id.parse::<u64>().unwrap_or(0);
    match d.worklogs.get(&id) {
        Some(w) if w.issue == k => {
            d.worklogs.remove(&id);
            let now = st.remote.tick();
            if let Some(i) = d.issues.get_mut(&k) {
                i.updated = now;
            }
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        _ => Err(error(StatusCode::NOT_FOUND, "Cannot find worklog with id.")),
    }
}
