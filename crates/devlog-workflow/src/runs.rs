//! Run records: what a workflow run was started by, each step's outcome and output, and how
//! it ended. Kept in the sync state ([`SyncStateStore`]): rows beside the sync jobs (in
//! `sync.sqlite`, or the `sync_workflow_*` tables of a PostgreSQL or MariaDB store), written
//! after every step and leased to the worker executing them like sync jobs, so workers sharing
//! a store share runs: a write runs each workflow once across machines (the claims), `devlog
//! workflow runs` on one machine lists the runs of all, and a run whose worker died is found
//! `running` and resumed by another at the step it was on (`RunStore::unfinished`).
//!
//! A `.devlog/.state/workflow-runs/` folder of the file version is imported once
//! ([`RunStore::import_files`]).

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use devlog_core::sync_state::{SyncStateStore, WorkflowRun};
use devlog_core::{Clock, EntryId, Event, StoreError, SystemClock, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How a run stands: the sync state's type, one for the engine and the store.
pub use devlog_core::sync_state::WorkflowRunState as RunState;

/// A run's id: 12 hex digits.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RunId(String);

impl RunId {
    pub fn random() -> Self {
        let u = uuid::Uuid::new_v4().simple().to_string();
        Self(u[..12].to_string())
    }

    /// A run id as a user typed it: hex digits only.
    pub fn parse(s: &str) -> Result<Self, String> {
        if !s.is_empty() && s.len() <= 32 && s.chars().all(|c| c.is_ascii_hexdigit()) {
            Ok(Self(s.to_ascii_lowercase()))
        } else {
            Err(format!(
                "{s:?} is not a run id (hex digits, as `devlog workflow runs` shows)"
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for RunId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What started a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Cause {
    /// An event of the change feed.
    Event { event: Box<Event> },
    /// `devlog workflow run`.
    Manual {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        actor: Option<String>,
    },
    /// The workflow's schedule: the slot (the time the cron expression named), whether the
    /// run is a late catch-up, and how many slots before it got no run of their own.
    Schedule {
        slot: Timestamp,
        cron: String,
        timezone: String,
        #[serde(default)]
        late: bool,
        #[serde(default)]
        missed: usize,
    },
    /// An integration event (a webhook delivery's event, a sync conflict, a dead job): its
    /// id in the sync state's event log and the `event` value the run saw.
    Integration { id: i64, event: Value },
}

impl std::fmt::Display for Cause {
    /// What started a run, in a few words (`devlog workflow runs`, the dashboard).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = match self {
            Cause::Event { event } => format!(
                "{} #{} by {}",
                event.kind.name(),
                event.handle,
                event.actor.as_deref().unwrap_or("?")
            ),
            Cause::Manual { actor } => format!("manual by {}", actor.as_deref().unwrap_or("?")),
            Cause::Integration { id, event } => format!(
                "{} {} event {id}{}",
                event
                    .get("integration")
                    .and_then(Value::as_str)
                    .unwrap_or("?"),
                event.get("kind").and_then(Value::as_str).unwrap_or("?"),
                event
                    .get("delivery")
                    .and_then(Value::as_str)
                    .map(|d| format!(" (delivery {d})"))
                    .unwrap_or_default()
            ),
            Cause::Schedule {
                slot, late, missed, ..
            } => {
                let mut s = format!("schedule {slot}");
                if *late {
                    s.push_str(" (late: catching up)");
                }
                if *missed > 0 {
                    s.push_str(&format!(" ({missed} missed before it)"));
                }
                s
            }
        };
        f.write_str(&text)
    }
}

impl Cause {
    /// The `event` conditions and templates see for this cause.
    pub fn event_value(&self) -> Value {
        match self {
            Cause::Event { event } => serde_json::to_value(event).unwrap_or(Value::Null),
            Cause::Integration { event, .. } => event.clone(),
            Cause::Manual { actor } => serde_json::json!({"type": "manual", "actor": actor}),
            Cause::Schedule {
                slot,
                cron,
                timezone,
                late,
                missed,
            } => serde_json::json!({
                "type": "schedule", "slot": slot, "cron": cron, "timezone": timezone,
                "late": late, "missed": missed,
            }),
        }
    }
}

/// Where a workflow's schedule stands: the last slot handled (run, skipped or caught up),
/// kept as the sync state's workflow cursor `schedule:<workflow>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleState {
    pub last: Timestamp,
    /// The expression and zone when `last` was written (shown; a changed expression keeps
    /// counting from `last`).
    pub cron: String,
    pub timezone: String,
}

/// One step's record. `path` names the step: `2`, `3.then.0`, `4.each.1.0`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StepRecord {
    pub path: String,
    pub action: String,
    pub state: StepState,
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub output: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The end of the change feed when the step started (a write step's write, if it
    /// happened, is after it: how a resumed run tells whether to repeat the step).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feed_seq: Option<u64>,
    /// How many attempts of the step failed so far (0 when none did).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub attempts: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepState {
    Started,
    Done,
    Failed,
}

/// A workflow run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunRecord {
    pub id: RunId,
    pub workflow: String,
    pub cause: Cause,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry: Option<EntryId>,
    /// How many workflow runs led to this one (0: started by a person's or a sync's write).
    pub depth: u32,
    pub state: RunState,
    pub started_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Timestamp>,
    /// The variables when the run started (`vars:` of the file).
    #[serde(default)]
    pub vars: serde_json::Map<String, Value>,
    pub steps: Vec<StepRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// How many times the run was resumed after its process stopped.
    #[serde(default)]
    pub resumed: u32,
    /// When a parked run (`waiting`, `retrying`) goes on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wake_at: Option<Timestamp>,
}

impl RunRecord {
    pub fn step(&self, path: &str) -> Option<&StepRecord> {
        self.steps.iter().find(|s| s.path == path)
    }

    /// Whether the run is to be resumed as of `now`: running (its process stopped), or
    /// parked with its `wakeAt` passed.
    pub fn is_due(&self, now: Timestamp) -> bool {
        match self.state {
            RunState::Running => true,
            RunState::Waiting | RunState::Retrying => self.wake_at.is_none_or(|t| t <= now),
            _ => false,
        }
    }
}

/// A problem with the run records.
#[derive(Debug, thiserror::Error)]
pub enum RunStoreError {
    #[error("workflow runs: {0}")]
    State(#[from] StoreError),
    #[error("workflow run {id}: no such run (see `devlog workflow runs`)")]
    NotFound { id: String },
    #[error("workflow run {id} is damaged: {message}")]
    Corrupt { id: String, message: String },
    #[error("importing the workflow runs of {dir}: {source}")]
    Import {
        dir: String,
        #[source]
        source: std::io::Error,
    },
}

/// How long a run is leased to the worker executing it; renewed every third of it while the
/// run goes on, so a worker that died is taken over by another within this time (at once by a
/// process of the same host: its pid is gone).
pub const LEASE_MS: i64 = 60_000;

/// The cursor names in the sync state.
const FEED_CURSOR: &str = "feed";
const INTEGRATION_CURSOR: &str = "integration";
const SCHEDULE_PREFIX: &str = "schedule:";

/// The engine's handle on its runs in the sync state: run records, the claims that make a
/// workflow run at most once per write, slot or integration event, the followers' cursors and
/// schedule states, and run leases.
#[derive(Debug, Clone)]
pub struct RunStore {
    state: Arc<dyn SyncStateStore>,
    /// Stamps claims and records (`updated_at`); the engine's clock.
    clock: Arc<dyn Clock>,
    lease_ms: i64,
}

fn wall_ms() -> i64 {
    SystemClock.now().millis()
}

/// This host's name, for lease owners (Linux: the kernel's; elsewhere none is read and only
/// the lease's expiry frees a run).
fn host() -> &'static str {
    static HOST: OnceLock<String> = OnceLock::new();
    HOST.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().replace(':', "_"))
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "unknown-host".into())
    })
}

