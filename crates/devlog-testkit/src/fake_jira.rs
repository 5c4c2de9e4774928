//! A fake Jira Cloud REST API v3 (the subset devlog's Jira integration uses), mounted on the
//! [`FakeRemote`](crate::fake_remote::FakeRemote) harness so it shares its request log,
//! faults, clock and rate-limit headers.
//!
//! Implemented, stateful: `GET /rest/api/3/myself`; the project (`GET …/project/{key}` with
//! its issue types, `…/project/{key}/statuses`, `GET …/priority`); issues (`POST …/issue`
//! with `properties`, `GET …/issue/{key}` with `properties`, `PUT …/issue/{key}`, `GET/PUT …/issue/{key}/properties/{prop}`);
//! `POST …/search/jql` with `nextPageToken` paging for the JQL subset devlog sends
//! (`project = K`, `issue.property[p].id = "…"`, `updated >= -Nm`, joined by `AND`, then
//! `ORDER BY updated ASC, key ASC`; anything else is a 400 naming the clause); transitions
//! (`GET/POST …/issue/{key}/transitions`) over a workflow To Do → In Progress → In Review →
//! Done whose transition to Done requires a resolution on its screen; comments
//! (`GET/POST …/issue/{key}/comment`, `PUT/DELETE …/comment/{id}`). Basic or Bearer auth is
//! required (401 otherwise).
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

/// Checks one request against the trimmed description, or the full one for a path the
/// trimmed one lacks.
pub fn check_request(r: &RecordedRequest) -> Result<(), String> {
    if r.path.starts_with("/rest/agile/") {
        return agile_check_request(r);
    }
    let (trimmed, full) = specs();
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
}

#[derive(Debug, Default)]
struct Data {
    next_issue: u64,
    next_comment: u64,
    issues: BTreeMap<String, JiraIssue>,
    comments: BTreeMap<u64, JiraComment>,
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
            .merge(wiring_routes())
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
        };
        d.comments.insert(id, c.clone());
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

fn issue_json(base: &str, i: &JiraIssue, properties: &[String]) -> Value {
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
fn apply_fields(i: &mut JiraIssue, fields: &Value) -> Result<(), Response> {
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
    };
    if fields.get("summary").is_none() {
        return Err(field_error(
            "summary",
            "You must specify a summary of the issue.",
        ));
    }
    apply_fields(&mut issue, &fields)?;
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
    Ok(axum::Json(issue_json(&base(&headers), i, &properties)).into_response())
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
    apply_fields(&mut issue, v.get("fields").unwrap_or(&Value::Null))?;
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

fn parse_jql(jql: &str) -> Result<Vec<Clause>, String> {
    let lower = jql.to_ascii_lowercase();
    let body = match lower.find(" order by ") {
        Some(at) => {
            let order = lower[at + 10..].trim();
            if order != "updated asc, key asc" {
                return Err(format!(
                    "the fake orders only by `updated ASC, key ASC`, not `{order}`"
                ));
            }
            &jql[..at]
        }
        None => jql,
    };
    body.split(" AND ")
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
        .collect()
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
    let clauses = parse_jql(jql).map_err(|e| error(StatusCode::BAD_REQUEST, &e))?;
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
    let page: Vec<Value> = hits
        .iter()
        .skip(offset)
        .take(max)
        .map(|i| issue_json(&base(&headers), i, &properties))
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

fn comment_json(base: &str, c: &JiraComment) -> Value {
    json!({"id": c.id.to_string(), "self": format!("{base}/rest/api/3/issue/{}/comment/{}", c.issue, c.id),
           "author": user_json(&c.author), "body": c.body,
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
        .map(|c| comment_json(&base(&headers), c))
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
    };
    d.comments.insert(id, c.clone());
    if let Some(i) = d.issues.get_mut(&k) {
        i.updated = now;
    }
    Ok((
        StatusCode::CREATED,
        axum::Json(comment_json(&base(&headers), &c)),
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
    Ok(axum::Json(comment_json(&base(&headers), &c)).into_response())
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
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        _ => Err(error(
            StatusCode::NOT_FOUND,
            "Can not find a comment for the id",
        )),
    }
}

// ---- What the CLI/MCP/server wiring needs (docs/jira.md): unlink (delete a property), the
// field metadata, the board and sprints (Agile 1.0, checked against the Jira Software
// description `apispecs/jira/software/jira-agile.trimmed.json`, the full one beside it for a
// path it lacks).

/// The board the fake serves (`boardId`), of the fake's project.
pub const BOARD_ID: u64 = 7;

/// The fields `GET /rest/api/3/field` lists: (id, name, custom).
pub const FIELDS: [(&str, &str, bool); 5] = [
    ("summary", "Summary", false),
    ("description", "Description", false),
    ("duedate", "Due date", false),
    ("customfield_10016", "Story point estimate", true),
    ("customfield_10020", "Sprint", true),
];

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
                "the full Jira Software API description",
            ),
        )
    })
}

