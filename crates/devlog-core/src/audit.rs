//! The tamper-evident audit log: one record per event of every write, hash-chained.
//!
//! Every record carries `prev`, the hash of the record before it (64 zeros for the first),
//! and its own `hash` = SHA-256 over `prev` followed by the record's canonical serialisation
//! (every field but `hash`, as JSON with object keys sorted at every depth). Changing a
//! record's bytes changes its hash; removing, inserting or reordering records breaks the
//! `prev` links and the run of `seq` numbers. [`verify`] (or [`Verifier`], for logs read in
//! pages) names the first record where the chain breaks.
//!
//! What the chain alone does not prove: that the tail was not cut off (removing the last
//! records leaves a valid shorter chain), nor that someone able to rewrite the whole log did
//! not recompute every hash after an edit. Signed checkpoints cover both: an
//! [`Action::Checkpoint`] record carries an Ed25519 signature ([`AuditKey`]) over the hash of
//! the record before it, so a rewrite needs the key, and a verifier given the public key
//! ([`Verifier::with_key`]) rejects checkpoints signed by any other. See docs/security.md,
//! "Audit log".
//!
//! Two kinds of record share the chain ([`What`]): entry records, built from the [`Event`]s
//! of a write (so the audit log records exactly what the change feed records, with who and
//! from where — [`WriteMeta`] — added), appended by backends inside their write; and
//! [`Action`] records for what is not an entry event (token changes, purges, remote effects of
//! sync, checkpoints), appended through [`AuditLog::audit_append`]. Old logs hold only entry
//! records and still verify: an entry record serialises exactly as before.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::auth::Role;
use crate::entry::Status;
use crate::error::Result;
use crate::event::{Event, EventKind, Origin, WriteMeta};
use crate::id::EntryId;
use crate::time::Timestamp;

/// `prev` of the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Where a write came from beyond its [`Origin`]: the REST client's address, the webhook
/// delivery that caused it. Carried by [`WriteMeta`] and copied into every audit record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Source {
    /// The REST client's address (`ip:port`), when the write came over HTTP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    /// The webhook delivery id, when a webhook caused the write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<String>,
    /// The workflow run that made the write (`<workflow>/<run id>`, devlog-workflow).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow: Option<String>,
}

impl Source {
    pub fn is_empty(&self) -> bool {
        self.client.is_none() && self.delivery.is_none() && self.workflow.is_none()
    }
}

/// One record of the audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditRecord {
    /// 1, 2, 3, … without gaps.
    pub seq: u64,
    /// When the write happened (the event's time).
    pub at: Timestamp,
    /// Who: the actor string of the write — an API token's name or OIDC subject for the
    /// server, the OS user (or `--actor`) for the CLI, `sync:<integration>[:<key>]` for sync.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// Through what: cli, mcp, http, sync, import, migrate, external.
    pub origin: Origin,
    /// From where, when known (client address, webhook delivery).
    #[serde(default, skip_serializing_if = "Source::is_empty")]
    pub source: Source,
    /// The entry, for entry records and remote effects; `None` for other actions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry_id: Option<EntryId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handle: Option<u64>,
    /// The write this record is part of (shared by every record of one write).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<String>,
    /// What: the entry event, with the before and after of what changed, or the action.
    pub what: What,
    /// The hash of the record before (hex SHA-256), [`GENESIS`] for the first.
    pub prev: String,
    /// SHA-256 (hex) over `prev` and this record's canonical serialisation.
    pub hash: String,
}

/// A record before it is chained: what a write contributes.
#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    pub at: Timestamp,
    pub actor: Option<String>,
    pub origin: Origin,
    pub source: Source,
    pub entry_id: Option<EntryId>,
    pub handle: Option<u64>,
    pub change: Option<String>,
    pub what: What,
}

impl Draft {
    /// The drafts of a write's events, with the write's [`Source`].
    pub fn of_events(events: &[Event], source: &Source) -> Vec<Draft> {
        events
            .iter()
            .map(|e| Draft {
                at: e.at,
                actor: e.actor.clone(),
                origin: e.origin,
                source: source.clone(),
                entry_id: Some(e.entry_id),
                handle: Some(e.handle),
                change: e.change.clone(),
                what: What::Entry(e.kind.clone()),
            })
            .collect()
    }

    /// The draft of an action: who did it, through what, at `at`. Remote effects name
    /// their entry with [`Draft::for_entry`].
    pub fn action(at: Timestamp, actor: Option<String>, origin: Origin, action: Action) -> Draft {
        Draft {
            at,
            actor,
            origin,
            source: Source::default(),
            entry_id: None,
            handle: None,
            change: None,
            what: What::Action(action),
        }
    }

    /// The same draft about entry `id` (`#handle`).
    pub fn for_entry(mut self, id: EntryId, handle: u64) -> Draft {
        self.entry_id = Some(id);
        self.handle = Some(handle);
        self
    }

    /// The same draft with where it came from.
    pub fn with_source(mut self, source: Source) -> Draft {
        self.source = source;
        self
    }

