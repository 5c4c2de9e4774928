//! `devlog events`: the change feed.

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

/// Events per read when --limit 0 asks for all of them.
const BATCH: usize = 5000;

pub async fn run(ctx: &Ctx, a: EventsArgs) -> Result<(), CliError> {
    let store = ctx.store().await?;
    // Each shape is a bounded read along the feed's `seq` key plus one count on it: the cost
    // grows with --limit, not with the length of the feed.
    let (evs, footer) = match (a.since, a.limit) {
        (Some(since), limit) => {
            let since = devlog_core::ops::check_seq("since", since)?;
            let limit = if limit == 0 { usize::MAX } else { limit };
            let evs = read(&*store, since, limit).await?;
            let last = evs.last().map_or(since, |e| e.seq);
            let more = to_usize(store.count_events(last, None).await?);
            let footer = (more > 0).then(|| {
                format!(
                    "{} after seq {last}: devlog events --since {last}\n",
                    count(more, "more event", "more events")
                )
            });
            (evs, footer)
        }
        (None, 0) => (read(&*store, 0, usize::MAX).await?, None),
        (None, limit) => {
            // The newest `limit`, like MCP get_recent_changes.
            let evs = store.events_before(None, limit).await?;
            let earlier = match evs.first() {
                Some(first) => to_usize(store.count_events(0, Some(first.seq)).await?),
                None => 0,
            };
            let footer = (earlier > 0).then(|| {
                format!(
                    "{}: devlog events --since 0 (or --limit 0 for all)\n",
                    count(earlier, "earlier event", "earlier events")
                )
            });
            (evs, footer)
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
            EventKind::StatusChanged { from, to, .. } => format!("{from} → {to}"),
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

fn to_usize(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}
