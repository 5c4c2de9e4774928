//! The change-feed watcher on the local backends: a write through another handle on the same
//! folder or file (as another process, `devlog new`, would make) wakes it by polling the
//! feed's end. Generous timeouts; nothing is timed.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::sync::Arc;
use std::time::Duration;

use devlog_core::event::{Origin, WriteMeta};
use devlog_core::ops::{Devlog, NewEntry};
use devlog_core::{EntryType, Store};
use devlog_store::feed_watch::{FeedWatch, WakeSource, tail};
use devlog_store::{JsonStore, SqliteStore};

const PATIENCE: Duration = Duration::from_secs(30);

async fn write(store: Arc<dyn Store>, title: &str) {
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
        .unwrap();
}

async fn wakes_on_another_handles_write(reader: Arc<dyn Store>, writer: Arc<dyn Store>) {
    assert!(reader.listen().is_none(), "local stores have no listener");
    let mut watch = FeedWatch::start(reader.clone(), Duration::from_millis(20));
    assert_eq!(watch.source(), WakeSource::Poll(Duration::from_millis(20)));
    // The first wake-up: the watcher is in place.
    tokio::time::timeout(PATIENCE, watch.changed())
        .await
        .expect("the watcher starts");
    let mut second = watch.clone();
    write(writer.clone(), "From another process").await;
    tokio::time::timeout(PATIENCE, watch.changed())
        .await
        .expect("the poll saw the write");
    // Every handle sees the change once, whenever it looks.
    tokio::time::timeout(PATIENCE, second.changed())
        .await
        .expect("a second handle is woken too");
    assert_eq!(tail(&*reader).await.unwrap(), tail(&*writer).await.unwrap());
    write(writer, "And another").await;
    tokio::time::timeout(PATIENCE, watch.changed())
        .await
        .expect("the next write wakes it again");
}

#[tokio::test]
async fn json_feed_watch_polls_the_shared_index() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join(".devlog");
    let reader: Arc<dyn Store> = Arc::new(JsonStore::open(&root).await.unwrap());
    let writer: Arc<dyn Store> = Arc::new(JsonStore::open(&root).await.unwrap());
    wakes_on_another_handles_write(reader, writer).await;
}

#[tokio::test]
async fn sqlite_feed_watch_polls_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("devlog.sqlite");
    let reader: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).await.unwrap());
    let writer: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).await.unwrap());
    wakes_on_another_handles_write(reader, writer).await;
}
