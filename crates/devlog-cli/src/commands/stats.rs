//! `devlog stats`: counts and completion times.

use clap::Args;

use super::{Ctx, FilterArgs};
use crate::error::CliError;
use crate::output::{Table, count, write_stdout};

/// Counts by status, type, priority and assignee, and completion times
#[derive(Debug, Args)]
pub struct StatsArgs {
    #[command(flatten)]
    pub filter: FilterArgs,
}

pub async fn run(ctx: &Ctx, a: StatsArgs) -> Result<(), CliError> {
    let store = ctx.store().await?;
    let s = store.stats(&a.filter.to_filter()).await?;
    super::list::warn_store(&*store).await?;
    if ctx.out.json {
        ctx.out.json(&s)?;
        return Ok(());
    }
    let out = &ctx.out;
    let mut text = format!(
        "{} {}: {} open, {} done or closed\n",
        out.bold(&s.total.to_string()),
        if s.total == 1 { "entry" } else { "entries" },
        s.open,
        s.closed
    );
    if let (Some(avg), Some(med)) = (s.avg_completion_hours, s.median_completion_hours) {
        text.push_str(&format!(
            "completion time over {}: mean {}, median {}\n",
            count(s.completed_with_time as usize, "entry", "entries"),
            hours(avg),
            hours(med)
        ));
    }
    for (title, map) in [
        ("STATUS", &s.by_status),
        ("TYPE", &s.by_type),
        ("PRIORITY", &s.by_priority),
        ("ASSIGNEE", &s.by_assignee),
    ] {
        if map.is_empty() {
            continue;
        }
        text.push('\n');
        let mut t = Table::header(out, &[title, "COUNT"]);
        for (k, v) in map {
            t.row(vec![(k.clone(), k.clone()), (v.to_string(), v.to_string())]);
        }
        text.push_str(&t.render());
    }
    write_stdout(&text)?;
    Ok(())
}

fn hours(h: f64) -> String {
    if h < 48.0 {
        format!("{h:.1}h")
    } else {
        format!("{:.1}d", h / 24.0)
    }
}
