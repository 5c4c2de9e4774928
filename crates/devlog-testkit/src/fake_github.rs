//! A fake GitHub REST API (the issues subset devlog-github uses), mounted on the
//! [`FakeRemote`](crate::fake_remote::FakeRemote) harness so it shares its request log,
//! faults, clock and rate-limit headers.
//!
//! Implemented: `POST/GET /repos/{owner}/{repo}/issues` (list with `state`, `since`
//! (inclusive), `sort`, `direction`, `per_page`/`page` with a `Link` header, `ETag`/304),
//! `GET/PATCH /repos/{owner}/{repo}/issues/{n}`, `GET /search/issues` (the quoted phrase of
//! `q` in bodies, `repo:` qualifier). A wrong bearer token gets 401, another repository 404.
//!
//! **Contract check**: every request the server received (faulted ones too) is validated
//! against GitHub's OpenAPI description (`apispecs/github/api.github.com.trimmed.json`):
//! the method and path template must exist, every query parameter must be declared (and
//! match its enum/integer schema), and a JSON body must validate against the operation's
//! request schema (OpenAPI 3.0 `nullable` is translated, `$ref`s resolve within the
//! document). [`FakeGithub::check_contract`] lists violations; dropping a [`FakeGithub`]
//! whose server received a request the description does not allow panics, so every test
//! that uses it checks the contract.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::fake_remote::{
    FakeState, RecordedRequest, content_etag, json_error, json_with_etag, link_header, origin,
    query_pairs, rfc3339,
};

/// Where the OpenAPI description lives (`DEVLOG_GITHUB_OPENAPI` overrides).
pub fn spec_path() -> String {
    std::env::var("DEVLOG_GITHUB_OPENAPI").unwrap_or_else(|_| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/apispecs/github/api.github.com.trimmed.json"
        )
        .to_string()
    })
}

/// An issue (or pull request) of the fake repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GhIssue {
    pub number: u64,
    pub title: String,
    pub body: Option<String>,
    pub state: String,
    pub state_reason: Option<String>,
    pub labels: Vec<String>,
    pub assignees: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub pull_request: bool,
}

impl GhIssue {
    fn to_json(&self, base: &str, owner: &str, repo: &str) -> Value {
        let user = |l: &str| json!({"login": l, "id": 1, "type": "User"});
        let mut v = json!({
            "id": 1_000_000 + self.number,
            "node_id": format!("I_{}", self.number),
            "url": format!("{base}/repos/{owner}/{repo}/issues/{}", self.number),
            "html_url": format!("https://github.com/{owner}/{repo}/issues/{}", self.number),
            "number": self.number,
            "title": self.title,
            "body": self.body,
            "state": self.state,
            "state_reason": self.state_reason,
            "locked": false,
            "labels": self.labels.iter().enumerate().map(|(i, l)| json!({
                "id": i + 1, "name": l, "color": "ededed", "default": false, "description": null
            })).collect::<Vec<_>>(),
            "assignee": self.assignees.first().map(|a| user(a)),
            "assignees": self.assignees.iter().map(|a| user(a)).collect::<Vec<_>>(),
            "user": user("octocat"),
            "comments": 0,
            "created_at": rfc3339(self.created_at),
            "updated_at": rfc3339(self.updated_at),
            "closed_at": self.closed_at.map(rfc3339),
        });
        if self.pull_request {
            v["pull_request"] = json!({
                "url": format!("{base}/repos/{owner}/{repo}/pulls/{}", self.number)
            });
        }
        v
    }
}

#[derive(Debug, Default)]
struct Data {
    issues: BTreeMap<u64, GhIssue>,
    next: u64,
    created: u64,
}

