//! `devlog workflow`: workflow files in `.devlog/workflows/` (devlog-workflow;
//! docs/workflows.md), and [`Hook`], which runs the workflows a write command triggered
//! before the command exits.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Args, Subcommand};
use devlog_core::{Devlog, Event, Origin};
use devlog_workflow::engine::{Engine, EngineError, origin_triggers};
use devlog_workflow::format::Trigger;
use devlog_workflow::load::{LoadReport, Switches};
use devlog_workflow::runs::{RunId, RunRecord, RunState, StepState};
use devlog_workflow::{FormatError, RunStore};
use serde_json::{Value, json};

use super::Ctx;
use crate::error::CliError;
use crate::output::{Table, count, truncate, warn, write_stdout};
use crate::workspace::Workspace;

/// Workflows: automation in .devlog/workflows/*.yml — triggers on entry changes, CEL
/// conditions, steps (docs/workflows.md)
#[derive(Debug, Args)]
pub struct WorkflowArgs {
    #[command(subcommand)]
    pub command: WorkflowCommand,
}

#[derive(Debug, Subcommand)]
pub enum WorkflowCommand {
    /// List the workflows, their triggers and whether they are enabled
    List,
    /// Check every workflow file; exits non-zero naming file, line and key of each problem
    Validate,
    /// Print the JSON Schema of workflow files (for editors)
    Schema,
    /// Dry run: evaluate the condition and render every step against an entry, changing nothing
    Test(TestArgs),
    /// Run a workflow with a `manual` trigger now
    Run(RunArgs),
    /// List recorded runs, newest first
    Runs(RunsArgs),
    /// Show one run: its trigger, each step with its output, the outcome
    Show(ShowArgs),
    /// Resume runs a stopped process left unfinished and parked runs whose time came
    /// (commands also do it before running workflows); with RUN, that run (a dead one is re-run)
    Resume(ResumeArgs),
    /// Run the scheduled workflows that are due (for system cron: `* * * * * devlog workflow due`),
    /// after resuming unfinished runs
    Due,
    /// Turn a workflow on in this checkout
    Enable(NameArg),
    /// Turn a workflow off in this checkout
    Disable(NameArg),
}

#[derive(Debug, Args)]
pub struct TestArgs {
    /// The workflow's name
    pub name: String,
    /// The entry to test against (handle, id, id prefix or key)
    #[arg(long)]
    pub entry: Option<String>,
    /// The trigger event as JSON (`{"type": "status-changed", "from": "new", "to": "done"}`);
    /// a manual event when absent
    #[arg(long)]
    pub event: Option<String>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The workflow's name
    pub name: String,
    /// The entry to run it on (handle, id, id prefix or key)
    pub entry: Option<String>,
}

#[derive(Debug, Args)]
pub struct ResumeArgs {
    /// Only this run (its id as `devlog workflow runs` shows it): a running, waiting (whose
    /// time came), retrying (now, before its backoff ends) or dead one (re-run from its
    /// failed step)
    pub run: Option<String>,
}

#[derive(Debug, Args)]
pub struct RunsArgs {
    /// Only this workflow's runs
    pub name: Option<String>,
    /// Only runs in this state: running, waiting, retrying, succeeded, failed, dead
    #[arg(long, value_parser = parse_state)]
    pub state: Option<RunState>,
    /// At most this many (0: all)
    #[arg(long, short = 'n', default_value_t = 20)]
    pub limit: usize,
}

