//! Bulk operations (issue 20 item 5): one change applied to every entry a list [`Filter`]
//! selects — set fields, close with a reason, tag, untag, assign, or queue a sync push.
//!
//! Each entry is changed by its own `Store::update` (atomic per entry: one write, its events
//! in the change feed and its audit records), never by a transaction over the whole
//! selection. What makes a run safe to interrupt:
//! - the selection is frozen when the operation starts ([`BulkOperation::selected`], the ids
//!   in handle order) and kept with the progress in a [`BulkJournal`] (the CLI's is a folder
//!   in `.devlog/.state/bulk/`), so a resumed run works on the same entries whatever was
//!   created or changed meanwhile;
//! - each entry's write carries a change id derived from the operation and the entry
//!   ([`OperationId::change_for`]); a resumed run looks for it in the entry's history before
//!   writing, so the entry written just before a crash (and not yet recorded) is not written
//!   again;
//! - every action is idempotent on the entry: applied to an entry already in the target state
//!   it changes nothing and the store writes nothing (no event, no audit record).
//!
//! So after a crash, `devlog bulk resume` (or the same command again, which finds the
//! unfinished operation with the same request) changes every selected entry exactly once.
//! `dry_run` computes the same per-entry changes on copies and writes nothing.

use std::collections::HashSet;
use std::fmt;
use std::ops::ControlFlow;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::entry::{Entry, EntryType, Extra, Note, NoteCategory, Priority, Status};
use crate::error::{ErrorKind, Result, StoreError};
use crate::event::WriteMeta;
use crate::id::EntryId;
use crate::ops::{Devlog, check_text, set_status};
use crate::store::{Filter, ListQuery, SortKey};
use crate::sync_state::SyncStateStore;
use crate::time::Timestamp;

/// Entries read per page while freezing a selection.
const SELECT_PAGE: usize = 500;

/// The most entries one operation may select: a larger change is split by filter (a journal
/// of this many ids is a few megabytes).
pub const MAX_SELECTED: usize = 100_000;

/// A bulk operation's id (a random UUID, written as 32 hex digits everywhere: messages,
/// JSON, journal file names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct OperationId(uuid::Uuid);

impl From<OperationId> for String {
    fn from(id: OperationId) -> String {
        id.to_string()
    }
}

impl TryFrom<String> for OperationId {
    type Error = StoreError;
    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl OperationId {
    pub fn new_random() -> Self {
        Self(uuid::Uuid::new_v4())
    }

    /// The change id of this operation's write to `entry` (a UUID v5 of the two, in the form
    /// of the random ones): the same on every run, so a resumed run recognises its own write
    /// in the entry's history.
    pub fn change_for(&self, entry: EntryId) -> String {
        uuid::Uuid::new_v5(&self.0, entry.as_uuid().as_bytes())
            .simple()
            .to_string()
    }
}

impl fmt::Display for OperationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.simple())
    }
}

impl std::str::FromStr for OperationId {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self> {
        uuid::Uuid::parse_str(s.trim()).map(Self).map_err(|_| {
            StoreError::invalid(
                "operation",
                format!(
                    "`{s}` is not a bulk operation id (32 hex digits, as `devlog bulk list` shows)"
                ),
            )
        })
    }
}

/// Fields a bulk `edit` sets; `None` leaves a field alone.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct FieldChanges {
    pub status: Option<Status>,
    pub priority: Option<Priority>,
    #[serde(rename = "type")]
    pub kind: Option<EntryType>,
    /// `Some("")` clears the assignee.
    pub assignee: Option<String>,
}

