//! Durable steps against a real SQLite store with an injected clock (no real sleeps): `wait`
//! parks a run until its time and a later pass goes on with it (once, between two engines),
//! `parallel` groups (outputs afterwards, a failing branch named, resume without repeats),
//! retries with backoff to the dead letter and a re-run from it, and resumes at the step
//! boundaries a kill -9 leaves.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use devlog_core::event::{Origin, WriteMeta};
use devlog_core::ops::{NewEntry, NewNote};
use devlog_core::{Devlog, Entry, NoteCategory, Store, Timestamp};
use devlog_store::StoreSpec;
use devlog_workflow::format::Span;
use devlog_workflow::runs::{Cause, RunId, RunRecord, RunState, StepRecord, StepState};
use devlog_workflow::{Engine, RunStore, parse};
use serde_json::json;

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
    async fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let spec = StoreSpec::from_name("sqlite", dir.path(), None).unwrap();
        let store = devlog_store::open(&spec).await.unwrap();
        let clock = Arc::new(ManualClock(Mutex::new(
            "2026-12-07T09:00:00Z".parse().unwrap(),
        )));
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

    async fn create(&self, title: &str) -> Entry {
        self.app
            .create(
                NewEntry {
                    title: title.into(),
                    kind: Some(devlog_core::EntryType::Task),
                    ..NewEntry::default()
                },
                &WriteMeta::new(Origin::Cli).with_actor(Some("ann".into())),
            )
            .await
            .unwrap()
            .entry()
            .clone()
    }

    async fn notes(&self, e: &Entry) -> Vec<String> {
        let mut n: Vec<String> = self
            .store
            .get(e.id)
            .await
            .unwrap()
            .notes
            .iter()
            .map(|n| n.content.clone())
            .collect();
        n.sort();
        n
    }

    async fn end(&self) -> u64 {
        self.store
            .events_before(None, 1)
            .await
            .unwrap()
            .last()
            .map_or(0, |e| e.seq)
    }

    /// A note as the workflow `name` writes it (what a killed run's step left behind).
    /// The note step `path` of run `run` of workflow `name` writes (as the engine writes it:
    /// the step's key as change id).
    async fn note_as(&self, name: &str, run: &RunId, path: &str, e: &Entry, text: &str) {
        let meta = WriteMeta::new(Origin::Cli)
            .with_actor(Some(format!("workflow:{name}")))
            .with_change(Some(format!("{run}/{path}")));
        let n = NewNote {
            content: text.into(),
            category: NoteCategory::Idea,
            files: vec![],
            code_changes: None,
        };
        self.app.add_note(e.id, n, &meta).await.unwrap();
    }
}

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn note(text: &str) -> String {
    format!("  - add_note:\n      category: idea\n      text: \"{text}\"\n")
}

fn record(name: &str, e: &Entry, steps: Vec<StepRecord>) -> RunRecord {
    RunRecord {
        id: RunId::random(),
        workflow: name.into(),
        cause: Cause::Manual { actor: None },
        entry: Some(e.id),
        depth: 0,
        state: RunState::Running,
        started_at: ts("2026-12-07T09:00:00Z"),
        finished_at: None,
        vars: Default::default(),
        steps,
        error: None,
        resumed: 0,
        wake_at: None,
    }
}

fn step(path: &str, action: &str, state: StepState, e: &Entry, seq: u64) -> StepRecord {
    StepRecord {
        path: path.into(),
        action: action.into(),
        state,
        output: json!({"entry": e.id.to_string()}),
        error: None,
        feed_seq: Some(seq),
        attempts: 0,
    }
}

