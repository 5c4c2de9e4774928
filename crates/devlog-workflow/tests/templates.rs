//! The templates shipped in `docs/workflows/` that reach outside the store (issue 21 item 8),
//! read from their files and run by the engine against a real SQLite store and sync state,
//! an injected clock and a recording [`StepHost`]: a merged pull request finishing its entry
//! and transitioning the Jira issue, an entry still blocked after three days posted to the
//! team, a new critical bug tracked on GitHub and Azure DevOps, a started entry getting its
//! branch and one in review its pull request and CI run. (The hosts of these steps are
//! tested against the fakes in devlog-cli's `workflow_steps.rs`.)
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, Mutex};

use devlog_core::event::{Origin, WriteMeta};
use devlog_core::ops::{Edit, NewEntry};
use devlog_core::sync_state::{IntegrationEventKind, NewIntegrationEvent, SyncStateStore};
use devlog_core::{Devlog, Entry, EntryType, Priority, Status, Store};
use devlog_store::{SqliteSyncState, StoreSpec};
use devlog_workflow::host::{
    BranchRequest, HostFuture, NotifyRequest, PipelineRequest, PluginRequest, PullRequestRequest,
    SyncRequest,
};
use devlog_workflow::runs::RunState;
use devlog_workflow::{Engine, RunStore, StepHost, parse};
use serde_json::{Value, json};

#[path = "common/clock.rs"]
mod clock;
use clock::ManualClock;

#[path = "common/runs.rs"]
mod runs;

/// Records what it was asked; a `sync` answers with an item per integration and entry.
#[derive(Debug, Default)]
struct Host {
    calls: Mutex<Vec<(String, Value)>>,
}

impl Host {
    fn calls(&self) -> Vec<(String, Value)> {
        self.calls.lock().unwrap().clone()
    }
}

impl StepHost for Host {
    fn sync<'a>(&'a self, req: &'a SyncRequest, _dry: bool) -> HostFuture<'a> {
        Box::pin(async move {
            self.calls.lock().unwrap().push((
                "sync".into(),
                json!({"integration": req.integration, "handle": req.handle}),
            ));
            let id = match req.integration.as_str() {
                "jira" => format!("DEV-{}", req.handle),
                _ => req.handle.to_string(),
            };
            Ok(json!({
                "remoteId": id,
                "url": format!("https://{}.test/{id}", req.integration),
                "done": "created",
            }))
        })
    }

    fn notify<'a>(&'a self, req: &'a NotifyRequest, _dry: bool) -> HostFuture<'a> {
        Box::pin(async move {
            self.calls.lock().unwrap().push((
                "notify".into(),
                json!({"target": req.target.shown(), "payload": req.payload}),
            ));
            Ok(json!({"target": req.target.shown(), "status": 200}))
        })
    }

    fn plugin<'a>(&'a self, _req: &'a PluginRequest, _dry: bool) -> HostFuture<'a> {
        Box::pin(async { Err("no plugins here".to_string()) })
    }

    fn branch<'a>(&'a self, req: &'a BranchRequest, _dry: bool) -> HostFuture<'a> {
        Box::pin(async move {
            let name = format!("devlog/{}-{}", req.entry.handle, req.entry.key);
            self.calls.lock().unwrap().push((
                "branch".into(),
                json!({"name": name, "checkout": req.checkout}),
            ));
            Ok(json!({"name": name, "created": true, "at": "0123abcd"}))
        })
    }

    fn pull_request<'a>(&'a self, req: &'a PullRequestRequest, _dry: bool) -> HostFuture<'a> {
        Box::pin(async move {
            self.calls.lock().unwrap().push((
                "pull_request".into(),
                json!({"integration": req.integration, "branch": req.branch, "draft": req.draft,
                       "title": req.title, "body": req.body}),
            ));
            Ok(json!({"number": 12, "url": "https://github.test/acme/w/pull/12", "opened": true}))
        })
    }

    fn pipeline<'a>(&'a self, req: &'a PipelineRequest, _dry: bool) -> HostFuture<'a> {
        Box::pin(async move {
            self.calls.lock().unwrap().push((
                "pipeline".into(),
                json!({"pipeline": req.pipeline, "branch": req.branch}),
            ));
            Ok(json!({"run_id": 5, "url": "https://ado.test/5", "queued": true}))
        })
    }
}

