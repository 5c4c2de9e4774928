//! The entry's optional synced fields ⇄ work item fields, both ways (docs/azure-devops.md,
//! "Planning fields"): estimate ⇄ `fields.estimatedHours` (OriginalEstimate), logged time ⇄
//! `fields.actualHours` (CompletedWork, with RemainingWork kept at estimate − completed),
//! acceptance criteria ⇄ `fields.acceptanceCriteria` (HTML, one list item a criterion) and
//! due date ⇄ `fields.dueDate`, and the entry's points ⇄ the process's points field
//! ([`points_field`]: `fields.storyPoints`, else Agile's StoryPoints, Scrum's and Basic's
//! Effort, CMMI's Size).
//!
//! A field is carried only where the work item's type has it (the process metadata devlog
//! reads, `TypeMeta::fields`): elsewhere it is neither compared nor sent, as the engine's
//! optional fields are ([`SyncedFields::carries`]).

use devlog_core::merge::{FieldSet, SyncedField, SyncedFields};
use serde_json::{Value, json};

use crate::config::{AdoConfig, MappedField};
use crate::process::Process;
use crate::workitem::WorkItem;
use crate::{REMAINING_WORK, TypeMeta, html, op};

/// The system processes' points fields.
pub(crate) const STORY_POINTS: &str = "Microsoft.VSTS.Scheduling.StoryPoints";
pub(crate) const EFFORT: &str = "Microsoft.VSTS.Scheduling.Effort";
pub(crate) const SIZE: &str = "Microsoft.VSTS.Scheduling.Size";

/// The field an entry's points go to on a work item of type `ty`, if the type has one: the
/// field `fields.storyPoints` names; else the process's (Agile: StoryPoints; Scrum and
/// Basic: Effort; CMMI: Size); else, on a custom process, the first of those the type has.
pub(crate) fn points_field<'a>(
    config: &'a AdoConfig,
    process: Process,
    ty: &TypeMeta,
) -> Option<&'a str> {
    if let Some(f) = config.fields.get(&MappedField::StoryPoints) {
        return ty.fields.contains(f).then_some(f.as_str());
    }
    let candidates: &[&'static str] = match process {
        Process::Agile => &[STORY_POINTS],
        Process::Scrum | Process::Basic => &[EFFORT],
        Process::Cmmi => &[SIZE],
        Process::Other => &[STORY_POINTS, EFFORT, SIZE],
    };
    candidates.iter().copied().find(|f| ty.fields.contains(*f))
}

/// The synced optional fields, in the order they are read and written.
const SYNCED: [MappedField; 4] = [
    MappedField::EstimatedHours,
    MappedField::ActualHours,
    MappedField::AcceptanceCriteria,
    MappedField::DueDate,
];

/// The reference names a pull reads besides the core ones.
pub(crate) fn read_fields(config: &AdoConfig) -> Vec<String> {
    let mut out: Vec<String> = SYNCED
        .iter()
        .map(|f| config.field(*f).to_string())
        .collect();
    out.push(REMAINING_WORK.to_string());
    match config.fields.get(&MappedField::StoryPoints) {
        Some(f) => out.push(f.clone()),
        None => out.extend([STORY_POINTS, EFFORT, SIZE].map(String::from)),
    }
    out
}

/// Reads the optional fields `ty` has from `w` into `out` (those it lacks stay not carried).
/// A value devlog cannot read is an error naming the field and its `fields` key.
pub(crate) fn read(
    config: &AdoConfig,
    process: Process,
    ty: Option<&TypeMeta>,
    w: &WorkItem,
    out: &mut SyncedFields,
) -> Result<(), String> {
    let Some(ty) = ty else { return Ok(()) };
    if let Some(name) = points_field(config, process, ty) {
        let raw = w.fields.get(name).filter(|v| !v.is_null());
        out.points = Some(match raw {
            None => None,
            Some(v) => Some(
                v.as_f64()
                    .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
                    .filter(|p: &f64| p.is_finite() && *p >= 0.0)
                    .ok_or_else(|| {
                        format!(
                            "work item {}: field {name} holds {v}, not a number of points (integrations.{}.fields.storyPoints)",
                            w.id, config.table
                        )
                    })?,
            ),
        });
    }
    for f in SYNCED {
        let name = config.field(f);
        if !ty.fields.contains(name) {
            continue;
        }
        // A batch leaves empty fields out.
        let raw = w.fields.get(name).filter(|v| !v.is_null());
        let bad = |what: &str| {
            format!(
                "work item {}: field {name} holds {}, not {what} (integrations.{}.fields.{})",
                w.id,
                raw.map(Value::to_string).unwrap_or_default(),
                config.table,
                f.as_str()
            )
        };
        match f {
            MappedField::EstimatedHours | MappedField::ActualHours => {
                let h = match raw {
                    None => None,
                    Some(v) => Some(
                        v.as_f64()
                            .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
                            .filter(|h: &f64| h.is_finite())
                            .ok_or_else(|| bad("a number of hours"))?,
                    ),
                };
                if f == MappedField::EstimatedHours {
                    out.estimated_hours = Some(h);
                } else {
                    out.actual_hours = Some(h);
                }
            }
            MappedField::DueDate => {
                out.due_date = Some(match raw {
                    None => None,
                    Some(v) => Some(v.as_str().and_then(date_of).ok_or_else(|| bad("a date"))?),
                });
            }
            MappedField::AcceptanceCriteria => {
                let text = match raw {
                    None => String::new(),
                    Some(Value::String(s)) => html::to_text(s),
                    Some(_) => return Err(bad("HTML text")),
                };
                out.acceptance_criteria = Some(criteria_of(&text));
            }
            MappedField::StoryPoints => {}
        }
    }
    Ok(())
}

