//! The audit log records REST writes with the client's actor and TCP address, served by the
//! real accept loop (which sets the address per connection).

use std::sync::Arc;

use devlog_core::audit::Stored;
use devlog_core::{Devlog, EventKind, Origin, Store};
use devlog_server::{Listener, Server, ServerOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rest_write_is_audited_with_actor_and_client_address() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(
        devlog_store::JsonStore::open(&dir.path().join(".devlog"))
            .await
            .unwrap(),
    );
    let listener = Listener::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let addr = listener.local_addr();
    let server = Server::new(Devlog::new(store.clone()), ServerOptions::default());
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(server.serve(listener, async move {
        let _ = stopped.await;
    }));

    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    let client = conn.local_addr().unwrap().to_string();
    let body = r#"{"title":"Made over REST","type":"task"}"#;
    let req = format!(
        "POST /api/v1/entries HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         X-Devlog-Actor: rest-user\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    conn.write_all(req.as_bytes()).await.unwrap();
    let mut reply = String::new();
    conn.read_to_string(&mut reply).await.unwrap();
    assert!(reply.starts_with("HTTP/1.1 201"), "{reply}");

    let log = store.audit_log().unwrap();
    let items = log.audit_page(0, 10).await.unwrap();
    let [Stored::Record(r)] = items.as_slice() else {
        panic!("one record expected, got {items:?}");
    };
    assert_eq!(r.what, EventKind::Created);
    assert_eq!(r.origin, Origin::Http);
    assert_eq!(r.actor.as_deref(), Some("rest-user"));
    assert_eq!(r.source.client.as_deref(), Some(client.as_str()));

    let _ = stop.send(());
    task.await.unwrap().unwrap();
}

/// `POST /audit/checkpoint` signs with the workspace's key (made and recorded on first use) as
/// the caller through `http`, once; `GET /audit/verify` reports the chain, and names the
/// record an edit of the file broke. Without a workspace folder there is no key: 409.
#[tokio::test]
async fn rest_signs_a_checkpoint_with_origin_http_and_verifies_the_log() {
    use super::common::Harness;
    use axum::http::StatusCode;
    use devlog_core::audit::{Action, What};
    use serde_json::json;

    let keyless = Harness::new().await;
    keyless.create("Work", "task").await;
    let r = keyless.post("/api/v1/audit/checkpoint", json!({})).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    assert_eq!(r.class(), "no-audit-key");

    let dir = tempfile::tempdir().unwrap();
    let devlog_dir = dir.path().join(".devlog");
    let store: Arc<dyn Store> = Arc::new(devlog_store::JsonStore::open(&devlog_dir).await.unwrap());
    let h = super::common::Harness::over(
        Devlog::new(store.clone()),
        ServerOptions {
            mcp: false,
            actor: Some("ops".into()),
            audit_dir: Some(devlog_dir.clone()),
            ..ServerOptions::default()
        },
        dir,
    );
    h.create("Work", "task").await;
    let r = h.post("/api/v1/audit/checkpoint", json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let v = r.json();
    assert_eq!(v["signed"], true, "{v}");
    // Record 1: the entry; 2: the key made; 3: the checkpoint over 2.
    assert_eq!(
        (v["seq"].as_u64(), v["covers"].as_u64()),
        (Some(3), Some(2)),
        "{v}"
    );
    let log = store.audit_log().unwrap();
    let records: Vec<_> = log
        .audit_page(0, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|s| match s {
            Stored::Record(r) => r,
            other => panic!("{other:?}"),
        })
        .collect();
    assert!(
        matches!(&records[1].what, What::Action(Action::AuditKeyCreated { key, .. }) if Some(key.as_str()) == v["key"].as_str())
    );
    for r in &records[1..] {
        assert_eq!(r.origin, Origin::Http);
        assert_eq!(r.actor.as_deref(), Some("ops"));
    }
    // Nothing new to sign: no second checkpoint.
    let again = h.post("/api/v1/audit/checkpoint", json!({})).await.json();
    assert_eq!(again["signed"], false, "{again}");

    let ok = h.get("/api/v1/audit/verify").await;
    assert_eq!(ok.status, StatusCode::OK);
    let ok = ok.json();
    assert_eq!(ok["valid"], true, "{ok}");
    assert_eq!(ok["records"], 3);
    assert_eq!(ok["checkpoints"], 1);
    assert_eq!(ok["lastCheckpoint"], 3);
    assert_eq!(ok["unsignedTail"], 0);
    assert_eq!(ok["key"], v["key"]);

    // The entry's record edited in the file: verify names it.
    let file = devlog_dir.join("audit.jsonl");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &file,
        text.replacen("\"actor\":\"ops\"", "\"actor\":\"eve\"", 1),
    )
    .unwrap();
    let bad = h.get("/api/v1/audit/verify").await.json();
    assert_eq!(bad["valid"], false, "{bad}");
    assert_eq!(bad["broken"]["seq"], 1, "{bad}");
}
