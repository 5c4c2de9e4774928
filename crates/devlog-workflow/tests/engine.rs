//! The engine against a real SQLite store: triggers, conditions, every built-in step,
//! branches and loops, loop protection, dry runs, resuming a killed run.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::collections::BTreeSet;
use std::sync::Arc;

use devlog_core::event::{Origin, WriteMeta};
use devlog_core::ops::{Edit, NewDecision, NewEntry, NewNote};
use devlog_core::{Devlog, Entry, Event, NoteCategory, Priority, Status, Store};
use devlog_store::StoreSpec;
use devlog_workflow::runs::{Cause, RunId, RunRecord, RunState, StepRecord, StepState};
use devlog_workflow::{Engine, RunStore, parse};
use serde_json::json;

#[path = "common/runs.rs"]
mod runs;

struct World {
    _dir: tempfile::TempDir,
    app: Devlog,
    store: Arc<dyn Store>,
    runs: RunStore,
}

impl World {
    async fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let spec = StoreSpec::from_name("sqlite", dir.path(), None).unwrap();
        let store = devlog_store::open(&spec).await.unwrap();
        let runs = runs::run_store(dir.path()).await;
        World {
            app: Devlog::new(store.clone()),
            store,
            runs,
            _dir: dir,
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

    async fn end(&self) -> u64 {
        self.store
            .events_before(None, 1)
            .await
            .unwrap()
            .last()
            .map_or(0, |e| e.seq)
    }

    async fn since(&self, seq: u64) -> Vec<Event> {
        self.store.events(seq, 10_000).await.unwrap()
    }

    async fn create(&self, title: &str, priority: Priority) -> Entry {
        self.app
            .create(
                NewEntry {
                    title: title.into(),
                    kind: Some(devlog_core::EntryType::Task),
                    priority: Some(priority),
                    ..NewEntry::default()
                },
                &meta(),
            )
            .await
            .unwrap()
            .entry()
            .clone()
    }

    async fn get(&self, e: &Entry) -> Entry {
        self.store.get(e.id).await.unwrap()
    }

    /// Does `write`, then hands its events to the engine, as the CLI does.
    async fn after<F, Fut>(&self, engine: &Engine, write: F) -> devlog_workflow::Outcome
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        let before = self.end().await;
        write().await;
        engine.on_events(self.since(before).await).await.unwrap()
    }
}

fn meta() -> WriteMeta {
    WriteMeta::new(Origin::Cli).with_actor(Some("ann".into()))
}

const EXAMPLE: &str = r#"name: critical-done
on:
  status_changed:
    to: done
if: entry.priority == "critical"
steps:
  - add_note:
      category: solution
      text: "Closed critical {{ entry.title }}"
"#;

fn status(s: Status) -> Edit {
    Edit {
        status: Some(s),
        ..Edit::default()
    }
}

#[tokio::test]
async fn the_issues_example_notes_a_critical_entry_done_and_nothing_else() {
    let w = World::new().await;
    let engine = w.engine(&[EXAMPLE]);
    let critical = w.create("Login fails", Priority::Critical).await;
    let low = w.create("Typo", Priority::Low).await;

    let out = w
        .after(&engine, || async {
            w.app
                .edit(critical.id, status(Status::Done), &meta())
                .await
                .unwrap();
        })
        .await;
    assert_eq!(out.runs.len(), 1);
    assert_eq!(out.runs[0].state, RunState::Succeeded, "{:?}", out.runs[0]);
    let e = w.get(&critical).await;
    assert_eq!(e.notes.len(), 1);
    assert_eq!(e.notes[0].content, "Closed critical Login fails");
    assert_eq!(e.notes[0].category, NoteCategory::Solution);

    let out = w
        .after(&engine, || async {
            w.app
                .edit(low.id, status(Status::Done), &meta())
                .await
                .unwrap();
        })
        .await;
    assert!(out.runs.is_empty());
    assert!(w.get(&low).await.notes.is_empty());

    // The note's write is the workflow's, in the feed and in the audit log.
    let events = w
        .store
        .entry_events(critical.id, 0, None, 100)
        .await
        .unwrap();
    let note = events
        .iter()
        .find(|e| e.kind.name() == "note-added")
        .unwrap();
    assert_eq!(note.actor.as_deref(), Some("workflow:critical-done"));
    let log = w.store.audit_log().unwrap();
    let n = log.audit_count().await.unwrap();
    let page = log.audit_page(0, n as usize).await.unwrap();
    let text = format!("{page:?}");
    assert!(text.contains("workflow:critical-done"), "{text}");
    let run = &w.runs.list(Some("critical-done")).await.unwrap()[0];
    assert!(
        text.contains(&format!("critical-done/{}", run.id)),
        "the audit record names the run: {text}"
    );
}

