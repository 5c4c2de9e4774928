//! Test harness: a JSON store in a temp dir, the router driven in-process, a fixed clock, and
//! a raw HTTP/1.0 client for the tests that need a real socket.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, Request, StatusCode};
use devlog_core::event::WriteMeta;
use devlog_core::store::{Created, Mutation, PutOutcome, StoreInfo};
use devlog_core::{
    Clock, Devlog, Entry, EntryId, EntryRef, EntrySummary, Event, EventKind, Filter, ListQuery,
    Origin, Page, SearchHit, SearchQuery, Stats, Store, StoreError, Timestamp,
};
use devlog_server::{Server, ServerOptions};
use devlog_store::JsonStore;
use http_body_util::BodyExt;
use serde_json::Value;
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tower::ServiceExt;

/// A clock pinned to one instant, so snapshots are stable.
#[derive(Debug)]
pub struct FixedClock;

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        "2026-01-02T03:04:05.678Z".parse().unwrap()
    }
}

/// A store in a temp dir and the router over it.
pub struct Harness {
    pub dir: TempDir,
    pub app: Devlog,
    pub router: Router,
}

impl Harness {
    pub async fn new() -> Self {
        Self::with_options(ServerOptions {
            mcp: false,
            ..ServerOptions::default()
        })
        .await
    }

    pub async fn with_options(options: ServerOptions) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = JsonStore::open(&dir.path().join(".devlog")).await.unwrap();
        let app = Devlog::with_clock(Arc::new(store), Arc::new(FixedClock));
        let router = Server::new(app.clone(), options).router();
        Self { dir, app, router }
    }

    /// A harness over a store the test opened itself (in `dir`), with these options.
    pub fn over(app: Devlog, options: ServerOptions, dir: TempDir) -> Self {
        let router = Server::new(app.clone(), options).router();
        Self { dir, app, router }
    }

    pub fn entries_dir(&self) -> std::path::PathBuf {
        self.dir.path().join(".devlog").join("entries")
    }

    pub async fn send(&self, req: Request<Body>) -> Reply {
        let res = self.router.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let body = res.into_body().collect().await.unwrap().to_bytes();
        Reply {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, uri: &str) -> Reply {
        self.send(req(Method::GET, uri).body(Body::empty()).unwrap())
            .await
    }

    pub async fn json(&self, method: Method, uri: &str, body: Value) -> Reply {
        self.send(
            req(method, uri)
                .header("content-type", "application/json")
                .body(Body::from(body.to_string()))
                .unwrap(),
        )
        .await
    }

    pub async fn post(&self, uri: &str, body: Value) -> Reply {
        self.json(Method::POST, uri, body).await
    }

    pub async fn patch(&self, uri: &str, body: Value) -> Reply {
        self.json(Method::PATCH, uri, body).await
    }

    /// Creates an entry through the API; returns its JSON.
    pub async fn create(&self, title: &str, kind: &str) -> Value {
        let r = self
            .post(
                "/api/v1/entries",
                serde_json::json!({"title": title, "type": kind}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        r.json()
    }
}

pub fn req(method: Method, uri: &str) -> axum::http::request::Builder {
    Request::builder().method(method).uri(uri)
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
    }

    pub fn etag(&self) -> String {
        self.header("etag").expect("an ETag header")
    }

    /// The error class of an error response, checking the body's shape on the way.
    pub fn class(&self) -> String {
        let v = self.json();
        let e = &v["error"];
        assert!(e["message"].is_string(), "{v}");
        assert!(e["hint"].is_string() || e["hint"].is_null(), "{v}");
        e["class"].as_str().unwrap().to_string()
    }
}

/// Replaces values that change from run to run (ids, event times, seqs are kept) so JSON can
/// be snapshot.
pub fn redact(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let v = match k.as_str() {
                        "id" | "entryId" | "note_id" | "decision_id" | "change"
                            if v.is_string() =>
                        {
                            Value::String("[id]".into())
                        }
                        "at" => Value::String("[time]".into()),
                        _ => redact(v),
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(redact).collect()),
        other => other.clone(),
    }
}

/// Guards a read on a socket against a hang (a failure, not a timing assertion).
pub const HANG: Duration = Duration::from_secs(20);

/// One HTTP/1.0 request on a fresh connection; the response is read to its end.
pub async fn raw(addr: std::net::SocketAddr, request: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(HANG, s.read_to_end(&mut buf))
        .await
        .expect("the response ends")
        .unwrap();
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head.to_string(), body.to_string())
}

/// A server-sent event as a client sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Sse {
    pub id: Option<String>,
    pub event: Option<String>,
    pub data: String,
}

/// An open event stream over a real socket.
pub struct SseClient {
    reader: BufReader<TcpStream>,
    pub status: u16,
    pub head: String,
}

