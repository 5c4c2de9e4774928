//! `devlog sync` and `devlog integrations`: run, plan and inspect synchronization.

use std::collections::BTreeMap;
use std::sync::Arc;

use clap::{Args, Subcommand};
use devlog_core::integration::Integration;
use devlog_core::merge::Strategy;
use devlog_core::sync_state::WorkflowRunCounts;
use devlog_sync::{JobState, LinkState, PlannedOp, Registry, SyncEngine, SyncOptions, SyncState};
use serde_json::json;

use super::Ctx;
use super::etags::StateEtags;
use crate::error::CliError;
use crate::output::{Table, write_stdout};
use crate::progress::Bar;
use crate::workspace::Workspace;

/// Synchronize entries with the configured integrations (pull, then push local changes)
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct SyncArgs {
    #[command(subcommand)]
    pub command: Option<SyncCommand>,
    /// Only this integration (github, jira, ado, ...)
    #[arg(long)]
    pub system: Option<String>,
    /// Only this entry
    #[arg(long)]
    pub entry: Option<String>,
    /// Show the remote operations a sync would perform, without performing them
    #[arg(long)]
    pub plan: bool,
    /// How true conflicts are settled: manual, local-wins, remote-wins, newest-wins
    /// (default: `[sync] strategy` in devlog.toml, else manual)
    #[arg(long, value_parser = parse_strategy)]
    pub strategy: Option<Strategy>,
    /// Keep syncing in the foreground: pull every interval, push local changes as they happen
    /// (one sync worker, as `devlog worker`); Ctrl-C stops
    #[arg(long, conflicts_with_all = ["plan", "entry", "system"])]
    pub watch: bool,
    /// With --watch: how often to pull (30s, 5m, ...; default `[sync] interval`, else 30s)
    #[arg(long, value_name = "DURATION", requires = "watch",
          value_parser = super::worker::parse_interval)]
    pub interval: Option<std::time::Duration>,
}

#[derive(Debug, Subcommand)]
pub enum SyncCommand {
    /// Per entry and integration: synced, pending, failed (with the error), conflict
    Status,
    /// Make failed (dead-lettered) jobs run again
    Retry {
        /// A job id from `devlog sync status`
        job: Option<i64>,
        /// Every dead-lettered job
        #[arg(long)]
        all_failed: bool,
    },
    /// List unresolved conflicts
    Conflicts,
    /// Resolve a conflict by taking one side's value
    Resolve {
        /// The conflict id from `devlog sync conflicts`
        id: i64,
        /// local or remote
        #[arg(long, value_parser = ["local", "remote"])]
        take: String,
    },
}

/// List the integrations this build knows and check the configured ones
#[derive(Debug, Args)]
pub struct IntegrationsArgs {
    #[command(subcommand)]
    pub command: IntegrationsCommand,
}

#[derive(Debug, Subcommand)]
pub enum IntegrationsCommand {
    /// Known integrations and whether each is configured
    List,
    /// Validate each configured integration and run its health check
    Check,
}

fn parse_strategy(s: &str) -> Result<Strategy, String> {
    Strategy::ALL
        .iter()
        .find(|(n, _)| *n == s)
        .map(|(_, v)| *v)
        .ok_or_else(|| {
            format!("unknown strategy `{s}`: use manual, local-wins, remote-wins or newest-wins")
        })
}

/// `[integrations.*]` tables that configure local features rather than sync integrations.
const LOCAL_TABLES: &[&str] = &["git"];

/// The integrations compiled into this binary (their ETags kept in memory: for checking
/// configuration and one-off calls).
pub fn registry() -> Registry {
    registry_with(None)
}

/// The integrations compiled into this binary, their HTTP clients keeping ETags in `etags`
/// (attach it to the sync state once open, so the next process gets 304s too).
pub fn registry_with(etags: Option<Arc<StateEtags>>) -> Registry {
    let mut r = Registry::new();
    r.register(
        devlog_github::GithubIntegration::descriptor_static(),
        Arc::new(move |table: &serde_json::Value| {
            let g: Arc<dyn Integration> = Arc::new(match &etags {
                Some(e) => {
                    devlog_github::GithubIntegration::from_table_with_etags(table, e.clone())?
                }
                None => devlog_github::GithubIntegration::from_table(table)?,
            });
            Ok(g)
        }),
    );
    r.register(
        devlog_jira::JiraIntegration::descriptor_static(),
        Arc::new(|table: &serde_json::Value| {
            let j: Arc<dyn Integration> =
                Arc::new(devlog_jira::JiraIntegration::from_table(table)?);
            Ok(j)
        }),
    );
    r.register(
        devlog_ado::AdoIntegration::descriptor_static(),
        Arc::new(|table: &serde_json::Value| {
            let a: Arc<dyn Integration> = Arc::new(devlog_ado::AdoIntegration::from_table(table)?);
            Ok(a)
        }),
    );
    // `[integrations.ado]` is Azure DevOps too (the original devlog's name); its errors name
    // the table as written.
    r.alias(
        "ado",
        devlog_ado::NAME,
        Arc::new(|table: &serde_json::Value| {
            let a: Arc<dyn Integration> = Arc::new(devlog_ado::AdoIntegration::new(
                devlog_ado::AdoConfig::from_table_named(table, "ado")?,
            )?);
            Ok(a)
        }),
    );
    r.accept("git", "local git automation, docs/git.md");
    r
}

