//! The event stream of a running server delivers entries created through a separately opened
//! store, as another process (`devlog new`) or another server on the same database would
//! write them: on the JSON backend found by polling the feed's end, on PostgreSQL woken by
//! `LISTEN/NOTIFY` (the poll interval is an hour there, so only a notification can deliver
//! it). Waits have generous timeouts; nothing is timed.

use std::sync::Arc;
use std::time::Duration;

use devlog_core::ops::NewEntry;
use devlog_core::{Devlog, EntryType, Origin, Store, WriteMeta};
use devlog_server::{Listener, Server, ServerOptions};
use devlog_store::DbUrl;
use serde_json::Value;
use sqlx::{AssertSqlSafe, Connection, Executor};
use tokio::sync::oneshot;

use crate::common::SseClient;

async fn create(store: Arc<dyn Store>, title: &str) {
    Devlog::new(store)
        .create(
            NewEntry {
                title: title.into(),
                kind: Some(EntryType::Task),
                ..NewEntry::default()
            },
            &WriteMeta::new(Origin::Cli),
        )
        .await
        .unwrap();
}

/// Serves `store`, opens a stream, lets `elsewhere` (another handle) create an entry, and
/// checks the stream delivers it.
async fn a_write_elsewhere_reaches_the_stream(
    store: Arc<dyn Store>,
    elsewhere: Arc<dyn Store>,
    poll_interval: Duration,
) {
    let listener = Listener::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let addr = listener.local_addr();
    let server = Server::new(
        Devlog::new(store),
        ServerOptions {
            poll_interval,
            ..ServerOptions::default()
        },
    );
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(server.serve(listener, async move {
        let _ = stopped.await;
    }));
    let mut sse = SseClient::connect(addr, "/api/v1/events/stream", &[]).await;
    assert_eq!(sse.status, 200);
    create(elsewhere, "Written by another process").await;
    let ev = sse.next().await.expect("the event arrives");
    let v: Value = serde_json::from_str(&ev.data).unwrap();
    assert_eq!(
        (v["type"].as_str(), v["origin"].as_str()),
        (Some("created"), Some("cli")),
        "{v}"
    );
    let _ = stop.send(());
    task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_an_entry_created_through_another_store_handle_reaches_the_stream() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join(".devlog");
    let server_store = Arc::new(devlog_store::JsonStore::open(&root).await.unwrap());
    let other = Arc::new(devlog_store::JsonStore::open(&root).await.unwrap());
    a_write_elsewhere_reaches_the_stream(server_store, other, Duration::from_millis(50)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_an_entry_created_through_another_store_handle_reaches_the_stream() {
    let Ok(url) = std::env::var("DEVLOG_TEST_POSTGRES_URL") else {
        eprintln!("skipping: DEVLOG_TEST_POSTGRES_URL is not set");
        return;
    };
    let admin = DbUrl::parse(&url).unwrap();
    let name = format!(
        "dlt_{}_{}_sse",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let exec = |sql: String| {
        let admin = admin.clone();
        async move {
            let mut c = sqlx::PgConnection::connect(admin.expose()).await.unwrap();
            c.execute(AssertSqlSafe(sql)).await.unwrap();
        }
    };
    exec(format!("CREATE DATABASE \"{name}\"")).await;
    let db = admin.with_database(&name);
    let server_store = Arc::new(devlog_store::PostgresStore::open(&db).await.unwrap());
    let other = Arc::new(devlog_store::PostgresStore::open(&db).await.unwrap());
    let outcome = tokio::spawn(a_write_elsewhere_reaches_the_stream(
        server_store,
        other,
        Duration::from_secs(3600),
    ))
    .await;
    exec(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}
