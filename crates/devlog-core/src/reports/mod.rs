//! Reports (issue 17): counts, throughput, lead and cycle time, time in status, work in
//! progress, burndown, sync health, cross-system progress and deployments, computed from the entries'
//! summaries (read a page at a time, never whole documents), the store's SQL statistics
//! where they answer (`Store::stats`), the change feed (`Store::events`, read forwards a page
//! at a time) and the sync state (`SyncStateStore`). One implementation: the CLI
//! (`devlog report`), MCP (`get_report`), REST (`GET /api/v1/reports/{name}`) and the
//! dashboard render the same [`ReportOutput`]. Definitions: docs/reports.md. A long-running
//! process may keep a [`ReportIndex`] (the same summaries and histories in memory, refreshed
//! from the feed) and compute the same reports from it ([`Devlog::report_indexed`]).
//!
//! Entries whose history the feed does not hold from their creation (imported from the
//! original devlog, which kept none) are never given an invented one: reports that need the
//! status history leave them out and say how many ([`ReportOutput::notes`]).

mod burn;
mod counts;
mod data;
mod deploy;
#[cfg(test)]
mod feed_tests;
mod flow;
mod index;
mod sync;

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use chrono::{Datelike, Duration, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::entry::Status;
use crate::error::{Result, StoreError};
use crate::ops::Devlog;
use crate::store::Filter;
use crate::sync_state::SyncStateStore;
use crate::time::Timestamp;
use index::Source;

pub use burn::{BurnDay, BurnScope, Burndown, MAX_DAYS, ScopeChange, ScopeChangeKind, burndown_of};
pub use counts::{CountGroup, CountRow, Counts, NO_TAG, NOT_LINKED};
pub use data::{EntryHistory, HISTORY_TOLERANCE_MS, read_histories, scan, scan_pages};
pub use deploy::{
    DeployedEntry, DeploymentRow, Deployments, EnvironmentDeployments, deployments_of,
};
pub use flow::{
    CycleTime, DurationBucket, DurationStats, EntryDuration, LeadTime, Row, StatusTime, Throughput,
    ThroughputBucket, TimeInStatus, Wip, WipPoint, bucket_starts, cycle_time_of, lead_time_of,
    throughput_of, time_in_status_of, wip_of,
};
pub use index::ReportIndex;
pub use sync::{
    CrossEntry, CrossLink, CrossSystem, IntegrationHealth, SyncHealth, SystemProgress, health_of,
};

/// The built-in reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReportName {
    Counts,
    Throughput,
    LeadTime,
    CycleTime,
    TimeInStatus,
    Wip,
    Burndown,
    SyncHealth,
    CrossSystem,
    Deployments,
}

