//! `AdoIntegration` against the test kit's fake Azure DevOps, beyond the conformance suite:
//! process-aware states and types, the JSON Patch documents sent (the `test` of `/rev`,
//! changed fields only), conflicts, descriptions with devlog's details and acceptance
//! criteria, tags with the marker, assignees, iterations, pulls over batches with the
//! overlap, health, and secrets kept out of `Debug` and errors.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::collections::BTreeMap;

use devlog_ado::{AdoAuth, AdoConfig, AdoIntegration, IterationPath};
use devlog_core::entry::{EntryType, Priority, Status};
use devlog_core::integration::{Integration, SyncErrorKind};
use devlog_core::merge::SyncedFields;
use devlog_http::{RateLimitConfig, SecretString};
use devlog_testkit::EntryBuilder;
use devlog_testkit::fake_ado::{AdoProbe, FakeProcess};
use devlog_testkit::fake_remote::Fault;
use devlog_testkit::integration_conformance::changed_fields;
use serde_json::{Value, json};

const PAT: &str = "ado_test_pat_5678";

async fn start_with(
    process: FakeProcess,
    edit: impl FnOnce(&mut AdoConfig),
) -> (AdoIntegration, AdoProbe) {
    let probe = AdoProbe::start("acme", "Fabrikam", process).await;
    let mut config = AdoConfig::new(
        &probe.organization_url(),
        "Fabrikam",
        AdoAuth::Pat(SecretString::from(PAT.to_string())),
    )
    .unwrap();
    edit(&mut config);
    let ado = AdoIntegration::with_limits(config, RateLimitConfig::unpaced()).unwrap();
    (ado, probe)
}

async fn start(edit: impl FnOnce(&mut AdoConfig)) -> (AdoIntegration, AdoProbe) {
    start_with(FakeProcess::Agile, edit).await
}

fn patches(probe: &AdoProbe, spec: &str) -> Vec<Vec<Value>> {
    probe
        .remote
        .state()
        .requests_matching(spec)
        .iter()
        .filter_map(|r| r.body_json())
        .filter_map(|b| b.as_array().cloned())
        .collect()
}

fn paths(ops: &[Value]) -> Vec<String> {
    ops.iter()
        .map(|o| {
            format!(
                "{} {}",
                o["op"].as_str().unwrap(),
                o["path"].as_str().unwrap()
            )
        })
        .collect()
}

#[tokio::test]
async fn states_and_types_follow_the_projects_process() {
    // (process, entry type, status, expected type, expected state, read back as): a status
    // sharing its state with an earlier one reads back as that one.
    use Status::*;
    let cases = [
        (
            FakeProcess::Agile,
            EntryType::Feature,
            InReview,
            "User Story",
            "Resolved",
            InReview,
        ),
        (
            FakeProcess::Agile,
            EntryType::Task,
            InReview,
            "Task",
            "Active",
            InProgress,
        ),
        (
            FakeProcess::Agile,
            EntryType::Bugfix,
            Closed,
            "Bug",
            "Removed",
            Closed,
        ),
        (
            FakeProcess::Scrum,
            EntryType::Feature,
            Testing,
            "Product Backlog Item",
            "Committed",
            InProgress,
        ),
        (
            FakeProcess::Scrum,
            EntryType::Docs,
            New,
            "Task",
            "To Do",
            New,
        ),
        (
            FakeProcess::Basic,
            EntryType::Bugfix,
            InProgress,
            "Issue",
            "Doing",
            InProgress,
        ),
        (
            FakeProcess::Basic,
            EntryType::Task,
            Closed,
            "Task",
            "Done",
            Done,
        ),
        (
            FakeProcess::Cmmi,
            EntryType::Feature,
            New,
            "Requirement",
            "Proposed",
            New,
        ),
        (
            FakeProcess::Cmmi,
            EntryType::Bugfix,
            Done,
            "Bug",
            "Closed",
            Done,
        ),
        // Inherited, with custom states: by state category.
        (
            FakeProcess::InheritedAgile,
            EntryType::Feature,
            Testing,
            "User Story",
            "In QA",
            InReview,
        ),
        (
            FakeProcess::InheritedAgile,
            EntryType::Feature,
            Closed,
            "User Story",
            "Cut",
            Closed,
        ),
        (
            FakeProcess::InheritedAgile,
            EntryType::Bugfix,
            Done,
            "Bug",
            "Closed",
            Done,
        ),
    ];
    for (process, kind, status, ty, state, back) in cases {
        let (ado, probe) = start_with(process, |_| {}).await;
        let e = EntryBuilder::new("Process work")
            .kind(kind)
            .status(status)
            .build();
        let item = ado.create(&e, &SyncedFields::from_entry(&e)).await.unwrap();
        let raw = probe.ado.item(item.remote_id.parse().unwrap()).unwrap();
        assert_eq!(
            (raw.type_name.as_str(), raw.str_field("System.State")),
            (ty, state),
            "{process:?} {kind:?} {status:?}"
        );
        assert_eq!(item.fields.status, back, "{process:?} {kind:?} {status:?}");
        let health = ado.health().await.unwrap();
        assert!(
            health.message.contains(process_name(process)),
            "{}",
            health.message
        );
    }
}

