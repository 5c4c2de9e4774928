//! `devlog ado`: link entries to existing work items, unlink, sync, status, iterations.
//! Settings in `[integrations.azure-devops]` (or `[integrations.ado]`; docs/azure-devops.md).
//! The flows are `devlog github`'s and `devlog jira`'s ([`super::tracker`]).

use std::sync::Arc;

use async_trait::async_trait;
use clap::{Args, Subcommand};
use devlog_ado::{AdoConfig, AdoIntegration};
use devlog_core::EntryId;
use devlog_core::event::WriteMeta;
use devlog_core::integration::{Integration, RemoteAction, RemoteItem, SyncError};
use serde_json::{Map, Value, json};

use super::Ctx;
use super::audit::Effect;
use super::tracker::{self, Tracker};
use crate::error::CliError;
use crate::workspace::Workspace;
use devlog_core::audit::RemoteEffect;

/// Work with Azure DevOps: link entries to work items, sync, status, iterations
#[derive(Debug, Args)]
pub struct AdoArgs {
    #[command(subcommand)]
    pub command: AdoCommand,
}

#[derive(Debug, Subcommand)]
pub enum AdoCommand {
    /// Link an entry to an existing work item of the project (its comments become notes)
    Link {
        /// Handle, id, id prefix or key of the entry
        entry: String,
        /// The work item: its id (12) or its URL (…/_workitems/edit/12)
        work_item: String,
    },
    /// Stop syncing an entry with its work item (the item stays, without devlog's marker tag)
    Unlink {
        /// Handle, id, id prefix or key of the entry
        entry: String,
    },
    /// Sync with Azure DevOps now (pull, then push local changes); same as `devlog sync --system azure-devops`
    Sync {
        /// Only this entry
        entry: Option<String>,
        /// Show the remote operations without performing them
        #[arg(long)]
        plan: bool,
    },
    /// Configuration, linked entries, queued and failed jobs, conflicts, pull position; for one
    /// entry also its work item's state, iteration and board column
    Status {
        /// Only this entry
        entry: Option<String>,
        /// Also check the connection, the credentials, the project, its work item types,
        /// states and mapped fields; fails when they do not work
        #[arg(long)]
        check: bool,
    },
    /// Put the work items of linked entries into an iteration
    Iteration {
        #[command(subcommand)]
        command: IterationCommand,
    },
    /// The team's iterations with their dates and how many work items are done
    Iterations {
        /// Past iterations too (by default the current and future ones)
        #[arg(long)]
        all: bool,
    },
    /// Queue a pipeline run for an entry's branch and follow it: when it completes, `devlog ado
    /// runs` (or the service hook) adds a note with its result and URL
    Run {
        /// Handle, id, id prefix or key of the entry
        entry: String,
        /// The pipeline: its name, or `folder\name`
        #[arg(long)]
        pipeline: String,
        /// The branch to run (default: the entry's branch as `devlog git branch` names it)
        #[arg(long)]
        branch: Option<String>,
    },
    /// Check the pipeline runs devlog follows: each completed one adds its note (once, also
    /// when the service hook already did) and is no longer followed
    Runs,
}

#[derive(Debug, Subcommand)]
pub enum IterationCommand {
    /// Move the work items of entries into an iteration: `devlog ado iteration add 12 14 --iteration "Sprint 3"`
    Add {
        /// Handles, ids, id prefixes or keys of entries linked to work items
        #[arg(required = true)]
        entries: Vec<String>,
        /// The iteration: `@current` (the team's current one) or its name (created and
        /// added to the team when missing)
        #[arg(long, default_value = "@current")]
        iteration: String,
    },
}

