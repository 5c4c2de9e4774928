//! `devlog today`, and `devlog` with no command: what is going on, at a glance.

use clap::{Args, CommandFactory};
use devlog_core::ops::{TODAY_RECENT_HOURS, Today};
use devlog_core::planning::DUE_SOON_DAYS;
use devlog_core::{Clock, EntrySummary, Page, SystemClock};

use super::Ctx;
use crate::error::CliError;
use crate::output::{Out, ago, truncate, write_stdout};

/// How many entries each section shows when `devlog` runs without a command.
pub const BARE_LIMIT: usize = 5;

/// Work in progress, blocked work, and what else changed in the last day
#[derive(Debug, Args)]
pub struct TodayArgs {
    /// At most this many entries per section
    #[arg(long, short = 'n', default_value_t = 10,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=500))]
    pub limit: usize,
    /// Set when `devlog` ran without a command: outside a workspace, show the help instead
    #[arg(skip)]
    pub bare: bool,
}

pub async fn run(ctx: &Ctx, a: TodayArgs) -> Result<(), CliError> {
    let app = match ctx.app().await {
        Ok(app) => app,
        // `devlog` alone in a folder without a devlog: say what devlog is and how to start.
        Err(CliError::NoWorkspace) if a.bare && !ctx.out.json => {
            let help = crate::cli::Cli::command().render_help().to_string();
            write_stdout(&format!(
                "{help}\nNo .devlog here yet: `devlog new \"<title>\"` starts one.\n"
            ))?;
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    let today = app.today(a.limit).await?;
    super::list::warn_store(&**app.store()).await?;
    if ctx.out.json {
        ctx.out.json(&today)?;
        return Ok(());
    }
    write_stdout(&render(&ctx.out, &today))?;
    Ok(())
}

fn render(out: &Out, t: &Today) -> String {
    let now = SystemClock.now();
    let mut s = String::new();
    let sections = [
        ("In progress", &t.in_progress),
        ("Blocked", &t.blocked),
        (
            &*format!("Due within {DUE_SOON_DAYS} days, overdue first"),
            &t.due_soon,
        ),
        (
            &*format!("Changed in the last {TODAY_RECENT_HOURS} hours"),
            &t.recent,
        ),
    ];
    for (title, page) in sections {
        if page.items.is_empty() {
            continue;
        }
        s.push_str(&out.bold(&heading(title, page)));
        s.push('\n');
        for e in &page.items {
            s.push_str(&line(out, e, now));
        }
        s.push('\n');
    }
    if s.is_empty() {
        return "Nothing in progress, blocked, due soon or changed in the last day. \
                `devlog list` shows the open work.\n"
            .into();
    }
    s.pop();
    s
}

fn heading(title: &str, page: &Page<EntrySummary>) -> String {
    let total = page.total as usize;
    if total > page.items.len() || page.total_is_estimate {
        format!("{title} ({} of {})", page.items.len(), page.total_label())
    } else {
        format!("{title} ({total})")
    }
}

fn line(out: &Out, e: &EntrySummary, now: devlog_core::Timestamp) -> String {
    let who = e
        .assignee
        .as_deref()
        .map(|a| format!(" @{a}"))
        .unwrap_or_default();
    let due = e.due_date.map(|d| format!(" due {d}")).unwrap_or_default();
    format!(
        "  {} {} {}{}{} {}\n",
        out.bold(&format!("#{}", e.handle)),
        truncate(&e.title, 70),
        out.priority(e.priority),
        who,
        due,
        out.dim(&format!("{} · {}", e.status, ago(e.updated_at, now)))
    )
}