/// Validates and builds the configured integrations.
pub fn build(ws: &Workspace, registry: &Registry) -> Result<Vec<Arc<dyn Integration>>, CliError> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let tables =
        crate::config::integration_tables(&ws.config, &ws.root, &env).map_err(CliError::Config)?;
    // `[integrations.git]` configures the local git automation (devlog-git), not a sync target.
    let mut tables: BTreeMap<String, serde_json::Value> = tables
        .into_iter()
        .filter(|(name, _)| !LOCAL_TABLES.contains(&name.as_str()))
        .collect();
    // Tables naming an installed plugin integration (docs/plugins.md).
    let plugins = super::plugin::integrations(ws, registry, &mut tables)?;
    let mut built = registry.build(&tables).map_err(|problems| {
        CliError::Config(crate::config::ConfigError {
            file: ws.config.source.clone(),
            message: problems
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n"),
        })
    })?;
    built.extend(plugins);
    Ok(built)
}

/// Opens the workspace's sync state where its store keeps it (`devlog_store::open_sync_state`):
/// the `sqlite` backend's own database; for the JSON backend the git-ignored
/// `.devlog/.state/sync.sqlite`; for PostgreSQL and MySQL the store's database, shared by every
/// machine on it (importing a machine-local `sync.sqlite` left from before once, with a note
/// on stderr).
pub async fn open_state(ws: &Workspace) -> Result<SyncState, CliError> {
    let opened = devlog_store::open_sync_state(&ws.spec, &ws.devlog_dir.join(".state")).await?;
    if let Some(note) = &opened.note {
        eprintln!("note: {}", crate::output::clean(note, false));
    }
    Ok(SyncState::new(opened.state))
}

/// The engine's options from the workspace's `[sync]` table: `strategy`, `owners`, and the
/// lease (`lease` overrides `[sync] lease`; 60 s by default).
pub fn sync_options(
    ws: &crate::workspace::Workspace,
    strategy: Strategy,
    lease: Option<std::time::Duration>,
) -> SyncOptions {
    let defaults = SyncOptions::default();
    SyncOptions {
        strategy,
        owners: ws.config.sync.owners.clone(),
        lease_ms: lease
            .or(ws.config.sync.lease)
            .map_or(defaults.lease_ms, |d| {
                i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
            }),
        ..defaults
    }
}

async fn engine(
    ctx: &Ctx,
    strategy: Strategy,
) -> Result<(SyncEngine, Vec<Arc<dyn Integration>>), CliError> {
    engine_leased(ctx, strategy, None, false).await
}

async fn engine_leased(
    ctx: &Ctx,
    strategy: Strategy,
    lease: Option<std::time::Duration>,
    long_running: bool,
) -> Result<(SyncEngine, Vec<Arc<dyn Integration>>), CliError> {
    let ws = ctx.workspace()?;
    let etags = StateEtags::new();
    let integrations = build(&ws, &registry_with(Some(etags.clone())))?;
    let store = if long_running {
        ws.open_watched().await?
    } else {
        ws.open().await?
    };
    let state = open_state(&ws).await?;
    etags.attach(&state);
    let opts = sync_options(&ws, strategy, lease);
    Ok((
        SyncEngine::new(store, state, integrations.clone(), opts),
        integrations,
    ))
}

/// The engine for sync workers (`devlog worker`, `devlog sync --watch`): an error when no
/// integration is configured.
pub async fn engine_for_workers(
    ctx: &Ctx,
    strategy: Strategy,
    lease: Option<std::time::Duration>,
) -> Result<SyncEngine, CliError> {
    let (engine, integrations) = engine_leased(ctx, strategy, lease, true).await?;
    if integrations.is_empty() {
        return Err(CliError::Usage(
            "no integrations are configured: add an [integrations.<name>] table to devlog.toml (see docs/sync.md)".into(),
        ));
    }
    Ok(engine)
}

