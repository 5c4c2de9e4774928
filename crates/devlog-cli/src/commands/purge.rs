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
    #[arg(long, value_parser = parse_time, required_unless_present_any = ["retention", "scheduled"], conflicts_with_all = ["retention", "scheduled"])]
    pub before: Option<Timestamp>,
    /// Only these statuses (done, closed; default both)
    #[arg(long, short = 's', value_delimiter = ',')]
    pub status: Vec<Status>,
    /// Apply the `[retention]` policy of devlog.toml (closedAfterDays)
    #[arg(long)]
    pub retention: bool,
    /// The scheduled run of the `[retention]` policy, for cron: no --yes needed, and
    /// nothing to do (exit 0) when devlog.toml sets no policy. Recorded in the audit log as
    /// scheduled; `serve` and `worker` run it once a day themselves
    #[arg(long, conflicts_with_all = ["retention", "dry_run", "status"])]
    pub scheduled: bool,
    /// Show what would be removed; remove nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Required to remove (not needed with --dry-run)
    #[arg(long)]
    pub yes: bool,
}

pub async fn run(ctx: &Ctx, a: PurgeArgs) -> Result<(), CliError> {
    let ws = ctx.workspace()?;
    if a.scheduled {
        let Some(policy) = &ws.config.retention else {
            write_stdout("no [retention] policy in devlog.toml: nothing to purge\n")?;
            return Ok(());
        };
        let store = ws.open().await?;
        let out = scheduled(&store, policy, &ctx.meta()).await?;
        super::audit::checkpoint_after_batch(ctx, &*store).await;
        return print(ctx, &out);
    }
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
    let store = ws.open().await?;
    let app = devlog_core::Devlog::new(store.clone());
    let out = app.purge(&criteria, a.dry_run, &ctx.meta()).await?;
    if !a.dry_run {
        super::audit::checkpoint_after_batch(ctx, &*store).await;
    }
    print(ctx, &out)
}

/// One scheduled run of the retention policy (`purge --scheduled`, and `serve` / `worker`
/// once a day): recorded in the audit log as scheduled.
pub async fn scheduled(
    store: &std::sync::Arc<dyn devlog_core::store::Store>,
    policy: &devlog_core::retention::Retention,
    meta: &devlog_core::event::WriteMeta,
) -> Result<PurgeOutcome, CliError> {
    let criteria = policy.criteria(SystemClock.now());
    criteria.validate()?;
    let app = devlog_core::Devlog::new(store.clone());
    Ok(app.purge_run(&criteria, false, true, meta).await?)
}

/// How often `serve` and `worker` apply the retention policy.
pub const RETENTION_EVERY: std::time::Duration = std::time::Duration::from_secs(24 * 60 * 60);

/// How often `serve` and `worker` sign a checkpoint over new audit records.
pub const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// The background duties of a long-running process (`serve`, `worker`): the retention policy
/// once a day (the first run at start), and a signed audit checkpoint each minute when
/// records were added. Errors are reported and retried on the next tick, never fatal. Both
/// are recorded with the process's `origin` (`http` for `serve`, `sync` for `worker`).
pub fn spawn_housekeeping(
    ctx: &Ctx,
    store: std::sync::Arc<dyn devlog_core::store::Store>,
    retention: Option<devlog_core::retention::Retention>,
    who: &'static str,
    origin: devlog_core::event::Origin,
) -> tokio::task::JoinHandle<()> {
    let ctx = ctx.clone();
    tokio::spawn(async move {
        let meta = devlog_core::event::WriteMeta::new(origin)
            .with_actor(Some(ctx.actor.clone().unwrap_or_else(|| who.to_string())));
        let mut checkpoints = tokio::time::interval(CHECKPOINT_EVERY);
        let mut purges = tokio::time::interval(RETENTION_EVERY);
        loop {
            tokio::select! {
                _ = checkpoints.tick() => {
                    super::audit::checkpoint_as(&ctx, &*store, origin).await;
                }
                _ = purges.tick(), if retention.is_some() => {
                    let policy = retention.as_ref().expect("checked by the branch's guard");
                    match scheduled(&store, policy, &meta).await {
                        Ok(out) if !out.purged.is_empty() => eprintln!(
                            "{who}: retention purged {} closed before {}",
                            count(out.purged.len(), "entry", "entries"),
                            out.criteria.before
                        ),
                        Ok(_) => {}
                        Err(e) => eprintln!("{who}: the scheduled retention purge failed: {e}"),
                    }
                }
            }
        }
    })
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
