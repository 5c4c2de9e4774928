//! The push planner: what one integration must do for a set of entries, decided from a
//! snapshot of local state alone. Pure — no store, no sync state, no remote, no clock — so
//! `devlog sync --plan` and the push make the same decision (the push builds a snapshot of
//! one entry, calls [`decide`], then performs the actions under the exactly-once protocol).

use std::collections::BTreeSet;

use devlog_core::event::{Event, is_echo_of};
use devlog_core::id::EntryId;
use devlog_core::merge::{FieldSet, SyncedFields};
use serde::Serialize;

/// Where an entry's link to its remote item stands: the sync state's own type.
pub use devlog_core::sync_state::{LinkState, NoteLinkState, WorklogLinkState};

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
    /// `Linked`; `Creating`: a comment create was announced and may have reached the remote
    /// (the push looks its marker up first); `Deleted`: the note or its comment was deleted.
    pub state: NoteLinkState,
    /// Hash of the text both sides last agreed on.
    pub hash: Option<String>,
}

/// A worklog of the entry: its id, the hash of its day, minutes and note
/// ([`crate::engine::worklog_hash`]), and whether it was pulled from a remote (logged there by
/// someone else: never pushed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorklogSnapshot {
    pub id: String,
    pub hash: String,
    pub pulled: bool,
}

/// A worklog's remote mirror, as the planner needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorklogLinkSnapshot {
    pub worklog_id: String,
    /// `Creating`: a create was announced and may have reached the remote (the push looks its
    /// marker up first); `Pulled`: a remote worklog mirrored here, never pushed.
    pub state: WorklogLinkState,
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
    pub worklogs: Vec<WorklogSnapshot>,
    pub worklog_links: Vec<WorklogLinkSnapshot>,
}

/// What the planner decides from: one integration and the entries to consider.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// Whether the integration mirrors notes as comments.
    pub syncs_notes: bool,
    /// Whether the integration mirrors worklogs.
    pub syncs_worklogs: bool,
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
    /// Post these notes as comments (`create`, in the entry's order), follow the edits of
    /// these (`update`) and delete the comments of these notes, deleted here (`delete`).
    /// `remote_id` is `None` when the item is the one created just before.
    Notes {
        entry: EntryId,
        remote_id: Option<String>,
        create: Vec<String>,
        update: Vec<String>,
        delete: Vec<String>,
    },
    /// Log these worklogs on the remote item (`create`), rewrite the remote worklogs of these
    /// (`update`, edited here) and delete those of these (`delete`, deleted here). Pulled
    /// worklogs are never among them. `remote_id` as for `Notes`.
    Worklogs {
        entry: EntryId,
        remote_id: Option<String>,
        create: Vec<String>,
        update: Vec<String>,
        delete: Vec<String>,
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
            | PushAction::Worklogs { entry, .. }
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
        decide_entry(snapshot.syncs_notes, snapshot.syncs_worklogs, e, &mut out);
    }
    out
}

/// The worklog step of an entry linked to `remote_id` (`None`: created just before), if any.
fn worklogs(e: &EntrySnapshot, remote_id: Option<String>) -> Option<PushAction> {
    let (mut create, mut update) = (Vec::new(), Vec::new());
    for w in e.worklogs.iter().filter(|w| !w.pulled) {
        match e.worklog_links.iter().find(|l| l.worklog_id == w.id) {
            Some(l) if l.state == WorklogLinkState::Linked => {
                if l.hash.as_deref() != Some(w.hash.as_str()) {
                    update.push(w.id.clone());
                }
            }
            Some(l) if l.state == WorklogLinkState::Pulled => {}
            // New, maybe created (`creating`), or restored after a deletion.
            _ => create.push(w.id.clone()),
        }
    }
    // Pushed (or maybe pushed) worklogs that are gone here: their remote worklogs go too.
    let delete: Vec<String> = e
        .worklog_links
        .iter()
        .filter(|l| {
            matches!(
                l.state,
                WorklogLinkState::Linked | WorklogLinkState::Creating
            )
        })
        .filter(|l| !e.worklogs.iter().any(|w| w.id == l.worklog_id))
        .map(|l| l.worklog_id.clone())
        .collect();
    if create.is_empty() && update.is_empty() && delete.is_empty() {
        return None;
    }
    Some(PushAction::Worklogs {
        entry: e.id,
        remote_id,
        create,
        update,
        delete,
    })
}

