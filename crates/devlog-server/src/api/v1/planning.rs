//! Planning (issue 16): `/entries/{ref}/worklogs` (time spent) and `/milestones`, thin
//! callers of `devlog_core::planning`. Due dates and milestones of entries are fields of the
//! entry bodies and filters of `GET /entries`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use devlog_core::planning::{MilestoneProgress, NewMilestone, NewWorklog, WorklogEdit};
use serde_json::json;

use super::schema::{
    MilestoneDetailDoc, MilestoneProgressDoc, MilestoneStateBody, NewMilestoneDoc, NewWorklogDoc,
    WorklogAddedDoc, WorklogEditDoc,
};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Actor, EntryPath, JsonBody, Params};
use crate::state::AppState;

/// Log time spent
///
/// Records a worklog (who, which day, how long, a note) on the entry; its `actualHours`
/// becomes the sum of its worklogs.
#[utoipa::path(
    post,
    path = "/entries/{ref}/worklogs",
    tag = "planning",
    request_body = NewWorklogDoc,
    params(
        ("ref" = String, Path, description = "Handle, id, id prefix, key, or original devlog id"),
        ("If-Match" = Option<String>, Header, description = "Only if the entry still has this ETag"),
        ("X-Devlog-Actor" = Option<String>, Header, description = "Who is acting (the worklog's author by default)"),
    ),
    responses(
        (status = 201, description = "The worklog and the entry with it", body = WorklogAddedDoc),
        (status = 400, description = "The body is not JSON", body = ErrorBody),
        (status = 404, description = "No entry matches", body = ErrorBody),
        (status = 409, description = "Ambiguous reference, or a concurrent change", body = ErrorBody),
        (status = 412, description = "If-Match does not match the current ETag", body = ErrorBody),
        (status = 415, description = "The body is not declared as JSON", body = ErrorBody),
        (status = 422, description = "A bad duration or date (the message lists the accepted forms)", body = ErrorBody),
    )
)]
pub async fn log_time(
    State(s): State<AppState>,
    EntryPath(reference): EntryPath,
    actor: Actor,
    headers: HeaderMap,
    JsonBody(input): JsonBody<NewWorklog>,
) -> Result<Response, ApiError> {
    let (entry, worklog) = s
        .write_entry(&reference, actor, &headers, |app, id, meta| async move {
            app.log_time(id, input, &meta).await
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "worklog": worklog, "entry": entry })),
    )
        .into_response())
}

/// Change a worklog
///
/// Changes one worklog's duration, day or note (by id or a unique id prefix); the entry's
/// `actualHours` follows. Undo reverts it.
#[utoipa::path(
    patch,
    path = "/entries/{ref}/worklogs/{worklog_id}",
    tag = "planning",
    request_body = WorklogEditDoc,
    params(
        ("ref" = String, Path, description = "Handle, id, id prefix, key, or original devlog id"),
        ("worklog_id" = String, Path, description = "The worklog's id or a unique prefix of it"),
        ("If-Match" = Option<String>, Header, description = "Only if the entry still has this ETag"),
        ("X-Devlog-Actor" = Option<String>, Header, description = "Who is acting"),
    ),
    responses(
        (status = 200, description = "The worklog as it is now and the entry", body = WorklogAddedDoc),
        (status = 400, description = "The body is not JSON", body = ErrorBody),
        (status = 404, description = "No entry matches", body = ErrorBody),
        (status = 409, description = "Ambiguous reference, or a concurrent change", body = ErrorBody),
        (status = 412, description = "If-Match does not match the current ETag", body = ErrorBody),
        (status = 415, description = "The body is not declared as JSON", body = ErrorBody),
        (status = 422, description = "No such worklog, nothing to change, a bad duration or date", body = ErrorBody),
    )
)]
pub async fn edit_worklog(
    State(s): State<AppState>,
    Path((reference, worklog_id)): Path<(String, String)>,
    actor: Actor,
    headers: HeaderMap,
    JsonBody(edit): JsonBody<WorklogEdit>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (entry, worklog) = s
        .write_entry(&reference, actor, &headers, |app, id, meta| async move {
            app.edit_worklog(id, &worklog_id, edit, &meta).await
        })
        .await?;
    Ok(Json(json!({ "worklog": worklog, "entry": entry })))
}

