//! The engine: which workflows an event triggers, their conditions, and running their steps
//! through devlog-core's use cases (`Devlog`), recording each run (`runs.rs`).
//!
//! Loop protection: an event written by workflow W (actor `workflow:W`) never triggers W
//! (unless W is `reentrant`)
//! again; the runs its writes trigger in other workflows are one level deeper, and a chain
//! stops at [`MAX_DEPTH`] (the runs it would start are recorded as failed, not run). A
//! workflow runs at most once per write (the write's change id), across processes
//! (`RunStore::claim`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};

use devlog_core::audit::{Action as AuditAction, Draft, RemoteEffect};
use devlog_core::event::{EventKind, Origin, WriteMeta};
use devlog_core::ops::{Edit, NewDecision, NewEntry, NewNote};
use devlog_core::planning::NewWorklog;
use devlog_core::reports::ReportQuery;
use devlog_core::sync_state::{IntegrationEvent, NewIntegrationEvent, SyncStateStore};
use devlog_core::{Devlog, Entry, EntryId, Event, StoreError, Timestamp};
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::condition::{Condition, context_with};
use crate::format::{
    Action, DEFAULT_TIMEOUT, Loaded, MAX_ITEMS, Step, Trigger, VarValue, Wait, Workflow,
};
use crate::host::{
    BranchRequest, NotifyFormat, NotifyRequest, NotifyTarget, PipelineRequest, PluginRequest,
    PullRequestRequest, StepHost, SyncRequest,
};
use crate::runs::{
    Cause, Lease, RunId, RunRecord, RunState, RunStore, RunStoreError, ScheduleState, StepRecord,
    StepState,
};
use crate::template::{Renderer, Template};

/// The longest chain of workflow runs started by one write (a run's writes starting runs of
/// other workflows, and so on).
pub const MAX_DEPTH: u32 = 5;

/// The most events one [`Engine::follow_feed`] pass reads (the rest wait for the next).
pub const MAX_FOLLOW: usize = 10_000;

/// The actor prefix of a workflow's writes in the change feed and audit log.
pub const ACTOR_PREFIX: &str = "workflow:";

/// The actor a workflow writes as (`workflow:<name>`).
pub fn actor_of(workflow: &str) -> String {
    format!("{ACTOR_PREFIX}{workflow}")
}

/// Which workflow wrote an event, if one did.
pub fn workflow_of(event: &Event) -> Option<&str> {
    event.actor.as_deref()?.strip_prefix(ACTOR_PREFIX)
}

/// Whether an event of this origin starts workflows. Changes found in the files (a `git
/// pull`), imports and migrations copy history that already ran its workflows elsewhere.
pub fn origin_triggers(origin: Origin) -> bool {
    !matches!(origin, Origin::External | Origin::Import | Origin::Migrate)
}

/// Whether trigger `t` matches an integration event (`webhook` and `sync` triggers).
pub fn integration_trigger_matches(t: &Trigger, e: &NewIntegrationEvent) -> bool {
    let same = |want: &Option<String>, key: &str| {
        want.as_deref().is_none_or(|w| {
            e.data
                .get(key)
                .and_then(Value::as_str)
                .is_some_and(|v| v.eq_ignore_ascii_case(w))
        })
    };
    match t {
        Trigger::Webhook(f) => {
            f.event.0 == e.kind
                && e.integration == f.integration.as_str()
                && same(&f.from, "from")
                && same(&f.to, "to")
                && same(&f.environment, "environment")
        }
        Trigger::Sync(f) => {
            f.event.kind() == e.kind && f.integration.as_deref().is_none_or(|i| i == e.integration)
        }
        _ => false,
    }
}

/// The `event` conditions and templates see for an integration event: `type` (`webhook` or
/// `sync`), `id`, `integration`, `kind`, `entryId`, `at`, and the event's own fields
/// (`pullRequest`, `from`, `to`, `environment`, `delivery`…).
pub fn integration_event_json(e: &IntegrationEvent) -> Value {
    let ev = &e.event;
    let mut out = match &ev.data {
        Value::Object(m) => m.clone(),
        _ => Map::new(),
    };
    let kind = if ev.kind.is_webhook() {
        "webhook"
    } else {
        "sync"
    };
    out.insert("type".into(), json!(kind));
    out.insert("id".into(), json!(e.id));
    out.insert("integration".into(), json!(ev.integration));
    out.insert("kind".into(), json!(ev.kind.as_str()));
    out.insert(
        "entryId".into(),
        ev.entry_id.map_or(Value::Null, |id| json!(id.to_string())),
    );
    out.insert(
        "at".into(),
        Timestamp::from_millis(ev.at).map_or(json!(ev.at), |t| json!(t)),
    );
    Value::Object(out)
}

/// Whether trigger `t` matches event kind `k`.
pub fn trigger_matches(t: &Trigger, k: &EventKind) -> bool {
    match (t, k) {
        (Trigger::Created(_), EventKind::Created) => true,
        (Trigger::Updated(f), EventKind::FieldChanged { field, .. }) => f.matches(field),
        (Trigger::StatusChanged(f), EventKind::StatusChanged { from, to, .. }) => {
            f.from.is_none_or(|s| s == *from) && f.to.is_none_or(|s| s == *to)
        }
        (Trigger::NoteAdded(f), EventKind::NoteAdded { category, .. }) => {
            f.category.is_none_or(|c| c == *category)
        }
        (Trigger::DecisionAdded, EventKind::DecisionAdded { .. }) => true,
        (Trigger::Completed, EventKind::Completed { .. }) => true,
        _ => false,
    }
}

/// The part of a trigger that reads the entry (`created: {type: bugfix}`).
pub fn entry_matches(t: &Trigger, entry: &Value) -> bool {
    match t {
        Trigger::Created(f) => f
            .kind
            .is_none_or(|k| entry.get("type").and_then(Value::as_str) == Some(k.as_str())),
        _ => true,
    }
}

/// A problem that stops the engine (a failing workflow is not one: it is recorded on its run).
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Runs(#[from] RunStoreError),
    #[error("no workflow named {name:?}{}", if known.is_empty() { " (there are none in .devlog/workflows)".to_string() } else { format!("; there are: {}", known.join(", ")) })]
    UnknownWorkflow { name: String, known: Vec<String> },
    #[error("workflow {name} has no `manual` trigger: add `manual:` under `on:` to run it by hand")]
    NotManual { name: String },
    #[error(
        "the run {id} is {state}: nothing to resume (running, waiting, retrying and dead runs are)"
    )]
    NotResumable { id: String, state: &'static str },
    #[error("the run {id} waits until {wake_at}: it goes on by itself then")]
    NotDue { id: String, wake_at: Timestamp },
}

/// The outcome of handing events to the engine.
#[derive(Debug, Default)]
pub struct Outcome {
    pub runs: Vec<RunRecord>,
}

impl Outcome {
    /// Runs that failed or went dead.
    pub fn failed(&self) -> impl Iterator<Item = &RunRecord> {
        self.runs.iter().filter(|r| r.state.is_failure())
    }
}

/// What a scheduler pass did ([`Engine::tick`], [`Engine::run_due`]).
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Due {
    /// Runs of schedules that were due.
    pub runs: Vec<RunRecord>,
    /// Slots that got no run of their own (missed: skipped, or covered by a catch-up run).
    pub skipped: Vec<SkippedSlots>,
    /// Each scheduled workflow's next slot after now.
    pub next: Vec<(String, Option<Timestamp>)>,
    /// Runs resumed after their process stopped.
    pub resumed: Vec<RunRecord>,
    /// Runs that the scheduled runs' writes triggered.
    pub triggered: Vec<RunRecord>,
}

impl Due {
    /// Every run this pass made or finished.
    pub fn all_runs(&self) -> impl Iterator<Item = &RunRecord> {
        self.runs.iter().chain(&self.resumed).chain(&self.triggered)
    }
}

/// Missed slots of one workflow's schedule.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SkippedSlots {
    pub workflow: String,
    /// How many slots (at most `schedule::MAX_COUNTED` are counted).
    pub slots: usize,
    /// The newest slot handled.
    pub through: Timestamp,
    /// Whether one late run covered them (`catch_up_once`).
    pub caught_up: bool,
}

/// What a dry run found: the condition and each step rendered.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DryRun {
    pub workflow: String,
    /// `None`: the workflow has no condition.
    pub condition: Option<bool>,
    pub steps: Vec<StepRecord>,
    /// Why it would stop (a `fail` step, an error).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The workflow engine over one store.
#[derive(Debug)]
pub struct Engine {
    app: Devlog,
    workflows: Vec<Loaded>,
    disabled: BTreeSet<String>,
    runs: RunStore,
    origin: Origin,
    renderer: Renderer,
    /// Effects outside the store (`sync`, `notify`, `plugin` steps); `None`: those steps fail.
    host: Option<Arc<dyn StepHost>>,
}

/// How a run goes: for real, or rendering only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Live,
    Dry,
}

/// Why a run stopped early.
#[derive(Debug)]
enum Stop {
    Failed(String),
    /// A step failed on the last attempt its `retry` allows: the run is dead.
    Dead(String),
    /// The run is parked (`Waiting` at a `wait` step, `Retrying` after a failed attempt)
    /// until the time given; a scheduler pass or a command resumes it then.
    Park {
        until: Timestamp,
        state: RunState,
    },
    Engine(EngineError),
}

