//! `devlog purge`: remove finished entries closed before a date, or by the workspace's
//! `[retention]` policy (devlog-core `retention`; docs/security.md, "Purge and retention").
//! Each removal is recorded in the change feed and the audit log; the audit log itself is
//! never purged.

use clap::Args;
use devlog_core::entry::Status;
use devlog_core::retention::{DEFAULT_STATUSES, PurgeCriteria, PurgeOutcome};
use devlog_core::{Clock, SystemClock, Timestamp};

use super::{Ctx, parse_time};
use crate::error::CliError;
use crate::output::{count, truncate, write_stdout};

/// Remove done and closed entries closed before a date (their notes, worklogs and links go
/// with them; the audit log keeps a record of each removal and is never purged)
#[derive(Debug, Args)]
pub struct PurgeArgs {
    /// Entries closed before this time (YYYY-MM-DD or RFC 3339)
    #[arg(long, value_parser = parse_time, required_unless_present = "retention", conflicts_with = "retention")]
    pub before: Option<Timestamp>,
    /// Only these statuses (done, closed; default both)
    #[arg(long, short = 's', value_delimiter = ',')]
    pub status: Vec<Status>,
    /// Apply the `[retention]` policy of devlog.toml (closedAfterDays)
    #[arg(long)]
    pub retention: bool,
    /// Show what would be removed; remove nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Required to remove (not needed with --dry-run)
    #[arg(long)]
    pub yes: bool,
}

pub async fn run(ctx: &Ctx, a: PurgeArgs) -> Result<(), CliError> {
    let ws = ctx.workspace()?;
    let criteria = match (a.before, a.retention) {
        (_, true) => {
            let Some(policy) = &ws.config.retention else {
                return Err(CliError::Usage(
                    "no [retention] policy in devlog.toml: add `[retention]` with \
                     `closedAfterDays = N`, or give --before DATE"
                        .into(),
                ));
            };
            let mut c = policy.criteria(SystemClock.now());
            if !a.status.is_empty() {
                c.statuses = a.status.clone();
            }
            c
        }
        (Some(before), false) => PurgeCriteria {
            before,
            statuses: if a.status.is_empty() {
                DEFAULT_STATUSES.to_vec()
            } else {
                a.status.clone()
            },
        },
        (None, false) => {
            return Err(CliError::Usage("give --before DATE or --retention".into()));
        }
    };
    criteria.validate()?;
    if !a.dry_run && !a.yes {
        return Err(CliError::Usage(
            "purging removes entries for good: run with --dry-run to see which, then add --yes"
                .into(),
        ));
    }
    let app = devlog_core::Devlog::new(ws.open().await?);
    let out = app.purge(&criteria, a.dry_run, &ctx.meta()).await?;
    print(ctx, &out)
}

fn print(ctx: &Ctx, out: &PurgeOutcome) -> Result<(), CliError> {
    if ctx.out.json {
        return Ok(ctx.out.json(out)?);
    }
    let mut s = String::new();
    for p in &out.purged {
        let unlinked = if p.unlinked.is_empty() {
            String::new()
        } else {
            let hs: Vec<String> = p.unlinked.iter().map(|h| format!("#{h}")).collect();
            format!(" (links removed from {})", hs.join(", "))
        };
        s.push_str(&format!(
            "#{} {} [{}, closed {}]{unlinked}\n",
            p.handle,
            truncate(&p.title, 50),
            p.status,
            p.closed_at
                .map_or_else(|| "(no date)".to_string(), |t| t.to_string())
        ));
    }
    let statuses: Vec<String> = out
        .criteria
        .statuses
        .iter()
        .map(|s| s.to_string())
        .collect();
    s.push_str(&format!(
        "{} {} (status {}; closed before {})\n",
        if out.dry_run { "Would purge" } else { "Purged" },
        count(out.purged.len(), "entry", "entries"),
        statuses.join(", "),
        out.criteria.before
    ));
    write_stdout(&s)?;
    Ok(())
}
