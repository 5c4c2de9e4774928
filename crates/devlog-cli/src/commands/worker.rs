//! `devlog worker`: background sync in a terminal — N workers that pull on an interval and
//! push local changes as they happen (docs/sync.md, "Background sync and workers"). The same
//! loop serves `devlog sync --watch` and `devlog serve`'s background sync.

use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use devlog_sync::{SyncEngine, WorkerEvent, WorkerOptions};
use tokio::sync::{Notify, watch};

use super::Ctx;
use crate::error::CliError;
use crate::output::{write_raw, write_stdout};

/// The pull interval of `devlog worker` and `devlog sync --watch` without `--interval` or
/// `[sync] interval`.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);

/// Run sync workers: pull on an interval, push local changes as they happen
///
/// Runs N workers in this process that share the durable sync queue with every other devlog
/// process on the same store: worker 0 pulls every integration each interval; all of them
/// claim due jobs and push them. Idle workers wake at once when a change is written (through
/// PostgreSQL notifications, else by reading the change feed every 500 ms), when a failed
/// job's retry is due, and at the next pull. One line per pull, push or failure (JSON lines
/// with --json). Ctrl-C or SIGTERM stops it after the jobs in hand are recorded.
#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// Workers in this process (default: `[sync] workers` in devlog.toml, else 1)
    #[arg(long, short = 'n', value_name = "N", value_parser = clap::value_parser!(u64).range(1..=64))]
    pub workers: Option<u64>,
    /// How often to pull: 30s, 5m, 500ms, ... (default: `[sync] interval`, else 30s)
    #[arg(long, value_name = "DURATION", value_parser = parse_interval)]
    pub interval: Option<Duration>,
    /// Pull once, push every due job, then exit (for cron and CI)
    #[arg(long)]
    pub once: bool,
    /// How long a claimed job stays reserved for its worker: a killed worker's jobs go to the
    /// others after this long (default: `[sync] lease`, else 60s; at least 1s)
    #[arg(long, value_name = "DURATION", value_parser = crate::config::parse_lease)]
    pub lease: Option<Duration>,
}

/// A duration as written on the command line or in devlog.toml: a whole number with a unit
/// `ms`, `s`, `m` or `h` (`30s`, `1m`, `500ms`); a bare number is seconds. At least 100 ms.
pub fn parse_interval(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let bad = || {
        format!("`{s}` is not a duration: write a whole number with ms, s, m or h (30s, 5m, 500ms)")
    };
    let n: u64 = num.parse().map_err(|_| bad())?;
    let d = match unit.trim() {
        "ms" => Duration::from_millis(n),
        "" | "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.checked_mul(60).ok_or_else(bad)?),
        "h" => Duration::from_secs(n.checked_mul(3600).ok_or_else(bad)?),
        _ => return Err(bad()),
    };
    if d < Duration::from_millis(100) {
        return Err(format!(
            "`{s}` is too short: the interval is at least 100ms"
        ));
    }
    if d > Duration::from_secs(7 * 24 * 3600) {
        return Err(format!(
            "`{s}` is too long: the interval is at most a week (168h)"
        ));
    }
    Ok(d)
}

