//! `POST /webhooks/{integration}`: webhook receivers, mounted through [`crate::Server::with_routes`].
//!
//! The integration verifies the request (signature) before anything else looks at it; the
//! sync engine then applies what it reports like a pull, and processes a redelivered event
//! (same delivery id) once. Nothing changes when verification or parsing fails.
//!
//! Verifying and applying run in a task of their own, so a sender that gives up (GitHub waits
//! 10 s) does not cut a large delivery off half-way. The receiver answers 200 with what was
//! done when applying finishes within [`WebhookOptions::ack_after`], else 202 with a delivery
//! id whose outcome `GET /webhooks/{integration}/deliveries/{id}` reports (kept in memory for
//! the last [`KEPT_DELIVERIES`] deliveries) and the server log records.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use devlog_core::integration::{SyncError, SyncErrorKind, Webhook};
use devlog_sync::{SyncEngine, SyncReport};
use serde::Serialize;
use tokio::sync::oneshot;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody};

/// Largest webhook body accepted (GitHub sends at most 25 MB; real events are far smaller).
pub const MAX_WEBHOOK_BODY: usize = 10 * 1024 * 1024;

/// How many deliveries' outcomes the status endpoint remembers.
pub const KEPT_DELIVERIES: usize = 1000;

/// How the receivers behave.
#[derive(Debug, Clone)]
pub struct WebhookOptions {
    /// How long a request waits for its delivery to be applied before it is answered 202
    /// (applying goes on). GitHub gives up after 10 s.
    pub ack_after: Duration,
}

impl Default for WebhookOptions {
    fn default() -> Self {
        Self {
            ack_after: Duration::from_secs(5),
        }
    }
}

/// What a delivery changed.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookResult {
    /// This server's id of the delivery (the sender's id when it sends one).
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

/// A delivery still being applied.
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

/// The receivers' state: the engine and the recent deliveries.
#[derive(Debug, Clone)]
pub struct Receiver {
    engine: Arc<SyncEngine>,
    options: WebhookOptions,
    recent: Arc<Mutex<VecDeque<DeliveryStatus>>>,
    next: Arc<AtomicU64>,
}

impl Receiver {
    fn record(&self, status: DeliveryStatus) {
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(old) = recent
            .iter_mut()
            .find(|d| d.delivery_id == status.delivery_id && d.integration == status.integration)
        {
            *old = status;
            return;
        }
        if recent.len() >= KEPT_DELIVERIES {
            recent.pop_front();
        }
        recent.push_back(status);
    }

    fn find(&self, integration: &str, id: &str) -> Option<DeliveryStatus> {
        let recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        recent
            .iter()
            .find(|d| d.delivery_id == id && d.integration == integration)
            .cloned()
    }
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

fn result(id: &str, received: u64, r: &SyncReport) -> WebhookResult {
    WebhookResult {
        delivery_id: id.to_string(),
        received,
        applied: r.applied,
        actions_applied: r.actions_applied,
        conflicts: r.conflicts,
    }
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
    };
    // Verify and apply in a task of their own: if the sender hangs up, the work goes on.
    let (verified_tx, verified_rx) = oneshot::channel::<Result<(String, u64), SyncError>>();
    let (done_tx, done_rx) = oneshot::channel::<Result<SyncReport, SyncError>>();
    let task = rx.clone();
    let name = integration.clone();
    tokio::spawn(async move {
        let outcome = match task.engine.verify_webhook(&name, &hook).await {
            Ok(o) => o,
            Err(e) => {
                let _ = verified_tx.send(Err(e));
                return;
            }
        };
        let id = outcome
            .delivery_id
            .clone()
            .unwrap_or_else(|| format!("local-{}", task.next.fetch_add(1, Ordering::Relaxed) + 1));
        let received = (outcome.items.len() + outcome.actions.len()) as u64;
        task.record(DeliveryStatus {
            delivery_id: id.clone(),
            integration: name.clone(),
            status: "processing",
            result: None,
            error: None,
        });
        let _ = verified_tx.send(Ok((id.clone(), received)));
        let applied = task.engine.apply_webhook(&name, &outcome).await;
        let status = match &applied {
            Ok(r) => {
                tracing::info!(
                    integration = %name,
                    delivery = %id,
                    received,
                    applied = r.applied,
                    actions_applied = r.actions_applied,
                    conflicts = r.conflicts,
                    "webhook delivery applied"
                );
                DeliveryStatus {
                    delivery_id: id.clone(),
                    integration: name.clone(),
                    status: "done",
                    result: Some(result(&id, received, r)),
                    error: None,
                }
            }
            Err(e) => {
                tracing::warn!(integration = %name, delivery = %id, "webhook delivery failed: {e}");
                DeliveryStatus {
                    delivery_id: id.clone(),
                    integration: name.clone(),
                    status: "failed",
                    result: None,
                    error: Some(e.to_string()),
                }
            }
        };
        task.record(status);
        let _ = done_tx.send(applied);
    });
    let (id, received) = match verified_rx.await {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => return Err(sync_error(&integration, &e)),
        Err(_) => {
            return Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the webhook task ended without an answer",
            ));
        }
    };
    match tokio::time::timeout(rx.options.ack_after, done_rx).await {
        Ok(Ok(Ok(r))) => Ok(Json(result(&id, received, &r)).into_response()),
        Ok(Ok(Err(e))) => Err(sync_error(&integration, &e)),
        Ok(Err(_)) => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the webhook task ended without an answer",
        )),
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
/// For a delivery answered 202: `processing` until it is applied, then `done` with what was
/// done, or `failed` with why. Kept in memory for the last 1000 deliveries.
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
        (status = 404, description = "No such delivery since the server started (or it is too old)", body = ErrorBody),
    )
)]
pub async fn delivery(
    State(rx): State<Receiver>,
    Path((integration, id)): Path<(String, String)>,
) -> Result<Json<DeliveryStatus>, ApiError> {
    rx.find(&integration, &id).map(Json).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not-found",
            format!("no delivery `{id}` of `{integration}` is known"),
        )
        .with_hint(
            "outcomes are kept in memory for the last 1000 deliveries since the server started",
        )
    })
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
        .with_state(Receiver {
            engine,
            options,
            recent: Arc::default(),
            next: Arc::default(),
        })
}
