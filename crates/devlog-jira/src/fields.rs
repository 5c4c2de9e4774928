//! Custom fields (`customFields`): entry fields written to Jira fields named by name or id,
//! resolved through the field metadata (`GET /field`, once per run). A value naming no field,
//! naming several, or naming a field of the wrong kind is an error naming
//! `integrations.jira.customFields.<key>`.

use std::collections::BTreeMap;

use devlog_core::entry::Entry;
use devlog_core::integration::SyncError;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::config::MappedField;
use crate::{JiraIntegration, adf};

/// A field as `GET /field` describes it.
#[derive(Debug, Clone, Deserialize)]
pub struct FieldMeta {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub schema: Option<FieldSchema>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct FieldSchema {
    #[serde(default, rename = "type")]
    pub kind: String,
    /// The custom field type (`…:textarea`), for custom fields.
    #[serde(default)]
    pub custom: Option<String>,
}

impl FieldMeta {
    fn kind(&self) -> &str {
        self.schema.as_ref().map_or("", |s| s.kind.as_str())
    }

    /// A paragraph field, which takes ADF in API v3 (a single-line text field takes text).
    fn is_paragraph(&self) -> bool {
        self.id == "description"
            || self
                .schema
                .as_ref()
                .and_then(|s| s.custom.as_deref())
                .is_some_and(|c| c.ends_with(":textarea"))
    }
}

/// The field kind (`schema.type`) an entry field needs.
fn needed_kind(f: MappedField) -> &'static str {
    match f {
        MappedField::EstimatedHours | MappedField::ActualHours => "number",
        MappedField::AcceptanceCriteria => "string",
        MappedField::DueDate => "date",
    }
}

/// Resolves each mapping against `all` (the site's fields); errors name the key.
pub fn resolve(
    mapping: &BTreeMap<MappedField, String>,
    all: &[FieldMeta],
) -> Result<BTreeMap<MappedField, FieldMeta>, String> {
    let mut out = BTreeMap::new();
    for (f, wanted) in mapping {
        let key = format!("integrations.jira.customFields.{}", f.as_str());
        let by_id: Vec<&FieldMeta> = all.iter().filter(|m| m.id == *wanted).collect();
        let by_name: Vec<&FieldMeta> = all
            .iter()
            .filter(|m| m.name.eq_ignore_ascii_case(wanted.trim()))
            .collect();
        let meta = match (by_id.as_slice(), by_name.as_slice()) {
            ([m], _) | ([], [m]) => *m,
            ([], []) => {
                return Err(format!(
                    "{key}: Jira has no field named or with the id `{wanted}` (check the name in Jira's field settings, or give its id such as customfield_10016)"
                ));
            }
            (_, many) => {
                let ids: Vec<&str> = many.iter().map(|m| m.id.as_str()).collect();
                return Err(format!(
                    "{key}: `{wanted}` names {} Jira fields ({}): give the id of the one to use",
                    many.len(),
                    ids.join(", ")
                ));
            }
        };
        let need = needed_kind(*f);
        if meta.kind() != need {
            return Err(format!(
                "{key}: field `{}` ({}) holds {}, but {} needs a {need} field",
                meta.name,
                meta.id,
                if meta.kind().is_empty() {
                    "values of an unknown kind"
                } else {
                    meta.kind()
                },
                f.as_str()
            ));
        }
        out.insert(*f, meta.clone());
    }
    Ok(out)
}

impl JiraIntegration {
    /// The mapped fields, resolved once per run (no request when nothing is mapped).
    pub(crate) async fn mapped_fields(
        &self,
    ) -> Result<BTreeMap<MappedField, FieldMeta>, SyncError> {
        if self.config.custom_fields.is_empty() {
            return Ok(BTreeMap::new());
        }
        let mut cached = self.fields.lock().await;
        if let Some(m) = cached.as_ref() {
            return Ok(m.clone());
        }
        let resp = self
            .client
            .get("/rest/api/3/field")
            .no_cache()
            .send()
            .await
            .map_err(|e| self.sync_err(e, None))?;
        let all: Vec<FieldMeta> = self.decode(&resp, None)?;
        let resolved = resolve(&self.config.custom_fields, &all).map_err(|e| self.permanent(e))?;
        *cached = Some(resolved.clone());
        Ok(resolved)
    }

    /// The mapped fields' values of `entry` for a create (an empty entry field is left out).
    pub(crate) async fn custom_values(
        &self,
        entry: &Entry,
    ) -> Result<Map<String, Value>, SyncError> {
        let mut out = Map::new();
        for (f, meta) in self.mapped_fields().await? {
            let value = match f {
                MappedField::EstimatedHours => entry.estimated_hours.map(|h| json!(h)),
                MappedField::ActualHours => entry.actual_hours.map(|h| json!(h)),
                MappedField::DueDate => entry
                    .due_date
                    .map(|d| json!(d.format("%Y-%m-%d").to_string())),
                MappedField::AcceptanceCriteria => {
                    let criteria: Vec<&String> = entry
                        .context
                        .acceptance_criteria
                        .iter()
                        .filter(|c| !c.trim().is_empty())
                        .collect();
                    if criteria.is_empty() {
                        None
                    } else if meta.is_paragraph() {
                        let text: Vec<String> = criteria.iter().map(|c| format!("- {c}")).collect();
                        Some(adf::from_text(&text.join("\n")).to_json())
                    } else {
                        let text: Vec<&str> = criteria.iter().map(|c| c.as_str()).collect();
                        Some(json!(text.join("; ")))
                    }
                }
            };
            if let Some(v) = value {
                out.insert(meta.id.clone(), v);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn meta(id: &str, name: &str, kind: &str) -> FieldMeta {
        serde_json::from_value(json!({"id": id, "name": name, "schema": {"type": kind}})).unwrap()
    }

    #[test]
    fn mappings_resolve_by_id_or_name_and_errors_name_the_key() {
        let all = vec![
            meta("customfield_1", "Story point estimate", "number"),
            meta("customfield_2", "Team", "string"),
            meta("customfield_3", "Team", "string"),
            meta("duedate", "Due date", "date"),
        ];
        let ok = resolve(
            &BTreeMap::from([
                (
                    MappedField::EstimatedHours,
                    "story point ESTIMATE".to_string(),
                ),
                (MappedField::DueDate, "duedate".to_string()),
            ]),
            &all,
        )
        .unwrap();
        assert_eq!(ok[&MappedField::EstimatedHours].id, "customfield_1");
        assert_eq!(ok[&MappedField::DueDate].id, "duedate");
        let missing = resolve(
            &BTreeMap::from([(MappedField::ActualHours, "Nope".to_string())]),
            &all,
        )
        .unwrap_err();
        assert!(
            missing.starts_with("integrations.jira.customFields.actualHours:"),
            "{missing}"
        );
        let shared = resolve(
            &BTreeMap::from([(MappedField::AcceptanceCriteria, "Team".to_string())]),
            &all,
        )
        .unwrap_err();
        assert!(shared.contains("customfield_2, customfield_3"), "{shared}");
        let wrong = resolve(
            &BTreeMap::from([(MappedField::DueDate, "customfield_1".to_string())]),
            &all,
        )
        .unwrap_err();
        assert!(
            wrong.contains("integrations.jira.customFields.dueDate") && wrong.contains("date"),
            "{wrong}"
        );
    }
}
