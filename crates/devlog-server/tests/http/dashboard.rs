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
        "/reports/throughput",
        "/sync",
    ] {
        let r = h.get(page).await;
        assert_page(&r, page);
        assert!(
            r.text().contains("Add CSV export")
                || page.contains("new")
                || page.starts_with("/reports")
                || page == "/sync",
            "{page}"
        );
    }
    // Pages that listen for changes carry the feed position they were read at, where their
    // event stream starts; the create form does not listen.
    let tail = h
        .app
        .store()
        .events(0, 1000)
        .await
        .unwrap()
        .last()
        .unwrap()
        .seq;
    for page in ["/", "/entries", "/entries/1", "/board", "/reports", "/sync"] {
        let html = h.get(page).await.text();
        assert!(
            html.contains(&format!("data-seq=\"{tail}\"")),
            "{page}: {html}"
        );
    }
    assert!(!h.get("/entries/new").await.text().contains("data-seq"));
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
        // (The edit form shows the description as text in its textarea, link included.)
        for bad in ["<img", "<iframe", "<svg onload", "href=\"javascript:"] {
            assert!(!html.contains(bad), "{page} contains {bad}: {html}");
        }
        // The one script is the dashboard's own file.
        assert_eq!(html.matches("<script").count(), 1, "{page}: {html}");
        assert!(
            html.contains("<script src=\"/assets/dashboard.js"),
            "{page}"
        );
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

#[tokio::test]
async fn every_report_has_a_page_with_its_query_in_the_url() {
    let h = Harness::new().await;
    let a = h.create("Ship the export", "feature").await;
    let id = a["id"].as_str().unwrap();
    for status in ["in-progress", "done"] {
        h.patch(&format!("/api/v1/entries/{id}"), json!({"status": status}))
            .await;
    }
    h.create("Fix the login", "bugfix").await;
    let index = h.get("/reports").await;
    assert_page(&index, "/reports");
    for name in devlog_core::reports::ReportName::ALL {
        let href = format!("href=\"/reports/{}\"", name.as_str());
        assert!(index.text().contains(&href), "{href} on the index");
        let page = format!("/reports/{}", name.as_str());
        let r = h.get(&page).await;
        assert_page(&r, &page);
        let html = r.text();
        assert!(
            html.contains(&format!("<h1>{}</h1>", name.title())),
            "{html}"
        );
    }
    let counts = h.get("/reports/counts?by=type").await.text();
    assert!(counts.contains("Entries by type"), "{counts}");
    assert!(counts.contains("<td>feature</td><td>1</td>"), "{counts}");
    assert!(
        !counts.contains("Entries by priority"),
        "only the grouping asked: {counts}"
    );
    // The throughput by day over a window: the form shows the query back, the chart is SVG.
    let tp = h
        .get("/reports/throughput?by=day&since=2025-06-20&until=2025-06-28&type=feature")
        .await;
    assert_page(&tp, "throughput");
    let html = tp.text();
    assert!(html.contains("value=\"2025-06-20\""), "{html}");
    assert!(html.contains("<option selected>day</option>"), "{html}");
    assert!(html.contains("<option selected>feature</option>"), "{html}");
    assert!(html.contains("<svg class=\"chart lines\""), "{html}");
    // Bad queries: the core's and the API's messages, as a page, with 400.
    for (url, says) in [
        ("/reports/velocity", "use one of counts"),
        ("/reports/throughput?by=tag", "groups by week, day, month"),
        ("/reports/wip?since=yesterday", "is not a date"),
        ("/reports/counts?colour=red", "colour"),
    ] {
        let r = h.get(url).await;
        assert!(r.status.is_client_error(), "{url}: {}", r.status);
        assert!(r.text().contains(says), "{url}: {}", r.text());
    }
    // The overview draws the throughput and cycle-time charts.
    let overview = h.get("/").await.text();
    assert!(
        overview.contains("id=\"tp-h\"") && overview.contains("id=\"ct-h\""),
        "{overview}"
    );
}

