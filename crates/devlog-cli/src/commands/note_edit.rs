//! `devlog note REF --edit NOTE_ID TEXT` and `devlog note REF --delete NOTE_ID`
//! (`Devlog::edit_note`, `Devlog::delete_note`).

use devlog_core::history::short;

use super::note::NoteArgs;
use super::{Ctx, text_arg};
use crate::error::CliError;
use crate::output::write_stdout;

pub async fn run(ctx: &Ctx, a: NoteArgs) -> Result<(), CliError> {
    if a.edit.is_some()
        && (a.category != devlog_core::NoteCategory::Progress
            || !a.file.is_empty()
            || a.code_changes.is_some())
    {
        return Err(CliError::Usage(
            "--edit replaces only a note's text; --category, --file and --code-changes \
             cannot be changed this way"
                .into(),
        ));
    }
    let app = ctx.app().await?;
    let target = app.resolve_summary(&a.entry).await?;
    let (entry, note, verb) = match (&a.edit, &a.delete) {
        (Some(id), _) => {
            let text = text_arg(a.text.as_deref().unwrap_or_default(), "the note", None)?;
            let (e, n) = app.edit_note(target.id, id, text, &ctx.meta()).await?;
            (e, n, "Edited")
        }
        (None, Some(id)) => {
            let (e, n) = app.delete_note(target.id, id, &ctx.meta()).await?;
            (e, n, "Deleted")
        }
        (None, None) => {
            return Err(CliError::Usage(
                "give --edit NOTE_ID or --delete NOTE_ID".into(),
            ));
        }
    };
    if ctx.out.json {
        ctx.out
            .json(&serde_json::json!({ "entry": entry, "note": note }))?;
    } else {
        write_stdout(&format!(
            "{verb} note {} of {} {} (`devlog undo {}` reverts it)\n",
            short(&note.id),
            ctx.out.bold(&entry.handle_str()),
            entry.title,
            entry.handle
        ))?;
    }
    Ok(())
}
