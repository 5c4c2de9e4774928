//! `/stats`: counts and completion times.

use axum::Json;
use axum::extract::State;
use devlog_core::Stats;

use super::schema::{FilterParams, StatsDoc};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{FILTER_PARAMS, Params};
use crate::state::AppState;

/// Statistics
///
/// Counts by status, type, priority and assignee, and completion times, over the entries that
/// pass the filters (the same as `GET /entries`).
#[utoipa::path(
    get,
    path = "/stats",
    tag = "entries",
    params(FilterParams),
    responses(
        (status = 200, description = "The statistics", body = StatsDoc),
        (status = 400, description = "A bad or unknown query parameter", body = ErrorBody),
    )
)]
pub async fn stats(State(s): State<AppState>, mut p: Params) -> Result<Json<Stats>, ApiError> {
    let filter = p.take_filter()?;
    p.finish(FILTER_PARAMS)?;
    Ok(Json(s.app().store().stats(&filter).await?))
}
