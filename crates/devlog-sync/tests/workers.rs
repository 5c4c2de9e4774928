//! Sync workers (`worker.rs`) against the fake tracker over real HTTP: four workers in one
//! process push 200 entries written while they run, with exactly one remote create each; a
//! `once` run pushes what is pending and returns; shutdown finishes the job in hand; a wake-up
//! makes idle workers act before their interval. On the JSON store (polled change feed) and,
//! when `DEVLOG_TEST_POSTGRES_URL` is set, on PostgreSQL (notifications). Waits have
//! generous timeouts; nothing is timed.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::sync::{Arc, Mutex};
use std::time::Duration;

use devlog_core::entry::{Entry, EntryType};
use devlog_core::ops::{Devlog, NewEntry};
use devlog_core::{Origin, Store, WriteMeta};
use devlog_store::DbUrl;
use devlog_sync::{SyncEngine, SyncOptions, SyncState, WorkerEvent, WorkerOptions, run_workers};
use devlog_testkit::fake_remote::FakeRemote;
use devlog_testkit::tracker::TrackerIntegration;
use sqlx::{AssertSqlSafe, Connection, Executor};
use tokio::sync::{Notify, watch};

const PATIENCE: Duration = Duration::from_secs(120);

/// A store for one test: JSON in a temp folder, or a fresh PostgreSQL database.
struct Backend {
    store: Arc<dyn Store>,
    dir: tempfile::TempDir,
    pg: Option<(DbUrl, String)>,
}

impl Backend {
    async fn json() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(
            devlog_store::JsonStore::open(&dir.path().join(".devlog"))
                .await
                .unwrap(),
        );
        Self {
            store,
            dir,
            pg: None,
        }
    }

    /// `None` (after saying so) when no PostgreSQL server is configured.
    async fn postgres(test: &str) -> Option<Self> {
        let Ok(url) = std::env::var("DEVLOG_TEST_POSTGRES_URL") else {
            eprintln!(
                "skipping the PostgreSQL part of {test}: DEVLOG_TEST_POSTGRES_URL is not set"
            );
            return None;
        };
        let admin = DbUrl::parse(&url).unwrap();
        let name = format!(
            "dlt_{}_{}_workers",
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
        let url = admin.with_database(&name);
        let store = Arc::new(devlog_store::PostgresStore::open(&url).await.unwrap());
        Some(Self {
            store,
            dir: tempfile::tempdir().unwrap(),
            pg: Some((admin, name)),
        })
    }

    /// A second handle on the same store, as another process would open it.
    async fn reopen(&self) -> Arc<dyn Store> {
        match &self.pg {
            Some((admin, name)) => Arc::new(
                devlog_store::PostgresStore::open(&admin.with_database(name))
                    .await
                    .unwrap(),
            ),
            None => Arc::new(
                devlog_store::JsonStore::open(&self.dir.path().join(".devlog"))
                    .await
                    .unwrap(),
            ),
        }
    }

    async fn drop_db(self) {
        if let Some((admin, name)) = self.pg {
            drop(self.store);
            let mut c = sqlx::PgConnection::connect(admin.expose()).await.unwrap();
            let _ = c
                .execute(AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                )))
                .await;
        }
    }
}

struct Rig {
    remote: FakeRemote,
    engine: Arc<SyncEngine>,
}

async fn rig(b: &Backend) -> Rig {
    let remote = FakeRemote::start().await;
    let tracker = Arc::new(
        TrackerIntegration::with_limits(&remote.url(), devlog_http::RateLimitConfig::unpaced())
            .unwrap(),
    );
    let state = SyncState::open(&b.dir.path().join("sync.sqlite"))
        .await
        .unwrap();
    let engine = SyncEngine::new(
        b.store.clone(),
        state,
        vec![tracker],
        SyncOptions::default(),
    );
    Rig {
        remote,
        engine: Arc::new(engine),
    }
}

async fn create(store: Arc<dyn Store>, title: &str) -> Entry {
    Devlog::new(store)
        .create(
            NewEntry {
                title: title.into(),
                kind: Some(EntryType::Task),
                ..NewEntry::default()
            },
            &WriteMeta::new(Origin::Cli),
        )
        .await
        .unwrap()
        .into_entry()
}