#[tokio::test]
async fn a_wait_parks_the_run_and_a_pass_after_its_time_goes_on_once() {
    let w = World::new().await;
    let file = format!(
        "name: later\non:\n  manual:\nsteps:\n{}  - wait:\n      duration: 3d\n{}",
        note("before"),
        note("after")
    );
    let engine = w.engine(&[&file]);
    let e = w.create("Waits").await;

    let run = engine.run_manual("later", Some(e.id), None).await.unwrap();
    assert_eq!(run.state, RunState::Waiting, "{run:#?}");
    assert_eq!(run.wake_at, Some(ts("2026-12-10T09:00:00Z")));
    assert_eq!(run.finished_at, None);
    assert_eq!(w.notes(&e).await, ["before"]);
    let stored = w.runs.load(&run.id).await.unwrap();
    assert_eq!(stored.state, RunState::Waiting);
    assert_eq!(stored.wake_at, Some(ts("2026-12-10T09:00:00Z")));

    // Before its time nothing goes on: not a pass, not an explicit resume.
    w.clock.set("2026-12-09T09:00:00Z");
    assert!(engine.tick().await.unwrap().resumed.is_empty());
    let early = engine.resume_run(&run.id).await.unwrap_err().to_string();
    assert!(early.contains("waits until 2026-12-10T09:00:00"), "{early}");
    assert_eq!(w.notes(&e).await, ["before"]);

    // At its time two engines (two processes) pass at once: the run goes on once.
    w.clock.set("2026-12-10T09:00:00Z");
    let other = w.engine(&[&file]);
    let (a, b) = tokio::join!(engine.tick(), other.tick());
    let resumed: Vec<RunRecord> = a
        .unwrap()
        .resumed
        .into_iter()
        .chain(b.unwrap().resumed)
        .collect();
    assert_eq!(resumed.len(), 1, "{resumed:#?}");
    assert_eq!(resumed[0].state, RunState::Succeeded);
    assert_eq!(resumed[0].wake_at, None);
    assert_eq!(
        resumed[0].resumed, 0,
        "a wake-up is not a resume after a kill"
    );
    assert_eq!(w.notes(&e).await, ["after", "before"]);
    assert!(engine.tick().await.unwrap().resumed.is_empty());
    let wait = resumed[0].step("1").unwrap();
    assert_eq!(wait.action, "wait");
    assert_eq!(wait.state, StepState::Done);
}

#[tokio::test]
async fn wait_until_a_cel_time_and_a_time_passed_does_not_park() {
    let w = World::new().await;
    let file = format!(
        "name: until\non:\n  manual:\nvars:\n  at: \"2026-12-07T17:30:00Z\"\nsteps:\n  - wait:\n      until: timestamp(vars.at)\n{}  - wait:\n      until: now - duration(\"1h\")\n{}",
        note("one"),
        note("two")
    );
    let engine = w.engine(&[&file]);
    let e = w.create("Until").await;
    let run = engine.run_manual("until", Some(e.id), None).await.unwrap();
    assert_eq!(run.state, RunState::Waiting);
    assert_eq!(run.wake_at, Some(ts("2026-12-07T17:30:00Z")));
    w.clock.set("2026-12-07T18:00:00Z");
    let done = engine.resume_unfinished().await.unwrap();
    assert_eq!(done[0].state, RunState::Succeeded, "{:#?}", done[0]);
    assert_eq!(w.notes(&e).await, ["one", "two"]);

    // `until` giving something else than a time fails the run, naming the key.
    let bad = "name: bad\non:\n  manual:\nsteps:\n  - wait:\n      until: \"1 + 1\"\n";
    let engine = w.engine(&[bad]);
    let run = engine.run_manual("bad", None, None).await.unwrap();
    assert_eq!(run.state, RunState::Failed);
    assert!(
        run.error.as_deref().unwrap().contains("wait.until"),
        "{run:?}"
    );
}

