//! The `bulk_update` tool (issue 20 item 5) over a real MCP client: a dry run changes nothing,
//! the run changes each selected entry once, and bad arguments are refused naming what to
//! fix, with nothing changed.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

mod common;

use common::{Backend, start};
use serde_json::json;

#[tokio::test]
async fn bulk_update_dry_run_then_close_then_tag() {
    for backend in [Backend::Json, Backend::Sqlite] {
        let h = start(backend, "assistant").await;
        for t in ["Old spike", "Old chore", "Live bug"] {
            let kind = if t.contains("bug") { "bugfix" } else { "task" };
            h.ok(
                "create_devlog",
                json!({"title": t, "type": kind, "description": "d"}),
            )
            .await;
        }
        let events = h.store.count_events(0, None).await.unwrap();
        let (text, plan) = h
            .ok(
                "bulk_update",
                json!({"action": "close", "filter": {"type": ["task"]}, "reason": "Stale", "dryRun": true}),
            )
            .await;
        assert!(text.contains("Dry run"), "{text}");
        assert_eq!(plan["changed"], 2);
        assert_eq!(h.store.count_events(0, None).await.unwrap(), events);

        let (text, done) = h
            .ok(
                "bulk_update",
                json!({"action": "close", "filter": {"type": ["task"]}, "reason": "Stale"}),
            )
            .await;
        assert_eq!(done["changed"], 2, "{text}");
        assert!(text.contains("#1 Old spike"), "{text}");
        let all = h.store.all().await.unwrap();
        for e in &all {
            let expected = if e.kind == devlog_core::EntryType::Task {
                "closed"
            } else {
                "new"
            };
            assert_eq!(e.status.to_string(), expected, "#{}", e.handle);
        }
        let audit = h
            .store
            .audit_log()
            .unwrap()
            .audit_page(0, 1000)
            .await
            .unwrap();
        let by_assistant = audit
            .iter()
            .filter(|s| {
                matches!(s, devlog_core::audit::Stored::Record(r)
                if r.actor.as_deref() == Some("assistant") && r.origin == devlog_core::Origin::Mcp)
            })
            .count();
        assert!(by_assistant >= 4, "creates and bulk writes are audited");

        let (_, tagged) = h
            .ok(
                "bulk_update",
                json!({"action": "tag", "all": true, "tags": ["reviewed"]}),
            )
            .await;
        assert_eq!(tagged["changed"], 3);
    }
}

#[tokio::test]
async fn bulk_update_refuses_bad_arguments_and_changes_nothing() {
    let h = start(Backend::Json, "assistant").await;
    h.ok(
        "create_devlog",
        json!({"title": "One", "type": "task", "description": "d"}),
    )
    .await;
    let events = h.store.count_events(0, None).await.unwrap();
    for (args, says) in [
        (json!({"action": "tag", "tags": ["x"]}), "filter"),
        (
            json!({"action": "close", "all": true, "tags": ["x"]}),
            "tags",
        ),
        (json!({"action": "edit", "all": true}), "nothing to set"),
        (
            json!({"action": "edit", "all": true, "set": {"status": "finished"}}),
            "finished",
        ),
        (json!({"action": "sync", "all": true}), "integration"),
        (
            json!({"action": "close", "filter": {"stauts": ["new"]}}),
            "stauts",
        ),
    ] {
        let err = h.fails("bulk_update", args.clone()).await;
        assert!(err.contains(says), "{args}: {err}");
    }
    assert_eq!(h.store.count_events(0, None).await.unwrap(), events);
}