fn process_name(p: FakeProcess) -> &'static str {
    match p {
        FakeProcess::Agile => "Agile process, system",
        FakeProcess::Scrum => "Scrum process",
        FakeProcess::Basic => "Basic process",
        FakeProcess::Cmmi => "CMMI process",
        FakeProcess::InheritedAgile => "Custom Agile process, inherited",
    }
}

#[tokio::test]
async fn updates_send_a_rev_test_and_only_the_changed_fields() {
    let (ado, probe) = start(|_| {}).await;
    let e = EntryBuilder::new("Patch me").tag("alpha").build();
    let fields = SyncedFields::from_entry(&e);
    let item = ado.create(&e, &fields).await.unwrap();
    let id: u64 = item.remote_id.parse().unwrap();
    // The create is one JSON Patch document with the marker tag.
    let created = patches(&probe, "POST /acme/Fabrikam/_apis/wit/workitems/*");
    assert_eq!(created.len(), 1);
    let tags = created[0]
        .iter()
        .find(|o| o["path"] == "/fields/System.Tags")
        .unwrap();
    assert_eq!(tags["value"], json!(format!("alpha; devlog:{}", e.id)));
    let req = &probe
        .remote
        .state()
        .requests_matching("POST /acme/Fabrikam/_apis/wit/workitems/*")[0];
    assert_eq!(
        req.header("content-type"),
        Some("application/json-patch+json")
    );
    assert!(req.authorized);
    // Someone edits the item in Azure DevOps: rev 2.
    probe.ado.edit_item(id, |f| {
        f.insert("System.Title".into(), json!("Renamed there"));
    });
    let mut local = fields.clone();
    local.priority = Priority::Critical;
    local.tags = vec!["beta".into()];
    let back = ado
        .update(
            &item.remote_id,
            &local,
            &changed_fields(&["priority", "tags"]),
        )
        .await
        .unwrap();
    let sent = patches(&probe, "PATCH /acme/Fabrikam/_apis/wit/workitems/*");
    assert_eq!(
        paths(&sent[0]),
        [
            "test /rev",
            "replace /fields/Microsoft.VSTS.Common.Priority",
            "replace /fields/System.Tags"
        ]
    );
    assert_eq!(sent[0][0]["value"], json!(2));
    assert_eq!(back.fields.title, "Renamed there");
    assert_eq!(back.fields.priority, Priority::Critical);
    assert_eq!(back.fields.tags, ["beta"]);
    assert_eq!(back.version.as_deref(), Some("3"));
    // The marker tag survives a tag update; it is not an entry tag.
    let raw = probe.ado.item(id).unwrap();
    assert_eq!(
        raw.str_field("System.Tags"),
        format!("beta; devlog:{}", e.id)
    );
    assert_eq!(
        ado.find_by_marker(e.id).await.unwrap().unwrap().remote_id,
        item.remote_id
    );
    // Nothing changed remotely for a status that agrees (blocked and in-progress are Active).
    local.status = Status::InProgress;
    ado.update(&item.remote_id, &local, &changed_fields(&["status"]))
        .await
        .unwrap();
    local.status = Status::Blocked;
    let before = probe.remote.state().requests_matching("PATCH /**").len();
    let back = ado
        .update(&item.remote_id, &local, &changed_fields(&["status"]))
        .await
        .unwrap();
    assert_eq!(
        probe.remote.state().requests_matching("PATCH /**").len(),
        before
    );
    assert_eq!(back.fields.status, Status::InProgress);
    // A tag Azure DevOps cannot hold is a permanent error naming it.
    local.tags = vec!["a;b".into()];
    let err = ado
        .update(&item.remote_id, &local, &changed_fields(&["tags"]))
        .await
        .unwrap_err();
    assert_eq!(err.kind, SyncErrorKind::Permanent);
    assert!(err.message.contains("`a;b`"), "{err}");
}

#[tokio::test]
async fn a_concurrent_edit_is_a_conflict() {
    let (ado, probe) = start(|_| {}).await;
    let e = EntryBuilder::new("Contended").build();
    let mut fields = SyncedFields::from_entry(&e);
    let item = ado.create(&e, &fields).await.unwrap();
    // The revision moves between devlog's read and its patch: the fake answers 412.
    probe.remote.state().inject(
        Fault::on("PATCH /acme/Fabrikam/_apis/wit/workitems/*").status(412).body(
            r#"{"message": "TF26071: This work item has been changed by someone else since you opened it."}"#,
        ),
    );
    fields.title = "Mine".into();
    let err = ado
        .update(&item.remote_id, &fields, &changed_fields(&["title"]))
        .await
        .unwrap_err();
    assert_eq!(err.kind, SyncErrorKind::Conflict, "{err}");
    assert!(err.is_retryable());
    probe
        .remote
        .state()
        .inject(Fault::on("PATCH /**").status(409));
    let err = ado
        .update(&item.remote_id, &fields, &changed_fields(&["title"]))
        .await
        .unwrap_err();
    assert_eq!(err.kind, SyncErrorKind::Conflict, "{err}");
    // And the fake itself refuses a stale revision with 412.
    let stale = json!([{"op": "test", "path": "/rev", "value": 0},
                       {"op": "replace", "path": "/fields/System.Title", "value": "Stale"}]);
    let err = ado
        .client()
        .patch(&format!("Fabrikam/_apis/wit/workitems/{}", item.remote_id))
        .query("api-version", "7.1")
        .json_as(&stale, "application/json-patch+json")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(412));
    assert_eq!(
        probe
            .ado
            .item(item.remote_id.parse().unwrap())
            .unwrap()
            .str_field("System.Title"),
        "Contended"
    );
}

