//! A machine-local sync.sqlite beside a server store is imported into the store's database
//! once: rows verified, the file renamed, a note returned; importing the same file again (a
//! crash between the commit and the rename) changes nothing.

use devlog_core::id::EntryId;
use devlog_core::sync_state::{CursorKind, JobState, LinkState};
use devlog_store::{StoreSpec, open_sync_state};

use crate::old_sync_file::write_old_file;
use crate::support::{Kind, with_db};

async fn imports_once(kind: Kind, test: &str) {
    with_db(kind, test, move |url| async move {
        let dir = tempfile::tempdir().unwrap();
        let state_dir = dir.path().join(".state");
        std::fs::create_dir_all(&state_dir).unwrap();
        let local = state_dir.join("sync.sqlite");
        let entry = EntryId::new_random();
        write_old_file(&local, &entry.to_string()).await;
        let spec = match kind {
            Kind::Postgres => StoreSpec::Postgres { url: url.clone() },
            Kind::Mysql => StoreSpec::Mysql { url: url.clone() },
        };

        let opened = open_sync_state(&spec, &state_dir).await.unwrap();
        let note = opened.note.expect("a note about the import");
        assert!(note.contains("1 links"), "{note}");
        assert!(note.contains("1 finished jobs not copied"), "{note}");
        assert!(
            !note.contains(url.expose()) || url.expose() == url.redacted(),
            "{note}"
        );
        assert!(!local.exists(), "the file is renamed");
        let kept: Vec<_> = std::fs::read_dir(&state_dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("sync.sqlite.imported-"))
            .collect();
        assert_eq!(kept.len(), 1, "{kept:?}");

        let s = opened.state;
        let l = s.link("github", entry).await.unwrap().unwrap();
        assert_eq!(
            (l.state, l.remote_id.as_deref()),
            (LinkState::Linked, Some("42"))
        );
        assert_eq!(l.base.unwrap().title, "t");
        assert_eq!(
            s.cursor("github", CursorKind::Pull)
                .await
                .unwrap()
                .as_deref(),
            Some("p-7")
        );
        let jobs = s.open_jobs().await.unwrap();
        assert_eq!(jobs.len(), 1, "only the job not done: {jobs:?}");
        assert_eq!((jobs[0].state, jobs[0].attempts), (JobState::Dead, 3));
        assert_eq!(s.held_fields("github", entry).await.unwrap(), ["title"]);
        assert!(s.delivery_seen("github", "d-1").await.unwrap());
        assert_eq!(s.note_links("github", entry).await.unwrap().len(), 1);
        let w = s.worklog_links("jira", entry).await.unwrap();
        assert_eq!((w.len(), w[0].remote_id.as_deref()), (1, Some("worklog:5")));
        assert!(s.action_applied("github", "comment:c1").await.unwrap());
        assert_eq!(
            s.attached_entry("github", "pull-request", "9")
                .await
                .unwrap(),
            Some(entry)
        );

        // Opening again: nothing to import.
        let again = open_sync_state(&spec, &state_dir).await.unwrap();
        assert!(again.note.is_none());

        // The same file back in place (as if the rename had not happened): recognised, and
        // nothing is copied twice.
        std::fs::rename(state_dir.join(&kept[0]), &local).unwrap();
        let third = open_sync_state(&spec, &state_dir).await.unwrap();
        let note = third.note.unwrap();
        assert!(note.contains("already imported"), "{note}");
        assert_eq!(third.state.open_jobs().await.unwrap().len(), 1);
        assert_eq!(third.state.open_conflicts().await.unwrap().len(), 1);

        // Another machine's file with the same link: the shared state keeps its row.
        let other = EntryId::new_random();
        write_old_file(&local, &other.to_string()).await;
        let fourth = open_sync_state(&spec, &state_dir).await.unwrap();
        let note = fourth.note.unwrap();
        // Its link names remote item 42, already linked to the first entry here.
        assert!(note.contains("0 links (1 already there)"), "{note}");
        let links = fourth.state.links().await.unwrap();
        assert_eq!(links.len(), 1, "{links:?}");
        assert_eq!(links[0].entry_id, entry);
    })
    .await;
}

