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
    /// Only entries waiting on an open blocker (`devlog link A --blocked-by B`)
    #[arg(long)]
    pub blocked: bool,
    /// Subtasks indented under their parent (when both are listed)
    #[arg(long)]
    pub tree: bool,
    /// The columns to show, in order (handle, status, priority, type, title, assignee, tags,
    /// updated, created, due); by default the first six, plus assignee and tags when the
    /// terminal is wide enough, and due when an entry listed has a due date
    #[arg(long, value_delimiter = ',', conflicts_with = "format")]
    pub columns: Vec<Column>,
    /// One line per entry from a template: `{{handle}} {{title}} [{{tags|join(",")}}]`
    /// (the fields of `list --json`; a name that is not one is an error)
    #[arg(long)]
    pub format: Option<String>,
}

/// A column of `devlog list`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Column {
    Handle,
    Status,
    Priority,
    Type,
    Title,
    Assignee,
    Tags,
    Updated,
    Created,
    Due,
}

impl Column {
    /// What every terminal gets, and what a pipe gets (stable for scripts).
    const BASE: [Column; 6] = [
        Column::Handle,
        Column::Status,
        Column::Priority,
        Column::Type,
        Column::Title,
        Column::Updated,
    ];

    fn header(self) -> &'static str {
        match self {
            Column::Handle => "#",
            Column::Status => "STATUS",
            Column::Priority => "PRIORITY",
            Column::Type => "TYPE",
            Column::Title => "TITLE",
            Column::Assignee => "ASSIGNEE",
            Column::Tags => "TAGS",
            Column::Updated => "UPDATED",
            Column::Created => "CREATED",
            Column::Due => "DUE",
        }
    }

    /// The default columns for a terminal `width` columns wide (`None`: not a terminal).
    /// Assignee and tags are added, before UPDATED, when they fit beside a 50-character title.
    pub fn defaults(width: Option<usize>) -> Vec<Column> {
        let mut cols = Column::BASE.to_vec();
        let w = width.unwrap_or(0);
        if w >= 110 {
            cols.insert(5, Column::Assignee);
        }
        if w >= 130 {
            cols.insert(6, Column::Tags);
        }
        cols
    }
}

/// The terminal's width: `$COLUMNS` when set, else the size of standard output when it is a
/// terminal, else `None`.
fn terminal_width() -> Option<usize> {
    if let Some(c) = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse().ok())
    {
        return Some(c);
    }
    terminal_size::terminal_size_of(std::io::stdout()).map(|(w, _)| usize::from(w.0))
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
    let app = devlog_core::Devlog::new(store.clone());
    let page = if a.blocked {
        // Not a store filter: see Devlog::blocked. `--limit 0` is every match.
        let limit = if a.limit == 0 { usize::MAX } else { a.limit };
        app.blocked(&ListQuery { limit, ..query }).await?
    } else if a.limit == 0 {
        list_all(&*store, query).await?
    } else {
        store.list(&query).await?
    };
    // `--tree`: the page's entries in tree order, each with its depth.
    let (items, depths) = if a.tree {
        let rows = app.tree(page.items.clone()).await?;
        let depths: Vec<usize> = rows.iter().map(|(d, _)| *d).collect();
        (rows.into_iter().map(|(_, s)| s).collect(), depths)
    } else {
        (page.items.clone(), vec![0; page.items.len()])
    };
    // Damaged entry files are left out of the answer: say so in every format, on stderr.
    warn_store(&*store).await?;
    if ctx.out.json {
        if a.tree {
            let rows: Vec<TreeRow> = items
                .iter()
                .zip(&depths)
                .map(|(entry, depth)| TreeRow {
                    depth: *depth,
                    entry,
                })
                .collect();
            ctx.out.json(&rows)?;
        } else {
            ctx.out.json(&page.items)?;
        }
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
    if let Some(template) = &a.format {
        write_stdout(&formatted(template, &items)?)?;
        return Ok(());
    }
    let columns = if a.columns.is_empty() {
        let mut c = Column::defaults(terminal_width());
        // A DUE column whenever an entry listed has a due date.
        if items.iter().any(|e| e.due_date.is_some()) {
            c.push(Column::Due);
        }
        c
    } else {
        a.columns.clone()
    };
    let mut s = table(&ctx.out, &items, &depths, &columns);
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

/// A row of `list --tree --json`: the summary and how deep it is under listed parents.
#[derive(serde::Serialize)]
struct TreeRow<'a> {
    depth: usize,
    #[serde(flatten)]
    entry: &'a EntrySummary,
}

