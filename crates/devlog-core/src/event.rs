//! Domain events: what changed, derived from the before and after state of an entry.
//!
//! Events are computed by diffing, never emitted by hand, so no write path can forget one.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::entry::{Entry, Note, NoteCategory, Status};
use crate::id::EntryId;
use crate::time::Timestamp;

/// Which interface or process made a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    Cli,
    Mcp,
    Http,
    Sync,
    Import,
    Migrate,
    /// A change found in the files that devlog did not make (a `git pull`, an editor), or one
    /// whose event was lost to a crash between the file write and the event write.
    External,
}

impl Origin {
    pub fn as_str(&self) -> &'static str {
        match self {
            Origin::Cli => "cli",
            Origin::Mcp => "mcp",
            Origin::Http => "http",
            Origin::Sync => "sync",
            Origin::Import => "import",
            Origin::Migrate => "migrate",
            Origin::External => "external",
        }
    }
}

/// Who did a write and through what; stored with every event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteMeta {
    pub origin: Origin,
    pub actor: Option<String>,
    /// From where, beyond the origin (REST client address, webhook delivery): recorded in
    /// the audit log, not in the change feed.
    pub source: crate::audit::Source,
    /// The change id the write's events carry (`Event::change`), when the caller chose it:
    /// a bulk operation derives one per entry (`bulk::OperationId::change_for`) so that a
    /// resumed run recognises a write it made before a crash. `None`: a random one. With a
    /// chosen change id, what the write creates (a note, a decision, a worklog, an entry) gets
    /// an id derived from it ([`WriteMeta::derived_id`]), so such a caller can also find it
    /// in the entry itself — where a change-feed event may be missing (the JSON backend, killed
    /// between the entry file and its event, later records the change as `external`).
    pub change: Option<String>,
}

/// The namespace of the ids [`WriteMeta::derived_id`] makes.
const DERIVED_NAMESPACE: uuid::Uuid =
    uuid::Uuid::from_u128(0x7c2e_51a4_93d0_4f6b_8e1a_d4c0_2b9f_6e33);

impl WriteMeta {
    pub fn new(origin: Origin) -> Self {
        Self {
            origin,
            actor: None,
            source: crate::audit::Source::default(),
            change: None,
        }
    }

    /// The id of the `what` (`note`, `decision`, `worklog`, `entry`) this write creates,
    /// derived from the chosen change id: the same on every repeat of the write. `None`
    /// without one (the object gets a random id).
    pub fn derived_id(&self, what: &str) -> Option<uuid::Uuid> {
        self.change
            .as_ref()
            .map(|c| uuid::Uuid::new_v5(&DERIVED_NAMESPACE, format!("{what}/{c}").as_bytes()))
    }

    /// The change id for this write's events (see [`WriteMeta::change`]).
    pub fn with_change(mut self, change: Option<String>) -> Self {
        self.change = change;
        self
    }

    pub fn with_actor(mut self, actor: Option<String>) -> Self {
        self.actor = actor;
        self
    }

    /// The REST client's address (`ip:port`) the write came from.
    pub fn with_client(mut self, client: Option<String>) -> Self {
        self.source.client = client;
        self
    }

    /// The webhook delivery that caused the write.
    pub fn with_delivery(mut self, delivery: Option<String>) -> Self {
        self.source.delivery = delivery;
        self
    }

    /// The workflow run that makes the write (`<workflow>/<run id>`).
    pub fn with_workflow(mut self, run: Option<String>) -> Self {
        self.source.workflow = run;
        self
    }
}

/// Who a sync write is by, as a type: the sync engine writes with it and recognises its own
/// writes by it (echo suppression), instead of formatting and comparing strings. Stored in
/// the change feed as the event's actor, in the form feeds have always held.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SyncActor {
    /// An integration applying what the remote holds (`sync:<name>`). Its writes are not
    /// pushed back to the same integration.
    Integration(String),
    /// A remote action applied through an integration (`sync:<name>:<key>`: a merged pull
    /// request, a board move). Not an echo: the change is pushed back to the linked item.
    Action { integration: String, key: String },
}