pub async fn run(ctx: &Ctx, a: SyncArgs) -> Result<(), CliError> {
    match a.command {
        None => {
            let done = run_sync(ctx, a).await;
            // The run's remote effects are covered by a signed checkpoint.
            if let Ok(store) = ctx.store().await {
                super::audit::checkpoint_after_batch(ctx, &*store).await;
            }
            done
        }
        Some(SyncCommand::Status) => status(ctx).await,
        Some(SyncCommand::Retry { job, all_failed }) => {
            if job.is_none() && !all_failed {
                return Err(CliError::Usage("give a job id or --all-failed".into()));
            }
            let (engine, _) = engine(ctx, Strategy::Manual).await?;
            let n = engine
                .state()
                .retry(
                    job,
                    devlog_core::Timestamp::from_datetime(chrono::Utc::now()).millis(),
                )
                .await?;
            if ctx.out.json {
                ctx.out.json(&json!({"requeued": n}))?;
            } else {
                write_stdout(&format!("{n} job(s) queued again; run `devlog sync`\n"))?;
            }
            Ok(())
        }
        Some(SyncCommand::Conflicts) => {
            let (engine, _) = engine(ctx, Strategy::Manual).await?;
            let cs = engine.state().open_conflicts().await?;
            if ctx.out.json {
                ctx.out.json(&cs)?;
                return Ok(());
            }
            if cs.is_empty() {
                return Ok(write_stdout("No conflicts.\n")?);
            }
            let mut t = Table::header(
                &ctx.out,
                &["ID", "SYSTEM", "ENTRY", "FIELD", "LOCAL", "REMOTE"],
            );
            for c in &cs {
                let cells = [
                    c.id.to_string(),
                    c.integration.clone(),
                    c.entry_id.short(),
                    c.field.field.to_string(),
                    c.field.local.to_string(),
                    c.field.remote.to_string(),
                ];
                t.row(cells.into_iter().map(|x| (x.clone(), x)).collect());
            }
            write_stdout(&t.render())?;
            Ok(())
        }
        Some(SyncCommand::Resolve { id, take }) => {
            let (engine, _) = engine(ctx, Strategy::Manual).await?;
            engine.resolve(id, take == "remote").await?;
            if ctx.out.json {
                ctx.out.json(&json!({"resolved": id, "took": take}))?;
            } else {
                write_stdout(&format!(
                    "Conflict {id} resolved with the {take} value; `devlog sync` pushes it if needed\n"
                ))?;
            }
            Ok(())
        }
    }
}

async fn run_sync(ctx: &Ctx, a: SyncArgs) -> Result<(), CliError> {
    let strategy = match a.strategy {
        Some(s) => s,
        None => ctx.workspace()?.config.sync.strategy.unwrap_or_default(),
    };
    // `--system ado`: the integration the alias names.
    let a = SyncArgs {
        system: a.system.map(|s| match registry().resolve(&s) {
            Some((name, true)) => name.to_string(),
            _ => s,
        }),
        ..a
    };
    if a.watch {
        let ws = ctx.workspace()?;
        let opts = devlog_sync::WorkerOptions {
            workers: 1,
            interval: a
                .interval
                .or(ws.config.sync.interval)
                .unwrap_or(super::worker::DEFAULT_INTERVAL),
            pollers: super::ado::pollers(&ws),
            ..devlog_sync::WorkerOptions::default()
        };
        let engine = engine_for_workers(ctx, strategy, None).await?;
        return super::worker::run_in_terminal(ctx, engine, opts, false).await;
    }
    let (engine, integrations) = engine(ctx, strategy).await?;
    if let Some(s) = a.system.as_deref()
        && !integrations.is_empty()
        && !integrations.iter().any(|i| i.descriptor().name == s)
    {
        let enabled: Vec<String> = integrations.iter().map(|i| i.descriptor().name).collect();
        return Err(CliError::Usage(format!(
            "--system {s}: not an enabled integration; enabled: {}",
            enabled.join(", ")
        )));
    }
    if integrations.is_empty() {
        return Err(CliError::Usage(
            "no integrations are configured: add an [integrations.<name>] table to devlog.toml (see docs/sync.md)".into(),
        ));
    }
    let entry = match &a.entry {
        Some(r) => Some(
            devlog_core::Devlog::new(ctx.store().await?)
                .resolve_summary(r)
                .await?
                .id,
        ),
        None => None,
    };
    if a.plan {
        let ops = engine.plan(a.system.as_deref(), entry, true).await?;
        if ctx.out.json {
            ctx.out.json(&ops)?;
        } else {
            let mut s = String::new();
            for op in &ops {
                s.push_str(&format!("{op}\n"));
            }
            if !ops.iter().any(PlannedOp::is_push) {
                s.push_str("No local changes to push.\n");
            }
            write_stdout(&s)?;
        }
        return Ok(());
    }
    let bar = Bar::new("syncing", ctx.out.json);
    let report = engine
        .sync(a.system.as_deref(), entry, &|d, t| bar.set(d, t))
        .await?;
    bar.finish();
    if ctx.out.json {
        ctx.out.json(&report)?;
    } else {
        let mut s = format!(
            "pulled {} remote changes ({} applied, {} conflicts, {} comments/moves applied); pushed: {} created, {} updated, {} recovered, {} unchanged, {} notes posted or edited\n",
            report.pulled,
            report.applied,
            report.conflicts,
            report.actions_applied,
            report.created,
            report.updated,
            report.recovered,
            report.unchanged,
            report.notes_pushed
        );
        for p in &report.paused {
            s.push_str(&format!("paused: {p}\n"));
        }
        for n in &report.notes {
            s.push_str(&format!("note: {n}\n"));
        }
        write_stdout(&s)?;
        for f in &report.failed {
            eprintln!("failed: {f}");
        }
    }
    Ok(())
}

