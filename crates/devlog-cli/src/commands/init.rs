//! `devlog init`: create the `.devlog` folder.

use clap::Args;
use serde_json::json;

use super::Ctx;
use crate::error::CliError;
use crate::output::write_stdout;

/// Create a .devlog folder at the root of the current git repository (or here)
#[derive(Debug, Args)]
pub struct InitArgs {}

pub async fn run(ctx: &Ctx, _args: InitArgs) -> Result<(), CliError> {
    let existed = ctx.discovery.find().is_some_and(|d| d.is_dir());
    let ws = ctx.workspace_or_create()?;
    let store = ws.open().await?;
    let count = store.count().await?;
    if ctx.out.json {
        ctx.out.json(&json!({
            "devlogDir": ws.devlog_dir,
            "backend": ws.spec.name(),
            "location": ws.spec.location(),
            "created": !existed,
            "entries": count,
        }))?;
    } else if existed {
        write_stdout(&format!(
            "devlog already initialized in {} ({} backend, {count} entries)\n",
            ws.devlog_dir.display(),
            ws.spec.name()
        ))?;
    } else {
        write_stdout(&format!(
            "Initialized devlog in {} ({} backend)\nNext: devlog new \"<title>\" --type feature\n",
            ws.devlog_dir.display(),
            ws.spec.name()
        ))?;
    }
    Ok(())
}
