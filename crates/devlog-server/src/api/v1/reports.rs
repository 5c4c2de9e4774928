//! `/reports/{name}`: a built-in report (devlog-core's `reports`; docs/reports.md), the same
//! numbers as `devlog report <name> --json` and MCP `get_report`.
//!
//! The server answers reports (here and on the dashboard, [`compute`]) from a `ReportIndex`:
//! the entries' summaries and histories in memory, built in the background at the first
//! report and refreshed from the change feed before each one, so a report reads memory
//! instead of every summary and the whole feed (docs/performance.md, "Reports"). Until the
//! index is built, and for stores above [`MAX_INDEXED`] entries, reports read the store. An
//! answer (from either) is reused while the feed has not moved, for at most [`CACHE_AGE`]
//! (windows end "now"); the sync reports, which read the sync state, are never reused.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{Path, State};
use devlog_core::reports::{By, ReportIndex, ReportName, ReportOutput, ReportQuery};
use serde::Serialize;
use utoipa::{IntoParams, ToSchema};

use super::schema::FilterParams;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{FILTER_PARAMS, Params};
use crate::state::AppState;

/// The window and grouping of a report.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // Only documents the query; `Params` reads it.
pub struct ReportParams {
    /// Start of the window (RFC 3339 or YYYY-MM-DD); by default a span that suits `by`
    since: Option<String>,
    /// End of the window, exclusive; default now
    until: Option<String>,
    /// Groupings, comma-separated: status, type, priority, assignee, tag, system (counts), or
    /// one of day, week, month (throughput, lead-time, cycle-time, wip)
    by: Option<String>,
}

/// A report: what was asked, the numbers (`data`, whose shape depends on `report`), and
/// notes on what was left out and why.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Report)]
pub struct ReportDoc {
    /// counts, throughput, lead-time, cycle-time, time-in-status, wip, burndown, sync-health,
    /// cross-system or deployments
    report: String,
    title: String,
    generated_at: String,
    since: String,
    until: String,
    by: Vec<String>,
    filter: serde_json::Value,
    /// Entries left out (without history, without a completion time) and values not known.
    notes: Vec<String>,
    /// The report's numbers (docs/reports.md describes each report's fields).
    data: serde_json::Value,
}

/// A report
///
/// One of the built-in reports over the entries that pass the filters (the same as
/// `GET /entries`), in the window `since` ≤ t < `until`.
#[utoipa::path(
    get,
    path = "/reports/{name}",
    tag = "entries",
    params(
        ("name" = String, Path, description = "counts, throughput, lead-time, cycle-time, time-in-status, wip, burndown, sync-health, cross-system or deployments"),
        ReportParams,
        FilterParams
    ),
    responses(
        (status = 200, description = "The report", body = ReportDoc),
        (status = 400, description = "A bad or unknown query parameter", body = ErrorBody),
        (status = 422, description = "No such report, a grouping the report does not take, or no such milestone", body = ErrorBody),
    )
)]
pub async fn report(
    State(s): State<AppState>,
    Path(name): Path<String>,
    mut p: Params,
) -> Result<Json<ReportOutput>, ApiError> {
    let name: ReportName = name.parse()?;
    let since = p.take_time("since")?;
    let until = p.take_time("until")?;
    let by = match p.take("by")? {
        None => Vec::new(),
        Some(v) => v
            .split(',')
            .map(str::trim)
            .filter(|x| !x.is_empty())
            .map(|x| x.parse::<By>())
            .collect::<Result<_, _>>()?,
    };
    let filter = p.take_filter()?;
    let mut known = vec!["since", "until", "by"];
    known.extend_from_slice(FILTER_PARAMS);
    p.finish(&known)?;
    let q = ReportQuery {
        since,
        until,
        by,
        filter,
    };
    Ok(Json(compute(&s, name, &q).await?))
}

/// Stores with more entries than this are not indexed in memory (about a summary and a few
/// timestamps per entry): their reports read the store.
pub const MAX_INDEXED: u64 = 200_000;

/// How long an answer is reused while the feed does not move.
pub const CACHE_AGE: Duration = Duration::from_secs(60);

/// Answers kept (the most recent ones).
const CACHED: usize = 32;

/// The server's reports: the index (`None` until built) and recent answers.
#[derive(Debug, Default)]
pub struct ReportState {
    index: tokio::sync::Mutex<Option<ReportIndex>>,
    /// A build is running, or the store is too large to index.
    started: AtomicBool,
    answers: std::sync::Mutex<VecDeque<Answer>>,
}