/// A new lease owner: `<host>:<pid>:<random>` (random per lease, so two runs of one process
/// never share one).
fn new_owner() -> String {
    let r = uuid::Uuid::new_v4().simple().to_string();
    format!("{}:{}:{}", host(), std::process::id(), &r[..8])
}

/// A claim key as stored: letters and digits, the rest `_` (as the file version named its
/// claim files, so imported claims still hold).
fn claim_key(key: &str) -> String {
    key.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

impl RunStore {
    pub fn new(state: Arc<dyn SyncStateStore>) -> Self {
        Self {
            state,
            clock: Arc::new(SystemClock),
            lease_ms: LEASE_MS,
        }
    }

    /// The same runs, stamped by `clock` (the engine's).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The same runs under leases of `lease_ms` (tests of a worker dying).
    pub fn with_lease_ms(mut self, lease_ms: i64) -> Self {
        self.lease_ms = lease_ms;
        self
    }

    /// The sync state the runs live in.
    pub fn state(&self) -> &Arc<dyn SyncStateStore> {
        &self.state
    }

    /// Where the runs live, for messages.
    pub fn describe(&self) -> String {
        self.state.describe()
    }

    /// Claims the run of `workflow` for one write (its change id or event seq), schedule slot
    /// or integration event: true for the first caller only, in this process or another, on
    /// this machine or another sharing the store.
    pub async fn claim(&self, workflow: &str, key: &str) -> Result<bool, RunStoreError> {
        Ok(self
            .state
            .workflow_claim(workflow, &claim_key(key), self.clock.now().millis())
            .await?)
    }

    /// The schedule state of a workflow (`None`: its schedule was never looked at here).
    pub async fn schedule_state(
        &self,
        workflow: &str,
    ) -> Result<Option<ScheduleState>, RunStoreError> {
        let name = format!("{SCHEDULE_PREFIX}{workflow}");
        match self.state.workflow_cursor(&name).await? {
            None => Ok(None),
            Some(text) => {
                serde_json::from_str(&text)
                    .map(Some)
                    .map_err(|e| RunStoreError::Corrupt {
                        id: name,
                        message: e.to_string(),
                    })
            }
        }
    }

    /// Records the last slot handled, unless a later one is already recorded (another
    /// process got further).
    pub async fn save_schedule_state(
        &self,
        workflow: &str,
        state: &ScheduleState,
    ) -> Result<(), RunStoreError> {
        if let Some(old) = self.schedule_state(workflow).await?
            && old.last > state.last
        {
            return Ok(());
        }
        let text = serde_json::to_string(state).map_err(|e| RunStoreError::Corrupt {
            id: format!("{SCHEDULE_PREFIX}{workflow}"),
            message: e.to_string(),
        })?;
        Ok(self
            .state
            .set_workflow_cursor(&format!("{SCHEDULE_PREFIX}{workflow}"), &text)
            .await?)
    }

    async fn number_cursor<T: std::str::FromStr>(
        &self,
        name: &str,
    ) -> Result<Option<T>, RunStoreError> {
        match self.state.workflow_cursor(name).await? {
            None => Ok(None),
            Some(text) => text.parse().map(Some).map_err(|_| RunStoreError::Corrupt {
                id: format!("cursor {name}"),
                message: format!("{text:?} is not a number"),
            }),
        }
    }

    /// Where a long-running process's feed follower stands (the last event seq handed to
    /// the engine); `None` before the first pass.
    pub async fn feed_cursor(&self) -> Result<Option<u64>, RunStoreError> {
        self.number_cursor(FEED_CURSOR).await
    }

    /// Moves the feed follower's cursor (never backwards: followers share it).
    pub async fn save_feed_cursor(&self, seq: u64) -> Result<(), RunStoreError> {
        if self
            .feed_cursor()
            .await
            .ok()
            .flatten()
            .is_some_and(|old| old > seq)
        {
            return Ok(());
        }
        Ok(self
            .state
            .set_workflow_cursor(FEED_CURSOR, &seq.to_string())
            .await?)
    }

    /// Where the integration-event follower stands (the last event id handed to the engine);
    /// `None` before the first pass.
    pub async fn integration_cursor(&self) -> Result<Option<i64>, RunStoreError> {
        self.number_cursor(INTEGRATION_CURSOR).await
    }

    /// Moves the integration-event follower's cursor (never backwards).
    pub async fn save_integration_cursor(&self, id: i64) -> Result<(), RunStoreError> {
        if self
            .integration_cursor()
            .await
            .ok()
            .flatten()
            .is_some_and(|old| old > id)
        {
            return Ok(());
        }
        Ok(self
            .state
            .set_workflow_cursor(INTEGRATION_CURSOR, &id.to_string())
            .await?)
    }

    fn row(&self, run: &RunRecord, updated_at: i64) -> Result<WorkflowRun, RunStoreError> {
        Ok(WorkflowRun {
            id: run.id.as_str().to_string(),
            workflow: run.workflow.clone(),
            state: run.state,
            entry: run.entry,
            wake_at: run.wake_at.map(|t| t.millis()),
            started_at: run.started_at.millis(),
            updated_at,
            record: serde_json::to_value(run).map_err(|e| RunStoreError::Corrupt {
                id: run.id.to_string(),
                message: e.to_string(),
            })?,
        })
    }

    fn record(row: WorkflowRun) -> Result<RunRecord, RunStoreError> {
        let id = row.id;
        serde_json::from_value(row.record).map_err(|e| RunStoreError::Corrupt {
            id,
            message: e.to_string(),
        })
    }

    /// Writes a record (its lease is left as it is).
    pub async fn save(&self, run: &RunRecord) -> Result<(), RunStoreError> {
        let row = self.row(run, self.clock.now().millis())?;
        Ok(self.state.save_workflow_run(&row).await?)
    }

    /// Records a new run leased to this process (no other worker sees it free); `None` if a
    /// run with its id exists.
    pub async fn start(&self, run: &RunRecord) -> Result<Option<Lease>, RunStoreError> {
        let row = self.row(run, self.clock.now().millis())?;
        let owner = new_owner();
        if !self
            .state
            .start_workflow_run(&row, &owner, wall_ms(), self.lease_ms)
            .await?
        {
            return Ok(None);
        }
        Ok(Some(Lease::held(self, &run.id, owner)))
    }

    pub async fn load(&self, id: &RunId) -> Result<RunRecord, RunStoreError> {
        match self.state.workflow_run(id.as_str()).await? {
            Some(row) => Self::record(row),
            None => Err(RunStoreError::NotFound { id: id.to_string() }),
        }
    }

    /// Every run, newest first (`workflow`: only that workflow's).
    pub async fn list(&self, workflow: Option<&str>) -> Result<Vec<RunRecord>, RunStoreError> {
        self.list_where(workflow, None, 0).await
    }

    /// Runs newest first, of one workflow and in one state when given, at most `limit` (0:
    /// all).
    pub async fn list_where(
        &self,
        workflow: Option<&str>,
        state: Option<RunState>,
        limit: usize,
    ) -> Result<Vec<RunRecord>, RunStoreError> {
        self.state
            .workflow_runs(workflow, state, limit)
            .await?
            .into_iter()
            .map(Self::record)
            .collect()
    }

    /// Runs to resume as of `now`, oldest first: those still marked running, and parked ones
    /// (`waiting`, `retrying`) whose `wakeAt` has come. The lease decides whether a running
    /// one's worker is gone (see [`RunStore::lease`]).
    pub async fn unfinished(&self, now: Timestamp) -> Result<Vec<RunRecord>, RunStoreError> {
        self.state
            .due_workflow_runs(now.millis())
            .await?
            .into_iter()
            .map(Self::record)
            .collect()
    }

    /// Takes the lease of a run: `None` while a live worker holds it. A lease whose worker is
    /// gone (expired, or its process on this host died) is taken over.
    pub async fn lease(&self, id: &RunId) -> Result<Option<Lease>, RunStoreError> {
        let owner = new_owner();
        if !self
            .state
            .lease_workflow_run(id.as_str(), &owner, wall_ms(), self.lease_ms)
            .await?
        {
            return Ok(None);
        }
        Ok(Some(Lease::held(self, id, owner)))
    }
}

/// A run's lease, renewed in the background while it is held. [`Lease::release`] gives it
/// up; dropped without that (an error unwound the run), it is released in the background, or
/// else expires.
#[derive(Debug)]
pub struct Lease {
    state: Arc<dyn SyncStateStore>,
    id: String,
    owner: String,
    renew: Option<tokio::task::JoinHandle<()>>,
    released: bool,
}

impl Lease {
    fn held(runs: &RunStore, id: &RunId, owner: String) -> Self {
        let renew = (runs.lease_ms > 0)
            .then(tokio::runtime::Handle::try_current)
            .and_then(Result::ok)
            .map(|rt| {
                let state = runs.state.clone();
                let (id, owner, lease_ms) = (id.to_string(), owner.clone(), runs.lease_ms);
                rt.spawn(async move {
                    let every = std::time::Duration::from_millis((lease_ms / 3).max(1) as u64);
                    loop {
                        tokio::time::sleep(every).await;
                        match state
                            .renew_workflow_run_lease(&id, &owner, wall_ms(), lease_ms)
                            .await
                        {
                            Ok(true) => {}
                            Ok(false) => {
                                tracing::warn!(
                                    run = %id,
                                    "this worker lost its lease of the workflow run (it \
                                     stalled longer than the lease) and another took it over"
                                );
                                break;
                            }
                            Err(e) => {
                                tracing::warn!(run = %id, error = %e, "cannot renew a run's lease")
                            }
                        }
                    }
                })
            });
        Self {
            state: runs.state.clone(),
            id: id.to_string(),
            owner,
            renew,
            released: false,
        }
    }

    /// Who holds it (`<host>:<pid>:<random>`).
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Gives the lease up (the run is parked, finished, or left to be resumed).
    pub async fn release(mut self) -> Result<(), RunStoreError> {
        if let Some(r) = self.renew.take() {
            r.abort();
        }
        self.released = true;
        Ok(self
            .state
            .release_workflow_run(&self.id, &self.owner)
            .await?)
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(r) = self.renew.take() {
            r.abort();
        }
        if self.released {
            return;
        }
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let (state, id, owner) = (self.state.clone(), self.id.clone(), self.owner.clone());
            rt.spawn(async move {
                let _ = state.release_workflow_run(&id, &owner).await;
            });
        }
    }
}