impl SyncActor {
    const PREFIX: &'static str = "sync:";

    pub fn integration(name: &str) -> Self {
        SyncActor::Integration(name.to_string())
    }

    pub fn action(name: &str, key: &str) -> Self {
        SyncActor::Action {
            integration: name.to_string(),
            key: key.to_string(),
        }
    }

    /// The write metadata of a sync write by this actor.
    pub fn meta(&self) -> WriteMeta {
        WriteMeta::new(Origin::Sync).with_actor(Some(self.to_string()))
    }

    /// The sync actor of an event, if a sync wrote it. Integration names contain no `:` (they are
    /// identifiers registered by code: `github`, `jira`), so the first `:` after the name
    /// starts an action key.
    pub fn of(event: &Event) -> Option<SyncActor> {
        if event.origin != Origin::Sync {
            return None;
        }
        let rest = event.actor.as_deref()?.strip_prefix(Self::PREFIX)?;
        Some(match rest.split_once(':') {
            Some((name, key)) => SyncActor::action(name, key),
            None => SyncActor::integration(rest),
        })
    }
}

impl std::fmt::Display for SyncActor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SyncActor::Integration(name) => write!(f, "{}{name}", Self::PREFIX),
            SyncActor::Action { integration, key } => {
                write!(f, "{}{integration}:{key}", Self::PREFIX)
            }
        }
    }
}

/// Whether `event` is integration `name`'s own write coming back through the change feed
/// (which must not be sent to `name` again).
pub fn is_echo_of(event: &Event, name: &str) -> bool {
    matches!(SyncActor::of(event), Some(SyncActor::Integration(n)) if n == name)
}

/// What happened to an entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum EventKind {
    Created,
    Deleted,
    /// A field changed; nested fields are dotted (`context.businessContext`).
    FieldChanged {
        field: String,
        old: Value,
        new: Value,
    },
    StatusChanged {
        from: Status,
        to: Status,
        /// `closedAt` before the change (`None`: it had none, or an older feed did not
        /// record it), so that undoing the change restores it exactly.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        closed_at: Option<Timestamp>,
    },
    /// The entry reached done or closed.
    Completed {
        status: Status,
    },
    NoteAdded {
        note_id: String,
        category: NoteCategory,
    },
    DecisionAdded {
        decision_id: String,
    },
    /// A reference to an item in another system was added.
    Linked {
        system: String,
        external_id: String,
    },
    /// The text of a note changed (nothing else of it did).
    NoteEdited {
        note_id: String,
        old: String,
        new: String,
    },
    /// A note was removed; `note` is the whole note and `position` its index in the entry's
    /// notes, so that undoing the removal puts it back where it was.
    NoteDeleted {
        note_id: String,
        note: Box<Note>,
        position: usize,
    },
}

impl EventKind {
    /// Short name for tables and filters (`field-changed`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::Created => "created",
            EventKind::Deleted => "deleted",
            EventKind::FieldChanged { .. } => "field-changed",
            EventKind::StatusChanged { .. } => "status-changed",
            EventKind::Completed { .. } => "completed",
            EventKind::NoteAdded { .. } => "note-added",
            EventKind::DecisionAdded { .. } => "decision-added",
            EventKind::Linked { .. } => "linked",
            EventKind::NoteEdited { .. } => "note-edited",
            EventKind::NoteDeleted { .. } => "note-deleted",
        }
    }
}

/// An event as the change feed holds it. `seq` orders the feed and is assigned by the store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    pub seq: u64,
    pub entry_id: EntryId,
    pub handle: u64,
    pub at: Timestamp,
    pub origin: Origin,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// The write this event is part of: every event of one write (one `Store::update`,
    /// create, delete...) carries the same random id, so history groups them into one
    /// change and undo reverts them together. `None` in feeds written before it existed
    /// (grouped by time, origin and actor instead: see `history::changes`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<String>,
    #[serde(flatten)]
    pub kind: EventKind,
}

