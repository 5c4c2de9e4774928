//! The JSON backend's file-system monitor (issue 15, target 3): a watching store applies
//! changes made outside devlog to the index as they happen and vouches for it, and a process
//! that gets no answer scans the folder as before, so no change is ever missed.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use devlog_core::codec::encode_entry;
use devlog_core::{Entry, ListQuery, Store};
use devlog_store::JsonStore;
use devlog_store::fsmonitor::{self, Vouch};
use devlog_store::index::SqlIndex;
use devlog_testkit::EntryBuilder;

/// Guards against a hang; not a timing assertion.
const HANG: Duration = Duration::from_secs(30);

fn state(root: &Path) -> PathBuf {
    root.join(".state")
}

fn file(root: &Path, handle: u64, slug: &str) -> PathBuf {
    root.join("entries")
        .join(format!("{handle:03}-{slug}.json"))
}

fn write(root: &Path, e: &Entry, slug: &str) -> PathBuf {
    let path = file(root, e.handle, slug);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, encode_entry(e)).unwrap();
    path
}

/// A store that watches its folder, once its watcher has done its first scan.
async fn watching(root: &Path) -> Arc<JsonStore> {
    let store = Arc::new(JsonStore::open(root).await.unwrap());
    assert!(store.watch(), "a local folder is watched");
    let start = Instant::now();
    while !store.is_watching() {
        assert!(start.elapsed() < HANG, "the watcher never started");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    store
}

/// What the index on disk holds, read without bringing it up to date: titles by handle.
async fn indexed(root: &Path) -> Vec<(u64, String)> {
    let index = SqlIndex::open(&state(root).join("index.sqlite"), "json", false)
        .await
        .unwrap();
    let mut v: Vec<(u64, String)> = index
        .list(&ListQuery {
            limit: 1000,
            ..ListQuery::default()
        })
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|s| (s.handle, s.title))
        .collect();
    v.sort();
    v
}

/// Waits until the watcher has applied every change made so far (it answers a cookie only then).
async fn settled(root: &Path) {
    assert_eq!(fsmonitor::ask(&state(root), HANG).await, Vouch::Answered);
}

/// Opens the store as a CLI command does, until a watcher's answer (not a scan) was what
/// made it trust the index: the answer can come late on a loaded machine, and then the
/// command scans instead, which is right but not what this checks.
async fn cli_vouched(root: &Path) -> JsonStore {
    let start = Instant::now();
    loop {
        let store = JsonStore::open(root).await.unwrap();
        if store.watcher_vouched() {
            return store;
        }
        assert!(start.elapsed() < HANG, "the watcher never vouched");
    }
}