#[derive(Debug)]
struct Shared {
    owner: String,
    repo: String,
    token: String,
    data: Mutex<Data>,
    /// Classic-token scopes sent as `X-OAuth-Scopes` (with `X-Accepted-OAuth-Scopes: repo`).
    scopes: Mutex<Option<String>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The fake GitHub: its data, its routes, the contract check. Cheap to clone; the check runs
/// when the last handle the test holds is dropped.
#[derive(Debug, Clone)]
pub struct FakeGithub {
    shared: Arc<Shared>,
    remote: FakeState,
    _guard: Arc<ContractGuard>,
}

#[derive(Debug)]
struct ContractGuard {
    remote: FakeState,
}

impl Drop for ContractGuard {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        let violations = check_requests(&self.remote.requests());
        assert!(
            violations.is_empty(),
            "requests the GitHub API description does not allow:\n{}",
            violations.join("\n")
        );
    }
}

#[derive(Clone)]
struct RouteState {
    gh: Arc<Shared>,
    remote: FakeState,
}

impl FakeGithub {
    /// A fake holding repository `owner/repo`, accepting `Bearer <token>`; `remote` is the
    /// harness's state ([`crate::fake_remote::FakeRemoteBuilder::state`]).
    pub fn new(remote: FakeState, owner: &str, repo: &str, token: &str) -> Self {
        Self {
            shared: Arc::new(Shared {
                owner: owner.into(),
                repo: repo.into(),
                token: token.into(),
                data: Mutex::new(Data {
                    next: 1,
                    ..Data::default()
                }),
                scopes: Mutex::new(None),
            }),
            _guard: Arc::new(ContractGuard {
                remote: remote.clone(),
            }),
            remote,
        }
    }

    /// The routes to mount with [`crate::fake_remote::FakeRemoteBuilder::routes`] (use
    /// `without_tracker()`: the fake answers every path, GitHub-style 404 for unknown ones).
    pub fn router(&self) -> Router {
        let st = RouteState {
            gh: self.shared.clone(),
            remote: self.remote.clone(),
        };
        Router::new()
            .route(
                "/repos/{owner}/{repo}/issues",
                get(list_issues).post(create_issue),
            )
            .route(
                "/repos/{owner}/{repo}/issues/{number}",
                get(get_issue).patch(update_issue),
            )
            .route("/search/issues", get(search_issues))
            .route(
                "/{*rest}",
                axum::routing::any(|| async { json_error(StatusCode::NOT_FOUND, "Not Found") }),
            )
            .layer(axum::middleware::map_response_with_state(
                st.clone(),
                add_scope_headers,
            ))
            .with_state(st)
    }

    /// Makes every response carry `X-OAuth-Scopes: <scopes>` and
    /// `X-Accepted-OAuth-Scopes: repo`, as GitHub does for classic tokens (`None`: neither).
    pub fn set_token_scopes(&self, scopes: Option<&str>) {
        *lock(&self.shared.scopes) = scopes.map(str::to_string);
    }

    /// Violations of the API description among all requests received so far.
    pub fn check_contract(&self) -> Vec<String> {
        check_requests(&self.remote.requests())
    }

    pub fn issues(&self) -> Vec<GhIssue> {
        lock(&self.shared.data).issues.values().cloned().collect()
    }

    pub fn issue(&self, number: u64) -> Option<GhIssue> {
        lock(&self.shared.data).issues.get(&number).cloned()
    }

    /// Issues created through `POST …/issues` (including those whose response was dropped).
    pub fn issues_created(&self) -> u64 {
        lock(&self.shared.data).created
    }

    /// Changes an issue as someone on GitHub would (bumps `updated_at`).
    pub fn edit_issue(&self, number: u64, edit: impl FnOnce(&mut GhIssue)) -> Option<GhIssue> {
        let now = self.remote.tick();
        let mut d = lock(&self.shared.data);
        let issue = d.issues.get_mut(&number)?;
        edit(issue);
        issue.updated_at = now;
        Some(issue.clone())
    }

    /// Adds an issue (or, with `pull_request`, a pull request) directly.
    pub fn insert_issue(&self, title: &str, body: &str, pull_request: bool) -> GhIssue {
        let now = self.remote.tick();
        let mut d = lock(&self.shared.data);
        let number = d.next;
        d.next += 1;
        let issue = GhIssue {
            number,
            title: title.into(),
            body: Some(body.into()),
            state: "open".into(),
            state_reason: None,
            labels: Vec::new(),
            assignees: Vec::new(),
            created_at: now,
            updated_at: now,
            closed_at: None,
            pull_request,
        };
        d.issues.insert(number, issue.clone());
        issue
    }
}

