//! What the CLI, MCP and server wiring relies on, against the test kit's fake Jira: the health
//! check naming every missing piece, linking and unlinking existing issues, the plan's
//! transition preview, and webhooks on every payload in `apispecs/jira/webhooks/` (Cloud and
//! Server shapes), with their authentication.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use devlog_core::entry::{EntryType, Status};
use devlog_core::id::EntryId;
use devlog_core::integration::{Action, ActionTarget, Integration, SyncErrorKind, Webhook};
use devlog_core::merge::{FieldSet, SyncedField, SyncedFields};
use devlog_http::{RateLimitConfig, SecretString};
use devlog_jira::config::MappedField;
use devlog_jira::webhook::{DELIVERY_HEADER, SIGNATURE_HEADER, signature};
use devlog_jira::{JiraAuth, JiraConfig, JiraIntegration};
use devlog_testkit::EntryBuilder;
use devlog_testkit::integration_conformance::JiraProbe;
use serde_json::{Value, json};

const SECRET: &str = "jira-webhook-secret-42";
const URL_TOKEN: &str = "url-token-0123456789abcdef";

async fn start(edit: impl FnOnce(&mut JiraConfig)) -> (JiraIntegration, JiraProbe) {
    let probe = JiraProbe::start("DEV").await;
    let mut config = JiraConfig::new(
        &probe.remote.url(),
        "DEV",
        JiraAuth::Basic {
            email: "bot@example.com".into(),
            api_token: SecretString::from("jira_wiring_token".to_string()),
        },
    )
    .unwrap();
    edit(&mut config);
    let jira = JiraIntegration::with_limits(config, RateLimitConfig::unpaced()).unwrap();
    (jira, probe)
}

fn fields(title: &str, status: Status) -> SyncedFields {
    SyncedFields {
        title: title.into(),
        description: "As a user I sign in.".into(),
        status,
        priority: devlog_core::entry::Priority::Medium,
        kind: EntryType::Feature,
        assignee: None,
        tags: Vec::new(),
        milestone: None,
        estimated_hours: None,
        actual_hours: None,
        acceptance_criteria: None,
        due_date: None,
        points: None,
    }
}

/// Creates an issue for a new entry; its key and the entry's id.
async fn issue(jira: &JiraIntegration, title: &str) -> (String, EntryId) {
    let e = EntryBuilder::new(title).build();
    let item = jira.create(&e, &fields(title, Status::New)).await.unwrap();
    (item.remote_id, e.id)
}

#[tokio::test]
async fn the_check_reports_the_account_project_statuses_fields_and_board() {
    let (jira, _probe) = start(|c| {
        c.board_id = Some(devlog_testkit::fake_jira::BOARD_ID);
        c.custom_fields
            .insert(MappedField::EstimatedHours, "Story point estimate".into());
    })
    .await;
    let h = jira.health().await.unwrap();
    assert!(h.ok);
    assert!(h.message.contains("reached project DEV"), "{}", h.message);
}

#[tokio::test]
async fn the_check_names_what_is_missing_with_its_key() {
    type Edit = Box<dyn FnOnce(&mut JiraConfig)>;
    let cases: Vec<(Edit, &str)> = vec![
        (
            Box::new(|c| {
                c.issue_types.insert(EntryType::Bugfix, "Defect".into());
            }),
            "integrations.jira.issueTypes.bugfix: project DEV has no issue type `Defect`",
        ),
        (
            Box::new(|c| {
                c.status_mapping.insert(Status::Done, "Finished".into());
            }),
            "integrations.jira.statusMapping.done: project DEV has no status `Finished`",
        ),
        (
            Box::new(|c| {
                c.custom_fields
                    .insert(MappedField::EstimatedHours, "Story points".into());
            }),
            "integrations.jira.customFields.estimatedHours",
        ),
        (
            Box::new(|c| c.board_id = Some(99)),
            "integrations.jira.boardId",
        ),
    ];
    for (edit, key) in cases {
        let (jira, _probe) = start(edit).await;
        let e = jira.health().await.unwrap_err();
        assert!(e.message.contains(key), "{key} not in: {}", e.message);
    }
}

