//! The sync engine's durable state as a port: the typed vocabulary (link, job, note-link,
//! worklog-link and inbox states, cursor kinds), the records, and [`SyncStateStore`], which devlog-store
//! implements on SQLite (one machine) and on PostgreSQL / MySQL (shared by every machine on the
//! store). No I/O here.
//!
//! Times are milliseconds since the Unix epoch, passed in by the caller (`now`), except job
//! leases on the server stores: there the lease expiry is computed from the database's clock,
//! so machines whose clocks disagree still agree on whether a lease has run out.

use std::fmt;
use std::str::FromStr;

use async_trait::async_trait;
use serde::Serialize;

use crate::error::{Result, StoreError};
use crate::id::EntryId;
use crate::merge::{FieldConflict, SyncedFields};

/// How long finished webhook deliveries stay in the inbox (for their status): 7 days.
pub const INBOX_KEEP_MS: i64 = 7 * 24 * 60 * 60 * 1000;

/// How long integration events are kept once the workflow engine's follower has read them:
/// 30 days ([`SyncStateStore::prune_integration_events`]).
pub const EVENT_KEEP_MS: i64 = 30 * 24 * 60 * 60 * 1000;

/// The error for a stored state value this devlog does not know (a newer devlog wrote it, or the
/// row was edited by hand).
pub fn unknown_value(what: &str, value: &str, allowed: &[&str]) -> StoreError {
    StoreError::Corrupt {
        path: "sync state".into(),
        message: format!("unknown {what} `{value}` (known: {})", allowed.join(", ")),
        hint: "the sync state was written by a newer devlog or edited by hand; upgrade devlog \
               or remove the row"
            .into(),
    }
}

