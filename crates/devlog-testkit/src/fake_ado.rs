//! A fake Azure DevOps Services REST API 7.1 (the subset devlog's Azure DevOps integration
//! uses), mounted on the [`FakeRemote`](crate::fake_remote::FakeRemote) harness so it shares
//! its request log, faults, clock and rate-limit headers.
//!
//! Implemented, stateful, for one organization and project on a chosen process
//! ([`FakeProcess`]: Agile, Scrum, Basic, CMMI, or an inherited Agile whose User Story has
//! custom states): the project with its process capability (`GET /{org}/_apis/projects/{p}`),
//! the process (`GET /{org}/_apis/process/processes/{id}`), work item types with their fields
//! and states (`GET …/wit/workitemtypes`, `…/workitemtypes/{type}/states`), work items with
//! revisions (`POST …/wit/workitems/${type}` and `PATCH …/wit/workitems/{id}` taking JSON
//! Patch documents — `test` of `/rev` answers 412 when the revision moved, a field the type
//! lacks 400 — and `GET …/wit/workitems/{id}`), `POST …/wit/workitemsbatch` (200 ids at most,
//! `errorPolicy`), `POST /{org}/{p}/{team}/_apis/wit/wiql` for the WIQL subset devlog sends
//! (`SELECT [System.Id] FROM WorkItems WHERE` clauses `[System.TeamProject] = @project`,
//! `[System.ChangedDate] >= '…'` and `[System.Tags] CONTAINS '…'` joined by `AND`, then
//! `ORDER BY [System.ChangedDate] ASC, [System.Id] ASC`; any other clause is a 400 naming it,
//! and a time in a date without `timePrecision=true` is refused as Azure DevOps does), work
//! item comments (`…/wit/workItems/{id}/comments`: list with `continuationToken`, batch by
//! `ids` with `includeDeleted`, add — a new revision of the item, `System.CommentCount` —,
//! get, edit, delete), iterations (Sprint 1–3 around the fake's clock, plus those created:
//! `GET`/`POST …/{team}/_apis/work/teamsettings/iterations` — list with `$timeframe`, add to
//! the team by GUID —, `GET …/teamsettings/iterations/{id}/workitems`, and the classification
//! nodes `GET …/wit/classificationnodes/iterations/{name}` and `POST
//! …/wit/classificationnodes/iterations` — both dates or neither, 409 for a name taken; a work
//! item's `System.IterationPath` must name an existing iteration), and Azure DevOps'
//! throttling headers on demand ([`FakeAdo::throttle`]), pipelines with their runs (also read
//! as builds), a build's work items and releases with their artifacts (`fake_ado/pipelines.rs`).
//! Basic or Bearer auth is required (401 otherwise).
//!
//! **Contract check**: every request received is validated against Microsoft's Swagger 2.0
//! descriptions (`apispecs/azure-devops/7.1/{wit,core,work,pipelines,build,release}/`, BOM stripped, converted to the
//! OpenAPI 3 shape [`crate::openapi`] checks, `x-ms-paths` variants included; a list answer
//! is checked in the `{count, value}` envelope it has on the wire, which the descriptions
//! leave out). Their JSON
//! Patch schema (`type: object` with an array `allOf`) accepts no body at all, so
//! `application/json-patch+json` bodies are checked as RFC 6902 patches instead: an array of
//! operations with a valid `op`, a `path` of `/rev` (test only), `/fields/<a field some type
//! has>` or `/relations/-`, and a `value` where the op needs one. Dropping the last
//! [`FakeAdo`] handle whose server received a request that is not allowed panics.

// The handlers' errors are the HTTP answers themselves, returned at once by a test fake: their
// size does not matter here.
#![allow(clippy::result_large_err)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};

use crate::fake_remote::{FakeState, RecordedRequest};
use crate::openapi::{ContractGuard, Spec};

mod pipelines;
pub use pipelines::{AdoArtifact, AdoDeployment, AdoPipeline, AdoRelease, AdoRun};

/// Where the descriptions live (`DEVLOG_ADO_OPENAPI_DIR` overrides the folder).
pub fn spec_dir() -> String {
    std::env::var("DEVLOG_ADO_OPENAPI_DIR").unwrap_or_else(|_| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/apispecs/azure-devops/7.1"
        )
        .to_string()
    })
}

/// Rewrites `#/definitions/X` references to `#/components/schemas/X`, and a bare
/// `{"type": "object"}` (C#'s `object`: a work item field's value, a patch operation's value,
/// which the API documents as "either a primitive or a JToken") to any value.
fn rewrite_refs(v: &mut Value) {
    match v {
        Value::Object(m) => {
            if m.get("type") == Some(&json!("object"))
                && m.keys().all(|k| k == "type" || k == "description")
            {
                m.remove("type");
            }
            if let Some(Value::String(r)) = m.get_mut("$ref")
                && let Some(name) = r.strip_prefix("#/definitions/")
            {
                *r = format!("#/components/schemas/{name}");
            }
            m.values_mut().for_each(rewrite_refs);
        }
        Value::Array(a) => a.iter_mut().for_each(rewrite_refs),
        _ => {}
    }
}

/// Microsoft's Swagger 2.0 description in the OpenAPI 3 shape [`crate::openapi`] reads:
/// `in: body` parameters become request bodies (under their `consumes` media type), other
/// parameters get a `schema`, responses get `content`, definitions become components, and
/// `x-ms-paths` (same path, other query) are paths of their own.
pub fn swagger2_to_openapi3(doc: &Value) -> Value {
    let shared = doc.get("parameters").cloned().unwrap_or(json!({}));
    let mut paths = Map::new();
    let all = doc
        .get("paths")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .chain(
            doc.get("x-ms-paths")
                .and_then(Value::as_object)
                .into_iter()
                .flatten(),
        );
    for (template, item) in all {
        let mut out_item = Map::new();
        for (method, op) in item.as_object().into_iter().flatten() {
            let Some(op) = op.as_object() else {
                continue;
            };
            let consumes = op
                .get("consumes")
                .and_then(Value::as_array)
                .and_then(|c| c.first())
                .and_then(Value::as_str)
                .unwrap_or("application/json")
                .to_string();
            let mut params = Vec::new();
            let mut body = None;
            for p in op
                .get("parameters")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let p = match p.get("$ref").and_then(Value::as_str) {
                    Some(r) => r
                        .strip_prefix("#/parameters/")
                        .and_then(|n| shared.get(n))
                        .cloned()
                        .unwrap_or(json!({})),
                    None => p.clone(),
                };
                if p.get("in").and_then(Value::as_str) == Some("body") {
                    body = Some(json!({
                        "required": p.get("required").cloned().unwrap_or(json!(false)),
                        "content": {consumes.clone(): {"schema": p.get("schema").cloned().unwrap_or(json!({}))}},
                    }));
                    continue;
                }
                let mut schema = Map::new();
                for k in ["type", "enum", "format", "items"] {
                    if let Some(v) = p.get(k) {
                        schema.insert(k.into(), v.clone());
                    }
                }
                params.push(json!({
                    "name": p.get("name").cloned().unwrap_or(Value::Null),
                    "in": p.get("in").cloned().unwrap_or(Value::Null),
                    "required": p.get("required").cloned().unwrap_or(json!(false)),
                    "schema": Value::Object(schema),
                }));
            }
            let responses: Map<String, Value> = op
                .get("responses")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
                .map(|(code, r)| {
                    let mut out =
                        json!({"description": r.get("description").cloned().unwrap_or(json!(""))});
                    if let Some(s) = r.get("schema") {
                        // A list goes over the wire in the `{count, value}` envelope (every
                        // list example shows it), though the descriptions declare the array.
                        let s = if s.get("type") == Some(&json!("array")) {
                            json!({"type": "object", "required": ["value"],
                                   "properties": {"count": {"type": "integer"}, "value": s}})
                        } else {
                            s.clone()
                        };
                        out["content"] = json!({"application/json": {"schema": s}});
                    }
                    (code.clone(), out)
                })
                .collect();
            let mut out_op = json!({"parameters": params, "responses": responses});
            if let Some(b) = body {
                out_op["requestBody"] = b;
            }
            out_item.insert(method.clone(), out_op);
        }
        // Classification nodes are created under the root by posting to the structure group
        // itself (Microsoft's own example, `POST__wit_classificationNodes_iterations.json`,
        // has no `{path}`), which the template requiring `{path}` leaves out: that variant
        // is added, with the same operations minus the path parameter.
        if let Some(root) = template.strip_suffix("/{structureGroup}/{path}") {
            let mut root_item = out_item.clone();
            for op in root_item.values_mut() {
                if let Some(ps) = op.get_mut("parameters").and_then(Value::as_array_mut) {
                    ps.retain(|p| p.get("name") != Some(&json!("path")));
                }
            }
            paths.insert(
                format!("{root}/{{structureGroup}}"),
                Value::Object(root_item),
            );
        }
        paths.insert(template.clone(), Value::Object(out_item));
    }
    let mut out = json!({
        "openapi": "3.0.0",
        "paths": paths,
        "components": {"schemas": doc.get("definitions").cloned().unwrap_or(json!({}))},
    });
    rewrite_refs(&mut out);
    out
}

/// Reads one of Microsoft's descriptions (BOM stripped) and converts it.
pub fn load_spec(area: &str, file: &str) -> Spec {
    let path = format!("{}/{area}/{file}", spec_dir());
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading the Azure DevOps API description {path}: {e}"));
    let doc: Value = serde_json::from_str(text.trim_start_matches('\u{feff}'))
        .unwrap_or_else(|e| panic!("parsing the Azure DevOps API description {path}: {e}"));
    crate::openapi::load_value(swagger2_to_openapi3(&doc))
}

fn specs() -> &'static [Spec; 6] {
    static SPECS: OnceLock<[Spec; 6]> = OnceLock::new();
    SPECS.get_or_init(|| {
        [
            load_spec("wit", "workItemTracking.json"),
            load_spec("core", "core.json"),
            load_spec("work", "work.json"),
            load_spec("pipelines", "pipelines.json"),
            load_spec("build", "build.json"),
            load_spec("release", "release.json"),
        ]
    })
}

/// Every field reference name a work item type of the fake has (what a patch may name).
pub fn known_fields() -> BTreeSet<&'static str> {
    COMMON_FIELDS
        .iter()
        .chain(PLANNING_FIELDS.iter())
        .chain(POINTS_FIELDS.iter())
        .chain(READ_ONLY_FIELDS.iter())
        .copied()
        .collect()
}