    /// The effect id of a remote effect (what makes its append idempotent).
    pub fn effect_id(&self) -> Option<&str> {
        self.what.effect_id()
    }

    /// The drafts of a write with its metadata.
    pub fn of_write(events: &[Event], meta: &WriteMeta) -> Vec<Draft> {
        Self::of_events(events, &meta.source)
    }
}

/// The end of a chain: the last record's `seq` and `hash` (`0` and [`GENESIS`] when empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub seq: u64,
    pub hash: String,
}

impl Default for Head {
    fn default() -> Self {
        Head {
            seq: 0,
            hash: GENESIS.to_string(),
        }
    }
}

impl Head {
    pub fn of(record: &AuditRecord) -> Head {
        Head {
            seq: record.seq,
            hash: record.hash.clone(),
        }
    }
}

/// Chains `drafts` after `head`: numbers them, links them and hashes them. Returns the
/// records; the new head is the last one's.
pub fn chain(head: &Head, drafts: Vec<Draft>) -> Vec<AuditRecord> {
    let mut seq = head.seq;
    let mut prev = head.hash.clone();
    drafts
        .into_iter()
        .map(|d| {
            seq += 1;
            let mut r = AuditRecord {
                seq,
                at: d.at,
                actor: d.actor,
                origin: d.origin,
                source: d.source,
                entry_id: d.entry_id,
                handle: d.handle,
                change: d.change,
                what: d.what,
                prev: std::mem::take(&mut prev),
                hash: String::new(),
            };
            r.hash = r.compute_hash();
            prev = r.hash.clone();
            r
        })
        .collect()
}

/// What a record records: an entry event, or an action that is not one.
///
/// Serialised without a wrapper, so that an entry record is byte for byte what it was before
/// actions existed (`{"type":"created"}`, hashed the same), and an action is told apart by its
/// `action` tag (`{"action":"token-created",…}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum What {
    Entry(EventKind),
    Action(Action),
}

impl What {
    /// Short name for tables and filters: the event's (`field-changed`) or the action's
    /// (`token-created`, `remote-comment-posted`, `checkpoint`).
    pub fn name(&self) -> &'static str {
        match self {
            What::Entry(k) => k.name(),
            What::Action(a) => a.name(),
        }
    }

    pub fn event(&self) -> Option<&EventKind> {
        match self {
            What::Entry(k) => Some(k),
            What::Action(_) => None,
        }
    }

    pub fn action(&self) -> Option<&Action> {
        match self {
            What::Action(a) => Some(a),
            What::Entry(_) => None,
        }
    }

    /// The effect id of a remote effect.
    pub fn effect_id(&self) -> Option<&str> {
        match self {
            What::Action(Action::RemoteEffect { effect_id, .. }) => Some(effect_id),
            _ => None,
        }
    }
}

impl From<EventKind> for What {
    fn from(k: EventKind) -> Self {
        What::Entry(k)
    }
}

impl PartialEq<EventKind> for What {
    fn eq(&self, other: &EventKind) -> bool {
        matches!(self, What::Entry(k) if k == other)
    }
}

/// An audited action that is not an entry event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "action",
    rename_all = "kebab-case",
    rename_all_fields = "camelCase"
)]
pub enum Action {
    /// An API token was created (its name, role and limits; never its secret or hash).
    TokenCreated {
        token_id: String,
        name: String,
        role: Role,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        scope: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expires_at: Option<Timestamp>,
    },
    /// An API token was revoked.
    TokenRevoked { token_id: String, name: String },
    /// A purge ran (`devlog purge`, or the retention policy on its schedule): what it
    /// selected and how many entries it removed (each removal also has its `deleted` record).
    Purged {
        /// Run by the schedule (`serve`, `worker`, `purge --scheduled`), not by hand.
        scheduled: bool,
        /// Entries closed before this time.
        before: Timestamp,
        statuses: Vec<Status>,
        purged: u64,
    },
    /// devlog changed something in a remote system, confirmed by its answer: sync's pushes,
    /// and the commands that act on a remote directly (`link`, `ado run`, `jira sprint add`,
    /// `github pr`, `github release-notes --create-release`, …).
    RemoteEffect {
        /// The integration (`github`, `jira`, `azure-devops`, …).
        integration: String,
        effect: RemoteEffect,
        /// The remote object: the item's id, or the comment's / worklog's.
        remote_id: String,
        /// The remote item the object belongs to, when it is not the item itself.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        item: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url: Option<String>,
        /// Unique per effect and the same on every retry of the job that made it: a log
        /// holds at most one record per effect id.
        effect_id: String,
    },
    /// A plugin was installed (`devlog plugin install`): its name, version, the folder it was
    /// copied to and the SHA-256 of its module.
    PluginInstalled {
        name: String,
        version: String,
        dir: String,
        sha256: String,
    },
    /// A plugin was removed (`devlog plugin remove`) from `dir`.
    PluginRemoved { name: String, dir: String },
    /// A workflow was switched on (`devlog workflow enable`) in this checkout.
    WorkflowEnabled { name: String },
    /// A workflow was switched off (`devlog workflow disable`) in this checkout.
    WorkflowDisabled { name: String },
    /// A new checkpoint signing key was made (on first use, or after the old key file was
    /// moved away: a rotation). Its public half (hex) and where it is kept; never the private
    /// key.
    AuditKeyCreated { key: String, file: String },
    /// A signed checkpoint: `signature` (Ed25519, hex) by `key` (the public key, hex) over
    /// [`checkpoint_message`] of the record before this one (`covers`, whose hash is this
    /// record's `prev`).
    Checkpoint {
        covers: u64,
        key: String,
        signature: String,
    },
}

