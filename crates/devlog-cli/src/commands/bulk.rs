//! `devlog bulk edit|close|tag|untag|assign|sync|resume|list`: one change to every entry the
//! list filter flags select (devlog-core `bulk`; docs/bulk.md). Each entry is written by its
//! own update (its events and audit records), progress is kept in `.devlog/.state/bulk/`
//! (`devlog_store::FileJournal`), and an interrupted run continues with `devlog bulk resume`
//! or by running the same command again, changing no entry twice.

use std::ops::ControlFlow;
use std::sync::Arc;

use clap::{Args, Subcommand};
use devlog_core::bulk::{
    Bulk, BulkAction, BulkError, BulkJournal, BulkRequest, BulkSummary, EntryOutcome, FieldChanges,
    JournalState, Observer, OperationId, Outcome,
};
use devlog_core::entry::{EntryType, Priority, Status};
use devlog_store::FileJournal;
use serde_json::Value;

use super::{Ctx, FilterArgs, text_arg};
use crate::error::CliError;
use crate::output::{Table, count, truncate, write_stdout};
use crate::progress::Bar;
use crate::workspace::Workspace;

/// Change many entries at once: the entries the filter flags select (as `devlog list`'s),
/// each changed once, atomically; --dry-run shows what would change. An interrupted run
/// continues with `devlog bulk resume` or by running the same command again.
#[derive(Debug, Args)]
pub struct BulkArgs {
    #[command(subcommand)]
    pub command: BulkCommand,
}

#[derive(Debug, Subcommand)]
pub enum BulkCommand {
    /// Set status, priority, type or assignee on every selected entry
    Edit(EditArgs),
    /// Close every selected entry that is not done or closed, with the reason as a note
    Close(CloseArgs),
    /// Add tags to every selected entry
    Tag(TagArgs),
    /// Remove tags from every selected entry
    Untag(TagArgs),
    /// Assign every selected entry to someone (--none: unassign)
    Assign(AssignArgs),
    /// Queue a sync push of every selected entry (the sync workers or `devlog sync` send them)
    Sync(SyncArgs),
    /// Continue an interrupted operation (the only unfinished one when no id is given)
    Resume(ResumeArgs),
    /// Operations in this workspace's journal, with their progress
    List,
}