#[tokio::test]
async fn each_trigger_kind_fires_on_its_event_only() {
    let w = World::new().await;
    let wf = |name: &str, on: &str| {
        format!("name: {name}\non:\n{on}\nsteps:\n  - set_var:\n      fired: \"yes\"\n")
    };
    let files = [
        wf("on-created", "  created:\n    type: bugfix"),
        wf("on-updated", "  updated:\n    fields: [priority]"),
        wf(
            "on-status",
            "  status_changed:\n    from: new\n    to: in-progress",
        ),
        wf("on-note", "  note_added:\n    category: issue"),
        wf("on-decision", "  decision_added:"),
        wf("on-completed", "  completed:"),
        wf("by-hand", "  manual:"),
    ];
    let files: Vec<&str> = files.iter().map(String::as_str).collect();
    let engine = w.engine(&files);
    let fired = |out: &devlog_workflow::Outcome| -> Vec<String> {
        let mut v: Vec<String> = out.runs.iter().map(|r| r.workflow.clone()).collect();
        v.sort();
        v
    };

    let before = w.end().await;
    let task = w.create("A task", Priority::Medium).await;
    let out = engine.on_events(w.since(before).await).await.unwrap();
    assert_eq!(fired(&out), Vec::<String>::new(), "a task is not a bugfix");
    let before = w.end().await;
    let bug = w
        .app
        .create(
            NewEntry {
                title: "A bug".into(),
                kind: Some(devlog_core::EntryType::Bugfix),
                ..NewEntry::default()
            },
            &meta(),
        )
        .await
        .unwrap()
        .entry()
        .clone();
    let out = engine.on_events(w.since(before).await).await.unwrap();
    assert_eq!(fired(&out), ["on-created"]);

    let out = w
        .after(&engine, || async {
            let edit = Edit {
                title: Some("Renamed".into()),
                ..Edit::default()
            };
            w.app.edit(task.id, edit, &meta()).await.unwrap();
        })
        .await;
    assert_eq!(fired(&out), Vec::<String>::new(), "title is not watched");
    let out = w
        .after(&engine, || async {
            let edit = Edit {
                priority: Some(Priority::High),
                ..Edit::default()
            };
            w.app.edit(task.id, edit, &meta()).await.unwrap();
        })
        .await;
    assert_eq!(fired(&out), ["on-updated"]);

    let out = w
        .after(&engine, || async {
            w.app
                .edit(task.id, status(Status::InProgress), &meta())
                .await
                .unwrap();
        })
        .await;
    assert_eq!(fired(&out), ["on-status"]);
    let out = w
        .after(&engine, || async {
            w.app
                .edit(task.id, status(Status::Blocked), &meta())
                .await
                .unwrap();
        })
        .await;
    assert_eq!(fired(&out), Vec::<String>::new(), "in-progress → blocked");

    let note = |c: NoteCategory| NewNote {
        content: "x".into(),
        category: c,
        files: vec![],
        code_changes: None,
    };
    let out = w
        .after(&engine, || async {
            w.app
                .add_note(task.id, note(NoteCategory::Idea), &meta())
                .await
                .unwrap();
        })
        .await;
    assert_eq!(fired(&out), Vec::<String>::new());
    let out = w
        .after(&engine, || async {
            w.app
                .add_note(task.id, note(NoteCategory::Issue), &meta())
                .await
                .unwrap();
        })
        .await;
    assert_eq!(fired(&out), ["on-note"]);

    let out = w
        .after(&engine, || async {
            let d = NewDecision {
                decision: "Use X".into(),
                rationale: "Because".into(),
                alternatives: vec![],
                decision_maker: String::new(),
                shared: false,
            };
            w.app.decide(task.id, d, &meta()).await.unwrap();
        })
        .await;
    assert_eq!(fired(&out), ["on-decision"]);

    let out = w
        .after(&engine, || async {
            w.app.complete(bug.id, None, &meta()).await.unwrap();
        })
        .await;
    assert_eq!(fired(&out), ["on-completed"]);

    let run = engine
        .run_manual("by-hand", Some(task.id), None)
        .await
        .unwrap();
    assert_eq!(run.state, RunState::Succeeded);
    let e = engine
        .run_manual("on-created", None, None)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("no `manual` trigger"), "{e}");
    let e = engine.run_manual("nope", None, None).await.unwrap_err();
    assert!(e.to_string().contains("there are: on-created"), "{e}");
}

