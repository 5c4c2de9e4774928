//! Checking requests and answers against an official OpenAPI 3.0 description: what every fake
//! remote of the test kit does with every request it receives (`fake_github.rs`,
//! `fake_jira.rs`). The method and path template must exist (the template with the most
//! literal segments wins), integer path parameters must be integers, every query parameter
//! must be declared (and match its enum/integer/boolean schema), and a JSON body must validate
//! against the operation's request schema (OpenAPI 3.0 `nullable` is translated, `$ref`s
//! resolve within the document).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{Value, json};

use crate::fake_remote::{RecordedRequest, query_pairs};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

struct Operation {
    method: String,
    template: Vec<String>,
    /// Declared path parameters with their schemas.
    path_params: BTreeMap<String, Value>,
    /// Declared query parameters with their schemas.
    query: BTreeMap<String, Value>,
    /// Query parameters the operation requires (Azure DevOps' `api-version`).
    required_query: Vec<String>,
    body_schema: Option<Value>,
    body_required: bool,
    /// Status code (or `default`) → the JSON schema of the answer, `None` for no body.
    responses: BTreeMap<String, Option<Value>>,
}

impl Operation {
    /// How many literal segments the template has: where templates overlap
    /// (`issues/comments` and `issues/{issue_number}`), the most literal one is meant.
    fn literals(&self) -> usize {
        self.template.iter().filter(|t| !t.starts_with('{')).count()
    }
}

