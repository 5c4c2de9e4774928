//! `devlog sync --plan` shows the pull side (what a pull would bring, which fields would
//! conflict) without changing anything, and the sync that follows does what the plan said.
//! Also: retry delays come from the engine's injected random source and clock.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::sync::Arc;
use std::time::Duration;

use devlog_core::entry::{EntryType, Priority};
use devlog_core::merge::{FieldSet, SyncedField};
use devlog_core::ops::{Devlog, Edit, NewEntry};
use devlog_core::{Origin, Store, WriteMeta};
use devlog_sync::{PlannedOp, SyncEngine, SyncOptions, SyncState};
use devlog_testkit::fake_remote::{FakeRemote, Fault};
use devlog_testkit::tracker::TrackerIntegration;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::json;

struct Rig {
    app: Devlog,
    remote: FakeRemote,
    engine: SyncEngine,
    _dir: tempfile::TempDir,
}

async fn rig(opts: SyncOptions) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join(".devlog");
    let store: Arc<dyn Store> = Arc::new(devlog_store::JsonStore::open(&root).await.unwrap());
    let state = SyncState::open(&root.join(".state/sync.sqlite"))
        .await
        .unwrap();
    let remote = FakeRemote::start().await;
    let tracker = TrackerIntegration::new(&remote.url()).unwrap();
    let engine = SyncEngine::new(store.clone(), state, vec![Arc::new(tracker)], opts);
    Rig {
        app: Devlog::new(store),
        remote,
        engine,
        _dir: dir,
    }
}

fn cli() -> WriteMeta {
    WriteMeta::new(Origin::Cli)
}

fn quiet(_: u64, _: u64) {}

async fn synced_entry(r: &Rig, title: &str) -> (devlog_core::EntryId, u64) {
    let e = r
        .app
        .create(
            NewEntry {
                title: title.into(),
                kind: Some(EntryType::Task),
                ..NewEntry::default()
            },
            &cli(),
        )
        .await
        .unwrap()
        .into_entry();
    let rep = r.engine.sync(None, None, &quiet).await.unwrap();
    assert_eq!((rep.created, rep.failed.len()), (1, 0), "{rep:?}");
    let item = r.remote.items_with_marker(&e.id.to_string());
    assert_eq!(item.len(), 1);
    (e.id, item[0].id)
}

#[tokio::test]
async fn the_plan_shows_a_pull_conflict_and_the_sync_records_exactly_it() {
    let r = rig(SyncOptions::default()).await;
    let (id, item) = synced_entry(&r, "Original").await;
    // Both sides change the title; locally the priority changes too.
    r.remote
        .edit_item(item, |i| i.title = "Remote title".into())
        .unwrap();
    r.app
        .edit(
            id,
            Edit {
                title: Some("Local title".into()),
                priority: Some(Priority::High),
                ..Edit::default()
            },
            &cli(),
        )
        .await
        .unwrap();
    let cursor = r
        .engine
        .state()
        .cursor("tracker", devlog_sync::CursorKind::Pull)
        .await
        .unwrap();
    r.remote.clear_requests();

    let plan = r.engine.plan(None, None, true).await.unwrap();
    let conflicts: Vec<&PlannedOp> = plan
        .iter()
        .filter(|o| matches!(o, PlannedOp::Conflict { .. }))
        .collect();
    assert_eq!(conflicts.len(), 1, "{plan:#?}");
    let PlannedOp::Conflict {
        field,
        local,
        remote,
        entry_id,
        ..
    } = conflicts[0]
    else {
        unreachable!()
    };
    assert_eq!(
        (*field, local, remote, *entry_id),
        (
            SyncedField::Title,
            &json!("Local title"),
            &json!("Remote title"),
            id
        )
    );
    // The push side is planned on what the pull leaves: the title is held, the priority sent.
    let updates: Vec<FieldSet> = plan
        .iter()
        .filter_map(|o| match o {
            PlannedOp::Update { fields, .. } => Some(*fields),
            _ => None,
        })
        .collect();
    assert_eq!(updates, vec![FieldSet::from([SyncedField::Priority])]);
    assert!(
        plan.iter()
            .any(|o| matches!(o, PlannedOp::Pull { items: Some(1), .. })),
        "{plan:#?}"
    );
    let text: Vec<String> = plan.iter().map(ToString::to_string).collect();
    assert!(
        text.iter().any(|t| t.contains("conflict on title of #1")),
        "{text:?}"
    );
    // Planning only read the remote and changed nothing here.
    let requests = r.remote.requests();
    assert!(!requests.is_empty());
    assert!(
        requests.iter().all(|q| q.method == "GET"),
        "{:?}",
        requests.iter().map(|q| q.line()).collect::<Vec<_>>()
    );
    assert_eq!(
        r.engine
            .state()
            .cursor("tracker", devlog_sync::CursorKind::Pull)
            .await
            .unwrap(),
        cursor
    );
    assert!(r.engine.state().open_conflicts().await.unwrap().is_empty());
    assert_eq!(
        r.app.store().get(id).await.unwrap().title,
        "Local title",
        "the plan applied nothing"
    );

    // The sync records exactly the planned conflict and pushes exactly the planned update.
    let rep = r.engine.sync(None, None, &quiet).await.unwrap();
    assert_eq!((rep.conflicts, rep.updated), (1, 1), "{rep:?}");
    let recorded = r.engine.state().open_conflicts().await.unwrap();
    assert_eq!(recorded.len(), 1);
    assert_eq!(
        (
            recorded[0].entry_id,
            recorded[0].field.field,
            &recorded[0].field.local,
            &recorded[0].field.remote
        ),
        (id, SyncedField::Title, local, remote)
    );
    let after = r.remote.item(item).unwrap();
    assert_eq!(after.title, "Remote title", "a held field is not pushed");
    assert!(after.labels.contains(&"priority:high".to_string()));
    // Nothing is left to plan but the held conflict.
    let plan = r.engine.plan(None, None, true).await.unwrap();
    assert!(
        plan.iter()
            .all(|o| matches!(o, PlannedOp::Pull { .. } | PlannedOp::Conflict { .. })),
        "{plan:#?}"
    );
}