fn titles(page: &[devlog_core::EntrySummary]) -> Vec<(u64, String)> {
    let mut v: Vec<(u64, String)> = page.iter().map(|s| (s.handle, s.title.clone())).collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watcher_applies_new_edited_deleted_and_renamed_files_and_vouches_for_the_index() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join(".devlog");
    let a = EntryBuilder::new("Alpha title").handle(1).build();
    write(&root, &a, "alpha");
    let _watcher = watching(&root).await;
    assert_eq!(indexed(&root).await, [(1, "Alpha title".to_string())]);

    // A new file.
    let b = EntryBuilder::new("Bravo").handle(2).build();
    write(&root, &b, "bravo");
    settled(&root).await;
    assert_eq!(
        indexed(&root).await,
        [(1, "Alpha title".to_string()), (2, "Bravo".to_string())]
    );

    // An in-place edit of the same size: only its mtime says it changed.
    let before = std::fs::metadata(file(&root, 1, "alpha")).unwrap().len();
    let mut edited = a.clone();
    edited.title = "Alpha TITLE".into();
    write(&root, &edited, "alpha");
    assert_eq!(
        std::fs::metadata(file(&root, 1, "alpha")).unwrap().len(),
        before
    );
    settled(&root).await;
    assert_eq!(indexed(&root).await[0], (1, "Alpha TITLE".to_string()));

    // A rename (as `git mv` does) and a delete.
    std::fs::rename(file(&root, 2, "bravo"), file(&root, 2, "bravo-renamed")).unwrap();
    std::fs::remove_file(file(&root, 1, "alpha")).unwrap();
    settled(&root).await;
    assert_eq!(indexed(&root).await, [(2, "Bravo".to_string())]);

    // A CLI command trusts the index on the watcher's word and sees the same.
    let cli = cli_vouched(&root).await;
    let page = cli.list(&ListQuery::default()).await.unwrap();
    assert_eq!(titles(&page.items), [(2, "Bravo".to_string())]);
    // Cookies are answered by removing them: nothing is left behind, and nothing is reported.
    let left: Vec<_> = std::fs::read_dir(state(&root).join(fsmonitor::DIR))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .filter(|n| n != "watcher.lock")
        .collect();
    assert!(left.is_empty(), "{left:?}");
    assert!(cli.warnings().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watching_process_sees_in_place_edits_without_waiting_for_a_rescan() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join(".devlog");
    let a = EntryBuilder::new("Original").handle(1).build();
    write(&root, &a, "a");
    let watcher = watching(&root).await;
    watcher.list(&ListQuery::default()).await.unwrap();
    let mut edited = a.clone();
    edited.title = "Replaced".into();
    write(&root, &edited, "a");
    settled(&root).await;
    // Within RESCAN_AFTER of its last scan, so only the watcher can have told it.
    let page = watcher.list(&ListQuery::default()).await.unwrap();
    assert_eq!(titles(&page.items), [(1, "Replaced".to_string())]);
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.invalid")
        .output()
        .expect("git is installed");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_git_checkout_of_another_branch_is_applied_by_the_watcher() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path();
    let root = repo.join(".devlog");
    git(repo, &["init", "-q", "-b", "main"]);
    let a = EntryBuilder::new("On main").handle(1).build();
    write(&root, &a, "shared");
    let b = EntryBuilder::new("Only on main").handle(2).build();
    write(&root, &b, "main-only");
    git(repo, &["add", ".devlog/entries"]);
    git(repo, &["commit", "-q", "-m", "main"]);
    git(repo, &["checkout", "-q", "-b", "topic"]);
    let mut a2 = a.clone();
    a2.title = "On topic".into();
    write(&root, &a2, "shared");
    std::fs::remove_file(file(&root, 2, "main-only")).unwrap();
    let c = EntryBuilder::new("Only on topic").handle(3).build();
    write(&root, &c, "topic-only");
    git(repo, &["add", "-A", ".devlog/entries"]);
    git(repo, &["commit", "-q", "-m", "topic"]);
    git(repo, &["checkout", "-q", "main"]);

    let _watcher = watching(&root).await;
    assert_eq!(
        indexed(&root).await,
        [(1, "On main".to_string()), (2, "Only on main".to_string())]
    );
    git(repo, &["checkout", "-q", "topic"]);
    settled(&root).await;
    assert_eq!(
        indexed(&root).await,
        [
            (1, "On topic".to_string()),
            (3, "Only on topic".to_string())
        ]
    );
    let cli = cli_vouched(&root).await;
    assert_eq!(cli.count().await.unwrap(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watcher_that_does_not_answer_makes_readers_scan() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join(".devlog");
    let a = EntryBuilder::new("Before the edit").handle(1).build();
    write(&root, &a, "a");
    JsonStore::open(&root).await.unwrap();
    // A "watcher" that holds the lock and never answers: one whose events are lost, one that
    // hangs, or one on another machine of a network file system.
    let dir_fsm = state(&root).join(fsmonitor::DIR);
    std::fs::create_dir_all(&dir_fsm).unwrap();
    let lock = File::create(dir_fsm.join("watcher.lock")).unwrap();
    lock.lock().unwrap();
    let mut edited = a.clone();
    edited.title = "After the edit!".into();
    write(&root, &edited, "a");
    assert_eq!(
        fsmonitor::ask(&state(&root), Duration::from_millis(1)).await,
        Vouch::NoAnswer
    );
    let cli = JsonStore::open(&root).await.unwrap();
    assert!(!cli.watcher_vouched());
    let page = cli.list(&ListQuery::default()).await.unwrap();
    assert_eq!(titles(&page.items), [(1, "After the edit!".to_string())]);
    // Its cookies are removed by the askers that gave up.
    let left = std::fs::read_dir(&dir_fsm).unwrap().count();
    assert_eq!(left, 1, "only the lock file is left");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_live_watcher_nobody_vouches_even_if_its_lock_file_is_left() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join(".devlog");
    let a = EntryBuilder::new("Stale lock").handle(1).build();
    write(&root, &a, "a");
    let watcher = watching(&root).await;
    drop(watcher);
    // The dropped store's watcher ends and the kernel frees its lock; the file stays.
    let start = Instant::now();
    while fsmonitor::ask(&state(&root), Duration::from_millis(1)).await != Vouch::NoWatcher {
        assert!(start.elapsed() < HANG, "the watcher never stopped");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(
        state(&root)
            .join(fsmonitor::DIR)
            .join("watcher.lock")
            .exists()
    );
    let mut edited = a.clone();
    edited.title = "Seen by a scan".into();
    write(&root, &edited, "a");
    let cli = JsonStore::open(&root).await.unwrap();
    assert!(!cli.watcher_vouched());
    let page = cli.list(&ListQuery::default()).await.unwrap();
    assert_eq!(titles(&page.items), [(1, "Seen by a scan".to_string())]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_watcher_stands_by_and_takes_over_when_the_first_stops() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join(".devlog");
    write(&root, &EntryBuilder::new("One").handle(1).build(), "one");
    let first = watching(&root).await;
    let second = Arc::new(JsonStore::open(&root).await.unwrap());
    assert!(second.watch());
    tokio::time::sleep(fsmonitor::STANDBY_RETRY * 2).await;
    assert!(!second.is_watching(), "only one watcher at a time");
    drop(first);
    let start = Instant::now();
    while !second.is_watching() {
        assert!(
            start.elapsed() < HANG,
            "the standby watcher never took over"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    write(&root, &EntryBuilder::new("Two").handle(2).build(), "two");
    settled(&root).await;
    assert_eq!(indexed(&root).await.len(), 2);
}
