//! `devlog events`: the change feed.

use std::collections::VecDeque;

use clap::Args;
use devlog_core::{Event, EventKind, Store};

use super::Ctx;
use crate::error::CliError;
use crate::output::{Table, count, truncate, write_stdout};

/// Show the change feed (every create, field change, note, status change, deletion): the
/// newest events, oldest first, or with --since the ones after a sequence number
#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Only events after this sequence number, oldest first (default: the newest --limit)
    #[arg(long)]
    pub since: Option<u64>,
    /// At most this many events (0: all of them)
    #[arg(long, short = 'n', default_value_t = 50)]
    pub limit: usize,
}

/// Events per read while walking the feed.
const BATCH: usize = 5000;

pub async fn run(ctx: &Ctx, a: EventsArgs) -> Result<(), CliError> {
    let store = ctx.store().await?;
    let limit = if a.limit == 0 { usize::MAX } else { a.limit };
    let (evs, footer) = match a.since {
        Some(since) => {
            let since = devlog_core::ops::check_seq("since", since)?;
            let evs = read(&*store, since, limit).await?;
            let last = evs.last().map_or(since, |e| e.seq);
            let more = count_after(&*store, last).await?;
            let footer = (more > 0).then(|| {
                format!(
                    "{} after seq {last}: devlog events --since {last}\n",
                    count(more, "more event", "more events")
                )
            });
            (evs, footer)
        }
        None => {
            // The newest `limit`, like MCP get_recent_changes: one pass keeps the tail and
            // counts what is left out.
            let mut tail = VecDeque::new();
            let mut after = 0;
            let mut earlier = 0usize;
            loop {
                let batch = store.events(after, BATCH).await?;
                let n = batch.len();
                for e in batch {
                    after = e.seq;
                    tail.push_back(e);
                    if tail.len() > limit {
                        tail.pop_front();
                        earlier += 1;
                    }
                }
                if n < BATCH {
                    break;
                }
            }
            let footer = (earlier > 0).then(|| {
                format!(
                    "{}: devlog events --since 0 (or --limit 0 for all)\n",
                    count(earlier, "earlier event", "earlier events")
                )
            });
            (Vec::from(tail), footer)
        }
    };
    if ctx.out.json {
        ctx.out.json(&evs)?;
        return Ok(());
    }
    if evs.is_empty() {
        write_stdout("No events.\n")?;
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
    let mut text = t.render();
    if let Some(f) = footer {
        text.push_str(&ctx.out.dim(&f));
    }
    write_stdout(&text)?;
    Ok(())
}

/// Up to `limit` events after `after`, oldest first, in batches.
async fn read(store: &dyn Store, mut after: u64, limit: usize) -> Result<Vec<Event>, CliError> {
    let mut out = Vec::new();
    while out.len() < limit {
        let want = (limit - out.len()).min(BATCH);
        let batch = store.events(after, want).await?;
        let n = batch.len();
        if let Some(e) = batch.last() {
            after = e.seq;
        }
        out.extend(batch);
        if n < want {
            break;
        }
    }
    Ok(out)
}

/// How many events come after `after`.
async fn count_after(store: &dyn Store, mut after: u64) -> Result<usize, CliError> {
    let mut n = 0;
    loop {
        let batch = store.events(after, BATCH).await?;
        n += batch.len();
        match batch.last() {
            Some(e) if batch.len() == BATCH => after = e.seq,
            _ => return Ok(n),
        }
    }
}
