//! The sync engine: turns the change feed into durable push jobs, runs them with
//! exactly-once remote effects, pulls remote changes and merges them field by field.
//!
//! Stages (atuin's lesson): read state, compute a plan (pure), then do the I/O, recording each
//! step durably before the next one so a crash at any point resumes without loss or
//! duplicates:
//!
//! 1. **Enqueue** — events after the integration's feed cursor become one pending job per
//!    entry; jobs and the new cursor commit together. The change feed itself is written in the
//!    same transaction as the entry, so the feed is the outbox.
//! 2. **Push** — a job compares the entry with the link's base and sends only changed fields.
//!    A create is announced first (`creating`), then sent with the entry's id as the remote
//!    marker; a retry of a `creating` link looks the marker up before creating again.
//! 3. **Pull** — pages after the pull cursor are merged into entries (three-way, against the
//!    base), conflicts recorded, and the cursor advanced only after the page is applied.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use devlog_core::audit::{Action as AuditAction, Draft, RemoteEffect};
use devlog_core::entry::Entry;
use devlog_core::entry::{Note, NoteCategory};
use devlog_core::error::{ErrorKind, Result, StoreError};
use devlog_core::event::{SyncActor, WriteMeta};
use devlog_core::id::EntryId;
use devlog_core::integration::{
    Action, ActionTarget, Integration, RemoteAction, RemoteItem, RemoteNote, RemoteWorklog,
    SyncError, SyncErrorKind, Webhook, WebhookOutcome, WebhookSignal,
};
use devlog_core::merge::{
    FieldConflict, FieldOwner, FieldOwners, FieldSet, Merged, Policy, Settled, Side, Strategy,
    SyncedField, SyncedFields, merge,
};
use devlog_core::planning::{Worklog, hours_of, logged_minutes};
use devlog_core::reports::Quota;
use devlog_core::store::Store;
use devlog_core::sync_state::{IntegrationEventKind, NewIntegrationEvent, WorklogLinkState};
use devlog_core::time::{Clock, SystemClock};
use serde::Serialize;
use serde_json::Value;

use crate::failpoint::fail_point;
use crate::plan::{
    self, EntrySnapshot, LinkSnapshot, LinkState, NoteLinkSnapshot, NoteSnapshot, PushAction,
    SkipReason, Snapshot, WorklogLinkSnapshot, WorklogSnapshot,
};
use crate::state::{CursorKind, InboxState, Job, JobState, NoteLinkState, SyncState, owner_tag};

/// Tunables of the engine.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// How a true conflict on a field nobody owns is settled (`[sync] strategy`).
    pub strategy: Strategy,
    /// Who owns which field (`[sync] owners`): on a true conflict with integration X, X's
    /// value wins a field X owns, the entry's a field devlog or another tracker owns.
    pub owners: FieldOwners,
    /// Attempts before a job is dead-lettered.
    pub max_attempts: i64,
    /// First retry delay; doubles per attempt (with jitter) up to `max_delay_ms`.
    pub base_delay_ms: i64,
    pub max_delay_ms: i64,
    /// How long a claimed job is reserved for this process. The lease is renewed every third
    /// of it while the job runs, so a job may take longer; a worker that dies (or stalls a
    /// whole lease) loses the job, and another sync takes it once the lease has expired.
    /// `0`: no lease at all, a crashed run's jobs are taken at once (one sync process at a
    /// time only: the fault-injection drivers).
    pub lease_ms: i64,
}

impl Default for SyncOptions {
    fn default() -> Self {
        Self {
            strategy: Strategy::Manual,
            owners: FieldOwners::default(),
            max_attempts: 8,
            base_delay_ms: 2_000,
            max_delay_ms: 15 * 60_000,
            lease_ms: 60_000,
        }
    }
}

/// Why an engine operation failed. Frontends map it once: an unknown integration is a usage
/// error, the rest as their store or remote error.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("`{name}` is not an enabled integration; enabled: {}", if enabled.is_empty() { "none".to_string() } else { enabled.join(", ") })]
    UnknownIntegration { name: String, enabled: Vec<String> },
    /// The store or the sync state failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The remote system failed (classified for retry or not).
    #[error(transparent)]
    Remote(#[from] SyncError),
}

/// Pages of remote changes a plan reads at most per integration.
const PLAN_MAX_PAGES: usize = 100;

/// One remote operation a sync would perform (`devlog sync --plan`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase", tag = "op")]
pub enum PlannedOp {
    /// Create a remote item for the entry.
    Create {
        integration: String,
        entry_id: EntryId,
        handle: u64,
        title: String,
    },
    /// Look the entry's marker up first: an earlier create may have reached the remote.
    Recover {
        integration: String,
        entry_id: EntryId,
        handle: u64,
    },
    /// Update these fields of the linked remote item.
    Update {
        integration: String,
        entry_id: EntryId,
        handle: u64,
        remote_id: String,
        fields: FieldSet,
        /// What the integration would do beyond sending the fields (a workflow's
        /// transitions), as [`Integration::plan_update`] says.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        steps: Vec<String>,
    },
    /// Post notes as comments of the linked remote item (`create`), follow their edits
    /// (`update`) or delete the comments of deleted notes (`delete`). No `remoteId`: the item
    /// created just before.
    Notes {
        integration: String,
        entry_id: EntryId,
        handle: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        remote_id: Option<String>,
        create: u64,
        update: u64,
        #[serde(skip_serializing_if = "is_zero")]
        delete: u64,
    },
    /// Log worklogs on the linked remote item (`create`), rewrite the remote worklogs of
    /// edited ones (`update`) and delete those of deleted ones (`delete`). No `remoteId`: the
    /// item created just before.
    Worklogs {
        integration: String,
        entry_id: EntryId,
        handle: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        remote_id: Option<String>,
        create: u64,
        update: u64,
        #[serde(skip_serializing_if = "is_zero")]
        delete: u64,
    },
    /// Fetch remote changes after the cursor. With a preview of the pull (`--plan`): how
    /// many `items` it would bring, how many of them belong to no entry (`ignored`), how many
    /// remote actions (comments, moves) came with them, and why it could not be previewed.
    Pull {
        integration: String,
        cursor: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        items: Option<u64>,
        #[serde(skip_serializing_if = "is_zero")]
        ignored: u64,
        #[serde(skip_serializing_if = "is_zero")]
        actions: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// The pull would write these fields of the remote item into the entry.
    PullUpdate {
        integration: String,
        entry_id: EntryId,
        handle: u64,
        remote_id: String,
        fields: FieldSet,
    },
    /// Both sides changed `field` differently: the pull would record a conflict, keep the
    /// local value and hold the field back from pushes until it is resolved.
    Conflict {
        integration: String,
        entry_id: EntryId,
        handle: u64,
        remote_id: String,
        field: SyncedField,
        local: Value,
        remote: Value,
    },
    /// Both sides changed `field` differently and a rule settles it: `winner`'s value is
    /// kept on both sides (`rule`: the field's owner, or the strategy for an unowned field).
    Settle {
        integration: String,
        entry_id: EntryId,
        handle: u64,
        remote_id: String,
        field: SyncedField,
        local: Value,
        remote: Value,
        winner: Side,
        #[serde(flatten)]
        rule: devlog_core::merge::Rule,
    },
    /// A remote item carries the entry's marker but its create was never recorded (a crash):
    /// the pull would link it.
    Adopt {
        integration: String,
        entry_id: EntryId,
        handle: u64,
        remote_id: String,
    },
    /// The feed cursor cannot be trusted (`reason`): every one of `entries` is compared with
    /// what was last synced; the operations that follow are what that comparison finds.
    Recompare {
        integration: String,
        reason: String,
        entries: u64,
    },
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl PlannedOp {
    /// The entry the operation is about (`None`: the integration as a whole).
    pub fn entry(&self) -> Option<(&str, EntryId)> {
        match self {
            PlannedOp::Create {
                integration,
                entry_id,
                ..
            }
            | PlannedOp::Recover {
                integration,
                entry_id,
                ..
            }
            | PlannedOp::Update {
                integration,
                entry_id,
                ..
            }
            | PlannedOp::Notes {
                integration,
                entry_id,
                ..
            }
            | PlannedOp::Worklogs {
                integration,
                entry_id,
                ..
            }
            | PlannedOp::PullUpdate {
                integration,
                entry_id,
                ..
            }
            | PlannedOp::Conflict {
                integration,
                entry_id,
                ..
            }
            | PlannedOp::Settle {
                integration,
                entry_id,
                ..
            }
            | PlannedOp::Adopt {
                integration,
                entry_id,
                ..
            } => Some((integration, *entry_id)),
            PlannedOp::Pull { .. } | PlannedOp::Recompare { .. } => None,
        }
    }

    /// Whether the operation sends a local change (create, recover, update, notes).
    pub fn is_push(&self) -> bool {
        matches!(
            self,
            PlannedOp::Create { .. }
                | PlannedOp::Recover { .. }
                | PlannedOp::Update { .. }
                | PlannedOp::Notes { .. }
                | PlannedOp::Worklogs { .. }
        )
    }
}

/// One line per operation, as `devlog sync --plan` and the MCP dry run show it.
impl std::fmt::Display for PlannedOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PlannedOp::Pull {
                integration,
                cursor,
                items,
                ignored,
                actions,
                error,
            } => {
                let since = cursor.as_deref().unwrap_or("the beginning");
                write!(f, "{integration}: pull changes since {since}")?;
                if let Some(n) = items {
                    write!(f, ": {n} remote item(s)")?;
                    if *ignored > 0 {
                        write!(f, ", {ignored} linked to no entry (ignored)")?;
                    }
                    if *actions > 0 {
                        write!(f, ", {actions} comment(s) or move(s)")?;
                    }
                }
                if let Some(e) = error {
                    write!(f, " (cannot preview the pull: {e})")?;
                }
                Ok(())
            }
            PlannedOp::PullUpdate {
                integration,
                handle,
                remote_id,
                fields,
                ..
            } => write!(
                f,
                "{integration}: take {fields} from remote {remote_id} into #{handle}"
            ),
            PlannedOp::Conflict {
                integration,
                handle,
                remote_id,
                field,
                local,
                remote,
                ..
            } => write!(
                f,
                "{integration}: conflict on {field} of #{handle}: local {local}, remote \
                 {remote_id} {remote} (nobody owns {field}, strategy manual: kept local and \
                 held back until resolved)"
            ),
            PlannedOp::Settle {
                integration,
                handle,
                remote_id,
                field,
                local,
                remote,
                winner,
                rule,
                ..
            } => write!(
                f,
                "{integration}: conflict on {field} of #{handle}: local {local}, remote \
                 {remote_id} {remote}: {winner} wins ({field} {rule})"
            ),
            PlannedOp::Adopt {
                integration,
                handle,
                remote_id,
                ..
            } => write!(
                f,
                "{integration}: link #{handle} to remote {remote_id}, which carries its marker"
            ),
            PlannedOp::Create {
                integration,
                handle,
                title,
                ..
            } => write!(
                f,
                "{integration}: create a remote item for #{handle} {title:?}"
            ),
            PlannedOp::Recover {
                integration,
                handle,
                ..
            } => write!(
                f,
                "{integration}: look up #{handle}'s marker (an earlier create may have reached \
                 the remote), then create or link"
            ),
            PlannedOp::Update {
                integration,
                handle,
                remote_id,
                fields,
                steps,
                ..
            } => {
                write!(
                    f,
                    "{integration}: update {fields} of remote {remote_id} for #{handle}"
                )?;
                if !steps.is_empty() {
                    write!(f, " ({})", steps.join("; "))?;
                }
                Ok(())
            }
            PlannedOp::Recompare {
                integration,
                reason,
                entries,
            } => write!(
                f,
                "{integration}: {reason}; compare all {entries} entries with what was last synced"
            ),
            PlannedOp::Notes {
                integration,
                handle,
                remote_id,
                create,
                update,
                delete,
                ..
            } => {
                let of = match remote_id {
                    Some(r) => format!("remote {r}"),
                    None => "the new item".to_string(),
                };
                write!(
                    f,
                    "{integration}: post {create} note(s) as comments and update {update} \
                     comment(s) of {of} for #{handle}"
                )?;
                if *delete > 0 {
                    write!(f, "; delete {delete} comment(s) of deleted notes")?;
                }
                Ok(())
            }
            PlannedOp::Worklogs {
                integration,
                handle,
                remote_id,
                create,
                update,
                delete,
                ..
            } => {
                let of = match remote_id {
                    Some(r) => format!("remote {r}"),
                    None => "the new item".to_string(),
                };
                write!(
                    f,
                    "{integration}: log {create} worklog(s) and update {update} worklog(s) on \
                     {of} for #{handle}"
                )?;
                if *delete > 0 {
                    write!(f, "; delete {delete} worklog(s) deleted here")?;
                }
                Ok(())
            }
        }
    }
}

/// What a plan's preview of a pull found (`SyncEngine::preview_pull`).
#[derive(Default)]
struct PullPreview {
    items: u64,
    ignored: u64,
    actions: u64,
    error: Option<String>,
    /// The entries items would change or conflict with (the last item per entry).
    entries: BTreeMap<EntryId, PreviewedItem>,
}

struct PreviewedItem {
    handle: u64,
    remote_id: String,
    adopting: bool,
    /// What the remote holds: the base after the pull.
    remote: SyncedFields,
    /// What the entry would hold after the pull.
    merged: SyncedFields,
    to_local: FieldSet,
    conflicts: Vec<FieldConflict>,
    settled: Vec<Settled>,
}

