//! Relations between entries and the dependencies and risks of one entry (issue 16, item 4).
//!
//! Where the original devlog's format has a place for a relation it is stored there; the rest
//! is additive (top-level keys the original never wrote, which it ignores):
//!
//! | relation of A to B   | stored on A                                   | stored on B                  |
//! |----------------------|-----------------------------------------------|------------------------------|
//! | A blocks B           | `context.dependencies` `{id: B, type: blocks}` | `{id: A, type: blocked-by}` |
//! | A relates to B       | `relatedDevlogs` holds `"B"`                  | `relatedDevlogs` holds `"A"` |
//! | A duplicates B       | `duplicateOf: "B"`                            | `duplicatedBy` holds `"B"`   |
//! | A is a subtask of B  | `parent: "B"`                                 | `children` holds `"A"`       |
//!
//! Both sides are stored (written one after the other by [`Devlog::link`]), so `show`, the
//! "open subtasks" rule and `list --blocked` read an entry and its neighbours, never the whole
//! store. A dependency whose `id` is an entry id is a link; free dependencies
//! ([`Devlog::add_dependency`]) get ids starting `dep-`, which are never entry ids.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::entry::{Dependency, DependencyType, Entry, EntrySummary, Extra, Level, Risk, Status};
use crate::error::{Result, StoreError};
use crate::event::WriteMeta;
use crate::id::EntryId;
use crate::ops::{Devlog, check_text};
use crate::store::{ListQuery, Page};

/// The additive top-level key holding a subtask's parent id.
pub const PARENT: &str = "parent";
/// The additive top-level key holding a parent's subtask ids.
pub const CHILDREN: &str = "children";
/// The additive top-level key holding the id of the entry this one duplicates.
pub const DUPLICATE_OF: &str = "duplicateOf";
/// The additive top-level key holding the ids of the entries that duplicate this one.
pub const DUPLICATED_BY: &str = "duplicatedBy";

/// How deep a chain of parents or blockers is followed before it is called damaged.
const MAX_DEPTH: usize = 10_000;

crate::entry::string_enum!(
    /// How an entry relates to another one (`devlog link A --blocks B`: A blocks B).
    LinkKind, "link kind" {
        Blocks = "blocks",
        BlockedBy = "blocked-by",
        Relates = "relates",
        Duplicates = "duplicates",
        DuplicatedBy = "duplicated-by",
        Parent = "parent",
        Child = "child",
    }
);

impl LinkKind {
    /// The same relation seen from the other entry: A blocks B ⇔ B blocked-by A.
    pub fn inverse(self) -> LinkKind {
        match self {
            LinkKind::Blocks => LinkKind::BlockedBy,
            LinkKind::BlockedBy => LinkKind::Blocks,
            LinkKind::Relates => LinkKind::Relates,
            LinkKind::Duplicates => LinkKind::DuplicatedBy,
            LinkKind::DuplicatedBy => LinkKind::Duplicates,
            LinkKind::Parent => LinkKind::Child,
            LinkKind::Child => LinkKind::Parent,
        }
    }
}

/// The links stored on one entry, read from the original's fields and the additive ones.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Links {
    pub parent: Option<EntryId>,
    pub children: Vec<EntryId>,
    pub blocks: Vec<EntryId>,
    pub blocked_by: Vec<EntryId>,
    /// `relatedDevlogs` entries that are ids, and `related-to` dependencies naming an entry.
    pub related: Vec<EntryId>,
    pub duplicate_of: Option<EntryId>,
    pub duplicated_by: Vec<EntryId>,
    /// `relatedDevlogs` values that are not entry ids (the original stored numbers and
    /// strings as it liked), kept as they are.
    pub related_other: Vec<Value>,
    /// Additive keys whose value is not what devlog writes there (`"parent": 12`): named,
    /// never silently dropped; the next link of that kind replaces them.
    pub unreadable: Vec<String>,
}

impl Links {
    /// Reads the links of `e`.
    pub fn of(e: &Entry) -> Links {
        let mut l = Links::default();
        let one = |key: &str, l: &mut Links| -> Option<EntryId> {
            match e.extra.get(key) {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) if s.parse::<EntryId>().is_ok() => s.parse().ok(),
                Some(v) => {
                    l.unreadable.push(format!("{key}: {v}"));
                    None
                }
            }
        };
        l.parent = one(PARENT, &mut l);
        l.duplicate_of = one(DUPLICATE_OF, &mut l);
        let many = |key: &str, l: &mut Links| -> Vec<EntryId> {
            match e.extra.get(key) {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(items)) => {
                    let mut out = Vec::new();
                    for v in items {
                        match v.as_str().and_then(|s| s.parse::<EntryId>().ok()) {
                            Some(id) if !out.contains(&id) => out.push(id),
                            Some(_) => {}
                            None => l.unreadable.push(format!("{key}[]: {v}")),
                        }
                    }
                    out
                }
                Some(v) => {
                    l.unreadable.push(format!("{key}: {v}"));
                    Vec::new()
                }
            }
        };
        l.children = many(CHILDREN, &mut l);
        l.duplicated_by = many(DUPLICATED_BY, &mut l);
        for d in &e.context.dependencies {
            let Ok(id) = d.id.parse::<EntryId>() else {
                continue;
            };
            let to = match d.kind {
                DependencyType::Blocks => &mut l.blocks,
                DependencyType::BlockedBy => &mut l.blocked_by,
                DependencyType::RelatedTo => &mut l.related,
            };
            if !to.contains(&id) {
                to.push(id);
            }
        }
        for v in &e.related_devlogs {
            match v.as_str().and_then(|s| s.parse::<EntryId>().ok()) {
                Some(id) if !l.related.contains(&id) => l.related.push(id),
                Some(_) => {}
                None => l.related_other.push(v.clone()),
            }
        }
        l
    }

    /// The entries linked with `kind`.
    pub fn get(&self, kind: LinkKind) -> Vec<EntryId> {
        match kind {
            LinkKind::Blocks => self.blocks.clone(),
            LinkKind::BlockedBy => self.blocked_by.clone(),
            LinkKind::Relates => self.related.clone(),
            LinkKind::Duplicates => self.duplicate_of.into_iter().collect(),
            LinkKind::DuplicatedBy => self.duplicated_by.clone(),
            LinkKind::Parent => self.parent.into_iter().collect(),
            LinkKind::Child => self.children.clone(),
        }
    }

    /// The kinds of link from this entry to `other`.
    pub fn kinds_to(&self, other: EntryId) -> Vec<LinkKind> {
        LinkKind::ALL
            .iter()
            .copied()
            .filter(|k| self.get(*k).contains(&other))
            .collect()
    }
}

