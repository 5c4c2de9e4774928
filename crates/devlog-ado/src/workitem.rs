//! Work items as the REST API 7.1 returns them (only what devlog reads), and their mapping to
//! devlog's synced fields.

use devlog_core::entry::{EntryType, Priority};
use devlog_core::id::EntryId;
use devlog_core::time::Timestamp;
use serde::Deserialize;
use serde_json::{Map, Value};

/// The tag that carries devlog's marker: `devlog:<entry id>`.
pub const MARKER_PREFIX: &str = "devlog:";

pub const TITLE: &str = "System.Title";
pub const DESCRIPTION: &str = "System.Description";
pub const STATE: &str = "System.State";
pub const TYPE: &str = "System.WorkItemType";
pub const TAGS: &str = "System.Tags";
pub const ASSIGNED_TO: &str = "System.AssignedTo";
pub const CHANGED_DATE: &str = "System.ChangedDate";
pub const REV: &str = "System.Rev";
pub const AREA_PATH: &str = "System.AreaPath";
pub const ITERATION_PATH: &str = "System.IterationPath";
pub const PRIORITY: &str = "Microsoft.VSTS.Common.Priority";
pub const COMMENT_COUNT: &str = "System.CommentCount";

/// The fields devlog asks for when it reads work items in batches.
pub const FIELDS: [&str; 14] = [
    "System.Id",
    TITLE,
    DESCRIPTION,
    STATE,
    TYPE,
    TAGS,
    ASSIGNED_TO,
    CHANGED_DATE,
    PRIORITY,
    "System.TeamProject",
    COMMENT_COUNT,
    ITERATION_PATH,
    BOARD_COLUMN,
    BOARD_COLUMN_DONE,
];
/// The board column of an item on a team's board, and whether it is in the column's Done
/// half (split columns).
pub const BOARD_COLUMN: &str = "System.BoardColumn";
pub const BOARD_COLUMN_DONE: &str = "System.BoardColumnDone";

#[derive(Debug, Clone, Deserialize)]
pub struct WorkItem {
    pub id: u64,
    #[serde(default)]
    pub rev: u64,
    #[serde(default)]
    pub fields: Map<String, Value>,
}

/// The marker tag of an entry.
pub fn marker_tag(id: EntryId) -> String {
    format!("{MARKER_PREFIX}{id}")
}

/// `System.Tags` (`a; b`) as a list, in the order written.
pub fn split_tags(s: &str) -> Vec<String> {
    s.split(';')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

/// Azure DevOps' dates (`2025-01-01T10:00:00.123Z`).
pub fn parse_time(s: &str) -> Result<Timestamp, String> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| Timestamp::from_datetime(t.with_timezone(&chrono::Utc)))
        .map_err(|e| format!("`{s}` is not an Azure DevOps date: {e}"))
}

/// Devlog priority → `Microsoft.VSTS.Common.Priority` (1 highest … 4 lowest).
pub fn priority_number(p: Priority) -> u8 {
    match p {
        Priority::Critical => 1,
        Priority::High => 2,
        Priority::Medium => 3,
        Priority::Low => 4,
    }
}

/// `Microsoft.VSTS.Common.Priority` → devlog priority (anything else is medium).
pub fn priority_of(n: Option<i64>) -> Priority {
    match n {
        Some(1) => Priority::Critical,
        Some(2) => Priority::High,
        Some(4) => Priority::Low,
        _ => Priority::Medium,
    }
}

