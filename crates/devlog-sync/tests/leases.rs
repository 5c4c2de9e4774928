//! Job leases: time-based, on every platform. A job claimed by a worker that died is taken
//! over once its lease has expired, never before; a worker renews its lease while a long job
//! runs; a worker that lost its lease can no longer finish or fail the job. Time is an
//! injected clock (`now` arguments, a manual `Clock`), so nothing here depends on timing.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use devlog_core::entry::{Entry, EntryType};
use devlog_core::id::EntryId;
use devlog_core::integration::{
    Capability, Descriptor, Health, Integration, PullPage, RemoteItem, SyncError,
};
use devlog_core::merge::SyncedFields;
use devlog_core::ops::{Devlog, NewEntry};
use devlog_core::{Origin, Store, Timestamp, WriteMeta};
use devlog_sync::{SyncEngine, SyncOptions, SyncState};
use tokio::sync::Notify;

const T0: i64 = 1_900_000_000_000;
const LEASE: i64 = 60_000;

async fn state() -> (SyncState, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let state = SyncState::open(&dir.path().join("sync.sqlite"))
        .await
        .unwrap();
    (state, dir)
}

async fn queued(state: &SyncState) -> EntryId {
    let entry = EntryId::new_random();
    state.enqueue_one("memory", entry, T0).await.unwrap();
    entry
}

