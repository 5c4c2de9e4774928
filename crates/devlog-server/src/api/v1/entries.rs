//! `/entries`: list, create, read, edit, delete and complete entries.

use axum::Json;
use axum::extract::State;
use axum::http::header::{ETAG, LOCATION};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use devlog_core::ops::{Edit, NewEntry};
use devlog_core::{Entry, EntrySummary, ListQuery, Page};

use super::PREFIX;
use super::schema::{
    CompleteBody, EditDoc, EntryDoc, EntryPageDoc, FilterParams, ListParams, NewEntryDoc,
    TransitionBody,
};
use crate::error::{ApiError, ErrorBody};
use crate::etag::{Precondition, etag};
use crate::extract::{Actor, EntryPath, FILTER_PARAMS, JsonBody, OptionalJsonBody, Params};
use crate::state::AppState;

/// An entry as the body, with its `ETag`.
pub(crate) fn entry_response(status: StatusCode, entry: &Entry) -> Response {
    let mut r = (status, Json(entry)).into_response();
    if let Ok(v) = HeaderValue::from_str(&etag(entry)) {
        r.headers_mut().insert(ETAG, v);
    }
    r
}

/// List entries
///
/// Filtered, sorted and paged like `devlog list`: most recently updated first by default.
#[utoipa::path(
    get,
    path = "/entries",
    tag = "entries",
    params(FilterParams, ListParams,
        ("blocked" = Option<bool>, Query, description = "Only entries waiting on an open blocker (a blocked-by link to an entry not done or closed)"),
    ),
    responses(
        (status = 200, description = "One page of entries", body = EntryPageDoc),
        (status = 400, description = "A bad or unknown query parameter", body = ErrorBody),
    )
)]
pub async fn list(
    State(s): State<AppState>,
    mut p: Params,
) -> Result<Json<Page<EntrySummary>>, ApiError> {
    let mut filter = p.take_filter()?;
    if p.take_bool("overdue")? {
        filter = s.app().overdue(filter);
    }
    let sort = p.take_sort()?;
    let ascending = p.take_bool("asc")?;
    let (limit, offset) = p.take_page(50)?;
    let blocked = p.take_bool("blocked")?;
    p.finish(
        &[
            FILTER_PARAMS,
            &["overdue", "sort", "asc", "limit", "offset", "blocked"],
        ]
        .concat(),
    )?;
    let query = ListQuery {
        filter,
        sort,
        ascending,
        offset,
        limit,
    };
    if blocked {
        return Ok(Json(s.app().blocked(&query).await?));
    }
    Ok(Json(s.app().store().list(&query).await?))
}

/// Create an entry
///
/// When an open entry with the same title (ignoring case, spacing and punctuation) and type
/// exists, nothing is written and that entry is returned with 200, so a client that retries
/// does not create duplicates. `force` creates another one anyway.
#[utoipa::path(
    post,
    path = "/entries",
    tag = "entries",
    request_body = NewEntryDoc,
    params(
        ("force" = Option<bool>, Query, description = "Create even if an open entry with the same title and type exists"),
        ("X-Devlog-Actor" = Option<String>, Header, description = "Who is acting, recorded in the change feed"),
    ),
    responses(
        (status = 201, description = "Created", body = EntryDoc,
            headers(("ETag" = String, description = "The entry's version"), ("Location" = String, description = "The entry's URL"))),
        (status = 200, description = "An open entry with the same title and type already exists; nothing was written", body = EntryDoc,
            headers(("ETag" = String, description = "The entry's version"))),
        (status = 400, description = "The body is not JSON", body = ErrorBody),
        (status = 413, description = "The body is too large", body = ErrorBody),
        (status = 415, description = "The body is not declared as JSON", body = ErrorBody),
        (status = 422, description = "A missing, unknown or invalid field", body = ErrorBody),
    )
)]
pub async fn create(
    State(s): State<AppState>,
    actor: Actor,
    mut p: Params,
    JsonBody(mut input): JsonBody<NewEntry>,
) -> Result<Response, ApiError> {
    if p.take_bool("force")? {
        input.force = true;
    }
    p.finish(&["force"])?;
    let meta = s.meta(actor);
    let _write = s.write_shared().await;
    let created = s.app().create(input, &meta).await?;
    if !created.is_new() {
        return Ok(entry_response(StatusCode::OK, created.entry()));
    }
    s.committed();
    let entry = created.into_entry();
    let mut r = entry_response(StatusCode::CREATED, &entry);
    if let Ok(v) = HeaderValue::from_str(&format!("{PREFIX}/entries/{}", entry.id)) {
        r.headers_mut().insert(LOCATION, v);
    }
    Ok(r)
}