/// Records on `e` that it relates to `other` with `kind`; false if it did already.
/// A single-valued kind (parent, duplicates) replaces the one there.
pub fn add_link(e: &mut Entry, kind: LinkKind, other: &Entry) -> bool {
    let id = other.id.to_string();
    let dep = |kind: DependencyType| Dependency {
        id: id.clone(),
        kind,
        description: other.title.clone(),
        external_id: None,
        extra: Extra::new(),
    };
    let has_dep = |e: &Entry, kind: DependencyType| {
        e.context
            .dependencies
            .iter()
            .any(|d| d.kind == kind && d.id.parse::<EntryId>().ok() == Some(other.id))
    };
    match kind {
        LinkKind::Blocks | LinkKind::BlockedBy => {
            let t = if kind == LinkKind::Blocks {
                DependencyType::Blocks
            } else {
                DependencyType::BlockedBy
            };
            if has_dep(e, t) {
                return false;
            }
            e.context.dependencies.push(dep(t));
            true
        }
        LinkKind::Relates => {
            if Links::of(e).related.contains(&other.id) {
                return false;
            }
            e.related_devlogs.push(Value::String(id));
            true
        }
        LinkKind::Parent | LinkKind::Duplicates => {
            let key = if kind == LinkKind::Parent {
                PARENT
            } else {
                DUPLICATE_OF
            };
            let new = Value::String(id);
            if e.extra.get(key) == Some(&new) {
                return false;
            }
            e.extra.insert(key.to_string(), new);
            true
        }
        LinkKind::Child | LinkKind::DuplicatedBy => {
            let key = if kind == LinkKind::Child {
                CHILDREN
            } else {
                DUPLICATED_BY
            };
            let list = e
                .extra
                .entry(key.to_string())
                .or_insert_with(|| Value::Array(Vec::new()));
            if !list.is_array() {
                *list = Value::Array(Vec::new());
            }
            let items = list.as_array_mut().expect("made an array above");
            if items.iter().any(|v| v.as_str() == Some(id.as_str())) {
                return false;
            }
            items.push(Value::String(id));
            true
        }
    }
}

/// Removes the links of `kind` (every kind when `None`) from `e` to `other`; returns the
/// kinds removed.
pub fn remove_link(e: &mut Entry, kind: Option<LinkKind>, other: EntryId) -> Vec<LinkKind> {
    let wanted = |k: LinkKind| kind.is_none_or(|x| x == k);
    let mut removed = Vec::new();
    let is_other = |s: &str| s.parse::<EntryId>().ok() == Some(other);
    for (k, t) in [
        (LinkKind::Blocks, DependencyType::Blocks),
        (LinkKind::BlockedBy, DependencyType::BlockedBy),
        (LinkKind::Relates, DependencyType::RelatedTo),
    ] {
        if !wanted(k) {
            continue;
        }
        let before = e.context.dependencies.len();
        e.context
            .dependencies
            .retain(|d| !(d.kind == t && is_other(&d.id)));
        if e.context.dependencies.len() != before {
            removed.push(k);
        }
    }
    if wanted(LinkKind::Relates) {
        let before = e.related_devlogs.len();
        e.related_devlogs
            .retain(|v| !v.as_str().is_some_and(is_other));
        if e.related_devlogs.len() != before && !removed.contains(&LinkKind::Relates) {
            removed.push(LinkKind::Relates);
        }
    }
    for (k, key) in [
        (LinkKind::Parent, PARENT),
        (LinkKind::Duplicates, DUPLICATE_OF),
    ] {
        if wanted(k)
            && e.extra
                .get(key)
                .and_then(Value::as_str)
                .is_some_and(is_other)
        {
            e.extra.remove(key);
            removed.push(k);
        }
    }
    for (k, key) in [
        (LinkKind::Child, CHILDREN),
        (LinkKind::DuplicatedBy, DUPLICATED_BY),
    ] {
        if !wanted(k) {
            continue;
        }
        if let Some(Value::Array(items)) = e.extra.get_mut(key) {
            let before = items.len();
            items.retain(|v| !v.as_str().is_some_and(is_other));
            if items.len() != before {
                removed.push(k);
            }
            if items.is_empty() {
                e.extra.remove(key);
            }
        }
    }
    removed
}

