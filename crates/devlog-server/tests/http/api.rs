//! Every endpoint of API v1 through the router, in-process: results, errors, preconditions.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, StatusCode};
use devlog_core::event::WriteMeta;
use devlog_core::{Devlog, EntryId, Origin};
use devlog_server::{Server, ServerOptions};
use devlog_testkit::EntryBuilder;
use serde_json::{Value, json};

use crate::common::{FakeStore, Harness, redact, req};

#[tokio::test]
async fn create_answers_201_then_200_for_the_same_open_entry_unless_forced() {
    let h = Harness::new().await;
    let body = json!({"title": "Fix login timeout", "type": "bugfix", "priority": "high",
                      "tags": ["auth"], "acceptanceCriteria": ["no timeout at 30s"]});
    let first = h.post("/api/v1/entries", body.clone()).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text());
    let e = first.json();
    assert_eq!(e["handle"], 1);
    assert_eq!(e["priority"], "high");
    assert_eq!(
        first.header("location").unwrap(),
        format!("/api/v1/entries/{}", e["id"].as_str().unwrap())
    );
    assert!(first.etag().starts_with('"'));
    insta::assert_snapshot!(
        "created_entry",
        serde_json::to_string_pretty(&redact(&e)).unwrap()
    );

    // Same title modulo case and punctuation, same type: the existing entry, nothing written.
    let again = h
        .post(
            "/api/v1/entries",
            json!({"title": "fix  LOGIN timeout!", "type": "bugfix"}),
        )
        .await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.json()["id"], e["id"]);
    assert_eq!(again.etag(), first.etag());

    let forced = h
        .post(
            "/api/v1/entries?force=true",
            json!({"title": "Fix login timeout", "type": "bugfix"}),
        )
        .await;
    assert_eq!(forced.status, StatusCode::CREATED);
    assert_eq!(forced.json()["handle"], 2);
    let in_body = h
        .post(
            "/api/v1/entries",
            json!({"title": "Fix login timeout", "type": "bugfix", "force": true}),
        )
        .await;
    assert_eq!(in_body.status, StatusCode::CREATED);
    assert_eq!(h.app.store().count().await.unwrap(), 3);
}

