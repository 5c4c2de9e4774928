//! Planning tools (issue 16): time spent (`log_time`) and milestones (`create_milestone`,
//! `list_milestones`, `close_milestone`), thin callers of `devlog_core::planning`. Due dates
//! and milestones of entries are arguments of create_devlog, update_devlog and list_devlogs.

use devlog_core::planning::{
    MilestoneProgress, MilestoneState, NewMilestone, NewWorklog, Worklog, WorklogEdit,
    format_minutes, logged_minutes,
};
use devlog_core::{Entry, history::short};
use rmcp::model::CallToolResult;
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

use crate::args::{Args, IdArg, input_schema};
use crate::error::Failure;
use crate::server::DevlogMcp;
use crate::tools::{Reply, finish};

const LOG_TIME: &str = "Record time spent on a devlog entry (a worklog): how long (duration such as \"1h30m\", \"90m\" or \"1.5h\", at most 24h per worklog), on which day (default today; \"yesterday\", \"-3d\" or YYYY-MM-DD, never in the future) and an optional note. The entry's actualHours becomes the sum of its worklogs. Answers the worklog and the entry's total.";
const LOG_WORK: &str = "log_time under the name Jira users know (\"log work\"): record time spent on a devlog entry as a worklog (duration such as \"1h30m\", \"90m\" or \"1.5h\", at most 24h; day default today, \"yesterday\", \"-3d\" or YYYY-MM-DD; optional note). Same arguments and answer as log_time; with Jira configured the next sync logs it on the linked issue exactly once.";
const EDIT_WORKLOG: &str = "Change a worklog of a devlog entry: its duration, day or note (give at least one). The worklog is named by its id or a unique prefix, as get_devlog lists worklogs. The entry's actualHours follows. undo_change reverts it.";
const DELETE_WORKLOG: &str = "Remove a worklog of a devlog entry (by its id or a unique prefix, as get_devlog lists worklogs). The entry's actualHours becomes the sum of the worklogs left. undo_change restores it.";
const CREATE_MILESTONE: &str = "Create a milestone: a named target (a release, a sprint) that devlog entries are grouped under, with an optional due date and description. Put entries in it with create_devlog or update_devlog (milestone argument). Names are compared by their letters and digits, so \"v1.0\" and \"V1-0\" are the same milestone.";
const LIST_MILESTONES: &str = "List milestones with their progress: entries done of total, open entries past their due date (overdue), and whether the milestone itself is late. Open milestones only unless includeClosed is true; soonest due first. To see a milestone's entries call list_devlogs with its milestone.";
const CLOSE_MILESTONE: &str = "Close a milestone (its entries keep it, but no entry can join it until it is reopened), or reopen a closed one with reopen: true.";

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LogTimeArgs {
    /// The entry: a handle (42 or "#42"), the original devlog's integer id after import, a full
    /// id, an id prefix (4+ hex digits) or a key slug.
    pub id: IdArg,
    /// How long: "1h30m", "90m", "1.5h" or "2h" (at most 24h).
    pub duration: String,
    /// The day the time was spent: YYYY-MM-DD, "today", "yesterday" or "-3d" (default today,
    /// UTC). Never in the future.
    #[serde(default)]
    pub date: Option<String>,
    /// What the time went into.
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EditWorklogArgs {
    /// The entry: a handle (42 or "#42"), the original devlog's integer id after import, a full
    /// id, an id prefix (4+ hex digits) or a key slug.
    pub id: IdArg,
    /// The worklog's id, or a unique prefix of it.
    pub worklog_id: String,
    /// The new duration: "1h30m", "90m", "1.5h" or "2h" (at most 24h).
    #[serde(default)]
    pub duration: Option<String>,
    /// The new day: YYYY-MM-DD, "today", "yesterday" or "-3d". Never in the future.
    #[serde(default)]
    pub date: Option<String>,
    /// The new note.
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeleteWorklogArgs {
    /// The entry: a handle (42 or "#42"), the original devlog's integer id after import, a full
    /// id, an id prefix (4+ hex digits) or a key slug.
    pub id: IdArg,
    /// The worklog's id, or a unique prefix of it.
    pub worklog_id: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateMilestoneArgs {
    /// The milestone's name, e.g. "v1.0" or "Sprint 12".
    pub name: String,
    /// When it is due: YYYY-MM-DD, "today", "tomorrow", a weekday ("friday": the next one),
    /// "+3d", "+2w" or "next week".
    #[serde(default)]
    pub due_date: Option<String>,
    /// What the milestone is for.
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListMilestonesArgs {
    /// Include closed milestones (default false).
    #[serde(default)]
    pub include_closed: Option<bool>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CloseMilestoneArgs {
    /// The milestone's name.
    pub name: String,
    /// Reopen a closed milestone instead of closing it (default false).
    #[serde(default)]
    pub reopen: Option<bool>,
}

type Outcome = Result<Reply, Failure>;

/// The answer to a worklog change: what changed, and the entry's total.
fn worklog_reply(verb: &str, e: &Entry, log: &Worklog) -> Reply {
    let total = logged_minutes(e);
    Reply::new(
        format!(
            "{verb} worklog {} ({} for {}) of #{} {}; {} logged in all ({} worklogs), actual \
             hours {}. undo_change reverts it.",
            short(&log.id),
            format_minutes(log.minutes.into()),
            log.date,
            e.handle,
            e.title,
            format_minutes(total),
            e.worklogs.len(),
            e.actual_hours
                .map_or_else(|| "none".to_string(), |h| h.to_string())
        ),
        json!({ "worklog": log, "totalMinutes": total, "entry": e.summary(),
                "actualHours": e.actual_hours, "estimatedHours": e.estimated_hours }),
    )
}

/// `v1.0 [open] 3/5 done, 1 overdue, due 2026-12-24 (late)`.
fn milestone_line(p: &MilestoneProgress) -> String {
    let m = &p.milestone;
    let mut s = format!("{} [{}] {}/{} done", m.name, m.state, p.done, p.total);
    if p.overdue > 0 {
        s.push_str(&format!(", {} overdue", p.overdue));
    }
    if let Some(d) = m.due_date {
        s.push_str(&format!(", due {d}"));
        if p.late {
            s.push_str(" (late)");
        }
    }
    s
}

#[tool_router(router = planning_router, vis = "pub(crate)")]
impl DevlogMcp {
    #[tool(
        name = "log_time",
        description = LOG_TIME,
        input_schema = input_schema::<LogTimeArgs>(),
        annotations(read_only_hint = false, destructive_hint = false)
    )]
    async fn log_time(&self, Args(a): Args<LogTimeArgs>) -> CallToolResult {
        finish(self.run_log_time(a).await)
    }

    #[tool(
        name = "log_work",
        description = LOG_WORK,
        input_schema = input_schema::<LogTimeArgs>(),
        annotations(read_only_hint = false, destructive_hint = false)
    )]
    async fn log_work(&self, Args(a): Args<LogTimeArgs>) -> CallToolResult {
        finish(self.run_log_time(a).await)
    }

    #[tool(
        name = "edit_worklog",
        description = EDIT_WORKLOG,
        input_schema = input_schema::<EditWorklogArgs>(),
        annotations(read_only_hint = false, destructive_hint = false)
    )]
    async fn edit_worklog(&self, Args(a): Args<EditWorklogArgs>) -> CallToolResult {
        finish(self.run_edit_worklog(a).await)
    }

    #[tool(
        name = "delete_worklog",
        description = DELETE_WORKLOG,
        input_schema = input_schema::<DeleteWorklogArgs>(),
        annotations(read_only_hint = false, destructive_hint = true)
    )]
    async fn delete_worklog(&self, Args(a): Args<DeleteWorklogArgs>) -> CallToolResult {
        finish(self.run_delete_worklog(a).await)
    }

    #[tool(
        name = "create_milestone",
        description = CREATE_MILESTONE,
        input_schema = input_schema::<CreateMilestoneArgs>(),
        annotations(read_only_hint = false, destructive_hint = false)
    )]
    async fn create_milestone(&self, Args(a): Args<CreateMilestoneArgs>) -> CallToolResult {
        finish(self.run_create_milestone(a).await)
    }

    #[tool(
        name = "list_milestones",
        description = LIST_MILESTONES,
        input_schema = input_schema::<ListMilestonesArgs>(),
        annotations(read_only_hint = true)
    )]
    async fn list_milestones(&self, Args(a): Args<ListMilestonesArgs>) -> CallToolResult {
        finish(self.run_list_milestones(a).await)
    }

    #[tool(
        name = "close_milestone",
        description = CLOSE_MILESTONE,
        input_schema = input_schema::<CloseMilestoneArgs>(),
        annotations(read_only_hint = false, destructive_hint = false, idempotent_hint = true)
    )]
    async fn close_milestone(&self, Args(a): Args<CloseMilestoneArgs>) -> CallToolResult {
        finish(self.run_close_milestone(a).await)
    }
}

