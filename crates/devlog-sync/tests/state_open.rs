//! Opening a fresh sync state database from many openers at once: every one succeeds and
//! the migrations run once (issue 13, item 4: 13 of 80 openers failed with "table ...
//! already exists" or "database is locked").
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::sync::Arc;

use devlog_sync::state::SyncState;
use tokio::sync::Barrier;

const OPENERS: usize = 16;

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn sixteen_first_openers_of_a_fresh_sync_state_all_succeed() {
    for round in 0..3 {
        let dir = tempfile::tempdir().unwrap();
        let path = Arc::new(dir.path().join(".devlog/.state/sync.sqlite"));
        let barrier = Arc::new(Barrier::new(OPENERS));
        let tasks: Vec<_> = (0..OPENERS)
            .map(|_| {
                let (path, barrier) = (path.clone(), barrier.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    let state = SyncState::open(&path).await.map_err(|e| e.to_string())?;
                    state
                        .cursor("github", devlog_sync::CursorKind::Pull)
                        .await
                        .map_err(|e| e.to_string())
                })
            })
            .collect();
        let mut failures = Vec::new();
        for t in tasks {
            if let Err(e) = t.await.unwrap() {
                failures.push(e);
            }
        }
        assert!(failures.is_empty(), "round {round}: {failures:#?}");
    }
}
