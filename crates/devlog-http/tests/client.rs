//! The client against a real HTTP server (the testkit's fake remote): conditional requests,
//! pagination of each system's shape, rate-limit pauses per client, error classification of
//! real exchanges, and secrets kept out of errors and logs.

#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode as AxumStatus};
use axum::response::{IntoResponse, Response as AxumResponse};
use axum::routing::get;
use devlog_http::{
    AdoContinuation, ClientOptions, EtagStore, HttpClient, HttpErrorKind, JiraOffset, JiraToken,
    LinkHeader, MemoryEtagStore, Pages, PauseReason, RateLimitConfig, StatusCode,
};
use devlog_testkit::fake_remote::{
    FakeRemote, FakeState, Fault, Item, NewItem, RateLimitHeaders, if_none_match,
};
use serde_json::{Value, json};

const TOKEN: &str = "ghp_Sup3rS3cretT0kenThatMustNeverLeak";

/// Everything logged by every test of this binary. The subscriber is global and installed
/// before any test sends a request: a thread-local one (`set_default`) misses events whose
/// callsites another test thread registered first.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn logs() -> &'static Captured {
    static LOGS: OnceLock<Captured> = OnceLock::new();
    LOGS.get_or_init(|| {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
        captured
    })
}

fn options(remote: &FakeRemote) -> ClientOptions {
    let mut limits = RateLimitConfig::unpaced();
    // Never sleep in these tests: any wait is reported instead.
    limits.max_wait = Duration::ZERO;
    ClientOptions::new("tracker", remote.url())
        .bearer(TOKEN.into())
        .timeouts(Duration::from_secs(5), Duration::from_secs(5))
        .rate_limits(limits)
}

fn client(remote: &FakeRemote) -> HttpClient {
    HttpClient::new(options(remote)).unwrap()
}

fn seed(remote: &FakeRemote, n: usize) {
    for i in 1..=n {
        remote.insert_item(NewItem {
            title: format!("item {i}"),
            ..NewItem::default()
        });
    }
}

#[tokio::test]
async fn an_unchanged_resource_costs_a_304_and_returns_the_cached_body() {
    logs();
    let remote = FakeRemote::start().await;
    seed(&remote, 1);
    let c = client(&remote);
    let first = c.get("/items/1").send().await.unwrap();
    assert!(!first.from_cache());
    let before = c.counters();
    assert_eq!(before.requests, 1);
    assert!(before.bytes_received > 0);

    let second = c.get("/items/1").send().await.unwrap();
    assert!(second.from_cache());
    assert_eq!(second.status(), StatusCode::OK);
    assert_eq!(second.body(), first.body());
    assert_eq!(second.json::<Item>().unwrap().title, "item 1");
    let sent = remote.requests();
    assert_eq!(sent[1].header("if-none-match"), Some("\"1-1\""));
    let cost = c.counters().since(&before);
    assert_eq!(
        (cost.requests, cost.not_modified, cost.bytes_received),
        (1, 1, 0)
    );

    // A change on the remote is seen at once.
    remote.edit_item(1, |i| i.title = "renamed".into());
    let third = c.get("/items/1").send().await.unwrap();
    assert!(!third.from_cache());
    assert_eq!(third.json::<Item>().unwrap().title, "renamed");
    // And is what gets cached next.
    assert!(c.get("/items/1").send().await.unwrap().from_cache());
}

#[tokio::test]
async fn an_idle_paginated_pull_is_all_304s() {
    logs();
    let remote = FakeRemote::start().await;
    seed(&remote, 5);
    let c = client(&remote);
    let pull = |c: HttpClient| async move {
        let mut pages = Pages::new(c.get("/items").query("per_page", "2"), LinkHeader);
        let mut ids = Vec::new();
        while let Some(page) = pages.next_page().await {
            ids.extend(
                page.unwrap()
                    .json::<Vec<Item>>()
                    .unwrap()
                    .iter()
                    .map(|i| i.id),
            );
        }
        ids
    };
    assert_eq!(pull(c.clone()).await, vec![1, 2, 3, 4, 5]);
    let before = c.counters();
    assert_eq!(pull(c.clone()).await, vec![1, 2, 3, 4, 5]);
    let idle = c.counters().since(&before);
    assert_eq!(idle.requests, 3);
    assert_eq!(idle.not_modified, 3);
    assert_eq!(idle.bytes_received, 0);
    assert_eq!(idle.errors, 0);
}

