//! `devlog edit`: change fields of an entry.

use clap::Args;
use devlog_core::entry::{EntryType, Priority, Status};
use devlog_core::ops::Edit;

use super::{Ctx, text_arg};
use crate::error::CliError;
use crate::output::write_stdout;

/// Change fields of an entry
#[derive(Debug, Args)]
pub struct EditArgs {
    /// Handle, id, id prefix, key, or original devlog id
    pub entry: String,
    #[arg(long)]
    pub title: Option<String>,
    #[arg(long, short = 's')]
    pub status: Option<Status>,
    #[arg(long, short = 'p')]
    pub priority: Option<Priority>,
    #[arg(long = "type", short = 't')]
    pub kind: Option<EntryType>,
    /// Assign to someone ("" to unassign)
    #[arg(long, short = 'a')]
    pub assignee: Option<String>,
    /// New description (`-` reads standard input)
    #[arg(long, short = 'd')]
    pub description: Option<String>,
    #[arg(long)]
    pub business: Option<String>,
    #[arg(long)]
    pub technical: Option<String>,
    /// Add an acceptance criterion (repeatable)
    #[arg(long = "criteria", short = 'c')]
    pub criteria: Vec<String>,
    /// Add a tag (repeatable)
    #[arg(long)]
    pub tag: Vec<String>,
    /// Remove a tag (repeatable)
    #[arg(long)]
    pub untag: Vec<String>,
    /// Add a related file (repeatable)
    #[arg(long)]
    pub file: Vec<String>,
    /// Estimated work: hours (4, 2.5) or a duration (4h, 1h30m)
    #[arg(long)]
    pub estimate: Option<String>,
    /// Actual time spent, same forms (refused once the entry has worklogs: `devlog log-time`)
    #[arg(long)]
    pub actual: Option<String>,
    /// Due date: YYYY-MM-DD, today, tomorrow, friday, +3d, +2w, next week, or none to clear
    #[arg(long)]
    pub due: Option<String>,
    /// Put it in a milestone (`none` takes it out)
    #[arg(long)]
    pub milestone: Option<String>,
    /// Accept empty standard input for `--description -` (clears the description)
    #[arg(long)]
    pub allow_empty: bool,
}

pub async fn run(ctx: &Ctx, a: EditArgs) -> Result<(), CliError> {
    let edit = Edit {
        title: a.title,
        kind: a.kind,
        status: a.status,
        priority: a.priority,
        description: a
            .description
            .as_deref()
            .map(|d| text_arg(d, "the description", Some(a.allow_empty)))
            .transpose()?,
        assignee: a.assignee,
        business_context: a.business,
        technical_context: a.technical,
        acceptance_criteria: None,
        add_criteria: a.criteria,
        add_tags: a.tag,
        remove_tags: a.untag,
        add_files: a.file,
        estimated_hours: super::hours_arg("estimatedHours", a.estimate.as_deref())?,
        actual_hours: super::hours_arg("actualHours", a.actual.as_deref())?,
        due: a.due,
        milestone: a.milestone,
    };
    if edit.is_empty() {
        return Err(CliError::Usage(
            "nothing to change: give at least one of --title, --status, --priority, --type, --assignee, --description, --due, --milestone, ... (see devlog edit --help)".into(),
        ));
    }
    let app = ctx.app().await?;
    let target = app.resolve_summary(&a.entry).await?;
    let e = app.edit(target.id, edit, &ctx.meta()).await?;
    if ctx.out.json {
        ctx.out.json(&e)?;
    } else {
        write_stdout(&format!(
            "Updated {} {} [{}]\n",
            ctx.out.bold(&e.handle_str()),
            e.title,
            ctx.out.status(e.status)
        ))?;
    }
    Ok(())
}