// ---- handlers ----

async fn add_scope_headers(State(st): State<RouteState>, mut resp: Response) -> Response {
    if let Some(s) = lock(&st.gh.scopes).clone()
        && let Ok(v) = HeaderValue::from_str(&s)
    {
        resp.headers_mut().insert("x-oauth-scopes", v);
        resp.headers_mut()
            .insert("x-accepted-oauth-scopes", HeaderValue::from_static("repo"));
    }
    resp
}

fn gate(st: &RouteState, headers: &HeaderMap, owner: &str, repo: &str) -> Option<Response> {
    if let Some(r) = auth(st, headers) {
        return Some(r);
    }
    (owner != st.gh.owner || repo != st.gh.repo)
        .then(|| json_error(StatusCode::NOT_FOUND, "Not Found"))
}

fn auth(st: &RouteState, headers: &HeaderMap) -> Option<Response> {
    let expected = format!("Bearer {}", st.gh.token);
    let ok = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == expected);
    (!ok).then(|| json_error(StatusCode::UNAUTHORIZED, "Bad credentials"))
}

fn base(headers: &HeaderMap) -> String {
    origin(headers)
}

fn names(v: Option<&Value>, key: &str) -> Option<Vec<String>> {
    v.and_then(Value::as_array).map(|a| {
        a.iter()
            .filter_map(|x| {
                x.as_str()
                    .map(str::to_string)
                    .or_else(|| x.get(key).and_then(Value::as_str).map(str::to_string))
            })
            .collect()
    })
}

fn title_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

async fn create_issue(
    State(st): State<RouteState>,
    Path((owner, repo)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(r) = gate(&st, &headers, &owner, &repo) {
        return r;
    }
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return json_error(StatusCode::BAD_REQUEST, "Problems parsing JSON");
    };
    let Some(title) = v.get("title").and_then(title_of) else {
        return json_error(StatusCode::UNPROCESSABLE_ENTITY, "Validation Failed: title");
    };
    let now = st.remote.tick();
    let mut d = lock(&st.gh.data);
    let number = d.next;
    d.next += 1;
    d.created += 1;
    let mut assignees = names(v.get("assignees"), "login").unwrap_or_default();
    if let Some(a) = v.get("assignee").and_then(Value::as_str) {
        assignees.push(a.to_string());
    }
    let issue = GhIssue {
        number,
        title,
        body: v.get("body").and_then(Value::as_str).map(str::to_string),
        state: "open".into(),
        state_reason: None,
        labels: names(v.get("labels"), "name").unwrap_or_default(),
        assignees,
        created_at: now,
        updated_at: now,
        closed_at: None,
        pull_request: false,
    };
    d.issues.insert(number, issue.clone());
    let b = base(&headers);
    let json = issue.to_json(&b, &owner, &repo);
    let mut resp = (StatusCode::CREATED, axum::Json(json)).into_response();
    if let Ok(loc) = HeaderValue::from_str(&format!("{b}/repos/{owner}/{repo}/issues/{number}")) {
        resp.headers_mut().insert(header::LOCATION, loc);
    }
    resp
}

fn issue_etag(i: &GhIssue) -> String {
    format!("\"i-{}-{}\"", i.number, i.updated_at.timestamp_millis())
}

