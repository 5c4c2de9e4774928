//! Background sync: N workers in one process share the durable job queue (`devlog worker`,
//! `devlog serve`, `devlog sync --watch`).
//!
//! Each worker loops: enqueue new change-feed events, claim due jobs one at a time and push
//! them (`SyncEngine::push_next`, under the job's lease, so workers of other processes and
//! hosts can share the queue), then sleep until something may have changed:
//! - the process's wake-up (`Notify`): webhooks applied, writes through this process;
//! - the change feed ([`FeedWatch`]): PostgreSQL's `LISTEN/NOTIFY`, else polling its end;
//! - the next job retry falling due, or the pull interval.
//!
//! Pollers ([`Poller`]) run in worker 0 right after its pulls, on the same schedule: remote
//! objects that no pull delivers and whose webhook may never come (Azure DevOps pipeline runs
//! an entry follows).
//!
//! Pulls run in worker 0 only (one pull per integration at a time in this process; the pull
//! cursor is advanced only after each page is applied, so a pull by another process at the
//! same time applies some pages twice, which merging makes harmless). Enqueueing is done by
//! whichever worker gets to it first (a second one would find no new events). Shutdown is
//! graceful: a worker finishes the job in hand, records it, and stops.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use devlog_core::id::EntryId;
use devlog_store::feed_watch::FeedWatch;
use serde::Serialize;
use tokio::sync::{Mutex, Notify, watch};

use crate::engine::{SyncEngine, SyncReport};

/// The worker loop fails as the engine does.
type Result<T, E = crate::engine::EngineError> = std::result::Result<T, E>;

/// How the workers run.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// Workers in this process (at least 1).
    pub workers: usize,
    /// How often worker 0 pulls every integration (also the longest sleep of an idle worker).
    pub interval: Duration,
    /// How often the change feed's end is read on backends without notifications.
    pub feed_poll: Duration,
    /// Pull once, push every due job, and return (no sleeping, no waiting for retries).
    pub once: bool,
    /// The process's change-feed watcher, when it has one already (`devlog serve` shares its
    /// event streams' one); else the workers start their own with `feed_poll`.
    pub feed: Option<FeedWatch>,
    /// Polled by worker 0 after each pull of every integration (and once with `once`).
    pub pollers: Vec<Arc<dyn Poller>>,
}

/// Work done on the pull schedule beside the pulls: remote objects an entry follows that no
/// pull delivers and whose webhook may never come (Azure DevOps pipeline runs: devlog-cli's
/// `commands/ado.rs`, the poll `devlog ado runs` makes once). A poller applies what it finds
/// through the engine (so each change is applied once, also when a webhook reports it too).
#[async_trait]
pub trait Poller: Send + Sync + fmt::Debug {
    /// What is polled, for messages (`azure-devops runs`).
    fn name(&self) -> String;

    /// One poll: applies what it finds with `engine` and counts it in `report`
    /// (`actions_applied`; `notes` for what the user should know).
    async fn poll(&self, engine: &SyncEngine, report: &mut SyncReport) -> Result<()>;
}

impl Default for WorkerOptions {
    fn default() -> Self {
        Self {
            workers: 1,
            interval: Duration::from_secs(60),
            feed_poll: devlog_store::feed_watch::DEFAULT_POLL,
            once: false,
            feed: None,
            pollers: Vec::new(),
        }
    }
}

/// What the workers report as they go (`devlog worker` prints one line per event).
#[derive(Debug, Clone, Serialize)]
#[serde(
    rename_all = "camelCase",
    rename_all_fields = "camelCase",
    tag = "event"
)]
pub enum WorkerEvent {
    /// The workers started.
    Started {
        workers: usize,
        interval_ms: u64,
        /// How changes by other processes are noticed.
        wake: String,
    },
    /// A pull of one integration finished.
    Pulled {
        worker: usize,
        integration: String,
        pulled: u64,
        applied: u64,
        conflicts: u64,
        actions_applied: u64,
    },
    /// New change-feed events became jobs.
    Enqueued { worker: usize, jobs: u64 },
    /// One job ran.
    Pushed {
        worker: usize,
        integration: String,
        job: i64,
        entry_id: EntryId,
        /// `created`, `recovered`, `updated`, `unchanged`, `notes` or `failed`.
        outcome: &'static str,
        /// Why it failed, when it did (it is retried later or dead-lettered).
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// A worker has nothing to do and sleeps until woken, at most `sleep_ms`.
    Idle { worker: usize, sleep_ms: u64 },
    /// Something the user should know (a rebuilt change feed, a paused integration).
    Note { worker: usize, message: String },
    /// A step failed; the worker goes on after a pause.
    Failed { worker: usize, message: String },
    /// The workers stopped; what they did in total.
    Stopped { report: SyncReport },
}

/// Receives the workers' events.
pub type EventSink = Arc<dyn Fn(&WorkerEvent) + Send + Sync>;

/// How long a worker waits after a failed step (the store or the sync state unavailable).
const AFTER_FAILURE: Duration = Duration::from_secs(5);

/// The shortest sleep when a retry is already due but could not be claimed (the integration
/// is paused, or another process holds the job): no busy loop.
const MIN_SLEEP: Duration = Duration::from_millis(500);

struct Shared {
    engine: Arc<SyncEngine>,
    opts: WorkerOptions,
    wake: Arc<Notify>,
    on_event: EventSink,
    enqueue: Mutex<()>,
    total: std::sync::Mutex<SyncReport>,
}

impl Shared {
    fn emit(&self, e: WorkerEvent) {
        (self.on_event)(&e);
    }

