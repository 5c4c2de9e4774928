//! `/entries/{ref}/decisions`: record a decision on an entry.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use devlog_core::ops::NewDecision;

use super::entries::entry_response;
use super::schema::{EntryDoc, NewDecisionDoc};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Actor, EntryPath, JsonBody};
use crate::state::AppState;

/// Record a decision
///
/// Adds a decision with its rationale (required) and the alternatives considered to the
/// entry's context. Answers with the whole entry.
#[utoipa::path(
    post,
    path = "/entries/{ref}/decisions",
    tag = "entries",
    request_body = NewDecisionDoc,
    params(
        ("ref" = String, Path, description = "Handle, id, id prefix, key, or original devlog id"),
        ("If-Match" = Option<String>, Header, description = "Only if the entry still has this ETag"),
        ("X-Devlog-Actor" = Option<String>, Header, description = "Who is acting"),
    ),
    responses(
        (status = 201, description = "The decision was recorded; the entry with it", body = EntryDoc,
            headers(("ETag" = String, description = "The entry's new version"))),
        (status = 400, description = "The body is not JSON", body = ErrorBody),
        (status = 404, description = "No entry matches", body = ErrorBody),
        (status = 409, description = "Ambiguous reference, or a concurrent change", body = ErrorBody),
        (status = 412, description = "If-Match does not match the current ETag", body = ErrorBody),
        (status = 413, description = "The body is too large", body = ErrorBody),
        (status = 415, description = "The body is not declared as JSON", body = ErrorBody),
        (status = 422, description = "A missing decision or rationale, or an unknown field", body = ErrorBody),
    )
)]
pub async fn add(
    State(s): State<AppState>,
    EntryPath(reference): EntryPath,
    actor: Actor,
    headers: HeaderMap,
    JsonBody(decision): JsonBody<NewDecision>,
) -> Result<Response, ApiError> {
    let entry = s
        .write_entry(&reference, actor, &headers, |app, id, meta| async move {
            app.decide(id, decision, &meta).await
        })
        .await?;
    Ok(entry_response(StatusCode::CREATED, &entry))
}
