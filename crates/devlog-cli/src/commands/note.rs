//! `devlog note`: add a note to an entry.

use clap::Args;
use devlog_core::entry::NoteCategory;
use devlog_core::ops::NewNote;

use super::{Ctx, text_arg};
use crate::error::CliError;
use crate::output::{count, write_stdout};

/// Add a note (progress, issue, solution, idea, reminder or feedback) to an entry
#[derive(Debug, Args)]
pub struct NoteArgs {
    /// Handle, id, id prefix, key, or original devlog id
    pub entry: String,
    /// The note (`-` reads standard input)
    pub text: String,
    /// progress, issue, solution, idea, reminder or feedback
    #[arg(long, short = 'c', default_value = "progress")]
    pub category: NoteCategory,
    /// A file the note is about (repeatable)
    #[arg(long, short = 'f')]
    pub file: Vec<String>,
    /// A summary of code changes
    #[arg(long)]
    pub code_changes: Option<String>,
}

pub async fn run(ctx: &Ctx, a: NoteArgs) -> Result<(), CliError> {
    let content = text_arg(&a.text, "the note", None)?;
    let app = ctx.app().await?;
    let target = app.resolve_summary(&a.entry).await?;
    let (e, note) = app
        .add_note(
            target.id,
            NewNote {
                content,
                category: a.category,
                files: a.file,
                code_changes: a.code_changes,
            },
            &ctx.meta(),
        )
        .await?;
    if ctx.out.json {
        ctx.out.json(&e)?;
    } else {
        write_stdout(&format!(
            "Added {} note to {} {} ({})\n",
            note.category,
            ctx.out.bold(&e.handle_str()),
            e.title,
            count(e.notes.len(), "note", "notes")
        ))?;
    }
    Ok(())
}
