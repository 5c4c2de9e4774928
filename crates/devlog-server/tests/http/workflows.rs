//! `GET /api/v1/workflows` and `POST /api/v1/workflows/{name}/run`: the workspace's workflow
//! files listed, a manual run with the request's actor and entry, errors for an unknown
//! workflow, one without `manual`, an unknown body field — and 404 without a workspace.
//! `GET /api/v1/workflows/runs[/{id}]`: the run records, filtered. The dashboard's Workflows
//! page, run page and the entry page's Run control, for an editor and for a viewer.

use axum::body::Body;
use axum::http::{Method, StatusCode};
use devlog_core::auth::{NewToken, Role, TokenSecret, issue};
use devlog_core::{Clock, Devlog};
use devlog_server::ServerOptions;
use devlog_store::JsonStore;
use devlog_workflow::load::Site;
use serde_json::json;
use std::sync::Arc;

use crate::common::{FixedClock, Harness, Reply, req};

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

/// Runs `name` through the API (what the dashboard's Run button sends); the run record.
async fn run(h: &Harness, name: &str, body: serde_json::Value) -> serde_json::Value {
    let r = h.post(&format!("/api/v1/workflows/{name}/run"), body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()
}

#[tokio::test]
async fn lists_runs_filtered_and_shows_one() {
    let h = harness().await;
    h.create("Flaky test", "bugfix").await;
    let first = run(&h, "triage", json!({"entry": "1"})).await;
    let second = run(&h, "triage", json!({})).await;
    let r = h.get("/api/v1/workflows/runs").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let ids: Vec<String> = r.json()["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 2);
    assert!(ids.contains(&first["id"].as_str().unwrap().to_string()));
    assert!(ids.contains(&second["id"].as_str().unwrap().to_string()));
    let r = h
        .get("/api/v1/workflows/runs?workflow=triage&state=succeeded&limit=1")
        .await;
    assert_eq!(
        r.json()["runs"].as_array().unwrap().len(),
        1,
        "{}",
        r.text()
    );
    let r = h.get("/api/v1/workflows/runs?limit=1&offset=1").await;
    assert_eq!(
        r.json()["runs"].as_array().unwrap().len(),
        1,
        "{}",
        r.text()
    );
    // The run without an entry failed: its step needs one.
    let r = h.get("/api/v1/workflows/runs?state=failed").await;
    let failed = r.json()["runs"].clone();
    assert_eq!(failed.as_array().unwrap().len(), 1, "{failed}");
    assert_eq!(failed[0]["id"], second["id"]);
    let r = h.get("/api/v1/workflows/runs?state=dead").await;
    assert_eq!(r.json()["runs"], json!([]));
    let r = h.get("/api/v1/workflows/runs?workflow=auto").await;
    assert_eq!(r.json()["runs"], json!([]));
    let r = h.get("/api/v1/workflows/runs?state=done").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    let r = h.get("/api/v1/workflows/runs?name=triage").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());

    let id = first["id"].as_str().unwrap();
    let r = h.get(&format!("/api/v1/workflows/runs/{id}")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json(), first, "the record the run answered");
    let r = h.get("/api/v1/workflows/runs/00000000ffff").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text());
    let r = h.get("/api/v1/workflows/runs/not-a-run").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    // Without a workspace: 404 as the other workflow routes.
    let bare = Harness::new().await;
    assert_eq!(
        bare.get("/api/v1/workflows/runs").await.class(),
        "no-workflows"
    );
}

