//! Reading requests: JSON bodies, query strings, the entry reference in the path and the
//! actor header, each failing with a clear 4xx error instead of axum's plain-text rejections.

use std::collections::BTreeSet;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use devlog_core::entry::{EntryType, Priority, Status};
use devlog_core::ops::{Edit, NewDecision, NewEntry, NewNote};
use devlog_core::{Filter, SortKey, Timestamp};
use serde::de::DeserializeOwned;
use serde_json::Value;
use utoipa::PartialSchema;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::Schema;

use crate::api::v1::schema::{EditDoc, NewDecisionDoc, NewEntryDoc, NewNoteDoc, TransitionBody};
use crate::error::ApiError;

/// A request body type: what it parses into, and the documented schema whose properties are
/// the only fields it accepts (a misspelt field is an error, not a silent no-op).
pub trait Body: DeserializeOwned {
    type Doc: PartialSchema;

    /// Fills in defaults the core type does not have, before parsing.
    fn prepare(_object: &mut serde_json::Map<String, Value>) {}
}

impl Body for NewEntry {
    type Doc = NewEntryDoc;
}

impl Body for Edit {
    type Doc = EditDoc;
}

impl Body for NewNote {
    type Doc = NewNoteDoc;

    fn prepare(object: &mut serde_json::Map<String, Value>) {
        object
            .entry("category")
            .or_insert_with(|| Value::String("progress".into()));
    }
}

impl Body for NewDecision {
    type Doc = NewDecisionDoc;
}

impl Body for TransitionBody {
    type Doc = TransitionBody;
}

impl Body for crate::api::v1::schema::InsightBody {
    type Doc = crate::api::v1::schema::InsightBody;
}

impl Body for devlog_core::planning::NewWorklog {
    type Doc = crate::api::v1::schema::NewWorklogDoc;
}

impl Body for devlog_core::planning::WorklogEdit {
    type Doc = crate::api::v1::schema::WorklogEditDoc;
}

impl Body for devlog_core::planning::NewMilestone {
    type Doc = crate::api::v1::schema::NewMilestoneDoc;
}

impl Body for crate::api::v1::schema::MilestoneStateBody {
    type Doc = crate::api::v1::schema::MilestoneStateBody;
}

/// The property names of an object schema.
pub fn schema_fields<T: PartialSchema>() -> Vec<String> {
    fn props(s: &RefOr<Schema>) -> Vec<String> {
        match s {
            RefOr::T(Schema::Object(o)) => o.properties.keys().cloned().collect(),
            RefOr::T(Schema::AllOf(all)) => all.items.iter().flat_map(props).collect(),
            _ => Vec::new(),
        }
    }
    props(&T::schema())
}

/// The JSON body of a request, parsed into `T`.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: Body> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = json_bytes(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::bad_request(
                "the request needs a JSON object body",
            ));
        }
        parse::<T>(&bytes).map(JsonBody)
    }
}

/// A JSON body that may be left out entirely (then `T::default()`).
#[derive(Debug)]
pub struct OptionalJsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for OptionalJsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let is_json = content_is_json(&req);
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(bytes_rejection)?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJsonBody(T::default()));
        }
        if !is_json {
            return Err(unsupported_media_type());
        }
        let value = syntax(&bytes)?;
        serde_path_to_error::deserialize(value)
            .map(OptionalJsonBody)
            .map_err(data_error)
    }
}

async fn json_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    let is_json = content_is_json(&req);
    let bytes = Bytes::from_request(req, state)
        .await
        .map_err(bytes_rejection)?;
    if !is_json {
        return Err(unsupported_media_type());
    }
    Ok(bytes)
}

fn content_is_json(req: &Request) -> bool {
    content_is_json_headers(req.headers())
}

/// Whether the headers declare a JSON body (`application/json` or `application/*+json`).
pub(crate) fn content_is_json_headers(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(is_json_type)
}

fn is_json_type(v: &str) -> bool {
    let essence = v
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

pub(crate) fn unsupported_media_type() -> ApiError {
    ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported-media-type",
        "the body must be JSON",
    )
    .with_hint("send the header Content-Type: application/json")
}

fn bytes_rejection(r: BytesRejection) -> ApiError {
    if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
            "the request body is larger than the server accepts",
        )
        .with_hint("split the change into smaller requests (the limit is in docs/http-api.md)")
    } else {
        ApiError::bad_request(format!(
            "could not read the request body: {}",
            r.body_text()
        ))
    }
}

fn syntax(bytes: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| {
        ApiError::bad_request(format!("the body is not valid JSON: {e}"))
            .with_hint("check quoting and commas; the body must be one JSON object")
    })
}