/// A closed set of states stored as text: `as_str` is the stored (and `--json`) form, and
/// parsing an unknown value is a `Corrupt` error, never a panic.
macro_rules! stored_enum {
    ($(#[$m:meta])* $name:ident, $what:literal { $($(#[$vm:meta])* $v:ident => $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
        pub enum $name {
            $($(#[$vm])* #[serde(rename = $s)] $v),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$v),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$v => $s),+
                }
            }
        }

        impl FromStr for $name {
            type Err = StoreError;

            fn from_str(s: &str) -> Result<Self> {
                match s {
                    $($s => Ok($name::$v),)+
                    other => Err(unknown_value($what, other, &[$($s),+])),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

stored_enum!(
    /// Where the link between an entry and its remote item stands.
    LinkState, "link state" {
        /// A create was announced and may or may not have reached the remote: a retry looks
        /// for the remote item by its marker before creating.
        Creating => "creating",
        Linked => "linked",
        /// Unlinked by the user: no new item is created for the entry and the remote item no
        /// longer changes it.
        Unlinked => "unlinked",
    }
);

stored_enum!(
    /// Where a note mirrored as a remote comment stands.
    NoteLinkState, "note link state" {
        /// A comment create was announced and may have reached the remote.
        Creating => "creating",
        Linked => "linked",
        /// The note or its comment was deleted (on either side); the comment's id is kept so
        /// that the comment's later changes are not taken for a new note.
        Deleted => "deleted",
    }
);

stored_enum!(
    /// Where a worklog mirrored as a remote worklog stands.
    WorklogLinkState, "worklog link state" {
        /// A remote worklog create was announced and may have reached the remote.
        Creating => "creating",
        /// Logged here and pushed: edits and deletions here are pushed.
        Linked => "linked",
        /// Logged on the remote by someone else and pulled: followed, never pushed.
        Pulled => "pulled",
        /// The worklog or its remote mirror was deleted (on either side); the remote id is
        /// kept so that the remote worklog's later changes are not taken for a new one.
        Deleted => "deleted",
    }
);

stored_enum!(
    /// A queued push's state.
    JobState, "job state" {
        Pending => "pending",
        /// Claimed by a worker under a lease.
        Running => "running",
        Done => "done",
        /// Failed permanently or too often: waits for `devlog sync retry`.
        Dead => "dead",
    }
);

stored_enum!(
    /// A webhook delivery's state in the inbox.
    InboxState, "webhook delivery state" {
        /// Verified and stored, not applied yet (or interrupted).
        Pending => "pending",
        Done => "done",
        Failed => "failed",
    }
);

stored_enum!(
    /// Which cursor of an integration.
    CursorKind, "cursor kind" {
        /// The change-feed `seq` consumed into jobs.
        Feed => "feed",
        /// The identity of the feed the `feed` cursor was read from (`Store::feed_id`).
        FeedId => "feed-id",
        /// The integration's own pull cursor (opaque; GitHub keeps its board cursor inside).
        Pull => "pull",
        /// The API quota the integration's HTTP client last saw, as JSON
        /// ([`Quota`](crate::reports::Quota)): written by the process that syncs, read by
        /// `devlog report sync-health` in any other.
        Quota => "quota",
        /// Where polling the integration's deployments stands (opaque; Azure DevOps' release
        /// deployments when no service hook reports them).
        Deployments => "deployments",
    }
);

/// A link between an entry and its remote item in one integration.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Link {
    pub integration: String,
    pub entry_id: EntryId,
    pub remote_id: Option<String>,
    pub url: Option<String>,
    pub base: Option<SyncedFields>,
    pub state: LinkState,
    pub last_synced_at: Option<i64>,
}

/// A note mirrored as a remote comment.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NoteLink {
    pub entry_id: EntryId,
    pub note_id: String,
    pub remote_id: Option<String>,
    pub state: NoteLinkState,
    /// Hash of the text both sides last agreed on.
    pub hash: Option<String>,
}

/// A worklog mirrored as a remote worklog (pushed from here, or pulled from there).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorklogLink {
    pub entry_id: EntryId,
    pub worklog_id: String,
    pub remote_id: Option<String>,
    pub state: WorklogLinkState,
    /// Hash of the day, minutes and note both sides last agreed on.
    pub hash: Option<String>,
}

/// A queued push of one entry to one integration.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    pub id: i64,
    pub integration: String,
    pub entry_id: EntryId,
    pub state: JobState,
    pub attempts: i64,
    pub next_at: i64,
    pub last_error: Option<String>,
    pub updated_at: i64,
}

/// A recorded conflict.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Conflict {
    pub id: i64,
    pub integration: String,
    pub entry_id: EntryId,
    #[serde(flatten)]
    pub field: FieldConflict,
    pub created_at: i64,
}

stored_enum!(
    /// What an integration event says happened. Webhook kinds are recorded once per applied
    /// delivery (an integration's parser names them: [`crate::integration::WebhookSignal`]),
    /// `conflict` when a pull or webhook recorded conflicts, `job_dead` when a push job was
    /// dead-lettered. The stored (and workflow) name is the string.
    IntegrationEventKind, "integration event kind" {
        /// GitHub: a pull request was opened (or reopened).
        PullRequestOpened => "pull_request.opened",
        /// GitHub: a pull request was merged.
        PullRequestMerged => "pull_request.merged",
        /// GitHub: a pull request was closed without merging.
        PullRequestClosed => "pull_request.closed",
        /// Jira: an issue moved from one status to another.
        IssueTransitioned => "issue.transitioned",
        /// Jira: a comment was added to an issue.
        IssueCommented => "issue.commented",
        /// Azure DevOps: a release deployment completed (any outcome; see `status`).
        DeploymentCompleted => "deployment.completed",
        /// Azure DevOps: a work item was updated.
        WorkItemUpdated => "workitem.updated",
        /// A pull or webhook recorded conflicts on an entry.
        Conflict => "conflict",
        /// A push job failed its last attempt and was dead-lettered.
        JobDead => "job_dead",
    }
);

impl<'de> serde::Deserialize<'de> for IntegrationEventKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl IntegrationEventKind {
    /// Whether a webhook delivery signals it (else the sync engine itself records it).
    pub fn is_webhook(self) -> bool {
        !matches!(self, Self::Conflict | Self::JobDead)
    }
}

/// An integration event as it is recorded, before it has its id.
#[derive(Debug, Clone, PartialEq)]
pub struct NewIntegrationEvent {
    pub integration: String,
    pub kind: IntegrationEventKind,
    /// Unique per integration: the same key is recorded once (a redelivery, a retried step
    /// after a crash). `<delivery>#<n>` for webhooks, `conflict:<entry>:<at>`, `job:<id>:<attempt>`.
    pub key: String,
    /// The entry it concerns, when devlog knows one.
    pub entry_id: Option<EntryId>,
    /// The event's fields for workflows (a JSON object, camelCase keys).
    pub data: serde_json::Value,
    pub at: i64,
}

/// A recorded integration event: [`NewIntegrationEvent`] with its id, which increases in the
/// order events were recorded (one sequence per sync-state store, shared by every machine on
/// a server store).
#[derive(Debug, Clone, PartialEq)]
pub struct IntegrationEvent {
    pub id: i64,
    pub event: NewIntegrationEvent,
}

/// Longest stored key of an integration event (longer keys are hashed by the recorder).
pub const EVENT_KEY_MAX: usize = 200;

stored_enum!(
    /// How a workflow run stands (the run records of devlog-workflow use this one type).
    WorkflowRunState, "workflow run state" {
        /// Started, not finished (a run found so after its worker died is resumed).
        Running => "running",
        /// Parked at a `wait` step until its `wake_at` (no process sleeps for it).
        Waiting => "waiting",
        /// Parked after a failed attempt of a step with retries left, until its `wake_at`.
        Retrying => "retrying",
        Succeeded => "succeeded",
        Failed => "failed",
        /// A step failed on its last attempt (the dead letter): kept until someone re-runs it.
        Dead => "dead",
    }
);

impl<'de> serde::Deserialize<'de> for WorkflowRunState {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl WorkflowRunState {
    /// Whether the run is parked until its `wake_at` (waiting or retrying).
    pub fn is_parked(self) -> bool {
        matches!(self, Self::Waiting | Self::Retrying)
    }

    /// Whether the run has not ended: running, or parked to go on later.
    pub fn is_open(self) -> bool {
        matches!(self, Self::Running | Self::Waiting | Self::Retrying)
    }

    /// Whether the run ended without succeeding (failed or dead).
    pub fn is_failure(self) -> bool {
        matches!(self, Self::Failed | Self::Dead)
    }
}

/// A workflow run as the sync state keeps it: the full record (devlog-workflow's `RunRecord`
/// as JSON) and the columns queries need.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkflowRun {
    /// The run's id (hex digits).
    pub id: String,
    pub workflow: String,
    pub state: WorkflowRunState,
    pub entry: Option<EntryId>,
    /// When a parked run goes on (ms).
    pub wake_at: Option<i64>,
    pub started_at: i64,
    /// When the run ended, else when it started (ms): the order and age of pruning.
    pub updated_at: i64,
    pub record: serde_json::Value,
}

/// What [`SyncStateStore::prune_workflow_runs`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct WorkflowPruned {
    pub runs: u64,
    pub claims: u64,
}

