//! Sprints and boards through the Agile API against the test kit's fake Jira (every request
//! checked against the Jira Software description when the fake is dropped): listing with
//! done/total counts, choosing a sprint by name, `active` or `next`, moving issues, and the
//! errors a user meets.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use devlog_core::integration::{Integration, SyncErrorKind};
use devlog_core::merge::SyncedFields;
use devlog_http::{RateLimitConfig, SecretString};
use devlog_jira::agile::{SprintChoice, SprintState};
use devlog_jira::{JiraAuth, JiraConfig, JiraIntegration};
use devlog_testkit::EntryBuilder;
use devlog_testkit::fake_jira::BOARD_ID;
use devlog_testkit::integration_conformance::JiraProbe;

fn at(s: &str) -> chrono::DateTime<chrono::Utc> {
    s.parse().unwrap()
}

async fn start(board: Option<u64>) -> (JiraIntegration, JiraProbe) {
    let probe = JiraProbe::start("DEV").await;
    let mut config = JiraConfig::new(
        &probe.remote.url(),
        "DEV",
        JiraAuth::Basic {
            email: "bot@example.com".into(),
            api_token: SecretString::from("jira_agile_token_1234".to_string()),
        },
    )
    .unwrap();
    config.board_id = board;
    let jira = JiraIntegration::with_limits(config, RateLimitConfig::unpaced()).unwrap();
    (jira, probe)
}

async fn issue(jira: &JiraIntegration, title: &str) -> String {
    let e = EntryBuilder::new(title).build();
    jira.create(&e, &SyncedFields::from_entry(&e))
        .await
        .unwrap()
        .remote_id
}

#[tokio::test]
async fn sprints_are_listed_with_dates_and_counts_and_issues_move_into_them() {
    let (jira, probe) = start(Some(BOARD_ID)).await;
    let old = probe.jira.add_sprint(
        "Sprint 1",
        "closed",
        Some(at("2026-11-02T09:00:00Z")),
        Some(at("2026-11-16T09:00:00Z")),
    );
    let now = probe
        .jira
        .add_sprint("Sprint 2", "active", Some(at("2026-11-16T09:00:00Z")), None);
    // More sprints than one page, so paging is followed.
    for n in 3..60 {
        probe
            .jira
            .add_sprint(&format!("Sprint {n}"), "future", None, None);
    }
    let h = jira.health().await.unwrap();
    assert!(
        h.message.contains("board 7 (DEV board, scrum)"),
        "{}",
        h.message
    );
    let all = jira.sprints().await.unwrap();
    assert_eq!(all.len(), 59);
    assert_eq!(all[0].state, SprintState::Closed);
    assert!(all[0].end_date.is_some() && all[0].complete_date.is_some());
    assert_eq!(all[1].name, "Sprint 2");

    let a = issue(&jira, "First").await;
    let b = issue(&jira, "Second").await;
    let active = jira.choose_sprint(&SprintChoice::Active).await.unwrap();
    assert_eq!(active.id, now);
    jira.move_to_sprint(&active, &[a.clone(), b.clone()])
        .await
        .unwrap();
    // Moving again changes nothing: a retry is harmless.
    jira.move_to_sprint(&active, std::slice::from_ref(&a))
        .await
        .unwrap();
    assert_eq!(probe.jira.sprint_of(&a), Some(now));
    assert_eq!(
        jira.issue_sprint(&a).await.unwrap().unwrap().name,
        "Sprint 2"
    );
    probe.jira.edit_issue(&b, |i| i.status = "Done".into());
    let p = jira.sprint_progress(active).await.unwrap();
    assert_eq!((p.done, p.total), (1, 2));

    // `next` is the first future sprint; moving there takes the issue out of the active one.
    let next = jira.choose_sprint(&SprintChoice::Next).await.unwrap();
    assert_eq!(next.name, "Sprint 3");
    jira.move_to_sprint(&next, std::slice::from_ref(&a))
        .await
        .unwrap();
    assert_eq!(probe.jira.sprint_of(&a), Some(next.id));
    let by_name = jira
        .choose_sprint(&SprintChoice::parse("sprint 3"))
        .await
        .unwrap();
    assert_eq!(by_name.id, next.id);

    // A closed sprint takes no issues; an unknown name lists the sprints there are.
    let err = jira
        .choose_sprint(&SprintChoice::Named("Sprint 1".into()))
        .await
        .unwrap_err();
    assert!(err.message.contains("closed"), "{err}");
    let err = jira
        .choose_sprint(&SprintChoice::Named("Sprint 99".into()))
        .await
        .unwrap_err();
    assert_eq!(err.kind, SyncErrorKind::Permanent);
    assert!(
        err.message.contains("no sprint named `Sprint 99`")
            && err.message.contains("Sprint 2 (active)"),
        "{err}"
    );
    // An issue that was only in a closed sprint reads as that sprint.
    probe.jira.set_sprint_state(now, "closed");
    assert_eq!(jira.issue_sprint(&b).await.unwrap().unwrap().id, now);
    assert_eq!(jira.issue_sprint(&a).await.unwrap().unwrap().id, next.id);
    let _ = old;
    let err = jira.choose_sprint(&SprintChoice::Active).await.unwrap_err();
    assert!(err.message.contains("has no active sprint"), "{err}");
}

#[tokio::test]
async fn without_a_board_or_with_a_wrong_one_the_error_names_board_id() {
    let (jira, _probe) = start(None).await;
    let err = jira.sprints().await.unwrap_err();
    assert!(err.message.contains("integrations.jira.boardId"), "{err}");
    let (jira, _probe) = start(Some(99)).await;
    let err = jira.health().await.unwrap_err();
    assert!(err.message.contains("board 99 was not found"), "{err}");
    let err = jira.sprints().await.unwrap_err();
    assert_eq!(err.kind, SyncErrorKind::Permanent);
    assert!(
        err.message.contains("board 99 was not found") && err.message.contains("boardId"),
        "{err}"
    );
}
