//! Schedules against a real SQLite store with an injected clock: the first look starts
//! counting, an on-time slot runs once (also across two engines sharing the run folder),
//! the missed-run policies after downtime, conditions on the slot, load-time errors.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use devlog_core::event::Origin;
use devlog_core::store::ListQuery;
use devlog_core::{Clock, Devlog, Store, Timestamp};
use devlog_store::StoreSpec;
use devlog_workflow::runs::{Cause, RunState};
use devlog_workflow::{Engine, RunStore, parse};

#[path = "common/clock.rs"]
mod clock;
use clock::ManualClock;

#[path = "common/runs.rs"]
mod runs;

struct World {
    _dir: tempfile::TempDir,
    clock: Arc<ManualClock>,
    store: Arc<dyn Store>,
    app: Devlog,
    runs: RunStore,
}

impl World {
    async fn new(start: &str) -> World {
        let dir = tempfile::tempdir().unwrap();
        let spec = StoreSpec::from_name("sqlite", dir.path(), None).unwrap();
        let store = devlog_store::open(&spec).await.unwrap();
        let clock = Arc::new(ManualClock(Mutex::new(start.parse().unwrap())));
        let app = Devlog::with_clock(store.clone(), clock.clone());
        World {
            runs: runs::run_store(dir.path()).await,
            _dir: dir,
            clock,
            store,
            app,
        }
    }

    fn engine(&self, files: &[&str]) -> Engine {
        let loaded = files
            .iter()
            .enumerate()
            .map(|(i, t)| parse(&format!("w{i}.yml"), t).unwrap())
            .collect();
        Engine::new(
            self.app.clone(),
            loaded,
            BTreeSet::new(),
            self.runs.clone(),
            Origin::Cli,
        )
    }

    async fn titles(&self) -> Vec<String> {
        let mut t: Vec<String> = self
            .store
            .list(&ListQuery::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|e| e.title)
            .collect();
        t.sort();
        t
    }
}

fn weekly(missed: &str) -> String {
    format!(
        r#"name: weekly
on:
  schedule:
    cron: "0 16 * * FRI"
    timezone: Europe/Berlin
    missed: {missed}
steps:
  - create_entry:
      type: docs
      title: "Weekly report {{{{ event.slot }}}} late={{{{ event.late }}}} missed={{{{ event.missed }}}}"
"#
    )
}

#[tokio::test]
async fn a_slot_runs_once_on_time_and_the_first_look_only_starts_counting() {
    // Thursday 2026-12-03, noon UTC.
    let w = World::new("2026-12-03T12:00:00Z").await;
    let engine = w.engine(&[&weekly("skip")]);
    let due = engine.run_due().await.unwrap();
    assert!(due.runs.is_empty());
    assert_eq!(
        due.next,
        vec![(
            "weekly".to_string(),
            // Friday 16:00 in Berlin is 15:00 UTC.
            Some("2026-12-04T15:00:00Z".parse().unwrap())
        )]
    );
    // Before the slot: nothing.
    w.clock.set("2026-12-04T14:59:59Z");
    assert!(engine.run_due().await.unwrap().runs.is_empty());
    // Two minutes after it: one run, on time.
    w.clock.set("2026-12-04T15:02:00Z");
    let due = engine.run_due().await.unwrap();
    assert_eq!(due.runs.len(), 1);
    let run = &due.runs[0];
    assert_eq!(run.state, RunState::Succeeded, "{:?}", run.error);
    assert!(matches!(
        &run.cause,
        Cause::Schedule { slot, late: false, missed: 0, .. } if slot.to_string() == "2026-12-04T15:00:00.000Z"
    ));
    assert_eq!(
        w.titles().await,
        vec!["Weekly report 2026-12-04T15:00:00.000Z late=false missed=0"]
    );
    // Asking again, in this engine or in another process's (same run folder), runs nothing.
    assert!(engine.run_due().await.unwrap().runs.is_empty());
    let other = w.engine(&[&weekly("skip")]);
    assert!(other.run_due().await.unwrap().runs.is_empty());
    assert_eq!(w.titles().await.len(), 1);
    assert_eq!(w.runs.list(Some("weekly")).await.unwrap().len(), 1);
}