/// How many run records are kept (`[workflows]` in devlog.toml): the newest `keep_runs`
/// records (by their last write), none finished more than `keep_days` ago. Runs still
/// `running`, `waiting` or `retrying` are always kept. Claims older than `keep_days` are removed too (their writes and slots are long
/// handled).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunRetention {
    #[serde(default = "default_keep_runs")]
    pub keep_runs: usize,
    #[serde(default = "default_keep_days")]
    pub keep_days: u32,
}

fn default_keep_runs() -> usize {
    1000
}

fn default_keep_days() -> u32 {
    90
}

impl Default for RunRetention {
    fn default() -> Self {
        Self {
            keep_runs: default_keep_runs(),
            keep_days: default_keep_days(),
        }
    }
}

impl RunRetention {
    /// Checks the values (`keep_days` at least 1: claims younger than a day still guard
    /// against a write being handled twice).
    pub fn validate(&self) -> Result<(), String> {
        if self.keep_days == 0 {
            return Err("workflows.keepDays: keep at least 1 day".into());
        }
        if self.keep_days > 36_500 {
            return Err("workflows.keepDays: at most 36500 days".into());
        }
        Ok(())
    }
}

/// What a prune removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Pruned {
    pub runs: usize,
    pub claims: usize,
    /// Integration events the follower had read more than
    /// [`EVENT_KEEP_MS`](devlog_core::sync_state::EVENT_KEEP_MS) ago.
    pub events: usize,
}