#[tokio::test]
async fn every_built_in_step_writes_through_the_use_cases() {
    let w = World::new().await;
    let other = w.create("Other work", Priority::Low).await;
    let file = format!(
        r#"name: all-steps
on:
  manual:
vars:
  team: core
steps:
  - set_var:
      who: "{{{{ vars.team }}}}-bot"
      count: 2
  - id: note
    add_note:
      category: progress
      text: "by {{{{ vars.who }}}} ({{{{ vars.count }}}})"
  - add_decision:
      decision: "Ship {{{{ entry.title }}}}"
      rationale: "Because {{{{ steps.note.noteId }}}} says so"
  - set:
      status: in-progress
      priority: high
      add_tags: ["auto", "{{{{ vars.team }}}}"]
  - id: child
    create_entry:
      title: "Follow up on {{{{ entry.title }}}}"
      type: task
      priority: low
      parent: true
  - link:
      kind: relates
      to: "{other}"
  - log_work:
      duration: 1h30m
      note: "automated"
  - add_note:
      entry: "{{{{ steps.child.ref }}}}"
      category: idea
      text: "child of {{{{ entry.ref }}}}"
"#,
        other = other.handle_str()
    );
    let engine = w.engine(&[&file]);
    let main = w.create("Main", Priority::Medium).await;
    let run = engine
        .run_manual("all-steps", Some(main.id), None)
        .await
        .unwrap();
    assert_eq!(run.state, RunState::Succeeded, "{:#?}", run);

    let e = w.get(&main).await;
    assert_eq!(e.notes[0].content, "by core-bot (2)");
    let decision = &e.context.decisions[0];
    assert_eq!(decision.decision, "Ship Main");
    assert_eq!(
        decision.rationale,
        format!("Because {} says so", e.notes[0].id)
    );
    assert_eq!(e.status, Status::InProgress);
    assert_eq!(e.priority, Priority::High);
    assert!(e.tags.contains(&"auto".to_string()) && e.tags.contains(&"core".to_string()));
    assert_eq!(e.worklogs.len(), 1);
    assert_eq!(e.worklogs[0].minutes, 90);
    let relations = w.app.relations(e.id).await.unwrap();
    let text = format!("{relations:?}");
    assert!(text.contains("Other work"), "{text}");
    assert!(text.contains("Follow up on Main"), "{text}");

    let child_ref = run.steps.iter().find(|s| s.path == "4").unwrap().output["ref"]
        .as_str()
        .unwrap()
        .to_string();
    let child = w.app.resolve(&child_ref).await.unwrap();
    assert_eq!(
        child.notes[0].content,
        format!("child of {}", main.handle_str())
    );
    assert_eq!(child.priority, Priority::Low);
    // Every step is recorded with its output.
    let paths: Vec<&str> = run.steps.iter().map(|s| s.path.as_str()).collect();
    assert_eq!(paths, ["0", "1", "2", "3", "4", "5", "6", "7"]);
    assert!(run.steps.iter().all(|s| s.state == StepState::Done));
}

