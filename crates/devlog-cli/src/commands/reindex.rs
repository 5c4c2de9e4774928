//! `devlog reindex`: rebuild the JSON backend's index from the entry files.

use clap::Args;

use super::Ctx;
use crate::error::CliError;
use crate::output::write_stdout;

/// Re-read every entry file into the index (JSON backend); reports unreadable files
#[derive(Debug, Args)]
pub struct ReindexArgs {}

pub async fn run(ctx: &Ctx, _a: ReindexArgs) -> Result<(), CliError> {
    let ws = ctx.workspace()?;
    let store = match &ws.spec {
        devlog_store::StoreSpec::Json { root } => devlog_store::JsonStore::open(root).await?,
        other => {
            return Err(CliError::Usage(format!(
                "the {} backend has no separate index to rebuild",
                other.name()
            )));
        }
    };
    let n = store.reindex().await?;
    let warnings = devlog_core::Store::warnings(&store).await?;
    if ctx.out.json {
        ctx.out
            .json(&serde_json::json!({"entries": n, "warnings": warnings}))?;
    } else {
        write_stdout(&format!(
            "Indexed {}\n",
            crate::output::count(n as usize, "entry", "entries")
        ))?;
        for w in warnings {
            eprintln!("warning: {w}");
        }
    }
    Ok(())
}
