//! Webhook triggers end to end: GitHub's own `pull_request` example payload (closed, edited to
//! be merged, as GitHub sends a merge), delivered through the sync engine's webhook path,
//! records one integration event that runs the workflow once; a redelivery runs nothing; a
//! workflow whose filter does not match runs nothing.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::collections::BTreeSet;
use std::sync::Arc;

use devlog_core::entry::EntryType;
use devlog_core::integration::Webhook;
use devlog_core::ops::{Devlog, NewEntry};
use devlog_core::sync_state::IntegrationEventKind;
use devlog_core::{Origin, Store, WriteMeta};
use devlog_github::webhook::signature;
use devlog_github::{GithubConfig, GithubIntegration};
use devlog_http::SecretString;
use devlog_sync::{SyncEngine, SyncOptions, SyncState};
use devlog_workflow::engine::Engine;
use devlog_workflow::runs::RunState;
use devlog_workflow::{RunStore, format};

const SECRET: &str = "It's a Secret to Everybody";

/// GitHub's example payloads: `../shared/apispecs` beside the checkout, or the folder
/// `DEVLOG_GITHUB_WEBHOOK_EXAMPLES` names (as devlog-github's webhook tests).
fn example(name: &str) -> serde_json::Value {
    let dir = std::env::var("DEVLOG_GITHUB_WEBHOOK_EXAMPLES").unwrap_or_else(|_| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/apispecs/github/webhooks/examples"
        )
        .to_string()
    });
    let path = format!("{dir}/pull_request/{name}");
    serde_json::from_slice(&std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))).unwrap()
}

fn hook(body: &serde_json::Value, delivery: &str) -> Webhook {
    let body = serde_json::to_vec(body).unwrap();
    Webhook {
        headers: vec![
            ("x-github-event".into(), "pull_request".into()),
            ("x-github-delivery".into(), delivery.into()),
            (
                "x-hub-signature-256".into(),
                signature(SECRET.as_bytes(), &body),
            ),
        ],
        body,
        query: Vec::new(),
    }
}

const MERGED: &str = "\
name: pr-merged
on:
  webhook:
    integration: github
    event: pull_request.merged
if: event.pullRequest.number == 2 && entry.title == \"Readme\"
steps:
  - add_note:
      category: progress
      text: \"Merged PR #{{ event.pullRequest.number }} ({{ event.pullRequest.title }}) via {{ event.integration }} {{ event.kind }}\"
";

const OPENED: &str = "\
name: pr-opened
on:
  webhook:
    integration: github
    event: pull_request.opened
steps:
  - add_note:
      category: progress
      text: opened
";

#[tokio::test]
async fn a_merged_pull_request_runs_its_workflow_once() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join(".devlog");
    let store: Arc<dyn Store> = Arc::new(devlog_store::JsonStore::open(&root).await.unwrap());
    let state = SyncState::open(&root.join(".state/sync.sqlite"))
        .await
        .unwrap();
    let mut config = GithubConfig::new(
        "Codertocat/Hello-World",
        SecretString::from("t".to_string()),
    )
    .unwrap();
    config.webhook_secret = Some(SecretString::from(SECRET.to_string()));
    let github = Arc::new(GithubIntegration::new(config).unwrap());
    let sync = SyncEngine::new(store.clone(), state, vec![github], SyncOptions::default());
    let app = Devlog::new(store);
    let entry = app
        .create(
            NewEntry {
                title: "Readme".into(),
                kind: Some(EntryType::Docs),
                ..NewEntry::default()
            },
            &WriteMeta::new(Origin::Cli),
        )
        .await
        .unwrap()
        .into_entry();
    // The pull request is the entry's (`devlog github pr` / `link --pr` attach it).
    sync.state()
        .attach("github", "pull-request", "2", entry.id, None, 0)
        .await
        .unwrap();

    let workflows = vec![
        format::parse("pr-merged.yml", MERGED).unwrap(),
        format::parse("pr-opened.yml", OPENED).unwrap(),
    ];
    let engine = Engine::new(
        app.clone(),
        workflows,
        BTreeSet::new(),
        RunStore::new(Arc::new(
            devlog_store::SqliteSyncState::open(&dir.path().join("runs.sqlite"))
                .await
                .unwrap(),
        )),
        Origin::Sync,
    );
    assert!(engine.listens_to_integrations());
    // The first follow starts at the end: nothing before it is replayed.
    let first = engine
        .follow_integration_events(&**sync.state())
        .await
        .unwrap();
    assert!(first.runs.is_empty());

    // Closed without merging: a `pull_request.closed` event, which neither workflow follows.
    let closed = example("closed.1.json");
    sync.webhook("github", &hook(&closed, "d-closed"))
        .await
        .unwrap();
    let events = sync.state().events_after(0, 10).await.unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(
        events[0].event.kind,
        IntegrationEventKind::PullRequestClosed
    );
    assert_eq!(events[0].event.entry_id, Some(entry.id));
    let o = engine
        .follow_integration_events(&**sync.state())
        .await
        .unwrap();
    assert!(
        o.runs.is_empty(),
        "a non-matching event runs nothing: {o:?}"
    );

    // Merged, as GitHub sends a merge: `closed` with `merged: true`.
    let mut merged = closed.clone();
    merged["pull_request"]["merged"] = true.into();
    merged["pull_request"]["merged_at"] = "2019-05-15T15:20:40Z".into();
    sync.webhook("github", &hook(&merged, "d-merged"))
        .await
        .unwrap();
    let o = engine
        .follow_integration_events(&**sync.state())
        .await
        .unwrap();
    assert_eq!(o.runs.len(), 1, "{o:?}");
    let run = &o.runs[0];
    assert_eq!(run.workflow, "pr-merged");
    assert_eq!(run.state, RunState::Succeeded, "{run:?}");
    assert_eq!(run.entry, Some(entry.id));
    let notes = app.store().get(entry.id).await.unwrap().notes;
    let texts: Vec<&str> = notes.iter().map(|n| n.content.as_str()).collect();
    assert!(
        texts.contains(
            &"Merged PR #2 (Update the README with new information.) via github pull_request.merged"
        ),
        "{texts:?}"
    );

    // A redelivery (same delivery id) records nothing and runs nothing.
    sync.webhook("github", &hook(&merged, "d-merged"))
        .await
        .unwrap();
    assert_eq!(sync.state().events_after(0, 10).await.unwrap().len(), 2);
    let o = engine
        .follow_integration_events(&**sync.state())
        .await
        .unwrap();
    assert!(o.runs.is_empty(), "{o:?}");
    // A second process handed the same event (its own cursor behind) does not run it again.
    let again = engine
        .on_integration_events(&sync.state().events_after(0, 10).await.unwrap())
        .await
        .unwrap();
    assert!(again.runs.is_empty(), "claimed: {again:?}");
    let runs = engine.runs().list(None).await.unwrap();
    assert_eq!(runs.len(), 1, "{runs:?}");
}
