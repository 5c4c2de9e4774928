//! `POST /webhooks/{integration}`: webhook receivers, mounted through [`crate::Server::with_routes`].
//!
//! The integration verifies the request (signature) before anything else looks at it; the
//! sync engine then applies what it reports like a pull, and processes a redelivered event
//! (same delivery id) once. Nothing changes when verification or parsing fails.
//!
//! A verified delivery is stored durably (the sync state's webhook inbox) before it is
//! acknowledged, and applied in a task of its own, so a sender that gives up (GitHub waits
//! 10 s) does not cut a large delivery off half-way, and one interrupted by a crash is applied
//! when the server starts again ([`resume_pending`]). The receiver answers 200 with what was
//! done when applying finishes within [`WebhookOptions::ack_after`], else 202 with a delivery
//! id whose outcome `GET /webhooks/{integration}/deliveries/{id}` reports and the server log
//! records.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use devlog_core::integration::{SyncError, SyncErrorKind, Webhook};
use devlog_sync::{SyncEngine, WebhookCounts};
use serde::Serialize;
use tokio::sync::{Notify, oneshot};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody};

/// Largest webhook body accepted (GitHub sends at most 25 MB; real events are far smaller).
pub const MAX_WEBHOOK_BODY: usize = 10 * 1024 * 1024;

/// How the receivers behave.
#[derive(Debug, Clone)]
pub struct WebhookOptions {
    /// How long a request waits for its delivery to be applied before it is answered 202
    /// (applying goes on). GitHub gives up after 10 s.
    pub ack_after: Duration,
    /// Poked (`notify_waiters`) after each delivery is applied: the background sync workers'
    /// wake-up, so what the delivery changed is acted on at once.
    pub wake: Option<Arc<Notify>>,
}

impl Default for WebhookOptions {
    fn default() -> Self {
        Self {
            ack_after: Duration::from_secs(5),
            wake: None,
        }
    }
}

/// What a delivery changed.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookResult {
    /// The delivery's id: the sender's (`X-GitHub-Delivery`, ...), else a hash of its content.
    pub delivery_id: String,
    /// Items and actions (comments, board moves, ...) the delivery reported.
    pub received: u64,
    /// Entries changed by the reported items.
    pub applied: u64,
    /// Actions applied: notes added or followed, status or priority moves.
    pub actions_applied: u64,
    /// Conflicts it recorded.
    pub conflicts: u64,
}

/// A delivery stored and still being applied.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookAccepted {
    pub delivery_id: String,
    /// `processing`.
    pub status: &'static str,
    /// Where its outcome will be.
    pub status_url: String,
}

/// A delivery's outcome, as the status endpoint reports it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryStatus {
    pub delivery_id: String,
    pub integration: String,
    /// `processing`, `done` or `failed`.
    pub status: &'static str,
    /// What was done, once `done`.
    pub result: Option<WebhookResult>,
    /// Why it failed, once `failed`; the sender's redelivery retries it.
    pub error: Option<String>,
}

/// The receivers' state.
#[derive(Debug, Clone)]
pub struct Receiver {
    engine: Arc<SyncEngine>,
    options: WebhookOptions,
}

fn sync_error(integration: &str, e: &SyncError) -> ApiError {
    let (status, class) = match e.kind {
        SyncErrorKind::Auth => (StatusCode::UNAUTHORIZED, "unauthorized"),
        SyncErrorKind::Permanent | SyncErrorKind::NotFound => (StatusCode::BAD_REQUEST, "invalid"),
        SyncErrorKind::Conflict => (StatusCode::CONFLICT, "conflict"),
        SyncErrorKind::RateLimited | SyncErrorKind::Transient => {
            (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
        }
    };
    tracing::warn!(integration = %integration, "webhook rejected: {e}");
    ApiError::new(status, class, e.to_string())
}

fn result(id: &str, c: &WebhookCounts) -> WebhookResult {
    WebhookResult {
        delivery_id: id.to_string(),
        received: c.received,
        applied: c.applied,
        actions_applied: c.actions_applied,
        conflicts: c.conflicts,
    }
}

/// Applies one stored delivery, logs what it did and wakes the workers.
async fn process(
    engine: &SyncEngine,
    name: &str,
    id: &str,
    wake: Option<&Notify>,
) -> Result<WebhookCounts, SyncError> {
    let done = engine.process_webhook(name, id).await;
    if let Some(w) = wake {
        w.notify_waiters();
    }
    match &done {
        Ok(c) => tracing::info!(
            integration = %name,
            delivery = %id,
            received = c.received,
            applied = c.applied,
            actions_applied = c.actions_applied,
            conflicts = c.conflicts,
            "webhook delivery applied"
        ),
        Err(e) => {
            tracing::warn!(integration = %name, delivery = %id, "webhook delivery failed: {e}");
        }
    }
    done
}

/// Applies the deliveries that were accepted but not finished when the server last stopped;
/// `devlog serve` runs this at start. `wake` as in [`WebhookOptions::wake`].
pub async fn resume_pending(engine: Arc<SyncEngine>, wake: Option<Arc<Notify>>) {
    let pending = match engine.pending_webhooks().await {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!("cannot read the pending webhook deliveries: {e}");
            return;
        }
    };
    for (name, id) in pending {
        tracing::info!(integration = %name, delivery = %id, "resuming a webhook delivery");
        let _ = process(&engine, &name, &id, wake.as_deref()).await;
    }
}

