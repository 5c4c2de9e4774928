//! A fake remote system for integration and sync-engine tests: a real HTTP server on
//! `127.0.0.1:0` with shared state, a generic issue "tracker" API, programmable faults, a
//! request log, and direct access to its data (to simulate edits made on the remote).
//!
//! The GitHub, Jira and Azure DevOps fakes extend it: they build their routes on the same
//! [`FakeState`] (for its clock, ETag and link helpers, or its items) and pass them to
//! [`FakeRemoteBuilder::routes`]; every route then gets the request log, the faults and the
//! rate-limit headers.
//!
//! Tracker API (JSON; errors are `{"message": …}`):
//! - `POST /items` `{title, description?, status?, labels?, assignee?, marker?}` → 201 + item
//! - `GET /items/{id}` → item with `ETag`; `If-None-Match` with the current ETag → 304
//! - `PATCH /items/{id}` partial item; `If-Match` with another ETag → 412
//! - `GET /items?since=<rfc3339>&marker=<m>&page=&per_page=` → items updated at or after
//!   `since`, oldest first, with GitHub-style `Link` pagination and a list `ETag`
//! - `POST /items/{id}/comments` `{body, marker?}` → 201; `GET /items/{id}/comments`
//!
//! The server's clock starts at 2025-01-01T00:00:00Z and moves one second per change, so
//! `updated_at` values are distinct and `since` filters are exact; [`FakeState::advance`]
//! moves it further.

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::connect_info::Connected;
use axum::extract::{ConnectInfo, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::serve::{IncomingStream, Listener};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// An item of the generic tracker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    /// Assigned by the server, increasing from 1.
    pub id: u64,
    pub title: String,
    pub description: String,
    pub status: String,
    pub labels: Vec<String>,
    pub assignee: Option<String>,
    /// An opaque string the client stores on the item (a devlog id), to find it again.
    pub marker: Option<String>,
    /// Bumped by every change; the ETag is derived from it ([`Item::etag`]).
    pub version: u64,
    pub updated_at: DateTime<Utc>,
}

impl Item {
    /// The item's ETag as sent in headers: `"<id>-<version>"`.
    pub fn etag(&self) -> String {
        format!("\"{}-{}\"", self.id, self.version)
    }
}

/// The fields of a new item. Everything but the title may be left out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NewItem {
    pub title: String,
    pub description: String,
    pub status: Option<String>,
    pub labels: Vec<String>,
    pub assignee: Option<String>,
    pub marker: Option<String>,
}

/// A comment on an item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comment {
    pub id: u64,
    pub item_id: u64,
    pub body: String,
    pub marker: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// One request as the server saw it. `Authorization` is left out of `headers`; `authorized`
/// says whether one was sent.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub headers: Vec<(String, String)>,
    pub authorized: bool,
    pub body: Bytes,
    /// The fault applied to this request, if any (its [`FaultKind`] name).
    pub fault: Option<&'static str>,
}

impl RecordedRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn body_json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// `"POST /items"`.
    pub fn line(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

/// What a fault does to a matching request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultKind {
    /// Answer with this status, headers and body; the handler does not run.
    Respond {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    },
    /// Wait, then handle the request normally.
    Delay(Duration),
    /// Never answer (until the server stops): the client's timeout fires.
    Hang,
    /// Handle the request (e.g. create the item), then close the connection without a
    /// response: the remote did it, but the client never hears about it.
    ApplyThenDrop,
    /// Handle the request, then never answer (until the server stops): the remote did it
    /// and the client is left waiting (to kill it at that moment).
    ApplyThenHang,
    /// Close the connection without handling the request or answering.
    Drop,
}

impl FaultKind {
    fn name(&self) -> &'static str {
        match self {
            FaultKind::Respond { .. } => "respond",
            FaultKind::Delay(_) => "delay",
            FaultKind::Hang => "hang",
            FaultKind::ApplyThenDrop => "apply_then_drop",
            FaultKind::ApplyThenHang => "apply_then_hang",
            FaultKind::Drop => "drop",
        }
    }
}

/// A programmed fault: which requests it hits, what it does, and how many times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    method: Option<String>,
    pattern: String,
    pub kind: FaultKind,
    times: usize,
}