/// What [`Devlog::link`] did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkOutcome {
    /// The entry the link was made from, as written.
    pub entry: Entry,
    /// The other entry, as written.
    pub other: Entry,
    pub kind: LinkKind,
    /// False when the link existed already (nothing was written).
    pub changed: bool,
    /// The entry that was the parent (or the original) before, when the link replaced it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replaced: Option<EntrySummary>,
}

/// What [`Devlog::unlink`] did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UnlinkOutcome {
    pub entry: Entry,
    pub other: Entry,
    /// The kinds removed, seen from `entry` (empty: there was no such link).
    pub removed: Vec<LinkKind>,
}

/// One linked entry as the relations view shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Linked {
    pub id: EntryId,
    /// `None` when the entry no longer exists in this store (deleted, or not pulled yet).
    pub entry: Option<EntrySummary>,
    /// For children: how many of their own subtasks are done or closed, of how many.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<Progress>,
}

/// `done` of `total` finished (done or closed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Progress {
    pub done: usize,
    pub total: usize,
}

impl std::fmt::Display for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{} done", self.done, self.total)
    }
}

/// An entry's relations, resolved (`devlog show`, MCP `get_devlog`'s relations, REST
/// `GET /api/v1/entries/{ref}/relations`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Relations {
    pub parent: Option<Linked>,
    pub children: Vec<Linked>,
    /// Progress of the children (none when there are none).
    pub progress: Option<Progress>,
    pub blocked_by: Vec<Linked>,
    pub blocks: Vec<Linked>,
    pub related: Vec<Linked>,
    pub duplicate_of: Option<Linked>,
    pub duplicated_by: Vec<Linked>,
    /// `relatedDevlogs` values that are not ids, with the entry they name when one matches.
    pub related_other: Vec<RelatedOther>,
    /// Blockers that are still open: the entry is waiting on these.
    pub open_blockers: usize,
    /// Stored link values devlog cannot read (see [`Links::unreadable`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unreadable: Vec<String>,
}

/// A `relatedDevlogs` value of the original that is not an id (often its integer id).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RelatedOther {
    pub value: Value,
    pub entry: Option<EntrySummary>,
}

impl Relations {
    pub fn is_empty(&self) -> bool {
        self.parent.is_none()
            && self.children.is_empty()
            && self.blocked_by.is_empty()
            && self.blocks.is_empty()
            && self.related.is_empty()
            && self.duplicate_of.is_none()
            && self.duplicated_by.is_empty()
            && self.related_other.is_empty()
            && self.unreadable.is_empty()
    }
}

/// The progress of a set of entries: how many are finished.
pub fn progress<'a>(statuses: impl IntoIterator<Item = &'a Status>) -> Option<Progress> {
    let (mut done, mut total) = (0, 0);
    for s in statuses {
        total += 1;
        done += usize::from(s.is_closed());
    }
    (total > 0).then_some(Progress { done, total })
}

/// Input for a free dependency (not on an entry: a library release, another team's work...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewDependency {
    pub description: String,
    /// `blocked-by` when not given.
    #[serde(rename = "type", default)]
    pub kind: Option<DependencyType>,
    /// The dependency in another system (`JIRA-12`, `owner/repo#5`).
    #[serde(default)]
    pub external_id: Option<String>,
}

/// Input for a risk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewRisk {
    pub description: String,
    pub impact: Level,
    pub probability: Level,
    #[serde(default)]
    pub mitigation: String,
}

/// The rule that a parent is not finished while subtasks are open, checked inside the
/// store's update of the parent (see [`Devlog::children_guard`]).
#[derive(Debug, Clone, Default)]
pub struct ChildrenGuard {
    /// Children known to be finished when the guard was made.
    finished: HashSet<EntryId>,
    /// Handles and statuses of the open ones, for the message.
    open: HashMap<EntryId, (u64, Status)>,
    /// `--force`: the rule is off.
    off: bool,
}

impl ChildrenGuard {
    /// Fails if `e` would go from open to `to` (done or closed) while a child is open. A
    /// child added since the guard was made counts as open.
    pub fn check(&self, e: &Entry, to: Status) -> Result<()> {
        if self.off || !to.is_closed() || e.status.is_closed() {
            return Ok(());
        }
        let open: Vec<String> = Links::of(e)
            .children
            .iter()
            .filter(|c| !self.finished.contains(c))
            .map(|c| match self.open.get(c) {
                Some((h, s)) => format!("#{h} ({s})"),
                None => format!("{} (added meanwhile)", c.short()),
            })
            .collect();
        if open.is_empty() {
            return Ok(());
        }
        Err(StoreError::invalid(
            "status",
            format!(
                "{} has {} open subtask{}: {}; finish or close them first, or force it \
                 (--force; MCP and REST: force)",
                e.handle_str(),
                open.len(),
                if open.len() == 1 { "" } else { "s" },
                open.join(", ")
            ),
        ))
    }
}

