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