#[tokio::test]
async fn linking_sets_the_marker_and_unlinking_removes_it() {
    let (jira, probe) = start(|_| {}).await;
    let (key, created_for) = issue(&jira, "Sign-in").await;
    jira.release_issue(&key).await.unwrap();
    assert!(probe.jira.issue(&key).unwrap().properties.is_empty());
    assert!(jira.find_by_marker(created_for).await.unwrap().is_none());
    // Released twice: nothing to delete, no error.
    jira.release_issue(&key).await.unwrap();
    let other = EntryId::new_random();
    let item = jira.adopt_issue(&key, other).await.unwrap();
    assert_eq!(item.marker, Some(other));
    assert_eq!(
        jira.find_by_marker(other).await.unwrap().unwrap().remote_id,
        key
    );
    // Adopted again by the same entry: fine; by another: refused, naming the owner.
    jira.adopt_issue(&key, other).await.unwrap();
    let e = jira
        .adopt_issue(&key, EntryId::new_random())
        .await
        .unwrap_err();
    assert!(e.message.contains("already linked"), "{}", e.message);
    // The conversation comes along as feedback notes with their authors.
    probe.jira.add_comment(&key, "ana", "Looks good");
    let actions = jira.comment_actions(&key).await.unwrap();
    assert_eq!(actions.len(), 1);
    match &actions[0].action {
        Action::Note(n) => {
            assert_eq!(n.text, "Looks good");
            assert!(n.author.is_some(), "{n:?}");
            assert!(n.note_marker.is_none(), "{n:?}");
        }
        other => panic!("{other:?}"),
    }
    let e = jira.adopt_issue("DEV-999", other).await.unwrap_err();
    assert_eq!(e.kind, SyncErrorKind::NotFound, "{e:?}");
    assert!(probe.jira.check_contract().is_empty());
}

#[tokio::test]
async fn the_plan_names_the_transition_and_a_blocking_resolution() {
    let (jira, probe) = start(|_| {}).await;
    let (key, _) = issue(&jira, "Sign-in").await;
    let status = FieldSet::from([SyncedField::Status]);
    let steps = jira
        .plan_update(&key, &fields("Sign-in", Status::Done), &status)
        .await
        .unwrap();
    let text = steps.join("; ");
    assert!(
        text.contains("status `To Do` → status `Done` (done)")
            && text.contains(
                "transition `Start` (`To Do` → `In Progress`), then on through the workflow"
            ),
        "{text}"
    );
    // Nothing was transitioned.
    assert_eq!(probe.jira.issue(&key).unwrap().status, "To Do");
    assert!(
        probe
            .remote
            .state()
            .requests_matching("POST /rest/api/3/issue/*/transitions")
            .is_empty()
    );
    // One hop from Done, with the resolution the screen requires.
    probe
        .jira
        .edit_issue(&key, |i| i.status = "In Review".into());
    let text = jira
        .plan_update(&key, &fields("Sign-in", Status::Done), &status)
        .await
        .unwrap()
        .join("; ");
    assert!(
        text.contains("transition `Finish` (`In Review` → `Done`) with resolution `Done`")
            && !text.contains("then on"),
        "{text}"
    );
    // Without a resolution mapped, the plan says the push would be blocked and why.
    let (jira, probe) = start(|c| {
        c.resolutions.clear();
    })
    .await;
    let (key, _) = issue(&jira, "Sign-in").await;
    probe
        .jira
        .edit_issue(&key, |i| i.status = "In Review".into());
    let text = jira
        .plan_update(&key, &fields("Sign-in", Status::Done), &status)
        .await
        .unwrap()
        .join("; ");
    assert!(
        text.contains("blocked: integrations.jira.resolutions.done"),
        "{text}"
    );
    // Only the status asks for a preview.
    assert!(
        jira.plan_update(
            &key,
            &fields("x", Status::Done),
            &FieldSet::from([SyncedField::Title])
        )
        .await
        .unwrap()
        .is_empty()
    );
}

