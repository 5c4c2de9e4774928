//! `GET /api/v1/workflows` and `POST /api/v1/workflows/{name}/run`: the workspace's workflow
//! files listed, a manual run with the request's actor and entry, errors for an unknown
//! workflow, one without `manual`, an unknown body field — and 404 without a workspace.

use axum::http::StatusCode;
use devlog_core::Devlog;
use devlog_server::ServerOptions;
use devlog_store::JsonStore;
use devlog_workflow::load::Site;
use serde_json::json;
use std::sync::Arc;

use crate::common::Harness;

const TRIAGE: &str = r#"name: triage
description: Mark an entry for triage
on:
  manual:
steps:
  - add_note: { category: progress, text: "triage requested by {{ event.actor }}" }
"#;

const AUTO: &str = r#"name: auto
on:
  created:
steps:
  - set_var: { x: 1 }
"#;

async fn harness() -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let devlog_dir = dir.path().join(".devlog");
    let wf = devlog_dir.join("workflows");
    std::fs::create_dir_all(&wf).unwrap();
    std::fs::write(wf.join("triage.yml"), TRIAGE).unwrap();
    std::fs::write(wf.join("auto.yml"), AUTO).unwrap();
    std::fs::write(wf.join("broken.yml"), "name: broken\non: {}\nsteps: []\n").unwrap();
    let store = JsonStore::open(&devlog_dir).await.unwrap();
    let app = Devlog::new(Arc::new(store));
    let options = ServerOptions {
        mcp: false,
        workflows: Some(Site::of(&devlog_dir, dir.path(), runs_of(dir.path()).await)),
        ..ServerOptions::default()
    };
    Harness::over(app, options, dir)
}

/// The workspace's runs: in its sync state, where `devlog workflow runs` reads them.
async fn runs_of(root: &std::path::Path) -> devlog_workflow::RunStore {
    let state = devlog_store::SqliteSyncState::open(&root.join(".devlog/.state/sync.sqlite"))
        .await
        .unwrap();
    devlog_workflow::RunStore::new(Arc::new(state))
}

#[tokio::test]
async fn lists_the_workflows_and_the_broken_files() {
    let h = harness().await;
    let r = h.get("/api/v1/workflows").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let v = r.json();
    let names: Vec<&str> = v["workflows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["auto", "triage"]);
    assert_eq!(v["workflows"][1]["triggers"], json!(["manual"]));
    assert_eq!(v["workflows"][1]["enabled"], true);
    assert_eq!(v["workflows"][1]["file"], ".devlog/workflows/triage.yml");
    let errors = v["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0]
            .as_str()
            .unwrap()
            .starts_with(".devlog/workflows/broken.yml:2: on:")
    );
}

#[tokio::test]
async fn runs_a_manual_workflow_with_the_requests_actor_and_entry() {
    let h = harness().await;
    h.create("Flaky test", "bugfix").await;
    let r = h
        .json(
            axum::http::Method::POST,
            "/api/v1/workflows/triage/run",
            json!({"entry": "1"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let run = r.json();
    assert_eq!(run["state"], "succeeded", "{run}");
    assert_eq!(run["cause"]["kind"], "manual");
    let e = h.get("/api/v1/entries/1").await.json();
    let notes = e["notes"].as_array().unwrap();
    assert_eq!(notes.len(), 1);
    assert!(
        notes[0]["content"]
            .as_str()
            .unwrap()
            .starts_with("triage requested by"),
        "{e}"
    );
    // The run is recorded where `devlog workflow runs` reads.
    let id = devlog_workflow::RunId::parse(run["id"].as_str().unwrap()).unwrap();
    let stored = runs_of(h.dir.path()).await.load(&id).await.unwrap();
    assert_eq!(stored.workflow, "triage");
}

#[tokio::test]
async fn refuses_unknown_workflows_non_manual_ones_and_bad_bodies() {
    let h = harness().await;
    let r = h.post("/api/v1/workflows/nope/run", json!({})).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text());
    assert!(r.text().contains("auto, triage"), "{}", r.text());
    let r = h.post("/api/v1/workflows/auto/run", json!({})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    assert!(r.text().contains("no `manual` trigger"), "{}", r.text());
    let r = h
        .post("/api/v1/workflows/triage/run", json!({"entyr": "1"}))
        .await;
    assert!(r.status.is_client_error(), "{}", r.text());
    let r = h
        .post("/api/v1/workflows/triage/run", json!({"entry": "99"}))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text());
    // Nothing was run by the refused requests.
    let runs = runs_of(h.dir.path()).await.list(None).await.unwrap();
    assert!(runs.is_empty(), "{runs:?}");
}

#[tokio::test]
async fn a_server_without_a_workspace_has_no_workflows() {
    let h = Harness::new().await;
    let r = h.get("/api/v1/workflows").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.class(), "no-workflows");
}
