//! Scale-out under SIGKILL: four worker processes (`examples/queue_worker.rs`, the
//! `devlog worker` loop) share one PostgreSQL or MariaDB store's sync queue and push N local
//! changes to one fake tracker over HTTP, while this test kills a random one of them with
//! SIGKILL at random moments (seeded RNG; the seed is printed) and starts it again, until the
//! queue is empty. Then, counted on the fake remote: exactly one remote item and one create
//! request per entry, every entry's final fields on its item, every job done and none dead.
//!
//! `DEVLOG_SCALE_OUT_ENTRIES` sets N (default 2,000; docs/sync.md has the 10,000 run),
//! `DEVLOG_SCALE_OUT_SEED` replays a seed. Skipped (with a message) when
//! `DEVLOG_TEST_POSTGRES_URL` / `DEVLOG_TEST_MYSQL_URL` is not set. Nothing is timed; the
//! deadline only guards against a hang.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use devlog_core::entry::{EntryType, Priority, Status};
use devlog_core::id::EntryId;
use devlog_core::merge::SyncedFields;
use devlog_core::ops::{Devlog, Edit, NewEntry};
use devlog_core::sync_state::SyncStateStore;
use devlog_core::{Origin, Store, WriteMeta};
use devlog_store::{DbUrl, StoreSpec};
use devlog_sync::{CursorKind, JobState, LinkState};
use devlog_testkit::fake_remote::FakeRemote;
use devlog_testkit::tracker::{NAME, to_remote};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use sqlx::{AssertSqlSafe, Connection, Executor};

/// Worker processes sharing the queue.
const PROCESSES: usize = 4;
/// Entries created before the workers start, when `DEVLOG_SCALE_OUT_ENTRIES` is not set.
const DEFAULT_ENTRIES: usize = 2_000;
/// Short leases, so a killed worker's job is taken over quickly. Not shorter: a live worker
/// starved of CPU for a whole lease (two cores, four processes, the database) would lose its
/// job to another while its request is in flight.
const LEASE_MS: &str = "3000";
/// Guards against a hang; not a timing assertion.
const PATIENCE: Duration = Duration::from_secs(1800);

#[derive(Debug, Clone, Copy)]
enum Kind {
    Postgres,
    Mysql,
}

/// A database of its own for one run, dropped at the end.
struct Db {
    kind: Kind,
    admin: DbUrl,
    name: String,
}

impl Db {
    async fn create(kind: Kind, test: &str) -> Option<Self> {
        let var = match kind {
            Kind::Postgres => "DEVLOG_TEST_POSTGRES_URL",
            Kind::Mysql => "DEVLOG_TEST_MYSQL_URL",
        };
        let Ok(url) = std::env::var(var) else {
            eprintln!("skipping {test}: {var} is not set");
            return None;
        };
        let db = Db {
            kind,
            admin: DbUrl::parse(&url).unwrap(),
            name: format!(
                "dlt_scale_{}_{}",
                std::process::id(),
                &uuid::Uuid::new_v4().simple().to_string()[..8]
            ),
        };
        db.exec(format!("CREATE DATABASE {}", db.quoted())).await;
        Some(db)
    }

    fn quoted(&self) -> String {
        match self.kind {
            Kind::Postgres => format!("\"{}\"", self.name),
            Kind::Mysql => format!("`{}`", self.name),
        }
    }

    async fn exec(&self, sql: String) {
        match self.kind {
            Kind::Postgres => {
                let mut c = sqlx::PgConnection::connect(self.admin.expose())
                    .await
                    .unwrap();
                c.execute(AssertSqlSafe(sql)).await.unwrap();
            }
            Kind::Mysql => {
                let mut c = sqlx::MySqlConnection::connect(self.admin.expose())
                    .await
                    .unwrap();
                c.execute(AssertSqlSafe(sql)).await.unwrap();
            }
        }
    }

    fn url(&self) -> DbUrl {
        self.admin.with_database(&self.name)
    }

    fn spec(&self) -> StoreSpec {
        match self.kind {
            Kind::Postgres => StoreSpec::Postgres { url: self.url() },
            Kind::Mysql => StoreSpec::Mysql { url: self.url() },
        }
    }

