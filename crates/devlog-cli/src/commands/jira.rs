//! `devlog jira`: link entries to existing issues, unlink, sync, status. Settings in
//! `[integrations.jira]` (docs/jira.md). The flows are `devlog github`'s ([`super::tracker`]).

use std::sync::Arc;

use async_trait::async_trait;
use clap::{Args, Subcommand};
use devlog_core::EntryId;
use devlog_core::integration::{Integration, RemoteAction, RemoteItem, SyncError};
use devlog_jira::JiraIntegration;
use devlog_jira::agile::{SprintChoice, SprintState};
use serde_json::{Map, Value, json};

use super::Ctx;
use super::audit::Effect;
use super::tracker::{self, Tracker};
use crate::error::CliError;
use crate::workspace::Workspace;
use devlog_core::audit::RemoteEffect;

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
    /// The board's sprints (`boardId`) with their dates and how many issues are done
    Sprints {
        /// Closed sprints too (by default the active and future ones)
        #[arg(long)]
        all: bool,
    },
    /// Put the issues of linked entries into a sprint
    Sprint {
        #[command(subcommand)]
        command: SprintCommand,
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

#[derive(Debug, Subcommand)]
pub enum SprintCommand {
    /// Move the issues of entries into a sprint: `devlog jira sprint add 12 14 --sprint next`
    Add {
        /// Handles, ids, id prefixes or keys of entries linked to issues
        #[arg(required = true)]
        entries: Vec<String>,
        /// The sprint: its name or id, `active` (the board's one active sprint) or `next` (the
        /// first future sprint)
        #[arg(long, default_value = "active")]
        sprint: String,
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
        JiraCommand::Sprints { all } => sprints(ctx, &jira, all).await,
        JiraCommand::Sprint {
            command: SprintCommand::Add { entries, sprint },
        } => sprint_add(ctx, &ws, jira, &entries, &sprint).await,
        JiraCommand::Status { entry, check } => {
            tracker::status(ctx, &ws, &JiraTracker(jira), check, entry.as_deref()).await
        }
    }
}

/// `devlog jira sprints`: the board's sprints, with dates and done/total.
async fn sprints(ctx: &Ctx, jira: &JiraIntegration, all: bool) -> Result<(), CliError> {
    let mut rows = Vec::new();
    for s in jira.sprints().await.map_err(tracker::remote_err)? {
        if all || s.state != SprintState::Closed {
            rows.push(jira.sprint_progress(s).await.map_err(tracker::remote_err)?);
        }
    }
    tracker::print(ctx, &json!({ "sprints": rows }), || {
        if rows.is_empty() {
            return format!(
                "No {}sprints on board {}{}\n",
                if all { "" } else { "open " },
                jira.config().board_id.unwrap_or_default(),
                if all {
                    ""
                } else {
                    " (--all shows closed ones)"
                }
            );
        }
        let day = |d: &Option<chrono::DateTime<chrono::FixedOffset>>| {
            d.map(|d| d.format("%Y-%m-%d").to_string())
                .unwrap_or_else(|| "—".into())
        };
        let mut out = String::new();
        for p in &rows {
            let s = &p.sprint;
            out.push_str(&format!(
                "{:<24} {:<7} {} → {}  {}/{} done{}\n",
                s.name,
                s.state.to_string(),
                day(&s.start_date),
                day(&s.end_date),
                p.done,
                p.total,
                s.goal
                    .as_deref()
                    .filter(|g| !g.is_empty())
                    .map(|g| format!("  {g}"))
                    .unwrap_or_default()
            ));
        }
        out
    })
}

/// `devlog jira sprint add REF… --sprint S`: the linked issues of the entries into a sprint.
async fn sprint_add(
    ctx: &Ctx,
    ws: &Workspace,
    jira: JiraIntegration,
    entries: &[String],
    sprint: &str,
) -> Result<(), CliError> {
    let engine = tracker::engine(ws, Arc::new(jira.clone())).await?;
    let tracker = JiraTracker(jira.clone());
    let (keys, linked) = tracker::linked_items(ctx, &engine, &tracker, entries, "KEY").await?;
    let handles: Vec<u64> = linked.iter().map(|e| e.1).collect();
    let target = jira
        .choose_sprint(&SprintChoice::parse(sprint))
        .await
        .map_err(tracker::remote_err)?;
    // Where each issue is before the move: one already in the sprint is not changed (and
    // not recorded again when the command is retried).
    let mut before = Vec::new();
    for key in &keys {
        let s = jira.issue_sprint(key).await.map_err(tracker::remote_err)?;
        before.push(s.map(|s| s.id));
    }
    jira.move_to_sprint(&target, &keys)
        .await
        .map_err(tracker::remote_err)?;
    let at = chrono::Utc::now().timestamp_millis();
    let effects = keys
        .iter()
        .zip(&linked)
        .zip(&before)
        .filter(|(_, from)| **from != Some(target.id))
        .map(|((key, entry), from)| {
            let from = from.map(|f| f.to_string()).unwrap_or_else(|| "none".into());
            Effect::new(
                devlog_jira::NAME,
                RemoteEffect::SprintChanged,
                key.as_str(),
                format!(
                    "{}/sprint-changed/{key}/{from}-to-{}/{at}",
                    devlog_jira::NAME,
                    target.id
                ),
            )
            .for_entry(entry.0, entry.1)
            .item(format!("sprint {}", target.id))
        })
        .collect();
    super::audit::record_effects(ctx, effects).await;
    let out = json!({"sprint": target, "entries": handles, "issues": keys});
    tracker::print(ctx, &out, || {
        let refs: Vec<String> = handles
            .iter()
            .zip(&keys)
            .map(|(h, k)| format!("#{h} ({k})"))
            .collect();
        format!(
            "Moved {} into sprint {} ({})\n",
            refs.join(", "),
            target.name,
            target.state
        )
    })
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
    async fn details(
        &self,
        remote_id: &str,
    ) -> Result<(Map<String, Value>, Vec<String>), SyncError> {
        let mut m = Map::new();
        let mut lines = Vec::new();
        // Sprints live on a board: without `boardId` there is nothing to ask.
        if self.0.config().board_id.is_some() {
            let sprint = self.0.issue_sprint(remote_id).await?;
            lines.push(match &sprint {
                Some(s) => format!("{remote_id} is in sprint {} ({})", s.name, s.state),
                None => format!("{remote_id} is in no sprint (backlog)"),
            });
            m.insert("sprint".into(), json!(sprint));
        }
        Ok((m, lines))
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