#[tokio::test]
async fn descriptions_are_html_with_devlogs_details_kept_across_updates() {
    let (ado, probe) = start(|_| {}).await;
    let mut e = EntryBuilder::new("Described")
        .kind(EntryType::Task)
        .description("Fix the **login** <timeout>.\n\n- one\n- two")
        .business("Users drop off.")
        .build();
    e.context.acceptance_criteria = vec!["No timeout after 30s".into()];
    let fields = SyncedFields::from_entry(&e);
    let item = ado.create(&e, &fields).await.unwrap();
    assert_eq!(item.fields.description, e.description);
    let id: u64 = item.remote_id.parse().unwrap();
    let raw = probe.ado.item(id).unwrap();
    let html = raw.str_field("System.Description").to_string();
    assert!(
        html.starts_with("<p>Fix the <strong>login</strong> &lt;timeout&gt;.</p><ul><li>one</li><li>two</li></ul><hr><h3>Business context</h3>"),
        "{html}"
    );
    // The type has the acceptance criteria field: the criteria go there, not to the details.
    assert!(!html.contains("No timeout"), "{html}");
    assert_eq!(
        raw.str_field("Microsoft.VSTS.Common.AcceptanceCriteria"),
        "<ul><li>No timeout after 30s</li></ul>"
    );
    // A description update rewrites only the part before the details.
    let mut local = fields.clone();
    local.description = "Rewritten.".into();
    let back = ado
        .update(&item.remote_id, &local, &changed_fields(&["description"]))
        .await
        .unwrap();
    assert_eq!(back.fields.description, "Rewritten.");
    let html = probe
        .ado
        .item(id)
        .unwrap()
        .str_field("System.Description")
        .to_string();
    assert!(
        html.starts_with("<p>Rewritten.</p><hr><h3>Business context</h3>"),
        "{html}"
    );
    // What a person writes in the editor reads back as text.
    probe.ado.edit_item(id, |f| {
        f.insert(
            "System.Description".into(),
            json!("<div>Edited&nbsp;there<br>with <b>bold</b></div>"),
        );
    });
    let found = ado.find_by_marker(e.id).await.unwrap().unwrap();
    assert_eq!(found.fields.description, "Edited there\nwith **bold**");
}

#[tokio::test]
async fn assignees_areas_and_the_current_iteration_are_written() {
    let (ado, probe) = start(|c| {
        c.area_path = Some("Fabrikam\\Platform".into());
        c.iteration_path = Some(IterationPath::Current);
    })
    .await;
    let e = EntryBuilder::new("Assigned")
        .assignee("ann@example.com")
        .build();
    let mut fields = SyncedFields::from_entry(&e);
    let item = ado.create(&e, &fields).await.unwrap();
    assert_eq!(item.fields.assignee.as_deref(), Some("ann@example.com"));
    let id: u64 = item.remote_id.parse().unwrap();
    let raw = probe.ado.item(id).unwrap();
    assert_eq!(raw.str_field("System.AreaPath"), "Fabrikam\\Platform");
    assert_eq!(raw.str_field("System.IterationPath"), "Fabrikam\\Sprint 2");
    fields.assignee = None;
    let back = ado
        .update(&item.remote_id, &fields, &changed_fields(&["assignee"]))
        .await
        .unwrap();
    assert_eq!(back.fields.assignee, None);
    assert!(
        !probe
            .ado
            .item(id)
            .unwrap()
            .fields
            .contains_key("System.AssignedTo")
    );
    // A fixed iteration path is written as it is.
    let (ado, probe) =
        start(|c| c.iteration_path = Some(IterationPath::Path("Fabrikam\\Sprint 3".into()))).await;
    let item = ado.create(&e, &SyncedFields::from_entry(&e)).await.unwrap();
    let raw = probe.ado.item(item.remote_id.parse().unwrap()).unwrap();
    assert_eq!(raw.str_field("System.IterationPath"), "Fabrikam\\Sprint 3");
    assert!(
        probe
            .remote
            .state()
            .requests_matching("GET /acme/Fabrikam/*/_apis/work/teamsettings/iterations")
            .is_empty()
    );
}