impl ReportName {
    pub const ALL: &'static [ReportName] = &[
        ReportName::Counts,
        ReportName::Throughput,
        ReportName::LeadTime,
        ReportName::CycleTime,
        ReportName::TimeInStatus,
        ReportName::Wip,
        ReportName::Burndown,
        ReportName::SyncHealth,
        ReportName::CrossSystem,
        ReportName::Deployments,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReportName::Counts => "counts",
            ReportName::Throughput => "throughput",
            ReportName::LeadTime => "lead-time",
            ReportName::CycleTime => "cycle-time",
            ReportName::TimeInStatus => "time-in-status",
            ReportName::Wip => "wip",
            ReportName::Burndown => "burndown",
            ReportName::SyncHealth => "sync-health",
            ReportName::CrossSystem => "cross-system",
            ReportName::Deployments => "deployments",
        }
    }

    /// A title for headings.
    pub fn title(self) -> &'static str {
        match self {
            ReportName::Counts => "Counts",
            ReportName::Throughput => "Throughput",
            ReportName::LeadTime => "Lead time",
            ReportName::CycleTime => "Cycle time",
            ReportName::TimeInStatus => "Time in status",
            ReportName::Wip => "Work in progress",
            ReportName::Burndown => "Burndown and burnup",
            ReportName::SyncHealth => "Sync health",
            ReportName::CrossSystem => "Cross-system progress",
            ReportName::Deployments => "Deployments",
        }
    }

    /// One line on what the report shows (`devlog report list`).
    pub fn description(self) -> &'static str {
        match self {
            ReportName::Counts => {
                "entries by status, type, priority, assignee, tag and linked system"
            }
            ReportName::Throughput => "entries created and finished per day, week or month",
            ReportName::LeadTime => "creation to done: median and 85th percentile",
            ReportName::CycleTime => "first in-progress to done: median and 85th percentile",
            ReportName::TimeInStatus => {
                "hours spent in each status and blocked, from the status history"
            }
            ReportName::Wip => "entries in progress, blocked, in review or testing over time",
            ReportName::Burndown => {
                "scope, done and remaining per day for a milestone or date range"
            }
            ReportName::SyncHealth => {
                "per integration: queue, oldest job, dead jobs, conflicts, last success"
            }
            ReportName::CrossSystem => {
                "entries linked in other systems and whose remote status disagrees"
            }
            ReportName::Deployments => {
                "deployments per environment, each with the entries it carried"
            }
        }
    }

    /// What `--by` may be for this report, the first being the default (empty: no `--by`).
    pub fn allowed_by(self) -> &'static [By] {
        match self {
            ReportName::Counts => &[
                By::Status,
                By::Type,
                By::Priority,
                By::Assignee,
                By::Tag,
                By::System,
            ],
            ReportName::Throughput
            | ReportName::LeadTime
            | ReportName::CycleTime
            | ReportName::Wip => &[By::Week, By::Day, By::Month],
            ReportName::TimeInStatus
            | ReportName::Burndown
            | ReportName::SyncHealth
            | ReportName::CrossSystem
            | ReportName::Deployments => &[],
        }
    }
}

impl fmt::Display for ReportName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ReportName {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Self> {
        let norm = s.trim().to_ascii_lowercase().replace('_', "-");
        ReportName::ALL
            .iter()
            .copied()
            .find(|r| r.as_str() == norm)
            .ok_or_else(|| {
                let names: Vec<&str> = ReportName::ALL.iter().map(|r| r.as_str()).collect();
                StoreError::invalid(
                    "report",
                    format!("no report named `{s}`: use one of {}", names.join(", ")),
                )
            })
    }
}

/// How a report groups: the dimension of a count, or the period of a time series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum By {
    Status,
    Type,
    Priority,
    Assignee,
    Tag,
    /// The integration an entry is linked in (sync links).
    System,
    Day,
    Week,
    Month,
}

impl By {
    pub const ALL: &'static [By] = &[
        By::Status,
        By::Type,
        By::Priority,
        By::Assignee,
        By::Tag,
        By::System,
        By::Day,
        By::Week,
        By::Month,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            By::Status => "status",
            By::Type => "type",
            By::Priority => "priority",
            By::Assignee => "assignee",
            By::Tag => "tag",
            By::System => "system",
            By::Day => "day",
            By::Week => "week",
            By::Month => "month",
        }
    }

    /// The period of a time series, if this is one.
    pub fn period(self) -> Option<Period> {
        match self {
            By::Day => Some(Period::Day),
            By::Week => Some(Period::Week),
            By::Month => Some(Period::Month),
            _ => None,
        }
    }
}

impl fmt::Display for By {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for By {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Self> {
        let norm = s.trim().to_ascii_lowercase();
        By::ALL
            .iter()
            .copied()
            .find(|b| b.as_str() == norm)
            .ok_or_else(|| {
                let names: Vec<&str> = By::ALL.iter().map(|b| b.as_str()).collect();
                StoreError::invalid(
                    "by",
                    format!("`{s}` is not a grouping: use one of {}", names.join(", ")),
                )
            })
    }
}

/// The length of a time series' buckets. Weeks start on Monday (ISO 8601); all in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Period {
    Day,
    Week,
    Month,
}