impl FieldChanges {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// What a bulk operation does to each selected entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
// No `deny_unknown_fields` here or on `BulkRequest`: serde does not support it together with
// `flatten`. Frontends parse strict input types of their own (the REST body, clap).
#[serde(tag = "action", rename_all = "camelCase")]
pub enum BulkAction {
    /// Set fields (status, priority, type, assignee).
    Edit {
        #[serde(flatten)]
        set: FieldChanges,
    },
    /// Close (status closed) entries not already done or closed, with the reason as a note.
    Close {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// Add tags.
    Tag { tags: Vec<String> },
    /// Remove tags.
    Untag { tags: Vec<String> },
    /// Assign to someone, or unassign (`None`).
    Assign {
        #[serde(default)]
        assignee: Option<String>,
    },
    /// Queue a push of each entry to these integrations (the sync workers send them).
    Sync { integrations: Vec<String> },
}

impl BulkAction {
    /// The action's name, as the CLI's subcommand.
    pub fn name(&self) -> &'static str {
        match self {
            BulkAction::Edit { .. } => "edit",
            BulkAction::Close { .. } => "close",
            BulkAction::Tag { .. } => "tag",
            BulkAction::Untag { .. } => "untag",
            BulkAction::Assign { .. } => "assign",
            BulkAction::Sync { .. } => "sync",
        }
    }

    /// The status the action moves entries to, if any (for the open-subtasks rule).
    fn target_status(&self) -> Option<Status> {
        match self {
            BulkAction::Edit { set } => set.status,
            BulkAction::Close { .. } => Some(Status::Closed),
            _ => None,
        }
    }

    /// Checks the action's values; every problem names the field to fix.
    pub fn validate(&self) -> Result<()> {
        match self {
            BulkAction::Edit { set } => {
                if set.is_empty() {
                    return Err(StoreError::invalid(
                        "edit",
                        "nothing to set: give at least one of status, priority, type, assignee",
                    ));
                }
                check_text("assignee", set.assignee.as_deref().unwrap_or(""))
            }
            BulkAction::Close { reason } => check_text("reason", reason.as_deref().unwrap_or("")),
            BulkAction::Tag { tags } | BulkAction::Untag { tags } => check_tags(tags),
            BulkAction::Assign { assignee } => {
                if assignee.as_deref().is_some_and(|a| a.trim().is_empty()) {
                    return Err(StoreError::invalid(
                        "assignee",
                        "empty: name who takes the entries, or unassign (--none)",
                    ));
                }
                check_text("assignee", assignee.as_deref().unwrap_or(""))
            }
            BulkAction::Sync { integrations } => {
                if integrations.is_empty() {
                    return Err(StoreError::invalid(
                        "integrations",
                        "no integration to sync with: enable one in devlog.toml ([integrations.<name>])",
                    ));
                }
                Ok(())
            }
        }
    }
}

fn check_tags(tags: &[String]) -> Result<()> {
    if tags.is_empty() {
        return Err(StoreError::invalid("tags", "give at least one tag"));
    }
    crate::ops::check_list("tags", tags)?;
    if let Some(bad) = tags
        .iter()
        .find(|t| t.trim().is_empty() || t.chars().any(char::is_whitespace))
    {
        return Err(StoreError::invalid(
            "tags",
            format!("`{bad}` is not a tag: tags are single words without spaces"),
        ));
    }
    Ok(())
}

/// A bulk operation as asked: which entries (the list filter) and what to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkRequest {
    #[serde(default)]
    pub filter: Filter,
    /// Select every entry when the filter is empty (refused otherwise, so a forgotten filter
    /// does not change the whole log).
    #[serde(default)]
    pub all: bool,
    #[serde(flatten)]
    pub action: BulkAction,
}

impl BulkRequest {
    pub fn validate(&self) -> Result<()> {
        if self.filter.handle_after.is_some() {
            return Err(StoreError::invalid(
                "filter.handleAfter",
                "is for paging a list, not for selecting a bulk operation's entries",
            ));
        }
        let unfiltered = Filter {
            handle_after: None,
            ..self.filter.clone()
        } == Filter::default();
        if unfiltered && !self.all {
            return Err(StoreError::invalid(
                "filter",
                "selects every entry: give a filter (--status, --tag, …) or say --all",
            ));
        }
        self.action.validate()
    }
}

