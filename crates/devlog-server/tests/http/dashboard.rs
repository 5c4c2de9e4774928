//! The dashboard's pages through the router: every page answers HTML with the security
//! headers, reads what the API reads, escapes entry text, and answers bad input with the
//! API's message as a page. (The pages in a real browser: devlog-cli's tests/dashboard_browser.rs.)

use axum::http::StatusCode;
use serde_json::json;

use crate::common::Harness;

fn assert_page(r: &crate::common::Reply, what: &str) {
    assert_eq!(r.status, StatusCode::OK, "{what}: {}", r.text());
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("text/html; charset=utf-8"),
        "{what}"
    );
    let csp = r.header("content-security-policy").unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(r.header("x-frame-options").as_deref(), Some("DENY"));
    assert_eq!(
        r.header("x-content-type-options").as_deref(),
        Some("nosniff")
    );
    let html = r.text();
    assert!(!html.contains("<script>"), "{what}: inline script: {html}");
    assert!(
        !html.contains(" style="),
        "{what}: inline style breaks the CSP"
    );
}

#[tokio::test]
async fn every_page_answers_with_the_security_headers() {
    let h = Harness::new().await;
    let a = h.create("Add CSV export", "feature").await;
    h.patch(
        &format!("/api/v1/entries/{}", a["id"].as_str().unwrap()),
        json!({"status": "in-progress"}),
    )
    .await;
    for page in [
        "/",
        "/entries",
        "/entries?status=in-progress&sort=title&asc=true",
        "/entries?q=csv",
        "/entries/1",
        "/entries/new",
        "/entries/1/edit",
        "/board",
        "/reports",
    ] {
        let r = h.get(page).await;
        assert_page(&r, page);
        assert!(
            r.text().contains("Add CSV export") || page.contains("new"),
            "{page}"
        );
    }
    let css = h.get("/assets/dashboard.css").await;
    assert_eq!(css.status, StatusCode::OK);
    assert_eq!(
        css.header("content-type").as_deref(),
        Some("text/css; charset=utf-8")
    );
    let js = h.get("/assets/dashboard.js").await;
    assert_eq!(
        js.header("content-type").as_deref(),
        Some("text/javascript; charset=utf-8")
    );
    assert_eq!(h.get("/assets/nope.js").await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_list_filters_sorts_searches_and_pages_like_the_api() {
    let h = Harness::new().await;
    for i in 0..55 {
        h.create(&format!("Task number {i:02}"), "task").await;
    }
    h.create("Broken export", "bugfix").await;
    let r = h.get("/entries?type=bugfix").await;
    assert_page(&r, "filtered");
    let html = r.text();
    assert!(
        html.contains("Broken export") && !html.contains("Task number"),
        "{html}"
    );
    // Empty fields of the filter form are ignored, not errors.
    let r = h.get("/entries?q=&status=&type=&sort=&assignee=").await;
    assert_page(&r, "empty fields");
    let html = r.text();
    assert!(html.contains("Entries 1–50 of 56"), "{html}");
    assert!(html.contains("href=\"/entries?offset=50\""), "{html}");
    let html = h.get("/entries?offset=50").await.text();
    assert!(html.contains("Entries 51–56 of 56"), "{html}");
    assert!(html.contains("rel=\"prev\" href=\"/entries\""), "{html}");
    let html = h.get("/entries?sort=title&asc=true").await.text();
    let first = html.find("Broken export").unwrap();
    let task = html.find("Task number 00").unwrap();
    assert!(first < task, "sorted by title");
    let html = h.get("/entries?q=export").await.text();
    assert!(
        html.contains("Broken export") && !html.contains("Task number"),
        "{html}"
    );
    // A bad parameter is the API's message, as a page.
    let r = h.get("/entries?status=nope").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let api = h.get("/api/v1/entries?status=nope").await.json();
    let message = api["error"]["message"]
        .as_str()
        .unwrap()
        .replace('`', "&#96;");
    let html = r.text();
    assert!(html.contains("role=\"alert\""), "{html}");
    assert!(
        html.contains(&message) || html.contains(api["error"]["message"].as_str().unwrap()),
        "{html} vs {api}"
    );
    assert_eq!(h.get("/entries/999").await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn entry_text_cannot_inject_markup() {
    let h = Harness::new().await;
    let e = h
        .post(
            "/api/v1/entries",
            json!({
                "title": "<img src=x onerror=alert(1)>",
                "type": "task",
                "description": "**bold** <script>alert(1)</script> [x](javascript:alert(2))",
                "tags": ["\"><script>alert(3)</script>"],
                "acceptanceCriteria": ["<iframe src=//evil.example>"],
            }),
        )
        .await
        .json();
    let id = e["id"].as_str().unwrap();
    h.post(
        &format!("/api/v1/entries/{id}/notes"),
        json!({"content": "<svg onload=alert(4)>", "category": "progress"}),
    )
    .await;
    for page in ["/entries/1", "/entries", "/", "/board", "/entries/1/edit"] {
        let html = h.get(page).await.text();
        for bad in ["<script", "<img", "<iframe", "<svg onload", "javascript:"] {
            assert!(!html.contains(bad), "{page} contains {bad}: {html}");
        }
    }
    let html = h.get("/entries/1").await.text();
    assert!(
        html.contains("<strong>bold</strong>"),
        "Markdown is rendered: {html}"
    );
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{html}"
    );
}

#[tokio::test]
async fn the_board_groups_by_status_and_the_entry_page_shows_history_and_relations() {
    let h = Harness::new().await;
    let a = h.create("First", "task").await;
    let b = h.create("Second", "task").await;
    let (ida, idb) = (a["id"].as_str().unwrap(), b["id"].as_str().unwrap());
    h.patch(
        &format!("/api/v1/entries/{idb}"),
        json!({"status": "blocked"}),
    )
    .await;
    let r = h
        .post(
            &format!("/api/v1/entries/{idb}/links"),
            json!({"kind": "blocked-by", "other": ida}),
        )
        .await;
    assert!(r.status.is_success(), "{}", r.text());
    let html = h.get("/board").await.text();
    let blocked = html.find("data-status=\"blocked\"").unwrap();
    let new = html.find("data-status=\"new\"").unwrap();
    let second = html.find("#2 Second").unwrap();
    let first = html.find("#1 First").unwrap();
    assert!(new < first && first < blocked && blocked < second, "{html}");
    let html = h.get("/entries/2").await.text();
    assert!(
        html.contains("Blocked by <a href=\"/entries/1\">#1 First</a>"),
        "{html}"
    );
    assert!(html.contains("status: new → blocked"), "history: {html}");
    assert!(
        !h.get("/entries/2/edit")
            .await
            .text()
            .contains("data-etag=\"\"")
    );
}
