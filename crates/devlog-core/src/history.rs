//! An entry's history and undo (issue 16): its changes read from the change feed
//! ([`Store::entry_events`]), undo as a new change that reverts earlier ones (history is never
//! rewritten), and editing or deleting a note (kept in history, undoable).
//!
//! A *change* is one write: the events that share [`Event::change`] (older feeds, written
//! before events carried it, are grouped by time, origin and actor). History lists changes
//! newest first.
//!
//! What undo reverts, per event kind: a field back to its old value (`FieldChanged` carries
//! both), a status back with its old `closedAt` (`StatusChanged`), an added note or decision
//! removed, an edited note's text and a deleted note (at its old position) restored. What it
//! refuses: the creation of an entry (delete it instead) and a link to a remote item (sync's
//! record: `devlog github unlink`). Undoing changes that sync pulled is allowed; the reverting
//! change is an ordinary local change, pushed back like any other.

use serde::Serialize;
use serde_json::Value;

use crate::entry::{Entry, Note, Status};
use crate::error::{Result, StoreError};
use crate::event::{Event, EventKind, Origin, WriteMeta};
use crate::id::EntryId;
use crate::ops::{Devlog, check_seq, check_text};
use crate::time::Timestamp;

/// Most changes one history request returns.
pub const MAX_HISTORY: usize = 1000;

/// Most events `undo --to` reverts in one go.
pub const MAX_UNDO_EVENTS: usize = 10_000;

/// Events read per page when walking an entry's history backwards.
const PAGE: usize = 256;

/// One write to an entry: its events, who made it and when.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    /// The `seq` of the change's first event (`undo --to` takes it).
    pub seq: u64,
    /// The `seq` of its last event.
    pub last_seq: u64,
    pub at: Timestamp,
    pub origin: Origin,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// What changed, in the order the write's events were recorded.
    pub events: Vec<EventKind>,
}

impl Change {
    /// Who made the change: `cli`, `mcp (claude)`, `sync (sync:github)`.
    pub fn author(&self) -> String {
        match &self.actor {
            Some(a) => format!("{} ({a})", self.origin.as_str()),
            None => self.origin.as_str().to_string(),
        }
    }

    fn same_author(&self, other: &Change) -> bool {
        self.origin == other.origin && self.actor == other.actor
    }
}

/// An entry's history: its newest changes, newest first.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct History {
    pub id: EntryId,
    pub handle: u64,
    pub title: String,
    /// Newest first.
    pub changes: Vec<Change>,
    /// Older changes exist beyond `limit`.
    pub more: bool,
}

/// What `undo` reverted.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Undone {
    pub entry: Entry,
    /// The changes reverted, newest first.
    pub reverted: Vec<Change>,
}

/// What to undo.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UndoRequest {
    /// Revert every change after the change holding this event; `None`: the last change.
    pub to: Option<u64>,
    /// Revert even when a later change by someone else touched the same field, or the entry
    /// no longer holds what a change wrote.
    pub force: bool,
}

/// Groups an entry's events (oldest first) into changes (oldest first).
pub fn changes(events: Vec<Event>) -> Vec<Change> {
    let mut out: Vec<(Option<String>, Change)> = Vec::new();
    for ev in events {
        if let Some((change, last)) = out.last_mut() {
            let same = match (change.as_deref(), ev.change.as_deref()) {
                (Some(a), Some(b)) => a == b,
                (None, None) => {
                    last.at == ev.at && last.origin == ev.origin && last.actor == ev.actor
                }
                _ => false,
            };
            if same {
                last.last_seq = ev.seq;
                last.events.push(ev.kind);
                continue;
            }
        }
        out.push((
            ev.change,
            Change {
                seq: ev.seq,
                last_seq: ev.seq,
                at: ev.at,
                origin: ev.origin,
                actor: ev.actor,
                events: vec![ev.kind],
            },
        ));
    }
    out.into_iter().map(|(_, c)| c).collect()
}

