//! The fake remote's own tests: the tracker API, ETags, pagination, every fault kind, the
//! request log, rate-limit headers, and extension routes.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use devlog_http::{
    ClientOptions, HttpClient, HttpError, LinkHeader, Pages, RateLimitConfig, StatusCode,
    TransientCause,
};
use devlog_testkit::fake_remote::{
    FakeRemote, FakeState, Fault, Item, NewItem, RateLimitHeaders, fake_epoch, path_matches,
    query_pairs, rfc3339,
};
use serde_json::{Value, json};

const TOKEN: &str = "fake-remote-token-1234";

/// A client with no pacing and a short timeout, so nothing in these tests waits on limits.
fn client(remote: &FakeRemote) -> HttpClient {
    let mut limits = RateLimitConfig::unpaced();
    limits.max_wait = Duration::ZERO;
    HttpClient::new(
        ClientOptions::new("tracker", remote.url())
            .bearer(TOKEN.into())
            .timeouts(Duration::from_secs(5), Duration::from_secs(5))
            .rate_limits(limits)
            // These tests look at the raw 304s themselves.
            .conditional_gets(false),
    )
    .unwrap()
}

async fn create(c: &HttpClient, body: Value) -> Item {
    let resp = c.post("/items").json(&body).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    resp.json().unwrap()
}

#[tokio::test]
async fn items_are_created_read_patched_and_commented() {
    let remote = FakeRemote::start().await;
    let c = client(&remote);
    let a = create(
        &c,
        json!({"title": "First", "labels": ["bug"], "marker": "devlog:1"}),
    )
    .await;
    let b = create(&c, json!({"title": "Second", "status": "in-progress"})).await;
    assert_eq!((a.id, b.id), (1, 2));
    assert_eq!(a.status, "open");
    assert_eq!(a.version, 1);
    assert_eq!(a.labels, vec!["bug"]);
    assert!(b.updated_at > a.updated_at);
    assert_eq!(remote.items_created(), 2);

    let got = c.get("/items/1").send().await.unwrap();
    assert_eq!(got.etag(), Some("\"1-1\""));
    assert_eq!(got.json::<Item>().unwrap(), a);

    let patched: Item = c
        .patch("/items/1")
        .if_match(&a.etag())
        .json(&json!({"status": "done", "assignee": "ana", "labels": ["bug", "p1"]}))
        .send()
        .await
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(patched.status, "done");
    assert_eq!(patched.assignee.as_deref(), Some("ana"));
    assert_eq!(patched.version, 2);
    assert!(patched.updated_at > b.updated_at);
    assert_eq!(remote.item(1).unwrap(), patched);
    // Clearing an optional field with null.
    let cleared: Item = c
        .patch("/items/1")
        .json(&json!({"assignee": null}))
        .send()
        .await
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(cleared.assignee, None);

    let comment: Value = c
        .post("/items/1/comments")
        .json(&json!({"body": "a note", "marker": "note:1"}))
        .send()
        .await
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(comment["body"], "a note");
    assert_eq!(comment["item_id"], 1);
    // A comment changes the item (as on GitHub, where it bumps updated_at).
    assert_eq!(remote.item(1).unwrap().version, 4);
    let comments: Vec<Value> = c
        .get("/items/1/comments")
        .send()
        .await
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(comments.len(), 1);
    assert_eq!(remote.comments(1)[0].marker.as_deref(), Some("note:1"));
}

#[tokio::test]
async fn bad_requests_get_json_errors() {
    let remote = FakeRemote::start().await;
    let c = client(&remote);
    let err = c
        .post("/items")
        .json(&json!({"description": "no title"}))
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, HttpError::Invalid { message, .. } if message == "title is required"),
        "{err}"
    );
    let err = c.get("/items/99").send().await.unwrap_err();
    assert!(matches!(err, HttpError::NotFound { .. }), "{err}");
    let err = c
        .patch("/items/99")
        .json(&json!({}))
        .send()
        .await
        .unwrap_err();
    assert!(matches!(err, HttpError::NotFound { .. }), "{err}");
    let item = create(&c, json!({"title": "x"})).await;
    let err = c
        .patch(&format!("/items/{}", item.id))
        .json(&json!({"colour": "red"}))
        .send()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("invalid field `colour`"), "{err}");
    let err = c.get("/nowhere").send().await.unwrap_err();
    assert!(matches!(err, HttpError::NotFound { .. }), "{err}");
    let err = c.get("/items?since=yesterday").send().await.unwrap_err();
    assert!(err.to_string().contains("RFC 3339"), "{err}");
    assert_eq!(remote.items_created(), 1);
}