/// A run state as typed (`--state dead`).
fn parse_state(s: &str) -> Result<RunState, String> {
    s.parse().map_err(|_| {
        format!(
            "unknown run state {s:?}: use one of {}",
            RunState::ALL
                .iter()
                .map(|st| st.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    })
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The run's id (as `devlog workflow runs` shows it)
    pub run: String,
}

#[derive(Debug, Args)]
pub struct NameArg {
    /// The workflow's name
    pub name: String,
}

/// Where a workspace keeps workflows (its runs are in the sync state: [`run_store`]).
struct Places {
    dirs: Vec<PathBuf>,
    switches: PathBuf,
    root: PathBuf,
    ws: Workspace,
}

/// The folders workflows are read from: `.devlog/workflows/`, then the shared ones of
/// `[workflows] paths` (relative to the workspace's folder, `~/` the home folder).
pub fn dirs(ws: &Workspace) -> Vec<PathBuf> {
    let mut dirs = vec![ws.devlog_dir.join("workflows")];
    for p in &ws.config.workflows.paths {
        let path = match p.strip_prefix("~/") {
            Some(rest) => std::env::var_os("HOME")
                .map(|h| PathBuf::from(h).join(rest))
                .unwrap_or_else(|| PathBuf::from(p)),
            None => ws.root.join(p),
        };
        dirs.push(path);
    }
    dirs
}

/// A workspace's workflow places for the frontends (`devlog serve`, `devlog mcp`): the
/// folders of [`dirs`], its runs, and the step host.
pub fn site(ws: &Workspace, runs: RunStore) -> devlog_workflow::load::Site {
    let mut site = devlog_workflow::load::Site::of(&ws.devlog_dir, &ws.root, runs)
        .with_host(super::workflow_host::host(ws));
    site.dirs = dirs(ws);
    site
}

impl Places {
    fn of(ws: &Workspace) -> Places {
        let state = ws.devlog_dir.join(".state");
        Places {
            dirs: dirs(ws),
            switches: state.join("workflows.json"),
            root: ws.root.clone(),
            ws: ws.clone(),
        }
    }

    fn load(&self) -> Result<LoadReport, CliError> {
        let root = self.root.clone();
        let display = move |p: &Path| p.strip_prefix(&root).unwrap_or(p).display().to_string();
        devlog_workflow::load::load(&self.dirs, &display).map_err(|e| {
            CliError::Other(anyhow::anyhow!(
                "cannot read {}: {e}",
                self.dirs[0].display()
            ))
        })
    }

    fn switches(&self) -> Result<Switches, CliError> {
        Switches::read(&self.switches).map_err(|e| CliError::Other(anyhow::anyhow!(e)))
    }

    /// Whether there is any workflow file (cheap: no file is read).
    fn any(&self) -> bool {
        devlog_workflow::load::files(&self.dirs).is_ok_and(|f| !f.is_empty())
    }
}

/// The workspace's workflow runs: in its sync state (`sync.sqlite` beside a JSON store, the
/// store's own database otherwise), so every worker sharing the store shares them. A run
/// folder of the file version (`.devlog/.state/workflow-runs/`) is imported first, once, with
/// a note on stderr.
pub async fn run_store(ws: &Workspace) -> Result<RunStore, CliError> {
    let state_dir = ws.devlog_dir.join(".state");
    let opened = devlog_store::open_sync_state(&ws.spec, &state_dir).await?;
    if let Some(note) = &opened.note {
        eprintln!("note: {}", crate::output::clean(note, false));
    }
    let runs = RunStore::new(opened.state);
    let folder = state_dir.join("workflow-runs");
    if let Some(i) = runs
        .import_files(&folder)
        .await
        .map_err(|e| CliError::Other(e.into()))?
    {
        eprintln!(
            "note: imported {}, {} and {} from {} into the sync state ({}); the folder is now {}",
            count(i.runs, "workflow run", "workflow runs"),
            count(i.claims, "claim", "claims"),
            count(i.schedules, "schedule state", "schedule states"),
            folder.display(),
            crate::output::clean(&runs.describe(), false),
            i.moved_to.display()
        );
    }
    Ok(runs)
}

async fn engine(app: Devlog, places: &Places, report: LoadReport) -> Result<Engine, CliError> {
    let disabled = places.switches()?.disabled_of(&report.workflows);
    let runs = run_store(&places.ws).await?;
    let engine = Engine::new(app, report.workflows, disabled, runs, Origin::Cli)
        .with_host(super::workflow_host::host(&places.ws));
    for p in engine.host_problems() {
        warn(&format!("workflow: {p}"));
    }
    Ok(engine)
}

fn engine_error(e: EngineError) -> CliError {
    match e {
        EngineError::Store(e) => CliError::Store(e),
        e @ (EngineError::UnknownWorkflow { .. }
        | EngineError::NotManual { .. }
        | EngineError::NotResumable { .. }
        | EngineError::NotDue { .. }) => CliError::Usage(e.to_string()),
        EngineError::Runs(devlog_workflow::runs::RunStoreError::NotFound { id }) => {
            CliError::Usage(format!("no workflow run {id} (see `devlog workflow runs`)"))
        }
        e => CliError::Other(e.into()),
    }
}

fn print_errors(errors: &[FormatError]) {
    for e in errors {
        warn(&e.to_string());
    }
}

pub async fn run(ctx: &Ctx, a: WorkflowArgs) -> Result<(), CliError> {
    if let WorkflowCommand::Schema = a.command {
        let schema = devlog_workflow::schema();
        let text = serde_json::to_string_pretty(&schema).map_err(|e| CliError::Other(e.into()))?;
        return Ok(write_stdout(&format!("{text}\n"))?);
    }
    let ws = ctx.workspace()?;
    let places = Places::of(&ws);
    match a.command {
        WorkflowCommand::Schema => unreachable!("handled above"),
        WorkflowCommand::List => list(ctx, &places),
        WorkflowCommand::Validate => validate(ctx, &places),
        WorkflowCommand::Enable(n) => switch(ctx, &places, &n.name, true).await,
        WorkflowCommand::Disable(n) => switch(ctx, &places, &n.name, false).await,
        WorkflowCommand::Runs(r) => runs(ctx, &places, r).await,
        WorkflowCommand::Show(s) => show(ctx, &places, &s.run).await,
        WorkflowCommand::Test(t) => test(ctx, &ws, &places, t).await,
        WorkflowCommand::Run(r) => run_now(ctx, &ws, &places, r).await,
        WorkflowCommand::Due => due(ctx, &ws, &places).await,
        WorkflowCommand::Resume(r) => {
            let report = places.load()?;
            print_errors(&report.errors);
            let app = Devlog::new(ws.open().await?);
            let engine = engine(app, &places, report).await?;
            let done = match &r.run {
                Some(id) => {
                    let id = RunId::parse(id).map_err(CliError::Usage)?;
                    match engine.resume_run(&id).await.map_err(engine_error)? {
                        Some(run) => vec![run],
                        None => {
                            return Err(CliError::Usage(format!(
                                "run {id} is being run by another process now"
                            )));
                        }
                    }
                }
                None => engine.resume_unfinished().await.map_err(engine_error)?,
            };
            if ctx.out.json {
                return Ok(ctx.out.json(&done)?);
            }
            if done.is_empty() {
                return Ok(write_stdout("No unfinished runs.\n")?);
            }
            for r in &done {
                write_stdout(&format!("{}\n", run_line(r)))?;
            }
            Ok(())
        }
    }
}

fn triggers_of(l: &devlog_workflow::Loaded) -> Vec<String> {
    l.triggers
        .iter()
        .map(|t| match t {
            Trigger::Schedule(s) => format!(
                "schedule ({} {}, missed: {})",
                s.cron.source(),
                s.timezone.name(),
                s.missed.as_str()
            ),
            Trigger::Webhook(w) => format!("webhook ({} {})", w.integration.as_str(), w.event.0),
            Trigger::Sync(f) => format!(
                "sync ({}{})",
                f.event.kind(),
                f.integration
                    .as_deref()
                    .map(|i| format!(", {i}"))
                    .unwrap_or_default()
            ),
            t => t.name().to_string(),
        })
        .collect()
}

/// Removes run records beyond `[workflows] keepRuns`/`keepDays`, and integration events the
/// follower read more than 30 days ago (a warning if it fails).
async fn prune(ws: &Workspace, runs: &RunStore) {
    let keep = ws.config.workflows.retention();
    let now = devlog_core::Timestamp::from_datetime(chrono::Utc::now());
    if let Err(e) = runs.prune(&keep, now).await {
        warn(&format!("workflow runs: pruning: {e}"));
    }
}

/// `devlog workflow due`: one scheduler pass (what `devlog serve` and `devlog worker` do on
/// their own): resume unfinished runs, run due schedules and what their writes trigger.
async fn due(ctx: &Ctx, ws: &Workspace, places: &Places) -> Result<(), CliError> {
    let report = places.load()?;
    print_errors(&report.errors);
    let app = Devlog::new(ws.open().await?);
    let engine = engine(app, places, report).await?;
    let due = engine.tick().await.map_err(engine_error)?;
    prune(ws, engine.runs()).await;
    if ctx.out.json {
        ctx.out.json(&due)?;
    } else {
        for r in due.all_runs() {
            write_stdout(&format!("{}\n", run_line(r)))?;
        }
        for s in &due.skipped {
            let how = if s.caught_up {
                "covered by one late run"
            } else {
                "skipped (missed: skip)"
            };
            write_stdout(&format!(
                "{}: {} through {} {how}\n",
                s.workflow,
                count(s.slots, "missed slot", "missed slots"),
                s.through
            ))?;
        }
        if due.all_runs().next().is_none() && due.skipped.is_empty() {
            write_stdout("Nothing due.\n")?;
        }
        for (name, next) in &due.next {
            if let Some(next) = next {
                write_stdout(&format!("{name}: next at {next}\n"))?;
            }
        }
    }
    let failed: Vec<&RunRecord> = due.all_runs().filter(|r| r.state.is_failure()).collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(CliError::Other(anyhow::anyhow!(
            "{} failed: {}",
            count(failed.len(), "workflow run", "workflow runs"),
            failed
                .iter()
                .map(|r| format!("{} (run {})", r.workflow, r.id))
                .collect::<Vec<_>>()
                .join(", ")
        )))
    }
}

/// How often the background loop of `devlog serve`/`devlog worker` looks at the change feed
/// and the schedules.
pub const BACKGROUND_TICK: std::time::Duration = std::time::Duration::from_secs(2);

/// The workflow loop of a long-running process (`devlog serve`, `devlog worker`, `devlog
/// mcp`): every [`BACKGROUND_TICK`], while `.devlog/workflows/` holds a file, it re-reads the
/// workflow files, follows the change feed (the workflows of REST, MCP and sync writes),
/// resumes unfinished runs and runs the schedules that are due. Lines go to stderr as
/// `workflow: …`. The first pass is made before this returns, so the change feed's cursor
/// exists (or has caught up) before the process takes its first write; when `stop` turns
/// true the loop makes one last pass, so a write made just before the stop is not left for
/// the next process, and ends.
pub async fn spawn_background(
    ws: Workspace,
    store: std::sync::Arc<dyn devlog_core::Store>,
    origin: Origin,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let mut looped = Background {
        places: Places::of(&ws),
        app: Devlog::new(store),
        ws,
        origin,
        last_errors: String::new(),
        runs: None,
    };
    looped.pass().await;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(BACKGROUND_TICK) => {}
                _ = stop.wait_for(|s| *s) => break,
            }
            if *stop.borrow() {
                break;
            }
            looped.pass().await;
        }
        looped.pass().await;
    })
}