/// The requests a fault will hit; finish it with what the fault does.
#[derive(Debug, Clone)]
pub struct FaultTarget {
    method: Option<String>,
    pattern: String,
}

impl Fault {
    /// `"POST /items"`, `"GET /items/*"` (`*` is one path segment), `"* /items/**"` (`**` is
    /// the rest of the path), or just a path for any method.
    pub fn on(spec: &str) -> FaultTarget {
        let spec = spec.trim();
        let (method, pattern) = match spec.split_once(' ') {
            Some((m, p)) if !m.starts_with('/') => {
                let m = m.trim().to_ascii_uppercase();
                ((m != "*").then_some(m), p.trim().to_string())
            }
            _ => (None, spec.to_string()),
        };
        FaultTarget { method, pattern }
    }

    /// Hits the next `n` matching requests instead of one.
    pub fn times(mut self, n: usize) -> Self {
        self.times = n.max(1);
        self
    }

    /// Adds a response header (for [`FaultKind::Respond`]).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        if let FaultKind::Respond { headers, .. } = &mut self.kind {
            headers.push((name.to_string(), value.to_string()));
        }
        self
    }

    /// Sets the response body (for [`FaultKind::Respond`]).
    pub fn body(mut self, text: &str) -> Self {
        if let FaultKind::Respond { body, .. } = &mut self.kind {
            *body = text.to_string();
        }
        self
    }

    fn matches(&self, method: &Method, path: &str) -> bool {
        if let Some(m) = &self.method
            && m != method.as_str()
        {
            return false;
        }
        path_matches(&self.pattern, path)
    }
}

impl FaultTarget {
    fn with(self, kind: FaultKind) -> Fault {
        Fault {
            method: self.method,
            pattern: self.pattern,
            kind,
            times: 1,
        }
    }

    /// A response with this status and a JSON `message` body.
    pub fn status(self, status: u16) -> Fault {
        let body = json!({ "message": format!("injected {status}") }).to_string();
        self.with(FaultKind::Respond {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body,
        })
    }

    /// 429 with `Retry-After: <retry_after>` (seconds or an HTTP date).
    pub fn rate_limited(self, retry_after: &str) -> Fault {
        self.status(429)
            .header("retry-after", retry_after)
            .body(r#"{"message":"API rate limit exceeded"}"#)
    }

    pub fn delay(self, delay: Duration) -> Fault {
        self.with(FaultKind::Delay(delay))
    }

    pub fn hang(self) -> Fault {
        self.with(FaultKind::Hang)
    }

    pub fn apply_then_drop(self) -> Fault {
        self.with(FaultKind::ApplyThenDrop)
    }

    pub fn apply_then_hang(self) -> Fault {
        self.with(FaultKind::ApplyThenHang)
    }

    pub fn drop_connection(self) -> Fault {
        self.with(FaultKind::Drop)
    }
}

/// `*` matches one segment, `**` the rest of the path (zero or more segments).
pub fn path_matches(pattern: &str, path: &str) -> bool {
    let pat: Vec<&str> = pattern.trim_matches('/').split('/').collect();
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let mut i = 0;
    for p in &pat {
        if *p == "**" {
            return true;
        }
        match segs.get(i) {
            Some(s) if *p == "*" || p == s => i += 1,
            _ => return false,
        }
    }
    i == segs.len()
}

/// Rate-limit headers added to every response (GitHub style: `x-ratelimit-*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitHeaders {
    pub limit: u64,
    pub remaining: u64,
    /// Epoch seconds.
    pub reset: u64,
    pub resource: Option<String>,
    /// Count `remaining` down by one per request (never below 0).
    pub count_down: bool,
}

#[derive(Debug)]
struct Data {
    items: BTreeMap<u64, Item>,
    comments: BTreeMap<u64, Vec<Comment>>,
    next_item: u64,
    next_comment: u64,
    now: DateTime<Utc>,
}

#[derive(Debug)]
struct Shared {
    data: Mutex<Data>,
    faults: Mutex<Vec<Fault>>,
    log: Mutex<Vec<RecordedRequest>>,
    rate: Mutex<Option<RateLimitHeaders>>,
    /// The `Authorization` value every request must carry (401 otherwise), if set.
    required_auth: Mutex<Option<String>>,
    items_created: AtomicU64,
    shutdown: watch::Sender<bool>,
}