/// How many workflow runs of the sync state are in each state (for `devlog sync status`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct WorkflowRunCounts {
    pub running: u64,
    /// Waiting or retrying, until their `wake_at`.
    pub parked: u64,
    pub succeeded: u64,
    pub failed: u64,
    /// Failed on a step's last attempt: kept until someone re-runs them.
    pub dead: u64,
}

impl WorkflowRunCounts {
    /// Adds `n` runs in `state`.
    pub fn add(&mut self, state: WorkflowRunState, n: u64) {
        let slot = match state {
            WorkflowRunState::Running => &mut self.running,
            WorkflowRunState::Waiting | WorkflowRunState::Retrying => &mut self.parked,
            WorkflowRunState::Succeeded => &mut self.succeeded,
            WorkflowRunState::Failed => &mut self.failed,
            WorkflowRunState::Dead => &mut self.dead,
        };
        *slot += n;
    }
}

/// A webhook delivery in the inbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxDelivery {
    pub integration: String,
    pub delivery_id: String,
    pub received_at: i64,
    pub state: InboxState,
    /// The verified outcome as JSON while pending (or failed); empty once done.
    pub payload: String,
    /// The counts as JSON, once done.
    pub result: Option<String>,
    /// Why it failed.
    pub error: Option<String>,
}

