//! The fake GitHub GraphQL endpoint (Projects v2), and the contract check that validates every
//! GraphQL request against GitHub's schema (`apispecs/github/graphql/schema.graphql`).
//!
//! The fake holds one project (v2) with two single-select fields, "Status" (Todo, In
//! Progress, Done) and "Priority" (Critical, High, Medium, Low), and its items; the issues are
//! those of the [`FakeGithub`] it is built on (node ids `I_<number>`). Queries are parsed and
//! validated with apollo-compiler and executed field by field on resolvers for the types
//! devlog reads: `node(id:)` (a project, item or issue), `ProjectV2.field/items`,
//! `ProjectV2Item.content/fieldValueByName/updatedAt/project`, and the mutations
//! `addProjectV2ItemById`, `updateProjectV2ItemFieldValue`, `deleteProjectV2Item`. Other
//! fields resolve to a field error naming them.
//!
//! As on GitHub: a wrong bearer token gets HTTP 401; an unknown node id is `200` with
//! `errors: [{type: "NOT_FOUND", …}]`; a document the schema rejects is `200` with its
//! validation errors. A card moved on the board ([`FakeGithubGraphql::move_item`]) bumps the
//! item's `updatedAt` on the harness clock, never the issue's `updated_at`.
//!
//! Mount it next to the REST fake:
//! `FakeRemote::builder().without_tracker().routes(gh.router().merge(graphql.router()))`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use apollo_compiler::executable::Operation;
use apollo_compiler::resolvers::{Execution, FieldError, ObjectValue, ResolveInfo, ResolvedValue};
use apollo_compiler::response::{JsonMap, JsonValue};
use apollo_compiler::validation::Valid;
use apollo_compiler::{ExecutableDocument, Schema};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::fake_github::{FakeGithub, GhIssue};
use crate::fake_remote::{FakeState, RecordedRequest, json_error, rfc3339};

/// Where GitHub's GraphQL schema lives (`DEVLOG_GITHUB_GRAPHQL_SCHEMA` overrides).
pub fn schema_path() -> String {
    std::env::var("DEVLOG_GITHUB_GRAPHQL_SCHEMA").unwrap_or_else(|_| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/apispecs/github/graphql/schema.graphql"
        )
        .to_string()
    })
}

/// GitHub's schema, loaded once. The SDL defines two enterprise fields twice, so a failed
/// build keeps its partial schema (the first definitions); other errors would be ours to fix.
pub fn schema() -> &'static Valid<Schema> {
    static SCHEMA: OnceLock<Valid<Schema>> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let path = schema_path();
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("reading GitHub's GraphQL schema {path}: {e}"));
        match Schema::parse(text, &path) {
            Ok(s) => Valid::assume_valid(s),
            Err(e) => {
                let other: Vec<String> = e
                    .errors
                    .iter()
                    .map(|d| d.error.to_string())
                    .filter(|m| !m.starts_with("duplicate definitions"))
                    .collect();
                assert!(
                    other.is_empty(),
                    "GitHub's GraphQL schema {path} has problems beyond the known duplicate fields:\n{}",
                    other.join("\n")
                );
                Valid::assume_valid(e.partial)
            }
        }
    })
}

/// Validates one `POST /graphql` request body (`{"query": …, "variables": …}`) against
/// GitHub's GraphQL schema: the document parses and validates (fields, arguments, types,
/// fragments, variable use), the operation to run is unambiguous, every variable declared
/// non-null without a default is supplied, no undeclared variable is sent, and every value
/// coerces to its declared type.
pub fn check_graphql_body(body: &[u8]) -> Result<(), String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("body is not JSON: {e}"))?;
    let query = v
        .get("query")
        .and_then(Value::as_str)
        .ok_or("body has no `query` string")?;
    let vars = match v.get("variables") {
        None | Some(Value::Null) => JsonMap::new(),
        Some(o @ Value::Object(_)) => {
            serde_json::from_value::<JsonMap>(o.clone()).map_err(|e| format!("`variables`: {e}"))?
        }
        Some(_) => return Err("`variables` is not an object".into()),
    };
    let name = v.get("operationName").and_then(Value::as_str);
    let schema = schema();
    let doc =
        ExecutableDocument::parse_and_validate(schema, query, "request.graphql").map_err(|e| {
            format!(
                "the document does not validate against GitHub's schema:\n{}",
                e.errors
            )
        })?;
    let op = doc
        .operations
        .get(name)
        .map_err(|e| format!("which operation: {}", e.message()))?;
    check_variables(schema, op, &vars)
}

