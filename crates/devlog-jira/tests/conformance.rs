//! The `Integration` conformance suite (devlog-testkit) against `JiraIntegration` over the
//! test kit's fake Jira, whose every request is checked against Jira's OpenAPI description
//! when the fake is dropped. Every case runs; notes take their "syncs notes" branch
//! (`syncNotes` is on by default), milestones travel as fix versions.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::sync::Arc;

use devlog_core::integration::Integration;
use devlog_http::{RateLimitConfig, SecretString};
use devlog_jira::{JiraAuth, JiraConfig, JiraIntegration};
use devlog_testkit::integration_conformance::JiraProbe;

const TOKEN: &str = "jira_conformance_token_1234";

async fn jira() -> (Arc<dyn Integration>, JiraProbe) {
    let probe = JiraProbe::start("DEV").await;
    let config = JiraConfig::new(
        &probe.remote.url(),
        "DEV",
        JiraAuth::Basic {
            email: "bot@example.com".into(),
            api_token: SecretString::from(TOKEN.to_string()),
        },
    )
    .unwrap();
    let jira = JiraIntegration::with_limits(config, RateLimitConfig::unpaced()).unwrap();
    (Arc::new(jira), probe)
}

devlog_testkit::integration_conformance!(@cases jira_conformance jira;
    create_stores_a_marker_that_find_by_marker_finds,
    find_by_marker_of_an_unknown_entry_is_none,
    update_sends_only_the_changed_fields,
    pull_pages_are_idempotent,
    notes_become_comments_when_the_integration_syncs_notes,
    deleted_notes_delete_their_comments_or_say_they_cannot,
    worklogs_are_logged_once_edited_and_deleted_or_not_synced,
    failures_are_classified,
    milestones_travel_with_the_item,
);
