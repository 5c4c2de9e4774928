//! The integration port (the roadmap's `IntegrationService`): what GitHub, Jira, Azure DevOps,
//! git and plugin integrations implement so the sync engine can drive them.
//!
//! API boundary: integrations never touch the store. The engine gives them entries and
//! mapped fields, and they return what the remote system holds; all bookkeeping (links,
//! bases, cursors, retries, conflicts) is the engine's.

use std::fmt;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::entry::{Entry, Note};
use crate::id::EntryId;
use crate::merge::{FieldSet, SyncedField, SyncedFields};
use crate::time::Timestamp;

/// What an integration can do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Capability {
    /// Create and update remote items from entries.
    Push,
    /// Fetch remote changes since a cursor.
    Pull,
    /// Receive change notifications over HTTP.
    Webhook,
}

/// Static facts about an integration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub name: String,
    pub version: String,
    pub description: String,
    /// JSON Schema (draft 2020-12) of its `[integrations.<name>]` table.
    pub config_schema: Value,
    /// Event names it reacts to (`entry.created`, `issues.opened`, ...).
    pub triggers: Vec<String>,
    pub capabilities: Vec<Capability>,
}

/// How a failure should be handled by the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SyncErrorKind {
    /// Wait (at least `retry_after_ms`) and retry; pauses this integration only.
    RateLimited,
    /// Network trouble, timeouts, 5xx: retry with backoff.
    Transient,
    /// Credentials are missing or wrong: retrying will not help until fixed.
    Auth,
    /// The remote item is gone.
    NotFound,
    /// The remote changed concurrently (version mismatch): pull, merge, retry.
    Conflict,
    /// The request is wrong (mapping, validation): dead-letter with the message.
    Permanent,
}

/// An integration's failure, classified. Messages never contain secrets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "camelCase")]
#[error("{system}: {message}")]
pub struct SyncError {
    pub system: String,
    pub kind: SyncErrorKind,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

impl SyncError {
    pub fn new(system: &str, kind: SyncErrorKind, message: impl Into<String>) -> Self {
        Self {
            system: system.to_string(),
            kind,
            message: message.into(),
            retry_after_ms: None,
        }
    }

    pub fn rate_limited(system: &str, retry_after_ms: u64, message: impl Into<String>) -> Self {
        Self {
            retry_after_ms: Some(retry_after_ms),
            ..Self::new(system, SyncErrorKind::RateLimited, message)
        }
    }

    /// Whether the queue should try again later.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.kind,
            SyncErrorKind::RateLimited | SyncErrorKind::Transient | SyncErrorKind::Conflict
        )
    }
}

/// A remote item as an integration sees it, mapped to devlog's fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoteItem {
    /// The remote system's id (issue number, key, work item id).
    pub remote_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    pub fields: SyncedFields,
    pub updated_at: Timestamp,
    /// Opaque version for conditional updates (ETag, rev, updated timestamp).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The devlog id stored in the remote item, if it carries one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub marker: Option<EntryId>,
    /// The remote milestone `fields.milestone` names, where milestones are objects of their
    /// own (GitHub): a pull that brings a milestone devlog does not have creates it locally
    /// with this description and due date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub milestone: Option<RemoteMilestone>,
    /// The sprint the item is in, where the remote reports sprints (Jira with a `boardId`):
    /// `Some(Some(name))`, or `Some(None)` in none (the backlog); `None` (the key absent):
    /// not reported. The engine keeps it on the entry's external reference
    /// ([`ExternalReference::sprint`](crate::entry::ExternalReference::sprint)) so `show`
    /// names it without asking the remote.
    #[serde(
        default,
        deserialize_with = "crate::merge::carried",
        skip_serializing_if = "Option::is_none"
    )]
    pub sprint: Option<Option<String>>,
    /// Where the item sits on the remote's board (Azure DevOps' board column and iteration);
    /// `None`: not reported. The engine keeps it on the entry's external reference
    /// ([`ExternalReference::board`](crate::entry::ExternalReference::board)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub board: Option<crate::entry::BoardPosition>,
}

