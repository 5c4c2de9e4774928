//! A real server on a loopback port: the event stream, the MCP mount, graceful shutdown and
//! the loopback-only rule.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use devlog_core::ops::NewEntry;
use devlog_core::{Devlog, EntryType, Origin, WriteMeta};
use devlog_server::feed::tail as feed_tail;
use devlog_server::{Listener, ServeError, Server, ServerOptions};
use devlog_store::JsonStore;
use serde_json::Value;
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::common::{FakeStore, HANG, SseClient, raw};

struct Running {
    _dir: TempDir,
    app: Devlog,
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), ServeError>>,
}

impl Running {
    async fn start(extension: Option<OpenApiRouter>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = JsonStore::open(&dir.path().join(".devlog")).await.unwrap();
        let app = Devlog::new(Arc::new(store));
        let listener = Listener::bind("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let addr = listener.local_addr();
        assert_eq!(listener.url(), format!("http://{addr}"));
        let mut server = Server::new(
            app.clone(),
            ServerOptions {
                // Short, so the test of writes by "other processes" does not wait long; the
                // stream must deliver them either way.
                poll_interval: Duration::from_millis(50),
                ..ServerOptions::default()
            },
        );
        if let Some(ext) = extension {
            server = server.with_routes(ext);
        }
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server.serve(listener, async move {
            let _ = stopped.await;
        }));
        Self {
            _dir: dir,
            app,
            addr,
            stop: Some(stop),
            task,
        }
    }

    /// Creates an entry directly in the store, as another process (the CLI) would.
    async fn create_behind_the_servers_back(&self, title: &str) {
        self.app
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

    async fn post_entry(&self, title: &str) -> u16 {
        let body = format!(r#"{{"title": "{title}", "type": "task"}}"#);
        let request = format!(
            "POST /api/v1/entries HTTP/1.0\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            self.addr,
            body.len()
        );
        raw(self.addr, &request).await.0
    }

    async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        tokio::time::timeout(HANG, self.task)
            .await
            .expect("the server stops")
            .unwrap()
            .unwrap();
    }
}

fn event(ev: &crate::common::Sse) -> Value {
    let v: Value = serde_json::from_str(&ev.data).unwrap();
    assert_eq!(
        ev.id.as_deref(),
        Some(v["seq"].to_string().as_str()),
        "id is the seq"
    );
    v
}

#[tokio::test]
async fn the_stream_resumes_after_last_event_id_without_gaps() {
    let s = Running::start(None).await;
    for t in ["one", "two", "three"] {
        s.create_behind_the_servers_back(t).await;
    }
    let mut sse =
        SseClient::connect(s.addr, "/api/v1/events/stream", &[("Last-Event-ID", "1")]).await;
    assert_eq!(sse.status, 200, "{}", sse.head);
    assert!(
        sse.head
            .to_ascii_lowercase()
            .contains("content-type: text/event-stream"),
        "{}",
        sse.head
    );
    let got: Vec<u64> = [sse.next().await.unwrap(), sse.next().await.unwrap()]
        .iter()
        .map(|e| event(e)["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(got, [2, 3]);

    // A write through the server arrives, and so does one by another process (by polling).
    assert_eq!(s.post_entry("four").await, 201);
    let four = event(&sse.next().await.unwrap());
    assert_eq!(
        (four["seq"].as_u64(), four["type"].as_str()),
        (Some(4), Some("created"))
    );
    assert_eq!(four["origin"], "http");
    s.create_behind_the_servers_back("five").await;
    let five = event(&sse.next().await.unwrap());
    assert_eq!(
        (five["seq"].as_u64(), five["origin"].as_str()),
        (Some(5), Some("cli"))
    );
    drop(sse);

    // The client reconnects from what it saw last; what happened meanwhile comes first.
    s.create_behind_the_servers_back("six").await;
    let mut again =
        SseClient::connect(s.addr, "/api/v1/events/stream", &[("Last-Event-ID", "5")]).await;
    let six = event(&again.next().await.unwrap());
    assert_eq!(six["seq"], 6);
    // `since` works for clients that cannot set headers; Last-Event-ID wins over it.
    let mut since = SseClient::connect(s.addr, "/api/v1/events/stream?since=4", &[]).await;
    assert_eq!(event(&since.next().await.unwrap())["seq"], 5);
    let mut both = SseClient::connect(
        s.addr,
        "/api/v1/events/stream?since=1",
        &[("Last-Event-ID", "5")],
    )
    .await;
    assert_eq!(event(&both.next().await.unwrap())["seq"], 6);
    s.stop().await;
}

#[tokio::test]
async fn the_stream_without_a_cursor_starts_with_the_next_change() {
    let s = Running::start(None).await;
    for i in 0..9 {
        s.create_behind_the_servers_back(&format!("old {i}")).await;
    }
    let mut sse = SseClient::connect(s.addr, "/api/v1/events/stream", &[]).await;
    assert_eq!(sse.status, 200);
    // Connected (headers read) before the write, so the write is news to this client.
    assert_eq!(s.post_entry("new").await, 201);
    let ev = event(&sse.next().await.unwrap());
    assert_eq!(ev["seq"], 10, "history is not replayed");
    s.stop().await;
}

#[tokio::test]
async fn a_bad_last_event_id_is_400() {
    let s = Running::start(None).await;
    let sse =
        SseClient::connect(s.addr, "/api/v1/events/stream", &[("Last-Event-ID", "abc")]).await;
    assert_eq!(sse.status, 400, "{}", sse.head);
    let sse = SseClient::connect(s.addr, "/api/v1/events/stream?from=3", &[]).await;
    assert_eq!(sse.status, 400, "{}", sse.head);
    s.stop().await;
}

#[tokio::test]
async fn feed_tail_finds_the_newest_seq_in_few_reads() {
    assert_eq!(feed_tail(&FakeStore::with_feed(vec![])).await.unwrap(), 0);
    for n in [1u64, 2, 3, 4, 5, 7, 8, 9, 31, 32, 33, 100, 1000, 4097] {
        let seqs: Vec<u64> = (1..=n).collect();
        assert_eq!(
            feed_tail(&FakeStore::with_feed(seqs)).await.unwrap(),
            n,
            "{n}"
        );
    }
    // Gaps (rolled-back sequence values, migrated feeds) and a feed that starts late.
    for seqs in [
        vec![5],
        vec![3, 4, 9],
        vec![1, 2, 60, 61, 200],
        vec![1000, 1001, 5000],
        (1..300).filter(|s| s % 7 != 0).collect::<Vec<u64>>(),
    ] {
        let last = *seqs.last().unwrap();
        assert_eq!(
            feed_tail(&FakeStore::with_feed(seqs.clone()))
                .await
                .unwrap(),
            last,
            "{seqs:?}"
        );
    }
}

#[tokio::test]
async fn mcp_is_served_at_slash_mcp() {
    let s = Running::start(None).await;
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"devlog-test","version":"1"}}}"#;
    let request = format!(
        "POST /mcp HTTP/1.0\r\nHost: {}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: {}\r\n\r\n{body}",
        s.addr,
        body.len()
    );
    let mut conn = TcpStream::connect(s.addr).await.unwrap();
    conn.write_all(request.as_bytes()).await.unwrap();
    let mut seen = Vec::new();
    let found = tokio::time::timeout(HANG, async {
        let mut buf = [0u8; 4096];
        loop {
            let n = conn.read(&mut buf).await.unwrap();
            if n == 0 {
                break false;
            }
            seen.extend_from_slice(&buf[..n]);
            if String::from_utf8_lossy(&seen).contains("serverInfo") {
                break true;
            }
        }
    })
    .await
    .expect("an answer");
    let text = String::from_utf8_lossy(&seen);
    assert!(
        text.starts_with("HTTP/1.0 200") || text.starts_with("HTTP/1.1 200"),
        "{text}"
    );
    assert!(found, "{text}");
    drop(conn);
    s.stop().await;
}