/// One step of an undo, applied to the entry inside the store's atomic update.
#[derive(Debug, Clone)]
enum Step {
    /// Set a (dotted) field back to `to`; it should hold `expect` (what the change wrote).
    Field {
        path: String,
        to: Value,
        expect: Value,
    },
    Status {
        to: Status,
        expect: Status,
        closed_at: Option<Timestamp>,
    },
    RemoveNote(String),
    RemoveDecision(String),
    NoteText {
        id: String,
        to: String,
        expect: String,
    },
    RestoreNote {
        note: Note,
        position: usize,
    },
}

impl Step {
    /// What the step touches, for the "changed later by someone else" check.
    fn target(&self) -> String {
        match self {
            Step::Field { path, .. } => format!("`{path}`"),
            Step::Status { .. } => "`status`".into(),
            Step::RemoveNote(id)
            | Step::RestoreNote {
                note: Note { id, .. },
                ..
            } => {
                format!("note {}", short(id))
            }
            Step::NoteText { id, .. } => format!("note {}", short(id)),
            Step::RemoveDecision(id) => format!("decision {}", short(id)),
        }
    }
}

/// The first 8 characters of a note or decision id, as history shows them.
pub fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

/// One event in words, for history listings (`devlog log`, MCP `get_entry_history`): values
/// as JSON, each cut to `max` characters.
pub fn describe(kind: &EventKind, max: usize) -> String {
    let cut = |v: &str| -> String {
        if v.chars().count() > max {
            let mut s: String = v.chars().take(max.saturating_sub(1)).collect();
            s.push('…');
            s
        } else {
            v.to_string()
        }
    };
    let text = |t: &str| cut(&Value::from(t).to_string());
    match kind {
        EventKind::Created => "created".into(),
        EventKind::Deleted => "deleted".into(),
        EventKind::FieldChanged { field, old, new } => {
            format!(
                "{field}: {} → {}",
                cut(&old.to_string()),
                cut(&new.to_string())
            )
        }
        EventKind::StatusChanged { from, to, .. } => format!("status: {from} → {to}"),
        EventKind::Completed { status } => format!("completed ({status})"),
        EventKind::NoteAdded { note_id, category } => {
            format!("note {} added ({category})", short(note_id))
        }
        EventKind::NoteEdited { note_id, old, new } => {
            format!(
                "note {} edited: {} → {}",
                short(note_id),
                text(old),
                text(new)
            )
        }
        EventKind::NoteDeleted { note_id, note, .. } => {
            format!("note {} deleted: {}", short(note_id), text(&note.content))
        }
        EventKind::DecisionAdded { decision_id } => {
            format!("decision {} added", short(decision_id))
        }
        EventKind::Linked {
            system,
            external_id,
        } => format!("linked to {system} {external_id}"),
    }
}

/// The steps that revert one change (in the order to apply them), or why it cannot be undone.
fn inverse(change: &Change) -> Result<Vec<Step>> {
    let whole = |f: &str| {
        change
            .events
            .iter()
            .any(|k| matches!(k, EventKind::FieldChanged { field, .. } if field == f))
    };
    // A change that rewrote the whole note (or decision) list is reverted by restoring the
    // list; its item events are covered by that.
    let (notes_whole, decisions_whole) = (whole("notes"), whole("context.decisions"));
    let mut steps = Vec::new();
    for kind in change.events.iter().rev() {
        match kind {
            EventKind::Created => {
                return Err(StoreError::invalid(
                    "undo",
                    format!(
                        "change {} created the entry, which cannot be undone; delete the \
                         entry instead (`devlog delete`)",
                        change.seq
                    ),
                ));
            }
            EventKind::Deleted => {
                return Err(StoreError::invalid(
                    "undo",
                    format!(
                        "change {} deleted the entry, which cannot be undone",
                        change.seq
                    ),
                ));
            }
            EventKind::Linked {
                system,
                external_id,
            } => {
                return Err(StoreError::invalid(
                    "undo",
                    format!(
                        "change {} linked the entry to {system} item {external_id}, which is \
                         sync's record and cannot be undone; unlink it with `devlog \
                         github unlink` instead",
                        change.seq
                    ),
                ));
            }
            EventKind::Completed { .. } => {}
            EventKind::FieldChanged { field, old, new } => steps.push(Step::Field {
                path: field.clone(),
                to: old.clone(),
                expect: new.clone(),
            }),
            EventKind::StatusChanged {
                from,
                to,
                closed_at,
            } => steps.push(Step::Status {
                to: *from,
                expect: *to,
                closed_at: *closed_at,
            }),
            EventKind::NoteAdded { note_id, .. } if !notes_whole => {
                steps.push(Step::RemoveNote(note_id.clone()))
            }
            EventKind::NoteEdited { note_id, old, new } if !notes_whole => {
                steps.push(Step::NoteText {
                    id: note_id.clone(),
                    to: old.clone(),
                    expect: new.clone(),
                })
            }
            EventKind::NoteDeleted { note, position, .. } if !notes_whole => {
                steps.push(Step::RestoreNote {
                    note: (**note).clone(),
                    position: *position,
                })
            }
            EventKind::DecisionAdded { decision_id } if !decisions_whole => {
                steps.push(Step::RemoveDecision(decision_id.clone()))
            }
            EventKind::NoteAdded { .. }
            | EventKind::NoteEdited { .. }
            | EventKind::NoteDeleted { .. }
            | EventKind::DecisionAdded { .. } => {}
        }
    }
    Ok(steps)
}