/// Receive a webhook
///
/// Verifies the delivery with the named integration (e.g. GitHub's `X-Hub-Signature-256`,
/// Jira's `X-Hub-Signature` or the `token` query parameter),
/// stores it, then merges the items it reports into their entries: 200 with the counts when
/// that takes at most 5 s, else 202 while it goes on. A redelivery is accepted and ignored.
#[utoipa::path(
    post,
    path = "/webhooks/{integration}",
    tag = "webhooks",
    params(
        ("integration" = String, Path, description = "Integration name, as in devlog.toml"),
        ("token" = Option<String>, Query, description = "The receiver's token, for senders that cannot sign (Jira without `webhookSecret`, docs/jira.md)"),
    ),
    request_body(content = String, description = "The payload as the remote system sent it"),
    responses(
        (status = 200, description = "Applied (or a redelivery, ignored)", body = WebhookResult),
        (status = 202, description = "Verified; still being applied (see statusUrl)", body = WebhookAccepted),
        (status = 400, description = "The payload is not what the integration expects", body = ErrorBody),
        (status = 401, description = "Signature missing or wrong", body = ErrorBody),
        (status = 404, description = "No such integration enabled", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 503, description = "The store or the remote is unavailable; redeliver later", body = ErrorBody),
    )
)]
pub async fn receive(
    State(rx): State<Receiver>,
    Path(integration): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    if !rx
        .engine
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
        query,
    };
    // Verify, store and apply in a task of their own: if the sender hangs up, the work goes on.
    let (verified_tx, verified_rx) = oneshot::channel::<Result<String, SyncError>>();
    let (done_tx, done_rx) = oneshot::channel::<Result<WebhookCounts, SyncError>>();
    let engine = rx.engine.clone();
    let wake = rx.options.wake.clone();
    let name = integration.clone();
    tokio::spawn(async move {
        let accepted = match engine.verify_webhook(&name, &hook).await {
            Ok(outcome) => engine.accept_webhook(&name, &outcome).await,
            Err(e) => Err(e),
        };
        let id = match accepted {
            Ok(id) => id,
            Err(e) => {
                let _ = verified_tx.send(Err(e));
                return;
            }
        };
        let _ = verified_tx.send(Ok(id.clone()));
        let _ = done_tx.send(process(&engine, &name, &id, wake.as_deref()).await);
    });
    let gone = || {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the webhook task ended without an answer",
        )
    };
    let id = match verified_rx.await {
        Ok(Ok(id)) => id,
        Ok(Err(e)) => return Err(sync_error(&integration, &e)),
        Err(_) => return Err(gone()),
    };
    match tokio::time::timeout(rx.options.ack_after, done_rx).await {
        Ok(Ok(Ok(c))) => Ok(Json(result(&id, &c)).into_response()),
        Ok(Ok(Err(e))) => Err(sync_error(&integration, &e)),
        Ok(Err(_)) => Err(gone()),
        Err(_) => Ok((
            StatusCode::ACCEPTED,
            Json(WebhookAccepted {
                status_url: format!("/webhooks/{integration}/deliveries/{id}"),
                delivery_id: id,
                status: "processing",
            }),
        )
            .into_response()),
    }
}

/// A delivery's outcome
///
/// `processing` until the delivery is applied, then `done` with what was done, or `failed`
/// with why (the sender's redelivery retries it). Finished deliveries are kept for 7 days.
#[utoipa::path(
    get,
    path = "/webhooks/{integration}/deliveries/{id}",
    tag = "webhooks",
    params(
        ("integration" = String, Path, description = "Integration name"),
        ("id" = String, Path, description = "The deliveryId of the answer"),
    ),
    responses(
        (status = 200, description = "The delivery's status", body = DeliveryStatus),
        (status = 404, description = "No such delivery (or it finished more than 7 days ago)", body = ErrorBody),
        (status = 503, description = "The sync state cannot be read", body = ErrorBody),
    )
)]
pub async fn delivery(
    State(rx): State<Receiver>,
    Path((integration, id)): Path<(String, String)>,
) -> Result<Json<DeliveryStatus>, ApiError> {
    let Some(row) = rx.engine.webhook_status(&integration, &id).await? else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not-found",
            format!("no delivery `{id}` of `{integration}` is known"),
        )
        .with_hint(
            "the id is the deliveryId of the webhook's answer; finished deliveries are kept for 7 days",
        ));
    };
    let status = match row.state.as_str() {
        "done" => "done",
        "failed" => "failed",
        _ => "processing",
    };
    let counts: Option<WebhookCounts> = row
        .result
        .as_deref()
        .and_then(|r| serde_json::from_str(r).ok());
    Ok(Json(DeliveryStatus {
        result: counts.map(|c| result(&id, &c)),
        delivery_id: row.delivery_id,
        integration: row.integration,
        status,
        error: row.error,
    }))
}

/// The webhook routes, to pass to [`crate::Server::with_routes`].
pub fn routes<S: Clone + Send + Sync + 'static>(engine: Arc<SyncEngine>) -> OpenApiRouter<S> {
    routes_with(engine, WebhookOptions::default())
}

/// [`routes`] with options.
pub fn routes_with<S: Clone + Send + Sync + 'static>(
    engine: Arc<SyncEngine>,
    options: WebhookOptions,
) -> OpenApiRouter<S> {
    OpenApiRouter::new()
        .routes(routes!(receive))
        .routes(routes!(delivery))
        .layer(DefaultBodyLimit::max(MAX_WEBHOOK_BODY))
        .with_state(Receiver { engine, options })
}