/// A remembered GET response behind a conditional-request validator: what serves a 304 as the
/// 200 it stands for. Persisted so the next process asks with `If-None-Match` too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpCacheEntry {
    /// The `ETag` as the server sent it.
    pub etag: String,
    pub body: Vec<u8>,
    /// The response headers kept with the body (`link`, `content-type`, ...).
    pub headers: Vec<(String, String)>,
}

impl HttpCacheEntry {
    /// What the entry counts against the byte bound.
    pub fn size(&self) -> usize {
        self.body.len()
            + self.etag.len()
            + self
                .headers
                .iter()
                .map(|(k, v)| k.len() + v.len())
                .sum::<usize>()
    }

    /// Whether a cache bounded to `max_rows` rows and `max_bytes` bytes keeps this entry at all.
    pub fn fits(&self, max_rows: usize, max_bytes: usize) -> bool {
        max_rows > 0 && self.size() <= max_bytes
    }

    /// The headers as stored (a JSON list of pairs).
    pub fn headers_json(&self) -> String {
        serde_json::to_string(&self.headers).unwrap_or_else(|_| "[]".into())
    }

    /// An entry read back from a store: `headers` as [`headers_json`](Self::headers_json)
    /// wrote them (a row that does not parse serves no headers).
    pub fn from_stored(etag: String, body: Vec<u8>, headers: &str) -> Self {
        Self {
            etag,
            body,
            headers: serde_json::from_str(headers).unwrap_or_default(),
        }
    }
}

/// A secondary remote object attached to an entry: `(kind, remote_id, url)`.
pub type Attachment = (String, String, Option<String>);

/// The sync engine's durable bookkeeping: cursors, links and bases, the job queue under
/// leases, conflicts, webhook deliveries and inbox, pauses, note links, applied remote
/// actions, attachments and the HTTP validator cache.
///
/// Every implementation passes `devlog_testkit::sync_state_conformance!`. Writes that belong
/// together (jobs and the feed cursor; an unlink and what hangs off the link) are atomic.
#[async_trait]
pub trait SyncStateStore: Send + Sync + fmt::Debug {
    /// Where the state lives, for messages (`sqlite <path>`, `postgres <redacted url>`).
    fn describe(&self) -> String;

    async fn cursor(&self, integration: &str, kind: CursorKind) -> Result<Option<String>>;

    async fn set_cursor(&self, integration: &str, kind: CursorKind, value: &str) -> Result<()>;

    /// Queues pushes for `entries` and moves the feed cursor to `seq` of the feed identified
    /// by `feed_id` (recorded as the `feed-id` cursor when given), in one transaction: a crash
    /// leaves either all or none. Returns how many jobs were added (an entry with a pending
    /// or running job gets no second one).
    async fn enqueue(
        &self,
        integration: &str,
        entries: &[EntryId],
        seq: u64,
        feed_id: Option<&str>,
        now: i64,
    ) -> Result<u64>;

    /// Queues a push of one entry (no-op if one is already pending or running).
    async fn enqueue_one(&self, integration: &str, entry: EntryId, now: i64) -> Result<()>;

    /// Claims the next due job of `integration` for `owner` under a lease of `lease_ms`. A
    /// running job is taken over only once its lease has expired (its worker died or stalled
    /// without renewing it); no process ids, no hosts. Two claimers never get the same job.
    async fn claim(
        &self,
        integration: &str,
        owner: &str,
        now: i64,
        lease_ms: i64,
    ) -> Result<Option<Job>> {
        self.claim_for(integration, None, owner, now, lease_ms)
            .await
    }