impl Event {
    /// Events (with `seq` 0, to be assigned) for the change from `old` to `new`.
    pub fn for_change(
        old: Option<&Entry>,
        new: Option<&Entry>,
        at: Timestamp,
        meta: &WriteMeta,
    ) -> Vec<Event> {
        let Some(subject) = new.or(old) else {
            return Vec::new();
        };
        let kinds = diff(old, new);
        if kinds.is_empty() {
            return Vec::new();
        }
        let change = meta
            .change
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
        kinds
            .into_iter()
            .map(|kind| Event {
                seq: 0,
                entry_id: subject.id,
                handle: subject.handle,
                at,
                origin: meta.origin,
                actor: meta.actor.clone(),
                change: Some(change.clone()),
                kind,
            })
            .collect()
    }
}

/// Fields whose changes are bookkeeping, not news (nested ones dotted).
const QUIET: &[&str] = &["updatedAt", "closedAt", "aiContext.lastAIUpdate"];

/// The names [`EventKind::FieldChanged`] events carry, sorted — what [`diff`] reports: the
/// entry's top-level JSON keys, the additive keys of its links (`parent`, `children`,
/// `duplicateOf`, `duplicatedBy`, kept in `extra`), and `context.<key>` / `aiContext.<key>`
/// for the nested ones; not `status` (its changes are `StatusChanged`) nor the bookkeeping
/// fields. Read from the JSON Schemas of `Entry`, `Context` and `AiContext`, so a field added
/// to them is named here without a second list to keep up.
#[cfg(feature = "schemars")]
pub fn field_names() -> Vec<String> {
    use crate::relations::{CHILDREN, DUPLICATE_OF, DUPLICATED_BY, PARENT};

    fn keys<T: schemars::JsonSchema>() -> Vec<String> {
        let schema = schemars::schema_for!(T);
        schema
            .as_object()
            .and_then(|o| o.get("properties"))
            .and_then(Value::as_object)
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default()
    }
    let mut out: Vec<String> = keys::<Entry>()
        .into_iter()
        .filter(|k| k != "status")
        .collect();
    out.extend([PARENT, CHILDREN, DUPLICATE_OF, DUPLICATED_BY].map(String::from));
    for (prefix, nested) in NESTED.iter().zip([
        keys::<crate::entry::Context>(),
        keys::<crate::entry::AiContext>(),
    ]) {
        out.extend(nested.iter().map(|k| format!("{prefix}.{k}")));
    }
    out.retain(|k| !QUIET.contains(&k.as_str()));
    out.sort();
    out.dedup();
    out
}

/// The top-level keys whose own keys are reported one by one (`context.businessContext`).
const NESTED: [&str; 2] = ["context", "aiContext"];

/// The events that turn `old` into `new`.
pub fn diff(old: Option<&Entry>, new: Option<&Entry>) -> Vec<EventKind> {
    match (old, new) {
        (None, None) => Vec::new(),
        (None, Some(_)) => vec![EventKind::Created],
        (Some(_), None) => vec![EventKind::Deleted],
        (Some(a), Some(b)) => diff_entries(a, b),
    }
}

