//! `devlog undo`: revert an entry's last change, or every change after an event, as a new
//! change (`Devlog::undo`; history is never rewritten).

use clap::Args;
use devlog_core::history::UndoRequest;

use super::Ctx;
use super::log::change_text;
use crate::error::CliError;
use crate::output::{count, write_stdout};

/// Revert an entry's last change (or with --to every change after that event) as a new
/// change: fields and status get their old values back, added notes and decisions are
/// removed, edited and deleted notes restored. The creation of an entry and links to remote
/// items cannot be undone. `devlog log` shows the changes and their seq
#[derive(Debug, Args)]
pub struct UndoArgs {
    /// Handle, id, id prefix, key, or original devlog id
    pub entry: String,
    /// Revert every change after the change holding this event (a seq from `devlog log`)
    #[arg(long)]
    pub to: Option<u64>,
    /// Revert even if a later change by someone else touched the same field, or the entry
    /// no longer holds what a change wrote
    #[arg(long)]
    pub force: bool,
}

pub async fn run(ctx: &Ctx, a: UndoArgs) -> Result<(), CliError> {
    let app = ctx.app().await?;
    let target = app.resolve_summary(&a.entry).await?;
    let undone = app
        .undo(
            target.id,
            UndoRequest {
                to: a.to,
                force: a.force,
            },
            &ctx.meta(),
        )
        .await?;
    if ctx.out.json {
        ctx.out.json(&undone)?;
        return Ok(());
    }
    let e = &undone.entry;
    let mut text = format!(
        "Undid {} of {} {}:\n",
        count(undone.reverted.len(), "change", "changes"),
        ctx.out.bold(&e.handle_str()),
        e.title
    );
    for c in &undone.reverted {
        text.push_str(&change_text(&ctx.out, c));
    }
    text.push_str(&ctx.out.dim(&format!(
        "the undo is a change of its own: `devlog undo {}` again redoes it\n",
        e.handle
    )));
    write_stdout(&text)?;
    Ok(())
}
