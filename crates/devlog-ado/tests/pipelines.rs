//! Pipelines, runs and deployments end to end: `AdoIntegration` against the fake Azure DevOps
//! with the sync engine over a JSON store. A run is queued once however often the queue is
//! retried (a lost answer included) and recorded on its entry; its completion becomes one note
//! whether the service hook, the poll or both report it; a release deployment adds the
//! deployment and a note to the entries of the work items it carries, once per event.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::sync::Arc;

use devlog_ado::hooks::PIPELINE_RUN;
use devlog_ado::pipelines::{RUN_SYSTEM, RunState};
use devlog_ado::{AdoAuth, AdoConfig, AdoIntegration, NAME};
use devlog_core::entry::{DeploymentStatus, Entry, EntryType};
use devlog_core::integration::{SyncErrorKind, Webhook};
use devlog_core::ops::{Devlog, NewEntry};
use devlog_core::reports::{Report, ReportName, ReportQuery};
use devlog_core::{Origin, Store, WriteMeta};
use devlog_http::{RateLimitConfig, SecretString};
use devlog_sync::{SyncEngine, SyncOptions, SyncReport, SyncState};
use devlog_testkit::fake_ado::{AdoArtifact, AdoProbe, FakeProcess};
use devlog_testkit::fake_remote::Fault;
use serde_json::{Value, json};

struct Rig {
    app: Devlog,
    engine: SyncEngine,
    ado: AdoIntegration,
    probe: AdoProbe,
    _dir: tempfile::TempDir,
}