/// How one remote item meets its entry (`SyncEngine::merge_item`).
enum ItemMerge {
    /// Linked to no entry and carrying no marker of one.
    Ignored,
    /// Unlinked on purpose, an echo of our own write, or its entry is gone.
    Skip,
    Merge {
        entry: Box<Entry>,
        /// The item's create was never recorded (found by marker) or is still `creating`.
        adopting: bool,
        merged: Box<Merged>,
        /// What the remote holds, as the new base: the item's fields, with those it keeps
        /// less precisely at the base's value while they stand for it.
        remote: Box<SyncedFields>,
    },
}

/// The engine's random source (retry jitter): injected so tests are deterministic.
#[derive(Clone)]
struct EngineRng(Arc<Mutex<dyn rand::Rng + Send>>);

impl std::fmt::Debug for EngineRng {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EngineRng")
    }
}

/// What a sync run did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncReport {
    pub enqueued: u64,
    pub created: u64,
    pub recovered: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub pulled: u64,
    pub applied: u64,
    pub conflicts: u64,
    /// Notes posted as remote comments, or comments updated after a note was edited.
    pub notes_pushed: u64,
    /// Worklogs logged on, rewritten on or deleted from remote items.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub worklogs_pushed: u64,
    /// Remote comments, board moves, pull-request states and commit mentions applied.
    pub actions_applied: u64,
    pub failed: Vec<String>,
    pub paused: Vec<String>,
    /// What the run noticed and acted on that the user should know (a rebuilt change feed).
    pub notes: Vec<String>,
    /// True conflicts a rule settled (a field's owner, or the strategy), with the winner.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub settled: Vec<SettledConflict>,
}

/// A true conflict a pull settled without a person (`SyncReport::settled`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SettledConflict {
    pub integration: String,
    pub entry_id: EntryId,
    pub handle: u64,
    pub remote_id: String,
    #[serde(flatten)]
    pub settled: Settled,
}

impl std::fmt::Display for SettledConflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let c = &self.settled.conflict;
        write!(
            f,
            "{}: conflict on {} of #{}: local {}, remote {} {}: {} wins ({} {})",
            self.integration,
            c.field,
            self.handle,
            c.local,
            self.remote_id,
            c.remote,
            self.settled.winner,
            c.field,
            self.settled.rule
        )
    }
}

/// An integration's feed cursor against the store's change feed (`SyncEngine::feed_position`).
struct FeedPosition {
    cursor: u64,
    feed_id: Option<String>,
    /// The feed identity recorded with the cursor.
    recorded: Option<String>,
    /// The feed's newest `seq` (0: empty).
    latest: u64,
    /// Why the cursor cannot be trusted, if it cannot.
    rebuilt: Option<String>,
}

/// What applying one webhook delivery did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookCounts {
    /// Items and actions the delivery reported.
    pub received: u64,
    /// Entries its items changed.
    pub applied: u64,
    /// Notes added or followed, status or priority moves.
    pub actions_applied: u64,
    pub conflicts: u64,
}

/// A verified webhook outcome as the inbox stores it.
#[derive(Serialize, serde::Deserialize)]
struct StoredOutcome {
    delivery_id: Option<String>,
    items: Vec<RemoteItem>,
    actions: Vec<RemoteAction>,
    /// Absent from deliveries stored by earlier versions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    signals: Vec<WebhookSignal>,
}

/// The sync engine over one store and a set of integrations.
#[derive(Debug, Clone)]
pub struct SyncEngine {
    store: Arc<dyn Store>,
    state: SyncState,
    integrations: Vec<Arc<dyn Integration>>,
    opts: SyncOptions,
    clock: Arc<dyn Clock>,
    rng: EngineRng,
    owner: String,
    /// Integrations whose last pull failed (or was paused) in this process: until a pull
    /// succeeds, a create first looks the entry's marker up, since the item may exist already
    /// (created from another clone) and only a pull would have adopted it.
    unpulled: Arc<Mutex<std::collections::HashSet<String>>>,
    /// The quota this process last wrote to the sync state per integration, and when
    /// (`record_quota`).
    quotas_written: Arc<Mutex<std::collections::HashMap<String, (Quota, i64)>>>,
}

/// How often a changed quota is written to the sync state while jobs run (one cursor write
/// at most this often per integration; a quota that ran out, or a new window, at once).
const QUOTA_EVERY_MS: i64 = 5_000;

fn now_ms(c: &dyn Clock) -> i64 {
    c.now().millis()
}

impl SyncEngine {
    pub fn new(
        store: Arc<dyn Store>,
        state: SyncState,
        integrations: Vec<Arc<dyn Integration>>,
        opts: SyncOptions,
    ) -> Self {
        Self {
            store,
            state,
            integrations,
            opts,
            clock: Arc::new(SystemClock),
            rng: EngineRng(Arc::new(Mutex::new(rand::make_rng::<rand::rngs::StdRng>()))),
            owner: owner_tag(),
            unpulled: Arc::default(),
            quotas_written: Arc::default(),
        }
    }

    /// Keeps the API quota `i`'s client last saw in the sync state (the `quota` cursor), so
    /// `devlog report sync-health` in another process shows it. Written when it changed: at
    /// once if it ran out, its window or limit changed, or `force` (the end of a sync run);
    /// else at most every [`QUOTA_EVERY_MS`]. A failure is only logged: the quota is shown,
    /// never acted on from the state (the client obeys the headers itself).
    async fn record_quota(&self, i: &Arc<dyn Integration>, force: bool) {
        let Some(mut q) = i.quota() else {
            return;
        };
        let name = i.descriptor().name;
        let now = now_ms(&*self.clock);
        {
            let written = self
                .quotas_written
                .lock()
                .expect("no panics while the quotas are locked");
            if let Some((prev, at)) = written.get(&name) {
                if prev.same_values(&q) {
                    return;
                }
                let urgent = q.remaining == Some(0)
                    || prev.resets_at != q.resets_at
                    || prev.limit != q.limit
                    || prev.resource != q.resource;
                if !force && !urgent && now - at < QUOTA_EVERY_MS {
                    return;
                }
            }
        }
        q.seen_at = devlog_core::time::Timestamp::from_millis(now);
        match self
            .state
            .set_cursor(&name, CursorKind::Quota, &q.to_cursor())
            .await
        {
            Ok(()) => {
                self.quotas_written
                    .lock()
                    .expect("no panics while the quotas are locked")
                    .insert(name, (q, now));
            }
            Err(e) => tracing::debug!(integration = %name, "quota not recorded: {e}"),
        }
    }

    /// What to tell the user about `[sync] owners` naming an integration this engine does not
    /// run: on a conflict, the entry's value wins that field with every integration.
    pub fn unknown_owners(&self) -> Vec<String> {
        let names: Vec<String> = self
            .integrations
            .iter()
            .map(|i| i.descriptor().name)
            .collect();
        self.opts
            .owners
            .iter()
            .filter_map(|(field, owner)| match owner {
                FieldOwner::Integration(n) if !names.contains(n) => Some(format!(
                    "sync.owners.{field}: `{n}` is not an enabled integration (enabled: {}); \
                     on a conflict on {field} the entry's value wins",
                    if names.is_empty() {
                        "none".to_string()
                    } else {
                        names.join(", ")
                    }
                )),
                _ => None,
            })
            .collect()
    }

    /// Records whether `name`'s pull just failed (see `unpulled`).
    fn set_unpulled(&self, name: &str, failed: bool) {
        let mut set = self
            .unpulled
            .lock()
            .expect("no panics while the set is locked");
        if failed {
            set.insert(name.to_string());
        } else {
            set.remove(name);
        }
    }

    fn is_unpulled(&self, name: &str) -> bool {
        self.unpulled
            .lock()
            .expect("no panics while the set is locked")
            .contains(name)
    }

    /// The same engine reading time (job schedules, leases, bases) from `clock`.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The same engine drawing retry jitter from `rng` (a seeded one in tests).
    pub fn with_rng(mut self, rng: impl rand::Rng + Send + 'static) -> Self {
        self.rng = EngineRng(Arc::new(Mutex::new(rng)));
        self
    }

    /// The delay before retry `attempts` (1 for the first) of a failed job: full jitter
    /// ([`devlog_core::backoff`]) from the engine's random source.
    fn retry_delay_ms(&self, attempts: i64) -> i64 {
        let attempt = u32::try_from(attempts.saturating_sub(1)).unwrap_or(u32::MAX);
        let base = Duration::from_millis(self.opts.base_delay_ms.max(0) as u64);
        let max = Duration::from_millis(self.opts.max_delay_ms.max(0) as u64);
        let delay = match self.rng.0.lock() {
            Ok(mut rng) => devlog_core::backoff::backoff_delay(&mut *rng, attempt, base, max),
            // A panic elsewhere poisoned the lock: retry at the cap rather than not at all.
            Err(_) => devlog_core::backoff::backoff_cap(attempt, base, max),
        };
        i64::try_from(delay.as_millis()).unwrap_or(i64::MAX)
    }

    pub fn state(&self) -> &SyncState {
        &self.state
    }