#[tokio::test]
async fn pulls_read_batches_of_200_and_an_idle_pull_costs_at_most_two_requests() {
    let (ado, probe) = start(|_| {}).await;
    for n in 0..1_050 {
        probe.ado.insert(
            "Task",
            BTreeMap::from([("System.Title".to_string(), json!(format!("Item {n}")))]),
        );
    }
    let counted = |probe: &AdoProbe| probe.remote.state().requests().len();
    ado.initialize().await.unwrap();
    let before = counted(&probe);
    let first = ado.pull(None).await.unwrap();
    // One WIQL, then batches until 1,000 items are delivered.
    assert_eq!(first.items.len(), 1_000);
    assert!(first.more);
    assert_eq!(counted(&probe) - before, 1 + 5);
    let batches = probe
        .remote
        .state()
        .requests_matching("POST /acme/Fabrikam/_apis/wit/workitemsbatch");
    assert!(
        batches
            .iter()
            .all(|r| r.body_json().unwrap()["ids"].as_array().unwrap().len() <= 200)
    );
    let second = ado.pull(first.next_cursor.as_deref()).await.unwrap();
    let titles: Vec<&str> = second
        .items
        .iter()
        .map(|i| i.fields.title.as_str())
        .collect();
    assert_eq!(titles.len(), 50, "{titles:?}");
    assert!(!second.more);
    // Idle: the items in the overlap are read again and left out: WIQL and one batch.
    let cursor = second.next_cursor.clone();
    for _ in 0..2 {
        let before = counted(&probe);
        let idle = ado.pull(cursor.as_deref()).await.unwrap();
        assert!(idle.items.is_empty());
        assert_eq!(counted(&probe) - before, 2);
        assert_eq!(idle.next_cursor, cursor);
    }
    // WIQL asks with time precision (the fake refuses a time without it).
    let wiql = probe
        .remote
        .state()
        .requests_matching("POST /acme/Fabrikam/*/_apis/wit/wiql");
    assert!(
        wiql.iter()
            .all(|r| r.query.as_deref().unwrap().contains("timePrecision=true"))
    );
}

#[tokio::test]
async fn a_change_committed_late_is_still_pulled_once() {
    let (ado, probe) = start(|_| {}).await;
    let a = probe.ado.insert(
        "Task",
        BTreeMap::from([("System.Title".to_string(), json!("A"))]),
    );
    let b = probe.ado.insert(
        "Task",
        BTreeMap::from([("System.Title".to_string(), json!("B"))]),
    );
    let page = ado.pull(None).await.unwrap();
    assert_eq!(page.items.len(), 2);
    // A change whose ChangedDate is before the newest one seen (committed late).
    let late = probe.ado.insert(
        "Task",
        BTreeMap::from([("System.Title".to_string(), json!("Late"))]),
    );
    probe.ado.set_changed(late.id, a.changed);
    let next = ado.pull(page.next_cursor.as_deref()).await.unwrap();
    let ids: Vec<&str> = next.items.iter().map(|i| i.remote_id.as_str()).collect();
    assert_eq!(ids, [late.id.to_string()]);
    let again = ado.pull(next.next_cursor.as_deref()).await.unwrap();
    assert!(again.items.is_empty(), "{:?}", again.items);
    // An edit of an item seen before comes back (new revision).
    probe.ado.edit_item(b.id, |f| {
        f.insert("System.Title".into(), json!("B2"));
    });
    let edited = ado.pull(again.next_cursor.as_deref()).await.unwrap();
    assert_eq!(edited.items.len(), 1);
    assert_eq!(edited.items[0].fields.title, "B2");
    // A cursor devlog did not write is a permanent error naming the way out.
    let err = ado.pull(Some("yesterday")).await.unwrap_err();
    assert_eq!(err.kind, SyncErrorKind::Permanent);
    assert!(err.message.contains("--full"), "{err}");
}

#[tokio::test]
async fn health_names_the_key_to_fix() {
    let (ado, _probe) = start(|c| {
        c.work_item_types
            .insert(EntryType::Docs, "Documentation".into());
    })
    .await;
    let err = ado.health().await.unwrap_err();
    assert_eq!(err.kind, SyncErrorKind::Permanent);
    assert!(
        err.message
            .starts_with("integrations.azure-devops.workItemTypes.docs: "),
        "{err}"
    );
    assert!(err.message.contains("User Story"), "{err}");
    let (ado, _probe) = start(|c| {
        c.state_mapping.insert(Status::Testing, "Verifying".into());
    })
    .await;
    let err = ado.health().await.unwrap_err();
    assert!(
        err.message
            .starts_with("integrations.azure-devops.stateMapping.testing: "),
        "{err}"
    );
    // A configured state the type has is used.
    let (ado, probe) = start(|c| {
        c.state_mapping.insert(Status::New, "Active".into());
    })
    .await;
    ado.health().await.unwrap();
    let e = EntryBuilder::new("Mapped").build();
    let item = ado.create(&e, &SyncedFields::from_entry(&e)).await.unwrap();
    assert_eq!(
        probe
            .ado
            .item(item.remote_id.parse().unwrap())
            .unwrap()
            .str_field("System.State"),
        "Active"
    );
    // The wrong project is a permanent error naming the keys.
    let (ado, _probe) = start(|c| {
        c.project = "Nope".into();
        c.team = "Nope Team".into();
    })
    .await;
    let err = ado.health().await.unwrap_err();
    assert_eq!(err.kind, SyncErrorKind::Permanent);
    assert!(
        err.message
            .contains("integrations.azure-devops.organizationUrl, project and team"),
        "{err}"
    );
}

