//! `devlog log-time`: record time spent on an entry (a worklog).

use clap::Args;
use devlog_core::Entry;
use devlog_core::planning::{NewWorklog, format_minutes, logged_minutes};

use super::Ctx;
use crate::error::CliError;
use crate::output::{Out, write_stdout};

/// Record time spent on an entry: `devlog log-time 42 1h30m --note "pairing"`. The entry's
/// actual hours become the sum of its worklogs
#[derive(Debug, Args)]
pub struct LogTimeArgs {
    /// Handle (#42 or 42), id, id prefix, key, or original devlog id
    pub entry: String,
    /// How long: 1h30m, 90m, 1.5h or 2h (at most 24h per worklog)
    pub duration: String,
    /// The day the time was spent: YYYY-MM-DD, today, yesterday or -3d (default today, UTC)
    #[arg(long)]
    pub date: Option<String>,
    /// What the time went into
    #[arg(long, short = 'm', default_value = "")]
    pub note: String,
}

pub async fn run(ctx: &Ctx, a: LogTimeArgs) -> Result<(), CliError> {
    let app = ctx.app().await?;
    let target = app.resolve_summary(&a.entry).await?;
    let (e, log) = app
        .log_time(
            target.id,
            NewWorklog {
                duration: a.duration,
                date: a.date,
                note: a.note,
                author: None,
            },
            &ctx.meta(),
        )
        .await?;
    if ctx.out.json {
        ctx.out
            .json(&serde_json::json!({ "worklog": log, "entry": e }))?;
        return Ok(());
    }
    write_stdout(&format!(
        "Logged {} on {} {} ({}); {} in all\n",
        format_minutes(log.minutes.into()),
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
            "{} {:>6}{}{}\n",
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