async fn get_issue(
    State(st): State<RouteState>,
    Path((owner, repo, number)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = gate(&st, &headers, &owner, &repo) {
        return r;
    }
    let issue = number
        .parse::<u64>()
        .ok()
        .and_then(|n| lock(&st.gh.data).issues.get(&n).cloned());
    match issue {
        Some(i) => json_with_etag(
            &headers,
            &issue_etag(&i),
            &i.to_json(&base(&headers), &owner, &repo),
        ),
        None => json_error(StatusCode::NOT_FOUND, "Not Found"),
    }
}

async fn update_issue(
    State(st): State<RouteState>,
    Path((owner, repo, number)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(r) = gate(&st, &headers, &owner, &repo) {
        return r;
    }
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return json_error(StatusCode::BAD_REQUEST, "Problems parsing JSON");
    };
    let Ok(n) = number.parse::<u64>() else {
        return json_error(StatusCode::NOT_FOUND, "Not Found");
    };
    let now = st.remote.tick();
    let mut d = lock(&st.gh.data);
    let Some(i) = d.issues.get_mut(&n) else {
        return json_error(StatusCode::NOT_FOUND, "Not Found");
    };
    if let Some(t) = v.get("title").and_then(title_of) {
        i.title = t;
    }
    if let Some(b) = v.get("body") {
        i.body = b.as_str().map(str::to_string);
    }
    if let Some(l) = names(v.get("labels"), "name") {
        i.labels = l;
    }
    if let Some(a) = names(v.get("assignees"), "login") {
        i.assignees = a;
    }
    if let Some(s) = v.get("state").and_then(Value::as_str) {
        let reason = v.get("state_reason").and_then(Value::as_str);
        if s != i.state {
            match s {
                "closed" => {
                    i.closed_at = Some(now);
                    i.state_reason = Some(reason.unwrap_or("completed").to_string());
                }
                _ => {
                    i.closed_at = None;
                    i.state_reason = Some(reason.unwrap_or("reopened").to_string());
                }
            }
            i.state = s.to_string();
        } else if let Some(r) = reason {
            i.state_reason = Some(r.to_string());
        }
    }
    i.updated_at = now;
    let json = i.to_json(&base(&headers), &owner, &repo);
    axum::Json(json).into_response()
}

async fn list_issues(
    State(st): State<RouteState>,
    Path((owner, repo)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = gate(&st, &headers, &owner, &repo) {
        return r;
    }
    let state = q.get("state").map(String::as_str).unwrap_or("open");
    let since = match q.get("since") {
        Some(s) => match DateTime::parse_from_rfc3339(s) {
            Ok(t) => Some(t.with_timezone(&Utc)),
            Err(_) => {
                return json_error(StatusCode::UNPROCESSABLE_ENTITY, "Validation Failed: since");
            }
        },
        None => None,
    };
    let per_page = q
        .get("per_page")
        .and_then(|p| p.parse::<u64>().ok())
        .unwrap_or(30)
        .clamp(1, 100);
    let page = q
        .get("page")
        .and_then(|p| p.parse::<u64>().ok())
        .unwrap_or(1)
        .max(1);
    let mut all: Vec<GhIssue> = lock(&st.gh.data)
        .issues
        .values()
        .filter(|i| state == "all" || i.state == state)
        .filter(|i| since.is_none_or(|s| i.updated_at >= s))
        .cloned()
        .collect();
    let by_updated = q.get("sort").map(String::as_str) == Some("updated");
    all.sort_by_key(|i| {
        (
            if by_updated {
                i.updated_at
            } else {
                i.created_at
            },
            i.number,
        )
    });
    if q.get("direction").map(String::as_str) != Some("asc") {
        all.reverse();
    }
    let total = all.len() as u64;
    let last = total.div_ceil(per_page).max(1);
    let b = base(&headers);
    let shown: Vec<Value> = all
        .iter()
        .skip(((page - 1) * per_page) as usize)
        .take(per_page as usize)
        .map(|i| i.to_json(&b, &owner, &repo))
        .collect();
    let etag = content_etag(&serde_json::to_string(&shown).unwrap_or_default());
    let mut resp = json_with_etag(&headers, &etag, &shown);
    let params: Vec<(String, String)> = q.into_iter().collect();
    let link = link_header(
        &format!("{b}/repos/{owner}/{repo}/issues"),
        &params,
        page,
        per_page,
        last,
    );
    if let Some(v) = link.and_then(|l| HeaderValue::from_str(&l).ok()) {
        resp.headers_mut().insert(header::LINK, v);
    }
    resp
}

async fn search_issues(
    State(st): State<RouteState>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = auth(&st, &headers) {
        return r;
    }
    let query = q.get("q").cloned().unwrap_or_default();
    let phrase = query
        .split('"')
        .nth(1)
        .map(str::to_string)
        .unwrap_or_default();
    let wanted_repo = format!("repo:{}/{}", st.gh.owner, st.gh.repo);
    let in_repo = query
        .split_whitespace()
        .filter(|t| t.starts_with("repo:"))
        .all(|t| t == wanted_repo);
    let b = base(&headers);
    let items: Vec<Value> = if in_repo && !phrase.is_empty() {
        lock(&st.gh.data)
            .issues
            .values()
            .filter(|i| i.body.as_deref().is_some_and(|b| b.contains(&phrase)))
            .map(|i| {
                let mut v = i.to_json(&b, &st.gh.owner, &st.gh.repo);
                v["score"] = json!(1.0);
                v
            })
            .collect()
    } else {
        Vec::new()
    };
    axum::Json(json!({
        "total_count": items.len(),
        "incomplete_results": false,
        "items": items,
    }))
    .into_response()
}

// ---- the contract check ----

struct Operation {
    method: String,
    template: Vec<String>,
    /// Declared query parameters with their schemas.
    query: BTreeMap<String, Value>,
    body_schema: Option<Value>,
    body_required: bool,
}

struct Spec {
    ops: Vec<Operation>,
    components: Value,
    validators: Mutex<HashMap<usize, Arc<jsonschema::Validator>>>,
}

/// Turns OpenAPI 3.0 `nullable: true` into JSON Schema: `type: [t, "null"]` when a type is
/// given, else `anyOf: [schema, {type: null}]` (so `oneOf` schemas without a type, such as
/// `milestone`, are still validated).
pub fn translate_nullable(v: &mut Value) {
    match v {
        Value::Array(a) => a.iter_mut().for_each(translate_nullable),
        Value::Object(m) => {
            for (_, child) in m.iter_mut() {
                translate_nullable(child);
            }
            if m.get("nullable") == Some(&Value::Bool(true)) {
                m.remove("nullable");
                match m.get("type").cloned() {
                    Some(Value::String(t)) => {
                        m.insert("type".into(), json!([t, "null"]));
                        if let Some(Value::Array(e)) = m.get_mut("enum") {
                            e.push(Value::Null);
                        }
                    }
                    _ => {
                        let inner = Value::Object(std::mem::take(m));
                        m.insert("anyOf".into(), json!([inner, {"type": "null"}]));
                    }
                }
            }
        }
        _ => {}
    }
}

fn resolve<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => r
            .strip_prefix('#')
            .and_then(|p| doc.pointer(p))
            .unwrap_or(v),
        None => v,
    }
}