fn data_error(e: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let path = e.path().to_string();
    let inner = e.into_inner();
    if path == "." || path.is_empty() {
        ApiError::invalid(format!("invalid body: {inner}"))
    } else {
        ApiError::invalid(format!("invalid `{path}`: {inner}"))
    }
}

/// Parses a JSON object into `T`, accepting only the fields `T::Doc` documents.
pub fn parse<T: Body>(bytes: &[u8]) -> Result<T, ApiError> {
    let Value::Object(mut object) = syntax(bytes)? else {
        return Err(ApiError::invalid("the body must be a JSON object"));
    };
    let known: BTreeSet<String> = schema_fields::<T::Doc>().into_iter().collect();
    let unknown: Vec<&String> = object.keys().filter(|k| !known.contains(*k)).collect();
    if !unknown.is_empty() {
        let list = unknown
            .iter()
            .map(|k| format!("`{k}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let allowed = known.into_iter().collect::<Vec<_>>().join(", ");
        return Err(ApiError::invalid(format!(
            "unknown field {list}; the fields are {allowed}"
        )));
    }
    T::prepare(&mut object);
    serde_path_to_error::deserialize(Value::Object(object)).map_err(data_error)
}

/// The entry reference in the path (`/entries/{ref}`): handle, id, prefix, key or original id.
#[derive(Debug)]
pub struct EntryPath(pub String);

impl<S: Send + Sync> FromRequestParts<S> for EntryPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::bad_request(format!("bad entry reference: {}", e.body_text())))
            .and_then(|Path(r)| {
                if r.contains('\0') {
                    return Err(ApiError::bad_request(
                        "bad entry reference: it contains a NUL character (%00)",
                    ));
                }
                Ok(EntryPath(r))
            })
    }
}

/// The query string as name-value pairs, consumed by the parsers below; anything left over
/// is an unknown parameter and an error.
#[derive(Debug, Default)]
pub struct Params(Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Query(pairs) = Query::<Vec<(String, String)>>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::bad_request(format!("bad query string: {}", e.body_text())))?;
        // No store keeps a NUL character in text (PostgreSQL refuses it outright), so it is a
        // malformed request here rather than a storage failure later.
        if let Some((name, _)) = pairs
            .iter()
            .find(|(k, v)| k.contains('\0') || v.contains('\0'))
        {
            return Err(ApiError::bad_request(format!(
                "query parameter `{}` contains a NUL character (%00)",
                name.replace('\0', "\\0")
            ))
            .with_hint("remove the %00 from the query string"));
        }
        Ok(Params(pairs))
    }
}

/// Most results one request returns.
pub const MAX_LIMIT: usize = 1000;

impl Params {
    /// Parameters already read from a query string (the dashboard drops empty form fields
    /// first, then parses with the API's rules).
    pub(crate) fn from_vec(pairs: Vec<(String, String)>) -> Self {
        Params(pairs)
    }

