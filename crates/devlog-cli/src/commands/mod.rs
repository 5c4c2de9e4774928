//! One module per subcommand: `FooArgs` (its doc comment is the help text) and `run`.

pub mod ado;
pub mod audit;
pub mod autocommit;
pub mod bulk;
pub mod completions;
pub mod config;
pub mod context;
pub mod decide;
pub mod delete;
pub mod done;
pub mod edit;
pub mod editor;
pub mod etags;
pub mod events;
pub mod export;
pub mod git;
pub mod github;
pub mod github_release;
pub mod import;
pub mod init;
pub mod insights;
pub mod jira;
pub mod list;
pub mod log;
pub mod log_time;
pub mod mcp;
pub mod migrate;
pub mod milestone;
pub mod new;
pub mod note;
pub mod note_edit;
pub mod plugin;
pub mod purge;
pub mod reindex;
pub mod relations;
pub mod report;
pub mod repos;
pub mod search;
pub mod serve;
pub mod shortcuts;
pub mod show;
pub mod stats;
pub mod sync;
pub mod today;
pub mod token;
pub mod tracker;
pub mod undo;
pub mod watch;
pub mod worker;
pub mod workflow;
pub mod workflow_host;
pub mod worklog;

use std::sync::Arc;

use clap::Args;
use devlog_core::entry::{EntryType, Priority, Status};
use devlog_core::{Devlog, Filter, Origin, Store, SystemClock, Timestamp, WriteMeta};

use crate::error::CliError;
use crate::output::Out;
use crate::workspace::{Discovery, Workspace};

/// What every command gets: output settings, where to look, and who is acting.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub out: Out,
    pub discovery: Discovery,
    pub actor: Option<String>,
}

impl Ctx {
    /// The existing workspace, or an error saying how to create one. A workspace on a
    /// server backend exists without its `.devlog` folder (see [`Discovery`]).
    pub fn workspace(&self) -> Result<Workspace, CliError> {
        let dir = self.discovery.find().ok_or(CliError::NoWorkspace)?;
        let ws = Workspace::load(dir.clone(), self.discovery.backend.as_deref())?;
        if !ws.devlog_dir.is_dir() && !ws.is_server() {
            return Err(match self.discovery.dir {
                Some(_) => CliError::NoWorkspaceAt(dir),
                None => CliError::NoWorkspace,
            });
        }
        Ok(ws)
    }

    /// The existing workspace, or a new one at the repository root (zero configuration).
    pub fn workspace_or_create(&self) -> Result<Workspace, CliError> {
        let dir = self
            .discovery
            .find()
            .unwrap_or_else(|| self.discovery.place_new());
        Workspace::load(dir, self.discovery.backend.as_deref())
    }

    pub async fn store(&self) -> Result<Arc<dyn Store>, CliError> {
        self.workspace()?.open().await
    }

    pub async fn app(&self) -> Result<Devlog, CliError> {
        Ok(Devlog::new(self.store().await?))
    }

    pub fn meta(&self) -> WriteMeta {
        WriteMeta::new(Origin::Cli).with_actor(self.actor.clone())
    }
}

/// Filters shared by `list`, `search` and `stats`. Multiple values may be given as
/// `--status new,in-progress` or by repeating the flag.
#[derive(Debug, Clone, Default, Args)]
pub struct FilterArgs {
    /// Only these statuses (new, in-progress, blocked, in-review, testing, done, closed)
    #[arg(long, short = 's', value_delimiter = ',')]
    pub status: Vec<Status>,
    /// Only these types (feature, bugfix, task, refactor, docs)
    #[arg(long = "type", short = 't', value_delimiter = ',')]
    pub kind: Vec<EntryType>,
    /// Only these priorities (low, medium, high, critical)
    #[arg(long, short = 'p', value_delimiter = ',')]
    pub priority: Vec<Priority>,
    /// Only entries assigned to this person
    #[arg(long)]
    pub assignee: Option<String>,
    /// Only entries with this tag
    #[arg(long)]
    pub tag: Option<String>,
    /// Only open entries (not done or closed)
    #[arg(long)]
    pub open: bool,
    /// Created at or after this time (RFC 3339 or YYYY-MM-DD)
    #[arg(long, value_parser = parse_time)]
    pub created_after: Option<Timestamp>,
    /// Created before this time
    #[arg(long, value_parser = parse_time)]
    pub created_before: Option<Timestamp>,
    /// Updated at or after this time
    #[arg(long, value_parser = parse_time)]
    pub updated_after: Option<Timestamp>,
    /// Updated before this time
    #[arg(long, value_parser = parse_time)]
    pub updated_before: Option<Timestamp>,
    /// Due before this day: YYYY-MM-DD, today, tomorrow, friday, +3d, +2w or next week
    #[arg(long, value_parser = parse_due)]
    pub due_before: Option<chrono::NaiveDate>,
    /// Only open entries whose due date has passed
    #[arg(long)]
    pub overdue: bool,
    /// Only entries in this milestone (its name)
    #[arg(long)]
    pub milestone: Option<String>,
}

