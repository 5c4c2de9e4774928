//! `POST /webhooks/{integration}`: verification first, apply once, clear 4xx for bad input.

use std::sync::Arc;

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use devlog_core::entry::{Entry, EntryType, Status};
use devlog_core::id::EntryId;
use devlog_core::integration::{
    Action, ActionTarget, Capability, Descriptor, Health, Integration, PullPage, RemoteAction,
    RemoteItem, RemoteNote, SyncError, SyncErrorKind, Webhook, WebhookOutcome,
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
pub(crate) struct Signed;

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
        _: &devlog_core::merge::FieldSet,
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
            signals: Vec::new(),
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
        milestone: None,
        sprint: None,
        board: None,
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

/// Reports one remote comment on `entry` as a note action; verifies only once `gate` has a
/// permit, so a test can hold a delivery in flight.
#[derive(Debug)]
struct Gated {
    gate: Arc<tokio::sync::Semaphore>,
    entry: EntryId,
}

#[async_trait]
impl Integration for Gated {
    fn descriptor(&self) -> Descriptor {
        Descriptor {
            name: "gated".into(),
            version: "1".into(),
            description: "slow webhook test integration".into(),
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
        _: &devlog_core::merge::FieldSet,
    ) -> Result<RemoteItem, SyncError> {
        Err(err(SyncErrorKind::Permanent, "push not supported"))
    }
    async fn pull(&self, _: Option<&str>) -> Result<PullPage, SyncError> {
        Ok(PullPage::default())
    }
    async fn handle_webhook(&self, hook: &Webhook) -> Result<WebhookOutcome, SyncError> {
        let _permit = self.gate.acquire().await.unwrap();
        let delivery = hook.header("x-delivery").unwrap_or("none").to_string();
        Ok(WebhookOutcome {
            delivery_id: Some(delivery.clone()),
            items: Vec::new(),
            actions: vec![RemoteAction {
                key: format!("comment:{delivery}"),
                target: ActionTarget::Entry { id: self.entry },
                action: Action::Note(RemoteNote {
                    remote_id: format!("c-{delivery}"),
                    text: format!("remote comment {delivery}"),
                    author: Some("carol".into()),
                    url: None,
                    created_at: Timestamp::from_millis(1_900_000_000_000).unwrap(),
                    note_marker: None,
                    category: None,
                }),
            }],
            signals: Vec::new(),
        })
    }
}

struct GatedSetup {
    _dir: tempfile::TempDir,
    store: Arc<dyn Store>,
    entry: EntryId,
    gate: Arc<tokio::sync::Semaphore>,
    engine: Arc<SyncEngine>,
    router: axum::Router,
}

async fn gated(permits: usize, options: devlog_server::webhooks::WebhookOptions) -> GatedSetup {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join(".devlog");
    let store: Arc<dyn Store> = Arc::new(devlog_store::JsonStore::open(&root).await.unwrap());
    let app = Devlog::new(store.clone());
    let entry = app
        .create(
            NewEntry {
                title: "Discussed".into(),
                kind: Some(EntryType::Task),
                ..NewEntry::default()
            },
            &WriteMeta::new(Origin::Cli),
        )
        .await
        .unwrap()
        .into_entry()
        .id;
    let state = SyncState::open(&root.join(".state/sync.sqlite"))
        .await
        .unwrap();
    let gate = Arc::new(tokio::sync::Semaphore::new(permits));
    let engine = Arc::new(SyncEngine::new(
        store.clone(),
        state,
        vec![Arc::new(Gated {
            gate: gate.clone(),
            entry,
        })],
        SyncOptions::default(),
    ));
    let router = Server::new(
        app,
        ServerOptions {
            mcp: false,
            ..ServerOptions::default()
        },
    )
    .with_routes(devlog_server::webhooks::routes_with(
        engine.clone(),
        options,
    ))
    .router();
    GatedSetup {
        _dir: dir,
        store,
        entry,
        gate,
        engine,
        router,
    }
}

async fn get_json(router: &axum::Router, uri: &str) -> (StatusCode, serde_json::Value) {
    let res = router
        .clone()
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = res.status();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap())
}

#[tokio::test]
async fn a_delivery_that_adds_notes_reports_them() {
    let s = gated(100, Default::default()).await;
    let (status, v) = post(&s.router, b"{}", None, "n1", "/webhooks/gated").await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["deliveryId"], "n1", "{v}");
    assert_eq!(v["received"], 1, "{v}");
    assert_eq!(v["actionsApplied"], 1, "the note is reported: {v}");
    let e = s.store.get(s.entry).await.unwrap();
    assert_eq!(e.notes.len(), 1);
}

