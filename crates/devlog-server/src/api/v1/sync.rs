//! `/sync/conflicts/{id}/resolve`: settles a sync conflict by taking one side's value, with
//! the engine `devlog serve` built from `[integrations.*]` (the one MCP's sync tools and the
//! webhook receivers use), through `SyncEngine::resolve`, as `devlog sync resolve` does.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{Body, JsonBody};
use crate::state::AppState;

/// Which side of a conflict to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// The value in devlog (the next sync pushes it).
    Local,
    /// The value in the remote system (written to the entry now).
    Remote,
}

/// How to resolve a conflict.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveBody {
    /// `local` or `remote`.
    pub take: Side,
}

impl Body for ResolveBody {
    type Doc = ResolveBody;
}

/// The conflict that was resolved.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResolvedDoc {
    /// The conflict's id.
    pub resolved: i64,
    /// `local` or `remote`.
    pub took: Side,
}

/// The sync engine of this server, or why there is none (409 names the cause).
pub(crate) fn engine(s: &AppState) -> Result<&devlog_sync::SyncEngine, ApiError> {
    let sync = s.sync();
    if let Some(e) = &sync.engine {
        return Ok(e);
    }
    Err(match &sync.error {
        Some(e) => ApiError::new(
            StatusCode::CONFLICT,
            "config",
            format!("the integrations in devlog.toml are misconfigured, so there is no sync: {e}"),
        )
        .with_hint("fix the [integrations.*] table named above and restart devlog serve"),
        None => ApiError::new(
            StatusCode::CONFLICT,
            "not-configured",
            "no integration is configured in this store, so there are no sync conflicts",
        )
        .with_hint("add an integration's table, such as [integrations.github], to devlog.toml (docs/sync.md; `devlog integrations list` shows what this build has) and restart devlog serve"),
    })
}

/// A sync engine error as an API error: the store's own classes, else 502 (the remote).
pub(crate) fn engine_error(e: devlog_sync::EngineError) -> ApiError {
    match e {
        devlog_sync::EngineError::Store(e) => e.into(),
        other => ApiError::new(StatusCode::BAD_GATEWAY, "remote", other.to_string()),
    }
}

/// Resolve a sync conflict
///
/// Keeps one side of a conflicting field (`devlog sync resolve ID --take local|remote`):
/// `remote` writes the remote value to the entry now; `local` keeps devlog's value, which the
/// next sync pushes. The conflict ids are those of `devlog sync conflicts` and the
/// dashboard's sync page.
#[utoipa::path(
    post,
    path = "/sync/conflicts/{id}/resolve",
    tag = "sync",
    request_body = ResolveBody,
    params(("id" = i64, Path, description = "The conflict's id")),
    responses(
        (status = 200, description = "Resolved", body = ResolvedDoc),
        (status = 400, description = "The body is not JSON, or the id is not a number", body = ErrorBody),
        (status = 404, description = "No open conflict has this id", body = ErrorBody),
        (status = 409, description = "No integration is configured, or the configuration is wrong", body = ErrorBody),
        (status = 415, description = "The body is not declared as JSON", body = ErrorBody),
        (status = 422, description = "`take` is neither local nor remote, or an unknown field", body = ErrorBody),
    )
)]
pub async fn resolve(
    State(s): State<AppState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ResolveBody>,
) -> Result<Json<Value>, ApiError> {
    let id: i64 = id.trim().parse().map_err(|_| {
        ApiError::bad_request(format!(
            "`{id}` is not a conflict id: use the number `devlog sync conflicts` shows"
        ))
    })?;
    let engine = engine(&s)?;
    let _write = s.write_shared().await;
    engine
        .resolve(id, body.take == Side::Remote)
        .await
        .map_err(engine_error)?;
    s.committed();
    Ok(Json(json!(ResolvedDoc {
        resolved: id,
        took: body.take
    })))
}