#[tokio::test]
async fn cache_entries_belong_to_one_identity() {
    logs();
    let remote = FakeRemote::start().await;
    seed(&remote, 1);
    let shared: Arc<dyn EtagStore> = Arc::new(MemoryEtagStore::default());
    let alice = HttpClient::new(options(&remote).etag_store(shared.clone())).unwrap();
    let bob = HttpClient::new(
        options(&remote)
            .bearer("another-token-for-bob".into())
            .etag_store(shared.clone()),
    )
    .unwrap();
    alice.get("/items/1").send().await.unwrap();
    let bobs = bob.get("/items/1").send().await.unwrap();
    assert!(!bobs.from_cache());
    let log = remote.requests();
    assert_eq!(log[1].header("if-none-match"), None);
    // Each now has its own entry.
    assert!(alice.get("/items/1").send().await.unwrap().from_cache());
    assert!(bob.get("/items/1").send().await.unwrap().from_cache());
}

#[tokio::test]
async fn a_deleted_resource_leaves_the_cache() {
    logs();
    let remote = FakeRemote::start().await;
    seed(&remote, 1);
    let store = Arc::new(MemoryEtagStore::default());
    let c = HttpClient::new(options(&remote).etag_store(store.clone())).unwrap();
    c.get("/items/1").send().await.unwrap();
    assert_eq!(store.len(), 1);
    remote.delete_item(1);
    let err = c.get("/items/1").send().await.unwrap_err();
    assert_eq!(err.kind(), HttpErrorKind::NotFound);
    assert!(store.is_empty());
    // no_cache() neither sends nor stores.
    seed(&remote, 1);
    c.get("/items/2").no_cache().send().await.unwrap();
    assert!(store.is_empty());
}

/// Azure DevOps-style list: a continuation token in a header on 200, none on 304 (so the
/// client must restore it from the cache).
async fn ado_list(
    State(s): State<FakeState>,
    Query(q): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> AxumResponse {
    let items = s.items();
    let start: usize = q
        .iter()
        .find(|(k, _)| k == "continuationToken")
        .map(|(_, v)| v.trim_start_matches("ct-").parse().unwrap())
        .unwrap_or(0);
    let page: Vec<u64> = items.iter().skip(start).take(2).map(|i| i.id).collect();
    let etag = format!("\"ado-{start}-{}\"", page.len());
    if if_none_match(&headers, &etag) {
        let mut r = AxumStatus::NOT_MODIFIED.into_response();
        r.headers_mut()
            .insert("etag", HeaderValue::from_str(&etag).unwrap());
        return r;
    }
    let mut r = axum::Json(json!({"count": page.len(), "value": page})).into_response();
    r.headers_mut()
        .insert("etag", HeaderValue::from_str(&etag).unwrap());
    if start + 2 < items.len() {
        r.headers_mut().insert(
            "x-ms-continuationtoken",
            HeaderValue::from_str(&format!("ct-{}", start + 2)).unwrap(),
        );
    }
    r
}

/// Jira `/rest/api/3/search`-style offset pages and `/rest/api/3/search/jql` token pages.
async fn jira_offset(
    State(s): State<FakeState>,
    Query(q): Query<Vec<(String, String)>>,
) -> axum::Json<Value> {
    let get = |k: &str| {
        q.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.parse::<usize>().unwrap())
    };
    let (start, max) = (get("startAt").unwrap(), get("maxResults").unwrap().min(2));
    let items = s.items();
    let page: Vec<Value> = items
        .iter()
        .skip(start)
        .take(max)
        .map(|i| json!({"id": i.id.to_string(), "key": format!("DL-{}", i.id)}))
        .collect();
    axum::Json(json!({
        "expand": "names,schema", "startAt": start, "maxResults": max,
        "total": items.len(), "issues": page
    }))
}

