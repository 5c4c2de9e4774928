//! `JiraIntegration` against the test kit's fake Jira, beyond the conformance suite: the
//! workflow walk and its required resolution, the ADF description with devlog's details,
//! paged pulls, and secrets kept out of `Debug` and errors.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use devlog_core::entry::{EntryType, Status};
use devlog_core::integration::{Integration, SyncErrorKind};
use devlog_core::merge::SyncedFields;
use devlog_http::{RateLimitConfig, SecretString};
use devlog_jira::{JiraAuth, JiraConfig, JiraIntegration};
use devlog_testkit::EntryBuilder;
use devlog_testkit::fake_remote::Fault;
use devlog_testkit::integration_conformance::{JiraProbe, changed_fields};
use serde_json::Value;

const TOKEN: &str = "jira_secret_token_98765";

async fn start(edit: impl FnOnce(&mut JiraConfig)) -> (JiraIntegration, JiraProbe) {
    let probe = JiraProbe::start("DEV").await;
    let mut config = JiraConfig::new(
        &probe.remote.url(),
        "DEV",
        JiraAuth::Basic {
            email: "bot@example.com".into(),
            api_token: SecretString::from(TOKEN.to_string()),
        },
    )
    .unwrap();
    edit(&mut config);
    let jira = JiraIntegration::with_limits(config, RateLimitConfig::unpaced()).unwrap();
    (jira, probe)
}