/// The server's state, shared by its handlers and the test. Cheap to clone.
#[derive(Debug, Clone)]
pub struct FakeState {
    inner: Arc<Shared>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A test that panicked mid-update fails anyway; later reads may still look.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// When the fake's clock starts.
pub fn fake_epoch() -> DateTime<Utc> {
    DateTime::from_timestamp(1_735_689_600, 0).expect("2025-01-01 is in range")
}

impl Default for FakeState {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeState {
    pub fn new() -> Self {
        Self {
            inner: Arc::new(Shared {
                data: Mutex::new(Data {
                    items: BTreeMap::new(),
                    comments: BTreeMap::new(),
                    next_item: 1,
                    next_comment: 1,
                    now: fake_epoch(),
                }),
                faults: Mutex::new(Vec::new()),
                log: Mutex::new(Vec::new()),
                rate: Mutex::new(None),
                required_auth: Mutex::new(None),
                items_created: AtomicU64::new(0),
                shutdown: watch::channel(false).0,
            }),
        }
    }

    // ---- clock ----

    /// The fake's current time.
    pub fn now(&self) -> DateTime<Utc> {
        lock(&self.inner.data).now
    }

    /// Moves the clock one second forward and returns the new time (for a change).
    pub fn tick(&self) -> DateTime<Utc> {
        let mut d = lock(&self.inner.data);
        d.now += chrono::Duration::seconds(1);
        d.now
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        let mut d = lock(&self.inner.data);
        d.now += chrono::Duration::from_std(by).unwrap_or(chrono::Duration::zero());
    }

    // ---- faults, log, rate-limit headers ----

    /// From now on every request must carry exactly this `Authorization` value (e.g.
    /// `"Bearer abc"`); others get 401 (logged, with `authorized` saying whether one was
    /// sent). `None` accepts any request again.
    pub fn require_authorization(&self, value: Option<&str>) {
        *lock(&self.inner.required_auth) = value.map(str::to_string);
    }

    /// Queues a fault; faults are tried in the order injected.
    pub fn inject(&self, fault: Fault) {
        lock(&self.inner.faults).push(fault);
    }

    /// Faults not used up yet.
    pub fn pending_faults(&self) -> usize {
        lock(&self.inner.faults).len()
    }

    pub fn clear_faults(&self) {
        lock(&self.inner.faults).clear();
    }

    fn take_fault(&self, method: &Method, path: &str) -> Option<FaultKind> {
        let mut faults = lock(&self.inner.faults);
        let idx = faults.iter().position(|f| f.matches(method, path))?;
        let kind = faults[idx].kind.clone();
        faults[idx].times -= 1;
        if faults[idx].times == 0 {
            faults.remove(idx);
        }
        Some(kind)
    }

    /// Every request received so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.inner.log).clone()
    }

    /// The requests whose `"METHOD path"` matches `spec` (as in [`Fault::on`]).
    pub fn requests_matching(&self, spec: &str) -> Vec<RecordedRequest> {
        let target = Fault::on(spec).status(200);
        lock(&self.inner.log)
            .iter()
            .filter(|r| {
                Method::from_bytes(r.method.as_bytes()).is_ok_and(|m| target.matches(&m, &r.path))
            })
            .cloned()
            .collect()
    }

    pub fn clear_requests(&self) {
        lock(&self.inner.log).clear();
    }

    /// Adds (or with `None` stops adding) rate-limit headers to every response.
    pub fn set_rate_limit(&self, headers: Option<RateLimitHeaders>) {
        *lock(&self.inner.rate) = headers;
    }

    pub fn rate_limit(&self) -> Option<RateLimitHeaders> {
        lock(&self.inner.rate).clone()
    }

    // ---- tracker data ----

    /// Items created through `POST /items` (including those whose response was dropped).
    pub fn items_created(&self) -> u64 {
        self.inner.items_created.load(Ordering::SeqCst)
    }

    pub fn items(&self) -> Vec<Item> {
        lock(&self.inner.data).items.values().cloned().collect()
    }

    pub fn item(&self, id: u64) -> Option<Item> {
        lock(&self.inner.data).items.get(&id).cloned()
    }

