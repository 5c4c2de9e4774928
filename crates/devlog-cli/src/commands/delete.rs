//! `devlog delete`: remove an entry.

use clap::Args;

use super::Ctx;
use crate::error::CliError;
use crate::output::write_stdout;

/// Delete an entry (recorded in the change feed; the file is removed)
#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// Handle, id, id prefix, key, or original devlog id
    pub entry: String,
    /// Required: confirms the deletion
    #[arg(long)]
    pub yes: bool,
}

pub async fn run(ctx: &Ctx, a: DeleteArgs) -> Result<(), CliError> {
    let app = ctx.app().await?;
    let target = app.resolve_summary(&a.entry).await?;
    if !a.yes {
        return Err(CliError::Usage(format!(
            "this deletes #{} {:?}; add --yes to confirm (closing it with `devlog edit {} --status closed` keeps its history)",
            target.handle, target.title, target.handle
        )));
    }
    app.store().delete(target.id, &ctx.meta()).await?;
    if ctx.out.json {
        ctx.out.json(&serde_json::json!({"deleted": target}))?;
    } else {
        write_stdout(&format!("Deleted #{} {}\n", target.handle, target.title))?;
    }
    Ok(())
}