/// Checks a JSON Patch body as RFC 6902 (what the description's schema cannot do).
pub fn check_patch(body: &[u8]) -> Result<(), String> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| format!("the JSON Patch body is not JSON: {e}"))?;
    let Value::Array(ops) = v else {
        return Err("a JSON Patch document is an array of operations".into());
    };
    if ops.is_empty() {
        return Err("the JSON Patch document has no operations".into());
    }
    let known = known_fields();
    for (n, o) in ops.iter().enumerate() {
        let op = o.get("op").and_then(Value::as_str).unwrap_or_default();
        let path = o.get("path").and_then(Value::as_str).unwrap_or_default();
        if !["add", "remove", "replace", "move", "copy", "test"].contains(&op) {
            return Err(format!(
                "operation {n}: `op` `{op}` is not an RFC 6902 operation"
            ));
        }
        if !path.starts_with('/') {
            return Err(format!(
                "operation {n}: `path` `{path}` is not a JSON pointer"
            ));
        }
        if matches!(op, "add" | "replace" | "test") && o.get("value").is_none() {
            return Err(format!("operation {n}: `{op}` needs a `value`"));
        }
        if matches!(op, "move" | "copy") && o.get("from").and_then(Value::as_str).is_none() {
            return Err(format!("operation {n}: `{op}` needs a `from`"));
        }
        let ok = match path.strip_prefix("/fields/") {
            Some(f) => known.contains(f),
            None => (path == "/rev" && op == "test") || path.starts_with("/relations/"),
        };
        if !ok {
            return Err(format!(
                "operation {n}: `{path}` names no field of a work item type"
            ));
        }
    }
    Ok(())
}

/// Checks one request against the descriptions (JSON Patch bodies as RFC 6902 patches).
pub fn check_request(r: &RecordedRequest) -> Result<(), String> {
    let mut r = r.clone();
    if r.header("content-type")
        .is_some_and(|c| c.starts_with("application/json-patch+json"))
    {
        check_patch(&r.body)?;
        r.body = Bytes::new();
    }
    let specs = specs();
    let spec = specs
        .iter()
        .find(|s| crate::openapi::has_operation(s, &r.method, &r.path))
        .unwrap_or(&specs[0]);
    crate::openapi::check_request(spec, &r)
}

/// Checks an answer of the fake against the operation's response schema (`Value::Null` for
/// an empty body); `path` without its query.
pub fn check_response(method: &str, path: &str, status: u16, body: &Value) -> Result<(), String> {
    let specs = specs();
    let spec = specs
        .iter()
        .find(|s| crate::openapi::has_operation(s, method, path))
        .unwrap_or(&specs[0]);
    crate::openapi::check_response(spec, method, path, status, body)
}

/// Violations among `requests`, one line each.
pub fn check_requests(requests: &[RecordedRequest]) -> Vec<String> {
    crate::openapi::violations(requests, check_request)
}

/// A state: (name, category).
pub type StateDef = (&'static str, &'static str);
/// A work item type: (name, states, has planning fields).
pub type FakeType = (&'static str, Vec<StateDef>, bool);

/// Which process the fake project uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FakeProcess {
    Agile,
    Scrum,
    Basic,
    Cmmi,
    /// "Custom Agile", inherited from Agile; its User Story has the states Backlog,
    /// Building, In QA, Shipped and Cut.
    InheritedAgile,
}

impl FakeProcess {
    pub fn id(&self) -> &'static str {
        match self {
            Self::Agile => "adcc42ab-9882-485e-a3ed-7678f01f66bc",
            Self::Scrum => "6b724908-ef14-45cf-84f8-768b5384da45",
            Self::Basic => "b8a3a935-7e91-48b8-a94c-606d37c3e9f2",
            Self::Cmmi => "27450541-8e31-4150-9947-dc59f998fc01",
            Self::InheritedAgile => "5f4a1b9c-6d2e-4c1a-9b3f-0e8d7c6b5a41",
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Self::Agile => "Agile",
            Self::Scrum => "Scrum",
            Self::Basic => "Basic",
            Self::Cmmi => "CMMI",
            Self::InheritedAgile => "Custom Agile",
        }
    }

    /// The process's work item types: (name, states as (name, category), has planning
    /// fields (priority, acceptance criteria)).
    pub fn types(&self) -> Vec<FakeType> {
        const P: &str = "Proposed";
        const I: &str = "InProgress";
        const R: &str = "Resolved";
        const C: &str = "Completed";
        const X: &str = "Removed";
        let agile_story = vec![
            ("New", P),
            ("Active", I),
            ("Resolved", R),
            ("Closed", C),
            ("Removed", X),
        ];
        let agile_task = vec![("New", P), ("Active", I), ("Closed", C), ("Removed", X)];
        match self {
            Self::Agile => vec![
                ("User Story", agile_story.clone(), true),
                ("Bug", agile_story.clone(), true),
                ("Task", agile_task, true),
                ("Feature", agile_story.clone(), true),
                ("Epic", agile_story, true),
            ],
            Self::InheritedAgile => vec![
                (
                    "User Story",
                    vec![
                        ("Backlog", P),
                        ("Building", I),
                        ("In QA", R),
                        ("Shipped", C),
                        ("Cut", X),
                    ],
                    true,
                ),
                ("Bug", agile_story.clone(), true),
                ("Task", agile_task, true),
                ("Epic", agile_story, true),
            ],
            Self::Scrum => {
                let pbi = vec![
                    ("New", P),
                    ("Approved", P),
                    ("Committed", I),
                    ("Done", C),
                    ("Removed", X),
                ];
                vec![
                    ("Product Backlog Item", pbi.clone(), true),
                    ("Bug", pbi.clone(), true),
                    (
                        "Task",
                        vec![
                            ("To Do", P),
                            ("In Progress", I),
                            ("Done", C),
                            ("Removed", X),
                        ],
                        true,
                    ),
                    ("Epic", pbi, true),
                ]
            }
            Self::Basic => {
                let s = vec![("To Do", P), ("Doing", I), ("Done", C)];
                vec![
                    ("Issue", s.clone(), true),
                    ("Task", s.clone(), true),
                    ("Epic", s, true),
                ]
            }
            Self::Cmmi => {
                let r = vec![
                    ("Proposed", P),
                    ("Active", I),
                    ("Resolved", R),
                    ("Closed", C),
                ];
                vec![
                    ("Requirement", r.clone(), true),
                    ("Bug", r.clone(), true),
                    (
                        "Task",
                        vec![("Proposed", P), ("Active", I), ("Closed", C)],
                        true,
                    ),
                    ("Epic", r, true),
                ]
            }
        }
    }
}

/// Fields every type has.
pub const COMMON_FIELDS: [&str; 9] = [
    "System.Title",
    "System.Description",
    "System.State",
    "System.Reason",
    "System.Tags",
    "System.AssignedTo",
    "System.AreaPath",
    "System.IterationPath",
    "System.History",
];
/// Fields of the types with planning fields.
pub const PLANNING_FIELDS: [&str; 6] = [
    "Microsoft.VSTS.Common.Priority",
    "Microsoft.VSTS.Common.AcceptanceCriteria",
    "Microsoft.VSTS.Scheduling.OriginalEstimate",
    "Microsoft.VSTS.Scheduling.CompletedWork",
    "Microsoft.VSTS.Scheduling.RemainingWork",
    "Microsoft.VSTS.Scheduling.DueDate",
];
/// The points fields of the system processes: Agile's story points, Scrum's and Basic's
/// effort, CMMI's size.
pub const POINTS_FIELDS: [&str; 3] = [
    "Microsoft.VSTS.Scheduling.StoryPoints",
    "Microsoft.VSTS.Scheduling.Effort",
    "Microsoft.VSTS.Scheduling.Size",
];

/// The points field a type of the process has, as the system processes define them: every
/// backlog type but Task (Agile: User Story, Bug, Feature, Epic → StoryPoints; Scrum: Product
/// Backlog Item, Bug, Epic → Effort; Basic: Issue, Epic → Effort; CMMI: Requirement, Bug, Epic
/// → Size).
pub fn points_field(p: FakeProcess, type_name: &str) -> Option<&'static str> {
    if type_name.eq_ignore_ascii_case("Task") {
        return None;
    }
    Some(match p {
        FakeProcess::Agile | FakeProcess::InheritedAgile => POINTS_FIELDS[0],
        FakeProcess::Scrum | FakeProcess::Basic => POINTS_FIELDS[1],
        FakeProcess::Cmmi => POINTS_FIELDS[2],
    })
}
/// Fields the server sets (a patch may only change the type among them).
pub const READ_ONLY_FIELDS: [&str; 8] = [
    "System.Id",
    "System.Rev",
    "System.TeamProject",
    "System.WorkItemType",
    "System.CreatedDate",
    "System.ChangedDate",
    "System.ChangedBy",
    "System.CommentCount",
];

/// The identity the fake's credentials belong to.
pub const ME: &str = "bot@example.com";

/// A work item of the fake project.
#[derive(Debug, Clone, PartialEq)]
pub struct AdoWorkItem {
    pub id: u64,
    pub rev: u64,
    pub type_name: String,
    /// Writable fields as set (`System.AssignedTo` as the unique name written).
    pub fields: BTreeMap<String, Value>,
    pub created: DateTime<Utc>,
    pub changed: DateTime<Utc>,
    /// Earlier revisions' fields, oldest first.
    pub history: Vec<BTreeMap<String, Value>>,
    /// Comments not deleted (`System.CommentCount`).
    pub comment_count: u64,
}

/// A work item comment.
#[derive(Debug, Clone, PartialEq)]
pub struct AdoComment {
    pub id: u64,
    pub work_item: u64,
    /// HTML.
    pub text: String,
    pub version: u64,
    pub author: String,
    pub created: DateTime<Utc>,
    pub modified: DateTime<Utc>,
    pub deleted: bool,
}

impl AdoWorkItem {
    pub fn str_field(&self, name: &str) -> &str {
        self.fields
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
    }
}