#[tokio::test]
async fn parallel_branches_all_run_and_their_outputs_are_there_afterwards() {
    let w = World::new().await;
    let file = "name: fan\non:\n  manual:\nsteps:\n  - id: group\n    parallel:\n      - - id: a\n          add_note:\n            category: idea\n            text: left\n      - - id: b\n          add_note:\n            category: idea\n            text: right\n        - set_var:\n            side: right\n  - add_note:\n      category: idea\n      text: \"after {{ steps.a.noteId != steps.b.noteId }} {{ vars.side }} {{ steps.group.branches | length }}\"\n";
    let engine = w.engine(&[file]);
    let e = w.create("Fan").await;
    let run = engine.run_manual("fan", Some(e.id), None).await.unwrap();
    assert_eq!(run.state, RunState::Succeeded, "{run:#?}");
    assert_eq!(w.notes(&e).await, ["after true right 2", "left", "right"]);
    for path in [
        "0.parallel.0.0",
        "0.parallel.1.0",
        "0.parallel.1.1",
        "0",
        "1",
    ] {
        assert_eq!(run.step(path).unwrap().state, StepState::Done, "{path}");
    }
    assert!(run.step("0").unwrap().output["branches"][0]["a"]["noteId"].is_string());
}

#[tokio::test]
async fn a_failing_branch_lets_the_others_finish_and_the_group_fails_naming_it() {
    let w = World::new().await;
    let file = "name: half\non:\n  manual:\nsteps:\n  - parallel:\n      - - fail: \"no luck\"\n      - - add_note:\n            category: idea\n            text: one\n        - add_note:\n            category: idea\n            text: two\n  - add_note:\n      category: idea\n      text: never\n";
    let engine = w.engine(&[file]);
    let e = w.create("Half").await;
    let run = engine.run_manual("half", Some(e.id), None).await.unwrap();
    assert_eq!(run.state, RunState::Failed);
    let error = run.error.as_deref().unwrap();
    assert!(error.contains("branch 0"), "{error}");
    assert!(error.contains("no luck"), "{error}");
    assert_eq!(
        w.notes(&e).await,
        ["one", "two"],
        "the other branch finished"
    );
}

#[tokio::test]
async fn a_wait_in_a_branch_parks_the_group_and_the_resume_repeats_nothing() {
    let w = World::new().await;
    let file = "name: mixed\non:\n  manual:\nsteps:\n  - parallel:\n      - - add_note:\n            category: idea\n            text: a1\n        - add_note:\n            category: idea\n            text: a2\n      - - add_note:\n            category: idea\n            text: b1\n        - wait:\n            duration: 1h\n        - add_note:\n            category: idea\n            text: b2\n  - add_note:\n      category: idea\n      text: end\n";
    let engine = w.engine(&[file]);
    let e = w.create("Mixed").await;
    let run = engine.run_manual("mixed", Some(e.id), None).await.unwrap();
    assert_eq!(run.state, RunState::Waiting);
    assert_eq!(run.wake_at, Some(ts("2026-12-07T10:00:00Z")));
    assert_eq!(w.notes(&e).await, ["a1", "a2", "b1"]);
    w.clock.set("2026-12-07T10:00:00Z");
    let done = engine.resume_unfinished().await.unwrap();
    assert_eq!(done[0].state, RunState::Succeeded, "{:#?}", done[0]);
    assert_eq!(w.notes(&e).await, ["a1", "a2", "b1", "b2", "end"]);
}

#[tokio::test]
async fn a_run_killed_inside_a_parallel_group_repeats_no_recorded_step() {
    let w = World::new().await;
    let file = "name: pk\non:\n  manual:\nsteps:\n  - parallel:\n      - - add_note:\n            category: idea\n            text: a1\n        - add_note:\n            category: idea\n            text: a2\n      - - add_note:\n            category: idea\n            text: b1\n  - add_note:\n      category: idea\n      text: end\n";
    let engine = w.engine(&[file]);
    let e = w.create("Killed").await;
    // What a kill -9 leaves: branch 0's first step done, branch 1's step started and its
    // write made (the record was not updated yet), branch 0's second step not begun.
    let id = RunId::random();
    w.note_as("pk", &id, "0.parallel.0.0", &e, "a1").await;
    let seq = w.end().await;
    w.note_as("pk", &id, "0.parallel.1.0", &e, "b1").await;
    let mut killed = record(
        "pk",
        &e,
        vec![
            step("0.parallel.0.0", "add_note", StepState::Done, &e, 0),
            step("0.parallel.1.0", "add_note", StepState::Started, &e, seq),
        ],
    );
    killed.id = id;
    w.runs.save(&killed).await.unwrap();
    let done = engine.resume_unfinished().await.unwrap();
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].state, RunState::Succeeded, "{:#?}", done[0]);
    assert_eq!(done[0].resumed, 1);
    assert_eq!(w.notes(&e).await, ["a1", "a2", "b1", "end"]);
}