async fn status(ctx: &Ctx) -> Result<(), CliError> {
    let (engine, _) = engine(ctx, Strategy::Manual).await?;
    let jobs = engine.state().open_jobs().await?;
    let links = engine.state().links().await?;
    let conflicts = engine.state().open_conflicts().await?;
    let mut rows: BTreeMap<(String, String), (String, String)> = BTreeMap::new();
    for l in &links {
        rows.insert(
            (l.integration.clone(), l.entry_id.to_string()),
            (
                match l.state {
                    LinkState::Linked => "synced".into(),
                    LinkState::Unlinked => "unlinked".into(),
                    LinkState::Creating => "pending".into(),
                },
                l.remote_id.clone().unwrap_or_default(),
            ),
        );
    }
    for j in &jobs {
        let st = if j.state == JobState::Dead {
            format!(
                "failed (job {}): {}",
                j.id,
                j.last_error.clone().unwrap_or_default()
            )
        } else {
            format!("pending (job {})", j.id)
        };
        rows.entry((j.integration.clone(), j.entry_id.to_string()))
            .or_insert((String::new(), String::new()))
            .0 = st;
    }
    // Local changes no job holds yet (every entry after the change feed was rebuilt): the
    // links say what was last synced, the plan what a sync would send now.
    for op in engine.plan(None, None, false).await? {
        if !op.is_push() {
            continue;
        }
        let Some((integration, entry_id)) = op.entry() else {
            continue;
        };
        let row = rows
            .entry((integration.to_string(), entry_id.to_string()))
            .or_insert((String::new(), String::new()));
        if row.0.is_empty() || row.0 == "synced" {
            row.0 = "changed locally, not pushed yet".into();
        }
    }
    for c in &conflicts {
        rows.entry((c.integration.clone(), c.entry_id.to_string()))
            .or_insert((String::new(), String::new()))
            .0 = format!("conflict on {} (id {})", c.field.field, c.id);
    }
    // The workflow runs kept beside the jobs in the same sync state.
    let runs = engine.state().workflow_run_counts().await?;
    if ctx.out.json {
        let v: Vec<_> = rows.iter().map(|((i, e), (s, r))| json!({"integration": i, "entryId": e, "state": s, "remoteId": r})).collect();
        ctx.out.json(
            &json!({"entries": v, "jobs": jobs, "conflicts": conflicts, "workflowRuns": runs}),
        )?;
        return Ok(());
    }
    if rows.is_empty() {
        write_stdout("Nothing synced yet.\n")?;
    } else {
        let mut t = Table::header(&ctx.out, &["SYSTEM", "ENTRY", "REMOTE", "STATE"]);
        for ((i, e), (s, r)) in &rows {
            let cells = [i.clone(), e[..8].to_string(), r.clone(), s.clone()];
            t.row(cells.into_iter().map(|x| (x.clone(), x)).collect());
        }
        write_stdout(&t.render())?;
    }
    if let Some(line) = workflow_runs_line(&runs) {
        write_stdout(&format!("{line}\n"))?;
    }
    Ok(())
}