    /// Items carrying `marker`.
    pub fn items_with_marker(&self, marker: &str) -> Vec<Item> {
        lock(&self.inner.data)
            .items
            .values()
            .filter(|i| i.marker.as_deref() == Some(marker))
            .cloned()
            .collect()
    }

    /// Creates an item directly (as someone on the remote would); not counted in
    /// [`FakeState::items_created`].
    pub fn insert_item(&self, new: NewItem) -> Item {
        let mut d = lock(&self.inner.data);
        d.now += chrono::Duration::seconds(1);
        let id = d.next_item;
        d.next_item += 1;
        let item = Item {
            id,
            title: new.title,
            description: new.description,
            status: new.status.unwrap_or_else(|| "open".into()),
            labels: new.labels,
            assignee: new.assignee,
            marker: new.marker,
            version: 1,
            updated_at: d.now,
        };
        d.items.insert(id, item.clone());
        item
    }

    /// Edits an item directly (a change made on the remote): bumps its version and
    /// `updated_at`. `None` when there is no such item.
    pub fn edit_item(&self, id: u64, edit: impl FnOnce(&mut Item)) -> Option<Item> {
        let mut d = lock(&self.inner.data);
        d.now += chrono::Duration::seconds(1);
        let now = d.now;
        let item = d.items.get_mut(&id)?;
        edit(item);
        item.version += 1;
        item.updated_at = now;
        Some(item.clone())
    }

    pub fn delete_item(&self, id: u64) -> Option<Item> {
        let mut d = lock(&self.inner.data);
        d.comments.remove(&id);
        d.items.remove(&id)
    }

    pub fn comments(&self, item_id: u64) -> Vec<Comment> {
        lock(&self.inner.data)
            .comments
            .get(&item_id)
            .cloned()
            .unwrap_or_default()
    }

    fn create_via_api(&self, new: NewItem) -> Item {
        let item = self.insert_item(new);
        self.inner.items_created.fetch_add(1, Ordering::SeqCst);
        item
    }

    fn add_comment(&self, item_id: u64, body: String, marker: Option<String>) -> Option<Comment> {
        let mut d = lock(&self.inner.data);
        d.now += chrono::Duration::seconds(1);
        let now = d.now;
        let item = d.items.get_mut(&item_id)?;
        item.version += 1;
        item.updated_at = now;
        let id = d.next_comment;
        d.next_comment += 1;
        let c = Comment {
            id,
            item_id,
            body,
            marker,
            created_at: now,
        };
        d.comments.entry(item_id).or_default().push(c.clone());
        Some(c)
    }

    async fn until_shutdown(&self) {
        let mut rx = self.inner.shutdown.subscribe();
        // `Err` means the sender is gone: the server is gone too.
        let _ = rx.wait_for(|stop| *stop).await;
    }
}

// ---- HTTP helpers the system-specific fakes share ----

/// A JSON error body `{"message": …}` with `status`.
pub fn json_error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({ "message": message }))).into_response()
}

/// True when `If-None-Match` names `etag` (weak comparison, `*` matches anything).
pub fn if_none_match(headers: &HeaderMap, etag: &str) -> bool {
    let strip = |t: &str| t.trim().trim_start_matches("W/").to_string();
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim() == "*" || strip(t) == strip(etag))
}

