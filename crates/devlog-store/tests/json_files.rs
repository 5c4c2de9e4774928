//! Behaviour specific to the JSON-files backend: the files are the truth, the index follows
//! them, and damaged files never take the rest down or get overwritten.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::path::{Path, PathBuf};

use devlog_core::codec::encode_entry;
use devlog_core::entry::{EntryType, NoteCategory, Status};
use devlog_core::error::ErrorKind;
use devlog_core::ops::{Devlog, NewEntry, NewNote};
use devlog_core::{EventKind, Filter, ListQuery, Origin, SearchQuery, Store, WriteMeta};
use devlog_store::JsonStore;
use devlog_testkit::EntryBuilder;
use std::sync::Arc;

fn cli() -> WriteMeta {
    WriteMeta::new(Origin::Cli)
}

async fn open(root: &Path) -> Arc<dyn Store> {
    Arc::new(JsonStore::open(root).await.unwrap())
}

fn entry_files(root: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root.join("entries"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    v.sort();
    v
}

async fn create(app: &Devlog, title: &str) -> devlog_core::Entry {
    app.create(
        NewEntry {
            title: title.into(),
            kind: Some(EntryType::Task),
            ..NewEntry::default()
        },
        &cli(),
    )
    .await
    .unwrap()
    .into_entry()
}

#[tokio::test]
async fn files_are_named_by_handle_and_slug_and_are_pretty_json() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join(".devlog");
    let app = Devlog::new(open(&root).await);
    let e = create(&app, "Fix the Login Timeout!").await;
    let files = entry_files(&root);
    assert_eq!(files.len(), 1);
    assert!(
        files[0].ends_with("001-fix-the-login-timeout.json"),
        "{files:?}"
    );
    let text = std::fs::read_to_string(&files[0]).unwrap();
    assert!(text.starts_with("{\n  \"id\": \""), "{text}");
    assert!(text.ends_with("}\n"));
    assert!(text.contains(&format!("\"id\": \"{}\"", e.id)));
    let gitignore = std::fs::read_to_string(root.join(".gitignore")).unwrap();
    assert!(
        gitignore.lines().any(|l| l == ".state/"),
        "state stays out of git"
    );
}

