//! Run records: what a workflow run was started by, each step's outcome and output, and how
//! it ended. Kept as one JSON file per run in `.devlog/.state/workflow-runs/` (git-ignored,
//! machine-local), rewritten atomically after every step, so a run killed mid-way is found
//! `running` and resumed at the step it was on (`RunStore::unfinished`).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use devlog_core::{EntryId, Event, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A run's id: 12 hex digits.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RunId(String);

impl RunId {
    pub fn random() -> Self {
        let u = uuid::Uuid::new_v4().simple().to_string();
        Self(u[..12].to_string())
    }

    /// A run id as a user typed it: hex digits only (it becomes a file name).
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

/// How a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunState {
    /// Started, not finished (a run found so after its process died is resumed).
    Running,
    /// Parked at a `wait` step until the record's `wakeAt` (no process sleeps for it).
    Waiting,
    /// Parked after a failed attempt of a step with retries left, until `wakeAt`.
    Retrying,
    Succeeded,
    Failed,
    /// A step failed on its last attempt (the dead letter): kept until someone looks at it
    /// and re-runs it with `devlog workflow resume RUN`.
    Dead,
}

impl RunState {
    pub const ALL: [RunState; 6] = [
        RunState::Running,
        RunState::Waiting,
        RunState::Retrying,
        RunState::Succeeded,
        RunState::Failed,
        RunState::Dead,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            RunState::Running => "running",
            RunState::Waiting => "waiting",
            RunState::Retrying => "retrying",
            RunState::Succeeded => "succeeded",
            RunState::Failed => "failed",
            RunState::Dead => "dead",
        }
    }

    /// A state as a user typed it (`--state dead`).
    pub fn parse(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown run state {s:?}: use one of {}",
                    Self::ALL.map(|st| st.as_str()).join(", ")
                )
            })
    }

    /// Whether the run is parked until its `wakeAt` (waiting or retrying).
    pub fn is_parked(&self) -> bool {
        matches!(self, RunState::Waiting | RunState::Retrying)
    }

    /// Whether the run has not ended: running, or parked to go on later.
    pub fn is_open(&self) -> bool {
        matches!(
            self,
            RunState::Running | RunState::Waiting | RunState::Retrying
        )
    }

    /// Whether the run ended without succeeding (failed or dead).
    pub fn is_failure(&self) -> bool {
        matches!(self, RunState::Failed | RunState::Dead)
    }
}

/// The integration-event follower's cursor file in the run folder.
const INTEGRATION_CURSOR: &str = "integration-cursor.json";

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
/// kept in `schedules/<workflow>.json` beside the runs.
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
    #[error("workflow runs in {dir}: {source}")]
    Io {
        dir: String,
        #[source]
        source: std::io::Error,
    },
    #[error("workflow run {id}: no such run (see `devlog workflow runs`)")]
    NotFound { id: String },
    #[error("workflow run file {file} is damaged: {message}")]
    Corrupt { file: String, message: String },
}

/// Run records in a folder (`.devlog/.state/workflow-runs/`), one `<id>.json` each, and the
/// claims that make a workflow run at most once per write (`claims/<workflow>@<change>`).
#[derive(Debug, Clone)]
pub struct RunStore {
    dir: PathBuf,
}

impl RunStore {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn io(&self, source: std::io::Error) -> RunStoreError {
        RunStoreError::Io {
            dir: self.dir.display().to_string(),
            source,
        }
    }

    fn file(&self, id: &RunId) -> PathBuf {
        self.dir.join(format!("{}.json", id.as_str()))
    }

    /// Claims the run of `workflow` for one write (its change id or event seq): true for the
    /// first caller only, in this process or another.
    pub fn claim(&self, workflow: &str, key: &str) -> Result<bool, RunStoreError> {
        let dir = self.dir.join("claims");
        fs::create_dir_all(&dir).map_err(|e| self.io(e))?;
        let key: String = key
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(dir.join(format!("{workflow}@{key}")))
        {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(self.io(e)),
        }
    }

    fn schedule_file(&self, workflow: &str) -> PathBuf {
        self.dir.join("schedules").join(format!("{workflow}.json"))
    }

    /// The schedule state of a workflow (`None`: its schedule was never looked at here).
    pub fn schedule_state(&self, workflow: &str) -> Result<Option<ScheduleState>, RunStoreError> {
        let path = self.schedule_file(workflow);
        match fs::read(&path) {
            Ok(t) => serde_json::from_slice(&t)
                .map(Some)
                .map_err(|e| RunStoreError::Corrupt {
                    file: path.display().to_string(),
                    message: e.to_string(),
                }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io(e)),
        }
    }