/// `Some(true)` when `If-Match` is absent or names `etag` (strong comparison), `Some(false)`
/// when it names something else.
pub fn if_match_ok(headers: &HeaderMap, etag: &str) -> bool {
    let values: Vec<&str> = headers
        .get_all(header::IF_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    values.is_empty()
        || values
            .iter()
            .flat_map(|v| v.split(','))
            .any(|t| t.trim() == "*" || t.trim() == etag)
}

/// A JSON response with an `ETag`, or a bare 304 when the request's `If-None-Match` matches.
pub fn json_with_etag(request_headers: &HeaderMap, etag: &str, body: &impl Serialize) -> Response {
    let mut resp = if if_none_match(request_headers, etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        axum::Json(body).into_response()
    };
    if let Ok(v) = HeaderValue::from_str(etag) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    resp
}

/// A list ETag derived from what the list shows.
pub fn content_etag(parts: &impl Hash) -> String {
    let mut h = std::hash::DefaultHasher::new();
    parts.hash(&mut h);
    format!("\"l-{:016x}\"", h.finish())
}

/// A GitHub-style `Link` header for page `page` (1-based) of `last` pages, on
/// `base` (`http://host/path`) with `params` kept and `page`/`per_page` set.
pub fn link_header(
    base: &str,
    params: &[(String, String)],
    page: u64,
    per_page: u64,
    last: u64,
) -> Option<String> {
    let url = |p: u64| {
        let mut q: Vec<String> = params
            .iter()
            .filter(|(k, _)| k != "page" && k != "per_page")
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect();
        q.push(format!("per_page={per_page}"));
        q.push(format!("page={p}"));
        format!("{base}?{}", q.join("&"))
    };
    let mut links = Vec::new();
    if page < last {
        links.push(format!("<{}>; rel=\"next\"", url(page + 1)));
        links.push(format!("<{}>; rel=\"last\"", url(last)));
    }
    if page > 1 {
        links.push(format!("<{}>; rel=\"first\"", url(1)));
        links.push(format!("<{}>; rel=\"prev\"", url(page - 1)));
    }
    (!links.is_empty()).then(|| links.join(", "))
}

/// Percent-encodes a query component (everything but unreserved characters).
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `http://<Host header>` of a request.
pub fn origin(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    format!("http://{host}")
}

// ---- the tracker routes ----

fn parse_json<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, String> {
    serde_json::from_slice(body).map_err(|e| format!("invalid body: {e}"))
}

fn unprocessable(message: &str) -> Response {
    json_error(StatusCode::UNPROCESSABLE_ENTITY, message)
}

fn created(item: &impl Serialize, location: &str, etag: Option<String>) -> Response {
    let mut resp = (StatusCode::CREATED, axum::Json(item)).into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    if let Some(Ok(v)) = etag.map(|e| HeaderValue::from_str(&e)) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    resp
}

async fn create_item(State(s): State<FakeState>, body: Bytes) -> Response {
    let new: NewItem = match parse_json(&body) {
        Ok(n) => n,
        Err(m) => return unprocessable(&m),
    };
    if new.title.trim().is_empty() {
        return json_error(StatusCode::UNPROCESSABLE_ENTITY, "title is required");
    }
    let item = s.create_via_api(new);
    created(&item, &format!("/items/{}", item.id), Some(item.etag()))
}

async fn get_item(State(s): State<FakeState>, Path(id): Path<u64>, headers: HeaderMap) -> Response {
    match s.item(id) {
        Some(item) => json_with_etag(&headers, &item.etag(), &item),
        None => json_error(StatusCode::NOT_FOUND, "Not Found"),
    }
}

async fn patch_item(
    State(s): State<FakeState>,
    Path(id): Path<u64>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let patch: serde_json::Map<String, Value> = match parse_json(&body) {
        Ok(p) => p,
        Err(m) => return unprocessable(&m),
    };
    let Some(current) = s.item(id) else {
        return json_error(StatusCode::NOT_FOUND, "Not Found");
    };
    if !if_match_ok(&headers, &current.etag()) {
        return json_error(
            StatusCode::PRECONDITION_FAILED,
            "precondition failed: the item changed",
        );
    }
    let mut next = current.clone();
    for (key, value) in &patch {
        let ok = match key.as_str() {
            "title" => set_text(value, &mut next.title),
            "description" => set_text(value, &mut next.description),
            "status" => set_text(value, &mut next.status),
            "assignee" => set_optional(value, &mut next.assignee),
            "marker" => set_optional(value, &mut next.marker),
            "labels" => match serde_json::from_value::<Vec<String>>(value.clone()) {
                Ok(labels) => {
                    next.labels = labels;
                    true
                }
                Err(_) => false,
            },
            _ => false,
        };
        if !ok {
            return json_error(
                StatusCode::UNPROCESSABLE_ENTITY,
                &format!("invalid field `{key}`"),
            );
        }
    }
    if next.title.trim().is_empty() {
        return json_error(StatusCode::UNPROCESSABLE_ENTITY, "title is required");
    }
    // The check above and this write are not one step; the fake serves tests, where a
    // concurrent edit between them is the test's own doing.
    let updated = s.edit_item(id, |item| {
        let (version, updated_at) = (item.version, item.updated_at);
        *item = next;
        item.version = version;
        item.updated_at = updated_at;
    });
    match updated {
        Some(item) => {
            let etag = item.etag();
            let mut resp = axum::Json(item).into_response();
            if let Ok(v) = HeaderValue::from_str(&etag) {
                resp.headers_mut().insert(header::ETAG, v);
            }
            resp
        }
        None => json_error(StatusCode::NOT_FOUND, "Not Found"),
    }
}

fn set_text(value: &Value, slot: &mut String) -> bool {
    match value.as_str() {
        Some(v) => {
            *slot = v.to_string();
            true
        }
        None => false,
    }
}

fn set_optional(value: &Value, slot: &mut Option<String>) -> bool {
    match value {
        Value::Null => *slot = None,
        Value::String(v) => *slot = Some(v.clone()),
        _ => return false,
    }
    true
}

async fn list_items(
    State(s): State<FakeState>,
    Query(params): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Response {
    let get = |k: &str| params.iter().find(|(key, _)| key == k).map(|(_, v)| v);
    let since = match get("since").map(|v| DateTime::parse_from_rfc3339(v)) {
        None => None,
        Some(Ok(t)) => Some(t.with_timezone(&Utc)),
        Some(Err(_)) => {
            return json_error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "since must be an RFC 3339 time",
            );
        }
    };
    let number = |k: &str, default: u64| match get(k) {
        None => Ok(default),
        Some(v) => v
            .parse::<u64>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("{k} must be a positive number")),
    };
    let (page, per_page) = match (number("page", 1), number("per_page", 30)) {
        (Ok(p), Ok(pp)) => (p, pp.min(100)),
        (Err(m), _) | (_, Err(m)) => return unprocessable(&m),
    };
    let marker = get("marker");
    let mut items: Vec<Item> = s
        .items()
        .into_iter()
        .filter(|i| since.is_none_or(|t| i.updated_at >= t))
        .filter(|i| marker.is_none_or(|m| i.marker.as_deref() == Some(m.as_str())))
        .collect();
    items.sort_by_key(|i| (i.updated_at, i.id));
    let total = items.len() as u64;
    let last = total.div_ceil(per_page).max(1);
    let shown: Vec<Item> = items
        .into_iter()
        .skip(((page - 1) * per_page) as usize)
        .take(per_page as usize)
        .collect();
    let tags: Vec<(u64, u64)> = shown.iter().map(|i| (i.id, i.version)).collect();
    let etag = content_etag(&(tags, page, per_page, last));
    let mut resp = json_with_etag(&headers, &etag, &shown);
    let base = format!("{}/items", origin(&headers));
    if let Some(link) = link_header(&base, &params, page, per_page, last)
        && let Ok(v) = HeaderValue::from_str(&link)
    {
        resp.headers_mut().insert(header::LINK, v);
    }
    resp
}

