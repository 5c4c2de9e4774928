//! Exactly-once under crashes: a real sync process, killed (aborted) at each crash point of
//! push and pull in turn, then restarted; the fake remote and the local store are compared —
//! zero duplicates, zero lost changes.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use devlog_core::entry::{EntryType, Status};
use devlog_core::ops::{Devlog, Edit, NewEntry};
use devlog_core::{Origin, Store, WriteMeta};
use devlog_sync::failpoint;
use devlog_testkit::fake_remote::{FakeRemote, Fault};

fn driver() -> PathBuf {
    // target/<profile>/deps/<test> → target/<profile>/examples/sync_once
    let exe = std::env::current_exe().unwrap();
    let path = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join("sync_once");
    if !path.is_file() {
        // `cargo test` builds examples; `cargo test --test fault_injection` does not.
        let status = Command::new(env!("CARGO"))
            .args(["build", "-p", "devlog-sync", "--example", "sync_once"])
            .status()
            .unwrap();
        assert!(status.success(), "building the sync_once driver failed");
    }
    path
}

/// Runs one sync process; returns whether it crashed.
fn run_sync(dir: &Path, url: &str, point: Option<&str>) -> bool {
    let mut c = Command::new(driver());
    c.env("DEVLOG_DIR", dir).env("TRACKER_URL", url);
    if let Some(p) = point {
        c.env("DEVLOG_FAILPOINT", p);
    }
    let out = c.output().unwrap();
    let crashed = !out.status.success();
    if crashed && point.is_none() {
        panic!(
            "sync failed without a crash point: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    if crashed {
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("aborting"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    crashed
}

async fn open(dir: &Path) -> Devlog {
    Devlog::new(Arc::new(devlog_store::JsonStore::open(dir).await.unwrap()) as Arc<dyn Store>)
}

fn meta() -> WriteMeta {
    WriteMeta::new(Origin::Cli)
}

/// Both sides agree: one remote item per entry (no duplicate), same fields.
async fn assert_converged(dir: &Path, remote: &FakeRemote, point: &str) {
    let app = open(dir).await;
    let entries = app.store().all().await.unwrap();
    let items = remote.items();
    assert_eq!(
        items.len(),
        entries.len(),
        "{point}: one remote item per entry, no duplicates: {items:#?}"
    );
    for e in &entries {
        let mine: Vec<_> = items
            .iter()
            .filter(|i| i.marker.as_deref() == Some(&e.id.to_string()))
            .collect();
        assert_eq!(mine.len(), 1, "{point}: exactly one item for #{}", e.handle);
        assert_eq!(mine[0].title, e.title, "{point}: title of #{}", e.handle);
        assert_eq!(
            mine[0].status,
            e.status.as_str(),
            "{point}: status of #{}",
            e.handle
        );
    }
}

/// The audit log verifies and holds exactly one record of each entry's remote item being
/// created (created, or recovered after a crash: one effect id), whatever crashed where.
async fn assert_effects_audited_once(dir: &Path, ids: &[devlog_core::id::EntryId], point: &str) {
    use devlog_core::audit::{Action, RemoteEffect, Stored, Verifier, What};
    let store = open(dir).await.store().clone();
    let log = store.audit_log().unwrap();
    let mut v = Verifier::new();
    let mut records = Vec::new();
    for item in log.audit_page(0, usize::MAX).await.unwrap() {
        v.check_stored(&item)
            .unwrap_or_else(|b| panic!("{point}: {b}"));
        if let Stored::Record(r) = item {
            records.push(r);
        }
    }
    for id in ids {
        let created: Vec<_> = records
            .iter()
            .filter(|r| {
                r.entry_id == Some(*id)
                    && matches!(
                        &r.what,
                        What::Action(Action::RemoteEffect {
                            effect: RemoteEffect::ItemCreated | RemoteEffect::ItemRecovered,
                            ..
                        })
                    )
            })
            .collect();
        assert_eq!(
            created.len(),
            1,
            "{point}: one audit record of the remote item of {id}: {created:#?}"
        );
        assert_eq!(created[0].actor.as_deref(), Some("sync:tracker"), "{point}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_killed_at_any_step_resumes_without_loss_or_duplicates() {
    assert!(
        driver().is_file(),
        "the sync_once example is built by `cargo test`: {}",
        driver().display()
    );
    for point in failpoint::ALL {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join(".devlog");
        let remote = FakeRemote::start().await;
        let url = remote.url();
        let app = open(&dir).await;
        let mut ids = Vec::new();
        for t in ["Alpha", "Beta", "Gamma"] {
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
                .unwrap();
            ids.push(e.into_entry().id);
        }
        let create_phase = point.starts_with("push.create") || point.starts_with("push.recover");
        if !create_phase {
            // Get everything linked first, then change both sides.
            assert!(!run_sync(&dir, &url, None));
            app.edit(
                ids[0],
                Edit {
                    title: Some("Alpha (local edit)".into()),
                    ..Edit::default()
                },
                &meta(),
            )
            .await
            .unwrap();
            let remote_id: u64 = remote
                .items()
                .iter()
                .find(|i| i.marker.as_deref() == Some(&ids[1].to_string()))
                .unwrap()
                .id;
            remote.edit_item(remote_id, |i| i.status = "blocked".into());
        }
        let point_for_run = if *point == "push.recover.before-record" {
            "push.create.before-record"
        } else {
            point
        };
        let crashed = run_sync(&dir, &url, Some(point_for_run));
        assert!(crashed, "{point}: the crash point was reached");
        if *point == "push.recover.before-record" {
            // Second crash, inside the recovery of the create that reached the remote. The pull
            // would adopt the item by its marker first, so make this run's pull fail: the push
            // must then find the item itself.
            remote.inject(Fault::on("GET /items").status(503).times(1));
            assert!(
                run_sync(&dir, &url, Some(point)),
                "{point}: recovery crash point reached"
            );
        }
        // Restart: converges, and a further sync has nothing left to do.
        assert!(!run_sync(&dir, &url, None));
        assert!(!run_sync(&dir, &url, None));
        assert_converged(&dir, &remote, point).await;
        if !create_phase {
            let app = open(&dir).await;
            assert_eq!(
                app.store().get(ids[0]).await.unwrap().title,
                "Alpha (local edit)",
                "{point}: local edit kept"
            );
            assert_eq!(
                app.store().get(ids[1]).await.unwrap().status,
                Status::Blocked,
                "{point}: remote edit pulled"
            );
        }
        let created = remote.items_created();
        assert_eq!(created, 3, "{point}: the remote saw exactly three creates");
        assert_effects_audited_once(&dir, &ids, point).await;
    }
}