impl From<EngineError> for Stop {
    fn from(e: EngineError) -> Self {
        Stop::Engine(e)
    }
}

impl From<RunStoreError> for Stop {
    fn from(e: RunStoreError) -> Self {
        Stop::Engine(e.into())
    }
}

/// The state of one run while its steps execute. The branches of a `parallel` group each
/// have their own (`Exec::branch`), sharing the run's record.
struct Exec<'a> {
    engine: &'a Engine,
    workflow: &'a Workflow,
    mode: Mode,
    run_id: RunId,
    record: Arc<Mutex<RunRecord>>,
    /// Taken while the record is saved (shared by the branches of a group).
    saving: Arc<tokio::sync::Mutex<()>>,
    /// The run's entry as it is now (refreshed after each write).
    entry: Option<Entry>,
    event: Value,
    vars: Map<String, Value>,
    outputs: Map<String, Value>,
    /// Loop variables in scope (`item`, or a `for_each`'s `as`).
    items: Vec<(String, Value)>,
    /// Records of the run before it was resumed (their steps are not repeated).
    previous: Arc<HashMap<String, StepRecord>>,
}

type StepFuture<'b> = Pin<Box<dyn Future<Output = Result<(), Stop>> + Send + 'b>>;

impl Engine {
    /// An engine for `workflows` (all loaded ones; `disabled` names those turned off),
    /// writing through `app` as `origin` and recording runs in `runs`.
    pub fn new(
        app: Devlog,
        workflows: Vec<Loaded>,
        disabled: BTreeSet<String>,
        runs: RunStore,
        origin: Origin,
    ) -> Self {
        let runs = runs.with_clock(app.clock().clone());
        Self {
            app,
            workflows,
            disabled,
            runs,
            origin,
            renderer: Renderer::default(),
            host: None,
        }
    }

    /// The same engine running `sync`, `notify` and `plugin` steps through `host`.
    pub fn with_host(mut self, host: Arc<dyn StepHost>) -> Self {
        self.host = Some(host);
        self
    }

    pub fn workflows(&self) -> &[Loaded] {
        &self.workflows
    }

    pub fn runs(&self) -> &RunStore {
        &self.runs
    }

    /// Whether a workflow runs on its triggers: its file says so and it is not disabled here.
    pub fn is_enabled(&self, w: &Loaded) -> bool {
        w.workflow.enabled && !self.disabled.contains(w.workflow.name.as_str())
    }

    fn find(&self, name: &str) -> Result<&Loaded, EngineError> {
        self.workflows
            .iter()
            .find(|w| w.workflow.name.as_str() == name)
            .ok_or_else(|| EngineError::UnknownWorkflow {
                name: name.to_string(),
                known: self
                    .workflows
                    .iter()
                    .map(|w| w.workflow.name.to_string())
                    .collect(),
            })
    }

    /// Whether any enabled workflow has an entry-event trigger (else events need no look).
    pub fn listens(&self) -> bool {
        self.workflows
            .iter()
            .any(|w| self.is_enabled(w) && w.triggers.iter().any(Trigger::on_events))
    }

    /// The end of the change feed.
    async fn feed_end(&self) -> Result<u64, StoreError> {
        Ok(self
            .app
            .store()
            .events_before(None, 1)
            .await?
            .last()
            .map_or(0, |e| e.seq))
    }

    /// Runs the workflows `events` trigger, then those their writes trigger, up to
    /// [`MAX_DEPTH`] levels. Failing runs are recorded and returned, not errors.
    pub async fn on_events(&self, events: Vec<Event>) -> Result<Outcome, EngineError> {
        let mut outcome = Outcome::default();
        if !self.listens() {
            return Ok(outcome);
        }
        let mut batch: Vec<Event> = events
            .into_iter()
            .filter(|e| origin_triggers(e.origin))
            .collect();
        let mut depth = 0;
        while !batch.is_empty() {
            let end = self.feed_end().await?;
            let mut ran = false;
            let mut seen: BTreeSet<(String, String)> = BTreeSet::new();
            let mut entries: HashMap<EntryId, Option<Value>> = HashMap::new();
            let empty = Value::Object(Map::new());
            for event in &batch {
                let mut event_value: Option<(u64, Value)> = None;
                let mut base: Option<cel::Context<'static, 'static>> = None;
                for w in &self.workflows {
                    let name = w.workflow.name.as_str();
                    if !self.is_enabled(w)
                        || (workflow_of(event) == Some(name) && !w.workflow.reentrant)
                        || !w.triggers.iter().any(|t| trigger_matches(t, &event.kind))
                    {
                        continue;
                    }
                    let write = event
                        .change
                        .clone()
                        .unwrap_or_else(|| format!("seq{}", event.seq));
                    if !seen.insert((name.to_string(), write.clone())) {
                        continue;
                    }
                    let entry = match entries.get(&event.entry_id) {
                        Some(e) => e.clone(),
                        None => {
                            let e = match self.app.store().get(event.entry_id).await {
                                Ok(e) => Some(entry_json(&e)),
                                Err(e) if e.kind() == devlog_core::ErrorKind::NotFound => None,
                                Err(e) => return Err(e.into()),
                            };
                            entries.insert(event.entry_id, e.clone());
                            e
                        }
                    };
                    let Some(entry) = entry else { continue };
                    if !w
                        .triggers
                        .iter()
                        .any(|t| trigger_matches(t, &event.kind) && entry_matches(t, &entry))
                    {
                        continue;
                    }
                    let event_json = match &event_value {
                        Some((seq, v)) if *seq == event.seq => v.clone(),
                        _ => {
                            let v = serde_json::to_value(event).unwrap_or(Value::Null);
                            event_value = Some((event.seq, v.clone()));
                            base = None;
                            v
                        }
                    };
                    // One CEL scope per event (entry, event, now), shared by the workflows
                    // it triggers: converting the entry to CEL is most of a check's cost.
                    let ctx = base.get_or_insert_with(|| {
                        context_with(
                            &[("entry", &entry), ("event", &event_json), ("vars", &empty)],
                            self.app.clock().now().as_datetime(),
                        )
                    });
                    let verdict = self.check_in(&w.workflow, ctx, &entry, &event_json);
                    if verdict == Ok(false) {
                        continue;
                    }
                    if !self.runs.claim(name, &write).await? {
                        continue;
                    }
                    let cause = Cause::Event {
                        event: Box::new(event.clone()),
                    };
                    let mut record = self.new_record(w, cause, Some(event.entry_id), depth);
                    if depth >= MAX_DEPTH {
                        record.state = RunState::Failed;
                        record.error = Some(format!(
                            "not run: a chain of {depth} workflow runs reached the depth limit \
                             ({MAX_DEPTH}); check for workflows that trigger each other"
                        ));
                        record.finished_at = Some(self.app.clock().now());
                        self.runs.save(&record).await?;
                        outcome.runs.push(record);
                        continue;
                    }
                    if let Err(e) = verdict {
                        record.state = RunState::Failed;
                        record.error = Some(format!("condition: {e}"));
                        record.finished_at = Some(self.app.clock().now());
                        self.runs.save(&record).await?;
                        outcome.runs.push(record);
                        continue;
                    }
                    let record = self.execute(w, record, event_json, Mode::Live).await?;
                    entries.remove(&event.entry_id);
                    base = None;
                    ran = true;
                    outcome.runs.push(record);
                }
            }
            if !ran {
                break;
            }
            depth += 1;
            batch = self.events_by_workflows_after(end).await?;
        }
        Ok(outcome)
    }

    /// The events workflows wrote after `seq`.
    async fn events_by_workflows_after(&self, mut seq: u64) -> Result<Vec<Event>, StoreError> {
        let mut out = Vec::new();
        loop {
            let page = self.app.store().events(seq, 500).await?;
            let Some(last) = page.last() else { break };
            seq = last.seq;
            out.extend(page.into_iter().filter(|e| workflow_of(e).is_some()));
            if out.len() > 10_000 {
                break;
            }
        }
        Ok(out)
    }

    /// The workflow's condition on an entry and event (`Ok(true)` without one).
    fn check(&self, w: &Workflow, entry: &Value, event: &Value) -> Result<bool, String> {
        let Some(c) = &w.condition else {
            return Ok(true);
        };
        let vars = match self.initial_vars(w, entry, event) {
            Ok(v) => Value::Object(v),
            Err(e) => return Err(e),
        };
        let ctx = context_with(
            &[("entry", entry), ("event", event), ("vars", &vars)],
            self.app.clock().now().as_datetime(),
        );
        c.eval_bool(&ctx).map_err(|e| e.to_string())
    }

    /// [`Engine::check`] in a prepared scope (`entry`, `event`, `now`, empty `vars`).
    fn check_in(
        &self,
        w: &Workflow,
        base: &cel::Context<'static, 'static>,
        entry: &Value,
        event: &Value,
    ) -> Result<bool, String> {
        let Some(c) = &w.condition else {
            return Ok(true);
        };
        if w.vars.is_empty() {
            return c.eval_bool(base).map_err(|e| e.to_string());
        }
        let vars = Value::Object(self.initial_vars(w, entry, event)?);
        let mut scope = base.new_inner_scope();
        scope
            .add_variable("vars", &vars)
            .map_err(|e| format!("vars: {e}"))?;
        c.eval_bool(&scope).map_err(|e| e.to_string())
    }