    /// Like [`claim`](Self::claim), limited to one entry's job when `entry` is given.
    async fn claim_for(
        &self,
        integration: &str,
        entry: Option<EntryId>,
        owner: &str,
        now: i64,
        lease_ms: i64,
    ) -> Result<Option<Job>>;

    async fn job(&self, id: i64) -> Result<Option<Job>>;

    /// Extends `owner`'s lease of a running job by `lease_ms`; `false` if the job is no longer
    /// its own (finished elsewhere, or taken over after the lease expired).
    async fn renew_lease(&self, id: i64, owner: &str, now: i64, lease_ms: i64) -> Result<bool>;

    /// Marks `owner`'s job done (a no-op if another worker took it over meanwhile).
    async fn finish_job(&self, id: i64, owner: &str, now: i64) -> Result<()>;

    /// Records a failed attempt of `owner`'s job: retried at `next_at`, or dead-lettered when
    /// `dead` (a no-op if another worker took it over meanwhile).
    async fn fail_job(
        &self,
        id: i64,
        owner: &str,
        error: &str,
        next_at: i64,
        dead: bool,
        now: i64,
    ) -> Result<()>;

    /// Puts `owner`'s job back without counting an attempt.
    async fn defer_job(&self, id: i64, owner: &str, next_at: i64, now: i64) -> Result<()>;

    /// Makes dead (or one pending) jobs pending and due now; `None` means every dead job.
    async fn retry(&self, id: Option<i64>, now: i64) -> Result<u64>;

    /// Jobs that are not done, oldest first.
    async fn open_jobs(&self) -> Result<Vec<Job>>;

    async fn link(&self, integration: &str, entry: EntryId) -> Result<Option<Link>>;

    async fn link_by_remote(&self, integration: &str, remote_id: &str) -> Result<Option<Link>>;

    /// Every link, by integration and entry.
    async fn links(&self) -> Result<Vec<Link>>;

    /// Durably records that a create is about to be sent (before the request leaves).
    async fn mark_creating(&self, integration: &str, entry: EntryId, now: i64) -> Result<()>;

    /// Records the remote item an entry is linked to and the base both sides now agree on.
    async fn set_linked(
        &self,
        integration: &str,
        entry: EntryId,
        remote_id: &str,
        url: Option<&str>,
        base: &SyncedFields,
        now: i64,
    ) -> Result<()>;

    /// Unlinks an entry from its remote item: the link becomes `unlinked`, and its note links,
    /// attachments and open jobs go. `false` if it was not linked.
    async fn unlink(&self, integration: &str, entry: EntryId, now: i64) -> Result<bool>;

    /// Records conflicts (one open conflict per field; a newer one replaces its values).
    async fn add_conflicts(
        &self,
        integration: &str,
        entry: EntryId,
        conflicts: &[FieldConflict],
        now: i64,
    ) -> Result<()>;

    async fn open_conflicts(&self) -> Result<Vec<Conflict>>;

    /// Resolves an open conflict; `false` if there is no open conflict with that id.
    async fn resolve_conflict(&self, id: i64, resolution: &str, now: i64) -> Result<bool>;

    /// Fields of an entry held back by open conflicts.
    async fn held_fields(&self, integration: &str, entry: EntryId) -> Result<Vec<String>>;

    /// Records a webhook delivery; false if it was seen before (a redelivery, to this or any
    /// other server sharing the state).
    async fn first_delivery(&self, integration: &str, delivery: &str, now: i64) -> Result<bool>;

    /// Whether a webhook delivery was already processed.
    async fn delivery_seen(&self, integration: &str, delivery: &str) -> Result<bool>;