#[tokio::test]
async fn two_processes_with_stale_state_still_run_a_slot_once() {
    let w = World::new("2026-12-03T12:00:00Z").await;
    let a = w.engine(&[&weekly("skip")]);
    a.run_due().await.unwrap();
    // Process B read the state before A ran the slot: it sees the same slot due.
    let stale = w.runs.schedule_state("weekly").await.unwrap().unwrap();
    w.clock.set("2026-12-04T15:01:00Z");
    assert_eq!(a.run_due().await.unwrap().runs.len(), 1);
    let newer = w.runs.schedule_state("weekly").await.unwrap().unwrap();
    assert!(newer.last > stale.last);
    // An older state is not written over a newer one…
    w.runs.save_schedule_state("weekly", &stale).await.unwrap();
    assert_eq!(
        w.runs.schedule_state("weekly").await.unwrap().unwrap(),
        newer
    );
    // …and even with the old state put back by hand, the slot's claim stops a second run.
    w.runs
        .state()
        .set_workflow_cursor("schedule:weekly", &serde_json::to_string(&stale).unwrap())
        .await
        .unwrap();
    let b = w.engine(&[&weekly("skip")]);
    assert!(b.run_due().await.unwrap().runs.is_empty());
    assert_eq!(w.titles().await.len(), 1);
}

#[tokio::test]
async fn after_downtime_skip_runs_nothing_for_the_missed_slots() {
    let w = World::new("2026-12-03T12:00:00Z").await;
    let engine = w.engine(&[&weekly("skip")]);
    engine.run_due().await.unwrap();
    // Down for three Fridays; back on Monday 2026-12-21.
    w.clock.set("2026-12-21T08:00:00Z");
    let due = engine.run_due().await.unwrap();
    assert!(due.runs.is_empty());
    assert_eq!(due.skipped.len(), 1);
    assert_eq!(due.skipped[0].slots, 3);
    assert!(!due.skipped[0].caught_up);
    assert!(w.titles().await.is_empty());
    // The next Friday runs as usual.
    w.clock.set("2026-12-25T15:00:30Z");
    let due = engine.run_due().await.unwrap();
    assert_eq!(due.runs.len(), 1);
    assert_eq!(w.titles().await.len(), 1);
}

#[tokio::test]
async fn after_downtime_catch_up_once_runs_one_late_run_for_all_missed_slots() {
    let w = World::new("2026-12-03T12:00:00Z").await;
    let engine = w.engine(&[&weekly("catch_up_once")]);
    engine.run_due().await.unwrap();
    w.clock.set("2026-12-21T08:00:00Z");
    let due = engine.run_due().await.unwrap();
    assert_eq!(due.runs.len(), 1);
    assert_eq!(due.skipped[0].slots, 2);
    assert!(due.skipped[0].caught_up);
    assert_eq!(
        w.titles().await,
        vec!["Weekly report 2026-12-18T15:00:00.000Z late=true missed=2"]
    );
    // Once: asking again later the same day runs nothing more.
    w.clock.set("2026-12-21T09:00:00Z");
    assert!(engine.run_due().await.unwrap().runs.is_empty());
    assert_eq!(w.titles().await.len(), 1);
}

