//! Which entries a release ships, and in which order its notes list them — pure, and
//! independent of where the notes go (the GitHub integration renders and publishes them).
//!
//! The caller passes the entries mentioned by the commits of the release and the window of
//! time between the two tagged commits (docs/release-notes.md); nothing here knows git.

use std::collections::HashSet;

use crate::entry::{Entry, EntryType, Status};
use crate::id::EntryId;
use crate::time::Timestamp;

/// The groups of the notes, in the order they are printed. Every [`EntryType`] has one
/// (a unit test checks it), so no entry is ever dropped from the notes.
pub const GROUP_ORDER: &[EntryType] = &[
    EntryType::Feature,
    EntryType::Bugfix,
    EntryType::Refactor,
    EntryType::Docs,
    EntryType::Task,
];

/// The heading of a type's group.
pub fn heading(t: EntryType) -> &'static str {
    // Exhaustive on purpose: a new entry type does not compile until it has a heading.
    match t {
        EntryType::Feature => "Features",
        EntryType::Bugfix => "Bug fixes",
        EntryType::Refactor => "Refactoring",
        EntryType::Docs => "Docs",
        EntryType::Task => "Tasks",
    }
}

/// The position of a type's group in [`GROUP_ORDER`].
pub fn group_rank(t: EntryType) -> usize {
    GROUP_ORDER
        .iter()
        .position(|g| *g == t)
        .unwrap_or(GROUP_ORDER.len())
}

/// The time between two releases, as the committer dates of their commits (whole seconds,
/// which is what git records). An entry closed in the same second as the previous release's
/// commit belongs to that release, so consecutive windows never overlap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// The previous release's commit time (seconds since the epoch); `None`: from the start.
    pub after: Option<i64>,
    /// This release's commit time (seconds since the epoch), inclusive.
    pub until: i64,
}

impl Window {
    pub fn contains(&self, t: Timestamp) -> bool {
        let s = t.millis().div_euclid(1000);
        self.after.is_none_or(|a| s > a) && s <= self.until
    }
}

/// The entries of a release: what it ships, and (for `--include-open`) the entries its
/// commits mention that are not done.
#[derive(Debug, Clone, Default)]
pub struct Selection<'a> {
    pub shipped: Vec<&'a Entry>,
    pub not_completed: Vec<&'a Entry>,
}

/// Chooses the entries of a release: done entries that a commit of the release mentions or
/// that were closed inside `window`. Mentioned entries that are not done (still open, or
/// closed without being done) go to `not_completed`.
pub fn select<'a>(
    entries: &'a [Entry],
    mentioned: &HashSet<EntryId>,
    window: &Window,
) -> Selection<'a> {
    let mut s = Selection::default();
    for e in entries {
        let is_mentioned = mentioned.contains(&e.id);
        if e.status == Status::Done {
            if is_mentioned || e.closed_at.is_some_and(|t| window.contains(t)) {
                s.shipped.push(e);
            }
        } else if is_mentioned {
            s.not_completed.push(e);
        }
    }
    s
}

/// The shipped entries of one type, in the order the notes list them.
#[derive(Debug, Clone, PartialEq)]
pub struct EntryGroup<'a> {
    pub kind: EntryType,
    pub entries: Vec<&'a Entry>,
}

/// Groups shipped entries by type in [`GROUP_ORDER`] (empty groups left out), each group
/// ordered by closing time, then handle; an entry listed twice appears once. Entries without
/// a closing time (hand-edited files) sort last in their group. The input order does not
/// matter.
pub fn group<'a>(shipped: &[&'a Entry]) -> Vec<EntryGroup<'a>> {
    let mut items = distinct(shipped);
    items.sort_by_key(|e| {
        (
            group_rank(e.kind),
            e.closed_at.is_none(),
            e.closed_at,
            e.handle,
            e.id,
        )
    });
    let mut groups: Vec<EntryGroup<'a>> = Vec::new();
    for e in items {
        match groups.last_mut() {
            Some(g) if g.kind == e.kind => g.entries.push(e),
            _ => groups.push(EntryGroup {
                kind: e.kind,
                entries: vec![e],
            }),
        }
    }
    groups
}

/// The entries not completed, by handle, each once.
pub fn by_handle<'a>(entries: &[&'a Entry]) -> Vec<&'a Entry> {
    let mut out = distinct(entries);
    out.sort_by_key(|e| (e.handle, e.id));
    out
}

