//! `devlog events`: the change feed.

use clap::Args;
use devlog_core::EventKind;

use super::Ctx;
use crate::error::CliError;
use crate::output::{Table, truncate, write_stdout};

/// Show the change feed (every create, field change, note, status change, deletion)
#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Only events after this sequence number
    #[arg(long, default_value_t = 0)]
    pub since: u64,
    #[arg(long, short = 'n', default_value_t = 50)]
    pub limit: usize,
}

pub async fn run(ctx: &Ctx, a: EventsArgs) -> Result<(), CliError> {
    let store = ctx.store().await?;
    let since = devlog_core::ops::check_seq("since", a.since)?;
    let evs = store.events(since, a.limit).await?;
    if ctx.out.json {
        ctx.out.json(&evs)?;
        return Ok(());
    }
    let out = &ctx.out;
    let mut t = Table::header(out, &["SEQ", "AT", "ENTRY", "EVENT", "BY", "DETAIL"]);
    for e in &evs {
        let detail = match &e.kind {
            EventKind::FieldChanged { field, new, .. } => {
                format!("{field} = {}", truncate(&new.to_string(), 50))
            }
            EventKind::StatusChanged { from, to } => format!("{from} → {to}"),
            EventKind::NoteAdded { category, .. } => category.to_string(),
            EventKind::Linked {
                system,
                external_id,
            } => format!("{system} {external_id}"),
            _ => String::new(),
        };
        let by = match &e.actor {
            Some(a) => format!("{} ({})", a, e.origin.as_str()),
            None => e.origin.as_str().to_string(),
        };
        let cells = [
            e.seq.to_string(),
            e.at.to_string(),
            format!("#{}", e.handle),
            e.kind.name().to_string(),
            by,
            detail,
        ];
        t.row(cells.into_iter().map(|c| (c.clone(), c)).collect());
    }
    write_stdout(&t.render())?;
    Ok(())
}
