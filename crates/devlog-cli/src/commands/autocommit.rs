//! Auto-commit for the long-running frontends, `devlog mcp` and `devlog serve`: the same rule
//! as after a CLI command (`git::commit_pending`: `.devlog/` and nothing else, the configured
//! message), batched. A watcher follows the store's change feed, so every write counts however
//! it arrived (MCP tools, the REST API, webhooks, sync); it commits once no entry has changed
//! for `integrations.git.autoCommitDelaySeconds`, and once more when the frontend stops. A
//! burst of writes is one commit.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use devlog_core::Store;
use devlog_git::GitConfig;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::error::CliError;
use crate::workspace::Workspace;

/// How often the change feed is read.
const POLL: Duration = Duration::from_secs(1);
/// Events read per feed page.
const PAGE: usize = 500;
/// `{summary}` is `update #<handle> <title>` for one entry, `update <n> entries` for several.
const VERB: &str = "update";

/// A running watcher; [`AutoCommit::finish`] commits what is pending and stops it.
#[derive(Debug)]
pub struct AutoCommit {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl AutoCommit {
    /// Starts watching `store` when `[integrations.git]` turns auto-commit on; `None` when it
    /// is off. Without a git repository around `.devlog` the session runs without it, and
    /// says so on stderr.
    pub async fn start(ws: &Workspace, store: Arc<dyn Store>) -> Result<Option<Self>, CliError> {
        let cfg = super::git::git_config(ws)?;
        if !cfg.enabled || !cfg.auto_commit {
            return Ok(None);
        }
        if let Err(e) = devlog_git::Repo::discover(&ws.devlog_dir) {
            eprintln!(
                "warning: auto-commit (integrations.git.autoCommit) is off for this session: {e}"
            );
            return Ok(None);
        }
        // Only changes from now on: what was pending before is the user's to commit.
        let cursor = devlog_server::feed::tail(store.as_ref()).await?;
        let (stop, stopped) = oneshot::channel();
        let watcher = Watcher {
            store,
            devlog_dir: ws.devlog_dir.clone(),
            delay: Duration::from_secs(cfg.auto_commit_delay_seconds),
            cfg,
            cursor,
        };
        let task = tokio::spawn(watcher.run(stopped));
        Ok(Some(Self { stop, task }))
    }

    /// Commits the changes not committed yet, and stops watching.
    pub async fn finish(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

struct Watcher {
    store: Arc<dyn Store>,
    devlog_dir: PathBuf,
    cfg: GitConfig,
    delay: Duration,
    /// The last change-feed event seen.
    cursor: u64,
}

impl Watcher {
    async fn run(mut self, mut stopped: oneshot::Receiver<()>) {
        let mut tick = tokio::time::interval(POLL.min(self.delay.max(Duration::from_millis(200))));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // When the last change not committed yet was seen.
        let mut changed: Option<Instant> = None;
        loop {
            // A dropped sender stops the watcher too (after a last commit).
            let stopping = tokio::select! {
                _ = &mut stopped => true,
                _ = tick.tick() => false,
            };
            match self.read_feed().await {
                Ok(true) => changed = Some(Instant::now()),
                Ok(false) => {}
                Err(e) => tracing::warn!("auto-commit cannot read the change feed: {e}"),
            }
            if changed.is_some_and(|at| stopping || at.elapsed() >= self.delay) {
                changed = None;
                self.commit().await;
            }
            if stopping {
                return;
            }
        }
    }

    /// Reads the feed after the cursor; whether there was anything new.
    async fn read_feed(&mut self) -> devlog_core::Result<bool> {
        let mut any = false;
        loop {
            let events = self.store.events(self.cursor, PAGE).await?;
            let Some(last) = events.last() else {
                return Ok(any);
            };
            self.cursor = last.seq;
            any = true;
            if events.len() < PAGE {
                return Ok(any);
            }
        }
    }

    async fn commit(&self) {
        let dir = self.devlog_dir.clone();
        let cfg = self.cfg.clone();
        let done =
            tokio::task::spawn_blocking(move || super::git::commit_pending(&dir, &cfg, VERB)).await;
        match done {
            Ok(Ok(Some((id, message)))) => {
                eprintln!("Committed .devlog ({}): {message}", &id[..id.len().min(8)]);
            }
            Ok(Ok(None)) => {}
            Ok(Err(e)) => eprintln!(
                "warning: the changes are saved, but auto-commit (integrations.git.autoCommit) \
                 failed: {e}"
            ),
            Err(e) => eprintln!("warning: auto-commit stopped: {e}"),
        }
    }
}