fn check_variables(schema: &Valid<Schema>, op: &Operation, vars: &JsonMap) -> Result<(), String> {
    for d in &op.variables {
        let given = vars.get(d.name.as_str()).is_some_and(|v| !v.is_null());
        if d.ty.is_non_null() && d.default_value.is_none() && !given {
            return Err(format!(
                "variable `${}: {}` is non-null but not supplied",
                d.name, d.ty
            ));
        }
    }
    for k in vars.keys() {
        if !op.variables.iter().any(|d| d.name.as_str() == k.as_str()) {
            return Err(format!(
                "variable `{}` is sent but the operation does not declare it",
                k.as_str()
            ));
        }
    }
    apollo_compiler::request::coerce_variable_values(schema, op, vars)
        .map(|_| ())
        .map_err(|e| format!("variables: {}", e.message()))
}

/// Violations among the `/graphql` requests in `requests`, one line each.
pub fn check_graphql_requests(requests: &[RecordedRequest]) -> Vec<String> {
    requests
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/graphql"))
        .filter_map(|r| {
            check_graphql_body(&r.body)
                .err()
                .map(|e| format!("POST {}: {e}\n  body: {}", r.path, r.body_text()))
        })
        .collect()
}

/// A single-select field of the fake project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeField {
    pub id: String,
    pub name: String,
    /// `(option id, option name)`.
    pub options: Vec<(String, String)>,
}

impl FakeField {
    fn new(id: &str, name: &str, options: &[&str]) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
            options: options
                .iter()
                .enumerate()
                .map(|(i, o)| (format!("{id}_opt{i}"), (*o).to_string()))
                .collect(),
        }
    }

    fn option_name(&self, id: &str) -> Option<&str> {
        self.options
            .iter()
            .find(|(i, _)| i == id)
            .map(|(_, n)| n.as_str())
    }
}

/// A card on the fake board.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeItem {
    /// `PVTI_<n>`.
    pub id: String,
    pub issue_number: u64,
    /// Field name → option name.
    pub values: BTreeMap<String, String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Default)]
struct Data {
    fields: Vec<FakeField>,
    items: Vec<FakeItem>,
    next_item: u64,
}

#[derive(Debug)]
struct Shared {
    remote: FakeState,
    gh: FakeGithub,
    repository: String,
    token: String,
    project_id: String,
    data: Mutex<Data>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The fake GraphQL endpoint: one project of `repository`'s issues. Cheap to clone.
#[derive(Debug, Clone)]
pub struct FakeGithubGraphql {
    shared: Arc<Shared>,
}

impl FakeGithubGraphql {
    /// A project with node id `project_id` over the issues of `gh` (repository
    /// `owner/repo`, as given to [`FakeGithub::new`]), accepting `Bearer <token>`.
    pub fn new(
        remote: FakeState,
        gh: FakeGithub,
        repository: &str,
        token: &str,
        project_id: &str,
    ) -> Self {
        Self {
            shared: Arc::new(Shared {
                remote,
                gh,
                repository: repository.into(),
                token: token.into(),
                project_id: project_id.into(),
                data: Mutex::new(Data {
                    fields: vec![
                        FakeField::new("PVTSSF_status", "Status", &["Todo", "In Progress", "Done"]),
                        FakeField::new(
                            "PVTSSF_priority",
                            "Priority",
                            &["Critical", "High", "Medium", "Low"],
                        ),
                    ],
                    items: Vec::new(),
                    next_item: 1,
                }),
            }),
        }
    }

    /// `POST /graphql` and (GitHub Enterprise Server) `POST /api/graphql`.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/graphql", post(graphql))
            .route("/api/graphql", post(graphql))
            .with_state(self.shared.clone())
    }

