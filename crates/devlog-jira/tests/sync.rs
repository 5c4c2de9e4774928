//! Assignees, notes ⇄ comments and milestones ⇄ fix versions end to end: the sync engine
//! against the test kit's fake Jira (every request checked against Jira's OpenAPI description
//! when the fake is dropped).
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::sync::Arc;

use devlog_core::entry::{Entry, NoteCategory};
use devlog_core::id::EntryId;
use devlog_core::ops::{Devlog, Edit, NewEntry, NewNote};
use devlog_core::planning::NewMilestone;
use devlog_core::{Origin, Store, WriteMeta};
use devlog_http::{RateLimitConfig, SecretString};
use devlog_jira::{JiraAuth, JiraConfig, JiraIntegration};
use devlog_sync::{SyncEngine, SyncOptions, SyncReport, SyncState};
use devlog_testkit::fake_jira::FakeJira;
use devlog_testkit::fake_remote::FakeRemote;

const HARRY: &str = "5b109f2e9729b51b54dc274d";

struct Rig {
    _remote: FakeRemote,
    jira: FakeJira,
    engine: SyncEngine,
    app: Devlog,
    _dir: tempfile::TempDir,
}

async fn rig() -> Rig {
    rig_with(|_| {}).await
}

async fn rig_with(configure: impl FnOnce(&mut JiraConfig)) -> Rig {
    let b = FakeRemote::builder().without_tracker();
    let st = b.state();
    // Jira's clock is ours (give or take): pulls reach back from now.
    if let Ok(d) = (chrono::Utc::now() - st.now()).to_std() {
        st.advance(d);
    }
    let jira = FakeJira::new(b.state(), "DEV");
    let remote = b.routes(jira.router()).start().await;
    let config = JiraConfig::new(
        &remote.url(),
        "DEV",
        JiraAuth::Basic {
            email: "bot@example.com".into(),
            api_token: SecretString::from("jira_sync_token_1234".to_string()),
        },
    )
    .unwrap();
    let mut config = config;
    configure(&mut config);
    let integration = JiraIntegration::with_limits(config, RateLimitConfig::unpaced()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join(".devlog");
    let store: Arc<dyn Store> = Arc::new(devlog_store::JsonStore::open(&root).await.unwrap());
    let state = SyncState::open(&root.join(".state/sync.sqlite"))
        .await
        .unwrap();
    let opts = SyncOptions {
        base_delay_ms: 0,
        max_delay_ms: 0,
        ..SyncOptions::default()
    };
    let engine = SyncEngine::new(store.clone(), state, vec![Arc::new(integration)], opts);
    Rig {
        _remote: remote,
        jira,
        engine,
        app: Devlog::new(store),
        _dir: dir,
    }
}

fn cli() -> WriteMeta {
    WriteMeta::new(Origin::Cli)
}

fn quiet(_: u64, _: u64) {}

impl Rig {
    async fn sync(&self) -> SyncReport {
        let r = self.engine.sync(None, None, &quiet).await.unwrap();
        assert!(r.failed.is_empty(), "{r:?}");
        r
    }

    async fn entry(&self, new: NewEntry) -> Entry {
        let new = NewEntry {
            kind: new.kind.or(Some(devlog_core::entry::EntryType::Task)),
            ..new
        };
        self.app.create(new, &cli()).await.unwrap().into_entry()
    }

    async fn get(&self, id: EntryId) -> Entry {
        self.app.store().get(id).await.unwrap()
    }

    async fn key_of(&self, id: EntryId) -> String {
        let l = self.engine.state().link("jira", id).await.unwrap().unwrap();
        l.remote_id.unwrap()
    }
}

#[tokio::test]
async fn assignee_and_notes_travel_once_and_comments_by_others_become_feedback() {
    let r = rig().await;
    let e = r
        .entry(NewEntry {
            title: "Flaky login".into(),
            assignee: Some("Hidden Harry".into()),
            ..NewEntry::default()
        })
        .await;
    let (_, note) = r
        .app
        .add_note(
            e.id,
            NewNote {
                content: "Reproduced on staging".into(),
                category: NoteCategory::Progress,
                files: Vec::new(),
                code_changes: None,
            },
            &cli(),
        )
        .await
        .unwrap();
    let report = r.sync().await;
    assert_eq!((report.created, report.notes_pushed), (1, 1), "{report:?}");
    let key = r.key_of(e.id).await;
    let issue = r.jira.issue(&key).unwrap();
    assert_eq!(issue.assignee.as_deref(), Some(HARRY));
    let comments = r.jira.comments(&key);
    assert_eq!(comments.len(), 1);
    assert_eq!(comments[0].properties["devlog"]["note"], note.id.as_str());
    // Re-syncs (our comment comes back through the pull) change nothing on either side; the
    // assignee (an account whose email Jira hides) reads back as written.
    for _ in 0..2 {
        let report = r.sync().await;
        assert_eq!((report.updated, report.notes_pushed), (0, 0), "{report:?}");
    }
    let local = r.get(e.id).await;
    assert_eq!(local.assignee.as_deref(), Some("Hidden Harry"));
    assert_eq!(local.notes.len(), 1);
    assert_eq!(r.jira.comments(&key).len(), 1);
    // Carol comments in Jira: a feedback note with her name; her edit follows.
    let c = r
        .jira
        .add_comment(&key, "Carol", "Also on production")
        .unwrap();
    r.sync().await;
    let local = r.get(e.id).await;
    assert_eq!(local.notes.len(), 2, "{:?}", local.notes);
    let theirs = &local.notes[1];
    assert_eq!(theirs.category, NoteCategory::Feedback);
    assert_eq!(theirs.content, "Also on production");
    assert_eq!(theirs.source().as_deref(), Some("@Carol on jira"));
    r.jira
        .edit_comment(c.id, "Also on production, since Monday");
    r.sync().await;
    assert_eq!(
        r.get(e.id).await.notes[1].content,
        "Also on production, since Monday"
    );
    // Unassigned here: unassigned in Jira.
    r.app
        .edit(
            e.id,
            Edit {
                assignee: Some(String::new()),
                ..Edit::default()
            },
            &cli(),
        )
        .await
        .unwrap();
    let report = r.sync().await;
    assert_eq!(report.updated, 1, "{report:?}");
    assert_eq!(r.jira.issue(&key).unwrap().assignee, None);
}

#[tokio::test]
async fn a_milestone_becomes_a_fix_version_with_its_description_and_due_date() {
    let r = rig().await;
    r.app
        .create_milestone(NewMilestone {
            name: "Sprint 1".into(),
            description: "The first sprint".into(),
            due: Some("2026-12-24".into()),
        })
        .await
        .unwrap();
    let mut ids = Vec::new();
    for n in 0..2 {
        ids.push(
            r.entry(NewEntry {
                title: format!("Planned {n}"),
                milestone: Some("Sprint 1".into()),
                ..NewEntry::default()
            })
            .await
            .id,
        );
    }
    let report = r.sync().await;
    assert_eq!(report.created, 2, "{report:?}");
    let versions = r.jira.versions();
    assert_eq!(versions.len(), 1, "{versions:?}");
    assert_eq!(versions[0].description, "The first sprint");
    assert_eq!(versions[0].release_date.as_deref(), Some("2026-12-24"));
    for id in &ids {
        let key = r.key_of(*id).await;
        assert_eq!(r.jira.issue(&key).unwrap().fix_versions, ["Sprint 1"]);
    }
    // Moved to another fix version in Jira: the entry follows, and the milestone is made
    // locally from the version.
    r.jira
        .add_version("Sprint 2", "The second sprint", Some("2027-01-15"));
    let key = r.key_of(ids[0]).await;
    r.jira
        .edit_issue(&key, |i| i.fix_versions = vec!["Sprint 2".into()])
        .unwrap();
    r.sync().await;
    assert_eq!(r.get(ids[0]).await.milestone.as_deref(), Some("Sprint 2"));
    let m2 = r.app.find_milestone("Sprint 2").await.unwrap();
    assert_eq!(m2.description, "The second sprint");
    assert_eq!(m2.due_date, Some("2027-01-15".parse().unwrap()));
}

#[tokio::test]
async fn an_assignee_jira_does_not_show_is_never_cleared_by_a_pull() {
    let r = rig().await;
    let e = r
        .entry(NewEntry {
            title: "Private".into(),
            assignee: Some("alice@example.com".into()),
            ..NewEntry::default()
        })
        .await;
    r.sync().await;
    let key = r.key_of(e.id).await;
    // The project's field configuration now hides the assignee; someone edits the summary,
    // so the issue is pulled again.
    r.jira.hide_fields(&["assignee"]);
    r.jira
        .edit_issue(&key, |i| i.summary = "Private (renamed)".into())
        .unwrap();
    let report = r.sync().await;
    assert_eq!(report.updated, 0, "{report:?}");
    let local = r.get(e.id).await;
    assert_eq!(local.title, "Private (renamed)");
    assert_eq!(local.assignee.as_deref(), Some("alice@example.com"));
    assert!(r.jira.issue(&key).unwrap().assignee.is_some());
}

#[tokio::test]
async fn worklogs_travel_once_and_time_logged_in_jira_counts_with_its_author() {
    use devlog_core::planning::{NewWorklog, WorklogEdit};
    let r = rig().await;
    let e = r
        .entry(NewEntry {
            title: "Time tracked".into(),
            ..NewEntry::default()
        })
        .await;
    let (_, mine) = r
        .app
        .log_time(
            e.id,
            NewWorklog {
                duration: "1h30m".into(),
                date: Some("2026-12-01".into()),
                note: "Parser spike".into(),
                author: Some("dev".into()),
            },
            &cli(),
        )
        .await
        .unwrap();
    let report = r.sync().await;
    assert_eq!(report.worklogs_pushed, 1, "{report:?}");
    let key = r.key_of(e.id).await;
    let logged = r.jira.worklogs(&key);
    assert_eq!(logged.len(), 1);
    assert_eq!(logged[0].started, "2026-12-01T09:00:00.000+0000");
    assert_eq!(logged[0].seconds, 5400);
    assert_eq!(
        logged[0].properties["devlog"]["worklog"],
        serde_json::json!(mine.id)
    );
    // Stable: a re-sync logs nothing again and pulls nothing back.
    let again = r.sync().await;
    assert_eq!(again.worklogs_pushed, 0, "{again:?}");
    assert_eq!(r.jira.worklogs(&key).len(), 1);
    assert_eq!(r.get(e.id).await.worklogs.len(), 1);

    // Edited here: the Jira worklog follows.
    r.app
        .edit_worklog(
            e.id,
            &mine.id,
            WorklogEdit {
                duration: Some("2h".into()),
                note: Some("Parser spike, done".into()),
                ..WorklogEdit::default()
            },
            &cli(),
        )
        .await
        .unwrap();
    r.sync().await;
    let logged = r.jira.worklogs(&key);
    assert_eq!((logged.len(), logged[0].seconds), (1, 7200));

    // Logged in Jira by Carol: comes back with her name and counts in actualHours; her edit
    // is followed, and it is never pushed back.
    let carol = r
        .jira
        .add_worklog(
            &key,
            "Carol",
            "2026-12-02T16:00:00.000+0100",
            1800,
            "Review",
        )
        .unwrap();
    r.sync().await;
    let got = r.get(e.id).await;
    assert_eq!(got.worklogs.len(), 2);
    let theirs = got.worklogs.iter().find(|w| w.author == "Carol").unwrap();
    assert_eq!((theirs.minutes, theirs.note.as_str()), (30, "Review"));
    assert_eq!(theirs.date.to_string(), "2026-12-02");
    assert_eq!(got.actual_hours, Some(2.5));
    r.sync().await;
    assert_eq!(
        r.jira.worklogs(&key).len(),
        2,
        "Carol's worklog is not pushed back"
    );
    r.jira.edit_worklog(carol.id, |w| w.seconds = 3600).unwrap();
    r.sync().await;
    assert_eq!(r.get(e.id).await.actual_hours, Some(3.0));

    // Deleted in Jira: gone here, actualHours follows.
    r.jira.delete_worklog(carol.id).unwrap();
    r.sync().await;
    let got = r.get(e.id).await;
    assert_eq!(got.worklogs.len(), 1);
    assert_eq!(got.actual_hours, Some(2.0));

    // Deleted here: the Jira worklog goes; nothing comes back.
    r.app.delete_worklog(e.id, &mine.id, &cli()).await.unwrap();
    r.sync().await;
    assert!(r.jira.worklogs(&key).is_empty());
    r.sync().await;
    let got = r.get(e.id).await;
    assert!(got.worklogs.is_empty());
    assert_eq!(got.actual_hours, None);
}

#[tokio::test]
async fn mapped_custom_fields_travel_both_ways_and_unmapped_ones_are_never_sent() {
    use devlog_jira::config::MappedField;
    use std::collections::BTreeMap;
    let r = rig_with(|c| {
        c.custom_fields = BTreeMap::from([
            (MappedField::EstimatedHours, "Story point estimate".into()),
            (MappedField::AcceptanceCriteria, "customfield_10030".into()),
        ]);
    })
    .await;
    // dueDate and actualHours are not mapped.
    let e = r
        .entry(NewEntry {
            title: "Faster search".into(),
            estimated_hours: Some(3.0),
            acceptance_criteria: vec!["p95 under 200 ms".into()],
            due: Some("2026-12-24".into()),
            ..NewEntry::default()
        })
        .await;
    let first = r.sync().await;
    assert_eq!(first.created, 1, "{first:?}");
    let key = r.key_of(e.id).await;
    let issue = r.jira.issue(&key).unwrap();
    assert_eq!(
        issue.custom.get("customfield_10016"),
        Some(&serde_json::json!(3.0))
    );
    // An idle sync sends nothing.
    let idle = r.sync().await;
    assert_eq!((idle.updated, idle.applied), (0, 0), "{idle:?}");

    // Changed locally: the update carries the mapped fields, never the unmapped ones.
    r._remote.clear_requests();
    r.app
        .edit(
            e.id,
            Edit {
                estimated_hours: Some(5.0),
                acceptance_criteria: Some(vec!["p95 under 150 ms".into(), "no errors".into()]),
                due: Some("2027-01-15".into()),
                actual_hours: Some(2.0),
                ..Edit::default()
            },
            &cli(),
        )
        .await
        .unwrap();
    let pushed = r.sync().await;
    assert_eq!(pushed.updated, 1, "{pushed:?}");
    let issue = r.jira.issue(&key).unwrap();
    assert_eq!(
        issue.custom.get("customfield_10016"),
        Some(&serde_json::json!(5.0))
    );
    let criteria = issue.custom.get("customfield_10030").unwrap().to_string();
    assert!(
        criteria.contains("p95 under 150 ms") && criteria.contains("no errors"),
        "{criteria}"
    );
    assert_eq!(issue.due_date, None, "dueDate is not mapped");
    let edits: Vec<_> = r
        ._remote
        .requests()
        .into_iter()
        .filter(|q| q.method == "PUT" && q.path == format!("/rest/api/3/issue/{key}"))
        .collect();
    assert!(!edits.is_empty());
    for req in &edits {
        let body = String::from_utf8_lossy(&req.body);
        assert!(
            !body.contains("duedate")
                && !body.contains("customfield_10020")
                && !body.contains("2027-01-15"),
            "an unmapped field was sent: {body}"
        );
    }
    let idle = r.sync().await;
    assert_eq!((idle.updated, idle.applied), (0, 0), "{idle:?}");

    // Changed in Jira: it comes back into the entry.
    r.jira.edit_issue(&key, |i| {
        i.custom
            .insert("customfield_10016".into(), serde_json::json!(8));
    });
    let pulled = r.sync().await;
    assert_eq!(pulled.applied, 1, "{pulled:?}");
    let back = r.get(e.id).await;
    assert_eq!(back.estimated_hours, Some(8.0));
    assert_eq!(
        back.context.acceptance_criteria,
        vec!["p95 under 150 ms".to_string(), "no errors".to_string()]
    );
    // The unmapped ones stay as they are locally.
    assert_eq!(
        back.due_date.map(|d| d.to_string()).as_deref(),
        Some("2027-01-15")
    );
    assert_eq!(back.actual_hours, Some(2.0));
    let idle = r.sync().await;
    assert_eq!((idle.updated, idle.applied), (0, 0), "{idle:?}");

    // Changed on both sides: a recorded conflict, like any other field.
    r.jira.edit_issue(&key, |i| {
        i.custom
            .insert("customfield_10016".into(), serde_json::json!(13));
    });
    r.app
        .edit(
            e.id,
            Edit {
                estimated_hours: Some(1.0),
                ..Edit::default()
            },
            &cli(),
        )
        .await
        .unwrap();
    let both = r.sync().await;
    assert_eq!(both.conflicts, 1, "{both:?}");
    let conflicts = r.engine.state().open_conflicts().await.unwrap();
    assert_eq!(conflicts.len(), 1);
    assert_eq!(conflicts[0].field.field.as_str(), "estimatedHours");
    assert_eq!(
        r.get(e.id).await.estimated_hours,
        Some(1.0),
        "local keeps its value"
    );
    assert_eq!(
        r.jira.issue(&key).unwrap().custom.get("customfield_10016"),
        Some(&serde_json::json!(13)),
        "a held field is not pushed"
    );
}

#[tokio::test]
async fn the_sprint_of_a_linked_issue_is_kept_on_the_entry_from_the_pull() {
    let r = rig_with(|c| c.board_id = Some(devlog_testkit::fake_jira::BOARD_ID)).await;
    let e = r
        .entry(NewEntry {
            title: "Sprint me".into(),
            ..NewEntry::default()
        })
        .await;
    r.sync().await;
    let key = r.key_of(e.id).await;
    let reference = |e: &Entry| {
        e.external_references
            .iter()
            .find(|x| x.system == "jira")
            .cloned()
            .unwrap()
    };
    assert_eq!(reference(&r.get(e.id).await).sprint, None, "in the backlog");
    let active = r.jira.add_sprint("Sprint 6", "active", None, None);
    r.jira.move_issue_to_sprint(&key, active);
    r._remote.clear_requests();
    r.sync().await;
    let after = r.get(e.id).await;
    assert_eq!(reference(&after).sprint.as_deref(), Some("Sprint 6"));
    // No Agile call: the Sprint field came with the search (and GET /field is kept in the
    // pull cursor, so it is not listed again).
    let paths: Vec<String> = r
        ._remote
        .requests()
        .iter()
        .map(|q| q.path.clone())
        .collect();
    assert!(
        !paths
            .iter()
            .any(|p| p.contains("/agile/") || p.ends_with("/field")),
        "{paths:?}"
    );
    // An idle pull writes nothing to the entry.
    r.sync().await;
    assert_eq!(r.get(e.id).await.updated_at, after.updated_at);
    let revs_before = r.app.store().get(e.id).await.unwrap();
    assert_eq!(reference(&revs_before).sprint.as_deref(), Some("Sprint 6"));
    // Moved on to the next sprint.
    let next = r.jira.add_sprint("Sprint 7", "future", None, None);
    r.jira.move_issue_to_sprint(&key, next);
    r.sync().await;
    assert_eq!(
        reference(&r.get(e.id).await).sprint.as_deref(),
        Some("Sprint 7")
    );
}

/// A delivery signed with `secret`, as Jira sends it.
fn signed_hook(
    secret: &str,
    body: &serde_json::Value,
    delivery: &str,
) -> devlog_core::integration::Webhook {
    use devlog_jira::webhook::{DELIVERY_HEADER, SIGNATURE_HEADER, signature};
    let body = serde_json::to_vec(body).unwrap();
    devlog_core::integration::Webhook {
        headers: vec![
            (SIGNATURE_HEADER.into(), signature(secret.as_bytes(), &body)),
            (DELIVERY_HEADER.into(), delivery.into()),
        ],
        body,
        query: Vec::new(),
    }
}

#[tokio::test]
async fn a_status_transition_webhook_records_one_workflow_event_for_the_linked_entry() {
    const SECRET: &str = "transition-webhook-secret";
    let r = rig_with(|c| {
        c.webhook_secret = Some(SecretString::from(SECRET.to_string()));
    })
    .await;
    let e = r
        .entry(NewEntry {
            title: "Resolved by webhook".into(),
            ..NewEntry::default()
        })
        .await;
    r.sync().await;
    let key = r.key_of(e.id).await;
    // Jira's own `jira:issue_updated` payload whose changelog moves the status (apispecs),
    // about our issue.
    // `../shared/apispecs` beside the checkout, or the folder `DEVLOG_APISPECS` names.
    let specs = std::env::var("DEVLOG_APISPECS").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/apispecs").to_string()
    });
    let text = std::fs::read_to_string(format!(
        "{specs}/jira/webhooks/mattermost-plugin-jira/webhook-issue-updated-resolved.json"
    ))
    .unwrap();
    let mut payload: serde_json::Value = serde_json::from_str(&text).unwrap();
    payload["issue"]["key"] = key.clone().into();
    payload["issue"]["id"] = r.jira.issue(&key).unwrap().id.into();
    payload["issue"]["fields"]["project"]["key"] = "DEV".into();
    let before = r.engine.state().last_event_id().await.unwrap();
    let hook = signed_hook(SECRET, &payload, "d-resolved-1");
    r.engine.webhook("jira", &hook).await.unwrap();
    // Redelivered: recorded once.
    r.engine.webhook("jira", &hook).await.unwrap();
    let events = r.engine.state().events_after(before, 10).await.unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    let ev = &events[0].event;
    assert_eq!(
        ev.kind,
        devlog_core::sync_state::IntegrationEventKind::IssueTransitioned
    );
    assert_eq!(ev.integration, "jira");
    assert_eq!(ev.entry_id, Some(e.id));
    assert_eq!(
        (ev.data["from"].as_str(), ev.data["to"].as_str()),
        (Some("In Progress"), Some("Done"))
    );
    assert_eq!(ev.data["issue"]["key"], key.as_str());
    assert_eq!(ev.data["delivery"], "d-resolved-1");
}

