//! `webhook` and `sync` triggers: their load errors (file, line, key, the allowed values),
//! and the engine following the sync state's integration events (SQLite) — each event runs
//! each matching workflow once, filters, the entry the event names, the first follow
//! starting at the end.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::collections::BTreeSet;
use std::sync::Arc;

use devlog_core::event::{Origin, WriteMeta};
use devlog_core::ops::NewEntry;
use devlog_core::sync_state::{IntegrationEventKind, NewIntegrationEvent, SyncStateStore};
use devlog_core::{Devlog, EntryId};
use devlog_store::{SqliteSyncState, StoreSpec};
use devlog_workflow::runs::{Cause, RunState};
use devlog_workflow::{Engine, RunStore, parse};
use serde_json::json;

#[path = "common/runs.rs"]
mod runs;

fn err(text: &str) -> devlog_workflow::FormatError {
    parse("w.yml", text).unwrap_err()
}

#[test]
fn unknown_webhook_events_are_load_errors_listing_the_allowed() {
    let e = err(
        "name: x\non:\n  webhook:\n    integration: github\n    event: pull_request.merge\nsteps:\n  - add_note: {text: t}\n",
    );
    assert_eq!(e.file, "w.yml");
    assert_eq!(e.line, Some(5), "{e}");
    assert_eq!(e.key, "on.webhook.event", "{e}");
    for want in [
        "pull_request.merge",
        "github: `pull_request.opened`",
        "jira: `issue.transitioned`",
        "azure-devops: `deployment.completed`",
    ] {
        assert!(e.message.contains(want), "{want}: {e}");
    }
    // A known event of another integration.
    let e = err(
        "name: x\non:\n  webhook:\n    integration: jira\n    event: pull_request.merged\nsteps:\n  - add_note: {text: t}\n",
    );
    assert!(e.key.starts_with("on.webhook"), "{e}");
    assert!(e.message.contains("not a jira event"), "{e}");
    assert!(e.message.contains("`issue.commented`"), "{e}");
    // An unknown integration, a filter that does not fit the event, an unknown sync event.
    let e = err(
        "name: x\non:\n  webhook:\n    integration: gitlab\n    event: pull_request.merged\nsteps:\n  - add_note: {text: t}\n",
    );
    assert_eq!(e.key, "on.webhook.integration", "{e}");
    assert!(
        e.message.contains("`github`, `jira`") && e.message.contains("`azure-devops`"),
        "{e}"
    );
    let e = err(
        "name: x\non:\n  webhook:\n    integration: github\n    event: pull_request.merged\n    environment: prod\nsteps:\n  - add_note: {text: t}\n",
    );
    assert!(
        e.message
            .contains("`environment` filters `deployment.completed`"),
        "{e}"
    );
    let e = err("name: x\non:\n  sync:\n    event: conflicts\nsteps:\n  - add_note: {text: t}\n");
    assert_eq!(e.key, "on.sync.event", "{e}");
    assert_eq!(e.line, Some(4), "{e}");
    assert!(
        e.message.contains("`conflict`") && e.message.contains("`job_dead`"),
        "{e}"
    );
    // The schema names the events.
    let schema = devlog_workflow::schema().to_string();
    assert!(schema.contains("pull_request.merged") && schema.contains("job_dead"));
}

struct World {
    _dir: tempfile::TempDir,
    app: Devlog,
    state: Arc<dyn SyncStateStore>,
    runs: RunStore,
}

impl World {
    /// One follow of the integration events: how many runs it made.
    async fn follow(&self, engine: &Engine) -> usize {
        engine
            .follow_integration_events(&*self.state)
            .await
            .unwrap()
            .runs
            .len()
    }