    fn absorb(&self, r: &SyncReport) {
        let mut t = self
            .total
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        add(&mut t, r);
    }

    /// Pulls every integration, then runs the pollers (worker 0's job).
    async fn pull_all(&self, worker: usize) {
        for i in self.engine.integrations().to_vec() {
            let name = i.descriptor().name;
            let mut r = SyncReport::default();
            match self.engine.pull(&i, &mut r).await {
                Ok(()) => {
                    for p in &r.paused {
                        self.emit(WorkerEvent::Note {
                            worker,
                            message: format!("paused: {p}"),
                        });
                    }
                    // Milestones created from the remote, conflicts a rule settled.
                    for n in &r.notes {
                        self.emit(WorkerEvent::Note {
                            worker,
                            message: n.clone(),
                        });
                    }
                    self.emit(WorkerEvent::Pulled {
                        worker,
                        integration: name,
                        pulled: r.pulled,
                        applied: r.applied,
                        conflicts: r.conflicts,
                        actions_applied: r.actions_applied,
                    });
                }
                Err(e) => {
                    let message = format!("{name} pull: {e}");
                    r.failed.push(message.clone());
                    self.emit(WorkerEvent::Failed { worker, message });
                }
            }
            self.absorb(&r);
        }
        for p in self.opts.pollers.clone() {
            let mut r = SyncReport::default();
            match p.poll(&self.engine, &mut r).await {
                Ok(()) => {
                    for n in &r.notes {
                        self.emit(WorkerEvent::Note {
                            worker,
                            message: n.clone(),
                        });
                    }
                }
                Err(e) => {
                    let message = format!("{}: {e}", p.name());
                    r.failed.push(message.clone());
                    self.emit(WorkerEvent::Failed { worker, message });
                }
            }
            self.absorb(&r);
        }
    }

    /// Turns new feed events into jobs, unless another worker is doing it right now.
    async fn enqueue(&self, worker: usize) -> Result<()> {
        let Ok(_one) = self.enqueue.try_lock() else {
            return Ok(());
        };
        let mut notes = Vec::new();
        let n = self.engine.enqueue_noting(&mut notes).await?;
        for message in notes {
            self.emit(WorkerEvent::Note { worker, message });
        }
        if n > 0 {
            self.emit(WorkerEvent::Enqueued { worker, jobs: n });
            self.absorb(&SyncReport {
                enqueued: n,
                ..SyncReport::default()
            });
        }
        Ok(())
    }

    /// Pushes due jobs until none is left or shutdown begins.
    async fn push_due(&self, worker: usize, shutdown: &watch::Receiver<bool>) -> Result<()> {
        while !*shutdown.borrow() {
            let mut r = SyncReport::default();
            let Some(job) = self.engine.push_next(&mut r).await? else {
                break;
            };
            let outcome = if !r.failed.is_empty() {
                "failed"
            } else if r.created > 0 {
                "created"
            } else if r.recovered > 0 {
                "recovered"
            } else if r.updated > 0 {
                "updated"
            } else if r.notes_pushed > 0 {
                "notes"
            } else {
                "unchanged"
            };
            self.emit(WorkerEvent::Pushed {
                worker,
                integration: job.integration.clone(),
                job: job.id,
                entry_id: job.entry_id,
                outcome,
                error: r.failed.first().cloned(),
            });
            self.absorb(&r);
        }
        Ok(())
    }