impl Action {
    pub fn name(&self) -> &'static str {
        match self {
            Action::TokenCreated { .. } => "token-created",
            Action::TokenRevoked { .. } => "token-revoked",
            Action::Purged { .. } => "purged",
            Action::RemoteEffect { effect, .. } => effect.name(),
            Action::PluginInstalled { .. } => "plugin-installed",
            Action::PluginRemoved { .. } => "plugin-removed",
            Action::WorkflowEnabled { .. } => "workflow-enabled",
            Action::WorkflowDisabled { .. } => "workflow-disabled",
            Action::AuditKeyCreated { .. } => "audit-key-created",
            Action::Checkpoint { .. } => "checkpoint",
        }
    }
}

/// What a remote effect did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RemoteEffect {
    /// An issue / work item was created for the entry.
    ItemCreated,
    /// An item an earlier, interrupted push had created was found by its marker and linked.
    ItemRecovered,
    /// The item's fields (title, status transition, assignee, …) were updated.
    ItemUpdated,
    CommentPosted,
    CommentEdited,
    CommentDeleted,
    WorklogCreated,
    WorklogUpdated,
    WorklogDeleted,
    /// `link`: devlog's marker was put on an existing item, which the entry now syncs with.
    ItemLinked,
    /// `unlink`: devlog's marker was taken off the item.
    ItemUnlinked,
    /// `devlog ado run`: a pipeline run was queued for the entry's branch.
    PipelineRunQueued,
    /// `devlog ado iteration add`: the work item was moved into an iteration.
    IterationChanged,
    /// `devlog jira sprint add`: the issue was moved into a sprint.
    SprintChanged,
    /// `devlog github pr`: a pull request was opened for the entry.
    PullRequestOpened,
    /// `github release-notes --create-release`: a release was created.
    ReleaseCreated,
    /// `github release-notes --create-release`: an existing release's notes were replaced.
    ReleaseUpdated,
    /// A workflow's `notify` step was answered by its receiver (`remote_id`: the target's
    /// name, or the URL's scheme and host only — never the URL).
    NotificationSent,
    /// A workflow's `plugin` step ran a plugin's action (`integration`: the plugin,
    /// `remote_id`: the action).
    PluginActionRun,
}

impl RemoteEffect {
    pub fn name(self) -> &'static str {
        match self {
            RemoteEffect::ItemCreated => "remote-item-created",
            RemoteEffect::ItemRecovered => "remote-item-recovered",
            RemoteEffect::ItemUpdated => "remote-item-updated",
            RemoteEffect::CommentPosted => "remote-comment-posted",
            RemoteEffect::CommentEdited => "remote-comment-edited",
            RemoteEffect::CommentDeleted => "remote-comment-deleted",
            RemoteEffect::WorklogCreated => "remote-worklog-created",
            RemoteEffect::WorklogUpdated => "remote-worklog-updated",
            RemoteEffect::WorklogDeleted => "remote-worklog-deleted",
            RemoteEffect::ItemLinked => "remote-item-linked",
            RemoteEffect::ItemUnlinked => "remote-item-unlinked",
            RemoteEffect::PipelineRunQueued => "remote-pipeline-run-queued",
            RemoteEffect::IterationChanged => "remote-iteration-changed",
            RemoteEffect::SprintChanged => "remote-sprint-changed",
            RemoteEffect::PullRequestOpened => "remote-pull-request-opened",
            RemoteEffect::ReleaseCreated => "remote-release-created",
            RemoteEffect::ReleaseUpdated => "remote-release-updated",
            RemoteEffect::NotificationSent => "remote-notification-sent",
            RemoteEffect::PluginActionRun => "remote-plugin-action-run",
        }
    }
}

/// What a checkpoint signs: the record it covers, by number and hash.
pub fn checkpoint_message(covers: &Head) -> Vec<u8> {
    format!("devlog-audit-checkpoint:v1:{}:{}", covers.seq, covers.hash).into_bytes()
}

/// The Ed25519 key that signs checkpoints (held by the server or the CLI, never logged).
pub struct AuditKey {
    pair: ring::signature::Ed25519KeyPair,
}

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditKey")
            .field("public", &self.public_hex())
            .finish_non_exhaustive()
    }
}