#[derive(Debug, Default)]
struct Data {
    next_id: u64,
    next_comment: u64,
    items: BTreeMap<u64, AdoWorkItem>,
    comments: BTreeMap<u64, AdoComment>,
    /// Iteration nodes under the project's root (`Sprint 1`–`3` and those created).
    iterations: Vec<AdoIteration>,
    /// Throttling headers added to every answer.
    throttle: Option<AdoThrottle>,
    /// Pipelines, runs and releases (`fake_ado/pipelines.rs`).
    pipelines: pipelines::PipelineData,
}

/// An iteration (a classification node under the project's root iteration).
#[derive(Debug, Clone, PartialEq)]
pub struct AdoIteration {
    /// The node's integer id.
    pub id: u64,
    /// Its GUID (the team iteration id).
    pub identifier: String,
    pub name: String,
    pub start: Option<DateTime<Utc>>,
    pub finish: Option<DateTime<Utc>>,
    /// Whether the team has it among its iterations.
    pub on_team: bool,
}

/// Azure DevOps' throttling headers, sent on every answer while set
/// ([`FakeAdo::throttle`]): `X-RateLimit-Resource`, `X-RateLimit-Delay` (seconds the request
/// was delayed), `X-RateLimit-Limit`, `X-RateLimit-Remaining`, `X-RateLimit-Reset` (epoch
/// seconds) and `Retry-After` (seconds), each when set.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AdoThrottle {
    pub delay_seconds: Option<f64>,
    pub limit: Option<u64>,
    pub remaining: Option<u64>,
    pub reset_epoch: Option<u64>,
    pub retry_after_seconds: Option<u64>,
}

#[derive(Debug)]
struct Shared {
    org: String,
    project: String,
    process: FakeProcess,
    data: Mutex<Data>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The fake Azure DevOps: its data, its routes, the contract check.
#[derive(Debug, Clone)]
pub struct FakeAdo {
    shared: Arc<Shared>,
    remote: FakeState,
    _guard: Arc<ContractGuard>,
}

#[derive(Clone)]
struct St {
    ado: Arc<Shared>,
    remote: FakeState,
}

type Res = Result<Response, Response>;

impl FakeAdo {
    /// A fake holding organization `org` with project `project` on `process`; `remote` is the
    /// harness's state. Its team is `<project> Team`.
    pub fn new(remote: FakeState, org: &str, project: &str, process: FakeProcess) -> Self {
        Self {
            shared: Arc::new(Shared {
                org: org.into(),
                project: project.into(),
                process,
                data: Mutex::new(Data {
                    next_id: 1,
                    next_comment: 5_001,
                    iterations: default_iterations(remote.now()),
                    ..Data::default()
                }),
            }),
            _guard: Arc::new(ContractGuard::new(
                "Azure DevOps",
                remote.clone(),
                check_requests,
            )),
            remote,
        }
    }

    /// The routes to mount (use `without_tracker()`).
    pub fn router(&self) -> Router {
        let st = St {
            ado: self.shared.clone(),
            remote: self.remote.clone(),
        };
        Router::new()
            .route("/{org}/_apis/projects/{project}", get(project))
            .route("/{org}/_apis/process/processes/{id}", get(process))
            .route(
                "/{org}/{project}/_apis/wit/workitemtypes",
                get(work_item_types),
            )
            .route(
                "/{org}/{project}/_apis/wit/workitemtypes/{ty}/states",
                get(type_states),
            )
            .route(
                "/{org}/{project}/_apis/wit/workitems/{key}",
                get(get_item).patch(update_item).post(create_item),
            )
            .route("/{org}/{project}/_apis/wit/workitemsbatch", post(batch))
            .route(
                "/{org}/{project}/_apis/wit/workItems/{id}/comments",
                get(list_comments).post(add_comment),
            )
            .route(
                "/{org}/{project}/_apis/wit/workItems/{id}/comments/{cid}",
                get(get_comment).patch(edit_comment).delete(delete_comment),
            )
            .route("/{org}/{project}/{team}/_apis/wit/wiql", post(wiql))
            .route(
                "/{org}/{project}/{team}/_apis/work/teamsettings/iterations",
                get(iterations).post(add_team_iteration),
            )
            .route(
                "/{org}/{project}/{team}/_apis/work/teamsettings/iterations/{id}/workitems",
                get(iteration_work_items),
            )
            .route(
                "/{org}/{project}/_apis/wit/classificationnodes/{group}",
                post(create_node),
            )
            .route(
                "/{org}/{project}/_apis/wit/classificationnodes/{group}/{*path}",
                get(get_node),
            )
            .route(
                "/{org}/{project}/_apis/pipelines",
                get(pipelines::list_pipelines),
            )
            .route(
                "/{org}/{project}/_apis/pipelines/{pid}/runs",
                get(pipelines::list_runs).post(pipelines::queue_run),
            )
            .route(
                "/{org}/{project}/_apis/pipelines/{pid}/runs/{rid}",
                get(pipelines::get_run),
            )
            .route(
                "/{org}/{project}/_apis/build/builds",
                get(pipelines::list_builds),
            )
            .route(
                "/{org}/{project}/_apis/build/builds/{id}/workitems",
                get(pipelines::build_work_items),
            )
            .route(
                "/{org}/{project}/_apis/release/releases/{id}",
                get(pipelines::get_release),
            )
            .route(
                "/{org}/{project}/_apis/release/deployments",
                get(pipelines::list_deployments),
            )
            .layer(axum::middleware::map_response_with_state(
                self.shared.clone(),
                throttle_headers,
            ))
            .with_state(st)
    }

    /// Violations of the API description among all requests received so far.
    pub fn check_contract(&self) -> Vec<String> {
        check_requests(&self.remote.requests())
    }

    fn data(&self) -> MutexGuard<'_, Data> {
        lock(&self.shared.data)
    }

    pub fn items(&self) -> Vec<AdoWorkItem> {
        self.data().items.values().cloned().collect()
    }

    pub fn item(&self, id: u64) -> Option<AdoWorkItem> {
        self.data().items.get(&id).cloned()
    }

    /// Changes a work item as a person in Azure DevOps would (a new revision).
    pub fn edit_item(
        &self,
        id: u64,
        edit: impl FnOnce(&mut BTreeMap<String, Value>),
    ) -> Option<AdoWorkItem> {
        let now = self.remote.tick();
        let mut d = self.data();
        let w = d.items.get_mut(&id)?;
        w.history.push(w.fields.clone());
        edit(&mut w.fields);
        w.rev += 1;
        w.changed = now;
        Some(w.clone())
    }

    /// A work item made in Azure DevOps by someone else (type `type_name`, state the type's
    /// first and the project's root area and iteration unless `fields` names them), changed
    /// now.
    pub fn insert(&self, type_name: &str, fields: BTreeMap<String, Value>) -> AdoWorkItem {
        let now = self.remote.tick();
        let states = find_type(self.shared.process, type_name)
            .map(|t| t.1)
            .unwrap_or_default();
        let mut d = self.data();
        let mut w = AdoWorkItem {
            id: d.next_id,
            rev: 1,
            type_name: type_name.into(),
            fields,
            created: now,
            changed: now,
            history: Vec::new(),
            comment_count: 0,
        };
        if let Some((s, _)) = states.first() {
            w.fields
                .entry("System.State".into())
                .or_insert_with(|| json!(s));
        }
        // As the create route (and Azure DevOps): the project's root area and iteration unless
        // `fields` names others.
        for f in ["System.AreaPath", "System.IterationPath"] {
            w.fields
                .entry(f.into())
                .or_insert_with(|| json!(self.shared.project));
        }
        d.next_id += 1;
        d.items.insert(w.id, w.clone());
        w
    }

    /// Sets when a work item last changed (a change committed late, a clock skew).
    pub fn set_changed(&self, id: u64, at: DateTime<Utc>) -> Option<AdoWorkItem> {
        let mut d = self.data();
        let w = d.items.get_mut(&id)?;
        w.changed = at;
        Some(w.clone())
    }

    /// The work item's comments not deleted, oldest first.
    pub fn comments(&self, id: u64) -> Vec<AdoComment> {
        self.data()
            .comments
            .values()
            .filter(|c| c.work_item == id && !c.deleted)
            .cloned()
            .collect()
    }

    /// A comment by someone else (`text` is HTML); the work item gets a new revision.
    pub fn add_comment(&self, id: u64, author: &str, text: &str) -> Option<AdoComment> {
        let now = self.remote.tick();
        let mut d = self.data();
        new_comment(&mut d, id, author, text, now)
    }

    /// The project's iterations (classification nodes under its root).
    pub fn iterations(&self) -> Vec<AdoIteration> {
        self.data().iterations.clone()
    }

    /// Sends Azure DevOps' throttling headers on every answer from now on (`None`: stop).
    pub fn throttle(&self, headers: Option<AdoThrottle>) {
        self.data().throttle = headers;
    }

    /// Deletes a work item (to the recycle bin: the API no longer answers it).
    pub fn delete_item(&self, id: u64) -> Option<AdoWorkItem> {
        self.data().items.remove(&id)
    }
}

fn ado_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Azure DevOps' error body.
fn error(status: StatusCode, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"$id": "1", "innerException": null, "message": message,
                          "typeName": "Microsoft.TeamFoundation.WorkItemTracking.Server.WorkItemTrackingException",
                          "typeKey": "WorkItemTrackingException", "errorCode": 0, "eventId": 3200})),
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
            "TF400813: Resource not available for anonymous access. Client authentication required.",
        ))
    }
}

fn base(headers: &HeaderMap) -> String {
    headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .map(|h| format!("http://{h}"))
        .unwrap_or_default()
}

fn own(st: &St, org: &str, project: &str) -> Result<(), Response> {
    if org != st.ado.org {
        return Err(error(
            StatusCode::NOT_FOUND,
            &format!("VS800075: The organization `{org}` does not exist."),
        ));
    }
    if project != st.ado.project {
        return Err(error(
            StatusCode::NOT_FOUND,
            &format!(
                "TF200016: The following project does not exist: {project}. Verify that the name of the project is correct and that the project exists on the specified Azure DevOps Server."
            ),
        ));
    }
    Ok(())
}

fn own_team(st: &St, team: &str) -> Result<(), Response> {
    if team == format!("{} Team", st.ado.project) {
        Ok(())
    } else {
        Err(error(
            StatusCode::NOT_FOUND,
            &format!("The team with id or name {team} does not exist."),
        ))
    }
}