/// Delete a worklog
///
/// Removes one worklog (by id or a unique id prefix); the entry's `actualHours` becomes the
/// sum of those left. Undo puts it back.
#[utoipa::path(
    delete,
    path = "/entries/{ref}/worklogs/{worklog_id}",
    tag = "planning",
    params(
        ("ref" = String, Path, description = "Handle, id, id prefix, key, or original devlog id"),
        ("worklog_id" = String, Path, description = "The worklog's id or a unique prefix of it"),
        ("If-Match" = Option<String>, Header, description = "Only if the entry still has this ETag"),
        ("X-Devlog-Actor" = Option<String>, Header, description = "Who is acting"),
    ),
    responses(
        (status = 200, description = "The removed worklog and the entry without it", body = WorklogAddedDoc),
        (status = 404, description = "No entry matches", body = ErrorBody),
        (status = 409, description = "Ambiguous reference, or a concurrent change", body = ErrorBody),
        (status = 412, description = "If-Match does not match the current ETag", body = ErrorBody),
        (status = 422, description = "No such worklog", body = ErrorBody),
    )
)]
pub async fn delete_worklog(
    State(s): State<AppState>,
    Path((reference, worklog_id)): Path<(String, String)>,
    actor: Actor,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (entry, worklog) = s
        .write_entry(&reference, actor, &headers, |app, id, meta| async move {
            app.delete_worklog(id, &worklog_id, &meta).await
        })
        .await?;
    Ok(Json(json!({ "worklog": worklog, "entry": entry })))
}

/// List milestones
///
/// With their progress (entries done of total, overdue entries, late), soonest due first.
#[utoipa::path(
    get,
    path = "/milestones",
    tag = "planning",
    params(("all" = Option<bool>, Query, description = "Include closed milestones")),
    responses(
        (status = 200, description = "The milestones", body = Vec<MilestoneProgressDoc>),
        (status = 400, description = "A bad or unknown query parameter", body = ErrorBody),
    )
)]
pub async fn list(
    State(s): State<AppState>,
    mut p: Params,
) -> Result<Json<Vec<MilestoneProgress>>, ApiError> {
    let all = p.take_bool("all")?;
    p.finish(&["all"])?;
    Ok(Json(s.app().list_milestones(all).await?))
}

/// Create a milestone
#[utoipa::path(
    post,
    path = "/milestones",
    tag = "planning",
    request_body = NewMilestoneDoc,
    responses(
        (status = 201, description = "Created", body = MilestoneProgressDoc),
        (status = 400, description = "The body is not JSON", body = ErrorBody),
        (status = 415, description = "The body is not declared as JSON", body = ErrorBody),
        (status = 422, description = "A bad name or due date, or the name exists", body = ErrorBody),
    )
)]
pub async fn create(
    State(s): State<AppState>,
    JsonBody(input): JsonBody<NewMilestone>,
) -> Result<Response, ApiError> {
    let m = s.app().create_milestone(input).await?;
    let p = s.app().milestone_progress(m).await?;
    Ok((StatusCode::CREATED, Json(p)).into_response())
}

/// Read a milestone
///
/// Its progress and a page of its entries, soonest due first.
#[utoipa::path(
    get,
    path = "/milestones/{name}",
    tag = "planning",
    params(
        ("name" = String, Path, description = "The milestone's name (compared by letters and digits)"),
        ("limit" = Option<usize>, Query, description = "At most this many entries (1 to 1000, default 100)"),
        ("offset" = Option<usize>, Query, description = "Skip this many entries"),
    ),
    responses(
        (status = 200, description = "The milestone and its entries", body = MilestoneDetailDoc),
        (status = 422, description = "No such milestone (the message lists them)", body = ErrorBody),
    )
)]
pub async fn get(
    State(s): State<AppState>,
    Path(name): Path<String>,
    mut p: Params,
) -> Result<Response, ApiError> {
    let (limit, offset) = p.take_page(100)?;
    p.finish(&["limit", "offset"])?;
    let m = s.app().find_milestone(&name).await?;
    let progress = s.app().milestone_progress(m).await?;
    let entries = s
        .app()
        .milestone_entries(&progress.milestone.name, offset, limit)
        .await?;
    Ok(Json(json!({ "milestone": progress, "entries": entries })).into_response())
}

/// Close or reopen a milestone
///
/// A closed milestone keeps its entries; no entry can join it until it is reopened.
#[utoipa::path(
    patch,
    path = "/milestones/{name}",
    tag = "planning",
    request_body = MilestoneStateBody,
    params(("name" = String, Path, description = "The milestone's name")),
    responses(
        (status = 200, description = "The milestone as stored", body = MilestoneProgressDoc),
        (status = 415, description = "The body is not declared as JSON", body = ErrorBody),
        (status = 422, description = "No such milestone, or a bad state", body = ErrorBody),
    )
)]
pub async fn set_state(
    State(s): State<AppState>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<MilestoneStateBody>,
) -> Result<Json<MilestoneProgress>, ApiError> {
    let m = s.app().set_milestone_state(&name, body.state).await?;
    Ok(Json(s.app().milestone_progress(m).await?))
}
