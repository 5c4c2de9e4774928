//! Jira issues as the REST API v3 returns them (only what devlog reads), and their mapping to
//! devlog's synced fields.

use std::collections::BTreeMap;

use devlog_core::id::EntryId;
use devlog_core::integration::{RemoteItem, RemoteMilestone};
use devlog_core::merge::SyncedFields;
use devlog_core::time::Timestamp;
use serde::Deserialize;
use serde_json::Value;

use crate::adf::{Doc, split_description};
use crate::config::{JiraConfig, MappedField, StatusCategory};
use crate::fields::{self, FieldMeta};

/// The issue property that carries devlog's marker: `{"id": "<entry id>"}`.
pub const PROPERTY: &str = "devlog";

/// The fields devlog asks for in searches and reads (besides the mapped custom fields).
pub const FIELDS: [&str; 10] = [
    "summary",
    "description",
    "issuetype",
    "priority",
    "status",
    "labels",
    "updated",
    "resolution",
    "assignee",
    "fixVersions",
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
    /// `None`: the answer left the field out (not readable); `Some(None)`: unassigned.
    #[serde(default, deserialize_with = "present")]
    pub assignee: Option<Option<User>>,
    #[serde(default, rename = "fixVersions")]
    pub fix_versions: Option<Vec<Version>>,
    /// Every other field (custom fields, `duedate`) by id.
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

/// Tells a field that is there but `null` (`Some(None)`) from one that is missing (`None`).
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// An account as Jira answers it; `emailAddress` is missing when the profile hides it.
#[derive(Debug, Clone, Deserialize)]
pub struct User {
    #[serde(rename = "accountId")]
    pub account_id: String,
    #[serde(default, rename = "displayName")]
    pub display_name: Option<String>,
    #[serde(default, rename = "emailAddress")]
    pub email: Option<String>,
}

impl User {
    /// How devlog names the account: its email when visible, else its display name, else
    /// its account id.
    pub fn devlog_name(&self) -> String {
        self.email
            .clone()
            .filter(|e| !e.is_empty())
            .or_else(|| self.display_name.clone().filter(|n| !n.is_empty()))
            .unwrap_or_else(|| self.account_id.clone())
    }
}

/// A project version (fix version).
#[derive(Debug, Clone, Deserialize)]
pub struct Version {
    #[serde(default)]
    pub id: Option<String>,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default, rename = "releaseDate")]
    pub release_date: Option<String>,
    #[serde(default)]
    pub released: bool,
}