#[tokio::test]
async fn etags_answer_304_until_the_item_changes() {
    let remote = FakeRemote::start().await;
    let c = client(&remote);
    let item = create(&c, json!({"title": "Watched"})).await;
    let etag = item.etag();

    let same = c
        .get("/items/1")
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(same.status(), StatusCode::NOT_MODIFIED);
    assert!(same.body().is_empty());
    assert_eq!(same.etag(), Some(etag.as_str()));
    // Weak validators and lists of tags match too.
    let weak = c
        .get("/items/1")
        .header("if-none-match", &format!("\"x\", W/{etag}"))
        .send()
        .await
        .unwrap();
    assert_eq!(weak.status(), StatusCode::NOT_MODIFIED);

    // Someone edits the item on the remote.
    remote.edit_item(1, |i| i.title = "Renamed".into()).unwrap();
    let changed = c
        .get("/items/1")
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), StatusCode::OK);
    assert_eq!(changed.json::<Item>().unwrap().title, "Renamed");
    assert_ne!(changed.etag(), Some(etag.as_str()));
}

#[tokio::test]
async fn if_match_guards_writes() {
    let remote = FakeRemote::start().await;
    let c = client(&remote);
    let item = create(&c, json!({"title": "Guarded"})).await;
    remote.edit_item(item.id, |i| i.description = "remote edit".into());
    let err = c
        .patch("/items/1")
        .if_match(&item.etag())
        .json(&json!({"title": "mine"}))
        .send()
        .await
        .unwrap_err();
    assert!(matches!(err, HttpError::Conflict { .. }), "{err}");
    assert_eq!(err.status(), Some(StatusCode::PRECONDITION_FAILED));
    assert_eq!(remote.item(1).unwrap().title, "Guarded");
    // The current tag, or `*`, lets the write through.
    let current = remote.item(1).unwrap().etag();
    c.patch("/items/1")
        .if_match(&current)
        .json(&json!({"title": "mine"}))
        .send()
        .await
        .unwrap();
    c.patch("/items/1")
        .if_match("*")
        .json(&json!({"title": "again"}))
        .send()
        .await
        .unwrap();
    assert_eq!(remote.item(1).unwrap().title, "again");
}

#[tokio::test]
async fn lists_filter_by_since_and_marker_and_paginate_with_link() {
    let remote = FakeRemote::start().await;
    let c = client(&remote);
    for n in 1..=5 {
        remote.insert_item(NewItem {
            title: format!("item {n}"),
            marker: (n % 2 == 1).then(|| "odd".to_string()),
            ..NewItem::default()
        });
    }
    // Page 1 of 3.
    let first = c.get("/items?per_page=2").send().await.unwrap();
    let link = first.header("link").unwrap().to_string();
    assert!(
        link.contains("rel=\"next\"") && link.contains("rel=\"last\""),
        "{link}"
    );
    assert!(!link.contains("rel=\"prev\""), "{link}");
    let ids: Vec<u64> = first
        .json::<Vec<Item>>()
        .unwrap()
        .iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(ids, vec![1, 2]);

    // Walking the Link headers gives every item once, oldest first.
    let mut pages = Pages::new(c.get("/items").query("per_page", "2"), LinkHeader);
    let mut all = Vec::new();
    while let Some(page) = pages.next_page().await {
        all.extend(page.unwrap().json::<Vec<Item>>().unwrap());
    }
    assert_eq!(pages.fetched(), 3);
    assert_eq!(
        all.iter().map(|i| i.id).collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5]
    );

    // The last page links back, not forward.
    let last = c.get("/items?per_page=2&page=3").send().await.unwrap();
    let link = last.header("link").unwrap();
    assert!(
        link.contains("rel=\"prev\"") && !link.contains("rel=\"next\""),
        "{link}"
    );

    // since: items updated at or after the time; links keep the filter.
    let since = rfc3339(all[2].updated_at);
    let recent = c
        .get("/items")
        .query("since", &since)
        .query("per_page", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(recent.json::<Vec<Item>>().unwrap()[0].id, 3);
    let next = recent.header("link").unwrap();
    assert!(next.contains("since=2025-01-01T00%3A00%3A03Z"), "{next}");
    let recent_ids: Vec<u64> = {
        let mut pages = Pages::new(
            c.get("/items")
                .query("since", &since)
                .query("per_page", "1"),
            LinkHeader,
        );
        let mut ids = Vec::new();
        while let Some(p) = pages.next_page().await {
            ids.extend(p.unwrap().json::<Vec<Item>>().unwrap().iter().map(|i| i.id));
        }
        ids
    };
    assert_eq!(recent_ids, vec![3, 4, 5]);

    // marker: exact match.
    let odd: Vec<Item> = c
        .get("/items")
        .query("marker", "odd")
        .send()
        .await
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(odd.iter().map(|i| i.id).collect::<Vec<_>>(), vec![1, 3, 5]);
    // An edit moves an item to the end of the updated-since order.
    remote.edit_item(1, |i| i.status = "closed".into());
    let after: Vec<Item> = c.get("/items").send().await.unwrap().json().unwrap();
    assert_eq!(after.last().unwrap().id, 1);
}

