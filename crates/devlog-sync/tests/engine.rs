//! The sync engine against an in-memory remote with fault injection.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use devlog_core::entry::{Entry, EntryType, Priority, Status};
use devlog_core::id::EntryId;
use devlog_core::integration::{
    Capability, Descriptor, Health, Integration, PullPage, RemoteItem, SyncError, SyncErrorKind,
};
use devlog_core::merge::{FieldSet, Strategy, SyncedField, SyncedFields};
use devlog_core::ops::{Devlog, Edit, NewEntry};
use devlog_core::{Origin, Store, Timestamp, WriteMeta};
use devlog_sync::{PlannedOp, SyncEngine, SyncOptions, SyncState};

/// What the in-memory remote should do on the next call.
#[derive(Debug, Clone, PartialEq)]
enum Fault {
    /// Create the item, then fail as if the response was lost.
    CreateThenLose,
    RateLimit(u64),
    Transient,
    /// The next pull fails (so a push must recover a lost create by itself).
    PullFails,
    Permanent,
}

#[derive(Debug, Default)]
struct Remote {
    items: Vec<RemoteItem>,
    calls: Vec<String>,
    faults: Vec<Fault>,
    clock: i64,
}

#[derive(Debug, Clone, Default)]
struct MemoryRemote(Arc<Mutex<Remote>>);

impl MemoryRemote {
    fn items(&self) -> Vec<RemoteItem> {
        self.0.lock().unwrap().items.clone()
    }
    fn calls(&self) -> Vec<String> {
        self.0.lock().unwrap().calls.clone()
    }
    fn fail_next(&self, f: Fault) {
        self.0.lock().unwrap().faults.push(f);
    }
    /// An edit made on the remote side.
    fn edit(&self, remote_id: &str, f: impl FnOnce(&mut SyncedFields)) {
        let mut r = self.0.lock().unwrap();
        r.clock += 1;
        let now = Timestamp::from_millis(1_900_000_000_000 + r.clock).unwrap();
        let it = r
            .items
            .iter_mut()
            .find(|i| i.remote_id == remote_id)
            .unwrap();
        f(&mut it.fields);
        it.updated_at = now;
    }
}

fn err(kind: SyncErrorKind) -> SyncError {
    SyncError::new("memory", kind, "injected")
}

#[async_trait]
impl Integration for MemoryRemote {
    fn descriptor(&self) -> Descriptor {
        Descriptor {
            name: "memory".into(),
            version: "1".into(),
            description: "in-memory remote for tests".into(),
            config_schema: serde_json::json!({"type": "object"}),
            triggers: vec!["entry.changed".into()],
            capabilities: vec![Capability::Push, Capability::Pull],
        }
    }
    async fn health(&self) -> Result<Health, SyncError> {
        Ok(Health {
            ok: true,
            message: "ok".into(),
        })
    }
    async fn find_by_marker(&self, entry: EntryId) -> Result<Option<RemoteItem>, SyncError> {
        let mut r = self.0.lock().unwrap();
        r.calls.push("find".into());
        Ok(r.items.iter().find(|i| i.marker == Some(entry)).cloned())
    }
    async fn create(&self, entry: &Entry, fields: &SyncedFields) -> Result<RemoteItem, SyncError> {
        let mut r = self.0.lock().unwrap();
        r.calls.push("create".into());
        let fault = (!r.faults.is_empty()).then(|| r.faults.remove(0));
        match fault {
            Some(Fault::RateLimit(ms)) => {
                return Err(SyncError::rate_limited("memory", ms, "slow down"));
            }
            Some(Fault::Transient) => return Err(err(SyncErrorKind::Transient)),
            Some(Fault::Permanent) => return Err(err(SyncErrorKind::Permanent)),
            _ => {}
        }
        r.clock += 1;
        let item = RemoteItem {
            remote_id: (r.items.len() + 1).to_string(),
            url: None,
            fields: fields.clone(),
            updated_at: Timestamp::from_millis(1_900_000_000_000 + r.clock).unwrap(),
            version: None,
            marker: Some(entry.id),
            milestone: None,
            sprint: None,
            board: None,
        };
        r.items.push(item.clone());
        if fault == Some(Fault::CreateThenLose) {
            return Err(err(SyncErrorKind::Transient));
        }
        Ok(item)
    }
    async fn update(
        &self,
        remote_id: &str,
        fields: &SyncedFields,
        changed: &FieldSet,
    ) -> Result<RemoteItem, SyncError> {
        let mut r = self.0.lock().unwrap();
        r.calls
            .push(format!("update {}", changed.names().join(",")));
        r.clock += 1;
        let now = Timestamp::from_millis(1_900_000_000_000 + r.clock).unwrap();
        let it = r
            .items
            .iter_mut()
            .find(|i| i.remote_id == remote_id)
            .ok_or_else(|| err(SyncErrorKind::NotFound))?;
        it.fields.copy_from(fields, changed);
        it.updated_at = now;
        Ok(it.clone())
    }
    async fn pull(&self, cursor: Option<&str>) -> Result<PullPage, SyncError> {
        let mut r = self.0.lock().unwrap();
        r.calls.push("pull".into());
        if r.faults.first() == Some(&Fault::PullFails) {
            r.faults.remove(0);
            return Err(err(SyncErrorKind::Transient));
        }
        let since: i64 = cursor.and_then(|c| c.parse().ok()).unwrap_or(0);
        let items: Vec<RemoteItem> = r
            .items
            .iter()
            .filter(|i| i.updated_at.millis() > since)
            .cloned()
            .collect();
        let next = items
            .iter()
            .map(|i| i.updated_at.millis())
            .max()
            .unwrap_or(since);
        Ok(PullPage {
            items,
            next_cursor: Some(next.to_string()),
            more: false,
            ..PullPage::default()
        })
    }
}

