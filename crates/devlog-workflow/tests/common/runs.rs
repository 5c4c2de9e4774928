//! Run records in a SQLite sync state in a test's folder (included with `#[path]`).
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;

use devlog_workflow::RunStore;

/// The runs of a workspace in `dir` (its `sync.sqlite`, as the JSON backend keeps it).
pub async fn run_store(dir: &Path) -> RunStore {
    let state = devlog_store::SqliteSyncState::open(&dir.join("sync.sqlite"))
        .await
        .unwrap();
    RunStore::new(Arc::new(state))
}