#[tokio::test]
async fn webhooks_keep_the_sprint_on_the_entry_like_a_pull() {
    const SECRET: &str = "sprint-webhook-secret";
    let r = rig_with(|c| {
        c.board_id = Some(devlog_testkit::fake_jira::BOARD_ID);
        c.webhook_secret = Some(SecretString::from(SECRET.to_string()));
    })
    .await;
    let e = r
        .entry(NewEntry {
            title: "Sprint by webhook".into(),
            ..NewEntry::default()
        })
        .await;
    r.sync().await;
    let key = r.key_of(e.id).await;
    let sprint_of = |e: &Entry| {
        e.external_references
            .iter()
            .find(|x| x.system == "jira")
            .and_then(|x| x.sprint.clone())
    };
    assert_eq!(sprint_of(&r.get(e.id).await), None, "in the backlog");

    // Jira's own `jira:issue_updated` payload for a sprint change (apispecs), about our issue.
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/apispecs/jira/webhooks/mattermost-plugin-jira/webhook-issue-updated-sprint.json"
    ))
    .unwrap();
    let mut payload: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(payload["changelog"]["items"][0]["field"], "Sprint");
    payload["issue"]["key"] = key.clone().into();
    payload["issue"]["id"] = r.jira.issue(&key).unwrap().id.into();
    payload["issue"]["fields"]["project"]["key"] = "DEV".into();
    let active = r.jira.add_sprint("Sprint 2", "active", None, None);
    r.jira.move_issue_to_sprint(&key, active);
    let report = r
        .engine
        .webhook("jira", &signed_hook(SECRET, &payload, "d-sprint-1"))
        .await
        .unwrap();
    assert_eq!(report.pulled, 1, "{report:?}");
    assert_eq!(
        sprint_of(&r.get(e.id).await).as_deref(),
        Some("Sprint 2"),
        "the issue_updated webhook set the sprint"
    );

    // Planned into the next sprint in Jira without an issue webhook reaching devlog; the
    // sprint starting refreshes it (and notes it).
    let next = r.jira.add_sprint("Sprint 3", "future", None, None);
    r.jira.move_issue_to_sprint(&key, next);
    r.jira.set_sprint_state(active, "closed");
    r.jira.set_sprint_state(next, "active");
    let started = serde_json::json!({
        "timestamp": 1_800_000_000_000i64,
        "webhookEvent": "sprint_started",
        "sprint": {"id": next, "name": "Sprint 3", "state": "active",
                   "originBoardId": devlog_testkit::fake_jira::BOARD_ID}
    });
    r.engine
        .webhook("jira", &signed_hook(SECRET, &started, "d-sprint-2"))
        .await
        .unwrap();
    let after = r.get(e.id).await;
    assert_eq!(sprint_of(&after).as_deref(), Some("Sprint 3"));
    assert!(
        after
            .notes
            .iter()
            .any(|n| n.content.contains("Sprint `Sprint 3` started")),
        "{:?}",
        after.notes
    );
    // The sprint closes: the issue stays in it (it is the last closed one), nothing changes
    // on the entry but the note; a redelivery is applied once.
    r.jira.set_sprint_state(next, "closed");
    let closed = serde_json::json!({
        "webhookEvent": "sprint_closed",
        "sprint": {"id": next, "name": "Sprint 3", "state": "closed",
                   "originBoardId": devlog_testkit::fake_jira::BOARD_ID}
    });
    for _ in 0..2 {
        r.engine
            .webhook("jira", &signed_hook(SECRET, &closed, "d-sprint-3"))
            .await
            .unwrap();
    }
    let after = r.get(e.id).await;
    assert_eq!(sprint_of(&after).as_deref(), Some("Sprint 3"));
    assert_eq!(
        after
            .notes
            .iter()
            .filter(|n| n.content.contains("Sprint `Sprint 3` closed"))
            .count(),
        1
    );
    assert!(r.jira.check_contract().is_empty());
}