struct Rig {
    app: Devlog,
    remote: MemoryRemote,
    engine: SyncEngine,
    _dir: tempfile::TempDir,
}

async fn rig(opts: SyncOptions) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join(".devlog");
    let store: Arc<dyn Store> = Arc::new(devlog_store::JsonStore::open(&root).await.unwrap());
    let state = SyncState::open(&root.join(".state/sync.sqlite"))
        .await
        .unwrap();
    let remote = MemoryRemote::default();
    let engine = SyncEngine::new(store.clone(), state, vec![Arc::new(remote.clone())], opts);
    Rig {
        app: Devlog::new(store),
        remote,
        engine,
        _dir: dir,
    }
}

fn cli() -> WriteMeta {
    WriteMeta::new(Origin::Cli)
}

async fn new_entry(app: &Devlog, title: &str) -> Entry {
    app.create(
        NewEntry {
            title: title.into(),
            kind: Some(EntryType::Task),
            ..NewEntry::default()
        },
        &cli(),
    )
    .await
    .unwrap()
    .into_entry()
}

fn quiet(_: u64, _: u64) {}

#[tokio::test]
async fn creates_once_then_idles_without_calls_and_pushes_only_changed_fields() {
    let r = rig(SyncOptions::default()).await;
    let e = new_entry(&r.app, "First").await;
    new_entry(&r.app, "Second").await;
    let rep = r.engine.sync(None, None, &quiet).await.unwrap();
    assert_eq!((rep.created, rep.failed.len()), (2, 0), "{rep:?}");
    assert_eq!(r.remote.items().len(), 2);
    let linked = r.app.store().get(e.id).await.unwrap();
    assert_eq!(linked.external_references[0].system, "memory");

    // Idle: only the pull is spent.
    let before = r.remote.calls().len();
    let rep = r.engine.sync(None, None, &quiet).await.unwrap();
    assert_eq!(rep.created + rep.updated, 0, "{rep:?}");
    assert_eq!(&r.remote.calls()[before..], &["pull".to_string()]);

    r.app
        .edit(
            e.id,
            Edit {
                status: Some(Status::InProgress),
                ..Edit::default()
            },
            &cli(),
        )
        .await
        .unwrap();
    let plan = r.engine.plan(None, None, false).await.unwrap();
    let status = FieldSet::from([SyncedField::Status]);
    assert!(
        plan.iter()
            .any(|p| matches!(p, PlannedOp::Update { fields, .. } if *fields == status)),
        "{plan:?}"
    );
    assert_eq!(
        r.remote.calls().len(),
        before + 1,
        "planning the push calls nothing remote"
    );
    // With the pull previewed, the plan only reads the remote.
    let with_pull = r.engine.plan(None, None, true).await.unwrap();
    assert!(
        with_pull
            .iter()
            .any(|p| matches!(p, PlannedOp::Update { fields, .. } if *fields == status)),
        "{with_pull:?}"
    );
    assert_eq!(&r.remote.calls()[before + 1..], &["pull".to_string()]);
    r.engine.sync(None, None, &quiet).await.unwrap();
    assert!(
        r.remote.calls().contains(&"update status".to_string()),
        "{:?}",
        r.remote.calls()
    );
    let mine = r
        .remote
        .items()
        .into_iter()
        .find(|i| i.marker == Some(e.id))
        .unwrap();
    assert_eq!(mine.fields.status, Status::InProgress);
}

