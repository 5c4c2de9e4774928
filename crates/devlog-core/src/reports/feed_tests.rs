//! The reports over a generated feed with a fixed clock: exact expected numbers.

use std::collections::HashMap;

use chrono::NaiveDate;
use serde_json::Value;

use super::*;
use crate::entry::Status::{self, *};
use crate::event::{Event, EventKind, Origin};
use crate::id::EntryId;
use crate::planning::{Milestone, MilestoneState};

/// Day `d` of the window (day 0 is Monday 2026-03-02) at `h` o'clock, UTC.
fn t(d: i64, h: i64) -> Timestamp {
    let base = day_start(NaiveDate::from_ymd_opt(2026, 3, 2).unwrap()).millis();
    Timestamp::from_millis(base + (d * 24 + h) * 3_600_000).unwrap()
}

struct Gen {
    rows: Vec<Row>,
    histories: HashMap<EntryId, EntryHistory>,
    seq: u64,
}

impl Gen {
    fn new() -> Self {
        Gen {
            rows: Vec::new(),
            histories: HashMap::new(),
            seq: 0,
        }
    }

    /// An entry created at `created` (its `created` event at `feed_created`), now in `status`.
    fn entry(
        &mut self,
        handle: u64,
        created: Timestamp,
        feed_created: Timestamp,
        status: Status,
        closed: Option<Timestamp>,
        milestone: Option<&str>,
    ) -> EntryId {
        let id = EntryId::from_legacy(handle, "2026-01-01T00:00:00.000Z");
        self.rows.push(Row {
            id,
            handle,
            title: format!("entry {handle}"),
            status,
            created_at: created,
            closed_at: closed,
            milestone: milestone.map(str::to_string),
        });
        self.event(id, feed_created, EventKind::Created);
        id
    }

    fn event(&mut self, id: EntryId, at: Timestamp, kind: EventKind) {
        self.seq += 1;
        let ev = Event {
            seq: self.seq,
            entry_id: id,
            handle: 0,
            at,
            origin: Origin::Cli,
            actor: None,
            change: None,
            kind,
        };
        self.histories.entry(id).or_default().apply(&ev);
    }

    fn status(&mut self, id: EntryId, at: Timestamp, from: Status, to: Status) {
        self.event(
            id,
            at,
            EventKind::StatusChanged {
                from,
                to,
                closed_at: None,
            },
        );
    }

    fn milestone(&mut self, id: EntryId, at: Timestamp, old: Option<&str>, new: Option<&str>) {
        let v = |m: Option<&str>| m.map_or(Value::Null, Value::from);
        self.event(
            id,
            at,
            EventKind::FieldChanged {
                field: "milestone".into(),
                old: v(old),
                new: v(new),
            },
        );
    }
}

/// A: started day 1, blocked day 2, resumed day 3, done day 4 (all at 09:00).
/// B: started day 2 12:00, done day 7 12:00 (the second week); added to M1 on day 3.
/// C: imported (created 2026-01-01, its `created` event at the import on day 0), done day 3.
/// D: created day 1 in M1, moved out of it at 12:00, done on day 2 without being started.
/// E: created day 5 in M1, started at 06:00, still in progress.
/// F: created day 2, closed (not done) on day 6.
fn feed() -> Gen {
    let mut g = Gen::new();
    let a = g.entry(1, t(0, 9), t(0, 9), Done, Some(t(4, 9)), Some("M1"));
    g.status(a, t(1, 9), New, InProgress);
    g.status(a, t(2, 9), InProgress, Blocked);
    g.status(a, t(3, 9), Blocked, InProgress);
    g.status(a, t(4, 9), InProgress, Done);
    let b = g.entry(2, t(0, 12), t(0, 12), Done, Some(t(7, 12)), Some("M1"));
    g.status(b, t(2, 12), New, InProgress);
    g.milestone(b, t(3, 12), None, Some("M1"));
    g.status(b, t(7, 12), InProgress, Done);
    let jan = "2026-01-01T00:00:00.000Z".parse().unwrap();
    g.entry(3, jan, t(0, 0), Done, Some(t(3, 0)), None);
    let d = g.entry(4, t(1, 0), t(1, 0), Done, Some(t(2, 0)), None);
    g.milestone(d, t(1, 12), Some("M1"), None);
    g.status(d, t(2, 0), New, Done);
    let e = g.entry(5, t(5, 0), t(5, 0), InProgress, None, Some("M1"));
    g.status(e, t(5, 6), New, InProgress);
    let f = g.entry(6, t(2, 0), t(2, 0), Closed, Some(t(6, 0)), None);
    g.status(f, t(6, 0), New, Closed);
    g
}

