//! The story every `Store` backend must tell the same way (atuin's lesson): each case takes a
//! function that opens the backend's store at a folder, so cases can also reopen it.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;

use devlog_core::entry::{EntryType, NoteCategory, Priority, Status};
use devlog_core::error::ErrorKind;
use devlog_core::event::{EventKind, Origin, WriteMeta};
use devlog_core::ops::{Devlog, Edit, NewEntry, NewNote};
use devlog_core::store::{Filter, ListQuery, PutOutcome, SearchQuery, SortKey, Store, TOTAL_CAP};

use crate::{EntryBuilder, ts};

mod relations;
pub use relations::*;
mod planning;
pub use planning::{
    due_dates_filter_sort_and_clear, milestones_group_entries_with_progress,
    points_are_kept_and_checked, worklogs_sum_into_actual_hours,
};
mod history;
pub use history::*;
mod audit;
pub use audit::*;
mod reports;
pub use reports::*;
mod tokens;
pub use tokens::*;
mod bulk;
pub use bulk::*;

/// Opens (or reopens) a backend's store whose data lives under the given folder.
pub type Opener = fn(PathBuf) -> Pin<Box<dyn Future<Output = Arc<dyn Store>> + Send>>;

fn cli() -> WriteMeta {
    WriteMeta::new(Origin::Cli)
}

fn new_entry(title: &str, kind: EntryType) -> NewEntry {
    NewEntry {
        title: title.to_string(),
        kind: Some(kind),
        ..NewEntry::default()
    }
}

/// Expands to one test per conformance case for a backend.
///
/// ```text
/// devlog_testkit::store_conformance!(|dir| Box::pin(async move { open_my_store(dir).await }));
/// ```
///
/// A backend whose data lives on a server gets a fresh place per test from a fixture (see
/// [`ServerFixture`]); the opener then finds that place through the folder it is given:
///
/// ```text
/// devlog_testkit::store_conformance!(
///     fixture = my_fixture,          // async fn(&'static str) -> Option<impl ServerFixture>
///     opener = |dir| Box::pin(async move { open_from(dir).await }),
/// );
/// ```
#[macro_export]
macro_rules! store_conformance {
    (fixture = $fixture:expr, opener = $opener:expr $(,)?) => {
        $crate::store_conformance!(@list fixture ($fixture) ($opener));
    };
    ($opener:expr) => {
        $crate::store_conformance!(@list folder () ($opener));
    };
    (@list $how:tt $fixture:tt $opener:tt) => {
        $crate::store_conformance!(@cases $how $fixture $opener;
            create_assigns_handles_and_unique_keys,
            create_returns_open_duplicate_unless_forced,
            lookup_accepts_every_reference_form,
            update_records_events_in_order,
            feed_reads_backwards_and_counts,
            missing_entries_are_not_found,
            list_filters_sorts_and_pages,
            search_ranks_and_filters,
            search_input_is_taken_literally,
            open_work_and_search_match_a_reference,
            totals_above_the_cap_are_lower_bounds,
            stats_count_and_time_completion,
            tag_counts_match_a_recount,
            reports_from_an_index_match_reports_from_the_store,
            concurrent_updates_lose_nothing,
            put_raw_keeps_identity_and_moves_taken_handles,
            put_raw_batch_applies_put_raw_in_order,
            a_large_put_raw_batch_keeps_put_raws_rules,
            delete_removes_and_is_recorded,
            status_shortcuts_follow_the_rules,
            shared_insights_are_found_for_related_work,
            unknown_fields_survive_updates,
            data_survives_reopen,
            links_are_stored_on_both_entries,
            link_cycles_are_refused_and_named,
            a_parent_stays_open_while_subtasks_are,
            blocked_lists_entries_waiting_on_open_blockers,
            dependencies_and_risks_are_set_and_removed,
            due_dates_filter_sort_and_clear,
            milestones_group_entries_with_progress,
            worklogs_sum_into_actual_hours,
            points_are_kept_and_checked,
            history_lists_an_entrys_changes_newest_first,
            undo_reverts_each_kind_of_change_as_a_new_change,
            undo_to_an_event_refuses_to_discard_someone_elses_change,
            notes_are_edited_and_deleted_in_history,
            audit_log_records_every_write_with_who_and_where,
            audit_log_keeps_one_chain_under_concurrent_writers,
            audit_log_appends_actions_once_per_effect,
            audit_log_records_a_racing_effect_once,
            tokens_are_kept_as_hashes_listed_and_revoked,
            token_names_are_unique_among_active_tokens,
            bulk_verbs_change_each_selected_entry_once,
            bulk_dry_run_writes_nothing,
            bulk_bad_requests_change_nothing,
            bulk_resumes_after_a_crash_changing_each_entry_once,
        );
    };
    (@cases folder () ($opener:expr); $($case:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let dir = tempfile::tempdir().expect("temp dir");
                $crate::conformance::$case($opener, dir.path()).await;
            }
        )+
    };
    (@cases fixture ($fixture:expr) ($opener:expr); $($case:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                // `None`: the fixture printed why it skips (no server configured).
                let Some(fixture) = ($fixture)(stringify!($case)).await else {
                    return;
                };
                let dir = $crate::conformance::ServerFixture::dir(&fixture).to_path_buf();
                // Run the case as its own task so a failing case still gets its teardown.
                let outcome = tokio::spawn(async move {
                    $crate::conformance::$case($opener, &dir).await;
                })
                .await;
                $crate::conformance::ServerFixture::teardown(fixture).await;
                if let Err(e) = outcome {
                    if e.is_panic() {
                        std::panic::resume_unwind(e.into_panic());
                    }
                    panic!("{} did not finish: {e}", stringify!($case));
                }
            }
        )+
    };
}

/// A fresh, private place for one test of a backend whose data is not in a folder: e.g. a
/// database created on a server for this test and dropped by `teardown`. `dir` is what the
/// test's opener receives; the fixture leaves there whatever the opener needs to find the
/// place (such as a file holding the database URL).
pub trait ServerFixture: Send + 'static {
    fn dir(&self) -> &Path;
    fn teardown(self) -> Pin<Box<dyn Future<Output = ()> + Send>>;
}

pub async fn create_assigns_handles_and_unique_keys(open: Opener, dir: &Path) {
    let app = Devlog::new(open(dir.to_path_buf()).await);
    let a = app
        .create(new_entry("Fix login", EntryType::Bugfix), &cli())
        .await
        .unwrap();
    let b = app
        .create(new_entry("Fix login", EntryType::Feature), &cli())
        .await
        .unwrap();
    let c = app
        .create(new_entry("Add export", EntryType::Task), &cli())
        .await
        .unwrap();
    assert!(a.is_new() && b.is_new() && c.is_new());
    let handles: Vec<u64> = [&a, &b, &c].iter().map(|x| x.entry().handle).collect();
    assert_eq!(handles, vec![1, 2, 3]);
    assert_eq!(a.entry().key, "fix-login");
    assert_eq!(b.entry().key, "fix-login-2", "keys are unique per store");
    assert_ne!(a.entry().id, b.entry().id);
    let got = app.store().get(c.entry().id).await.unwrap();
    assert_eq!(&got, c.entry());
}

