//! `devlog import`: bring in a `.devlog` folder (the original TypeScript devlog's or ours).

use std::path::PathBuf;

use clap::Args;
use devlog_store::transfer::import_folder;

use super::Ctx;
use crate::error::CliError;
use crate::output::write_stdout;
use crate::progress::Bar;

/// Import entries from a .devlog folder of the original devlog (or another devlog)
///
/// Every field is kept, including unknown ones. Original integer ids become `legacyId` and,
/// where free, the handle, so `devlog show 49` keeps working. Importing again changes nothing.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// A .devlog folder, the folder containing it, or its entries folder
    pub path: PathBuf,
    /// Read and check every file, write nothing
    #[arg(long)]
    pub dry_run: bool,
}

pub async fn run(ctx: &Ctx, a: ImportArgs) -> Result<(), CliError> {
    let ws = ctx.workspace_or_create()?;
    let store = ws.open().await?;
    let bar = Bar::new("importing", ctx.out.json);
    let outcome = import_folder(&*store, &a.path, a.dry_run, &|done, total| {
        bar.set(done, total)
    })
    .await?;
    bar.finish();
    if ctx.out.json {
        ctx.out.json(&outcome)?;
    } else {
        let verb = if a.dry_run {
            "Would import"
        } else {
            "Imported"
        };
        let mut s = format!(
            "{verb} {} from {} ({} updated, {} unchanged, {} failed)\n",
            crate::output::count(outcome.imported as usize, "entry", "entries"),
            outcome.source,
            outcome.updated,
            outcome.unchanged,
            outcome.failed.len()
        );
        for (was, now) in &outcome.renumbered {
            s.push_str(&format!(
                "  #{was} was taken here; that entry is now #{now}\n"
            ));
        }
        write_stdout(&s)?;
        for f in &outcome.failed {
            eprintln!("error: {}", f.error);
        }
    }
    if !outcome.failed.is_empty() {
        return Err(CliError::Store(devlog_core::StoreError::invalid(
            "import",
            format!(
                "{} of {} files could not be imported (listed above); the rest were",
                outcome.failed.len(),
                outcome.files
            ),
        )));
    }
    Ok(())
}