#[tokio::test]
async fn edits_made_outside_devlog_are_indexed_and_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join(".devlog");
    let store = open(&root).await;
    let app = Devlog::new(store.clone());
    let e = create(&app, "Hand edited").await;
    let cursor = store.events(0, 100).await.unwrap().last().unwrap().seq;

    // As a `git pull` or an editor would: rewrite the file, and add a new one.
    let mut changed = e.clone();
    changed.status = Status::Blocked;
    changed.description = "kubernetes is down".into();
    std::fs::write(&entry_files(&root)[0], encode_entry(&changed)).unwrap();
    let pulled = EntryBuilder::new("Pulled from a teammate")
        .handle(7)
        .build();
    std::fs::write(
        root.join("entries/007-pulled-from-a-teammate.json"),
        encode_entry(&pulled),
    )
    .unwrap();

    let page = store.list(&ListQuery::default()).await.unwrap();
    assert_eq!(page.total, 2);
    let hits = store
        .search(&SearchQuery {
            text: "kubernetes".into(),
            ..SearchQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(hits.total, 1);
    let blocked = store
        .list(&ListQuery {
            filter: Filter {
                status: vec![Status::Blocked],
                ..Filter::default()
            },
            ..ListQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(blocked.items[0].id, e.id);

    let evs = store.events(cursor, 100).await.unwrap();
    assert!(evs.iter().all(|e| e.origin == Origin::External));
    assert!(evs.iter().any(|ev| ev.entry_id == e.id
        && ev.kind
            == EventKind::StatusChanged {
                from: Status::New,
                to: Status::Blocked,
                closed_at: None,
            }));
    assert!(
        evs.iter()
            .any(|ev| ev.entry_id == pulled.id && ev.kind == EventKind::Created)
    );
    // Reading again finds nothing new: no duplicate events.
    store.list(&ListQuery::default()).await.unwrap();
    assert_eq!(store.events(cursor, 100).await.unwrap().len(), evs.len());
    // The next handle continues after the pulled #7.
    assert_eq!(create(&app, "After pull").await.handle, 8);

    // A file removed outside devlog is a deletion.
    std::fs::remove_file(root.join("entries/007-pulled-from-a-teammate.json")).unwrap();
    assert_eq!(store.count().await.unwrap(), 2);
    let last = store.events(0, 1000).await.unwrap();
    assert!(matches!(
        last.last().map(|e| &e.kind),
        Some(EventKind::Deleted)
    ));
}

#[tokio::test]
async fn backwards_feed_reads_and_counts_refresh_from_the_files_first() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join(".devlog");
    let store = open(&root).await;
    let app = Devlog::new(store.clone());
    let e = create(&app, "Edited by hand").await;
    let cursor = store.events_before(None, 1).await.unwrap()[0].seq;

    // Each change on disk (written beside and moved in, as git does) is seen by the first
    // read after it, whichever it is.
    let file = entry_files(&root)[0].clone();
    let replace = |e: &devlog_core::Entry| {
        let tmp = root.join("entries/.incoming.tmp");
        std::fs::write(&tmp, encode_entry(e)).unwrap();
        std::fs::rename(&tmp, &file).unwrap();
    };
    let mut changed = e.clone();
    changed.status = Status::Blocked;
    replace(&changed);
    assert_eq!(store.count_events(cursor, None).await.unwrap(), 1);

    changed.status = Status::Done;
    replace(&changed);
    let newest = store.events_before(None, 1).await.unwrap();
    assert_eq!(newest[0].origin, Origin::External);
    assert_eq!(
        newest[0].kind,
        EventKind::Completed {
            status: Status::Done
        }
    );
}

#[tokio::test]
async fn an_event_lost_to_a_crash_after_the_file_write_is_recovered() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join(".devlog");
    let store = open(&root).await;
    let app = Devlog::new(store.clone());
    let e = create(&app, "Crash test").await;
    let before = store.events(0, 100).await.unwrap().len();
    // Simulate a crash between the atomic file write and the index/event transaction: the
    // file has the new note, the index and the feed do not.
    let mut next = e.clone();
    next.notes.push(devlog_core::Note {
        id: "n-crash".into(),
        timestamp: e.updated_at,
        category: NoteCategory::Progress,
        content: "written just before the crash".into(),
        files: vec![],
        code_changes: None,
        extra: Default::default(),
    });
    std::fs::write(&entry_files(&root)[0], encode_entry(&next)).unwrap();
    drop(store);
    let store = open(&root).await;
    let evs = store.events(0, 100).await.unwrap();
    assert_eq!(evs.len(), before + 1);
    assert_eq!(
        evs.last().unwrap().kind,
        EventKind::NoteAdded {
            note_id: "n-crash".into(),
            category: NoteCategory::Progress
        }
    );
    assert_eq!(store.get(e.id).await.unwrap().notes.len(), 1);
}

#[tokio::test]
async fn a_deleted_index_is_rebuilt_from_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join(".devlog");
    {
        let app = Devlog::new(open(&root).await);
        for t in ["One", "Two", "Three"] {
            create(&app, t).await;
        }
    }
    std::fs::remove_dir_all(root.join(".state")).unwrap();
    let store = open(&root).await;
    assert_eq!(store.count().await.unwrap(), 3);
    let app = Devlog::new(store.clone());
    assert_eq!(app.resolve("#2").await.unwrap().title, "Two");
    assert_eq!(create(&app, "Four").await.handle, 4);
    // `reindex` re-reads everything without inventing events.
    let js = JsonStore::open(&root).await.unwrap();
    let n_events = js.events(0, 1000).await.unwrap().len();
    assert_eq!(js.reindex().await.unwrap(), 4);
    assert_eq!(js.events(0, 1000).await.unwrap().len(), n_events);
}

/// What an event says, without its `seq` (which a rebuilt feed renumbers).
fn said(e: &devlog_core::Event) -> String {
    let mut v = serde_json::to_value(e).unwrap();
    v.as_object_mut().unwrap().remove("seq");
    v.to_string()
}

