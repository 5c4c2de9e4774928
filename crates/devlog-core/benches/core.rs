//! Micro-benchmarks of devlog-core's hot paths: an entry file decoded and encoded (every read
//! and write of the JSON store, every index refresh) and the three-way merge of a pull.
//!
//! ```text
//! cargo bench -p devlog-core --bench core
//! ```

use devlog_core::codec::{decode_entry, encode_entry};
use devlog_core::entry::{
    AiContext, Context, Entry, EntryType, Extra, Note, NoteCategory, Priority, Status,
};
use devlog_core::id::{EntryId, slugify};
use devlog_core::merge::{Policy, Strategy, SyncedFields, merge};
use devlog_core::time::Timestamp;
use divan::{Bencher, black_box};

fn main() {
    divan::main();
}

fn at(minutes: i64) -> Timestamp {
    Timestamp::from_millis(1_735_689_600_000 + minutes * 60_000).expect("in range")
}

/// An entry of the size the bench stores hold: four paragraphs, a few notes, contexts.
fn entry(notes: usize) -> Entry {
    let sentence = "The service returns a timeout when users request large pages because \
                    the index is missing; we should batch writes and measure latency.";
    let title = "Fix the billing webhook retries (1234)";
    Entry {
        id: EntryId::new_random(),
        handle: 1234,
        key: slugify(title),
        legacy_id: None,
        title: title.to_string(),
        kind: EntryType::Bugfix,
        description: [sentence; 4].join(" "),
        status: Status::InProgress,
        priority: Priority::High,
        created_at: at(0),
        updated_at: at(90),
        closed_at: None,
        assignee: Some("ana".into()),
        tags: vec!["api".into(), "perf".into()],
        estimated_hours: Some(3.5),
        actual_hours: None,
        due_date: None,
        points: None,
        milestone: None,
        worklogs: Vec::new(),
        notes: (0..notes)
            .map(|n| Note {
                id: format!("note-{n}"),
                timestamp: at(n as i64),
                category: NoteCategory::Progress,
                content: [sentence; 3].join(" "),
                files: vec![format!("src/module_{n}.rs")],
                code_changes: None,
                extra: Extra::new(),
            })
            .collect(),
        files: vec!["src/billing/webhook.rs".into()],
        related_devlogs: Vec::new(),
        context: Context {
            business_context: sentence.into(),
            technical_context: sentence.into(),
            acceptance_criteria: vec!["Retries stop after 5 attempts".into()],
            ..Context::default()
        },
        ai_context: AiContext {
            current_summary: sentence.into(),
            ..AiContext::default()
        },
        external_references: Vec::new(),
        deployments: Vec::new(),
        extra: Extra::new(),
    }
}

#[divan::bench(args = [0, 4, 32])]
fn decode(bencher: Bencher, notes: usize) {
    let bytes = encode_entry(&entry(notes));
    bencher
        .counter(divan::counter::BytesCount::of_slice(&bytes))
        .bench_local(|| decode_entry(black_box(&bytes), "bench.json").expect("decodes"));
}

#[divan::bench(args = [0, 4, 32])]
fn encode(bencher: Bencher, notes: usize) {
    let e = entry(notes);
    bencher.bench_local(|| encode_entry(black_box(&e)));
}

/// Both sides changed different fields, and both changed the description: the common pull.
#[divan::bench(args = [Strategy::Manual, Strategy::NewestWins])]
fn merge_three_way(bencher: Bencher, strategy: Strategy) {
    let e = entry(0);
    let base = SyncedFields::from_entry(&e);
    let mut local = base.clone();
    local.title.push_str(" (local)");
    local.description.push_str(" Edited here.");
    let mut remote = base.clone();
    remote.status = Status::InReview;
    remote.tags.push("ui".into());
    remote.description.push_str(" Edited there.");
    bencher.bench_local(|| {
        merge(
            black_box(Some(&base)),
            black_box(&local),
            black_box(&remote),
            Policy::strategy(strategy),
            at(10),
            at(20),
        )
    });
}

/// The first sync of an entry linked to an existing item: no base, every difference conflicts.
#[divan::bench]
fn merge_without_base(bencher: Bencher) {
    let e = entry(0);
    let local = SyncedFields::from_entry(&e);
    let mut remote = local.clone();
    remote.title = "Another title".into();
    remote.priority = Priority::Low;
    bencher.bench_local(|| {
        merge(
            None,
            black_box(&local),
            black_box(&remote),
            Policy::strategy(Strategy::Manual),
            at(10),
            at(20),
        )
    });
}