/// Which entries, and whether to only show what would change.
#[derive(Debug, Args)]
pub struct Select {
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Select every entry (required when no filter flag is given)
    #[arg(long)]
    pub all: bool,
    /// Show what would change, entry by entry; change nothing
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct EditArgs {
    #[command(flatten)]
    pub select: Select,
    /// New status (new, in-progress, blocked, in-review, testing, done, closed)
    #[arg(long)]
    pub set_status: Option<Status>,
    /// New priority (low, medium, high, critical)
    #[arg(long)]
    pub set_priority: Option<Priority>,
    /// New type (feature, bugfix, task, refactor, docs)
    #[arg(long)]
    pub set_type: Option<EntryType>,
    /// New assignee (an empty value unassigns)
    #[arg(long)]
    pub set_assignee: Option<String>,
    /// Finish parents even though subtasks are open
    #[arg(long, short = 'f')]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct CloseArgs {
    #[command(flatten)]
    pub select: Select,
    /// Why: added as a note to each entry closed (`-` reads standard input)
    #[arg(long, short = 'r')]
    pub reason: Option<String>,
    /// Close parents even though subtasks are open
    #[arg(long, short = 'f')]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct TagArgs {
    /// The tags
    #[arg(required = true, value_name = "TAG")]
    pub tags: Vec<String>,
    #[command(flatten)]
    pub select: Select,
}

#[derive(Debug, Args)]
pub struct AssignArgs {
    /// Who takes the entries
    #[arg(required_unless_present = "none", conflicts_with = "none")]
    pub who: Option<String>,
    /// Unassign
    #[arg(long)]
    pub none: bool,
    #[command(flatten)]
    pub select: Select,
}

#[derive(Debug, Args)]
pub struct SyncArgs {
    /// Only these integrations (by default every enabled one)
    #[arg(long = "integration", value_name = "NAME")]
    pub integrations: Vec<String>,
    #[command(flatten)]
    pub select: Select,
}

#[derive(Debug, Args)]
pub struct ResumeArgs {
    /// The operation's id (as `devlog bulk list` shows it)
    pub operation: Option<String>,
    /// Finish parents even though subtasks are open
    #[arg(long, short = 'f')]
    pub force: bool,
}

/// The journal of a workspace: `.devlog/.state/bulk/` (machine-local, for every backend).
pub fn journal(ws: &Workspace) -> Arc<FileJournal> {
    Arc::new(FileJournal::in_state_dir(&ws.devlog_dir.join(".state")))
}

pub async fn run(ctx: &Ctx, a: BulkArgs) -> Result<(), CliError> {
    let done = run_command(ctx, a).await;
    // The batch's audit records are covered by a signed checkpoint.
    if let Ok(store) = ctx.store().await {
        super::audit::checkpoint_after_batch(ctx, &*store).await;
    }
    done
}

async fn run_command(ctx: &Ctx, a: BulkArgs) -> Result<(), CliError> {
    match a.command {
        BulkCommand::Edit(e) => {
            let set = FieldChanges {
                status: e.set_status,
                priority: e.set_priority,
                kind: e.set_type,
                assignee: e.set_assignee,
            };
            if set.is_empty() {
                return Err(CliError::Usage(
                    "say what to set: --set-status, --set-priority, --set-type or --set-assignee"
                        .into(),
                ));
            }
            start(ctx, e.select, BulkAction::Edit { set }, e.force).await
        }
        BulkCommand::Close(c) => {
            let reason = c
                .reason
                .as_deref()
                .map(|r| text_arg(r, "the reason", None))
                .transpose()?;
            start(ctx, c.select, BulkAction::Close { reason }, c.force).await
        }
        BulkCommand::Tag(t) => start(ctx, t.select, BulkAction::Tag { tags: t.tags }, false).await,
        BulkCommand::Untag(t) => {
            start(ctx, t.select, BulkAction::Untag { tags: t.tags }, false).await
        }
        BulkCommand::Assign(a) => {
            let assignee = if a.none { None } else { a.who };
            start(ctx, a.select, BulkAction::Assign { assignee }, false).await
        }
        BulkCommand::Sync(s) => {
            let ws = ctx.workspace()?;
            let enabled: Vec<String> = super::sync::build(&ws, &super::sync::registry())?
                .iter()
                .map(|i| i.descriptor().name.to_string())
                .collect();
            let integrations = if s.integrations.is_empty() {
                enabled
            } else {
                if let Some(bad) = s.integrations.iter().find(|n| !enabled.contains(n)) {
                    return Err(CliError::Usage(format!(
                        "--integration {bad}: no such integration is enabled (enabled: {})",
                        if enabled.is_empty() {
                            "none".to_string()
                        } else {
                            enabled.join(", ")
                        }
                    )));
                }
                s.integrations
            };
            start(ctx, s.select, BulkAction::Sync { integrations }, false).await
        }
        BulkCommand::Resume(r) => resume(ctx, r).await,
        BulkCommand::List => list(ctx).await,
    }
}

/// The runner for this workspace: its store, its journal, and for `sync` its sync state.
async fn runner(ctx: &Ctx, force: bool, sync: bool) -> Result<Bulk, CliError> {
    let ws = ctx.workspace()?;
    let app = devlog_core::Devlog::new(ws.open().await?).allowing_open_children(force);
    let mut bulk = Bulk::new(app, journal(&ws));
    if sync {
        let state = super::sync::open_state(&ws).await?;
        bulk = bulk.with_sync_state(state.store().clone());
    }
    Ok(bulk)
}

async fn start(ctx: &Ctx, select: Select, action: BulkAction, force: bool) -> Result<(), CliError> {
    let request = BulkRequest {
        filter: select.filter.to_filter(),
        all: select.all,
        action,
    };
    let is_sync = matches!(request.action, BulkAction::Sync { .. });
    let bulk = runner(ctx, force, is_sync).await?;
    if select.dry_run {
        let summary = bulk.dry_run(&request).await?;
        return print(ctx, &summary);
    }
    let mut bar = Progress::new(ctx, request.action.name());
    let result = bulk.run(request, &ctx.meta(), &mut bar).await;
    bar.0.finish();
    print(ctx, &result.map_err(bulk_error)?)
}

async fn resume(ctx: &Ctx, r: ResumeArgs) -> Result<(), CliError> {
    let ws = ctx.workspace()?;
    let journal = journal(&ws);
    let id = match r.operation {
        Some(id) => find(&*journal, &id).await?,
        None => {
            let open = Bulk::new(devlog_core::Devlog::new(ws.open().await?), journal.clone())
                .unfinished()
                .await?;
            match open.as_slice() {
                [one] => one.operation.id,
                [] => {
                    return Err(CliError::Usage(
                        "no bulk operation is unfinished: nothing to resume".into(),
                    ));
                }
                many => {
                    let ids: Vec<String> =
                        many.iter().map(|s| s.operation.id.to_string()).collect();
                    return Err(CliError::Usage(format!(
                        "{} bulk operations are unfinished ({}): name the one to resume",
                        many.len(),
                        ids.join(", ")
                    )));
                }
            }
        }
    };
    let action = BulkJournal::load(&*journal, id)
        .await?
        .map(|s| s.operation.request.action.name())
        .unwrap_or("bulk");
    let bulk = runner(ctx, r.force, action == "sync").await?;
    let mut bar = Progress::new(ctx, action);
    let result = bulk.resume(id, &ctx.meta(), &mut bar).await;
    bar.0.finish();
    print(ctx, &result.map_err(bulk_error)?)
}

/// The operation an id or unique id prefix names.
async fn find(journal: &dyn BulkJournal, given: &str) -> Result<OperationId, CliError> {
    let given = given.trim().to_ascii_lowercase().replace('-', "");
    let ids = journal.operations().await?;
    let matching: Vec<OperationId> = ids
        .into_iter()
        .filter(|id| id.to_string().starts_with(&given))
        .collect();
    match matching.as_slice() {
        [one] if !given.is_empty() => Ok(*one),
        [] | [_] => Err(CliError::Store(devlog_core::StoreError::not_found(
            format!("bulk operation {given}"),
        ))),
        _ => Err(CliError::Usage(format!(
            "`{given}` matches {} bulk operations: give more of the id",
            matching.len()
        ))),
    }
}

async fn list(ctx: &Ctx) -> Result<(), CliError> {
    let ws = ctx.workspace()?;
    let journal = journal(&ws);
    let mut states: Vec<JournalState> = Vec::new();
    for id in journal.operations().await? {
        if let Some(s) = journal.load(id).await? {
            states.push(s);
        }
    }
    if ctx.out.json {
        let rows: Vec<Value> = states
            .iter()
            .map(|s| {
                serde_json::json!({
                    "operation": s.operation.id,
                    "action": s.operation.request.action.name(),
                    "request": s.operation.request,
                    "startedAt": s.operation.started_at,
                    "actor": s.operation.actor,
                    "selected": s.operation.selected.len(),
                    "done": s.done.len(),
                    "finished": s.finished,
                })
            })
            .collect();
        return Ok(ctx.out.json(&rows)?);
    }
    if states.is_empty() {
        write_stdout("No bulk operations.\n")?;
        return Ok(());
    }
    let mut t = Table::header(
        &ctx.out,
        &["OPERATION", "ACTION", "STARTED", "BY", "PROGRESS", "STATE"],
    );
    for s in &states {
        let cells = [
            s.operation.id.to_string(),
            s.operation.request.action.name().to_string(),
            s.operation.started_at.to_string(),
            s.operation.actor.clone().unwrap_or_default(),
            format!("{}/{}", s.done.len(), s.operation.selected.len()),
            if s.finished { "finished" } else { "unfinished" }.to_string(),
        ];
        t.row(cells.into_iter().map(|c| (c.clone(), c)).collect());
    }
    write_stdout(&t.render())?;
    Ok(())
}

fn bulk_error(e: BulkError) -> CliError {
    match e {
        BulkError::Store(e) => CliError::Store(e),
        e @ BulkError::Finished { .. } => CliError::Usage(e.to_string()),
        e @ BulkError::Interrupted { .. } => CliError::Other(anyhow::anyhow!(e.to_string())),
    }
}

/// The progress bar (stderr, hidden when it is not a terminal or with --json).
struct Progress(Bar);

impl Progress {
    fn new(ctx: &Ctx, action: &str) -> Self {
        Self(Bar::new(&format!("bulk {action}"), ctx.out.json))
    }
}

impl Observer for Progress {
    fn entry(&mut self, done: usize, total: usize, _: &EntryOutcome) -> ControlFlow<()> {
        self.0.set(done as u64, total as u64);
        ControlFlow::Continue(())
    }
}

/// `status: "new" → "closed"` for people.
fn describe(o: &Outcome) -> String {
    let value = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => "(none)".to_string(),
        Value::Array(items) => {
            let parts: Vec<String> = items
                .iter()
                .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_string))
                .collect();
            format!("[{}]", parts.join(", "))
        }
        other => other.to_string(),
    };
    match o {
        Outcome::Changed { changes } => changes
            .iter()
            .map(|c| match c.field.as_str() {
                "notes" => format!("note added: {}", truncate(&value(&c.after), 60)),
                f => format!("{f} {} → {}", value(&c.before), value(&c.after)),
            })
            .collect::<Vec<_>>()
            .join("; "),
        Outcome::Unchanged => "unchanged (already so)".into(),
        Outcome::AlreadyApplied => "changed before the interruption".into(),
        Outcome::Queued { integrations } => format!("push queued for {}", integrations.join(", ")),
        Outcome::Missing => "deleted since it was selected".into(),
        Outcome::Failed { message } => format!("refused: {message}"),
    }
}