/// What the background loop keeps between passes.
struct Background {
    ws: Workspace,
    places: Places,
    app: Devlog,
    origin: Origin,
    /// The files' problems last said (said again only when they change).
    last_errors: String,
    /// The run records, opened on the first pass that has workflows.
    runs: Option<RunStore>,
}

impl Background {
    async fn pass(&mut self) {
        if self.places.any() {
            background_pass(
                &self.ws,
                &self.places,
                &self.app,
                self.origin,
                &mut self.last_errors,
                &mut self.runs,
            )
            .await;
        }
    }
}

async fn background_pass(
    ws: &Workspace,
    places: &Places,
    app: &Devlog,
    origin: Origin,
    last_errors: &mut String,
    run_store: &mut Option<RunStore>,
) {
    let report = match places.load() {
        Ok(r) => r,
        Err(e) => return eprintln!("workflow: {e}"),
    };
    // File problems are said once, not every pass.
    let errors: String = report
        .errors
        .iter()
        .map(|e| format!("workflow: {e}\n"))
        .collect();
    if errors != *last_errors {
        eprint!("{errors}");
        *last_errors = errors;
    }
    let disabled = match places.switches() {
        Ok(s) => s.disabled_of(&report.workflows),
        Err(e) => return eprintln!("workflow: {e}"),
    };
    if run_store.is_none() {
        match self::run_store(ws).await {
            Ok(r) => *run_store = Some(r),
            Err(e) => return eprintln!("workflow: runs: {e}"),
        }
    }
    let Some(store) = run_store.clone() else {
        return;
    };
    let engine = Engine::new(app.clone(), report.workflows, disabled, store, origin)
        .with_host(super::workflow_host::host(ws));
    let mut runs = Vec::new();
    match engine.follow_feed().await {
        Ok(o) => runs.extend(o.runs),
        Err(e) => eprintln!("workflow: following the change feed: {e}"),
    }
    if engine.listens_to_integrations() {
        let state = engine.runs().state().clone();
        match engine.follow_integration_events(&*state).await {
            Ok(o) => runs.extend(o.runs),
            Err(e) => eprintln!("workflow: following integration events: {e}"),
        }
    }
    match engine.tick().await {
        Ok(due) => {
            for s in &due.skipped {
                eprintln!(
                    "workflow: {}: {} through {} {}",
                    s.workflow,
                    count(s.slots, "missed slot", "missed slots"),
                    s.through,
                    if s.caught_up {
                        "covered by one late run"
                    } else {
                        "skipped"
                    }
                );
            }
            runs.extend(due.runs);
            runs.extend(due.resumed);
            runs.extend(due.triggered);
        }
        Err(e) => eprintln!("workflow: schedules: {e}"),
    }
    for r in &runs {
        eprintln!("workflow: {}", run_line(r));
    }
    if !runs.is_empty() {
        prune(ws, engine.runs()).await;
    }
}