#[tokio::test]
async fn the_dashboard_shows_workflows_broken_files_runs_and_a_run_page() {
    let h = harness().await;
    h.create("Flaky test", "bugfix").await;
    let page = h.get("/workflows").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    let html = page.text();
    assert!(
        html.contains(r#"href="/workflows" aria-current="page""#),
        "{html}"
    );
    assert!(html.contains("Mark an entry for triage"), "{html}");
    // (minijinja escapes `/` in text.)
    assert!(html.contains("workflows&#x2f;triage.yml</code>"), "{html}");
    assert!(html.contains("workflows&#x2f;broken.yml:2: on:"), "{html}");
    // A Run form for the manual workflow only.
    assert!(
        html.contains(r#"class="run-workflow" data-workflow="triage""#),
        "{html}"
    );
    assert!(
        !html.contains(r#"class="run-workflow" data-workflow="auto""#),
        "{html}"
    );
    assert!(html.contains("No recorded runs."), "{html}");

    // What the Run button sends; the page then lists the run, once, with its entry.
    let record = run(&h, "triage", json!({"entry": "1"})).await;
    let id = record["id"].as_str().unwrap();
    let html = h.get("/workflows").await.text();
    assert_eq!(
        html.matches(&format!(r#"<a href="/workflows/runs/{id}">{id}</a>"#))
            .count(),
        1,
        "{html}"
    );
    assert!(html.contains("manual by"), "{html}");
    assert!(
        html.contains(r#"<a href="/entries/1">#1 Flaky test</a>"#),
        "{html}"
    );
    assert!(
        html.contains(&format!(r#"<a href="/workflows/runs/{id}">succeeded</a>"#)),
        "the workflow's last run: {html}"
    );
    let page = h.get(&format!("/workflows/runs/{id}")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    let html = page.text();
    assert!(html.contains("add_note"), "{html}");
    assert!(html.contains("<dd>succeeded</dd>"), "{html}");
    // The step's output (the note it added).
    assert!(html.contains("noteId"), "{html}");
    assert_eq!(
        h.get("/workflows/runs/00000000ffff").await.status,
        StatusCode::NOT_FOUND
    );

    // The entry page offers the manual workflows for that entry.
    let html = h.get("/entries/1").await.text();
    assert!(
        html.contains(r#"data-entry="1""#)
            && html.contains(r#"<option value="triage">triage</option>"#),
        "{html}"
    );
    assert!(!html.contains(r#"<option value="auto">"#), "{html}");
}

async fn add_token(h: &Harness, name: &str, role: Role) -> TokenSecret {
    let (t, s) = issue(
        NewToken {
            name: name.parse().unwrap(),
            role,
            scope: None,
            expires_at: None,
            created_by: None,
        },
        FixedClock.now(),
        &mut rand::rng(),
    );
    h.app
        .store()
        .tokens()
        .unwrap()
        .insert_token(&t)
        .await
        .unwrap();
    s
}

async fn as_token(h: &Harness, method: Method, uri: &str, token: &TokenSecret) -> Reply {
    let b = req(method.clone(), uri).header("authorization", format!("Bearer {}", token.expose()));
    let r = if method == Method::POST {
        b.header("content-type", "application/json")
            .body(Body::from("{}"))
    } else {
        b.body(Body::empty())
    };
    h.send(r.unwrap()).await
}

#[tokio::test]
async fn a_viewer_sees_workflows_without_run_controls_and_may_not_run_one() {
    let h = harness().await;
    h.create("Flaky test", "bugfix").await;
    let viewer = add_token(&h, "viewer", Role::Viewer).await;
    let editor = add_token(&h, "editor", Role::Editor).await;
    let page = as_token(&h, Method::GET, "/workflows", &viewer).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    let html = page.text();
    assert!(html.contains("Mark an entry for triage"), "{html}");
    assert!(!html.contains("run-workflow"), "{html}");
    let html = as_token(&h, Method::GET, "/entries/1", &viewer)
        .await
        .text();
    assert!(!html.contains("run-workflow"), "{html}");
    let r = as_token(&h, Method::POST, "/api/v1/workflows/triage/run", &viewer).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    let r = as_token(&h, Method::GET, "/api/v1/workflows/runs", &viewer).await;
    assert_eq!(r.json()["runs"], json!([]), "the viewer's POST ran nothing");
    // An editor gets the controls and may run.
    let html = as_token(&h, Method::GET, "/workflows", &editor)
        .await
        .text();
    assert!(
        html.contains(r#"class="run-workflow" data-workflow="triage""#),
        "{html}"
    );
    let html = as_token(&h, Method::GET, "/entries/1", &editor)
        .await
        .text();
    assert!(html.contains("run-on-entry"), "{html}");
    let r = as_token(&h, Method::POST, "/api/v1/workflows/triage/run", &editor).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let actor = r.json()["cause"]["actor"].clone();
    assert!(actor.as_str().unwrap().contains("editor"), "{actor}");
}

#[tokio::test]
async fn the_workflows_page_without_a_workspace_says_so() {
    let h = Harness::new().await;
    let page = h.get("/workflows").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    assert!(
        page.text().contains("no workspace folder"),
        "{}",
        page.text()
    );
}

/// `/workflows/runs/{id}` beside `/workflows/{name}/run`: a workflow named `runs` still runs.
#[tokio::test]
async fn a_workflow_named_runs_is_not_taken_for_the_runs_route() {
    let dir = tempfile::tempdir().unwrap();
    let devlog_dir = dir.path().join(".devlog");
    let wf = devlog_dir.join("workflows");
    std::fs::create_dir_all(&wf).unwrap();
    std::fs::write(
        wf.join("runs.yml"),
        "name: runs\non:\n  manual:\nsteps:\n  - set_var: { x: 1 }\n",
    )
    .unwrap();
    let store = JsonStore::open(&devlog_dir).await.unwrap();
    let options = ServerOptions {
        mcp: false,
        workflows: Some(Site::of(&devlog_dir, dir.path(), runs_of(dir.path()).await)),
        ..ServerOptions::default()
    };
    let h = Harness::over(Devlog::new(Arc::new(store)), options, dir);
    let record = run(&h, "runs", json!({})).await;
    assert_eq!(record["state"], "succeeded", "{record}");
    let id = record["id"].as_str().unwrap();
    let r = h.get(&format!("/api/v1/workflows/runs/{id}")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
}