async fn project(
    State(st): State<St>,
    Path((org, project)): Path<(String, String)>,
    headers: HeaderMap,
) -> Res {
    auth(&headers)?;
    own(&st, &org, &project)?;
    let p = st.ado.process;
    Ok(axum::Json(json!({
        "id": "eb6e4656-77fc-42a1-9181-4c6d8e9da5d1",
        "name": project,
        "url": format!("{}/{org}/_apis/projects/eb6e4656-77fc-42a1-9181-4c6d8e9da5d1", base(&headers)),
        "state": "wellFormed",
        "revision": 7,
        "visibility": "private",
        "capabilities": {
            "versioncontrol": {"sourceControlType": "Git"},
            "processTemplate": {"templateName": p.name(), "templateTypeId": p.id()},
        },
        "defaultTeam": {"id": "0d1e3f5a-2b4c-4d6e-8f90-a1b2c3d4e5f6", "name": format!("{project} Team")},
    }))
    .into_response())
}

async fn process(
    State(st): State<St>,
    Path((org, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Res {
    auth(&headers)?;
    let p = st.ado.process;
    if org != st.ado.org || id != p.id() {
        return Err(error(
            StatusCode::NOT_FOUND,
            &format!("VS402362: The process with id {id} does not exist."),
        ));
    }
    let kind = if p == FakeProcess::InheritedAgile {
        "inherited"
    } else {
        "system"
    };
    Ok(axum::Json(
        json!({"id": p.id(), "name": p.name(), "type": kind, "isDefault": false,
                         "description": format!("The {} process", p.name())}),
    )
    .into_response())
}

fn fields_of(p: FakeProcess, type_name: &str, planning: bool) -> Vec<&'static str> {
    let mut f: Vec<&str> = READ_ONLY_FIELDS.to_vec();
    f.extend(COMMON_FIELDS);
    if planning {
        f.extend(PLANNING_FIELDS);
        f.extend(points_field(p, type_name));
    }
    f
}

/// The type `name` of the process (case-insensitive): (name, states, fields).
fn find_type(
    p: FakeProcess,
    name: &str,
) -> Option<(&'static str, Vec<StateDef>, Vec<&'static str>)> {
    p.types()
        .into_iter()
        .find(|t| t.0.eq_ignore_ascii_case(name))
        .map(|(n, s, planning)| (n, s, fields_of(p, n, planning)))
}

fn states_json(states: &[(&str, &str)]) -> Vec<Value> {
    states
        .iter()
        .map(|(n, c)| json!({"name": n, "category": c, "color": "007acc"}))
        .collect()
}

async fn work_item_types(
    State(st): State<St>,
    Path((org, project)): Path<(String, String)>,
    headers: HeaderMap,
) -> Res {
    auth(&headers)?;
    own(&st, &org, &project)?;
    let list: Vec<Value> = st
        .ado
        .process
        .types()
        .into_iter()
        .map(|(name, states, planning)| {
            let fields: Vec<Value> = fields_of(st.ado.process, name, planning)
                .into_iter()
                .map(|f| json!({"referenceName": f, "name": f.rsplit('.').next(), "alwaysRequired": f == "System.Title"}))
                .collect();
            json!({"name": name, "referenceName": format!("Microsoft.VSTS.WorkItemTypes.{}", name.replace(' ', "")),
                   "isDisabled": false, "color": "009CCC", "states": states_json(&states),
                   "fields": fields.clone(), "fieldInstances": fields})
        })
        .collect();
    Ok(axum::Json(json!({"count": list.len(), "value": list})).into_response())
}

async fn type_states(
    State(st): State<St>,
    Path((org, project, ty)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Res {
    auth(&headers)?;
    own(&st, &org, &project)?;
    let Some((_, states, _)) = find_type(st.ado.process, &ty) else {
        return Err(error(
            StatusCode::NOT_FOUND,
            &format!("VS402323: Work item type {ty} does not exist."),
        ));
    };
    let list = states_json(&states);
    Ok(axum::Json(json!({"count": list.len(), "value": list})).into_response())
}

fn item_json(base: &str, st: &St, w: &AdoWorkItem, only: Option<&[String]>) -> Value {
    let mut fields = Map::new();
    fields.insert("System.Id".into(), json!(w.id));
    fields.insert("System.Rev".into(), json!(w.rev));
    fields.insert("System.TeamProject".into(), json!(st.ado.project));
    fields.insert("System.WorkItemType".into(), json!(w.type_name));
    fields.insert("System.CreatedDate".into(), json!(ado_time(w.created)));
    fields.insert("System.ChangedDate".into(), json!(ado_time(w.changed)));
    fields.insert("System.CommentCount".into(), json!(w.comment_count));
    fields.insert(
        "System.ChangedBy".into(),
        json!({"displayName": "devlog bot", "uniqueName": ME}),
    );
    for (k, v) in &w.fields {
        let v = if k == "System.AssignedTo" {
            identity(v.as_str().unwrap_or_default())
        } else {
            v.clone()
        };
        fields.insert(k.clone(), v);
    }
    if let Some(only) = only {
        fields.retain(|k, _| only.iter().any(|o| o.eq_ignore_ascii_case(k)));
    }
    json!({
        "id": w.id, "rev": w.rev, "fields": fields,
        "url": format!("{base}/{}/{}/_apis/wit/workItems/{}", st.ado.org, st.ado.project, w.id),
    })
}

fn bad_request(message: &str) -> Response {
    error(StatusCode::BAD_REQUEST, message)
}

/// Applies a JSON Patch document to a work item of type `type_name` (a new one when `rev`
/// is 0): field rules as Azure DevOps checks them.
fn apply_patch(p: FakeProcess, w: &mut AdoWorkItem, body: &Bytes) -> Result<(), Response> {
    let ops: Vec<Value> = serde_json::from_slice(body).map_err(|_| {
        bad_request("You must pass a valid patch document in the body of the request.")
    })?;
    for o in &ops {
        let op = o.get("op").and_then(Value::as_str).unwrap_or_default();
        let path = o.get("path").and_then(Value::as_str).unwrap_or_default();
        let value = o.get("value").cloned().unwrap_or(Value::Null);
        if path == "/rev" && op == "test" {
            if value.as_u64() != Some(w.rev) {
                return Err(error(
                    StatusCode::PRECONDITION_FAILED,
                    &format!(
                        "TF26071: This work item has been changed by someone else since you opened it. You will need to refresh it and discard your changes. (test of /rev {value} failed: the work item is at revision {})",
                        w.rev
                    ),
                ));
            }
            continue;
        }
        let Some(field) = path.strip_prefix("/fields/") else {
            return Err(bad_request(&format!(
                "The fake does not implement the patch path `{path}`."
            )));
        };
        let Some((_, _, fields)) = find_type(p, &w.type_name) else {
            return Err(bad_request("unknown work item type"));
        };
        let Some(field) = fields.iter().find(|f| f.eq_ignore_ascii_case(field)) else {
            return Err(bad_request(&format!("TF51535: Cannot find field {field}.")));
        };
        let field = field.to_string();
        if READ_ONLY_FIELDS.contains(&field.as_str()) && field != "System.WorkItemType" {
            return Err(bad_request(&format!(
                "TF401320: Rule Error for field {field}. Error code: ReadOnly."
            )));
        }
        match op {
            "add" | "replace" => {
                if field == "System.WorkItemType" {
                    let Some((name, ..)) = value.as_str().and_then(|t| find_type(p, t)) else {
                        return Err(bad_request(&format!(
                            "VS402323: Work item type {value} does not exist."
                        )));
                    };
                    w.type_name = name.to_string();
                    continue;
                }
                let value = match field.as_str() {
                    "Microsoft.VSTS.Common.Priority" => match value.as_i64() {
                        Some(n @ 1..=4) => json!(n),
                        _ => {
                            return Err(bad_request(&format!(
                                "TF401326: Invalid field status 'InvalidListValue' for field 'Microsoft.VSTS.Common.Priority' ({value})."
                            )));
                        }
                    },
                    "System.Tags" => {
                        // Azure DevOps keeps tags de-duplicated and sorted.
                        let mut tags: Vec<String> = value
                            .as_str()
                            .unwrap_or_default()
                            .split(';')
                            .map(|t| t.trim().to_string())
                            .filter(|t| !t.is_empty())
                            .collect();
                        tags.sort_by_key(|t| t.to_lowercase());
                        tags.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
                        json!(tags.join("; "))
                    }
                    _ => value,
                };
                w.fields.insert(field, value);
            }
            "remove" => {
                w.fields.remove(&field);
            }
            _ => {
                return Err(bad_request(&format!(
                    "The fake does not implement the `{op}` operation on fields."
                )));
            }
        }
    }
    let Some((_, states, _)) = find_type(p, &w.type_name) else {
        return Err(bad_request("unknown work item type"));
    };
    let state = w.str_field("System.State").to_string();
    if state.is_empty() {
        w.fields.insert("System.State".into(), json!(states[0].0));
    } else if let Some((name, _)) = states.iter().find(|(n, _)| n.eq_ignore_ascii_case(&state)) {
        w.fields.insert("System.State".into(), json!(name));
    } else {
        return Err(bad_request(&format!(
            "TF401320: Rule Error for field State. Error code: InvalidListValue. `{state}` is not a state of {} (it has: {}).",
            w.type_name,
            states.iter().map(|s| s.0).collect::<Vec<_>>().join(", ")
        )));
    }
    if w.str_field("System.Title").trim().is_empty() {
        return Err(bad_request(
            "TF401320: Rule Error for field Title. Error code: Required, HasValues, LimitedToValues, AllowsOldValue, InvalidEmpty.",
        ));
    }
    Ok(())
}

async fn create_item(
    State(st): State<St>,
    Path((org, project, key)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Res {
    auth(&headers)?;
    own(&st, &org, &project)?;
    let Some(ty) = key.strip_prefix('$') else {
        return Err(error(
            StatusCode::METHOD_NOT_ALLOWED,
            "Use POST …/workitems/${type}.",
        ));
    };
    let Some((name, ..)) = find_type(st.ado.process, ty) else {
        return Err(bad_request(&format!(
            "VS402323: Work item type {ty} does not exist."
        )));
    };
    let now = st.remote.tick();
    let mut d = lock(&st.ado.data);
    let mut w = AdoWorkItem {
        id: d.next_id,
        rev: 0,
        type_name: name.into(),
        fields: BTreeMap::new(),
        created: now,
        changed: now,
        history: Vec::new(),
        comment_count: 0,
    };
    w.fields
        .insert("System.AreaPath".into(), json!(st.ado.project));
    w.fields
        .insert("System.IterationPath".into(), json!(st.ado.project));
    apply_patch(st.ado.process, &mut w, &body)?;
    check_iteration(&st, &d, &w)?;
    w.rev = 1;
    d.next_id += 1;
    d.items.insert(w.id, w.clone());
    Ok(axum::Json(item_json(&base(&headers), &st, &w, None)).into_response())
}

fn numeric_id(key: &str) -> Result<u64, Response> {
    key.parse().map_err(|_| {
        bad_request(&format!(
            "The request is invalid: `{key}` is not a work item id."
        ))
    })
}

fn not_found(id: u64) -> Response {
    error(
        StatusCode::NOT_FOUND,
        &format!(
            "TF401232: Work item {id} does not exist, or you do not have permissions to read it."
        ),
    )
}

async fn get_item(
    State(st): State<St>,
    Path((org, project, key)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Res {
    auth(&headers)?;
    own(&st, &org, &project)?;
    let id = numeric_id(&key)?;
    let d = lock(&st.ado.data);
    let w = d.items.get(&id).ok_or_else(|| not_found(id))?;
    Ok(axum::Json(item_json(&base(&headers), &st, w, None)).into_response())
}

async fn update_item(
    State(st): State<St>,
    Path((org, project, key)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Res {
    auth(&headers)?;
    own(&st, &org, &project)?;
    let id = numeric_id(&key)?;
    let now = st.remote.tick();
    let mut d = lock(&st.ado.data);
    let current = d.items.get(&id).ok_or_else(|| not_found(id))?;
    let mut w = current.clone();
    apply_patch(st.ado.process, &mut w, &body)?;
    check_iteration(&st, &d, &w)?;
    w.history.push(current.fields.clone());
    w.rev += 1;
    w.changed = now;
    d.items.insert(id, w.clone());
    Ok(axum::Json(item_json(&base(&headers), &st, &w, None)).into_response())
}

async fn batch(
    State(st): State<St>,
    Path((org, project)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Res {
    auth(&headers)?;
    own(&st, &org, &project)?;
    let v: Value = serde_json::from_slice(&body).map_err(|_| bad_request("Invalid JSON body"))?;
    let ids: Vec<u64> = v
        .get("ids")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_u64)
        .collect();
    if ids.is_empty() || ids.len() > 200 {
        return Err(bad_request(&format!(
            "VS402337: A batch asks for 1 to 200 work items, not {}.",
            ids.len()
        )));
    }
    let fields: Option<Vec<String>> = v.get("fields").and_then(Value::as_array).map(|a| {
        a.iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect()
    });
    let omit = v.get("errorPolicy").and_then(Value::as_str) == Some("omit");
    let d = lock(&st.ado.data);
    let mut out = Vec::new();
    for id in ids {
        match d.items.get(&id) {
            Some(w) => out.push(item_json(&base(&headers), &st, w, fields.as_deref())),
            // Left out (the description's schema has no room for the `null` some clients
            // report; devlog reads either).
            None if omit => {}
            None => return Err(not_found(id)),
        }
    }
    Ok(axum::Json(json!({"count": out.len(), "value": out})).into_response())
}

/// One clause of the WIQL subset.
#[derive(Debug)]
enum Clause {
    Project,
    ChangedSince(DateTime<Utc>, bool),
    TagContains(String),
}

fn wiql_literal(s: &str) -> Option<String> {
    let s = s.trim();
    s.strip_prefix('\'')
        .and_then(|s| s.strip_suffix('\''))
        .map(|s| s.replace("''", "'"))
}

fn parse_wiql(q: &str, time_precision: bool) -> Result<(Vec<Clause>, bool), String> {
    let q = q.trim();
    let lower = q.to_ascii_lowercase();
    let head = "select [system.id] from workitems";
    if !lower.starts_with(head) {
        return Err(format!(
            "the fake answers only `SELECT [System.Id] FROM WorkItems …`, not `{q}`"
        ));
    }
    let mut rest = &q[head.len()..];
    let mut ordered = false;
    let lower_rest = rest.to_ascii_lowercase();
    if let Some(at) = lower_rest.find(" order by ") {
        let order = lower_rest[at + 10..].trim();
        if order != "[system.changeddate] asc, [system.id] asc" {
            return Err(format!(
                "the fake orders only by `[System.ChangedDate] ASC, [System.Id] ASC`, not `{order}`"
            ));
        }
        ordered = true;
        rest = &rest[..at];
    }
    let rest = rest.trim();
    if rest.is_empty() {
        return Ok((Vec::new(), ordered));
    }
    let Some(where_) = rest
        .strip_prefix("WHERE ")
        .or_else(|| rest.strip_prefix("where "))
    else {
        return Err(format!("the fake does not understand `{rest}`"));
    };
    let clauses = where_
        .split(" AND ")
        .map(|c| {
            let c = c.trim();
            if c.eq_ignore_ascii_case("[System.TeamProject] = @project") {
                return Ok(Clause::Project);
            }
            if let Some(v) = c.strip_prefix("[System.ChangedDate] >= ") {
                let lit = wiql_literal(v).ok_or(format!("bad clause `{c}`"))?;
                if let Ok(t) = DateTime::parse_from_rfc3339(&lit) {
                    if !time_precision {
                        return Err(format!(
                            "VS402625: Dates must be specified without a time (or the query run with timePrecision=true): `{c}`"
                        ));
                    }
                    return Ok(Clause::ChangedSince(t.with_timezone(&Utc), true));
                }
                let day = chrono::NaiveDate::parse_from_str(&lit, "%Y-%m-%d")
                    .map_err(|_| format!("bad date in `{c}`"))?;
                let t = day
                    .and_hms_opt(0, 0, 0)
                    .map(|t| t.and_utc())
                    .ok_or(format!("bad date in `{c}`"))?;
                return Ok(Clause::ChangedSince(t, false));
            }
            if let Some(v) = c.strip_prefix("[System.Tags] CONTAINS ") {
                return wiql_literal(v)
                    .map(Clause::TagContains)
                    .ok_or(format!("bad clause `{c}`"));
            }
            Err(format!("the fake does not understand the WIQL clause `{c}`"))
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok((clauses, ordered))
}

async fn wiql(
    State(st): State<St>,
    Path((org, project, team)): Path<(String, String, String)>,
    Query(q): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Res {
    auth(&headers)?;
    own(&st, &org, &project)?;
    own_team(&st, &team)?;
    let v: Value = serde_json::from_slice(&body).map_err(|_| bad_request("Invalid JSON body"))?;
    let query = v.get("query").and_then(Value::as_str).unwrap_or_default();
    let precise = q.get("timePrecision").map(String::as_str) == Some("true");
    let (clauses, _) = parse_wiql(query, precise).map_err(|e| bad_request(&e))?;
    let top: usize = q.get("$top").and_then(|t| t.parse().ok()).unwrap_or(20_000);
    let d = lock(&st.ado.data);
    let mut hits: Vec<&AdoWorkItem> = d
        .items
        .values()
        .filter(|w| {
            clauses.iter().all(|c| match c {
                Clause::Project => true,
                Clause::ChangedSince(t, true) => w.changed >= *t,
                // Date precision: the day of the change counts.
                Clause::ChangedSince(t, false) => w.changed.date_naive() >= t.date_naive(),
                Clause::TagContains(tag) => w
                    .str_field("System.Tags")
                    .split(';')
                    .any(|t| t.trim().eq_ignore_ascii_case(tag)),
            })
        })
        .collect();
    hits.sort_by_key(|w| (w.changed, w.id));
    let base = base(&headers);
    let items: Vec<Value> = hits
        .iter()
        .take(top)
        .map(|w| json!({"id": w.id, "url": format!("{base}/{org}/_apis/wit/workItems/{}", w.id)}))
        .collect();
    Ok(axum::Json(json!({
        "queryType": "flat", "queryResultType": "workItem",
        "asOf": ado_time(st.remote.now()),
        "columns": [{"referenceName": "System.Id", "name": "ID"}],
        "sortColumns": [
            {"field": {"referenceName": "System.ChangedDate", "name": "Changed Date"}, "descending": false},
            {"field": {"referenceName": "System.Id", "name": "ID"}, "descending": false}],
        "workItems": items,
    }))
    .into_response())
}

/// Sprint 1 (past), Sprint 2 (current), Sprint 3 (future) around `now`, on the team.
fn default_iterations(now: DateTime<Utc>) -> Vec<AdoIteration> {
    let day = chrono::Duration::days(1);
    [
        ("Sprint 1", now - day * 21, now - day * 7),
        ("Sprint 2", now - day * 7, now + day * 7),
        ("Sprint 3", now + day * 7, now + day * 21),
    ]
    .into_iter()
    .enumerate()
    .map(|(i, (name, start, finish))| AdoIteration {
        id: 100 + i as u64 + 1,
        identifier: format!("a1b2c3d4-0000-4000-8000-00000000000{}", i + 1),
        name: name.into(),
        start: Some(start),
        finish: Some(finish),
        on_team: true,
    })
    .collect()
}

fn time_frame(i: &AdoIteration, now: DateTime<Utc>) -> &'static str {
    match (i.start, i.finish) {
        (_, Some(f)) if f < now => "past",
        (Some(s), _) if s > now => "future",
        (Some(_), Some(_)) => "current",
        _ => "future",
    }
}

fn team_iteration_json(project: &str, i: &AdoIteration, now: DateTime<Utc>) -> Value {
    json!({"id": i.identifier, "name": i.name, "path": format!("{project}\\{}", i.name),
           "attributes": {"startDate": i.start.map(ado_time), "finishDate": i.finish.map(ado_time),
                          "timeFrame": time_frame(i, now)}})
}

fn node_json(project: &str, i: &AdoIteration) -> Value {
    let mut attributes = Map::new();
    if let (Some(s), Some(f)) = (i.start, i.finish) {
        attributes.insert("startDate".into(), json!(ado_time(s)));
        attributes.insert("finishDate".into(), json!(ado_time(f)));
    }
    json!({"id": i.id, "identifier": i.identifier, "name": i.name, "structureType": "iteration",
           "hasChildren": false, "path": format!("\\{project}\\Iteration\\{}", i.name),
           "attributes": attributes})
}

/// Whether `path` is an iteration path of the project (its root, or a node under it).
fn iteration_exists(project: &str, d: &Data, path: &str) -> bool {
    if path.eq_ignore_ascii_case(project) {
        return true;
    }
    path.split_once('\\').is_some_and(|(p, name)| {
        p.eq_ignore_ascii_case(project)
            && d.iterations
                .iter()
                .any(|i| i.name.eq_ignore_ascii_case(name))
    })
}

fn check_iteration(st: &St, d: &Data, w: &AdoWorkItem) -> Result<(), Response> {
    let path = w.str_field("System.IterationPath");
    if iteration_exists(&st.ado.project, d, path) {
        Ok(())
    } else {
        Err(bad_request(&format!(
            "TF401347: Invalid tree name given for work item {}, field 'System.IterationPath' (`{path}`).",
            w.id
        )))
    }
}

/// The team's iterations, `$timeframe=current` the one around the fake's clock.
async fn iterations(
    State(st): State<St>,
    Path((org, project, team)): Path<(String, String, String)>,
    Query(q): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Res {
    auth(&headers)?;
    own(&st, &org, &project)?;
    own_team(&st, &team)?;
    let now = st.remote.now();
    let wanted = q.get("$timeframe").map(|s| s.to_ascii_lowercase());
    let d = lock(&st.ado.data);
    let list: Vec<Value> = d
        .iterations
        .iter()
        .filter(|i| i.on_team)
        .filter(|i| wanted.as_deref().is_none_or(|w| w == time_frame(i, now)))
        .map(|i| team_iteration_json(&project, i, now))
        .collect();
    Ok(axum::Json(json!({"count": list.len(), "value": list})).into_response())
}

/// Adds an iteration (by its node's GUID) to the team; one it has already is answered as is.
async fn add_team_iteration(
    State(st): State<St>,
    Path((org, project, team)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Res {
    auth(&headers)?;
    own(&st, &org, &project)?;
    own_team(&st, &team)?;
    let v: Value = serde_json::from_slice(&body).map_err(|_| bad_request("Invalid JSON body"))?;
    let id = v.get("id").and_then(Value::as_str).unwrap_or_default();
    let now = st.remote.now();
    let mut d = lock(&st.ado.data);
    let Some(i) = d.iterations.iter_mut().find(|i| i.identifier == id) else {
        return Err(error(
            StatusCode::NOT_FOUND,
            &format!("VS403116: The iteration with id {id} does not exist."),
        ));
    };
    i.on_team = true;
    let out = team_iteration_json(&project, i, now);
    // The description declares 200 (its example shows 201): the description is the contract.
    Ok(axum::Json(out).into_response())
}

/// The work items of a team iteration (`workItemRelations` with `target` ids).
async fn iteration_work_items(
    State(st): State<St>,
    Path((org, project, team, id)): Path<(String, String, String, String)>,
    headers: HeaderMap,
) -> Res {
    auth(&headers)?;
    own(&st, &org, &project)?;
    own_team(&st, &team)?;
    let d = lock(&st.ado.data);
    let Some(i) = d
        .iterations
        .iter()
        .find(|i| i.identifier == id && i.on_team)
    else {
        return Err(error(
            StatusCode::NOT_FOUND,
            &format!("VS403116: The team iteration with id {id} does not exist."),
        ));
    };
    let path = format!("{project}\\{}", i.name);
    let base = base(&headers);
    let relations: Vec<Value> = d
        .items
        .values()
        .filter(|w| w.str_field("System.IterationPath").eq_ignore_ascii_case(&path))
        .map(|w| {
            json!({"rel": null, "source": null,
                   "target": {"id": w.id, "url": format!("{base}/{org}/_apis/wit/workItems/{}", w.id)}})
        })
        .collect();
    Ok(axum::Json(json!({"workItemRelations": relations})).into_response())
}

/// Creates an iteration under the project's root: `{name, attributes: {startDate,
/// finishDate}}` (both dates or neither); a name taken is 409 as Azure DevOps answers.
async fn create_node(
    State(st): State<St>,
    Path((org, project, group)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Res {
    auth(&headers)?;
    own(&st, &org, &project)?;
    if !group.eq_ignore_ascii_case("iterations") {
        return Err(bad_request(&format!(
            "The fake implements only the Iterations structure group, not `{group}`."
        )));
    }
    let v: Value = serde_json::from_slice(&body).map_err(|_| bad_request("Invalid JSON body"))?;
    let name = v
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .trim()
        .to_string();
    if name.is_empty() || name.contains(['\\', '/', '<', '>', '|', '?', '*', ':']) {
        return Err(bad_request(&format!(
            "VS402371: Classification node name `{name}` is invalid."
        )));
    }
    let date = |k: &str| -> Result<Option<DateTime<Utc>>, Response> {
        match v.pointer(&format!("/attributes/{k}")) {
            None | Some(Value::Null) => Ok(None),
            Some(t) => t
                .as_str()
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| Some(t.with_timezone(&Utc)))
                .ok_or_else(|| bad_request(&format!("Invalid {k} `{t}`."))),
        }
    };
    let (start, finish) = (date("startDate")?, date("finishDate")?);
    if start.is_some() != finish.is_some() || start.zip(finish).is_some_and(|(s, f)| f < s) {
        return Err(bad_request(
            "VS402386: An iteration needs both a start and a finish date, the finish not before the start.",
        ));
    }
    let mut d = lock(&st.ado.data);
    if d.iterations
        .iter()
        .any(|i| i.name.eq_ignore_ascii_case(&name))
    {
        return Err(error(
            StatusCode::CONFLICT,
            &format!(
                "VS402371: Classification node name {name} is already in use by a different child of parent classification node."
            ),
        ));
    }
    let n = d.iterations.len() as u64 + 1;
    let i = AdoIteration {
        id: 100 + n,
        identifier: format!("b2c3d4e5-0000-4000-8000-{n:012}"),
        name,
        start,
        finish,
        on_team: false,
    };
    d.iterations.push(i.clone());
    // The description declares 200 (its example shows 201): the description is the contract.
    Ok(axum::Json(node_json(&project, &i)).into_response())
}

/// An iteration by its path under the project's root.
async fn get_node(
    State(st): State<St>,
    Path((org, project, group, path)): Path<(String, String, String, String)>,
    headers: HeaderMap,
) -> Res {
    auth(&headers)?;
    own(&st, &org, &project)?;
    let d = lock(&st.ado.data);
    match d
        .iterations
        .iter()
        .find(|i| group.eq_ignore_ascii_case("iterations") && i.name.eq_ignore_ascii_case(&path))
    {
        Some(i) => Ok(axum::Json(node_json(&project, i)).into_response()),
        None => Err(error(
            StatusCode::NOT_FOUND,
            &format!("VS402485: The node {group}\\{path} does not exist."),
        )),
    }
}

/// Adds the throttling headers set by [`FakeAdo::throttle`].
async fn throttle_headers(State(shared): State<Arc<Shared>>, mut resp: Response) -> Response {
    let Some(t) = lock(&shared.data).throttle.clone() else {
        return resp;
    };
    let h = resp.headers_mut();
    let mut put = |k: &'static str, v: String| {
        if let Ok(v) = axum::http::HeaderValue::from_str(&v) {
            h.insert(k, v);
        }
    };
    put("x-ratelimit-resource", "ATCPU".into());
    if let Some(d) = t.delay_seconds {
        put("x-ratelimit-delay", format!("{d}"));
    }
    if let Some(l) = t.limit {
        put("x-ratelimit-limit", l.to_string());
    }
    if let Some(r) = t.remaining {
        put("x-ratelimit-remaining", r.to_string());
    }
    if let Some(r) = t.reset_epoch {
        put("x-ratelimit-reset", r.to_string());
    }
    if let Some(r) = t.retry_after_seconds {
        put("retry-after", r.to_string());
    }
    resp
}

fn new_comment(
    d: &mut Data,
    item: u64,
    author: &str,
    text: &str,
    now: DateTime<Utc>,
) -> Option<AdoComment> {
    let w = d.items.get_mut(&item)?;
    w.history.push(w.fields.clone());
    w.rev += 1;
    w.changed = now;
    w.comment_count += 1;
    let c = AdoComment {
        id: d.next_comment,
        work_item: item,
        text: text.into(),
        version: 1,
        author: author.into(),
        created: now,
        modified: now,
        deleted: false,
    };
    d.next_comment += 1;
    d.comments.insert(c.id, c.clone());
    Some(c)
}

fn identity(unique: &str) -> Value {
    json!({"displayName": unique.split('@').next().unwrap_or(unique), "uniqueName": unique,
           "id": format!("{:x}", unique.len() * 7919)})
}

fn comment_json(base: &str, st: &St, c: &AdoComment) -> Value {
    json!({
        "workItemId": c.work_item, "id": c.id, "version": c.version, "text": c.text,
        "format": "html", "isDeleted": c.deleted,
        "createdBy": identity(&c.author), "createdDate": ado_time(c.created),
        "modifiedBy": identity(&c.author), "modifiedDate": ado_time(c.modified),
        "url": format!("{base}/{}/{}/_apis/wit/workItems/{}/comments/{}", st.ado.org, st.ado.project, c.work_item, c.id),
    })
}

fn comment_text(body: &Bytes) -> Result<String, Response> {
    let v: Value = serde_json::from_slice(body).map_err(|_| bad_request("Invalid JSON body"))?;
    match v.get("text").and_then(Value::as_str) {
        Some(t) if !t.trim().is_empty() => Ok(t.to_string()),
        _ => Err(bad_request("VS403671: The comment text cannot be empty.")),
    }
}

fn comment_not_found(id: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        &format!("VS402643: The comment {id} does not exist."),
    )
}

async fn list_comments(
    State(st): State<St>,
    Path((org, project, id)): Path<(String, String, String)>,
    Query(q): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Res {
    auth(&headers)?;
    own(&st, &org, &project)?;
    let id = numeric_id(&id)?;
    let d = lock(&st.ado.data);
    if !d.items.contains_key(&id) {
        return Err(not_found(id));
    }
    let base = base(&headers);
    let include_deleted = q.get("includeDeleted").map(String::as_str) == Some("true");
    let all: Vec<&AdoComment> = d
        .comments
        .values()
        .filter(|c| c.work_item == id && (include_deleted || !c.deleted))
        .collect();
    // Get Comments Batch: the comments named by `ids`.
    if let Some(ids) = q.get("ids") {
        let wanted: BTreeSet<u64> = ids
            .split(',')
            .filter_map(|i| i.trim().parse().ok())
            .collect();
        let list: Vec<Value> = all
            .iter()
            .filter(|c| wanted.contains(&c.id))
            .map(|c| comment_json(&base, &st, c))
            .collect();
        return Ok(axum::Json(
            json!({"count": list.len(), "totalCount": list.len(), "comments": list}),
        )
        .into_response());
    }
    let top: usize = q
        .get("$top")
        .and_then(|t| t.parse().ok())
        .unwrap_or(200)
        .clamp(1, 200);
    let start: usize = q
        .get("continuationToken")
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    let mut ordered = all.clone();
    if q.get("order").map(String::as_str) == Some("desc") {
        ordered.reverse();
    }
    let page: Vec<Value> = ordered
        .iter()
        .skip(start)
        .take(top)
        .map(|c| comment_json(&base, &st, c))
        .collect();
    let mut out = json!({"totalCount": all.len(), "count": page.len(), "comments": page});
    if start + top < ordered.len() {
        out["continuationToken"] = json!((start + top).to_string());
    }
    Ok(axum::Json(out).into_response())
}

async fn add_comment(
    State(st): State<St>,
    Path((org, project, id)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Res {
    auth(&headers)?;
    own(&st, &org, &project)?;
    let id = numeric_id(&id)?;
    let text = comment_text(&body)?;
    let now = st.remote.tick();
    let mut d = lock(&st.ado.data);
    let c = new_comment(&mut d, id, ME, &text, now).ok_or_else(|| not_found(id))?;
    Ok(axum::Json(comment_json(&base(&headers), &st, &c)).into_response())
}

fn find_comment<'a>(d: &'a mut Data, item: u64, cid: &str) -> Result<&'a mut AdoComment, Response> {
    cid.parse::<u64>()
        .ok()
        .and_then(|c| d.comments.get_mut(&c))
        .filter(|c| c.work_item == item && !c.deleted)
        .ok_or_else(|| comment_not_found(cid))
}

async fn get_comment(
    State(st): State<St>,
    Path((org, project, id, cid)): Path<(String, String, String, String)>,
    headers: HeaderMap,
) -> Res {
    auth(&headers)?;
    own(&st, &org, &project)?;
    let id = numeric_id(&id)?;
    let mut d = lock(&st.ado.data);
    let c = find_comment(&mut d, id, &cid)?.clone();
    Ok(axum::Json(comment_json(&base(&headers), &st, &c)).into_response())
}

async fn edit_comment(
    State(st): State<St>,
    Path((org, project, id, cid)): Path<(String, String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Res {
    auth(&headers)?;
    own(&st, &org, &project)?;
    let id = numeric_id(&id)?;
    let text = comment_text(&body)?;
    let now = st.remote.tick();
    let mut d = lock(&st.ado.data);
    let c = find_comment(&mut d, id, &cid)?;
    c.text = text;
    c.version += 1;
    c.modified = now;
    let c = c.clone();
    Ok(axum::Json(comment_json(&base(&headers), &st, &c)).into_response())
}

async fn delete_comment(
    State(st): State<St>,
    Path((org, project, id, cid)): Path<(String, String, String, String)>,
    headers: HeaderMap,
) -> Res {
    auth(&headers)?;
    own(&st, &org, &project)?;
    let id = numeric_id(&id)?;
    let now = st.remote.tick();
    let mut d = lock(&st.ado.data);
    let c = find_comment(&mut d, id, &cid)?;
    c.deleted = true;
    c.modified = now;
    if let Some(w) = d.items.get_mut(&id) {
        w.history.push(w.fields.clone());
        w.rev += 1;
        w.changed = now;
        w.comment_count = w.comment_count.saturating_sub(1);
    }
    Ok(StatusCode::OK.into_response())
}

/// A running fake Azure DevOps: the harness and the fake's data (what
/// `devlog_ado::AdoIntegration` talks to).
#[derive(Debug)]
pub struct AdoProbe {
    pub remote: crate::fake_remote::FakeRemote,
    pub ado: FakeAdo,
}

impl AdoProbe {
    /// Starts a fake Azure DevOps holding `org`/`project` on `process`.
    pub async fn start(org: &str, project: &str, process: FakeProcess) -> Self {
        let b = crate::fake_remote::FakeRemote::builder().without_tracker();
        let ado = FakeAdo::new(b.state(), org, project, process);
        let remote = b.routes(ado.router()).start().await;
        Self { remote, ado }
    }

    /// The organization URL to configure (`http://127.0.0.1:…/<org>`).
    pub fn organization_url(&self) -> String {
        format!("{}/{}", self.remote.url(), self.ado.shared.org)
    }
}

impl crate::integration_conformance::RemoteProbe for AdoProbe {
    fn state(&self) -> &FakeState {
        self.remote.state()
    }

    fn raw_item(&self, remote_id: &str) -> Option<Map<String, Value>> {
        let w = self.ado.item(remote_id.parse().ok()?)?;
        let mut m: Map<String, Value> = w.fields.into_iter().collect();
        m.insert("System.Id".into(), json!(w.id));
        m.insert("System.WorkItemType".into(), json!(w.type_name));
        m.insert("System.CreatedDate".into(), json!(ado_time(w.created)));
        Some(m)
    }

    fn raw_fields(&self, field: &str) -> Vec<&'static str> {
        match field {
            "title" => vec!["System.Title"],
            "description" => vec!["System.Description"],
            "status" => vec!["System.State", "System.Reason"],
            "tags" => vec!["System.Tags"],
            "type" => vec!["System.WorkItemType", "System.State"],
            "priority" => vec!["Microsoft.VSTS.Common.Priority"],
            "assignee" => vec!["System.AssignedTo"],
            "milestone" => vec!["System.IterationPath"],
            _ => Vec::new(),
        }
    }

    fn edit_title(&self, remote_id: &str, title: &str) {
        let id = remote_id.parse().expect("work item ids are numbers");
        self.ado
            .edit_item(id, |f| {
                f.insert("System.Title".into(), json!(title));
            })
            .expect("work item exists");
    }

    fn comments(&self, remote_id: &str) -> Vec<String> {
        remote_id
            .parse()
            .map(|id| self.ado.comments(id).into_iter().map(|c| c.text).collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_descriptions_load_and_know_the_operations_devlog_uses() {
        let [wit, core, work, pipelines, build, release] = specs();
        for (spec, method, path) in [
            (
                wit,
                "POST",
                "/acme/Fabrikam/_apis/wit/workitems/$User%20Story",
            ),
            (wit, "PATCH", "/acme/Fabrikam/_apis/wit/workitems/12"),
            (wit, "GET", "/acme/Fabrikam/_apis/wit/workitems/12"),
            (wit, "POST", "/acme/Fabrikam/_apis/wit/workitemsbatch"),
            (wit, "POST", "/acme/Fabrikam/Fabrikam%20Team/_apis/wit/wiql"),
            (wit, "GET", "/acme/Fabrikam/_apis/wit/workitemtypes"),
            (core, "GET", "/acme/_apis/projects/Fabrikam"),
            (
                core,
                "GET",
                "/acme/_apis/process/processes/adcc42ab-9882-485e-a3ed-7678f01f66bc",
            ),
            (
                work,
                "GET",
                "/acme/Fabrikam/Team/_apis/work/teamsettings/iterations",
            ),
            (pipelines, "GET", "/acme/Fabrikam/_apis/pipelines"),
            (pipelines, "POST", "/acme/Fabrikam/_apis/pipelines/3/runs"),
            (
                pipelines,
                "GET",
                "/acme/Fabrikam/_apis/pipelines/3/runs/101",
            ),
            (build, "GET", "/acme/Fabrikam/_apis/build/builds"),
            (
                build,
                "GET",
                "/acme/Fabrikam/_apis/build/builds/101/workitems",
            ),
            (release, "GET", "/acme/Fabrikam/_apis/release/releases/7"),
            (release, "GET", "/acme/Fabrikam/_apis/release/deployments"),
        ] {
            assert!(
                crate::openapi::has_operation(spec, method, path),
                "{method} {path}"
            );
        }
    }

    fn req(method: &str, path: &str, query: &str, ct: &str, body: &str) -> RecordedRequest {
        RecordedRequest {
            method: method.into(),
            path: path.into(),
            query: (!query.is_empty()).then(|| query.to_string()),
            headers: vec![("content-type".into(), ct.into())],
            authorized: true,
            body: Bytes::from(body.to_string()),
            fault: None,
        }
    }

    #[test]
    fn requests_are_checked_against_the_descriptions() {
        let patch = "application/json-patch+json";
        let ok = req(
            "PATCH",
            "/acme/P/_apis/wit/workitems/3",
            "api-version=7.1",
            patch,
            r#"[{"op":"test","path":"/rev","value":2},{"op":"replace","path":"/fields/System.Title","value":"x"}]"#,
        );
        assert_eq!(check_request(&ok), Ok(()));
        for (r, why) in [
            (
                req("PATCH", "/acme/P/_apis/wit/workitems/3", "", patch, "[]"),
                "no operations",
            ),
            (
                req(
                    "PATCH",
                    "/acme/P/_apis/wit/workitems/3",
                    "api-version=7.1",
                    patch,
                    r#"[{"op":"replace","path":"/fields/Custom.Nope","value":1}]"#,
                ),
                "names no field",
            ),
            (
                req(
                    "PATCH",
                    "/acme/P/_apis/wit/workitems/3",
                    "api-version=7.1",
                    patch,
                    r#"{"op":"replace"}"#,
                ),
                "array of operations",
            ),
            (
                req(
                    "PATCH",
                    "/acme/P/_apis/wit/workitems/3",
                    "api-version=7.1",
                    patch,
                    r#"[{"op":"merge","path":"/fields/System.Title","value":1}]"#,
                ),
                "not an RFC 6902 operation",
            ),
            (
                req(
                    "PATCH",
                    "/acme/P/_apis/wit/workitems/x3",
                    "api-version=7.1",
                    patch,
                    r#"[{"op":"replace","path":"/fields/System.Title","value":"x"}]"#,
                ),
                "not an integer",
            ),
            (
                req(
                    "PATCH",
                    "/acme/P/_apis/wit/workitems/3",
                    "",
                    patch,
                    r#"[{"op":"replace","path":"/fields/System.Title","value":"x"}]"#,
                ),
                "`api-version` is missing",
            ),
            (
                req(
                    "POST",
                    "/acme/P/T/_apis/wit/wiql",
                    "api-version=7.1&timeprecision=true",
                    "application/json",
                    r#"{"query":"SELECT"}"#,
                ),
                "`timeprecision` is not declared",
            ),
            (
                req(
                    "POST",
                    "/acme/P/_apis/wit/workitemsbatch",
                    "api-version=7.1",
                    "application/json",
                    r#"{"ids":["1"],"errorPolicy":"skip"}"#,
                ),
                "request schema",
            ),
            (
                req(
                    "GET",
                    "/acme/P/_apis/wit/workitems",
                    "api-version=7.1",
                    "",
                    "",
                ),
                "required query parameter `ids`",
            ),
        ] {
            let err = check_request(&r).unwrap_err();
            assert!(err.contains(why), "{} {:?}: {err}", r.line(), r.query);
        }
        // The comments list is an x-ms-paths variant of the batch get (which requires ids).
        let list = req(
            "GET",
            "/acme/P/_apis/wit/workItems/3/comments",
            "api-version=7.1-preview.4&$top=200",
            "",
            "",
        );
        assert_eq!(check_request(&list), Ok(()));
    }

    /// Every kind of answer the fake gives, checked against the response schemas.
    #[tokio::test]
    async fn answers_match_the_response_schemas() {
        let probe = AdoProbe::start("acme", "Fabrikam", FakeProcess::Scrum).await;
        devlog_http::install_crypto_provider();
        let client = devlog_http::HttpClient::new(
            devlog_http::ClientOptions::new("azure-devops", probe.organization_url())
                .bearer(devlog_http::SecretString::from(
                    "t0ken-for-the-fake".to_string(),
                ))
                .rate_limits(devlog_http::RateLimitConfig::unpaced()),
        )
        .unwrap();
        let patch = "application/json-patch+json";
        // (method, path under the organization, query, body and its media type)
        type Call<'a> = (&'a str, String, &'a str, Option<(Value, &'a str)>);
        let calls: Vec<Call> = vec![
            (
                "GET",
                "_apis/projects/Fabrikam".into(),
                "includeCapabilities=true&api-version=7.1",
                None,
            ),
            (
                "GET",
                format!("_apis/process/processes/{}", FakeProcess::Scrum.id()),
                "api-version=7.1",
                None,
            ),
            (
                "GET",
                "Fabrikam/_apis/wit/workitemtypes".into(),
                "api-version=7.1",
                None,
            ),
            (
                "GET",
                "Fabrikam/_apis/wit/workitemtypes/Task/states".into(),
                "api-version=7.1",
                None,
            ),
            (
                "POST",
                "Fabrikam/_apis/wit/workitems/$Task".into(),
                "api-version=7.1",
                Some((
                    json!([{"op": "add", "path": "/fields/System.Title", "value": "T"},
                          {"op": "add", "path": "/fields/System.AssignedTo", "value": "ann@example.com"}]),
                    patch,
                )),
            ),
            (
                "GET",
                "Fabrikam/_apis/wit/workitems/1".into(),
                "api-version=7.1",
                None,
            ),
            (
                "PATCH",
                "Fabrikam/_apis/wit/workitems/1".into(),
                "api-version=7.1",
                Some((
                    json!([{"op": "test", "path": "/rev", "value": 1},
                          {"op": "replace", "path": "/fields/System.State", "value": "In Progress"}]),
                    patch,
                )),
            ),
            (
                "POST",
                "Fabrikam/_apis/wit/workitemsbatch".into(),
                "api-version=7.1",
                Some((
                    json!({"ids": [1, 99], "fields": ["System.Title"], "errorPolicy": "omit"}),
                    "application/json",
                )),
            ),
            (
                "POST",
                "Fabrikam/Fabrikam Team/_apis/wit/wiql".into(),
                "timePrecision=true&api-version=7.1",
                Some((
                    json!({"query": "SELECT [System.Id] FROM WorkItems WHERE [System.TeamProject] = @project"}),
                    "application/json",
                )),
            ),
            (
                "POST",
                "Fabrikam/_apis/wit/workItems/1/comments".into(),
                "api-version=7.1-preview.4",
                Some((json!({"text": "<p>Hi</p>"}), "application/json")),
            ),
            (
                "GET",
                "Fabrikam/_apis/wit/workItems/1/comments".into(),
                "$top=200&api-version=7.1-preview.4",
                None,
            ),
            (
                "GET",
                "Fabrikam/_apis/wit/workItems/1/comments".into(),
                "ids=5001&includeDeleted=true&api-version=7.1-preview.4",
                None,
            ),
            (
                "GET",
                "Fabrikam/_apis/wit/workItems/1/comments/5001".into(),
                "api-version=7.1-preview.4",
                None,
            ),
            (
                "PATCH",
                "Fabrikam/_apis/wit/workItems/1/comments/5001".into(),
                "api-version=7.1-preview.4",
                Some((json!({"text": "<p>Edited</p>"}), "application/json")),
            ),
            (
                "DELETE",
                "Fabrikam/_apis/wit/workItems/1/comments/5001".into(),
                "api-version=7.1-preview.4",
                None,
            ),
            (
                "GET",
                "Fabrikam/Fabrikam Team/_apis/work/teamsettings/iterations".into(),
                "$timeframe=current&api-version=7.1",
                None,
            ),
            (
                "POST",
                "Fabrikam/_apis/wit/classificationnodes/iterations".into(),
                "api-version=7.1",
                Some((
                    json!({"name": "Sprint 9", "attributes": {"startDate": "2025-02-03T00:00:00Z", "finishDate": "2025-02-14T00:00:00Z"}}),
                    "application/json",
                )),
            ),
            (
                "GET",
                "Fabrikam/_apis/wit/classificationnodes/iterations/Sprint%209".into(),
                "api-version=7.1",
                None,
            ),
            (
                "POST",
                "Fabrikam/Fabrikam Team/_apis/work/teamsettings/iterations".into(),
                "api-version=7.1",
                Some((
                    json!({"id": "b2c3d4e5-0000-4000-8000-000000000004"}),
                    "application/json",
                )),
            ),
            (
                "GET",
                "Fabrikam/Fabrikam Team/_apis/work/teamsettings/iterations/a1b2c3d4-0000-4000-8000-000000000002/workitems".into(),
                "api-version=7.1",
                None,
            ),
            (
                "GET",
                "Fabrikam/Fabrikam Team/_apis/work/teamsettings/iterations".into(),
                "api-version=7.1",
                None,
            ),
            (
                "GET",
                "Fabrikam/_apis/pipelines".into(),
                "$top=500&api-version=7.1",
                None,
            ),
            (
                "POST",
                "Fabrikam/_apis/pipelines/1/runs".into(),
                "api-version=7.1",
                Some((
                    json!({"resources": {"repositories": {"self": {"refName": "refs/heads/main"}}}}),
                    "application/json",
                )),
            ),
            (
                "GET",
                "Fabrikam/_apis/pipelines/1/runs".into(),
                "api-version=7.1",
                None,
            ),
            (
                "GET",
                "Fabrikam/_apis/pipelines/1/runs/101".into(),
                "api-version=7.1",
                None,
            ),
            (
                "GET",
                "Fabrikam/_apis/build/builds".into(),
                "definitions=1&branchName=refs/heads/main&queryOrder=queueTimeDescending&$top=50&api-version=7.1",
                None,
            ),
            (
                "GET",
                "Fabrikam/_apis/build/builds".into(),
                "buildIds=101,102&api-version=7.1",
                None,
            ),
            (
                "GET",
                "Fabrikam/_apis/build/builds/101/workitems".into(),
                "$top=500&api-version=7.1",
                None,
            ),
            (
                "GET",
                "Fabrikam/_apis/release/releases/7".into(),
                "api-version=7.1",
                None,
            ),
        ];
        probe.ado.add_pipeline("CI", "\\");
        probe.ado.add_release(
            7,
            "Release-7",
            vec![AdoArtifact {
                alias: "CI".into(),
                kind: "Build".into(),
                build: Some(101),
            }],
        );
        for (method, path, query, body) in calls {
            let m = devlog_http::Method::from_bytes(method.as_bytes()).unwrap();
            let mut req = client.request(m, &format!("{path}?{query}"));
            if let Some((b, ct)) = &body {
                req = req.json_as(b, ct);
            }
            let resp = req
                .send()
                .await
                .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
            let value: Value = if resp.body().is_empty() {
                Value::Null
            } else {
                resp.json().unwrap()
            };
            let full = resp.url().path().to_string();
            check_response(method, &full, resp.status().as_u16(), &value)
                .unwrap_or_else(|e| panic!("{method} {full}: {}", &e[..e.len().min(600)]));
        }
        assert!(
            probe.ado.check_contract().is_empty(),
            "{:?}",
            probe.ado.check_contract()
        );
    }

    #[test]
    fn the_wiql_subset_names_what_it_does_not_understand() {
        let (c, ordered) = parse_wiql(
            "SELECT [System.Id] FROM WorkItems WHERE [System.TeamProject] = @project AND [System.ChangedDate] >= '2025-01-01T00:00:00.000Z' ORDER BY [System.ChangedDate] ASC, [System.Id] ASC",
            true,
        )
        .unwrap();
        assert_eq!(c.len(), 2);
        assert!(ordered);
        let err = parse_wiql(
            "SELECT [System.Id] FROM WorkItems WHERE [System.State] = 'Active'",
            true,
        )
        .unwrap_err();
        assert!(err.contains("[System.State] = 'Active'"), "{err}");
        let err = parse_wiql(
            "SELECT [System.Id] FROM WorkItems WHERE [System.ChangedDate] >= '2025-01-01T00:00:00Z'",
            false,
        )
        .unwrap_err();
        assert!(err.contains("timePrecision"), "{err}");
        assert!(
            parse_wiql(
                "SELECT [System.Id] FROM WorkItems WHERE [System.ChangedDate] >= '2025-01-01'",
                false
            )
            .is_ok()
        );
    }
}