async fn rig() -> Rig {
    let probe = AdoProbe::start("acme", "Fabrikam", FakeProcess::Agile).await;
    let mut config = AdoConfig::new(
        &probe.organization_url(),
        "Fabrikam",
        AdoAuth::Pat(SecretString::from("ado_pipelines_pat_9876".to_string())),
    )
    .unwrap();
    config.service_hook_secret = Some(SecretString::from("hook-s3cret".to_string()));
    let ado = AdoIntegration::with_limits(config, RateLimitConfig::unpaced()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join(".devlog");
    let store: Arc<dyn Store> = Arc::new(devlog_store::JsonStore::open(&root).await.unwrap());
    let state = SyncState::open(&root.join(".state/sync.sqlite"))
        .await
        .unwrap();
    let engine = SyncEngine::new(
        store.clone(),
        state,
        vec![Arc::new(ado.clone())],
        SyncOptions::default(),
    );
    Rig {
        app: Devlog::new(store),
        engine,
        ado,
        probe,
        _dir: dir,
    }
}

impl Rig {
    async fn entry(&self, title: &str) -> Entry {
        self.app
            .create(
                NewEntry {
                    title: title.into(),
                    kind: Some(EntryType::Feature),
                    ..NewEntry::default()
                },
                &WriteMeta::new(Origin::Cli),
            )
            .await
            .unwrap()
            .into_entry()
    }

    async fn get(&self, e: &Entry) -> Entry {
        self.app.store().get(e.id).await.unwrap()
    }

    async fn queue(
        &self,
        e: &Entry,
        pipeline: &str,
        branch: &str,
    ) -> Result<devlog_ado::pipelines::RunLink, devlog_core::integration::SyncError> {
        self.ado
            .queue_run_for(
                &**self.app.store(),
                &**self.engine.state(),
                e,
                pipeline,
                branch,
            )
            .await
    }

    /// One poll: read, apply through the engine, settle.
    async fn poll(&self) -> (devlog_ado::pipelines::RunPoll, SyncReport) {
        let poll = self.ado.poll_runs(&**self.engine.state()).await.unwrap();
        let mut report = SyncReport::default();
        self.engine
            .apply_actions(NAME, &poll.actions, &mut report)
            .await
            .unwrap();
        self.ado
            .settle_runs(&**self.app.store(), &**self.engine.state(), &poll)
            .await
            .unwrap();
        (poll, report)
    }

    fn contract_ok(&self) {
        let v = self.probe.ado.check_contract();
        assert!(v.is_empty(), "{v:?}");
    }
}

fn run_notes(e: &Entry) -> Vec<String> {
    e.notes
        .iter()
        .filter(|n| n.content.starts_with("Pipeline "))
        .map(|n| n.content.clone())
        .collect()
}

/// A service hook delivery with the Basic password `hook-s3cret`.
fn hook(payload: &Value) -> Webhook {
    Webhook {
        headers: vec![(
            "authorization".into(),
            // devops:hook-s3cret
            "Basic ZGV2b3BzOmhvb2stczNjcmV0".into(),
        )],
        body: serde_json::to_vec(payload).unwrap(),
        query: Vec::new(),
    }
}

fn payload(name: &str) -> Value {
    let p = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/apispecs/azure-devops/service-hooks/docs-events-md")
        .join(name);
    let b = std::fs::read(p).unwrap();
    serde_json::from_slice(b.strip_prefix("\u{feff}".as_bytes()).unwrap_or(&b)).unwrap()
}

/// The official run-state-changed payload, about run `id` of pipeline `CI` on `branch`.
fn run_completed(event_id: &str, id: u64, name: &str, branch: &str) -> Value {
    let mut p = payload("ms.vss-pipelines.run-state-changed-event.json");
    p["id"] = json!(event_id);
    p["resource"]["run"]["id"] = json!(id);
    p["resource"]["run"]["name"] = json!(name);
    p["resource"]["run"]["resources"] =
        json!({"repositories": {"self": {"refName": format!("refs/heads/{branch}")}}});
    p["resource"]["pipeline"]["name"] = json!("CI");
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_is_queued_once_however_often_the_queue_is_retried() {
    let r = rig().await;
    let e = r.entry("Ship the login page").await;
    let ci = r.probe.ado.add_pipeline("CI", "\\");
    r.probe.ado.add_pipeline("Nightly", "\\ops");
    // The queue reaches Azure DevOps, its answer does not reach devlog.
    r.probe.remote.state().inject(
        Fault::on(&format!(
            "POST /acme/Fabrikam/_apis/pipelines/{}/runs",
            ci.id
        ))
        .apply_then_drop()
        .times(1),
    );
    let err = r.queue(&e, "ci", "feature/login").await.unwrap_err();
    assert_eq!(err.kind, SyncErrorKind::Transient, "{err}");
    assert_eq!(r.probe.ado.runs().len(), 1);
    // The retry finds the run the lost answer was about and links it.
    let run = r.queue(&e, "CI", "feature/login").await.unwrap();
    assert!(!run.queued);
    assert_eq!(r.probe.ado.runs().len(), 1, "{:?}", r.probe.ado.runs());
    let made = &r.probe.ado.runs()[0];
    assert_eq!(run.run_id, made.id);
    assert_eq!(made.ref_name, "refs/heads/feature/login");
    assert_eq!(run.branch.as_deref(), Some("feature/login"));
    assert_eq!(run.state, RunState::InProgress);
    assert_eq!(run.pipeline, "CI");
    // Recorded twice: the engine's attachment and the entry's reference.
    assert_eq!(
        r.engine
            .state()
            .attached_entry(NAME, PIPELINE_RUN, &run.run_id.to_string())
            .await
            .unwrap(),
        Some(e.id)
    );
    let refs: Vec<_> = r
        .get(&e)
        .await
        .external_references
        .into_iter()
        .filter(|x| x.system == RUN_SYSTEM)
        .collect();
    assert_eq!(refs.len(), 1);
    assert_eq!(refs[0].id, run.run_id.to_string());
    assert_eq!(refs[0].status.as_deref(), Some("inProgress"));
    assert!(
        refs[0]
            .url
            .as_deref()
            .unwrap()
            .ends_with(&format!("_build/results?buildId={}", run.run_id))
    );
    // Again: the same run, still one.
    let again = r.queue(&e, "CI", "refs/heads/feature/login").await.unwrap();
    assert_eq!((again.run_id, again.queued), (run.run_id, false));
    assert_eq!(r.probe.ado.runs().len(), 1);
    assert_eq!(
        r.get(&e)
            .await
            .external_references
            .iter()
            .filter(|x| x.system == RUN_SYSTEM)
            .count(),
        1
    );
    // Another entry on the same branch does not take this entry's run.
    let other = r.entry("Another piece of work").await;
    let theirs = r.queue(&other, "CI", "feature/login").await.unwrap();
    assert!(theirs.queued);
    assert_ne!(theirs.run_id, run.run_id);
    // Once the run is over, the next queue is a new run; a folder path names a pipeline.
    r.probe.ado.complete_run(run.run_id, "succeeded");
    let next = r.queue(&e, "CI", "feature/login").await.unwrap();
    assert!(next.queued);
    let nightly = r.queue(&e, "ops\\Nightly", "main").await.unwrap();
    assert!(nightly.queued);
    assert_eq!(r.probe.ado.runs().len(), 4);
    // Bad input: clear errors, nothing queued.
    let err = r.queue(&e, "Deploy", "main").await.unwrap_err();
    assert_eq!(err.kind, SyncErrorKind::NotFound);
    assert!(
        err.message.contains("no pipeline `Deploy`") && err.message.contains("CI"),
        "{err}"
    );
    let err = r.queue(&e, "CI", "has space").await.unwrap_err();
    assert!(err.message.contains("not a branch name"), "{err}");
    assert_eq!(r.probe.ado.runs().len(), 4);
    r.contract_ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_run_is_noted_once_by_polling() {
    let r = rig().await;
    let e = r.entry("Poll me").await;
    r.probe.ado.add_pipeline("CI", "\\");
    let run = r.queue(&e, "CI", "feature/poll").await.unwrap();
    // Still running: nothing to say.
    let (poll, _) = r.poll().await;
    assert_eq!((poll.actions.len(), poll.running), (0, 1));
    r.probe.ado.complete_run(run.run_id, "failed");
    let before = r.probe.remote.state().requests().len();
    let (poll, report) = r.poll().await;
    // One request reads every followed run.
    assert_eq!(r.probe.remote.state().requests().len() - before, 1);
    assert_eq!(report.actions_applied, 1);
    assert_eq!(poll.finished.len(), 1);
    let got = r.get(&e).await;
    let text = format!("Pipeline CI run {} failed on feature/poll", run.name);
    assert_eq!(run_notes(&got), vec![text]);
    let note = got
        .notes
        .iter()
        .find(|n| n.content.starts_with("Pipeline"))
        .unwrap();
    assert_eq!(
        note.extra["source"]["url"].as_str(),
        run.url.as_deref(),
        "the note links the run"
    );
    let reference = got
        .external_references
        .iter()
        .find(|x| x.system == RUN_SYSTEM)
        .unwrap();
    assert_eq!(reference.status.as_deref(), Some("completed"));
    assert_eq!(reference.extra["result"], json!("failed"));
    // The run is no longer followed: the next poll reads nothing and adds nothing.
    let before = r.probe.remote.state().requests().len();
    let (poll, _) = r.poll().await;
    assert!(poll.actions.is_empty() && poll.finished.is_empty());
    assert_eq!(r.probe.remote.state().requests().len(), before);
    assert_eq!(run_notes(&r.get(&e).await).len(), 1);
    r.contract_ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hook_and_poll_together_add_one_note() {
    let r = rig().await;
    r.probe.ado.add_pipeline("CI", "\\");
    // The hook first, then the poll.
    let a = r.entry("Hook first").await;
    let run_a = r.queue(&a, "CI", "feature/a").await.unwrap();
    r.probe.ado.complete_run(run_a.run_id, "succeeded");
    let rep = r
        .engine
        .webhook(
            NAME,
            &hook(&run_completed(
                "ev-a",
                run_a.run_id,
                &run_a.name,
                "feature/a",
            )),
        )
        .await
        .unwrap();
    assert_eq!(rep.actions_applied, 1, "{rep:?}");
    let (poll, report) = r.poll().await;
    assert!(
        poll.actions.is_empty(),
        "the hook's note is known: {poll:?}"
    );
    assert_eq!(report.actions_applied, 0);
    assert_eq!(poll.finished.len(), 1, "but the run is settled");
    let got = r.get(&a).await;
    assert_eq!(run_notes(&got).len(), 1, "{:?}", got.notes);
    assert_eq!(
        got.external_references
            .iter()
            .find(|x| x.system == RUN_SYSTEM)
            .unwrap()
            .status
            .as_deref(),
        Some("completed")
    );
    // The poll first, then the hook (and its redelivery).
    let b = r.entry("Poll first").await;
    let run_b = r.queue(&b, "CI", "feature/b").await.unwrap();
    r.probe.ado.complete_run(run_b.run_id, "succeeded");
    let (_, report) = r.poll().await;
    assert_eq!(report.actions_applied, 1);
    for _ in 0..2 {
        let rep = r
            .engine
            .webhook(
                NAME,
                &hook(&run_completed(
                    "ev-b",
                    run_b.run_id,
                    &run_b.name,
                    "feature/b",
                )),
            )
            .await
            .unwrap();
        assert_eq!(rep.actions_applied, 0, "{rep:?}");
    }
    // A second event about the same run (another event id) adds nothing either.
    r.engine
        .webhook(
            NAME,
            &hook(&run_completed(
                "ev-b2",
                run_b.run_id,
                &run_b.name,
                "feature/b",
            )),
        )
        .await
        .unwrap();
    let got = r.get(&b).await;
    assert_eq!(
        run_notes(&got),
        vec![format!(
            "Pipeline CI run {} succeeded on feature/b",
            run_b.name
        )]
    );
    r.contract_ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_reaches_its_entries_once() {
    let r = rig().await;
    let shipped = r.entry("Shipped feature").await;
    let unrelated = r.entry("Unrelated feature").await;
    let rep = r.engine.sync(None, None, &|_, _| {}).await.unwrap();
    assert_eq!(rep.created, 2, "{rep:?}");
    let item_of = |e: &Entry| {
        r.probe
            .ado
            .items()
            .iter()
            .find(|w| w.str_field("System.Tags").contains(&e.id.to_string()))
            .unwrap()
            .id
    };
    let ci = r.probe.ado.add_pipeline("CI", "\\");
    let build = r.probe.ado.start_run(ci.id, "refs/heads/main");
    r.probe.ado.complete_run(build.id, "succeeded");
    // The build carries the shipped entry's work item and one devlog does not know.
    r.probe
        .ado
        .set_run_work_items(build.id, &[item_of(&shipped), 999]);
    r.probe.ado.add_release(
        1,
        "Release-1",
        vec![AdoArtifact {
            alias: "CI".into(),
            kind: "Build".into(),
            build: Some(build.id),
        }],
    );
    let event = payload("ms.vss-release.deployment-completed-event.json");
    let rep = r.engine.webhook(NAME, &hook(&event)).await.unwrap();
    assert_eq!(rep.actions_applied, 1, "{rep:?}");
    let got = r.get(&shipped).await;
    assert_eq!(got.deployments.len(), 1);
    let d = &got.deployments[0];
    assert_eq!(
        (d.environment.as_str(), d.release.as_str(), d.status),
        ("Dev", "Release-1", DeploymentStatus::Succeeded)
    );
    assert_eq!(d.system, "azure-devops");
    assert!(d.url.as_deref().unwrap().contains("releaseId=1"));
    assert_eq!(d.at.to_string(), "2016-01-21T08:19:17.260Z");
    let notes: Vec<&str> = got
        .notes
        .iter()
        .map(|n| n.content.as_str())
        .filter(|c| c.starts_with("Deployed"))
        .collect();
    assert_eq!(notes, ["Deployed to Dev: Release-1"]);
    assert!(r.get(&unrelated).await.deployments.is_empty());
    // A redelivery is applied once.
    let rep = r.engine.webhook(NAME, &hook(&event)).await.unwrap();
    assert_eq!(rep.actions_applied, 0);
    // The same actions applied again (a crash before the delivery was recorded) change
    // nothing either.
    let outcome = r.engine.verify_webhook(NAME, &hook(&event)).await.unwrap();
    let mut report = SyncReport::default();
    r.engine
        .apply_actions(NAME, &outcome.actions, &mut report)
        .await
        .unwrap();
    assert_eq!(report.actions_applied, 0);
    let got = r.get(&shipped).await;
    assert_eq!(got.deployments.len(), 1);
    assert_eq!(
        got.notes
            .iter()
            .filter(|n| n.content.starts_with("Deployed"))
            .count(),
        1
    );
    // A later deployment of the release to production (another attempt) is a second one.
    let mut prod = event.clone();
    prod["id"] = json!("0b5c3a49-4d1c-4b52-9a3e-5a0f4c0d7e11");
    prod["resource"]["environment"]["id"] = json!(6);
    prod["resource"]["environment"]["name"] = json!("Production");
    prod["resource"]["environment"]["status"] = json!("partiallySucceeded");
    r.engine.webhook(NAME, &hook(&prod)).await.unwrap();
    let got = r.get(&shipped).await;
    let envs: Vec<&str> = got
        .deployments
        .iter()
        .map(|d| d.environment.as_str())
        .collect();
    assert_eq!(envs, ["Dev", "Production"]);
    assert!(
        got.notes
            .iter()
            .any(|n| n.content == "Deployed to Production: Release-1 (partially succeeded)")
    );
    // The entry document keeps them through a rewrite (camelCase, typed).
    let doc = serde_json::to_value(&got).unwrap();
    assert_eq!(
        doc["deployments"][1]["status"],
        json!("partially-succeeded")
    );
    let back: Entry = serde_json::from_value(doc).unwrap();
    assert_eq!(back.deployments, got.deployments);

    // The deployments report finds them through the change feed: per environment, and one
    // row per deployment with the entry it carried (the unrelated entry is in none).
    let q = |since: &str| ReportQuery {
        since: Some(since.parse().unwrap()),
        ..ReportQuery::default()
    };
    let out = r
        .app
        .report(ReportName::Deployments, &q("2016-01-01T00:00:00Z"), None)
        .await
        .unwrap();
    let Report::Deployments(d) = &out.report else {
        panic!("{out:?}")
    };
    assert_eq!((d.total, d.entries_deployed), (2, 1), "{d:?}");
    let envs: Vec<(&str, u64, u64)> = d
        .environments
        .iter()
        .map(|e| (e.environment.as_str(), e.succeeded, e.entries))
        .collect();
    assert_eq!(envs.len(), 2, "{d:?}");
    assert!(
        envs.contains(&("Dev", 1, 1)) && envs.contains(&("Production", 1, 1)),
        "{envs:?}"
    );
    for row in &d.deployments {
        let handles: Vec<u64> = row.entries.iter().map(|e| e.handle).collect();
        assert_eq!(handles, [shipped.handle], "{row:?}");
    }
    // A window after them: none, and the note says where deployments come from.
    let out = r
        .app
        .report(ReportName::Deployments, &q("2020-01-01T00:00:00Z"), None)
        .await
        .unwrap();
    let Report::Deployments(d) = &out.report else {
        panic!("{out:?}")
    };
    assert_eq!(d.total, 0);
    assert!(
        out.notes.iter().any(|n| n.contains("no deployment")),
        "{:?}",
        out.notes
    );
    r.contract_ok();
}

/// Classic release deployments found by polling (no service hook): each completed one
/// reaches the entries whose work items it carries once — note and `deployments` — an
/// unfinished one waits for its completion, deployments before polling started are not
/// applied, and an idle poll is one request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn release_deployments_are_found_by_polling_once() {
    let r = rig().await;
    let shipped = r.entry("Polled feature").await;
    r.engine.sync(None, None, &|_, _| {}).await.unwrap();
    let item = r
        .probe
        .ado
        .items()
        .iter()
        .find(|w| w.str_field("System.Tags").contains(&shipped.id.to_string()))
        .unwrap()
        .id;
    let ci = r.probe.ado.add_pipeline("CI", "\\");
    let build = r.probe.ado.start_run(ci.id, "refs/heads/main");
    r.probe.ado.complete_run(build.id, "succeeded");
    r.probe.ado.set_run_work_items(build.id, &[item]);
    r.probe.ado.add_release(
        3,
        "Release-3",
        vec![AdoArtifact {
            alias: "CI".into(),
            kind: "Build".into(),
            build: Some(build.id),
        }],
    );
    // Before polling started: not applied.
    r.probe.ado.deploy(3, 1, "Old", "succeeded");
    let mut cursor: Option<String> = None;
    let poll = |cursor: Option<String>| {
        let (ado, engine) = (r.ado.clone(), &r.engine);
        async move {
            let p = ado.poll_deployments(cursor.as_deref()).await.unwrap();
            let mut report = SyncReport::default();
            engine
                .apply_actions(NAME, &p.actions, &mut report)
                .await
                .unwrap();
            (p, report.actions_applied)
        }
    };
    let requests = || r.probe.remote.state().requests().len();
    let (p, applied) = poll(cursor.clone()).await;
    assert_eq!((p.deployments.len(), applied), (0, 0));
    cursor = p.cursor.or(cursor);
    let dev = r.probe.ado.deploy(3, 4, "Dev", "inProgress");
    let (p, applied) = poll(cursor.clone()).await;
    assert_eq!((p.deployments.len(), applied), (0, 0), "not completed yet");
    cursor = p.cursor.or(cursor);
    r.probe.ado.set_deployment_status(dev.id, "succeeded");
    let (p, applied) = poll(cursor.clone()).await;
    assert_eq!((p.deployments.len(), applied), (1, 1), "{p:?}");
    cursor = p.cursor.or(cursor);
    let got = r.get(&shipped).await;
    assert_eq!(got.deployments.len(), 1);
    let d = &got.deployments[0];
    assert_eq!(
        (d.environment.as_str(), d.release.as_str(), d.status),
        ("Dev", "Release-3", DeploymentStatus::Succeeded)
    );
    assert_eq!(
        d.id,
        format!("azure-devops:release-3:environment-4:deployment-{}", dev.id)
    );
    let notes: Vec<&str> = got
        .notes
        .iter()
        .map(|n| n.content.as_str())
        .filter(|c| c.starts_with("Deployed"))
        .collect();
    assert_eq!(notes, ["Deployed to Dev: Release-3"]);
    // Idle: one request, nothing applied; the same deployment is never applied twice.
    let before = requests();
    let (p, applied) = poll(cursor.clone()).await;
    assert_eq!(
        (p.deployments.len(), applied, requests() - before),
        (0, 0, 1)
    );
    cursor = p.cursor.or(cursor);
    // A failed deployment to production is a second one.
    r.probe.ado.deploy(3, 5, "Production", "failed");
    let (_, applied) = poll(cursor.clone()).await;
    assert_eq!(applied, 1);
    let got = r.get(&shipped).await;
    let envs: Vec<(&str, DeploymentStatus)> = got
        .deployments
        .iter()
        .map(|d| (d.environment.as_str(), d.status))
        .collect();
    assert_eq!(
        envs,
        [
            ("Dev", DeploymentStatus::Succeeded),
            ("Production", DeploymentStatus::Failed)
        ]
    );
    assert!(r.probe.ado.check_contract().is_empty());
}
