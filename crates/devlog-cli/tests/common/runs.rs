//! A workspace's workflow runs as the CLI keeps them (in its sync state,
//! `.devlog/.state/sync.sqlite` beside a JSON store), for what a test does behind the CLI's
//! back: a run's clock moved on, a schedule's last slot moved back (included with `#[path]`).
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;

use devlog_workflow::RunStore;

/// Runs `f` over the runs of the JSON workspace in `dir`.
pub fn with_runs<T>(dir: &Path, f: impl AsyncFnOnce(&RunStore) -> T) -> T {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let state = devlog_store::SqliteSyncState::open(&dir.join(".devlog/.state/sync.sqlite"))
            .await
            .unwrap();
        let runs = RunStore::new(Arc::new(state.clone()));
        let out = f(&runs).await;
        state.close().await;
        out
    })
}