#[tokio::test]
async fn parallel_branches_killed_writing_the_same_entry_each_write_once() {
    let w = World::new().await;
    let file = "name: same\non:\n  manual:\nsteps:\n  - parallel:\n      - - add_note:\n            category: idea\n            text: a\n      - - add_note:\n            category: idea\n            text: b\n";
    let engine = w.engine(&[file]);
    let e = w.create("Same entry").await;
    // Both branches started on the same entry; only branch 1's write was made before the
    // kill. Branch 0 must not take branch 1's write (by the same workflow, on the same
    // entry, after its feed position) for its own.
    let id = RunId::random();
    let seq = w.end().await;
    w.note_as("same", &id, "0.parallel.1.0", &e, "b").await;
    let mut killed = record(
        "same",
        &e,
        vec![
            step("0.parallel.0.0", "add_note", StepState::Started, &e, seq),
            step("0.parallel.1.0", "add_note", StepState::Started, &e, seq),
        ],
    );
    killed.id = id;
    w.runs.save(&killed).await.unwrap();
    let done = engine.resume_unfinished().await.unwrap();
    assert_eq!(done[0].state, RunState::Succeeded, "{:#?}", done[0]);
    let mut notes = w.notes(&e).await;
    notes.sort();
    assert_eq!(notes, ["a", "b"], "each branch's note once");
}