impl Version {
    pub fn to_remote(&self) -> RemoteMilestone {
        RemoteMilestone {
            title: self.name.clone(),
            description: self.description.clone().unwrap_or_default(),
            due_date: self
                .release_date
                .as_deref()
                .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok()),
            closed: self.released,
        }
    }
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

    /// The `devlog` property's value (`{"id": …, "assignee": …}`), if the issue carries it.
    pub fn property(&self) -> Option<&Value> {
        self.properties.as_ref()?.get(PROPERTY)
    }

    /// The assignee as devlog names it. The name devlog wrote (kept in its property with the
    /// account id) reads back as written while the issue is still assigned to that account,
    /// so a round trip is stable even for an account whose email is hidden; another account
    /// reads as its email when visible, else its display name. An answer that leaves the
    /// field out (not readable) reads as what devlog wrote last, never as "unassigned".
    pub fn assignee(&self) -> Option<String> {
        let written = self.property().and_then(|p| p.get("assignee"));
        let written_for = |account: &str| {
            written
                .filter(|w| w.get("accountId").and_then(Value::as_str) == Some(account))
                .and_then(|w| w.get("name"))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        match &self.fields.assignee {
            Some(Some(u)) => written_for(&u.account_id).or_else(|| Some(u.devlog_name())),
            Some(None) => None,
            None => written
                .and_then(|w| w.get("name"))
                .and_then(Value::as_str)
                .map(str::to_string),
        }
    }

    /// How many comments the issue has, when the answer carries its `comment` field.
    pub fn comment_total(&self) -> u64 {
        let c = self.fields.other.get("comment");
        c.and_then(|c| c.get("total"))
            .and_then(Value::as_u64)
            .or_else(|| {
                c.and_then(|c| c.get("comments"))
                    .and_then(Value::as_array)
                    .map(|a| a.len() as u64)
            })
            .unwrap_or(0)
    }

    /// How many worklogs the issue has (the `worklog` field of a search answer).
    pub fn worklog_total(&self) -> u64 {
        let w = self.fields.other.get("worklog");
        w.and_then(|w| w.get("total"))
            .and_then(Value::as_u64)
            .or_else(|| {
                w.and_then(|w| w.get("worklogs"))
                    .and_then(Value::as_array)
                    .map(|a| a.len() as u64)
            })
            .unwrap_or(0)
    }

    /// The issue description as an ADF document (`null` is empty).
    pub fn description_doc(&self) -> Result<Doc, String> {
        Doc::from_json(self.fields.description.as_ref().unwrap_or(&Value::Null))
            .map_err(|e| format!("issue {}: description: {e}", self.key))
    }

    /// Maps the issue to devlog's fields through the configured mappings; `mapped` are the
    /// resolved `customFields` (the only optional fields the item carries).
    pub fn to_remote(
        &self,
        config: &JiraConfig,
        mapped: &BTreeMap<MappedField, FieldMeta>,
    ) -> Result<RemoteItem, String> {
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
        let first_version = f.fix_versions.as_ref().and_then(|v| v.first());
        let mut fields = SyncedFields {
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
            assignee: self.assignee(),
            tags,
            // The first fix version.
            milestone: first_version.map(|v| v.name.clone()),
            // Carried only when mapped (below).
            estimated_hours: None,
            actual_hours: None,
            acceptance_criteria: None,
            due_date: None,
            points: None,
        };
        for (m, meta) in mapped {
            fields::decode(*m, meta, f.other.get(&meta.id), &mut fields)
                .map_err(|e| format!("issue {}: {e}", self.key))?;
        }
        Ok(RemoteItem {
            remote_id: self.key.clone(),
            url: Some(format!("{}/browse/{}", config.base_url, self.key)),
            fields,
            updated_at,
            version: f.updated.clone(),
            marker: self.marker(),
            milestone: first_version.map(Version::to_remote),
            sprint: None,
            board: None,
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

    #[test]
    fn an_unreadable_assignee_reads_as_what_devlog_wrote_never_as_unassigned() {
        let issue = |fields: serde_json::Value| -> Issue {
            serde_json::from_value(serde_json::json!({
                "id": "1", "key": "DEV-1", "fields": fields,
                "properties": {"devlog": {"id": "x", "assignee": {"accountId": "a-1", "name": "alice@example.com"}}}
            }))
            .unwrap()
        };
        // The answer leaves the field out (hidden, not returned): what devlog wrote.
        assert_eq!(
            issue(serde_json::json!({})).assignee().as_deref(),
            Some("alice@example.com")
        );
        // Unassigned in Jira.
        assert_eq!(
            issue(serde_json::json!({"assignee": null})).assignee(),
            None
        );
        // The account devlog wrote: the name as written; another: email, else display name,
        // else the account id.
        let a = |u: serde_json::Value| issue(serde_json::json!({"assignee": u})).assignee();
        assert_eq!(
            a(serde_json::json!({"accountId": "a-1", "displayName": "Alice"})).as_deref(),
            Some("alice@example.com")
        );
        assert_eq!(a(serde_json::json!({"accountId": "a-2", "displayName": "Bob", "emailAddress": "bob@example.com"})).as_deref(), Some("bob@example.com"));
        assert_eq!(
            a(serde_json::json!({"accountId": "a-3", "displayName": "Carol"})).as_deref(),
            Some("Carol")
        );
        assert_eq!(
            a(serde_json::json!({"accountId": "a-4"})).as_deref(),
            Some("a-4")
        );
    }
}