impl Period {
    /// The first day of the bucket holding `d`.
    pub fn start_of(self, d: NaiveDate) -> NaiveDate {
        match self {
            Period::Day => d,
            Period::Week => d - Duration::days(i64::from(d.weekday().num_days_from_monday())),
            Period::Month => d.with_day(1).unwrap_or(d),
        }
    }

    /// The first day of the bucket after the one starting at `start`.
    pub fn next(self, start: NaiveDate) -> NaiveDate {
        match self {
            Period::Day => start + Duration::days(1),
            Period::Week => start + Duration::days(7),
            Period::Month => start
                .checked_add_months(chrono::Months::new(1))
                .unwrap_or(start + Duration::days(31)),
        }
    }

    /// The label of the bucket starting at `start`: `2026-03-02`, `2026-W10`, `2026-03`.
    pub fn label(self, start: NaiveDate) -> String {
        match self {
            Period::Day => start.format("%Y-%m-%d").to_string(),
            Period::Week => {
                let w = start.iso_week();
                format!("{}-W{:02}", w.year(), w.week())
            }
            Period::Month => start.format("%Y-%m").to_string(),
        }
    }

    /// How far back a report reaches when `--since` is not given.
    fn default_span(self) -> Duration {
        match self {
            Period::Day => Duration::days(30),
            Period::Week => Duration::weeks(12),
            Period::Month => Duration::days(365),
        }
    }
}

/// What to report on: the window (`since` ≤ t < `until`), the grouping and the entries (the
/// list command's filters; `filter.milestone` makes `burndown` a milestone's).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ReportQuery {
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
    /// Several for `counts` (each a table); one period for the time series.
    pub by: Vec<By>,
    pub filter: Filter,
}

/// The most rows a report lists entry by entry (slowest entries, disagreeing links, scope
/// changes); counts and statistics always cover every entry.
pub const MAX_ROWS: usize = 200;

/// A report as every frontend renders it: what was asked, what was found, and what was left
/// out and why (`notes`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportOutput {
    pub title: String,
    pub generated_at: Timestamp,
    /// The window the report covers (defaults filled in).
    pub since: Timestamp,
    pub until: Timestamp,
    pub by: Vec<By>,
    pub filter: Filter,
    /// What the reader should know: entries left out (and why), values not known.
    pub notes: Vec<String>,
    /// `report` (the name) and `data` (its numbers).
    #[serde(flatten)]
    pub report: Report,
}

impl ReportOutput {
    pub fn name(&self) -> ReportName {
        self.report.name()
    }
}

/// The numbers of one report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "report", content = "data", rename_all = "kebab-case")]
pub enum Report {
    Counts(Counts),
    Throughput(Throughput),
    LeadTime(LeadTime),
    CycleTime(CycleTime),
    TimeInStatus(TimeInStatus),
    Wip(Wip),
    Burndown(Burndown),
    SyncHealth(SyncHealth),
    CrossSystem(CrossSystem),
    Deployments(Deployments),
}

impl Report {
    pub fn name(&self) -> ReportName {
        match self {
            Report::Counts(_) => ReportName::Counts,
            Report::Throughput(_) => ReportName::Throughput,
            Report::LeadTime(_) => ReportName::LeadTime,
            Report::CycleTime(_) => ReportName::CycleTime,
            Report::TimeInStatus(_) => ReportName::TimeInStatus,
            Report::Wip(_) => ReportName::Wip,
            Report::Burndown(_) => ReportName::Burndown,
            Report::SyncHealth(_) => ReportName::SyncHealth,
            Report::CrossSystem(_) => ReportName::CrossSystem,
            Report::Deployments(_) => ReportName::Deployments,
        }
    }
}

