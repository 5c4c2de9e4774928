//! Phase B of the Jira mapping against the test kit's fake Jira (every request checked against
//! Jira's OpenAPI description when the fake is dropped): assignees by account lookup, notes ⇄
//! comments, milestones ⇄ fix versions, custom fields.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::collections::BTreeMap;

use devlog_core::entry::{Note, NoteCategory};
use devlog_core::integration::{Action, Integration, PullPage, SyncErrorKind};
use devlog_core::merge::SyncedFields;
use devlog_core::planning::{Milestone, MilestoneState};
use devlog_http::{RateLimitConfig, SecretString};
use devlog_jira::config::MappedField;
use devlog_jira::{JiraAuth, JiraConfig, JiraIntegration};
use devlog_testkit::integration_conformance::{JiraProbe, changed_fields};
use devlog_testkit::{EntryBuilder, ts};
use serde_json::{Value, json};

const ALICE: &str = "5b10ac8d82e05b22cc7d4ef5";
const HARRY: &str = "5b109f2e9729b51b54dc274d";

async fn start(edit: impl FnOnce(&mut JiraConfig)) -> (JiraIntegration, JiraProbe) {
    let probe = JiraProbe::start("DEV").await;
    let mut config = JiraConfig::new(
        &probe.remote.url(),
        "DEV",
        JiraAuth::Basic {
            email: "bot@example.com".into(),
            api_token: SecretString::from("jira_mapping_token_1234".to_string()),
        },
    )
    .unwrap();
    edit(&mut config);
    let jira = JiraIntegration::with_limits(config, RateLimitConfig::unpaced()).unwrap();
    (jira, probe)
}

fn count(probe: &JiraProbe, spec: &str) -> usize {
    probe.remote.state().requests_matching(spec).len()
}

async fn pull_all(jira: &JiraIntegration, cursor: Option<&str>) -> PullPage {
    jira.pull(cursor).await.unwrap()
}

// ---- assignee ----

#[tokio::test]
async fn an_assignee_is_looked_up_once_and_reads_back_as_written() {
    let (jira, probe) = start(|_| {}).await;
    // By email; by display name in another case; an account whose email is hidden.
    let mut keys = Vec::new();
    for (name, account) in [
        ("alice@example.com", ALICE),
        ("alice EXAMPLE", ALICE),
        ("Hidden Harry", HARRY),
        ("alice@example.com", ALICE),
    ] {
        let e = EntryBuilder::new("Assigned").assignee(name).build();
        let item = jira
            .create(&e, &SyncedFields::from_entry(&e))
            .await
            .unwrap();
        assert_eq!(item.fields.assignee.as_deref(), Some(name));
        let raw = probe.jira.issue(&item.remote_id).unwrap();
        assert_eq!(raw.assignee.as_deref(), Some(account));
        keys.push(item.remote_id);
    }
    assert_eq!(
        count(&probe, "GET /rest/api/3/user/assignable/search"),
        3,
        "one lookup per name and run"
    );
    // A pull reads the same values: the round trip is stable.
    let page = pull_all(&jira, None).await;
    let names: Vec<Option<String>> = page
        .items
        .iter()
        .map(|i| i.fields.assignee.clone())
        .collect();
    assert_eq!(
        names,
        [
            "alice@example.com",
            "alice EXAMPLE",
            "Hidden Harry",
            "alice@example.com"
        ]
        .map(|n| Some(n.to_string()))
    );
    // Reassigned in Jira: the account reads as its email when visible, else its name.
    probe
        .jira
        .edit_issue(&keys[0], |i| i.assignee = Some(HARRY.into()))
        .unwrap();
    probe
        .jira
        .edit_issue(&keys[2], |i| i.assignee = Some(ALICE.into()))
        .unwrap();
    let next = pull_all(&jira, page.next_cursor.as_deref()).await;
    let by_key: BTreeMap<&str, Option<&str>> = next
        .items
        .iter()
        .map(|i| (i.remote_id.as_str(), i.fields.assignee.as_deref()))
        .collect();
    assert_eq!(by_key[keys[0].as_str()], Some("Hidden Harry"));
    assert_eq!(by_key[keys[2].as_str()], Some("alice@example.com"));
}