/// `60s`, `1.5s`, `500ms` for messages.
pub fn show_interval(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else if d < Duration::from_secs(1) {
        format!("{}ms", d.as_millis())
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

/// Ctrl-C or SIGTERM, with the handlers installed before this returns: a signal that
/// arrives right after a process announced itself stops it gracefully too.
pub async fn armed_shutdown_signal()
-> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
    let mut signal = Box::pin(devlog_server::shutdown_signal());
    // The first poll installs the handlers.
    let _ = tokio::time::timeout(Duration::ZERO, &mut signal).await;
    signal
}

pub async fn run(ctx: &Ctx, a: WorkerArgs) -> Result<(), CliError> {
    let ws = ctx.workspace()?;
    let opts = WorkerOptions {
        workers: a
            .workers
            .map(|n| usize::try_from(n).unwrap_or(1))
            .or(ws.config.sync.workers)
            .unwrap_or(1),
        interval: a
            .interval
            .or(ws.config.sync.interval)
            .unwrap_or(DEFAULT_INTERVAL),
        once: a.once,
        pollers: super::ado::pollers(&ws),
        ..WorkerOptions::default()
    };
    let strategy = ws.config.sync.strategy.unwrap_or_default();
    let engine = super::sync::engine_for_workers(ctx, strategy, a.lease).await?;
    run_in_terminal(ctx, engine, opts, true).await
}

/// Runs the workers in the foreground: a line (or a JSON line) per event, Ctrl-C/SIGTERM
/// stops them gracefully. `devlog worker` and `devlog sync --watch`.
pub async fn run_in_terminal(
    ctx: &Ctx,
    engine: SyncEngine,
    opts: WorkerOptions,
    schedules: bool,
) -> Result<(), CliError> {
    let ws = ctx.workspace()?;
    let engine = Arc::new(engine);
    let (stop_tx, stop_rx) = watch::channel(false);
    let once = opts.once;
    let stop_on = armed_shutdown_signal().await;
    let signal = tokio::spawn(async move {
        stop_on.await;
        let _ = stop_tx.send(true);
    });
    // Pulls write entries: committed in batches with `integrations.git.autoCommit`.
    let auto_commit = if once {
        None
    } else {
        super::autocommit::AutoCommit::start(&ws, engine.store().clone()).await?
    };
    // Retention once a day and signed audit checkpoints each minute (docs/security.md).
    let housekeeping = (!once).then(|| {
        super::purge::spawn_housekeeping(
            ctx,
            engine.store().clone(),
            ws.config.retention.clone(),
            "devlog worker",
            devlog_core::event::Origin::Sync,
        )
    });
    let json = ctx.out.json;
    let sink: devlog_sync::EventSink = Arc::new(move |e: &WorkerEvent| {
        let _ = if json {
            serde_json::to_string(e)
                .map_err(anyhow::Error::from)
                .and_then(|mut s| {
                    s.push('\n');
                    write_raw(s.as_bytes())
                })
        } else {
            match line(e) {
                Some((text, false)) => write_stdout(&format!("{} {text}\n", clock())),
                Some((text, true)) => {
                    eprintln!("{} {text}", clock());
                    Ok(())
                }
                None => Ok(()),
            }
        };
    });
    // `devlog worker` also runs workflows: those of the writes in the change feed (its pulls,
    // REST, MCP), schedules and unfinished runs; `sync --watch` leaves them to its exit.
    let workflows = if schedules {
        Some(
            super::workflow::spawn_background(
                ws.clone(),
                engine.store().clone(),
                devlog_core::Origin::Sync,
                stop_rx.clone(),
            )
            .await,
        )
    } else {
        None
    };
    let store = engine.store().clone();
    let ran = devlog_sync::run_workers(engine, opts, Arc::new(Notify::new()), stop_rx, sink).await;
    signal.abort();
    if let Some(w) = workflows {
        // The loop ends with the stop signal; after `--once` (no signal) it is stopped here.
        if once {
            w.abort();
        }
        let _ = w.await;
    }
    if let Some(h) = housekeeping {
        h.abort();
    }
    // The remote effects of the run are covered by a signature.
    super::audit::checkpoint_as(ctx, &*store, devlog_core::event::Origin::Sync).await;
    if let Some(auto_commit) = auto_commit {
        auto_commit.finish().await;
    }
    ran?;
    Ok(())
}

fn clock() -> String {
    chrono::Local::now().format("%H:%M:%S").to_string()
}

/// One human line for an event, and whether it goes to stderr (failures).
pub fn line(e: &WorkerEvent) -> Option<(String, bool)> {
    Some(match e {
        WorkerEvent::Started {
            workers,
            interval_ms,
            wake,
        } => (
            format!(
                "{workers} sync worker(s), pulling every {}, woken by {wake}; Ctrl-C stops",
                show_interval(Duration::from_millis(*interval_ms))
            ),
            false,
        ),
        WorkerEvent::Pulled {
            worker,
            integration,
            pulled,
            applied,
            conflicts,
            actions_applied,
        } => {
            if *pulled == 0 && *actions_applied == 0 {
                return None;
            }
            (
                format!(
                    "[{worker}] {integration}: pulled {pulled} change(s), {applied} applied, {conflicts} conflict(s), {actions_applied} comment(s)/move(s)"
                ),
                false,
            )
        }
        WorkerEvent::Enqueued { worker, jobs } => {
            (format!("[{worker}] {jobs} local change(s) queued"), false)
        }
        WorkerEvent::Pushed {
            worker,
            integration,
            entry_id,
            outcome,
            error,
            ..
        } => match error {
            Some(err) => (
                format!("[{worker}] {integration}: push failed: {err}"),
                true,
            ),
            None => (
                format!("[{worker}] {integration}: {} {outcome}", entry_id.short()),
                false,
            ),
        },
        WorkerEvent::Idle { .. } => return None,
        WorkerEvent::Note { worker, message } => (format!("[{worker}] note: {message}"), false),
        WorkerEvent::Failed { worker, message } => (format!("[{worker}] failed: {message}"), true),
        WorkerEvent::Stopped { report } => (
            format!(
                "stopped: {} created, {} updated, {} recovered, {} unchanged, {} pulled, {} failed",
                report.created,
                report.updated,
                report.recovered,
                report.unchanged,
                report.pulled,
                report.failed.len()
            ),
            false,
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals() {
        assert_eq!(parse_interval("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_interval("45").unwrap(), Duration::from_secs(45));
        assert_eq!(parse_interval("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_interval("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_interval(" 1h ").unwrap(), Duration::from_secs(3600));
        for bad in ["", "s", "1.5s", "-1s", "10x", "99999999999999999999h"] {
            assert!(parse_interval(bad).is_err(), "{bad}");
        }
        assert!(parse_interval("50ms").unwrap_err().contains("at least"));
        assert!(parse_interval("169h").unwrap_err().contains("at most"));
        assert_eq!(show_interval(Duration::from_secs(60)), "60s");
        assert_eq!(show_interval(Duration::from_millis(500)), "500ms");
    }
}
