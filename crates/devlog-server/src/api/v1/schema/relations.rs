//! Schema mirrors of the relation types (`devlog_core::relations`), checked against what the
//! core types serialize by the tests below.

use serde::Serialize;
use utoipa::ToSchema;

use super::{EntryDoc, EntrySummaryDoc};

/// How an entry relates to another: `blocks` (the other cannot finish first), `blocked-by`,
/// `relates`, `duplicates`, `duplicated-by`, `parent` (it is a subtask of the other), `child`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
#[schema(as = LinkKind)]
pub enum LinkKindDoc {
    Blocks,
    BlockedBy,
    Relates,
    Duplicates,
    DuplicatedBy,
    Parent,
    Child,
}

/// Low, medium or high.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
#[schema(as = Level)]
pub enum LevelDoc {
    Low,
    Medium,
    High,
}

/// How a dependency relates to the entry.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
#[schema(as = DependencyType)]
pub enum DependencyTypeDoc {
    Blocks,
    BlockedBy,
    RelatedTo,
}

/// A link to make: the entry in the path relates to `other` with `kind`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = LinkBody)]
pub struct LinkBodyDoc {
    kind: LinkKindDoc,
    /// The other entry: handle, id, id prefix, key or original devlog id.
    other: String,
}

/// What linking did.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = LinkOutcome)]
pub struct LinkOutcomeDoc {
    /// The entry in the path, as written.
    entry: EntryDoc,
    /// The other entry, as written.
    other: EntryDoc,
    kind: LinkKindDoc,
    /// False when the link existed already and nothing was written.
    changed: bool,
    /// The entry that was the parent (or original) before, when the link replaced it.
    replaced: Option<EntrySummaryDoc>,
}

/// What unlinking did.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = UnlinkOutcome)]
pub struct UnlinkOutcomeDoc {
    entry: EntryDoc,
    other: EntryDoc,
    /// The kinds removed, seen from the entry in the path (empty: they were not linked).
    removed: Vec<LinkKindDoc>,
}

/// `done` of `total` finished (done or closed).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Progress)]
pub struct ProgressDoc {
    done: u64,
    total: u64,
}

/// A linked entry.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Linked)]
pub struct LinkedDoc {
    /// The linked entry's id.
    id: String,
    /// Null when the entry is not in this store (deleted, or not pulled yet).
    entry: Option<EntrySummaryDoc>,
    /// For subtasks: the progress of their own subtasks.
    progress: Option<ProgressDoc>,
}

/// A `relatedDevlogs` value of the original that is not an id, and the entry it names.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = RelatedOther)]
pub struct RelatedOtherDoc {
    #[schema(value_type = Object)]
    value: serde_json::Value,
    entry: Option<EntrySummaryDoc>,
}

/// An entry's relations, each linked entry with its status.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Relations)]
pub struct RelationsDoc {
    parent: Option<LinkedDoc>,
    children: Vec<LinkedDoc>,
    /// Progress of the subtasks; null when there are none.
    progress: Option<ProgressDoc>,
    blocked_by: Vec<LinkedDoc>,
    blocks: Vec<LinkedDoc>,
    related: Vec<LinkedDoc>,
    duplicate_of: Option<LinkedDoc>,
    duplicated_by: Vec<LinkedDoc>,
    related_other: Vec<RelatedOtherDoc>,
    /// How many blockers are not done or closed.
    open_blockers: u64,
    /// Stored link values devlog cannot read, left as they are.
    unreadable: Option<Vec<String>>,
}

/// A dependency on work outside this devlog.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = NewDependency)]
pub struct NewDependencyDoc {
    description: String,
    /// Default `blocked-by`: the entry waits on it.
    #[serde(rename = "type")]
    kind: Option<DependencyTypeDoc>,
    /// Its id in another system (`JIRA-12`, `owner/repo#5`).
    external_id: Option<String>,
}

/// A risk to record.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = NewRisk)]
pub struct NewRiskDoc {
    description: String,
    impact: LevelDoc,
    probability: LevelDoc,
    mitigation: Option<String>,
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use devlog_core::EntryId;
    use devlog_core::entry::{DependencyType, Level};
    use devlog_core::relations::{LinkKind, Linked, NewDependency, NewRisk, Progress, Relations};
    use serde_json::Value;
    use utoipa::PartialSchema;
    use utoipa::openapi::RefOr;
    use utoipa::openapi::schema::Schema;

    use super::*;
    use crate::extract::schema_fields;

    fn keys(v: &impl Serialize) -> BTreeSet<String> {
        match serde_json::to_value(v).unwrap() {
            Value::Object(m) => m.keys().cloned().collect(),
            other => panic!("not an object: {other}"),
        }
    }

    fn documented<T: PartialSchema>() -> BTreeSet<String> {
        schema_fields::<T>().into_iter().collect()
    }

    fn enum_values<T: PartialSchema>() -> Vec<String> {
        match T::schema() {
            RefOr::T(Schema::Object(o)) => o
                .enum_values
                .unwrap_or_default()
                .into_iter()
                .map(|v| v.as_str().unwrap().to_string())
                .collect(),
            _ => panic!("not an enum schema"),
        }
    }

    #[test]
    fn relation_mirrors_list_exactly_what_the_core_serializes() {
        let linked = Linked {
            id: EntryId::new_random(),
            entry: None,
            progress: Some(Progress { done: 1, total: 2 }),
        };
        assert_eq!(documented::<LinkedDoc>(), keys(&linked));
        assert_eq!(
            documented::<ProgressDoc>(),
            keys(&Progress { done: 1, total: 2 })
        );
        let r = Relations {
            unreadable: vec!["parent: 7".into()],
            ..Relations::default()
        };
        assert_eq!(documented::<RelationsDoc>(), keys(&r));
        let dep = NewDependency {
            description: "d".into(),
            kind: Some(DependencyType::Blocks),
            external_id: Some("x".into()),
        };
        assert_eq!(documented::<NewDependencyDoc>(), keys(&dep));
        let risk = NewRisk {
            description: "d".into(),
            impact: Level::Low,
            probability: Level::High,
            mitigation: "m".into(),
        };
        assert_eq!(documented::<NewRiskDoc>(), keys(&risk));
        let names = |v: Vec<&str>| v.into_iter().map(String::from).collect::<Vec<_>>();
        assert_eq!(enum_values::<LinkKindDoc>(), names(LinkKind::allowed()));
        assert_eq!(enum_values::<LevelDoc>(), names(Level::allowed()));
        assert_eq!(
            enum_values::<DependencyTypeDoc>(),
            names(DependencyType::allowed())
        );
    }
}
