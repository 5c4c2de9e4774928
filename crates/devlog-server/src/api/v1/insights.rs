//! `/insights` (shared decisions and key insights, ranked for a piece of work) and
//! `/entries/{ref}/insights` (add a key insight). Only this workspace's: the other
//! repositories are the CLI's and MCP's (`--all-repos`).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use super::entries::entry_response;
use super::schema::{EntryDoc, InsightBody, SharedInsightsDoc};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Actor, EntryPath, JsonBody, Params};
use crate::state::AppState;

/// Shared insights
///
/// The decisions and key insights entries marked shared, most relevant to the work of `for`
/// first (default: the entry in progress updated last; with none, the most recently changed
/// first), each with its entry.
#[utoipa::path(
    get,
    path = "/insights",
    tag = "entries",
    params(
        ("for" = Option<String>, Query, description = "Rank for this entry (handle, id, id prefix, key)"),
        ("limit" = Option<usize>, Query, description = "At most this many (default 10)"),
    ),
    responses(
        (status = 200, description = "Shared insights, most relevant first", body = SharedInsightsDoc),
        (status = 400, description = "A bad or unknown query parameter", body = ErrorBody),
        (status = 404, description = "No entry matches `for`", body = ErrorBody),
    )
)]
pub async fn list(State(s): State<AppState>, mut p: Params) -> Result<Json<Value>, ApiError> {
    let for_ref = p.take("for")?;
    let (limit, _) = p.take_page(10)?;
    p.finish(&["for", "limit"])?;
    let app = s.app();
    let work = match for_ref {
        Some(r) => Some(app.resolve(&r).await?),
        None => app
            .active_context(1)
            .await?
            .into_iter()
            .find(|e| e.status == devlog_core::Status::InProgress),
    };
    let found = app.shared_insights(&[], work.as_ref(), limit).await?;
    Ok(Json(json!({
        "for": work.as_ref().map(|e| e.summary()),
        "terms": found.terms,
        "items": found.items,
    })))
}

/// Add a key insight
///
/// Adds a key insight to the entry's AI context, shared with other work unless `shared` is
/// false. Answers with the whole entry.
#[utoipa::path(
    post,
    path = "/entries/{ref}/insights",
    tag = "entries",
    request_body = InsightBody,
    params(
        ("ref" = String, Path, description = "Handle, id, id prefix, key, or original devlog id"),
        ("If-Match" = Option<String>, Header, description = "Only if the entry still has this ETag"),
        ("X-Devlog-Actor" = Option<String>, Header, description = "Who is acting"),
    ),
    responses(
        (status = 201, description = "The insight was added; the entry with it", body = EntryDoc,
            headers(("ETag" = String, description = "The entry's new version"))),
        (status = 400, description = "The body is not JSON", body = ErrorBody),
        (status = 404, description = "No entry matches", body = ErrorBody),
        (status = 409, description = "Ambiguous reference, or a concurrent change", body = ErrorBody),
        (status = 412, description = "If-Match does not match the current ETag", body = ErrorBody),
        (status = 413, description = "The body is too large", body = ErrorBody),
        (status = 415, description = "The body is not declared as JSON", body = ErrorBody),
        (status = 422, description = "An empty insight, or an unknown field", body = ErrorBody),
    )
)]
pub async fn add(
    State(s): State<AppState>,
    EntryPath(reference): EntryPath,
    actor: Actor,
    headers: HeaderMap,
    JsonBody(body): JsonBody<InsightBody>,
) -> Result<Response, ApiError> {
    let shared = body.shared.unwrap_or(true);
    let entry = s
        .write_entry(&reference, actor, &headers, |app, id, meta| async move {
            app.add_insight(id, &body.insight, shared, &meta).await
        })
        .await?;
    Ok(entry_response(StatusCode::CREATED, &entry))
}