/// A key file's content that is not a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an audit signing key (expected a hex-encoded Ed25519 PKCS#8 document)")]
pub struct BadKey;

impl AuditKey {
    /// A new random key, and its PKCS#8 document as hex (what a key file holds).
    pub fn generate() -> (AuditKey, String) {
        let rng = ring::rand::SystemRandom::new();
        let doc = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng)
            .expect("the system's random source works");
        let text = hex(doc.as_ref());
        let key = Self::from_hex(&text).expect("a generated key parses");
        (key, text)
    }

    /// The key a key file holds (hex PKCS#8, surrounding whitespace ignored).
    pub fn from_hex(text: &str) -> std::result::Result<AuditKey, BadKey> {
        let bytes = unhex(text.trim()).ok_or(BadKey)?;
        let pair = ring::signature::Ed25519KeyPair::from_pkcs8(&bytes).map_err(|_| BadKey)?;
        Ok(AuditKey { pair })
    }

    pub fn public(&self) -> PublicKey {
        use ring::signature::KeyPair;
        PublicKey(self.pair.public_key().as_ref().to_vec())
    }

    pub fn public_hex(&self) -> String {
        self.public().to_string()
    }

    /// The draft of a checkpoint after `head` (which must not be empty).
    pub fn checkpoint(&self, head: &Head, at: Timestamp, actor: Option<String>) -> Draft {
        let signature = hex(self.pair.sign(&checkpoint_message(head)).as_ref());
        Draft::action(
            at,
            actor,
            Origin::Cli,
            Action::Checkpoint {
                covers: head.seq,
                key: self.public_hex(),
                signature,
            },
        )
    }
}

/// An Ed25519 public key (32 bytes; hex in files and records).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey(Vec<u8>);

impl std::fmt::Display for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&hex(&self.0))
    }
}

impl std::str::FromStr for PublicKey {
    type Err = BadKey;
    fn from_str(s: &str) -> std::result::Result<Self, BadKey> {
        match unhex(s.trim()) {
            Some(b) if b.len() == 32 => Ok(PublicKey(b)),
            _ => Err(BadKey),
        }
    }
}

impl PublicKey {
    fn verifies(&self, message: &[u8], signature_hex: &str) -> bool {
        let Some(sig) = unhex(signature_hex) else {
            return false;
        };
        ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, &self.0)
            .verify(message, &sig)
            .is_ok()
    }
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.is_ascii() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

/// The checkpoint to append after `last` (the log's last record, `None` when empty), signed
/// by `actor` through `origin` (the CLI, or the server's / worker's housekeeping): none when
/// the log is empty or already ends with one. What backends call under their lock.
pub fn checkpoint_after(
    last: Option<&AuditRecord>,
    head: &Head,
    key: &AuditKey,
    at: Timestamp,
    actor: Option<String>,
    origin: Origin,
) -> Option<Draft> {
    if head.seq == 0 {
        return None;
    }
    if let Some(r) = last
        && matches!(r.what, What::Action(Action::Checkpoint { .. }))
    {
        return None;
    }
    let mut d = key.checkpoint(head, at, actor);
    d.origin = origin;
    Some(d)
}

impl AuditRecord {
    /// The canonical serialisation the hash covers: every field but `hash`, as JSON with
    /// object keys sorted at every depth, no whitespace.
    pub fn canonical(&self) -> Vec<u8> {
        let mut v = serde_json::to_value(self).expect("audit records serialize");
        if let Value::Object(m) = &mut v {
            m.remove("hash");
        }
        let mut out = Vec::with_capacity(512);
        write_canonical(&v, &mut out);
        out
    }

    /// SHA-256 (hex) over `prev` and [`canonical`](Self::canonical).
    pub fn compute_hash(&self) -> String {
        let mut h = Sha256::new();
        h.update(self.prev.as_bytes());
        h.update(self.canonical());
        hex(&h.finalize())
    }

    /// One line of a JSON-lines export or file: the record with its fields in declared order.
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).expect("audit records serialize")
    }

    /// The changed field's name, for tables: `status`, `title`, `notes` …
    pub fn field(&self) -> Option<&str> {
        let What::Entry(what) = &self.what else {
            return None;
        };
        match what {
            EventKind::FieldChanged { field, .. } => Some(field),
            EventKind::StatusChanged { .. } | EventKind::Completed { .. } => Some("status"),
            EventKind::NoteAdded { .. }
            | EventKind::NoteEdited { .. }
            | EventKind::NoteDeleted { .. } => Some("notes"),
            EventKind::DecisionAdded { .. } => Some("decisions"),
            EventKind::Linked { .. } => Some("externalReferences"),
            EventKind::Created | EventKind::Deleted => None,
        }
    }
}