#[derive(Deserialize)]
struct NewComment {
    body: String,
    #[serde(default)]
    marker: Option<String>,
}

async fn create_comment(State(s): State<FakeState>, Path(id): Path<u64>, body: Bytes) -> Response {
    let new: NewComment = match parse_json(&body) {
        Ok(n) => n,
        Err(m) => return unprocessable(&m),
    };
    match s.add_comment(id, new.body, new.marker) {
        Some(c) => created(&c, &format!("/items/{id}/comments/{}", c.id), None),
        None => json_error(StatusCode::NOT_FOUND, "Not Found"),
    }
}

async fn list_comments(
    State(s): State<FakeState>,
    Path(id): Path<u64>,
    headers: HeaderMap,
) -> Response {
    if s.item(id).is_none() {
        return json_error(StatusCode::NOT_FOUND, "Not Found");
    }
    let comments = s.comments(id);
    let ids: Vec<u64> = comments.iter().map(|c| c.id).collect();
    json_with_etag(&headers, &content_etag(&(id, ids)), &comments)
}

/// The generic tracker API on `state`.
pub fn tracker_routes(state: FakeState) -> Router {
    Router::new()
        .route("/items", get(list_items).post(create_item))
        .route("/items/{id}", get(get_item).patch(patch_item))
        .route(
            "/items/{id}/comments",
            get(list_comments).post(create_comment),
        )
        .with_state(state)
}

