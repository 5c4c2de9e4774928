//! Use cases: what CLI, MCP and HTTP do to entries, written once over the `Store` port.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::entry::{
    AiContext, Context, Decision, Entry, EntrySummary, EntryType, Extra, Note, NoteCategory,
    Priority, Status, Transition,
};
use crate::error::{Result, StoreError};
use crate::event::WriteMeta;
use crate::id::{EntryId, EntryRef, slugify};
use crate::store::{Created, Filter, ListQuery, SearchQuery, SortKey, Store};
use crate::time::{Clock, SystemClock};

/// Longest title accepted; titles are one line, descriptions hold the rest.
pub const MAX_TITLE: usize = 300;

/// Largest text field accepted, in bytes of UTF-8: a description, a context, a note, a
/// decision, one list item... (1 MiB). Every frontend and backend gets this rule through the
/// use cases; PostgreSQL and MariaDB would refuse much larger rows anyway.
pub const MAX_TEXT: usize = 1024 * 1024;

/// Most items one list field of an input may hold (tags, files, acceptance criteria, ...).
pub const MAX_ITEMS: usize = 1000;

/// Largest change-feed position: sequence numbers are stored as signed 64-bit integers, so a
/// cursor above `i64::MAX` names no event (and would wrap to a negative number in SQL).
pub const MAX_SEQ: u64 = i64::MAX as u64;

/// Fails unless `value` fits in [`MAX_TEXT`].
pub fn check_text(field: &str, value: &str) -> Result<()> {
    if value.len() > MAX_TEXT {
        return Err(StoreError::invalid(
            field,
            format!(
                "{} bytes is larger than the limit of 1 MiB ({MAX_TEXT} bytes); keep large \
                 content in a file and name the file instead",
                value.len()
            ),
        ));
    }
    Ok(())
}

/// Fails unless the list has at most [`MAX_ITEMS`] items, each within [`MAX_TEXT`].
pub fn check_list(field: &str, items: &[String]) -> Result<()> {
    if items.len() > MAX_ITEMS {
        return Err(StoreError::invalid(
            field,
            format!(
                "{} items is more than the limit of {MAX_ITEMS}",
                items.len()
            ),
        ));
    }
    items.iter().try_for_each(|i| check_text(field, i))
}

/// Fails unless hours are a finite number ≥ 0 (JSON has no NaN or infinity: they would be
/// stored as null, silently).
pub fn check_hours(field: &str, hours: Option<f64>) -> Result<()> {
    match hours {
        Some(h) if !h.is_finite() || h < 0.0 => Err(StoreError::invalid(
            field,
            format!("must be a finite number of hours ≥ 0, got {h}"),
        )),
        _ => Ok(()),
    }
}

/// Fails unless story points are a finite number ≥ 0.
pub fn check_points(points: Option<f64>) -> Result<()> {
    match points {
        Some(p) if !p.is_finite() || p < 0.0 => Err(StoreError::invalid(
            "points",
            format!("must be a finite number of story points ≥ 0, got {p}"),
        )),
        _ => Ok(()),
    }
}

/// Fails unless `seq` is a change-feed position that can exist (≤ [`MAX_SEQ`]).
pub fn check_seq(field: &str, seq: u64) -> Result<u64> {
    if seq > MAX_SEQ {
        return Err(StoreError::invalid(
            field,
            format!("{seq} is larger than the largest sequence number, {MAX_SEQ}"),
        ));
    }
    Ok(seq)
}

/// Input for a new entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct NewEntry {
    pub title: String,
    #[serde(rename = "type")]
    pub kind: Option<EntryType>,
    pub description: String,
    pub priority: Option<Priority>,
    pub status: Option<Status>,
    pub business_context: String,
    pub technical_context: String,
    pub acceptance_criteria: Vec<String>,
    pub tags: Vec<String>,
    pub assignee: Option<String>,
    pub initial_insights: Vec<String>,
    pub related_patterns: Vec<String>,
    pub files: Vec<String>,
    pub estimated_hours: Option<f64>,
    /// Story points (≥ 0).
    pub points: Option<f64>,
    /// Due date as typed (`planning::DUE_FORMS`), resolved with the clock.
    pub due: Option<String>,
    /// Name of an open milestone.
    pub milestone: Option<String>,
    /// Create even if an open entry with the same title and type exists.
    pub force: bool,
    /// The entry this one is a subtask of (a reference as users type it).
    pub parent: Option<String>,
}