/// Polls `done` every 20 ms until it holds; panics with `what` after [`PATIENCE`].
async fn wait_until(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let give_up = tokio::time::Instant::now() + PATIENCE;
    while !done().await {
        assert!(
            tokio::time::Instant::now() < give_up,
            "gave up waiting: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

type Events = Arc<Mutex<Vec<WorkerEvent>>>;

fn recorder() -> (Events, devlog_sync::EventSink) {
    let events: Events = Arc::default();
    let sink = events.clone();
    (
        events,
        Arc::new(move |e: &WorkerEvent| sink.lock().unwrap().push(e.clone())),
    )
}

async fn four_workers_push_200_entries_written_while_they_run(b: Backend) {
    let r = rig(&b).await;
    let (events, sink) = recorder();
    let (stop, stopped) = watch::channel(false);
    let opts = WorkerOptions {
        workers: 4,
        // Never reached: every push here is started by a feed wake-up.
        interval: Duration::from_secs(3600),
        feed_poll: Duration::from_millis(20),
        once: false,
        feed: None,
        pollers: Vec::new(),
    };
    let workers = tokio::spawn(run_workers(
        r.engine.clone(),
        opts,
        Arc::new(Notify::new()),
        stopped,
        sink,
    ));
    // Another handle writes, as `devlog new` in another process would.
    let writer = b.reopen().await;
    let mut entries = Vec::new();
    for i in 0..200 {
        entries.push(create(writer.clone(), &format!("Entry {i}")).await);
    }
    let state = r.engine.state().clone();
    wait_until("200 remote items and an empty queue", async || {
        r.remote.state().items_created() >= 200
            && state.open_jobs().await.unwrap().is_empty()
            && state.links().await.unwrap().len() == 200
    })
    .await;
    stop.send(true).unwrap();
    let report = tokio::time::timeout(PATIENCE, workers)
        .await
        .expect("the workers stop")
        .unwrap()
        .unwrap();
    assert_eq!(r.remote.state().items_created(), 200);
    for e in &entries {
        assert_eq!(
            r.remote.state().items_with_marker(&e.id.to_string()).len(),
            1,
            "entry {} has one remote item",
            e.title
        );
    }
    assert_eq!(
        (report.created, report.failed.len()),
        (200, 0),
        "{report:?}"
    );
    let events = events.lock().unwrap().clone();
    let pushed: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            WorkerEvent::Pushed { outcome, .. } => Some(*outcome),
            _ => None,
        })
        .collect();
    assert_eq!(pushed.iter().filter(|o| **o == "created").count(), 200);
    assert!(matches!(
        events.first(),
        Some(WorkerEvent::Started { workers: 4, .. })
    ));
    assert!(matches!(events.last(), Some(WorkerEvent::Stopped { .. })));
    b.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_four_workers_push_200_entries_with_one_remote_create_each() {
    four_workers_push_200_entries_written_while_they_run(Backend::json().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_four_workers_push_200_entries_with_one_remote_create_each() {
    if let Some(b) = Backend::postgres("postgres_four_workers").await {
        four_workers_push_200_entries_written_while_they_run(b).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_pulls_pushes_what_is_pending_and_returns() {
    let b = Backend::json().await;
    let r = rig(&b).await;
    for i in 0..5 {
        create(b.store.clone(), &format!("Pending {i}")).await;
    }
    let (events, sink) = recorder();
    let (_stop, stopped) = watch::channel(false);
    let opts = WorkerOptions {
        workers: 2,
        once: true,
        ..WorkerOptions::default()
    };
    let report = tokio::time::timeout(
        PATIENCE,
        run_workers(
            r.engine.clone(),
            opts,
            Arc::new(Notify::new()),
            stopped,
            sink,
        ),
    )
    .await
    .expect("--once returns by itself")
    .unwrap();
    assert_eq!((report.enqueued, report.created), (5, 5), "{report:?}");
    assert_eq!(r.remote.state().items_created(), 5);
    assert!(r.engine.state().open_jobs().await.unwrap().is_empty());
    let events = events.lock().unwrap();
    assert!(
        events.iter().any(
            |e| matches!(e, WorkerEvent::Pulled { integration, .. } if integration == "tracker")
        ),
        "it pulled first"
    );
}

/// Counts its polls; fails when told to.
#[derive(Debug, Default)]
struct CountingPoller {
    polls: std::sync::atomic::AtomicUsize,
    fail: bool,
}

#[async_trait::async_trait]
impl devlog_sync::Poller for CountingPoller {
    fn name(&self) -> String {
        "counting".into()
    }

    async fn poll(
        &self,
        _engine: &SyncEngine,
        report: &mut devlog_sync::SyncReport,
    ) -> Result<(), devlog_sync::EngineError> {
        let n = self.polls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if self.fail {
            return Err(devlog_core::integration::SyncError::new(
                "counting",
                devlog_core::integration::SyncErrorKind::Transient,
                "the remote is down",
            )
            .into());
        }
        report.actions_applied += 1;
        report.notes.push(format!("poll {n}"));
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pollers_run_after_the_pull_and_a_failing_one_is_reported_not_fatal() {
    let b = Backend::json().await;
    let r = rig(&b).await;
    create(b.store.clone(), "Pending").await;
    let ok = Arc::new(CountingPoller::default());
    let failing = Arc::new(CountingPoller {
        fail: true,
        ..CountingPoller::default()
    });
    let (events, sink) = recorder();
    let (_stop, stopped) = watch::channel(false);
    let opts = WorkerOptions {
        workers: 2,
        once: true,
        pollers: vec![failing.clone(), ok.clone()],
        ..WorkerOptions::default()
    };
    let report = tokio::time::timeout(
        PATIENCE,
        run_workers(
            r.engine.clone(),
            opts,
            Arc::new(Notify::new()),
            stopped,
            sink,
        ),
    )
    .await
    .expect("--once returns by itself")
    .unwrap();
    // Each polled once, in worker 0's pull; the failure did not stop the push.
    let polls = |p: &CountingPoller| p.polls.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!((polls(&failing), polls(&ok)), (1, 1));
    assert_eq!(report.created, 1, "{report:?}");
    assert_eq!(report.actions_applied, 1, "{report:?}");
    assert!(
        report
            .failed
            .iter()
            .any(|f| f.contains("counting") && f.contains("down")),
        "{report:?}"
    );
    let events = events.lock().unwrap();
    let pulled = events
        .iter()
        .position(|e| matches!(e, WorkerEvent::Pulled { .. }))
        .unwrap();
    let noted = events
        .iter()
        .position(|e| matches!(e, WorkerEvent::Note { message, .. } if message == "poll 0"))
        .expect("the poller's note is an event");
    assert!(pulled < noted, "the poll comes after the pull: {events:?}");
    assert!(
        events.iter().any(
            |e| matches!(e, WorkerEvent::Failed { message, .. } if message.contains("counting"))
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wake_up_makes_idle_workers_push_before_their_interval() {
    // The interval and the feed poll are an hour: only the wake-up can start the push.
    let b = Backend::json().await;
    let r = rig(&b).await;
    let wake = Arc::new(Notify::new());
    let (events, sink) = recorder();
    let (stop, stopped) = watch::channel(false);
    let opts = WorkerOptions {
        workers: 1,
        interval: Duration::from_secs(3600),
        feed_poll: Duration::from_secs(3600),
        once: false,
        feed: None,
        pollers: Vec::new(),
    };
    let workers = tokio::spawn(run_workers(
        r.engine.clone(),
        opts,
        wake.clone(),
        stopped,
        sink,
    ));
    // Idle twice: after its first round, and again after the feed watcher announced its start
    // (then nothing else can wake it but `wake`).
    wait_until("the worker is idle", async || {
        events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| matches!(e, WorkerEvent::Idle { .. }))
            .count()
            >= 2
    })
    .await;
    let e = create(b.store.clone(), "Wake me").await;
    let remote = r.remote.state().clone();
    let id = e.id.to_string();
    wait_until("the entry is pushed after a wake-up", async || {
        wake.notify_waiters();
        remote.items_with_marker(&id).len() == 1
    })
    .await;
    stop.send(true).unwrap();
    let report = tokio::time::timeout(PATIENCE, workers)
        .await
        .expect("the worker stops")
        .unwrap()
        .unwrap();
    assert_eq!(report.created, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_and_records_the_job_in_hand() {
    let b = Backend::json().await;
    let r = rig(&b).await;
    // The create is held for a second on the remote: shutdown begins while it is in flight.
    r.remote.state().inject(
        devlog_testkit::fake_remote::Fault::on("POST /items").delay(Duration::from_secs(1)),
    );
    let (stop, stopped) = watch::channel(false);
    let opts = WorkerOptions {
        workers: 2,
        interval: Duration::from_secs(3600),
        feed_poll: Duration::from_millis(20),
        ..WorkerOptions::default()
    };
    let (_events, sink) = recorder();
    let workers = tokio::spawn(run_workers(
        r.engine.clone(),
        opts,
        Arc::new(Notify::new()),
        stopped,
        sink,
    ));
    let e = create(b.store.clone(), "In flight at shutdown").await;
    let remote = r.remote.state().clone();
    wait_until("the create is in flight", async || {
        !remote.requests_matching("POST /items").is_empty()
    })
    .await;
    stop.send(true).unwrap();
    let report = tokio::time::timeout(PATIENCE, workers)
        .await
        .expect("the workers stop")
        .unwrap()
        .unwrap();
    // The job was finished and recorded, not abandoned under its lease.
    assert_eq!(report.created, 1, "{report:?}");
    assert!(r.engine.state().open_jobs().await.unwrap().is_empty());
    let link = r
        .engine
        .state()
        .link("tracker", e.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(link.state, devlog_sync::LinkState::Linked);
    assert_eq!(
        r.remote.state().items_with_marker(&e.id.to_string()).len(),
        1
    );
}