#[tokio::test]
async fn a_job_whose_worker_died_is_taken_over_once_its_lease_expired() {
    let (state, _dir) = state().await;
    let entry = queued(&state).await;
    // A worker on this machine (or another: no process or host checks) claims it and dies.
    let dead = state
        .claim("memory", "worker-that-died", T0, LEASE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(dead.entry_id, entry);
    assert_eq!(
        state
            .claim("memory", "me", T0 + LEASE - 1, LEASE)
            .await
            .unwrap(),
        None,
        "taken before the lease expired"
    );
    let mine = state
        .claim("memory", "me", T0 + LEASE, LEASE)
        .await
        .unwrap()
        .expect("the expired lease is taken over");
    assert_eq!((mine.id, mine.state.as_str()), (dead.id, "running"));
    // Now the job is under my lease: the next worker waits for it in turn.
    assert_eq!(
        state
            .claim("memory", "third", T0 + 2 * LEASE - 1, LEASE)
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn a_renewed_lease_is_not_taken_over() {
    let (state, _dir) = state().await;
    queued(&state).await;
    let job = state
        .claim("memory", "worker", T0, LEASE)
        .await
        .unwrap()
        .unwrap();
    assert!(
        state
            .renew_lease(job.id, "worker", T0 + LEASE / 2, LEASE)
            .await
            .unwrap()
    );
    let renewed_until = T0 + LEASE / 2 + LEASE;
    assert_eq!(
        state
            .claim("memory", "other", T0 + LEASE, LEASE)
            .await
            .unwrap(),
        None,
        "taken although the lease was renewed"
    );
    assert!(
        state
            .claim("memory", "other", renewed_until, LEASE)
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn a_worker_that_lost_its_lease_cannot_renew_finish_or_fail_the_job() {
    let (state, _dir) = state().await;
    queued(&state).await;
    let job = state
        .claim("memory", "stalled", T0, LEASE)
        .await
        .unwrap()
        .unwrap();
    state
        .claim("memory", "other", T0 + LEASE, LEASE)
        .await
        .unwrap()
        .unwrap();
    let later = T0 + LEASE + 1;
    assert!(
        !state
            .renew_lease(job.id, "stalled", later, LEASE)
            .await
            .unwrap()
    );
    state.finish_job(job.id, "stalled", later).await.unwrap();
    state
        .fail_job(job.id, "stalled", "boom", later, true, later)
        .await
        .unwrap();
    state
        .defer_job(job.id, "stalled", later, later)
        .await
        .unwrap();
    let now = state.job(job.id).await.unwrap().unwrap();
    assert_eq!(
        (now.state.as_str(), now.attempts),
        ("running", 0),
        "{now:?}"
    );
    // The worker holding it finishes it.
    state.finish_job(job.id, "other", later).await.unwrap();
    assert_eq!(
        state.job(job.id).await.unwrap().unwrap().state,
        devlog_sync::JobState::Done
    );
}

/// A remote whose creates (or, with `slow_find`, marker lookups) wait until the test lets
/// them through.
#[derive(Debug, Default)]
struct SlowRemote {
    started: Notify,
    release: Notify,
    slow_find: bool,
    creates: std::sync::atomic::AtomicU64,
}

#[async_trait]
impl Integration for SlowRemote {
    fn descriptor(&self) -> Descriptor {
        Descriptor {
            name: "memory".into(),
            version: "1".into(),
            description: "a remote with slow creates".into(),
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
    async fn find_by_marker(&self, _: EntryId) -> Result<Option<RemoteItem>, SyncError> {
        if self.slow_find {
            self.started.notify_one();
            self.release.notified().await;
        }
        Ok(None)
    }
    async fn create(&self, entry: &Entry, fields: &SyncedFields) -> Result<RemoteItem, SyncError> {
        self.creates
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if !self.slow_find {
            self.started.notify_one();
            self.release.notified().await;
        }
        Ok(RemoteItem {
            remote_id: "1".into(),
            url: None,
            fields: fields.clone(),
            updated_at: Timestamp::from_millis(T0).unwrap(),
            version: None,
            marker: Some(entry.id),
            milestone: None,
            sprint: None,
            board: None,
        })
    }
    async fn update(
        &self,
        _: &str,
        _: &SyncedFields,
        _: &devlog_core::merge::FieldSet,
    ) -> Result<RemoteItem, SyncError> {
        unreachable!("nothing is linked before the create")
    }
    async fn pull(&self, _: Option<&str>) -> Result<PullPage, SyncError> {
        Ok(PullPage::default())
    }
}

async fn lease_until(file: &devlog_store::SqliteSyncState) -> Option<i64> {
    sqlx::query_scalar("SELECT lease_until FROM jobs WHERE state = 'running'")
        .fetch_optional(file.pool())
        .await
        .unwrap()
        .flatten()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_renews_its_lease_while_a_long_job_runs() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join(".devlog");
    let store: Arc<dyn Store> = Arc::new(devlog_store::JsonStore::open(&root).await.unwrap());
    let file = devlog_store::SqliteSyncState::open(&root.join(".state/sync.sqlite"))
        .await
        .unwrap();
    let state = SyncState::new(Arc::new(file.clone()));
    let remote = Arc::new(SlowRemote::default());
    let clock = Arc::new(devlog_testkit::ManualClock::at(T0));
    // A short lease, renewed every third of it (100 ms of real time).
    let opts = SyncOptions {
        lease_ms: 300,
        ..SyncOptions::default()
    };
    let engine = SyncEngine::new(store.clone(), state.clone(), vec![remote.clone()], opts)
        .with_clock(clock.clone());
    Devlog::new(store)
        .create(
            NewEntry {
                title: "Long job".into(),
                kind: Some(EntryType::Task),
                ..NewEntry::default()
            },
            &WriteMeta::new(Origin::Cli),
        )
        .await
        .unwrap();
    let run = tokio::spawn(async move { engine.sync(None, None, &|_, _| {}).await });
    remote.started.notified().await;
    assert_eq!(lease_until(&file).await, Some(T0 + 300));

    // Ten minutes pass while the create is in flight: the worker keeps its lease alive.
    let later = T0 + 600_000;
    clock.set(later);
    tokio::time::timeout(Duration::from_secs(60), async {
        while lease_until(&file).await < Some(later) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the worker did not renew its lease while the job ran");
    assert_eq!(
        state.claim("memory", "other", later, 300).await.unwrap(),
        None,
        "a live worker's job was taken over"
    );

    remote.release.notify_one();
    let report = run.await.unwrap().unwrap();
    assert_eq!((report.created, report.failed.len()), (1, 0), "{report:?}");
    assert!(state.open_jobs().await.unwrap().is_empty());
}

/// A worker that stalls past its lease (here: in the marker lookup before a create) and
/// loses the job to another must not send the create: the lease is checked right before it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_that_lost_its_lease_does_not_create() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join(".devlog");
    let store: Arc<dyn Store> = Arc::new(devlog_store::JsonStore::open(&root).await.unwrap());
    let file = devlog_store::SqliteSyncState::open(&root.join(".state/sync.sqlite"))
        .await
        .unwrap();
    let state = SyncState::new(Arc::new(file.clone()));
    let remote = Arc::new(SlowRemote {
        slow_find: true,
        ..SlowRemote::default()
    });
    let clock = Arc::new(devlog_testkit::ManualClock::at(T0));
    // A lease renewed only every 20 s of real time: the test moves the clock past it instead.
    let opts = SyncOptions {
        lease_ms: 60_000,
        ..SyncOptions::default()
    };
    let engine = SyncEngine::new(store.clone(), state.clone(), vec![remote.clone()], opts)
        .with_clock(clock.clone());
    let id = Devlog::new(store)
        .create(
            NewEntry {
                title: "Stalled create".into(),
                kind: Some(EntryType::Task),
                ..NewEntry::default()
            },
            &WriteMeta::new(Origin::Cli),
        )
        .await
        .unwrap()
        .into_entry()
        .id;
    engine.enqueue().await.unwrap();
    // An earlier attempt announced the create: this one looks the marker up first.
    state.mark_creating("memory", id, T0).await.unwrap();
    let run = tokio::spawn(async move { engine.sync(None, None, &|_, _| {}).await });
    remote.started.notified().await;

    // The worker stalls past its lease; another takes the job over.
    let later = T0 + 120_000;
    clock.set(later);
    let taken = state.claim("memory", "other", later, 60_000).await.unwrap();
    assert!(taken.is_some(), "the expired job was not taken over");

    remote.release.notify_one();
    let report = run.await.unwrap().unwrap();
    assert_eq!(
        remote.creates.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "the stalled worker created the item after losing the job: {report:?}"
    );
    assert!(
        report.failed.iter().any(|f| f.contains("lost its lease")),
        "{report:?}"
    );
}