/// The reports are answered from the server's in-memory index (built in the background at
/// the first report) and reused while the feed does not move: a change through the API or by
/// another process (the CLI) must show in the next answer.
#[tokio::test]
async fn reports_follow_changes_from_the_api_and_from_other_processes() {
    use devlog_core::ops::NewEntry;
    use devlog_core::reports::{ReportName, ReportQuery};
    use devlog_core::{Origin, WriteMeta};
    let h = Harness::new().await;
    h.create("Ship the export", "feature").await;
    let counts = || async {
        let r = h.get("/api/v1/reports/counts?by=type,tag").await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        r.json()["data"].clone()
    };
    let first = counts().await;
    assert_eq!(first["total"], 1, "{first}");
    // The index is built by then (a one-entry store); the same answer, from it.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(counts().await, first);
    assert_eq!(counts().await, first);
    let tag = |v: &serde_json::Value, key: &str| {
        v["groups"][1]["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["key"] == key)
            .map(|r| r["count"].as_u64().unwrap())
    };
    // A write through the API.
    let r = h
        .post(
            "/api/v1/entries",
            json!({"title": "Fix the login", "type": "bugfix", "tags": ["auth"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let after = counts().await;
    assert_eq!(after["total"], 2, "{after}");
    assert_eq!(tag(&after, "auth"), Some(1), "{after}");
    let id = r.json()["id"].as_str().unwrap().to_string();
    h.patch(
        &format!("/api/v1/entries/{id}"),
        json!({"status": "in-progress"}),
    )
    .await;
    // The answers equal the library's, read from the store.
    for name in [
        ReportName::Wip,
        ReportName::TimeInStatus,
        ReportName::CycleTime,
        ReportName::Burndown,
    ] {
        let served = h.get(&format!("/api/v1/reports/{name}")).await.json();
        let read = h
            .app
            .report(name, &ReportQuery::default(), None)
            .await
            .unwrap();
        assert_eq!(served, serde_json::to_value(read).unwrap(), "{name}");
    }
    // A write by another process: a second store on the same folder, as `devlog new` does.
    let other = devlog_store::json::JsonStore::open(&h.dir.path().join(".devlog"))
        .await
        .unwrap();
    devlog_core::Devlog::new(std::sync::Arc::new(other))
        .create(
            NewEntry {
                title: "Written by the CLI".into(),
                kind: Some(devlog_core::EntryType::Task),
                tags: vec!["cli".into()],
                ..NewEntry::default()
            },
            &WriteMeta::new(Origin::Cli),
        )
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let now = counts().await;
        if now["total"] == 3 {
            assert_eq!(tag(&now, "cli"), Some(1), "{now}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the other process's entry never showed: {now}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let page = h.get("/reports/counts?by=tag").await.text();
    assert!(page.contains("<td>cli</td><td>1</td>"), "{page}");
}

#[tokio::test]
async fn without_integrations_the_sync_page_says_how_to_configure_one() {
    let h = Harness::new().await;
    let r = h.get("/sync").await;
    assert_page(&r, "/sync");
    assert!(r.text().contains("[integrations.github]"), "{}", r.text());
    let r = h
        .post(
            "/api/v1/sync/conflicts/1/resolve",
            json!({"take": "remote"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    assert!(
        r.text().contains("no integration is configured"),
        "{}",
        r.text()
    );
    let health = h.get("/reports/sync-health").await.text();
    assert!(health.contains("no integration is configured"), "{health}");
}

#[tokio::test]
async fn the_sync_page_lists_conflicts_and_its_buttons_resolve_them_through_the_engine() {
    use std::sync::Arc;

    use devlog_core::merge::{FieldConflict, SyncedField};
    use devlog_server::ServerOptions;
    use devlog_sync::{SyncEngine, SyncOptions, SyncState};

    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join(".devlog");
    let store: Arc<dyn devlog_core::Store> =
        Arc::new(devlog_store::JsonStore::open(&root).await.unwrap());
    let app = devlog_core::Devlog::new(store.clone());
    let state = SyncState::open(&root.join(".state/sync.sqlite"))
        .await
        .unwrap();
    let engine = SyncEngine::new(
        store.clone(),
        state.clone(),
        vec![Arc::new(crate::webhooks::Signed)],
        SyncOptions::default(),
    );
    let h = crate::common::Harness::over(
        app,
        ServerOptions {
            mcp: false,
            sync: Some(engine),
            ..ServerOptions::default()
        },
        dir,
    );
    let e = h.create("Local title", "task").await;
    let id: devlog_core::EntryId = e["id"].as_str().unwrap().parse().unwrap();
    state
        .add_conflicts(
            "signed",
            id,
            &[
                FieldConflict {
                    field: SyncedField::Title,
                    base: json!("Old title"),
                    local: json!("Local title"),
                    remote: json!("Remote <b>title</b>"),
                },
                FieldConflict {
                    field: SyncedField::Priority,
                    base: json!("medium"),
                    local: json!("medium"),
                    remote: json!("high"),
                },
            ],
            1,
        )
        .await
        .unwrap();
    let conflicts = state.open_conflicts().await.unwrap();
    assert_eq!(conflicts.len(), 2);
    let r = h.get("/sync").await;
    assert_page(&r, "/sync");
    let html = r.text();
    assert!(html.contains("Conflicts (2)"), "{html}");
    assert!(
        html.contains("Remote &lt;b&gt;title&lt;&#x2f;b&gt;"),
        "escaped: {html}"
    );
    for c in &conflicts {
        assert!(
            html.contains(&format!("data-id=\"{}\" data-take=\"remote\"", c.id)),
            "{html}"
        );
    }
    assert!(
        html.contains("<td>signed</td><td>yes</td>"),
        "health row: {html}"
    );
    let plan = h.get("/sync?plan=true").await;
    assert_page(&plan, "the plan");
    assert!(plan.text().contains("nothing changed"), "{}", plan.text());

    let title = conflicts
        .iter()
        .find(|c| c.field.field == SyncedField::Title)
        .unwrap();
    // Bad input changes nothing.
    let r = h
        .post(
            &format!("/api/v1/sync/conflicts/{}/resolve", title.id),
            json!({"take": "theirs"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    let r = h
        .post(
            "/api/v1/sync/conflicts/999/resolve",
            json!({"take": "remote"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text());
    let r = h
        .post(
            "/api/v1/sync/conflicts/x/resolve",
            json!({"take": "remote"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    assert_eq!(state.open_conflicts().await.unwrap().len(), 2);
    // Taking the remote value writes it to the entry and closes the conflict.
    let r = h
        .post(
            &format!("/api/v1/sync/conflicts/{}/resolve", title.id),
            json!({"take": "remote"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json(), json!({"resolved": title.id, "took": "remote"}));
    let entry = h.get("/api/v1/entries/1").await.json();
    assert_eq!(entry["title"], "Remote <b>title</b>");
    let left = state.open_conflicts().await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].field.field, SyncedField::Priority);
    assert!(h.get("/sync").await.text().contains("Conflicts (1)"));
}

#[tokio::test]
async fn the_entry_page_shows_a_linked_items_sprint_and_the_deployments() {
    let h = Harness::new().await;
    let a = h.create("Ship it", "feature").await;
    let id: devlog_core::EntryId = a["id"].as_str().unwrap().parse().unwrap();
    let meta = devlog_core::WriteMeta::new(devlog_core::event::Origin::Cli);
    h.app
        .store()
        .update(id, &meta, &mut |e| {
            e.external_references.push(
                serde_json::from_value(json!({
                    "system": "jira", "id": "DEV-7", "url": "https://jira.example/browse/DEV-7",
                    "status": "In Progress", "sprint": "Sprint 6"
                }))
                .unwrap(),
            );
            e.deployments.push(
                serde_json::from_value(json!({
                    "id": "d1", "system": "azure-devops", "environment": "<b>Prod</b>",
                    "release": "Release-4", "status": "succeeded",
                    "url": "javascript:alert(1)", "at": "2026-12-01T10:00:00Z"
                }))
                .unwrap(),
            );
            Ok(())
        })
        .await
        .unwrap();
    let r = h.get("/entries/1").await;
    assert_page(&r, "/entries/1");
    let html = r.text();
    assert!(
        html.contains("DEV-7") && html.contains("sprint Sprint 6"),
        "{html}"
    );
    assert!(html.contains("<h2 id=\"dep-h\">Deployments</h2>"), "{html}");
    // Remote text is escaped and an unsafe URL is not a link.
    assert!(
        html.contains("&lt;b&gt;Prod&lt;&#x2f;b&gt;: Release-4"),
        "{html}"
    );
    assert!(!html.contains("href=\"javascript"), "{html}");
    assert!(
        html.contains("<span class=\"badge\">succeeded</span>"),
        "{html}"
    );
}
