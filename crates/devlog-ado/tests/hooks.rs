//! Service hooks on every payload of `../shared/apispecs/azure-devops/service-hooks/` (the
//! official examples, BOM and all), against the fake Azure DevOps: the Basic password checked
//! before parsing, work item events read back as items, commit / pull request mentions and
//! finished runs as notes, deployments as deployment actions on the entries of the work items
//! their release's builds carry, other events ignored with the reason, the event id as the
//! delivery id.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::collections::BTreeMap;
use std::path::PathBuf;

use devlog_ado::hooks::{PIPELINE_RUN, ServiceHook};
use devlog_ado::{AdoAuth, AdoConfig, AdoIntegration};
use devlog_core::integration::{Action, ActionTarget, Integration, SyncErrorKind, Webhook};
use devlog_http::{RateLimitConfig, SecretString};
use devlog_testkit::fake_ado::{AdoArtifact, AdoProbe, FakeProcess};
use serde_json::{Value, json};

const SECRET: &str = "hook-s3cret";
/// `devops:hook-s3cret`
const GOOD: &str = "Basic ZGV2b3BzOmhvb2stczNjcmV0";

/// `../shared/apispecs` beside the checkout, or the folder `DEVLOG_APISPECS` names.
fn hooks_dir() -> PathBuf {
    std::env::var("DEVLOG_APISPECS")
        .map_or_else(
            |_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/apispecs"),
            PathBuf::from,
        )
        .join("azure-devops/service-hooks")
}

fn payload_bytes(name: &str) -> Vec<u8> {
    for dir in ["aspnet-webhooks-vsts", "docs-events-md"] {
        let p = hooks_dir().join(dir).join(name);
        if p.exists() {
            return std::fs::read(p).unwrap();
        }
    }
    panic!("no payload {name}");
}

fn payload(name: &str) -> Value {
    let b = payload_bytes(name);
    serde_json::from_slice(b.strip_prefix("\u{feff}".as_bytes()).unwrap_or(&b)).unwrap()
}

fn hook(authorization: Option<&str>, body: Vec<u8>) -> Webhook {
    let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
    if let Some(a) = authorization {
        headers.push(("authorization".into(), a.into()));
    }
    Webhook {
        headers,
        body,
        query: Vec::new(),
    }
}

async fn start(project: &str, secret: Option<&str>) -> (AdoIntegration, AdoProbe) {
    let probe = AdoProbe::start("acme", project, FakeProcess::Agile).await;
    let mut config = AdoConfig::new(
        &probe.organization_url(),
        project,
        AdoAuth::Pat(SecretString::from("pat-1234".to_string())),
    )
    .unwrap();
    config.service_hook_secret = secret.map(|s| SecretString::from(s.to_string()));
    let ado = AdoIntegration::with_limits(config, RateLimitConfig::unpaced()).unwrap();
    // Work items 1–5; item 5 (the payloads' item) has a comment.
    for n in 1..=5 {
        probe.ado.insert(
            "Bug",
            BTreeMap::from([("System.Title".to_string(), json!(format!("Bug {n}")))]),
        );
    }
    probe
        .ado
        .add_comment(5, "Jamal Hartnett", "<p>This is a great new idea</p>");
    (ado, probe)
}

/// The project each payload is about (work items: `System.TeamProject`; git: the
/// repository's project; others name none).
fn project_of(p: &Value) -> String {
    let r = &p["resource"];
    [
        r.pointer("/fields/System.TeamProject"),
        r.pointer("/revision/fields/System.TeamProject"),
        r.pointer("/repository/project/name"),
        r.pointer("/project/name"),
    ]
    .into_iter()
    .flatten()
    .find_map(Value::as_str)
    .unwrap_or("Fabrikam")
    .to_string()
}

async fn deliver(
    name: &str,
    body: Vec<u8>,
) -> Result<ServiceHook, devlog_core::integration::SyncError> {
    let text = String::from_utf8_lossy(&body).to_string();
    let project = serde_json::from_str::<Value>(text.trim_start_matches('\u{feff}'))
        .map(|p| project_of(&p))
        .unwrap_or_else(|_| "Fabrikam".into());
    let (ado, probe) = start(&project, Some(SECRET)).await;
    let out = ado.service_hook(&hook(Some(GOOD), body)).await;
    assert!(
        probe.ado.check_contract().is_empty(),
        "{name}: {:?}",
        probe.ado.check_contract()
    );
    out
}

