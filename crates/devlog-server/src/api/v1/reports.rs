//! `/reports/{name}`: a built-in report (devlog-core's `reports`; docs/reports.md), the same
//! numbers as `devlog report <name> --json` and MCP `get_report`.

use axum::Json;
use axum::extract::{Path, State};
use devlog_core::reports::{By, ReportName, ReportOutput, ReportQuery};
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
    Ok(Json(
        s.app().report(name, &q, s.sync_sources().as_ref()).await?,
    ))
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
