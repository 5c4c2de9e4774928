//! `devlog done`: complete an entry.

use clap::Args;

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
}

pub async fn run(ctx: &Ctx, a: DoneArgs) -> Result<(), CliError> {
    let app = ctx.app().await?;
    let target = app.resolve_summary(&a.entry).await?;
    let e = app.complete(target.id, a.summary, &ctx.meta()).await?;
    if ctx.out.json {
        ctx.out.json(&e)?;
    } else {
        write_stdout(&format!(
            "Completed {} {}\n",
            ctx.out.bold(&e.handle_str()),
            e.title
        ))?;
    }
    Ok(())
}
