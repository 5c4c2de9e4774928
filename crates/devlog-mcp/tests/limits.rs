//! The input limits of devlog-core seen through MCP (issue 13): an oversized note and a feed
//! cursor beyond i64 are tool errors that change nothing.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::sync::Arc;

use devlog_core::{Devlog, Store};
use devlog_mcp::{DevlogMcp, Options};
use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::{RoleClient, RunningService};
use serde_json::{Value, json};

async fn start() -> (
    tempfile::TempDir,
    Arc<dyn Store>,
    RunningService<RoleClient, ()>,
) {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(
        devlog_store::JsonStore::open(&dir.path().join(".devlog"))
            .await
            .unwrap(),
    );
    let server = DevlogMcp::new(Devlog::new(store.clone()), Options::default());
    let (server_io, client_io) = tokio::io::duplex(1 << 20);
    tokio::spawn(async move {
        if let Ok(running) = server.serve(server_io).await {
            let _ = running.waiting().await;
        }
    });
    (dir, store, ().serve(client_io).await.unwrap())
}

async fn call(client: &RunningService<RoleClient, ()>, tool: &str, args: Value) -> CallToolResult {
    let Value::Object(args) = args else {
        panic!("arguments must be an object")
    };
    client
        .call_tool(CallToolRequestParams::new(tool.to_string()).with_arguments(args))
        .await
        .unwrap()
}

fn text(r: &CallToolResult) -> String {
    r.content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn an_oversized_note_is_a_tool_error_and_changes_nothing() {
    let (_dir, store, client) = start().await;
    let r = call(
        &client,
        "create_devlog",
        json!({"title": "Noted", "type": "task", "description": "d"}),
    )
    .await;
    assert_ne!(r.is_error, Some(true), "{}", text(&r));
    let big = "x".repeat(devlog_core::ops::MAX_TEXT + 1);
    let r = call(&client, "add_devlog_note", json!({"id": 1, "note": big})).await;
    assert_eq!(r.is_error, Some(true));
    assert!(text(&r).contains("1 MiB"), "{}", text(&r));
    assert!(store.all().await.unwrap()[0].notes.is_empty());
}

#[tokio::test]
async fn a_changes_cursor_beyond_i64_is_refused_instead_of_the_whole_feed() {
    let (_dir, _store, client) = start().await;
    call(
        &client,
        "create_devlog",
        json!({"title": "One", "type": "task", "description": "d"}),
    )
    .await;
    let r = call(
        &client,
        "get_recent_changes",
        json!({"since": 9_223_372_036_854_775_808_u64}),
    )
    .await;
    assert_eq!(r.is_error, Some(true), "{}", text(&r));
    assert!(text(&r).contains("largest sequence number"), "{}", text(&r));
}
