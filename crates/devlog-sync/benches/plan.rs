//! Micro-benchmark of the push planner (`plan::decide`): the pure step every push and
//! `devlog sync --plan` run over the entries a batch of change-feed events names.
//!
//! ```text
//! cargo bench -p devlog-sync --bench plan
//! ```

use devlog_core::entry::{Priority, Status};
use devlog_core::id::EntryId;
use devlog_core::merge::{FieldSet, SyncedFields};
use devlog_sync::plan::{
    EntrySnapshot, LinkSnapshot, LinkState, NoteLinkSnapshot, NoteLinkState, NoteSnapshot,
    Snapshot, decide,
};
use divan::{Bencher, black_box};

fn main() {
    divan::main();
}

fn fields(i: usize) -> SyncedFields {
    SyncedFields {
        title: format!("Fix the billing webhook retries ({i})"),
        description: "The service returns a timeout when users request large pages.".repeat(4),
        status: Status::InProgress,
        priority: Priority::High,
        kind: devlog_core::entry::EntryType::Bugfix,
        assignee: Some("ana".into()),
        tags: vec!["api".into(), "perf".into()],
        milestone: Some("v1.4".into()),
        estimated_hours: None,
        actual_hours: None,
        acceptance_criteria: None,
        due_date: None,
        points: None,
    }
}

/// `n` entries in the mixes a real push sees: a quarter unlinked (to create), a quarter in
/// step, a quarter with changed fields, a quarter with new and edited notes.
fn snapshot(n: usize) -> Snapshot {
    let entries = (0..n)
        .map(|i| {
            let now = fields(i);
            let mut base = now.clone();
            if i % 4 == 2 {
                base.status = Status::New;
                base.description.push_str(" Before.");
            }
            let notes: Vec<NoteSnapshot> = (0..6)
                .map(|k| NoteSnapshot {
                    id: format!("{i}-{k}"),
                    hash: format!("hash-{k}"),
                })
                .collect();
            let note_links = notes
                .iter()
                .take(if i % 4 == 3 { 4 } else { 6 })
                .map(|n| NoteLinkSnapshot {
                    note_id: n.id.clone(),
                    state: NoteLinkState::Linked,
                    hash: Some(if i % 4 == 3 {
                        "older".into()
                    } else {
                        n.hash.clone()
                    }),
                })
                .collect();
            EntrySnapshot {
                id: EntryId::from_legacy(i as u64 + 1, "2025-01-01T00:00:00.000Z"),
                handle: i as u64 + 1,
                title: now.title.clone(),
                fields: Some(now),
                notes,
                link: (i % 4 != 0).then(|| LinkSnapshot {
                    state: LinkState::Linked,
                    remote_id: Some(format!("{}", 1000 + i)),
                    base: Some(base),
                }),
                held: FieldSet::EMPTY,
                note_links,
                worklogs: Vec::new(),
                worklog_links: Vec::new(),
            }
        })
        .collect();
    Snapshot {
        syncs_notes: true,
        syncs_worklogs: false,
        entries,
    }
}

#[divan::bench(args = [1, 100, 1000])]
fn decide_push(bencher: Bencher, entries: usize) {
    let s = snapshot(entries);
    bencher
        .counter(divan::counter::ItemsCount::new(entries))
        .bench_local(|| decide(black_box(&s)));
}
