//! `POST /webhooks/jira` with the Jira integration against the test kit's fake Jira: a signed
//! delivery is applied, its retry (same `X-Atlassian-Webhook-Identifier`) once; a bad
//! signature is 401 and changes nothing; malformed JSON is 400 saying so; without a secret,
//! the URL's `?token=` authenticates.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use devlog_core::entry::EntryType;
use devlog_core::ops::NewEntry;
use devlog_core::{Devlog, Origin, Store, WriteMeta};
use devlog_http::{RateLimitConfig, SecretString};
use devlog_jira::webhook::signature;
use devlog_jira::{JiraAuth, JiraConfig, JiraIntegration};
use devlog_server::{Server, ServerOptions};
use devlog_sync::{SyncEngine, SyncOptions, SyncState};
use devlog_testkit::integration_conformance::JiraProbe;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

const SECRET: &str = "jira-hook-secret-9";
const URL_TOKEN: &str = "jira-url-token-0123456789";

struct Rig {
    probe: JiraProbe,
    store: Arc<dyn Store>,
    router: axum::Router,
    entry: devlog_core::EntryId,
    _dir: tempfile::TempDir,
}

/// An entry synced to DEV-1, and the webhook routes of an engine with the Jira integration.
async fn rig(edit: impl FnOnce(&mut JiraConfig)) -> Rig {
    let probe = JiraProbe::start("DEV").await;
    let mut cfg = JiraConfig::new(
        &probe.remote.url(),
        "DEV",
        JiraAuth::Basic {
            email: "bot@example.com".into(),
            api_token: SecretString::from("jira_server_token".to_string()),
        },
    )
    .unwrap();
    edit(&mut cfg);
    let jira = JiraIntegration::with_limits(cfg, RateLimitConfig::unpaced()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join(".devlog");
    let store: Arc<dyn Store> = Arc::new(devlog_store::JsonStore::open(&root).await.unwrap());
    let app = Devlog::new(store.clone());
    let e = app
        .create(
            NewEntry {
                title: "Hooked".into(),
                kind: Some(EntryType::Feature),
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
        vec![Arc::new(jira)],
        SyncOptions::default(),
    );
    let report = engine.sync(None, None, &|_, _| {}).await.unwrap();
    assert_eq!(report.created, 1, "{report:?}");
    let router = Server::new(
        app,
        ServerOptions {
            mcp: false,
            ..ServerOptions::default()
        },
    )
    .with_routes(devlog_server::webhooks::routes(Arc::new(engine)))
    .router();
    Rig {
        probe,
        store,
        router,
        entry: e.id,
        _dir: dir,
    }
}

async fn post(
    router: &axum::Router,
    uri: &str,
    body: &[u8],
    headers: &[(&str, String)],
) -> (StatusCode, Value) {
    let mut b = Request::builder().method(Method::POST).uri(uri);
    for (k, v) in headers {
        b = b.header(*k, v);
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
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn updated(key: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "timestamp": 1_700_000_000_000i64,
        "webhookEvent": "jira:issue_updated",
        "issue_event_type_name": "issue_updated",
        "issue": {"id": "10001", "key": key, "fields": {"project": {"key": "DEV"}, "summary": "ignored: read back"}},
    }))
    .unwrap()
}

#[tokio::test]
async fn a_signed_delivery_is_applied_once_and_bad_ones_change_nothing() {
    let r = rig(|c| c.webhook_secret = Some(SecretString::from(SECRET.to_string()))).await;
    r.probe
        .jira
        .edit_issue("DEV-1", |i| i.summary = "Renamed in Jira".into());
    let body = updated("DEV-1");
    let sig = |b: &[u8]| signature(SECRET.as_bytes(), b);
    let feed = r.store.events(0, 1000).await.unwrap().len();

    // Tampered or unsigned: 401, nothing changes.
    for headers in [
        vec![("x-atlassian-webhook-identifier", "w-1".to_string())],
        vec![
            ("x-atlassian-webhook-identifier", "w-1".to_string()),
            ("x-hub-signature", sig(b"{}")),
        ],
    ] {
        let (s, v) = post(&r.router, "/webhooks/jira", &body, &headers).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap()
                .contains("X-Hub-Signature")
                || v["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("webhookSecret"),
            "{v}"
        );
    }
    assert_eq!(r.store.events(0, 1000).await.unwrap().len(), feed);
    assert_eq!(r.store.get(r.entry).await.unwrap().title, "Hooked");

    // Signed but not JSON: 400 saying so.
    let bad = b"{\"webhookEvent\": ";
    let (s, v) = post(
        &r.router,
        "/webhooks/jira",
        bad,
        &[("x-hub-signature", sig(bad))],
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("not JSON"),
        "{v}"
    );

    // Signed: applied (the issue is read back).
    let headers = [
        ("x-atlassian-webhook-identifier", "w-1".to_string()),
        ("x-hub-signature", sig(&body)),
    ];
    let (s, v) = post(&r.router, "/webhooks/jira", &body, &headers).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["deliveryId"], "w-1", "{v}");
    assert_eq!(v["applied"], 1, "{v}");
    assert_eq!(r.store.get(r.entry).await.unwrap().title, "Renamed in Jira");
    let feed = r.store.events(0, 1000).await.unwrap().len();
    // Jira's retry of the same delivery: accepted, applied once.
    r.probe
        .jira
        .edit_issue("DEV-1", |i| i.summary = "Renamed again".into());
    let (s, v) = post(&r.router, "/webhooks/jira", &body, &headers).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["applied"], 0, "{v}");
    assert_eq!(r.store.events(0, 1000).await.unwrap().len(), feed);
    assert_eq!(r.store.get(r.entry).await.unwrap().title, "Renamed in Jira");
    assert!(r.probe.jira.check_contract().is_empty());
}

#[tokio::test]
async fn without_a_secret_the_url_token_authenticates() {
    let r = rig(|c| c.webhook_token = Some(SecretString::from(URL_TOKEN.to_string()))).await;
    r.probe
        .jira
        .edit_issue("DEV-1", |i| i.summary = "Via token".into());
    let body = updated("DEV-1");
    let id = [("x-atlassian-webhook-identifier", "t-1".to_string())];
    let (s, v) = post(&r.router, "/webhooks/jira?token=wrong", &body, &id).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    assert!(!v.to_string().contains(URL_TOKEN));
    let (s, v) = post(&r.router, "/webhooks/jira", &body, &id).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    assert_eq!(r.store.get(r.entry).await.unwrap().title, "Hooked");
    let (s, v) = post(
        &r.router,
        &format!("/webhooks/jira?token={URL_TOKEN}"),
        &body,
        &id,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(r.store.get(r.entry).await.unwrap().title, "Via token");
}

#[tokio::test]
async fn with_neither_secret_nor_token_deliveries_are_refused_saying_what_to_set() {
    let r = rig(|_| {}).await;
    let (s, v) = post(&r.router, "/webhooks/jira", &updated("DEV-1"), &[]).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    let m = v["error"]["message"].as_str().unwrap();
    assert!(
        m.contains("integrations.jira.webhookSecret") && m.contains("webhookToken"),
        "{m}"
    );
}