// ---- the gate every request passes: log, faults, rate-limit headers ----

/// Largest request body the fake accepts.
const MAX_BODY: usize = 16 * 1024 * 1024;

async fn gate(
    State(s): State<FakeState>,
    ConnectInfo(conn): ConnectInfo<Connection>,
    req: Request,
    next: Next,
) -> Response {
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY).await else {
        return json_error(StatusCode::PAYLOAD_TOO_LARGE, "body too large");
    };
    let fault = s.take_fault(&parts.method, parts.uri.path());
    lock(&s.inner.log).push(RecordedRequest {
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().map(str::to_string),
        headers: parts
            .headers
            .iter()
            .filter(|(k, _)| *k != header::AUTHORIZATION)
            .map(|(k, v)| (k.to_string(), String::from_utf8_lossy(v.as_bytes()).into()))
            .collect(),
        authorized: parts.headers.contains_key(header::AUTHORIZATION),
        body: bytes.clone(),
        fault: fault.as_ref().map(FaultKind::name),
    });
    let required = lock(&s.inner.required_auth).clone();
    if let Some(required) = required {
        let sent = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if sent != Some(required.as_str()) {
            return json_error(StatusCode::UNAUTHORIZED, "Bad credentials");
        }
    }
    let req = Request::from_parts(parts, Body::from(bytes));
    let mut resp = match fault {
        None => next.run(req).await,
        Some(FaultKind::Respond {
            status,
            headers,
            body,
        }) => {
            let mut resp = Response::new(Body::from(body));
            *resp.status_mut() =
                StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            for (k, v) in headers {
                if let (Ok(k), Ok(v)) = (
                    HeaderName::from_bytes(k.as_bytes()),
                    HeaderValue::from_str(&v),
                ) {
                    resp.headers_mut().append(k, v);
                }
            }
            resp
        }
        Some(FaultKind::Delay(d)) => {
            tokio::time::sleep(d).await;
            next.run(req).await
        }
        Some(FaultKind::Hang) => {
            s.until_shutdown().await;
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
        Some(FaultKind::ApplyThenDrop) => {
            let resp = next.run(req).await;
            conn.kill();
            return resp;
        }
        Some(FaultKind::ApplyThenHang) => {
            let _applied = next.run(req).await;
            s.until_shutdown().await;
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
        Some(FaultKind::Drop) => {
            conn.kill();
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    };
    add_rate_headers(&s, resp.headers_mut());
    resp
}

fn add_rate_headers(s: &FakeState, headers: &mut HeaderMap) {
    let mut rate = lock(&s.inner.rate);
    let Some(r) = rate.as_mut() else {
        return;
    };
    if r.count_down {
        r.remaining = r.remaining.saturating_sub(1);
    }
    let mut put = |name: &'static str, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(HeaderName::from_static(name), v);
        }
    };
    put("x-ratelimit-limit", r.limit.to_string());
    put("x-ratelimit-remaining", r.remaining.to_string());
    put("x-ratelimit-reset", r.reset.to_string());
    if let Some(res) = &r.resource {
        put("x-ratelimit-resource", res.clone());
    }
}

// ---- connections that a fault can cut ----

/// One accepted connection, as handlers see it (`ConnectInfo<Connection>`).
#[derive(Debug, Clone)]
pub struct Connection {
    pub remote: SocketAddr,
    killed: Arc<AtomicBool>,
}

impl Connection {
    /// Cuts the connection: nothing more is written, so the response in flight is lost.
    pub fn kill(&self) {
        self.killed.store(true, Ordering::SeqCst);
    }
}

struct CuttableListener(TcpListener);

/// A TCP stream that fails every read and write once its connection is killed, which makes
/// hyper drop the connection without writing the response.
struct CuttableStream {
    inner: TcpStream,
    killed: Arc<AtomicBool>,
}

fn cut() -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionAborted, "cut by a fault")
}

