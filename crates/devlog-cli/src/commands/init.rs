//! `devlog init`: create the `.devlog` folder.

use clap::Args;
use serde_json::json;

use super::Ctx;
use crate::error::CliError;
use crate::output::{count, write_stdout};

/// Create a .devlog folder at the root of the current git repository (or here)
///
/// With a server backend (postgres, mysql) the entries live in the database; the folder then
/// holds only machine-local state (git-ignored) and marks the workspace.
#[derive(Debug, Args)]
pub struct InitArgs {}

pub async fn run(ctx: &Ctx, _args: InitArgs) -> Result<(), CliError> {
    let ws = ctx.workspace_or_create()?;
    let existed = ws.devlog_dir.is_dir();
    // Open first: a server that cannot be reached leaves nothing behind.
    let store = ws.open().await?;
    ws.create_folder()?;
    let entries = store.count().await?;
    let place = if ws.is_server() {
        format!(
            "{} ({} backend: entries in {})",
            ws.devlog_dir.display(),
            ws.spec.name(),
            ws.spec.location().display()
        )
    } else {
        format!("{} ({} backend)", ws.devlog_dir.display(), ws.spec.name())
    };
    if ctx.out.json {
        ctx.out.json(&json!({
            "devlogDir": ws.devlog_dir,
            "backend": ws.spec.name(),
            "location": ws.spec.location(),
            "created": !existed,
            "entries": entries,
        }))?;
    } else if existed {
        write_stdout(&format!(
            "devlog already initialized in {place}, {}\n",
            count(entries as usize, "entry", "entries")
        ))?;
    } else {
        write_stdout(&format!(
            "Initialized devlog in {place}\nNext: devlog new \"<title>\" --type feature\n"
        ))?;
    }
    Ok(())
}
