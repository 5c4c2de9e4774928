//! `devlog watch`: a background watcher of the JSON store's entries folder that short
//! commands can trust instead of scanning it (issue 15, target 3), like `git fsmonitor--daemon`.
//!
//! The watcher is the one `serve`, `mcp` and `worker` run (`devlog_store::fsmonitor`: a lock
//! in `.devlog/.state/fsmonitor/`, cookies answered through inotify's ordered queue); `devlog
//! watch run` is a process that does nothing else. `start` runs it in the background,
//! `[storage] watch = "auto"` makes any command start it when none runs. It is never needed:
//! without it commands scan the folder. It ends when `stop` removes its pid file, when it has
//! vouched for no command for `--idle-exit`, and as soon as the `.devlog` folder is gone.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use devlog_store::fsmonitor;

use super::Ctx;
use super::worker::parse_interval;
use crate::error::CliError;
use crate::output::write_stdout;
use crate::workspace::Workspace;

/// Watch the JSON store's entries folder in the background, so commands skip their scan
#[derive(Debug, Args)]
pub struct WatchArgs {
    #[command(subcommand)]
    pub action: WatchAction,
}

#[derive(Debug, Subcommand)]
pub enum WatchAction {
    /// Start a background watcher (does nothing when a devlog already watches)
    Start(RunArgs),
    /// Stop the background watcher `devlog watch start` (or `watch = "auto"`) started
    Stop,
    /// Whether a devlog watches the entries folder, and whether it answers
    Status,
    /// Watch in the foreground (what `start` runs in the background)
    Run(RunArgs),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Exit after vouching for no command this long: 30m, 2h, ... (default 1h)
    #[arg(long, value_name = "DURATION", value_parser = parse_interval, default_value = "1h")]
    pub idle_exit: Duration,
}

/// The background watcher's pid (only `devlog watch run` writes it; `stop` removes it).
const PID_FILE: &str = "daemon.pid";
/// Its stderr.
const LOG_FILE: &str = "daemon.log";
/// How often `watch run` checks its pid file, the `.devlog` folder and its idle time.
const POLL: Duration = Duration::from_millis(250);
/// How long `start` waits for the new watcher's first answer (its first scan reads every
/// entry file: about a second at 100,000 files on a quiet machine).
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long `stop` waits for the watcher to let go of its lock.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

pub async fn run(ctx: &Ctx, a: WatchArgs) -> Result<(), CliError> {
    let ws = ctx.workspace()?;
    let paths = Paths::of(&ws)?;
    match a.action {
        WatchAction::Start(r) => start(ctx, &ws, &paths, &r).await,
        WatchAction::Stop => stop(ctx, &paths).await,
        WatchAction::Status => status(ctx, &ws, &paths).await,
        WatchAction::Run(r) => foreground(&paths, &r).await,
    }
}

/// Where a JSON workspace's watcher keeps its files.
struct Paths {
    /// The `.devlog` folder.
    root: PathBuf,
    /// `.devlog/.state`.
    state: PathBuf,
    /// `.devlog/.state/fsmonitor`.
    dir: PathBuf,
}

impl Paths {
    fn of(ws: &Workspace) -> Result<Self, CliError> {
        match &ws.spec {
            devlog_store::StoreSpec::Json { root } => Ok(Self::json(root)),
            other => Err(CliError::Usage(format!(
                "devlog watch watches the JSON backend's entry files; the {} backend needs no \
                 watcher (its commands read the database directly)",
                other.name()
            ))),
        }
    }

    fn json(root: &Path) -> Self {
        let state = root.join(".state");
        let dir = state.join(fsmonitor::DIR);
        Self {
            root: root.to_path_buf(),
            state,
            dir,
        }
    }

    /// The pid in the background watcher's pid file.
    fn daemon_pid(&self) -> Option<u32> {
        std::fs::read_to_string(self.dir.join(PID_FILE))
            .ok()
            .and_then(|s| s.trim().parse().ok())
    }
}

#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Status {
    /// Whether a devlog process holds the watcher lock.
    watching: bool,
    /// Its pid, when it wrote one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pid: Option<u32>,
    /// Whether it is the background watcher (`devlog watch start`), not `serve`, `mcp`,
    /// `worker` or `sync --watch`.
    background: bool,
    /// Whether it vouched for the index when asked just now (else commands scan).
    answered: bool,
    /// How long its answer took, in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    answer_ms: Option<f64>,
    /// `[storage] watch` in devlog.toml: `auto` or `off`.
    config: crate::config::WatchMode,
}

