//! MCP over streamable HTTP keeps a bounded number of sessions: a new session beyond the cap
//! closes the least recently used one, over real HTTP on a loopback port.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::net::SocketAddr;
use std::sync::Arc;

use devlog_core::{Devlog, Store};
use devlog_mcp::{DevlogMcp, HttpListener, Options};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One HTTP/1.1 request (`Connection: close`); the status, the session id header, the body.
async fn post(
    addr: SocketAddr,
    session: Option<&str>,
    body: Value,
) -> (u16, Option<String>, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let body = body.to_string();
    let mut req = format!(
        "POST /mcp HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Accept: application/json, text/event-stream\r\nConnection: close\r\n\
         Content-Length: {}\r\n",
        body.len()
    );
    if let Some(id) = session {
        req.push_str(&format!(
            "Mcp-Session-Id: {id}\r\nMcp-Protocol-Version: 2025-06-18\r\n"
        ));
    }
    req.push_str("\r\n");
    req.push_str(&body);
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(std::time::Duration::from_secs(30), s.read_to_end(&mut out))
        .await
        .expect("an answer")
        .unwrap();
    let out = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let id = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("mcp-session-id")
            .then(|| v.trim().to_string())
    });
    (status, id, body.to_string())
}

async fn open_session(addr: SocketAddr) -> String {
    let (status, id, body) = post(
        addr,
        None,
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "sessions", "version": "0"}}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let id = id.expect("a session id");
    let (status, _, body) = post(
        addr,
        Some(&id),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    id
}

/// Whether the session still answers a request.
async fn alive(addr: SocketAddr, id: &str) -> bool {
    let (status, _, body) = post(
        addr,
        Some(id),
        json!({"jsonrpc": "2.0", "id": 2, "method": "ping"}),
    )
    .await;
    match status {
        200 => {
            assert!(body.contains("\"result\""), "{body}");
            true
        }
        404 => false,
        other => panic!("unexpected status {other}: {body}"),
    }
}

async fn start(max_sessions: usize) -> (SocketAddr, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(
        devlog_store::JsonStore::open(&dir.path().join(".devlog"))
            .await
            .unwrap(),
    );
    let server = DevlogMcp::new(Devlog::new(store), Options::default());
    let listener = HttpListener::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
        .with_max_sessions(max_sessions);
    let addr = listener.local_addr();
    tokio::spawn(listener.serve(server, std::future::pending()));
    (addr, dir)
}

/// Over HTTP too, params that do not fit a known method are invalid params, not an unknown
/// method.
#[tokio::test]
async fn non_object_tool_arguments_over_http_are_invalid_params() {
    let (addr, _dir) = start(10).await;
    let id = open_session(addr).await;
    let (status, _, body) = post(
        addr,
        Some(&id),
        json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
               "params": {"name": "get_devlog", "arguments": "oops"}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("-32602"), "{body}");
    assert!(!body.contains("-32601"), "{body}");
}

#[tokio::test]
async fn http_sessions_beyond_the_cap_evict_the_least_recently_used() {
    let (addr, _dir) = start(3).await;
    let a = open_session(addr).await;
    let b = open_session(addr).await;
    let c = open_session(addr).await;
    // `a` is used again, so `b` is now the least recently used.
    assert!(alive(addr, &a).await);
    let d = open_session(addr).await;
    assert!(
        !alive(addr, &b).await,
        "the least recently used session is closed"
    );
    for s in [&a, &c, &d] {
        assert!(alive(addr, s).await, "session {s} was closed");
    }
    // Many more sessions never hold more than the cap: the oldest ones go.
    let mut newest = Vec::new();
    for _ in 0..10 {
        newest.push(open_session(addr).await);
    }
    let mut open = 0;
    for s in [&a, &c, &d].into_iter().chain(newest.iter()) {
        open += usize::from(alive(addr, s).await);
    }
    assert_eq!(open, 3);
    assert!(alive(addr, newest.last().unwrap()).await);
}

/// The standalone endpoint (`devlog mcp --http`), which has no guard in front, checks `Host`
/// itself: loopback names only (DNS-rebinding protection).
#[tokio::test]
async fn the_standalone_endpoint_refuses_a_foreign_host() {
    let (addr, _dir) = start(10).await;
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}).to_string();
    let req = format!(
        "POST /mcp HTTP/1.1\r\nHost: evil.example:{}\r\nContent-Type: application/json\r\n\
         Accept: application/json, text/event-stream\r\nConnection: close\r\n\
         Content-Length: {}\r\n\r\n{body}",
        addr.port(),
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(std::time::Duration::from_secs(30), s.read_to_end(&mut out))
        .await
        .expect("an answer")
        .unwrap();
    let out = String::from_utf8_lossy(&out);
    assert!(out.starts_with("HTTP/1.1 403"), "{out}");
}

/// A body over the limit is refused with `413` and a JSON-RPC error an MCP client can show,
/// naming the limit; the session goes on.
#[tokio::test]
async fn a_body_over_the_limit_is_a_json_rpc_error() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(
        devlog_store::JsonStore::open(&dir.path().join(".devlog"))
            .await
            .unwrap(),
    );
    let server = DevlogMcp::new(Devlog::new(store), Options::default());
    let listener = HttpListener::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
        .with_max_body(64 * 1024);
    let addr = listener.local_addr();
    tokio::spawn(listener.serve(server, std::future::pending()));
    let id = open_session(addr).await;
    let (status, _, body) = post(
        addr,
        Some(&id),
        json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
               "params": {"name": "add_devlog_note",
                          "arguments": {"id": 1, "note": "x".repeat(100 * 1024)}}}),
    )
    .await;
    assert_eq!(status, 413, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["error"]["code"], -32600, "{body}");
    assert_eq!(v["error"]["data"]["limitBytes"], 64 * 1024, "{body}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("65536 bytes"),
        "{body}"
    );
    assert!(alive(addr, &id).await);
}