#[tokio::test]
async fn changing_and_clearing_the_assignee_updates_jira() {
    let (jira, probe) = start(|_| {}).await;
    let e = EntryBuilder::new("Reassigned").build();
    let mut fields = SyncedFields::from_entry(&e);
    let item = jira.create(&e, &fields).await.unwrap();
    assert_eq!(item.fields.assignee, None);
    let key = item.remote_id;
    fields.assignee = Some("Hidden Harry".into());
    let item = jira
        .update(&key, &fields, &changed_fields(&["assignee"]))
        .await
        .unwrap();
    assert_eq!(item.fields.assignee.as_deref(), Some("Hidden Harry"));
    let raw = probe.jira.issue(&key).unwrap();
    assert_eq!(raw.assignee.as_deref(), Some(HARRY));
    // The marker is still there beside the name devlog wrote.
    assert_eq!(raw.properties["devlog"]["id"], json!(e.id.to_string()));
    assert_eq!(raw.properties["devlog"]["assignee"]["name"], "Hidden Harry");
    assert_eq!(
        jira.find_by_marker(e.id).await.unwrap().unwrap().remote_id,
        key
    );
    fields.assignee = None;
    let item = jira
        .update(&key, &fields, &changed_fields(&["assignee"]))
        .await
        .unwrap();
    assert_eq!(item.fields.assignee, None);
    let raw = probe.jira.issue(&key).unwrap();
    assert_eq!(raw.assignee, None);
    assert!(raw.properties["devlog"].get("assignee").is_none());
    // Only the assignee was written.
    let edits = probe
        .remote
        .state()
        .requests_matching("PUT /rest/api/3/issue/*");
    for r in edits {
        let b = r.body_json().unwrap();
        if let Some(f) = b.get("fields").and_then(Value::as_object) {
            assert_eq!(f.keys().collect::<Vec<_>>(), ["assignee"], "{b}");
        }
    }
}

#[tokio::test]
async fn an_assignee_matching_no_account_is_a_permanent_error_naming_it() {
    let (jira, probe) = start(|_| {}).await;
    for name in ["nobody@example.com", "Visitor Vic"] {
        let e = EntryBuilder::new("Unassignable").assignee(name).build();
        let err = jira
            .create(&e, &SyncedFields::from_entry(&e))
            .await
            .unwrap_err();
        assert_eq!(err.kind, SyncErrorKind::Permanent, "{err}");
        assert!(err.message.contains(name), "{err}");
        assert!(err.message.contains("project DEV"), "{err}");
    }
    assert!(
        probe.jira.issues().is_empty(),
        "no issue without its assignee"
    );
    // A display name two accounts share: the email says which.
    probe.jira.add_user(devlog_testkit::fake_jira::JiraUser {
        account_id: "5b10a2844c20165700ede99z".into(),
        display_name: "Alice Example".into(),
        email: Some("alice.two@example.com".into()),
        assignable: true,
    });
    let e = EntryBuilder::new("Ambiguous")
        .assignee("Alice Example")
        .build();
    let err = jira
        .create(&e, &SyncedFields::from_entry(&e))
        .await
        .unwrap_err();
    assert!(
        err.message.contains("2 Jira accounts") && err.message.contains("email"),
        "{err}"
    );
    let e = EntryBuilder::new("By email")
        .assignee("alice.two@example.com")
        .build();
    let item = jira
        .create(&e, &SyncedFields::from_entry(&e))
        .await
        .unwrap();
    assert_eq!(
        item.fields.assignee.as_deref(),
        Some("alice.two@example.com")
    );
}

// ---- notes ⇄ comments ----

fn note(id: &str, text: &str) -> Note {
    Note {
        id: id.into(),
        timestamp: ts(0),
        category: NoteCategory::Progress,
        content: text.into(),
        files: Vec::new(),
        code_changes: None,
        extra: Default::default(),
    }
}