#[tokio::test]
async fn create_rejects_bad_bodies_and_writes_nothing() {
    let h = Harness::new().await;
    let cases: Vec<(&str, Option<&str>, StatusCode, &str, &str)> = vec![
        (
            "{\"title\": \"x\", ",
            Some("application/json"),
            StatusCode::BAD_REQUEST,
            "bad-request",
            "not valid JSON",
        ),
        (
            "",
            Some("application/json"),
            StatusCode::BAD_REQUEST,
            "bad-request",
            "JSON object body",
        ),
        (
            "[1, 2]",
            Some("application/json"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            "JSON object",
        ),
        (
            r#"{"title": "x", "type": "bug"}"#,
            Some("application/json"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            "bugfix",
        ),
        (
            r#"{"title": "x", "type": "task", "priority": "urgent"}"#,
            Some("application/json"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            "`priority`",
        ),
        (
            r#"{"title": "x", "type": "task", "titel": "y"}"#,
            Some("application/json"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            "`titel`",
        ),
        (
            r#"{"title": "x"}"#,
            Some("application/json"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            "type",
        ),
        (
            r#"{"title": "  ", "type": "task"}"#,
            Some("application/json"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            "title",
        ),
        (
            r#"{"title": "a\nb", "type": "task"}"#,
            Some("application/json"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            "one line",
        ),
        (
            r#"{"title": 5, "type": "task"}"#,
            Some("application/json"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            "`title`",
        ),
        (
            r#"{"title": "x", "type": "task"}"#,
            Some("text/plain"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "JSON",
        ),
        (
            r#"{"title": "x", "type": "task"}"#,
            None,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "JSON",
        ),
    ];
    for (body, ctype, status, class, says) in cases {
        let mut r = req(Method::POST, "/api/v1/entries");
        if let Some(c) = ctype {
            r = r.header("content-type", c);
        }
        let reply = h.send(r.body(Body::from(body)).unwrap()).await;
        assert_eq!(reply.status, status, "{body}: {}", reply.text());
        assert_eq!(reply.class(), class, "{body}");
        let message = reply.json()["error"]["message"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(message.contains(says), "{body}: {message}");
    }
    let long = "x".repeat(301);
    let r = h
        .post("/api/v1/entries", json!({"title": long, "type": "task"}))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = h
        .post(
            "/api/v1/entries?force=maybe",
            json!({"title": "x", "type": "task"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(h.app.store().count().await.unwrap(), 0);
    assert!(h.app.store().events(0, 10).await.unwrap().is_empty());
}

#[tokio::test]
async fn oversized_bodies_are_refused_with_413_and_change_nothing() {
    let h = Harness::with_options(ServerOptions {
        mcp: false,
        body_limit: 4096,
        ..ServerOptions::default()
    })
    .await;
    let e = h.create("Small", "task").await;
    let big = json!({"title": "Big", "type": "task", "description": "x".repeat(5000)});
    let r = h.post("/api/v1/entries", big).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text());
    assert_eq!(r.class(), "payload-too-large");
    let r = h
        .patch(
            "/api/v1/entries/1",
            json!({"description": "y".repeat(5000)}),
        )
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(h.app.store().count().await.unwrap(), 1);
    let now = h.get("/api/v1/entries/1").await.json();
    assert_eq!(now, e);

    // The default body limit is 4 MiB; a text field is limited to 1 MiB by the core.
    let d = Harness::new().await;
    let huge = json!({"title": "Huge", "type": "task", "description": "x".repeat(4 * 1024 * 1024)});
    let r = d.post("/api/v1/entries", huge).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    let over = json!({"title": "Over", "type": "task", "description": "x".repeat(1024 * 1024 + 1)});
    let r = d.post("/api/v1/entries", over).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    assert_eq!(r.class(), "invalid");
    assert_eq!(d.app.store().count().await.unwrap(), 0);
    let fits = json!({"title": "Fits", "type": "task", "description": "x".repeat(1000 * 1000)});
    assert_eq!(
        d.post("/api/v1/entries", fits).await.status,
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn get_accepts_every_reference_form() {
    let h = Harness::new().await;
    let e = h.create("Add CSV export", "feature").await;
    let id = e["id"].as_str().unwrap().to_string();
    let mut imported = EntryBuilder::new("Imported from the original")
        .legacy(49)
        .build();
    imported.handle = 49;
    let meta = WriteMeta::new(Origin::Import);
    h.app
        .store()
        .put_raw(imported.clone(), &meta)
        .await
        .unwrap();

    for reference in [
        "1".to_string(),
        "%231".to_string(),
        id.clone(),
        id.replace('-', "")[..8].to_string(),
        "add-csv-export".to_string(),
    ] {
        let r = h.get(&format!("/api/v1/entries/{reference}")).await;
        assert_eq!(r.status, StatusCode::OK, "{reference}: {}", r.text());
        assert_eq!(r.json()["id"], e["id"], "{reference}");
    }
    let r = h.get("/api/v1/entries/49").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["title"], "Imported from the original");
}

#[tokio::test]
async fn unknown_and_ambiguous_references_are_404_and_409() {
    let h = Harness::new().await;
    h.create("Add CSV export", "feature").await;
    let r = h.get("/api/v1/entries/99").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.class(), "not-found");
    insta::assert_snapshot!(
        "not_found",
        serde_json::to_string_pretty(&r.json()).unwrap()
    );
    let r = h.get("/api/v1/entries/csv").await;
    assert_eq!(
        r.status,
        StatusCode::NOT_FOUND,
        "suggestions do not resolve"
    );
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("did you mean #1")
    );

    let meta = WriteMeta::new(Origin::Import);
    for (n, id) in [
        (10, "abcd0000-0000-4000-8000-000000000001"),
        (11, "abcd0000-0000-4000-8000-000000000002"),
    ] {
        let mut e = EntryBuilder::new(&format!("Twin {n}")).handle(n).build();
        e.id = id.parse::<EntryId>().unwrap();
        h.app.store().put_raw(e, &meta).await.unwrap();
    }
    let r = h.get("/api/v1/entries/abcd0000").await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    assert_eq!(r.class(), "ambiguous");
    let message = r.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(
        message.contains("#10") && message.contains("#11"),
        "{message}"
    );
    for (method, path, body) in [
        (Method::PATCH, "/api/v1/entries/99", json!({"title": "x"})),
        (
            Method::POST,
            "/api/v1/entries/99/notes",
            json!({"content": "x"}),
        ),
        (
            Method::POST,
            "/api/v1/entries/99/decisions",
            json!({"decision": "d", "rationale": "r"}),
        ),
        (Method::POST, "/api/v1/entries/99/complete", json!({})),
        (
            Method::POST,
            "/api/v1/entries/99/transition",
            json!({"transition": "start"}),
        ),
    ] {
        let r = h.json(method.clone(), path, body).await;
        assert_eq!(
            r.status,
            StatusCode::NOT_FOUND,
            "{method} {path}: {}",
            r.text()
        );
    }
    let r = h
        .send(
            req(Method::DELETE, "/api/v1/entries/99")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn list_filters_sorts_and_pages_like_devlog_list() {
    let h = Harness::new().await;
    h.create("Charlie", "task").await;
    h.create("Alpha", "bugfix").await;
    h.create("Bravo", "task").await;
    h.patch(
        "/api/v1/entries/3",
        json!({"status": "in-progress", "assignee": "ana", "addTags": ["x"]}),
    )
    .await;

    let r = h.get("/api/v1/entries?sort=title&asc=true").await;
    assert_eq!(r.status, StatusCode::OK);
    let titles: Vec<String> = r.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["title"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(titles, ["Alpha", "Bravo", "Charlie"]);

    let r = h
        .get("/api/v1/entries?type=task&sort=handle&asc=true&limit=1&offset=1")
        .await;
    let page = r.json();
    assert_eq!(page["total"], 2);
    assert_eq!(page["offset"], 1);
    assert_eq!(page["limit"], 1);
    assert_eq!(page["items"][0]["title"], "Bravo");

    for (q, n) in [
        ("status=in-progress", 1),
        ("status=new,in-progress", 3),
        ("status=new&status=blocked", 2),
        ("assignee=ana", 1),
        ("tag=x", 1),
        ("priority=medium", 3),
        ("open=true", 3),
        ("createdAfter=2026-01-01", 3),
        ("createdBefore=2026-01-01", 0),
        ("updatedAfter=2026-01-02T03:04:05.678Z", 3),
    ] {
        let r = h.get(&format!("/api/v1/entries?{q}")).await;
        assert_eq!(r.status, StatusCode::OK, "{q}: {}", r.text());
        assert_eq!(r.json()["total"], n, "{q}");
    }
    let r = h.get("/api/v1/entries?sort=handle&asc=true&limit=2").await;
    insta::assert_snapshot!(
        "entry_page",
        serde_json::to_string_pretty(&redact(&r.json())).unwrap()
    );

    for q in [
        "status=dnoe",
        "type=bug",
        "sort=size",
        "limit=0",
        "limit=1001",
        "limit=ten",
        "offset=-1",
        "createdAfter=yesterday",
        "asc=maybe",
        "staus=new",
        "limit=1&limit=2",
    ] {
        let r = h.get(&format!("/api/v1/entries?{q}")).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{q}: {}", r.text());
        assert_eq!(r.class(), "bad-request", "{q}");
    }
}

#[tokio::test]
async fn patch_edits_fields_and_changes_the_etag() {
    let h = Harness::new().await;
    let before = h.create("Add CSV export", "feature").await;
    let tag0 = h.get("/api/v1/entries/1").await.etag();
    let r = h
        .patch(
            "/api/v1/entries/add-csv-export",
            json!({"title": "Add CSV and TSV export", "status": "in-progress", "priority": "critical",
                   "assignee": "ana", "addTags": ["export"], "addCriteria": ["10k rows"],
                   "estimatedHours": 3.5, "businessContext": "users asked"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let after = r.json();
    assert_eq!(after["id"], before["id"]);
    assert_eq!(after["title"], "Add CSV and TSV export");
    assert_eq!(after["status"], "in-progress");
    assert_eq!(after["assignee"], "ana");
    assert_eq!(after["context"]["acceptanceCriteria"], json!(["10k rows"]));
    assert_ne!(r.etag(), tag0);
    // The ETag a write returns is the one a read returns.
    assert_eq!(h.get("/api/v1/entries/1").await.etag(), r.etag());

    // "" clears the assignee; null leaves a field alone.
    let r = h
        .patch("/api/v1/entries/1", json!({"assignee": "", "title": null}))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.json().get("assignee").is_none());
    assert_eq!(r.json()["title"], "Add CSV and TSV export");

    for (body, status, says) in [
        (
            json!({}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "nothing to change",
        ),
        (
            json!({"staus": "done"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "`staus`",
        ),
        (
            json!({"status": "finished"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "in-review",
        ),
        (
            json!({"estimatedHours": "three"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "`estimatedHours`",
        ),
        (
            json!({"title": ""}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "title",
        ),
    ] {
        let tag = h.get("/api/v1/entries/1").await.etag();
        let r = h.patch("/api/v1/entries/1", body.clone()).await;
        assert_eq!(r.status, status, "{body}: {}", r.text());
        assert!(r.text().contains(says), "{body}: {}", r.text());
        assert_eq!(
            h.get("/api/v1/entries/1").await.etag(),
            tag,
            "{body} changed nothing"
        );
    }
    let r = h
        .send(
            req(Method::PATCH, "/api/v1/entries/1")
                .header("content-type", "application/json")
                .body(Body::from("{\"title\": "))
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn if_match_guards_edits_and_deletes() {
    let h = Harness::new().await;
    h.create("Guarded", "task").await;
    let read = h.get("/api/v1/entries/1").await;
    let tag = read.etag();

    // Someone else edits first: the stale tag is refused and nothing changes.
    let other = h
        .patch("/api/v1/entries/1", json!({"priority": "high"}))
        .await;
    let current = other.etag();
    assert_ne!(current, tag);
    let with = |method: Method, uri: &str, tag: &str, body: Option<Value>| {
        let mut r = req(method.clone(), uri).header("if-match", tag);
        if method == Method::POST || body.is_some() {
            r = r.header("content-type", "application/json");
        }
        let body = match body {
            Some(b) => Body::from(b.to_string()),
            None => Body::empty(),
        };
        r.body(body).unwrap()
    };
    let r = h
        .send(with(
            Method::PATCH,
            "/api/v1/entries/1",
            &tag,
            Some(json!({"title": "Mine"})),
        ))
        .await;
    assert_eq!(r.status, StatusCode::PRECONDITION_FAILED, "{}", r.text());
    assert_eq!(r.class(), "precondition-failed");
    assert_eq!(r.etag(), current, "412 tells the current ETag");
    let now = h.get("/api/v1/entries/1").await;
    assert_eq!(now.json()["title"], "Guarded");
    assert_eq!(now.etag(), current);

    // The same holds for notes, decisions and completion.
    for (uri, body) in [
        ("/api/v1/entries/1/notes", Some(json!({"content": "x"}))),
        (
            "/api/v1/entries/1/decisions",
            Some(json!({"decision": "d", "rationale": "r"})),
        ),
        ("/api/v1/entries/1/complete", None),
    ] {
        let r = h.send(with(Method::POST, uri, &tag, body)).await;
        assert_eq!(
            r.status,
            StatusCode::PRECONDITION_FAILED,
            "{uri}: {}",
            r.text()
        );
    }
    // A weak tag never satisfies If-Match; a malformed header is a 400.
    let weak = format!("W/{current}");
    let r = h
        .send(with(
            Method::PATCH,
            "/api/v1/entries/1",
            &weak,
            Some(json!({"title": "Mine"})),
        ))
        .await;
    assert_eq!(r.status, StatusCode::PRECONDITION_FAILED);
    let r = h
        .send(with(
            Method::PATCH,
            "/api/v1/entries/1",
            "current",
            Some(json!({"title": "Mine"})),
        ))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(h.get("/api/v1/entries/1").await.etag(), current);

    // The current tag (alone, in a list, or `*`) lets the edit through.
    let list = format!("\"nope\", {current}");
    let r = h
        .send(with(
            Method::PATCH,
            "/api/v1/entries/1",
            &list,
            Some(json!({"title": "Mine"})),
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = h
        .send(with(
            Method::PATCH,
            "/api/v1/entries/1",
            "*",
            Some(json!({"title": "Mine again"})),
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let latest = r.etag();

    let r = h
        .send(with(Method::DELETE, "/api/v1/entries/1", &current, None))
        .await;
    assert_eq!(r.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(h.get("/api/v1/entries/1").await.status, StatusCode::OK);
    let r = h
        .send(with(Method::DELETE, "/api/v1/entries/1", &latest, None))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        h.get("/api/v1/entries/1").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn if_none_match_answers_304_for_a_current_copy() {
    let h = Harness::new().await;
    h.create("Cached", "docs").await;
    let tag = h.get("/api/v1/entries/1").await.etag();
    let r = h
        .send(
            req(Method::GET, "/api/v1/entries/1")
                .header("if-none-match", format!("W/{tag}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);
    assert!(r.body.is_empty());
    assert_eq!(r.etag(), tag);
    let r = h
        .send(
            req(Method::GET, "/api/v1/entries/1")
                .header("if-none-match", "\"old\"")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn delete_removes_the_entry_and_records_it() {
    let h = Harness::new().await;
    h.create("Doomed", "task").await;
    let r = h
        .send(
            req(Method::DELETE, "/api/v1/entries/doomed")
                .header("x-devlog-actor", "ana")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert!(r.body.is_empty());
    assert_eq!(h.app.store().count().await.unwrap(), 0);
    let feed = h.get("/api/v1/events").await.json();
    let last = feed["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["type"], "deleted");
    assert_eq!(last["actor"], "ana");
    assert_eq!(last["origin"], "http");
}

#[tokio::test]
async fn notes_decisions_and_completion() {
    let h = Harness::new().await;
    h.create("Ship it", "feature").await;

    let r = h
        .post(
            "/api/v1/entries/1/notes",
            json!({"content": "writer done", "files": ["src/export.rs"], "codeChanges": "+csv"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let e = r.json();
    assert_eq!(e["notes"][0]["category"], "progress");
    assert_eq!(e["notes"][0]["content"], "writer done");
    assert_eq!(e["files"], json!(["src/export.rs"]));
    let r = h
        .post(
            "/api/v1/entries/1/notes",
            json!({"content": "hmm", "category": "issue"}),
        )
        .await;
    assert_eq!(r.json()["notes"][1]["category"], "issue");
    for body in [
        json!({"content": "  "}),
        json!({"content": "x", "category": "rant"}),
        json!({"text": "x"}),
        json!({"category": "idea"}),
    ] {
        let r = h.post("/api/v1/entries/1/notes", body.clone()).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            r.text()
        );
    }

    let r = h
        .post(
            "/api/v1/entries/1/decisions",
            json!({"decision": "Use the csv crate", "rationale": "well kept",
                   "alternatives": ["hand-written"], "decisionMaker": "ana"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let d = &r.json()["context"]["decisions"][0];
    assert_eq!(d["decision"], "Use the csv crate");
    assert_eq!(d["alternatives"], json!(["hand-written"]));
    for body in [
        json!({"decision": "x"}),
        json!({"decision": "x", "rationale": " "}),
        json!({"decision": "", "rationale": "r"}),
    ] {
        let r = h.post("/api/v1/entries/1/decisions", body.clone()).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            r.text()
        );
    }

    let r = h
        .post(
            "/api/v1/entries/1/complete",
            json!({"summary": "shipped in 1.4"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let e = r.json();
    assert_eq!(e["status"], "done");
    assert!(e["closedAt"].is_string());
    assert_eq!(e["aiContext"]["currentSummary"], "shipped in 1.4");
    assert_eq!(
        e["notes"].as_array().unwrap().last().unwrap()["content"],
        "Completed: shipped in 1.4"
    );
    insta::assert_snapshot!(
        "completed_entry",
        serde_json::to_string_pretty(&redact(&e)).unwrap()
    );

    // No body at all is fine (declared as JSON, like every POST); an unknown field is not.
    h.create("Other", "task").await;
    let r = h
        .send(
            req(Method::POST, "/api/v1/entries/2/complete")
                .header("content-type", "application/json")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["status"], "done");
    let r = h
        .post("/api/v1/entries/2/complete", json!({"sumary": "typo"}))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);

    // Named status changes: done work is reopened first; the note comes in the same write.
    let r = h
        .post(
            "/api/v1/entries/2/transition",
            json!({"transition": "start"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    assert!(r.text().contains("reopen it first"), "{}", r.text());
    let r = h
        .post(
            "/api/v1/entries/2/transition",
            json!({"transition": "reopen", "note": "regressed on ARM"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let e = r.json();
    assert_eq!(e["status"], "new");
    assert!(e["closedAt"].is_null());
    let last = e["notes"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (&last["category"], &last["content"]),
        (&json!("issue"), &json!("regressed on ARM"))
    );
    let r = h
        .post(
            "/api/v1/entries/2/transition",
            json!({"transition": "start"}),
        )
        .await;
    assert_eq!(r.json()["status"], "in-progress");
    for bad in [
        json!({"transition": "finish"}),
        json!({"transition": "start", "x": 1}),
        json!({}),
    ] {
        let r = h.post("/api/v1/entries/2/transition", bad.clone()).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad}: {}",
            r.text()
        );
    }
}

#[tokio::test]
async fn search_stats_and_the_feed() {
    let h = Harness::new().await;
    h.create("Add CSV export", "feature").await;
    h.create("Fix login timeout", "bugfix").await;
    h.post(
        "/api/v1/entries/2/notes",
        json!({"content": "the csv parser is fine"}),
    )
    .await;
    h.post("/api/v1/entries/2/complete", json!({})).await;

    let r = h.get("/api/v1/search?q=csv").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let hits = r.json();
    assert_eq!(hits["total"], 2);
    assert_eq!(
        hits["items"][0]["title"], "Add CSV export",
        "title hits rank first"
    );
    assert!(hits["items"][0]["score"].is_number());
    assert!(hits["items"][0]["snippet"].is_string());
    let r = h.get("/api/v1/search?q=csv&type=bugfix").await;
    assert_eq!(r.json()["total"], 1);
    for q in [
        "",
        "?q=",
        "?q=%20%20",
        "?q=csv&limit=0",
        "?q=csv&sort=title",
    ] {
        let r = h.get(&format!("/api/v1/search{q}")).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{q}");
    }

    let r = h.get("/api/v1/stats").await;
    assert_eq!(r.status, StatusCode::OK);
    let s = r.json();
    assert_eq!(
        (
            s["total"].as_u64(),
            s["open"].as_u64(),
            s["closed"].as_u64()
        ),
        (Some(2), Some(1), Some(1))
    );
    insta::assert_snapshot!("stats", serde_json::to_string_pretty(&s).unwrap());
    let r = h.get("/api/v1/stats?open=true").await;
    assert_eq!(r.json()["total"], 1);
    assert_eq!(
        h.get("/api/v1/stats?limit=3").await.status,
        StatusCode::BAD_REQUEST
    );

    let r = h.get("/api/v1/events").await;
    assert_eq!(r.status, StatusCode::OK);
    let feed = r.json();
    let kinds: Vec<&str> = feed["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "created",
            "created",
            "note-added",
            "status-changed",
            "completed"
        ]
    );
    assert_eq!(feed["next"], 5);
    insta::assert_snapshot!(
        "event_feed",
        serde_json::to_string_pretty(&redact(&feed)).unwrap()
    );
    let r = h.get("/api/v1/events?since=3&limit=1").await.json();
    assert_eq!(r["events"].as_array().unwrap().len(), 1);
    assert_eq!(r["events"][0]["seq"], 4);
    assert_eq!(r["next"], 4);
    let r = h.get("/api/v1/events?since=5").await.json();
    assert_eq!(r, json!({"events": [], "next": 5}));
    for q in ["since=x", "offset=2", "limit=5000", "cursor=1"] {
        let r = h.get(&format!("/api/v1/events?{q}")).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{q}");
    }
}

#[tokio::test]
async fn writes_record_origin_http_and_the_actor() {
    let h = Harness::with_options(ServerOptions {
        mcp: false,
        actor: Some("server-default".into()),
        ..ServerOptions::default()
    })
    .await;
    h.create("One", "task").await;
    h.send(
        req(Method::PATCH, "/api/v1/entries/1")
            .header("content-type", "application/json")
            .header("x-devlog-actor", "claude")
            .body(Body::from(r#"{"priority": "low"}"#))
            .unwrap(),
    )
    .await;
    let evs = h.app.store().events(0, 10).await.unwrap();
    assert_eq!(evs.len(), 2);
    assert!(evs.iter().all(|e| e.origin == Origin::Http));
    assert_eq!(evs[0].actor.as_deref(), Some("server-default"));
    assert_eq!(evs[1].actor.as_deref(), Some("claude"));
}

#[tokio::test]
async fn health_reports_the_store() {
    let h = Harness::new().await;
    h.create("One", "task").await;
    let r = h.get("/api/v1/health").await;
    assert_eq!(r.status, StatusCode::OK);
    let v = r.json();
    assert_eq!(v["status"], "ok");
    assert_eq!(v["backend"], "json");
    assert_eq!(v["entries"], 1);
    assert_eq!(v["warnings"], json!([]));
}

#[tokio::test]
async fn a_damaged_entry_file_is_500_corrupt_and_the_rest_keeps_working() {
    let h = Harness::new().await;
    h.create("Fine", "task").await;
    std::fs::write(h.entries_dir().join("007-broken.json"), "{\"title\": ").unwrap();
    let r = h.get("/api/v1/entries/7").await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR, "{}", r.text());
    assert_eq!(r.class(), "corrupt");
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("007-broken.json")
    );
    assert_eq!(h.get("/api/v1/entries/1").await.status, StatusCode::OK);
    let health = h.get("/api/v1/health").await.json();
    assert_eq!(health["warnings"].as_array().unwrap().len(), 1, "{health}");
}

#[tokio::test]
async fn unknown_routes_and_methods_get_json_errors() {
    let h = Harness::new().await;
    let r = h.get("/api/v1/nothing").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.class(), "no-route");
    // (`/` is the dashboard's overview; other unknown paths outside the API are JSON too.)
    let r = h.get("/nothing-here").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.class(), "no-route");
    let r = h
        .send(
            req(Method::PUT, "/api/v1/entries")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.class(), "method-not-allowed");
    let allow = r.header("allow").unwrap_or_default();
    assert!(
        allow.contains("GET") && allow.contains("POST"),
        "Allow: {allow}"
    );
}

#[tokio::test]
async fn an_unreachable_store_is_503_with_retry_after() {
    let router = Server::new(
        Devlog::new(Arc::new(FakeStore::down())),
        ServerOptions {
            mcp: false,
            ..ServerOptions::default()
        },
    )
    .router();
    let h = Harness {
        dir: tempfile::tempdir().unwrap(),
        app: Devlog::new(Arc::new(FakeStore::down())),
        router,
    };
    for uri in [
        "/api/v1/health",
        "/api/v1/entries",
        "/api/v1/entries/1",
        "/api/v1/events",
    ] {
        let r = h.get(uri).await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{uri}");
        assert_eq!(r.class(), "unavailable");
        assert_eq!(r.header("retry-after").as_deref(), Some("1"));
    }
    let r = h
        .post("/api/v1/entries", json!({"title": "x", "type": "task"}))
        .await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_edits_with_the_same_if_match_let_exactly_one_through() {
    let h = Harness::new().await;
    h.create("Contended", "task").await;
    let tag = h.get("/api/v1/entries/1").await.etag();
    let mut tasks = Vec::new();
    for i in 0..8 {
        let router = h.router.clone();
        let tag = tag.clone();
        tasks.push(tokio::spawn(async move {
            let r = req(Method::PATCH, "/api/v1/entries/1")
                .header("content-type", "application/json")
                .header("if-match", tag)
                .body(Body::from(format!(r#"{{"title": "Writer {i}"}}"#)))
                .unwrap();
            tower::ServiceExt::oneshot(router, r)
                .await
                .unwrap()
                .status()
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::PRECONDITION_FAILED)
        .count();
    assert_eq!((ok, refused), (1, 7), "{statuses:?}");
    let feed = h.get("/api/v1/events").await.json();
    let title_changes = feed["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["field"] == "title")
        .count();
    assert_eq!(title_changes, 1);
}

#[tokio::test]
async fn a_failing_store_ends_the_event_stream_with_an_error_message() {
    let router = Server::new(
        Devlog::new(Arc::new(FakeStore::down())),
        ServerOptions {
            mcp: false,
            ..ServerOptions::default()
        },
    )
    .router();
    let h = Harness {
        dir: tempfile::tempdir().unwrap(),
        app: Devlog::new(Arc::new(FakeStore::down())),
        router,
    };
    // Finding the end of the feed fails before the stream starts: a plain 503.
    let r = h.get("/api/v1/events/stream").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    // With a cursor the stream starts, reports the failure as a message and ends, so the
    // client reconnects with Last-Event-ID.
    let r = h.get("/api/v1/events/stream?since=0").await;
    assert_eq!(r.status, StatusCode::OK);
    let text = r.text();
    assert!(text.contains("event: stream-error"), "{text}");
    assert!(text.contains(r#""class":"unavailable""#), "{text}");
}

#[tokio::test]
async fn insights_are_added_shared_and_ranked_for_an_entry() {
    let h = Harness::new().await;
    h.create("Payment refunds through the gateway", "feature")
        .await;
    h.create("Payment gateway retries", "feature").await;
    let r = h
        .post(
            "/api/v1/entries/1/insights",
            json!({"insight": "The payment gateway throttles per account"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!(
        r.json()["aiContext"]["sharedInsights"],
        json!(["The payment gateway throttles per account"])
    );
    let r = h
        .post(
            "/api/v1/entries/1/decisions",
            json!({"decision": "Batch refunds", "rationale": "Throttling", "shared": true}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let r = h
        .post(
            "/api/v1/entries/1/insights",
            json!({"insight": "Kept here", "shared": false}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    for bad in [
        json!({"insight": " "}),
        json!({"insight": "x", "colour": 1}),
    ] {
        let r = h.post("/api/v1/entries/1/insights", bad.clone()).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad}: {}",
            r.text()
        );
    }
    let r = h.get("/api/v1/insights?for=2").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let body = r.json();
    assert_eq!(body["for"]["handle"], 2);
    let texts: Vec<&str> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts.len(), 2, "{body}");
    assert!(texts.contains(&"Batch refunds"));
    let r = h.get("/api/v1/insights?for=99").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = h.get("/api/v1/insights?fro=1").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}