#[tokio::test]
async fn the_change_history_survives_a_deleted_index_and_merges_in_git() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join(".devlog");
    let (before, feed) = {
        let store = open(&root).await;
        let app = Devlog::new(store.clone());
        let a = create(&app, "Kept history").await;
        let b = create(&app, "Deleted later").await;
        let meta = WriteMeta::new(Origin::Sync).with_actor(Some("sync:github".into()));
        store
            .update(a.id, &meta, &mut |e| {
                e.status = Status::InProgress;
                Ok(())
            })
            .await
            .unwrap();
        store.delete(b.id, &cli()).await.unwrap();
        let evs = store.events(0, 1000).await.unwrap();
        (evs, store.feed_id().await.unwrap())
    };
    assert!(before.len() >= 4, "{before:?}");
    // The history files are beside the entry files, marked for union merges in git.
    assert!(root.join("history").is_dir());
    let attrs = std::fs::read_to_string(root.join(".gitattributes")).unwrap();
    assert!(attrs.contains("history/*.jsonl merge=union"), "{attrs}");

    std::fs::remove_dir_all(root.join(".state")).unwrap();
    let store = open(&root).await;
    let after = store.events(0, 1000).await.unwrap();
    assert_ne!(store.feed_id().await.unwrap(), feed, "a new feed");
    // Who changed what, through what, survived; indexing the files added nothing.
    let mut want: Vec<String> = before.iter().map(said).collect();
    let mut got: Vec<String> = after.iter().map(said).collect();
    want.sort();
    got.sort();
    assert_eq!(got, want);
    // Writes after the rebuild go on appending; a second rebuild holds them too.
    let app = Devlog::new(store.clone());
    create(&app, "After the rebuild").await;
    let n = store.events(0, 1000).await.unwrap().len();
    assert_eq!(n, before.len() + 1);
    drop((app, store));
    std::fs::remove_dir_all(root.join(".state")).unwrap();
    let store = open(&root).await;
    assert_eq!(store.events(0, 1000).await.unwrap().len(), n);
    // An edit made outside devlog while there was no index is still seen (as external).
    drop(store);
    std::fs::remove_dir_all(root.join(".state")).unwrap();
    let f = entry_files(&root)[0].clone();
    let mut doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&f).unwrap()).unwrap();
    doc["title"] = "Renamed by hand".into();
    std::fs::write(&f, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    let store = open(&root).await;
    let evs = store.events(0, 1000).await.unwrap();
    assert_eq!(evs.len(), n, "the restored entry's file is taken as it is");
    assert_eq!(store.count().await.unwrap(), 2);
}

#[tokio::test]
async fn an_index_from_before_history_files_writes_its_feed_to_them() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join(".devlog");
    let n = {
        let store = open(&root).await;
        let app = Devlog::new(store.clone());
        create(&app, "One").await;
        create(&app, "Two").await;
        store.events(0, 1000).await.unwrap().len()
    };
    // As an index written by an older devlog: no history files, no history mark.
    std::fs::remove_dir_all(root.join("history")).unwrap();
    let pool = sqlx::SqlitePool::connect(&format!(
        "sqlite://{}",
        root.join(".state/index.sqlite").display()
    ))
    .await
    .unwrap();
    sqlx::query("DELETE FROM meta WHERE key = 'history_seq'")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    drop(open(&root).await);
    let lines: usize = std::fs::read_dir(root.join("history"))
        .unwrap()
        .flatten()
        .map(|f| std::fs::read_to_string(f.path()).unwrap().lines().count())
        .sum();
    assert_eq!(lines, n);
    std::fs::remove_dir_all(root.join(".state")).unwrap();
    assert_eq!(open(&root).await.events(0, 1000).await.unwrap().len(), n);
}

