//! `/entries/{ref}/history`, `/entries/{ref}/undo` and `/entries/{ref}/notes/{note_id}`: an
//! entry's history, undo, and editing or deleting a note (`devlog_core::history`).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::header::ETAG;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use devlog_core::history::{History, MAX_HISTORY, UndoRequest};

use super::entries::entry_response;
use super::schema::{EntryDoc, HistoryDoc, NoteTextBody, UndoBody, UndoneDoc};
use crate::error::{ApiError, ErrorBody};
use crate::etag::{Precondition, etag};
use crate::extract::{Actor, Body, EntryPath, JsonBody, OptionalJsonBody, Params};
use crate::state::AppState;

impl Body for NoteTextBody {
    type Doc = NoteTextBody;
}

/// An entry's history
///
/// The entry's changes from the change feed, newest first: each change (one write) with the
/// seq of its first and last event, when, who (`origin`, `actor`) and its events — fields
/// from old to new value, status changes, notes added, edited or deleted, decisions added.
#[utoipa::path(
    get,
    path = "/entries/{ref}/history",
    tag = "entries",
    params(
        ("ref" = String, Path, description = "Handle, id, id prefix, key, or original devlog id"),
        ("limit" = Option<usize>, Query, description = "At most this many changes, the newest (1 to 1000, default 50)"),
    ),
    responses(
        (status = 200, description = "The entry's changes, newest first", body = HistoryDoc),
        (status = 400, description = "A bad or unknown query parameter", body = ErrorBody),
        (status = 404, description = "No entry matches", body = ErrorBody),
        (status = 409, description = "Ambiguous reference", body = ErrorBody),
    )
)]
pub async fn history(
    State(s): State<AppState>,
    EntryPath(reference): EntryPath,
    mut p: Params,
) -> Result<Json<History>, ApiError> {
    let (limit, offset) = p.take_page(50)?;
    if offset != 0 {
        return Err(ApiError::bad_request(
            "history pages by `limit` only: ask for more changes instead of an offset",
        ));
    }
    p.finish(&["limit"])?;
    let target = s.app().resolve_summary(&reference).await?;
    Ok(Json(
        s.app().history(target.id, limit.min(MAX_HISTORY)).await?,
    ))
}

/// Undo changes of an entry
///
/// Reverts the entry's last change, or with `to` every change after the change holding that
/// event, as one new change (history is never rewritten; undoing the undo redoes it). Fields
/// and status get their old values back, added notes and decisions are removed, edited and
/// deleted notes restored. Refused (422): the entry's creation, a link to a remote item.
/// Refused (409) unless `force`: a field a later change by someone else also changed, or one
/// that no longer holds what the change wrote.
#[utoipa::path(
    post,
    path = "/entries/{ref}/undo",
    tag = "entries",
    request_body(content = Option<UndoBody>, description = "Optional: what to undo"),
    params(
        ("ref" = String, Path, description = "Handle, id, id prefix, key, or original devlog id"),
        ("If-Match" = Option<String>, Header, description = "Only if the entry still has this ETag"),
        ("X-Devlog-Actor" = Option<String>, Header, description = "Who is acting"),
    ),
    responses(
        (status = 200, description = "The entry after the undo and the changes reverted", body = UndoneDoc,
            headers(("ETag" = String, description = "The entry's new version"))),
        (status = 400, description = "The body is not JSON", body = ErrorBody),
        (status = 404, description = "No entry matches", body = ErrorBody),
        (status = 409, description = "Ambiguous reference, a later change by someone else, or a concurrent change", body = ErrorBody),
        (status = 412, description = "If-Match does not match the current ETag", body = ErrorBody),
        (status = 422, description = "Nothing to undo, a change that cannot be undone, or an event not of this entry", body = ErrorBody),
    )
)]
pub async fn undo(
    State(s): State<AppState>,
    EntryPath(reference): EntryPath,
    actor: Actor,
    headers: HeaderMap,
    OptionalJsonBody(body): OptionalJsonBody<UndoBody>,
) -> Result<Response, ApiError> {
    let condition = Precondition::if_match(&headers)?;
    let meta = s.meta(actor);
    let target = s.app().resolve_summary(&reference).await?;
    let req = UndoRequest {
        to: body.to,
        force: body.force.unwrap_or(false),
    };
    let _write = s.write_shared().await;
    let undone = s
        .run(condition, |app| async move {
            app.undo(target.id, req, &meta).await
        })
        .await?;
    s.committed();
    let tag = etag(&undone.entry);
    let mut r = (StatusCode::OK, Json(&undone)).into_response();
    if let Ok(v) = HeaderValue::from_str(&tag) {
        r.headers_mut().insert(ETAG, v);
    }
    Ok(r)
}

