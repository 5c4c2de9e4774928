//! The flow reports: throughput, lead time, cycle time, time in status and work in progress.
//! Each is a pure function over [`Row`]s (what a summary says of an entry) and, where the
//! status history matters, the entries' [`EntryHistory`]; the async wrappers read those from
//! the store.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::data::EntryHistory;
use super::index::Source;
use super::{Period, WIP_STATUSES, day_start, hours, median_p85};
use crate::entry::{EntrySummary, Status};
use crate::error::Result;
use crate::id::EntryId;
use crate::store::Filter;
use crate::time::Timestamp;

/// What the flow reports need of an entry (a summary without its tags, key and assignee).
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub id: EntryId,
    pub handle: u64,
    pub title: String,
    pub status: Status,
    pub created_at: Timestamp,
    pub closed_at: Option<Timestamp>,
    pub milestone: Option<String>,
}

impl From<&EntrySummary> for Row {
    fn from(e: &EntrySummary) -> Self {
        Row {
            id: e.id,
            handle: e.handle,
            title: e.title.clone(),
            status: e.status,
            created_at: e.created_at,
            closed_at: e.closed_at,
            milestone: e.milestone.clone(),
        }
    }
}

/// The `throughput` report: entries created and finished per bucket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Throughput {
    pub period: Period,
    pub buckets: Vec<ThroughputBucket>,
    /// Entries created in the window.
    pub created: u64,
    /// Entries that reached done in the window.
    pub done: u64,
    /// Entries closed (not done) in the window.
    pub closed: u64,
    /// Finished entries without a completion time (`closedAt`), which no bucket can hold.
    pub without_completion_time: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThroughputBucket {
    pub start: NaiveDate,
    pub label: String,
    pub created: u64,
    pub done: u64,
    pub closed: u64,
}

/// Statistics of a set of durations, in hours.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DurationStats {
    pub count: u64,
    pub mean_hours: Option<f64>,
    pub median_hours: Option<f64>,
    pub p85_hours: Option<f64>,
    pub min_hours: Option<f64>,
    pub max_hours: Option<f64>,
}

impl DurationStats {
    pub fn of(mut values: Vec<f64>) -> Self {
        let count = values.len() as u64;
        let mean = (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64);
        let (median, p85) = median_p85(&mut values);
        DurationStats {
            count,
            mean_hours: mean,
            median_hours: median,
            p85_hours: p85,
            min_hours: values.first().copied(),
            max_hours: values.last().copied(),
        }
    }
}

/// Durations of the entries finished in one bucket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DurationBucket {
    pub start: NaiveDate,
    pub label: String,
    #[serde(flatten)]
    pub stats: DurationStats,
}

/// One entry's duration (the slowest entries of a report).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EntryDuration {
    pub id: EntryId,
    pub handle: u64,
    pub title: String,
    pub hours: f64,
    pub from: Timestamp,
    pub to: Timestamp,
}

/// The `lead-time` report: creation → done, for entries done in the window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LeadTime {
    pub period: Period,
    pub overall: DurationStats,
    pub buckets: Vec<DurationBucket>,
    /// The slowest entries, slowest first (at most 10).
    pub slowest: Vec<EntryDuration>,
    /// Done entries without a completion time (`closedAt`).
    pub without_completion_time: u64,
}

/// The `cycle-time` report: first in-progress → done, for entries done in the window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CycleTime {
    pub period: Period,
    pub overall: DurationStats,
    pub buckets: Vec<DurationBucket>,
    pub slowest: Vec<EntryDuration>,
    /// Done in the window, but the feed does not hold their history from creation (imported).
    pub without_history: u64,
    /// Done in the window without ever having been in progress.
    pub never_in_progress: u64,
    /// Done entries without a completion time (`closedAt`).
    pub without_completion_time: u64,
}

/// Time spent in one status within the window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusTime {
    pub status: Status,
    /// Entries that spent time in it.
    pub entries: u64,
    pub total_hours: f64,
    /// Per entry that spent time in it.
    #[serde(flatten)]
    pub per_entry: DurationStats,
}

/// The `time-in-status` report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TimeInStatus {
    /// Every status, in the order of [`Status::ALL`].
    pub statuses: Vec<StatusTime>,
    /// The entries blocked longest in the window, longest first (at most 10).
    pub most_blocked: Vec<EntryDuration>,
    /// Entries counted (their history is in the feed).
    pub with_history: u64,
    /// Entries left out: the feed does not hold their history from creation.
    pub without_history: u64,
}