/// Read an entry
///
/// With `If-None-Match` naming its current ETag the answer is 304 without a body.
#[utoipa::path(
    get,
    path = "/entries/{ref}",
    tag = "entries",
    params(
        ("ref" = String, Path, description = "Handle (42), full id, unique id prefix (4+ hex digits), key slug, or original devlog id"),
        ("If-None-Match" = Option<String>, Header, description = "ETags the client has; 304 if one is current"),
    ),
    responses(
        (status = 200, description = "The entry", body = EntryDoc,
            headers(("ETag" = String, description = "The entry's version, for If-Match"))),
        (status = 304, description = "The client's copy is current"),
        (status = 404, description = "No entry matches", body = ErrorBody),
        (status = 409, description = "The reference matches several entries", body = ErrorBody),
    )
)]
pub async fn get(
    State(s): State<AppState>,
    EntryPath(reference): EntryPath,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let cached = Precondition::if_none_match(&headers)?;
    let entry = s.app().resolve(&reference).await?;
    let tag = etag(&entry);
    if cached.is_some_and(|c| c.matches_weak(&tag)) {
        let mut r = StatusCode::NOT_MODIFIED.into_response();
        if let Ok(v) = HeaderValue::from_str(&tag) {
            r.headers_mut().insert(ETAG, v);
        }
        return Ok(r);
    }
    Ok(entry_response(StatusCode::OK, &entry))
}

/// Edit an entry
///
/// Changes the given fields (the fields of `devlog edit`). With `If-Match`, the edit is made
/// only if the entry is still at that version, checked atomically with the write.
#[utoipa::path(
    patch,
    path = "/entries/{ref}",
    tag = "entries",
    request_body = EditDoc,
    params(
        ("ref" = String, Path, description = "Handle, id, id prefix, key, or original devlog id"),
        ("force" = Option<bool>, Query, description = "With status done or closed: even though subtasks are open (refused with 422 otherwise)"),
        ("If-Match" = Option<String>, Header, description = "Only if the entry still has this ETag"),
        ("X-Devlog-Actor" = Option<String>, Header, description = "Who is acting"),
    ),
    responses(
        (status = 200, description = "The edited entry", body = EntryDoc,
            headers(("ETag" = String, description = "The entry's new version"))),
        (status = 400, description = "The body is not JSON, or If-Match is malformed", body = ErrorBody),
        (status = 404, description = "No entry matches", body = ErrorBody),
        (status = 409, description = "Ambiguous reference, or a concurrent change", body = ErrorBody),
        (status = 412, description = "If-Match does not match the current ETag (sent back in ETag)", body = ErrorBody),
        (status = 413, description = "The body is too large", body = ErrorBody),
        (status = 415, description = "The body is not declared as JSON", body = ErrorBody),
        (status = 422, description = "An unknown or invalid field, or nothing to change", body = ErrorBody),
    )
)]
pub async fn edit(
    State(s): State<AppState>,
    EntryPath(reference): EntryPath,
    actor: Actor,
    headers: HeaderMap,
    mut p: Params,
    JsonBody(edit): JsonBody<Edit>,
) -> Result<Response, ApiError> {
    let condition = Precondition::if_match(&headers)?;
    let force = p.take_bool("force")?;
    p.finish(&["force"])?;
    if edit.is_empty() {
        return Err(ApiError::invalid(
            "nothing to change: give at least one field",
        ));
    }
    let meta = s.meta(actor);
    let target = s.app().resolve_summary(&reference).await?;
    let _write = s.write_shared().await;
    let entry = s
        .run(condition, |app| async move {
            app.allowing_open_children(force)
                .edit(target.id, edit, &meta)
                .await
        })
        .await?;
    s.committed();
    Ok(entry_response(StatusCode::OK, &entry))
}

/// Delete an entry
///
/// The deletion is recorded in the change feed. With `If-Match`, only if the entry is still at
/// that version.
#[utoipa::path(
    delete,
    path = "/entries/{ref}",
    tag = "entries",
    params(
        ("ref" = String, Path, description = "Handle, id, id prefix, key, or original devlog id"),
        ("If-Match" = Option<String>, Header, description = "Only if the entry still has this ETag"),
        ("X-Devlog-Actor" = Option<String>, Header, description = "Who is acting"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "If-Match is malformed", body = ErrorBody),
        (status = 404, description = "No entry matches", body = ErrorBody),
        (status = 409, description = "Ambiguous reference", body = ErrorBody),
        (status = 412, description = "If-Match does not match the current ETag", body = ErrorBody),
    )
)]
pub async fn delete(
    State(s): State<AppState>,
    EntryPath(reference): EntryPath,
    actor: Actor,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let condition = Precondition::if_match(&headers)?;
    let meta = s.meta(actor);
    let target = s.app().resolve_summary(&reference).await?;
    // The `Store` port has no conditional delete, so the check runs in an update that
    // changes nothing and the delete follows. Holding the write lock alone keeps every other
    // write through this server out of that gap; writers in other processes are not (see
    // docs/http-api.md).
    let _write = s.write_exclusive().await;
    if condition.is_some() {
        let check_meta = meta.clone();
        s.run(condition, |app| async move {
            app.store()
                .update(target.id, &check_meta, &mut |_: &mut Entry| Ok(()))
                .await
        })
        .await?;
    }
    s.app().store().delete(target.id, &meta).await?;
    s.committed();
    Ok(StatusCode::NO_CONTENT)
}

