//! `sync`, `notify` and `plugin` steps through a recording fake [`StepHost`]: what the engine
//! renders and hands over, outputs usable by later steps, failures, dry runs, and an engine
//! without a host.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use devlog_core::event::{Origin, WriteMeta};
use devlog_core::ops::NewEntry;
use devlog_core::{Devlog, Entry, Priority};
use devlog_store::StoreSpec;
use devlog_workflow::host::{
    BranchRequest, HostFuture, NotifyFormat, NotifyRequest, NotifyTarget, PipelineRequest,
    PluginRequest, PullRequestRequest, SyncRequest, redact_url,
};
use devlog_workflow::runs::RunState;
use devlog_workflow::{Engine, RunStore, StepHost, StepRef, parse};
use serde_json::{Value, json};

#[path = "common/runs.rs"]
mod runs;

/// What the fake was asked, in order: (kind, dry, request as JSON).
#[derive(Debug, Default)]
struct Fake {
    calls: Mutex<Vec<(String, bool, Value)>>,
    /// A plugin action that fails with this message.
    fail_plugin: Option<String>,
}

impl Fake {
    fn calls(&self) -> Vec<(String, bool, Value)> {
        self.calls.lock().unwrap().clone()
    }
}

impl StepHost for Fake {
    fn sync<'a>(&'a self, req: &'a SyncRequest, dry: bool) -> HostFuture<'a> {
        Box::pin(async move {
            self.calls.lock().unwrap().push((
                "sync".into(),
                dry,
                json!({"integration": req.integration, "handle": req.handle}),
            ));
            if req.integration == "nowhere" {
                return Err("`nowhere` is not an enabled integration".into());
            }
            if dry {
                return Ok(
                    json!({"plan": ["create"], "remoteId": "(dry run)", "url": "(dry run)"}),
                );
            }
            Ok(json!({"remoteId": "42", "url": "https://tracker.test/42", "done": "created"}))
        })
    }

    fn notify<'a>(&'a self, req: &'a NotifyRequest, dry: bool) -> HostFuture<'a> {
        Box::pin(async move {
            self.calls.lock().unwrap().push((
                "notify".into(),
                dry,
                json!({"target": req.target.shown(), "format": req.format == NotifyFormat::Slack,
                       "payload": req.payload, "key": req.key}),
            ));
            Ok(json!({"target": req.target.shown(), "status": 200}))
        })
    }

    fn plugin<'a>(&'a self, req: &'a PluginRequest, dry: bool) -> HostFuture<'a> {
        Box::pin(async move {
            self.calls.lock().unwrap().push((
                "plugin".into(),
                dry,
                json!({"plugin": req.plugin, "action": req.action, "input": req.input}),
            ));
            if let Some(m) = &self.fail_plugin {
                return Err(m.clone());
            }
            if dry {
                return Ok(json!({"ticket": "(dry run)"}));
            }
            Ok(json!({"ticket": format!("T-{}", req.input["n"])}))
        })
    }

    fn branch<'a>(&'a self, req: &'a BranchRequest, dry: bool) -> HostFuture<'a> {
        Box::pin(async move {
            let name = format!("devlog/{}", req.entry.handle);
            self.calls.lock().unwrap().push((
                "branch".into(),
                dry,
                json!({"handle": req.entry.handle, "checkout": req.checkout}),
            ));
            Ok(json!({"name": name, "created": true, "at": "abc123"}))
        })
    }

    fn pull_request<'a>(&'a self, req: &'a PullRequestRequest, dry: bool) -> HostFuture<'a> {
        Box::pin(async move {
            self.calls.lock().unwrap().push((
                "pull_request".into(),
                dry,
                json!({"integration": req.integration, "handle": req.entry.handle,
                       "branch": req.branch, "base": req.base, "draft": req.draft,
                       "title": req.title, "body": req.body, "actor": req.by.actor,
                       "source": req.by.source.workflow}),
            ));
            Ok(json!({"number": 9, "url": "https://github.test/pull/9", "opened": true}))
        })
    }