/// One selected entry, frozen when the operation starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Selected {
    pub id: EntryId,
    pub handle: u64,
    pub title: String,
}

/// A started operation: the request, who started it, and the frozen selection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkOperation {
    pub id: OperationId,
    pub request: BulkRequest,
    pub started_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    pub selected: Vec<Selected>,
}

/// One field an action changed (or would change), before and after, as JSON values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldChange {
    pub field: String,
    pub before: Value,
    pub after: Value,
}

/// What happened to one selected entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "outcome")]
pub enum Outcome {
    /// Written (or, in a dry run, would be).
    Changed { changes: Vec<FieldChange> },
    /// Already in the target state: nothing written.
    Unchanged,
    /// Written by this operation before an interruption (found by its change id).
    AlreadyApplied,
    /// A sync push was queued for these integrations.
    Queued { integrations: Vec<String> },
    /// Deleted since the selection was made.
    Missing,
    /// Refused for this entry (the message says why); the others go on.
    Failed { message: String },
}

/// One entry's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EntryOutcome {
    pub id: EntryId,
    pub handle: u64,
    pub title: String,
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// What a run (or a dry run) did, in selection order, with the counts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkSummary {
    /// `None` for a dry run (nothing is recorded).
    pub operation: Option<OperationId>,
    pub action: String,
    pub dry_run: bool,
    /// This run continued an unfinished operation.
    pub resumed: bool,
    pub selected: usize,
    pub changed: usize,
    pub unchanged: usize,
    pub queued: usize,
    pub missing: usize,
    pub failed: usize,
    pub entries: Vec<EntryOutcome>,
}

impl BulkSummary {
    fn new(operation: Option<OperationId>, action: &BulkAction, dry_run: bool) -> Self {
        Self {
            operation,
            action: action.name().to_string(),
            dry_run,
            resumed: false,
            selected: 0,
            changed: 0,
            unchanged: 0,
            queued: 0,
            missing: 0,
            failed: 0,
            entries: Vec::new(),
        }
    }

    fn add(&mut self, o: EntryOutcome) {
        match &o.outcome {
            Outcome::Changed { .. } | Outcome::AlreadyApplied => self.changed += 1,
            Outcome::Unchanged => self.unchanged += 1,
            Outcome::Queued { .. } => self.queued += 1,
            Outcome::Missing => self.missing += 1,
            Outcome::Failed { .. } => self.failed += 1,
        }
        self.entries.push(o);
    }
}

/// An operation in the journal and how far it got.
#[derive(Debug, Clone, PartialEq)]
pub struct JournalState {
    pub operation: BulkOperation,
    /// Outcomes recorded so far, in the order they were recorded.
    pub done: Vec<EntryOutcome>,
    pub finished: bool,
}

/// Where bulk operations and their progress are kept, so that an interrupted run can be
/// resumed. `begin` and `record` are durable when they return.
#[async_trait]
pub trait BulkJournal: Send + Sync + fmt::Debug {
    /// Records a new operation with its frozen selection.
    async fn begin(&self, op: &BulkOperation) -> Result<()>;
    /// Records one entry's outcome.
    async fn record(&self, op: OperationId, outcome: &EntryOutcome) -> Result<()>;
    /// Marks the operation finished.
    async fn finish(&self, op: OperationId) -> Result<()>;
    /// The operation and its progress; `None` when the journal has no such operation.
    async fn load(&self, op: OperationId) -> Result<Option<JournalState>>;
    /// Every operation in the journal, oldest first.
    async fn operations(&self) -> Result<Vec<OperationId>>;
}

/// A journal in memory: for tests, and for callers with nowhere to keep one (a crash then
/// loses the progress, and the idempotent actions still change no entry twice on a rerun).
#[derive(Debug, Default)]
pub struct MemoryJournal {
    ops: Mutex<Vec<JournalState>>,
}