#[tokio::test]
async fn list_etags_change_only_when_the_page_changes() {
    let remote = FakeRemote::start().await;
    let c = client(&remote);
    remote.insert_item(NewItem {
        title: "a".into(),
        ..NewItem::default()
    });
    let first = c.get("/items").send().await.unwrap();
    let etag = first.etag().unwrap().to_string();
    let again = c
        .get("/items")
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    remote.insert_item(NewItem {
        title: "b".into(),
        ..NewItem::default()
    });
    let changed = c
        .get("/items")
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), StatusCode::OK);
    assert_eq!(changed.json::<Vec<Item>>().unwrap().len(), 2);
}

#[tokio::test]
async fn fault_respond_sends_the_status_headers_and_body() {
    let remote = FakeRemote::start().await;
    let c = client(&remote);
    remote.inject(Fault::on("POST /items").rate_limited("120"));
    remote.inject(Fault::on("GET /items/*").status(500));
    remote.inject(
        Fault::on("GET /items")
            .status(503)
            .header("retry-after", "3")
            .body(r#"{"message":"maintenance"}"#),
    );

    let err = c
        .post("/items")
        .json(&json!({"title": "x"}))
        .send()
        .await
        .unwrap_err();
    assert!(matches!(err, HttpError::RateLimited { .. }), "{err}");
    assert_eq!(err.retry_after(), Some(Duration::from_secs(120)));
    // The handler did not run.
    assert_eq!(remote.items_created(), 0);

    let err = client(&remote).get("/items/1").send().await.unwrap_err();
    assert!(
        matches!(
            err,
            HttpError::Transient {
                cause: TransientCause::Server,
                ..
            }
        ),
        "{err}"
    );
    let err = client(&remote).get("/items").send().await.unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::SERVICE_UNAVAILABLE));
    assert_eq!(err.retry_after(), Some(Duration::from_secs(3)));
    assert_eq!(remote.pending_faults(), 0);
    // Faults are used up: the same requests now succeed.
    let fresh = client(&remote);
    create(&fresh, json!({"title": "x"})).await;
    fresh.get("/items/1").send().await.unwrap();
}

#[tokio::test]
async fn faults_match_by_method_and_path_pattern_and_count() {
    let remote = FakeRemote::start().await;
    let c = client(&remote);
    create(&c, json!({"title": "x"})).await;
    remote.inject(Fault::on("PATCH /items/*").status(500).times(2));
    // A GET is not hit by a PATCH fault.
    c.get("/items/1").send().await.unwrap();
    for _ in 0..2 {
        let err = c
            .patch("/items/1")
            .json(&json!({"title": "y"}))
            .send()
            .await
            .unwrap_err();
        assert!(err.is_retryable());
    }
    c.patch("/items/1")
        .json(&json!({"title": "y"}))
        .send()
        .await
        .unwrap();
    // `* /items/**` hits any method below /items.
    remote.inject(Fault::on("* /items/**").status(502));
    let err = c.get("/items/1/comments").send().await.unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::BAD_GATEWAY));
    // The log says which requests a fault hit.
    let faulted: Vec<String> = remote
        .requests()
        .iter()
        .filter(|r| r.fault.is_some())
        .map(|r| r.line())
        .collect();
    assert_eq!(
        faulted,
        vec!["PATCH /items/1", "PATCH /items/1", "GET /items/1/comments"]
    );
}