fn list(ctx: &Ctx, places: &Places) -> Result<(), CliError> {
    let report = places.load()?;
    let disabled = places.switches()?.disabled_of(&report.workflows);
    if ctx.out.json {
        let items: Vec<Value> = report
            .workflows
            .iter()
            .map(|l| {
                json!({
                    "name": l.workflow.name.as_str(),
                    "file": l.file,
                    "enabled": !disabled.contains(l.workflow.name.as_str()),
                    "triggers": triggers_of(l),
                    "description": l.workflow.description,
                })
            })
            .collect();
        let errors: Vec<String> = report.errors.iter().map(ToString::to_string).collect();
        return Ok(ctx
            .out
            .json(&json!({"workflows": items, "errors": errors}))?);
    }
    print_errors(&report.errors);
    if report.workflows.is_empty() {
        return Ok(write_stdout(if report.errors.is_empty() {
            "No workflows. Add one in .devlog/workflows/<name>.yml (docs/workflows.md).\n"
        } else {
            "No workflow could be read: each file has a problem (above).\n"
        })?);
    }
    let mut t = Table::header(&ctx.out, &["NAME", "ENABLED", "ON", "FILE"]);
    for l in &report.workflows {
        let on = triggers_of(l).join(", ");
        let enabled = if disabled.contains(l.workflow.name.as_str()) {
            "no"
        } else {
            "yes"
        };
        t.row(vec![
            (
                ctx.out.bold(l.workflow.name.as_str()),
                l.workflow.name.to_string(),
            ),
            (enabled.into(), enabled.into()),
            (on.clone(), on),
            (l.file.clone(), l.file.clone()),
        ]);
    }
    Ok(write_stdout(&t.render())?)
}