    pub fn project_id(&self) -> &str {
        &self.shared.project_id
    }

    pub fn fields(&self) -> Vec<FakeField> {
        lock(&self.shared.data).fields.clone()
    }

    /// Removes a field from the project (a board without "Priority").
    pub fn remove_field(&self, name: &str) {
        lock(&self.shared.data).fields.retain(|f| f.name != name);
    }

    /// Renames an option of a field (someone editing the board's options).
    pub fn rename_option(&self, field: &str, from: &str, to: &str) {
        let mut d = lock(&self.shared.data);
        for f in d.fields.iter_mut().filter(|f| f.name == field) {
            for (_, n) in f.options.iter_mut().filter(|(_, n)| n == from) {
                *n = to.to_string();
            }
        }
    }

    pub fn items(&self) -> Vec<FakeItem> {
        lock(&self.shared.data).items.clone()
    }

    pub fn item_for_issue(&self, number: u64) -> Option<FakeItem> {
        lock(&self.shared.data)
            .items
            .iter()
            .find(|i| i.issue_number == number)
            .cloned()
    }

    /// The option name of `field` on issue `number`'s card.
    pub fn field_value(&self, number: u64, field: &str) -> Option<String> {
        self.item_for_issue(number)
            .and_then(|i| i.values.get(field).cloned())
    }

    /// Adds issue `number` to the board directly (as someone on GitHub would).
    pub fn add_item(&self, number: u64) -> FakeItem {
        add_item(&self.shared, number)
    }

    /// A user drags issue `number`'s card to Status `option`: bumps the item's `updatedAt`
    /// (the issue's `updated_at` does not move). `None` when the issue has no card or the
    /// option does not exist.
    pub fn move_item(&self, number: u64, option: &str) -> Option<FakeItem> {
        self.set_field(number, "Status", option)
    }

    /// Sets `field` of issue `number`'s card to `option` as a user would.
    pub fn set_field(&self, number: u64, field: &str, option: &str) -> Option<FakeItem> {
        let now = self.shared.remote.tick();
        let mut d = lock(&self.shared.data);
        let known = d
            .fields
            .iter()
            .any(|f| f.name == field && f.options.iter().any(|(_, n)| n == option));
        if !known {
            return None;
        }
        let item = d.items.iter_mut().find(|i| i.issue_number == number)?;
        item.values.insert(field.into(), option.into());
        item.updated_at = now;
        Some(item.clone())
    }

    /// Violations of GitHub's GraphQL schema among all `/graphql` requests received so far.
    pub fn check_contract(&self) -> Vec<String> {
        check_graphql_requests(&self.shared.remote.requests())
    }
}

fn add_item(sh: &Shared, number: u64) -> FakeItem {
    let now = sh.remote.tick();
    let mut d = lock(&sh.data);
    if let Some(i) = d.items.iter().find(|i| i.issue_number == number) {
        return i.clone();
    }
    let item = FakeItem {
        id: format!("PVTI_{}", d.next_item),
        issue_number: number,
        values: BTreeMap::new(),
        created_at: now,
        updated_at: now,
    };
    d.next_item += 1;
    d.items.push(item.clone());
    item
}

// ---- HTTP ----

fn gql_errors(errors: Value) -> Response {
    axum::Json(json!({ "errors": errors })).into_response()
}

