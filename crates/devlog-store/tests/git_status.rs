//! What devlog writes inside `.devlog/` that must never reach git shows as ignored in a real
//! `git status`: the sqlite backend's database and SQLite's files beside it (issue 12, item
//! 11), and temp files a killed writer left behind (issue 13, item 7), which are also removed
//! once stale.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime};

use devlog_core::ops::{Devlog, NewEntry};
use devlog_core::{EntryType, Origin, Store, WriteMeta};
use devlog_store::{JsonStore, SqliteStore};

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git is installed");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `git status` of a fresh repository: the paths git would offer to add.
fn untracked(repo: &Path) -> Vec<String> {
    let mut v: Vec<String> = git(repo, &["status", "--porcelain", "--untracked-files=all"])
        .lines()
        .map(|l| l.trim_start_matches("?? ").to_string())
        .collect();
    v.sort();
    v
}

fn repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    git(dir.path(), &["init", "-q"]);
    dir
}

async fn create(store: std::sync::Arc<dyn Store>, title: &str) {
    Devlog::new(store)
        .create(
            NewEntry {
                title: title.into(),
                kind: Some(EntryType::Task),
                ..NewEntry::default()
            },
            &WriteMeta::new(Origin::Cli),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn the_sqlite_database_and_its_wal_and_shm_files_are_git_ignored() {
    let dir = repo();
    let db = dir.path().join(".devlog/devlog.sqlite");
    let store = std::sync::Arc::new(SqliteStore::open(&db).await.unwrap());
    create(store.clone(), "First").await;
    // While the store is open SQLite keeps devlog.sqlite-wal and -shm beside the database.
    assert!(dir.path().join(".devlog/devlog.sqlite-wal").exists());
    assert_eq!(untracked(dir.path()), vec![".devlog/.gitignore"]);
    let ignore = std::fs::read_to_string(dir.path().join(".devlog/.gitignore")).unwrap();
    assert!(ignore.contains("/devlog.sqlite-journal"), "{ignore}");
    // Opening again adds nothing twice.
    drop(store);
    SqliteStore::open(&db).await.unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.path().join(".devlog/.gitignore")).unwrap(),
        ignore
    );
}

#[tokio::test]
async fn a_sqlite_database_outside_dot_devlog_leaves_gitignore_alone() {
    let dir = repo();
    let db = dir.path().join("data/devlog.sqlite");
    SqliteStore::open(&db).await.unwrap();
    assert!(!dir.path().join("data/.gitignore").exists());
    assert!(!dir.path().join(".gitignore").exists());
}

fn set_age(path: &Path, age: Duration) {
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(SystemTime::now() - age)
        .unwrap();
}

#[tokio::test]
async fn temp_files_of_killed_writers_are_git_ignored_and_removed_when_stale() {
    let dir = repo();
    let root = dir.path().join(".devlog");
    // A .gitignore written by an older devlog, before temp files were ignored.
    std::fs::create_dir_all(root.join("entries")).unwrap();
    std::fs::write(root.join(".gitignore"), "# mine\n.state/\n").unwrap();
    let store = std::sync::Arc::new(JsonStore::open(&root).await.unwrap());
    create(store.clone(), "First").await;
    drop(store);
    let stale = root.join("entries/.tmp-AbC123.partial");
    let recent = root.join("entries/.tmp-XyZ789.partial");
    let stale_top = root.join(".tmp-Gi7ign.partial");
    for p in [&stale, &recent, &stale_top] {
        std::fs::write(p, "{ \"half\": ").unwrap();
    }
    set_age(&stale, Duration::from_secs(120));
    set_age(&stale_top, Duration::from_secs(3600));
    // What devlog keeps in git: the entry, its change history, the two git files.
    let untracked: Vec<String> = untracked(dir.path())
        .into_iter()
        .filter(|p| !(p.starts_with(".devlog/history/") && p.ends_with(".jsonl")))
        .collect();
    assert_eq!(
        untracked,
        vec![
            ".devlog/.gitattributes",
            ".devlog/.gitignore",
            ".devlog/entries/001-first.json"
        ],
        "temp files are ignored"
    );
    let ignore = std::fs::read_to_string(root.join(".gitignore")).unwrap();
    assert!(
        ignore.starts_with("# mine\n.state/\n"),
        "the user's lines stay: {ignore}"
    );

    let store = JsonStore::open(&root).await.unwrap();
    assert!(
        !stale.exists() && !stale_top.exists(),
        "stale temp files are removed on open"
    );
    assert!(
        recent.exists(),
        "a recent one may belong to a writer at work"
    );
    assert_eq!(store.count().await.unwrap(), 1);
}

/// Two clones change the same entry: git conflicts on the entry file (which `devlog repos`
/// merges field by field), never on its history file, which is merged by union (issue 14).
#[tokio::test]
async fn history_files_merge_by_union_in_git() {
    let dir = repo();
    let r = dir.path();
    let root = r.join(".devlog");
    let store: std::sync::Arc<dyn Store> =
        std::sync::Arc::new(JsonStore::open(&root).await.unwrap());
    create(store.clone(), "Shared").await;
    let id = store.all().await.unwrap()[0].id;
    drop(store);
    git(r, &["add", "-A"]);
    git(
        r,
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@e",
            "commit",
            "-qm",
            "base",
        ],
    );
    let base = git(r, &["rev-parse", "--abbrev-ref", "HEAD"]);
    let base = base.trim();
    let edit = |title: &'static str| {
        let root = root.clone();
        async move {
            let store = JsonStore::open(&root).await.unwrap();
            store
                .update(id, &WriteMeta::new(Origin::Cli), &mut |e| {
                    e.title = title.into();
                    Ok(())
                })
                .await
                .unwrap();
        }
    };
    git(r, &["checkout", "-qb", "other"]);
    edit("Theirs").await;
    git(r, &["add", "-A"]);
    git(
        r,
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@e",
            "commit",
            "-qm",
            "theirs",
        ],
    );
    git(r, &["checkout", "-q", base]);
    edit("Ours").await;
    git(r, &["add", "-A"]);
    git(
        r,
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@e",
            "commit",
            "-qm",
            "ours",
        ],
    );
    let merged = Command::new("git")
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@e",
            "merge",
            "-q",
            "other",
        ])
        .current_dir(r)
        .output()
        .unwrap();
    assert!(!merged.status.success(), "the entry file itself conflicts");
    let conflicted = git(r, &["diff", "--name-only", "--diff-filter=U"]);
    assert!(conflicted.contains(".devlog/entries/"), "{conflicted}");
    assert!(!conflicted.contains("history"), "{conflicted}");
    let history = std::fs::read_to_string(root.join(format!("history/{id}.jsonl"))).unwrap();
    assert!(
        history.contains("Ours") && history.contains("Theirs"),
        "{history}"
    );
}
