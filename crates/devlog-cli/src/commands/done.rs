//! `devlog done`: complete an entry.

use clap::Args;
use devlog_core::entry::Status;

use super::Ctx;
use crate::error::CliError;
use crate::output::write_stdout;

/// Mark an entry done, optionally with a completion summary
#[derive(Debug, Args)]
pub struct DoneArgs {
    /// Handle, id, id prefix, key, or original devlog id
    pub entry: String,
    /// What was delivered (added as a note)
    #[arg(long)]
    pub summary: Option<String>,
    /// Finish it even though subtasks are open
    #[arg(long, short = 'f')]
    pub force: bool,
}

pub async fn run(ctx: &Ctx, a: DoneArgs) -> Result<(), CliError> {
    let app = ctx.app().await?.allowing_open_children(a.force);
    let target = app.resolve_summary(&a.entry).await?;
    let summary = a.summary.filter(|s| !s.trim().is_empty());
    let already = target.status == Status::Done;
    let with_note = summary.is_some();
    // Done already and nothing to add: nothing is written.
    let e = if already && summary.is_none() {
        app.store().get(target.id).await?
    } else {
        app.complete(target.id, summary, &ctx.meta()).await?
    };
    if ctx.out.json {
        ctx.out.json(&e)?;
    } else if already {
        let since = e
            .closed_at
            .map(|t| format!(" (since {t})"))
            .unwrap_or_default();
        write_stdout(&format!(
            "{} {} was already done{since}{}\n",
            ctx.out.bold(&e.handle_str()),
            e.title,
            if with_note {
                "; added the summary note"
            } else {
                ""
            }
        ))?;
    } else {
        write_stdout(&format!(
            "Completed {} {}\n",
            ctx.out.bold(&e.handle_str()),
            e.title
        ))?;
    }
    Ok(())
}