struct World {
    _dir: tempfile::TempDir,
    clock: Arc<ManualClock>,
    store: Arc<dyn Store>,
    state: Arc<dyn SyncStateStore>,
    app: Devlog,
    runs: RunStore,
    host: Arc<Host>,
}

impl World {
    async fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let spec = StoreSpec::from_name("sqlite", dir.path(), None).unwrap();
        let store = devlog_store::open(&spec).await.unwrap();
        let state: Arc<dyn SyncStateStore> = Arc::new(
            SqliteSyncState::open(&dir.path().join("sync.sqlite"))
                .await
                .unwrap(),
        );
        let clock = Arc::new(ManualClock(Mutex::new(
            "2026-12-07T09:00:00Z".parse().unwrap(),
        )));
        World {
            app: Devlog::with_clock(store.clone(), clock.clone()),
            runs: runs::run_store(dir.path()).await,
            host: Arc::default(),
            _dir: dir,
            clock,
            store,
            state,
        }
    }

    /// An engine running the shipped template `name` (`docs/workflows/<name>.yml`).
    fn engine(&self, name: &str) -> Engine {
        let file = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../docs/workflows")
            .join(format!("{name}.yml"));
        let text = std::fs::read_to_string(&file).unwrap();
        let loaded = parse(&format!("{name}.yml"), &text).unwrap();
        Engine::new(
            self.app.clone(),
            vec![loaded],
            BTreeSet::new(),
            self.runs.clone(),
            Origin::Cli,
        )
        .with_host(self.host.clone())
    }

    async fn create(&self, title: &str, kind: EntryType, priority: Priority) -> Entry {
        self.app
            .create(
                NewEntry {
                    title: title.into(),
                    kind: Some(kind),
                    priority: Some(priority),
                    ..NewEntry::default()
                },
                &WriteMeta::new(Origin::Cli).with_actor(Some("ann".into())),
            )
            .await
            .unwrap()
            .entry()
            .clone()
    }

    async fn set_status(&self, e: &Entry, status: Status) {
        let edit = Edit {
            status: Some(status),
            ..Edit::default()
        };
        self.app
            .edit(e.id, edit, &WriteMeta::new(Origin::Cli))
            .await
            .unwrap();
    }

    async fn end(&self) -> u64 {
        self.store
            .events_before(None, 1)
            .await
            .unwrap()
            .last()
            .map_or(0, |e| e.seq)
    }

    /// Hands the change feed after `from` to the engine, as a command's hook does.
    async fn hand_on(&self, engine: &Engine, from: u64) -> Vec<devlog_workflow::runs::RunRecord> {
        let events = self.store.events(from, 1000).await.unwrap();
        engine.on_events(events).await.unwrap().runs
    }

    async fn get(&self, e: &Entry) -> Entry {
        self.store.get(e.id).await.unwrap()
    }
}

fn notes(e: &Entry) -> Vec<String> {
    e.notes.iter().map(|n| n.content.clone()).collect()
}