fn validate(ctx: &Ctx, places: &Places) -> Result<(), CliError> {
    let mut report = places.load()?;
    // What the workspace cannot run: an unknown plugin or action, a notify target or host not
    // configured.
    let host = super::workflow_host::host(&places.ws);
    report.errors.extend(devlog_workflow::host::problems(
        host.as_ref(),
        &report.workflows,
    ));
    if ctx.out.json {
        let errors: Vec<Value> = report
            .errors
            .iter()
            .map(|e| json!({"file": e.file, "line": e.line, "key": e.key, "message": e.message}))
            .collect();
        ctx.out.json(&json!({
            "valid": report.workflows.iter().map(|l| l.file.clone()).collect::<Vec<_>>(),
            "errors": errors,
        }))?;
    } else {
        for l in &report.workflows {
            write_stdout(&format!("ok    {} ({})\n", l.file, l.workflow.name))?;
        }
        for e in &report.errors {
            write_stdout(&format!("error {e}\n"))?;
        }
    }
    if report.errors.is_empty() {
        Ok(())
    } else {
        Err(CliError::Usage(format!(
            "{} in the workflow files",
            count(report.errors.len(), "problem", "problems")
        )))
    }
}

async fn switch(ctx: &Ctx, places: &Places, name: &str, on: bool) -> Result<(), CliError> {
    let report = places.load()?;
    if !report
        .workflows
        .iter()
        .any(|l| l.workflow.name.as_str() == name)
    {
        let known: Vec<String> = report
            .workflows
            .iter()
            .map(|l| l.workflow.name.to_string())
            .collect();
        return Err(engine_error(EngineError::UnknownWorkflow {
            name: name.to_string(),
            known,
        }));
    }
    let mut s = places.switches()?;
    s.set(name, on);
    s.write(&places.switches)
        .map_err(|e| CliError::Other(anyhow::anyhow!("{}: {e}", places.switches.display())))?;
    let name_ = name.to_string();
    super::audit::record_action(
        ctx,
        if on {
            devlog_core::audit::Action::WorkflowEnabled { name: name_ }
        } else {
            devlog_core::audit::Action::WorkflowDisabled { name: name_ }
        },
    )
    .await;
    if ctx.out.json {
        return Ok(ctx.out.json(&json!({"name": name, "enabled": on}))?);
    }
    Ok(write_stdout(&format!(
        "{} {name} (in this checkout)\n",
        if on { "Enabled" } else { "Disabled" }
    ))?)
}