    fn pipeline<'a>(&'a self, req: &'a PipelineRequest, dry: bool) -> HostFuture<'a> {
        Box::pin(async move {
            self.calls.lock().unwrap().push((
                "pipeline".into(),
                dry,
                json!({"integration": req.integration, "pipeline": req.pipeline,
                       "handle": req.entry.handle, "branch": req.branch,
                       "actor": req.by.actor}),
            ));
            Ok(json!({"run_id": 77, "url": "https://ado.test/77", "queued": true}))
        })
    }

    fn check_step(&self, step: &StepRef<'_>) -> Result<(), String> {
        match step {
            StepRef::Plugin(p) if p.name != "tracker" => {
                Err(format!("no plugin named {:?} is installed", p.name))
            }
            StepRef::PullRequest(p) if p.integration() != "github" => {
                Err(format!("`{}` is not a GitHub integration", p.integration()))
            }
            _ => Ok(()),
        }
    }
}

struct World {
    _dir: tempfile::TempDir,
    app: Devlog,
    runs: RunStore,
}

impl World {
    async fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let spec = StoreSpec::from_name("sqlite", dir.path(), None).unwrap();
        let store = devlog_store::open(&spec).await.unwrap();
        World {
            app: Devlog::new(store),
            runs: runs::run_store(dir.path()).await,
            _dir: dir,
        }
    }

    fn engine(&self, file: &str, host: Option<Arc<Fake>>) -> Engine {
        let loaded = vec![parse("w.yml", file).unwrap()];
        let e = Engine::new(
            self.app.clone(),
            loaded,
            BTreeSet::new(),
            self.runs.clone(),
            Origin::Cli,
        );
        match host {
            Some(h) => e.with_host(h),
            None => e,
        }
    }

    async fn create(&self, title: &str) -> Entry {
        self.app
            .create(
                NewEntry {
                    title: title.into(),
                    kind: Some(devlog_core::EntryType::Bugfix),
                    priority: Some(Priority::Critical),
                    ..NewEntry::default()
                },
                &WriteMeta::new(Origin::Cli),
            )
            .await
            .unwrap()
            .entry()
            .clone()
    }
}

const ALL: &str = r#"name: outside
on:
  manual:
steps:
  - id: gh
    sync:
      integration: github
  - id: t
    plugin:
      name: tracker
      action: open
      input:
        n: 7
        title: "{{ entry.title }}"
  - notify:
      target: team
      format: slack
      text: "{{ entry.title }} is {{ steps.gh.url }} and {{ steps.t.ticket }}"
  - notify:
      url: "https://hooks.example.test/services/SECRET"
      format: json
      body: '{"title": {{ entry.title | tojson }}, "remote": "{{ steps.gh.remoteId }}"}'
"#;

#[tokio::test]
async fn outside_steps_go_to_the_host_and_their_outputs_feed_later_steps() {
    let w = World::new().await;
    let fake = Arc::new(Fake::default());
    let engine = w.engine(ALL, Some(fake.clone()));
    assert!(engine.host_problems().is_empty());
    let e = w.create("Crash on save").await;
    let run = engine
        .run_manual("outside", Some(e.id), None)
        .await
        .unwrap();
    assert_eq!(run.state, RunState::Succeeded, "{run:#?}");
    let calls = fake.calls();
    assert_eq!(calls.len(), 4);
    assert_eq!(calls[0].0, "sync");
    assert_eq!(calls[0].2["integration"], "github");
    assert_eq!(calls[0].2["handle"], e.handle);
    assert_eq!(
        calls[1].2,
        json!({"plugin": "tracker", "action": "open", "input": {"n": 7, "title": "Crash on save"}})
    );
    assert_eq!(
        calls[2].2["payload"],
        json!({"text": "Crash on save is https://tracker.test/42 and T-7"})
    );
    assert_eq!(calls[2].2["target"], "target team");
    assert_eq!(
        calls[3].2["payload"],
        json!({"title": "Crash on save", "remote": "42"})
    );
    assert!(calls.iter().all(|c| !c.1), "nothing dry");
    // The idempotency key is the run and the step.
    assert_eq!(calls[3].2["key"], format!("{}/3", run.id));
    // The sync step's output names the entry and the integration beside the host's answer.
    assert_eq!(run.steps[0].output["ref"], e.handle_str());
    assert_eq!(run.steps[0].output["integration"], "github");
    // The secret URL is in no record.
    let saved = serde_json::to_string(&w.runs.load(&run.id).await.unwrap()).unwrap();
    assert!(!saved.contains("SECRET"), "{saved}");
    assert_eq!(
        run.steps[3].output["target"],
        "https://hooks.example.test/…"
    );
}

