//! One entry in three trackers: the GitHub, Jira and Azure DevOps integrations at the test
//! kit's fakes, and the field owners the three-tracker test runs with. Shared by
//! `tests/three_trackers.rs` and its crash driver `examples/three_sync_once.rs`.
#![allow(dead_code)] // each includer uses part of it

use std::sync::Arc;

use devlog_ado::{AdoAuth, AdoConfig, AdoIntegration};
use devlog_core::integration::Integration;
use devlog_core::merge::{FieldOwner, FieldOwners, SyncedField};
use devlog_github::{GithubConfig, GithubIntegration};
use devlog_http::{RateLimitConfig, SecretString};
use devlog_jira::{JiraAuth, JiraConfig, JiraIntegration};
use devlog_sync::SyncOptions;

pub const GITHUB_TOKEN: &str = "ghp_three_trackers_0123";
pub const JIRA_TOKEN: &str = "jira_three_trackers_4567";
pub const ADO_PAT: &str = "ado_three_trackers_89ab";
/// GitHub's repository, Jira's project key, Azure DevOps' organization and project.
pub const OWNER: &str = "acme";
pub const REPO: &str = "widgets";
pub const JIRA_PROJECT: &str = "DEV";
pub const ADO_ORG: &str = "acme";
pub const ADO_PROJECT: &str = "Fabrikam";

/// The three integrations, in the order a sync runs them: GitHub, Jira, Azure DevOps.
/// `ado_org_url` is the organization URL (`http://127.0.0.1:…/acme`).
pub fn integrations(
    github_url: &str,
    jira_url: &str,
    ado_org_url: &str,
) -> Result<Vec<Arc<dyn Integration>>, String> {
    let mut gh = GithubConfig::new(
        &format!("{OWNER}/{REPO}"),
        SecretString::from(GITHUB_TOKEN.to_string()),
    )?;
    gh.api_url = github_url.to_string();
    let jira = JiraConfig::new(
        jira_url,
        JIRA_PROJECT,
        JiraAuth::Basic {
            email: "bot@example.com".into(),
            api_token: SecretString::from(JIRA_TOKEN.to_string()),
        },
    )?;
    let ado = AdoConfig::new(
        ado_org_url,
        ADO_PROJECT,
        AdoAuth::Pat(SecretString::from(ADO_PAT.to_string())),
    )?;
    Ok(vec![
        Arc::new(GithubIntegration::with_limits(
            gh,
            RateLimitConfig::unpaced(),
        )?),
        Arc::new(JiraIntegration::with_limits(
            jira,
            RateLimitConfig::unpaced(),
        )?),
        Arc::new(AdoIntegration::with_limits(
            ado,
            RateLimitConfig::unpaced(),
        )?),
    ])
}

/// `[sync] owners = { status = "jira", title = "devlog" }`; every other field manual.
pub fn owners() -> FieldOwners {
    FieldOwners::new()
        .with(SyncedField::Status, FieldOwner::Integration("jira".into()))
        .with(SyncedField::Title, FieldOwner::Devlog)
}

/// The engine's options: those owners, quick retries, and no lease (one sync process at a
/// time: the restart after a crash takes the crashed run's jobs at once).
pub fn options() -> SyncOptions {
    SyncOptions {
        owners: owners(),
        base_delay_ms: 0,
        max_delay_ms: 0,
        lease_ms: 0,
        ..SyncOptions::default()
    }
}
