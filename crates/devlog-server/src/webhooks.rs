//! `POST /webhooks/{integration}`: webhook receivers, mounted through [`crate::Server::with_routes`].
//!
//! The integration verifies the request (signature) before anything else looks at it; the
//! sync engine then applies what it reports like a pull, and processes a redelivered event
//! (same delivery id) once. Nothing changes when verification or parsing fails.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode};
use devlog_core::integration::{SyncErrorKind, Webhook};
use devlog_sync::SyncEngine;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody};

/// Largest webhook body accepted (GitHub sends at most 25 MB; real events are far smaller).
pub const MAX_WEBHOOK_BODY: usize = 10 * 1024 * 1024;

/// What a delivery changed.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookResult {
    /// Items the delivery reported.
    pub received: u64,
    /// Entries changed by it.
    pub applied: u64,
    /// Conflicts it recorded.
    pub conflicts: u64,
}

/// Receive a webhook
///
/// Verifies the delivery with the named integration (e.g. GitHub's `X-Hub-Signature-256`),
/// then merges the items it reports into their entries. A redelivery is accepted and ignored.
#[utoipa::path(
    post,
    path = "/webhooks/{integration}",
    tag = "webhooks",
    params(("integration" = String, Path, description = "Integration name, as in devlog.toml")),
    request_body(content = String, description = "The payload as the remote system sent it"),
    responses(
        (status = 200, description = "Applied (or a redelivery, ignored)", body = WebhookResult),
        (status = 400, description = "The payload is not what the integration expects", body = ErrorBody),
        (status = 401, description = "Signature missing or wrong", body = ErrorBody),
        (status = 404, description = "No such integration enabled", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 503, description = "The store or the remote is unavailable; redeliver later", body = ErrorBody),
    )
)]
pub async fn receive(
    State(engine): State<Arc<SyncEngine>>,
    Path(integration): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<WebhookResult>, ApiError> {
    if !engine
        .integrations()
        .iter()
        .any(|i| i.descriptor().name == integration)
    {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not-found",
            format!("no integration named `{integration}` is enabled"),
        )
        .with_hint("add an [integrations.<name>] table to devlog.toml and restart the server"));
    }
    let hook = Webhook {
        headers: headers
            .iter()
            .filter_map(|(k, v)| {
                Some((
                    k.as_str().to_ascii_lowercase(),
                    v.to_str().ok()?.to_string(),
                ))
            })
            .collect(),
        body: body.to_vec(),
    };
    match engine.webhook(&integration, &hook).await {
        Ok(r) => Ok(Json(WebhookResult {
            received: r.pulled,
            applied: r.applied,
            conflicts: r.conflicts,
        })),
        Err(e) => {
            let (status, class) = match e.kind {
                SyncErrorKind::Auth => (StatusCode::UNAUTHORIZED, "unauthorized"),
                SyncErrorKind::Permanent | SyncErrorKind::NotFound => {
                    (StatusCode::BAD_REQUEST, "invalid")
                }
                SyncErrorKind::Conflict => (StatusCode::CONFLICT, "conflict"),
                SyncErrorKind::RateLimited | SyncErrorKind::Transient => {
                    (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
                }
            };
            tracing::warn!(integration = %integration, "webhook rejected: {e}");
            Err(ApiError::new(status, class, e.to_string()))
        }
    }
}

/// The webhook routes, to pass to [`crate::Server::with_routes`].
pub fn routes<S: Clone + Send + Sync + 'static>(engine: Arc<SyncEngine>) -> OpenApiRouter<S> {
    OpenApiRouter::new()
        .routes(routes!(receive))
        .layer(DefaultBodyLimit::max(MAX_WEBHOOK_BODY))
        .with_state(engine)
}
