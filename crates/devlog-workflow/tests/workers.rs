//! Two workers sharing one store (issue 21): workflow runs are rows of the store's sync state,
//! so two engines (two `devlog worker`s, on two machines) following the same writes run each
//! workflow once per write, see each other's runs, and resume a run whose worker died (its
//! lease expired) at the step it was on. Over one SQLite file, and over one PostgreSQL
//! database when `DEVLOG_TEST_POSTGRES_URL` is set (else that part says so and passes).
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::collections::BTreeSet;
use std::sync::Arc;

use devlog_core::event::WriteMeta;
use devlog_core::ops::{Devlog, Edit, NewEntry, NewNote};
use devlog_core::sync_state::{SyncStateStore, WorkflowRun};
use devlog_core::{NoteCategory, Origin, Status, Store, Timestamp};
use devlog_store::DbUrl;
use devlog_workflow::runs::{Cause, RunId, RunRecord, RunState, StepRecord, StepState};
use devlog_workflow::{Engine, RunStore, parse};
use sqlx::{AssertSqlSafe, Connection, Executor};

/// One shared store, opened again for each worker as another process or machine would.
enum Shared {
    Sqlite(tempfile::TempDir),
    Postgres { admin: DbUrl, name: String },
}

impl Shared {
    fn sqlite() -> Self {
        Shared::Sqlite(tempfile::tempdir().unwrap())
    }

    async fn postgres(test: &str) -> Option<Self> {
        let Ok(url) = std::env::var("DEVLOG_TEST_POSTGRES_URL") else {
            eprintln!(
                "skipping the PostgreSQL part of {test}: DEVLOG_TEST_POSTGRES_URL is not set"
            );
            return None;
        };
        let admin = DbUrl::parse(&url).unwrap();
        let name = format!(
            "dlt_{}_{}_wfworkers",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs(),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let mut c = sqlx::PgConnection::connect(admin.expose()).await.unwrap();
        c.execute(AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .await
            .unwrap();
        Some(Shared::Postgres { admin, name })
    }

    /// A worker's handles: the entries and the sync state.
    async fn open(&self) -> (Arc<dyn Store>, Arc<dyn SyncStateStore>) {
        match self {
            Shared::Sqlite(dir) => {
                let file = dir.path().join("devlog.sqlite");
                (
                    Arc::new(devlog_store::SqliteStore::open(&file).await.unwrap()),
                    Arc::new(devlog_store::SqliteSyncState::open(&file).await.unwrap()),
                )
            }
            Shared::Postgres { admin, name } => {
                let url = admin.with_database(name);
                (
                    Arc::new(devlog_store::PostgresStore::open(&url).await.unwrap()),
                    Arc::new(devlog_store::PostgresSyncState::open(&url).await.unwrap()),
                )
            }
        }
    }

    async fn drop_db(self) {
        if let Shared::Postgres { admin, name } = self {
            let mut c = sqlx::PgConnection::connect(admin.expose()).await.unwrap();
            let _ = c
                .execute(AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                )))
                .await;
        }
    }
}

const ON_STATUS: &str = "name: on-status\non:\n  status_changed:\nsteps:\n  - add_note:\n      category: progress\n      text: status changed\n";
const TWO: &str = "name: two\non:\n  manual:\nsteps:\n  - add_note:\n      category: idea\n      text: one\n  - add_note:\n      category: idea\n      text: two\n";

struct Worker {
    app: Devlog,
    state: Arc<dyn SyncStateStore>,
    engine: Engine,
}

async fn worker(shared: &Shared) -> Worker {
    let (store, state) = shared.open().await;
    let app = Devlog::new(store);
    let loaded = vec![
        parse("on-status.yml", ON_STATUS).unwrap(),
        parse("two.yml", TWO).unwrap(),
    ];
    let engine = Engine::new(
        app.clone(),
        loaded,
        BTreeSet::new(),
        RunStore::new(state.clone()),
        Origin::Cli,
    );
    Worker { app, state, engine }
}

fn meta() -> WriteMeta {
    WriteMeta::new(Origin::Cli).with_actor(Some("ann".into()))
}