pub async fn run(ctx: &Ctx, a: AdoArgs) -> Result<(), CliError> {
    let ws = ctx.workspace()?;
    let ado = ado(&ws)?;
    match a.command {
        AdoCommand::Sync { entry, plan } => tracker::sync(ctx, devlog_ado::NAME, entry, plan).await,
        AdoCommand::Link { entry, work_item } => {
            let c = ado.config();
            let id = devlog_ado::link::parse_work_item_ref(
                &work_item,
                &c.organization_url,
                &c.project,
                c.table,
            )
            .map_err(CliError::Usage)?;
            tracker::link(ctx, &ws, &AdoTracker(ado), &entry, &id).await
        }
        AdoCommand::Unlink { entry } => tracker::unlink(ctx, &ws, &AdoTracker(ado), &entry).await,
        AdoCommand::Status { entry, check } => {
            tracker::status(ctx, &ws, &AdoTracker(ado), check, entry.as_deref()).await
        }
        AdoCommand::Iteration {
            command: IterationCommand::Add { entries, iteration },
        } => iteration_add(ctx, &ws, ado, &entries, &iteration).await,
        AdoCommand::Iterations { all } => iterations(ctx, &ado, all).await,
        AdoCommand::Run {
            entry,
            pipeline,
            branch,
        } => run_pipeline(ctx, &ws, ado, &entry, &pipeline, branch).await,
        AdoCommand::Runs => poll_runs(ctx, &ws, ado).await,
    }
}

/// `devlog ado run REF --pipeline P [--branch B]`: [`queue_pipeline_run`], printed.
async fn run_pipeline(
    ctx: &Ctx,
    ws: &Workspace,
    ado: AdoIntegration,
    entry: &str,
    pipeline: &str,
    branch: Option<String>,
) -> Result<(), CliError> {
    let e = tracker::resolve(ctx, entry).await?;
    let (run, branch) = queue_pipeline_run(ws, &ado, &ctx.meta(), &e, pipeline, branch).await?;
    tracker::print(ctx, &json!({ "entry": e.summary(), "run": run }), || {
        format!(
            "{} run {} of {} on {} for {} {}{}\n",
            if run.queued {
                "Queued"
            } else {
                "Following the unfinished"
            },
            run.name,
            run.pipeline,
            run.branch.as_deref().unwrap_or(&branch),
            e.handle_str(),
            e.title,
            run.url
                .as_deref()
                .map(|u| format!(": {u}"))
                .unwrap_or_default()
        )
    })
}

/// The branch a pipeline runs for an entry: `branch`, or the entry's branch as `devlog git
/// branch` names it.
pub fn run_branch(
    ws: &Workspace,
    e: &devlog_core::Entry,
    branch: Option<String>,
) -> Result<String, CliError> {
    match branch {
        Some(b) => Ok(b),
        None => Ok(super::git::branch_name(&super::git::git_config(ws)?, e)),
    }
}

/// Queues a run of `pipeline` on the entry's branch (or `branch`), or finds the unfinished
/// one already queued for the entry (`AdoIntegration::queue_run_for`: exactly once when
/// retried), and attaches it to the entry so its completion adds a note. A run queued (by
/// this call, or by an earlier try whose answer was lost) is one `pipeline-run-queued` record
/// in the audit log, by `by`. `devlog ado run` and the workflow `pipeline` step both go through here. Returns the
/// run and the branch asked for.
pub async fn queue_pipeline_run(
    ws: &Workspace,
    ado: &AdoIntegration,
    by: &WriteMeta,
    e: &devlog_core::Entry,
    pipeline: &str,
    branch: Option<String>,
) -> Result<(devlog_ado::pipelines::RunLink, String), CliError> {
    let branch = run_branch(ws, e, branch)?;
    let engine = tracker::engine(ws, Arc::new(ado.clone())).await?;
    let run = ado
        .queue_run_for(&**engine.store(), &**engine.state(), e, pipeline, &branch)
        .await
        .map_err(tracker::remote_err)?;
    // Queued now, or adopted: queued by an earlier try whose answer was lost (a kill, a
    // dropped connection) — the effect id is the run's, so one record per run either way. A
    // run this entry already followed was recorded when it was queued.
    if run.queued || run.adopted {
        super::audit::record_effects_by(
            &ws.devlog_dir,
            &**engine.store(),
            by,
            vec![
                Effect::new(
                    devlog_ado::NAME,
                    RemoteEffect::PipelineRunQueued,
                    run.run_id.to_string(),
                    format!(
                        "{}/pipeline-run-queued/{}/{}",
                        devlog_ado::NAME,
                        e.id,
                        run.run_id
                    ),
                )
                .for_entry(e.id, e.handle)
                .item(format!("pipeline {}", run.pipeline_id))
                .url(run.url.as_deref()),
            ],
        )
        .await;
    }
    Ok((run, branch))
}