#[tokio::test]
async fn comments_carry_the_note_marker_and_others_come_back_as_feedback() {
    let (jira, probe) = start(|_| {}).await;
    assert!(jira.syncs_notes());
    let e = EntryBuilder::new("Discussed").build();
    let item = jira
        .create(&e, &SyncedFields::from_entry(&e))
        .await
        .unwrap();
    let key = item.remote_id.clone();
    let page = pull_all(&jira, None).await;
    assert!(page.actions.is_empty(), "no comments yet");
    assert_eq!(
        count(&probe, "GET /rest/api/3/issue/*/comment"),
        0,
        "an issue without comments costs no comment request"
    );
    let ours = jira
        .create_note(&key, e.id, &note("n-1", "Reproduced **it**."))
        .await
        .unwrap();
    // The marker is a comment property set in the create request itself.
    let post = probe
        .remote
        .state()
        .requests_matching("POST /rest/api/3/issue/*/comment")
        .pop()
        .unwrap()
        .body_json()
        .unwrap();
    assert_eq!(post["properties"][0]["key"], "devlog");
    assert_eq!(post["properties"][0]["value"]["note"], "n-1");
    assert_eq!(post["body"]["type"], "doc");
    let theirs = probe
        .jira
        .add_comment(&key, "Carol", "Works for me.")
        .unwrap();
    let next = pull_all(&jira, page.next_cursor.as_deref()).await;
    let notes: Vec<_> = next
        .actions
        .iter()
        .filter_map(|a| match &a.action {
            Action::Note(n) => Some(n.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(notes.len(), 2, "{notes:?}");
    assert_eq!(notes[0].remote_id, ours);
    assert_eq!(notes[0].note_marker.as_deref(), Some("n-1"));
    assert_eq!(notes[0].text, "Reproduced **it**.");
    assert_eq!(notes[1].remote_id, format!("comment:{}", theirs.id));
    assert_eq!(notes[1].note_marker, None);
    assert_eq!(notes[1].author.as_deref(), Some("Carol"));
    assert_eq!(notes[1].text, "Works for me.");
    assert_eq!(notes[1].category, None, "new notes are feedback");
    assert!(notes[1].url.as_deref().unwrap().contains(&key));
    // Deleted in Jira: a pull can tell.
    probe.jira.delete_comment(theirs.id).unwrap();
    let gone = jira
        .deleted_notes(&key, &[ours.clone(), format!("comment:{}", theirs.id)])
        .await
        .unwrap();
    assert_eq!(gone, Some(vec![format!("comment:{}", theirs.id)]));
}

#[tokio::test]
async fn with_sync_notes_off_no_comment_is_read_or_written() {
    let (jira, probe) = start(|c| c.sync_notes = false).await;
    assert!(!jira.syncs_notes());
    let e = EntryBuilder::new("Quiet").build();
    let item = jira
        .create(&e, &SyncedFields::from_entry(&e))
        .await
        .unwrap();
    probe
        .jira
        .add_comment(&item.remote_id, "Carol", "Hello")
        .unwrap();
    let err = jira
        .create_note(&item.remote_id, e.id, &note("n-1", "x"))
        .await
        .unwrap_err();
    assert_eq!(err.kind, SyncErrorKind::Permanent);
    let page = pull_all(&jira, None).await;
    assert!(page.actions.is_empty());
    assert_eq!(count(&probe, "GET /rest/api/3/issue/*/comment"), 0);
    assert_eq!(count(&probe, "POST /rest/api/3/issue/*/comment"), 0);
    assert_eq!(
        jira.deleted_notes(&item.remote_id, &[]).await.unwrap(),
        None
    );
}

// ---- milestones ⇄ fix versions ----

fn milestone(name: &str, description: &str, due: &str) -> Milestone {
    Milestone {
        key: devlog_core::planning::milestone_key(name).unwrap(),
        name: name.into(),
        description: description.into(),
        due_date: Some(due.parse().unwrap()),
        state: MilestoneState::Open,
        created_at: ts(0),
        updated_at: ts(0),
        closed_at: None,
        extra: Default::default(),
    }
}

#[tokio::test]
async fn a_milestone_becomes_a_fix_version_created_once() {
    let (jira, probe) = start(|_| {}).await;
    let m = milestone("1.0", "First release", "2026-03-01");
    jira.prepare_milestone("1.0", Some(&m)).await.unwrap();
    jira.prepare_milestone("1.0", Some(&m)).await.unwrap();
    let versions = probe.jira.versions();
    assert_eq!(versions.len(), 1);
    assert_eq!(versions[0].description, "First release");
    assert_eq!(versions[0].release_date.as_deref(), Some("2026-03-01"));
    assert_eq!(count(&probe, "POST /rest/api/3/version"), 1);
    assert_eq!(
        count(&probe, "GET /rest/api/3/project/DEV/versions"),
        1,
        "the list is read once per run"
    );
    let e = EntryBuilder::new("Released").milestone("1.0").build();
    let item = jira
        .create(&e, &SyncedFields::from_entry(&e))
        .await
        .unwrap();
    assert_eq!(item.fields.milestone.as_deref(), Some("1.0"));
    let remote = item.milestone.unwrap();
    assert_eq!(remote.description, "First release");
    assert_eq!(remote.due_date, Some("2026-03-01".parse().unwrap()));
    assert_eq!(
        probe.jira.issue(&item.remote_id).unwrap().fix_versions,
        ["1.0"]
    );
}

#[tokio::test]
async fn a_version_created_meanwhile_is_found_not_duplicated() {
    let (jira, probe) = start(|_| {}).await;
    // The list is read (and cached) before someone else creates "2.0".
    jira.prepare_milestone("1.0", None).await.unwrap();
    probe.jira.add_version("2.0", "Made elsewhere", None);
    jira.prepare_milestone("2.0", Some(&milestone("2.0", "Ours", "2026-06-01")))
        .await
        .unwrap();
    let versions = probe.jira.versions();
    let twos: Vec<_> = versions.iter().filter(|v| v.name == "2.0").collect();
    assert_eq!(twos.len(), 1, "{versions:?}");
    assert_eq!(twos[0].description, "Made elsewhere");
    // The refused create was followed by a fresh list.
    assert_eq!(count(&probe, "GET /rest/api/3/project/DEV/versions"), 2);
}

// ---- custom fields ----

#[tokio::test]
async fn mapped_fields_are_written_on_create() {
    let (jira, probe) = start(|c| {
        c.custom_fields = BTreeMap::from([
            (MappedField::EstimatedHours, "Story point estimate".into()),
            (MappedField::ActualHours, "customfield_10020".into()),
            (
                MappedField::AcceptanceCriteria,
                "acceptance criteria".into(),
            ),
            (MappedField::DueDate, "duedate".into()),
        ]);
    })
    .await;
    for n in 0..2 {
        let mut e = EntryBuilder::new(&format!("Estimated {n}"))
            .due("2026-02-01")
            .build();
        e.estimated_hours = Some(5.0);
        e.actual_hours = Some(1.5);
        e.context.acceptance_criteria = vec!["Loads fast".into(), "Works offline".into()];
        let item = jira
            .create(&e, &SyncedFields::from_entry(&e))
            .await
            .unwrap();
        let raw = probe.jira.issue(&item.remote_id).unwrap();
        assert_eq!(raw.custom["customfield_10016"], json!(5.0));
        assert_eq!(raw.custom["customfield_10020"], json!(1.5));
        let criteria = devlog_testkit::fake_jira::adf_plain(&raw.custom["customfield_10030"]);
        assert!(
            criteria.contains("Loads fast") && criteria.contains("Works offline"),
            "{criteria}"
        );
        assert_eq!(raw.due_date.as_deref(), Some("2026-02-01"));
    }
    // An entry without those values leaves the fields out.
    let e = EntryBuilder::new("Bare").build();
    let item = jira
        .create(&e, &SyncedFields::from_entry(&e))
        .await
        .unwrap();
    assert!(probe.jira.issue(&item.remote_id).unwrap().custom.is_empty());
    assert_eq!(
        count(&probe, "GET /rest/api/3/field"),
        1,
        "read once per run"
    );
    let health = jira.health().await.unwrap();
    assert!(
        health
            .message
            .contains("estimatedHours → Story point estimate"),
        "{}",
        health.message
    );
}

#[tokio::test]
async fn a_mapping_naming_no_field_is_an_error_naming_the_key() {
    let (jira, probe) = start(|c| {
        c.custom_fields = BTreeMap::from([(MappedField::EstimatedHours, "Story pointz".into())]);
    })
    .await;
    let err = jira.health().await.unwrap_err();
    assert!(
        err.message
            .contains("integrations.jira.customFields.estimatedHours"),
        "{err}"
    );
    let e = EntryBuilder::new("Not created").build();
    let err = jira
        .create(&e, &SyncedFields::from_entry(&e))
        .await
        .unwrap_err();
    assert_eq!(err.kind, SyncErrorKind::Permanent);
    assert!(err.message.contains("customFields.estimatedHours"), "{err}");
    assert!(probe.jira.issues().is_empty());
    // A name two fields share, a field of the wrong kind.
    for (f, v, says) in [
        (MappedField::AcceptanceCriteria, "Team", "2 Jira fields"),
        (
            MappedField::DueDate,
            "Story point estimate",
            "needs a date field",
        ),
    ] {
        let (jira, _probe) =
            start(|c| c.custom_fields = BTreeMap::from([(f, v.to_string())])).await;
        let err = jira.health().await.unwrap_err();
        assert!(
            err.message.contains(says) && err.message.contains(f.as_str()),
            "{err}"
        );
    }
}

// ---- health ----

#[tokio::test]
async fn health_names_a_mapped_status_or_priority_jira_does_not_have() {
    let (jira, _probe) = start(|_| {}).await;
    jira.health().await.unwrap();
    let (jira, _probe) = start(|c| {
        c.status_mapping
            .insert(devlog_core::entry::Status::InReview, "Code Review".into());
    })
    .await;
    let err = jira.health().await.unwrap_err();
    assert!(
        err.message
            .contains("integrations.jira.statusMapping.in-review")
            && err.message.contains("Code Review")
            && err.message.contains("In Review"),
        "{err}"
    );
    let (jira, _probe) = start(|c| {
        c.priorities
            .insert(devlog_core::entry::Priority::Critical, "Blocker".into());
    })
    .await;
    let err = jira.health().await.unwrap_err();
    assert!(
        err.message
            .contains("integrations.jira.priorities.critical")
            && err.message.contains("Highest"),
        "{err}"
    );
}