    async fn drop_it(self) {
        let force = match self.kind {
            Kind::Postgres => " WITH (FORCE)",
            Kind::Mysql => "",
        };
        self.exec(format!("DROP DATABASE IF EXISTS {}{force}", self.quoted()))
            .await;
    }
}

fn driver() -> PathBuf {
    // target/<profile>/deps/<test> → target/<profile>/examples/queue_worker
    let exe = std::env::current_exe().unwrap();
    let path = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join("queue_worker");
    if !path.is_file() {
        // `cargo test` builds examples; `cargo test --test scale_out` does not.
        let status = Command::new(env!("CARGO"))
            .args(["build", "-p", "devlog-sync", "--example", "queue_worker"])
            .status()
            .unwrap();
        assert!(status.success(), "building the queue_worker driver failed");
    }
    path
}

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok().map(|v| {
        v.parse()
            .unwrap_or_else(|_| panic!("{name}={v} is not a whole number"))
    })
}

fn start_worker(db_url: &DbUrl, tracker: &str) -> Child {
    Command::new(driver())
        .env("DEVLOG_STORE_URL", db_url.expose())
        .env("TRACKER_URL", tracker)
        .env("DEVLOG_LEASE_MS", LEASE_MS)
        .env("DEVLOG_WORKERS", "1")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap()
}

fn meta() -> WriteMeta {
    WriteMeta::new(Origin::Cli)
}

/// The edits made while the workers run: every tenth entry gets a new title and priority,
/// every twentieth is also started.
fn edit_for(i: usize) -> Option<Edit> {
    i.is_multiple_of(10).then(|| Edit {
        title: Some(format!("Scale-out entry {i} (edited)")),
        priority: Some(Priority::High),
        status: i.is_multiple_of(20).then_some(Status::InProgress),
        ..Edit::default()
    })
}

/// Whether the queue is drained: every change-feed event is turned into jobs and no job is
/// open. A dead job fails the test at once.
async fn drained(store: &Arc<dyn Store>, state: &Arc<dyn SyncStateStore>) -> bool {
    let open = state.open_jobs().await.unwrap();
    if let Some(dead) = open.iter().find(|j| j.state == JobState::Dead) {
        panic!("a job was dead-lettered: {dead:?}");
    }
    if !open.is_empty() {
        return false;
    }
    let end = store
        .events_before(None, 1)
        .await
        .unwrap()
        .first()
        .map_or(0, |e| e.seq);
    let cursor: u64 = state
        .cursor(NAME, CursorKind::Feed)
        .await
        .unwrap()
        .map_or(0, |c| c.parse().unwrap());
    cursor >= end
}