impl DevlogMcp {
    async fn run_log_time(&self, a: LogTimeArgs) -> Outcome {
        let s = self.app().resolve_summary(&a.id.reference()).await?;
        let (e, log) = self
            .app()
            .log_time(
                s.id,
                NewWorklog {
                    duration: a.duration,
                    date: a.date,
                    note: a.note.unwrap_or_default(),
                    author: None,
                },
                &self.meta(),
            )
            .await?;
        let total = logged_minutes(&e);
        Ok(Reply::new(
            format!(
                "Logged {} on #{} {} for {}; {} logged in all ({} worklogs), actual hours {}.",
                format_minutes(log.minutes.into()),
                e.handle,
                e.title,
                log.date,
                format_minutes(total),
                e.worklogs.len(),
                e.actual_hours.unwrap_or_default()
            ),
            json!({ "worklog": log, "totalMinutes": total, "entry": e.summary(),
                    "actualHours": e.actual_hours, "estimatedHours": e.estimated_hours }),
        ))
    }

    async fn run_edit_worklog(&self, a: EditWorklogArgs) -> Outcome {
        let s = self.app().resolve_summary(&a.id.reference()).await?;
        let edit = WorklogEdit {
            duration: a.duration,
            date: a.date,
            note: a.note,
        };
        let (e, log) = self
            .app()
            .edit_worklog(s.id, &a.worklog_id, edit, &self.meta())
            .await?;
        Ok(worklog_reply("Changed", &e, &log))
    }

