//! A workspace's workflow runs as the CLI keeps them (in its sync state: `.devlog/.state/
//! sync.sqlite` beside a JSON store, the `sqlite` backend's own database), for what a test does behind the CLI's
//! back: a run's clock moved on, a schedule's last slot moved back (included with `#[path]`).
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;

use devlog_workflow::RunStore;

/// The file of the sync state of the workspace in `dir`: the `sqlite` backend's database, else
/// the JSON backend's `sync.sqlite`.
pub fn state_file(dir: &Path) -> std::path::PathBuf {
    let sqlite = dir.join(".devlog/devlog.sqlite");
    if sqlite.is_file() {
        sqlite
    } else {
        dir.join(".devlog/.state/sync.sqlite")
    }
}

/// Runs `f` over the runs of the workspace in `dir`.
pub fn with_runs<T>(dir: &Path, f: impl AsyncFnOnce(&RunStore) -> T) -> T {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let state = devlog_store::SqliteSyncState::open(&state_file(dir))
            .await
            .unwrap();
        let runs = RunStore::new(Arc::new(state.clone()));
        let out = f(&runs).await;
        state.close().await;
        out
    })
}

/// Polls the runs of the workspace in `dir` (every 5 ms, over one connection, once its sync
/// state exists) until `found` returns something.
pub fn watch<T>(
    dir: &Path,
    mut found: impl FnMut(&[devlog_workflow::RunRecord]) -> Option<T>,
) -> T {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut runs: Option<RunStore> = None;
        loop {
            let file = state_file(dir);
            if runs.is_none() && file.is_file() {
                let state = devlog_store::SqliteSyncState::open(&file).await.unwrap();
                runs = Some(RunStore::new(Arc::new(state)));
            }
            let list = match &runs {
                Some(r) => r.list(None).await.unwrap_or_default(),
                None => Vec::new(),
            };
            if let Some(t) = found(&list) {
                return t;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    })
}