/// A run's state, with when a parked one goes on (`waiting until …`).
fn state_of(r: &RunRecord) -> String {
    match r.wake_at {
        Some(t) if r.state.is_parked() => format!("{} until {t}", r.state.as_str()),
        _ => r.state.as_str().to_string(),
    }
}

fn run_line(r: &RunRecord) -> String {
    let mut s = format!("{}  {}  {}  {}", r.id, r.workflow, state_of(r), r.cause);
    if let Some(e) = &r.error {
        s.push_str(&format!(": {}", truncate(e, 100)));
    }
    s
}

async fn runs(ctx: &Ctx, places: &Places, a: RunsArgs) -> Result<(), CliError> {
    let store = run_store(&places.ws).await?;
    let list = store
        .list_where(a.name.as_deref(), a.state, a.limit)
        .await
        .map_err(|e| CliError::Other(e.into()))?;
    if ctx.out.json {
        return Ok(ctx.out.json(&list)?);
    }
    if list.is_empty() {
        return Ok(write_stdout("No workflow runs.\n")?);
    }
    let mut t = Table::header(&ctx.out, &["RUN", "WORKFLOW", "STATE", "STARTED", "CAUSE"]);
    for r in &list {
        let state = state_of(r);
        let cause = r.cause.to_string();
        t.row(vec![
            (r.id.to_string(), r.id.to_string()),
            (r.workflow.clone(), r.workflow.clone()),
            (state.clone(), state),
            (r.started_at.to_string(), r.started_at.to_string()),
            (cause.clone(), cause),
        ]);
    }
    Ok(write_stdout(&t.render())?)
}

async fn show(ctx: &Ctx, places: &Places, id: &str) -> Result<(), CliError> {
    let id = RunId::parse(id).map_err(CliError::Usage)?;
    let run = run_store(&places.ws)
        .await?
        .load(&id)
        .await
        .map_err(|e| engine_error(e.into()))?;
    if ctx.out.json {
        return Ok(ctx.out.json(&run)?);
    }
    let mut s = format!(
        "Run {} of {}: {}\nCause: {}\nStarted: {}\n",
        run.id,
        ctx.out.bold(&run.workflow),
        run.state.as_str(),
        run.cause,
        run.started_at
    );
    if let Some(f) = run.finished_at {
        s.push_str(&format!("Finished: {f}\n"));
    }
    if run.depth > 0 {
        s.push_str(&format!(
            "Depth: {} (started by another workflow's write)\n",
            run.depth
        ));
    }
    if let Some(t) = run.wake_at.filter(|_| run.state.is_parked()) {
        let why = if run.state == RunState::Waiting {
            "at its `wait` step"
        } else {
            "the next attempt of its failed step"
        };
        s.push_str(&format!(
            "Wakes: {t} ({why}; `devlog workflow due`, a write command or a running server goes on then)\n"
        ));
    }
    if run.state == RunState::Dead {
        s.push_str(&format!(
            "Dead: its step failed on every attempt; `devlog workflow resume {}` runs it again from that step\n",
            run.id
        ));
    }
    if run.resumed > 0 {
        s.push_str(&format!("Resumed: {} time(s)\n", run.resumed));
    }
    for step in &run.steps {
        let state = match step.state {
            StepState::Done => "done",
            StepState::Started => "started",
            StepState::Failed => "failed",
        };
        s.push_str(&format!("  {:<10} {:<12} {state}", step.path, step.action));
        if step.attempts > 0 {
            s.push_str(&format!(" (attempt {})", step.attempts));
        }
        if !step.output.is_null() {
            s.push_str(&format!("  {}", truncate(&step.output.to_string(), 120)));
        }
        if let Some(e) = &step.error {
            s.push_str(&format!("  error: {e}"));
        }
        s.push('\n');
    }
    if let Some(e) = &run.error {
        s.push_str(&format!("Error: {e}\n"));
    }
    Ok(write_stdout(&s)?)
}