#[test]
fn path_patterns() {
    let table = [
        ("/items", "/items", true),
        ("/items", "/items/1", false),
        ("/items/*", "/items/1", true),
        ("/items/*", "/items", false),
        ("/items/*", "/items/1/comments", false),
        ("/items/*/comments", "/items/7/comments", true),
        ("/items/**", "/items", true),
        ("/items/**", "/items/1/comments", true),
        ("/**", "/anything/at/all", true),
        ("/repos/*/*/issues", "/repos/o/r/issues", true),
        ("/repos/*/*/issues", "/repos/o/issues", false),
    ];
    for (pattern, path, expected) in table {
        assert_eq!(path_matches(pattern, path), expected, "{pattern} {path}");
    }
}

#[tokio::test]
async fn fault_delay_answers_normally_but_later() {
    let remote = FakeRemote::start().await;
    let c = client(&remote);
    create(&c, json!({"title": "slow"})).await;
    remote.inject(Fault::on("GET /items/1").delay(Duration::from_millis(150)));
    let started = Instant::now();
    let resp = c.get("/items/1").send().await.unwrap();
    // The server slept at least this long before answering; how much longer is not asserted.
    assert!(started.elapsed() >= Duration::from_millis(150));
    assert_eq!(resp.json::<Item>().unwrap().title, "slow");
}