fn write_canonical(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Object(m) => {
            let sorted: BTreeMap<&String, &Value> = m.iter().collect();
            out.push(b'{');
            for (i, (k, v)) in sorted.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                serde_json::to_writer(&mut *out, k).expect("strings serialize");
                out.push(b':');
                write_canonical(v, out);
            }
            out.push(b'}');
        }
        Value::Array(a) => {
            out.push(b'[');
            for (i, v) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(v, out);
            }
            out.push(b']');
        }
        other => serde_json::to_writer(&mut *out, other).expect("scalars serialize"),
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// What a backend read back: a record, or a stored item that is not one (a line of the JSON
/// file that does not parse, a row whose record column does not).
#[derive(Debug, Clone, PartialEq)]
#[allow(
    clippy::large_enum_variant,
    reason = "nearly every item is a record: boxing would allocate once per record"
)]
pub enum Stored {
    Record(AuditRecord),
    Unreadable {
        /// Where it is: `line 17`, `row seq 17`.
        place: String,
        /// Why it cannot be read.
        reason: String,
    },
}

/// Where the chain breaks: the first record (by its position in the log: the `seq` it
/// should have had) that is not what the chain says, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the audit log's chain breaks at record {seq}: {reason}")]
pub struct Break {
    pub seq: u64,
    pub reason: String,
}

/// Checks records one at a time in log order (for logs read in pages); [`verify`] for a slice.
///
/// Checkpoints are checked as they come: `covers` must be the record before, the signature
/// must verify with the key the checkpoint names, and that key must be the expected one
/// ([`with_key`](Self::with_key)) or, when none is given, the first checkpoint's (a log whose
/// checkpoints change key mid-way is refused: pin the key to accept a rotation knowingly).
#[derive(Debug, Clone, Default)]
pub struct Verifier {
    head: Head,
    key: Option<PublicKey>,
    /// The key was given by the caller, not taken from the first checkpoint.
    pinned: bool,
    last_checkpoint: Option<Head>,
    checkpoints: u64,
}

impl Verifier {
    pub fn new() -> Self {
        Self::default()
    }

    /// A verifier that accepts checkpoints signed by `key` only.
    pub fn with_key(key: PublicKey) -> Self {
        Verifier {
            key: Some(key),
            pinned: true,
            ..Self::default()
        }
    }

    /// The last record checked so far.
    pub fn head(&self) -> &Head {
        &self.head
    }

    /// The last valid checkpoint checked so far (its own `seq` and `hash`).
    pub fn last_checkpoint(&self) -> Option<&Head> {
        self.last_checkpoint.as_ref()
    }

    /// How many valid checkpoints were checked.
    pub fn checkpoints(&self) -> u64 {
        self.checkpoints
    }

    /// Records after the last checkpoint (all of them when there is none): the tail a
    /// signature does not cover, which could be cut off unnoticed.
    pub fn unsigned_tail(&self) -> u64 {
        self.head.seq - self.last_checkpoint.as_ref().map_or(0, |c| c.seq)
    }

    /// The key checkpoints are checked against: the given one, or the first checkpoint's.
    pub fn key(&self) -> Option<&PublicKey> {
        self.key.as_ref()
    }

    /// Checks the next stored item.
    pub fn check_stored(&mut self, item: &Stored) -> Result<(), Break> {
        match item {
            Stored::Record(r) => self.check(r),
            Stored::Unreadable { place, reason } => Err(Break {
                seq: self.head.seq + 1,
                reason: format!("{place} is not a readable record ({reason})"),
            }),
        }
    }

    /// Checks the next record: its number follows, its `prev` is the last record's hash,
    /// its `hash` is that of its content, and a checkpoint's signature holds.
    pub fn check(&mut self, r: &AuditRecord) -> Result<(), Break> {
        let expected = self.head.seq + 1;
        let fail = |reason: String| {
            Err(Break {
                seq: expected,
                reason,
            })
        };
        if r.seq != expected {
            return fail(if r.seq < expected {
                format!(
                    "found record {} again where {expected} should be (a record was inserted, \
                     duplicated or moved here)",
                    r.seq
                )
            } else {
                format!(
                    "found record {} where {expected} should be (records {expected}..{} were \
                     deleted or moved)",
                    r.seq,
                    r.seq - 1
                )
            });
        }
        if r.prev != self.head.hash {
            return fail(format!(
                "its prev hash {} is not record {}'s hash {} (a record before it was changed, \
                 replaced or reordered)",
                short(&r.prev),
                self.head.seq,
                short(&self.head.hash)
            ));
        }
        let actual = r.compute_hash();
        if r.hash != actual {
            return fail(format!(
                "its content does not match its hash (stored {}, content hashes to {}): the \
                 record was edited",
                short(&r.hash),
                short(&actual)
            ));
        }
        if let What::Action(Action::Checkpoint {
            covers,
            key,
            signature,
        }) = &r.what
        {
            if *covers != self.head.seq {
                return fail(format!(
                    "it is a checkpoint of record {covers}, but follows record {}: a forged or \
                     moved checkpoint",
                    self.head.seq
                ));
            }
            let Ok(named) = key.parse::<PublicKey>() else {
                return fail("it is a checkpoint whose key is not an Ed25519 public key".into());
            };
            match &self.key {
                Some(k) if *k != named => {
                    return fail(format!(
                        "it is a checkpoint signed by key {}, not by {} ({}): a forged \
                         checkpoint",
                        short(key),
                        short(&k.to_string()),
                        if self.pinned {
                            "the key given to verify"
                        } else {
                            "the key of the log's first checkpoint"
                        }
                    ));
                }
                _ => {}
            }
            if !named.verifies(&checkpoint_message(&self.head), signature) {
                return fail(format!(
                    "it is a checkpoint whose signature does not verify with key {}: a forged \
                     checkpoint",
                    short(key)
                ));
            }
            self.key.get_or_insert(named);
            self.last_checkpoint = Some(Head::of(r));
            self.checkpoints += 1;
        }
        self.head = Head::of(r);
        Ok(())
    }
}

