//! `POST /webhooks/{integration}`: verification first, apply once, clear 4xx for bad input.

use std::sync::Arc;

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use devlog_core::entry::{Entry, EntryType, Status};
use devlog_core::id::EntryId;
use devlog_core::integration::{
    Capability, Descriptor, Health, Integration, PullPage, RemoteItem, SyncError, SyncErrorKind,
    Webhook, WebhookOutcome,
};
use devlog_core::merge::SyncedFields;
use devlog_core::ops::NewEntry;
use devlog_core::{Devlog, Origin, Store, Timestamp, WriteMeta};
use devlog_server::{Server, ServerOptions};
use devlog_sync::{SyncEngine, SyncOptions, SyncState};
use http_body_util::BodyExt;
use tower::ServiceExt;

/// Accepts deliveries signed `x-test-signature: sha=<body length>`; the body is a JSON
/// `RemoteItem` (its marker names the entry).
#[derive(Debug)]
struct Signed;

fn err(kind: SyncErrorKind, m: &str) -> SyncError {
    SyncError::new("signed", kind, m)
}

#[async_trait]
impl Integration for Signed {
    fn descriptor(&self) -> Descriptor {
        Descriptor {
            name: "signed".into(),
            version: "1".into(),
            description: "webhook test integration".into(),
            config_schema: serde_json::json!({"type": "object"}),
            triggers: vec![],
            capabilities: vec![Capability::Webhook],
        }
    }
    async fn health(&self) -> Result<Health, SyncError> {
        Ok(Health {
            ok: true,
            message: String::new(),
        })
    }
    async fn find_by_marker(&self, _: EntryId) -> Result<Option<RemoteItem>, SyncError> {
        Ok(None)
    }
    async fn create(&self, _: &Entry, _: &SyncedFields) -> Result<RemoteItem, SyncError> {
        Err(err(SyncErrorKind::Permanent, "push not supported"))
    }
    async fn update(
        &self,
        _: &str,
        _: &SyncedFields,
        _: &[String],
    ) -> Result<RemoteItem, SyncError> {
        Err(err(SyncErrorKind::Permanent, "push not supported"))
    }
    async fn pull(&self, _: Option<&str>) -> Result<PullPage, SyncError> {
        Ok(PullPage::default())
    }
    async fn handle_webhook(&self, hook: &Webhook) -> Result<WebhookOutcome, SyncError> {
        let expected = format!("sha={}", hook.body.len());
        if hook.header("x-test-signature") != Some(expected.as_str()) {
            return Err(err(
                SyncErrorKind::Auth,
                "signature does not match the body",
            ));
        }
        let item: RemoteItem = serde_json::from_slice(&hook.body)
            .map_err(|e| err(SyncErrorKind::Permanent, &format!("payload: {e}")))?;
        Ok(WebhookOutcome {
            delivery_id: hook.header("x-delivery").map(String::from),
            items: vec![item],
            actions: Vec::new(),
        })
    }
}

async fn post(
    router: &axum::Router,
    body: &[u8],
    sig: Option<String>,
    delivery: &str,
    path: &str,
) -> (StatusCode, serde_json::Value) {
    let mut b = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header("x-delivery", delivery);
    if let Some(s) = sig {
        b = b.header("x-test-signature", s);
    }
    let res = router
        .clone()
        .oneshot(b.body(Body::from(body.to_vec())).unwrap())
        .await
        .unwrap();
    let status = res.status();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

#[tokio::test]
async fn deliveries_are_verified_first_applied_once_and_bad_ones_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join(".devlog");
    let store: Arc<dyn Store> = Arc::new(devlog_store::JsonStore::open(&root).await.unwrap());
    let app = Devlog::new(store.clone());
    let e = app
        .create(
            NewEntry {
                title: "Hooked".into(),
                kind: Some(EntryType::Bugfix),
                ..NewEntry::default()
            },
            &WriteMeta::new(Origin::Cli),
        )
        .await
        .unwrap()
        .into_entry();
    let state = SyncState::open(&root.join(".state/sync.sqlite"))
        .await
        .unwrap();
    let engine = SyncEngine::new(
        store.clone(),
        state,
        vec![Arc::new(Signed)],
        SyncOptions::default(),
    );
    let router = Server::new(
        app.clone(),
        ServerOptions {
            mcp: false,
            ..ServerOptions::default()
        },
    )
    .with_routes(devlog_server::webhooks::routes(Arc::new(engine)))
    .router();

    let mut fields = SyncedFields::from_entry(&e);
    fields.status = Status::InReview;
    let item = RemoteItem {
        remote_id: "77".into(),
        url: None,
        fields,
        updated_at: Timestamp::from_millis(1_900_000_000_000).unwrap(),
        version: None,
        marker: Some(e.id),
    };
    let body = serde_json::to_vec(&item).unwrap();
    let feed = store.events(0, 1000).await.unwrap().len();

    // Missing and tampered signatures: 401, nothing changes.
    let (s, v) = post(&router, &body, None, "d1", "/webhooks/signed").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    assert_eq!(v["error"]["class"], "unauthorized");
    let (s, _) = post(
        &router,
        &body,
        Some("sha=1".into()),
        "d1",
        "/webhooks/signed",
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(
        store.events(0, 1000).await.unwrap().len(),
        feed,
        "nothing changed"
    );
    // A signed but malformed payload: 400.
    let (s, v) = post(
        &router,
        b"{not json",
        Some("sha=9".into()),
        "d0",
        "/webhooks/signed",
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    // Unknown integration: 404.
    let (s, _) = post(
        &router,
        &body,
        Some(format!("sha={}", body.len())),
        "d1",
        "/webhooks/nope",
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // A good delivery is applied.
    let (s, v) = post(
        &router,
        &body,
        Some(format!("sha={}", body.len())),
        "d1",
        "/webhooks/signed",
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["applied"], 1);
    assert_eq!(store.get(e.id).await.unwrap().status, Status::InReview);
    let after = store.events(0, 1000).await.unwrap().len();
    // The same delivery again is accepted and ignored.
    let (s, v) = post(
        &router,
        &body,
        Some(format!("sha={}", body.len())),
        "d1",
        "/webhooks/signed",
    )
    .await;
    assert_eq!((s, v["applied"].as_u64()), (StatusCode::OK, Some(0)));
    assert_eq!(store.events(0, 1000).await.unwrap().len(), after);

    // Oversized bodies are refused before the integration sees them.
    let big = vec![b'x'; devlog_server::webhooks::MAX_WEBHOOK_BODY + 1];
    let (s, _) = post(
        &router,
        &big,
        Some(format!("sha={}", big.len())),
        "d2",
        "/webhooks/signed",
    )
    .await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
}