    /// How long an idle worker sleeps: until the next retry is due, at most the interval.
    async fn idle_for(&self, until_pull: Option<Duration>) -> Duration {
        let mut sleep = until_pull.unwrap_or(self.opts.interval);
        if let Ok(Some(due)) = self.engine.next_due().await {
            let now = self.engine.clock().now().millis();
            let wait = Duration::from_millis(u64::try_from(due - now).unwrap_or(0));
            sleep = sleep.min(wait.max(MIN_SLEEP));
        }
        sleep
    }
}

/// Runs `opts.workers` sync workers over `engine` until `shutdown` turns `true` (or, with
/// `opts.once`, until no job is due), and returns what they did. `wake` wakes idle workers
/// (`notify_waiters`): poke it after a webhook is applied or a write this process made.
pub async fn run_workers(
    engine: Arc<SyncEngine>,
    opts: WorkerOptions,
    wake: Arc<Notify>,
    shutdown: watch::Receiver<bool>,
    on_event: EventSink,
) -> Result<SyncReport> {
    let workers = opts.workers.max(1);
    let feed = match &opts.feed {
        Some(f) => f.clone(),
        None => FeedWatch::start(engine.store().clone(), opts.feed_poll),
    };
    let shared = Arc::new(Shared {
        engine,
        opts,
        wake,
        on_event,
        enqueue: Mutex::new(()),
        total: std::sync::Mutex::new(SyncReport::default()),
    });
    shared.emit(WorkerEvent::Started {
        workers,
        interval_ms: u64::try_from(shared.opts.interval.as_millis()).unwrap_or(u64::MAX),
        wake: feed.source().to_string(),
    });
    // Pull before the first push, as `devlog sync` does: remote changes are merged first.
    shared.pull_all(0).await;
    if let Err(e) = shared.enqueue(0).await {
        if shared.opts.once {
            return Err(e);
        }
        // A long-running worker outlives a store that is briefly unavailable: its loop
        // enqueues again.
        shared.emit(WorkerEvent::Failed {
            worker: 0,
            message: e.to_string(),
        });
    }
    let mut tasks = tokio::task::JoinSet::new();
    for k in 0..workers {
        let shared = shared.clone();
        let shutdown = shutdown.clone();
        let feed = feed.clone();
        tasks.spawn(async move { worker(shared, k, feed, shutdown).await });
    }
    let mut first_error = None;
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                first_error.get_or_insert(e);
            }
            Err(e) => tracing::error!("a sync worker panicked: {e}"),
        }
    }
    let report = shared
        .total
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    shared.emit(WorkerEvent::Stopped {
        report: report.clone(),
    });
    match first_error {
        Some(e) => Err(e),
        None => Ok(report),
    }
}

async fn worker(
    shared: Arc<Shared>,
    k: usize,
    mut feed: FeedWatch,
    mut shutdown: watch::Receiver<bool>,
) -> Result<()> {
    if shared.opts.once {
        // `--once`: a failure ends the run with its error (the caller reports it).
        return shared.push_due(k, &shutdown).await;
    }
    let mut next_pull = tokio::time::Instant::now() + shared.opts.interval;
    loop {
        if *shutdown.borrow() {
            return Ok(());
        }
        // Registered before the work, so a wake-up during it is not lost.
        let wake = shared.wake.clone();
        let woken = wake.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        if k == 0 && tokio::time::Instant::now() >= next_pull {
            shared.pull_all(k).await;
            next_pull = tokio::time::Instant::now() + shared.opts.interval;
        }
        let step = async {
            shared.enqueue(k).await?;
            shared.push_due(k, &shutdown).await
        };
        let pause = match step.await {
            Ok(()) => {
                let until_pull = (k == 0)
                    .then(|| next_pull.saturating_duration_since(tokio::time::Instant::now()));
                shared.idle_for(until_pull).await
            }
            Err(e) => {
                shared.emit(WorkerEvent::Failed {
                    worker: k,
                    message: e.to_string(),
                });
                AFTER_FAILURE
            }
        };
        shared.emit(WorkerEvent::Idle {
            worker: k,
            sleep_ms: u64::try_from(pause.as_millis()).unwrap_or(u64::MAX),
        });
        tokio::select! {
            () = &mut woken => {}
            () = feed.changed() => {}
            () = tokio::time::sleep(pause) => {}
            _ = shutdown.changed() => {}
        }
    }
}

/// Adds `r`'s counts to `total`.
fn add(total: &mut SyncReport, r: &SyncReport) {
    total.enqueued += r.enqueued;
    total.created += r.created;
    total.recovered += r.recovered;
    total.updated += r.updated;
    total.unchanged += r.unchanged;
    total.pulled += r.pulled;
    total.applied += r.applied;
    total.conflicts += r.conflicts;
    total.notes_pushed += r.notes_pushed;
    total.actions_applied += r.actions_applied;
    total.failed.extend(r.failed.iter().cloned());
    total.paused.extend(r.paused.iter().cloned());
    total.notes.extend(r.notes.iter().cloned());
    total.settled.extend(r.settled.iter().cloned());
}