fn print(ctx: &Ctx, s: &BulkSummary) -> Result<(), CliError> {
    if ctx.out.json {
        return Ok(ctx.out.json(s)?);
    }
    let mut out = String::new();
    for o in &s.entries {
        if matches!(o.outcome, Outcome::Unchanged) && !s.dry_run {
            continue;
        }
        out.push_str(&format!(
            "{} {}: {}\n",
            ctx.out.bold(&format!("#{}", o.handle)),
            truncate(&o.title, 50),
            describe(&o.outcome)
        ));
    }
    let verb = if s.dry_run { "would change" } else { "changed" };
    let mut parts = vec![format!("{} {verb}", s.changed)];
    if s.queued > 0 {
        parts.push(format!("{} queued", s.queued));
    }
    parts.push(format!("{} unchanged", s.unchanged));
    if s.missing > 0 {
        parts.push(format!("{} deleted meanwhile", s.missing));
    }
    if s.failed > 0 {
        parts.push(format!("{} refused", s.failed));
    }
    let head = match s.operation {
        Some(id) if s.resumed => format!("bulk {} {id} (resumed)", s.action),
        Some(id) => format!("bulk {} {id}", s.action),
        None => format!("bulk {} (dry run: nothing changed)", s.action),
    };
    out.push_str(&format!(
        "{head}: {} selected, {}\n",
        count(s.selected, "entry", "entries"),
        parts.join(", ")
    ));
    write_stdout(&out)?;
    Ok(())
}