/// Edit a note's text
///
/// Replaces the content of one note (by id or a unique id prefix); the note keeps its id,
/// time and category. The old text stays in the history, and undo restores it.
#[utoipa::path(
    patch,
    path = "/entries/{ref}/notes/{note_id}",
    tag = "entries",
    request_body = NoteTextBody,
    params(
        ("ref" = String, Path, description = "Handle, id, id prefix, key, or original devlog id"),
        ("note_id" = String, Path, description = "The note's id or a unique prefix of it"),
        ("If-Match" = Option<String>, Header, description = "Only if the entry still has this ETag"),
        ("X-Devlog-Actor" = Option<String>, Header, description = "Who is acting"),
    ),
    responses(
        (status = 200, description = "The entry with the edited note", body = EntryDoc,
            headers(("ETag" = String, description = "The entry's new version"))),
        (status = 400, description = "The body is not JSON", body = ErrorBody),
        (status = 404, description = "No entry matches", body = ErrorBody),
        (status = 409, description = "Ambiguous reference, or a concurrent change", body = ErrorBody),
        (status = 412, description = "If-Match does not match the current ETag", body = ErrorBody),
        (status = 415, description = "The body is not declared as JSON", body = ErrorBody),
        (status = 422, description = "No such note, empty or unchanged content, an unknown field", body = ErrorBody),
    )
)]
pub async fn edit_note(
    State(s): State<AppState>,
    Path((reference, note_id)): Path<(String, String)>,
    actor: Actor,
    headers: HeaderMap,
    JsonBody(body): JsonBody<NoteTextBody>,
) -> Result<Response, ApiError> {
    let (entry, _) = s
        .write_entry(&reference, actor, &headers, |app, id, meta| async move {
            app.edit_note(id, &note_id, body.content, &meta).await
        })
        .await?;
    Ok(entry_response(StatusCode::OK, &entry))
}

/// Delete a note
///
/// Removes one note (by id or a unique id prefix). The whole note stays in the history, and
/// undo puts it back where it was. A comment that sync posted for it is not deleted remotely.
#[utoipa::path(
    delete,
    path = "/entries/{ref}/notes/{note_id}",
    tag = "entries",
    params(
        ("ref" = String, Path, description = "Handle, id, id prefix, key, or original devlog id"),
        ("note_id" = String, Path, description = "The note's id or a unique prefix of it"),
        ("If-Match" = Option<String>, Header, description = "Only if the entry still has this ETag"),
        ("X-Devlog-Actor" = Option<String>, Header, description = "Who is acting"),
    ),
    responses(
        (status = 200, description = "The entry without the note", body = EntryDoc,
            headers(("ETag" = String, description = "The entry's new version"))),
        (status = 404, description = "No entry matches", body = ErrorBody),
        (status = 409, description = "Ambiguous reference, or a concurrent change", body = ErrorBody),
        (status = 412, description = "If-Match does not match the current ETag", body = ErrorBody),
        (status = 422, description = "No such note", body = ErrorBody),
    )
)]
pub async fn delete_note(
    State(s): State<AppState>,
    Path((reference, note_id)): Path<(String, String)>,
    actor: Actor,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (entry, _) = s
        .write_entry(&reference, actor, &headers, |app, id, meta| async move {
            app.delete_note(id, &note_id, &meta).await
        })
        .await?;
    Ok(entry_response(StatusCode::OK, &entry))
}