impl Devlog {
    /// The guard for finishing `id`: reads its children's statuses now, so the check in the
    /// update closure needs no I/O. With [`Devlog::allowing_open_children`] it lets
    /// everything through; for a status that does not finish work it reads nothing.
    pub async fn children_guard(&self, id: EntryId, to: Option<Status>) -> Result<ChildrenGuard> {
        if self.open_children_allowed() || !to.is_some_and(|s| s.is_closed()) {
            return Ok(ChildrenGuard {
                off: true,
                ..ChildrenGuard::default()
            });
        }
        let e = self.store().get(id).await?;
        let mut g = ChildrenGuard::default();
        for c in Links::of(&e).children {
            match self.store().get(c).await {
                Ok(child) if child.status.is_closed() => {
                    g.finished.insert(c);
                }
                Ok(child) => {
                    g.open.insert(c, (child.handle, child.status));
                }
                // A deleted subtask is not open work.
                Err(err) if err.kind() == crate::error::ErrorKind::NotFound => {
                    g.finished.insert(c);
                }
                Err(err) => return Err(err),
            }
        }
        Ok(g)
    }

    /// The second half of creating a subtask ([`Devlog::create`] with a parent): the new
    /// entry holds its parent already; the parent now lists it. An open entry with the same
    /// title returned instead is made a subtask only if it has no other parent.
    pub(crate) async fn adopt(
        &self,
        created: crate::store::Created,
        parent: &Entry,
        meta: &WriteMeta,
    ) -> Result<crate::store::Created> {
        use crate::store::Created;
        let child = created.entry().clone();
        match Links::of(&child).parent {
            Some(p) if p != parent.id => return Ok(created),
            Some(_) => {}
            None => {
                let out = self
                    .link(child.id, LinkKind::Parent, &parent.id.to_string(), meta)
                    .await?;
                return Ok(Created::Existing(out.entry));
            }
        }
        let now = self.clock().now();
        self.store()
            .update(parent.id, meta, &mut |e: &mut Entry| {
                if add_link(e, LinkKind::Child, &child) {
                    e.updated_at = now;
                }
                Ok(())
            })
            .await?;
        Ok(created)
    }

    /// Links entry `id` to the entry `other` names (a reference as users type it), on both
    /// entries. Refuses a link to itself, to a missing entry (with suggestions), and a parent
    /// or blocker that would close a cycle (named: `#3 → #7 → #3`). Linking again changes
    /// nothing; a new parent (or original) replaces the old one on all three entries.
    pub async fn link(
        &self,
        id: EntryId,
        kind: LinkKind,
        other: &str,
        meta: &WriteMeta,
    ) -> Result<LinkOutcome> {
        let from = self.store().get(id).await?;
        let to = self.resolve(other).await?;
        if to.id == from.id {
            return Err(StoreError::invalid(
                "link",
                format!("{} cannot be linked to itself", from.handle_str()),
            ));
        }
        self.refuse_cycle(&from, kind, &to).await?;
        let before = Links::of(&from);
        let replaced_id = match kind {
            LinkKind::Parent => before.parent,
            LinkKind::Duplicates => before.duplicate_of,
            _ => None,
        }
        .filter(|old| *old != to.id);
        // The other side of a single-valued link on `to` (A --child B: B's parent is A).
        let displaced_id = match kind {
            LinkKind::Child => Links::of(&to).parent,
            LinkKind::DuplicatedBy => Links::of(&to).duplicate_of,
            _ => None,
        }
        .filter(|old| *old != from.id);
        let now = self.clock().now();
        let to_snapshot = to.clone();
        let mut changed = false;
        let entry = self
            .store()
            .update(id, meta, &mut |e: &mut Entry| {
                changed = add_link(e, kind, &to_snapshot);
                if changed {
                    e.updated_at = now;
                }
                Ok(())
            })
            .await?;
        let entry_snapshot = entry.clone();
        let mut other_changed = false;
        let other_entry = self
            .store()
            .update(to.id, meta, &mut |e: &mut Entry| {
                other_changed = add_link(e, kind.inverse(), &entry_snapshot);
                if other_changed {
                    e.updated_at = now;
                }
                Ok(())
            })
            .await?;
        // Another writer may have linked the other way between the check above and these
        // writes (each checked before the other wrote). Checked again now that this link is
        // stored, at least the later of two such writers sees the cycle, and undoes its link.
        if (changed || other_changed)
            && let Err(cycle) = self.refuse_cycle(&entry, kind, &other_entry).await
        {
            self.undo_link(
                (entry.id, changed),
                kind,
                (to.id, other_changed),
                replaced_id,
                displaced_id,
                meta,
            )
            .await?;
            return Err(cycle);
        }
        let mut replaced = None;
        // The old parent (original) no longer lists this entry.
        if let Some(old) = replaced_id {
            replaced = self.drop_side(old, kind.inverse(), entry.id, meta).await?;
        }
        if let Some(old) = displaced_id {
            replaced = self.drop_side(old, kind, to.id, meta).await?;
        }
        Ok(LinkOutcome {
            entry,
            other: other_entry,
            kind,
            changed: changed || other_changed,
            replaced,
        })
    }

