//! The history tools over MCP (issue 16): get_entry_history, undo_change, edit_note,
//! delete_note, driven in-process by rmcp's client over a pipe.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

mod common;

use common::{Backend, Harness};
use serde_json::json;

async fn start() -> Harness {
    common::start(Backend::Json, "claude").await
}

#[tokio::test]
async fn history_undo_and_note_edits_through_mcp() {
    let h = start().await;
    let names: Vec<String> = h
        .client
        .list_all_tools()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name.to_string())
        .collect();
    for t in [
        "get_entry_history",
        "undo_change",
        "edit_note",
        "delete_note",
    ] {
        assert!(names.iter().any(|n| n == t), "{t} is listed");
    }
    h.ok(
        "create_devlog",
        json!({"title": "Cache warmup", "type": "task", "description": "warm it"}),
    )
    .await;
    let (_, noted) = h
        .ok("add_devlog_note", json!({"id": 1, "note": "first try"}))
        .await;
    let note_id = noted["note"]["id"].as_str().unwrap().to_string();
    h.ok(
        "update_devlog",
        json!({"id": 1, "status": "in-progress", "priority": "high"}),
    )
    .await;

    let (text, hist) = h.ok("get_entry_history", json!({"id": 1})).await;
    assert!(text.contains("status: new → in-progress"), "{text}");
    assert!(text.contains("by mcp (claude)"), "{text}");
    assert_eq!(hist["changes"].as_array().unwrap().len(), 3);
    assert_eq!(hist["changes"][0]["actor"], "claude");

    let (_, edited) = h
        .ok(
            "edit_note",
            json!({"id": "#1", "noteId": &note_id[..8], "text": "second try"}),
        )
        .await;
    assert_eq!(edited["note"]["content"], "second try");
    let (_, deleted) = h
        .ok("delete_note", json!({"id": 1, "noteId": note_id}))
        .await;
    assert_eq!(deleted["totalNotes"], 0);
    let (_, hist) = h
        .ok("get_entry_history", json!({"id": 1, "limit": 2}))
        .await;
    assert_eq!(hist["changes"][0]["events"][0]["type"], "note-deleted");
    assert_eq!(hist["changes"][1]["events"][0]["type"], "note-edited");
    assert_eq!(hist["more"], true);

    // Undo the deletion, then everything after the creation.
    let (text, undone) = h.ok("undo_change", json!({"id": 1})).await;
    assert!(text.contains("Reverted 1 change"), "{text}");
    assert_eq!(undone["reverted"][0]["events"][0]["type"], "note-deleted");
    let (_, all) = h
        .ok("get_entry_history", json!({"id": 1, "limit": 1000}))
        .await;
    let first = all["changes"].as_array().unwrap().last().unwrap()["seq"].clone();
    let (_, undone) = h.ok("undo_change", json!({"id": 1, "to": first})).await;
    assert_eq!(undone["entry"]["status"], "new");
    assert_eq!(undone["entry"]["priority"], "medium");
    let (_, shown) = h.ok("get_devlog", json!({"id": 1})).await;
    assert_eq!(shown["entry"]["notes"], json!([]));

    // Errors say what to do and change nothing.
    h.ok(
        "create_devlog",
        json!({"title": "Fresh", "type": "task", "description": "new"}),
    )
    .await;
    let err = h.fails("undo_change", json!({"id": 2})).await;
    assert!(err.contains("created the entry"), "{err}");
    let err = h
        .fails("edit_note", json!({"id": 1, "noteId": "zzz", "text": "x"}))
        .await;
    assert!(err.contains("has no note `zzz`"), "{err}");
    let err = h
        .fails("get_entry_history", json!({"id": 1, "limit": 0}))
        .await;
    assert!(err.contains("limit"), "{err}");
    let err = h.fails("delete_note", json!({"id": 1})).await;
    assert!(err.contains("noteId"), "{err}");
}