#[tokio::test]
async fn a_slow_delivery_is_acknowledged_202_and_its_outcome_is_reported() {
    let s = gated(
        100,
        devlog_server::webhooks::WebhookOptions {
            ack_after: std::time::Duration::ZERO,
            ..Default::default()
        },
    )
    .await;
    let (status, v) = post(&s.router, b"{}", None, "slow-1", "/webhooks/gated").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{v}");
    assert_eq!(v["deliveryId"], "slow-1");
    let url = v["statusUrl"].as_str().unwrap().to_string();
    assert_eq!(url, "/webhooks/gated/deliveries/slow-1");
    let done = tokio::time::timeout(crate::common::HANG, async {
        loop {
            let (status, v) = get_json(&s.router, &url).await;
            assert_eq!(status, StatusCode::OK, "{v}");
            if v["status"] == "done" {
                return v;
            }
            assert_eq!(v["status"], "processing", "{v}");
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the delivery finishes");
    assert_eq!(done["result"]["actionsApplied"], 1, "{done}");
    assert_eq!(s.store.get(s.entry).await.unwrap().notes.len(), 1);
    let (status, _) = get_json(&s.router, "/webhooks/gated/deliveries/unknown").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_delivery_goes_on_when_the_sender_hangs_up() {
    let s = gated(0, Default::default()).await;
    let request = post(&s.router, b"{}", None, "cut-1", "/webhooks/gated");
    // The sender gives up while the delivery is still in flight.
    let gave_up = tokio::time::timeout(std::time::Duration::from_millis(100), request).await;
    assert!(gave_up.is_err(), "the delivery was held by the gate");
    s.gate.add_permits(1);
    let applied = tokio::time::timeout(crate::common::HANG, async {
        loop {
            if s.store.get(s.entry).await.unwrap().notes.len() == 1 {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(applied.is_ok(), "the delivery was cut off with its sender");
}

#[tokio::test]
async fn a_delivery_accepted_before_a_crash_is_applied_when_the_server_starts() {
    let s = gated(100, Default::default()).await;
    // Verified and stored, then the process died before applying it.
    let hook = Webhook {
        headers: vec![("x-delivery".into(), "crash-1".into())],
        body: b"{}".to_vec(),
        query: Vec::new(),
    };
    let outcome = s.engine.verify_webhook("gated", &hook).await.unwrap();
    let id = s.engine.accept_webhook("gated", &outcome).await.unwrap();
    assert_eq!(id, "crash-1");
    let (_, v) = get_json(&s.router, "/webhooks/gated/deliveries/crash-1").await;
    assert_eq!(v["status"], "processing", "{v}");
    assert!(s.store.get(s.entry).await.unwrap().notes.is_empty());

    devlog_server::webhooks::resume_pending(s.engine.clone(), None).await;
    assert_eq!(s.store.get(s.entry).await.unwrap().notes.len(), 1);
    let (_, v) = get_json(&s.router, "/webhooks/gated/deliveries/crash-1").await;
    assert_eq!(v["status"], "done", "{v}");
    assert_eq!(v["result"]["actionsApplied"], 1, "{v}");
    assert!(s.engine.pending_webhooks().await.unwrap().is_empty());

    // The sender's redelivery is accepted and changes nothing more.
    let (status, v) = post(&s.router, b"{}", None, "crash-1", "/webhooks/gated").await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["actionsApplied"], 0, "{v}");
    assert_eq!(s.store.get(s.entry).await.unwrap().notes.len(), 1);
}

#[tokio::test]
async fn an_applied_delivery_wakes_the_sync_workers() {
    let wake = Arc::new(tokio::sync::Notify::new());
    let s = gated(
        100,
        devlog_server::webhooks::WebhookOptions {
            wake: Some(wake.clone()),
            ..Default::default()
        },
    )
    .await;
    // Registered before the delivery, as an idle worker is.
    let woken = wake.notified();
    tokio::pin!(woken);
    woken.as_mut().enable();
    let (status, v) = post(&s.router, b"{}", None, "wake-1", "/webhooks/gated").await;
    assert_eq!(status, StatusCode::OK, "{v}");
    tokio::time::timeout(crate::common::HANG, woken)
        .await
        .expect("the delivery woke the workers");
}
