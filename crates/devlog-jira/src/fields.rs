//! Custom fields (`customFields`): entry fields written to Jira fields named by name or id,
//! resolved through the field metadata (`GET /field`, once per run). A value naming no field,
//! naming several, or naming a field of the wrong kind is an error naming
//! `integrations.jira.customFields.<key>`.

use std::collections::BTreeMap;

use devlog_core::entry::Entry;
use devlog_core::integration::SyncError;
use devlog_core::merge::SyncedFields;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::config::MappedField;
use crate::{JiraIntegration, adf};

/// A field as `GET /field` describes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldMeta {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub schema: Option<FieldSchema>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldSchema {
    #[serde(default, rename = "type")]
    pub kind: String,
    /// The custom field type (`…:textarea`), for custom fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom: Option<String>,
}

/// The custom field type of Jira Software's Sprint field.
pub const SPRINT_TYPE: &str = "com.pyxis.greenhopper.jira:gh-sprint";

/// The fields a run needs from `GET /field` (the mapped ones, and the Sprint field with a
/// `boardId`), with what they were resolved for. The pull cursor keeps it, so an idle pull
/// does not list the site's fields again; a changed `customFields` or `boardId` does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldCache {
    /// `customFields` as configured (`estimatedHours` → `Story point estimate`).
    pub mapping: BTreeMap<String, String>,
    #[serde(default)]
    pub board: Option<u64>,
    pub fields: Vec<FieldMeta>,
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
    fn cache_key(&self) -> (BTreeMap<String, String>, Option<u64>) {
        let mapping = self
            .config
            .custom_fields
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.clone()))
            .collect();
        (mapping, self.config.board_id)
    }

    /// The fields this run needs, listed once per run (no request when nothing is mapped and
    /// there is no board).
    pub(crate) async fn field_cache(&self) -> Result<Option<FieldCache>, SyncError> {
        if self.config.custom_fields.is_empty() && self.config.board_id.is_none() {
            return Ok(None);
        }
        let mut cached = self.fields.lock().await;
        if let Some(c) = cached.as_ref() {
            return Ok(Some(c.clone()));
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
        let mut fields: Vec<FieldMeta> = resolved.into_values().collect();
        if self.config.board_id.is_some()
            && let Some(sprint) = all
                .iter()
                .find(|f| f.schema.as_ref().and_then(|s| s.custom.as_deref()) == Some(SPRINT_TYPE))
        {
            fields.push(sprint.clone());
        }
        let (mapping, board) = self.cache_key();
        let cache = FieldCache {
            mapping,
            board,
            fields,
        };
        *cached = Some(cache.clone());
        Ok(Some(cache))
    }

    /// Takes the fields a pull cursor kept, when they were resolved for this configuration.
    pub(crate) async fn seed_fields(&self, kept: Option<&FieldCache>) {
        let Some(kept) = kept else { return };
        let (mapping, board) = self.cache_key();
        if kept.mapping == mapping && kept.board == board {
            let mut cached = self.fields.lock().await;
            if cached.is_none() {
                *cached = Some(kept.clone());
            }
        }
    }

    /// The mapped fields, resolved once per run.
    pub(crate) async fn mapped_fields(
        &self,
    ) -> Result<BTreeMap<MappedField, FieldMeta>, SyncError> {
        if self.config.custom_fields.is_empty() {
            return Ok(BTreeMap::new());
        }
        let cache = self.field_cache().await?;
        let known = cache.map(|c| c.fields).unwrap_or_default();
        resolve(&self.config.custom_fields, &known).map_err(|e| self.permanent(e))
    }

    /// The id of the Sprint field (with a `boardId`, when the site has Jira Software).
    pub(crate) async fn sprint_field(&self) -> Result<Option<String>, SyncError> {
        if self.config.board_id.is_none() {
            return Ok(None);
        }
        Ok(self.field_cache().await?.and_then(|c| {
            c.fields
                .into_iter()
                .find(|f| f.schema.as_ref().and_then(|s| s.custom.as_deref()) == Some(SPRINT_TYPE))
                .map(|f| f.id)
        }))
    }

    /// The mapped fields' values of `entry` for a create (an empty entry field is left out).
    pub(crate) async fn custom_values(
        &self,
        entry: &Entry,
    ) -> Result<Map<String, Value>, SyncError> {
        let fields = SyncedFields::from_entry(entry);
        let mut out = Map::new();
        for (f, meta) in self.mapped_fields().await? {
            if let Some(v) = encode(f, &meta, &fields).filter(|v| !v.is_null()) {
                out.insert(meta.id.clone(), v);
            }
        }
        Ok(out)
    }
}

/// The value a Jira edit writes for mapped field `f` (`null` clears it); `None` when `fields`
/// does not carry it.
pub fn encode(f: MappedField, meta: &FieldMeta, fields: &SyncedFields) -> Option<Value> {
    let hours = |h: Option<f64>| h.map_or(Value::Null, |h| json!(h));
    Some(match f {
        MappedField::EstimatedHours => hours(fields.estimated_hours?),
        MappedField::ActualHours => hours(fields.actual_hours?),
        MappedField::DueDate => fields
            .due_date?
            .map_or(Value::Null, |d| json!(d.format("%Y-%m-%d").to_string())),
        MappedField::AcceptanceCriteria => {
            let criteria: Vec<&String> = fields
                .acceptance_criteria
                .as_ref()?
                .iter()
                .filter(|c| !c.trim().is_empty())
                .collect();
            if criteria.is_empty() {
                Value::Null
            } else if meta.is_paragraph() {
                // A bullet list, one criterion an item.
                let text: Vec<String> = criteria
                    .iter()
                    .map(|c| format!("- {}", c.replace('\n', " ")))
                    .collect();
                adf::from_text(&text.join("\n")).to_json()
            } else {
                let text: Vec<&str> = criteria.iter().map(|c| c.as_str()).collect();
                json!(text.join("; "))
            }
        }
    })
}