#[tokio::test]
async fn broken_files_are_reported_skipped_and_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join(".devlog");
    let store = open(&root).await;
    let app = Devlog::new(store.clone());
    let good = create(&app, "Good one").await;
    let bad = create(&app, "Bad one").await;
    let bad_file = entry_files(&root)
        .into_iter()
        .find(|p| p.to_string_lossy().contains("bad-one"))
        .unwrap();
    let cases: [(&str, &str); 4] = [
        ("{ \"id\": ", "not valid JSON"),
        ("\"status\": \"new\"", "status"),
        ("\"createdAt\": \"", "createdAt"),
        ("\"title\": \"Bad one\"", "title"),
    ];
    let original = std::fs::read_to_string(&bad_file).unwrap();
    for (needle, expect) in cases {
        let broken = match needle {
            "{ \"id\": " => "{ \"id\": ".to_string(),
            "\"status\": \"new\"" => original.replace(needle, "\"status\": \"wip\""),
            "\"createdAt\": \"" => original.replace(needle, "\"createdAt\": \"last tuesday"),
            _ => original.replace(needle, "\"title\": \"  \""),
        };
        std::fs::write(&bad_file, &broken).unwrap();
        // A new process sees an in-place edit at once (a running one within RESCAN_AFTER).
        let store = open(&root).await;
        let app = Devlog::new(store.clone());
        // Other entries stay readable, listable and searchable.
        let page = store.list(&ListQuery::default()).await.unwrap();
        let ids: Vec<_> = page.items.iter().map(|e| e.id).collect();
        assert!(
            ids.contains(&good.id) && !ids.contains(&bad.id),
            "case {expect}"
        );
        assert_eq!(app.resolve("#1").await.unwrap().id, good.id);
        // The broken one is reported with its file and field.
        let warnings = store.warnings().await.unwrap();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].contains("002-bad-one.json") && warnings[0].contains(expect),
            "{warnings:?}"
        );
        let err = app.resolve("#2").await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
        assert!(err.to_string().contains("002-bad-one.json"), "{err}");
        // Writing to it fails and leaves the bytes alone.
        let r = store
            .update(bad.id, &cli(), &mut |e: &mut devlog_core::Entry| {
                e.title = "clobber".into();
                Ok(())
            })
            .await;
        assert!(r.is_err());
        assert_eq!(std::fs::read_to_string(&bad_file).unwrap(), broken);
        // New entries never take the broken file's number.
        let fresh = create(&app, &format!("Fresh {expect}")).await;
        assert!(fresh.handle > 2);
    }
    // Fixing the file brings the entry back.
    std::fs::write(&bad_file, &original).unwrap();
    let store = open(&root).await;
    let app = Devlog::new(store.clone());
    assert_eq!(app.resolve("#2").await.unwrap().id, bad.id);
    assert!(store.warnings().await.unwrap().is_empty());
}

#[tokio::test]
async fn original_devlog_files_work_in_place_and_are_upgraded_on_write() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join(".devlog");
    std::fs::create_dir_all(root.join("entries")).unwrap();
    let legacy = r#"{
  "id": 12,
  "key": "legacy-entry",
  "title": "Legacy entry",
  "type": "feature",
  "description": "from the TypeScript tool",
  "status": "in-progress",
  "priority": "high",
  "createdAt": "2025-06-25T06:29:02.207Z",
  "updatedAt": "2025-06-25T06:34:06.058Z",
  "notes": [],
  "files": [],
  "relatedDevlogs": [],
  "context": {"businessContext": "", "technicalContext": "", "dependencies": [], "decisions": [], "acceptanceCriteria": [], "risks": []},
  "aiContext": {"currentSummary": "", "keyInsights": [], "openQuestions": [], "relatedPatterns": [], "suggestedNextSteps": [], "lastAIUpdate": "2025-06-25T06:29:02.207Z", "contextVersion": 1},
  "somethingNew": true
}"#;
    let file = root.join("entries/012-legacy-entry.json");
    std::fs::write(&file, legacy).unwrap();
    let store = open(&root).await;
    let app = Devlog::new(store.clone());
    let e = app.resolve("12").await.unwrap();
    assert_eq!((e.handle, e.legacy_id), (12, Some(12)));
    app.add_note(
        e.id,
        NewNote {
            content: "continued here".into(),
            category: NoteCategory::Progress,
            files: vec![],
            code_changes: None,
        },
        &cli(),
    )
    .await
    .unwrap();
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.contains(&format!("\"id\": \"{}\"", e.id)),
        "upgraded in place: {text}"
    );
    assert!(text.contains("\"legacyId\": 12"));
    assert!(
        text.contains("\"somethingNew\": true"),
        "unknown fields kept"
    );
    assert_eq!(app.resolve("12").await.unwrap().notes.len(), 1);
}