#[async_trait]
impl BulkJournal for MemoryJournal {
    async fn begin(&self, op: &BulkOperation) -> Result<()> {
        self.ops.lock().expect("journal lock").push(JournalState {
            operation: op.clone(),
            done: Vec::new(),
            finished: false,
        });
        Ok(())
    }
    async fn record(&self, op: OperationId, outcome: &EntryOutcome) -> Result<()> {
        let mut ops = self.ops.lock().expect("journal lock");
        let s = ops
            .iter_mut()
            .find(|s| s.operation.id == op)
            .ok_or_else(|| StoreError::not_found(format!("bulk operation {op}")))?;
        s.done.push(outcome.clone());
        Ok(())
    }
    async fn finish(&self, op: OperationId) -> Result<()> {
        let mut ops = self.ops.lock().expect("journal lock");
        if let Some(s) = ops.iter_mut().find(|s| s.operation.id == op) {
            s.finished = true;
        }
        Ok(())
    }
    async fn load(&self, op: OperationId) -> Result<Option<JournalState>> {
        let ops = self.ops.lock().expect("journal lock");
        Ok(ops.iter().find(|s| s.operation.id == op).cloned())
    }
    async fn operations(&self) -> Result<Vec<OperationId>> {
        let ops = self.ops.lock().expect("journal lock");
        Ok(ops.iter().map(|s| s.operation.id).collect())
    }
}

/// Told about each entry as a run goes (a progress bar); `Break` stops the run at once,
/// before the entry's outcome is recorded — as a crash there would (the fault-injection
/// tests use it).
pub trait Observer: Send {
    fn entry(&mut self, done: usize, total: usize, outcome: &EntryOutcome) -> ControlFlow<()>;
}

/// An observer that watches nothing.
#[derive(Debug)]
pub struct Quiet;

impl Observer for Quiet {
    fn entry(&mut self, _: usize, _: usize, _: &EntryOutcome) -> ControlFlow<()> {
        ControlFlow::Continue(())
    }
}

/// Errors of a bulk run as a whole (one entry's refusal is an [`Outcome::Failed`] instead).
#[derive(Debug, thiserror::Error)]
pub enum BulkError {
    /// The request or the operation id is wrong, or the store failed; the journal keeps what
    /// was done, so `resume` continues.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Stopped by the observer; the entries before this point are done and recorded.
    #[error(
        "bulk operation {operation} was interrupted; `devlog bulk resume {operation}` continues it"
    )]
    Interrupted { operation: OperationId },
    /// `resume` of an operation that has finished.
    #[error("bulk operation {operation} has finished: nothing to resume")]
    Finished { operation: OperationId },
}

impl BulkError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            BulkError::Store(e) => e.kind(),
            BulkError::Interrupted { .. } => ErrorKind::Unavailable,
            BulkError::Finished { .. } => ErrorKind::Invalid,
        }
    }
}

/// Runs bulk operations over one store with one journal.
#[derive(Debug, Clone)]
pub struct Bulk {
    app: Devlog,
    journal: Arc<dyn BulkJournal>,
    sync: Option<Arc<dyn SyncStateStore>>,
}

impl Bulk {
    pub fn new(app: Devlog, journal: Arc<dyn BulkJournal>) -> Self {
        Self {
            app,
            journal,
            sync: None,
        }
    }

    /// The sync state `sync` actions queue pushes in.
    pub fn with_sync_state(mut self, state: Arc<dyn SyncStateStore>) -> Self {
        self.sync = Some(state);
        self
    }

    pub fn journal(&self) -> &Arc<dyn BulkJournal> {
        &self.journal
    }