#[tokio::test]
async fn fail_stops_the_run_and_the_run_records_why() {
    let w = World::new().await;
    let engine = w.engine(&[
        "name: stop\non:\n  manual:\nsteps:\n  - fail: \"no {{ entry.title }}\"\n  - add_note:\n      category: idea\n      text: never\n",
    ]);
    let e = w.create("Thing", Priority::Low).await;
    let run = engine.run_manual("stop", Some(e.id), None).await.unwrap();
    assert_eq!(run.state, RunState::Failed);
    assert_eq!(run.error.as_deref(), Some("step 0: fail: no Thing"));
    assert!(w.get(&e).await.notes.is_empty());
    assert_eq!(
        w.runs.load(&run.id).await.unwrap(),
        run,
        "the record is on disk"
    );
}

#[tokio::test]
async fn if_else_and_for_each() {
    let w = World::new().await;
    let engine = w.engine(&[r#"name: branchy
on:
  manual:
steps:
  - if: entry.priority == "high"
    then:
      - add_note:
          category: idea
          text: high
    else:
      - add_note:
          category: idea
          text: "not high"
  - for_each:
      items: entry.tags.filter(t, t.startsWith("x-"))
      as: tag
      steps:
        - add_note:
            category: progress
            text: "tag {{ tag }}"
"#]);
    let e = w.create("Branches", Priority::High).await;
    let edit = Edit {
        add_tags: vec!["x-one".into(), "y".into(), "x-two".into()],
        ..Edit::default()
    };
    w.app.edit(e.id, edit, &meta()).await.unwrap();
    let run = engine
        .run_manual("branchy", Some(e.id), None)
        .await
        .unwrap();
    assert_eq!(run.state, RunState::Succeeded, "{run:#?}");
    let notes: Vec<String> = w
        .get(&e)
        .await
        .notes
        .iter()
        .map(|n| n.content.clone())
        .collect();
    assert_eq!(notes, ["high", "tag x-one", "tag x-two"]);
    let paths: Vec<&str> = run.steps.iter().map(|s| s.path.as_str()).collect();
    assert_eq!(paths, ["0", "0.then.0", "1", "1.each.0.0", "1.each.1.0"]);

    let low = w.create("Low one", Priority::Low).await;
    engine
        .run_manual("branchy", Some(low.id), None)
        .await
        .unwrap();
    let notes: Vec<String> = w
        .get(&low)
        .await
        .notes
        .iter()
        .map(|n| n.content.clone())
        .collect();
    assert_eq!(notes, ["not high"]);
}

#[tokio::test]
async fn a_strict_template_error_fails_the_run_without_writing() {
    let w = World::new().await;
    let engine = w.engine(&[
        "name: strict\non:\n  manual:\nsteps:\n  - add_note:\n      category: idea\n      text: \"{{ entry.nope }}\"\n",
    ]);
    let e = w.create("Strict", Priority::Low).await;
    let run = engine.run_manual("strict", Some(e.id), None).await.unwrap();
    assert_eq!(run.state, RunState::Failed);
    let err = run.error.unwrap();
    assert!(err.contains("undefined"), "{err}");
    assert!(w.get(&e).await.notes.is_empty());
}

#[tokio::test]
async fn a_condition_type_error_is_reported_on_a_failed_run() {
    let w = World::new().await;
    let engine = w.engine(&[
        "name: typed\non:\n  status_changed:\nif: entry.priority > 3\nsteps:\n  - fail: x\n",
    ]);
    let e = w.create("Typed", Priority::Low).await;
    let out = w
        .after(&engine, || async {
            w.app
                .edit(e.id, status(Status::Blocked), &meta())
                .await
                .unwrap();
        })
        .await;
    assert_eq!(out.runs.len(), 1);
    assert_eq!(out.runs[0].state, RunState::Failed);
    let err = out.runs[0].error.as_deref().unwrap();
    assert!(err.starts_with("condition: `entry.priority > 3`"), "{err}");
}

#[tokio::test]
async fn a_workflows_own_writes_do_not_trigger_it_again() {
    let w = World::new().await;
    let engine = w.engine(&[
        "name: echo\non:\n  note_added:\nsteps:\n  - add_note:\n      category: idea\n      text: echo\n",
    ]);
    let e = w.create("Echo", Priority::Low).await;
    let out = w
        .after(&engine, || async {
            let n = NewNote {
                content: "hi".into(),
                category: NoteCategory::Idea,
                files: vec![],
                code_changes: None,
            };
            w.app.add_note(e.id, n, &meta()).await.unwrap();
        })
        .await;
    assert_eq!(out.runs.len(), 1);
    assert_eq!(w.get(&e).await.notes.len(), 2);
}

#[tokio::test]
async fn a_reentrant_workflow_triggers_itself_until_its_condition_or_the_depth_limit() {
    let w = World::new().await;
    // Counts down in the title: each run's write triggers the next until the title is "0".
    let countdown = "name: countdown\nreentrant: true\non:\n  updated:\n    fields: [title]\nif: int(entry.title) > 0\nsteps:\n  - set:\n      title: \"{{ (entry.title | int) - 1 }}\"\n";
    let engine = w.engine(&[countdown]);
    let e = w.create("9", Priority::Low).await;
    let out = w
        .after(&engine, || async {
            let edit = Edit {
                title: Some("3".into()),
                ..Edit::default()
            };
            w.app.edit(e.id, edit, &meta()).await.unwrap();
        })
        .await;
    let ran: Vec<u32> = out.runs.iter().map(|r| r.depth).collect();
    assert_eq!(ran, [0, 1, 2], "3 → 2 → 1 → 0, then the condition is false");
    assert!(out.runs.iter().all(|r| r.state == RunState::Succeeded));
    assert_eq!(w.get(&e).await.title, "0");

    // Without a condition that ends it, the depth limit does.
    let w = World::new().await;
    let forever = "name: forever\nreentrant: true\non:\n  note_added:\nsteps:\n  - add_note:\n      category: idea\n      text: again\n";
    let engine = w.engine(&[forever]);
    let e = w.create("Forever", Priority::Low).await;
    let out = w
        .after(&engine, || async {
            let n = NewNote {
                content: "start".into(),
                category: NoteCategory::Idea,
                files: vec![],
                code_changes: None,
            };
            w.app.add_note(e.id, n, &meta()).await.unwrap();
        })
        .await;
    let failed: Vec<&RunRecord> = out.failed().collect();
    assert_eq!(failed.len(), 1);
    assert!(failed[0].error.as_deref().unwrap().contains("depth limit"));
    assert_eq!(
        w.get(&e).await.notes.len() as u32,
        1 + devlog_workflow::engine::MAX_DEPTH
    );
}

#[tokio::test]
async fn a_chain_between_workflows_stops_at_the_depth_limit() {
    let w = World::new().await;
    let ping = "name: ping\non:\n  note_added:\n    category: idea\nsteps:\n  - add_note:\n      category: issue\n      text: ping\n";
    let pong = "name: pong\non:\n  note_added:\n    category: issue\nsteps:\n  - add_note:\n      category: idea\n      text: pong\n";
    let engine = w.engine(&[ping, pong]);
    let e = w.create("Loop", Priority::Low).await;
    let out = w
        .after(&engine, || async {
            let n = NewNote {
                content: "start".into(),
                category: NoteCategory::Idea,
                files: vec![],
                code_changes: None,
            };
            w.app.add_note(e.id, n, &meta()).await.unwrap();
        })
        .await;
    let ran = out
        .runs
        .iter()
        .filter(|r| r.state == RunState::Succeeded)
        .count();
    assert_eq!(ran as u32, devlog_workflow::engine::MAX_DEPTH);
    let stopped: Vec<&RunRecord> = out.failed().collect();
    assert_eq!(stopped.len(), 1);
    assert!(stopped[0].error.as_deref().unwrap().contains("depth limit"));
    assert_eq!(stopped[0].depth, devlog_workflow::engine::MAX_DEPTH);
    // The person's note and one per successful run.
    assert_eq!(w.get(&e).await.notes.len(), 1 + ran);
}

#[tokio::test]
async fn a_workflow_runs_once_per_write_even_when_two_processes_see_it() {
    let w = World::new().await;
    let engine = w.engine(&[EXAMPLE]);
    let other = w.engine(&[EXAMPLE]);
    let e = w.create("Twice", Priority::Critical).await;
    let before = w.end().await;
    w.app
        .edit(e.id, status(Status::Done), &meta())
        .await
        .unwrap();
    let events = w.since(before).await;
    let a = engine.on_events(events.clone()).await.unwrap();
    let b = other.on_events(events).await.unwrap();
    assert_eq!(a.runs.len() + b.runs.len(), 1);
    assert_eq!(w.get(&e).await.notes.len(), 1);
}

#[tokio::test]
async fn a_dry_run_renders_every_step_and_changes_nothing() {
    let w = World::new().await;
    let engine = w.engine(&[EXAMPLE]);
    let e = w.create("Dry", Priority::Critical).await;
    let before = w.end().await;
    let dry = engine
        .dry_run(
            "critical-done",
            Some(e.id),
            Some(json!({"type": "status-changed", "from": "new", "to": "done"})),
        )
        .await
        .unwrap();
    assert_eq!(dry.condition, Some(true));
    assert_eq!(dry.steps.len(), 1);
    assert_eq!(dry.steps[0].output["text"], "Closed critical Dry");
    assert_eq!(w.end().await, before, "nothing written");
    assert!(w.get(&e).await.notes.is_empty());
    assert!(
        w.runs.list(None).await.unwrap().is_empty(),
        "no run recorded"
    );
}

#[tokio::test]
async fn a_killed_run_resumes_at_its_step_without_repeating_done_ones() {
    let w = World::new().await;
    let file = "name: three\non:\n  manual:\nsteps:\n  - add_note:\n      category: idea\n      text: one\n  - add_note:\n      category: idea\n      text: two\n  - add_note:\n      category: idea\n      text: three\n";
    let engine = w.engine(&[file]);
    let e = w.create("Resume", Priority::Low).await;
    // What a process killed during step 1 leaves: step 0 written and recorded done, step 1
    // started and its write made (the kill came before the record was updated).
    // (As the engine writes: the step's key `<run>/<path>` as the change id.)
    let id = RunId::random();
    let meta = |path: &str| {
        WriteMeta::new(Origin::Cli)
            .with_actor(Some("workflow:three".into()))
            .with_change(Some(format!("{id}/{path}")))
    };
    let n = |t: &str| NewNote {
        content: t.into(),
        category: NoteCategory::Idea,
        files: vec![],
        code_changes: None,
    };
    w.app.add_note(e.id, n("one"), &meta("0")).await.unwrap();
    let seq = w.end().await;
    w.app.add_note(e.id, n("two"), &meta("1")).await.unwrap();
    let step = |path: &str, state, seq| StepRecord {
        path: path.into(),
        action: "add_note".into(),
        state,
        output: json!({"entry": e.id.to_string()}),
        error: None,
        feed_seq: seq,
        attempts: 0,
    };
    let killed = RunRecord {
        id: id.clone(),
        workflow: "three".into(),
        cause: Cause::Manual { actor: None },
        entry: Some(e.id),
        depth: 0,
        state: RunState::Running,
        started_at: devlog_core::Timestamp::from_millis(0).unwrap(),
        finished_at: None,
        vars: Default::default(),
        steps: vec![
            step("0", StepState::Done, Some(0)),
            step("1", StepState::Started, Some(seq)),
        ],
        error: None,
        resumed: 0,
        wake_at: None,
    };
    w.runs.save(&killed).await.unwrap();

    let resumed = engine.resume_unfinished().await.unwrap();
    assert_eq!(resumed.len(), 1);
    let run = &resumed[0];
    assert_eq!(run.state, RunState::Succeeded, "{run:#?}");
    assert_eq!(run.resumed, 1);
    let notes: Vec<String> = w
        .get(&e)
        .await
        .notes
        .iter()
        .map(|n| n.content.clone())
        .collect();
    assert_eq!(notes, ["one", "two", "three"], "no step twice, none lost");
    assert!(engine.resume_unfinished().await.unwrap().is_empty());

    // A run killed in a step whose write had not happened yet repeats that step.
    let id2 = RunId::random();
    let seq = w.end().await;
    let mut killed2 = killed.clone();
    killed2.id = id2;
    killed2.steps = vec![
        step("0", StepState::Done, Some(0)),
        step("1", StepState::Done, Some(0)),
        step("2", StepState::Started, Some(seq)),
    ];
    w.runs.save(&killed2).await.unwrap();
    let resumed = engine.resume_unfinished().await.unwrap();
    assert_eq!(resumed[0].state, RunState::Succeeded);
    let notes: Vec<String> = w
        .get(&e)
        .await
        .notes
        .iter()
        .map(|n| n.content.clone())
        .collect();
    assert_eq!(notes, ["one", "two", "three", "three"]);
}

#[tokio::test]
async fn a_run_held_by_a_live_process_is_not_resumed() {
    let w = World::new().await;
    let engine = w.engine(&["name: t\non:\n  manual:\nsteps:\n  - fail: x\n"]);
    let id = RunId::random();
    let rec = RunRecord {
        id: id.clone(),
        workflow: "t".into(),
        cause: Cause::Manual { actor: None },
        entry: None,
        depth: 0,
        state: RunState::Running,
        started_at: devlog_core::Timestamp::from_millis(0).unwrap(),
        finished_at: None,
        vars: Default::default(),
        steps: vec![],
        error: None,
        resumed: 0,
        wake_at: None,
    };
    w.runs.save(&rec).await.unwrap();
    let lease = w.runs.lease(&id).await.unwrap().expect("free");
    assert!(engine.resume_unfinished().await.unwrap().is_empty());
    lease.release().await.unwrap();
    let done = engine.resume_unfinished().await.unwrap();
    assert_eq!(done[0].state, RunState::Failed);
}

#[tokio::test]
async fn a_condition_reads_the_workflows_vars() {
    let w = World::new().await;
    let engine = w.engine(&[
        "name: with-vars\non:\n  status_changed:\nvars:\n  level: critical\nif: entry.priority == vars.level\nsteps:\n  - add_note:\n      category: idea\n      text: \"{{ vars.level }}\"\n",
        EXAMPLE,
    ]);
    let hit = w.create("Hit", Priority::Critical).await;
    let miss = w.create("Miss", Priority::Low).await;
    let out = w
        .after(&engine, || async {
            w.app
                .edit(hit.id, status(Status::Blocked), &meta())
                .await
                .unwrap();
            w.app
                .edit(miss.id, status(Status::Blocked), &meta())
                .await
                .unwrap();
        })
        .await;
    assert_eq!(out.runs.len(), 1);
    let notes: Vec<String> = w
        .get(&hit)
        .await
        .notes
        .iter()
        .map(|n| n.content.clone())
        .collect();
    assert_eq!(notes, ["critical"]);
    assert!(w.get(&miss).await.notes.is_empty());
}

/// Every field a real write changes is a name `updated: {fields}` accepts — and fires on —,
/// so the names the loader checks against (read from the entry types) cannot fall behind
/// what the change feed carries.
#[tokio::test]
async fn every_field_a_write_changes_is_a_valid_updated_field() {
    use devlog_core::ops::AiUpdate;
    use devlog_core::planning::{NewMilestone, NewWorklog};
    use devlog_core::relations::LinkKind;
    use devlog_core::{EntryType, EventKind};
    use devlog_workflow::engine::trigger_matches;

    let w = World::new().await;
    let a = w.create("A", Priority::Medium).await;
    let b = w.create("B", Priority::Medium).await;
    let c = w.create("C", Priority::Medium).await;
    w.app
        .create_milestone(NewMilestone {
            name: "m1".into(),
            description: String::new(),
            due: None,
        })
        .await
        .unwrap();
    let before = w.end().await;
    // Every field of `Edit`, written out without `..`: a field added to `Edit` has to be
    // added here, and its events are then checked below.
    let edit = Edit {
        title: Some("A renamed".into()),
        kind: Some(EntryType::Bugfix),
        status: Some(Status::InProgress),
        priority: Some(Priority::High),
        description: Some("what".into()),
        assignee: Some("ann".into()),
        business_context: Some("why".into()),
        technical_context: Some("how".into()),
        acceptance_criteria: Some(vec!["one".into()]),
        add_criteria: vec!["two".into()],
        add_tags: vec!["t1".into(), "t2".into()],
        remove_tags: Vec::new(),
        add_files: vec!["src/a.rs".into()],
        estimated_hours: Some(2.0),
        actual_hours: Some(1.0),
        points: Some(3.0),
        due: Some("2030-01-01".into()),
        milestone: Some("m1".into()),
    };
    w.app.edit(a.id, edit, &meta()).await.unwrap();
    let untag = Edit {
        remove_tags: vec!["t1".into()],
        ..Edit::default()
    };
    w.app.edit(a.id, untag, &meta()).await.unwrap();
    // The other use cases that change fields: the AI context, worklogs, links.
    let ai = AiUpdate {
        summary: Some("summary".into()),
        insights: vec!["insight".into()],
        questions: vec!["question".into()],
        patterns: vec!["pattern".into()],
        next_steps: vec!["next".into()],
        replace_next_steps: false,
    };
    w.app.update_ai_context(a.id, ai, &meta()).await.unwrap();
    w.app
        .add_insight(a.id, "shared insight", true, &meta())
        .await
        .unwrap();
    w.app
        .log_time(
            a.id,
            NewWorklog {
                duration: "1h".into(),
                ..NewWorklog::default()
            },
            &meta(),
        )
        .await
        .unwrap();
    for (kind, other) in [
        (LinkKind::Child, &b),
        (LinkKind::Blocks, &c),
        (LinkKind::Duplicates, &c),
        (LinkKind::Relates, &b),
    ] {
        w.app
            .link(a.id, kind, &other.id.to_string(), &meta())
            .await
            .unwrap();
    }

    let fields: BTreeSet<String> = w
        .since(before)
        .await
        .into_iter()
        .filter_map(|e| match e.kind {
            EventKind::FieldChanged { field, .. } => Some(field),
            _ => None,
        })
        .collect();
    for want in [
        "title",
        "type",
        "dueDate",
        "milestone",
        "points",
        "files",
        "context.businessContext",
        "context.acceptanceCriteria",
        "context.dependencies",
        "aiContext.currentSummary",
        "aiContext.sharedInsights",
        "worklogs",
        "parent",
        "children",
        "duplicateOf",
        "relatedDevlogs",
    ] {
        assert!(fields.contains(want), "no change of {want}: {fields:?}");
    }
    for f in &fields {
        let text = format!("name: a\non:\n  updated:\n    fields: [{f}]\nsteps:\n  - fail: x\n");
        let loaded = parse("a.yml", &text)
            .unwrap_or_else(|e| panic!("`{f}`, a field a write changed, is refused: {e}"));
        let event = EventKind::FieldChanged {
            field: f.clone(),
            old: json!(null),
            new: json!(1),
        };
        assert!(trigger_matches(&loaded.triggers[0], &event), "{f}");
    }
}
