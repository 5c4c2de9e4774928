//! `/health`: is the server up and does its store answer.

use axum::Json;
use axum::extract::State;

use super::schema::Health;
use crate::auth::{AuthMode, INSECURE_WARNING};
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
pub async fn health(
    State(s): State<AppState>,
    mode: Option<axum::Extension<AuthMode>>,
) -> Result<Json<Health>, ApiError> {
    let store = s.app().store();
    let entries = store.count().await?;
    let mut warnings = store.warnings().await?;
    let mode = mode.map(|m| m.0).unwrap_or_default();
    if mode == AuthMode::Disabled {
        warnings.push(INSECURE_WARNING.to_string());
    }
    Ok(Json(Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
        backend: store.describe().backend,
        entries,
        warnings,
        auth: mode.as_str(),
    }))
}