    async fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let spec = StoreSpec::from_name("sqlite", dir.path(), None).unwrap();
        let store = devlog_store::open(&spec).await.unwrap();
        let state: Arc<dyn SyncStateStore> = Arc::new(
            SqliteSyncState::open(&dir.path().join("sync.sqlite"))
                .await
                .unwrap(),
        );
        World {
            app: Devlog::new(store),
            state,
            runs: runs::run_store(dir.path()).await,
            _dir: dir,
        }
    }

    fn engine(&self, files: &[&str]) -> Engine {
        let loaded = files
            .iter()
            .enumerate()
            .map(|(i, t)| parse(&format!("w{i}.yml"), t).unwrap())
            .collect();
        Engine::new(
            self.app.clone(),
            loaded,
            BTreeSet::new(),
            self.runs.clone(),
            Origin::Sync,
        )
    }

    async fn record(
        &self,
        integration: &str,
        kind: IntegrationEventKind,
        key: &str,
        entry: Option<EntryId>,
        data: serde_json::Value,
    ) {
        let recorded = self
            .state
            .record_event(&NewIntegrationEvent {
                integration: integration.into(),
                kind,
                key: key.into(),
                entry_id: entry,
                data,
                at: 1_800_000_000_000,
            })
            .await
            .unwrap();
        assert!(recorded);
    }
}

const TRANSITIONED: &str = "\
name: jira-done
on:
  webhook: {integration: jira, event: issue.transitioned, to: done}