/// Complete an entry
///
/// Sets the status to `done` (recording `closedAt`); an optional summary becomes a `solution`
/// note and the AI context's current summary.
#[utoipa::path(
    post,
    path = "/entries/{ref}/complete",
    tag = "entries",
    request_body(content = Option<CompleteBody>, description = "Optional; may be left out"),
    params(
        ("ref" = String, Path, description = "Handle, id, id prefix, key, or original devlog id"),
        ("force" = Option<bool>, Query, description = "Even though subtasks are open (refused with 422 otherwise)"),
        ("If-Match" = Option<String>, Header, description = "Only if the entry still has this ETag"),
        ("X-Devlog-Actor" = Option<String>, Header, description = "Who is acting"),
    ),
    responses(
        (status = 200, description = "The completed entry", body = EntryDoc,
            headers(("ETag" = String, description = "The entry's new version"))),
        (status = 400, description = "The body is not JSON", body = ErrorBody),
        (status = 404, description = "No entry matches", body = ErrorBody),
        (status = 409, description = "Ambiguous reference, or a concurrent change", body = ErrorBody),
        (status = 412, description = "If-Match does not match the current ETag", body = ErrorBody),
        (status = 422, description = "An unknown field", body = ErrorBody),
    )
)]
pub async fn complete(
    State(s): State<AppState>,
    EntryPath(reference): EntryPath,
    actor: Actor,
    headers: HeaderMap,
    mut p: Params,
    OptionalJsonBody(body): OptionalJsonBody<CompleteBody>,
) -> Result<Response, ApiError> {
    let condition = Precondition::if_match(&headers)?;
    let force = p.take_bool("force")?;
    p.finish(&["force"])?;
    let meta = s.meta(actor);
    let target = s.app().resolve_summary(&reference).await?;
    let _write = s.write_shared().await;
    let entry = s
        .run(condition, |app| async move {
            app.allowing_open_children(force)
                .complete(target.id, body.summary, &meta)
                .await
        })
        .await?;
    s.committed();
    Ok(entry_response(StatusCode::OK, &entry))
}

/// Change an entry's status by name
///
/// One workflow step (`start`, `block`, `review`, `close`, `reopen`) with an optional note
/// in the same write. Done or closed work must be reopened before it is started, blocked or
/// reviewed (422 says so); a step to the status the entry already has changes nothing.
#[utoipa::path(
    post,
    path = "/entries/{ref}/transition",
    tag = "entries",
    request_body = TransitionBody,
    params(
        ("ref" = String, Path, description = "Handle, id, id prefix, key, or original devlog id"),
        ("force" = Option<bool>, Query, description = "close: even though subtasks are open (refused with 422 otherwise)"),
        ("If-Match" = Option<String>, Header, description = "Only if the entry still has this ETag"),
        ("X-Devlog-Actor" = Option<String>, Header, description = "Who is acting"),
    ),
    responses(
        (status = 200, description = "The entry after the step", body = EntryDoc,
            headers(("ETag" = String, description = "The entry's new version"))),
        (status = 400, description = "The body is not JSON", body = ErrorBody),
        (status = 404, description = "No entry matches", body = ErrorBody),
        (status = 409, description = "Ambiguous reference, or a concurrent change", body = ErrorBody),
        (status = 412, description = "If-Match does not match the current ETag", body = ErrorBody),
        (status = 422, description = "An unknown field or step, or finished work not reopened first", body = ErrorBody),
    )
)]
pub async fn transition(
    State(s): State<AppState>,
    EntryPath(reference): EntryPath,
    actor: Actor,
    headers: HeaderMap,
    mut p: Params,
    JsonBody(body): JsonBody<TransitionBody>,
) -> Result<Response, ApiError> {
    let condition = Precondition::if_match(&headers)?;
    let force = p.take_bool("force")?;
    p.finish(&["force"])?;
    let meta = s.meta(actor);
    let target = s.app().resolve_summary(&reference).await?;
    let _write = s.write_shared().await;
    let out = s
        .run(condition, |app| async move {
            app.allowing_open_children(force)
                .transition(target.id, body.transition, body.note, &meta)
                .await
        })
        .await?;
    s.committed();
    Ok(entry_response(StatusCode::OK, &out.entry))
}