/// A field of the entry's JSON by dotted path (`Null` when absent).
fn get_path<'a>(doc: &'a Value, path: &str) -> &'a Value {
    path.split('.')
        .try_fold(doc, |v, k| v.get(k))
        .unwrap_or(&Value::Null)
}

/// Sets a field of the entry's JSON by dotted path; `Null` removes it (history records an
/// absent field as `null`).
fn set_path(doc: &mut Value, path: &str, value: Value) -> Result<()> {
    let mut parts: Vec<&str> = path.split('.').collect();
    let last = parts.pop().unwrap_or_default();
    let mut cur = doc;
    for p in parts {
        let obj = cur
            .as_object_mut()
            .ok_or_else(|| StoreError::invalid("undo", format!("`{path}` is not a field")))?;
        cur = obj
            .entry(p.to_string())
            .or_insert_with(|| Value::Object(Default::default()));
    }
    let obj = cur
        .as_object_mut()
        .ok_or_else(|| StoreError::invalid("undo", format!("`{path}` is not a field")))?;
    if value.is_null() {
        obj.remove(last);
    } else {
        obj.insert(last.to_string(), value);
    }
    Ok(())
}

/// Applies the steps (already in order) to `e`. Without `force`, a step whose field no longer
/// holds what the change wrote is refused, naming the field.
fn apply(e: &mut Entry, steps: &[(u64, Step)], force: bool, now: Timestamp) -> Result<()> {
    let id = e.id;
    let stale = |seq: u64, what: String| StoreError::Conflict {
        id,
        message: format!(
            "{what} no longer holds what change {seq} wrote (it was changed since, outside \
             this history); nothing was undone. Pass --force to undo it anyway"
        ),
    };
    for (seq, step) in steps {
        match step {
            Step::Field { path, to, expect } => {
                let mut doc = serde_json::to_value(&*e)
                    .map_err(|err| StoreError::invalid("undo", err.to_string()))?;
                if !force && get_path(&doc, path) != expect {
                    return Err(stale(*seq, format!("`{path}`")));
                }
                set_path(&mut doc, path, to.clone())?;
                let id = e.id;
                *e = serde_json::from_value(doc).map_err(|err| StoreError::Conflict {
                    id,
                    message: format!("`{path}` cannot be set back to {to}: {err}"),
                })?;
            }
            Step::Status {
                to,
                expect,
                closed_at,
            } => {
                if !force && e.status != *expect {
                    return Err(stale(*seq, "`status`".into()));
                }
                e.status = *to;
                e.closed_at = match (to.is_closed(), closed_at) {
                    (false, _) => None,
                    (true, Some(c)) => Some(*c),
                    (true, None) => e.closed_at.or(Some(now)),
                };
            }
            Step::RemoveNote(note_id) => e.notes.retain(|n| &n.id != note_id),
            Step::RemoveDecision(d) => e.context.decisions.retain(|x| &x.id != d),
            Step::NoteText {
                id: note_id,
                to,
                expect,
            } => {
                let Some(n) = e.notes.iter_mut().find(|n| &n.id == note_id) else {
                    if force {
                        continue;
                    }
                    return Err(stale(*seq, format!("note {}", short(note_id))));
                };
                if !force && &n.content != expect {
                    return Err(stale(*seq, format!("note {}", short(note_id))));
                }
                n.content = to.clone();
            }
            Step::RestoreNote { note, position } => {
                match e.notes.iter().position(|n| n.id == note.id) {
                    Some(i) if e.notes[i] == *note => {}
                    Some(i) => {
                        if !force {
                            return Err(stale(*seq, format!("note {}", short(&note.id))));
                        }
                        e.notes[i] = note.clone();
                    }
                    None => {
                        let at = (*position).min(e.notes.len());
                        e.notes.insert(at, note.clone());
                    }
                }
            }
        }
    }
    e.updated_at = now;
    Ok(())
}