    /// The entries `filter` selects now, in handle order (keyset pages, so the cost per page
    /// does not grow with the selection).
    pub async fn select(&self, filter: &Filter) -> Result<Vec<Selected>> {
        let mut out = Vec::new();
        let mut after = None;
        loop {
            let q = ListQuery {
                filter: Filter {
                    handle_after: after,
                    ..filter.clone()
                },
                sort: SortKey::Handle,
                ascending: true,
                offset: 0,
                limit: SELECT_PAGE,
            };
            let page = self.app.store().list(&q).await?;
            let n = page.items.len();
            for s in page.items {
                after = Some(s.handle);
                out.push(Selected {
                    id: s.id,
                    handle: s.handle,
                    title: s.title,
                });
            }
            if out.len() > MAX_SELECTED {
                return Err(StoreError::invalid(
                    "filter",
                    format!(
                        "selects more than {MAX_SELECTED} entries: narrow it (--status, --type, \
                         --created-before, …) and run the operation in parts"
                    ),
                ));
            }
            if n < SELECT_PAGE {
                return Ok(out);
            }
        }
    }

    /// What `run` would do to each selected entry, computed on copies: nothing is written or
    /// recorded.
    pub async fn dry_run(&self, request: &BulkRequest) -> Result<BulkSummary> {
        request.validate()?;
        let selected = self.select(&request.filter).await?;
        let mut summary = BulkSummary::new(None, &request.action, true);
        summary.selected = selected.len();
        let now = self.app.clock().now();
        for s in &selected {
            let outcome = match self.app.store().get(s.id).await {
                Ok(entry) => match &request.action {
                    BulkAction::Sync { integrations } => Outcome::Queued {
                        integrations: integrations.clone(),
                    },
                    action => {
                        let guard = self
                            .app
                            .children_guard(s.id, action.target_status())
                            .await?;
                        let mut copy = entry.clone();
                        let check = action
                            .target_status()
                            .filter(|t| !copy.status.is_closed() && t.is_closed())
                            .map_or(Ok(()), |t| guard.check(&copy, t));
                        match check {
                            Err(e) => Outcome::Failed {
                                message: e.to_string(),
                            },
                            Ok(()) if apply(action, &mut copy, now, s.id) => Outcome::Changed {
                                changes: changes(&entry, &copy),
                            },
                            Ok(()) => Outcome::Unchanged,
                        }
                    }
                },
                Err(e) if e.kind() == ErrorKind::NotFound => Outcome::Missing,
                Err(e) => return Err(e),
            };
            summary.add(EntryOutcome {
                id: s.id,
                handle: s.handle,
                title: s.title.clone(),
                outcome,
            });
        }
        Ok(summary)
    }

    /// Starts the operation, or continues an unfinished one with the same request (the same
    /// command run again after a crash), and runs it to the end.
    pub async fn run(
        &self,
        request: BulkRequest,
        meta: &WriteMeta,
        observer: &mut dyn Observer,
    ) -> std::result::Result<BulkSummary, BulkError> {
        request.validate()?;
        if let Some(state) = self.unfinished_like(&request).await? {
            return self.continue_op(state, meta, observer).await;
        }
        let selected = self.select(&request.filter).await?;
        let op = BulkOperation {
            id: OperationId::new_random(),
            request,
            started_at: self.app.clock().now(),
            actor: meta.actor.clone(),
            selected,
        };
        self.journal.begin(&op).await?;
        let state = JournalState {
            operation: op,
            done: Vec::new(),
            finished: false,
        };
        self.execute(state, false, meta, observer).await
    }

    /// Continues an interrupted operation from the journal.
    pub async fn resume(
        &self,
        id: OperationId,
        meta: &WriteMeta,
        observer: &mut dyn Observer,
    ) -> std::result::Result<BulkSummary, BulkError> {
        let state = self
            .journal
            .load(id)
            .await?
            .ok_or_else(|| StoreError::not_found(format!("bulk operation {id}")))?;
        if state.finished {
            return Err(BulkError::Finished { operation: id });
        }
        self.continue_op(state, meta, observer).await
    }