    /// Stores a verified webhook delivery before it is applied (the inbox), and forgets
    /// finished deliveries older than [`INBOX_KEEP_MS`]. A delivery already stored is kept as
    /// it is, except that a failed one becomes pending again with the new payload (the
    /// sender's redelivery retries it).
    async fn inbox_put(
        &self,
        integration: &str,
        delivery: &str,
        payload: &str,
        now: i64,
    ) -> Result<()>;

    async fn inbox_get(&self, integration: &str, delivery: &str) -> Result<Option<InboxDelivery>>;

    /// Marks a delivery `done` (with its counts as JSON) or `failed` (with why), and drops
    /// its payload when done.
    async fn inbox_finish(
        &self,
        integration: &str,
        delivery: &str,
        outcome: std::result::Result<&str, &str>,
        now: i64,
    ) -> Result<()>;

    /// Deliveries stored but not finished (a crash, a stop), oldest first:
    /// `(integration, delivery_id)`.
    async fn inbox_pending(&self) -> Result<Vec<(String, String)>>;

    /// The note links of an entry with one integration.
    async fn note_links(&self, integration: &str, entry: EntryId) -> Result<Vec<NoteLink>>;

    /// The note link of a remote comment.
    async fn note_link_by_remote(
        &self,
        integration: &str,
        remote_id: &str,
    ) -> Result<Option<NoteLink>>;

    /// Durably records that a note's comment is about to be created.
    async fn mark_note_creating(
        &self,
        integration: &str,
        entry: EntryId,
        note_id: &str,
        now: i64,
    ) -> Result<()>;

    /// Records the comment a note is mirrored by and the text both sides agree on.
    async fn set_note_linked(
        &self,
        integration: &str,
        entry: EntryId,
        note_id: &str,
        remote_id: &str,
        hash: &str,
        now: i64,
    ) -> Result<()>;

    /// Records that a note's mirror was deleted (the note here, or the comment there); a no-op
    /// when the note has no link.
    async fn set_note_deleted(
        &self,
        integration: &str,
        entry: EntryId,
        note_id: &str,
        now: i64,
    ) -> Result<()>;

    /// The worklog links of an entry with one integration.
    async fn worklog_links(&self, integration: &str, entry: EntryId) -> Result<Vec<WorklogLink>>;

    /// The worklog link of a remote worklog.
    async fn worklog_link_by_remote(
        &self,
        integration: &str,
        remote_id: &str,
    ) -> Result<Option<WorklogLink>>;

    /// Durably records that a worklog's remote create is about to be sent.
    async fn mark_worklog_creating(
        &self,
        integration: &str,
        entry: EntryId,
        worklog_id: &str,
        now: i64,
    ) -> Result<()>;

    /// Records the remote worklog a worklog is mirrored by, in `state` (`linked`: pushed from
    /// here; `pulled`: logged there), and the hash both sides agree on.
    #[allow(clippy::too_many_arguments)]
    async fn set_worklog_linked(
        &self,
        integration: &str,
        entry: EntryId,
        worklog_id: &str,
        remote_id: &str,
        state: WorklogLinkState,
        hash: &str,
        now: i64,
    ) -> Result<()>;

    /// Records that a worklog's mirror was deleted (here or there); a no-op without a link.
    async fn set_worklog_deleted(
        &self,
        integration: &str,
        entry: EntryId,
        worklog_id: &str,
        now: i64,
    ) -> Result<()>;

    /// Whether a remote action was already applied.
    async fn action_applied(&self, integration: &str, key: &str) -> Result<bool>;

    /// Records a remote action as applied (a no-op when it already is).
    async fn record_action(
        &self,
        integration: &str,
        key: &str,
        entry: EntryId,
        now: i64,
    ) -> Result<()>;

    /// Attaches a secondary remote object (a pull request) to an entry; re-attaching moves it.
    async fn attach(
        &self,
        integration: &str,
        kind: &str,
        remote_id: &str,
        entry: EntryId,
        url: Option<&str>,
        now: i64,
    ) -> Result<()>;