#[tokio::test]
async fn a_create_whose_response_was_lost_is_found_by_its_marker_not_repeated() {
    let r = rig(SyncOptions {
        base_delay_ms: 0,
        max_delay_ms: 0,
        ..SyncOptions::default()
    })
    .await;
    new_entry(&r.app, "Lost response").await;
    r.remote.fail_next(Fault::CreateThenLose);
    let rep = r.engine.sync(None, None, &quiet).await.unwrap();
    assert_eq!(rep.failed.len(), 1);
    assert_eq!(r.remote.items().len(), 1, "the remote has it");
    r.remote.fail_next(Fault::PullFails);
    let rep = r.engine.sync(None, None, &quiet).await.unwrap();
    assert_eq!((rep.created, rep.recovered), (0, 1), "{rep:?}");
    assert_eq!(r.remote.items().len(), 1, "no duplicate");
    assert!(r.remote.calls().contains(&"find".to_string()));
    assert!(r.engine.state().open_jobs().await.unwrap().is_empty());
}

/// A second clone (same entries, its own sync state, no links) whose pull fails: its creates
/// look the marker up first, so the item made from the first clone is adopted, not doubled.
#[tokio::test]
async fn a_failed_pull_does_not_lead_to_a_duplicate_create() {
    let r = rig(SyncOptions::default()).await;
    new_entry(&r.app, "Made from the first clone").await;
    let rep = r.engine.sync(None, None, &quiet).await.unwrap();
    assert_eq!(rep.created, 1);
    let other = tempfile::tempdir().unwrap();
    let state = SyncState::open(&other.path().join("sync.sqlite"))
        .await
        .unwrap();
    let second = SyncEngine::new(
        r.app.store().clone(),
        state,
        vec![Arc::new(r.remote.clone())],
        SyncOptions::default(),
    );
    r.remote.fail_next(Fault::PullFails);
    let rep = second.sync(None, None, &quiet).await.unwrap();
    assert_eq!(rep.failed.len(), 1, "{rep:?}");
    assert_eq!((rep.created, rep.recovered), (0, 1), "{rep:?}");
    assert_eq!(r.remote.items().len(), 1, "no duplicate");
    // Once a pull succeeds, creates go straight to the remote again.
    new_entry(&r.app, "Made after the pull works").await;
    let calls = r.remote.calls().len();
    let rep = second.sync(None, None, &quiet).await.unwrap();
    assert_eq!(rep.created, 1, "{rep:?}");
    assert!(
        !r.remote.calls()[calls..].contains(&"find".to_string()),
        "{:?}",
        r.remote.calls()
    );
}