fn load_spec() -> Spec {
    let path = spec_path();
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading the GitHub API description {path}: {e}"));
    let mut doc: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("parsing the GitHub API description {path}: {e}"));
    translate_nullable(&mut doc);
    let mut ops = Vec::new();
    if let Some(paths) = doc.get("paths").and_then(Value::as_object) {
        for (template, item) in paths {
            let shared_params: Vec<Value> = item
                .get("parameters")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let Some(item) = item.as_object() else {
                continue;
            };
            for (method, op) in item {
                if !matches!(
                    method.as_str(),
                    "get" | "post" | "put" | "patch" | "delete" | "head" | "options"
                ) {
                    continue;
                }
                let mut query = BTreeMap::new();
                let params = shared_params.iter().chain(
                    op.get("parameters")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten(),
                );
                for p in params {
                    let p = resolve(&doc, p);
                    if p.get("in").and_then(Value::as_str) == Some("query")
                        && let Some(name) = p.get("name").and_then(Value::as_str)
                    {
                        query.insert(
                            name.to_string(),
                            p.get("schema").cloned().unwrap_or(json!({})),
                        );
                    }
                }
                let rb = op.get("requestBody").map(|rb| resolve(&doc, rb));
                let body_schema = rb
                    .and_then(|rb| rb.pointer("/content/application~1json/schema"))
                    .cloned();
                let body_required = rb
                    .and_then(|rb| rb.get("required"))
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                ops.push(Operation {
                    method: method.to_ascii_uppercase(),
                    template: template
                        .trim_start_matches('/')
                        .split('/')
                        .map(str::to_string)
                        .collect(),
                    query,
                    body_schema,
                    body_required,
                });
            }
        }
    }
    Spec {
        ops,
        components: doc.get("components").cloned().unwrap_or(json!({})),
        validators: Mutex::new(HashMap::new()),
    }
}

