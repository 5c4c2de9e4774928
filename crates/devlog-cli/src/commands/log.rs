//! `devlog log`: an entry's history, from the change feed (`Devlog::history`).

use clap::Args;
use devlog_core::history::{Change, MAX_HISTORY, describe};

use super::Ctx;
use crate::error::CliError;
use crate::output::{Out, count, write_stdout};

/// Show every change of an entry, newest first: who (origin and actor), when, which fields
/// from what to what, notes and decisions added, edited or deleted, status changes. The
/// `seq` of a change is what `devlog undo --to` takes
#[derive(Debug, Args)]
pub struct LogArgs {
    /// Handle, id, id prefix, key, or original devlog id
    pub entry: String,
    /// At most this many changes, the newest (1–1000)
    #[arg(long, short = 'n', default_value_t = 50)]
    pub limit: usize,
}

/// Characters of a value shown per change line.
const VALUE_WIDTH: usize = 60;

pub async fn run(ctx: &Ctx, a: LogArgs) -> Result<(), CliError> {
    if a.limit == 0 || a.limit > MAX_HISTORY {
        return Err(CliError::Usage(format!(
            "--limit must be between 1 and {MAX_HISTORY}, got {}",
            a.limit
        )));
    }
    let app = ctx.app().await?;
    let target = app.resolve_summary(&a.entry).await?;
    let h = app.history(target.id, a.limit).await?;
    if ctx.out.json {
        ctx.out.json(&h)?;
        return Ok(());
    }
    let out = &ctx.out;
    let mut text = format!(
        "{} {} — {}, newest first\n",
        out.bold(&format!("#{}", h.handle)),
        h.title,
        count(h.changes.len(), "change", "changes")
    );
    for c in &h.changes {
        text.push_str(&change_text(out, c));
    }
    if h.more {
        text.push_str(&out.dim(&format!(
            "older changes: devlog log {} --limit {}\n",
            h.handle,
            (a.limit * 2).min(MAX_HISTORY)
        )));
    }
    write_stdout(&text)?;
    Ok(())
}

/// A change as lines: a heading (seq, time, author) and one indented line per event.
pub fn change_text(out: &Out, c: &Change) -> String {
    let mut s = format!(
        "{}  {}  {}\n",
        out.bold(&format!("seq {}", c.seq)),
        c.at,
        out.dim(&c.author())
    );
    for k in &c.events {
        s.push_str(&format!("  {}\n", describe(k, VALUE_WIDTH)));
    }
    s
}
