//! Test driver for the Jira fault-injection test: one sync of the `.devlog` folder in
//! `$DEVLOG_DIR` with project `DEV` at `$JIRA_BASE_URL` (Basic auth, token `$JIRA_API_TOKEN`),
//! optionally crashing at the crash point named by `$DEVLOG_FAILPOINT`. Prints the report.

use std::sync::Arc;

use devlog_core::Store;
use devlog_http::{RateLimitConfig, SecretString};
use devlog_jira::{JiraAuth, JiraConfig, JiraIntegration};
use devlog_sync::{SyncEngine, SyncOptions, SyncState, failpoint};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::path::PathBuf::from(std::env::var("DEVLOG_DIR")?);
    if let Ok(point) = std::env::var("DEVLOG_FAILPOINT") {
        failpoint::arm(&point);
    }
    let cfg = JiraConfig::new(
        &std::env::var("JIRA_BASE_URL")?,
        "DEV",
        JiraAuth::Basic {
            email: "bot@example.com".into(),
            api_token: SecretString::from(std::env::var("JIRA_API_TOKEN")?),
        },
    )?;
    let jira = JiraIntegration::with_limits(cfg, RateLimitConfig::unpaced())?;
    let store: Arc<dyn Store> = Arc::new(devlog_store::JsonStore::open(&dir).await?);
    let state = SyncState::open(&dir.join(".state/sync.sqlite")).await?;
    let opts = SyncOptions {
        base_delay_ms: 0,
        max_delay_ms: 0,
        // One process at a time: the restart after a crash takes the crashed run's job at
        // once instead of waiting for its lease to expire.
        lease_ms: 0,
        ..SyncOptions::default()
    };
    let engine = SyncEngine::new(store, state, vec![Arc::new(jira)], opts);
    let report = engine.sync(None, None, &|_, _| {}).await?;
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}
