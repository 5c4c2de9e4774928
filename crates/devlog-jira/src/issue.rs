//! Jira issues as the REST API v3 returns them (only what devlog reads), and their mapping to
//! devlog's synced fields.

use std::collections::BTreeMap;

use devlog_core::id::EntryId;
use devlog_core::integration::RemoteItem;
use devlog_core::merge::SyncedFields;
use devlog_core::time::Timestamp;
use serde::Deserialize;
use serde_json::Value;

use crate::adf::{Doc, split_description};
use crate::config::{JiraConfig, StatusCategory};

/// The issue property that carries devlog's marker: `{"id": "<entry id>"}`.
pub const PROPERTY: &str = "devlog";

/// The fields devlog asks for in searches and reads.
pub const FIELDS: [&str; 8] = [
    "summary",
    "description",
    "issuetype",
    "priority",
    "status",
    "labels",
    "updated",
    "resolution",
];

#[derive(Debug, Clone, Deserialize)]
pub struct Issue {
    pub id: String,
    pub key: String,
    #[serde(default)]
    pub fields: IssueFields,
    #[serde(default)]
    pub properties: Option<BTreeMap<String, Value>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct IssueFields {
    #[serde(default)]
    pub summary: Option<String>,
    #[serde(default)]
    pub description: Option<Value>,
    #[serde(default)]
    pub issuetype: Option<Named>,
    #[serde(default)]
    pub priority: Option<Named>,
    #[serde(default)]
    pub status: Option<StatusRef>,
    #[serde(default)]
    pub labels: Option<Vec<String>>,
    #[serde(default)]
    pub updated: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Named {
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct StatusRef {
    #[serde(default)]
    pub name: String,
    #[serde(default, rename = "statusCategory")]
    pub status_category: Option<CategoryRef>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CategoryRef {
    #[serde(default)]
    pub key: String,
}

impl StatusRef {
    pub fn category(&self) -> Option<StatusCategory> {
        self.status_category
            .as_ref()
            .and_then(|c| StatusCategory::parse(&c.key))
    }
}

/// Jira's timestamps (`2025-01-01T10:00:00.000+0000`).
pub fn parse_time(s: &str) -> Result<Timestamp, String> {
    chrono::DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z")
        .or_else(|_| chrono::DateTime::parse_from_rfc3339(s))
        .map(|t| Timestamp::from_datetime(t.with_timezone(&chrono::Utc)))
        .map_err(|e| format!("`{s}` is not a Jira timestamp: {e}"))
}

impl Issue {
    /// The devlog id in the `devlog` property, if the issue carries one.
    pub fn marker(&self) -> Option<EntryId> {
        self.properties
            .as_ref()?
            .get(PROPERTY)?
            .get("id")?
            .as_str()?
            .parse()
            .ok()
    }

    pub fn updated(&self) -> Result<Timestamp, String> {
        let u = self
            .fields
            .updated
            .as_deref()
            .ok_or_else(|| format!("issue {} came back without `updated`", self.key))?;
        parse_time(u).map_err(|e| format!("issue {}: updated {e}", self.key))
    }

    /// The issue description as an ADF document (`null` is empty).
    pub fn description_doc(&self) -> Result<Doc, String> {
        Doc::from_json(self.fields.description.as_ref().unwrap_or(&Value::Null))
            .map_err(|e| format!("issue {}: description: {e}", self.key))
    }

    /// Maps the issue to devlog's fields through the configured mappings.
    pub fn to_remote(&self, config: &JiraConfig) -> Result<RemoteItem, String> {
        let f = &self.fields;
        let (description, _) = split_description(&self.description_doc()?);
        let status = f
            .status
            .as_ref()
            .map(|s| config.status_of(&s.name, s.category()))
            .ok_or_else(|| format!("issue {} came back without a status", self.key))?;
        let mut tags = f.labels.clone().unwrap_or_default();
        tags.sort();
        tags.dedup();
        let updated_at = self.updated()?;
        Ok(RemoteItem {
            remote_id: self.key.clone(),
            url: Some(format!("{}/browse/{}", config.base_url, self.key)),
            fields: SyncedFields {
                title: f.summary.clone().unwrap_or_default(),
                description,
                status,
                priority: config.priority_of(
                    f.priority
                        .as_ref()
                        .and_then(|p| p.name.as_deref())
                        .unwrap_or_default(),
                ),
                kind: config.type_of(
                    f.issuetype
                        .as_ref()
                        .and_then(|t| t.name.as_deref())
                        .unwrap_or_default(),
                ),
                // Not synced yet: Jira assigns by account id (docs/jira.md).
                assignee: None,
                tags,
                // Not synced yet: fix versions (docs/jira.md).
                milestone: None,
            },
            updated_at,
            version: f.updated.clone(),
            marker: self.marker(),
            milestone: None,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a panic is the failure report
    use super::*;

    #[test]
    fn jira_times_parse_with_and_without_a_colon_in_the_offset() {
        let a = parse_time("2025-01-01T10:00:00.000+0000").unwrap();
        let b = parse_time("2025-01-01T11:00:00.000+01:00").unwrap();
        assert_eq!(a, b);
        assert!(parse_time("yesterday").unwrap_err().contains("yesterday"));
    }

    #[test]
    fn the_marker_is_read_from_the_devlog_property_only() {
        let id = EntryId::new_random();
        let issue: Issue = serde_json::from_value(serde_json::json!({
            "id": "1", "key": "DEV-1", "fields": {},
            "properties": {"devlog": {"id": id.to_string()}}
        }))
        .unwrap();
        assert_eq!(issue.marker(), Some(id));
        let other: Issue = serde_json::from_value(serde_json::json!({
            "id": "1", "key": "DEV-1", "fields": {},
            "properties": {"other": {"id": id.to_string()}}
        }))
        .unwrap();
        assert_eq!(other.marker(), None);
    }
}