#[tokio::test]
async fn a_write_whose_feed_event_is_missing_is_found_in_the_entry() {
    let w = World::new().await;
    let file = "name: gap\non:\n  manual:\nsteps:\n  - add_note:\n      category: idea\n      text: once\n      entry: \"#1\"\n  - log_work:\n      duration: 30m\n      entry: \"#1\"\n  - add_decision:\n      decision: keep it\n      rationale: because\n      entry: \"#1\"\n  - create_entry:\n      title: Follow-up\n      type: task\n";
    let engine = w.engine(&[file]);
    let e = w.create("Gap").await;
    // What a JSON store killed between an entry file and its change-feed event leaves: the
    // file holds each step's write (its objects have the ids the engine derives from the
    // step's key), and the change is later found in the files as an `external` one, with
    // neither the workflow as actor nor the step's change id.
    let id = RunId::random();
    let step_meta =
        |path: &str| WriteMeta::new(Origin::Cli).with_change(Some(format!("{id}/{path}")));
    let seq = w.end().await;
    let note = step_meta("0").derived_id("note").unwrap().to_string();
    let worklog = step_meta("1").derived_id("worklog").unwrap().to_string();
    let decision = step_meta("2").derived_id("decision").unwrap().to_string();
    let followup = devlog_core::EntryId::from_uuid(step_meta("3").derived_id("entry").unwrap());
    w.app
        .add_note(
            e.id,
            NewNote {
                content: "once".into(),
                category: NoteCategory::Idea,
                files: vec![],
                code_changes: None,
            },
            &step_meta("0"),
        )
        .await
        .unwrap();
    w.app
        .log_time(
            e.id,
            devlog_core::planning::NewWorklog {
                duration: "30m".into(),
                date: None,
                note: String::new(),
                author: None,
            },
            &step_meta("1"),
        )
        .await
        .unwrap();
    w.app
        .decide(
            e.id,
            devlog_core::ops::NewDecision {
                decision: "keep it".into(),
                rationale: "because".into(),
                alternatives: vec![],
                decision_maker: "workflow:gap".into(),
                shared: false,
            },
            &step_meta("2"),
        )
        .await
        .unwrap();
    let made = w
        .app
        .create(
            NewEntry {
                title: "Follow-up".into(),
                kind: Some(devlog_core::EntryType::Task),
                ..Default::default()
            },
            &step_meta("3"),
        )
        .await
        .unwrap();
    assert_eq!(
        made.entry().id,
        followup,
        "the entry's id is derived from the step's key"
    );
    let got = w.store.get(e.id).await.unwrap();
    assert_eq!(got.notes[0].id, note);
    assert_eq!(got.worklogs[0].id, worklog);
    assert_eq!(got.context.decisions[0].id, decision);
    let mut killed = record(
        "gap",
        &e,
        ["0", "1", "2", "3"]
            .iter()
            .map(|p| {
                let action = ["add_note", "log_work", "add_decision", "create_entry"]
                    [p.parse::<usize>().unwrap()];
                step(p, action, StepState::Started, &e, seq)
            })
            .collect(),
    );
    killed.id = id.clone();
    w.runs.save(&killed).await.unwrap();
    let done = engine.resume_unfinished().await.unwrap();
    let run = &done[0];
    assert_eq!(run.state, RunState::Succeeded, "{run:#?}");
    let got = w.store.get(e.id).await.unwrap();
    assert_eq!(got.notes.len(), 1, "the note not written twice");
    assert_eq!(got.worklogs.len(), 1, "the worklog not logged twice");
    assert_eq!(
        got.context.decisions.len(),
        1,
        "the decision not added twice"
    );
    let followups = w
        .app
        .store()
        .list(&devlog_core::ListQuery::default())
        .await
        .unwrap()
        .items
        .iter()
        .filter(|s| s.title == "Follow-up")
        .count();
    assert_eq!(followups, 1, "the entry not created twice");
    // The steps' outputs are those of the writes found.
    assert_eq!(run.steps[0].output["noteId"], note);
    assert_eq!(run.steps[1].output["worklogId"], worklog);
    assert_eq!(run.steps[1].output["minutes"], 30);
    assert_eq!(run.steps[2].output["decisionId"], decision);
    assert_eq!(run.steps[3].output["id"], followup.to_string());
}

#[tokio::test]
async fn a_run_killed_at_its_wait_step_parks_again_without_repeating_steps() {
    let w = World::new().await;
    let file = format!(
        "name: wk\non:\n  manual:\nsteps:\n{}  - wait:\n      duration: 2h\n{}",
        note("before"),
        note("after")
    );
    let engine = w.engine(&[&file]);
    let e = w.create("Killed wait").await;
    let id = RunId::random();
    w.note_as("wk", &id, "0", &e, "before").await;
    // Killed after the wait step recorded its wake time, before the run was parked.
    let mut wait = step("1", "wait", StepState::Started, &e, 0);
    wait.output = json!({"wakeAt": "2026-12-07T11:00:00Z"});
    wait.feed_seq = None;
    let mut killed = record(
        "wk",
        &e,
        vec![step("0", "add_note", StepState::Done, &e, 0), wait],
    );
    killed.id = id;
    w.runs.save(&killed).await.unwrap();
    let parked = engine.resume_unfinished().await.unwrap();
    assert_eq!(parked[0].state, RunState::Waiting);
    assert_eq!(
        parked[0].wake_at,
        Some(ts("2026-12-07T11:00:00Z")),
        "the same time"
    );
    assert_eq!(w.notes(&e).await, ["before"]);
    w.clock.set("2026-12-07T11:00:01Z");
    let done = engine.resume_unfinished().await.unwrap();
    assert_eq!(done[0].state, RunState::Succeeded);
    assert_eq!(w.notes(&e).await, ["after", "before"]);
}