/// An integration's API quota as its HTTP client last saw it: kept in the sync state by the
/// process that syncs (the `quota` cursor, [`Quota::to_cursor`]), so a report in any process
/// reads it; a live value from the caller's own clients ([`SyncSources::quotas`]) wins.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Quota {
    pub remaining: Option<u64>,
    pub limit: Option<u64>,
    pub resets_at: Option<Timestamp>,
    /// Which of the remote's limits (GitHub: `core`, `graphql`, `search`), when it says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// When the quota was seen (the response that carried it); absent for a live value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seen_at: Option<Timestamp>,
}

impl Quota {
    /// The value of the `quota` cursor (JSON).
    pub fn to_cursor(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// A `quota` cursor read back; `None` for a value that does not parse (written by a
    /// newer devlog, say), which the report then calls unknown.
    pub fn from_cursor(value: &str) -> Option<Self> {
        serde_json::from_str(value).ok()
    }

    /// Whether two quotas differ in what a report shows (not in when they were seen).
    pub fn same_values(&self, other: &Self) -> bool {
        self.remaining == other.remaining
            && self.limit == other.limit
            && self.resets_at == other.resets_at
            && self.resource == other.resource
    }
}

/// What the sync reports read besides the store: the sync state, the configured
/// integrations (named even when nothing is queued or linked yet) and the quotas the caller's
/// HTTP clients know.
#[derive(Debug, Clone)]
pub struct SyncSources {
    pub state: Arc<dyn SyncStateStore>,
    pub configured: Vec<String>,
    pub quotas: BTreeMap<String, Quota>,
}

/// The window a report covers: `until` defaults to now, `since` to a span before it that
/// suits the grouping (30 days by day, 12 weeks by week, a year by month).
fn window(q: &ReportQuery, now: Timestamp, period: Period) -> Result<(Timestamp, Timestamp)> {
    let until = q.until.unwrap_or(now);
    let since = match q.since {
        Some(s) => s,
        None => Timestamp::from_datetime(until.as_datetime() - period.default_span()),
    };
    if since >= until {
        return Err(StoreError::invalid(
            "since",
            format!("--since ({since}) must be before --until ({until})"),
        ));
    }
    Ok((since, until))
}

/// The `by` values a report takes, checked against what it allows (the defaults when
/// `by` is empty).
pub fn check_by(name: ReportName, by: &[By]) -> Result<Vec<By>> {
    let allowed = name.allowed_by();
    for b in by {
        if !allowed.contains(b) {
            let list: Vec<&str> = allowed.iter().map(|b| b.as_str()).collect();
            return Err(StoreError::invalid(
                "by",
                if list.is_empty() {
                    format!("the {name} report has no --by (got `{b}`)")
                } else {
                    format!("the {name} report groups by {}, not `{b}`", list.join(", "))
                },
            ));
        }
    }
    if name
        .allowed_by()
        .first()
        .is_some_and(|b| b.period().is_some())
        && by.len() > 1
    {
        return Err(StoreError::invalid(
            "by",
            format!("the {name} report takes one period (day, week or month)"),
        ));
    }
    Ok(match (by.is_empty(), name) {
        (false, _) => by.to_vec(),
        (true, ReportName::Counts) => allowed.to_vec(),
        (true, _) => allowed.first().copied().into_iter().collect(),
    })
}

/// The median (mean of the two middle values for an even count) and the 85th percentile
/// (nearest rank: the smallest value with at least 85% of the values at or below it) of
/// `values`, which this sorts.
pub fn median_p85(values: &mut [f64]) -> (Option<f64>, Option<f64>) {
    if values.is_empty() {
        return (None, None);
    }
    values.sort_by(|a, b| a.total_cmp(b));
    let n = values.len();
    let median = if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    };
    let rank = (0.85 * n as f64).ceil() as usize;
    (Some(median), Some(values[rank.clamp(1, n) - 1]))
}

/// Hours between two instants.
pub(crate) fn hours(from: Timestamp, to: Timestamp) -> f64 {
    from.seconds_until(&to) / 3600.0
}

/// Midnight UTC at the start of `d`.
pub(crate) fn day_start(d: NaiveDate) -> Timestamp {
    Timestamp::from_datetime(d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc())
}

