//! `burndown`: per day, the scope (entries in the milestone, or in the date range), how many
//! of them are finished and how many remain, with every scope change (an entry added to or
//! removed from the milestone, or created in the range) listed. The same numbers draw a
//! burnup chart (scope and done).

use std::collections::{HashMap, HashSet};

use chrono::{Duration, NaiveDate};
use serde::{Deserialize, Serialize};

use super::data::EntryHistory;
use super::flow::Row;
use super::index::Source;
use super::{MAX_ROWS, ReportQuery, day_start};
use crate::error::{Result, StoreError};
use crate::id::EntryId;
use crate::ops::Devlog;
use crate::planning::Milestone;
use crate::store::Filter;
use crate::time::Timestamp;

/// The most days a burndown covers.
pub const MAX_DAYS: i64 = 366;

/// What a burndown is of.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum BurnScope {
    /// The entries in a milestone (members over time from the feed's milestone changes).
    #[serde(rename_all = "camelCase")]
    Milestone {
        name: String,
        due_date: Option<NaiveDate>,
    },
    /// The entries passing the filter that were open at the window's start or created in it.
    Range,
}

/// The `burndown` report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Burndown {
    pub scope: BurnScope,
    pub days: Vec<BurnDay>,
    /// Entries added to or removed from the scope in the window, oldest first (at most
    /// [`MAX_ROWS`]; `scopeChangeCount` counts them all).
    pub scope_changes: Vec<ScopeChange>,
    pub scope_change_count: u64,
    /// Entries whose history the feed does not hold from creation: finished when their
    /// `closedAt` says (a reopening before it is not seen).
    pub without_history: u64,
}

/// One day, counted at its end (or at the window's end).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BurnDay {
    pub date: NaiveDate,
    pub scope: u64,
    pub done: u64,
    pub remaining: u64,
    pub added: u64,
    pub removed: u64,
    /// The ideal remaining work: a straight line from the first day's scope to zero at the
    /// milestone's due date (milestones with a due date only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ideal: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScopeChangeKind {
    Added,
    Removed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScopeChange {
    pub at: Timestamp,
    pub id: EntryId,
    pub handle: u64,
    pub title: String,
    pub change: ScopeChangeKind,
}

/// The milestone of a burndown (`filter.milestone`), if any.
pub(super) async fn milestone(app: &Devlog, q: &ReportQuery) -> Result<Option<Milestone>> {
    match &q.filter.milestone {
        Some(name) => Ok(Some(app.find_milestone(name).await?)),
        None => Ok(None),
    }
}

/// The window: `--until` or now; `--since` or the milestone's creation (30 days before the
/// end for a date range). At most [`MAX_DAYS`].
pub(super) fn window(
    q: &ReportQuery,
    m: Option<&Milestone>,
    now: Timestamp,
) -> Result<(Timestamp, Timestamp)> {
    let until = q.until.unwrap_or(now);
    let since = q.since.unwrap_or_else(|| match m {
        Some(m) => m.created_at,
        None => Timestamp::from_datetime(until.as_datetime() - Duration::days(30)),
    });
    if since >= until {
        return Err(StoreError::invalid(
            "since",
            format!("--since ({since}) must be before --until ({until})"),
        ));
    }
    if (until.as_datetime() - since.as_datetime()).num_days() > MAX_DAYS {
        return Err(StoreError::invalid(
            "since",
            format!("a burndown covers at most {MAX_DAYS} days: narrow --since/--until"),
        ));
    }
    Ok((since, until))
}

/// The days from `since`'s to the day before `until` (inclusive of a partial last day).
fn days(since: Timestamp, until: Timestamp) -> Vec<(NaiveDate, Timestamp)> {
    let mut out = Vec::new();
    let mut d = since.as_datetime().date_naive();
    while day_start(d) < until {
        let next = day_start(d + Duration::days(1));
        let at = Timestamp::from_millis(next.min(until).millis() - 1).unwrap_or(until);
        out.push((d, at));
        d += Duration::days(1);
    }
    out
}

/// Whether the entry is finished at `t`: from its status history when the feed holds it,
/// else from `closedAt`.
fn finished_at(r: &Row, h: &EntryHistory, t: Timestamp) -> bool {
    if h.complete(r.created_at) {
        h.status_at(r.created_at, r.status, t)
            .is_some_and(|s| s.is_closed())
    } else {
        r.status.is_closed() && r.closed_at.is_some_and(|c| c <= t)
    }
}

