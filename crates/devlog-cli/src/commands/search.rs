//! `devlog search`: ranked full-text search.

use clap::Args;
use devlog_core::{Page, SearchHit, SearchQuery, Store};

use super::{Ctx, FilterArgs};
use crate::error::CliError;
use crate::output::{Table, truncate, write_stdout};

/// Search titles, descriptions, notes and context; every word must match (prefixes count)
#[derive(Debug, Args)]
pub struct SearchArgs {
    /// Words to look for
    #[arg(required = true, num_args = 1..)]
    pub query: Vec<String>,
    #[command(flatten)]
    pub filter: FilterArgs,
    /// At most this many matches (0: all of them)
    #[arg(long, short = 'n', default_value_t = 20)]
    pub limit: usize,
    #[arg(long, default_value_t = 0)]
    pub offset: usize,
    /// Also search the repositories `devlog repos discover` found
    #[arg(long)]
    pub all_repos: bool,
}

pub async fn run(ctx: &Ctx, a: SearchArgs) -> Result<(), CliError> {
    let query = SearchQuery {
        text: a.query.join(" "),
        filter: a.filter.to_filter(),
        offset: a.offset,
        limit: a.limit,
    };
    if a.all_repos {
        return super::repos::search_all(ctx, query).await;
    }
    let store = ctx.store().await?;
    let page = if query.limit == 0 {
        search_all(&*store, query).await?
    } else {
        store.search(&query).await?
    };
    super::list::warn_store(&*store).await?;
    if ctx.out.json {
        ctx.out.json(&page.items)?;
        return Ok(());
    }
    if page.items.is_empty() {
        write_stdout("No entries match.\n")?;
        return Ok(());
    }
    let out = &ctx.out;
    let mut t = Table::header(out, &["#", "STATUS", "TITLE", "MATCH"]);
    for h in &page.items {
        let e = &h.entry;
        let hs = format!("#{}", e.handle);
        let title = truncate(&e.title, 50);
        let snip = truncate(&h.snippet.replace('\n', " "), 60);
        t.row(vec![
            (out.bold(&hs), hs),
            (out.status(e.status), e.status.to_string()),
            (title.clone(), title),
            (out.dim(&snip), snip),
        ]);
    }
    let mut s = t.render();
    if page.total as usize > page.items.len() + page.offset {
        s.push_str(&out.dim(&format!(
            "{} of {} matches\n",
            page.items.len(),
            page.total_label()
        )));
    }
    write_stdout(&s)?;
    Ok(())
}

/// Matches a page at a time, from `q.offset` to the end (`--limit 0`). Pages longer than
/// `TOTAL_CAP` make the store rank every match (not only the newest), so all pages share one
/// order.
async fn search_all(store: &dyn Store, q: SearchQuery) -> Result<Page<SearchHit>, CliError> {
    super::all_pages(q.offset, devlog_core::TOTAL_CAP + 1, |offset, limit| {
        let q = SearchQuery {
            offset,
            limit,
            ..q.clone()
        };
        async move { store.search(&q).await }
    })
    .await
}
