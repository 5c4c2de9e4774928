//! The planning tools (issue 16) through rmcp's client: due dates and milestones on
//! create_devlog / update_devlog / list_devlogs, log_time, and the milestone tools.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

mod common;

use common::{Backend, Harness};
use serde_json::json;

async fn start() -> Harness {
    common::start(Backend::Sqlite, "agent").await
}

#[tokio::test]
async fn due_dates_and_milestones_through_the_entry_tools() {
    let h = start().await;
    let (text, m) = h
        .ok(
            "create_milestone",
            json!({"name": "Sprint 12", "dueDate": "2020-02-01", "description": "two weeks"}),
        )
        .await;
    assert!(text.contains("Sprint 12"), "{text}");
    assert_eq!(m["milestone"]["key"], "sprint-12");
    let (_, created) = h
        .ok(
            "create_devlog",
            json!({"title": "Late work", "type": "task", "description": "d",
                   "dueDate": "2020-01-15", "milestone": "sprint 12", "estimatedHours": 3}),
        )
        .await;
    let e = &created["entry"];
    assert_eq!(
        (
            e["dueDate"].as_str(),
            e["milestone"].as_str(),
            e["estimatedHours"].as_f64()
        ),
        (Some("2020-01-15"), Some("Sprint 12"), Some(3.0))
    );
    h.ok(
        "create_devlog",
        json!({"title": "Undated", "type": "task", "description": "d"}),
    )
    .await;
    let (_, overdue) = h.ok("list_devlogs", json!({"overdue": true})).await;
    assert_eq!(overdue["total"], 1);
    assert_eq!(overdue["items"][0]["title"], "Late work");
    let (_, in_sprint) = h
        .ok("list_devlogs", json!({"milestone": "Sprint 12"}))
        .await;
    assert_eq!(in_sprint["total"], 1);
    let (_, before) = h
        .ok("list_devlogs", json!({"dueBefore": "2020-01-16"}))
        .await;
    assert_eq!(before["total"], 1);

    let (_, listed) = h.ok("list_milestones", json!({})).await;
    let p = &listed["milestones"][0];
    assert_eq!(
        (
            p["total"].as_u64(),
            p["done"].as_u64(),
            p["overdue"].as_u64(),
            p["late"].as_bool()
        ),
        (Some(1), Some(0), Some(1), Some(true))
    );
    // update_devlog moves the due date and takes the entry out of the milestone.
    let (_, updated) = h
        .ok(
            "update_devlog",
            json!({"id": 1, "dueDate": "none", "milestone": "none"}),
        )
        .await;
    assert!(updated["entry"].get("dueDate").is_none(), "{updated}");
    let stored = h.store.all().await.unwrap();
    assert_eq!(
        (stored[0].due_date, stored[0].milestone.clone()),
        (None, None)
    );

    let msg = h
        .fails("update_devlog", json!({"id": 1, "dueDate": "whenever"}))
        .await;
    assert!(msg.contains("YYYY-MM-DD") && msg.contains("+3d"), "{msg}");
    let msg = h
        .fails(
            "create_devlog",
            json!({"title": "x", "type": "task", "description": "d", "milestone": "nope"}),
        )
        .await;
    assert!(msg.contains("Sprint 12"), "{msg}");
    let msg = h
        .fails("create_milestone", json!({"name": "sprint-12"}))
        .await;
    assert!(msg.contains("exists"), "{msg}");

    let (_, closed) = h.ok("close_milestone", json!({"name": "Sprint 12"})).await;
    assert_eq!(closed["milestone"]["state"], "closed");
    let (_, open_only) = h.ok("list_milestones", json!({})).await;
    assert_eq!(open_only["milestones"].as_array().unwrap().len(), 0);
    let (_, all) = h
        .ok("list_milestones", json!({"includeClosed": true}))
        .await;
    assert_eq!(all["milestones"].as_array().unwrap().len(), 1);
    let (_, reopened) = h
        .ok(
            "close_milestone",
            json!({"name": "Sprint 12", "reopen": true}),
        )
        .await;
    assert_eq!(reopened["milestone"]["state"], "open");
}

#[tokio::test]
async fn log_time_records_worklogs_and_sums_actual_hours() {
    let h = start().await;
    h.ok(
        "create_devlog",
        json!({"title": "Timed", "type": "task", "description": "d"}),
    )
    .await;
    let (text, first) = h
        .ok(
            "log_time",
            json!({"id": 1, "duration": "1h30m", "note": "review"}),
        )
        .await;
    assert!(text.contains("1h30m"), "{text}");
    assert_eq!(first["worklog"]["author"], "agent");
    let (_, second) = h
        .ok(
            "log_time",
            json!({"id": "#1", "duration": "30m", "date": "yesterday"}),
        )
        .await;
    assert_eq!(second["totalMinutes"], 120);
    assert_eq!(second["actualHours"], 2.0);
    // log_work is the same tool under the name Jira users know.
    let (_, third) = h.ok("log_work", json!({"id": 1, "duration": "15m"})).await;
    assert_eq!(third["totalMinutes"], 135);
    let msg = h
        .fails("log_work", json!({"id": 1, "duration": "two hours"}))
        .await;
    assert!(msg.contains("1h30m, 90m, 1.5h"), "{msg}");
    let msg = h
        .fails("log_time", json!({"id": 1, "duration": "two hours"}))
        .await;
    assert!(msg.contains("1h30m, 90m, 1.5h"), "{msg}");
    let msg = h
        .fails("update_devlog", json!({"id": 1, "actualHours": 5}))
        .await;
    assert!(msg.contains("log_time"), "{msg}");
    let e = &h.store.all().await.unwrap()[0];
    assert_eq!(e.worklogs.len(), 3);
    assert_eq!(e.actual_hours, Some(2.25));
}

#[tokio::test]
async fn worklogs_are_changed_and_removed() {
    let h = start().await;
    h.ok(
        "create_devlog",
        json!({"title": "Timed", "type": "task", "description": "d"}),
    )
    .await;
    let (_, first) = h.ok("log_time", json!({"id": 1, "duration": "1h"})).await;
    h.ok("log_time", json!({"id": 1, "duration": "30m"})).await;
    let id = first["worklog"]["id"].as_str().unwrap().to_string();
    let (text, changed) = h
        .ok(
            "edit_worklog",
            json!({"id": 1, "worklogId": &id[..6], "duration": "2h", "date": "yesterday"}),
        )
        .await;
    assert!(text.contains("Changed worklog"), "{text}");
    assert_eq!(changed["worklog"]["minutes"], 120);
    assert_eq!(changed["actualHours"], 2.5);
    let msg = h
        .fails("edit_worklog", json!({"id": 1, "worklogId": &id}))
        .await;
    assert!(msg.contains("nothing to change"), "{msg}");
    let (_, removed) = h
        .ok("delete_worklog", json!({"id": 1, "worklogId": &id}))
        .await;
    assert_eq!(removed["totalMinutes"], 30);
    let msg = h
        .fails("delete_worklog", json!({"id": 1, "worklogId": &id}))
        .await;
    assert!(msg.contains("no worklog"), "{msg}");
    let e = &h.store.all().await.unwrap()[0];
    assert_eq!(e.worklogs.len(), 1);
    assert_eq!(e.actual_hours, Some(0.5));
}