fn spec() -> &'static Spec {
    static SPEC: OnceLock<Spec> = OnceLock::new();
    SPEC.get_or_init(load_spec)
}

fn template_matches(template: &[String], path: &str) -> bool {
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    segs.len() == template.len()
        && template.iter().zip(&segs).all(|(t, s)| {
            if t.starts_with('{') && t.ends_with('}') {
                !s.is_empty()
            } else {
                t == s
            }
        })
}

fn query_value_ok(schema: &Value, value: &str) -> Result<(), String> {
    if let Some(e) = schema.get("enum").and_then(Value::as_array)
        && !e.iter().any(|x| x.as_str() == Some(value))
    {
        return Err(format!(
            "`{value}` is not one of {}",
            Value::Array(e.clone())
        ));
    }
    let ty = schema.get("type");
    let is = |t: &str| {
        ty == Some(&json!(t))
            || ty
                .and_then(Value::as_array)
                .is_some_and(|a| a.contains(&json!(t)))
    };
    if is("integer") && value.parse::<i64>().is_err() {
        return Err(format!("`{value}` is not an integer"));
    }
    if is("boolean") && value != "true" && value != "false" {
        return Err(format!("`{value}` is not a boolean"));
    }
    Ok(())
}

fn validator(
    spec: &Spec,
    idx: usize,
    schema: &Value,
) -> Result<Arc<jsonschema::Validator>, String> {
    let mut cache = lock(&spec.validators);
    if let Some(v) = cache.get(&idx) {
        return Ok(v.clone());
    }
    let mut root = schema.clone();
    if let Value::Object(m) = &mut root {
        m.insert("components".into(), spec.components.clone());
    } else {
        root = json!({"allOf": [schema], "components": spec.components});
    }
    let v = Arc::new(
        jsonschema::validator_for(&root)
            .map_err(|e| format!("request schema does not compile: {e}"))?,
    );
    cache.insert(idx, v.clone());
    Ok(v)
}

/// Checks one request against the description; `Err` says why it is not allowed.
pub fn check_request(r: &RecordedRequest) -> Result<(), String> {
    let spec = spec();
    let Some((idx, op)) = spec
        .ops
        .iter()
        .enumerate()
        .find(|(_, o)| o.method == r.method && template_matches(&o.template, &r.path))
    else {
        return Err("no such operation (method + path template)".into());
    };
    for (k, v) in query_pairs(r.query.as_deref()) {
        let Some(schema) = op.query.get(&k) else {
            return Err(format!("query parameter `{k}` is not declared"));
        };
        query_value_ok(schema, &v).map_err(|e| format!("query parameter `{k}`: {e}"))?;
    }
    match &op.body_schema {
        None if !r.body.is_empty() => Err("the operation takes no JSON body".into()),
        None => Ok(()),
        Some(_) if r.body.is_empty() => {
            if op.body_required {
                Err("the operation requires a JSON body".into())
            } else {
                Ok(())
            }
        }
        Some(schema) => {
            let body: Value =
                serde_json::from_slice(&r.body).map_err(|e| format!("body is not JSON: {e}"))?;
            let v = validator(spec, idx, schema)?;
            let errors: Vec<String> = v
                .iter_errors(&body)
                .map(|e| format!("{} at `{}`", e, e.instance_path()))
                .collect();
            if errors.is_empty() {
                Ok(())
            } else {
                Err(format!(
                    "body does not match the request schema: {}",
                    errors.join("; ")
                ))
            }
        }
    }
}

/// Violations among `requests`, one line each.
pub fn check_requests(requests: &[RecordedRequest]) -> Vec<String> {
    requests
        .iter()
        .filter_map(|r| {
            check_request(r).err().map(|e| {
                let q = r
                    .query
                    .as_deref()
                    .map(|q| format!("?{q}"))
                    .unwrap_or_default();
                format!("{} {}{q}: {e}", r.method, r.path)
            })
        })
        .collect()
}