#[test]
fn throughput_counts_created_done_and_closed_per_iso_week() {
    let g = feed();
    let r = throughput_of(&g.rows, t(0, 0), t(14, 0), Period::Week);
    let b: Vec<_> = r
        .buckets
        .iter()
        .map(|b| (b.label.as_str(), b.created, b.done, b.closed))
        .collect();
    assert_eq!(b, vec![("2026-W10", 5, 3, 1), ("2026-W11", 0, 1, 0)]);
    assert_eq!((r.created, r.done, r.closed), (5, 4, 1));
    assert_eq!(r.without_completion_time, 0);
    // By day: 14 buckets, B done on day 7.
    let r = throughput_of(&g.rows, t(0, 0), t(14, 0), Period::Day);
    assert_eq!(r.buckets.len(), 14);
    assert_eq!(r.buckets[7].done, 1);
    assert_eq!(r.buckets[7].label, "2026-03-09");
}

#[test]
fn lead_time_is_creation_to_done_with_median_and_p85() {
    let g = feed();
    let r = lead_time_of(&g.rows, t(0, 0), t(14, 0), Period::Week);
    // A 96h, B 168h, C 1512h (imported, but createdAt and closedAt are recorded), D 24h.
    assert_eq!(r.overall.count, 4);
    assert_eq!(r.overall.median_hours, Some(132.0));
    assert_eq!(r.overall.p85_hours, Some(1512.0));
    assert_eq!(r.overall.min_hours, Some(24.0));
    assert_eq!(r.buckets[0].stats.count, 3);
    assert_eq!(r.buckets[0].stats.median_hours, Some(96.0));
    assert_eq!(r.buckets[1].stats.median_hours, Some(168.0));
    assert_eq!(r.slowest[0].handle, 3);
    // Closed (not done) F is not lead time.
    assert!(r.slowest.iter().all(|d| d.handle != 6));
}

#[test]
fn cycle_time_needs_the_history_and_a_start() {
    let g = feed();
    let r = cycle_time_of(&g.rows, &g.histories, t(0, 0), t(14, 0), Period::Week);
    // A 72h (first in-progress day 1 09:00, not the resume on day 3), B 120h.
    assert_eq!(r.overall.count, 2);
    assert_eq!(r.overall.median_hours, Some(96.0));
    assert_eq!(r.overall.p85_hours, Some(120.0));
    assert_eq!(r.without_history, 1, "C was imported");
    assert_eq!(r.never_in_progress, 1, "D went from new to done");
    let slow: Vec<(u64, f64)> = r.slowest.iter().map(|d| (d.handle, d.hours)).collect();
    assert_eq!(slow, vec![(2, 120.0), (1, 72.0)]);
}

