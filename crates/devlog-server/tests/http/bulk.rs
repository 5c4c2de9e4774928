//! `POST /api/v1/bulk` (issue 20 item 5): a dry run changes nothing, the run changes each
//! selected entry once (audited with the request's actor), the same request again continues
//! or finds nothing left, and bad bodies are refused naming the field with nothing changed.

use axum::http::StatusCode;
use devlog_core::audit::Stored;
use serde_json::{Value, json};

use crate::common::Harness;

async fn written(h: &Harness) -> (u64, u64) {
    let store = h.app.store();
    (
        store.count_events(0, None).await.unwrap(),
        store.audit_log().unwrap().audit_count().await.unwrap(),
    )
}

#[tokio::test]
async fn bulk_close_dry_run_then_run_changes_each_selected_entry_once() {
    let h = Harness::new().await;
    for t in ["One", "Two", "Three"] {
        h.create(t, "task").await;
    }
    h.create("A bug", "bugfix").await;
    let body = json!({
        "action": "close",
        "filter": {"type": ["task"]},
        "reason": "Replaced by the new importer",
    });

    let before = written(&h).await;
    let mut dry = body.clone();
    dry["dryRun"] = json!(true);
    let r = h.post("/api/v1/bulk", dry).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let plan = r.json();
    assert_eq!(
        (plan["dryRun"].as_bool(), plan["changed"].as_u64()),
        (Some(true), Some(3))
    );
    assert!(plan["operation"].is_null());
    assert_eq!(plan["entries"][0]["changes"][0]["after"], "closed");
    assert_eq!(written(&h).await, before, "a dry run writes nothing");

    let r = h.post("/api/v1/bulk", body.clone()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let s = r.json();
    assert_eq!(
        (s["selected"].as_u64(), s["changed"].as_u64()),
        (Some(3), Some(3))
    );
    let op = s["operation"].as_str().unwrap().to_string();
    for o in s["entries"].as_array().unwrap() {
        assert_eq!(o["outcome"], "changed");
        let e = h
            .get(&format!("/api/v1/entries/{}", o["handle"]))
            .await
            .json();
        assert_eq!(e["status"], "closed");
        let notes: Vec<&Value> = e["notes"].as_array().unwrap().iter().collect();
        assert_eq!(notes.len(), 1);
        assert_eq!(notes[0]["content"], "Replaced by the new importer");
    }
    let bug = h.get("/api/v1/entries/4").await.json();
    assert_eq!(bug["status"], "new");

    // One audit record set per entry, by this request, with the operation's change ids.
    let records = h
        .app
        .store()
        .audit_log()
        .unwrap()
        .audit_page(0, 1000)
        .await
        .unwrap();
    let by_bulk: std::collections::BTreeSet<String> = records
        .iter()
        .filter_map(|s| match s {
            Stored::Record(r)
                if r.origin == devlog_core::Origin::Http
                    && r.what != devlog_core::EventKind::Created =>
            {
                r.change.clone()
            }
            _ => None,
        })
        .collect();
    assert_eq!(by_bulk.len(), 3, "one change per entry: {by_bulk:?}");

    // The same request again: a new operation with nothing left to change.
    let before = written(&h).await;
    let again = h.post("/api/v1/bulk", body).await.json();
    assert_eq!(
        (again["changed"].as_u64(), again["unchanged"].as_u64()),
        (Some(0), Some(3))
    );
    assert_ne!(again["operation"].as_str(), Some(op.as_str()));
    assert_eq!(written(&h).await, before);
}

#[tokio::test]
async fn bulk_tag_untag_edit_and_assign_over_rest() {
    let h = Harness::new().await;
    for t in ["One", "Two"] {
        h.create(t, "task").await;
    }
    let r = h
        .post(
            "/api/v1/bulk",
            json!({"action": "tag", "all": true, "tags": ["q4", "ops"]}),
        )
        .await;
    assert_eq!(r.json()["changed"], 2, "{}", r.text());
    let r = h
        .post(
            "/api/v1/bulk",
            json!({"action": "untag", "filter": {"tag": "q4"}, "tags": ["q4"]}),
        )
        .await;
    assert_eq!(r.json()["changed"], 2, "{}", r.text());
    let r = h
        .post(
            "/api/v1/bulk",
            json!({"action": "edit", "filter": {"tag": "ops"}, "set": {"priority": "critical", "type": "bugfix"}}),
        )
        .await;
    assert_eq!(r.json()["changed"], 2, "{}", r.text());
    let r = h
        .post(
            "/api/v1/bulk",
            json!({"action": "assign", "filter": {"priority": ["critical"]}, "assignee": "lee"}),
        )
        .await;
    assert_eq!(r.json()["changed"], 2, "{}", r.text());
    let e = h.get("/api/v1/entries/2").await.json();
    assert_eq!(e["tags"], json!(["ops"]));
    assert_eq!(
        (e["priority"].as_str(), e["type"].as_str()),
        (Some("critical"), Some("bugfix"))
    );
    assert_eq!(e["assignee"], "lee");
}

#[tokio::test]
async fn bad_bulk_bodies_are_refused_naming_the_field_and_change_nothing() {
    let h = Harness::new().await;
    h.create("One", "task").await;
    let before = written(&h).await;
    for (body, says) in [
        (json!({"action": "tag", "tags": ["x"]}), "filter"),
        (
            json!({"action": "tag", "all": true, "tags": ["a b"]}),
            "not a tag",
        ),
        (json!({"action": "edit", "all": true}), "nothing to set"),
        (
            json!({"action": "edit", "all": true, "set": {"status": "finished"}}),
            "finished",
        ),
        (
            json!({"action": "close", "all": true, "tags": ["x"]}),
            "tags",
        ),
        (
            json!({"action": "close", "filter": {"stauts": ["new"]}}),
            "stauts",
        ),
        (json!({"action": "explode", "all": true}), "explode"),
        (json!({"action": "sync", "all": true}), "integration"),
    ] {
        let r = h.post("/api/v1/bulk", body.clone()).await;
        assert!(
            r.status.is_client_error(),
            "{body}: {} {}",
            r.status,
            r.text()
        );
        assert!(r.text().contains(says), "{body}: {}", r.text());
    }
    assert_eq!(written(&h).await, before);
}
