//! The JSON store on storage that refuses writes: a read-only checkout (issue 12, item 2)
//! and a full disk (issue 13, item 6). Reads answer from the entry files with a warning;
//! writes fail with an error that says why and leave nothing behind.
//!
//! Root ignores file modes, and tests here run as root: such a test runs itself again in a
//! child process without the capabilities that bypass them (`setpriv`), and the full-disk
//! test runs in a private mount namespace with a small tmpfs (`unshare`).
#![cfg(target_os = "linux")] // file modes, setpriv, unshare and tmpfs
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use devlog_core::codec::encode_entry;
use devlog_core::error::ErrorKind;
use devlog_core::ops::{Devlog, NewEntry};
use devlog_core::{EventKind, ListQuery, Origin, SearchQuery, Store, WriteMeta};
use devlog_store::JsonStore;
use devlog_testkit::EntryBuilder;

/// Set in the child process that runs a test's body.
const CHILD: &str = "DEVLOG_TEST_CHILD";
/// The tmpfs mount point handed to the full-disk child.
const TMPFS: &str = "DEVLOG_TEST_TMPFS";

/// Runs test `name` of this binary again under `wrapper` and fails if it fails.
fn run_child(name: &str, wrapper: &[&str], env: &[(&str, &Path)]) {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = Command::new(wrapper[0]);
    cmd.args(&wrapper[1..])
        .arg(&exe)
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap_or_else(|e| {
        panic!("cannot run {wrapper:?} (needed to test as a user that file modes apply to): {e}")
    });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "child test failed:\n{text}");
    assert!(
        text.contains("1 passed"),
        "the child ran no test (wrong name?):\n{text}"
    );
}

fn is_child() -> bool {
    std::env::var_os(CHILD).is_some()
}

/// True when a folder's mode stops this process from creating files in it (false for root
/// with its usual capabilities).
fn modes_apply() -> bool {
    let dir = tempfile::tempdir().unwrap();
    let ro = dir.path().join("ro");
    std::fs::create_dir(&ro).unwrap();
    set_mode(&ro, 0o555);
    let denied = std::fs::File::create(ro.join("probe")).is_err();
    set_mode(&ro, 0o755);
    denied
}

fn set_mode(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Applies `dir_mode` to every folder and `file_mode` to every file under `root`.
fn chmod_tree(root: &Path, dir_mode: u32, file_mode: u32) {
    // Folders last on the way down when opening up, first when closing.
    for item in std::fs::read_dir(root).unwrap().flatten() {
        let p = item.path();
        if p.is_dir() {
            set_mode(&p, 0o755);
            chmod_tree(&p, dir_mode, file_mode);
            set_mode(&p, dir_mode);
        } else {
            set_mode(&p, file_mode);
        }
    }
    set_mode(root, dir_mode);
}

fn cli() -> WriteMeta {
    WriteMeta::new(Origin::Cli)
}

async fn create(
    app: &Devlog,
    title: &str,
    description: &str,
) -> devlog_core::Result<devlog_core::Entry> {
    app.create(
        NewEntry {
            title: title.into(),
            kind: Some(devlog_core::EntryType::Task),
            description: description.into(),
            ..NewEntry::default()
        },
        &cli(),
    )
    .await
    .map(|c| c.into_entry())
}

fn titles(items: &[devlog_core::EntrySummary]) -> Vec<String> {
    let mut t: Vec<String> = items.iter().map(|e| e.title.clone()).collect();
    t.sort();
    t
}

/// What `git pull` does to a checkout: one entry edited, one added.
fn pull_changes(root: &Path, edited: &devlog_core::Entry) {
    let mut e = edited.clone();
    e.title = "Edited upstream".into();
    let file = root
        .join("entries")
        .join(JsonStore::file_name(e.handle, &e.key));
    std::fs::write(&file, encode_entry(&e)).unwrap();
    let pulled = EntryBuilder::new("Pulled entry").handle(7).build();
    std::fs::write(
        root.join("entries/007-pulled-entry.json"),
        encode_entry(&pulled),
    )
    .unwrap();
}

fn temp_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|items| {
            items
                .flatten()
                .map(|i| i.file_name().to_string_lossy().to_string())
                .filter(|n| n.starts_with(".tmp-"))
                .collect()
        })
        .unwrap_or_default()
}

/// Checks reads and writes of a `.devlog` folder that was made read-only after `git pull`.
async fn check_read_only(root: &Path, expect: &[&str]) {
    let store: Arc<dyn Store> = Arc::new(JsonStore::open(root).await.unwrap());
    let page = store.list(&ListQuery::default()).await.unwrap();
    assert_eq!(titles(&page.items), expect);
    let warnings = store.warnings().await.unwrap();
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("could not be updated") && w.contains("read-only")),
        "{warnings:?}"
    );
    let hits = store
        .search(&SearchQuery {
            text: "pulled".into(),
            ..SearchQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(hits.items.len(), 1);
    let app = Devlog::new(store.clone());
    assert_eq!(app.resolve("#7").await.unwrap().title, "Pulled entry");
    assert_eq!(store.count().await.unwrap(), expect.len() as u64);

    let err = create(&app, "Not allowed", "").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Denied, "{err}");
    let message = err.to_string();
    assert!(message.contains("read-only"), "{message}");
    assert!(message.contains("writable"), "says what to do: {message}");
    let e = app.resolve("#7").await.unwrap();
    let err = app
        .store()
        .update(e.id, &cli(), &mut |e| {
            e.title = "x".into();
            Ok(())
        })
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Denied, "{err}");
}