#[tokio::test]
async fn remote_edits_merge_and_true_conflicts_are_recorded_then_resolved() {
    let r = rig(SyncOptions::default()).await;
    let e = new_entry(&r.app, "Shared").await;
    r.engine.sync(None, None, &quiet).await.unwrap();
    // Remote changes status; local changes title: both kept.
    r.remote.edit("1", |f| f.status = Status::Blocked);
    r.app
        .edit(
            e.id,
            Edit {
                title: Some("Shared v2".into()),
                ..Edit::default()
            },
            &cli(),
        )
        .await
        .unwrap();
    let rep = r.engine.sync(None, None, &quiet).await.unwrap();
    assert_eq!(rep.conflicts, 0, "{rep:?}");
    let local = r.app.store().get(e.id).await.unwrap();
    assert_eq!(
        (local.title.as_str(), local.status),
        ("Shared v2", Status::Blocked)
    );
    assert_eq!(r.remote.items()[0].fields.title, "Shared v2");
    // Applying the same pull again changes nothing.
    let rep = r.engine.sync(None, None, &quiet).await.unwrap();
    assert_eq!((rep.applied, rep.updated), (0, 0), "{rep:?}");

    // Both change the title: a manual conflict, local kept, nothing pushed for that field.
    r.remote.edit("1", |f| f.title = "Remote title".into());
    r.app
        .edit(
            e.id,
            Edit {
                title: Some("Local title".into()),
                ..Edit::default()
            },
            &cli(),
        )
        .await
        .unwrap();
    let rep = r.engine.sync(None, None, &quiet).await.unwrap();
    assert_eq!(rep.conflicts, 1, "{rep:?}");
    assert_eq!(
        r.remote.items()[0].fields.title,
        "Remote title",
        "held field not pushed"
    );
    let cs = r.engine.state().open_conflicts().await.unwrap();
    assert_eq!(
        (cs[0].field.local.as_str(), cs[0].field.remote.as_str()),
        (Some("Local title"), Some("Remote title"))
    );
    // Recorded as one integration event for `on: sync: {event: conflict}` workflows; the
    // same open conflict found by the next pull is not a new event.
    let conflict_events = |events: Vec<devlog_core::sync_state::IntegrationEvent>| {
        events
            .into_iter()
            .filter(|e| e.event.kind == devlog_core::sync_state::IntegrationEventKind::Conflict)
            .collect::<Vec<_>>()
    };
    let events = conflict_events(r.engine.state().events_after(0, 100).await.unwrap());
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].event.entry_id, Some(e.id));
    assert_eq!(events[0].event.data["fields"], serde_json::json!(["title"]));
    r.engine.sync(None, None, &quiet).await.unwrap();
    let events = conflict_events(r.engine.state().events_after(0, 100).await.unwrap());
    assert_eq!(events.len(), 1, "{events:?}");
    r.engine.resolve(cs[0].id, true).await.unwrap();
    assert_eq!(r.app.store().get(e.id).await.unwrap().title, "Remote title");
    assert!(r.engine.state().open_conflicts().await.unwrap().is_empty());
}

#[tokio::test]
async fn strategies_settle_conflicts_without_asking() {
    let r = rig(SyncOptions {
        strategy: Strategy::RemoteWins,
        ..SyncOptions::default()
    })
    .await;
    let e = new_entry(&r.app, "Contested").await;
    r.engine.sync(None, None, &quiet).await.unwrap();
    r.remote.edit("1", |f| f.title = "Theirs".into());
    r.app
        .edit(
            e.id,
            Edit {
                title: Some("Ours".into()),
                ..Edit::default()
            },
            &cli(),
        )
        .await
        .unwrap();
    let rep = r.engine.sync(None, None, &quiet).await.unwrap();
    assert_eq!(rep.conflicts, 0);
    assert_eq!(r.app.store().get(e.id).await.unwrap().title, "Theirs");
    assert_eq!(r.remote.items()[0].fields.title, "Theirs");
}