fn signed(body: &[u8], delivery: &str) -> Webhook {
    Webhook {
        headers: vec![
            (SIGNATURE_HEADER.into(), signature(SECRET.as_bytes(), body)),
            (DELIVERY_HEADER.into(), delivery.into()),
        ],
        body: body.to_vec(),
        query: Vec::new(),
    }
}

fn payloads() -> Vec<(String, String)> {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/apispecs/jira/webhooks"
    );
    let mut out = Vec::new();
    for sub in std::fs::read_dir(dir).unwrap() {
        let sub = sub.unwrap().path();
        for f in std::fs::read_dir(&sub).unwrap() {
            let f = f.unwrap().path();
            if f.extension().is_some_and(|e| e == "json") {
                out.push((
                    f.file_name().unwrap().to_string_lossy().to_string(),
                    std::fs::read_to_string(&f).unwrap(),
                ));
            }
        }
    }
    out.sort();
    assert!(out.len() >= 50, "{} payloads", out.len());
    out
}

/// The payload made about our issue `key` (id `id`) of project DEV: its issue key, issue id
/// (also inside REST URLs and `worklog.issueId`) and project key replaced.
fn about(text: &str, key: &str, id: u64, comment: u64) -> String {
    let v: Value = serde_json::from_str(text).unwrap();
    let mut out = text.to_string();
    if let Some(c) = v.pointer("/comment/id").and_then(Value::as_str) {
        out = out
            .replace(
                &format!("\"id\": \"{c}\""),
                &format!("\"id\": \"{comment}\""),
            )
            .replace(&format!("/comment/{c}\""), &format!("/comment/{comment}\""));
    }
    if let Some(k) = v.pointer("/issue/key").and_then(Value::as_str) {
        out = out.replace(&format!("\"{k}\""), &format!("\"{key}\""));
    }
    let ids = [
        v.pointer("/issue/id")
            .and_then(Value::as_str)
            .map(str::to_string),
        v.pointer("/worklog/issueId")
            .and_then(Value::as_str)
            .map(str::to_string),
        v.pointer("/comment/self")
            .and_then(Value::as_str)
            .and_then(|s| {
                let parts: Vec<&str> = s.split('/').collect();
                let k = parts.iter().position(|p| *p == "issue")?;
                parts.get(k + 1).map(|s| s.to_string())
            }),
    ];
    for old in ids.into_iter().flatten() {
        out = out
            .replace(&format!("/issue/{old}/"), &format!("/issue/{id}/"))
            .replace(
                &format!("\"issueId\": \"{old}\""),
                &format!("\"issueId\": \"{id}\""),
            )
            .replace(&format!("\"id\": \"{old}\""), &format!("\"id\": \"{id}\""));
    }
    let mut v: Value = serde_json::from_str(&out).unwrap();
    if let Some(p) = v.pointer_mut("/issue/fields/project/key") {
        *p = json!("DEV");
    }
    serde_json::to_string(&v).unwrap()
}

