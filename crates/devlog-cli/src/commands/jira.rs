//! `devlog jira`: link entries to existing issues, unlink, sync, status. Settings in
//! `[integrations.jira]` (docs/jira.md). The flows are `devlog github`'s ([`super::tracker`]).

use std::sync::Arc;

use async_trait::async_trait;
use clap::{Args, Subcommand};
use devlog_core::EntryId;
use devlog_core::integration::{Integration, RemoteAction, RemoteItem, SyncError};
use devlog_jira::JiraIntegration;
use serde_json::{Map, Value, json};

use super::Ctx;
use super::tracker::{self, Tracker};
use crate::error::CliError;
use crate::workspace::Workspace;

/// Work with Jira: link entries to issues, sync, status
#[derive(Debug, Args)]
pub struct JiraArgs {
    #[command(subcommand)]
    pub command: JiraCommand,
}

#[derive(Debug, Subcommand)]
pub enum JiraCommand {
    /// Link an entry to an existing issue of the project (its comments become notes)
    Link {
        /// Handle, id, id prefix or key of the entry
        entry: String,
        /// The issue: its key (DEV-123) or its URL
        issue: String,
    },
    /// Stop syncing an entry with its issue (the issue stays in Jira, without devlog's marker)
    Unlink {
        /// Handle, id, id prefix or key of the entry
        entry: String,
    },
    /// Sync with Jira now (pull, then push local changes); same as `devlog sync --system jira`
    Sync {
        /// Only this entry
        entry: Option<String>,
        /// Show the remote operations (with the workflow transitions) without performing them
        #[arg(long)]
        plan: bool,
    },
    /// Configuration, linked entries, queued and failed jobs, conflicts, pull position
    Status {
        /// Only this entry
        entry: Option<String>,
        /// Also check the connection, the credentials, the project, its statuses, the mapped fields and the board; fails when they do not work
        #[arg(long)]
        check: bool,
    },
}

pub async fn run(ctx: &Ctx, a: JiraArgs) -> Result<(), CliError> {
    let ws = ctx.workspace()?;
    let jira = jira(&ws)?;
    match a.command {
        JiraCommand::Sync { entry, plan } => {
            tracker::sync(ctx, devlog_jira::NAME, entry, plan).await
        }
        JiraCommand::Link { entry, issue } => {
            let c = jira.config();
            let key = devlog_jira::link::parse_issue_ref(&issue, &c.base_url, &c.project_key)
                .map_err(CliError::Usage)?;
            tracker::link(ctx, &ws, &JiraTracker(jira), &entry, &key).await
        }
        JiraCommand::Unlink { entry } => {
            tracker::unlink(ctx, &ws, &JiraTracker(jira), &entry).await
        }
        JiraCommand::Status { entry, check } => {
            tracker::status(ctx, &ws, &JiraTracker(jira), check, entry.as_deref()).await
        }
    }
}

/// The configured Jira integration, or an error saying how to configure it.
pub fn jira(ws: &Workspace) -> Result<JiraIntegration, CliError> {
    let table = tracker::table(
        ws,
        devlog_jira::NAME,
        "Jira is not configured: add [integrations.jira] with baseUrl, projectKey, email and apiToken = \"${JIRA_API_TOKEN}\" to devlog.toml (see docs/jira.md)",
    )?;
    JiraIntegration::from_table(&table).map_err(|m| tracker::config_err(ws, m))
}

/// Jira issues for the shared link/unlink/status flows.
struct JiraTracker(JiraIntegration);

#[async_trait]
impl Tracker for JiraTracker {
    fn name(&self) -> &'static str {
        devlog_jira::NAME
    }
    fn display(&self) -> &'static str {
        "Jira"
    }
    fn integration(&self) -> Arc<dyn Integration> {
        Arc::new(self.0.clone())
    }
    fn label(&self, remote_id: &str) -> String {
        remote_id.to_string()
    }
    fn item_json(&self, remote_id: &str) -> Value {
        json!(remote_id)
    }
    async fn adopt(&self, remote_id: &str, entry: EntryId) -> Result<RemoteItem, SyncError> {
        self.0.adopt_issue(remote_id, entry).await
    }
    async fn release(&self, remote_id: &str) -> Result<(), SyncError> {
        self.0.release_issue(remote_id).await
    }
    async fn conversation(&self, remote_id: &str) -> Result<Vec<RemoteAction>, SyncError> {
        self.0.comment_actions(remote_id).await
    }
    fn status_header(&self) -> (Map<String, Value>, String) {
        let c = self.0.config();
        let mut m = Map::new();
        m.insert("baseUrl".into(), json!(c.base_url));
        m.insert("projectKey".into(), json!(c.project_key));
        m.insert("boardId".into(), json!(c.board_id));
        let webhooks = if c.webhook_secret.is_some() {
            "signed"
        } else if c.webhook_token.is_some() {
            "token"
        } else {
            "off"
        };
        m.insert("webhooks".into(), json!(webhooks));
        let line = format!(
            "Jira: project {} on {}{}{}",
            c.project_key,
            c.base_url,
            c.board_id
                .map(|b| format!(", board {b}"))
                .unwrap_or_default(),
            match webhooks {
                "signed" => ", webhooks accepted (signed)",
                "token" => ", webhooks accepted (URL token)",
                _ => "",
            }
        );
        (m, line)
    }
    fn cursor_lines(&self, cursor: &Value) -> Vec<String> {
        cursor
            .get("since")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(|s| vec![format!("issues pulled up to {s}")])
            .unwrap_or_default()
    }
}
