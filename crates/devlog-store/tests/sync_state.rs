//! The SQLite sync state: the SyncStateStore conformance suite, and files written by the
//! schema devlog-sync used before the state moved here still open with their data.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use devlog_core::sync_state::{CursorKind, JobState, LinkState, SyncStateStore};
use devlog_store::SqliteSyncState;

#[path = "common/old_sync_file.rs"]
mod old_sync_file;
use old_sync_file::write_old_file;

mod sqlite {
    devlog_testkit::sync_state_conformance!(|dir| Box::pin(async move {
        std::sync::Arc::new(
            devlog_store::SqliteSyncState::open(&dir.join("sync.sqlite"))
                .await
                .unwrap(),
        ) as std::sync::Arc<dyn devlog_core::sync_state::SyncStateStore>
    }));
}

#[tokio::test]
async fn a_sync_state_file_of_the_old_schema_opens_with_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sync.sqlite");
    let entry = devlog_core::id::EntryId::new_random();
    write_old_file(&path, &entry.to_string()).await;
    let s = SqliteSyncState::open(&path).await.unwrap();
    assert_eq!(
        s.cursor("github", CursorKind::Pull)
            .await
            .unwrap()
            .as_deref(),
        Some("p-7")
    );
    let l = s.link("github", entry).await.unwrap().unwrap();
    assert_eq!(
        (l.state, l.remote_id.as_deref()),
        (LinkState::Linked, Some("42"))
    );
    assert_eq!(l.base.unwrap().title, "t");
    let jobs = s.open_jobs().await.unwrap();
    assert_eq!((jobs.len(), jobs[0].state), (1, JobState::Dead));
    assert_eq!(s.held_fields("github", entry).await.unwrap(), ["title"]);
    assert!(s.delivery_seen("github", "d-1").await.unwrap());
    // Writes work on the migrated file (the http_cache table of migration 4 is there).
    s.set_cursor("github", CursorKind::Pull, "p-8")
        .await
        .unwrap();
    assert_eq!(s.http_cache_size().await.unwrap(), (0, 0));
}

#[tokio::test]
async fn an_unknown_state_in_a_row_is_a_corrupt_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sync.sqlite");
    let s = SqliteSyncState::open(&path).await.unwrap();
    let e = devlog_core::id::EntryId::new_random();
    s.enqueue_one("github", e, 1).await.unwrap();
    sqlx::query("UPDATE jobs SET state = 'zombie'")
        .execute(s.pool())
        .await
        .unwrap();
    let err = s.open_jobs().await.unwrap_err();
    assert_eq!(err.kind(), devlog_core::ErrorKind::Corrupt);
    assert!(
        err.to_string().contains("unknown job state `zombie`"),
        "{err}"
    );
}