#[tokio::test]
async fn every_payload_is_verified_then_read_as_its_event() {
    let (jira, probe) = start(|c| {
        c.webhook_secret = Some(SecretString::from(SECRET.to_string()));
    })
    .await;
    let (key, _) = issue(&jira, "Sign-in").await;
    let id = probe.jira.issue(&key).unwrap().id;
    let comment = probe
        .jira
        .add_comment(&key, "ana", "Seen on 1.2 too.")
        .unwrap()
        .id;
    for (name, text) in payloads() {
        let v: Value = serde_json::from_str(&text).unwrap();
        let event = v["webhookEvent"].as_str().unwrap().to_string();
        let kind = v["issue_event_type_name"].as_str().unwrap_or_default();
        // As delivered: another site's project, so nothing applies (and nothing fails).
        let o = jira
            .handle_webhook(&signed(text.as_bytes(), &name))
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(o.items.is_empty() && o.actions.is_empty(), "{name}: {o:?}");
        assert_eq!(o.delivery_id.as_deref(), Some(name.as_str()));
        // About our issue: read as its event.
        let body = about(&text, &key, id, comment);
        let o = jira
            .handle_webhook(&signed(body.as_bytes(), &name))
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let linked = ActionTarget::Linked {
            remote_id: key.clone(),
        };
        match event.as_str() {
            "jira:issue_created" | "jira:issue_updated" => {
                assert_eq!(o.items.len(), 1, "{name}: {o:?}");
                assert_eq!(o.items[0].remote_id, key, "{name}");
                let comment = matches!(
                    kind,
                    "issue_commented" | "issue_comment_edited" | "issue_comment_deleted"
                ) && v.get("comment").is_some_and(Value::is_object);
                assert_eq!(o.actions.len(), usize::from(comment), "{name}: {o:?}");
            }
            "jira:issue_deleted" => assert!(o.items.is_empty() && o.actions.is_empty()),
            "comment_created" | "comment_updated" => {
                assert_eq!(o.actions.len(), 1, "{name}: {o:?}");
                assert_eq!(o.actions[0].target, linked, "{name}");
                let Action::Note(n) = &o.actions[0].action else {
                    panic!("{name}: {o:?}")
                };
                assert_eq!(n.remote_id, format!("comment:{comment}"), "{name}");
                assert_eq!(n.text, "Seen on 1.2 too.", "{name}");
            }
            "comment_deleted" => {
                assert!(
                    matches!(&o.actions[..], [a] if matches!(a.action, Action::NoteDeleted { .. })),
                    "{name}: {o:?}"
                );
            }
            "worklog_created" | "worklog_updated" | "worklog_deleted" => {
                assert_eq!(o.items.len(), 1, "{name}: {o:?}");
                assert_eq!(o.items[0].remote_id, key, "{name}");
                // A deletion removes the mirrored worklog; the payload's worklog is not on
                // our issue, so a creation reads back nothing to mirror.
                let deleted = event == "worklog_deleted";
                assert_eq!(o.actions.len(), usize::from(deleted), "{name}: {o:?}");
                if deleted {
                    assert!(
                        matches!(&o.actions[0].action, Action::WorklogDeleted { remote_id } if remote_id.starts_with("worklog:")),
                        "{name}: {o:?}"
                    );
                }
            }
            other => panic!("{name}: unexpected event {other}"),
        }
        // Tampered: refused before anything is read.
        let mut hook = signed(body.as_bytes(), &name);
        hook.body.push(b' ');
        let e = jira.handle_webhook(&hook).await.unwrap_err();
        assert_eq!(e.kind, SyncErrorKind::Auth, "{name}");
    }
    assert!(probe.jira.check_contract().is_empty());
}

#[tokio::test]
async fn missing_and_null_fields_are_tolerated_and_bad_bodies_named() {
    let (jira, probe) = start(|c| {
        c.webhook_secret = Some(SecretString::from(SECRET.to_string()));
    })
    .await;
    let (key, _) = issue(&jira, "Sign-in").await;
    for body in [
        json!({"webhookEvent": "jira:issue_updated", "issue": {"key": key, "fields": null}, "timestamp": null}),
        json!({"webhookEvent": "comment_created", "issue": {"key": key}, "comment": {"id": 5, "body": null, "author": null}}),
        json!({"webhookEvent": "comment_deleted", "issue": {"key": key}, "comment": {"id": "5"}}),
        json!({"webhookEvent": "jira:issue_deleted", "issue": null}),
        json!({"webhookEvent": null}),
        json!({}),
    ] {
        let b = serde_json::to_vec(&body).unwrap();
        jira.handle_webhook(&signed(&b, "d"))
            .await
            .unwrap_or_else(|e| panic!("{body}: {e}"));
    }
    let b = b"{\"webhookEvent\": \"jira:issue_updated\", ";
    let e = jira.handle_webhook(&signed(b, "d")).await.unwrap_err();
    assert_eq!(e.kind, SyncErrorKind::Permanent);
    assert!(e.message.contains("not JSON"), "{}", e.message);
    let b = b"[1]";
    let e = jira.handle_webhook(&signed(b, "d")).await.unwrap_err();
    assert!(e.message.contains("not a JSON object"), "{}", e.message);
    // An issue event without a key cannot be applied: said so.
    let b =
        serde_json::to_vec(&json!({"webhookEvent": "jira:issue_updated", "issue": {}})).unwrap();
    let e = jira.handle_webhook(&signed(&b, "d")).await.unwrap_err();
    assert!(e.message.contains("no issue key"), "{}", e.message);
    assert!(probe.jira.check_contract().is_empty());
}

