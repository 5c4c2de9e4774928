//! `devlog edit`: change fields of an entry.

use clap::Args;
use devlog_core::entry::{EntryType, Priority, Status};
use devlog_core::ops::Edit;

use devlog_core::entry_doc::{self, DocError, EntryDoc};

use super::editor::{Editor, Outcome, Verdict, retry_on_invalid};
use super::{Ctx, text_arg};
use crate::error::CliError;
use crate::output::write_stdout;

/// Change fields of an entry; with no field flags, opens it in $VISUAL / $EDITOR
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
    /// Story points (a number ≥ 0)
    #[arg(long)]
    pub points: Option<f64>,
    /// Due date: YYYY-MM-DD, today, tomorrow, friday, +3d, +2w, next week, or none to clear
    #[arg(long)]
    pub due: Option<String>,
    /// Put it in a milestone (`none` takes it out)
    #[arg(long)]
    pub milestone: Option<String>,
    /// Accept empty standard input for `--description -` (clears the description)
    #[arg(long)]
    pub allow_empty: bool,
    /// --status done/closed even though subtasks are open
    #[arg(long, short = 'f')]
    pub force: bool,
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
        points: a.points,
        due: a.due,
        milestone: a.milestone,
    };
    let app = ctx.app().await?.allowing_open_children(a.force);
    let target = app.resolve_summary(&a.entry).await?;
    let e = if edit.is_empty() {
        match in_editor(ctx, &app, target.id).await? {
            Some(e) => e,
            None => return Ok(()),
        }
    } else {
        app.edit(target.id, edit, &ctx.meta()).await?
    };
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

/// `devlog edit REF` without field flags: the entry as a document in the editor, written
/// once when it is saved valid. Only the fields changed in the document are written, so a
/// change someone else made meanwhile to another field stays; one they made to the same
/// field is named in the document, and saving again overwrites it.
async fn in_editor(
    ctx: &Ctx,
    app: &devlog_core::Devlog,
    id: devlog_core::EntryId,
) -> Result<Option<devlog_core::Entry>, CliError> {
    let base = app.store().get(id).await?;
    let base_doc = EntryDoc::of(&base);
    let help = help_lines(&format!("{} {}", base.handle_str(), base.title));
    let mut warned: Vec<&'static str> = Vec::new();
    let outcome = Editor::from_env("nothing to change: give at least one of --title, --status, --priority, --type, --assignee, --description, ... (see devlog edit --help)")?
        .edit_until(base_doc.render(&help), &base.handle.to_string(), async |text: &str| {
            let mine = match EntryDoc::parse(text) {
                Ok(d) => d,
                Err(errors) => return Ok(Verdict::Retry(errors)),
            };
            let edit = match mine.edit_of(&base) {
                Ok(e) => e,
                Err(errors) => return Ok(Verdict::Retry(errors)),
            };
            if edit.is_empty() {
                return Ok(Verdict::Done(None));
            }
            let now = app.store().get(id).await?;
            let overlap: Vec<&'static str> =
                entry_doc::overlapping_changes(&base_doc, &mine, &EntryDoc::of(&now))
                    .into_iter()
                    .filter(|f| !warned.contains(f))
                    .collect();
            if !overlap.is_empty() {
                warned.extend(&overlap);
                return Ok(Verdict::Retry(vec![DocError::general(format!(
                    "changed by someone else while you edited: {}; save again to overwrite with yours",
                    overlap.join(", ")
                ))]));
            }
            Ok(match retry_on_invalid(app.edit(id, edit, &ctx.meta()).await)? {
                Verdict::Done(e) => Verdict::Done(Some(e)),
                Verdict::Retry(errors) => Verdict::Retry(errors),
            })
        })
        .await?;
    match outcome {
        Outcome::Done(Some(e)) => Ok(Some(e)),
        Outcome::Done(None) => {
            eprintln!("No changes.");
            Ok(None)
        }
        Outcome::Cancelled(why) => {
            eprintln!("No changes: {why}.");
            Ok(None)
        }
    }
}

/// The help below the scissors line of an entry document.
pub fn help_lines(what: &str) -> Vec<String> {
    vec![
        format!("Editing {what}. Everything from the line above down is ignored."),
        "Save and close to apply; save unchanged or empty the file to cancel.".into(),
        format!("type: {}", EntryType::allowed().join(", ")),
        format!("status: {}", Status::allowed().join(", ")),
        format!("priority: {}", Priority::allowed().join(", ")),
        "tags: [a, b]   assignee: a name or empty   hours: a number or empty".into(),
        "due: 2026-12-24, friday, tomorrow, +3d… or empty   milestone: an open milestone's name or empty".into(),
        "Sections: # Description, # Business context, # Technical context,".into(),
        "# Acceptance criteria (a list: one `- ` line per criterion).".into(),
        "Notes and decisions are added with `devlog note` and `devlog decide`.".into(),
    ]
}
