//! `/entries/{ref}/notes`: add a note to an entry.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use devlog_core::ops::NewNote;

use super::entries::entry_response;
use super::schema::{EntryDoc, NewNoteDoc};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Actor, EntryPath, JsonBody};
use crate::state::AppState;

/// Add a note
///
/// Appends a dated note (progress, issue, solution, idea, reminder or feedback); files it names
/// are added to the entry's files. Answers with the whole entry, the new note last in `notes`.
#[utoipa::path(
    post,
    path = "/entries/{ref}/notes",
    tag = "entries",
    request_body = NewNoteDoc,
    params(
        ("ref" = String, Path, description = "Handle, id, id prefix, key, or original devlog id"),
        ("If-Match" = Option<String>, Header, description = "Only if the entry still has this ETag"),
        ("X-Devlog-Actor" = Option<String>, Header, description = "Who is acting"),
    ),
    responses(
        (status = 201, description = "The note was added; the entry with it", body = EntryDoc,
            headers(("ETag" = String, description = "The entry's new version"))),
        (status = 400, description = "The body is not JSON", body = ErrorBody),
        (status = 404, description = "No entry matches", body = ErrorBody),
        (status = 409, description = "Ambiguous reference, or a concurrent change", body = ErrorBody),
        (status = 412, description = "If-Match does not match the current ETag", body = ErrorBody),
        (status = 413, description = "The body is too large", body = ErrorBody),
        (status = 415, description = "The body is not declared as JSON", body = ErrorBody),
        (status = 422, description = "Empty content, an unknown category or field", body = ErrorBody),
    )
)]
pub async fn add(
    State(s): State<AppState>,
    EntryPath(reference): EntryPath,
    actor: Actor,
    headers: HeaderMap,
    JsonBody(note): JsonBody<NewNote>,
) -> Result<Response, ApiError> {
    let (entry, _note) = s
        .write_entry(&reference, actor, &headers, |app, id, meta| async move {
            app.add_note(id, note, &meta).await
        })
        .await?;
    Ok(entry_response(StatusCode::CREATED, &entry))
}
