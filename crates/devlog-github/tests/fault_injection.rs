//! Exactly-once with GitHub under crashes: a real sync process (`github_sync_once`), aborted at
//! each crash point of pull, push and note posting in turn, then restarted against the same
//! fake GitHub: one issue per entry, one comment per note, no note from our own comments, and
//! the local edit made before the crash reaches GitHub.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use devlog_core::entry::{EntryType, NoteCategory};
use devlog_core::ops::{Devlog, Edit, NewEntry, NewNote};
use devlog_core::{Origin, Store, WriteMeta};
use devlog_github::marker;
use devlog_sync::failpoint;
use devlog_testkit::fake_github::FakeGithub;
use devlog_testkit::fake_remote::FakeRemote;

const TOKEN: &str = "ghp_fault_injection";

/// Every crash point a GitHub sync passes (recovery is covered by the engine's own test).
fn points() -> Vec<&'static str> {
    failpoint::ALL
        .iter()
        .chain(failpoint::NOTES)
        .copied()
        .filter(|p| *p != "push.recover.before-record")
        .collect()
}

fn driver() -> PathBuf {
    // target/<profile>/deps/<test> → target/<profile>/examples/github_sync_once
    let exe = std::env::current_exe().unwrap();
    let path = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join("github_sync_once");
    if !path.is_file() {
        // `cargo test` builds examples; `cargo test --test fault_injection` does not.
        let status = Command::new(env!("CARGO"))
            .args([
                "build",
                "-p",
                "devlog-github",
                "--example",
                "github_sync_once",
            ])
            .status()
            .unwrap();
        assert!(
            status.success(),
            "building the github_sync_once driver failed"
        );
    }
    path
}

/// Runs one sync process; returns whether it crashed.
fn run_sync(dir: &Path, url: &str, point: Option<&str>) -> bool {
    let mut c = Command::new(driver());
    c.env("DEVLOG_DIR", dir)
        .env("GITHUB_API_URL", url)
        .env("GITHUB_TOKEN", TOKEN);
    if let Some(p) = point {
        c.env("DEVLOG_FAILPOINT", p);
    }
    let out = c.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.success() {
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(
            point.is_some() || report["failed"].as_array().unwrap().is_empty(),
            "{report}"
        );
        return false;
    }
    assert!(
        point.is_some() && stderr.contains("aborting"),
        "sync failed without its crash point: {stderr}"
    );
    true
}

async fn open(dir: &Path) -> Devlog {
    Devlog::new(Arc::new(devlog_store::JsonStore::open(dir).await.unwrap()) as Arc<dyn Store>)
}

fn meta() -> WriteMeta {
    WriteMeta::new(Origin::Cli)
}

async fn note(app: &Devlog, id: devlog_core::id::EntryId, text: &str) {
    app.add_note(
        id,
        NewNote {
            content: text.into(),
            category: NoteCategory::Progress,
            files: Vec::new(),
            code_changes: None,
        },
        &meta(),
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_github_sync_killed_at_any_step_resumes_without_loss_or_duplicates() {
    assert!(driver().is_file());
    assert_eq!(points().len(), 7, "{:?}", points());
    for point in points() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join(".devlog");
        let b = FakeRemote::builder().without_tracker();
        let gh = FakeGithub::new(b.state(), "acme", "widgets", TOKEN);
        let remote = b.routes(gh.router()).start().await;
        let url = remote.url();
        let app = open(&dir).await;
        let mut ids = Vec::new();
        for t in ["Alpha", "Beta"] {
            let e = app
                .create(
                    NewEntry {
                        title: t.into(),
                        kind: Some(EntryType::Feature),
                        ..NewEntry::default()
                    },
                    &meta(),
                )
                .await
                .unwrap()
                .into_entry();
            note(&app, e.id, &format!("{t}: first note")).await;
            ids.push(e.id);
        }
        let later = point.starts_with("push.update") || point == "pull.before-cursor";
        if later {
            // Everything linked first; then a local edit and a new note, and a comment on
            // GitHub for the pull to bring.
            assert!(!run_sync(&dir, &url, None));
            app.edit(
                ids[0],
                Edit {
                    title: Some("Alpha (edited)".into()),
                    ..Edit::default()
                },
                &meta(),
            )
            .await
            .unwrap();
            note(&app, ids[0], "Alpha: second note").await;
            let n = gh
                .issues()
                .iter()
                .find(|i| {
                    i.body
                        .as_deref()
                        .unwrap_or_default()
                        .contains(&marker(ids[1]))
                })
                .unwrap()
                .number;
            gh.add_comment(n, "hubot", "Beta: from GitHub").unwrap();
        }
        assert!(
            run_sync(&dir, &url, Some(point)),
            "{point}: the crash point was reached"
        );
        // Restart: converges, and a further sync has nothing left to do.
        assert!(!run_sync(&dir, &url, None));
        assert!(!run_sync(&dir, &url, None));

        let app = open(&dir).await;
        assert_eq!(
            gh.issues_created(),
            2,
            "{point}: exactly two issues created"
        );
        for id in &ids {
            let e = app.store().get(*id).await.unwrap();
            let mine: Vec<_> = gh
                .issues()
                .into_iter()
                .filter(|i| i.body.as_deref().unwrap_or_default().contains(&marker(*id)))
                .collect();
            assert_eq!(mine.len(), 1, "{point}: one issue for #{}", e.handle);
            assert_eq!(mine[0].title, e.title, "{point}: title of #{}", e.handle);
            let comments = gh.comments(mine[0].number);
            let mut texts: Vec<String> = comments
                .iter()
                .map(|c| c.body.split("\n\n<!--").next().unwrap().to_string())
                .collect();
            texts.sort();
            let mut notes: Vec<String> = e.notes.iter().map(|n| n.content.clone()).collect();
            notes.sort();
            assert_eq!(
                texts, notes,
                "{point}: one comment per note of #{}",
                e.handle
            );
        }
        if later {
            let alpha = app.store().get(ids[0]).await.unwrap();
            assert_eq!(alpha.title, "Alpha (edited)", "{point}");
            assert_eq!(alpha.notes.len(), 2, "{point}");
            let beta = app.store().get(ids[1]).await.unwrap();
            assert_eq!(beta.notes.len(), 2, "{point}: the comment pulled once");
        }
    }
}