/// A milestone as a remote system holds it (what a pull needs to create it locally).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoteMilestone {
    /// Its title: the name entries carry in `milestone`.
    pub title: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_date: Option<chrono::NaiveDate>,
    #[serde(default)]
    pub closed: bool,
}

/// Which entry a [`RemoteAction`] is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "by")]
pub enum ActionTarget {
    /// The entry linked to this remote item (an issue number, a key).
    Linked { remote_id: String },
    /// An entry by id (a devlog marker found in the remote object).
    Entry { id: EntryId },
    /// An entry as a person referred to it (`#12`, an id prefix): commit messages.
    Reference { reference: String },
    /// The entry a secondary remote object is attached to (`kind` = `pull-request`, ...),
    /// see the engine's attachments.
    Attached { kind: String, remote_id: String },
}

/// A remote comment, mirrored as a note.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoteNote {
    /// The comment's id in the remote system (unique per integration).
    pub remote_id: String,
    /// The text, without any devlog marker.
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    pub created_at: Timestamp,
    /// The id of the devlog note this comment was created from, if it carries a note marker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note_marker: Option<String>,
    /// The category of a new note (`feedback` when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<crate::entry::NoteCategory>,
}

/// What a remote system asks devlog to do to an entry, besides the linked item's fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "action")]
pub enum Action {
    /// Move the entry to a status and/or priority (a board move, a merged pull request);
    /// a non-empty `reason` becomes a progress note when something changed.
    Set {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<crate::entry::Status>,
        /// Statuses that already agree with the remote (several devlog statuses may share one
        /// board column): an entry in one of them keeps its status.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        accept: Vec<crate::entry::Status>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        priority: Option<crate::entry::Priority>,
        reason: String,
        /// When the remote change happened: an entry changed locally after it keeps its
        /// values (an older board state never overwrites a newer local edit).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at: Option<Timestamp>,
    },
    /// Create, or follow the edit of, the note mirroring a remote comment.
    Note(RemoteNote),
    /// The remote comment `remote_id` was deleted: the note mirroring it is deleted (the
    /// entry's history keeps it).
    NoteDeleted { remote_id: String },
    /// Create, or follow the edit of, the worklog mirroring a remote worklog.
    Worklog(RemoteWorklog),
    /// The remote worklog `remote_id` was deleted: the worklog mirroring it is removed (the
    /// entry's `actualHours` follows).
    WorklogDeleted { remote_id: String },
    /// A deployment carried the entry's work: added to its `deployments` (once per
    /// deployment id) with a progress note `note`, once per action key.
    Deployment {
        deployment: crate::entry::Deployment,
        note: String,
    },
}

/// A remote worklog (time logged on the remote item), mirrored as an entry's worklog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoteWorklog {
    /// The worklog's id in the remote system (unique per integration).
    pub remote_id: String,
    /// Who logged it (the remote account's display name).
    #[serde(default)]
    pub author: String,
    /// The day the time was spent.
    pub date: chrono::NaiveDate,
    pub minutes: u32,
    /// The worklog's comment as text.
    #[serde(default)]
    pub note: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    pub created_at: Timestamp,
    /// The id of the devlog worklog this one was created from, if it carries a marker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worklog_marker: Option<String>,
}

/// A change reported by a remote system: a comment, a board move, a merged pull request, a
/// commit that mentions an entry. The engine applies each `key` once (notes: once per text).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoteAction {
    /// Identifies the change for de-duplication: `pr:12:merged`, `project:PVTI_x@<time>`.
    pub key: String,
    pub target: ActionTarget,
    #[serde(flatten)]
    pub action: Action,
}

/// One page of remote changes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PullPage {
    pub items: Vec<RemoteItem>,
    /// Comments, board moves, pull-request states, applied after `items`.
    pub actions: Vec<RemoteAction>,
    /// Where the next pull starts; persisted by the engine only after the page is applied.
    pub next_cursor: Option<String>,
    /// More pages are available right now.
    pub more: bool,
}

