//! `POST /webhooks/azure-devops` with the Azure DevOps integration against the test kit's fake
//! Azure DevOps, on the official service hook payloads of
//! `../shared/apispecs/azure-devops/service-hooks/` (sent as they are, BOM included; only the
//! work item id is set to the entry's item, and the project is the fake's): a
//! `workitem.updated` delivery with the right Basic password changes the linked entry, its
//! redelivery (same event id) is applied once; a wrong or missing password is 401 and changes
//! nothing; a `workitem.commented` delivery brings the comment as a note.

use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use devlog_ado::{AdoAuth, AdoConfig, AdoIntegration};
use devlog_core::entry::EntryType;
use devlog_core::ops::NewEntry;
use devlog_core::{Devlog, Origin, Store, WriteMeta};
use devlog_http::{RateLimitConfig, SecretString};
use devlog_server::{Server, ServerOptions};
use devlog_sync::{SyncEngine, SyncOptions, SyncState};
use devlog_testkit::fake_ado::{AdoProbe, FakeProcess};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

/// The payloads' project.
const PROJECT: &str = "GoodCompanyCloud";
const SECRET: &str = "ado-hook-s3cret-7";

struct Rig {
    probe: AdoProbe,
    store: Arc<dyn Store>,
    router: axum::Router,
    entry: devlog_core::EntryId,
    /// The entry's work item.
    item: u64,
    _dir: tempfile::TempDir,
}

/// An entry synced to a work item, and the webhook routes of an engine with the Azure DevOps
/// integration (`serviceHookSecret` set).
async fn rig() -> Rig {
    let probe = AdoProbe::start("acme", PROJECT, FakeProcess::Agile).await;
    let mut cfg = AdoConfig::new(
        &probe.organization_url(),
        PROJECT,
        AdoAuth::Pat(SecretString::from("ado_server_pat".to_string())),
    )
    .unwrap();
    cfg.service_hook_secret = Some(SecretString::from(SECRET.to_string()));
    let ado = AdoIntegration::with_limits(cfg, RateLimitConfig::unpaced()).unwrap();
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
        vec![Arc::new(ado)],
        SyncOptions::default(),
    );
    let report = engine.sync(None, None, &|_, _| {}).await.unwrap();
    assert_eq!(report.created, 1, "{report:?}");
    let item = probe.ado.items()[0].id;
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
        item,
        _dir: dir,
    }
}

async fn post(
    router: &axum::Router,
    body: &[u8],
    authorization: Option<&str>,
) -> (StatusCode, Value) {
    let mut b = Request::builder()
        .method(Method::POST)
        .uri("/webhooks/azure-devops")
        .header("content-type", "application/json");
    if let Some(a) = authorization {
        b = b.header("authorization", a);
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

/// `Authorization: Basic` of `user:password` (standard base64, padded).
fn basic(user: &str, password: &str) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = format!("{user}:{password}").into_bytes();
    let mut out = String::new();
    for c in bytes.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    format!("Basic {out}")
}

/// An official payload as stored (BOM and all), with the work item id set to `item`.
fn payload(file: &str, item: u64) -> Vec<u8> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/apispecs/azure-devops/service-hooks/aspnet-webhooks-vsts");
    let raw = std::fs::read(dir.join(file)).unwrap();
    let bom = raw.starts_with("\u{feff}".as_bytes());
    let text = raw.strip_prefix("\u{feff}".as_bytes()).unwrap_or(&raw);
    let mut v: Value = serde_json::from_slice(text).unwrap();
    let r = &mut v["resource"];
    if r.get("revision").is_some() {
        r["revision"]["id"] = json!(item);
    } else {
        r["id"] = json!(item);
    }
    let mut out = if bom {
        "\u{feff}".as_bytes().to_vec()
    } else {
        Vec::new()
    };
    out.extend(serde_json::to_vec(&v).unwrap());
    out
}

#[tokio::test]
async fn a_work_item_update_is_applied_once_and_a_wrong_password_changes_nothing() {
    assert_eq!(
        basic("devops", "hook-s3cret"),
        "Basic ZGV2b3BzOmhvb2stczNjcmV0"
    );
    let r = rig().await;
    r.probe.ado.edit_item(r.item, |f| {
        f.insert("System.Title".into(), json!("Renamed in Azure DevOps"));
    });
    let body = payload("workitem.updated.json", r.item);
    assert!(body.starts_with("\u{feff}".as_bytes()), "sent with its BOM");
    let feed = r.store.events(0, 1000).await.unwrap().len();

    // A wrong password, no credentials, another scheme: 401, nothing read, nothing changed.
    let requests = r.probe.remote.state().requests().len();
    for authorization in [
        Some(basic("devops", "wrong")),
        None,
        Some(format!("Bearer {SECRET}")),
    ] {
        let (s, v) = post(&r.router, &body, authorization.as_deref()).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
        let m = v["error"]["message"].as_str().unwrap();
        assert!(!m.contains(SECRET), "{m}");
    }
    let (_, v) = post(&r.router, &body, Some(&basic("devops", "wrong"))).await;
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("integrations.azure-devops.serviceHookSecret"),
        "{v}"
    );
    assert_eq!(r.probe.remote.state().requests().len(), requests);
    assert_eq!(r.store.events(0, 1000).await.unwrap().len(), feed);
    assert_eq!(r.store.get(r.entry).await.unwrap().title, "Hooked");

    // The right password, any user name: applied (the item is read back).
    let good = basic("any-user", SECRET);
    let (s, v) = post(&r.router, &body, Some(&good)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        v["deliveryId"], "27646e0e-b520-4d2b-9411-bba7524947cd",
        "{v}"
    );
    assert_eq!(v["applied"], 1, "{v}");
    assert_eq!(
        r.store.get(r.entry).await.unwrap().title,
        "Renamed in Azure DevOps"
    );
    // The redelivery of the same event: accepted, applied once.
    let feed = r.store.events(0, 1000).await.unwrap().len();
    r.probe.ado.edit_item(r.item, |f| {
        f.insert("System.Title".into(), json!("Renamed again"));
    });
    let (s, v) = post(&r.router, &body, Some(&good)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["applied"], 0, "{v}");
    assert_eq!(r.store.events(0, 1000).await.unwrap().len(), feed);
    assert_eq!(
        r.store.get(r.entry).await.unwrap().title,
        "Renamed in Azure DevOps"
    );
    assert!(r.probe.ado.check_contract().is_empty());
}

#[tokio::test]
async fn a_comment_event_brings_the_comment_as_a_note() {
    let r = rig().await;
    r.probe
        .ado
        .add_comment(r.item, "Jamal Hartnett", "<p>This is a great new idea</p>");
    let (s, v) = post(
        &r.router,
        &payload("workitem.commented.json", r.item),
        Some(&basic("", SECRET)),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let e = r.store.get(r.entry).await.unwrap();
    assert!(
        e.notes
            .iter()
            .any(|n| n.content.contains("This is a great new idea")),
        "{:?}",
        e.notes
    );
    // Not JSON (with the right password): 400 saying so.
    let (s, v) = post(&r.router, b"{\"eventType\": ", Some(&basic("", SECRET))).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("not JSON"),
        "{v}"
    );
    assert!(r.probe.ado.check_contract().is_empty());
}
