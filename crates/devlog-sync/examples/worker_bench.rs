//! Sync worker benchmark: jobs per second with 1, 2 and 4 workers in one process, pushing N
//! new local entries through the test integration to the fake remote (real HTTP on loopback).
//! On PostgreSQL when `DEVLOG_TEST_POSTGRES_URL` is set (a fresh database per run, dropped
//! after), with the sync state — the shared job queue — in that database, as every worker on
//! the store shares it; else on the JSON store in a temp folder with its SQLite sync state.
//!
//! ```text
//! DEVLOG_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test \
//!     cargo run --release -p devlog-sync --example worker_bench -- 2000
//! ```

use std::sync::Arc;
use std::time::Instant;

use devlog_core::entry::EntryType;
use devlog_core::ops::NewEntry;
use devlog_core::{Devlog, Origin, Store, WriteMeta};
use devlog_store::DbUrl;
use devlog_sync::{SyncEngine, SyncOptions, SyncState, WorkerOptions, run_workers};
use devlog_testkit::fake_remote::FakeRemote;
use devlog_testkit::tracker::TrackerIntegration;
use sqlx::{AssertSqlSafe, Connection, Executor};
use tokio::sync::{Notify, watch};

type Error = Box<dyn std::error::Error>;

async fn admin(url: &DbUrl, sql: String) -> Result<(), Error> {
    let mut c = sqlx::PgConnection::connect(url.expose()).await?;
    c.execute(AssertSqlSafe(sql)).await?;
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Error> {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2000);
    let pg = std::env::var("DEVLOG_TEST_POSTGRES_URL")
        .ok()
        .map(|u| DbUrl::parse(&u))
        .transpose()?;
    println!(
        "{n} local creates per run, store: {}",
        if pg.is_some() { "postgres" } else { "json" }
    );
    for workers in [1, 2, 4] {
        let tmp = tempfile::tempdir()?;
        let db = match &pg {
            Some(admin_url) => {
                let name = format!("devlog_worker_bench_{}_{workers}", std::process::id());
                admin(admin_url, format!("DROP DATABASE IF EXISTS \"{name}\"")).await?;
                admin(admin_url, format!("CREATE DATABASE \"{name}\"")).await?;
                Some((admin_url.clone(), name))
            }
            None => None,
        };
        let store: Arc<dyn Store> = match &db {
            Some((a, name)) => {
                Arc::new(devlog_store::PostgresStore::open(&a.with_database(name)).await?)
            }
            None => Arc::new(devlog_store::JsonStore::open(&tmp.path().join(".devlog")).await?),
        };
        let app = Devlog::new(store.clone());
        for i in 0..n {
            app.create(
                NewEntry {
                    title: format!("Benchmark entry {i}"),
                    kind: Some(EntryType::Task),
                    description: "generated for the worker benchmark".into(),
                    ..NewEntry::default()
                },
                &WriteMeta::new(Origin::Cli),
            )
            .await?;
        }
        let remote = FakeRemote::start().await;
        let tracker = Arc::new(TrackerIntegration::with_limits(
            &remote.url(),
            devlog_http::RateLimitConfig::unpaced(),
        )?);
        let state = match &db {
            Some((a, name)) => {
                let spec = devlog_store::StoreSpec::Postgres {
                    url: a.with_database(name),
                };
                SyncState::new(
                    devlog_store::open_sync_state(&spec, &tmp.path().join("state"))
                        .await?
                        .state,
                )
            }
            None => SyncState::open(&tmp.path().join("sync.sqlite")).await?,
        };
        let engine = Arc::new(SyncEngine::new(
            store.clone(),
            state,
            vec![tracker],
            SyncOptions::default(),
        ));
        let (_stop, stopped) = watch::channel(false);
        let t = Instant::now();
        let report = run_workers(
            engine,
            WorkerOptions {
                workers,
                once: true,
                ..WorkerOptions::default()
            },
            Arc::new(Notify::new()),
            stopped,
            Arc::new(|_| {}),
        )
        .await?;
        let secs = t.elapsed().as_secs_f64();
        println!(
            "{workers} worker(s): {n} jobs in {secs:.2} s = {:.0} jobs/s (created {}, failed {}, remote items {})",
            n as f64 / secs,
            report.created,
            report.failed.len(),
            remote.state().items_created()
        );
        assert_eq!(
            remote.state().items_created(),
            n as u64,
            "one create per entry"
        );
        drop(store);
        if let Some((a, name)) = db {
            admin(
                &a,
                format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
            )
            .await?;
        }
    }
    Ok(())
}