#[test]
fn time_in_status_sums_the_spans_up_to_now_and_leaves_imported_entries_out() {
    let g = feed();
    let r = time_in_status_of(&g.rows, &g.histories, t(0, 0), t(14, 0), t(10, 0));
    let by: HashMap<Status, &StatusTime> = r.statuses.iter().map(|s| (s.status, s)).collect();
    assert_eq!(by[&New].entries, 5);
    assert_eq!(by[&New].total_hours, 198.0);
    assert_eq!(by[&New].per_entry.median_hours, Some(24.0));
    assert_eq!(by[&New].per_entry.p85_hours, Some(96.0));
    assert_eq!(by[&InProgress].total_hours, 282.0);
    assert_eq!(by[&InProgress].per_entry.median_hours, Some(114.0));
    assert_eq!(by[&Blocked].total_hours, 24.0);
    assert_eq!(by[&Done].total_hours, 387.0);
    assert_eq!(by[&Closed].total_hours, 96.0);
    assert_eq!(by[&Testing].entries, 0);
    assert_eq!((r.with_history, r.without_history), (5, 1));
    assert_eq!(r.most_blocked.len(), 1);
    assert_eq!(
        (r.most_blocked[0].handle, r.most_blocked[0].hours),
        (1, 24.0)
    );
    // A window that starts on day 3 cuts A's blocked day to 9 hours.
    let r = time_in_status_of(&g.rows, &g.histories, t(3, 0), t(14, 0), t(10, 0));
    assert_eq!(r.most_blocked[0].hours, 9.0);
}

#[test]
fn wip_counts_the_work_in_progress_at_each_buckets_end() {
    let g = feed();
    let r = wip_of(
        &g.rows,
        &g.histories,
        t(0, 0),
        t(14, 0),
        t(10, 0),
        Period::Week,
    );
    let p: Vec<_> = r
        .points
        .iter()
        .map(|p| (p.label.as_str(), p.total, p.by_status[&InProgress]))
        .collect();
    assert_eq!(p, vec![("2026-W10", 2, 2), ("2026-W11", 1, 1)]);
    assert_eq!(
        r.points[1].at,
        Timestamp::from_millis(t(10, 0).millis() - 1).unwrap()
    );
    assert_eq!(r.without_history, 1);
    let r = wip_of(
        &g.rows,
        &g.histories,
        t(0, 0),
        t(4, 0),
        t(10, 0),
        Period::Day,
    );
    let blocked: Vec<u64> = r.points.iter().map(|p| p.by_status[&Blocked]).collect();
    assert_eq!(blocked, vec![0, 0, 1, 0]);
}

#[test]
fn a_milestone_burndown_follows_membership_and_lists_scope_changes() {
    let g = feed();
    let m = Milestone {
        key: "m1".into(),
        name: "M1".into(),
        description: String::new(),
        due_date: NaiveDate::from_ymd_opt(2026, 3, 11),
        state: MilestoneState::Open,
        created_at: t(0, 0),
        updated_at: t(0, 0),
        closed_at: None,
        extra: Default::default(),
    };
    let rows: Vec<Row> = g
        .rows
        .iter()
        .filter(|r| [1, 2, 4, 5].contains(&r.handle))
        .cloned()
        .collect();
    let b = burndown_of(&rows, &g.histories, Some(&m), t(0, 0), t(10, 0));
    let days: Vec<(u64, u64, u64, u64, u64)> = b
        .days
        .iter()
        .map(|d| (d.scope, d.done, d.remaining, d.added, d.removed))
        .collect();
    assert_eq!(
        days,
        vec![
            (1, 0, 1, 1, 0),
            (1, 0, 1, 1, 1),
            (1, 0, 1, 0, 0),
            (2, 0, 2, 1, 0),
            (2, 1, 1, 0, 0),
            (3, 1, 2, 1, 0),
            (3, 1, 2, 0, 0),
            (3, 2, 1, 0, 0),
            (3, 2, 1, 0, 0),
            (3, 2, 1, 0, 0),
        ]
    );
    let changes: Vec<(u64, ScopeChangeKind)> = b
        .scope_changes
        .iter()
        .map(|c| (c.handle, c.change))
        .collect();
    assert_eq!(
        changes,
        vec![
            (1, ScopeChangeKind::Added),
            (4, ScopeChangeKind::Added),
            (4, ScopeChangeKind::Removed),
            (2, ScopeChangeKind::Added),
            (5, ScopeChangeKind::Added),
        ]
    );
    assert_eq!(b.days[0].ideal, Some(1.0));
    assert_eq!(b.days[9].ideal, Some(0.0));
    assert_eq!(b.without_history, 0);
}