async fn jira_token(
    State(s): State<FakeState>,
    Query(q): Query<Vec<(String, String)>>,
) -> axum::Json<Value> {
    let start: usize = q
        .iter()
        .find(|(k, _)| k == "nextPageToken")
        .map(|(_, v)| v.parse().unwrap())
        .unwrap_or(0);
    let items = s.items();
    let page: Vec<Value> = items
        .iter()
        .skip(start)
        .take(2)
        .map(|i| json!({"id": i.id.to_string()}))
        .collect();
    let last = start + 2 >= items.len();
    let mut body = json!({"issues": page, "isLast": last});
    if !last {
        body["nextPageToken"] = json!((start + 2).to_string());
    }
    axum::Json(body)
}

async fn remote_with_system_routes() -> FakeRemote {
    let builder = FakeRemote::builder();
    let routes = Router::new()
        .route("/org/project/_apis/wit/workitems", get(ado_list))
        .route("/rest/api/3/search", get(jira_offset))
        .route("/rest/api/3/search/jql", get(jira_token))
        .with_state(builder.state());
    builder.routes(routes).start().await
}

#[tokio::test]
async fn azure_devops_continuation_tokens_survive_304s() {
    logs();
    let remote = remote_with_system_routes().await;
    seed(&remote, 5);
    let c = client(&remote);
    let pull = |c: HttpClient| async move {
        let mut pages = Pages::new(
            c.get("/org/project/_apis/wit/workitems")
                .query("api-version", "7.1"),
            AdoContinuation::default(),
        );
        let mut ids = Vec::new();
        let mut cached = Vec::new();
        while let Some(page) = pages.next_page().await {
            let page = page.unwrap();
            cached.push(page.from_cache());
            let body: Value = page.json().unwrap();
            ids.extend(
                body["value"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_u64().unwrap()),
            );
        }
        (ids, cached)
    };
    assert_eq!(pull(c.clone()).await, (vec![1, 2, 3, 4, 5], vec![false; 3]));
    // Second pass: every page 304, tokens restored from the cache.
    assert_eq!(pull(c.clone()).await, (vec![1, 2, 3, 4, 5], vec![true; 3]));
    let log = remote.requests_matching("GET /org/project/_apis/wit/workitems");
    assert!(
        log[1]
            .query
            .as_deref()
            .unwrap()
            .contains("continuationToken=ct-2")
    );
    assert!(log[1].query.as_deref().unwrap().contains("api-version=7.1"));
}

#[tokio::test]
async fn jira_offset_and_token_pagination() {
    logs();
    let remote = remote_with_system_routes().await;
    seed(&remote, 5);
    let c = client(&remote);
    let mut pages = Pages::new(
        c.get("/rest/api/3/search").query("jql", "project = DL"),
        // Asks for 50; the server caps pages at 2, and the paginator follows what came back.
        JiraOffset::new(50),
    );
    let mut keys = Vec::new();
    while let Some(page) = pages.next_page().await {
        let body: Value = page.unwrap().json().unwrap();
        keys.extend(
            body["issues"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["key"].as_str().unwrap().to_string()),
        );
    }
    assert_eq!(keys, vec!["DL-1", "DL-2", "DL-3", "DL-4", "DL-5"]);
    let starts: Vec<String> = remote
        .requests_matching("GET /rest/api/3/search")
        .iter()
        .map(|r| r.query.clone().unwrap())
        .collect();
    assert_eq!(
        starts,
        vec![
            "jql=project+%3D+DL&startAt=0&maxResults=50",
            "jql=project+%3D+DL&startAt=2&maxResults=50",
            "jql=project+%3D+DL&startAt=4&maxResults=50",
        ]
    );

    let mut pages = Pages::new(c.get("/rest/api/3/search/jql"), JiraToken::new(2));
    let mut ids = Vec::new();
    while let Some(page) = pages.next_page().await {
        let body: Value = page.unwrap().json().unwrap();
        ids.extend(
            body["issues"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["id"].as_str().unwrap().to_string()),
        );
    }
    assert_eq!(ids, vec!["1", "2", "3", "4", "5"]);
    assert_eq!(pages.fetched(), 3);
}