    /// The store the engine syncs.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The clock job schedules are read from.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    pub fn integrations(&self) -> &[Arc<dyn Integration>] {
        &self.integrations
    }

    fn integration(&self, name: &str) -> Result<&Arc<dyn Integration>, EngineError> {
        self.integrations
            .iter()
            .find(|i| i.descriptor().name == name)
            .ok_or_else(|| EngineError::UnknownIntegration {
                name: name.to_string(),
                enabled: self
                    .integrations
                    .iter()
                    .map(|i| i.descriptor().name)
                    .collect(),
            })
    }

    fn sync_meta(name: &str) -> WriteMeta {
        SyncActor::integration(name).meta()
    }

    /// Records a remote effect the remote confirmed in the audit log, with the integration,
    /// the remote object and the entry. Called right after the remote's answer and before the
    /// sync state records it, so a crash in between makes the retry find the effect again
    /// (by its marker) and record it; `effect_id` is the same on every retry, and the log
    /// keeps one record per effect id. A failure is transient: the job runs again.
    #[allow(clippy::too_many_arguments, reason = "one record's fields")]
    async fn record_effect(
        &self,
        name: &str,
        entry: (EntryId, u64),
        effect: RemoteEffect,
        remote_id: &str,
        item: Option<&str>,
        url: Option<&str>,
        effect_id: String,
    ) -> Result<(), SyncError> {
        self.append_effect(name, entry, effect, remote_id, item, url, effect_id)
            .await
            .map_err(|e| SyncError::new(name, SyncErrorKind::Transient, e.to_string()))
    }

    #[allow(clippy::too_many_arguments, reason = "one record's fields")]
    async fn append_effect(
        &self,
        name: &str,
        entry: (EntryId, u64),
        effect: RemoteEffect,
        remote_id: &str,
        item: Option<&str>,
        url: Option<&str>,
        effect_id: String,
    ) -> Result<()> {
        let Some(log) = self.store.audit_log() else {
            return Ok(());
        };
        let meta = Self::sync_meta(name);
        let draft = Draft::action(
            self.clock.now(),
            meta.actor,
            meta.origin,
            AuditAction::RemoteEffect {
                integration: name.to_string(),
                effect,
                remote_id: remote_id.to_string(),
                item: item.map(str::to_string),
                url: url.map(str::to_string),
                effect_id,
            },
        )
        .for_entry(entry.0, entry.1);
        log.audit_append(vec![draft]).await.map(|_| ())
    }

    /// Stage 1: turns new change-feed events into push jobs for every integration.
    pub async fn enqueue(&self) -> Result<u64, EngineError> {
        self.enqueue_noting(&mut Vec::new()).await
    }

    /// Where an integration's feed cursor stands in the store's change feed now. The cursor
    /// is a `seq` of one feed: when the store's feed has another identity (the JSON index was
    /// deleted and rebuilt) or ends before the cursor (a restored older backup), the cursor
    /// is not trusted and `rebuilt` says why.
    async fn feed_position(&self, name: &str) -> Result<FeedPosition> {
        let cursor: u64 = self
            .state
            .cursor(name, CursorKind::Feed)
            .await?
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let feed_id = self.store.feed_id().await?;
        let recorded = self.state.cursor(name, CursorKind::FeedId).await?;
        let latest = self
            .store
            .events_before(None, 1)
            .await?
            .last()
            .map_or(0, |e| e.seq);
        let rebuilt = match (&feed_id, &recorded) {
            (Some(now), Some(was)) if now != was => {
                Some("the change feed was rebuilt (its index was deleted or replaced)".to_string())
            }
            _ if cursor > latest => Some(format!(
                "the change feed ends at {latest}, before the sync cursor {cursor} (restored from an older copy?)"
            )),
            _ => None,
        };
        Ok(FeedPosition {
            cursor,
            feed_id,
            recorded,
            latest,
            rebuilt,
        })
    }

    /// [`Self::enqueue`], adding to `notes` what a run should tell the user (a rebuilt feed).
    pub async fn enqueue_noting(&self, notes: &mut Vec<String>) -> Result<u64, EngineError> {
        let mut total = 0;
        for i in &self.integrations {
            let name = i.descriptor().name;
            let pos = self.feed_position(&name).await?;
            let feed_id = pos.feed_id.as_deref();
            if let Some(why) = &pos.rebuilt {
                // Events since the last sync may be gone or renumbered: compare every entry
                // with its base instead (a push sends only fields that differ from the base,
                // so unchanged entries cost no remote call).
                let ids: Vec<EntryId> = self.store.all().await?.iter().map(|e| e.id).collect();
                total += self
                    .state
                    .enqueue(&name, &ids, pos.latest, feed_id, now_ms(&*self.clock))
                    .await?;
                let note = format!(
                    "{name}: {why}; re-comparing all {} entries with what was last synced",
                    ids.len()
                );
                tracing::info!("{note}");
                notes.push(note);
                continue;
            }
            let mut cursor = pos.cursor;
            if pos.recorded.is_none() && feed_id.is_some() {
                // Sync state from before feeds had identities: adopt this feed's.
                self.state
                    .enqueue(&name, &[], cursor, feed_id, now_ms(&*self.clock))
                    .await?;
            }
            loop {
                let events = self.store.events(cursor, 2000).await?;
                let Some(last) = events.last() else { break };
                let last_seq = last.seq;
                // Changes this integration itself applied are not echoed back to it.
                let entries: Vec<EntryId> =
                    plan::changed_entries(&events, &name).into_iter().collect();
                total += self
                    .state
                    .enqueue(&name, &entries, last_seq, feed_id, now_ms(&*self.clock))
                    .await?;
                cursor = last_seq;
            }
        }
        Ok(total)
    }

    /// The remote operations a sync would perform now, without performing any and without
    /// changing anything. With `pull`, each integration is asked for the pages after its pull
    /// cursor (read-only on the remote; the cursor is not advanced) and every item is merged
    /// with its entry as the pull would: the plan lists what the pull would apply and which
    /// fields would conflict, and the push side is planned on the state the pull would leave.
    pub async fn plan(
        &self,
        only: Option<&str>,
        entry: Option<EntryId>,
        pull: bool,
    ) -> Result<Vec<PlannedOp>, EngineError> {
        if let Some(o) = only {
            self.integration(o)?;
        }
        let mut out = Vec::new();
        for i in &self.integrations {
            let name = i.descriptor().name;
            if only.is_some_and(|o| o != name) {
                continue;
            }
            let cursor = self.state.cursor(&name, CursorKind::Pull).await?;
            let mut preview = PullPreview::default();
            let pull_at = out.len();
            if pull {
                preview = self.preview_pull(i, cursor.as_deref()).await?;
                for (id, o) in &preview.entries {
                    if entry.is_some_and(|e| e != *id) {
                        continue;
                    }
                    let handle = o.handle;
                    if o.adopting {
                        out.push(PlannedOp::Adopt {
                            integration: name.clone(),
                            entry_id: *id,
                            handle,
                            remote_id: o.remote_id.clone(),
                        });
                    }
                    if !o.to_local.is_empty() {
                        out.push(PlannedOp::PullUpdate {
                            integration: name.clone(),
                            entry_id: *id,
                            handle,
                            remote_id: o.remote_id.clone(),
                            fields: o.to_local,
                        });
                    }
                    for c in &o.conflicts {
                        out.push(PlannedOp::Conflict {
                            integration: name.clone(),
                            entry_id: *id,
                            handle,
                            remote_id: o.remote_id.clone(),
                            field: c.field,
                            local: c.local.clone(),
                            remote: c.remote.clone(),
                        });
                    }
                    for s in &o.settled {
                        out.push(PlannedOp::Settle {
                            integration: name.clone(),
                            entry_id: *id,
                            handle,
                            remote_id: o.remote_id.clone(),
                            field: s.conflict.field,
                            local: s.conflict.local.clone(),
                            remote: s.conflict.remote.clone(),
                            winner: s.winner,
                            rule: s.rule.clone(),
                        });
                    }
                }
            }
            out.insert(
                pull_at,
                PlannedOp::Pull {
                    integration: name.clone(),
                    cursor,
                    items: pull.then_some(preview.items),
                    ignored: preview.ignored,
                    actions: preview.actions,
                    error: preview.error.clone(),
                },
            );
            // Pending jobs plus entries with feed events not yet turned into jobs, plus
            // entries the pull would leave with fields to push.
            let mut ids: BTreeSet<EntryId> = self
                .state
                .open_jobs()
                .await?
                .into_iter()
                .filter(|j| j.integration == name && j.state != JobState::Dead)
                .map(|j| j.entry_id)
                .collect();
            ids.extend(preview.entries.keys());
            let pos = self.feed_position(&name).await?;
            if let Some(why) = &pos.rebuilt {
                // As `enqueue` will: every entry is compared with its base.
                let all = self.store.all().await?;
                out.push(PlannedOp::Recompare {
                    integration: name.clone(),
                    reason: why.clone(),
                    entries: all.len() as u64,
                });
                ids.extend(all.iter().map(|e| e.id));
            }
            let mut after = if pos.rebuilt.is_some() {
                pos.latest
            } else {
                pos.cursor
            };
            loop {
                let evs = self.store.events(after, 2000).await?;
                let Some(last) = evs.last() else { break };
                after = last.seq;
                ids.extend(plan::changed_entries(&evs, &name));
            }
            let mut snapshot = Snapshot {
                syncs_notes: i.syncs_notes(),
                syncs_worklogs: i.syncs_worklogs(),
                entries: Vec::new(),
            };
            for id in ids {
                if entry.is_some_and(|e| e != id) {
                    continue;
                }
                let (mut snap, found) = self.entry_snapshot(i, &name, id).await?;
                if found.is_none() {
                    // Deleted locally: nothing to plan (and nothing to show).
                    continue;
                }
                if let Some(o) = preview.entries.get(&id) {
                    // What the pull leaves: the merged fields locally, the item's fields as
                    // the base, new conflicts held.
                    snap.fields = Some(o.merged.clone());
                    snap.held = snap
                        .held
                        .union(o.conflicts.iter().map(|c| c.field).collect());
                    snap.link = Some(LinkSnapshot {
                        state: LinkState::Linked,
                        remote_id: Some(o.remote_id.clone()),
                        base: Some(o.remote.clone()),
                    });
                }
                snapshot.entries.push(snap);
            }
            for a in plan::decide(&snapshot) {
                let Some(e) = snapshot.entries.iter().find(|e| e.id == a.entry()) else {
                    continue;
                };
                let (entry_id, handle) = (e.id, e.handle);
                let integration = name.clone();
                out.push(match a {
                    PushAction::Create { .. } => PlannedOp::Create {
                        integration,
                        entry_id,
                        handle,
                        title: e.title.clone(),
                    },
                    PushAction::Recover { .. } => PlannedOp::Recover {
                        integration,
                        entry_id,
                        handle,
                    },
                    PushAction::Update {
                        remote_id, fields, ..
                    } => {
                        // The integration's own preview (a workflow's transitions); a failed
                        // preview is shown, not an error: the plan does not depend on it.
                        let steps = match &e.fields {
                            Some(f) => match i.plan_update(&remote_id, f, &fields).await {
                                Ok(s) => s,
                                Err(err) => vec![format!("cannot preview: {}", err.message)],
                            },
                            None => Vec::new(),
                        };
                        PlannedOp::Update {
                            integration,
                            entry_id,
                            handle,
                            remote_id,
                            fields,
                            steps,
                        }
                    }
                    PushAction::Notes {
                        remote_id,
                        create,
                        update,
                        delete,
                        ..
                    } => PlannedOp::Notes {
                        integration,
                        entry_id,
                        handle,
                        remote_id,
                        create: create.len() as u64,
                        update: update.len() as u64,
                        delete: delete.len() as u64,
                    },
                    PushAction::Worklogs {
                        remote_id,
                        create,
                        update,
                        delete,
                        ..
                    } => PlannedOp::Worklogs {
                        integration,
                        entry_id,
                        handle,
                        remote_id,
                        create: create.len() as u64,
                        update: update.len() as u64,
                        delete: delete.len() as u64,
                    },
                    PushAction::Skip { .. } => continue,
                });
            }
        }
        Ok(out)
    }

    /// What a pull of `i` after `cursor` would bring, without applying anything or moving the
    /// cursor. A failed or paused pull is reported in the preview, not as an error: the push
    /// side of the plan does not depend on it.
    async fn preview_pull(
        &self,
        i: &Arc<dyn Integration>,
        cursor: Option<&str>,
    ) -> Result<PullPreview, EngineError> {
        let name = i.descriptor().name;
        let mut preview = PullPreview::default();
        if let Some((until, reason)) = self.state.paused_until(&name, now_ms(&*self.clock)).await? {
            preview.error = Some(format!("paused until {until} ({reason})"));
            return Ok(preview);
        }
        let mut cursor = cursor.map(String::from);
        // A remote that keeps saying "more" cannot keep the plan waiting forever.
        for _ in 0..PLAN_MAX_PAGES {
            let page = match i.pull(cursor.as_deref()).await {
                Ok(p) => p,
                Err(e) => {
                    preview.error = Some(e.to_string());
                    break;
                }
            };
            preview.items += page.items.len() as u64;
            preview.actions += page.actions.len() as u64;
            for item in &page.items {
                match self.merge_item(&name, item).await? {
                    ItemMerge::Ignored => preview.ignored += 1,
                    ItemMerge::Skip => {}
                    ItemMerge::Merge {
                        entry,
                        adopting,
                        merged,
                        remote,
                    } => {
                        preview.entries.insert(
                            entry.id,
                            PreviewedItem {
                                handle: entry.handle,
                                remote_id: item.remote_id.clone(),
                                adopting,
                                remote: *remote,
                                merged: merged.fields,
                                to_local: merged.to_local,
                                conflicts: merged.conflicts,
                                settled: merged.auto_resolved,
                            },
                        );
                    }
                }
            }
            cursor = page.next_cursor.clone();
            if !page.more {
                break;
            }
        }
        Ok(preview)
    }

    /// One entry and what the sync state knows about it for `i`, as the planner sees it; and
    /// the entry itself (`None`: deleted).
    async fn entry_snapshot(
        &self,
        i: &Arc<dyn Integration>,
        name: &str,
        id: EntryId,
    ) -> Result<(EntrySnapshot, Option<Entry>)> {
        let entry = match self.store.get(id).await {
            Ok(e) => Some(e),
            Err(e) if e.kind() == ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        let link = self.state.link(name, id).await?;
        let held: FieldSet = self
            .state
            .held_fields(name, id)
            .await?
            .iter()
            .filter_map(|f| f.parse::<SyncedField>().ok())
            .collect();
        let notes: Vec<NoteSnapshot> = entry
            .iter()
            .flat_map(|e| &e.notes)
            .map(|n| NoteSnapshot {
                id: n.id.clone(),
                hash: text_hash(&n.content),
            })
            .collect();
        // Read even for an entry without notes: its deleted notes' comments are to delete.
        let note_links = if i.syncs_notes() && entry.is_some() {
            self.state
                .note_links(name, id)
                .await?
                .into_iter()
                .map(|l| NoteLinkSnapshot {
                    state: l.state,
                    note_id: l.note_id,
                    hash: l.hash,
                })
                .collect()
        } else {
            Vec::new()
        };
        let worklogs: Vec<WorklogSnapshot> = entry
            .iter()
            .flat_map(|e| &e.worklogs)
            .map(|w| WorklogSnapshot {
                id: w.id.clone(),
                hash: worklog_hash(w.date, w.minutes, &w.note),
                pulled: is_pulled(w),
            })
            .collect();
        let worklog_links = if i.syncs_worklogs() && entry.is_some() {
            self.state
                .worklog_links(name, id)
                .await?
                .into_iter()
                .map(|l| WorklogLinkSnapshot {
                    state: l.state,
                    worklog_id: l.worklog_id,
                    hash: l.hash,
                })
                .collect()
        } else {
            Vec::new()
        };
        let snap = EntrySnapshot {
            id,
            handle: entry.as_ref().map_or(0, |e| e.handle),
            title: entry.as_ref().map(|e| e.title.clone()).unwrap_or_default(),
            fields: entry.as_ref().map(SyncedFields::from_entry),
            notes,
            link: link.map(|l| LinkSnapshot {
                state: l.state,
                remote_id: l.remote_id,
                base: l.base,
            }),
            held,
            note_links,
            worklogs,
            worklog_links,
        };
        Ok((snap, entry))
    }

    /// A full sync: pull every integration (or `only`), enqueue local changes, push them.
    pub async fn sync(
        &self,
        only: Option<&str>,
        entry: Option<EntryId>,
        progress: &(dyn Fn(u64, u64) + Sync),
    ) -> Result<SyncReport, EngineError> {
        if let Some(o) = only {
            self.integration(o)?;
        }
        let mut report = SyncReport::default();
        report.notes.extend(self.unknown_owners());
        for i in self.integrations.clone() {
            let name = i.descriptor().name;
            if only.is_some_and(|o| o != name) {
                continue;
            }
            if let Err(e) = self.pull(&i, &mut report).await {
                report.failed.push(format!("{name} pull: {e}"));
            }
        }
        report.enqueued = self.enqueue_noting(&mut report.notes).await?;
        self.push_all(only, entry, &mut report, progress).await?;
        for i in &self.integrations {
            if only.is_none_or(|o| o == i.descriptor().name) {
                self.record_quota(i, true).await;
            }
        }
        Ok(report)
    }

    /// Stage 2: runs due push jobs.
    pub async fn push_all(
        &self,
        only: Option<&str>,
        entry: Option<EntryId>,
        report: &mut SyncReport,
        progress: &(dyn Fn(u64, u64) + Sync),
    ) -> Result<(), EngineError> {
        let due = self.state.open_jobs().await?;
        let total = due.iter().filter(|j| j.state != JobState::Dead).count() as u64;
        let mut done = 0;
        for i in self.integrations.clone() {
            let name = i.descriptor().name;
            if only.is_some_and(|o| o != name) {
                continue;
            }
            // A job that failed in this run waits for the next run, even if its retry is due.
            let mut tried = std::collections::HashSet::new();
            loop {
                let now = now_ms(&*self.clock);
                if let Some((until, reason)) = self.state.paused_until(&name, now).await? {
                    report.paused.push(format!(
                        "{name}: paused for {}s ({reason})",
                        (until - now + 999) / 1000
                    ));
                    break;
                }
                let Some(job) = self
                    .state
                    .claim_for(&name, entry, &self.owner, now, self.opts.lease_ms)
                    .await?
                else {
                    break;
                };
                if !tried.insert(job.id) {
                    self.state
                        .defer_job(job.id, &self.owner, job.next_at, now)
                        .await?;
                    break;
                }
                done += 1;
                progress(done, total);
                self.run_job(&i, job, report).await?;
            }
        }
        Ok(())
    }

    /// Claims the next due job of any integration that is not paused (in the order the
    /// integrations were configured) and runs it: the sync workers' step (`worker.rs`). `None`
    /// when no job is due.
    pub async fn push_next(&self, report: &mut SyncReport) -> Result<Option<Job>> {
        for i in self.integrations.clone() {
            let name = i.descriptor().name;
            let now = now_ms(&*self.clock);
            if self.state.paused_until(&name, now).await?.is_some() {
                continue;
            }
            if let Some(job) = self
                .state
                .claim_for(&name, None, &self.owner, now, self.opts.lease_ms)
                .await?
            {
                self.run_job(&i, job.clone(), report).await?;
                return Ok(Some(job));
            }
        }
        Ok(None)
    }

    /// When the earliest pending job not due yet (a retry after a failure) is due, in ms.
    pub async fn next_due(&self) -> Result<Option<i64>> {
        Ok(self
            .state
            .open_jobs()
            .await?
            .iter()
            .filter(|j| j.state == JobState::Pending)
            .map(|j| j.next_at)
            .min())
    }

    /// Runs one job this process has claimed, and records its outcome: done, retried later
    /// (with backoff, pausing the integration when rate limited) or dead-lettered.
    async fn run_job(
        &self,
        i: &Arc<dyn Integration>,
        job: Job,
        report: &mut SyncReport,
    ) -> Result<()> {
        let name = i.descriptor().name;
        let pushed = self
            .leased(
                &name,
                job.id,
                self.push_one(i, job.id, job.entry_id, report),
            )
            .await;
        match pushed {
            Ok(()) => {
                self.state
                    .finish_job(job.id, &self.owner, now_ms(&*self.clock))
                    .await?
            }
            Err(e) => {
                let now = now_ms(&*self.clock);
                let attempts = job.attempts + 1;
                let dead = !e.is_retryable() || attempts >= self.opts.max_attempts;
                let delay = match e.retry_after_ms {
                    Some(ms) => i64::try_from(ms).unwrap_or(i64::MAX),
                    None => self.retry_delay_ms(attempts),
                };
                if e.kind == SyncErrorKind::RateLimited {
                    self.state.pause(&name, now + delay, &e.message).await?;
                }
                if dead {
                    // Before the job is marked dead: a crash in between runs the job again,
                    // and the same attempt records the same key (once).
                    let data = serde_json::json!({
                        "job": {"id": job.id, "attempts": attempts},
                        "error": e.to_string(),
                        "retryable": e.is_retryable(),
                    });
                    self.record_event(
                        &name,
                        IntegrationEventKind::JobDead,
                        format!("job:{}:{attempts}", job.id),
                        Some(job.entry_id),
                        data,
                    )
                    .await?;
                }
                self.state
                    .fail_job(job.id, &self.owner, &e.to_string(), now + delay, dead, now)
                    .await?;
                report.failed.push(format!(
                    "{name} #{}: {e}{}",
                    handle_of(&*self.store, job.entry_id).await,
                    if dead { " (dead-lettered)" } else { "" }
                ));
            }
        }
        self.record_quota(i, false).await;
        Ok(())
    }

    /// Runs `work` (one job) while renewing this process's lease of the job every third of
    /// the lease. If the lease was lost (this process stalled past it and another sync took
    /// the job), the work stops at its next await point, as if this process had died: the
    /// job's other worker carries on under the exactly-once protocol.
    async fn leased<T>(
        &self,
        integration: &str,
        job: i64,
        work: impl std::future::Future<Output = Result<T, SyncError>>,
    ) -> Result<T, SyncError> {
        if self.opts.lease_ms <= 0 {
            return work.await;
        }
        let every = std::time::Duration::from_millis((self.opts.lease_ms / 3).max(1) as u64);
        tokio::pin!(work);
        loop {
            tokio::select! {
                r = &mut work => return r,
                () = tokio::time::sleep(every) => {
                    let now = now_ms(&*self.clock);
                    match self.state.renew_lease(job, &self.owner, now, self.opts.lease_ms).await {
                        Ok(true) => {}
                        Ok(false) => {
                            return Err(SyncError::new(
                                integration,
                                SyncErrorKind::Transient,
                                "this sync lost its lease of the job (it stalled longer than the \
                                 lease) and another sync took it over",
                            ));
                        }
                        // The next renewal tries again; the lease is three times the period.
                        Err(e) => tracing::warn!(job, error = %e, "cannot renew a job's lease"),
                    }
                }
            }
        }
    }

    /// Renews this worker's lease of `job` now; an error if another worker has taken it over.
    /// Without leases (`lease_ms` 0: one sync process at a time) there is nothing to check.
    async fn still_leased(&self, integration: &str, job: i64) -> Result<(), SyncError> {
        if self.opts.lease_ms <= 0 {
            return Ok(());
        }
        let now = now_ms(&*self.clock);
        match self
            .state
            .renew_lease(job, &self.owner, now, self.opts.lease_ms)
            .await
        {
            Ok(true) => Ok(()),
            Ok(false) => Err(SyncError::new(
                integration,
                SyncErrorKind::Transient,
                "this sync lost its lease of the job (it stalled longer than the lease) and \
                 another sync took it over; nothing was sent",
            )),
            Err(e) => Err(SyncError::new(
                integration,
                SyncErrorKind::Transient,
                format!("cannot renew the job's lease before creating: {e}"),
            )),
        }
    }

    /// Pushes one entry to one integration, exactly once: a snapshot of the entry and its
    /// link, the planner's decision ([`plan::decide`], the same as `devlog sync --plan`'s),
    /// then the actions, each recorded durably before the next.
    async fn push_one(
        &self,
        i: &Arc<dyn Integration>,
        job: i64,
        id: EntryId,
        report: &mut SyncReport,
    ) -> Result<(), SyncError> {
        let name = i.descriptor().name;
        let local = |e: StoreError| {
            SyncError::new(
                &name,
                if e.kind() == ErrorKind::Unavailable {
                    SyncErrorKind::Transient
                } else {
                    SyncErrorKind::Permanent
                },
                e.to_string(),
            )
        };
        let (mut snap, entry) = self.entry_snapshot(i, &name, id).await.map_err(local)?;
        // Deleted locally: nothing to push (remote deletion is a later feature).
        let Some(entry) = entry else { return Ok(()) };
        let fields = SyncedFields::from_entry(&entry);
        let now = now_ms(&*self.clock);
        let decide = |snap: &EntrySnapshot| {
            plan::decide(&Snapshot {
                syncs_notes: i.syncs_notes(),
                syncs_worklogs: i.syncs_worklogs(),
                entries: vec![snap.clone()],
            })
        };
        let mut actions = decide(&snap);
        let unpulled_create = self.is_unpulled(&name)
            && actions
                .iter()
                .any(|a| matches!(a, PushAction::Create { .. }));
        if unpulled_create || matches!(actions.as_slice(), [PushAction::Recover { .. }]) {
            // An earlier create may have reached the remote before we could record it; or
            // the pull that would have adopted an item made from another clone failed.
            match i.find_by_marker(id).await? {
                Some(found) => {
                    fail_point("push.recover.before-record");
                    self.record_effect(
                        &name,
                        (id, entry.handle),
                        RemoteEffect::ItemRecovered,
                        &found.remote_id,
                        None,
                        found.url.as_deref(),
                        format!("{name}/item/{id}/{}", found.remote_id),
                    )
                    .await?;
                    self.state
                        .set_linked(
                            &name,
                            id,
                            &found.remote_id,
                            found.url.as_deref(),
                            &found.fields,
                            now,
                        )
                        .await
                        .map_err(local)?;
                    self.record_reference(&name, id, &found)
                        .await
                        .map_err(local)?;
                    i.adopted(&found, &found.fields).await?;
                    report.recovered += 1;
                    snap = self.entry_snapshot(i, &name, id).await.map_err(local)?.0;
                }
                // Never reached the remote: create it.
                None => snap.link = None,
            }
            actions = decide(&snap);
        }
        let base = snap.link.as_ref().and_then(|l| l.base.clone());
        let mut remote_id = None;
        let (mut created, mut updated) = (false, false);
        for action in actions {
            match action {
                PushAction::Skip {
                    reason: SkipReason::Unchanged,
                    ..
                } => report.unchanged += 1,
                PushAction::Skip { .. } => {}
                PushAction::Recover { .. } => {
                    // The link was just recorded or cleared, so the planner cannot ask again.
                    return Err(SyncError::new(
                        &name,
                        SyncErrorKind::Transient,
                        "the entry's link changed while it was being recovered; retrying",
                    ));
                }
                PushAction::Create { .. } => {
                    self.state
                        .mark_creating(&name, id, now)
                        .await
                        .map_err(local)?;
                    // A create is the one request a retry cannot take back: send it only while
                    // the job is still this worker's (one that stalled past its lease and lost
                    // the job to another stops here instead of creating a second item).
                    self.still_leased(&name, job).await?;
                    if let Some(m) = &fields.milestone {
                        self.prepare_milestone(i, m).await?;
                    }
                    fail_point("push.create.before-request");
                    let item = i.create(&entry, &fields).await?;
                    fail_point("push.create.before-record");
                    self.record_effect(
                        &name,
                        (id, entry.handle),
                        RemoteEffect::ItemCreated,
                        &item.remote_id,
                        None,
                        item.url.as_deref(),
                        format!("{name}/item/{id}/{}", item.remote_id),
                    )
                    .await?;
                    self.state
                        .set_linked(
                            &name,
                            id,
                            &item.remote_id,
                            item.url.as_deref(),
                            &fields,
                            now,
                        )
                        .await
                        .map_err(local)?;
                    self.record_reference(&name, id, &item)
                        .await
                        .map_err(local)?;
                    self.own_write(i, &name, &item).await.map_err(local)?;
                    report.created += 1;
                    created = true;
                    remote_id = Some(item.remote_id);
                }
                PushAction::Update {
                    remote_id: rid,
                    fields: changed,
                    ..
                } => {
                    if changed.contains(SyncedField::Milestone)
                        && let Some(m) = &fields.milestone
                    {
                        self.prepare_milestone(i, m).await?;
                    }
                    fail_point("push.update.before-request");
                    let item = i.update(&rid, &fields, &changed).await?;
                    fail_point("push.update.before-record");
                    self.record_effect(
                        &name,
                        (id, entry.handle),
                        RemoteEffect::ItemUpdated,
                        &item.remote_id,
                        None,
                        item.url.as_deref(),
                        format!(
                            "{name}/item-updated/{}/job-{job}/{}",
                            item.remote_id,
                            entry.updated_at.millis()
                        ),
                    )
                    .await?;
                    let mut base = base.clone().unwrap_or_else(|| item.fields.clone());
                    base.copy_from(&fields, &changed);
                    self.state
                        .set_linked(&name, id, &item.remote_id, item.url.as_deref(), &base, now)
                        .await
                        .map_err(local)?;
                    self.own_write(i, &name, &item).await.map_err(local)?;
                    report.updated += 1;
                    updated = true;
                    remote_id = Some(item.remote_id);
                }
                PushAction::Notes {
                    remote_id: rid,
                    create,
                    update,
                    delete,
                    ..
                } => {
                    let Some(rid) = remote_id.clone().or(rid) else {
                        continue;
                    };
                    let mut pushed = self
                        .push_notes(i, job, &entry, &rid, &create, &update)
                        .await?;
                    pushed += self
                        .delete_comments(i, entry.id, entry.handle, &rid, &delete, report)
                        .await?;
                    report.notes_pushed += pushed;
                    if pushed == 0 && !updated && !created {
                        report.unchanged += 1;
                    }
                }
                PushAction::Worklogs {
                    remote_id: rid,
                    create,
                    update,
                    delete,
                    ..
                } => {
                    let Some(rid) = remote_id.clone().or(rid) else {
                        continue;
                    };
                    let pushed = self
                        .push_worklogs(i, job, &entry, &rid, (&create, &update, &delete), report)
                        .await?;
                    report.worklogs_pushed += pushed;
                }
            }
        }
        Ok(())
    }

    /// Lets the integration find or create the remote milestone `name` before a push refers
    /// to it, with the local milestone of that name (its description and due date) if the
    /// store has one.
    async fn prepare_milestone(
        &self,
        i: &Arc<dyn Integration>,
        name: &str,
    ) -> Result<(), SyncError> {
        let key = devlog_core::planning::milestone_key(name).ok();
        let local = match self.store.milestones().await {
            Ok(all) => all.into_iter().find(|m| Some(&m.key) == key.as_ref()),
            Err(e) if e.kind() == ErrorKind::Unavailable => {
                return Err(SyncError::new(
                    &i.descriptor().name,
                    SyncErrorKind::Transient,
                    e.to_string(),
                ));
            }
            // A store without milestones: the remote one gets the name alone.
            Err(_) => None,
        };
        i.prepare_milestone(name, local.as_ref()).await
    }

    /// Mirrors the entry's notes as comments of `remote_id`: `create` notes are posted
    /// (announced first, so a retry finds a comment whose response was lost by its marker),
    /// `update` notes are edited. Returns how many comments were written.
    async fn push_notes(
        &self,
        i: &Arc<dyn Integration>,
        job: i64,
        entry: &Entry,
        remote_id: &str,
        create: &[String],
        update: &[String],
    ) -> Result<u64, SyncError> {
        let name = i.descriptor().name;
        let local = |e: StoreError| SyncError::new(&name, SyncErrorKind::Transient, e.to_string());
        let links = self
            .state
            .note_links(&name, entry.id)
            .await
            .map_err(local)?;
        let mut written = 0;
        for note in &entry.notes {
            let hash = text_hash(&note.content);
            let now = now_ms(&*self.clock);
            let link = links.iter().find(|l| l.note_id == note.id);
            if update.contains(&note.id) {
                let rid = link.and_then(|l| l.remote_id.clone()).unwrap_or_default();
                i.update_note(remote_id, &rid, note).await?;
                self.record_effect(
                    &name,
                    (entry.id, entry.handle),
                    RemoteEffect::CommentEdited,
                    &rid,
                    Some(remote_id),
                    None,
                    format!("{name}/comment-edited/{remote_id}/{rid}/{hash}"),
                )
                .await?;
                self.state
                    .set_note_linked(&name, entry.id, &note.id, &rid, &hash, now)
                    .await
                    .map_err(local)?;
                written += 1;
            } else if create.contains(&note.id) {
                if link.is_some_and(|l| l.state == NoteLinkState::Creating)
                    && let Some(rid) = i.find_note(remote_id, &note.id).await?
                {
                    // The comment exists; the text it holds is what we posted.
                    self.record_effect(
                        &name,
                        (entry.id, entry.handle),
                        RemoteEffect::CommentPosted,
                        &rid,
                        Some(remote_id),
                        None,
                        format!("{name}/comment-posted/{remote_id}/{}", note.id),
                    )
                    .await?;
                    self.state
                        .set_note_linked(&name, entry.id, &note.id, &rid, &hash, now)
                        .await
                        .map_err(local)?;
                    continue;
                }
                self.state
                    .mark_note_creating(&name, entry.id, &note.id, now)
                    .await
                    .map_err(local)?;
                // Like an item's create: only while the job is still this worker's.
                self.still_leased(&name, job).await?;
                fail_point("push.note.before-request");
                let rid = i.create_note(remote_id, entry.id, note).await?;
                fail_point("push.note.before-record");
                self.record_effect(
                    &name,
                    (entry.id, entry.handle),
                    RemoteEffect::CommentPosted,
                    &rid,
                    Some(remote_id),
                    None,
                    format!("{name}/comment-posted/{remote_id}/{}", note.id),
                )
                .await?;
                self.state
                    .set_note_linked(&name, entry.id, &note.id, &rid, &hash, now)
                    .await
                    .map_err(local)?;
                written += 1;
            }
        }
        Ok(written)
    }

    /// Mirrors the entry's worklogs as worklogs of `remote_id`, exactly once: `create` ones are
    /// announced (`creating`), then logged with their id as the marker (a retry of an
    /// announced create looks the marker up first); `update` ones are rewritten (one deleted
    /// there meanwhile is logged again: the edit here is newer); `delete` ones are deleted
    /// there (one the integration may not delete stays, and the run says so). Returns how many
    /// remote worklogs were written.
    async fn push_worklogs(
        &self,
        i: &Arc<dyn Integration>,
        job: i64,
        entry: &Entry,
        remote_id: &str,
        (create, update, delete): (&[String], &[String], &[String]),
        report: &mut SyncReport,
    ) -> Result<u64, SyncError> {
        let name = i.descriptor().name;
        let local = |e: StoreError| SyncError::new(&name, SyncErrorKind::Transient, e.to_string());
        let links = self
            .state
            .worklog_links(&name, entry.id)
            .await
            .map_err(local)?;
        let mut written = 0;
        for w in &entry.worklogs {
            let hash = worklog_hash(w.date, w.minutes, &w.note);
            let link = links.iter().find(|l| l.worklog_id == w.id);
            let mut creating = create.contains(&w.id);
            if update.contains(&w.id) {
                let rid = link.and_then(|l| l.remote_id.clone()).unwrap_or_default();
                match i.update_worklog(remote_id, &rid, w).await {
                    Ok(()) => {
                        self.record_effect(
                            &name,
                            (entry.id, entry.handle),
                            RemoteEffect::WorklogUpdated,
                            &rid,
                            Some(remote_id),
                            None,
                            format!("{name}/worklog-updated/{remote_id}/{rid}/{hash}"),
                        )
                        .await?;
                        self.state
                            .set_worklog_linked(
                                &name,
                                entry.id,
                                &w.id,
                                &rid,
                                WorklogLinkState::Linked,
                                &hash,
                                now_ms(&*self.clock),
                            )
                            .await
                            .map_err(local)?;
                        written += 1;
                    }
                    Err(e) if e.kind == SyncErrorKind::NotFound => creating = true,
                    Err(e) => return Err(e),
                }
            }
            if !creating {
                continue;
            }
            if link.is_some_and(|l| l.state == WorklogLinkState::Creating)
                && let Some(rid) = i.find_worklog(remote_id, &w.id).await?
            {
                // Logged before the crash: what it holds is what we sent.
                self.record_effect(
                    &name,
                    (entry.id, entry.handle),
                    RemoteEffect::WorklogCreated,
                    &rid,
                    Some(remote_id),
                    None,
                    format!("{name}/worklog-created/{remote_id}/{}", w.id),
                )
                .await?;
                self.state
                    .set_worklog_linked(
                        &name,
                        entry.id,
                        &w.id,
                        &rid,
                        WorklogLinkState::Linked,
                        &hash,
                        now_ms(&*self.clock),
                    )
                    .await
                    .map_err(local)?;
                continue;
            }
            self.state
                .mark_worklog_creating(&name, entry.id, &w.id, now_ms(&*self.clock))
                .await
                .map_err(local)?;
            // Like an item's create: only while the job is still this worker's.
            self.still_leased(&name, job).await?;
            fail_point("push.worklog.before-request");
            let rid = i.create_worklog(remote_id, entry.id, w).await?;
            fail_point("push.worklog.before-record");
            self.record_effect(
                &name,
                (entry.id, entry.handle),
                RemoteEffect::WorklogCreated,
                &rid,
                Some(remote_id),
                None,
                format!("{name}/worklog-created/{remote_id}/{}", w.id),
            )
            .await?;
            self.state
                .set_worklog_linked(
                    &name,
                    entry.id,
                    &w.id,
                    &rid,
                    WorklogLinkState::Linked,
                    &hash,
                    now_ms(&*self.clock),
                )
                .await
                .map_err(local)?;
            written += 1;
        }
        for wid in delete {
            let Some(link) = links.iter().find(|l| &l.worklog_id == wid) else {
                continue;
            };
            let remote = match (&link.remote_id, link.state) {
                (Some(r), WorklogLinkState::Linked) => Some(r.clone()),
                // Announced: it may have been logged before a crash.
                _ => i.find_worklog(remote_id, wid).await?,
            };
            if let Some(r) = remote {
                match i.delete_worklog(remote_id, &r).await {
                    Ok(()) => {
                        self.record_effect(
                            &name,
                            (entry.id, entry.handle),
                            RemoteEffect::WorklogDeleted,
                            &r,
                            Some(remote_id),
                            None,
                            format!("{name}/worklog-deleted/{remote_id}/{r}"),
                        )
                        .await?;
                        written += 1;
                    }
                    Err(e) if e.kind == SyncErrorKind::Permanent => report.notes.push(format!(
                        "{name}: worklog {wid} of #{} was deleted here, but its remote worklog \
                         stays: {}",
                        entry.handle, e.message
                    )),
                    Err(e) => return Err(e),
                }
            }
            self.state
                .set_worklog_deleted(&name, entry.id, wid, now_ms(&*self.clock))
                .await
                .map_err(local)?;
        }
        Ok(written)
    }

    /// Deletes the comments of notes deleted here (`delete`, note ids) from remote item
    /// `remote_id`, recording each link as deleted. An integration that cannot delete
    /// comments (or refuses for good) leaves the comment: the run says so, the job does not
    /// fail over it. Returns how many comments were deleted.
    async fn delete_comments(
        &self,
        i: &Arc<dyn Integration>,
        entry: EntryId,
        handle: u64,
        remote_id: &str,
        delete: &[String],
        report: &mut SyncReport,
    ) -> Result<u64, SyncError> {
        if delete.is_empty() {
            return Ok(0);
        }
        let name = i.descriptor().name;
        let local = |e: StoreError| SyncError::new(&name, SyncErrorKind::Transient, e.to_string());
        let links = self.state.note_links(&name, entry).await.map_err(local)?;
        let mut deleted = 0;
        for note_id in delete {
            let Some(link) = links.iter().find(|l| &l.note_id == note_id) else {
                continue;
            };
            // A create that may have reached the remote: its comment is found by its marker.
            let comment = match (&link.remote_id, link.state) {
                (Some(c), NoteLinkState::Linked) => Some(c.clone()),
                _ => i.find_note(remote_id, note_id).await?,
            };
            if let Some(c) = comment {
                match i.delete_note(remote_id, &c).await {
                    Ok(()) => {
                        self.record_effect(
                            &name,
                            (entry, handle),
                            RemoteEffect::CommentDeleted,
                            &c,
                            Some(remote_id),
                            None,
                            format!("{name}/comment-deleted/{remote_id}/{c}"),
                        )
                        .await?;
                        deleted += 1;
                    }
                    Err(e) if e.kind == SyncErrorKind::Permanent => report.notes.push(format!(
                        "{name}: note {note_id} of #{handle} was deleted here, but its comment \
                         {c} stays on remote {remote_id}: {e}"
                    )),
                    Err(e) => return Err(e),
                }
            }
            self.state
                .set_note_deleted(&name, entry, note_id, now_ms(&*self.clock))
                .await
                .map_err(local)?;
        }
        Ok(deleted)
    }

    /// The entry an action is about, if devlog knows it.
    async fn action_entry(&self, name: &str, target: &ActionTarget) -> Result<Option<EntryId>> {
        Ok(match target {
            ActionTarget::Linked { remote_id } => self
                .state
                .link_by_remote(name, remote_id)
                .await?
                .filter(|l| l.state == LinkState::Linked)
                .map(|l| l.entry_id),
            ActionTarget::Entry { id } => Some(*id),
            ActionTarget::Reference { reference } => {
                // Only an unambiguous reference moves an entry.
                match devlog_core::Devlog::new(self.store.clone())
                    .resolve_summary(reference)
                    .await
                {
                    Ok(e) => Some(e.id),
                    Err(e) if e.kind() == ErrorKind::Unavailable => return Err(e),
                    Err(_) => None,
                }
            }
            ActionTarget::Attached { kind, remote_id } => {
                self.state.attached_entry(name, kind, remote_id).await?
            }
        })
    }

    /// Applies remote actions (shared by pull and webhooks): each key once; notes follow their
    /// comment's edits. Actions about entries devlog does not know are skipped.
    pub async fn apply_actions(
        &self,
        name: &str,
        actions: &[RemoteAction],
        report: &mut SyncReport,
    ) -> Result<()> {
        for a in actions {
            let Some(entry_id) = self.action_entry(name, &a.target).await? else {
                continue;
            };
            match &a.action {
                Action::Set {
                    status,
                    accept,
                    priority,
                    reason,
                    at,
                } => {
                    if self.state.action_applied(name, &a.key).await? {
                        continue;
                    }
                    let now = self.clock.now();
                    let (status, priority, at) = (*status, *priority, *at);
                    let reason = reason.clone();
                    // Not the integration's own actor: the change is pushed back to the linked
                    // item (a merged pull request closes the issue).
                    let meta = SyncActor::action(name, &a.key).meta();
                    let mut changed = false;
                    let r = self
                        .store
                        .update(entry_id, &meta, &mut |e: &mut Entry| {
                            if at.is_some_and(|t| t < e.updated_at) {
                                changed = false;
                                return Ok(());
                            }
                            let mut f = SyncedFields::from_entry(e);
                            if !accept.contains(&f.status) {
                                f.status = status.unwrap_or(f.status);
                            }
                            f.priority = priority.unwrap_or(f.priority);
                            changed = f.status != e.status || f.priority != e.priority;
                            if !changed {
                                return Ok(());
                            }
                            f.apply_to(e, now);
                            if reason.is_empty() {
                                e.updated_at = now;
                                return Ok(());
                            }
                            e.notes.push(Note {
                                id: format!("{name}-{}", action_note_id(&a.key)),
                                timestamp: now,
                                category: NoteCategory::Progress,
                                content: reason.clone(),
                                files: Vec::new(),
                                code_changes: None,
                                extra: Default::default(),
                            });
                            e.updated_at = now;
                            Ok(())
                        })
                        .await;
                    match r {
                        Ok(_) if changed => report.actions_applied += 1,
                        Ok(_) => {}
                        Err(e) if e.kind() == ErrorKind::NotFound => {}
                        Err(e) => return Err(e),
                    }
                    self.state
                        .record_action(name, &a.key, entry_id, now.millis())
                        .await?;
                }
                Action::Note(n) => {
                    if self.apply_note(name, entry_id, n).await? {
                        report.actions_applied += 1;
                    }
                }
                Action::NoteDeleted { remote_id } => {
                    if self.apply_note_deleted(name, remote_id).await? {
                        report.actions_applied += 1;
                    }
                }
                Action::Worklog(w) => {
                    if self.apply_worklog(name, entry_id, w).await? {
                        report.actions_applied += 1;
                    }
                }
                Action::WorklogDeleted { remote_id } => {
                    if self.apply_worklog_deleted(name, remote_id).await? {
                        report.actions_applied += 1;
                    }
                }
                Action::Deployment { deployment, note } => {
                    if self.state.action_applied(name, &a.key).await? {
                        continue;
                    }
                    if self
                        .apply_deployment(name, entry_id, &a.key, deployment, note)
                        .await?
                    {
                        report.actions_applied += 1;
                    }
                    self.state
                        .record_action(name, &a.key, entry_id, self.clock.now().millis())
                        .await?;
                }
            }
        }
        Ok(())
    }

    /// Adds a deployment to an entry's `deployments` with its note. Idempotent on its own (a
    /// crash before the action is recorded repeats nothing): the deployment is added only when
    /// the entry has none with its id, the note only when none has its id. Returns whether the
    /// entry changed.
    async fn apply_deployment(
        &self,
        name: &str,
        entry_id: EntryId,
        key: &str,
        deployment: &devlog_core::entry::Deployment,
        text: &str,
    ) -> Result<bool> {
        let now = self.clock.now();
        let note_id = format!("{name}-{}", action_note_id(key));
        let mut changed = false;
        let r = self
            .store
            .update(entry_id, &Self::sync_meta(name), &mut |e: &mut Entry| {
                changed = false;
                if !e.deployments.iter().any(|d| d.id == deployment.id) {
                    e.deployments.push(deployment.clone());
                    changed = true;
                }
                if !text.is_empty() && !e.notes.iter().any(|n| n.id == note_id) {
                    let mut extra = devlog_core::entry::Extra::new();
                    extra.insert(
                        "source".into(),
                        serde_json::json!({"system": name, "id": deployment.id, "url": deployment.url}),
                    );
                    e.notes.push(Note {
                        id: note_id.clone(),
                        timestamp: deployment.at,
                        category: NoteCategory::Progress,
                        content: text.to_string(),
                        files: Vec::new(),
                        code_changes: None,
                        extra,
                    });
                    changed = true;
                }
                if changed {
                    e.updated_at = now;
                }
                Ok(())
            })
            .await;
        match r {
            Ok(_) => Ok(changed),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Mirrors one remote comment as a note: created once (a deterministic note id makes a
    /// crash between the write and the bookkeeping harmless), edits followed. Returns whether
    /// the entry changed.
    async fn apply_note(&self, name: &str, entry_id: EntryId, n: &RemoteNote) -> Result<bool> {
        let hash = text_hash(&n.text);
        let now = self.clock.now();
        let (note_id, known) = match self.state.note_link_by_remote(name, &n.remote_id).await? {
            // Its note was deleted here: the comment's later edits are not a new note.
            Some(l) if l.state == NoteLinkState::Deleted => return Ok(false),
            Some(l) if l.state == NoteLinkState::Linked => {
                if l.hash.as_deref() == Some(hash.as_str()) {
                    return Ok(false);
                }
                (l.note_id, true)
            }
            _ => {
                // One of ours (posted from a note, its bookkeeping lost in a crash): adopt it.
                // A marker naming a note already linked to another comment is someone's copy:
                // that comment is a new note like any other.
                let adoptable = match &n.note_marker {
                    Some(m) => !self
                        .state
                        .note_links(name, entry_id)
                        .await?
                        .iter()
                        .any(|l| &l.note_id == m && l.state == NoteLinkState::Linked),
                    None => false,
                };
                match &n.note_marker {
                    Some(m) if adoptable => (m.clone(), true),
                    _ => (format!("{name}-{}", n.remote_id), false),
                }
            }
        };
        let text = n.text.clone();
        let category = n.category.unwrap_or(NoteCategory::Feedback);
        let mut extra = devlog_core::entry::Extra::new();
        extra.insert(
            "source".into(),
            serde_json::json!({"system": name, "id": n.remote_id, "author": n.author, "url": n.url}),
        );
        let nid = note_id.clone();
        let mut changed = false;
        let r = self
            .store
            .update(entry_id, &Self::sync_meta(name), &mut |e: &mut Entry| {
                changed = false;
                match e.notes.iter_mut().find(|x| x.id == nid) {
                    Some(x) if x.content != text => {
                        x.content = text.clone();
                        changed = true;
                    }
                    Some(_) => {}
                    None if known => {}
                    None => {
                        e.notes.push(Note {
                            id: nid.clone(),
                            timestamp: n.created_at,
                            category,
                            content: text.clone(),
                            files: Vec::new(),
                            code_changes: None,
                            extra: extra.clone(),
                        });
                        changed = true;
                    }
                }
                if changed {
                    e.updated_at = now;
                }
                Ok(())
            })
            .await;
        match r {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e),
        }
        self.state
            .set_note_linked(name, entry_id, &note_id, &n.remote_id, &hash, now.millis())
            .await?;
        Ok(changed)
    }

    /// The remote comment `remote_id` was deleted: the note mirroring it is deleted (a
    /// `NoteDeleted` event: the entry's history keeps the text, `devlog undo` brings it back)
    /// and its link recorded as deleted. Returns whether the entry changed.
    async fn apply_note_deleted(&self, name: &str, remote_id: &str) -> Result<bool> {
        let Some(link) = self.state.note_link_by_remote(name, remote_id).await? else {
            return Ok(false); // a comment devlog never mirrored
        };
        if link.state == NoteLinkState::Deleted {
            return Ok(false);
        }
        let now = self.clock.now();
        let note_id = link.note_id.clone();
        let mut changed = false;
        let r = self
            .store
            .update(
                link.entry_id,
                &Self::sync_meta(name),
                &mut |e: &mut Entry| {
                    let before = e.notes.len();
                    e.notes.retain(|n| n.id != note_id);
                    changed = e.notes.len() != before;
                    if changed {
                        e.updated_at = now;
                    }
                    Ok(())
                },
            )
            .await;
        match r {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        self.state
            .set_note_deleted(name, link.entry_id, &link.note_id, now.millis())
            .await?;
        Ok(changed)
    }

    /// Mirrors one remote worklog as a worklog of the entry: one logged there by someone else
    /// is added once (a deterministic id, `<integration>-<remote id>`, makes a crash between
    /// the write and the bookkeeping harmless) with its author and a `source`, and recorded as
    /// `pulled` so it is never pushed back; one of ours whose bookkeeping a crash lost is
    /// adopted by its marker; edits made there are followed. `actualHours` follows. Returns
    /// whether the entry changed.
    async fn apply_worklog(
        &self,
        name: &str,
        entry_id: EntryId,
        r: &RemoteWorklog,
    ) -> Result<bool> {
        let hash = worklog_hash(r.date, r.minutes, &r.note);
        let now = self.clock.now();
        let (worklog_id, known, state) = match self
            .state
            .worklog_link_by_remote(name, &r.remote_id)
            .await?
        {
            // Deleted here or there: its later edits are not a new worklog.
            Some(l) if l.state == WorklogLinkState::Deleted => return Ok(false),
            Some(l) if l.hash.as_deref() == Some(hash.as_str()) => return Ok(false),
            Some(l) => (l.worklog_id, true, l.state),
            None => {
                // A marker naming a worklog already linked to another remote one is
                // someone's copy: a worklog like any other.
                let adoptable = match &r.worklog_marker {
                    Some(m) => !self
                        .state
                        .worklog_links(name, entry_id)
                        .await?
                        .iter()
                        .any(|l| &l.worklog_id == m && l.state == WorklogLinkState::Linked),
                    None => false,
                };
                match &r.worklog_marker {
                    Some(m) if adoptable => (m.clone(), true, WorklogLinkState::Linked),
                    _ => (
                        format!("{name}-{}", action_note_id(&r.remote_id)),
                        false,
                        WorklogLinkState::Pulled,
                    ),
                }
            }
        };
        let mut extra = devlog_core::entry::Extra::new();
        extra.insert(
            "source".into(),
            serde_json::json!({"system": name, "id": r.remote_id, "url": r.url}),
        );
        let wid = worklog_id.clone();
        let mut changed = false;
        let res = self
            .store
            .update(entry_id, &Self::sync_meta(name), &mut |e: &mut Entry| {
                changed = false;
                match e.worklogs.iter_mut().find(|x| x.id == wid) {
                    Some(x) => {
                        if (x.date, x.minutes, x.note.as_str()) != (r.date, r.minutes, &r.note) {
                            x.date = r.date;
                            x.minutes = r.minutes;
                            x.note = r.note.clone();
                            changed = true;
                        }
                    }
                    None if known => {}
                    None => {
                        e.worklogs.push(Worklog {
                            id: wid.clone(),
                            author: r.author.clone(),
                            date: r.date,
                            minutes: r.minutes,
                            note: r.note.clone(),
                            logged_at: r.created_at,
                            extra: extra.clone(),
                        });
                        changed = true;
                    }
                }
                if changed {
                    e.actual_hours = Some(hours_of(logged_minutes(e)));
                    e.updated_at = now;
                }
                Ok(())
            })
            .await;
        match res {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e),
        }
        self.state
            .set_worklog_linked(
                name,
                entry_id,
                &worklog_id,
                &r.remote_id,
                state,
                &hash,
                now.millis(),
            )
            .await?;
        Ok(changed)
    }

    /// The remote worklog `remote_id` was deleted: the worklog mirroring it is removed (the
    /// entry's history keeps it; `actualHours` follows) and its link recorded as deleted.
    async fn apply_worklog_deleted(&self, name: &str, remote_id: &str) -> Result<bool> {
        let Some(link) = self.state.worklog_link_by_remote(name, remote_id).await? else {
            return Ok(false); // a worklog devlog never mirrored
        };
        if matches!(
            link.state,
            WorklogLinkState::Deleted | WorklogLinkState::Creating
        ) {
            return Ok(false);
        }
        let now = self.clock.now();
        let wid = link.worklog_id.clone();
        let mut changed = false;
        let r = self
            .store
            .update(
                link.entry_id,
                &Self::sync_meta(name),
                &mut |e: &mut Entry| {
                    let before = e.worklogs.len();
                    e.worklogs.retain(|w| w.id != wid);
                    changed = e.worklogs.len() != before;
                    if changed {
                        e.actual_hours =
                            (!e.worklogs.is_empty()).then(|| hours_of(logged_minutes(e)));
                        e.updated_at = now;
                    }
                    Ok(())
                },
            )
            .await;
        match r {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        self.state
            .set_worklog_deleted(name, link.entry_id, &link.worklog_id, now.millis())
            .await?;
        Ok(changed)
    }

    /// After a pull page: the remote worklogs mirrored on the page's linked items that are
    /// gone there are removed here ([`Integration::deleted_worklogs`]; only integrations that
    /// sync worklogs and can tell).
    async fn reconcile_deleted_worklogs(
        &self,
        i: &Arc<dyn Integration>,
        items: &[RemoteItem],
        report: &mut SyncReport,
    ) -> Result<(), SyncError> {
        let name = i.descriptor().name;
        if !i.syncs_worklogs() {
            return Ok(());
        }
        let local = |e: StoreError| SyncError::new(&name, SyncErrorKind::Transient, e.to_string());
        for item in items {
            let Some(link) = self
                .state
                .link_by_remote(&name, &item.remote_id)
                .await
                .map_err(local)?
                .filter(|l| l.state == LinkState::Linked)
            else {
                continue;
            };
            let mirrored: Vec<String> = self
                .state
                .worklog_links(&name, link.entry_id)
                .await
                .map_err(local)?
                .into_iter()
                .filter(|l| matches!(l.state, WorklogLinkState::Linked | WorklogLinkState::Pulled))
                .filter_map(|l| l.remote_id)
                .collect();
            if mirrored.is_empty() {
                continue;
            }
            let Some(gone) = i.deleted_worklogs(&item.remote_id, &mirrored).await? else {
                return Ok(());
            };
            for w in gone {
                if self.apply_worklog_deleted(&name, &w).await.map_err(local)? {
                    report.actions_applied += 1;
                }
            }
        }
        Ok(())
    }

    /// After a pull page: the comments of the page's linked items, compared with the notes
    /// mirrored there; a mirrored comment that is gone was deleted on the remote and its note
    /// is deleted here. Only items with mirrored notes are asked, and only integrations that
    /// can tell ([`Integration::deleted_notes`]).
    async fn reconcile_deleted_comments(
        &self,
        i: &Arc<dyn Integration>,
        items: &[RemoteItem],
        report: &mut SyncReport,
    ) -> Result<(), SyncError> {
        let name = i.descriptor().name;
        if !i.syncs_notes() {
            return Ok(());
        }
        let local = |e: StoreError| SyncError::new(&name, SyncErrorKind::Transient, e.to_string());
        for item in items {
            let Some(link) = self
                .state
                .link_by_remote(&name, &item.remote_id)
                .await
                .map_err(local)?
                .filter(|l| l.state == LinkState::Linked)
            else {
                continue;
            };
            let mirrored: Vec<_> = self
                .state
                .note_links(&name, link.entry_id)
                .await
                .map_err(local)?
                .into_iter()
                .filter(|l| l.state == NoteLinkState::Linked && l.remote_id.is_some())
                .collect();
            if mirrored.is_empty() {
                continue;
            }
            let comments: Vec<String> = mirrored.into_iter().filter_map(|l| l.remote_id).collect();
            let Some(gone) = i.deleted_notes(&item.remote_id, &comments).await? else {
                return Ok(()); // the integration cannot tell: webhooks only
            };
            for c in gone {
                if self.apply_note_deleted(&name, &c).await.map_err(local)? {
                    report.actions_applied += 1;
                }
            }
        }
        Ok(())
    }

    /// Lets the pull cursor count our own write of `item` as seen
    /// ([`Integration::cursor_after_write`]), so the next pull does not read it back. Only
    /// after the write is recorded: a crash before leaves the cursor, and the item is read
    /// back once (safe). A pull running meanwhile may set the cursor first; the later write
    /// wins, and what it lacks is read again (never skipped: both only add what was seen).
    async fn own_write(
        &self,
        i: &Arc<dyn Integration>,
        name: &str,
        item: &RemoteItem,
    ) -> Result<()> {
        let cursor = self.state.cursor(name, CursorKind::Pull).await?;
        if let Some(next) = i.cursor_after_write(cursor.as_deref(), item)
            && Some(&next) != cursor.as_ref()
        {
            self.state.set_cursor(name, CursorKind::Pull, &next).await?;
        }
        Ok(())
    }

    /// Notes the remote item in the entry's `externalReferences` (once).
    async fn record_reference(&self, name: &str, id: EntryId, item: &RemoteItem) -> Result<()> {
        let system = name.to_string();
        let remote_id = item.remote_id.clone();
        let url = item.url.clone();
        let now = self.clock.now();
        self.store
            .update(id, &Self::sync_meta(name), &mut |e: &mut Entry| {
                if !e
                    .external_references
                    .iter()
                    .any(|r| r.system == system && r.id == remote_id)
                {
                    e.external_references
                        .push(devlog_core::entry::ExternalReference {
                            system: system.clone(),
                            id: remote_id.clone(),
                            url: url.clone(),
                            title: None,
                            status: None,
                            last_sync: Some(now),
                            sprint: None,
                            board: None,
                            extra: Default::default(),
                        });
                }
                Ok(())
            })
            .await
            .map(|_| ())
    }

    /// Keeps the sprint a pulled item reports on its entry's external reference (only when
    /// it changed: no write on an idle pull), so `show` names it without asking the remote.
    async fn record_sprint(
        &self,
        name: &str,
        item: &RemoteItem,
        sprint: Option<&str>,
    ) -> Result<()> {
        self.update_reference(
            name,
            item,
            |r| r.sprint.as_deref() == sprint,
            |r| r.sprint = sprint.map(str::to_string),
        )
        .await
    }

    /// Keeps the board position a pulled item reports on its entry's external reference
    /// (only when it changed: no write on an idle pull), so `show` names it.
    async fn record_board(
        &self,
        name: &str,
        item: &RemoteItem,
        board: &devlog_core::entry::BoardPosition,
    ) -> Result<()> {
        self.update_reference(
            name,
            item,
            |r| r.board.as_ref() == Some(board),
            |r| r.board = Some(board.clone()),
        )
        .await
    }

    /// Changes the linked entry's external reference to `item` with `apply`, unless
    /// `unchanged` says it already holds the value (no write on an idle pull). Nothing when
    /// the item is not linked, the link is not settled or the entry is gone.
    async fn update_reference(
        &self,
        name: &str,
        item: &RemoteItem,
        unchanged: impl Fn(&devlog_core::entry::ExternalReference) -> bool + Send + Sync,
        apply: impl Fn(&mut devlog_core::entry::ExternalReference) + Send + Sync,
    ) -> Result<()> {
        let Some(link) = self.state.link_by_remote(name, &item.remote_id).await? else {
            return Ok(());
        };
        if link.state != LinkState::Linked {
            return Ok(());
        }
        let entry = match self.store.get(link.entry_id).await {
            Ok(e) => e,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let reference = entry
            .external_references
            .iter()
            .find(|r| r.system == name && r.id == item.remote_id);
        if reference.is_none_or(&unchanged) {
            return Ok(());
        }
        self.store
            .update(
                link.entry_id,
                &Self::sync_meta(name),
                &mut |e: &mut Entry| {
                    if let Some(r) = e
                        .external_references
                        .iter_mut()
                        .find(|r| r.system == name && r.id == item.remote_id)
                    {
                        apply(r);
                    }
                    Ok(())
                },
            )
            .await
            .map(|_| ())
    }

    /// Stage 3: pulls remote changes page by page and merges them.
    pub async fn pull(
        &self,
        i: &Arc<dyn Integration>,
        report: &mut SyncReport,
    ) -> Result<(), SyncError> {
        let name = i.descriptor().name;
        let pulled = self.pull_pages(i, report).await;
        self.set_unpulled(&name, !matches!(pulled, Ok(true)));
        self.record_quota(i, false).await;
        pulled.map(|_| ())
    }

    /// The pages after the cursor, applied; `false` if the integration is paused.
    async fn pull_pages(
        &self,
        i: &Arc<dyn Integration>,
        report: &mut SyncReport,
    ) -> Result<bool, SyncError> {
        let name = i.descriptor().name;
        let local = |e: StoreError| SyncError::new(&name, SyncErrorKind::Transient, e.to_string());
        if let Some((until, reason)) = self
            .state
            .paused_until(&name, now_ms(&*self.clock))
            .await
            .map_err(local)?
        {
            report
                .paused
                .push(format!("{name}: paused until {until} ({reason})"));
            return Ok(false);
        }
        let mut cursor = self
            .state
            .cursor(&name, CursorKind::Pull)
            .await
            .map_err(local)?;
        loop {
            let page = match i.pull(cursor.as_deref()).await {
                Ok(p) => p,
                Err(e) if e.kind == SyncErrorKind::RateLimited => {
                    let now = now_ms(&*self.clock);
                    self.state
                        .pause(
                            &name,
                            now + e.retry_after_ms.unwrap_or(60_000) as i64,
                            &e.message,
                        )
                        .await
                        .map_err(local)?;
                    return Err(e);
                }
                Err(e) => return Err(e),
            };
            report.pulled += page.items.len() as u64;
            self.apply_remote(&name, &page.items, report)
                .await
                .map_err(local)?;
            self.apply_actions(&name, &page.actions, report)
                .await
                .map_err(local)?;
            self.reconcile_deleted_comments(i, &page.items, report)
                .await?;
            self.reconcile_deleted_worklogs(i, &page.items, report)
                .await?;
            fail_point("pull.before-cursor");
            if let Some(next) = &page.next_cursor {
                self.state
                    .set_cursor(&name, CursorKind::Pull, next)
                    .await
                    .map_err(local)?;
            }
            cursor = page.next_cursor.clone();
            if !page.more {
                break;
            }
        }
        Ok(true)
    }

    /// How a remote item meets its entry: the lookup and three-way merge shared by the pull,
    /// webhooks and the plan's preview of a pull. Changes nothing.
    async fn merge_item(&self, name: &str, item: &RemoteItem) -> Result<ItemMerge> {
        let link = match self.state.link_by_remote(name, &item.remote_id).await? {
            Some(l) => Some(l),
            None => match item.marker {
                Some(m) => self.state.link(name, m).await?,
                None => None,
            },
        };
        // Unlinked on purpose: the remote item no longer changes the entry.
        if link
            .as_ref()
            .is_some_and(|l| l.state == LinkState::Unlinked)
        {
            return Ok(ItemMerge::Skip);
        }
        // What the remote holds, with the fields it keeps less precisely read as the base's
        // value when they still stand for it (`Integration::stands_for`): our own write of
        // `blocked` reading back from Jira as `in-progress` is no change, neither here nor for
        // the entry's other trackers.
        let mut remote = item.fields.clone();
        if let (Some(base), Ok(i)) = (
            link.as_ref().and_then(|l| l.base.as_ref()),
            self.integration(name),
        ) {
            for &f in SyncedField::ALL {
                if remote.differs(base, f) && i.stands_for(f, &item.fields, base) {
                    remote.copy_from(base, &FieldSet::from([f]));
                }
            }
        }
        // Our own write coming back (or an unchanged item): nothing to merge or record.
        if let Some(l) = &link
            && l.state == LinkState::Linked
            && l.remote_id.as_deref() == Some(item.remote_id.as_str())
            && l.base.as_ref() == Some(&remote)
        {
            return Ok(ItemMerge::Skip);
        }
        let adopting = link.as_ref().is_none_or(|l| l.state == LinkState::Creating);
        let (entry_id, base) = match link {
            Some(l) => (l.entry_id, l.base),
            None => match item.marker {
                // Created by us, but the create was never recorded (crash): adopt it.
                Some(m) if self.store.get(m).await.is_ok() => (m, None),
                _ => return Ok(ItemMerge::Ignored),
            },
        };
        let entry = match self.store.get(entry_id).await {
            Ok(e) => e,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(ItemMerge::Skip),
            Err(e) => return Err(e),
        };
        let local_fields = SyncedFields::from_entry(&entry);
        // An adopted item without a base: what we would have pushed is the base.
        let base = base.unwrap_or_else(|| {
            if item.marker == Some(entry_id) {
                local_fields.clone()
            } else {
                item.fields.clone()
            }
        });
        let merged = merge(
            Some(&base),
            &local_fields,
            &remote,
            Policy {
                strategy: self.opts.strategy,
                owners: &self.opts.owners,
                integration: name,
            },
            entry.updated_at,
            item.updated_at,
        );
        Ok(ItemMerge::Merge {
            entry: Box::new(entry),
            adopting,
            merged: Box::new(merged),
            remote: Box::new(remote),
        })
    }

    /// Merges remote items into their entries (shared by pull and webhooks). Items not
    /// linked to an entry (and not carrying a devlog marker) are ignored.
    pub async fn apply_remote(
        &self,
        name: &str,
        items: &[RemoteItem],
        report: &mut SyncReport,
    ) -> Result<()> {
        for item in items {
            if let Some(sprint) = &item.sprint {
                self.record_sprint(name, item, sprint.as_deref()).await?;
            }
            if let Some(board) = &item.board {
                self.record_board(name, item, board).await?;
            }
            let ItemMerge::Merge {
                entry,
                adopting,
                merged: m,
                remote,
            } = self.merge_item(name, item).await?
            else {
                continue;
            };
            let entry_id = entry.id;
            let now = self.clock.now();
            if m.to_local.contains(SyncedField::Milestone)
                && let Some(title) = &m.fields.milestone
            {
                self.adopt_milestone(name, entry.handle, item, title, report)
                    .await?;
            }
            if !m.to_local.is_empty() {
                let merged = m.fields.clone();
                self.store
                    .update(entry_id, &Self::sync_meta(name), &mut |e: &mut Entry| {
                        merged.apply_to(e, now);
                        e.updated_at = now;
                        Ok(())
                    })
                    .await?;
                report.applied += 1;
            }
            if !m.conflicts.is_empty() {
                self.state
                    .add_conflicts(name, entry_id, &m.conflicts, now.millis())
                    .await?;
                report.conflicts += m.conflicts.len() as u64;
                self.record_conflicts(name, entry_id, &item.remote_id, &m.conflicts)
                    .await?;
            }
            for settled in &m.auto_resolved {
                let s = SettledConflict {
                    integration: name.to_string(),
                    entry_id,
                    handle: entry.handle,
                    remote_id: item.remote_id.clone(),
                    settled: settled.clone(),
                };
                tracing::info!("{s}");
                report.notes.push(s.to_string());
                report.settled.push(s);
            }
            if adopting && item.marker == Some(entry_id) {
                // Our create that crashed before it was recorded: its audit record too (the
                // same effect id as the create's, so it is never recorded twice).
                self.append_effect(
                    name,
                    (entry_id, entry.handle),
                    RemoteEffect::ItemRecovered,
                    &item.remote_id,
                    None,
                    item.url.as_deref(),
                    format!("{name}/item/{entry_id}/{}", item.remote_id),
                )
                .await?;
            }
            // The remote now holds `remote`; pending local fields (to_remote) differ from it
            // and will be pushed by the entry's job.
            self.state
                .set_linked(
                    name,
                    entry_id,
                    &item.remote_id,
                    item.url.as_deref(),
                    &remote,
                    now.millis(),
                )
                .await?;
            if adopting {
                // Finish the create that crashed before it was recorded (e.g. a board card).
                if let Ok(i) = self.integration(name)
                    && let Err(e) = i.adopted(item, &item.fields).await
                {
                    report.failed.push(format!(
                        "{name} #{}: {e}",
                        handle_of(&*self.store, entry_id).await
                    ));
                }
            }
            if !m.to_remote.is_empty() {
                self.state.enqueue_one(name, entry_id, now.millis()).await?;
            }
        }
        Ok(())
    }

    /// A pull brought entry `handle` into milestone `title`: the local milestone of that name
    /// is created when missing (with the remote's description, due date and state), and the
    /// run says so. A name devlog cannot keep as a milestone is said too; the entry keeps it.
    async fn adopt_milestone(
        &self,
        name: &str,
        handle: u64,
        item: &RemoteItem,
        title: &str,
        report: &mut SyncReport,
    ) -> Result<()> {
        let remote = item
            .milestone
            .clone()
            .filter(|m| m.title == title)
            .unwrap_or_else(|| devlog_core::integration::RemoteMilestone {
                title: title.to_string(),
                description: String::new(),
                due_date: None,
                closed: false,
            });
        match devlog_core::Devlog::with_clock(self.store.clone(), self.clock.clone())
            .adopt_milestone(&remote)
            .await
        {
            Ok((m, true)) => report.notes.push(format!(
                "{name}: created milestone `{}` from {name} {} (#{handle} is in it)",
                m.name, item.remote_id
            )),
            Ok((_, false)) => {}
            Err(e) if e.kind() == ErrorKind::Unavailable => return Err(e),
            Err(e) => report.notes.push(format!(
                "{name}: #{handle} is in milestone `{title}` on {name}, which cannot be created                  here ({e}); the entry names it anyway"
            )),
        }
        Ok(())
    }

    /// Verifies and applies a webhook delivery; redeliveries are ignored.
    pub async fn webhook(&self, name: &str, hook: &Webhook) -> Result<SyncReport, SyncError> {
        let outcome = self.verify_webhook(name, hook).await?;
        self.apply_webhook(name, &outcome).await
    }

    /// The first half of [`webhook`](Self::webhook): the integration verifies the delivery
    /// (signature) and parses it; nothing is changed. A receiver answers bad deliveries with
    /// this before it acknowledges the rest.
    pub async fn verify_webhook(
        &self,
        name: &str,
        hook: &Webhook,
    ) -> Result<WebhookOutcome, SyncError> {
        let i = self
            .integration(name)
            .map_err(|e| SyncError::new(name, SyncErrorKind::Permanent, e.to_string()))?
            .clone();
        i.handle_webhook(hook).await
    }

    /// Stores a verified delivery durably before it is applied (see
    /// [`process_webhook`](Self::process_webhook)); a receiver acknowledges after this, so
    /// an accepted delivery survives a crash. Returns its id: the sender's, else a hash of
    /// the outcome (so the same payload is the same delivery).
    pub async fn accept_webhook(
        &self,
        name: &str,
        outcome: &WebhookOutcome,
    ) -> Result<String, SyncError> {
        use sha2::Digest as _;
        let stored = StoredOutcome {
            delivery_id: outcome.delivery_id.clone(),
            items: outcome.items.clone(),
            actions: outcome.actions.clone(),
            signals: outcome.signals.clone(),
        };
        let local = |e: String| SyncError::new(name, SyncErrorKind::Transient, e);
        let payload = serde_json::to_string(&stored).map_err(|e| local(e.to_string()))?;
        let id = match &outcome.delivery_id {
            Some(d) => d.clone(),
            None => {
                let digest = sha2::Sha256::digest(payload.as_bytes());
                let hex: String = digest.iter().take(12).map(|b| format!("{b:02x}")).collect();
                format!("sha256-{hex}")
            }
        };
        self.state
            .inbox_put(name, &id, &payload, now_ms(&*self.clock))
            .await
            .map_err(|e| local(e.to_string()))?;
        Ok(id)
    }

    /// Applies a delivery stored by [`accept_webhook`](Self::accept_webhook) and records the
    /// outcome (counts, or why it failed) for [`webhook_status`](Self::webhook_status).
    /// A delivery already done is not applied again: the answer is all zeros (this call
    /// changed nothing; [`webhook_status`](Self::webhook_status) keeps the first counts).
    pub async fn process_webhook(
        &self,
        name: &str,
        delivery: &str,
    ) -> Result<WebhookCounts, SyncError> {
        let local = |e: String| SyncError::new(name, SyncErrorKind::Transient, e);
        let Some(row) = self
            .state
            .inbox_get(name, delivery)
            .await
            .map_err(|e| local(e.to_string()))?
        else {
            return Err(SyncError::new(
                name,
                SyncErrorKind::NotFound,
                format!("no stored delivery `{delivery}`"),
            ));
        };
        if row.state == InboxState::Done {
            return Ok(WebhookCounts::default());
        }
        let stored: StoredOutcome = serde_json::from_str(&row.payload).map_err(|e| {
            SyncError::new(
                name,
                SyncErrorKind::Permanent,
                format!("stored delivery `{delivery}` cannot be read: {e}"),
            )
        })?;
        let outcome = WebhookOutcome {
            delivery_id: stored.delivery_id,
            items: stored.items,
            actions: stored.actions,
            signals: stored.signals,
        };
        let applied = self.apply_webhook(name, &outcome).await;
        let now = now_ms(&*self.clock);
        let recorded = match &applied {
            Ok(r) => {
                let counts = WebhookCounts {
                    received: (outcome.items.len() + outcome.actions.len()) as u64,
                    applied: r.applied,
                    actions_applied: r.actions_applied,
                    conflicts: r.conflicts,
                };
                let json = serde_json::to_string(&counts).unwrap_or_default();
                self.state
                    .inbox_finish(name, delivery, Ok(&json), now)
                    .await
                    .map(|()| counts)
            }
            Err(e) => self
                .state
                .inbox_finish(name, delivery, Err(&e.to_string()), now)
                .await
                .map(|()| WebhookCounts::default()),
        };
        let counts = recorded.map_err(|e| local(e.to_string()))?;
        applied.map(|_| counts)
    }

    /// Deliveries accepted but not finished (the server stopped or crashed while applying
    /// them), as (integration, delivery id), oldest first.
    pub async fn pending_webhooks(&self) -> Result<Vec<(String, String)>> {
        self.state.inbox_pending().await
    }

    /// A stored delivery and its outcome.
    pub async fn webhook_status(
        &self,
        name: &str,
        delivery: &str,
    ) -> Result<Option<crate::state::InboxDelivery>> {
        self.state.inbox_get(name, delivery).await
    }

    /// The second half of [`webhook`](Self::webhook): applies a verified delivery once.
    pub async fn apply_webhook(
        &self,
        name: &str,
        outcome: &WebhookOutcome,
    ) -> Result<SyncReport, SyncError> {
        let local = |e: StoreError| SyncError::new(name, SyncErrorKind::Transient, e.to_string());
        let mut report = SyncReport::default();
        // A redelivered event (same delivery id) is processed once. The delivery is recorded
        // after it was applied, so one that failed half-way can be redelivered; applying is
        // idempotent (merge against the base, note links, action keys).
        if let Some(d) = &outcome.delivery_id
            && self.state.delivery_seen(name, d).await.map_err(local)?
        {
            return Ok(report);
        }
        report.pulled = outcome.items.len() as u64;
        self.apply_remote(name, &outcome.items, &mut report)
            .await
            .map_err(local)?;
        self.apply_actions(name, &outcome.actions, &mut report)
            .await
            .map_err(local)?;
        // Before the delivery is marked seen: a crash in between has the redelivery record
        // them again under the same keys, which records nothing twice.
        self.record_signals(name, outcome.delivery_id.as_deref(), &outcome.signals)
            .await
            .map_err(local)?;
        if let Some(d) = &outcome.delivery_id {
            self.state
                .first_delivery(name, d, now_ms(&*self.clock))
                .await
                .map_err(local)?;
        }
        Ok(report)
    }

    /// Records an integration event for workflows (`on: webhook:` / `on: sync:`), once per
    /// key.
    async fn record_event(
        &self,
        name: &str,
        kind: IntegrationEventKind,
        key: String,
        entry_id: Option<EntryId>,
        data: Value,
    ) -> Result<bool> {
        let event = NewIntegrationEvent {
            integration: name.to_string(),
            kind,
            key,
            entry_id,
            data,
            at: now_ms(&*self.clock),
        };
        let recorded = self.state.record_event(&event).await?;
        if recorded {
            tracing::debug!(integration = name, kind = %kind, key = %event.key, "integration event");
        }
        Ok(recorded)
    }

    /// Records a webhook delivery's signals: key `<delivery>#<n>`, or a hash of the signal
    /// when the system sends no delivery id (the same payload is the same event).
    async fn record_signals(
        &self,
        name: &str,
        delivery: Option<&str>,
        signals: &[WebhookSignal],
    ) -> Result<()> {
        use sha2::Digest as _;
        for (n, signal) in signals.iter().enumerate() {
            let key = match delivery {
                Some(d) => format!("{d}#{n}"),
                None => {
                    let json = serde_json::to_string(signal).unwrap_or_default();
                    let digest = sha2::Sha256::digest(json.as_bytes());
                    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
                    format!("sha256-{hex}")
                }
            };
            let entry = match &signal.target {
                Some(t) => self.action_entry(name, t).await?,
                None => None,
            };
            let mut data = match &signal.data {
                Value::Object(m) => m.clone(),
                _ => serde_json::Map::new(),
            };
            if let Some(d) = delivery {
                data.insert("delivery".into(), Value::String(d.to_string()));
            }
            self.record_event(name, signal.kind, key, entry, Value::Object(data))
                .await?;
        }
        Ok(())
    }

    /// Records the conflicts a merge found on an entry as one event. The key is a hash of the
    /// fields and values: the same open conflict found again (the next pull) is not a new
    /// event.
    async fn record_conflicts(
        &self,
        name: &str,
        entry_id: EntryId,
        remote_id: &str,
        conflicts: &[FieldConflict],
    ) -> Result<()> {
        use sha2::Digest as _;
        let list: Vec<Value> = conflicts
            .iter()
            .map(|c| {
                serde_json::json!({
                    "field": c.field.as_str(), "base": c.base, "local": c.local, "remote": c.remote,
                })
            })
            .collect();
        let fields: Vec<&str> = conflicts.iter().map(|c| c.field.as_str()).collect();
        let digest =
            sha2::Sha256::digest(serde_json::to_string(&list).unwrap_or_default().as_bytes());
        let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
        let data = serde_json::json!({
            "remoteId": remote_id, "fields": fields, "conflicts": list,
        });
        self.record_event(
            name,
            IntegrationEventKind::Conflict,
            format!("conflict:{entry_id}:{hex}"),
            Some(entry_id),
            data,
        )
        .await?;
        Ok(())
    }

    /// Links an entry to an existing remote item (`devlog github link`). Fields the entry
    /// leaves empty (description, assignee) are taken from the item and tags are merged; the
    /// entry's other fields win and are pushed by the next sync. An item linked to another
    /// entry is refused.
    pub async fn link(
        &self,
        name: &str,
        id: EntryId,
        item: &RemoteItem,
    ) -> Result<Entry, EngineError> {
        self.integration(name)?;
        if let Some(l) = self.state.link(name, id).await?
            && l.state == LinkState::Linked
            && l.remote_id.as_deref() != Some(item.remote_id.as_str())
        {
            return Err(EngineError::Store(StoreError::invalid(
                "link",
                format!(
                    "entry {} is already linked to {name} item {}; unlink it first",
                    handle_of(&*self.store, id).await,
                    l.remote_id.unwrap_or_default()
                ),
            )));
        }
        if let Some(l) = self.state.link_by_remote(name, &item.remote_id).await?
            && l.entry_id != id
            && l.state == LinkState::Linked
        {
            return Err(EngineError::Store(StoreError::invalid(
                "link",
                format!(
                    "{name} item {} is already linked to entry {}; unlink it first",
                    item.remote_id,
                    handle_of(&*self.store, l.entry_id).await
                ),
            )));
        }
        let remote = item.fields.clone();
        let now = self.clock.now();
        let entry = self
            .store
            .update(id, &Self::sync_meta(name), &mut |e: &mut Entry| {
                if e.description.is_empty() {
                    e.description = remote.description.clone();
                }
                if e.assignee.is_none() {
                    e.assignee = remote.assignee.clone();
                }
                for t in &remote.tags {
                    if !e.tags.contains(t) {
                        e.tags.push(t.clone());
                    }
                }
                e.updated_at = now;
                Ok(())
            })
            .await?;
        self.state
            .set_linked(
                name,
                id,
                &item.remote_id,
                item.url.as_deref(),
                &item.fields,
                now.millis(),
            )
            .await?;
        self.record_reference(name, id, item).await?;
        self.state.enqueue_one(name, id, now.millis()).await?;
        Ok(entry)
    }

    /// Unlinks an entry from its remote item; returns the item's id, if it was linked. The
    /// entry's reference to it is removed; later syncs neither create a new item for the entry
    /// nor apply the old item's changes.
    pub async fn unlink(&self, name: &str, id: EntryId) -> Result<Option<String>, EngineError> {
        let Some(link) = self.state.link(name, id).await? else {
            return Ok(None);
        };
        let now = self.clock.now();
        self.state.unlink(name, id, now.millis()).await?;
        let remote_id = link.remote_id.clone();
        if let Some(r) = &remote_id {
            let system = name.to_string();
            self.store
                .update(id, &Self::sync_meta(name), &mut |e: &mut Entry| {
                    e.external_references
                        .retain(|x| !(x.system == system && &x.id == r));
                    Ok(())
                })
                .await?;
        }
        Ok(remote_id)
    }

    /// Resolves a conflict by taking the local or the remote value.
    pub async fn resolve(&self, conflict_id: i64, take_remote: bool) -> Result<(), EngineError> {
        let c = self
            .state
            .open_conflicts()
            .await?
            .into_iter()
            .find(|c| c.id == conflict_id)
            .ok_or_else(|| StoreError::not_found(format!("conflict {conflict_id}")))?;
        let now = self.clock.now();
        if take_remote {
            let field = c.field.field;
            let value = c.field.remote.clone();
            self.store
                .update(
                    c.entry_id,
                    &Self::sync_meta(&c.integration),
                    &mut |e: &mut Entry| {
                        let mut fields = SyncedFields::from_entry(e);
                        fields.set_value(field, &value)?;
                        fields.apply_to(e, now);
                        e.updated_at = now;
                        Ok(())
                    },
                )
                .await?;
        }
        self.state
            .resolve_conflict(
                conflict_id,
                if take_remote { "remote" } else { "local" },
                now.millis(),
            )
            .await?;
        // Taking local means pushing it; taking remote leaves nothing to push.
        self.state
            .enqueue_one(&c.integration, c.entry_id, now.millis())
            .await?;
        Ok(())
    }
}

async fn handle_of(store: &dyn Store, id: EntryId) -> String {
    match store.get(id).await {
        Ok(e) => e.handle.to_string(),
        Err(_) => id.short(),
    }
}

/// A stable hash of a note's text (what both sides last agreed on).
pub fn text_hash(text: &str) -> String {
    use sha2::Digest;
    let d = sha2::Sha256::digest(text.replace("\r\n", "\n").trim().as_bytes());
    d.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// A stable hash of what a worklog and its remote mirror agree on: the day, the minutes and
/// the note (not the author: a remote system logs under its own account).
pub fn worklog_hash(date: chrono::NaiveDate, minutes: u32, note: &str) -> String {
    text_hash(&format!(
        "{date}\n{minutes}\n{}",
        note.replace("\r\n", "\n").trim()
    ))
}

/// Whether a worklog was pulled from a remote system (logged there by someone else): it
/// carries the `source` the pull gave it, and is never pushed.
pub fn is_pulled(w: &Worklog) -> bool {
    w.extra.contains_key("source")
}

/// A note id derived from an action key (`pr:12:merged` → `pr-12-merged`).
fn action_note_id(key: &str) -> String {
    key.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}