    #[cfg(test)]
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Self {
        Params(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    /// Removes every value of `name`.
    fn take_all(&mut self, name: &str) -> Vec<String> {
        let mut out = Vec::new();
        self.0.retain(|(k, v)| {
            if k == name {
                out.push(v.clone());
                false
            } else {
                true
            }
        });
        out
    }

    /// Removes the one value of `name`; giving it twice is an error.
    pub fn take(&mut self, name: &str) -> Result<Option<String>, ApiError> {
        let mut all = self.take_all(name);
        match all.len() {
            0 => Ok(None),
            1 => Ok(all.pop()),
            _ => Err(ApiError::bad_request(format!(
                "query parameter `{name}` is given more than once"
            ))),
        }
    }

    /// Comma-separated and/or repeated values of a closed set.
    pub(crate) fn take_list<T>(&mut self, name: &str) -> Result<Vec<T>, ApiError>
    where
        T: std::str::FromStr,
        T::Err: std::fmt::Display,
    {
        let mut out = Vec::new();
        for v in self.take_all(name) {
            for part in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                out.push(
                    part.parse::<T>()
                        .map_err(|e| ApiError::bad_request(format!("query `{name}`: {e}")))?,
                );
            }
        }
        Ok(out)
    }

    pub fn take_bool(&mut self, name: &str) -> Result<bool, ApiError> {
        match self.take(name)?.as_deref().map(str::trim) {
            None => Ok(false),
            Some("" | "true" | "1" | "yes") => Ok(true),
            Some("false" | "0" | "no") => Ok(false),
            Some(other) => Err(ApiError::bad_request(format!(
                "query `{name}` must be true or false, got `{other}`"
            ))),
        }
    }

    pub fn take_u64(&mut self, name: &str) -> Result<Option<u64>, ApiError> {
        self.take(name)?
            .map(|v| {
                v.trim().parse::<u64>().map_err(|_| {
                    ApiError::bad_request(format!(
                        "query `{name}` must be a whole number, got `{v}`"
                    ))
                })
            })
            .transpose()
    }

    /// A change-feed position (see `devlog_core::ops::check_seq`).
    pub fn take_seq(&mut self, name: &str) -> Result<Option<u64>, ApiError> {
        self.take_u64(name)?
            .map(|seq| {
                devlog_core::ops::check_seq(name, seq).map_err(|e| {
                    ApiError::bad_request(format!("query `{name}`: {e}"))
                        .with_hint("pass 0 or the `next` of the previous page")
                })
            })
            .transpose()
    }

    /// `limit` (1..=MAX_LIMIT, default `default`) and `offset`.
    pub fn take_page(&mut self, default: usize) -> Result<(usize, usize), ApiError> {
        let limit = match self.take_u64("limit")? {
            None => default,
            Some(n) if (1..=MAX_LIMIT as u64).contains(&n) => n as usize,
            Some(n) => {
                return Err(ApiError::bad_request(format!(
                    "query `limit` must be between 1 and {MAX_LIMIT}, got {n}"
                )));
            }
        };
        let offset = self.take_u64("offset")?.unwrap_or(0);
        let offset = usize::try_from(offset)
            .map_err(|_| ApiError::bad_request("query `offset` is too large"))?;
        Ok((limit, offset))
    }

    pub(crate) fn take_time(&mut self, name: &str) -> Result<Option<Timestamp>, ApiError> {
        self.take(name)?
            .map(|v| {
                parse_time(&v).ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "query `{name}`: `{v}` is not a date: use YYYY-MM-DD or RFC 3339 (2025-06-25T06:29:02Z)"
                    ))
                })
            })
            .transpose()
    }

    /// The filters `list`, `search` and `stats` share (the CLI's flags, in camelCase).
    pub fn take_filter(&mut self) -> Result<Filter, ApiError> {
        Ok(Filter {
            status: self.take_list::<Status>("status")?,
            kind: self.take_list::<EntryType>("type")?,
            priority: self.take_list::<Priority>("priority")?,
            assignee: self.take("assignee")?.filter(|a| !a.is_empty()),
            tag: self.take("tag")?.filter(|t| !t.is_empty()),
            created_after: self.take_time("createdAfter")?,
            created_before: self.take_time("createdBefore")?,
            updated_after: self.take_time("updatedAfter")?,
            updated_before: self.take_time("updatedBefore")?,
            open_only: self.take_bool("open")?,
            due_before: self.take_date("dueBefore")?,
            milestone: self.take("milestone")?.filter(|m| !m.is_empty()),
            // Keyset paging is for the library's own scans (reports); the API pages by offset.
            handle_after: None,
        })
    }

    /// A calendar date, `YYYY-MM-DD` (relative forms need the clock: the handler resolves
    /// `overdue`).
    fn take_date(&mut self, name: &str) -> Result<Option<chrono::NaiveDate>, ApiError> {
        self.take(name)?
            .map(|v| {
                chrono::NaiveDate::parse_from_str(v.trim(), "%Y-%m-%d").map_err(|_| {
                    ApiError::bad_request(format!(
                        "query `{name}`: `{v}` is not a date: use YYYY-MM-DD"
                    ))
                })
            })
            .transpose()
    }

    pub fn take_sort(&mut self) -> Result<SortKey, ApiError> {
        let Some(s) = self.take("sort")? else {
            return Ok(SortKey::default());
        };
        SortKey::ALL
            .iter()
            .find(|(n, _)| *n == s.trim().to_ascii_lowercase())
            .map(|(_, k)| *k)
            .ok_or_else(|| {
                let names: Vec<&str> = SortKey::ALL.iter().map(|(n, _)| *n).collect();
                ApiError::bad_request(format!(
                    "query `sort`: unknown sort `{s}`: use one of {}",
                    names.join(", ")
                ))
            })
    }

    /// Fails on any parameter nobody took, naming the ones this endpoint knows.
    pub fn finish(self, known: &[&str]) -> Result<(), ApiError> {
        let mut left: Vec<&str> = self.0.iter().map(|(k, _)| k.as_str()).collect();
        left.dedup();
        if left.is_empty() {
            return Ok(());
        }
        Err(ApiError::bad_request(format!(
            "unknown query parameter {}; this endpoint takes {}",
            left.iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", "),
            known.join(", ")
        )))
    }
}

/// The query parameters of the shared filter, for `finish` messages.
pub const FILTER_PARAMS: &[&str] = &[
    "status",
    "type",
    "priority",
    "assignee",
    "tag",
    "open",
    "dueBefore",
    "milestone",
    "createdAfter",
    "createdBefore",
    "updatedAfter",
    "updatedBefore",
];