/// The burndown of `rows` over `since..until`. With `milestone`, membership at `t` is the
/// entry's milestone then ([`EntryHistory::milestone_at`]); without, every row created by
/// `t` and not finished before `since` is in scope.
pub fn burndown_of(
    rows: &[Row],
    histories: &HashMap<EntryId, EntryHistory>,
    milestone: Option<&Milestone>,
    since: Timestamp,
    until: Timestamp,
) -> Burndown {
    let empty = EntryHistory::default();
    let days = days(since, until);
    let name = milestone.map(|m| m.name.as_str());
    let member = |r: &Row, h: &EntryHistory, t: Timestamp| -> bool {
        if r.created_at > t {
            return false;
        }
        match name {
            Some(n) => h.milestone_at(r.milestone.as_deref(), t).as_deref() == Some(n),
            None => !finished_at(r, h, since),
        }
    };
    let mut changes: Vec<ScopeChange> = Vec::new();
    let mut without = 0;
    let mut out: Vec<BurnDay> = days
        .iter()
        .map(|(d, _)| BurnDay {
            date: *d,
            scope: 0,
            done: 0,
            remaining: 0,
            added: 0,
            removed: 0,
            ideal: None,
        })
        .collect();
    for r in rows {
        let h = histories.get(&r.id).unwrap_or(&empty);
        // A date range's scope does not depend on the day past an entry's creation: an entry
        // finished before the window is in no day's scope and no scope change.
        if name.is_none() && finished_at(r, h, since) {
            continue;
        }
        let mut counted = false;
        for (day, (_, at)) in out.iter_mut().zip(&days) {
            let in_scope = match name {
                None => r.created_at <= *at,
                Some(_) => member(r, h, *at),
            };
            if in_scope {
                counted = true;
                day.scope += 1;
                if finished_at(r, h, *at) {
                    day.done += 1;
                }
            }
        }
        if counted && !h.complete(r.created_at) {
            without += 1;
        }
        // Scope changes: creation into the scope, then milestone moves.
        let change = |at, change| ScopeChange {
            at,
            id: r.id,
            handle: r.handle,
            title: r.title.clone(),
            change,
        };
        let in_window = |t: Timestamp| since <= t && t < until;
        if in_window(r.created_at) && member(r, h, r.created_at) {
            changes.push(change(r.created_at, ScopeChangeKind::Added));
        }
        if let Some(n) = name {
            for (at, old, new) in &h.milestones {
                if !in_window(*at) || *at < r.created_at {
                    continue;
                }
                if new.as_deref() == Some(n) && old.as_deref() != Some(n) {
                    changes.push(change(*at, ScopeChangeKind::Added));
                } else if old.as_deref() == Some(n) && new.as_deref() != Some(n) {
                    changes.push(change(*at, ScopeChangeKind::Removed));
                }
            }
        }
    }
    changes.sort_by(|a, b| a.at.cmp(&b.at).then(a.handle.cmp(&b.handle)));
    for c in &changes {
        let d = c.at.as_datetime().date_naive();
        if let Some(day) = out.iter_mut().find(|x| x.date == d) {
            match c.change {
                ScopeChangeKind::Added => day.added += 1,
                ScopeChangeKind::Removed => day.removed += 1,
            }
        }
    }
    for day in &mut out {
        day.remaining = day.scope - day.done;
    }
    if let (Some(due), Some(first)) = (milestone.and_then(|m| m.due_date), out.first().cloned()) {
        let span = (due - first.date).num_days().max(1) as f64;
        for day in &mut out {
            let gone = (day.date - first.date).num_days() as f64 / span;
            day.ideal = Some((first.remaining as f64 * (1.0 - gone)).max(0.0));
        }
    }
    let count = changes.len() as u64;
    changes.truncate(MAX_ROWS);
    Burndown {
        scope: match milestone {
            Some(m) => BurnScope::Milestone {
                name: m.name.clone(),
                due_date: m.due_date,
            },
            None => BurnScope::Range,
        },
        days: out,
        scope_changes: changes,
        scope_change_count: count,
        without_history: without,
    }
}

pub(super) async fn burndown(
    src: Source<'_>,
    filter: &Filter,
    milestone: Option<&Milestone>,
    since: Timestamp,
    until: Timestamp,
    notes: &mut Vec<String>,
) -> Result<Burndown> {
    let mut rows = match milestone {
        Some(m) => {
            let mut f = filter.clone();
            f.milestone = Some(m.name.clone());
            src.rows(&f).await?
        }
        None => src.rows(filter).await?,
    };
    if let Some(m) = milestone {
        // Entries moved out of the milestone: found by their milestone changes in the feed,
        // read one by one (there are few), kept when they still pass the filter.
        let mut known: HashSet<EntryId> = rows.iter().map(|r| r.id).collect();
        let moved = src.left_milestone(&m.name, &mut known).await?;
        let mut f = filter.clone();
        f.milestone = None;
        for id in moved {
            if let Some(e) = src.summary(id).await?
                && f.matches(&e)
            {
                rows.push(Row::from(&e));
            }
        }
    }
    let ids: HashSet<EntryId> = rows.iter().map(|r| r.id).collect();
    let histories = src.histories(&ids).await?;
    let b = burndown_of(&rows, &histories, milestone, since, until);
    if b.without_history > 0 {
        notes.push(format!(
            "{} {} without history: counted as finished from closedAt (a reopening is not seen); milestone membership from the feed's milestone changes",
            b.without_history,
            if b.without_history == 1 { "entry" } else { "entries" }
        ));
    }
    if b.scope_change_count > b.scope_changes.len() as u64 {
        notes.push(format!(
            "{} scope changes, the first {} listed",
            b.scope_change_count,
            b.scope_changes.len()
        ));
    }
    Ok(b)
}