async fn two_workers_share_runs(shared: Shared) {
    let a = worker(&shared).await;
    let b = worker(&shared).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let e = a
            .app
            .create(
                NewEntry {
                    title: format!("E{i}"),
                    kind: Some(devlog_core::EntryType::Task),
                    ..NewEntry::default()
                },
                &meta(),
            )
            .await
            .unwrap();
        ids.push(e.entry().id);
    }
    let before = a
        .app
        .store()
        .events_before(None, 1)
        .await
        .unwrap()
        .last()
        .map_or(0, |e| e.seq);
    for id in &ids {
        let edit = Edit {
            status: Some(Status::InProgress),
            ..Edit::default()
        };
        a.app.edit(*id, edit, &meta()).await.unwrap();
    }
    let events = a.app.store().events(before, 1000).await.unwrap();
    assert_eq!(events.len(), 5);
    // Both workers follow the same writes at the same time: each write runs the workflow once.
    let (ra, rb) = tokio::join!(
        a.engine.on_events(events.clone()),
        b.engine.on_events(events)
    );
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert_eq!(ra.runs.len() + rb.runs.len(), 5, "{ra:?} {rb:?}");
    for id in &ids {
        let notes = b.app.store().get(*id).await.unwrap().notes;
        assert_eq!(notes.len(), 1, "one run per write: {notes:?}");
    }
    // A run started by one worker is listed by the other.
    let seen = b.engine.runs().list(Some("on-status")).await.unwrap();
    assert_eq!(seen.len(), 5);
    for r in ra.runs.iter().chain(&rb.runs) {
        assert!(
            seen.iter()
                .any(|s| s.id == r.id && s.state == RunState::Succeeded)
        );
    }

    // A worker died in step 1 of a run (another machine: its pid cannot be checked, only its
    // lease's expiry); another run's worker on that machine is alive and holds its lease.
    let target = ids[0];
    let wf_meta = WriteMeta::new(Origin::Cli).with_actor(Some("workflow:two".into()));
    let note = |t: &str| NewNote {
        content: t.into(),
        category: NoteCategory::Idea,
        files: vec![],
        code_changes: None,
    };
    a.app.add_note(target, note("one"), &wf_meta).await.unwrap();
    let record = |id: RunId| RunRecord {
        id,
        workflow: "two".into(),
        cause: Cause::Manual { actor: None },
        entry: Some(target),
        depth: 0,
        state: RunState::Running,
        started_at: Timestamp::from_millis(0).unwrap(),
        finished_at: None,
        vars: Default::default(),
        steps: vec![StepRecord {
            path: "0".into(),
            action: "add_note".into(),
            state: StepState::Done,
            output: serde_json::json!({"entry": target.to_string()}),
            error: None,
            feed_seq: Some(0),
            attempts: 0,
        }],
        error: None,
        resumed: 0,
        wake_at: None,
    };
    let row = |r: &RunRecord| WorkflowRun {
        id: r.id.to_string(),
        workflow: r.workflow.clone(),
        state: r.state,
        entry: r.entry,
        wake_at: None,
        started_at: 0,
        updated_at: 0,
        record: serde_json::to_value(r).unwrap(),
    };
    let (dead, alive) = (record(RunId::random()), record(RunId::random()));
    let now = Timestamp::from_datetime(chrono::Utc::now()).millis();
    // A lease of 0 is over at once: what an expired lease looks like without waiting.
    assert!(
        a.state
            .start_workflow_run(&row(&dead), "elsewhere:1:dead", now, 0)
            .await
            .unwrap()
    );
    assert!(
        a.state
            .start_workflow_run(&row(&alive), "elsewhere:1:alive", now, 3_600_000)
            .await
            .unwrap()
    );
    let resumed = b.engine.resume_unfinished().await.unwrap();
    assert_eq!(resumed.len(), 1, "{resumed:#?}");
    assert_eq!(resumed[0].id, dead.id);
    assert_eq!(resumed[0].state, RunState::Succeeded, "{:#?}", resumed[0]);
    assert_eq!(resumed[0].resumed, 1);
    let notes: Vec<String> = b
        .app
        .store()
        .get(target)
        .await
        .unwrap()
        .notes
        .into_iter()
        .map(|n| n.content)
        .filter(|c| c == "one" || c == "two")
        .collect();
    assert_eq!(
        notes,
        ["one", "two"],
        "resumed at its step: step 0 not repeated"
    );
    // The first worker sees the run finished; the live one's run is still open.
    let shown = a.engine.runs().load(&dead.id).await.unwrap();
    assert_eq!(shown.state, RunState::Succeeded);
    assert_eq!(
        a.engine.runs().load(&alive.id).await.unwrap().state,
        RunState::Running
    );
    drop((a, b));
    shared.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_over_one_sqlite_file_share_runs() {
    two_workers_share_runs(Shared::sqlite()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_over_one_postgres_database_share_runs() {
    let Some(shared) = Shared::postgres("two_workers_over_one_postgres_database_share_runs").await
    else {
        return;
    };
    two_workers_share_runs(shared).await;
}