/// RFC 3339, or a plain date meaning midnight UTC.
fn parse_time(s: &str) -> Option<Timestamp> {
    if let Ok(t) = s.parse::<Timestamp>() {
        return Some(t);
    }
    chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|dt| Timestamp::from_datetime(dt.and_utc()))
}

/// Who is acting: the API token's name when the request was authenticated with one
/// ([`crate::auth`]: an identity, so `X-Devlog-Actor` cannot override it); otherwise what the
/// client says in `X-Devlog-Actor` (a label for the change feed, like the CLI's `--actor`).
/// The second field is the client's address (`ip:port` of the TCP peer), when served by
/// `devlog serve`'s accept loop.
#[derive(Debug)]
pub struct Actor(pub Option<String>, pub Option<String>);

/// The header clients name themselves with.
pub const ACTOR_HEADER: &str = "x-devlog-actor";

impl<S: Send + Sync> FromRequestParts<S> for Actor {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        // The TCP peer (set per connection by the accept loop), recorded in the audit log. A
        // reverse proxy's `X-Forwarded-For` is not trusted: anyone could send one.
        let client = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.to_string());
        if let Some(name) = parts
            .extensions
            .get::<devlog_core::auth::Principal>()
            .and_then(|p| p.actor())
        {
            return Ok(Actor(Some(name), client));
        }
        match parts.headers.get(ACTOR_HEADER) {
            None => Ok(Actor(None, client)),
            Some(v) => {
                let s = v
                    .to_str()
                    .map_err(|_| ApiError::bad_request("X-Devlog-Actor must be ASCII"))?
                    .trim();
                if s.chars().count() > 200 {
                    return Err(ApiError::bad_request(
                        "X-Devlog-Actor is longer than 200 characters",
                    ));
                }
                Ok(Actor(Some(s.to_string()).filter(|s| !s.is_empty()), client))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_accept_lists_repeats_and_dates() {
        let mut p = Params::from_pairs(&[
            ("status", "new,in-progress"),
            ("status", "blocked"),
            ("type", "bugfix"),
            ("open", ""),
            ("createdAfter", "2025-06-01"),
        ]);
        let f = p.take_filter().unwrap();
        assert_eq!(
            f.status,
            vec![Status::New, Status::InProgress, Status::Blocked]
        );
        assert_eq!(f.kind, vec![EntryType::Bugfix]);
        assert!(f.open_only);
        assert_eq!(
            f.created_after.unwrap().to_string(),
            "2025-06-01T00:00:00.000Z"
        );
        p.finish(FILTER_PARAMS).unwrap();
    }

    #[test]
    fn bad_values_name_the_parameter_and_the_allowed_values() {
        let e = Params::from_pairs(&[("status", "dnoe")])
            .take_filter()
            .unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(
            e.message.contains("`status`") && e.message.contains("in-progress"),
            "{e}"
        );
        let e = Params::from_pairs(&[("limit", "0")])
            .take_page(50)
            .unwrap_err();
        assert!(e.message.contains("between 1 and 1000"), "{e}");
        let e = Params::from_pairs(&[("limit", "1"), ("limit", "2")])
            .take_page(50)
            .unwrap_err();
        assert!(e.message.contains("more than once"), "{e}");
        let e = Params::from_pairs(&[("staus", "new")])
            .finish(FILTER_PARAMS)
            .unwrap_err();
        assert!(e.message.contains("`staus`"), "{e}");
    }

    #[test]
    fn bodies_reject_unknown_fields_and_bad_values_with_the_path() {
        let e = parse::<Edit>(br#"{"staus": "done"}"#).unwrap_err();
        assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(e.message.contains("`staus`"), "{e}");
        let e = parse::<Edit>(br#"{"status": "dnoe"}"#).unwrap_err();
        assert!(
            e.message.contains("`status`") && e.message.contains("in-progress"),
            "{e}"
        );
        let e = parse::<Edit>(br#"{"title": 5}"#).unwrap_err();
        assert!(e.message.contains("`title`"), "{e}");
        let e = parse::<Edit>(br#"{"title": "x""#).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        let e = parse::<Edit>(b"[1]").unwrap_err();
        assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY);
    }

    #[test]
    fn notes_default_to_progress() {
        let n = parse::<NewNote>(br#"{"content": "x"}"#).unwrap();
        assert_eq!(n.category, devlog_core::NoteCategory::Progress);
    }

    #[test]
    fn json_media_types() {
        assert!(is_json_type("application/json"));
        assert!(is_json_type("Application/JSON; charset=utf-8"));
        assert!(is_json_type("application/merge-patch+json"));
        assert!(!is_json_type("text/plain"));
        assert!(!is_json_type("application/x-www-form-urlencoded"));
    }
}