/// Lets a test hold a request in flight.
#[derive(Debug, Default)]
struct Gate {
    started: Notify,
    release: Notify,
}

/// Slow
#[utoipa::path(get, path = "/test/slow", responses((status = 200, description = "done")))]
async fn slow(State(gate): State<Arc<Gate>>) -> &'static str {
    gate.started.notify_one();
    gate.release.notified().await;
    "done"
}

#[tokio::test]
async fn shutdown_ends_streams_and_lets_in_flight_requests_finish() {
    let gate = Arc::new(Gate::default());
    let ext = OpenApiRouter::new()
        .routes(routes!(slow))
        .with_state(gate.clone());
    let s = Running::start(Some(ext)).await;
    let addr = s.addr;
    let mut sse = SseClient::connect(addr, "/api/v1/events/stream", &[]).await;
    assert_eq!(sse.status, 200);
    let in_flight = tokio::spawn(async move {
        raw(
            addr,
            &format!("GET /test/slow HTTP/1.0\r\nHost: {addr}\r\n\r\n"),
        )
        .await
    });
    tokio::time::timeout(HANG, gate.started.notified())
        .await
        .expect("the slow request reached its handler");

    let Running {
        stop, task, _dir, ..
    } = s;
    stop.unwrap().send(()).unwrap();
    // The stream ends because the server is shutting down, while the request is in flight.
    sse.expect_end().await;
    assert!(!in_flight.is_finished());
    gate.release.notify_one();
    let (status, _, body) = tokio::time::timeout(HANG, in_flight)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((status, body.as_str()), (200, "done"));
    tokio::time::timeout(HANG, task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "no longer listening"
    );
}

#[tokio::test]
async fn non_loopback_addresses_are_refused() {
    for addr in ["0.0.0.0:0", "[::]:0"] {
        let err = Listener::bind(addr.parse().unwrap()).await.unwrap_err();
        assert!(matches!(err, ServeError::NotLoopback(_)), "{err}");
        let msg = err.to_string();
        assert!(msg.contains("no authentication"), "{msg}");
    }
}
