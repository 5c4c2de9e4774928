//! Search on the servers reads devlog's own inverted index (`devlog_terms`, written with every
//! entry): prefixes, several words, diacritics, words that change with an update or a note,
//! deleted and renumbered entries, prefixes that match too many terms to list, and the rows
//! an upgrade queued for indexing. The conformance suite compares searches with a reference;
//! these are the cases the index's own code paths need.

use devlog_core::event::{Origin, WriteMeta};
use devlog_core::store::{Filter, SearchQuery, Store};
use devlog_core::{NoteCategory, Status};
use devlog_store::DbUrl;
use devlog_testkit::EntryBuilder;
use sqlx::Connection;

use crate::support::{Kind, with_db};

fn meta() -> WriteMeta {
    WriteMeta::new(Origin::Cli)
}

/// The handles a search finds, sorted, and its total.
async fn found(store: &dyn Store, text: &str) -> (Vec<u64>, u64) {
    let p = store
        .search(&SearchQuery {
            text: text.into(),
            limit: 500,
            ..SearchQuery::default()
        })
        .await
        .unwrap();
    let mut handles: Vec<u64> = p.items.iter().map(|h| h.entry.handle).collect();
    handles.sort_unstable();
    assert_eq!(p.total, handles.len() as u64, "search {text:?}");
    (handles, p.total)
}

async fn hits(store: &dyn Store, text: &str) -> Vec<u64> {
    found(store, text).await.0
}

/// The search index rows of `handle`, as (term, weight), sorted.
async fn term_rows(kind: Kind, url: &DbUrl, handle: i64) -> Vec<(String, f64)> {
    let sql = "SELECT term, weight FROM devlog_terms WHERE handle = ";
    match kind {
        Kind::Postgres => {
            let mut c = sqlx::PgConnection::connect(url.expose()).await.unwrap();
            sqlx::query_as(sqlx::AssertSqlSafe(format!("{sql}$1 ORDER BY term")))
                .bind(handle)
                .fetch_all(&mut c)
                .await
                .unwrap()
        }
        Kind::Mysql => {
            let mut c = sqlx::MySqlConnection::connect(url.expose()).await.unwrap();
            sqlx::query_as(sqlx::AssertSqlSafe(format!("{sql}? ORDER BY term")))
                .bind(handle)
                .fetch_all(&mut c)
                .await
                .unwrap()
        }
    }
}

