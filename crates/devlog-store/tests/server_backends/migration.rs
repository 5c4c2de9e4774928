//! `migrate` between any two backends: sqlite → postgres → mysql → json keeps every entry and
//! the whole change feed; an interrupted migration resumes; a non-empty target is refused
//! without force.

use std::sync::Arc;

use devlog_core::entry::NoteCategory;
use devlog_core::error::ErrorKind;
use devlog_core::event::{Event, Origin, WriteMeta};
use devlog_core::ops::{Devlog, Edit, NewEntry, NewNote};
use devlog_core::{EntryType, Priority, Status, Store};
use devlog_store::transfer::migrate;
use devlog_store::{JsonStore, SqliteStore};
use devlog_testkit::EntryBuilder;

use crate::support::{Kind, TestDb};

fn no_progress(_: u64, _: u64) {}

fn cli() -> WriteMeta {
    WriteMeta::new(Origin::Cli)
}

/// A SQLite store with varied entries and a feed of every kind of event.
async fn seeded_sqlite(dir: &std::path::Path) -> Arc<dyn Store> {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.join("src.sqlite")).await.unwrap());
    let app = Devlog::new(store.clone());
    let mut ids = Vec::new();
    for i in 0..12 {
        let e = app
            .create(
                NewEntry {
                    title: format!("Entry {i} über ünïcode"),
                    kind: Some(EntryType::ALL[i % EntryType::ALL.len()]),
                    description: format!("description {i} with \"quotes\" and 'apostrophes'"),
                    ..NewEntry::default()
                },
                &cli(),
            )
            .await
            .unwrap()
            .into_entry();
        ids.push(e.id);
    }
    for (i, id) in ids.iter().enumerate() {
        app.add_note(
            *id,
            NewNote {
                content: format!("note {i}\nsecond line"),
                category: NoteCategory::Solution,
                files: vec![format!("src/{i}.rs")],
                code_changes: Some("+ added\n- removed".into()),
            },
            &cli(),
        )
        .await
        .unwrap();
        if i % 3 == 0 {
            app.edit(
                *id,
                Edit {
                    status: Some(Status::InProgress),
                    priority: Some(Priority::Critical),
                    ..Edit::default()
                },
                &cli(),
            )
            .await
            .unwrap();
        }
    }
    app.complete(ids[1], Some("shipped".into()), &cli())
        .await
        .unwrap();
    store.delete(ids[2], &cli()).await.unwrap();
    let imported = EntryBuilder::new("Imported with extras")
        .handle(40)
        .legacy(40)
        .extra("sprint", serde_json::json!({"name": "S7", "points": 5}))
        .build();
    store
        .put_raw(imported, &WriteMeta::new(Origin::Import))
        .await
        .unwrap();
    store
}