/// The table other commands print (`milestone show`): the base columns, and DUE when an
/// entry has a due date.
pub fn summary_table(out: &Out, items: &[EntrySummary]) -> String {
    let mut columns = Column::BASE.to_vec();
    if items.iter().any(|e| e.due_date.is_some()) {
        columns.push(Column::Due);
    }
    table(out, items, &vec![0; items.len()], &columns)
}

/// `items` as a table of `columns`.
pub fn table(out: &Out, items: &[EntrySummary], depths: &[usize], columns: &[Column]) -> String {
    let now = SystemClock.now();
    let headers: Vec<&str> = columns.iter().map(|c| c.header()).collect();
    let mut t = Table::header(out, &headers);
    for (e, depth) in items.iter().zip(depths) {
        let row = columns
            .iter()
            .map(|c| {
                let plain = |s: String| (s.clone(), s);
                match c {
                    Column::Handle => {
                        let h = format!("#{}", e.handle);
                        (out.bold(&h), h)
                    }
                    Column::Status => (out.status(e.status), e.status.to_string()),
                    Column::Priority => (out.priority(e.priority), e.priority.to_string()),
                    Column::Type => plain(e.kind.to_string()),
                    Column::Title => {
                        let indent = if *depth == 0 {
                            String::new()
                        } else {
                            format!("{}└ ", "  ".repeat(depth - 1))
                        };
                        plain(format!("{indent}{}", truncate(&e.title, 70)))
                    }
                    Column::Assignee => plain(e.assignee.clone().unwrap_or_default()),
                    Column::Tags => plain(truncate(&e.tags.join(","), 30)),
                    Column::Updated => {
                        let u = ago(e.updated_at, now);
                        (out.dim(&u), u)
                    }
                    Column::Created => {
                        let u = ago(e.created_at, now);
                        (out.dim(&u), u)
                    }
                    Column::Due => plain(e.due_date.map(|d| d.to_string()).unwrap_or_default()),
                }
            })
            .collect();
        t.row(row);
    }
    t.render()
}

/// How much work one entry's line may take in a `--format` template (minijinja's fuel).
const FORMAT_FUEL: u64 = 50_000;

/// One line per entry from the `--format` template over the entry's `list --json` fields.
/// Unknown fields are errors (not empty text), naming the field and what exists.
fn formatted(template: &str, items: &[EntrySummary]) -> Result<String, CliError> {
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.set_fuel(Some(FORMAT_FUEL));
    let bad = |e: minijinja::Error| {
        CliError::Usage(format!(
            "--format: {}{}; the fields are those of `devlog list --json` (handle, title, status, priority, type, assignee, tags, createdAt, updatedAt, closedAt, id, key)",
            e.detail().unwrap_or(&e.kind().to_string()),
            e.range()
                .map(|r| format!(" (at character {} of the template)", r.start + 1))
                .unwrap_or_default()
        ))
    };
    let t = env.template_from_str(template).map_err(bad)?;
    let mut out = String::new();
    for e in items {
        // Fields an entry may lack are there, empty, so only a misspelt name is an error.
        let mut fields = serde_json::to_value(e).map_err(|err| CliError::Other(err.into()))?;
        if let Some(map) = fields.as_object_mut() {
            for optional in ["assignee", "closedAt", "legacyId"] {
                map.entry(optional)
                    .or_insert(serde_json::Value::String(String::new()));
            }
        }
        let line = t
            .render(minijinja::Value::from(minijinja::value::Serde(fields)))
            .map_err(bad)?;
        out.push_str(&line.replace(['\n', '\r'], " "));
        out.push('\n');
    }
    Ok(out)
}