#[test]
fn a_range_burndown_counts_the_work_open_at_the_start_or_created_in_the_range() {
    let g = feed();
    // From day 3: C (imported, done day 3 00:00) and D (done day 2) are finished at the
    // start and out of scope.
    let b = burndown_of(&g.rows, &g.histories, None, t(3, 0), t(8, 0));
    let days: Vec<(u64, u64)> = b.days.iter().map(|d| (d.scope, d.done)).collect();
    // Day 3: A, B, F (C finished at 00:00 sharp, D on day 2) · day 4: A done · day 5: E
    // created · day 6: F closed · day 7: B done.
    assert_eq!(days, vec![(3, 0), (3, 1), (4, 1), (4, 2), (4, 3)]);
    assert_eq!(b.scope_change_count, 1);
    assert_eq!(b.without_history, 0, "C, imported, is out of scope");
}

#[test]
fn sync_health_reads_queue_links_and_conflicts() {
    use crate::sync_state::{Job, JobState, Link, LinkState};
    let id = EntryId::from_legacy(1, "2026-01-01T00:00:00.000Z");
    let job = |n, state, at| Job {
        id: n,
        integration: "github".into(),
        entry_id: id,
        state,
        attempts: 1,
        next_at: 0,
        last_error: (state == JobState::Dead).then(|| format!("boom {n}")),
        updated_at: at,
    };
    let jobs = [
        job(1, JobState::Pending, t(1, 0).millis()),
        job(2, JobState::Running, t(2, 0).millis()),
        job(3, JobState::Dead, t(0, 0).millis()),
        job(4, JobState::Dead, t(3, 0).millis()),
    ];
    let link = |at: Option<i64>, state| Link {
        integration: "github".into(),
        entry_id: id,
        remote_id: Some("7".into()),
        url: None,
        base: None,
        state,
        last_synced_at: at,
    };
    let links = [
        link(Some(t(4, 0).millis()), LinkState::Linked),
        link(Some(t(5, 0).millis()), LinkState::Unlinked),
        link(None, LinkState::Creating),
    ];
    let h = health_of(
        "github",
        true,
        &jobs.iter().collect::<Vec<_>>(),
        &links.iter().collect::<Vec<_>>(),
        &[],
        t(2, 0),
    );
    assert_eq!((h.queue_depth, h.running, h.dead, h.linked), (2, 1, 2, 1));
    assert_eq!(h.oldest_job_at, Some(t(1, 0)));
    assert_eq!(h.oldest_job_age_hours, Some(24.0));
    assert_eq!(h.last_success, Some(t(5, 0)));
    assert_eq!(h.last_error.as_deref(), Some("boom 4"));
}

#[test]
fn the_report_data_serializes_with_its_name_and_data() {
    let g = feed();
    let out = ReportOutput {
        title: "Throughput".into(),
        generated_at: t(10, 0),
        since: t(0, 0),
        until: t(14, 0),
        by: vec![By::Week],
        filter: Default::default(),
        notes: vec![],
        report: Report::Throughput(throughput_of(&g.rows, t(0, 0), t(14, 0), Period::Week)),
    };
    let v = serde_json::to_value(&out).unwrap();
    assert_eq!(v["report"], "throughput");
    assert_eq!(v["data"]["buckets"][0]["label"], "2026-W10");
    assert_eq!(v["by"][0], "week");
    let back: ReportOutput = serde_json::from_value(v).unwrap();
    assert_eq!(back, out);
}