/// One poll of the followed runs: their notes applied through the sync engine (keyed like
/// the service hook's, so each is added once), the completed ones settled on their entries.
/// `devlog ado runs` makes one; the sync workers make one after each pull ([`RunPoller`]).
async fn poll_and_settle(
    ado: &AdoIntegration,
    engine: &devlog_sync::SyncEngine,
    report: &mut devlog_sync::SyncReport,
) -> Result<devlog_ado::pipelines::RunPoll, devlog_sync::EngineError> {
    let poll = ado.poll_runs(&**engine.state()).await?;
    engine
        .apply_actions(devlog_ado::NAME, &poll.actions, report)
        .await?;
    ado.settle_runs(&**engine.store(), &**engine.state(), &poll)
        .await?;
    Ok(poll)
}

/// The pipeline runs entries follow, polled by `devlog worker`, `devlog sync --watch` and
/// `devlog serve` after each pull: a run that completes gets its note and its result on the
/// entry without a command, when no service hook reports it. No request while no run is
/// followed.
#[derive(Debug)]
pub struct RunPoller(AdoIntegration);

#[async_trait]
impl devlog_sync::Poller for RunPoller {
    fn name(&self) -> String {
        format!("{} runs", devlog_ado::NAME)
    }

    async fn poll(
        &self,
        engine: &devlog_sync::SyncEngine,
        report: &mut devlog_sync::SyncReport,
    ) -> Result<(), devlog_sync::EngineError> {
        let poll = poll_and_settle(&self.0, engine, report).await?;
        for f in &poll.finished {
            report.notes.push(format!(
                "{}: pipeline {} run {} {} ({})",
                devlog_ado::NAME,
                f.run.pipeline,
                f.run.name,
                f.run.result.as_deref().unwrap_or("completed"),
                f.entry.short()
            ));
        }
        // Classic release deployments, when no service hook reports them.
        if self.0.config().service_hook_secret.is_none() {
            for d in poll_deployments(&self.0, engine, report).await? {
                report.notes.push(format!(
                    "{}: {}",
                    devlog_ado::NAME,
                    devlog_ado::deployments::note_text(&d)
                ));
            }
        }
        Ok(())
    }
}

/// One poll of the release deployments (`AdoIntegration::poll_deployments`): the actions
/// applied with the engine (each once: a hook that reported the deployment first adds
/// nothing), then the cursor kept in the sync state. Returns the completed deployments read.
pub async fn poll_deployments(
    ado: &AdoIntegration,
    engine: &devlog_sync::SyncEngine,
    report: &mut devlog_sync::SyncReport,
) -> Result<Vec<devlog_core::entry::Deployment>, devlog_sync::EngineError> {
    use devlog_core::sync_state::CursorKind;
    let state = engine.state();
    let cursor = state
        .cursor(devlog_ado::NAME, CursorKind::Deployments)
        .await?;
    let poll = ado.poll_deployments(cursor.as_deref()).await?;
    engine
        .apply_actions(devlog_ado::NAME, &poll.actions, report)
        .await?;
    if let Some(c) = &poll.cursor {
        state
            .set_cursor(devlog_ado::NAME, CursorKind::Deployments, c)
            .await?;
    }
    Ok(poll.deployments)
}

/// The pollers the sync workers run for the configured integrations: Azure DevOps' pipeline
/// runs when it is configured (a configuration error is the engine's to report).
pub fn pollers(ws: &Workspace) -> Vec<Arc<dyn devlog_sync::Poller>> {
    let configured = [devlog_ado::NAME, "ado"]
        .iter()
        .any(|n| ws.config.integrations.contains_key(*n));
    match configured.then(|| ado(ws)) {
        Some(Ok(a)) => vec![Arc::new(RunPoller(a))],
        _ => Vec::new(),
    }
}

