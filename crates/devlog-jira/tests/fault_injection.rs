//! Exactly-once with Jira under crashes: a real sync process (`jira_sync_once`), aborted at
//! each crash point of pull, push, note posting and worklog logging in turn, then restarted
//! against the same fake Jira: one issue per entry (found by its marker property), one comment
//! per note (found by its comment property), one Jira worklog per local worklog (found by its
//! worklog property) — no duplicate worklog ever —, no note or worklog from our own, the local
//! edits made before the crash reach Jira, and time logged in Jira comes back once.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use devlog_core::entry::{EntryType, NoteCategory};
use devlog_core::ops::{Devlog, Edit, NewEntry, NewNote};
use devlog_core::planning::{NewWorklog, WorklogEdit};
use devlog_core::{Origin, Store, WriteMeta};
use devlog_sync::failpoint;
use devlog_testkit::fake_jira::{FakeJira, adf_plain};
use devlog_testkit::fake_remote::{FakeRemote, Fault};

const TOKEN: &str = "jira_fault_injection_token";

/// Every crash point a Jira sync passes (recovery is covered by the engine's own test).
fn points() -> Vec<&'static str> {
    failpoint::ALL
        .iter()
        .chain(failpoint::NOTES)
        .chain(failpoint::WORKLOGS)
        .copied()
        .filter(|p| *p != "push.recover.before-record")
        .collect()
}

fn driver() -> PathBuf {
    // target/<profile>/deps/<test> → target/<profile>/examples/jira_sync_once
    let exe = std::env::current_exe().unwrap();
    let path = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join("jira_sync_once");
    if !path.is_file() {
        // `cargo test` builds examples; `cargo test --test fault_injection` does not.
        let status = Command::new(env!("CARGO"))
            .args(["build", "-p", "devlog-jira", "--example", "jira_sync_once"])
            .status()
            .unwrap();
        assert!(
            status.success(),
            "building the jira_sync_once driver failed"
        );
    }
    path
}