    /// Records the last slot handled, unless a later one is already recorded (another
    /// process got further).
    pub fn save_schedule_state(
        &self,
        workflow: &str,
        state: &ScheduleState,
    ) -> Result<(), RunStoreError> {
        if let Some(old) = self.schedule_state(workflow)?
            && old.last > state.last
        {
            return Ok(());
        }
        let path = self.schedule_file(workflow);
        let dir = self.dir.join("schedules");
        fs::create_dir_all(&dir).map_err(|e| self.io(e))?;
        let tmp = dir.join(format!(".{workflow}.{}.tmp", std::process::id()));
        let text = serde_json::to_vec_pretty(state).map_err(|e| RunStoreError::Corrupt {
            file: path.display().to_string(),
            message: e.to_string(),
        })?;
        let mut f = fs::File::create(&tmp).map_err(|e| self.io(e))?;
        f.write_all(&text).map_err(|e| self.io(e))?;
        f.sync_all().map_err(|e| self.io(e))?;
        fs::rename(&tmp, &path).map_err(|e| self.io(e))
    }

    /// Where a long-running process's feed follower stands (the last event seq handed to
    /// the engine); `None` before the first pass.
    pub fn feed_cursor(&self) -> Result<Option<u64>, RunStoreError> {
        let path = self.dir.join("feed-cursor.json");
        match fs::read(&path) {
            Ok(t) => serde_json::from_slice::<Value>(&t)
                .ok()
                .and_then(|v| v.get("seq").and_then(Value::as_u64))
                .map(Some)
                .ok_or_else(|| RunStoreError::Corrupt {
                    file: path.display().to_string(),
                    message: "no `seq`".into(),
                }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io(e)),
        }
    }

    /// Moves the feed follower's cursor (never backwards: two followers may share it).
    pub fn save_feed_cursor(&self, seq: u64) -> Result<(), RunStoreError> {
        if self
            .feed_cursor()
            .ok()
            .flatten()
            .is_some_and(|old| old > seq)
        {
            return Ok(());
        }
        fs::create_dir_all(&self.dir).map_err(|e| self.io(e))?;
        let tmp = self
            .dir
            .join(format!(".feed-cursor.{}.tmp", std::process::id()));
        fs::write(&tmp, serde_json::json!({ "seq": seq }).to_string()).map_err(|e| self.io(e))?;
        fs::rename(&tmp, self.dir.join("feed-cursor.json")).map_err(|e| self.io(e))
    }

    /// Where the integration-event follower stands (the last event id handed to the engine);
    /// `None` before the first pass.
    pub fn integration_cursor(&self) -> Result<Option<i64>, RunStoreError> {
        let path = self.dir.join(INTEGRATION_CURSOR);
        match fs::read(&path) {
            Ok(t) => serde_json::from_slice::<Value>(&t)
                .ok()
                .and_then(|v| v.get("id").and_then(Value::as_i64))
                .map(Some)
                .ok_or_else(|| RunStoreError::Corrupt {
                    file: path.display().to_string(),
                    message: "no `id`".into(),
                }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io(e)),
        }
    }

    /// Moves the integration-event follower's cursor (never backwards).
    pub fn save_integration_cursor(&self, id: i64) -> Result<(), RunStoreError> {
        if self
            .integration_cursor()
            .ok()
            .flatten()
            .is_some_and(|old| old > id)
        {
            return Ok(());
        }
        fs::create_dir_all(&self.dir).map_err(|e| self.io(e))?;
        let tmp = self
            .dir
            .join(format!(".integration-cursor.{}.tmp", std::process::id()));
        fs::write(&tmp, serde_json::json!({ "id": id }).to_string()).map_err(|e| self.io(e))?;
        fs::rename(&tmp, self.dir.join(INTEGRATION_CURSOR)).map_err(|e| self.io(e))
    }

    /// Writes a record: to a temporary file, synced, then renamed over the old one.
    pub fn save(&self, run: &RunRecord) -> Result<(), RunStoreError> {
        fs::create_dir_all(&self.dir).map_err(|e| self.io(e))?;
        let path = self.file(&run.id);
        let tmp = self.dir.join(format!(".{}.json.tmp", run.id.as_str()));
        let text = serde_json::to_vec_pretty(run).map_err(|e| RunStoreError::Corrupt {
            file: path.display().to_string(),
            message: e.to_string(),
        })?;
        let mut f = fs::File::create(&tmp).map_err(|e| self.io(e))?;
        f.write_all(&text).map_err(|e| self.io(e))?;
        f.sync_all().map_err(|e| self.io(e))?;
        fs::rename(&tmp, &path).map_err(|e| self.io(e))
    }

