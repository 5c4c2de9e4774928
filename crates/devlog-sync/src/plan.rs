//! The push planner: what one integration must do for a set of entries, decided from a
//! snapshot of local state alone. Pure — no store, no sync state, no remote, no clock — so
//! `devlog sync --plan` and the push make the same decision (the push builds a snapshot of
//! one entry, calls [`decide`], then performs the actions under the exactly-once protocol).

use std::collections::BTreeSet;

use devlog_core::event::{Event, is_echo_of};
use devlog_core::id::EntryId;
use devlog_core::merge::{FieldSet, SyncedFields};
use serde::Serialize;

/// Where an entry's link to its remote item stands, as the planner needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LinkState {
    /// A create was announced and may or may not have reached the remote.
    Creating,
    Linked,
    /// Unlinked on purpose (`devlog github unlink`): never pushed again.
    Unlinked,
}

impl LinkState {
    /// The state as the sync state stores it; an unknown value is treated as no link at all
    /// (a create under the marker protocol, which finds an existing item instead of duplicating).
    pub fn from_stored(s: &str) -> Option<Self> {
        match s {
            "creating" => Some(LinkState::Creating),
            "linked" => Some(LinkState::Linked),
            "unlinked" => Some(LinkState::Unlinked),
            _ => None,
        }
    }
}

/// An entry's link, as the planner needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkSnapshot {
    pub state: LinkState,
    pub remote_id: Option<String>,
    /// The fields both sides held at the last sync.
    pub base: Option<SyncedFields>,
}

/// A note of the entry: its id and the hash of its text ([`crate::engine::text_hash`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSnapshot {
    pub id: String,
    pub hash: String,
}

/// A note's mirror comment, as the planner needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteLinkSnapshot {
    pub note_id: String,
    /// `true`: linked; `false`: a comment create was announced and may have reached the
    /// remote (the push looks its marker up first).
    pub linked: bool,
    /// Hash of the text both sides last agreed on.
    pub hash: Option<String>,
}

/// One entry as the planner sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct EntrySnapshot {
    pub id: EntryId,
    pub handle: u64,
    pub title: String,
    /// `None`: the entry no longer exists locally.
    pub fields: Option<SyncedFields>,
    pub notes: Vec<NoteSnapshot>,
    pub link: Option<LinkSnapshot>,
    /// Fields held back by open conflicts: never sent until resolved.
    pub held: FieldSet,
    pub note_links: Vec<NoteLinkSnapshot>,
}

/// What the planner decides from: one integration and the entries to consider.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// Whether the integration mirrors notes as comments.
    pub syncs_notes: bool,
    pub entries: Vec<EntrySnapshot>,
}

/// Why an entry needs nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SkipReason {
    /// Unlinked on purpose: no new item is created for it.
    Unlinked,
    /// Deleted locally (remote deletion is a later feature).
    Deleted,
    /// Linked and in step with the remote.
    Unchanged,
}

/// One step of a push, in the order the push performs them.
#[derive(Debug, Clone, PartialEq)]
pub enum PushAction {
    /// Announce (`creating`), then create the remote item with the entry's marker.
    Create { entry: EntryId },
    /// An earlier create may have reached the remote: look the marker up and adopt the item,
    /// else create. What follows adoption is decided again on the adopted item.
    Recover { entry: EntryId },
    /// Send these fields (changed since the base, none of them held) to the linked item.
    Update {
        entry: EntryId,
        remote_id: String,
        fields: FieldSet,
    },
    /// Post these notes as comments (`create`, in the entry's order) and follow the edits of
    /// these (`update`). `remote_id` is `None` when the item is the one created just before.
    Notes {
        entry: EntryId,
        remote_id: Option<String>,
        create: Vec<String>,
        update: Vec<String>,
    },
    /// Nothing to send.
    Skip { entry: EntryId, reason: SkipReason },
}

impl PushAction {
    pub fn entry(&self) -> EntryId {
        match self {
            PushAction::Create { entry }
            | PushAction::Recover { entry }
            | PushAction::Update { entry, .. }
            | PushAction::Notes { entry, .. }
            | PushAction::Skip { entry, .. } => *entry,
        }
    }

    /// Whether the action talks to the remote (everything but `Skip`).
    pub fn is_remote(&self) -> bool {
        !matches!(self, PushAction::Skip { .. })
    }
}

/// The actions for every entry of the snapshot, entry by entry in snapshot order.
pub fn decide(snapshot: &Snapshot) -> Vec<PushAction> {
    let mut out = Vec::new();
    for e in &snapshot.entries {
        decide_entry(snapshot.syncs_notes, e, &mut out);
    }
    out
}

fn decide_entry(syncs_notes: bool, e: &EntrySnapshot, out: &mut Vec<PushAction>) {
    let entry = e.id;
    let Some(fields) = &e.fields else {
        out.push(PushAction::Skip {
            entry,
            reason: SkipReason::Deleted,
        });
        return;
    };
    let notes = |remote_id: Option<String>, out: &mut Vec<PushAction>| {
        if !syncs_notes {
            return false;
        }
        let (mut create, mut update) = (Vec::new(), Vec::new());
        for n in &e.notes {
            match e.note_links.iter().find(|l| l.note_id == n.id) {
                Some(l) if l.linked => {
                    if l.hash.as_deref() != Some(n.hash.as_str()) {
                        update.push(n.id.clone());
                    }
                }
                _ => create.push(n.id.clone()),
            }
        }
        if create.is_empty() && update.is_empty() {
            return false;
        }
        out.push(PushAction::Notes {
            entry,
            remote_id,
            create,
            update,
        });
        true
    };
    match &e.link {
        Some(l) if l.state == LinkState::Unlinked => out.push(PushAction::Skip {
            entry,
            reason: SkipReason::Unlinked,
        }),
        Some(l) if l.state == LinkState::Creating => out.push(PushAction::Recover { entry }),
        Some(l) => {
            let remote_id = l.remote_id.clone().unwrap_or_default();
            let changed = fields.changed_since(l.base.as_ref()).without(e.held);
            let updating = !changed.is_empty();
            if updating {
                out.push(PushAction::Update {
                    entry,
                    remote_id: remote_id.clone(),
                    fields: changed,
                });
            }
            if !notes(Some(remote_id), out) && !updating {
                out.push(PushAction::Skip {
                    entry,
                    reason: SkipReason::Unchanged,
                });
            }
        }
        None => {
            out.push(PushAction::Create { entry });
            notes(None, out);
        }
    }
}

/// The entries a batch of change-feed events asks `integration` to look at: every entry
/// changed by anyone but the integration itself (its own writes coming back are echoes).
pub fn changed_entries(events: &[Event], integration: &str) -> BTreeSet<EntryId> {
    events
        .iter()
        .filter(|e| !is_echo_of(e, integration))
        .map(|e| e.entry_id)
        .collect()
}