/// Finds a note by id or unique id prefix.
fn find_note<'a>(e: &'a Entry, note_ref: &str) -> Result<&'a Note> {
    find_by_id(e, &e.notes, |n| &n.id, note_ref, "note", "see `devlog log`")
}

/// Finds one of an entry's `items` (its notes, its worklogs, …: `what`) by id or unique id
/// prefix; the errors list the ids there are, or the ones a prefix matches.
pub(crate) fn find_by_id<'a, T>(
    e: &Entry,
    items: &'a [T],
    id: impl Fn(&T) -> &str,
    r: &str,
    what: &str,
    listed: &str,
) -> Result<&'a T> {
    let r = r.trim();
    if r.is_empty() {
        return Err(StoreError::invalid(
            what,
            format!("give the id of the {what} ({listed})"),
        ));
    }
    if let Some(n) = items.iter().find(|n| id(n) == r) {
        return Ok(n);
    }
    let found: Vec<&T> = items.iter().filter(|n| id(n).starts_with(r)).collect();
    match found.as_slice() {
        [one] => Ok(one),
        [] => Err(StoreError::invalid(
            what,
            format!(
                "{} has no {what} `{r}`; its {what}s: {}",
                e.handle_str(),
                if items.is_empty() {
                    "none".to_string()
                } else {
                    items
                        .iter()
                        .map(|n| short(id(n)))
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            ),
        )),
        many => Err(StoreError::invalid(
            what,
            format!(
                "`{r}` matches {} {what}s of {}: {}; give more of the id",
                many.len(),
                e.handle_str(),
                many.iter().map(|n| id(n)).collect::<Vec<_>>().join(", ")
            ),
        )),
    }
}

impl Devlog {
    /// The entry's newest `limit` changes (at most [`MAX_HISTORY`]), newest first.
    pub async fn history(&self, id: EntryId, limit: usize) -> Result<History> {
        if limit == 0 || limit > MAX_HISTORY {
            return Err(StoreError::invalid(
                "limit",
                format!("must be between 1 and {MAX_HISTORY}, got {limit}"),
            ));
        }
        let entry = self.store().get(id).await?;
        let (mut changes, more) = self.newest_changes(id, limit).await?;
        changes.reverse();
        Ok(History {
            id,
            handle: entry.handle,
            title: entry.title,
            changes,
            more,
        })
    }

    /// The newest `n` complete changes of the entry (oldest first) and whether older ones
    /// exist: reads the entry's events backwards a page at a time.
    async fn newest_changes(&self, id: EntryId, n: usize) -> Result<(Vec<Change>, bool)> {
        let mut events: Vec<Event> = Vec::new();
        let mut before = None;
        loop {
            let page = self.store().entry_events(id, 0, before, PAGE).await?;
            let exhausted = page.len() < PAGE;
            before = page.first().map(|e| e.seq);
            events.splice(0..0, page);
            let mut all = changes(events.clone());
            // The oldest group may be cut off by the page: only complete ones count.
            let complete = if exhausted {
                all.len()
            } else {
                all.len().saturating_sub(1)
            };
            if exhausted || complete > n {
                let more = complete > n || !exhausted;
                let start = all.len() - complete.min(n);
                return Ok((all.split_off(start), more));
            }
            if before.is_none() {
                return Ok((all, false));
            }
        }
    }