fn distinct<'a>(entries: &[&'a Entry]) -> Vec<&'a Entry> {
    let mut seen: HashSet<EntryId> = HashSet::new();
    entries
        .iter()
        .copied()
        .filter(|e| seen.insert(e.id))
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a panic is the failure report

    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn entry(handle: u64, kind: EntryType, closed: Option<&str>) -> Entry {
        let created = ts("2025-01-01T00:00:00.000Z");
        let v = serde_json::json!({
            "id": EntryId::new_random(),
            "handle": handle,
            "key": format!("e{handle}"),
            "title": format!("entry {handle}"),
            "type": kind,
            "status": if closed.is_some() { "done" } else { "in-progress" },
            "createdAt": created,
            "updatedAt": created,
        });
        let mut e: Entry = serde_json::from_value(v).unwrap();
        e.closed_at = closed.map(ts);
        e
    }

    #[test]
    fn every_entry_type_has_a_group() {
        for t in EntryType::ALL {
            assert!(GROUP_ORDER.contains(t), "{t} has no group");
        }
        assert_eq!(GROUP_ORDER.len(), EntryType::ALL.len());
    }

    #[test]
    fn groups_follow_the_group_order_then_closing_time_then_handle() {
        let a = entry(4, EntryType::Bugfix, Some("2025-02-03T00:00:00.000Z"));
        let b = entry(7, EntryType::Feature, Some("2025-02-02T00:00:00.000Z"));
        let c = entry(9, EntryType::Feature, Some("2025-02-01T00:00:00.000Z"));
        let d = entry(1, EntryType::Task, Some("2025-02-01T00:00:00.000Z"));
        let mut unclosed = entry(2, EntryType::Feature, Some("2025-01-01T00:00:00.000Z"));
        unclosed.closed_at = None;
        let same_time = entry(8, EntryType::Feature, Some("2025-02-01T00:00:00.000Z"));
        let shipped = [&d, &a, &unclosed, &b, &c, &same_time, &a];
        let g = group(&shipped);
        let view: Vec<(EntryType, Vec<u64>)> = g
            .iter()
            .map(|g| (g.kind, g.entries.iter().map(|e| e.handle).collect()))
            .collect();
        assert_eq!(
            view,
            [
                (EntryType::Feature, vec![8, 9, 7, 2]),
                (EntryType::Bugfix, vec![4]),
                (EntryType::Task, vec![1]),
            ]
        );
        let reversed: Vec<&Entry> = shipped.iter().rev().copied().collect();
        assert_eq!(group(&reversed), g);
        assert!(group(&[]).is_empty());
        let handles: Vec<u64> = by_handle(&[&c, &a, &c, &d])
            .iter()
            .map(|e| e.handle)
            .collect();
        assert_eq!(handles, [1, 4, 9]);
    }

    #[test]
    fn selection_takes_done_entries_mentioned_or_closed_in_the_window() {
        // Commit times of v1.0 and v1.1.
        let after = ts("2025-02-01T00:00:00.000Z").millis() / 1000;
        let until = ts("2025-03-01T00:00:00.000Z").millis() / 1000;
        let window = Window {
            after: Some(after),
            until,
        };
        let task = EntryType::Task;
        let mut cancelled = entry(8, task, Some("2025-02-10T00:00:00.000Z"));
        cancelled.status = Status::Closed;
        let mut cancelled_mentioned = entry(9, task, Some("2025-02-10T00:00:00.000Z"));
        cancelled_mentioned.status = Status::Closed;
        let all = vec![
            entry(1, task, Some("2025-02-10T00:00:00.000Z")),
            // The same second as v1.0's commit: v1.0 shipped it.
            entry(2, task, Some("2025-02-01T00:00:00.900Z")),
            // The same second as v1.1's commit: part of v1.1.
            entry(3, task, Some("2025-03-01T00:00:00.900Z")),
            entry(4, task, Some("2025-03-02T00:00:00.000Z")),
            entry(5, task, Some("2025-03-02T00:00:00.000Z")),
            entry(6, task, None),
            entry(7, task, None),
            cancelled,
            cancelled_mentioned,
        ];
        let mentioned: HashSet<EntryId> = [all[4].id, all[5].id, all[8].id].into();
        let s = select(&all, &mentioned, &window);
        let handles = |v: &[&Entry]| v.iter().map(|e| e.handle).collect::<Vec<_>>();
        assert_eq!(handles(&s.shipped), [1, 3, 5]);
        assert_eq!(handles(&s.not_completed), [6, 9]);
        // From the first commit: no lower bound.
        let s = select(&all, &HashSet::new(), &Window { after: None, until });
        assert_eq!(handles(&s.shipped), [1, 2, 3]);
    }
}