/// An incoming webhook request, as received.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Webhook {
    /// Header names lowercase.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The request URL's query parameters, decoded (a receiver authenticated by a token in
    /// its URL, `?token=…`, reads it here). `Debug` shows their names only.
    pub query: Vec<(String, String)>,
}

impl fmt::Debug for Webhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Headers may carry signatures; the body may be large.
        f.debug_struct("Webhook")
            .field(
                "headers",
                &self.headers.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .field("body_len", &self.body.len())
            .field(
                "query",
                &self.query.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Webhook {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The first query parameter named `name`.
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What a webhook delivered.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookOutcome {
    /// Id of the delivery for de-duplication (`X-GitHub-Delivery`, ...), if the system sends one.
    pub delivery_id: Option<String>,
    pub items: Vec<RemoteItem>,
    pub actions: Vec<RemoteAction>,
    /// What the delivery says happened, for workflows (`on: webhook:`); recorded as
    /// integration events once the delivery is applied.
    pub signals: Vec<WebhookSignal>,
}

impl WebhookOutcome {
    /// A delivery that asks for nothing (a ping, an event devlog does not follow).
    pub fn nothing(delivery_id: Option<String>) -> Self {
        Self {
            delivery_id,
            items: Vec::new(),
            actions: Vec::new(),
            signals: Vec::new(),
        }
    }
}

/// One typed event a webhook delivery carries (a pull request merged, an issue transitioned,
/// a deployment completed), filled by the integration's webhook parser.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookSignal {
    pub kind: crate::sync_state::IntegrationEventKind,
    /// The entry it concerns, found like an action's (the linked issue, the pull request's
    /// attachment); none when devlog knows no entry for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<ActionTarget>,
    /// The event's fields for workflows (a JSON object with camelCase keys:
    /// `pullRequest: {number, url, title}`, `issue: {key}`, `from`, `to`, `environment`…).
    pub data: Value,
}

/// Health of an integration's connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    pub ok: bool,
    pub message: String,
}

/// An external system devlog syncs with.
///
/// Contract (checked by the engine's tests): `create` stores `marker` in the remote item so
/// that `find_by_marker` finds it — that is how a retried create after a crash finds the item
/// instead of creating a duplicate. `update` sends only `changed` fields.
#[async_trait]
pub trait Integration: Send + Sync + fmt::Debug {
    fn descriptor(&self) -> Descriptor;

    /// Called once before use (fetch metadata, check configuration).
    async fn initialize(&self) -> Result<(), SyncError> {
        Ok(())
    }

    async fn health(&self) -> Result<Health, SyncError>;

    /// The API quota the integration's HTTP client last saw in the remote's rate-limit
    /// headers (`x-ratelimit-remaining`, `-limit`, `-reset`); `None` when it has seen none.
    /// The engine keeps it in the sync state for the `sync-health` report.
    fn quota(&self) -> Option<crate::reports::Quota> {
        None
    }

    async fn shutdown(&self) {}

    /// The remote item that carries this entry's marker, if any.
    async fn find_by_marker(&self, entry: EntryId) -> Result<Option<RemoteItem>, SyncError>;

    /// Creates the remote item for an entry, storing `entry.id` as its marker.
    async fn create(&self, entry: &Entry, fields: &SyncedFields) -> Result<RemoteItem, SyncError>;

    /// Updates `changed` fields of a remote item (an adapter matches on each
    /// [`SyncedField`](crate::merge::SyncedField), so a new field is a compile error there).
    async fn update(
        &self,
        remote_id: &str,
        fields: &SyncedFields,
        changed: &FieldSet,
    ) -> Result<RemoteItem, SyncError>;

    /// Remote items changed since `cursor` (all linked items when `None`), one page at a time.
    async fn pull(&self, cursor: Option<&str>) -> Result<PullPage, SyncError>;

    /// The pull cursor after the engine's own create or update answered `item`, so the next
    /// pull need not read that write back (Azure DevOps: the item's revision and changed date
    /// count as seen). `cursor` is the pull cursor as it stands (`None`: none yet). `None`
    /// keeps the cursor as it is, which is always safe: the write is then read back once.
    /// Answer without a request. The default: keep it.
    fn cursor_after_write(&self, cursor: Option<&str>, item: &RemoteItem) -> Option<String> {
        let _ = (cursor, item);
        None
    }

    /// Whether the remote item's value of `field` (in `remote`, as a pull reads it) already
    /// stands for its value in `fields`: the remote keeps the field less precisely, so
    /// `fields`' value, sent, reads back as `remote`'s (Jira's one "In Progress" for devlog's
    /// in-progress and blocked; an update would send nothing). The sync engine then reads the
    /// field as unchanged since `fields` (the last synced base): a lossy read-back is neither
    /// taken into the entry nor passed on to the entry's other trackers. Answer from what is
    /// known without a request. The default: only the same value stands for it.
    fn stands_for(&self, field: SyncedField, remote: &SyncedFields, fields: &SyncedFields) -> bool {
        !remote.differs(fields, field)
    }

    /// Called once when the engine adopts an item whose create it never recorded (a crash
    /// between the remote create and the bookkeeping; found by its marker): finish what
    /// `create` does beyond creating the item, e.g. putting it on a board.
    async fn adopted(&self, item: &RemoteItem, fields: &SyncedFields) -> Result<(), SyncError> {
        let _ = (item, fields);
        Ok(())
    }

    /// Called before a `create` or an `update` that sends the `milestone` field, with the
    /// milestone's name and the local milestone of that name (`None` when the store has none):
    /// an integration whose milestones are objects of their own (GitHub) finds the remote one
    /// by its title or creates it with the local description and due date, so `create` and
    /// `update` can refer to it. The default: milestones are plain values, nothing to prepare.
    async fn prepare_milestone(
        &self,
        name: &str,
        local: Option<&crate::planning::Milestone>,
    ) -> Result<(), SyncError> {
        let _ = (name, local);
        Ok(())
    }

    /// What an `update` of `changed` fields of remote item `remote_id` would do beyond
    /// sending the fields, one human-readable step each (a workflow's transitions), for
    /// `devlog sync --plan`; reads the remote, never writes. The default: nothing to add.
    async fn plan_update(
        &self,
        remote_id: &str,
        fields: &SyncedFields,
        changed: &FieldSet,
    ) -> Result<Vec<String>, SyncError> {
        let _ = (remote_id, fields, changed);
        Ok(Vec::new())
    }

    /// Whether notes are mirrored as comments of the remote item (`create_note`, ...).
    fn syncs_notes(&self) -> bool {
        false
    }

    /// Posts a note as a comment on remote item `remote_id`, carrying the note's id as its
    /// marker; returns the comment's remote id.
    async fn create_note(
        &self,
        remote_id: &str,
        entry: EntryId,
        note: &Note,
    ) -> Result<String, SyncError> {
        let _ = (remote_id, entry, note);
        Err(self.no_notes())
    }

    /// Replaces the text of comment `note_remote_id` (the note was edited).
    async fn update_note(
        &self,
        remote_id: &str,
        note_remote_id: &str,
        note: &Note,
    ) -> Result<(), SyncError> {
        let _ = (remote_id, note_remote_id, note);
        Err(self.no_notes())
    }

    /// Deletes comment `note_remote_id` of remote item `remote_id` (its note was deleted). A
    /// comment that is gone already is not an error. The default says the integration cannot:
    /// the engine tells the user the comment stays.
    async fn delete_note(&self, remote_id: &str, note_remote_id: &str) -> Result<(), SyncError> {
        let _ = (remote_id, note_remote_id);
        Err(SyncError::new(
            &self.descriptor().name,
            SyncErrorKind::Permanent,
            "this integration cannot delete comments",
        ))
    }

    /// Which of `comments` (ids of comments mirrored as notes of the entry linked to remote
    /// item `remote_id`, as `create_note` returns them; some may belong to objects attached to
    /// the entry) no longer exist, so a pull can delete their notes. `None` when the
    /// integration cannot tell: deletions then arrive by webhook only.
    async fn deleted_notes(
        &self,
        remote_id: &str,
        comments: &[String],
    ) -> Result<Option<Vec<String>>, SyncError> {
        let _ = (remote_id, comments);
        Ok(None)
    }

    /// The comment of `remote_id` carrying this note's marker (a create whose response was
    /// lost), if any.
    async fn find_note(&self, remote_id: &str, note_id: &str) -> Result<Option<String>, SyncError> {
        let _ = (remote_id, note_id);
        Err(self.no_notes())
    }

    #[doc(hidden)]
    fn no_notes(&self) -> SyncError {
        SyncError::new(
            &self.descriptor().name,
            SyncErrorKind::Permanent,
            "this integration does not sync notes",
        )
    }

    /// Whether worklogs are mirrored as worklogs of the remote item (`create_worklog`, ...).
    /// The default: the integration has none (GitHub); the engine then leaves them alone.
    fn syncs_worklogs(&self) -> bool {
        false
    }

    /// Logs a worklog on remote item `remote_id`, carrying the worklog's id (and the entry's)
    /// as its marker so that [`find_worklog`](Self::find_worklog) finds it; returns the remote
    /// worklog's id.
    async fn create_worklog(
        &self,
        remote_id: &str,
        entry: EntryId,
        worklog: &crate::planning::Worklog,
    ) -> Result<String, SyncError> {
        let _ = (remote_id, entry, worklog);
        Err(self.no_worklogs())
    }

    /// The worklog of `remote_id` carrying this worklog's marker (a create whose response was
    /// lost), if any.
    async fn find_worklog(
        &self,
        remote_id: &str,
        worklog_id: &str,
    ) -> Result<Option<String>, SyncError> {
        let _ = (remote_id, worklog_id);
        Err(self.no_worklogs())
    }

    /// Rewrites remote worklog `worklog_remote_id` (the worklog was edited: day, minutes, note).
    async fn update_worklog(
        &self,
        remote_id: &str,
        worklog_remote_id: &str,
        worklog: &crate::planning::Worklog,
    ) -> Result<(), SyncError> {
        let _ = (remote_id, worklog_remote_id, worklog);
        Err(self.no_worklogs())
    }

    /// Deletes remote worklog `worklog_remote_id` (its worklog was deleted here). One that is
    /// gone already is not an error.
    async fn delete_worklog(
        &self,
        remote_id: &str,
        worklog_remote_id: &str,
    ) -> Result<(), SyncError> {
        let _ = (remote_id, worklog_remote_id);
        Err(self.no_worklogs())
    }

    /// Which of `worklogs` (remote ids of worklogs mirrored on the entry linked to `remote_id`)
    /// no longer exist, so a pull removes them here. `None` when the integration cannot tell.
    async fn deleted_worklogs(
        &self,
        remote_id: &str,
        worklogs: &[String],
    ) -> Result<Option<Vec<String>>, SyncError> {
        let _ = (remote_id, worklogs);
        Ok(None)
    }

    #[doc(hidden)]
    fn no_worklogs(&self) -> SyncError {
        SyncError::new(
            &self.descriptor().name,
            SyncErrorKind::Permanent,
            "this integration does not sync worklogs",
        )
    }

    /// Checks a webhook's authenticity (signature) before anything else looks at it, then
    /// returns the items it reports.
    async fn handle_webhook(&self, hook: &Webhook) -> Result<WebhookOutcome, SyncError> {
        let _ = hook;
        Err(SyncError::new(
            &self.descriptor().name,
            SyncErrorKind::Permanent,
            "this integration does not accept webhooks",
        ))
    }
}