#[tokio::test]
async fn secrets_stay_out_of_debug_and_errors() {
    let (ado, probe) = start(|_| {}).await;
    assert!(!format!("{ado:?}").contains(PAT));
    probe.remote.state().inject(
        Fault::on("* /**")
            .status(401)
            .body(&format!("{{\"message\": \"bad token {PAT}\"}}")),
    );
    let err = ado.health().await.unwrap_err();
    assert_eq!(err.kind, SyncErrorKind::Auth);
    assert!(
        err.message.contains("integrations.azure-devops.pat"),
        "{err}"
    );
    assert!(!err.message.contains(PAT), "{err}");
    assert!(!format!("{err:?}").contains(PAT));
}

#[tokio::test]
async fn requests_the_description_does_not_allow_are_caught() {
    let (ado, probe) = start(|_| {}).await;
    ado.health().await.unwrap();
    assert!(
        probe.ado.check_contract().is_empty(),
        "{:?}",
        probe.ado.check_contract()
    );
    // Without api-version, the description refuses the request (the fake answers it).
    ado.client()
        .get("Fabrikam/_apis/wit/workitemtypes")
        .send()
        .await
        .unwrap();
    let v = probe.ado.check_contract();
    assert_eq!(v.len(), 1, "{v:?}");
    assert!(v[0].contains("`api-version` is missing"), "{v:?}");
    // (Cleared, or dropping the fake would fail this test.)
    probe.remote.state().clear_requests();
}