async fn feed(store: &dyn Store) -> Vec<Event> {
    store
        .events(0, 100_000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| Event { seq: 0, ..e })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrates_sqlite_to_postgres_to_mysql_to_json() {
    let test = "migrates_sqlite_to_postgres_to_mysql_to_json";
    let (Some(pg), Some(my)) = (
        TestDb::create(Kind::Postgres, test).await,
        TestDb::create(Kind::Mysql, test).await,
    ) else {
        return;
    };
    let (pg_url, my_url) = (pg.url.clone(), my.url.clone());
    let outcome = tokio::spawn(async move {
        let tmp = tempfile::tempdir().unwrap();
        let sqlite = seeded_sqlite(tmp.path()).await;
        let postgres = Kind::Postgres.open(&pg_url).await;
        let mysql = Kind::Mysql.open(&my_url).await;
        let json: Arc<dyn Store> =
            Arc::new(JsonStore::open(&tmp.path().join(".devlog")).await.unwrap());
        let chain = [sqlite.clone(), postgres, mysql, json.clone()];
        for pair in chain.windows(2) {
            let out = migrate(&*pair[0], &*pair[1], false, &no_progress)
                .await
                .unwrap();
            let label = format!("{} -> {}", out.from, out.to);
            assert!(out.mismatches.is_empty(), "{label}: {:?}", out.mismatches);
            assert_eq!(out.entries, 12, "{label}");
            assert_eq!(
                (out.copied, out.verified, out.target_count),
                (12, 12, 12),
                "{label}"
            );
            assert_eq!(out.source_events, out.target_events, "{label}");
            assert_eq!(out.events, out.source_events, "{label}");
            assert!(out.warnings.is_empty(), "{label}: {:?}", out.warnings);
            assert!(!out.to.contains("Top"), "{label}");
        }
        // The last copy equals the first store, entry for entry and event for event.
        assert_eq!(json.all().await.unwrap(), sqlite.all().await.unwrap());
        let (a, b) = (feed(&*sqlite).await, feed(&*json).await);
        assert!(a.len() > 40, "a rich feed: {}", a.len());
        assert_eq!(a, b);
    })
    .await;
    pg.drop().await;
    my.drop().await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

async fn interrupted_migration_resumes(kind: Kind) {
    let Some(db) = TestDb::create(kind, "interrupted_migration_resumes").await else {
        return;
    };
    let url = db.url.clone();
    let outcome = tokio::spawn(async move {
        let tmp = tempfile::tempdir().unwrap();
        let source = seeded_sqlite(tmp.path()).await;
        let target = kind.open(&url).await;
        // What a run killed half way leaves: some entries and the start of the feed.
        let entries = source.all().await.unwrap();
        for e in &entries[..5] {
            target
                .put_raw(e.clone(), &WriteMeta::new(Origin::Migrate))
                .await
                .unwrap();
        }
        let events = source.events(0, 10_000).await.unwrap();
        target.append_events(&events[..10]).await.unwrap();

        let out = migrate(&*source, &*target, false, &no_progress)
            .await
            .unwrap();
        assert!(out.mismatches.is_empty(), "{:?}", out.mismatches);
        assert_eq!((out.unchanged, out.copied, out.verified), (5, 7, 12));
        assert_eq!(out.events as usize, events.len() - 10);
        assert_eq!(feed(&*target).await, feed(&*source).await);
        // Once more: nothing left to do.
        let out = migrate(&*source, &*target, false, &no_progress)
            .await
            .unwrap();
        assert_eq!((out.unchanged, out.copied, out.events), (12, 0, 0));
        assert!(
            out.mismatches.is_empty() && out.warnings.is_empty(),
            "{out:?}"
        );
    })
    .await;
    db.drop().await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

async fn non_empty_target_needs_force(kind: Kind) {
    let Some(db) = TestDb::create(kind, "non_empty_target_needs_force").await else {
        return;
    };
    let url = db.url.clone();
    let outcome = tokio::spawn(async move {
        let tmp = tempfile::tempdir().unwrap();
        let source = seeded_sqlite(tmp.path()).await;
        let target = kind.open(&url).await;
        Devlog::new(target.clone())
            .create(
                NewEntry {
                    title: "Only in the target".into(),
                    kind: Some(EntryType::Task),
                    ..NewEntry::default()
                },
                &cli(),
            )
            .await
            .unwrap();
        let err = migrate(&*source, &*target, false, &no_progress)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Conflict);
        assert!(err.to_string().contains("--force"), "{err}");
        assert_eq!(target.count().await.unwrap(), 1, "nothing copied");
        let out = migrate(&*source, &*target, true, &no_progress)
            .await
            .unwrap();
        assert!(out.mismatches.is_empty(), "{:?}", out.mismatches);
        assert_eq!(out.verified, 12);
        assert_eq!(target.count().await.unwrap(), 13);
    })
    .await;
    db.drop().await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_interrupted_migration_resumes() {
    interrupted_migration_resumes(Kind::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_interrupted_migration_resumes() {
    interrupted_migration_resumes(Kind::Mysql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_non_empty_target_needs_force() {
    non_empty_target_needs_force(Kind::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_non_empty_target_needs_force() {
    non_empty_target_needs_force(Kind::Mysql).await;
}
