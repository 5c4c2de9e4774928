//! Generated entries for benchmarks and load tests (`devlog-bench`, the server bench,
//! `mcp_bench`): deterministic text from a small vocabulary, so every run builds the same
//! store and searches hit known shares of it. Not used by devlog itself.

use crate::entry::{
    AiContext, Context as EntryContext, Entry, EntryType, Extra, Note, NoteCategory, Priority,
    Status,
};
use crate::id::{EntryId, slugify};
use crate::time::Timestamp;

/// A tiny deterministic generator (xorshift): the same seed makes the same entries.
#[derive(Debug, Clone)]
pub struct SampleRng(pub u64);

impl SampleRng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
    pub fn pick<'a>(&mut self, items: &'a [&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

pub const VERBS: &[&str] = &[
    "Fix", "Add", "Refactor", "Document", "Migrate", "Speed up", "Remove", "Test", "Design",
    "Split",
];
pub const NOUNS: &[&str] = &[
    "login flow",
    "export to CSV",
    "kubernetes deployment",
    "billing webhook",
    "search index",
    "dashboard charts",
    "rate limiter",
    "session cookies",
    "audit log",
    "release pipeline",
    "Jira sync",
    "GitHub labels",
    "dark mode",
    "onboarding email",
    "API pagination",
    "cache invalidation",
    "SSO callback",
    "retry queue",
];
pub const WORDS: &[&str] = &[
    "the",
    "service",
    "returns",
    "timeout",
    "when",
    "users",
    "request",
    "large",
    "pages",
    "because",
    "index",
    "is",
    "missing",
    "we",
    "should",
    "batch",
    "writes",
    "and",
    "measure",
    "latency",
    "under",
    "load",
    "after",
    "deploy",
    "memory",
    "grows",
    "with",
    "history",
    "token",
    "expires",
    "early",
    "webhook",
    "signature",
    "fails",
    "on",
    "retries",
    "database",
    "migration",
    "locks",
    "table",
    "kubernetes",
    "pod",
    "restarts",
];

/// Every generated description starts with it (`sentence`): a search that hits every entry.
pub const COMMON_WORD: &str = "the";

/// A sentence of `words` vocabulary words starting with "The".
pub fn sentence(rng: &mut SampleRng, words: usize) -> String {
    let mut s: Vec<&str> = (0..words).map(|_| rng.pick(WORDS)).collect();
    s[0] = "The";
    format!("{}.", s.join(" "))
}

/// The `i`-th generated entry (handle `i + 1`): a title from a verb and a noun, four sentences
/// of description, up to seven notes, business and technical context, two criteria; status,
/// type, priority, assignee and tag drawn at random; created 50 minutes after entry `i - 1`.
pub fn sample_entry(rng: &mut SampleRng, i: usize) -> Entry {
    let title = format!("{} {} ({i})", rng.pick(VERBS), rng.pick(NOUNS));
    let created =
        Timestamp::from_millis(1_735_689_600_000 + (i as i64) * 3_000_000).expect("in range");
    let updated =
        Timestamp::from_millis(created.millis() + rng.below(20_000_000) as i64).expect("in range");
    let status = Status::ALL[rng.below(Status::ALL.len())];
    let notes = (0..rng.below(8))
        .map(|n| Note {
            id: format!("{i}-{n}"),
            timestamp: updated,
            category: NoteCategory::ALL[rng.below(NoteCategory::ALL.len())],
            content: (0..3)
                .map(|_| sentence(rng, 14))
                .collect::<Vec<_>>()
                .join(" "),
            files: vec![format!("src/module_{}.rs", rng.below(40))],
            code_changes: None,
            extra: Extra::new(),
        })
        .collect();
    Entry {
        id: EntryId::new_random(),
        handle: i as u64 + 1,
        key: slugify(&title),
        legacy_id: None,
        kind: EntryType::ALL[rng.below(EntryType::ALL.len())],
        description: (0..4)
            .map(|_| sentence(rng, 16))
            .collect::<Vec<_>>()
            .join(" "),
        status,
        priority: Priority::ALL[rng.below(Priority::ALL.len())],
        created_at: created,
        updated_at: updated,
        closed_at: status.is_closed().then_some(updated),
        assignee: ["ana", "bo", "chen", "dee"]
            .get(rng.below(6))
            .map(|s| s.to_string()),
        tags: vec![
            rng.pick(&["ui", "api", "infra", "docs", "perf"])
                .to_string(),
        ],
        estimated_hours: None,
        actual_hours: None,
        due_date: None,
        points: None,
        milestone: None,
        worklogs: Vec::new(),
        notes,
        files: Vec::new(),
        related_devlogs: Vec::new(),
        context: EntryContext {
            business_context: sentence(rng, 20),
            technical_context: sentence(rng, 20),
            acceptance_criteria: vec![sentence(rng, 8), sentence(rng, 8)],
            ..EntryContext::default()
        },
        ai_context: AiContext::default(),
        external_references: Vec::new(),
        deployments: Vec::new(),
        extra: Extra::new(),
        title,
    }
}