fn short(h: &str) -> &str {
    h.get(..12).unwrap_or(h)
}

/// Checks a whole log, oldest first; `Err` names the first record where the chain breaks.
pub fn verify(records: &[AuditRecord]) -> Result<(), Break> {
    let mut v = Verifier::new();
    records.iter().try_for_each(|r| v.check(r))
}

/// The audit log of a store: read by range, and appended to by actions. Entry records are
/// appended inside the store's writes, never through this port (nothing can append them out
/// of the write's transaction); nothing can change or delete a record.
#[async_trait]
pub trait AuditLog: Send + Sync {
    /// Stored items with `seq` after `after`, oldest first, at most `limit`. A damaged item
    /// (a torn or edited line, an unreadable row) comes back as [`Stored::Unreadable`] in
    /// its place.
    async fn audit_page(&self, after: u64, limit: usize) -> Result<Vec<Stored>>;

    /// How many items the log holds.
    async fn audit_count(&self) -> Result<u64>;

    /// Appends action records (never entry events: those come with their write) after the
    /// log's last record, in one transaction / under the store's write lock. A draft whose
    /// effect id ([`Draft::effect_id`]) a record already has is left out, so a retried job
    /// records its remote effect once. Returns the records appended.
    async fn audit_append(&self, drafts: Vec<Draft>) -> Result<Vec<AuditRecord>>;

    /// The last record's `seq` and `hash` (the empty head for an empty log).
    async fn audit_head(&self) -> Result<Head>;

    /// Appends a checkpoint signed by `key` over the last record, read under the same lock
    /// as the append (so concurrent checkpoints never cover a record that is no longer the
    /// last). Nothing when the log is empty or already ends with a checkpoint. `origin`: who
    /// signs (`cli` for a command, `http` for `serve`, `sync` for `worker`).
    async fn audit_checkpoint(
        &self,
        key: &AuditKey,
        at: Timestamp,
        actor: Option<String>,
        origin: Origin,
    ) -> Result<Option<AuditRecord>>;

    /// Where the log is kept, for messages (`.devlog/audit.jsonl`, `table devlog_audit`).
    fn audit_location(&self) -> String;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::Status;
    use proptest::prelude::*;

    fn draft(i: u64) -> Draft {
        Draft {
            at: Timestamp::from_millis(1_700_000_000_000 + i as i64).unwrap(),
            actor: Some(format!("user{}", i % 3)),
            origin: if i.is_multiple_of(2) {
                Origin::Cli
            } else {
                Origin::Http
            },
            source: Source {
                client: (i % 2 == 1).then(|| "127.0.0.1:5000".into()),
                delivery: None,
                workflow: None,
            },
            entry_id: Some(EntryId::from_legacy(i % 5 + 1, "2025-01-01T00:00:00.000Z")),
            handle: Some(i % 5 + 1),
            change: Some(format!("c{i}")),
            what: What::Entry(match i % 3 {
                0 => EventKind::Created,
                1 => EventKind::FieldChanged {
                    field: "title".into(),
                    old: serde_json::json!({"b": 1, "a": [1, "x"]}),
                    new: Value::String(format!("t{i}")),
                },
                _ => EventKind::StatusChanged {
                    from: Status::New,
                    to: Status::InProgress,
                    closed_at: None,
                },
            }),
        }
    }

    fn log(n: u64) -> Vec<AuditRecord> {
        chain(&Head::default(), (0..n).map(draft).collect())
    }

    #[test]
    fn a_fresh_chain_verifies_and_links() {
        let l = log(10);
        assert_eq!(verify(&l), Ok(()));
        assert_eq!(l[0].prev, GENESIS);
        assert_eq!(l[1].prev, l[0].hash);
        assert_eq!(l[9].seq, 10);
        // Chaining more after the head continues the same chain.
        let more = chain(&Head::of(&l[9]), vec![draft(11)]);
        let all: Vec<_> = l.iter().cloned().chain(more).collect();
        assert_eq!(verify(&all), Ok(()));
    }