#[tokio::test]
async fn duplicate_handles_after_a_merge_are_repaired_the_same_way_everywhere() {
    // Two clones each created #3 offline; after the merge both files are present.
    let a = EntryBuilder::new("Mine").handle(3).times(10, 10).build();
    let b = EntryBuilder::new("Theirs").handle(3).times(5, 5).build();
    let c = EntryBuilder::new("Shared").handle(1).build();
    let make = |dir: &Path| {
        let root = dir.join(".devlog");
        std::fs::create_dir_all(root.join("entries")).unwrap();
        for (e, name) in [
            (&a, "003-mine.json"),
            (&b, "003-theirs.json"),
            (&c, "001-shared.json"),
        ] {
            std::fs::write(root.join("entries").join(name), encode_entry(e)).unwrap();
        }
        root
    };
    let d1 = tempfile::tempdir().unwrap();
    let d2 = tempfile::tempdir().unwrap();
    let (r1, r2) = (make(d1.path()), make(d2.path()));
    for root in [&r1, &r2] {
        let store = open(root).await;
        let app = Devlog::new(store.clone());
        // The older entry keeps #3; the newer one moves to the next free number.
        assert_eq!(app.resolve("#3").await.unwrap().id, b.id);
        assert_eq!(app.resolve("#4").await.unwrap().id, a.id);
        assert_eq!(store.count().await.unwrap(), 3);
    }
    let names = |r: &Path| {
        entry_files(r)
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(&r1),
        vec!["001-shared.json", "003-theirs.json", "004-mine.json"]
    );
    assert_eq!(names(&r1), names(&r2));
    for n in names(&r1) {
        assert_eq!(
            std::fs::read_to_string(r1.join("entries").join(&n)).unwrap(),
            std::fs::read_to_string(r2.join("entries").join(&n)).unwrap(),
            "both clones made the identical repair, so their next merge is clean"
        );
    }
}

#[tokio::test]
async fn in_place_edits_are_seen_by_new_processes_at_once_and_by_running_ones_within_the_rescan_interval()
 {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join(".devlog");
    let running = open(&root).await;
    let app = Devlog::new(running.clone());
    let e = create(&app, "Edited in place").await;
    running.list(&ListQuery::default()).await.unwrap();
    // An editor that truncates and rewrites the file leaves the folder's mtime alone.
    let mut changed = e.clone();
    changed.title = "Edited by hand".into();
    let file = entry_files(&root).remove(0);
    let dir_mtime = std::fs::metadata(root.join("entries"))
        .unwrap()
        .modified()
        .unwrap();
    std::fs::write(&file, encode_entry(&changed)).unwrap();
    assert_eq!(
        std::fs::metadata(root.join("entries"))
            .unwrap()
            .modified()
            .unwrap(),
        dir_mtime
    );
    // A new process (every CLI command) scans once and sees it.
    let fresh = open(&root).await;
    assert_eq!(
        fresh.list(&ListQuery::default()).await.unwrap().items[0].title,
        "Edited by hand"
    );
    // A running server sees it after at most RESCAN_AFTER.
    tokio::time::sleep(devlog_store::json::RESCAN_AFTER).await;
    assert_eq!(
        running.list(&ListQuery::default()).await.unwrap().items[0].title,
        "Edited by hand"
    );
}