    /// Unfinished operations in the journal, oldest first.
    pub async fn unfinished(&self) -> Result<Vec<JournalState>> {
        let mut out = Vec::new();
        for id in self.journal.operations().await? {
            if let Some(s) = self.journal.load(id).await?
                && !s.finished
            {
                out.push(s);
            }
        }
        Ok(out)
    }

    async fn unfinished_like(&self, request: &BulkRequest) -> Result<Option<JournalState>> {
        Ok(self
            .unfinished()
            .await?
            .into_iter()
            .find(|s| s.operation.request == *request))
    }

    async fn continue_op(
        &self,
        state: JournalState,
        meta: &WriteMeta,
        observer: &mut dyn Observer,
    ) -> std::result::Result<BulkSummary, BulkError> {
        self.execute(state, true, meta, observer).await
    }

    async fn execute(
        &self,
        state: JournalState,
        resumed: bool,
        meta: &WriteMeta,
        observer: &mut dyn Observer,
    ) -> std::result::Result<BulkSummary, BulkError> {
        let op = &state.operation;
        let mut summary = BulkSummary::new(Some(op.id), &op.request.action, false);
        summary.resumed = resumed;
        summary.selected = op.selected.len();
        let recorded: HashSet<EntryId> = state.done.iter().map(|o| o.id).collect();
        for o in state.done.iter().cloned() {
            summary.add(o);
        }
        let total = op.selected.len();
        for s in op.selected.iter().filter(|s| !recorded.contains(&s.id)) {
            let outcome = self.one(op, s, resumed, meta).await?;
            let o = EntryOutcome {
                id: s.id,
                handle: s.handle,
                title: s.title.clone(),
                outcome,
            };
            if observer
                .entry(summary.entries.len() + 1, total, &o)
                .is_break()
            {
                return Err(BulkError::Interrupted { operation: op.id });
            }
            self.journal.record(op.id, &o).await?;
            summary.add(o);
        }
        self.journal.finish(op.id).await?;
        // In selection order, whatever order the runs recorded them in.
        let order: std::collections::HashMap<EntryId, usize> = op
            .selected
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id, i))
            .collect();
        summary
            .entries
            .sort_by_key(|o| order.get(&o.id).copied().unwrap_or(usize::MAX));
        Ok(summary)
    }

    /// Applies the operation to one entry.
    async fn one(
        &self,
        op: &BulkOperation,
        s: &Selected,
        resumed: bool,
        meta: &WriteMeta,
    ) -> Result<Outcome> {
        let store = self.app.store();
        let change = op.id.change_for(s.id);
        if let BulkAction::Sync { integrations } = &op.request.action {
            let state = self.sync.as_ref().ok_or_else(|| {
                StoreError::invalid(
                    "integrations",
                    "this frontend has no sync state to queue pushes in",
                )
            })?;
            match store.get(s.id).await {
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Outcome::Missing),
                Err(e) => return Err(e),
            }
            let now = self.app.clock().now().millis();
            for name in integrations {
                // A no-op when a push of the entry is already pending or running.
                state.enqueue_one(name, s.id, now).await?;
            }
            return Ok(Outcome::Queued {
                integrations: integrations.clone(),
            });
        }
        if resumed && self.applied_before(s.id, &change).await? {
            return Ok(Outcome::AlreadyApplied);
        }
        let action = &op.request.action;
        let guard = match self.app.children_guard(s.id, action.target_status()).await {
            Ok(g) => g,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Outcome::Missing),
            Err(e) => return Err(e),
        };
        let now = self.app.clock().now();
        let meta = meta.clone().with_change(Some(change));
        let mut before = None;
        let mut changed = false;
        let written = store
            .update(s.id, &meta, &mut |e: &mut Entry| {
                before = Some(e.clone());
                if let Some(t) = action.target_status()
                    && t.is_closed()
                    && !e.status.is_closed()
                {
                    guard.check(e, t)?;
                }
                changed = apply(action, e, now, s.id);
                Ok(())
            })
            .await;
        match written {
            Ok(after) => Ok(match before {
                Some(b) if changed => Outcome::Changed {
                    changes: changes(&b, &after),
                },
                _ => Outcome::Unchanged,
            }),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(Outcome::Missing),
            Err(e) if matches!(e.kind(), ErrorKind::Invalid | ErrorKind::Conflict) => {
                Ok(Outcome::Failed {
                    message: e.to_string(),
                })
            }
            Err(e) => Err(e),
        }
    }

    /// Whether the entry's recent history holds this operation's write (made before a crash
    /// that came before its outcome was recorded).
    async fn applied_before(&self, id: EntryId, change: &str) -> Result<bool> {
        match self.app.store().entry_events(id, 0, None, 50).await {
            Ok(events) => Ok(events.iter().any(|e| e.change.as_deref() == Some(change))),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// Applies `action` to `e`; whether anything changed. Idempotent: an entry already in the
/// target state is left exactly as it is (not even `updatedAt` moves), so the store writes
/// nothing.
pub fn apply(action: &BulkAction, e: &mut Entry, now: Timestamp, id: EntryId) -> bool {
    let before = e.clone();
    match action {
        BulkAction::Edit { set } => {
            if let Some(s) = set.status {
                set_status(e, s, now);
            }
            if let Some(p) = set.priority {
                e.priority = p;
            }
            if let Some(k) = set.kind {
                e.kind = k;
            }
            if let Some(a) = &set.assignee {
                e.assignee = Some(a.trim().to_string()).filter(|a| !a.is_empty());
            }
        }
        BulkAction::Close { reason } => {
            if !e.status.is_closed() {
                set_status(e, Status::Closed, now);
                if let Some(r) = reason.as_deref().filter(|r| !r.trim().is_empty()) {
                    e.notes.push(Note {
                        // Derived, so a dry run and the run name the same note.
                        id: uuid::Uuid::new_v5(&id.as_uuid(), r.as_bytes()).to_string(),
                        timestamp: now,
                        category: NoteCategory::Solution,
                        content: r.to_string(),
                        files: Vec::new(),
                        code_changes: None,
                        extra: Extra::new(),
                    });
                }
            }
        }
        BulkAction::Tag { tags } => {
            for t in tags {
                let t = t.trim();
                if !e.tags.iter().any(|x| x == t) {
                    e.tags.push(t.to_string());
                }
            }
        }
        BulkAction::Untag { tags } => e.tags.retain(|t| !tags.iter().any(|x| x.trim() == t)),
        BulkAction::Assign { assignee } => {
            e.assignee = assignee
                .as_deref()
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .map(str::to_string);
        }
        BulkAction::Sync { .. } => {}
    }
    let changed = *e != before;
    if changed {
        e.updated_at = now;
    }
    changed
}

/// The fields `apply` may change, before and after.
pub fn changes(before: &Entry, after: &Entry) -> Vec<FieldChange> {
    let mut out = Vec::new();
    let mut push = |field: &str, b: Value, a: Value| {
        if b != a {
            out.push(FieldChange {
                field: field.to_string(),
                before: b,
                after: a,
            });
        }
    };
    push("status", json!(before.status), json!(after.status));
    push("priority", json!(before.priority), json!(after.priority));
    push("type", json!(before.kind), json!(after.kind));
    push("assignee", json!(before.assignee), json!(after.assignee));
    push("tags", json!(before.tags), json!(after.tags));
    if after.notes.len() > before.notes.len() {
        let added: Vec<&str> = after.notes[before.notes.len()..]
            .iter()
            .map(|n| n.content.as_str())
            .collect();
        push("notes", json!(null), json!(added.join("\n")));
    }
    out
}
