//! `devlog new`: create an entry.

use clap::Args;
use devlog_core::entry::{EntryType, Priority, Status};
use devlog_core::ops::NewEntry;
use devlog_core::{Created, Devlog};

use devlog_core::entry_doc::EntryDoc;

use super::editor::{Editor, Outcome, Verdict, retry_on_invalid};
use super::{Ctx, edit, text_arg};
use crate::error::CliError;
use crate::output::write_stdout;

/// Create an entry (returns the open entry with the same title and type instead, unless --force)
#[derive(Debug, Args)]
pub struct NewArgs {
    /// One-line title (with --edit, may be given in the editor instead)
    #[arg(required_unless_present = "edit")]
    pub title: Option<String>,
    /// feature, bugfix, task, refactor or docs
    #[arg(long = "type", short = 't', default_value = "task")]
    pub kind: EntryType,
    /// low, medium, high or critical
    #[arg(long, short = 'p', default_value = "medium")]
    pub priority: Priority,
    /// Initial status
    #[arg(long, short = 's')]
    pub status: Option<Status>,
    /// What the work is (`-` reads standard input)
    #[arg(long, short = 'd', default_value = "")]
    pub description: String,
    /// Why it matters
    #[arg(long, default_value = "")]
    pub business: String,
    /// How it is approached
    #[arg(long, default_value = "")]
    pub technical: String,
    /// An acceptance criterion (repeatable)
    #[arg(long = "criteria", short = 'c')]
    pub criteria: Vec<String>,
    /// A tag (repeatable)
    #[arg(long)]
    pub tag: Vec<String>,
    /// Who works on it
    #[arg(long, short = 'a')]
    pub assignee: Option<String>,
    /// Estimated work: hours (4, 2.5) or a duration (4h, 1h30m)
    #[arg(long)]
    pub estimate: Option<String>,
    /// Story points (a number ≥ 0; synced with Azure DevOps' story points / effort / size)
    #[arg(long)]
    pub points: Option<f64>,
    /// Due date: YYYY-MM-DD, today, tomorrow, friday, +3d, +2w or next week
    #[arg(long)]
    pub due: Option<String>,
    /// The milestone it belongs to (`devlog milestone list`)
    #[arg(long)]
    pub milestone: Option<String>,
    /// Create even if an open entry with the same title and type exists
    #[arg(long, short = 'f')]
    pub force: bool,
    /// Accept empty standard input for `--description -`
    #[arg(long)]
    pub allow_empty: bool,
    /// Write the entry in $VISUAL / $EDITOR (starting from the values given as flags)
    #[arg(long, short = 'e')]
    pub edit: bool,
    /// Make it a subtask of this entry (handle, id, key, ...)
    #[arg(long, value_name = "ENTRY")]
    pub parent: Option<String>,
}

pub async fn run(ctx: &Ctx, a: NewArgs) -> Result<(), CliError> {
    // Read standard input first: an empty pipe is refused before anything is created.
    let description = text_arg(&a.description, "the description", Some(a.allow_empty))?;
    let ws = ctx.workspace_or_create()?;
    let app = Devlog::new(ws.open().await?);
    // Checked by devlog-core once the store is open, like every other field.
    let estimated_hours = super::hours_arg("estimatedHours", a.estimate.as_deref())?;
    let input = NewEntry {
        title: a.title.unwrap_or_default(),
        kind: Some(a.kind),
        description,
        priority: Some(a.priority),
        status: a.status,
        business_context: a.business,
        technical_context: a.technical,
        acceptance_criteria: a.criteria,
        tags: a.tag,
        assignee: a.assignee,
        estimated_hours,
        points: a.points,
        due: a.due,
        milestone: a.milestone,
        force: a.force,
        parent: a.parent,
        ..NewEntry::default()
    };
    let created = if a.edit {
        let doc = EntryDoc::for_new(&input).render(&edit::help_lines("a new entry"));
        let outcome = Editor::from_env("give the title (devlog new \"<title>\")")?
            .edit_until(doc, "new", async |text: &str| {
                let doc = match EntryDoc::parse(text) {
                    Ok(d) => d,
                    Err(errors) => return Ok(Verdict::Retry(errors)),
                };
                retry_on_invalid(app.create(doc.into_new(input.clone()), &ctx.meta()).await)
            })
            .await?;
        match outcome {
            Outcome::Done(c) => c,
            Outcome::Cancelled(why) => {
                eprintln!("Nothing created: {why}.");
                return Ok(());
            }
        }
    } else {
        app.create(input, &ctx.meta()).await?
    };
    let e = created.entry();
    if ctx.out.json {
        ctx.out.json(e)?;
        if let Created::Existing(_) = created {
            eprintln!(
                "note: an open entry with this title and type exists; returned it (use --force to create another)"
            );
        }
        return Ok(());
    }
    match created {
        Created::New(_) => write_stdout(&format!(
            "Created {} {} ({})\n",
            ctx.out.bold(&e.handle_str()),
            e.title,
            e.id.short()
        ))?,
        Created::Existing(_) => write_stdout(&format!(
            "Exists  {} {} [{}] — an open {} with this title; use --force to create another\n",
            ctx.out.bold(&e.handle_str()),
            e.title,
            e.status,
            e.kind
        ))?,
    }
    Ok(())
}