/// `devlog ado runs`: one poll of the followed runs (see [`poll_and_settle`]).
async fn poll_runs(ctx: &Ctx, ws: &Workspace, ado: AdoIntegration) -> Result<(), CliError> {
    let engine = tracker::engine(ws, Arc::new(ado.clone())).await?;
    let mut report = devlog_sync::SyncReport::default();
    let poll = poll_and_settle(&ado, &engine, &mut report).await?;
    let finished: Vec<Value> = poll
        .finished
        .iter()
        .map(|f| json!({ "entry": f.entry.to_string(), "run": f.run }))
        .collect();
    tracker::print(
        ctx,
        &json!({
            "finished": finished,
            "running": poll.running,
            "gone": poll.gone.len(),
            "notesAdded": poll.actions.len(),
        }),
        || {
            let mut out = String::new();
            for f in &poll.finished {
                out.push_str(&format!(
                    "Run {} of {} {}{}\n",
                    f.run.name,
                    f.run.pipeline,
                    f.run.result.as_deref().unwrap_or("completed"),
                    f.run
                        .url
                        .as_deref()
                        .map(|u| format!(": {u}"))
                        .unwrap_or_default()
                ));
            }
            if !poll.gone.is_empty() {
                out.push_str(&format!(
                    "{} followed run(s) no longer exist in Azure DevOps and are no longer followed\n",
                    poll.gone.len()
                ));
            }
            out.push_str(&format!(
                "{} run(s) completed, {} still running\n",
                poll.finished.len(),
                poll.running
            ));
            out
        },
    )
}

/// `devlog ado iterations`: the team's iterations, with dates and done/total.
async fn iterations(ctx: &Ctx, ado: &AdoIntegration, all: bool) -> Result<(), CliError> {
    let rows: Vec<_> = ado
        .iterations()
        .await
        .map_err(tracker::remote_err)?
        .into_iter()
        .filter(|p| all || p.iteration.time_frame.as_deref() != Some("past"))
        .collect();
    tracker::print(ctx, &json!({ "iterations": rows }), || {
        if rows.is_empty() {
            return format!(
                "No {}iterations for team {}{}\n",
                if all { "" } else { "current or future " },
                ado.config().team,
                if all { "" } else { " (--all shows past ones)" }
            );
        }
        let day = |d: &Option<chrono::NaiveDate>| {
            d.map(|d| d.format("%Y-%m-%d").to_string())
                .unwrap_or_else(|| "—".into())
        };
        let mut out = String::new();
        for p in &rows {
            let i = &p.iteration;
            out.push_str(&format!(
                "{:<24} {:<8} {} → {}  {}/{} done  {}\n",
                i.name,
                i.time_frame.as_deref().unwrap_or("-"),
                day(&i.start),
                day(&i.finish),
                p.done,
                p.total,
                i.path
            ));
        }
        out
    })
}

/// `devlog ado iteration add REF… --iteration I`: the linked work items of the entries into
/// an iteration.
async fn iteration_add(
    ctx: &Ctx,
    ws: &Workspace,
    ado: AdoIntegration,
    entries: &[String],
    iteration: &str,
) -> Result<(), CliError> {
    let engine = tracker::engine(ws, Arc::new(ado.clone())).await?;
    let tracker = AdoTracker(ado.clone());
    let (items, linked) = tracker::linked_items(ctx, &engine, &tracker, entries, "ID").await?;
    let handles: Vec<u64> = linked.iter().map(|e| e.1).collect();
    let mut paths = Vec::new();
    for (id, entry) in items.iter().zip(&linked) {
        let moved = ado
            .add_to_iteration(id, iteration)
            .await
            .map_err(tracker::remote_err)?;
        // Keyed by the work item's revision after the move: a retry that finds the item
        // already there gets the same revision and records nothing more.
        let rev = moved.version.clone().unwrap_or_default();
        super::audit::record_effects(
            ctx,
            vec![
                Effect::new(
                    devlog_ado::NAME,
                    RemoteEffect::IterationChanged,
                    id.as_str(),
                    format!("{}/iteration-changed/{id}/rev-{rev}", devlog_ado::NAME),
                )
                .for_entry(entry.0, entry.1)
                .item(moved.fields.milestone.clone().unwrap_or_default())
                .url(moved.url.as_deref()),
            ],
        )
        .await;
        paths.push(moved.fields.milestone.clone());
    }
    let name = paths.iter().flatten().next().cloned();
    let out = json!({"iteration": name, "entries": handles, "workItems": items.iter().map(|i| i.parse::<u64>().unwrap_or_default()).collect::<Vec<_>>()});
    tracker::print(ctx, &out, || {
        let refs: Vec<String> = handles
            .iter()
            .zip(&items)
            .map(|(h, i)| format!("#{h} (work item {i})"))
            .collect();
        format!(
            "Moved {} into iteration {}; the entries' milestone follows on the next sync\n",
            refs.join(", "),
            name.as_deref().unwrap_or(iteration)
        )
    })
}

