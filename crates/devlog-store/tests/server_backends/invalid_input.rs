//! Input a server cannot store is the caller's to fix, not a reason to "try again": a NUL
//! character on PostgreSQL (in an entry, a filter or a reference) and an entry beyond what
//! the server accepts in one statement (MariaDB's `max_allowed_packet`) are `Invalid` errors
//! that say what to change, checked before anything is written, and the store keeps working.

use devlog_core::error::{ErrorKind, StoreError};
use devlog_core::event::{Origin, WriteMeta};
use devlog_core::ops::{Devlog, NewEntry, NewNote};
use devlog_core::store::PutOutcome;
use devlog_core::{EntryRef, EntryType, Filter, ListQuery, NoteCategory, SearchQuery};
use devlog_testkit::EntryBuilder;

use crate::support::{Kind, with_db};

fn meta() -> WriteMeta {
    WriteMeta::new(Origin::Cli)
}

fn entry(title: &str) -> NewEntry {
    NewEntry {
        title: title.into(),
        kind: Some(EntryType::Task),
        ..NewEntry::default()
    }
}

fn assert_invalid(e: &StoreError, mentions: &[&str]) {
    assert_eq!(e.kind(), ErrorKind::Invalid, "{e:?}");
    let msg = e.to_string();
    for m in mentions {
        assert!(msg.contains(m), "the message names {m:?}: {msg}");
    }
    assert!(!msg.contains("try again"), "{msg}");
}

#[tokio::test]
async fn postgres_rejects_nul_characters_naming_the_field() {
    with_db(Kind::Postgres, "pg_nul", |url| async move {
        let store = Kind::Postgres.open(&url).await;
        let app = Devlog::new(store.clone());
        let e = app
            .create(entry("Has a \0 inside"), &meta())
            .await
            .expect_err("NUL in the title");
        assert_invalid(&e, &["title", "NUL"]);
        assert_eq!(store.count().await.unwrap(), 0);
        assert!(store.events(0, 10).await.unwrap().is_empty());

        let ok = app
            .create(entry("Clean"), &meta())
            .await
            .unwrap()
            .into_entry();
        let e = app
            .add_note(
                ok.id,
                NewNote {
                    content: "bad\0note".into(),
                    category: NoteCategory::Progress,
                    files: vec![],
                    code_changes: None,
                },
                &meta(),
            )
            .await
            .expect_err("NUL in a note");
        assert_invalid(&e, &["notes[0].content", "NUL"]);
        assert!(store.get(ok.id).await.unwrap().notes.is_empty());

        // Reads: filters and references are checked too (`GET ?assignee=%00`).
        for filter in [
            Filter {
                assignee: Some("\0".into()),
                ..Filter::default()
            },
            Filter {
                tag: Some("x\0".into()),
                ..Filter::default()
            },
        ] {
            let field = if filter.assignee.is_some() {
                "assignee"
            } else {
                "tag"
            };
            let q = ListQuery {
                filter: filter.clone(),
                ..ListQuery::default()
            };
            assert_invalid(&store.list(&q).await.unwrap_err(), &[field]);
            let s = SearchQuery {
                text: "clean".into(),
                filter: filter.clone(),
                ..SearchQuery::default()
            };
            assert_invalid(&store.search(&s).await.unwrap_err(), &[field]);
            assert_invalid(&store.stats(&filter).await.unwrap_err(), &[field]);
        }
        let e = store
            .lookup(&EntryRef::Key("clean\0".into()))
            .await
            .unwrap_err();
        assert_invalid(&e, &["NUL"]);

        // The store is fine afterwards.
        assert_eq!(store.count().await.unwrap(), 1);
    })
    .await;
}