const SHIP: &str = r#"name: ship
on:
  manual:
steps:
  - id: b
    branch: {checkout: true}
  - id: pr
    pull_request:
      branch: "{{ steps.b.name }}"
      draft: true
      title: "{{ entry.ref }}: {{ entry.title }}"
      body: "Opened by {{ workflow.name }}"
  - id: ci
    pipeline:
      pipeline: "CI {{ entry.priority }}"
  - add_note:
      category: progress
      text: "PR {{ steps.pr.number }} ({{ steps.pr.opened }}), run {{ steps.ci.run_id }}"
"#;

#[tokio::test]
async fn branch_pull_request_and_pipeline_steps_render_and_run_as_the_workflow() {
    let w = World::new().await;
    let fake = Arc::new(Fake::default());
    let engine = w.engine(SHIP, Some(fake.clone()));
    assert!(engine.host_problems().is_empty());
    let e = w.create("Ship it").await;
    let run = engine.run_manual("ship", Some(e.id), None).await.unwrap();
    assert_eq!(run.state, RunState::Succeeded, "{run:#?}");
    let calls = fake.calls();
    assert_eq!(calls[0].2, json!({"handle": e.handle, "checkout": true}));
    assert_eq!(
        calls[1].2,
        json!({"integration": "github", "handle": e.handle, "branch": format!("devlog/{}", e.handle),
               "base": null, "draft": true, "title": format!("#{}: Ship it", e.handle),
               "body": "Opened by ship", "actor": "workflow:ship",
               "source": format!("ship/{}", run.id)})
    );
    assert_eq!(
        calls[2].2,
        json!({"integration": "azure-devops", "pipeline": "CI critical", "handle": e.handle,
               "branch": null, "actor": "workflow:ship"})
    );
    let notes = w.app.store().get(e.id).await.unwrap().notes;
    assert_eq!(notes[0].content, "PR 9 (true), run 77");

    // A dry run hands the same requests over, marked dry.
    let dry = engine.dry_run("ship", Some(e.id), None).await.unwrap();
    assert_eq!(dry.error, None, "{dry:#?}");
    let calls = fake.calls();
    assert_eq!(calls.len(), 6);
    assert!(calls[3..].iter().all(|c| c.1), "{calls:?}");

    // The host's load-time check names the step.
    let file = "name: p\non:\n  manual:\nsteps:\n  - pull_request: {integration: jira}\n";
    let engine = w.engine(file, Some(Arc::new(Fake::default())));
    let problems: Vec<String> = engine
        .host_problems()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("steps[0].pull_request: `jira` is not a GitHub integration"),
        "{problems:?}"
    );
    // `pipeline` needs its pipeline.
    let text = "name: n\non:\n  manual:\nsteps:\n  - pipeline: {branch: main}\n";
    let err = parse("n.yml", text).unwrap_err().to_string();
    assert!(err.contains("pipeline"), "{err}");
}

#[tokio::test]
async fn a_dry_run_asks_the_host_what_it_would_do_without_doing_it() {
    let w = World::new().await;
    let fake = Arc::new(Fake::default());
    let engine = w.engine(ALL, Some(fake.clone()));
    let e = w.create("Dry").await;
    let dry = engine.dry_run("outside", Some(e.id), None).await.unwrap();
    assert_eq!(dry.error, None, "{dry:#?}");
    assert_eq!(dry.steps[0].output["plan"], json!(["create"]));
    assert!(fake.calls().iter().all(|c| c.1), "every call dry");
    assert!(
        w.runs.list(None).await.unwrap().is_empty(),
        "no run recorded"
    );
}

#[tokio::test]
async fn a_body_that_is_not_json_fails_the_run_before_any_request() {
    let w = World::new().await;
    let fake = Arc::new(Fake::default());
    let file = "name: bad\non:\n  manual:\nsteps:\n  - notify:\n      target: team\n      format: json\n      body: '{\"title\": {{ entry.title }}}'\n";
    let engine = w.engine(file, Some(fake.clone()));
    let e = w.create("Not quoted").await;
    let run = engine.run_manual("bad", Some(e.id), None).await.unwrap();
    assert_eq!(run.state, RunState::Failed);
    let err = run.error.unwrap();
    assert!(err.contains("not JSON"), "{err}");
    assert!(fake.calls().is_empty());
}

