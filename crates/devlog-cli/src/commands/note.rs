//! `devlog note`: add a note to an entry, or edit or delete one (`--edit`, `--delete`).

use clap::Args;
use devlog_core::entry::NoteCategory;
use devlog_core::ops::NewNote;

use devlog_core::entry_doc;

use super::editor::{Editor, Outcome, retry_on_invalid};
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
    /// The note (`-` reads standard input; none opens $VISUAL / $EDITOR); with --edit, the
    /// note's new text
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
    let text = a
        .text
        .as_deref()
        .map(|t| text_arg(t, "the note", None))
        .transpose()?;
    let app = ctx.app().await?;
    let target = app.resolve_summary(&a.entry).await?;
    let note = |content: String| NewNote {
        content,
        category: a.category,
        files: a.file.clone(),
        code_changes: a.code_changes.clone(),
    };
    let (e, note) = match text {
        Some(content) => app.add_note(target.id, note(content), &ctx.meta()).await?,
        None => {
            let help = [
                format!(
                    "A note ({}) for #{} {}. Write it above the line above (Markdown);",
                    a.category, target.handle, target.title
                ),
                "everything from that line down is ignored. An empty note adds nothing.".into(),
                "Another category: --category progress|issue|solution|idea|reminder|feedback."
                    .into(),
            ];
            let doc = format!(
                "\n{}\n{}",
                entry_doc::SCISSORS,
                help.iter().map(|h| format!("# {h}\n")).collect::<String>()
            );
            let outcome = Editor::from_env(
                "give the note's text (devlog note REF \"<text>\", or - to read standard input)",
            )?
            .edit_until(doc, "note", async |text: &str| {
                let content = entry_doc::above_scissors(text);
                retry_on_invalid(app.add_note(target.id, note(content), &ctx.meta()).await)
            })
            .await?;
            match outcome {
                Outcome::Done(v) => v,
                Outcome::Cancelled(_) => {
                    return Err(CliError::Usage(
                        "the note is empty; nothing was added".into(),
                    ));
                }
            }
        }
    };
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