/// The statuses counted as work in progress.
pub const WIP_STATUSES: [Status; 4] = [
    Status::InProgress,
    Status::Blocked,
    Status::InReview,
    Status::Testing,
];

impl Devlog {
    /// Computes a report (docs/reports.md) from the store. `sync` is needed by `sync-health`
    /// and `cross-system`, and names the linked system in `counts`; without it those say so.
    pub async fn report(
        &self,
        name: ReportName,
        q: &ReportQuery,
        sync: Option<&SyncSources>,
    ) -> Result<ReportOutput> {
        self.report_from(Source::Store(self.store().as_ref()), name, q, sync)
            .await
    }

    /// [`report`](Self::report) from an index of the store the caller keeps up to date
    /// ([`ReportIndex::refresh`]): the same numbers, read from memory instead of the store.
    pub async fn report_indexed(
        &self,
        index: &ReportIndex,
        name: ReportName,
        q: &ReportQuery,
        sync: Option<&SyncSources>,
    ) -> Result<ReportOutput> {
        self.report_from(Source::Index(index), name, q, sync).await
    }

    async fn report_from(
        &self,
        src: Source<'_>,
        name: ReportName,
        q: &ReportQuery,
        sync: Option<&SyncSources>,
    ) -> Result<ReportOutput> {
        let now = self.clock().now();
        let by = check_by(name, &q.by)?;
        let period = by.iter().find_map(|b| b.period()).unwrap_or(Period::Day);
        let milestone = match name {
            ReportName::Burndown => burn::milestone(self, q).await?,
            _ => None,
        };
        let (since, until) = match name {
            // Counts are of now; a window given narrows them to entries created in it.
            ReportName::Counts | ReportName::SyncHealth | ReportName::CrossSystem => {
                match (q.since, q.until) {
                    (None, None) => (Timestamp::from_millis(0).unwrap_or(now), now),
                    _ => window(q, now, period)?,
                }
            }
            ReportName::Burndown => burn::window(q, milestone.as_ref(), now)?,
            _ => window(q, now, period)?,
        };
        let mut notes = Vec::new();
        let report = match name {
            ReportName::Counts => {
                let mut filter = q.filter.clone();
                if q.since.is_some() || q.until.is_some() {
                    filter.created_after =
                        Some(filter.created_after.map_or(since, |c| c.max(since)));
                    filter.created_before =
                        Some(filter.created_before.map_or(until, |c| c.min(until)));
                }
                Report::Counts(counts::counts(src, &filter, &by, sync, &mut notes).await?)
            }
            ReportName::Throughput => Report::Throughput(
                flow::throughput(src, &q.filter, since, until, period, &mut notes).await?,
            ),
            ReportName::LeadTime => Report::LeadTime(
                flow::lead_time(src, &q.filter, since, until, period, &mut notes).await?,
            ),
            ReportName::CycleTime => Report::CycleTime(
                flow::cycle_time(src, &q.filter, since, until, period, &mut notes).await?,
            ),
            ReportName::TimeInStatus => Report::TimeInStatus(
                flow::time_in_status(src, &q.filter, since, until, now, &mut notes).await?,
            ),
            ReportName::Wip => {
                Report::Wip(flow::wip(src, &q.filter, since, until, now, period, &mut notes).await?)
            }
            ReportName::Burndown => Report::Burndown(
                burn::burndown(src, &q.filter, milestone.as_ref(), since, until, &mut notes)
                    .await?,
            ),
            ReportName::SyncHealth => {
                Report::SyncHealth(sync::sync_health(sync, now, &mut notes).await?)
            }
            ReportName::CrossSystem => {
                Report::CrossSystem(sync::cross_system(src, &q.filter, sync, &mut notes).await?)
            }
            ReportName::Deployments => Report::Deployments(
                deploy::deployments(self.store().as_ref(), &q.filter, since, until, &mut notes)
                    .await?,
            ),
        };
        Ok(ReportOutput {
            title: name.title().to_string(),
            generated_at: now,
            since,
            until,
            by,
            filter: q.filter.clone(),
            notes,
            report,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_groupings_parse_and_list_the_allowed_values() {
        for r in ReportName::ALL {
            assert_eq!(r.as_str().parse::<ReportName>().unwrap(), *r);
        }
        let e = "velocity".parse::<ReportName>().unwrap_err().to_string();
        assert!(e.contains("lead-time") && e.contains("velocity"), "{e}");
        assert_eq!("WEEK".parse::<By>().unwrap(), By::Week);
        assert!(
            "year"
                .parse::<By>()
                .unwrap_err()
                .to_string()
                .contains("month")
        );
    }

    #[test]
    fn by_is_checked_per_report_with_defaults() {
        assert_eq!(
            check_by(ReportName::Throughput, &[]).unwrap(),
            vec![By::Week]
        );
        assert_eq!(
            check_by(ReportName::Counts, &[By::Tag]).unwrap(),
            vec![By::Tag]
        );
        assert_eq!(check_by(ReportName::Counts, &[]).unwrap().len(), 6);
        let e = check_by(ReportName::Throughput, &[By::Tag])
            .unwrap_err()
            .to_string();
        assert!(e.contains("week, day, month"), "{e}");
        assert!(check_by(ReportName::Wip, &[By::Day, By::Week]).is_err());
        assert!(check_by(ReportName::Burndown, &[By::Day]).is_err());
    }

    #[test]
    fn median_and_p85_use_the_documented_definitions() {
        assert_eq!(median_p85(&mut []), (None, None));
        assert_eq!(median_p85(&mut [5.0]), (Some(5.0), Some(5.0)));
        // 1..=10: median 5.5, p85 = the 9th value (ceil(8.5) = 9).
        let mut v: Vec<f64> = (1..=10).rev().map(f64::from).collect();
        assert_eq!(median_p85(&mut v), (Some(5.5), Some(9.0)));
        let mut v = vec![3.0, 1.0, 2.0];
        assert_eq!(median_p85(&mut v), (Some(2.0), Some(3.0)));
    }

    #[test]
    fn periods_bucket_by_utc_day_iso_week_and_month() {
        let d = NaiveDate::from_ymd_opt(2026, 3, 5).unwrap(); // a Thursday
        assert_eq!(
            Period::Week.start_of(d),
            NaiveDate::from_ymd_opt(2026, 3, 2).unwrap()
        );
        assert_eq!(
            Period::Month.start_of(d),
            NaiveDate::from_ymd_opt(2026, 3, 1).unwrap()
        );
        assert_eq!(Period::Week.label(Period::Week.start_of(d)), "2026-W10");
        assert_eq!(Period::Month.label(d), "2026-03");
        assert_eq!(
            Period::Month.next(NaiveDate::from_ymd_opt(2026, 1, 1).unwrap()),
            NaiveDate::from_ymd_opt(2026, 2, 1).unwrap()
        );
    }
}

/// JSON Schemas of the report names and `by` values (`{"type": "string", "enum": [...]}`),
/// for files that name a report (devlog-workflow's `report` step).
#[cfg(feature = "schemars")]
mod schema {
    use super::{By, ReportName};

    impl schemars::JsonSchema for ReportName {
        fn inline_schema() -> bool {
            true
        }

        fn schema_name() -> std::borrow::Cow<'static, str> {
            "ReportName".into()
        }

        fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
            let names: Vec<&str> = ReportName::ALL.iter().map(|n| n.as_str()).collect();
            schemars::json_schema!({ "type": "string", "enum": names })
        }
    }

    impl schemars::JsonSchema for By {
        fn inline_schema() -> bool {
            true
        }

        fn schema_name() -> std::borrow::Cow<'static, str> {
            "ReportBy".into()
        }

        fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
            let names: Vec<&str> = By::ALL.iter().map(|b| b.as_str()).collect();
            schemars::json_schema!({ "type": "string", "enum": names })
        }
    }
}