async fn current_status(ws: &Workspace, paths: &Paths) -> Status {
    let holder = fsmonitor::watcher(&paths.state);
    let (answered, answer_ms) = if holder.is_some() {
        let t = Instant::now();
        let vouch = fsmonitor::ask(&paths.state, Duration::from_secs(1)).await;
        (
            vouch == fsmonitor::Vouch::Answered,
            Some(t.elapsed().as_secs_f64() * 1000.0),
        )
    } else {
        (false, None)
    };
    let pid = holder.flatten();
    Status {
        watching: holder.is_some(),
        pid,
        background: pid.is_some() && pid == paths.daemon_pid(),
        answered,
        answer_ms: answer_ms.filter(|_| answered),
        config: ws.config.storage.watch,
    }
}

fn describe(s: &Status) -> String {
    if !s.watching {
        return "No devlog watches the entries folder: commands scan it (`devlog watch start` \
                starts a watcher)\n"
            .into();
    }
    let who = match (s.background, s.pid) {
        (true, Some(pid)) => format!("the background watcher (pid {pid})"),
        (false, Some(pid)) => format!("a long-running devlog (pid {pid}: serve, mcp or worker)"),
        (_, None) => "a devlog process".into(),
    };
    match s.answer_ms {
        Some(ms) if s.answered => format!(
            "Watched by {who}; it vouched for the index in {ms:.1} ms, so commands skip their scan\n"
        ),
        _ => format!(
            "Watched by {who}, but it did not answer within 1 s: commands scan the folder until it does\n"
        ),
    }
}

async fn status(ctx: &Ctx, ws: &Workspace, paths: &Paths) -> Result<(), CliError> {
    let s = current_status(ws, paths).await;
    if ctx.out.json {
        ctx.out.json(&s)?;
    } else {
        write_stdout(&describe(&s))?;
    }
    Ok(())
}