#[tokio::test]
async fn a_merged_pull_request_finishes_its_entry_and_transitions_the_jira_issue() {
    let w = World::new().await;
    let engine = w.engine("pr-merged-done");
    let e = w
        .create("Retry uploads", EntryType::Feature, Priority::Medium)
        .await;
    w.set_status(&e, Status::InReview).await;
    // The first follow starts at the end of the event log.
    assert!(
        engine
            .follow_integration_events(&*w.state)
            .await
            .unwrap()
            .runs
            .is_empty()
    );
    let merged = |key: &str, entry: Option<&Entry>| NewIntegrationEvent {
        integration: "github".into(),
        kind: IntegrationEventKind::PullRequestMerged,
        key: key.into(),
        entry_id: entry.map(|e| e.id),
        data: json!({"pullRequest": {"number": 7, "url": "https://github.com/o/r/pull/7",
                     "title": "Retry uploads", "branch": "feature/retry"}}),
        at: 1_800_000_000_000,
    };
    assert!(
        w.state
            .record_event(&merged("d1#0", Some(&e)))
            .await
            .unwrap()
    );
    let runs = engine
        .follow_integration_events(&*w.state)
        .await
        .unwrap()
        .runs;
    assert_eq!(runs.len(), 1, "{runs:#?}");
    assert_eq!(runs[0].state, RunState::Succeeded, "{:#?}", runs[0]);
    let now = w.get(&e).await;
    assert_eq!(now.status, Status::Done);
    assert_eq!(
        w.host.calls(),
        [(
            "sync".to_string(),
            json!({"integration": "jira", "handle": e.handle})
        )]
    );
    assert_eq!(
        notes(&now),
        ["Merged https://github.com/o/r/pull/7; DEV-1 moved to done"]
    );

    // A pull request that carries no entry runs nothing; a redelivery is not recorded again.
    assert!(w.state.record_event(&merged("d2#0", None)).await.unwrap());
    assert!(
        !w.state
            .record_event(&merged("d1#0", Some(&e)))
            .await
            .unwrap()
    );
    let runs = engine
        .follow_integration_events(&*w.state)
        .await
        .unwrap()
        .runs;
    assert!(
        runs.iter().all(|r| r.state != RunState::Succeeded),
        "{runs:#?}"
    );
    assert_eq!(w.host.calls().len(), 1);
}

#[tokio::test]
async fn an_entry_still_blocked_after_three_days_is_posted_to_the_team() {
    let w = World::new().await;
    let engine = w.engine("blocked-three-days");
    let stuck = w.create("Stuck", EntryType::Task, Priority::High).await;
    let freed = w.create("Freed", EntryType::Task, Priority::High).await;
    let from = w.end().await;
    w.set_status(&stuck, Status::Blocked).await;
    w.set_status(&freed, Status::Blocked).await;
    let runs = w.hand_on(&engine, from).await;
    assert_eq!(runs.len(), 2, "{runs:#?}");
    assert!(
        runs.iter().all(|r| r.state == RunState::Waiting),
        "{runs:#?}"
    );
    assert_eq!(
        runs[0].wake_at,
        Some("2026-12-10T09:00:00Z".parse().unwrap())
    );

    // One is unblocked on the second day; nothing is due yet.
    w.clock.set("2026-12-08T12:00:00Z");
    w.set_status(&freed, Status::InProgress).await;
    assert!(engine.tick().await.unwrap().resumed.is_empty());
    assert!(w.host.calls().is_empty());

    // Three days on: the one still blocked is posted, once; the other is not.
    w.clock.set("2026-12-10T09:01:00Z");
    let resumed = engine.tick().await.unwrap().resumed;
    assert_eq!(resumed.len(), 2, "{resumed:#?}");
    assert!(resumed.iter().all(|r| r.state == RunState::Succeeded));
    assert_eq!(
        w.host.calls(),
        [(
            "notify".to_string(),
            json!({"target": "target team", "payload": {
                "text": format!("#{} \"Stuck\" has been blocked for 3 days", stuck.handle)
            }})
        )]
    );
    assert!(engine.tick().await.unwrap().resumed.is_empty());
    assert_eq!(w.host.calls().len(), 1);
}

#[tokio::test]
async fn a_new_critical_bug_is_tracked_on_github_and_azure_devops() {
    let w = World::new().await;
    let engine = w.engine("critical-bug-everywhere");
    let from = w.end().await;
    let bug = w
        .create("Data loss on save", EntryType::Bugfix, Priority::Critical)
        .await;
    w.create("Small glitch", EntryType::Bugfix, Priority::Low)
        .await;
    w.create("Critical feature", EntryType::Feature, Priority::Critical)
        .await;
    let runs = w.hand_on(&engine, from).await;
    let done: Vec<_> = runs
        .iter()
        .filter(|r| r.state == RunState::Succeeded)
        .collect();
    assert_eq!(done.len(), 1, "{runs:#?}");
    assert_eq!(
        w.host.calls(),
        [
            (
                "sync".to_string(),
                json!({"integration": "github", "handle": bug.handle})
            ),
            (
                "sync".to_string(),
                json!({"integration": "azure-devops", "handle": bug.handle})
            ),
        ]
    );
    let h = bug.handle;
    assert_eq!(
        notes(&w.get(&bug).await),
        [format!(
            "Tracked as https://github.test/{h} and https://azure-devops.test/{h}"
        )]
    );
}

