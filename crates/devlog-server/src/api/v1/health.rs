//! `/health`: is the server up and does its store answer.

use axum::Json;
use axum::extract::State;

use super::schema::Health;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// Health
///
/// Answers 200 when the store can be read, with the backend, the number of entries and any
/// warnings (such as entry files that do not parse); 503 when the store is unreachable.
#[utoipa::path(
    get,
    path = "/health",
    tag = "server",
    responses(
        (status = 200, description = "Up", body = Health),
        (status = 503, description = "The store does not answer", body = ErrorBody),
    )
)]
pub async fn health(State(s): State<AppState>) -> Result<Json<Health>, ApiError> {
    let store = s.app().store();
    let entries = store.count().await?;
    let warnings = store.warnings().await?;
    Ok(Json(Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
        backend: store.describe().backend,
        entries,
        warnings,
    }))
}
