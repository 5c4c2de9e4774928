//! Test driver for the scale-out fault test (`tests/scale_out.rs`): one sync worker process on
//! the shared queue of a PostgreSQL or MySQL/MariaDB store, pushing to the fake tracker — the
//! same `run_workers` loop as `devlog worker`, with the sync state in the store's database
//! (`devlog_store::open_sync_state`). It runs until it is killed (the test sends SIGKILL).
//!
//! Environment: `DEVLOG_STORE_URL` (`postgres://…` or `mysql://…`), `TRACKER_URL`,
//! `DEVLOG_LEASE_MS` (lease length; default 60000 as in `devlog worker`), `DEVLOG_WORKERS`
//! (workers in this process, default 1). Failures are printed on stderr.

use std::sync::Arc;
use std::time::Duration;

use devlog_store::{DbUrl, StoreSpec};
use devlog_sync::{SyncEngine, SyncOptions, SyncState, WorkerEvent, WorkerOptions, run_workers};
use devlog_testkit::tracker::TrackerIntegration;
use tokio::sync::{Notify, watch};

type Error = Box<dyn std::error::Error>;

fn var(name: &str) -> Result<String, Error> {
    std::env::var(name).map_err(|_| format!("{name} is not set").into())
}

fn number(name: &str, default: u64) -> Result<u64, Error> {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .map_err(|_| format!("{name}={v} is not a whole number").into()),
        Err(_) => Ok(default),
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Error> {
    let raw = var("DEVLOG_STORE_URL")?;
    let url = DbUrl::parse(&raw)?;
    let spec = if raw.starts_with("postgres") {
        StoreSpec::Postgres { url }
    } else {
        StoreSpec::Mysql { url }
    };
    let store = devlog_store::open(&spec).await?;
    // No machine-local state file to import: a folder that does not exist.
    let nowhere = std::env::temp_dir().join(format!("devlog-queue-worker-{}", std::process::id()));
    let state = devlog_store::open_sync_state(&spec, &nowhere).await?;
    let tracker = TrackerIntegration::with_limits(
        &var("TRACKER_URL")?,
        devlog_http::RateLimitConfig::unpaced(),
    )?;
    let opts = SyncOptions {
        lease_ms: i64::try_from(number("DEVLOG_LEASE_MS", 60_000)?)?,
        // Retries (a request cut by a killed peer is not one, but the store may be busy) come
        // back quickly, so the queue drains within the test.
        base_delay_ms: 50,
        max_delay_ms: 1_000,
        ..SyncOptions::default()
    };
    let engine = Arc::new(SyncEngine::new(
        store,
        SyncState::new(state.state),
        vec![Arc::new(tracker)],
        opts,
    ));
    let (_stop, stopped) = watch::channel(false);
    run_workers(
        engine,
        WorkerOptions {
            workers: usize::try_from(number("DEVLOG_WORKERS", 1)?)?,
            interval: Duration::from_secs(3600),
            feed_poll: Duration::from_millis(100),
            ..WorkerOptions::default()
        },
        Arc::new(Notify::new()),
        stopped,
        Arc::new(|e: &WorkerEvent| match e {
            WorkerEvent::Failed { .. } | WorkerEvent::Pushed { error: Some(_), .. } => {
                eprintln!("{}", serde_json::to_string(e).unwrap_or_default());
            }
            _ => {}
        }),
    )
    .await?;
    Ok(())
}
