//! `devlog note`: add a note to an entry, or edit or delete one (`--edit`, `--delete`).

use clap::Args;
use devlog_core::entry::NoteCategory;
use devlog_core::ops::NewNote;

use super::{Ctx, note_edit, text_arg};
use crate::error::CliError;
use crate::output::{count, write_stdout};

/// Add a note (progress, issue, solution, idea, reminder or feedback) to an entry; with
/// --edit NOTE_ID replace a note's text, with --delete NOTE_ID remove it (both kept in
/// `devlog log` and undoable with `devlog undo`)
#[derive(Debug, Args)]
pub struct NoteArgs {
    /// Handle, id, id prefix, key, or original devlog id
    pub entry: String,
    /// The note (`-` reads standard input); with --edit, the note's new text
    #[arg(required_unless_present = "delete")]
    pub text: Option<String>,
    /// Replace the text of this note (its id or a unique prefix, as `devlog log` shows it)
    #[arg(long, value_name = "NOTE_ID", conflicts_with = "delete")]
    pub edit: Option<String>,
    /// Remove this note (its id or a unique prefix)
    #[arg(
        long,
        value_name = "NOTE_ID",
        conflicts_with_all = ["text", "category", "file", "code_changes"]
    )]
    pub delete: Option<String>,
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
    if a.delete.is_some() || a.edit.is_some() {
        return note_edit::run(ctx, a).await;
    }
    let content = text_arg(a.text.as_deref().unwrap_or_default(), "the note", None)?;
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