steps:
  - add_note: {category: progress, text: \"{{ event.issue.key }} {{ event.from }} -> {{ event.to }}\"}
";

const CONFLICT: &str = "\
name: on-conflict
on:
  sync: {event: conflict}
steps:
  - add_note: {category: issue, text: \"conflict on {{ event.fields | join(', ') }} ({{ event.integration }})\"}
";

const DEAD: &str = "\
name: on-dead
on:
  sync: {event: job_dead, integration: azure-devops}
if: event.job.attempts >= 2
steps:
  - add_note: {category: issue, text: \"push to {{ event.integration }} died: {{ event.error }}\"}
";

const DEPLOYED: &str = "\
name: deployed
on:
  webhook: {integration: ado, event: deployment.completed, environment: Production}
steps:
  - set_var: {x: \"{{ event.environment }}\"}
";

#[tokio::test]
async fn integration_events_run_matching_workflows_once() {
    let w = World::new().await;
    let e = w
        .app
        .create(
            NewEntry {
                title: "Synced".into(),
                kind: Some(devlog_core::EntryType::Task),
                ..NewEntry::default()
            },
            &WriteMeta::new(Origin::Cli),
        )
        .await
        .unwrap()
        .into_entry();
    // An event before the first follow is history: not replayed.
    w.record(
        "jira",
        IntegrationEventKind::IssueTransitioned,
        "old#0",
        Some(e.id),
        json!({"issue": {"key": "DEV-1"}, "from": "To Do", "to": "Done"}),
    )
    .await;
    let engine = w.engine(&[TRANSITIONED, CONFLICT, DEAD, DEPLOYED]);
    assert_eq!(w.follow(&engine).await, 0);

    // Filters: `to` (case does not matter), the integration name, the environment.
    w.record(
        "jira",
        IntegrationEventKind::IssueTransitioned,
        "d1#0",
        Some(e.id),
        json!({"issue": {"key": "DEV-1"}, "from": "To Do", "to": "In Progress"}),
    )
    .await;
    w.record(
        "jira",
        IntegrationEventKind::IssueTransitioned,
        "d2#0",
        Some(e.id),
        json!({"issue": {"key": "DEV-1"}, "from": "In Progress", "to": "DONE"}),
    )
    .await;
    w.record(
        "azure-devops",
        IntegrationEventKind::DeploymentCompleted,
        "d3#0",
        None,
        json!({"environment": "Dev"}),
    )
    .await;
    w.record(
        "github",
        IntegrationEventKind::JobDead,
        "job:1:2",
        Some(e.id),
        json!({"job": {"id": 1, "attempts": 2}, "error": "boom"}),
    )
    .await;
    w.record(
        "azure-devops",
        IntegrationEventKind::JobDead,
        "job:2:1",
        Some(e.id),
        json!({"job": {"id": 2, "attempts": 1}, "error": "early"}),
    )
    .await;
    w.record(
        "azure-devops",
        IntegrationEventKind::JobDead,
        "job:3:2",
        Some(e.id),
        json!({"job": {"id": 3, "attempts": 2}, "error": "rejected"}),
    )
    .await;
    w.record(
        "github",
        IntegrationEventKind::Conflict,
        "conflict:x",
        Some(e.id),
        json!({"fields": ["title", "status"]}),
    )
    .await;

    let o = engine.follow_integration_events(&*w.state).await.unwrap();
    let ran: Vec<(&str, RunState)> = o
        .runs
        .iter()
        .map(|r| (r.workflow.as_str(), r.state))
        .collect();
    assert_eq!(
        ran,
        [
            ("jira-done", RunState::Succeeded),
            ("on-dead", RunState::Succeeded),
            ("on-conflict", RunState::Succeeded),
        ],
        "{o:?}"
    );
    assert!(
        matches!(&o.runs[0].cause, Cause::Integration { event, .. } if event["kind"] == "issue.transitioned" && event["entryId"] == e.id.to_string())
    );
    let notes: Vec<String> = w
        .app
        .store()
        .get(e.id)
        .await
        .unwrap()
        .notes
        .iter()
        .map(|n| n.content.clone())
        .collect();
    assert_eq!(
        notes,
        [
            "DEV-1 In Progress -> DONE",
            "push to azure-devops died: rejected",
            "conflict on title, status (github)",
        ],
    );
    // Nothing new: nothing runs; handing the same events again (a second process) runs
    // nothing either (the claims).
    assert_eq!(w.follow(&engine).await, 0);
    // (All but the first, which came before the first follow.)
    let all = w.state.events_after(0, 100).await.unwrap();
    assert!(
        engine
            .on_integration_events(&all[1..])
            .await
            .unwrap()
            .runs
            .is_empty()
    );

    // A deployment to the filtered environment, without an entry: `entry` is null.
    w.record(
        "azure-devops",
        IntegrationEventKind::DeploymentCompleted,
        "d4#0",
        None,
        json!({"environment": "production"}),
    )
    .await;
    let o = engine.follow_integration_events(&*w.state).await.unwrap();
    assert_eq!(o.runs.len(), 1, "{o:?}");
    assert_eq!(
        (o.runs[0].workflow.as_str(), o.runs[0].entry),
        ("deployed", None)
    );
    assert_eq!(o.runs[0].state, RunState::Succeeded, "{o:?}");
}

/// Pruning runs (`devlog workflow due`, `serve`, `worker`) also drops integration events the
/// follower has read, once older than `EVENT_KEEP_MS`; unread ones stay whatever their age.
#[tokio::test]
async fn prune_drops_only_events_the_follower_has_read_and_kept_long_enough() {
    use devlog_core::Timestamp;
    use devlog_core::sync_state::EVENT_KEEP_MS;
    use devlog_workflow::runs::RunRetention;
    let w = World::new().await;
    let engine =
        w.engine(&["name: counted\non:\n  sync: {event: conflict}\nsteps:\n  - set_var: {x: 1}\n"]);
    let world = &w;
    let conflict = |key: &str| {
        let key = key.to_string();
        async move {
            world
                .record(
                    "github",
                    IntegrationEventKind::Conflict,
                    &key,
                    None,
                    json!({"fields": ["title"]}),
                )
                .await
        }
    };
    conflict("before").await;
    let at = Timestamp::from_millis(1_800_000_000_000).unwrap();
    let late = Timestamp::from_millis(at.millis() + EVENT_KEEP_MS + 1).unwrap();
    let keep = RunRetention::default();
    // No follower yet: nothing is pruned, however old.
    assert_eq!(w.runs.prune(&keep, late).await.unwrap().events, 0);
    assert_eq!(w.follow(&engine).await, 0);
    conflict("a").await;
    conflict("b").await;
    assert_eq!(w.follow(&engine).await, 2);
    conflict("unread").await;
    let keys = |events: Vec<devlog_core::sync_state::IntegrationEvent>| {
        events.into_iter().map(|e| e.event.key).collect::<Vec<_>>()
    };
    // Read but recent: kept.
    assert_eq!(w.runs.prune(&keep, at).await.unwrap().events, 0);
    // Read and old: gone; the unread one stays.
    assert_eq!(w.runs.prune(&keep, late).await.unwrap().events, 3);
    assert_eq!(keys(w.state.events_after(0, 10).await.unwrap()), ["unread"]);
    // The follower goes on from its cursor and sees it.
    let o = engine.follow_integration_events(&*w.state).await.unwrap();
    assert_eq!(o.runs.len(), 1, "{o:?}");
}