#[tokio::test]
async fn a_pagination_loop_is_an_error_not_a_hang() {
    logs();
    let builder = FakeRemote::builder();
    let routes = Router::new().route(
        "/loop",
        get(|headers: HeaderMap| async move {
            let origin = devlog_testkit::fake_remote::origin(&headers);
            let mut r = axum::Json(json!([])).into_response();
            r.headers_mut().insert(
                "link",
                HeaderValue::from_str(&format!("<{origin}/loop>; rel=\"next\"")).unwrap(),
            );
            r
        }),
    );
    let remote = builder.routes(routes).start().await;
    let c = client(&remote);
    let mut pages = Pages::new(c.get("/loop").no_cache(), LinkHeader);
    assert!(pages.next_page().await.unwrap().is_err());
    assert!(pages.next_page().await.is_none());
}

#[tokio::test]
async fn a_page_limit_is_an_error_not_a_short_list() {
    logs();
    let remote = FakeRemote::start().await;
    seed(&remote, 3);
    let c = client(&remote);
    let mut pages = Pages::new(c.get("/items").query("per_page", "1"), LinkHeader).max_pages(2);
    assert!(pages.next_page().await.unwrap().is_ok());
    assert!(pages.next_page().await.unwrap().is_ok());
    let err = pages.next_page().await.unwrap().unwrap_err();
    assert_eq!(err.kind(), HttpErrorKind::Decode);
    assert!(err.to_string().contains("more than 2 pages"), "{err}");
    assert_eq!(remote.requests().len(), 2);
}

#[tokio::test]
async fn a_link_to_another_host_is_refused_before_sending() {
    logs();
    let remote = FakeRemote::start().await;
    let c = client(&remote);
    let err = c
        .get("https://attacker.example/steal")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), HttpErrorKind::Build);
    assert!(err.to_string().contains("another origin"), "{err}");
    assert!(remote.requests().is_empty());
    assert_eq!(c.counters().requests, 0);
}

#[tokio::test]
async fn a_429_pauses_this_client_only() {
    logs();
    let remote = FakeRemote::start().await;
    seed(&remote, 1);
    let paused = client(&remote);
    let other = client(&remote);
    remote.inject(Fault::on("GET /items/1").rate_limited("3600"));
    let err = paused.get("/items/1").send().await.unwrap_err();
    assert_eq!(err.kind(), HttpErrorKind::RateLimited);
    assert_eq!(err.status(), Some(StatusCode::TOO_MANY_REQUESTS));
    assert_eq!(err.retry_after(), Some(Duration::from_secs(3600)));
    assert!(err.is_retryable());
    let state = paused.rate_limit_state();
    assert_eq!(state.pause_reason, Some(PauseReason::RetryAfter));
    assert!(state.paused_for.unwrap() > Duration::from_secs(3590));

    // The paused client does not send; it says how long is left.
    let sent = remote.requests().len();
    let local = paused.get("/items/1").send().await.unwrap_err();
    assert_eq!(local.kind(), HttpErrorKind::RateLimited);
    assert_eq!(local.status(), None);
    assert!(local.retry_after().unwrap() > Duration::from_secs(3590));
    assert_eq!(remote.requests().len(), sent);
    let counters = paused.counters();
    assert_eq!((counters.requests, counters.rate_limited), (1, 2));

    // Another client (another system, or another account) is not held back.
    other.get("/items/1").send().await.unwrap();
}

#[tokio::test]
async fn no_remaining_quota_pauses_until_the_reset() {
    logs();
    let remote = FakeRemote::start().await;
    let reset = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1800;
    remote.set_rate_limit(Some(RateLimitHeaders {
        limit: 5000,
        remaining: 0,
        reset,
        resource: Some("core".into()),
        count_down: false,
    }));
    let c = client(&remote);
    // The last allowed request succeeds...
    c.get("/items").send().await.unwrap();
    let state = c.rate_limit_state();
    assert_eq!(state.pause_reason, Some(PauseReason::Exhausted));
    assert_eq!(state.remaining, Some(0));
    assert_eq!(state.resource.as_deref(), Some("core"));
    let left = state.paused_for.unwrap();
    assert!(
        left > Duration::from_secs(1700) && left <= Duration::from_secs(1800),
        "{left:?}"
    );
    // ... and nothing more is sent until the reset.
    let err = c.get("/items").send().await.unwrap_err();
    assert_eq!(err.kind(), HttpErrorKind::RateLimited);
    assert_eq!(remote.requests().len(), 1);
}