    pub fn load(&self, id: &RunId) -> Result<RunRecord, RunStoreError> {
        let path = self.file(id);
        let text = match fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(RunStoreError::NotFound { id: id.to_string() });
            }
            Err(e) => return Err(self.io(e)),
        };
        serde_json::from_slice(&text).map_err(|e| RunStoreError::Corrupt {
            file: path.display().to_string(),
            message: e.to_string(),
        })
    }

    /// Every run, newest first (`workflow`: only that workflow's).
    pub fn list(&self, workflow: Option<&str>) -> Result<Vec<RunRecord>, RunStoreError> {
        let rd = match fs::read_dir(&self.dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.io(e)),
        };
        let mut out = Vec::new();
        for item in rd {
            let item = item.map_err(|e| self.io(e))?;
            let name = item.file_name();
            let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".json")) else {
                continue;
            };
            let Ok(id) = RunId::parse(stem) else { continue };
            let run = self.load(&id)?;
            if workflow.is_none_or(|w| run.workflow == w) {
                out.push(run);
            }
        }
        out.sort_by(|a, b| {
            b.started_at
                .cmp(&a.started_at)
                .then_with(|| b.id.cmp(&a.id))
        });
        Ok(out)
    }

    /// Runs to resume as of `now`, oldest first: those still marked running, and parked ones
    /// (`waiting`, `retrying`) whose `wakeAt` has come. The caller makes sure a running one's
    /// process is gone (see `lease`).
    pub fn unfinished(&self, now: Timestamp) -> Result<Vec<RunRecord>, RunStoreError> {
        let mut runs: Vec<RunRecord> = self
            .list(None)?
            .into_iter()
            .filter(|r| r.is_due(now))
            .collect();
        runs.reverse();
        Ok(runs)
    }

    /// Takes the lease of a run (an exclusively created `<id>.lease` file holding the pid):
    /// `None` when a live process holds it. A lease whose process is gone is taken over.
    pub fn lease(&self, id: &RunId) -> Result<Option<Lease>, RunStoreError> {
        fs::create_dir_all(&self.dir).map_err(|e| self.io(e))?;
        let path = self.dir.join(format!("{}.lease", id.as_str()));
        for _ in 0..2 {
            match fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut f) => {
                    let _ = write!(f, "{}", std::process::id());
                    return Ok(Some(Lease { path }));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let pid = fs::read_to_string(&path)
                        .ok()
                        .and_then(|t| t.trim().parse::<u32>().ok());
                    if pid.is_some_and(process_alive) {
                        return Ok(None);
                    }
                    // Its holder died (or wrote nothing yet and died): take it over.
                    let _ = fs::remove_file(&path);
                }
                Err(e) => return Err(self.io(e)),
            }
        }
        Ok(None)
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
}

impl RunStore {
    /// Removes run records and claims beyond `keep` (see [`RunRetention`]) as of `now`.
    /// Cheap when there is nothing to remove: records are ordered by their files' times
    /// (a record is rewritten when its run ends) and only those to remove are read, to keep
    /// the ones still running.
    pub fn prune(&self, keep: &RunRetention, now: Timestamp) -> Result<Pruned, RunStoreError> {
        let mut pruned = Pruned::default();
        let cutoff_ms = now.millis() - i64::from(keep.keep_days.max(1)) * 86_400_000;
        let rd = match fs::read_dir(&self.dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(pruned),
            Err(e) => return Err(self.io(e)),
        };
        let mut files: Vec<(std::time::SystemTime, RunId)> = Vec::new();
        for item in rd.flatten() {
            let name = item.file_name();
            let Some(id) = name
                .to_str()
                .and_then(|n| n.strip_suffix(".json"))
                .and_then(|n| RunId::parse(n).ok())
            else {
                continue;
            };
            let modified = item
                .metadata()
                .and_then(|m| m.modified())
                .unwrap_or(std::time::UNIX_EPOCH);
            files.push((modified, id));
        }
        files.sort_by(|a, b| b.cmp(a));
        let slack = std::time::UNIX_EPOCH
            + std::time::Duration::from_millis(
                u64::try_from(cutoff_ms.max(0)).unwrap_or(0) + 86_400_000,
            );
        for (i, (modified, id)) in files.iter().enumerate() {
            // Only the records past the count, or possibly too old, are read.
            if i < keep.keep_runs && *modified >= slack {
                continue;
            }
            let run = match self.load(id) {
                Ok(r) => r,
                Err(RunStoreError::NotFound { .. }) => continue,
                Err(e) => return Err(e),
            };
            if run.state.is_open() {
                continue;
            }
            let ended = run.finished_at.unwrap_or(run.started_at);
            if i >= keep.keep_runs || ended.millis() < cutoff_ms {
                match fs::remove_file(self.file(id)) {
                    Ok(()) => pruned.runs += 1,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(self.io(e)),
                }
            }
        }
        let cutoff = std::time::UNIX_EPOCH
            + std::time::Duration::from_millis(u64::try_from(cutoff_ms.max(0)).unwrap_or(0));
        let claims = match fs::read_dir(self.dir.join("claims")) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(pruned),
            Err(e) => return Err(self.io(e)),
        };
        for item in claims.flatten() {
            let old = item
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t < cutoff);
            if old && fs::remove_file(item.path()).is_ok() {
                pruned.claims += 1;
            }
        }
        Ok(pruned)
    }
}

/// Whether a process with this pid is running (Linux: `/proc/<pid>`); elsewhere assumed so.
fn process_alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    let proc_dir = Path::new("/proc");
    if proc_dir.is_dir() {
        proc_dir.join(pid.to_string()).exists()
    } else {
        true
    }
}

/// A run's lease; released when dropped.
#[derive(Debug)]
pub struct Lease {
    path: PathBuf,
}

impl Drop for Lease {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}