#[tokio::test]
async fn the_weekly_report_goes_to_the_team_on_friday_at_four_berlin_time() {
    let w = World::new().await;
    let engine = w.engine("weekly-report");
    // Monday: the first look only starts counting.
    assert!(engine.tick().await.unwrap().runs.is_empty());
    let a = w
        .create("Shipped", EntryType::Feature, Priority::High)
        .await;
    w.create("Still open", EntryType::Task, Priority::Low).await;
    w.create("Also open", EntryType::Bugfix, Priority::Medium)
        .await;
    w.clock.set("2026-12-09T10:00:00Z");
    w.set_status(&a, Status::Done).await;

    // Friday 15:59 in Berlin (14:59 UTC): not yet.
    w.clock.set("2026-12-11T14:59:00Z");
    assert!(engine.tick().await.unwrap().runs.is_empty());
    assert!(w.host.calls().is_empty());
    // 16:01 in Berlin: the report, once.
    w.clock.set("2026-12-11T15:01:00Z");
    let runs = engine.tick().await.unwrap().runs;
    assert_eq!(runs.len(), 1, "{runs:#?}");
    assert_eq!(runs[0].state, RunState::Succeeded, "{:#?}", runs[0]);
    assert_eq!(
        w.host.calls(),
        [(
            "notify".to_string(),
            json!({"target": "target team", "payload": {"text":
                "Week to 2026-12-11: 3 created, 1 done, 0 closed; 2 open of 3 (new 2, done 1)."}})
        )]
    );
    assert!(engine.tick().await.unwrap().runs.is_empty());
}

#[test]
fn a_report_step_is_checked_when_the_file_is_read() {
    let e = parse(
        "r.yml",
        "name: r\non:\n  manual:\nsteps:\n  - report:\n      name: throughput\n      by: [status]\n",
    )
    .unwrap_err();
    assert!(e.message.contains("groups by"), "{e}");
    let e = parse(
        "r.yml",
        "name: r\non:\n  manual:\nsteps:\n  - report:\n      name: velocity\n",
    )
    .unwrap_err();
    assert!(e.message.contains("velocity"), "{e}");
    assert!(e.message.contains("throughput"), "{e}");
}

#[tokio::test]
async fn a_started_entry_gets_its_branch_and_in_review_its_pull_request_and_ci_run() {
    let w = World::new().await;
    let started = w.engine("started-branch");
    let review = w.engine("review-pr-ci");
    let e = w
        .create("Login page", EntryType::Feature, Priority::Medium)
        .await;
    let from = w.end().await;
    w.set_status(&e, Status::InProgress).await;
    let runs = w.hand_on(&started, from).await;
    assert_eq!(runs.len(), 1, "{runs:#?}");
    assert_eq!(runs[0].state, RunState::Succeeded, "{:#?}", runs[0]);
    let from = w.end().await;
    w.set_status(&e, Status::InReview).await;
    let runs = w.hand_on(&review, from).await;
    assert_eq!(runs.len(), 1, "{runs:#?}");
    assert_eq!(runs[0].state, RunState::Succeeded, "{:#?}", runs[0]);
    let branch = format!("devlog/{}-{}", e.handle, e.key);
    assert_eq!(
        w.host.calls(),
        [
            (
                "branch".to_string(),
                json!({"name": branch, "checkout": false})
            ),
            (
                "pull_request".to_string(),
                json!({"integration": "github", "branch": null, "draft": false,
                       "title": format!("Login page (#{})", e.handle), "body": null})
            ),
            (
                "pipeline".to_string(),
                json!({"pipeline": "CI", "branch": null})
            ),
        ]
    );
    assert_eq!(
        notes(&w.get(&e).await),
        [
            format!("Work goes on branch {branch} (from 0123abcd)"),
            "In review: pull request https://github.test/acme/w/pull/12, CI run https://ado.test/5"
                .to_string()
        ]
    );
}
