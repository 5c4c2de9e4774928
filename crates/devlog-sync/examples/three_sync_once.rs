//! Test driver for `tests/three_trackers.rs`: one sync of the `.devlog` folder in
//! `$DEVLOG_DIR` with GitHub at `$GITHUB_API_URL`, Jira at `$JIRA_BASE_URL` and Azure DevOps
//! at `$ADO_ORG_URL` at once (status owned by Jira, title by devlog), optionally crashing at
//! the crash point named by `$DEVLOG_FAILPOINT` (`name` or `name@N`, the N-th pass). Prints
//! the report as JSON.

use std::sync::Arc;

use devlog_core::Store;
use devlog_sync::{SyncEngine, SyncState, failpoint};

#[path = "../tests/support/three.rs"]
mod three;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::path::PathBuf::from(std::env::var("DEVLOG_DIR")?);
    if let Ok(point) = std::env::var("DEVLOG_FAILPOINT") {
        failpoint::arm(&point);
    }
    let integrations = three::integrations(
        &std::env::var("GITHUB_API_URL")?,
        &std::env::var("JIRA_BASE_URL")?,
        &std::env::var("ADO_ORG_URL")?,
    )?;
    let store: Arc<dyn Store> = Arc::new(devlog_store::JsonStore::open(&dir).await?);
    let state = SyncState::open(&dir.join(".state/sync.sqlite")).await?;
    let engine = SyncEngine::new(store, state, integrations, three::options());
    let report = engine.sync(None, None, &|_, _| {}).await?;
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}