#[tokio::test]
async fn conditions_see_the_slot_and_disabled_workflows_do_not_catch_up() {
    let w = World::new("2026-12-06T00:00:00Z").await;
    // Every hour, but only on even hours (the condition reads the event).
    let text = r#"name: even-hours
on:
  schedule: { cron: "0 * * * *" }
if: timestamp(event.slot).getHours() % 2 == 0
steps:
  - create_entry: { type: task, title: "tick {{ event.slot }}" }
"#;
    let engine = w.engine(&[text]);
    engine.run_due().await.unwrap();
    w.clock.set("2026-12-06T01:00:10Z");
    let due = engine.run_due().await.unwrap();
    assert!(due.runs.is_empty(), "{:?}", due.runs);
    w.clock.set("2026-12-06T02:00:10Z");
    assert_eq!(engine.run_due().await.unwrap().runs.len(), 1);
    // Disabled over 03:00 and 04:00: those slots are handled without running, and with
    // the workflow enabled again nothing is caught up.
    let loaded = vec![parse("w.yml", text).unwrap()];
    let disabled = Engine::new(
        w.app.clone(),
        loaded,
        BTreeSet::from(["even-hours".to_string()]),
        w.runs.clone(),
        Origin::Cli,
    );
    w.clock.set("2026-12-06T04:00:10Z");
    assert!(disabled.run_due().await.unwrap().runs.is_empty());
    w.clock.set("2026-12-06T04:30:00Z");
    assert!(engine.run_due().await.unwrap().runs.is_empty());
    assert_eq!(w.titles().await, vec!["tick 2026-12-06T02:00:00.000Z"]);
}

#[tokio::test]
async fn tick_hands_a_scheduled_runs_writes_to_the_workflows_they_trigger() {
    let w = World::new("2026-12-06T00:00:00Z").await;
    let sched = r#"name: nightly
on:
  schedule: { cron: "0 3 * * *" }
steps:
  - create_entry: { type: task, title: "nightly check" }
"#;
    let follow = r#"name: follow
on:
  created:
steps:
  - add_note: { category: progress, text: "seen {{ entry.title }}" }
"#;
    let engine = w.engine(&[sched, follow]);
    engine.tick().await.unwrap();
    w.clock.set("2026-12-06T03:00:05Z");
    let due = engine.tick().await.unwrap();
    assert_eq!(due.runs.len(), 1);
    assert_eq!(due.triggered.len(), 1);
    assert_eq!(due.triggered[0].workflow, "follow");
    assert_eq!(due.triggered[0].state, RunState::Succeeded);
    let id = w.store.list(&ListQuery::default()).await.unwrap().items[0].id;
    assert_eq!(w.store.get(id).await.unwrap().notes.len(), 1);
}

#[test]
fn bad_cron_and_time_zone_are_named_with_file_line_and_key() {
    let bad_cron = "name: x\non:\n  schedule:\n    cron: \"0 25 * * *\"\nsteps:\n  - fail: no\n";
    let e = parse("wf/x.yml", bad_cron).unwrap_err();
    assert_eq!(e.key, "on.schedule.cron", "{e}");
    assert_eq!(e.line, Some(4), "{e}");
    assert!(
        e.to_string()
            .starts_with("wf/x.yml:4: on.schedule.cron: invalid cron expression")
    );

    let bad_tz = "name: x\non:\n  schedule:\n    cron: \"0 9 * * *\"\n    timezone: Europe/Springfield\nsteps:\n  - fail: no\n";
    let e = parse("wf/x.yml", bad_tz).unwrap_err();
    assert_eq!(e.key, "on.schedule.timezone", "{e}");
    assert_eq!(e.line, Some(5), "{e}");
    assert!(e.message.contains("unknown time zone"), "{e}");

    let bad_policy = "name: x\non:\n  schedule:\n    cron: \"0 9 * * *\"\n    missed: twice\nsteps:\n  - fail: no\n";
    let e = parse("wf/x.yml", bad_policy).unwrap_err();
    assert_eq!(e.key, "on.schedule.missed", "{e}");
    assert!(e.message.contains("catch_up_once"), "{e}");

    let no_cron = "name: x\non:\n  schedule: {}\nsteps:\n  - fail: no\n";
    let e = parse("wf/x.yml", no_cron).unwrap_err();
    assert!(e.message.contains("cron"), "{e}");
}