fn decide_entry(
    syncs_notes: bool,
    syncs_worklogs: bool,
    e: &EntrySnapshot,
    out: &mut Vec<PushAction>,
) {
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
                Some(l) if l.state == NoteLinkState::Linked => {
                    if l.hash.as_deref() != Some(n.hash.as_str()) {
                        update.push(n.id.clone());
                    }
                }
                _ => create.push(n.id.clone()),
            }
        }
        // Mirrored (or maybe mirrored) notes that are gone here: their comments go too.
        let delete: Vec<String> = e
            .note_links
            .iter()
            .filter(|l| l.state != NoteLinkState::Deleted)
            .filter(|l| !e.notes.iter().any(|n| n.id == l.note_id))
            .map(|l| l.note_id.clone())
            .collect();
        if create.is_empty() && update.is_empty() && delete.is_empty() {
            return false;
        }
        out.push(PushAction::Notes {
            entry,
            remote_id,
            create,
            update,
            delete,
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
            let noted = notes(Some(remote_id.clone()), out);
            let logged = match worklogs(e, Some(remote_id)).filter(|_| syncs_worklogs) {
                Some(a) => {
                    out.push(a);
                    true
                }
                None => false,
            };
            if !noted && !logged && !updating {
                out.push(PushAction::Skip {
                    entry,
                    reason: SkipReason::Unchanged,
                });
            }
        }
        None => {
            out.push(PushAction::Create { entry });
            notes(None, out);
            if syncs_worklogs {
                out.extend(worklogs(e, None));
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use devlog_core::entry::{EntryType, Priority, Status};
    use devlog_core::event::{EventKind, Origin, SyncActor};
    use devlog_core::merge::SyncedField;
    use devlog_core::time::Timestamp;
    use proptest::prelude::*;

    const NAME: &str = "tracker";

    fn id(i: usize) -> EntryId {
        EntryId::from_legacy(i as u64 + 1, "2024-01-01T00:00:00.000Z")
    }

    fn fields() -> impl Strategy<Value = SyncedFields> {
        (
            prop::sample::select(vec!["A", "B"]),
            prop::sample::select(vec!["", "d"]),
            prop::sample::select(Status::ALL.to_vec()),
            prop::sample::select(Priority::ALL.to_vec()),
            prop::sample::select(EntryType::ALL.to_vec()),
            prop::option::of(prop::sample::select(vec!["ana", "bo"])),
            prop::sample::subsequence(vec!["api", "ui"], 0..=2),
            prop::option::of(prop::sample::select(vec!["v1", "v2"])),
        )
            .prop_map(|(t, d, s, p, k, a, tags, m)| SyncedFields {
                title: t.into(),
                description: d.into(),
                status: s,
                priority: p,
                kind: k,
                assignee: a.map(String::from),
                tags: tags.into_iter().map(String::from).collect(),
                milestone: m.map(String::from),
                estimated_hours: None,
                actual_hours: None,
                acceptance_criteria: None,
                due_date: None,
                points: None,
            })
    }

    fn field_set() -> impl Strategy<Value = FieldSet> {
        prop::sample::subsequence(SyncedField::ALL.to_vec(), 0..=SyncedField::ALL.len())
            .prop_map(|v| v.into_iter().collect())
    }

    fn link() -> impl Strategy<Value = Option<LinkSnapshot>> {
        prop::option::of(
            (
                prop::sample::select(vec![
                    LinkState::Creating,
                    LinkState::Linked,
                    LinkState::Unlinked,
                ]),
                prop::option::of(fields()),
            )
                .prop_map(|(state, base)| LinkSnapshot {
                    state,
                    remote_id: (state != LinkState::Creating).then(|| "r1".to_string()),
                    base,
                }),
        )
    }

    fn entry(i: usize) -> impl Strategy<Value = EntrySnapshot> {
        let notes = prop::sample::subsequence(vec!["n1", "n2", "n3"], 0..=3);
        let note_links = prop::collection::vec(
            (
                prop::sample::select(vec!["n1", "n2", "n3"]),
                prop::sample::select(NoteLinkState::ALL.to_vec()),
                prop::option::of(prop::sample::select(vec!["h-n1", "old"])),
            ),
            0..3,
        );
        // w3 was pulled from the remote (logged there by someone else).
        let worklogs = prop::sample::subsequence(vec!["w1", "w2", "w3"], 0..=3);
        let worklog_links = prop::collection::vec(
            (
                prop::sample::select(vec!["w1", "w2", "w3"]),
                prop::sample::select(WorklogLinkState::ALL.to_vec()),
                prop::option::of(prop::sample::select(vec!["h-w1", "old"])),
            ),
            0..3,
        );
        (
            (
                prop::option::weighted(0.9, fields()),
                notes,
                link(),
                field_set(),
                note_links,
            ),
            worklogs,
            worklog_links,
        )
            .prop_map(
                move |((fields, notes, link, held, note_links), worklogs, worklog_links)| {
                    let mut seen = BTreeSet::new();
                    let mut seen_w = BTreeSet::new();
                    EntrySnapshot {
                        id: id(i),
                        handle: i as u64 + 1,
                        title: format!("entry {i}"),
                        fields,
                        notes: notes
                            .into_iter()
                            .map(|n| NoteSnapshot {
                                id: n.into(),
                                hash: format!("h-{n}"),
                            })
                            .collect(),
                        link,
                        held,
                        // One link per note, as the sync state keys them.
                        note_links: note_links
                            .into_iter()
                            .filter(|(n, _, _)| seen.insert(*n))
                            .map(|(n, state, hash)| NoteLinkSnapshot {
                                note_id: n.into(),
                                state,
                                hash: hash.map(String::from),
                            })
                            .collect(),
                        worklogs: worklogs
                            .into_iter()
                            .map(|w| WorklogSnapshot {
                                id: w.into(),
                                hash: format!("h-{w}"),
                                pulled: w == "w3",
                            })
                            .collect(),
                        worklog_links: worklog_links
                            .into_iter()
                            .filter(|(w, _, _)| seen_w.insert(*w))
                            .map(|(w, state, hash)| WorklogLinkSnapshot {
                                worklog_id: w.into(),
                                state,
                                hash: hash.map(String::from),
                            })
                            .collect(),
                    }
                },
            )
    }

    fn snapshot() -> impl Strategy<Value = Snapshot> {
        (
            any::<bool>(),
            any::<bool>(),
            (0usize..5).prop_flat_map(|n| (0..n).map(entry).collect::<Vec<_>>()),
        )
            .prop_map(|(syncs_notes, syncs_worklogs, entries)| Snapshot {
                syncs_notes,
                syncs_worklogs,
                entries,
            })
    }

    /// What performing `actions` leaves in the sync state, as the push records it (a
    /// recovered create is found with the entry's fields).
    fn apply(s: &Snapshot, actions: &[PushAction]) -> Snapshot {
        let mut s = s.clone();
        for a in actions {
            let Some(e) = s.entries.iter_mut().find(|e| e.id == a.entry()) else {
                continue;
            };
            let Some(fields) = e.fields.clone() else {
                continue;
            };
            match a {
                PushAction::Create { .. } | PushAction::Recover { .. } => {
                    e.link = Some(LinkSnapshot {
                        state: LinkState::Linked,
                        remote_id: Some(format!("r-{}", e.id)),
                        base: Some(fields),
                    });
                }
                PushAction::Update { fields: sent, .. } => {
                    if let Some(l) = &mut e.link {
                        let mut base = l.base.clone().unwrap_or_else(|| fields.clone());
                        base.copy_from(&fields, sent);
                        l.base = Some(base);
                    }
                }
                PushAction::Notes {
                    create,
                    update,
                    delete,
                    ..
                } => {
                    for n in create.iter().chain(update) {
                        let hash = e.notes.iter().find(|x| &x.id == n).map(|x| x.hash.clone());
                        e.note_links.retain(|l| &l.note_id != n);
                        e.note_links.push(NoteLinkSnapshot {
                            note_id: n.clone(),
                            state: NoteLinkState::Linked,
                            hash,
                        });
                    }
                    for l in &mut e.note_links {
                        if delete.contains(&l.note_id) {
                            l.state = NoteLinkState::Deleted;
                        }
                    }
                }
                PushAction::Worklogs {
                    create,
                    update,
                    delete,
                    ..
                } => {
                    for w in create.iter().chain(update) {
                        let hash = e
                            .worklogs
                            .iter()
                            .find(|x| &x.id == w)
                            .map(|x| x.hash.clone());
                        e.worklog_links.retain(|l| &l.worklog_id != w);
                        e.worklog_links.push(WorklogLinkSnapshot {
                            worklog_id: w.clone(),
                            state: WorklogLinkState::Linked,
                            hash,
                        });
                    }
                    for l in &mut e.worklog_links {
                        if delete.contains(&l.worklog_id) {
                            l.state = WorklogLinkState::Deleted;
                        }
                    }
                }
                PushAction::Skip { .. } => {}
            }
        }
        s
    }

    proptest! {
        #[test]
        fn pulled_worklogs_are_never_pushed(s in snapshot()) {
            for a in decide(&s) {
                if let PushAction::Worklogs { entry, create, update, delete, .. } = a {
                    prop_assert!(s.syncs_worklogs);
                    let e = s.entries.iter().find(|e| e.id == entry).unwrap();
                    for w in create.iter().chain(&update) {
                        prop_assert!(e.worklogs.iter().any(|x| &x.id == w && !x.pulled), "{w}");
                    }
                    for w in &delete {
                        let l = e.worklog_links.iter().find(|l| &l.worklog_id == w).unwrap();
                        prop_assert!(l.state != WorklogLinkState::Pulled, "{w}");
                    }
                }
            }
        }
    }

    proptest! {
        #[test]
        fn a_plan_applied_leaves_nothing_to_do(s in snapshot()) {
            let actions = decide(&s);
            let mut after = apply(&s, &actions);
            if actions.iter().any(|a| matches!(a, PushAction::Recover { .. })) {
                // As the push does: what follows a recovery is decided on the adopted item.
                let rest = decide(&after);
                prop_assert!(rest.iter().all(|a| !matches!(a, PushAction::Recover { .. } | PushAction::Create { .. })), "{rest:?}");
                after = apply(&after, &rest);
            }
            let again = decide(&after);
            prop_assert!(again.iter().all(|a| !a.is_remote()), "{actions:?} then {again:?}");
        }

        #[test]
        fn a_plan_never_creates_twice_for_one_entry(s in snapshot()) {
            let actions = decide(&s);
            for e in &s.entries {
                let creates = actions
                    .iter()
                    .filter(|a| a.entry() == e.id)
                    .filter(|a| matches!(a, PushAction::Create { .. } | PushAction::Recover { .. }))
                    .count();
                prop_assert!(creates <= 1, "{actions:?}");
                // A linked or unlinked entry is never created again.
                if e.link.as_ref().is_some_and(|l| l.state != LinkState::Creating) {
                    prop_assert_eq!(creates, 0);
                }
            }
        }

        #[test]
        fn held_fields_are_never_sent(s in snapshot()) {
            for a in decide(&s) {
                if let PushAction::Update { entry, fields, .. } = a {
                    let held = s.entries.iter().find(|e| e.id == entry).map(|e| e.held).unwrap_or_default();
                    prop_assert!(fields.iter().all(|f| !held.contains(f)), "{fields:?} held {held:?}");
                    prop_assert!(!fields.is_empty());
                }
            }
        }

        #[test]
        fn an_echo_of_the_integrations_own_write_never_resends(s in snapshot()) {
            // A pull applied the remote's fields and recorded them as the base: the entry now
            // equals its base, and the write's feed event is the integration's own.
            let mut s = s;
            for e in &mut s.entries {
                if let (Some(l), Some(f)) = (&mut e.link, &e.fields)
                    && l.state == LinkState::Linked
                {
                    l.base = Some(f.clone());
                }
            }
            for a in decide(&s) {
                prop_assert!(!matches!(a, PushAction::Update { .. }), "{a:?}");
            }
        }

        #[test]
        fn echo_events_select_no_entry(
            events in prop::collection::vec((0usize..4, 0usize..4), 0..12)
        ) {
            // 0: our own write (echo), 1: another integration's, 2: a remote action through us,
            // 3: a person's.
            let evs: Vec<Event> = events
                .iter()
                .map(|(entry, who)| {
                    let (origin, actor) = match who {
                        0 => (Origin::Sync, Some(SyncActor::integration(NAME).to_string())),
                        1 => (Origin::Sync, Some(SyncActor::integration("other").to_string())),
                        2 => (Origin::Sync, Some(SyncActor::action(NAME, "pr:1:merged").to_string())),
                        _ => (Origin::Cli, None),
                    };
                    Event {
                        seq: 1,
                        entry_id: id(*entry),
                        handle: 1,
                        at: Timestamp::from_millis(0).unwrap(),
                        origin,
                        actor,
                        change: None,
                        kind: EventKind::Created,
                    }
                })
                .collect();
            let picked = changed_entries(&evs, NAME);
            for i in 0..4 {
                let news = events.iter().any(|(e, who)| *e == i && *who != 0);
                prop_assert_eq!(picked.contains(&id(i)), news);
            }
        }
    }

    #[test]
    fn a_deleted_entry_and_an_unlinked_one_are_skipped() {
        let e = |fields: Option<SyncedFields>, state| EntrySnapshot {
            id: id(0),
            handle: 1,
            title: String::new(),
            fields,
            notes: Vec::new(),
            link: Some(LinkSnapshot {
                state,
                remote_id: Some("r".into()),
                base: None,
            }),
            held: FieldSet::EMPTY,
            note_links: Vec::new(),
            worklogs: Vec::new(),
            worklog_links: Vec::new(),
        };
        let f = SyncedFields {
            title: "t".into(),
            description: String::new(),
            status: Status::New,
            priority: Priority::Medium,
            kind: EntryType::Task,
            assignee: None,
            tags: Vec::new(),
            milestone: None,
            estimated_hours: None,
            actual_hours: None,
            acceptance_criteria: None,
            due_date: None,
            points: None,
        };
        let plan = |e| {
            decide(&Snapshot {
                syncs_notes: true,
                syncs_worklogs: true,
                entries: vec![e],
            })
        };
        assert_eq!(
            plan(e(None, LinkState::Linked)),
            vec![PushAction::Skip {
                entry: id(0),
                reason: SkipReason::Deleted
            }]
        );
        assert_eq!(
            plan(e(Some(f.clone()), LinkState::Unlinked)),
            vec![PushAction::Skip {
                entry: id(0),
                reason: SkipReason::Unlinked
            }]
        );
        // Linked without a base: every field is sent.
        assert_eq!(
            plan(e(Some(f), LinkState::Linked)),
            vec![PushAction::Update {
                entry: id(0),
                remote_id: "r".into(),
                fields: FieldSet::all()
            }]
        );
    }
}