#[tokio::test]
async fn a_read_only_checkout_answers_reads_from_the_files_and_refuses_writes_as_denied() {
    if !modes_apply() {
        assert!(
            !is_child(),
            "file modes do not apply even without capabilities"
        );
        // Root without the capabilities that bypass file modes.
        run_child(
            "a_read_only_checkout_answers_reads_from_the_files_and_refuses_writes_as_denied",
            &[
                "setpriv",
                "--bounding-set=-dac_override,-dac_read_search,-fowner",
                "--inh-caps=-all",
            ],
            &[],
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // A checkout that devlog used before: the index exists but is out of date after the pull.
    let used = dir.path().join("used/.devlog");
    // A fresh clone: no `.state` folder at all.
    let fresh = dir.path().join("fresh/.devlog");
    for root in [&used, &fresh] {
        let store = Arc::new(JsonStore::open(root).await.unwrap());
        let app = Devlog::new(store.clone());
        let first = create(&app, "First", "").await.unwrap();
        create(&app, "Second", "").await.unwrap();
        drop(app);
        drop(store);
        pull_changes(root, &first);
    }
    std::fs::remove_dir_all(fresh.join(".state")).unwrap();
    for root in [&used, &fresh] {
        chmod_tree(root.parent().unwrap(), 0o555, 0o444);
    }
    let expect = ["Edited upstream", "Pulled entry", "Second"];
    check_read_only(&used, &expect).await;
    check_read_only(&fresh, &expect).await;
    for root in [&used, &fresh] {
        chmod_tree(root.parent().unwrap(), 0o755, 0o644);
        assert!(temp_files(&root.join("entries")).is_empty());
    }
    // Writable again: the index catches up and records the pulled changes.
    let store = JsonStore::open(&used).await.unwrap();
    assert!(store.warnings().await.unwrap().is_empty());
    let events = store.events(0, 1000).await.unwrap();
    assert!(events.iter().any(|e| e.origin == Origin::External));
}

/// Fills the file system of `dir` completely, then frees `leave` bytes; returns the filler.
fn fill_disk(dir: &Path, leave: u64) -> PathBuf {
    let filler = dir.join("filler.bin");
    let mut f = std::fs::File::create(&filler).unwrap();
    let chunk = vec![0u8; 4096];
    while f.write_all(&chunk).is_ok() {}
    let _ = f.sync_all();
    let len = f.metadata().unwrap().len();
    f.set_len(len.saturating_sub(leave)).unwrap();
    filler
}

#[tokio::test]
async fn on_a_full_disk_reads_work_and_a_failed_create_leaves_no_trace() {
    let Some(mount) = std::env::var_os(TMPFS).filter(|_| is_child()) else {
        let dir = tempfile::tempdir().unwrap();
        run_child(
            "on_a_full_disk_reads_work_and_a_failed_create_leaves_no_trace",
            &[
                "unshare",
                "--user",
                "--map-root-user",
                "--mount",
                "sh",
                "-c",
                "mount -t tmpfs -o size=4m devlog-full \"$DEVLOG_TEST_TMPFS\" && exec \"$@\"",
                "sh",
            ],
            &[(TMPFS, dir.path())],
        );
        return;
    };
    let root = PathBuf::from(mount).join(".devlog");
    let store: Arc<dyn Store> = Arc::new(JsonStore::open(&root).await.unwrap());
    let app = Devlog::new(store.clone());
    create(&app, "Small", "").await.unwrap();

    // Room for the new entry's file (~330 KB), not for its index pages (40,000 distinct words,
    // each a row of the word index, about 1 MB): the write of the file succeeds and the index
    // transaction fails.
    let big: String = (0..40_000).map(|i| format!("w{i} ")).collect();
    let filler = fill_disk(root.parent().unwrap(), 512 * 1024);
    let err = create(&app, "Big", &big).await.unwrap_err();
    assert!(
        err.to_string().contains("full") || err.to_string().contains("space"),
        "{err}"
    );
    assert!(temp_files(&root.join("entries")).is_empty());
    let names: Vec<String> = std::fs::read_dir(root.join("entries"))
        .unwrap()
        .flatten()
        .map(|i| i.file_name().to_string_lossy().to_string())
        .collect();
    assert_eq!(
        names,
        vec!["001-small.json"],
        "the failed create left its file"
    );

    // Reads on the full disk, also when the files changed and the index cannot follow.
    assert_eq!(
        titles(&store.list(&ListQuery::default()).await.unwrap().items),
        ["Small"]
    );
    // 40,000 different words: the full-text index needs an entry for each, more room than
    // the disk has left (repeated words would index into a few pages); the file itself fits.
    let words: String = (0..40_000).map(|i| format!("w{i} ")).collect();
    let pulled = EntryBuilder::new("Pulled")
        .handle(5)
        .description(&words)
        .build();
    std::fs::write(root.join("entries/005-pulled.json"), encode_entry(&pulled)).unwrap();
    let page = store.list(&ListQuery::default()).await.unwrap();
    assert_eq!(titles(&page.items), ["Pulled", "Small"]);
    let warnings = store.warnings().await.unwrap();
    assert!(
        warnings.iter().any(|w| w.contains("could not be updated")),
        "{warnings:?}"
    );

    // Space again: the pulled entry is recorded, the failed create never is.
    std::fs::remove_file(filler).unwrap();
    let page = store.list(&ListQuery::default()).await.unwrap();
    assert_eq!(titles(&page.items), ["Pulled", "Small"]);
    let warnings = store.warnings().await.unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    let events = store.events(0, 1000).await.unwrap();
    let created: Vec<(u64, Origin)> = events
        .iter()
        .filter(|e| e.kind == EventKind::Created)
        .map(|e| (e.handle, e.origin))
        .collect();
    assert_eq!(created, vec![(1, Origin::Cli), (5, Origin::External)]);
}