#[tokio::test]
async fn real_exchanges_are_classified() {
    logs();
    let remote = FakeRemote::start().await;
    seed(&remote, 1);
    let fresh = || client(&remote);
    let cases: Vec<(Fault, HttpErrorKind, Option<u16>)> = vec![
        (Fault::on("GET /items/1").status(401), HttpErrorKind::Auth, Some(401)),
        (
            Fault::on("GET /items/1")
                .status(403)
                .body(r#"{"message":"Must have admin rights to Repository."}"#),
            HttpErrorKind::Forbidden,
            Some(403),
        ),
        (
            Fault::on("GET /items/1")
                .status(403)
                .body(r#"{"message":"You have exceeded a secondary rate limit and have been temporarily blocked from content creation."}"#),
            HttpErrorKind::RateLimited,
            Some(403),
        ),
        (Fault::on("GET /items/1").status(409), HttpErrorKind::Conflict, Some(409)),
        (Fault::on("GET /items/1").status(422), HttpErrorKind::Invalid, Some(422)),
        (Fault::on("GET /items/1").status(408), HttpErrorKind::Transient, Some(408)),
        (Fault::on("GET /items/1").status(500), HttpErrorKind::Transient, Some(500)),
        (Fault::on("GET /items/1").status(503), HttpErrorKind::Transient, Some(503)),
        (
            Fault::on("GET /items/1").status(503).header("retry-after", "2"),
            HttpErrorKind::RateLimited,
            Some(503),
        ),
        (
            Fault::on("GET /items/1").drop_connection(),
            HttpErrorKind::Transient,
            None,
        ),
    ];
    for (fault, kind, status) in cases {
        let label = format!("{:?}", fault.kind);
        remote.inject(fault);
        let err = fresh().get("/items/1").send().await.unwrap_err();
        assert_eq!(err.kind(), kind, "{label}: {err}");
        assert_eq!(err.status().map(|s| s.as_u16()), status, "{label}");
        assert_eq!(err.request().path, "/items/1");
    }
    let forbidden = {
        remote.inject(
            Fault::on("GET /items/1")
                .status(403)
                .body(r#"{"message":"Must have admin rights to Repository."}"#),
        );
        fresh().get("/items/1").send().await.unwrap_err()
    };
    assert!(
        forbidden
            .to_string()
            .ends_with("Must have admin rights to Repository."),
        "{forbidden}"
    );
    // 412 from If-Match is a conflict.
    let c = fresh();
    remote.edit_item(1, |i| i.status = "closed".into());
    let err = c
        .patch("/items/1")
        .if_match("\"1-1\"")
        .json(&json!({"title": "x"}))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), HttpErrorKind::Conflict);
    assert_eq!(err.request().method, devlog_http::Method::PATCH);
}

#[tokio::test]
async fn credentials_reach_the_server_in_the_right_header() {
    logs();
    let builder = FakeRemote::builder();
    let echo = Router::new().route(
        "/whoami",
        get(|headers: HeaderMap| async move {
            let auth = headers
                .get("authorization")
                .map(|v| v.to_str().unwrap().to_string());
            axum::Json(json!({ "auth": auth }))
        }),
    );
    let remote = builder.routes(echo).start().await;
    let seen = |c: HttpClient| async move {
        let body: Value = c.get("/whoami").send().await.unwrap().json().unwrap();
        body["auth"].as_str().map(str::to_string)
    };
    assert_eq!(seen(client(&remote)).await, Some(format!("Bearer {TOKEN}")));
    let jira =
        HttpClient::new(options(&remote).basic("me@example.com", "api-token".into())).unwrap();
    // base64("me@example.com:api-token")
    assert_eq!(
        seen(jira).await.as_deref(),
        Some("Basic bWVAZXhhbXBsZS5jb206YXBpLXRva2Vu")
    );
    let anonymous = HttpClient::new(ClientOptions::new("tracker", remote.url())).unwrap();
    assert_eq!(seen(anonymous).await, None);
    // Default headers and the user agent go along.
    let custom =
        HttpClient::new(options(&remote).header("x-github-api-version", "2022-11-28")).unwrap();
    custom.get("/whoami").send().await.unwrap();
    let last = remote.requests().pop().unwrap();
    assert_eq!(last.header("x-github-api-version"), Some("2022-11-28"));
    assert_eq!(last.header("user-agent"), Some(devlog_http::USER_AGENT));
}

#[tokio::test]
async fn writes_send_their_body_and_count_it() {
    logs();
    let remote = FakeRemote::start().await;
    let c = client(&remote);
    let body = json!({"title": "counted", "marker": "devlog:1"});
    let resp = c.post("/items").json(&body).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let counters = c.counters();
    assert_eq!(
        counters.bytes_sent,
        serde_json::to_vec(&body).unwrap().len() as u64
    );
    assert_eq!(counters.bytes_received, resp.body().len() as u64);
    // A JSON Patch body keeps its media type.
    c.patch("/items/1")
        .json_as(&json!({"title": "x"}), "application/json")
        .send()
        .await
        .unwrap();
    let raw = c
        .patch("/items/1")
        .body(
            r#"[{"op":"add","path":"/fields/System.Title","value":"x"}]"#,
            "application/json-patch+json",
        )
        .send()
        .await
        .unwrap_err();
    // The tracker only speaks merge-style JSON; what matters here is what was sent.
    assert_eq!(raw.kind(), HttpErrorKind::Invalid);
    let sent = remote.requests().pop().unwrap();
    assert_eq!(
        sent.header("content-type"),
        Some("application/json-patch+json")
    );
}

#[tokio::test]
async fn tokens_and_query_values_never_reach_logs_or_errors() {
    logs();
    let remote = FakeRemote::start().await;
    seed(&remote, 1);
    let query_secret = "q-Secr3t-Value-987";
    let mut errors = Vec::new();
    let c = client(&remote);
    c.get("/items/1")
        .query("access_token", query_secret)
        .attempt(3)
        .send()
        .await
        .unwrap();
    // A server that echoes the token back in its error.
    remote.inject(
        Fault::on("GET /items/1")
            .status(401)
            .body(&format!(r#"{{"message":"Bad credentials: {TOKEN}"}}"#)),
    );
    errors.push(c.get("/items/1").send().await.unwrap_err());
    remote.inject(Fault::on("POST /items").apply_then_drop());
    errors.push(
        c.post("/items")
            .query("jql", query_secret)
            .json(&json!({"title": "x"}))
            .send()
            .await
            .unwrap_err(),
    );
    remote.inject(Fault::on("GET /items").rate_limited("600"));
    errors.push(
        c.get("/items")
            .query("since", query_secret)
            .send()
            .await
            .unwrap_err(),
    );
    // Refused locally while paused.
    errors.push(
        c.get("/items")
            .query("q", query_secret)
            .send()
            .await
            .unwrap_err(),
    );
    errors.push(
        c.get(&format!("https://elsewhere.example/?t={TOKEN}"))
            .send()
            .await
            .unwrap_err(),
    );
    let decode = client(&remote)
        .get("/items/1")
        .query("k", query_secret)
        .send()
        .await
        .unwrap()
        .json::<Vec<u8>>()
        .unwrap_err();
    errors.push(decode);
    assert_eq!(errors.len(), 6);

    for err in &errors {
        let text = format!("{err} | {err:?}");
        assert!(!text.contains(TOKEN), "token in error: {text}");
        assert!(!text.contains(query_secret), "query value in error: {text}");
    }
    assert!(
        errors[0].to_string().contains("[REDACTED]"),
        "{}",
        errors[0]
    );
    assert!(format!("{c:?}").contains("REDACTED"));

    // Every test's requests are in the log; those of this test show what is kept ...
    let logs = String::from_utf8(logs().0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("path=/items/1?access_token=*"), "{logs}");
    assert!(logs.contains("status=200"), "{logs}");
    assert!(logs.contains("attempt=3"), "{logs}");
    assert!(logs.contains("duration_ms="), "{logs}");
    assert!(logs.contains("rate limit: pausing this client"), "{logs}");
    assert!(logs.contains("status=401"), "{logs}");
    // ... and nothing secret.
    assert!(!logs.contains(TOKEN), "token in logs");
    assert!(!logs.contains(query_secret), "query value in logs");
    assert!(
        !logs.to_ascii_lowercase().contains("authorization"),
        "a header in logs"
    );
}