async fn scale_out(kind: Kind, test: &str) {
    let Some(db) = Db::create(kind, test).await else {
        return;
    };
    let n = env_number("DEVLOG_SCALE_OUT_ENTRIES").map_or(DEFAULT_ENTRIES, |n| n as usize);
    let seed = env_number("DEVLOG_SCALE_OUT_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
    });
    eprintln!(
        "{test}: {n} entries, {PROCESSES} worker processes, seed {seed} (DEVLOG_SCALE_OUT_SEED={seed} replays it)"
    );
    let mut rng = StdRng::seed_from_u64(seed);

    let spec = db.spec();
    let store = devlog_store::open(&spec).await.unwrap();
    let app = Arc::new(Devlog::new(store.clone()));
    // The local changes, written by four writers at once.
    let mut writers = tokio::task::JoinSet::new();
    for w in 0..4 {
        let app = app.clone();
        writers.spawn(async move {
            let mut ids = Vec::new();
            for i in (w..n).step_by(4) {
                let e = app
                    .create(
                        NewEntry {
                            title: format!("Scale-out entry {i}"),
                            kind: Some(EntryType::Task),
                            description: format!("local change {i}"),
                            ..NewEntry::default()
                        },
                        &meta(),
                    )
                    .await
                    .unwrap();
                ids.push((i, e.entry().id));
            }
            ids
        });
    }
    let mut ids: Vec<(usize, EntryId)> = Vec::new();
    while let Some(part) = writers.join_next().await {
        ids.extend(part.unwrap());
    }
    ids.sort();
    assert_eq!(ids.len(), n);

    let remote = FakeRemote::start().await;
    let tracker = remote.url();
    let db_url = db.url();
    let mut workers: Vec<Child> = (0..PROCESSES)
        .map(|_| start_worker(&db_url, &tracker))
        .collect();

    // Edits while the workers run (and are killed): updates of items that may not exist yet.
    let editor = {
        let app = app.clone();
        let ids = ids.clone();
        tokio::spawn(async move {
            for (k, (i, id)) in ids.iter().enumerate() {
                if let Some(edit) = edit_for(*i) {
                    app.edit(*id, edit, &meta()).await.unwrap();
                }
                if k % 500 == 499 {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        })
    };

    let state = devlog_store::open_sync_state(&spec, &std::env::temp_dir().join("nowhere"))
        .await
        .unwrap()
        .state;
    let give_up = tokio::time::Instant::now() + PATIENCE;
    let mut kills = 0usize;
    loop {
        tokio::time::sleep(Duration::from_millis(rng.random_range(200..1500))).await;
        if editor.is_finished() && drained(&store, &state).await {
            break;
        }
        assert!(
            tokio::time::Instant::now() < give_up,
            "the queue did not drain: {} open jobs",
            state.open_jobs().await.unwrap().len()
        );
        let victim = rng.random_range(0..PROCESSES);
        workers[victim].kill().unwrap(); // SIGKILL
        workers[victim].wait().unwrap();
        kills += 1;
        workers[victim] = start_worker(&db_url, &tracker);
    }
    for w in &mut workers {
        w.kill().unwrap();
        w.wait().unwrap();
    }
    editor.await.unwrap();
    eprintln!("{test}: drained after {kills} SIGKILLs");
    assert!(kills >= 3, "the workers were killed only {kills} time(s)");

    // One remote item per entry, made by one create request.
    let items = remote.state().items();
    let mut by_marker: HashMap<String, Vec<u64>> = HashMap::new();
    for item in &items {
        let marker = item
            .marker
            .clone()
            .unwrap_or_else(|| panic!("item {} has no marker", item.id));
        by_marker.entry(marker).or_default().push(item.id);
    }
    let mut creates: HashMap<String, usize> = HashMap::new();
    for r in remote.state().requests_matching("POST /items") {
        let marker = r.body_json().unwrap()["marker"]
            .as_str()
            .unwrap()
            .to_string();
        *creates.entry(marker).or_default() += 1;
    }
    let duplicates: Vec<_> = by_marker.iter().filter(|(_, v)| v.len() > 1).collect();
    assert!(
        duplicates.is_empty(),
        "duplicate remote items: {duplicates:?}"
    );
    let twice: Vec<_> = creates.iter().filter(|(_, c)| **c > 1).collect();
    assert!(twice.is_empty(), "entries created twice: {twice:?}");
    assert_eq!(items.len(), n, "one remote item per entry");
    assert_eq!(remote.state().items_created(), n as u64);

    // Every entry's final fields are on its item, and its link names that item.
    let entries = store.all().await.unwrap();
    assert_eq!(entries.len(), n);
    let mut edited = 0;
    for e in &entries {
        let item_id = by_marker
            .get(&e.id.to_string())
            .unwrap_or_else(|| panic!("no remote item for {} {:?}", e.id, e.title))[0];
        let item = remote.state().item(item_id).unwrap();
        assert_eq!(
            to_remote(&item).unwrap().fields,
            // The tracker carries none of the optional fields.
            SyncedFields::from_entry(e).without_optional(),
            "remote item {item_id} differs from entry {}",
            e.id
        );
        edited += usize::from(e.title.ends_with("(edited)"));
        let link = state.link(NAME, e.id).await.unwrap().unwrap();
        assert_eq!(link.state, LinkState::Linked, "{link:?}");
        assert_eq!(
            link.remote_id.as_deref(),
            Some(item_id.to_string().as_str())
        );
    }
    assert_eq!(edited, n.div_ceil(10));
    // No job lost: every job is done (none open, none dead).
    assert!(state.open_jobs().await.unwrap().is_empty());
    drop(state);
    drop(store);
    db.drop_it().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_four_worker_processes_killed_at_random_push_every_change_exactly_once() {
    scale_out(
        Kind::Postgres,
        "postgres_four_worker_processes_killed_at_random",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_four_worker_processes_killed_at_random_push_every_change_exactly_once() {
    scale_out(
        Kind::Mysql,
        "mariadb_four_worker_processes_killed_at_random",
    )
    .await;
}
