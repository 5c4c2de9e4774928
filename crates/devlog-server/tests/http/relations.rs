//! Relations over HTTP: links on both entries, cycles, subtasks and `force`, `?blocked`,
//! dependencies and risks.

use axum::body::Body;
use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::common::{Harness, req};

#[tokio::test]
async fn links_relations_subtasks_dependencies_and_risks() {
    let h = Harness::new().await;
    let parent = h.create("Ship search", "feature").await;
    let r = h
        .post(
            "/api/v1/entries",
            json!({"title": "Index words", "type": "task", "parent": "1"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!(r.json()["parent"], parent["id"]);
    h.create("The API", "task").await;

    // #1 waits on #3; the answer holds both sides.
    let r = h
        .post(
            "/api/v1/entries/1/links",
            json!({"kind": "blocked-by", "other": "#3"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let out = r.json();
    assert_eq!(out["changed"], true);
    assert_eq!(
        out["entry"]["context"]["dependencies"][0]["type"],
        "blocked-by"
    );
    assert_eq!(out["other"]["context"]["dependencies"][0]["type"], "blocks");
    assert_eq!(
        out["other"]["context"]["dependencies"][0]["id"],
        parent["id"]
    );

    // A cycle, a link to itself, an unknown kind or field, a missing entry.
    let r = h
        .post(
            "/api/v1/entries/3/links",
            json!({"kind": "blocked-by", "other": "1"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().contains("#1 → #3 → #1"), "{}", r.text());
    for (body, status) in [
        (
            json!({"kind": "relates", "other": "1"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"kind": "follows", "other": "3"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"kind": "relates", "other": "3", "x": 1}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"kind": "relates", "other": "#99"}),
            StatusCode::NOT_FOUND,
        ),
    ] {
        let r = h.post("/api/v1/entries/1/links", body.clone()).await;
        assert_eq!(r.status, status, "{body}: {}", r.text());
    }

    let r = h.get("/api/v1/entries/1/relations").await;
    assert_eq!(r.status, StatusCode::OK);
    let rel = r.json();
    assert_eq!(rel["children"][0]["entry"]["handle"], 2);
    assert_eq!(rel["progress"], json!({"done": 0, "total": 1}));
    assert_eq!(rel["blockedBy"][0]["entry"]["handle"], 3);
    assert_eq!(rel["openBlockers"], 1);
    let r = h.get("/api/v1/entries?blocked=true").await;
    assert_eq!(r.json()["total"], 1, "{}", r.text());
    assert_eq!(r.json()["items"][0]["handle"], 1);

    // The parent is not finished while the subtask is open, unless forced.
    let r = h.post("/api/v1/entries/1/complete", json!({})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().contains("#2 (new)"), "{}", r.text());
    let r = h
        .patch("/api/v1/entries/1", json!({"status": "closed"}))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    let r = h
        .post(
            "/api/v1/entries/1/transition",
            json!({"transition": "close"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    let r = h
        .post("/api/v1/entries/1/complete?force=true", json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["status"], "done");

    // Unlink: by query, both sides.
    let r = h
        .send(
            req(Method::DELETE, "/api/v1/entries/3/links?other=1")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["removed"], json!(["blocks"]));
    let r = h
        .send(
            req(Method::DELETE, "/api/v1/entries/3/links")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    // Dependencies and risks.
    let r = h
        .post(
            "/api/v1/entries/2/dependencies",
            json!({"description": "sqlx 0.9", "externalId": "launchbadge/sqlx#1"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let dep = r.json()["context"]["dependencies"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = h
        .post(
            "/api/v1/entries/2/risks",
            json!({"description": "API churn", "impact": "high", "probability": "low", "mitigation": "pin"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let risk = r.json()["context"]["risks"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = h
        .post(
            "/api/v1/entries/2/risks",
            json!({"description": "x", "impact": "huge", "probability": "low"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    for uri in [
        format!("/api/v1/entries/2/dependencies/{dep}"),
        format!("/api/v1/entries/2/risks/{risk}"),
    ] {
        let r = h
            .send(req(Method::DELETE, &uri).body(Body::empty()).unwrap())
            .await;
        assert_eq!(r.status, StatusCode::OK, "{uri}: {}", r.text());
    }
    let r = h.get("/api/v1/entries/2").await;
    assert!(
        r.json()["context"]["dependencies"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert!(r.json()["context"]["risks"].as_array().unwrap().is_empty());
}
