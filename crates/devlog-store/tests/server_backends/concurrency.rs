//! Several connections (each store has its own pool, as separate processes would) writing at
//! once: no handle is given twice, no update is lost, and a reader following the change feed
//! never skips an event.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use devlog_core::entry::NoteCategory;
use devlog_core::event::{EventKind, Origin, WriteMeta};
use devlog_core::ops::{Devlog, NewEntry, NewNote};
use devlog_core::{EntryType, Store};

use crate::support::{Kind, with_db};

fn cli() -> WriteMeta {
    WriteMeta::new(Origin::Cli)
}

fn new_entry(title: &str) -> NewEntry {
    NewEntry {
        title: title.into(),
        kind: Some(EntryType::Task),
        ..NewEntry::default()
    }
}

async fn creates_from_many_connections_get_distinct_handles(kind: Kind) {
    with_db(
        kind,
        "creates_get_distinct_handles",
        move |url| async move {
            let mut tasks = Vec::new();
            for t in 0..4 {
                let app = Devlog::new(kind.open(&url).await);
                tasks.push(tokio::spawn(async move {
                    for i in 0..20 {
                        app.create(new_entry(&format!("task {t} item {i}")), &cli())
                            .await
                            .unwrap();
                        // The same title from every connection: deduplicated to one entry.
                        if i == 10 {
                            app.create(new_entry("Shared work"), &cli()).await.unwrap();
                        }
                    }
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
            let store = kind.open(&url).await;
            let all = store.all().await.unwrap();
            assert_eq!(all.len(), 81);
            let handles: Vec<u64> = all.iter().map(|e| e.handle).collect();
            assert_eq!(
                handles,
                (1..=81).collect::<Vec<_>>(),
                "distinct and gap-free"
            );
            let keys: BTreeSet<&str> = all.iter().map(|e| e.key.as_str()).collect();
            assert_eq!(keys.len(), 81);
            assert_eq!(all.iter().filter(|e| e.title == "Shared work").count(), 1);
            let feed = store.events(0, 1000).await.unwrap();
            assert_eq!(feed.len(), 81);
            assert!(feed.windows(2).all(|w| w[0].seq + 1 == w[1].seq));
        },
    )
    .await;
}

async fn feed_readers_never_skip_an_event(kind: Kind) {
    with_db(kind, "feed_readers_never_skip", move |url| async move {
        let seed = Devlog::new(kind.open(&url).await);
        let mut ids = Vec::new();
        for i in 0..6 {
            ids.push(
                seed.create(new_entry(&format!("feed entry {i}")), &cli())
                    .await
                    .unwrap()
                    .entry()
                    .id,
            );
        }
        let done = Arc::new(AtomicBool::new(false));
        let reader_store = kind.open(&url).await;
        let reader_done = done.clone();
        // Follows the feed the way sync and SSE do: poll after the last seq seen.
        let reader = tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut cursor = 0;
            loop {
                let finished = reader_done.load(Ordering::SeqCst);
                let batch = reader_store.events(cursor, 7).await.unwrap();
                if let Some(last) = batch.last() {
                    cursor = last.seq;
                }
                let empty = batch.is_empty();
                seen.extend(batch.into_iter().map(|e| e.seq));
                if finished && empty {
                    return seen;
                }
            }
        });
        let mut writers = Vec::new();
        for t in 0..4 {
            let app = Devlog::new(kind.open(&url).await);
            let ids = ids.clone();
            writers.push(tokio::spawn(async move {
                for i in 0..25 {
                    app.add_note(
                        ids[(t + i) % ids.len()],
                        NewNote {
                            content: format!("writer {t} note {i}"),
                            category: NoteCategory::Progress,
                            files: Vec::new(),
                            code_changes: None,
                        },
                        &cli(),
                    )
                    .await
                    .unwrap();
                }
            }));
        }
        for w in writers {
            w.await.unwrap();
        }
        done.store(true, Ordering::SeqCst);
        let seen = reader.await.unwrap();
        let store = kind.open(&url).await;
        let feed: Vec<u64> = store
            .events(0, 10_000)
            .await
            .unwrap()
            .iter()
            .map(|e| e.seq)
            .collect();
        assert_eq!(feed.len(), 6 + 100);
        assert!(seen.windows(2).all(|w| w[0] < w[1]), "strictly increasing");
        assert_eq!(seen, feed, "the polling reader saw every event");
    })
    .await;
}

async fn concurrent_edits_of_different_fields_all_survive(kind: Kind) {
    with_db(kind, "edits_of_different_fields", move |url| async move {
        let app = Devlog::new(kind.open(&url).await);
        let id = app
            .create(new_entry("Busy entry"), &cli())
            .await
            .unwrap()
            .entry()
            .id;
        let mut tasks = Vec::new();
        for t in 0..3usize {
            let store: Arc<dyn Store> = kind.open(&url).await;
            tasks.push(tokio::spawn(async move {
                for i in 0..12 {
                    store
                        .update(id, &cli(), &mut |e| {
                            match t {
                                0 => e.tags.push(format!("tag-{i}")),
                                1 => e.files.push(format!("src/file_{i}.rs")),
                                _ => e.context.acceptance_criteria.push(format!("criterion {i}")),
                            }
                            Ok(())
                        })
                        .await
                        .unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let e = app.store().get(id).await.unwrap();
        assert_eq!(
            (
                e.tags.len(),
                e.files.len(),
                e.context.acceptance_criteria.len()
            ),
            (12, 12, 12)
        );
        let changes = app
            .store()
            .events(0, 1000)
            .await
            .unwrap()
            .into_iter()
            .filter(|ev| matches!(ev.kind, EventKind::FieldChanged { .. }))
            .count();
        assert_eq!(changes, 36, "one event per update");
    })
    .await;
}

/// Regression (issue 14, two `devlog serve` processes applying one webhook delivery): a write
/// that changes nothing — an update leaving the entry as it was, a create deduplicated to an
/// existing entry — ends its transaction at once. It used to leave it to the connection's next
/// use, so a handle that then sat idle kept the entry's row (or the handle counter) locked and
/// every other process's write to it waited.
async fn writes_that_change_nothing_release_their_locks(kind: Kind) {
    with_db(kind, "writes_that_change_nothing", move |url| async move {
        let idle: Arc<dyn Store> = kind.open(&url).await;
        let app = Devlog::new(idle.clone());
        let id = app
            .create(new_entry("Locked?"), &cli())
            .await
            .unwrap()
            .entry()
            .id;
        idle.update(id, &cli(), &mut |_| Ok(())).await.unwrap();
        let again = app.create(new_entry("Locked?"), &cli()).await.unwrap();
        assert_eq!(again.entry().id, id, "deduplicated");

        // `idle` makes no further call; another process writes the same entry and a new one.
        // (The timeout only turns a hang into a failure.)
        let other: Arc<dyn Store> = kind.open(&url).await;
        let patience = std::time::Duration::from_secs(30);
        tokio::time::timeout(
            patience,
            other.update(id, &cli(), &mut |e| {
                e.title = "Not locked".into();
                Ok(())
            }),
        )
        .await
        .expect("the update waited for a lock the idle handle kept")
        .unwrap();
        tokio::time::timeout(
            patience,
            Devlog::new(other.clone()).create(new_entry("Another"), &cli()),
        )
        .await
        .expect("the create waited for a lock the idle handle kept")
        .unwrap();
        assert_eq!(other.get(id).await.unwrap().title, "Not locked");
        drop(idle);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_writes_that_change_nothing_release_their_locks() {
    writes_that_change_nothing_release_their_locks(Kind::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_writes_that_change_nothing_release_their_locks() {
    writes_that_change_nothing_release_their_locks(Kind::Mysql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_creates_from_many_connections_get_distinct_handles() {
    creates_from_many_connections_get_distinct_handles(Kind::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_creates_from_many_connections_get_distinct_handles() {
    creates_from_many_connections_get_distinct_handles(Kind::Mysql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_feed_readers_never_skip_an_event() {
    feed_readers_never_skip_an_event(Kind::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_feed_readers_never_skip_an_event() {
    feed_readers_never_skip_an_event(Kind::Mysql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_concurrent_edits_of_different_fields_all_survive() {
    concurrent_edits_of_different_fields_all_survive(Kind::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_concurrent_edits_of_different_fields_all_survive() {
    concurrent_edits_of_different_fields_all_survive(Kind::Mysql).await;
}

/// Several processes opening a fresh database at once (the first commands after `CREATE
/// DATABASE`): one applies the migrations, the others wait for it and all succeed. On MariaDB
/// sqlx's own migration lock (`GET_LOCK(id, -1)`) does not wait, and they raced ("Duplicate
/// entry '1' for key 'PRIMARY'" in `_devlog_migrations`).
async fn first_openers_of_a_fresh_database_all_succeed(kind: Kind, test: &'static str) {
    with_db(kind, test, move |url| async move {
        let mut tasks = Vec::new();
        for _ in 0..6 {
            let url = url.clone();
            tasks.push(tokio::spawn(async move {
                match kind {
                    Kind::Postgres => devlog_store::PostgresStore::open(&url)
                        .await
                        .map(|_| ())
                        .map_err(|e| e.to_string()),
                    Kind::Mysql => devlog_store::MysqlStore::open(&url)
                        .await
                        .map(|_| ())
                        .map_err(|e| e.to_string()),
                }
            }));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let store = kind.open(&url).await;
        assert!(
            store
                .list(&Default::default())
                .await
                .unwrap()
                .items
                .is_empty()
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_first_openers_of_a_fresh_database_all_succeed() {
    first_openers_of_a_fresh_database_all_succeed(Kind::Postgres, "pg_first_openers").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_first_openers_of_a_fresh_database_all_succeed() {
    first_openers_of_a_fresh_database_all_succeed(Kind::Mysql, "mysql_first_openers").await;
}