    #[test]
    fn the_hash_is_independent_of_key_order_and_survives_a_round_trip() {
        let r = &log(2)[1];
        let line = r.to_line();
        let back: AuditRecord = serde_json::from_str(&line).unwrap();
        assert_eq!(back.compute_hash(), r.hash);
        let mut shuffled = r.clone();
        shuffled.what = What::Entry(EventKind::FieldChanged {
            field: "title".into(),
            old: serde_json::json!({"a": [1, "x"], "b": 1}),
            new: Value::String("t1".into()),
        });
        assert_eq!(shuffled.compute_hash(), r.hash);
        assert!(!String::from_utf8(r.canonical()).unwrap().contains("hash\""));
    }

    #[test]
    fn an_edit_is_named() {
        let mut l = log(5);
        l[2].actor = Some("mallory".into());
        let b = verify(&l).unwrap_err();
        assert_eq!(b.seq, 3);
        assert!(b.reason.contains("edited"), "{b}");
    }

    #[test]
    fn a_recomputed_edit_breaks_the_next_link() {
        let mut l = log(5);
        l[2].actor = Some("mallory".into());
        l[2].hash = l[2].compute_hash();
        let b = verify(&l).unwrap_err();
        assert_eq!(b.seq, 4);
        assert!(b.reason.contains("prev"), "{b}");
    }

    #[test]
    fn deletion_reorder_and_insertion_are_named() {
        let l = log(6);
        let mut deleted = l.clone();
        deleted.remove(3);
        assert_eq!(verify(&deleted).unwrap_err().seq, 4);

        let mut reordered = l.clone();
        reordered.swap(1, 2);
        assert_eq!(verify(&reordered).unwrap_err().seq, 2);

        let mut inserted = l.clone();
        let mut forged = chain(&Head::of(&l[1]), vec![draft(99)]).remove(0);
        forged.seq = 3;
        inserted.insert(2, forged);
        // Record 3 is the forged one, which links fine; the real 3 then comes again.
        let b = verify(&inserted).unwrap_err();
        assert_eq!(b.seq, 4, "{b}");
    }

    #[test]
    fn unreadable_items_break_where_they_are() {
        let l = log(3);
        let mut v = Verifier::new();
        v.check(&l[0]).unwrap();
        let b = v
            .check_stored(&Stored::Unreadable {
                place: "line 2".into(),
                reason: "torn".into(),
            })
            .unwrap_err();
        assert_eq!(b.seq, 2);
        assert!(b.reason.contains("line 2"));
    }

    /// A record written before actions existed (entry id, handle and event at the top
    /// level) reads back and hashes the same.
    #[test]
    fn a_record_from_before_actions_still_verifies() {
        let line = r#"{"seq":1,"at":"2026-12-01T10:00:00.000Z","actor":"ann","origin":"cli","entryId":"0190b3c2-6a3c-7d2e-8f00-000000000001","handle":1,"what":{"type":"created"},"prev":"0000000000000000000000000000000000000000000000000000000000000000","hash":"x"}"#;
        let mut r: AuditRecord = serde_json::from_str(line).unwrap();
        assert_eq!(r.what, EventKind::Created);
        assert_eq!(r.handle, Some(1));
        // The canonical form is the old one: no new keys appear for entry records.
        let canon = String::from_utf8(r.canonical()).unwrap();
        assert_eq!(
            canon,
            r#"{"actor":"ann","at":"2026-12-01T10:00:00.000Z","entryId":"0190b3c2-6a3c-7d2e-8f00-000000000001","handle":1,"origin":"cli","prev":"0000000000000000000000000000000000000000000000000000000000000000","seq":1,"what":{"type":"created"}}"#
        );
        r.hash = r.compute_hash();
        assert_eq!(verify(&[r]), Ok(()));
    }

    fn token_draft(i: u64) -> Draft {
        Draft::action(
            Timestamp::from_millis(1_700_000_100_000 + i as i64).unwrap(),
            Some("admin".into()),
            Origin::Cli,
            Action::TokenCreated {
                token_id: format!("t{i}"),
                name: "ci".into(),
                role: Role::Editor,
                scope: None,
                expires_at: None,
            },
        )
    }

    /// `n` entry records, a checkpoint, then `m` more records.
    fn signed_log(key: &AuditKey, n: u64, m: u64) -> Vec<AuditRecord> {
        let mut l = log(n);
        let at = Timestamp::from_millis(1_700_000_200_000).unwrap();
        let head = Head::of(l.last().unwrap());
        l.extend(chain(&head, vec![key.checkpoint(&head, at, None)]));
        let head = Head::of(l.last().unwrap());
        l.extend(chain(&head, (0..m).map(token_draft).collect()));
        l
    }

    fn check_all(v: &mut Verifier, l: &[AuditRecord]) -> Result<(), Break> {
        l.iter().try_for_each(|r| v.check(r))
    }