#[tokio::test]
async fn large_folders_are_scanned_completely() {
    // Above the size where the scan stats files on several threads.
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join(".devlog");
    std::fs::create_dir_all(root.join("entries")).unwrap();
    let n = 2_500u64;
    let mut ids = Vec::new();
    for h in 1..=n {
        let e = EntryBuilder::new(&format!("Bulk {h}")).handle(h).build();
        ids.push(e.id);
        std::fs::write(
            root.join("entries").join(format!("{h:03}-bulk.json")),
            encode_entry(&e),
        )
        .unwrap();
    }
    let store = open(&root).await;
    assert_eq!(store.count().await.unwrap(), n);
    // Every file was seen: a change to the last one is picked up by the next process.
    let last = root.join("entries").join(format!("{n:03}-bulk.json"));
    let mut e = store.get(ids[n as usize - 1]).await.unwrap();
    e.title = "Bulk edited".into();
    std::fs::write(&last, encode_entry(&e)).unwrap();
    let store = open(&root).await;
    let hits = store
        .search(&SearchQuery {
            text: "edited".into(),
            ..SearchQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(hits.total, 1);
}

/// Writes `n` entry files as a `git clone` would leave them; returns the entries.
fn write_bulk(root: &Path, n: u64) -> Vec<devlog_core::Entry> {
    std::fs::create_dir_all(root.join("entries")).unwrap();
    (1..=n)
        .map(|h| {
            let e = EntryBuilder::new(&format!("Bulk {h:05}")).handle(h).build();
            std::fs::write(
                root.join("entries").join(format!("{h:05}-bulk.json")),
                encode_entry(&e),
            )
            .unwrap();
            e
        })
        .collect()
}

#[tokio::test]
async fn every_kind_of_outside_change_in_a_large_folder_is_seen_by_the_next_process() {
    // More files than one page of the index rows a full scan is compared with (4,096), and
    // than the size where files are stated on several threads: the changes sit in the first
    // page, between pages and in the last one.
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join(".devlog");
    let n = 4_500u64;
    let all = write_bulk(&root, n);
    let store = open(&root).await;
    assert_eq!(store.count().await.unwrap(), n);
    let cursor = store.events_before(None, 1).await.unwrap()[0].seq;
    drop(store);
    let entries = root.join("entries");
    let file = |h: u64| entries.join(format!("{h:05}-bulk.json"));

    // 1. Same-size edits in place (an editor that truncates and rewrites, a script's `>`):
    // neither the folder's mtime nor the file's size changes.
    let dir_mtime = std::fs::metadata(&entries).unwrap().modified().unwrap();
    let mut edited = Vec::new();
    for h in [1, 4_096, 4_097, n] {
        let mut e = all[h as usize - 1].clone();
        e.title = format!("Bulk {:05}", h + 90_000); // same length
        let before = std::fs::metadata(file(h)).unwrap().len();
        std::fs::write(file(h), encode_entry(&e)).unwrap();
        assert_eq!(std::fs::metadata(file(h)).unwrap().len(), before);
        edited.push(e);
    }
    assert_eq!(
        std::fs::metadata(&entries).unwrap().modified().unwrap(),
        dir_mtime
    );
    // 2. A rename (git's rename, `mv`): the same entry under a new name.
    std::fs::rename(file(2), entries.join("00002-renamed.json")).unwrap();
    // 3. A delete.
    std::fs::remove_file(file(4_200)).unwrap();
    // 4. A new file, named to sort between two pages.
    let new = EntryBuilder::new("Pulled later").handle(n + 1).build();
    std::fs::write(entries.join("04096-zz-pulled.json"), encode_entry(&new)).unwrap();

    let store = open(&root).await;
    assert_eq!(store.count().await.unwrap(), n); // one deleted, one new
    for e in &edited {
        assert_eq!(store.get(e.id).await.unwrap().title, e.title);
    }
    assert_eq!(store.get(all[1].id).await.unwrap().title, all[1].title);
    assert_eq!(
        store.get(all[4_199].id).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(store.get(new.id).await.unwrap().title, "Pulled later");
    let evs = store.events(cursor, 1_000).await.unwrap();
    assert!(evs.iter().all(|e| e.origin == Origin::External));
    let touched: std::collections::BTreeSet<_> = evs.iter().map(|e| e.entry_id).collect();
    let want: std::collections::BTreeSet<_> = edited
        .iter()
        .map(|e| e.id)
        .chain([all[4_199].id, new.id])
        .collect();
    // The rename is no change to the entry: no event for it.
    assert_eq!(touched, want);
    // The next process finds nothing more.
    drop(store);
    let store = open(&root).await;
    store.count().await.unwrap();
    assert_eq!(store.events(cursor, 1_000).await.unwrap().len(), evs.len());
}

#[tokio::test]
async fn a_watching_store_opens_with_its_watcher_caught_up_or_scans_itself_when_another_watches() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join(".devlog");
    write_bulk(&root, 30);
    // The watcher's first scan is the open's scan: when `open_watching` returns, it is done.
    let first = JsonStore::open_watching(&root).await.unwrap();
    assert!(first.is_watching());
    assert_eq!(first.count().await.unwrap(), 30);
    // Another long-running process stands by and checks the files itself.
    std::fs::remove_file(root.join("entries/00030-bulk.json")).unwrap();
    let second = JsonStore::open_watching(&root).await.unwrap();
    assert!(!second.is_watching());
    assert_eq!(second.count().await.unwrap(), 29);
}

/// The reports' in-memory index (`ReportIndex`, what `devlog serve` answers reports from)
/// starts over when the feed is rebuilt (the index deleted), and sees an edit made by hand
/// in an entry file (recorded as an `external` event): its reports stay equal to the store's.
#[tokio::test]
async fn the_report_index_follows_a_rebuilt_feed_and_hand_edits() {
    use devlog_core::reports::{By, ReportIndex, ReportName, ReportQuery};
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join(".devlog");
    let store = open(&root).await;
    let app = Devlog::new(store.clone());
    let a = create(&app, "One").await;
    create(&app, "Two").await;
    store
        .update(a.id, &cli(), &mut |e| {
            e.status = Status::InProgress;
            Ok(())
        })
        .await
        .unwrap();
    let mut ix = ReportIndex::build(store.as_ref()).await.unwrap();
    assert_eq!(ix.len(), 2);
    let feed = store.feed_id().await.unwrap();
    drop((app, store));

    let same = |store: Arc<dyn Store>, ix: ReportIndex, when: &'static str| async move {
        let clock = devlog_testkit::ManualClock::at(
            devlog_core::Clock::now(&devlog_core::SystemClock).millis() + 3_600_000,
        );
        let reader = Devlog::with_clock(store, Arc::new(clock));
        for name in [
            ReportName::Counts,
            ReportName::TimeInStatus,
            ReportName::Wip,
            ReportName::CycleTime,
            ReportName::Burndown,
        ] {
            let q = ReportQuery {
                by: if name == ReportName::Counts {
                    vec![By::Tag, By::Status]
                } else {
                    vec![]
                },
                ..ReportQuery::default()
            };
            let slow = reader.report(name, &q, None).await.unwrap();
            let fast = reader.report_indexed(&ix, name, &q, None).await.unwrap();
            assert_eq!(fast, slow, "{when}: {name}");
        }
    };

    // The index folder deleted: the store rebuilds its feed (a new feed id) from the files.
    std::fs::remove_dir_all(root.join(".state")).unwrap();
    let store = open(&root).await;
    assert_ne!(store.feed_id().await.unwrap(), feed);
    create(&Devlog::new(store.clone()), "Three").await;
    assert!(ix.refresh(store.as_ref()).await.unwrap());
    assert_eq!(ix.len(), 3);
    same(store.clone(), ix.clone(), "after the feed was rebuilt").await;

    // A tag added by hand in the first entry's file.
    let f = entry_files(&root)[0].clone();
    let mut doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&f).unwrap()).unwrap();
    doc["tags"] = serde_json::json!(["by-hand"]);
    std::fs::write(&f, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !store
        .tag_counts(&Filter::default())
        .await
        .unwrap()
        .contains_key("by-hand")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the edit was never seen"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(ix.refresh(store.as_ref()).await.unwrap());
    same(store.clone(), ix.clone(), "after a hand edit").await;
}