    /// Takes back a link [`Devlog::link`] stored on `from` (and its inverse on `to`) where
    /// each side was `changed` by it, and gives back the parent (original) it replaced on
    /// either side: the entries are linked as before the call.
    async fn undo_link(
        &self,
        (from, from_changed): (EntryId, bool),
        kind: LinkKind,
        (to, to_changed): (EntryId, bool),
        replaced: Option<EntryId>,
        displaced: Option<EntryId>,
        meta: &WriteMeta,
    ) -> Result<()> {
        let now = self.clock().now();
        let restore = |id: Option<EntryId>| async move {
            match id {
                Some(id) => match self.store().get(id).await {
                    Ok(e) => Ok(Some(e)),
                    Err(err) if err.kind() == crate::error::ErrorKind::NotFound => Ok(None),
                    Err(err) => Err(err),
                },
                None => Ok(None),
            }
        };
        for (on, other, k, changed, back) in [
            (from, to, kind, from_changed, restore(replaced).await?),
            (
                to,
                from,
                kind.inverse(),
                to_changed,
                restore(displaced).await?,
            ),
        ] {
            if !changed {
                continue;
            }
            // The single-valued side (parent, original) of the link that was replaced.
            let back_kind = match kind {
                LinkKind::Parent | LinkKind::Duplicates => kind,
                _ => kind.inverse(),
            };
            self.store()
                .update(on, meta, &mut |e: &mut Entry| {
                    remove_link(e, Some(k), other);
                    if let Some(b) = &back {
                        add_link(e, back_kind, b);
                    }
                    e.updated_at = now;
                    Ok(())
                })
                .await?;
        }
        Ok(())
    }