    #[test]
    fn actions_round_trip_and_chain_with_entry_records() {
        let (key, _) = AuditKey::generate();
        let l = signed_log(&key, 3, 2);
        for r in &l {
            let back: AuditRecord = serde_json::from_str(&r.to_line()).unwrap();
            assert_eq!(&back, r);
        }
        assert_eq!(l[3].what.name(), "checkpoint");
        assert_eq!(l[4].what.name(), "token-created");
        assert!(
            l[4].to_line()
                .contains(r#""what":{"action":"token-created""#)
        );
        assert_eq!(l[4].entry_id, None);
        assert!(!l[4].to_line().contains("entryId"));
        let mut v = Verifier::with_key(key.public());
        check_all(&mut v, &l).unwrap();
        assert_eq!(v.checkpoints(), 1);
        assert_eq!(v.last_checkpoint().unwrap().seq, 4);
        assert_eq!(v.unsigned_tail(), 2);
    }

    #[test]
    fn a_checkpoint_by_another_key_is_forged() {
        let (key, _) = AuditKey::generate();
        let (mallory, _) = AuditKey::generate();
        // A whole log rewritten and re-signed by someone without the server's key.
        let l = signed_log(&mallory, 3, 1);
        let b = check_all(&mut Verifier::with_key(key.public()), &l).unwrap_err();
        assert_eq!(b.seq, 4);
        assert!(b.reason.contains("forged"), "{b}");
        // Unpinned, the first checkpoint's key is taken; a later one by another key is not.
        let mut l = signed_log(&key, 2, 0);
        let head = Head::of(l.last().unwrap());
        let at = Timestamp::from_millis(1).unwrap();
        l.extend(chain(&head, vec![mallory.checkpoint(&head, at, None)]));
        let b = check_all(&mut Verifier::new(), &l).unwrap_err();
        assert_eq!(b.seq, 4);
        assert!(b.reason.contains("first checkpoint"), "{b}");
    }

    #[test]
    fn an_edited_signature_or_a_moved_checkpoint_is_caught() {
        let (key, _) = AuditKey::generate();
        let l = signed_log(&key, 3, 1);
        // The signature changed and the hashes recomputed (a rewrite without the key).
        let mut t = l.clone();
        if let What::Action(Action::Checkpoint { signature, .. }) = &mut t[3].what {
            let flipped = if signature.starts_with('0') { "1" } else { "0" };
            signature.replace_range(0..1, flipped);
        }
        t[3].hash = t[3].compute_hash();
        let b = check_all(&mut Verifier::with_key(key.public()), &t).unwrap_err();
        assert_eq!(b.seq, 4);
        assert!(b.reason.contains("signature does not verify"), "{b}");
        // An entry record before the checkpoint rewritten, every hash after it recomputed:
        // the checkpoint's signature no longer covers the chain.
        let mut t = l.clone();
        t[1].actor = Some("mallory".into());
        let mut head = Head::of(&t[0]);
        for r in &mut t[1..] {
            r.prev = head.hash.clone();
            r.hash = r.compute_hash();
            head = Head::of(r);
        }
        let b = check_all(&mut Verifier::with_key(key.public()), &t).unwrap_err();
        assert_eq!(b.seq, 4, "{b}");
        assert!(b.reason.contains("signature"), "{b}");
        // A checkpoint that says it covers another record.
        let mut t = l.clone();
        if let What::Action(Action::Checkpoint { covers, .. }) = &mut t[3].what {
            *covers = 2;
        }
        t[3].hash = t[3].compute_hash();
        let b = check_all(&mut Verifier::new(), &t).unwrap_err();
        assert!(b.reason.contains("checkpoint of record 2"), "{b}");
    }

    #[test]
    fn keys_round_trip_and_bad_keys_are_refused() {
        let (key, text) = AuditKey::generate();
        let again = AuditKey::from_hex(&format!(" {text}\n")).unwrap();
        assert_eq!(again.public(), key.public());
        assert_eq!(key.public_hex().parse::<PublicKey>().unwrap(), key.public());
        assert_eq!(AuditKey::from_hex("zz").unwrap_err(), BadKey);
        assert!("abcd".parse::<PublicKey>().is_err());
        assert!(!format!("{key:?}").contains(&text));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Any single change to a chain — a field edited, a record removed, two swapped, one
        /// duplicated — is caught, and at or before the record that was touched.
        #[test]
        fn any_tampering_is_caught(n in 2u64..30, pick in 0usize..1000, what in 0u8..5, text in "[a-z]{1,8}") {
            let l = log(n);
            let i = pick % l.len();
            let mut t = l.clone();
            match what {
                0 => t[i].actor = Some(format!("{text}!")),
                1 => { t.remove(i); }
                2 => { let j = (i + 1) % t.len(); if i == j { t.remove(i); } else { t.swap(i, j); } }
                3 => { let r = t[i].clone(); t.insert(i, r); }
                _ => t[i].at = Timestamp::from_millis(t[i].at.millis() + 1).unwrap(),
            }
            match verify(&t) {
                Ok(()) => {
                    // Only cutting off the tail leaves a valid chain.
                    prop_assert!(what == 1 && i == l.len() - 1, "{what} at {i} not caught");
                }
                Err(b) => prop_assert!(b.seq as usize <= i + 2, "{b} for {what} at {i}"),
            }
        }
    }
}
