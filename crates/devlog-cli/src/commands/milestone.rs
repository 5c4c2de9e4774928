//! `devlog milestone`: named targets that entries are grouped under, with their progress.

use clap::{Args, Subcommand};
use devlog_core::planning::{MilestoneProgress, MilestoneState, NewMilestone};

use super::Ctx;
use crate::error::CliError;
use crate::output::{Table, write_stdout};

/// Milestones: create, list with progress, show with their entries, close and reopen
#[derive(Debug, Args)]
pub struct MilestoneArgs {
    #[command(subcommand)]
    pub command: MilestoneCommand,
}

#[derive(Debug, Subcommand)]
pub enum MilestoneCommand {
    /// Create a milestone (names are compared by their letters and digits: `v1.0` = `V1-0`)
    New(NewArgs),
    /// Open milestones with progress (done/total, overdue entries); --all adds closed ones
    #[command(alias = "ls")]
    List(ListArgs),
    /// A milestone, its progress and its entries
    Show(NameArgs),
    /// Close a milestone (its entries keep it; no new entries join it)
    Close(NameArgs),
    /// Reopen a closed milestone
    Reopen(NameArgs),
}

#[derive(Debug, Args)]
pub struct NewArgs {
    pub name: String,
    /// Due date: YYYY-MM-DD, today, tomorrow, friday, +3d, +2w or next week
    #[arg(long)]
    pub due: Option<String>,
    #[arg(long, short = 'd', default_value = "")]
    pub description: String,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Include closed milestones
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Args)]
pub struct NameArgs {
    pub name: String,
    /// At most this many entries (show)
    #[arg(long, short = 'n', default_value_t = 100)]
    pub limit: usize,
}

pub async fn run(ctx: &Ctx, a: MilestoneArgs) -> Result<(), CliError> {
    // `milestone new` starts a devlog here like `devlog new` does; the rest need one.
    let app = match &a.command {
        MilestoneCommand::New(_) => {
            devlog_core::Devlog::new(ctx.workspace_or_create()?.open().await?)
        }
        _ => ctx.app().await?,
    };
    match a.command {
        MilestoneCommand::New(n) => {
            let m = app
                .create_milestone(NewMilestone {
                    name: n.name,
                    description: n.description,
                    due: n.due,
                })
                .await?;
            if ctx.out.json {
                ctx.out.json(&m)?;
            } else {
                let due = m.due_date.map(|d| format!(", due {d}")).unwrap_or_default();
                write_stdout(&format!(
                    "Created milestone {}{due}\n",
                    ctx.out.bold(&m.name)
                ))?;
            }
        }
        MilestoneCommand::List(l) => {
            let all = app.list_milestones(l.all).await?;
            if ctx.out.json {
                ctx.out.json(&all)?;
            } else if all.is_empty() {
                write_stdout(if l.all {
                    "No milestones yet: `devlog milestone new NAME` creates one.\n"
                } else {
                    "No open milestones (--all includes closed ones).\n"
                })?;
            } else {
                let mut t = Table::header(
                    &ctx.out,
                    &["MILESTONE", "STATE", "DUE", "PROGRESS", "OVERDUE"],
                );
                for p in &all {
                    let due = p
                        .milestone
                        .due_date
                        .map(|d| d.to_string())
                        .unwrap_or_default();
                    let due_shown = if p.late {
                        ctx.out.bold(&format!("{due} late"))
                    } else {
                        due.clone()
                    };
                    let progress = progress(p);
                    let overdue = p.overdue.to_string();
                    t.row(vec![
                        (ctx.out.bold(&p.milestone.name), p.milestone.name.clone()),
                        (p.milestone.state.to_string(), p.milestone.state.to_string()),
                        (due_shown, due),
                        (progress.clone(), progress),
                        (overdue.clone(), overdue),
                    ]);
                }
                write_stdout(&t.render())?;
            }
        }
        MilestoneCommand::Show(n) => {
            let m = app.find_milestone(&n.name).await?;
            let p = app.milestone_progress(m).await?;
            let entries = app.milestone_entries(&p.milestone.name, 0, n.limit).await?;
            if ctx.out.json {
                ctx.out.json(&serde_json::json!({
                    "milestone": p,
                    "entries": entries.items,
                    "totalEntries": entries.total,
                }))?;
                return Ok(());
            }
            let mut s = format!(
                "{} [{}] {}{}\n",
                ctx.out.bold(&p.milestone.name),
                p.milestone.state,
                progress(&p),
                p.milestone
                    .due_date
                    .map(|d| format!(", due {d}{}", if p.late { " (late)" } else { "" }))
                    .unwrap_or_default()
            );
            if !p.milestone.description.is_empty() {
                s.push_str(&format!("{}\n", p.milestone.description));
            }
            if entries.items.is_empty() {
                s.push_str("No entries yet: `devlog edit REF --milestone NAME` adds one.\n");
            } else {
                s.push('\n');
                s.push_str(&super::list::summary_table(&ctx.out, &entries.items));
            }
            write_stdout(&s)?;
        }
        MilestoneCommand::Close(n) => set_state(ctx, &app, &n.name, MilestoneState::Closed).await?,
        MilestoneCommand::Reopen(n) => set_state(ctx, &app, &n.name, MilestoneState::Open).await?,
    }
    Ok(())
}

async fn set_state(
    ctx: &Ctx,
    app: &devlog_core::Devlog,
    name: &str,
    state: MilestoneState,
) -> Result<(), CliError> {
    let m = app.set_milestone_state(name, state).await?;
    if ctx.out.json {
        ctx.out.json(&m)?;
    } else {
        write_stdout(&format!(
            "Milestone {} is {}\n",
            ctx.out.bold(&m.name),
            m.state
        ))?;
    }
    Ok(())
}

/// `3/5 done (60%)`.
fn progress(p: &MilestoneProgress) -> String {
    if p.total == 0 {
        return "0/0 done".into();
    }
    format!(
        "{}/{} done ({:.0}%)",
        p.done,
        p.total,
        p.done as f64 / p.total as f64 * 100.0
    )
}
