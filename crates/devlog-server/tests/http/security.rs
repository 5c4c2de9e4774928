//! What a web page, a slow client or a flood of connections cannot do to the loopback server
//! (issue 13: DNS rebinding, cross-site forms, foreign origins, preflights, half-open
//! connections, the connection cap, numbers and NUL in queries).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, StatusCode};
use devlog_core::Devlog;
use devlog_server::{Listener, ServeError, Server, ServerOptions};
use devlog_store::JsonStore;
use serde_json::json;
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tower::ServiceExt;

use crate::common::{HANG, Harness, raw, req};

const EVIL: &str = "https://evil.example";

async fn harness_allowing(hosts: &[&str]) -> Harness {
    Harness::with_options(ServerOptions {
        mcp: false,
        allowed_hosts: hosts.iter().map(|h| h.to_string()).collect(),
        ..ServerOptions::default()
    })
    .await
}

#[tokio::test]
async fn a_rebound_host_is_refused_on_every_route_and_changes_nothing() {
    let h = Harness::new().await;
    h.create("Secret plans", "task").await;
    let requests = [
        (Method::GET, "/api/v1/entries", None),
        (Method::GET, "/api/v1/entries/1", None),
        (
            Method::POST,
            "/api/v1/entries",
            Some(json!({"title": "Injected", "type": "task"})),
        ),
        (Method::DELETE, "/api/v1/entries/1", None),
        (Method::GET, "/api/v1/events/stream", None),
        (Method::GET, "/api/v1/openapi.json", None),
        (Method::POST, "/webhooks/github", Some(json!({}))),
        (Method::POST, "/mcp", Some(json!({}))),
        (Method::GET, "/nothing-here", None),
    ];
    for (method, uri, body) in requests {
        let mut r = req(method.clone(), uri).header("host", "evil.example:7878");
        if body.is_some() || method == Method::POST {
            r = r.header("content-type", "application/json");
        }
        let body = body.map_or_else(Body::empty, |b| Body::from(b.to_string()));
        let reply = h.send(r.body(body).unwrap()).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{method} {uri}");
        assert_eq!(reply.class(), "forbidden", "{method} {uri}");
        assert!(reply.text().contains("--allow-host"), "{}", reply.text());
    }
    assert_eq!(
        h.app.store().count().await.unwrap(),
        1,
        "nothing created or deleted"
    );

    // Loopback names are served.
    for host in [
        "127.0.0.1:7878",
        "localhost:7878",
        "[::1]:7878",
        "localhost",
    ] {
        let r = h
            .send(
                req(Method::GET, "/api/v1/entries")
                    .header("host", host)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{host}");
    }
}

#[tokio::test]
async fn an_allowed_host_is_served_for_a_reverse_proxy() {
    let h = harness_allowing(&["devlog.example.com"]).await;
    let r = h
        .send(
            req(Method::GET, "/api/v1/health")
                .header("host", "devlog.example.com")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = h
        .send(
            req(Method::GET, "/api/v1/health")
                .header("host", "other.example.com")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"devlog-test","version":"1"}}}"#;

/// One MCP request to `/mcp` addressed to `host`: the status, the headers and the body, read
/// to its end or to its first JSON-RPC message (an event stream may stay open after it).
async fn mcp_post(
    h: &Harness,
    host: &str,
    session: Option<&str>,
    body: String,
) -> (StatusCode, axum::http::HeaderMap, String) {
    use http_body_util::BodyExt as _;
    let mut r = req(Method::POST, "/mcp")
        .header("host", host)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream");
    if let Some(id) = session {
        r = r
            .header("mcp-session-id", id)
            .header("mcp-protocol-version", "2025-06-18");
    }
    let res = h
        .router
        .clone()
        .oneshot(r.body(Body::from(body)).unwrap())
        .await
        .unwrap();
    let (parts, mut body) = res.into_parts();
    let mut seen = Vec::new();
    tokio::time::timeout(HANG, async {
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame.unwrap().into_data() {
                seen.extend_from_slice(&data);
            }
            let text = String::from_utf8_lossy(&seen);
            if text.contains("\"jsonrpc\"") && text.ends_with("\n\n") {
                break;
            }
        }
    })
    .await
    .expect("an answer");
    (
        parts.status,
        parts.headers,
        String::from_utf8_lossy(&seen).into_owned(),
    )
}