#[tokio::test]
async fn rate_limits_pause_the_integration_and_failures_retry_then_dead_letter() {
    let r = rig(SyncOptions {
        max_attempts: 2,
        base_delay_ms: 0,
        max_delay_ms: 0,
        ..SyncOptions::default()
    })
    .await;
    new_entry(&r.app, "Limited").await;
    r.remote.fail_next(Fault::RateLimit(60_000));
    let rep = r.engine.sync(None, None, &quiet).await.unwrap();
    assert_eq!(rep.failed.len(), 1);
    let rep = r.engine.sync(None, None, &quiet).await.unwrap();
    assert!(
        !rep.paused.is_empty(),
        "paused while the limit lasts: {rep:?}"
    );
    assert!(r.remote.items().is_empty());

    let r = rig(SyncOptions {
        max_attempts: 2,
        base_delay_ms: 0,
        max_delay_ms: 0,
        ..SyncOptions::default()
    })
    .await;
    new_entry(&r.app, "Flaky").await;
    r.remote.fail_next(Fault::Transient);
    r.remote.fail_next(Fault::Transient);
    r.engine.sync(None, None, &quiet).await.unwrap();
    r.engine.sync(None, None, &quiet).await.unwrap();
    let jobs = r.engine.state().open_jobs().await.unwrap();
    assert_eq!(jobs[0].state, devlog_sync::JobState::Dead, "{jobs:?}");
    assert!(jobs[0].last_error.as_deref().unwrap().contains("injected"));
    // One `job_dead` integration event (for `on: sync: {event: job_dead}` workflows), not
    // one per failed attempt.
    let events = r.engine.state().events_after(0, 100).await.unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(
        events[0].event.kind,
        devlog_core::sync_state::IntegrationEventKind::JobDead
    );
    assert_eq!(events[0].event.entry_id, Some(jobs[0].entry_id));
    assert_eq!(events[0].event.data["job"]["attempts"], 2);
    assert_eq!(r.engine.state().retry(None, 0).await.unwrap(), 1);
    let rep = r.engine.sync(None, None, &quiet).await.unwrap();
    assert_eq!(rep.created, 1, "replayed from the dead letter: {rep:?}");

    let r = rig(SyncOptions::default()).await;
    new_entry(&r.app, "Rejected").await;
    r.remote.fail_next(Fault::Permanent);
    r.engine.sync(None, None, &quiet).await.unwrap();
    assert_eq!(
        r.engine.state().open_jobs().await.unwrap()[0].state,
        devlog_sync::JobState::Dead,
        "permanent errors are not retried"
    );
}

#[tokio::test]
async fn the_sqlite_backend_keeps_sync_state_in_its_own_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("devlog.sqlite");
    let store: Arc<dyn Store> = Arc::new(devlog_store::SqliteStore::open(&db).await.unwrap());
    let state = SyncState::open(&db).await.unwrap();
    let remote = MemoryRemote::default();
    let engine = SyncEngine::new(
        store.clone(),
        state,
        vec![Arc::new(remote.clone())],
        SyncOptions::default(),
    );
    let app = Devlog::new(store.clone());
    new_entry(&app, "One database").await;
    let rep = engine.sync(None, None, &quiet).await.unwrap();
    assert_eq!(rep.created, 1, "{rep:?}");
    // Reopening both on the same file works (the two migration histories do not clash).
    drop(engine);
    let store2: Arc<dyn Store> = Arc::new(devlog_store::SqliteStore::open(&db).await.unwrap());
    let state2 = SyncState::open(&db).await.unwrap();
    assert_eq!(state2.links().await.unwrap().len(), 1);
    assert_eq!(store2.count().await.unwrap(), 1);
    assert_eq!(
        std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| e
                .as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "sqlite"))
            .count(),
        1
    );
}

async fn set_priority(app: &Devlog, id: EntryId, p: Priority) {
    app.edit(
        id,
        Edit {
            priority: Some(p),
            ..Edit::default()
        },
        &cli(),
    )
    .await
    .unwrap();
}

async fn bump(app: &Devlog, id: EntryId, n: usize) {
    for k in 0..n {
        app.edit(
            id,
            Edit {
                description: Some(format!("revision {k}")),
                ..Edit::default()
            },
            &cli(),
        )
        .await
        .unwrap();
    }
}

fn remote_priority(remote: &MemoryRemote, id: EntryId) -> Priority {
    remote
        .items()
        .into_iter()
        .find(|i| i.marker == Some(id))
        .unwrap()
        .fields
        .priority
}