impl WorkItem {
    pub fn str_field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).and_then(Value::as_str)
    }

    pub fn tags(&self) -> Vec<String> {
        split_tags(self.str_field(TAGS).unwrap_or_default())
    }

    /// The devlog id in a `devlog:<id>` tag, if the item carries one.
    pub fn marker(&self) -> Option<EntryId> {
        self.tags().iter().find_map(|t| {
            t.get(..MARKER_PREFIX.len())
                .filter(|p| p.eq_ignore_ascii_case(MARKER_PREFIX))
                .and_then(|_| t[MARKER_PREFIX.len()..].parse().ok())
        })
    }

    /// The entry's tags: the item's, without marker tags, sorted.
    pub fn entry_tags(&self) -> Vec<String> {
        let mut tags: Vec<String> = self
            .tags()
            .into_iter()
            .filter(|t| {
                !t.get(..MARKER_PREFIX.len())
                    .is_some_and(|p| p.eq_ignore_ascii_case(MARKER_PREFIX))
            })
            .collect();
        tags.sort();
        tags.dedup();
        tags
    }

    pub fn changed(&self) -> Result<Timestamp, String> {
        let c = self
            .str_field(CHANGED_DATE)
            .ok_or_else(|| format!("work item {} came back without {CHANGED_DATE}", self.id))?;
        parse_time(c).map_err(|e| format!("work item {}: {CHANGED_DATE} {e}", self.id))
    }

    /// Where the item sits on its board: column, Done half, iteration path.
    pub fn board(&self) -> devlog_core::entry::BoardPosition {
        let text = |f: &str| {
            self.str_field(f)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        devlog_core::entry::BoardPosition {
            column: text(BOARD_COLUMN),
            column_done: self
                .fields
                .get(BOARD_COLUMN_DONE)
                .is_some_and(|v| v.as_bool() == Some(true) || v.as_str() == Some("True")),
            iteration: text(ITERATION_PATH),
        }
    }

    pub fn type_name(&self) -> &str {
        self.str_field(TYPE).unwrap_or_default()
    }

    pub fn priority(&self) -> Priority {
        priority_of(self.fields.get(PRIORITY).and_then(Value::as_i64))
    }

    /// Who the item is assigned to: the identity's `uniqueName` (an email or `DOMAIN\user`),
    /// or the address in an older `Name <address>` string.
    pub fn assignee(&self) -> Option<String> {
        match self.fields.get(ASSIGNED_TO)? {
            Value::Object(o) => o
                .get("uniqueName")
                .or_else(|| o.get("displayName"))
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string),
            Value::String(s) if !s.trim().is_empty() => Some(
                s.rsplit_once('<')
                    .and_then(|(_, a)| a.strip_suffix('>'))
                    .unwrap_or(s)
                    .trim()
                    .to_string(),
            ),
            _ => None,
        }
    }
}

/// The devlog type of a work item type through the mapping (the first entry type mapped to
/// it), else `task`.
pub fn type_of(mapped: impl Fn(EntryType) -> String, type_name: &str) -> EntryType {
    EntryType::ALL
        .iter()
        .find(|t| mapped(**t).eq_ignore_ascii_case(type_name))
        .copied()
        .unwrap_or(EntryType::Task)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a panic is the failure report
    use serde_json::json;

    use super::*;

    fn item(fields: Value) -> WorkItem {
        serde_json::from_value(json!({"id": 7, "rev": 3, "fields": fields})).unwrap()
    }

    #[test]
    fn the_marker_is_a_tag_and_not_an_entry_tag() {
        let id = EntryId::new_random();
        let w = item(json!({TAGS: format!("zeta; {}; alpha; alpha", marker_tag(id))}));
        assert_eq!(w.marker(), Some(id));
        assert_eq!(w.entry_tags(), ["alpha", "zeta"]);
        assert_eq!(item(json!({TAGS: "devlog:not-an-id"})).marker(), None);
        assert_eq!(item(json!({})).marker(), None);
    }

    #[test]
    fn assignees_and_priorities_read_back() {
        let w = item(
            json!({ASSIGNED_TO: {"displayName": "Ann", "uniqueName": "ann@example.com"},
                            PRIORITY: 1}),
        );
        assert_eq!(w.assignee().as_deref(), Some("ann@example.com"));
        assert_eq!(w.priority(), Priority::Critical);
        let w = item(json!({ASSIGNED_TO: "Ann Smith <ann@example.com>"}));
        assert_eq!(w.assignee().as_deref(), Some("ann@example.com"));
        assert_eq!(w.priority(), Priority::Medium);
        for p in Priority::ALL {
            assert_eq!(priority_of(Some(i64::from(priority_number(*p)))), *p);
        }
    }
}
