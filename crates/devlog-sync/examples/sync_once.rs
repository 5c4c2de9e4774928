//! Test driver for the fault-injection tests: one `devlog sync` of the `.devlog` folder in
//! `$DEVLOG_DIR` against the tracker at `$TRACKER_URL`, optionally crashing at the crash point
//! named by `$DEVLOG_FAILPOINT`. Prints the sync report as JSON.

use std::sync::Arc;

use devlog_core::Store;
use devlog_sync::{SyncEngine, SyncOptions, SyncState, failpoint};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::path::PathBuf::from(std::env::var("DEVLOG_DIR")?);
    let url = std::env::var("TRACKER_URL")?;
    if let Ok(point) = std::env::var("DEVLOG_FAILPOINT") {
        failpoint::arm(&point);
    }
    let store: Arc<dyn Store> = Arc::new(devlog_store::JsonStore::open(&dir).await?);
    let state = SyncState::open(&dir.join(".state/sync.sqlite")).await?;
    let tracker = devlog_testkit::tracker::TrackerIntegration::new(&url)?;
    let opts = SyncOptions {
        base_delay_ms: 0,
        max_delay_ms: 0,
        // One process at a time: the restart after a crash takes the crashed run's job at
        // once instead of waiting for its lease to expire.
        lease_ms: 0,
        ..SyncOptions::default()
    };
    let engine = SyncEngine::new(store, state, vec![Arc::new(tracker)], opts);
    let report = engine.sync(None, None, &|_, _| {}).await?;
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}