#[tokio::test]
async fn a_failing_step_is_retried_with_backoff_then_dead_then_rerun_by_hand() {
    let w = World::new().await;
    // The step's entry (#2) does not exist yet: each attempt fails.
    let file = "name: retry\non:\n  manual:\nretry:\n  attempts: 3\n  backoff: 1m\n  max_backoff: 90s\nsteps:\n  - add_note:\n      category: idea\n      text: done\n      entry: \"#2\"\n";
    let engine = w.engine(&[file]);
    let first = w.create("First").await;
    let run = engine
        .run_manual("retry", Some(first.id), None)
        .await
        .unwrap();
    assert_eq!(run.state, RunState::Retrying, "{run:#?}");
    assert_eq!(run.wake_at, Some(ts("2026-12-07T09:01:00Z")), "backoff 1m");
    assert_eq!(run.step("0").unwrap().attempts, 1);
    assert_eq!(run.step("0").unwrap().state, StepState::Failed);

    w.clock.set("2026-12-07T09:01:00Z");
    let again = engine.resume_unfinished().await.unwrap();
    assert_eq!(again[0].state, RunState::Retrying);
    // Doubled to 2m, capped at 90s.
    assert_eq!(again[0].wake_at, Some(ts("2026-12-07T09:02:30Z")));
    assert_eq!(again[0].step("0").unwrap().attempts, 2);

    w.clock.set("2026-12-07T09:02:30Z");
    let dead = engine.resume_unfinished().await.unwrap();
    assert_eq!(dead[0].state, RunState::Dead, "{:#?}", dead[0]);
    let error = dead[0].error.as_deref().unwrap();
    assert!(error.contains("attempt 3 of 3"), "{error}");
    assert!(dead[0].finished_at.is_some());
    // The dead letter stays put: passes do not pick it up.
    w.clock.set("2026-12-08T09:00:00.000Z");
    assert!(engine.resume_unfinished().await.unwrap().is_empty());
    let listed: Vec<RunState> = w
        .runs
        .list(None)
        .await
        .unwrap()
        .iter()
        .map(|r| r.state)
        .collect();
    assert_eq!(listed, [RunState::Dead]);

    // Fixed (the entry now exists), it is re-run by hand from its failed step.
    let second = w.create("Second").await;
    let rerun = engine.resume_run(&run.id).await.unwrap().unwrap();
    assert_eq!(rerun.state, RunState::Succeeded, "{rerun:#?}");
    assert_eq!(rerun.error, None);
    assert_eq!(w.notes(&second).await, ["done"]);
}

#[tokio::test]
async fn a_retried_write_that_reached_the_feed_is_not_written_again() {
    let w = World::new().await;
    let file = "name: once\non:\n  manual:\nretry:\n  attempts: 2\nsteps:\n  - add_note:\n      category: idea\n      text: once\n";
    let engine = w.engine(&[file]);
    let e = w.create("Once").await;
    // An attempt that timed out after its write went through: recorded failed, waiting
    // for its retry.
    let seq = w.end().await;
    let id = RunId::random();
    w.note_as("once", &id, "0", &e, "once").await;
    let mut failed = step("0", "add_note", StepState::Failed, &e, seq);
    failed.attempts = 1;
    failed.error = Some("timed out after 5m".into());
    let mut rec = record("once", &e, vec![failed]);
    rec.id = id;
    rec.state = RunState::Retrying;
    rec.wake_at = Some(ts("2026-12-07T09:00:30Z"));
    w.runs.save(&rec).await.unwrap();
    w.clock.set("2026-12-07T09:00:30Z");
    let done = engine.resume_unfinished().await.unwrap();
    assert_eq!(done[0].state, RunState::Succeeded, "{:#?}", done[0]);
    assert_eq!(w.notes(&e).await, ["once"], "not written twice");
}