    /// The file's `vars`, rendered (they may use `entry` and `event`).
    fn initial_vars(
        &self,
        w: &Workflow,
        entry: &Value,
        event: &Value,
    ) -> Result<Map<String, Value>, String> {
        let mut vars = Map::new();
        for (name, value) in &w.vars {
            let v = match value {
                VarValue::Literal(v) => v.clone(),
                VarValue::Template(t) => {
                    let ctx = json!({
                        "entry": entry, "event": event, "vars": &vars,
                        "now": self.app.clock().now().to_string(),
                        "workflow": {"name": w.name.as_str()},
                    });
                    Value::String(
                        self.renderer
                            .render(t, &ctx)
                            .map_err(|e| format!("vars.{}: {e}", name.as_str()))?,
                    )
                }
            };
            vars.insert(name.as_str().to_string(), v);
        }
        Ok(vars)
    }

    fn new_record(
        &self,
        w: &Loaded,
        cause: Cause,
        entry: Option<EntryId>,
        depth: u32,
    ) -> RunRecord {
        RunRecord {
            id: RunId::random(),
            workflow: w.workflow.name.to_string(),
            cause,
            entry,
            depth,
            state: RunState::Running,
            started_at: self.app.clock().now(),
            finished_at: None,
            vars: Map::new(),
            steps: Vec::new(),
            error: None,
            resumed: 0,
            wake_at: None,
        }
    }

    /// `devlog workflow run NAME [REF]`: runs a workflow with a `manual` trigger now,
    /// whether or not it is enabled, if its condition holds.
    pub async fn run_manual(
        &self,
        name: &str,
        entry: Option<EntryId>,
        actor: Option<String>,
    ) -> Result<RunRecord, EngineError> {
        let w = self.find(name)?;
        if !w.triggers.contains(&Trigger::Manual) {
            return Err(EngineError::NotManual {
                name: name.to_string(),
            });
        }
        let entry_value = match entry {
            Some(id) => entry_json(&self.app.store().get(id).await?),
            None => Value::Null,
        };
        let event = json!({"type": "manual", "actor": actor});
        let record = self.new_record(w, Cause::Manual { actor }, entry, 0);
        match self.check(&w.workflow, &entry_value, &event) {
            Ok(true) => self.execute(w, record, event, Mode::Live).await,
            Ok(false) => Ok(self
                .finish_unrun(record, "not run: the workflow's `if` condition is false")
                .await?),
            Err(e) => Ok(self
                .finish_unrun(record, &format!("condition: {e}"))
                .await?),
        }
    }

    /// Runs the scheduled workflows that are due now (the engine's clock): for each enabled
    /// workflow with a `schedule`, the slots passed since the last one handled are planned
    /// ([`crate::schedule::Schedule::plan`]: on time, skipped or caught up once), the slot to run is claimed
    /// (a slot runs once, across processes) and run, and the last slot handled is recorded.
    /// A schedule seen for the first time starts counting now (nothing runs for the past).
    /// Disabled workflows' slots are handled without running (no catch-up on enabling).
    pub async fn run_due(&self) -> Result<Due, EngineError> {
        let now = self.app.clock().now();
        let mut due = Due::default();
        for w in &self.workflows {
            let Some(schedule) = w.triggers.iter().find_map(|t| match t {
                Trigger::Schedule(s) => Some(s),
                _ => None,
            }) else {
                continue;
            };
            let name = w.workflow.name.as_str();
            let state = |last| ScheduleState {
                last,
                cron: schedule.cron.source().to_string(),
                timezone: schedule.timezone.name().to_string(),
            };
            let Some(last) = self.runs.schedule_state(name).await?.map(|s| s.last) else {
                self.runs.save_schedule_state(name, &state(now)).await?;
                due.next.push((name.to_string(), schedule.next_after(now)));
                continue;
            };
            let plan = schedule.plan(last, now);
            due.next.push((name.to_string(), schedule.next_after(now)));
            let Some(handled) = plan.handled else {
                continue;
            };
            if !self.is_enabled(w) {
                self.runs.save_schedule_state(name, &state(handled)).await?;
                continue;
            }
            if plan.missed > 0 {
                due.skipped.push(SkippedSlots {
                    workflow: name.to_string(),
                    slots: plan.missed,
                    through: handled,
                    caught_up: plan.late,
                });
            }
            let Some(slot) = plan.run else {
                self.runs.save_schedule_state(name, &state(handled)).await?;
                continue;
            };
            let cause = Cause::Schedule {
                slot,
                cron: schedule.cron.source().to_string(),
                timezone: schedule.timezone.name().to_string(),
                late: plan.late,
                missed: plan.missed,
            };
            let event = cause.event_value();
            let verdict = self.check(&w.workflow, &Value::Null, &event);
            if verdict == Ok(false) {
                self.runs.save_schedule_state(name, &state(handled)).await?;
                continue;
            }
            let record = self.new_record(w, cause, None, 0);
            // The claim makes the slot run once, whoever sees it first. The run record is
            // saved right after it and before the state, so a kill from here on leaves a
            // `running` run to resume (only a kill between the claim and the save, a few
            // system calls, loses the slot).
            if !self
                .runs
                .claim(name, &format!("schedule-{}", slot.millis()))
                .await?
            {
                self.runs.save_schedule_state(name, &state(handled)).await?;
                continue;
            }
            if let Err(e) = verdict {
                let record = self
                    .finish_unrun(record, &format!("condition: {e}"))
                    .await?;
                self.runs.save_schedule_state(name, &state(handled)).await?;
                due.runs.push(record);
                continue;
            }
            let Some(lease) = self.runs.start(&record).await? else {
                self.runs.save_schedule_state(name, &state(handled)).await?;
                continue;
            };
            self.runs.save_schedule_state(name, &state(handled)).await?;
            let record = self.run_leased(lease, w, record, event).await?;
            due.runs.push(record);
        }
        Ok(due)
    }

    /// One pass of a scheduler (`devlog workflow due`, and the loop of `devlog serve` and
    /// `devlog worker`): resumes runs a stopped process left, runs the schedules that are
    /// due, then the workflows those runs' writes trigger.
    pub async fn tick(&self) -> Result<Due, EngineError> {
        let start = self.feed_end().await?;
        let resumed = self.resume_unfinished().await?;
        let mut due = self.run_due().await?;
        due.resumed = resumed;
        if due
            .runs
            .iter()
            .chain(&due.resumed)
            .any(|r| !r.steps.is_empty())
        {
            let events = self.events_by_workflows_after(start).await?;
            due.triggered = self.on_events(events).await?.runs;
        }
        Ok(due)
    }

    /// Follows the change feed for a long-running process (`devlog serve`, `devlog worker`):
    /// hands the events after the cursor kept in the sync state (`feed`, shared by followers) to
    /// [`Engine::on_events`] and moves the cursor past them. The first call starts the
    /// cursor at the end of the feed (history is not replayed). This is how writes made over
    /// REST, MCP and by sync run their workflows; the claims keep a write that a CLI command
    /// (or a second follower) already handled from running twice.
    pub async fn follow_feed(&self) -> Result<Outcome, EngineError> {
        let Some(from) = self.runs.feed_cursor().await? else {
            let end = self.feed_end().await?;
            self.runs.save_feed_cursor(end).await?;
            return Ok(Outcome::default());
        };
        let mut events = Vec::new();
        let mut seq = from;
        loop {
            let page = self.app.store().events(seq, 1000).await?;
            let Some(last) = page.last() else { break };
            seq = last.seq;
            events.extend(page);
            if events.len() >= MAX_FOLLOW {
                break;
            }
        }
        if seq == from {
            return Ok(Outcome::default());
        }
        let outcome = self.on_events(events).await?;
        // Past what the runs wrote too: they were handed on inside `on_events`.
        let end = self.feed_end().await?.max(seq);
        self.runs.save_feed_cursor(end).await?;
        Ok(outcome)
    }

    /// Whether any enabled workflow has a `webhook` or `sync` trigger.
    pub fn listens_to_integrations(&self) -> bool {
        self.workflows
            .iter()
            .any(|w| self.is_enabled(w) && w.triggers.iter().any(Trigger::on_integration_events))
    }