/// An OpenAPI description, read once: its operations and the validators compiled so far.
pub struct Spec {
    ops: Vec<Operation>,
    components: Value,
    validators: Mutex<HashMap<(usize, String), Arc<jsonschema::Validator>>>,
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

/// Reads an OpenAPI 3.0 description (`what` names it in a failure: "the GitHub API
/// description").
pub fn load(path: &str, what: &str) -> Spec {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {what} {path}: {e}"));
    let doc: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {what} {path}: {e}"));
    load_value(doc)
}

/// An OpenAPI 3.0 description already parsed (or converted, as the fake Azure DevOps does
/// with Microsoft's Swagger 2.0 files). A path template may carry a `?…` suffix (Microsoft's
/// `x-ms-paths`: several operations on one method and path, told apart by their query
/// parameters); a request then passes when one of them allows it.
pub fn load_value(mut doc: Value) -> Spec {
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
                let mut required_query = Vec::new();
                let mut path_params = BTreeMap::new();
                let params = shared_params.iter().chain(
                    op.get("parameters")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten(),
                );
                for p in params {
                    let p = resolve(&doc, p);
                    let Some(name) = p.get("name").and_then(Value::as_str) else {
                        continue;
                    };
                    let schema = p.get("schema").cloned().unwrap_or(json!({}));
                    match p.get("in").and_then(Value::as_str) {
                        Some("query") => {
                            if p.get("required") == Some(&Value::Bool(true)) {
                                required_query.push(name.to_string());
                            }
                            query.insert(name.to_string(), schema);
                        }
                        Some("path") => {
                            path_params.insert(name.to_string(), schema);
                        }
                        _ => {}
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
                let responses = op
                    .get("responses")
                    .and_then(Value::as_object)
                    .into_iter()
                    .flatten()
                    .map(|(status, r)| {
                        let schema = resolve(&doc, r)
                            .pointer("/content/application~1json/schema")
                            .cloned();
                        (status.clone(), schema)
                    })
                    .collect();
                ops.push(Operation {
                    method: method.to_ascii_uppercase(),
                    template: template
                        .split('?')
                        .next()
                        .unwrap_or_default()
                        .trim_start_matches('/')
                        .split('/')
                        .map(str::to_string)
                        .collect(),
                    path_params,
                    query,
                    required_query,
                    body_schema,
                    body_required,
                    responses,
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

impl std::fmt::Debug for Spec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spec")
            .field("operations", &self.ops.len())
            .finish()
    }
}

/// Whether the description has an operation for `method path` (a concrete path).
pub fn has_operation(spec: &Spec, method: &str, path: &str) -> bool {
    find_op(spec, method, path).is_some()
}

fn template_matches(template: &[String], path: &str) -> bool {
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    segs.len() == template.len()
        && template.iter().zip(&segs).all(|(t, s)| {
            // `{id}`, or a literal prefix and a parameter (Azure DevOps' `${type}`).
            match t.find('{') {
                Some(at) if t.ends_with('}') => s.len() > at && s.starts_with(&t[..at]),
                _ => t == s,
            }
        })
}

/// The operation `method path` is, preferring the most literal template.
fn find_op<'a>(spec: &'a Spec, method: &str, path: &str) -> Option<(usize, &'a Operation)> {
    find_ops(spec, method, path).into_iter().next()
}

/// The operations `method path` may be: those of the most literal matching template (more
/// than one where `x-ms-paths` adds variants), in the order of the description.
fn find_ops<'a>(spec: &'a Spec, method: &str, path: &str) -> Vec<(usize, &'a Operation)> {
    let all: Vec<(usize, &Operation)> = spec
        .ops
        .iter()
        .enumerate()
        .filter(|(_, o)| o.method == method && template_matches(&o.template, path))
        .collect();
    let best = all.iter().map(|(_, o)| o.literals()).max();
    all.into_iter()
        .filter(|(_, o)| Some(o.literals()) == best)
        .collect()
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
    key: (usize, String),
    schema: &Value,
) -> Result<Arc<jsonschema::Validator>, String> {
    let mut cache = lock(&spec.validators);
    if let Some(v) = cache.get(&key) {
        return Ok(v.clone());
    }
    let mut root = schema.clone();
    if let Value::Object(m) = &mut root {
        m.insert("components".into(), spec.components.clone());
    } else {
        root = json!({"allOf": [schema], "components": spec.components});
    }
    let v = Arc::new(
        jsonschema::validator_for(&root).map_err(|e| format!("schema does not compile: {e}"))?,
    );
    cache.insert(key, v.clone());
    Ok(v)
}

fn schema_errors(v: &jsonschema::Validator, instance: &Value) -> Option<String> {
    let errors: Vec<String> = v
        .iter_errors(instance)
        .map(|e| format!("{} at `{}`", e, e.instance_path()))
        .collect();
    (!errors.is_empty()).then(|| errors.join("; "))
}

/// Checks one request against the description; `Err` says why it is not allowed.
pub fn check_request(spec: &Spec, r: &RecordedRequest) -> Result<(), String> {
    let ops = find_ops(spec, &r.method, &r.path);
    let mut first_err = None;
    for (idx, op) in ops {
        match check_op(spec, idx, op, r) {
            Ok(()) => return Ok(()),
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    Err(first_err.unwrap_or_else(|| "no such operation (method + path template)".into()))
}

fn check_op(spec: &Spec, idx: usize, op: &Operation, r: &RecordedRequest) -> Result<(), String> {
    let segs = r.path.trim_start_matches('/').split('/');
    for (t, s) in op.template.iter().zip(segs) {
        if let Some(name) = t.strip_prefix('{').and_then(|t| t.strip_suffix('}'))
            && let Some(schema) = op.path_params.get(name)
        {
            query_value_ok(schema, s).map_err(|e| format!("path parameter `{name}`: {e}"))?;
        }
    }
    let pairs = query_pairs(r.query.as_deref());
    for (k, v) in &pairs {
        let Some(schema) = op.query.get(k) else {
            return Err(format!("query parameter `{k}` is not declared"));
        };
        query_value_ok(schema, v).map_err(|e| format!("query parameter `{k}`: {e}"))?;
    }
    if let Some(missing) = op
        .required_query
        .iter()
        .find(|k| !pairs.contains_key(k.as_str()))
    {
        return Err(format!("required query parameter `{missing}` is missing"));
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
            let v = validator(spec, (idx, "request".into()), schema)?;
            match schema_errors(&v, &body) {
                None => Ok(()),
                Some(e) => Err(format!("body does not match the request schema: {e}")),
            }
        }
    }
}

/// Checks an answer to `method path` (no query) against the operation's response schema for
/// `status` (`Value::Null` for an empty body). The fakes' tests run it on every answer, so
/// the JSON shapes stay the real system's.
pub fn check_response(
    spec: &Spec,
    method: &str,
    path: &str,
    status: u16,
    body: &Value,
) -> Result<(), String> {
    let ops = find_ops(spec, method, path);
    if ops.is_empty() {
        return Err("no such operation (method + path template)".into());
    }
    // Where `x-ms-paths` adds variants of one template, the answer must fit one of them.
    let mut first_err = None;
    for (idx, op) in ops {
        match check_answer(spec, idx, op, status, body) {
            Ok(()) => return Ok(()),
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    Err(first_err.unwrap_or_default())
}

fn check_answer(
    spec: &Spec,
    idx: usize,
    op: &Operation,
    status: u16,
    body: &Value,
) -> Result<(), String> {
    let code = status.to_string();
    let Some(declared) = op
        .responses
        .get(&code)
        .or_else(|| op.responses.get("default"))
    else {
        return Err(format!("status {status} is not declared"));
    };
    match declared {
        None if body.is_null() => Ok(()),
        None => Err(format!("status {status} declares no body")),
        Some(schema) => {
            let v = validator(spec, (idx, code), schema)?;
            match schema_errors(&v, body) {
                None => Ok(()),
                Some(e) => Err(format!("body does not match the response schema: {e}")),
            }
        }
    }
}

/// Checks every request a fake received against its API description when the last handle
/// of the fake is dropped (not while a test is already failing): a request the description
/// does not allow fails the test that made it.
#[derive(Debug)]
pub struct ContractGuard {
    api: &'static str,
    remote: crate::fake_remote::FakeState,
    check: fn(&[RecordedRequest]) -> Vec<String>,
}

impl ContractGuard {
    pub fn new(
        api: &'static str,
        remote: crate::fake_remote::FakeState,
        check: fn(&[RecordedRequest]) -> Vec<String>,
    ) -> Self {
        ContractGuard { api, remote, check }
    }
}

impl Drop for ContractGuard {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        let violations = (self.check)(&self.remote.requests());
        assert!(
            violations.is_empty(),
            "requests the {} API description does not allow:\n{}",
            self.api,
            violations.join("\n")
        );
    }
}

/// The requests `check` refuses, one line each (`METHOD path?query: why`).
pub fn violations(
    requests: &[RecordedRequest],
    check: fn(&RecordedRequest) -> Result<(), String>,
) -> Vec<String> {
    requests
        .iter()
        .filter_map(|r| {
            check(r).err().map(|e| {
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
