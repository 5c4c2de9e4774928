//! Field-level three-way merge of an entry's synced fields against the last synced base.
//!
//! Pure: the sync engine feeds it the base it recorded at the last successful sync, the local
//! entry and the remote item (both mapped to [`SyncedFields`]), and acts on the result.

pub mod document;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::entry::{Entry, EntryType, Priority, Status};
use crate::time::Timestamp;

pub use document::{MergeError, merge_documents};

/// The fields that travel between devlog and another system. Integrations map their own
/// fields to and from these (status ⇄ state, priority ⇄ label, ...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncedFields {
    pub title: String,
    pub description: String,
    pub status: Status,
    pub priority: Priority,
    #[serde(rename = "type")]
    pub kind: EntryType,
    #[serde(default)]
    pub assignee: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
}

impl SyncedFields {
    pub fn from_entry(e: &Entry) -> Self {
        let mut tags = e.tags.clone();
        tags.sort();
        Self {
            title: e.title.clone(),
            description: e.description.clone(),
            status: e.status,
            priority: e.priority,
            kind: e.kind,
            assignee: e.assignee.clone(),
            tags,
        }
    }

    /// Writes these fields into an entry (status changes keep `closedAt` consistent).
    pub fn apply_to(&self, e: &mut Entry, now: Timestamp) {
        e.title = self.title.clone();
        e.description = self.description.clone();
        crate::ops::set_status(e, self.status, now);
        e.priority = self.priority;
        e.kind = self.kind;
        e.assignee = self.assignee.clone();
        e.tags = self.tags.clone();
    }

    fn to_map(&self) -> BTreeMap<String, Value> {
        match serde_json::to_value(self) {
            Ok(Value::Object(m)) => m.into_iter().collect(),
            _ => BTreeMap::new(),
        }
    }

    fn from_map(m: BTreeMap<String, Value>) -> Option<Self> {
        serde_json::from_value(Value::Object(m.into_iter().collect())).ok()
    }
}

/// How a true conflict (both sides changed a field differently) is settled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    LocalWins,
    RemoteWins,
    /// The side changed most recently wins (ties go to local).
    NewestWins,
    /// Keep both values as a recorded conflict; local keeps its value and the field is not
    /// pushed until someone resolves it.
    #[default]
    Manual,
}

impl Strategy {
    pub const ALL: &'static [(&'static str, Strategy)] = &[
        ("local-wins", Strategy::LocalWins),
        ("remote-wins", Strategy::RemoteWins),
        ("newest-wins", Strategy::NewestWins),
        ("manual", Strategy::Manual),
    ];
}

/// A field both sides changed to different values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldConflict {
    pub field: String,
    pub base: Value,
    pub local: Value,
    pub remote: Value,
}

/// The result of a merge.
#[derive(Debug, Clone, PartialEq)]
pub struct Merged {
    /// The fields both sides should hold afterwards (for unresolved manual conflicts, local's
    /// value).
    pub fields: SyncedFields,
    /// Fields whose merged value differs from local: apply them to the entry.
    pub to_local: Vec<String>,
    /// Fields whose merged value differs from remote: push them.
    pub to_remote: Vec<String>,
    /// True conflicts left for a human (only with [`Strategy::Manual`]).
    pub conflicts: Vec<FieldConflict>,
    /// True conflicts settled by the strategy (reported, not stored).
    pub auto_resolved: Vec<FieldConflict>,
}