    async fn detach(&self, integration: &str, kind: &str, remote_id: &str) -> Result<bool>;

    /// The entry a secondary remote object is attached to.
    async fn attached_entry(
        &self,
        integration: &str,
        kind: &str,
        remote_id: &str,
    ) -> Result<Option<EntryId>>;

    /// Everything attached to an entry, oldest first.
    async fn attachments(&self, integration: &str, entry: EntryId) -> Result<Vec<Attachment>>;

    /// Every object of one kind attached to any entry, `(remote_id, entry, url)`, oldest
    /// first (an integration following them: Azure DevOps' unfinished pipeline runs).
    async fn attached_of_kind(
        &self,
        integration: &str,
        kind: &str,
    ) -> Result<Vec<(String, EntryId, Option<String>)>>;

    async fn pause(&self, integration: &str, until: i64, reason: &str) -> Result<()>;

    /// Until when (ms) an integration is paused, and why, if it still is at `now`.
    async fn paused_until(&self, integration: &str, now: i64) -> Result<Option<(i64, String)>>;

    /// A remembered response for `url` as `identity` (see [`HttpCacheEntry`]), marked as just
    /// used so it is the last to be evicted.
    async fn http_cache_get(&self, identity: &str, url: &str) -> Result<Option<HttpCacheEntry>>;

    /// Remembers a response, then evicts the least recently used rows beyond `max_rows` or
    /// `max_bytes` (an entry larger than `max_bytes` on its own is not kept).
    async fn http_cache_put(
        &self,
        identity: &str,
        url: &str,
        entry: &HttpCacheEntry,
        max_rows: usize,
        max_bytes: usize,
    ) -> Result<()>;

    async fn http_cache_remove(&self, identity: &str, url: &str) -> Result<()>;

    /// How many responses are remembered, and their total size (for status and tests).
    async fn http_cache_size(&self) -> Result<(u64, u64)>;

    /// Appends an integration event unless one with the same integration and key is
    /// recorded; `true` if this call recorded it.
    async fn record_event(&self, event: &NewIntegrationEvent) -> Result<bool>;

    /// Up to `limit` events with an id above `after`, in id order. A follower that keeps the
    /// last id it read as its cursor sees every event exactly once: ids become visible in
    /// order (no event ever commits below an id a reader has already seen), on every backend
    /// and with writers on many machines.
    async fn events_after(&self, after: i64, limit: usize) -> Result<Vec<IntegrationEvent>>;

    /// The id of the newest event (0 when there is none).
    async fn last_event_id(&self) -> Result<i64>;

    /// Removes the events recorded before `before` (ms) whose id is at most `through` (the
    /// lowest cursor of the followers: all of them have read those). The newest event is
    /// always kept, so [`last_event_id`](Self::last_event_id) never goes back and no id is
    /// handed out twice. Returns how many were removed.
    async fn prune_integration_events(&self, through: i64, before: i64) -> Result<u64>;

    /// Claims the run of `workflow` for one write, schedule slot or integration event
    /// (`key`): `true` for the first caller only, on any machine sharing the state.
    async fn workflow_claim(&self, workflow: &str, key: &str, now: i64) -> Result<bool>;

    /// A workflow-engine cursor (`feed`, `integration`, `schedule:<name>`).
    async fn workflow_cursor(&self, name: &str) -> Result<Option<String>>;

    async fn set_workflow_cursor(&self, name: &str, value: &str) -> Result<()>;

    /// Inserts a new run already leased to `owner` (so no other worker sees it free before
    /// its first step); `false` if a run with its id exists.
    async fn start_workflow_run(
        &self,
        run: &WorkflowRun,
        owner: &str,
        now: i64,
        lease_ms: i64,
    ) -> Result<bool>;

    /// Writes a run's record and columns (inserting it if new); its lease is left as it is.
    async fn save_workflow_run(&self, run: &WorkflowRun) -> Result<()>;

    async fn workflow_run(&self, id: &str) -> Result<Option<WorkflowRun>>;