#[tokio::test]
async fn worklog_webhooks_bring_time_logged_in_jira_without_a_pull() {
    const SECRET: &str = "worklog-webhook-secret";
    let r = rig_with(|c| c.webhook_secret = Some(SecretString::from(SECRET.to_string()))).await;
    let e = r
        .entry(NewEntry {
            title: "Time by webhook".into(),
            ..NewEntry::default()
        })
        .await;
    r.sync().await;
    let key = r.key_of(e.id).await;
    let issue_id = r.jira.issue(&key).unwrap().id;
    // Jira's own worklog payloads (apispecs), about Carol's worklog on our issue.
    let payload = |event: &str, worklog: u64| {
        let text = std::fs::read_to_string(format!(
            "{}/../../../shared/apispecs/jira/webhooks/zulip/{event}.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["webhookEvent"], event);
        v["worklog"]["issueId"] = issue_id.to_string().into();
        v["worklog"]["id"] = worklog.to_string().into();
        v
    };
    let carol = r
        .jira
        .add_worklog(
            &key,
            "Carol",
            "2026-12-02T16:00:00.000+0100",
            1800,
            "Review",
        )
        .unwrap();
    let report = r
        .engine
        .webhook(
            "jira",
            &signed_hook(SECRET, &payload("worklog_created", carol.id), "w-1"),
        )
        .await
        .unwrap();
    assert_eq!(report.actions_applied, 1, "{report:?}");
    let got = r.get(e.id).await;
    let theirs = got.worklogs.iter().find(|w| w.author == "Carol").unwrap();
    assert_eq!((theirs.minutes, theirs.note.as_str()), (30, "Review"));
    assert_eq!(got.actual_hours, Some(0.5));
    // A redelivery is applied once; the next sync neither duplicates nor pushes it back.
    r.engine
        .webhook(
            "jira",
            &signed_hook(SECRET, &payload("worklog_created", carol.id), "w-1"),
        )
        .await
        .unwrap();
    r.sync().await;
    assert_eq!(r.get(e.id).await.worklogs.len(), 1);
    assert_eq!(r.jira.worklogs(&key).len(), 1);
    // Deleted in Jira: the webhook removes it here.
    r.jira.delete_worklog(carol.id).unwrap();
    r.engine
        .webhook(
            "jira",
            &signed_hook(SECRET, &payload("worklog_deleted", carol.id), "w-2"),
        )
        .await
        .unwrap();
    let got = r.get(e.id).await;
    assert!(got.worklogs.is_empty(), "{:?}", got.worklogs);
    assert_eq!(got.actual_hours, None);
    assert!(r.jira.check_contract().is_empty());
}