fn diff_entries(a: &Entry, b: &Entry) -> Vec<EventKind> {
    let mut out = Vec::new();
    if a.status != b.status {
        out.push(EventKind::StatusChanged {
            from: a.status,
            to: b.status,
            closed_at: a.closed_at,
        });
        if b.status.is_closed() && !a.status.is_closed() {
            out.push(EventKind::Completed { status: b.status });
        }
    }
    for n in &b.notes {
        if !a.notes.iter().any(|m| m.id == n.id) {
            out.push(EventKind::NoteAdded {
                note_id: n.id.clone(),
                category: n.category,
            });
        }
    }
    let notes_rest = diff_notes(a, b, &mut out);
    for d in &b.context.decisions {
        if !a.context.decisions.iter().any(|x| x.id == d.id) {
            out.push(EventKind::DecisionAdded {
                decision_id: d.id.clone(),
            });
        }
    }
    for r in &b.external_references {
        if !a
            .external_references
            .iter()
            .any(|x| x.system == r.system && x.id == r.id)
        {
            out.push(EventKind::Linked {
                system: r.system.clone(),
                external_id: r.id.clone(),
            });
        }
    }
    let (Ok(Value::Object(va)), Ok(Value::Object(vb))) =
        (serde_json::to_value(a), serde_json::to_value(b))
    else {
        return out;
    };
    let null = Value::Null;
    let mut keys: Vec<&String> = va.keys().chain(vb.keys()).collect();
    keys.sort();
    keys.dedup();
    for k in keys {
        if QUIET.contains(&k.as_str()) || k == "status" {
            continue;
        }
        let (x, y) = (va.get(k).unwrap_or(&null), vb.get(k).unwrap_or(&null));
        if x == y {
            continue;
        }
        match k.as_str() {
            // Additions, text edits and removals are reported above; anything else (another
            // part of a note edited, notes reordered) is reported as the whole list.
            "notes" => {
                if notes_rest {
                    out.push(changed(k, x, y));
                }
            }
            "externalReferences" => {
                if a.external_references
                    .iter()
                    .any(|r| !b.external_references.contains(r))
                {
                    out.push(changed(k, x, y));
                }
            }
            n if NESTED.contains(&n) => diff_nested(k, x, y, &mut out),
            _ => out.push(changed(k, x, y)),
        }
    }
    out
}

/// Reports the text edits (`NoteEdited`) and removals (`NoteDeleted`) of notes; returns
/// whether the notes differ in some other way too (a category or file list edited, notes
/// reordered), which the caller reports as a change of the whole list.
fn diff_notes(a: &Entry, b: &Entry, out: &mut Vec<EventKind>) -> bool {
    let mut rest = false;
    for (position, n) in a.notes.iter().enumerate() {
        match b.notes.iter().find(|m| m.id == n.id) {
            None => out.push(EventKind::NoteDeleted {
                note_id: n.id.clone(),
                note: Box::new(n.clone()),
                position,
            }),
            Some(m) if m == n => {}
            Some(m) => {
                let text_only = Note {
                    content: n.content.clone(),
                    ..m.clone()
                } == *n;
                if text_only {
                    out.push(EventKind::NoteEdited {
                        note_id: n.id.clone(),
                        old: n.content.clone(),
                        new: m.content.clone(),
                    });
                } else {
                    rest = true;
                }
            }
        }
    }
    // The notes both sides hold, in the same order once removals and additions are set aside.
    let kept_a: Vec<&str> = a
        .notes
        .iter()
        .filter(|n| b.notes.iter().any(|m| m.id == n.id))
        .map(|n| n.id.as_str())
        .collect();
    let kept_b: Vec<&str> = b
        .notes
        .iter()
        .filter(|n| a.notes.iter().any(|m| m.id == n.id))
        .map(|n| n.id.as_str())
        .collect();
    rest || kept_a != kept_b
}

