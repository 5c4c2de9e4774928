//! Test kit: entry builders, the `Store` conformance suite that every backend must pass, the
//! `Integration` conformance suite every integration must pass, and the fake remotes.
//!
//! A backend's test file calls [`store_conformance!`] with a function that opens its store at
//! a given folder; the macro expands to one `#[tokio::test]` per case, so a failure names the
//! case and the backend.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

pub mod conformance;
pub mod fake_ado;
pub mod fake_github;
pub mod fake_github_graphql;
pub mod fake_jira;
pub mod fake_remote;
pub mod git_repo;
pub mod integration_conformance;
pub mod openapi;
pub mod sync_state_conformance;
pub mod tracker;

use devlog_core::entry::{
    AiContext, Context, Entry, EntryType, Extra, Note, NoteCategory, Priority, Status,
};
use devlog_core::id::{EntryId, slugify};
use devlog_core::time::Timestamp;

/// Builds entries with explicit values, for tests that need control over every field.
#[derive(Debug, Clone)]
pub struct EntryBuilder {
    entry: Entry,
}

/// `2025-01-01T00:00:00Z` plus `minutes`.
pub fn ts(minutes: i64) -> Timestamp {
    Timestamp::from_millis(1_735_689_600_000 + minutes * 60_000).expect("in range")
}

impl EntryBuilder {
    pub fn new(title: &str) -> Self {
        Self {
            entry: Entry {
                id: EntryId::new_random(),
                handle: 0,
                key: slugify(title),
                legacy_id: None,
                title: title.to_string(),
                kind: EntryType::Task,
                description: String::new(),
                status: Status::New,
                priority: Priority::Medium,
                created_at: ts(0),
                updated_at: ts(0),
                closed_at: None,
                assignee: None,
                tags: Vec::new(),
                estimated_hours: None,
                actual_hours: None,
                due_date: None,
                points: None,
                milestone: None,
                worklogs: Vec::new(),
                notes: Vec::new(),
                files: Vec::new(),
                related_devlogs: Vec::new(),
                context: Context::default(),
                ai_context: AiContext::default(),
                external_references: Vec::new(),
                deployments: Vec::new(),
                extra: Extra::new(),
            },
        }
    }

    /// Due on `date` (`YYYY-MM-DD`).
    pub fn due(mut self, date: &str) -> Self {
        self.entry.due_date = Some(date.parse().expect("a YYYY-MM-DD date"));
        self
    }
    pub fn milestone(mut self, name: &str) -> Self {
        self.entry.milestone = Some(name.to_string());
        self
    }
    pub fn handle(mut self, h: u64) -> Self {
        self.entry.handle = h;
        self
    }
    pub fn legacy(mut self, id: u64) -> Self {
        self.entry.legacy_id = Some(id);
        self
    }
    pub fn kind(mut self, k: EntryType) -> Self {
        self.entry.kind = k;
        self
    }
    pub fn status(mut self, s: Status) -> Self {
        self.entry.status = s;
        if s.is_closed() {
            self.entry.closed_at = Some(self.entry.updated_at);
        }
        self
    }
    pub fn priority(mut self, p: Priority) -> Self {
        self.entry.priority = p;
        self
    }
    pub fn description(mut self, d: &str) -> Self {
        self.entry.description = d.to_string();
        self
    }
    pub fn assignee(mut self, a: &str) -> Self {
        self.entry.assignee = Some(a.to_string());
        self
    }
    pub fn tag(mut self, t: &str) -> Self {
        self.entry.tags.push(t.to_string());
        self
    }
    /// Creation at `created` minutes, last update at `updated` minutes after the epoch of [`ts`].
    pub fn times(mut self, created: i64, updated: i64) -> Self {
        self.entry.created_at = ts(created);
        self.entry.updated_at = ts(updated);
        if self.entry.status.is_closed() {
            self.entry.closed_at = Some(ts(updated));
        }
        self
    }
    pub fn note(mut self, category: NoteCategory, content: &str) -> Self {
        self.entry.notes.push(Note {
            id: format!("note-{}", self.entry.notes.len() + 1),
            timestamp: self.entry.updated_at,
            category,
            content: content.to_string(),
            files: Vec::new(),
            code_changes: None,
            extra: Extra::new(),
        });
        self
    }
    pub fn business(mut self, text: &str) -> Self {
        self.entry.context.business_context = text.to_string();
        self
    }
    pub fn extra(mut self, key: &str, value: serde_json::Value) -> Self {
        self.entry.extra.insert(key.to_string(), value);
        self
    }
    pub fn build(self) -> Entry {
        self.entry
    }
}

/// A clock the test moves: what the engine, the use cases and every store read time from
/// when a test injects it (`with_clock`).
#[derive(Debug)]
pub struct ManualClock(std::sync::atomic::AtomicI64);

impl ManualClock {
    /// A clock standing at `millis` since the epoch.
    pub fn at(millis: i64) -> Self {
        Self(std::sync::atomic::AtomicI64::new(millis))
    }

    pub fn millis(&self) -> i64 {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn set(&self, millis: i64) {
        self.0.store(millis, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn advance(&self, millis: i64) {
        self.0
            .fetch_add(millis, std::sync::atomic::Ordering::SeqCst);
    }
}

impl devlog_core::time::Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_millis(self.millis())
            .expect("a test clock within the JavaScript date range")
    }
}