/// Field edits; `None` leaves a field alone.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Edit {
    pub title: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<EntryType>,
    pub status: Option<Status>,
    pub priority: Option<Priority>,
    pub description: Option<String>,
    /// `Some("")` clears the assignee.
    pub assignee: Option<String>,
    pub business_context: Option<String>,
    pub technical_context: Option<String>,
    /// Replaces the acceptance criteria.
    pub acceptance_criteria: Option<Vec<String>>,
    pub add_criteria: Vec<String>,
    pub add_tags: Vec<String>,
    pub remove_tags: Vec<String>,
    pub add_files: Vec<String>,
    pub estimated_hours: Option<f64>,
    pub actual_hours: Option<f64>,
    /// Story points (≥ 0).
    pub points: Option<f64>,
    /// Due date as typed (`planning::DUE_FORMS`); `none` clears.
    pub due: Option<String>,
    /// Name of an open milestone; `none` clears.
    pub milestone: Option<String>,
}

impl NewEntry {
    /// Checks the size and number rules (the title is checked when it is normalized).
    pub fn validate(&self) -> Result<()> {
        check_text("description", &self.description)?;
        check_text("businessContext", &self.business_context)?;
        check_text("technicalContext", &self.technical_context)?;
        check_text("assignee", self.assignee.as_deref().unwrap_or(""))?;
        check_list("acceptanceCriteria", &self.acceptance_criteria)?;
        check_list("tags", &self.tags)?;
        check_list("initialInsights", &self.initial_insights)?;
        check_list("relatedPatterns", &self.related_patterns)?;
        check_list("files", &self.files)?;
        check_hours("estimatedHours", self.estimated_hours)?;
        check_points(self.points)
    }
}

impl Edit {
    pub fn is_empty(&self) -> bool {
        *self == Edit::default()
    }

    /// Checks the size and number rules (the title is checked when it is normalized).
    pub fn validate(&self) -> Result<()> {
        check_text("description", self.description.as_deref().unwrap_or(""))?;
        check_text("assignee", self.assignee.as_deref().unwrap_or(""))?;
        check_text(
            "businessContext",
            self.business_context.as_deref().unwrap_or(""),
        )?;
        check_text(
            "technicalContext",
            self.technical_context.as_deref().unwrap_or(""),
        )?;
        check_list(
            "acceptanceCriteria",
            self.acceptance_criteria.as_deref().unwrap_or(&[]),
        )?;
        check_list("addCriteria", &self.add_criteria)?;
        check_list("addTags", &self.add_tags)?;
        check_list("removeTags", &self.remove_tags)?;
        check_list("addFiles", &self.add_files)?;
        check_hours("estimatedHours", self.estimated_hours)?;
        check_hours("actualHours", self.actual_hours)?;
        check_points(self.points)
    }
}

/// Input for a note.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewNote {
    pub content: String,
    pub category: NoteCategory,
    #[serde(default)]
    pub files: Vec<String>,
    #[serde(default)]
    pub code_changes: Option<String>,
}

impl NewNote {
    /// Checks that the note is not empty and within the size rules.
    pub fn validate(&self) -> Result<()> {
        if self.content.trim().is_empty() {
            return Err(StoreError::invalid("note", "must not be empty"));
        }
        check_text("note", &self.content)?;
        check_text("codeChanges", self.code_changes.as_deref().unwrap_or(""))?;
        check_list("files", &self.files)
    }
}

/// Input for a decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewDecision {
    pub decision: String,
    pub rationale: String,
    #[serde(default)]
    pub alternatives: Vec<String>,
    #[serde(default)]
    pub decision_maker: String,
    /// Share it with the other repositories' work (`devlog insights`).
    #[serde(default)]
    pub shared: bool,
}

impl NewDecision {
    /// Checks that decision and rationale are given and within the size rules.
    pub fn validate(&self) -> Result<()> {
        if self.decision.trim().is_empty() {
            return Err(StoreError::invalid("decision", "must not be empty"));
        }
        if self.rationale.trim().is_empty() {
            return Err(StoreError::invalid("rationale", "say why (--rationale)"));
        }
        check_text("decision", &self.decision)?;
        check_text("rationale", &self.rationale)?;
        check_text("decisionMaker", &self.decision_maker)?;
        check_list("alternatives", &self.alternatives)
    }
}

/// Changes to the AI context. The summary replaces; lists are appended without duplicates.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AiUpdate {
    pub summary: Option<String>,
    pub insights: Vec<String>,
    pub questions: Vec<String>,
    pub patterns: Vec<String>,
    pub next_steps: Vec<String>,
    /// Replace the suggested next steps rather than append.
    pub replace_next_steps: bool,
}

impl AiUpdate {
    /// Checks the size and number rules.
    pub fn validate(&self) -> Result<()> {
        check_text("summary", self.summary.as_deref().unwrap_or(""))?;
        check_list("insights", &self.insights)?;
        check_list("questions", &self.questions)?;
        check_list("patterns", &self.patterns)?;
        check_list("nextSteps", &self.next_steps)
    }
}