fn diff_nested(prefix: &str, x: &Value, y: &Value, out: &mut Vec<EventKind>) {
    let empty = serde_json::Map::new();
    let xa = x.as_object().unwrap_or(&empty);
    let ya = y.as_object().unwrap_or(&empty);
    let null = Value::Null;
    let mut keys: Vec<&String> = xa.keys().chain(ya.keys()).collect();
    keys.sort();
    keys.dedup();
    for k in keys {
        let (p, q) = (xa.get(k).unwrap_or(&null), ya.get(k).unwrap_or(&null));
        let quiet = || {
            QUIET
                .iter()
                .any(|f| f.strip_prefix(prefix).and_then(|r| r.strip_prefix('.')) == Some(k))
        };
        if p == q || quiet() {
            continue;
        }
        if prefix == "context" && k == "decisions" {
            // New decisions are DecisionAdded; report only edits of existing ones.
            let old: Vec<&Value> = p.as_array().map(|v| v.iter().collect()).unwrap_or_default();
            let new: Vec<&Value> = q.as_array().map(|v| v.iter().collect()).unwrap_or_default();
            if old.iter().all(|d| new.contains(d)) {
                continue;
            }
        }
        out.push(changed(&format!("{prefix}.{k}"), p, q));
    }
}

fn changed(field: &str, old: &Value, new: &Value) -> EventKind {
    EventKind::FieldChanged {
        field: field.to_string(),
        old: old.clone(),
        new: new.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_derived_from_a_chosen_change_id_repeat_and_differ_by_kind() {
        let meta = WriteMeta::new(Origin::Cli).with_change(Some("run1/0".into()));
        assert_eq!(meta.derived_id("note"), meta.clone().derived_id("note"));
        assert_ne!(meta.derived_id("note"), meta.derived_id("worklog"));
        let other = WriteMeta::new(Origin::Cli).with_change(Some("run1/1".into()));
        assert_ne!(meta.derived_id("note"), other.derived_id("note"));
        assert_eq!(WriteMeta::new(Origin::Cli).derived_id("note"), None);
    }

    fn event(origin: Origin, actor: Option<&str>) -> Event {
        Event {
            seq: 1,
            entry_id: EntryId::new_random(),
            handle: 1,
            at: Timestamp::from_millis(0).expect("epoch"),
            origin,
            actor: actor.map(String::from),
            change: None,
            kind: EventKind::Created,
        }
    }

    #[cfg(feature = "schemars")]
    #[test]
    fn field_names_follow_the_entry_types() {
        let names = field_names();
        for want in [
            "title",
            "priority",
            "dueDate",
            "tags",
            "parent",
            "context",
            "context.businessContext",
            "context.acceptanceCriteria",
            "aiContext",
            "aiContext.currentSummary",
            "aiContext.sharedInsights",
        ] {
            assert!(names.iter().any(|n| n == want), "{want} missing: {names:?}");
        }
        for quiet in ["status", "updatedAt", "closedAt", "aiContext.lastAIUpdate"] {
            assert!(!names.iter().any(|n| n == quiet), "{quiet} listed");
        }
        // The nested keys `diff` reports one by one are keys of the entry.
        for n in NESTED {
            assert!(names.iter().any(|k| k == n), "{n} is not an entry key");
        }
        // `diff` reports a bookkeeping field of a nested part as nothing.
        let mut a: Entry = serde_json::from_value(serde_json::json!({
            "id": "0194e7d0-0000-7000-8000-000000000001", "handle": 1, "key": "a", "title": "A",
            "type": "task", "description": "", "status": "new", "priority": "medium",
            "createdAt": "2025-01-01T00:00:00.000Z", "updatedAt": "2025-01-01T00:00:00.000Z"
        }))
        .expect("entry");
        let b = a.clone();
        a.ai_context.last_ai_update = Some(Timestamp::from_millis(5).expect("time"));
        assert_eq!(diff(Some(&b), Some(&a)), Vec::new());
    }

    #[test]
    fn sync_actors_keep_the_stored_form_of_existing_feeds() {
        assert_eq!(SyncActor::integration("github").to_string(), "sync:github");
        assert_eq!(
            SyncActor::action("github", "pr:12:merged").to_string(),
            "sync:github:pr:12:merged"
        );
        let meta = SyncActor::integration("github").meta();
        assert_eq!(meta.origin, Origin::Sync);
        assert_eq!(meta.actor.as_deref(), Some("sync:github"));
        for a in [
            SyncActor::integration("github"),
            SyncActor::action("github", "pr:12:merged"),
        ] {
            let e = event(Origin::Sync, Some(&a.to_string()));
            assert_eq!(SyncActor::of(&e), Some(a));
        }
    }

    #[test]
    fn only_the_integrations_own_writes_are_echoes() {
        assert!(is_echo_of(
            &event(Origin::Sync, Some("sync:github")),
            "github"
        ));
        // Another integration's write is news to this one.
        assert!(!is_echo_of(
            &event(Origin::Sync, Some("sync:jira")),
            "github"
        ));
        assert!(!is_echo_of(
            &event(Origin::Sync, Some("sync:githubx")),
            "github"
        ));
        // A remote action (merged pull request) is pushed back to the linked item.
        assert!(!is_echo_of(
            &event(Origin::Sync, Some("sync:github:pr:1:merged")),
            "github"
        ));
        // The same actor text from another origin is not a sync write.
        assert!(!is_echo_of(
            &event(Origin::Cli, Some("sync:github")),
            "github"
        ));
        assert!(!is_echo_of(&event(Origin::Sync, None), "github"));
    }

    #[test]
    fn feeds_written_before_changes_and_note_events_still_decode() {
        let old = r#"{"seq":3,"entryId":"0194e7d0-0000-7000-8000-000000000001","handle":1,
            "at":"2025-01-01T00:00:00.000Z","origin":"cli","type":"status-changed",
            "from":"done","to":"new"}"#;
        let ev: Event = serde_json::from_str(old).expect("an old event decodes");
        assert_eq!(ev.change, None);
        assert_eq!(
            ev.kind,
            EventKind::StatusChanged {
                from: Status::Done,
                to: Status::New,
                closed_at: None
            }
        );
    }

    #[test]
    fn note_text_edits_and_removals_are_their_own_events() {
        let note = |id: &str, text: &str| Note {
            id: id.into(),
            timestamp: Timestamp::from_millis(0).expect("epoch"),
            category: NoteCategory::Progress,
            content: text.into(),
            files: Vec::new(),
            code_changes: None,
            extra: Default::default(),
        };
        let mut a: Entry = serde_json::from_value(serde_json::json!({
            "id": "0194e7d0-0000-7000-8000-000000000001", "handle": 1, "key": "a", "title": "A",
            "type": "task", "description": "", "status": "new", "priority": "medium",
            "createdAt": "2025-01-01T00:00:00.000Z", "updatedAt": "2025-01-01T00:00:00.000Z"
        }))
        .expect("entry");
        a.notes = vec![note("n1", "one"), note("n2", "two"), note("n3", "three")];
        let mut b = a.clone();
        b.notes[0].content = "uno".into();
        b.notes.remove(1);
        let kinds = diff(Some(&a), Some(&b));
        assert_eq!(
            kinds,
            vec![
                EventKind::NoteEdited {
                    note_id: "n1".into(),
                    old: "one".into(),
                    new: "uno".into()
                },
                EventKind::NoteDeleted {
                    note_id: "n2".into(),
                    note: Box::new(note("n2", "two")),
                    position: 1
                },
            ]
        );
        // Anything else about a note is still reported as the whole list.
        let mut c = a.clone();
        c.notes[2].category = NoteCategory::Issue;
        assert!(matches!(&diff(Some(&a), Some(&c))[..],
            [EventKind::FieldChanged { field, .. }] if field == "notes"));
        // One write's events share one change id.
        let evs = Event::for_change(
            Some(&a),
            Some(&b),
            Timestamp::from_millis(0).expect("epoch"),
            &WriteMeta::new(Origin::Cli),
        );
        assert_eq!(evs.len(), 2);
        assert!(evs[0].change.is_some() && evs[0].change == evs[1].change);
    }
}