    async fn run_delete_worklog(&self, a: DeleteWorklogArgs) -> Outcome {
        let s = self.app().resolve_summary(&a.id.reference()).await?;
        let (e, log) = self
            .app()
            .delete_worklog(s.id, &a.worklog_id, &self.meta())
            .await?;
        Ok(worklog_reply("Removed", &e, &log))
    }

    async fn run_create_milestone(&self, a: CreateMilestoneArgs) -> Outcome {
        let m = self
            .app()
            .create_milestone(NewMilestone {
                name: a.name,
                description: a.description.unwrap_or_default(),
                due: a.due_date,
            })
            .await?;
        Ok(Reply::new(
            format!(
                "Created milestone {}{}.",
                m.name,
                m.due_date.map(|d| format!(", due {d}")).unwrap_or_default()
            ),
            json!({ "milestone": m }),
        ))
    }

    async fn run_list_milestones(&self, a: ListMilestonesArgs) -> Outcome {
        let all = self
            .app()
            .list_milestones(a.include_closed.unwrap_or(false))
            .await?;
        let text = if all.is_empty() {
            "No milestones found (create one with create_milestone).".to_string()
        } else {
            let lines: Vec<String> = all.iter().map(milestone_line).collect();
            format!("{} milestones:\n\n{}", all.len(), lines.join("\n"))
        };
        Ok(Reply::new(text, json!({ "milestones": all })))
    }

    async fn run_close_milestone(&self, a: CloseMilestoneArgs) -> Outcome {
        let state = if a.reopen.unwrap_or(false) {
            MilestoneState::Open
        } else {
            MilestoneState::Closed
        };
        let m = self.app().set_milestone_state(&a.name, state).await?;
        Ok(Reply::new(
            format!("Milestone {} is {}.", m.name, m.state),
            json!({ "milestone": m }),
        ))
    }
}