async fn test(ctx: &Ctx, ws: &Workspace, places: &Places, a: TestArgs) -> Result<(), CliError> {
    let report = places.load()?;
    print_errors(&report.errors);
    let app = Devlog::new(ws.open().await?);
    let entry = match &a.entry {
        Some(r) => Some(app.resolve(r).await?.id),
        None => None,
    };
    let event = match &a.event {
        Some(text) => Some(
            serde_json::from_str::<Value>(text)
                .map_err(|e| CliError::Usage(format!("--event is not JSON: {e}")))?,
        ),
        None => None,
    };
    let engine = engine(app, places, report).await?;
    let dry = engine
        .dry_run(&a.name, entry, event)
        .await
        .map_err(engine_error)?;
    if ctx.out.json {
        return Ok(ctx.out.json(&dry)?);
    }
    let mut s = format!(
        "Dry run of {} (nothing is changed)\n",
        ctx.out.bold(&dry.workflow)
    );
    match dry.condition {
        Some(true) => s.push_str("Condition: true (the workflow would run)\n"),
        Some(false) => s.push_str(
            "Condition: false (the workflow would not run; its steps as they would be:)\n",
        ),
        None => s.push_str("Condition: none\n"),
    }
    for step in &dry.steps {
        s.push_str(&format!(
            "  {:<10} {:<12} {}\n",
            step.path, step.action, step.output
        ));
    }
    if let Some(e) = &dry.error {
        s.push_str(&format!("Would stop: {e}\n"));
    }
    Ok(write_stdout(&s)?)
}

async fn run_now(ctx: &Ctx, ws: &Workspace, places: &Places, a: RunArgs) -> Result<(), CliError> {
    let report = places.load()?;
    print_errors(&report.errors);
    let app = Devlog::new(ws.open().await?);
    let entry = match &a.entry {
        Some(r) => Some(app.resolve(r).await?.id),
        None => None,
    };
    let engine = engine(app.clone(), places, report).await?;
    let run = engine
        .run_manual(&a.name, entry, ctx.actor.clone())
        .await
        .map_err(engine_error)?;
    // What the run's own writes trigger in other workflows.
    chain(&engine, &app, &run).await;
    if ctx.out.json {
        ctx.out.json(&run)?;
    } else {
        write_stdout(&format!("{}\n", run_line(&run)))?;
    }
    match run.state {
        RunState::Failed | RunState::Dead => Err(CliError::Other(anyhow::anyhow!(
            "workflow {} failed (run {}): {}",
            run.workflow,
            run.id,
            run.error.clone().unwrap_or_default()
        ))),
        _ => Ok(()),
    }
}

/// Hands the events a manual run wrote to the engine (their workflows run now).
async fn chain(engine: &Engine, app: &Devlog, run: &RunRecord) {
    let seqs: Vec<u64> = run.steps.iter().filter_map(|s| s.feed_seq).collect();
    let Some(from) = seqs.iter().min() else {
        return;
    };
    match read_after(app, *from).await {
        Ok(events) => report_runs(engine.on_events(events).await),
        Err(e) => warn(&format!("workflows: {e}")),
    }
}