impl RunStore {
    /// Removes run records and claims beyond `keep` (see [`RunRetention`]) as of `now`: the
    /// finished records past the newest `keep_runs` (by their last write) or older than
    /// `keep_days`, and claims older than `keep_days`. Open runs are always kept. Integration
    /// events go once the follower has passed them (its `integration` cursor, the one
    /// follower of a sync state, shared by every machine on it) and they are older than
    /// [`EVENT_KEEP_MS`](devlog_core::sync_state::EVENT_KEEP_MS); before the first follower
    /// pass there is no cursor and none goes.
    pub async fn prune(
        &self,
        keep: &RunRetention,
        now: Timestamp,
    ) -> Result<Pruned, RunStoreError> {
        let cutoff = now.millis() - i64::from(keep.keep_days.max(1)) * 86_400_000;
        let p = self
            .state
            .prune_workflow_runs(keep.keep_runs, cutoff, cutoff)
            .await?;
        // The cursor only moves forward: events at or below it stay read whatever a follower
        // does meanwhile.
        let events = match self.integration_cursor().await? {
            Some(through) => {
                self.state
                    .prune_integration_events(
                        through,
                        now.millis() - devlog_core::sync_state::EVENT_KEEP_MS,
                    )
                    .await?
            }
            None => 0,
        };
        Ok(Pruned {
            runs: usize::try_from(p.runs).unwrap_or(usize::MAX),
            claims: usize::try_from(p.claims).unwrap_or(usize::MAX),
            events: usize::try_from(events).unwrap_or(usize::MAX),
        })
    }
}

