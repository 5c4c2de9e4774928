//! `devlog log-time`: record time spent on an entry (a worklog).

use clap::Args;
use devlog_core::Entry;
use devlog_core::history::short;
use devlog_core::planning::{NewWorklog, WorklogEdit, format_minutes, logged_minutes};

use super::Ctx;
use crate::error::CliError;
use crate::output::{Out, write_stdout};

/// Record time spent on an entry: `devlog log-time 42 1h30m --note "pairing"`. The entry's
/// actual hours become the sum of its worklogs. `--edit ID` changes a worklog, `--delete ID`
/// removes one (ids as `devlog show` lists them; a unique prefix is enough)
#[derive(Debug, Args)]
pub struct LogTimeArgs {
    /// Handle (#42 or 42), id, id prefix, key, or original devlog id
    pub entry: String,
    /// How long: 1h30m, 90m, 1.5h or 2h (at most 24h per worklog); with --edit, the new duration
    pub duration: Option<String>,
    /// The day the time was spent: YYYY-MM-DD, today, yesterday or -3d (default today, UTC)
    #[arg(long)]
    pub date: Option<String>,
    /// What the time went into
    #[arg(long, short = 'm')]
    pub note: Option<String>,
    /// Change this worklog (id or unique prefix) instead of logging a new one
    #[arg(long, value_name = "WORKLOG_ID", conflicts_with = "delete")]
    pub edit: Option<String>,
    /// Remove this worklog (id or unique prefix)
    #[arg(long, value_name = "WORKLOG_ID", conflicts_with_all = ["duration", "date", "note"])]
    pub delete: Option<String>,
}

pub async fn run(ctx: &Ctx, a: LogTimeArgs) -> Result<(), CliError> {
    let app = ctx.app().await?;
    let target = app.resolve_summary(&a.entry).await?;
    let meta = ctx.meta();
    let (e, log, verb) = match (a.edit, a.delete) {
        (Some(w), _) => {
            let edit = WorklogEdit {
                duration: a.duration,
                date: a.date,
                note: a.note,
            };
            let (e, log) = app.edit_worklog(target.id, &w, edit, &meta).await?;
            (e, log, "Changed worklog")
        }
        (None, Some(w)) => {
            let (e, log) = app.delete_worklog(target.id, &w, &meta).await?;
            (e, log, "Removed worklog")
        }
        (None, None) => {
            let Some(duration) = a.duration else {
                return Err(CliError::Usage(
                    "give how long, e.g. `devlog log-time 42 1h30m` (or --edit/--delete \
                     WORKLOG_ID)"
                        .into(),
                ));
            };
            let input = NewWorklog {
                duration,
                date: a.date,
                note: a.note.unwrap_or_default(),
                author: None,
            };
            let (e, log) = app.log_time(target.id, input, &meta).await?;
            (e, log, "Logged")
        }
    };
    if ctx.out.json {
        ctx.out
            .json(&serde_json::json!({ "worklog": log, "entry": e }))?;
        return Ok(());
    }
    write_stdout(&format!(
        "{verb} {} ({}) on {} {} ({}); {} in all\n",
        format_minutes(log.minutes.into()),
        short(&log.id),
        ctx.out.bold(&e.handle_str()),
        e.title,
        log.date,
        format_minutes(logged_minutes(&e))
    ))?;
    Ok(())
}

/// The worklogs section of `devlog show`: one line per worklog and the sum.
pub fn worklog_section(out: &Out, e: &Entry) -> String {
    if e.worklogs.is_empty() {
        return String::new();
    }
    let mut s = format!(
        "\n{}\n",
        out.bold(&format!(
            "Worklogs ({}, {} in all)",
            e.worklogs.len(),
            format_minutes(logged_minutes(e))
        ))
    );
    for w in &e.worklogs {
        let who = if w.author.is_empty() {
            String::new()
        } else {
            format!(" @{}", w.author)
        };
        let note = if w.note.is_empty() {
            String::new()
        } else {
            format!("  {}", w.note)
        };
        s.push_str(&format!(
            "{} {} {:>6}{}{}\n",
            out.dim(short(&w.id)),
            out.dim(&w.date.to_string()),
            format_minutes(w.minutes.into()),
            out.dim(&who),
            note
        ));
    }
    s
}

/// The due date and milestone lines of `devlog show` (`due: 2026-12-24 (overdue)`).
pub fn plan_lines(out: &Out, e: &Entry) -> String {
    let mut s = String::new();
    if let Some(d) = e.due_date {
        let today = devlog_core::planning::today(&devlog_core::SystemClock);
        let days = (d - today).num_days();
        let when = match days {
            _ if e.status.is_closed() => String::new(),
            0 => " (today)".into(),
            1 => " (tomorrow)".into(),
            n if n > 1 => format!(" (in {n} days)"),
            n => out.bold(&format!(" (overdue by {} days)", -n)),
        };
        s.push_str(&format!("due: {d}{when}\n"));
    }
    if let Some(m) = &e.milestone {
        s.push_str(&format!("milestone: {m}\n"));
    }
    s
}
