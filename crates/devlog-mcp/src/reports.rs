//! `get_report` (issue 17): a built-in report of devlog-core's `reports`, the same numbers
//! as `devlog report <name> --json` and REST `GET /api/v1/reports/{name}`.

use devlog_core::reports::{ReportName, ReportQuery, SyncSources};
use devlog_core::{Filter, Timestamp};
use rmcp::model::CallToolResult;
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

use crate::args::{Args, PriorityArg, StatusArg, TypeArg, input_schema};
use crate::error::Failure;
use crate::server::DevlogMcp;
use crate::tools::{Reply, finish};

const GET_REPORT: &str = "A report over the devlog entries: counts (by status, type, priority, assignee, tag, linked system), throughput (created and finished per day/week/month), lead-time (created → done) and cycle-time (first in-progress → done) with median and 85th percentile, time-in-status (hours per status, blocked time), wip (work in progress over time), burndown (scope, done, remaining per day for a milestone or date range, with scope changes), sync-health (per integration: queue, dead jobs, conflicts, last success), cross-system (entries linked in other systems whose status disagrees) or deployments (per environment, each deployment with the entries it carried). Entries imported without history are left out of history-based reports and counted in notes. Definitions: docs/reports.md.";

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GetReportArgs {
    /// counts, throughput, lead-time, cycle-time, time-in-status, wip, burndown, sync-health,
    /// cross-system or deployments.
    pub name: String,
    /// Start of the window (RFC 3339); by default a span that suits `by`.
    #[serde(default)]
    pub since: Option<String>,
    /// End of the window, exclusive (RFC 3339); default now.
    #[serde(default)]
    pub until: Option<String>,
    /// Groupings: status, type, priority, assignee, tag, system (counts) or one of day, week,
    /// month (throughput, lead-time, cycle-time, wip).
    #[serde(default)]
    pub by: Vec<String>,
    /// Only entries with this status.
    #[serde(default)]
    pub status: Option<StatusArg>,
    /// Only entries of this type.
    #[serde(default, rename = "type")]
    pub kind: Option<TypeArg>,
    /// Only entries with this priority.
    #[serde(default)]
    pub priority: Option<PriorityArg>,
    /// Only entries assigned to this person.
    #[serde(default)]
    pub assignee: Option<String>,
    /// Only entries with this tag.
    #[serde(default)]
    pub tag: Option<String>,
    /// Only entries in this milestone (makes burndown the milestone's).
    #[serde(default)]
    pub milestone: Option<String>,
}

fn time(field: &str, s: Option<String>) -> Result<Option<Timestamp>, Failure> {
    s.map(|s| {
        s.parse::<Timestamp>()
            .map_err(|e| Failure::from(devlog_core::StoreError::invalid(field, e.to_string())))
    })
    .transpose()
}

#[tool_router(router = reports_router, vis = "pub(crate)")]
impl DevlogMcp {
    #[tool(
        name = "get_report",
        description = GET_REPORT,
        input_schema = input_schema::<GetReportArgs>(),
        annotations(read_only_hint = true)
    )]
    async fn get_report(&self, Args(a): Args<GetReportArgs>) -> CallToolResult {
        finish(self.run_get_report(a).await)
    }
}

impl DevlogMcp {
    async fn run_get_report(&self, a: GetReportArgs) -> Result<Reply, Failure> {
        let name: ReportName = a.name.parse()?;
        let by =
            a.by.iter()
                .map(|b| b.parse())
                .collect::<Result<Vec<_>, _>>()?;
        let query = ReportQuery {
            since: time("since", a.since)?,
            until: time("until", a.until)?,
            by,
            filter: Filter {
                status: a.status.map(|s| s.0).into_iter().collect(),
                kind: a.kind.map(|s| s.0).into_iter().collect(),
                priority: a.priority.map(|s| s.0).into_iter().collect(),
                assignee: a.assignee,
                tag: a.tag,
                milestone: a.milestone,
                ..Filter::default()
            },
        };
        let sync = self.options().sync.as_ref().map(|e| SyncSources {
            state: e.state().store().clone(),
            configured: self.options().integrations.clone(),
            quotas: Default::default(),
        });
        let r = self.app().report(name, &query, sync.as_ref()).await?;
        let mut text = format!("{} from {} to {}.", r.title, r.since, r.until);
        for n in &r.notes {
            text.push_str(&format!("\nNote: {n}"));
        }
        Ok(Reply::new(text, json!(r)))
    }
}