/// A batch of `put_raw` is one transaction on the servers: an entry the server cannot store
/// (a NUL on PostgreSQL) fails the whole batch, and the entries before it in the batch are not
/// stored either, nor their events.
#[tokio::test]
async fn postgres_batch_with_a_bad_entry_stores_nothing() {
    with_db(Kind::Postgres, "pg_nul_batch", |url| async move {
        let store = Kind::Postgres.open(&url).await;
        let meta = WriteMeta::new(Origin::Import);
        let good = EntryBuilder::new("Fine").handle(1).build();
        let bad = EntryBuilder::new("Has a \0 inside").handle(2).build();
        let e = store
            .put_raw_batch(vec![good.clone(), bad], &meta)
            .await
            .expect_err("NUL in the second entry's title");
        assert_invalid(&e, &["title", "NUL"]);
        assert_eq!(
            store.count().await.unwrap(),
            0,
            "the first entry rolled back"
        );
        assert!(store.events(0, 10).await.unwrap().is_empty());
        // The store is fine afterwards, and the good entry alone goes in.
        let outcomes = store
            .put_raw_batch(vec![good.clone()], &meta)
            .await
            .unwrap();
        assert_eq!(outcomes, vec![PutOutcome::Inserted]);
        assert_eq!(store.get(good.id).await.unwrap(), good);
    })
    .await;
}

#[tokio::test]
async fn mysql_keeps_nul_characters() {
    with_db(Kind::Mysql, "my_nul", |url| async move {
        let store = Kind::Mysql.open(&url).await;
        let app = Devlog::new(store.clone());
        let e = app
            .create(entry("Has a \0 inside"), &meta())
            .await
            .unwrap()
            .into_entry();
        assert_eq!(store.get(e.id).await.unwrap().title, "Has a \0 inside");
    })
    .await;
}

/// Notes of 1 MiB each (the most devlog-core accepts in one field) until the entry is beyond
/// MariaDB's default `max_allowed_packet` (16 MB), which used to end in "connection reset"
/// and a "try again" hint.
#[tokio::test]
async fn mysql_rejects_an_entry_beyond_max_allowed_packet_as_too_large() {
    with_db(Kind::Mysql, "my_too_large", |url| async move {
        let store = Kind::Mysql.open(&url).await;
        let app = Devlog::new(store.clone());
        let ok = app
            .create(entry("Target"), &meta())
            .await
            .unwrap()
            .into_entry();
        let mut added = 0;
        let e = loop {
            assert!(added < 40, "40 MiB of notes were accepted");
            let events = store.events(0, 1000).await.unwrap().len();
            let r = app
                .add_note(
                    ok.id,
                    NewNote {
                        content: "word ".repeat(200 * 1024),
                        category: NoteCategory::Progress,
                        files: vec![],
                        code_changes: None,
                    },
                    &meta(),
                )
                .await;
            match r {
                Ok(_) => added += 1,
                Err(e) => {
                    // Nothing of the refused write is stored.
                    assert_eq!(store.get(ok.id).await.unwrap().notes.len(), added);
                    assert_eq!(store.events(0, 1000).await.unwrap().len(), events);
                    break e;
                }
            }
        };
        assert!(added >= 8, "only {added} notes of 1 MiB fit");
        assert_invalid(&e, &["too large", "max_allowed_packet"]);
        // Same store, next write: fine.
        app.create(entry("After"), &meta()).await.unwrap();
        assert_eq!(store.count().await.unwrap(), 2);
    })
    .await;
}

/// PostgreSQL could not index more than 1 MB of words in one entry's `tsvector`; devlog's own
/// search index (migration 0011) has no such limit: the entry is stored and found.
#[tokio::test]
async fn postgres_stores_and_finds_an_entry_with_130000_distinct_words() {
    with_db(Kind::Postgres, "pg_many_words", |url| async move {
        let store = Kind::Postgres.open(&url).await;
        let app = Devlog::new(store.clone());
        let mut input = entry("Huge");
        // Under devlog-core's 1 MiB field limit, but 130,000 distinct words.
        input.description = (0..130_000).map(|i| format!("w{i} ")).collect();
        assert!(input.description.len() < 1024 * 1024);
        app.create(input, &meta()).await.unwrap();
        let p = store
            .search(&SearchQuery {
                text: "w129999 huge".into(),
                ..SearchQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(p.total, 1);
    })
    .await;
}