fn notes(h: &ServiceHook) -> Vec<(ActionTarget, String)> {
    h.outcome
        .actions
        .iter()
        .filter_map(|a| match &a.action {
            Action::Note(n) => Some((a.target.clone(), n.text.clone())),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn every_official_payload_is_read() {
    let mut seen = 0;
    for dir in ["aspnet-webhooks-vsts", "docs-events-md"] {
        let mut files: Vec<_> = std::fs::read_dir(hooks_dir().join(dir))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .filter(|f| f.ends_with(".json"))
            .collect();
        files.sort();
        for f in files {
            seen += 1;
            let body = payload_bytes(&f);
            let result = deliver(&f, body).await;
            if f == "bad.noEventType.json" {
                let e = result.unwrap_err();
                assert_eq!(e.kind, SyncErrorKind::Permanent, "{f}");
                assert!(e.message.contains("eventType"), "{f}: {e}");
                continue;
            }
            let h = result.unwrap_or_else(|e| panic!("{f}: {e}"));
            let p = payload(&f);
            // The event id is the delivery id (redeliveries are applied once).
            assert_eq!(h.outcome.delivery_id.as_deref(), p["id"].as_str(), "{f}");
            let event = p["eventType"].as_str().unwrap();
            assert_eq!(h.event_type, event);
            let ignored = h.ignored.clone().unwrap_or_default();
            match event {
                "workitem.created" | "workitem.updated" | "workitem.commented"
                | "workitem.restored" => {
                    // Item 5 read back from Azure DevOps (its current state, not the payload's).
                    let ids: Vec<&str> = h
                        .outcome
                        .items
                        .iter()
                        .map(|i| i.remote_id.as_str())
                        .collect();
                    assert_eq!(ids, ["5"], "{f}");
                    assert_eq!(h.outcome.items[0].fields.title, "Bug 5", "{f}");
                    // Its comment comes as a feedback note of the linked entry.
                    let n = notes(&h);
                    assert_eq!(n.len(), 1, "{f}: {n:?}");
                    assert_eq!(
                        n[0].0,
                        ActionTarget::Linked {
                            remote_id: "5".into()
                        }
                    );
                    assert!(h.ignored.is_none(), "{f}: {ignored}");
                }
                "workitem.deleted" => {
                    assert!(h.outcome.items.is_empty() && h.outcome.actions.is_empty());
                    assert!(ignored.contains("work item 5 was deleted"), "{ignored}");
                }
                "git.push"
                | "git.pullrequest.created"
                | "git.pullrequest.updated"
                | "git.pullrequest.merged" => {
                    // The examples mention no entry: nothing to note, nothing ignored.
                    assert!(h.outcome.actions.is_empty(), "{f}: {:?}", h.outcome.actions);
                    assert!(h.ignored.is_none(), "{f}: {ignored}");
                }
                "build.complete" => {
                    let n = notes(&h);
                    assert_eq!(
                        n,
                        vec![(
                            ActionTarget::Attached {
                                kind: PIPELINE_RUN.into(),
                                remote_id: "2".into()
                            },
                            "Build ConsumerAddressModule_20150407.1 of ConsumerAddressModule succeeded on master".to_string()
                        )]
                    );
                }
                "ms.vss-pipelines.run-state-changed-event" => {
                    let n = notes(&h);
                    assert_eq!(
                        n,
                        vec![(
                            ActionTarget::Attached {
                                kind: PIPELINE_RUN.into(),
                                remote_id: "11".into()
                            },
                            "Pipeline TEST-CI run 11 succeeded".to_string()
                        )]
                    );
                    match &h.outcome.actions[0].action {
                        Action::Note(note) => assert_eq!(
                            note.url.as_deref(),
                            Some(
                                "https://codedev.ms/org/863d0a5b-3c91-4bf3-8ad7-7f33736b7f4c/_build/results?buildId=11"
                            )
                        ),
                        a => panic!("{a:?}"),
                    }
                }
                "ms.vss-release.deployment-completed-event" => {
                    assert!(h.outcome.actions.is_empty() && h.outcome.items.is_empty());
                    // The fake has no release 1 here: said, nothing applied.
                    assert!(
                        ignored.contains("Release-1")
                            && ignored.contains("Dev")
                            && ignored.contains("release 1 does not exist"),
                        "{ignored}"
                    );
                }
                // message.posted, tfvc.checkin, stage events, unknownType.
                other => {
                    assert!(h.outcome.actions.is_empty() && h.outcome.items.is_empty());
                    assert!(
                        ignored.contains(&format!("`{other}` is not followed")),
                        "{f}: {ignored}"
                    );
                }
            }
        }
    }
    assert_eq!(seen, 17, "payload files");
}

fn with(name: &str, edit: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut p = payload(name);
    edit(&mut p);
    serde_json::to_vec(&p).unwrap()
}

#[tokio::test]
async fn commits_mentioning_entries_become_notes() {
    let body = with("git.push.json", |p| {
        p["resource"]["commits"][0]["comment"] = json!("Fix login for devlog-12 (#5)\n\nmore");
    });
    let h = deliver("git.push", body).await.unwrap();
    let n = notes(&h);
    let text = "Commit c8e823a6 pushed to master: Fix login for devlog-12 (#5)".to_string();
    assert_eq!(
        n,
        vec![
            (
                ActionTarget::Reference {
                    reference: "devlog-12".into()
                },
                text.clone()
            ),
            (
                ActionTarget::Linked {
                    remote_id: "5".into()
                },
                text
            ),
        ]
    );
    let Action::Note(note) = &h.outcome.actions[0].action else {
        panic!()
    };
    assert_eq!(
        note.url.as_deref(),
        Some(
            "https://good-company.some.ssl.host/tfs/GoodCompany/_git/Project/commit/c8e823a60a85381732726d6a9b6a276e71e6ce12"
        )
    );
    assert_eq!(note.author.as_deref(), Some("John Smith"));
    // Keys name the commit and the reference: a redelivery or a second push of it is one note.
    assert_eq!(
        h.outcome.actions[0].key,
        "commit:c8e823a60a85381732726d6a9b6a276e71e6ce12:devlog-12"
    );
}

#[tokio::test]
async fn pull_requests_mentioning_entries_become_notes_by_state() {
    for (file, state) in [
        ("git.pullrequest.created.json", "created"),
        ("git.pullrequest.merged.json", "completed"),
        ("git.pullrequest.updated.json", "completed"),
    ] {
        let body = with(file, |p| {
            p["resource"]["description"] = json!("Closes #5");
            p["resource"]["sourceRefName"] = json!("refs/heads/feature/devlog-7-login");
        });
        let h = deliver(file, body).await.unwrap();
        let text = format!("Pull request 1 {state} in Fabrikam: my first pull request");
        assert_eq!(
            notes(&h),
            vec![
                (
                    ActionTarget::Linked {
                        remote_id: "5".into()
                    },
                    text.clone()
                ),
                (
                    ActionTarget::Reference {
                        reference: "devlog-7".into()
                    },
                    text
                ),
            ],
            "{file}"
        );
    }
    // An update of an active pull request (a vote, a push) adds nothing.
    let body = with("git.pullrequest.updated.json", |p| {
        p["resource"]["status"] = json!("active");
        p["resource"]["description"] = json!("Closes #5");
    });
    assert!(
        deliver("active", body)
            .await
            .unwrap()
            .outcome
            .actions
            .is_empty()
    );
}

#[tokio::test]
async fn missing_and_null_fields_are_tolerated() {
    // An update naming its item by `workItemId`, without a revision.
    let body = with("workitem.updated.json", |p| {
        p["resource"]["workItemId"] = json!(3);
        p["resource"]["revision"] = Value::Null;
        p["message"] = Value::Null;
    });
    let h = deliver("updated", body).await.unwrap();
    assert_eq!(h.outcome.items[0].remote_id, "3");
    // A pull request without title, repository or dates.
    let body = with("git.pullrequest.created.json", |p| {
        let r = p["resource"].as_object_mut().unwrap();
        r.insert("title".into(), Value::Null);
        r.remove("repository");
        r.remove("creationDate");
        r.insert("description".into(), json!("for devlog-9"));
    });
    let h = deliver("pr", body).await.unwrap();
    assert_eq!(notes(&h)[0].1, "Pull request 1 created in Azure Repos");
    // A build without a definition, branch or links.
    let body = with("build.complete.json", |p| {
        let r = p["resource"].as_object_mut().unwrap();
        r.remove("definition");
        r.remove("sourceGetVersion");
        r.remove("url");
        r.insert("status".into(), Value::Null);
    });
    let h = deliver("build", body).await.unwrap();
    assert_eq!(
        notes(&h)[0].1,
        "Build ConsumerAddressModule_20150407.1 of pipeline completed"
    );
    // A work item event without any id is a clear error.
    let body = with("workitem.created.json", |p| {
        p["resource"]["id"] = Value::Null;
    });
    let e = deliver("no id", body).await.unwrap_err();
    assert!(e.message.contains("without a work item id"), "{e}");
}

#[tokio::test]
async fn a_branch_run_notes_the_entry_it_names_and_unfinished_runs_wait() {
    let body = with("ms.vss-pipelines.run-state-changed-event.json", |p| {
        p["resource"]["run"]["resources"] =
            json!({"repositories": {"self": {"refName": "refs/heads/bugfix/devlog-21-crash"}}});
    });
    let h = deliver("run", body).await.unwrap();
    let targets: Vec<ActionTarget> = notes(&h).into_iter().map(|n| n.0).collect();
    assert_eq!(
        targets,
        vec![
            ActionTarget::Attached {
                kind: PIPELINE_RUN.into(),
                remote_id: "11".into()
            },
            ActionTarget::Reference {
                reference: "devlog-21".into()
            }
        ]
    );
    let body = with("ms.vss-pipelines.run-state-changed-event.json", |p| {
        p["resource"]["run"]["state"] = json!("inProgress");
    });
    let h = deliver("running", body).await.unwrap();
    assert!(h.outcome.actions.is_empty());
    assert!(h.ignored.unwrap().contains("when it completes"));
}

#[tokio::test]
async fn credentials_are_checked_before_the_body_is_read() {
    let (ado, probe) = start("GoodCompanyCloud", Some(SECRET)).await;
    let before = probe.remote.state().requests().len();
    let body = payload_bytes("workitem.created.json");
    for (auth, what) in [
        (None, "credentials"),
        (Some("Bearer hook-s3cret"), "not Basic"),
        // devops:wrong
        (Some("Basic ZGV2b3BzOndyb25n"), "does not match"),
        (Some("Basic %%%"), "base64"),
        // hook-s3cret without the `:` separator
        (Some("Basic aG9vay1zM2NyZXQ="), "user:password"),
    ] {
        let e = ado
            .service_hook(&hook(auth, body.clone()))
            .await
            .unwrap_err();
        assert_eq!(e.kind, SyncErrorKind::Auth, "{auth:?}: {e}");
        assert!(e.message.contains(what), "{auth:?}: {e}");
        assert!(!e.message.contains(SECRET));
    }
    // Not even a malformed body is looked at without the password.
    let e = ado
        .service_hook(&hook(Some("Basic ZGV2b3BzOndyb25n"), b"{not json".to_vec()))
        .await
        .unwrap_err();
    assert_eq!(e.kind, SyncErrorKind::Auth);
    // The refused deliveries cost no request.
    assert_eq!(probe.remote.state().requests().len(), before);
    // Any user name, even none, with the right password.
    for auth in [
        GOOD,
        "Basic Omhvb2stczNjcmV0",
        "basic ZGV2b3BzOmhvb2stczNjcmV0",
    ] {
        ado.service_hook(&hook(Some(auth), body.clone()))
            .await
            .unwrap();
    }
    // With the password, a malformed body is a clear error.
    let e = ado
        .handle_webhook(&hook(Some(GOOD), b"{not json".to_vec()))
        .await
        .unwrap_err();
    assert_eq!(e.kind, SyncErrorKind::Permanent);
    assert!(e.message.contains("not JSON"), "{e}");
    let (ado, probe) = start("GoodCompanyCloud", None).await;
    let e = ado
        .handle_webhook(&hook(Some(GOOD), body.clone()))
        .await
        .unwrap_err();
    assert_eq!(e.kind, SyncErrorKind::Auth);
    assert!(e.message.contains("serviceHookSecret is not set"), "{e}");
    assert_eq!(probe.remote.state().requests().len(), 0);
}

#[tokio::test]
async fn events_of_another_project_are_ignored_with_the_reason() {
    let (ado, probe) = start("Fabrikam", Some(SECRET)).await;
    let h = ado
        .service_hook(&hook(Some(GOOD), payload_bytes("workitem.updated.json")))
        .await
        .unwrap();
    assert!(h.outcome.items.is_empty());
    assert_eq!(
        h.ignored.as_deref(),
        Some("`workitem.updated` is about project GoodCompanyCloud, not Fabrikam")
    );
    assert_eq!(probe.remote.state().requests().len(), 0, "nothing read");
    // handle_webhook (the port) returns the same outcome, with the delivery id.
    let out = ado
        .handle_webhook(&hook(Some(GOOD), payload_bytes("workitem.updated.json")))
        .await
        .unwrap();
    assert_eq!(
        out.delivery_id.as_deref(),
        Some("27646e0e-b520-4d2b-9411-bba7524947cd")
    );
}

#[tokio::test]
async fn a_deployment_reaches_the_entries_of_the_work_items_its_builds_carry() {
    let (ado, probe) = start("Fabrikam", Some(SECRET)).await;
    let ci = probe.ado.add_pipeline("CI", "\\");
    let build = probe.ado.start_run(ci.id, "refs/heads/main");
    probe.ado.complete_run(build.id, "succeeded");
    probe.ado.set_run_work_items(build.id, &[3, 5]);
    probe.ado.add_release(
        1,
        "Release-1",
        vec![
            AdoArtifact {
                alias: "CI".into(),
                kind: "Build".into(),
                build: Some(build.id),
            },
            AdoArtifact {
                alias: "infra".into(),
                kind: "Git".into(),
                build: None,
            },
        ],
    );
    let body = payload_bytes("ms.vss-release.deployment-completed-event.json");
    let h = ado.service_hook(&hook(Some(GOOD), body)).await.unwrap();
    assert!(
        probe.ado.check_contract().is_empty(),
        "{:?}",
        probe.ado.check_contract()
    );
    let got: Vec<(String, ActionTarget)> = h
        .outcome
        .actions
        .iter()
        .map(|a| (a.key.clone(), a.target.clone()))
        .collect();
    assert_eq!(
        got,
        [3, 5]
            .iter()
            .map(|n| (
                format!(
                    "deploy:release-1:environment-5:event-c3e52c57-187a-45c4-abe2-184a48291bad:{n}"
                ),
                ActionTarget::Linked {
                    remote_id: n.to_string()
                }
            ))
            .collect::<Vec<_>>()
    );
    let Action::Deployment { deployment, note } = &h.outcome.actions[0].action else {
        panic!("{:?}", h.outcome.actions[0]);
    };
    assert_eq!(note, "Deployed to Dev: Release-1");
    // The workflow events (`on: webhook: {integration: azure-devops, event: deployment.completed}`):
    // one per work item linked to an entry, with the environment.
    let signals: Vec<_> = h
        .outcome
        .signals
        .iter()
        .map(|s| {
            (
                s.kind.as_str(),
                s.target.clone(),
                s.data["environment"].clone(),
            )
        })
        .collect();
    assert_eq!(
        signals,
        [3, 5]
            .iter()
            .map(|n| (
                "deployment.completed",
                Some(ActionTarget::Linked {
                    remote_id: n.to_string()
                }),
                serde_json::json!("Dev")
            ))
            .collect::<Vec<_>>()
    );
    assert_eq!(h.outcome.signals[0].data["status"], "succeeded");
    assert_eq!(h.outcome.signals[0].data["release"]["name"], "Release-1");
    assert_eq!(deployment.environment, "Dev");
    assert_eq!(deployment.release, "Release-1");
    assert_eq!(
        deployment.status,
        devlog_core::entry::DeploymentStatus::Succeeded
    );
    assert_eq!(
        deployment.id,
        "azure-devops:release-1:environment-5:event-c3e52c57-187a-45c4-abe2-184a48291bad"
    );
    assert!(deployment.url.as_deref().unwrap().contains("releaseId=1"));
    // The Git artifact is named as not read.
    assert!(
        h.ignored
            .as_deref()
            .unwrap()
            .contains("artifact infra (Git)"),
        "{:?}",
        h.ignored
    );
    // The release API was asked on the organization URL (a test server: no vsrm host).
    assert_eq!(
        probe
            .remote
            .state()
            .requests_matching("GET /acme/Fabrikam/_apis/release/releases/1")
            .len(),
        1
    );
    // A release whose build links no work items: nothing to apply, said so.
    probe.ado.set_run_work_items(build.id, &[]);
    let body = payload_bytes("ms.vss-release.deployment-completed-event.json");
    let h = ado.service_hook(&hook(Some(GOOD), body)).await.unwrap();
    assert!(h.outcome.actions.is_empty());
    assert!(
        h.ignored
            .as_deref()
            .unwrap()
            .contains("the release carries no work items"),
        "{:?}",
        h.ignored
    );
}