pub async fn create_returns_open_duplicate_unless_forced(open: Opener, dir: &Path) {
    let app = Devlog::new(open(dir.to_path_buf()).await);
    let first = app
        .create(new_entry("Fix login timeout", EntryType::Bugfix), &cli())
        .await
        .unwrap();
    let again = app
        .create(
            new_entry("  fix LOGIN timeout! ", EntryType::Bugfix),
            &cli(),
        )
        .await
        .unwrap();
    assert!(!again.is_new(), "a retried create returns the open entry");
    assert_eq!(again.entry().id, first.entry().id);
    let mut forced = new_entry("Fix login timeout", EntryType::Bugfix);
    forced.force = true;
    let third = app.create(forced, &cli()).await.unwrap();
    assert!(third.is_new());
    assert_eq!(app.store().count().await.unwrap(), 2);
    // Closed entries do not count as duplicates.
    app.complete(first.entry().id, None, &cli()).await.unwrap();
    app.complete(third.entry().id, None, &cli()).await.unwrap();
    let fourth = app
        .create(new_entry("Fix login timeout", EntryType::Bugfix), &cli())
        .await
        .unwrap();
    assert!(fourth.is_new());
}

pub async fn lookup_accepts_every_reference_form(open: Opener, dir: &Path) {
    let store = open(dir.to_path_buf()).await;
    let app = Devlog::new(store.clone());
    let legacy = EntryBuilder::new("Imported thing")
        .handle(49)
        .legacy(49)
        .build();
    store
        .put_raw(legacy.clone(), &WriteMeta::new(Origin::Import))
        .await
        .unwrap();
    let moved = EntryBuilder::new("Imported elsewhere")
        .handle(49)
        .legacy(7)
        .build();
    store
        .put_raw(moved.clone(), &WriteMeta::new(Origin::Import))
        .await
        .unwrap();
    let fresh = app
        .create(new_entry("Fresh work", EntryType::Task), &cli())
        .await
        .unwrap()
        .into_entry();

    for r in [
        "#49",
        "49",
        &legacy.id.to_string(),
        &legacy.id.simple()[..10],
        "imported-thing",
    ] {
        assert_eq!(app.resolve(r).await.unwrap().id, legacy.id, "reference {r}");
    }
    // The second import lost handle 49 but is still reachable by its original integer id.
    let moved_now = app.resolve("7").await.unwrap();
    assert_eq!(moved_now.id, moved.id);
    assert_ne!(moved_now.handle, 49);
    assert_eq!(
        app.resolve(&format!("#{}", fresh.handle)).await.unwrap().id,
        fresh.id
    );

    // An id whose first digits look like a number is still found by that prefix.
    let mut digits = EntryBuilder::new("Digit id").handle(60).build();
    digits.id = "20251126-aaaa-4bbb-8ccc-123456789abc".parse().unwrap();
    store
        .put_raw(digits.clone(), &WriteMeta::new(Origin::Import))
        .await
        .unwrap();
    assert_eq!(app.resolve("20251126").await.unwrap().id, digits.id);
    assert_eq!(app.resolve("devlog-20251126").await.unwrap().id, digits.id);
    assert_eq!(
        app.resolve("60").await.unwrap().id,
        digits.id,
        "a handle still wins"
    );
    let err = app.resolve("#999").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    let err = app.resolve("fresh wrk").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    let err = app.resolve("").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Invalid);
}