    /// Runs newest first (by start), of one workflow and in one state when given; at most
    /// `limit` (0: all).
    async fn workflow_runs(
        &self,
        workflow: Option<&str>,
        state: Option<WorkflowRunState>,
        limit: usize,
    ) -> Result<Vec<WorkflowRun>>;

    /// Runs to go on as of `now`, oldest first: running ones (their worker may have died:
    /// the lease decides) and parked ones whose `wake_at` has come.
    async fn due_workflow_runs(&self, now: i64) -> Result<Vec<WorkflowRun>>;

    /// Leases a run to `owner` for `lease_ms`: `true` when it was free, its lease expired
    /// (on the database clock for server stores), or its holder is a process of this host
    /// that is gone (owners are `<host>:<pid>:<random>`: a kill on this machine is resumed at
    /// once). `false` while another live holder has it, or when there is no such run.
    async fn lease_workflow_run(
        &self,
        id: &str,
        owner: &str,
        now: i64,
        lease_ms: i64,
    ) -> Result<bool>;

    /// Extends `owner`'s lease of a run; `false` if it is no longer its own.
    async fn renew_workflow_run_lease(
        &self,
        id: &str,
        owner: &str,
        now: i64,
        lease_ms: i64,
    ) -> Result<bool>;

    /// Gives up `owner`'s lease of a run (a no-op if it is not its own).
    async fn release_workflow_run(&self, id: &str, owner: &str) -> Result<()>;

    /// Removes finished runs (succeeded, failed, dead) beyond the newest `keep_runs` (by
    /// `updated_at`) or with `updated_at` before `finished_before`, and claims created before
    /// `claims_before`. Open runs are always kept.
    async fn prune_workflow_runs(
        &self,
        keep_runs: usize,
        finished_before: i64,
        claims_before: i64,
    ) -> Result<WorkflowPruned>;

    /// How many runs are in each state (counted by the database, records not read).
    async fn workflow_run_counts(&self) -> Result<WorkflowRunCounts>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_and_unknown_values_are_corrupt() {
        for s in JobState::ALL {
            assert_eq!(s.as_str().parse::<JobState>().unwrap(), *s);
        }
        for s in LinkState::ALL {
            assert_eq!(s.as_str().parse::<LinkState>().unwrap(), *s);
        }
        for s in CursorKind::ALL {
            assert_eq!(s.as_str().parse::<CursorKind>().unwrap(), *s);
        }
        for s in InboxState::ALL {
            assert_eq!(s.as_str().parse::<InboxState>().unwrap(), *s);
        }
        for s in NoteLinkState::ALL {
            assert_eq!(s.as_str().parse::<NoteLinkState>().unwrap(), *s);
        }
        for s in WorklogLinkState::ALL {
            assert_eq!(s.as_str().parse::<WorklogLinkState>().unwrap(), *s);
        }
        for s in WorkflowRunState::ALL {
            assert_eq!(s.as_str().parse::<WorkflowRunState>().unwrap(), *s);
            let json = serde_json::to_value(s).unwrap();
            assert_eq!(
                serde_json::from_value::<WorkflowRunState>(json).unwrap(),
                *s
            );
        }
        let e = "zombie".parse::<JobState>().unwrap_err();
        assert_eq!(e.kind(), crate::error::ErrorKind::Corrupt);
        assert!(e.to_string().contains("unknown job state `zombie`"), "{e}");
        assert!(
            e.to_string().contains("pending, running, done, dead"),
            "{e}"
        );
    }

    #[test]
    fn serde_output_is_the_stored_string() {
        assert_eq!(
            serde_json::to_value(LinkState::Creating).unwrap(),
            serde_json::json!("creating")
        );
        assert_eq!(
            serde_json::to_value(JobState::Dead).unwrap(),
            serde_json::json!("dead")
        );
        assert_eq!(
            serde_json::to_value(CursorKind::FeedId).unwrap(),
            serde_json::json!("feed-id")
        );
    }
}