/// Deletes the JSON index as a user does between two commands: after the earlier command
/// has closed it (its process ended; here the store is closed, since dropped connections
/// close on their own threads a moment later).
async fn delete_index_between_commands(root: &std::path::Path, earlier: &devlog_store::JsonStore) {
    earlier.close().await;
    std::fs::remove_file(root.join(".state/index.sqlite")).unwrap();
}

/// A JSON store in `root` and its sync state, as a command opens them.
async fn open_json(root: &std::path::Path) -> (Arc<devlog_store::JsonStore>, SyncState) {
    let store = Arc::new(devlog_store::JsonStore::open(root).await.unwrap());
    let state = SyncState::open(&root.join(".state/sync.sqlite"))
        .await
        .unwrap();
    (store, state)
}

/// The reproduction: `.state/index.sqlite` deleted (allowed at any time), the feed
/// restarts, and an edit made afterwards must still reach the remote.
#[tokio::test]
async fn an_edit_after_the_json_index_is_deleted_is_still_pushed() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join(".devlog");
    let open = || open_json(&root);
    let remote = MemoryRemote::default();
    let (store, state) = open().await;
    let app = Devlog::new(store.clone());
    let e = new_entry(&app, "Survives a rebuild").await;
    bump(&app, e.id, 10).await;
    let engine = SyncEngine::new(
        store.clone(),
        state,
        vec![Arc::new(remote.clone())],
        SyncOptions::default(),
    );
    assert_eq!(engine.sync(None, None, &quiet).await.unwrap().created, 1);
    drop((engine, app));

    delete_index_between_commands(&root, &store).await;
    let (store, state) = open().await;
    let app = Devlog::new(store.clone());
    set_priority(&app, e.id, Priority::Critical).await;
    let engine = SyncEngine::new(
        store,
        state,
        vec![Arc::new(remote.clone())],
        SyncOptions::default(),
    );
    let plan = engine.plan(None, None, false).await.unwrap();
    assert!(
        plan.iter().any(|p| matches!(p, PlannedOp::Update { fields, .. } if *fields == FieldSet::from([SyncedField::Priority]))),
        "{plan:?}"
    );
    let rep = engine.sync(None, None, &quiet).await.unwrap();
    assert_eq!(rep.updated, 1, "{rep:?}");
    assert!(rep.notes.iter().any(|n| n.contains("rebuilt")), "{rep:?}");
    assert_eq!(remote_priority(&remote, e.id), Priority::Critical);
    // The new feed is trusted from now on: nothing is re-compared again.
    let rep = engine.sync(None, None, &quiet).await.unwrap();
    assert_eq!((rep.enqueued, rep.notes.len()), (0, 0), "{rep:?}");
}

/// A rebuilt feed that has grown past the old cursor: only its identity tells it apart, and
/// an edit numbered below the old cursor must not be skipped.
#[tokio::test]
async fn a_rebuilt_json_feed_longer_than_the_old_cursor_is_recognised_by_its_identity() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join(".devlog");
    let open = || open_json(&root);
    let remote = MemoryRemote::default();
    let (store, state) = open().await;
    let app = Devlog::new(store.clone());
    let a = new_entry(&app, "Edited first").await;
    let b = new_entry(&app, "Edited often").await;
    bump(&app, b.id, 3).await;
    let engine = SyncEngine::new(
        store.clone(),
        state,
        vec![Arc::new(remote.clone())],
        SyncOptions::default(),
    );
    engine.sync(None, None, &quiet).await.unwrap();
    let old_end = store.events_before(None, 1).await.unwrap()[0].seq;
    drop((engine, app));

    delete_index_between_commands(&root, &store).await;
    // Without the history files too (a folder from before they existed), the new feed
    // starts again at 1.
    std::fs::remove_dir_all(root.join("history")).unwrap();
    let (store, state) = open().await;
    let app = Devlog::new(store.clone());
    set_priority(&app, a.id, Priority::Critical).await;
    let end = store.events_before(None, 1).await.unwrap()[0].seq;
    assert!(
        end <= old_end,
        "the rebuilt feed numbers this edit below the old cursor"
    );
    bump(&app, b.id, (old_end - end + 2) as usize).await;
    let engine = SyncEngine::new(
        store,
        state,
        vec![Arc::new(remote.clone())],
        SyncOptions::default(),
    );
    let rep = engine.sync(None, None, &quiet).await.unwrap();
    assert!(rep.notes.iter().any(|n| n.contains("rebuilt")), "{rep:?}");
    assert_eq!(remote_priority(&remote, a.id), Priority::Critical);
}