async fn words_prefixes_and_diacritics(kind: Kind) {
    with_db(kind, "search_words", move |url| async move {
        let store = kind.open(&url).await;
        let put = |e| {
            let store = store.clone();
            async move { store.put_raw(e, &meta()).await.unwrap() }
        };
        put(EntryBuilder::new("Kubernetes manifests")
            .handle(1)
            .description("Apply them with kubectl.")
            .build())
        .await;
        put(EntryBuilder::new("Kubectl apply")
            .handle(2)
            .note(NoteCategory::Idea, "manifest linting")
            .build())
        .await;
        put(EntryBuilder::new("Café crème")
            .handle(3)
            .business("Naïve ÉTÉ pricing")
            .status(Status::Done)
            .build())
        .await;
        put(EntryBuilder::new("Unrelated").handle(4).build()).await;

        // A word matches as a prefix of any indexed word; every word must match.
        assert_eq!(hits(&*store, "kube").await, vec![1, 2]);
        assert_eq!(hits(&*store, "kubectl").await, vec![1, 2]);
        assert_eq!(hits(&*store, "kube manif").await, vec![1, 2]);
        assert_eq!(hits(&*store, "kubernetes kubectl").await, vec![1]);
        assert_eq!(hits(&*store, "manifests apply").await, vec![1]);
        assert_eq!(hits(&*store, "kube nothing").await, Vec::<u64>::new());
        assert_eq!(hits(&*store, "zzz").await, Vec::<u64>::new());
        // Case and diacritics fold on both sides, as in the SQLite backend.
        assert_eq!(hits(&*store, "cafe").await, vec![3]);
        assert_eq!(hits(&*store, "CAFÉ CREME").await, vec![3]);
        assert_eq!(hits(&*store, "naive ete").await, vec![3]);
        // The title weighs most: the title hit ranks above the description hit.
        let p = store
            .search(&SearchQuery {
                text: "kubernetes".into(),
                ..SearchQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(p.items[0].entry.handle, 1);
        let p = store
            .search(&SearchQuery {
                text: "kubectl".into(),
                ..SearchQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(
            p.items.iter().map(|h| h.entry.handle).collect::<Vec<_>>(),
            vec![2, 1],
            "title hit first: {:?}",
            p.items
        );
        assert!(p.items[0].snippet.contains("[Kubectl]"), "{:?}", p.items[0]);
        // Filters apply to what the index finds.
        let p = store
            .search(&SearchQuery {
                text: "cafe".into(),
                filter: Filter {
                    open_only: true,
                    ..Filter::default()
                },
                ..SearchQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(p.total, 0);
        // The rows are the folded words with their field-weighted counts (title 10,
        // description 4, notes 2, context 1.5).
        let rows = term_rows(kind, &url, 3).await;
        assert!(rows.contains(&("cafe".to_string(), 10.0)), "{rows:?}");
        assert!(rows.contains(&("naive".to_string(), 1.5)), "{rows:?}");
        assert!(rows.iter().all(|(t, _)| t.is_ascii()), "{rows:?}");
    })
    .await;
}

#[tokio::test]
async fn postgres_search_finds_prefixes_words_and_folded_diacritics() {
    words_prefixes_and_diacritics(Kind::Postgres).await;
}

#[tokio::test]
async fn mysql_search_finds_prefixes_words_and_folded_diacritics() {
    words_prefixes_and_diacritics(Kind::Mysql).await;
}

async fn writes_keep_the_index_current(kind: Kind) {
    with_db(kind, "search_writes", move |url| async move {
        let store = kind.open(&url).await;
        let e = EntryBuilder::new("Billing webhook retries")
            .handle(1)
            .description("signature check")
            .build();
        let id = e.id;
        store.put_raw(e, &meta()).await.unwrap();
        store
            .put_raw(EntryBuilder::new("Other").handle(2).build(), &meta())
            .await
            .unwrap();
        assert_eq!(hits(&*store, "billing signature").await, vec![1]);

        // An update that changes the words: old words no longer find it, new ones do.
        store
            .update(id, &meta(), &mut |e| {
                e.title = "Invoice hook".into();
                e.description = "signature check twice".into();
                Ok(())
            })
            .await
            .unwrap();
        assert_eq!(hits(&*store, "billing").await, Vec::<u64>::new());
        assert_eq!(hits(&*store, "invoice twice").await, vec![1]);
        // A note adds its words and weighs a word it repeats.
        let before = term_rows(kind, &url, 1).await;
        store
            .update(id, &meta(), &mut |e| {
                e.notes.push(devlog_core::entry::Note {
                    id: "n1".into(),
                    timestamp: e.updated_at,
                    category: NoteCategory::Progress,
                    content: "Rotated the signature secret".into(),
                    files: Vec::new(),
                    code_changes: None,
                    extra: devlog_core::entry::Extra::new(),
                });
                Ok(())
            })
            .await
            .unwrap();
        assert_eq!(hits(&*store, "rotated secret").await, vec![1]);
        let after = term_rows(kind, &url, 1).await;
        let weight =
            |rows: &[(String, f64)], t: &str| rows.iter().find(|(k, _)| k == t).map(|(_, w)| *w);
        assert_eq!(weight(&before, "signature"), Some(4.0));
        assert_eq!(weight(&after, "signature"), Some(6.0));
        assert_eq!(weight(&after, "invoice"), weight(&before, "invoice"));

        // Replaced under another handle (an import whose handle was taken): found once,
        // under the new handle; the old handle's rows are gone.
        let mut moved = store.get(id).await.unwrap();
        moved.handle = 7;
        store.put_raw(moved, &meta()).await.unwrap();
        assert_eq!(hits(&*store, "invoice").await, vec![7]);
        assert!(term_rows(kind, &url, 1).await.is_empty());

        // Deleted: no longer found, no rows left.
        store.delete(id, &meta()).await.unwrap();
        assert_eq!(hits(&*store, "invoice").await, Vec::<u64>::new());
        assert!(term_rows(kind, &url, 7).await.is_empty());
        assert_eq!(hits(&*store, "other").await, vec![2]);
    })
    .await;
}

#[tokio::test]
async fn postgres_search_follows_updates_notes_renumbering_and_deletes() {
    writes_keep_the_index_current(Kind::Postgres).await;
}

#[tokio::test]
async fn mysql_search_follows_updates_notes_renumbering_and_deletes() {
    writes_keep_the_index_current(Kind::Mysql).await;
}

/// A short prefix can match more distinct words than the search lists (256): it is then
/// matched by a range of terms, with the same results.
async fn prefixes_of_many_words(kind: Kind) {
    with_db(kind, "search_many_words", move |url| async move {
        let store = kind.open(&url).await;
        let many: String = (0..300).map(|i| format!("zq{i:03} ")).collect();
        for h in 1..=3u64 {
            let mut b = EntryBuilder::new(&format!("Words {h}"))
                .handle(h)
                .description(if h == 2 { "only zq150 here" } else { &many });
            if h == 3 {
                b = b.business("marker");
            }
            store.put_raw(b.build(), &meta()).await.unwrap();
        }
        assert_eq!(hits(&*store, "zq").await, vec![1, 2, 3]);
        assert_eq!(hits(&*store, "zq marker").await, vec![3]);
        assert_eq!(hits(&*store, "marker zq").await, vec![3]);
        assert_eq!(hits(&*store, "zq15").await, vec![1, 2, 3]);
        assert_eq!(hits(&*store, "zq299 words").await, vec![1, 3]);
    })
    .await;
}

#[tokio::test]
async fn postgres_search_matches_prefixes_of_many_words() {
    prefixes_of_many_words(Kind::Postgres).await;
}

#[tokio::test]
async fn mysql_search_matches_prefixes_of_many_words() {
    prefixes_of_many_words(Kind::Mysql).await;
}

/// Entries queued for indexing (as the migration that creates the index queues every existing
/// entry) are indexed when a store opens the database, and the queue is emptied.
async fn queued_entries_are_indexed_on_open(kind: Kind) {
    with_db(kind, "search_queue", move |url| async move {
        let store = kind.open(&url).await;
        for h in 1..=3u64 {
            store
                .put_raw(
                    EntryBuilder::new(&format!("Queued entry {h}"))
                        .handle(h)
                        .build(),
                    &meta(),
                )
                .await
                .unwrap();
        }
        // What an upgrade leaves: rows without terms (and one stale term), all queued.
        let stmts = [
            "DELETE FROM devlog_terms WHERE handle <> 2",
            "INSERT INTO devlog_terms (term, handle, weight) VALUES ('stale', 2, 1)",
            "INSERT INTO devlog_terms_pending (handle) VALUES (1), (2), (3), (99)",
        ];
        match kind {
            Kind::Postgres => {
                let mut c = sqlx::PgConnection::connect(url.expose()).await.unwrap();
                for s in stmts {
                    sqlx::raw_sql(s).execute(&mut c).await.unwrap();
                }
            }
            Kind::Mysql => {
                let mut c = sqlx::MySqlConnection::connect(url.expose()).await.unwrap();
                for s in stmts {
                    sqlx::raw_sql(s).execute(&mut c).await.unwrap();
                }
            }
        }
        assert_eq!(hits(&*store, "queued").await, vec![2]);
        drop(store);
        let store = kind.open(&url).await;
        assert_eq!(hits(&*store, "queued entry").await, vec![1, 2, 3]);
        assert_eq!(hits(&*store, "stale").await, Vec::<u64>::new());
        let queued: i64 = match kind {
            Kind::Postgres => {
                let mut c = sqlx::PgConnection::connect(url.expose()).await.unwrap();
                sqlx::query_scalar("SELECT COUNT(*) FROM devlog_terms_pending")
                    .fetch_one(&mut c)
                    .await
                    .unwrap()
            }
            Kind::Mysql => {
                let mut c = sqlx::MySqlConnection::connect(url.expose()).await.unwrap();
                sqlx::query_scalar("SELECT COUNT(*) FROM devlog_terms_pending")
                    .fetch_one(&mut c)
                    .await
                    .unwrap()
            }
        };
        assert_eq!(queued, 0);
    })
    .await;
}

#[tokio::test]
async fn postgres_indexes_queued_entries_on_open() {
    queued_entries_are_indexed_on_open(Kind::Postgres).await;
}

#[tokio::test]
async fn mysql_indexes_queued_entries_on_open() {
    queued_entries_are_indexed_on_open(Kind::Mysql).await;
}

/// A bulk load through `put_raw_batch` leaves PostgreSQL's planner statistics and visibility
/// map fresh, whether or not autovacuum runs (this machine's server has it off): without them
/// a just-imported table is planned as if nearly empty and index-only scans read the table
/// (docs/performance.md, "PostgreSQL at 1,000,000 entries"). The server's change counters are flushed about a second after a write, so the
/// test goes on writing small batches until the check after one of them sees the load.
#[tokio::test]
async fn postgres_a_bulk_load_refreshes_the_planners_statistics() {
    with_db(Kind::Postgres, "bulk_statistics", move |url| async move {
        let store = Kind::Postgres.open(&url).await;
        let mut c = sqlx::PgConnection::connect(url.expose()).await.unwrap();
        assert!(!analyzed(&mut c).await.0, "a new table is not analyzed");
        let batch: Vec<_> = (0..1500)
            .map(|i| EntryBuilder::new(&format!("Imported {i}")).build())
            .collect();
        store.put_raw_batch(batch, &meta()).await.unwrap();
        let mut state = analyzed(&mut c).await;
        for i in 0..40 {
            if state.0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            let one = EntryBuilder::new(&format!("Later {i}")).build();
            store.put_raw_batch(vec![one], &meta()).await.unwrap();
            state = analyzed(&mut c).await;
        }
        let (done, rows) = state;
        assert!(done, "the bulk load was vacuumed and analyzed");
        assert!(rows >= 1500.0, "statistics count the loaded rows: {rows}");
    })
    .await;
}

/// Whether `devlog_entries` was analyzed and vacuumed, and the rows its statistics count.
async fn analyzed(c: &mut sqlx::PgConnection) -> (bool, f32) {
    sqlx::query_as(
        "SELECT s.last_analyze IS NOT NULL AND s.last_vacuum IS NOT NULL, c.reltuples \
         FROM pg_stat_user_tables s \
         JOIN pg_class c ON c.oid = s.relid WHERE s.relid = 'devlog_entries'::regclass",
    )
    .fetch_one(c)
    .await
    .unwrap()
}