    /// Removes the `kind` link from `on` to `to`, if `on` still exists.
    async fn drop_side(
        &self,
        on: EntryId,
        kind: LinkKind,
        to: EntryId,
        meta: &WriteMeta,
    ) -> Result<Option<EntrySummary>> {
        let now = self.clock().now();
        let res = self
            .store()
            .update(on, meta, &mut |e: &mut Entry| {
                if !remove_link(e, Some(kind), to).is_empty() {
                    e.updated_at = now;
                }
                Ok(())
            })
            .await;
        match res {
            Ok(e) => Ok(Some(e.summary())),
            Err(err) if err.kind() == crate::error::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// Removes the links between entry `id` and the entry `other` names, on both sides: those
    /// of `kind` (seen from `id`), or all of them.
    pub async fn unlink(
        &self,
        id: EntryId,
        other: &str,
        kind: Option<LinkKind>,
        meta: &WriteMeta,
    ) -> Result<UnlinkOutcome> {
        self.store().get(id).await?;
        let to = self.resolve(other).await?;
        let now = self.clock().now();
        let mut removed = Vec::new();
        let entry = self
            .store()
            .update(id, meta, &mut |e: &mut Entry| {
                removed = remove_link(e, kind, to.id);
                if !removed.is_empty() {
                    e.updated_at = now;
                }
                Ok(())
            })
            .await?;
        let mut removed_there = Vec::new();
        let other_entry = self
            .store()
            .update(to.id, meta, &mut |e: &mut Entry| {
                removed_there = remove_link(e, kind.map(LinkKind::inverse), id);
                if !removed_there.is_empty() {
                    e.updated_at = now;
                }
                Ok(())
            })
            .await?;
        // A link stored on one side only (a half-finished write, a merge) is still removed;
        // report it from this entry's side.
        for k in removed_there {
            if !removed.contains(&k.inverse()) {
                removed.push(k.inverse());
            }
        }
        Ok(UnlinkOutcome {
            entry,
            other: other_entry,
            removed,
        })
    }

    /// Fails if linking `from` to `to` with `kind` would close a cycle of parents or of
    /// blockers, naming it.
    async fn refuse_cycle(&self, from: &Entry, kind: LinkKind, to: &Entry) -> Result<()> {
        // Normalise to "child → parent" and "blocker → blocked" edges: a cycle exists when
        // the edge's head already reaches its tail.
        let (tail, head, follow, arrow) = match kind {
            LinkKind::Parent => (from, to, LinkKind::Parent, "is a subtask of"),
            LinkKind::Child => (to, from, LinkKind::Parent, "is a subtask of"),
            LinkKind::Blocks => (from, to, LinkKind::Blocks, "blocks"),
            LinkKind::BlockedBy => (to, from, LinkKind::Blocks, "blocks"),
            _ => return Ok(()),
        };
        if let Some(path) = self.path(head, tail.id, follow).await? {
            let mut names = vec![tail.handle_str()];
            names.extend(path.iter().map(|h| format!("#{h}")));
            return Err(StoreError::invalid(
                "link",
                format!(
                    "this would make a cycle ({} {arrow} the next): {}",
                    match follow {
                        LinkKind::Parent => "each",
                        _ => "each entry",
                    },
                    names.join(" → ")
                ),
            ));
        }
        Ok(())
    }

    /// The handles on a path from `start` to `goal` following `kind` links (start and goal
    /// included), if there is one. Depth-first over the stored links; each entry read once.
    async fn path(&self, start: &Entry, goal: EntryId, kind: LinkKind) -> Result<Option<Vec<u64>>> {
        let mut seen = HashSet::from([start.id]);
        // (entry id, handle, path so far)
        let mut stack = vec![(start.clone(), vec![start.handle])];
        while let Some((e, path)) = stack.pop() {
            if seen.len() > MAX_DEPTH {
                break;
            }
            for next in Links::of(&e).get(kind) {
                if next == goal {
                    let mut p = path.clone();
                    p.push(self.store().get(goal).await?.handle);
                    return Ok(Some(p));
                }
                if !seen.insert(next) {
                    continue;
                }
                match self.store().get(next).await {
                    Ok(n) => {
                        let mut p = path.clone();
                        p.push(n.handle);
                        stack.push((n, p));
                    }
                    Err(err) if err.kind() == crate::error::ErrorKind::NotFound => {}
                    Err(err) => return Err(err),
                }
            }
        }
        Ok(None)
    }

    /// The relations of entry `id`, each linked entry read with its status (and, for
    /// children, their own progress).
    pub async fn relations(&self, id: EntryId) -> Result<Relations> {
        let e = self.store().get(id).await?;
        self.relations_of(&e).await
    }

    /// Like [`relations`](Self::relations) for an entry already read.
    pub async fn relations_of(&self, e: &Entry) -> Result<Relations> {
        let l = Links::of(e);
        let mut cache: HashMap<EntryId, Option<Entry>> = HashMap::new();
        let mut read = async |id: EntryId, with_progress: bool| -> Result<Linked> {
            if let std::collections::hash_map::Entry::Vacant(v) = cache.entry(id) {
                v.insert(match self.store().get(id).await {
                    Ok(x) => Some(x),
                    Err(err) if err.kind() == crate::error::ErrorKind::NotFound => None,
                    Err(err) => return Err(err),
                });
            }
            let found = cache.get(&id).cloned().flatten();
            let mut progress_of = None;
            if with_progress && let Some(f) = &found {
                let mut statuses = Vec::new();
                for c in Links::of(f).children {
                    if let Ok(s) = self.store().get(c).await {
                        statuses.push(s.status);
                    }
                }
                progress_of = progress(&statuses);
            }
            Ok(Linked {
                id,
                entry: found.map(|x| x.summary()),
                progress: progress_of,
            })
        };
        let mut r = Relations::default();
        if let Some(p) = l.parent {
            r.parent = Some(read(p, false).await?);
        }
        for c in &l.children {
            r.children.push(read(*c, true).await?);
        }
        for b in &l.blocked_by {
            r.blocked_by.push(read(*b, false).await?);
        }
        for b in &l.blocks {
            r.blocks.push(read(*b, false).await?);
        }
        for x in &l.related {
            r.related.push(read(*x, false).await?);
        }
        if let Some(d) = l.duplicate_of {
            r.duplicate_of = Some(read(d, false).await?);
        }
        for d in &l.duplicated_by {
            r.duplicated_by.push(read(*d, false).await?);
        }
        for v in &l.related_other {
            let name = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let entry = self.resolve_summary(&name).await.ok();
            r.related_other.push(RelatedOther {
                value: v.clone(),
                entry,
            });
        }
        r.progress = progress(
            r.children
                .iter()
                .filter_map(|c| c.entry.as_ref().map(|e| &e.status)),
        );
        r.open_blockers = r
            .blocked_by
            .iter()
            .filter(|b| b.entry.as_ref().is_some_and(|e| !e.status.is_closed()))
            .count();
        r.unreadable = l.unreadable;
        Ok(r)
    }

    /// Entries that pass `q.filter` and wait on an open blocker (a `blocked-by` link to an
    /// entry that is not done or closed), in `q`'s order and page. Dependencies are not a
    /// column of any backend's index, so this reads each entry the filter passes (a page of
    /// summaries at a time) and its blockers: its cost grows with the filtered entries, not
    /// the store (`devlog list --blocked` lists open work by default).
    pub async fn blocked(&self, q: &ListQuery) -> Result<Page<EntrySummary>> {
        const CHUNK: usize = 500;
        let mut matches = Vec::new();
        let mut open: HashMap<EntryId, bool> = HashMap::new();
        let mut offset = 0;
        loop {
            let page = self
                .store()
                .list(&ListQuery {
                    offset,
                    limit: CHUNK,
                    ..q.clone()
                })
                .await?;
            let n = page.items.len();
            for s in page.items {
                let e = match self.store().get(s.id).await {
                    Ok(e) => e,
                    Err(err) if err.kind() == crate::error::ErrorKind::NotFound => continue,
                    Err(err) => return Err(err),
                };
                let mut waiting = false;
                for b in Links::of(&e).blocked_by {
                    let is_open = match open.get(&b) {
                        Some(o) => *o,
                        None => {
                            let o = match self.store().get(b).await {
                                Ok(x) => !x.status.is_closed(),
                                Err(err) if err.kind() == crate::error::ErrorKind::NotFound => {
                                    false
                                }
                                Err(err) => return Err(err),
                            };
                            open.insert(b, o);
                            o
                        }
                    };
                    if is_open {
                        waiting = true;
                        break;
                    }
                }
                if waiting {
                    matches.push(s);
                }
            }
            offset += n;
            if n < CHUNK {
                break;
            }
        }
        let total = matches.len() as u64;
        let items = matches.into_iter().skip(q.offset).take(q.limit).collect();
        Ok(Page {
            items,
            total,
            offset: q.offset,
            limit: q.limit,
            total_is_estimate: false,
        })
    }

    /// Orders `items` as a tree: each entry whose parent is among them right after it (its
    /// depth one more), the rest in their given order at depth 0.
    pub async fn tree(&self, items: Vec<EntrySummary>) -> Result<Vec<(usize, EntrySummary)>> {
        let ids: HashSet<EntryId> = items.iter().map(|s| s.id).collect();
        let mut parent_of: HashMap<EntryId, EntryId> = HashMap::new();
        for s in &items {
            let e = match self.store().get(s.id).await {
                Ok(e) => e,
                Err(err) if err.kind() == crate::error::ErrorKind::NotFound => continue,
                Err(err) => return Err(err),
            };
            if let Some(p) = Links::of(&e)
                .parent
                .filter(|p| ids.contains(p) && *p != s.id)
            {
                parent_of.insert(s.id, p);
            }
        }
        let mut kids: HashMap<EntryId, Vec<usize>> = HashMap::new();
        let mut roots = Vec::new();
        for (i, s) in items.iter().enumerate() {
            match parent_of.get(&s.id) {
                Some(p) => kids.entry(*p).or_default().push(i),
                None => roots.push(i),
            }
        }
        let mut out = Vec::with_capacity(items.len());
        let mut placed = vec![false; items.len()];
        let mut stack: Vec<(usize, usize)> = roots.iter().rev().map(|i| (*i, 0)).collect();
        loop {
            while let Some((i, depth)) = stack.pop() {
                if std::mem::replace(&mut placed[i], true) {
                    continue;
                }
                out.push((depth, items[i].clone()));
                if let Some(k) = kids.get(&items[i].id) {
                    stack.extend(k.iter().rev().map(|c| (*c, depth + 1)));
                }
            }
            // Entries on a parent cycle in damaged data have no root: list them at depth 0.
            match placed.iter().position(|p| !p) {
                Some(i) => stack.push((i, 0)),
                None => break,
            }
        }
        Ok(out)
    }

    /// Adds a free dependency (not a link to an entry: see [`Devlog::link`]).
    pub async fn add_dependency(
        &self,
        id: EntryId,
        d: NewDependency,
        meta: &WriteMeta,
    ) -> Result<(Entry, Dependency)> {
        if d.description.trim().is_empty() {
            return Err(StoreError::invalid(
                "description",
                "say what the work depends on (a release, another team's change, …)",
            ));
        }
        check_text("description", &d.description)?;
        check_text("externalId", d.external_id.as_deref().unwrap_or(""))?;
        let dep = Dependency {
            id: format!("dep-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]),
            kind: d.kind.unwrap_or(DependencyType::BlockedBy),
            description: d.description.trim().to_string(),
            external_id: d
                .external_id
                .map(|x| x.trim().to_string())
                .filter(|x| !x.is_empty()),
            extra: Extra::new(),
        };
        let now = self.clock().now();
        let entry = self
            .store()
            .update(id, meta, &mut |e: &mut Entry| {
                e.context.dependencies.push(dep.clone());
                e.updated_at = now;
                Ok(())
            })
            .await?;
        Ok((entry, dep))
    }

    /// Removes a free dependency by its id (or a unique prefix of it). A dependency that is a
    /// link to an entry is removed with [`Devlog::unlink`], which keeps both sides in step.
    pub async fn remove_dependency(
        &self,
        id: EntryId,
        dep_id: &str,
        meta: &WriteMeta,
    ) -> Result<(Entry, Dependency)> {
        let e = self.store().get(id).await?;
        let found = pick(
            "dependency",
            dep_id,
            e.context.dependencies.iter().map(|d| d.id.as_str()),
            &e,
        )?;
        if found.parse::<EntryId>().is_ok() {
            return Err(StoreError::invalid(
                "dependency",
                format!(
                    "`{found}` is a link to another entry; remove it with `devlog unlink` (MCP unlink_entries), which updates both entries"
                ),
            ));
        }
        let mut removed = None;
        let now = self.clock().now();
        let entry = self
            .store()
            .update(id, meta, &mut |e: &mut Entry| {
                let at = e.context.dependencies.iter().position(|d| d.id == found);
                removed = at.map(|i| e.context.dependencies.remove(i));
                if removed.is_some() {
                    e.updated_at = now;
                }
                Ok(())
            })
            .await?;
        let removed = removed.ok_or_else(|| gone("dependency", &found))?;
        Ok((entry, removed))
    }

    /// Adds a risk.
    pub async fn add_risk(
        &self,
        id: EntryId,
        r: NewRisk,
        meta: &WriteMeta,
    ) -> Result<(Entry, Risk)> {
        if r.description.trim().is_empty() {
            return Err(StoreError::invalid(
                "description",
                "say what could go wrong",
            ));
        }
        check_text("description", &r.description)?;
        check_text("mitigation", &r.mitigation)?;
        let risk = Risk {
            id: format!("risk-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]),
            description: r.description.trim().to_string(),
            impact: r.impact,
            probability: r.probability,
            mitigation: r.mitigation.trim().to_string(),
            extra: Extra::new(),
        };
        let now = self.clock().now();
        let entry = self
            .store()
            .update(id, meta, &mut |e: &mut Entry| {
                e.context.risks.push(risk.clone());
                e.updated_at = now;
                Ok(())
            })
            .await?;
        Ok((entry, risk))
    }

    /// Removes a risk by its id (or a unique prefix of it).
    pub async fn remove_risk(
        &self,
        id: EntryId,
        risk_id: &str,
        meta: &WriteMeta,
    ) -> Result<(Entry, Risk)> {
        let e = self.store().get(id).await?;
        let found = pick(
            "risk",
            risk_id,
            e.context.risks.iter().map(|r| r.id.as_str()),
            &e,
        )?;
        let mut removed = None;
        let now = self.clock().now();
        let entry = self
            .store()
            .update(id, meta, &mut |e: &mut Entry| {
                let at = e.context.risks.iter().position(|r| r.id == found);
                removed = at.map(|i| e.context.risks.remove(i));
                if removed.is_some() {
                    e.updated_at = now;
                }
                Ok(())
            })
            .await?;
        let removed = removed.ok_or_else(|| gone("risk", &found))?;
        Ok((entry, removed))
    }
}

/// The one id among `ids` that is `wanted` or starts with it.
fn pick<'a>(
    what: &str,
    wanted: &str,
    ids: impl Iterator<Item = &'a str> + Clone,
    e: &Entry,
) -> Result<String> {
    let wanted = wanted.trim();
    if wanted.is_empty() {
        return Err(StoreError::invalid(what, "give its id (see devlog show)"));
    }
    if let Some(exact) = ids.clone().find(|i| *i == wanted) {
        return Ok(exact.to_string());
    }
    let hits: Vec<&str> = ids.clone().filter(|i| i.starts_with(wanted)).collect();
    match hits.as_slice() {
        [one] => Ok(one.to_string()),
        [] => {
            let all: Vec<&str> = ids.collect();
            Err(StoreError::invalid(
                what,
                format!(
                    "{} has no {what} `{wanted}`; its {what} ids: {}",
                    e.handle_str(),
                    if all.is_empty() {
                        "none".to_string()
                    } else {
                        all.join(", ")
                    }
                ),
            ))
        }
        many => Err(StoreError::invalid(
            what,
            format!(
                "`{wanted}` matches {}; give more of the id",
                many.join(", ")
            ),
        )),
    }
}

fn gone(what: &str, id: &str) -> StoreError {
    StoreError::invalid(what, format!("`{id}` was removed meanwhile"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::{AiContext, Context, EntryType, Priority};

    fn entry(title: &str) -> Entry {
        let now: crate::time::Timestamp = "2026-01-01T00:00:00.000Z".parse().expect("ts");
        Entry {
            id: EntryId::new_random(),
            handle: 1,
            key: "k".into(),
            legacy_id: None,
            title: title.into(),
            kind: EntryType::Task,
            description: String::new(),
            status: Status::New,
            priority: Priority::Medium,
            created_at: now,
            updated_at: now,
            closed_at: None,
            assignee: None,
            tags: Vec::new(),
            estimated_hours: None,
            actual_hours: None,
            notes: Vec::new(),
            files: Vec::new(),
            related_devlogs: Vec::new(),
            context: Context::default(),
            ai_context: AiContext::default(),
            external_references: Vec::new(),
            deployments: Vec::new(),
            due_date: None,
            points: None,
            milestone: None,
            worklogs: vec![],
            extra: Extra::new(),
        }
    }

    #[test]
    fn every_kind_round_trips_through_add_read_and_remove() {
        for kind in LinkKind::ALL.iter().copied() {
            let (mut a, b) = (entry("a"), entry("b"));
            assert!(add_link(&mut a, kind, &b), "{kind}");
            assert!(!add_link(&mut a, kind, &b), "{kind} twice");
            assert_eq!(Links::of(&a).kinds_to(b.id), vec![kind], "{kind}");
            assert_eq!(remove_link(&mut a, None, b.id), vec![kind], "{kind}");
            assert!(Links::of(&a).kinds_to(b.id).is_empty(), "{kind}");
            // Nothing is left behind: the document is as before.
            let fresh = entry("a");
            assert_eq!(a.extra, fresh.extra, "{kind}");
            assert!(a.context.dependencies.is_empty() && a.related_devlogs.is_empty());
        }
    }

    #[test]
    fn blocks_are_stored_as_the_originals_dependencies() {
        let (mut a, b) = (entry("a"), entry("Ship the parser"));
        add_link(&mut a, LinkKind::Blocks, &b);
        let v = serde_json::to_value(&a.context.dependencies).expect("json");
        assert_eq!(
            v,
            serde_json::json!([{"id": b.id.to_string(), "type": "blocks", "description": "Ship the parser"}])
        );
        assert_eq!(LinkKind::Blocks.inverse(), LinkKind::BlockedBy);
        for k in LinkKind::ALL {
            assert_eq!(k.inverse().inverse(), *k);
        }
    }

    #[test]
    fn original_values_that_are_not_ids_are_kept_and_reported() {
        let mut a = entry("a");
        a.related_devlogs = vec![serde_json::json!(12), serde_json::json!("devlog-3")];
        a.extra.insert(PARENT.into(), serde_json::json!(7));
        let l = Links::of(&a);
        assert_eq!(l.related_other.len(), 2);
        assert_eq!(l.parent, None);
        assert_eq!(l.unreadable, vec!["parent: 7".to_string()]);
        // A parent link replaces the unreadable value.
        let p = entry("p");
        assert!(add_link(&mut a, LinkKind::Parent, &p));
        assert_eq!(Links::of(&a).parent, Some(p.id));
        assert_eq!(a.related_devlogs.len(), 2);
    }

    #[test]
    fn the_guard_refuses_finishing_a_parent_with_open_children() {
        let (mut p, c) = (entry("p"), entry("c"));
        add_link(&mut p, LinkKind::Child, &c);
        let mut g = ChildrenGuard::default();
        g.open.insert(c.id, (2, Status::InProgress));
        let err = g.check(&p, Status::Done).unwrap_err().to_string();
        assert!(
            err.contains("#2 (in-progress)") && err.contains("--force"),
            "{err}"
        );
        assert!(g.check(&p, Status::InReview).is_ok());
        g.finished.insert(c.id);
        assert!(g.check(&p, Status::Closed).is_ok());
        let off = ChildrenGuard {
            off: true,
            ..ChildrenGuard::default()
        };
        assert!(off.check(&p, Status::Done).is_ok());
    }

    #[test]
    fn progress_counts_finished_work() {
        let s = [
            Status::Done,
            Status::New,
            Status::Closed,
            Status::InProgress,
            Status::New,
        ];
        assert_eq!(progress(&s).expect("some").to_string(), "2/5 done");
        assert_eq!(progress(&[]), None);
    }
}