/// Reads mapped field `f` from an issue answer into `out`. A field the answer leaves out (not
/// on the screens, hidden) is not carried: it is then neither compared nor sent; a
/// value Jira holds that devlog cannot read is an error naming the field.
pub fn decode(
    f: MappedField,
    meta: &FieldMeta,
    raw: Option<&Value>,
    out: &mut SyncedFields,
) -> Result<(), String> {
    let Some(raw) = raw else { return Ok(()) };
    let bad = |what: &str| {
        format!(
            "field `{}` ({}) holds {raw}, not {what} (integrations.jira.customFields.{})",
            meta.name,
            meta.id,
            f.as_str()
        )
    };
    match f {
        MappedField::EstimatedHours | MappedField::ActualHours => {
            let h = match raw {
                Value::Null => None,
                v => Some(v.as_f64().ok_or_else(|| bad("a number"))?),
            };
            if f == MappedField::EstimatedHours {
                out.estimated_hours = Some(h);
            } else {
                out.actual_hours = Some(h);
            }
        }
        MappedField::DueDate => {
            out.due_date = Some(match raw {
                Value::Null => None,
                v => Some(
                    v.as_str()
                        .and_then(|s| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
                        .ok_or_else(|| bad("a date"))?,
                ),
            });
        }
        MappedField::AcceptanceCriteria => {
            let text = match raw {
                Value::Null => String::new(),
                Value::String(s) => s.split("; ").collect::<Vec<_>>().join("\n"),
                v if v.is_object() => adf::to_text(&adf::Doc::from_json(v).map_err(|e| bad(&e))?),
                _ => return Err(bad("text")),
            };
            out.acceptance_criteria = Some(criteria_of(&text));
        }
    }
    Ok(())
}

/// One criterion a line, without list markers (`- `, `* `, `1. `).
fn criteria_of(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| {
            let l = l.trim();
            let unnumbered = l
                .split_once(". ")
                .filter(|(n, _)| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
                .map_or(l, |(_, rest)| rest);
            unnumbered
                .strip_prefix("- ")
                .or_else(|| unnumbered.strip_prefix("* "))
                .unwrap_or(unnumbered)
                .trim()
                .to_string()
        })
        .filter(|l| !l.is_empty())
        .collect()
}

/// The sprint an issue's Sprint field names: its open one (active, else future), else the
/// last closed one; `None` for none (the backlog) or a value that is not a sprint list.
pub fn sprint_of(raw: Option<&Value>) -> Option<String> {
    let sprints = raw?.as_array()?;
    let state = |s: &&Value| {
        s.get("state")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let name = |s: &Value| s.get("name").and_then(Value::as_str).map(str::to_string);
    sprints
        .iter()
        .find(|s| state(s) == "active")
        .or_else(|| sprints.iter().find(|s| state(s) == "future"))
        .or_else(|| sprints.iter().rev().find(|s| state(s) == "closed"))
        .and_then(name)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn meta(id: &str, name: &str, kind: &str) -> FieldMeta {
        serde_json::from_value(json!({"id": id, "name": name, "schema": {"type": kind}})).unwrap()
    }

    #[test]
    fn mapped_values_read_back_as_written() {
        let mut fields: SyncedFields = serde_json::from_value(json!({
            "title": "t", "description": "", "status": "new", "priority": "medium",
            "type": "task", "estimatedHours": 3.5, "actualHours": null,
            "acceptanceCriteria": ["Fast", "Tested - twice"], "dueDate": "2026-12-24"
        }))
        .unwrap();
        let paragraph: FieldMeta = serde_json::from_value(json!({"id": "customfield_3",
            "name": "AC", "schema": {"type": "string", "custom": "x:textarea"}}))
        .unwrap();
        let line = meta("customfield_4", "AC line", "string");
        let number = meta("customfield_1", "SP", "number");
        let date = meta("customfield_2", "End", "date");
        let mut back = fields.clone().without_optional();
        for (f, m) in [
            (MappedField::EstimatedHours, &number),
            (MappedField::ActualHours, &number),
            (MappedField::AcceptanceCriteria, &paragraph),
            (MappedField::DueDate, &date),
        ] {
            let v = encode(f, m, &fields).unwrap();
            decode(f, m, Some(&v), &mut back).unwrap();
        }
        assert_eq!(back, fields);
        let v = encode(MappedField::AcceptanceCriteria, &line, &fields).unwrap();
        assert_eq!(v, json!("Fast; Tested - twice"));
        let mut again = fields.clone();
        decode(MappedField::AcceptanceCriteria, &line, Some(&v), &mut again).unwrap();
        assert_eq!(again, fields);
        // Not carried: nothing to write, and a field the answer leaves out stays uncarried.
        fields.estimated_hours = None;
        assert_eq!(encode(MappedField::EstimatedHours, &number, &fields), None);
        decode(MappedField::EstimatedHours, &number, None, &mut fields).unwrap();
        assert_eq!(fields.estimated_hours, None);
        let e = decode(
            MappedField::EstimatedHours,
            &number,
            Some(&json!("lots")),
            &mut fields,
        )
        .unwrap_err();
        assert!(e.contains("customFields.estimatedHours"), "{e}");
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