fn transitions_taken(probe: &JiraProbe) -> Vec<String> {
    probe
        .remote
        .state()
        .requests_matching("POST /rest/api/3/issue/*/transitions")
        .iter()
        .filter_map(|r| r.body_json())
        .filter_map(|b| {
            b.pointer("/transition/id")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .collect()
}

#[tokio::test]
async fn done_is_reached_through_the_workflow_with_the_mapped_resolution() {
    let (jira, probe) = start(|_| {}).await;
    let e = EntryBuilder::new("Finished work")
        .kind(EntryType::Bugfix)
        .status(Status::Done)
        .build();
    let item = jira
        .create(&e, &SyncedFields::from_entry(&e))
        .await
        .unwrap();
    assert_eq!(item.fields.status, Status::Done);
    assert_eq!(item.fields.kind, EntryType::Bugfix);
    let raw = probe.jira.issue(&item.remote_id).unwrap();
    assert_eq!(raw.status, "Done");
    assert_eq!(raw.issue_type, "Bug");
    assert_eq!(raw.resolution.as_deref(), Some("Done"));
    // To Do → In Progress → In Review → Done: Start, Review, Finish.
    assert_eq!(transitions_taken(&probe), ["11", "31", "51"]);
    // Closed (unmapped): a status of category `done`, with its own resolution.
    let mut fields = item.fields.clone();
    jira.update(&item.remote_id, &fields, &changed_fields(&["status"]))
        .await
        .unwrap();
    fields.status = Status::InProgress;
    let back = jira
        .update(&item.remote_id, &fields, &changed_fields(&["status"]))
        .await
        .unwrap();
    assert_eq!(back.fields.status, Status::InProgress);
    assert_eq!(probe.jira.issue(&item.remote_id).unwrap().resolution, None);
    fields.status = Status::Closed;
    let closed = jira
        .update(&item.remote_id, &fields, &changed_fields(&["status"]))
        .await
        .unwrap();
    assert_eq!(
        closed.fields.status,
        Status::Done,
        "Done reads back as done"
    );
    let raw = probe.jira.issue(&item.remote_id).unwrap();
    assert_eq!(raw.status, "Done");
    assert_eq!(raw.resolution.as_deref(), Some("Won't Do"));
}

#[tokio::test]
async fn a_required_resolution_without_a_mapping_is_a_permanent_error_naming_the_key() {
    let (jira, probe) = start(|c| {
        c.resolutions.clear();
    })
    .await;
    let e = EntryBuilder::new("Unresolvable").build();
    let mut fields = SyncedFields::from_entry(&e);
    let item = jira.create(&e, &fields).await.unwrap();
    fields.status = Status::Done;
    let err = jira
        .update(&item.remote_id, &fields, &changed_fields(&["status"]))
        .await
        .unwrap_err();
    assert_eq!(err.kind, SyncErrorKind::Permanent, "{err}");
    assert!(
        err.message.contains("integrations.jira.resolutions.done"),
        "{err}"
    );
    assert!(
        err.message.contains("Won't Do"),
        "the allowed values are named: {err}"
    );
    assert_ne!(probe.jira.issue(&item.remote_id).unwrap().status, "Done");
}

#[tokio::test]
async fn a_status_mapped_to_a_missing_status_says_which_key_to_fix() {
    let (jira, _probe) = start(|c| {
        c.status_mapping.insert(Status::Done, "Shipped".into());
    })
    .await;
    let e = EntryBuilder::new("Nowhere to go")
        .status(Status::Done)
        .build();
    let err = jira
        .create(&e, &SyncedFields::from_entry(&e))
        .await
        .unwrap_err();
    assert_eq!(err.kind, SyncErrorKind::Permanent, "{err}");
    assert!(
        err.message.contains("integrations.jira.statusMapping.done"),
        "{err}"
    );
    assert!(err.message.contains("`Shipped`"), "{err}");
}

#[tokio::test]
async fn the_description_carries_devlogs_details_and_updates_keep_them() {
    let (jira, probe) = start(|_| {}).await;
    let mut e = EntryBuilder::new("Detailed")
        .description("What to do.")
        .build();
    e.context.business_context = "Customers wait.".into();
    e.context.acceptance_criteria = vec!["Loads in 1s".into()];
    let mut fields = SyncedFields::from_entry(&e);
    let item = jira.create(&e, &fields).await.unwrap();
    assert_eq!(item.fields.description, "What to do.");
    let text = devlog_testkit::fake_jira::adf_plain(
        &probe.jira.issue(&item.remote_id).unwrap().description,
    );
    assert!(
        text.contains("Customers wait.") && text.contains("Loads in 1s"),
        "{text}"
    );
    fields.description = "What to do, better.".into();
    let item = jira
        .update(&item.remote_id, &fields, &changed_fields(&["description"]))
        .await
        .unwrap();
    assert_eq!(item.fields.description, "What to do, better.");
    let text = devlog_testkit::fake_jira::adf_plain(
        &probe.jira.issue(&item.remote_id).unwrap().description,
    );
    assert!(
        text.contains("better") && text.contains("Loads in 1s"),
        "{text}"
    );
}

#[tokio::test]
async fn a_pull_follows_next_page_tokens_and_reads_status_edits() {
    let (jira, probe) = start(|_| {}).await;
    let mut keys = Vec::new();
    for n in 0..105 {
        let e = EntryBuilder::new(&format!("Issue {n}")).build();
        keys.push(
            jira.create(&e, &SyncedFields::from_entry(&e))
                .await
                .unwrap()
                .remote_id,
        );
    }
    let page = jira.pull(None).await.unwrap();
    assert_eq!(page.items.len(), 105);
    assert!(!page.more);
    let searches = probe
        .remote
        .state()
        .requests_matching("POST /rest/api/3/search/jql");
    assert_eq!(searches.len(), 2, "two pages of 100");
    assert!(
        searches[1]
            .body_json()
            .unwrap()
            .get("nextPageToken")
            .is_some()
    );
    // Someone moves an issue on the board.
    probe
        .jira
        .edit_issue(&keys[7], |i| i.status = "In Review".into())
        .unwrap();
    let next = jira.pull(page.next_cursor.as_deref()).await.unwrap();
    assert_eq!(
        next.items.len(),
        1,
        "only the changed issue: {:?}",
        next.items
    );
    assert_eq!(next.items[0].remote_id, keys[7]);
    assert_eq!(next.items[0].fields.status, Status::InProgress);
    let jql = probe
        .remote
        .state()
        .requests_matching("POST /rest/api/3/search/jql")
        .last()
        .unwrap()
        .body_json()
        .unwrap()["jql"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(jql.contains("updated >= -"), "{jql}");
    // Idle: the 105 issues are all within the pull's overlap, yet one search (newest first)
    // shows nothing changed since the cursor (issue 18: an idle sync costs at most 2 requests).
    let before = probe
        .remote
        .state()
        .requests_matching("POST /rest/api/3/search/jql")
        .len();
    let idle = jira.pull(next.next_cursor.as_deref()).await.unwrap();
    assert!(idle.items.is_empty(), "{:?}", idle.items);
    assert!(!idle.more);
    let searches = probe
        .remote
        .state()
        .requests_matching("POST /rest/api/3/search/jql");
    assert_eq!(searches.len(), before + 1, "one search");
    let jql = searches.last().unwrap().body_json().unwrap()["jql"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(jql.ends_with("ORDER BY updated DESC, key DESC"), "{jql}");
    assert_eq!(idle.next_cursor, next.next_cursor, "the cursor stays");
    // Two changed since: brought by that one request, oldest first.
    for k in [&keys[3], &keys[90]] {
        probe
            .jira
            .edit_issue(k, |i| i.summary.push_str(" (edited)"))
            .unwrap();
    }
    let changed = jira.pull(idle.next_cursor.as_deref()).await.unwrap();
    assert_eq!(
        changed
            .items
            .iter()
            .map(|i| i.remote_id.as_str())
            .collect::<Vec<_>>(),
        [keys[3].as_str(), keys[90].as_str()]
    );
    assert_eq!(
        probe
            .remote
            .state()
            .requests_matching("POST /rest/api/3/search/jql")
            .len(),
        before + 2
    );
    assert!(
        jira.pull(changed.next_cursor.as_deref())
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

#[tokio::test]
async fn the_token_stays_out_of_debug_and_errors() {
    let (jira, probe) = start(|_| {}).await;
    assert!(!format!("{jira:?}").contains(TOKEN));
    probe.remote.state().inject(Fault::on("* /**").status(401));
    let err = jira.pull(None).await.unwrap_err();
    assert_eq!(err.kind, SyncErrorKind::Auth);
    assert!(!format!("{err:?}").contains(TOKEN));
    assert!(err.message.contains("integrations.jira"), "{err}");
    let health = jira.health().await.unwrap();
    assert!(health.message.contains("DEV"), "{}", health.message);
}