pub async fn update_records_events_in_order(open: Opener, dir: &Path) {
    let app = Devlog::new(open(dir.to_path_buf()).await);
    let e = app
        .create(new_entry("Evented", EntryType::Feature), &cli())
        .await
        .unwrap()
        .into_entry();
    let start = app.store().events(0, 1000).await.unwrap();
    assert!(matches!(
        start.last().map(|e| &e.kind),
        Some(EventKind::Created)
    ));
    let cursor = start.last().unwrap().seq;

    app.edit(
        e.id,
        Edit {
            status: Some(Status::InProgress),
            priority: Some(Priority::High),
            ..Edit::default()
        },
        &WriteMeta::new(Origin::Mcp).with_actor(Some("agent".into())),
    )
    .await
    .unwrap();
    let (_, note) = app
        .add_note(
            e.id,
            NewNote {
                content: "half way".into(),
                category: NoteCategory::Progress,
                files: vec!["src/a.rs".into()],
                code_changes: None,
            },
            &cli(),
        )
        .await
        .unwrap();
    app.complete(e.id, Some("shipped".into()), &cli())
        .await
        .unwrap();

    let evs = app.store().events(cursor, 1000).await.unwrap();
    assert!(
        evs.windows(2).all(|w| w[0].seq < w[1].seq),
        "ordered by seq"
    );
    assert!(evs.iter().all(|ev| ev.entry_id == e.id));
    let kinds: Vec<&EventKind> = evs.iter().map(|e| &e.kind).collect();
    assert!(kinds.contains(&&EventKind::StatusChanged {
        from: Status::New,
        to: Status::InProgress,
        closed_at: None,
    }));
    assert!(
        kinds
            .iter()
            .any(|k| matches!(k, EventKind::FieldChanged { field, .. } if field == "priority"))
    );
    assert!(kinds.contains(&&EventKind::NoteAdded {
        note_id: note.id.clone(),
        category: NoteCategory::Progress
    }));
    assert!(kinds.contains(&&EventKind::Completed {
        status: Status::Done
    }));
    let mcp = evs
        .iter()
        .find(|e| e.origin == Origin::Mcp)
        .expect("origin recorded");
    assert_eq!(mcp.actor.as_deref(), Some("agent"));
    // The cursor works: nothing after the last one.
    assert!(
        app.store()
            .events(evs.last().unwrap().seq, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let done = app.store().get(e.id).await.unwrap();
    assert_eq!(done.status, Status::Done);
    assert!(done.closed_at.is_some());
}

/// `events_before` and `count_events`, which let `devlog events` and `get_recent_changes`
/// show the newest events and count the rest without reading the whole feed, agree with a
/// forward read of the feed.
pub async fn feed_reads_backwards_and_counts(open: Opener, dir: &Path) {
    let app = Devlog::new(open(dir.to_path_buf()).await);
    let store = app.store();
    assert!(store.events_before(None, 10).await.unwrap().is_empty());
    assert_eq!(store.count_events(0, None).await.unwrap(), 0);

    for (i, title) in ["Feed one", "Feed two", "Feed three"]
        .into_iter()
        .enumerate()
    {
        let e = app
            .create(new_entry(title, EntryType::Task), &cli())
            .await
            .unwrap()
            .into_entry();
        app.edit(
            e.id,
            Edit {
                status: Some(Status::InProgress),
                priority: Some([Priority::Low, Priority::High, Priority::Critical][i]),
                ..Edit::default()
            },
            &cli(),
        )
        .await
        .unwrap();
    }
    let all = store.events(0, 1000).await.unwrap();
    let n = all.len();
    assert!(n >= 9, "three creates and two changes each: {n} events");
    let seqs = |evs: &[devlog_core::Event]| evs.iter().map(|e| e.seq).collect::<Vec<_>>();

    // The newest `limit`, oldest first, whole events as the forward read has them.
    for limit in [0, 1, 2, n - 1, n, n + 5, usize::MAX] {
        let got = store.events_before(None, limit).await.unwrap();
        assert_eq!(got, all[n - limit.min(n)..], "events_before(None, {limit})");
    }
    // Before a given seq (exclusive), and where nothing is older.
    for k in [0, 1, n / 2, n - 1] {
        let got = store.events_before(Some(all[k].seq), 3).await.unwrap();
        assert_eq!(
            seqs(&got),
            seqs(&all[k.saturating_sub(3)..k]),
            "before #{k}"
        );
    }
    assert!(store.events_before(Some(0), 5).await.unwrap().is_empty());
    assert_eq!(
        seqs(&store.events_before(Some(u64::MAX), 2).await.unwrap()),
        seqs(&all[n - 2..])
    );

    // Counts of `after < seq < before`.
    assert_eq!(store.count_events(0, None).await.unwrap(), n as u64);
    assert_eq!(
        store.count_events(0, Some(u64::MAX)).await.unwrap(),
        n as u64
    );
    let last = all[n - 1].seq;
    assert_eq!(store.count_events(last, None).await.unwrap(), 0);
    assert_eq!(store.count_events(u64::MAX, None).await.unwrap(), 0);
    for (i, j) in [(0, n - 1), (1, n / 2), (n / 2, n - 1), (2, 3), (3, 3)] {
        assert_eq!(
            store
                .count_events(all[i].seq, Some(all[j].seq))
                .await
                .unwrap(),
            j.saturating_sub(i + 1) as u64,
            "between #{i} and #{j}"
        );
    }
    // Earlier than the newest two; later than a cursor.
    let newest = store.events_before(None, 2).await.unwrap();
    assert_eq!(
        store.count_events(0, Some(newest[0].seq)).await.unwrap(),
        n as u64 - 2
    );
    assert_eq!(
        store.count_events(all[1].seq, None).await.unwrap(),
        n as u64 - 2
    );

    // A write after the reads is seen by the next ones.
    let e = app
        .create(new_entry("Feed four", EntryType::Task), &cli())
        .await
        .unwrap()
        .into_entry();
    let tail = store.events_before(None, 1).await.unwrap();
    assert_eq!(tail.len(), 1);
    assert_eq!(tail[0].entry_id, e.id);
    assert!(tail[0].seq > last);
    assert_eq!(store.count_events(last, None).await.unwrap(), 1);
}

pub async fn missing_entries_are_not_found(open: Opener, dir: &Path) {
    let store = open(dir.to_path_buf()).await;
    let ghost = devlog_core::id::EntryId::new_random();
    assert_eq!(
        store.get(ghost).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    let err = store
        .update(ghost, &cli(), &mut |_e| Ok(()))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(
        store.delete(ghost, &cli()).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
}

/// 40 entries with every combination the filters care about.
async fn seed_varied(store: &Arc<dyn Store>) -> Vec<devlog_core::Entry> {
    let mut all = Vec::new();
    for i in 0..40u64 {
        let status = Status::ALL[i as usize % Status::ALL.len()];
        let kind = EntryType::ALL[i as usize % EntryType::ALL.len()];
        let prio = Priority::ALL[(i as usize / 3) % Priority::ALL.len()];
        let mut b = EntryBuilder::new(&format!(
            "Item {i:02} {}",
            ["alpha", "beta", "gamma"][i as usize % 3]
        ))
        .handle(i + 1)
        .kind(kind)
        .priority(prio)
        .times(i as i64 * 10, 1000 - i as i64 * 7)
        .status(status);
        if i % 4 == 0 {
            b = b.assignee("ana");
        }
        if i % 5 == 0 {
            b = b.tag("ui");
        }
        let e = b.build();
        store
            .put_raw(e.clone(), &WriteMeta::new(Origin::Import))
            .await
            .unwrap();
        all.push(e);
    }
    all
}

pub async fn list_filters_sorts_and_pages(open: Opener, dir: &Path) {
    let store = open(dir.to_path_buf()).await;
    let all = seed_varied(&store).await;
    let filters = vec![
        Filter::default(),
        Filter {
            status: vec![Status::Done, Status::Blocked],
            ..Filter::default()
        },
        Filter {
            kind: vec![EntryType::Bugfix],
            ..Filter::default()
        },
        Filter {
            priority: vec![Priority::Critical],
            ..Filter::default()
        },
        Filter {
            assignee: Some("ana".into()),
            ..Filter::default()
        },
        Filter {
            tag: Some("ui".into()),
            ..Filter::default()
        },
        Filter {
            created_after: Some(ts(100)),
            created_before: Some(ts(200)),
            ..Filter::default()
        },
        Filter {
            updated_after: Some(ts(900)),
            ..Filter::default()
        },
        Filter {
            updated_before: Some(ts(900)),
            open_only: true,
            ..Filter::default()
        },
        Filter {
            kind: vec![EntryType::Feature],
            tag: Some("ui".into()),
            assignee: Some("ana".into()),
            ..Filter::default()
        },
        // Keyset paging: only the handles above the given one.
        Filter {
            handle_after: Some(all[all.len() / 2].handle),
            ..Filter::default()
        },
        Filter {
            handle_after: Some(all[1].handle),
            status: vec![Status::Done, Status::Blocked],
            ..Filter::default()
        },
    ];
    for f in filters {
        let mut expected: Vec<u64> = all
            .iter()
            .filter(|e| f.matches(&e.summary()))
            .map(|e| e.handle)
            .collect();
        let page = store
            .list(&ListQuery {
                filter: f.clone(),
                sort: SortKey::Handle,
                ascending: true,
                offset: 0,
                limit: 100,
            })
            .await
            .unwrap();
        let got: Vec<u64> = page.items.iter().map(|e| e.handle).collect();
        expected.sort();
        assert_eq!(got, expected, "filter {f:?}");
        // The reports' scan: keyset pages of three, each entry once, in handle order.
        let mut scanned = Vec::new();
        let n = devlog_core::reports::scan_pages(&*store, &f, 3, |e| scanned.push(e.handle))
            .await
            .unwrap();
        assert_eq!(scanned, expected, "scan, filter {f:?}");
        assert_eq!(n as usize, expected.len(), "scan count, filter {f:?}");
        assert_eq!(page.total, expected.len() as u64);
    }
    // Default order: most recently updated first (entry 0 was updated last).
    let page = store
        .list(&ListQuery {
            limit: 5,
            ..ListQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(
        page.items.iter().map(|e| e.handle).collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5]
    );
    assert_eq!(page.total, 40);
    // Paging walks the whole list once.
    let mut seen = Vec::new();
    for offset in (0..40).step_by(15) {
        let p = store
            .list(&ListQuery {
                sort: SortKey::Created,
                ascending: true,
                offset,
                limit: 15,
                ..ListQuery::default()
            })
            .await
            .unwrap();
        seen.extend(p.items.into_iter().map(|e| e.handle));
    }
    assert_eq!(seen, (1..=40).collect::<Vec<_>>());
    // Priority sort puts critical first.
    let p = store
        .list(&ListQuery {
            sort: SortKey::Priority,
            limit: 40,
            ..ListQuery::default()
        })
        .await
        .unwrap();
    assert!(
        p.items
            .windows(2)
            .all(|w| w[0].priority.rank() >= w[1].priority.rank())
    );
    let p = store
        .list(&ListQuery {
            sort: SortKey::Title,
            ascending: true,
            limit: 40,
            ..ListQuery::default()
        })
        .await
        .unwrap();
    assert!(
        p.items
            .windows(2)
            .all(|w| w[0].title.to_lowercase() <= w[1].title.to_lowercase())
    );
}

pub async fn search_ranks_and_filters(open: Opener, dir: &Path) {
    let store = open(dir.to_path_buf()).await;
    let meta = WriteMeta::new(Origin::Import);
    let in_title = EntryBuilder::new("Kubernetes deployment pipeline")
        .handle(1)
        .build();
    let in_note = EntryBuilder::new("Build speed")
        .handle(2)
        .note(NoteCategory::Idea, "we could run this on kubernetes later")
        .build();
    let in_desc = EntryBuilder::new("Cluster work")
        .handle(3)
        .description("migrate the kubernetes manifests")
        .status(Status::Done)
        .build();
    let in_context = EntryBuilder::new("Ops budget")
        .handle(4)
        .business("kubernetes costs money")
        .build();
    let other = EntryBuilder::new("Unrelated")
        .handle(5)
        .description("nothing here")
        .build();
    for e in [&in_title, &in_note, &in_desc, &in_context, &other] {
        store.put_raw(e.clone(), &meta).await.unwrap();
    }
    let hits = store
        .search(&SearchQuery {
            text: "kubernetes".into(),
            ..SearchQuery::default()
        })
        .await
        .unwrap();
    let order: Vec<u64> = hits.items.iter().map(|h| h.entry.handle).collect();
    assert_eq!(hits.total, 4);
    assert_eq!(order[0], 1, "a title hit ranks first: {order:?}");
    assert!(!order.contains(&5));
    assert!(hits.items.windows(2).all(|w| w[0].score >= w[1].score));
    assert!(hits.items.iter().all(|h| !h.snippet.is_empty()));
    // Prefixes match; every word must match.
    let p = store
        .search(&SearchQuery {
            text: "kube manif".into(),
            ..SearchQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(
        p.items.iter().map(|h| h.entry.handle).collect::<Vec<_>>(),
        vec![3]
    );
    // Filters apply to search.
    let p = store
        .search(&SearchQuery {
            text: "kubernetes".into(),
            filter: Filter {
                open_only: true,
                ..Filter::default()
            },
            ..SearchQuery::default()
        })
        .await
        .unwrap();
    assert!(p.items.iter().all(|h| h.entry.handle != 3));
    assert_eq!(p.total, 3);
}

pub async fn search_input_is_taken_literally(open: Opener, dir: &Path) {
    let store = open(dir.to_path_buf()).await;
    store
        .put_raw(
            EntryBuilder::new("Quote \"handling\" AND or NEAR")
                .handle(1)
                .build(),
            &cli(),
        )
        .await
        .unwrap();
    for q in ["\"", "AND", "NEAR(", "title:x", "*", "-", "a OR", "(((", ""] {
        let r = store
            .search(&SearchQuery {
                text: q.into(),
                ..SearchQuery::default()
            })
            .await;
        assert!(r.is_ok(), "query {q:?} must not fail: {r:?}");
    }
    let p = store
        .search(&SearchQuery {
            text: "handling\"".into(),
            ..SearchQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(p.total, 1);
}

/// A generated store (statuses, priorities, update times with ties, words in some entries)
/// whose active context, open lists and searches must equal a reference computed here from
/// `all()`: the indexes that make them fast (docs/performance.md) must not change answers.
pub async fn open_work_and_search_match_a_reference(open: Opener, dir: &Path) {
    let store = open(dir.to_path_buf()).await;
    let meta = WriteMeta::new(Origin::Import);
    for i in 0..120u64 {
        let n = i as usize;
        let mut b = EntryBuilder::new(&format!("Generated {i:03} {}", ["alpha", "beta"][n % 2]))
            .handle(i + 1)
            .status(Status::ALL[(n * 5) % Status::ALL.len()])
            .priority(Priority::ALL[(n * 3 / 7) % Priority::ALL.len()])
            // Ties in update time, broken by handle.
            .times(i as i64, 500 + (i as i64 % 13) * 10)
            .description(if n.is_multiple_of(3) {
                "shared words and a rare marker"
            } else {
                "shared words only"
            });
        if n.is_multiple_of(4) {
            b = b.note(NoteCategory::Progress, "the marker is also in notes");
        }
        store.put_raw(b.build(), &meta).await.unwrap();
    }
    let all = store.all().await.unwrap();
    let app = Devlog::new(store.clone());
    // Active context: open entries, highest priority, then most recently updated, then handle.
    let mut open_work: Vec<&devlog_core::Entry> =
        all.iter().filter(|e| !e.status.is_closed()).collect();
    open_work.sort_by(|a, b| {
        (b.priority.rank(), b.updated_at, b.handle).cmp(&(
            a.priority.rank(),
            a.updated_at,
            a.handle,
        ))
    });
    for limit in [1, 10, 200] {
        let got: Vec<u64> = app
            .active_context(limit)
            .await
            .unwrap()
            .iter()
            .map(|e| e.handle)
            .collect();
        let want: Vec<u64> = open_work.iter().take(limit).map(|e| e.handle).collect();
        assert_eq!(got, want, "active context of {limit}");
    }
    // Open lists in update order, paged: every page as the reference says, exact totals.
    let mut by_update = open_work.clone();
    by_update.sort_by_key(|e| std::cmp::Reverse((e.updated_at, e.handle)));
    for offset in [0, 7, 60] {
        let page = store
            .list(&ListQuery {
                filter: Filter {
                    open_only: true,
                    ..Filter::default()
                },
                offset,
                limit: 25,
                ..ListQuery::default()
            })
            .await
            .unwrap();
        let got: Vec<u64> = page.items.iter().map(|e| e.handle).collect();
        let want: Vec<u64> = by_update
            .iter()
            .skip(offset)
            .take(25)
            .map(|e| e.handle)
            .collect();
        assert_eq!(got, want, "open list at offset {offset}");
        assert_eq!(page.total, open_work.len() as u64);
        assert!(!page.total_is_estimate);
    }
    // Lists of one status (the `(status, updated_at, handle)` index) and of two (a sort),
    // newest and oldest first, paged: every page as the reference says, exact totals.
    let statuses: Vec<Vec<Status>> = Status::ALL
        .iter()
        .map(|s| vec![*s])
        .chain(std::iter::once(vec![Status::Blocked, Status::Done]))
        .collect();
    for status in statuses {
        let mut want: Vec<&devlog_core::Entry> =
            all.iter().filter(|e| status.contains(&e.status)).collect();
        want.sort_by_key(|e| std::cmp::Reverse((e.updated_at, e.handle)));
        for ascending in [false, true] {
            if ascending {
                want.reverse();
            }
            for offset in [0, 3, 11] {
                let page = store
                    .list(&ListQuery {
                        filter: Filter {
                            status: status.clone(),
                            ..Filter::default()
                        },
                        sort: SortKey::Updated,
                        ascending,
                        offset,
                        limit: 7,
                    })
                    .await
                    .unwrap();
                let got: Vec<u64> = page.items.iter().map(|e| e.handle).collect();
                let expected: Vec<u64> =
                    want.iter().skip(offset).take(7).map(|e| e.handle).collect();
                assert_eq!(
                    got, expected,
                    "{status:?} list, ascending {ascending}, offset {offset}"
                );
                assert_eq!(page.total, want.len() as u64);
            }
        }
    }
    // Searches: the matches are the entries whose text has every word; ranked by score.
    for (text, filter) in [
        ("shared", Filter::default()),
        ("marker", Filter::default()),
        ("rare marker", Filter::default()),
        (
            "shared",
            Filter {
                open_only: true,
                ..Filter::default()
            },
        ),
    ] {
        let page = store
            .search(&SearchQuery {
                text: text.into(),
                filter: filter.clone(),
                offset: 0,
                limit: 500,
            })
            .await
            .unwrap();
        let mut got: Vec<u64> = page.items.iter().map(|h| h.entry.handle).collect();
        got.sort_unstable();
        let want: Vec<u64> = all
            .iter()
            .filter(|e| filter.matches(&e.summary()))
            .filter(|e| {
                let t = e.search_text();
                let words: Vec<String> = [t.title, t.description, t.notes, t.context]
                    .join(" ")
                    .to_lowercase()
                    .split(|c: char| !c.is_alphanumeric())
                    .map(str::to_string)
                    .collect();
                text.split(' ').all(|q| words.iter().any(|w| w == q))
            })
            .map(|e| e.handle)
            .collect();
        assert_eq!(got, want, "search {text:?} with {filter:?}");
        assert_eq!(page.total, want.len() as u64, "search {text:?}");
        assert!(!page.total_is_estimate);
        assert!(page.items.windows(2).all(|w| w[0].score >= w[1].score));
    }
}

/// More matches than `TOTAL_CAP`: totals stop counting and say so; pages that reach past the
/// cap still get a total above them (callers paging on it go on); search ranks the newest
/// `TOTAL_CAP` matches for the first pages and every match for deeper ones.
pub async fn totals_above_the_cap_are_lower_bounds(open: Opener, dir: &Path) {
    let store = open(dir.to_path_buf()).await;
    let meta = WriteMeta::new(Origin::Import);
    let n = TOTAL_CAP as u64 + 10;
    for i in 0..n {
        // Handles with gaps: the server backends' search looks among the newest handles
        // first and must widen its range to find enough matches.
        let e = EntryBuilder::new(&format!("Crowded {i}"))
            .handle((i + 1) * 10)
            .status(if i % 2 == 0 {
                Status::New
            } else {
                Status::Done
            })
            .description("everyone says crowded")
            .build();
        store.put_raw(e, &meta).await.unwrap();
    }
    let list = |filter: Filter, offset, limit| {
        let store = store.clone();
        async move {
            store
                .list(&ListQuery {
                    filter,
                    offset,
                    limit,
                    ..ListQuery::default()
                })
                .await
                .unwrap()
        }
    };
    let p = list(Filter::default(), 0, 20).await;
    assert_eq!((p.total, p.total_is_estimate), (TOTAL_CAP as u64, true));
    assert_eq!(p.items.len(), 20);
    // Below the cap the count is exact.
    let open_only = Filter {
        open_only: true,
        ..Filter::default()
    };
    let p = list(open_only, 0, 20).await;
    assert_eq!((p.total, p.total_is_estimate), (n.div_ceil(2), false));
    // A page reaching past the cap counts past it.
    let p = list(Filter::default(), TOTAL_CAP - 5, 20).await;
    assert_eq!((p.total, p.total_is_estimate), (n, false));
    assert_eq!(p.items.len(), 15);
    let p = list(Filter::default(), 500, 500).await;
    assert!(
        p.total > 1000 && p.total_is_estimate == (p.total < n),
        "{}",
        p.total
    );

    let search = |offset, limit| {
        let store = store.clone();
        async move {
            store
                .search(&SearchQuery {
                    text: "crowded".into(),
                    offset,
                    limit,
                    ..SearchQuery::default()
                })
                .await
                .unwrap()
        }
    };
    let p = search(0, 20).await;
    assert_eq!((p.total, p.total_is_estimate), (TOTAL_CAP as u64, true));
    assert_eq!(p.items.len(), 20);
    // Ranked among the newest TOTAL_CAP matches: the oldest ten are not among them.
    assert!(
        p.items.iter().all(|h| h.entry.handle > 100),
        "{:?}",
        p.items
    );
    // A page past the cap ranks every match, and the total is exact.
    let p = search(0, n as usize).await;
    assert_eq!((p.total, p.total_is_estimate), (n, false));
    let mut got: Vec<u64> = p.items.iter().map(|h| h.entry.handle).collect();
    got.sort_unstable();
    assert_eq!(got, (1..=n).map(|i| i * 10).collect::<Vec<_>>());
}

pub async fn stats_count_and_time_completion(open: Opener, dir: &Path) {
    let store = open(dir.to_path_buf()).await;
    let meta = WriteMeta::new(Origin::Import);
    store
        .put_raw(
            EntryBuilder::new("a")
                .handle(1)
                .times(0, 60)
                .status(Status::Done)
                .build(),
            &meta,
        )
        .await
        .unwrap();
    store
        .put_raw(
            EntryBuilder::new("b")
                .handle(2)
                .times(0, 180)
                .status(Status::Closed)
                .build(),
            &meta,
        )
        .await
        .unwrap();
    store
        .put_raw(
            EntryBuilder::new("c")
                .handle(3)
                .kind(EntryType::Bugfix)
                .assignee("ana")
                .build(),
            &meta,
        )
        .await
        .unwrap();
    let s = store.stats(&Filter::default()).await.unwrap();
    assert_eq!((s.total, s.open, s.closed), (3, 1, 2));
    assert_eq!(s.by_status["done"], 1);
    assert_eq!(s.by_type["bugfix"], 1);
    assert_eq!(s.by_type["task"], 2);
    assert_eq!(s.by_assignee["ana"], 1);
    assert_eq!(s.completed_with_time, 2);
    assert!((s.avg_completion_hours.unwrap() - 2.0).abs() < 1e-9);
    assert!((s.median_completion_hours.unwrap() - 2.0).abs() < 1e-9);
    let s = store
        .stats(&Filter {
            kind: vec![EntryType::Bugfix],
            ..Filter::default()
        })
        .await
        .unwrap();
    assert_eq!(s.total, 1);

    // The counts a backend keeps as entries are written (docs/performance.md, "Statistics
    // from kept counts") must equal a recount of every entry after any mix of writes:
    // creates, status moves both ways, reassignment, imports that replace entries, deletes,
    // batches, and writers on two handles at once.
    let app = Devlog::new(store.clone());
    let other = open(dir.to_path_buf()).await;
    check_stats_against_a_recount(&*store, "after three imports").await;
    let mut ids = Vec::new();
    for (i, kind) in [EntryType::Feature, EntryType::Bugfix, EntryType::Task]
        .into_iter()
        .cycle()
        .take(9)
        .enumerate()
    {
        let mut n = new_entry(&format!("Counted entry {i}"), kind);
        n.assignee = (i % 3 != 0).then(|| ["ana", "Ana", "bo"][i % 3].to_string());
        n.tags = vec![format!("t{}", i % 2)];
        ids.push(app.create(n, &cli()).await.unwrap().into_entry().id);
    }
    let set = |status: Option<Status>, priority: Option<Priority>, assignee: Option<&str>| Edit {
        status,
        priority,
        assignee: assignee.map(str::to_string),
        ..Edit::default()
    };
    app.edit(ids[0], set(Some(Status::Done), None, None), &cli())
        .await
        .unwrap();
    app.edit(
        ids[1],
        set(Some(Status::Closed), Some(Priority::High), None),
        &cli(),
    )
    .await
    .unwrap();
    app.edit(ids[2], set(Some(Status::Done), None, Some("")), &cli())
        .await
        .unwrap();
    // Reopened: its completion leaves the counts.
    app.edit(
        ids[2],
        set(Some(Status::InProgress), None, Some("cy")),
        &cli(),
    )
    .await
    .unwrap();
    app.edit(
        ids[3],
        set(None, Some(Priority::Critical), Some("ana")),
        &cli(),
    )
    .await
    .unwrap();
    // A note changes no counted value.
    app.add_note(
        ids[4],
        NewNote {
            content: "nothing counted changes".into(),
            category: NoteCategory::Progress,
            files: Vec::new(),
            code_changes: None,
        },
        &cli(),
    )
    .await
    .unwrap();
    store.delete(ids[5], &cli()).await.unwrap();
    check_stats_against_a_recount(&*store, "after edits and a delete").await;
    // An import that replaces a stored entry (another status, type and assignee) and one with
    // a completion span that is negative (hand-edited dates): not a completion time.
    let mut replaced = store.get(ids[6]).await.unwrap();
    replaced.status = Status::Done;
    replaced.kind = EntryType::Docs;
    replaced.assignee = Some("dee".into());
    replaced.closed_at = Some(replaced.created_at);
    let backwards = EntryBuilder::new("Closed before it was created")
        .handle(500)
        .times(100, 10)
        .status(Status::Closed)
        .build();
    let batch: Vec<_> = (0..6)
        .map(|i| {
            EntryBuilder::new(&format!("Imported {i}"))
                .handle(600 + i)
                .times(i as i64 * 10, i as i64 * 10 + 30 + i as i64)
                .status([Status::Done, Status::New, Status::Closed][i as usize % 3])
                .assignee(["ana", "bo"][i as usize % 2])
                .build()
        })
        .chain([replaced, backwards])
        .collect();
    store.put_raw_batch(batch, &meta).await.unwrap();
    check_stats_against_a_recount(&*store, "after an import batch").await;
    // Two handles (as two processes would have) moving the same entries back and forth.
    let mut tasks = Vec::new();
    for t in 0..4usize {
        let s = if t % 2 == 0 {
            store.clone()
        } else {
            other.clone()
        };
        let ids = ids.clone();
        tasks.push(tokio::spawn(async move {
            let app = Devlog::new(s);
            for round in 0..4usize {
                let id = ids[(t + round) % 5];
                let status = [
                    Status::Done,
                    Status::InProgress,
                    Status::Closed,
                    Status::New,
                ][(t + round) % 4];
                let who = ["ana", "bo", ""][(t * round) % 3];
                app.edit(id, set(Some(status), None, Some(who)), &cli())
                    .await
                    .unwrap();
                let mut n = new_entry(&format!("Concurrent {t} {round}"), EntryType::Task);
                n.assignee = Some(who.to_string()).filter(|w| !w.is_empty());
                let created = app.create(n, &cli()).await.unwrap().into_entry();
                if round % 2 == 1 {
                    app.store().delete(created.id, &cli()).await.unwrap();
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    check_stats_against_a_recount(&*store, "after concurrent writers").await;
    check_stats_against_a_recount(&*other, "after concurrent writers, other handle").await;
    let reopened = open(dir.to_path_buf()).await;
    check_stats_against_a_recount(&*reopened, "after reopening").await;
}

/// Compares `Store::stats` with a recount of `Store::all()` in memory, for filters the kept
/// counts answer and for filters that group the matching entries instead.
pub async fn check_stats_against_a_recount(store: &dyn Store, when: &str) {
    let all: Vec<_> = store
        .all()
        .await
        .unwrap()
        .iter()
        .map(|e| e.summary())
        .collect();
    let filters = [
        Filter::default(),
        Filter {
            kind: vec![EntryType::Task, EntryType::Bugfix],
            ..Filter::default()
        },
        Filter {
            status: vec![Status::Done, Status::Closed],
            ..Filter::default()
        },
        // "bo": MySQL's collation would also match "Ana" for "ana", as in its lists.
        Filter {
            assignee: Some("bo".into()),
            ..Filter::default()
        },
        Filter {
            priority: vec![Priority::Medium],
            open_only: true,
            ..Filter::default()
        },
        // Not counted: these group the matching entries.
        Filter {
            tag: Some("t1".into()),
            ..Filter::default()
        },
        Filter {
            created_after: Some(crate::ts(20)),
            ..Filter::default()
        },
        Filter {
            handle_after: Some(all[all.len() / 2].handle),
            ..Filter::default()
        },
    ];
    for f in filters {
        let want: Vec<_> = all.iter().filter(|e| f.matches(e)).cloned().collect();
        let want = devlog_core::store::compute_stats(&want);
        let got = store.stats(&f).await.unwrap();
        assert_eq!(got, want, "stats {when}, filter {f:?}");
    }
}

pub async fn concurrent_updates_lose_nothing(open: Opener, dir: &Path) {
    let store = open(dir.to_path_buf()).await;
    let app = Devlog::new(store.clone());
    let e = app
        .create(new_entry("Hot entry", EntryType::Task), &cli())
        .await
        .unwrap()
        .into_entry();
    // A second handle on the same data, as a second process would have.
    let other = Devlog::new(open(dir.to_path_buf()).await);
    let mut tasks = Vec::new();
    for t in 0..8 {
        let app = if t % 2 == 0 {
            app.clone()
        } else {
            other.clone()
        };
        tasks.push(tokio::spawn(async move {
            for i in 0..15 {
                app.add_note(
                    e.id,
                    NewNote {
                        content: format!("task {t} note {i}"),
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
    for t in tasks {
        t.await.unwrap();
    }
    let got = store.get(e.id).await.unwrap();
    assert_eq!(got.notes.len(), 120, "no note lost");
    let feed = store.events(0, 10_000).await.unwrap();
    let added = feed
        .iter()
        .filter(|ev| matches!(ev.kind, EventKind::NoteAdded { .. }))
        .count();
    assert_eq!(added, 120, "one event per note, none duplicated");
}

/// A batch follows `put_raw`'s rules entry by entry, in order: later entries see earlier
/// ones (a taken handle moves, a repeat is unchanged), and the change feed gets the same events.
pub async fn put_raw_batch_applies_put_raw_in_order(open: Opener, dir: &Path) {
    let store = open(dir.to_path_buf()).await;
    let meta = WriteMeta::new(Origin::Import);
    let a = EntryBuilder::new("First").handle(5).times(1, 2).build();
    let b = EntryBuilder::new("Second").handle(5).build();
    let outcomes = store
        .put_raw_batch(vec![a.clone(), b.clone(), a.clone()], &meta)
        .await
        .unwrap();
    assert_eq!(
        outcomes,
        vec![
            PutOutcome::Inserted,
            PutOutcome::Inserted,
            PutOutcome::Unchanged
        ]
    );
    assert_eq!(store.get(a.id).await.unwrap(), a, "stored exactly");
    assert_eq!(
        store.get(b.id).await.unwrap().handle,
        6,
        "the handle the batch's first entry took moves to the next free one"
    );
    let created = store.events(0, 100).await.unwrap();
    assert_eq!(
        created
            .iter()
            .filter(|ev| matches!(ev.kind, EventKind::Created))
            .map(|ev| ev.entry_id)
            .collect::<Vec<_>>(),
        vec![a.id, b.id],
        "one creation event per inserted entry, in batch order"
    );
    let mut a2 = a.clone();
    a2.description = "changed".into();
    let c = EntryBuilder::new("Third").build();
    let outcomes = store
        .put_raw_batch(
            vec![a2.clone(), c.clone()],
            &WriteMeta::new(Origin::Migrate),
        )
        .await
        .unwrap();
    assert_eq!(outcomes, vec![PutOutcome::Replaced, PutOutcome::Inserted]);
    assert_eq!(store.get(a.id).await.unwrap().description, "changed");
    assert_eq!(store.get(c.id).await.unwrap().handle, 7);
    assert_eq!(
        store.events(0, 100).await.unwrap().len(),
        created.len(),
        "a migration batch copies no events, as put_raw does"
    );
    assert!(
        store
            .put_raw_batch(Vec::new(), &meta)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.count().await.unwrap(), 3);
}

/// A bulk load's batch (hundreds of new entries, some of them large, between entries that
/// must see the ones before them: a key the store holds, a key an earlier entry of the batch
/// took, a taken handle, an update, a repeat) stores exactly what `put_raw` one by one would,
/// and every entry is found by its words.
pub async fn a_large_put_raw_batch_keeps_put_raws_rules(open: Opener, dir: &Path) {
    let store = open(dir.to_path_buf()).await;
    let meta = WriteMeta::new(Origin::Import);
    let mut x = EntryBuilder::new("Existing").handle(3).build();
    x.key = "shared".into();
    store.put_raw(x.clone(), &meta).await.unwrap();
    let large = "word ".repeat(24 * 1024);
    let mut batch = Vec::new();
    for i in 0..450u64 {
        let mut e = EntryBuilder::new(&format!("Bulk entry {i}"))
            .handle(100 + i)
            .description(&format!("marker{i}z of the load"))
            .build();
        e.key = format!("bulk-{i}");
        match i {
            10 => e.key = "shared".into(),
            20 => e.key = "bulk-5".into(),
            30 => e.handle = 3,
            60..72 => e.description = format!("marker{i}z {large}"),
            _ => {}
        }
        batch.push(e);
    }
    let mut x2 = x.clone();
    x2.description = "changed in the batch".into();
    batch[40] = x2.clone();
    batch[50] = batch[0].clone();
    let outcomes = store.put_raw_batch(batch.clone(), &meta).await.unwrap();
    let mut expected = batch.clone();
    expected[10].key = "shared-2".into();
    expected[20].key = "bulk-5-2".into();
    expected[30].handle = 130;
    for (i, (outcome, want)) in outcomes.iter().zip(&expected).enumerate() {
        let kind = match i {
            40 => PutOutcome::Replaced,
            50 => PutOutcome::Unchanged,
            _ => PutOutcome::Inserted,
        };
        assert_eq!(*outcome, kind, "outcome of entry {i}");
        assert_eq!(&store.get(want.id).await.unwrap(), want, "entry {i} stored");
    }
    assert_eq!(outcomes.len(), 450);
    assert_eq!(
        store.count().await.unwrap(),
        449,
        "448 new entries beside x"
    );
    for i in [0usize, 10, 20, 30, 65, 199, 200, 201, 449] {
        let hits = store
            .search(&SearchQuery {
                text: format!("marker{i}z"),
                ..SearchQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(
            hits.items.iter().map(|h| h.entry.id).collect::<Vec<_>>(),
            vec![expected[i].id],
            "entry {i} is found by its words"
        );
    }
    let created: Vec<devlog_core::id::EntryId> = store
        .events(0, 10_000)
        .await
        .unwrap()
        .iter()
        .filter(|ev| matches!(ev.kind, EventKind::Created))
        .map(|ev| ev.entry_id)
        .collect();
    let mut want = vec![x.id];
    want.extend(
        expected
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != 40 && *i != 50)
            .map(|(_, e)| e.id),
    );
    assert_eq!(
        created, want,
        "one creation event per new entry, in batch order"
    );
}

pub async fn put_raw_keeps_identity_and_moves_taken_handles(open: Opener, dir: &Path) {
    let store = open(dir.to_path_buf()).await;
    let meta = WriteMeta::new(Origin::Import);
    let a = EntryBuilder::new("First").handle(5).times(1, 2).build();
    assert_eq!(
        store.put_raw(a.clone(), &meta).await.unwrap(),
        PutOutcome::Inserted
    );
    assert_eq!(
        store.put_raw(a.clone(), &meta).await.unwrap(),
        PutOutcome::Unchanged
    );
    let got = store.get(a.id).await.unwrap();
    assert_eq!(got, a, "timestamps, handle and key kept exactly");
    let b = EntryBuilder::new("Second").handle(5).build();
    store.put_raw(b.clone(), &meta).await.unwrap();
    let b2 = store.get(b.id).await.unwrap();
    assert_eq!(b2.handle, 6, "a taken handle moves to the next free one");
    let mut a2 = a.clone();
    a2.description = "changed".into();
    assert_eq!(
        store.put_raw(a2.clone(), &meta).await.unwrap(),
        PutOutcome::Replaced
    );
    assert_eq!(store.get(a.id).await.unwrap().description, "changed");
    assert_eq!(store.count().await.unwrap(), 2);
    let all = store.all().await.unwrap();
    assert_eq!(all.iter().map(|e| e.handle).collect::<Vec<_>>(), vec![5, 6]);
}

pub async fn delete_removes_and_is_recorded(open: Opener, dir: &Path) {
    let app = Devlog::new(open(dir.to_path_buf()).await);
    let e = app
        .create(new_entry("Short lived", EntryType::Task), &cli())
        .await
        .unwrap()
        .into_entry();
    app.store().delete(e.id, &cli()).await.unwrap();
    assert_eq!(
        app.store().get(e.id).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(app.store().count().await.unwrap(), 0);
    let hits = app
        .store()
        .search(&SearchQuery {
            text: "short".into(),
            ..SearchQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(hits.total, 0);
    let feed = app.store().events(0, 100).await.unwrap();
    assert!(matches!(
        feed.last().map(|e| &e.kind),
        Some(EventKind::Deleted)
    ));
}

/// `devlog start|block|review|close|reopen` (Devlog::transition): status, closedAt, the note
/// and the rule that finished work is reopened first, with nothing written when refused or
/// when the entry already has the status.
pub async fn shared_insights_are_found_for_related_work(open: Opener, dir: &Path) {
    use devlog_core::insights::InsightKind;
    use devlog_core::ops::NewDecision;
    let store = open(dir.to_path_buf()).await;
    let app = Devlog::new(store.clone());
    let mk = |title: &str, description: &str| NewEntry {
        title: title.to_string(),
        description: description.to_string(),
        kind: Some(EntryType::Feature),
        ..NewEntry::default()
    };
    let payments = app
        .create(
            mk(
                "Refund batching for payments",
                "Refunds call the payments gateway one by one",
            ),
            &cli(),
        )
        .await
        .unwrap()
        .into_entry();
    let unrelated = app
        .create(mk("Dark mode toggle", "Theme switch in settings"), &cli())
        .await
        .unwrap()
        .into_entry();
    let work = app
        .create(
            mk("Payments retries", "Retry failed payments gateway calls"),
            &cli(),
        )
        .await
        .unwrap()
        .into_entry();
    app.add_insight(
        payments.id,
        "The payments gateway limits requests per account",
        true,
        &cli(),
    )
    .await
    .unwrap();
    app.add_insight(payments.id, "Private note on refunds", false, &cli())
        .await
        .unwrap();
    let decided = app
        .decide(
            payments.id,
            NewDecision {
                decision: "Batch refunds in groups of 50".into(),
                rationale: "The gateway limits requests".into(),
                alternatives: vec![],
                decision_maker: "ana".into(),
                shared: true,
            },
            &cli(),
        )
        .await
        .unwrap();
    assert!(decided.context.decisions[0].shared);
    app.add_insight(unrelated.id, "Themes are CSS variables", true, &cli())
        .await
        .unwrap();
    app.add_insight(
        work.id,
        "Its own insight is not shown to itself",
        true,
        &cli(),
    )
    .await
    .unwrap();
    // Written and read back through the store: the marks survive.
    let back = store.get(payments.id).await.unwrap();
    assert_eq!(
        back.ai_context.shared_insights,
        vec!["The payments gateway limits requests per account".to_string()]
    );
    assert_eq!(back.ai_context.key_insights.len(), 2);

    let work = store.get(work.id).await.unwrap();
    let found = app.shared_insights(&[], Some(&work), 10).await.unwrap();
    let texts: Vec<&str> = found.items.iter().map(|i| i.text.as_str()).collect();
    assert!(
        texts.contains(&"The payments gateway limits requests per account"),
        "{texts:?}"
    );
    assert!(
        texts.contains(&"Batch refunds in groups of 50"),
        "{texts:?}"
    );
    assert!(!texts.contains(&"Private note on refunds"), "{texts:?}");
    assert!(
        !texts
            .iter()
            .any(|t| t.contains("its own") || t.contains("Its own")),
        "{texts:?}"
    );
    // The related entry's insights rank above the unrelated one's, which still follows them
    // (a store's shared insights never look like "none" because they concern other work).
    let pos = |t: &str| texts.iter().position(|x| *x == t);
    let theme = pos("Themes are CSS variables").expect("unrelated insights follow");
    assert!(
        pos("Batch refunds in groups of 50").unwrap() < theme,
        "{texts:?}"
    );
    assert!(found.items[theme].matched_terms.is_empty() && !found.items[theme].is_relevant());
    assert!(found.items[..theme].iter().all(|i| i.is_relevant()));
    let decision = found
        .items
        .iter()
        .find(|i| i.kind == InsightKind::Decision)
        .unwrap();
    assert_eq!(
        decision.rationale.as_deref(),
        Some("The gateway limits requests")
    );
    assert_eq!(decision.entry.id, payments.id);
    assert!(decision.repository.is_none());
    // Without a piece of work: every shared item, most recently changed first.
    let all = app.shared_insights(&[], None, 10).await.unwrap();
    assert_eq!(all.items.len(), 4, "{:?}", all.items);
    assert!(all.terms.is_empty());
    // An empty insight is refused and changes nothing.
    let before = store.get(unrelated.id).await.unwrap();
    assert!(
        app.add_insight(unrelated.id, "  ", true, &cli())
            .await
            .is_err()
    );
    assert_eq!(store.get(unrelated.id).await.unwrap(), before);
}

pub async fn status_shortcuts_follow_the_rules(open: Opener, dir: &Path) {
    use devlog_core::entry::Transition;
    let app = Devlog::new(open(dir.to_path_buf()).await);
    let e = app
        .create(new_entry("Shortcut target", EntryType::Task), &cli())
        .await
        .unwrap()
        .into_entry();
    let feed_len = |app: &Devlog| {
        let store = app.store().clone();
        async move { store.events(0, 1000).await.unwrap().len() }
    };
    let started = app
        .transition(e.id, Transition::Start, Some("on it".into()), &cli())
        .await
        .unwrap();
    assert!(started.changed && started.noted);
    assert_eq!(started.from, Status::New);
    assert_eq!(started.entry.status, Status::InProgress);
    let note = started.entry.notes.last().unwrap();
    assert_eq!(
        (note.category, note.content.as_str()),
        (NoteCategory::Progress, "on it")
    );
    // Already in progress, no note: nothing is written.
    let before = feed_len(&app).await;
    let again = app
        .transition(e.id, Transition::Start, None, &cli())
        .await
        .unwrap();
    assert!(!again.changed && !again.noted);
    assert_eq!(again.entry.updated_at, started.entry.updated_at);
    assert_eq!(
        feed_len(&app).await,
        before,
        "a no-op shortcut wrote events"
    );
    let blocked = app
        .transition(
            e.id,
            Transition::Block,
            Some("waiting on the API".into()),
            &cli(),
        )
        .await
        .unwrap();
    assert_eq!(blocked.entry.status, Status::Blocked);
    assert_eq!(
        blocked.entry.notes.last().unwrap().category,
        NoteCategory::Issue
    );
    let closed = app
        .transition(e.id, Transition::Close, None, &cli())
        .await
        .unwrap();
    assert_eq!(closed.entry.status, Status::Closed);
    assert!(closed.entry.closed_at.is_some());
    // Finished work is not started, blocked or reviewed before it is reopened.
    for t in [Transition::Start, Transition::Block, Transition::Review] {
        let before = feed_len(&app).await;
        let err = app
            .transition(e.id, t, Some("too early".into()), &cli())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Invalid, "{t}: {err}");
        assert!(err.to_string().contains("reopen it first"), "{err}");
        assert_eq!(feed_len(&app).await, before, "a refused {t} wrote events");
    }
    let stored = app.store().get(e.id).await.unwrap();
    assert_eq!(stored.status, Status::Closed);
    assert_eq!(stored.notes.len(), 2, "a refused shortcut added its note");
    let reopened = app
        .transition(e.id, Transition::Reopen, None, &cli())
        .await
        .unwrap();
    assert!(reopened.changed);
    assert_eq!(reopened.entry.status, Status::New);
    assert_eq!(reopened.entry.closed_at, None);
    let open_again = app
        .transition(e.id, Transition::Reopen, None, &cli())
        .await
        .unwrap();
    assert!(!open_again.changed);
    let review = app
        .transition(e.id, Transition::Review, None, &cli())
        .await
        .unwrap();
    assert_eq!(review.entry.status, Status::InReview);
    // What was written survives a reopen of the store.
    let store = open(dir.to_path_buf()).await;
    assert_eq!(store.get(e.id).await.unwrap().status, Status::InReview);
}

pub async fn unknown_fields_survive_updates(open: Opener, dir: &Path) {
    let store = open(dir.to_path_buf()).await;
    let app = Devlog::new(store.clone());
    let mut e = EntryBuilder::new("Future proof")
        .handle(1)
        .extra("sprint", serde_json::json!({"name": "S1", "points": 3}))
        .note(NoteCategory::Idea, "n")
        .build();
    e.notes[0]
        .extra
        .insert("mood".into(), serde_json::json!("good"));
    e.context
        .extra
        .insert("epic".into(), serde_json::json!("E-1"));
    // Deployments (an integration's record) are part of the document, unknown keys included.
    let mut deployed = devlog_core::entry::Deployment {
        id: "azure-devops:release-1:environment-5:deployment-9".into(),
        system: "azure-devops".into(),
        environment: "Production".into(),
        release: "Release-1".into(),
        status: devlog_core::entry::DeploymentStatus::PartiallySucceeded,
        url: Some("https://example.com/r/1".into()),
        at: e.created_at,
        extra: Default::default(),
    };
    deployed
        .extra
        .insert("approver".into(), serde_json::json!("ana"));
    e.deployments.push(deployed);
    store.put_raw(e.clone(), &cli()).await.unwrap();
    app.edit(
        e.id,
        Edit {
            title: Some("Future proofed".into()),
            ..Edit::default()
        },
        &cli(),
    )
    .await
    .unwrap();
    let got = store.get(e.id).await.unwrap();
    assert_eq!(got.title, "Future proofed");
    assert_eq!(got.extra["sprint"]["points"], 3);
    assert_eq!(got.notes[0].extra["mood"], "good");
    assert_eq!(got.context.extra["epic"], "E-1");
    assert_eq!(got.deployments, e.deployments);
}

pub async fn data_survives_reopen(open: Opener, dir: &Path) {
    let id = {
        let app = Devlog::new(open(dir.to_path_buf()).await);
        let e = app
            .create(new_entry("Persisted", EntryType::Docs), &cli())
            .await
            .unwrap()
            .into_entry();
        app.add_note(
            e.id,
            NewNote {
                content: "kept".into(),
                category: NoteCategory::Reminder,
                files: vec![],
                code_changes: Some("diff".into()),
            },
            &cli(),
        )
        .await
        .unwrap();
        (e.id, app.store().feed_id().await.unwrap())
    };
    let (id, feed_id) = id;
    assert!(
        feed_id.is_some(),
        "every backend identifies its change feed"
    );
    let store = open(dir.to_path_buf()).await;
    assert_eq!(
        store.feed_id().await.unwrap(),
        feed_id,
        "the change feed keeps its identity across reopen (sync cursors stay valid)"
    );
    let got = store.get(id).await.unwrap();
    assert_eq!(got.notes.len(), 1);
    assert_eq!(got.notes[0].code_changes.as_deref(), Some("diff"));
    assert!(store.events(0, 100).await.unwrap().len() >= 2);
    let app = Devlog::new(store);
    let next = app
        .create(new_entry("Second", EntryType::Docs), &cli())
        .await
        .unwrap();
    assert_eq!(next.entry().handle, 2, "handles continue after reopen");
}