/// `Workflow runs: 1 running, 2 parked, 1 failed, 0 dead (…)`, when a run is open or failed.
fn workflow_runs_line(runs: &WorkflowRunCounts) -> Option<String> {
    if runs.running + runs.parked + runs.failed + runs.dead == 0 {
        return None;
    }
    let mut line = format!(
        "Workflow runs: {} running, {} parked, {} failed, {} dead",
        runs.running, runs.parked, runs.failed, runs.dead
    );
    if runs.dead > 0 {
        line.push_str(
            " (`devlog workflow runs --state dead` lists the dead ones, `devlog workflow \
             resume <run>` re-runs one)",
        );
    }
    Some(line)
}

pub async fn integrations(ctx: &Ctx, a: IntegrationsArgs) -> Result<(), CliError> {
    let ws = ctx.workspace_or_create()?;
    let registry = registry();
    match a.command {
        IntegrationsCommand::List => {
            let configured: Vec<String> = ws.config.integrations.keys().cloned().collect();
            // The table that configures each integration, as written (`ado` for Azure DevOps).
            let table_of = |name: &str| {
                configured
                    .iter()
                    .find(|t| registry.resolve(t).is_some_and(|(n, _)| n == name))
                    .cloned()
            };
            let mut known: Vec<_> = registry
                .descriptors()
                .into_iter()
                .map(|d| {
                    let table = table_of(&d.name);
                    json!({"name": d.name, "displayName": crate::config::display_name(&d.name), "version": d.version, "description": d.description, "capabilities": d.capabilities, "available": true, "configured": table.is_some(), "table": table})
                })
                .collect();
            // Plugin integrations (docs/plugins.md), configured as `[integrations.<name>]`.
            for (name, version, description, dir) in super::plugin::integration_plugins(&ws) {
                if registry.resolve(&name).is_some() {
                    continue; // a built-in integration's name wins
                }
                let configured = configured.contains(&name);
                known.push(json!({"name": name, "displayName": name, "version": version, "description": format!("{description} (plugin)"), "plugin": dir, "available": true, "configured": configured, "table": configured.then(|| name.clone())}));
            }
            if ctx.out.json {
                ctx.out
                    .json(&json!({"known": known, "configured": configured}))?;
            } else {
                let mut t =
                    Table::header(&ctx.out, &["NAME", "VERSION", "CONFIGURED", "DESCRIPTION"]);
                for k in &known {
                    let name = k["name"].as_str().unwrap_or_default();
                    // Configured under another name: say which table (`[integrations.ado]`).
                    let configured = match k["table"].as_str() {
                        Some(t) if t == name => "yes".to_string(),
                        Some(t) => format!("yes ([integrations.{t}])"),
                        None => "no".to_string(),
                    };
                    let cells = [
                        name.to_string(),
                        k["version"].as_str().unwrap_or("-").to_string(),
                        configured,
                        k["description"].as_str().unwrap_or_default().to_string(),
                    ];
                    t.row(cells.into_iter().map(|x| (x.clone(), x)).collect());
                }
                write_stdout(&t.render())?;
            }
            Ok(())
        }
        IntegrationsCommand::Check => {
            let integrations = build(&ws, &registry)?;
            let mut results = Vec::new();
            // The first failure decides the exit code by its cause: unreachable or rate-limited
            // is 7 (try again), a refused token or a wrong setting is 5 (fix it).
            let mut first_error = None;
            for i in &integrations {
                let name = i.descriptor().name;
                let r = match i.health().await {
                    Ok(h) => json!({"name": name, "ok": h.ok, "message": h.message}),
                    Err(e) => {
                        let r = json!({"name": name, "ok": false, "message": e.to_string()});
                        first_error.get_or_insert(e);
                        r
                    }
                };
                results.push(r);
            }
            let all_ok = results.iter().all(|r| r["ok"] == true);
            if ctx.out.json {
                ctx.out.json(&results)?;
            } else if results.is_empty() {
                write_stdout("No integrations configured.\n")?;
            } else {
                for r in &results {
                    write_stdout(&format!(
                        "{}: {} {}\n",
                        r["name"].as_str().unwrap_or_default(),
                        if r["ok"] == true { "ok" } else { "FAILED" },
                        r["message"].as_str().unwrap_or_default()
                    ))?;
                }
            }
            match first_error {
                _ if all_ok => Ok(()),
                Some(e) => Err(CliError::Remote(e)),
                None => Err(CliError::Store(devlog_core::StoreError::invalid(
                    "integrations",
                    "an integration failed its health check (see its message above)",
                ))),
            }
        }
    }
}
