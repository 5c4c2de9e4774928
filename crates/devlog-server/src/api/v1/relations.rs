//! `/entries/{ref}/links`, `/entries/{ref}/relations`, `/entries/{ref}/dependencies` and
//! `/entries/{ref}/risks`: relations between entries and an entry's dependencies and risks.
//! The rules are devlog-core's ([`devlog_core::relations`]).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use devlog_core::relations::{
    LinkKind, LinkOutcome, NewDependency, NewRisk, Relations, UnlinkOutcome,
};
use serde::Deserialize;

use super::entries::entry_response;
use super::schema::{
    EntryDoc, LinkBodyDoc, LinkOutcomeDoc, NewDependencyDoc, NewRiskDoc, RelationsDoc,
    UnlinkOutcomeDoc,
};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Actor, Body, EntryPath, JsonBody, Params};
use crate::state::AppState;

/// `POST /entries/{ref}/links`: how the entry relates to `other`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkBody {
    pub kind: LinkKind,
    pub other: String,
}

impl Body for LinkBody {
    type Doc = LinkBodyDoc;
}

impl Body for NewDependency {
    type Doc = NewDependencyDoc;
}

impl Body for NewRisk {
    type Doc = NewRiskDoc;
}

/// Link two entries
///
/// Records the link on both entries (`blocks` here is `blocked-by` there; `parent` here is
/// `child` there). Linking again changes nothing (`changed: false`); a new parent or
/// original replaces the old one (named in `replaced`). A link that would make a cycle of
/// parents or blockers is refused with 422 naming it (`#3 → #7 → #3`), as is a link to the
/// entry itself; an `other` that matches nothing is 404 with suggestions.
#[utoipa::path(
    post,
    path = "/entries/{ref}/links",
    tag = "relations",
    request_body = LinkBodyDoc,
    params(
        ("ref" = String, Path, description = "Handle, id, id prefix, key, or original devlog id"),
        ("X-Devlog-Actor" = Option<String>, Header, description = "Who is acting"),
    ),
    responses(
        (status = 200, description = "Both entries as written", body = LinkOutcomeDoc),
        (status = 400, description = "The body is not JSON", body = ErrorBody),
        (status = 404, description = "No entry matches `ref` or `other`", body = ErrorBody),
        (status = 409, description = "An ambiguous reference, or a concurrent change", body = ErrorBody),
        (status = 413, description = "The body is too large", body = ErrorBody),
        (status = 415, description = "The body is not declared as JSON", body = ErrorBody),
        (status = 422, description = "An unknown kind or field, a cycle, or a link to itself", body = ErrorBody),
    )
)]
pub async fn link(
    State(s): State<AppState>,
    EntryPath(reference): EntryPath,
    actor: Actor,
    JsonBody(body): JsonBody<LinkBody>,
) -> Result<Json<LinkOutcome>, ApiError> {
    let meta = s.meta(actor);
    let target = s.app().resolve_summary(&reference).await?;
    let _write = s.write_shared().await;
    let out = s
        .app()
        .link(target.id, body.kind, &body.other, &meta)
        .await?;
    s.committed();
    Ok(Json(out))
}

/// Unlink two entries
///
/// Removes the links between the entry and `other` on both entries: every kind, or only
/// `kind` (seen from `ref`). `removed` is empty when they were not linked.
#[utoipa::path(
    delete,
    path = "/entries/{ref}/links",
    tag = "relations",
    params(
        ("ref" = String, Path, description = "Handle, id, id prefix, key, or original devlog id"),
        ("other" = String, Query, description = "The other entry"),
        ("kind" = Option<String>, Query, description = "Only this kind (blocks, blocked-by, relates, duplicates, duplicated-by, parent, child)"),
        ("X-Devlog-Actor" = Option<String>, Header, description = "Who is acting"),
    ),
    responses(
        (status = 200, description = "Both entries as written and the kinds removed", body = UnlinkOutcomeDoc),
        (status = 400, description = "`other` is missing, or an unknown parameter or kind", body = ErrorBody),
        (status = 404, description = "No entry matches", body = ErrorBody),
        (status = 409, description = "An ambiguous reference, or a concurrent change", body = ErrorBody),
    )
)]
pub async fn unlink(
    State(s): State<AppState>,
    EntryPath(reference): EntryPath,
    actor: Actor,
    mut p: Params,
) -> Result<Json<UnlinkOutcome>, ApiError> {
    let other = p
        .take("other")?
        .ok_or_else(|| ApiError::bad_request("say which entry to unlink from: ?other=<ref>"))?;
    let kind = p
        .take("kind")?
        .map(|k| k.parse::<LinkKind>())
        .transpose()
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    p.finish(&["other", "kind"])?;
    let meta = s.meta(actor);
    let target = s.app().resolve_summary(&reference).await?;
    let _write = s.write_shared().await;
    let out = s.app().unlink(target.id, &other, kind, &meta).await?;
    s.committed();
    Ok(Json(out))
}

/// Read an entry's relations
///
/// Its parent, subtasks with their progress (`2/5 done`), blockers (and how many are open),
/// what it blocks, related entries and duplicates, each with handle, title and status.
#[utoipa::path(
    get,
    path = "/entries/{ref}/relations",
    tag = "relations",
    params(("ref" = String, Path, description = "Handle, id, id prefix, key, or original devlog id")),
    responses(
        (status = 200, description = "The relations", body = RelationsDoc),
        (status = 404, description = "No entry matches", body = ErrorBody),
        (status = 409, description = "The reference matches several entries", body = ErrorBody),
    )
)]
pub async fn relations(
    State(s): State<AppState>,
    EntryPath(reference): EntryPath,
) -> Result<Json<Relations>, ApiError> {
    let target = s.app().resolve_summary(&reference).await?;
    Ok(Json(s.app().relations(target.id).await?))
}