/// Runs one sync process; returns whether it crashed.
fn run_sync(dir: &Path, url: &str, point: Option<&str>) -> bool {
    let mut c = Command::new(driver());
    c.env("DEVLOG_DIR", dir)
        .env("JIRA_BASE_URL", url)
        .env("JIRA_API_TOKEN", TOKEN);
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

async fn log(app: &Devlog, id: devlog_core::id::EntryId, duration: &str, date: &str, note: &str) {
    app.log_time(
        id,
        NewWorklog {
            duration: duration.into(),
            date: Some(date.into()),
            note: note.into(),
            author: Some("dev".into()),
        },
        &meta(),
    )
    .await
    .unwrap();
}

fn issue_of(jira: &FakeJira, id: devlog_core::id::EntryId) -> Vec<String> {
    jira.issues()
        .into_iter()
        .filter(|i| {
            i.properties.get("devlog").and_then(|p| p.get("id"))
                == Some(&serde_json::json!(id.to_string()))
        })
        .map(|i| i.key)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jira_sync_killed_at_any_step_resumes_without_loss_or_duplicates() {
    assert!(driver().is_file());
    assert_eq!(points().len(), 9, "{:?}", points());
    for point in points() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join(".devlog");
        let b = FakeRemote::builder().without_tracker();
        let st = b.state();
        // Jira's clock is ours (give or take): pulls reach back from now.
        if let Ok(d) = (chrono::Utc::now() - st.now()).to_std() {
            st.advance(d);
        }
        let jira = FakeJira::new(b.state(), "DEV");
        let remote = b.routes(jira.router()).start().await;
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
            log(
                &app,
                e.id,
                "1h30m",
                "2026-12-01",
                &format!("{t}: first day"),
            )
            .await;
            ids.push(e.id);
        }
        let later = point.starts_with("push.update") || point == "pull.before-cursor";
        if later {
            // Everything linked first; then a local edit and a new note, and a comment in
            // Jira for the pull to bring.
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
            log(&app, ids[0], "45m", "2026-12-02", "").await;
            let first = app.store().get(ids[0]).await.unwrap().worklogs[0]
                .id
                .clone();
            app.edit_worklog(
                ids[0],
                &first,
                WorklogEdit {
                    duration: Some("2h".into()),
                    ..WorklogEdit::default()
                },
                &meta(),
            )
            .await
            .unwrap();
            let key = issue_of(&jira, ids[1]).pop().unwrap();
            jira.add_comment(&key, "Carol", "Beta: from Jira").unwrap();
            jira.add_worklog(
                &key,
                "Carol",
                "2026-12-03T14:00:00.000+0100",
                3600,
                "review",
            )
            .unwrap();
        }
        assert!(
            run_sync(&dir, &url, Some(point)),
            "{point}: the crash point was reached"
        );
        if point == "push.worklog.before-record" {
            // The pull would adopt the logged worklog by its marker first: make this run's
            // pull fail, so the push must find it itself (`find_worklog`) instead of logging
            // it twice.
            remote.inject(Fault::on("POST /rest/api/3/search/jql").status(400));
            assert!(!run_sync(&dir, &url, Some("unreached")), "{point}");
        }
        // Restart: converges, and a further sync has nothing left to do.
        assert!(!run_sync(&dir, &url, None));
        assert!(!run_sync(&dir, &url, None));

        let app = open(&dir).await;
        assert_eq!(
            jira.issues().len(),
            2,
            "{point}: exactly two issues created"
        );
        for id in &ids {
            let e = app.store().get(*id).await.unwrap();
            let mine = issue_of(&jira, *id);
            assert_eq!(mine.len(), 1, "{point}: one issue for #{}", e.handle);
            let issue = jira.issue(&mine[0]).unwrap();
            assert_eq!(issue.summary, e.title, "{point}: title of #{}", e.handle);
            let mut texts: Vec<String> = jira
                .comments(&mine[0])
                .iter()
                .map(|c| adf_plain(&c.body))
                .collect();
            texts.sort();
            let mut notes: Vec<String> = e.notes.iter().map(|n| n.content.clone()).collect();
            notes.sort();
            assert_eq!(
                texts, notes,
                "{point}: one comment per note of #{}",
                e.handle
            );
            // One Jira worklog per worklog (ours carry their marker; Carol's came back once).
            let mut remote: Vec<(String, u64)> = jira
                .worklogs(&mine[0])
                .iter()
                .map(|w| (w.started[..10].to_string(), w.seconds))
                .collect();
            remote.sort();
            let mut local: Vec<(String, u64)> = e
                .worklogs
                .iter()
                .map(|w| (w.date.to_string(), u64::from(w.minutes) * 60))
                .collect();
            local.sort();
            assert_eq!(
                remote, local,
                "{point}: one Jira worklog per worklog of #{}",
                e.handle
            );
            let ours = jira
                .worklogs(&mine[0])
                .iter()
                .filter(|w| w.properties.contains_key("devlog"))
                .count();
            let pulled = e
                .worklogs
                .iter()
                .filter(|w| w.extra.contains_key("source"))
                .count();
            assert_eq!(ours + pulled, e.worklogs.len(), "{point}: #{}", e.handle);
            let minutes: u64 = e.worklogs.iter().map(|w| u64::from(w.minutes)).sum();
            assert_eq!(
                e.actual_hours,
                Some(devlog_core::planning::hours_of(minutes)),
                "{point}: actualHours of #{}",
                e.handle
            );
        }
        if later {
            let alpha = app.store().get(ids[0]).await.unwrap();
            assert_eq!(alpha.title, "Alpha (edited)", "{point}");
            assert_eq!(alpha.notes.len(), 2, "{point}");
            let beta = app.store().get(ids[1]).await.unwrap();
            assert_eq!(beta.notes.len(), 2, "{point}: the comment pulled once");
            assert_eq!(alpha.worklogs.len(), 2, "{point}");
            assert_eq!(alpha.worklogs[0].minutes, 120, "{point}: the edit kept");
            assert_eq!(
                beta.worklogs.len(),
                2,
                "{point}: the Jira worklog pulled once"
            );
            let carol = &beta.worklogs[1];
            assert_eq!(
                (carol.author.as_str(), carol.minutes, carol.note.as_str()),
                ("Carol", 60, "review"),
                "{point}"
            );
            assert_eq!(carol.date.to_string(), "2026-12-03", "{point}");
            assert_eq!(beta.actual_hours, Some(2.5), "{point}: Carol's hour counts");
        }
    }
}