#[tokio::test]
async fn a_follower_runs_the_workflows_of_writes_made_elsewhere_once() {
    use devlog_core::event::WriteMeta;
    use devlog_core::ops::{Edit, NewEntry};
    let w = World::new("2026-12-06T00:00:00Z").await;
    let text = r#"name: on-done
on:
  status_changed: { to: done }
steps:
  - add_note: { category: solution, text: "done via {{ event.origin }}" }
"#;
    let engine = w.engine(&[text]);
    let mcp = WriteMeta::new(Origin::Mcp).with_actor(Some("assistant".into()));
    let e = w
        .app
        .create(
            NewEntry {
                title: "a".into(),
                kind: Some(devlog_core::EntryType::Task),
                ..NewEntry::default()
            },
            &mcp,
        )
        .await
        .unwrap()
        .entry()
        .clone();
    // The first pass starts at the end of the feed: the create is history.
    assert!(engine.follow_feed().await.unwrap().runs.is_empty());
    let done = Edit {
        status: Some(devlog_core::Status::Done),
        ..Edit::default()
    };
    w.app.edit(e.id, done, &mcp).await.unwrap();
    let out = engine.follow_feed().await.unwrap();
    assert_eq!(out.runs.len(), 1);
    assert_eq!(
        out.runs[0].state,
        RunState::Succeeded,
        "{:?}",
        out.runs[0].error
    );
    let notes = w.store.get(e.id).await.unwrap().notes;
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0].content, "done via mcp");
    // The cursor moved (kept on disk): a second follower, or a second pass, runs nothing.
    assert!(engine.follow_feed().await.unwrap().runs.is_empty());
    assert!(
        w.engine(&[text])
            .follow_feed()
            .await
            .unwrap()
            .runs
            .is_empty()
    );
    // A CLI command's hook that handled the write first (its claim) keeps the follower off.
    let reopen = Edit {
        status: Some(devlog_core::Status::InProgress),
        ..Edit::default()
    };
    w.app.edit(e.id, reopen, &mcp).await.unwrap();
    let before = w.store.events_before(None, 1).await.unwrap()[0].seq;
    let again = Edit {
        status: Some(devlog_core::Status::Done),
        ..Edit::default()
    };
    w.app.edit(e.id, again, &mcp).await.unwrap();
    let hook = engine
        .on_events(w.store.events(before, 100).await.unwrap())
        .await
        .unwrap();
    assert_eq!(hook.runs.len(), 1);
    assert!(engine.follow_feed().await.unwrap().runs.is_empty());
    assert_eq!(w.store.get(e.id).await.unwrap().notes.len(), 2);
}

#[tokio::test]
async fn prune_keeps_the_newest_runs_and_running_ones() {
    use devlog_workflow::runs::RunRetention;
    let w = World::new("2026-12-01T00:00:00Z").await;
    let text = r#"name: hourly
on:
  schedule: { cron: "0 * * * *" }
steps:
  - set_var: { x: 1 }
"#;
    let engine = w.engine(&[text]);
    engine.run_due().await.unwrap();
    for h in 1..=6 {
        w.clock.set(&format!("2026-12-01T{h:02}:00:01Z"));
        assert_eq!(engine.run_due().await.unwrap().runs.len(), 1);
    }
    // One run left running (its process died): never pruned.
    let mut stuck = w.runs.list(None).await.unwrap().pop().unwrap();
    stuck.state = RunState::Running;
    w.runs.save(&stuck).await.unwrap();
    let keep = RunRetention {
        keep_runs: 3,
        keep_days: 30,
    };
    // The newest three records are kept (the stuck one, written last, among them), the
    // older finished ones go.
    let pruned = w.runs.prune(&keep, w.clock.now()).await.unwrap();
    assert_eq!(pruned.runs, 3);
    let left = w.runs.list(None).await.unwrap();
    assert_eq!(left.len(), 3);
    assert!(left.iter().any(|r| r.id == stuck.id));
    // 40 days later every finished run is older than keep_days.
    let later = Timestamp::from_millis(w.clock.now().millis() + 40 * 86_400_000).unwrap();
    assert_eq!(w.runs.prune(&keep, later).await.unwrap().runs, 2);
    assert_eq!(w.runs.list(None).await.unwrap().len(), 1);
    assert!(
        RunRetention {
            keep_runs: 1,
            keep_days: 0
        }
        .validate()
        .is_err()
    );
}
