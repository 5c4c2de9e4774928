//! `GET /entries/{ref}/history`, `POST /entries/{ref}/undo`,
//! `PATCH|DELETE /entries/{ref}/notes/{note_id}` (issue 16).

use axum::body::Body;
use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::common::{Harness, req};

#[tokio::test]
async fn history_undo_and_note_edits_over_rest() {
    let h = Harness::new().await;
    h.create("Rate limiter", "feature").await;
    let r = h
        .post(
            "/api/v1/entries/1/notes",
            json!({"content": "token bucket"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let note_id = r.json()["notes"][0]["id"].as_str().unwrap().to_string();
    let r = h
        .send(
            req(Method::PATCH, "/api/v1/entries/1")
                .header("content-type", "application/json")
                .header("x-devlog-actor", "ana")
                .body(Body::from(json!({"priority": "high"}).to_string()))
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());

    // Every write has the same time here (a fixed clock): changes are told apart by id.
    let r = h.get("/api/v1/entries/1/history").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let hist = r.json();
    let changes = hist["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 3, "{hist}");
    assert_eq!(changes[0]["origin"], "http");
    assert_eq!(changes[0]["actor"], "ana");
    assert_eq!(changes[0]["events"][0]["field"], "priority");
    assert_eq!(changes[1]["events"][0]["type"], "note-added");
    assert_eq!(changes[2]["events"][0]["type"], "created");
    let r = h.get("/api/v1/entries/1/history?limit=1").await;
    assert_eq!(r.json()["more"], true);
    for bad in ["limit=0", "offset=2", "colour=red"] {
        let r = h.get(&format!("/api/v1/entries/1/history?{bad}")).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {}", r.text());
    }
    assert_eq!(
        h.get("/api/v1/entries/99/history").await.status,
        StatusCode::NOT_FOUND
    );

    // Edit the note by a prefix of its id, then delete it.
    let uri = format!("/api/v1/entries/1/notes/{}", &note_id[..8]);
    let r = h.patch(&uri, json!({"content": "sliding window"})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["notes"][0]["content"], "sliding window");
    assert!(r.header("etag").is_some());
    let r = h.patch(&uri, json!({"text": "wrong field"})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    let r = h
        .send(
            req(
                Method::DELETE,
                &format!("/api/v1/entries/1/notes/{note_id}"),
            )
            .body(Body::empty())
            .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["notes"], json!([]));
    let r = h.patch(&uri, json!({"content": "gone"})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    assert_eq!(r.class(), "invalid");

    // Undo without a body reverts the deletion; with `to`, everything after the creation.
    let r = h
        .send(
            req(Method::POST, "/api/v1/entries/1/undo")
                .header("content-type", "application/json")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let undone = r.json();
    assert_eq!(undone["entry"]["notes"][0]["content"], "sliding window");
    assert_eq!(undone["reverted"][0]["events"][0]["type"], "note-deleted");
    assert!(r.header("etag").is_some());
    let created = changes[2]["seq"].as_u64().unwrap();
    let r = h
        .patch("/api/v1/entries/1", json!({"priority": "low"}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = h
        .post("/api/v1/entries/1/undo", json!({"to": created}))
        .await;
    // The priority was changed by ana, then by an anonymous caller: refused, naming it.
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    assert!(r.text().contains("`priority`"), "{}", r.text());
    let r = h
        .post(
            "/api/v1/entries/1/undo",
            json!({"to": created, "force": true}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let e = &r.json()["entry"];
    assert_eq!(e["priority"], "medium");
    assert_eq!(e["notes"], json!([]));
    // The creation cannot be undone; an unknown field is refused.
    let r = h.post("/api/v1/entries/1/undo", json!({"to": 0})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    let r = h.post("/api/v1/entries/1/undo", json!({"steps": 2})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
}
