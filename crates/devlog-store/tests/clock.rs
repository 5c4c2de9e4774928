//! Every store reads time from an injected clock (issue 14: tests control time): events of
//! creates, edits and deletes — and on the JSON backend changes found in the files — carry
//! the clock's time, not the system's.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::sync::Arc;

use devlog_core::{Origin, Store, WriteMeta};
use devlog_store::{JsonStore, SqliteStore};
use devlog_testkit::{EntryBuilder, ManualClock};

/// 2031-01-01: later than any `updatedAt` the builder writes, and than today.
const T: i64 = 1_925_000_000_000;

async fn stamps_with_the_clock(store: Arc<dyn Store>, clock: &ManualClock) {
    let cli = WriteMeta::new(Origin::Cli);
    let e = EntryBuilder::new("Timed").build();
    let id = store.create(e, false, &cli).await.unwrap().into_entry().id;
    clock.advance(60_000);
    store
        .update(id, &cli, &mut |e| {
            e.title = "Timed, edited".into();
            Ok(())
        })
        .await
        .unwrap();
    clock.advance(60_000);
    store.delete(id, &cli).await.unwrap();
    let at: Vec<i64> = store
        .events(0, 100)
        .await
        .unwrap()
        .iter()
        .map(|e| e.at.millis())
        .collect();
    assert_eq!(at.first(), Some(&T), "{at:?}");
    assert!(at.contains(&(T + 60_000)), "{at:?}");
    assert_eq!(at.last(), Some(&(T + 120_000)), "{at:?}");
}

#[tokio::test]
async fn the_json_store_reads_time_from_the_injected_clock() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join(".devlog");
    let clock = Arc::new(ManualClock::at(T));
    let store = JsonStore::open(&root)
        .await
        .unwrap()
        .with_clock(clock.clone());
    stamps_with_the_clock(Arc::new(store), &clock).await;
    // A file that appears outside devlog is an `external` event at the clock's time too.
    clock.set(T + 600_000);
    let e = EntryBuilder::new("Dropped in").handle(7).build();
    std::fs::write(
        root.join("entries/007-dropped-in.json"),
        devlog_core::codec::encode_entry(&e),
    )
    .unwrap();
    let store = JsonStore::open(&root)
        .await
        .unwrap()
        .with_clock(clock.clone());
    store.reindex().await.unwrap();
    let last = store.events(0, 100).await.unwrap().pop().unwrap();
    assert_eq!(last.origin, Origin::External);
    assert_eq!(last.entry_id, e.id);
}

#[tokio::test]
async fn the_sqlite_store_reads_time_from_the_injected_clock() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::at(T));
    let store = SqliteStore::open(&dir.path().join("devlog.sqlite"))
        .await
        .unwrap()
        .with_clock(clock.clone());
    stamps_with_the_clock(Arc::new(store), &clock).await;
}
