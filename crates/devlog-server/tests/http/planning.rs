//! Planning through API v1 (issue 16): due dates and milestones on entries and list
//! filters, `/entries/{ref}/worklogs`, `/milestones`. The clock stands at 2026-01-02.

use axum::http::StatusCode;
use serde_json::json;

use crate::common::Harness;

#[tokio::test]
async fn due_dates_and_milestones_on_entries_and_lists() {
    let h = Harness::new().await;
    let r = h
        .post(
            "/api/v1/milestones",
            json!({"name": "v2", "due": "2026-01-01", "description": "next"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let m = r.json();
    assert_eq!(
        (m["key"].as_str(), m["total"].as_u64()),
        (Some("v2"), Some(0))
    );
    assert_eq!(m["late"], true);
    let dup = h.post("/api/v1/milestones", json!({"name": "V2"})).await;
    assert_eq!(
        dup.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        dup.text()
    );

    let late = h
        .post(
            "/api/v1/entries",
            json!({"title": "Late", "type": "task", "due": "2026-01-01", "milestone": "v2"}),
        )
        .await;
    assert_eq!(late.status, StatusCode::CREATED, "{}", late.text());
    assert_eq!(late.json()["dueDate"], "2026-01-01");
    let tomorrow = h
        .post(
            "/api/v1/entries",
            json!({"title": "Tomorrow", "type": "task", "due": "tomorrow"}),
        )
        .await
        .json();
    assert_eq!(tomorrow["dueDate"], "2026-01-03");
    h.create("Undated", "task").await;

    let overdue = h.get("/api/v1/entries?overdue=true").await.json();
    assert_eq!(overdue["total"], 1, "{overdue}");
    assert_eq!(overdue["items"][0]["dueDate"], "2026-01-01");
    let by_due = h.get("/api/v1/entries?sort=due&asc=true").await.json();
    let titles: Vec<&str> = by_due["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["Late", "Tomorrow", "Undated"]);
    let before = h.get("/api/v1/entries?dueBefore=2026-01-03").await.json();
    assert_eq!(before["total"], 1);
    let in_m = h.get("/api/v1/entries?milestone=v2").await.json();
    assert_eq!(in_m["items"][0]["milestone"], "v2");
    let bad = h.get("/api/v1/entries?dueBefore=friday").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.text().contains("YYYY-MM-DD"), "{}", bad.text());

    // Edit: relative forms and clearing; bad forms are 422 naming the accepted ones.
    let edited = h
        .patch(
            "/api/v1/entries/2",
            json!({"due": "none", "milestone": "v2"}),
        )
        .await;
    assert_eq!(edited.status, StatusCode::OK, "{}", edited.text());
    assert!(edited.json().get("dueDate").is_none());
    let bad = h.patch("/api/v1/entries/2", json!({"due": "later"})).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.text().contains("+3d"), "{}", bad.text());

    let detail = h.get("/api/v1/milestones/V2").await;
    assert_eq!(detail.status, StatusCode::OK, "{}", detail.text());
    let d = detail.json();
    assert_eq!(
        (
            d["milestone"]["total"].as_u64(),
            d["milestone"]["overdue"].as_u64()
        ),
        (Some(2), Some(1))
    );
    assert_eq!(d["entries"]["items"].as_array().unwrap().len(), 2);
    let closed = h
        .patch("/api/v1/milestones/v2", json!({"state": "closed"}))
        .await;
    assert_eq!(closed.status, StatusCode::OK, "{}", closed.text());
    assert_eq!(closed.json()["state"], "closed");
    assert_eq!(h.get("/api/v1/milestones").await.json(), json!([]));
    let all = h.get("/api/v1/milestones?all=true").await.json();
    assert_eq!(all.as_array().unwrap().len(), 1);
    let missing = h.get("/api/v1/milestones/v9").await;
    assert_eq!(missing.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn worklogs_are_recorded_and_summed() {
    let h = Harness::new().await;
    h.create("Timed", "task").await;
    let r = h
        .post(
            "/api/v1/entries/1/worklogs",
            json!({"duration": "1h30m", "note": "pairing", "date": "yesterday"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let v = r.json();
    assert_eq!(v["worklog"]["minutes"], 90);
    assert_eq!(v["worklog"]["date"], "2026-01-01");
    assert_eq!(v["entry"]["actualHours"], 1.5);
    let r = h
        .post("/api/v1/entries/1/worklogs", json!({"duration": "30m"}))
        .await;
    assert_eq!(r.json()["entry"]["actualHours"], 2.0);
    for bad in [
        json!({"duration": "25h"}),
        json!({"duration": "1h", "date": "2026-01-03"}),
    ] {
        let r = h.post("/api/v1/entries/1/worklogs", bad.clone()).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad}: {}",
            r.text()
        );
    }
    let unknown = h
        .post(
            "/api/v1/entries/1/worklogs",
            json!({"duration": "1h", "hours": 1}),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
    let by_hand = h
        .patch("/api/v1/entries/1", json!({"actualHours": 9}))
        .await;
    assert_eq!(by_hand.status, StatusCode::UNPROCESSABLE_ENTITY);
    let e = h.get("/api/v1/entries/1").await.json();
    assert_eq!(e["worklogs"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn worklogs_are_changed_and_removed_by_id_prefix() {
    let h = Harness::new().await;
    h.create("Timed", "task").await;
    let first = h
        .post("/api/v1/entries/1/worklogs", json!({"duration": "1h"}))
        .await
        .json();
    h.post("/api/v1/entries/1/worklogs", json!({"duration": "30m"}))
        .await;
    let id = first["worklog"]["id"].as_str().unwrap().to_string();
    let r = h
        .patch(
            &format!("/api/v1/entries/1/worklogs/{}", &id[..8]),
            json!({"duration": "2h", "note": "longer"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let v = r.json();
    assert_eq!(v["worklog"]["minutes"], 120);
    assert_eq!(v["worklog"]["note"], "longer");
    assert_eq!(v["entry"]["actualHours"], 2.5);
    for bad in [json!({}), json!({"duration": "25h"}), json!({"minutes": 3})] {
        let r = h
            .patch(&format!("/api/v1/entries/1/worklogs/{id}"), bad.clone())
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad}: {}",
            r.text()
        );
    }
    let r = h
        .send(
            crate::common::req(
                axum::http::Method::DELETE,
                &format!("/api/v1/entries/1/worklogs/{id}"),
            )
            .body(axum::body::Body::empty())
            .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["entry"]["actualHours"], 0.5);
    let r = h
        .send(
            crate::common::req(
                axum::http::Method::DELETE,
                "/api/v1/entries/1/worklogs/ffffffff",
            )
            .body(axum::body::Body::empty())
            .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    assert!(r.text().contains("no worklog"), "{}", r.text());
}