/// How far back the today view's "recently changed" section looks, in hours.
pub const TODAY_RECENT_HOURS: i64 = 24;

/// The today view ([`Devlog::today`]).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Today {
    pub in_progress: crate::store::Page<EntrySummary>,
    pub blocked: crate::store::Page<EntrySummary>,
    /// Open entries due within `planning::DUE_SOON_DAYS` days, overdue first.
    pub due_soon: crate::store::Page<EntrySummary>,
    /// Entries in other statuses changed since `since`.
    pub recent: crate::store::Page<EntrySummary>,
    pub since: crate::time::Timestamp,
}

/// What [`Devlog::transition`] did.
#[derive(Debug, Clone)]
pub struct TransitionOutcome {
    /// The entry as written (or as it was, when nothing changed).
    pub entry: Entry,
    /// The status before the change.
    pub from: Status,
    /// Whether the status changed (false: it had that status already).
    pub changed: bool,
    /// Whether a note was added.
    pub noted: bool,
}

/// The devlog application: use cases over one store.
#[derive(Debug, Clone)]
pub struct Devlog {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    /// `--force`: finish a parent whose subtasks are open ([`crate::relations`]).
    allow_open_children: bool,
}

impl Devlog {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self::with_clock(store, Arc::new(SystemClock))
    }

    pub fn with_clock(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            clock,
            allow_open_children: false,
        }
    }

    /// The same use cases, letting (`true`) a parent be set done or closed while subtasks are
    /// open (`--force`); by default that is refused ([`crate::relations::ChildrenGuard`]).
    pub fn allowing_open_children(mut self, allow: bool) -> Self {
        self.allow_open_children = allow;
        self
    }

    pub fn open_children_allowed(&self) -> bool {
        self.allow_open_children
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Creates an entry, or returns the open entry with the same title and type (see
    /// DESIGN §3.2) unless `force` is set.
    pub async fn create(&self, input: NewEntry, meta: &WriteMeta) -> Result<Created> {
        let title = check_title(&input.title)?;
        input.validate()?;
        let kind = input.kind.ok_or_else(|| {
            StoreError::invalid("type", "required: feature, bugfix, task, refactor or docs")
        })?;
        // A missing parent is refused before anything is written.
        let parent = match input.parent.as_deref() {
            Some(r) => Some(self.resolve(r).await?),
            None => None,
        };
        let plan = self
            .plan_change(input.due.as_deref(), input.milestone.as_deref())
            .await?;
        let now = self.clock.now();
        let status = input.status.unwrap_or(Status::New);
        let mut entry = Entry {
            id: meta
                .derived_id("entry")
                .map_or_else(EntryId::new_random, EntryId::from_uuid),
            handle: 0,
            key: slugify(&title),
            legacy_id: None,
            title,
            kind,
            description: input.description,
            status,
            priority: input.priority.unwrap_or_default(),
            created_at: now,
            updated_at: now,
            closed_at: status.is_closed().then_some(now),
            assignee: input.assignee.filter(|a| !a.trim().is_empty()),
            tags: dedup(input.tags),
            estimated_hours: input.estimated_hours,
            actual_hours: None,
            points: input.points,
            due_date: None,
            milestone: None,
            worklogs: Vec::new(),
            notes: Vec::new(),
            files: input.files,
            related_devlogs: Vec::new(),
            context: Context {
                business_context: input.business_context,
                technical_context: input.technical_context,
                acceptance_criteria: input.acceptance_criteria,
                ..Context::default()
            },
            ai_context: AiContext {
                key_insights: input.initial_insights,
                related_patterns: input.related_patterns,
                last_ai_update: Some(now),
                ..AiContext::default()
            },
            external_references: Vec::new(),
            deployments: Vec::new(),
            extra: Extra::new(),
        };
        plan.apply(&mut entry);
        if let Some(p) = &parent {
            crate::relations::add_link(&mut entry, crate::relations::LinkKind::Parent, p);
        }
        let created = self.store.create(entry, !input.force, meta).await?;
        match parent {
            Some(p) => self.adopt(created, &p, meta).await,
            None => Ok(created),
        }
    }

    /// Finds the one entry `reference` names: a handle (`#42`/`42`), an imported original
    /// integer id, a full id, a unique id prefix, or a key slug.
    pub async fn resolve(&self, reference: &str) -> Result<Entry> {
        let summary = self.resolve_summary(reference).await?;
        self.store.get(summary.id).await
    }

    /// Like [`resolve`](Self::resolve) but only the summary (no file read).
    pub async fn resolve_summary(&self, reference: &str) -> Result<EntrySummary> {
        let parsed = EntryRef::parse(reference).ok_or_else(|| {
            StoreError::invalid("reference", "empty; give a handle like #42, an id or a key")
        })?;
        let mut found = self.store.lookup(&parsed).await?;
        // All-digit id prefixes look like handles (`20251234` could be either): when no handle
        // or original id matches, try the digits as an id prefix.
        if found.is_empty()
            && let EntryRef::Number(_) = parsed
        {
            let raw = reference.trim();
            let digits = raw
                .strip_prefix("devlog-")
                .unwrap_or(raw)
                .trim_start_matches('#');
            if digits.len() >= crate::id::MIN_PREFIX {
                found = self
                    .store
                    .lookup(&EntryRef::Prefix(digits.to_string()))
                    .await?;
            }
        }
        let narrowed: Vec<EntrySummary> = match &parsed {
            EntryRef::Number(n) => prefer(found, |e| e.handle == *n),
            EntryRef::Prefix(p) => prefer(found, |e| e.key == *p),
            _ => found,
        };
        match narrowed.len() {
            1 => Ok(narrowed.into_iter().next().expect("length checked")),
            0 => Err(StoreError::NotFound {
                reference: reference.trim().to_string(),
                suggestions: self.suggest(reference).await,
            }),
            _ => Err(StoreError::Ambiguous {
                reference: reference.trim().to_string(),
                candidates: narrowed,
            }),
        }
    }

    /// Entries that look like what the user may have meant.
    async fn suggest(&self, reference: &str) -> Vec<EntrySummary> {
        let text: String = reference
            .chars()
            .map(|c| if c.is_alphanumeric() { c } else { ' ' })
            .collect();
        let q = SearchQuery {
            text,
            limit: 3,
            ..SearchQuery::default()
        };
        match self.store.search(&q).await {
            Ok(p) => p.items.into_iter().map(|h| h.entry).collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Applies field edits.
    pub async fn edit(&self, id: EntryId, edit: Edit, meta: &WriteMeta) -> Result<Entry> {
        if let Some(t) = &edit.title {
            check_title(t)?;
        }
        edit.validate()?;
        let guard = self.children_guard(id, edit.status).await?;
        let plan = self
            .plan_change(edit.due.as_deref(), edit.milestone.as_deref())
            .await?;
        let now = self.clock.now();
        self.store
            .update(id, meta, &mut |e: &mut Entry| {
                if let Some(s) = edit.status {
                    guard.check(e, s)?;
                }
                crate::planning::check_actual_hours(e, edit.actual_hours)?;
                apply_edit(e, &edit, now);
                plan.apply(e);
                Ok(())
            })
            .await
    }

    /// Adds a note; returns the entry and the new note.
    pub async fn add_note(
        &self,
        id: EntryId,
        note: NewNote,
        meta: &WriteMeta,
    ) -> Result<(Entry, Note)> {
        note.validate()?;
        let now = self.clock.now();
        let new = Note {
            id: meta
                .derived_id("note")
                .unwrap_or_else(uuid::Uuid::new_v4)
                .to_string(),
            timestamp: now,
            category: note.category,
            content: note.content,
            files: note.files,
            code_changes: note.code_changes.filter(|c| !c.is_empty()),
            extra: Extra::new(),
        };
        let n = new.clone();
        let entry = self
            .store
            .update(id, meta, &mut |e: &mut Entry| {
                for f in &n.files {
                    if !e.files.contains(f) {
                        e.files.push(f.clone());
                    }
                }
                e.notes.push(n.clone());
                e.updated_at = now;
                Ok(())
            })
            .await?;
        Ok((entry, new))
    }

    /// Edits fields and adds a note in one atomic write (MCP `update_devlog_with_note`).
    pub async fn edit_with_note(
        &self,
        id: EntryId,
        edit: Edit,
        note: NewNote,
        meta: &WriteMeta,
    ) -> Result<Entry> {
        if let Some(t) = &edit.title {
            check_title(t)?;
        }
        edit.validate()?;
        note.validate()?;
        let guard = self.children_guard(id, edit.status).await?;
        let plan = self
            .plan_change(edit.due.as_deref(), edit.milestone.as_deref())
            .await?;
        let now = self.clock.now();
        let n = Note {
            id: uuid::Uuid::new_v4().to_string(),
            timestamp: now,
            category: note.category,
            content: note.content,
            files: note.files,
            code_changes: note.code_changes.filter(|c| !c.is_empty()),
            extra: Extra::new(),
        };
        self.store
            .update(id, meta, &mut |e: &mut Entry| {
                if let Some(s) = edit.status {
                    guard.check(e, s)?;
                }
                crate::planning::check_actual_hours(e, edit.actual_hours)?;
                apply_edit(e, &edit, now);
                plan.apply(e);
                e.notes.push(n.clone());
                Ok(())
            })
            .await
    }

    /// Records a decision with its rationale.
    pub async fn decide(&self, id: EntryId, d: NewDecision, meta: &WriteMeta) -> Result<Entry> {
        d.validate()?;
        let now = self.clock.now();
        let decision = Decision {
            id: meta
                .derived_id("decision")
                .unwrap_or_else(uuid::Uuid::new_v4)
                .to_string(),
            timestamp: now,
            decision: d.decision,
            rationale: d.rationale,
            alternatives: d.alternatives,
            decision_maker: d.decision_maker,
            shared: d.shared,
            extra: Extra::new(),
        };
        self.store
            .update(id, meta, &mut |e: &mut Entry| {
                e.context.decisions.push(decision.clone());
                e.updated_at = now;
                Ok(())
            })
            .await
    }

    /// Marks an entry done, with an optional summary note.
    pub async fn complete(
        &self,
        id: EntryId,
        summary: Option<String>,
        meta: &WriteMeta,
    ) -> Result<Entry> {
        if let Some(s) = &summary {
            check_text("summary", s)?;
        }
        let now = self.clock.now();
        let summary = summary.filter(|s| !s.trim().is_empty());
        let note_id = uuid::Uuid::new_v4().to_string();
        let guard = self.children_guard(id, Some(Status::Done)).await?;
        self.store
            .update(id, meta, &mut |e: &mut Entry| {
                guard.check(e, Status::Done)?;
                set_status(e, Status::Done, now);
                if let Some(s) = &summary {
                    e.notes.push(Note {
                        id: note_id.clone(),
                        timestamp: now,
                        category: NoteCategory::Solution,
                        content: format!("Completed: {s}"),
                        files: Vec::new(),
                        code_changes: None,
                        extra: Extra::new(),
                    });
                    e.ai_context.current_summary = s.clone();
                }
                e.updated_at = now;
                Ok(())
            })
            .await
    }

    /// A named status change ([`Transition`]) with an optional note, in one write. A change
    /// to the status the entry already has writes nothing unless a note comes with it;
    /// finished work must be reopened before it is started, blocked or reviewed. The rule is
    /// checked on the entry as it is when written, so a concurrent change cannot slip past it.
    pub async fn transition(
        &self,
        id: EntryId,
        t: Transition,
        note: Option<String>,
        meta: &WriteMeta,
    ) -> Result<TransitionOutcome> {
        let note = note.filter(|n| !n.trim().is_empty());
        if let Some(n) = &note {
            check_text("note", n)?;
        }
        let now = self.clock.now();
        let note_id = uuid::Uuid::new_v4().to_string();
        let guard = self.children_guard(id, Some(t.target())).await?;
        let mut from = None;
        let entry = self
            .store
            .update(id, meta, &mut |e: &mut Entry| {
                from = Some(e.status);
                let changes = t.check(e.status).ok_or_else(|| {
                    StoreError::invalid(
                        "status",
                        format!(
                            "{} is {}: reopen it first, then {t} it",
                            e.handle_str(),
                            e.status
                        ),
                    )
                })?;
                if changes {
                    guard.check(e, t.target())?;
                    set_status(e, t.target(), now);
                }
                if let Some(n) = &note {
                    e.notes.push(Note {
                        id: note_id.clone(),
                        timestamp: now,
                        category: t.note_category(),
                        content: n.clone(),
                        files: Vec::new(),
                        code_changes: None,
                        extra: Extra::new(),
                    });
                }
                if changes || note.is_some() {
                    e.updated_at = now;
                }
                Ok(())
            })
            .await?;
        let from = from.unwrap_or(entry.status);
        Ok(TransitionOutcome {
            changed: from != entry.status,
            from,
            noted: note.is_some(),
            entry,
        })
    }

    /// The short "today" view (`devlog` with no command): work in progress and blocked work,
    /// most recently updated first, then what else changed in the last day. Each section holds
    /// at most `limit` entries and says how many there are in all.
    pub async fn today(&self, limit: usize) -> Result<Today> {
        let section = |status: Status| ListQuery {
            filter: Filter {
                status: vec![status],
                ..Filter::default()
            },
            sort: SortKey::Updated,
            ascending: false,
            offset: 0,
            limit,
        };
        let in_progress = self.store.list(&section(Status::InProgress)).await?;
        let blocked = self.store.list(&section(Status::Blocked)).await?;
        let since = crate::time::Timestamp::from_datetime(
            self.clock.now().as_datetime() - chrono::Duration::hours(TODAY_RECENT_HOURS),
        );
        // The other statuses changed since then (in progress and blocked are shown above).
        let recent = self
            .store
            .list(&ListQuery {
                filter: Filter {
                    status: Status::ALL
                        .iter()
                        .copied()
                        .filter(|s| !matches!(s, Status::InProgress | Status::Blocked))
                        .collect(),
                    updated_after: Some(since),
                    ..Filter::default()
                },
                sort: SortKey::Updated,
                ascending: false,
                offset: 0,
                limit,
            })
            .await?;
        let due_soon = self.due_soon(crate::planning::DUE_SOON_DAYS, limit).await?;
        Ok(Today {
            in_progress,
            blocked,
            due_soon,
            recent,
            since,
        })
    }

    /// Updates the AI context (summary, insights, questions, patterns, next steps).
    pub async fn update_ai_context(
        &self,
        id: EntryId,
        u: AiUpdate,
        meta: &WriteMeta,
    ) -> Result<Entry> {
        u.validate()?;
        let now = self.clock.now();
        self.store
            .update(id, meta, &mut |e: &mut Entry| {
                apply_ai(&mut e.ai_context, &u, now);
                e.updated_at = now;
                Ok(())
            })
            .await
    }

    /// The change feed after `after` (at most `limit` events), refusing a cursor no event can
    /// have ([`check_seq`]) rather than letting a backend wrap it.
    pub async fn events(&self, after: u64, limit: usize) -> Result<Vec<crate::event::Event>> {
        self.store.events(check_seq("since", after)?, limit).await
    }

    /// The open work an assistant should know about: highest priority, most recently
    /// touched first.
    pub async fn active_context(&self, limit: usize) -> Result<Vec<Entry>> {
        let page = self
            .store
            .list(&ListQuery {
                filter: Filter {
                    open_only: true,
                    ..Filter::default()
                },
                sort: SortKey::Priority,
                ascending: false,
                offset: 0,
                limit,
            })
            .await?;
        let mut out = Vec::with_capacity(page.items.len());
        for s in page.items {
            out.push(self.store.get(s.id).await?);
        }
        Ok(out)
    }
}

/// Keeps the candidates that satisfy `exact` if there are any, otherwise all of them.
fn prefer(found: Vec<EntrySummary>, exact: impl Fn(&EntrySummary) -> bool) -> Vec<EntrySummary> {
    if found.iter().any(&exact) {
        found.into_iter().filter(|e| exact(e)).collect()
    } else {
        found
    }
}

fn check_title(title: &str) -> Result<String> {
    let t = title.trim();
    if t.is_empty() {
        return Err(StoreError::invalid("title", "must not be empty"));
    }
    if t.chars().count() > MAX_TITLE {
        return Err(StoreError::invalid(
            "title",
            format!("longer than {MAX_TITLE} characters; put the details in --description"),
        ));
    }
    if t.contains('\n') {
        return Err(StoreError::invalid(
            "title",
            "must be one line; put the rest in --description",
        ));
    }
    Ok(t.to_string())
}

fn dedup(v: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(v.len());
    for s in v {
        let s = s.trim().to_string();
        if !s.is_empty() && !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

/// Sets the status and keeps `closedAt` consistent with it.
pub fn set_status(e: &mut Entry, status: Status, now: crate::time::Timestamp) {
    if e.status == status {
        return;
    }
    e.status = status;
    if status.is_closed() {
        e.closed_at = Some(now);
    } else {
        e.closed_at = None;
    }
}

fn apply_edit(e: &mut Entry, edit: &Edit, now: crate::time::Timestamp) {
    if let Some(t) = &edit.title {
        e.title = t.trim().to_string();
    }
    if let Some(k) = edit.kind {
        e.kind = k;
    }
    if let Some(s) = edit.status {
        set_status(e, s, now);
    }
    if let Some(p) = edit.priority {
        e.priority = p;
    }
    if let Some(d) = &edit.description {
        e.description = d.clone();
    }
    if let Some(a) = &edit.assignee {
        e.assignee = Some(a.trim().to_string()).filter(|a| !a.is_empty());
    }
    if let Some(b) = &edit.business_context {
        e.context.business_context = b.clone();
    }
    if let Some(t) = &edit.technical_context {
        e.context.technical_context = t.clone();
    }
    if let Some(c) = &edit.acceptance_criteria {
        e.context.acceptance_criteria = c.clone();
    }
    for c in &edit.add_criteria {
        if !e.context.acceptance_criteria.contains(c) {
            e.context.acceptance_criteria.push(c.clone());
        }
    }
    for t in &edit.add_tags {
        let t = t.trim();
        if !t.is_empty() && !e.tags.iter().any(|x| x == t) {
            e.tags.push(t.to_string());
        }
    }
    e.tags.retain(|t| !edit.remove_tags.contains(t));
    for f in &edit.add_files {
        if !e.files.contains(f) {
            e.files.push(f.clone());
        }
    }
    if let Some(h) = edit.estimated_hours {
        e.estimated_hours = Some(h);
    }
    if let Some(h) = edit.actual_hours {
        e.actual_hours = Some(h);
    }
    if let Some(p) = edit.points {
        e.points = Some(p);
    }
    e.updated_at = now;
}

fn apply_ai(ai: &mut AiContext, u: &AiUpdate, now: crate::time::Timestamp) {
    if let Some(s) = &u.summary {
        ai.current_summary = s.clone();
    }
    append_unique(&mut ai.key_insights, &u.insights);
    append_unique(&mut ai.open_questions, &u.questions);
    append_unique(&mut ai.related_patterns, &u.patterns);
    if u.replace_next_steps {
        ai.suggested_next_steps = u.next_steps.clone();
    } else {
        append_unique(&mut ai.suggested_next_steps, &u.next_steps);
    }
    ai.last_ai_update = Some(now);
    ai.context_version += 1;
}

fn append_unique(to: &mut Vec<String>, items: &[String]) {
    for i in items {
        if !i.trim().is_empty() && !to.contains(i) {
            to.push(i.clone());
        }
    }
}

/// One open entry as the active context presents it (CLI `devlog context`, MCP
/// `get_active_context`): what an assistant needs to pick the work up.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActiveItem {
    pub id: String,
    pub handle: u64,
    pub key: String,
    pub title: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub status: String,
    pub priority: String,
    pub updated_at: String,
    /// The AI summary, or else the description's first line.
    pub summary: String,
    /// The last two notes, one line each, with their category.
    pub recent_notes: Vec<String>,
    pub next_steps: Vec<String>,
    pub open_questions: Vec<String>,
}

impl ActiveItem {
    pub fn of(e: &Entry) -> Self {
        let from = e.notes.len().saturating_sub(2);
        Self {
            id: e.id.to_string(),
            handle: e.handle,
            key: e.key.clone(),
            title: e.title.clone(),
            kind: e.kind.to_string(),
            status: e.status.to_string(),
            priority: e.priority.to_string(),
            updated_at: e.updated_at.to_string(),
            summary: if e.ai_context.current_summary.trim().is_empty() {
                first_line(&e.description, 200)
            } else {
                e.ai_context.current_summary.clone()
            },
            recent_notes: e.notes[from..]
                .iter()
                .map(|n| format!("[{}] {}", n.category, first_line(&n.content, 200)))
                .collect(),
            next_steps: e.ai_context.suggested_next_steps.clone(),
            open_questions: e.ai_context.open_questions.clone(),
        }
    }
}

/// The first non-blank line of `s`, trimmed, cut to `max` characters with an ellipsis.
pub fn first_line(s: &str, max: usize) -> String {
    let line = s
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim();
    if line.chars().count() <= max {
        line.to_string()
    } else {
        let mut t: String = line.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

#[cfg(test)]
mod limits_tests {
    use async_trait::async_trait;

    use super::*;
    use crate::event::{Event, Origin};
    use crate::id::EntryRef;
    use crate::store::{Page, PutOutcome, SearchHit, Stats, StoreInfo};

    /// A store that must not be reached: the use cases refuse bad input before any I/O.
    #[derive(Debug)]
    struct Unreachable;

    fn reached<T>() -> Result<T> {
        Err(StoreError::Backend {
            backend: "test",
            message: "the store was reached".into(),
            transient: false,
        })
    }

    #[async_trait]
    impl Store for Unreachable {
        fn describe(&self) -> StoreInfo {
            StoreInfo {
                backend: "test",
                location: String::new(),
            }
        }
        async fn create(&self, _: Entry, _: bool, _: &WriteMeta) -> Result<Created> {
            reached()
        }
        async fn get(&self, _: EntryId) -> Result<Entry> {
            reached()
        }
        async fn lookup(&self, _: &EntryRef) -> Result<Vec<EntrySummary>> {
            reached()
        }
        async fn update(
            &self,
            _: EntryId,
            _: &WriteMeta,
            _: &mut crate::store::Mutation<'_>,
        ) -> Result<Entry> {
            reached()
        }
        async fn delete(&self, _: EntryId, _: &WriteMeta) -> Result<()> {
            reached()
        }
        async fn list(&self, _: &ListQuery) -> Result<Page<EntrySummary>> {
            reached()
        }
        async fn search(&self, _: &SearchQuery) -> Result<Page<SearchHit>> {
            reached()
        }
        async fn stats(&self, _: &Filter) -> Result<Stats> {
            reached()
        }
        async fn events(&self, _: u64, _: usize) -> Result<Vec<Event>> {
            reached()
        }
        async fn events_before(&self, _: Option<u64>, _: usize) -> Result<Vec<Event>> {
            reached()
        }
        async fn entry_events(
            &self,
            _: EntryId,
            _: u64,
            _: Option<u64>,
            _: usize,
        ) -> Result<Vec<Event>> {
            reached()
        }
        async fn count_events(&self, _: u64, _: Option<u64>) -> Result<u64> {
            reached()
        }
        async fn feed_id(&self) -> Result<Option<String>> {
            reached()
        }
        async fn put_raw(&self, _: Entry, _: &WriteMeta) -> Result<PutOutcome> {
            reached()
        }
        async fn append_events(&self, _: &[Event]) -> Result<()> {
            reached()
        }
        async fn count(&self) -> Result<u64> {
            reached()
        }
        async fn all(&self) -> Result<Vec<Entry>> {
            reached()
        }
        async fn warnings(&self) -> Result<Vec<String>> {
            reached()
        }
    }

    fn app() -> Devlog {
        Devlog::new(Arc::new(Unreachable))
    }

    fn meta() -> WriteMeta {
        WriteMeta::new(Origin::Cli)
    }

    fn invalid(r: Result<impl std::fmt::Debug>, field: &str) -> String {
        match r {
            Err(StoreError::Invalid { field: f, message }) if f == field => message,
            other => panic!("expected invalid {field}, got {other:?}"),
        }
    }

    fn note(content: String) -> NewNote {
        NewNote {
            content,
            category: NoteCategory::Progress,
            files: Vec::new(),
            code_changes: None,
        }
    }

    #[tokio::test]
    async fn a_note_larger_than_max_text_is_refused_before_the_store() {
        let big = "x".repeat(MAX_TEXT + 1);
        let id = EntryId::new_random();
        let msg = invalid(app().add_note(id, note(big.clone()), &meta()).await, "note");
        assert!(
            msg.contains("1 MiB") && msg.contains("1048577 bytes"),
            "{msg}"
        );
        invalid(
            app()
                .edit_with_note(id, Edit::default(), note(big.clone()), &meta())
                .await,
            "note",
        );
        invalid(
            app().complete(id, Some(big.clone()), &meta()).await,
            "summary",
        );
        let edit = Edit {
            description: Some(big.clone()),
            ..Edit::default()
        };
        invalid(app().edit(id, edit, &meta()).await, "description");
        let entry = NewEntry {
            title: "t".into(),
            kind: Some(EntryType::Task),
            technical_context: big,
            ..NewEntry::default()
        };
        invalid(app().create(entry, &meta()).await, "technicalContext");
        // Exactly at the limit passes validation and reaches the store.
        let at_limit = app()
            .add_note(id, note("x".repeat(MAX_TEXT)), &meta())
            .await
            .unwrap_err();
        assert!(at_limit.to_string().contains("reached"), "{at_limit}");
    }

    #[tokio::test]
    async fn lists_longer_than_max_items_are_refused() {
        let entry = NewEntry {
            title: "t".into(),
            kind: Some(EntryType::Task),
            tags: vec!["a".into(); MAX_ITEMS + 1],
            ..NewEntry::default()
        };
        let msg = invalid(app().create(entry, &meta()).await, "tags");
        assert!(msg.contains("1001 items"), "{msg}");
    }

    #[tokio::test]
    async fn hours_that_are_not_finite_or_negative_are_refused() {
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -1.0] {
            let entry = NewEntry {
                title: "t".into(),
                kind: Some(EntryType::Task),
                estimated_hours: Some(bad),
                ..NewEntry::default()
            };
            let msg = invalid(app().create(entry, &meta()).await, "estimatedHours");
            assert!(msg.contains("finite number of hours"), "{msg}");
            let edit = Edit {
                actual_hours: Some(bad),
                ..Edit::default()
            };
            invalid(
                app().edit(EntryId::new_random(), edit, &meta()).await,
                "actualHours",
            );
        }
        assert!(check_hours("estimatedHours", Some(0.0)).is_ok());
        assert!(check_hours("estimatedHours", Some(2.5)).is_ok());
    }

    #[tokio::test]
    async fn a_feed_cursor_beyond_i64_is_refused_instead_of_wrapping() {
        for bad in [MAX_SEQ + 1, u64::MAX] {
            let msg = invalid(app().events(bad, 10).await, "since");
            assert!(msg.contains("largest sequence number"), "{msg}");
        }
        let ok = app().events(MAX_SEQ, 10).await.unwrap_err();
        assert!(ok.to_string().contains("reached"), "{ok}");
    }
}