/// The SQLite backend has no separate index, but its file can be replaced by an older copy
/// (a restored backup) while the sync state kept its cursor: the feed then ends before it.
#[tokio::test]
async fn an_edit_after_an_older_sqlite_copy_is_restored_is_still_pushed() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("devlog.sqlite");
    let backup = dir.path().join("backup.sqlite");
    let state_path = dir.path().join("sync.sqlite");
    let remote = MemoryRemote::default();
    let store: Arc<dyn Store> = Arc::new(devlog_store::SqliteStore::open(&db).await.unwrap());
    let app = Devlog::new(store.clone());
    let e = new_entry(&app, "Restored").await;
    drop((app, store));
    for suffix in ["", "-wal"] {
        let from = format!("{}{suffix}", db.display());
        if std::path::Path::new(&from).exists() {
            std::fs::copy(&from, format!("{}{suffix}", backup.display())).unwrap();
        }
    }

    let store: Arc<dyn Store> = Arc::new(devlog_store::SqliteStore::open(&db).await.unwrap());
    let app = Devlog::new(store.clone());
    bump(&app, e.id, 5).await;
    let state = SyncState::open(&state_path).await.unwrap();
    let engine = SyncEngine::new(
        store,
        state,
        vec![Arc::new(remote.clone())],
        SyncOptions::default(),
    );
    assert_eq!(engine.sync(None, None, &quiet).await.unwrap().created, 1);
    drop((engine, app));

    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    for suffix in ["", "-wal"] {
        let from = format!("{}{suffix}", backup.display());
        if std::path::Path::new(&from).exists() {
            std::fs::copy(&from, format!("{}{suffix}", db.display())).unwrap();
        }
    }
    let store: Arc<dyn Store> = Arc::new(devlog_store::SqliteStore::open(&db).await.unwrap());
    let app = Devlog::new(store.clone());
    set_priority(&app, e.id, Priority::Critical).await;
    let state = SyncState::open(&state_path).await.unwrap();
    let engine = SyncEngine::new(
        store,
        state,
        vec![Arc::new(remote.clone())],
        SyncOptions::default(),
    );
    let rep = engine.sync(None, None, &quiet).await.unwrap();
    assert!(rep.notes.iter().any(|n| n.contains("ends at")), "{rep:?}");
    assert_eq!(remote_priority(&remote, e.id), Priority::Critical);
}

#[tokio::test]
async fn an_integration_without_worklogs_leaves_them_alone_and_nothing_breaks() {
    // Like GitHub: `syncs_worklogs` is false, so logging time plans and sends nothing.
    let r = rig(SyncOptions::default()).await;
    let e = new_entry(&r.app, "Timed").await;
    r.engine.sync(None, None, &quiet).await.unwrap();
    r.app
        .log_time(
            e.id,
            devlog_core::planning::NewWorklog {
                duration: "1h".into(),
                note: "spent".into(),
                ..Default::default()
            },
            &cli(),
        )
        .await
        .unwrap();
    let plan = r.engine.plan(None, None, false).await.unwrap();
    assert!(
        plan.iter()
            .all(|op| !matches!(op, PlannedOp::Worklogs { .. })),
        "{plan:?}"
    );
    let before = r.remote.calls().len();
    let rep = r.engine.sync(None, None, &quiet).await.unwrap();
    assert!(rep.failed.is_empty(), "{rep:?}");
    assert_eq!(rep.worklogs_pushed, 0);
    assert!(
        r.remote.calls()[before..]
            .iter()
            .all(|c| !c.contains("worklog")),
        "{:?}",
        r.remote.calls()
    );
    assert_eq!(r.app.store().get(e.id).await.unwrap().worklogs.len(), 1);
}