/// Add a dependency
///
/// A dependency on work outside this devlog (a release, another team's change), stored in
/// `context.dependencies` with a new `dep-…` id. A dependency on another entry is a link
/// (`POST /entries/{ref}/links` with `blocked-by`).
#[utoipa::path(
    post,
    path = "/entries/{ref}/dependencies",
    tag = "relations",
    request_body = NewDependencyDoc,
    params(
        ("ref" = String, Path, description = "Handle, id, id prefix, key, or original devlog id"),
        ("If-Match" = Option<String>, Header, description = "Only if the entry still has this ETag"),
        ("X-Devlog-Actor" = Option<String>, Header, description = "Who is acting"),
    ),
    responses(
        (status = 201, description = "The entry with the dependency", body = EntryDoc,
            headers(("ETag" = String, description = "The entry's new version"))),
        (status = 400, description = "The body is not JSON", body = ErrorBody),
        (status = 404, description = "No entry matches", body = ErrorBody),
        (status = 412, description = "If-Match does not match the current ETag", body = ErrorBody),
        (status = 422, description = "An empty description, an unknown type or field", body = ErrorBody),
    )
)]
pub async fn add_dependency(
    State(s): State<AppState>,
    EntryPath(reference): EntryPath,
    actor: Actor,
    headers: HeaderMap,
    JsonBody(body): JsonBody<NewDependency>,
) -> Result<Response, ApiError> {
    let (entry, _) = s
        .write_entry(&reference, actor, &headers, |app, id, meta| async move {
            app.add_dependency(id, body, &meta).await
        })
        .await?;
    Ok(entry_response(StatusCode::CREATED, &entry))
}

/// Remove a dependency
///
/// By its id (or a unique start of it). A link to another entry is removed with
/// `DELETE /entries/{ref}/links` (422 says so).
#[utoipa::path(
    delete,
    path = "/entries/{ref}/dependencies/{id}",
    tag = "relations",
    params(
        ("ref" = String, Path, description = "Handle, id, id prefix, key, or original devlog id"),
        ("id" = String, Path, description = "The dependency's id"),
        ("X-Devlog-Actor" = Option<String>, Header, description = "Who is acting"),
    ),
    responses(
        (status = 200, description = "The entry without the dependency", body = EntryDoc,
            headers(("ETag" = String, description = "The entry's new version"))),
        (status = 404, description = "No entry matches", body = ErrorBody),
        (status = 422, description = "No such dependency, or it is a link", body = ErrorBody),
    )
)]
pub async fn remove_dependency(
    State(s): State<AppState>,
    Path((reference, dep)): Path<(String, String)>,
    actor: Actor,
) -> Result<Response, ApiError> {
    let meta = s.meta(actor);
    let target = s.app().resolve_summary(&reference).await?;
    let _write = s.write_shared().await;
    let (entry, _) = s.app().remove_dependency(target.id, &dep, &meta).await?;
    s.committed();
    Ok(entry_response(StatusCode::OK, &entry))
}

/// Add a risk
///
/// Stored in `context.risks` with a new `risk-…` id.
#[utoipa::path(
    post,
    path = "/entries/{ref}/risks",
    tag = "relations",
    request_body = NewRiskDoc,
    params(
        ("ref" = String, Path, description = "Handle, id, id prefix, key, or original devlog id"),
        ("If-Match" = Option<String>, Header, description = "Only if the entry still has this ETag"),
        ("X-Devlog-Actor" = Option<String>, Header, description = "Who is acting"),
    ),
    responses(
        (status = 201, description = "The entry with the risk", body = EntryDoc,
            headers(("ETag" = String, description = "The entry's new version"))),
        (status = 400, description = "The body is not JSON", body = ErrorBody),
        (status = 404, description = "No entry matches", body = ErrorBody),
        (status = 412, description = "If-Match does not match the current ETag", body = ErrorBody),
        (status = 422, description = "An empty description, an unknown level or field", body = ErrorBody),
    )
)]
pub async fn add_risk(
    State(s): State<AppState>,
    EntryPath(reference): EntryPath,
    actor: Actor,
    headers: HeaderMap,
    JsonBody(body): JsonBody<NewRisk>,
) -> Result<Response, ApiError> {
    let (entry, _) = s
        .write_entry(&reference, actor, &headers, |app, id, meta| async move {
            app.add_risk(id, body, &meta).await
        })
        .await?;
    Ok(entry_response(StatusCode::CREATED, &entry))
}

/// Remove a risk
///
/// By its id (or a unique start of it).
#[utoipa::path(
    delete,
    path = "/entries/{ref}/risks/{id}",
    tag = "relations",
    params(
        ("ref" = String, Path, description = "Handle, id, id prefix, key, or original devlog id"),
        ("id" = String, Path, description = "The risk's id"),
        ("X-Devlog-Actor" = Option<String>, Header, description = "Who is acting"),
    ),
    responses(
        (status = 200, description = "The entry without the risk", body = EntryDoc,
            headers(("ETag" = String, description = "The entry's new version"))),
        (status = 404, description = "No entry matches", body = ErrorBody),
        (status = 422, description = "No such risk", body = ErrorBody),
    )
)]
pub async fn remove_risk(
    State(s): State<AppState>,
    Path((reference, risk)): Path<(String, String)>,
    actor: Actor,
) -> Result<Response, ApiError> {
    let meta = s.meta(actor);
    let target = s.app().resolve_summary(&reference).await?;
    let _write = s.write_shared().await;
    let (entry, _) = s.app().remove_risk(target.id, &risk, &meta).await?;
    s.committed();
    Ok(entry_response(StatusCode::OK, &entry))
}
