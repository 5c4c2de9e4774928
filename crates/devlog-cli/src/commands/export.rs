//! `devlog export`: every entry (with its notes, decisions, worklogs, links and external
//! references), milestone and audit record as JSON Lines, one record per line with a `kind`
//! (devlog-core `export`; format in docs/security.md, "Export"). `devlog audit export` writes
//! the audit records alone (also as CSV); this is the whole store.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use devlog_core::export::{ExportRecord, export};
use devlog_core::{Clock, StoreError, SystemClock};

use super::Ctx;
use crate::error::CliError;

/// Write all data — entries with their notes, decisions, worklogs, links and external
/// references, milestones, and the audit log — as JSON Lines (for a data-subject request or
/// a migration)
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Write to this file (created or replaced) instead of standard output
    #[arg(long, short = 'o')]
    pub out: Option<PathBuf>,
}

pub async fn run(ctx: &Ctx, a: ExportArgs) -> Result<(), CliError> {
    let store = ctx.store().await?;
    let (mut w, path): (Box<dyn Write + Send>, String) = match &a.out {
        Some(p) => (
            Box::new(std::io::BufWriter::new(
                std::fs::File::create(p)
                    .map_err(|e| StoreError::write_io(p.display().to_string(), e))?,
            )),
            p.display().to_string(),
        ),
        None => (
            Box::new(std::io::BufWriter::new(std::io::stdout())),
            "standard output".to_string(),
        ),
    };
    let mut sink = |r: &ExportRecord| -> devlog_core::Result<()> {
        let mut line = serde_json::to_vec(r).expect("records serialize");
        line.push(b'\n');
        w.write_all(&line)
            .map_err(|e| StoreError::write_io(path.clone(), e))
    };
    let counts = export(&*store, SystemClock.now(), &mut sink).await?;
    w.flush().map_err(|e| StoreError::write_io("export", e))?;
    if let Some(p) = &a.out {
        eprintln!(
            "exported {} entries, {} notes, {} worklogs, {} links, {} audit records to {}",
            counts.entries,
            counts.notes,
            counts.worklogs,
            counts.links,
            counts.audit,
            p.display()
        );
    }
    Ok(())
}