impl AsyncRead for CuttableStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.killed.load(Ordering::SeqCst) {
            return Poll::Ready(Err(cut()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for CuttableStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.killed.load(Ordering::SeqCst) {
            return Poll::Ready(Err(cut()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.killed.load(Ordering::SeqCst) {
            return Poll::Ready(Err(cut()));
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.killed.load(Ordering::SeqCst) {
            return Poll::Ready(Err(cut()));
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl Listener for CuttableListener {
    type Io = CuttableStream;
    type Addr = Connection;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.0.accept().await {
                Ok((inner, remote)) => {
                    // Small requests and responses: do not wait for Nagle.
                    let _ = inner.set_nodelay(true);
                    let killed = Arc::new(AtomicBool::new(false));
                    let conn = Connection {
                        remote,
                        killed: Arc::clone(&killed),
                    };
                    return (CuttableStream { inner, killed }, conn);
                }
                // Out of file descriptors and the like: wait a moment, as axum's own does.
                Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<Connection> {
        Ok(Connection {
            remote: self.0.local_addr()?,
            killed: Arc::new(AtomicBool::new(false)),
        })
    }
}

impl Connected<IncomingStream<'_, CuttableListener>> for Connection {
    fn connect_info(stream: IncomingStream<'_, CuttableListener>) -> Self {
        stream.remote_addr().clone()
    }
}

// ---- the server ----

/// Builds a [`FakeRemote`]: take [`FakeRemoteBuilder::state`] to build extra routes on, add
/// them with [`FakeRemoteBuilder::routes`], then [`FakeRemoteBuilder::start`].
#[derive(Debug)]
pub struct FakeRemoteBuilder {
    state: FakeState,
    routes: Vec<Router>,
    tracker: bool,
}

impl FakeRemoteBuilder {
    /// The state the server will share (clone it into extra routes).
    pub fn state(&self) -> FakeState {
        self.state.clone()
    }

    /// Adds routes (with their state already applied). They pass the same gate: request
    /// log, faults, rate-limit headers.
    pub fn routes(mut self, router: Router) -> Self {
        self.routes.push(router);
        self
    }

    /// Leaves out the generic tracker routes (`/items…`).
    pub fn without_tracker(mut self) -> Self {
        self.tracker = false;
        self
    }

    /// Binds `127.0.0.1:0` and starts serving.
    pub async fn start(self) -> FakeRemote {
        let mut app = Router::new();
        if self.tracker {
            app = app.merge(tracker_routes(self.state.clone()));
        }
        for r in self.routes {
            app = app.merge(r);
        }
        let app = app
            .fallback(|| async { json_error(StatusCode::NOT_FOUND, "Not Found") })
            .layer(middleware::from_fn_with_state(self.state.clone(), gate));
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding 127.0.0.1:0 for the fake remote");
        let addr = listener
            .local_addr()
            .expect("a bound listener has an address");
        let server = axum::serve(
            CuttableListener(listener),
            app.into_make_service_with_connect_info::<Connection>(),
        );
        let task = tokio::spawn(async move {
            // `serve` only returns on an I/O error of the listener; the test then fails on
            // the requests it can no longer make.
            let _ = server.await;
        });
        FakeRemote {
            addr,
            state: self.state,
            task,
        }
    }
}

/// A running fake remote. Stops when dropped (hung requests are released).
#[derive(Debug)]
pub struct FakeRemote {
    addr: SocketAddr,
    state: FakeState,
    task: tokio::task::JoinHandle<()>,
}

impl std::ops::Deref for FakeRemote {
    type Target = FakeState;

    fn deref(&self) -> &FakeState {
        &self.state
    }
}

impl FakeRemote {
    /// A fake with only the generic tracker API.
    pub async fn start() -> FakeRemote {
        Self::builder().start().await
    }

    pub fn builder() -> FakeRemoteBuilder {
        FakeRemoteBuilder {
            state: FakeState::new(),
            routes: Vec::new(),
            tracker: true,
        }
    }

    /// `http://127.0.0.1:<port>` (no trailing slash).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn state(&self) -> &FakeState {
        &self.state
    }
}

impl Drop for FakeRemote {
    fn drop(&mut self) {
        self.state.inner.shutdown.send_replace(true);
        self.task.abort();
    }
}

/// Query pairs of a recorded request, decoded.
pub fn query_pairs(query: Option<&str>) -> HashMap<String, String> {
    query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The RFC 3339 form the fake writes times in (`2025-01-01T00:00:05Z`).
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}