    /// Runs the workflows integration events trigger (each event runs each workflow once,
    /// across processes: the claim `integration-<id>`), then those their writes trigger.
    pub async fn on_integration_events(
        &self,
        events: &[IntegrationEvent],
    ) -> Result<Outcome, EngineError> {
        let mut outcome = Outcome::default();
        if !self.listens_to_integrations() {
            return Ok(outcome);
        }
        let start = self.feed_end().await?;
        let mut wrote = false;
        for e in events {
            let mut entry: Option<Value> = None;
            for w in &self.workflows {
                if !self.is_enabled(w)
                    || !w
                        .triggers
                        .iter()
                        .any(|t| integration_trigger_matches(t, &e.event))
                {
                    continue;
                }
                let entry_value = match (&entry, e.event.entry_id) {
                    (Some(v), _) => v.clone(),
                    (None, None) => Value::Null,
                    (None, Some(id)) => {
                        let v = match self.app.store().get(id).await {
                            Ok(x) => entry_json(&x),
                            Err(x) if x.kind() == devlog_core::ErrorKind::NotFound => Value::Null,
                            Err(x) => return Err(x.into()),
                        };
                        entry = Some(v.clone());
                        v
                    }
                };
                let event_json = integration_event_json(e);
                let verdict = self.check(&w.workflow, &entry_value, &event_json);
                if verdict == Ok(false) {
                    continue;
                }
                let name = w.workflow.name.as_str();
                if !self
                    .runs
                    .claim(name, &format!("integration-{}", e.id))
                    .await?
                {
                    continue;
                }
                let cause = Cause::Integration {
                    id: e.id,
                    event: event_json.clone(),
                };
                let linked = (!entry_value.is_null())
                    .then_some(e.event.entry_id)
                    .flatten();
                let record = self.new_record(w, cause, linked, 0);
                if let Err(x) = verdict {
                    outcome.runs.push(
                        self.finish_unrun(record, &format!("condition: {x}"))
                            .await?,
                    );
                    continue;
                }
                let record = self.execute(w, record, event_json, Mode::Live).await?;
                wrote |= !record.steps.is_empty();
                entry = None;
                outcome.runs.push(record);
            }
        }
        if wrote {
            let events = self.events_by_workflows_after(start).await?;
            outcome.runs.extend(self.on_events(events).await?.runs);
        }
        Ok(outcome)
    }

    /// Follows the sync state's integration events (webhook deliveries' events, conflicts,
    /// dead jobs) like [`Engine::follow_feed`] follows the change feed: from a cursor kept in
    /// the sync state (`integration`), which the first call starts at the newest
    /// event (history is not replayed).
    pub async fn follow_integration_events(
        &self,
        state: &dyn SyncStateStore,
    ) -> Result<Outcome, EngineError> {
        let Some(from) = self.runs.integration_cursor().await? else {
            let last = state.last_event_id().await?;
            self.runs.save_integration_cursor(last).await?;
            return Ok(Outcome::default());
        };
        let mut outcome = Outcome::default();
        let mut cursor = from;
        let mut read = 0;
        while read < MAX_FOLLOW {
            let page = state.events_after(cursor, 500).await?;
            let Some(last) = page.last() else { break };
            cursor = last.id;
            read += page.len();
            outcome
                .runs
                .extend(self.on_integration_events(&page).await?.runs);
            self.runs.save_integration_cursor(cursor).await?;
        }
        Ok(outcome)
    }

    async fn finish_unrun(
        &self,
        mut record: RunRecord,
        why: &str,
    ) -> Result<RunRecord, EngineError> {
        record.state = RunState::Failed;
        record.error = Some(why.to_string());
        record.finished_at = Some(self.app.clock().now());
        self.runs.save(&record).await?;
        Ok(record)
    }

    /// `devlog workflow test`: evaluates the condition and renders every step against an
    /// entry (and an event: the given JSON, else a `manual` one), changing nothing.
    pub async fn dry_run(
        &self,
        name: &str,
        entry: Option<EntryId>,
        event: Option<Value>,
    ) -> Result<DryRun, EngineError> {
        let w = self.find(name)?;
        let entry_value = match entry {
            Some(id) => entry_json(&self.app.store().get(id).await?),
            None => Value::Null,
        };
        let event = event.unwrap_or_else(|| json!({"type": "manual"}));
        let condition = match self.check(&w.workflow, &entry_value, &event) {
            Ok(b) => w.workflow.condition.as_ref().map(|_| b),
            Err(e) => {
                return Ok(DryRun {
                    workflow: name.to_string(),
                    condition: None,
                    steps: Vec::new(),
                    error: Some(format!("condition: {e}")),
                });
            }
        };
        let record = self.new_record(w, Cause::Manual { actor: None }, entry, 0);
        let record = self.execute(w, record, event, Mode::Dry).await?;
        Ok(DryRun {
            workflow: name.to_string(),
            condition,
            steps: record.steps,
            error: record.error,
        })
    }

    /// Resumes the runs left `running` by a process that stopped (killed, crashed), at the
    /// step each was on, and the parked runs (`waiting`, `retrying`) whose time came (the
    /// engine's clock). Runs held by a live process are left alone; a run another process
    /// resumed meanwhile is not run twice (it is read again under its lease).
    pub async fn resume_unfinished(&self) -> Result<Vec<RunRecord>, EngineError> {
        let now = self.app.clock().now();
        let mut out = Vec::new();
        for run in self.runs.unfinished(now).await? {
            if let Some(done) = self.resume(&run.id, |r| r.is_due(now)).await? {
                out.push(done);
            }
        }
        Ok(out)
    }

    /// Resumes one run by hand (`devlog workflow resume RUN`; `None`: a live process holds
    /// it): a running one, a waiting one whose time came, a retrying one now (before its
    /// backoff ends), or a dead one (its failed step gets its attempts afresh).
    pub async fn resume_run(&self, id: &RunId) -> Result<Option<RunRecord>, EngineError> {
        let run = self.runs.load(id).await?;
        let now = self.app.clock().now();
        match run.state {
            RunState::Running | RunState::Retrying | RunState::Dead => {}
            RunState::Waiting if run.is_due(now) => {}
            RunState::Waiting => {
                return Err(EngineError::NotDue {
                    id: id.to_string(),
                    wake_at: run.wake_at.unwrap_or(now),
                });
            }
            RunState::Succeeded | RunState::Failed => {
                return Err(EngineError::NotResumable {
                    id: id.to_string(),
                    state: run.state.as_str(),
                });
            }
        }
        let state = run.state;
        self.resume(id, |r| r.state == state).await
    }

    /// Resumes a run under its lease, if `take` still holds for its record read under the
    /// lease (another process may have finished or parked it since it was listed).
    async fn resume(
        &self,
        id: &RunId,
        take: impl Fn(&RunRecord) -> bool,
    ) -> Result<Option<RunRecord>, EngineError> {
        let Some(lease) = self.runs.lease(id).await? else {
            return Ok(None);
        };
        let mut run = match self.runs.load(id).await {
            Ok(run) => run,
            Err(e) => {
                lease.release().await?;
                return Err(e.into());
            }
        };
        if !take(&run) {
            lease.release().await?;
            return Ok(None);
        }
        match run.state {
            // Its process stopped mid-run.
            RunState::Running => run.resumed += 1,
            // A re-run from the dead letter: the failed steps get their attempts afresh.
            RunState::Dead => {
                for s in &mut run.steps {
                    if s.state == StepState::Failed {
                        s.attempts = 0;
                    }
                }
                run.error = None;
                run.finished_at = None;
            }
            _ => {}
        }
        run.state = RunState::Running;
        run.wake_at = None;
        let w = match self.find(&run.workflow) {
            Ok(w) => w,
            Err(e) => {
                let why = format!("could not resume: {e}");
                let run = self.finish_unrun(run, &why).await;
                lease.release().await?;
                return Ok(Some(run?));
            }
        };
        let event = run.cause.event_value();
        Ok(Some(self.run_leased(lease, w, run, event).await?))
    }

    /// Runs (or dry-runs) a workflow's steps, recording the run.
    async fn execute(
        &self,
        w: &Loaded,
        record: RunRecord,
        event: Value,
        mode: Mode,
    ) -> Result<RunRecord, EngineError> {
        if mode == Mode::Dry {
            return self.execute_leased(w, record, event, mode).await;
        }
        // Recorded already leased to this process: no other worker sees it free.
        let Some(lease) = self.runs.start(&record).await? else {
            return Ok(record);
        };
        self.run_leased(lease, w, record, event).await
    }

    /// Runs a run's steps under its lease (renewed meanwhile), then releases it: a run left
    /// `running` by an error is resumed by the next pass, here or on another worker.
    async fn run_leased(
        &self,
        lease: Lease,
        w: &Loaded,
        record: RunRecord,
        event: Value,
    ) -> Result<RunRecord, EngineError> {
        let result = self.execute_leased(w, record, event, Mode::Live).await;
        let released = lease.release().await;
        let record = result?;
        released?;
        Ok(record)
    }

    async fn execute_leased(
        &self,
        w: &Loaded,
        record: RunRecord,
        event: Value,
        mode: Mode,
    ) -> Result<RunRecord, EngineError> {
        let entry = match record.entry {
            Some(id) => match self.app.store().get(id).await {
                Ok(e) => Some(e),
                Err(e) if e.kind() == devlog_core::ErrorKind::NotFound => None,
                Err(e) => return Err(e.into()),
            },
            None => None,
        };
        let mut record = record;
        let previous: HashMap<String, StepRecord> = record
            .steps
            .iter()
            .map(|s| (s.path.clone(), s.clone()))
            .collect();
        let mut vars = record.vars.clone();
        if record.vars.is_empty() && !w.workflow.vars.is_empty() {
            let entry = entry.as_ref().map_or(Value::Null, entry_json);
            match self.initial_vars(&w.workflow, &entry, &event) {
                Ok(v) => {
                    vars = v.clone();
                    record.vars = v;
                }
                Err(e) => {
                    record.state = RunState::Failed;
                    record.error = Some(e);
                    record.finished_at = Some(self.app.clock().now());
                    if mode == Mode::Live {
                        self.runs.save(&record).await?;
                    }
                    return Ok(record);
                }
            }
        }
        if mode == Mode::Live {
            self.runs.save(&record).await?;
        }
        let shared = Arc::new(Mutex::new(record));
        let mut exec = Exec {
            engine: self,
            workflow: &w.workflow,
            mode,
            run_id: shared
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .id
                .clone(),
            record: shared.clone(),
            saving: Arc::new(tokio::sync::Mutex::new(())),
            vars,
            entry,
            event,
            outputs: Map::new(),
            items: Vec::new(),
            previous: Arc::new(previous),
        };
        let result = exec.run_steps(&w.workflow.steps, String::new()).await;
        drop(exec);
        let mut record = match Arc::try_unwrap(shared) {
            Ok(m) => m.into_inner().unwrap_or_else(PoisonError::into_inner),
            Err(shared) => shared
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        };
        match result {
            Ok(()) => record.state = RunState::Succeeded,
            Err(Stop::Failed(message)) => {
                record.state = RunState::Failed;
                record.error = Some(message);
            }
            Err(Stop::Dead(message)) => {
                record.state = RunState::Dead;
                record.error = Some(message);
            }
            Err(Stop::Park { until, state }) => {
                // Parked: no process waits; a later pass resumes the run at its `wakeAt`.
                record.state = state;
                record.wake_at = Some(until);
                if mode == Mode::Live {
                    self.runs.save(&record).await?;
                }
                return Ok(record);
            }
            Err(Stop::Engine(e)) => {
                // The run stays `running` to be resumed: the store or the sync state failed,
                // not the workflow.
                return Err(e);
            }
        }
        record.finished_at = Some(self.app.clock().now());
        if mode == Mode::Live {
            self.runs.save(&record).await?;
        }
        Ok(record)
    }
}

