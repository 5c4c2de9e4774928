//! An entry as a document to edit in a text editor (`devlog edit REF`, `devlog new --edit`):
//! YAML front matter for the fields, Markdown sections for the texts, and help below a
//! scissors line that is ignored when the document is read back.
//!
//! ```text
//! ---
//! title: Fix the login timeout
//! type: bugfix
//! status: in-progress
//! priority: high
//! assignee: alice
//! tags: [auth, backend]
//! estimatedHours: 4
//! actualHours:
//! points: 3
//! due: 2026-12-24
//! milestone:
//! ---
//!
//! # Description
//!
//! Sessions expire after 5 minutes instead of 30.
//!
//! # Business context
//!
//! # Technical context
//!
//! # Acceptance criteria
//!
//! - Sessions last 30 minutes
//! ```
//!
//! Reading never guesses: a key it does not know, a value outside a closed set, text outside
//! a section or a criterion that is not a list item is a [`DocError`] naming the line, which
//! the caller shows in the document for another try ([`with_errors`]).

use serde::Deserialize;

use crate::entry::{Entry, EntryType, Priority, Status};
use crate::ops::{Edit, NewEntry};

/// Everything from this line on is ignored when the document is read back.
pub const SCISSORS: &str = "# ------------------------ >8 ------------------------";

/// The prefix of the error lines [`with_errors`] puts in the front matter (YAML comments, so
/// the document still reads; removed again on the next round).
const ERROR_PREFIX: &str = "# error: ";

/// A section of the document's body, in the order they are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Section {
    Description,
    Business,
    Technical,
    Criteria,
}

impl Section {
    const ALL: [Section; 4] = [
        Section::Description,
        Section::Business,
        Section::Technical,
        Section::Criteria,
    ];

    fn heading(self) -> &'static str {
        match self {
            Section::Description => "Description",
            Section::Business => "Business context",
            Section::Technical => "Technical context",
            Section::Criteria => "Acceptance criteria",
        }
    }

    /// The section a line starts, if it is one of the four headings (`# Description`, in any
    /// case, with any spacing after the `#`).
    fn starting(line: &str) -> Option<Section> {
        let rest = line.strip_prefix('#')?;
        if rest.starts_with('#') {
            return None;
        }
        let name = rest.trim();
        Section::ALL
            .into_iter()
            .find(|s| s.heading().eq_ignore_ascii_case(name))
    }
}

/// A problem in an edited document: the line it is on (1-based, when known) and what to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocError {
    pub line: Option<usize>,
    pub message: String,
}

impl DocError {
    fn at(line: usize, message: impl Into<String>) -> Self {
        Self {
            line: Some(line),
            message: message.into(),
        }
    }