/// The events after `seq`, at most [`MAX_EVENTS`].
async fn read_after(app: &Devlog, mut seq: u64) -> Result<Vec<Event>, devlog_core::StoreError> {
    let mut out = Vec::new();
    loop {
        let page = app.store().events(seq, 1000).await?;
        let Some(last) = page.last() else { break };
        seq = last.seq;
        out.extend(page.into_iter().filter(|e| origin_triggers(e.origin)));
        if out.len() >= MAX_EVENTS {
            break;
        }
    }
    Ok(out)
}

/// The most events one command hands to its workflows.
const MAX_EVENTS: usize = 10_000;

/// Prints a line on stderr for each failed run (the command itself does not fail).
fn report_runs(outcome: Result<devlog_workflow::Outcome, EngineError>) {
    match outcome {
        Ok(o) => {
            for r in o.failed() {
                warn(&format!(
                    "workflow {} {} (run {}, `devlog workflow show {}`): {}",
                    r.workflow,
                    r.state.as_str(),
                    r.id,
                    r.id,
                    r.error.as_deref().unwrap_or("")
                ));
            }
            for r in o.runs.iter().filter(|r| r.state.is_parked()) {
                eprintln!(
                    "note: workflow {} is {} (run {}): `devlog workflow due`, a later command \
                     or a running `devlog serve`/`devlog worker` goes on with it then",
                    r.workflow,
                    state_of(r),
                    r.id
                );
            }
        }
        Err(e) => warn(&format!("workflows could not run: {e}")),
    }
}

/// The workflows a write command triggers: [`Hook::before`] notes the end of the change feed
/// (only when the workspace has workflow files), [`Hook::after`] runs the workflows the
/// events since then trigger — and resumes runs a stopped process left — before the command
/// exits. A failing workflow is reported on stderr and recorded, never the command's failure.
#[derive(Debug)]
pub struct Hook {
    ws: Workspace,
    from: u64,
}

impl Hook {
    pub async fn before(ctx: &Ctx) -> Option<Hook> {
        let ws = ctx.workspace().ok()?;
        if !Places::of(&ws).any() {
            return None;
        }
        let store = ws.open().await.ok()?;
        let end = store.events_before(None, 1).await.ok()?;
        start_integration_cursor(&ws, store.clone()).await;
        Some(Hook {
            from: end.last().map_or(0, |e| e.seq),
            ws,
        })
    }

    pub async fn after(self) {
        let places = Places::of(&self.ws);
        let report = match places.load() {
            Ok(r) => r,
            Err(e) => return warn(&format!("workflows: {e}")),
        };
        print_errors(&report.errors);
        let store = match self.ws.open().await {
            Ok(s) => s,
            Err(e) => return warn(&format!("workflows: {e}")),
        };
        let app = Devlog::new(store);
        let engine = match engine(app.clone(), &places, report).await {
            Ok(e) => e,
            Err(e) => return warn(&format!("workflows: {e}")),
        };
        match engine.resume_unfinished().await {
            Ok(runs) => report_runs(Ok(devlog_workflow::Outcome { runs })),
            Err(e) => report_runs(Err(e)),
        }
        match read_after(&app, self.from).await {
            Ok(events) => report_runs(engine.on_events(events).await),
            Err(e) => warn(&format!("workflows: {e}")),
        }
        // What `devlog sync`, `devlog webhook`-type commands recorded (deliveries' events,
        // conflicts, dead jobs), from the shared cursor a running server follows too.
        if engine.listens_to_integrations() {
            let state = engine.runs().state().clone();
            report_runs(engine.follow_integration_events(&*state).await);
        }
        prune(&self.ws, engine.runs()).await;
    }
}

/// Before a command's first write: when workflows follow integration events and no cursor
/// is kept yet, starts it at the newest event, so what this command records (a conflict in
/// `devlog sync`) is followed and history is not replayed. One read once the cursor exists.
async fn start_integration_cursor(ws: &Workspace, store: Arc<dyn devlog_core::Store>) {
    let places = Places::of(ws);
    let Ok(report) = places.load() else { return };
    let Ok(engine) = engine(Devlog::new(store), &places, report).await else {
        return;
    };
    if !engine.listens_to_integrations()
        || !matches!(engine.runs().integration_cursor().await, Ok(None))
    {
        return;
    }
    let state = engine.runs().state().clone();
    report_runs(engine.follow_integration_events(&*state).await);
}
