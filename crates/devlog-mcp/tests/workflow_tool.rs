//! The `run_workflow` tool (issue 21) over a real MCP client: a manual workflow run on an
//! entry with the MCP caller as actor, the run recorded; an unknown workflow, one without a
//! `manual` trigger and a server without workflows refused, with nothing run.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

mod common;

use common::{Backend, start, start_with_workflows};
use serde_json::json;

const TRIAGE: &str = r#"name: triage
on:
  manual:
steps:
  - add_note: { category: progress, text: "triage by {{ event.actor }}" }
  - set: { priority: high }
"#;

const AUTO: &str = "name: auto\non:\n  created:\nsteps:\n  - set_var: { x: 1 }\n";

#[tokio::test]
async fn run_workflow_runs_a_manual_workflow_on_an_entry() {
    for backend in [Backend::Json, Backend::Sqlite] {
        let h = start_with_workflows(
            backend,
            "assistant",
            &[("triage.yml", TRIAGE), ("auto.yml", AUTO)],
        )
        .await;
        h.ok(
            "create_devlog",
            json!({"title": "Flaky", "type": "bugfix", "description": "d"}),
        )
        .await;
        let (text, run) = h
            .ok("run_workflow", json!({"name": "triage", "entry": "1"}))
            .await;
        assert!(text.contains("succeeded"), "{text}");
        assert_eq!(run["state"], "succeeded");
        assert_eq!(run["cause"]["actor"], "assistant");
        let e = &h.store.all().await.unwrap()[0];
        assert_eq!(e.notes[0].content, "triage by assistant");
        assert_eq!(e.priority.to_string(), "high");
        let id = devlog_workflow::RunId::parse(run["id"].as_str().unwrap()).unwrap();
        let stored = common::runs_of(h._dir.path())
            .await
            .load(&id)
            .await
            .unwrap();
        assert_eq!(stored.workflow, "triage");

        let err = h.fails("run_workflow", json!({"name": "nope"})).await;
        assert!(err.contains("no workflow named \"nope\""), "{err}");
        let err = h.fails("run_workflow", json!({"name": "auto"})).await;
        assert!(err.contains("no `manual` trigger"), "{err}");
        let err = h
            .fails("run_workflow", json!({"name": "triage", "entry": "99"}))
            .await;
        assert!(!err.is_empty());
        assert_eq!(h.store.all().await.unwrap()[0].notes.len(), 1);
    }
}

#[tokio::test]
async fn run_workflow_without_a_workspace_says_so() {
    let h = start(Backend::Json, "assistant").await;
    let err = h.fails("run_workflow", json!({"name": "triage"})).await;
    assert!(err.contains("no workspace folder"), "{err}");
}

#[tokio::test]
async fn list_workflow_runs_and_get_workflow_run_read_the_records() {
    let h = start_with_workflows(
        Backend::Json,
        "assistant",
        &[("triage.yml", TRIAGE), ("auto.yml", AUTO)],
    )
    .await;
    h.ok(
        "create_devlog",
        json!({"title": "Flaky", "type": "bugfix", "description": "d"}),
    )
    .await;
    let (_, first) = h
        .ok("run_workflow", json!({"name": "triage", "entry": "1"}))
        .await;
    let (_, second) = h.ok("run_workflow", json!({"name": "triage"})).await;
    let (text, listed) = h.ok("list_workflow_runs", json!({})).await;
    let runs = listed["runs"].as_array().unwrap();
    let ids: Vec<&str> = runs.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 2, "{listed}");
    assert!(ids.contains(&first["id"].as_str().unwrap()), "{listed}");
    assert!(ids.contains(&second["id"].as_str().unwrap()), "{listed}");
    assert!(text.contains("triage succeeded"), "{text}");
    let (_, one) = h
        .ok(
            "list_workflow_runs",
            json!({"workflow": "triage", "state": "succeeded", "limit": 1}),
        )
        .await;
    assert_eq!(one["runs"].as_array().unwrap().len(), 1, "{one}");
    let (_, none) = h.ok("list_workflow_runs", json!({"state": "dead"})).await;
    assert_eq!(none["runs"], json!([]));
    let (_, none) = h
        .ok("list_workflow_runs", json!({"workflow": "auto"}))
        .await;
    assert_eq!(none["runs"], json!([]));

    let id = first["id"].as_str().unwrap();
    let (text, run) = h.ok("get_workflow_run", json!({"id": id})).await;
    assert_eq!(run, first, "the record as run_workflow answered it");
    assert!(text.contains("add_note"), "{text}");
    let err = h
        .fails("get_workflow_run", json!({"id": "0000000000000000"}))
        .await;
    assert!(err.contains("list_workflow_runs"), "{err}");
    let err = h
        .fails("list_workflow_runs", json!({"state": "done"}))
        .await;
    assert!(!err.is_empty());
}

#[tokio::test]
async fn the_run_tools_without_a_workspace_say_so() {
    let h = start(Backend::Json, "assistant").await;
    let err = h.fails("list_workflow_runs", json!({})).await;
    assert!(err.contains("no workspace folder"), "{err}");
    let err = h.fails("get_workflow_run", json!({"id": "abc"})).await;
    assert!(!err.is_empty());
}