fn agile_check_request(r: &RecordedRequest) -> Result<(), String> {
    let (trimmed, full) = agile_specs();
    if has_operation(trimmed, &r.method, &r.path) {
        crate::openapi::check_request(trimmed, r)
    } else {
        crate::openapi::check_request(full, r)
    }
}

/// A sprint of the fake board.
#[derive(Debug, Clone, PartialEq)]
pub struct JiraSprint {
    pub id: u64,
    pub name: String,
    /// `future`, `active` or `closed`.
    pub state: String,
    /// Issue keys in the sprint.
    pub issues: Vec<String>,
}

fn sprints() -> &'static Mutex<BTreeMap<(usize, u64), JiraSprint>> {
    static SPRINTS: OnceLock<Mutex<BTreeMap<(usize, u64), JiraSprint>>> = OnceLock::new();
    SPRINTS.get_or_init(Default::default)
}

/// Sprints are kept per fake (keyed by its shared state's address).
fn fake_id(shared: &Arc<Shared>) -> usize {
    Arc::as_ptr(shared) as usize
}

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
        };
        d.issues.insert(issue.key.clone(), issue.clone());
        issue
    }

    /// Adds (or replaces) a sprint of the board holding `issues`.
    pub fn put_sprint(&self, id: u64, name: &str, state: &str, issues: &[&str]) {
        lock(sprints()).insert(
            (fake_id(&self.shared), id),
            JiraSprint {
                id,
                name: name.into(),
                state: state.into(),
                issues: issues.iter().map(|s| s.to_string()).collect(),
            },
        );
    }
}

fn wiring_routes() -> Router<St> {
    Router::new()
        .route("/rest/api/3/field", get(list_fields))
        .route("/rest/agile/1.0/board/{id}", get(get_board))
        .route("/rest/agile/1.0/sprint/{id}/issue", get(sprint_issues))
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

async fn list_fields(headers: HeaderMap) -> Res {
    auth(&headers)?;
    let v: Vec<Value> = FIELDS
        .iter()
        .map(|(id, name, custom)| {
            json!({"id": id, "key": id, "name": name, "custom": custom,
                   "navigable": true, "orderable": true, "searchable": true})
        })
        .collect();
    Ok(axum::Json(v).into_response())
}

async fn get_board(State(st): State<St>, Path(id): Path<u64>, headers: HeaderMap) -> Res {
    auth(&headers)?;
    if id != BOARD_ID {
        return Err(error(
            StatusCode::NOT_FOUND,
            "The requested board cannot be viewed because it either does not exist or you do not have permission to view it.",
        ));
    }
    Ok(axum::Json(json!({
        "id": id, "name": format!("{} board", st.jira.project), "type": "scrum",
        "location": {"projectKey": st.jira.project, "projectName": st.jira.project},
    }))
    .into_response())
}

async fn sprint_issues(
    State(st): State<St>,
    Path(id): Path<u64>,
    Query(q): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Res {
    auth(&headers)?;
    let Some(sprint) = lock(sprints()).get(&(fake_id(&st.jira), id)).cloned() else {
        return Err(error(StatusCode::NOT_FOUND, "Sprint does not exist."));
    };
    if let Some(jql) = q.get("jql")
        && jql.trim() != format!("project = {}", st.jira.project)
    {
        return Err(error(
            StatusCode::BAD_REQUEST,
            &format!("the fake supports `project = K` only, not `{jql}`"),
        ));
    }
    let at: usize = q.get("startAt").and_then(|s| s.parse().ok()).unwrap_or(0);
    let max: usize = q
        .get("maxResults")
        .and_then(|s| s.parse().ok())
        .unwrap_or(50);
    let d = lock(&st.jira.data);
    let base = base(&headers);
    let issues: Vec<Value> = sprint
        .issues
        .iter()
        .filter_map(|k| d.issues.get(k))
        .skip(at)
        .take(max)
        .map(|i| json!({"id": i.id.to_string(), "key": i.key, "self": format!("{base}/rest/agile/1.0/issue/{}", i.id),
                        "fields": {"summary": i.summary}}))
        .collect();
    Ok(axum::Json(
        json!({"startAt": at, "maxResults": max, "total": sprint.issues.len(), "issues": issues}),
    )
    .into_response())
}