async fn start(ctx: &Ctx, ws: &Workspace, paths: &Paths, r: &RunArgs) -> Result<(), CliError> {
    if fsmonitor::watcher(&paths.state).is_none() {
        let mut child = spawn(paths, r.idle_exit)?;
        let started = Instant::now();
        loop {
            if fsmonitor::watcher(&paths.state).is_some()
                && fsmonitor::ask(&paths.state, Duration::from_secs(1)).await
                    == fsmonitor::Vouch::Answered
            {
                break;
            }
            if let Ok(Some(exit)) = child.try_wait() {
                // Another process may have started watching first: that is fine too.
                if fsmonitor::watcher(&paths.state).is_some() {
                    break;
                }
                return Err(CliError::Other(anyhow::anyhow!(
                    "the background watcher exited ({exit}) before it watched: {}",
                    log_tail(paths)
                )));
            }
            if started.elapsed() > START_TIMEOUT {
                return Err(CliError::Other(anyhow::anyhow!(
                    "the background watcher (pid {}) did not answer within {} s; see {}",
                    child.id(),
                    START_TIMEOUT.as_secs(),
                    paths.dir.join(LOG_FILE).display()
                )));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    status(ctx, ws, paths).await
}

/// The last lines the background watcher logged, for an error.
fn log_tail(paths: &Paths) -> String {
    let text = std::fs::read_to_string(paths.dir.join(LOG_FILE)).unwrap_or_default();
    let lines: Vec<&str> = text.lines().rev().take(5).collect();
    if lines.is_empty() {
        return "it logged nothing".into();
    }
    lines.into_iter().rev().collect::<Vec<_>>().join("\n")
}

/// Starts `devlog watch run` in the background (its own process group, so a Ctrl-C in the
/// terminal that started it does not end it; output to `daemon.log`).
fn spawn(paths: &Paths, idle_exit: Duration) -> Result<std::process::Child, CliError> {
    let io = |p: &Path, e: std::io::Error| {
        CliError::Other(anyhow::anyhow!(
            "cannot start a watcher: {}: {e}",
            p.display()
        ))
    };
    if !paths.root.is_dir() {
        return Err(CliError::NoWorkspaceAt(paths.root.clone()));
    }
    std::fs::create_dir_all(&paths.dir).map_err(|e| io(&paths.dir, e))?;
    let log_path = paths.dir.join(LOG_FILE);
    let log = std::fs::File::create(&log_path).map_err(|e| io(&log_path, e))?;
    let exe = std::env::current_exe().map_err(|e| io(Path::new("devlog"), e))?;
    use std::os::unix::process::CommandExt;
    Command::new(&exe)
        .arg("--dir")
        .arg(&paths.root)
        .args(["watch", "run", "--idle-exit"])
        .arg(format!("{}ms", idle_exit.as_millis()))
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .process_group(0)
        .spawn()
        .map_err(|e| io(&exe, e))
}

/// For `[storage] watch = "auto"`: starts a background watcher when none runs (a command
/// that opens the JSON store calls this; it still scans this once). Says so on stderr; a
/// failure is a warning, never the command's error.
pub fn ensure_running(ws: &Workspace) {
    let devlog_store::StoreSpec::Json { root } = &ws.spec else {
        return;
    };
    let paths = Paths::json(root);
    if !paths.root.is_dir() || fsmonitor::watcher(&paths.state).is_some() {
        return;
    }
    match spawn(&paths, Duration::from_secs(3600)) {
        Ok(child) => eprintln!(
            "devlog: started a background watcher of {} (pid {}; storage.watch = \"auto\"; \
             `devlog watch stop` ends it)",
            paths.root.join("entries").display(),
            child.id()
        ),
        Err(e) => eprintln!("warning: {e}; commands scan the entries folder instead"),
    }
}

async fn stop(ctx: &Ctx, paths: &Paths) -> Result<(), CliError> {
    let holder = fsmonitor::watcher(&paths.state);
    let daemon = paths.daemon_pid();
    let stopped = match (holder, daemon) {
        (Some(Some(pid)), Some(d)) if pid == d => {
            std::fs::remove_file(paths.dir.join(PID_FILE)).map_err(|e| {
                CliError::Other(anyhow::anyhow!(
                    "cannot stop the watcher: {}: {e}",
                    paths.dir.join(PID_FILE).display()
                ))
            })?;
            let started = Instant::now();
            while fsmonitor::watcher(&paths.state).flatten() == Some(pid) {
                if started.elapsed() > STOP_TIMEOUT {
                    return Err(CliError::Other(anyhow::anyhow!(
                        "the background watcher (pid {pid}) did not stop within {} s",
                        STOP_TIMEOUT.as_secs()
                    )));
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Some(pid)
        }
        (Some(pid), _) => {
            let who = pid.map_or_else(String::new, |p| format!(" (pid {p})"));
            return Err(CliError::Usage(format!(
                "the entries folder is watched by a long-running devlog{who} (serve, mcp, \
                 worker or sync --watch), not by `devlog watch`: stop that command instead"
            )));
        }
        (None, _) => None,
    };
    if ctx.out.json {
        ctx.out
            .json(&serde_json::json!({ "stopped": stopped.is_some(), "pid": stopped }))?;
    } else {
        write_stdout(&match stopped {
            Some(pid) => format!("Stopped the background watcher (pid {pid})\n"),
            None => "No background watcher runs\n".into(),
        })?;
    }
    Ok(())
}

/// Why `watch run` ended.
fn ended(why: &str) {
    eprintln!("devlog watch: {why}; exiting");
}

async fn foreground(paths: &Paths, r: &RunArgs) -> Result<(), CliError> {
    let store = devlog_store::JsonStore::open_watching(&paths.root).await?;
    let Some(mut answers) = store.watcher_answers() else {
        let why = match fsmonitor::watcher(&paths.state) {
            Some(Some(pid)) => format!("devlog (pid {pid}) already watches the entries folder"),
            Some(None) => "another devlog already watches the entries folder".into(),
            None => "the entries folder cannot be watched (see the log above)".into(),
        };
        ended(&why);
        return Ok(());
    };
    let me = std::process::id();
    let pid_file = paths.dir.join(PID_FILE);
    let written = std::fs::write(&pid_file, format!("{me}\n"));
    if let Err(e) = written {
        return Err(CliError::Other(anyhow::anyhow!(
            "cannot write {}: {e}",
            pid_file.display()
        )));
    }
    eprintln!(
        "devlog watch: watching {} (pid {me}); exits after {} s without a question, on `devlog \
         watch stop`, or when the folder is deleted",
        paths.root.join("entries").display(),
        r.idle_exit.as_secs()
    );
    let mut last_answer = Instant::now();
    loop {
        tokio::time::sleep(POLL).await;
        if !paths.root.is_dir() {
            ended("the .devlog folder is gone");
            return Ok(());
        }
        if paths.daemon_pid() != Some(me) {
            ended("stopped (its pid file was removed or taken over)");
            return Ok(());
        }
        if let Some(n) = store.watcher_answers()
            && n != answers
        {
            answers = n;
            last_answer = Instant::now();
        }
        if last_answer.elapsed() >= r.idle_exit {
            let _ = std::fs::remove_file(&pid_file);
            ended(&format!("no command asked for {} s", r.idle_exit.as_secs()));
            return Ok(());
        }
    }
}