/// Merges `local` and `remote` against `base` field by field. Without a base (first sync of
/// an item linked to an existing entry), every differing field is a conflict.
pub fn merge(
    base: Option<&SyncedFields>,
    local: &SyncedFields,
    remote: &SyncedFields,
    strategy: Strategy,
    local_updated: Timestamp,
    remote_updated: Timestamp,
) -> Merged {
    let b = base.map(SyncedFields::to_map).unwrap_or_default();
    let l = local.to_map();
    let r = remote.to_map();
    let mut out = BTreeMap::new();
    let mut conflicts = Vec::new();
    let mut auto_resolved = Vec::new();
    let null = Value::Null;
    for (k, lv) in &l {
        let rv = r.get(k).unwrap_or(&null);
        let bv = b.get(k);
        let chosen = if lv == rv {
            lv.clone()
        } else if bv == Some(lv) {
            rv.clone() // only remote changed
        } else if bv == Some(rv) {
            lv.clone() // only local changed
        } else {
            let c = FieldConflict {
                field: k.clone(),
                base: bv.cloned().unwrap_or(Value::Null),
                local: lv.clone(),
                remote: rv.clone(),
            };
            let pick = match strategy {
                Strategy::LocalWins => Some(lv),
                Strategy::RemoteWins => Some(rv),
                Strategy::NewestWins => Some(if remote_updated > local_updated {
                    rv
                } else {
                    lv
                }),
                Strategy::Manual => None,
            };
            match pick {
                Some(v) => {
                    auto_resolved.push(c);
                    v.clone()
                }
                None => {
                    conflicts.push(c);
                    lv.clone()
                }
            }
        };
        out.insert(k.clone(), chosen);
    }
    let fields = SyncedFields::from_map(out.clone()).unwrap_or_else(|| local.clone());
    let held: Vec<&str> = conflicts.iter().map(|c| c.field.as_str()).collect();
    let to_local = out
        .iter()
        .filter(|(k, v)| l.get(*k) != Some(*v))
        .map(|(k, _)| k.clone())
        .collect();
    let to_remote = out
        .iter()
        .filter(|(k, v)| r.get(*k) != Some(*v) && !held.contains(&k.as_str()))
        .map(|(k, _)| k.clone())
        .collect();
    Merged {
        fields,
        to_local,
        to_remote,
        conflicts,
        auto_resolved,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(title: &str, status: Status) -> SyncedFields {
        SyncedFields {
            title: title.into(),
            description: String::new(),
            status,
            priority: Priority::Medium,
            kind: EntryType::Task,
            assignee: None,
            tags: vec![],
        }
    }

    fn t(ms: i64) -> Timestamp {
        Timestamp::from_millis(ms).unwrap()
    }

    #[test]
    fn non_overlapping_changes_merge() {
        let base = f("A", Status::New);
        let local = f("A2", Status::New);
        let remote = f("A", Status::Done);
        let m = merge(Some(&base), &local, &remote, Strategy::Manual, t(0), t(0));
        assert_eq!(m.fields, f("A2", Status::Done));
        assert_eq!(m.to_local, vec!["status"]);
        assert_eq!(m.to_remote, vec!["title"]);
        assert!(m.conflicts.is_empty());
    }

    #[test]
    fn true_conflicts_follow_the_strategy() {
        let base = f("A", Status::New);
        let local = f("Local", Status::New);
        let remote = f("Remote", Status::New);
        let manual = merge(Some(&base), &local, &remote, Strategy::Manual, t(1), t(2));
        assert_eq!(manual.conflicts.len(), 1);
        assert_eq!(manual.fields.title, "Local");
        assert!(manual.to_remote.is_empty(), "held fields are not pushed");
        let newest = merge(
            Some(&base),
            &local,
            &remote,
            Strategy::NewestWins,
            t(1),
            t(2),
        );
        assert_eq!(newest.fields.title, "Remote");
        assert_eq!(newest.auto_resolved.len(), 1);
        let lw = merge(
            Some(&base),
            &local,
            &remote,
            Strategy::LocalWins,
            t(1),
            t(2),
        );
        assert_eq!(
            (lw.fields.title.as_str(), lw.to_remote.clone()),
            ("Local", vec!["title".to_string()])
        );
        let rw = merge(
            Some(&base),
            &local,
            &remote,
            Strategy::RemoteWins,
            t(1),
            t(2),
        );
        assert_eq!(
            (rw.fields.title.as_str(), rw.to_local.clone()),
            ("Remote", vec!["title".to_string()])
        );
    }

    #[test]
    fn without_a_base_every_difference_is_a_conflict() {
        let m = merge(
            None,
            &f("L", Status::New),
            &f("R", Status::New),
            Strategy::Manual,
            t(0),
            t(0),
        );
        assert_eq!(m.conflicts.len(), 1);
    }
}