async fn graphql(State(sh): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let expected = format!("Bearer {}", sh.token);
    let authorized = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == expected);
    if !authorized {
        return json_error(StatusCode::UNAUTHORIZED, "Bad credentials");
    }
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return gql_errors(json!([{"message": "Problems parsing JSON"}]));
    };
    let Some(query) = v.get("query").and_then(Value::as_str) else {
        return gql_errors(
            json!([{"message": "A query attribute must be specified and must be a string."}]),
        );
    };
    let vars: JsonMap = v
        .get("variables")
        .filter(|v| v.is_object())
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default();
    let schema = schema();
    let doc = match ExecutableDocument::parse_and_validate(schema, query, "request.graphql") {
        Ok(d) => d,
        Err(e) => {
            let errors: Vec<Value> = e
                .errors
                .iter()
                .map(|d| json!({"message": d.error.to_string()}))
                .collect();
            return gql_errors(Value::Array(errors));
        }
    };
    let exec = match Execution::new(schema, &doc)
        .raw_variable_values(&vars)
        .operation_name(v.get("operationName").and_then(Value::as_str))
    {
        Ok(x) => x,
        Err(e) => return gql_errors(json!([{"message": e.message().to_string()}])),
    };
    let is_mutation = doc
        .operations
        .get(v.get("operationName").and_then(Value::as_str))
        .is_ok_and(|op| op.operation_type.is_mutation());
    let root = if is_mutation {
        Obj::Mutation(&sh)
    } else {
        Obj::Query(&sh)
    };
    let resp = match exec.execute_sync(&root) {
        Ok(r) => r,
        Err(e) => return gql_errors(json!([{"message": e.message().to_string()}])),
    };
    let mut out = serde_json::to_value(&resp).unwrap_or(Value::Null);
    // GitHub types its errors; resolvers mark theirs with a `TYPE: ` prefix.
    if let Some(errors) = out.get_mut("errors").and_then(Value::as_array_mut) {
        for e in errors {
            let msg = e
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let msg = msg.strip_prefix("resolver error: ").unwrap_or(&msg);
            if let Some((ty, rest)) = msg.split_once(": ")
                && matches!(ty, "NOT_FOUND" | "FORBIDDEN" | "UNPROCESSABLE")
            {
                e["type"] = json!(ty);
                e["message"] = json!(rest);
            }
        }
    }
    axum::Json(out).into_response()
}

// ---- resolvers ----

fn err(ty: &str, message: impl std::fmt::Display) -> FieldError {
    FieldError {
        message: format!("{ty}: {message}"),
    }
}

fn not_found(id: &str) -> FieldError {
    err(
        "NOT_FOUND",
        format!("Could not resolve to a node with the global id of '{id}'."),
    )
}

fn arg<'a>(info: &'a ResolveInfo<'a>, name: &str) -> Option<&'a JsonValue> {
    info.arguments().get(name).filter(|v| !v.is_null())
}

fn arg_str<'a>(info: &'a ResolveInfo<'a>, name: &str) -> Option<&'a str> {
    arg(info, name).and_then(|v| v.as_str())
}

fn input_str<'a>(input: Option<&'a JsonValue>, key: &str) -> Option<&'a str> {
    input
        .and_then(|i| i.as_object())
        .and_then(|i| i.get(key))
        .and_then(|v| v.as_str())
}

fn issue_number(node_id: &str) -> Option<u64> {
    node_id.strip_prefix("I_")?.parse().ok()
}