impl SseClient {
    pub async fn connect(addr: std::net::SocketAddr, path: &str, headers: &[(&str, &str)]) -> Self {
        let mut s = TcpStream::connect(addr).await.unwrap();
        let mut request =
            format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\nAccept: text/event-stream\r\n");
        for (k, v) in headers {
            request.push_str(&format!("{k}: {v}\r\n"));
        }
        request.push_str("\r\n");
        s.write_all(request.as_bytes()).await.unwrap();
        let mut reader = BufReader::new(s);
        let mut head = String::new();
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(HANG, reader.read_line(&mut line))
                .await
                .expect("headers arrive")
                .unwrap();
            if n == 0 || line == "\r\n" {
                break;
            }
            head.push_str(&line);
        }
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        Self {
            reader,
            status,
            head,
        }
    }

    /// The next message with data (comments and keep-alives are skipped); `None` at the end
    /// of the stream.
    pub async fn next(&mut self) -> Option<Sse> {
        let mut ev = Sse {
            id: None,
            event: None,
            data: String::new(),
        };
        let mut has_data = false;
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(HANG, self.reader.read_line(&mut line))
                .await
                .expect("the next event arrives")
                .unwrap();
            if n == 0 {
                return None;
            }
            let line = line.trim_end_matches(['\r', '\n']);
            if line.is_empty() {
                if has_data {
                    return Some(ev);
                }
                continue;
            }
            if let Some(v) = line.strip_prefix("data:") {
                if has_data {
                    ev.data.push('\n');
                }
                ev.data.push_str(v.strip_prefix(' ').unwrap_or(v));
                has_data = true;
            } else if let Some(v) = line.strip_prefix("id:") {
                ev.id = Some(v.trim().to_string());
            } else if let Some(v) = line.strip_prefix("event:") {
                ev.event = Some(v.trim().to_string());
            }
        }
    }

    /// Reads until the server closes the stream; fails if it sends another event first.
    pub async fn expect_end(&mut self) {
        if let Some(ev) = self.next().await {
            panic!("expected the stream to end, got {ev:?}");
        }
    }
}

/// A store that is down, except (optionally) for a change feed with the given seqs.
#[derive(Debug)]
pub struct FakeStore {
    feed: Option<Vec<u64>>,
}

impl FakeStore {
    pub fn down() -> Self {
        Self { feed: None }
    }

    /// A feed with exactly these (ascending, possibly gapped) seqs.
    pub fn with_feed(seqs: Vec<u64>) -> Self {
        Self { feed: Some(seqs) }
    }
}

fn fake_event(seq: u64) -> Event {
    Event {
        seq,
        entry_id: EntryId::from_legacy(seq, "2025-01-01T00:00:00.000Z"),
        handle: seq,
        at: FixedClock.now(),
        origin: Origin::Cli,
        actor: None,
        change: None,
        kind: EventKind::Created,
    }
}

fn down<T>() -> devlog_core::Result<T> {
    Err(StoreError::Backend {
        backend: "postgres",
        message: "connection refused".into(),
        transient: true,
    })
}

#[async_trait]
impl Store for FakeStore {
    fn describe(&self) -> StoreInfo {
        StoreInfo {
            backend: "postgres",
            location: "postgres://db/devlog".into(),
        }
    }
    async fn create(&self, _: Entry, _: bool, _: &WriteMeta) -> devlog_core::Result<Created> {
        down()
    }
    async fn get(&self, _: EntryId) -> devlog_core::Result<Entry> {
        down()
    }
    async fn lookup(&self, _: &EntryRef) -> devlog_core::Result<Vec<EntrySummary>> {
        down()
    }
    async fn update(
        &self,
        _: EntryId,
        _: &WriteMeta,
        _: &mut Mutation<'_>,
    ) -> devlog_core::Result<Entry> {
        down()
    }
    async fn delete(&self, _: EntryId, _: &WriteMeta) -> devlog_core::Result<()> {
        down()
    }
    async fn list(&self, _: &ListQuery) -> devlog_core::Result<Page<EntrySummary>> {
        down()
    }
    async fn search(&self, _: &SearchQuery) -> devlog_core::Result<Page<SearchHit>> {
        down()
    }
    async fn stats(&self, _: &Filter) -> devlog_core::Result<Stats> {
        down()
    }
    async fn events(&self, after: u64, limit: usize) -> devlog_core::Result<Vec<Event>> {
        let Some(seqs) = &self.feed else {
            return down();
        };
        Ok(seqs
            .iter()
            .filter(|s| **s > after)
            .take(limit)
            .map(|&seq| fake_event(seq))
            .collect())
    }
    async fn events_before(
        &self,
        before: Option<u64>,
        limit: usize,
    ) -> devlog_core::Result<Vec<Event>> {
        let Some(seqs) = &self.feed else {
            return down();
        };
        let mut out: Vec<Event> = seqs
            .iter()
            .rev()
            .filter(|s| before.is_none_or(|b| **s < b))
            .take(limit)
            .map(|&seq| fake_event(seq))
            .collect();
        out.reverse();
        Ok(out)
    }
    async fn entry_events(
        &self,
        id: EntryId,
        after: u64,
        before: Option<u64>,
        limit: usize,
    ) -> devlog_core::Result<Vec<Event>> {
        let Some(seqs) = &self.feed else {
            return down();
        };
        let mut out: Vec<Event> = seqs
            .iter()
            .rev()
            .filter(|s| **s > after && before.is_none_or(|b| **s < b))
            .map(|&seq| fake_event(seq))
            .filter(|e| e.entry_id == id)
            .take(limit)
            .collect();
        out.reverse();
        Ok(out)
    }
    async fn count_events(&self, after: u64, before: Option<u64>) -> devlog_core::Result<u64> {
        let Some(seqs) = &self.feed else {
            return down();
        };
        Ok(seqs
            .iter()
            .filter(|s| **s > after && before.is_none_or(|b| **s < b))
            .count() as u64)
    }
    async fn feed_id(&self) -> devlog_core::Result<Option<String>> {
        down()
    }
    async fn put_raw(&self, _: Entry, _: &WriteMeta) -> devlog_core::Result<PutOutcome> {
        down()
    }
    async fn append_events(&self, _: &[Event]) -> devlog_core::Result<()> {
        down()
    }
    async fn count(&self) -> devlog_core::Result<u64> {
        down()
    }
    async fn all(&self) -> devlog_core::Result<Vec<Entry>> {
        down()
    }
    async fn warnings(&self) -> devlog_core::Result<Vec<String>> {
        down()
    }
}