/// The `wip` report: entries in each work-in-progress status at the end of each bucket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Wip {
    pub period: Period,
    pub points: Vec<WipPoint>,
    /// Entries left out: the feed does not hold their history from creation.
    pub without_history: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WipPoint {
    pub start: NaiveDate,
    pub label: String,
    /// When the entries were counted: the bucket's end (or the window's).
    pub at: Timestamp,
    /// Per work-in-progress status (in-progress, blocked, in-review, testing).
    pub by_status: BTreeMap<Status, u64>,
    pub total: u64,
}

/// The buckets of `period` covering `since ≤ t < until`: their first days.
pub fn bucket_starts(since: Timestamp, until: Timestamp, period: Period) -> Vec<NaiveDate> {
    let mut out = Vec::new();
    let mut d = period.start_of(since.as_datetime().date_naive());
    while day_start(d) < until {
        out.push(d);
        d = period.next(d);
    }
    out
}

/// The index of the bucket holding `t` (which must lie in the window).
fn bucket_of(starts: &[NaiveDate], t: Timestamp) -> usize {
    let d = t.as_datetime().date_naive();
    starts.partition_point(|s| *s <= d).saturating_sub(1)
}

fn in_window(t: Timestamp, since: Timestamp, until: Timestamp) -> bool {
    since <= t && t < until
}

pub fn throughput_of(
    rows: &[Row],
    since: Timestamp,
    until: Timestamp,
    period: Period,
) -> Throughput {
    let starts = bucket_starts(since, until, period);
    let mut buckets: Vec<ThroughputBucket> = starts
        .iter()
        .map(|s| ThroughputBucket {
            start: *s,
            label: period.label(*s),
            created: 0,
            done: 0,
            closed: 0,
        })
        .collect();
    let (mut created, mut done, mut closed, mut without) = (0, 0, 0, 0);
    for r in rows {
        if in_window(r.created_at, since, until) {
            buckets[bucket_of(&starts, r.created_at)].created += 1;
            created += 1;
        }
        if !r.status.is_closed() {
            continue;
        }
        match r.closed_at {
            Some(t) if in_window(t, since, until) => {
                let b = &mut buckets[bucket_of(&starts, t)];
                if r.status == Status::Done {
                    b.done += 1;
                    done += 1;
                } else {
                    b.closed += 1;
                    closed += 1;
                }
            }
            Some(_) => {}
            None => without += 1,
        }
    }
    Throughput {
        period,
        buckets,
        created,
        done,
        closed,
        without_completion_time: without,
    }
}

/// Durations per bucket of their end, overall, and the slowest.
fn durations(
    items: Vec<EntryDuration>,
    since: Timestamp,
    until: Timestamp,
    period: Period,
) -> (DurationStats, Vec<DurationBucket>, Vec<EntryDuration>) {
    let starts = bucket_starts(since, until, period);
    let mut per: Vec<Vec<f64>> = vec![Vec::new(); starts.len()];
    for d in &items {
        per[bucket_of(&starts, d.to)].push(d.hours);
    }
    let buckets = starts
        .iter()
        .zip(per)
        .map(|(s, v)| DurationBucket {
            start: *s,
            label: period.label(*s),
            stats: DurationStats::of(v),
        })
        .collect();
    let overall = DurationStats::of(items.iter().map(|d| d.hours).collect());
    (overall, buckets, slowest(items))
}

/// The 10 longest, longest first (ties by handle).
fn slowest(mut items: Vec<EntryDuration>) -> Vec<EntryDuration> {
    items.sort_by(|a, b| b.hours.total_cmp(&a.hours).then(a.handle.cmp(&b.handle)));
    items.truncate(10);
    items
}

fn duration(r: &Row, from: Timestamp, to: Timestamp) -> EntryDuration {
    EntryDuration {
        id: r.id,
        handle: r.handle,
        title: r.title.clone(),
        hours: hours(from, to),
        from,
        to,
    }
}

pub fn lead_time_of(rows: &[Row], since: Timestamp, until: Timestamp, period: Period) -> LeadTime {
    let mut items = Vec::new();
    let mut without = 0;
    for r in rows.iter().filter(|r| r.status == Status::Done) {
        match r.closed_at {
            Some(t) if in_window(t, since, until) => items.push(duration(r, r.created_at, t)),
            Some(_) => {}
            None => without += 1,
        }
    }
    let (overall, buckets, slowest) = durations(items, since, until, period);
    LeadTime {
        period,
        overall,
        buckets,
        slowest,
        without_completion_time: without,
    }
}