    /// Reverts the entry's last change, or every change after the one holding event
    /// `req.to`, as one new change. See the module documentation for what can be undone.
    pub async fn undo(&self, id: EntryId, req: UndoRequest, meta: &WriteMeta) -> Result<Undone> {
        let targets = match req.to {
            None => {
                let (last, _) = self.newest_changes(id, 1).await?;
                last
            }
            Some(seq) => self.changes_after(id, check_seq("to", seq)?).await?,
        };
        if targets.is_empty() {
            return Err(StoreError::invalid(
                "undo",
                match req.to {
                    Some(seq) => format!("there is no change after event {seq}: nothing to undo"),
                    None => "the entry has no recorded change to undo".into(),
                },
            ));
        }
        if !req.force {
            check_authors(id, &targets)?;
        }
        // Newest change first, each change's steps in reverse event order.
        let mut steps = Vec::new();
        for c in targets.iter().rev() {
            steps.extend(inverse(c)?.into_iter().map(|s| (c.seq, s)));
        }
        let now = self.clock().now();
        let force = req.force;
        let entry = self
            .store()
            .update(id, meta, &mut |e: &mut Entry| apply(e, &steps, force, now))
            .await?;
        let mut reverted = targets;
        reverted.reverse();
        Ok(Undone { entry, reverted })
    }

    /// The complete changes after the change that holds event `seq` (oldest first).
    async fn changes_after(&self, id: EntryId, seq: u64) -> Result<Vec<Change>> {
        let at = self
            .store()
            .entry_events(id, seq.saturating_sub(1), Some(seq.saturating_add(1)), 1)
            .await?;
        let Some(anchor) = at.into_iter().next() else {
            let entry = self.store().get(id).await?;
            return Err(StoreError::invalid(
                "to",
                format!(
                    "event {seq} is not a change of {}; `devlog log {}` lists its changes",
                    entry.handle_str(),
                    entry.handle
                ),
            ));
        };
        let events = self
            .store()
            .entry_events(id, seq, None, MAX_UNDO_EVENTS + 1)
            .await?;
        if events.len() > MAX_UNDO_EVENTS {
            return Err(StoreError::invalid(
                "to",
                format!(
                    "more than {MAX_UNDO_EVENTS} events follow event {seq}; undo to a later \
                     event first"
                ),
            ));
        }
        // Events after `seq` that belong to the anchor's own change stay.
        let mut all = changes([vec![anchor], events].concat());
        all.remove(0);
        Ok(all)
    }

    /// Replaces the text of a note (by id or unique id prefix); returns the entry and the
    /// note as it is now. Recorded as `NoteEdited` (old and new text), undoable.
    pub async fn edit_note(
        &self,
        id: EntryId,
        note_ref: &str,
        text: String,
        meta: &WriteMeta,
    ) -> Result<(Entry, Note)> {
        if text.trim().is_empty() {
            return Err(StoreError::invalid(
                "note",
                "must not be empty; to remove the note, delete it",
            ));
        }
        check_text("note", &text)?;
        let now = self.clock().now();
        let mut edited = None;
        let entry = self
            .store()
            .update(id, meta, &mut |e: &mut Entry| {
                let note_id = find_note(e, note_ref)?.id.clone();
                let handle = e.handle_str();
                let n = e
                    .notes
                    .iter_mut()
                    .find(|n| n.id == note_id)
                    .expect("found above");
                if n.content == text {
                    return Err(StoreError::invalid(
                        "note",
                        format!("note {} of {handle} already says that", short(&note_id)),
                    ));
                }
                n.content = text.clone();
                edited = Some(n.clone());
                e.updated_at = now;
                Ok(())
            })
            .await?;
        let note = edited.expect("set by the update");
        Ok((entry, note))
    }