#[tokio::test]
async fn comments_come_back_as_notes_with_their_markers() {
    use devlog_core::integration::{Action, ActionTarget};
    let (ado, probe) = start(|_| {}).await;
    let e = EntryBuilder::new("Discussed").build();
    let item = ado.create(&e, &SyncedFields::from_entry(&e)).await.unwrap();
    let id: u64 = item.remote_id.parse().unwrap();
    let note = devlog_core::entry::Note {
        id: "note-7".into(),
        timestamp: devlog_testkit::ts(3),
        category: devlog_core::entry::NoteCategory::Progress,
        content: "Reproduced **twice**.".into(),
        files: Vec::new(),
        code_changes: None,
        extra: Default::default(),
    };
    assert!(ado.syncs_notes());
    let posted = ado.create_note(&item.remote_id, e.id, &note).await.unwrap();
    probe
        .ado
        .add_comment(id, "ann@example.com", "<div>Looks <b>good</b></div>");
    let page = ado.pull(None).await.unwrap();
    let notes: Vec<_> = page
        .actions
        .iter()
        .map(|a| match &a.action {
            Action::Note(n) => (a.target.clone(), n.clone()),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(notes.len(), 2, "{notes:?}");
    assert_eq!(
        notes[0].0,
        ActionTarget::Linked {
            remote_id: item.remote_id.clone()
        }
    );
    assert_eq!(notes[0].1.remote_id, posted);
    assert_eq!(notes[0].1.note_marker.as_deref(), Some("note-7"));
    assert_eq!(notes[0].1.text, "Reproduced **twice**.");
    assert_eq!(notes[1].1.note_marker, None);
    assert_eq!(notes[1].1.text, "Looks **good**");
    assert_eq!(notes[1].1.author.as_deref(), Some("ann@example.com"));
    // Nothing changed: the next pull brings no note again.
    let again = ado.pull(page.next_cursor.as_deref()).await.unwrap();
    assert!(again.actions.is_empty(), "{:?}", again.actions);
    // A deleted comment is told apart from a live one.
    ado.delete_note(&item.remote_id, &posted).await.unwrap();
    let gone = ado
        .deleted_notes(
            &item.remote_id,
            &[posted.clone(), notes[1].1.remote_id.clone()],
        )
        .await
        .unwrap();
    assert_eq!(gone, Some(vec![posted]));
    // syncNotes = false: notes stay local, and pulls read no comments.
    let (ado, probe) = start(|c| c.sync_notes = false).await;
    let item = ado.create(&e, &SyncedFields::from_entry(&e)).await.unwrap();
    probe.ado.add_comment(
        item.remote_id.parse().unwrap(),
        "ann@example.com",
        "<p>Hi</p>",
    );
    assert!(!ado.syncs_notes());
    let err = ado
        .create_note(&item.remote_id, e.id, &note)
        .await
        .unwrap_err();
    assert_eq!(err.kind, SyncErrorKind::Permanent);
    assert!(ado.pull(None).await.unwrap().actions.is_empty());
}

#[tokio::test]
async fn comments_are_read_over_continuation_pages() {
    let (ado, probe) = start(|_| {}).await;
    let e = EntryBuilder::new("Busy").build();
    let item = ado.create(&e, &SyncedFields::from_entry(&e)).await.unwrap();
    let id: u64 = item.remote_id.parse().unwrap();
    for n in 0..205 {
        probe
            .ado
            .add_comment(id, "ann@example.com", &format!("<p>Comment {n}</p>"));
    }
    let note = devlog_core::entry::Note {
        id: "note-last".into(),
        timestamp: devlog_testkit::ts(3),
        category: devlog_core::entry::NoteCategory::Progress,
        content: "The last word.".into(),
        files: Vec::new(),
        code_changes: None,
        extra: Default::default(),
    };
    let posted = ado.create_note(&item.remote_id, e.id, &note).await.unwrap();
    // (Checked now: the log is cleared to count the reads below.)
    assert!(probe.ado.check_contract().is_empty());
    probe.remote.state().clear_requests();
    assert_eq!(
        ado.find_note(&item.remote_id, "note-last").await.unwrap(),
        Some(posted)
    );
    let lists = probe
        .remote
        .state()
        .requests_matching("GET /acme/Fabrikam/_apis/wit/workItems/*/comments");
    assert_eq!(lists.len(), 2);
    assert!(
        lists[1]
            .query
            .as_deref()
            .unwrap()
            .contains("continuationToken=200")
    );
}

#[tokio::test]
async fn estimates_logged_time_and_due_dates_are_written_at_create() {
    let (ado, probe) = start(|_| {}).await;
    let mut e = EntryBuilder::new("Estimated").due("2025-03-01").build();
    e.estimated_hours = Some(8.0);
    e.worklogs.push(devlog_core::planning::Worklog {
        id: "w1".into(),
        author: "dev".into(),
        date: "2025-01-02".parse().unwrap(),
        minutes: 180,
        note: String::new(),
        logged_at: devlog_testkit::ts(10),
        extra: Default::default(),
    });
    let item = ado.create(&e, &SyncedFields::from_entry(&e)).await.unwrap();
    let raw = probe.ado.item(item.remote_id.parse().unwrap()).unwrap();
    let num = |f: &str| raw.fields.get(f).and_then(Value::as_f64);
    assert_eq!(num("Microsoft.VSTS.Scheduling.OriginalEstimate"), Some(8.0));
    assert_eq!(num("Microsoft.VSTS.Scheduling.CompletedWork"), Some(3.0));
    assert_eq!(num("Microsoft.VSTS.Scheduling.RemainingWork"), Some(5.0));
    assert_eq!(
        raw.str_field("Microsoft.VSTS.Scheduling.DueDate"),
        "2025-03-01T00:00:00Z"
    );
    // Mapped elsewhere: a field the type lacks is not sent (the fake would refuse it).
    let (ado, probe) = start(|c| {
        c.fields.insert(
            devlog_ado::MappedField::EstimatedHours,
            "Custom.Effort".into(),
        );
    })
    .await;
    let item = ado.create(&e, &SyncedFields::from_entry(&e)).await.unwrap();
    let raw = probe.ado.item(item.remote_id.parse().unwrap()).unwrap();
    assert!(
        !raw.fields
            .contains_key("Microsoft.VSTS.Scheduling.OriginalEstimate")
    );
    assert!(!raw.fields.contains_key("Custom.Effort"));
    // Health names the mapping no type has.
    let err = ado.health().await.unwrap_err();
    assert!(
        err.message
            .starts_with("integrations.azure-devops.fields.estimatedHours: "),
        "{err}"
    );
}

fn local_milestone(name: &str, created: &str, due: &str) -> devlog_core::planning::Milestone {
    let at: devlog_core::time::Timestamp = created.parse().unwrap();
    serde_json::from_value(json!({
        "key": name.to_lowercase().replace(' ', "-"),
        "name": name,
        "dueDate": due,
        "state": "open",
        "createdAt": at.to_string(),
        "updatedAt": at.to_string(),
    }))
    .unwrap()
}

#[tokio::test]
async fn a_milestone_becomes_a_team_iteration_with_its_dates_once() {
    let (ado, probe) = start(|_| {}).await;
    let m = local_milestone("Release 7", "2025-01-06T09:00:00Z", "2025-01-31");
    ado.prepare_milestone("Release 7", Some(&m)).await.unwrap();
    let made: Vec<_> = probe
        .ado
        .iterations()
        .into_iter()
        .filter(|i| i.name == "Release 7")
        .collect();
    assert_eq!(made.len(), 1);
    assert!(made[0].on_team, "added to the team");
    assert_eq!(
        made[0].start.unwrap().to_rfc3339(),
        "2025-01-06T00:00:00+00:00"
    );
    assert_eq!(
        made[0].finish.unwrap().to_rfc3339(),
        "2025-01-31T00:00:00+00:00"
    );
    // Again, from another process (nothing cached): found on the team, nothing created.
    let (ado2, _) = (
        AdoIntegration::with_limits(ado.config().clone(), RateLimitConfig::unpaced()).unwrap(),
        (),
    );
    let posts = probe
        .remote
        .state()
        .requests_matching("POST /acme/Fabrikam/_apis/wit/classificationnodes/iterations")
        .len();
    ado2.prepare_milestone("Release 7", Some(&m)).await.unwrap();
    assert_eq!(
        probe
            .remote
            .state()
            .requests_matching("POST /acme/Fabrikam/_apis/wit/classificationnodes/iterations")
            .len(),
        posts
    );
    // An entry in it is written with the iteration's path and reads it back as its milestone,
    // with the iteration's finish date as the milestone's due date.
    let e = EntryBuilder::new("In release 7").build();
    let mut fields = SyncedFields::from_entry(&e);
    fields.milestone = Some("Release 7".into());
    let item = ado.create(&e, &fields).await.unwrap();
    assert_eq!(item.fields.milestone.as_deref(), Some("Release 7"));
    let raw = probe.ado.item(item.remote_id.parse().unwrap()).unwrap();
    assert_eq!(raw.str_field("System.IterationPath"), "Fabrikam\\Release 7");
    let remote = item.milestone.unwrap();
    assert_eq!(remote.title, "Release 7");
    assert_eq!(remote.due_date.unwrap().to_string(), "2025-01-31");
}

#[tokio::test]
async fn a_create_whose_answer_was_lost_or_raced_is_never_made_twice() {
    let (ado, probe) = start(|_| {}).await;
    // The node is made but the answer lost: the retry finds it and puts it on the team.
    probe.remote.state().inject(
        Fault::on("POST /acme/Fabrikam/_apis/wit/classificationnodes/iterations").apply_then_drop(),
    );
    assert!(ado.prepare_milestone("Hardening", None).await.is_err());
    ado.prepare_milestone("Hardening", None).await.unwrap();
    let its = probe.ado.iterations();
    let hardening: Vec<_> = its.iter().filter(|i| i.name == "Hardening").collect();
    assert_eq!(hardening.len(), 1, "{its:?}");
    assert!(hardening[0].on_team);
    // Someone made it between our read and our create: the 409 is read back.
    let (ado, probe) = start(|_| {}).await;
    ado.prepare_milestone("Beta", None).await.unwrap();
    let (ado2, _) = (
        AdoIntegration::with_limits(ado.config().clone(), RateLimitConfig::unpaced()).unwrap(),
        (),
    );
    probe.remote.state().inject(
        Fault::on("GET /acme/Fabrikam/*/_apis/work/teamsettings/iterations")
            .status(200)
            .body(r#"{"count":0,"value":[]}"#),
    );
    probe.remote.state().inject(
        Fault::on("GET /acme/Fabrikam/_apis/wit/classificationnodes/iterations/*").status(404),
    );
    ado2.prepare_milestone("Beta", None).await.unwrap();
    assert_eq!(
        probe
            .ado
            .iterations()
            .iter()
            .filter(|i| i.name == "Beta")
            .count(),
        1
    );
    assert_eq!(probe.remote.state().pending_faults(), 0);
    // A name Azure DevOps cannot take is a permanent error naming the milestone.
    let e = ado.prepare_milestone("Q1/Q2", None).await.unwrap_err();
    assert_eq!(e.kind, SyncErrorKind::Permanent);
    assert!(e.message.contains("milestone `Q1/Q2`"), "{e}");
}

#[tokio::test]
async fn milestones_move_items_between_iterations_and_current_is_the_default() {
    let (ado, probe) = start(|c| c.iteration_path = Some(IterationPath::Current)).await;
    // No milestone: the team's current iteration, read back as that milestone.
    let e = EntryBuilder::new("Now").build();
    let mut fields = SyncedFields::from_entry(&e);
    let item = ado.create(&e, &fields).await.unwrap();
    assert_eq!(item.fields.milestone.as_deref(), Some("Sprint 2"));
    // A milestone wins over `@current`.
    fields.milestone = Some("Sprint 3".into());
    ado.prepare_milestone("Sprint 3", None).await.unwrap();
    let other = ado.create(&e, &fields).await.unwrap();
    let raw = probe.ado.item(other.remote_id.parse().unwrap()).unwrap();
    assert_eq!(raw.str_field("System.IterationPath"), "Fabrikam\\Sprint 3");
    // Cleared: the project's root iteration.
    fields.milestone = None;
    let back = ado
        .update(&other.remote_id, &fields, &changed_fields(&["milestone"]))
        .await
        .unwrap();
    assert_eq!(back.fields.milestone, None);
    let raw = probe.ado.item(other.remote_id.parse().unwrap()).unwrap();
    assert_eq!(raw.str_field("System.IterationPath"), "Fabrikam");
    // add-to-iteration: by name (created when missing) and `@current`.
    let moved = ado
        .add_to_iteration(&other.remote_id, "Sprint 1")
        .await
        .unwrap();
    assert_eq!(moved.fields.milestone.as_deref(), Some("Sprint 1"));
    let moved = ado
        .add_to_iteration(&other.remote_id, "@current")
        .await
        .unwrap();
    assert_eq!(moved.fields.milestone.as_deref(), Some("Sprint 2"));
    let moved = ado
        .add_to_iteration(&other.remote_id, "Stretch")
        .await
        .unwrap();
    assert_eq!(moved.fields.milestone.as_deref(), Some("Stretch"));
    let e = ado.add_to_iteration("nope", "Sprint 1").await.unwrap_err();
    assert_eq!(e.kind, SyncErrorKind::NotFound);
}

#[tokio::test]
async fn iterations_list_dates_and_done_of_total() {
    let (ado, _probe) = start(|_| {}).await;
    ado.prepare_milestone("Sprint 2", None).await.unwrap();
    for (title, status) in [
        ("a", Status::Done),
        ("b", Status::InProgress),
        ("c", Status::Closed),
    ] {
        let e = EntryBuilder::new(title).build();
        let mut fields = SyncedFields::from_entry(&e);
        fields.status = status;
        fields.milestone = Some("Sprint 2".into());
        ado.create(&e, &fields).await.unwrap();
    }
    let list = ado.iterations().await.unwrap();
    let names: Vec<(&str, u64, u64, Option<&str>)> = list
        .iter()
        .map(|i| {
            (
                i.iteration.name.as_str(),
                i.done,
                i.total,
                i.iteration.time_frame.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        names,
        [
            ("Sprint 1", 0, 0, Some("past")),
            ("Sprint 2", 2, 3, Some("current")),
            ("Sprint 3", 0, 0, Some("future"))
        ]
    );
    let s2 = &list[1].iteration;
    assert!(s2.start.unwrap() < s2.finish.unwrap());
}

#[tokio::test]
async fn throttling_headers_make_the_client_wait_or_the_job_resume_later() {
    use devlog_testkit::fake_ado::AdoThrottle;
    let (ado, probe) = start(|_| {}).await;
    // X-RateLimit-Delay: the server is slowing us down; the client waits as long before its
    // next request (short: absorbed inside the call, which then succeeds).
    probe.ado.throttle(Some(AdoThrottle {
        delay_seconds: Some(0.2),
        limit: Some(200),
        remaining: Some(150),
        ..AdoThrottle::default()
    }));
    ado.health().await.unwrap();
    let state = ado.client().rate_limit_state();
    assert_eq!(
        state.pause_reason,
        Some(devlog_http::PauseReason::ServerDelay),
        "{state:?}"
    );
    assert!(state.pauses >= 1);
    assert_eq!(
        state.last_server_delay,
        Some(std::time::Duration::from_millis(200))
    );
    assert_eq!(state.remaining, Some(150));
    probe.ado.throttle(None);
    ado.pull(None).await.unwrap();
    // Retry-After longer than a call may hold a worker: the next call is not sent and fails
    // RateLimited with the wait, so the queue reschedules the job for then.
    probe.ado.throttle(Some(AdoThrottle {
        retry_after_seconds: Some(600),
        ..AdoThrottle::default()
    }));
    ado.pull(None).await.unwrap();
    probe.ado.throttle(None);
    let sent = probe.remote.state().requests().len();
    let err = ado.pull(None).await.unwrap_err();
    assert_eq!(err.kind, SyncErrorKind::RateLimited, "{err:?}");
    let wait = err.retry_after_ms.unwrap();
    assert!((590_000..=600_000).contains(&wait), "{wait}");
    assert!(err.message.contains("throttling"), "{err}");
    assert_eq!(
        probe.remote.state().requests().len(),
        sent,
        "nothing sent while paused"
    );
    // X-RateLimit-Remaining 0 until X-RateLimit-Reset: the same.
    let (ado, probe) = start(|_| {}).await;
    let reset = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    probe.ado.throttle(Some(AdoThrottle {
        limit: Some(200),
        remaining: Some(0),
        reset_epoch: Some(reset),
        ..AdoThrottle::default()
    }));
    // The project's answer spends the last unit: the process is not asked until the reset.
    let err = ado.health().await.unwrap_err();
    assert_eq!(err.kind, SyncErrorKind::RateLimited, "{err:?}");
    assert!(err.retry_after_ms.unwrap() > 3_000_000);
    assert_eq!(probe.remote.state().requests().len(), 1);
    // A 429 with Retry-After: RateLimited with the wait.
    let (ado, probe) = start(|_| {}).await;
    probe
        .remote
        .state()
        .inject(Fault::on("GET /acme/_apis/projects/*").rate_limited("120"));
    let err = ado.health().await.unwrap_err();
    assert_eq!(err.kind, SyncErrorKind::RateLimited, "{err:?}");
    assert!(err.retry_after_ms.unwrap() >= 100_000);
}

#[tokio::test]
async fn an_iteration_set_in_azure_devops_is_pulled_as_the_milestone_with_its_dates() {
    let (ado, probe) = start(|_| {}).await;
    let e = EntryBuilder::new("Moved on the board").build();
    let item = ado.create(&e, &SyncedFields::from_entry(&e)).await.unwrap();
    assert_eq!(
        item.fields.milestone, None,
        "the root iteration is no milestone"
    );
    let id: u64 = item.remote_id.parse().unwrap();
    probe.ado.edit_item(id, |f| {
        f.insert("System.IterationPath".into(), json!("Fabrikam\\Sprint 3"));
    });
    let page = ado.pull(None).await.unwrap();
    let pulled = page
        .items
        .iter()
        .find(|i| i.remote_id == item.remote_id)
        .unwrap();
    assert_eq!(pulled.fields.milestone.as_deref(), Some("Sprint 3"));
    let sprint3 = probe
        .ado
        .iterations()
        .into_iter()
        .find(|i| i.name == "Sprint 3")
        .unwrap();
    let m = pulled.milestone.clone().unwrap();
    assert_eq!(m.due_date, Some(sprint3.finish.unwrap().date_naive()));
    assert!(!m.closed);
    // The idle pull that follows still costs two requests.
    let before = probe.remote.state().requests().len();
    ado.pull(page.next_cursor.as_deref()).await.unwrap();
    assert_eq!(probe.remote.state().requests().len() - before, 2);
}