#[tokio::test]
async fn without_a_secret_the_url_token_authenticates_and_without_either_all_is_refused() {
    let body = serde_json::to_vec(&json!({"webhookEvent": "jira:issue_deleted"})).unwrap();
    let hook = |token: Option<&str>| Webhook {
        headers: Vec::new(),
        body: body.clone(),
        query: token
            .map(|t| vec![("token".to_string(), t.to_string())])
            .unwrap_or_default(),
    };
    let (jira, _probe) = start(|c| {
        c.webhook_token = Some(SecretString::from(URL_TOKEN.to_string()));
    })
    .await;
    jira.handle_webhook(&hook(Some(URL_TOKEN))).await.unwrap();
    for bad in [None, Some("url-token-0123456789abcdeX"), Some("")] {
        let e = jira.handle_webhook(&hook(bad)).await.unwrap_err();
        assert_eq!(e.kind, SyncErrorKind::Auth);
        assert!(e.message.contains("token"), "{}", e.message);
        assert!(!e.message.contains(URL_TOKEN));
    }
    // The Debug of a hook never shows the token.
    assert!(!format!("{:?}", hook(Some(URL_TOKEN))).contains(URL_TOKEN));
    let (jira, _probe) = start(|_| {}).await;
    let e = jira
        .handle_webhook(&hook(Some(URL_TOKEN)))
        .await
        .unwrap_err();
    assert_eq!(e.kind, SyncErrorKind::Auth);
    assert!(
        e.message.contains("webhookSecret") && e.message.contains("webhookToken"),
        "{}",
        e.message
    );
}

#[tokio::test]
async fn sprint_events_note_the_sprint_on_its_issues_entries() {
    let (jira, probe) = start(|c| {
        c.webhook_secret = Some(SecretString::from(SECRET.to_string()));
        c.board_id = Some(devlog_testkit::fake_jira::BOARD_ID);
    })
    .await;
    let (a, _) = issue(&jira, "One").await;
    let (b, _) = issue(&jira, "Two").await;
    let id = probe.jira.add_sprint("Sprint 3", "active", None, None);
    let sprint = jira
        .sprints()
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.id == id)
        .unwrap();
    jira.move_to_sprint(&sprint, &[a.clone(), b.clone()])
        .await
        .unwrap();
    for (event, what) in [("sprint_started", "started"), ("sprint_closed", "closed")] {
        let body = serde_json::to_vec(
            &json!({"timestamp": 1700000000000i64, "webhookEvent": event,
            "sprint": {"id": id, "name": "Sprint 3", "state": "active",
                       "originBoardId": devlog_testkit::fake_jira::BOARD_ID}}),
        )
        .unwrap();
        let o = jira.handle_webhook(&signed(&body, event)).await.unwrap();
        let keys: Vec<_> = o.actions.iter().map(|x| x.target.clone()).collect();
        assert_eq!(
            keys,
            [a.clone(), b.clone()]
                .map(|k| ActionTarget::Linked { remote_id: k })
                .to_vec()
        );
        for x in &o.actions {
            let Action::Note(n) = &x.action else { panic!() };
            assert!(
                n.text.contains(&format!("Sprint `Sprint 3` {what}")),
                "{}",
                n.text
            );
        }
    }
    // Another board's sprint: nothing.
    let body = serde_json::to_vec(&json!({"webhookEvent": "sprint_started",
        "sprint": {"id": id, "name": "S", "originBoardId": 8}}))
    .unwrap();
    assert!(
        jira.handle_webhook(&signed(&body, "x"))
            .await
            .unwrap()
            .actions
            .is_empty()
    );
    assert!(probe.jira.check_contract().is_empty());
}
