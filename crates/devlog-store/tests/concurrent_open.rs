//! Opening a fresh database from many processes or tasks at once: the schema migrations run
//! once, every opener succeeds (issue 13, item 4: "table entries already exists").
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::path::{Path, PathBuf};
use std::sync::Arc;

use devlog_core::Store;
use devlog_store::{JsonStore, SqliteStore};
use tokio::sync::Barrier;

/// How many openers race; the reported failures needed 8 processes.
const OPENERS: usize = 16;

/// Runs `open` from [`OPENERS`] tasks released together and returns the failures.
async fn race<F, Fut>(open: F) -> Vec<String>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<Arc<dyn Store>, devlog_core::StoreError>> + Send,
{
    let open = Arc::new(open);
    let barrier = Arc::new(Barrier::new(OPENERS));
    let tasks: Vec<_> = (0..OPENERS)
        .map(|_| {
            let (open, barrier) = (open.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                match open().await {
                    Ok(store) => store.count().await.map(|_| ()).map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                }
            })
        })
        .collect();
    let mut failures = Vec::new();
    for t in tasks {
        if let Err(e) = t.await.unwrap() {
            failures.push(e);
        }
    }
    failures
}

fn sqlite_path(dir: &Path) -> PathBuf {
    dir.join(".devlog").join("devlog.sqlite")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn sixteen_first_openers_of_a_fresh_sqlite_store_all_succeed() {
    for round in 0..3 {
        let dir = tempfile::tempdir().unwrap();
        let path = sqlite_path(dir.path());
        let failures = race(move || {
            let path = path.clone();
            async move {
                SqliteStore::open(&path)
                    .await
                    .map(|s| Arc::new(s) as Arc<dyn Store>)
            }
        })
        .await;
        assert!(failures.is_empty(), "round {round}: {failures:#?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn sixteen_first_openers_of_a_fresh_json_index_all_succeed() {
    for round in 0..3 {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join(".devlog");
        let failures = race(move || {
            let root = root.clone();
            async move {
                JsonStore::open(&root)
                    .await
                    .map(|s| Arc::new(s) as Arc<dyn Store>)
            }
        })
        .await;
        assert!(failures.is_empty(), "round {round}: {failures:#?}");
    }
}