    /// Removes a note (by id or unique id prefix); returns the entry and the removed note.
    /// Recorded as `NoteDeleted` with the whole note, so undo puts it back.
    pub async fn delete_note(
        &self,
        id: EntryId,
        note_ref: &str,
        meta: &WriteMeta,
    ) -> Result<(Entry, Note)> {
        let now = self.clock().now();
        let mut removed = None;
        let entry = self
            .store()
            .update(id, meta, &mut |e: &mut Entry| {
                let note_id = find_note(e, note_ref)?.id.clone();
                let i = e
                    .notes
                    .iter()
                    .position(|n| n.id == note_id)
                    .expect("found above");
                removed = Some(e.notes.remove(i));
                e.updated_at = now;
                Ok(())
            })
            .await?;
        let note = removed.expect("set by the update");
        Ok((entry, note))
    }
}

/// Refuses to revert a change to something that a later change by someone else also
/// touched: undoing to an earlier point would silently discard their work.
fn check_authors(id: EntryId, targets: &[Change]) -> Result<()> {
    let mut seen: Vec<(String, &Change)> = Vec::new();
    for c in targets {
        for step in inverse(c)? {
            let target = step.target();
            match seen.iter().find(|(t, _)| *t == target) {
                Some((_, first)) if !first.same_author(c) => {
                    return Err(StoreError::Conflict {
                        id,
                        message: format!(
                            "{target} was changed by {} in change {} and later by {} in \
                             change {}; undoing both would discard the later change by \
                             someone else. Undo to a later event, or pass --force",
                            first.author(),
                            first.seq,
                            c.author(),
                            c.seq
                        ),
                    });
                }
                Some(_) => {}
                None => seen.push((target, c)),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(seq: u64, change: Option<&str>, at: i64, kind: EventKind) -> Event {
        Event {
            seq,
            entry_id: EntryId::from_legacy(1, "2024-01-01T00:00:00.000Z"),
            handle: 1,
            at: Timestamp::from_millis(at).expect("time"),
            origin: Origin::Cli,
            actor: None,
            change: change.map(String::from),
            kind,
        }
    }

    fn title(old: &str, new: &str) -> EventKind {
        EventKind::FieldChanged {
            field: "title".into(),
            old: old.into(),
            new: new.into(),
        }
    }

    #[test]
    fn events_group_by_change_id_or_by_time_and_author_in_old_feeds() {
        let c = changes(vec![
            ev(1, None, 10, EventKind::Created),
            ev(2, None, 20, title("a", "b")),
            ev(3, None, 20, title("b", "c")),
            ev(4, Some("x"), 20, title("c", "d")),
            ev(5, Some("x"), 20, title("d", "e")),
            ev(6, Some("y"), 20, title("e", "f")),
        ]);
        let groups: Vec<(u64, u64)> = c.iter().map(|c| (c.seq, c.last_seq)).collect();
        assert_eq!(groups, vec![(1, 1), (2, 3), (4, 5), (6, 6)]);
    }

    #[test]
    fn paths_read_and_write_nested_fields_and_null_removes() {
        let mut doc = serde_json::json!({"a": 1, "context": {"b": "x"}});
        assert_eq!(get_path(&doc, "context.b"), "x");
        assert_eq!(get_path(&doc, "context.c"), &Value::Null);
        set_path(&mut doc, "context.b", "y".into()).unwrap();
        set_path(&mut doc, "a", Value::Null).unwrap();
        assert_eq!(doc, serde_json::json!({"context": {"b": "y"}}));
    }

    #[test]
    fn creation_and_links_cannot_be_undone() {
        let c = changes(vec![ev(1, Some("x"), 1, EventKind::Created)]);
        let err = inverse(&c[0]).unwrap_err().to_string();
        assert!(err.contains("created the entry"), "{err}");
        let c = changes(vec![ev(
            2,
            Some("y"),
            1,
            EventKind::Linked {
                system: "github".into(),
                external_id: "7".into(),
            },
        )]);
        let err = inverse(&c[0]).unwrap_err().to_string();
        assert!(err.contains("devlog github unlink"), "{err}");
    }
}