/// The day a date field stands for. Azure DevOps keeps dates as instants: devlog writes
/// midnight UTC, its web form midnight in the user's time zone (22:00 the day before in
/// UTC+2, 05:00 in UTC−5). The date of the instant plus 12 hours is the day meant in every
/// zone from UTC−12 to UTC+11, and the day devlog wrote.
fn date_of(s: &str) -> Option<chrono::NaiveDate> {
    match chrono::DateTime::parse_from_rfc3339(s) {
        Ok(t) => Some((t.with_timezone(&chrono::Utc) + chrono::Duration::hours(12)).date_naive()),
        Err(_) => chrono::NaiveDate::parse_from_str(s.get(..10)?, "%Y-%m-%d").ok(),
    }
}

/// One criterion a line of the field's text, list markers (`- `, `* `, `1. `) taken off,
/// blank lines skipped.
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

/// The acceptance criteria field's HTML: a list, one item a criterion (on one line).
pub(crate) fn criteria_html(criteria: &[String]) -> Option<String> {
    let items: Vec<String> = criteria
        .iter()
        .filter(|c| !c.trim().is_empty())
        .map(|c| format!("- {}", c.split_whitespace().collect::<Vec<_>>().join(" ")))
        .collect();
    (!items.is_empty()).then(|| html::from_text(&items.join("\n")))
}

/// The patch operations of an update for the `changed` optional fields `ty` has, from
/// `fields`; `current` is the item as read (a field cleared is removed only when it holds a
/// value). RemainingWork follows the estimate and completed work (estimate − completed, not
/// below 0) when either changes.
pub(crate) fn ops(
    config: &AdoConfig,
    process: Process,
    ty: &TypeMeta,
    current: &WorkItem,
    fields: &SyncedFields,
    changed: &FieldSet,
) -> Vec<Value> {
    let mut out = Vec::new();
    let mut set = |name: &str, value: Option<Value>| {
        if !ty.fields.contains(name) {
            return;
        }
        match value {
            Some(v) => out.push(op("add", name, v)),
            None if current.fields.get(name).is_some_and(|v| !v.is_null()) => {
                out.push(json!({"op": "remove", "path": format!("/fields/{name}")}));
            }
            None => {}
        }
    };
    let hours = |h: Option<f64>| h.filter(|h| h.is_finite()).map(|h| json!(h));
    let mut planning = false;
    for c in changed.iter() {
        match c {
            SyncedField::EstimatedHours => {
                if let Some(h) = fields.estimated_hours {
                    set(config.field(MappedField::EstimatedHours), hours(h));
                    planning = true;
                }
            }
            SyncedField::ActualHours => {
                if let Some(h) = fields.actual_hours {
                    set(config.field(MappedField::ActualHours), hours(h));
                    planning = true;
                }
            }
            SyncedField::AcceptanceCriteria => {
                if let Some(c) = &fields.acceptance_criteria {
                    set(
                        config.field(MappedField::AcceptanceCriteria),
                        criteria_html(c).map(Value::String),
                    );
                }
            }
            SyncedField::DueDate => {
                if let Some(d) = fields.due_date {
                    set(
                        config.field(MappedField::DueDate),
                        d.map(|d| json!(format!("{d}T00:00:00Z"))),
                    );
                }
            }
            SyncedField::Points => {
                if let (Some(p), Some(name)) = (fields.points, points_field(config, process, ty)) {
                    set(name, hours(p));
                }
            }
            _ => {}
        }
    }
    if planning {
        let estimate = fields.estimated_hours.flatten();
        let completed = fields.actual_hours.flatten();
        let remaining = match (estimate, completed) {
            (Some(e), Some(c)) => Some((e - c).max(0.0)),
            (Some(e), None) => Some(e),
            _ => None,
        };
        set(REMAINING_WORK, hours(remaining));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_read_as_the_day_meant_in_any_zone() {
        let d = |s: &str| date_of(s).map(|d| d.to_string());
        assert_eq!(d("2026-03-01T00:00:00Z").as_deref(), Some("2026-03-01"));
        // Midnight in UTC+2 and in UTC−5, as the web form writes them.
        assert_eq!(d("2026-02-28T22:00:00Z").as_deref(), Some("2026-03-01"));
        assert_eq!(d("2026-03-01T05:00:00Z").as_deref(), Some("2026-03-01"));
        assert_eq!(d("2026-03-01").as_deref(), Some("2026-03-01"));
        assert_eq!(d("soon"), None);
    }

    #[test]
    fn criteria_round_trip_through_the_fields_html() {
        let c = vec![
            "Logs in with SSO".to_string(),
            "Shows <errors> & hints".into(),
        ];
        let html = criteria_html(&c).unwrap();
        assert!(html.contains("&lt;errors&gt;"), "{html}");
        assert_eq!(criteria_of(&html::to_text(&html)), c);
        // What people type in the editor: a numbered list, divs, blank lines.
        assert_eq!(
            criteria_of(&html::to_text(
                "<div>1. one</div><div><br></div><div>2. two</div>"
            )),
            ["one", "two"]
        );
        assert_eq!(criteria_html(&[" ".into()]), None);
    }
}