    /// An error about the document as a whole (or found when it was applied).
    pub fn general(message: impl Into<String>) -> Self {
        Self {
            line: None,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for DocError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(l) => write!(f, "line {l}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// The fields and texts of an entry as the document holds them.
#[derive(Debug, Clone, PartialEq)]
pub struct EntryDoc {
    pub title: String,
    pub kind: EntryType,
    pub status: Status,
    pub priority: Priority,
    pub assignee: Option<String>,
    pub tags: Vec<String>,
    pub estimated_hours: Option<f64>,
    pub actual_hours: Option<f64>,
    pub points: Option<f64>,
    /// The due date as written (`2026-12-24`, or a form `planning::parse_due` reads, such as
    /// `friday`); resolved when the edit is applied.
    pub due: Option<String>,
    pub milestone: Option<String>,
    pub description: String,
    pub business_context: String,
    pub technical_context: String,
    pub acceptance_criteria: Vec<String>,
}

/// The front matter's keys; unknown keys are refused (a typo must not be dropped silently).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct FrontMatter {
    title: Option<String>,
    #[serde(rename = "type")]
    kind: Option<EntryType>,
    status: Option<Status>,
    priority: Option<Priority>,
    #[serde(default)]
    assignee: Option<String>,
    #[serde(default)]
    tags: Option<Vec<String>>,
    #[serde(default)]
    estimated_hours: Option<f64>,
    #[serde(default)]
    actual_hours: Option<f64>,
    #[serde(default)]
    points: Option<f64>,
    #[serde(default)]
    due: Option<String>,
    #[serde(default)]
    milestone: Option<String>,
}

impl EntryDoc {
    /// The document of an existing entry.
    pub fn of(e: &Entry) -> Self {
        Self {
            title: e.title.clone(),
            kind: e.kind,
            status: e.status,
            priority: e.priority,
            assignee: e.assignee.clone(),
            tags: e.tags.clone(),
            estimated_hours: e.estimated_hours,
            actual_hours: e.actual_hours,
            points: e.points,
            due: e.due_date.map(|d| d.to_string()),
            milestone: e.milestone.clone(),
            description: e.description.clone(),
            business_context: e.context.business_context.clone(),
            technical_context: e.context.technical_context.clone(),
            acceptance_criteria: e.context.acceptance_criteria.clone(),
        }
    }

    /// The document a new entry starts from (`devlog new --edit`), filled from `n`.
    pub fn for_new(n: &NewEntry) -> Self {
        Self {
            title: n.title.clone(),
            kind: n.kind.unwrap_or(EntryType::Task),
            status: n.status.unwrap_or(Status::New),
            priority: n.priority.unwrap_or(Priority::Medium),
            assignee: n.assignee.clone(),
            tags: n.tags.clone(),
            estimated_hours: n.estimated_hours,
            actual_hours: None,
            points: n.points,
            due: n.due.clone(),
            milestone: n.milestone.clone(),
            description: n.description.clone(),
            business_context: n.business_context.clone(),
            technical_context: n.technical_context.clone(),
            acceptance_criteria: n.acceptance_criteria.clone(),
        }
    }

    /// The document as text, with `help` (lines, each prefixed with `# `) below the scissors.
    pub fn render(&self, help: &[String]) -> String {
        let mut out = String::from("---\n");
        out.push_str(&format!("title: {}\n", scalar(&self.title)));
        out.push_str(&format!("type: {}\n", self.kind));
        out.push_str(&format!("status: {}\n", self.status));
        out.push_str(&format!("priority: {}\n", self.priority));
        out.push_str(&format!(
            "assignee:{}\n",
            self.assignee
                .as_deref()
                .map(|a| format!(" {}", scalar(a)))
                .unwrap_or_default()
        ));
        let tags: Vec<String> = self.tags.iter().map(|t| flow_scalar(t)).collect();
        out.push_str(&format!("tags: [{}]\n", tags.join(", ")));
        out.push_str(&format!("estimatedHours:{}\n", hours(self.estimated_hours)));
        out.push_str(&format!("actualHours:{}\n", hours(self.actual_hours)));
        out.push_str(&format!("points:{}\n", hours(self.points)));
        for (key, v) in [("due", &self.due), ("milestone", &self.milestone)] {
            out.push_str(&format!(
                "{key}:{}\n",
                v.as_deref()
                    .map(|v| format!(" {}", scalar(v)))
                    .unwrap_or_default()
            ));
        }
        out.push_str("---\n");
        for s in Section::ALL {
            out.push_str(&format!("\n# {}\n\n", s.heading()));
            let text = match s {
                Section::Description => self.description.trim_end().to_string(),
                Section::Business => self.business_context.trim_end().to_string(),
                Section::Technical => self.technical_context.trim_end().to_string(),
                Section::Criteria => self
                    .acceptance_criteria
                    .iter()
                    .map(|c| format!("- {}", c.replace('\n', "\n  ")))
                    .collect::<Vec<_>>()
                    .join("\n"),
            };
            if !text.is_empty() {
                out.push_str(&text);
                out.push('\n');
            }
        }
        out.push('\n');
        out.push_str(SCISSORS);
        out.push('\n');
        for h in help {
            out.push_str("# ");
            out.push_str(h);
            out.push('\n');
        }
        out
    }

    /// Reads an edited document back. Every problem found is returned, each with its line.
    pub fn parse(text: &str) -> Result<Self, Vec<DocError>> {
        let lines: Vec<&str> = text
            .lines()
            .take_while(|l| l.trim_end() != SCISSORS)
            .collect();
        let Some(open) = lines.iter().position(|l| !l.trim().is_empty()) else {
            return Err(vec![DocError::general("the document is empty")]);
        };
        if lines[open].trim_end() != "---" {
            return Err(vec![DocError::at(
                open + 1,
                "the document must start with the fields between two `---` lines",
            )]);
        }
        let Some(close) = lines[open + 1..]
            .iter()
            .position(|l| l.trim_end() == "---")
            .map(|i| i + open + 1)
        else {
            return Err(vec![DocError::at(
                open + 1,
                "the fields are not closed: add a line `---` after them",
            )]);
        };
        let mut errors = Vec::new();
        let yaml = lines[open + 1..close].join("\n");
        let front = match serde_norway::from_str::<Option<FrontMatter>>(&yaml) {
            Ok(Some(f)) => Some(f),
            Ok(None) => {
                errors.push(DocError::at(open + 2, "the fields are missing (title: …)"));
                None
            }
            Err(e) => {
                // Lines in the error are counted from the first line after `---`.
                let line = e.location().map(|l| l.line() + open + 1);
                let message = yaml_message(&e.to_string());
                errors.push(DocError {
                    line: line.or(Some(open + 2)),
                    message,
                });
                None
            }
        };
        let body = parse_body(&lines, close + 1, &mut errors);
        let Some(front) = front else {
            return Err(errors);
        };
        let key_line = |key: &str| {
            lines[open + 1..close]
                .iter()
                .position(|l| l.trim_start().starts_with(&format!("{key}:")))
                .map_or(open + 2, |i| i + open + 2)
        };
        let title = front.title.unwrap_or_default().trim().to_string();
        if title.is_empty() {
            errors.push(DocError::at(key_line("title"), "title: must not be empty"));
        }
        let mut missing = |present: bool, key: &str, allowed: Vec<&str>| {
            if !present {
                errors.push(DocError::at(
                    key_line(key),
                    format!("{key}: missing; one of {}", allowed.join(", ")),
                ));
            }
        };
        missing(front.kind.is_some(), "type", EntryType::allowed());
        missing(front.status.is_some(), "status", Status::allowed());
        missing(front.priority.is_some(), "priority", Priority::allowed());
        let (kind, status, priority) = (front.kind, front.status, front.priority);
        for (key, h) in [
            ("estimatedHours", front.estimated_hours),
            ("actualHours", front.actual_hours),
            ("points", front.points),
        ] {
            if h.is_some_and(|h| !h.is_finite() || h < 0.0) {
                errors.push(DocError::at(
                    key_line(key),
                    format!(
                        "{key}: must be a number{}, 0 or more",
                        if key == "points" { "" } else { " of hours" }
                    ),
                ));
            }
        }
        let tags: Vec<String> = front
            .tags
            .unwrap_or_default()
            .into_iter()
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .collect();
        if tags.iter().any(|t| t.contains(char::is_whitespace)) {
            errors.push(DocError::at(
                key_line("tags"),
                "tags: a tag has no spaces (write `tags: [a, b]`)",
            ));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let (Some(kind), Some(status), Some(priority)) = (kind, status, priority) else {
            return Err(errors);
        };
        Ok(Self {
            title,
            kind,
            status,
            priority,
            assignee: front
                .assignee
                .map(|a| a.trim().to_string())
                .filter(|a| !a.is_empty()),
            tags,
            estimated_hours: front.estimated_hours,
            actual_hours: front.actual_hours,
            points: front.points,
            due: front
                .due
                .map(|d| d.trim().to_string())
                .filter(|d| !d.is_empty()),
            milestone: front
                .milestone
                .map(|m| m.trim().to_string())
                .filter(|m| !m.is_empty()),
            description: body.description,
            business_context: body.business,
            technical_context: body.technical,
            acceptance_criteria: body.criteria,
        })
    }

    /// The edit that turns `current` into this document: only what differs. Hours cannot be
    /// removed through an edit (the store keeps the last value), so removing one is an error.
    pub fn edit_of(&self, current: &Entry) -> Result<Edit, Vec<DocError>> {
        let mut errors = Vec::new();
        for (key, now, was) in [
            (
                "estimatedHours",
                self.estimated_hours,
                current.estimated_hours,
            ),
            ("actualHours", self.actual_hours, current.actual_hours),
            ("points", self.points, current.points),
        ] {
            if now.is_none() && was.is_some() {
                errors.push(DocError::general(format!(
                    "{key}: cannot be removed once set; write 0 instead"
                )));
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let differs = |a: &str, b: &str| a != b;
        Ok(Edit {
            title: differs(&self.title, &current.title).then(|| self.title.clone()),
            kind: (self.kind != current.kind).then_some(self.kind),
            status: (self.status != current.status).then_some(self.status),
            priority: (self.priority != current.priority).then_some(self.priority),
            description: differs(&self.description, &current.description)
                .then(|| self.description.clone()),
            assignee: (self.assignee != current.assignee)
                .then(|| self.assignee.clone().unwrap_or_default()),
            business_context: differs(&self.business_context, &current.context.business_context)
                .then(|| self.business_context.clone()),
            technical_context: differs(&self.technical_context, &current.context.technical_context)
                .then(|| self.technical_context.clone()),
            acceptance_criteria: (self.acceptance_criteria != current.context.acceptance_criteria)
                .then(|| self.acceptance_criteria.clone()),
            add_criteria: Vec::new(),
            add_tags: self
                .tags
                .iter()
                .filter(|t| !current.tags.contains(t))
                .cloned()
                .collect(),
            remove_tags: current
                .tags
                .iter()
                .filter(|t| !self.tags.contains(t))
                .cloned()
                .collect(),
            add_files: Vec::new(),
            estimated_hours: self
                .estimated_hours
                .filter(|h| Some(*h) != current.estimated_hours),
            actual_hours: self
                .actual_hours
                .filter(|h| Some(*h) != current.actual_hours),
            points: self.points.filter(|p| Some(*p) != current.points),
            // `none` clears (planning's rule for both).
            due: (self.due != current.due_date.map(|d| d.to_string()))
                .then(|| self.due.clone().unwrap_or_else(|| "none".into())),
            milestone: (self.milestone != current.milestone)
                .then(|| self.milestone.clone().unwrap_or_else(|| "none".into())),
        })
    }

    /// The new entry this document describes (`force` and the lists the document does not
    /// hold are taken from `base`).
    pub fn into_new(self, base: NewEntry) -> NewEntry {
        NewEntry {
            title: self.title,
            kind: Some(self.kind),
            description: self.description,
            priority: Some(self.priority),
            status: Some(self.status),
            business_context: self.business_context,
            technical_context: self.technical_context,
            acceptance_criteria: self.acceptance_criteria,
            tags: self.tags,
            assignee: self.assignee,
            estimated_hours: self.estimated_hours,
            points: self.points,
            due: self.due,
            milestone: self.milestone,
            ..base
        }
    }
}

/// The document's keys (front matter keys and section headings) whose values differ
/// between `a` and `b`.
pub fn differing_fields(a: &EntryDoc, b: &EntryDoc) -> Vec<&'static str> {
    let checks: [(&'static str, bool); 15] = [
        ("title", a.title != b.title),
        ("type", a.kind != b.kind),
        ("status", a.status != b.status),
        ("priority", a.priority != b.priority),
        ("assignee", a.assignee != b.assignee),
        ("tags", a.tags != b.tags),
        ("estimatedHours", a.estimated_hours != b.estimated_hours),
        ("actualHours", a.actual_hours != b.actual_hours),
        ("points", a.points != b.points),
        ("due", a.due != b.due),
        ("milestone", a.milestone != b.milestone),
        ("Description", a.description != b.description),
        ("Business context", a.business_context != b.business_context),
        (
            "Technical context",
            a.technical_context != b.technical_context,
        ),
        (
            "Acceptance criteria",
            a.acceptance_criteria != b.acceptance_criteria,
        ),
    ];
    checks
        .into_iter()
        .filter_map(|(k, differs)| differs.then_some(k))
        .collect()
}

/// Fields changed both in `mine` and, since `base` was read, in `theirs`, to different
/// values: saving `mine` would overwrite someone else's change to them.
pub fn overlapping_changes(
    base: &EntryDoc,
    mine: &EntryDoc,
    theirs: &EntryDoc,
) -> Vec<&'static str> {
    let ours = differing_fields(base, mine);
    let others = differing_fields(base, theirs);
    let apart = differing_fields(mine, theirs);
    ours.into_iter()
        .filter(|f| others.contains(f) && apart.contains(f))
        .collect()
}

/// `text` without the problem lines [`with_errors`] wrote into it: what to read back.
pub fn without_errors(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for l in text.lines().filter(|l| !l.starts_with(ERROR_PREFIX)) {
        out.push_str(l);
        out.push('\n');
    }
    out
}

/// `text` with `errors` written into it as comment lines right after the opening `---` (or at
/// the top when there is none; the problems of an earlier round removed first), for the
/// editor's next round. `errors` were found in [`without_errors`]`(text)`; their line numbers
/// are moved to where those lines are in the document shown.
pub fn with_errors(text: &str, errors: &[DocError]) -> String {
    let clean = without_errors(text);
    let kept: Vec<&str> = clean.lines().collect();
    let at = kept
        .iter()
        .position(|l| l.trim_end() == "---")
        .map_or(0, |i| i + 1);
    let shift = |e: &DocError| DocError {
        line: e.line.map(|l| if l > at { l + errors.len() } else { l }),
        message: e.message.clone(),
    };
    let mut out = String::with_capacity(clean.len());
    for l in &kept[..at] {
        out.push_str(l);
        out.push('\n');
    }
    for e in errors {
        out.push_str(&format!("{ERROR_PREFIX}{}\n", shift(e)));
    }
    for l in &kept[at..] {
        out.push_str(l);
        out.push('\n');
    }
    out
}

/// The text above the scissors line, trimmed, without the problem lines [`with_errors`]
/// wrote: what a plain-text document (a note) holds.
pub fn above_scissors(text: &str) -> String {
    text.lines()
        .filter(|l| !l.starts_with(ERROR_PREFIX))
        .take_while(|l| l.trim_end() != SCISSORS)
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_string()
}

struct Body {
    description: String,
    business: String,
    technical: String,
    criteria: Vec<String>,
}

fn parse_body(lines: &[&str], from: usize, errors: &mut Vec<DocError>) -> Body {
    let mut current: Option<Section> = None;
    let mut texts: [Vec<&str>; 3] = Default::default();
    let mut criteria: Vec<String> = Vec::new();
    let mut seen: Vec<Section> = Vec::new();
    for (i, line) in lines.iter().enumerate().skip(from) {
        let n = i + 1;
        if let Some(s) = Section::starting(line) {
            if seen.contains(&s) {
                errors.push(DocError::at(
                    n,
                    format!("`# {}` appears twice; keep one", s.heading()),
                ));
            }
            seen.push(s);
            current = Some(s);
            continue;
        }
        match current {
            None if line.trim().is_empty() => {}
            None => errors.push(DocError::at(
                n,
                "text before the first section; put it under `# Description`",
            )),
            Some(Section::Criteria) => {
                let t = line.trim_end();
                if t.trim().is_empty() {
                    continue;
                }
                if let Some(item) = list_item(t) {
                    criteria.push(item.to_string());
                } else if t.starts_with([' ', '\t']) && !criteria.is_empty() {
                    if let Some(last) = criteria.last_mut() {
                        last.push('\n');
                        last.push_str(t.trim());
                    }
                } else {
                    errors.push(DocError::at(
                        n,
                        "acceptance criteria are a list: start each with `- `",
                    ));
                }
            }
            Some(s) => texts[s as usize].push(line),
        }
    }
    let [description, business, technical] = texts.map(|t| t.join("\n").trim().to_string());
    Body {
        description,
        business,
        technical,
        criteria: criteria
            .into_iter()
            .map(|c| c.trim().to_string())
            .filter(|c| !c.is_empty())
            .collect(),
    }
}

/// The text of a Markdown list item (`- x`, `* x`, `- [ ] x`, `- [x] x`).
fn list_item(line: &str) -> Option<&str> {
    let rest = line
        .strip_prefix("- ")
        .or_else(|| line.strip_prefix("* "))?;
    let rest = ["[ ] ", "[x] ", "[X] "]
        .iter()
        .find_map(|b| rest.strip_prefix(b))
        .unwrap_or(rest);
    Some(rest.trim())
}

/// `s` as a YAML scalar that reads back as the same string.
fn scalar(s: &str) -> String {
    match serde_norway::to_string(s) {
        Ok(y) => y.trim_end().to_string(),
        Err(_) => format!("{s:?}"),
    }
}

/// `s` as a scalar inside a flow sequence (`[a, b]`), where `,`, `:` and brackets are syntax:
/// plain when YAML would read it back as this string anyway, else double-quoted (a JSON
/// string is a valid YAML double-quoted scalar).
fn flow_scalar(s: &str) -> String {
    let plain = s
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
        && scalar(s) == s;
    if plain {
        s.to_string()
    } else {
        serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}"))
    }
}

fn hours(h: Option<f64>) -> String {
    h.map(|h| format!(" {h}")).unwrap_or_default()
}

/// A YAML parser message made readable: the position is given separately, so drop it.
fn yaml_message(m: &str) -> String {
    let m = m.split(" at line ").next().unwrap_or(m);
    m.trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::Context;
    use crate::id::EntryId;
    use crate::time::Timestamp;

    fn entry() -> Entry {
        let now = Timestamp::from_millis(1_796_551_200_000).unwrap();
        Entry {
            id: EntryId::new_random(),
            handle: 7,
            key: "fix-login".into(),
            legacy_id: None,
            title: "Fix: the login timeout".into(),
            kind: EntryType::Bugfix,
            description: "Sessions expire.\n\n# A heading of the description\n\nMore.".into(),
            status: Status::InProgress,
            priority: Priority::High,
            created_at: now,
            updated_at: now,
            closed_at: None,
            assignee: Some("alice".into()),
            tags: vec!["auth".into(), "yes".into()],
            estimated_hours: Some(4.0),
            actual_hours: None,
            notes: vec![],
            files: vec![],
            related_devlogs: vec![],
            context: Context {
                business_context: "Users are logged out.".into(),
                acceptance_criteria: vec!["Sessions last 30 minutes".into(), "Tested".into()],
                ..Context::default()
            },
            ai_context: Default::default(),
            external_references: vec![],
            deployments: vec![],
            due_date: None,
            points: None,
            milestone: None,
            worklogs: vec![],
            extra: Default::default(),
        }
    }

    #[test]
    fn a_rendered_entry_reads_back_unchanged_and_edits_nothing() {
        let e = entry();
        let text = EntryDoc::of(&e).render(&["help".into()]);
        let doc = EntryDoc::parse(&text).unwrap();
        assert_eq!(doc, EntryDoc::of(&e));
        assert!(doc.edit_of(&e).unwrap().is_empty(), "{text}");
    }

    #[test]
    fn changed_fields_become_an_edit_of_only_those_fields() {
        let e = entry();
        let text = EntryDoc::of(&e)
            .render(&[])
            .replace("status: in-progress", "status: in-review")
            .replace("tags: [auth, yes]", "tags: [auth, backend]")
            .replace("- Tested", "- [x] Tested\n  on staging")
            .replace("assignee: alice", "assignee:");
        let doc = EntryDoc::parse(&text).unwrap();
        let edit = doc.edit_of(&e).unwrap();
        assert_eq!(edit.status, Some(Status::InReview));
        assert_eq!(edit.add_tags, vec!["backend".to_string()]);
        assert_eq!(edit.remove_tags, vec!["yes".to_string()]);
        assert_eq!(edit.assignee.as_deref(), Some(""));
        assert_eq!(
            edit.acceptance_criteria,
            Some(vec![
                "Sessions last 30 minutes".to_string(),
                "Tested\non staging".to_string()
            ])
        );
        assert_eq!(edit.title, None);
        assert_eq!(edit.description, None);
    }

    #[test]
    fn errors_name_the_line_and_what_to_fix() {
        let text = EntryDoc::of(&entry())
            .render(&[])
            .replace("status: in-progress", "status: doing")
            .replace("priority: high\n", "priority: high\ncolour: red\n");
        let errs = EntryDoc::parse(&text).unwrap_err();
        assert_eq!(errs.len(), 1, "{errs:?}");
        // The first problem YAML reports is enough to fix; its line is the document's.
        assert_eq!(errs[0].line, Some(4), "{errs:?}");
        assert!(errs[0].message.contains("doing"), "{errs:?}");
        assert!(errs[0].message.contains("in-progress"), "{errs:?}");

        let text = EntryDoc::of(&entry())
            .render(&[])
            .replace("priority: high\n", "priority: high\ncolour: red\n");
        let errs = EntryDoc::parse(&text).unwrap_err();
        assert!(errs[0].message.contains("colour"), "{errs:?}");

        let text = EntryDoc::of(&entry())
            .render(&[])
            .replace("title: 'Fix: the login timeout'", "title: ''")
            .replace("- Tested", "Tested");
        let errs = EntryDoc::parse(&text).unwrap_err();
        let shown: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert!(
            shown.iter().any(|e| e.starts_with("line 2: title")),
            "{shown:?}"
        );
        assert!(
            shown.iter().any(|e| e.contains("start each with `- `")),
            "{shown:?}"
        );
    }

    #[test]
    fn errors_are_written_into_the_document_once() {
        let text = EntryDoc::of(&entry()).render(&[]);
        let bad = text.replace("status: in-progress", "status: doing");
        let errs = EntryDoc::parse(&bad).unwrap_err();
        let once = with_errors(&bad, &errs);
        // The line is where the value is in the document shown: one below, under the comment.
        assert!(
            once.starts_with("---\n# error: line 5: status: unknown variant `doing`"),
            "{once}"
        );
        assert_eq!(once.lines().nth(4), Some("status: doing"));
        // Read back without the comments, the same problems: a second round is identical.
        assert_eq!(EntryDoc::parse(&without_errors(&once)).unwrap_err(), errs);
        assert_eq!(with_errors(&once, &errs), once);
        assert_eq!(without_errors(&once), bad);
    }

    #[test]
    fn a_document_without_front_matter_or_with_text_outside_sections_is_refused() {
        assert!(EntryDoc::parse("").is_err());
        let errs = EntryDoc::parse("hello\n").unwrap_err();
        assert_eq!(errs[0].line, Some(1));
        let errs = EntryDoc::parse("---\ntitle: x\n").unwrap_err();
        assert!(errs[0].message.contains("not closed"));
        let errs = EntryDoc::parse(
            "---\ntitle: x\ntype: task\nstatus: new\npriority: low\n---\nstray\n# Description\n",
        )
        .unwrap_err();
        assert_eq!(errs[0].line, Some(7));
    }

    #[test]
    fn removing_hours_is_refused_and_text_below_the_scissors_is_ignored() {
        let e = entry();
        let text = EntryDoc::of(&e)
            .render(&["estimatedHours: 99".into()])
            .replace("estimatedHours: 4", "estimatedHours:");
        let doc = EntryDoc::parse(&text).unwrap();
        assert_eq!(doc.estimated_hours, None);
        assert!(doc.edit_of(&e).is_err());
        assert_eq!(
            above_scissors(&format!("a note\n\n{SCISSORS}\n# x\n")),
            "a note"
        );
    }

    #[test]
    fn a_field_both_sides_changed_differently_is_an_overlap() {
        let base = EntryDoc::of(&entry());
        let mut mine = base.clone();
        let mut theirs = base.clone();
        mine.status = Status::Done;
        mine.title = "Mine".into();
        theirs.status = Status::Blocked;
        theirs.title = "Mine".into();
        theirs.priority = Priority::Low;
        assert_eq!(overlapping_changes(&base, &mine, &theirs), vec!["status"]);
    }

    proptest::proptest! {
        /// Any title (YAML's special characters included), tags and texts read back as written.
        #[test]
        fn documents_round_trip(
            title in "[^\\s][^\n\r]{0,40}[^\\s]",
            tags in proptest::collection::vec("[a-z:#'\"@&*!%-]{1,8}", 0..4),
            description in "([a-z#*>`:-]{1,6}[ \n]){0,20}[a-z]",
            criteria in proptest::collection::vec("[a-z:#-][a-z :#-]{0,20}[a-z]", 0..4),
            assignee in proptest::option::of("[a-z@.'-]{1,10}"),
        ) {
            let mut e = entry();
            e.title = title;
            e.tags = tags;
            e.tags.dedup();
            e.description = description;
            e.context.acceptance_criteria = criteria;
            e.assignee = assignee;
            let text = EntryDoc::of(&e).render(&[]);
            let doc = EntryDoc::parse(&text);
            proptest::prop_assert!(doc.is_ok(), "{text}\n{doc:?}");
            let doc = doc.unwrap();
            let edit = doc.edit_of(&e);
            proptest::prop_assert!(edit.as_ref().is_ok_and(Edit::is_empty), "{text}\n{edit:?}");
        }
    }
}