#[tokio::test]
async fn a_fail_step_is_not_retried_and_a_step_policy_overrides_the_workflows() {
    let w = World::new().await;
    let file = "name: nope\non:\n  manual:\nretry:\n  attempts: 5\nsteps:\n  - fail: stop\n";
    let engine = w.engine(&[file]);
    let run = engine.run_manual("nope", None, None).await.unwrap();
    assert_eq!(run.state, RunState::Failed);

    let file = "name: own\non:\n  manual:\nretry:\n  attempts: 5\nsteps:\n  - add_note:\n      category: idea\n      text: x\n      entry: \"#9\"\n    retry:\n      attempts: 1\n";
    let engine = w.engine(&[file]);
    let run = engine.run_manual("own", None, None).await.unwrap();
    assert_eq!(
        run.state,
        RunState::Failed,
        "one attempt: no retry, not dead"
    );
}

#[tokio::test]
async fn a_dry_run_renders_waits_and_groups_without_parking() {
    let w = World::new().await;
    let file = "name: dry\non:\n  manual:\nsteps:\n  - wait:\n      duration: 1d\n  - parallel:\n      - - add_note:\n            category: idea\n            text: x\n";
    let engine = w.engine(&[file]);
    let e = w.create("Dry").await;
    let dry = engine.dry_run("dry", Some(e.id), None).await.unwrap();
    assert_eq!(dry.error, None, "{dry:?}");
    assert_eq!(dry.steps[0].output["wakeAt"], "2026-12-08T09:00:00.000Z");
    assert!(w.notes(&e).await.is_empty());
    assert!(w.runs.list(None).await.unwrap().is_empty());
}

#[test]
fn spans_retries_waits_and_groups_are_checked_when_read() {
    assert_eq!(Span::parse("1h30m").unwrap().seconds(), 5400);
    assert_eq!(Span::parse("3d").unwrap().to_string(), "3d");
    assert_eq!(Span::parse("90s").unwrap().to_string(), "1m30s");
    for bad in ["", "5", "m", "5x", "400d"] {
        assert!(Span::parse(bad).is_err(), "{bad}");
    }
    let err = |text: &str| parse("w.yml", text).unwrap_err().to_string();
    let head = "name: x\non:\n  manual:\nsteps:\n";
    let e = err(&format!("{head}  - wait:\n      duration: soon\n"));
    assert!(
        e.contains("steps[0].wait.duration") && e.contains("invalid duration"),
        "{e}"
    );
    let e = err(&format!("{head}  - wait: {{}}\n"));
    assert!(e.contains("`wait` takes one of"), "{e}");
    let e = err(&format!("{head}  - parallel: []\n"));
    assert!(e.contains("`parallel` takes 1-10 branches"), "{e}");
    let e = err(&format!("{head}  - parallel:\n      - []\n"));
    assert!(e.contains("branch 0 has no steps"), "{e}");
    let e = err(&format!(
        "{head}  - fail: x\n    retry:\n      attempts: 0\n"
    ));
    assert!(e.contains("attempts must be 1-20"), "{e}");
    let e = err(&format!(
        "{head}  - parallel:\n      - - fail: x\n    timeout: 1m\n"
    ));
    assert!(e.contains("belong on the steps inside `parallel`"), "{e}");
    let e = err(&format!("timeout: 5 minutes\n{head}  - fail: x\n"));
    assert!(
        e.contains("timeout") && e.contains("invalid duration"),
        "{e}"
    );
    let schema = devlog_workflow::schema().to_string();
    for key in [
        "\"wait\"",
        "\"parallel\"",
        "\"max_backoff\"",
        "\"timeout\"",
        "[0-9]+[smhdw]",
    ] {
        assert!(schema.contains(key), "{key} in the schema");
    }
    parse(
        "ok.yml",
        &format!("timeout: 30s\nretry:\n  attempts: 3\n{head}  - fail: x\n    timeout: 2m\n"),
    )
    .unwrap();
}