enum Obj<'s> {
    Query(&'s Shared),
    Mutation(&'s Shared),
    Project(&'s Shared),
    Field(FakeField),
    Opt(String, String),
    ItemConnection(&'s Shared, Vec<FakeItem>, bool, Option<String>),
    PageInfo(bool, Option<String>),
    Item(&'s Shared, FakeItem),
    Issue(&'s Shared, GhIssue),
    Repository(&'s Shared),
    SelectValue(FakeField, String),
    AddPayload(&'s Shared, FakeItem),
    UpdatePayload(&'s Shared, FakeItem),
    DeletePayload(String),
}

impl<'s> Obj<'s> {
    fn node(sh: &'s Shared, id: &str) -> Option<Obj<'s>> {
        if id == sh.project_id {
            return Some(Obj::Project(sh));
        }
        if let Some(item) = lock(&sh.data).items.iter().find(|i| i.id == id) {
            return Some(Obj::Item(sh, item.clone()));
        }
        let issue = sh.gh.issue(issue_number(id)?)?;
        (!issue.pull_request).then_some(Obj::Issue(sh, issue))
    }
}

fn obj<'a>(o: Obj<'a>) -> Result<ResolvedValue<'a>, FieldError> {
    Ok(ResolvedValue::object(o))
}

fn leaf<'a>(v: impl Into<JsonValue>) -> Result<ResolvedValue<'a>, FieldError> {
    Ok(ResolvedValue::leaf(v))
}

impl ObjectValue for Obj<'_> {
    fn type_name(&self) -> &str {
        match self {
            Obj::Query(_) => "Query",
            Obj::Mutation(_) => "Mutation",
            Obj::Project(_) => "ProjectV2",
            Obj::Field(_) => "ProjectV2SingleSelectField",
            Obj::Opt(..) => "ProjectV2SingleSelectFieldOption",
            Obj::ItemConnection(..) => "ProjectV2ItemConnection",
            Obj::PageInfo(..) => "PageInfo",
            Obj::Item(..) => "ProjectV2Item",
            Obj::Issue(..) => "Issue",
            Obj::Repository(_) => "Repository",
            Obj::SelectValue(..) => "ProjectV2ItemFieldSingleSelectValue",
            Obj::AddPayload(..) => "AddProjectV2ItemByIdPayload",
            Obj::UpdatePayload(..) => "UpdateProjectV2ItemFieldValuePayload",
            Obj::DeletePayload(_) => "DeleteProjectV2ItemPayload",
        }
    }

    fn resolve_field<'a>(
        &'a self,
        info: &'a ResolveInfo<'a>,
    ) -> Result<ResolvedValue<'a>, FieldError> {
        let f = info.field_name();
        match (self, f) {
            (Obj::Query(sh), "node") => {
                let id = arg_str(info, "id").unwrap_or_default();
                Obj::node(sh, id)
                    .map(obj)
                    .unwrap_or_else(|| Err(not_found(id)))
            }
            (Obj::Mutation(sh), m) => mutate(sh, m, info),

            (Obj::Project(sh), "id") => leaf(sh.project_id.as_str()),
            (Obj::Project(_), "title") => leaf("devlog board"),
            (Obj::Project(sh), "field") => {
                let name = arg_str(info, "name").unwrap_or_default();
                let field = lock(&sh.data)
                    .fields
                    .iter()
                    .find(|x| x.name == name)
                    .cloned();
                Ok(ResolvedValue::nullable_object(field.map(Obj::Field)))
            }
            (Obj::Project(sh), "items") => {
                let first = arg(info, "first").and_then(|v| v.as_i64());
                let first = match first {
                    Some(n @ 1..=100) => n as usize,
                    Some(n) => {
                        return Err(err(
                            "UNPROCESSABLE",
                            format!(
                                "Requesting {n} records on the `items` connection is not allowed (1 to 100)."
                            ),
                        ));
                    }
                    None => 100,
                };
                let start = match arg_str(info, "after") {
                    Some(c) => match c
                        .strip_prefix("cursor:")
                        .and_then(|n| n.parse::<usize>().ok())
                    {
                        Some(n) => n + 1,
                        None => {
                            return Err(err(
                                "UNPROCESSABLE",
                                format!("`{c}` does not appear to be a valid cursor."),
                            ));
                        }
                    },
                    None => 0,
                };
                let all = lock(&sh.data).items.clone();
                let page: Vec<FakeItem> = all.iter().skip(start).take(first).cloned().collect();
                let end = (!page.is_empty()).then(|| format!("cursor:{}", start + page.len() - 1));
                let more = start + page.len() < all.len();
                obj(Obj::ItemConnection(sh, page, more, end))
            }

            (Obj::Field(x), "id") => leaf(x.id.as_str()),
            (Obj::Field(x), "name") => leaf(x.name.as_str()),
            (Obj::Field(_), "dataType") => leaf("SINGLE_SELECT"),
            (Obj::Field(x), "options") => {
                Ok(ResolvedValue::list(x.options.iter().map(|(i, n)| {
                    ResolvedValue::object(Obj::Opt(i.clone(), n.clone()))
                })))
            }
            (Obj::Opt(id, _), "id") => leaf(id.as_str()),
            (Obj::Opt(_, name), "name") => leaf(name.as_str()),

            (Obj::ItemConnection(sh, items, ..), "nodes") => Ok(ResolvedValue::list(
                items
                    .iter()
                    .map(|i| ResolvedValue::object(Obj::Item(sh, i.clone()))),
            )),
            (Obj::ItemConnection(sh, ..), "totalCount") => leaf(lock(&sh.data).items.len() as i64),
            (Obj::ItemConnection(_, _, more, end), "pageInfo") => {
                obj(Obj::PageInfo(*more, end.clone()))
            }
            (Obj::PageInfo(more, _), "hasNextPage") => leaf(*more),
            (Obj::PageInfo(..), "hasPreviousPage") => leaf(false),
            (Obj::PageInfo(_, end), "endCursor") => match end {
                Some(e) => leaf(e.as_str()),
                None => Ok(ResolvedValue::null()),
            },

            (Obj::Item(_, i), "id") => leaf(i.id.as_str()),
            (Obj::Item(_, i), "updatedAt") => leaf(rfc3339(i.updated_at)),
            (Obj::Item(_, i), "createdAt") => leaf(rfc3339(i.created_at)),
            (Obj::Item(..), "isArchived") => leaf(false),
            (Obj::Item(..), "type") => leaf("ISSUE"),
            (Obj::Item(sh, _), "project") => obj(Obj::Project(sh)),
            (Obj::Item(sh, i), "content") => Ok(ResolvedValue::nullable_object(
                sh.gh.issue(i.issue_number).map(|x| Obj::Issue(sh, x)),
            )),
            (Obj::Item(sh, i), "fieldValueByName") => {
                let name = arg_str(info, "name").unwrap_or_default();
                let field = lock(&sh.data)
                    .fields
                    .iter()
                    .find(|x| x.name == name)
                    .cloned();
                let value = match (field, i.values.get(name)) {
                    (Some(field), Some(v)) => Some(Obj::SelectValue(field, v.clone())),
                    _ => None,
                };
                Ok(ResolvedValue::nullable_object(value))
            }

            (Obj::SelectValue(_, v), "name") => leaf(v.as_str()),
            (Obj::SelectValue(x, v), "optionId") => {
                let id = x
                    .options
                    .iter()
                    .find(|(_, n)| n == v)
                    .map(|(i, _)| i.clone());
                match id {
                    Some(i) => leaf(i),
                    None => Ok(ResolvedValue::null()),
                }
            }
            (Obj::SelectValue(x, _), "field") => obj(Obj::Field(x.clone())),

            (Obj::Issue(_, i), "id") => leaf(format!("I_{}", i.number)),
            (Obj::Issue(_, i), "number") => leaf(i.number as i64),
            (Obj::Issue(_, i), "title") => leaf(i.title.as_str()),
            (Obj::Issue(_, i), "state") => leaf(i.state.to_ascii_uppercase()),
            (Obj::Issue(_, i), "updatedAt") => leaf(rfc3339(i.updated_at)),
            (Obj::Issue(sh, _), "repository") => obj(Obj::Repository(sh)),
            (Obj::Repository(sh), "nameWithOwner") => leaf(sh.repository.as_str()),
            (Obj::Repository(sh), "name") => {
                leaf(sh.repository.split_once('/').map_or("", |(_, r)| r))
            }

            (Obj::AddPayload(sh, i), "item") => obj(Obj::Item(sh, i.clone())),
            (Obj::UpdatePayload(sh, i), "projectV2Item") => obj(Obj::Item(sh, i.clone())),
            (Obj::DeletePayload(id), "deletedItemId") => leaf(id.as_str()),
            (_, "clientMutationId") => Ok(ResolvedValue::null()),
            _ => Err(self.unknown_field_error(info)),
        }
    }
}

fn mutate<'a>(
    sh: &'a Shared,
    name: &str,
    info: &'a ResolveInfo<'a>,
) -> Result<ResolvedValue<'a>, FieldError> {
    let input = arg(info, "input");
    let s = |k: &str| input_str(input, k).unwrap_or_default();
    let project = s("projectId");
    if project != sh.project_id {
        return Err(not_found(project));
    }
    match name {
        "addProjectV2ItemById" => {
            let content = s("contentId");
            let issue = issue_number(content)
                .and_then(|n| sh.gh.issue(n))
                .filter(|i| !i.pull_request)
                .ok_or_else(|| not_found(content))?;
            obj(Obj::AddPayload(sh, add_item(sh, issue.number)))
        }
        "updateProjectV2ItemFieldValue" => {
            let (item_id, field_id) = (s("itemId"), s("fieldId"));
            let option = input
                .and_then(|i| i.as_object())
                .and_then(|i| i.get("value"))
                .and_then(|v| v.as_object())
                .and_then(|v| v.get("singleSelectOptionId"))
                .and_then(|v| v.as_str())
                .unwrap_or_default();
            let now = sh.remote.tick();
            let mut d = lock(&sh.data);
            let field = d
                .fields
                .iter()
                .find(|f| f.id == field_id)
                .cloned()
                .ok_or_else(|| not_found(field_id))?;
            let option_name = field.option_name(option).ok_or_else(|| {
                err(
                    "UNPROCESSABLE",
                    format!("The single select option Id does not belong to the field ({option})"),
                )
            })?;
            let item = d
                .items
                .iter_mut()
                .find(|i| i.id == item_id)
                .ok_or_else(|| not_found(item_id))?;
            item.values
                .insert(field.name.clone(), option_name.to_string());
            item.updated_at = now;
            obj(Obj::UpdatePayload(sh, item.clone()))
        }
        "deleteProjectV2Item" => {
            let item_id = s("itemId");
            let mut d = lock(&sh.data);
            let before = d.items.len();
            d.items.retain(|i| i.id != item_id);
            if d.items.len() == before {
                return Err(not_found(item_id));
            }
            obj(Obj::DeletePayload(item_id.to_string()))
        }
        other => Err(FieldError {
            message: format!("the fake GitHub does not implement mutation `{other}`"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(query: &str, vars: Value) -> Vec<u8> {
        serde_json::to_vec(&json!({"query": query, "variables": vars})).unwrap()
    }

    const GOOD: &str = "query Q($project: ID!, $status: String!) {
      node(id: $project) { ... on ProjectV2 { id field(name: $status) {
        ... on ProjectV2SingleSelectField { id name options { id name } } } } }
    }";

    #[test]
    fn a_valid_query_is_accepted() {
        check_graphql_body(&body(GOOD, json!({"project": "PVT_1", "status": "Status"}))).unwrap();
    }

    #[test]
    fn a_misspelled_field_is_rejected() {
        let bad = GOOD.replace("options", "optoins");
        let e = check_graphql_body(&body(&bad, json!({"project": "PVT_1", "status": "Status"})))
            .unwrap_err();
        assert!(e.contains("optoins"), "{e}");
    }

    #[test]
    fn a_missing_non_null_variable_is_rejected() {
        let e = check_graphql_body(&body(GOOD, json!({"project": "PVT_1"}))).unwrap_err();
        assert!(e.contains("$status"), "{e}");
    }

    #[test]
    fn an_undeclared_variable_or_wrong_type_is_rejected() {
        let e = check_graphql_body(&body(
            GOOD,
            json!({"project": "PVT_1", "status": "Status", "extra": 1}),
        ))
        .unwrap_err();
        assert!(e.contains("extra"), "{e}");
        let e =
            check_graphql_body(&body(GOOD, json!({"project": "PVT_1", "status": 5}))).unwrap_err();
        assert!(e.contains("variables"), "{e}");
    }

    #[test]
    fn a_wrong_argument_and_an_unknown_mutation_input_field_are_rejected() {
        let e = check_graphql_body(&body(
            "mutation M($p: ID!, $c: ID!) { addProjectV2ItemById(input: {projectId: $p, contentID: $c}) { item { id } } }",
            json!({"p": "PVT_1", "c": "I_1"}),
        ))
        .unwrap_err();
        assert!(e.contains("contentID") || e.contains("contentId"), "{e}");
    }

    #[test]
    fn a_body_without_query_is_rejected() {
        assert!(check_graphql_body(b"{\"variables\": {}}").is_err());
        assert!(check_graphql_body(b"not json").is_err());
    }
}