#[tokio::test]
async fn postgres_imports_a_machine_local_sync_state_once() {
    imports_once(Kind::Postgres, "postgres_imports_sync_state").await;
}

#[tokio::test]
async fn mysql_imports_a_machine_local_sync_state_once() {
    imports_once(Kind::Mysql, "mysql_imports_sync_state").await;
}

/// Several commands started at once on the machine (each opens the sync state): the file is
/// imported once, every opener succeeds, and the file is kept exactly once.
async fn concurrent_openers_import_once(kind: Kind, test: &str) {
    with_db(kind, test, move |url| async move {
        let dir = tempfile::tempdir().unwrap();
        let state_dir = dir.path().join(".state");
        std::fs::create_dir_all(&state_dir).unwrap();
        let entry = EntryId::new_random();
        write_old_file(&state_dir.join("sync.sqlite"), &entry.to_string()).await;
        let spec = match kind {
            Kind::Postgres => StoreSpec::Postgres { url: url.clone() },
            Kind::Mysql => StoreSpec::Mysql { url: url.clone() },
        };
        let mut tasks = Vec::new();
        for _ in 0..4 {
            let (spec, state_dir) = (spec.clone(), state_dir.clone());
            tasks.push(tokio::spawn(async move {
                open_sync_state(&spec, &state_dir).await.unwrap()
            }));
        }
        let mut opened = Vec::new();
        for t in tasks {
            opened.push(t.await.unwrap());
        }
        let s = &opened[0].state;
        assert_eq!(s.links().await.unwrap().len(), 1);
        assert_eq!(s.open_jobs().await.unwrap().len(), 1);
        assert_eq!(s.open_conflicts().await.unwrap().len(), 1);
        let names: Vec<_> = std::fs::read_dir(&state_dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("sync.sqlite"))
            .collect();
        assert!(!names.iter().any(|n| n == "sync.sqlite"), "{names:?}");
        let kept: Vec<_> = names
            .iter()
            .filter(|n| !n.ends_with("-wal") && !n.ends_with("-shm"))
            .collect();
        assert_eq!(kept.len(), 1, "{names:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_concurrent_openers_import_once() {
    concurrent_openers_import_once(Kind::Postgres, "postgres_concurrent_import").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_concurrent_openers_import_once() {
    concurrent_openers_import_once(Kind::Mysql, "mysql_concurrent_import").await;
}

/// The workflow engine's rows (migration 0043) come along: runs (without the old machine's
/// lease), claims, the change-feed cursor and schedule states; rows the shared state already
/// has stay as they are, and the file's `integration` cursor, which counts the file's own
/// integration events, is not carried over.
async fn imports_workflow_runs_claims_and_cursors(kind: Kind, test: &str) {
    use devlog_core::sync_state::{SyncStateStore, WorkflowRun, WorkflowRunState};
    const T0: i64 = 1_735_689_600_000;
    const HOUR: i64 = 3_600_000;
    with_db(kind, test, move |url| async move {
        let dir = tempfile::tempdir().unwrap();
        let state_dir = dir.path().join(".state");
        std::fs::create_dir_all(&state_dir).unwrap();
        let local = state_dir.join("sync.sqlite");
        let run = |id: &str, state: WorkflowRunState, at: i64| WorkflowRun {
            id: id.into(),
            workflow: "triage".into(),
            state,
            entry: Some(EntryId::new_random()),
            wake_at: state.is_parked().then_some(at + HOUR),
            started_at: at,
            updated_at: at,
            record: serde_json::json!({"id": id, "steps": [{"path": "0", "output": "ü"}]}),
        };
        let running = run("a1", WorkflowRunState::Running, T0);
        let waiting = run("b2", WorkflowRunState::Waiting, T0 + 1);
        let dead = run("c3", WorkflowRunState::Dead, T0 + 2);
        {
            let file = devlog_store::SqliteSyncState::open(&local).await.unwrap();
            assert!(
                file.start_workflow_run(&running, "old-host:1:x", T0, 24 * HOUR)
                    .await
                    .unwrap()
            );
            file.save_workflow_run(&waiting).await.unwrap();
            file.save_workflow_run(&dead).await.unwrap();
            assert!(file.workflow_claim("triage", "change-1", T0).await.unwrap());
            file.set_workflow_cursor("feed", "12").await.unwrap();
            file.set_workflow_cursor("schedule:nightly", "{\"last\":1}")
                .await
                .unwrap();
            file.set_workflow_cursor("integration", "500")
                .await
                .unwrap();
            file.close().await;
        }
        // The shared state already has a feed cursor (another machine's follower).
        let shared: std::sync::Arc<dyn SyncStateStore> = match kind {
            Kind::Postgres => {
                std::sync::Arc::new(devlog_store::PostgresSyncState::open(&url).await.unwrap())
            }
            Kind::Mysql => {
                std::sync::Arc::new(devlog_store::MysqlSyncState::open(&url).await.unwrap())
            }
        };
        shared.set_workflow_cursor("feed", "20").await.unwrap();
        let spec = match kind {
            Kind::Postgres => StoreSpec::Postgres { url: url.clone() },
            Kind::Mysql => StoreSpec::Mysql { url: url.clone() },
        };

        let opened = open_sync_state(&spec, &state_dir).await.unwrap();
        let note = opened.note.expect("a note about the import");
        for want in [
            "3 workflow runs",
            "1 workflow claims",
            "1 workflow cursors (1 already there)",
        ] {
            assert!(note.contains(want), "{want}: {note}");
        }
        let s = opened.state;
        assert_eq!(s.workflow_run("a1").await.unwrap().unwrap(), running);
        assert_eq!(s.workflow_run("b2").await.unwrap().unwrap(), waiting);
        assert_eq!(s.workflow_run("c3").await.unwrap().unwrap(), dead);
        // The old machine's lease is not copied: a worker here takes the running run at once.
        assert!(
            s.lease_workflow_run("a1", "new-host:2:y", T0, HOUR)
                .await
                .unwrap()
        );
        assert_eq!(
            ids(s.due_workflow_runs(T0 + 2 * HOUR).await.unwrap()),
            ["a1", "b2"]
        );
        assert!(!s.workflow_claim("triage", "change-1", T0).await.unwrap());
        assert_eq!(
            s.workflow_cursor("schedule:nightly")
                .await
                .unwrap()
                .as_deref(),
            Some("{\"last\":1}")
        );
        assert_eq!(
            s.workflow_cursor("feed").await.unwrap().as_deref(),
            Some("20")
        );
        assert_eq!(s.workflow_cursor("integration").await.unwrap(), None);

        // The same file again: recognised, nothing copied twice.
        let kept = std::fs::read_dir(&state_dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| {
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                name.starts_with("sync.sqlite.imported-")
                    && !name.ends_with("-wal")
                    && !name.ends_with("-shm")
            })
            .unwrap();
        std::fs::rename(&kept, &local).unwrap();
        let again = open_sync_state(&spec, &state_dir).await.unwrap();
        assert!(again.note.unwrap().contains("already imported"));
        assert_eq!(
            again
                .state
                .workflow_runs(None, None, 0)
                .await
                .unwrap()
                .len(),
            3
        );
    })
    .await;
}

fn ids(runs: Vec<devlog_core::sync_state::WorkflowRun>) -> Vec<String> {
    runs.into_iter().map(|r| r.id).collect()
}

#[tokio::test]
async fn postgres_imports_workflow_runs_claims_and_cursors() {
    imports_workflow_runs_claims_and_cursors(Kind::Postgres, "postgres_imports_workflow_rows")
        .await;
}

#[tokio::test]
async fn mysql_imports_workflow_runs_claims_and_cursors() {
    imports_workflow_runs_claims_and_cursors(Kind::Mysql, "mysql_imports_workflow_rows").await;
}