/// What [`RunStore::import_files`] took over from a run folder of the file version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    pub runs: usize,
    pub claims: usize,
    pub schedules: usize,
    /// Where the folder went (`workflow-runs.imported`).
    pub moved_to: PathBuf,
}

/// The name a run folder gets once imported.
pub const IMPORTED_SUFFIX: &str = ".imported";

fn modified_ms(path: &Path) -> Option<i64> {
    let t = std::fs::metadata(path).and_then(|m| m.modified()).ok()?;
    let d = t.duration_since(std::time::UNIX_EPOCH).ok()?;
    i64::try_from(d.as_millis()).ok()
}

impl RunStore {
    /// Imports a run folder of the file version (`.devlog/.state/workflow-runs/`): its
    /// records, claims, feed and integration cursors and schedule states go into the sync
    /// state, then the folder is renamed `workflow-runs.imported`. `None` when there is no
    /// such folder. Safe to repeat and to race: every write is an upsert, an insert-once or a
    /// cursor that never moves back.
    pub async fn import_files(&self, dir: &Path) -> Result<Option<Imported>, RunStoreError> {
        let io = |source| RunStoreError::Import {
            dir: dir.display().to_string(),
            source,
        };
        let rd = match std::fs::read_dir(dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(e)),
        };
        let mut runs = 0;
        for item in rd {
            let path = item.map_err(io)?.path();
            let Some(id) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".json"))
                .and_then(|n| RunId::parse(n).ok())
            else {
                continue;
            };
            let text = std::fs::read(&path).map_err(io)?;
            let run: RunRecord =
                serde_json::from_slice(&text).map_err(|e| RunStoreError::Corrupt {
                    id: id.to_string(),
                    message: format!("{}: {e}", path.display()),
                })?;
            let at = run
                .finished_at
                .map(|t| t.millis())
                .or_else(|| modified_ms(&path))
                .unwrap_or_else(|| run.started_at.millis());
            let row = self.row(&run, at)?;
            self.state.save_workflow_run(&row).await?;
            runs += 1;
        }
        let mut claims = 0;
        if let Ok(rd) = std::fs::read_dir(dir.join("claims")) {
            for item in rd.flatten() {
                let name = item.file_name();
                let Some((workflow, key)) = name.to_str().and_then(|n| n.split_once('@')) else {
                    continue;
                };
                let at = modified_ms(&item.path()).unwrap_or_else(wall_ms);
                self.state.workflow_claim(workflow, key, at).await?;
                claims += 1;
            }
        }
        let mut schedules = 0;
        if let Ok(rd) = std::fs::read_dir(dir.join("schedules")) {
            for item in rd.flatten() {
                let path = item.path();
                let Some(workflow) = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .and_then(|n| n.strip_suffix(".json"))
                    .filter(|n| !n.starts_with('.'))
                else {
                    continue;
                };
                let text = std::fs::read(&path).map_err(io)?;
                let state: ScheduleState =
                    serde_json::from_slice(&text).map_err(|e| RunStoreError::Corrupt {
                        id: format!("schedule {workflow}"),
                        message: format!("{}: {e}", path.display()),
                    })?;
                self.save_schedule_state(workflow, &state).await?;
                schedules += 1;
            }
        }
        let number = |file: &str, key: &str| -> Option<i64> {
            let text = std::fs::read(dir.join(file)).ok()?;
            serde_json::from_slice::<Value>(&text)
                .ok()?
                .get(key)?
                .as_i64()
        };
        if let Some(seq) = number("feed-cursor.json", "seq") {
            self.save_feed_cursor(u64::try_from(seq).unwrap_or(0))
                .await?;
        }
        if let Some(id) = number("integration-cursor.json", "id") {
            self.save_integration_cursor(id).await?;
        }
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "workflow-runs".into());
        let mut moved_to = dir.with_file_name(format!("{name}{IMPORTED_SUFFIX}"));
        if moved_to.exists() {
            // Imported before, and a folder came back (an old devlog ran meanwhile).
            moved_to = dir.with_file_name(format!("{name}{IMPORTED_SUFFIX}-{}", wall_ms()));
        }
        match std::fs::rename(dir, &moved_to) {
            Ok(()) => {}
            // Another process imported it at the same time and moved it first.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(e)),
        }
        Ok(Some(Imported {
            runs,
            claims,
            schedules,
            moved_to,
        }))
    }
}