/// An entry as conditions and templates see it: its JSON (camelCase, as in its file) with
/// `handle` as `#N` in `ref`.
pub fn entry_json(e: &Entry) -> Value {
    let mut v = serde_json::to_value(e).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut v {
        m.insert("ref".into(), Value::String(e.handle_str()));
    }
    v
}

impl<'a> Exec<'a> {
    fn meta(&self) -> WriteMeta {
        WriteMeta::new(self.engine.origin)
            .with_actor(Some(actor_of(self.workflow.name.as_str())))
            .with_workflow(Some(format!("{}/{}", self.workflow.name, self.run_id)))
    }

    /// The write of step `path`: its events carry the step's idempotency key as their change
    /// id, and what it creates gets ids derived from that key, so a resume finds the write in
    /// the feed or in the entry ([`Exec::made_before`]).
    fn step_meta(&self, path: &str) -> WriteMeta {
        self.meta().with_change(Some(self.step_key(path)))
    }

    /// A branch of a `parallel` group: the run's record shared, the scope copied.
    fn branch(&self) -> Exec<'a> {
        Exec {
            engine: self.engine,
            workflow: self.workflow,
            mode: self.mode,
            run_id: self.run_id.clone(),
            record: self.record.clone(),
            saving: self.saving.clone(),
            entry: self.entry.clone(),
            event: self.event.clone(),
            vars: self.vars.clone(),
            outputs: self.outputs.clone(),
            items: self.items.clone(),
            previous: self.previous.clone(),
        }
    }

    fn entry_value(&self) -> Value {
        self.entry.as_ref().map_or(Value::Null, entry_json)
    }

    /// The variables templates see.
    fn template_ctx(&self) -> Value {
        let mut m = Map::new();
        m.insert("entry".into(), self.entry_value());
        m.insert("event".into(), self.event.clone());
        m.insert("vars".into(), Value::Object(self.vars.clone()));
        m.insert("steps".into(), Value::Object(self.outputs.clone()));
        m.insert(
            "now".into(),
            Value::String(self.engine.app.clock().now().to_string()),
        );
        m.insert(
            "run".into(),
            json!({"id": self.run_id.as_str(), "dry": self.mode == Mode::Dry}),
        );
        m.insert(
            "workflow".into(),
            json!({"name": self.workflow.name.as_str()}),
        );
        for (name, value) in &self.items {
            m.insert(name.clone(), value.clone());
        }
        Value::Object(m)
    }

    fn render(&self, t: &Template) -> Result<String, Stop> {
        self.engine
            .renderer
            .render(t, &self.template_ctx())
            .map_err(|e| Stop::Failed(e.to_string()))
    }

    fn render_opt(&self, t: &Option<Template>) -> Result<Option<String>, Stop> {
        t.as_ref().map(|t| self.render(t)).transpose()
    }

    fn render_all(&self, ts: &[Template]) -> Result<Vec<String>, Stop> {
        ts.iter().map(|t| self.render(t)).collect()
    }

    fn eval_bool(&self, c: &Condition) -> Result<bool, Stop> {
        let ctx = self.cel_ctx();
        c.eval_bool(&ctx).map_err(|e| Stop::Failed(e.to_string()))
    }

    fn eval_json(&self, c: &Condition) -> Result<Value, Stop> {
        let ctx = self.cel_ctx();
        c.eval_json(&ctx).map_err(|e| Stop::Failed(e.to_string()))
    }

    fn cel_ctx(&self) -> cel::Context<'static, 'static> {
        let entry = self.entry_value();
        let vars = Value::Object(self.vars.clone());
        let steps = Value::Object(self.outputs.clone());
        let mut named: Vec<(&str, &Value)> = vec![
            ("entry", &entry),
            ("event", &self.event),
            ("vars", &vars),
            ("steps", &steps),
        ];
        for (name, value) in &self.items {
            named.push((name.as_str(), value));
        }
        context_with(&named, self.engine.app.clock().now().as_datetime())
    }

    /// The entry a step acts on: its `entry` reference, else the run's entry.
    async fn target(&self, given: &Option<Template>) -> Result<Entry, Stop> {
        match self.render_opt(given)? {
            Some(r) => self
                .engine
                .app
                .resolve(r.trim())
                .await
                .map_err(|e| Stop::Failed(format!("entry {r:?}: {e}"))),
            None => self.entry.clone().ok_or_else(|| {
                Stop::Failed(
                    "this step needs an entry: the run has none (give `entry:` on the step, \
                     or run the workflow with a REF)"
                        .into(),
                )
            }),
        }
    }

    async fn refresh(&mut self) -> Result<(), Stop> {
        if let Some(e) = &self.entry {
            match self.engine.app.store().get(e.id).await {
                Ok(e) => self.entry = Some(e),
                Err(err) if err.kind() == devlog_core::ErrorKind::NotFound => self.entry = None,
                Err(err) => return Err(Stop::Engine(err.into())),
            }
        }
        Ok(())
    }

    async fn save(&self) -> Result<(), Stop> {
        if self.mode == Mode::Live {
            // The record is read under the save lock: the branches of a group save in turn,
            // each a record at least as new as the one saved before it.
            let _turn = self.saving.lock().await;
            let record = self
                .record
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone();
            self.engine.runs.save(&record).await?;
        }
        Ok(())
    }

    fn set_step(&mut self, rec: StepRecord) {
        let mut record = self.record.lock().unwrap_or_else(PoisonError::into_inner);
        match record.steps.iter_mut().find(|s| s.path == rec.path) {
            Some(s) => *s = rec,
            None => record.steps.push(rec),
        }
    }

    fn run_steps<'b>(&'b mut self, steps: &'b [Step], prefix: String) -> StepFuture<'b> {
        Box::pin(async move {
            for (i, step) in steps.iter().enumerate() {
                let path = format!("{prefix}{i}");
                self.run_step(step, path).await?;
            }
            Ok(())
        })
    }

    /// Restores what a step recorded before a resume; true when it need not run again.
    async fn restore(&mut self, step: &Step, path: &str) -> Result<bool, Stop> {
        let Some(prev) = self.previous.get(path).cloned() else {
            return Ok(false);
        };
        let mut prev = prev;
        let done = match prev.state {
            StepState::Done => true,
            // Killed during the step, or an attempt that failed (a timeout may come after the
            // write): a write that was made is not repeated.
            StepState::Started | StepState::Failed if is_write(&step.action) => {
                let entry = match prev.output.get("entry") {
                    Some(Value::String(id)) => Some(
                        id.parse::<EntryId>()
                            .map_err(|_| Stop::Failed(format!("step {path}: bad entry id {id}")))?,
                    ),
                    _ => None,
                };
                match self.made_before(step, path, entry, prev.feed_seq).await? {
                    Some(output) => {
                        prev.output = output;
                        true
                    }
                    None => false,
                }
            }
            StepState::Started | StepState::Failed => false,
        };
        if !done {
            return Ok(false);
        }
        match &step.action {
            Action::SetVar(_) => {
                if let Value::Object(m) = &prev.output {
                    for (k, v) in m {
                        self.vars.insert(k.clone(), v.clone());
                    }
                }
            }
            Action::If { .. } | Action::ForEach(_) => {}
            _ => {}
        }
        if let Some(id) = &step.id {
            self.outputs
                .insert(id.as_str().to_string(), prev.output.clone());
        }
        if prev.state != StepState::Done {
            let mut rec = prev;
            rec.state = StepState::Done;
            rec.error = None;
            self.set_step(rec);
            self.save().await?;
        }
        Ok(true)
    }

    /// The output of write step `path` if an earlier attempt made its write, found by what
    /// the write left: the note, decision, worklog or entry with the id derived from the
    /// step's key (in the entry itself, so also when the change feed lacks the write's event),
    /// or, for a `set` or `link`, an event of the entry carrying the step's key as its change
    /// id after the feed position recorded when the step started. `None`: make the write
    /// (a `set` or `link` made again changes nothing that was made).
    async fn made_before(
        &self,
        step: &Step,
        path: &str,
        entry: Option<EntryId>,
        after: Option<u64>,
    ) -> Result<Option<Value>, Stop> {
        let meta = self.step_meta(path);
        let store = self.engine.app.store();
        let derived = |what: &str| meta.derived_id(what).map(|u| u.to_string());
        if let Action::CreateEntry(_) = &step.action {
            let Some(id) = meta.derived_id("entry").map(EntryId::from_uuid) else {
                return Ok(None);
            };
            return match store.get(id).await {
                Ok(e) => Ok(Some(
                    json!({"id": e.id.to_string(), "ref": e.handle_str(), "key": e.key, "existing": false}),
                )),
                Err(e) if e.kind() == devlog_core::error::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(Stop::Engine(e.into())),
            };
        }
        let Some(id) = entry else {
            return Ok(None);
        };
        let e = match store.get(id).await {
            Ok(e) => e,
            Err(e) if e.kind() == devlog_core::error::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Stop::Engine(e.into())),
        };
        let here = json!({"entry": e.id.to_string(), "ref": e.handle_str()});
        let with = |k: &str, v: Value| {
            let mut out = here.clone();
            out[k] = v;
            out
        };
        Ok(match &step.action {
            Action::AddNote(_) => {
                let want = derived("note");
                e.notes
                    .iter()
                    .find(|n| Some(&n.id) == want.as_ref())
                    .map(|n| with("noteId", json!(n.id)))
            }
            Action::AddDecision(_) => {
                let want = derived("decision");
                e.context
                    .decisions
                    .iter()
                    .find(|d| Some(&d.id) == want.as_ref())
                    .map(|d| with("decisionId", json!(d.id)))
            }
            Action::LogWork(_) => {
                let want = derived("worklog");
                e.worklogs
                    .iter()
                    .find(|w| Some(&w.id) == want.as_ref())
                    .map(|w| {
                        let mut out = with("worklogId", json!(w.id));
                        out["minutes"] = json!(w.minutes);
                        out
                    })
            }
            _ => {
                let key = self.step_key(path);
                let events = store
                    .entry_events(id, after.unwrap_or(0), None, 1000)
                    .await
                    .map_err(|e| Stop::Engine(e.into()))?;
                events
                    .iter()
                    .any(|e| e.change.as_deref() == Some(key.as_str()))
                    .then_some(here)
            }
        })
    }

    async fn run_step(&mut self, step: &Step, path: String) -> Result<(), Stop> {
        // Groups re-decide from their record, so a resumed run takes the same way.
        let resumed_done = if step.action.is_group() {
            false
        } else {
            self.restore(step, &path).await?
        };
        if resumed_done {
            return Ok(());
        }
        let live = self.mode == Mode::Live;
        let action = step.action.name().to_string();
        let attempts = self.previous.get(&path).map_or(0, |p| p.attempts);
        let write = live && is_write(&step.action);
        let feed_seq = if write {
            Some(
                self.engine
                    .feed_end()
                    .await
                    .map_err(|e| Stop::Engine(e.into()))?,
            )
        } else {
            None
        };
        let mut started = Value::Null;
        if write {
            // The step's entry is recorded before the write, so a resume can look for it.
            let target = self.target(entry_of(&step.action)).await;
            started = match &target {
                Ok(e) => json!({"entry": e.id.to_string()}),
                Err(_) => Value::Null,
            };
            self.set_step(StepRecord {
                path: path.clone(),
                action: action.clone(),
                state: StepState::Started,
                output: started.clone(),
                error: None,
                feed_seq,
                attempts,
            });
            self.save().await?;
        }
        // One attempt of a step that does something is bounded in time; groups and `wait`
        // are not (their steps are).
        let result = if live && !step.action.is_group() && !matches!(step.action, Action::Wait(_)) {
            let limit = step
                .timeout
                .or(self.workflow.timeout)
                .unwrap_or(DEFAULT_TIMEOUT);
            let limit_std = std::time::Duration::from_secs(limit.seconds());
            match tokio::time::timeout(limit_std, self.act(step, &path)).await {
                Ok(r) => r,
                Err(_) => Err(Stop::Failed(format!(
                    "timed out after {limit} (set `timeout:` on the step or the workflow)"
                ))),
            }
        } else {
            self.act(step, &path).await
        };
        match result {
            Ok(output) => {
                if let Some(id) = &step.id {
                    self.outputs.insert(id.as_str().to_string(), output.clone());
                }
                if !matches!(step.action, Action::If { .. } | Action::ForEach(_)) {
                    self.set_step(StepRecord {
                        path,
                        action,
                        state: StepState::Done,
                        output,
                        error: None,
                        feed_seq,
                        attempts,
                    });
                    self.save().await?;
                }
                Ok(())
            }
            Err(Stop::Failed(message)) => {
                let attempt = attempts + 1;
                // `fail` means it; a group's failure is its step's, retried there.
                let policy =
                    if live && !step.action.is_group() && !matches!(step.action, Action::Fail(_)) {
                        step.retry.as_ref().or(self.workflow.retry.as_ref())
                    } else {
                        None
                    };
                self.set_step(StepRecord {
                    path: path.clone(),
                    action,
                    state: StepState::Failed,
                    output: started,
                    error: Some(message.clone()),
                    feed_seq,
                    attempts: if policy.is_some() { attempt } else { 0 },
                });
                self.save().await?;
                match policy {
                    Some(r) if attempt < r.attempts.get() => {
                        let now = self.engine.app.clock().now();
                        let delay = r.delay_after(attempt);
                        let until =
                            Timestamp::from_millis(now.millis().saturating_add(delay.millis()))
                                .unwrap_or(now);
                        Err(Stop::Park {
                            until,
                            state: RunState::Retrying,
                        })
                    }
                    Some(r) if r.attempts.get() > 1 => Err(Stop::Dead(format!(
                        "step {path}: {message} (attempt {attempt} of {})",
                        r.attempts.get()
                    ))),
                    _ => Err(Stop::Failed(format!("step {path}: {message}"))),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// A `wait` step: the time to wake (kept in its record, so a resume waits for the same
    /// time), and the run parked until then.
    async fn wait(&mut self, w: &Wait, path: &str) -> Result<Value, Stop> {
        let now = self.engine.app.clock().now();
        let recorded = self
            .previous
            .get(path)
            .and_then(|p| p.output.get("wakeAt"))
            .and_then(|v| serde_json::from_value::<Timestamp>(v.clone()).ok());
        let wake = match (recorded, &w.duration, &w.until) {
            (Some(t), _, _) => t,
            (None, Some(d), _) => {
                Timestamp::from_millis(now.millis().saturating_add(d.millis())).unwrap_or(now)
            }
            (None, None, Some(c)) => {
                let ctx = self.cel_ctx();
                Timestamp::from_datetime(
                    c.eval_time(&ctx)
                        .map_err(|e| Stop::Failed(format!("wait.until: {e}")))?,
                )
            }
            (None, None, None) => now,
        };
        let output = json!({ "wakeAt": wake });
        if self.mode == Mode::Dry || wake <= now {
            return Ok(output);
        }
        self.set_step(StepRecord {
            path: path.to_string(),
            action: "wait".into(),
            state: StepState::Started,
            output,
            error: None,
            feed_seq: None,
            attempts: 0,
        });
        self.save().await?;
        Err(Stop::Park {
            until: wake,
            state: RunState::Waiting,
        })
    }

    /// A `parallel` group: each branch in its own [`Exec`], all polled together; when all
    /// have ended, their outputs and variables join the run's. A failing branch does not
    /// stop the others; the group fails naming it. A branch parked (a `wait`, a retry)
    /// parks the group until the earliest wake time, and the resumed run goes on in the
    /// branches that are not done (their done steps are not repeated).
    async fn parallel(&mut self, branches: &[Vec<Step>], path: &str) -> Result<Value, Stop> {
        let mut execs: Vec<Exec<'a>> = branches.iter().map(|_| self.branch()).collect();
        let results = futures::future::join_all(
            execs
                .iter_mut()
                .zip(branches)
                .enumerate()
                .map(|(i, (exec, steps))| exec.run_steps(steps, format!("{path}.parallel.{i}."))),
        )
        .await;
        let mut failed = Vec::new();
        let mut dead = false;
        let mut park: Option<(Timestamp, RunState)> = None;
        for (i, r) in results.into_iter().enumerate() {
            match r {
                Ok(()) => {}
                Err(Stop::Engine(e)) => return Err(Stop::Engine(e)),
                Err(Stop::Failed(m)) => failed.push(format!("branch {i}: {m}")),
                Err(Stop::Dead(m)) => {
                    dead = true;
                    failed.push(format!("branch {i}: {m}"));
                }
                Err(Stop::Park { until, state }) => {
                    if park.is_none_or(|(t, _)| until < t) {
                        park = Some((until, state));
                    }
                }
            }
        }
        if !failed.is_empty() {
            let message = format!("parallel {}", failed.join("; "));
            return Err(if dead {
                Stop::Dead(message)
            } else {
                Stop::Failed(message)
            });
        }
        if let Some((until, state)) = park {
            return Err(Stop::Park { until, state });
        }
        let mut out = Vec::new();
        let before = self.outputs.clone();
        for exec in execs {
            let mine: Map<String, Value> = exec
                .outputs
                .into_iter()
                .filter(|(k, v)| before.get(k) != Some(v))
                .collect();
            self.outputs.extend(mine.clone());
            self.vars.extend(exec.vars);
            out.push(Value::Object(mine));
        }
        self.refresh().await?;
        Ok(json!({ "branches": out }))
    }

    /// Does one step; returns its output.
    async fn act(&mut self, step: &Step, path: &str) -> Result<Value, Stop> {
        let dry = self.mode == Mode::Dry;
        match &step.action {
            Action::AddNote(a) => {
                let target = self.target(&a.entry).await?;
                let text = self.render(&a.text)?;
                if dry {
                    return Ok(
                        json!({"entry": target.id.to_string(), "ref": target.handle_str(), "category": a.category, "text": text, "noteId": "(dry run)"}),
                    );
                }
                let note = NewNote {
                    content: text,
                    category: a.category,
                    files: Vec::new(),
                    code_changes: None,
                };
                let (_, n) = self
                    .engine
                    .app
                    .add_note(target.id, note, &self.step_meta(path))
                    .await
                    .map_err(failed)?;
                self.refresh().await?;
                Ok(
                    json!({"entry": target.id.to_string(), "ref": target.handle_str(), "noteId": n.id}),
                )
            }
            Action::AddDecision(a) => {
                let target = self.target(&a.entry).await?;
                let d = NewDecision {
                    decision: self.render(&a.decision)?,
                    rationale: self.render(&a.rationale)?,
                    alternatives: self.render_all(&a.alternatives)?,
                    decision_maker: actor_of(self.workflow.name.as_str()),
                    shared: false,
                };
                if dry {
                    return Ok(
                        json!({"entry": target.id.to_string(), "ref": target.handle_str(), "decision": d.decision, "rationale": d.rationale, "alternatives": d.alternatives}),
                    );
                }
                let e = self
                    .engine
                    .app
                    .decide(target.id, d, &self.step_meta(path))
                    .await
                    .map_err(failed)?;
                self.refresh().await?;
                let id = e.context.decisions.last().map(|d| d.id.clone());
                Ok(
                    json!({"entry": target.id.to_string(), "ref": target.handle_str(), "decisionId": id}),
                )
            }
            Action::Set(s) => {
                let target = self.target(&s.entry).await?;
                let edit = Edit {
                    title: self.render_opt(&s.title)?,
                    kind: s.kind,
                    status: s.status,
                    priority: s.priority,
                    description: self.render_opt(&s.description)?,
                    assignee: self.render_opt(&s.assignee)?,
                    add_tags: self.render_all(&s.add_tags)?,
                    remove_tags: self.render_all(&s.remove_tags)?,
                    due: self.render_opt(&s.due)?,
                    ..Edit::default()
                };
                let fields = serde_json::to_value(&edit).unwrap_or(Value::Null);
                let fields = strip_empty(fields);
                if dry || edit.is_empty() {
                    return Ok(
                        json!({"entry": target.id.to_string(), "ref": target.handle_str(), "fields": fields}),
                    );
                }
                self.engine
                    .app
                    .edit(target.id, edit, &self.step_meta(path))
                    .await
                    .map_err(failed)?;
                self.refresh().await?;
                Ok(
                    json!({"entry": target.id.to_string(), "ref": target.handle_str(), "fields": fields}),
                )
            }
            Action::CreateEntry(c) => {
                let parent = if c.parent {
                    Some(
                        self.entry
                            .as_ref()
                            .ok_or_else(|| {
                                Stop::Failed(
                                    "`parent: true` needs the run's entry: the run has none".into(),
                                )
                            })?
                            .id
                            .to_string(),
                    )
                } else {
                    None
                };
                let input = NewEntry {
                    title: self.render(&c.title)?,
                    kind: Some(c.kind),
                    description: self.render_opt(&c.description)?.unwrap_or_default(),
                    priority: c.priority,
                    tags: self.render_all(&c.tags)?,
                    parent,
                    ..NewEntry::default()
                };
                if dry {
                    return Ok(
                        json!({"title": input.title, "type": input.kind, "priority": input.priority, "description": input.description, "tags": input.tags, "parent": input.parent, "id": "(dry run)", "ref": "(dry run)"}),
                    );
                }
                let created = self
                    .engine
                    .app
                    .create(input, &self.step_meta(path))
                    .await
                    .map_err(failed)?;
                let existing = matches!(created, devlog_core::store::Created::Existing(_));
                let e = created.entry();
                self.refresh().await?;
                Ok(
                    json!({"id": e.id.to_string(), "ref": e.handle_str(), "key": e.key, "existing": existing}),
                )
            }
            Action::Link(l) => {
                let target = self.target(&l.entry).await?;
                let to = self.render(&l.to)?;
                if dry {
                    return Ok(
                        json!({"entry": target.id.to_string(), "ref": target.handle_str(), "kind": l.kind, "to": to}),
                    );
                }
                self.engine
                    .app
                    .link(target.id, l.kind, to.trim(), &self.step_meta(path))
                    .await
                    .map_err(failed)?;
                self.refresh().await?;
                Ok(
                    json!({"entry": target.id.to_string(), "ref": target.handle_str(), "kind": l.kind, "to": to}),
                )
            }
            Action::LogWork(l) => {
                let target = self.target(&l.entry).await?;
                let input = NewWorklog {
                    duration: self.render(&l.duration)?,
                    date: self.render_opt(&l.date)?,
                    note: self.render_opt(&l.note)?.unwrap_or_default(),
                    author: None,
                };
                if dry {
                    return Ok(
                        json!({"entry": target.id.to_string(), "ref": target.handle_str(), "duration": input.duration, "date": input.date, "note": input.note}),
                    );
                }
                let (_, w) = self
                    .engine
                    .app
                    .log_time(target.id, input, &self.step_meta(path))
                    .await
                    .map_err(failed)?;
                self.refresh().await?;
                Ok(
                    json!({"entry": target.id.to_string(), "ref": target.handle_str(), "worklogId": w.id, "minutes": w.minutes}),
                )
            }
            Action::SetVar(vars) => {
                let mut set = Map::new();
                for (name, value) in vars {
                    let v = match value {
                        VarValue::Literal(v) => v.clone(),
                        VarValue::Template(t) => Value::String(self.render(t)?),
                    };
                    self.vars.insert(name.as_str().to_string(), v.clone());
                    set.insert(name.as_str().to_string(), v);
                }
                Ok(Value::Object(set))
            }
            Action::Fail(t) => {
                let message = self.render(t)?;
                Err(Stop::Failed(format!("fail: {message}")))
            }
            Action::If {
                condition,
                then,
                otherwise,
            } => {
                let branch = match self.previous.get(path).and_then(|p| {
                    p.output
                        .get("branch")
                        .and_then(Value::as_str)
                        .map(str::to_string)
                }) {
                    Some(b) => b == "then",
                    None => self.eval_bool(condition)?,
                };
                let (name, steps) = if branch {
                    ("then", then)
                } else {
                    ("else", otherwise)
                };
                let output = json!({"branch": name});
                self.set_step(StepRecord {
                    path: path.to_string(),
                    action: "if".into(),
                    state: StepState::Done,
                    output: output.clone(),
                    error: None,
                    feed_seq: None,
                    attempts: 0,
                });
                self.save().await?;
                self.run_steps(steps, format!("{path}.{name}.")).await?;
                Ok(output)
            }
            Action::Sync(_)
            | Action::Notify(_)
            | Action::Plugin(_)
            | Action::Branch(_)
            | Action::PullRequest(_)
            | Action::Pipeline(_) => self.act_outside(step, path).await,
            Action::ForEach(f) => {
                let items = match self
                    .previous
                    .get(path)
                    .and_then(|p| p.output.get("items").cloned())
                {
                    Some(items) => items,
                    None => self.eval_json(&f.items)?,
                };
                let Value::Array(list) = items else {
                    return Err(Stop::Failed(format!(
                        "for_each.items `{}` gives {}, not a list",
                        f.items.source(),
                        kind_of(&items)
                    )));
                };
                if list.len() > MAX_ITEMS {
                    return Err(Stop::Failed(format!(
                        "for_each.items gives {} items; at most {MAX_ITEMS} are allowed",
                        list.len()
                    )));
                }
                let output = json!({"items": list});
                self.set_step(StepRecord {
                    path: path.to_string(),
                    action: "for_each".into(),
                    state: StepState::Done,
                    output: output.clone(),
                    error: None,
                    feed_seq: None,
                    attempts: 0,
                });
                self.save().await?;
                for (i, item) in list.into_iter().enumerate() {
                    self.items.push((f.alias.as_str().to_string(), item));
                    let r = self.run_steps(&f.steps, format!("{path}.each.{i}.")).await;
                    self.items.pop();
                    r?;
                }
                Ok(output)
            }
            Action::Wait(w) => self.wait(w, path).await,
            Action::Parallel(branches) => self.parallel(branches, path).await,
            Action::Report(r) => {
                let now = self.engine.app.clock().now();
                let since = r.since.map(|span| {
                    Timestamp::from_datetime(
                        now.as_datetime() - chrono::Duration::milliseconds(span.millis()),
                    )
                });
                let query = ReportQuery {
                    since,
                    until: Some(now),
                    by: r.by.clone(),
                    filter: Default::default(),
                };
                let out = self
                    .engine
                    .app
                    .report(r.name, &query, None)
                    .await
                    .map_err(|e| Stop::Failed(format!("report {}: {e}", r.name.as_str())))?;
                serde_json::to_value(out)
                    .map_err(|e| Stop::Failed(format!("report {}: {e}", r.name.as_str())))
            }
        }
    }
}

fn failed(e: StoreError) -> Stop {
    Stop::Failed(e.to_string())
}

/// Whether a step writes to the store.
fn is_write(a: &Action) -> bool {
    matches!(
        a,
        Action::AddNote(_)
            | Action::AddDecision(_)
            | Action::Set(_)
            | Action::CreateEntry(_)
            | Action::Link(_)
            | Action::LogWork(_)
    )
}

static NONE: Option<Template> = None;

/// The `entry:` of a write step.
fn entry_of(a: &Action) -> &Option<Template> {
    match a {
        Action::AddNote(a) => &a.entry,
        Action::AddDecision(a) => &a.entry,
        Action::Set(a) => &a.entry,
        Action::Link(a) => &a.entry,
        Action::LogWork(a) => &a.entry,
        _ => &NONE,
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}

/// An `Edit` as JSON without its empty parts (what a `set` step changes).
fn strip_empty(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(_, v)| !v.is_null() && v.as_array().is_none_or(|a| !a.is_empty()))
                .collect(),
        ),
        other => other,
    }
}

/// Names of workflows in a stable order, for messages.
pub fn names(workflows: &[Loaded]) -> BTreeMap<String, String> {
    workflows
        .iter()
        .map(|w| (w.workflow.name.to_string(), w.file.clone()))
        .collect()
}

// Steps with effects outside the store (`sync`, `notify`, `plugin`: host.rs), kept in a block
// of their own.

impl Engine {
    /// What the host finds wrong in the loaded workflows' `sync`, `notify` and `plugin` steps
    /// before any runs (an unknown integration, plugin or action; a notify target not
    /// configured), one message per step naming the workflow's file and the step. Nothing
    /// without a host.
    pub fn host_problems(&self) -> Vec<crate::format::FormatError> {
        match &self.host {
            Some(host) => crate::host::problems(host.as_ref(), &self.workflows),
            None => Vec::new(),
        }
    }
}

impl Exec<'_> {
    fn host(&self, what: &str) -> Result<&Arc<dyn StepHost>, Stop> {
        self.engine.host.as_ref().ok_or_else(|| {
            Stop::Failed(format!(
                "`{what}` steps need devlog's integrations, HTTP client and plugins, which this \
                 program did not give the workflow engine"
            ))
        })
    }

    /// The idempotency key of a step of this run: the same on every attempt and resume.
    fn step_key(&self, path: &str) -> String {
        format!("{}/{path}", self.run_id)
    }

    /// Records a `notify` or `plugin` step's remote effect in the audit log (issue 20: every
    /// remote effect), as the workflow with its run as source, once: the effect id is the
    /// step's idempotency key, the same on every attempt and resume. (`sync` steps are
    /// recorded by the sync engine, per item, comment and worklog.) A failure to record is
    /// a warning, not a failed step: the effect has happened.
    async fn audit_effect(&self, system: &str, effect: RemoteEffect, remote_id: String, key: &str) {
        let Some(log) = self.engine.app.store().audit_log() else {
            return;
        };
        let meta = self.meta();
        let mut draft = Draft::action(
            self.engine.app.clock().now(),
            meta.actor,
            meta.origin,
            AuditAction::RemoteEffect {
                integration: system.to_string(),
                effect,
                remote_id,
                item: None,
                url: None,
                effect_id: key.to_string(),
            },
        )
        .with_source(meta.source);
        if let Some(e) = &self.entry {
            draft = draft.for_entry(e.id, e.handle);
        }
        if let Err(e) = log.audit_append(vec![draft]).await {
            tracing::warn!(
                workflow = %self.workflow.name,
                run = %self.run_id,
                "the {} of step {key} is not in the audit log: {e}",
                effect.name()
            );
        }
    }

    /// Runs a step with an outside effect (a dry run asks the host what it would do).
    async fn act_outside(&mut self, step: &Step, path: &str) -> Result<Value, Stop> {
        let dry = self.mode == Mode::Dry;
        match &step.action {
            Action::Sync(s) => {
                let target = self.target(&s.entry).await?;
                let req = SyncRequest {
                    integration: s.integration.clone(),
                    entry: target.id,
                    handle: target.handle,
                };
                let host = self.host("sync")?;
                let mut out = host.sync(&req, dry).await.map_err(Stop::Failed)?;
                if let Value::Object(m) = &mut out {
                    m.entry("entry")
                        .or_insert_with(|| Value::String(target.id.to_string()));
                    m.entry("ref")
                        .or_insert_with(|| Value::String(target.handle_str()));
                    m.entry("integration")
                        .or_insert_with(|| Value::String(s.integration.clone()));
                }
                if !dry {
                    // The push may have recorded remote ids on the entry.
                    self.refresh().await?;
                }
                Ok(out)
            }
            Action::Notify(n) => {
                let target = match (&n.target, &n.url) {
                    (Some(name), _) => NotifyTarget::Named(name.clone()),
                    (None, Some(url)) => NotifyTarget::Url(self.render(url)?.trim().to_string()),
                    (None, None) => return Err(Stop::Failed("notify: no target".into())),
                };
                let payload = match n.format {
                    NotifyFormat::Slack => {
                        let text = self.render_opt(&n.text)?.unwrap_or_default();
                        json!({ "text": text })
                    }
                    NotifyFormat::Json => {
                        let body = self.render_opt(&n.body)?.unwrap_or_default();
                        serde_json::from_str::<Value>(&body).map_err(|e| {
                            Stop::Failed(format!(
                                "notify: the rendered `body` is not JSON ({e}): {}",
                                crate::host::clip(&body)
                            ))
                        })?
                    }
                };
                let req = NotifyRequest {
                    target,
                    format: n.format,
                    payload,
                    key: self.step_key(path),
                };
                let host = self.host("notify")?;
                let out = host.notify(&req, dry).await.map_err(Stop::Failed)?;
                if !dry {
                    // The target's name, or the URL's scheme and host: never the URL.
                    let shown = match &req.target {
                        NotifyTarget::Named(name) => name.clone(),
                        NotifyTarget::Url(url) => crate::host::redact_url(url),
                    };
                    self.audit_effect("notify", RemoteEffect::NotificationSent, shown, &req.key)
                        .await;
                }
                Ok(out)
            }
            Action::Plugin(p) => {
                let mut input = Map::new();
                for (k, v) in &p.input {
                    let v = match v {
                        VarValue::Literal(v) => v.clone(),
                        VarValue::Template(t) => Value::String(self.render(t)?),
                    };
                    input.insert(k.clone(), v);
                }
                let req = PluginRequest {
                    plugin: p.name.clone(),
                    action: p.action.clone(),
                    input: Value::Object(input),
                    key: self.step_key(path),
                };
                let host = self.host("plugin")?;
                let out = host.plugin(&req, dry).await.map_err(Stop::Failed)?;
                if !dry {
                    self.audit_effect(
                        &req.plugin,
                        RemoteEffect::PluginActionRun,
                        req.action.clone(),
                        &req.key,
                    )
                    .await;
                }
                Ok(out)
            }
            // The host records these steps' remote effects in the audit log as the commands
            // doing the same do (one record per pull request, per pipeline run), by the run.
            Action::Branch(b) => {
                let entry = self.target(&b.entry).await?;
                let req = BranchRequest {
                    entry,
                    checkout: b.checkout,
                    push: b.push,
                    remote: b.remote.clone(),
                };
                self.host("branch")?
                    .branch(&req, dry)
                    .await
                    .map_err(Stop::Failed)
            }
            Action::PullRequest(p) => {
                let entry = self.target(&p.entry).await?;
                let req = PullRequestRequest {
                    integration: p.integration().to_string(),
                    entry,
                    branch: self.render_opt(&p.branch)?.map(|b| b.trim().to_string()),
                    base: self.render_opt(&p.base)?.map(|b| b.trim().to_string()),
                    draft: p.draft,
                    title: self.render_opt(&p.title)?,
                    body: self.render_opt(&p.body)?,
                    by: self.meta(),
                };
                let out = self
                    .host("pull_request")?
                    .pull_request(&req, dry)
                    .await
                    .map_err(Stop::Failed)?;
                if !dry {
                    // The pull request is recorded on the entry.
                    self.refresh().await?;
                }
                Ok(out)
            }
            Action::Pipeline(p) => {
                let entry = self.target(&p.entry).await?;
                let req = PipelineRequest {
                    integration: p.integration().to_string(),
                    pipeline: self.render(&p.pipeline)?.trim().to_string(),
                    entry,
                    branch: self.render_opt(&p.branch)?.map(|b| b.trim().to_string()),
                    by: self.meta(),
                };
                let out = self
                    .host("pipeline")?
                    .pipeline(&req, dry)
                    .await
                    .map_err(Stop::Failed)?;
                if !dry {
                    // The run is recorded on the entry.
                    self.refresh().await?;
                }
                Ok(out)
            }
            _ => Err(Stop::Failed(format!(
                "internal: `{}` is not a step with an outside effect",
                step.action.name()
            ))),
        }
    }
}