pub fn cycle_time_of(
    rows: &[Row],
    histories: &HashMap<EntryId, EntryHistory>,
    since: Timestamp,
    until: Timestamp,
    period: Period,
) -> CycleTime {
    let empty = EntryHistory::default();
    let mut items = Vec::new();
    let (mut without_history, mut never, mut without_time) = (0, 0, 0);
    for r in rows.iter().filter(|r| r.status == Status::Done) {
        let Some(done) = r.closed_at else {
            without_time += 1;
            continue;
        };
        if !in_window(done, since, until) {
            continue;
        }
        let h = histories.get(&r.id).unwrap_or(&empty);
        if !h.complete(r.created_at) {
            without_history += 1;
            continue;
        }
        match h.first_in_progress() {
            Some(start) if start <= done => items.push(duration(r, start, done)),
            _ => never += 1,
        }
    }
    let (overall, buckets, slowest) = durations(items, since, until, period);
    CycleTime {
        period,
        overall,
        buckets,
        slowest,
        without_history,
        never_in_progress: never,
        without_completion_time: without_time,
    }
}

/// Time in each status within `since ≤ t < min(until, now)`.
pub fn time_in_status_of(
    rows: &[Row],
    histories: &HashMap<EntryId, EntryHistory>,
    since: Timestamp,
    until: Timestamp,
    now: Timestamp,
) -> TimeInStatus {
    let end = until.min(now);
    let empty = EntryHistory::default();
    let mut per: BTreeMap<Status, Vec<f64>> = BTreeMap::new();
    let mut blocked = Vec::new();
    let (mut with, mut without) = (0, 0);
    for r in rows {
        if r.created_at >= end || r.closed_at.is_some_and(|c| c < since) {
            continue;
        }
        let h = histories.get(&r.id).unwrap_or(&empty);
        if !h.complete(r.created_at) {
            without += 1;
            continue;
        }
        with += 1;
        let mut mine: BTreeMap<Status, f64> = BTreeMap::new();
        for (a, b, s) in h.spans(r.created_at, r.status, end) {
            let (a, b) = (a.max(since), b.min(end));
            if a < b {
                *mine.entry(s).or_default() += hours(a, b);
            }
        }
        if let Some(hrs) = mine.get(&Status::Blocked) {
            blocked.push(EntryDuration {
                hours: *hrs,
                ..duration(r, since.max(r.created_at), end)
            });
        }
        for (s, hrs) in mine {
            per.entry(s).or_default().push(hrs);
        }
    }
    let statuses = Status::ALL
        .iter()
        .map(|s| {
            let v = per.remove(s).unwrap_or_default();
            StatusTime {
                status: *s,
                entries: v.len() as u64,
                total_hours: v.iter().sum(),
                per_entry: DurationStats::of(v),
            }
        })
        .collect();
    TimeInStatus {
        statuses,
        most_blocked: slowest(blocked),
        with_history: with,
        without_history: without,
    }
}

pub fn wip_of(
    rows: &[Row],
    histories: &HashMap<EntryId, EntryHistory>,
    since: Timestamp,
    until: Timestamp,
    now: Timestamp,
    period: Period,
) -> Wip {
    let end = until.min(now);
    let starts = bucket_starts(since, until, period);
    let mut points: Vec<WipPoint> = starts
        .iter()
        .map(|s| {
            let bucket_end = day_start(period.next(*s));
            WipPoint {
                start: *s,
                label: period.label(*s),
                // The last moment of the bucket that is in the window and not in the future.
                at: Timestamp::from_millis(bucket_end.min(end).millis() - 1).unwrap_or(end),
                by_status: WIP_STATUSES.iter().map(|s| (*s, 0)).collect(),
                total: 0,
            }
        })
        .collect();
    let empty = EntryHistory::default();
    let mut without = 0;
    for r in rows {
        if r.created_at >= end || r.closed_at.is_some_and(|c| c < since) {
            continue;
        }
        let h = histories.get(&r.id).unwrap_or(&empty);
        if !h.complete(r.created_at) {
            without += 1;
            continue;
        }
        for p in &mut points {
            if let Some(s) = h.status_at(r.created_at, r.status, p.at)
                && let Some(n) = p.by_status.get_mut(&s)
            {
                *n += 1;
                p.total += 1;
            }
        }
    }
    Wip {
        period,
        points,
        without_history: without,
    }
}

/// `filter` narrowed to entries updated at or after `since` (anything created or finished in
/// the window was updated then, so this loses nothing and spares reading older entries).
fn touched_since(filter: &Filter, since: Timestamp) -> Filter {
    let mut f = filter.clone();
    f.updated_after = Some(f.updated_after.map_or(since, |u| u.max(since)));
    f
}

fn note_without_time(notes: &mut Vec<String>, n: u64) {
    if n > 0 {
        notes.push(format!(
            "{n} finished {} no completion time (closedAt) and {} left out",
            if n == 1 { "entry has" } else { "entries have" },
            if n == 1 { "is" } else { "are" }
        ));
    }
}