#[tokio::test]
async fn a_host_failure_is_the_steps_failure_with_its_message() {
    let w = World::new().await;
    let fake = Arc::new(Fake {
        fail_plugin: Some("the tracker said: project closed".into()),
        ..Fake::default()
    });
    let file = "name: p\non:\n  manual:\nsteps:\n  - plugin:\n      name: tracker\n      action: open\n  - add_note:\n      category: idea\n      text: after\n";
    let engine = w.engine(file, Some(fake));
    let e = w.create("P").await;
    let run = engine.run_manual("p", Some(e.id), None).await.unwrap();
    assert_eq!(run.state, RunState::Failed);
    assert_eq!(
        run.error.as_deref(),
        Some("step 0: the tracker said: project closed")
    );
    assert!(w.app.store().get(e.id).await.unwrap().notes.is_empty());

    let file = "name: s\non:\n  manual:\nsteps:\n  - sync:\n      integration: nowhere\n";
    let engine = w.engine(file, Some(Arc::new(Fake::default())));
    let run = engine.run_manual("s", Some(e.id), None).await.unwrap();
    assert!(run.error.unwrap().contains("not an enabled integration"));
}

#[tokio::test]
async fn without_a_host_the_steps_fail_saying_so() {
    let w = World::new().await;
    let engine = w.engine(ALL, None);
    let e = w.create("No host").await;
    let run = engine
        .run_manual("outside", Some(e.id), None)
        .await
        .unwrap();
    assert_eq!(run.state, RunState::Failed);
    assert!(run.error.unwrap().contains("`sync` steps need"));
}

#[tokio::test]
async fn the_host_checks_steps_when_workflows_load() {
    let w = World::new().await;
    let file = "name: p\non:\n  manual:\nsteps:\n  - if: 'true'\n    then:\n      - plugin:\n          name: missing\n          action: open\n";
    let engine = w.engine(file, Some(Arc::new(Fake::default())));
    let problems: Vec<String> = engine
        .host_problems()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(problems.len(), 1);
    assert!(problems[0].contains("w.yml"), "{problems:?}");
    assert!(
        problems[0].contains("steps[0].then[0].plugin"),
        "{problems:?}"
    );
    assert!(
        problems[0].contains("no plugin named \"missing\""),
        "{problems:?}"
    );
}

#[test]
fn the_format_checks_notify_and_names_the_new_actions() {
    let bad = |steps: &str| {
        let text = format!("name: n\non:\n  manual:\nsteps:\n{steps}");
        parse("n.yml", &text).unwrap_err().to_string()
    };
    let e = bad("  - notify:\n      format: slack\n      text: hi\n");
    assert!(e.contains("needs `target`"), "{e}");
    let e = bad(
        "  - notify:\n      target: a\n      url: https://x.test\n      format: slack\n      text: hi\n",
    );
    assert!(e.contains("not both"), "{e}");
    let e = bad("  - notify:\n      target: a\n      format: json\n      text: hi\n");
    assert!(e.contains("needs `body`"), "{e}");
    let e = bad("  - sync:\n      integration: github\n      extra: 1\n");
    assert!(e.contains("extra"), "{e}");
    let e = bad("  - {}\n");
    assert!(e.contains("sync, notify, plugin"), "{e}");
    assert!(e.contains("branch, pull_request, pipeline"), "{e}");
    let e = bad("  - branch: {checkout: true, name: x}\n");
    assert!(e.contains("unknown field `name`"), "{e}");
}

#[test]
fn urls_are_shown_without_their_secret_parts() {
    assert_eq!(
        redact_url("https://hooks.slack.com/services/T0/B0/XYZ"),
        "https://hooks.slack.com/…"
    );
    assert_eq!(
        redact_url("https://user:pw@example.test"),
        "https://example.test/…"
    );
    assert_eq!(redact_url("https://example.test"), "https://example.test");
    assert_eq!(redact_url("not a url"), "(a URL)");
    let t = NotifyTarget::Url("https://h.test/secret".into());
    assert_eq!(format!("{t:?}"), "https://h.test/…");
}