impl FilterArgs {
    pub fn to_filter(&self) -> Filter {
        let mut f = Filter {
            status: self.status.clone(),
            kind: self.kind.clone(),
            priority: self.priority.clone(),
            assignee: self.assignee.clone(),
            tag: self.tag.clone(),
            created_after: self.created_after,
            created_before: self.created_before,
            updated_after: self.updated_after,
            updated_before: self.updated_before,
            open_only: self.open,
            due_before: self.due_before,
            milestone: self.milestone.clone(),
            handle_after: None,
        };
        if self.overdue {
            f = devlog_core::planning::overdue_filter(
                f,
                devlog_core::planning::today(&SystemClock),
            );
        }
        f
    }
}

/// A due date typed on the command line, relative to today (`devlog_core::planning`).
pub fn parse_due(s: &str) -> Result<chrono::NaiveDate, String> {
    devlog_core::planning::parse_due(s, devlog_core::planning::today(&SystemClock))
        .map_err(|e| e.to_string())
}

/// Hours typed on the command line: a number (hours) or a duration (`4h`, `1h30m`, `90m`),
/// checked by devlog-core (an error names `field`).
pub fn hours_arg(field: &str, s: Option<&str>) -> Result<Option<f64>, CliError> {
    Ok(s.map(|s| devlog_core::planning::parse_hours(field, s))
        .transpose()?)
}

/// Accepts RFC 3339 or a plain date (midnight UTC).
pub fn parse_time(s: &str) -> Result<Timestamp, String> {
    if let Ok(t) = s.parse::<Timestamp>() {
        return Ok(t);
    }
    chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|dt| Timestamp::from_datetime(dt.and_utc()))
        .ok_or_else(|| {
            format!("`{s}` is not a date: use YYYY-MM-DD or RFC 3339 (2025-06-25T06:29:02Z)")
        })
}

/// Reads `-` as standard input, anything else as given. `what` names the argument in errors.
/// Empty (or blank) standard input is a usage error — an empty pipe is almost always a
/// mistake — unless `allow_empty` is `Some(true)` (the command's `--allow-empty`); `None`
/// means the value may never be empty, so no flag is suggested.
pub fn text_arg(s: &str, what: &str, allow_empty: Option<bool>) -> Result<String, CliError> {
    if s != "-" {
        return Ok(s.to_string());
    }
    let mut buf = String::new();
    std::io::Read::read_to_string(&mut std::io::stdin(), &mut buf)
        .map_err(|e| CliError::Usage(format!("cannot read standard input: {e}")))?;
    let text = buf.trim_end().to_string();
    match allow_empty {
        _ if !text.is_empty() => Ok(text),
        Some(true) => Ok(text),
        Some(false) => Err(CliError::Usage(format!(
            "standard input (`-` for {what}) is empty; pipe the text in, or add --allow-empty to make {what} empty"
        ))),
        None => Err(CliError::Usage(format!(
            "standard input (`-` for {what}) is empty; pipe the text in"
        ))),
    }
}

/// The page size of `--limit 0` listings.
pub const PAGE: usize = 500;

/// Every page from `first_offset` to the end, `page_size` at a time (`--limit 0` on `list`
/// and `search`): `fetch(offset, limit)` reads one page. A page's total that is an estimate
/// (a lower bound) never ends the loop; a short page does.
pub async fn all_pages<T, F, Fut>(
    first_offset: usize,
    page_size: usize,
    mut fetch: F,
) -> Result<devlog_core::Page<T>, CliError>
where
    F: FnMut(usize, usize) -> Fut,
    Fut: std::future::Future<Output = Result<devlog_core::Page<T>, devlog_core::StoreError>>,
{
    let mut offset = first_offset;
    let mut items = Vec::new();
    let total = loop {
        let page = fetch(offset, page_size).await?;
        let n = page.items.len();
        items.extend(page.items);
        offset += n;
        if n < page_size || (offset as u64 >= page.total && !page.total_is_estimate) {
            // Read to the end: the total is exact even where a page's was a lower bound.
            break if page.total_is_estimate {
                offset as u64
            } else {
                page.total
            };
        }
    };
    Ok(devlog_core::Page {
        limit: items.len(),
        items,
        total,
        offset: first_offset,
        total_is_estimate: false,
    })
}