/// The configured Azure DevOps integration (`[integrations.azure-devops]`, or the alias
/// `[integrations.ado]`, whose name its errors use), or an error saying how to configure it.
pub fn ado(ws: &Workspace) -> Result<AdoIntegration, CliError> {
    let configured = |n: &str| ws.config.integrations.contains_key(n);
    let name = if !configured(devlog_ado::NAME) && configured("ado") {
        "ado"
    } else {
        devlog_ado::NAME
    };
    let table = tracker::table(
        ws,
        name,
        "Azure DevOps is not configured: add [integrations.azure-devops] with organizationUrl, \
         project and pat = \"${ADO_PAT}\" to devlog.toml (see docs/azure-devops.md)",
    )?;
    AdoConfig::from_table_named(&table, name)
        .and_then(AdoIntegration::new)
        .map_err(|m| tracker::config_err(ws, m))
}

/// Azure DevOps work items for the shared link/unlink/status flows.
struct AdoTracker(AdoIntegration);

#[async_trait]
impl Tracker for AdoTracker {
    fn name(&self) -> &'static str {
        devlog_ado::NAME
    }
    fn display(&self) -> &'static str {
        "Azure DevOps"
    }
    fn noun(&self) -> &'static str {
        "work item"
    }
    fn integration(&self) -> Arc<dyn Integration> {
        Arc::new(self.0.clone())
    }
    fn label(&self, remote_id: &str) -> String {
        remote_id.to_string()
    }
    fn item_json(&self, remote_id: &str) -> Value {
        remote_id
            .parse::<u64>()
            .map_or_else(|_| json!(remote_id), |n| json!(n))
    }
    async fn adopt(&self, remote_id: &str, entry: EntryId) -> Result<RemoteItem, SyncError> {
        self.0.adopt_item(remote_id, entry).await
    }
    async fn release(&self, remote_id: &str) -> Result<(), SyncError> {
        self.0.release_item(remote_id).await
    }
    async fn conversation(&self, remote_id: &str) -> Result<Vec<RemoteAction>, SyncError> {
        self.0.comment_actions(remote_id).await
    }
    fn status_header(&self) -> (Map<String, Value>, String) {
        let c = self.0.config();
        let mut m = Map::new();
        m.insert("organizationUrl".into(), json!(c.organization_url));
        m.insert("project".into(), json!(c.project));
        m.insert("team".into(), json!(c.team));
        m.insert("table".into(), json!(c.table));
        let hooks = c.service_hook_secret.is_some();
        m.insert(
            "serviceHooks".into(),
            json!(if hooks { "basic" } else { "off" }),
        );
        let line = format!(
            "Azure DevOps: project {} on {}, team {}{}",
            c.project,
            c.organization_url,
            c.team,
            if hooks {
                ", service hooks accepted (Basic password)"
            } else {
                ""
            }
        );
        (m, line)
    }
    async fn details(
        &self,
        remote_id: &str,
    ) -> Result<(Map<String, Value>, Vec<String>), SyncError> {
        let d = self.0.details(remote_id).await?;
        let mut m = Map::new();
        m.insert("workItemType".into(), json!(d.work_item_type));
        m.insert("workItemState".into(), json!(d.state));
        m.insert("iterationPath".into(), json!(d.iteration_path));
        m.insert("boardColumn".into(), json!(d.board_column));
        m.insert("boardColumnDone".into(), json!(d.board_column_done));
        let iteration = if d.iteration_path.contains('\\') {
            format!("in iteration {}", d.iteration_path)
        } else {
            format!("in no iteration ({})", d.iteration_path)
        };
        let line = format!(
            "work item {remote_id} ({}, {}) is {iteration}{}",
            d.work_item_type,
            d.state,
            d.board_column
                .as_deref()
                .map(|c| format!(
                    ", board column {c}{}",
                    if d.board_column_done { " (done)" } else { "" }
                ))
                .unwrap_or_else(|| ", on no board column".into())
        );
        Ok((m, vec![line]))
    }
    fn cursor_lines(&self, cursor: &Value) -> Vec<String> {
        cursor
            .get("since")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(|s| vec![format!("work items pulled up to {s}")])
            .unwrap_or_default()
    }
}