#[tokio::test]
async fn fault_hang_lets_the_client_time_out() {
    let remote = FakeRemote::start().await;
    remote.inject(Fault::on("GET /items").hang());
    let c = HttpClient::new(
        ClientOptions::new("tracker", remote.url())
            .timeouts(Duration::from_secs(5), Duration::from_millis(200))
            .rate_limits(RateLimitConfig::unpaced()),
    )
    .unwrap();
    let err = c.get("/items").send().await.unwrap_err();
    assert!(
        matches!(
            err,
            HttpError::Transient {
                cause: TransientCause::Timeout,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(err.status(), None);
    // The server itself is fine.
    c.get("/items").send().await.unwrap();
}

#[tokio::test]
async fn fault_apply_then_drop_creates_the_item_but_loses_the_response() {
    let remote = FakeRemote::start().await;
    let c = client(&remote);
    remote.inject(Fault::on("POST /items").apply_then_drop());
    let err = c
        .post("/items")
        .json(&json!({"title": "created in the dark", "marker": "devlog:abc"}))
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            HttpError::Transient {
                cause: TransientCause::Connection,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(err.status(), None, "no response arrived: {err}");
    // The remote did create it: a retry must look it up by marker, not create it again.
    assert_eq!(remote.items_created(), 1);
    let found: Vec<Item> = c
        .get("/items")
        .query("marker", "devlog:abc")
        .send()
        .await
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].title, "created in the dark");
    assert_eq!(remote.items_with_marker("devlog:abc").len(), 1);
}

#[tokio::test]
async fn fault_drop_closes_the_connection_without_doing_anything() {
    let remote = FakeRemote::start().await;
    let c = client(&remote);
    remote.inject(Fault::on("POST /items").drop_connection());
    let err = c
        .post("/items")
        .json(&json!({"title": "never"}))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert_eq!(err.status(), None);
    assert_eq!(remote.items_created(), 0);
    assert!(remote.items().is_empty());
    // The next connection works.
    create(&c, json!({"title": "now"})).await;
}

#[tokio::test]
async fn the_request_log_keeps_everything_but_the_authorization_header() {
    let remote = FakeRemote::start().await;
    let c = client(&remote);
    create(&c, json!({"title": "logged"})).await;
    c.get("/items")
        .query("since", "2025-01-01T00:00:00Z")
        .query("marker", "a b")
        .send()
        .await
        .unwrap();
    let log = remote.requests();
    assert_eq!(log.len(), 2);
    let post = &log[0];
    assert_eq!(post.line(), "POST /items");
    assert!(post.authorized);
    assert_eq!(post.header("authorization"), None);
    assert_eq!(post.header("content-type"), Some("application/json"));
    assert!(post.header("user-agent").unwrap().starts_with("devlog/"));
    assert_eq!(post.body_json().unwrap()["title"], "logged");
    assert!(
        !format!("{log:?}").contains(TOKEN),
        "the log must not hold the token"
    );
    let get = &log[1];
    let q = query_pairs(get.query.as_deref());
    assert_eq!(q["since"], "2025-01-01T00:00:00Z");
    assert_eq!(q["marker"], "a b");
    assert!(get.body.is_empty());
    assert_eq!(remote.requests_matching("GET /items").len(), 1);
    assert_eq!(remote.requests_matching("* /items").len(), 2);
    remote.clear_requests();
    assert!(remote.requests().is_empty());
}

#[tokio::test]
async fn rate_limit_headers_go_on_every_response() {
    let remote = FakeRemote::start().await;
    remote.set_rate_limit(Some(RateLimitHeaders {
        limit: 5000,
        remaining: 3,
        reset: 1_735_693_200,
        resource: Some("core".into()),
        count_down: true,
    }));
    let c = client(&remote);
    let ok = c.get("/items").send().await.unwrap();
    assert_eq!(ok.header("x-ratelimit-limit"), Some("5000"));
    assert_eq!(ok.header("x-ratelimit-remaining"), Some("2"));
    assert_eq!(ok.header("x-ratelimit-reset"), Some("1735693200"));
    assert_eq!(ok.header("x-ratelimit-resource"), Some("core"));
    // On errors too, and the count goes down per request.
    let err = c.get("/items/42").send().await.unwrap_err();
    assert!(matches!(err, HttpError::NotFound { .. }));
    assert_eq!(c.rate_limit_state().remaining, Some(1));
    assert_eq!(c.rate_limit_state().limit, Some(5000));
    assert_eq!(remote.rate_limit().unwrap().remaining, 1);
    remote.set_rate_limit(None);
    let plain = c.get("/items").send().await.unwrap();
    assert_eq!(plain.header("x-ratelimit-remaining"), None);
}

#[tokio::test]
async fn extension_routes_share_the_gate_and_the_state() {
    // A system-specific fake adds its own routes on the shared state.
    let builder = FakeRemote::builder();
    let state: FakeState = builder.state();
    let ext = Router::new()
        .route(
            "/rest/api/3/myself",
            get(
                |axum::extract::State(s): axum::extract::State<FakeState>| async move {
                    axum::Json(json!({"items": s.items().len(), "now": rfc3339(s.now())}))
                },
            ),
        )
        .with_state(state.clone());
    let remote = builder.routes(ext).start().await;
    let c = client(&remote);
    create(&c, json!({"title": "x"})).await;
    let me: Value = c
        .get("/rest/api/3/myself")
        .send()
        .await
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(me["items"], 1);
    // The fake's clock moved one second for the one change.
    assert_eq!(
        me["now"],
        rfc3339(fake_epoch() + chrono::Duration::seconds(1))
    );
    remote.inject(Fault::on("GET /rest/**").status(500));
    assert!(c.get("/rest/api/3/myself").send().await.is_err());
    assert_eq!(remote.requests_matching("GET /rest/api/3/myself").len(), 2);
    // The clock can be moved by the test.
    state.advance(Duration::from_secs(3600));
    assert_eq!(state.now(), fake_epoch() + chrono::Duration::seconds(3601));
}

#[tokio::test]
async fn a_fake_without_the_tracker_serves_only_its_own_routes() {
    let remote = FakeRemote::builder()
        .without_tracker()
        .routes(Router::new().route("/ping", get(|| async { "pong" })))
        .start()
        .await;
    let c = client(&remote);
    assert_eq!(c.get("/ping").send().await.unwrap().text(), "pong");
    let err = c.get("/items").send().await.unwrap_err();
    assert!(matches!(err, HttpError::NotFound { .. }));
}

#[tokio::test]
async fn direct_state_helpers_simulate_remote_edits() {
    let remote = FakeRemote::start().await;
    let item = remote.insert_item(NewItem {
        title: "on the remote".into(),
        labels: vec!["x".into()],
        ..NewItem::default()
    });
    // Direct inserts are not API creations.
    assert_eq!(remote.items_created(), 0);
    let edited = remote
        .edit_item(item.id, |i| i.labels.push("y".into()))
        .unwrap();
    assert_eq!(edited.version, 2);
    assert!(edited.updated_at > item.updated_at);
    assert!(remote.edit_item(999, |_| {}).is_none());
    assert_eq!(remote.delete_item(item.id).unwrap().labels, vec!["x", "y"]);
    assert!(remote.item(item.id).is_none());
}