#[derive(Debug)]
struct Answer {
    key: String,
    seq: u64,
    at: Instant,
    out: ReportOutput,
}

impl ReportState {
    fn answer(&self, key: &str, seq: u64) -> Option<ReportOutput> {
        let answers = self.answers.lock().ok()?;
        answers
            .iter()
            .find(|a| a.key == key && a.seq == seq && a.at.elapsed() < CACHE_AGE)
            .map(|a| a.out.clone())
    }

    fn keep(&self, key: String, seq: u64, out: &ReportOutput) {
        if let Ok(mut answers) = self.answers.lock() {
            answers.retain(|a| a.key != key && a.at.elapsed() < CACHE_AGE);
            if answers.len() >= CACHED {
                answers.pop_front();
            }
            answers.push_back(Answer {
                key,
                seq,
                at: Instant::now(),
                out: out.clone(),
            });
        }
    }
}

/// Builds the index in the background (once; not for stores above [`MAX_INDEXED`]).
fn start_index(s: &AppState) {
    let state = &s.reports().started;
    if state.swap(true, Ordering::SeqCst) {
        return;
    }
    let s = s.clone();
    tokio::spawn(async move {
        let store = Arc::clone(s.app().store());
        let built = match store.count().await {
            Ok(n) if n > MAX_INDEXED => {
                tracing::info!(
                    "{n} entries: reports read the store (no index above {MAX_INDEXED})"
                );
                return;
            }
            Ok(_) => ReportIndex::build(store.as_ref()).await,
            Err(e) => Err(e),
        };
        match built {
            Ok(ix) => *s.reports().index.lock().await = Some(ix),
            Err(e) => {
                tracing::warn!(
                    "the reports' index could not be built (reports read the store): {e}"
                );
                s.reports().started.store(false, Ordering::SeqCst);
            }
        }
    });
}

/// Whether an answer depends only on the store (and so on the feed's position): not the
/// sync reports, not `counts` by system while sync links exist, not a milestone's burndown
/// (milestones are not in the feed).
fn reusable(name: ReportName, q: &ReportQuery, sync: bool) -> bool {
    match name {
        ReportName::SyncHealth | ReportName::CrossSystem => false,
        ReportName::Counts => !sync || !(q.by.is_empty() || q.by.contains(&By::System)),
        ReportName::Burndown => q.filter.milestone.is_none(),
        _ => true,
    }
}

/// A report as this server answers it: from the index when it is built (refreshed from the
/// feed first), reused while the feed has not moved; from the store until then.
pub(crate) async fn compute(
    s: &AppState,
    name: ReportName,
    q: &ReportQuery,
) -> devlog_core::Result<ReportOutput> {
    let sync = s.sync_sources();
    let key = reusable(name, q, sync.is_some())
        .then(|| serde_json::to_string(&(name, q)).ok())
        .flatten();
    let reused = |seq: u64| key.as_ref().and_then(|k| s.reports().answer(k, seq));
    let keep = |seq: u64, out: &ReportOutput| {
        if let Some(k) = &key {
            s.reports().keep(k.clone(), seq, out);
        }
    };
    let mut index = s.reports().index.lock().await;
    let Some(ix) = index.as_mut() else {
        drop(index);
        start_index(s);
        // From the store: reused while the feed's end has not moved.
        let seq = crate::feed::tail(s.app().store().as_ref()).await?;
        if let Some(out) = reused(seq) {
            return Ok(out);
        }
        let out = s.app().report(name, q, sync.as_ref()).await?;
        keep(seq, &out);
        return Ok(out);
    };
    ix.refresh(s.app().store().as_ref()).await?;
    if let Some(out) = reused(ix.seq()) {
        return Ok(out);
    }
    let out = s.app().report_indexed(ix, name, q, sync.as_ref()).await?;
    keep(ix.seq(), &out);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_names_the_fields_of_a_report() {
        let doc = <ReportDoc as utoipa::PartialSchema>::schema();
        let v = serde_json::to_value(doc).unwrap();
        let documented: std::collections::BTreeSet<String> = v["properties"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        let out = ReportOutput {
            title: "t".into(),
            generated_at: devlog_core::Timestamp::from_millis(0).unwrap(),
            since: devlog_core::Timestamp::from_millis(0).unwrap(),
            until: devlog_core::Timestamp::from_millis(1).unwrap(),
            by: vec![],
            filter: Default::default(),
            notes: vec![],
            report: devlog_core::reports::Report::SyncHealth(Default::default()),
        };
        let actual: std::collections::BTreeSet<String> = serde_json::to_value(out)
            .unwrap()
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        assert_eq!(documented, actual);
    }
}
