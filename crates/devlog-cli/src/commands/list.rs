//! `devlog list`: entries as a table.

use clap::Args;
use devlog_core::entry::EntrySummary;
use devlog_core::{Clock, ListQuery, Page, SortKey, Store, SystemClock};

use super::{Ctx, FilterArgs};
use crate::error::CliError;
use crate::output::{Out, Table, ago, count, truncate, warn, write_stdout};

/// List open entries (not done or closed), most recently updated first; --all lists every entry
#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Include done and closed entries (by default only open work is listed, unless --status
    /// names the statuses to show)
    #[arg(long, conflicts_with = "open")]
    pub all: bool,
    /// updated, created, priority, status, title, handle or due (undated last)
    #[arg(long, default_value = "updated", value_parser = parse_sort)]
    pub sort: SortKey,
    /// Ascending order
    #[arg(long)]
    pub asc: bool,
    /// At most this many entries (0: all of them)
    #[arg(long, short = 'n', default_value_t = 50)]
    pub limit: usize,
    /// Skip this many entries (paging)
    #[arg(long, default_value_t = 0)]
    pub offset: usize,
}

pub fn parse_sort(s: &str) -> Result<SortKey, String> {
    SortKey::ALL
        .iter()
        .find(|(n, _)| *n == s.trim().to_ascii_lowercase())
        .map(|(_, k)| *k)
        .ok_or_else(|| {
            let names: Vec<&str> = SortKey::ALL.iter().map(|(n, _)| *n).collect();
            format!("unknown sort `{s}`: use one of {}", names.join(", "))
        })
}

pub async fn run(ctx: &Ctx, a: ListArgs) -> Result<(), CliError> {
    let store = ctx.store().await?;
    let mut filter = a.filter.to_filter();
    // Open work by default; `--status` says exactly which statuses to show.
    let open_by_default = !a.all && a.filter.status.is_empty();
    filter.open_only |= open_by_default;
    let query = ListQuery {
        filter,
        sort: a.sort,
        ascending: a.asc,
        offset: a.offset,
        limit: a.limit,
    };
    let page = if a.limit == 0 {
        list_all(&*store, query).await?
    } else {
        store.list(&query).await?
    };
    // Damaged entry files are left out of the answer: say so in every format, on stderr.
    warn_store(&*store).await?;
    if ctx.out.json {
        ctx.out.json(&page.items)?;
        return Ok(());
    }
    if page.items.is_empty() {
        if page.total > 0 {
            write_stdout(&format!(
                "No entries at offset {}: {} match.\n",
                page.offset,
                if page.total_is_estimate {
                    format!("{} entries", page.total_label())
                } else {
                    count(page.total as usize, "entry", "entries")
                }
            ))?;
        } else if open_by_default && !a.filter.open {
            write_stdout("No open entries match (--all includes done and closed ones).\n")?;
        } else {
            write_stdout("No entries match.\n")?;
        }
        return Ok(());
    }
    let mut s = summary_table(&ctx.out, &page.items);
    if page.total as usize > page.offset + page.items.len() || page.offset > 0 {
        s.push_str(&ctx.out.dim(&format!(
            "showing {}–{} of {} (use --limit/--offset for more)\n",
            page.offset + 1,
            page.offset + page.items.len(),
            page.total_label()
        )));
    }
    write_stdout(&s)?;
    Ok(())
}

/// Entries a page at a time, from `q.offset` to the end (`--limit 0`).
async fn list_all(store: &dyn Store, q: ListQuery) -> Result<Page<EntrySummary>, CliError> {
    super::all_pages(q.offset, super::PAGE, |offset, limit| {
        let q = ListQuery {
            offset,
            limit,
            ..q.clone()
        };
        async move { store.list(&q).await }
    })
    .await
}

/// Prints the store's warnings (damaged entry files left out of answers) on stderr.
pub async fn warn_store(store: &dyn Store) -> Result<(), CliError> {
    for w in store.warnings().await? {
        warn(&w);
    }
    Ok(())
}

/// The table `list`, `search` and `context` print.
pub fn summary_table(out: &Out, items: &[EntrySummary]) -> String {
    let now = SystemClock.now();
    // A DUE column only when an entry listed has a due date.
    let dated = items.iter().any(|e| e.due_date.is_some());
    let mut cols = vec!["#", "STATUS", "PRIORITY", "TYPE", "TITLE", "UPDATED"];
    if dated {
        cols.push("DUE");
    }
    let mut t = Table::header(out, &cols);
    for e in items {
        let h = format!("#{}", e.handle);
        let title = truncate(&e.title, 70);
        let updated = ago(e.updated_at, now);
        let mut row = vec![
            (out.bold(&h), h),
            (out.status(e.status), e.status.to_string()),
            (out.priority(e.priority), e.priority.to_string()),
            (e.kind.to_string(), e.kind.to_string()),
            (title.clone(), title),
            (out.dim(&updated), updated),
        ];
        if dated {
            let due = e.due_date.map(|d| d.to_string()).unwrap_or_default();
            row.push((due.clone(), due));
        }
        t.row(row);
    }
    t.render()
}