#[tokio::test]
async fn the_plan_shows_what_a_pull_would_take_from_the_remote() {
    let r = rig(SyncOptions::default()).await;
    let (id, item) = synced_entry(&r, "Original").await;
    r.remote
        .edit_item(item, |i| i.description = "Written remotely".into())
        .unwrap();
    let plan = r.engine.plan(None, Some(id), true).await.unwrap();
    assert!(
        plan.iter().any(
            |o| matches!(o, PlannedOp::PullUpdate { fields, entry_id, .. }
            if *fields == FieldSet::from([SyncedField::Description]) && *entry_id == id)
        ),
        "{plan:#?}"
    );
    assert!(!plan.iter().any(PlannedOp::is_push), "{plan:#?}");
    assert_eq!(r.app.store().get(id).await.unwrap().description, "");
    let rep = r.engine.sync(None, None, &quiet).await.unwrap();
    assert_eq!(
        (rep.applied, rep.updated, rep.conflicts),
        (1, 0, 0),
        "{rep:?}"
    );
    assert_eq!(
        r.app.store().get(id).await.unwrap().description,
        "Written remotely"
    );
}

#[tokio::test]
async fn a_failing_pull_is_shown_in_the_plan_and_the_push_side_still_planned() {
    let r = rig(SyncOptions::default()).await;
    r.app
        .create(
            NewEntry {
                title: "New".into(),
                kind: Some(EntryType::Task),
                ..NewEntry::default()
            },
            &cli(),
        )
        .await
        .unwrap();
    r.remote.inject(Fault::on("GET /items").status(503));
    let plan = r.engine.plan(None, None, true).await.unwrap();
    assert!(
        plan.iter()
            .any(|o| matches!(o, PlannedOp::Pull { error: Some(_), .. })),
        "{plan:#?}"
    );
    assert!(
        plan.iter().any(|o| matches!(o, PlannedOp::Create { .. })),
        "{plan:#?}"
    );
}

#[tokio::test]
async fn an_unknown_integration_is_an_engine_error_of_its_own() {
    let r = rig(SyncOptions::default()).await;
    let e = r.engine.plan(Some("jira"), None, false).await.unwrap_err();
    assert!(
        matches!(&e, devlog_sync::EngineError::UnknownIntegration { name, enabled }
            if name == "jira" && enabled == &vec!["tracker".to_string()]),
        "{e:?}"
    );
    assert!(e.to_string().contains("enabled: tracker"), "{e}");
}

#[tokio::test]
async fn retry_delays_come_from_the_injected_random_source_and_clock() {
    let opts = SyncOptions {
        base_delay_ms: 1_000,
        max_delay_ms: 60_000,
        ..SyncOptions::default()
    };
    let clock = Arc::new(devlog_testkit::ManualClock::at(1_800_000_000_000));
    let mut r = rig(opts).await;
    r.engine = r
        .engine
        .clone()
        .with_clock(clock.clone())
        .with_rng(StdRng::seed_from_u64(42));
    r.app
        .create(
            NewEntry {
                title: "Fails".into(),
                kind: Some(EntryType::Task),
                ..NewEntry::default()
            },
            &cli(),
        )
        .await
        .unwrap();
    r.remote
        .inject(Fault::on("POST /items").status(503).times(2));
    // The same seed gives the same draws: the first and second retries' delays.
    let mut expect = StdRng::seed_from_u64(42);
    let (base, max) = (Duration::from_secs(1), Duration::from_secs(60));
    let mut draws =
        (0..2).map(|attempt| devlog_core::backoff::backoff_delay(&mut expect, attempt, base, max));
    for attempt in 1..=2 {
        let now = clock.millis();
        let rep = r.engine.sync(None, None, &quiet).await.unwrap();
        assert_eq!(rep.failed.len(), 1, "{rep:?}");
        let job = r.engine.state().open_jobs().await.unwrap().remove(0);
        assert_eq!(job.attempts, attempt);
        let delay = draws.next().unwrap().as_millis() as i64;
        assert_eq!(job.next_at, now + delay, "attempt {attempt}");
        // Time passes until the retry is due.
        clock.set(job.next_at);
    }
    let rep = r.engine.sync(None, None, &quiet).await.unwrap();
    assert_eq!((rep.created, rep.failed.len()), (1, 0), "{rep:?}");
}