/// Behind a reverse proxy, `/mcp` answers the names `--allow-host` allows, as the REST API
/// does: the guard is the one `Host` policy (rmcp's own loopback-only check refused them with
/// 403, and also refused loopback names other than `127.0.0.1`).
#[tokio::test]
async fn an_allowed_host_reaches_mcp_and_a_foreign_one_does_not() {
    let h = Harness::with_options(ServerOptions {
        allowed_hosts: vec!["devlog.example.com".into()],
        ..ServerOptions::default()
    })
    .await;
    for host in [
        "devlog.example.com",
        "devlog.example.com:443",
        "127.0.0.1:7878",
        "127.0.0.2:7878",
        "localhost",
    ] {
        let (status, _, body) = mcp_post(&h, host, None, INITIALIZE.into()).await;
        assert_eq!(status, StatusCode::OK, "{host}: {body}");
        assert!(body.contains("serverInfo"), "{host}: {body}");
    }
    for host in ["evil.example", "devlog.example.com.evil.example:7878"] {
        let (status, _, body) = mcp_post(&h, host, None, INITIALIZE.into()).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{host}: {body}");
        assert!(body.contains("--allow-host"), "{body}");
    }
}

/// An MCP request body over the server's body limit (the REST API's) is refused with 413
/// before it is parsed.
#[tokio::test]
async fn an_mcp_body_over_the_body_limit_is_413() {
    let padded = |len: usize| {
        let body = INITIALIZE.replace("devlog-test", &"x".repeat(len));
        assert!(body.len() > len);
        body
    };
    let h = Harness::with_options(ServerOptions::default()).await;
    let (status, _, body) = mcp_post(
        &h,
        "127.0.0.1:7878",
        None,
        padded(devlog_server::DEFAULT_BODY_LIMIT),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");

    let h = Harness::with_options(ServerOptions {
        body_limit: 4096,
        ..ServerOptions::default()
    })
    .await;
    let (status, _, body) = mcp_post(&h, "127.0.0.1:7878", None, padded(4096)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    let (status, _, body) = mcp_post(&h, "127.0.0.1:7878", None, padded(3000)).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a body under the limit is served: {body}"
    );
}

/// `ServerOptions::max_sessions` (`devlog serve --max-sessions`) caps the MCP sessions: a new
/// one beyond the cap closes the least recently used.
#[tokio::test]
async fn mcp_sessions_beyond_max_sessions_close_the_least_recently_used() {
    let h = Harness::with_options(ServerOptions {
        max_sessions: 2,
        ..ServerOptions::default()
    })
    .await;
    let host = "127.0.0.1:7878";
    let mut ids = Vec::new();
    for _ in 0..3 {
        let (status, headers, body) = mcp_post(&h, host, None, INITIALIZE.into()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let id = headers["mcp-session-id"].to_str().unwrap().to_string();
        let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        let (status, _, body) = mcp_post(&h, host, Some(&id), initialized.to_string()).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        ids.push(id);
    }
    let ping = json!({"jsonrpc": "2.0", "id": 2, "method": "ping"}).to_string();
    let (status, _, body) = mcp_post(&h, host, Some(&ids[0]), ping.clone()).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "the oldest session is closed: {body}"
    );
    for id in &ids[1..] {
        let (status, _, body) = mcp_post(&h, host, Some(id), ping.clone()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body.contains("\"result\""), "{body}");
    }
}

#[tokio::test]
async fn a_cross_site_form_post_cannot_complete_an_entry() {
    let h = Harness::new().await;
    h.create("Keep me open", "task").await;
    // What `<form method=post action=http://127.0.0.1:7878/...>` on another site sends, with
    // and without the Origin header (some browsers leave it out).
    for origin in [Some(EVIL), None] {
        for content_type in ["application/x-www-form-urlencoded", "text/plain"] {
            let mut r = req(Method::POST, "/api/v1/entries/1/complete")
                .header("host", "127.0.0.1:7878")
                .header("content-type", content_type);
            if let Some(o) = origin {
                r = r.header("origin", o);
            }
            let reply = h.send(r.body(Body::empty()).unwrap()).await;
            let expected = if origin.is_some() {
                StatusCode::FORBIDDEN
            } else {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            };
            assert_eq!(
                reply.status,
                expected,
                "{origin:?} {content_type}: {}",
                reply.text()
            );
        }
    }
    // No content type at all is refused too.
    let reply = h
        .send(
            req(Method::POST, "/api/v1/entries/1/complete")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(
        reply.text().contains("application/json"),
        "{}",
        reply.text()
    );
    let e = h.get("/api/v1/entries/1").await.json();
    assert_eq!(e["status"], "new", "the entry was not completed");
}

#[tokio::test]
async fn a_foreign_origin_is_refused_on_json_writes() {
    let h = Harness::new().await;
    let send = |origin: &'static str| {
        req(Method::POST, "/api/v1/entries")
            .header("host", "127.0.0.1:7878")
            .header("origin", origin)
            .header("content-type", "application/json")
            .body(Body::from(
                json!({"title": "From a page", "type": "task"}).to_string(),
            ))
            .unwrap()
    };
    for origin in [
        EVIL,
        "http://localhost:3000",
        "http://127.0.0.1:3000",
        "null",
    ] {
        let r = h.send(send(origin)).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{origin}");
        assert!(r.header("access-control-allow-origin").is_none());
    }
    assert_eq!(h.app.store().count().await.unwrap(), 0);
    // A page served by this server itself (same origin) may write.
    let r = h.send(send("http://127.0.0.1:7878")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    // A cross-site fetch without Origin (Sec-Fetch-Site tells) is refused as well.
    let r = h
        .send(
            req(Method::GET, "/api/v1/entries")
                .header("sec-fetch-site", "cross-site")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn preflights_name_the_allowed_origin_and_refuse_others() {
    let h = harness_allowing(&["devlog.example.com"]).await;
    let preflight = |origin: &str| {
        req(Method::OPTIONS, "/api/v1/entries/1")
            .header("host", "127.0.0.1:7878")
            .header("origin", origin)
            .header("access-control-request-method", "PATCH")
            .header("access-control-request-headers", "content-type, if-match")
            .body(Body::empty())
            .unwrap()
    };
    let r = h.send(preflight(EVIL)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.header("access-control-allow-origin").is_none());
    assert!(r.header("access-control-allow-methods").is_none());

    let r = h.send(preflight("https://devlog.example.com")).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        r.header("access-control-allow-origin").as_deref(),
        Some("https://devlog.example.com"),
        "the exact origin, never *"
    );
    assert!(
        r.header("access-control-allow-methods")
            .unwrap()
            .contains("PATCH")
    );
    assert!(
        r.header("access-control-allow-headers")
            .unwrap()
            .contains("if-match")
    );
    assert!(r.header("vary").unwrap().to_lowercase().contains("origin"));
}

#[tokio::test]
async fn feed_cursors_beyond_i64_are_400_instead_of_the_whole_feed() {
    let h = Harness::new().await;
    h.create("One", "task").await;
    for since in ["9223372036854775808", "18446744073709551615"] {
        let r = h.get(&format!("/api/v1/events?since={since}")).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
        assert!(r.text().contains("largest sequence number"), "{}", r.text());
        let r = h.get(&format!("/api/v1/events/stream?since={since}")).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    }
    let r = h.get("/api/v1/events?since=9223372036854775807").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["events"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn hours_that_are_not_finite_or_negative_are_422() {
    let h = Harness::new().await;
    h.create("Estimate me", "task").await;
    // JSON has no NaN; a huge exponent overflows to infinity when parsed.
    for hours in ["1e400", "-1"] {
        let body = format!(r#"{{"estimatedHours": {hours}}}"#);
        let r = h
            .send(
                req(Method::PATCH, "/api/v1/entries/1")
                    .header("content-type", "application/json")
                    .body(Body::from(body))
                    .unwrap(),
            )
            .await;
        assert!(r.status.is_client_error(), "{hours}: {}", r.text());
    }
    let e = h.get("/api/v1/entries/1").await.json();
    assert!(e["estimatedHours"].is_null(), "{e}");
}

#[tokio::test]
async fn an_oversized_note_is_refused_and_changes_nothing() {
    let h = Harness::new().await;
    h.create("Noted", "task").await;
    let r = h
        .post(
            "/api/v1/entries/1/notes",
            json!({"content": "x".repeat(devlog_core::ops::MAX_TEXT + 1)}),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        &r.text()[..200.min(r.text().len())]
    );
    assert!(r.text().contains("1 MiB"), "{}", r.text());
    let e = h.get("/api/v1/entries/1").await.json();
    assert!(e["notes"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn a_nul_in_a_query_parameter_is_400_not_a_storage_failure() {
    let h = Harness::new().await;
    for uri in [
        "/api/v1/entries?assignee=%00",
        "/api/v1/search?q=a%00b",
        "/api/v1/entries/%00",
    ] {
        let r = h.get(uri).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{uri}: {}", r.text());
        assert!(r.text().contains("NUL"), "{}", r.text());
    }
}

/// A real server with the given connection limits.
struct Live {
    _dir: TempDir,
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), ServeError>>,
}

impl Live {
    async fn start(header_read_timeout: Duration, max_connections: usize) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = JsonStore::open(&dir.path().join(".devlog")).await.unwrap();
        let listener = Listener::bind("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let addr = listener.local_addr();
        let server = Server::new(
            Devlog::new(Arc::new(store)),
            ServerOptions {
                mcp: false,
                header_read_timeout,
                max_connections,
                ..ServerOptions::default()
            },
        );
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server.serve(listener, async move {
            let _ = stopped.await;
        }));
        Self {
            _dir: dir,
            addr,
            stop: Some(stop),
            task,
        }
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

/// Reads until the server closes the connection; fails if it stays open for [`HANG`].
async fn closed_by_server(s: &mut TcpStream) -> String {
    let mut buf = Vec::new();
    let read = tokio::time::timeout(HANG, s.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "the server kept a half-open connection");
    String::from_utf8_lossy(&buf).into_owned()
}

#[tokio::test]
async fn half_open_connections_are_closed_after_the_header_timeout() {
    let live = Live::start(Duration::from_millis(200), 64).await;
    // Sends nothing at all.
    let mut silent = TcpStream::connect(live.addr).await.unwrap();
    // Sends part of the headers and stops.
    let mut partial = TcpStream::connect(live.addr).await.unwrap();
    partial
        .write_all(b"GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .await
        .unwrap();
    closed_by_server(&mut silent).await;
    closed_by_server(&mut partial).await;
    // The server still answers.
    let (status, _, _) = raw(
        live.addr,
        "GET /api/v1/health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n",
    )
    .await;
    assert_eq!(status, 200);
    live.stop().await;
}

#[tokio::test]
async fn connections_over_the_cap_are_answered_503() {
    let live = Live::start(Duration::from_secs(60), 1).await;
    // One keep-alive connection, answered once, then left open: it holds the only slot.
    let mut held = TcpStream::connect(live.addr).await.unwrap();
    held.write_all(b"GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = tokio::time::timeout(HANG, held.read(&mut buf))
        .await
        .expect("the first connection is answered")
        .unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));

    let (status, head, body) = raw(
        live.addr,
        "GET /api/v1/health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n",
    )
    .await;
    assert_eq!(status, 503, "{head}");
    assert!(body.contains("too-many-connections"), "{body}");

    // Once the slot is free, requests are served again.
    drop(held);
    let served = tokio::time::timeout(HANG, async {
        loop {
            let (status, _, _) = raw(
                live.addr,
                "GET /api/v1/health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n",
            )
            .await;
            if status == 200 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(served.is_ok(), "the freed slot was never reused");
    live.stop().await;
}