pub(super) fn note_without_history(notes: &mut Vec<String>, n: u64) {
    if n > 0 {
        notes.push(format!(
            "{n} {} without history excluded: the change feed does not hold {} status history from creation (imported from the original devlog, which kept none)",
            if n == 1 { "entry" } else { "entries" },
            if n == 1 { "its" } else { "their" }
        ));
    }
}

pub(super) async fn throughput(
    src: Source<'_>,
    filter: &Filter,
    since: Timestamp,
    until: Timestamp,
    period: Period,
    notes: &mut Vec<String>,
) -> Result<Throughput> {
    let rows = src.rows(&touched_since(filter, since)).await?;
    let t = throughput_of(&rows, since, until, period);
    note_without_time(notes, t.without_completion_time);
    Ok(t)
}

/// The done entries touched since `since` within `filter`; a status filter that leaves out
/// done entries is kept (the report is then empty) and said in `notes`.
fn done_since(filter: &Filter, since: Timestamp, what: &str, notes: &mut Vec<String>) -> Filter {
    let mut f = touched_since(filter, since);
    f.status = vec![Status::Done];
    if !filter.status.is_empty() && !filter.status.contains(&Status::Done) {
        notes.push(format!(
            "the status filter leaves out done entries: {what} counts done entries only"
        ));
        f.status = filter.status.clone();
    }
    f
}

pub(super) async fn lead_time(
    src: Source<'_>,
    filter: &Filter,
    since: Timestamp,
    until: Timestamp,
    period: Period,
    notes: &mut Vec<String>,
) -> Result<LeadTime> {
    let rows = src
        .rows(&done_since(filter, since, "lead time", notes))
        .await?;
    let t = lead_time_of(&rows, since, until, period);
    note_without_time(notes, t.without_completion_time);
    Ok(t)
}

pub(super) async fn cycle_time(
    src: Source<'_>,
    filter: &Filter,
    since: Timestamp,
    until: Timestamp,
    period: Period,
    notes: &mut Vec<String>,
) -> Result<CycleTime> {
    let rows = src
        .rows(&done_since(filter, since, "cycle time", notes))
        .await?;
    let ids: HashSet<EntryId> = rows.iter().map(|r| r.id).collect();
    let histories = src.histories(&ids).await?;
    let t = cycle_time_of(&rows, &histories, since, until, period);
    note_without_history(notes, t.without_history);
    if t.never_in_progress > 0 {
        notes.push(format!(
            "{} done {} never in progress and left out",
            t.never_in_progress,
            if t.never_in_progress == 1 {
                "entry was"
            } else {
                "entries were"
            }
        ));
    }
    note_without_time(notes, t.without_completion_time);
    Ok(t)
}

/// The entries that may have been open in the window: every open one, and the finished ones
/// updated since it began.
async fn open_in_window(src: Source<'_>, filter: &Filter, since: Timestamp) -> Result<Vec<Row>> {
    let mut open = filter.clone();
    open.open_only = true;
    let mut out = src.rows(&open).await?;
    let mut finished = touched_since(filter, since);
    finished.status = if filter.status.is_empty() {
        vec![Status::Done, Status::Closed]
    } else {
        filter
            .status
            .iter()
            .copied()
            .filter(Status::is_closed)
            .collect()
    };
    if !filter.open_only && !finished.status.is_empty() {
        out.extend(src.rows(&finished).await?);
    }
    Ok(out)
}

pub(super) async fn time_in_status(
    src: Source<'_>,
    filter: &Filter,
    since: Timestamp,
    until: Timestamp,
    now: Timestamp,
    notes: &mut Vec<String>,
) -> Result<TimeInStatus> {
    let rows = open_in_window(src, filter, since).await?;
    let ids: HashSet<EntryId> = rows.iter().map(|r| r.id).collect();
    let histories = src.histories(&ids).await?;
    let t = time_in_status_of(&rows, &histories, since, until, now);
    note_without_history(notes, t.without_history);
    Ok(t)
}

pub(super) async fn wip(
    src: Source<'_>,
    filter: &Filter,
    since: Timestamp,
    until: Timestamp,
    now: Timestamp,
    period: Period,
    notes: &mut Vec<String>,
) -> Result<Wip> {
    let rows = open_in_window(src, filter, since).await?;
    let ids: HashSet<EntryId> = rows.iter().map(|r| r.id).collect();
    let histories = src.histories(&ids).await?;
    let t = wip_of(&rows, &histories, since, until, now, period);
    note_without_history(notes, t.without_history);
    Ok(t)
}
